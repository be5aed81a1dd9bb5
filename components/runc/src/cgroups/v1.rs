//! cgroup v1: one hierarchy per controller. Limits go to each controller's files
//! under the container's directory in that hierarchy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

use super::{read, read_u64, write, CgroupError};

const CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// Mounted hierarchies: controller (or `systemd` for name=systemd, `unified` for the
/// cgroup2 mount of a hybrid host) to its mount point.
pub fn hierarchies() -> Vec<(String, PathBuf)> {
    // Read once per process: the container init (a fork) asks once per controller
    // while it builds /sys/fs/cgroup, and mountinfo is not cheap to render.
    static CACHE: std::sync::OnceLock<Vec<(String, PathBuf)>> = std::sync::OnceLock::new();
    CACHE.get_or_init(read_hierarchies).clone()
}

fn read_hierarchies() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mount_point = match pre.split(' ').nth(4) {
            Some(m) => PathBuf::from(m),
            None => continue,
        };
        let mut post = post.split(' ');
        let fstype = post.next().unwrap_or("");
        let _source = post.next();
        let opts = post.next().unwrap_or("");
        match fstype {
            "cgroup" => {
                for opt in opts.split(',') {
                    if CONTROLLERS.contains(&opt) {
                        out.push((opt.to_string(), mount_point.clone()));
                    } else if let Some(name) = opt.strip_prefix("name=") {
                        out.push((name.to_string(), mount_point.clone()));
                    }
                }
            }
            "cgroup2" => out.push(("unified".to_string(), mount_point)),
            _ => {}
        }
    }
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

pub(super) const ALWAYS_ALLOWED: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:8 rwm",
    "c 1:7 rwm",
    "c 5:0 rwm",
    "c 1:5 rwm",
    "c 1:9 rwm",
    "c 136:* rwm",
    "c 5:2 rwm",
    "c 10:200 rwm",
];

pub fn create(ctrl: &str, dir: &Path) -> Result<(), CgroupError> {
    if ctrl == "cpuset" {
        // New cpuset groups start empty and refuse tasks: copy each missing level's
        // cpus/mems from its parent, top-down.
        let mut missing = Vec::new();
        let mut p = dir.to_path_buf();
        while !p.exists() {
            missing.push(p.clone());
            if !p.pop() {
                break;
            }
        }
        for d in missing.into_iter().rev() {
            std::fs::create_dir(&d)
                .or_else(ignore_exists)
                .map_err(super::io_err(&d))?;
            seed_cpuset(&d)?;
        }
        return seed_cpuset(dir);
    }
    std::fs::create_dir_all(dir).map_err(super::io_err(dir))
}

fn ignore_exists(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::AlreadyExists {
        Ok(())
    } else {
        Err(e)
    }
}

fn seed_cpuset(dir: &Path) -> Result<(), CgroupError> {
    let parent = dir.parent().unwrap_or(dir);
    for f in ["cpuset.cpus", "cpuset.mems"] {
        if read(&dir.join(f)).unwrap_or_default().is_empty() {
            if let Some(v) = read(&parent.join(f)) {
                write(&dir.join(f), &v)?;
            }
        }
    }
    Ok(())
}

pub fn set(paths: &BTreeMap<String, PathBuf>, res: &LinuxResources) -> Result<(), CgroupError> {
    if let Some(dir) = paths.get("memory") {
        if let Some(mem) = res.memory() {
            set_memory(dir, mem.limit(), mem.swap())?;
            if let Some(r) = mem.reservation() {
                write(&dir.join("memory.soft_limit_in_bytes"), &r.to_string())?;
            }
            if let Some(s) = mem.swappiness() {
                if s <= 100 {
                    write(&dir.join("memory.swappiness"), &s.to_string())?;
                }
            }
            if mem.disable_oom_killer() == Some(true) {
                write(&dir.join("memory.oom_control"), "1")?;
            }
        }
    }
    if let Some(dir) = paths.get("cpu") {
        if let Some(cpu) = res.cpu() {
            if let Some(s) = cpu.shares().filter(|s| *s != 0) {
                write(&dir.join("cpu.shares"), &s.to_string())?;
            }
            if let Some(p) = cpu.period().filter(|p| *p != 0) {
                write(&dir.join("cpu.cfs_period_us"), &p.to_string())?;
            }
            if let Some(q) = cpu.quota().filter(|q| *q != 0) {
                write(&dir.join("cpu.cfs_quota_us"), &q.to_string())?;
            }
            if let Some(p) = cpu.realtime_period().filter(|p| *p != 0) {
                write(&dir.join("cpu.rt_period_us"), &p.to_string())?;
            }
            if let Some(r) = cpu.realtime_runtime().filter(|r| *r != 0) {
                write(&dir.join("cpu.rt_runtime_us"), &r.to_string())?;
            }
        }
    }
    if let Some(dir) = paths.get("cpuset") {
        if let Some(cpu) = res.cpu() {
            if let Some(c) = cpu.cpus().as_deref().filter(|c| !c.is_empty()) {
                write(&dir.join("cpuset.cpus"), c)?;
            }
            if let Some(m) = cpu.mems().as_deref().filter(|m| !m.is_empty()) {
                write(&dir.join("cpuset.mems"), m)?;
            }
        }
    }
    if let Some(dir) = paths.get("pids") {
        if let Some(p) = res.pids() {
            let v = if p.limit() > 0 {
                p.limit().to_string()
            } else {
                "max".to_string()
            };
            write(&dir.join("pids.max"), &v)?;
        }
    }
    if let Some(dir) = paths.get("blkio") {
        if let Some(b) = res.block_io() {
            if let Some(w) = b.weight().filter(|w| *w != 0) {
                let f = if dir.join("blkio.weight").exists() {
                    "blkio.weight"
                } else {
                    "blkio.bfq.weight"
                };
                write(&dir.join(f), &w.to_string())?;
            }
            let throttles = [
                (
                    "blkio.throttle.read_bps_device",
                    b.throttle_read_bps_device(),
                ),
                (
                    "blkio.throttle.write_bps_device",
                    b.throttle_write_bps_device(),
                ),
                (
                    "blkio.throttle.read_iops_device",
                    b.throttle_read_iops_device(),
                ),
                (
                    "blkio.throttle.write_iops_device",
                    b.throttle_write_iops_device(),
                ),
            ];
            for (file, list) in throttles {
                for d in list.iter().flatten() {
                    write(
                        &dir.join(file),
                        &format!("{}:{} {}", d.major(), d.minor(), d.rate()),
                    )?;
                }
            }
        }
    }
    if let Some(dir) = paths.get("hugetlb") {
        for h in res.hugepage_limits().iter().flatten() {
            write(
                &dir.join(format!("hugetlb.{}.limit_in_bytes", h.page_size())),
                &h.limit().to_string(),
            )?;
        }
    }
    if let Some(dir) = paths.get("devices") {
        if let Some(devs) = res.devices() {
            for d in devs {
                let (file, rule) = device_rule(d);
                write(&dir.join(file), &rule)?;
            }
            // runc appends its always-allowed devices after the spec's rules (the
            // standard nodes, ptys, tun); callers such as dockerd rely on that.
            for rule in ALWAYS_ALLOWED {
                write(&dir.join("devices.allow"), rule)?;
            }
        }
    }
    if let Some(dir) = paths.get("net_cls") {
        if let Some(id) = res.network().as_ref().and_then(|n| n.class_id()) {
            write(&dir.join("net_cls.classid"), &id.to_string())?;
        }
    }
    Ok(())
}

/// Memory and memory+swap limits, written in the order the kernel accepts
/// (memsw may never be below memory).
fn set_memory(dir: &Path, limit: Option<i64>, swap: Option<i64>) -> Result<(), CgroupError> {
    let mem_file = dir.join("memory.limit_in_bytes");
    let sw_file = dir.join("memory.memsw.limit_in_bytes");
    let has_swap = sw_file.exists();
    let fmt = |v: i64| {
        if v < 0 {
            "-1".to_string()
        } else {
            v.to_string()
        }
    };
    match (limit, swap.filter(|_| has_swap)) {
        (Some(l), Some(s)) => {
            let cur_sw = read_u64(&sw_file).unwrap_or(u64::MAX);
            if s < 0 || (s as u64) > cur_sw || l < 0 {
                write(&sw_file, &fmt(s))?;
                write(&mem_file, &fmt(l))?;
            } else {
                write(&mem_file, &fmt(l))?;
                write(&sw_file, &fmt(s))?;
            }
        }
        (Some(l), None) => {
            if let Err(e) = write(&mem_file, &fmt(l)) {
                // Raising memory above the current memsw needs memsw raised first.
                if has_swap && l < 0 {
                    write(&sw_file, "-1")?;
                    write(&mem_file, "-1")?;
                } else {
                    return Err(e);
                }
            }
        }
        (None, Some(s)) => write(&sw_file, &fmt(s))?,
        (None, None) => {}
    }
    Ok(())
}

fn device_rule(d: &LinuxDeviceCgroup) -> (&'static str, String) {
    let file = if d.allow() {
        "devices.allow"
    } else {
        "devices.deny"
    };
    let typ = match d.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => 'a',
        LinuxDeviceType::B => 'b',
        LinuxDeviceType::C | LinuxDeviceType::U => 'c',
        LinuxDeviceType::P => 'p',
    };
    let num = |n: Option<i64>| n.map_or("*".to_string(), |n| n.to_string());
    let access = d.access().clone().unwrap_or_else(|| "rwm".to_string());
    if typ == 'a' && d.major().is_none() && d.minor().is_none() {
        return (file, "a".to_string());
    }
    (
        file,
        format!("{typ} {}:{} {access}", num(d.major()), num(d.minor())),
    )
}

pub fn freeze(dir: &Path, frozen: bool) -> Result<(), CgroupError> {
    let want = if frozen { "FROZEN" } else { "THAWED" };
    for _ in 0..1000 {
        write(&dir.join("freezer.state"), want)?;
        if read(&dir.join("freezer.state")).as_deref() == Some(want) {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Err(CgroupError::Unsupported(format!(
        "freezer at {} did not reach {want}",
        dir.display()
    )))
}
