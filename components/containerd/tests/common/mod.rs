//! Fixtures of the containerd interop suites. The daemon, the `ctr` runner and the
//! busybox OCI image come from `testbed` (shared with the benchmarks and other suites).

// Each suite compiles this module and uses a part of it.
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};

pub use testbed::containerd::{debian_ctr, log_tail as tail, Containerd as Daemon};
pub use testbed::oci::{busybox_layer, oci_image_tar, BUSYBOX_IMAGE as IMAGE};

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
