//! Debian's dockerd 20.10 (through Debian's containerd and its runc shim) with our
//! runtime as the default: the path every `docker run` on a host with this runc takes.

use std::process::Output;

use testbed::{DockerdOptions, RefDockerd};

fn dockerd() -> RefDockerd {
    let runc = testbed::workspace_bin("runc");
    let d = RefDockerd::start(DockerdOptions {
        args: vec![
            format!("--add-runtime=ours={}", runc.display()),
            "--default-runtime=ours".into(),
        ],
        ..Default::default()
    });
    d.import_busybox("busybox:latest");
    d
}

fn ok(d: &RefDockerd, out: Output) -> String {
    assert!(
        out.status.success(),
        "docker failed ({:?}): {}\n--- dockerd log ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        d.log()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn run_rm_echo() {
    let d = dockerd();
    let out = d.docker(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(ok(&d, out), "hi\n");
    // It really went through our runtime.
    let info = d.docker(&["info", "--format", "{{.DefaultRuntime}}"]);
    assert_eq!(ok(&d, info).trim(), "ours");
}

fn fails(d: &RefDockerd, out: Output) -> (i32, String) {
    assert!(
        !out.status.success(),
        "docker unexpectedly succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let _ = d;
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn exit_codes_missing_command_and_tty() {
    let d = dockerd();
    let out = d.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    let (code, err) = fails(&d, d.docker(&["run", "--rm", "busybox", "nope"]));
    assert_eq!(code, 127, "{err}");
    assert!(
        err.contains(r#"exec: "nope": executable file not found in $PATH"#),
        "{err}"
    );
    // -t: the process gets a terminal through the shim's console socket.
    let out = d.docker(&["run", "--rm", "-t", "busybox", "tty"]);
    assert_eq!(ok(&d, out).trim_end(), "/dev/pts/0");
}

#[test]
fn detached_exec_pause_stop_and_stats() {
    let d = dockerd();
    let script = "trap 'exit 42' TERM; while true; do sleep 0.1; done";
    let id = ok(&d, d.docker(&["run", "-d", "busybox", "sh", "-c", script]));
    let id = id.trim();
    let out = d.docker(&["exec", id, "echo", "inside"]);
    assert_eq!(ok(&d, out), "inside\n");
    let out = d.docker(&["exec", "-u", "1000", id, "id", "-u"]);
    assert_eq!(ok(&d, out), "1000\n");
    let out = d.docker(&["exec", id, "nope"]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(126), "{all}");
    assert!(
        all.contains(r#"exec: "nope": executable file not found in $PATH"#),
        "{all}"
    );

    let stats = d.docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.MemUsage}} {{.PIDs}}",
        id,
    ]);
    let stats = ok(&d, stats);
    assert!(!stats.starts_with("0B / 0B"), "{stats}");
    assert!(
        stats.trim().ends_with(" 2") || stats.trim().ends_with(" 1"),
        "{stats}"
    );

    ok(&d, d.docker(&["pause", id]));
    let st = d.docker(&["inspect", "--format", "{{.State.Status}}", id]);
    assert_eq!(ok(&d, st).trim(), "paused");
    ok(&d, d.docker(&["unpause", id]));
    let st = d.docker(&["inspect", "--format", "{{.State.Status}}", id]);
    assert_eq!(ok(&d, st).trim(), "running");

    ok(&d, d.docker(&["stop", "-t", "20", id]));
    let code = d.docker(&["inspect", "--format", "{{.State.ExitCode}}", id]);
    assert_eq!(ok(&d, code).trim(), "42");
    ok(&d, d.docker(&["rm", id]));
}

#[test]
fn resource_limits_reach_the_cgroups() {
    let d = dockerd();
    let out = d.docker(&[
        "run",
        "--rm",
        "--memory",
        "64m",
        "--pids-limit",
        "7",
        "--cpus",
        "0.5",
        "busybox",
        "cat",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "/sys/fs/cgroup/pids/pids.max",
        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
    ]);
    assert_eq!(ok(&d, out), format!("{}\n7\n50000\n", 64u64 << 20));
    // The pids limit is enforced.
    let out = d.docker(&[
        "run",
        "--rm",
        "--pids-limit",
        "5",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; echo started",
    ]);
    let s = String::from_utf8_lossy(&out.stderr);
    assert!(
        s.contains("can't fork") || s.contains("Resource temporarily unavailable"),
        "{s}"
    );
}

#[test]
fn user_caps_and_read_only_rootfs() {
    let d = dockerd();
    let out = d.docker(&["run", "--rm", "--user", "1000:1000", "busybox", "id"]);
    assert_eq!(
        ok(&d, out),
        "uid=1000(user) gid=1000(user) groups=1000(user)\n"
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "--cap-drop",
        "ALL",
        "busybox",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_eq!(ok(&d, out), "CapEff:\t0000000000000000\n");
    let (_, err) = fails(
        &d,
        d.docker(&[
            "run",
            "--rm",
            "--cap-drop",
            "CHOWN",
            "busybox",
            "chown",
            "1",
            "/tmp",
        ]),
    );
    assert!(err.contains("Operation not permitted"), "{err}");
    let (_, err) = fails(
        &d,
        d.docker(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]),
    );
    assert!(err.contains("Read-only file system"), "{err}");
    // tmpfs mounts still work on a read-only root.
    let out = d.docker(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch",
        "busybox",
        "touch",
        "/scratch/x",
    ]);
    ok(&d, out);
}
