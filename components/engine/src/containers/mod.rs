//! Containers: the persisted record of each container (what `inspect` shows), the
//! in-memory store with name and id-prefix lookup, and the submodules that run them.

pub mod exec;
pub mod io;
pub mod lifecycle;
pub mod rootfs;
pub mod seccomp;
pub mod spec;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("No such container: {0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Internal(String),
}

impl From<std::io::Error> for ContainerError {
    fn from(e: std::io::Error) -> Self {
        ContainerError::Internal(e.to_string())
    }
}

impl From<crate::containerd::CtrdError> for ContainerError {
    fn from(e: crate::containerd::CtrdError) -> Self {
        ContainerError::Internal(e.to_string())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: u32,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
}

/// A mount point of a container, as `inspect` lists it under `Mounts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MountPoint {
    pub kind: String,
    pub name: String,
    pub source: String,
    pub destination: String,
    pub rw: bool,
    pub mode: String,
    pub propagation: String,
    /// tmpfs options (`size=...`), for tmpfs mounts only.
    pub options: Vec<String>,
}

/// What is persisted per container (`config.v2.json` in its directory).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub config: Value,
    pub host_config: Value,
    pub image: String,
    pub name: String,
    pub restart_count: u64,
    pub state: State,
    pub log_path: String,
    pub mounts: Vec<MountPoint>,
    pub has_been_started: bool,
    pub manually_stopped: bool,
    /// The network sandbox of the last start (empty for the host's namespace or
    /// another container's).
    #[serde(default)]
    pub sandbox_id: String,
    #[serde(default)]
    pub sandbox_key: String,
}

/// What waiters watch: how many times the container exited, and whether it is gone.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub exits: u64,
    pub removed: bool,
    pub last_exit_code: i64,
}

pub struct Container {
    pub id: String,
    pub dir: PathBuf,
    pub rec: Mutex<Record>,
    pub hub: Arc<io::Hub>,
    pub progress: watch::Sender<Progress>,
    /// Serializes start/stop/remove of this container.
    pub op: tokio::sync::Mutex<()>,
}

impl Container {
    pub fn new(dir: PathBuf, rec: Record) -> Container {
        let (progress, _) = watch::channel(Progress::default());
        Container {
            id: rec.id.clone(),
            dir,
            rec: Mutex::new(rec),
            hub: Arc::new(io::Hub::default()),
            progress,
            op: tokio::sync::Mutex::new(()),
        }
    }

    pub fn snapshot(&self) -> Record {
        self.rec.lock().unwrap().clone()
    }

    pub fn name(&self) -> String {
        self.rec.lock().unwrap().name.clone()
    }

    pub fn save(&self) -> std::io::Result<()> {
        let rec = self.snapshot();
        let tmp = self.dir.join("config.v2.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&rec).unwrap())?;
        std::fs::rename(tmp, self.dir.join("config.v2.json"))
    }

    pub fn is_running(&self) -> bool {
        self.rec.lock().unwrap().state.running
    }

    pub fn tty(&self) -> bool {
        self.rec
            .lock()
            .unwrap()
            .config
            .get("Tty")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

#[derive(Default)]
pub struct ContainerStore {
    by_id: HashMap<String, Arc<Container>>,
    /// `/name` -> id.
    names: HashMap<String, String>,
}

impl ContainerStore {
    /// Load every container record under `containers/`.
    pub fn open(dir: &Path) -> std::io::Result<ContainerStore> {
        std::fs::create_dir_all(dir)?;
        let mut s = ContainerStore::default();
        for e in std::fs::read_dir(dir)?.flatten() {
            let Ok(raw) = std::fs::read(e.path().join("config.v2.json")) else {
                continue;
            };
            let Ok(rec) = serde_json::from_slice::<Record>(&raw) else {
                continue;
            };
            s.names.insert(rec.name.clone(), rec.id.clone());
            s.by_id
                .insert(rec.id.clone(), Arc::new(Container::new(e.path(), rec)));
        }
        Ok(s)
    }

    /// Find by full id, name, or unique id prefix.
    pub fn get(&self, r: &str) -> Result<Arc<Container>, ContainerError> {
        if let Some(c) = self.by_id.get(r) {
            return Ok(c.clone());
        }
        let name = if r.starts_with('/') {
            r.to_string()
        } else {
            format!("/{r}")
        };
        if let Some(id) = self.names.get(&name) {
            return Ok(self.by_id[id].clone());
        }
        if !r.is_empty() {
            let found: Vec<_> = self
                .by_id
                .values()
                .filter(|c| c.id.starts_with(r))
                .collect();
            match found.len() {
                1 => return Ok(found[0].clone()),
                n if n > 1 => {
                    return Err(ContainerError::BadRequest(format!(
                        "multiple IDs found with provided prefix: {r}"
                    )))
                }
                _ => {}
            }
        }
        Err(ContainerError::NotFound(r.to_string()))
    }

    /// Reserve `/name` for `id`, or the 409 dockerd answers with the holder's id.
    pub fn reserve_name(&mut self, name: &str, id: &str) -> Result<(), ContainerError> {
        if let Some(other) = self.names.get(name) {
            if other != id {
                return Err(ContainerError::Conflict(format!(
                    "Conflict. The container name \"{name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
        }
        self.names.insert(name.to_string(), id.to_string());
        Ok(())
    }

    pub fn release_name(&mut self, name: &str) {
        self.names.remove(name);
    }

    pub fn insert(&mut self, c: Arc<Container>) {
        self.by_id.insert(c.id.clone(), c);
    }

    pub fn remove(&mut self, id: &str) {
        if let Some(c) = self.by_id.remove(id) {
            let name = c.name();
            if self.names.get(&name) == Some(&c.id) {
                self.names.remove(&name);
            }
        }
    }

    pub fn all(&self) -> Vec<Arc<Container>> {
        let mut v: Vec<_> = self.by_id.values().cloned().collect();
        v.sort_by(|a, b| {
            b.rec
                .lock()
                .unwrap()
                .created
                .cmp(&a.rec.lock().unwrap().created)
        });
        v
    }
}

/// Valid container names, as dockerd checks them.
pub fn valid_name(name: &str) -> bool {
    let n = name.strip_prefix('/').unwrap_or(name);
    let mut chars = n.chars();
    // dockerd's pattern `[a-zA-Z0-9][a-zA-Z0-9_.-]+`: two characters at least.
    n.len() >= 2
        && matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}
