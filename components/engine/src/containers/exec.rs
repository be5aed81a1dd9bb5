//! `docker exec`: extra processes in a running container's namespaces, started through
//! containerd's exec API with their own FIFOs, exit code kept for `exec inspect`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::watch;

use super::io::{self, Fifos, Hub};
use super::{spec, Container, ContainerError};
use crate::daemon::Daemon;

#[derive(Debug, Default, Clone)]
pub struct ExecState {
    pub running: bool,
    pub started: bool,
    pub exit_code: Option<i64>,
    pub pid: u32,
}

pub struct Exec {
    pub id: String,
    pub container_id: String,
    pub config: Value,
    pub state: Mutex<ExecState>,
    pub hub: Arc<Hub>,
    /// True once the exit code is recorded.
    pub done: watch::Sender<bool>,
}

impl Exec {
    pub fn tty(&self) -> bool {
        self.config
            .get("Tty")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    pub fn to_json(&self) -> Value {
        let st = self.state.lock().unwrap().clone();
        let cmd: Vec<Value> = self
            .config
            .get("Cmd")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let b = |k: &str| self.config.get(k).and_then(Value::as_bool).unwrap_or(false);
        json!({
            "CanRemove": false,
            "ContainerID": self.container_id,
            "DetachKeys": self.config.get("DetachKeys").and_then(Value::as_str).unwrap_or(""),
            "ExitCode": st.exit_code,
            "ID": self.id,
            "OpenStderr": b("AttachStderr"),
            "OpenStdin": b("AttachStdin"),
            "OpenStdout": b("AttachStdout"),
            "ProcessConfig": {
                "arguments": cmd.iter().skip(1).cloned().collect::<Vec<_>>(),
                "entrypoint": cmd.first().cloned().unwrap_or(json!("")),
                "privileged": b("Privileged"),
                "tty": b("Tty"),
                "user": self.config.get("User").and_then(Value::as_str).unwrap_or(""),
            },
            "Running": st.running,
            "Pid": st.pid,
        })
    }
}

impl Daemon {
    pub fn create_exec(&self, c: &Container, config: Value) -> Result<String, ContainerError> {
        if !c.is_running() {
            return Err(ContainerError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        if c.rec.lock().unwrap().state.paused {
            return Err(ContainerError::Conflict(format!(
                "Container {} is paused, unpause the container before exec",
                c.id
            )));
        }
        let cmd = config
            .get("Cmd")
            .and_then(Value::as_array)
            .map(|a| a.len())
            .unwrap_or(0);
        if cmd == 0 {
            return Err(ContainerError::BadRequest(
                "No exec command specified".into(),
            ));
        }
        let id = crate::ids::random_id();
        let (done, _) = watch::channel(false);
        let e = Arc::new(Exec {
            id: id.clone(),
            container_id: c.id.clone(),
            config,
            state: Mutex::new(ExecState::default()),
            hub: Arc::new(Hub::default()),
            done,
        });
        self.execs.lock().unwrap().insert(id.clone(), e);
        let cmdline = c_cmdline(&self.execs.lock().unwrap()[&id].config);
        self.event(c, &format!("exec_create: {cmdline}"), json!({"execID": id}));
        Ok(id)
    }

    pub fn exec(&self, id: &str) -> Result<Arc<Exec>, ContainerError> {
        self.execs
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(|| ContainerError::NotFound(format!("No such exec instance: {id}")))
    }

    /// Start the exec's process; output goes to `e.hub` (subscribe first).
    pub async fn start_exec(self: &Arc<Self>, e: &Arc<Exec>) -> Result<(), ContainerError> {
        {
            let mut st = e.state.lock().unwrap();
            if st.started {
                return Err(ContainerError::Conflict(format!(
                    "Error: Exec command {} has already run",
                    e.id
                )));
            }
            st.started = true;
        }
        let c = self.container(&e.container_id)?;
        if !c.is_running() {
            return Err(ContainerError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let rec = c.snapshot();
        let cfg = &e.config;
        let s = |k: &str| cfg.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let tty = e.tty();
        let rootfs = super::rootfs::RootfsDirs::new(&self.data_root, &c.id).merged();
        let user = if s("User").is_empty() {
            rec.config
                .get("User")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        } else {
            s("User")
        };
        let (uid, gid, extra) = spec::resolve_user(&rootfs, &user, &[])?;
        let mut env: Vec<String> = rec
            .config
            .get("Env")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        if !env.iter().any(|x| x.starts_with("PATH=")) {
            env.insert(
                0,
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            );
        }
        env.push(format!(
            "HOSTNAME={}",
            rec.config
                .get("Hostname")
                .and_then(Value::as_str)
                .unwrap_or("")
        ));
        if tty {
            env.push("TERM=xterm".into());
        }
        for x in cfg
            .get("Env")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            if let Some(x) = x.as_str() {
                let k = x.split('=').next().unwrap_or(x);
                env.retain(|y| y.split('=').next() != Some(k));
                env.push(x.to_string());
            }
        }
        let mut hc = rec.host_config.clone();
        if cfg
            .get("Privileged")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            hc["Privileged"] = json!(true);
        }
        let caps = spec::capabilities(&hc)?;
        let cwd = match s("WorkingDir") {
            w if !w.is_empty() => w,
            _ => match rec
                .config
                .get("WorkingDir")
                .and_then(Value::as_str)
                .unwrap_or("")
            {
                "" => "/".to_string(),
                w => w.to_string(),
            },
        };
        let process = json!({
            "terminal": tty,
            "user": {"uid": uid, "gid": gid, "additionalGids": extra},
            "args": cfg.get("Cmd").cloned().unwrap_or(json!([])),
            "env": env,
            "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": false,
        });
        let open_stdin = cfg
            .get("AttachStdin")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let fifos = Fifos::create(
            &self.exec_root.join("containerd").join(&c.id),
            &e.id,
            open_stdin,
            tty,
        )?;
        io::start_copiers(&fifos, e.hub.clone(), Arc::new(Mutex::new(None)), tty)?;
        let started = async {
            self.ctrd
                .exec(&c.id, &e.id, &process, &fifos.stdio(tty))
                .await?;
            self.ctrd.start(&c.id, &e.id).await
        }
        .await;
        let pid = match started {
            Ok(pid) => pid,
            Err(err) => {
                fifos.abandon();
                e.hub.close_stdin();
                let _ = self.ctrd.delete_process(&c.id, &e.id).await;
                fifos.remove();
                let msg = err.to_string();
                let code =
                    if msg.contains("executable file not found") || msg.contains("no such file") {
                        127
                    } else {
                        126
                    };
                e.state.lock().unwrap().exit_code = Some(code);
                e.done.send_replace(true);
                return Err(ContainerError::BadRequest(format!(
                    "OCI runtime exec failed: {msg}"
                )));
            }
        };
        {
            let mut st = e.state.lock().unwrap();
            st.running = true;
            st.pid = pid;
        }
        self.event(
            &c,
            &format!("exec_start: {}", c_cmdline(cfg)),
            json!({"execID": e.id}),
        );
        let d = self.clone();
        let e = e.clone();
        let finished_before = 0;
        tokio::spawn(async move {
            let code = d
                .ctrd
                .wait(&c.id, &e.id)
                .await
                .map(|c| c as i64)
                .unwrap_or(126);
            let mut rx = e.hub.finished.subscribe();
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                rx.wait_for(|n| *n > finished_before),
            )
            .await;
            let _ = d.ctrd.delete_process(&c.id, &e.id).await;
            e.hub.close_stdin();
            fifos.remove();
            {
                let mut st = e.state.lock().unwrap();
                st.running = false;
                st.exit_code = Some(code);
                st.pid = 0;
            }
            e.done.send_replace(true);
            d.event(
                &c,
                "exec_die",
                json!({"execID": e.id, "exitCode": code.to_string()}),
            );
        });
        Ok(())
    }
}

fn c_cmdline(cfg: &Value) -> String {
    cfg.get("Cmd")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}
