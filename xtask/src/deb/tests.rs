//! Package-writer tests against the real `debian/` metadata, with fixture binaries
//! compiled here (tiny static programs that print a fixture line; they are never
//! presented as the real components outside these temporary directories).

use std::path::{Path, PathBuf};

use super::*;

fn fixture_source() -> Source {
    Source {
        commit: "1a2b3c4".into(),
        commit_time: 1_795_428_900,
        dirty: false,
    }
}

fn bookworm() -> Distro {
    distro::select(&["debian-bookworm".into()])
        .unwrap()
        .remove(0)
}

/// One static fixture program, hard-linked under every manifest binary name.
fn fixture_binaries(dir: &Path, binaries: &[Binary]) {
    std::fs::create_dir_all(dir).unwrap();
    let one = crate::static_tarball::tests::fixture_binary(dir, "fixture", true);
    for bin in binaries {
        std::fs::copy(&one, dir.join(&bin.name)).unwrap();
    }
}

/// The real manifest with every binary's flag set to `implemented`.
fn manifest_with(implemented: bool) -> Vec<Binary> {
    manifest::binaries()
        .unwrap()
        .into_iter()
        .map(|b| Binary { implemented, ..b })
        .collect()
}

/// Inputs from these parts; lintian runs only where a test is about it.
fn inputs(debian_dir: PathBuf, binaries: Vec<Binary>, binary_dir: PathBuf, out: PathBuf) -> Inputs {
    Inputs {
        debian_dir,
        binaries,
        binary_dir,
        version: Version::parse("26.11.0").unwrap(),
        source: fixture_source(),
        out_dir: out,
        lintian: false,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    duct::cmd!("cp", "-r", "--no-preserve=mode,timestamps", from, to)
        .run()
        .unwrap();
}

#[test]
fn packages_from_the_real_metadata_pass_lintian_and_carry_docker_ce_relationships() {
    let tmp = tempfile::tempdir().unwrap();
    let binaries = manifest_with(true);
    fixture_binaries(&tmp.path().join("bin"), &binaries);
    let inputs = Inputs {
        lintian: true,
        ..inputs(
            project::root().join("debian"),
            binaries,
            tmp.path().join("bin"),
            tmp.path().join("out"),
        )
    };
    // write_packages runs lintian (errors and warnings fail) on every package
    let outcome = write_packages(&inputs, &[bookworm()]).unwrap();
    let names: Vec<String> = outcome
        .built
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "docker-ce_26.11.0-1~debian.12~bookworm_amd64.deb",
            "docker-ce-cli_26.11.0-1~debian.12~bookworm_amd64.deb",
            "containerd.io_1.7.27+26.11.0-1~debian.12~bookworm_amd64.deb",
        ]
    );
    let skipped: Vec<&str> = outcome.skipped.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(skipped, ["docker-ce-rootless-extras"]);

    let engine = &outcome.built[0];
    let field = |deb: &Path, f: &str| duct::cmd!("dpkg-deb", "--field", deb, f).read().unwrap();
    assert_eq!(field(engine, "Version"), "5:26.11.0-1~debian.12~bookworm");
    assert_eq!(
        field(engine, "Depends"),
        "containerd.io (>= 1.7.27), docker-ce-cli, iptables, nftables"
    );
    assert_eq!(
        field(engine, "Pre-Depends"),
        "init-system-helpers (>= 1.54~)"
    );
    assert_eq!(
        field(engine, "Conflicts"),
        "docker (<< 1.5~), docker-engine, docker.io"
    );
    assert_eq!(
        field(engine, "Replaces"),
        "docker-engine, docker-ce-cli (<< 5:28.0.0)"
    );
    let cli = &outcome.built[1];
    let cli_contents = duct::cmd!("dpkg-deb", "--contents", cli).read().unwrap();
    for path in [
        "./usr/bin/docker",
        "./usr/share/bash-completion/completions/docker",
        "./usr/share/zsh/vendor-completions/_docker",
        "./usr/share/fish/vendor_completions.d/docker.fish",
        "./usr/share/man/man1/fixture.1.gz",
    ] {
        assert!(
            cli_contents.contains(path),
            "{path} missing:\n{cli_contents}"
        );
    }
    let containerd = &outcome.built[2];
    assert_eq!(field(containerd, "Provides"), "containerd, runc");
    assert_eq!(field(containerd, "Conflicts"), "containerd, runc");
    // the containerd.io version line sorts above the upstream release it stands in for,
    // and satisfies docker-ce's dependency
    let v = field(containerd, "Version");
    for (op, other) in [("gt", "1.7.27-1"), ("ge", "1.7.27"), ("lt", "1.7.28")] {
        assert!(
            duct::cmd!("dpkg", "--compare-versions", &v, op, other)
                .run()
                .is_ok(),
            "{v} {op} {other}"
        );
    }

    let contents = duct::cmd!("dpkg-deb", "--contents", engine).read().unwrap();
    for path in [
        "./usr/bin/dockerd",
        "./usr/bin/docker-proxy",
        "./usr/bin/docker-init",
        "./lib/systemd/system/docker.service",
        "./lib/systemd/system/docker.socket",
        "./etc/default/docker",
        "./usr/share/doc/docker-ce/copyright",
        "./usr/share/doc/docker-ce/changelog.Debian.gz",
    ] {
        assert!(contents.contains(path), "{path} missing:\n{contents}");
    }
    for line in contents.lines() {
        assert!(line.contains(" root/root "), "{line}");
    }
    let ctrl = tmp.path().join("ctrl");
    duct::cmd!("dpkg-deb", "--control", engine, &ctrl)
        .run()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(ctrl.join("conffiles")).unwrap(),
        "/etc/default/docker\n"
    );
    for script in ["postinst", "prerm", "postrm"] {
        assert!(ctrl.join(script).is_file(), "{script} missing");
    }
    // md5sums agree with the unpacked files
    let root = tmp.path().join("root");
    duct::cmd!("dpkg-deb", "--extract", engine, &root)
        .run()
        .unwrap();
    duct::cmd!("md5sum", "--check", "--quiet", ctrl.join("md5sums"))
        .dir(&root)
        .run()
        .unwrap();
    // docker-init is tini, as docker-ce ships it
    assert_eq!(
        std::fs::read(root.join("usr/bin/docker-init")).unwrap(),
        std::fs::read("/usr/bin/tini-static").unwrap()
    );
}

#[test]
fn two_builds_from_two_copies_of_the_inputs_are_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let binaries = manifest_with(true);
    let mut outs = Vec::new();
    for (i, umask_mode) in [("one", "u=rwx,go=rx"), ("two/deeper", "u=rw,go=r")] {
        let base = tmp.path().join(i);
        std::fs::create_dir_all(&base).unwrap();
        // different paths, modes and timestamps of the inputs must not show
        copy_dir(&project::root().join("debian"), &base.join("debian"));
        duct::cmd!("chmod", "-R", umask_mode, base.join("debian"))
            .run()
            .unwrap();
        duct::cmd!("chmod", "-R", "u+X", base.join("debian"))
            .run()
            .unwrap();
        if i != "one" {
            duct::cmd!("touch", "-d", "@0", base.join("debian/control"))
                .run()
                .unwrap();
        }
        fixture_binaries(&base.join("bin"), &binaries);
        let inputs = inputs(
            base.join("debian"),
            binaries.clone(),
            base.join("bin"),
            base.join("out"),
        );
        let outcome = write_packages(&inputs, &[bookworm()]).unwrap();
        let files: Vec<(String, PathBuf)> = binaries
            .iter()
            .map(|b| (b.name.clone(), base.join("bin").join(&b.name)))
            .collect();
        let tgz = base.join("out/docker.tgz");
        crate::static_tarball::write_tarball(&files, &tgz, 1_795_428_900).unwrap();
        let mut all = outcome.built;
        all.push(tgz);
        outs.push(all);
    }
    assert_eq!(outs[0].len(), 4);
    for (a, b) in outs[0].iter().zip(&outs[1]) {
        assert_eq!(a.file_name(), b.file_name());
        let cmp = duct::cmd!("cmp", a, b)
            .unchecked()
            .stdout_capture()
            .run()
            .unwrap();
        assert!(
            cmp.status.success(),
            "cmp {} {}: {}",
            a.display(),
            b.display(),
            String::from_utf8_lossy(&cmp.stdout)
        );
    }
}

#[test]
fn nothing_implemented_builds_nothing_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // an earlier build's package of a now-skipped package is removed, not left stale
    std::fs::create_dir_all(out.join("debian-bookworm")).unwrap();
    std::fs::write(out.join("debian-bookworm/docker-ce_1-1_amd64.deb"), b"old").unwrap();
    let inputs = inputs(
        project::root().join("debian"),
        manifest_with(false),
        tmp.path().join("bin"),
        out.clone(),
    );
    let outcome = write_packages(&inputs, &[bookworm()]).unwrap();
    assert!(outcome.built.is_empty());
    let skipped: Vec<(&str, &str)> = outcome
        .skipped
        .iter()
        .map(|(p, r)| (p.as_str(), r.as_str()))
        .collect();
    assert_eq!(
        skipped,
        [
            (
                "docker-ce",
                "none of its binaries is implemented yet (dockerd, docker-proxy)"
            ),
            ("docker-ce-cli", "none of its binaries is implemented yet (docker)"),
            (
                "docker-ce-rootless-extras",
                "no binary of packaging/manifest.toml lands in it yet"
            ),
            (
                "containerd.io",
                "none of its binaries is implemented yet (runc, containerd, containerd-shim-runc-v2, ctr)"
            ),
        ]
    );
    assert_eq!(
        std::fs::read_dir(out.join("debian-bookworm"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn missing_binary_fails_with_one_line_and_leaves_no_package() {
    let tmp = tempfile::tempdir().unwrap();
    let binaries = manifest_with(true);
    fixture_binaries(&tmp.path().join("bin"), &binaries);
    std::fs::remove_file(tmp.path().join("bin/ctr")).unwrap();
    let inputs = inputs(
        project::root().join("debian"),
        binaries,
        tmp.path().join("bin"),
        tmp.path().join("out"),
    );
    let err = format!("{:#}", write_packages(&inputs, &[bookworm()]).unwrap_err());
    assert!(
        err.starts_with("ctr is marked implemented in packaging/manifest.toml but")
            && err.contains("bin/ctr is missing"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // the packages before it were complete and stay; nothing of containerd.io was written
    let mut written: Vec<String> = std::fs::read_dir(tmp.path().join("out/debian-bookworm"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            "docker-ce-cli_26.11.0-1~debian.12~bookworm_amd64.deb",
            "docker-ce_26.11.0-1~debian.12~bookworm_amd64.deb"
        ]
    );
}

#[test]
fn a_layout_naming_a_missing_file_fails_before_writing() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&project::root().join("debian"), &tmp.path().join("debian"));
    std::fs::remove_file(tmp.path().join("debian/docker-ce/docker.socket")).unwrap();
    let inputs = inputs(
        tmp.path().join("debian"),
        manifest_with(true),
        tmp.path().join("bin"),
        tmp.path().join("out"),
    );
    let err = write_packages(&inputs, &[bookworm()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("docker-ce names docker-ce/docker.socket, which is not in"),
        "{err}"
    );
    assert!(!tmp.path().join("out").exists());
}

#[test]
fn changelog_entry_parses_with_dpkg_parsechangelog() {
    let tmp = tempfile::tempdir().unwrap();
    let version = Version::parse("26.11.0-dev").unwrap();
    let source = fixture_source();
    let deb_version = package_version(None, &version, &source, &bookworm());
    let entry = changelog_entry(
        "docker-ce",
        &deb_version,
        &bookworm(),
        &source,
        &version,
        "Docker <support@docker.com>",
    );
    let path = tmp.path().join("changelog");
    std::fs::write(&path, &entry).unwrap();
    let parsed = duct::cmd!("dpkg-parsechangelog", "-l", &path)
        .read()
        .unwrap();
    assert!(
        parsed.contains("Version: 5:0.0.0~20261123101500.1a2b3c4-1~debian.12~bookworm"),
        "{parsed}"
    );
    assert!(parsed.contains("Distribution: bookworm"), "{parsed}");
    assert!(parsed.contains("Timestamp: 1795428900"), "{parsed}");
    assert!(
        parsed.contains("Nightly build of 26.11.0-dev at commit 1a2b3c4."),
        "{parsed}"
    );
    let date = duct::cmd!("date", "-u", "-R", "-d", "@1795428900")
        .read()
        .unwrap();
    assert_eq!(rfc2822(1_795_428_900), date);
    assert_eq!(
        rfc2822(951_782_400),
        duct::cmd!("date", "-u", "-R", "-d", "@951782400")
            .read()
            .unwrap()
    );
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    // Units are checked in a root holding stand-ins for the programs they start, so
    // that systemd-analyze checks the units' own syntax and references.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let units = root.join("lib/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    for (src, name) in [
        ("docker-ce/docker.service", "docker.service"),
        ("docker-ce/docker.socket", "docker.socket"),
        ("containerd.io/containerd.service", "containerd.service"),
    ] {
        std::fs::copy(project::root().join("debian").join(src), units.join(name)).unwrap();
    }
    let output = duct::cmd!(
        "systemd-analyze",
        "verify",
        "--man=no",
        units.join("docker.service"),
        units.join("docker.socket"),
        units.join("containerd.service")
    )
    .stderr_to_stdout()
    .stdout_capture()
    .unchecked()
    .run()
    .expect("systemd-analyze (package systemd) is needed");
    let text = String::from_utf8_lossy(&output.stdout);
    // The only complaints allowed are the daemons not being installed on this host
    // under /usr/bin (Debian's dockerd lives in /usr/sbin).
    let unexpected: Vec<&str> = text
        .lines()
        .filter(|l| {
            !(l.contains("/usr/bin/dockerd is not executable")
                || l.contains("/usr/bin/containerd is not executable"))
        })
        .collect();
    assert!(unexpected.is_empty(), "systemd-analyze verify:\n{text}");
    let service = std::fs::read_to_string(units.join("docker.service")).unwrap();
    assert!(service.contains("\nWants=network-online.target containerd.service\n"));
    assert!(service.contains("After=") && service.contains(" containerd.service"));
    assert!(service.contains("ExecStart=/usr/bin/dockerd -H fd:// "));
    let socket = std::fs::read_to_string(units.join("docker.socket")).unwrap();
    assert!(socket.contains("SocketGroup=docker"));
}

#[test]
fn maintainer_scripts_are_posix_sh() {
    for pkg in ["docker-ce", "containerd.io"] {
        for script in ["postinst", "prerm", "postrm"] {
            let path = project::root().join("debian").join(pkg).join(script);
            duct::cmd!("sh", "-n", &path).run().unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.starts_with("#!/bin/sh\n"), "{}", path.display());
            assert!(text.contains("set -e"), "{}", path.display());
        }
    }
}
