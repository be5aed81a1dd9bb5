//! `docker build` (the classic builder, `DOCKER_BUILDKIT=0`) with the real CLI 28
//! against our dockerd and Debian's dockerd 20.10: the same Dockerfiles give images
//! whose config and file trees are equal, a second build is all cache hits, and bad
//! input fails as docker fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{Engine, CLI28};
use testbed::{DockerdOptions, RefDockerd};

/// One daemon as the CLI 28 with the classic builder sees it.
struct Side {
    host: String,
    config: PathBuf,
}

impl Side {
    fn docker(&self, args: &[&str]) -> Output {
        Command::new(CLI28)
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", &self.config)
            .env("DOCKER_BUILDKIT", "0")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run the docker CLI 28")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} against {} failed: {}{}",
            self.host,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Our dockerd and Debian's, each with the same busybox:latest; the daemons live as
/// long as this does.
struct Both {
    ours: Side,
    theirs: Side,
    _daemons: (Engine, RefDockerd),
}

fn both() -> Both {
    let e = Engine::start();
    e.import_busybox("busybox:latest");
    let d = RefDockerd::start(DockerdOptions::default());
    d.import_busybox("busybox:latest");
    Both {
        ours: Side {
            host: e.host(),
            config: e.dir.path().join("cli-config"),
        },
        theirs: Side {
            host: d.host(),
            config: d.dir.path().join("cli-config"),
        },
        _daemons: (e, d),
    }
}

/// The last line a failed command wrote to stderr (where the CLI puts the error).
fn last_error_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()
        .unwrap_or("")
        .to_string()
}

const DOCKERFILE: &str = r#"FROM busybox AS base
ARG GREETING=hello
ENV APP=/app PATH=/usr/local/bin:/bin:/usr/bin
WORKDIR /app/work
COPY --chown=1000:1000 files/ ./files/
COPY top.txt /etc/top.txt
COPY . /ctx/
ADD archive.tar /opt/
RUN echo "$GREETING" > /greeting && mkdir -p /data && chown 1:1 /data
USER 1000
LABEL a=b "c d"=e
EXPOSE 80 53/udp
VOLUME /data
STOPSIGNAL SIGTERM
SHELL ["/bin/sh", "-c"]
ONBUILD RUN echo child
MAINTAINER someone
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo hi"]

FROM busybox
COPY --from=base /greeting /greeting
COPY --from=base /app /app
ENV FINAL=1
"#;

fn make_context(dir: &Path) {
    std::fs::create_dir_all(dir.join("files/sub")).unwrap();
    std::fs::write(dir.join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(dir.join(".dockerignore"), "*.md\nfiles/sub/skip*\n").unwrap();
    std::fs::write(dir.join("README.md"), "ignored").unwrap();
    std::fs::write(dir.join("top.txt"), "top").unwrap();
    std::fs::write(dir.join("files/a.txt"), "a").unwrap();
    std::fs::write(dir.join("files/sub/b.txt"), "b").unwrap();
    std::fs::write(dir.join("files/sub/skip.txt"), "skip").unwrap();
    std::os::unix::fs::symlink("/etc/shadow", dir.join("escape")).unwrap();
    let inner = dir.join("inner");
    std::fs::create_dir_all(inner.join("pkg")).unwrap();
    std::fs::write(inner.join("pkg/data"), "from a tar").unwrap();
    let st = Command::new("tar")
        .args(["--owner=0", "--group=0", "--mtime=@0", "-C"])
        .arg(&inner)
        .args(["-cf"])
        .arg(dir.join("archive.tar"))
        .arg("pkg")
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::remove_dir_all(&inner).unwrap();
}

const FIELDS: &str = "{{json .Config.Env}}|{{json .Config.Cmd}}|{{json .Config.Entrypoint}}|{{json .Config.WorkingDir}}|{{json .Config.User}}|{{json .Config.Labels}}|{{json .Config.ExposedPorts}}|{{json .Config.Volumes}}|{{json .Config.StopSignal}}|{{json .Config.OnBuild}}|{{json .Author}}";

/// The file tree of an image as `path mode uid/gid size link`, without the files
/// `docker create` itself adds.
fn tree(side: &Side, image: &str, scratch: &Path) -> Vec<String> {
    let cid = side.ok(&["create", image, "/bin/true"]);
    let cid = cid.trim();
    let tar = scratch.join(format!("{}.tar", &cid[..12]));
    side.ok(&["export", "-o", tar.to_str().unwrap(), cid]);
    side.ok(&["rm", cid]);
    let mut ar = tar::Archive::new(std::fs::File::open(&tar).unwrap());
    let mut out = Vec::new();
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let p = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        if [
            ".dockerenv",
            "etc/hostname",
            "etc/hosts",
            "etc/resolv.conf",
            "etc/mtab",
        ]
        .contains(&p.as_str())
            || ["dev", "proc", "sys"]
                .iter()
                .any(|d| p == *d || p.starts_with(&format!("{d}/")))
        {
            continue;
        }
        let h = e.header();
        let link = e
            .link_name()
            .unwrap()
            .map(|l| l.to_string_lossy().to_string())
            .unwrap_or_default();
        out.push(format!(
            "{p} {:o} {}/{} {} {link}",
            h.mode().unwrap() & 0o7777,
            h.uid().unwrap(),
            h.gid().unwrap(),
            if h.entry_type().is_dir() {
                0
            } else {
                h.size().unwrap()
            },
        ));
    }
    out.sort();
    out
}

#[test]
fn images_match_debian_dockerd_and_a_rebuild_is_all_cache() {
    let Both { ours, theirs, .. } = &both();
    let ctx = tempfile::tempdir().unwrap();
    make_context(ctx.path());
    let scratch = tempfile::tempdir().unwrap();
    let ctx_s = ctx.path().to_str().unwrap();
    for target in [None, Some("base")] {
        let mut args = vec!["build", "-t", "golden:t", "--build-arg", "GREETING=hey"];
        if let Some(t) = target {
            args.extend(["--target", t]);
        }
        args.push(ctx_s);
        theirs.ok(&args);
        let out = ours.ok(&args);
        assert!(out.contains("Successfully tagged golden:t"), "{out}");
        let fields = |h: &Side| h.ok(&["image", "inspect", "--format", FIELDS, "golden:t"]);
        assert_eq!(fields(ours), fields(theirs), "config of target {target:?}");
        let t_ours = tree(ours, "golden:t", scratch.path());
        let t_theirs = tree(theirs, "golden:t", scratch.path());
        assert_eq!(t_ours, t_theirs, "file tree of target {target:?}");
        if target == Some("base") {
            assert!(
                t_ours
                    .iter()
                    .any(|l| l.starts_with("ctx/escape 777 0/0 0 /etc/shadow")),
                "{t_ours:?}"
            );
            assert!(!t_ours
                .iter()
                .any(|l| l.contains("README.md") || l.contains("skip.txt")));
        }
    }
    // The same build again: every step after FROM comes from the cache.
    let first = ours.ok(&["image", "inspect", "--format", "{{.Id}}", "golden:t"]);
    let again = ours.ok(&[
        "build",
        "-t",
        "golden:t",
        "--build-arg",
        "GREETING=hey",
        "--target",
        "base",
        ctx_s,
    ]);
    let steps = again.lines().filter(|l| l.starts_with("Step ")).count();
    let hits = again
        .lines()
        .filter(|l| l.trim() == "---> Using cache")
        .count();
    assert_eq!(hits, steps - 1, "{again}");
    let second = ours.ok(&["image", "inspect", "--format", "{{.Id}}", "golden:t"]);
    assert_eq!(first, second);
    // --no-cache runs every step again.
    let fresh = ours.ok(&["build", "--no-cache", "-q", "--target", "base", ctx_s]);
    assert!(fresh.trim().starts_with("sha256:"), "{fresh}");
    assert_ne!(fresh.trim(), second.trim());
}

#[test]
fn bad_dockerfiles_fail_as_docker_fails() {
    let Both { ours, theirs, .. } = &both();
    let ctx = tempfile::tempdir().unwrap();
    let ctx_s = ctx.path().to_str().unwrap();

    std::fs::write(ctx.path().join("Dockerfile"), "FROM busybox\nFORM x\n").unwrap();
    let out = ours.docker(&["build", ctx_s]);
    assert_eq!(out.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(
        msg.contains("dockerfile parse error on line 2: unknown instruction: FORM"),
        "{msg}"
    );

    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN echo out && exit 3\n",
    )
    .unwrap();
    let o = ours.docker(&["build", ctx_s]);
    let t = theirs.docker(&["build", ctx_s]);
    assert_eq!(o.status.code(), t.status.code());
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(last_error_line(&o), last_error_line(&t));
    assert!(String::from_utf8_lossy(&o.stdout).contains("\nout\n"));
    // Nothing of the failed RUN is left: no container, no dangling image.
    assert_eq!(ours.ok(&["ps", "-aq"]).trim(), "");
}

/// A one-thread HTTP/1.0 server on 127.0.0.1 for `ADD <url>`: `/files/data.txt` with a
/// `Last-Modified`, `/gen` without one, anything else 404.
fn http_server() -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut request = String::new();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let _ = reader.read_line(&mut request);
            let mut l = String::new();
            while reader.read_line(&mut l).is_ok_and(|n| n > 2) {
                l.clear();
            }
            let target = request.split_whitespace().nth(1).unwrap_or("");
            let path = target.split('?').next().unwrap_or("");
            let (status, headers, body) = match path {
                "/files/data.txt" => (
                    "200 OK",
                    "Last-Modified: Thu, 04 Mar 2021 05:06:07 GMT\r\n",
                    "served with a date\n",
                ),
                "/gen" => ("200 OK", "", "served without a date\n"),
                _ => ("404 Not Found", "", "nope\n"),
            };
            let _ = write!(
                conn,
                "HTTP/1.0 {status}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn add_from_a_url_matches_debian_dockerd() {
    let port = http_server();
    let Both { ours, theirs, .. } = &both();
    let ctx = tempfile::tempdir().unwrap();
    let ctx_s = ctx.path().to_str().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!(
            "FROM busybox\nADD {base}/files/data.txt /a/\nADD {base}/gen /b/named\nADD {base}/files/data.txt?v=1 /c\n"
        ),
    )
    .unwrap();
    let look = ["run", "--rm", "url:t", "sh", "-c"];
    let script = "stat -c '%n %a %u:%g %s %Y' /a/data.txt /b/named /c && cat /a/data.txt /b/named";
    let mut seen = Vec::new();
    for h in [ours, theirs] {
        h.ok(&["build", "-t", "url:t", ctx_s]);
        seen.push(h.ok(&[&look[..], &[script]].concat()));
    }
    assert_eq!(seen[0], seen[1]);
    assert!(
        seen[0].starts_with("/a/data.txt 600 0:0 19 1614834367\n/b/named 600 0:0 22 0\n"),
        "{}",
        seen[0]
    );
    // The same content again: a cache hit, though the file is fetched again.
    let again = ours.ok(&["build", "-t", "url:t", ctx_s]);
    let hits = again
        .lines()
        .filter(|l| l.trim() == "---> Using cache")
        .count();
    assert_eq!(hits, 3, "{again}");

    // A 404: docker's words, nothing built.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM busybox\nADD {base}/missing/x /m\n"),
    )
    .unwrap();
    let o = ours.docker(&["build", ctx_s]);
    let t = theirs.docker(&["build", ctx_s]);
    assert_eq!(o.status.code(), t.status.code());
    assert_eq!(last_error_line(&o), last_error_line(&t));
    assert!(
        last_error_line(&o).contains(&format!(
            "failed to GET {base}/missing/x with status 404 Not Found: nope"
        )),
        "{}",
        last_error_line(&o)
    );
}
