//! Debian's containerd 1.6 and `ctr run --runc-binary <ours>`: the runc shim v2
//! drives our runtime to run, kill and remove containers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

struct Containerd {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Containerd {
    fn start() -> Containerd {
        testbed::require_root();
        testbed::subreaper();
        for bin in [
            "/usr/bin/containerd",
            "/usr/bin/ctr",
            "/usr/bin/containerd-shim-runc-v2",
        ] {
            assert!(
                Path::new(bin).exists(),
                "{bin} not found; install it with: apt-get install containerd"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("runc-ctr-")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        let config = format!(
            "version = 2\nroot = \"{r}\"\nstate = \"{s}\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{a}\"\n[ttrpc]\n  address = \"{a}.ttrpc\"\n",
            r = d.join("root").display(),
            s = d.join("state").display(),
            a = d.join("containerd.sock").display(),
        );
        std::fs::write(d.join("config.toml"), config).unwrap();
        let log = std::fs::File::create(d.join("containerd.log")).unwrap();
        let child = Command::new("/usr/bin/containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let c = Containerd {
            dir,
            child: Some(child),
        };
        testbed::wait_for("containerd socket", Duration::from_secs(30), || {
            c.ctr(&["version"]).status.success()
        });
        c
    }

    fn ctr(&self, args: &[&str]) -> Output {
        Command::new("/usr/bin/ctr")
            .arg("--address")
            .arg(self.dir.path().join("containerd.sock"))
            .args(["--namespace", "runc-test"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
        testbed::reap_zombies();
        testbed::unmount_under(self.dir.path());
    }
}

fn ok(c: &Containerd, o: Output) -> String {
    assert!(
        o.status.success(),
        "ctr failed: {}\n--- containerd log ---\n{}",
        String::from_utf8_lossy(&o.stderr),
        c.log()
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn ctr_runs_kills_and_removes_with_our_runtime() {
    let c = Containerd::start();
    // RUNC_UNDER_TEST runs the same scenario against another runtime (e.g. Debian's
    // /usr/sbin/runc) to compare behaviour.
    let runc: PathBuf = std::env::var("RUNC_UNDER_TEST")
        .map(PathBuf::from)
        .unwrap_or_else(|_| testbed::workspace_bin("runc"));
    let rootfs = c.dir.path().join("rootfs");
    testbed::busybox_rootfs(&rootfs);
    let (rb, rf) = (runc.to_str().unwrap(), rootfs.to_str().unwrap());

    let out = c.ctr(&[
        "run",
        "--rm",
        "--runc-binary",
        rb,
        "--env",
        "PATH=/bin",
        "--rootfs",
        rf,
        "hello",
        "echo",
        "hi",
    ]);
    assert_eq!(ok(&c, out), "hi\n");

    let rootfs2 = c.dir.path().join("rootfs2");
    testbed::busybox_rootfs(&rootfs2);
    let out = c.ctr(&[
        "run",
        "-d",
        "--runc-binary",
        rb,
        "--env",
        "PATH=/bin",
        "--rootfs",
        rootfs2.to_str().unwrap(),
        "sleeper",
        "sleep",
        "1000",
    ]);
    ok(&c, out);
    let tasks = ok(&c, c.ctr(&["task", "ls"]));
    assert!(
        tasks
            .lines()
            .any(|l| l.starts_with("sleeper") && l.contains("RUNNING")),
        "{tasks}"
    );
    // The shim asks our runtime for the processes.
    let ps = ok(&c, c.ctr(&["task", "ps", "sleeper"]));
    assert_eq!(ps.lines().count(), 2, "{ps}");
    ok(
        &c,
        c.ctr(&["task", "kill", "--signal", "SIGKILL", "sleeper"]),
    );
    testbed::wait_for("sleeper to stop", Duration::from_secs(20), || {
        let t = String::from_utf8_lossy(&c.ctr(&["task", "ls"]).stdout).into_owned();
        t.lines()
            .any(|l| l.starts_with("sleeper") && l.contains("STOPPED"))
    });
    ok(&c, c.ctr(&["task", "rm", "sleeper"]));
    ok(&c, c.ctr(&["container", "rm", "sleeper"]));
    let tasks = ok(&c, c.ctr(&["task", "ls"]));
    assert!(!tasks.contains("sleeper"), "{tasks}");
}
