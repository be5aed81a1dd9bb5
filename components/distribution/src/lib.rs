//! A Docker Registry HTTP API v2 client: what dockerd needs to pull and push images.
//!
//! The engine builds one [`Client`] from its daemon configuration ([`RegistryConfig`]:
//! `registry-mirrors`, `insecure-registries`, `max-concurrent-downloads`/`-uploads`,
//! the certs.d directory) and calls:
//!
//! - [`Client::pull`]: reference → manifest (linux/amd64 picked from lists and OCI
//!   indexes) → config and layers verified into a content-addressed directory;
//! - [`Client::push`]: a [`PushRequest`] (manifest bytes plus blob sources) → blobs
//!   skipped, mounted or uploaded, then the manifest;
//! - [`Client::login`]: checks credentials the way `docker login` does.
//!
//! Credentials come from the caller ([`Credentials::from_x_registry_auth`] reads the
//! CLI's header). Progress is reported per blob through a callback ([`Progress`]), which
//! the engine turns into the CLI's JSON progress stream. Errors display as docker
//! words them ([`Error`]).

mod auth;
mod digest;
mod download;
mod error;
mod manifest;
mod pull;
mod push;
mod reference;
mod session;
mod transport;

use std::path::Path;
use std::sync::Arc;

pub use auth::{AuthHeaderError, Credentials};
pub use digest::{Digest, DigestError};
pub use download::Downloaded;
pub use error::{Error, RegistryError, RegistryErrors};
pub use manifest::{
    Descriptor, ImageIndex, ImageManifest, Manifest, ManifestError, Platform, DOCKER_CONFIG,
    DOCKER_LAYER_GZIP, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_CONFIG, OCI_INDEX,
    OCI_LAYER_GZIP, OCI_LAYER_TAR, OCI_LAYER_ZSTD, OCI_MANIFEST,
};
pub use pull::{blob_path, PulledImage};
pub use push::{BlobSource, PushBlob, PushRequest, PushedImage};
pub use reference::{Reference, ReferenceError, DOCKER_HUB};
pub use transport::{RegistryConfig, DEFAULT_CERTS_DIR, DOCKER_HUB_ENDPOINT};

/// What happened to one blob; the engine maps these to docker's progress lines
/// (`Waiting`, `Downloading`, `Verifying Checksum`, `Download complete`,
/// `Already exists`, `Preparing`, `Pushing`, `Pushed`, `Mounted from ...`,
/// `Layer already exists`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerEvent {
    Waiting,
    AlreadyExists,
    Downloading {
        current: u64,
        total: u64,
    },
    /// A partial download is continued from `offset` with a Range request.
    Resuming {
        offset: u64,
    },
    /// The partial download was thrown away and starts again from byte 0 (what was
    /// read of it so far is void).
    Restarted,
    Verifying,
    DownloadComplete,
    Preparing,
    Pushing {
        current: u64,
        total: u64,
    },
    Pushed,
    Mounted {
        from: String,
    },
}

/// One progress report: which blob, what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub digest: Digest,
    pub event: LayerEvent,
}

/// The progress callback; called from the pulling task, keep it cheap.
pub type ProgressFn = dyn Fn(&Progress) + Send + Sync;

/// Which of a manifest's layers (in order) the caller already holds, given the
/// image's config descriptor and the layers.
pub type HaveFn = dyn Fn(&Descriptor, &[Descriptor]) -> Vec<bool> + Send + Sync;

/// A registry client with the daemon's registry configuration. Cheap to share.
#[derive(Debug, Clone, Default)]
pub struct Client {
    config: RegistryConfig,
}

impl Client {
    pub fn new(config: RegistryConfig) -> Client {
        Client { config }
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// Pull `reference` into `store` (blobs at [`blob_path`]). For `docker.io` the
    /// mirrors are tried first; any failure there falls back to the next one and then
    /// to the origin, whose error is the one returned.
    pub async fn pull(
        &self,
        reference: &Reference,
        creds: &Credentials,
        store: &Path,
        progress: Arc<ProgressFn>,
    ) -> Result<PulledImage, Error> {
        self.pull_skipping(reference, creds, store, progress, &|_, _| Vec::new())
            .await
    }

    /// As [`Client::pull`], but layers the caller already holds are not downloaded:
    /// `have` gets the config and the platform manifest's layers in order and answers
    /// per layer (a
    /// short answer means "no" for the rest); those are reported as
    /// [`LayerEvent::AlreadyExists`] and their [`PulledImage::layers`] paths are absent.
    pub async fn pull_skipping(
        &self,
        reference: &Reference,
        creds: &Credentials,
        store: &Path,
        progress: Arc<ProgressFn>,
        have: &HaveFn,
    ) -> Result<PulledImage, Error> {
        let scope = format!("repository:{}:pull", reference.repository());
        let mut last = None;
        for candidate in self.config.candidates(reference.registry(), false).await? {
            let pulled = match open(&candidate, creds, std::slice::from_ref(&scope)).await {
                Ok(session) => {
                    pull::pull_from(
                        &session,
                        reference,
                        store,
                        self.config.max_concurrent_downloads,
                        &*progress,
                        have,
                    )
                    .await
                }
                Err(e) => Err(e),
            };
            match pulled {
                Ok(img) => return Ok(img),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one candidate"))
    }

    /// Push `req` as `reference` (its tag, or its digest). Never goes to a mirror.
    pub async fn push(
        &self,
        reference: &Reference,
        creds: &Credentials,
        req: &PushRequest,
        progress: Arc<ProgressFn>,
    ) -> Result<PushedImage, Error> {
        if let Some(d) = push::missing_sources(req) {
            return Err(Error::MissingSource(d));
        }
        let scopes = push::scopes(reference, req);
        let session = self
            .open(reference.registry(), creds, &scopes, true)
            .await?;
        push::push(
            &session,
            reference,
            req,
            self.config.max_concurrent_uploads,
            self.config.upload_chunk_size,
            &progress,
        )
        .await
    }

    /// Check `creds` against `registry` (`host[:port]`, or `docker.io`) as `docker
    /// login` does: Ok when the registry accepts them; otherwise docker's wording,
    /// `login attempt to <url> failed with status: 401 Unauthorized` (Basic) or
    /// `Get "<url>": unauthorized: ...` (token server).
    pub async fn login(&self, registry: &str, creds: &Credentials) -> Result<(), Error> {
        let candidates = self.config.candidates(registry, true).await?;
        let mut last = None;
        let mut session = None;
        for ep in candidates.last().expect("the registry itself") {
            match session::Session::open(ep, creds, &[]).await {
                Ok(s) => {
                    session = Some(s);
                    break;
                }
                Err(e @ Error::Connect { .. }) => last = Some(e),
                Err(e) => {
                    return Err(Error::LoginFailed {
                        url: format!("{}/v2/", ep.base),
                        source: Box::new(e),
                    })
                }
            }
        }
        let Some(session) = session else {
            return Err(last.expect("at least one endpoint"));
        };
        let resp = session
            .request(
                http::Method::GET,
                "/v2/",
                http::HeaderMap::new(),
                session::empty(),
            )
            .await?;
        let status = resp.status();
        drop(resp);
        if status.is_success() {
            return Ok(());
        }
        Err(Error::LoginRejected {
            url: format!("{}/v2/", session.base),
            status: format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
            .trim_end()
            .to_string(),
        })
    }

    /// GET `url` into `file` as the classic builder's `ADD <url>` does: redirects
    /// followed, TLS verified against the system store plus certs.d. A status other
    /// than 2xx is an error worded as dockerd words it.
    pub async fn download(&self, url: &str, file: &Path) -> Result<Downloaded, Error> {
        download::get(&self.config, url, file).await
    }

    /// The session for a push or login: the registry itself, never a mirror.
    async fn open(
        &self,
        registry: &str,
        creds: &Credentials,
        scopes: &[String],
        for_push: bool,
    ) -> Result<session::Session, Error> {
        let candidates = self.config.candidates(registry, for_push).await?;
        open(
            candidates.last().expect("the registry itself"),
            creds,
            scopes,
        )
        .await
    }
}

/// The first transport of a candidate that answers the ping, authenticated; the next
/// one is tried only when the connection itself fails.
async fn open(
    endpoints: &[transport::Endpoint],
    creds: &Credentials,
    scopes: &[String],
) -> Result<session::Session, Error> {
    let mut last = None;
    for ep in endpoints {
        match session::Session::open(ep, creds, scopes).await {
            Ok(s) => return Ok(s),
            Err(e @ Error::Connect { .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.expect("at least one endpoint"))
}
