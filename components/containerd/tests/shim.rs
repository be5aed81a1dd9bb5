//! Our `containerd-shim-runc-v2` under Debian's containerd 1.6 and under ours: the shim
//! v2 start/serve/delete protocol, stdio fifos, a terminal, exec, pause/resume, stats,
//! exit statuses, events, and surviving a containerd kill -9.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Daemon, IMAGE};

fn our_shim() -> std::path::PathBuf {
    testbed::workspace_bin("containerd-shim-runc-v2")
}

#[test]
fn debian_containerd_runs_tasks_with_our_shim() {
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::start_with(
        "/usr/bin/containerd".into(),
        Some(common::our_shim_dir(tmp.path())),
    );
    d.import_busybox();
    assert_eq!(
        d.ctr(&["run", "--rm", IMAGE, "deb-echo", "echo", "hi"]),
        "hi\n"
    );
    d.ctr(&["run", "-d", IMAGE, "deb-bg", "sleep", "1000"]);
    let shims = common::processes_of(&our_shim());
    assert!(
        shims
            .iter()
            .any(|c| c.contains("-id deb-bg") && c.contains(d.socket().to_str().unwrap())),
        "Debian containerd did not use our shim: {shims:?}"
    );
    assert_eq!(
        d.ctr(&[
            "tasks",
            "exec",
            "--exec-id",
            "x",
            "deb-bg",
            "echo",
            "exec-ok"
        ]),
        "exec-ok\n"
    );
    d.ctr(&["tasks", "kill", "-s", "KILL", "deb-bg"]);
    testbed::wait_for("task to stop", Duration::from_secs(20), || {
        d.ctr(&["tasks", "ls"]).contains("STOPPED")
    });
    let rm = d.ctr_with(&common::debian_ctr(), &["tasks", "rm", "deb-bg"]);
    assert!(String::from_utf8_lossy(&rm.stderr).contains("exit code 137"));
    d.ctr(&["containers", "rm", "deb-bg"]);
    testbed::wait_for("our shim to exit", Duration::from_secs(10), || {
        !common::processes_of(&our_shim())
            .iter()
            .any(|c| c.contains("-id deb-bg"))
    });
}

#[test]
fn our_containerd_and_our_shim_full_task_cycle() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = Daemon::start_with(
        testbed::workspace_bin("containerd"),
        Some(common::our_shim_dir(tmp.path())),
    );
    d.import_busybox();
    assert_eq!(
        d.ctr(&["run", "--rm", IMAGE, "o-echo", "echo", "hi"]),
        "hi\n"
    );
    let st = d.ctr_with(
        &common::debian_ctr(),
        &["run", "--rm", IMAGE, "o-exit", "sh", "-c", "exit 9"],
    );
    assert_eq!(st.status.code(), Some(9));
    // A terminal: ctr needs one itself, so it runs under script(1).
    let cmd = format!(
        "{} --address {} run --rm -t {IMAGE} o-tty sh -c 'tty; echo tty-ok'",
        common::debian_ctr().display(),
        d.socket().display()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .expect("script(1) from util-linux");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("/dev/pts/") && text.contains("tty-ok"),
        "{text}"
    );

    d.ctr(&[
        "run",
        "-d",
        IMAGE,
        "o-bg",
        "sh",
        "-c",
        "trap 'exit 7' TERM; while true; do sleep 0.1; done",
    ]);
    assert!(common::processes_of(&our_shim())
        .iter()
        .any(|c| c.contains("-id o-bg")));
    assert_eq!(
        d.ctr(&[
            "tasks",
            "exec",
            "--exec-id",
            "e1",
            "o-bg",
            "echo",
            "exec-ok"
        ]),
        "exec-ok\n"
    );
    let ps = d.ctr(&["tasks", "ps", "o-bg"]);
    assert!(ps.lines().count() >= 2, "{ps}");
    d.ctr(&["tasks", "pause", "o-bg"]);
    assert!(d.ctr(&["tasks", "ls"]).contains("PAUSED"));
    d.ctr(&["tasks", "resume", "o-bg"]);
    let metrics = d.ctr(&["tasks", "metrics", "o-bg"]);
    assert!(
        metrics.contains("memory.usage_in_bytes") && metrics.contains("pids.current"),
        "{metrics}"
    );

    // The shim and its container outlive a kill -9 of containerd.
    d.kill9_and_restart();
    assert!(d.ctr(&["tasks", "ls"]).contains("RUNNING"));
    d.ctr(&["tasks", "kill", "o-bg"]);
    testbed::wait_for("task to stop", Duration::from_secs(20), || {
        d.ctr(&["tasks", "ls"]).contains("STOPPED")
    });
    let rm = d.ctr_with(&common::debian_ctr(), &["tasks", "rm", "o-bg"]);
    assert!(
        String::from_utf8_lossy(&rm.stderr).contains("exit code 7"),
        "{}",
        String::from_utf8_lossy(&rm.stderr)
    );
    d.ctr(&["containers", "rm", "o-bg"]);
    testbed::wait_for("our shim to exit", Duration::from_secs(10), || {
        !common::processes_of(&our_shim())
            .iter()
            .any(|c| c.contains("-id o-bg"))
    });
    // Nothing is left of the deleted tasks' bundles (removed in the background).
    let tasks = d.dir.path().join("state/io.containerd.runtime.v2.task");
    let entries = |p: std::path::PathBuf| std::fs::read_dir(p).map_or(0, |r| r.count());
    testbed::wait_for("the bundles to be removed", Duration::from_secs(10), || {
        entries(tasks.join("default")) == 0 && entries(tasks.join(".removing")) == 0
    });
}

#[test]
fn shim_rejects_unknown_flags_and_actions() {
    let out = Command::new(our_shim())
        .args(["-bogus", "x", "start"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("flag provided but not defined: -bogus"));
    let out = Command::new(our_shim())
        .args([
            "-namespace",
            "n",
            "-id",
            "i",
            "-address",
            "/nonexistent",
            "explode",
        ])
        .current_dir(Path::new("/tmp"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown action \"explode\""));
}

#[test]
fn whole_stack_in_rust_with_our_runc() {
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::start_with(
        testbed::workspace_bin("containerd"),
        Some(common::our_shim_dir(tmp.path())),
    );
    d.import_busybox();
    let ctr = testbed::workspace_bin("ctr");
    let runc = testbed::workspace_bin("runc");
    let runc = runc.to_str().unwrap();
    let out = d.ctr_with(
        &ctr,
        &[
            "run",
            "--rm",
            "--runc-binary",
            runc,
            IMAGE,
            "rs-echo",
            "echo",
            "hi",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hi\n",
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        common::tail(&d.log())
    );
    let out = d.ctr_with(
        &ctr,
        &[
            "run",
            "-d",
            "--runc-binary",
            runc,
            IMAGE,
            "rs-bg",
            "sleep",
            "1000",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = d.ctr_with(
        &ctr,
        &[
            "tasks",
            "exec",
            "--exec-id",
            "e",
            "rs-bg",
            "echo",
            "exec-ok",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "exec-ok\n");
    d.ctr(&["tasks", "kill", "-s", "KILL", "rs-bg"]);
    testbed::wait_for("task to stop", Duration::from_secs(20), || {
        d.ctr(&["tasks", "ls"]).contains("STOPPED")
    });
    d.ctr(&["tasks", "rm", "rs-bg"]);
    d.ctr(&["containers", "rm", "rs-bg"]);
}
