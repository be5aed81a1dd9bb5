//! Registry endpoints: `POST /images/create?fromImage=` (pull), `POST
//! /images/{name}/push` and `POST /auth` (docker login), with the JSON progress stream
//! dockerd sends (the per-layer lines the CLI renders: `Pulling fs layer`, `Waiting`,
//! `Downloading`, `Verifying Checksum`, `Download complete`, `Extracting`, `Pull
//! complete`, `Already exists`; `Preparing`, `Pushing`, `Pushed`, `Layer already
//! exists`, `Mounted from ...`).
//!
//! An error before the first progress line is an ordinary API error (the CLI prints
//! `Error response from daemon: ...`); after it, an `errorDetail` line ends the stream,
//! as with dockerd.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use distribution::{
    Client, Credentials, Descriptor, Digest, LayerEvent, Progress, ProgressFn, Reference,
    RegistryConfig, DOCKER_HUB,
};
use hyper::StatusCode;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::body::{ok_json, read_json, streaming};
use super::{ApiError, Ctx, Resp};
use crate::daemon::Daemon;
use crate::images::pull::{self as store_pull, StagedLayer};

/// The registry client configured from the daemon's current configuration.
pub(super) fn client(d: &Daemon) -> Client {
    let f = d.config().flags;
    let mut insecure = RegistryConfig::default().insecure_registries;
    insecure.extend(f.insecure_registries.iter().cloned());
    Client::new(RegistryConfig {
        insecure_registries: insecure,
        mirrors: f.registry_mirrors.clone(),
        certs_dir: f.registry_certs_dir.clone(),
        max_concurrent_downloads: f.max_concurrent_downloads.max(1) as usize,
        max_concurrent_uploads: f.max_concurrent_uploads.max(1) as usize,
        ..RegistryConfig::default()
    })
}

fn credentials(ctx: &Ctx) -> Credentials {
    ctx.req
        .headers()
        .get("X-Registry-Auth")
        .and_then(|v| v.to_str().ok())
        .and_then(|h| Credentials::from_x_registry_auth(h).ok())
        .unwrap_or_default()
}

/// A pull or push failure as dockerd answers it: 404 for what is not there, 500 for
/// the rest, refused credentials included (a 401 would make the CLI prompt for a login).
fn api_error(e: &distribution::Error) -> ApiError {
    use distribution::Error as E;
    let status = match e {
        E::ManifestNotFound { .. } | E::NoMatchingPlatform { .. } => StatusCode::NOT_FOUND,
        E::Reference(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, e.to_string())
}

fn short(digest: &str) -> String {
    let hex = digest.trim_start_matches("sha256:");
    hex[..12.min(hex.len())].to_string()
}

fn layer_line(status: &str, id: &str) -> Value {
    json!({"status": status, "progressDetail": {}, "id": id})
}

fn progress_line(status: &str, id: &str, current: u64, total: u64) -> Value {
    json!({"status": status, "progressDetail": {"current": current, "total": total}, "id": id})
}

fn error_line(message: &str) -> Value {
    json!({"errorDetail": {"message": message}, "error": message})
}

/// What a registry task tells the response writer.
enum Msg {
    Line(Value),
    Done(Result<(), ApiError>),
}

/// Run `task` and answer: an API error if it fails before its first line, otherwise
/// a JSON stream of its lines ending with an `errorDetail` line on failure.
async fn stream_task<F>(task: impl FnOnce(mpsc::UnboundedSender<Msg>) -> F) -> Resp
where
    F: std::future::Future<Output = Result<(), ApiError>> + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel();
    let fut = task(tx.clone());
    tokio::spawn(async move {
        let r = fut.await;
        let _ = tx.send(Msg::Done(r));
    });
    let first = match rx.recv().await {
        Some(Msg::Done(Err(e))) => return Err(e),
        Some(m) => m,
        None => return Err(ApiError::internal("registry task ended unexpectedly")),
    };
    let (out, resp) = streaming("application/json");
    tokio::spawn(async move {
        let mut next = Some(first);
        while let Some(m) = next.take() {
            let line = match m {
                Msg::Line(v) => v,
                Msg::Done(Ok(())) => break,
                Msg::Done(Err(e)) => error_line(&e.message),
            };
            let mut bytes = serde_json::to_vec(&line).expect("json");
            bytes.push(b'\n');
            if out.send(Bytes::from(bytes)).await.is_err() {
                break;
            }
            next = rx.recv().await;
        }
    });
    Ok(resp)
}

/// `POST /images/create?fromImage=<name>&tag=<tag or digest>`.
pub async fn pull(ctx: Ctx) -> Resp {
    let image = ctx.query.get("fromImage").unwrap_or("").to_string();
    let tag = ctx.query.get("tag").unwrap_or("").to_string();
    if let Some(p) = ctx.query.get("platform").filter(|p| !p.is_empty()) {
        if p != "linux/amd64" && p != "linux" {
            return Err(ApiError::bad_request(format!(
                "image with reference {image} was found but does not match the specified platform: wanted {p}, actual: linux/amd64"
            )));
        }
    }
    let full = if tag.is_empty() {
        image.clone()
    } else if tag.contains(':') {
        format!("{image}@{tag}")
    } else {
        format!("{image}:{tag}")
    };
    let mut reference = Reference::parse(&full)
        .map_err(|e| ApiError::bad_request(format!("invalid reference format: {e}")))?;
    if reference.tag().is_none() && reference.digest().is_none() {
        reference = reference.with_tag("latest");
    }
    let creds = credentials(&ctx);
    let d = ctx.daemon.clone();
    stream_task(move |tx| run_pull(d, reference, creds, tx)).await
}

/// Turns download progress into dockerd's lines and starts unpacking each layer the
/// moment its blob is verified, so extraction overlaps the other downloads.
struct PullProgress {
    d: Arc<Daemon>,
    blobs: PathBuf,
    out: mpsc::UnboundedSender<Msg>,
    /// Set before any layer is reported when the whole image is already in the store.
    image_here: Arc<AtomicBool>,
    header: Option<Value>,
    max_concurrent: usize,
    pending: usize,
    last: HashMap<Digest, u64>,
    staging: HashMap<Digest, tokio::task::JoinHandle<Result<StagedLayer, ApiError>>>,
    /// Layers being unpacked while they download, and the feed that wakes each up.
    feeds: HashMap<Digest, Arc<store_pull::Feed>>,
    /// Layers whose download restarted: unpacked from the finished file instead.
    no_stream: std::collections::HashSet<Digest>,
}

impl PullProgress {
    fn send(&self, v: Value) {
        let _ = self.out.send(Msg::Line(v));
    }

    fn on(&mut self, p: Progress) {
        if let Some(h) = self.header.take() {
            self.send(h);
        }
        let id = short(&p.digest.to_string());
        match p.event {
            LayerEvent::AlreadyExists if self.image_here.load(Ordering::SeqCst) => {}
            LayerEvent::AlreadyExists => self.send(layer_line("Already exists", &id)),
            LayerEvent::Waiting => {
                self.send(layer_line("Pulling fs layer", &id));
                if self.pending >= self.max_concurrent {
                    self.send(layer_line("Waiting", &id));
                }
                self.pending += 1;
            }
            LayerEvent::Downloading { current, total } => {
                match self.feeds.get(&p.digest) {
                    Some(feed) => feed.poke(),
                    None => self.follow(&p.digest, total),
                }
                let last = self.last.entry(p.digest.clone()).or_insert(0);
                let step = (total / 50).max(256 * 1024);
                if current == total || current >= *last + step || *last == 0 {
                    *last = current.max(1);
                    self.send(progress_line("Downloading", &id, current, total));
                }
            }
            LayerEvent::Verifying => self.send(layer_line("Verifying Checksum", &id)),
            LayerEvent::DownloadComplete => {
                self.send(layer_line("Download complete", &id));
                match self.feeds.get(&p.digest) {
                    Some(feed) => feed.finish(true),
                    None => {
                        let d = self.d.clone();
                        let blob = distribution::blob_path(&self.blobs, &p.digest);
                        self.staging.insert(p.digest, stage(d, blob));
                    }
                }
            }
            LayerEvent::Resuming { .. } | LayerEvent::Restarted => {
                // What a follower read may not be what the blob will hold.
                if let Some(feed) = self.feeds.remove(&p.digest) {
                    feed.finish(false);
                    self.staging.remove(&p.digest);
                }
                self.no_stream.insert(p.digest);
            }
            _ => {}
        }
    }

    /// Start unpacking a layer from its partial file as it downloads.
    fn follow(&mut self, digest: &Digest, total: u64) {
        if self.no_stream.contains(digest) || self.staging.contains_key(digest) {
            return;
        }
        let done = distribution::blob_path(&self.blobs, digest);
        let file = std::fs::File::open(done.with_extension("partial"))
            .or_else(|_| std::fs::File::open(&done));
        let Ok(file) = file else {
            return;
        };
        let feed = Arc::new(store_pull::Feed::default());
        let reader = store_pull::Follower::new(file, total, feed.clone());
        let d = self.d.clone();
        let handle = tokio::task::spawn_blocking(move || {
            store_pull::stage_from(&d.images, Box::new(reader))
                .map_err(|e| ApiError::internal(e.to_string()))
        });
        self.feeds.insert(digest.clone(), feed);
        self.staging.insert(digest.clone(), handle);
    }

    /// The pull is over: nobody waits on a download that will not come.
    fn end_feeds(&mut self) {
        for feed in self.feeds.values() {
            feed.finish(false);
        }
    }
}

fn stage(d: Arc<Daemon>, blob: PathBuf) -> tokio::task::JoinHandle<Result<StagedLayer, ApiError>> {
    tokio::task::spawn_blocking(move || {
        store_pull::stage_layer(&d.images, &blob).map_err(|e| ApiError::internal(e.to_string()))
    })
}

async fn run_pull(
    d: Arc<Daemon>,
    reference: Reference,
    creds: Credentials,
    out: mpsc::UnboundedSender<Msg>,
) -> Result<(), ApiError> {
    let client = client(&d);
    let dist = store_pull::distribution_dir(&d.data_root);
    let blobs = dist.join("blobs");
    let shown = reference
        .digest()
        .map(|x| x.to_string())
        .or_else(|| reference.tag().map(String::from))
        .unwrap_or_default();
    // An image already here is not pulled again, and dockerd then prints no layer lines.
    let image_here = Arc::new(AtomicBool::new(false));
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<Progress>();
    let progress: Arc<ProgressFn> = Arc::new(move |p: &Progress| {
        let _ = ev_tx.send(p.clone());
    });
    let mut watcher = PullProgress {
        d: d.clone(),
        blobs: blobs.clone(),
        out: out.clone(),
        image_here: image_here.clone(),
        header: Some(json!({
            "status": format!("Pulling from {}", reference.repository()),
            "id": shown,
        })),
        max_concurrent: client.config().max_concurrent_downloads,
        pending: 0,
        last: HashMap::new(),
        staging: HashMap::new(),
        feeds: HashMap::new(),
        no_stream: Default::default(),
    };
    let consumer = tokio::spawn(async move {
        while let Some(p) = ev_rx.recv().await {
            watcher.on(p);
        }
        watcher
    });
    let have = {
        let d = d.clone();
        let dist = dist.clone();
        let image_here = image_here.clone();
        move |config: &Descriptor, layers: &[Descriptor]| {
            let digests: Vec<String> = layers.iter().map(|l| l.digest.to_string()).collect();
            let s = d.images.lock().unwrap();
            let held = store_pull::held_layers(&s, &dist, &digests);
            if held.len() == layers.len() && s.get(&config.digest.to_string()).is_some() {
                image_here.store(true, Ordering::SeqCst);
            }
            held
        }
    };
    let pulled = client
        .pull_skipping(&reference, &creds, &blobs, progress, &have)
        .await;
    let mut watcher = consumer
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    // Completed downloads were marked done already; this only wakes the others.
    watcher.end_feeds();
    let mut staging = std::mem::take(&mut watcher.staging);
    let pulled = match pulled {
        Ok(p) => p,
        Err(e) => {
            discard(staging).await;
            return Err(api_error(&e));
        }
    };
    if let Some(h) = watcher.header.take() {
        watcher.send(h);
    }
    let digests: Vec<String> = pulled
        .layers
        .iter()
        .map(|(l, _)| l.digest.to_string())
        .collect();
    let held = store_pull::held_layers(&d.images.lock().unwrap(), &dist, &digests);
    let mut staged: Vec<Option<StagedLayer>> = Vec::new();
    let mut failed = None;
    for (i, (desc, path)) in pulled.layers.iter().enumerate() {
        if held.get(i).copied().unwrap_or(false) {
            staged.push(None);
            continue;
        }
        let handle = staging
            .remove(&desc.digest)
            .unwrap_or_else(|| stage(d.clone(), path.clone()));
        match handle.await {
            Ok(Ok(s)) => staged.push(Some(s)),
            Ok(Err(e)) => {
                failed = Some(e);
                break;
            }
            Err(e) => {
                failed = Some(ApiError::internal(e.to_string()));
                break;
            }
        }
    }
    if let Some(e) = failed {
        staged.iter().flatten().for_each(StagedLayer::discard);
        discard(staging).await;
        return Err(e);
    }
    discard(staging).await;
    let tag = reference.tag().map(|_| reference.familiar());
    let config = pulled.config.clone();
    let d2 = d.clone();
    let committed = tokio::task::spawn_blocking(move || {
        let r = store_pull::commit(&d2.images, &config, &staged, tag.as_deref());
        if r.is_err() {
            staged.iter().flatten().for_each(StagedLayer::discard);
        }
        r.map(|c| (c, staged))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let (committed, staged) = committed.map_err(|e| ApiError::internal(e.to_string()))?;
    {
        let mut s = d.images.lock().unwrap();
        let canonical = reference.with_digest(pulled.digest.clone()).familiar();
        s.add_digest(&canonical, &committed.image_id)
            .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    let repo_name = format!("{}/{}", reference.registry(), reference.repository());
    for ((desc, _), s) in pulled.layers.iter().zip(&staged) {
        if let Some(s) = s {
            let _ = store_pull::remember(&dist, &desc.digest.to_string(), &s.diff_id, &repo_name);
            let id = short(&desc.digest.to_string());
            watcher.send(progress_line("Extracting", &id, desc.size, desc.size));
            watcher.send(layer_line("Pull complete", &id));
        }
    }
    watcher.send(json!({"status": format!("Digest: {}", pulled.digest)}));
    let name = reference.familiar();
    let status = if committed.up_to_date {
        format!("Status: Image is up to date for {name}")
    } else {
        format!("Status: Downloaded newer image for {name}")
    };
    watcher.send(json!({ "status": status }));
    d.events
        .publish("image", "pull", &name, json!({"name": name}));
    Ok(())
}

/// Drop staged layers nobody will commit.
async fn discard(staging: HashMap<Digest, tokio::task::JoinHandle<Result<StagedLayer, ApiError>>>) {
    for (_, h) in staging {
        if let Ok(Ok(s)) = h.await {
            s.discard();
        }
    }
}

/// `POST /images/{name}/push?tag=<tag>` (no tag: every tag of the repository).
pub async fn push(ctx: Ctx, name: &str) -> Resp {
    let tag = ctx.query.get("tag").unwrap_or("").to_string();
    let base = Reference::parse(name)
        .map_err(|e| ApiError::bad_request(format!("invalid reference format: {e}")))?;
    let d = ctx.daemon.clone();
    let familiar_repo = {
        let f = base.familiar();
        match base.tag() {
            Some(t) => f.strip_suffix(&format!(":{t}")).unwrap_or(&f).to_string(),
            None => f,
        }
    };
    let targets: Vec<(String, String)> = {
        let s = d.images.lock().unwrap();
        let tags: Vec<String> = if !tag.is_empty() {
            vec![tag.clone()]
        } else if let Some(t) = base.tag() {
            vec![t.to_string()]
        } else {
            s.all()
                .flat_map(|img| s.tags_of(&img.id))
                .filter_map(|r| {
                    r.strip_prefix(&format!("{familiar_repo}:"))
                        .map(String::from)
                })
                .collect()
        };
        tags.into_iter()
            .filter_map(|t| {
                s.resolve(&format!("{familiar_repo}:{t}"))
                    .ok()
                    .map(|id| (t, id))
            })
            .collect()
    };
    if targets.is_empty() {
        return Err(ApiError::not_found(format!(
            "An image does not exist locally with the tag: {familiar_repo}"
        )));
    }
    let creds = credentials(&ctx);
    stream_task(move |tx| run_push(d, base, targets, creds, tx)).await
}

async fn run_push(
    d: Arc<Daemon>,
    base: Reference,
    targets: Vec<(String, String)>,
    creds: Credentials,
    out: mpsc::UnboundedSender<Msg>,
) -> Result<(), ApiError> {
    let send = |v: Value| {
        let _ = out.send(Msg::Line(v));
    };
    let registry = base.registry().to_string();
    let repository = base.repository().to_string();
    send(json!({
        "status": format!("The push refers to repository [{registry}/{repository}]")
    }));
    let client = client(&d);
    let dist = store_pull::distribution_dir(&d.data_root);
    for (tag, id) in targets {
        let diff_ids: Vec<String> = {
            let s = d.images.lock().unwrap();
            let img = s
                .get(&id)
                .ok_or_else(|| ApiError::not_found(format!("No such image: {id}")))?;
            img.chain
                .iter()
                .filter_map(|c| s.layer(c).map(|l| l.diff_id.clone()))
                .collect()
        };
        for diff in diff_ids.iter().rev() {
            send(layer_line("Preparing", &short(diff)));
        }
        let d2 = d.clone();
        let (dist2, reg2, repo2, id2) = (
            dist.clone(),
            registry.clone(),
            repository.clone(),
            id.clone(),
        );
        let parallel = client.config().max_concurrent_uploads;
        let plan = tokio::task::spawn_blocking(move || {
            crate::images::push::plan(&d2.images, &dist2, &id2, &reg2, &repo2, parallel)
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
        let ids: HashMap<Digest, String> = plan
            .layers
            .iter()
            .map(|l| (l.descriptor.digest.clone(), short(&l.diff_id)))
            .collect();
        let tx = out.clone();
        let last = std::sync::Mutex::new(HashMap::<Digest, u64>::new());
        let progress: Arc<ProgressFn> = Arc::new(move |p: &Progress| {
            let Some(id) = ids.get(&p.digest) else {
                return;
            };
            let line = match &p.event {
                LayerEvent::AlreadyExists => layer_line("Layer already exists", id),
                LayerEvent::Pushed => layer_line("Pushed", id),
                LayerEvent::Mounted { from } => layer_line(&format!("Mounted from {from}"), id),
                LayerEvent::Pushing { current, total } => {
                    let mut last = last.lock().unwrap();
                    let seen = last.entry(p.digest.clone()).or_insert(0);
                    let step = (total / 50).max(256 * 1024);
                    if *current != *total && *seen != 0 && *current < *seen + step {
                        return;
                    }
                    *seen = (*current).max(1);
                    progress_line("Pushing", id, *current, *total)
                }
                _ => return,
            };
            let _ = tx.send(Msg::Line(line));
        });
        let reference = base.with_tag(&tag);
        let pushed = client
            .push(&reference, &creds, &plan.request, progress)
            .await
            .map_err(|e| api_error(&e))?;
        send(json!({
            "status": format!("{tag}: digest: {} size: {}", pushed.digest, pushed.size)
        }));
        send(json!({
            "progressDetail": {},
            "aux": {"Tag": tag, "Digest": pushed.digest.to_string(), "Size": pushed.size}
        }));
        let canonical = reference.with_digest(pushed.digest.clone()).familiar();
        d.images
            .lock()
            .unwrap()
            .add_digest(&canonical, &id)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let name = reference.familiar();
        d.events
            .publish("image", "push", &name, json!({"name": name}));
    }
    Ok(())
}

/// The registry a `docker login` server address names (`https://index.docker.io/v1/`
/// and the empty address mean Docker Hub).
fn login_registry(address: &str) -> String {
    let bare = address
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = bare.split('/').next().unwrap_or("");
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => DOCKER_HUB.to_string(),
        h => h.to_string(),
    }
}

/// `POST /auth`: check credentials against the registry as `docker login` does.
pub async fn auth(ctx: Ctx) -> Resp {
    let d = ctx.daemon.clone();
    let body = read_json(ctx.req).await?;
    let field = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let creds = Credentials {
        username: field("username"),
        password: field("password"),
        auth: field("auth"),
        identity_token: field("identitytoken"),
        registry_token: field("registrytoken"),
    };
    let registry = login_registry(&field("serveraddress"));
    client(&d).login(&registry, &creds).await.map_err(|e| {
        let status = if e.is_unauthorized() {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        ApiError::new(status, e.to_string())
    })?;
    ok_json(&json!({"IdentityToken": "", "Status": "Login Succeeded"}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_addresses() {
        assert_eq!(login_registry(""), "docker.io");
        assert_eq!(login_registry("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(login_registry("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(login_registry("https://localhost:5443/"), "localhost:5443");
    }

    #[test]
    fn short_ids() {
        assert_eq!(short("sha256:0123456789abcdef"), "0123456789ab");
    }
}
