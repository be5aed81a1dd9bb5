//! The connection to containerd: one tonic channel over the unix socket, and requests
//! stamped with the namespace (and the import lease) as containerd's Go client does.

use anyhow::Context;
use containerd_client::services::v1 as api;
use containerd_client::services::v1::snapshots::snapshots_client::SnapshotsClient;
use tonic::transport::Channel;

pub struct Client {
    pub channel: Channel,
    pub namespace: String,
    pub lease: Option<String>,
}

impl Client {
    pub async fn connect(address: &str, namespace: &str) -> anyhow::Result<Client> {
        let path = address.trim_start_matches("unix://");
        if std::os::unix::net::UnixStream::connect(path).is_err() {
            anyhow::bail!(
                "failed to dial {path:?}: context deadline exceeded (is containerd running at this --address?)"
            );
        }
        let channel = containerd_client::connect(path)
            .await
            .with_context(|| format!("failed to dial {path:?}"))?;
        Ok(Client {
            channel,
            namespace: namespace.to_owned(),
            lease: None,
        })
    }

    /// Holds everything created from here on (content, snapshots) against garbage
    /// collection until [`Client::end_lease`], as the Go client's `WithLease` does: a
    /// snapshot prepared for `run` must survive a collection that starts before the
    /// container referencing it exists.
    pub async fn begin_lease(&mut self, purpose: &str) -> anyhow::Result<()> {
        let expire = std::time::SystemTime::now() + std::time::Duration::from_secs(24 * 3600);
        let lease = self
            .leases()
            .create(self.req(api::CreateRequest {
                id: format!("ctr-{purpose}-{}", std::process::id()),
                labels: std::collections::HashMap::from([(
                    "containerd.io/gc.expire".to_owned(),
                    humantime::format_rfc3339_seconds(expire).to_string(),
                )]),
            }))
            .await
            .map_err(|s| anyhow::anyhow!("{}", s.message()))?
            .into_inner()
            .lease;
        self.lease = lease.map(|l| l.id);
        Ok(())
    }

    /// Releases the lease of [`Client::begin_lease`]; what it held is now collectable
    /// unless something else references it.
    pub async fn end_lease(&mut self) {
        if let Some(id) = self.lease.take() {
            let _ = self
                .leases()
                .delete(self.req(api::DeleteRequest { id, sync: false }))
                .await;
        }
    }

    /// A request in the client's namespace.
    pub fn req<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        if let Ok(v) = self.namespace.parse() {
            r.metadata_mut().insert("containerd-namespace", v);
        }
        if let Some(l) = self.lease.as_ref().and_then(|l| l.parse().ok()) {
            r.metadata_mut().insert("containerd-lease", l);
        }
        r
    }

    pub fn content(&self) -> api::content_client::ContentClient<Channel> {
        api::content_client::ContentClient::new(self.channel.clone())
            .max_decoding_message_size(64 << 20)
    }
    pub fn images(&self) -> api::images_client::ImagesClient<Channel> {
        api::images_client::ImagesClient::new(self.channel.clone())
    }
    pub fn containers(&self) -> api::containers_client::ContainersClient<Channel> {
        api::containers_client::ContainersClient::new(self.channel.clone())
    }
    pub fn tasks(&self) -> api::tasks_client::TasksClient<Channel> {
        api::tasks_client::TasksClient::new(self.channel.clone())
    }
    pub fn snapshots(&self) -> SnapshotsClient<Channel> {
        SnapshotsClient::new(self.channel.clone())
    }
    pub fn diff(&self) -> api::diff_client::DiffClient<Channel> {
        api::diff_client::DiffClient::new(self.channel.clone())
    }
    pub fn leases(&self) -> api::leases_client::LeasesClient<Channel> {
        api::leases_client::LeasesClient::new(self.channel.clone())
    }
    pub fn namespaces(&self) -> api::namespaces_client::NamespacesClient<Channel> {
        api::namespaces_client::NamespacesClient::new(self.channel.clone())
    }
    pub fn events(&self) -> api::events_client::EventsClient<Channel> {
        api::events_client::EventsClient::new(self.channel.clone())
    }
    pub fn version(&self) -> api::version_client::VersionClient<Channel> {
        api::version_client::VersionClient::new(self.channel.clone())
    }
    pub fn introspection(&self) -> api::introspection_client::IntrospectionClient<Channel> {
        api::introspection_client::IntrospectionClient::new(self.channel.clone())
    }

    /// Read a whole blob.
    pub async fn read_blob(&self, digest: &str) -> anyhow::Result<Vec<u8>> {
        let mut s = self
            .content()
            .read(self.req(api::ReadContentRequest {
                digest: digest.to_owned(),
                offset: 0,
                size: 0,
            }))
            .await
            .map_err(status)?
            .into_inner();
        let mut out = Vec::new();
        while let Some(m) = s.message().await.map_err(status)? {
            out.extend_from_slice(&m.data);
        }
        Ok(out)
    }

    /// Write a blob with labels; an existing blob is fine.
    pub async fn write_blob(
        &self,
        reference: &str,
        data: &[u8],
        digest: &str,
        labels: std::collections::HashMap<String, String>,
    ) -> anyhow::Result<()> {
        use api::WriteContentRequest as W;
        let mut msgs = Vec::new();
        let chunk = 1 << 20;
        let mut off = 0;
        while off < data.len() {
            let end = (off + chunk).min(data.len());
            msgs.push(W {
                action: api::WriteAction::Write as i32,
                r#ref: reference.to_owned(),
                total: data.len() as i64,
                expected: digest.to_owned(),
                offset: off as i64,
                data: data[off..end].to_vec(),
                labels: Default::default(),
            });
            off = end;
        }
        msgs.push(W {
            action: api::WriteAction::Commit as i32,
            r#ref: reference.to_owned(),
            total: data.len() as i64,
            expected: digest.to_owned(),
            offset: data.len() as i64,
            data: Vec::new(),
            labels,
        });
        let res = self
            .content()
            .write(self.req(futures::stream::iter(msgs)))
            .await;
        let mut stream = match res {
            Ok(s) => s.into_inner(),
            Err(s) if s.code() == tonic::Code::AlreadyExists => return Ok(()),
            Err(s) => return Err(status(s)),
        };
        loop {
            match stream.message().await {
                Ok(Some(_)) => {}
                Ok(None) => return Ok(()),
                Err(s) if s.code() == tonic::Code::AlreadyExists => return Ok(()),
                Err(s) => return Err(status(s)),
            }
        }
    }
}

/// A gRPC status as ctr prints it: the message alone.
pub fn status(s: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{}", s.message())
}
