//! The offline proof of the mirror profiles: a release of one distro made with the network
//! cut off (`unshare -n` on the host side, `--network none` for the build containers),
//! from a directory `cargo xtask vendor` filled, gives byte for byte the packages and the
//! static tarball that an online release of the same commit gives.
//!
//! The two releases are two cold LTO builds of the whole stack, over half an hour each on
//! two cores, so `.ci/run` leaves this suite out (nextest's `default` and `ci` profiles
//! filter it away) and the hosted workflow `ci/workflows/offline.yml` runs it:
//! `cargo nextest run -p xtask --profile offline-proof`.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

const DISTRO: &str = "debian-bookworm";

/// A clone of this checkout's HEAD at `dir`: the releases build what is committed.
fn clone_head(dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let status = Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks"])
        .arg(root)
        .arg(dir)
        .status()
        .expect("run git");
    assert!(status.success(), "git clone of {} failed", root.display());
}

/// `cargo xtask ARGS` in the clone `dir`, optionally in an empty network namespace;
/// panics with the command's own output when it fails.
fn xtask(dir: &Path, offline: bool, args: &[&str], env: &[(&str, &Path)]) {
    let mut cmd = if offline {
        let mut c = Command::new("unshare");
        c.args(["-n", "cargo"]);
        c
    } else {
        Command::new("cargo")
    };
    cmd.arg("xtask")
        .args(args)
        .current_dir(dir)
        .env_remove("WORKSPACE_MIRROR")
        .env_remove("WORKSPACE_VENDOR")
        .env_remove("CARGO_TARGET_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let status = cmd.status().expect("run cargo xtask");
    assert!(
        status.success(),
        "`cargo xtask {}` in {} ({}) failed: {status}",
        args.join(" "),
        dir.display(),
        if offline { "offline" } else { "online" }
    );
}

/// Every .deb of the distro and the static tarball of a clone's bundle, by file name,
/// with their sha256.
fn outputs(clone: &Path) -> Vec<(String, String)> {
    let version = std::fs::read_to_string(clone.join("VERSION")).unwrap();
    let bundle = clone.join("bundles").join(version.trim());
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in [
        bundle.join("deb").join(DISTRO),
        bundle.join("static/x86_64"),
    ] {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "deb" || x == "tgz") {
                files.push(path);
            }
        }
    }
    let mut sums: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).unwrap();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                format!("{:x}", Sha256::digest(&bytes)),
            )
        })
        .collect();
    sums.sort();
    sums
}

#[test]
fn an_offline_release_from_the_vendor_dir_equals_the_online_release() {
    testbed::require_root();
    let tmp = tempfile::tempdir().unwrap();
    // Two clone paths of different lengths: nothing of the path may reach the outputs.
    let online = tmp.path().join("online");
    let offline = tmp.path().join("elsewhere/offline-clone");
    let vendor = tmp.path().join("vendor");
    clone_head(&online);
    std::fs::create_dir_all(offline.parent().unwrap()).unwrap();
    clone_head(&offline);

    xtask(&online, false, &["release", "--distro", DISTRO], &[]);
    xtask(
        &online,
        false,
        &[
            "vendor",
            "--out",
            vendor.to_str().unwrap(),
            "--distro",
            DISTRO,
        ],
        &[],
    );
    xtask(
        &offline,
        true,
        &["--mirror", "local", "release", "--distro", DISTRO],
        &[("WORKSPACE_VENDOR", &vendor)],
    );

    let online_sums = outputs(&online);
    let offline_sums = outputs(&offline);
    assert!(
        online_sums.len() >= 4,
        "expected the packages and the tarball, got {online_sums:?}"
    );
    assert_eq!(
        online_sums, offline_sums,
        "the offline release differs from the online one"
    );
}
