//! Pushing: each blob is checked with HEAD and skipped when the registry has it,
//! mounted from another repository of the same registry when the caller knows one
//! that holds it, or uploaded (one PUT, or PATCH chunks then PUT); the manifest is
//! PUT last, so a tag never points at missing blobs.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use tokio::io::AsyncReadExt;

use crate::digest::Digest;
use crate::error::{from_response, Error};
use crate::manifest::{Descriptor, DOCKER_CONFIG, DOCKER_MANIFEST};
use crate::reference::Reference;
use crate::session::{empty, full, read_small, Session};
use crate::transport::Body;
use crate::{LayerEvent, Progress, ProgressFn};

const STREAM_CHUNK: usize = 1 << 16;

/// Where the bytes of a blob to push come from.
#[derive(Debug, Clone)]
pub enum BlobSource {
    File(PathBuf),
    Bytes(Bytes),
}

/// One blob of an image to push.
#[derive(Debug, Clone)]
pub struct PushBlob {
    pub descriptor: Descriptor,
    pub source: BlobSource,
    /// Repositories of the same registry known to hold this blob (e.g. where it was
    /// pulled from): tried as cross-repository mounts before uploading.
    pub mount_from: Vec<String>,
}

/// An image to push: its manifest's exact bytes and every blob it refers to.
#[derive(Debug, Clone)]
pub struct PushRequest {
    pub manifest: Bytes,
    pub manifest_media_type: String,
    pub blobs: Vec<PushBlob>,
}

/// What the registry stored: the manifest's digest and size (docker prints
/// `<tag>: digest: <digest> size: <size>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedImage {
    pub digest: Digest,
    pub size: u64,
}

impl PushRequest {
    /// A docker schema2 manifest for a config and compressed layers (gzip tar files),
    /// serialized as docker writes it (three-space indent).
    pub fn docker_schema2(config: Bytes, layers: Vec<(Descriptor, PathBuf)>) -> PushRequest {
        let config_desc = Descriptor {
            media_type: DOCKER_CONFIG.into(),
            size: config.len() as u64,
            digest: Digest::of(&config),
            urls: vec![],
            annotations: Default::default(),
            platform: None,
        };
        let manifest = crate::manifest::ImageManifest {
            schema_version: 2,
            media_type: Some(DOCKER_MANIFEST.into()),
            config: config_desc.clone(),
            layers: layers.iter().map(|(d, _)| d.clone()).collect(),
        };
        let mut bytes = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"   ");
        let mut ser = serde_json::Serializer::with_formatter(&mut bytes, fmt);
        serde::Serialize::serialize(&manifest, &mut ser).expect("manifest serializes");
        let mut blobs = vec![PushBlob {
            descriptor: config_desc,
            source: BlobSource::Bytes(config),
            mount_from: vec![],
        }];
        blobs.extend(layers.into_iter().map(|(d, p)| PushBlob {
            descriptor: d,
            source: BlobSource::File(p),
            mount_from: vec![],
        }));
        PushRequest {
            manifest: bytes.into(),
            manifest_media_type: DOCKER_MANIFEST.into(),
            blobs,
        }
    }
}

pub(crate) fn scopes(reference: &Reference, req: &PushRequest) -> Vec<String> {
    let mut v = vec![format!("repository:{}:pull,push", reference.repository())];
    for b in &req.blobs {
        for m in &b.mount_from {
            let s = format!("repository:{m}:pull");
            if m != reference.repository() && !v.contains(&s) {
                v.push(s);
            }
        }
    }
    v
}

pub(crate) async fn push(
    session: &Session,
    reference: &Reference,
    req: &PushRequest,
    max_concurrent: usize,
    chunk: Option<u64>,
    progress: &Arc<ProgressFn>,
) -> Result<PushedImage, Error> {
    let repo = reference.repository();
    for b in &req.blobs {
        progress(&Progress {
            digest: b.descriptor.digest.clone(),
            event: LayerEvent::Preparing,
        });
    }
    // Collected first: a lazy `map` closure in the stream type makes the future
    // unprovably `Send` for callers that spawn it.
    let uploads: Vec<_> = req
        .blobs
        .iter()
        .map(|b| push_blob(session, repo, b, chunk, progress))
        .collect();
    futures::stream::iter(uploads)
        .buffer_unordered(max_concurrent.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    let tag = reference.manifest_reference();
    let mut h = HeaderMap::new();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_str(&req.manifest_media_type)
            .map_err(|_| Error::Protocol("invalid manifest media type".into()))?,
    );
    let resp = session
        .request(
            Method::PUT,
            &format!("/v2/{repo}/manifests/{tag}"),
            h,
            full(req.manifest.clone()),
        )
        .await?;
    let status = resp.status();
    let said = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Digest::parse(v).ok());
    let body = read_small(resp).await?;
    if !status.is_success() {
        return Err(from_response(status, &body));
    }
    let digest = Digest::of(&req.manifest);
    if let Some(said) = said {
        if said != digest {
            return Err(Error::ManifestDigestMismatch {
                expected: digest,
                actual: said,
            });
        }
    }
    Ok(PushedImage {
        digest,
        size: req.manifest.len() as u64,
    })
}

async fn push_blob(
    session: &Session,
    repo: &str,
    blob: &PushBlob,
    chunk: Option<u64>,
    progress: &Arc<ProgressFn>,
) -> Result<(), Error> {
    let d = &blob.descriptor;
    let report = |event| {
        progress(&Progress {
            digest: d.digest.clone(),
            event,
        })
    };
    let head = session
        .request(
            Method::HEAD,
            &format!("/v2/{repo}/blobs/{}", d.digest),
            HeaderMap::new(),
            empty(),
        )
        .await?;
    let status = head.status();
    drop(head);
    match status {
        StatusCode::OK => {
            report(LayerEvent::AlreadyExists);
            return Ok(());
        }
        StatusCode::NOT_FOUND => {}
        s => return Err(from_response(s, b"")),
    }
    let mut location = None;
    // One mount attempt: a refused mount already opens an upload session (202).
    if let Some(from) = blob.mount_from.iter().find(|m| m.as_str() != repo) {
        let q = crate::session::encode_query(&[("mount", &d.digest.to_string()), ("from", from)]);
        let resp = session
            .request(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?{q}"),
                HeaderMap::new(),
                empty(),
            )
            .await?;
        let status = resp.status();
        let loc = location_of(&resp);
        let body = read_small(resp).await?;
        match status {
            StatusCode::CREATED => {
                report(LayerEvent::Mounted { from: from.clone() });
                return Ok(());
            }
            // The registry could not mount and opened an ordinary upload instead.
            StatusCode::ACCEPTED => location = loc,
            s => return Err(from_response(s, &body)),
        }
    }
    let mut location = match location {
        Some(l) => l,
        None => {
            let resp = session
                .request(
                    Method::POST,
                    &format!("/v2/{repo}/blobs/uploads/"),
                    HeaderMap::new(),
                    empty(),
                )
                .await?;
            let status = resp.status();
            let loc = location_of(&resp);
            let body = read_small(resp).await?;
            if status != StatusCode::ACCEPTED {
                return Err(from_response(status, &body));
            }
            loc.ok_or_else(|| Error::Protocol("upload started without a Location".into()))?
        }
    };
    let total = d.size;
    let final_body = match chunk {
        None => source_body(&blob.source, 0, total, total, d.digest.clone(), progress),
        Some(size) => {
            let size = size.max(1);
            let mut start = 0;
            while start < total {
                let len = size.min(total - start);
                let mut h = HeaderMap::new();
                h.insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                h.insert(
                    http::header::CONTENT_RANGE,
                    HeaderValue::from_str(&format!("{}-{}", start, start + len - 1))
                        .expect("ascii"),
                );
                h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
                let body = source_body(&blob.source, start, len, total, d.digest.clone(), progress);
                let resp = session.request(Method::PATCH, &location, h, body).await?;
                let status = resp.status();
                let loc = location_of(&resp);
                let rbody = read_small(resp).await?;
                if status != StatusCode::ACCEPTED {
                    return Err(from_response(status, &rbody));
                }
                location = loc.unwrap_or(location);
                start += len;
                report(LayerEvent::Pushing {
                    current: start,
                    total,
                });
            }
            empty()
        }
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let url = format!(
        "{location}{sep}{}",
        crate::session::encode_query(&[("digest", &d.digest.to_string())])
    );
    let mut h = HeaderMap::new();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let len = if chunk.is_none() { total } else { 0 };
    h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
    let resp = session.request(Method::PUT, &url, h, final_body).await?;
    let status = resp.status();
    let body = read_small(resp).await?;
    if status != StatusCode::CREATED {
        return Err(from_response(status, &body));
    }
    report(LayerEvent::Pushed);
    Ok(())
}

fn location_of(resp: &http::Response<hyper::body::Incoming>) -> Option<String> {
    resp.headers()
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `len` bytes of the source from `start`, as a streamed body reporting progress
/// against the blob's `total`.
fn source_body(
    source: &BlobSource,
    start: u64,
    len: u64,
    total: u64,
    digest: Digest,
    progress: &Arc<ProgressFn>,
) -> Body {
    let path = match source {
        BlobSource::Bytes(b) => return full(b.slice(start as usize..(start + len) as usize)),
        BlobSource::File(path) => path.clone(),
    };
    let progress = Arc::clone(progress);
    let stream = futures::stream::unfold((None::<tokio::fs::File>, 0u64), move |(file, sent)| {
        let path = path.clone();
        let progress = Arc::clone(&progress);
        let digest = digest.clone();
        async move {
            if sent >= len {
                return None;
            }
            let mut file = match file {
                Some(f) => f,
                None => match open_at(&path, start).await {
                    Ok(f) => f,
                    Err(e) => return Some((Err(e), (None, len))),
                },
            };
            let mut buf = vec![0u8; STREAM_CHUNK.min((len - sent) as usize)];
            match file.read(&mut buf).await {
                Ok(0) => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("{} is shorter than its descriptor says", path.display()),
                    )),
                    (None, len),
                )),
                Ok(n) => {
                    buf.truncate(n);
                    let sent = sent + n as u64;
                    progress(&Progress {
                        digest,
                        event: LayerEvent::Pushing {
                            current: start + sent,
                            total,
                        },
                    });
                    Some((
                        Ok(hyper::body::Frame::data(Bytes::from(buf))),
                        (Some(file), sent),
                    ))
                }
                Err(e) => Some((Err(e), (None, len))),
            }
        }
    });
    BodyExt::boxed(StreamBody::new(stream))
}

async fn open_at(path: &std::path::Path, start: u64) -> std::io::Result<tokio::fs::File> {
    use tokio::io::AsyncSeekExt;
    let mut f = tokio::fs::File::open(path).await?;
    f.seek(std::io::SeekFrom::Start(start)).await?;
    Ok(f)
}

pub(crate) fn missing_sources(req: &PushRequest) -> Option<Digest> {
    req.blobs.iter().find_map(|b| match &b.source {
        BlobSource::File(p) if !p.exists() => Some(b.descriptor.digest.clone()),
        _ => None,
    })
}
