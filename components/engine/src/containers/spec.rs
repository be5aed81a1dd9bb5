//! The OCI runtime spec of a container, built the way dockerd builds it: its default
//! namespaces, capabilities, mounts, masked paths and device rules, then the
//! container's HostConfig on top.

use std::path::Path;

use serde_json::{json, Value};

use super::{ContainerError, MountPoint, Record};

/// Paths an unprivileged container sees masked, as dockerd's default spec has them.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths an unprivileged container sees read-only.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability name, by number (linux/capability.h).
const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The capabilities in this process's bounding set: a privileged container gets these
/// (asking for more makes runc fail where the host's bounding set is reduced).
pub fn bounding_caps() -> Vec<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .unwrap_or(u64::MAX);
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1u64 << i) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

fn normalize_cap(c: &str) -> String {
    let up = c.to_ascii_uppercase();
    if up == "ALL" || up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// The cgroup limits of a HostConfig (memory, cpu, pids) as runtime-spec resources:
/// what a container starts with and what `docker update` changes while it runs.
pub fn limits(hc: &Value) -> serde_json::Map<String, Value> {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let i = |v: &Value, k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    let mut resources = serde_json::Map::new();
    let mem = i(hc, "Memory");
    if mem > 0 {
        let swap = i(hc, "MemorySwap");
        resources.insert(
            "memory".into(),
            json!({"limit": mem, "swap": if swap == 0 { mem * 2 } else { swap }}),
        );
    }
    let mut cpu = serde_json::Map::new();
    if i(hc, "CpuShares") > 0 {
        cpu.insert("shares".into(), json!(i(hc, "CpuShares")));
    }
    let nano = i(hc, "NanoCpus");
    if nano > 0 {
        cpu.insert("period".into(), json!(100000));
        cpu.insert("quota".into(), json!(nano / 10000));
    } else if i(hc, "CpuQuota") != 0 {
        cpu.insert("quota".into(), json!(i(hc, "CpuQuota")));
        cpu.insert(
            "period".into(),
            json!(if i(hc, "CpuPeriod") > 0 {
                i(hc, "CpuPeriod")
            } else {
                100000
            }),
        );
    }
    if !s(hc, "CpusetCpus").is_empty() {
        cpu.insert("cpus".into(), json!(s(hc, "CpusetCpus")));
    }
    if !cpu.is_empty() {
        resources.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(p) = hc
        .get("PidsLimit")
        .and_then(Value::as_i64)
        .filter(|p| *p != 0)
    {
        resources.insert("pids".into(), json!({"limit": p}));
    }
    resources
}

/// The host's device nodes under /dev, which a privileged container gets as dockerd
/// gives them (the pseudo-terminal, shared-memory and queue mounts excepted: the
/// container has its own).
fn host_devices() -> Vec<Value> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from("/dev")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(md) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let ft = md.file_type();
            if ft.is_dir() {
                if ![
                    "/dev/pts",
                    "/dev/shm",
                    "/dev/mqueue",
                    "/dev/.lxc",
                    "/dev/.udev",
                ]
                .iter()
                .any(|p| path == std::path::Path::new(p))
                {
                    dirs.push(path);
                }
                continue;
            }
            let kind = if ft.is_char_device() {
                "c"
            } else if ft.is_block_device() {
                "b"
            } else {
                continue;
            };
            if path == std::path::Path::new("/dev/console") {
                continue;
            }
            let rdev = md.rdev();
            out.push(json!({
                "path": path, "type": kind,
                "major": libc::major(rdev), "minor": libc::minor(rdev),
                "fileMode": md.mode() & 0o7777, "uid": md.uid(), "gid": md.gid(),
            }));
        }
    }
    out
}

/// Default caps, then CapAdd / CapDrop (with `ALL`), as dockerd merges them.
pub fn capabilities(hc: &Value) -> Result<Vec<String>, ContainerError> {
    if hc
        .get("Privileged")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        return Ok(bounding_caps());
    }
    let list = |k: &str| -> Vec<String> {
        hc.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(normalize_cap)
                    .collect()
            })
            .unwrap_or_default()
    };
    let (add, drop) = (list("CapAdd"), list("CapDrop"));
    for c in add.iter().chain(drop.iter()) {
        if c != "ALL" && !ALL_CAPS.contains(&c.as_str()) {
            return Err(ContainerError::BadRequest(format!(
                "unknown capability: {c:?}"
            )));
        }
    }
    let bounding = bounding_caps();
    let mut caps: Vec<String> = if add.iter().any(|c| c == "ALL") {
        bounding.clone()
    } else if drop.iter().any(|c| c == "ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    caps.retain(|c| !drop.contains(c));
    for c in add {
        if c != "ALL" && !caps.contains(&c) {
            caps.push(c);
        }
    }
    Ok(caps)
}

/// uid, gid and supplementary gids of `user` (`name`, `uid`, `name:group`, `uid:gid`)
/// from the image's /etc/passwd and /etc/group (never the host's).
pub fn resolve_user(
    rootfs: &Path,
    user: &str,
    group_add: &[String],
) -> Result<(u32, u32, Vec<u32>), ContainerError> {
    let passwd = std::fs::read_to_string(super::rootfs::resolve_in_root(rootfs, "/etc/passwd"))
        .unwrap_or_default();
    let groups = std::fs::read_to_string(super::rootfs::resolve_in_root(rootfs, "/etc/group"))
        .unwrap_or_default();
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let mut uid = 0;
    let mut gid = 0;
    let mut uname = String::from("root");
    if !u.is_empty() {
        let entry = passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() >= 4 && (f[0] == u || f[2] == u));
        match (entry, u.parse::<u32>()) {
            (Some(f), _) => {
                uid = f[2].parse().unwrap_or(0);
                gid = f[3].parse().unwrap_or(0);
                uname = f[0].to_string();
            }
            (None, Ok(n)) => {
                uid = n;
                uname = String::new();
            }
            (None, Err(_)) => {
                return Err(ContainerError::BadRequest(format!(
                    "unable to find user {u}: no matching entries in passwd file"
                )))
            }
        }
    }
    let find_group = |g: &str| -> Result<u32, ContainerError> {
        groups
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() >= 3 && (f[0] == g || f[2] == g))
            .and_then(|f| f[2].parse().ok())
            .or_else(|| g.parse().ok())
            .ok_or_else(|| {
                ContainerError::BadRequest(format!(
                    "unable to find group {g}: no matching entries in group file"
                ))
            })
    };
    if let Some(g) = g {
        gid = find_group(g)?;
    }
    let mut extra: Vec<u32> = Vec::new();
    if !uname.is_empty() {
        for l in groups.lines() {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() >= 4 && f[3].split(',').any(|m| m == uname) {
                if let Ok(n) = f[2].parse::<u32>() {
                    if n != gid && !extra.contains(&n) {
                        extra.push(n);
                    }
                }
            }
        }
    }
    for g in group_add {
        let n = find_group(g)?;
        if !extra.contains(&n) {
            extra.push(n);
        }
    }
    Ok((uid, gid, extra))
}

fn rlimit_name(n: &str) -> String {
    format!("RLIMIT_{}", n.to_ascii_uppercase())
}

/// Inputs besides the record that the spec needs.
pub struct SpecInputs<'a> {
    pub rootfs: &'a Path,
    pub container_dir: &'a Path,
    pub init_path: Option<&'a Path>,
    pub default_ulimits: &'a [String],
    pub cgroup_parent: Option<&'a str>,
    /// The network namespace the engine prepared (with the container's endpoints).
    pub netns: Option<&'a Path>,
    /// `--link` variables (`ALIAS_PORT_80_TCP=...`), after HOSTNAME as dockerd puts them.
    pub link_env: &'a [String],
}

pub fn build(rec: &Record, inp: &SpecInputs) -> Result<Value, ContainerError> {
    let cfg = &rec.config;
    let hc = &rec.host_config;
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let b = |v: &Value, k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    let i = |v: &Value, k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    let privileged = b(hc, "Privileged");
    let tty = b(cfg, "Tty");

    let mut args = vec![rec.path.clone()];
    args.extend(rec.args.iter().cloned());
    let mut mounts_extra = Vec::new();
    if hc.get("Init").and_then(Value::as_bool).unwrap_or(false) {
        let init = inp.init_path.ok_or_else(|| {
            ContainerError::Internal(
                "docker-init not found: install tini (tini-static) or set --init-path".into(),
            )
        })?;
        mounts_extra.push(json!({"destination": "/sbin/docker-init", "type": "bind", "source": init, "options": ["rbind", "ro"]}));
        let mut a = vec!["/sbin/docker-init".to_string(), "--".to_string()];
        a.extend(args);
        args = a;
    }

    let group_add: Vec<String> = hc
        .get("GroupAdd")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let (uid, gid, extra) = resolve_user(inp.rootfs, &s(cfg, "User"), &group_add)?;
    let caps = capabilities(hc)?;

    let mut env: Vec<String> = cfg
        .get("Env")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
    }
    let hostname = s(cfg, "Hostname");
    env.insert(1.min(env.len()), format!("HOSTNAME={hostname}"));
    let key = |e: &str| e.split('=').next().unwrap_or("").to_string();
    let links: Vec<&String> = inp
        .link_env
        .iter()
        .filter(|l| !env.iter().any(|e| key(e) == key(l)))
        .collect();
    for (i, l) in links.into_iter().enumerate() {
        env.insert((2 + i).min(env.len()), l.clone());
    }
    if tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }

    let mut rlimits = Vec::new();
    let mut seen = Vec::new();
    for u in hc
        .get("Ulimits")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let name = s(&u, "Name");
        seen.push(name.clone());
        rlimits.push(
            json!({"type": rlimit_name(&name), "hard": i(&u, "Hard"), "soft": i(&u, "Soft")}),
        );
    }
    for d in inp.default_ulimits {
        if let Some((name, v)) = d.split_once('=') {
            if seen.iter().any(|n| n == name) {
                continue;
            }
            let (soft, hard) = v.split_once(':').unwrap_or((v, v));
            rlimits.push(json!({"type": rlimit_name(name), "soft": soft.parse::<i64>().unwrap_or(0), "hard": hard.parse::<i64>().unwrap_or(0)}));
        }
    }

    let sec_opts: Vec<String> = hc
        .get("SecurityOpt")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let cwd = match s(cfg, "WorkingDir") {
        w if w.is_empty() => "/".to_string(),
        w => w,
    };
    let mut process = json!({
        "terminal": tty,
        "user": {"uid": uid, "gid": gid, "additionalGids": extra},
        "args": args,
        "env": env,
        "cwd": cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": rlimits,
        "noNewPrivileges": sec_opts.iter().any(|o| o == "no-new-privileges" || o == "no-new-privileges:true"),
    });
    if let Some(adj) = hc
        .get("OomScoreAdj")
        .and_then(Value::as_i64)
        .filter(|a| *a != 0)
    {
        process["oomScoreAdj"] = json!(adj);
    }
    if tty {
        if let Some(sz) = hc.get("ConsoleSize").and_then(Value::as_array) {
            let h = sz.first().and_then(Value::as_u64).unwrap_or(0);
            let w = sz.get(1).and_then(Value::as_u64).unwrap_or(0);
            if h > 0 && w > 0 {
                process["consoleSize"] = json!({"height": h, "width": w});
            }
        }
    }

    let dir = inp.container_dir;
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", if privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", if privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={}", hc.get("ShmSize").and_then(Value::as_i64).filter(|s| *s > 0).unwrap_or(67108864))]}),
    ];
    let user_dests: Vec<String> = rec.mounts.iter().map(|m| m.destination.clone()).collect();
    for f in ["resolv.conf", "hostname", "hosts"] {
        let dest = format!("/etc/{f}");
        if !user_dests.contains(&dest) {
            mounts.push(json!({"destination": dest, "type": "bind", "source": dir.join(f), "options": ["rbind", "rprivate"]}));
        }
    }
    mounts.extend(mounts_extra);
    for m in &rec.mounts {
        mounts.push(mount_json(m));
    }

    let ns = |t: &str| json!({"type": t});
    let mut namespaces = vec![ns("mount")];
    let net = s(hc, "NetworkMode");
    if net != "host" {
        namespaces.push(match inp.netns {
            Some(p) => json!({"type": "network", "path": p}),
            None => ns("network"),
        });
        namespaces.push(ns("uts"));
    }
    if s(hc, "PidMode") != "host" {
        namespaces.push(ns("pid"));
    }
    if s(hc, "IpcMode") != "host" {
        namespaces.push(ns("ipc"));
    }

    let mut resources = json!({
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
            {"allow": false, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
            {"allow": true, "type": "c", "major": 136, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
        ],
    });
    if privileged {
        resources["devices"] = json!([{"allow": true, "access": "rwm"}]);
    }
    for (k, v) in limits(hc) {
        resources[k] = v;
    }

    let cgroup_parent = match s(hc, "CgroupParent") {
        p if !p.is_empty() => p,
        _ => inp.cgroup_parent.unwrap_or("/docker").to_string(),
    };
    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": format!("{}/{}", cgroup_parent.trim_end_matches('/'), rec.id),
        "resources": resources,
        "sysctl": hc.get("Sysctls").cloned().filter(Value::is_object).unwrap_or(json!({})),
    });
    if privileged {
        linux["devices"] = Value::Array(host_devices());
    }
    if let Some(profile) = super::seccomp::for_container(privileged, &sec_opts, &caps)? {
        linux["seccomp"] = profile;
    }
    if !privileged {
        // The container's own lists (filled in at create; empty with
        // `systempaths=unconfined`), else the defaults.
        let list = |k: &str, d: &[&str]| {
            hc.get(k)
                .filter(|v| v.is_array())
                .cloned()
                .unwrap_or(json!(d))
        };
        linux["maskedPaths"] = list("MaskedPaths", MASKED_PATHS);
        linux["readonlyPaths"] = list("ReadonlyPaths", READONLY_PATHS);
    }
    let mut spec = json!({
        "ociVersion": "1.0.2-dev",
        "process": process,
        "root": {"path": inp.rootfs, "readonly": b(hc, "ReadonlyRootfs")},
        "mounts": mounts,
        "linux": linux,
    });
    if net != "host" {
        spec["hostname"] = json!(hostname);
        let dn = s(cfg, "Domainname");
        if !dn.is_empty() {
            spec["domainname"] = json!(dn);
        }
    }
    Ok(spec)
}

fn mount_json(m: &MountPoint) -> Value {
    match m.kind.as_str() {
        "tmpfs" => {
            let mut opts = vec![
                "nosuid".to_string(),
                "nodev".to_string(),
                "noexec".to_string(),
            ];
            opts.extend(m.options.iter().cloned());
            json!({"destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": opts})
        }
        _ => {
            let mut opts = vec![
                "rbind".to_string(),
                if m.rw { "rw" } else { "ro" }.to_string(),
            ];
            opts.push(if m.propagation.is_empty() {
                "rprivate".to_string()
            } else {
                m.propagation.clone()
            });
            json!({"destination": m.destination, "type": "bind", "source": m.source, "options": opts})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_merge() {
        let c = capabilities(&json!({"CapAdd": ["NET_ADMIN"], "CapDrop": ["chown"]})).unwrap();
        assert!(c.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!c.contains(&"CAP_CHOWN".to_string()));
        assert!(capabilities(&json!({"CapAdd": ["BOGUS"]})).is_err());
        let none = capabilities(&json!({"CapDrop": ["ALL"]})).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn users_from_image_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nuser:x:1000:\nwheel:x:10:user\n",
        )
        .unwrap();
        assert_eq!(
            resolve_user(d.path(), "user", &[]).unwrap(),
            (1000, 1000, vec![10])
        );
        assert_eq!(
            resolve_user(d.path(), "1234:wheel", &[]).unwrap(),
            (1234, 10, vec![])
        );
        assert!(resolve_user(d.path(), "nobody", &[]).is_err());
    }
}
