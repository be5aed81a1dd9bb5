//! `cargo xtask release`: the main job. Image, build, static tarball, packages for every
//! distro and their verification, then `SHA256SUMS` and the changelog.

use anyhow::Result;

use crate::{deb, host, image, static_tarball, step, verify};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Distro to release for (repeatable); default every supported distro
    #[arg(long)]
    distro: Vec<String>,
}

pub fn run(args: Args) -> Result<()> {
    crate::distro::select(&args.distro)?;
    host::ensure(host::RELEASE)?;
    step("dev-container image");
    image::run(image::Args::default())?;
    step("static binaries and tarball");
    static_tarball::run(static_tarball::Args {})?;
    step("Debian packages");
    deb::run(deb::Args::for_distros(args.distro.clone()))?;
    step("verify the packages");
    verify::run(verify::Args {
        distro: args.distro,
    })?;
    Err(crate::not_yet("release", "SHA256SUMS and the changelog", 7))
}
