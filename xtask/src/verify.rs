//! `cargo xtask verify`: install the packages into a clean rootfs and smoke-test (issue #7).

use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Distro to verify (repeatable); default every supported distro
    #[arg(long)]
    pub distro: Vec<String>,
}

pub fn run(args: Args) -> Result<()> {
    crate::distro::select(&args.distro)?;
    Err(crate::not_yet(
        "verify",
        "the packages (`cargo xtask deb`) and the verify rootfs",
        7,
    ))
}
