//! The daemon: configuration, the stores, the containerd connection, and `main`
//! (listeners, restore of containers after a restart, signals, shutdown).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context;

use crate::config::Config;
use crate::containerd::{Containerd, ManagedContainerd};
use crate::containers::exec::Exec;
use crate::containers::ContainerStore;
use crate::events::Events;
use crate::images::ImageStore;
use crate::volumes::VolumeStore;

pub struct Daemon {
    pub cfg: RwLock<Config>,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub images: Mutex<ImageStore>,
    pub containers: Mutex<ContainerStore>,
    pub execs: Mutex<HashMap<String, Arc<Exec>>>,
    pub volumes: Mutex<VolumeStore>,
    pub events: Events,
    pub ctrd: Containerd,
    pub init_path: Option<PathBuf>,
    /// Bridges, sandboxes, published ports (the `network` crate).
    pub network: network::Networks,
}

impl Daemon {
    pub fn config(&self) -> Config {
        self.cfg.read().unwrap().clone()
    }
}

/// docker-init: `--init-path`, else `docker-init` beside dockerd or on PATH, else tini.
fn find_init(cfg: &Config) -> Option<PathBuf> {
    if let Some(p) = &cfg.flags.init_path {
        return Some(p.clone());
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("docker-init")));
    let mut candidates: Vec<PathBuf> = beside.into_iter().collect();
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("docker-init")));
    }
    candidates.push("/usr/bin/tini-static".into());
    candidates.push("/usr/bin/tini".into());
    candidates.into_iter().find(|p| p.is_file())
}

/// How many sockets the service manager handed over (fds 3..), taken from the
/// environment once, before any thread exists.
static ACTIVATED_FDS: std::sync::OnceLock<i32> = std::sync::OnceLock::new();

/// Socket activation: LISTEN_FDS sockets from fd 3, meant for us only when LISTEN_PID
/// names this process. The variables are dropped so that containerd and the shims do
/// not take the sockets for theirs.
fn take_activation() {
    let for_us = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        == Some(std::process::id());
    let n: i32 = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|_| for_us)
        .unwrap_or(0);
    for v in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(v);
    }
    let _ = ACTIVATED_FDS.set(n);
}

/// `dockerd`'s entry point; returns the exit code.
pub fn main() -> i32 {
    take_activation();
    let cfg = match Config::load(std::env::args()) {
        Ok(c) => c,
        Err(e) => {
            if let Some(ce) = e.downcast_ref::<clap::Error>() {
                let _ = ce.print();
                return if ce.use_stderr() { 125 } else { 0 };
            }
            eprintln!("{e}");
            return 1;
        }
    };
    if cfg.flags.version {
        println!("{}", buildinfo::docker_version_line());
        return 0;
    }
    if cfg.flags.validate {
        println!("configuration OK");
        return 0;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(512 * 1024)
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(cfg)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("failed to start daemon: {e:#}");
            1
        }
    }
}

fn docker_gid() -> Option<u32> {
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 3 && f[0] == "docker")
        .and_then(|f| f[2].parse().ok())
}

enum Listener {
    Unix(tokio::net::UnixListener, PathBuf),
    Tcp(tokio::net::TcpListener),
}

fn listen(host: &str) -> anyhow::Result<Vec<Listener>> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(path) = host.strip_prefix("unix://") {
        let path = if path.is_empty() {
            "/var/run/docker.sock"
        } else {
            path
        };
        let p = Path::new(path);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let _ = std::fs::remove_file(p);
        let l = tokio::net::UnixListener::bind(p)
            .with_context(|| format!("can't create unix socket {path}"))?;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o660))?;
        if let Some(gid) = docker_gid() {
            let c = std::ffi::CString::new(path)?;
            // SAFETY: valid path; -1 keeps the owner.
            unsafe { libc::chown(c.as_ptr(), u32::MAX, gid) };
        }
        return Ok(vec![Listener::Unix(l, p.to_path_buf())]);
    }
    if let Some(addr) = host.strip_prefix("tcp://") {
        let addr = if addr.contains(':') {
            addr.to_string()
        } else {
            format!("{addr}:2375")
        };
        let l = std::net::TcpListener::bind(&addr).with_context(|| format!("listen tcp {addr}"))?;
        l.set_nonblocking(true)?;
        return Ok(vec![Listener::Tcp(tokio::net::TcpListener::from_std(l)?)]);
    }
    if host.starts_with("fd://") {
        let n = *ACTIVATED_FDS.get().unwrap_or(&0);
        if n == 0 {
            anyhow::bail!("no sockets found via socket activation: make sure the service was started by systemd");
        }
        let mut out = Vec::new();
        for fd in 3..3 + n {
            use std::os::fd::FromRawFd;
            // SAFETY: fds handed over by the service manager, owned by us from here on;
            // close-on-exec keeps them out of containerd and the containers.
            let l = unsafe {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                std::os::unix::net::UnixListener::from_raw_fd(fd)
            };
            l.set_nonblocking(true)?;
            out.push(Listener::Unix(
                tokio::net::UnixListener::from_std(l)?,
                PathBuf::new(),
            ));
        }
        return Ok(out);
    }
    anyhow::bail!("invalid bind address format: {host}")
}

async fn run(cfg: Config) -> anyhow::Result<()> {
    let f = &cfg.flags;
    // As dockerd 20.10 checks its settings: ip6tables rules are experimental there.
    anyhow::ensure!(
        !f.ip6tables || f.experimental,
        "ip6tables rules are only available if experimental features are enabled"
    );
    // Bad certificates stop the start before anything is written.
    let tls = crate::api::tls::acceptor(f).context("failed to load listeners")?;
    for d in [&f.data_root, &f.exec_root] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    if let Ok(pid) = std::fs::read_to_string(&f.pidfile) {
        if let Ok(pid) = pid.trim().parse::<i32>() {
            // SAFETY: signal 0 only probes for existence.
            if pid > 0
                && unsafe { libc::kill(pid, 0) } == 0
                && Path::new(&format!("/proc/{pid}")).exists()
                && pid != std::process::id() as i32
            {
                anyhow::bail!(
                    "pid file found, ensure docker is not running or delete {}",
                    f.pidfile.display()
                );
            }
        }
    }
    if let Some(d) = f.pidfile.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(&f.pidfile, std::process::id().to_string())?;

    let mut managed = None;
    let socket = match &f.containerd {
        Some(s) => s.clone(),
        None => {
            let m = ManagedContainerd::start(&f.data_root, &f.exec_root, f.debug)
                .context("starting containerd")?;
            let s = m.socket.display().to_string();
            managed = Some(m);
            s
        }
    };
    let ctrd = Containerd::connect(&socket, &f.containerd_namespace).await?;
    let hosts = if f.hosts.is_empty() {
        vec!["unix:///var/run/docker.sock".to_string()]
    } else {
        f.hosts.clone()
    };
    let mut listeners = Vec::new();
    for h in &hosts {
        listeners.extend(listen(h)?);
    }
    let network =
        crate::api::networks::open(&cfg).context("Error initializing network controller")?;
    let daemon = Arc::new(Daemon {
        network,
        images: Mutex::new(ImageStore::open(&f.data_root).context("opening the image store")?),
        containers: Mutex::new(
            ContainerStore::open(&f.data_root.join("containers"))
                .context("opening the container store")?,
        ),
        volumes: Mutex::new(VolumeStore::open(&f.data_root).context("opening the volume store")?),
        execs: Mutex::new(HashMap::new()),
        events: Events::default(),
        ctrd,
        init_path: find_init(&cfg),
        data_root: f.data_root.clone(),
        exec_root: f.exec_root.clone(),
        cfg: RwLock::new(cfg.clone()),
    });
    daemon.restore().await;
    crate::api::networks::cleanup(&daemon);
    let mut sockets = Vec::new();
    for l in listeners {
        match l {
            Listener::Unix(l, p) => {
                sockets.push(p);
                tokio::spawn(crate::api::serve_unix(daemon.clone(), l));
            }
            Listener::Tcp(l) => {
                tokio::spawn(crate::api::serve_tcp(daemon.clone(), l, tls.clone()));
            }
        }
    }
    eprintln!("API listen on {}", hosts.join(", "));

    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => daemon.reload(),
        }
    }
    daemon.shutdown().await;
    for s in sockets.iter().filter(|s| !s.as_os_str().is_empty()) {
        let _ = std::fs::remove_file(s);
    }
    let _ = std::fs::remove_file(&cfg.flags.pidfile);
    if let Some(mut m) = managed {
        if !daemon.config().flags.live_restore {
            m.stop();
        }
    }
    Ok(())
}

impl Daemon {
    /// SIGHUP: re-read the config file and apply the reloadable keys.
    fn reload(&self) {
        let argv: Vec<String> = std::env::args().collect();
        match Config::load(argv) {
            Ok(new) => {
                let mut cur = self.cfg.write().unwrap();
                cur.flags.debug = new.flags.debug;
                cur.flags.live_restore = new.flags.live_restore;
                cur.flags.max_concurrent_downloads = new.flags.max_concurrent_downloads;
                cur.flags.max_concurrent_uploads = new.flags.max_concurrent_uploads;
                cur.flags.registry_mirrors = new.flags.registry_mirrors.clone();
                cur.flags.insecure_registries = new.flags.insecure_registries.clone();
                cur.flags.default_runtime = new.flags.default_runtime.clone();
                cur.flags.shutdown_timeout = new.flags.shutdown_timeout;
                cur.runtimes = new.runtimes.clone();
                cur.labels = new.labels.clone();
                drop(cur);
                eprintln!(
                    "reloaded configuration: {}",
                    crate::config::RELOADABLE.join(", ")
                );
                self.events
                    .publish("daemon", "reload", "", serde_json::json!({}));
            }
            Err(e) => eprintln!("error reloading configuration: {e}"),
        }
    }
}
