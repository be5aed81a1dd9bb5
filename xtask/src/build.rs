//! `cargo xtask build`: compile the components into `bundles/<version>/binary/`.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::{manifest, not_yet, project, step};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Build on the host with the host's toolchain instead of inside the dev container
    #[arg(long)]
    pub host: bool,
}

pub fn run(args: Args) -> Result<()> {
    if !args.host {
        return Err(not_yet(
            "build",
            "building inside the dev container needs `cargo xtask image`; use `cargo xtask build --host`",
            8,
        ));
    }
    let out = build_on_host()?;
    println!("{}", out.display());
    Ok(())
}

/// Release-build every component binary with the host toolchain and copy them to
/// `bundles/<version>/binary/`. Returns that directory.
pub fn build_on_host() -> Result<PathBuf> {
    let root = project::root();
    let source = project::source()?;
    let binaries = manifest::binaries()?;
    let mut cargo_args = vec![
        "build".to_owned(),
        "--release".to_owned(),
        "--locked".to_owned(),
    ];
    let mut crates: Vec<&str> = binaries.iter().map(|b| b.krate.as_str()).collect();
    crates.sort_unstable();
    crates.dedup();
    for c in &crates {
        cargo_args.extend(["--package".to_owned(), (*c).to_owned()]);
    }
    step(format_args!("cargo {}", cargo_args.join(" ")));
    let mut cmd = duct::cmd("cargo", &cargo_args).dir(&root);
    for (k, v) in project::build_env(&source) {
        cmd = cmd.env(k, v);
    }
    cmd.run()
        .context("cargo build failed (its errors are above)")?;

    let out = project::bundles_dir()?.join("binary");
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let target = target_dir()?.join("release");
    for bin in &binaries {
        let from = target.join(&bin.name);
        let to = out.join(&bin.name);
        // Copy to a temporary name and rename, so an interrupted build leaves no
        // half-written binary behind.
        let tmp = out.join(format!(".{}.tmp", bin.name));
        std::fs::copy(&from, &tmp)
            .with_context(|| format!("cannot copy {} to {}", from.display(), tmp.display()))?;
        std::fs::rename(&tmp, &to)?;
    }
    step(format_args!(
        "{} binaries in {}",
        binaries.len(),
        out.display()
    ));
    for bin in binaries.iter().filter(|b| !b.implemented) {
        step(format_args!(
            "{} ({}): not implemented yet, never packaged",
            bin.name, bin.package
        ));
    }
    Ok(out)
}

/// Cargo's target directory (honours CARGO_TARGET_DIR).
pub fn target_dir() -> Result<PathBuf> {
    Ok(match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => project::root().join("target"),
    })
}

/// The only target this machine builds for; "static" means glibc with crt-static on it.
pub const STATIC_TARGET: &str = "x86_64-unknown-linux-gnu";

/// Build the given crates' binaries fully static (glibc `crt-static`, the `dist`
/// profile, source paths remapped so the output does not depend on the clone path) and
/// return the directory holding them. The one static build: `cargo xtask static` and the
/// benchmarks' size figures both come from here.
pub fn build_static(crates: &[&str]) -> Result<PathBuf> {
    let root = project::root();
    let source = project::source()?;
    let mut args = vec![
        "build",
        "--locked",
        "--profile",
        "dist",
        "--target",
        STATIC_TARGET,
    ];
    for c in crates {
        args.extend(["--package", c]);
    }
    // With an explicit --target, RUSTFLAGS reach only the target's crates, not build
    // scripts and proc-macros (which must stay dynamic).
    let rustflags = format!(
        "-C target-feature=+crt-static --remap-path-prefix={}=/workspace",
        root.display()
    );
    step(format_args!(
        "RUSTFLAGS=\"{rustflags}\" cargo {}",
        args.join(" ")
    ));
    let mut cmd = duct::cmd("cargo", &args)
        .dir(&root)
        .env("RUSTFLAGS", rustflags);
    for (k, v) in project::build_env(&source) {
        cmd = cmd.env(k, v);
    }
    cmd.run()
        .context("static cargo build failed (its errors are above)")?;
    Ok(target_dir()?.join(STATIC_TARGET).join("dist"))
}
