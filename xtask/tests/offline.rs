//! The offline side of the mirror profiles: with the network cut off (`unshare -n`, a
//! network namespace with nothing in it), the `local` profile takes every installer
//! artefact from a vendor directory and checks it against its pin, a tampered artefact
//! is refused, and an incomplete vendor directory lists what it lacks.

use std::path::Path;
use std::process::{Command, Output};

fn xtask(offline: bool, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = if offline {
        let mut c = Command::new("unshare");
        c.arg("-n").arg(env!("CARGO_BIN_EXE_xtask"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_xtask"))
    };
    cmd.args(args).env_remove("WORKSPACE_MIRROR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output()
        .expect("run xtask (unshare comes with util-linux)")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn installers_verify_offline_from_a_vendor_dir() {
    testbed::require_root();
    let tmp = tempfile::tempdir().unwrap();
    let online_cache = tmp.path().join("online-cache");
    let offline_cache = tmp.path().join("offline-cache");
    let vendor = tmp.path().join("vendor");

    // Online, through the host's own apt sources: fetch and verify every pin.
    let out = xtask(
        false,
        &["--mirror", "upstream", "installers", "verify"],
        &[("XDG_CACHE_HOME", &online_cache)],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let artefacts: Vec<_> = std::fs::read_dir(online_cache.join("workspace/installers"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(artefacts.len() >= 4, "{artefacts:?}");
    std::fs::create_dir_all(vendor.join("installers")).unwrap();
    for a in &artefacts {
        std::fs::copy(a, vendor.join("installers").join(a.file_name().unwrap())).unwrap();
    }

    // Offline: the same pins, from the vendor directory only.
    let env = [
        ("XDG_CACHE_HOME", offline_cache.as_path()),
        ("WORKSPACE_VENDOR", vendor.as_path()),
    ];
    let out = xtask(true, &["--mirror", "local", "installers", "verify"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("ok "))
            .count(),
        artefacts.len()
    );
    let unpacked = tmp.path().join("unpacked");
    let out = xtask(
        true,
        &[
            "--mirror",
            "local",
            "installers",
            "unpack",
            "tini",
            "--out",
            unpacked.to_str().unwrap(),
        ],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let version = Command::new(unpacked.join("docker-init"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        text(&version.stdout).contains("tini version 0.19.0"),
        "{}",
        text(&version.stdout)
    );

    // A tampered artefact: a hard error naming the file and both sums.
    std::fs::remove_dir_all(&offline_cache).unwrap();
    let tini = vendor.join("installers/tini_0.19.0-1+b3_amd64.deb");
    let mut bytes = std::fs::read(&tini).unwrap();
    bytes.push(0);
    std::fs::write(&tini, bytes).unwrap();
    let out = xtask(true, &["--mirror", "local", "installers", "verify"], &env);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("checksum mismatch for tini_0.19.0-1+b3_amd64.deb"),
        "{err}"
    );
    assert!(
        err.contains(
            "expected sha256 7d1947665fa40e55f218fefad773dc6de66458d0b39eaa292cdcadfc7c996632"
        ),
        "{err}"
    );
    assert!(err.contains(", got "), "{err}");

    // The vendor directory has no crates, rootfs or apt repository: all named.
    let out = xtask(
        true,
        &[
            "--mirror",
            "local",
            "vendor",
            "--check",
            "--distro",
            "debian-bookworm",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    for item in [
        "manifest.toml",
        "crates",
        "rootfs/debian-bookworm.tar",
        "apt/bookworm/Packages",
    ] {
        assert!(err.contains(item), "{item} not listed: {err}");
    }
    assert!(!err.contains("installers/tini"), "{err}");
}
