//! Publishing the shim's events to containerd: over ttrpc to `TTRPC_ADDRESS` (the
//! events Forward service), falling back to running `<publish-binary> publish`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use containerd_client::services::v1::ForwardRequest;
use containerd_client::types::Envelope;
use tokio::sync::Mutex;

/// containerd's events service for shims, as ttrpc names it.
const EVENTS_SERVICE: &str = "containerd.services.events.ttrpc.v1.Events";

pub struct Publisher {
    pub ttrpc_address: String,
    pub namespace: String,
    pub publish_binary: Option<PathBuf>,
    pub containerd_address: String,
    client: Mutex<Option<ttrpc::r#async::Client>>,
}

impl Publisher {
    pub fn new(
        ttrpc_address: String,
        namespace: String,
        publish_binary: Option<PathBuf>,
        containerd_address: String,
    ) -> Publisher {
        Publisher {
            ttrpc_address,
            namespace,
            publish_binary,
            containerd_address,
            client: Mutex::new(None),
        }
    }

    pub async fn publish<M: prost::Message + prost::Name>(&self, topic: &str, event: &M) {
        let any = containerd_client::to_any(event);
        let forward = ForwardRequest {
            envelope: Some(Envelope {
                timestamp: Some(std::time::SystemTime::now().into()),
                namespace: self.namespace.clone(),
                topic: topic.to_owned(),
                event: Some(any.clone()),
            }),
        };
        let payload = prost::Message::encode_to_vec(&forward);
        // Two attempts over ttrpc: a cached connection may be stale after a restart.
        for _ in 0..2 {
            let mut guard = self.client.lock().await;
            if guard.is_none() && !self.ttrpc_address.is_empty() {
                let addr = if self.ttrpc_address.contains("://") {
                    self.ttrpc_address.clone()
                } else {
                    format!("unix://{}", self.ttrpc_address)
                };
                *guard = ttrpc::r#async::Client::connect(&addr).await.ok();
            }
            let Some(client) = guard.as_ref() else { break };
            let mut req = ttrpc::Request::new();
            req.service = EVENTS_SERVICE.to_owned();
            req.method = "Forward".to_owned();
            req.timeout_nano = 5_000_000_000;
            req.payload = payload.clone();
            if client.request(req).await.is_ok() {
                return;
            }
            *guard = None;
        }
        if let Some(bin) = &self.publish_binary {
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
                    let _ = stdin.write_all(&prost::Message::encode_to_vec(&any));
                }
                // Reaped by the shim's reaper; not waited here.
                std::mem::forget(child);
            }
        }
    }
}
