//! A container's root filesystem: an overlay of its image's layers (shared, read-only),
//! an init layer (mount points and the files dockerd bind-mounts over), and its own
//! upper directory; mounted at `merged` while it runs or while dockerd reads it.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The directories of one container under `<data-root>/overlay2`.
pub struct RootfsDirs {
    pub base: PathBuf,
    pub init: PathBuf,
}

impl RootfsDirs {
    pub fn new(data_root: &Path, id: &str) -> RootfsDirs {
        RootfsDirs {
            base: data_root.join("overlay2").join(id),
            init: data_root.join("overlay2").join(format!("{id}-init")),
        }
    }
    pub fn upper(&self) -> PathBuf {
        self.base.join("diff")
    }
    pub fn merged(&self) -> PathBuf {
        self.base.join("merged")
    }
    fn work(&self) -> PathBuf {
        self.base.join("work")
    }
    fn lower_file(&self) -> PathBuf {
        self.base.join("lower")
    }

    /// Make the directories and the init layer; `lowers` are image layers, bottom first.
    pub fn create(&self, lowers: &[PathBuf]) -> std::io::Result<()> {
        for d in [
            self.upper(),
            self.work(),
            self.merged(),
            self.init.join("diff"),
        ] {
            std::fs::create_dir_all(d)?;
        }
        let init = self.init.join("diff");
        for d in ["dev/pts", "dev/shm", "proc", "sys", "etc"] {
            std::fs::create_dir_all(init.join(d))?;
        }
        for f in [
            ".dockerenv",
            "etc/hosts",
            "etc/hostname",
            "etc/resolv.conf",
            "dev/console",
        ] {
            std::fs::write(init.join(f), b"")?;
        }
        // Top-most first, as overlayfs wants lowerdir.
        let mut all = vec![init];
        all.extend(lowers.iter().rev().cloned());
        let list: Vec<String> = all.iter().map(|p| p.display().to_string()).collect();
        std::fs::write(self.lower_file(), list.join(":"))
    }

    pub fn lowerdir(&self) -> std::io::Result<String> {
        std::fs::read_to_string(self.lower_file())
    }

    pub fn is_mounted(&self) -> bool {
        let m = self.merged().display().to_string();
        std::fs::read_to_string("/proc/self/mountinfo")
            .map(|s| s.lines().any(|l| l.split(' ').nth(4) == Some(m.as_str())))
            .unwrap_or(false)
    }

    pub fn mount(&self) -> std::io::Result<PathBuf> {
        let merged = self.merged();
        if self.is_mounted() {
            return Ok(merged);
        }
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            self.lowerdir()?,
            self.upper().display(),
            self.work().display()
        );
        let src = CString::new("overlay").unwrap();
        let target = CString::new(merged.as_os_str().as_bytes())?;
        let data = CString::new(opts)?;
        // SAFETY: valid C strings; mounting an overlay on our own directory.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                target.as_ptr(),
                src.as_ptr(),
                0,
                data.as_ptr().cast(),
            )
        };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            return Err(std::io::Error::new(
                e.kind(),
                format!("error creating overlay mount to {}: {e}", merged.display()),
            ));
        }
        Ok(merged)
    }

    pub fn unmount(&self) {
        if !self.is_mounted() {
            return;
        }
        if let Ok(c) = CString::new(self.merged().as_os_str().as_bytes()) {
            // SAFETY: valid path; a lazy unmount of our own mount.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }

    pub fn remove(&self) -> std::io::Result<()> {
        self.unmount();
        for d in [&self.base, &self.init] {
            match std::fs::remove_dir_all(d) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

/// Resolve `path` inside `root` as the container would see it: symlinks are followed
/// but can never lead out of `root` (an absolute target restarts at `root`).
pub fn resolve_in_root(root: &Path, path: &str) -> PathBuf {
    let mut out = PathBuf::from("/");
    let mut todo: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .rev()
        .collect();
    let mut hops = 0;
    while let Some(part) = todo.pop() {
        match part.as_str() {
            "." => continue,
            ".." => {
                out.pop();
                continue;
            }
            _ => {}
        }
        let candidate = out.join(&part);
        let host = root.join(candidate.strip_prefix("/").unwrap());
        match std::fs::read_link(&host) {
            Ok(target) if hops < 40 => {
                hops += 1;
                let t = target.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    out = PathBuf::from("/");
                }
                for p in t.split('/').filter(|s| !s.is_empty()).rev() {
                    todo.push(p.to_string());
                }
            }
            _ => out = candidate,
        }
    }
    root.join(out.strip_prefix("/").unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_stay_inside() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/", root.join("up")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", root.join("etc/dots")).unwrap();
        assert_eq!(
            resolve_in_root(root, "/up/etc/passwd"),
            root.join("etc/passwd")
        );
        assert_eq!(resolve_in_root(root, "/etc/dots/x"), root.join("etc/x"));
        assert_eq!(resolve_in_root(root, "../../x"), root.join("x"));
    }
}
