//! Bundles and runtime invocations for the direct CLI suites: a busybox rootfs, a
//! config.json from our own `runc spec` adjusted per test, a private `--root` and a
//! private cgroup path, all removed when the test ends.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub runc: PathBuf,
    pub ids: std::cell::RefCell<Vec<String>>,
}

impl Bundle {
    /// A bundle whose process runs `args`; `edit` may change the config further.
    pub fn new(args: &[&str], edit: impl FnOnce(&mut Value)) -> Bundle {
        testbed::require_root();
        testbed::subreaper();
        let dir = tempfile::Builder::new()
            .prefix("runc-test-")
            .tempdir_in("/tmp")
            .unwrap();
        let runc = testbed::workspace_bin("runc");
        testbed::busybox_rootfs(&dir.path().join("rootfs"));
        let out = Command::new(&runc)
            .args(["spec", "--bundle"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "runc spec: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = dir.path().join("config.json");
        let mut cfg: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        cfg["process"]["terminal"] = Value::Bool(false);
        cfg["process"]["args"] = args.iter().map(|a| Value::from(*a)).collect();
        let name = dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        cfg["linux"]["cgroupsPath"] = Value::from(format!("/{name}"));
        edit(&mut cfg);
        std::fs::write(&path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
        let root = dir.path().join("state");
        Bundle {
            dir,
            root,
            runc,
            ids: Default::default(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.path().join("config.json")).unwrap()).unwrap()
    }

    pub fn cgroup_name(&self) -> String {
        self.path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    /// `runc --root <ours> <args>` with stdin closed and output captured.
    pub fn runc(&self, args: &[&str]) -> Output {
        self.cmd(args).stdin(Stdio::null()).output().unwrap()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.runc);
        c.arg("--root")
            .arg(&self.root)
            .args(args)
            .current_dir(self.path());
        c
    }

    /// `create` with the container's stdio going to files in the bundle.
    pub fn create(&self, id: &str) -> Output {
        self.ids.borrow_mut().push(id.to_string());
        let out = std::fs::File::create(self.path().join(format!("{id}.out"))).unwrap();
        let err = std::fs::File::create(self.path().join(format!("{id}.err"))).unwrap();
        let o = self
            .cmd(&["create", "--bundle", self.path().to_str().unwrap(), id])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .unwrap();
        Output {
            status: o,
            stdout: Vec::new(),
            stderr: std::fs::read(self.path().join(format!("{id}.err"))).unwrap_or_default(),
        }
    }

    pub fn container_stdout(&self, id: &str) -> String {
        std::fs::read_to_string(self.path().join(format!("{id}.out"))).unwrap_or_default()
    }

    pub fn container_stderr(&self, id: &str) -> String {
        std::fs::read_to_string(self.path().join(format!("{id}.err"))).unwrap_or_default()
    }

    pub fn state(&self, id: &str) -> Value {
        let o = self.runc(&["state", id]);
        assert!(
            o.status.success(),
            "state: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    }

    /// Wait until the container's status is `want`.
    pub fn wait_status(&self, id: &str, want: &str) {
        testbed::wait_for(
            &format!("{id} to be {want}"),
            std::time::Duration::from_secs(20),
            || {
                // A dying pid-namespace init waits until its other processes are
                // reaped, and we are their subreaper.
                testbed::reap_zombies();
                self.state(id)["status"] == want
            },
        );
    }

    /// Everything a test may leave: mounts under the bundle, processes rooted in it,
    /// cgroups named for it.
    pub fn leftovers(&self) -> Vec<String> {
        let mut out = Vec::new();
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let p = self.path().to_string_lossy().into_owned();
        out.extend(info.lines().filter(|l| l.contains(&p)).map(str::to_string));
        // A process left running in the container has its root inside the bundle.
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            if let Ok(root) = std::fs::read_link(e.path().join("root")) {
                if root.starts_with(self.path()) {
                    out.push(format!("process {}", e.file_name().to_string_lossy()));
                }
            }
        }
        let name = self.cgroup_name();
        for ctrl in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            let d = ctrl.path().join(&name);
            if d.exists() {
                out.push(d.display().to_string());
            }
        }
        out
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self
                .cmd(&["delete", "--force", id])
                .stdin(Stdio::null())
                .output();
        }
        testbed::reap_zombies();
        testbed::unmount_under(self.dir.path());
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// One message and the one fd attached to it (SCM_RIGHTS), as the runtime sends the
/// console master and the seccomp notify fd.
pub fn recv_with_fd(sock: std::os::fd::RawFd) -> (Vec<u8>, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut buf = vec![0u8; 65536];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cmsg = [0u8; 64];
    // SAFETY: zeroed msghdr filled with valid buffers below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr().cast();
    msg.msg_controllen = cmsg.len();
    // SAFETY: msg points at live buffers.
    let n = unsafe { libc::recvmsg(sock, &mut msg, 0) };
    assert!(n > 0, "recvmsg: {}", std::io::Error::last_os_error());
    buf.truncate(n as usize);
    // SAFETY: the kernel filled msg_control; the first header carries the fd.
    let fd = unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        assert!(!c.is_null(), "no fd attached");
        assert_eq!((*c).cmsg_type, libc::SCM_RIGHTS);
        std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const std::os::fd::RawFd)
    };
    // SAFETY: the fd was just received and is ours.
    (buf, unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}
