//! Host prerequisites: the tools a command needs, installed with apt when we are root on
//! Debian, otherwise named with the command that installs them.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// A program a command needs and the Debian package that provides it.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    /// A name looked up on PATH, or an absolute path.
    pub program: &'static str,
    pub package: &'static str,
    /// What needs it, shown when it is installed.
    pub why: &'static str,
}

const fn tool(program: &'static str, package: &'static str, why: &'static str) -> Tool {
    Tool {
        program,
        package,
        why,
    }
}

// Each tool once, with what needs it; the lists below name them.
const GIT: Tool = tool("git", "git", "version stamps");
pub const BUSYBOX: Tool = tool(
    "busybox",
    "busybox-static",
    "busybox test and verify images",
);
pub const DOCKERD: Tool = tool(
    "/usr/sbin/dockerd",
    "docker.io",
    "the reference engine, the dev container",
);
pub const CONTAINERD: Tool = tool(
    "/usr/bin/containerd",
    "containerd",
    "the reference containerd and ctr",
);
pub const RUNC: Tool = tool("/usr/sbin/runc", "runc", "the reference runtime");
pub const REGISTRY: Tool = tool(
    "/usr/bin/docker-registry",
    "docker-registry",
    "registry suites",
);
const TINI: Tool = tool("/usr/bin/tini-static", "tini", "docker-init");
const IPTABLES: Tool = tool("iptables", "iptables", "dockerd networking");
const PROTOC: Tool = tool("protoc", "protobuf-compiler", "the containerd API protos");
const PKG_CONFIG: Tool = tool("pkg-config", "pkg-config", "finding libseccomp");
const SECCOMP: Tool = tool(
    "/usr/include/seccomp.h",
    "libseccomp-dev",
    "runc's seccomp filters",
);
const OPENSSL: Tool = tool("openssl", "openssl", "certificates for the TLS suites");
const CURL: Tool = tool("curl", "curl", "raw API requests in the engine suites");
const READELF: Tool = tool("readelf", "binutils", "checking static binaries");
const DEBOOTSTRAP: Tool = tool(
    "debootstrap",
    "debootstrap",
    "base images, the verify rootfs",
);
const DPKG_DEV: Tool = tool("dpkg-shlibdeps", "dpkg-dev", "building and indexing .debs");
const LINTIAN: Tool = tool("lintian", "lintian", "checking every .deb");
const SYSTEMD_ANALYZE: Tool = tool("systemd-analyze", "systemd", "checking the systemd units");
const PODMAN: Tool = tool("podman", "podman", "the dev container under podman");
const SYSTEMD: Tool = tool(
    "/lib/systemd/systemd",
    "systemd",
    "runc's systemd cgroup driver suite",
);
const DBUS: Tool = tool(
    "/lib/systemd/system/dbus.socket",
    "dbus",
    "the system bus of runc's systemd suite",
);

/// What `cargo xtask ci` needs beyond Rust: the peers and fixtures of the integration
/// suites (each suite fails, never skips, when one is missing).
pub const CI: &[Tool] = &[
    GIT,
    BUSYBOX,
    DOCKERD,
    CONTAINERD,
    RUNC,
    REGISTRY,
    TINI,
    IPTABLES,
    PROTOC,
    PKG_CONFIG,
    SECCOMP,
    OPENSSL,
    CURL,
    READELF,
    DEBOOTSTRAP,
    DPKG_DEV,
    LINTIAN,
    SYSTEMD_ANALYZE,
    SYSTEMD,
    DBUS,
    PODMAN,
];

/// What `cargo xtask release` needs beyond Rust: the container engine for the dev
/// container, the build inputs of the static binaries and the packaging tools.
pub const RELEASE: &[Tool] = &[
    GIT,
    DOCKERD,
    BUSYBOX,
    PROTOC,
    PKG_CONFIG,
    SECCOMP,
    TINI,
    READELF,
    DEBOOTSTRAP,
    DPKG_DEV,
    LINTIAN,
];

/// Make sure every tool is there, installing the missing ones with apt-get when we can.
pub fn ensure(tools: &[Tool]) -> Result<()> {
    let missing = missing(tools);
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() || find("apt-get").is_none() {
        return Err(missing_error(&missing));
    }
    crate::step(format_args!(
        "installing missing host tools with apt-get: {}",
        describe(&missing)
    ));
    apt_install(&packages(&missing))?;
    let still = self::missing(&missing);
    if !still.is_empty() {
        bail!(
            "apt-get installed {} but {} is still not found",
            packages(&missing).join(" "),
            describe(&still)
        );
    }
    Ok(())
}

/// Fail, naming the packages to install, unless every tool is there.
pub fn require(tools: &[Tool]) -> Result<()> {
    let missing = missing(tools);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing_error(&missing))
    }
}

fn missing(tools: &[Tool]) -> Vec<Tool> {
    tools
        .iter()
        .filter(|t| find(t.program).is_none())
        .copied()
        .collect()
}

fn packages(tools: &[Tool]) -> Vec<&'static str> {
    let mut packages: Vec<&str> = tools.iter().map(|t| t.package).collect();
    packages.sort_unstable();
    packages.dedup();
    packages
}

fn describe(tools: &[Tool]) -> String {
    let parts: Vec<String> = tools
        .iter()
        .map(|t| format!("{} ({}, for {})", t.program, t.package, t.why))
        .collect();
    parts.join(", ")
}

fn missing_error(missing: &[Tool]) -> anyhow::Error {
    anyhow::anyhow!(
        "missing host tools: {}; install them with: sudo apt-get install {}",
        describe(missing),
        packages(missing).join(" ")
    )
}

fn apt_install(packages: &[&str]) -> Result<()> {
    let install = || {
        let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
        args.extend_from_slice(packages);
        duct::cmd("apt-get", &args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin_null()
            .run()
    };
    // A fresh machine has no package lists yet: update once, then install.
    if install().is_err() {
        duct::cmd!("apt-get", "update", "-q")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin_null()
            .run()
            .context("`apt-get update` failed; check the host's apt sources")?;
        install().with_context(|| format!("`apt-get install {}` failed", packages.join(" ")))?;
    }
    Ok(())
}

/// The path of a program: absolute paths as given, other names searched on PATH.
pub fn find(program: &str) -> Option<PathBuf> {
    let candidate = Path::new(program);
    if candidate.is_absolute() {
        return candidate.exists().then(|| candidate.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // The owner of /proc/self is our effective uid.
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Cargo subcommands are not apt packages: nextest comes from the crates registry.
pub fn ensure_nextest() -> Result<()> {
    if duct::cmd!("cargo", "nextest", "--version")
        .stdout_null()
        .stderr_null()
        .run()
        .is_ok()
    {
        return Ok(());
    }
    crate::step(
        "installing cargo-nextest with `cargo install --locked cargo-nextest` (runs the tests)",
    );
    duct::cmd!("cargo", "install", "--locked", "cargo-nextest")
        .run()
        .context("could not install cargo-nextest; install it with `cargo install --locked cargo-nextest`")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_on_path_and_by_absolute_path() {
        assert!(find("sh").is_some());
        assert!(find("/bin/sh").is_some());
        assert!(find("no-such-program-xtask").is_none());
        assert!(find("/no/such/program").is_none());
    }
}
