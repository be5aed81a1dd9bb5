//! Attached streams compared with the real docker CLI 28: stdin piped through
//! `run -i`, signal proxying to the container, and exit codes, each run with both
//! CLIs against one reference dockerd.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const REAL_CLI: &str = "/usr/local/bin/docker";

fn clis() -> [PathBuf; 2] {
    assert!(
        Path::new(REAL_CLI).exists(),
        "{REAL_CLI} not found: this suite needs the real docker CLI 28 (package docker-ce-cli)"
    );
    [
        PathBuf::from(REAL_CLI),
        PathBuf::from(env!("CARGO_BIN_EXE_docker")),
    ]
}

fn command(d: &testbed::RefDockerd, cli: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(cli);
    c.env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.path().join("cli-config"))
        .args(args);
    c
}

fn with_stdin(d: &testbed::RefDockerd, cli: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = command(d, cli, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn stdin_signals_and_exit_codes_match_the_real_cli() {
    let d = testbed::RefDockerd::start(testbed::DockerdOptions::default());
    d.import_busybox("busybox:latest");
    for cli in clis() {
        let name = cli.display().to_string();
        // stdin reaches the container and its end closes the container's stdin.
        let out = with_stdin(
            &d,
            &cli,
            &[
                "run",
                "--rm",
                "-i",
                "--network",
                "none",
                "busybox",
                "sh",
                "-c",
                "tr a-z A-Z; exit 6",
            ],
            b"hello\nworld\n",
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "HELLO\nWORLD\n",
            "{name}"
        );
        assert_eq!(out.status.code(), Some(6), "{name}");

        // stdout and stderr stay apart.
        let out = with_stdin(
            &d,
            &cli,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "busybox",
                "sh",
                "-c",
                "echo o; echo e >&2",
            ],
            b"",
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "o\n", "{name}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "e\n", "{name}");

        // SIGTERM to the CLI reaches the container's process (--sig-proxy default).
        let mut child = command(
            &d,
            &cli,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "busybox",
                "sh",
                "-c",
                "trap 'echo got-term; exit 5' TERM; echo ready; while true; do sleep 0.1; done",
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 64];
        while !String::from_utf8_lossy(&seen).contains("ready") {
            let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
            assert!(n > 0, "{name}: container ended before it was ready");
            seen.extend_from_slice(&buf[..n]);
        }
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let mut rest = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut rest).unwrap();
        let status = child.wait().unwrap();
        assert!(
            String::from_utf8_lossy(&rest).contains("got-term"),
            "{name}"
        );
        assert_eq!(status.code(), Some(5), "{name}");

        // 127: the command does not exist; 126: it cannot be executed.
        let out = with_stdin(
            &d,
            &cli,
            &["run", "--rm", "--network", "none", "busybox", "nosuchcmd"],
            b"",
        );
        assert_eq!(out.status.code(), Some(127), "{name}");
        let out = with_stdin(
            &d,
            &cli,
            &["run", "--rm", "--network", "none", "busybox", "/etc"],
            b"",
        );
        assert_eq!(out.status.code(), Some(126), "{name}");
    }
}
