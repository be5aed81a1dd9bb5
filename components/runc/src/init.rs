//! Creating a container: the parent side (`runc create`/`run`: state dir, cgroups,
//! clone into new namespaces, id maps, hooks, state.json, pid file) and the child
//! side (the container's init: namespaces joined, rootfs built, identity applied,
//! then it blocks on `exec.fifo` until `runc start` and execs the user process).
//!
//! Parent and child talk over a SOCK_SEQPACKET pair: the child asks for the prestart
//! and createRuntime hooks to run (they need its pid and its namespaces), and reports
//! either `ready` or one error line, which becomes runc's "unable to start container
//! process: ..." message. Any failure removes everything created so far.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::cgroups::Manager;
use crate::state::{Container, Saved};
use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("unable to start container process: {0}")]
    Init(String),
    #[error("{0}")]
    Invalid(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CreateError {
    let what = what.into();
    move |source| CreateError::Io { what, source }
}

pub struct CreateOpts<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub bundle: PathBuf,
    pub spec: Spec,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: i32,
    pub systemd_cgroup: bool,
    /// `run` in the foreground: no exec.fifo wait, the caller waits for the init.
    pub start_now: bool,
}

fn ns_flag(t: LinuxNamespaceType) -> libc::c_int {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => 0x80,
    }
}

pub fn ns_proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// Parent-side record of what has been made, undone on failure.
struct Undo {
    state_dir: Option<PathBuf>,
    cgroups: Option<Manager>,
    child: Option<libc::pid_t>,
}

impl Undo {
    fn run(&mut self) {
        if let Some(pid) = self.child.take() {
            let _ = sys::kill(pid, libc::SIGKILL);
            let _ = sys::waitpid(pid, 0);
        }
        if let Some(cg) = self.cgroups.take() {
            let _ = cg.destroy();
        }
        if let Some(dir) = self.state_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Create the container; returns the init's pid.
pub fn create(opts: CreateOpts) -> Result<i32, CreateError> {
    let mut undo = Undo {
        state_dir: None,
        cgroups: None,
        child: None,
    };
    match create_inner(&opts, &mut undo) {
        Ok(pid) => Ok(pid),
        Err(e) => {
            undo.run();
            Err(e)
        }
    }
}

fn create_inner(opts: &CreateOpts, undo: &mut Undo) -> Result<i32, CreateError> {
    let spec = &opts.spec;
    let dir = Container::state_dir(opts.root, opts.id)?;
    let root_spec = spec
        .root()
        .as_ref()
        .ok_or_else(|| CreateError::Invalid("root must be specified in config.json".into()))?;
    let rootfs = if root_spec.path().is_absolute() {
        root_spec.path().clone()
    } else {
        opts.bundle.join(root_spec.path())
    };
    let rootfs = std::fs::canonicalize(&rootfs).map_err(|e| {
        CreateError::Invalid(format!(
            "invalid rootfs: stat {}: {}",
            rootfs.display(),
            lower(&e)
        ))
    })?;
    if !rootfs.is_dir() {
        return Err(CreateError::Invalid(format!(
            "invalid rootfs: {} is not a directory",
            rootfs.display()
        )));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| CreateError::Invalid("process must be specified in config.json".into()))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(CreateError::Invalid("args must not be empty".into()));
    }
    let linux = spec.linux().clone().unwrap_or_default();
    let namespaces = linux.namespaces().clone().unwrap_or_default();

    std::fs::create_dir_all(opts.root)
        .map_err(io_err(format!("create root {}", opts.root.display())))?;
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(crate::state::StateError::Exists(opts.id.to_string()).into())
        }
        Err(e) => return Err(io_err(format!("create state dir {}", dir.display()))(e)),
    }
    undo.state_dir = Some(dir.clone());
    // SAFETY: chmod of the dir we made.
    let _ = std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o711));

    let fifo_path = dir.join("exec.fifo");
    let fifo_fd = if opts.start_now {
        None
    } else {
        let c = sys::cstr(&fifo_path);
        // SAFETY: valid C string.
        if unsafe { libc::mkfifo(c.as_ptr(), 0o622) } < 0 {
            return Err(io_err("create exec fifo")(std::io::Error::last_os_error()));
        }
        // Writable by the container user whatever our umask was.
        std::fs::set_permissions(
            &fifo_path,
            std::os::unix::fs::PermissionsExt::from_mode(0o622),
        )
        .map_err(io_err("chmod exec fifo"))?;
        Some(sys::open_path(&fifo_path, libc::O_PATH).map_err(io_err("open exec fifo"))?)
    };

    let cg = Manager::new(
        linux.cgroups_path().as_deref(),
        opts.id,
        opts.systemd_cgroup,
    )?;
    let unit_properties = cg.unit_properties(spec.annotations().as_ref())?;
    undo.cgroups = Some(cg.clone());
    // The directories exist before the init can bind them into its /sys/fs/cgroup.
    // systemd makes a unit's when it starts the unit, which needs the pid.
    if !cg.is_systemd() {
        cg.create()?;
        if let Some(res) = linux.resources() {
            cg.set(res)?;
        }
    }

    // Namespaces given by path are opened now, on the host side.
    let mut join: Vec<(LinuxNamespaceType, OwnedFd)> = Vec::new();
    let mut flags = 0;
    for ns in &namespaces {
        match ns.path() {
            Some(p) => {
                let fd = sys::open_path(p, libc::O_RDONLY)
                    .map_err(io_err(format!("open namespace {}", p.display())))?;
                join.push((ns.typ(), fd));
            }
            None if ns.typ() == LinuxNamespaceType::Cgroup => {}
            None => flags |= ns_flag(ns.typ()),
        }
    }
    let new_user = flags & libc::CLONE_NEWUSER != 0;
    let new_cgroup_ns = namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::Cgroup && n.path().is_none());
    // A pid namespace is entered by the parent: setns(pid) only affects children.
    if let Some(pos) = join.iter().position(|(t, _)| *t == LinuxNamespaceType::Pid) {
        let (_, fd) = join.remove(pos);
        sys::setns(fd.as_raw_fd(), libc::CLONE_NEWPID).map_err(io_err("join pid namespace"))?;
    }

    let console = match &opts.console_socket {
        Some(p) => Some(
            std::os::unix::net::UnixStream::connect(p)
                .map_err(io_err(format!("connect to console socket {}", p.display())))?,
        ),
        None => None,
    };
    if process.terminal() == Some(true) && console.is_none() && !opts.start_now {
        return Err(CreateError::Invalid(
            "cannot allocate tty if runc will detach without setting console socket".into(),
        ));
    }
    if process.terminal() != Some(true) && console.is_some() {
        return Err(CreateError::Invalid(
            "cannot use console socket if runc will not detach or allocate tty".into(),
        ));
    }
    let listener =
        match linux
            .seccomp()
            .as_ref()
            .and_then(|s| s.listener_path().clone())
        {
            Some(p) => Some(std::os::unix::net::UnixStream::connect(&p).map_err(io_err(
                format!("connect to seccomp listener {}", p.display()),
            ))?),
            None => None,
        };

    let (parent_sock, child_sock) = sys::socketpair().map_err(io_err("socketpair"))?;
    let saved_paths: BTreeMap<String, PathBuf> = cg.paths().clone();
    let child_ctx = ChildCtx {
        spec,
        rootfs: &rootfs,
        bundle: &opts.bundle,
        join: &join,
        new_user,
        new_cgroup_ns,
        sock: child_sock.as_raw_fd(),
        fifo: fifo_fd.as_ref().map(|f| f.as_raw_fd()),
        console: console.as_ref().map(|c| c.as_raw_fd()),
        listener: listener.as_ref().map(|l| l.as_raw_fd()),
        cgroup_paths: &saved_paths,
        join_cgroups: (!cg.is_systemd()).then_some(&cg),
        no_pivot: opts.no_pivot,
        no_new_keyring: opts.no_new_keyring,
        preserve_fds: opts.preserve_fds,
        id: opts.id,
    };
    // With the cgroupfs driver the init starts in the unified hierarchy's group
    // (CLONE_INTO_CGROUP) and moves itself into the v1 ones: both avoid the global
    // lock a move by pid waits for. Kernels without clone3 get a plain clone and the
    // move by pid below.
    let target = (!cg.is_systemd()).then(|| cg.unified_dir()).flatten();
    // SAFETY: this process has no other threads; the child only runs child_main
    // and then execs or _exits.
    let (pid, in_unified) = unsafe { sys::clone_into(flags, target) }.map_err(io_err("clone"))?;
    if pid == 0 {
        drop(parent_sock);
        child_main(&child_ctx);
    }
    drop(child_sock);
    undo.child = Some(pid);
    let sock = parent_sock.as_raw_fd();

    if new_user {
        write_id_maps(pid, &linux)?;
    }
    // systemd removes the unit's directories in the hierarchies it does not manage
    // when it starts the unit: they are made again, and all settled before the init
    // may bind them into its /sys/fs/cgroup.
    if cg.is_systemd() {
        cg.start_unit(pid, unit_properties)?;
        cg.create()?;
        cg.apply(pid)?;
        if let Some(res) = linux.resources() {
            cg.set(res)?;
        }
    }
    send(sock, b"go")?;
    if listener.is_some() {
        send(sock, &listener_state(opts, spec, pid))?;
    }
    // The init waits for "cgroup" before it unshares a cgroup namespace or asks
    // for the hooks, whichever comes first.
    if !cg.is_systemd() && !in_unified {
        cg.apply_unified(pid)?;
    }
    send(sock, b"cgroup")?;

    let start_time = sys::proc_stat(pid).map_or(0, |s| s.start_time);
    let mut saved = Saved {
        id: opts.id.to_string(),
        init_process_pid: pid,
        init_process_start: start_time,
        created: crate::state::now_rfc3339(),
        bundle: opts.bundle.clone(),
        rootfs: rootfs.clone(),
        owner: String::new(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroup_paths: saved_paths.clone(),
        namespace_paths: BTreeMap::new(),
        systemd_cgroup: opts.systemd_cgroup,
        config: spec.clone(),
    };
    for ns in &namespaces {
        let name = ns_proc_name(ns.typ());
        let p = match ns.path() {
            Some(p) => p.display().to_string(),
            None => format!("/proc/{pid}/ns/{name}"),
        };
        saved.namespace_paths.insert(name.to_string(), p);
    }
    let container = Container {
        dir: dir.clone(),
        saved,
    };

    loop {
        let msg = recv(sock)?;
        if msg == b"hooks" {
            let state = container.hook_state("creating");
            if let Some(h) = spec.hooks() {
                // runc runs these while its init waits, and words a failure as the
                // init's.
                let in_init = |e: crate::hooks::HookError| {
                    CreateError::Init(format!("error during container init: {e}"))
                };
                crate::hooks::run_all(h.prestart().as_ref(), &state).map_err(in_init)?;
                crate::hooks::run_all(h.create_runtime().as_ref(), &state).map_err(in_init)?;
            }
            send(sock, b"ok")?;
        } else if msg == b"ready" {
            break;
        } else if let Some(e) = msg.strip_prefix(b"error ") {
            return Err(CreateError::Init(String::from_utf8_lossy(e).into_owned()));
        } else if msg.is_empty() {
            return Err(CreateError::Init(
                "container init exited before it was ready".into(),
            ));
        }
    }
    container.save()?;
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, pid)?;
    }
    undo.child = None;
    undo.cgroups = None;
    undo.state_dir = None;
    Ok(pid)
}

fn lower(e: &std::io::Error) -> String {
    let s = e.to_string();
    let s = s.split(" (os error").next().unwrap_or(&s).to_string();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => s,
    }
}

/// Write the pid file atomically, as runc does (dot-temp then rename).
pub fn write_pid_file(path: &Path, pid: i32) -> Result<(), CreateError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}"));
    std::fs::write(&tmp, pid.to_string())
        .map_err(io_err(format!("write pid file {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io_err(format!("write pid file {}", path.display())))
}

fn write_id_maps(pid: i32, linux: &oci_spec::runtime::Linux) -> Result<(), CreateError> {
    let fmt = |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| -> String {
        m.iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect()
    };
    let uid = fmt(linux.uid_mappings());
    let gid = fmt(linux.gid_mappings());
    if uid.is_empty() || gid.is_empty() {
        return Err(CreateError::Invalid(
            "user namespaces enabled, but no user mapping found".into(),
        ));
    }
    std::fs::write(format!("/proc/{pid}/uid_map"), uid).map_err(io_err("write uid_map"))?;
    std::fs::write(format!("/proc/{pid}/gid_map"), gid).map_err(io_err("write gid_map"))?;
    Ok(())
}

fn send(sock: RawFd, msg: &[u8]) -> Result<(), CreateError> {
    sys::write_all(sock, msg).map_err(|e| {
        // The init is gone: the error line it sent before it went says why.
        match recv(sock) {
            Ok(m) if m.starts_with(b"error ") => {
                CreateError::Init(String::from_utf8_lossy(&m[6..]).into_owned())
            }
            _ => io_err("sync with container init")(e),
        }
    })
}

fn recv(sock: RawFd) -> Result<Vec<u8>, CreateError> {
    let mut buf = vec![0u8; 65536];
    let n = sys::read_some(sock, &mut buf).map_err(io_err("sync with container init"))?;
    buf.truncate(n);
    Ok(buf)
}

struct ChildCtx<'a> {
    spec: &'a Spec,
    rootfs: &'a Path,
    bundle: &'a Path,
    join: &'a [(LinuxNamespaceType, OwnedFd)],
    new_user: bool,
    new_cgroup_ns: bool,
    sock: RawFd,
    fifo: Option<RawFd>,
    console: Option<RawFd>,
    listener: Option<RawFd>,
    cgroup_paths: &'a BTreeMap<String, PathBuf>,
    /// The groups the init moves itself into (cgroupfs driver), first thing.
    join_cgroups: Option<&'a Manager>,
    no_pivot: bool,
    no_new_keyring: bool,
    preserve_fds: i32,
    id: &'a str,
}

fn child_main(ctx: &ChildCtx) -> ! {
    match child_setup(ctx) {
        Ok((prepared, listener_state)) => {
            // Wait for `runc start`: opening the fifo for writing blocks until a
            // reader comes.
            if let Some(fifo) = ctx.fifo {
                // /proc/self/fd of a non-dumpable process belongs to root; after the
                // switch to the container user it must be ours again. The binary the
                // container could reach through /proc/1/exe is a read-only view (selfexec).
                let _ = sys::prctl(libc::PR_SET_DUMPABLE, 1);
                let p = PathBuf::from(format!("/proc/self/fd/{fifo}"));
                match sys::open_path(&p, libc::O_WRONLY) {
                    Ok(f) => {
                        let _ = sys::write_all(f.as_raw_fd(), b"0");
                    }
                    Err(e) => {
                        eprintln!("runc: open exec fifo: {e}");
                        sys::exit_now(1)
                    }
                }
            }
            let state = hook_state_in_child(ctx, "created");
            if let Some(h) = ctx.spec.hooks() {
                if let Err(e) = crate::hooks::run_all(h.start_container().as_ref(), &state) {
                    eprintln!("{e}");
                    sys::exit_now(1);
                }
            }
            let e = prepared.exec(ctx.listener, &listener_state);
            eprintln!("runc: {e}");
            sys::exit_now(127)
        }
        Err(msg) => {
            let _ = sys::write_all(ctx.sock, format!("error {msg}").as_bytes());
            sys::exit_now(1)
        }
    }
}

fn hook_state_in_child(ctx: &ChildCtx, status: &str) -> Vec<u8> {
    let ann = ctx.spec.annotations().clone().unwrap_or_default();
    serde_json::to_vec(&crate::state::HookState {
        oci_version: crate::state::OCI_VERSION,
        id: ctx.id,
        status,
        pid: 1,
        bundle: ctx.bundle,
        annotations: &ann,
    })
    .unwrap_or_default()
}

/// What runc 1.1 sends the seccomp listener with the notify fd of the init.
fn listener_state(opts: &CreateOpts, spec: &Spec, pid: i32) -> Vec<u8> {
    let ann = spec.annotations().clone().unwrap_or_default();
    let state = crate::state::HookState {
        oci_version: crate::state::OCI_VERSION,
        id: opts.id,
        status: "creating",
        pid,
        bundle: &opts.bundle,
        annotations: &ann,
    };
    container_process_state(spec, pid, &state)
}

/// Runtime-spec's `ContainerProcessState` for the process `pid` (host pid) of the
/// container described by `state`: what the seccomp listener gets with a notify fd.
pub(crate) fn container_process_state(
    spec: &Spec,
    pid: i32,
    state: &crate::state::HookState,
) -> Vec<u8> {
    let metadata = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .and_then(|s| s.listener_metadata().clone())
        .unwrap_or_default();
    let mut out = serde_json::json!({
        "ociVersion": crate::state::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "state": state,
    });
    if !metadata.is_empty() {
        out["metadata"] = metadata.into();
    }
    serde_json::to_vec(&out).unwrap_or_default()
}

fn child_setup(ctx: &ChildCtx) -> Result<(crate::process::Prepared, Vec<u8>), String> {
    // Keep /proc/<pid>/exe of this not-yet-exec'd process out of reach of the
    // container (CVE-2019-5736 class; the binary itself is a read-only view, see selfexec).
    let _ = sys::prctl(libc::PR_SET_DUMPABLE, 0);
    let mut buf = [0u8; 16];
    match sys::read_some(ctx.sock, &mut buf) {
        Ok(n) if &buf[..n] == b"go" => {}
        _ => return Err("parent went away".into()),
    }
    let listener_state = match ctx.listener {
        Some(_) => {
            let mut msg = vec![0u8; 65536];
            let n = sys::read_some(ctx.sock, &mut msg).map_err(|_| "parent went away")?;
            msg.truncate(n);
            msg
        }
        None => Vec::new(),
    };
    // Before any namespace is joined: the paths are the host's.
    if let Some(cg) = ctx.join_cgroups {
        cg.join_v1_self()
            .map_err(|e| format!("unable to apply cgroup configuration: {e}"))?;
    }
    let e = |what: &str| {
        let what = what.to_string();
        move |err: std::io::Error| format!("error during container init: {what}: {err}")
    };
    // The user namespace first: the others are owned by it.
    for (t, fd) in ctx
        .join
        .iter()
        .filter(|(t, _)| *t == LinuxNamespaceType::User)
    {
        sys::setns(fd.as_raw_fd(), ns_flag(*t)).map_err(e("join user namespace"))?;
    }
    for (t, fd) in ctx
        .join
        .iter()
        .filter(|(t, _)| *t != LinuxNamespaceType::User)
    {
        sys::setns(fd.as_raw_fd(), ns_flag(*t))
            .map_err(e(&format!("join {} namespace", ns_proc_name(*t))))?;
    }
    if ctx.new_user || ctx.join.iter().any(|(t, _)| *t == LinuxNamespaceType::User) {
        // SAFETY: plain id syscalls.
        unsafe {
            libc::setresgid(0, 0, 0);
            libc::setresuid(0, 0, 0);
        }
    }
    let wait_cgroup = || match sys::read_some(ctx.sock, &mut [0u8; 16]) {
        Ok(n) if n == b"cgroup".len() => Ok(()),
        _ => Err("parent went away".to_string()),
    };
    if ctx.new_cgroup_ns {
        wait_cgroup()?;
        sys::unshare(libc::CLONE_NEWCGROUP).map_err(e("unshare cgroup namespace"))?;
    }
    // SAFETY: setsid has no preconditions.
    unsafe { libc::setsid() };
    if !ctx.no_new_keyring {
        // A fresh session keyring, so host keys are not reachable; ignore ENOSYS.
        let name = sys::cstr(format!("_ses.{}", ctx.id));
        // SAFETY: KEYCTL_JOIN_SESSION_KEYRING with a valid name.
        unsafe { libc::syscall(libc::SYS_keyctl, 1, name.as_ptr()) };
    }
    let linux = ctx.spec.linux().clone().unwrap_or_default();
    let new_uts = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::Uts);
    if let Some(h) = ctx.spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        if !new_uts {
            return Err("error during container init: unable to set hostname without a private UTS namespace".into());
        }
        sys::sethostname(h).map_err(e("sethostname"))?;
    }
    if let Some(d) = ctx.spec.domainname().as_deref().filter(|h| !h.is_empty()) {
        sys::setdomainname(d).map_err(e("setdomainname"))?;
    }
    let process = ctx.spec.process().clone().unwrap_or_default();
    crate::process::set_oom_score_adj(&process)
        .map_err(|x| format!("error during container init: {x}"))?;
    crate::process::set_rlimits(&process)
        .map_err(|x| format!("error during container init: {x}"))?;

    let plan = crate::rootfs::RootfsPlan {
        spec: ctx.spec,
        rootfs: ctx.rootfs,
        bundle: ctx.bundle,
        cgroup_paths: ctx.cgroup_paths,
        new_user_ns: ctx.new_user,
    };
    let has_mntns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::Mount);
    if !has_mntns {
        return Err("error during container init: a mount namespace is required".into());
    }
    crate::rootfs::prepare(&plan)
        .map_err(|x| format!("error during container init: error mounting: {x}"))?;
    if !ctx.new_cgroup_ns {
        wait_cgroup()?;
    }
    let _ = sys::write_all(ctx.sock, b"hooks");
    match sys::read_some(ctx.sock, &mut buf) {
        Ok(n) if &buf[..n] == b"ok" => {}
        _ => return Err("parent went away".into()),
    }
    if let Some(h) = ctx.spec.hooks() {
        let state = hook_state_in_child(ctx, "created");
        crate::hooks::run_all(h.create_container().as_ref(), &state)
            .map_err(|x| format!("error during container init: {x}"))?;
    }
    crate::rootfs::pivot(ctx.rootfs, ctx.no_pivot)
        .map_err(|x| format!("error during container init: {x}"))?;
    if process.terminal() == Some(true) {
        if let Some(c) = ctx.console {
            crate::console::setup(c).map_err(e("setup console"))?;
        }
    }
    crate::rootfs::sysctl(ctx.spec).map_err(|x| format!("error during container init: {x}"))?;
    crate::rootfs::finish(ctx.spec).map_err(|x| format!("error during container init: {x}"))?;
    let prepared = crate::process::prepare(
        &process,
        linux.seccomp().as_ref(),
        ctx.preserve_fds,
        ctx.listener,
        &listener_state,
    )
    .map_err(|x| match x {
        crate::process::ProcessError::Lookup { .. } => x.to_string(),
        other => format!("error during container init: {other}"),
    })?;
    sys::write_all(ctx.sock, b"ready").map_err(e("report ready"))?;
    Ok((prepared, listener_state))
}
