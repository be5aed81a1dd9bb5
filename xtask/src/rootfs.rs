//! Clean minimal root filesystems of the supported suites: the base of the dev and
//! build images (`docker import`, the mkimage way) and the fresh root `verify`
//! installs the packages into. One cache for both: made once with `debootstrap
//! --variant=minbase` and kept as `debian-<suite>.tar` in the user's cache (outside the
//! tree, shared by every clone), or taken from the vendor directory of an offline
//! profile (`cargo xtask vendor` puts them there).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::mirror::Profile;
use crate::step;

/// `$XDG_CACHE_HOME/workspace/rootfs` (default `~/.cache/workspace/rootfs`).
pub fn cache_dir() -> PathBuf {
    crate::installers::cache_dir().join("rootfs")
}

/// The minbase rootfs tarball of `suite` for `profile`: from its vendor directory, or
/// from the cache, bootstrapped from the profile's archive when it is not there yet.
/// Concurrent callers wait for one another (a lock file beside the tarball).
pub fn tarball(profile: &Profile, suite: &str) -> Result<PathBuf> {
    let name = format!("debian-{suite}.tar");
    if let Some(vendor) = &profile.vendor {
        let path = vendor.join("rootfs").join(&name);
        if !path.is_file() {
            bail!(
                "the vendor directory lacks {}; run `cargo xtask vendor --out {}`",
                path.display(),
                vendor.display()
            );
        }
        return Ok(path);
    }
    let cache = cache_dir();
    std::fs::create_dir_all(&cache)
        .with_context(|| format!("cannot create the rootfs cache {}", cache.display()))?;
    let lock = std::fs::File::create(cache.join(format!("debian-{suite}.lock")))?;
    lock_exclusive(&lock).with_context(|| format!("cannot lock the rootfs cache for {suite}"))?;
    let path = cache.join(&name);
    if !path.is_file() {
        bootstrap(suite, profile.apt_archive(), &path)?;
    }
    Ok(path)
}

/// debootstrap --variant=minbase a suite (from `archive`, else debootstrap's default)
/// and pack it as a tarball with numeric owners and sorted entries, the way `docker
/// import` wants it. Needs root.
fn bootstrap(suite: &str, archive: Option<&str>, tarball: &Path) -> Result<()> {
    crate::host::ensure(&[crate::host::Tool {
        program: "debootstrap",
        package: "debootstrap",
        why: "bootstrapping base images and verify roots",
    }])?;
    if !crate::host::is_root() {
        bail!("bootstrapping the {suite} rootfs needs root (debootstrap); run as root or make a registry reachable (`cargo xtask mirror check`)");
    }
    let parent = tarball.parent().unwrap();
    let work = tempfile::Builder::new()
        .prefix(&format!("debian-{suite}.bootstrap."))
        .tempdir_in(parent)?;
    let root = work.path().join("root");
    let mut args = vec![
        "--variant=minbase".to_owned(),
        suite.to_owned(),
        root.display().to_string(),
    ];
    args.extend(archive.map(str::to_owned));
    step(format_args!(
        "debootstrap {} (once; cached in {})",
        args.join(" "),
        tarball.display()
    ));
    let output = duct::cmd("debootstrap", &args)
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked()
        .run()?;
    if !output.status.success() {
        let log = String::from_utf8_lossy(&output.stdout);
        bail!(
            "debootstrap of {suite} failed: {}; run `cargo xtask mirror check` to see whether the archive is reachable",
            log.lines()
                .rev()
                .find(|l| l.starts_with("E:"))
                .unwrap_or("see its output above")
        );
    }
    let part = work.path().join("rootfs.tar");
    duct::cmd!(
        "tar",
        "--numeric-owner",
        "--xattrs",
        "--sort=name",
        "-C",
        &root,
        "-cf",
        &part,
        "."
    )
    .run()
    .context("cannot pack the bootstrapped rootfs")?;
    std::fs::rename(&part, tarball)?;
    Ok(())
}

/// Unpack a rootfs tarball into `dir` (which must be empty or absent).
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
