//! Publishing the shim's events to containerd: over ttrpc to `TTRPC_ADDRESS` (the
//! events Forward service), falling back to running `<publish-binary> publish`.
//!
//! Events go through one queue, in order, delivered by one task: a request that
//! publishes (create, start, delete, an exit) answers without waiting for containerd
//! to take the event, as containerd's own shim does.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::SystemTime;

use containerd_client::services::v1::ForwardRequest;
use containerd_client::types::Envelope;
use tokio::sync::{mpsc, oneshot};

/// containerd's events service for shims, as ttrpc names it.
const EVENTS_SERVICE: &str = "containerd.services.events.ttrpc.v1.Events";

enum Queued {
    Event {
        topic: String,
        event: prost_types::Any,
        at: SystemTime,
    },
    /// Answered once everything queued before it was handled.
    Flush(oneshot::Sender<()>),
}

/// Where events go.
pub struct Destination {
    pub ttrpc_address: String,
    pub namespace: String,
    pub publish_binary: Option<PathBuf>,
    pub containerd_address: String,
}

pub struct Publisher {
    queue: mpsc::UnboundedSender<Queued>,
}

impl Publisher {
    /// Start the delivering task on the current runtime.
    pub fn start(to: Destination) -> Publisher {
        let (queue, mut queued) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut client = None;
            while let Some(item) = queued.recv().await {
                match item {
                    Queued::Event { topic, event, at } => {
                        to.deliver(&mut client, &topic, event, at).await
                    }
                    Queued::Flush(done) => {
                        let _ = done.send(());
                    }
                }
            }
        });
        Publisher { queue }
    }

    pub fn publish<M: prost::Message + prost::Name>(&self, topic: &str, event: &M) {
        let _ = self.queue.send(Queued::Event {
            topic: topic.to_owned(),
            event: containerd_client::to_any(event),
            at: SystemTime::now(),
        });
    }

    /// Wait until every event published so far was delivered or given up on.
    pub async fn flush(&self) {
        let (done, delivered) = oneshot::channel();
        if self.queue.send(Queued::Flush(done)).is_ok() {
            let _ = delivered.await;
        }
    }
}

impl Destination {
    async fn deliver(
        &self,
        client: &mut Option<ttrpc::r#async::Client>,
        topic: &str,
        event: prost_types::Any,
        at: SystemTime,
    ) {
        let forward = ForwardRequest {
            envelope: Some(Envelope {
                timestamp: Some(at.into()),
                namespace: self.namespace.clone(),
                topic: topic.to_owned(),
                event: Some(event.clone()),
            }),
        };
        let payload = prost::Message::encode_to_vec(&forward);
        // Two attempts over ttrpc: a cached connection may be stale after a restart.
        for _ in 0..2 {
            if client.is_none() && !self.ttrpc_address.is_empty() {
                let addr = if self.ttrpc_address.contains("://") {
                    self.ttrpc_address.clone()
                } else {
                    format!("unix://{}", self.ttrpc_address)
                };
                *client = ttrpc::r#async::Client::connect(&addr).await.ok();
            }
            let Some(c) = client.as_ref() else { break };
            let mut req = ttrpc::Request::new();
            req.service = EVENTS_SERVICE.to_owned();
            req.method = "Forward".to_owned();
            req.timeout_nano = 5_000_000_000;
            req.payload = payload.clone();
            if c.request(req).await.is_ok() {
                return;
            }
            *client = None;
        }
        let Some(bin) = &self.publish_binary else {
            return;
        };
        let child = Command::new(bin)
            .arg("--address")
            .arg(&self.containerd_address)
            .args(["publish", "--topic", topic, "--namespace", &self.namespace])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Ok(mut child) = child {
            // One small event fits the pipe's buffer: the write does not block.
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.write_all(&prost::Message::encode_to_vec(&event));
            }
            // Reaped by the shim's reaper; not waited here.
            std::mem::forget(child);
        }
    }
}
