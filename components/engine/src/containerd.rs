//! The containerd client: the few task and container calls dockerd makes, in namespace
//! `moby` with runtime `io.containerd.runc.v2`, and the managed containerd child that
//! dockerd starts when no `--containerd` socket is given.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use containerd_client::services::v1::version_client::VersionClient;
use containerd_client::services::v1::{
    container::Runtime, containers_client::ContainersClient, tasks_client::TasksClient,
    CloseIoRequest, Container, CreateContainerRequest, CreateTaskRequest, DeleteContainerRequest,
    DeleteProcessRequest, DeleteTaskRequest, ExecProcessRequest, GetRequest, KillRequest,
    ListPidsRequest, PauseTaskRequest, ResizePtyRequest, ResumeTaskRequest, StartRequest,
    UpdateTaskRequest, WaitRequest,
};
use containerd_client::tonic::{transport::Channel, Code, Request, Status};
use prost_types::Any;

pub const RUNTIME: &str = "io.containerd.runc.v2";
const SPEC_TYPE: &str = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
const PROCESS_TYPE: &str = "types.containerd.io/opencontainers/runtime-spec/1/Process";
const RESOURCES_TYPE: &str = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";

#[derive(Debug, thiserror::Error)]
pub enum CtrdError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Rpc(String),
    #[error("cannot connect to containerd at {0}: {1}")]
    Connect(String, String),
}

impl From<Status> for CtrdError {
    fn from(s: Status) -> CtrdError {
        match s.code() {
            Code::NotFound => CtrdError::NotFound(s.message().to_string()),
            _ => CtrdError::Rpc(s.message().to_string()),
        }
    }
}

type Result<T> = std::result::Result<T, CtrdError>;

/// The process state containerd reports for a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    Running,
    Paused,
    Stopped,
    Other,
}

#[derive(Clone)]
pub struct Containerd {
    channel: Channel,
    namespace: String,
}

/// Stdio paths handed to the shim (FIFOs made by dockerd).
#[derive(Debug, Default, Clone)]
pub struct Stdio3 {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
    pub terminal: bool,
}

impl Containerd {
    pub async fn connect(socket: &str, namespace: &str) -> Result<Containerd> {
        let path = socket.strip_prefix("unix://").unwrap_or(socket).to_string();
        let mut last = String::new();
        for _ in 0..100 {
            match containerd_client::connect(&path).await {
                Ok(channel) => {
                    return Ok(Containerd {
                        channel,
                        namespace: namespace.to_string(),
                    })
                }
                Err(e) => last = format!("{e:?}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(CtrdError::Connect(path, last))
    }

    fn req<T>(&self, msg: T) -> Request<T> {
        let mut r = Request::new(msg);
        r.metadata_mut()
            .insert("containerd-namespace", self.namespace.parse().unwrap());
        r
    }

    fn tasks(&self) -> TasksClient<Channel> {
        TasksClient::new(self.channel.clone())
    }

    pub async fn create_container(
        &self,
        id: &str,
        image: &str,
        spec: &serde_json::Value,
        runtime_binary: Option<&str>,
    ) -> Result<()> {
        let options = runtime_binary.map(|bin| {
            // runc v2 shim options (containerd.runc.v1.Options): field 6 is binary_name.
            let mut value = vec![0x32];
            encode_varint(bin.len() as u64, &mut value);
            value.extend_from_slice(bin.as_bytes());
            Any {
                type_url: "containerd.runc.v1.Options".into(),
                value,
            }
        });
        let container = Container {
            id: id.to_string(),
            image: image.to_string(),
            runtime: Some(Runtime {
                name: RUNTIME.to_string(),
                options,
            }),
            spec: Some(Any {
                type_url: SPEC_TYPE.to_string(),
                value: serde_json::to_vec(spec).unwrap(),
            }),
            ..Default::default()
        };
        let mut c = ContainersClient::new(self.channel.clone());
        let create = CreateContainerRequest {
            container: Some(container),
        };
        match c.create(self.req(create.clone())).await {
            // A leftover of an earlier run (dockerd killed) is replaced.
            Err(s) if s.code() == Code::AlreadyExists => {
                let _ = self.delete_container(id).await;
                c.create(self.req(create)).await?;
            }
            r => {
                r?;
            }
        }
        Ok(())
    }

    pub async fn delete_container(&self, id: &str) -> Result<()> {
        let mut c = ContainersClient::new(self.channel.clone());
        c.delete(self.req(DeleteContainerRequest { id: id.to_string() }))
            .await?;
        Ok(())
    }

    pub async fn create_task(&self, id: &str, io: &Stdio3) -> Result<u32> {
        let r = self
            .tasks()
            .create(self.req(CreateTaskRequest {
                container_id: id.to_string(),
                stdin: io.stdin.clone(),
                stdout: io.stdout.clone(),
                stderr: io.stderr.clone(),
                terminal: io.terminal,
                ..Default::default()
            }))
            .await?;
        Ok(r.into_inner().pid)
    }

    pub async fn start(&self, id: &str, exec_id: &str) -> Result<u32> {
        let r = self
            .tasks()
            .start(self.req(StartRequest {
                container_id: id.to_string(),
                exec_id: exec_id.to_string(),
            }))
            .await?;
        Ok(r.into_inner().pid)
    }

    /// containerd's version and revision, from its Version service.
    pub async fn server_version(&self) -> Result<(String, String)> {
        let r = VersionClient::new(self.channel.clone())
            .version(Request::new(()))
            .await?
            .into_inner();
        Ok((r.version, r.revision))
    }

    /// Block until the process exits; its exit status.
    pub async fn wait(&self, id: &str, exec_id: &str) -> Result<u32> {
        let r = self
            .tasks()
            .wait(self.req(WaitRequest {
                container_id: id.to_string(),
                exec_id: exec_id.to_string(),
            }))
            .await?;
        Ok(r.into_inner().exit_status)
    }

    pub async fn kill(&self, id: &str, exec_id: &str, signal: u32, all: bool) -> Result<()> {
        self.tasks()
            .kill(self.req(KillRequest {
                container_id: id.to_string(),
                exec_id: exec_id.to_string(),
                signal,
                all,
            }))
            .await?;
        Ok(())
    }

    pub async fn delete_task(&self, id: &str) -> Result<()> {
        self.tasks()
            .delete(self.req(DeleteTaskRequest {
                container_id: id.to_string(),
            }))
            .await?;
        Ok(())
    }

    pub async fn delete_process(&self, id: &str, exec_id: &str) -> Result<()> {
        self.tasks()
            .delete_process(self.req(DeleteProcessRequest {
                container_id: id.to_string(),
                exec_id: exec_id.to_string(),
            }))
            .await?;
        Ok(())
    }

    pub async fn exec(
        &self,
        id: &str,
        exec_id: &str,
        process: &serde_json::Value,
        io: &Stdio3,
    ) -> Result<()> {
        self.tasks()
            .exec(self.req(ExecProcessRequest {
                container_id: id.to_string(),
                exec_id: exec_id.to_string(),
                stdin: io.stdin.clone(),
                stdout: io.stdout.clone(),
                stderr: io.stderr.clone(),
                terminal: io.terminal,
                spec: Some(Any {
                    type_url: PROCESS_TYPE.to_string(),
                    value: serde_json::to_vec(process).unwrap(),
                }),
            }))
            .await?;
        Ok(())
    }

    pub async fn resize(&self, id: &str, exec_id: &str, width: u32, height: u32) -> Result<()> {
        self.tasks()
            .resize_pty(self.req(ResizePtyRequest {
                container_id: id.to_string(),
                exec_id: exec_id.to_string(),
                width,
                height,
            }))
            .await?;
        Ok(())
    }

    /// End a process's input: the shim keeps its side of the stdin FIFO open, so only
    /// this call makes the process read EOF.
    pub async fn close_stdin(&self, id: &str, exec_id: &str) -> Result<()> {
        self.tasks()
            .close_io(self.req(CloseIoRequest {
                container_id: id.to_string(),
                exec_id: exec_id.to_string(),
                stdin: true,
            }))
            .await?;
        Ok(())
    }

    /// Change a running task's cgroup limits (`resources`: runtime-spec LinuxResources).
    pub async fn update_resources(&self, id: &str, resources: &serde_json::Value) -> Result<()> {
        self.tasks()
            .update(self.req(UpdateTaskRequest {
                container_id: id.to_string(),
                resources: Some(Any {
                    type_url: RESOURCES_TYPE.to_string(),
                    value: serde_json::to_vec(resources).unwrap(),
                }),
                annotations: Default::default(),
            }))
            .await?;
        Ok(())
    }

    pub async fn pause(&self, id: &str) -> Result<()> {
        self.tasks()
            .pause(self.req(PauseTaskRequest {
                container_id: id.to_string(),
            }))
            .await?;
        Ok(())
    }

    pub async fn resume(&self, id: &str) -> Result<()> {
        self.tasks()
            .resume(self.req(ResumeTaskRequest {
                container_id: id.to_string(),
            }))
            .await?;
        Ok(())
    }

    pub async fn pids(&self, id: &str) -> Result<Vec<u32>> {
        let r = self
            .tasks()
            .list_pids(self.req(ListPidsRequest {
                container_id: id.to_string(),
            }))
            .await?;
        Ok(r.into_inner().processes.iter().map(|p| p.pid).collect())
    }

    /// The task's status and pid, or `None` when containerd has no task for `id`.
    pub async fn task(&self, id: &str) -> Result<Option<(TaskStatus, u32)>> {
        match self
            .tasks()
            .get(self.req(GetRequest {
                container_id: id.to_string(),
                exec_id: String::new(),
            }))
            .await
        {
            Ok(r) => {
                let p = r.into_inner().process.unwrap_or_default();
                let st = match p.status {
                    2 => TaskStatus::Running,
                    4 | 5 => TaskStatus::Paused,
                    3 => TaskStatus::Stopped,
                    _ => TaskStatus::Other,
                };
                Ok(Some((st, p.pid)))
            }
            Err(s) if s.code() == Code::NotFound => Ok(None),
            Err(s) => Err(s.into()),
        }
    }
}

fn encode_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// containerd started and owned by dockerd (when `--containerd` is not given).
pub struct ManagedContainerd {
    child: Child,
    pub socket: PathBuf,
}

impl ManagedContainerd {
    /// Start the `containerd` next to this executable, else the one on PATH, with its
    /// state under dockerd's exec root and data root.
    pub fn start(
        data_root: &Path,
        exec_root: &Path,
        debug: bool,
    ) -> std::io::Result<ManagedContainerd> {
        let dir = exec_root.join("containerd");
        std::fs::create_dir_all(&dir)?;
        let socket = dir.join("containerd.sock");
        let config = dir.join("containerd.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = {:?}\nstate = {:?}\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = {:?}\n",
                data_root.join("containerd/daemon").display().to_string(),
                dir.join("daemon").display().to_string(),
                socket.display().to_string(),
            ),
        )?;
        let beside = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("containerd")))
            .filter(|p| p.exists());
        let bin = beside.unwrap_or_else(|| PathBuf::from("containerd"));
        let log = std::fs::File::create(dir.join("containerd.log"))?;
        let mut cmd = Command::new(&bin);
        cmd.arg("--config").arg(&config);
        if debug {
            cmd.args(["--log-level", "debug"]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                std::io::Error::new(e.kind(), format!("starting {}: {e}", bin.display()))
            })?;
        Ok(ManagedContainerd { child, socket })
    }

    pub fn stop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}
