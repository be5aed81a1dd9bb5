//! `cargo xtask static`: fully static binaries and
//! `bundles/<version>/static/x86_64/docker-<version>.tgz`, laid out as docker's static
//! tarball (`docker/dockerd`, `docker/docker`, `docker/containerd`, ...).
//!
//! "Static" here is glibc with `crt-static` (there is no musl std on this machine). The
//! tarball is only written after every binary in it has proven itself: an ELF without
//! an interpreter, and `--version` run in an empty chroot that holds nothing but the
//! binaries.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::deb::{write_atomically, Tree};
use crate::manifest::Binary;
use crate::{manifest, project, step};

#[derive(Debug, Default, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub place: crate::build::Place,
}

pub fn run(args: Args) -> Result<()> {
    let binaries = manifest::binaries()?;
    let implemented: Vec<&Binary> = binaries.iter().filter(|b| b.implemented).collect();
    for bin in binaries.iter().filter(|b| !b.implemented) {
        println!(
            "skipped {}: not implemented yet (packaging/manifest.toml)",
            bin.name
        );
    }
    if implemented.is_empty() {
        println!("no tarball written: no binary is implemented yet");
        return Ok(());
    }
    let version = project::version()?;
    let source = project::source()?;
    let dir = crate::build::static_binaries(&args.place, &implemented)?;
    let mut files: Vec<(String, PathBuf)> = implemented
        .iter()
        .map(|b| (b.name.clone(), dir.join(&b.name)))
        .collect();
    // docker's static tarball carries tini as docker-init.
    let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
    files.push((
        "docker-init".into(),
        crate::deb::docker_init(scratch.path())?,
    ));
    let out = project::bundles_dir()?
        .join("static/x86_64")
        .join(format!("docker-{}.tgz", version.to_static(&source)));
    let mtime = u64::try_from(source.commit_time).unwrap_or(0);
    write_tarball(&files, &out, mtime)?;
    println!("{}", out.display());
    Ok(())
}

/// Check every binary (static ELF, runs alone in a chroot), then write the tarball with
/// top directory `docker/` through a temporary name; it replaces the tarballs of earlier
/// builds in the same directory.
pub fn write_tarball(files: &[(String, PathBuf)], out: &Path, mtime: u64) -> Result<()> {
    let mut tree = Tree::new();
    for (name, path) in files {
        let bytes = std::fs::read(path).with_context(|| {
            format!(
                "{name}: cannot read {}; build it first (`cargo xtask static` builds every implemented binary)",
                path.display()
            )
        })?;
        if let Some(interp) = elf_interpreter(&bytes) {
            bail!(
                "{name} ({}) is dynamically linked (interpreter {interp}); the static tarball needs -C target-feature=+crt-static",
                path.display()
            );
        }
        tree.file(name, 0o755, bytes);
    }
    run_in_empty_chroot(files)?;
    write_atomically(out, &tree.to_tar_gz("docker/", mtime)?)
        .with_context(|| format!("cannot write {}", out.display()))?;
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned());
    if let Some(dir) = out.parent() {
        project::remove_stale(dir, "docker-", ".tgz", name.as_deref())?;
    }
    Ok(())
}

/// Copy the binaries alone into an empty directory and run each one's `--version` in a
/// chroot there: a binary that needs a loader or a shared library cannot start.
pub fn run_in_empty_chroot(files: &[(String, PathBuf)]) -> Result<()> {
    let root = tempfile::tempdir().context("cannot create a temporary directory")?;
    for (name, path) in files {
        std::fs::copy(path, root.path().join(name))
            .with_context(|| format!("cannot copy {}", path.display()))?;
    }
    for (name, _) in files {
        let output = duct::cmd!("chroot", root.path(), format!("/{name}"), "--version")
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .context("cannot run chroot (the static check needs root)")?;
        if !output.status.success() {
            bail!(
                "{name} --version fails in an empty chroot ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        step(format_args!(
            "{name} runs alone in an empty chroot: {}",
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .next()
                .unwrap_or("")
        ));
    }
    Ok(())
}

/// The program interpreter (PT_INTERP) of a 64-bit little-endian ELF, if it has one.
/// Static executables (and static-pie) have none. Not an ELF: `None` too.
pub fn elf_interpreter(bytes: &[u8]) -> Option<String> {
    const PT_INTERP: u32 = 3;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let u32_at = |o: usize| {
        bytes
            .get(o..o + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    };
    let u64_at = |o: usize| {
        bytes
            .get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
    };
    let phoff = u64_at(0x20)?;
    let phentsize = u16_at(0x36);
    let phnum = u16_at(0x38);
    (0..phnum).find_map(|i| {
        let ph = phoff + i * phentsize;
        if u32_at(ph)? != PT_INTERP {
            return None;
        }
        let offset = u64_at(ph + 8)?;
        let size = u64_at(ph + 32)?;
        let raw = bytes.get(offset..offset + size)?;
        Some(
            String::from_utf8_lossy(raw)
                .trim_end_matches('\0')
                .to_owned(),
        )
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Debian's static tini, a real static binary for the fixtures.
    const TINI_STATIC: &str = "/usr/bin/tini-static";
    use std::os::unix::fs::PermissionsExt;

    /// A tiny program compiled by the test, static or not: it prints a fixture line, and
    /// for `completion <shell>` a fixture comment (as the docker CLI prints its scripts).
    pub(crate) fn fixture_binary(dir: &Path, name: &str, crt_static: bool) -> PathBuf {
        let src = dir.join(format!("{name}.rs"));
        std::fs::write(
            &src,
            format!(
                "fn main() {{\n\
                 let args: Vec<String> = std::env::args().collect();\n\
                 if args.len() == 3 && args[1] == \"completion\" {{\n\
                 println!(\"# {{}} completion of a test fixture\", args[2]);\n\
                 return;\n\
                 }}\n\
                 if args.len() == 3 && args[1] == \"__manpages\" {{\n\
                 std::fs::create_dir_all(&args[2]).unwrap();\n\
                 let page = \".TH FIXTURE 1\\n.SH NAME\\nfixture \\\\- a test fixture\\n\";\n\
                 std::fs::write(format!(\"{{}}/{name}.1\", args[2]), page).unwrap();\n\
                 return;\n\
                 }}\n\
                 println!(\"{name}: test fixture\");\n\
                 }}\n"
            ),
        )
        .unwrap();
        let out = dir.join(name);
        let mut args = vec![
            "--edition=2021".to_owned(),
            "-O".into(),
            "-C".into(),
            "strip=symbols".into(),
            // the fixture's own source path must not reach the binary (reproducibility
            // tests build it in two directories)
            format!("--remap-path-prefix={}=/fixture", dir.display()),
            "-o".into(),
            out.display().to_string(),
            src.display().to_string(),
        ];
        if crt_static {
            args.extend([
                "-C".into(),
                "target-feature=+crt-static".into(),
                "--target".into(),
                crate::build::STATIC_TARGET.into(),
            ]);
        }
        duct::cmd("rustc", &args)
            .run()
            .expect("rustc builds the fixture");
        out
    }

    #[test]
    fn interpreter_is_found_in_dynamic_and_absent_in_static_elves() {
        let dir = tempfile::tempdir().unwrap();
        let dynamic = fixture_binary(dir.path(), "dyn", false);
        let fixed = fixture_binary(dir.path(), "fixed", true);
        let interp = elf_interpreter(&std::fs::read(&dynamic).unwrap());
        assert_eq!(interp.as_deref(), Some("/lib64/ld-linux-x86-64.so.2"));
        assert_eq!(elf_interpreter(&std::fs::read(&fixed).unwrap()), None);
        assert_eq!(elf_interpreter(&std::fs::read(TINI_STATIC).unwrap()), None);
        assert_eq!(elf_interpreter(b"#!/bin/sh\n"), None);
        // readelf agrees
        let headers = duct::cmd!("readelf", "--program-headers", &fixed)
            .read()
            .unwrap();
        assert!(!headers.contains("INTERP"), "{headers}");
    }

    #[test]
    fn tarball_holds_docker_dir_of_static_binaries_that_run_alone() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![
            (
                "fixture-a".to_owned(),
                fixture_binary(dir.path(), "fixture-a", true),
            ),
            ("docker-init".to_owned(), PathBuf::from(TINI_STATIC)),
        ];
        let out = dir
            .path()
            .join("bundles/static/x86_64/docker-0.0.0-test.tgz");
        // an earlier build's tarball goes, other files stay
        let earlier = out.with_file_name("docker-0.0.0-earlier.tgz");
        let other = out.with_file_name("notes.txt");
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        std::fs::write(&earlier, b"old").unwrap();
        std::fs::write(&other, b"keep").unwrap();
        write_tarball(&files, &out, 1_700_000_000).unwrap();
        assert!(!earlier.exists() && other.exists());
        let listing = duct::cmd!("tar", "--numeric-owner", "-tvzf", &out)
            .read()
            .unwrap();
        let names: Vec<&str> = listing
            .lines()
            .map(|l| l.split_whitespace().last().unwrap())
            .collect();
        assert_eq!(
            names,
            ["docker/docker-init", "docker/fixture-a"],
            "{listing}"
        );
        assert!(
            listing.lines().all(|l| l.starts_with("-rwxr-xr-x 0/0")),
            "{listing}"
        );
        // unpacked by GNU tar, the binaries still run in an empty chroot
        let unpacked = dir.path().join("unpacked");
        std::fs::create_dir(&unpacked).unwrap();
        duct::cmd!("tar", "-xzf", &out, "-C", &unpacked)
            .run()
            .unwrap();
        let extracted: Vec<(String, PathBuf)> = ["fixture-a", "docker-init"]
            .iter()
            .map(|n| (n.to_string(), unpacked.join("docker").join(n)))
            .collect();
        run_in_empty_chroot(&extracted).unwrap();
        let mode = std::fs::metadata(unpacked.join("docker/fixture-a"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    #[test]
    fn dynamic_binary_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![("dyn".to_owned(), fixture_binary(dir.path(), "dyn", false))];
        let out = dir.path().join("out/docker-x.tgz");
        let err = write_tarball(&files, &out, 0).unwrap_err().to_string();
        assert!(
            err.contains("dyn") && err.contains("dynamically linked"),
            "{err}"
        );
        assert!(!out.exists());
        assert!(
            !dir.path().join("out").exists()
                || std::fs::read_dir(dir.path().join("out"))
                    .unwrap()
                    .next()
                    .is_none()
        );
        // and the chroot check on its own catches it too: the loader is not there
        let err = run_in_empty_chroot(&files).unwrap_err().to_string();
        assert!(
            err.contains("dyn --version fails in an empty chroot"),
            "{err}"
        );
        let missing = vec![("dockerd".to_owned(), dir.path().join("nope/dockerd"))];
        let err = write_tarball(&missing, &out, 0).unwrap_err().to_string();
        assert!(err.starts_with("dockerd: cannot read"), "{err}");
    }
}
