//! Publishing the shim's events to containerd: over ttrpc to `TTRPC_ADDRESS` (the
//! events Forward service), falling back to running `<publish-binary> publish`.

use std::path::PathBuf;

use containerd_client::types::Envelope;
use containerd_shim_protos::protobuf::Message as _;
use tokio::sync::Mutex;

pub struct Publisher {
    pub ttrpc_address: String,
    pub namespace: String,
    pub publish_binary: Option<PathBuf>,
    pub containerd_address: String,
    client: Mutex<Option<containerd_shim_protos::shim_async::EventsClient>>,
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
        let env = Envelope {
            timestamp: Some(std::time::SystemTime::now().into()),
            namespace: self.namespace.clone(),
            topic: topic.to_owned(),
            event: Some(any.clone()),
        };
        let req = containerd_client::services::v1::ForwardRequest {
            envelope: Some(env),
        };
        let Ok(req) = containerd_shim_protos::api::ForwardRequest::parse_from_bytes(
            &prost::Message::encode_to_vec(&req),
        ) else {
            return;
        };
        // Two attempts over ttrpc: a cached connection may be stale after a restart.
        for _ in 0..2 {
            let mut guard = self.client.lock().await;
            if guard.is_none() && !self.ttrpc_address.is_empty() {
                let addr = if self.ttrpc_address.contains("://") {
                    self.ttrpc_address.clone()
                } else {
                    format!("unix://{}", self.ttrpc_address)
                };
                if let Ok(c) = ttrpc::r#async::Client::connect(&addr).await {
                    *guard = Some(containerd_shim_protos::shim_async::EventsClient::new(c));
                }
            }
            let Some(c) = guard.as_ref() else { break };
            let ctx = ttrpc::context::with_timeout(5_000_000_000);
            if c.forward(ctx, &req).await.is_ok() {
                return;
            }
            *guard = None;
        }
        if let Some(bin) = &self.publish_binary {
            use tokio::io::AsyncWriteExt;
            let child = tokio::process::Command::new(bin)
                .arg("--address")
                .arg(&self.containerd_address)
                .args(["publish", "--topic", topic, "--namespace", &self.namespace])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
            if let Ok(mut child) = child {
                if let Some(mut stdin) = child.stdin.take() {
                    let _ = stdin.write_all(&prost::Message::encode_to_vec(&any)).await;
                }
                // Reaped by the shim's reaper; not waited here.
                std::mem::forget(child);
            }
        }
    }
}
