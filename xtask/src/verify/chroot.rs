//! A throwaway root filesystem to install packages into and run commands in with
//! `chroot`. Its mounts and files are removed when it is dropped, also on failure.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

pub struct Chroot {
    dir: tempfile::TempDir,
    mounted: Vec<PathBuf>,
}

impl Chroot {
    /// A fresh root unpacked from a cached rootfs tarball, with /proc mounted and the
    /// host's resolver configuration (apt fetches dependencies).
    pub fn new(tarball: &Path) -> Result<Chroot> {
        let dir = tempfile::Builder::new()
            .prefix("workspace-verify.")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let mut chroot = Chroot {
            dir,
            mounted: Vec::new(),
        };
        super::rootfs::unpack(tarball, &chroot.root())?;
        chroot.mount(&["-t", "proc", "proc"], "proc")?;
        if let Ok(resolv) = std::fs::read("/etc/resolv.conf") {
            let path = chroot.root().join("etc/resolv.conf");
            let _ = std::fs::remove_file(&path);
            std::fs::write(path, resolv)?;
        }
        Ok(chroot)
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// A path inside the root (`/etc/group` → `<root>/etc/group`).
    pub fn path(&self, inside: &str) -> PathBuf {
        self.root().join(inside.trim_start_matches('/'))
    }

    fn mount(&mut self, args: &[&str], target: &str) -> Result<()> {
        let target = self.path(target);
        std::fs::create_dir_all(&target)?;
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.push(target.display().to_string());
        duct::cmd("mount", &all)
            .run()
            .with_context(|| format!("cannot mount {}", target.display()))?;
        self.mounted.push(target);
        Ok(())
    }

    /// Run a command in the root; `what` names the package and step for the error,
    /// which also carries the command and the last lines of its output.
    pub fn run(&self, what: &str, args: &[&str]) -> Result<String> {
        let output = duct::cmd(
            "chroot",
            std::iter::once(self.root().as_os_str().to_owned())
                .chain(args.iter().map(|a| a.into())),
        )
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("LC_ALL", "C")
        .stdin_null()
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked()
        .run()
        .context("cannot run chroot")?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            let tail: Vec<&str> = text.lines().rev().take(3).collect();
            bail!(
                "{what}: `{}` failed ({}): {}",
                args.join(" "),
                output.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            );
        }
        Ok(text)
    }
}

impl Drop for Chroot {
    fn drop(&mut self) {
        for target in self.mounted.iter().rev() {
            let _ = duct::cmd!("umount", "--lazy", target).stderr_null().run();
        }
    }
}
