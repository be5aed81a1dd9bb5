//! Golden comparison with the real docker CLI 28.
//!
//! Every case in `golden/cases.toml` runs twice against one reference dockerd (Debian's,
//! through `testbed::RefDockerd`): once with `/usr/local/bin/docker` and once with ours,
//! each preceded by the case's `setup` and followed by its `teardown` (run with the real
//! CLI). stdout, stderr and the exit code are compared after the normalisation rules in
//! [`normalise`], written once for all cases. A case that is known to differ says why
//! in `differs`; the test fails on any other difference and prints the full table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

const REAL_CLI: &str = "/usr/local/bin/docker";

#[derive(Deserialize)]
struct Cases {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    args: Vec<String>,
    #[serde(default)]
    setup: Vec<Vec<String>>,
    #[serde(default)]
    teardown: Vec<Vec<String>>,
    /// Commands run with the real CLI right after the case (before `teardown`) whose
    /// output joins the compared stdout: what the CLI under test sent, as the daemon
    /// kept it (`inspect` of the container it created).
    #[serde(default)]
    check: Vec<Vec<String>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Why this case is known to differ (listed in the report).
    #[serde(default)]
    differs: Option<String>,
}

struct Outcome {
    stdout: String,
    stderr: String,
    code: i32,
}

struct Env<'a> {
    host: String,
    dir: &'a Path,
    registry: String,
}

/// A local registry (Debian's docker-registry) for pull/push cases; 127.0.0.0/8 is
/// an insecure registry for dockerd by default, so it speaks plain HTTP.
struct Registry(std::process::Child);

impl Registry {
    fn start(dir: &Path) -> (Registry, String) {
        let bin = Path::new("/usr/bin/docker-registry");
        assert!(
            bin.exists(),
            "{} not found: install it with apt-get install docker-registry",
            bin.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.join("registry").display()
            ),
        )
        .unwrap();
        let child = Command::new(bin)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = format!("127.0.0.1:{port}");
        testbed::wait_for("the registry", std::time::Duration::from_secs(30), || {
            std::net::TcpStream::connect(&addr).is_ok()
        });
        (Registry(child), addr)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Env<'_> {
    fn expand(&self, s: &str) -> String {
        s.replace("{host}", &self.host)
            .replace("{registry}", &self.registry)
            .replace("{dir}", &self.dir.display().to_string())
    }

    fn run(&self, cli: &Path, args: &[String], extra: &BTreeMap<String, String>) -> Outcome {
        let mut cmd = Command::new(cli);
        cmd.env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", self.dir.join("cli-config"))
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_CONTEXT")
            .args(args.iter().map(|a| self.expand(a)))
            .stdin(Stdio::null());
        for (k, v) in extra {
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, self.expand(v));
            }
        }
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", cli.display()));
        Outcome {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code().unwrap_or(-1),
        }
    }
}

/// The normalisation rules. IDs, times and the client's own build facts differ
/// between two runs by nature; everything else must be identical.
fn normalise(text: &str, dir: &Path) -> String {
    use regex_lite::Regex;
    let rules: [(&str, &str); 9] = [
        // Content-addressed and random IDs.
        (r"sha256:[0-9a-f]{64}", "sha256:<ID>"),
        (r"\b[0-9a-f]{64}\b", "<ID>"),
        (r"\b[0-9a-f]{12}\b", "<SHORTID>"),
        // Relative times ("3 minutes ago", "Up 2 seconds", "Exited (0) 1 second ago").
        (
            r"(Less than a second|About a minute|About an hour|\d+ (seconds?|minutes|hours|days|weeks|months|years))",
            "<DURATION>",
        ),
        // Absolute times: Go's time.String and RFC 3339.
        (
            r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)? [+-]\d{4} \w+",
            "<TIME>",
        ),
        (
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
            "<TIME>",
        ),
        // The client's own version block (`version`): build facts of each binary.
        (
            r"(?m)^ (Version|Go version|Git commit|Built):( +|\t).*$",
            " $1: <CLIENT>",
        ),
        (
            r#""(Version|GoVersion|GitCommit|BuildTime)":"[^"]*","#,
            "\"$1\":\"<CLIENT>\",",
        ),
        // Process IDs in `top`.
        (r"(?m)^(root|0) +\d+ +\d+", "$1 <PID> <PPID>"),
    ];
    let mut out = text.replace(&dir.display().to_string(), "<DIR>");
    out = Regex::new(r"127\.0\.0\.1:\d+/")
        .unwrap()
        .replace_all(&out, "<REGISTRY>/")
        .into_owned();
    let had_time = Regex::new(rules[3].0).unwrap().is_match(&out)
        || Regex::new(rules[4].0).unwrap().is_match(&out);
    for (re, with) in rules {
        out = Regex::new(re).unwrap().replace_all(&out, with).into_owned();
    }
    // `info` lists runtimes in Go's map order, which varies from run to run.
    out = Regex::new(r"(?m)^ Runtimes: (.*)$")
        .unwrap()
        .replace_all(&out, |c: &regex_lite::Captures| {
            let mut names: Vec<&str> = c[1].split(' ').collect();
            names.sort_unstable();
            format!(" Runtimes: {}", names.join(" "))
        })
        .into_owned();
    // Prune reports list what was deleted in the daemon's (map) order, which varies
    // from run to run: the lines of each such block are compared sorted.
    out = Regex::new(
        r"(?m)^(Deleted (?:Containers|Volumes|Networks|Images|build cache objects):\n)((?:.+\n)+)",
    )
    .unwrap()
    .replace_all(&out, |c: &regex_lite::Captures| {
        let mut lines: Vec<&str> = c[2].lines().collect();
        lines.sort_unstable();
        format!("{}{}\n", &c[1], lines.join("\n"))
    })
    .into_owned();
    if had_time {
        // Column widths follow the lengths of the times, so spacing is normalised too
        // in outputs that contained one.
        out = Regex::new(r" {2,}")
            .unwrap()
            .replace_all(&out, "  ")
            .into_owned();
    }
    out
}

#[test]
fn golden_cases_match_the_real_cli() {
    testbed::require_root();
    assert!(
        Path::new(REAL_CLI).exists(),
        "{REAL_CLI} not found: the golden suite needs the real docker CLI 28 (package docker-ce-cli)"
    );
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_docker"));
    let cases_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/cases.toml");
    let cases: Cases = toml::from_str(&std::fs::read_to_string(&cases_path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", cases_path.display()));

    let daemon = testbed::RefDockerd::start(testbed::DockerdOptions::default());
    daemon.import_busybox("busybox:latest");
    let (_registry, registry) = Registry::start(daemon.dir.path());
    let env = Env {
        host: daemon.host(),
        dir: daemon.dir.path(),
        registry,
    };
    let real = PathBuf::from(REAL_CLI);
    let none = BTreeMap::new();
    let badcfg = env.dir.join("badcfg");
    std::fs::create_dir_all(&badcfg).unwrap();
    std::fs::write(badcfg.join("config.json"), "{bad").unwrap();
    // `--env-file` and `--label-file` inputs (a comment, a bare name, a value).
    std::fs::write(env.dir.join("golden.env"), "G1=one\n# comment\n  G2\n").unwrap();
    std::fs::write(env.dir.join("golden.labels"), "lab1=v\nlab2\n").unwrap();
    // A client config with proxies, which run/create/build pass on.
    let proxycfg = env.dir.join("proxycfg");
    std::fs::create_dir_all(&proxycfg).unwrap();
    std::fs::write(
        proxycfg.join("config.json"),
        r#"{"proxies":{"default":{"httpProxy":"http://proxy.example:3128","noProxy":"localhost"}}}"#,
    )
    .unwrap();
    // A client config with registry credentials, for `--use-api-socket`.
    let apicfg = env.dir.join("apicfg");
    std::fs::create_dir_all(&apicfg).unwrap();
    std::fs::write(
        apicfg.join("config.json"),
        r#"{"auths":{"registry.example":{"auth":"dXNlcjpwYXNz"}}}"#,
    )
    .unwrap();
    // Build contexts: one that builds, one whose COPY source is excluded.
    for (name, dockerfile) in [
        ("bctx", "FROM busybox\nARG X=1\nRUN echo hello $X > /f\nCOPY a.txt /a.txt\nCMD [\"cat\", \"/f\"]\n"),
        ("bctx-bad", "FROM busybox\nCOPY ignored.txt /\n"),
    ] {
        let ctx = env.dir.join(name);
        std::fs::create_dir_all(ctx.join("sub")).unwrap();
        std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
        std::fs::write(ctx.join("a.txt"), "A\n").unwrap();
        std::fs::write(ctx.join("sub/b.txt"), "B\n").unwrap();
        std::fs::write(ctx.join("ignored.txt"), "secret\n").unwrap();
        std::fs::write(ctx.join(".dockerignore"), "ignored.txt\n").unwrap();
    }
    // Shared fixtures every listing sees.
    for setup in [
        vec!["tag", "busybox:latest", "golden/tagged:v1"],
        vec![
            "run",
            "-d",
            "--name",
            "golden-running",
            "--network",
            "none",
            "--label",
            "tier=web",
            "busybox",
            "sleep",
            "1000",
        ],
        vec![
            "run",
            "--name",
            "golden-exited",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
        vec![
            "create",
            "--name",
            "golden-created",
            "--network",
            "none",
            "-e",
            "A=1",
            "-w",
            "/tmp",
            "busybox",
            "echo",
            "hi",
        ],
        vec!["volume", "create", "--label", "k=v", "golden-vol"],
        // A second image of its own (one image with two tags lists in Go's random
        // map order in the real CLI).
        vec!["commit", "golden-created", "golden/tagged:v1"],
    ] {
        if setup[0] == "commit" {
            // Image lists sort by creation second; an image made in the same second
            // as busybox's import would list in the daemon's arbitrary order.
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        let args: Vec<String> = setup.iter().map(|s| s.to_string()).collect();
        let o = env.run(&real, &args, &none);
        let expected = if setup.iter().any(|a| a.ends_with("exit 3")) {
            3
        } else {
            0
        };
        assert_eq!(o.code, expected, "fixture {setup:?} failed: {}", o.stderr);
    }

    let mut report = Vec::new();
    let (mut equal, mut known, mut unexpected) = (0, 0, Vec::new());
    for case in &cases.case {
        let mut outcomes = Vec::new();
        for cli in [&real, &ours] {
            for s in &case.setup {
                let o = env.run(&real, s, &none);
                assert_eq!(o.code, 0, "{}: setup {s:?} failed: {}", case.name, o.stderr);
            }
            let mut outcome = env.run(cli, &case.args, &case.env);
            for c in &case.check {
                let o = env.run(&real, c, &none);
                outcome.stdout.push_str(&format!(
                    "\n--- {} (exit {})\n{}{}",
                    c.join(" "),
                    o.code,
                    o.stdout,
                    o.stderr
                ));
            }
            outcomes.push(outcome);
            for t in &case.teardown {
                env.run(&real, t, &none);
            }
        }
        let norm = |o: &Outcome| {
            (
                normalise(&o.stdout, env.dir),
                normalise(&o.stderr, env.dir),
                o.code,
            )
        };
        let (r, u) = (norm(&outcomes[0]), norm(&outcomes[1]));
        let same = r == u;
        match (&case.differs, same) {
            (None, true) => {
                equal += 1;
                report.push(format!("equal    {}", case.name));
            }
            (Some(why), false) => {
                known += 1;
                report.push(format!("differs  {} ({why})", case.name));
            }
            (Some(why), true) => {
                equal += 1;
                report.push(format!(
                    "equal    {} (listed as differing: {why})",
                    case.name
                ));
            }
            (None, false) => {
                unexpected.push(case.name.clone());
                report.push(format!(
                    "DIFFERS  {} {:?}\n  real: code {} stdout {:?} stderr {:?}\n  ours: code {} stdout {:?} stderr {:?}",
                    case.name, case.args, r.2, r.0, r.1, u.2, u.0, u.1
                ));
            }
        }
    }
    println!("{}", report.join("\n"));
    println!(
        "golden: {} cases, {equal} equal, {known} known differences, {} unexpected",
        cases.case.len(),
        unexpected.len()
    );
    assert!(
        unexpected.is_empty(),
        "cases differing from the real CLI: {unexpected:?} (see the report above)"
    );
}
