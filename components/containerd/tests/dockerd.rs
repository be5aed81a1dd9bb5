//! Debian's dockerd 20.10 with `--containerd` pointing at our containerd.

mod common;

use common::Daemon;
use testbed::{DockerdOptions, RefDockerd};

#[test]
fn debian_dockerd_runs_containers_through_our_containerd() {
    check(&Daemon::start(), false);
}

#[test]
fn debian_dockerd_through_our_containerd_and_our_shim() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Daemon::start_with(
        testbed::workspace_bin("containerd"),
        Some(common::our_shim_dir(tmp.path())),
    );
    check(&c, true);
}

fn check(c: &Daemon, our_shim: bool) {
    let dockerd = RefDockerd::start(DockerdOptions {
        args: vec![format!("--containerd={}", c.socket().display())],
        ..Default::default()
    });
    let v = dockerd.docker(&[
        "version",
        "--format",
        "{{range .Server.Components}}{{.Name}}={{.Version}} {{end}}",
    ]);
    let v = String::from_utf8_lossy(&v.stdout).into_owned();
    assert!(v.contains("containerd=1.7.0+rust."), "{v}");
    dockerd.import_busybox("busybox:latest");
    let out = dockerd.docker(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hi\n",
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        common::tail(&c.log())
    );
    let out = dockerd.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5));
    let out = dockerd.docker(&["run", "-d", "--name", "bg", "busybox", "sleep", "1000"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ps = String::from_utf8_lossy(
        &dockerd
            .docker(&["ps", "--format", "{{.Names}} {{.Status}}"])
            .stdout,
    )
    .into_owned();
    assert!(ps.contains("bg Up"), "{ps}");
    // The task is in dockerd's namespace of our containerd.
    let tasks = c.ctr(&["-n", "moby", "tasks", "ls"]);
    assert!(tasks.contains("RUNNING"), "{tasks}");
    if our_shim {
        let shims = common::processes_of(&testbed::workspace_bin("containerd-shim-runc-v2"));
        assert!(
            shims.iter().any(|c| c.contains("-namespace moby")),
            "{shims:?}"
        );
    }
    let out = dockerd.docker(&["exec", "bg", "echo", "exec-ok"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "exec-ok\n");
    let out = dockerd.docker(&["rm", "-f", "bg"]);
    assert!(out.status.success());
    assert!(!c.ctr(&["-n", "moby", "tasks", "ls"]).contains("RUNNING"));
}
