//! The `containerd` daemon: the containerd 1.6/1.7 gRPC API on a unix socket, backed by
//! a crash-safe metadata store, a content store, overlayfs/native snapshotters, a safe
//! layer applier and shim-managed tasks; plus a ttrpc socket where shims forward events.

mod compare;
mod config;
mod content;
mod diff;
mod errors;
mod events;
mod filter;
mod gc;
mod grpc;
pub mod log;
mod services;
mod snapshots;
mod store;
mod tasks;
mod write;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use containerd_client::services::v1::Plugin;
use containerd_shim_protos::protobuf::Message as _;

pub use config::{Cli, Command, DEFAULT_CONFIG};

/// The containerd API level this daemon implements, with our own version attached.
pub fn version() -> String {
    format!("1.7.0+rust.{}", buildinfo::VERSION)
}

pub struct Daemon {
    store: store::Store,
    content: Arc<content::ContentStore>,
    snapshots: snapshots::Snapshotters,
    events: events::Exchange,
    shims: tasks::Shims,
    /// Serialises read-modify-write sequences on the metadata store.
    meta_lock: tokio::sync::Mutex<()>,
    state: PathBuf,
    address: PathBuf,
    uuid: String,
}

/// What the introspection service reports: the plugins this daemon has built in.
fn plugins() -> Vec<Plugin> {
    let p = |ty: &str, id: &str, requires: &[&str]| Plugin {
        r#type: ty.into(),
        id: id.into(),
        requires: requires.iter().map(|s| s.to_string()).collect(),
        platforms: Vec::new(),
        exports: Default::default(),
        capabilities: Vec::new(),
        init_err: None,
    };
    let mut v = vec![
        p("io.containerd.content.v1", "content", &[]),
        p("io.containerd.snapshotter.v1", "native", &[]),
        p("io.containerd.snapshotter.v1", "overlayfs", &[]),
        p(
            "io.containerd.metadata.v1",
            "bolt",
            &["io.containerd.content.v1", "io.containerd.snapshotter.v1"],
        ),
        p(
            "io.containerd.differ.v1",
            "walking",
            &["io.containerd.metadata.v1"],
        ),
        p(
            "io.containerd.gc.v1",
            "scheduler",
            &["io.containerd.metadata.v1"],
        ),
        p(
            "io.containerd.runtime.v2",
            "task",
            &["io.containerd.event.v1"],
        ),
        p("io.containerd.event.v1", "exchange", &[]),
    ];
    for svc in [
        "containers",
        "content",
        "diff",
        "events",
        "images",
        "introspection",
        "leases",
        "namespaces",
        "snapshots",
        "tasks",
        "version",
        "healthcheck",
    ] {
        v.push(p(
            "io.containerd.grpc.v1",
            svc,
            &["io.containerd.service.v1"],
        ));
    }
    let linux_amd64 = || containerd_client::types::Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: String::new(),
        os_version: String::new(),
    };
    for (sn, caps) in [("overlayfs", vec!["remap-ids"]), ("native", vec![])] {
        if let Some(x) = v.iter_mut().find(|x| x.id == sn) {
            x.capabilities = caps.into_iter().map(String::from).collect();
            x.platforms = vec![linux_amd64()];
            x.exports.insert("root".into(), String::new());
        }
    }
    // The differ and the task runtime work for the host's platform, as containerd
    // reports them.
    for (ty, id) in [
        ("io.containerd.differ.v1", "walking"),
        ("io.containerd.runtime.v2", "task"),
    ] {
        if let Some(x) = v.iter_mut().find(|x| x.r#type == ty && x.id == id) {
            x.platforms = vec![linux_amd64()];
        }
    }
    v
}

/// ttrpc side: shims forward their events here (`TTRPC_ADDRESS`).
struct Forwarder(events::Exchange);

#[async_trait::async_trait]
impl containerd_shim_protos::shim_async::Events for Forwarder {
    async fn forward(
        &self,
        _ctx: &ttrpc::r#async::TtrpcContext,
        req: containerd_shim_protos::api::ForwardRequest,
    ) -> ttrpc::Result<containerd_shim_protos::protobuf::well_known_types::empty::Empty> {
        if let Some(env) = req.envelope.as_ref() {
            let bytes = env.write_to_bytes().unwrap_or_default();
            if let Ok(env) =
                <containerd_client::types::Envelope as prost::Message>::decode(bytes.as_slice())
            {
                self.0.forward(env);
            }
        }
        Ok(Default::default())
    }
}

fn bind_socket(path: &Path) -> anyhow::Result<tokio::net::UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        anyhow::bail!(
            "{} is in use by another containerd; stop it or pass another --address",
            path.display()
        );
    }
    let _ = std::fs::remove_file(path);
    let l = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("failed to listen on {}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660));
    Ok(l)
}

/// Run the daemon until SIGTERM/SIGINT.
pub async fn serve(cfg: config::Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.root)
        .with_context(|| format!("creating root {}", cfg.root.display()))?;
    std::fs::create_dir_all(&cfg.state)
        .with_context(|| format!("creating state {}", cfg.state.display()))?;
    let store = store::Store::open(&cfg.root.join("io.containerd.metadata.v1.store"))?;
    let content = Arc::new(content::ContentStore::open(
        &cfg.root.join("io.containerd.content.v1.content"),
    )?);
    let snapshots = snapshots::Snapshotters::new(store.clone(), &cfg.root);
    let uuid_path = cfg.root.join("uuid");
    let uuid = match std::fs::read_to_string(&uuid_path) {
        Ok(u) => u.trim().to_owned(),
        Err(_) => {
            let mut b = [0u8; 16];
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
                .context("reading /dev/urandom")?;
            let h = content::hex(&b);
            let u = format!(
                "{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            );
            store::write_atomic(&uuid_path, u.as_bytes())?;
            u
        }
    };
    let daemon = Arc::new(Daemon {
        store,
        content,
        snapshots,
        events: events::Exchange::default(),
        shims: tasks::Shims::default(),
        meta_lock: tokio::sync::Mutex::new(()),
        state: cfg.state.clone(),
        address: cfg.address.clone(),
        uuid,
    });

    let listener = bind_socket(&cfg.address)?;
    let ttrpc_path = PathBuf::from(daemon.ttrpc_address());
    let ttrpc_listener = bind_socket(&ttrpc_path)?;
    drop(ttrpc_listener);
    let _ = std::fs::remove_file(&ttrpc_path);
    let mut ttrpc_server = ttrpc::r#async::Server::new()
        .bind(&format!("unix://{}", ttrpc_path.display()))
        .context("binding the ttrpc socket")?
        .register_service(containerd_shim_protos::shim_async::create_events(Arc::new(
            Forwarder(daemon.events.clone()),
        )));
    ttrpc_server
        .start()
        .await
        .context("starting the ttrpc server")?;

    daemon.reconnect_shims().await;
    {
        let d = daemon.clone();
        tokio::spawn(async move { d.collect_all_at_start().await });
    }
    let settled = Arc::new(tokio::sync::Notify::new());
    tokio::spawn(trim_when_idle(settled.clone()));

    let d = daemon.clone();
    let handler = grpc::handler(move |req: http::Request<tonic::body::Body>| {
        let d = d.clone();
        let settled = settled.clone();
        async move {
            let path = req.uri().path().to_owned();
            // Every call, as containerd's own trace level would show it (its debug
            // level does not log calls).
            if log::is_trace() {
                log::trace(&format!("grpc {path}"));
            }
            let resp = if path.starts_with("/containerd.services.tasks.v1.Tasks/") {
                d.dispatch_tasks(&path, req).await
            } else {
                d.dispatch_metadata(&path, req).await
            };
            settled.notify_one();
            resp
        }
    });
    let routes = grpc::router(handler);
    let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
    log::info(&format!(
        "serving containerd api on {} (ttrpc {})",
        cfg.address.display(),
        ttrpc_path.display()
    ));
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        log::info("stopping: shims and their containers keep running");
    };
    tonic::transport::Server::builder()
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .context("serving grpc")?;
    let _ = ttrpc_server.shutdown().await;
    let _ = std::fs::remove_file(&cfg.address);
    let _ = std::fs::remove_file(&ttrpc_path);
    Ok(())
}

/// Give freed heap back to the system once requests stop for a second: an image import
/// or a burst of tasks leaves megabytes free in malloc's heap that an idle daemon would
/// otherwise keep resident.
async fn trim_when_idle(settled: Arc<tokio::sync::Notify>) {
    loop {
        settled.notified().await;
        while tokio::time::timeout(std::time::Duration::from_secs(1), settled.notified())
            .await
            .is_ok()
        {}
        // SAFETY: malloc_trim only returns free pages of the heap to the kernel.
        unsafe { libc::malloc_trim(0) };
    }
}

/// `containerd publish`: the shims' fallback way to publish an event (payload on stdin).
pub async fn publish(address: &Path, namespace: &str, topic: &str) -> anyhow::Result<()> {
    use containerd_client::services::v1::events_client::EventsClient;
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut data)
        .context("reading event from stdin")?;
    let event =
        <prost_types::Any as prost::Message>::decode(data.as_slice()).context("decoding event")?;
    let channel = containerd_client::connect(address)
        .await
        .with_context(|| format!("connecting to {}", address.display()))?;
    let mut client = EventsClient::new(channel);
    client
        .forward(containerd_client::services::v1::ForwardRequest {
            envelope: Some(containerd_client::types::Envelope {
                timestamp: Some(std::time::SystemTime::now().into()),
                namespace: namespace.to_owned(),
                topic: topic.to_owned(),
                event: Some(event),
            }),
        })
        .await
        .context("forwarding event")?;
    Ok(())
}
