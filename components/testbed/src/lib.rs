//! Fixtures shared by the integration suites: what a test needs to run real containers
//! on this machine with nothing left behind.
//!
//! - [`busybox_rootfs`] / [`busybox_tar`]: a minimal image made locally from Debian's
//!   busybox-static (no registry is reachable here).
//! - [`RefDockerd`]: Debian's dockerd (the reference peer) on a private socket, data root
//!   and exec root, with `--iptables=false --bridge=none`, stopped and cleaned on drop.
//! - [`workspace_bin`]: the path of one of this workspace's binaries, built by cargo.
//! - [`subreaper`] and [`unmount_under`]: so killed daemons leave no zombies or mounts.
//!
//! - [`Containerd`] (module [`containerd`]): a containerd on private directories, ours
//!   or Debian's, driven with Debian's `ctr`.
//! - [`oci`]: a busybox image as an OCI layout tarball, for `ctr images import`.
//! - [`scratch`]: the daemons' directories, swept when the test that made them was killed.
//!
//! Everything panics with a message naming what is missing: a suite fails, never skips.

pub mod containerd;
pub mod oci;
pub mod scratch;

pub use containerd::Containerd;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Fail the test unless it runs as root (the suites need namespaces, mounts, cgroups).
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this integration test needs root"
    );
}

/// Make this test process a child subreaper: orphans of daemons it starts (shims,
/// containerd) are reparented to it instead of to a PID 1 that does not reap them.
pub fn subreaper() {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER, 1) only sets a flag on this process.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(rc, 0, "prctl(PR_SET_CHILD_SUBREAPER) failed");
}

/// Reap every exited child of this process that nobody waits for (orphans adopted as
/// a subreaper).
pub fn reap_zombies() {
    loop {
        // SAFETY: waitpid with WNOHANG on any child; status is a valid out pointer.
        let pid = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
        if pid <= 0 {
            break;
        }
    }
}

/// A binary of this workspace (e.g. `runc`, `containerd`), from the cargo target
/// directory the running test was built into. Panics naming the build command if absent.
pub fn workspace_bin(name: &str) -> PathBuf {
    // Test executables live in target/<profile>/deps/; binaries in target/<profile>/.
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary in target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} not built; build it first (cargo build --workspace --bins)",
        path.display()
    );
    path
}

/// Debian's busybox-static, the one binary of the test image.
pub fn busybox() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("busybox not found; install it with: apt-get install busybox-static");
}

/// Fill `dir` with a busybox root filesystem: /bin/busybox, a link per applet in /bin,
/// /etc/passwd and /etc/group (root, nobody, and user 1000), and the usual mount points.
pub fn busybox_rootfs(dir: &Path) {
    let bin = dir.join("bin");
    for d in [
        "bin",
        "etc",
        "proc",
        "sys",
        "dev",
        "tmp",
        "root",
        "home/user",
        "var",
        "run",
    ] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy(busybox(), bin.join("busybox")).unwrap();
    let list = Command::new(busybox())
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let link = bin.join(applet);
            if !link.exists() {
                std::os::unix::fs::symlink("busybox", link).unwrap();
            }
        }
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("etc/group"),
        "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n",
    )
    .unwrap();
    std::fs::set_permissions(
        dir.join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
}

/// Write a tarball of a busybox rootfs to `path`, as `docker import` takes it.
pub fn busybox_tar(path: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    busybox_rootfs(tmp.path());
    let status = Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(tmp.path())
        .arg("-cf")
        .arg(path)
        .arg(".")
        .status()
        .expect("tar");
    assert!(status.success(), "tar of the busybox rootfs failed");
}

/// Lazily unmount every mount point at or below `dir`, deepest first.
pub fn unmount_under(dir: &Path) {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = dir.to_string_lossy().into_owned();
    let mut points: Vec<String> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| p.replace("\\040", " "))
        .filter(|p| p == &prefix || p.starts_with(&format!("{prefix}/")))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let c = std::ffi::CString::new(p).unwrap();
        // SAFETY: c is a valid NUL-terminated path.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Wait until `cond` holds, polling, or panic after `timeout` naming `what`.
pub fn wait_for(what: &str, timeout: Duration, cond: impl FnMut() -> bool) {
    assert!(
        try_wait_for(timeout, cond),
        "timed out after {timeout:?} waiting for {what}"
    );
}

/// Poll `cond` until it holds (true) or `timeout` passes (false).
pub fn try_wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// Options for [`RefDockerd::start`].
#[derive(Debug, Default, Clone)]
pub struct DockerdOptions {
    /// Extra dockerd arguments (e.g. `--add-runtime=ours=/path`, `--containerd=...`).
    pub args: Vec<String>,
    /// The dockerd binary; default Debian's `/usr/sbin/dockerd`.
    pub dockerd: Option<PathBuf>,
}

/// A dockerd on a private socket and data root, stopped and cleaned up on drop.
pub struct RefDockerd {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    child: Option<Child>,
}

impl RefDockerd {
    /// Start Debian's dockerd (or `opts.dockerd`) with `--iptables=false --bridge=none`
    /// and wait until it answers `_ping`.
    pub fn start(opts: DockerdOptions) -> RefDockerd {
        require_root();
        subreaper();
        let dockerd = opts
            .dockerd
            .clone()
            .unwrap_or_else(|| PathBuf::from("/usr/sbin/dockerd"));
        assert!(
            dockerd.exists(),
            "{} not found; install it with: apt-get install docker.io",
            dockerd.display()
        );
        let dir = scratch::tempdir("testbed-dockerd-");
        let root = dir.path();
        let socket = root.join("docker.sock");
        let log = std::fs::File::create(root.join("dockerd.log")).unwrap();
        let child = Command::new(&dockerd)
            .arg(format!("--host=unix://{}", socket.display()))
            .arg(format!("--data-root={}", root.join("data").display()))
            .arg(format!("--exec-root={}", root.join("exec").display()))
            .arg(format!("--pidfile={}", root.join("dockerd.pid").display()))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--storage-driver=overlay2",
            ])
            .args(&opts.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", dockerd.display()));
        let mut d = RefDockerd {
            dir,
            socket,
            child: Some(child),
        };
        let timeout = Duration::from_secs(60);
        let start = Instant::now();
        loop {
            if d.docker(&["version", "--format", "{{.Server.Version}}"])
                .status
                .success()
            {
                break;
            }
            let exited = d.child.as_mut().unwrap().try_wait().unwrap();
            if exited.is_some() || start.elapsed() > timeout {
                panic!(
                    "dockerd did not come up ({exited:?}); its log:\n{}",
                    d.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        d
    }

    /// `unix:///...`: what `-H` and `DOCKER_HOST` take.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// Run Debian's docker CLI 20.10 (`/usr/bin/docker`) against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.cli("/usr/bin/docker", args)
    }

    /// Run the given docker CLI binary against this daemon, with a private config dir.
    pub fn cli(&self, cli: impl AsRef<Path>, args: &[&str]) -> Output {
        Command::new(cli.as_ref())
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("cli-config"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", cli.as_ref().display()))
    }

    /// `docker import` a busybox rootfs as `tag` (e.g. `busybox:latest`).
    pub fn import_busybox(&self, tag: &str) {
        let tar = self.dir.path().join("busybox.tar");
        if !tar.exists() {
            busybox_tar(&tar);
        }
        let out = self.docker(&["import", tar.to_str().unwrap(), tag]);
        assert!(
            out.status.success(),
            "docker import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for RefDockerd {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        if let Some(mut child) = self.child.take() {
            // SAFETY: sending SIGTERM to our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let start = Instant::now();
            while child.try_wait().ok().flatten().is_none() {
                if start.elapsed() > Duration::from_secs(20) {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        reap_zombies();
        unmount_under(self.dir.path());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busybox_rootfs_has_a_shell_and_users() {
        let dir = tempfile::tempdir().unwrap();
        busybox_rootfs(dir.path());
        assert!(dir
            .path()
            .join("bin/sh")
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink());
        let out = Command::new(dir.path().join("bin/busybox"))
            .args(["echo", "hi"])
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"hi\n");
        let passwd = std::fs::read_to_string(dir.path().join("etc/passwd")).unwrap();
        assert!(passwd.starts_with("root:x:0:0:"));
    }

    #[test]
    fn unmount_under_removes_nested_mounts() {
        require_root();
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::create_dir_all(&a).unwrap();
        for p in [a.clone(), a.join("b")] {
            std::fs::create_dir_all(&p).unwrap();
            let st = Command::new("mount")
                .args(["-t", "tmpfs", "tmpfs"])
                .arg(&p)
                .status()
                .unwrap();
            assert!(st.success());
        }
        unmount_under(dir.path());
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !info.contains(dir.path().to_str().unwrap()),
            "mounts left under {}",
            dir.path().display()
        );
    }
}
