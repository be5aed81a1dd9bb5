//! `cargo xtask deb`: Debian packages per distro (issue #7).

use anyhow::Result;

use crate::distro;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Distro to build for (repeatable); default every supported distro
    #[arg(long)]
    distro: Vec<String>,
    /// List the supported distros instead of building (drives the CI matrix)
    #[arg(long)]
    list: bool,
    /// Output format of --list
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

impl Args {
    pub fn for_distros(distro: Vec<String>) -> Args {
        Args {
            distro,
            list: false,
            format: "text".into(),
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    let distros = distro::select(&args.distro)?;
    if args.list {
        let names: Vec<&str> = distros.iter().map(|d| d.name.as_str()).collect();
        match args.format.as_str() {
            "json" => println!("{}", serde_json::to_string(&names)?),
            _ => names.iter().for_each(|n| println!("{n}")),
        }
        return Ok(());
    }
    Err(crate::not_yet(
        "deb",
        "the package writer and debian/ metadata",
        7,
    ))
}
