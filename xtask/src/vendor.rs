//! `cargo xtask vendor`: every external input in one directory, for offline builds (issue #9).

use std::path::PathBuf;

use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to gather the inputs
    #[arg(long, default_value = "vendor")]
    out: PathBuf,
}

pub fn run(_args: Args) -> Result<()> {
    Err(crate::not_yet(
        "vendor",
        "the installers/ pins and the local mirror profile",
        9,
    ))
}
