//! The real docker CLI 28 running containers through our dockerd and Debian's
//! containerd: run, exit codes, logs, exec, stop.

mod common;

use common::Engine;

#[test]
fn run_rm_echo() {
    let e = Engine::start();
    e.import_busybox("busybox:latest");
    let out = e.docker(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hi\n",
        "stderr: {}\nlog: {}",
        String::from_utf8_lossy(&out.stderr),
        e.log()
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(e.ok(&["ps", "-aq"]), "", "--rm left the container behind");
}

#[test]
fn exit_codes_and_stderr() {
    let e = Engine::start();
    e.import_busybox("busybox:latest");
    let out = e.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    let out = e.docker(&["run", "--rm", "busybox", "/no/such/binary"]);
    assert_eq!(
        out.status.code(),
        Some(127),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    // containerd's error passes through as Debian's dockerd passes it (same
    // containerd and runc on both sides), word for word.
    let r = testbed::RefDockerd::start(Default::default());
    r.import_busybox("busybox:latest");
    let theirs = r.cli(
        common::CLI28,
        &["run", "--rm", "busybox", "/no/such/binary"],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&theirs.stderr)
    );
}

#[test]
fn detached_logs_exec_stop() {
    let e = Engine::start();
    e.import_busybox("busybox:latest");
    let id = e.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "echo started; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64);
    testbed::wait_for(
        "the container's first line",
        std::time::Duration::from_secs(20),
        || e.ok(&["logs", "web"]).contains("started"),
    );
    assert_eq!(
        e.ok(&["exec", "web", "cat", "/etc/hostname"]).trim(),
        &id[..12]
    );
    let out = e.docker(&["exec", "web", "sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        e.inspect("web", "{{.State.Status}} {{.State.Running}}"),
        "running true"
    );
    assert_eq!(
        e.ok(&["ps", "--filter", "name=web", "--format", "{{.Names}}"])
            .trim(),
        "web"
    );
    e.ok(&["stop", "web"]);
    assert_eq!(
        e.inspect("web", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 0"
    );
    let logs = e.ok(&["logs", "-f", "web"]);
    assert_eq!(logs, "started\nbye\n");
    let tail = e.ok(&["logs", "--tail", "1", "web"]);
    assert_eq!(tail, "bye\n");
    assert_eq!(e.ok(&["ps", "-q"]), "");
    assert_eq!(
        e.ok(&["ps", "-aq", "--filter", "status=exited"]).trim(),
        &id[..12]
    );
    e.ok(&["rm", "web"]);
    let out = e.docker(&["inspect", "web"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No such object: web")
            || String::from_utf8_lossy(&out.stderr).contains("No such container: web"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
