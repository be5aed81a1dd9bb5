//! `debian/packages.toml`: the packages `cargo xtask deb` knows, their control file,
//! version line, extra files and external binaries, joined with the binaries of
//! `packaging/manifest.toml` into what each package holds (or why it is not built).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::manifest::Binary;

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} does not parse: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("packaging/manifest.toml puts {binary} in package {package:?}, which debian/packages.toml does not define (known: {known})")]
    UnknownPackage {
        binary: String,
        package: String,
        known: String,
    },
    #[error("debian/packages.toml: {package} names {src}, which is not in {dir}")]
    MissingFile {
        package: String,
        src: String,
        dir: PathBuf,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    pub name: String,
    /// The source control file holding the package's stanza, relative to `debian/`.
    pub control: String,
    /// Set for packages on their own version line (containerd.io): the upstream release
    /// they stand in for, prefixed to this tree's Debian version with `+`.
    pub upstream_version: Option<String>,
    #[serde(default)]
    pub files: Vec<File>,
    #[serde(default)]
    pub external: Vec<External>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// Relative to `debian/`.
    pub src: String,
    /// Relative to the installed system's root.
    pub dst: String,
}

/// A binary that is not built here (tini as docker-init).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct External {
    pub name: String,
    /// `installers/<installer>.toml` pins it.
    pub installer: String,
    /// What to take while that installer is not written yet.
    pub host_fallback: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    package: Vec<Package>,
}

pub fn load(debian_dir: &Path) -> Result<Vec<Package>, LayoutError> {
    let path = debian_dir.join("packages.toml");
    let text = std::fs::read_to_string(&path).map_err(|source| LayoutError::Read {
        path: path.clone(),
        source,
    })?;
    let table: Table =
        toml::from_str(&text).map_err(|source| LayoutError::Parse { path, source })?;
    for package in &table.package {
        for file in &package.files {
            if !debian_dir.join(&file.src).is_file() {
                return Err(LayoutError::MissingFile {
                    package: package.name.clone(),
                    src: file.src.clone(),
                    dir: debian_dir.to_path_buf(),
                });
            }
        }
    }
    Ok(table.package)
}

/// What happens to one package in one build.
#[derive(Debug, Clone)]
pub enum Plan<'a> {
    /// Built with these (implemented) manifest binaries.
    Build {
        package: &'a Package,
        binaries: Vec<&'a Binary>,
    },
    /// Not built, and why.
    Skip {
        package: &'a Package,
        reason: String,
    },
}

/// Join the manifest with the packages: a package is built when at least one of its
/// binaries is implemented, with only the implemented ones.
pub fn plan<'a>(
    packages: &'a [Package],
    binaries: &'a [Binary],
) -> Result<Vec<Plan<'a>>, LayoutError> {
    for bin in binaries {
        if !packages.iter().any(|p| p.name == bin.package) {
            return Err(LayoutError::UnknownPackage {
                binary: bin.name.clone(),
                package: bin.package.clone(),
                known: packages
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(packages
        .iter()
        .map(|package| {
            let own: Vec<&Binary> = binaries
                .iter()
                .filter(|b| b.package == package.name)
                .collect();
            let implemented: Vec<&Binary> = own.iter().copied().filter(|b| b.implemented).collect();
            if !implemented.is_empty() {
                return Plan::Build {
                    package,
                    binaries: implemented,
                };
            }
            let reason = if own.is_empty() {
                "no binary of packaging/manifest.toml lands in it yet".to_owned()
            } else {
                format!(
                    "none of its binaries is implemented yet ({})",
                    own.iter()
                        .map(|b| b.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            Plan::Skip { package, reason }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bin(name: &str, package: &str, implemented: bool) -> Binary {
        Binary {
            name: name.into(),
            krate: "c".into(),
            package: package.into(),
            implemented,
        }
    }

    #[test]
    fn the_real_layout_loads_and_covers_the_manifest() {
        let root = crate::project::root();
        let packages = load(&root.join("debian")).unwrap();
        let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "docker-ce",
                "docker-ce-cli",
                "docker-ce-rootless-extras",
                "containerd.io"
            ]
        );
        let binaries = crate::manifest::binaries().unwrap();
        plan(&packages, &binaries).unwrap();
    }

    #[test]
    fn only_implemented_binaries_are_planned() {
        let packages = load(&crate::project::root().join("debian")).unwrap();
        let binaries = vec![
            bin("dockerd", "docker-ce", true),
            bin("docker-proxy", "docker-ce", false),
            bin("docker", "docker-ce-cli", false),
        ];
        let plans = plan(&packages, &binaries).unwrap();
        let mut built = Vec::new();
        let mut skipped = Vec::new();
        for p in &plans {
            match p {
                Plan::Build { package, binaries } => built.push((
                    package.name.as_str(),
                    binaries.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(),
                )),
                Plan::Skip { package, reason } => {
                    skipped.push((package.name.as_str(), reason.as_str()))
                }
            }
        }
        assert_eq!(built, [("docker-ce", vec!["dockerd"])]);
        assert_eq!(
            skipped,
            [
                (
                    "docker-ce-cli",
                    "none of its binaries is implemented yet (docker)"
                ),
                (
                    "docker-ce-rootless-extras",
                    "no binary of packaging/manifest.toml lands in it yet"
                ),
                (
                    "containerd.io",
                    "no binary of packaging/manifest.toml lands in it yet"
                ),
            ]
        );
    }

    #[test]
    fn bad_input_names_the_problem() {
        let packages = load(&crate::project::root().join("debian")).unwrap();
        let err = plan(&packages, &[bin("dockerd", "docker-engine", true)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("puts dockerd in package \"docker-engine\"")
                && err.contains("known: docker-ce,"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("packages.toml"),
            "[[package]]\nname = \"p\"\ncontrol = \"control\"\nfiles = [{ src = \"p/unit.service\", dst = \"lib/x\" }]\n",
        )
        .unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("p names p/unit.service, which is not in"),
            "{err}"
        );
    }
}
