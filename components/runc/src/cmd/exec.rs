//! `exec`: run another process in a running (or created) container. The runtime
//! forks a helper that joins the cgroup and every namespace of the init; the helper
//! forks the process itself (so it lands inside the pid namespace) and exits. The
//! process reports failure up to its exec over a close-on-exec pipe; with `-d` we
//! write the pid file and leave, otherwise we wait and exit with its status.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{Capability, LinuxCapabilities, Process};

use crate::cli::{Cli, ExecArgs};
use crate::state::{Container, Status};
use crate::sys;

/// Exit status of runc when exec itself fails.
const EXEC_FAILED: i32 = 255;

pub fn exec(cli: &Cli, a: ExecArgs) -> Result<i32> {
    match exec_inner(cli, &a) {
        Ok(code) => Ok(code),
        Err(e) => Err(super::ExitCode(
            EXEC_FAILED,
            format!("exec failed: {}", crate::one_line(&e)),
        )
        .into()),
    }
}

fn build_process(c: &Container, a: &ExecArgs) -> Result<Process> {
    if let Some(p) = &a.process {
        let data = std::fs::read(p).with_context(|| format!("open {}", p.display()))?;
        let de = &mut serde_json::Deserializer::from_slice(&data);
        let mut proc: Process = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            anyhow::anyhow!(
                "{}: invalid value at {path}: {}",
                p.display(),
                e.into_inner()
            )
        })?;
        if a.tty {
            proc.set_terminal(Some(true));
        }
        return Ok(proc);
    }
    if a.command.is_empty() {
        bail!("exec args cannot be empty");
    }
    let mut p = c.saved.config.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(a.env.iter().cloned());
    p.set_env(Some(env));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.into());
    }
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let mut user = p.user().clone();
        user.set_uid(
            uid.parse()
                .with_context(|| format!("parsing {uid} as int for uid failed"))?,
        );
        user.set_gid(match gid {
            Some(g) => g
                .parse()
                .with_context(|| format!("parsing {g} as int for gid failed"))?,
            None => 0,
        });
        p.set_user(user);
    }
    if !a.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(a.additional_gids.clone()));
        p.set_user(user);
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        let add = |set: &Option<oci_spec::runtime::Capabilities>| -> Result<oci_spec::runtime::Capabilities> {
            let mut s = set.clone().unwrap_or_default();
            for name in &a.cap {
                let up = name.to_ascii_uppercase();
                let full = if up.starts_with("CAP_") { up } else { format!("CAP_{up}") };
                let cap: Capability = full.parse().map_err(|_| anyhow::anyhow!("unknown capability {name:?}"))?;
                s.insert(cap);
            }
            Ok(s)
        };
        let b = add(caps.bounding())?;
        let e = add(caps.effective())?;
        let pm = add(caps.permitted())?;
        caps = LinuxCapabilities::default();
        caps.set_bounding(Some(b));
        caps.set_effective(Some(e));
        caps.set_permitted(Some(pm));
        caps.set_inheritable(None);
        caps.set_ambient(None);
        p.set_capabilities(Some(caps));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    Ok(p)
}

fn same_ns(pid: i32, name: &str) -> bool {
    let a = std::fs::metadata(format!("/proc/self/ns/{name}"));
    let b = std::fs::metadata(format!("/proc/{pid}/ns/{name}"));
    match (a, b) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

fn exec_inner(cli: &Cli, a: &ExecArgs) -> Result<i32> {
    let c = super::load(&cli.root, &a.id)?;
    match c.status() {
        Status::Stopped => bail!("cannot exec in a stopped container"),
        Status::Paused if !a.ignore_paused => {
            bail!("cannot exec in a paused container (use --ignore-paused to override)")
        }
        _ => {}
    }
    let process = build_process(&c, a)?;
    if process.args().as_ref().is_none_or(|v| v.is_empty()) {
        bail!("args must not be empty");
    }
    if !process.cwd().is_absolute() {
        bail!("cwd must be an absolute path");
    }
    let terminal = process.terminal() == Some(true);
    if terminal && a.detach && a.console_socket.is_none() {
        bail!("cannot allocate tty if runc will detach without setting console socket");
    }
    if !terminal && a.console_socket.is_some() {
        bail!("cannot use console socket if runc will not detach or allocate tty");
    }
    let init_pid = c.saved.init_process_pid;

    // Open every namespace of the init now, host side; user first.
    let order = ["user", "ipc", "uts", "net", "pid", "cgroup", "mnt", "time"];
    let mut ns_fds: Vec<(&str, OwnedFd)> = Vec::new();
    for name in order {
        if !c.saved.namespace_paths.contains_key(name) || same_ns(init_pid, name) {
            continue;
        }
        let p = format!("/proc/{init_pid}/ns/{name}");
        let fd = sys::open_path(std::path::Path::new(&p), libc::O_RDONLY)
            .with_context(|| format!("open {p}"))?;
        ns_fds.push((name, fd));
    }

    let mut listener = None;
    let console = match &a.console_socket {
        Some(p) => Some(
            std::os::unix::net::UnixStream::connect(p)
                .with_context(|| format!("connect to console socket {}", p.display()))?,
        ),
        None if terminal => {
            let dir = std::env::temp_dir().join(format!("runc-exec-console-{}", sys::getpid()));
            std::fs::create_dir_all(&dir)?;
            let path = dir.join("c.sock");
            let l = std::os::unix::net::UnixListener::bind(&path)?;
            let s = std::os::unix::net::UnixStream::connect(&path)?;
            listener = Some((dir, l));
            Some(s)
        }
        None => None,
    };
    if !a.detach {
        let _ = sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
    }
    let set = block_signals();

    let (go_r, go_w) = sys::pipe()?;
    let (pid_r, pid_w) = sys::pipe()?;
    let (err_r, err_w) = sys::pipe()?;
    let seccomp = c
        .saved
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().clone());
    let preserve = a.preserve_fds;
    // As for the init, runc connects to the seccomp listener itself; the process
    // sends its notify fd there once the parent has told it its host pid.
    let seccomp_listener = match seccomp.as_ref().and_then(|s| s.listener_path().clone()) {
        Some(p) => Some(
            std::os::unix::net::UnixStream::connect(&p)
                .with_context(|| format!("connect to seccomp listener {}", p.display()))?,
        ),
        None => None,
    };
    let state_pipe = match seccomp_listener {
        Some(_) => Some(sys::pipe()?),
        None => None,
    };
    // The helper joins the container's cgroups as the init did (see init::create):
    // cloned into the unified group, then moving itself into the v1 ones.
    let cgroups = crate::cgroups::Manager::from_saved(&c.saved);
    // SAFETY: single-threaded here; the child only runs helper code then exits.
    let (helper, in_unified) =
        unsafe { sys::clone_into(0, cgroups.unified_dir()) }.context("fork")?;
    if helper == 0 {
        drop((go_w, pid_r, err_r));
        helper_main(HelperCtx {
            cgroups: &cgroups,
            go: go_r.as_raw_fd(),
            pid_out: pid_w.as_raw_fd(),
            err: err_w.as_raw_fd(),
            ns: &ns_fds,
            process: &process,
            seccomp: seccomp.as_ref(),
            console: console.as_ref().map(|s| s.as_raw_fd()),
            preserve,
            listener: seccomp_listener.as_ref().map(|s| s.as_raw_fd()),
            state_in: state_pipe
                .as_ref()
                .map(|(r, w)| (r.as_raw_fd(), w.as_raw_fd())),
        });
    }
    drop((go_r, pid_w, err_w));
    let state_w = state_pipe.map(|(_, w)| w);
    let joined = if in_unified {
        Ok(())
    } else {
        cgroups.apply_unified(helper)
    };
    if let Err(e) = joined {
        let _ = sys::kill(helper, libc::SIGKILL);
        let _ = sys::waitpid(helper, 0);
        return Err(e.into());
    }
    sys::write_all(go_w.as_raw_fd(), b"go")?;
    drop(go_w);
    let pid_bytes = sys::read_to_end(pid_r.as_raw_fd())?;
    let _ = sys::waitpid(helper, 0);
    if let Some(w) = state_w {
        // runc 1.1 reports an exec'd process as "running", with the init's pid in
        // the state and the process's own host pid at the top.
        if let Ok(pid) = String::from_utf8_lossy(&pid_bytes).trim().parse::<i32>() {
            let state = c.state_of("running");
            let msg = crate::init::container_process_state(&c.saved.config, pid, &state);
            let _ = sys::write_all(w.as_raw_fd(), &msg);
        }
    }
    let err = sys::read_to_end(err_r.as_raw_fd())?;
    if !err.is_empty() {
        if let Some((dir, _)) = &listener {
            let _ = std::fs::remove_dir_all(dir);
        }
        bail!("{}", String::from_utf8_lossy(&err));
    }
    let pid: i32 = String::from_utf8_lossy(&pid_bytes)
        .trim()
        .parse()
        .context("exec helper did not report the process pid")?;
    if let Some(p) = &a.pid_file {
        crate::init::write_pid_file(p, pid)?;
    }
    if let Some((dir, l)) = &listener {
        let (conn, _) = l.accept()?;
        let master = sys::recv_fd(conn.as_raw_fd())?;
        let _ = std::fs::remove_dir_all(dir);
        // SAFETY: dup of our stdin.
        let stdin_dup = unsafe { libc::dup(0) };
        if stdin_dup >= 0 {
            // SAFETY: fresh fd from dup.
            let stdin = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(stdin_dup) };
            super::create::spawn_tty_proxy(master, stdin);
        }
    }
    if a.detach {
        return Ok(0);
    }
    Ok(wait_forwarding(pid, &set))
}

fn block_signals() -> libc::sigset_t {
    let sigs = [
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGTERM,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGWINCH,
        libc::SIGCHLD,
    ];
    // SAFETY: local sigset manipulation.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in sigs {
            libc::sigaddset(&mut set, s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn wait_forwarding(pid: libc::pid_t, set: &libc::sigset_t) -> i32 {
    loop {
        loop {
            match sys::waitpid(-1, libc::WNOHANG) {
                Ok((0, _)) | Err(_) => break,
                Ok((p, status)) if p == pid => return sys::exit_code(status),
                Ok(_) => {}
            }
        }
        // SAFETY: zeroed siginfo is a valid out buffer.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: set is initialised.
        let sig = unsafe { libc::sigwaitinfo(set, &mut info) };
        if sig < 0 || sig == libc::SIGCHLD {
            continue;
        }
        let _ = sys::kill(pid, sig);
    }
}

struct HelperCtx<'a> {
    /// The container's groups, which the helper moves itself into.
    cgroups: &'a crate::cgroups::Manager,
    go: RawFd,
    pid_out: RawFd,
    err: RawFd,
    ns: &'a [(&'a str, OwnedFd)],
    process: &'a Process,
    seccomp: Option<&'a oci_spec::runtime::LinuxSeccomp>,
    console: Option<RawFd>,
    preserve: i32,
    /// The seccomp listener connection, and the pipe (read, write end) on which the
    /// parent sends the `ContainerProcessState` to go with the notify fd.
    listener: Option<RawFd>,
    state_in: Option<(RawFd, RawFd)>,
}

fn ns_type(name: &str) -> libc::c_int {
    match name {
        "user" => libc::CLONE_NEWUSER,
        "ipc" => libc::CLONE_NEWIPC,
        "uts" => libc::CLONE_NEWUTS,
        "net" => libc::CLONE_NEWNET,
        "pid" => libc::CLONE_NEWPID,
        "cgroup" => libc::CLONE_NEWCGROUP,
        "mnt" => libc::CLONE_NEWNS,
        _ => 0,
    }
}

fn helper_main(ctx: HelperCtx) -> ! {
    let fail = |msg: String| -> ! {
        let _ = sys::write_all(ctx.err, msg.as_bytes());
        sys::exit_now(1)
    };
    let _ = sys::prctl(libc::PR_SET_DUMPABLE, 0);
    let mut buf = [0u8; 4];
    if !matches!(sys::read_some(ctx.go, &mut buf), Ok(2)) {
        sys::exit_now(1);
    }
    // Before the mount namespace changes: the paths are the host's.
    if let Err(e) = ctx.cgroups.join_v1_self() {
        fail(format!("error executing setns process: {e}"));
    }
    for (name, fd) in ctx.ns {
        if let Err(e) = sys::setns(fd.as_raw_fd(), ns_type(name)) {
            fail(format!(
                "unable to start container process: failed to join {name} namespace: {e}"
            ));
        }
    }
    if ctx.ns.iter().any(|(n, _)| *n == "user") {
        // SAFETY: plain id syscalls.
        unsafe {
            libc::setresgid(0, 0, 0);
            libc::setresuid(0, 0, 0);
        }
    }
    // SAFETY: single-threaded child; the grandchild only execs or exits.
    let pid = match unsafe { sys::clone_fork(0) } {
        Ok(p) => p,
        Err(e) => fail(format!("unable to start container process: fork: {e}")),
    };
    if pid != 0 {
        let _ = sys::write_all(ctx.pid_out, pid.to_string().as_bytes());
        sys::exit_now(0);
    }
    // The parent reads the pid until every writer is gone, then answers on state_in.
    // SAFETY: closing this process's copies of fds it no longer uses.
    unsafe { libc::close(ctx.pid_out) };
    let listener_state = match ctx.state_in {
        Some((r, w)) => {
            // SAFETY: as above.
            unsafe { libc::close(w) };
            match sys::read_to_end(r) {
                Ok(s) if !s.is_empty() => s,
                _ => fail(
                    "unable to start container process: no state for the seccomp listener".into(),
                ),
            }
        }
        None => Vec::new(),
    };
    // The process itself, inside every namespace of the container.
    if ctx.console.is_some() {
        // SAFETY: setsid has no preconditions.
        unsafe { libc::setsid() };
    }
    if let Some(c) = ctx.console {
        if let Err(e) = crate::console::setup(c) {
            fail(format!(
                "unable to start container process: setup console: {e}"
            ));
        }
    }
    if let Err(e) = crate::process::set_rlimits(ctx.process) {
        fail(format!("unable to start container process: {e}"));
    }
    let prepared = match crate::process::prepare(
        ctx.process,
        ctx.seccomp,
        ctx.preserve,
        ctx.listener,
        &listener_state,
    ) {
        Ok(p) => p,
        Err(e) => fail(format!("unable to start container process: {e}")),
    };
    let e = prepared.exec(ctx.listener, &listener_state);
    fail(format!("unable to start container process: {e}"))
}
