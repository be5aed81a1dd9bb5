//! Snapshotters: `overlayfs` (a directory per layer, stacked as overlay lowerdirs) and
//! `native` (each snapshot a full copy, bind mounted) as the fallback where overlay is
//! not available. Their metadata (names, parents, labels) lives in the metadata store,
//! per namespace as in containerd; only the layer directories are shared on disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use containerd_client::services::v1::snapshots::{Info, Kind};
use containerd_client::types::Mount;
use thiserror::Error;

use super::store::{Store, StoreError};

#[derive(Debug, Error)]
pub enum SnapshotError {
    #[error("snapshot {0} does not exist: not found")]
    NotFound(String),
    #[error("snapshot {0:?}: already exists")]
    AlreadyExists(String),
    #[error("parent snapshot {0} is not committed: invalid argument")]
    ParentNotCommitted(String),
    #[error("snapshot {0} is not active: failed precondition")]
    NotActive(String),
    #[error("cannot remove snapshot {0} with child: failed precondition")]
    HasChildren(String),
    #[error("snapshotter not loaded: {0}: invalid argument")]
    UnknownSnapshotter(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("snapshot directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What the store keeps for a snapshot: the API's `Info` plus the on-disk id.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Record {
    #[prost(message, optional, tag = "1")]
    pub info: Option<Info>,
    #[prost(string, tag = "2")]
    pub id: String,
}

pub struct Snapshotters {
    store: Store,
    root: PathBuf,
    lock: Mutex<u64>,
}

pub const SNAPSHOTTERS: [&str; 2] = ["overlayfs", "native"];

fn bucket(snapshotter: &str) -> String {
    format!("snapshots.{snapshotter}")
}

fn now() -> prost_types::Timestamp {
    prost_types::Timestamp::from(std::time::SystemTime::now())
}

impl Snapshotters {
    pub fn new(store: Store, root: &Path) -> Snapshotters {
        let s = Snapshotters {
            store,
            root: root.to_owned(),
            lock: Mutex::new(0),
        };
        // Directories of removed snapshots a previous run did not finish deleting.
        for sn in SNAPSHOTTERS {
            let _ = super::diff::remove_tree(&s.removing(sn));
        }
        s
    }

    /// Where directories of removed snapshots wait to be deleted.
    fn removing(&self, snapshotter: &str) -> PathBuf {
        self.root
            .join(format!("io.containerd.snapshotter.v1.{snapshotter}"))
            .join("removing")
    }

    /// Take a snapshot's directory out of the snapshotter at once (a rename) and delete
    /// it on a thread: an overlay upper directory can take a while to go (the overlay's
    /// teardown syncs it), and nothing refers to it any more.
    fn discard(&self, sn: &str, id: &str) -> Result<(), SnapshotError> {
        let dir = self.dir(sn).join(id);
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| SnapshotError::Io { path, source }
        };
        let removing = self.removing(sn);
        std::fs::create_dir_all(&removing).map_err(io(&removing))?;
        let doomed = removing.join(id);
        match std::fs::rename(&dir, &doomed) {
            Ok(()) => {
                let on_thread = doomed.clone();
                let spawned = std::thread::Builder::new()
                    .name("snapshot-rm".into())
                    .spawn(move || super::diff::remove_tree(&on_thread));
                if spawned.is_err() {
                    super::diff::remove_tree(&doomed).map_err(io(&doomed))?;
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(_) => super::diff::remove_tree(&dir).map_err(io(&dir)),
        }
    }

    fn check(&self, snapshotter: &str) -> Result<String, SnapshotError> {
        let name = if snapshotter.is_empty() {
            "overlayfs"
        } else {
            snapshotter
        };
        if SNAPSHOTTERS.contains(&name) {
            Ok(name.to_owned())
        } else {
            Err(SnapshotError::UnknownSnapshotter(snapshotter.to_owned()))
        }
    }

    fn dir(&self, snapshotter: &str) -> PathBuf {
        self.root
            .join(format!("io.containerd.snapshotter.v1.{snapshotter}"))
            .join("snapshots")
    }

    pub fn fs_dir(&self, snapshotter: &str, id: &str) -> PathBuf {
        self.dir(snapshotter).join(id).join("fs")
    }

    fn get(&self, ns: &str, sn: &str, key: &str) -> Result<Record, SnapshotError> {
        self.store
            .get::<Record>(ns, &bucket(sn), key)?
            .ok_or_else(|| SnapshotError::NotFound(key.to_owned()))
    }

    pub fn stat(&self, ns: &str, snapshotter: &str, key: &str) -> Result<Info, SnapshotError> {
        let sn = self.check(snapshotter)?;
        Ok(self.get(ns, &sn, key)?.info.unwrap_or_default())
    }

    pub fn list(&self, ns: &str, snapshotter: &str) -> Result<Vec<Info>, SnapshotError> {
        let sn = self.check(snapshotter)?;
        Ok(self
            .store
            .list::<Record>(ns, &bucket(&sn))?
            .into_iter()
            .filter_map(|(_, r)| r.info)
            .collect())
    }

    /// The chain of committed parents' ids, nearest first.
    fn parent_ids(
        &self,
        ns: &str,
        sn: &str,
        mut parent: String,
    ) -> Result<Vec<String>, SnapshotError> {
        let mut ids = Vec::new();
        while !parent.is_empty() {
            let r = self.get(ns, sn, &parent)?;
            ids.push(r.id.clone());
            parent = r.info.map(|i| i.parent).unwrap_or_default();
        }
        Ok(ids)
    }

    pub fn create(
        &self,
        ns: &str,
        snapshotter: &str,
        kind: Kind,
        key: &str,
        parent: &str,
        labels: HashMap<String, String>,
    ) -> Result<Vec<Mount>, SnapshotError> {
        let sn = self.check(snapshotter)?;
        let mut counter = self.lock.lock().unwrap();
        if self.store.get::<Record>(ns, &bucket(&sn), key)?.is_some() {
            return Err(SnapshotError::AlreadyExists(key.to_owned()));
        }
        if !parent.is_empty() {
            let p = self.get(ns, &sn, parent)?;
            if p.info.as_ref().map(|i| i.kind) != Some(Kind::Committed as i32) {
                return Err(SnapshotError::ParentNotCommitted(parent.to_owned()));
            }
        }
        *counter += 1;
        let id = format!(
            "{}-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
            *counter
        );
        let base = self.dir(&sn).join(&id);
        let io = |source| SnapshotError::Io {
            path: base.clone(),
            source,
        };
        std::fs::create_dir_all(base.join("fs")).map_err(io)?;
        if sn == "overlayfs" {
            std::fs::create_dir_all(base.join("work")).map_err(io)?;
        } else if !parent.is_empty() {
            let pid = self.get(ns, &sn, parent)?.id;
            copy_tree(&self.fs_dir(&sn, &pid), &base.join("fs")).map_err(io)?;
        }
        let t = now();
        let rec = Record {
            info: Some(Info {
                name: key.to_owned(),
                parent: parent.to_owned(),
                kind: kind as i32,
                created_at: Some(t),
                updated_at: Some(t),
                labels,
            }),
            id,
        };
        if let Err(e) = self.store.put(ns, &bucket(&sn), key, &rec) {
            let _ = std::fs::remove_dir_all(&base);
            return Err(e.into());
        }
        drop(counter);
        self.mounts(ns, &sn, key)
    }

    pub fn mounts(
        &self,
        ns: &str,
        snapshotter: &str,
        key: &str,
    ) -> Result<Vec<Mount>, SnapshotError> {
        let sn = self.check(snapshotter)?;
        let rec = self.get(ns, &sn, key)?;
        let info = rec.info.clone().unwrap_or_default();
        let kind = info.kind;
        let ro = if kind == Kind::View as i32 {
            "ro"
        } else {
            "rw"
        };
        if sn == "native" {
            return Ok(vec![bind(&self.fs_dir(&sn, &rec.id), ro)]);
        }
        let parents = self.parent_ids(ns, &sn, info.parent)?;
        if parents.is_empty() {
            return Ok(vec![bind(&self.fs_dir(&sn, &rec.id), ro)]);
        }
        if kind != Kind::Active as i32 && parents.len() == 1 {
            return Ok(vec![bind(&self.fs_dir(&sn, &parents[0]), "ro")]);
        }
        let mut options = vec!["index=off".to_owned()];
        if kind == Kind::Active as i32 {
            let base = self.dir(&sn).join(&rec.id);
            options.push(format!("workdir={}", base.join("work").display()));
            options.push(format!("upperdir={}", base.join("fs").display()));
        }
        let lower: Vec<String> = parents
            .iter()
            .map(|id| self.fs_dir(&sn, id).display().to_string())
            .collect();
        options.push(format!("lowerdir={}", lower.join(":")));
        Ok(vec![Mount {
            r#type: "overlay".into(),
            source: "overlay".into(),
            target: String::new(),
            options,
        }])
    }

    pub fn commit(
        &self,
        ns: &str,
        snapshotter: &str,
        name: &str,
        key: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), SnapshotError> {
        let sn = self.check(snapshotter)?;
        let _g = self.lock.lock().unwrap();
        let mut rec = self.get(ns, &sn, key)?;
        let info = rec.info.as_mut().expect("snapshot record has info");
        if info.kind != Kind::Active as i32 {
            return Err(SnapshotError::NotActive(key.to_owned()));
        }
        if self.store.get::<Record>(ns, &bucket(&sn), name)?.is_some() {
            return Err(SnapshotError::AlreadyExists(name.to_owned()));
        }
        info.kind = Kind::Committed as i32;
        info.name = name.to_owned();
        info.updated_at = Some(now());
        info.labels.extend(labels);
        // Put the new name first: a crash in between leaves a stale key, never a loss.
        self.store.put(ns, &bucket(&sn), name, &rec)?;
        self.store.delete(ns, &bucket(&sn), key)?;
        let _ = std::fs::remove_dir_all(self.dir(&sn).join(&rec.id).join("work"));
        Ok(())
    }

    pub fn remove(&self, ns: &str, snapshotter: &str, key: &str) -> Result<(), SnapshotError> {
        let sn = self.check(snapshotter)?;
        let _g = self.lock.lock().unwrap();
        let rec = self.get(ns, &sn, key)?;
        let children = self
            .store
            .list::<Record>(ns, &bucket(&sn))?
            .into_iter()
            .any(|(_, r)| r.info.map(|i| i.parent == key).unwrap_or(false));
        if children {
            return Err(SnapshotError::HasChildren(key.to_owned()));
        }
        self.store.delete(ns, &bucket(&sn), key)?;
        self.discard(&sn, &rec.id)
    }

    pub fn update(
        &self,
        ns: &str,
        snapshotter: &str,
        info: Info,
        paths: &[String],
    ) -> Result<Info, SnapshotError> {
        let sn = self.check(snapshotter)?;
        let _g = self.lock.lock().unwrap();
        let mut rec = self.get(ns, &sn, &info.name)?;
        let cur = rec.info.as_mut().expect("snapshot record has info");
        if paths.is_empty() {
            cur.labels = info.labels;
        } else {
            for p in paths {
                if let Some(k) = p.strip_prefix("labels.") {
                    match info.labels.get(k) {
                        Some(v) => cur.labels.insert(k.to_owned(), v.clone()),
                        None => cur.labels.remove(k),
                    };
                } else if p == "labels" {
                    cur.labels = info.labels.clone();
                }
            }
        }
        cur.updated_at = Some(now());
        let out = cur.clone();
        self.store.put(ns, &bucket(&sn), &info.name, &rec)?;
        Ok(out)
    }

    /// Bytes and inodes used by the snapshot's own layer.
    pub fn usage(
        &self,
        ns: &str,
        snapshotter: &str,
        key: &str,
    ) -> Result<(i64, i64), SnapshotError> {
        let sn = self.check(snapshotter)?;
        let rec = self.get(ns, &sn, key)?;
        let mut size = 0i64;
        let mut inodes = 0i64;
        let mut stack = vec![self.fs_dir(&sn, &rec.id)];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                if let Ok(md) = e.path().symlink_metadata() {
                    inodes += 1;
                    size += md.len() as i64;
                    if md.is_dir() {
                        stack.push(e.path());
                    }
                }
            }
        }
        Ok((size, inodes))
    }
}

fn bind(path: &Path, ro: &str) -> Mount {
    Mount {
        r#type: "bind".into(),
        source: path.display().to_string(),
        target: String::new(),
        options: vec![ro.to_owned(), "rbind".to_owned()],
    }
}

/// Copy a directory tree keeping modes, owners and symlinks (native snapshotter).
fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", src.display()))
        .arg(dst)
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "cp -a {} failed",
            src.display()
        )))
    }
}
