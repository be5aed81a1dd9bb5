//! `cargo xtask image`: the dev image and the per-distro build images, rendered from
//! `packaging/templates/` with the selected mirror profile and built by the container
//! engine. The base comes from a registry through the profile when it can be had, and is
//! otherwise bootstrapped (debootstrap minbase into a cached tarball, `import`ed as
//! `debian:<suite>`). The tag carries a hash of everything that goes into the image, so an
//! unchanged image is never rebuilt.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::container::{Engine, EngineArgs};
use crate::distro::{self, Distro};
use crate::mirror::{self, Apt, Crates, Profile, Toolchain};
use crate::{installers, project, step};

/// The distro of the dev image (the dependency pins of installers/dev-image-deps.toml
/// are for its suite).
pub const DEV_DISTRO: &str = "debian-bookworm";

#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// Build the build image of this distro instead of the dev image
    #[arg(long)]
    pub distro: Option<String>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run(args: Args) -> Result<()> {
    let engine = args.engine.connect()?;
    let profile = mirror::selected()?;
    let image = ensure(&engine, &profile, args.distro.as_deref())?;
    println!("{}", image.tag);
    Ok(())
}

/// A built image and what a container of it needs mounted.
#[derive(Debug, Clone)]
pub struct Image {
    pub tag: String,
    /// The mirror profile it was rendered from.
    pub profile: String,
    /// The host toolchain's sysroot, mounted read-only at /opt/host-rust (toolchain = mount).
    pub host_toolchain: Option<PathBuf>,
    /// The vendor directory, mounted read-only at /workspace-vendor (vendored crates).
    pub vendor: Option<PathBuf>,
    /// Offline profiles build and run with no network at all.
    pub offline: bool,
}

impl Image {
    /// The network of containers of this image: none for offline profiles, else the
    /// host's (builds reach package registries the way the host does; test daemons run
    /// with --bridge=none, where only the host network exists).
    pub fn network(&self) -> &'static str {
        if self.offline {
            "none"
        } else {
            "host"
        }
    }

    /// The `docker run` arguments for the toolchain and vendor mounts.
    pub fn mounts(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(sysroot) = &self.host_toolchain {
            args.extend(crate::container::bind(sysroot, "/opt/host-rust", true));
        }
        if let Some(vendor) = &self.vendor {
            args.extend(crate::container::bind(vendor, "/workspace-vendor", true));
        }
        args
    }

    /// PATH inside a container of this image, with `first` in front.
    pub fn path_with(&self, first: &str) -> String {
        let toolchain = if self.host_toolchain.is_some() {
            "/opt/host-rust/bin"
        } else {
            "/usr/local/rustup-bin"
        };
        format!("{first}:{toolchain}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    }
}

/// Render and build the dev image (`distro` = None) or a distro's build image, unless an
/// image with the same inputs exists.
pub fn ensure(engine: &Engine, profile: &Profile, distro: Option<&str>) -> Result<Image> {
    let (kind, distro) = match distro {
        None => ("dev", select_one(DEV_DISTRO)?),
        Some(name) => ("build", select_one(name)?),
    };
    if let Some(vendor) = &profile.vendor {
        crate::vendor::check(vendor, std::slice::from_ref(&distro))?;
    }
    let mount = match &profile.toolchain {
        Toolchain::Mount => true,
        Toolchain::Rustup { .. } => {
            let reachable = mirror::toolchain_reachable(profile, Duration::from_secs(5));
            if !reachable {
                step(format_args!(
                    "the toolchain source of profile {} is unreachable: using the host's toolchain, mounted read-only (as `--mirror local` does)",
                    profile.name
                ));
            }
            !reachable
        }
    };
    let host_toolchain = if mount {
        let sysroot = mirror::host_sysroot().context(
            "the host has no rustc to mount into the container; install Rust (rustup) on the host",
        )?;
        Some(
            std::fs::canonicalize(&sysroot)
                .with_context(|| format!("host toolchain {sysroot} is not readable"))?,
        )
    } else {
        None
    };

    let base = base_image(engine, profile, &distro)?;
    let base_id = engine
        .image_id(&base)
        .with_context(|| format!("base image {base} vanished"))?;

    let context = tempfile::tempdir().context("cannot create a build context directory")?;
    render_context(context.path(), profile, &distro, kind, &base, mount)?;
    let hash = context_hash(context.path(), &base_id)?;
    let repo = match kind {
        "dev" => "workspace-dev".to_owned(),
        _ => format!("workspace-build-{}", distro.name),
    };
    let tag = format!("{repo}:{}", &hash[..16]);
    let image = Image {
        tag: tag.clone(),
        profile: profile.name.clone(),
        host_toolchain,
        vendor: match &profile.crates {
            Crates::Vendored { .. } => profile.vendor.clone(),
            _ => None,
        },
        offline: profile.vendor.is_some(),
    };
    if engine.has_image(&tag) {
        step(format_args!(
            "image {tag} is up to date (same template and inputs)"
        ));
        return Ok(image);
    }
    step(format_args!(
        "building {tag} from {base} (profile {}, {} toolchain)",
        profile.name,
        if mount { "host" } else { "rustup" }
    ));
    engine
        .cmd(vec![
            "build".into(),
            "--network".into(),
            image.network().into(),
            "--tag".into(),
            tag.clone(),
            context.path().display().to_string(),
        ])
        // Progress goes to stderr: stdout carries only the tag, for scripts.
        .stdout_to_stderr()
        .run()
        .with_context(|| format!("building image {tag} failed (the engine's output is above)"))?;
    Ok(image)
}

fn select_one(name: &str) -> Result<Distro> {
    Ok(distro::select(&[name.to_owned()])?.remove(0))
}

/// Fill the build context: the rendered Dockerfile, sources.list and cargo config, the CA
/// bundle, and for rustup the pin and the host's rustup binary; the flat apt repository
/// of a vendor directory.
fn render_context(
    dir: &Path,
    profile: &Profile,
    distro: &Distro,
    kind: &str,
    base: &str,
    mount: bool,
) -> Result<()> {
    let templates = project::root().join("packaging/templates");
    let mut tera = tera::Tera::default();
    for name in [
        "Dockerfile.tera",
        "sources.list.tera",
        "cargo-config.toml.tera",
    ] {
        let path = templates.join(name);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        tera.add_raw_template(name, &text)
            .with_context(|| format!("{} does not parse", path.display()))?;
    }
    let deps = installers::find("dev-image-deps")?;
    let packages: Vec<String> = deps
        .artefacts
        .iter()
        .filter_map(|a| a.debian.as_ref())
        .map(|d| {
            if d.suite == distro.suite {
                format!("{}={}", d.package, d.version)
            } else {
                d.package.clone()
            }
        })
        .collect();
    let toolchain_pin = toolchain_pin()?;
    let (dist_server, update_root) = match &profile.toolchain {
        Toolchain::Rustup {
            dist_server,
            update_root,
        } => (dist_server.clone(), update_root.clone()),
        Toolchain::Mount => (None, None),
    };
    let (crates_kind, crates_url, host_config, host_config_path) = match &profile.crates {
        Crates::Registry { url } => ("registry", url.clone(), String::new(), String::new()),
        Crates::Vendored { .. } => ("vendored", String::new(), String::new(), String::new()),
        Crates::Host { config, .. } => match config {
            Some(path) => (
                "host",
                String::new(),
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
                path.display().to_string(),
            ),
            None => ("none", String::new(), String::new(), String::new()),
        },
    };
    let mut ctx = tera::Context::new();
    ctx.insert("kind", kind);
    ctx.insert("distro", &distro.name);
    ctx.insert("suite", &distro.suite);
    ctx.insert("profile", &profile.name);
    ctx.insert("base_image", base);
    ctx.insert("apt_lines", &profile.apt_lines(&distro.suite));
    ctx.insert("flat_apt", &matches!(profile.apt, Apt::Flat { .. }));
    ctx.insert("packages", &packages);
    ctx.insert("toolchain", if mount { "mount" } else { "rustup" });
    ctx.insert("rustup_dist_server", &dist_server);
    ctx.insert("rustup_update_root", &update_root);
    ctx.insert("channel", &toolchain_pin.channel);
    ctx.insert("components", &toolchain_pin.components);
    ctx.insert("toolchain_profile", &toolchain_pin.profile);
    ctx.insert("crates_kind", crates_kind);
    ctx.insert("crates_url", &crates_url);
    ctx.insert("host_has_http", &host_config.contains("[http]"));
    ctx.insert("host_config", &host_config);
    ctx.insert("host_config_path", &host_config_path);
    for (template, out) in [
        ("Dockerfile.tera", "Dockerfile"),
        ("sources.list.tera", "sources.list"),
        ("cargo-config.toml.tera", "cargo-config.toml"),
    ] {
        let text = tera
            .render(template, &ctx)
            .with_context(|| format!("cannot render packaging/templates/{template}"))?;
        std::fs::write(dir.join(out), text)?;
    }
    std::fs::copy(&profile.ca_bundle, dir.join("ca-bundle.crt"))
        .with_context(|| format!("cannot read the CA bundle {}", profile.ca_bundle.display()))?;
    if !mount {
        std::fs::copy(
            project::root().join("packaging/rust-toolchain.toml"),
            dir.join("rust-toolchain.toml"),
        )?;
        let rustup = crate::host::find("rustup")
            .context("rustup is not on the host; the image installs the toolchain with the host's rustup binary")?;
        std::fs::copy(&rustup, dir.join("rustup-init"))
            .with_context(|| format!("cannot copy {}", rustup.display()))?;
    }
    if let Apt::Flat { dir: apt } = &profile.apt {
        let suite_repo = apt.join(&distro.suite);
        if !suite_repo.join("Packages").is_file() {
            bail!(
                "the vendor directory has no apt repository for {} ({} is missing); run `cargo xtask vendor`",
                distro.suite,
                suite_repo.join("Packages").display()
            );
        }
        link_tree(&suite_repo, &dir.join("apt"))?;
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct ToolchainFile {
    toolchain: ToolchainPin,
}

#[derive(serde::Deserialize)]
struct ToolchainPin {
    channel: String,
    #[serde(default)]
    components: Vec<String>,
    #[serde(default = "minimal")]
    profile: String,
}

fn minimal() -> String {
    "minimal".into()
}

fn toolchain_pin() -> Result<ToolchainPin> {
    let path = project::root().join("packaging/rust-toolchain.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let file: ToolchainFile =
        toml::from_str(&text).with_context(|| format!("{} does not parse", path.display()))?;
    Ok(file.toolchain)
}

/// Hard-link (or copy, across file systems) the files of `from` into `to`.
fn link_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            link_tree(&entry.path(), &dest)?;
        } else if std::fs::hard_link(entry.path(), &dest).is_err() {
            std::fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

/// sha256 over every file of the context (path and content, sorted) and the base image
/// id: the identity of the image.
fn context_hash(dir: &Path, base_id: &str) -> Result<String> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    hasher.update(base_id.as_bytes());
    for rel in files {
        hasher.update(rel.as_bytes());
        hasher.update([0]);
        let mut f = std::fs::File::open(dir.join(&rel))?;
        std::io::copy(&mut f, &mut hasher)?;
        hasher.update([0]);
    }
    Ok(installers::hex(&hasher.finalize()))
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            collect(root, &entry.path(), out)?;
        } else {
            out.push(
                entry
                    .path()
                    .strip_prefix(root)
                    .unwrap()
                    .display()
                    .to_string(),
            );
        }
    }
    Ok(())
}

/// The base image reference for a distro: from the registry through the profile, else
/// bootstrapped and imported as `debian:<suite>`.
fn base_image(engine: &Engine, profile: &Profile, distro: &Distro) -> Result<String> {
    let imported = format!("debian:{}", distro.suite);
    if let Some(reference) = profile.base_image(&distro.suite) {
        if engine.has_image(&reference) {
            return Ok(reference);
        }
        step(format_args!("pulling {reference}"));
        let pulled = engine
            .cmd(vec!["pull".into(), "--quiet".into(), reference.clone()])
            .stdout_null()
            .stderr_capture()
            .unchecked()
            .run()?;
        if pulled.status.success() {
            return Ok(reference);
        }
        step(format_args!(
            "cannot pull {reference} ({}): bootstrapping {} instead",
            String::from_utf8_lossy(&pulled.stderr)
                .lines()
                .next()
                .unwrap_or("")
                .trim(),
            distro.suite
        ));
    }
    if engine.has_image(&imported) {
        return Ok(imported);
    }
    let tarball = crate::rootfs::tarball(profile, &distro.suite)?;
    step(format_args!(
        "importing {} as {imported}",
        tarball.display()
    ));
    engine
        .cmd(vec![
            "import".into(),
            tarball.display().to_string(),
            imported.clone(),
        ])
        .stdout_null()
        .run()
        .with_context(|| format!("cannot import {}", tarball.display()))?;
    Ok(imported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_every_profile_kind() {
        for name in ["upstream", "cn", "local"] {
            let file: toml::Value = toml::from_str(
                &std::fs::read_to_string(project::root().join("mirrors.toml")).unwrap(),
            )
            .unwrap();
            assert!(file["profile"].get(name).is_some());
        }
        let dir = tempfile::tempdir().unwrap();
        let distro = select_one("debian-trixie").unwrap();
        let profile = mirror::resolve_named("cn").unwrap();
        render_context(dir.path(), &profile, &distro, "build", "b:1", false).unwrap();
        let docker = std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap();
        assert!(docker.contains("FROM b:1"), "{docker}");
        assert!(
            docker.contains("RUSTUP_DIST_SERVER=https://rsproxy.cn"),
            "{docker}"
        );
        assert!(docker.contains("--default-toolchain 1.95.0"), "{docker}");
        // Another suite than the pins': names without versions.
        assert!(docker.contains("      gcc \\"), "{docker}");
        let sources = std::fs::read_to_string(dir.path().join("sources.list")).unwrap();
        assert!(
            sources.contains("deb https://mirrors.tuna.tsinghua.edu.cn/debian trixie main"),
            "{sources}"
        );
        assert!(sources.contains("trixie-security"), "{sources}");
        let cargo = std::fs::read_to_string(dir.path().join("cargo-config.toml")).unwrap();
        let parsed: toml::Value = toml::from_str(&cargo).unwrap();
        assert_eq!(
            parsed["source"]["mirror"]["registry"].as_str(),
            Some("sparse+https://rsproxy.cn/index/")
        );
        assert!(dir.path().join("ca-bundle.crt").is_file());
    }

    #[test]
    fn the_hash_changes_with_any_input() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM a").unwrap();
        let one = context_hash(dir.path(), "sha256:1").unwrap();
        assert_eq!(one, context_hash(dir.path(), "sha256:1").unwrap());
        assert_ne!(one, context_hash(dir.path(), "sha256:2").unwrap());
        std::fs::write(dir.path().join("Dockerfile"), "FROM b").unwrap();
        assert_ne!(one, context_hash(dir.path(), "sha256:1").unwrap());
    }
}
