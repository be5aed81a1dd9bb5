//! The CLI's configuration directory (`--config`, `DOCKER_CONFIG`, `~/.docker`):
//! `config.json` and the context store. A broken `config.json` is reported by path
//! and left untouched, as docker does.

use std::path::PathBuf;

use serde_json::Value;

use crate::Status;

/// The directory without `--config`: `DOCKER_CONFIG`, else `~/.docker`.
pub fn default_dir() -> String {
    std::env::var("DOCKER_CONFIG")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| {
            let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
            format!("{home}/.docker")
        })
}

pub struct Config {
    pub dir: PathBuf,
    pub json: Value,
}

impl Config {
    pub fn load(flag: Option<&str>) -> Config {
        let dir = flag
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(default_dir()));
        let path = dir.join("config.json");
        let json = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!(
                        "WARNING: Error parsing config file ({}): {}",
                        path.display(),
                        go_json_error(&e, &bytes)
                    );
                    Value::Null
                }
            },
            Err(_) => Value::Null,
        };
        Config { dir, json }
    }

    pub fn current_context(&self) -> Option<String> {
        self.json
            .get("currentContext")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
    }

    /// The `proxies` of config.json for the daemon at `host` (else `default`): the
    /// variables the real CLI adds to containers' environments and to build args, in
    /// upper and lower case, except names in `given` (the user's own `-e`/`--build-arg`).
    pub fn proxy_vars(&self, host: &str, given: &[&str]) -> Vec<(String, String)> {
        let proxies = self.json.get("proxies");
        let Some(chosen) = proxies
            .and_then(|p| p.get(host))
            .or_else(|| proxies.and_then(|p| p.get("default")))
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, var) in [
            ("httpProxy", "HTTP_PROXY"),
            ("httpsProxy", "HTTPS_PROXY"),
            ("noProxy", "NO_PROXY"),
            ("ftpProxy", "FTP_PROXY"),
            ("allProxy", "ALL_PROXY"),
        ] {
            let Some(value) = chosen
                .get(key)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
            else {
                continue;
            };
            for name in [var.to_string(), var.to_lowercase()] {
                if !given.contains(&name.as_str()) {
                    out.push((name, value.to_string()));
                }
            }
        }
        out
    }

    /// The docker endpoint of a named context from `contexts/meta/*/meta.json`.
    pub fn context_host(&self, name: &str) -> Result<String, Status> {
        let meta = self.dir.join("contexts").join("meta");
        if let Ok(entries) = std::fs::read_dir(&meta) {
            for e in entries.flatten() {
                let Ok(bytes) = std::fs::read(e.path().join("meta.json")) else {
                    continue;
                };
                let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
                    continue;
                };
                if v.get("Name").and_then(Value::as_str) == Some(name) {
                    if let Some(h) = v.pointer("/Endpoints/docker/Host").and_then(Value::as_str) {
                        return Ok(h.to_string());
                    }
                }
            }
        }
        // The real CLI opens the metadata by the name's digest and reports that path.
        use sha2::Digest as _;
        let digest: String = sha2::Sha256::digest(name.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Err(Status::new(
            1,
            format!(
                "Failed to initialize: unable to resolve docker endpoint: context \"{name}\": context not found: open {}: no such file or directory",
                meta.join(digest).join("meta.json").display()
            ),
        ))
    }
}

/// Go's `encoding/json` wording for the common syntax errors (the real CLI's message),
/// serde's for the rest.
fn go_json_error(e: &serde_json::Error, text: &[u8]) -> String {
    if e.is_eof() {
        return "unexpected end of JSON input".into();
    }
    // serde counts lines and columns from 1 and points at the offending byte.
    let offset = text
        .split(|b| *b == b'\n')
        .take(e.line().saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum::<usize>()
        + e.column().saturating_sub(1);
    let Some(&c) = text.get(offset) else {
        return e.to_string();
    };
    let c = char::from(c);
    let msg = e.to_string();
    let what = if msg.starts_with("key must be a string") {
        "looking for beginning of object key string"
    } else if msg.starts_with("expected value") {
        "looking for beginning of value"
    } else if msg.starts_with("trailing characters") {
        "after top-level value"
    } else if msg.starts_with("expected `,` or `}`") {
        "after object key:value pair"
    } else if msg.starts_with("expected `,` or `]`") {
        "after array element"
    } else if msg.starts_with("expected `:`") {
        "after object key"
    } else {
        return msg;
    };
    format!("invalid character '{c}' {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_read_like_go() {
        let go =
            |t: &str| go_json_error(&serde_json::from_str::<Value>(t).unwrap_err(), t.as_bytes());
        assert_eq!(
            go("{bad"),
            "invalid character 'b' looking for beginning of object key string"
        );
        assert_eq!(
            go("{\"a\": x}"),
            "invalid character 'x' looking for beginning of value"
        );
        assert_eq!(go("{}x"), "invalid character 'x' after top-level value");
        assert_eq!(go("{\"a\""), "unexpected end of JSON input");
    }
}
