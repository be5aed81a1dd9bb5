//! A private docker daemon for the container commands when none is running.
//!
//! On a machine without an init system (a CI runner, a fresh VM, a container)
//! `apt-get install docker.io` leaves dockerd stopped, and the main job must still work
//! there. So when no daemon answers, `DOCKER_HOST` is not set and we are root, xtask
//! starts the installed dockerd on its own socket and data root, points every engine
//! call of this run at it, and stops it when the command ends. Its data root stays, so
//! the next run finds the images it built (an unchanged dev image is still a cache
//! hit). It never touches the host's firewall or bridges: `--iptables=false
//! --bridge=none`, and the dev-container commands use the host network.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

const DOCKERD: &str = "/usr/sbin/dockerd";
const RUN_DIR: &str = "/run/xtask-docker";
const DATA_ROOT: &str = "/var/lib/xtask-docker";

/// The daemon this process started, stopped by [`stop`].
static STARTED: Mutex<Option<duct::Handle>> = Mutex::new(None);
/// A shared lock on `users.lock` held by every xtask using the private daemon (the one
/// that started it waits for the others before it stops it).
static USING: Mutex<Option<std::fs::File>> = Mutex::new(None);

/// Whether [`start`] may be used instead of failing: the caller chose no daemon,
/// we may run one, and there is one to run.
pub fn can_start() -> bool {
    std::env::var_os("DOCKER_HOST").is_none()
        && crate::host::is_root()
        && Path::new(DOCKERD).exists()
}

/// Start the private daemon, wait until it answers, and point `DOCKER_HOST` of this
/// process (and so of every engine call after it) at it.
/// When another xtask already runs it, this one uses it too.
pub fn start(program: &str) -> Result<()> {
    let host = format!("unix://{RUN_DIR}/docker.sock");
    for dir in [RUN_DIR, DATA_ROOT] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {dir}"))?;
    }
    // One xtask at a time checks and starts; the others wait and then share it.
    let starting = lock_file("start.lock", libc::LOCK_EX)?;
    let answers = |host: &str| {
        super::succeeds(duct::cmd!(
            program,
            "-H",
            host,
            "version",
            "--format",
            "{{.Server.Version}}"
        ))
    };
    *USING.lock().unwrap() = Some(lock_file("users.lock", libc::LOCK_SH)?);
    if answers(&host) {
        crate::step(format_args!(
            "no docker daemon is running: using the private one another xtask started on {host}"
        ));
        std::env::set_var("DOCKER_HOST", &host);
        return Ok(());
    }
    let log_path = Path::new(DATA_ROOT).join("dockerd.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    let handle = duct::cmd!(
        DOCKERD,
        "--host",
        &host,
        "--data-root",
        DATA_ROOT,
        "--exec-root",
        format!("{RUN_DIR}/exec"),
        "--pidfile",
        format!("{RUN_DIR}/docker.pid"),
        "--iptables=false",
        "--ip-masq=false",
        "--bridge=none"
    )
    .before_spawn(|cmd| {
        use std::os::unix::process::CommandExt;
        // If xtask dies without stopping it (killed, not interrupted), the daemon
        // still gets SIGTERM: nothing keeps running behind the user's back.
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Ok(())
    })
    .stdin_null()
    .stdout_file(log.try_clone()?)
    .stderr_file(log)
    .unchecked()
    .start()
    .with_context(|| format!("cannot start {DOCKERD}"))?;
    crate::step(format_args!(
        "no docker daemon is running: started {DOCKERD} on {host} for this command (data in {DATA_ROOT}, log {})",
        log_path.display()
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(out) = handle.try_wait()? {
            bail!(
                "{DOCKERD} exited with {} before it answered; its log is {}: {}",
                out.status,
                log_path.display(),
                last_line(&log_path)
            );
        }
        if answers(&host) {
            break;
        }
        if Instant::now() > deadline {
            let _ = handle.kill();
            bail!(
                "{DOCKERD} did not answer on {host} within 60 s; its log is {}: {}",
                log_path.display(),
                last_line(&log_path)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Every engine call of this process (and its children) goes to the private daemon.
    std::env::set_var("DOCKER_HOST", &host);
    *STARTED.lock().unwrap() = Some(handle);
    drop(starting);
    Ok(())
}

/// Open (creating) a lock file of the run directory and `flock` it with `op`.
fn lock_file(name: &str, op: libc::c_int) -> Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let path = Path::new(RUN_DIR).join(name);
    let file = std::fs::File::create(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), op) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("cannot lock {}", path.display()));
    }
    Ok(file)
}

/// Stop the daemon [`start`] started, if any: SIGTERM so it stops its containerd and
/// unmounts its layers, then wait (and reap it; no zombie is left) and unmount what it
/// left mounted.
pub fn stop() {
    let using = USING.lock().unwrap().take();
    let Some(handle) = STARTED.lock().unwrap().take() else {
        return;
    };
    // Wait until no other xtask uses the daemon: our shared lock becomes exclusive.
    if let Some(file) = &using {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            crate::step("waiting for the other xtask commands that use the private docker daemon");
            // SAFETY: as above.
            unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        }
    }
    for pid in handle.pids() {
        // SAFETY: plain kill(2) on the pid of our own child, which is not reaped yet.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stopped = false;
    while !stopped && Instant::now() < deadline {
        stopped = matches!(handle.try_wait(), Ok(Some(_)));
        if !stopped {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    if !stopped {
        eprintln!("warning: {DOCKERD} did not stop within 30 s of SIGTERM; killing it");
        let _ = handle.kill();
    }
    // dockerd 20.10 leaves its netns directory and the private bind mount of its data
    // root mounted when it exits; nobody else uses them now (we hold the users' lock).
    for dir in [format!("{RUN_DIR}/exec"), DATA_ROOT.to_owned()] {
        crate::mounts::unmount_all(&crate::mounts::under(Path::new(&dir)));
    }
}

fn last_line(log: &Path) -> String {
    std::fs::read_to_string(log)
        .ok()
        .and_then(|t| {
            t.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_default()
}
