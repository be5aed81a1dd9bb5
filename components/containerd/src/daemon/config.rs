//! Command line and `config.toml` (version 2) of the daemon. Flags override the file;
//! the file overrides the defaults (`/var/lib/containerd`, `/run/containerd`,
//! `/run/containerd/containerd.sock`), as with containerd.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use serde::Deserialize;

#[derive(Parser, Debug)]
#[command(
    name = "containerd",
    about = "high performance container runtime",
    disable_version_flag = true
)]
pub struct Cli {
    /// Path to the configuration file
    #[arg(
        short = 'c',
        long = "config",
        default_value = "/etc/containerd/config.toml"
    )]
    pub config: PathBuf,
    /// Set the logging level [trace, debug, info, warn, error, fatal, panic]
    #[arg(short = 'l', long = "log-level")]
    pub log_level: Option<String>,
    /// Address for containerd's GRPC server
    #[arg(short = 'a', long = "address")]
    pub address: Option<PathBuf>,
    /// containerd root directory
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// containerd state directory
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Print the version
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Information on the containerd config
    Config {
        #[command(subcommand)]
        what: ConfigCommand,
    },
    /// Binary to publish events to containerd
    Publish {
        #[arg(long)]
        namespace: String,
        #[arg(long)]
        topic: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// See the output of the default config
    Default,
}

#[derive(Deserialize, Debug, Default)]
struct File {
    version: Option<i64>,
    root: Option<PathBuf>,
    state: Option<PathBuf>,
    #[serde(default)]
    grpc: Grpc,
    #[serde(default)]
    debug: Debug,
}

#[derive(Deserialize, Debug, Default)]
struct Grpc {
    address: Option<PathBuf>,
}

#[derive(Deserialize, Debug, Default)]
struct Debug {
    level: Option<String>,
}

/// The settings the daemon runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub root: PathBuf,
    pub state: PathBuf,
    pub address: PathBuf,
    pub log_level: String,
}

pub const DEFAULT_CONFIG: &str = r#"version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = []

[grpc]
  address = "/run/containerd/containerd.sock"

[ttrpc]
  address = ""

[debug]
  level = ""
"#;

impl Cli {
    pub fn resolve(&self, explicit_config: bool) -> anyhow::Result<Config> {
        let file = load(&self.config, explicit_config)?;
        let level = self
            .log_level
            .clone()
            .or(file.debug.level.filter(|l| !l.is_empty()))
            .unwrap_or_else(|| "info".into());
        Ok(Config {
            root: self
                .root
                .clone()
                .or(file.root)
                .unwrap_or_else(|| "/var/lib/containerd".into()),
            state: self
                .state
                .clone()
                .or(file.state)
                .unwrap_or_else(|| "/run/containerd".into()),
            address: self
                .address
                .clone()
                .or(file.grpc.address.filter(|a| !a.as_os_str().is_empty()))
                .unwrap_or_else(|| "/run/containerd/containerd.sock".into()),
            log_level: level,
        })
    }
}

fn load(path: &Path, explicit: bool) -> anyhow::Result<File> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(File::default())
        }
        Err(e) => {
            return Err(e).with_context(|| format!("failed to load config file {}", path.display()))
        }
    };
    let file: File = toml::from_str(&text)
        .with_context(|| format!("failed to load TOML from {}", path.display()))?;
    match file.version {
        None | Some(1) | Some(2) => Ok(file),
        Some(v) => bail!(
            "unsupported config version {v} in {}; use version = 2",
            path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "version = 2\nroot = \"/r\"\nstate = \"/s\"\n[grpc]\naddress = \"/a.sock\"\n[debug]\nlevel = \"debug\"\n").unwrap();
        let cli = Cli::parse_from(["containerd", "-c", p.to_str().unwrap(), "--root", "/x"]);
        let c = cli.resolve(true).unwrap();
        assert_eq!(c.root, PathBuf::from("/x"));
        assert_eq!(c.state, PathBuf::from("/s"));
        assert_eq!(c.address, PathBuf::from("/a.sock"));
        assert_eq!(c.log_level, "debug");
        std::fs::write(&p, "version = 3\n").unwrap();
        let err = Cli::parse_from(["containerd", "-c", p.to_str().unwrap()])
            .resolve(true)
            .unwrap_err();
        assert!(
            err.to_string().contains("unsupported config version 3"),
            "{err}"
        );
    }
}
