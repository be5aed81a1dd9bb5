//! The image store's side of a registry push: each layer becomes a compressed blob
//! (the one it was pulled as, when this store still has it, so its digest matches what
//! registries already hold; otherwise its plain tar gzip-compressed once and kept), and
//! the layers' other repositories on the same registry are offered as mount sources.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use distribution::{Descriptor, Digest, PushRequest};
use sha2::{Digest as _, Sha256};

use super::pull::{remember, seen_as};
use super::{ImageError, ImageStore};

/// One layer ready to push.
#[derive(Debug, Clone)]
pub struct PushLayer {
    pub diff_id: String,
    pub descriptor: Descriptor,
    pub file: PathBuf,
    /// Other repositories (paths, same registry) known to hold the blob.
    pub mount_from: Vec<String>,
}

/// Everything a push needs, prepared from the store.
#[derive(Debug)]
pub struct PushPlan {
    pub request: PushRequest,
    pub layers: Vec<PushLayer>,
}

fn media_type_of(path: &Path) -> io::Result<&'static str> {
    let mut magic = [0u8; 4];
    let n = File::open(path)?.read(&mut magic)?;
    Ok(if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        distribution::DOCKER_LAYER_GZIP
    } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        distribution::OCI_LAYER_ZSTD
    } else {
        "application/vnd.docker.image.rootfs.diff.tar"
    })
}

fn descriptor(media_type: &str, digest: Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.into(),
        size,
        digest,
        urls: vec![],
        annotations: Default::default(),
        platform: None,
    }
}

/// Writes into a file while hashing.
struct HashingWriter {
    file: io::BufWriter<File>,
    hasher: Sha256,
    count: u64,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// gzip `tar` into the blob store; the blob's digest and size.
fn compress(mut tar: impl Read, blobs: &Path) -> io::Result<(Digest, u64)> {
    std::fs::create_dir_all(blobs)?;
    let tmp = blobs.join(format!("compress-{}", &crate::ids::random_id()[..16]));
    let result = (|| {
        let out = HashingWriter {
            file: io::BufWriter::with_capacity(1 << 20, File::create(&tmp)?),
            hasher: Sha256::new(),
            count: 0,
        };
        let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
        io::copy(&mut tar, &mut gz)?;
        let mut out = gz.finish()?;
        out.flush()?;
        let hex = crate::ids::hex(&out.hasher.finalize());
        let digest =
            Digest::parse(&format!("sha256:{hex}")).map_err(|e| io::Error::other(e.to_string()))?;
        std::fs::rename(&tmp, blobs.join(&hex))?;
        Ok((digest, out.count))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Prepare `image_id` for a push to `registry`/`repository` (`repository` is the path):
/// reuse or make each layer's blob, in parallel up to `parallel` compressions.
pub fn plan(
    store: &Mutex<ImageStore>,
    dist: &Path,
    image_id: &str,
    registry: &str,
    repository: &str,
    parallel: usize,
) -> Result<PushPlan, ImageError> {
    let (config, layers): (Vec<u8>, Vec<(String, String)>) = {
        let s = store.lock().unwrap();
        let img = s
            .get(image_id)
            .ok_or_else(|| ImageError::NotFound(image_id.to_string()))?;
        let layers = img
            .chain
            .iter()
            .map(|c| {
                let l = s
                    .layer(c)
                    .ok_or_else(|| ImageError::Invalid(format!("layer {c} is missing")))?;
                Ok((l.diff_id.clone(), c.clone()))
            })
            .collect::<Result<_, ImageError>>()?;
        (img.raw.clone(), layers)
    };
    let blobs = dist.join("blobs/sha256");
    let target = format!("{registry}/{repository}");
    let prepare = |diff_id: &str, chain: &str| -> Result<PushLayer, ImageError> {
        let seen = seen_as(dist, diff_id);
        let reusable = seen.iter().find_map(|b| {
            let hex = b.digest.strip_prefix("sha256:")?;
            let path = blobs.join(hex);
            let size = std::fs::metadata(&path).ok()?.len();
            Some((Digest::parse(&b.digest).ok()?, size, path))
        });
        let (digest, size, file) = match reusable {
            Some(r) => r,
            None => {
                let (tar, _) = store.lock().unwrap().open_layer_tar(chain)?;
                let (d, size) = compress(tar, &blobs)?;
                let path = blobs.join(d.hex());
                (d, size, path)
            }
        };
        let mount_from = seen
            .iter()
            .filter(|b| b.digest == digest.to_string())
            .filter_map(|b| b.repository.strip_prefix(&format!("{registry}/")))
            .filter(|r| *r != repository)
            .map(String::from)
            .collect();
        remember(dist, &digest.to_string(), diff_id, &target)?;
        Ok(PushLayer {
            diff_id: diff_id.to_string(),
            descriptor: descriptor(media_type_of(&file)?, digest, size),
            file: file.to_path_buf(),
            mount_from,
        })
    };
    let mut out: Vec<Option<Result<PushLayer, ImageError>>> =
        (0..layers.len()).map(|_| None).collect();
    let parallel = parallel.max(1);
    for (chunk_layers, chunk_out) in layers.chunks(parallel).zip(out.chunks_mut(parallel)) {
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunk_layers
                .iter()
                .map(|(diff, tar)| scope.spawn(|| prepare(diff, tar)))
                .collect();
            for (slot, h) in chunk_out.iter_mut().zip(handles) {
                *slot = Some(
                    h.join()
                        .unwrap_or_else(|_| Err(ImageError::Invalid("compression failed".into()))),
                );
            }
        });
    }
    let layers: Vec<PushLayer> = out
        .into_iter()
        .map(|r| r.expect("every layer prepared"))
        .collect::<Result<_, _>>()?;
    let mut request = PushRequest::docker_schema2(
        config.into(),
        layers
            .iter()
            .map(|l| (l.descriptor.clone(), l.file.clone()))
            .collect(),
    );
    for (blob, l) in request.blobs.iter_mut().skip(1).zip(&layers) {
        blob.mount_from = l.mount_from.clone();
    }
    Ok(PushPlan { request, layers })
}
