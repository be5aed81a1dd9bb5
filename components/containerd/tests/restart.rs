//! The property the architecture exists for: containers keep running while containerd
//! is killed, and the restarted daemon reconnects to their shims.

mod common;

use std::time::Duration;

use common::{Daemon, IMAGE};

#[test]
fn task_survives_kill_9_of_containerd_and_is_reaped_after() {
    let mut d = Daemon::start();
    d.import_busybox();
    d.ctr(&[
        "run",
        "-d",
        IMAGE,
        "survivor",
        "sh",
        "-c",
        "trap 'exit 42' TERM; while true; do sleep 0.1; done",
    ]);
    let before = d.ctr(&["tasks", "ls"]);
    d.kill9_and_restart();
    let after = d.ctr(&["tasks", "ls"]);
    assert_eq!(before, after, "task list changed across the restart");
    assert!(after.contains("RUNNING"), "{after}");
    // Metadata written before the kill is all there.
    assert!(d.ctr(&["images", "ls", "-q"]).contains(IMAGE));
    assert!(d.ctr(&["containers", "ls", "-q"]).contains("survivor"));
    d.ctr(&["tasks", "kill", "survivor"]);
    testbed::wait_for("task to stop", Duration::from_secs(20), || {
        d.ctr(&["tasks", "ls"]).contains("STOPPED")
    });
    let rm = d.ctr_with(&common::debian_ctr(), &["tasks", "rm", "survivor"]);
    assert!(
        String::from_utf8_lossy(&rm.stderr).contains("exit code 42"),
        "{}",
        String::from_utf8_lossy(&rm.stderr)
    );
    d.ctr(&["containers", "rm", "survivor"]);
}
