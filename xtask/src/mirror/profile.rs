//! `mirrors.toml` parsed and resolved: a profile's kinds after inheritance, with every
//! `host` and `vendor` value turned into the concrete source a build uses. [`Profile`]
//! is the one type the rest of xtask (templates, image, build, vendor) reads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::hostconf::{self, HostRoot};

/// A profile resolved for use: every required kind has a concrete source.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub name: String,
    pub description: String,
    /// Debian archive root, e.g. `http://mirror/debian` or `file:/vendor/apt` (flat).
    pub apt: Apt,
    pub toolchain: Toolchain,
    pub crates: Crates,
    /// Git host → URL template with `{owner}`, `{repo}`, `{path}`.
    pub git: BTreeMap<String, String>,
    pub registry: Registry,
    pub registry_mirrors: Vec<String>,
    pub insecure_registries: Vec<String>,
    /// Docker's apt repository for the install script; `None`: the script's own default.
    pub docker_apt: Option<String>,
    /// The CA bundle build containers get (a file on the host).
    pub ca_bundle: PathBuf,
    /// The `cargo xtask vendor` directory, for profiles that read from one.
    pub vendor: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Apt {
    /// A Debian archive (and its security archive): `deb URI SUITE main`.
    Archive {
        archive: String,
        security: Option<String>,
    },
    /// A flat repository made by `vendor` (`deb [trusted=yes] file:DIR ./`).
    Flat { dir: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Toolchain {
    /// rustup installs the pinned toolchain; `None` servers are rustup's own defaults.
    Rustup {
        dist_server: Option<String>,
        update_root: Option<String>,
    },
    /// The host's toolchain, mounted read-only into the container.
    Mount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Crates {
    /// The host's cargo configuration, handed to the container as it is.
    Host {
        config: Option<PathBuf>,
        replaced_by: Option<String>,
    },
    /// A registry mirror, set as cargo source replacement.
    Registry { url: String },
    /// `cargo vendor` output.
    Vendored { dir: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Registry {
    /// The engine's own configuration (its default registry and registry-mirrors).
    Engine,
    /// Base images are pulled as `HOST/library/debian:SUITE`.
    Mirror { host: String },
    /// No registry: debootstrap (or the vendored rootfs) and `docker import`.
    Bootstrap,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
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
    #[error("unknown mirror profile {name:?}{from}; known profiles: {known}")]
    Unknown {
        name: String,
        from: String,
        known: String,
    },
    #[error("mirror profile {profile:?} does not set the required kind `{kind}`; add `{kind} = ...` to [profile.{profile}] in mirrors.toml (see the comment at its top)")]
    Missing { profile: String, kind: &'static str },
    #[error("mirror profile {profile:?}: {kind} = {value:?} is not valid here; {hint}")]
    Invalid {
        profile: String,
        kind: &'static str,
        value: String,
        hint: &'static str,
    },
    #[error("mirror profile {0:?} inherits from itself (through `inherits`)")]
    Cycle(String),
    #[error(
        "mirror profile {profile:?} takes {kind} from the host, but the host has none: {what}"
    )]
    HostLacks {
        profile: String,
        kind: &'static str,
        what: String,
    },
}

/// `mirrors.toml` as written.
#[derive(Debug, Clone, Deserialize)]
pub struct File {
    pub default: String,
    #[serde(default)]
    pub profile: BTreeMap<String, RawProfile>,
}

/// One `[profile.NAME]` table as written; unset kinds come from `inherits`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    pub inherits: Option<String>,
    pub description: Option<String>,
    pub vendor: Option<String>,
    pub apt: Option<String>,
    pub apt_security: Option<String>,
    pub toolchain: Option<String>,
    pub rustup_update_root: Option<String>,
    pub crates: Option<String>,
    pub registry: Option<String>,
    pub registry_mirrors: Option<Vec<String>>,
    pub insecure_registries: Option<Vec<String>>,
    pub docker_apt: Option<String>,
    pub ca_bundle: Option<String>,
    #[serde(default)]
    pub git: BTreeMap<String, String>,
}

impl RawProfile {
    /// `self` over `base`: fields set here win, git rewrites are merged.
    fn over(self, base: RawProfile) -> RawProfile {
        let mut git = base.git;
        git.extend(self.git);
        RawProfile {
            inherits: None,
            description: self.description.or(base.description),
            vendor: self.vendor.or(base.vendor),
            apt: self.apt.or(base.apt),
            apt_security: self.apt_security.or(base.apt_security),
            toolchain: self.toolchain.or(base.toolchain),
            rustup_update_root: self.rustup_update_root.or(base.rustup_update_root),
            crates: self.crates.or(base.crates),
            registry: self.registry.or(base.registry),
            registry_mirrors: self.registry_mirrors.or(base.registry_mirrors),
            insecure_registries: self.insecure_registries.or(base.insecure_registries),
            docker_apt: self.docker_apt.or(base.docker_apt),
            ca_bundle: self.ca_bundle.or(base.ca_bundle),
            git,
        }
    }
}

impl File {
    pub fn load(path: &Path) -> Result<File, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ProfileError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    pub fn names(&self) -> Vec<&str> {
        self.profile.keys().map(String::as_str).collect()
    }

    /// The profile after inheritance, still unresolved.
    pub fn flatten(&self, name: &str, from: &str) -> Result<RawProfile, ProfileError> {
        let mut chain = vec![name.to_owned()];
        let mut raw = self.get(name, from)?.clone();
        while let Some(parent) = raw.inherits.take() {
            if chain.contains(&parent) {
                return Err(ProfileError::Cycle(name.to_owned()));
            }
            let base = self
                .get(
                    &parent,
                    &format!(" (inherited by {:?})", chain.last().unwrap()),
                )?
                .clone();
            chain.push(parent);
            let next_inherits = base.inherits.clone();
            raw = raw.over(base);
            raw.inherits = next_inherits;
        }
        Ok(raw)
    }

    fn get(&self, name: &str, from: &str) -> Result<&RawProfile, ProfileError> {
        self.profile.get(name).ok_or_else(|| ProfileError::Unknown {
            name: name.to_owned(),
            from: from.to_owned(),
            known: self.names().join(", "),
        })
    }

    /// Resolve a profile against the host (`root` is the workspace root, which a relative
    /// `vendor` path is taken from).
    pub fn resolve(
        &self,
        name: &str,
        from: &str,
        root: &Path,
        host: &HostRoot,
    ) -> Result<Profile, ProfileError> {
        let raw = self.flatten(name, from)?;
        resolve(name, raw, root, host)
    }
}

fn resolve(
    name: &str,
    raw: RawProfile,
    root: &Path,
    host: &HostRoot,
) -> Result<Profile, ProfileError> {
    let profile = name.to_owned();
    let required = |value: &Option<String>, kind: &'static str| {
        value.clone().ok_or_else(|| ProfileError::Missing {
            profile: profile.clone(),
            kind,
        })
    };
    let invalid = |kind: &'static str, value: &str, hint: &'static str| ProfileError::Invalid {
        profile: profile.clone(),
        kind,
        value: value.to_owned(),
        hint,
    };
    // WORKSPACE_VENDOR points a vendoring profile at another directory.
    let vendor = raw.vendor.as_deref().map(|v| {
        match std::env::var_os("WORKSPACE_VENDOR").filter(|v| !v.is_empty()) {
            Some(dir) => root.join(dir),
            None => root.join(v),
        }
    });
    let vendor_dir = |kind: &'static str| {
        vendor.clone().ok_or_else(|| ProfileError::Invalid {
            profile: profile.clone(),
            kind,
            value: "vendor".into(),
            hint: "the profile needs `vendor = \"DIR\"` (a directory made by `cargo xtask vendor`)",
        })
    };
    let host_lacks = |kind: &'static str, what: String| ProfileError::HostLacks {
        profile: profile.clone(),
        kind,
        what,
    };
    let url_like = |v: &str| v.contains("://");

    let apt_value = required(&raw.apt, "apt")?;
    let (host_archive, host_security) = host.debian_archives();
    let apt = match apt_value.as_str() {
        "vendor" => Apt::Flat {
            dir: vendor_dir("apt")?.join("apt"),
        },
        "host" => Apt::Archive {
            archive: host_archive.ok_or_else(|| {
                host_lacks(
                    "apt",
                    format!(
                        "no Debian archive for its suite in {}/sources.list{{,.d}}",
                        host.etc_apt.display()
                    ),
                )
            })?,
            security: match raw.apt_security.as_deref() {
                None | Some("none") => None,
                Some("host") => host_security,
                Some(url) => Some(url.trim_end_matches('/').to_owned()),
            },
        },
        url if url_like(url) => Apt::Archive {
            archive: url.trim_end_matches('/').to_owned(),
            security: match raw.apt_security.as_deref() {
                None | Some("none") => None,
                Some("host") => host_security,
                Some(url) => Some(url.trim_end_matches('/').to_owned()),
            },
        },
        other => {
            return Err(invalid(
                "apt",
                other,
                "use \"host\", \"vendor\" or an archive URL",
            ))
        }
    };

    let toolchain = match required(&raw.toolchain, "toolchain")?.as_str() {
        "mount" => Toolchain::Mount,
        "host" => Toolchain::Rustup {
            dist_server: hostconf::rustup_dist_server(),
            update_root: std::env::var("RUSTUP_UPDATE_ROOT")
                .ok()
                .filter(|s| !s.is_empty()),
        },
        url if url_like(url) => Toolchain::Rustup {
            dist_server: Some(url.trim_end_matches('/').to_owned()),
            update_root: raw.rustup_update_root.clone(),
        },
        other => {
            return Err(invalid(
                "toolchain",
                other,
                "use \"host\", \"mount\" or a rustup dist server URL",
            ))
        }
    };

    let crates = match required(&raw.crates, "crates")?.as_str() {
        "vendor" => Crates::Vendored {
            dir: vendor_dir("crates")?.join("crates"),
        },
        "host" => {
            let config = hostconf::cargo_config();
            let replaced_by = config.as_deref().and_then(hostconf::cargo_replacement);
            Crates::Host {
                config,
                replaced_by,
            }
        }
        url if url_like(url) => Crates::Registry {
            url: url.to_owned(),
        },
        other => {
            return Err(invalid(
                "crates",
                other,
                "use \"host\", \"vendor\" or a registry URL (sparse+https://...)",
            ))
        }
    };

    let registry = match required(&raw.registry, "registry")?.as_str() {
        "host" => Registry::Engine,
        "bootstrap" => Registry::Bootstrap,
        other if other.contains('/') || other.contains(char::is_whitespace) => {
            return Err(invalid(
                "registry",
                other,
                "use \"host\", \"bootstrap\" or a registry host name (host[:port])",
            ))
        }
        other => Registry::Mirror {
            host: other.to_owned(),
        },
    };

    let ca_bundle = match required(&raw.ca_bundle, "ca_bundle")?.as_str() {
        "host" => hostconf::ca_bundle(),
        path => root.join(path),
    };
    if !ca_bundle.is_file() {
        return Err(host_lacks(
            "ca_bundle",
            format!("{} does not exist", ca_bundle.display()),
        ));
    }

    for (host_name, template) in &raw.git {
        if !template.contains("{repo}") && !template.contains("{path}") {
            return Err(ProfileError::Invalid {
                profile: profile.clone(),
                kind: "git",
                value: format!("{host_name} = {template}"),
                hint: "a git rewrite needs {repo} or {path} in its template",
            });
        }
    }

    Ok(Profile {
        name: name.to_owned(),
        description: raw.description.unwrap_or_default(),
        apt,
        toolchain,
        crates,
        git: raw.git,
        registry,
        registry_mirrors: raw.registry_mirrors.unwrap_or_default(),
        insecure_registries: raw.insecure_registries.unwrap_or_default(),
        docker_apt: raw
            .docker_apt
            .filter(|d| d != "none")
            .map(|d| d.trim_end_matches('/').to_owned()),
        ca_bundle,
        vendor,
    })
}

impl Profile {
    /// The `deb` lines of a suite's sources.list, as the build images get them.
    pub fn apt_lines(&self, suite: &str) -> Vec<String> {
        match &self.apt {
            Apt::Archive { archive, security } => {
                let mut lines = vec![
                    format!("deb {archive} {suite} main"),
                    format!("deb {archive} {suite}-updates main"),
                ];
                if let Some(sec) = security {
                    lines.push(format!("deb {sec} {suite}-security main"));
                }
                lines
            }
            Apt::Flat { .. } => vec!["deb [trusted=yes] file:/workspace-apt ./".to_owned()],
        }
    }

    /// The archive root debootstrap reads a suite from; `None` for a flat repository.
    pub fn apt_archive(&self) -> Option<&str> {
        match &self.apt {
            Apt::Archive { archive, .. } => Some(archive),
            Apt::Flat { .. } => None,
        }
    }

    /// A URL with its git host rewritten by the profile (`github.com/o/r` →
    /// the template with `{owner}`, `{repo}`, `{path}` filled in).
    pub fn rewrite_git(&self, url: &str) -> String {
        let Some((scheme, rest)) = url.split_once("://") else {
            return url.to_owned();
        };
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let Some(template) = self.git.get(host) else {
            return url.to_owned();
        };
        let mut parts = path.splitn(3, '/');
        let owner = parts.next().unwrap_or_default();
        let repo_part = parts.next().unwrap_or_default();
        let tail = parts.next();
        let (repo, suffix) = match repo_part.strip_suffix(".git") {
            Some(r) => (r, ".git"),
            None => (repo_part, ""),
        };
        let mut out = template
            .replace("{owner}", owner)
            .replace("{repo}", repo)
            .replace("{path}", path);
        if !template.contains("{path}") {
            out.push_str(suffix);
            if let Some(tail) = tail {
                out.push('/');
                out.push_str(tail);
            }
        }
        let _ = scheme;
        out
    }

    /// The `registry-mirrors` / `insecure-registries` fragment of a daemon.json, for
    /// packaging to merge when it is asked to ship the profile's mirrors.
    pub fn daemon_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        if !self.registry_mirrors.is_empty() {
            map.insert(
                "registry-mirrors".into(),
                serde_json::json!(self.registry_mirrors),
            );
        }
        if !self.insecure_registries.is_empty() {
            map.insert(
                "insecure-registries".into(),
                serde_json::json!(self.insecure_registries),
            );
        }
        serde_json::Value::Object(map)
    }

    /// The base image reference for a Debian suite, when it comes from a registry.
    pub fn base_image(&self, suite: &str) -> Option<String> {
        match &self.registry {
            Registry::Engine => Some(format!("debian:{suite}")),
            Registry::Mirror { host } => Some(format!("{host}/library/debian:{suite}")),
            Registry::Bootstrap => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_fixture(dir: &Path) -> HostRoot {
        let apt = dir.join("apt");
        std::fs::create_dir_all(apt.join("sources.list.d")).unwrap();
        std::fs::write(
            apt.join("sources.list"),
            "deb http://h.example/debian bookworm main\ndeb http://h.example/debian-security bookworm-security main\n",
        )
        .unwrap();
        std::fs::write(dir.join("os-release"), "VERSION_CODENAME=bookworm\n").unwrap();
        HostRoot {
            etc_apt: apt,
            os_release: dir.join("os-release"),
        }
    }

    fn file() -> File {
        File::load(&crate::project::root().join("mirrors.toml")).unwrap()
    }

    #[test]
    fn the_tree_defines_upstream_cn_and_local() {
        let f = file();
        for name in ["upstream", "cn", "local"] {
            assert!(f.profile.contains_key(name), "mirrors.toml lacks {name}");
        }
        assert!(f.profile.contains_key(&f.default));
    }

    #[test]
    fn upstream_takes_apt_from_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let host = host_fixture(dir.path());
        let p = file().resolve("upstream", "", dir.path(), &host).unwrap();
        assert_eq!(
            p.apt,
            Apt::Archive {
                archive: "http://h.example/debian".into(),
                security: Some("http://h.example/debian-security".into())
            }
        );
        assert_eq!(
            p.apt_lines("trixie"),
            [
                "deb http://h.example/debian trixie main",
                "deb http://h.example/debian trixie-updates main",
                "deb http://h.example/debian-security trixie-security main"
            ]
        );
        assert_eq!(p.registry, Registry::Engine);
        assert!(matches!(p.crates, Crates::Host { .. }));
    }

    #[test]
    fn upstream_without_a_host_archive_says_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let host = HostRoot {
            etc_apt: dir.path().join("none"),
            os_release: dir.path().join("none"),
        };
        let err = file()
            .resolve("upstream", "", dir.path(), &host)
            .unwrap_err()
            .to_string();
        assert!(err.contains("takes apt from the host"), "{err}");
        assert!(err.contains("sources.list"), "{err}");
    }

    #[test]
    fn inheritance_overrides_single_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let host = host_fixture(dir.path());
        let p = file().resolve("cn-ustc", "", dir.path(), &host).unwrap();
        let cn = file().resolve("cn", "", dir.path(), &host).unwrap();
        assert_ne!(p.apt, cn.apt);
        assert_eq!(p.crates, cn.crates);
        assert_eq!(p.toolchain, cn.toolchain);
        assert_eq!(p.git, cn.git);
    }

    #[test]
    fn cn_rewrites_github_to_gitee() {
        let dir = tempfile::tempdir().unwrap();
        let host = host_fixture(dir.path());
        let p = file().resolve("cn", "", dir.path(), &host).unwrap();
        assert_eq!(
            p.rewrite_git("https://github.com/krallin/tini.git"),
            "https://gitee.com/mirrors/tini.git"
        );
        assert_eq!(
            p.rewrite_git("https://example.org/a/b.git"),
            "https://example.org/a/b.git"
        );
        assert_eq!(
            p.base_image("bookworm").unwrap(),
            "docker.m.daocloud.io/library/debian:bookworm"
        );
        assert!(p.daemon_json()["registry-mirrors"].is_array());
    }

    #[test]
    fn local_reads_everything_from_the_vendor_dir() {
        let dir = tempfile::tempdir().unwrap();
        let host = host_fixture(dir.path());
        let p = file().resolve("local", "", dir.path(), &host).unwrap();
        let vendor = dir.path().join("vendor");
        assert_eq!(
            p.apt,
            Apt::Flat {
                dir: vendor.join("apt")
            }
        );
        assert_eq!(
            p.crates,
            Crates::Vendored {
                dir: vendor.join("crates")
            }
        );
        assert_eq!(p.toolchain, Toolchain::Mount);
        assert_eq!(p.registry, Registry::Bootstrap);
        assert_eq!(p.base_image("bookworm"), None);
    }

    fn parse(text: &str) -> File {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn unknown_profile_lists_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let err = file()
            .resolve(
                "nope",
                " (from --mirror)",
                dir.path(),
                &host_fixture(dir.path()),
            )
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown mirror profile \"nope\" (from --mirror)"),
            "{err}"
        );
        assert!(
            err.contains("upstream") && err.contains("cn") && err.contains("local"),
            "{err}"
        );
    }

    #[test]
    fn missing_required_kind_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = parse("default = \"a\"\n[profile.a]\napt = \"http://m.example/debian\"\ntoolchain = \"mount\"\nregistry = \"host\"\nca_bundle = \"host\"\n");
        let err = f
            .resolve("a", "", dir.path(), &host_fixture(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("does not set the required kind `crates`"),
            "{err}"
        );
    }

    #[test]
    fn inheritance_cycles_and_unknown_parents_fail() {
        let dir = tempfile::tempdir().unwrap();
        let host = host_fixture(dir.path());
        let f = parse(
            "default = \"a\"\n[profile.a]\ninherits = \"b\"\n[profile.b]\ninherits = \"a\"\n",
        );
        let err = f
            .resolve("a", "", dir.path(), &host)
            .unwrap_err()
            .to_string();
        assert!(err.contains("inherits from itself"), "{err}");
        let f = parse("default = \"a\"\n[profile.a]\ninherits = \"zz\"\n");
        let err = f
            .resolve("a", "", dir.path(), &host)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown mirror profile \"zz\" (inherited by \"a\")"),
            "{err}"
        );
    }

    #[test]
    fn unknown_fields_and_bad_values_are_rejected() {
        let bad: Result<File, _> =
            toml::from_str("default = \"a\"\n[profile.a]\napt_mirror = \"x\"\n");
        assert!(bad.is_err());
        let dir = tempfile::tempdir().unwrap();
        let f = parse("default = \"a\"\n[profile.a]\ninherits = \"cn\"\ncrates = \"somewhere\"\n[profile.cn]\napt = \"http://m.example/debian\"\ntoolchain = \"mount\"\nregistry = \"host\"\nca_bundle = \"host\"\ncrates = \"host\"\n");
        let err = f
            .resolve("a", "", dir.path(), &host_fixture(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("crates = \"somewhere\" is not valid"), "{err}");
    }
}
