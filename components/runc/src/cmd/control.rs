//! Verbs that change a container: `kill`, `delete`, `pause`/`resume`, `update`.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxMemory, LinuxPids, LinuxResources};

use crate::cgroups::Manager;
use crate::cli::UpdateArgs;
use crate::state::{Container, Status};
use crate::sys;

pub fn parse_signal(s: &str) -> Result<libc::c_int> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        bail!("unknown signal {s:?}");
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" | "CLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => bail!("unknown signal {s:?}"),
    };
    Ok(n)
}

pub fn kill(root: &Path, id: &str, signal: Option<&str>, all: bool) -> Result<i32> {
    let c = super::load(root, id)?;
    let sig = parse_signal(signal.unwrap_or("SIGTERM"))?;
    let status = c.status();
    if status == Status::Stopped && !all {
        bail!("container not running");
    }
    if all {
        let mgr = Manager::from_saved(&c.saved);
        let frozen = mgr.freeze(true).is_ok();
        for pid in mgr.pids() {
            let _ = sys::kill(pid, sig);
        }
        if frozen && status != Status::Paused {
            let _ = mgr.freeze(false);
        }
        return Ok(0);
    }
    sys::kill(c.saved.init_process_pid, sig).context("unable to signal init")?;
    Ok(0)
}

/// Kill everything, remove cgroups and state, run poststop hooks.
pub fn destroy(c: &Container) {
    let mgr = Manager::from_saved(&c.saved);
    if c.init_alive() {
        let _ = sys::kill(c.saved.init_process_pid, libc::SIGKILL);
    }
    let _ = mgr.freeze(false);
    for pid in mgr.pids() {
        let _ = sys::kill(pid, libc::SIGKILL);
    }
    wait_init_exit(c, &mgr, Duration::from_secs(10));
    if let Err(e) = mgr.destroy() {
        crate::logging::warn(&format!("remove cgroups: {e}"));
    }
    if let Some(h) = c.saved.config.hooks() {
        let state = c.hook_state("stopped");
        if let Err(e) = crate::hooks::run_all(h.poststop().as_ref(), &state) {
            crate::logging::warn(&format!("poststop hook: {e}"));
        }
    }
    let _ = std::fs::remove_dir_all(&c.dir);
}

/// Wait until the container's init has exited (a pidfd turns readable then), or
/// until it is inside exit(2) with nothing left alive in the container's cgroups,
/// or `limit` passes. The middle case is a pid namespace's init whose namespace
/// still holds a zombie that our caller has not reaped (an `exec -d` process is
/// the caller's child): it cannot finish exiting until the caller reaps, which
/// cannot happen while the caller waits for us.
fn wait_init_exit(c: &Container, mgr: &Manager, limit: Duration) {
    let deadline = Instant::now() + limit;
    // SAFETY: pidfd_open with no flags; the result is checked.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, c.saved.init_process_pid, 0) };
    // Opened after a reuse of the pid? The start time check below catches it.
    while c.init_alive()
        && !(c.init_exiting() && mgr.pids().is_empty())
        && Instant::now() < deadline
    {
        if fd >= 0 {
            let mut pfd = libc::pollfd {
                fd: fd as libc::c_int,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, 100) };
        } else {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    if fd >= 0 {
        // SAFETY: our pidfd, closed once.
        unsafe { libc::close(fd as libc::c_int) };
    }
}

pub fn delete(root: &Path, ids: &[String], force: bool) -> Result<i32> {
    for id in ids {
        let c = match Container::load(root, id) {
            Ok(c) => c,
            Err(crate::state::StateError::NotExist) => {
                // An aborted create may have left a directory without state.json.
                if crate::state::validate_id(id).is_ok() {
                    let _ = std::fs::remove_dir_all(root.join(id));
                }
                if force {
                    continue;
                }
                bail!("container {id} does not exist");
            }
            Err(e) => return Err(e.into()),
        };
        match c.status() {
            Status::Stopped | Status::Created => destroy(&c),
            s if force => {
                let _ = s;
                destroy(&c)
            }
            s => bail!(
                "cannot delete container {id} that is not stopped: {}",
                s.as_str()
            ),
        }
    }
    Ok(0)
}

pub fn pause(root: &Path, id: &str, freeze: bool) -> Result<i32> {
    let c = super::load(root, id)?;
    let status = c.status();
    let mgr = Manager::from_saved(&c.saved);
    if freeze {
        if !matches!(status, Status::Running | Status::Created) {
            bail!("container not running");
        }
        mgr.freeze(true)?;
    } else {
        if status != Status::Paused {
            bail!("container not paused");
        }
        mgr.freeze(false)?;
    }
    Ok(0)
}

/// docker/go-units RAMInBytes: "64m", "1g", "1024", "-1".
pub fn parse_bytes(s: &str) -> Result<i64> {
    let t = s.trim();
    if t == "-1" {
        return Ok(-1);
    }
    let lower = t.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let n: f64 = num
        .parse()
        .with_context(|| format!("invalid size: {s:?}"))?;
    let mult: f64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => bail!("invalid size: {s:?}"),
    };
    Ok((n * mult) as i64)
}

pub fn update(root: &Path, a: UpdateArgs) -> Result<i32> {
    let mut c = super::load(root, &a.id)?;
    let mut res: LinuxResources = match a.resources.as_deref() {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            parse_resources(&s, "stdin")?
        }
        Some(path) => {
            let s = std::fs::read_to_string(path).with_context(|| format!("open {path}"))?;
            parse_resources(&s, path)?
        }
        None => c
            .saved
            .config
            .linux()
            .as_ref()
            .and_then(|l| l.resources().clone())
            .unwrap_or_default(),
    };
    let mut mem = (*res.memory()).unwrap_or_default();
    let mut cpu = res.cpu().clone().unwrap_or_default();
    let mut mem_set = res.memory().is_some();
    let mut cpu_set = res.cpu().is_some();
    for (flag, setter) in [
        (
            &a.memory,
            LinuxMemory::set_limit as fn(&mut LinuxMemory, Option<i64>) -> &mut LinuxMemory,
        ),
        (&a.memory_swap, LinuxMemory::set_swap),
        (&a.memory_reservation, LinuxMemory::set_reservation),
        (&a.kernel_memory, LinuxMemory::set_kernel),
        (&a.kernel_memory_tcp, LinuxMemory::set_kernel_tcp),
    ] {
        if let Some(v) = flag {
            setter(&mut mem, Some(parse_bytes(v)?));
            mem_set = true;
        }
    }
    if let Some(v) = a.cpu_share {
        cpu.set_shares(Some(v));
        cpu_set = true;
    }
    if let Some(v) = a.cpu_period {
        cpu.set_period(Some(v));
        cpu_set = true;
    }
    if let Some(v) = a.cpu_quota {
        cpu.set_quota(Some(v));
        cpu_set = true;
    }
    if let Some(v) = a.cpu_rt_period {
        cpu.set_realtime_period(Some(v));
        cpu_set = true;
    }
    if let Some(v) = a.cpu_rt_runtime {
        cpu.set_realtime_runtime(Some(v));
        cpu_set = true;
    }
    if let Some(v) = &a.cpuset_cpus {
        cpu.set_cpus(Some(v.clone()));
        cpu_set = true;
    }
    if let Some(v) = &a.cpuset_mems {
        cpu.set_mems(Some(v.clone()));
        cpu_set = true;
    }
    if mem_set {
        res.set_memory(Some(mem));
    }
    if cpu_set {
        res.set_cpu(Some(cpu));
    }
    if let Some(p) = a.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(p);
        res.set_pids(Some(pids));
    }
    if let Some(w) = a.blkio_weight {
        let mut b = res.block_io().clone().unwrap_or_default();
        b.set_weight(Some(w));
        res.set_block_io(Some(b));
    }
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        bail!("intel RDT is not supported on this host");
    }
    // Only what was asked for is written; devices are never re-applied by update.
    let mut apply = res.clone();
    apply.set_devices(None);
    Manager::from_saved(&c.saved).set(&apply)?;
    let mut linux = c.saved.config.linux().clone().unwrap_or_default();
    linux.set_resources(Some(res));
    c.saved.config.set_linux(Some(linux));
    c.save()?;
    Ok(0)
}

fn parse_resources(s: &str, what: &str) -> Result<LinuxResources> {
    let de = &mut serde_json::Deserializer::from_str(s);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        anyhow::anyhow!(
            "decoding resources from {what}: invalid value at {path}: {}",
            e.into_inner()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_go_units() {
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert_eq!(parse_bytes("2KiB").unwrap(), 2048);
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("9").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("KILL").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), libc::SIGTERM);
        assert!(parse_signal("NOPE").is_err());
    }
}
