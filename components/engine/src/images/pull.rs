//! The image store's side of a registry pull: which layers are already here (so they
//! are not downloaded again), unpacking a downloaded blob (gzip, zstd or plain tar) in
//! one pass that hashes the diff id (the plain tar is not written: the kept blob gives
//! it back to `save`), and the final
//! commit (diff ids checked against the config, layers registered bottom up, the
//! config stored, the tag moved) that happens only when every layer is in hand.
//!
//! Compressed blobs stay under `image/overlay2/distribution/blobs` with dockerd's two
//! indexes beside them (`diffid-by-digest`, `v2metadata-by-diffid`), so a push of a
//! pulled image reuses the registry's digests: skipped or mounted, never re-uploaded.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use serde_json::{json, Value};

use super::layers;
use super::{chain_id, ImageError, ImageStore};

/// Where pulled and pushed compressed blobs and their indexes live.
pub fn distribution_dir(data_root: &Path) -> PathBuf {
    data_root.join("image/overlay2/distribution")
}

fn diffid_by_digest(dist: &Path, digest: &str) -> PathBuf {
    dist.join("diffid-by-digest/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

fn metadata_by_diffid(dist: &Path, diff_id: &str) -> PathBuf {
    dist.join("v2metadata-by-diffid/sha256")
        .join(diff_id.trim_start_matches("sha256:"))
}

/// The diff id a registry blob unpacks to, when a pull or push here learnt it.
pub fn diff_id_of(dist: &Path, digest: &str) -> Option<String> {
    std::fs::read_to_string(diffid_by_digest(dist, digest))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| s.starts_with("sha256:"))
}

/// One `(blob digest, repository)` a layer is known under (dockerd's V2Metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobSeen {
    pub digest: String,
    /// `host[:port]/path` (docker.io included for Hub repositories).
    pub repository: String,
}

/// Every blob digest and repository `diff_id` was seen under.
pub fn seen_as(dist: &Path, diff_id: &str) -> Vec<BlobSeen> {
    let Ok(text) = std::fs::read(metadata_by_diffid(dist, diff_id)) else {
        return Vec::new();
    };
    let list: Vec<Value> = serde_json::from_slice(&text).unwrap_or_default();
    list.iter()
        .filter_map(|v| {
            Some(BlobSeen {
                digest: v.get("Digest")?.as_str()?.to_string(),
                repository: v.get("SourceRepository")?.as_str()?.to_string(),
            })
        })
        .collect()
}

/// Record that `digest` (a compressed blob) unpacks to `diff_id` and lives in
/// `repository`; both indexes are rewritten whole (small files, replaced by rename).
pub fn remember(dist: &Path, digest: &str, diff_id: &str, repository: &str) -> io::Result<()> {
    let by_digest = diffid_by_digest(dist, digest);
    write_replace(&by_digest, diff_id.as_bytes())?;
    let mut seen = seen_as(dist, diff_id);
    let entry = BlobSeen {
        digest: digest.to_string(),
        repository: repository.to_string(),
    };
    if seen.contains(&entry) {
        return Ok(());
    }
    seen.push(entry);
    let list: Vec<Value> = seen
        .iter()
        .map(|s| json!({"Digest": s.digest, "SourceRepository": s.repository, "HMAC": ""}))
        .collect();
    write_replace(
        &metadata_by_diffid(dist, diff_id),
        &serde_json::to_vec(&list).expect("json"),
    )
}

/// A compressed blob on disk that unpacks to `diff_id`, if one is kept.
pub fn blob_of(dist: &Path, diff_id: &str) -> Option<PathBuf> {
    seen_as(dist, diff_id).into_iter().find_map(|seen| {
        let hex = seen.digest.strip_prefix("sha256:")?;
        let path = dist.join("blobs/sha256").join(hex);
        path.is_file().then_some(path)
    })
}

/// Remove the compressed blobs known to unpack to `diff_id` (their indexes stay: they
/// only tell a later push which digests a registry may already hold).
pub fn forget_blobs(dist: &Path, diff_id: &str) {
    for seen in seen_as(dist, diff_id) {
        let hex = seen.digest.trim_start_matches("sha256:");
        if !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            let _ = std::fs::remove_file(dist.join("blobs/sha256").join(hex));
        }
    }
}

fn write_replace(path: &Path, data: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", &crate::ids::random_id()[..8]));
    std::fs::write(&tmp, data)?;
    std::fs::rename(tmp, path)
}

/// For a manifest's layers in order: which are already in the layer store (the whole
/// chain below them included), judged by the diff ids earlier pulls recorded.
pub fn held_layers(store: &ImageStore, dist: &Path, digests: &[String]) -> Vec<bool> {
    let mut out = Vec::new();
    let mut parent: Option<String> = None;
    for d in digests {
        let Some(diff) = diff_id_of(dist, d) else {
            break;
        };
        let chain = chain_id(parent.as_deref(), &diff);
        if store.layer(&chain).is_none() {
            break;
        }
        out.push(true);
        parent = Some(chain);
    }
    out
}

/// A layer unpacked into a staging directory, not yet registered.
#[derive(Debug)]
pub struct StagedLayer {
    pub diff_id: String,
    pub size: u64,
    /// `<dir>/diff` holds the files.
    pub dir: PathBuf,
    /// The length of the uncompressed tar.
    pub tar_size: u64,
}

impl StagedLayer {
    pub fn discard(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How a download that a [`Follower`] reads along with is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FeedState {
    Running,
    Done,
    Abandoned,
}

/// The download side of a [`Follower`]: pokes it when bytes arrive and says when the
/// download is over.
#[derive(Debug)]
pub struct Feed {
    state: Mutex<FeedState>,
    more: Condvar,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            state: Mutex::new(FeedState::Running),
            more: Condvar::new(),
        }
    }
}

impl Feed {
    /// More bytes may be in the file.
    pub fn poke(&self) {
        self.more.notify_all();
    }

    /// The download is complete (`ok`) or abandoned; a reader waiting on it wakes up.
    pub fn finish(&self, ok: bool) {
        let mut st = self.state.lock().unwrap();
        if *st == FeedState::Running {
            *st = if ok {
                FeedState::Done
            } else {
                FeedState::Abandoned
            };
        }
        self.more.notify_all();
    }
}

/// Reads a blob file while it is being downloaded: at the end of what is written it
/// waits for the download, so unpacking runs alongside the transfer instead of after
/// it. The download verifies the blob's digest; a pull whose digest fails discards
/// what was unpacked from it.
pub struct Follower {
    file: File,
    read: u64,
    total: u64,
    feed: Arc<Feed>,
}

impl Follower {
    pub fn new(file: File, total: u64, feed: Arc<Feed>) -> Follower {
        Follower {
            file,
            read: 0,
            total,
            feed,
        }
    }
}

impl Read for Follower {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.total.saturating_sub(self.read);
        if left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let max = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        loop {
            let n = self.file.read(&mut buf[..max])?;
            if n > 0 {
                self.read += n as u64;
                return Ok(n);
            }
            let st = self.feed.state.lock().unwrap();
            match *st {
                FeedState::Abandoned => {
                    return Err(io::Error::other("the download was abandoned"));
                }
                // Everything is on disk: a last read sees it, or the blob is short.
                FeedState::Done => {
                    drop(st);
                    let n = self.file.read(&mut buf[..max])?;
                    if n == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    self.read += n as u64;
                    return Ok(n);
                }
                FeedState::Running => {
                    let _ = self
                        .feed
                        .more
                        .wait_timeout(st, std::time::Duration::from_millis(100))
                        .unwrap();
                }
            }
        }
    }
}

/// Wrap a layer stream in the decompressor its magic number calls for (gzip, zstd,
/// or none for a plain tar).
pub fn decompressed(mut r: Box<dyn Read + Send>) -> io::Result<Box<dyn Read + Send>> {
    let mut magic = Vec::with_capacity(4);
    while magic.len() < 4 {
        let mut b = [0u8; 4];
        let n = r.read(&mut b[..4 - magic.len()])?;
        if n == 0 {
            break;
        }
        magic.extend_from_slice(&b[..n]);
    }
    let whole = BufReader::with_capacity(1 << 20, io::Cursor::new(magic.clone()).chain(r));
    Ok(if magic.len() >= 2 && magic[..2] == [0x1f, 0x8b] {
        Box::new(flate2::bufread::GzDecoder::new(whole))
    } else if magic.len() == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        Box::new(zstd::stream::read::Decoder::with_buffer(whole)?)
    } else {
        Box::new(whole)
    })
}

/// Unpack the blob at `blob` into a fresh staging directory (see [`stage_from`]).
pub fn stage_layer(store: &Mutex<ImageStore>, blob: &Path) -> Result<StagedLayer, ImageError> {
    stage_from(store, Box::new(File::open(blob)?))
}

/// Unpack a layer blob streamed from `blob` into a fresh staging directory in one
/// pass: the decompressed stream is hashed (the diff id) and unpacked.
pub fn stage_from(
    store: &Mutex<ImageStore>,
    blob: Box<dyn Read + Send>,
) -> Result<StagedLayer, ImageError> {
    let dir = store.lock().unwrap().staging_dir();
    let result = (|| {
        std::fs::create_dir_all(dir.join("diff"))?;
        let mut reader = layers::HashingReader::new(decompressed(blob)?);
        let size = layers::unpack(&mut reader, &dir.join("diff"))?;
        // Tar padding after the end-of-archive blocks belongs to the diff id too.
        io::copy(&mut reader, &mut io::sink())?;
        let tar_size = reader.count;
        Ok(StagedLayer {
            diff_id: reader.digest(),
            size,
            dir: dir.clone(),
            tar_size,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// What [`commit`] did.
#[derive(Debug)]
pub struct Committed {
    pub image_id: String,
    /// The tag already pointed at this image.
    pub up_to_date: bool,
}

/// Register a pulled image: `layers[i]` is the staged layer for the config's i-th
/// diff id, or `None` when that layer (and its chain) is already in the store. Every
/// diff id is checked first; on any error nothing new stays registered.
pub fn commit(
    store: &Mutex<ImageStore>,
    config: &[u8],
    layers: &[Option<StagedLayer>],
    tag: Option<&str>,
) -> Result<Committed, ImageError> {
    let cfg: Value = serde_json::from_slice(config)
        .map_err(|e| ImageError::Invalid(format!("invalid image config: {e}")))?;
    let diff_ids: Vec<String> = cfg
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if diff_ids.len() != layers.len() {
        return Err(ImageError::Invalid(format!(
            "image config lists {} layers, the manifest {}",
            diff_ids.len(),
            layers.len()
        )));
    }
    for (want, staged) in diff_ids.iter().zip(layers) {
        if let Some(s) = staged {
            if &s.diff_id != want {
                return Err(ImageError::Invalid(format!(
                    "layer digest mismatch: the config says {want}, the layer is {}",
                    s.diff_id
                )));
            }
        }
    }
    let mut s = store.lock().unwrap();
    let mut parent: Option<String> = None;
    let mut added = Vec::new();
    let result = (|| {
        for (diff, staged) in diff_ids.iter().zip(layers) {
            let chain = match staged {
                Some(l) => {
                    let (layer, new) =
                        s.commit_pulled_layer(parent.as_deref(), diff, l.size, &l.dir, l.tar_size)?;
                    if new {
                        added.push(layer.chain_id.clone());
                    }
                    layer.chain_id
                }
                None => {
                    let c = chain_id(parent.as_deref(), diff);
                    if s.layer(&c).is_none() {
                        return Err(ImageError::Invalid(format!("layer {c} is missing")));
                    }
                    c
                }
            };
            parent = Some(chain);
        }
        let img = s.add_image(config.to_vec())?;
        let mut up_to_date = false;
        if let Some(t) = tag {
            up_to_date = s.resolve(t).ok().as_deref() == Some(img.id.as_str());
            s.tag(t, &img.id)?;
        }
        Ok(Committed {
            image_id: img.id,
            up_to_date,
        })
    })();
    if result.is_err() {
        for c in added.iter().rev() {
            s.forget_layer(c);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_follower_reads_what_the_download_writes_and_stops_when_it_is_abandoned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob.partial");
        let mut writer = File::create(&path).unwrap();
        let feed = Arc::new(Feed::default());
        let mut r = Follower::new(File::open(&path).unwrap(), 6, feed.clone());
        let reading = std::thread::spawn(move || {
            let mut all = Vec::new();
            r.read_to_end(&mut all).map(|_| all)
        });
        for chunk in [&b"abc"[..], b"def"] {
            std::thread::sleep(std::time::Duration::from_millis(30));
            writer.write_all(chunk).unwrap();
            feed.poke();
        }
        feed.finish(true);
        assert_eq!(reading.join().unwrap().unwrap(), b"abcdef");

        let feed = Arc::new(Feed::default());
        let mut r = Follower::new(File::open(&path).unwrap(), 100, feed.clone());
        let reading = std::thread::spawn(move || {
            let mut all = Vec::new();
            r.read_to_end(&mut all)
        });
        feed.finish(false);
        assert!(reading.join().unwrap().is_err());
    }
}
