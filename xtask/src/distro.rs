//! The supported distributions, read from `packaging/distros.toml` (the one table).

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::project;

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Distro {
    /// `debian-bookworm`: what `--distro` takes.
    pub name: String,
    /// `debian`: the os-release ID, first part of the package version suffix.
    pub id: String,
    pub suite: String,
    /// `12`: the release number in the package version suffix.
    pub version: String,
    pub glibc: String,
}

#[derive(Deserialize)]
struct Table {
    distro: Vec<Distro>,
}

pub fn all() -> Result<Vec<Distro>> {
    let path = project::root().join("packaging/distros.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let table: Table =
        toml::from_str(&text).with_context(|| format!("{} does not parse", path.display()))?;
    Ok(table.distro)
}

/// The distros named on the command line, or all of them when none is named.
pub fn select(names: &[String]) -> Result<Vec<Distro>> {
    let all = all()?;
    if names.is_empty() {
        return Ok(all);
    }
    names
        .iter()
        .map(|name| match all.iter().find(|d| &d.name == name) {
            Some(d) => Ok(d.clone()),
            None => bail!(
                "unknown distro {name:?}; known distros: {}",
                all.iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_the_supported_debian_releases() {
        let names: Vec<String> = all().unwrap().into_iter().map(|d| d.name).collect();
        assert_eq!(
            names,
            ["debian-bullseye", "debian-bookworm", "debian-trixie"]
        );
    }

    #[test]
    fn unknown_distro_lists_the_known_ones() {
        let err = select(&["debian-potato".into()]).unwrap_err().to_string();
        assert!(err.contains("unknown distro \"debian-potato\""), "{err}");
        assert!(err.contains("debian-bookworm"), "{err}");
    }
}
