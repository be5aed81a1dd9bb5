//! `cargo xtask mirror`: mirror profiles from mirrors.toml (issue #9).

use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// List the profiles, the selected one marked
    List,
    /// Show every resolved download source of a profile
    Show { name: Option<String> },
    /// Record the profile to use in this checkout
    Use { name: String },
    /// Probe every source of a profile and report reachability
    Check { name: Option<String> },
}

pub fn run(_args: Args) -> Result<()> {
    Err(crate::not_yet(
        "mirror",
        "mirror profiles (mirrors.toml)",
        9,
    ))
}
