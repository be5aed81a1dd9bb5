//! `cargo xtask deb`: the Debian packages docker-ce ships (`docker-ce`, `docker-ce-cli`,
//! `containerd.io`, `docker-ce-rootless-extras`), one set per distro, written from the
//! metadata in `debian/` and the binaries `packaging/manifest.toml` marks implemented.
//!
//! The packages are assembled in memory and written without dpkg-deb or debhelper, so
//! that two builds of one commit are byte-identical wherever they run (see
//! [`archive`]); dpkg itself, `dpkg-shlibdeps` and `lintian` are the judges: every
//! package is checked with lintian before it is moved into `bundles/`.

mod archive;
mod control;
mod layout;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use buildinfo::{Source, Version};
use md5::Digest;

pub(crate) use archive::{gzip, write_atomically, Tree};

use crate::distro::Distro;
use crate::manifest::Binary;
use crate::version::{DEB_EPOCH, DEB_REVISION};
use crate::{distro, host, manifest, project, step};
use layout::Plan;

/// The only architecture built here.
const ARCH: &str = "amd64";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Distro to build for (repeatable); default every supported distro
    #[arg(long)]
    distro: Vec<String>,
    /// List the supported distros instead of building (drives the CI matrix)
    #[arg(long)]
    list: bool,
    /// Output format of --list
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
    /// Package the binaries of this directory (e.g. bundles/<version>/binary from
    /// `cargo xtask build`) instead of building them static
    #[arg(long, value_name = "DIR")]
    binaries: Option<PathBuf>,
    #[command(flatten)]
    place: crate::build::Place,
}

impl Args {
    pub fn for_distros(distro: Vec<String>, place: crate::build::Place) -> Args {
        Args {
            distro,
            list: false,
            format: "text".into(),
            binaries: None,
            place,
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    let distros = distro::select(&args.distro)?;
    if args.list {
        let names: Vec<&str> = distros.iter().map(|d| d.name.as_str()).collect();
        match args.format.as_str() {
            "json" => println!("{}", serde_json::to_string(&names)?),
            _ => names.iter().for_each(|n| println!("{n}")),
        }
        return Ok(());
    }
    host::ensure(TOOLS)?;
    let root = project::root();
    let version = project::version()?;
    let source = project::source()?;
    let binaries = manifest::binaries()?;
    let debian_dir = root.join("debian");
    let packages = layout::load(&debian_dir)?;
    layout::plan(&packages, &binaries)?;
    let implemented: Vec<&Binary> = binaries.iter().filter(|b| b.implemented).collect();

    let binary_dir = match (&args.binaries, implemented.is_empty()) {
        (_, true) => {
            step("no binary is implemented yet (packaging/manifest.toml): nothing to compile");
            root.join("target")
        }
        (Some(dir), false) => {
            step(format_args!(
                "binaries: {} (as given with --binaries; built for the host's glibc)",
                dir.display()
            ));
            dir.clone()
        }
        (None, false) => {
            let dir = crate::build::static_binaries(&args.place, &implemented)?;
            step(format_args!(
                "binaries: static (glibc crt-static, profile dist, built {}) from {}; the same binaries serve every distro",
                if args.place.host { "on the host" } else { "in the dev container" },
                dir.display()
            ));
            dir
        }
    };

    let inputs = Inputs {
        debian_dir,
        binaries,
        binary_dir,
        version,
        source,
        out_dir: project::bundles_dir()?.join("deb"),
        lintian: true,
    };
    let outcome = write_packages(&inputs, &distros)?;
    for (package, reason) in &outcome.skipped {
        println!("skipped {package}: {reason}");
    }
    for path in &outcome.built {
        println!("built {}", path.display());
    }
    if outcome.built.is_empty() {
        println!(
            "no package built: no binary is implemented yet (flip `implemented` in packaging/manifest.toml when a component works)"
        );
    }
    Ok(())
}

/// The host tools `deb` needs beyond Rust.
const TOOLS: &[host::Tool] = &[
    host::Tool {
        program: "lintian",
        package: "lintian",
        why: "checking every .deb",
    },
    host::Tool {
        program: "dpkg-shlibdeps",
        package: "dpkg-dev",
        why: "shared-library dependencies of dynamic binaries",
    },
];

/// Everything one `deb` run reads. Tests point it at copies and fixtures.
pub struct Inputs {
    /// The `debian/` directory: control files, scripts, units, packages.toml.
    pub debian_dir: PathBuf,
    /// `packaging/manifest.toml`'s binaries.
    pub binaries: Vec<Binary>,
    /// Where the implemented binaries are, by name.
    pub binary_dir: PathBuf,
    pub version: Version,
    pub source: Source,
    /// `bundles/<version>/deb`; each distro gets a subdirectory.
    pub out_dir: PathBuf,
    /// Check every package with lintian before publishing it (always, except in tests
    /// about something else: lintian takes half a minute per package).
    pub lintian: bool,
}

#[derive(Debug, Default)]
pub struct Outcome {
    /// Every .deb written, by distro then package.
    pub built: Vec<PathBuf>,
    /// Packages not built, with the reason (the same for every distro).
    pub skipped: Vec<(String, String)>,
}

/// Write the packages of every distro into `out_dir/<distro>/`, each checked with
/// lintian first. Packages of earlier builds in those directories are replaced.
pub fn write_packages(inputs: &Inputs, distros: &[Distro]) -> Result<Outcome> {
    let packages = layout::load(&inputs.debian_dir)?;
    let plans = layout::plan(&packages, &inputs.binaries)?;
    let mut outcome = Outcome::default();
    for plan in &plans {
        if let Plan::Skip { package, reason } = plan {
            outcome.skipped.push((package.name.clone(), reason.clone()));
        }
    }
    for distro in distros {
        let dir = inputs.out_dir.join(&distro.name);
        for plan in &plans {
            match plan {
                Plan::Build { package, binaries } => {
                    step(format_args!("{}: {}", distro.name, package.name));
                    let deb = assemble(inputs, distro, package, binaries)?;
                    let path = publish(&dir, &package.name, &deb, inputs.lintian)?;
                    outcome.built.push(path);
                }
                Plan::Skip { package, .. } => remove_stale(&dir, &package.name, None)?,
            }
        }
    }
    Ok(outcome)
}

/// A package's full version for a distro.
pub fn package_version(
    package_upstream: Option<&str>,
    version: &Version,
    source: &Source,
    distro: &Distro,
) -> String {
    match package_upstream {
        None => version.to_deb_full(
            source,
            DEB_EPOCH,
            DEB_REVISION,
            &distro.id,
            &distro.version,
            &distro.suite,
        ),
        Some(upstream) => format!(
            "{upstream}+{}-{DEB_REVISION}~{}.{}~{}",
            version.to_deb(source),
            distro.id,
            distro.version,
            distro.suite
        ),
    }
}

/// A finished package: its file name and bytes.
struct Deb {
    file_name: String,
    bytes: Vec<u8>,
}

fn assemble(
    inputs: &Inputs,
    distro: &Distro,
    package: &layout::Package,
    binaries: &[&Binary],
) -> Result<Deb> {
    let debian = &inputs.debian_dir;
    let name = package.name.as_str();
    let mtime = u64::try_from(inputs.source.commit_time).unwrap_or(0);
    let version = package_version(
        package.upstream_version.as_deref(),
        &inputs.version,
        &inputs.source,
        distro,
    );
    let control_path = debian.join(&package.control);
    let control_text = std::fs::read_to_string(&control_path)
        .with_context(|| format!("cannot read {}", control_path.display()))?;
    let source_control = control::SourceControl::parse(&control_text)
        .with_context(|| format!("{} does not parse", control_path.display()))?;

    let mut data = Tree::new();
    let mut elf_paths = Vec::new();
    for bin in binaries {
        let path = inputs.binary_dir.join(&bin.name);
        if !path.is_file() {
            bail!(
                "{} is marked implemented in packaging/manifest.toml but {} is missing; build it first (`cargo xtask build --host` or `cargo xtask static`)",
                bin.name,
                path.display()
            );
        }
        data.file(&format!("usr/bin/{}", bin.name), 0o755, read(&path)?);
        elf_paths.push(path);
    }
    let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
    for external in &package.external {
        let path = external_binary(external, scratch.path())?;
        data.file(&format!("usr/bin/{}", external.name), 0o755, read(&path)?);
        elf_paths.push(path);
    }
    if binaries.iter().any(|b| b.name == "docker") {
        add_completions(&mut data, &inputs.binary_dir.join("docker"))?;
        add_man_pages(&mut data, &inputs.binary_dir.join("docker"), scratch.path())?;
    }
    for file in &package.files {
        data.file(&file.dst, 0o644, read(&debian.join(&file.src))?);
    }
    let doc = format!("usr/share/doc/{name}");
    data.file(
        &format!("{doc}/copyright"),
        0o644,
        read(&debian.join("copyright"))?,
    );
    let source_name = source_name(&control_text).unwrap_or(name);
    let maintainer = field(&control_text, "Maintainer").unwrap_or("unknown");
    let changelog = changelog_entry(
        source_name,
        &version,
        distro,
        &inputs.source,
        &inputs.version,
        maintainer,
    );
    data.file(
        &format!("{doc}/changelog.Debian.gz"),
        0o644,
        gzip(changelog.as_bytes())?,
    );
    let overrides = debian.join(name).join("lintian-overrides");
    if overrides.is_file() {
        data.file(
            &format!("usr/share/lintian/overrides/{name}"),
            0o644,
            read(&overrides)?,
        );
    }

    let shlibs = shlibs_depends(&elf_paths)?;
    let control_file = source_control
        .binary_control(
            name,
            &control::BinaryFacts {
                version: &version,
                architecture: ARCH,
                installed_size_kib: data.installed_size_kib(),
                shlibs_depends: &shlibs,
            },
        )
        .with_context(|| format!("{}", control_path.display()))?;

    let mut ctrl = Tree::new();
    ctrl.file("control", 0o644, control_file.into_bytes());
    ctrl.file("md5sums", 0o644, md5sums(&data).into_bytes());
    let conffiles = conffiles(&data);
    if !conffiles.is_empty() {
        ctrl.file("conffiles", 0o644, conffiles.into_bytes());
    }
    for script in ["preinst", "postinst", "prerm", "postrm"] {
        let path = debian.join(name).join(script);
        if path.is_file() {
            ctrl.file(script, 0o755, read(&path)?);
        }
    }
    let bytes = archive::deb(
        &ctrl.to_tar_gz("./", mtime)?,
        &data.to_tar_gz("./", mtime)?,
        mtime,
    )?;
    let upstream_and_revision = version.split_once(':').map_or(version.as_str(), |(_, v)| v);
    Ok(Deb {
        file_name: format!("{name}_{upstream_and_revision}_{ARCH}.deb"),
        bytes,
    })
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Check the package with lintian in a scratch directory, then move it into `dir` under
/// its final name and drop the package's older builds there.
fn publish(dir: &Path, package: &str, deb: &Deb, check: bool) -> Result<PathBuf> {
    if check {
        let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
        let candidate = scratch.path().join(&deb.file_name);
        std::fs::write(&candidate, &deb.bytes)?;
        lintian(&candidate)?;
    }
    let path = dir.join(&deb.file_name);
    write_atomically(&path, &deb.bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    remove_stale(dir, package, Some(&deb.file_name))?;
    Ok(path)
}

/// Remove `<package>_*.deb` in `dir`, except `keep`.
fn remove_stale(dir: &Path, package: &str, keep: Option<&str>) -> Result<()> {
    project::remove_stale(dir, &format!("{package}_"), ".deb", keep)
}

/// Run lintian on a package: errors and warnings fail, with lintian's own lines
/// (overridden tags are not reported).
pub fn lintian(deb: &Path) -> Result<()> {
    let output = duct::cmd!(
        "lintian",
        "--fail-on",
        "error,warning",
        "--tag-display-limit",
        "0",
        deb
    )
    .stderr_to_stdout()
    .stdout_capture()
    .unchecked()
    .run()
    .context("cannot run lintian (apt-get install lintian)")?;
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stdout);
        bail!(
            "lintian rejects {}: {}",
            deb.file_name().unwrap_or_default().to_string_lossy(),
            text.lines()
                .filter(|l| l.starts_with("E: ") || l.starts_with("W: "))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    Ok(())
}

/// Where an external binary comes from: its sha256-pinned installer
/// (`installers/<name>.toml`, fetched through the selected mirror profile) when that
/// file exists, else the build host's copy, saying so. Unpacked into `scratch`.
fn external_binary(external: &layout::External, scratch: &Path) -> Result<PathBuf> {
    let pinned = project::root()
        .join("installers")
        .join(format!("{}.toml", external.installer));
    if pinned.is_file() {
        let installer = crate::installers::find(&external.installer)?;
        let profile = crate::mirror::selected()?;
        let paths = crate::installers::unpack(&profile, &installer, scratch)?;
        let path = paths
            .into_iter()
            .find(|p| p.file_name().is_some_and(|n| n == external.name.as_str()))
            .with_context(|| {
                format!(
                    "installers/{}.toml ships no {}",
                    external.installer, external.name
                )
            })?;
        step(format_args!(
            "{}: {} {} from installers/{}.toml (sha256-pinned, mirror profile {})",
            external.name, installer.name, installer.version, external.installer, profile.name
        ));
        return Ok(path);
    }
    let fallback = PathBuf::from(&external.host_fallback);
    if !fallback.is_file() {
        bail!(
            "{} comes from {} while installers/{}.toml does not exist, and {} is missing (apt-get install tini)",
            external.name,
            fallback.display(),
            external.installer,
            fallback.display()
        );
    }
    step(format_args!(
        "{}: taken from the build host's {} (installers/{}.toml does not exist)",
        external.name,
        fallback.display(),
        external.installer
    ));
    Ok(fallback)
}

/// `docker-init` as docker-ce ships it (for the static tarball), unpacked into `scratch`.
pub(crate) fn docker_init(scratch: &Path) -> Result<PathBuf> {
    let packages = layout::load(&project::root().join("debian"))?;
    let external = packages
        .iter()
        .flat_map(|p| &p.external)
        .find(|e| e.name == "docker-init")
        .context("debian/packages.toml names no docker-init")?;
    external_binary(external, scratch)
}

/// The docker CLI prints its own completion scripts (`docker completion <shell>`, as
/// docker 28 does); they land where bash-completion, zsh and fish look for them.
fn add_completions(data: &mut Tree, docker: &Path) -> Result<()> {
    for (shell, dst) in [
        ("bash", "usr/share/bash-completion/completions/docker"),
        ("zsh", "usr/share/zsh/vendor-completions/_docker"),
        ("fish", "usr/share/fish/vendor_completions.d/docker.fish"),
    ] {
        let script = duct::cmd!(docker, "completion", shell)
            .stdout_capture()
            .stderr_capture()
            .run()
            .with_context(|| {
                format!(
                    "`{} completion {shell}` failed: docker-ce-cli ships the CLI's completion scripts",
                    docker.display()
                )
            })?
            .stdout;
        data.file(dst, 0o644, script);
    }
    Ok(())
}

/// The CLI writes one man page per command (`docker __manpages DIR`, from its own
/// command tree, so they never drift from `--help`); they are installed gzipped in
/// section 1, as docker-ce-cli ships them.
fn add_man_pages(data: &mut Tree, docker: &Path, scratch: &Path) -> Result<()> {
    let dir = scratch.join("man1");
    duct::cmd!(docker, "__manpages", &dir)
        .stdout_capture()
        .stderr_capture()
        .run()
        .with_context(|| {
            format!(
                "`{} __manpages` failed: docker-ce-cli ships the CLI's man pages",
                docker.display()
            )
        })?;
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    pages.retain(|p| p.extension().is_some_and(|e| e == "1"));
    if pages.is_empty() {
        bail!("`{} __manpages` wrote no man page", docker.display());
    }
    for page in pages {
        let name = page.file_name().unwrap().to_string_lossy();
        data.file(
            &format!("usr/share/man/man1/{name}.gz"),
            0o644,
            gzip(&read(&page)?)?,
        );
    }
    Ok(())
}

/// `${shlibs:Depends}` of the dynamic binaries, from dpkg-shlibdeps (static binaries
/// have no interpreter and need nothing).
fn shlibs_depends(binaries: &[PathBuf]) -> Result<String> {
    let mut dynamic = Vec::new();
    for path in binaries {
        let bytes = read(path)?;
        if crate::static_tarball::elf_interpreter(&bytes).is_some() {
            dynamic.push(path);
        }
    }
    if dynamic.is_empty() {
        return Ok(String::new());
    }
    // dpkg-shlibdeps wants a debian/control beside it; a minimal one will do.
    let scratch = tempfile::tempdir()?;
    std::fs::create_dir(scratch.path().join("debian"))?;
    std::fs::write(
        scratch.path().join("debian/control"),
        "Source: shlibs\n\nPackage: shlibs\nArchitecture: any\n",
    )?;
    let mut args: Vec<String> = vec!["-O".into(), "--ignore-missing-info".into()];
    args.extend(dynamic.iter().map(|p| format!("-e{}", p.display())));
    let out = duct::cmd("dpkg-shlibdeps", &args)
        .dir(scratch.path())
        .stderr_capture()
        .read()
        .context("dpkg-shlibdeps failed on the dynamic binaries (apt-get install dpkg-dev)")?;
    Ok(out
        .lines()
        .find_map(|l| l.strip_prefix("shlibs:Depends="))
        .unwrap_or_default()
        .to_owned())
}

/// `md5sums` as dh_md5sums writes it: one `<md5>  <path>` line per regular file.
fn md5sums(data: &Tree) -> String {
    let mut out = String::new();
    for (path, node) in data.entries() {
        if let archive::Node::File { data, .. } = node {
            let sum = md5::Md5::digest(data);
            out.push_str(&format!("{}  {path}\n", hex(&sum)));
        }
    }
    out
}

/// Every file installed under /etc is a conffile (as debhelper declares them).
fn conffiles(data: &Tree) -> String {
    data.entries()
        .filter(|(p, n)| p.starts_with("etc/") && matches!(n, archive::Node::File { .. }))
        .map(|(p, _)| format!("/{p}\n"))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn field<'a>(control: &'a str, name: &str) -> Option<&'a str> {
    control.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|r| r.strip_prefix(':'))
            .map(str::trim)
    })
}

fn source_name(control: &str) -> Option<&str> {
    field(control, "Source")
}

/// The package's `changelog.Debian` entry: one per build, naming the version and commit.
pub fn changelog_entry(
    source_name: &str,
    deb_version: &str,
    distro: &Distro,
    source: &Source,
    version: &Version,
    maintainer: &str,
) -> String {
    let what = if version.is_nightly(source) {
        format!("Nightly build of {version} at commit {}.", source.commit)
    } else {
        format!("Release {version} (commit {}).", source.commit)
    };
    format!(
        "{source_name} ({deb_version}) {suite}; urgency=medium\n\n  * {what}\n\n -- {maintainer}  {date}\n",
        suite = distro.suite,
        date = rfc2822(source.commit_time),
    )
}

/// `Mon, 23 Nov 2026 10:15:00 +0000`, as `date -R -u` prints it.
fn rfc2822(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests;
