//! The metadata store: namespaced buckets of protobuf records, one file per record.
//!
//! Every write goes to a temporary file that is fsynced and then renamed over the
//! record, and the directory is fsynced after the rename: a record is either the old
//! one or the new one after a crash, so a `kill -9` at any point loses nothing that was
//! acknowledged to a client. Records are the API messages themselves (prost-encoded),
//! which keeps the store free of a second schema.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("metadata store {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("metadata record {path} is corrupt: {source}")]
    Decode {
        path: PathBuf,
        source: prost::DecodeError,
    },
}

/// A directory of buckets: `<root>/<namespace>/<bucket>/<hex(key)>`.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// File names are hex so that any key (image names hold `/` and `:`) is one flat name.
fn encode_key(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_key(name: &str) -> Option<String> {
    if name.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..name.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&name[i..i + 2], 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// Write `data` to `path` atomically and durably.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().expect("record path has a parent");
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        path.file_name().unwrap().to_string_lossy()
    ));
    let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(data).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(io_err(path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    Ok(())
}

impl Store {
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        fs::create_dir_all(root).map_err(io_err(root))?;
        Ok(Store {
            root: root.to_owned(),
        })
    }

    fn path(&self, ns: &str, bucket: &str, key: &str) -> PathBuf {
        self.root
            .join(encode_key(ns))
            .join(bucket)
            .join(encode_key(key))
    }

    pub fn get<T: prost::Message + Default>(
        &self,
        ns: &str,
        bucket: &str,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let path = self.path(ns, bucket, key);
        match fs::read(&path) {
            Ok(data) => T::decode(data.as_slice())
                .map(Some)
                .map_err(|source| StoreError::Decode { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    pub fn put<T: prost::Message>(
        &self,
        ns: &str,
        bucket: &str,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        write_atomic(&self.path(ns, bucket, key), &value.encode_to_vec())
    }

    /// Remove a record; returns whether it existed.
    pub fn delete(&self, ns: &str, bucket: &str, key: &str) -> Result<bool, StoreError> {
        let path = self.path(ns, bucket, key);
        match fs::remove_file(&path) {
            Ok(()) => {
                if let Some(dir) = path.parent() {
                    let _ = File::open(dir).and_then(|d| d.sync_all());
                }
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Every record of a bucket, sorted by key.
    pub fn list<T: prost::Message + Default>(
        &self,
        ns: &str,
        bucket: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let dir = self.root.join(encode_key(ns)).join(bucket);
        let mut out = Vec::new();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io_err(&dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(key) = decode_key(&name) else {
                continue;
            };
            if let Some(v) = self.get(ns, bucket, &key)? {
                out.push((key, v));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Namespaces that hold at least one bucket directory.
    pub fn namespaces(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(io_err(&self.root))? {
            let entry = entry.map_err(io_err(&self.root))?;
            if let Some(ns) = decode_key(&entry.file_name().to_string_lossy()) {
                out.push(ns);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Whether a namespace holds any record other than its own entry.
    pub fn namespace_is_empty(&self, ns: &str) -> Result<bool, StoreError> {
        let dir = self.root.join(encode_key(ns));
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(true);
        };
        for entry in entries.flatten() {
            let bucket = entry.file_name().to_string_lossy().into_owned();
            if bucket == "namespace" {
                continue;
            }
            if fs::read_dir(entry.path())
                .map(|mut d| {
                    d.any(|e| {
                        e.map(|e| !e.file_name().to_string_lossy().starts_with(".tmp-"))
                            .unwrap_or(false)
                    })
                })
                .unwrap_or(false)
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    pub fn remove_namespace(&self, ns: &str) -> Result<(), StoreError> {
        let dir = self.root.join(encode_key(ns));
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&dir)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_file_names() {
        for k in ["docker.io/library/busybox:latest", "a", "ü/../x"] {
            assert_eq!(decode_key(&encode_key(k)).as_deref(), Some(k));
        }
    }

    #[test]
    fn records_survive_reopen_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let v = prost_types::Timestamp {
            seconds: 5,
            nanos: 1,
        };
        s.put("default", "b", "k/1", &v).unwrap();
        let s2 = Store::open(dir.path()).unwrap();
        let got: Option<prost_types::Timestamp> = s2.get("default", "b", "k/1").unwrap();
        assert_eq!(got, Some(v));
        assert_eq!(
            s2.list::<prost_types::Timestamp>("default", "b")
                .unwrap()
                .len(),
            1
        );
        assert!(s2.delete("default", "b", "k/1").unwrap());
        assert!(!s2.delete("default", "b", "k/1").unwrap());
        assert!(s2.namespace_is_empty("default").unwrap());
    }
}
