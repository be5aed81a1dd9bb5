//! `cargo xtask build`: compile the components into `bundles/<version>/binary/`, by
//! default inside the dev container (source bind-mounted at its own path, the cargo
//! home and the target dir in named volumes, run as the caller so the outputs are the
//! caller's); `--host` builds with the host toolchain.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::container::{self, EngineArgs};
use crate::{image, manifest, mirror, project, step};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Build on the host with the host's toolchain instead of inside the dev container
    #[arg(long)]
    pub host: bool,
    /// Build only these crates' binaries (container builds; default: every crate of
    /// packaging/manifest.toml)
    #[arg(long, short = 'p', value_name = "CRATE")]
    pub package: Vec<String>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run(args: Args) -> Result<()> {
    if args.host {
        if !args.package.is_empty() {
            bail!("--package selects crates of a container build; `--host` always builds every crate of packaging/manifest.toml");
        }
        let out = build_on_host()?;
        println!("{}", out.display());
        return Ok(());
    }
    let out = build_in_container(&args.engine, &args.package)?;
    println!("{}", out.display());
    Ok(())
}

/// The named volumes a container build caches in: cargo's home (registry, git
/// checkouts) and the target dir, one pair per image repository and mirror profile, so
/// that toolchains of different images never share build artefacts and an offline
/// (`local`) build never rests on what an online one compiled.
fn volumes(image: &image::Image, uid: u32) -> (String, String) {
    let repo = image.tag.split(':').next().unwrap_or(&image.tag);
    let profile = &image.profile;
    (
        format!("{repo}-{profile}-cargo-home-{uid}"),
        format!("{repo}-{profile}-target-{uid}"),
    )
}

/// The `docker run` arguments every dev-container run shares: the caller's ids, the
/// source at its own path, the caches, the toolchain/vendor mounts and the build stamp.
pub fn container_run_args(
    image: &image::Image,
    engine: &container::Engine,
    as_caller: bool,
) -> Result<Vec<String>> {
    let root = project::root();
    let (uid, gid) = container::caller_ids();
    let (home_vol, target_vol) = volumes(image, uid);
    engine.volume_for(&home_vol, &image.tag, uid, gid)?;
    engine.volume_for(&target_vol, &image.tag, uid, gid)?;
    let source = project::source()?;
    let mut args = engine.run_args();
    args.extend(["--rm".into(), "--network".into(), image.network().into()]);
    if as_caller {
        args.extend(["--user".into(), format!("{uid}:{gid}")]);
    }
    args.extend(container::bind(&root, &root.display().to_string(), false));
    args.extend([
        "-w".into(),
        root.display().to_string(),
        "-v".into(),
        format!("{home_vol}:/cargo-home"),
        "-v".into(),
        format!("{target_vol}:/target"),
        "-e".into(),
        "CARGO_HOME=/cargo-home".into(),
        "-e".into(),
        "CARGO_TARGET_DIR=/target".into(),
        "-e".into(),
        "HOME=/tmp".into(),
    ]);
    for (k, v) in project::build_env(&source) {
        args.extend(["-e".into(), format!("{k}={v}")]);
    }
    args.extend(image.mounts());
    Ok(args)
}

/// Build the component binaries in the dev container and copy them into
/// `bundles/<version>/binary/`. A failing cargo ends the process with cargo's exit code
/// (its errors are on stderr already).
pub fn build_in_container(engine_args: &EngineArgs, packages: &[String]) -> Result<PathBuf> {
    let binaries = manifest::binaries()?;
    let mut crates: Vec<&str> = binaries.iter().map(|b| b.krate.as_str()).collect();
    crates.sort_unstable();
    crates.dedup();
    for p in packages {
        if !crates.contains(&p.as_str()) {
            bail!(
                "--package {p}: not a crate of packaging/manifest.toml; known: {}",
                crates.join(", ")
            );
        }
    }
    let selected: Vec<&str> = if packages.is_empty() {
        crates
    } else {
        packages.iter().map(String::as_str).collect()
    };
    let dev = DevContainer::connect(engine_args)?;
    let mut cargo = vec!["build", "--release", "--locked"];
    for c in &selected {
        cargo.extend(["--package", c]);
    }
    dev.cargo(&cargo, &[])?;

    let out = project::bundles_dir()?.join("binary");
    let built: Vec<&manifest::Binary> = binaries
        .iter()
        .filter(|b| selected.contains(&b.krate.as_str()))
        .collect();
    let names: Vec<&str> = built.iter().map(|b| b.name.as_str()).collect();
    dev.copy_out("/target/release", &names, &out)?;
    step(format_args!(
        "{} binaries in {}",
        built.len(),
        out.display()
    ));
    for bin in built.iter().filter(|b| !b.implemented) {
        step(format_args!(
            "{} ({}): not implemented yet, never packaged",
            bin.name, bin.package
        ));
    }
    Ok(out)
}

/// The shell wrapper of every cargo run in the dev container (`$@` is cargo's
/// arguments); see [`DevContainer::cargo`].
const REMAP_DEPS_AND_RUN: &str = r#"set -e
cargo fetch --locked --quiet
for d in "$CARGO_HOME"/registry/src/*/ /workspace-vendor/crates/; do
  [ -d "$d" ] && RUSTFLAGS="${RUSTFLAGS:-} --remap-path-prefix=${d%/}=/deps"
done
export RUSTFLAGS
exec cargo "$@""#;

/// The dev container of this run: the engine, the image (built if missing) and the
/// run arguments every build in it shares.
struct DevContainer {
    engine: container::Engine,
    image: image::Image,
}

impl DevContainer {
    fn connect(engine_args: &EngineArgs) -> Result<DevContainer> {
        let engine = engine_args.connect()?;
        let profile = mirror::selected()?;
        let image = image::ensure(&engine, &profile, None)?;
        Ok(DevContainer { engine, image })
    }

    /// Run cargo with `args` (and `env`) in the container as the caller. A failing cargo
    /// ends the process with cargo's exit code (its errors are on stderr already).
    fn cargo(&self, args: &[&str], env: &[(&str, String)]) -> Result<()> {
        let mut run = container_run_args(&self.image, &self.engine, true)?;
        run.extend([
            "-e".into(),
            format!("PATH={}", self.image.path_with("/usr/local/bin")),
        ]);
        for (k, v) in env {
            run.extend(["-e".into(), format!("{k}={v}")]);
        }
        run.push(self.image.tag.clone());
        // Dependency sources live in the cargo home's registry (network profiles) or
        // in the vendor directory (`local`): both are remapped to one prefix, so that
        // an offline build gives the bytes an online build gives. The registry's
        // directory name hashes the source URL, so it is read after `cargo fetch`.
        run.extend([
            "sh".into(),
            "-c".into(),
            REMAP_DEPS_AND_RUN.into(),
            "sh".into(),
        ]);
        run.extend(args.iter().map(|s| (*s).to_owned()));
        let shown: Vec<String> = env.iter().map(|(k, v)| format!("{k}=\"{v}\" ")).collect();
        step(format_args!(
            "{}cargo {} (in {})",
            shown.concat(),
            args.join(" "),
            self.image.tag
        ));
        let status = self
            .engine
            .cmd(run)
            .unchecked()
            .run()
            .context("cannot run the build container")?
            .status;
        if !status.success() {
            let code = status.code().unwrap_or(1);
            eprintln!("error: cargo build failed in the dev container (exit code {code}; its errors are above)");
            crate::container::stop_private_daemon();
            std::process::exit(code);
        }
        Ok(())
    }

    /// Copy binaries out of the target volume into `out`, as the caller, so the files
    /// in the tree are theirs.
    fn copy_out(&self, from: &str, names: &[&str], out: &Path) -> Result<()> {
        container::create_dir_for_caller(&project::root().join("bundles"), out)?;
        let mut args = container_run_args(&self.image, &self.engine, true)?;
        args.push(self.image.tag.clone());
        args.extend(["install".into(), "-m".into(), "0755".into(), "-t".into()]);
        args.push(out.display().to_string());
        args.extend(names.iter().map(|n| format!("{from}/{n}")));
        self.engine
            .cmd(args)
            .run()
            .context("cannot copy the binaries out of the build container")?;
        Ok(())
    }
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

/// Where the static build runs: in the dev container (the default of `static`, `deb`
/// and `release`) or on the host (`--host`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Place {
    /// Build on the host with the host's toolchain instead of inside the dev container
    #[arg(long)]
    pub host: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Build the given binaries fully static where `place` says and return the directory
/// holding them: `bundles/<version>/binary-static/` for container builds, the host
/// target dir for host builds.
pub fn static_binaries(place: &Place, binaries: &[&manifest::Binary]) -> Result<PathBuf> {
    let mut crates: Vec<&str> = binaries.iter().map(|b| b.krate.as_str()).collect();
    crates.sort_unstable();
    crates.dedup();
    if place.host {
        return build_static(&crates);
    }
    let (args, env) = static_cargo(&crates);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let dev = DevContainer::connect(&place.engine)?;
    dev.cargo(&args, &env)?;
    let names: Vec<&str> = binaries.iter().map(|b| b.name.as_str()).collect();
    let out = project::bundles_dir()?.join("binary-static");
    dev.copy_out(&format!("/target/{STATIC_TARGET}/dist"), &names, &out)?;
    step(format_args!(
        "{} static binaries in {}",
        names.len(),
        out.display()
    ));
    Ok(out)
}

/// The cargo arguments and environment of the static build, the same on the host and
/// in the container.
fn static_cargo(crates: &[&str]) -> (Vec<String>, Vec<(&'static str, String)>) {
    let mut args: Vec<String> = [
        "build",
        "--locked",
        "--profile",
        "dist",
        "--target",
        STATIC_TARGET,
    ]
    .map(String::from)
    .to_vec();
    for c in crates {
        args.extend(["--package".to_owned(), (*c).to_owned()]);
    }
    // With an explicit --target, RUSTFLAGS reach only the target's crates, not build
    // scripts and proc-macros (which must stay dynamic). The source is remapped so the
    // output does not depend on the clone path.
    let rustflags = format!(
        "-C target-feature=+crt-static --remap-path-prefix={}=/workspace",
        project::root().display()
    );
    // The libseccomp crate links libseccomp.so unless told otherwise; a crt-static
    // binary with a shared library inside crashes at start.
    let env = vec![
        ("RUSTFLAGS", rustflags),
        ("LIBSECCOMP_LINK_TYPE", "static".to_owned()),
        (
            "LIBSECCOMP_LIB_PATH",
            "/usr/lib/x86_64-linux-gnu".to_owned(),
        ),
    ];
    (args, env)
}

/// Build the given crates' binaries fully static on the host (glibc `crt-static`, the
/// `dist` profile) and return the directory holding them. The benchmarks' size figures
/// come from here.
pub fn build_static(crates: &[&str]) -> Result<PathBuf> {
    let root = project::root();
    let source = project::source()?;
    let (args, env) = static_cargo(crates);
    step(format_args!(
        "RUSTFLAGS=\"{}\" cargo {}",
        env[0].1,
        args.join(" ")
    ));
    let mut cmd = duct::cmd("cargo", &args).dir(&root);
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    for (k, v) in project::build_env(&source) {
        cmd = cmd.env(k, v);
    }
    cmd.run()
        .context("static cargo build failed (its errors are above)")?;
    Ok(target_dir()?.join(STATIC_TARGET).join("dist"))
}
