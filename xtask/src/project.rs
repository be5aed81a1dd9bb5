//! Facts about the checkout: where it is, its version, and the git commit it builds.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use buildinfo::{Source, Version};

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// The parsed `VERSION` file.
pub fn version() -> Result<Version> {
    let path = root().join("VERSION");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {}: the tree needs a VERSION file",
            path.display()
        )
    })?;
    Version::parse(&text).with_context(|| format!("{} does not parse", path.display()))
}

/// The raw `VERSION` text (e.g. `26.11.0-dev`), which names `bundles/<version>/`.
pub fn version_string() -> Result<String> {
    Ok(version()?.to_string())
}

/// The commit this tree builds and whether it has local changes. Commit abbreviations
/// are fixed at 7 digits (not git's auto length, which differs between clones) so that
/// two clones of one commit compute the same versions.
pub fn source() -> Result<Source> {
    let root = root();
    let git = |args: &[&str]| -> Result<String> {
        duct::cmd("git", args)
            .dir(&root)
            .stderr_capture()
            .read()
            .with_context(|| format!("`git {}` failed in {}", args.join(" "), root.display()))
    };
    let commit = git(&["rev-parse", "--short=7", "HEAD"]).context(
        "the tree has no git commit; build from a git clone, or set WORKSPACE_GIT_COMMIT and SOURCE_DATE_EPOCH",
    );
    let commit = match (commit, std::env::var("WORKSPACE_GIT_COMMIT")) {
        (_, Ok(c)) if !c.is_empty() => c,
        (c, _) => c?,
    };
    let commit_time = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) if !s.trim().is_empty() => s
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={s:?} is not a number of seconds"))?,
        _ => git(&["log", "-1", "--pretty=%ct"])?
            .parse()
            .context("git printed a bad commit time")?,
    };
    let dirty = !git(&["status", "--porcelain"])
        .unwrap_or_default()
        .is_empty();
    Ok(Source {
        commit,
        commit_time,
        dirty,
    })
}

/// `bundles/<version>/`, where every output of a build lands.
/// Remove the files `<prefix>*<suffix>` in `dir` except `keep`: what earlier builds of the
/// same version left there, so that a bundle (and its SHA256SUMS) holds only this build.
pub fn remove_stale(dir: &Path, prefix: &str, suffix: &str, keep: Option<&str>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(prefix) && name.ends_with(suffix) && Some(name.as_str()) != keep {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("cannot remove {}", entry.path().display()))?;
        }
    }
    Ok(())
}

pub fn bundles_dir() -> Result<PathBuf> {
    Ok(root().join("bundles").join(version_string()?))
}

/// The environment every build step gets, so that stamps and timestamps agree.
pub fn build_env(source: &Source) -> Vec<(&'static str, String)> {
    vec![
        ("WORKSPACE_GIT_COMMIT", source.commit.clone()),
        ("SOURCE_DATE_EPOCH", source.commit_time.to_string()),
    ]
}
