//! Reads the release version from the workspace's `VERSION` file and the build stamp
//! (git commit, build time, rustc) so every binary's `--version` says the same thing.
//!
//! Inputs, in order of precedence: `WORKSPACE_GIT_COMMIT` (set by `cargo xtask` and by
//! builds from a source tarball without `.git`), else `git rev-parse`; the build time is
//! `SOURCE_DATE_EPOCH`, else the commit time, so two builds of one commit agree.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.join("../..");
    let version_file = root.join("VERSION");
    println!("cargo:rerun-if-changed={}", version_file.display());
    println!("cargo:rerun-if-env-changed=WORKSPACE_GIT_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    watch_git_head(&root);

    let version = std::fs::read_to_string(&version_file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", version_file.display()));
    let version = version.trim();

    let commit = std::env::var("WORKSPACE_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&root, &["rev-parse", "--short=7", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    let epoch: u64 = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .or_else(|| git(&root, &["log", "-1", "--pretty=%ct"]).and_then(|s| s.parse().ok()))
        .unwrap_or(0);
    let built = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(epoch));
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "rustc unknown".into());

    println!("cargo:rustc-env=BUILDINFO_VERSION={version}");
    println!("cargo:rustc-env=BUILDINFO_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=BUILDINFO_BUILD_EPOCH={epoch}");
    println!("cargo:rustc-env=BUILDINFO_BUILD_TIME={built}");
    println!("cargo:rustc-env=BUILDINFO_RUSTC={rustc_version}");
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

/// Rebuild when HEAD moves, so a plain `cargo build` after a commit stamps the new one.
fn watch_git_head(root: &Path) {
    let Some(git_dir) = git(root, &["rev-parse", "--absolute-git-dir"]) else {
        return;
    };
    let git_dir = PathBuf::from(git_dir);
    let head = git_dir.join("HEAD");
    println!("cargo:rerun-if-changed={}", head.display());
    if let Ok(text) = std::fs::read_to_string(&head) {
        if let Some(reference) = text.trim().strip_prefix("ref: ") {
            println!(
                "cargo:rerun-if-changed={}",
                git_dir.join(reference).display()
            );
        }
    }
    println!(
        "cargo:rerun-if-changed={}",
        git_dir.join("packed-refs").display()
    );
}
