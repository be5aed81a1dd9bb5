//! Fixtures of the containerd interop suites: our daemon on a private root, state and
//! socket, an OCI image tarball of a busybox rootfs made here, and a `ctr` runner.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};

pub const IMAGE: &str = "docker.io/library/busybox:latest";

/// Debian's ctr, the reference client.
pub fn debian_ctr() -> PathBuf {
    let p = PathBuf::from("/usr/bin/ctr");
    assert!(
        p.exists(),
        "/usr/bin/ctr not found; install it with: apt-get install containerd"
    );
    p
}

/// A directory holding only our shim, to put first on a daemon's PATH.
pub fn our_shim_dir(dir: &Path) -> PathBuf {
    let d = dir.join("our-shim");
    std::fs::create_dir_all(&d).unwrap();
    let link = d.join("containerd-shim-runc-v2");
    if !link.exists() {
        std::os::unix::fs::symlink(testbed::workspace_bin("containerd-shim-runc-v2"), link)
            .unwrap();
    }
    d
}

/// The command lines of running processes whose executable is `exe`.
pub fn processes_of(exe: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(target) = std::fs::read_link(e.path().join("exe")) {
            if target == exe {
                let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                out.push(String::from_utf8_lossy(&cmd).replace('\0', " "));
            }
        }
    }
    out
}

/// A containerd (ours unless told otherwise) on private directories.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub binary: PathBuf,
    pub extra_path: Option<PathBuf>,
    child: Option<Child>,
}

impl Daemon {
    pub fn start() -> Daemon {
        Self::start_with(testbed::workspace_bin("containerd"), None)
    }

    /// `binary` with `path_dir` first on PATH (where shims are looked up).
    pub fn start_with(binary: PathBuf, path_dir: Option<PathBuf>) -> Daemon {
        testbed::require_root();
        testbed::subreaper();
        let dir = tempfile::Builder::new()
            .prefix("ctrd-test-")
            .tempdir_in("/tmp")
            .unwrap();
        let mut d = Daemon {
            dir,
            binary,
            extra_path: path_dir,
            child: None,
        };
        d.spawn();
        d
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
        testbed::wait_for("containerd socket", Duration::from_secs(20), || {
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
            tail(&self.log())
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Import a busybox OCI image tarball as [`IMAGE`].
    pub fn import_busybox(&self) {
        let tar = self.dir.path().join("busybox-oci.tar");
        oci_image_tar(&tar, &busybox_layer());
        self.ctr(&["images", "import", tar.to_str().unwrap()]);
    }
}

pub fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

impl Drop for Daemon {
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
        testbed::reap_zombies();
        testbed::unmount_under(self.dir.path());
    }
}

/// An uncompressed tar of a busybox rootfs.
pub fn busybox_layer() -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let tar = tmp.path().join("l.tar");
    testbed::busybox_tar(&tar);
    std::fs::read(tar).unwrap()
}

fn sha(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// Write an OCI image layout tarball of one gzip layer, named [`IMAGE`].
pub fn oci_image_tar(path: &Path, layer_tar: &[u8]) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(layer_tar).unwrap();
    let layer = gz.finish().unwrap();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(layer_tar)]}
    })
    .to_string()
    .into_bytes();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(&layer), "size": layer.len()}]
    })
    .to_string()
    .into_bytes();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sha(&manifest), "size": manifest.len(),
            "annotations": {"io.containerd.image.name": IMAGE, "org.opencontainers.image.ref.name": "latest"}
        }]
    })
    .to_string()
    .into_bytes();
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add("index.json", &index);
    for blob in [&layer, &config, &manifest] {
        add(&format!("blobs/sha256/{}", &sha(blob)[7..]), blob);
    }
    b.into_inner().unwrap();
}

/// A layer with one regular file whose raw tar name is `name` (may hold `..`).
pub fn hostile_layer(name: &str, kind: tar::EntryType, link: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(0o644);
    let data: &[u8] = if kind == tar::EntryType::Regular {
        b"owned"
    } else {
        b""
    };
    h.set_size(data.len() as u64);
    if !link.is_empty() {
        h.set_link_name(link).unwrap();
    }
    let raw = &mut h.as_old_mut().name;
    raw[..name.len()].copy_from_slice(name.as_bytes());
    h.set_cksum();
    b.append(&h, data).unwrap();
    b.into_inner().unwrap()
}
