//! `ctr run` and `ctr tasks exec`: containers from images, their tasks, and the
//! client side of task stdio (fifos under /run/containerd/fifo, as containerd's cio).

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::thread::JoinHandle;

use anyhow::{bail, Context};
use containerd_client::services::v1 as api;
use containerd_client::services::v1::snapshots as snap;

use super::client::{status, Client};
use super::image;

pub struct RunArgs {
    pub image: String,
    pub id: String,
    pub args: Vec<String>,
    pub rm: bool,
    pub tty: bool,
    pub detach: bool,
    pub runtime: String,
    pub runc_binary: Option<String>,
    pub snapshotter: String,
    pub env: Vec<String>,
    pub cwd: Option<String>,
}

/// The fifos of one process and the threads copying them.
pub struct Fifos {
    dir: PathBuf,
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
    threads: Vec<JoinHandle<()>>,
}

fn mkfifo(p: &std::path::Path) -> anyhow::Result<()> {
    let c = std::ffi::CString::new(p.display().to_string())?;
    // SAFETY: valid path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o700) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("mkfifo {}", p.display()));
    }
    Ok(())
}

impl Fifos {
    pub fn new(id: &str, tty: bool) -> anyhow::Result<Fifos> {
        let dir = PathBuf::from("/run/containerd/fifo").join(format!(
            "{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_nanos()
                % 10_000_000_000
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let p = |s: &str| dir.join(format!("{id}-{s}"));
        mkfifo(&p("stdin"))?;
        mkfifo(&p("stdout"))?;
        if !tty {
            mkfifo(&p("stderr"))?;
        }
        Ok(Fifos {
            stdin: p("stdin").display().to_string(),
            stdout: p("stdout").display().to_string(),
            stderr: if tty {
                String::new()
            } else {
                p("stderr").display().to_string()
            },
            dir,
            threads: Vec::new(),
        })
    }

    /// Start copying: our stdin into the process, its output to ours.
    pub fn copy(&mut self) {
        let stdin = self.stdin.clone();
        std::thread::spawn(move || {
            if let Ok(mut f) = OpenOptions::new().write(true).open(&stdin) {
                let _ = std::io::copy(&mut std::io::stdin(), &mut f);
            }
        });
        let out = self.stdout.clone();
        self.threads.push(std::thread::spawn(move || {
            if let Ok(mut f) = OpenOptions::new().read(true).open(&out) {
                let _ = std::io::copy(&mut f, &mut std::io::stdout());
            }
        }));
        if !self.stderr.is_empty() {
            let err = self.stderr.clone();
            self.threads.push(std::thread::spawn(move || {
                if let Ok(mut f) = OpenOptions::new().read(true).open(&err) {
                    let _ = std::io::copy(&mut f, &mut std::io::stderr());
                }
            }));
        }
    }

    /// Wait for the output to be complete, then remove the fifos.
    pub fn finish(mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let _ = std::io::Write::flush(&mut std::io::stdout());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Put the terminal in raw mode for the life of the value.
struct RawTerminal(Option<libc::termios>);

impl RawTerminal {
    fn new() -> RawTerminal {
        // SAFETY: tcgetattr/tcsetattr on fd 0 with a valid termios.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return RawTerminal(None);
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(0, libc::TCSANOW, &t);
            RawTerminal(Some(saved))
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(t) = self.0 {
            // SAFETY: restoring the saved attributes of fd 0.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        }
    }
}

fn winsize() -> (u32, u32) {
    // SAFETY: TIOCGWINSZ fills a winsize struct.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) == 0 {
            return (ws.ws_col as u32, ws.ws_row as u32);
        }
    }
    (80, 24)
}

pub async fn run(c: &Client, a: RunArgs) -> anyhow::Result<i32> {
    let img = c
        .images()
        .get(c.req(api::GetImageRequest {
            name: a.image.clone(),
        }))
        .await
        .map_err(status)?
        .into_inner()
        .image
        .unwrap_or_default();
    let target = img.target.unwrap_or_default();
    let top = image::unpack_image(c, &target, &a.snapshotter).await?;
    let (config, _) = image::config_of(c, &target).await?;
    let spec = super::spec::generate(
        &config,
        super::spec::Options {
            namespace: &c.namespace,
            id: &a.id,
            args: a.args.clone(),
            terminal: a.tty,
            env: a.env.clone(),
            cwd: a.cwd.clone(),
            rootfs: "rootfs".into(),
        },
    );
    let mounts = c
        .snapshots()
        .prepare(c.req(snap::PrepareSnapshotRequest {
            snapshotter: a.snapshotter.clone(),
            key: a.id.clone(),
            parent: top,
            labels: HashMap::new(),
        }))
        .await
        .map_err(status)?
        .into_inner()
        .mounts;
    let options = a.runc_binary.as_ref().map(|b| {
        let o = crate::shim::RuncOptions {
            binary_name: b.clone(),
            ..Default::default()
        };
        prost_types::Any {
            type_url: "containerd.runc.v1.Options".into(),
            value: prost::Message::encode_to_vec(&o),
        }
    });
    let container = api::Container {
        id: a.id.clone(),
        image: a.image.clone(),
        runtime: Some(api::container::Runtime {
            name: a.runtime.clone(),
            options: options.clone(),
        }),
        spec: Some(prost_types::Any {
            type_url: "types.containerd.io/opencontainers/runtime-spec/1/Spec".into(),
            value: serde_json::to_vec(&spec)?,
        }),
        snapshotter: a.snapshotter.clone(),
        snapshot_key: a.id.clone(),
        ..Default::default()
    };
    if let Err(s) = c
        .containers()
        .create(c.req(api::CreateContainerRequest {
            container: Some(container),
        }))
        .await
    {
        let _ = c
            .snapshots()
            .remove(c.req(snap::RemoveSnapshotRequest {
                snapshotter: a.snapshotter.clone(),
                key: a.id.clone(),
            }))
            .await;
        return Err(status(s));
    }
    let mut fifos = if a.detach {
        None
    } else {
        Some(Fifos::new(&a.id, a.tty)?)
    };
    let (stdin, stdout, stderr) = match &fifos {
        Some(f) => (f.stdin.clone(), f.stdout.clone(), f.stderr.clone()),
        None => Default::default(),
    };
    if let Some(f) = fifos.as_mut() {
        f.copy();
    }
    let created = c
        .tasks()
        .create(c.req(api::CreateTaskRequest {
            container_id: a.id.clone(),
            rootfs: mounts,
            stdin,
            stdout,
            stderr,
            terminal: a.tty,
            checkpoint: None,
            options,
            runtime_path: String::new(),
        }))
        .await;
    if let Err(s) = created {
        if a.rm {
            remove_container(c, &a.id, &a.snapshotter).await;
        }
        if let Some(f) = fifos {
            let _ = std::fs::remove_dir_all(&f.dir);
        }
        return Err(status(s));
    }
    if a.detach {
        c.tasks()
            .start(c.req(api::StartRequest {
                container_id: a.id.clone(),
                exec_id: String::new(),
            }))
            .await
            .map_err(status)?;
        return Ok(0);
    }
    let raw = a.tty.then(RawTerminal::new);
    let wait = {
        let mut t = c.tasks();
        let req = c.req(api::WaitRequest {
            container_id: a.id.clone(),
            exec_id: String::new(),
        });
        tokio::spawn(async move { t.wait(req).await })
    };
    c.tasks()
        .start(c.req(api::StartRequest {
            container_id: a.id.clone(),
            exec_id: String::new(),
        }))
        .await
        .map_err(status)?;
    if a.tty {
        let (w, h) = winsize();
        let _ = c
            .tasks()
            .resize_pty(c.req(api::ResizePtyRequest {
                container_id: a.id.clone(),
                exec_id: String::new(),
                width: w,
                height: h,
            }))
            .await;
    }
    let code = wait.await?.map_err(status)?.into_inner().exit_status;
    drop(raw);
    if let Some(f) = fifos {
        tokio::task::spawn_blocking(move || f.finish()).await?;
    }
    if a.rm {
        let _ = c
            .tasks()
            .delete(c.req(api::DeleteTaskRequest {
                container_id: a.id.clone(),
            }))
            .await;
        remove_container(c, &a.id, &a.snapshotter).await;
    }
    Ok(code as i32)
}

async fn remove_container(c: &Client, id: &str, snapshotter: &str) {
    let _ = c
        .containers()
        .delete(c.req(api::DeleteContainerRequest { id: id.to_owned() }))
        .await;
    let _ = c
        .snapshots()
        .remove(c.req(snap::RemoveSnapshotRequest {
            snapshotter: snapshotter.to_owned(),
            key: id.to_owned(),
        }))
        .await;
}

/// `ctr tasks exec`: a process in a running task, from the container's process spec.
pub async fn exec(
    c: &Client,
    id: &str,
    exec_id: &str,
    tty: bool,
    args: Vec<String>,
) -> anyhow::Result<i32> {
    if exec_id.is_empty() {
        bail!("exec-id must be provided");
    }
    let container = c
        .containers()
        .get(c.req(api::GetContainerRequest { id: id.to_owned() }))
        .await
        .map_err(status)?
        .into_inner()
        .container
        .unwrap_or_default();
    let spec: serde_json::Value = serde_json::from_slice(&container.spec.unwrap_or_default().value)
        .context("parsing the container spec")?;
    let mut process = spec["process"].clone();
    process["args"] = serde_json::json!(args);
    process["terminal"] = serde_json::json!(tty);
    let mut fifos = Fifos::new(exec_id, tty)?;
    fifos.copy();
    c.tasks()
        .exec(c.req(api::ExecProcessRequest {
            container_id: id.to_owned(),
            stdin: fifos.stdin.clone(),
            stdout: fifos.stdout.clone(),
            stderr: fifos.stderr.clone(),
            terminal: tty,
            spec: Some(prost_types::Any {
                type_url: "types.containerd.io/opencontainers/runtime-spec/1/Process".into(),
                value: serde_json::to_vec(&process)?,
            }),
            exec_id: exec_id.to_owned(),
        }))
        .await
        .map_err(status)?;
    let raw = tty.then(RawTerminal::new);
    let wait = {
        let mut t = c.tasks();
        let req = c.req(api::WaitRequest {
            container_id: id.to_owned(),
            exec_id: exec_id.to_owned(),
        });
        tokio::spawn(async move { t.wait(req).await })
    };
    c.tasks()
        .start(c.req(api::StartRequest {
            container_id: id.to_owned(),
            exec_id: exec_id.to_owned(),
        }))
        .await
        .map_err(status)?;
    let code = wait.await?.map_err(status)?.into_inner().exit_status;
    drop(raw);
    tokio::task::spawn_blocking(move || fifos.finish()).await?;
    let _ = c
        .tasks()
        .delete_process(c.req(api::DeleteProcessRequest {
            container_id: id.to_owned(),
            exec_id: exec_id.to_owned(),
        }))
        .await;
    Ok(code as i32)
}
