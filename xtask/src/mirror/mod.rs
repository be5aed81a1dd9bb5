//! `cargo xtask mirror`: the download mirror profiles of `mirrors.toml`, which point
//! every external input of a build (apt, toolchain, crates, git hosts, container
//! registry, CA bundle) at one set of sources. [`selected`] gives the profile every
//! other command uses: `--mirror` > `WORKSPACE_MIRROR` > `mirror use` > the default.

mod check;
mod hostconf;
mod profile;

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::{Context, Result};
use serde::Serialize;

pub use profile::{Apt, Crates, Profile, Registry, Toolchain};

use crate::{installers, project, step};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// List the profiles, the default and the selected one marked
    List,
    /// Show every resolved download source of a profile (default: the selected one)
    Show {
        name: Option<String>,
        /// Output format: table or json
        #[arg(long, default_value = "table")]
        format: Format,
    },
    /// Record the profile to use in this checkout (in the untracked .workspace/mirror)
    Use { name: String },
    /// Probe every source of a profile and report reachability (non-zero if a required one is down)
    Check {
        name: Option<String>,
        /// Seconds each probe may take
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

static CLI_CHOICE: OnceLock<Option<String>> = OnceLock::new();

/// Record the global `--mirror` flag (called once by `main`).
pub fn set_cli_choice(name: Option<String>) {
    let _ = CLI_CHOICE.set(name);
}

fn recorded_path() -> PathBuf {
    project::root().join(".workspace/mirror")
}

/// The selected profile's name and where the choice came from.
fn selected_name(file: &profile::File) -> (String, &'static str) {
    if let Some(Some(name)) = CLI_CHOICE.get() {
        return (name.clone(), "--mirror");
    }
    if let Ok(name) = std::env::var("WORKSPACE_MIRROR") {
        if !name.is_empty() {
            return (name, "WORKSPACE_MIRROR");
        }
    }
    if let Ok(name) = std::fs::read_to_string(recorded_path()) {
        let name = name.trim();
        if !name.is_empty() {
            return (
                name.to_owned(),
                ".workspace/mirror (cargo xtask mirror use)",
            );
        }
    }
    (file.default.clone(), "the default of mirrors.toml")
}

fn load() -> Result<profile::File> {
    Ok(profile::File::load(&project::root().join("mirrors.toml"))?)
}

fn resolve(file: &profile::File, name: &str, from: &str) -> Result<Profile> {
    Ok(file.resolve(
        name,
        &format!(" (from {from})"),
        &project::root(),
        &hostconf::HostRoot::default(),
    )?)
}

/// The profile this run uses.
pub fn selected() -> Result<Profile> {
    let file = load()?;
    let (name, from) = selected_name(&file);
    resolve(&file, &name, from)
}

/// A profile by name (as `--mirror NAME` would select it).
#[cfg(test)]
pub fn resolve_named(name: &str) -> Result<Profile> {
    resolve(&load()?, name, "the command line")
}

/// Whether the profile's rustup toolchain source answers within `timeout`.
pub fn toolchain_reachable(profile: &Profile, timeout: std::time::Duration) -> bool {
    let Toolchain::Rustup { dist_server, .. } = &profile.toolchain else {
        return false;
    };
    let probe = match dist_server {
        Some(s) => Probe::Http(format!("{s}/dist/channel-rust-stable.toml.sha256")),
        None => Probe::Rustup,
    };
    check::probe(&probe, timeout).reachable
}

/// The named profile, or the selected one.
fn named_or_selected(file: &profile::File, name: Option<String>) -> Result<Profile> {
    match name {
        Some(n) => resolve(file, &n, "the command line"),
        None => {
            let (n, from) = selected_name(file);
            resolve(file, &n, from)
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    let file = load()?;
    match args.command {
        Command::List => {
            let (selected, from) = selected_name(&file);
            for name in file.names() {
                let raw = file.profile.get(name).expect("listed");
                let mut marks = Vec::new();
                if name == file.default {
                    marks.push("default");
                }
                if name == selected {
                    marks.push("selected");
                }
                let marks = if marks.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", marks.join(", "))
                };
                let star = if name == selected { '*' } else { ' ' };
                let inherits = raw
                    .inherits
                    .as_deref()
                    .map(|p| format!(" [inherits {p}]"))
                    .unwrap_or_default();
                println!(
                    "{star} {name:<12}{marks:<22} {}{inherits}",
                    raw.description.as_deref().unwrap_or("")
                );
            }
            if !file.profile.contains_key(&selected) {
                step(format_args!(
                    "the selected profile {selected:?} (from {from}) is not in mirrors.toml"
                ));
            }
            Ok(())
        }
        Command::Show { name, format } => {
            let profile = named_or_selected(&file, name)?;
            let sources = sources(&profile)?;
            match format {
                Format::Json => {
                    let doc = serde_json::json!({
                        "profile": profile.name,
                        "description": profile.description,
                        "sources": sources,
                        "daemon_json": profile.daemon_json(),
                        "resolved": profile,
                    });
                    println!("{}", serde_json::to_string_pretty(&doc)?);
                }
                Format::Table => {
                    println!("profile {}: {}", profile.name, profile.description);
                    for s in &sources {
                        let req = if s.required { "*" } else { " " };
                        println!("{req} {:<10} {:<34} {}", s.kind, s.name, s.url);
                    }
                    println!("(* required)");
                }
            }
            Ok(())
        }
        Command::Use { name } => {
            // Resolve first: an unknown or broken profile is never recorded.
            let profile = resolve(&file, &name, "the command line")?;
            let path = recorded_path();
            std::fs::create_dir_all(path.parent().unwrap())
                .with_context(|| format!("cannot create {}", path.parent().unwrap().display()))?;
            std::fs::write(&path, format!("{}\n", profile.name))
                .with_context(|| format!("cannot write {}", path.display()))?;
            step(format_args!(
                "mirror profile {} recorded in {} (--mirror and WORKSPACE_MIRROR still override it)",
                profile.name,
                path.display()
            ));
            Ok(())
        }
        Command::Check { name, timeout } => {
            let profile = named_or_selected(&file, name)?;
            let sources = sources(&profile)?;
            check::run(&profile, &sources, std::time::Duration::from_secs(timeout))
        }
    }
}

/// One download source of a resolved profile, as `show` prints and `check` probes it.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    pub kind: &'static str,
    pub name: String,
    /// A URL, a path, or a description of a host configuration.
    pub url: String,
    pub required: bool,
    #[serde(skip)]
    pub probe: Probe,
}

#[derive(Debug, Clone)]
pub enum Probe {
    /// GET this URL (a few bytes); 2xx, 3xx and 401 count as reachable.
    Http(String),
    /// This path must exist.
    Path(PathBuf),
    /// Ask cargo itself: the host's default registry is whatever cargo resolves.
    CargoIndex,
    /// Ask the container engine to search its registry (its own configuration).
    Engine,
    /// Ask rustup (`rustup check`): its default dist server is built into rustup.
    Rustup,
}

/// Every source of a profile: apt, toolchain, crates, base image registry, docker apt,
/// CA bundle, each installer artefact and git source.
pub fn sources(profile: &Profile) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    let host_suite = hostconf::HostRoot::default()
        .codename()
        .unwrap_or_else(|| "bookworm".into());
    let src = |kind, name: &str, url: String, required, probe| Source {
        kind,
        name: name.to_owned(),
        url,
        required,
        probe,
    };
    match &profile.apt {
        Apt::Archive { archive, security } => {
            out.push(src(
                "apt",
                "archive",
                archive.clone(),
                true,
                Probe::Http(format!("{archive}/dists/{host_suite}/Release")),
            ));
            if let Some(sec) = security {
                out.push(src(
                    "apt",
                    "security",
                    sec.clone(),
                    false,
                    Probe::Http(format!("{sec}/dists/{host_suite}-security/Release")),
                ));
            }
        }
        Apt::Flat { dir } => out.push(src(
            "apt",
            "flat repository (vendor)",
            format!("file:{}", dir.display()),
            true,
            Probe::Path(dir.join(&host_suite).join("Packages")),
        )),
    }
    match &profile.toolchain {
        Toolchain::Rustup {
            dist_server,
            update_root,
        } => {
            let server = dist_server.clone();
            out.push(src(
                "toolchain",
                "rustup dist server",
                server.clone().unwrap_or_else(|| {
                    "rustup's built-in default (host has no RUSTUP_DIST_SERVER)".into()
                }),
                false,
                match &server {
                    Some(s) => Probe::Http(format!("{s}/dist/channel-rust-stable.toml.sha256")),
                    None => Probe::Rustup,
                },
            ));
            if let Some(root) = update_root {
                out.push(src(
                    "toolchain",
                    "rustup update root",
                    root.clone(),
                    false,
                    Probe::Http(format!("{root}/release-stable.toml")),
                ));
            }
        }
        Toolchain::Mount => out.push(src(
            "toolchain",
            "host toolchain (mounted read-only)",
            host_sysroot().unwrap_or_else(|| "rustc not found on the host".into()),
            true,
            Probe::Path(PathBuf::from(host_sysroot().unwrap_or_default())),
        )),
    }
    match &profile.crates {
        Crates::Host {
            config,
            replaced_by,
        } => out.push(src(
            "crates",
            "host cargo configuration",
            match (config, replaced_by) {
                (Some(c), Some(r)) => format!("{r} (source replacement in {})", c.display()),
                (Some(c), None) => {
                    format!("cargo's default registry ({} replaces none)", c.display())
                }
                (None, _) => format!(
                    "cargo's default registry (no config.toml in {})",
                    hostconf::cargo_home().display()
                ),
            },
            true,
            Probe::CargoIndex,
        )),
        Crates::Registry { url } => {
            let http = url
                .trim_start_matches("sparse+")
                .trim_start_matches("registry+")
                .trim_end_matches('/')
                .to_owned();
            out.push(src(
                "crates",
                "registry mirror",
                url.clone(),
                true,
                Probe::Http(format!("{http}/config.json")),
            ))
        }
        Crates::Vendored { dir } => out.push(src(
            "crates",
            "vendored (cargo vendor)",
            format!("file:{}", dir.display()),
            true,
            Probe::Path(dir.clone()),
        )),
    }
    match &profile.registry {
        Registry::Engine => out.push(src(
            "registry",
            "base images",
            "the container engine's own registry and registry-mirrors".into(),
            false,
            Probe::Engine,
        )),
        Registry::Mirror { host } => out.push(src(
            "registry",
            "base images",
            format!("{host}/library/debian"),
            false,
            Probe::Http(format!("https://{host}/v2/")),
        )),
        Registry::Bootstrap => out.push(src(
            "registry",
            "base images",
            "none: debootstrap (or the vendored rootfs) + import".into(),
            false,
            match &profile.vendor {
                Some(v) => Probe::Path(v.join("rootfs")),
                None => Probe::Path(PathBuf::from("/usr/sbin/debootstrap")),
            },
        )),
    }
    for m in &profile.registry_mirrors {
        out.push(src(
            "daemon",
            "registry-mirrors",
            m.clone(),
            false,
            Probe::Http(format!("{}/v2/", m.trim_end_matches('/'))),
        ));
    }
    for m in &profile.insecure_registries {
        out.push(src(
            "daemon",
            "insecure-registries",
            m.clone(),
            false,
            Probe::Http(format!("http://{m}/v2/")),
        ));
    }
    if let Some(d) = &profile.docker_apt {
        out.push(src(
            "docker-apt",
            "install script repository",
            d.clone(),
            false,
            Probe::Http(format!("{d}/gpg")),
        ));
    }
    out.push(src(
        "ca",
        "CA bundle for build containers",
        profile.ca_bundle.display().to_string(),
        true,
        Probe::Path(profile.ca_bundle.clone()),
    ));
    for host in profile.git.keys() {
        out.push(src(
            "git",
            &format!("{host} rewrite"),
            profile.git[host].clone(),
            false,
            Probe::Http(String::new()),
        ));
    }
    out.retain(|s| !matches!(&s.probe, Probe::Http(u) if u.is_empty()));
    for installer in installers::all()? {
        for artefact in &installer.artefacts {
            let url = installers::artefact_url(profile, artefact);
            let probe = match url.strip_prefix("file:") {
                Some(p) => Probe::Path(PathBuf::from(p)),
                None => Probe::Http(url.clone()),
            };
            out.push(src(
                "installer",
                &format!("{} {}", installer.name, artefact.file),
                url,
                false,
                probe,
            ));
        }
        if let Some(git) = &installer.git {
            let url = profile.rewrite_git(&git.url);
            out.push(src(
                "git",
                &format!("{} {} ({})", installer.name, git.tag, &git.commit[..12]),
                url.clone(),
                false,
                Probe::Http(format!("{url}/info/refs?service=git-upload-pack")),
            ));
        }
    }
    Ok(out)
}

/// The host toolchain's sysroot (`rustc --print sysroot`), which `local` mounts.
pub fn host_sysroot() -> Option<String> {
    duct::cmd!("rustc", "--print", "sysroot")
        .stderr_null()
        .read()
        .ok()
        .map(|s| s.trim().to_owned())
}
