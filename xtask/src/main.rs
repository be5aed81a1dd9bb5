//! `cargo xtask`: the only entry point for building, packaging, testing and releasing
//! this workspace. It exists so that the pipeline is Rust code with one command surface,
//! instead of Makefiles and loose shell scripts.
//!
//! Each command lives in its own module with a `run` function; `main` parses the command
//! line and dispatches with one `match`. Commands that are not available yet fail with
//! one line naming what they still lack (see [`not_yet`]).

mod bench;
mod build;
mod ci;
mod container;
mod deb;
mod distro;
mod host;
mod hosted_ci;
mod image;
mod installers;
mod manifest;
mod mirror;
mod mounts;
mod project;
mod release;
mod rootfs;
mod shell;
mod static_tarball;
mod vendor;
mod verify;
mod version;

use clap::{Parser, Subcommand};

/// Build, package, test and release the workspace (docker-ce, in Rust).
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version = buildinfo::VERSION)]
#[command(propagate_version = true)]
pub struct Cli {
    /// Mirror profile of mirrors.toml to download through (else WORKSPACE_MIRROR, the
    /// choice of `mirror use`, or the default)
    #[arg(long, global = true, value_name = "NAME")]
    mirror: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the version stamp: VERSION, git commit, build date, rustc, package versions
    Version(version::Args),
    /// Build the dev-container image from the packaging/ templates
    Image(image::Args),
    /// Compile the components into bundles/<version>/binary/
    Build(build::Args),
    /// Build fully static binaries and the docker-<version>.tgz tarball
    Static(static_tarball::Args),
    /// Build the Debian packages for each supported distro
    Deb(deb::Args),
    /// Install the packages into a clean rootfs and smoke-test them
    Verify(verify::Args),
    /// Open a shell (or run one command) in the dev container
    Shell(shell::Args),
    /// Inspect and select download mirror profiles (mirrors.toml)
    Mirror(mirror::Args),
    /// Verify or unpack the pinned external components of installers/
    Installers(installers::Args),
    /// Gather every external input into a directory for offline builds
    Vendor(vendor::Args),
    /// The main job: image, build, static, deb and verify for every distro, checksums, changelog
    Release(release::Args),
    /// Benchmark our components side by side with the reference ones
    Bench(bench::Args),
    /// Run every check CI runs: fmt, clippy, the unit and integration tests
    Ci(ci::Args),
}

fn main() {
    let cli = Cli::parse();
    mirror::set_cli_choice(cli.mirror.clone());
    let result = match cli.command {
        Command::Version(args) => version::run(args),
        Command::Image(args) => image::run(args),
        Command::Build(args) => build::run(args),
        Command::Static(args) => static_tarball::run(args),
        Command::Deb(args) => deb::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Shell(args) => shell::run(args),
        Command::Mirror(args) => mirror::run(args),
        Command::Installers(args) => installers::run(args),
        Command::Vendor(args) => vendor::run(args),
        Command::Release(args) => release::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Ci(args) => ci::run(args),
    };
    // The error first: stopping a shared private daemon may wait for other xtasks.
    if let Err(err) = &result {
        eprintln!("error: {err:#}");
    }
    container::stop_private_daemon();
    if result.is_err() {
        std::process::exit(1);
    }
}

/// The error of a command (or a part of one) that is not available yet: one line naming
/// what is missing and the issue that tracks it.
pub fn not_yet(command: &str, lacks: &str, issue: u32) -> anyhow::Error {
    anyhow::anyhow!("`cargo xtask {command}` is not available yet: {lacks} (issue #{issue})")
}

/// Print a step of a long command, so the user sees what runs.
pub fn step(what: impl std::fmt::Display) {
    eprintln!("==> {what}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_lists_every_design_command() {
        let names: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .collect();
        for expected in [
            "build", "static", "deb", "verify", "shell", "image", "mirror", "vendor", "release",
            "bench", "ci", "version",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "missing subcommand {expected}"
            );
        }
        for sub in Cli::command().get_subcommands() {
            assert!(
                sub.get_about().is_some(),
                "subcommand {} has no help",
                sub.get_name()
            );
        }
    }
}
