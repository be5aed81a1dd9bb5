//! `create`, `start` and `run`: a container is created with its init blocked on
//! `exec.fifo`; `start` opens the fifo to let it exec; `run` does both and, in the
//! foreground, forwards signals to the init, proxies a terminal if one was asked
//! for without a console socket, and exits with the container's status.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cli::{Cli, CreateArgs, RunArgs};
use crate::init::{self, CreateOpts};
use crate::state::Status;
use crate::sys;

fn preserve(n: i32) -> i32 {
    // systemd socket activation fds are passed on as well, as runc does.
    let listen = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(0);
    n + listen
}

fn opts<'a>(cli: &'a Cli, a: &'a CreateArgs, start_now: bool) -> Result<CreateOpts<'a>> {
    crate::state::validate_id(&a.id)?;
    let bundle = super::bundle_dir(&a.bundle)?;
    let spec = super::load_spec(&bundle)?;
    Ok(CreateOpts {
        root: &cli.root,
        id: &a.id,
        bundle,
        spec,
        console_socket: a.console_socket.clone(),
        pid_file: a.pid_file.clone(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: preserve(a.preserve_fds),
        systemd_cgroup: cli.systemd_cgroup,
        start_now,
    })
}

pub fn create(cli: &Cli, a: CreateArgs) -> Result<i32> {
    let run = || -> Result<()> {
        let o = opts(cli, &a, false)?;
        init::create(o)?;
        Ok(())
    };
    run().map_err(|e| anyhow::anyhow!("runc create failed: {}", crate::one_line(&e)))?;
    Ok(0)
}

/// Let a created container's init exec, then run poststart hooks.
pub fn start(root: &Path, id: &str) -> Result<i32> {
    let c = super::load(root, id)?;
    match c.status() {
        Status::Created => {}
        Status::Stopped => bail!("cannot start a container that has stopped"),
        Status::Running => bail!("cannot start an already running container"),
        Status::Paused => bail!("cannot start a container in the paused state"),
    }
    let fifo = c.fifo_path();
    let f = sys::open_path(&fifo, libc::O_RDONLY | libc::O_NONBLOCK).context("open exec fifo")?;
    let mut buf = [0u8; 1];
    loop {
        match sys::read_some(f.as_raw_fd(), &mut buf) {
            Ok(n) if n > 0 => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e).context("read exec fifo"),
        }
        if !c.init_alive() {
            bail!("cannot start a container that has stopped");
        }
        // The init writes as soon as its blocked open returns; wake on that, and
        // look at the init again now and then in case it died instead.
        let mut pfd = libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, 50) };
    }
    let _ = std::fs::remove_file(&fifo);
    if let Some(h) = c.saved.config.hooks() {
        let state = c.hook_state("running");
        if let Err(e) = crate::hooks::run_all(h.poststart().as_ref(), &state) {
            let _ = sys::kill(c.saved.init_process_pid, libc::SIGKILL);
            return Err(e.into());
        }
    }
    Ok(0)
}

/// Signals `run` forwards to the init (everything a terminal or supervisor sends).
fn forwarded() -> Vec<libc::c_int> {
    vec![
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGTERM,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGWINCH,
        libc::SIGCONT,
        libc::SIGALRM,
        libc::SIGPWR,
        libc::SIGCHLD,
    ]
}

fn block(sigs: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigset manipulation on a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in sigs {
            libc::sigaddset(&mut set, *s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

pub fn run(cli: &Cli, a: RunArgs) -> Result<i32> {
    let detach = a.detach;
    let want_tty = {
        let bundle = super::bundle_dir(&a.create.bundle)
            .map_err(|e| anyhow::anyhow!("runc run failed: {}", crate::one_line(&e)))?;
        super::load_spec(&bundle)
            .map_err(|e| anyhow::anyhow!("runc run failed: {}", crate::one_line(&e)))?
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            == Some(true)
    };
    if detach {
        let r = (|| -> Result<()> {
            let o = opts(cli, &a.create, false)?;
            init::create(o)?;
            Ok(())
        })();
        r.map_err(|e| anyhow::anyhow!("runc run failed: {}", crate::one_line(&e)))?;
        start(&cli.root, &a.create.id)
            .map_err(|e| anyhow::anyhow!("runc run failed: {}", crate::one_line(&e)))?;
        return Ok(0);
    }
    if !a.no_subreaper {
        let _ = sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
    }
    let set = block(&forwarded());
    // A terminal without a console socket: we hold the master and proxy our stdio.
    let mut proxy: Option<(OwnedFd, OwnedFd)> = None;
    let mut create_args = a.create.clone();
    let tmp_sock;
    if want_tty && create_args.console_socket.is_none() {
        let dir = std::env::temp_dir().join(format!("runc-console-{}", sys::getpid()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("console.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path)?;
        create_args.console_socket = Some(path);
        tmp_sock = Some((dir, listener));
    } else {
        tmp_sock = None;
    }
    let created = (|| -> Result<i32> {
        let o = opts(cli, &create_args, false)?;
        let accept = tmp_sock.as_ref().map(|(_, l)| l.try_clone());
        let pid = init::create(o)?;
        if let Some(Ok(l)) = accept {
            let (conn, _) = l.accept()?;
            let master = sys::recv_fd(conn.as_raw_fd())?;
            let stdin_dup = unsafe { libc::dup(0) };
            // SAFETY: dup returned a fresh fd (or -1, rejected below).
            if stdin_dup >= 0 {
                proxy = Some((master, unsafe { OwnedFd::from_raw_fd(stdin_dup) }));
            }
        }
        Ok(pid)
    })();
    if let Some((dir, _)) = &tmp_sock {
        let _ = std::fs::remove_dir_all(dir);
    }
    let pid = created.map_err(|e| anyhow::anyhow!("runc run failed: {}", crate::one_line(&e)))?;
    start(&cli.root, &a.create.id)
        .map_err(|e| anyhow::anyhow!("runc run failed: {}", crate::one_line(&e)))?;
    if let Some((master, stdin)) = proxy {
        spawn_tty_proxy(master, stdin);
    }
    let status = wait_forwarding(pid, &set);
    if !a.keep {
        if let Ok(c) = super::load(&cli.root, &a.create.id) {
            super::control::destroy(&c);
        }
    }
    Ok(status)
}

pub(super) fn spawn_tty_proxy(master: OwnedFd, stdin: OwnedFd) {
    let m_out = master.try_clone().ok();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = sys::read_some(stdin.as_raw_fd(), &mut buf) {
            if n == 0 || sys::write_all(master.as_raw_fd(), &buf[..n]).is_err() {
                break;
            }
        }
    });
    if let Some(m) = m_out {
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = sys::read_some(m.as_raw_fd(), &mut buf) {
                if n == 0 || sys::write_all(1, &buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
}

/// Forward signals to `pid` until it exits; reap everything else we adopted.
fn wait_forwarding(pid: libc::pid_t, set: &libc::sigset_t) -> i32 {
    loop {
        // Reap first: the init may already be gone.
        loop {
            match sys::waitpid(-1, libc::WNOHANG) {
                Ok((0, _)) | Err(_) => break,
                Ok((p, status)) if p == pid => return sys::exit_code(status),
                Ok(_) => {}
            }
        }
        // SAFETY: zeroed siginfo is a valid out buffer; set is initialised.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let sig = unsafe { libc::sigwaitinfo(set, &mut info) };
        if sig < 0 || sig == libc::SIGCHLD {
            continue;
        }
        let _ = sys::kill(pid, sig);
    }
}
