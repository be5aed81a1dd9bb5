//! cgroup v2: one unified hierarchy. Controllers are enabled top-down in each
//! ancestor's `cgroup.subtree_control`; v1-style values (shares, blkio weight) are
//! converted the way runc converts them; device rules become an eBPF program
//! (`devices_bpf`).

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::{read, write, CgroupError};

/// Create `dir` and enable every available controller on the way down (only when
/// the host is pure v2; on a hybrid host the unified hierarchy just tracks tasks).
pub fn create(dir: &Path, enable: bool) -> Result<(), CgroupError> {
    std::fs::create_dir_all(dir).map_err(super::io_err(dir))?;
    if !enable {
        return Ok(());
    }
    let root = Path::new(super::CGROUP_ROOT);
    let rel = dir.strip_prefix(root).unwrap_or(dir);
    let mut cur = root.to_path_buf();
    for comp in rel.components() {
        let avail = read(&cur.join("cgroup.controllers")).unwrap_or_default();
        let want: Vec<String> = avail
            .split_whitespace()
            .filter(|c| matches!(*c, "cpu" | "cpuset" | "memory" | "pids" | "io" | "hugetlb"))
            .map(|c| format!("+{c}"))
            .collect();
        if !want.is_empty() {
            // Best effort: a parent with processes of its own cannot delegate.
            let _ = write(&cur.join("cgroup.subtree_control"), &want.join(" "));
        }
        cur.push(comp);
    }
    Ok(())
}

/// The controllers `res` needs, with the spec field that needs each.
fn needed(res: &LinuxResources) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    if res
        .memory()
        .as_ref()
        .is_some_and(|m| m.limit().is_some() || m.swap().is_some() || m.reservation().is_some())
    {
        out.push(("memory", "memory"));
    }
    if let Some(cpu) = res.cpu() {
        if cpu.shares().is_some_and(|s| s != 0) || cpu.quota().is_some() || cpu.period().is_some() {
            out.push(("cpu", "cpu"));
        }
        if cpu.cpus().as_deref().is_some_and(|c| !c.is_empty())
            || cpu.mems().as_deref().is_some_and(|m| !m.is_empty())
        {
            out.push(("cpuset", "cpu"));
        }
    }
    if res.pids().is_some() {
        out.push(("pids", "pids"));
    }
    if let Some(b) = res.block_io() {
        let throttled = [
            b.throttle_read_bps_device(),
            b.throttle_write_bps_device(),
            b.throttle_read_iops_device(),
            b.throttle_write_iops_device(),
        ]
        .iter()
        .any(|l| l.as_ref().is_some_and(|l| !l.is_empty()));
        if b.weight().is_some_and(|w| w != 0) || throttled {
            out.push(("io", "blockIO"));
        }
    }
    if res
        .hugepage_limits()
        .as_ref()
        .is_some_and(|h| !h.is_empty())
    {
        out.push(("hugetlb", "hugepageLimits"));
    }
    out
}

pub fn set(dir: &Path, res: &LinuxResources) -> Result<(), CgroupError> {
    // A limit asked for must be applied or refused, never skipped: a controller the
    // parent does not delegate leaves no interface file to write.
    let available = read(&dir.join("cgroup.controllers")).unwrap_or_default();
    for (controller, field) in needed(res) {
        if !available.split_whitespace().any(|c| c == controller) {
            return Err(CgroupError::NoController {
                controller,
                field,
                dir: dir.to_path_buf(),
                available,
            });
        }
    }
    if let Some(mem) = res.memory() {
        let fmt = |v: i64| {
            if v < 0 {
                "max".to_string()
            } else {
                v.to_string()
            }
        };
        if let Some(l) = mem.limit() {
            write(&dir.join("memory.max"), &fmt(l))?;
        }
        if let Some(s) = mem.swap() {
            // The spec's swap is memory+swap (v1 semantics); v2 wants swap alone.
            let v = match (s, mem.limit()) {
                (s, _) if s < 0 => "max".to_string(),
                (s, Some(l)) if l >= 0 => (s - l).max(0).to_string(),
                (s, _) => s.to_string(),
            };
            // Without swap accounting only "no limit" and "no swap" mean anything,
            // and both hold already (as runc treats them).
            if dir.join("memory.swap.max").exists() || (v != "max" && v != "0") {
                write(&dir.join("memory.swap.max"), &v)?;
            }
        }
        if let Some(r) = mem.reservation() {
            write(&dir.join("memory.low"), &fmt(r))?;
        }
    }
    if let Some(cpu) = res.cpu() {
        if let Some(s) = cpu.shares().filter(|s| *s != 0) {
            let weight = 1 + ((s.saturating_sub(2)) * 9999) / 262142;
            write(&dir.join("cpu.weight"), &weight.to_string())?;
        }
        if cpu.quota().is_some() || cpu.period().is_some() {
            let period = cpu.period().filter(|p| *p != 0).unwrap_or(100_000);
            let quota = match cpu.quota() {
                Some(q) if q > 0 => q.to_string(),
                _ => "max".to_string(),
            };
            write(&dir.join("cpu.max"), &format!("{quota} {period}"))?;
        }
        if let Some(c) = cpu.cpus().as_deref().filter(|c| !c.is_empty()) {
            write(&dir.join("cpuset.cpus"), c)?;
        }
        if let Some(m) = cpu.mems().as_deref().filter(|m| !m.is_empty()) {
            write(&dir.join("cpuset.mems"), m)?;
        }
    }
    if let Some(p) = res.pids() {
        let v = if p.limit() > 0 {
            p.limit().to_string()
        } else {
            "max".to_string()
        };
        write(&dir.join("pids.max"), &v)?;
    }
    if let Some(b) = res.block_io() {
        if let Some(w) = b.weight().filter(|w| *w != 0) {
            let weight = 1 + ((u64::from(w).saturating_sub(10)) * 9999) / 990;
            write(&dir.join("io.weight"), &format!("default {weight}"))?;
        }
        let throttles = [
            ("rbps", b.throttle_read_bps_device()),
            ("wbps", b.throttle_write_bps_device()),
            ("riops", b.throttle_read_iops_device()),
            ("wiops", b.throttle_write_iops_device()),
        ];
        for (key, list) in throttles {
            for d in list.iter().flatten() {
                write(
                    &dir.join("io.max"),
                    &format!("{}:{} {key}={}", d.major(), d.minor(), d.rate()),
                )?;
            }
        }
    }
    if let Some(devs) = res.devices() {
        // The spec's rules, then runc's always-allowed nodes (as on v1).
        let rules: Vec<super::devices_bpf::Rule> = devs
            .iter()
            .map(super::devices_bpf::Rule::from_spec)
            .chain(
                super::v1::ALWAYS_ALLOWED
                    .iter()
                    .filter_map(|r| super::devices_bpf::Rule::parse(r, true)),
            )
            .collect();
        super::devices_bpf::apply(dir, &rules)?;
    }
    for h in res.hugepage_limits().iter().flatten() {
        write(
            &dir.join(format!("hugetlb.{}.max", h.page_size())),
            &h.limit().to_string(),
        )?;
    }
    for (k, v) in res.unified().iter().flatten() {
        if k.contains('/') {
            return Err(CgroupError::Unsupported(format!(
                "unified resource {k:?} is not a file name"
            )));
        }
        write(&dir.join(k), v)?;
    }
    Ok(())
}

pub fn freeze(dir: &Path, frozen: bool) -> Result<(), CgroupError> {
    write(&dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
    let want = if frozen { "frozen 1" } else { "frozen 0" };
    for _ in 0..1000 {
        if read(&dir.join("cgroup.events")).is_some_and(|e| e.lines().any(|l| l == want)) {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Ok(())
}
