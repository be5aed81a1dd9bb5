//! The tasks service: each container's task runs under a shim (`containerd-shim-<name>-<v>`,
//! found on PATH, or the runtime path given) that this daemon starts with the shim v2
//! `start` command and then drives over ttrpc. Shims outlive the daemon: their
//! addresses are kept in the bundle directories, and a restarted daemon reconnects to
//! every shim it finds there.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use containerd_client::services::v1 as api;
use containerd_client::types::v1 as tv1;
use containerd_client::types::Metric;
use containerd_shim_protos::api as shim;
use containerd_shim_protos::protobuf;
use tokio::sync::Mutex;
use tonic::body::Body;
use tonic::Status;

use super::grpc::{self, HttpResponse};
use super::services::namespace;
use super::Daemon;

/// Under the task state directory: bundles of deleted tasks being removed. Namespace
/// names start with a letter or digit, so this never names a namespace.
const REMOVING: &str = ".removing";

/// The shim task API as containerd 1.6/1.7 speak it (`containerd.task.v2.Task`).
const TASK_SERVICE: &str = "containerd.task.v2.Task";

/// A connection to one shim.
#[derive(Clone)]
pub struct ShimClient {
    client: ttrpc::r#async::Client,
}

impl ShimClient {
    pub async fn connect(address: &str) -> Result<ShimClient, ttrpc::Error> {
        let client = ttrpc::r#async::Client::connect(address).await?;
        Ok(ShimClient { client })
    }

    async fn call<Q: protobuf::Message, R: protobuf::Message>(
        &self,
        method: &str,
        req: &Q,
    ) -> ttrpc::Result<R> {
        let ctx = ttrpc::context::Context::default();
        let mut cres = R::new();
        ttrpc::async_client_request!(self, ctx, req, TASK_SERVICE, method, cres);
    }

    /// Send a request already encoded on the wire; returns the encoded answer.
    async fn call_encoded(&self, method: &str, payload: Vec<u8>) -> ttrpc::Result<Vec<u8>> {
        let mut req = ttrpc::Request::new();
        req.service = TASK_SERVICE.to_owned();
        req.method = method.to_owned();
        req.payload = payload;
        Ok(self.client.request(req).await?.payload)
    }
}

/// A running shim and what is needed to clean up after it.
pub struct Shim {
    pub client: ShimClient,
    pub bundle: PathBuf,
    log: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Shim {
    fn drop(&mut self) {
        if let Some(h) = self.log.take() {
            h.abort();
        }
    }
}

/// Copy the shim's `log` fifo into the daemon's log (the shim blocks until it has a
/// reader). Opened read-write so that the copy never sees end-of-file between writers.
fn follow_shim_log(bundle: &Path, id: &str) -> Option<tokio::task::JoinHandle<()>> {
    let path = bundle.join("log");
    if !path.exists() {
        let c = std::ffi::CString::new(path.display().to_string()).ok()?;
        // SAFETY: valid path.
        if unsafe { libc::mkfifo(c.as_ptr(), 0o700) } != 0 {
            return None;
        }
    }
    let rx = tokio::net::unix::pipe::OpenOptions::new()
        .read_write(true)
        .open_receiver(&path)
        .ok()?;
    let id = id.to_owned();
    Some(tokio::spawn(async move {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(rx).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            super::log::debug(&format!("shim {id}: {line}"));
        }
    }))
}

/// Shims by (namespace, container id).
#[derive(Default)]
pub struct Shims(Mutex<HashMap<(String, String), Arc<Shim>>>);

fn ttrpc_status(e: ttrpc::Error) -> Status {
    match e {
        ttrpc::Error::RpcStatus(s) => {
            let code = tonic::Code::from_i32(s.code.value());
            Status::new(code, s.message)
        }
        other => Status::unavailable(format!("ttrpc: {other}")),
    }
}

/// prost and rust-protobuf messages with the same schema convert through the wire format.
fn to_pb<A: prost::Message, B: protobuf::Message>(a: &A) -> B {
    B::parse_from_bytes(&a.encode_to_vec()).unwrap_or_default()
}

fn from_pb<B: protobuf::Message, A: prost::Message + Default>(b: &B) -> A {
    A::decode(b.write_to_bytes().unwrap_or_default().as_slice()).unwrap_or_default()
}

fn pb_any(
    a: &Option<prost_types::Any>,
) -> protobuf::MessageField<protobuf::well_known_types::any::Any> {
    match a {
        Some(a) => protobuf::MessageField::some(to_pb(a)),
        None => protobuf::MessageField::none(),
    }
}

fn ts(
    t: &protobuf::MessageField<protobuf::well_known_types::timestamp::Timestamp>,
) -> Option<prost_types::Timestamp> {
    t.as_ref().map(|t| prost_types::Timestamp {
        seconds: t.seconds,
        nanos: t.nanos,
    })
}

/// `io.containerd.runc.v2` -> `containerd-shim-runc-v2`.
pub fn shim_binary(runtime: &str) -> String {
    if runtime.starts_with('/') {
        return runtime.to_owned();
    }
    let parts: Vec<&str> = runtime.split('.').collect();
    match parts.as_slice() {
        [.., name, version] => format!("containerd-shim-{name}-{version}"),
        _ => format!("containerd-shim-{runtime}"),
    }
}

impl Daemon {
    fn bundle_dir(&self, ns: &str, id: &str) -> PathBuf {
        self.state
            .join("io.containerd.runtime.v2.task")
            .join(ns)
            .join(id)
    }

    async fn shim_for(&self, ns: &str, id: &str) -> Result<Arc<Shim>, Status> {
        self.shims
            .0
            .lock()
            .await
            .get(&(ns.to_owned(), id.to_owned()))
            .cloned()
            .ok_or_else(|| {
                Status::not_found(format!(
                    "no running task found: task {id} not found: not found"
                ))
            })
    }

    /// Pass a tasks API request on to the task's shim as it is. Where the two APIs'
    /// messages carry the same fields under the same numbers (most of the task
    /// methods: `container_id` is the shim's `id`), the request's wire bytes are the
    /// shim's request and the shim's answer decodes as the API's.
    async fn relay<Q: prost::Message, R: prost::Message + Default>(
        &self,
        ns: &str,
        id: &str,
        method: &str,
        req: &Q,
    ) -> Result<R, Status> {
        self.relay_encoded(ns, id, method, req.encode_to_vec())
            .await
    }

    /// [`Daemon::relay`] of a request encoded by the caller.
    async fn relay_encoded<R: prost::Message + Default>(
        &self,
        ns: &str,
        id: &str,
        method: &str,
        payload: Vec<u8>,
    ) -> Result<R, Status> {
        let shim = self.shim_for(ns, id).await?;
        let answer = shim
            .client
            .call_encoded(method, payload)
            .await
            .map_err(ttrpc_status)?;
        R::decode(answer.as_slice())
            .map_err(|e| Status::internal(format!("decoding the shim's {method} answer: {e}")))
    }

    /// Run `<shim> ... start` in the bundle and return the address it prints.
    async fn start_shim(
        &self,
        ns: &str,
        id: &str,
        binary: &str,
        bundle: &Path,
        options: &Option<prost_types::Any>,
    ) -> Result<String, Status> {
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("containerd"));
        let mut cmd = tokio::process::Command::new(binary);
        cmd.args(["-namespace", ns, "-address"])
            .arg(&self.address)
            .arg("-publish-binary")
            .arg(&exe)
            .args(["-id", id])
            .args(if super::log::is_debug() {
                vec!["-debug"]
            } else {
                vec![]
            })
            .arg("start")
            .current_dir(bundle)
            .env("TTRPC_ADDRESS", self.ttrpc_address())
            .env("GRPC_ADDRESS", &self.address)
            .env("NAMESPACE", ns)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| {
            Status::not_found(format!("failed to start shim: {binary}: {e}: not found"))
        })?;
        if let Some(mut stdin) = child.stdin.take() {
            use tokio::io::AsyncWriteExt;
            if let Some(o) = options {
                let _ = stdin.write_all(&prost::Message::encode_to_vec(o)).await;
            }
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        if !out.status.success() {
            return Err(Status::internal(format!(
                "failed to start shim: start failed: {}: {}",
                String::from_utf8_lossy(&out.stderr).trim(),
                out.status
            )));
        }
        let address = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if address.is_empty() {
            return Err(Status::internal("failed to start shim: no address printed"));
        }
        let _ = std::fs::write(bundle.join("address"), &address);
        let _ = std::fs::write(bundle.join("shim-binary-path"), binary);
        Ok(address)
    }

    /// `<shim> ... delete`: the shim's own cleanup of a bundle whose shim is gone.
    async fn shim_delete(&self, ns: &str, id: &str, bundle: &Path) {
        let binary = std::fs::read_to_string(bundle.join("shim-binary-path"))
            .unwrap_or_else(|_| "containerd-shim-runc-v2".into());
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("containerd"));
        let _ = tokio::process::Command::new(binary.trim())
            .args(["-namespace", ns, "-address"])
            .arg(&self.address)
            .arg("-publish-binary")
            .arg(&exe)
            .args(["-id", id, "-bundle"])
            .arg(bundle)
            .arg("delete")
            .current_dir(bundle)
            .env("TTRPC_ADDRESS", self.ttrpc_address())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        let _ = super::diff::remove_tree(bundle);
    }

    /// Where bundles of deleted tasks wait to be removed: beside the namespace
    /// directories, under a name no namespace can have.
    fn removing_dir(&self) -> PathBuf {
        self.state
            .join("io.containerd.runtime.v2.task")
            .join(REMOVING)
    }

    /// Take a deleted task's bundle out of its namespace at once (a rename, so the id
    /// is free for a new task) and delete it on a thread: its files go while the
    /// overlay the shim unmounted is still being torn down, which can hold up the
    /// deletes, and the client need not wait for that. A bundle left half deleted by a
    /// crash is removed at the next start.
    fn discard_bundle(&self, bundle: &Path) {
        let removing = self.removing_dir();
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let name = bundle
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let doomed = removing.join(format!("{unique}-{name}"));
        let moved = std::fs::create_dir_all(&removing)
            .and_then(|()| std::fs::rename(bundle, &doomed))
            .is_ok();
        if !moved {
            let _ = super::diff::remove_tree(bundle);
            return;
        }
        let on_thread = doomed.clone();
        if std::thread::Builder::new()
            .name("bundle-rm".into())
            .spawn(move || super::diff::remove_tree(&on_thread))
            .is_err()
        {
            let _ = super::diff::remove_tree(&doomed);
        }
    }

    pub fn ttrpc_address(&self) -> String {
        format!("{}.ttrpc", self.address.display())
    }

    /// Reconnect to the shims of the previous daemon run; clean up the ones that died.
    pub async fn reconnect_shims(&self) {
        let root = self.state.join("io.containerd.runtime.v2.task");
        let _ = super::diff::remove_tree(&self.removing_dir());
        let Ok(nss) = std::fs::read_dir(&root) else {
            return;
        };
        for ns in nss.flatten() {
            let ns_name = ns.file_name().to_string_lossy().into_owned();
            if ns_name == REMOVING {
                continue;
            }
            let Ok(ids) = std::fs::read_dir(ns.path()) else {
                continue;
            };
            for idd in ids.flatten() {
                let id = idd.file_name().to_string_lossy().into_owned();
                let bundle = idd.path();
                let address = std::fs::read_to_string(bundle.join("address")).unwrap_or_default();
                let connected = match ShimClient::connect(address.trim()).await {
                    Ok(c) => {
                        let mut req = shim::ConnectRequest::new();
                        req.id = id.clone();
                        match c.call::<_, shim::ConnectResponse>("Connect", &req).await {
                            Ok(_) => Some(c),
                            Err(_) => None,
                        }
                    }
                    Err(_) => None,
                };
                match connected {
                    Some(client) => {
                        let log = follow_shim_log(&bundle, &id);
                        super::log::info(&format!(
                            "reconnected to shim of task {id} in namespace {ns_name}"
                        ));
                        self.shims.0.lock().await.insert(
                            (ns_name.clone(), id),
                            Arc::new(Shim {
                                client,
                                bundle,
                                log,
                            }),
                        );
                    }
                    None => {
                        super::log::warn(&format!(
                            "cleaning up dead shim of task {id} in namespace {ns_name}"
                        ));
                        self.shim_delete(&ns_name, &id, &bundle).await;
                    }
                }
            }
        }
    }

    async fn create_task(
        &self,
        ns: String,
        r: api::CreateTaskRequest,
    ) -> Result<api::CreateTaskResponse, Status> {
        let c = self.container(&ns, &r.container_id)?;
        if r.checkpoint.is_some() {
            return Err(Status::unimplemented(
                "checkpoint restore is not supported by this containerd: not implemented",
            ));
        }
        let key = (ns.clone(), r.container_id.clone());
        let mut shims = self.shims.0.lock().await;
        if shims.contains_key(&key) {
            return Err(Status::already_exists(format!(
                "task {}: already exists",
                r.container_id
            )));
        }
        let runtime = c.runtime.clone().unwrap_or_default();
        let binary = if r.runtime_path.is_empty() {
            shim_binary(&runtime.name)
        } else {
            r.runtime_path.clone()
        };
        let options = if r.options.is_some() {
            r.options.clone()
        } else {
            runtime.options.clone()
        };
        let bundle = self.bundle_dir(&ns, &r.container_id);
        if bundle.exists() {
            let _ = super::diff::remove_tree(&bundle);
        }
        let spec = c.spec.clone().unwrap_or_default();
        let prep = (|| -> std::io::Result<()> {
            std::fs::create_dir_all(bundle.join("rootfs"))?;
            std::fs::write(bundle.join("config.json"), &spec.value)?;
            Ok(())
        })();
        if let Err(e) = prep {
            let _ = super::diff::remove_tree(&bundle);
            return Err(Status::internal(format!("failed to create bundle: {e}")));
        }
        let log = follow_shim_log(&bundle, &r.container_id);
        let address = match self
            .start_shim(&ns, &r.container_id, &binary, &bundle, &options)
            .await
        {
            Ok(a) => a,
            Err(e) => {
                let _ = super::diff::remove_tree(&bundle);
                return Err(e);
            }
        };
        let client = match ShimClient::connect(&address).await {
            Ok(c) => c,
            Err(e) => {
                self.shim_delete(&ns, &r.container_id, &bundle).await;
                return Err(Status::unavailable(format!(
                    "failed to connect to shim at {address}: {e}"
                )));
            }
        };
        let mut req = shim::CreateTaskRequest::new();
        req.id = r.container_id.clone();
        req.bundle = bundle.display().to_string();
        req.rootfs = r.rootfs.iter().map(to_pb).collect();
        req.terminal = r.terminal;
        req.stdin = r.stdin.clone();
        req.stdout = r.stdout.clone();
        req.stderr = r.stderr.clone();
        req.options = pb_any(&options);
        match client
            .call::<_, shim::CreateTaskResponse>("Create", &req)
            .await
        {
            Ok(resp) => {
                shims.insert(
                    key,
                    Arc::new(Shim {
                        client,
                        bundle,
                        log,
                    }),
                );
                Ok(api::CreateTaskResponse {
                    container_id: r.container_id,
                    pid: resp.pid,
                })
            }
            Err(e) => {
                let mut sreq = shim::ShutdownRequest::new();
                sreq.id = r.container_id.clone();
                let _ = client
                    .call::<_, protobuf::well_known_types::empty::Empty>("Shutdown", &sreq)
                    .await;
                self.shim_delete(&ns, &r.container_id, &bundle).await;
                Err(ttrpc_status(e))
            }
        }
    }

    async fn delete_task(&self, ns: String, id: String) -> Result<api::DeleteResponse, Status> {
        let s = self.shim_for(&ns, &id).await?;
        let mut req = shim::DeleteRequest::new();
        req.id = id.clone();
        let resp: shim::DeleteResponse =
            s.client.call("Delete", &req).await.map_err(ttrpc_status)?;
        let mut sreq = shim::ShutdownRequest::new();
        sreq.id = id.clone();
        let _ = s
            .client
            .call::<_, protobuf::well_known_types::empty::Empty>("Shutdown", &sreq)
            .await;
        self.shims.0.lock().await.remove(&(ns.clone(), id.clone()));
        let rootfs = s.bundle.join("rootfs");
        let c = std::ffi::CString::new(rootfs.display().to_string()).unwrap_or_default();
        // SAFETY: valid path; the shim normally unmounted it already.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        self.discard_bundle(&s.bundle);
        Ok(api::DeleteResponse {
            id,
            pid: resp.pid,
            exit_status: resp.exit_status,
            exited_at: ts(&resp.exited_at),
        })
    }

    async fn state(&self, ns: &str, id: &str, exec_id: &str) -> Result<tv1::Process, Status> {
        let s = self.shim_for(ns, id).await?;
        let mut req = shim::StateRequest::new();
        req.id = id.to_owned();
        req.exec_id = exec_id.to_owned();
        let st: shim::StateResponse = s.client.call("State", &req).await.map_err(ttrpc_status)?;
        Ok(tv1::Process {
            container_id: id.to_owned(),
            id: if exec_id.is_empty() {
                id.to_owned()
            } else {
                exec_id.to_owned()
            },
            pid: st.pid,
            status: st.status.value(),
            stdin: st.stdin.clone(),
            stdout: st.stdout.clone(),
            stderr: st.stderr.clone(),
            terminal: st.terminal,
            exit_status: st.exit_status,
            exited_at: ts(&st.exited_at),
        })
    }

    pub async fn dispatch_tasks(
        self: Arc<Self>,
        path: &str,
        req: http::Request<Body>,
    ) -> HttpResponse {
        let d = self;
        let method = path.rsplit('/').next().unwrap_or("").to_owned();
        grpc::dispatch!(method.as_str(), req, unknown path, {
            "Create" => unary(r, api::CreateTaskRequest) {
                let ns = namespace(&r)?;
                d.create_task(ns, r.into_inner()).await
            }
            "Start" => unary(r, api::StartRequest) {
                let (ns, r) = (namespace(&r)?, r.into_inner());
                d.relay::<_, api::StartResponse>(&ns, &r.container_id, "Start", &r).await
            }
            "Delete" => unary(r, api::DeleteTaskRequest) {
                let ns = namespace(&r)?;
                d.delete_task(ns, r.into_inner().container_id).await
            }
            "DeleteProcess" => unary(r, api::DeleteProcessRequest) {
                let (ns, r) = (namespace(&r)?, r.into_inner());
                // The request relays as it is; the shim's answer has no id field, so
                // its fields sit one number lower than the API's.
                let shim = d.shim_for(&ns, &r.container_id).await?;
                let q: shim::DeleteRequest = to_pb(&r);
                let resp: shim::DeleteResponse = shim.client.call("Delete", &q).await.map_err(ttrpc_status)?;
                Ok(api::DeleteResponse { id: r.exec_id, pid: resp.pid, exit_status: resp.exit_status, exited_at: ts(&resp.exited_at) })
            }
            "Get" => unary(r, api::GetRequest) {
                let ns = namespace(&r)?;
                let r = r.into_inner();
                let p = d.state(&ns, &r.container_id, &r.exec_id).await?;
                Ok(api::GetResponse { process: Some(p) })
            }
            "List" => unary(r, api::ListTasksRequest) {
                let ns = namespace(&r)?;
                let ids: Vec<String> = d.shims.0.lock().await.keys().filter(|(n, _)| n == &ns).map(|(_, id)| id.clone()).collect();
                let mut tasks = Vec::new();
                for id in ids {
                    if let Ok(p) = d.state(&ns, &id, "").await {
                        tasks.push(p);
                    }
                }
                Ok(api::ListTasksResponse { tasks })
            }
            "Kill" => unary(r, api::KillRequest) {
                let (ns, r) = (namespace(&r)?, r.into_inner());
                d.relay::<_, ()>(&ns, &r.container_id, "Kill", &r).await
            }
            "Exec" => unary(r, api::ExecProcessRequest) {
                let (ns, r) = (namespace(&r)?, r.into_inner());
                if r.exec_id.is_empty() {
                    return Err(Status::invalid_argument("exec id must not be empty: invalid argument"));
                }
                // The shim numbers Exec's fields differently: no relay as it is.
                let mut q = shim::ExecProcessRequest::new();
                q.id = r.container_id.clone();
                q.exec_id = r.exec_id;
                q.terminal = r.terminal;
                q.stdin = r.stdin;
                q.stdout = r.stdout;
                q.stderr = r.stderr;
                q.spec = pb_any(&r.spec);
                let q = protobuf::Message::write_to_bytes(&q).map_err(|e| Status::internal(e.to_string()))?;
                d.relay_encoded::<api::ExecProcessResponse>(&ns, &r.container_id, "Exec", q).await
            }
            "ResizePty" => unary(r, api::ResizePtyRequest) {
                let (ns, r) = (namespace(&r)?, r.into_inner());
                d.relay::<_, ()>(&ns, &r.container_id, "ResizePty", &r).await
            }
            "CloseIO" => unary(r, api::CloseIoRequest) {
                let (ns, r) = (namespace(&r)?, r.into_inner());
                d.relay::<_, ()>(&ns, &r.container_id, "CloseIO", &r).await
            }
            "Pause" => unary(r, api::PauseTaskRequest) {
                let (ns, r) = (namespace(&r)?, r.into_inner());
                d.relay::<_, ()>(&ns, &r.container_id, "Pause", &r).await
            }
            "Resume" => unary(r, api::ResumeTaskRequest) {
                let (ns, r) = (namespace(&r)?, r.into_inner());
                d.relay::<_, ()>(&ns, &r.container_id, "Resume", &r).await
            }
            "ListPids" => unary(r, api::ListPidsRequest) {
                let (ns, r) = (namespace(&r)?, r.into_inner());
                d.relay::<_, api::ListPidsResponse>(&ns, &r.container_id, "Pids", &r).await
            }
            "Checkpoint" => unary(_, api::CheckpointTaskRequest) {
                Err::<api::CheckpointTaskResponse, _>(Status::unimplemented(
                    "checkpoint is not supported by this containerd (no CRIU integration): not implemented",
                ))
            }
            "Update" => unary(r, api::UpdateTaskRequest) {
                let (ns, r) = (namespace(&r)?, r.into_inner());
                d.relay::<_, ()>(&ns, &r.container_id, "Update", &r).await
            }
            "Metrics" => unary(r, api::MetricsRequest) {
                let ns = namespace(&r)?;
                let filters = super::filter::Filters::parse(&r.into_inner().filters).map_err(super::errors::from_filter)?;
                let ids: Vec<String> = d.shims.0.lock().await.keys().filter(|(n, _)| n == &ns).map(|(_, id)| id.clone()).filter(|id| filters.matches(|f| (f == "id").then(|| id.clone()))).collect();
                let mut metrics = Vec::new();
                for id in ids {
                    let Ok(s) = d.shim_for(&ns, &id).await else { continue };
                    let mut q = shim::StatsRequest::new();
                    q.id = id.clone();
                    if let Ok(resp) = s.client.call::<_, shim::StatsResponse>("Stats", &q).await {
                        metrics.push(Metric {
                            timestamp: Some(std::time::SystemTime::now().into()),
                            id,
                            data: resp.stats.as_ref().map(from_pb),
                        });
                    }
                }
                Ok(api::MetricsResponse { metrics })
            }
            "Wait" => unary(r, api::WaitRequest) {
                let (ns, r) = (namespace(&r)?, r.into_inner());
                d.relay::<_, api::WaitResponse>(&ns, &r.container_id, "Wait", &r).await
            }
        })
    }
}
