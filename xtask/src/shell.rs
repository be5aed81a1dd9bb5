//! `cargo xtask shell`: a shell in the dev container (issue #8).

use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run this command instead of an interactive shell
    #[arg(last = true)]
    command: Vec<String>,
}

pub fn run(_args: Args) -> Result<()> {
    Err(crate::not_yet(
        "shell",
        "the dev-container image (`cargo xtask image`)",
        8,
    ))
}
