//! Control groups for a container, on cgroup v1 (one hierarchy per controller, plus
//! the unified hierarchy of a hybrid host) and v2 (one unified hierarchy), with the
//! cgroupfs driver: create and join the container's groups, apply
//! `linux.resources`, freeze/thaw, list pids, read stats, remove.
//!
//! With `--systemd-cgroup` the `slice:prefix:name` path form is accepted and mapped to
//! `<slice>/<prefix>-<name>.scope` under the cgroupfs tree; no D-Bus transient unit is
//! created. Without a running systemd the flag is refused before anything is made,
//! with runc's wording.

mod devices_bpf;
mod stats;
mod v1;
mod v2;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

pub use stats::Stats;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid systemd cgroup path {0:?}: expected slice:prefix:name")]
    SystemdPath(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("systemd not running on this host, cannot use systemd cgroups manager ({SYSTEMD_RUNNING} is missing): run without --systemd-cgroup to use the cgroupfs driver")]
    NoSystemd,
    #[error("cgroup v2 controller {controller:?} is not available in {dir} (its cgroup.controllers has: {available:?}): enable it in the parent's cgroup.subtree_control or drop linux.resources.{field}")]
    NoController {
        controller: &'static str,
        field: &'static str,
        dir: PathBuf,
        available: String,
    },
}

/// Exists while systemd is the running init (what sd_booted() checks).
const SYSTEMD_RUNNING: &str = "/run/systemd/system";

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CgroupError + '_ {
    move |source| CgroupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    std::fs::write(path, value).map_err(io_err(path))
}

pub(crate) fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

pub(crate) fn read_u64(path: &Path) -> Option<u64> {
    read(path).and_then(|s| s.parse().ok())
}

/// Whether `/sys/fs/cgroup` is a pure cgroup v2 mount.
pub fn is_unified() -> bool {
    let c = crate::sys::cstr(CGROUP_ROOT);
    // SAFETY: zeroed statfs is a valid out buffer; c is a valid C string.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    rc == 0 && st.f_type == libc::CGROUP2_SUPER_MAGIC
}

/// The cgroups of one container: controller name ("" = unified) to directory.
#[derive(Debug, Clone)]
pub struct Manager {
    paths: BTreeMap<String, PathBuf>,
    unified: bool,
}

impl Manager {
    /// Work out the directories for `cgroups_path` (from the spec; empty means
    /// `/<id>` relative to our own cgroup, as runc does).
    pub fn new(cgroups_path: Option<&Path>, id: &str, systemd: bool) -> Result<Self, CgroupError> {
        if systemd && !Path::new(SYSTEMD_RUNNING).is_dir() {
            return Err(CgroupError::NoSystemd);
        }
        let rel = resolve_path(cgroups_path, id, systemd)?;
        let unified = is_unified();
        let own = own_cgroups();
        let mut paths = BTreeMap::new();
        if unified {
            let base = if rel.is_absolute() {
                PathBuf::new()
            } else {
                strip_root(own.get("").map(PathBuf::as_path).unwrap_or(Path::new("/")))
            };
            paths.insert(
                String::new(),
                Path::new(CGROUP_ROOT).join(base).join(strip_root(&rel)),
            );
        } else {
            for (ctrl, mount) in v1::hierarchies() {
                let key = if ctrl == "unified" {
                    String::new()
                } else {
                    ctrl.clone()
                };
                let base = if rel.is_absolute() {
                    PathBuf::new()
                } else {
                    strip_root(
                        own.get(&key)
                            .map(PathBuf::as_path)
                            .unwrap_or(Path::new("/")),
                    )
                };
                paths.insert(key, mount.join(base).join(strip_root(&rel)));
            }
        }
        Ok(Manager { paths, unified })
    }

    pub fn from_saved(saved: &crate::state::Saved) -> Self {
        Manager {
            unified: saved.cgroup_paths.len() == 1 && saved.cgroup_paths.contains_key(""),
            paths: saved.cgroup_paths.clone(),
        }
    }

    pub fn paths(&self) -> &BTreeMap<String, PathBuf> {
        &self.paths
    }

    /// Create the directories (and on v1 seed cpuset) without moving anyone in.
    pub fn create(&self) -> Result<(), CgroupError> {
        for (ctrl, dir) in &self.paths {
            if self.unified || ctrl.is_empty() {
                v2::create(dir, self.unified)?;
            } else {
                v1::create(ctrl, dir)?;
            }
        }
        Ok(())
    }

    pub fn apply(&self, pid: i32) -> Result<(), CgroupError> {
        for dir in self.paths.values() {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    pub fn set(&self, res: &LinuxResources) -> Result<(), CgroupError> {
        if self.unified {
            v2::set(&self.paths[""], res)
        } else {
            v1::set(&self.paths, res)
        }
    }

    pub fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        if self.unified {
            v2::freeze(&self.paths[""], frozen)
        } else {
            let dir = self
                .paths
                .get("freezer")
                .ok_or_else(|| CgroupError::Unsupported("no freezer cgroup".into()))?;
            v1::freeze(dir, frozen)
        }
    }

    pub fn is_frozen(&self) -> bool {
        if self.unified {
            self.paths
                .get("")
                .and_then(|d| read(&d.join("cgroup.freeze")))
                .is_some_and(|s| s == "1")
        } else {
            self.paths
                .get("freezer")
                .and_then(|d| read(&d.join("freezer.state")))
                .is_some_and(|s| s == "FROZEN" || s == "FREEZING")
        }
    }

    /// Every pid in the container's groups (recursively), sorted.
    pub fn pids(&self) -> Vec<i32> {
        let dir = if self.unified {
            self.paths.get("")
        } else {
            self.paths
                .get("pids")
                .or_else(|| self.paths.get("memory"))
                .or_else(|| self.paths.values().next())
        };
        let mut out = Vec::new();
        if let Some(dir) = dir {
            collect_pids(dir, &mut out);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    pub fn stats(&self) -> Stats {
        if self.unified {
            stats::v2(&self.paths[""])
        } else {
            stats::v1(&self.paths)
        }
    }

    /// Kill what is left and remove the directories, deepest first.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        for pid in self.pids() {
            let _ = crate::sys::kill(pid, libc::SIGKILL);
        }
        let _ = self.freeze(false);
        for dir in self.paths.values() {
            remove_tree(dir)?;
        }
        Ok(())
    }
}

/// The v1 mount point holding controller `ctrl` ("" = the unified mount).
pub fn v1_mount_of(ctrl: &str) -> Option<PathBuf> {
    let key = if ctrl.is_empty() { "unified" } else { ctrl };
    v1::hierarchies()
        .into_iter()
        .find(|(c, _)| c == key)
        .map(|(_, m)| m)
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) {
    if let Some(s) = read(&dir.join("cgroup.procs")) {
        out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_pids(&e.path(), out);
            }
        }
    }
}

fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    if !dir.exists() {
        return Ok(());
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path())?;
            }
        }
    }
    // rmdir fails with EBUSY while killed tasks are still exiting: retry briefly.
    let mut last = None;
    for _ in 0..100 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => last = Some(e),
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Err(CgroupError::Io {
        path: dir.to_path_buf(),
        source: last.unwrap(),
    })
}

fn strip_root(p: &Path) -> PathBuf {
    p.strip_prefix("/").unwrap_or(p).to_path_buf()
}

/// The path inside each hierarchy: absolute stays absolute (under the mount root),
/// relative is under our own cgroup.
fn resolve_path(p: Option<&Path>, id: &str, systemd: bool) -> Result<PathBuf, CgroupError> {
    let raw = p
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    if systemd {
        if raw.is_empty() {
            return Ok(PathBuf::from(format!("/system.slice/runc-{id}.scope")));
        }
        let parts: Vec<&str> = raw.split(':').collect();
        if parts.len() != 3 {
            return Err(CgroupError::SystemdPath(raw));
        }
        let slice = if parts[0].is_empty() {
            "system.slice"
        } else {
            parts[0]
        };
        let unit = if parts[2].ends_with(".slice") {
            parts[2].to_string()
        } else {
            format!("{}-{}.scope", parts[1], parts[2])
        };
        return Ok(Path::new("/").join(expand_slice(slice)).join(unit));
    }
    if raw.is_empty() {
        return Ok(PathBuf::from(id));
    }
    Ok(PathBuf::from(raw))
}

/// `a-b-c.slice` lives at `a.slice/a-b.slice/a-b-c.slice`, as systemd lays it out.
fn expand_slice(slice: &str) -> PathBuf {
    let name = slice.trim_end_matches(".slice");
    if name == "-" || name.is_empty() {
        return PathBuf::new();
    }
    let mut out = PathBuf::new();
    let mut prefix = String::new();
    for part in name.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        out.push(format!("{prefix}.slice"));
    }
    out
}

/// Our own cgroup per controller ("" = unified), from /proc/self/cgroup.
fn own_cgroups() -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    for line in read(Path::new("/proc/self/cgroup"))
        .unwrap_or_default()
        .lines()
    {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), Some(c)) => (a, b, c),
            _ => continue,
        };
        if ctrls.is_empty() {
            out.insert(String::new(), PathBuf::from(path));
        } else {
            for c in ctrls.split(',') {
                out.insert(
                    c.trim_start_matches("name=").to_string(),
                    PathBuf::from(path),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_paths_expand_like_systemd() {
        assert_eq!(
            resolve_path(Some(Path::new("system.slice:docker:abc")), "x", true).unwrap(),
            PathBuf::from("/system.slice/docker-abc.scope")
        );
        assert_eq!(
            expand_slice("a-b-c.slice"),
            PathBuf::from("a.slice/a-b.slice/a-b-c.slice")
        );
        assert!(resolve_path(Some(Path::new("bad")), "x", true).is_err());
    }

    #[test]
    fn empty_path_is_the_id_relative_to_us() {
        assert_eq!(
            resolve_path(None, "c1", false).unwrap(),
            PathBuf::from("c1")
        );
    }
}
