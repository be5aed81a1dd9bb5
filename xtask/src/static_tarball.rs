//! `cargo xtask static`: static binaries and `docker-<version>.tgz` (issue #7).

use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<()> {
    Err(crate::not_yet(
        "static",
        "crt-static builds and the tarball writer",
        7,
    ))
}
