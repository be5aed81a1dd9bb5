//! Golden comparison with Debian's dockerd 20.10 (classic builder): each Dockerfile is
//! built there, and the image config it records (env, cmd, entrypoint, workdir, user,
//! labels, exposed ports, volumes, stop signal, healthcheck, shell, onbuild, author)
//! must equal what this crate's evaluation of the same file says.

use std::collections::HashMap;

use dockerfile::{evaluate, parse, ImageConfig};
use serde_json::{json, Value};
use testbed::{DockerdOptions, RefDockerd};

const FIELDS: &str = "{{json .Config.Env}}\n{{json .Config.Cmd}}\n{{json .Config.Entrypoint}}\n{{json .Config.WorkingDir}}\n{{json .Config.User}}\n{{json .Config.Labels}}\n{{json .Config.ExposedPorts}}\n{{json .Config.Volumes}}\n{{json .Config.StopSignal}}\n{{json .Config.Healthcheck}}\n{{json .Config.Shell}}\n{{json .Config.OnBuild}}\n{{json .Author}}";

fn theirs(
    d: &RefDockerd,
    dockerfile: &str,
    args: &[(&str, &str)],
    target: Option<&str>,
) -> Vec<Value> {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(ctx.path().join("file.txt"), "hello\n").unwrap();
    let mut argv: Vec<String> = vec!["build".into(), "-q".into()];
    for (k, v) in args {
        argv.push("--build-arg".into());
        argv.push(format!("{k}={v}"));
    }
    if let Some(t) = target {
        argv.push("--target".into());
        argv.push(t.into());
    }
    argv.push(ctx.path().to_str().unwrap().into());
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let out = d.docker(&argv);
    assert!(
        out.status.success(),
        "docker build failed for:\n{dockerfile}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let out = d.docker(&["image", "inspect", "--format", FIELDS, &id]);
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ours(dockerfile: &str, args: &[(&str, &str)], target: Option<&str>) -> Vec<Value> {
    let df = parse(dockerfile).unwrap();
    let args: HashMap<String, String> = args
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let stages = evaluate(&df, &args, &|_| None).unwrap();
    let index = target
        .map(|t| df.stage_index(t).unwrap())
        .unwrap_or(stages.len() - 1);
    render(&stages[index].config)
}

fn render(c: &ImageConfig) -> Vec<Value> {
    let set = |s: &std::collections::BTreeSet<String>| -> Value {
        if s.is_empty() {
            Value::Null
        } else {
            Value::Object(s.iter().map(|k| (k.clone(), json!({}))).collect())
        }
    };
    let health = c.healthcheck.as_ref().map_or(Value::Null, |h| {
        let mut m = serde_json::Map::new();
        m.insert("Test".into(), json!(h.test));
        for (k, d) in [
            ("Interval", h.interval),
            ("Timeout", h.timeout),
            ("StartPeriod", h.start_period),
        ] {
            if let Some(d) = d.filter(|d| !d.is_zero()) {
                m.insert(k.into(), json!(d.as_nanos() as u64));
            }
        }
        if let Some(r) = h.retries.filter(|r| *r != 0) {
            m.insert("Retries".into(), json!(r));
        }
        Value::Object(m)
    });
    vec![
        json!(c.env),
        json!(c.cmd),
        json!(c.entrypoint),
        json!(c.working_dir),
        json!(c.user),
        if c.labels.is_empty() {
            Value::Null
        } else {
            json!(c.labels)
        },
        set(&c.exposed_ports),
        set(&c.volumes),
        json!(c.stop_signal.clone().unwrap_or_default()),
        health,
        c.shell.as_ref().map_or(Value::Null, |s| json!(s)),
        if c.on_build.is_empty() {
            Value::Null
        } else {
            json!(c.on_build)
        },
        json!(c.author),
    ]
}

/// Dockerfile, build args, `--target`.
type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    Option<&'static str>,
);

const CASES: &[Case] = &[
    (
        "FROM busybox\n\
         ARG VERSION=1.0\n\
         ARG WHO\n\
         ENV APP=demo HOME_DIR=/srv/$APP\n\
         ENV LEGACY value with  spaces\n\
         ENV QUOTED=\"two words\" SINGLE='$APP' ESCAPED=\\$APP MIXED=a\\ b\n\
         LABEL version=$VERSION \"com.example.who\"=\"${WHO:-nobody}\" multi=\"line \\\n  joined\"\n\
         EXPOSE 80 443/tcp 53/udp 7000-7002 ${VERSION:+9000}\n\
         VOLUME [\"/data\", \"/logs\"]\n\
         VOLUME /cache /$APP\n\
         WORKDIR app\n\
         WORKDIR ${APP}/../sub\n\
         USER ${WHO:-1000}:1000\n\
         STOPSIGNAL SIGINT\n\
         HEALTHCHECK --interval=30s --timeout=5s --start-period=1m --retries=4 CMD wget -q -O- http://localhost/ || exit 1\n\
         SHELL [\"/bin/sh\", \"-ec\"]\n\
         CMD echo $APP\n\
         ONBUILD  COPY   file.txt /onbuild/\n\
         MAINTAINER Jane Doe <jane@example.com>\n",
        &[("WHO", "builder")],
        None,
    ),
    (
        "# escape=`\n\
         ARG BASE=busybox\n\
         ARG TAG\n\
         FROM ${BASE} AS First\n\
         ARG TAG=stage-default\n\
         # a comment between instructions\n\
         ENV PATH=/opt/bin:$PATH `\n\
         # a comment inside a continuation\n    TAG=$TAG\n\
         CMD [\"/bin/true\"]\n\
         FROM first AS second\n\
         ENTRYPOINT [\"/bin/echo\", \"hi\"]\n\
         FROM first\n\
         CMD [\"kept\"]\n\
         ENTRYPOINT /bin/echo `\n\
           from shell\n\
         HEALTHCHECK NONE\n",
        &[("TAG", "cli")],
        Some("second"),
    ),
    (
        "ARG BASE=busybox\n\
         FROM ${BASE} AS first\n\
         CMD [\"/bin/true\"]\n\
         FROM first\n\
         CMD [\"kept\"]\n\
         ENTRYPOINT /bin/echo \\\n   from   shell\n\
         ENV A=${UNDECLARED:-default} B=${BASE:-no-global-in-stage}\n\
         HEALTHCHECK NONE\n\
         COPY --chown=1:1 file.txt /copied/\n\
         RUN [\"/bin/true\"]\n",
        &[],
        None,
    ),
    (
        "FROM busybox\n   # an indented comment\nENV PORTS=\"80 81/udp\" SIG=SIGQUIT V=/vol DIR=rel   \nLABEL legacy value with  spaces\nEXPOSE $PORTS\nSTOPSIGNAL $SIG\nVOLUME [\"$V\", \"/x\"]\nWORKDIR /base\nWORKDIR $DIR\nSHELL [\"/bin/ash\", \"-c\"]\nENTRYPOINT exec app \\   \n  --flag\nONBUILD RUN echo $SIG\n",
        &[],
        None,
    ),
    ("FROM busybox\nCMD\n", &[], None),
    ("FROM busybox\nENTRYPOINT\n", &[], None),
    ("FROM busybox\nENTRYPOINT []\nCMD []\n", &[], None),
    (
        "FROM busybox\nARG A=1\nARG A=2\nENV X=$A Y=a\\\\b Z=\"a\\\\b\" Q=a\\\"b\nWORKDIR /a\nWORKDIR ../../b\nWORKDIR $HOME/c\nUSER  \"quoted user\"\nEXPOSE 80/TCP 8080/Udp\n",
        &[],
        None,
    ),
];

#[test]
fn image_config_matches_debian_dockerd_classic_builder() {
    // The classic builder: what this crate models (BuildKit is not the reference here).
    std::env::set_var("DOCKER_BUILDKIT", "0");
    let d = RefDockerd::start(DockerdOptions::default());
    d.import_busybox("busybox:latest");
    for (text, args, target) in CASES {
        let want = theirs(&d, text, args, *target);
        let got = ours(text, args, *target);
        let names = FIELDS.lines().collect::<Vec<_>>();
        for ((n, w), g) in names.iter().zip(&want).zip(&got) {
            assert_eq!(g, w, "field {n} differs for:\n{text}");
        }
    }
}

/// Dockerfiles dockerd refuses, each with the message this crate gives. dockerd 20.10
/// words the line prefix `dockerfile parse error line N` (current docker: `on line N`)
/// and puts `failed to parse Dockerfile: ` before file-level errors; both are
/// normalised before comparing, everything else must be equal.
const BAD: &[&str] = &[
    "FROM busybox\n\nFORM x\n",
    "from busybox\nform x\n",
    "FROM busybox\nRUN true \\\n  && true \\\n\n  && true\nFORM x\n",
    "FROM busybox\nCOPY a\n",
    "FROM busybox\nADD a\n",
    "FROM a b\n",
    "FROM busybox AS 1bad\n",
    "FROM busybox\nENV\n",
    "FROM busybox\nENV =x\n",
    "FROM busybox\nUSER\n",
    "FROM busybox\nWORKDIR\n",
    "FROM busybox\nSTOPSIGNAL\n",
    "FROM busybox\nMAINTAINER\n",
    "FROM busybox\nEXPOSE\n",
    "FROM busybox\nARG\n",
    "FROM busybox\nVOLUME\n",
    "FROM busybox\nSHELL /bin/sh\n",
    "FROM busybox\nHEALTHCHECK NONE x\n",
    "FROM busybox\nHEALTHCHECK FOO x\n",
    "FROM busybox\nHEALTHCHECK --interval=1ns CMD x\n",
    "FROM busybox\nHEALTHCHECK --bogus=1 CMD x\n",
    "FROM busybox\nONBUILD ONBUILD RUN x\n",
    "FROM busybox\nONBUILD FROM x\n",
    "FROM busybox\nCOPY --bogus=1 a b\n",
    "FROM busybox\nCOPY --chown a b\n",
    "# escape=x\nFROM busybox\n",
    "ENV A=b\nFROM busybox\n",
    "\n# only a comment\n",
];

#[test]
fn parse_errors_match_debian_dockerd() {
    std::env::set_var("DOCKER_BUILDKIT", "0");
    let d = RefDockerd::start(DockerdOptions::default());
    d.import_busybox("busybox:latest");
    for text in BAD {
        let ctx = tempfile::tempdir().unwrap();
        std::fs::write(ctx.path().join("Dockerfile"), text).unwrap();
        let out = d.docker(&["build", "-q", ctx.path().to_str().unwrap()]);
        assert!(!out.status.success(), "dockerd accepted:\n{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let theirs = stderr
            .lines()
            .last()
            .unwrap_or("")
            .trim_start_matches("Error response from daemon: ")
            .trim_start_matches("failed to parse Dockerfile: ")
            .replacen(
                "dockerfile parse error line ",
                "dockerfile parse error on line ",
                1,
            );
        let ours = parse(text).map(|_| ()).unwrap_err().to_string();
        assert_eq!(ours, theirs, "for:\n{text}");
    }
}

#[test]
fn dockerignore_keeps_what_the_docker_cli_sends() {
    std::env::set_var("DOCKER_BUILDKIT", "0");
    let d = RefDockerd::start(DockerdOptions::default());
    d.import_busybox("busybox:latest");
    let ctx = tempfile::tempdir().unwrap();
    let files = [
        "README.md",
        "CHANGES.md",
        "docs/guide.md",
        "docs/keep.txt",
        "docs/deep/x.txt",
        "src/main.rs",
        "src/gen/out.o",
        "target/debug/app",
        "a/b/c/file.tmp",
        "a/b/file.txt",
        ".git/HEAD",
        "notes[1].txt",
        "space name.txt",
    ];
    for f in files {
        let p = ctx.path().join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, f).unwrap();
    }
    let ignore = "# build outputs\ntarget\n**/*.o\n*.md\n!README.md\ndocs\n!docs/keep.txt\n**/*.tmp\n.git\nnotes\\[1\\].txt\n/space name.txt\n";
    std::fs::write(ctx.path().join(".dockerignore"), ignore).unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nCOPY . /ctx/\n",
    )
    .unwrap();
    let out = d.docker(&[
        "build",
        "-q",
        "-t",
        "ctx:test",
        ctx.path().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = d.docker(&["create", "ctx:test", "/bin/true"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let tar = ctx.path().join("export.tar");
    let out = d.docker(&["export", "-o", tar.to_str().unwrap(), &cid]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&tar)
        .output()
        .unwrap();
    let mut theirs: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("ctx/"))
        .filter(|l| !l.is_empty() && !l.ends_with('/'))
        .filter(|l| *l != "Dockerfile" && *l != ".dockerignore")
        .map(str::to_string)
        .collect();
    theirs.sort();

    let matcher = dockerfile::DockerIgnore::parse(ignore).unwrap();
    let mut ours: Vec<String> = files
        .iter()
        .filter(|f| !matcher.is_excluded(f))
        .map(|f| f.to_string())
        .collect();
    ours.sort();
    assert_eq!(ours, theirs);
    assert!(!ours.is_empty() && ours.len() < files.len());
}
