//! The image store: image configs addressed by the sha256 of their bytes, tags, and the
//! layer store (each layer unpacked once under `overlay2/<cache-id>/diff` and shared by
//! every image and container above it). `save` and `push` need each layer's original
//! tar: a pulled layer gets it back from the compressed blob it came in (kept anyway
//! for pushes); a built, committed, loaded or imported one keeps its plain tar.

pub mod archive;
pub mod layers;
pub mod pull;
pub mod push;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::ids;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("No such image: {0}")]
    NotFound(String),
    #[error("invalid reference format: {0}")]
    BadReference(String),
    #[error(transparent)]
    Layer(#[from] layers::LayerError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone)]
pub struct Layer {
    pub chain_id: String,
    pub diff_id: String,
    pub cache_id: String,
    pub size: u64,
}

/// What a new layer keeps of its original tar, for `save` and `push`.
enum KeptTar<'a> {
    /// This plain tar, moved beside the layer.
    File(&'a Path),
    /// Nothing but its length: the compressed blob in the distribution store holds it.
    InBlob(u64),
    Nothing,
}

/// The layer's tar length, in the layer's metadata when the tar itself is not kept.
const TAR_SIZE: &str = "tar-size";

#[derive(Debug, Clone)]
pub struct Image {
    /// `sha256:<hex>` of `raw`.
    pub id: String,
    pub raw: Vec<u8>,
    pub config: Value,
    /// Chain ids, bottom layer first.
    pub chain: Vec<String>,
}

pub struct ImageStore {
    root: PathBuf,
    layers_dir: PathBuf,
    images: HashMap<String, Image>,
    layers: HashMap<String, Layer>,
    /// `repo:tag` -> image id.
    tags: BTreeMap<String, String>,
    /// `repo@sha256:..` -> image id: the manifest digests an image was pulled or
    /// pushed as (`RepoDigests`).
    digests: BTreeMap<String, String>,
}

fn sha256_hex(data: &[u8]) -> String {
    ids::hex(&Sha256::digest(data))
}

fn strip(id: &str) -> &str {
    id.strip_prefix("sha256:").unwrap_or(id)
}

/// The chain id of `diff_id` stacked on `parent` (OCI image spec).
pub fn chain_id(parent: Option<&str>, diff_id: &str) -> String {
    match parent {
        None => diff_id.to_string(),
        Some(p) => format!("sha256:{}", sha256_hex(format!("{p} {diff_id}").as_bytes())),
    }
}

/// A familiar name in full, as Go's reference package prints it: Docker Hub names get
/// `docker.io/` and official images `library/`.
fn qualified(familiar: &str) -> String {
    let first = familiar.split('/').next().unwrap_or_default();
    let has_registry = familiar.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_registry {
        familiar.to_string()
    } else if familiar.contains('/') {
        format!("docker.io/{familiar}")
    } else {
        format!("docker.io/library/{familiar}")
    }
}

/// Normalize a reference to its familiar `repo:tag` form (`docker.io/library/x` -> `x`).
pub fn normalize(reference: &str) -> Result<String, ImageError> {
    if reference.contains('@') {
        return Err(ImageError::BadReference(format!(
            "{reference}: digest references are not supported"
        )));
    }
    let bad = || ImageError::BadReference(reference.to_string());
    if reference.is_empty() || reference.contains(char::is_whitespace) {
        return Err(bad());
    }
    let (name, tag) = match reference.rfind(':') {
        Some(i) if !reference[i..].contains('/') => (&reference[..i], &reference[i + 1..]),
        _ => (reference, "latest"),
    };
    if name.is_empty() || tag.is_empty() || name.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(bad());
    }
    let name = name
        .strip_prefix("docker.io/")
        .or_else(|| name.strip_prefix("index.docker.io/"))
        .unwrap_or(name);
    let name = name.strip_prefix("library/").unwrap_or(name);
    Ok(format!("{name}:{tag}"))
}

impl ImageStore {
    pub fn open(data_root: &Path) -> std::io::Result<ImageStore> {
        let root = data_root.join("image/overlay2");
        let layers_dir = data_root.join("overlay2");
        for d in ["imagedb/content/sha256", "layerdb/sha256", "layerdb/tmp"] {
            std::fs::create_dir_all(root.join(d))?;
        }
        std::fs::create_dir_all(&layers_dir)?;
        let mut s = ImageStore {
            root,
            layers_dir,
            images: HashMap::new(),
            layers: HashMap::new(),
            tags: BTreeMap::new(),
            digests: BTreeMap::new(),
        };
        for e in std::fs::read_dir(s.root.join("layerdb/sha256"))?.flatten() {
            let dir = e.path();
            let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
            let chain = format!("sha256:{}", e.file_name().to_string_lossy());
            s.layers.insert(
                chain.clone(),
                Layer {
                    chain_id: chain,
                    diff_id: read("diff"),
                    cache_id: read("cache-id"),
                    size: read("size").trim().parse().unwrap_or(0),
                },
            );
        }
        for e in std::fs::read_dir(s.root.join("imagedb/content/sha256"))?.flatten() {
            let raw = std::fs::read(e.path())?;
            if let Ok(img) = ImageStore::parse(raw) {
                s.images.insert(img.id.clone(), img);
            }
        }
        if let Ok(text) = std::fs::read_to_string(s.root.join("repositories.json")) {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                if let Some(repos) = v.get("Repositories").and_then(Value::as_object) {
                    for tags in repos.values().filter_map(Value::as_object) {
                        for (r, id) in tags {
                            let Some(id) = id.as_str() else { continue };
                            if r.contains('@') {
                                s.digests.insert(r.clone(), id.to_string());
                            } else {
                                s.tags.insert(r.clone(), id.to_string());
                            }
                        }
                    }
                }
            }
        }
        Ok(s)
    }

    fn parse(raw: Vec<u8>) -> Result<Image, ImageError> {
        let config: Value = serde_json::from_slice(&raw)
            .map_err(|e| ImageError::Invalid(format!("invalid image config: {e}")))?;
        let diff_ids: Vec<String> = config
            .pointer("/rootfs/diff_ids")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let mut chain = Vec::new();
        let mut parent: Option<String> = None;
        for d in &diff_ids {
            let c = chain_id(parent.as_deref(), d);
            chain.push(c.clone());
            parent = Some(c);
        }
        Ok(Image {
            id: format!("sha256:{}", sha256_hex(&raw)),
            raw,
            config,
            chain,
        })
    }

    /// Where a layer lands while it is unpacked; renamed into place once complete.
    pub fn staging_dir(&self) -> PathBuf {
        self.layers_dir
            .join(format!("tmp-{}", &ids::random_id()[..16]))
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("layerdb/tmp")
    }

    pub fn layer(&self, chain: &str) -> Option<&Layer> {
        self.layers.get(chain)
    }

    /// Register a layer unpacked at `staged/diff` with its original tar at `tar`.
    /// If the same layer already exists, the staged copy is dropped.
    pub fn commit_layer(
        &mut self,
        parent: Option<&str>,
        diff_id: &str,
        size: u64,
        staged: &Path,
        tar: Option<&Path>,
    ) -> std::io::Result<(Layer, bool)> {
        let kept = match tar {
            Some(t) => KeptTar::File(t),
            None => KeptTar::Nothing,
        };
        self.commit_layer_keeping(parent, diff_id, size, staged, kept)
    }

    /// Register a pulled layer unpacked at `staged/diff`: its tar (`tar_size` bytes) is
    /// not kept, the compressed blob it came in gives it back (see [`Self::open_layer_tar`]).
    pub fn commit_pulled_layer(
        &mut self,
        parent: Option<&str>,
        diff_id: &str,
        size: u64,
        staged: &Path,
        tar_size: u64,
    ) -> std::io::Result<(Layer, bool)> {
        self.commit_layer_keeping(parent, diff_id, size, staged, KeptTar::InBlob(tar_size))
    }

    fn commit_layer_keeping(
        &mut self,
        parent: Option<&str>,
        diff_id: &str,
        size: u64,
        staged: &Path,
        tar: KeptTar,
    ) -> std::io::Result<(Layer, bool)> {
        let chain = chain_id(parent, diff_id);
        if let Some(l) = self.layers.get(&chain) {
            let _ = std::fs::remove_dir_all(staged);
            if let KeptTar::File(t) = tar {
                let _ = std::fs::remove_file(t);
            }
            return Ok((l.clone(), false));
        }
        let cache_id = ids::random_id();
        std::fs::rename(staged, self.layers_dir.join(&cache_id))?;
        let meta = self.root.join("layerdb/sha256").join(strip(&chain));
        std::fs::create_dir_all(&meta)?;
        match tar {
            KeptTar::File(t) => std::fs::rename(t, meta.join("layer.tar"))?,
            KeptTar::InBlob(n) => std::fs::write(meta.join(TAR_SIZE), n.to_string())?,
            KeptTar::Nothing => {}
        }
        std::fs::write(meta.join("diff"), diff_id)?;
        std::fs::write(meta.join("size"), size.to_string())?;
        std::fs::write(meta.join("cache-id"), &cache_id)?;
        if let Some(p) = parent {
            std::fs::write(meta.join("parent"), p)?;
        }
        let l = Layer {
            chain_id: chain.clone(),
            diff_id: diff_id.to_string(),
            cache_id,
            size,
        };
        self.layers.insert(chain, l.clone());
        Ok((l, true))
    }

    /// Drop a layer registered by a load that failed later on.
    pub fn forget_layer(&mut self, chain: &str) {
        if let Some(l) = self.layers.remove(chain) {
            let _ = std::fs::remove_dir_all(self.layers_dir.join(&l.cache_id));
            let _ = std::fs::remove_dir_all(self.root.join("layerdb/sha256").join(strip(chain)));
        }
    }

    /// The layer's original tar stream (the bytes of its diff id) and its length: the
    /// tar kept beside the layer, or else the compressed blob it was pulled or pushed as,
    /// decompressed and checked against the diff id as it is read.
    pub fn open_layer_tar(&self, chain: &str) -> Result<(Box<dyn Read + Send>, u64), ImageError> {
        let layer = self
            .layers
            .get(chain)
            .ok_or_else(|| ImageError::Invalid(format!("layer {chain} is missing")))?;
        let meta = self.root.join("layerdb/sha256").join(strip(chain));
        if let Ok(f) = File::open(meta.join("layer.tar")) {
            let len = f.metadata()?.len();
            return Ok((Box::new(BufReader::with_capacity(1 << 20, f)), len));
        }
        let missing = || {
            ImageError::Invalid(format!(
                "the tar of layer {} is missing: neither a layer.tar nor its compressed blob is kept",
                layer.diff_id
            ))
        };
        let len: u64 = std::fs::read_to_string(meta.join(TAR_SIZE))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(missing)?;
        let blob =
            pull::blob_of(&self.root.join("distribution"), &layer.diff_id).ok_or_else(missing)?;
        let plain = pull::decompressed(Box::new(File::open(blob)?))?;
        Ok((
            Box::new(layers::CheckedReader::new(plain, &layer.diff_id, len)),
            len,
        ))
    }

    /// The unpacked directories of an image's layers, bottom first.
    pub fn layer_dirs(&self, img: &Image) -> Result<Vec<PathBuf>, ImageError> {
        img.chain
            .iter()
            .map(|c| {
                self.layers
                    .get(c)
                    .map(|l| self.layers_dir.join(&l.cache_id).join("diff"))
                    .ok_or_else(|| {
                        ImageError::Invalid(format!("layer {c} of image {} is missing", img.id))
                    })
            })
            .collect()
    }

    pub fn add_image(&mut self, raw: Vec<u8>) -> Result<Image, ImageError> {
        let img = ImageStore::parse(raw)?;
        for c in &img.chain {
            if !self.layers.contains_key(c) {
                return Err(ImageError::Invalid(format!("layer {c} is missing")));
            }
        }
        std::fs::write(
            self.root
                .join("imagedb/content/sha256")
                .join(strip(&img.id)),
            &img.raw,
        )?;
        self.images.insert(img.id.clone(), img.clone());
        Ok(img)
    }

    pub fn size(&self, img: &Image) -> u64 {
        img.chain
            .iter()
            .filter_map(|c| self.layers.get(c))
            .map(|l| l.size)
            .sum()
    }

    /// Resolve a name, `repo:tag`, full id or unique id prefix to an image id.
    pub fn resolve(&self, reference: &str) -> Result<String, ImageError> {
        let nf = || ImageError::NotFound(reference.to_string());
        if let Ok(r) = normalize(reference) {
            if let Some(id) = self.tags.get(&r) {
                return Ok(id.clone());
            }
        }
        if let Some(id) = self.digests.get(reference) {
            return Ok(id.clone());
        }
        let hex = strip(reference);
        if hex.len() >= 4 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            let found: Vec<&String> = self
                .images
                .keys()
                .filter(|id| strip(id).starts_with(hex))
                .collect();
            if found.len() == 1 {
                return Ok(found[0].clone());
            }
        }
        Err(nf())
    }

    pub fn get(&self, id: &str) -> Option<&Image> {
        self.images.get(id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Image> {
        self.images.values()
    }

    pub fn tags_of(&self, id: &str) -> Vec<String> {
        self.tags
            .iter()
            .filter(|(_, v)| *v == id)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The `repo@digest` references of an image.
    pub fn digests_of(&self, id: &str) -> Vec<String> {
        self.digests
            .iter()
            .filter(|(_, v)| *v == id)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Every name of an image, tags and digests, in the order dockerd lists them (by
    /// the fully qualified name, `docker.io/library/` included).
    pub fn references_of(&self, id: &str) -> Vec<String> {
        let mut refs: Vec<String> = self.tags_of(id);
        refs.extend(self.digests_of(id));
        refs.sort_by_cached_key(|r| qualified(r));
        refs
    }

    /// Drop one name of an image: a `repo@digest`, or a tag (see [`Self::untag`]).
    pub fn remove_reference(&mut self, reference: &str) -> Result<(), ImageError> {
        if reference.contains('@') {
            self.digests.remove(reference);
            self.save_tags()?;
        } else {
            self.untag(reference)?;
        }
        Ok(())
    }

    /// Record that `id` is the image behind `canonical` (`repo@sha256:..`, familiar
    /// form): a repository holds one digest per image, the newest.
    pub fn add_digest(&mut self, canonical: &str, id: &str) -> std::io::Result<()> {
        let repo = canonical.split_once('@').map_or(canonical, |(r, _)| r);
        self.digests
            .retain(|k, v| !(v == id && k.split_once('@').is_some_and(|(r, _)| r == repo)));
        self.digests.insert(canonical.to_string(), id.to_string());
        self.save_tags()
    }

    /// Point `repo:tag` at `id`; the tag's previous image, if another.
    pub fn tag(&mut self, reference: &str, id: &str) -> Result<Option<String>, ImageError> {
        let r = normalize(reference)?;
        let old = self.tags.insert(r, id.to_string()).filter(|o| o != id);
        self.save_tags()?;
        // As dockerd: the time of the image's last tag (inspect's Metadata.LastTagTime).
        let meta = self.metadata_dir(id);
        std::fs::create_dir_all(&meta)?;
        std::fs::write(meta.join("lastUpdated"), ids::now_rfc3339())?;
        Ok(old)
    }

    fn metadata_dir(&self, id: &str) -> PathBuf {
        self.root.join("imagedb/metadata/sha256").join(strip(id))
    }

    /// When `id` was last tagged, if ever.
    pub fn last_tag_time(&self, id: &str) -> Option<String> {
        std::fs::read_to_string(self.metadata_dir(id).join("lastUpdated")).ok()
    }

    pub fn untag(&mut self, reference: &str) -> Result<Option<String>, ImageError> {
        let r = normalize(reference)?;
        let old = self.tags.remove(&r);
        if let Some(id) = &old {
            // As dockerd: the repository's digest references go with its last tag.
            let repo = r.rsplit_once(':').map_or(r.as_str(), |(a, _)| a);
            let same_repo = |k: &str, sep: char| k.rsplit_once(sep).is_some_and(|(a, _)| a == repo);
            if !self.tags.iter().any(|(k, v)| v == id && same_repo(k, ':')) {
                self.digests.retain(|k, v| !(v == id && same_repo(k, '@')));
            }
        }
        self.save_tags()?;
        Ok(old)
    }

    /// Remove an image config and the layers no other image uses.
    pub fn delete(&mut self, id: &str) -> Result<Vec<String>, ImageError> {
        let img = self
            .images
            .remove(id)
            .ok_or_else(|| ImageError::NotFound(id.to_string()))?;
        let _ = std::fs::remove_file(self.root.join("imagedb/content/sha256").join(strip(id)));
        let _ = std::fs::remove_dir_all(self.metadata_dir(id));
        self.tags.retain(|_, v| v != id);
        self.digests.retain(|_, v| v != id);
        self.save_tags()?;
        let mut deleted = Vec::new();
        for c in img.chain.iter().rev() {
            if self.images.values().any(|i| i.chain.contains(c)) {
                continue;
            }
            let diff_id = self.layers.get(c).map(|l| l.diff_id.clone());
            self.forget_layer(c);
            deleted.push(c.clone());
            // The compressed blobs a layer was pulled or pushed as go with the last
            // layer that unpacks to them.
            if let Some(diff) = diff_id.filter(|d| !self.layers.values().any(|l| &l.diff_id == d)) {
                pull::forget_blobs(&self.root.join("distribution"), &diff);
            }
        }
        Ok(deleted)
    }

    fn save_tags(&self) -> std::io::Result<()> {
        let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let digests = self.digests.iter().map(|(r, id)| (r, id, '@'));
        for (r, id, sep) in self.tags.iter().map(|(r, id)| (r, id, ':')).chain(digests) {
            let repo = r.rsplit_once(sep).map(|(a, _)| a).unwrap_or(r);
            repos
                .entry(repo.to_string())
                .or_default()
                .insert(r.clone(), id.clone());
        }
        let tmp = self.root.join("repositories.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&json!({ "Repositories": repos }))?)?;
        std::fs::rename(tmp, self.root.join("repositories.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(normalize("busybox").unwrap(), "busybox:latest");
        assert_eq!(
            normalize("docker.io/library/busybox:1").unwrap(),
            "busybox:1"
        );
        assert_eq!(
            normalize("localhost:5000/a/b").unwrap(),
            "localhost:5000/a/b:latest"
        );
        assert!(normalize("Bad").is_err());
        assert_eq!(qualified("busybox:1"), "docker.io/library/busybox:1");
        assert_eq!(qualified("a/b@sha256:00"), "docker.io/a/b@sha256:00");
        assert_eq!(qualified("localhost:5000/a:1"), "localhost:5000/a:1");
    }

    #[test]
    fn chain_ids() {
        let a = "sha256:aa";
        assert_eq!(chain_id(None, a), a);
        assert_ne!(chain_id(Some(a), "sha256:bb"), "sha256:bb");
    }
}
