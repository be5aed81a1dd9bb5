//! The metadata store: namespaced buckets of protobuf records (the API messages
//! themselves, prost-encoded, which keeps the store free of a second schema).
//!
//! All records live in memory and in one write-ahead log. A write appends one framed,
//! checksummed entry and is acknowledged after `fdatasync`. The log is preallocated
//! with zeros, so an append overwrites blocks the file already owns and the sync
//! flushes data only: no inode or journal commit per write, which is what made the
//! earlier one-file-per-record layout (fsync of the file, rename, fsync of the
//! directory) slow. At open the log is replayed up to its first empty or damaged
//! frame: a `kill -9` or power loss mid-append loses only the entry that was never
//! acknowledged. When the log is full it is rewritten with the live records into a new
//! preallocated file, synced and renamed over the old one.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
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

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Write `data` to `path` atomically and durably (small files outside the log).
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

/// (namespace, bucket, key).
type RecordKey = (String, String, String);

/// Frame: payload length (u32 LE), the first 8 bytes of the payload's SHA-256, payload.
/// A zero length marks the end of the log (the preallocated zeros).
const FRAME_HEADER: usize = 12;
/// The smallest log a rewrite creates; it grows to twice the live records.
const MIN_LOG: u64 = 1 << 20;
const LOG_NAME: &str = "metadata.log";

/// Payload: op (1 = put, 2 = delete), then namespace, bucket and key as
/// length-prefixed strings, then (put) the value.
const PUT: u8 = 1;
const DELETE: u8 = 2;

fn encode_entry(op: u8, k: &RecordKey, value: &[u8]) -> Vec<u8> {
    let mut p = vec![op];
    for s in [&k.0, &k.1, &k.2] {
        p.extend_from_slice(&(s.len() as u32).to_le_bytes());
        p.extend_from_slice(s.as_bytes());
    }
    p.extend_from_slice(value);
    let mut frame = Vec::with_capacity(FRAME_HEADER + p.len());
    frame.extend_from_slice(&(p.len() as u32).to_le_bytes());
    frame.extend_from_slice(&Sha256::digest(&p)[..8]);
    frame.extend_from_slice(&p);
    frame
}

fn decode_entry(p: &[u8]) -> Option<(u8, RecordKey, &[u8])> {
    let (&op, mut rest) = p.split_first()?;
    let mut next = || -> Option<String> {
        let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let s = String::from_utf8(rest.get(4..4 + len)?.to_vec()).ok()?;
        rest = &rest[4 + len..];
        Some(s)
    };
    let key = (next()?, next()?, next()?);
    Some((op, key, rest))
}

/// Replay a log: the records it holds and where the next entry goes.
fn replay(data: &[u8]) -> (BTreeMap<RecordKey, Vec<u8>>, u64) {
    let mut records = BTreeMap::new();
    let mut off = 0usize;
    while let Some(head) = data.get(off..off + FRAME_HEADER) {
        let len = u32::from_le_bytes(head[..4].try_into().unwrap()) as usize;
        let Some(payload) = data.get(off + FRAME_HEADER..off + FRAME_HEADER + len) else {
            break;
        };
        if len == 0 || Sha256::digest(payload)[..8] != head[4..12] {
            break;
        }
        match decode_entry(payload) {
            Some((PUT, k, v)) => {
                records.insert(k, v.to_vec());
            }
            Some((DELETE, k, _)) => {
                records.remove(&k);
            }
            _ => break,
        }
        off += FRAME_HEADER + len;
    }
    (records, off as u64)
}

struct Log {
    file: File,
    /// Where the next entry goes.
    end: u64,
    /// The preallocated size.
    capacity: u64,
    records: BTreeMap<RecordKey, Vec<u8>>,
}

/// The store; clones share one log.
#[derive(Clone)]
pub struct Store {
    path: PathBuf,
    log: Arc<Mutex<Log>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// Write `records` into a new preallocated log at `path` (via a temporary file), with
/// at least `reserve` bytes free after them.
fn write_log(
    path: &Path,
    records: &BTreeMap<RecordKey, Vec<u8>>,
    reserve: u64,
) -> Result<Log, StoreError> {
    let mut body = Vec::new();
    for (k, v) in records {
        body.extend(encode_entry(PUT, k, v));
    }
    let capacity = (body.len() as u64 * 2)
        .max(body.len() as u64 + 2 * reserve)
        .max(MIN_LOG);
    let tmp = path.with_extension("tmp");
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    // Real zeros, not a hole or fallocate's unwritten extents: later appends then
    // change no block mapping, and fdatasync has no metadata to commit.
    let mut image = body.clone();
    image.resize(capacity as usize, 0);
    f.write_all(&image).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))?;
    let dir = path.parent().expect("log path has a parent");
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    Ok(Log {
        file: f,
        end: body.len() as u64,
        capacity,
        records: records.clone(),
    })
}

/// Records of the one-file-per-record layout of earlier versions
/// (`<root>/<hex ns>/<bucket>/<hex key>`), to carry over into the log.
fn old_layout(root: &Path) -> BTreeMap<RecordKey, Vec<u8>> {
    fn unhex(name: &str) -> Option<String> {
        if name.len() % 2 != 0 {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..name.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(name.get(i..i + 2)?, 16).ok())
            .collect();
        String::from_utf8(bytes?).ok()
    }
    let mut out = BTreeMap::new();
    let dirs = |p: &Path| -> Vec<fs::DirEntry> {
        fs::read_dir(p)
            .map(|r| r.flatten().collect())
            .unwrap_or_default()
    };
    for ns in dirs(root) {
        let Some(ns_name) = unhex(&ns.file_name().to_string_lossy()) else {
            continue;
        };
        for bucket in dirs(&ns.path()) {
            let bucket_name = bucket.file_name().to_string_lossy().into_owned();
            for rec in dirs(&bucket.path()) {
                let Some(key) = unhex(&rec.file_name().to_string_lossy()) else {
                    continue;
                };
                if let Ok(v) = fs::read(rec.path()) {
                    out.insert((ns_name.clone(), bucket_name.clone(), key), v);
                }
            }
        }
    }
    out
}

impl Store {
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        fs::create_dir_all(root).map_err(io_err(root))?;
        let path = root.join(LOG_NAME);
        let log = match File::options().read(true).write(true).open(&path) {
            Ok(mut file) => {
                let mut data = Vec::new();
                file.read_to_end(&mut data).map_err(io_err(&path))?;
                let (records, end) = replay(&data);
                Log {
                    file,
                    end,
                    capacity: data.len() as u64,
                    records,
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let old = old_layout(root);
                let log = write_log(&path, &old, 0)?;
                // The log now holds them durably; the old files can go.
                for e in fs::read_dir(root).map_err(io_err(root))?.flatten() {
                    if e.path().is_dir() {
                        let _ = fs::remove_dir_all(e.path());
                    }
                }
                log
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        Ok(Store {
            path,
            log: Arc::new(Mutex::new(log)),
        })
    }

    fn key(ns: &str, bucket: &str, key: &str) -> RecordKey {
        (ns.to_owned(), bucket.to_owned(), key.to_owned())
    }

    fn decode<T: prost::Message + Default>(
        &self,
        k: &RecordKey,
        v: &[u8],
    ) -> Result<T, StoreError> {
        T::decode(v).map_err(|source| StoreError::Decode {
            path: self.path.join(format!("{}/{}/{}", k.0, k.1, k.2)),
            source,
        })
    }

    /// Append one entry (rewriting the log first when it is full), durably when
    /// `sync`; an unsynced entry becomes durable with the next synced one.
    fn append(&self, log: &mut Log, frame: &[u8], sync: bool) -> Result<(), StoreError> {
        // Room for the entry and the zero header that ends the log.
        let need = frame.len() as u64 + FRAME_HEADER as u64;
        if log.end + need > log.capacity {
            *log = write_log(&self.path, &log.records, need)?;
        }
        log.file
            .write_all_at(frame, log.end)
            .and_then(|_| if sync { log.file.sync_data() } else { Ok(()) })
            .map_err(io_err(&self.path))?;
        log.end += frame.len() as u64;
        Ok(())
    }

    pub fn get<T: prost::Message + Default>(
        &self,
        ns: &str,
        bucket: &str,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let k = Self::key(ns, bucket, key);
        let log = self.log.lock().unwrap();
        log.records.get(&k).map(|v| self.decode(&k, v)).transpose()
    }

    pub fn put<T: prost::Message>(
        &self,
        ns: &str,
        bucket: &str,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        self.put_with(ns, bucket, key, value, true)
    }

    /// [`Store::put`] made durable by the next synced write instead of its own sync:
    /// for a record a request writes just before another, so that the request costs
    /// one sync. Until then it is in the log and survives a kill of the process, but
    /// not a power loss: a request reports success only after a synced write follows.
    pub fn put_before_next<T: prost::Message>(
        &self,
        ns: &str,
        bucket: &str,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        self.put_with(ns, bucket, key, value, false)
    }

    fn put_with<T: prost::Message>(
        &self,
        ns: &str,
        bucket: &str,
        key: &str,
        value: &T,
        sync: bool,
    ) -> Result<(), StoreError> {
        let k = Self::key(ns, bucket, key);
        let v = value.encode_to_vec();
        let frame = encode_entry(PUT, &k, &v);
        let mut log = self.log.lock().unwrap();
        self.append(&mut log, &frame, sync)?;
        log.records.insert(k, v);
        Ok(())
    }

    /// Remove a record; returns whether it existed.
    pub fn delete(&self, ns: &str, bucket: &str, key: &str) -> Result<bool, StoreError> {
        let k = Self::key(ns, bucket, key);
        let mut log = self.log.lock().unwrap();
        if !log.records.contains_key(&k) {
            return Ok(false);
        }
        self.append(&mut log, &encode_entry(DELETE, &k, &[]), true)?;
        log.records.remove(&k);
        Ok(true)
    }

    /// Every record of a bucket, sorted by key.
    pub fn list<T: prost::Message + Default>(
        &self,
        ns: &str,
        bucket: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let log = self.log.lock().unwrap();
        log.records
            .iter()
            .filter(|(k, _)| k.0 == ns && k.1 == bucket)
            .map(|(k, v)| Ok((k.2.clone(), self.decode(k, v)?)))
            .collect()
    }

    /// Namespaces that hold at least one record.
    pub fn namespaces(&self) -> Result<Vec<String>, StoreError> {
        let log = self.log.lock().unwrap();
        let mut out: Vec<String> = log.records.keys().map(|k| k.0.clone()).collect();
        out.dedup();
        Ok(out)
    }

    /// Whether a namespace holds any record other than its own entry.
    pub fn namespace_is_empty(&self, ns: &str) -> Result<bool, StoreError> {
        let log = self.log.lock().unwrap();
        Ok(!log.records.keys().any(|k| k.0 == ns && k.1 != "namespace"))
    }

    pub fn remove_namespace(&self, ns: &str) -> Result<(), StoreError> {
        let mut log = self.log.lock().unwrap();
        let doomed: Vec<RecordKey> = log.records.keys().filter(|k| k.0 == ns).cloned().collect();
        for k in doomed {
            self.append(&mut log, &encode_entry(DELETE, &k, &[]), true)?;
            log.records.remove(&k);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(seconds: i64) -> prost_types::Timestamp {
        prost_types::Timestamp { seconds, nanos: 1 }
    }

    #[test]
    fn records_survive_reopen_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.put("default", "b", "k/1", &ts(5)).unwrap();
        s.put("default", "b", "k/2", &ts(6)).unwrap();
        assert!(s.delete("default", "b", "k/2").unwrap());
        drop(s);
        let s2 = Store::open(dir.path()).unwrap();
        let got: Option<prost_types::Timestamp> = s2.get("default", "b", "k/1").unwrap();
        assert_eq!(got, Some(ts(5)));
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

    #[test]
    fn a_torn_last_entry_is_dropped_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.put("ns", "b", "kept", &ts(1)).unwrap();
        s.put("ns", "b", "torn", &ts(2)).unwrap();
        drop(s);
        // Damage the last entry's payload, as a crash in the middle of its write would.
        let path = dir.path().join(LOG_NAME);
        let mut data = fs::read(&path).unwrap();
        let (_, end) = replay(&data);
        data[end as usize - 1] ^= 0xff;
        fs::write(&path, &data).unwrap();
        let s = Store::open(dir.path()).unwrap();
        let keys: Vec<String> = s
            .list::<prost_types::Timestamp>("ns", "b")
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["kept"]);
        // New writes go where the damaged entry was, and replay past it.
        s.put("ns", "b", "after", &ts(3)).unwrap();
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(
            s.list::<prost_types::Timestamp>("ns", "b").unwrap().len(),
            2
        );
    }

    #[test]
    fn a_full_log_is_rewritten_with_the_live_records() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let big = prost_types::Any {
            type_url: "x".into(),
            value: vec![7; 300 << 10],
        };
        // Ten 300 KB writes of one key overflow the 1 MB log several times.
        for _ in 0..10 {
            s.put("ns", "b", "big", &big).unwrap();
        }
        s.put(
            "ns",
            "b",
            "huge",
            &prost_types::Any {
                type_url: "y".into(),
                value: vec![1; 3 << 20],
            },
        )
        .unwrap();
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        let got: Vec<(String, prost_types::Any)> = s.list("ns", "b").unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, big);
        assert_eq!(got[1].1.value.len(), 3 << 20);
        assert!(s.namespaces().unwrap() == ["ns"]);
    }

    #[test]
    fn the_old_one_file_per_record_layout_is_carried_over() {
        let dir = tempfile::tempdir().unwrap();
        let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
        let rec = dir
            .path()
            .join(hex("default"))
            .join("leases")
            .join(hex("l/1"));
        fs::create_dir_all(rec.parent().unwrap()).unwrap();
        fs::write(&rec, prost::Message::encode_to_vec(&ts(9))).unwrap();
        let s = Store::open(dir.path()).unwrap();
        let got: Option<prost_types::Timestamp> = s.get("default", "leases", "l/1").unwrap();
        assert_eq!(got, Some(ts(9)));
        assert!(!dir.path().join(hex("default")).exists());
    }
}
