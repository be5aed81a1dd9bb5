//! Clean minimal root filesystems of the supported distros for `verify`: made once with
//! `debootstrap --variant=minbase`, kept as a tar in the user's cache (outside the tree,
//! shared by every clone), unpacked fresh for each verification.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::step;

/// `$XDG_CACHE_HOME/workspace/rootfs` (default `~/.cache/workspace/rootfs`).
pub fn cache_dir() -> PathBuf {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache")
        }
    };
    base.join("workspace/rootfs")
}

/// The cached tarball of `suite`, made with debootstrap when it is not there yet.
/// `archive` is the Debian archive root to bootstrap from (`None`: debootstrap's own
/// default). Concurrent callers wait for one another (a lock file beside the tarball).
pub fn ensure(cache: &Path, suite: &str, archive: Option<&str>) -> Result<PathBuf> {
    std::fs::create_dir_all(cache)
        .with_context(|| format!("cannot create the rootfs cache {}", cache.display()))?;
    let tarball = cache.join(format!("{suite}.tar"));
    let lock = std::fs::File::create(cache.join(format!("{suite}.lock")))?;
    lock_exclusive(&lock).with_context(|| format!("cannot lock the rootfs cache for {suite}"))?;
    if tarball.is_file() {
        step(format_args!("rootfs {suite}: cached {}", tarball.display()));
        return Ok(tarball);
    }
    if crate::host::find("debootstrap").is_none() {
        bail!("making the {suite} rootfs needs debootstrap: apt-get install debootstrap");
    }
    let work = tempfile::Builder::new()
        .prefix(&format!("{suite}.bootstrap."))
        .tempdir_in(cache)?;
    let root = work.path().join("root");
    let mut args = vec![
        "--variant=minbase".to_owned(),
        suite.to_owned(),
        root.display().to_string(),
    ];
    args.extend(archive.map(str::to_owned));
    step(format_args!("debootstrap {}", args.join(" ")));
    let output = duct::cmd("debootstrap", &args)
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked()
        .run()?;
    if !output.status.success() {
        let log = String::from_utf8_lossy(&output.stdout);
        bail!(
            "debootstrap of {suite} failed: {}",
            log.lines()
                .rev()
                .find(|l| l.starts_with("E:"))
                .unwrap_or("see above")
        );
    }
    let partial = work.path().join(format!("{suite}.tar"));
    duct::cmd!(
        "tar",
        "--numeric-owner",
        "--xattrs",
        "-C",
        &root,
        "-cf",
        &partial,
        "."
    )
    .run()
    .context("cannot pack the bootstrapped rootfs")?;
    std::fs::rename(&partial, &tarball)?;
    step(format_args!("rootfs {suite}: cached {}", tarball.display()));
    Ok(tarball)
}

/// Unpack a cached rootfs into `dir` (which must be empty or absent).
pub fn unpack(tarball: &Path, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    duct::cmd!(
        "tar",
        "--numeric-owner",
        "--xattrs",
        "-xpf",
        tarball,
        "-C",
        dir
    )
    .run()
    .with_context(|| format!("cannot unpack {}", tarball.display()))?;
    Ok(())
}

/// Wait for an exclusive `flock` on the file; it is released when the file is closed.
fn lock_exclusive(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor we own; no memory is passed.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
