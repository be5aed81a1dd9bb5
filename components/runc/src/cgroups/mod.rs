//! Control groups for a container, on cgroup v1 (one hierarchy per controller, plus
//! the unified hierarchy of a hybrid host) and v2 (one unified hierarchy), with the
//! cgroupfs driver: create and join the container's groups, apply
//! `linux.resources`, freeze/thaw, list pids, read stats, remove.
//!
//! With `--systemd-cgroup` (runc's v1 "legacy" systemd manager) the `slice:prefix:name`
//! path names a transient unit that systemd creates over D-Bus (see `systemd`), at
//! `<slice path>/<prefix>-<name>.scope` under systemd's own cgroup in each hierarchy;
//! resources go to the unit's properties and then to the cgroupfs files as with the
//! cgroupfs driver. Without a running systemd the flag is refused before anything is
//! made, with runc's wording.

mod devices_bpf;
mod stats;
mod systemd;
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
    #[error(transparent)]
    Systemd(#[from] systemd::SystemdError),
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

/// Extra properties for the container's systemd unit.
pub struct UnitProperties(Vec<crate::dbus::Arg>);

/// The cgroups of one container: controller name ("" = unified) to directory.
#[derive(Debug, Clone)]
pub struct Manager {
    paths: BTreeMap<String, PathBuf>,
    unified: bool,
    /// The transient unit, with `--systemd-cgroup`.
    unit: Option<systemd::Unit>,
}

impl Manager {
    /// Work out the directories for `cgroups_path` (from the spec; empty means
    /// `/<id>` relative to our own cgroup, as runc does).
    pub fn new(cgroups_path: Option<&Path>, id: &str, systemd: bool) -> Result<Self, CgroupError> {
        if systemd && !Path::new(SYSTEMD_RUNNING).is_dir() {
            return Err(CgroupError::NoSystemd);
        }
        let rel = resolve_path(cgroups_path, id, systemd)?;
        let unit = if systemd {
            Some(systemd_unit(cgroups_path, id)?)
        } else {
            None
        };
        let unified = is_unified();
        // A unit's path is under systemd's own cgroup (where pid 1 is, less its
        // init.scope); any other absolute path is under the hierarchy's root.
        let init = if systemd {
            cgroups_of(Path::new("/proc/1/cgroup"))
                .into_iter()
                .map(|(k, v)| (k, v.to_string_lossy().trim_end_matches("init.scope").into()))
                .collect()
        } else {
            BTreeMap::new()
        };
        let own = own_cgroups();
        let mut paths = BTreeMap::new();
        if unified {
            let base = if systemd {
                strip_root(init.get("").map(PathBuf::as_path).unwrap_or(Path::new("/")))
            } else if rel.is_absolute() {
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
                let base = if systemd {
                    strip_root(
                        init.get(&key)
                            .map(PathBuf::as_path)
                            .unwrap_or(Path::new("/")),
                    )
                } else if rel.is_absolute() {
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
        Ok(Manager {
            paths,
            unified,
            unit,
        })
    }

    pub fn from_saved(saved: &crate::state::Saved) -> Self {
        let unit = saved
            .systemd_cgroup
            .then(|| {
                let path = saved
                    .config
                    .linux()
                    .as_ref()
                    .and_then(|l| l.cgroups_path().clone());
                systemd_unit(path.as_deref(), &saved.id).ok()
            })
            .flatten();
        Manager {
            unified: saved.cgroup_paths.len() == 1 && saved.cgroup_paths.contains_key(""),
            paths: saved.cgroup_paths.clone(),
            unit,
        }
    }

    pub fn is_systemd(&self) -> bool {
        self.unit.is_some()
    }

    /// With systemd: have it create the container's unit holding `pid` (the
    /// unit's cgroups are then systemd's; `create` and `apply` add the rest).
    pub fn start_unit(&self, pid: i32, properties: UnitProperties) -> Result<(), CgroupError> {
        match &self.unit {
            Some(unit) => Ok(systemd::start(unit, pid, properties.0)?),
            None => Ok(()),
        }
    }

    /// The unit properties `org.systemd.property.*` annotations ask for, checked
    /// before anything is made (empty without systemd).
    pub fn unit_properties(
        &self,
        annotations: Option<&std::collections::HashMap<String, String>>,
    ) -> Result<UnitProperties, CgroupError> {
        match (&self.unit, annotations) {
            (Some(_), Some(a)) => Ok(UnitProperties(systemd::annotation_properties(a)?)),
            _ => Ok(UnitProperties(Vec::new())),
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

    /// The cgroup v2 directory a new process can be cloned straight into
    /// (CLONE_INTO_CGROUP): the unified hierarchy's.
    pub fn unified_dir(&self) -> Option<&Path> {
        self.paths.get("").map(PathBuf::as_path)
    }

    /// Put `pid` in the unified hierarchy's group only (when it could not be
    /// cloned into it).
    pub fn apply_unified(&self, pid: i32) -> Result<(), CgroupError> {
        match self.paths.get("") {
            Some(dir) => write(&dir.join("cgroup.procs"), &pid.to_string()),
            None => Ok(()),
        }
    }

    /// Move the calling single-threaded process into its group in every v1
    /// hierarchy, by writing 0 to each `tasks` file. The kernel lets a thread that
    /// moves itself skip the global lock that moving a process by pid takes, and
    /// taking that lock waits for an RCU grace period (milliseconds, on every
    /// `create` and `exec`). The unified hierarchy's group is joined at clone (see
    /// [`Manager::unified_dir`]). The freezer comes last: in a frozen container
    /// the caller stops there, a member of every other group already.
    pub fn join_v1_self(&self) -> Result<(), CgroupError> {
        if self.unified {
            return Ok(());
        }
        let v1 = self.paths.iter().filter(|(ctrl, _)| !ctrl.is_empty());
        let (freezer, others): (Vec<_>, Vec<_>) = v1.partition(|(ctrl, _)| *ctrl == "freezer");
        for (_, dir) in others.into_iter().chain(freezer) {
            write(&dir.join("tasks"), "0")?;
        }
        Ok(())
    }

    pub fn set(&self, res: &LinuxResources) -> Result<(), CgroupError> {
        if let Some(unit) = &self.unit {
            // systemd rewrites device rules deny-all first: keep the container
            // frozen meanwhile so it sees no spurious EPERM (as runc does).
            let thaw = res.devices().is_some() && !self.is_frozen() && self.freeze(true).is_ok();
            let set = systemd::set(unit, res, self.unified);
            if thaw {
                let _ = self.freeze(false);
            }
            set?;
        }
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

    /// Kill what is left, stop the unit (with systemd) and remove the directories,
    /// deepest first; a unit that cannot be stopped is reported after the removal.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        for pid in self.pids() {
            let _ = crate::sys::kill(pid, libc::SIGKILL);
        }
        let _ = self.freeze(false);
        let stopped = match &self.unit {
            Some(unit) => systemd::stop(unit),
            None => Ok(()),
        };
        for dir in self.paths.values() {
            remove_tree(dir)?;
        }
        Ok(stopped?)
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
        let unit = systemd_unit(p, id)?;
        return Ok(Path::new("/")
            .join(expand_slice(&unit.slice))
            .join(unit.name));
    }
    if raw.is_empty() {
        return Ok(PathBuf::from(id));
    }
    Ok(PathBuf::from(raw))
}

/// The unit named by `slice:prefix:name` (runc's default without a path:
/// `system.slice:runc:<id>`).
fn systemd_unit(p: Option<&Path>, id: &str) -> Result<systemd::Unit, CgroupError> {
    let raw = p
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (slice, prefix, name) = if raw.is_empty() {
        ("", "runc", id)
    } else {
        match raw.split(':').collect::<Vec<_>>()[..] {
            [slice, prefix, name] => (slice, prefix, name),
            _ => return Err(CgroupError::SystemdPath(raw)),
        }
    };
    Ok(systemd::Unit {
        name: if name.ends_with(".slice") {
            name.to_string()
        } else {
            format!("{prefix}-{name}.scope")
        },
        slice: if slice.is_empty() {
            "system.slice".to_string()
        } else {
            slice.to_string()
        },
        container: name.to_string(),
    })
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
    cgroups_of(Path::new("/proc/self/cgroup"))
}

/// A process's cgroup per controller ("" = unified), from its /proc/<pid>/cgroup.
fn cgroups_of(file: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    for line in read(file).unwrap_or_default().lines() {
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
