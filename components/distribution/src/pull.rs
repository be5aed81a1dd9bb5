//! Pulling: resolve the manifest (picking linux/amd64 from a list or index), fetch
//! the config, and download layers concurrently into a content-addressed directory,
//! verifying every byte and resuming interrupted downloads with `Range` requests.
//!
//! A blob reaches its final name `<store>/sha256/<hex>` only after its digest and
//! size are checked; until then it is `<hex>.partial`, kept across transport errors
//! (so the next attempt resumes) and removed when verification fails.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::digest::{Digest, Verifier};
use crate::error::{from_response, Error};
use crate::manifest::{Descriptor, ImageManifest, Manifest, Platform, ACCEPT};
use crate::reference::Reference;
use crate::session::{empty, read_small, Session};
use crate::{HaveFn, LayerEvent, Progress, ProgressFn};

/// Transport errors tolerated per blob before giving up (each retry resumes).
const BLOB_RETRIES: usize = 3;

/// What a pull produced. Layers are files in the store, in manifest order.
#[derive(Debug, Clone)]
pub struct PulledImage {
    /// The reference pinned to [`PulledImage::digest`].
    pub reference: Reference,
    /// Digest of what the tag points to (the list's digest for a multi-platform image):
    /// what docker prints as `Digest:` and records as the repo digest.
    pub digest: Digest,
    /// The platform manifest's digest, media type and exact bytes.
    pub manifest_digest: Digest,
    pub manifest_media_type: String,
    pub manifest: Bytes,
    /// The image config (verified) and its descriptor.
    pub config: Bytes,
    pub config_descriptor: Descriptor,
    /// Layer descriptors and their verified files, in manifest order.
    pub layers: Vec<(Descriptor, PathBuf)>,
}

/// Where a verified blob lives in a store directory.
pub fn blob_path(store: &Path, digest: &Digest) -> PathBuf {
    store.join(digest.algorithm()).join(digest.hex())
}

pub(crate) async fn pull_from(
    session: &Session,
    reference: &Reference,
    store: &Path,
    max_concurrent: usize,
    progress: &ProgressFn,
    have: &HaveFn,
) -> Result<PulledImage, Error> {
    let repo = reference.repository();
    let (top_mt, top_bytes, top_digest) = fetch_manifest(
        session,
        reference,
        &reference.manifest_reference(),
        reference.digest(),
    )
    .await?;
    let (mt, bytes, digest, manifest) = match Manifest::parse(&top_mt, &top_bytes)? {
        Manifest::Image(m) => (top_mt, top_bytes, top_digest.clone(), m),
        Manifest::Index(index) => {
            let want = Platform::linux_amd64();
            let entry = index
                .select(&want)
                .ok_or_else(|| Error::NoMatchingPlatform {
                    platform: want.to_string(),
                })?;
            let (mt, bytes, d) = fetch_manifest(
                session,
                reference,
                &entry.digest.to_string(),
                Some(&entry.digest),
            )
            .await?;
            match Manifest::parse(&mt, &bytes)? {
                Manifest::Image(m) => (mt, bytes, d, m),
                Manifest::Index(_) => {
                    return Err(Error::Protocol(format!(
                        "manifest list entry {} is itself a list",
                        entry.digest
                    )))
                }
            }
        }
    };
    let ImageManifest { config, layers, .. } = manifest;
    let config_bytes = fetch_config(session, repo, &config).await?;

    let blobs = store.join("sha256");
    tokio::fs::create_dir_all(&blobs)
        .await
        .map_err(|e| Error::io(format!("create {}", blobs.display()), e))?;
    let held = have(&config, &layers);
    let mut unique: Vec<&Descriptor> = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        if held.get(i).copied().unwrap_or(false) {
            progress(&Progress {
                digest: l.digest.clone(),
                event: LayerEvent::AlreadyExists,
            });
            continue;
        }
        if !unique.iter().any(|u| u.digest == l.digest) {
            unique.push(l);
        }
    }
    for l in &unique {
        let event = if blob_path(store, &l.digest).exists() {
            LayerEvent::AlreadyExists
        } else {
            LayerEvent::Waiting
        };
        progress(&Progress {
            digest: l.digest.clone(),
            event,
        });
    }
    // Collected first: a lazy `map` closure in the stream type makes the future
    // unprovably `Send` for callers that spawn it.
    let downloads: Vec<_> = unique
        .into_iter()
        .map(|l| download_blob(session, repo, l, store, progress))
        .collect();
    futures::stream::iter(downloads)
        .buffer_unordered(max_concurrent.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(PulledImage {
        reference: reference.with_digest(top_digest.clone()),
        digest: top_digest,
        manifest_digest: digest,
        manifest_media_type: mt,
        manifest: bytes,
        config: config_bytes,
        config_descriptor: config,
        layers: layers
            .into_iter()
            .map(|l| {
                let p = blob_path(store, &l.digest);
                (l, p)
            })
            .collect(),
    })
}

/// GET a manifest; its digest must be `expected` (when pinned) and match what the
/// registry says in `Docker-Content-Digest`.
async fn fetch_manifest(
    session: &Session,
    reference: &Reference,
    what: &str,
    expected: Option<&Digest>,
) -> Result<(String, Bytes, Digest), Error> {
    let mut h = HeaderMap::new();
    h.insert(http::header::ACCEPT, http::HeaderValue::from_static(ACCEPT));
    let path = format!("/v2/{}/manifests/{what}", reference.repository());
    let resp = session.request(Method::GET, &path, h, empty()).await?;
    let status = resp.status();
    let media_type = header(&resp, http::header::CONTENT_TYPE.as_str()).unwrap_or_default();
    let said = header(&resp, "docker-content-digest").and_then(|d| Digest::parse(&d).ok());
    let body = read_small(resp).await?;
    if !status.is_success() {
        return Err(match from_response(status, &body) {
            Error::Registry(errors) if errors.has("MANIFEST_UNKNOWN") => Error::ManifestNotFound {
                reference: reference.familiar(),
                errors,
            },
            e => e,
        });
    }
    let actual = Digest::of(&body);
    for want in expected.into_iter().chain(said.as_ref()) {
        if *want != actual {
            return Err(Error::ManifestDigestMismatch {
                expected: want.clone(),
                actual,
            });
        }
    }
    Ok((media_type, body, actual))
}

fn header(resp: &http::Response<hyper::body::Incoming>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn fetch_config(session: &Session, repo: &str, d: &Descriptor) -> Result<Bytes, Error> {
    let path = format!("/v2/{repo}/blobs/{}", d.digest);
    let resp = session
        .request(Method::GET, &path, HeaderMap::new(), empty())
        .await?;
    let status = resp.status();
    let body = read_small(resp).await?;
    if !status.is_success() {
        return Err(from_response(status, &body));
    }
    let actual = Digest::of(&body);
    if actual != d.digest {
        return Err(Error::BlobDigestMismatch {
            expected: d.digest.clone(),
            actual,
        });
    }
    Ok(body)
}

/// Download one layer to the store, resuming a partial file if one is there.
async fn download_blob(
    session: &Session,
    repo: &str,
    d: &Descriptor,
    store: &Path,
    progress: &ProgressFn,
) -> Result<(), Error> {
    let report = |event| {
        progress(&Progress {
            digest: d.digest.clone(),
            event,
        })
    };
    let final_path = blob_path(store, &d.digest);
    if final_path.exists() {
        return Ok(());
    }
    let partial = final_path.with_extension("partial");
    let io = |what: &str, e| Error::io(format!("{what} {}", partial.display()), e);
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .append(true)
        .open(&partial)
        .await
        .map_err(|e| io("open", e))?;
    // Re-hash what an earlier, interrupted pull left, so the digest covers every byte.
    let mut verifier = Verifier::default();
    let mut offset = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).await.map_err(|e| io("read", e))?;
        if n == 0 {
            break;
        }
        verifier.update(&buf[..n]);
        offset += n as u64;
    }
    if offset > d.size {
        file.set_len(0).await.map_err(|e| io("truncate", e))?;
        verifier = Verifier::default();
        offset = 0;
    }
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let path = format!("/v2/{repo}/blobs/{}", d.digest);
    let mut failures = 0;
    let mut first = true;
    while first || offset < d.size {
        first = false;
        let mut h = HeaderMap::new();
        if offset > 0 {
            h.insert(
                http::header::RANGE,
                http::HeaderValue::from_str(&format!("bytes={offset}-")).expect("ascii"),
            );
        }
        let resp = match session.request(Method::GET, &path, h, empty()).await {
            Ok(r) => r,
            Err(_) if failures < BLOB_RETRIES => {
                failures += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        match resp.status() {
            StatusCode::PARTIAL_CONTENT
                if offset > 0 && content_range_start(&resp) == Some(offset) =>
            {
                report(LayerEvent::Resuming { offset });
            }
            StatusCode::OK => {
                if offset > 0 {
                    // The registry ignored the Range: start over.
                    report(LayerEvent::Restarted);
                    out.flush().await.map_err(|e| io("write", e))?;
                    out.get_mut()
                        .set_len(0)
                        .await
                        .map_err(|e| io("truncate", e))?;
                    verifier = Verifier::default();
                    offset = 0;
                }
            }
            status => {
                let body = read_small(resp).await.unwrap_or_default();
                drop(out);
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(from_response(status, &body));
            }
        }
        let mut body = resp.into_body();
        let mut broken = false;
        while let Some(frame) = body.frame().await {
            let frame = match frame {
                Ok(f) => f,
                Err(_) => {
                    broken = true;
                    break;
                }
            };
            let Some(data) = frame.data_ref() else {
                continue;
            };
            if offset + data.len() as u64 > d.size {
                drop(out);
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(Error::BlobSize {
                    digest: d.digest.clone(),
                    expected: d.size,
                    actual: offset + data.len() as u64,
                });
            }
            out.write_all(data).await.map_err(|e| io("write", e))?;
            verifier.update(data);
            offset += data.len() as u64;
            report(LayerEvent::Downloading {
                current: offset,
                total: d.size,
            });
        }
        out.flush().await.map_err(|e| io("write", e))?;
        if broken || offset < d.size {
            failures += 1;
            if failures > BLOB_RETRIES {
                return Err(Error::Protocol(format!(
                    "download of {} interrupted at {offset} of {} bytes",
                    d.digest, d.size
                )));
            }
            continue;
        }
        break;
    }
    drop(out);
    report(LayerEvent::Verifying);
    let actual = verifier.finish();
    if actual != d.digest {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(Error::BlobDigestMismatch {
            expected: d.digest.clone(),
            actual,
        });
    }
    tokio::fs::rename(&partial, &final_path)
        .await
        .map_err(|e| io("rename", e))?;
    report(LayerEvent::DownloadComplete);
    Ok(())
}

/// The first byte of `Content-Range: bytes <start>-<end>/<total>`.
fn content_range_start(resp: &http::Response<hyper::body::Incoming>) -> Option<u64> {
    let v = resp
        .headers()
        .get(http::header::CONTENT_RANGE)?
        .to_str()
        .ok()?;
    v.strip_prefix("bytes ")?
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
}
