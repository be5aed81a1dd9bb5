//! `cargo xtask verify`: install the packages of each distro into a clean minimal rootfs
//! of that distro and check them as a user would meet them, as docker-ce-packaging's
//! `verify` does: `dpkg -i` + `apt-get -f install`, the `docker` group, the enabled
//! units, the daemons answering `docker version`/`info`/`run`, an upgrade from the
//! previous build keeping the admin's configuration, then remove and purge and what
//! they leave behind. Every failure names the package and the command.

mod chroot;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::distro::Distro;
use crate::{distro, host, manifest, project, step};
use chroot::Chroot;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Distro to verify (repeatable); default every supported distro
    #[arg(long)]
    pub distro: Vec<String>,
    /// Packages of an earlier build to install first, so that the packages under test
    /// are installed as an upgrade: a directory of .debs, or one with a subdirectory per
    /// distro (`DIR/<distro>/` or `DIR/deb/<distro>/`, as `bundles/<version>/` has them)
    #[arg(long, value_name = "DIR")]
    pub previous: Option<PathBuf>,
}

/// The binaries the smoke test runs: without them the daemons cannot start.
const SMOKE_NEEDS: &[&str] = &[
    "dockerd",
    "docker",
    "containerd",
    "containerd-shim-runc-v2",
    "runc",
];

pub fn run(args: Args) -> Result<()> {
    let distros = distro::select(&args.distro)?;
    host::ensure(&[host::Tool {
        program: "debootstrap",
        package: "debootstrap",
        why: "clean rootfs of each distro",
    }])?;
    if !host::is_root() {
        bail!("verify installs packages in a chroot: run it as root");
    }
    let bundles = project::bundles_dir()?;
    let missing: Vec<String> = manifest::binaries()?
        .into_iter()
        .filter(|b| SMOKE_NEEDS.contains(&b.name.as_str()) && !b.implemented)
        .map(|b| b.name)
        .collect();
    for distro in &distros {
        let dir = bundles.join("deb").join(&distro.name);
        let debs = debs_in(&dir)?;
        if debs.is_empty() {
            bail!(
                "verify {}: no packages in {}; run `cargo xtask deb --distro {}` first (it names the packages it skipped)",
                distro.name,
                dir.display(),
                distro.name
            );
        }
        let previous = match &args.previous {
            Some(dir) => Some(previous_debs(dir, distro)?),
            None => {
                step("upgrade: no --previous DIR given, the packages are installed fresh");
                None
            }
        };
        let report = verify_distro(
            distro,
            &debs,
            previous.as_deref(),
            &|chroot: &mut Chroot| {
                if !missing.is_empty() {
                    bail!(
                    "smoke test: cannot start the daemons: {} not implemented yet (packaging/manifest.toml), so their packages hold no such binary",
                    missing.join(", ")
                );
                }
                smoke(chroot)
            },
        )?;
        println!("verify {}: ok", distro.name);
        for line in report {
            println!("  {line}");
        }
    }
    Ok(())
}

/// The .deb files of a directory, sorted.
fn debs_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut debs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    debs.sort();
    Ok(debs)
}

/// The earlier build's packages for `distro` under `dir`: its per-distro subdirectory
/// when there is one, else the .debs directly in `dir`.
pub fn previous_debs(dir: &Path, distro: &Distro) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        bail!(
            "--previous {}: no such directory; give the directory of an earlier build's packages (e.g. bundles/<version>/deb)",
            dir.display()
        );
    }
    for candidate in [
        dir.join(&distro.name),
        dir.join("deb").join(&distro.name),
        dir.to_path_buf(),
    ] {
        let debs = debs_in(&candidate)?;
        if !debs.is_empty() {
            return Ok(debs);
        }
    }
    bail!(
        "--previous {}: no .deb for {} in it, in {}/ or in deb/{}/; give the directory of an earlier build's packages",
        dir.display(),
        distro.name,
        distro.name,
        distro.name
    )
}

/// Each installed package's version, by name.
fn installed_versions(chroot: &Chroot, names: &[String]) -> Result<Vec<(String, String)>> {
    names
        .iter()
        .map(|name| {
            let version = chroot.run(name, &["dpkg-query", "-W", "-f=${Version}", name])?;
            Ok((name.clone(), version))
        })
        .collect()
}

/// A package's name, from its control file.
fn package_name(deb: &Path) -> Result<String> {
    duct::cmd!("dpkg-deb", "--field", deb, "Package")
        .read()
        .with_context(|| format!("{} is not a Debian package", deb.display()))
}

/// The whole check of one distro; `smoke` runs the daemons (it gets the chroot with the
/// packages installed). Returns the report lines.
pub fn verify_distro(
    distro: &Distro,
    debs: &[PathBuf],
    previous: Option<&[PathBuf]>,
    smoke: &dyn Fn(&mut Chroot) -> Result<()>,
) -> Result<Vec<String>> {
    let profile = crate::mirror::selected()?;
    let tarball = crate::rootfs::tarball(&profile, &distro.suite)?;
    let mut chroot = Chroot::new(&tarball)?;
    chroot.use_apt_of(&profile, &distro.suite)?;
    let mut report = Vec::new();
    chroot.run("apt", &["apt-get", "update", "-q"])?;
    let before = snapshot(&chroot.root())?;
    let names: Vec<String> = debs
        .iter()
        .map(|d| package_name(d))
        .collect::<Result<_>>()?;

    let mut old_versions = Vec::new();
    if let Some(previous) = previous {
        install(&chroot, previous)?;
        let old_names: Vec<String> = previous
            .iter()
            .map(|d| package_name(d))
            .collect::<Result<_>>()?;
        old_versions = installed_versions(&chroot, &old_names)?;
        report.push(format!(
            "installed the previous build ({} packages)",
            previous.len()
        ));
    }
    // The admin's own settings, which no upgrade may touch.
    let daemon_json = chroot.path("/etc/docker/daemon.json");
    std::fs::create_dir_all(daemon_json.parent().unwrap())?;
    std::fs::write(&daemon_json, ADMIN_DAEMON_JSON)?;
    let edited_default = names.iter().any(|n| n == "docker-ce")
        && previous.is_some()
        && chroot.path("/etc/default/docker").is_file();
    if edited_default {
        let mut text = std::fs::read_to_string(chroot.path("/etc/default/docker"))?;
        text.push_str(ADMIN_DEFAULT_LINE);
        std::fs::write(chroot.path("/etc/default/docker"), text)?;
    }

    install(&chroot, debs)?;
    report.push(format!(
        "installed {} with dpkg -i + apt-get -f install",
        names.join(", ")
    ));
    let mut new_versions = Vec::new();
    for name in &names {
        let status = chroot.run(name, &["dpkg-query", "-W", "-f=${Status} ${Version}", name])?;
        match status.strip_prefix("install ok installed ") {
            Some(version) => new_versions.push((name.clone(), version.to_owned())),
            None => bail!("{name}: not installed after dpkg -i + apt-get -f install: {status}"),
        }
    }
    for (name, old) in &old_versions {
        match new_versions.iter().find(|(n, _)| n == name) {
            Some((_, new)) if new == old => bail!(
                "{name}: the upgrade left version {old} in place: the packages under test carry the previous build's version (build from a newer commit)"
            ),
            Some((_, new)) => report.push(format!("upgraded {name} {old} -> {new}")),
            None => report.push(format!("{name} {old} stays from the previous build")),
        }
    }
    if names.iter().any(|n| n == "docker-ce") {
        check_docker_ce_installed(&chroot)?;
        report.push("docker-ce: group docker, docker.socket and docker.service enabled, nothing started (no systemd)".into());
    }
    if names.iter().any(|n| n == "containerd.io") {
        let link = chroot.path("/etc/systemd/system/multi-user.target.wants/containerd.service");
        if !link.is_symlink() {
            bail!(
                "containerd.io: postinst did not enable containerd.service ({} is missing)",
                link.display()
            );
        }
    }
    if std::fs::read_to_string(&daemon_json)? != ADMIN_DAEMON_JSON {
        bail!("install changed /etc/docker/daemon.json, which belongs to the admin");
    }
    if edited_default {
        let text = std::fs::read_to_string(chroot.path("/etc/default/docker"))?;
        if !text.ends_with(ADMIN_DEFAULT_LINE) {
            bail!("docker-ce: the upgrade replaced the admin's edit of the conffile /etc/default/docker");
        }
        report.push(
            "upgrade kept /etc/docker/daemon.json and the edited conffile /etc/default/docker"
                .into(),
        );
    }

    smoke(&mut chroot)?;
    report.push("smoke test passed".into());

    // Data the daemon would have written, which remove and purge must leave alone.
    let marker = chroot.path("/var/lib/docker/verify-marker");
    std::fs::create_dir_all(marker.parent().unwrap())?;
    std::fs::write(&marker, b"user data\n")?;

    let mut remove = vec!["dpkg", "--remove"];
    remove.extend(names.iter().map(String::as_str));
    chroot.run(&names.join(", "), &remove)?;
    for name in &names {
        let status = chroot.run(name, &["dpkg-query", "-W", "-f=${Status}", name])?;
        // Packages with conffiles keep them until purge; the others are gone.
        if status != "deinstall ok config-files" && status != "unknown ok not-installed" {
            bail!("{name}: after dpkg --remove its status is {status:?}");
        }
    }
    if names.iter().any(|n| n == "docker-ce") && !chroot.path("/etc/default/docker").is_file() {
        bail!("docker-ce: dpkg --remove took the conffile /etc/default/docker (only purge may)");
    }
    report.push("remove: packages gone, conffiles kept".into());

    let mut purge = vec!["dpkg", "--purge"];
    purge.extend(names.iter().map(String::as_str));
    chroot.run(&names.join(", "), &purge)?;
    chroot.run("apt", &["apt-get", "-y", "-q", "autoremove", "--purge"])?;
    if !marker.is_file() {
        bail!("purge removed /var/lib/docker: docker-ce keeps the user's data");
    }
    for conffile in ["/etc/default/docker", "/etc/containerd/config.toml"] {
        if chroot.path(conffile).exists() {
            bail!("purge left the conffile {conffile}");
        }
    }
    let after = snapshot(&chroot.root())?;
    let left: Vec<&String> = after.difference(&before).collect();
    report.push(format!(
        "purge: left behind {}",
        if left.is_empty() {
            "nothing".to_owned()
        } else {
            // the top of each left tree (its contents are the daemon's data)
            left.iter()
                .filter(|p| !left.iter().any(|q| p.starts_with(&format!("{q}/"))))
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    ));
    let unexpected: Vec<&&String> = left
        .iter()
        .filter(|p| {
            !EXPECTED_LEFT
                .iter()
                .any(|e| p.as_str() == *e || p.starts_with(&format!("{e}/")))
        })
        .collect();
    if !unexpected.is_empty() {
        bail!(
            "purge left files no package owns any more: {}",
            unexpected
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(report)
}

const ADMIN_DAEMON_JSON: &str = "{\n  \"log-level\": \"warn\"\n}\n";
const ADMIN_DEFAULT_LINE: &str = "DOCKER_OPTS=\"--log-level=warn\"\n";

/// What may stay after purge: the user's data and the admin's own files (as docker-ce
/// and containerd.io leave them: /var/lib/docker, /var/lib/containerd, /etc/docker),
/// the backup groupadd writes when it adds the kept `docker` group, and /etc/hosts,
/// which netbase's postinst writes (netbase comes with iptables).
const EXPECTED_LEFT: &[&str] = &[
    "/etc/docker",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/etc/gshadow-",
    "/etc/group-",
    "/etc/hosts",
];

/// `dpkg -i` the packages, then let apt fetch their dependencies from the archive.
fn install(chroot: &Chroot, debs: &[PathBuf]) -> Result<()> {
    let inbox = chroot.path("/var/cache/workspace-verify");
    let _ = std::fs::remove_dir_all(&inbox);
    std::fs::create_dir_all(&inbox)?;
    let mut args = vec!["dpkg".to_owned(), "--force-depends".into(), "-i".into()];
    let mut names = Vec::new();
    for deb in debs {
        let file = deb.file_name().context("a package path without a name")?;
        std::fs::copy(deb, inbox.join(file))?;
        args.push(format!(
            "/var/cache/workspace-verify/{}",
            file.to_string_lossy()
        ));
        names.push(package_name(deb)?);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    chroot.run(&names.join(", "), &args)?;
    chroot.run(
        &names.join(", "),
        &[
            "apt-get",
            "-y",
            "-q",
            "--no-install-recommends",
            "-o",
            "Dpkg::Options::=--force-confold",
            "-f",
            "install",
        ],
    )?;
    std::fs::remove_dir_all(&inbox)?;
    Ok(())
}

fn check_docker_ce_installed(chroot: &Chroot) -> Result<()> {
    let group = std::fs::read_to_string(chroot.path("/etc/group"))?;
    if !group.lines().any(|l| l.starts_with("docker:")) {
        bail!(
            "docker-ce: postinst did not create the group docker (/etc/group has no docker entry)"
        );
    }
    for link in [
        "/etc/systemd/system/multi-user.target.wants/docker.service",
        "/etc/systemd/system/sockets.target.wants/docker.socket",
    ] {
        if !chroot.path(link).is_symlink() {
            bail!("docker-ce: postinst did not enable its unit ({link} is missing)");
        }
    }
    Ok(())
}

/// Start containerd and dockerd in the chroot, as the units would (but on the chroot's
/// own paths, without iptables, so that they cannot disturb the host's daemons), and
/// drive them with the packaged CLI: `docker version`, `docker info`, `docker import`
/// of a busybox rootfs, `docker run --rm`. The daemons are stopped afterwards.
pub fn smoke(chroot: &mut Chroot) -> Result<()> {
    chroot.bind_system()?;
    let containerd = chroot.spawn(&["containerd"], "/var/log/verify-containerd.log")?;
    wait_for(
        chroot,
        "containerd.io",
        &containerd,
        "/var/log/verify-containerd.log",
        |c| c.path("/run/containerd/containerd.sock").exists(),
    )?;
    let dockerd = chroot.spawn(
        &[
            "dockerd",
            "-H",
            "unix:///var/run/docker.sock",
            "--containerd=/run/containerd/containerd.sock",
            "--iptables=false",
            "--bridge=none",
        ],
        "/var/log/verify-dockerd.log",
    )?;
    wait_for(
        chroot,
        "docker-ce",
        &dockerd,
        "/var/log/verify-dockerd.log",
        |c| c.run("docker-ce-cli", &["docker", "version"]).is_ok(),
    )?;
    chroot.run("docker-ce-cli", &["docker", "version"])?;
    chroot.run("docker-ce-cli", &["docker", "info"])?;
    let mut image = crate::deb::Tree::new();
    image.file(
        "bin/busybox",
        0o755,
        std::fs::read("/bin/busybox").context(
            "the smoke test imports /bin/busybox as an image: apt-get install busybox-static",
        )?,
    );
    std::fs::write(chroot.path("/tmp/busybox.tar"), image.to_tar("", 0)?)?;
    chroot.run(
        "docker-ce-cli",
        &["docker", "import", "/tmp/busybox.tar", "busybox:latest"],
    )?;
    let out = chroot.run(
        "docker-ce",
        &[
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            "busybox:latest",
            "/bin/busybox",
            "echo",
            "verify-ok",
        ],
    )?;
    if out.trim() != "verify-ok" {
        bail!("docker-ce: `docker run --rm busybox:latest /bin/busybox echo verify-ok` printed {out:?}");
    }
    stop(&dockerd, "dockerd")?;
    stop(&containerd, "containerd")?;
    Ok(())
}

/// Wait (three minutes at most: a loaded build machine starts daemons slowly) until
/// `ready`, failing early when the daemon exits; the error names the package and ends
/// with the daemon's last log line.
fn wait_for(
    chroot: &Chroot,
    package: &str,
    daemon: &duct::Handle,
    log: &str,
    ready: impl Fn(&Chroot) -> bool,
) -> Result<()> {
    let last_line = || {
        std::fs::read_to_string(chroot.path(log))
            .unwrap_or_default()
            .lines()
            .last()
            .unwrap_or("")
            .to_owned()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    while std::time::Instant::now() < deadline {
        if ready(chroot) {
            return Ok(());
        }
        if let Some(out) = daemon.try_wait()? {
            bail!(
                "{package}: the daemon exited ({}) before it was ready: {}",
                out.status,
                last_line()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    bail!(
        "{package}: the daemon was not ready within three minutes: {}",
        last_line()
    )
}

/// SIGTERM a daemon and wait for it (SIGKILL after half a minute).
fn stop(daemon: &duct::Handle, name: &str) -> Result<()> {
    for pid in daemon.pids() {
        // SAFETY: kill(2) on the pid of our own child; no memory involved.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    }
    for _ in 0..150 {
        if daemon.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    daemon.kill()?;
    bail!("{name} did not stop within half a minute of SIGTERM")
}

/// Every path of the root except the kernel's, the package manager's own state and
/// caches: what installing and purging may change.
fn snapshot(root: &Path) -> Result<BTreeSet<String>> {
    const IGNORED: &[&str] = &[
        "/proc",
        "/sys",
        "/dev",
        "/run",
        "/tmp",
        "/var/tmp",
        "/var/cache",
        "/var/log",
        "/var/lib/apt",
        "/var/lib/dpkg",
        "/var/lib/systemd/deb-systemd-helper-enabled",
        "/var/lib/systemd/deb-systemd-helper-masked",
        "/etc/ld.so.cache",
    ];
    let mut out = BTreeSet::new();
    let mut stack = vec![PathBuf::from("/")];
    while let Some(dir) = stack.pop() {
        let real = root.join(dir.strip_prefix("/").unwrap());
        for entry in
            std::fs::read_dir(&real).with_context(|| format!("cannot list {}", real.display()))?
        {
            let entry = entry?;
            let inside = dir.join(entry.file_name());
            let text = inside.display().to_string();
            if IGNORED.iter().any(|i| text == *i) {
                continue;
            }
            if entry.file_type()?.is_dir() {
                stack.push(inside);
            }
            out.insert(text);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
