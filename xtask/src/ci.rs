//! `cargo xtask ci`: every check CI runs, in the order that fails fastest.

use anyhow::{Context, Result};

use crate::{host, project, step};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Skip installing missing host tools (report them instead)
    #[arg(long)]
    no_install: bool,
}

pub fn run(args: Args) -> Result<()> {
    let root = project::root();
    if args.no_install {
        host::require(host::CI)?;
    } else {
        host::ensure(host::CI)?;
        host::ensure_nextest()?;
    }
    let cargo = |what: &str, args: &[&str]| -> Result<()> {
        step(format_args!("{what}: cargo {}", args.join(" ")));
        duct::cmd("cargo", args)
            .dir(&root)
            .stdin_null()
            .run()
            .with_context(|| {
                format!(
                    "{what} failed (details above); run `cargo {}`",
                    args.join(" ")
                )
            })?;
        Ok(())
    };
    cargo("format", &["fmt", "--all", "--", "--check"])?;
    cargo(
        "lint",
        &[
            "clippy",
            "--locked",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // Unit tests and the integration suites (components' tests/ directories) in one run;
    // nextest's summary (`N tests run: N passed, N failed`) is the last line printed.
    cargo(
        "tests",
        &[
            "nextest",
            "run",
            "--locked",
            "--workspace",
            "--profile",
            "ci",
        ],
    )?;
    Ok(())
}
