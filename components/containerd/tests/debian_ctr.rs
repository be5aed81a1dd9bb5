//! Debian's `ctr` (containerd 1.6) against our containerd: image import, listings,
//! `run --rm`, detached tasks, kill, events, exec, pause/resume, and bad input.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Daemon, IMAGE};

#[test]
fn version_namespaces_import_and_run_rm() {
    let d = Daemon::start();
    let v = d.ctr(&["version"]);
    assert!(v.contains("Server:") && v.contains("1.7.0+rust."), "{v}");
    d.import_busybox();
    let images = d.ctr(&["images", "ls"]);
    assert!(images.contains(IMAGE), "{images}");
    assert!(images.contains("linux/amd64"), "{images}");
    let ns = d.ctr(&["namespaces", "ls"]);
    assert!(ns.lines().any(|l| l.starts_with("default")), "{ns}");
    let content = d.ctr(&["content", "ls"]);
    assert!(
        content.contains("containerd.io/uncompressed=sha256:"),
        "{content}"
    );
    let snaps = d.ctr(&["snapshots", "ls"]);
    assert!(snaps.contains("Committed"), "{snaps}");
    let out = d.ctr(&["run", "--rm", IMAGE, "echo-test", "echo", "hi"]);
    assert_eq!(out, "hi\n");
    // --rm removed the container and its snapshot.
    assert!(!d.ctr(&["containers", "ls"]).contains("echo-test"));
    assert!(!d.ctr(&["snapshots", "ls"]).contains("echo-test"));
    // The exit status of the container is ctr's.
    let st = d.ctr_with(
        &common::debian_ctr(),
        &["run", "--rm", IMAGE, "exit-test", "sh", "-c", "exit 3"],
    );
    assert_eq!(st.status.code(), Some(3));
}

#[test]
fn detached_task_kill_exec_pause_and_events() {
    let d = Daemon::start();
    d.import_busybox();
    let mut events = Command::new(common::debian_ctr())
        .arg("--address")
        .arg(d.socket())
        .arg("events")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Give the subscription a moment to be registered before the first event.
    std::thread::sleep(Duration::from_millis(300));
    d.ctr(&[
        "run",
        "-d",
        IMAGE,
        "bg",
        "sh",
        "-c",
        "trap 'exit 7' TERM; while true; do sleep 0.1; done",
    ]);
    let ls = d.ctr(&["tasks", "ls"]);
    assert!(
        ls.lines()
            .any(|l| l.starts_with("bg") && l.contains("RUNNING")),
        "{ls}"
    );
    let ps = d.ctr(&["tasks", "ps", "bg"]);
    assert!(ps.lines().count() >= 2, "{ps}");
    assert_eq!(
        d.ctr(&["tasks", "exec", "--exec-id", "e1", "bg", "echo", "exec-ok"]),
        "exec-ok\n"
    );
    // Checkpointing is not supported: a clear Unimplemented, the task keeps running.
    let out = d.ctr_with(&common::debian_ctr(), &["tasks", "checkpoint", "bg"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("checkpoint is not supported"), "{err}");
    assert!(d.ctr(&["tasks", "ls"]).contains("RUNNING"));
    d.ctr(&["tasks", "pause", "bg"]);
    assert!(d.ctr(&["tasks", "ls"]).contains("PAUSED"));
    d.ctr(&["tasks", "resume", "bg"]);
    assert!(d.ctr(&["tasks", "ls"]).contains("RUNNING"));
    let info = d.ctr(&["containers", "info", "bg"]);
    assert!(info.contains("\"ID\": \"bg\""), "{info}");
    d.ctr(&["tasks", "kill", "bg"]);
    testbed::wait_for("task bg to stop", Duration::from_secs(20), || {
        d.ctr(&["tasks", "ls"]).contains("STOPPED")
    });
    let rm = d.ctr_with(&common::debian_ctr(), &["tasks", "rm", "bg"]);
    assert!(rm.status.success());
    assert!(
        String::from_utf8_lossy(&rm.stderr).contains("exit code 7"),
        "{}",
        String::from_utf8_lossy(&rm.stderr)
    );
    d.ctr(&["containers", "rm", "bg"]);
    std::thread::sleep(Duration::from_millis(300));
    events.kill().unwrap();
    let out = events.wait_with_output().unwrap();
    let ev = String::from_utf8_lossy(&out.stdout);
    for topic in [
        "/containers/create",
        "/tasks/create",
        "/tasks/start",
        "/tasks/exec-started",
        "/tasks/paused",
        "/tasks/resumed",
        "/tasks/exit",
        "/tasks/delete",
        "/containers/delete",
    ] {
        assert!(ev.contains(topic), "no {topic} event in:\n{ev}");
    }
}

#[test]
fn images_rm_and_export_round_trip() {
    let d = Daemon::start();
    d.import_busybox();
    let tar = d.dir.path().join("export.tar");
    d.ctr(&["images", "export", tar.to_str().unwrap(), IMAGE]);
    assert!(std::fs::metadata(&tar).unwrap().len() > 100_000);
    d.ctr(&["images", "rm", IMAGE]);
    assert!(!d.ctr(&["images", "ls"]).contains(IMAGE));
    // The layer is garbage now that nothing references it.
    assert!(
        !d.ctr(&["content", "ls"]).contains("sha256:"),
        "content left after image rm"
    );
    d.ctr(&["images", "import", tar.to_str().unwrap()]);
    assert!(d.ctr(&["images", "ls"]).contains(IMAGE));
}

#[test]
fn bad_input_gets_containerd_errors_and_leaves_nothing() {
    let d = Daemon::start();
    d.import_busybox();
    let ctr = common::debian_ctr();

    // A duplicate container id: ctr prepares the snapshot first, then the container.
    d.ctr(&["containers", "create", IMAGE, "dup", "true"]);
    let out = d.ctr_with(&ctr, &["containers", "create", IMAGE, "dup", "true"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("snapshot \"dup\": already exists"), "{err}");
    d.ctr(&["containers", "rm", "dup"]);
    let rootfs = d.dir.path().join("rootfs");
    testbed::busybox_rootfs(&rootfs);
    let r = rootfs.to_str().unwrap();
    d.ctr(&["containers", "create", "--rootfs", r, "dup2", "true"]);
    let out = d.ctr_with(
        &ctr,
        &["containers", "create", "--rootfs", r, "dup2", "true"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("container \"dup2\": already exists"), "{err}");
    d.ctr(&["containers", "rm", "dup2"]);

    // An invalid namespace name.
    let out = d.ctr_with(&ctr, &["-n", "bad/ns", "images", "ls"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid argument"));
    // A namespace nobody used is empty, as in containerd.
    assert_eq!(d.ctr(&["-n", "nobody", "images", "ls", "-q"]), "");

    // A task for a container that does not exist.
    let out = d.ctr_with(&ctr, &["tasks", "start", "ghost"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("container \"ghost\": not found"));

    // A truncated image tarball: a clear error, no image, no ingest left behind.
    let full = d.dir.path().join("full.tar");
    common::oci_image_tar(&full, &common::busybox_layer());
    let bytes = std::fs::read(&full).unwrap();
    let cut = d.dir.path().join("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = d.ctr_with(
        &ctr,
        &["-n", "trunc", "images", "import", cut.to_str().unwrap()],
    );
    assert!(!out.status.success(), "truncated import succeeded");
    assert_eq!(d.ctr(&["-n", "trunc", "images", "ls", "-q"]), "");
    let ingest = d.root().join("io.containerd.content.v1.content/ingest");
    let left: Vec<_> = std::fs::read_dir(&ingest).unwrap().collect();
    assert!(left.is_empty(), "ingests left: {left:?}");

    // Layers that try to write outside the snapshot.
    let outside = d.dir.path().join("escaped");
    for (name, kind, link) in [
        (
            "../../../../../../../../tmp/ctrd-escape",
            tar::EntryType::Regular,
            "",
        ),
        ("dev-sda", tar::EntryType::Block, ""),
        ("pw", tar::EntryType::Link, "../../../../etc/passwd"),
    ] {
        let tar = d.dir.path().join("hostile.tar");
        common::oci_image_tar(&tar, &common::hostile_layer(name, kind, link));
        let out = d.ctr_with(
            &ctr,
            &["-n", "hostile", "images", "import", tar.to_str().unwrap()],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "hostile layer {name} was unpacked");
        assert!(
            err.contains("failed to apply layer") || err.contains("layer entry"),
            "{err}"
        );
    }
    assert!(!std::path::Path::new("/tmp/ctrd-escape").exists());
    assert!(!outside.exists());
}

#[test]
fn second_daemon_on_the_same_socket_is_refused() {
    let d = Daemon::start();
    let out = std::process::Command::new(testbed::workspace_bin("containerd"))
        .arg("--root")
        .arg(d.dir.path().join("root2"))
        .arg("--state")
        .arg(d.dir.path().join("state2"))
        .arg("--address")
        .arg(d.socket())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is in use by another containerd"), "{err}");
    // The first daemon still answers.
    assert!(d.ctr(&["version"]).contains("Server:"));
    let bad = d.dir.path().join("bad.toml");
    std::fs::write(&bad, "version = 9\n").unwrap();
    let out = std::process::Command::new(testbed::workspace_bin("containerd"))
        .arg("-c")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported config version 9"));
}

#[test]
fn native_snapshotter_and_unknown_snapshotter() {
    let d = Daemon::start();
    let tar = d.dir.path().join("img.tar");
    common::oci_image_tar(&tar, &common::busybox_layer());
    d.ctr(&[
        "images",
        "import",
        "--snapshotter",
        "native",
        tar.to_str().unwrap(),
    ]);
    let out = d.ctr(&[
        "run",
        "--rm",
        "--snapshotter",
        "native",
        IMAGE,
        "nat-echo",
        "echo",
        "native-ok",
    ]);
    assert_eq!(out, "native-ok\n");
    assert!(d
        .ctr(&["snapshots", "--snapshotter", "native", "ls"])
        .contains("Committed"));
    // Nothing went to the overlayfs snapshotter.
    assert!(!d.ctr(&["snapshots", "ls"]).contains("Committed"));
    let out = d.ctr_with(
        &common::debian_ctr(),
        &["snapshots", "--snapshotter", "bogus", "ls"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("snapshotter not loaded: bogus: invalid argument"),
        "{err}"
    );
}
