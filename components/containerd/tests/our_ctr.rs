//! Our `ctr` against Debian's containerd 1.6 (the reference server) and against ours:
//! the same commands give the same listings.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Daemon, IMAGE};

fn our_ctr() -> PathBuf {
    testbed::workspace_bin("ctr")
}

fn ok(d: &Daemon, args: &[&str]) -> String {
    let out = d.ctr_with(&our_ctr(), args);
    assert!(
        out.status.success(),
        "our ctr {args:?} failed: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        common::tail(&d.log())
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `p` keeps container ids (and so runc state and cgroup paths) apart between tests.
fn cycle(d: &Daemon, p: &str) {
    let id = |s: &str| format!("{p}-{s}");
    let (echo, exit, bg) = (id("echo"), id("exit"), id("bg"));
    let tar = d.dir.path().join("img.tar");
    common::oci_image_tar(&tar, &common::busybox_layer());
    let out = ok(d, &["images", "import", tar.to_str().unwrap()]);
    assert!(
        out.contains("unpacking docker.io/library/busybox:latest"),
        "{out}"
    );
    // Listings match the reference ctr byte for byte.
    for args in [
        &["images", "ls"][..],
        &["snapshots", "ls"],
        &["containers", "ls"],
        &["namespaces", "ls"],
    ] {
        assert_eq!(
            ok(d, args),
            d.ctr(args),
            "ctr {args:?} differs from Debian's"
        );
    }
    let mut events = std::process::Command::new(our_ctr())
        .arg("--address")
        .arg(d.socket())
        .arg("events")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ok(d, &["run", "--rm", IMAGE, &echo, "echo", "hi"]), "hi\n");
    std::thread::sleep(Duration::from_millis(300));
    events.kill().unwrap();
    let ev = String::from_utf8_lossy(&events.wait_with_output().unwrap().stdout).into_owned();
    for topic in [
        "/containers/create",
        "/tasks/start",
        "/tasks/exit",
        "/tasks/delete",
    ] {
        assert!(
            ev.lines()
                .any(|l| l.contains(&format!(" default {topic} "))),
            "no {topic} in:\n{ev}"
        );
    }
    // A terminal: our ctr needs one itself, so it runs under script(1).
    let cmd = format!(
        "{} --address {} run --rm -t {IMAGE} {p}-tty sh -c 'tty; echo tty-ok'",
        our_ctr().display(),
        d.socket().display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .expect("script(1) from util-linux");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("/dev/pts/") && text.contains("tty-ok"),
        "{text}"
    );
    let st = d.ctr_with(
        &our_ctr(),
        &["run", "--rm", IMAGE, &exit, "sh", "-c", "exit 6"],
    );
    assert_eq!(
        st.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    ok(
        d,
        &[
            "run",
            "-d",
            "--runc-binary",
            "/usr/sbin/runc",
            IMAGE,
            &bg,
            "sleep",
            "1000",
        ],
    );
    // `run` holds a lease while it prepares the snapshot (a collection between the
    // prepare and the container's creation would remove it) and lets it go afterwards.
    assert_eq!(d.ctr(&["leases", "ls", "-q"]), "");
    assert_eq!(ok(d, &["tasks", "ls"]), d.ctr(&["tasks", "ls"]));
    assert!(ok(d, &["tasks", "ls"]).contains("RUNNING"));
    assert_eq!(
        ok(
            d,
            &["tasks", "exec", "--exec-id", "x1", &bg, "echo", "exec-ok"]
        ),
        "exec-ok\n"
    );
    assert!(ok(d, &["tasks", "ps", &bg]).starts_with("PID"));
    ok(d, &["tasks", "pause", &bg]);
    assert!(ok(d, &["tasks", "ls"]).contains("PAUSED"));
    ok(d, &["tasks", "resume", &bg]);
    assert!(ok(d, &["containers", "info", &bg]).contains(&format!("\"ID\": \"{bg}\"")));
    ok(d, &["tasks", "kill", "-s", "SIGKILL", &bg]);
    testbed::wait_for("task to stop", Duration::from_secs(20), || {
        ok(d, &["tasks", "ls"]).contains("STOPPED")
    });
    ok(d, &["tasks", "rm", &bg]);
    ok(d, &["containers", "rm", &bg]);
    assert!(!ok(d, &["containers", "ls", "-q"]).contains(&bg));
    let exp = d.dir.path().join("exp.tar");
    ok(d, &["images", "export", exp.to_str().unwrap(), IMAGE]);
    ok(d, &["images", "rm", IMAGE]);
    assert_eq!(ok(d, &["images", "ls", "-q"]), "");
    // What our ctr exported, Debian's ctr imports.
    d.ctr(&["images", "import", exp.to_str().unwrap()]);
    assert!(ok(d, &["images", "ls", "-q"]).contains(IMAGE));
}

#[test]
fn our_ctr_against_debian_containerd() {
    let d = Daemon::start_with("/usr/bin/containerd".into(), None);
    cycle(&d, "oc-deb");
}

#[test]
fn our_ctr_against_our_containerd() {
    let d = Daemon::start();
    cycle(&d, "oc-ours");
}

#[test]
fn our_ctr_errors() {
    let d = Daemon::start();
    let out = d.ctr_with(&our_ctr(), &["tasks", "kill", "ghost"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("ctr: ") && err.contains("not found"),
        "{err}"
    );
    let out = std::process::Command::new(our_ctr())
        .args(["--address", "/nonexistent.sock", "version"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed to dial \"/nonexistent.sock\""));
}
