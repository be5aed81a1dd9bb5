//! `cargo xtask image`: the dev-container image (issue #8).

use anyhow::Result;

#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// Build the build image of this distro instead of the dev image
    #[arg(long)]
    distro: Option<String>,
}

pub fn run(_args: Args) -> Result<()> {
    Err(crate::not_yet(
        "image",
        "rendering packaging/ templates and building the image",
        8,
    ))
}
