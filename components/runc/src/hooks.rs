//! OCI hooks: each runs with the container state JSON on stdin, its own args and env,
//! and an optional timeout; a failing hook fails the lifecycle step (except poststop,
//! whose failures are only logged, as the spec says).

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// runc 1.1's words: its hook error wrapped in the hook's index.
    #[error("error running hook #{index}: error running hook: {reason}, stdout: {stdout}, stderr: {stderr}")]
    Failed {
        index: usize,
        reason: String,
        stdout: String,
        stderr: String,
    },
    #[error("error running hook #{index}: hook ran past specified timeout of {seconds:.1}s")]
    Timeout { index: usize, seconds: f64 },
}

pub fn run_all(hooks: Option<&Vec<Hook>>, state: &[u8]) -> Result<(), HookError> {
    for (index, h) in hooks.into_iter().flatten().enumerate() {
        run_one(index, h, state)?;
    }
    Ok(())
}

fn run_one(index: usize, hook: &Hook, state: &[u8]) -> Result<(), HookError> {
    let fail = |reason: String, stdout: &[u8], stderr: &[u8]| HookError::Failed {
        index,
        reason,
        stdout: String::from_utf8_lossy(stdout).into_owned(),
        stderr: String::from_utf8_lossy(stderr).into_owned(),
    };
    let mut cmd = Command::new(hook.path());
    let args = hook.args().clone().unwrap_or_default();
    if let Some(a0) = args.first() {
        cmd.arg0(a0);
    }
    cmd.args(args.iter().skip(1));
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        fail(
            format!("fork/exec {}: {e}", hook.path().display()),
            b"",
            b"",
        )
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading its stdin: EPIPE is not a failure.
        let _ = stdin.write_all(state);
    }
    let timeout = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let done = wait_draining(&mut child, timeout).map_err(|e| fail(e.to_string(), b"", b""))?;
    if done.timed_out {
        return Err(HookError::Timeout {
            index,
            seconds: timeout.unwrap_or_default().as_secs_f64(),
        });
    }
    if !done.status.success() {
        let reason = match done.status.code() {
            Some(c) => format!("exit status {c}"),
            None => "signal: killed".to_string(),
        };
        return Err(fail(reason, &done.stdout, &done.stderr));
    }
    Ok(())
}

/// How a hook ended.
struct Finished {
    status: std::process::ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    timed_out: bool,
}

/// Wait for `child` to exit and its stdout and stderr to close, reading both as
/// they come (a hook that writes more than a pipe holds must not block), woken by
/// the events themselves rather than polling. Past `timeout` it is killed and still
/// waited for, as runc does.
fn wait_draining(child: &mut Child, timeout: Option<Duration>) -> std::io::Result<Finished> {
    let deadline = timeout.map(|t| Instant::now() + t);
    // SAFETY: pidfd_open of our own unreaped child; the result is checked.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id(), 0) };
    let pidfd = (pidfd >= 0).then(|| {
        // SAFETY: a fresh fd the kernel just returned.
        unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) }
    });
    let mut pipes: Vec<(Option<OwnedFd>, Vec<u8>)> = vec![
        (child.stdout.take().map(OwnedFd::from), Vec::new()),
        (child.stderr.take().map(OwnedFd::from), Vec::new()),
    ];
    let mut exited = pidfd.is_none();
    let mut timed_out = false;
    loop {
        let mut fds: Vec<libc::pollfd> = pipes
            .iter()
            .filter_map(|(fd, _)| fd.as_ref())
            .chain(pidfd.as_ref().filter(|_| !exited))
            .map(|fd| libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        if fds.is_empty() {
            break;
        }
        let wait_ms = match deadline.filter(|_| !timed_out) {
            Some(d) => d.saturating_duration_since(Instant::now()).as_millis() as libc::c_int,
            None => -1,
        };
        // SAFETY: fds is a valid array of pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait_ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            // The deadline passed.
            timed_out = true;
            let _ = child.kill();
            continue;
        }
        for p in fds.iter().filter(|p| p.revents != 0) {
            if pidfd.as_ref().is_some_and(|f| f.as_raw_fd() == p.fd) {
                exited = true;
                continue;
            }
            let Some((fd, buf)) = pipes
                .iter_mut()
                .find(|(fd, _)| fd.as_ref().is_some_and(|f| f.as_raw_fd() == p.fd))
            else {
                continue;
            };
            let mut chunk = [0u8; 8192];
            match crate::sys::read_some(p.fd, &mut chunk) {
                Ok(0) | Err(_) => *fd = None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
    let status = child.wait()?;
    let [(_, stdout), (_, stderr)] = <[_; 2]>::try_from(pipes).expect("two pipes");
    Ok(Finished {
        status,
        stdout,
        stderr,
        timed_out,
    })
}
