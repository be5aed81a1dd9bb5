//! `containerd-shim-runc-v2`: the shim v2 protocol. `start` daemonizes a copy of the
//! shim that serves the ttrpc task API on a socket and prints its address; `delete`
//! cleans up a bundle whose shim is gone; without an action the shim serves.

mod events;
mod reaper;
mod runc;
mod service;
mod stdio;

pub use service::RuncOptions;

use std::io::Write;
use std::os::fd::{AsRawFd, IntoRawFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};

/// The flags containerd passes (Go `flag` syntax: `-name value` or `-name=value`).
#[derive(Debug, Default, Clone)]
pub struct Args {
    pub namespace: String,
    pub address: String,
    pub publish_binary: Option<PathBuf>,
    pub id: String,
    pub bundle: Option<PathBuf>,
    pub debug: bool,
    pub version: bool,
    pub action: Option<String>,
}

pub fn parse_args(argv: &[String]) -> anyhow::Result<Args> {
    let mut a = Args::default();
    let mut it = argv.iter().skip(1);
    while let Some(arg) = it.next() {
        if !arg.starts_with('-') {
            a.action = Some(arg.clone());
            continue;
        }
        let flag = arg.trim_start_matches('-');
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (flag, None),
        };
        let mut value = || -> anyhow::Result<String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .with_context(|| format!("flag needs an argument: -{name}")),
            }
        };
        match name {
            "namespace" => a.namespace = value()?,
            "address" => a.address = value()?,
            "publish-binary" => a.publish_binary = Some(PathBuf::from(value()?)),
            "id" => a.id = value()?,
            "bundle" => a.bundle = Some(PathBuf::from(value()?)),
            "socket" | "containerd-binary" => {
                value()?;
            }
            "debug" => a.debug = inline.as_deref() != Some("false"),
            "v" | "version" => a.version = true,
            other => bail!("flag provided but not defined: -{other}"),
        }
    }
    Ok(a)
}

/// Where the shim of (address, namespace, id) listens, as containerd's shims do.
fn socket_path(a: &Args) -> PathBuf {
    let h = Sha256::digest(format!("{}/{}/{}", a.address, a.namespace, a.id).as_bytes());
    let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
    PathBuf::from("/run/containerd/s").join(hex)
}

/// `start`: bind the socket, fork the serving shim with it as fd 3, print the address.
pub fn start(a: &Args) -> anyhow::Result<()> {
    if a.namespace.is_empty() || a.id.is_empty() {
        bail!("shim start needs -namespace and -id");
    }
    // containerd writes the runtime options to stdin; drain it so it never blocks.
    let mut opts = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut opts);
    let path = socket_path(a);
    let address = format!("unix://{}", path.display());
    if std::os::unix::net::UnixStream::connect(&path).is_ok() {
        // A shim for this task already runs: hand out its address.
        println!("{address}");
        return Ok(());
    }
    std::fs::create_dir_all(path.parent().unwrap()).context("creating /run/containerd/s")?;
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path)
        .with_context(|| format!("binding {}", path.display()))?;
    // The serving shim is a fork of this process, not a new exec of the binary: `start`
    // has no threads yet, so the child may go on running Rust code, and containerd's
    // task create does not wait for a second program load.
    let fd = listener.as_raw_fd();
    // SAFETY: single-threaded here (no runtime was started), so the child is a full
    // copy that may run any code; it never returns into `start`.
    match unsafe { libc::fork() } {
        -1 => return Err(std::io::Error::last_os_error()).context("forking the shim server"),
        0 => {
            let code = match become_server(fd, a.clone()) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("containerd-shim-runc-v2: {e:#}");
                    1
                }
            };
            // SAFETY: leave without unwinding back into `start` or running its exit path.
            unsafe { libc::_exit(code) };
        }
        _ => {}
    }
    drop(listener);
    std::fs::write("address", &address).context("writing the address file in the bundle")?;
    let mut out = std::io::stdout();
    write!(out, "{address}")?;
    out.flush()?;
    Ok(())
}

/// In the forked child of `start`: a new session, the listening socket on fd 3 and
/// /dev/null on stdio (containerd reads `start`'s stdout until every writer is gone),
/// then serve.
fn become_server(listener: std::os::fd::RawFd, a: Args) -> anyhow::Result<()> {
    // SAFETY: plain descriptor and session calls on descriptors this process owns.
    unsafe {
        libc::setsid();
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null < 0 {
            return Err(std::io::Error::last_os_error()).context("opening /dev/null");
        }
        for target in 0..3 {
            libc::dup2(null, target);
        }
        if null > 2 {
            libc::close(null);
        }
        if listener == 3 {
            libc::fcntl(3, libc::F_SETFD, 0);
        } else {
            if libc::dup2(listener, 3) < 0 {
                return Err(std::io::Error::last_os_error()).context("moving the socket to fd 3");
            }
            libc::close(listener);
        }
    }
    serve(a)
}

/// `delete`: runc delete of a task whose shim is gone, then report its (killed) exit.
pub fn delete(a: &Args) -> anyhow::Result<()> {
    let bundle = match &a.bundle {
        Some(b) => b.clone(),
        None => std::env::current_dir()?,
    };
    let opts: serde_json::Value = std::fs::read_to_string(bundle.join("runtime-options.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    let binary = opts["binary"].as_str().unwrap_or("runc").to_owned();
    let root = opts["root"]
        .as_str()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/containerd/runc").join(&a.namespace));
    let _ = std::process::Command::new(&binary)
        .arg("--root")
        .arg(&root)
        .args(["delete", "--force", &a.id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    let rootfs = std::ffi::CString::new(bundle.join("rootfs").display().to_string())?;
    // SAFETY: valid path.
    unsafe { libc::umount2(rootfs.as_ptr(), libc::MNT_DETACH) };
    let mut resp = containerd_shim_protos::api::DeleteResponse::new();
    resp.exit_status = 128 + libc::SIGKILL as u32;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let mut t = containerd_shim_protos::protobuf::well_known_types::timestamp::Timestamp::new();
    t.seconds = now.as_secs() as i64;
    t.nanos = now.subsec_nanos() as i32;
    resp.exited_at = containerd_shim_protos::protobuf::MessageField::some(t);
    let bytes = containerd_shim_protos::protobuf::Message::write_to_bytes(&resp)?;
    std::io::stdout().write_all(&bytes)?;
    Ok(())
}

/// Serve the task API on fd 3 until the task is deleted and containerd says shutdown.
pub fn serve(a: Args) -> anyhow::Result<()> {
    // SAFETY: prctl only sets a flag on this process.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    // Logs go to the bundle's `log` fifo when containerd reads it.
    if let Ok(f) = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags_nonblock()
        .open("log")
    {
        // SAFETY: dup2 onto stderr of a descriptor we own.
        unsafe { libc::dup2(f.into_raw_fd(), 2) };
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let reaper = Arc::new(reaper::Reaper::default());
        tokio::spawn(reaper.clone().run());
        let publisher = Arc::new(events::Publisher::start(events::Destination {
            ttrpc_address: std::env::var("TTRPC_ADDRESS").unwrap_or_default(),
            namespace: a.namespace.clone(),
            publish_binary: a.publish_binary.clone(),
            containerd_address: a.address.clone(),
        }));
        let svc = Arc::new(service::Service::new(
            a.namespace.clone(),
            reaper,
            publisher.clone(),
        ));
        let task = Arc::new(service::TaskService(svc.clone()));
        let mut services = containerd_shim_protos::shim_async::create_task(task.clone());
        // containerd 1.6/1.7 call the task API as v2; the generated service is named v3.
        if let Some(v3) =
            containerd_shim_protos::shim_async::create_task(task).remove("containerd.task.v3.Task")
        {
            services.insert("containerd.task.v2.Task".to_owned(), v3);
        }
        // SAFETY: fd 3 is the listening socket `start` handed us, owned by nobody else.
        let server = unsafe { ttrpc::r#async::Server::new().add_unix_listener(3) };
        let mut server = server
            .context("using the inherited socket")?
            .register_service(services);
        server.start().await.context("serving ttrpc")?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = svc.shutdown.notified() => {}
            _ = term.recv() => {}
        }
        // The address is free for a new shim of the same id from now on: a `start`
        // that still found this socket would hand out a shim that is going away, and
        // removing it later could remove the new shim's socket.
        let _ = std::fs::remove_file(socket_path(&a));
        // Let the Shutdown reply reach containerd before the connection goes, and the
        // last events (the task's delete) reach it before the shim does.
        let delivered = tokio::time::timeout(Duration::from_secs(5), publisher.flush());
        let _ = tokio::join!(tokio::time::sleep(Duration::from_millis(20)), delivered);
        anyhow::Ok(())
    })?;
    Ok(())
}

trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlock for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NONBLOCK)
    }
}
