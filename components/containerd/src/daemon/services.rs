//! The gRPC services backed by the metadata store, the content store and the
//! snapshotters: version, namespaces, introspection, content, images, leases,
//! containers, snapshots, diff, events and the gRPC health check.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use containerd_client::events as ev;
use containerd_client::services::v1 as api;
use containerd_client::services::v1::snapshots as snap;
use containerd_client::types::Descriptor;
use prost_types::Timestamp;
use tonic::body::Body;
use tonic::{Request, Status};

use super::errors::{from_apply, from_content, from_filter, from_snapshot, from_store};
use super::filter::Filters;
use super::grpc::{self, BoxStream, HttpResponse};
use super::Daemon;

const NS_BUCKET: &str = "namespace";
/// Content reads up to this size are answered in one message without a reader thread.
const SMALL_READ: u64 = 64 << 10;

/// The namespace a request is made in, validated as containerd does.
pub fn namespace<T>(req: &Request<T>) -> Result<String, Status> {
    let ns = req
        .metadata()
        .get("containerd-namespace")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if ns.is_empty() {
        return Err(Status::failed_precondition(
            "namespace is required: failed precondition",
        ));
    }
    validate_namespace(&ns)?;
    Ok(ns)
}

/// The lease a request works under (`containerd-lease`), if any.
pub fn lease_of<T>(req: &Request<T>) -> Option<String> {
    req.metadata()
        .get("containerd-lease")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn validate_namespace(ns: &str) -> Result<(), Status> {
    let ok = ns.len() <= 76
        && ns
            .split(['.', '_', '-'])
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if ok {
        Ok(())
    } else {
        Err(Status::invalid_argument(format!(
            "namespace {ns:?}: invalid argument"
        )))
    }
}

fn now() -> Timestamp {
    std::time::SystemTime::now().into()
}

fn labels_get(labels: &HashMap<String, String>, field: &str) -> Option<Option<String>> {
    field
        .strip_prefix("labels.")
        .map(|k| labels.get(k).cloned())
}

/// Apply a field mask of `labels.<k>` / `labels` paths (or replace everything without one).
fn update_labels(
    cur: &mut HashMap<String, String>,
    new: &HashMap<String, String>,
    paths: &[String],
) {
    if paths.is_empty() {
        *cur = new.clone();
        return;
    }
    for p in paths {
        if p == "labels" {
            *cur = new.clone();
        } else if let Some(k) = p.strip_prefix("labels.") {
            match new.get(k) {
                Some(v) => cur.insert(k.to_owned(), v.clone()),
                None => cur.remove(k),
            };
        }
    }
}

fn stream<T: Send + 'static>(items: Vec<T>) -> BoxStream<T> {
    Box::pin(futures::stream::iter(items.into_iter().map(Ok)))
}

impl Daemon {
    /// Hold `id` of `kind` (`content`, `snapshots/<name>`) in a lease, so garbage
    /// collection keeps what a client is still assembling.
    pub async fn attach_to_lease(
        &self,
        ns: &str,
        lease: Option<String>,
        kind: &str,
        id: &str,
    ) -> Result<(), Status> {
        self.attach_to_lease_with(ns, lease, kind, id, true).await
    }

    /// [`Daemon::attach_to_lease`], durable with its own sync or (`sync` false) with
    /// the request's next synced write.
    async fn attach_to_lease_with(
        &self,
        ns: &str,
        lease: Option<String>,
        kind: &str,
        id: &str,
        sync: bool,
    ) -> Result<(), Status> {
        let Some(lease) = lease else { return Ok(()) };
        let res = api::Resource {
            id: id.to_owned(),
            r#type: kind.to_owned(),
        };
        self.edit_lease(
            ns,
            &lease,
            |held| {
                if !held.contains(&res) {
                    held.push(res);
                }
            },
            sync,
        )
        .await
    }

    /// [`Daemon::attach_to_lease`] of a snapshot of `snapshotter` (overlayfs if unnamed).
    /// The snapshot's own record, which the request writes next, makes it durable.
    async fn attach_snapshot(
        &self,
        ns: &str,
        lease: Option<String>,
        snapshotter: &str,
        key: &str,
    ) -> Result<(), Status> {
        let sn = if snapshotter.is_empty() {
            "overlayfs"
        } else {
            snapshotter
        };
        self.attach_to_lease_with(ns, lease, &format!("snapshots/{sn}"), key, false)
            .await
    }

    /// Record the namespace on first use, as containerd does on any write.
    pub fn ensure_namespace(&self, ns: &str) -> Result<(), Status> {
        if self
            .store
            .get::<api::Namespace>(ns, NS_BUCKET, ns)
            .map_err(from_store)?
            .is_none()
        {
            let n = api::Namespace {
                name: ns.to_owned(),
                labels: HashMap::new(),
            };
            self.store.put(ns, NS_BUCKET, ns, &n).map_err(from_store)?;
            self.events.publish(
                ns,
                "/namespaces/create",
                &ev::NamespaceCreate {
                    name: ns.into(),
                    labels: HashMap::new(),
                },
            );
        }
        Ok(())
    }

    /// A record that must exist; otherwise containerd's `<noun> "<key>": not found`.
    fn existing<T: prost::Message + Default>(
        &self,
        ns: &str,
        bucket: &str,
        key: &str,
        noun: &str,
    ) -> Result<T, Status> {
        self.store
            .get(ns, bucket, key)
            .map_err(from_store)?
            .ok_or_else(|| Status::not_found(format!("{noun} {key:?}: not found")))
    }

    /// Fail with containerd's `<noun> "<key>": already exists` if the record exists.
    fn vacant<T: prost::Message + Default>(
        &self,
        ns: &str,
        bucket: &str,
        key: &str,
        noun: &str,
    ) -> Result<(), Status> {
        match self.store.get::<T>(ns, bucket, key).map_err(from_store)? {
            Some(_) => Err(Status::already_exists(format!(
                "{noun} {key:?}: already exists"
            ))),
            None => Ok(()),
        }
    }

    /// The records of a bucket that pass `filters`; `field` reads one filter field
    /// (`name`, `labels.x`) of a record.
    fn list_filtered<T: prost::Message + Default>(
        &self,
        ns: &str,
        bucket: &str,
        filters: &[String],
        field: impl Fn(&T, &str) -> Option<String>,
    ) -> Result<Vec<T>, Status> {
        let filters = Filters::parse(filters).map_err(from_filter)?;
        Ok(self
            .store
            .list::<T>(ns, bucket)
            .map_err(from_store)?
            .into_iter()
            .map(|(_, record)| record)
            .filter(|record| filters.matches(|f| field(record, f)))
            .collect())
    }

    /// Change the resources a lease holds, under the metadata lock.
    async fn edit_lease(
        &self,
        ns: &str,
        id: &str,
        edit: impl FnOnce(&mut Vec<api::Resource>),
        sync: bool,
    ) -> Result<(), Status> {
        let _g = self.meta_lock.lock().await;
        let mut lease: LeaseRecord = self.existing(ns, "leases", id, "lease")?;
        let before = lease.resources.clone();
        edit(&mut lease.resources);
        if lease.resources != before {
            if sync {
                self.store.put(ns, "leases", id, &lease)
            } else {
                self.store.put_before_next(ns, "leases", id, &lease)
            }
            .map_err(from_store)?;
        }
        Ok(())
    }

    /// After a delete: collect garbage now when the client asked to wait for it,
    /// else in the background.
    async fn collect_after_delete(self: &Arc<Self>, ns: &str, sync: bool) {
        if sync {
            self.collect_garbage(ns).await;
        } else {
            self.schedule_gc(ns);
        }
    }

    pub async fn dispatch_metadata(
        self: Arc<Self>,
        path: &str,
        req: http::Request<Body>,
    ) -> HttpResponse {
        let d = self;
        grpc::dispatch!(path, req, unknown path, {
            "/containerd.services.version.v1.Version/Version" => unary(_, ()) {
                Ok(api::VersionResponse {
                    version: super::version(),
                    revision: buildinfo::GIT_COMMIT.to_owned(),
                })
            }
            "/grpc.health.v1.Health/Check" => unary(_, HealthCheckRequest) {
                Ok(HealthCheckResponse { status: 1 })
            }

            // ---- namespaces
            "/containerd.services.namespaces.v1.Namespaces/Get" => unary(r, api::GetNamespaceRequest) {
                let name = r.into_inner().name;
                validate_namespace(&name)?;
                // As containerd: an unknown namespace reads as one without labels.
                let n = d
                    .store
                    .get::<api::Namespace>(&name, NS_BUCKET, &name)
                    .map_err(from_store)?
                    .unwrap_or(api::Namespace {
                        name: name.clone(),
                        labels: HashMap::new(),
                    });
                Ok(api::GetNamespaceResponse { namespace: Some(n) })
            }
            "/containerd.services.namespaces.v1.Namespaces/List" => unary(r, api::ListNamespacesRequest) {
                let filters = Filters::parse(&[r.into_inner().filter]).map_err(from_filter)?;
                let mut out = Vec::new();
                for ns in d.store.namespaces().map_err(from_store)? {
                    if let Some(n) = d
                        .store
                        .get::<api::Namespace>(&ns, NS_BUCKET, &ns)
                        .map_err(from_store)?
                    {
                        if filters.matches(|f| match f {
                            "name" => Some(n.name.clone()),
                            _ => labels_get(&n.labels, f).flatten(),
                        }) {
                            out.push(n);
                        }
                    }
                }
                Ok(api::ListNamespacesResponse { namespaces: out })
            }
            "/containerd.services.namespaces.v1.Namespaces/Create" => unary(r, api::CreateNamespaceRequest) {
                let n = r.into_inner().namespace.unwrap_or_default();
                validate_namespace(&n.name)?;
                let _g = d.meta_lock.lock().await;
                d.vacant::<api::Namespace>(&n.name, NS_BUCKET, &n.name, "namespace")?;
                d.store.put(&n.name, NS_BUCKET, &n.name, &n).map_err(from_store)?;
                d.events.publish(&n.name, "/namespaces/create", &ev::NamespaceCreate { name: n.name.clone(), labels: n.labels.clone() });
                Ok(api::CreateNamespaceResponse { namespace: Some(n) })
            }
            "/containerd.services.namespaces.v1.Namespaces/Update" => unary(r, api::UpdateNamespaceRequest) {
                let r = r.into_inner();
                let n = r.namespace.unwrap_or_default();
                let paths = r.update_mask.map(|m| m.paths).unwrap_or_default();
                let _g = d.meta_lock.lock().await;
                let mut cur: api::Namespace = d.existing(&n.name, NS_BUCKET, &n.name, "namespace")?;
                update_labels(&mut cur.labels, &n.labels, &paths);
                d.store.put(&n.name, NS_BUCKET, &n.name, &cur).map_err(from_store)?;
                d.events.publish(&n.name, "/namespaces/update", &ev::NamespaceUpdate { name: n.name.clone(), labels: cur.labels.clone() });
                Ok(api::UpdateNamespaceResponse { namespace: Some(cur) })
            }
            "/containerd.services.namespaces.v1.Namespaces/Delete" => unary(r, api::DeleteNamespaceRequest) {
                let name = r.into_inner().name;
                let _g = d.meta_lock.lock().await;
                d.existing::<api::Namespace>(&name, NS_BUCKET, &name, "namespace")?;
                if !d.store.namespace_is_empty(&name).map_err(from_store)? {
                    return Err(Status::failed_precondition(format!(
                        "namespace {name} must be empty, but it still has images, blobs, containers, snapshots, leases: failed precondition"
                    )));
                }
                d.store.remove_namespace(&name).map_err(from_store)?;
                d.events.publish(&name, "/namespaces/delete", &ev::NamespaceDelete { name: name.clone() });
                Ok(())
            }

            // ---- introspection
            "/containerd.services.introspection.v1.Introspection/Plugins" => unary(r, api::PluginsRequest) {
                let filters = Filters::parse(&r.into_inner().filters).map_err(from_filter)?;
                let plugins = super::plugins()
                    .into_iter()
                    .filter(|p| {
                        filters.matches(|f| match f {
                            "type" => Some(p.r#type.clone()),
                            "id" => Some(p.id.clone()),
                            "capabilities" => p.capabilities.first().cloned(),
                            _ => None,
                        })
                    })
                    .collect();
                Ok(api::PluginsResponse { plugins })
            }
            "/containerd.services.introspection.v1.Introspection/Server" => unary(_, ()) {
                Ok(api::ServerResponse {
                    uuid: d.uuid.clone(),
                    pid: std::process::id() as u64,
                    pidns: pidns(),
                    deprecations: Vec::new(),
                })
            }

            // ---- content
            "/containerd.services.content.v1.Content/Info" => unary(r, api::InfoRequest) {
                let ns = namespace(&r)?;
                let info = d.content_info(&ns, &r.into_inner().digest)?;
                Ok(api::InfoResponse { info: Some(info) })
            }
            "/containerd.services.content.v1.Content/Update" => unary(r, api::UpdateRequest) {
                let ns = namespace(&r)?;
                let r = r.into_inner();
                let new = r.info.unwrap_or_default();
                let paths = r.update_mask.map(|m| m.paths).unwrap_or_default();
                let _g = d.meta_lock.lock().await;
                let mut cur = d.content_info(&ns, &new.digest)?;
                update_labels(&mut cur.labels, &new.labels, &paths);
                cur.updated_at = Some(now());
                d.store.put(&ns, "content", &new.digest, &cur).map_err(from_store)?;
                Ok(api::UpdateResponse { info: Some(cur) })
            }
            "/containerd.services.content.v1.Content/List" => server_streaming(r, api::ListContentRequest) {
                let ns = namespace(&r)?;
                let infos = d.list_filtered(&ns, "content", &r.into_inner().filters, |i: &api::Info, f| match f {
                    "digest" => Some(i.digest.clone()),
                    "size" => Some(i.size.to_string()),
                    _ => labels_get(&i.labels, f).flatten(),
                })?;
                let chunks: Vec<api::ListContentResponse> = infos
                    .chunks(100)
                    .map(|c| api::ListContentResponse { info: c.to_vec() })
                    .collect();
                Ok(stream(chunks))
            }
            "/containerd.services.content.v1.Content/Delete" => unary(r, api::DeleteContentRequest) {
                let ns = namespace(&r)?;
                let digest = r.into_inner().digest;
                let _g = d.meta_lock.lock().await;
                d.delete_content(&ns, &digest)?;
                Ok(())
            }
            "/containerd.services.content.v1.Content/Read" => server_streaming(r, api::ReadContentRequest) {
                let ns = namespace(&r)?;
                let r = r.into_inner();
                d.content_info(&ns, &r.digest)?;
                let mut f = d
                    .content
                    .read_at(&r.digest, r.offset.max(0) as u64, 0)
                    .map_err(from_content)?;
                let limit = if r.size > 0 { r.size as u64 } else { u64::MAX };
                let start = r.offset.max(0);
                // What there is to send; the buffer is never larger (manifests and
                // configs are a few hundred bytes: a fresh 1 MiB buffer per read cost
                // more in page faults than the read itself).
                let available = f
                    .metadata()
                    .map(|m| m.len().saturating_sub(start as u64))
                    .unwrap_or(u64::MAX);
                let total = limit.min(available);
                if total <= SMALL_READ {
                    // One message, read here: no thread and no channel for a small blob.
                    let mut data = Vec::with_capacity(total as usize);
                    std::io::Read::take(&mut f, total)
                        .read_to_end(&mut data)
                        .map_err(|e| Status::internal(e.to_string()))?;
                    let first = (!data.is_empty()).then(|| {
                        Ok(api::ReadContentResponse { offset: start, data })
                    });
                    let s: BoxStream<api::ReadContentResponse> =
                        Box::pin(tokio_stream::iter(first));
                    return Ok(s);
                }
                let (tx, rx) = tokio::sync::mpsc::channel(4);
                tokio::task::spawn_blocking(move || {
                    let mut off = start;
                    let mut left = total;
                    let mut buf = vec![0u8; (1u64 << 20).min(total) as usize];
                    while left > 0 {
                        let want = buf.len().min(left.min(usize::MAX as u64) as usize);
                        match f.read(&mut buf[..want]) {
                            Ok(0) => break,
                            Ok(n) => {
                                let msg = api::ReadContentResponse {
                                    offset: off,
                                    data: buf[..n].to_vec(),
                                };
                                off += n as i64;
                                left -= n as u64;
                                if tx.blocking_send(Ok(msg)).is_err() {
                                    break;
                                }
                            }
                            Err(e) => {
                                let _ = tx.blocking_send(Err(Status::internal(e.to_string())));
                                break;
                            }
                        }
                    }
                });
                let s: BoxStream<api::ReadContentResponse> =
                    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx));
                Ok(s)
            }
            "/containerd.services.content.v1.Content/Status" => unary(r, api::StatusRequest) {
                let reference = r.into_inner().r#ref;
                let st = d.content.status(&reference).map_err(from_content)?;
                Ok(api::StatusResponse { status: Some(status_msg(st)) })
            }
            "/containerd.services.content.v1.Content/ListStatuses" => unary(r, api::ListStatusesRequest) {
                let filters = Filters::parse(&r.into_inner().filters).map_err(from_filter)?;
                let statuses = d
                    .content
                    .statuses()
                    .into_iter()
                    .map(status_msg)
                    .filter(|s| filters.matches(|f| (f == "ref").then(|| s.r#ref.clone())))
                    .collect();
                Ok(api::ListStatusesResponse { statuses })
            }
            "/containerd.services.content.v1.Content/Abort" => unary(r, api::AbortRequest) {
                d.content.abort(&r.into_inner().r#ref).map_err(from_content)?;
                Ok(())
            }
            "/containerd.services.content.v1.Content/Write" => streaming(r, tonic::Streaming<api::WriteContentRequest>) {
                let ns = namespace(&r)?;
                let lease = lease_of(&r);
                d.ensure_namespace(&ns)?;
                let s: BoxStream<api::WriteContentResponse> =
                    Box::pin(super::write::serve(d, ns, lease, r.into_inner()));
                Ok(s)
            }

            // ---- images
            "/containerd.services.images.v1.Images/Get" => unary(r, api::GetImageRequest) {
                let ns = namespace(&r)?;
                let name = r.into_inner().name;
                let image = d.existing(&ns, "images", &name, "image")?;
                Ok(api::GetImageResponse { image: Some(image) })
            }
            "/containerd.services.images.v1.Images/List" => unary(r, api::ListImagesRequest) {
                let ns = namespace(&r)?;
                let images = d.list_filtered(&ns, "images", &r.into_inner().filters, |i: &api::Image, f| match f {
                    "name" => Some(i.name.clone()),
                    "target.digest" => i.target.as_ref().map(|t| t.digest.clone()),
                    "target.mediatype" => i.target.as_ref().map(|t| t.media_type.clone()),
                    _ => labels_get(&i.labels, f).flatten(),
                })?;
                Ok(api::ListImagesResponse { images })
            }
            "/containerd.services.images.v1.Images/Create" => unary(r, api::CreateImageRequest) {
                let ns = namespace(&r)?;
                let mut image = r.into_inner().image.unwrap_or_default();
                validate_image(&image)?;
                let _g = d.meta_lock.lock().await;
                d.ensure_namespace(&ns)?;
                d.vacant::<api::Image>(&ns, "images", &image.name, "image")?;
                let t = now();
                image.created_at = Some(t);
                image.updated_at = Some(t);
                d.store.put(&ns, "images", &image.name, &image).map_err(from_store)?;
                d.events.publish(&ns, "/images/create", &api::ImageCreate { name: image.name.clone(), labels: image.labels.clone() });
                Ok(api::CreateImageResponse { image: Some(image) })
            }
            "/containerd.services.images.v1.Images/Update" => unary(r, api::UpdateImageRequest) {
                let ns = namespace(&r)?;
                let r = r.into_inner();
                let new = r.image.unwrap_or_default();
                let paths = r.update_mask.map(|m| m.paths).unwrap_or_default();
                let _g = d.meta_lock.lock().await;
                let mut cur: api::Image = d.existing(&ns, "images", &new.name, "image")?;
                if paths.is_empty() {
                    validate_image(&new)?;
                    cur.labels = new.labels.clone();
                    cur.target = new.target.clone();
                } else {
                    for p in &paths {
                        if p == "target" {
                            cur.target = new.target.clone();
                        }
                    }
                    update_labels(&mut cur.labels, &new.labels, &paths.iter().filter(|p| p.starts_with("labels")).cloned().collect::<Vec<_>>());
                }
                cur.updated_at = Some(now());
                d.store.put(&ns, "images", &cur.name, &cur).map_err(from_store)?;
                d.events.publish(&ns, "/images/update", &api::ImageUpdate { name: cur.name.clone(), labels: cur.labels.clone() });
                Ok(api::UpdateImageResponse { image: Some(cur) })
            }
            "/containerd.services.images.v1.Images/Delete" => unary(r, api::DeleteImageRequest) {
                let ns = namespace(&r)?;
                let r = r.into_inner();
                let name = r.name;
                let _g = d.meta_lock.lock().await;
                if !d.store.delete(&ns, "images", &name).map_err(from_store)? {
                    return Err(Status::not_found(format!("image \"{name}\": not found")));
                }
                d.events.publish(&ns, "/images/delete", &api::ImageDelete { name });
                drop(_g);
                d.collect_after_delete(&ns, r.sync).await;
                Ok(())
            }

            // ---- leases
            "/containerd.services.leases.v1.Leases/Create" => unary(r, api::CreateRequest) {
                let ns = namespace(&r)?;
                let r = r.into_inner();
                let id = if r.id.is_empty() {
                    format!("lease-{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos())
                } else {
                    r.id
                };
                let _g = d.meta_lock.lock().await;
                d.ensure_namespace(&ns)?;
                d.vacant::<LeaseRecord>(&ns, "leases", &id, "lease")?;
                let lease = api::Lease { id: id.clone(), created_at: Some(now()), labels: r.labels };
                let record = LeaseRecord { lease: Some(lease.clone()), resources: Vec::new() };
                d.store.put(&ns, "leases", &id, &record).map_err(from_store)?;
                if let Some(at) = super::gc::lease_expiry(&record) {
                    d.collect_at(&ns, at);
                }
                Ok(api::CreateResponse { lease: Some(lease) })
            }
            "/containerd.services.leases.v1.Leases/Delete" => unary(r, api::DeleteRequest) {
                let ns = namespace(&r)?;
                let r = r.into_inner();
                let id = r.id;
                let _g = d.meta_lock.lock().await;
                if !d.store.delete(&ns, "leases", &id).map_err(from_store)? {
                    return Err(Status::not_found(format!("lease {id:?}: not found")));
                }
                drop(_g);
                d.collect_after_delete(&ns, r.sync).await;
                Ok(())
            }
            "/containerd.services.leases.v1.Leases/List" => unary(r, api::ListRequest) {
                let ns = namespace(&r)?;
                let leases = d.list_filtered(&ns, "leases", &r.into_inner().filters, |l: &LeaseRecord, f| {
                    let l = l.lease.as_ref()?;
                    match f {
                        "id" => Some(l.id.clone()),
                        _ => labels_get(&l.labels, f).flatten(),
                    }
                })?.into_iter().filter_map(|l| l.lease).collect();
                Ok(api::ListResponse { leases })
            }
            "/containerd.services.leases.v1.Leases/AddResource" => unary(r, api::AddResourceRequest) {
                let ns = namespace(&r)?;
                let r = r.into_inner();
                let res = r.resource.unwrap_or_default();
                d.edit_lease(&ns, &r.id, |held| if !held.contains(&res) { held.push(res) }, true).await
            }
            "/containerd.services.leases.v1.Leases/DeleteResource" => unary(r, api::DeleteResourceRequest) {
                let ns = namespace(&r)?;
                let r = r.into_inner();
                let res = r.resource.unwrap_or_default();
                d.edit_lease(&ns, &r.id, |held| held.retain(|x| x != &res), true).await
            }
            "/containerd.services.leases.v1.Leases/ListResources" => unary(r, api::ListResourcesRequest) {
                let ns = namespace(&r)?;
                let id = r.into_inner().id;
                let l: LeaseRecord = d.existing(&ns, "leases", &id, "lease")?;
                Ok(api::ListResourcesResponse { resources: l.resources })
            }

            // ---- containers
            "/containerd.services.containers.v1.Containers/Get" => unary(r, api::GetContainerRequest) {
                let ns = namespace(&r)?;
                let c = d.container(&ns, &r.into_inner().id)?;
                Ok(api::GetContainerResponse { container: Some(c) })
            }
            "/containerd.services.containers.v1.Containers/List" => unary(r, api::ListContainersRequest) {
                let ns = namespace(&r)?;
                let containers = d.list_containers(&ns, &r.into_inner().filters)?;
                Ok(api::ListContainersResponse { containers })
            }
            "/containerd.services.containers.v1.Containers/ListStream" => server_streaming(r, api::ListContainersRequest) {
                let ns = namespace(&r)?;
                let containers = d.list_containers(&ns, &r.into_inner().filters)?;
                Ok(stream(containers.into_iter().map(|c| api::ListContainerMessage { container: Some(c) }).collect()))
            }
            "/containerd.services.containers.v1.Containers/Create" => unary(r, api::CreateContainerRequest) {
                let ns = namespace(&r)?;
                let mut c = r.into_inner().container.unwrap_or_default();
                if c.id.is_empty() || !c.id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) || c.id.len() > 76 {
                    return Err(Status::invalid_argument(format!("container id {:?}: invalid argument", c.id)));
                }
                if c.runtime.as_ref().map(|r| r.name.is_empty()).unwrap_or(true) {
                    return Err(Status::invalid_argument("must specify a runtime: invalid argument"));
                }
                if c.spec.is_none() {
                    return Err(Status::invalid_argument("container.Spec must be set: invalid argument"));
                }
                let _g = d.meta_lock.lock().await;
                d.ensure_namespace(&ns)?;
                d.vacant::<api::Container>(&ns, "containers", &c.id, "container")?;
                let t = now();
                c.created_at = Some(t);
                c.updated_at = Some(t);
                d.store.put(&ns, "containers", &c.id, &c).map_err(from_store)?;
                d.events.publish(&ns, "/containers/create", &ev::ContainerCreate {
                    id: c.id.clone(),
                    image: c.image.clone(),
                    runtime: c.runtime.as_ref().map(|r| ev::container_create::Runtime { name: r.name.clone(), options: r.options.clone() }),
                });
                Ok(api::CreateContainerResponse { container: Some(c) })
            }
            "/containerd.services.containers.v1.Containers/Update" => unary(r, api::UpdateContainerRequest) {
                let ns = namespace(&r)?;
                let r = r.into_inner();
                let new = r.container.unwrap_or_default();
                let paths = r.update_mask.map(|m| m.paths).unwrap_or_default();
                let _g = d.meta_lock.lock().await;
                let mut cur = d.container(&ns, &new.id)?;
                if paths.is_empty() {
                    cur.labels = new.labels.clone();
                    cur.spec = new.spec.clone();
                    cur.image = new.image.clone();
                    cur.snapshot_key = new.snapshot_key.clone();
                    cur.snapshotter = new.snapshotter.clone();
                    cur.extensions = new.extensions.clone();
                } else {
                    for p in &paths {
                        match p.as_str() {
                            "spec" => cur.spec = new.spec.clone(),
                            "image" => cur.image = new.image.clone(),
                            "snapshotkey" | "snapshot_key" => cur.snapshot_key = new.snapshot_key.clone(),
                            "runtime" => {
                                return Err(Status::invalid_argument("container.Runtime field is immutable: invalid argument"))
                            }
                            p if p.starts_with("extensions") => cur.extensions = new.extensions.clone(),
                            p if p.starts_with("labels") => update_labels(&mut cur.labels, &new.labels, &[p.to_owned()]),
                            other => {
                                return Err(Status::invalid_argument(format!("cannot update {other:?} field on container {:?}: invalid argument", cur.id)))
                            }
                        }
                    }
                }
                cur.updated_at = Some(now());
                d.store.put(&ns, "containers", &cur.id, &cur).map_err(from_store)?;
                d.events.publish(&ns, "/containers/update", &ev::ContainerUpdate { id: cur.id.clone(), image: cur.image.clone(), labels: cur.labels.clone(), snapshot_key: cur.snapshot_key.clone() });
                Ok(api::UpdateContainerResponse { container: Some(cur) })
            }
            "/containerd.services.containers.v1.Containers/Delete" => unary(r, api::DeleteContainerRequest) {
                let ns = namespace(&r)?;
                let id = r.into_inner().id;
                let _g = d.meta_lock.lock().await;
                if !d.store.delete(&ns, "containers", &id).map_err(from_store)? {
                    return Err(Status::not_found(format!("container \"{id}\": not found")));
                }
                d.events.publish(&ns, "/containers/delete", &ev::ContainerDelete { id });
                Ok(())
            }

            // ---- snapshots
            "/containerd.services.snapshots.v1.Snapshots/Prepare" => unary(r, snap::PrepareSnapshotRequest) {
                let ns = namespace(&r)?;
                let lease = lease_of(&r);
                d.ensure_namespace(&ns)?;
                let r = r.into_inner();
                d.attach_snapshot(&ns, lease, &r.snapshotter, &r.key).await?;
                let mounts = d.snapshots.create(&ns, &r.snapshotter, snap::Kind::Active, &r.key, &r.parent, r.labels).map_err(from_snapshot)?;
                d.events.publish(&ns, "/snapshot/prepare", &ev::SnapshotPrepare { key: r.key, parent: r.parent, snapshotter: r.snapshotter });
                Ok(snap::PrepareSnapshotResponse { mounts })
            }
            "/containerd.services.snapshots.v1.Snapshots/View" => unary(r, snap::ViewSnapshotRequest) {
                let ns = namespace(&r)?;
                let lease = lease_of(&r);
                d.ensure_namespace(&ns)?;
                let r = r.into_inner();
                d.attach_snapshot(&ns, lease, &r.snapshotter, &r.key).await?;
                let mounts = d.snapshots.create(&ns, &r.snapshotter, snap::Kind::View, &r.key, &r.parent, r.labels).map_err(from_snapshot)?;
                Ok(snap::ViewSnapshotResponse { mounts })
            }
            "/containerd.services.snapshots.v1.Snapshots/Mounts" => unary(r, snap::MountsRequest) {
                let ns = namespace(&r)?;
                let r = r.into_inner();
                let mounts = d.snapshots.mounts(&ns, &r.snapshotter, &r.key).map_err(from_snapshot)?;
                Ok(snap::MountsResponse { mounts })
            }
            "/containerd.services.snapshots.v1.Snapshots/Commit" => unary(r, snap::CommitSnapshotRequest) {
                let ns = namespace(&r)?;
                let lease = lease_of(&r);
                let r = r.into_inner();
                d.attach_snapshot(&ns, lease, &r.snapshotter, &r.name).await?;
                d.snapshots.commit(&ns, &r.snapshotter, &r.name, &r.key, r.labels).map_err(from_snapshot)?;
                d.events.publish(&ns, "/snapshot/commit", &ev::SnapshotCommit { key: r.key, name: r.name, snapshotter: r.snapshotter });
                Ok(())
            }
            "/containerd.services.snapshots.v1.Snapshots/Remove" => unary(r, snap::RemoveSnapshotRequest) {
                let ns = namespace(&r)?;
                let r = r.into_inner();
                d.snapshots.remove(&ns, &r.snapshotter, &r.key).map_err(from_snapshot)?;
                d.events.publish(&ns, "/snapshot/remove", &ev::SnapshotRemove { key: r.key, snapshotter: r.snapshotter });
                Ok(())
            }
            "/containerd.services.snapshots.v1.Snapshots/Stat" => unary(r, snap::StatSnapshotRequest) {
                let ns = namespace(&r)?;
                let r = r.into_inner();
                let info = d.snapshots.stat(&ns, &r.snapshotter, &r.key).map_err(from_snapshot)?;
                Ok(snap::StatSnapshotResponse { info: Some(info) })
            }
            "/containerd.services.snapshots.v1.Snapshots/Update" => unary(r, snap::UpdateSnapshotRequest) {
                let ns = namespace(&r)?;
                let r = r.into_inner();
                let paths = r.update_mask.map(|m| m.paths).unwrap_or_default();
                let info = d.snapshots.update(&ns, &r.snapshotter, r.info.unwrap_or_default(), &paths).map_err(from_snapshot)?;
                Ok(snap::UpdateSnapshotResponse { info: Some(info) })
            }
            "/containerd.services.snapshots.v1.Snapshots/List" => server_streaming(r, snap::ListSnapshotsRequest) {
                let ns = namespace(&r)?;
                let r = r.into_inner();
                let filters = Filters::parse(&r.filters).map_err(from_filter)?;
                let infos: Vec<snap::Info> = d.snapshots.list(&ns, &r.snapshotter).map_err(from_snapshot)?
                    .into_iter()
                    .filter(|i| filters.matches(|f| match f {
                        "name" => Some(i.name.clone()),
                        "parent" => Some(i.parent.clone()),
                        "kind" => Some(match i.kind { 1 => "view", 2 => "active", 3 => "committed", _ => "unknown" }.to_owned()),
                        _ => labels_get(&i.labels, f).flatten(),
                    }))
                    .collect();
                Ok(stream(infos.chunks(100).map(|c| snap::ListSnapshotsResponse { info: c.to_vec() }).collect()))
            }
            "/containerd.services.snapshots.v1.Snapshots/Usage" => unary(r, snap::UsageRequest) {
                let ns = namespace(&r)?;
                let r = r.into_inner();
                let (size, inodes) = d.snapshots.usage(&ns, &r.snapshotter, &r.key).map_err(from_snapshot)?;
                Ok(snap::UsageResponse { size, inodes })
            }
            "/containerd.services.snapshots.v1.Snapshots/Cleanup" => unary(r, snap::CleanupRequest) {
                let ns = namespace(&r)?;
                d.collect_garbage(&ns).await;
                Ok(())
            }

            // ---- diff
            "/containerd.services.diff.v1.Diff/Apply" => unary(r, api::ApplyRequest) {
                let ns = namespace(&r)?;
                let r = r.into_inner();
                let desc = r.diff.unwrap_or_default();
                d.content_info(&ns, &desc.digest)?;
                let target = super::diff::Target::from_mounts(&r.mounts).map_err(from_apply)?;
                let f = d.content.read_at(&desc.digest, 0, 0).map_err(from_content)?;
                let (digest, size) = tokio::task::spawn_blocking(move || {
                    let r = super::diff::decompress(f).map_err(super::diff::ApplyError::Read)?;
                    super::diff::apply(&target, r)
                })
                .await
                .map_err(|e| Status::internal(e.to_string()))?
                .map_err(from_apply)?;
                Ok(api::ApplyResponse {
                    applied: Some(Descriptor {
                        media_type: "application/vnd.oci.image.layer.v1.tar".into(),
                        digest,
                        size: size as i64,
                        annotations: HashMap::new(),
                    }),
                })
            }
            "/containerd.services.diff.v1.Diff/Diff" => unary(r, api::DiffRequest) {
                let ns = namespace(&r)?;
                let desc = super::compare::diff(&d, &ns, r.into_inner()).await?;
                Ok(api::DiffResponse { diff: Some(desc) })
            }

            // ---- events
            "/containerd.services.events.v1.Events/Publish" => unary(r, api::PublishRequest) {
                let ns = namespace(&r)?;
                let r = r.into_inner();
                if !r.topic.starts_with('/') {
                    return Err(Status::invalid_argument(format!("envelope topic {:?}: must start with '/': invalid argument", r.topic)));
                }
                d.events.forward(containerd_client::types::Envelope { timestamp: Some(now()), namespace: ns, topic: r.topic, event: r.event });
                Ok(())
            }
            "/containerd.services.events.v1.Events/Forward" => unary(r, api::ForwardRequest) {
                if let Some(env) = r.into_inner().envelope {
                    d.events.forward(env);
                }
                Ok(())
            }
            "/containerd.services.events.v1.Events/Subscribe" => server_streaming(r, api::SubscribeRequest) {
                let filters = Filters::parse(&r.into_inner().filters).map_err(from_filter)?;
                let s: BoxStream<containerd_client::types::Envelope> = Box::pin(d.events.subscribe(filters));
                Ok(s)
            }
        })
    }

    pub fn content_info(&self, ns: &str, digest: &str) -> Result<api::Info, Status> {
        super::content::digest_hex(digest).map_err(from_content)?;
        let rec = self
            .store
            .get::<api::Info>(ns, "content", digest)
            .map_err(from_store)?;
        match rec {
            Some(i)
                if self
                    .content
                    .blob_path(digest)
                    .map(|p| p.exists())
                    .unwrap_or(false) =>
            {
                Ok(i)
            }
            _ => Err(Status::not_found(format!(
                "content digest {digest}: not found"
            ))),
        }
    }

    /// Drop a blob from a namespace, and from disk once no namespace holds it.
    pub fn delete_content(&self, ns: &str, digest: &str) -> Result<(), Status> {
        if !self
            .store
            .delete(ns, "content", digest)
            .map_err(from_store)?
        {
            return Err(Status::not_found(format!(
                "content digest {digest}: not found"
            )));
        }
        let used = self
            .store
            .namespaces()
            .map_err(from_store)?
            .iter()
            .any(|n| {
                matches!(
                    self.store.get::<api::Info>(n, "content", digest),
                    Ok(Some(_))
                )
            });
        if !used {
            let _ = self.content.delete(digest);
        }
        self.events.publish(
            ns,
            "/content/delete",
            &ev::ContentDelete {
                digest: digest.to_owned(),
            },
        );
        Ok(())
    }

    pub fn container(&self, ns: &str, id: &str) -> Result<api::Container, Status> {
        self.existing(ns, "containers", id, "container")
    }

    fn list_containers(&self, ns: &str, filters: &[String]) -> Result<Vec<api::Container>, Status> {
        self.list_filtered(ns, "containers", filters, |c: &api::Container, f| match f {
            "id" => Some(c.id.clone()),
            "image" => Some(c.image.clone()),
            "runtime.name" => c.runtime.as_ref().map(|r| r.name.clone()),
            "snapshotter" => Some(c.snapshotter.clone()),
            "snapshotkey" => Some(c.snapshot_key.clone()),
            _ => labels_get(&c.labels, f).flatten(),
        })
    }
}

fn validate_image(image: &api::Image) -> Result<(), Status> {
    if image.name.is_empty() {
        return Err(Status::invalid_argument(
            "image name must not be empty: invalid argument",
        ));
    }
    let t = image.target.clone().unwrap_or_default();
    if t.media_type.is_empty() {
        return Err(Status::invalid_argument(format!(
            "image \"{}\": target.MediaType must be set: invalid argument",
            image.name
        )));
    }
    if super::content::digest_hex(&t.digest).is_err() {
        return Err(Status::invalid_argument(format!(
            "image \"{}\": target.Digest {:?} is invalid: invalid argument",
            image.name, t.digest
        )));
    }
    Ok(())
}

fn status_msg(s: super::content::IngestStatus) -> api::Status {
    api::Status {
        started_at: Some(s.started_at.into()),
        updated_at: Some(s.updated_at.into()),
        r#ref: s.reference,
        offset: s.offset as i64,
        total: s.total as i64,
        expected: s.expected,
    }
}

fn pidns() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/pid")
        .map(|m| m.ino())
        .unwrap_or(0)
}

/// A lease and the resources it holds (content, snapshots, ingests).
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeaseRecord {
    #[prost(message, optional, tag = "1")]
    pub lease: Option<api::Lease>,
    #[prost(message, repeated, tag = "2")]
    pub resources: Vec<api::Resource>,
}

/// grpc.health.v1 messages (not part of containerd's protos).
#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthCheckRequest {
    #[prost(string, tag = "1")]
    pub service: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthCheckResponse {
    #[prost(int32, tag = "1")]
    pub status: i32,
}
