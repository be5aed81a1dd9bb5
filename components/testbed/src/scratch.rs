//! Scratch directories for test daemons that are swept when their test died.
//!
//! Daemon fixtures clean up in `Drop`, which never runs when nextest kills a test at its
//! timeout (or the test aborts): the daemon keeps running, its mounts and netns files
//! stay, and the next run finds them. So each directory records its owner (pid and start
//! time, so a reused pid does not count as alive), and creating a new one first sweeps
//! those whose owner is gone: their processes are killed, their mounts detached, the
//! directory removed.

use std::path::Path;

const OWNER_FILE: &str = ".testbed-owner";

/// A fresh directory `/tmp/<prefix>XXXXXX` owned by this process, after sweeping the
/// abandoned ones with the same prefix.
pub fn tempdir(prefix: &str) -> tempfile::TempDir {
    sweep(Path::new("/tmp"), prefix);
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .unwrap_or_else(|e| panic!("cannot create a /tmp/{prefix}* directory: {e}"));
    let me = std::process::id();
    let stamp = start_time(me).expect("the start time of this process");
    std::fs::write(dir.path().join(OWNER_FILE), format!("{me} {stamp}\n")).unwrap();
    dir
}

/// Remove every `<parent>/<prefix>*` directory whose recorded owner is no longer alive.
/// Directories without an owner record are left alone: they may be being created.
fn sweep(parent: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(prefix) {
            continue;
        }
        let dir = entry.path();
        let Ok(owner) = std::fs::read_to_string(dir.join(OWNER_FILE)) else {
            continue;
        };
        if owner_alive(&owner) {
            continue;
        }
        let killed = kill_processes_using(&dir);
        // SIGKILL lands asynchronously: wait until they are gone (or zombies nobody here
        // can reap) before their mounts and files are removed.
        let _ = crate::try_wait_for(std::time::Duration::from_secs(5), || {
            crate::reap_zombies();
            killed.iter().all(|pid| !running(*pid))
        });
        crate::unmount_under(&dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn owner_alive(record: &str) -> bool {
    let mut parts = record.split_whitespace();
    let (Some(pid), Some(stamp)) = (
        parts.next().and_then(|p| p.parse::<u32>().ok()),
        parts.next().and_then(|s| s.parse::<u64>().ok()),
    ) else {
        return false;
    };
    start_time(pid) == Some(stamp)
}

/// Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` exists and is not a zombie.
fn running(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    stat.rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .is_some_and(|state| state != "Z" && state != "X")
}

/// SIGKILL every process whose command line names `dir` (the daemons, their shims) or
/// whose root or working directory lies below it (the containers they ran); returns
/// their pids.
fn kill_processes_using(dir: &Path) -> Vec<i32> {
    let mut killed = Vec::new();
    let needle = dir.to_string_lossy().into_owned();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return killed;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
        let names_dir = String::from_utf8_lossy(&cmdline)
            .split('\0')
            .any(|a| a.contains(&needle));
        let inside = ["root", "cwd"]
            .iter()
            .any(|l| std::fs::read_link(p.path().join(l)).is_ok_and(|t| t.starts_with(dir)));
        if names_dir || inside {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed.push(pid);
        }
    }
    killed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_owners_dir_and_its_process_are_swept_a_live_ones_kept() {
        let prefix = format!("testbed-sweep-{}-", std::process::id());
        let live = tempdir(&prefix);
        // An abandoned dir: its owner is a process that has exited, and processes it
        // started still run: one names the dir on its command line (a daemon), one
        // works inside it (a container).
        let dead = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir_in("/tmp")
            .unwrap()
            .keep();
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let gone_pid = gone.id();
        let gone_start = start_time(gone_pid).unwrap_or(1);
        gone.wait().unwrap();
        std::fs::write(dead.join(OWNER_FILE), format!("{gone_pid} {gone_start}\n")).unwrap();
        let log = dead.join("daemon.log");
        std::fs::write(&log, "").unwrap();
        let daemon = std::process::Command::new("tail")
            .arg("-f")
            .arg(&log)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let container = std::process::Command::new("sleep")
            .arg("1000")
            .current_dir(&dead)
            .spawn()
            .unwrap();

        let next = tempdir(&prefix);

        assert!(!dead.exists(), "the abandoned dir was not removed");
        assert!(live.path().exists() && next.path().exists());
        // The sweep killed them and, as this process's children, reaped them.
        for (what, child) in [("daemon", daemon), ("container", container)] {
            assert!(
                !running(child.id() as i32),
                "the abandoned dir's {what} process was not killed"
            );
        }
    }

    #[test]
    fn start_time_tells_a_reused_pid_apart() {
        let record = format!("{} 1\n", std::process::id());
        assert!(!owner_alive(&record));
        let me = format!(
            "{} {}\n",
            std::process::id(),
            start_time(std::process::id()).unwrap()
        );
        assert!(owner_alive(&me));
    }
}
