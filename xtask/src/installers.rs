//! `installers/*.toml`: the external components this workspace does not build (tini as
//! `docker-init`, rootlesskit, slirp4netns, the dev image's Debian build dependencies),
//! each pinned by version and by the sha256 of every artefact. Artefacts are fetched
//! through the selected mirror profile, never used unverified; `cargo xtask installers
//! verify` re-checks every pin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::mirror::{self, Apt, Profile};
use crate::{project, step};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Fetch every artefact through the selected mirror profile and check its sha256
    Verify,
    /// Unpack one component's files (e.g. tini's docker-init) into a directory
    Unpack {
        /// The installer's name (its file name in installers/ without .toml)
        name: String,
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(args: Args) -> Result<()> {
    let profile = mirror::selected()?;
    match args.command {
        Command::Verify => verify(&profile),
        Command::Unpack { name, out } => {
            let installer = find(&name)?;
            for path in unpack(&profile, &installer, &out)? {
                println!("{}", path.display());
            }
            Ok(())
        }
    }
}

/// One `installers/NAME.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Installer {
    pub name: String,
    pub version: String,
    /// The package it lands in (`docker-ce`, ...), or `dev-image`.
    pub package: String,
    /// The upstream source, pinned by tag and commit (rewritten by the profile's git hosts).
    pub git: Option<GitSource>,
    #[serde(rename = "artefact", default)]
    pub artefacts: Vec<Artefact>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GitSource {
    pub url: String,
    pub tag: String,
    pub commit: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Artefact {
    /// The file name it is stored under (cache, vendor directory).
    pub file: String,
    pub sha256: String,
    /// Exactly one source: a Debian package, a URL (its git host rewritten by the
    /// profile), or a local directory relative to the workspace root.
    pub debian: Option<DebianSource>,
    pub url: Option<String>,
    pub dir: Option<String>,
    pub unpack: Unpack,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DebianSource {
    pub package: String,
    pub version: String,
    pub suite: String,
    /// The path below the archive root (`pool/main/...`).
    pub pool: String,
    /// `main` (default) or `security`: which archive of the profile holds it.
    #[serde(default)]
    pub archive: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Unpack {
    /// `deb` (extract `files` from the package), `file` (the artefact is the file),
    /// `apt-install` (installed by apt in an image, pinned to its version).
    pub format: String,
    /// Path inside the artefact → installed name.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallerError {
    #[error("checksum mismatch for {file}: expected sha256 {expected}, got {actual} (from {from}); the download was removed, check the mirror or the pin in installers/")]
    Mismatch {
        file: String,
        expected: String,
        actual: String,
        from: String,
    },
    #[error("{path}: artefact {file} {problem}")]
    Invalid {
        path: String,
        file: String,
        problem: String,
    },
}

/// Every installer in `installers/`, sorted by name, each checked for a well-formed pin.
pub fn all() -> Result<Vec<Installer>> {
    let dir = project::root().join("installers");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths.iter().map(|p| load(p)).collect()
}

fn load(path: &Path) -> Result<Installer> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let installer: Installer =
        toml::from_str(&text).with_context(|| format!("{} does not parse", path.display()))?;
    let shown = format!("installers/{}", path.file_name().unwrap().to_string_lossy());
    for a in &installer.artefacts {
        let invalid = |problem: &str| InstallerError::Invalid {
            path: shown.clone(),
            file: a.file.clone(),
            problem: problem.to_owned(),
        };
        let sources = [a.debian.is_some(), a.url.is_some(), a.dir.is_some()];
        if sources.iter().filter(|s| **s).count() != 1 {
            return Err(invalid("needs exactly one source: debian, url or dir").into());
        }
        if a.sha256.len() != 64 || !a.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(invalid("has no valid sha256 pin (64 hex digits)").into());
        }
        if a.file.contains('/') {
            return Err(invalid("file must be a plain file name").into());
        }
        if !["deb", "file", "apt-install"].contains(&a.unpack.format.as_str()) {
            return Err(invalid("unpack.format must be deb, file or apt-install").into());
        }
    }
    Ok(installer)
}

pub fn find(name: &str) -> Result<Installer> {
    let all = all()?;
    let known: Vec<String> = all.iter().map(|i| i.name.clone()).collect();
    all.into_iter().find(|i| i.name == name).with_context(|| {
        format!(
            "unknown installer {name:?}; known installers: {}",
            known.join(", ")
        )
    })
}

/// Where an artefact comes from under a profile: a URL (`file:` for vendored ones).
pub fn artefact_url(profile: &Profile, artefact: &Artefact) -> String {
    if let Some(vendor) = &profile.vendor {
        return format!(
            "file:{}",
            vendor.join("installers").join(&artefact.file).display()
        );
    }
    if let Some(deb) = &artefact.debian {
        return match &profile.apt {
            Apt::Archive { archive, security } => {
                let root = match deb.archive.as_deref() {
                    Some("security") => security.as_deref().unwrap_or(archive),
                    _ => archive,
                };
                format!("{root}/{}", deb.pool)
            }
            Apt::Flat { dir } => format!("file:{}", dir.join(&artefact.file).display()),
        };
    }
    if let Some(url) = &artefact.url {
        return profile.rewrite_git(url);
    }
    let dir = artefact.dir.as_deref().unwrap_or_default();
    format!(
        "file:{}",
        project::root().join(dir).join(&artefact.file).display()
    )
}

/// The cache every verified artefact is kept in (outside the tree).
pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache")
        });
    base.join("workspace")
}

/// The sha256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hex(&hasher.finalize()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Check a file against its pin: a mismatch is a hard error naming both sums.
pub fn check_sum(path: &Path, file: &str, expected: &str, from: &str) -> Result<()> {
    let actual = sha256_file(path)?;
    if actual != expected {
        return Err(InstallerError::Mismatch {
            file: file.to_owned(),
            expected: expected.to_owned(),
            actual,
            from: from.to_owned(),
        }
        .into());
    }
    Ok(())
}

/// The artefact, verified, in the cache: downloaded through the profile unless a
/// verified copy is there already.
pub fn fetch(profile: &Profile, artefact: &Artefact) -> Result<PathBuf> {
    let dir = cache_dir().join("installers");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dest = dir.join(&artefact.file);
    if dest.is_file() && sha256_file(&dest)? == artefact.sha256 {
        return Ok(dest);
    }
    let url = artefact_url(profile, artefact);
    let tmp = dir.join(format!(".{}.part", artefact.file));
    download(&url, &tmp)?;
    if let Err(err) = check_sum(&tmp, &artefact.file, &artefact.sha256, &url) {
        let _ = std::fs::remove_file(&tmp);
        return Err(err);
    }
    std::fs::rename(&tmp, &dest)?;
    Ok(dest)
}

/// Download one URL (http(s) or `file:`) to a file; a failure names the URL, the error
/// and the command that probes the profile's sources.
pub fn download(url: &str, dest: &Path) -> Result<()> {
    if let Some(path) = url.strip_prefix("file:") {
        return std::fs::copy(path, dest).map(|_| ()).with_context(|| {
            format!("cannot copy {path}: the vendor directory lacks it; rerun `cargo xtask vendor`")
        });
    }
    let out = duct::cmd!(
        "curl",
        "-fsSL",
        "--connect-timeout",
        "10",
        "--max-time",
        "600",
        "-o",
        dest,
        url
    )
    .stderr_capture()
    .stdout_null()
    .unchecked()
    .run()
    .context("cannot run curl (apt-get install curl)")?;
    if !out.status.success() {
        let _ = std::fs::remove_file(dest);
        bail!(
            "cannot download {url}: {}; run `cargo xtask mirror check` to see which sources are reachable",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn verify(profile: &Profile) -> Result<()> {
    let installers = all()?;
    let mut count = 0;
    for installer in &installers {
        for artefact in &installer.artefacts {
            let path = fetch(profile, artefact)?;
            println!(
                "ok  {:<16} {:<48} {}",
                installer.name,
                artefact.file,
                &artefact.sha256[..16]
            );
            let _ = path;
            count += 1;
        }
    }
    step(format_args!(
        "{count} artefacts of {} installers match their sha256 pins (profile {})",
        installers.len(),
        profile.name
    ));
    Ok(())
}

/// Fetch an installer's artefacts and put the files it ships into `out` under their
/// installed names. Returns the installed paths.
pub fn unpack(profile: &Profile, installer: &Installer, out: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut installed = Vec::new();
    for artefact in &installer.artefacts {
        let path = fetch(profile, artefact)?;
        match artefact.unpack.format.as_str() {
            "deb" => {
                let tmp = tempfile::tempdir()?;
                duct::cmd!("dpkg-deb", "-x", &path, tmp.path())
                    .run()
                    .with_context(|| format!("dpkg-deb cannot unpack {}", path.display()))?;
                for (inside, name) in &artefact.unpack.files {
                    let from = tmp.path().join(inside);
                    let to = out.join(name);
                    std::fs::copy(&from, &to).with_context(|| {
                        format!(
                            "{} has no {inside} (installers/{}.toml)",
                            artefact.file, installer.name
                        )
                    })?;
                    installed.push(to);
                }
            }
            "file" => {
                for name in artefact.unpack.files.values() {
                    let to = out.join(name);
                    std::fs::copy(&path, &to)?;
                    installed.push(to);
                }
            }
            _ => bail!(
                "{} is installed by apt in an image (unpack.format = apt-install), not unpacked",
                artefact.file
            ),
        }
    }
    Ok(installed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_installer_parses_with_valid_pins() {
        let all = all().unwrap();
        let names: Vec<&str> = all.iter().map(|i| i.name.as_str()).collect();
        for want in ["tini", "rootlesskit", "slirp4netns", "dev-image-deps"] {
            assert!(names.contains(&want), "installers/ lacks {want}: {names:?}");
        }
        let tini = all.iter().find(|i| i.name == "tini").unwrap();
        assert_eq!(tini.package, "docker-ce");
        assert_eq!(
            tini.artefacts[0]
                .unpack
                .files
                .get("usr/bin/tini-static")
                .map(String::as_str),
            Some("docker-init")
        );
    }

    #[test]
    fn checksum_mismatch_names_file_expected_and_actual() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.deb");
        std::fs::write(&path, b"hello").unwrap();
        let want = "0".repeat(64);
        let err = check_sum(&path, "x.deb", &want, "file:x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("checksum mismatch for x.deb"), "{err}");
        assert!(err.contains(&want), "{err}");
        // sha256("hello")
        assert!(
            err.contains("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"),
            "{err}"
        );
        check_sum(
            &path,
            "x.deb",
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
            "file:x",
        )
        .unwrap();
    }

    #[test]
    fn an_unreachable_mirror_names_the_url_the_error_and_mirror_check() {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let dir = tempfile::tempdir().unwrap();
        let url = format!("http://127.0.0.1:{port}/debian/pool/main/t/tini/x.deb");
        let dest = dir.path().join("x.deb");
        let err = download(&url, &dest).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("cannot download {url}: curl: (7)")),
            "{err}"
        );
        assert!(err.contains("run `cargo xtask mirror check`"), "{err}");
        assert!(!dest.exists(), "a failed download left {}", dest.display());
    }

    #[test]
    fn a_pin_without_a_checksum_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(
            &path,
            "name = \"bad\"\nversion = \"1\"\npackage = \"docker-ce\"\n[[artefact]]\nfile = \"a\"\nsha256 = \"abc\"\nurl = \"https://example.org/a\"\nunpack = { format = \"file\" }\n",
        )
        .unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("no valid sha256 pin"), "{err}");
    }
}
