//! Volumes of the `local` driver: a directory `volumes/<name>/_data` under the data
//! root, with labels and options kept beside it; anonymous volumes get a random name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("get {0}: no such volume")]
    NotFound(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone)]
pub struct Volume {
    pub name: String,
    pub labels: Value,
    pub options: Value,
    pub created: String,
    pub anonymous: bool,
}

pub struct VolumeStore {
    root: PathBuf,
    vols: BTreeMap<String, Volume>,
}

impl VolumeStore {
    pub fn open(data_root: &Path) -> std::io::Result<VolumeStore> {
        let root = data_root.join("volumes");
        std::fs::create_dir_all(&root)?;
        let mut vols = BTreeMap::new();
        for e in std::fs::read_dir(&root)?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Ok(meta) = std::fs::read(e.path().join("opts.json")) {
                let m: Value = serde_json::from_slice(&meta).unwrap_or(Value::Null);
                vols.insert(
                    name.clone(),
                    Volume {
                        name,
                        labels: m.get("Labels").cloned().unwrap_or(json!({})),
                        options: m.get("Options").cloned().unwrap_or(json!({})),
                        created: m
                            .get("CreatedAt")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        anonymous: m.get("Anonymous").and_then(Value::as_bool).unwrap_or(false),
                    },
                );
            }
        }
        Ok(VolumeStore { root, vols })
    }

    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.root.join(name).join("_data")
    }

    /// Create (or return the existing) volume `name`; `None` makes an anonymous one.
    pub fn create(
        &mut self,
        name: Option<&str>,
        labels: Value,
        options: Value,
    ) -> Result<(Volume, bool), VolumeError> {
        let anonymous = name.is_none();
        let name = name
            .map(str::to_string)
            .unwrap_or_else(crate::ids::random_id);
        if let Some(v) = self.vols.get(&name) {
            return Ok((v.clone(), false));
        }
        std::fs::create_dir_all(self.data_dir(&name))?;
        let v = Volume {
            name: name.clone(),
            labels: if labels.is_null() { json!({}) } else { labels },
            options: if options.is_null() {
                json!({})
            } else {
                options
            },
            created: crate::ids::now_rfc3339(),
            anonymous,
        };
        let meta = json!({"Labels": v.labels, "Options": v.options, "CreatedAt": v.created, "Anonymous": anonymous});
        std::fs::write(
            self.root.join(&name).join("opts.json"),
            serde_json::to_vec(&meta).unwrap(),
        )?;
        self.vols.insert(name, v.clone());
        Ok((v, true))
    }

    pub fn get(&self, name: &str) -> Option<&Volume> {
        self.vols.get(name)
    }

    pub fn all(&self) -> impl Iterator<Item = &Volume> {
        self.vols.values()
    }

    pub fn remove(&mut self, name: &str) -> Result<(), VolumeError> {
        if self.vols.remove(name).is_none() {
            return Err(VolumeError::NotFound(name.to_string()));
        }
        std::fs::remove_dir_all(self.root.join(name))?;
        Ok(())
    }

    /// The API view of a volume.
    pub fn to_json(&self, v: &Volume) -> Value {
        json!({
            "CreatedAt": v.created,
            "Driver": "local",
            "Labels": v.labels,
            "Mountpoint": self.data_dir(&v.name),
            "Name": v.name,
            "Options": v.options,
            "Scope": "local",
        })
    }
}
