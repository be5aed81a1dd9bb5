//! The shim v2 task service over ttrpc: one container per shim, its init process and
//! exec'd processes, driven through runc; exits and state changes are published to
//! containerd as events.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use containerd_client::events as ev;
use containerd_shim_protos::api;
use containerd_shim_protos::api::{ProcessInfo, Status};
use containerd_shim_protos::protobuf::well_known_types::{
    any::Any, empty::Empty, timestamp::Timestamp,
};
use containerd_shim_protos::protobuf::{self, EnumOrUnknown, MessageField};
use tokio::sync::{Mutex, Notify};
use ttrpc::r#async::TtrpcContext;

use super::events::Publisher;
use super::reaper::Reaper;
use super::runc::Runc;
use super::stdio::Io;

type TResult<T> = ttrpc::Result<T>;

fn err(code: ttrpc::Code, msg: impl Into<String>) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, msg.into()))
}

fn not_found(what: &str) -> ttrpc::Error {
    err(ttrpc::Code::NOT_FOUND, format!("{what}: not found"))
}

/// runc's `Options` (type `containerd.runc.v1.Options`), the fields the shim uses.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RuncOptions {
    #[prost(bool, tag = "1")]
    pub no_pivot_root: bool,
    #[prost(string, tag = "6")]
    pub binary_name: String,
    #[prost(string, tag = "7")]
    pub root: String,
    #[prost(bool, tag = "9")]
    pub systemd_cgroup: bool,
}

struct Process {
    pid: i32,
    stdin: String,
    stdout: String,
    stderr: String,
    terminal: bool,
    started: bool,
    exit: Option<(u32, SystemTime)>,
    io: Io,
    spec: Vec<u8>,
}

impl Process {
    fn status(&self, paused: bool) -> Status {
        match (&self.exit, self.started, paused) {
            (Some(_), _, _) => Status::STOPPED,
            (None, _, true) => Status::PAUSED,
            (None, true, _) => Status::RUNNING,
            (None, false, _) => Status::CREATED,
        }
    }
}

struct Container {
    id: String,
    bundle: PathBuf,
    runc: Runc,
    init: Process,
    execs: HashMap<String, Process>,
    paused: bool,
}

pub struct Service {
    pub namespace: String,
    pub reaper: Arc<Reaper>,
    pub publisher: Arc<Publisher>,
    state: Mutex<Option<Container>>,
    exited: Notify,
    /// Set once the container is gone and the shim may exit.
    pub shutdown: Notify,
}

fn ts(t: SystemTime) -> MessageField<Timestamp> {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut x = Timestamp::new();
    x.seconds = d.as_secs() as i64;
    x.nanos = d.subsec_nanos() as i32;
    MessageField::some(x)
}

fn prost_ts(t: SystemTime) -> Option<prost_types::Timestamp> {
    Some(t.into())
}

/// Detach everything mounted on `target`. The last reference to an overlay mount tears
/// its superblock down, which syncs the whole upper filesystem and can take tens of
/// milliseconds; an `O_PATH` descriptor on the mount keeps that reference here, so the
/// detach returns at once and the teardown runs on a thread when the descriptor closes.
/// The mount is out of every path before this returns.
fn unmount_all(target: &Path) {
    let c = std::ffi::CString::new(target.display().to_string()).unwrap_or_default();
    // SAFETY: valid path; a failed open (nothing there) gives -1, which is not kept.
    let held = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    for _ in 0..16 {
        // SAFETY: valid path; stops once nothing is mounted there any more.
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
            break;
        }
    }
    if held >= 0 {
        // SAFETY: `held` is our own descriptor, closed exactly once.
        let close = move || unsafe {
            libc::close(held);
        };
        if std::thread::Builder::new()
            .name("umount".into())
            .stack_size(64 * 1024)
            .spawn(close)
            .is_err()
        {
            // SAFETY: the thread did not start, so the descriptor is still ours.
            unsafe { libc::close(held) };
        }
    }
}

/// Mount the rootfs mounts (snapshot mounts from containerd) on `<bundle>/rootfs`.
fn mount_rootfs(mounts: &[api::Mount], target: &Path) -> std::io::Result<()> {
    for m in mounts {
        let mut flags: libc::c_ulong = 0;
        let mut data = Vec::new();
        for o in &m.options {
            match o.as_str() {
                "ro" => flags |= libc::MS_RDONLY,
                "rw" => {}
                "bind" => flags |= libc::MS_BIND,
                "rbind" => flags |= libc::MS_BIND | libc::MS_REC,
                "nosuid" => flags |= libc::MS_NOSUID,
                "nodev" => flags |= libc::MS_NODEV,
                "noexec" => flags |= libc::MS_NOEXEC,
                other => data.push(other.to_owned()),
            }
        }
        let c = |s: &str| std::ffi::CString::new(s).map_err(std::io::Error::other);
        let src = c(&m.source)?;
        let tgt = c(&target.display().to_string())?;
        let fstype = c(&m.type_)?;
        let d = c(&data.join(","))?;
        // SAFETY: all pointers are valid NUL-terminated strings for the call.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                tgt.as_ptr(),
                fstype.as_ptr(),
                flags & !libc::MS_RDONLY,
                d.as_ptr().cast(),
            )
        };
        if rc != 0 {
            return Err(std::io::Error::other(format!(
                "mount {} ({}) on {}: {}",
                m.source,
                m.type_,
                target.display(),
                std::io::Error::last_os_error()
            )));
        }
        if flags & libc::MS_BIND != 0 && flags & libc::MS_RDONLY != 0 {
            // SAFETY: as above; a bind mount becomes read-only only by a remount.
            unsafe {
                libc::mount(
                    std::ptr::null(),
                    tgt.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY,
                    std::ptr::null(),
                )
            };
        }
    }
    Ok(())
}

impl Service {
    pub fn new(namespace: String, reaper: Arc<Reaper>, publisher: Arc<Publisher>) -> Service {
        Service {
            namespace,
            reaper,
            publisher,
            state: Mutex::new(None),
            exited: Notify::new(),
            shutdown: Notify::new(),
        }
    }

    /// Watch `pid`; record its exit and tell containerd.
    fn monitor(self: &Arc<Self>, id: String, exec_id: String, pid: i32) {
        let me = self.clone();
        tokio::spawn(async move {
            let status = me.reaper.wait(pid).await;
            let now = SystemTime::now();
            {
                let mut st = me.state.lock().await;
                if let Some(c) = st.as_mut() {
                    let p = if exec_id.is_empty() {
                        Some(&mut c.init)
                    } else {
                        c.execs.get_mut(&exec_id)
                    };
                    if let Some(p) = p {
                        if p.pid == pid {
                            p.exit = Some((status as u32, now));
                        }
                    }
                }
            }
            me.exited.notify_waiters();
            let eid = if exec_id.is_empty() {
                id.clone()
            } else {
                exec_id
            };
            me.publisher.publish(
                "/tasks/exit",
                &ev::TaskExit {
                    container_id: id,
                    id: eid,
                    pid: pid as u32,
                    exit_status: status as u32,
                    exited_at: prost_ts(now),
                },
            );
        });
    }

    async fn wait_exit(&self, exec_id: &str) -> TResult<(u32, SystemTime)> {
        loop {
            let n = self.exited.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            {
                let st = self.state.lock().await;
                let c = st.as_ref().ok_or_else(|| not_found("container"))?;
                let p = if exec_id.is_empty() {
                    Some(&c.init)
                } else {
                    c.execs.get(exec_id)
                };
                let p = p.ok_or_else(|| not_found(&format!("process {exec_id}")))?;
                if let Some(e) = p.exit {
                    return Ok(e);
                }
            }
            n.await;
        }
    }

    async fn do_create(
        self: &Arc<Self>,
        req: api::CreateTaskRequest,
    ) -> TResult<api::CreateTaskResponse> {
        let mut st = self.state.lock().await;
        if st.is_some() {
            return Err(err(
                ttrpc::Code::ALREADY_EXISTS,
                format!("container {}: already exists", req.id),
            ));
        }
        let opts: RuncOptions = req
            .options
            .as_ref()
            .map(|a| prost::Message::decode(a.value.as_slice()).unwrap_or_default())
            .unwrap_or_default();
        let binary = if opts.binary_name.is_empty() {
            "runc".to_owned()
        } else {
            opts.binary_name.clone()
        };
        let root = if opts.root.is_empty() {
            PathBuf::from("/run/containerd/runc").join(&self.namespace)
        } else {
            PathBuf::from(&opts.root).join(&self.namespace)
        };
        let bundle = PathBuf::from(&req.bundle);
        let _ = std::fs::write(
            bundle.join("runtime-options.json"),
            serde_json::json!({"binary": binary, "root": root}).to_string(),
        );
        let runc = Runc {
            binary,
            root,
            reaper: self.reaper.clone(),
        };
        let rootfs = bundle.join("rootfs");
        if !req.rootfs.is_empty() {
            std::fs::create_dir_all(&rootfs)
                .map_err(|e| err(ttrpc::Code::INTERNAL, e.to_string()))?;
            if let Err(e) = mount_rootfs(&req.rootfs, &rootfs) {
                unmount_all(&rootfs);
                return Err(err(
                    ttrpc::Code::INTERNAL,
                    format!("failed to mount rootfs component: {e}"),
                ));
            }
        }
        let fail = |msg: String| {
            unmount_all(&rootfs);
            err(ttrpc::Code::UNKNOWN, msg)
        };
        let (side, mut io) =
            Io::prepare(&req.stdin, &req.stdout, &req.stderr, req.terminal, &bundle)
                .map_err(|e| fail(format!("failed to create shim task io: {e}")))?;
        let pid_file = bundle.join("init.pid");
        let log = bundle.join("log.json");
        let mut args = vec!["create", "--bundle", &req.bundle, "--pid-file"];
        let pid_s = pid_file.display().to_string();
        args.push(&pid_s);
        let cs = side
            .console_socket
            .as_ref()
            .map(|p| p.display().to_string());
        if let Some(cs) = &cs {
            args.push("--console-socket");
            args.push(cs);
        }
        if opts.no_pivot_root {
            args.push("--no-pivot");
        }
        args.push(&req.id);
        if let Err(e) = runc.run(&args, None, Some(side), Some(&log)).await {
            return Err(fail(format!("OCI runtime create failed: {e}: unknown")));
        }
        io.finish()
            .map_err(|e| fail(format!("failed to get the console: {e}")))?;
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| fail("runc create wrote no pid file".into()))?;
        *st = Some(Container {
            id: req.id.clone(),
            bundle: bundle.clone(),
            runc,
            init: Process {
                pid,
                stdin: req.stdin.clone(),
                stdout: req.stdout.clone(),
                stderr: req.stderr.clone(),
                terminal: req.terminal,
                started: false,
                exit: None,
                io,
                spec: Vec::new(),
            },
            execs: HashMap::new(),
            paused: false,
        });
        drop(st);
        self.monitor(req.id.clone(), String::new(), pid);
        self.publisher.publish(
            "/tasks/create",
            &ev::TaskCreate {
                container_id: req.id.clone(),
                bundle: req.bundle.clone(),
                rootfs: req
                    .rootfs
                    .iter()
                    .map(|m| containerd_client::types::Mount {
                        r#type: m.type_.clone(),
                        source: m.source.clone(),
                        target: m.target.clone(),
                        options: m.options.clone(),
                    })
                    .collect(),
                io: Some(ev::TaskIo {
                    stdin: req.stdin,
                    stdout: req.stdout,
                    stderr: req.stderr,
                    terminal: req.terminal,
                }),
                checkpoint: String::new(),
                pid: pid as u32,
            },
        );
        let mut resp = api::CreateTaskResponse::new();
        resp.pid = pid as u32;
        Ok(resp)
    }

    async fn do_start(self: &Arc<Self>, req: api::StartRequest) -> TResult<api::StartResponse> {
        let mut st = self.state.lock().await;
        let c = st.as_mut().ok_or_else(|| not_found("container"))?;
        let mut resp = api::StartResponse::new();
        if req.exec_id.is_empty() {
            if c.init.started {
                return Err(err(
                    ttrpc::Code::FAILED_PRECONDITION,
                    format!("container {} already started: failed precondition", c.id),
                ));
            }
            c.runc
                .run(&["start", &c.id], None, None, None)
                .await
                .map_err(|e| {
                    err(
                        ttrpc::Code::UNKNOWN,
                        format!("OCI runtime start failed: {e}: unknown"),
                    )
                })?;
            c.init.started = true;
            resp.pid = c.init.pid as u32;
            let (id, pid) = (c.id.clone(), c.init.pid);
            drop(st);
            self.publisher.publish(
                "/tasks/start",
                &ev::TaskStart {
                    container_id: id,
                    pid: pid as u32,
                },
            );
            return Ok(resp);
        }
        let (id, bundle, runc) = (c.id.clone(), c.bundle.clone(), c.runc.clone());
        let p = c
            .execs
            .get_mut(&req.exec_id)
            .ok_or_else(|| not_found(&format!("process {}", req.exec_id)))?;
        if p.started {
            return Err(err(
                ttrpc::Code::FAILED_PRECONDITION,
                format!(
                    "process {} already started: failed precondition",
                    req.exec_id
                ),
            ));
        }
        let spec_file = bundle.join(format!("exec-{}.json", req.exec_id));
        let pid_file = bundle.join(format!("exec-{}.pid", req.exec_id));
        std::fs::write(&spec_file, &p.spec)
            .map_err(|e| err(ttrpc::Code::INTERNAL, e.to_string()))?;
        let (side, mut io) = Io::prepare(&p.stdin, &p.stdout, &p.stderr, p.terminal, &bundle)
            .map_err(|e| {
                err(
                    ttrpc::Code::INTERNAL,
                    format!("failed to create exec io: {e}"),
                )
            })?;
        let (sf, pf) = (
            spec_file.display().to_string(),
            pid_file.display().to_string(),
        );
        let mut args = vec!["exec", "--process", &sf, "--detach", "--pid-file", &pf];
        let cs = side
            .console_socket
            .as_ref()
            .map(|p| p.display().to_string());
        if let Some(cs) = &cs {
            args.push("--console-socket");
            args.push(cs);
        }
        args.push(&id);
        let log = bundle.join(format!("exec-{}-log.json", req.exec_id));
        let res = runc.run(&args, None, Some(side), Some(&log)).await;
        let _ = std::fs::remove_file(&spec_file);
        let _ = std::fs::remove_file(&log);
        res.map_err(|e| {
            err(
                ttrpc::Code::UNKNOWN,
                format!("OCI runtime exec failed: {e}: unknown"),
            )
        })?;
        io.finish().map_err(|e| {
            err(
                ttrpc::Code::INTERNAL,
                format!("failed to get the console: {e}"),
            )
        })?;
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let _ = std::fs::remove_file(&pid_file);
        p.pid = pid;
        p.started = true;
        p.io = io;
        resp.pid = pid as u32;
        drop(st);
        self.monitor(id.clone(), req.exec_id.clone(), pid);
        self.publisher.publish(
            "/tasks/exec-started",
            &ev::TaskExecStarted {
                container_id: id,
                exec_id: req.exec_id,
                pid: pid as u32,
            },
        );
        Ok(resp)
    }

    async fn do_delete(self: &Arc<Self>, req: api::DeleteRequest) -> TResult<api::DeleteResponse> {
        let mut st = self.state.lock().await;
        let c = st.as_mut().ok_or_else(|| not_found("container"))?;
        let mut resp = api::DeleteResponse::new();
        if !req.exec_id.is_empty() {
            let p = c
                .execs
                .get(&req.exec_id)
                .ok_or_else(|| not_found(&format!("process {}", req.exec_id)))?;
            if p.started && p.exit.is_none() {
                return Err(err(
                    ttrpc::Code::FAILED_PRECONDITION,
                    format!(
                        "cannot delete running process {}: failed precondition",
                        req.exec_id
                    ),
                ));
            }
            let p = c.execs.remove(&req.exec_id).expect("checked above");
            let (code, at) = p.exit.unwrap_or((0, SystemTime::now()));
            resp.pid = p.pid as u32;
            resp.exit_status = code;
            resp.exited_at = ts(at);
            return Ok(resp);
        }
        if c.init.started && c.init.exit.is_none() {
            return Err(err(
                ttrpc::Code::FAILED_PRECONDITION,
                "cannot delete a running task: failed precondition",
            ));
        }
        c.runc
            .run(&["delete", "--force", &c.id], None, None, None)
            .await
            .map_err(|e| err(ttrpc::Code::UNKNOWN, format!("runc delete: {e}")))?;
        unmount_all(&c.bundle.join("rootfs"));
        let (code, at) = c
            .init
            .exit
            .unwrap_or((128 + libc::SIGKILL as u32, SystemTime::now()));
        resp.pid = c.init.pid as u32;
        resp.exit_status = code;
        resp.exited_at = ts(at);
        let c = st.take().expect("container present");
        drop(st);
        self.publisher.publish(
            "/tasks/delete",
            &ev::TaskDelete {
                container_id: c.id.clone(),
                pid: c.init.pid as u32,
                exit_status: code,
                exited_at: prost_ts(at),
                id: c.id.clone(),
            },
        );
        Ok(resp)
    }

    async fn do_state(&self, req: api::StateRequest) -> TResult<api::StateResponse> {
        let st = self.state.lock().await;
        let c = st.as_ref().ok_or_else(|| not_found("container"))?;
        let p = if req.exec_id.is_empty() {
            Some(&c.init)
        } else {
            c.execs.get(&req.exec_id)
        };
        let p = p.ok_or_else(|| not_found(&format!("process {}", req.exec_id)))?;
        let mut r = api::StateResponse::new();
        r.id = if req.exec_id.is_empty() {
            c.id.clone()
        } else {
            req.exec_id.clone()
        };
        r.bundle = c.bundle.display().to_string();
        r.pid = p.pid as u32;
        r.status = EnumOrUnknown::new(p.status(c.paused && req.exec_id.is_empty()));
        r.stdin = p.stdin.clone();
        r.stdout = p.stdout.clone();
        r.stderr = p.stderr.clone();
        r.terminal = p.terminal;
        if let Some((code, at)) = p.exit {
            r.exit_status = code;
            r.exited_at = ts(at);
        }
        r.exec_id = req.exec_id;
        Ok(r)
    }

    async fn do_kill(&self, req: api::KillRequest) -> TResult<Empty> {
        let st = self.state.lock().await;
        let c = st.as_ref().ok_or_else(|| not_found("container"))?;
        if req.exec_id.is_empty() {
            if c.init.exit.is_some() {
                return Err(not_found("process already finished"));
            }
            let sig = req.signal.to_string();
            let mut args = vec!["kill"];
            if req.all {
                args.push("--all");
            }
            args.push(&c.id);
            args.push(&sig);
            c.runc.run(&args, None, None, None).await.map_err(|e| {
                err(
                    ttrpc::Code::UNKNOWN,
                    format!("OCI runtime kill failed: {e}"),
                )
            })?;
            return Ok(Empty::new());
        }
        let p = c
            .execs
            .get(&req.exec_id)
            .ok_or_else(|| not_found(&format!("process {}", req.exec_id)))?;
        if p.exit.is_some() || !p.started {
            return Err(not_found("process already finished"));
        }
        // SAFETY: signalling a process this shim started and has not reaped.
        if unsafe { libc::kill(p.pid, req.signal as i32) } != 0 {
            return Err(err(
                ttrpc::Code::UNKNOWN,
                std::io::Error::last_os_error().to_string(),
            ));
        }
        Ok(Empty::new())
    }

    async fn do_pids(&self, _req: api::PidsRequest) -> TResult<api::PidsResponse> {
        let st = self.state.lock().await;
        let c = st.as_ref().ok_or_else(|| not_found("container"))?;
        let out = c
            .runc
            .run(&["ps", "--format", "json", &c.id], None, None, None)
            .await
            .map_err(|e| err(ttrpc::Code::UNKNOWN, format!("failed to list pids: {e}")))?;
        let pids: Vec<u32> = serde_json::from_slice(&out).unwrap_or_default();
        let mut r = api::PidsResponse::new();
        for pid in pids {
            let mut pi = ProcessInfo::new();
            pi.pid = pid;
            if let Some((eid, _)) = c.execs.iter().find(|(_, p)| p.pid as u32 == pid) {
                // containerd.runc.v1.ProcessDetails{exec_id}
                let mut any = Any::new();
                any.type_url = "containerd.runc.v1.ProcessDetails".into();
                any.value = prost::Message::encode_to_vec(&ProcessDetails {
                    exec_id: eid.clone(),
                });
                pi.info = MessageField::some(any);
            }
            r.processes.push(pi);
        }
        Ok(r)
    }

    async fn pause_resume(&self, id: &str, pause: bool) -> TResult<Empty> {
        let mut st = self.state.lock().await;
        let c = st.as_mut().ok_or_else(|| not_found("container"))?;
        let verb = if pause { "pause" } else { "resume" };
        c.runc
            .run(&[verb, &c.id], None, None, None)
            .await
            .map_err(|e| {
                err(
                    ttrpc::Code::UNKNOWN,
                    format!("OCI runtime {verb} failed: {e}"),
                )
            })?;
        c.paused = pause;
        drop(st);
        if pause {
            self.publisher.publish(
                "/tasks/paused",
                &ev::TaskPaused {
                    container_id: id.to_owned(),
                },
            );
        } else {
            self.publisher.publish(
                "/tasks/resumed",
                &ev::TaskResumed {
                    container_id: id.to_owned(),
                },
            );
        }
        Ok(Empty::new())
    }

    async fn do_stats(&self) -> TResult<api::StatsResponse> {
        let st = self.state.lock().await;
        let c = st.as_ref().ok_or_else(|| not_found("container"))?;
        let pid = c.init.pid;
        let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let path_of = |ctrl: &str| {
            cgroups.lines().find_map(|l| {
                let mut parts = l.splitn(3, ':');
                let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
                ctrls
                    .split(',')
                    .any(|x| x == ctrl)
                    .then(|| format!("/sys/fs/cgroup/{ctrls}{path}"))
            })
        };
        let read = |ctrl: &str, file: &str| -> u64 {
            path_of(ctrl)
                .and_then(|p| std::fs::read_to_string(format!("{p}/{file}")).ok())
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0)
        };
        let text = |ctrl: &str, file: &str| -> String {
            path_of(ctrl)
                .and_then(|p| std::fs::read_to_string(format!("{p}/{file}")).ok())
                .unwrap_or_default()
        };
        // `key value` lines (cpuacct.stat, memory.stat).
        let table = |ctrl: &str, file: &str| -> HashMap<String, u64> {
            text(ctrl, file)
                .lines()
                .filter_map(|l| {
                    let (k, v) = l.split_once(' ')?;
                    Some((k.to_owned(), v.trim().parse().ok()?))
                })
                .collect()
        };
        use containerd_shim_protos::cgroups::metrics as m;
        let mut metrics = m::Metrics::new();
        let mut pids = m::PidsStat::new();
        pids.current = read("pids", "pids.current");
        // "max" (no limit) reads as 0, as containerd reports it.
        pids.limit = read("pids", "pids.max");
        metrics.pids = MessageField::some(pids);
        let mut usage = m::CPUUsage::new();
        usage.total = read("cpuacct", "cpuacct.usage");
        usage.per_cpu = text("cpuacct", "cpuacct.usage_percpu")
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        // cpuacct.stat counts USER_HZ (100 Hz) ticks; the metrics are in nanoseconds.
        let ticks = table("cpuacct", "cpuacct.stat");
        usage.user = ticks.get("user").copied().unwrap_or(0) * 10_000_000;
        usage.kernel = ticks.get("system").copied().unwrap_or(0) * 10_000_000;
        let mut cpu = m::CPUStat::new();
        cpu.usage = MessageField::some(usage);
        metrics.cpu = MessageField::some(cpu);
        let stat = table("memory", "memory.stat");
        let get = |k: &str| stat.get(k).copied().unwrap_or(0);
        let mut mem = m::MemoryStat::new();
        mem.cache = get("cache");
        mem.rss = get("rss");
        mem.mapped_file = get("mapped_file");
        mem.pg_fault = get("pgfault");
        mem.pg_maj_fault = get("pgmajfault");
        mem.pg_pg_in = get("pgpgin");
        mem.pg_pg_out = get("pgpgout");
        mem.hierarchical_memory_limit = get("hierarchical_memory_limit");
        mem.total_cache = get("total_cache");
        mem.total_rss = get("total_rss");
        let mut entry = m::MemoryEntry::new();
        entry.usage = read("memory", "memory.usage_in_bytes");
        entry.limit = read("memory", "memory.limit_in_bytes");
        entry.max = read("memory", "memory.max_usage_in_bytes");
        entry.failcnt = read("memory", "memory.failcnt");
        mem.usage = MessageField::some(entry);
        metrics.memory = MessageField::some(mem);
        let mut any = Any::new();
        any.type_url = "io.containerd.cgroups.v1.Metrics".into();
        any.value = protobuf::Message::write_to_bytes(&metrics).unwrap_or_default();
        let mut r = api::StatsResponse::new();
        r.stats = MessageField::some(any);
        Ok(r)
    }
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProcessDetails {
    #[prost(string, tag = "1")]
    exec_id: String,
}

/// The ttrpc face of [`Service`].
pub struct TaskService(pub Arc<Service>);

#[async_trait::async_trait]
impl containerd_shim_protos::shim_async::Task for TaskService {
    async fn state(&self, _: &TtrpcContext, req: api::StateRequest) -> TResult<api::StateResponse> {
        self.0.do_state(req).await
    }
    async fn create(
        &self,
        _: &TtrpcContext,
        req: api::CreateTaskRequest,
    ) -> TResult<api::CreateTaskResponse> {
        self.0.do_create(req).await
    }
    async fn start(&self, _: &TtrpcContext, req: api::StartRequest) -> TResult<api::StartResponse> {
        self.0.do_start(req).await
    }
    async fn delete(
        &self,
        _: &TtrpcContext,
        req: api::DeleteRequest,
    ) -> TResult<api::DeleteResponse> {
        self.0.do_delete(req).await
    }
    async fn pids(&self, _: &TtrpcContext, req: api::PidsRequest) -> TResult<api::PidsResponse> {
        self.0.do_pids(req).await
    }
    async fn pause(&self, _: &TtrpcContext, req: api::PauseRequest) -> TResult<Empty> {
        self.0.pause_resume(&req.id, true).await
    }
    async fn resume(&self, _: &TtrpcContext, req: api::ResumeRequest) -> TResult<Empty> {
        self.0.pause_resume(&req.id, false).await
    }
    async fn checkpoint(&self, _: &TtrpcContext, _: api::CheckpointTaskRequest) -> TResult<Empty> {
        Err(err(
            ttrpc::Code::UNIMPLEMENTED,
            "checkpoint is not supported by this shim: not implemented",
        ))
    }
    async fn kill(&self, _: &TtrpcContext, req: api::KillRequest) -> TResult<Empty> {
        self.0.do_kill(req).await
    }
    async fn exec(&self, _: &TtrpcContext, req: api::ExecProcessRequest) -> TResult<Empty> {
        let mut st = self.0.state.lock().await;
        let c = st.as_mut().ok_or_else(|| not_found("container"))?;
        if c.execs.contains_key(&req.exec_id) {
            return Err(err(
                ttrpc::Code::ALREADY_EXISTS,
                format!("id {}: already exists", req.exec_id),
            ));
        }
        if c.init.exit.is_some() {
            return Err(err(
                ttrpc::Code::FAILED_PRECONDITION,
                "container is not running: failed precondition",
            ));
        }
        let spec = req
            .spec
            .as_ref()
            .map(|a| a.value.clone())
            .unwrap_or_default();
        c.execs.insert(
            req.exec_id.clone(),
            Process {
                pid: 0,
                stdin: req.stdin.clone(),
                stdout: req.stdout.clone(),
                stderr: req.stderr.clone(),
                terminal: req.terminal,
                started: false,
                exit: None,
                io: Io::default(),
                spec,
            },
        );
        let id = c.id.clone();
        drop(st);
        self.0.publisher.publish(
            "/tasks/exec-added",
            &ev::TaskExecAdded {
                container_id: id,
                exec_id: req.exec_id,
            },
        );
        Ok(Empty::new())
    }
    async fn resize_pty(&self, _: &TtrpcContext, req: api::ResizePtyRequest) -> TResult<Empty> {
        let st = self.0.state.lock().await;
        let c = st.as_ref().ok_or_else(|| not_found("container"))?;
        let p = if req.exec_id.is_empty() {
            Some(&c.init)
        } else {
            c.execs.get(&req.exec_id)
        };
        let p = p.ok_or_else(|| not_found(&format!("process {}", req.exec_id)))?;
        p.io.resize(req.width, req.height)
            .map_err(|e| err(ttrpc::Code::UNKNOWN, e.to_string()))?;
        Ok(Empty::new())
    }
    async fn close_io(&self, _: &TtrpcContext, req: api::CloseIORequest) -> TResult<Empty> {
        let st = self.0.state.lock().await;
        let c = st.as_ref().ok_or_else(|| not_found("container"))?;
        let p = if req.exec_id.is_empty() {
            Some(&c.init)
        } else {
            c.execs.get(&req.exec_id)
        };
        let p = p.ok_or_else(|| not_found(&format!("process {}", req.exec_id)))?;
        if req.stdin {
            p.io.close_stdin();
        }
        Ok(Empty::new())
    }
    async fn update(&self, _: &TtrpcContext, req: api::UpdateTaskRequest) -> TResult<Empty> {
        let st = self.0.state.lock().await;
        let c = st.as_ref().ok_or_else(|| not_found("container"))?;
        let res = req
            .resources
            .as_ref()
            .map(|a| a.value.clone())
            .unwrap_or_default();
        c.runc
            .run(
                &["update", "--resources", "-", &c.id],
                Some(res),
                None,
                None,
            )
            .await
            .map_err(|e| {
                err(
                    ttrpc::Code::UNKNOWN,
                    format!("OCI runtime update failed: {e}"),
                )
            })?;
        Ok(Empty::new())
    }
    async fn wait(&self, _: &TtrpcContext, req: api::WaitRequest) -> TResult<api::WaitResponse> {
        let (code, at) = self.0.wait_exit(&req.exec_id).await?;
        let mut r = api::WaitResponse::new();
        r.exit_status = code;
        r.exited_at = ts(at);
        Ok(r)
    }
    async fn stats(&self, _: &TtrpcContext, _: api::StatsRequest) -> TResult<api::StatsResponse> {
        self.0.do_stats().await
    }
    async fn connect(
        &self,
        _: &TtrpcContext,
        _: api::ConnectRequest,
    ) -> TResult<api::ConnectResponse> {
        let st = self.0.state.lock().await;
        let mut r = api::ConnectResponse::new();
        r.shim_pid = std::process::id();
        r.task_pid = st.as_ref().map(|c| c.init.pid as u32).unwrap_or(0);
        r.version = "v2".into();
        Ok(r)
    }
    async fn shutdown(&self, _: &TtrpcContext, _: api::ShutdownRequest) -> TResult<Empty> {
        let st = self.0.state.lock().await;
        let live = st
            .as_ref()
            .map(|c| {
                c.init.exit.is_none() || c.execs.values().any(|p| p.exit.is_none() && p.started)
            })
            .unwrap_or(false);
        if st.is_none() || !live {
            self.0.shutdown.notify_one();
        }
        Ok(Empty::new())
    }
}
