//! `cargo xtask bench`: our components beside the reference ones, as ratios.

use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which component to benchmark
    #[arg(value_parser = ["runc", "containerd", "cli", "engine", "registry"])]
    component: String,
}

pub fn run(args: Args) -> Result<()> {
    let issue = match args.component.as_str() {
        "runc" => 4,
        "containerd" => 5,
        "cli" => 6,
        "engine" => 10,
        _ => 11,
    };
    Err(crate::not_yet(
        &format!("bench {}", args.component),
        &format!("the {} component", args.component),
        issue,
    ))
}
