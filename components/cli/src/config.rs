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
                        "WARNING: Error parsing config file ({}): {e}",
                        path.display()
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
        Err(Status::new(1, format!("context \"{name}\" does not exist")))
    }
}
