//! `cargo xtask release`: the main job. Image, build, static tarball, packages for every
//! distro and their verification, then `SHA256SUMS` and the changelog.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::{deb, distro, host, image, project, static_tarball, step, verify};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Distro to release for (repeatable); default every supported distro
    #[arg(long)]
    distro: Vec<String>,
    /// Packages of the previous release to upgrade from in verify (see `verify --previous`)
    #[arg(long, value_name = "DIR")]
    previous: Option<PathBuf>,
    #[command(flatten)]
    place: crate::build::Place,
}

pub fn run(args: Args) -> Result<()> {
    let distros = distro::select(&args.distro)?;
    host::ensure(host::RELEASE)?;
    if let Some(previous) = &args.previous {
        // before the long build: a wrong directory should not cost a release's time
        for d in &distros {
            verify::previous_debs(previous, d)?;
        }
    }
    if !args.place.host {
        step("dev-container image");
        image::run(image::Args {
            distro: None,
            engine: args.place.engine.clone(),
        })?;
    }
    step("static binaries and tarball");
    static_tarball::run(static_tarball::Args {
        place: args.place.clone(),
    })?;
    step("Debian packages");
    deb::run(deb::Args::for_distros(args.distro.clone(), args.place))?;
    step("verify the packages");
    verify::run(verify::Args {
        distro: args.distro,
        previous: args.previous,
    })?;
    let bundles = project::bundles_dir()?;
    step("changelog");
    let changelog = write_changelog(&bundles, &distros)?;
    step("SHA256SUMS");
    let sums = write_sha256sums(&bundles)?;
    println!("{}", changelog.display());
    println!("{}", sums.display());
    Ok(())
}

/// `bundles/<version>/CHANGELOG.md`: the commits since the last tag and the Debian
/// changelog entry each distro's packages carry.
fn write_changelog(bundles: &Path, distros: &[distro::Distro]) -> Result<PathBuf> {
    let root = project::root();
    let version = project::version()?;
    let source = project::source()?;
    let git = |args: &[&str]| {
        duct::cmd("git", args)
            .dir(&root)
            .stderr_null()
            .read()
            .with_context(|| format!("`git {}` failed", args.join(" ")))
    };
    let since = git(&["describe", "--tags", "--abbrev=0"]).ok();
    let range = since.as_deref().map(|t| format!("{t}..HEAD"));
    let mut log_args = vec!["log", "--no-merges", "--format=- %s (%h)"];
    if let Some(range) = &range {
        log_args.push(range);
    }
    let log = git(&log_args)?;
    let mut text = format!(
        "# {version} (commit {})\n\n## Changes since {}\n\n{log}\n\n## Debian packages\n",
        source.commit,
        since.as_deref().unwrap_or("the first commit")
    );
    for d in distros {
        let deb_version = deb::package_version(None, &version, &source, d);
        let entry = deb::changelog_entry(
            "docker-ce",
            &deb_version,
            d,
            &source,
            &version,
            "Docker <support@docker.com>",
        );
        text.push_str(&format!("\n### {}\n\n```\n{entry}```\n", d.name));
    }
    let path = bundles.join("CHANGELOG.md");
    deb::write_atomically(&path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// `SHA256SUMS` over every artefact under `bundles`, in `sha256sum --check` format,
/// sorted by path. The intermediate `binary/` and `binary-static/` directories are not
/// artefacts.
fn write_sha256sums(bundles: &Path) -> Result<PathBuf> {
    let mut files = Vec::new();
    collect_files(bundles, bundles, &mut files)?;
    files.retain(|rel| {
        rel != "SHA256SUMS"
            && !rel.starts_with("binary/")
            && !rel.starts_with("binary-static/")
            && !rel.contains("/.")
            && !rel.starts_with('.')
    });
    files.sort();
    let mut text = String::new();
    for rel in &files {
        let bytes =
            std::fs::read(bundles.join(rel)).with_context(|| format!("cannot read {rel}"))?;
        let sum: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        text.push_str(&format!("{sum}  {rel}\n"));
    }
    let path = bundles.join("SHA256SUMS");
    deb::write_atomically(&path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

fn collect_files(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect_files(base, &path, out)?;
        } else {
            out.push(path.strip_prefix(base).unwrap().display().to_string());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256sums_checks_with_sha256sum_and_skips_intermediates() {
        let dir = tempfile::tempdir().unwrap();
        let b = dir.path();
        for (rel, data) in [
            ("deb/debian-bookworm/docker-ce_1_amd64.deb", "deb"),
            ("static/x86_64/docker-1.tgz", "tgz"),
            ("CHANGELOG.md", "log"),
            ("binary/dockerd", "intermediate"),
            ("binary-static/dockerd", "intermediate"),
            ("deb/debian-bookworm/.x.deb.partial", "half"),
        ] {
            std::fs::create_dir_all(b.join(rel).parent().unwrap()).unwrap();
            std::fs::write(b.join(rel), data).unwrap();
        }
        let sums = write_sha256sums(b).unwrap();
        let text = std::fs::read_to_string(&sums).unwrap();
        let names: Vec<&str> = text
            .lines()
            .map(|l| l.split_once("  ").unwrap().1)
            .collect();
        assert_eq!(
            names,
            [
                "CHANGELOG.md",
                "deb/debian-bookworm/docker-ce_1_amd64.deb",
                "static/x86_64/docker-1.tgz"
            ]
        );
        duct::cmd!("sha256sum", "--check", "--strict", "--quiet", "SHA256SUMS")
            .dir(b)
            .run()
            .unwrap();
        // a changed artefact no longer checks
        std::fs::write(b.join("static/x86_64/docker-1.tgz"), "other").unwrap();
        assert!(duct::cmd!("sha256sum", "--check", "--quiet", "SHA256SUMS")
            .dir(b)
            .stdout_null()
            .stderr_null()
            .run()
            .is_err());
    }

    #[test]
    fn changelog_lists_commits_and_each_distros_entry() {
        let dir = tempfile::tempdir().unwrap();
        let distros = distro::all().unwrap();
        let path = write_changelog(dir.path(), &distros).unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        let subject = duct::cmd!("git", "log", "-1", "--format=%s")
            .dir(project::root())
            .read()
            .unwrap();
        assert!(text.contains(&format!("- {subject} (")), "{text}");
        for d in &distros {
            assert!(text.contains(&format!("### {}", d.name)), "{text}");
            assert!(
                text.contains(&format!(") {}; urgency=medium", d.suite)),
                "{text}"
            );
        }
    }
}
