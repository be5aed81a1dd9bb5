//! What a container leaves under `--root`: `<root>/<id>/state.json` and, while it is
//! created but not started, `<root>/<id>/exec.fifo` (runc's layout). From these and the
//! live process the status is derived, and the `state` JSON runc prints is built.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::sys;

/// The runtime-spec version runc 1.1 reports in `state`.
pub const OCI_VERSION: &str = "1.0.2-dev";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("container does not exist")]
    NotExist,
    #[error("invalid container id {0:?}: ids may only contain letters, digits, '_', '+', '-' and '.', and may not be '.' or '..'")]
    InvalidId(String),
    #[error("container with id exists: {0}")]
    Exists(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid state file: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Container ids follow runc's rule: `^[\w+-\.]+$`, and neither `.` nor `..`.
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidId(id.to_string()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// The persisted record of one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub id: String,
    pub init_process_pid: i32,
    pub init_process_start: u64,
    pub created: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// Controller (or "" for the unified hierarchy) to absolute cgroup directory.
    #[serde(default)]
    pub cgroup_paths: std::collections::BTreeMap<String, PathBuf>,
    /// Namespace type to the init's /proc path at creation (for `exec`).
    #[serde(default)]
    pub namespace_paths: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub systemd_cgroup: bool,
    /// The bundle's config as it was at create time (updated by `update`).
    pub config: oci_spec::runtime::Spec,
}

/// The `state` output, field for field as runc 1.1 prints it.
#[derive(Debug, Serialize)]
pub struct OciState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: &'a str,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: &'a HashMap<String, String>,
    pub owner: &'a str,
}

/// The hook state on stdin (runtime-spec `state` schema).
#[derive(Debug, Serialize)]
pub struct HookState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub status: &'a str,
    pub pid: i32,
    pub bundle: &'a Path,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: &'a HashMap<String, String>,
}

pub struct Container {
    pub dir: PathBuf,
    pub saved: Saved,
}

impl Container {
    pub fn state_dir(root: &Path, id: &str) -> Result<PathBuf, StateError> {
        validate_id(id)?;
        Ok(root.join(id))
    }

    pub fn load(root: &Path, id: &str) -> Result<Container, StateError> {
        let dir = Self::state_dir(root, id)?;
        let path = dir.join("state.json");
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StateError::NotExist),
            Err(source) => return Err(StateError::Io { path, source }),
        };
        let saved =
            serde_json::from_slice(&data).map_err(|source| StateError::Parse { path, source })?;
        Ok(Container { dir, saved })
    }

    /// Write state.json atomically (temp file + rename), so a reader never sees half.
    pub fn save(&self) -> Result<(), StateError> {
        let path = self.dir.join("state.json");
        let tmp = self.dir.join(".state.json.tmp");
        let data = serde_json::to_vec(&self.saved).expect("state serialises");
        std::fs::write(&tmp, data).map_err(|source| StateError::Io {
            path: tmp.clone(),
            source,
        })?;
        std::fs::rename(&tmp, &path).map_err(|source| StateError::Io { path, source })
    }

    pub fn id(&self) -> &str {
        &self.saved.id
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.dir.join("exec.fifo")
    }

    /// Whether the init process recorded at create time is still alive (not a
    /// zombie, not a recycled pid).
    pub fn init_alive(&self) -> bool {
        self.init_stat().is_some_and(|s| s.state != 'Z')
    }

    /// Whether the init is inside exit(2): it runs nothing any more, though as a
    /// pid namespace's init it stays there until every other process of the
    /// namespace has been reaped, by parents that may live outside it.
    pub fn init_exiting(&self) -> bool {
        self.init_stat()
            .is_some_and(|s| s.state != 'Z' && s.flags & sys::PF_EXITING != 0)
    }

    /// The init's /proc stat, unless its pid now names another process.
    fn init_stat(&self) -> Option<sys::ProcStat> {
        sys::proc_stat(self.saved.init_process_pid)
            .filter(|s| s.start_time == self.saved.init_process_start)
    }

    pub fn status(&self) -> Status {
        if !self.init_alive() {
            return Status::Stopped;
        }
        if crate::cgroups::Manager::from_saved(&self.saved).is_frozen() {
            return Status::Paused;
        }
        if self.fifo_path().exists() {
            Status::Created
        } else {
            Status::Running
        }
    }

    pub fn oci_state(&self) -> serde_json::Value {
        let status = self.status();
        let pid = if status == Status::Stopped {
            0
        } else {
            self.saved.init_process_pid
        };
        serde_json::to_value(OciState {
            oci_version: OCI_VERSION,
            id: &self.saved.id,
            pid,
            status: status.as_str(),
            bundle: &self.saved.bundle,
            rootfs: &self.saved.rootfs,
            created: &self.saved.created,
            annotations: &self.saved.annotations,
            owner: &self.saved.owner,
        })
        .expect("state serialises")
    }

    pub fn hook_state(&self, status: &str) -> Vec<u8> {
        serde_json::to_vec(&self.state_of(status)).expect("state serialises")
    }

    /// The runtime-spec state of this container, reported as `status`.
    pub fn state_of<'a>(&'a self, status: &'a str) -> HookState<'a> {
        HookState {
            oci_version: OCI_VERSION,
            id: &self.saved.id,
            status,
            pid: self.saved.init_process_pid,
            bundle: &self.saved.bundle,
            annotations: &self.saved.annotations,
        }
    }
}

/// Every container id under `root`, sorted.
pub fn list_ids(root: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("state.json").exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    ids
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runc_rules() {
        assert!(validate_id("abc-1.2_x+y").is_ok());
        for bad in ["", ".", "..", "a/b", "../x", "a b"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
    }
}
