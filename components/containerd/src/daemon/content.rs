//! The content store: blobs addressed by digest under `blobs/sha256/`, and in-progress
//! writes ("ingests") keyed by the client's ref under `ingest/`. A blob only appears
//! under its digest once its size and digest were checked, by an atomic rename.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ContentError {
    #[error("content digest {0}: not found")]
    NotFound(String),
    #[error("content {0}: already exists")]
    AlreadyExists(String),
    #[error("ref {0} locked")]
    Locked(String),
    #[error("invalid digest {0:?}")]
    InvalidDigest(String),
    #[error("unexpected commit size {got}, expected {want}")]
    SizeMismatch { got: u64, want: u64 },
    #[error("unexpected commit digest {got}, expected {want}")]
    DigestMismatch { got: String, want: String },
    #[error("no ingest for ref {0:?}")]
    NoIngest(String),
    #[error("content store {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ContentError + '_ {
    move |source| ContentError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The sha256 hex part of a digest, validated.
pub fn digest_hex(digest: &str) -> Result<&str, ContentError> {
    match digest.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(h),
        _ => Err(ContentError::InvalidDigest(digest.to_owned())),
    }
}

pub struct ContentStore {
    root: PathBuf,
    /// Refs with a writer currently attached: a second writer gets `Locked`.
    active: Mutex<HashSet<String>>,
}

/// What is known of an in-progress write.
pub struct IngestStatus {
    pub reference: String,
    pub offset: u64,
    pub total: u64,
    pub expected: String,
    pub started_at: std::time::SystemTime,
    pub updated_at: std::time::SystemTime,
}

/// A claim on a ref for one writer; releases the lock when dropped.
pub struct Ingest {
    store: Arc<ContentStore>,
    pub reference: String,
    dir: PathBuf,
    file: File,
    pub offset: u64,
    pub total: u64,
    pub expected: String,
}

impl ContentStore {
    pub fn open(root: &Path) -> Result<ContentStore, ContentError> {
        for d in ["blobs/sha256", "ingest"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(io(&p))?;
        }
        Ok(ContentStore {
            root: root.to_owned(),
            active: Mutex::new(HashSet::new()),
        })
    }

    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, ContentError> {
        Ok(self.root.join("blobs/sha256").join(digest_hex(digest)?))
    }

    pub fn delete(&self, digest: &str) -> Result<(), ContentError> {
        let p = self.blob_path(digest)?;
        fs::remove_file(&p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ContentError::NotFound(digest.to_owned())
            } else {
                io(&p)(e)
            }
        })
    }

    /// Read `size` bytes (all when 0) from `offset`.
    pub fn read_at(&self, digest: &str, offset: u64, size: u64) -> Result<File, ContentError> {
        let p = self.blob_path(digest)?;
        let mut f = File::open(&p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ContentError::NotFound(digest.to_owned())
            } else {
                io(&p)(e)
            }
        })?;
        let _ = size;
        f.seek(SeekFrom::Start(offset)).map_err(io(&p))?;
        Ok(f)
    }

    #[cfg(test)]
    fn read_all(&self, digest: &str) -> Result<Vec<u8>, ContentError> {
        let mut f = self.read_at(digest, 0, 0)?;
        let mut v = Vec::new();
        f.read_to_end(&mut v)
            .map_err(io(&self.root.join("blobs")))?;
        Ok(v)
    }

    fn ingest_dir(&self, reference: &str) -> PathBuf {
        let h = Sha256::digest(reference.as_bytes());
        self.root.join("ingest").join(hex(&h))
    }

    /// Open (or resume) the write for `reference`.
    pub fn writer(
        self: &Arc<Self>,
        reference: &str,
        total: u64,
        expected: &str,
    ) -> Result<Ingest, ContentError> {
        if !expected.is_empty() {
            digest_hex(expected)?;
        }
        if !self.active.lock().unwrap().insert(reference.to_owned()) {
            return Err(ContentError::Locked(reference.to_owned()));
        }
        let release = |e| {
            self.active.lock().unwrap().remove(reference);
            e
        };
        let dir = self.ingest_dir(reference);
        fs::create_dir_all(&dir)
            .map_err(io(&dir))
            .map_err(release)?;
        let data = dir.join("data");
        let file = OpenOptions::new()
            .create(true)
            .append(false)
            .read(true)
            .write(true)
            .truncate(false)
            .open(&data)
            .map_err(io(&data))
            .map_err(release)?;
        let offset = file.metadata().map_err(io(&data)).map_err(release)?.len();
        let prev = fs::read_to_string(dir.join("meta")).unwrap_or_default();
        let mut parts = prev.splitn(3, '\n');
        let (_r, prev_total, prev_expected) = (parts.next(), parts.next(), parts.next());
        let total = if total > 0 {
            total
        } else {
            prev_total.and_then(|t| t.parse().ok()).unwrap_or(0)
        };
        let expected = if expected.is_empty() {
            prev_expected.unwrap_or("").to_owned()
        } else {
            expected.to_owned()
        };
        fs::write(
            dir.join("meta"),
            format!("{reference}\n{total}\n{expected}"),
        )
        .map_err(io(&dir))
        .map_err(release)?;
        Ok(Ingest {
            store: self.clone(),
            reference: reference.to_owned(),
            dir,
            file,
            offset,
            total,
            expected,
        })
    }

    pub fn status(&self, reference: &str) -> Result<IngestStatus, ContentError> {
        let dir = self.ingest_dir(reference);
        self.status_of(&dir)
            .ok_or_else(|| ContentError::NoIngest(reference.to_owned()))
    }

    fn status_of(&self, dir: &Path) -> Option<IngestStatus> {
        let meta = fs::read_to_string(dir.join("meta")).ok()?;
        let mut parts = meta.splitn(3, '\n');
        let reference = parts.next()?.to_owned();
        let total = parts.next().and_then(|t| t.parse().ok()).unwrap_or(0);
        let expected = parts.next().unwrap_or("").to_owned();
        let md = fs::metadata(dir.join("data")).ok()?;
        let started = fs::metadata(dir.join("meta"))
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        Some(IngestStatus {
            reference,
            offset: md.len(),
            total,
            expected,
            started_at: started,
            updated_at: md.modified().unwrap_or(started),
        })
    }

    pub fn statuses(&self) -> Vec<IngestStatus> {
        let dir = self.root.join("ingest");
        let Ok(rd) = fs::read_dir(&dir) else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|e| self.status_of(&e.path()))
            .collect()
    }

    pub fn abort(&self, reference: &str) -> Result<(), ContentError> {
        let dir = self.ingest_dir(reference);
        if !dir.exists() {
            return Err(ContentError::NoIngest(reference.to_owned()));
        }
        fs::remove_dir_all(&dir).map_err(io(&dir))
    }

    /// Check and move a finished file into place under its digest.
    pub fn commit_file(&self, src: &Path, size: u64, digest: &str) -> Result<(), ContentError> {
        let dst = self.blob_path(digest)?;
        if dst.exists() {
            let _ = fs::remove_file(src);
            return Err(ContentError::AlreadyExists(digest.to_owned()));
        }
        File::open(src)
            .and_then(|f| f.sync_all())
            .map_err(io(src))?;
        let _ = size;
        fs::rename(src, &dst).map_err(io(&dst))?;
        if let Some(parent) = dst.parent() {
            let _ = File::open(parent).and_then(|d| d.sync_all());
        }
        Ok(())
    }

    /// Store `data` as a blob (used by the daemon itself, e.g. diff compare results).
    pub fn put_bytes(&self, data: &[u8]) -> Result<String, ContentError> {
        let digest = format!("sha256:{}", hex(&Sha256::digest(data)));
        if self.blob_path(&digest)?.exists() {
            return Ok(digest);
        }
        let tmp = self
            .root
            .join("ingest")
            .join(format!(".put-{}", std::process::id()));
        fs::write(&tmp, data).map_err(io(&tmp))?;
        match self.commit_file(&tmp, data.len() as u64, &digest) {
            Ok(()) | Err(ContentError::AlreadyExists(_)) => Ok(digest),
            Err(e) => Err(e),
        }
    }
}

impl Ingest {
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), ContentError> {
        let p = self.dir.join("data");
        if offset != self.offset {
            // A client may rewind to resume: the file is cut to the given offset.
            self.file.set_len(offset).map_err(io(&p))?;
        }
        self.file.seek(SeekFrom::Start(offset)).map_err(io(&p))?;
        self.file.write_all(data).map_err(io(&p))?;
        self.offset = offset + data.len() as u64;
        Ok(())
    }

    /// Digest of what was written so far.
    pub fn digest(&mut self) -> Result<String, ContentError> {
        let p = self.dir.join("data");
        self.file.seek(SeekFrom::Start(0)).map_err(io(&p))?;
        let mut h = Sha256::new();
        std::io::copy(&mut (&self.file).take(self.offset), &mut h).map_err(io(&p))?;
        self.file
            .seek(SeekFrom::Start(self.offset))
            .map_err(io(&p))?;
        Ok(format!("sha256:{}", hex(&h.finalize())))
    }

    /// Verify size and digest and publish the blob; the ingest is removed either way
    /// on success or when the blob already existed.
    pub fn commit(&mut self, size: u64, expected: &str) -> Result<String, ContentError> {
        let size = if size > 0 { size } else { self.total };
        if size > 0 && size != self.offset {
            return Err(ContentError::SizeMismatch {
                got: self.offset,
                want: size,
            });
        }
        let got = self.digest()?;
        let want = if expected.is_empty() {
            self.expected.clone()
        } else {
            expected.to_owned()
        };
        if !want.is_empty() && want != got {
            return Err(ContentError::DigestMismatch { got, want });
        }
        let res = self
            .store
            .commit_file(&self.dir.join("data"), self.offset, &got);
        match res {
            Ok(()) | Err(ContentError::AlreadyExists(_)) => {
                let _ = fs::remove_dir_all(&self.dir);
            }
            Err(_) => {}
        }
        res.map(|()| got)
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        self.store.active.lock().unwrap().remove(&self.reference);
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_commit_and_reject_bad_digest() {
        let dir = tempfile::tempdir().unwrap();
        let cs = Arc::new(ContentStore::open(dir.path()).unwrap());
        let mut w = cs.writer("r1", 5, "").unwrap();
        assert!(matches!(
            cs.writer("r1", 5, ""),
            Err(ContentError::Locked(_))
        ));
        w.write_at(0, b"hello").unwrap();
        let d = w.commit(5, "").unwrap();
        drop(w);
        assert_eq!(cs.read_all(&d).unwrap(), b"hello");
        let mut w = cs.writer("r2", 5, &d).unwrap();
        w.write_at(0, b"hello").unwrap();
        assert!(matches!(
            w.commit(5, &d),
            Err(ContentError::AlreadyExists(_))
        ));
        drop(w);
        let mut w = cs.writer("r3", 0, "").unwrap();
        w.write_at(0, b"abc").unwrap();
        let wrong = format!("sha256:{}", "0".repeat(64));
        assert!(matches!(
            w.commit(3, &wrong),
            Err(ContentError::DigestMismatch { .. })
        ));
        drop(w);
        cs.abort("r3").unwrap();
        assert!(cs.statuses().is_empty());
    }
}
