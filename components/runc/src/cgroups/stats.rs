//! Resource usage read from the container's cgroups, shaped as the `data` of runc's
//! `events --stats` output (its `types.Stats`, with Go's `omitempty` rules), which
//! containerd and docker parse.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{read, read_u64};

fn zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
}

#[derive(Debug, Default, Serialize)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

#[derive(Debug, Default, Serialize)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Throttling {
    #[serde(skip_serializing_if = "zero")]
    pub periods: u64,
    #[serde(rename = "throttledPeriods", skip_serializing_if = "zero")]
    pub throttled_periods: u64,
    #[serde(rename = "throttledTime", skip_serializing_if = "zero")]
    pub throttled_time: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Memory {
    #[serde(skip_serializing_if = "zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct Pids {
    #[serde(skip_serializing_if = "zero")]
    pub current: u64,
    #[serde(skip_serializing_if = "zero")]
    pub limit: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "zero")]
    pub value: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Blkio {
    #[serde(
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioServicedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Default, Serialize)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "zero")]
    pub max: u64,
    pub failcnt: u64,
}

/// "max" and v1's "unlimited" sentinel both read as 0 = no limit, as runc reports.
fn limit(path: &Path) -> u64 {
    match read(path) {
        Some(s) if s == "max" => 0,
        Some(s) => s.parse().unwrap_or(0),
        None => 0,
    }
}

fn kv(path: &Path) -> BTreeMap<String, u64> {
    read(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn clk_tck() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

fn mem_entry(dir: &Path, prefix: &str) -> MemoryEntry {
    let f = |s: &str| dir.join(format!("{prefix}.{s}"));
    MemoryEntry {
        limit: read_u64(&f("limit_in_bytes")).unwrap_or(0),
        usage: read_u64(&f("usage_in_bytes")).unwrap_or(0),
        max: read_u64(&f("max_usage_in_bytes")).unwrap_or(0),
        failcnt: read_u64(&f("failcnt")).unwrap_or(0),
    }
}

fn blkio_entries(path: &Path) -> Vec<BlkioEntry> {
    read(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            if parts.len() != 3 {
                return None;
            }
            let (maj, min) = parts[0].split_once(':')?;
            Some(BlkioEntry {
                major: maj.parse().ok()?,
                minor: min.parse().ok()?,
                op: parts[1].to_string(),
                value: parts[2].parse().ok()?,
            })
        })
        .collect()
}

pub fn v1(paths: &BTreeMap<String, PathBuf>) -> Stats {
    let mut s = Stats::default();
    if let Some(dir) = paths.get("cpuacct") {
        s.cpu.usage.total = read_u64(&dir.join("cpuacct.usage")).unwrap_or(0);
        s.cpu.usage.percpu = read(&dir.join("cpuacct.usage_percpu"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        let st = kv(&dir.join("cpuacct.stat"));
        let ns = 1_000_000_000 / clk_tck();
        s.cpu.usage.user = st.get("user").copied().unwrap_or(0) * ns;
        s.cpu.usage.kernel = st.get("system").copied().unwrap_or(0) * ns;
    }
    if let Some(dir) = paths.get("cpu") {
        let st = kv(&dir.join("cpu.stat"));
        s.cpu.throttling.periods = st.get("nr_periods").copied().unwrap_or(0);
        s.cpu.throttling.throttled_periods = st.get("nr_throttled").copied().unwrap_or(0);
        s.cpu.throttling.throttled_time = st.get("throttled_time").copied().unwrap_or(0);
    }
    if let Some(dir) = paths.get("memory") {
        s.memory.usage = mem_entry(dir, "memory");
        s.memory.swap = mem_entry(dir, "memory.memsw");
        s.memory.kernel = mem_entry(dir, "memory.kmem");
        s.memory.kernel_tcp = mem_entry(dir, "memory.kmem.tcp");
        s.memory.raw = kv(&dir.join("memory.stat"));
        s.memory.cache = s.memory.raw.get("cache").copied().unwrap_or(0);
    }
    if let Some(dir) = paths.get("pids") {
        s.pids.current = read_u64(&dir.join("pids.current")).unwrap_or(0);
        s.pids.limit = limit(&dir.join("pids.max"));
    }
    if let Some(dir) = paths.get("blkio") {
        s.blkio.io_service_bytes_recursive =
            blkio_entries(&dir.join("blkio.throttle.io_service_bytes_recursive"));
        s.blkio.io_serviced_recursive =
            blkio_entries(&dir.join("blkio.throttle.io_serviced_recursive"));
    }
    if let Some(dir) = paths.get("hugetlb") {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(size) = name
                .strip_prefix("hugetlb.")
                .and_then(|n| n.strip_suffix(".usage_in_bytes"))
            {
                let f = |x: &str| dir.join(format!("hugetlb.{size}.{x}"));
                s.hugetlb.insert(
                    size.to_string(),
                    Hugetlb {
                        usage: read_u64(&f("usage_in_bytes")).unwrap_or(0),
                        max: read_u64(&f("max_usage_in_bytes")).unwrap_or(0),
                        failcnt: read_u64(&f("failcnt")).unwrap_or(0),
                    },
                );
            }
        }
    }
    s
}

pub fn v2(dir: &Path) -> Stats {
    let mut s = Stats::default();
    let cpu = kv(&dir.join("cpu.stat"));
    s.cpu.usage.total = cpu.get("usage_usec").copied().unwrap_or(0) * 1000;
    s.cpu.usage.user = cpu.get("user_usec").copied().unwrap_or(0) * 1000;
    s.cpu.usage.kernel = cpu.get("system_usec").copied().unwrap_or(0) * 1000;
    s.cpu.throttling.periods = cpu.get("nr_periods").copied().unwrap_or(0);
    s.cpu.throttling.throttled_periods = cpu.get("nr_throttled").copied().unwrap_or(0);
    s.cpu.throttling.throttled_time = cpu.get("throttled_usec").copied().unwrap_or(0) * 1000;
    s.memory.usage = MemoryEntry {
        limit: limit(&dir.join("memory.max")),
        usage: read_u64(&dir.join("memory.current")).unwrap_or(0),
        max: read_u64(&dir.join("memory.peak")).unwrap_or(0),
        failcnt: kv(&dir.join("memory.events"))
            .get("max")
            .copied()
            .unwrap_or(0),
    };
    s.memory.swap = MemoryEntry {
        limit: limit(&dir.join("memory.swap.max")),
        usage: read_u64(&dir.join("memory.swap.current")).unwrap_or(0),
        ..Default::default()
    };
    s.memory.raw = kv(&dir.join("memory.stat"));
    s.memory.cache = s.memory.raw.get("file").copied().unwrap_or(0);
    s.pids.current = read_u64(&dir.join("pids.current")).unwrap_or(0);
    s.pids.limit = limit(&dir.join("pids.max"));
    s
}
