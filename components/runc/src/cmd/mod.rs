//! One module per group of verbs; `run` dispatches. Helpers shared by the verbs:
//! loading a bundle's config.json (errors name the JSON path), loading a container.

mod control;
mod create;
mod exec;
mod query;
mod spec;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cli::{Cli, Command};
use crate::state::{Container, StateError};

/// An error that must end the process with a code other than 1.
#[derive(Debug)]
pub struct ExitCode(pub i32, pub String);

impl std::fmt::Display for ExitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for ExitCode {}

pub fn run(cli: &Cli, command: Command) -> Result<i32> {
    let root = &cli.root;
    match command {
        Command::Create(a) => create::create(cli, a),
        Command::Run(a) => create::run(cli, a),
        Command::Start { id } => create::start(root, &id),
        Command::State { id } => query::state(root, &id),
        Command::List { format, quiet } => query::list(root, &format, quiet),
        Command::Ps {
            format,
            id,
            ps_args,
        } => query::ps(root, &id, &format, &ps_args),
        Command::Events {
            interval,
            stats,
            id,
        } => query::events(root, &id, &interval, stats),
        Command::Kill { all, id, signal } => control::kill(root, &id, signal.as_deref(), all),
        Command::Delete { force, ids } => control::delete(root, &ids, force),
        Command::Pause { id } => control::pause(root, &id, true),
        Command::Resume { id } => control::pause(root, &id, false),
        Command::Update(a) => control::update(root, a),
        Command::Exec(a) => exec::exec(cli, a),
        Command::Spec { bundle, rootless } => spec::spec(bundle.as_deref(), rootless),
        Command::Features => spec::features(),
        Command::Checkpoint { .. } => spec::criu(cli, "checkpoint"),
        Command::Restore { .. } => spec::criu(cli, "restore"),
    }
}

/// The bundle directory: `--bundle`, else the current directory; absolute.
pub fn bundle_dir(b: &Option<PathBuf>) -> Result<PathBuf> {
    let b = match b {
        Some(b) if !b.as_os_str().is_empty() => b.clone(),
        _ => std::env::current_dir().context("getwd")?,
    };
    let abs =
        std::fs::canonicalize(&b).with_context(|| format!("invalid bundle {}", b.display()))?;
    Ok(abs)
}

/// Read and validate `<bundle>/config.json`.
pub fn load_spec(bundle: &Path) -> Result<oci_spec::runtime::Spec> {
    let path = bundle.join("config.json");
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            anyhow::bail!("JSON specification file config.json not found")
        }
        Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
    };
    parse_spec(&data)
}

pub fn parse_spec(data: &[u8]) -> Result<oci_spec::runtime::Spec> {
    let de = &mut serde_json::Deserializer::from_slice(data);
    let spec: oci_spec::runtime::Spec = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            anyhow::anyhow!("config.json: {inner}")
        } else {
            anyhow::anyhow!("config.json: invalid value at {path}: {inner}")
        }
    })?;
    validate(&spec)?;
    Ok(spec)
}

fn validate(spec: &oci_spec::runtime::Spec) -> Result<()> {
    if let Some(p) = spec.process() {
        if p.cwd().as_os_str().is_empty() {
            anyhow::bail!("Cwd property must not be empty");
        }
        if !p.cwd().is_absolute() {
            anyhow::bail!("Cwd must be an absolute path");
        }
        if p.args().as_ref().is_none_or(|a| a.is_empty()) {
            anyhow::bail!("args must not be empty");
        }
    } else {
        anyhow::bail!("process must be specified in config.json");
    }
    if spec.linux().is_none() {
        anyhow::bail!("linux must be specified in config.json");
    }
    Ok(())
}

pub fn load(root: &Path, id: &str) -> Result<Container> {
    Container::load(root, id).map_err(|e| match e {
        StateError::NotExist => anyhow::anyhow!("container {id} does not exist"),
        other => other.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_config_names_the_json_path() {
        let err = parse_spec(br#"{"ociVersion":"1.0.2","process":{"cwd":"/","args":"sh"},"root":{"path":"rootfs"},"linux":{}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("process.args"), "{err}");
        let err = parse_spec(br#"{"ociVersion":"1.0.2","process":{"cwd":"/","args":["sh"],"user":{"uid":"x","gid":0}},"root":{"path":"rootfs"},"linux":{}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("process.user.uid"), "{err}");
        let err = parse_spec(br#"{"ociVersion":"1.0.2","process":{"cwd":"rel","args":["sh"],"user":{"uid":0,"gid":0}},"root":{"path":"rootfs"},"linux":{}}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "Cwd must be an absolute path");
    }
}
