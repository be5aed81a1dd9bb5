//! A throwaway root filesystem to install packages into and run commands in with
//! `chroot`. Its mounts and files are removed when it is dropped, also on failure.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::mirror::{Apt, Profile};

const CHROOT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The whole environment of a command in the root: nothing of ours leaks in (a
/// `DOCKER_HOST` pointing at xtask's private daemon made the packaged CLI talk to a
/// socket that does not exist in the root).
fn chroot_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("PATH", CHROOT_PATH),
        ("HOME", "/root"),
        ("LC_ALL", "C"),
        ("DEBIAN_FRONTEND", "noninteractive"),
    ]
}

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
        crate::rootfs::unpack(tarball, &chroot.root())?;
        // The root is a mount point of its own: dockerd remounts `/` (private) when it
        // unpacks layers, which fails on a plain directory.
        let root = chroot.root().display().to_string();
        chroot.mount(&["--bind", &root], "/")?;
        chroot.mount_flags(&["--make-private"], "/")?;
        chroot.mount(&["-t", "proc", "proc"], "proc")?;
        if let Ok(resolv) = std::fs::read("/etc/resolv.conf") {
            let path = chroot.root().join("etc/resolv.conf");
            let _ = std::fs::remove_file(&path);
            std::fs::write(path, resolv)?;
        }
        Ok(chroot)
    }

    /// Point the root's apt at the profile's sources, the lines the images get: the
    /// profile's archive, or the vendored flat repository (copied in at /workspace-apt),
    /// so that `verify` works offline with `--mirror local`.
    pub fn use_apt_of(&self, profile: &Profile, suite: &str) -> Result<()> {
        if let Apt::Flat { dir } = &profile.apt {
            let repo = dir.join(suite);
            if !repo.join("Packages").is_file() {
                bail!(
                    "the vendor directory has no apt repository for {suite} ({} is missing); run `cargo xtask vendor`",
                    repo.join("Packages").display()
                );
            }
            duct::cmd!("cp", "-a", &repo, self.path("/workspace-apt"))
                .run()
                .with_context(|| format!("cannot copy {} into the root", repo.display()))?;
        }
        let lists = self.path("/etc/apt/sources.list.d");
        if let Ok(entries) = std::fs::read_dir(&lists) {
            for entry in entries.flatten() {
                std::fs::remove_file(entry.path())?;
            }
        }
        let mut text = format!(
            "# apt sources of the verify root (mirror profile {})\n",
            profile.name
        );
        for line in profile.apt_lines(suite) {
            text.push_str(&line);
            text.push('\n');
        }
        std::fs::write(self.path("/etc/apt/sources.list"), text)?;
        Ok(())
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// A path inside the root (`/etc/group` → `<root>/etc/group`).
    pub fn path(&self, inside: &str) -> PathBuf {
        self.root().join(inside.trim_start_matches('/'))
    }

    /// Bind the host's /dev and /sys (with the cgroup hierarchies) into the root, as
    /// the daemons need them.
    pub fn bind_system(&mut self) -> Result<()> {
        for dir in ["dev", "sys"] {
            self.mount(&["--rbind", &format!("/{dir}")], dir)?;
            // Nothing done below the copy may reach back to the host's mounts (an
            // unmount under a shared rbind would unmount the host's own).
            self.mount_flags(&["--make-rslave"], dir)?;
        }
        self.mount(&["-t", "tmpfs", "-o", "mode=0755", "tmpfs"], "run")?;
        Ok(())
    }

    /// Start a long-running command in the root; its output goes to `log` (a path
    /// inside the root). Every process left in the root is killed on drop.
    pub fn spawn(&self, args: &[&str], log: &str) -> Result<duct::Handle> {
        let log_path = self.path(log);
        let file = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let mut all: Vec<std::ffi::OsString> = vec![self.root().into_os_string()];
        all.extend(args.iter().map(|a| a.into()));
        duct::cmd("chroot", all)
            .full_env(chroot_env())
            .stdin_null()
            .stdout_file(file.try_clone()?)
            .stderr_file(file)
            .unchecked()
            .start()
            .with_context(|| format!("cannot start {}", args.join(" ")))
    }

    /// SIGKILL every process whose root directory is this chroot (daemons, shims,
    /// containers' processes), then wait until none is left.
    fn kill_processes_inside(&self) {
        let root = self.root();
        for _ in 0..50 {
            let mut found = false;
            for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let Ok(proc_root) = std::fs::read_link(entry.path().join("root")) else {
                    continue;
                };
                if proc_root.starts_with(&root) {
                    found = true;
                    // SAFETY: kill(2) with a pid and a signal number; no memory involved.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            if !found {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    fn mount_flags(&self, args: &[&str], target: &str) -> Result<()> {
        let target = self.path(target);
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.push(target.display().to_string());
        duct::cmd("mount", &all)
            .run()
            .with_context(|| format!("cannot change the mount {}", target.display()))?;
        Ok(())
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
        .full_env(chroot_env())
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
        self.kill_processes_inside();
        // Everything mounted below the root: ours, and what the daemons mounted there.
        let mut targets = crate::mounts::under(&self.root());
        for extra in &self.mounted {
            if !targets.contains(extra) {
                targets.push(extra.clone());
            }
        }
        targets.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
        crate::mounts::unmount_all(&targets);
    }
}
