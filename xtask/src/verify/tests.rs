//! The install/upgrade/remove/purge cycle in a real bookworm rootfs (debootstrap,
//! cached), with packages written from the real `debian/` metadata around fixture
//! binaries (static test programs; the daemons themselves are not run here).

use super::*;
use crate::deb;
use crate::manifest::Binary;

fn bookworm() -> Distro {
    distro::select(&["debian-bookworm".into()])
        .unwrap()
        .remove(0)
}

/// Packages of `version` for bookworm from the real metadata, every binary a fixture.
fn fixture_debs(dir: &Path, version: &str) -> Vec<PathBuf> {
    let binaries: Vec<Binary> = manifest::binaries()
        .unwrap()
        .into_iter()
        .map(|b| Binary {
            implemented: true,
            ..b
        })
        .collect();
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let one = crate::static_tarball::tests::fixture_binary(&bin, "fixture", true);
    for b in &binaries {
        std::fs::copy(&one, bin.join(&b.name)).unwrap();
    }
    let inputs = deb::Inputs {
        debian_dir: project::root().join("debian"),
        binaries,
        binary_dir: bin,
        version: buildinfo::Version::parse(version).unwrap(),
        source: buildinfo::Source {
            commit: "1a2b3c4".into(),
            commit_time: 1_795_428_900,
            dirty: false,
        },
        out_dir: dir.join("out"),
        lintian: false,
    };
    deb::write_packages(&inputs, &[bookworm()]).unwrap().built
}

#[test]
fn packages_install_upgrade_remove_and_purge_cleanly_in_a_bookworm_rootfs() {
    crate::host::ensure(&[crate::host::Tool {
        program: "debootstrap",
        package: "debootstrap",
        why: "the verify rootfs",
    }])
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let previous = fixture_debs(&tmp.path().join("old"), "26.11.0-rc.1");
    let current = fixture_debs(&tmp.path().join("new"), "26.11.0");
    let ran_smoke = std::cell::Cell::new(false);
    let report = verify_distro(
        &bookworm(),
        &current,
        Some(&previous),
        &|chroot: &mut Chroot| {
            // what the smoke test would start is installed where the units expect it
            for bin in [
                "/usr/bin/dockerd",
                "/usr/bin/containerd",
                "/usr/bin/docker",
                "/usr/bin/runc",
            ] {
                assert!(chroot.path(bin).is_file(), "{bin} not installed");
            }
            let out = chroot
                .run("docker-ce-cli", &["docker", "--version"])
                .unwrap();
            assert_eq!(out.trim(), "fixture: test fixture");
            let versions = chroot
                .run(
                    "docker-ce",
                    &["dpkg-query", "-W", "-f=${Version}", "docker-ce"],
                )
                .unwrap();
            assert_eq!(
                versions, "5:26.11.0-1~debian.12~bookworm",
                "upgraded to the new build"
            );
            ran_smoke.set(true);
            Ok(())
        },
    )
    .unwrap();
    assert!(ran_smoke.get());
    let text = report.join("\n");
    assert!(text.contains("group docker"), "{text}");
    assert!(
        text.contains(
            "upgrade kept /etc/docker/daemon.json and the edited conffile /etc/default/docker"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "upgraded docker-ce 5:26.11.0~rc.1-1~debian.12~bookworm -> 5:26.11.0-1~debian.12~bookworm"
        ),
        "{text}"
    );
    // purge leaves the user's data and the admin's daemon.json, and nothing else
    assert!(
        text.contains("purge: left behind /etc/docker, /etc/gshadow-, /etc/hosts, /var/lib/docker"),
        "{text}"
    );
    // the rootfs is cached outside the tree for the next run
    assert!(crate::rootfs::cache_dir()
        .join("debian-bookworm.tar")
        .is_file());
}

#[test]
fn a_failing_step_names_the_package_and_the_command() {
    let tmp = tempfile::tempdir().unwrap();
    let debs = fixture_debs(tmp.path(), "26.11.0");
    // A step failing inside the chroot stops the run with one line naming the package
    // and the command, and the chroot's mounts are gone afterwards.
    let root = std::cell::RefCell::new(String::new());
    let err = verify_distro(&bookworm(), &debs, None, &|chroot: &mut Chroot| {
        *root.borrow_mut() = chroot.root().display().to_string();
        chroot.run("docker-ce", &["sh", "-c", "echo broken; exit 3"])?;
        Ok(())
    })
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "docker-ce: `sh -c echo broken; exit 3` failed (exit status: 3): broken"
    );
    // (other tests' chroots may be mounted meanwhile: only this one's must be gone)
    let root = root.into_inner();
    assert!(root.contains("workspace-verify."), "{root}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&root),
        "a mount of the chroot {root} is left:\n{mounts}"
    );
}

/// The smoke step itself, run against Debian's docker.io stack (dockerd 20.10,
/// containerd, runc) installed in a clean bookworm rootfs: the same code `verify` runs
/// on our packages once the daemons are implemented.
#[test]
fn smoke_step_drives_debians_docker_stack_in_a_chroot() {
    testbed::subreaper();
    let profile = crate::mirror::selected().unwrap();
    let tarball = crate::rootfs::tarball(&profile, "bookworm").unwrap();
    let mut chroot = Chroot::new(&tarball).unwrap();
    chroot.use_apt_of(&profile, "bookworm").unwrap();
    // docker.io's postinst would start its init script: not in a test chroot
    std::fs::write(
        chroot.path("/usr/sbin/policy-rc.d"),
        "#!/bin/sh\nexit 101\n",
    )
    .unwrap();
    duct::cmd!("chmod", "0755", chroot.path("/usr/sbin/policy-rc.d"))
        .run()
        .unwrap();
    chroot.run("apt", &["apt-get", "update", "-q"]).unwrap();
    chroot
        .run(
            "docker.io",
            &[
                "apt-get",
                "install",
                "-y",
                "-q",
                "--no-install-recommends",
                "docker.io",
            ],
        )
        .unwrap();
    smoke(&mut chroot).unwrap();
    let root = chroot.root();
    drop(chroot);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&root.display().to_string()),
        "mounts left under the chroot:\n{mounts}"
    );
    assert!(!root.exists(), "the chroot directory is removed");
}

#[test]
fn previous_packages_are_found_per_distro_or_flat_and_a_wrong_dir_is_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let bookworm = bookworm();
    let trixie = distro::select(&["debian-trixie".into()]).unwrap().remove(0);
    let touch = |p: &Path| {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"").unwrap();
    };
    // bundles/<version>/ layout: deb/<distro>/
    let bundle = tmp.path().join("bundle");
    touch(&bundle.join("deb/debian-bookworm/a_1_amd64.deb"));
    touch(&bundle.join("deb/debian-trixie/a_1_amd64.deb"));
    let found = previous_debs(&bundle, &bookworm).unwrap();
    assert_eq!(
        found,
        vec![bundle.join("deb/debian-bookworm/a_1_amd64.deb")]
    );
    let found = previous_debs(&bundle.join("deb"), &trixie).unwrap();
    assert_eq!(found, vec![bundle.join("deb/debian-trixie/a_1_amd64.deb")]);
    // a flat directory serves whichever distro is asked for
    let flat = tmp.path().join("flat");
    touch(&flat.join("b_1_amd64.deb"));
    touch(&flat.join("notes.txt"));
    assert_eq!(
        previous_debs(&flat, &trixie).unwrap(),
        vec![flat.join("b_1_amd64.deb")]
    );
    // no packages for the distro, or no directory at all
    let only_bookworm = tmp.path().join("only");
    touch(&only_bookworm.join("debian-bookworm/c_1_amd64.deb"));
    let err = previous_debs(&only_bookworm, &trixie)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no .deb for debian-trixie"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let err = previous_debs(&tmp.path().join("nope"), &trixie)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no such directory"), "{err}");
}
