//! A containerd on private directories (ours by default, or Debian's as the peer),
//! driven with Debian's `ctr`, stopped and cleaned up on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::oci::{busybox_layer, oci_image_tar};

/// Debian's ctr, the reference client.
pub fn debian_ctr() -> PathBuf {
    let p = PathBuf::from("/usr/bin/ctr");
    assert!(
        p.exists(),
        "/usr/bin/ctr not found; install it with: apt-get install containerd"
    );
    p
}

/// A containerd (ours unless told otherwise) on private directories.
pub struct Containerd {
    pub dir: tempfile::TempDir,
    pub binary: PathBuf,
    pub extra_path: Option<PathBuf>,
    child: Option<Child>,
}

impl Containerd {
    /// This workspace's containerd.
    pub fn start() -> Containerd {
        Self::start_with(crate::workspace_bin("containerd"), None)
    }

    /// `binary` with `path_dir` first on PATH (where shims are looked up).
    pub fn start_with(binary: PathBuf, path_dir: Option<PathBuf>) -> Containerd {
        crate::require_root();
        crate::subreaper();
        let dir = crate::scratch::tempdir("ctrd-test-");
        let mut d = Containerd {
            dir,
            binary,
            extra_path: path_dir,
            child: None,
        };
        d.spawn();
        d
    }

    /// The daemon's process id (for memory figures).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("containerd is running").id()
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("c.sock")
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("containerd.log"))
            .unwrap();
        let cfg = self.dir.path().join("config.toml");
        std::fs::write(&cfg, "version = 2\n").unwrap();
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--root")
            .arg(self.root())
            .arg("--state")
            .arg(self.dir.path().join("state"))
            .arg("--address")
            .arg(self.socket())
            .arg("-c")
            .arg(&cfg)
            .args(["--log-level", "debug"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some(p) = &self.extra_path {
            let path = std::env::var("PATH").unwrap_or_default();
            cmd.env("PATH", format!("{}:{path}", p.display()));
        }
        let _ = std::fs::remove_file(self.socket());
        self.child = Some(cmd.spawn().expect("start containerd"));
        let sock = self.socket();
        crate::wait_for("containerd socket", Duration::from_secs(20), || {
            std::os::unix::net::UnixStream::connect(&sock).is_ok()
        });
    }

    /// `kill -9` the daemon (its shims keep running) and start it again.
    pub fn kill9_and_restart(&mut self) {
        let mut c = self.child.take().unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
        self.spawn();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// Run a ctr binary against this daemon.
    pub fn ctr_with(&self, ctr: &Path, args: &[&str]) -> Output {
        Command::new(ctr)
            .arg("--address")
            .arg(self.socket())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Debian's ctr against this daemon; panics with both outputs and the daemon log
    /// unless it succeeds.
    pub fn ctr(&self, args: &[&str]) -> String {
        let out = self.ctr_with(&debian_ctr(), args);
        assert!(
            out.status.success(),
            "ctr {args:?} failed: {}{}\ncontainerd log tail:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            log_tail(&self.log())
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Import a busybox OCI image tarball as [`crate::oci::BUSYBOX_IMAGE`].
    pub fn import_busybox(&self) {
        let tar = self.dir.path().join("busybox-oci.tar");
        oci_image_tar(&tar, &busybox_layer());
        self.ctr(&["images", "import", tar.to_str().unwrap()]);
    }
}

/// The last 30 lines of a log, for failure messages.
pub fn log_tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // A failed test may leave tasks behind: kill and delete them so no container,
        // runc state or cgroup outlives the test.
        if self.child.is_some() && Path::new("/usr/bin/ctr").exists() {
            let ns = self.ctr_with(&debian_ctr(), &["namespaces", "ls", "-q"]);
            for ns in String::from_utf8_lossy(&ns.stdout).split_whitespace() {
                let ids = self.ctr_with(&debian_ctr(), &["-n", ns, "tasks", "ls", "-q"]);
                for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                    let _ = self.ctr_with(&debian_ctr(), &["-n", ns, "tasks", "rm", "-f", id]);
                }
            }
        }
        if let Some(mut c) = self.child.take() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            for _ in 0..100 {
                if c.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        crate::reap_zombies();
        crate::unmount_under(self.dir.path());
    }
}
