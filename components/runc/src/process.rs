//! The last steps before a container process runs, shared by the init of `create`
//! and by `exec`: rlimits, oom score, the executable lookup (with runc's error
//! wording), user and groups, capabilities, no_new_privs, umask, seccomp, fd hygiene,
//! and finally execve.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Process;

use crate::caps::CapSets;
use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Go's exec.LookPath wording, which callers (docker, containerd) show verbatim.
    #[error("exec: {name:?}: {reason}")]
    Lookup { name: String, reason: String },
    #[error("{what}: {source}")]
    Sys {
        what: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error("process.args must not be empty")]
    NoArgs,
}

fn sys_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ProcessError {
    let what = what.into();
    move |source| ProcessError::Sys { what, source }
}

pub fn env_get<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

fn is_executable(p: &Path) -> std::io::Result<()> {
    let meta = std::fs::metadata(p)?;
    use std::os::unix::fs::PermissionsExt;
    if meta.is_dir() || meta.permissions().mode() & 0o111 == 0 {
        return Err(std::io::Error::from_raw_os_error(libc::EACCES));
    }
    Ok(())
}

fn os_reason(e: &std::io::Error) -> String {
    // Go prints the bare strerror ("no such file or directory").
    let s = e.to_string();
    let s = s.split(" (os error").next().unwrap_or(&s).to_string();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => s,
    }
}

/// Resolve `name` the way Go's exec.LookPath does, in the current root.
pub fn lookup(name: &str, env: &[String]) -> Result<PathBuf, ProcessError> {
    if name.contains('/') {
        return match is_executable(Path::new(name)) {
            Ok(()) => Ok(PathBuf::from(name)),
            Err(e) => Err(ProcessError::Lookup {
                name: name.to_string(),
                reason: if e.kind() == std::io::ErrorKind::NotFound {
                    format!("stat {name}: {}", os_reason(&e))
                } else {
                    os_reason(&e)
                },
            }),
        };
    }
    let path = env_get(env, "PATH").unwrap_or("");
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = Path::new(dir).join(name);
        if is_executable(&cand).is_ok() {
            return Ok(cand);
        }
    }
    Err(ProcessError::Lookup {
        name: name.to_string(),
        reason: "executable file not found in $PATH".to_string(),
    })
}

pub fn set_rlimits(p: &Process) -> Result<(), ProcessError> {
    for r in p.rlimits().iter().flatten() {
        let name = serde_json::to_value(r.typ())
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let res = match name.as_str() {
            "RLIMIT_CPU" => libc::RLIMIT_CPU,
            "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
            "RLIMIT_DATA" => libc::RLIMIT_DATA,
            "RLIMIT_STACK" => libc::RLIMIT_STACK,
            "RLIMIT_CORE" => libc::RLIMIT_CORE,
            "RLIMIT_RSS" => libc::RLIMIT_RSS,
            "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
            "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
            "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
            "RLIMIT_AS" => libc::RLIMIT_AS,
            "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
            "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
            "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
            "RLIMIT_NICE" => libc::RLIMIT_NICE,
            "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
            "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
            _ => continue,
        };
        let lim = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: lim is a valid rlimit.
        if unsafe { libc::setrlimit(res, &lim) } < 0 {
            return Err(sys_err(format!("error setting rlimit type {name}"))(
                std::io::Error::last_os_error(),
            ));
        }
    }
    Ok(())
}

pub fn set_oom_score_adj(p: &Process) -> Result<(), ProcessError> {
    if let Some(adj) = p.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(sys_err("set oom_score_adj"))?;
    }
    Ok(())
}

/// HOME from /etc/passwd of the current root for `uid`, as runc adds it when unset.
fn home_of(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[5].to_string())
            })
        })
        .unwrap_or_else(|| "/".to_string())
}

/// Everything decided before the final exec.
pub struct Prepared {
    pub path: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<String>,
    seccomp_late: Option<libseccomp::ScmpFilterContext>,
    seccomp_notify: Option<std::os::fd::RawFd>,
}

/// Apply identity, capabilities and the early seccomp filter. Runs inside the
/// container root, as root of the container's user namespace.
pub fn prepare(
    p: &Process,
    seccomp: Option<&oci_spec::runtime::LinuxSeccomp>,
    preserve_fds: i32,
    seccomp_listener: Option<std::os::fd::RawFd>,
    state_for_listener: &[u8],
) -> Result<Prepared, ProcessError> {
    let args = p.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err(ProcessError::NoArgs);
    }
    let mut env = p.env().clone().unwrap_or_default();
    let user = p.user();
    if env_get(&env, "HOME").is_none() {
        env.push(format!("HOME={}", home_of(user.uid())));
    }
    let path = lookup(&args[0], &env)?;
    let cwd = p.cwd();
    let early_cwd = std::env::set_current_dir(cwd).is_ok();

    let nnp = p.no_new_privileges() == Some(true);
    let mut seccomp_late = None;
    let mut seccomp_notify = None;
    if let Some(s) = seccomp {
        let ctx = crate::seccomp::build(s)?;
        if nnp {
            seccomp_late = Some(ctx);
        } else {
            seccomp_notify = crate::seccomp::load(&ctx, crate::seccomp::uses_notify(s))?;
        }
    }

    let caps = p
        .capabilities()
        .as_ref()
        .map(CapSets::from_spec)
        .unwrap_or_default();
    crate::caps::apply_bounding(&caps).map_err(sys_err("apply bounding capabilities"))?;
    sys::prctl(libc::PR_SET_KEEPCAPS, 1).map_err(sys_err("set keepcaps"))?;
    let groups: Vec<libc::gid_t> = user.additional_gids().clone().unwrap_or_default();
    // SAFETY: groups is a valid slice of gids.
    if unsafe { libc::setgroups(groups.len(), groups.as_ptr()) } < 0 {
        let e = std::io::Error::last_os_error();
        // setgroups is denied in a user namespace with setgroups=deny; fine when
        // nothing was asked for.
        if !groups.is_empty() || e.raw_os_error() != Some(libc::EPERM) {
            return Err(sys_err("setgroups")(e));
        }
    }
    let (uid, gid) = (user.uid(), user.gid());
    // SAFETY: plain id syscalls.
    if unsafe { libc::setresgid(gid, gid, gid) } < 0 {
        return Err(sys_err(format!("setgid {gid}"))(
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: as above.
    if unsafe { libc::setresuid(uid, uid, uid) } < 0 {
        return Err(sys_err(format!("setuid {uid}"))(
            std::io::Error::last_os_error(),
        ));
    }
    sys::prctl(libc::PR_SET_KEEPCAPS, 0).map_err(sys_err("clear keepcaps"))?;
    crate::caps::apply_sets(&caps).map_err(sys_err("apply capabilities"))?;
    if !early_cwd {
        std::env::set_current_dir(cwd).map_err(sys_err(format!(
            "chdir to cwd ({:?}) set in config.json failed",
            cwd.display().to_string()
        )))?;
    }
    // A cwd reached through a leaked host fd would show as "(unreachable)":
    // refuse it (CVE-2024-21626 class).
    match std::env::current_dir() {
        Ok(d) if d.is_absolute() => {}
        _ => {
            return Err(ProcessError::Sys {
                what: "current working directory is outside of container mount namespace root"
                    .into(),
                source: std::io::Error::from_raw_os_error(libc::ENOENT),
            })
        }
    }
    if let Some(mask) = user.umask() {
        // SAFETY: umask has no preconditions.
        unsafe { libc::umask(mask as libc::mode_t) };
    }
    if nnp {
        sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1).map_err(sys_err("set no_new_privs"))?;
    }
    reset_signals();
    sys::cloexec_from(3 + preserve_fds).map_err(sys_err("close inherited fds"))?;
    for fd in 3..3 + preserve_fds {
        let _ = sys::clear_cloexec(fd);
    }
    if let (Some(listener), Some(fd)) = (seccomp_listener, seccomp_notify) {
        send_notify_fd(listener, fd, state_for_listener)?;
    }
    Ok(Prepared {
        path,
        args,
        env,
        seccomp_late,
        seccomp_notify: None,
    })
}

/// The container process starts with default dispositions and nothing blocked (our
/// runtime ignores SIGPIPE and blocks forwarded signals; exec keeps both).
fn reset_signals() {
    // SAFETY: resetting dispositions and the mask of this (about to exec) process.
    unsafe {
        for sig in 1..libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

fn send_notify_fd(
    listener: std::os::fd::RawFd,
    fd: std::os::fd::RawFd,
    state: &[u8],
) -> Result<(), ProcessError> {
    sys::send_fd(listener, fd, state).map_err(sys_err("send seccomp notify fd"))?;
    // SAFETY: the listener now holds its own copy.
    unsafe { libc::close(fd) };
    Ok(())
}

impl Prepared {
    /// Load a late (no_new_privs) seccomp filter and exec. Never returns on success.
    pub fn exec(
        mut self,
        seccomp_listener: Option<std::os::fd::RawFd>,
        state: &[u8],
    ) -> ProcessError {
        if let Some(ctx) = self.seccomp_late.take() {
            let notify = ctx.get_act_default().ok() == Some(libseccomp::ScmpAction::Notify)
                || seccomp_listener.is_some();
            match crate::seccomp::load(&ctx, notify && seccomp_listener.is_some()) {
                Ok(fd) => self.seccomp_notify = fd,
                Err(e) => return e.into(),
            }
            if let (Some(l), Some(fd)) = (seccomp_listener, self.seccomp_notify) {
                if let Err(e) = send_notify_fd(l, fd, state) {
                    return e;
                }
            }
        }
        let e = sys::execve(&self.path, &self.args, &self.env);
        ProcessError::Sys {
            what: format!("exec {}", self.path.display()),
            source: e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_uses_go_wording() {
        let env = vec!["PATH=/nonexistent-dir:/bin".to_string()];
        assert!(lookup("sh", &env).is_ok());
        assert_eq!(
            lookup("nope-not-here", &env).unwrap_err().to_string(),
            "exec: \"nope-not-here\": executable file not found in $PATH"
        );
        assert_eq!(
            lookup("/nope/x", &env).unwrap_err().to_string(),
            "exec: \"/nope/x\": stat /nope/x: no such file or directory"
        );
    }
}
