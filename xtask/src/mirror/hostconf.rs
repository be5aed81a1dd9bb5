//! The host's own download configuration, read for the `host` value of a profile kind:
//! its apt sources (`/etc/apt/sources.list{,.d}`, one-line and deb822 formats), its cargo
//! source replacement (`$CARGO_HOME/config.toml`), rustup's environment and its CA
//! bundle. Reading them at run time is what keeps every archive host out of the tree.

use std::path::{Path, PathBuf};

/// One `deb` line (or deb822 stanza) of the host's apt configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptEntry {
    pub uri: String,
    pub suites: Vec<String>,
    pub components: Vec<String>,
}

/// Where the host's apt sources live; a test points this at a fixture directory.
#[derive(Debug, Clone)]
pub struct HostRoot {
    pub etc_apt: PathBuf,
    pub os_release: PathBuf,
}

impl Default for HostRoot {
    fn default() -> Self {
        HostRoot {
            etc_apt: PathBuf::from("/etc/apt"),
            os_release: PathBuf::from("/etc/os-release"),
        }
    }
}

impl HostRoot {
    /// The host's Debian codename (`VERSION_CODENAME` of os-release).
    pub fn codename(&self) -> Option<String> {
        let text = std::fs::read_to_string(&self.os_release).ok()?;
        text.lines().find_map(|l| {
            l.strip_prefix("VERSION_CODENAME=")
                .map(|v| v.trim_matches('"').to_owned())
                .filter(|v| !v.is_empty())
        })
    }

    /// Every enabled `deb` source: `sources.list`, `sources.list.d/*.list` and
    /// `sources.list.d/*.sources` (apt ignores other file names, and so do we).
    pub fn apt_entries(&self) -> Vec<AptEntry> {
        let mut entries = Vec::new();
        if let Ok(text) = std::fs::read_to_string(self.etc_apt.join("sources.list")) {
            entries.extend(parse_one_line(&text));
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.etc_apt.join("sources.list.d"))
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        for file in files {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            match file.extension().and_then(|e| e.to_str()) {
                Some("list") => entries.extend(parse_one_line(&text)),
                Some("sources") => entries.extend(parse_deb822(&text)),
                _ => {}
            }
        }
        entries
    }

    /// The host's Debian archive and security archive: the sources that carry the
    /// host's own suite and `<suite>-security`.
    pub fn debian_archives(&self) -> (Option<String>, Option<String>) {
        let entries = self.apt_entries();
        let codename = self.codename();
        let with_suite = |want: &dyn Fn(&str) -> bool| {
            entries
                .iter()
                .find(|e| e.suites.iter().any(|s| want(s)))
                .map(|e| e.uri.trim_end_matches('/').to_owned())
        };
        match codename {
            Some(code) => {
                let security = format!("{code}-security");
                (
                    with_suite(&|s| s == code),
                    with_suite(&|s| s == security || s == format!("{code}/updates")),
                )
            }
            None => (
                with_suite(&|s| !s.contains('-')),
                with_suite(&|s| s.ends_with("-security")),
            ),
        }
    }
}

fn parse_one_line(text: &str) -> Vec<AptEntry> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next()?.trim();
            let rest = line.strip_prefix("deb ")?.trim();
            // Options in brackets come before the URI: `deb [signed-by=...] URI suite comp`.
            let rest = match rest.strip_prefix('[') {
                Some(r) => r.split_once(']')?.1.trim(),
                None => rest,
            };
            let mut words = rest.split_whitespace();
            let uri = words.next()?.to_owned();
            let suite = words.next()?.to_owned();
            Some(AptEntry {
                uri,
                suites: vec![suite],
                components: words.map(str::to_owned).collect(),
            })
        })
        .collect()
}

fn parse_deb822(text: &str) -> Vec<AptEntry> {
    let mut entries = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| -> Option<String> {
            stanza.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        let types = field("Types").unwrap_or_default();
        if !types.split_whitespace().any(|t| t == "deb") {
            continue;
        }
        if field("Enabled").is_some_and(|e| e.eq_ignore_ascii_case("no")) {
            continue;
        }
        let words = |name: &str| -> Vec<String> {
            field(name)
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        };
        for uri in words("URIs") {
            entries.push(AptEntry {
                uri,
                suites: words("Suites"),
                components: words("Components"),
            });
        }
    }
    entries
}

/// `$CARGO_HOME` (default `~/.cargo`).
pub fn cargo_home() -> PathBuf {
    match std::env::var_os("CARGO_HOME") {
        Some(h) if !h.is_empty() => PathBuf::from(h),
        _ => home().join(".cargo"),
    }
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
}

/// The host's cargo configuration file, when it has one.
pub fn cargo_config() -> Option<PathBuf> {
    let home = cargo_home();
    ["config.toml", "config"]
        .iter()
        .map(|n| home.join(n))
        .find(|p| p.is_file())
}

/// What the host's cargo configuration replaces the default registry with, if anything:
/// the `registry` (or `directory`) of the source that `[source.crates-io] replace-with`
/// names.
pub fn cargo_replacement(config: &Path) -> Option<String> {
    let text = std::fs::read_to_string(config).ok()?;
    let value: toml::Value = toml::from_str(&text).ok()?;
    let sources = value.get("source")?.as_table()?;
    let target = sources
        .get("crates-io")?
        .get("replace-with")?
        .as_str()?
        .to_owned();
    let source = sources.get(&target)?;
    ["registry", "directory", "local-registry"]
        .iter()
        .find_map(|k| source.get(*k).and_then(|v| v.as_str()).map(str::to_owned))
}

/// rustup's dist server as the host sets it (`RUSTUP_DIST_SERVER`), or none for
/// rustup's built-in default.
pub fn rustup_dist_server() -> Option<String> {
    std::env::var("RUSTUP_DIST_SERVER")
        .ok()
        .filter(|s| !s.is_empty())
}

/// The CA bundle the host trusts: `SSL_CERT_FILE`, else Debian's system bundle (which
/// `update-ca-certificates` builds from the extra CAs in /usr/local/share/ca-certificates).
pub fn ca_bundle() -> PathBuf {
    match std::env::var_os("SSL_CERT_FILE") {
        Some(f) if Path::new(&f).is_file() => PathBuf::from(f),
        _ => PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_one_line_sources_with_options_and_comments() {
        let text = "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib\n\
                    deb-src http://mirror.example/debian bookworm main\n\
                    deb http://mirror.example/debian-security bookworm-security main # trailing\n";
        let e = parse_one_line(text);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].uri, "http://mirror.example/debian");
        assert_eq!(e[0].suites, ["bookworm"]);
        assert_eq!(e[0].components, ["main", "contrib"]);
        assert_eq!(e[1].suites, ["bookworm-security"]);
    }

    #[test]
    fn parses_deb822_stanzas_and_skips_disabled_and_src() {
        let text = "Types: deb\nURIs: http://a.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n\
                    Types: deb-src\nURIs: http://b.example/debian\nSuites: bookworm\n\n\
                    Types: deb\nEnabled: no\nURIs: http://c.example/debian\nSuites: bookworm\n\n\
                    Types: deb\nURIs: http://a.example/debian-security\nSuites: bookworm-security\nComponents: main\n";
        let e = parse_deb822(text);
        let uris: Vec<&str> = e.iter().map(|e| e.uri.as_str()).collect();
        assert_eq!(
            uris,
            [
                "http://a.example/debian",
                "http://a.example/debian-security"
            ]
        );
        assert_eq!(e[0].suites, ["bookworm", "bookworm-updates"]);
    }

    #[test]
    fn finds_archive_and_security_by_the_host_suite() {
        let dir = tempfile::tempdir().unwrap();
        let apt = dir.path().join("apt");
        std::fs::create_dir_all(apt.join("sources.list.d")).unwrap();
        std::fs::write(
            apt.join("sources.list.d/other.list"),
            "deb https://vendor.example/apt stable main\n",
        )
        .unwrap();
        std::fs::write(
            apt.join("sources.list.d/debian.sources"),
            "Types: deb\nURIs: http://m.example/debian/\nSuites: bookworm\nComponents: main\n\n\
             Types: deb\nURIs: http://m.example/debian-security\nSuites: bookworm-security\nComponents: main\n",
        )
        .unwrap();
        std::fs::write(
            apt.join("sources.list.d/ignored.list.disabled"),
            "deb http://x.example/debian bookworm main\n",
        )
        .unwrap();
        let os = dir.path().join("os-release");
        std::fs::write(&os, "ID=debian\nVERSION_CODENAME=bookworm\n").unwrap();
        let host = HostRoot {
            etc_apt: apt,
            os_release: os,
        };
        assert_eq!(host.codename().as_deref(), Some("bookworm"));
        let (archive, security) = host.debian_archives();
        assert_eq!(archive.as_deref(), Some("http://m.example/debian"));
        assert_eq!(
            security.as_deref(),
            Some("http://m.example/debian-security")
        );
    }

    #[test]
    fn reads_the_cargo_source_replacement() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.toml");
        std::fs::write(
            &cfg,
            "[source.crates-io]\nreplace-with = \"mirror\"\n[source.mirror]\nregistry = \"sparse+https://m.example/index/\"\n",
        )
        .unwrap();
        assert_eq!(
            cargo_replacement(&cfg).as_deref(),
            Some("sparse+https://m.example/index/")
        );
        std::fs::write(&cfg, "[build]\njobs = 2\n").unwrap();
        assert_eq!(cargo_replacement(&cfg), None);
    }
}
