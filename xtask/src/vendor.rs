//! `cargo xtask vendor`: every external input of a build in one directory, so that the
//! `local` mirror profile builds with no network at all. The directory holds
//!
//!     crates/                 `cargo vendor` of the workspace
//!     apt/<suite>/            a flat apt repository per distro (Packages index): the
//!                             dev/build image dependencies and the verify rootfs
//!                             dependencies, with everything they pull in
//!     rootfs/debian-<suite>.tar   bootstrapped minbase rootfs per distro
//!     installers/<file>       every installer artefact, sha256-verified
//!     manifest.toml           every item above with its sha256
//!
//! `--check` compares a directory with what the tree needs and lists what is missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::distro::{self, Distro};
use crate::mirror::{self, Apt, Profile};
use crate::{host, installers, project, step};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to gather the inputs, relative to the workspace root (default: vendor/;
    /// with --check, the selected profile's vendor directory)
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only check that the directory holds everything the tree needs
    #[arg(long)]
    check: bool,
    /// Limit the apt repositories and rootfs tarballs to these distros (default: all)
    #[arg(long)]
    distro: Vec<String>,
}

pub fn run(args: Args) -> Result<()> {
    let distros = distro::select(&args.distro)?;
    if args.check {
        let out = match &args.out {
            Some(dir) => project::root().join(dir),
            None => mirror::selected()?
                .vendor
                .unwrap_or_else(|| project::root().join("vendor")),
        };
        check(&out, &distros)?;
        step(format_args!("{} is complete", out.display()));
        return Ok(());
    }
    let out = project::root().join(args.out.as_deref().unwrap_or("vendor".as_ref()));
    let profile = mirror::selected()?;
    if profile.vendor.is_some() {
        bail!(
            "`cargo xtask vendor` downloads through a network profile, not {:?}; pass e.g. --mirror upstream",
            profile.name
        );
    }
    host::ensure(&[
        host::Tool {
            program: "dpkg-scanpackages",
            package: "dpkg-dev",
            why: "the index of the vendored apt repository",
        },
        host::Tool {
            program: "apt-get",
            package: "apt",
            why: "downloading Debian packages",
        },
    ])?;
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut manifest = Manifest::default();

    step("cargo vendor (crates of the workspace)");
    let crates = out.join("crates");
    let vendored = duct::cmd!(
        "cargo",
        "vendor",
        "--locked",
        "--versioned-dirs",
        "--manifest-path",
        project::root().join("Cargo.toml"),
        &crates
    )
    .stdout_null()
    .stderr_capture()
    .unchecked()
    .run()
    .context("cannot run cargo vendor")?;
    if !vendored.status.success() {
        bail!(
            "cargo vendor failed: {}",
            String::from_utf8_lossy(&vendored.stderr).trim()
        );
    }
    for entry in std::fs::read_dir(&crates)? {
        let dir = entry?.path();
        let sum = crate_checksum(&dir).unwrap_or_default();
        manifest.insert(&out, &dir, sum);
    }

    for distro in &distros {
        let tar = crate::rootfs::tarball(&profile, &distro.suite)?;
        let dest = out
            .join("rootfs")
            .join(format!("debian-{}.tar", distro.suite));
        std::fs::create_dir_all(dest.parent().unwrap())?;
        copy_if_changed(&tar, &dest)?;
        manifest.insert_file(&out, &dest)?;

        step(format_args!("apt packages for {}", distro.name));
        let repo = out.join("apt").join(&distro.suite);
        apt_repository(&profile, distro, &dest, &repo)?;
        for entry in std::fs::read_dir(&repo)? {
            let path = entry?.path();
            manifest.insert_file(&out, &path)?;
        }
    }

    step("installer artefacts");
    let inst_dir = out.join("installers");
    std::fs::create_dir_all(&inst_dir)?;
    for installer in installers::all()? {
        for artefact in &installer.artefacts {
            let cached = installers::fetch(&profile, artefact)?;
            let dest = inst_dir.join(&artefact.file);
            copy_if_changed(&cached, &dest)?;
            manifest.insert_file(&out, &dest)?;
        }
    }

    let text = toml::to_string(&manifest)?;
    std::fs::write(out.join("manifest.toml"), text)?;
    step(format_args!(
        "{} items in {} (manifest.toml); build offline with `--mirror local`",
        manifest.item.len(),
        out.display()
    ));
    Ok(())
}

/// The manifest of a vendor directory: relative path → sha256.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Manifest {
    pub item: BTreeMap<String, String>,
}

impl Manifest {
    fn insert(&mut self, root: &Path, path: &Path, sum: String) {
        let rel = path
            .strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string();
        self.item.insert(rel, sum);
    }

    fn insert_file(&mut self, root: &Path, path: &Path) -> Result<()> {
        let sum = installers::sha256_file(path)?;
        self.insert(root, path, sum);
        Ok(())
    }
}

/// The package checksum `cargo vendor` records for a crate (`.cargo-checksum.json`).
fn crate_checksum(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(".cargo-checksum.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["package"].as_str().map(str::to_owned)
}

fn copy_if_changed(from: &Path, to: &Path) -> Result<()> {
    let same = to.is_file()
        && std::fs::metadata(from)?.len() == std::fs::metadata(to)?.len()
        && installers::sha256_file(from)? == installers::sha256_file(to)?;
    if !same {
        let tmp = to.with_extension("part");
        std::fs::copy(from, &tmp)
            .with_context(|| format!("cannot copy {} to {}", from.display(), tmp.display()))?;
        std::fs::rename(&tmp, to)?;
    }
    Ok(())
}

/// The Debian packages the images and the verify rootfs install: the dev image's build
/// dependencies and the dependencies debian/control declares on other distro packages.
pub fn apt_packages() -> Result<Vec<String>> {
    let mut names: Vec<String> = installers::find("dev-image-deps")?
        .artefacts
        .iter()
        .filter_map(|a| a.debian.as_ref().map(|d| d.package.clone()))
        .collect();
    let control = project::root().join("debian/control");
    if let Ok(text) = std::fs::read_to_string(&control) {
        // Our own packages (control's and the manifest's) are built, not downloaded.
        let ours: Vec<String> = crate::manifest::binaries()?
            .into_iter()
            .map(|b| b.package)
            .collect();
        names.extend(
            control_depends(&text)
                .into_iter()
                .filter(|n| !ours.contains(n)),
        );
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// `Depends`/`Pre-Depends` of debian/control naming distro packages (not our own, not
/// substitution variables): the first alternative of each, without version constraints.
fn control_depends(text: &str) -> Vec<String> {
    let ours: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("Package:").map(|p| p.trim().to_owned()))
        .collect();
    let mut names = Vec::new();
    let mut in_depends = false;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let value = if let Some(v) = line
            .strip_prefix("Depends:")
            .or_else(|| line.strip_prefix("Pre-Depends:"))
        {
            in_depends = true;
            v
        } else if in_depends && line.starts_with(char::is_whitespace) {
            line
        } else {
            in_depends = false;
            continue;
        };
        for dep in value.split(',') {
            let first = dep.split('|').next().unwrap_or("").trim();
            let name = first.split([' ', '(']).next().unwrap_or("").trim();
            if name.is_empty() || name.starts_with("${") || ours.iter().any(|o| o == name) {
                continue;
            }
            names.push(name.to_owned());
        }
    }
    names
}

/// Download the packages (with every dependency the base rootfs lacks) for one suite
/// into a flat repository and index it. apt runs with its own lists and cache, so the
/// host's apt state is never touched.
fn apt_repository(
    profile: &Profile,
    distro: &Distro,
    rootfs_tar: &Path,
    repo: &Path,
) -> Result<()> {
    let Apt::Archive { .. } = &profile.apt else {
        bail!("the profile has no Debian archive to download from");
    };
    let work = tempfile::tempdir()?;
    let w = work.path();
    for d in [
        "lists/partial",
        "cache/archives/partial",
        "etc/preferences.d",
        "etc/sources.list.d",
    ] {
        std::fs::create_dir_all(w.join(d))?;
    }
    std::fs::write(
        w.join("etc/sources.list"),
        profile.apt_lines(&distro.suite).join("\n") + "\n",
    )?;
    // The base image's package status, so only what it lacks is downloaded.
    duct::cmd!("tar", "-xf", rootfs_tar, "-C", w, "./var/lib/dpkg/status")
        .run()
        .with_context(|| format!("{} has no dpkg status", rootfs_tar.display()))?;
    let status = w.join("var/lib/dpkg/status");
    let opts: Vec<String> = vec![
        format!(
            "-oDir::Etc::SourceList={}",
            w.join("etc/sources.list").display()
        ),
        format!(
            "-oDir::Etc::SourceParts={}",
            w.join("etc/sources.list.d").display()
        ),
        format!(
            "-oDir::Etc::Preferences={}",
            w.join("etc/preferences").display()
        ),
        format!(
            "-oDir::Etc::PreferencesParts={}",
            w.join("etc/preferences.d").display()
        ),
        format!("-oDir::State::Lists={}", w.join("lists").display()),
        format!("-oDir::State::status={}", status.display()),
        format!("-oDir::Cache={}", w.join("cache").display()),
        "-oAPT::Architecture=amd64".into(),
        "-oAPT::Install-Recommends=false".into(),
        "-oAcquire::Languages=none".into(),
        "-oDebug::NoLocking=true".into(),
    ];
    let mut update = opts.clone();
    update.extend(["update".into(), "-q".into()]);
    duct::cmd("apt-get", &update)
        .stdout_null()
        .run()
        .with_context(|| {
            format!(
                "apt-get update for {} failed; run `cargo xtask mirror check`",
                distro.suite
            )
        })?;
    let mut install = opts;
    install.extend([
        "install".into(),
        "--download-only".into(),
        "-y".into(),
        "-q".into(),
    ]);
    install.extend(apt_packages()?);
    duct::cmd("apt-get", &install)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout_null()
        .run()
        .with_context(|| format!("downloading the {} packages failed", distro.suite))?;
    std::fs::create_dir_all(repo)?;
    for entry in std::fs::read_dir(w.join("cache/archives"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "deb") {
            copy_if_changed(&path, &repo.join(path.file_name().unwrap()))?;
        }
    }
    let index = duct::cmd!("dpkg-scanpackages", "--multiversion", ".", "/dev/null")
        .dir(repo)
        .stderr_null()
        .read()
        .context("dpkg-scanpackages failed")?;
    std::fs::write(repo.join("Packages"), index + "\n")?;
    Ok(())
}

/// What a vendor directory lacks for the given distros: every item of its manifest,
/// and the items the tree needs whatever the manifest says.
pub fn missing(dir: &Path, distros: &[Distro]) -> Result<Vec<String>> {
    let mut missing = Vec::new();
    let manifest_path = dir.join("manifest.toml");
    match std::fs::read_to_string(&manifest_path) {
        Ok(text) => {
            let manifest: Manifest = toml::from_str(&text)
                .with_context(|| format!("{} does not parse", manifest_path.display()))?;
            for rel in manifest.item.keys() {
                if !dir.join(rel).exists() {
                    missing.push(rel.clone());
                }
            }
        }
        Err(_) => missing.push("manifest.toml".into()),
    }
    let mut need = vec!["crates".to_owned()];
    for d in distros {
        need.push(format!("rootfs/debian-{}.tar", d.suite));
        need.push(format!("apt/{}/Packages", d.suite));
    }
    for installer in installers::all()? {
        for a in installer.artefacts {
            need.push(format!("installers/{}", a.file));
        }
    }
    for rel in need {
        if !dir.join(&rel).exists() && !missing.contains(&rel) {
            missing.push(rel);
        }
    }
    Ok(missing)
}

/// Fail, listing every missing item, unless the directory is complete.
pub fn check(dir: &Path, distros: &[Distro]) -> Result<()> {
    let missing = missing(dir, distros)?;
    if !missing.is_empty() {
        bail!(
            "the vendor directory {} is incomplete; missing: {}; run `cargo xtask vendor --out {}` with a network profile",
            dir.display(),
            missing.join(", "),
            dir.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_depends_names_distro_packages_only() {
        let text = "Package: a\nPre-Depends: init-system-helpers (>= 1.54~)\nDepends: b (>= 1),\n         iptables,\n         nftables | x,\n         ${shlibs:Depends}\nRecommends: git\n\nPackage: b\nDepends: dbus-user-session,\n ${shlibs:Depends}\n";
        assert_eq!(
            control_depends(text),
            [
                "init-system-helpers",
                "iptables",
                "nftables",
                "dbus-user-session"
            ]
        );
    }

    #[test]
    fn an_incomplete_vendor_dir_lists_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let distros = distro::select(&["debian-bookworm".into()]).unwrap();
        std::fs::create_dir_all(dir.path().join("crates")).unwrap();
        std::fs::create_dir_all(dir.path().join("rootfs")).unwrap();
        std::fs::write(dir.path().join("rootfs/debian-bookworm.tar"), b"").unwrap();
        std::fs::write(
            dir.path().join("manifest.toml"),
            "[item]\n\"crates/foo-1.0.0\" = \"ab\"\n\"rootfs/debian-bookworm.tar\" = \"cd\"\n",
        )
        .unwrap();
        let err = check(dir.path(), &distros).unwrap_err().to_string();
        assert!(err.contains("crates/foo-1.0.0"), "{err}");
        assert!(err.contains("apt/bookworm/Packages"), "{err}");
        assert!(
            err.contains("installers/tini_0.19.0-1+b3_amd64.deb"),
            "{err}"
        );
        assert!(!err.contains("rootfs/debian-bookworm.tar,"), "{err}");
    }
}
