//! `packaging/manifest.toml`: which binary comes from which crate and lands in which
//! package, and whether its component is implemented yet.

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::project;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binary {
    pub name: String,
    #[serde(rename = "crate")]
    pub krate: String,
    pub package: String,
    pub implemented: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    binary: Vec<Binary>,
}

pub fn binaries() -> Result<Vec<Binary>> {
    let path = project::root().join("packaging/manifest.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let manifest: Manifest =
        toml::from_str(&text).with_context(|| format!("{} does not parse", path.display()))?;
    Ok(manifest.binary)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_component_binary_is_listed_once() {
        let bins = super::binaries().unwrap();
        let mut names: Vec<&str> = bins.iter().map(|b| b.name.as_str()).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a binary is listed twice");
        for want in [
            "runc",
            "containerd",
            "containerd-shim-runc-v2",
            "ctr",
            "dockerd",
            "docker-proxy",
            "docker",
        ] {
            assert!(
                names.contains(&want),
                "{want} missing from packaging/manifest.toml"
            );
        }
    }
}
