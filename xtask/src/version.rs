//! `cargo xtask version`: the stamp of the tree, as every binary and package carries it.

use anyhow::Result;
use serde::Serialize;

use crate::{distro, project};

/// Package revision: the `-1` in `5:26.11.0-1~debian.12~bookworm`.
pub const DEB_REVISION: u32 = 1;
/// Debian epoch of docker-ce's packages.
pub const DEB_EPOCH: u32 = 5;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format: `text` for people, `json` for scripts
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

#[derive(Serialize)]
struct Stamp {
    version: String,
    git_commit: String,
    dirty: bool,
    source_date_epoch: i64,
    build_date: String,
    rustc: String,
    static_version: String,
    deb_versions: Vec<DebVersion>,
}

#[derive(Serialize)]
struct DebVersion {
    distro: String,
    version: String,
}

pub fn run(args: Args) -> Result<()> {
    let version = project::version()?;
    let source = project::source()?;
    let rustc = duct::cmd!("rustc", "--version")
        .read()
        .unwrap_or_else(|_| "unknown".into());
    let build_date = utc_rfc3339(source.commit_time);
    let deb_versions = distro::all()?
        .into_iter()
        .map(|d| DebVersion {
            version: version.to_deb_full(
                &source,
                DEB_EPOCH,
                DEB_REVISION,
                &d.id,
                &d.version,
                &d.suite,
            ),
            distro: d.name,
        })
        .collect();
    let stamp = Stamp {
        version: version.to_string(),
        git_commit: source.commit.clone(),
        dirty: source.dirty,
        source_date_epoch: source.commit_time,
        build_date,
        rustc,
        static_version: version.to_static(&source),
        deb_versions,
    };
    if args.format == "json" {
        println!("{}", serde_json::to_string_pretty(&stamp)?);
        return Ok(());
    }
    println!("Version:         {}", stamp.version);
    let dirty = if stamp.dirty {
        " (with uncommitted changes: built as a nightly)"
    } else {
        ""
    };
    println!("Git commit:      {}{dirty}", stamp.git_commit);
    println!(
        "Built:           {} (SOURCE_DATE_EPOCH={})",
        stamp.build_date, stamp.source_date_epoch
    );
    println!("Rustc:           {}", stamp.rustc);
    println!("Static version:  {}", stamp.static_version);
    println!("Debian versions:");
    for d in &stamp.deb_versions {
        println!("  {:<17}{}", d.distro, d.version);
    }
    Ok(())
}

fn utc_rfc3339(unix: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}
