//! The flags of `create` and `run` turned into the Engine API's create request
//! (`Config` with `HostConfig` and `NetworkingConfig`), field by field as the real
//! CLI's container options map them, and the resource flags `update` shares.
//!
//! The flags themselves are the ones `--help` lists (see `cmdline::flags_from_help`);
//! this module gives each its meaning. Values pflag checks while parsing flags fail
//! with pflag's text and the usage (`Parsed::invalid`); the checks the real CLI makes
//! afterwards fail as `docker: <reason>` with the help hint. Both exit 125.

use std::collections::BTreeMap;

use clap::Command;
use serde_json::{json, Map, Value};

use crate::cmdline::{flags_from_help, list_flag, Parsed};
use crate::transport::Host;
use crate::Status;

/// Flags the real CLI accepts but hides from its help (older spellings).
fn hidden_flags(c: Command) -> Command {
    let c = list_flag(c, "net", None, "Connect a container to a network");
    let c = list_flag(
        c,
        "net-alias",
        None,
        "Add network-scoped alias for the container",
    );
    list_flag(c, "dns-opt", None, "Set DNS options")
}

pub fn create_flags(c: Command) -> Command {
    hidden_flags(flags_from_help(c, "create"))
}

pub fn run_flags(c: Command) -> Command {
    hidden_flags(flags_from_help(c, "run"))
}

/// A check the real CLI makes after parsing flags: `docker: <reason>` and the hint.
fn rejected(p: &Parsed, why: impl std::fmt::Display) -> anyhow::Error {
    let name = p.path.rsplit(' ').next().unwrap_or("run");
    Status::new(
        125,
        format!("docker: {why}\n\nRun 'docker {name} --help' for more information"),
    )
    .into()
}

/// The values of a flag and its hidden synonym, in the order given on the line.
fn values_of(p: &Parsed, names: &[&str]) -> Vec<String> {
    let mut indexed: Vec<(usize, String)> = Vec::new();
    for name in names {
        let Ok(Some(values)) = p.matches.try_get_many::<String>(name) else {
            continue;
        };
        let Some(indices) = p.matches.indices_of(name) else {
            continue;
        };
        indexed.extend(indices.zip(values.cloned()));
    }
    indexed.sort_by_key(|(i, _)| *i);
    indexed.into_iter().map(|(_, v)| v).collect()
}

/// `opts.ConvertKVStringsToMap`: `k=v`, or `k` for an empty value.
fn kv_map(items: &[String]) -> Map<String, Value> {
    items
        .iter()
        .map(|i| match i.split_once('=') {
            Some((k, v)) => (k.to_string(), json!(v)),
            None => (i.clone(), json!("")),
        })
        .collect()
}

/// `opts.ValidateEnv`: a bare name takes its value from our environment if set.
pub(super) fn env_entry(e: &str) -> String {
    if e.contains('=') {
        return e.to_string();
    }
    match std::env::var(e) {
        Ok(v) => format!("{e}={v}"),
        Err(_) => e.to_string(),
    }
}

/// Lines of an `--env-file`/`--label-file` (`opts.ReadKVEnvStrings`); for env files a
/// bare name takes its value from our environment.
pub(super) fn kv_file(p: &Parsed, file: &str, from_env: bool) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read(file).map_err(|e| {
        rejected(
            p,
            format!("open {file}: {}", super::system::go_io_error(&e)),
        )
    })?;
    let text = String::from_utf8_lossy(&text);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim_start(), Some(v)),
            None => (line, None),
        };
        if name.is_empty() {
            return Err(rejected(p, format!("invalid environment variable: {line}")));
        }
        if name.contains(char::is_whitespace) {
            return Err(rejected(
                p,
                format!(
                    "variable '{name}' contains whitespaces (on line {} of {file})",
                    n + 1
                ),
            ));
        }
        // A bare name takes its value from our environment; unset, it is left out.
        match value {
            Some(v) => out.push(format!("{name}={v}")),
            None if from_env => {
                if let Ok(v) = std::env::var(name) {
                    out.push(format!("{name}={v}"));
                }
            }
            None => {}
        }
    }
    Ok(out)
}

/// `nat.ParsePortRange`: `80` or `8000-8010`.
fn port_range(s: &str) -> Option<(u16, u16)> {
    match s.split_once('-') {
        None => s.parse().ok().map(|p| (p, p)),
        Some((a, b)) => {
            let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
            (b >= a).then_some((a, b))
        }
    }
}

/// `nat.SplitProtoPort`: `80/udp` is ("udp", "80"); no protocol means tcp.
fn proto_port(s: &str) -> (String, String) {
    match s.split_once('/') {
        Some((port, proto)) if !proto.is_empty() => (proto.to_lowercase(), port.to_string()),
        Some((port, _)) => ("tcp".into(), port.to_string()),
        None => ("tcp".into(), s.to_string()),
    }
}

type PortBindings = BTreeMap<String, Vec<Value>>;

/// `nat.ParsePortSpec` for one `-p` value: `[ip:][hostPort:]containerPort[/proto]`
/// with ranges; adds exposed ports and bindings.
fn publish(
    spec: &str,
    exposed: &mut Map<String, Value>,
    bindings: &mut PortBindings,
) -> Result<(), String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let n = parts.len();
    let (ip, host, container) = match n {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        3 => (parts[0].to_string(), parts[1], parts[2]),
        _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    };
    let ip = match ip.strip_prefix('[').and_then(|i| i.strip_suffix(']')) {
        Some(inner) => inner.to_string(),
        None => ip,
    };
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    let (proto, container) = proto_port(container);
    if container.is_empty() {
        return Err(format!("no port specified: {spec}<empty>"));
    }
    let (start, end) =
        port_range(&container).ok_or_else(|| format!("invalid containerPort: {container}"))?;
    let (host_start, host_end) = if host.is_empty() {
        (0, 0)
    } else {
        port_range(host).ok_or_else(|| format!("invalid hostPort: {host}"))?
    };
    if !host.is_empty() && end - start != host_end - host_start && end != start {
        return Err(format!(
            "invalid ranges specified for container and host Ports: {container} and {host}"
        ));
    }
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    for i in 0..=(end - start) {
        let port = format!("{}/{proto}", start + i);
        let host_port = if host.is_empty() {
            String::new()
        } else if end == start && host_start != host_end {
            format!("{host_start}-{host_end}")
        } else {
            (host_start + i).to_string()
        };
        exposed.insert(port.clone(), json!({}));
        bindings
            .entry(port)
            .or_default()
            .push(json!({"HostIp": ip, "HostPort": host_port}));
    }
    Ok(())
}

/// `--publish` in the long form (`target=80,published=8080,protocol=udp`).
fn publish_standard(spec: &str) -> Result<String, String> {
    if !spec.contains('=') {
        return Ok(spec.to_string());
    }
    let mut params: BTreeMap<&str, &str> = BTreeMap::from([("protocol", "tcp")]);
    for param in spec.split(',') {
        match param.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                params.insert(k, v);
            }
            _ => {
                return Err(format!(
                    "invalid publish opts format (should be name=value but got '{param}')"
                ))
            }
        }
    }
    let get = |k: &str| params.get(k).copied().unwrap_or("");
    Ok(format!(
        "{}:{}/{}",
        get("published"),
        get("target"),
        get("protocol")
    ))
}

/// `opts.MountOpt`: one `--mount` value to an API `Mount`.
fn mount(value: &str) -> Result<Value, String> {
    let mut m = Map::new();
    let mut kind = "volume".to_string();
    let (mut bind, mut volume, mut tmpfs, mut image) =
        (Map::new(), Map::new(), Map::new(), Map::new());
    let (mut labels, mut driver) = (Map::new(), Map::new());
    let mut driver_opts = Map::new();
    let mut read_only = false;
    let parse_bool = |k: &str, v: &str| match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid value for {k}: {v}")),
    };
    for field in value.split(',') {
        let Some((key, val)) = field.split_once('=') else {
            match field.to_lowercase().as_str() {
                "readonly" | "ro" => read_only = true,
                "volume-nocopy" => {
                    volume.insert("NoCopy".into(), json!(true));
                }
                "bind-nonrecursive" => {
                    bind.insert("NonRecursive".into(), json!(true));
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        let key = key.to_lowercase();
        match key.as_str() {
            "type" => kind = val.to_lowercase(),
            "source" | "src" => {
                let source = if val.starts_with('.') {
                    std::env::current_dir()
                        .map(|d| d.join(val).display().to_string())
                        .unwrap_or_else(|_| val.to_string())
                } else {
                    val.to_string()
                };
                m.insert("Source".into(), json!(source));
            }
            "target" | "dst" | "destination" => {
                m.insert("Target".into(), json!(val));
            }
            "readonly" | "ro" => read_only = parse_bool(&key, val)?,
            "consistency" => {
                m.insert("Consistency".into(), json!(val.to_lowercase()));
            }
            "bind-propagation" => {
                bind.insert("Propagation".into(), json!(val.to_lowercase()));
            }
            "bind-nonrecursive" => {
                bind.insert("NonRecursive".into(), json!(parse_bool(&key, val)?));
            }
            "bind-recursive" => match val {
                "enabled" => {}
                "disabled" => {
                    bind.insert("NonRecursive".into(), json!(true));
                }
                "writable" => {
                    bind.insert("ReadOnlyNonRecursive".into(), json!(true));
                }
                "readonly" => {
                    bind.insert("ReadOnlyForceRecursive".into(), json!(true));
                }
                _ => {
                    return Err(format!("invalid value for {key}: {val} (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")"))
                }
            },
            "volume-subpath" => {
                volume.insert("Subpath".into(), json!(val));
            }
            "volume-nocopy" => {
                let b = parse_bool(&key, val)
                    .map_err(|_| format!("invalid value for volume-nocopy: {val}"))?;
                volume.insert("NoCopy".into(), json!(b));
            }
            "volume-label" => {
                let (k, v) = val.split_once('=').unwrap_or((val, ""));
                if !k.is_empty() {
                    labels.insert(k.into(), json!(v));
                }
                volume.entry("NoCopy").or_insert(json!(false));
            }
            "volume-driver" => {
                driver.insert("Name".into(), json!(val));
                volume.entry("NoCopy").or_insert(json!(false));
            }
            "volume-opt" => {
                let (k, v) = val.split_once('=').unwrap_or((val, ""));
                if !k.is_empty() {
                    driver_opts.insert(k.into(), json!(v));
                }
                volume.entry("NoCopy").or_insert(json!(false));
            }
            "image-subpath" => {
                image.insert("Subpath".into(), json!(val));
            }
            "tmpfs-size" => {
                let n = crate::format::units::ram_in_bytes(val)
                    .ok_or_else(|| format!("invalid value for {key}: {val}"))?;
                tmpfs.insert("SizeBytes".into(), json!(n));
            }
            "tmpfs-mode" => {
                let n = u32::from_str_radix(val, 8)
                    .map_err(|_| format!("invalid value for {key}: {val}"))?;
                tmpfs.insert("Mode".into(), json!(n));
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if kind.is_empty() {
        return Err("type is required".into());
    }
    if !m.contains_key("Target") {
        return Err("target is required".into());
    }
    let touched_volume = !volume.is_empty() || !labels.is_empty() || !driver.is_empty();
    for (opts, name, prefix) in [
        (touched_volume, "volume", "volume"),
        (!image.is_empty(), "image", "image"),
        (!bind.is_empty(), "bind", "bind"),
        (!tmpfs.is_empty(), "tmpfs", "tmpfs"),
    ] {
        if opts && kind != name {
            return Err(format!(
                "cannot mix '{prefix}-*' options with mount type '{kind}'"
            ));
        }
    }
    if bind.contains_key("ReadOnlyNonRecursive") && !read_only {
        return Err(
            "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction"
                .into(),
        );
    }
    m.insert("Type".into(), json!(kind));
    if read_only {
        m.insert("ReadOnly".into(), json!(true));
    }
    if !bind.is_empty() {
        m.insert("BindOptions".into(), Value::Object(bind));
    }
    if touched_volume {
        volume.insert("Labels".into(), Value::Object(labels));
        if !driver_opts.is_empty() {
            driver.insert("Options".into(), Value::Object(driver_opts));
        }
        volume.insert("DriverConfig".into(), Value::Object(driver));
        m.insert("VolumeOptions".into(), Value::Object(volume));
    }
    if !image.is_empty() {
        m.insert("ImageOptions".into(), Value::Object(image));
    }
    if !tmpfs.is_empty() {
        m.insert("TmpfsOptions".into(), Value::Object(tmpfs));
    }
    Ok(Value::Object(m))
}

/// `opts.ParseUlimit`: `nofile=1024[:2048]`.
pub(super) fn ulimit(v: &str) -> Result<Value, String> {
    const NAMES: &[&str] = &[
        "as",
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ];
    let (name, values) = v
        .split_once('=')
        .ok_or_else(|| format!("invalid ulimit argument: {v}"))?;
    if !NAMES.contains(&name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let (soft, hard) = values.split_once(':').unwrap_or((values, values));
    let num = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| format!("invalid ulimit argument: {v}"))
    };
    let (soft, hard) = (num(soft)?, num(hard)?);
    if soft > hard {
        return Err(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        ));
    }
    Ok(json!({"Name": name, "Hard": hard, "Soft": soft}))
}

/// `--device-read-bps /dev/sda:1mb` and friends: `(path, rate)`.
fn throttle(v: &str, bytes: bool) -> Result<Value, String> {
    let (path, rate) = v
        .split_once(':')
        .ok_or_else(|| format!("bad format: {v}"))?;
    if !path.starts_with("/dev/") {
        return Err(format!("bad format for device path: {v}"));
    }
    let rate = if bytes {
        crate::format::units::ram_in_bytes(rate).and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| format!("invalid rate for device: {v}. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb"))?
    } else {
        rate.parse::<u64>().map_err(|_| format!("invalid rate for device: {v}. The correct format is <device-path>:<number>. Number must be a positive integer"))?
    };
    Ok(json!({"Path": path, "Rate": rate}))
}

/// `--blkio-weight-device /dev/sda:200`.
fn weight_device(v: &str) -> Result<Value, String> {
    let (path, weight) = v
        .split_once(':')
        .ok_or_else(|| format!("bad format: {v}"))?;
    if !path.starts_with("/dev/") {
        return Err(format!("bad format for device path: {v}"));
    }
    let weight: u16 = weight
        .parse()
        .ok()
        .filter(|w| *w == 0 || (10..=1000).contains(w))
        .ok_or_else(|| format!("invalid weight for device: {v}"))?;
    Ok(json!({"Path": path, "Weight": weight}))
}

/// `--device /dev/fuse[:/dev/fuse][:rwm]`.
fn device(v: &str) -> Result<Value, String> {
    let valid_mode = |m: &str| {
        !m.is_empty()
            && m.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
            && m.len() == m.chars().collect::<std::collections::BTreeSet<_>>().len()
    };
    let parts: Vec<&str> = v.split(':').collect();
    if parts.len() > 3 || parts[0].is_empty() {
        return Err(format!("bad format for path: {v}"));
    }
    let (src, mut dst, mut perms) = (parts[0], "", "rwm");
    match parts.len() {
        3 => {
            if !valid_mode(parts[2]) {
                return Err(format!("bad mode specified: {}", parts[2]));
            }
            dst = parts[1];
            perms = parts[2];
        }
        2 if valid_mode(parts[1]) => perms = parts[1],
        2 => dst = parts[1],
        _ => {}
    }
    if dst.is_empty() {
        dst = src;
    }
    if !dst.starts_with('/') {
        return Err(format!("{dst} is not an absolute path"));
    }
    Ok(json!({"PathOnHost": src, "PathInContainer": dst, "CgroupPermissions": perms}))
}

/// `opts.GpuOpts`: `all`, `2`, or `count=2,driver=nvidia,capabilities=utility`.
fn gpus(v: &str) -> Result<Value, String> {
    let count = |s: &str| -> Result<i64, String> {
        if s == "all" {
            return Ok(-1);
        }
        s.parse().map_err(|_| {
            format!("invalid count ({s}): strconv.Atoi: parsing \"{s}\": invalid syntax")
        })
    };
    let mut req =
        json!({"Driver": "", "Count": 0, "DeviceIDs": null, "Capabilities": null, "Options": {}});
    let mut seen = std::collections::BTreeSet::new();
    let fields: Vec<&str> = v.split(',').collect();
    let mut i = 0;
    while i < fields.len() {
        let field = fields[i];
        i += 1;
        let (key, val) = match field.split_once('=') {
            Some(kv) => kv,
            None => {
                seen.insert("count".to_string());
                req["Count"] = json!(count(field)?);
                continue;
            }
        };
        if !seen.insert(key.to_string()) {
            return Err(format!(
                "gpu request key '{key}' can be specified only once"
            ));
        }
        match key {
            "driver" => req["Driver"] = json!(val),
            "count" => req["Count"] = json!(count(val)?),
            "device" => req["DeviceIDs"] = json!(val.split(',').collect::<Vec<_>>()),
            "capabilities" => {
                let mut caps: Vec<&str> = val.split(',').collect();
                caps.push("gpu");
                req["Capabilities"] = json!([caps]);
            }
            "options" => req["Options"] = Value::Object(kv_map(&[val.to_string()])),
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if !seen.contains("count") && req["DeviceIDs"].is_null() {
        req["Count"] = json!(1);
    }
    if req["Capabilities"].is_null() {
        req["Capabilities"] = json!([["gpu"]]);
    }
    Ok(req)
}

/// `opts.ValidateExtraHost`: `host:ip`, or `host=ip` (sent as `host:ip`).
pub(super) fn extra_host(h: &str) -> Result<String, String> {
    let (name, addr) = h
        .split_once('=')
        .or_else(|| h.split_once(':'))
        .ok_or_else(|| format!("bad format for add-host: {h:?}"))?;
    let bare = addr.trim_start_matches('[').trim_end_matches(']');
    if name.is_empty() || (addr != "host-gateway" && bare.parse::<std::net::IpAddr>().is_err()) {
        return Err(format!("invalid IP address in add-host: {addr:?}"));
    }
    Ok(format!("{name}:{addr}"))
}

/// `opts.ValidateSysctl`: the namespaced sysctls a container may set.
fn sysctl(v: &str) -> Result<(), String> {
    const KERNEL: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let key = v.split_once('=').map(|(k, _)| k).unwrap_or(v);
    if v.contains('=')
        && (KERNEL.contains(&key) || key.starts_with("fs.mqueue.") || key.starts_with("net."))
    {
        return Ok(());
    }
    Err(format!("sysctl '{v}' is not allowed"))
}

/// Applies `check` to each value of `name`, failing with pflag's text.
pub(super) fn each<T>(
    p: &Parsed,
    name: &str,
    check: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, Status> {
    p.values(name)
        .iter()
        .map(|v| check(v).map_err(|why| p.invalid(name, v, why)))
        .collect()
}

/// Turns one value of a list flag into its API object, or says why it cannot.
type ValueParser = fn(&str) -> Result<Value, String>;

/// The resource flags given on the line (`update` sends only those; `create` puts
/// them over the defaults).
pub fn resources(p: &Parsed) -> anyhow::Result<Map<String, Value>> {
    let mut r = Map::new();
    for (flag, key) in [
        ("cpu-shares", "CpuShares"),
        ("cpu-period", "CpuPeriod"),
        ("cpu-quota", "CpuQuota"),
        ("cpu-rt-period", "CpuRealtimePeriod"),
        ("cpu-rt-runtime", "CpuRealtimeRuntime"),
        ("cpu-count", "CpuCount"),
        ("cpu-percent", "CpuPercent"),
        ("pids-limit", "PidsLimit"),
        ("memory-swappiness", "MemorySwappiness"),
    ] {
        if let Some(n) = p.int(flag)? {
            r.insert(key.into(), json!(n));
        }
    }
    for (flag, key, bits) in [
        ("blkio-weight", "BlkioWeight", 16),
        ("io-maxiops", "IOMaximumIOps", 64),
    ] {
        if let Some(n) = p.uint(flag, bits)? {
            r.insert(key.into(), json!(n));
        }
    }
    for (flag, key) in [
        ("memory", "Memory"),
        ("memory-reservation", "MemoryReservation"),
        ("kernel-memory", "KernelMemory"),
        ("io-maxbandwidth", "IOMaximumBandwidth"),
    ] {
        if let Some(n) = p.bytes(flag)? {
            r.insert(key.into(), json!(n));
        }
    }
    if p.value("memory-swap").as_deref() == Some("-1") {
        r.insert("MemorySwap".into(), json!(-1));
    } else if let Some(n) = p.bytes("memory-swap")? {
        r.insert("MemorySwap".into(), json!(n));
    }
    for (flag, key) in [
        ("cpuset-cpus", "CpusetCpus"),
        ("cpuset-mems", "CpusetMems"),
        ("cgroup-parent", "CgroupParent"),
    ] {
        if let Some(v) = p.value(flag) {
            r.insert(key.into(), json!(v));
        }
    }
    if let Some(c) = p.value("cpus") {
        r.insert("NanoCpus".into(), json!(nano_cpus(p, &c)?));
    }
    if p.given("oom-kill-disable") {
        r.insert("OomKillDisable".into(), json!(p.flag("oom-kill-disable")));
    }
    let lists: [(&str, &str, ValueParser); 8] = [
        ("blkio-weight-device", "BlkioWeightDevice", weight_device),
        ("device-read-bps", "BlkioDeviceReadBps", |v| {
            throttle(v, true)
        }),
        ("device-write-bps", "BlkioDeviceWriteBps", |v| {
            throttle(v, true)
        }),
        ("device-read-iops", "BlkioDeviceReadIOps", |v| {
            throttle(v, false)
        }),
        ("device-write-iops", "BlkioDeviceWriteIOps", |v| {
            throttle(v, false)
        }),
        ("ulimit", "Ulimits", ulimit),
        ("device", "Devices", device),
        ("gpus", "DeviceRequests", gpus),
    ];
    for (flag, key, parse) in lists {
        let values = each(p, flag, parse)?;
        if !values.is_empty() {
            r.insert(key.into(), Value::Array(values));
        }
    }
    let rules = each(p, "device-cgroup-rule", |v| {
        let ok = regex_free_cgroup_rule(v);
        ok.then(|| json!(v))
            .ok_or_else(|| format!("invalid device cgroup format '{v}'"))
    })?;
    if !rules.is_empty() {
        r.insert("DeviceCgroupRules".into(), Value::Array(rules));
    }
    Ok(r)
}

/// `^[acb] ([0-9]+|\*):([0-9]+|\*) [rwm]{1,3}$`.
fn regex_free_cgroup_rule(v: &str) -> bool {
    let parts: Vec<&str> = v.split(' ').collect();
    let [kind, numbers, access] = parts.as_slice() else {
        return false;
    };
    let number = |s: &str| s == "*" || (!s.is_empty() && s.chars().all(|c| c.is_ascii_digit()));
    matches!(*kind, "a" | "b" | "c")
        && numbers
            .split_once(':')
            .is_some_and(|(a, b)| number(a) && number(b))
        && (1..=3).contains(&access.len())
        && access.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
}

/// `opts.NanoCPUs`: a rational number of CPUs in billionths.
fn nano_cpus(p: &Parsed, c: &str) -> Result<i64, Status> {
    let bad = || {
        p.invalid(
            "cpus",
            c,
            format!("failed to parse {c} as a rational number"),
        )
    };
    let (whole, frac) = c.split_once('.').unwrap_or((c, ""));
    let digits = |s: &str| s.chars().all(|ch| ch.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty())
        || !digits(whole.trim_start_matches('-'))
        || !digits(frac)
    {
        return Err(bad());
    }
    if frac.trim_end_matches('0').len() > 9 {
        return Err(p.invalid("cpus", c, "value is too precise"));
    }
    let whole_n: i64 = if whole.is_empty() || whole == "-" {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let frac_n: i64 = format!("{:0<9}", &frac[..frac.len().min(9)])
        .parse()
        .unwrap_or(0);
    let sign = if whole.starts_with('-') { -1 } else { 1 };
    Ok(whole_n * 1_000_000_000 + sign * frac_n)
}

/// `opts.ParseRestartPolicy`: `no`, `always`, `unless-stopped`, `on-failure[:N]`.
pub fn restart_policy(p: &Parsed) -> anyhow::Result<Option<Value>> {
    let Some(r) = p.value("restart") else {
        return Ok(None);
    };
    if r.is_empty() {
        return Ok(Some(json!({"Name": "", "MaximumRetryCount": 0})));
    }
    let (name, count) = match r.split_once(':') {
        Some((n, c)) => {
            let c: i64 = c.parse().map_err(|_| {
                rejected(
                    p,
                    "invalid restart policy format: maximum retry count must be an integer",
                )
            })?;
            (n, c)
        }
        None => (r.as_str(), 0),
    };
    Ok(Some(json!({"Name": name, "MaximumRetryCount": count})))
}

/// Whether a network mode names a user-defined network.
fn user_defined(mode: &str) -> bool {
    !matches!(mode, "default" | "bridge" | "host" | "none") && !mode.starts_with("container:")
}

/// One `--network` value: a name, or `name=n,alias=a,ip=...` (the advanced form).
#[derive(Default)]
struct Attachment {
    target: String,
    aliases: Vec<String>,
    links: Vec<String>,
    ipv4: String,
    ipv6: String,
    mac: String,
    link_local: Vec<String>,
    driver_opts: Map<String, Value>,
    gw_priority: i64,
}

fn attachment(v: &str) -> Result<Attachment, String> {
    let mut a = Attachment::default();
    if !v.contains('=') {
        a.target = v.to_string();
        return Ok(a);
    }
    for field in v.split(',') {
        let (k, val) = field
            .split_once('=')
            .ok_or_else(|| format!("invalid field key {field}"))?;
        match k.to_lowercase().as_str() {
            "name" => a.target = val.into(),
            "alias" => a.aliases.push(val.into()),
            "ip" => a.ipv4 = val.into(),
            "ip6" => a.ipv6 = val.into(),
            "mac-address" => a.mac = val.into(),
            "link-local-ip" => a.link_local.push(val.into()),
            "driver-opt" => {
                let (dk, dv) = val
                    .split_once('=')
                    .ok_or_else(|| "invalid key value pair format in driver options".to_string())?;
                a.driver_opts.insert(dk.into(), json!(dv));
            }
            "gw-priority" => {
                a.gw_priority = val
                    .parse()
                    .map_err(|_| format!("invalid gw-priority: {val}"))?
            }
            other => return Err(format!("invalid field key {other}")),
        }
    }
    if a.target.is_empty() {
        return Err("network name/id is not specified".into());
    }
    Ok(a)
}

/// `parseNetworkOpts`: the endpoints of `NetworkingConfig`; the old flags
/// (`--network-alias`, `--link`, `--ip`, `--ip6`, `--mac-address`, `--link-local-ip`)
/// go to the first network.
fn endpoints(p: &Parsed, networks: &[Attachment]) -> anyhow::Result<Map<String, Value>> {
    let aliases = values_of(p, &["network-alias", "net-alias"]);
    let links = p.values("link");
    let link_local = p.values("link-local-ip");
    let (ip, ip6, mac) = (
        p.value("ip").unwrap_or_default(),
        p.value("ip6").unwrap_or_default(),
        p.value("mac-address").unwrap_or_default(),
    );
    let default = [Attachment {
        target: "default".into(),
        ..Default::default()
    }];
    let list: &[Attachment] = if networks.is_empty() {
        &default
    } else {
        networks
    };
    let mut out = Map::new();
    let (mut user, mut builtin) = (false, false);
    for (i, n) in list.iter().enumerate() {
        if user_defined(&n.target) {
            user = true;
        } else {
            builtin = true;
        }
        let mut n_aliases = n.aliases.clone();
        let mut n_links = n.links.clone();
        let (mut n_ip, mut n_ip6, mut n_mac) = (n.ipv4.clone(), n.ipv6.clone(), n.mac.clone());
        let mut n_ll = n.link_local.clone();
        if i == 0 {
            for (clash, what) in [
                (
                    !n.aliases.is_empty() && !aliases.is_empty(),
                    "--network-alias and per-network alias",
                ),
                (
                    !n.links.is_empty() && !links.is_empty(),
                    "--link and per-network links",
                ),
                (
                    !n.ipv4.is_empty() && !ip.is_empty(),
                    "--ip and per-network IPv4 address",
                ),
                (
                    !n.ipv6.is_empty() && !ip6.is_empty(),
                    "--ip6 and per-network IPv6 address",
                ),
                (
                    !n.mac.is_empty() && !mac.is_empty(),
                    "--mac-address and per-network MAC address",
                ),
                (
                    !n.link_local.is_empty() && !link_local.is_empty(),
                    "--link-local-ip and per-network link-local IP addresses",
                ),
            ] {
                if clash {
                    return Err(rejected(
                        p,
                        format!("conflicting options: cannot specify both {what}"),
                    ));
                }
            }
            if !aliases.is_empty() {
                n_aliases = aliases.clone();
            }
            if user_defined(&n.target) && !links.is_empty() {
                n_links = links.clone();
            }
            if !ip.is_empty() {
                n_ip = ip.clone();
            }
            if !ip6.is_empty() {
                n_ip6 = ip6.clone();
            }
            if !mac.is_empty() {
                n_mac = mac.clone();
            }
            if !link_local.is_empty() {
                n_ll = link_local.clone();
            }
        }
        if !user_defined(&n.target) {
            if !n_aliases.is_empty() {
                return Err(rejected(
                    p,
                    "network-scoped aliases are only supported for user-defined networks",
                ));
            }
            if !n_links.is_empty() {
                return Err(rejected(
                    p,
                    "links are only supported for user-defined networks",
                ));
            }
        }
        let mut ep = Map::new();
        if !n_aliases.is_empty() {
            ep.insert("Aliases".into(), json!(n_aliases));
        }
        if !n.driver_opts.is_empty() {
            ep.insert("DriverOpts".into(), Value::Object(n.driver_opts.clone()));
        }
        if !n_links.is_empty() {
            ep.insert("Links".into(), json!(n_links));
        }
        if !n_ip.is_empty() || !n_ip6.is_empty() || !n_ll.is_empty() {
            ep.insert(
                "IPAMConfig".into(),
                json!({"IPv4Address": n_ip, "IPv6Address": n_ip6, "LinkLocalIPs": n_ll}),
            );
        }
        if !n_mac.is_empty() {
            ep.insert("MacAddress".into(), json!(n_mac));
        }
        if n.gw_priority != 0 {
            ep.insert("GwPriority".into(), json!(n.gw_priority));
        }
        if out.contains_key(&n.target) {
            return Err(rejected(
                p,
                format!("network \"{}\" is specified multiple times", n.target),
            ));
        }
        // One network without options needs no endpoint (the daemon makes it).
        if i == 0 && networks.len() == 1 && ep.is_empty() {
            continue;
        }
        out.insert(n.target.clone(), Value::Object(ep));
    }
    if user && builtin {
        return Err(rejected(p, "conflicting options: cannot attach both user-defined and non-user-defined network-modes"));
    }
    Ok(out)
}

/// A MAC address as Go's `net.ParseMAC` reads the 6-byte colon form.
fn valid_mac(m: &str) -> bool {
    let parts: Vec<&str> = m.split([':', '-']).collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The body of `POST /containers/create` for `create`/`run`; `daemon` is where the
/// client connects (`--use-api-socket` mounts it).
pub fn request(p: &Parsed, daemon: &Host) -> anyhow::Result<Value> {
    let image = p.args[0].clone();
    let cmd: Vec<String> = p.args[1..].to_vec();

    let attach = each(p, "attach", |a| {
        let l = a.to_lowercase();
        matches!(l.as_str(), "stdin" | "stdout" | "stderr")
            .then_some(l)
            .ok_or_else(|| "valid streams are STDIN, STDOUT and STDERR".to_string())
    })?;
    let interactive = p.flag("interactive");
    let detach = p.flag("detach");
    if detach && !attach.is_empty() {
        return Err(Status::new(
            1,
            "conflicting options: cannot specify both --attach and --detach",
        )
        .into());
    }
    let has = |s: &str| attach.iter().any(|a| a == s);
    let mut a_in = has("stdin") || interactive;
    let (mut a_out, mut a_err) = if attach.is_empty() {
        (true, true)
    } else {
        (has("stdout"), has("stderr"))
    };
    if let Some(m) = p.value("mac-address") {
        if !valid_mac(&m) {
            return Err(rejected(p, format!("{m} is not a valid mac address")));
        }
    }
    let swappiness = p.int("memory-swappiness")?.unwrap_or(-1);
    if swappiness != -1 && !(0..=100).contains(&swappiness) {
        return Err(rejected(
            p,
            format!("invalid value: {swappiness}. Valid memory swappiness range is 0-100"),
        ));
    }

    let mut binds = Vec::new();
    let mut volumes = Map::new();
    for v in p.values("volume") {
        match v.split_once(':') {
            Some((host, rest)) if !host.is_empty() => {
                let host = if host.starts_with('.') {
                    std::env::current_dir()
                        .map(|d| d.join(host).display().to_string())
                        .unwrap_or_else(|_| host.to_string())
                } else {
                    host.to_string()
                };
                binds.push(format!("{host}:{rest}"));
            }
            Some(_) => {
                return Err(rejected(
                    p,
                    format!("invalid spec: {v}: empty section between colons"),
                ))
            }
            None => {
                volumes.insert(v, json!({}));
            }
        }
    }
    let mut tmpfs = Map::new();
    for t in p.values("tmpfs") {
        let (path, opts) = t.split_once(':').unwrap_or((&t, ""));
        tmpfs.insert(path.to_string(), json!(opts));
    }

    let mut exposed = Map::new();
    let mut bindings = PortBindings::new();
    for spec in p.values("publish") {
        let spec = publish_standard(&spec).map_err(|e| rejected(p, e))?;
        publish(&spec, &mut exposed, &mut bindings).map_err(|e| rejected(p, e))?;
    }
    for e in p.values("expose") {
        if e.contains(':') {
            return Err(rejected(
                p,
                format!("invalid port format for --expose: {e}"),
            ));
        }
        let (proto, port) = proto_port(&e);
        let (start, end) = port_range(&port).ok_or_else(|| {
            rejected(
                p,
                format!("invalid range format for --expose: {e}, error: invalid start port '{port}': invalid syntax"),
            )
        })?;
        for n in start..=end {
            exposed.entry(format!("{n}/{proto}")).or_insert(json!({}));
        }
    }

    let mut env = Vec::new();
    for file in p.values("env-file") {
        env.extend(kv_file(p, &file, true)?);
    }
    for e in each(p, "env", |e| {
        if e.starts_with('=') {
            Err(format!("invalid environment variable: {e}"))
        } else {
            Ok(env_entry(e))
        }
    })? {
        env.push(e);
    }
    let mut labels = Vec::new();
    for file in p.values("label-file") {
        labels.extend(kv_file(p, &file, false)?);
    }
    labels.extend(each(p, "label", |l| {
        let key = l.split_once('=').map(|(k, _)| k).unwrap_or(l);
        if key.trim().is_empty() {
            Err(format!("invalid label '{l}': empty name"))
        } else {
            Ok(l.to_string())
        }
    })?);

    for (flag, what) in [
        ("pid", "PID"),
        ("uts", "UTS"),
        ("userns", "USER"),
        ("cgroupns", "CGROUP"),
    ] {
        let v = p.value(flag).unwrap_or_default();
        let valid = match flag {
            "pid" => {
                v.is_empty()
                    || v == "host"
                    || v.strip_prefix("container:").is_some_and(|c| !c.is_empty())
            }
            "uts" | "userns" => v.is_empty() || v == "host",
            _ => matches!(v.as_str(), "" | "host" | "private"),
        };
        if !valid {
            return Err(rejected(p, format!("--{flag}: invalid {what} mode")));
        }
    }
    let restart = restart_policy(p)?.unwrap_or(json!({"Name": "no", "MaximumRetryCount": 0}));
    let auto_remove = p.flag("rm");
    if auto_remove && !matches!(restart["Name"].as_str(), Some("" | "no")) {
        return Err(rejected(
            p,
            "conflicting options: cannot specify both --restart and --rm",
        ));
    }
    let log_driver = p.value("log-driver").unwrap_or_default();
    let log_opts = p.values("log-opt");
    if log_driver == "none" && !log_opts.is_empty() {
        return Err(rejected(
            p,
            format!("invalid logging opts for driver {log_driver}"),
        ));
    }

    let mut security = Vec::new();
    let (mut masked, mut readonly_paths) = (Value::Null, Value::Null);
    for opt in p.values("security-opt") {
        if opt == "systempaths=unconfined" {
            masked = json!([]);
            readonly_paths = json!([]);
            continue;
        }
        let split = opt.split_once('=').or_else(|| {
            (opt != "no-new-privileges")
                .then(|| opt.split_once(':'))
                .flatten()
        });
        let (k, v) = split.unwrap_or((opt.as_str(), ""));
        if v.is_empty() && k != "no-new-privileges" {
            return Err(rejected(p, format!("Invalid --security-opt: {opt:?}")));
        }
        if k == "seccomp" && v != "builtin" && v != "unconfined" {
            let text = std::fs::read(v).map_err(|e| {
                rejected(
                    p,
                    format!(
                        "opening seccomp profile ({v}) failed: open {v}: {}",
                        super::system::go_io_error(&e)
                    ),
                )
            })?;
            let profile: Value = serde_json::from_slice(&text).map_err(|e| {
                rejected(
                    p,
                    format!("compacting json for seccomp profile ({v}) failed: {e}"),
                )
            })?;
            security.push(format!("seccomp={profile}"));
        } else {
            security.push(opt);
        }
    }
    let mut storage = Map::new();
    for o in p.values("storage-opt") {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| rejected(p, "invalid storage option"))?;
        storage.insert(k.into(), json!(v));
    }

    // Health check.
    let health_cmd = p.value("health-cmd").unwrap_or_default();
    let interval = p.duration("health-interval")?.unwrap_or(0);
    let timeout = p.duration("health-timeout")?.unwrap_or(0);
    let start_period = p.duration("health-start-period")?.unwrap_or(0);
    let start_interval = p.duration("health-start-interval")?.unwrap_or(0);
    let retries = p.int("health-retries")?.unwrap_or(0);
    let any_health = !health_cmd.is_empty()
        || interval != 0
        || timeout != 0
        || start_period != 0
        || retries != 0
        || start_interval != 0;
    let healthcheck = if p.flag("no-healthcheck") {
        if any_health {
            return Err(rejected(
                p,
                "--no-healthcheck conflicts with --health-* options",
            ));
        }
        Some(json!({"Test": ["NONE"]}))
    } else if any_health {
        for (n, flag) in [
            (interval, "--health-interval"),
            (timeout, "--health-timeout"),
            (retries, "--health-retries"),
            (start_period, "--health-start-period"),
            (start_interval, "--health-start-interval"),
        ] {
            if n < 0 {
                return Err(rejected(p, format!("{flag} cannot be negative")));
            }
        }
        let test = if health_cmd.is_empty() {
            Value::Null
        } else {
            json!(["CMD-SHELL", health_cmd])
        };
        Some(json!({
            "Test": test,
            "Interval": interval,
            "Timeout": timeout,
            "StartPeriod": start_period,
            "StartInterval": start_interval,
            "Retries": retries,
        }))
    } else {
        None
    };

    let mut sysctls = Map::new();
    for s in each(p, "sysctl", |v| sysctl(v).map(|()| v.to_string()))? {
        let (k, v) = s.split_once('=').unwrap_or((&s, ""));
        sysctls.insert(k.into(), json!(v));
    }
    let annotations = kv_map(&p.values("annotation"));
    let dns = each(p, "dns", |d| {
        d.parse::<std::net::IpAddr>()
            .map(|_| d.to_string())
            .map_err(|_| format!("IP address is not correctly formatted: {d}"))
    })?;
    let extra_hosts = each(p, "add-host", extra_host)?;
    let networks = values_of(p, &["network", "net"])
        .iter()
        .map(|v| attachment(v).map_err(|e| p.invalid("network", v, e)))
        .collect::<Result<Vec<_>, _>>()?;
    let network_mode = networks
        .first()
        .map(|n| n.target.clone())
        .unwrap_or_else(|| "default".into());
    let endpoints = endpoints(p, &networks)?;

    if detach {
        a_in = false;
        a_out = false;
        a_err = false;
    }
    let mut config = json!({
        "Hostname": p.value("hostname").unwrap_or_default(),
        "Domainname": p.value("domainname").unwrap_or_default(),
        "User": p.value("user").unwrap_or_default(),
        "AttachStdin": a_in,
        "AttachStdout": a_out,
        "AttachStderr": a_err,
        "Tty": p.flag("tty"),
        "OpenStdin": interactive,
        "StdinOnce": interactive && a_in && !detach,
        "Env": env,
        "Cmd": if cmd.is_empty() { Value::Null } else { json!(cmd) },
        "Image": image,
        "Volumes": volumes,
        "WorkingDir": p.value("workdir").unwrap_or_default(),
        "Labels": kv_map(&labels),
    });
    if !exposed.is_empty() {
        config["ExposedPorts"] = Value::Object(exposed);
    }
    match p.value("entrypoint") {
        Some(e) if e.is_empty() => config["Entrypoint"] = json!([""]),
        Some(e) => config["Entrypoint"] = json!([e]),
        None => {}
    }
    if let Some(s) = p.value("stop-signal") {
        config["StopSignal"] = json!(s);
    }
    if let Some(t) = p.int("stop-timeout")? {
        config["StopTimeout"] = json!(t);
    }
    if let Some(h) = healthcheck {
        config["Healthcheck"] = h;
    }
    if let Some(mac) = endpoints
        .get(&network_mode)
        .and_then(|ep| ep.get("MacAddress"))
    {
        // Daemons before API 1.44 read the MAC address of the main network here.
        config["MacAddress"] = mac.clone();
    }

    // Every Resources field, as Go sends the struct, under the flags given.
    let mut host = json!({
        "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0,
        "BlkioWeightDevice": [], "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "CpuPeriod": 0, "CpuQuota": 0,
        "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "",
        "Devices": [], "DeviceCgroupRules": null, "DeviceRequests": null, "MemoryReservation": 0,
        "MemorySwap": 0, "MemorySwappiness": -1, "OomKillDisable": false, "PidsLimit": 0,
        "Ulimits": [], "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0, "KernelMemory": 0,
    });
    for (k, v) in resources(p)? {
        host[k] = v;
    }
    let extra = json!({
        "Binds": if binds.is_empty() { Value::Null } else { json!(binds) },
        "ContainerIDFile": p.value("cidfile").unwrap_or_default(),
        "LogConfig": {"Type": log_driver, "Config": kv_map(&log_opts)},
        "NetworkMode": network_mode,
        "PortBindings": bindings,
        "RestartPolicy": restart,
        "AutoRemove": auto_remove,
        "VolumeDriver": p.value("volume-driver").unwrap_or_default(),
        "VolumesFrom": or_null(p.values("volumes-from")),
        "ConsoleSize": crate::streams::terminal_size(1).map(|(h, w)| [h, w]).unwrap_or([0, 0]),
        "Annotations": annotations,
        "CapAdd": capabilities(p.values("cap-add")),
        "CapDrop": capabilities(p.values("cap-drop")),
        "CgroupnsMode": p.value("cgroupns").unwrap_or_default(),
        "Dns": dns,
        "DnsOptions": values_of(p, &["dns-option", "dns-opt"]),
        "DnsSearch": p.values("dns-search"),
        "ExtraHosts": or_null(extra_hosts),
        "GroupAdd": or_null(p.values("group-add")),
        "IpcMode": p.value("ipc").unwrap_or_default(),
        "Cgroup": "",
        "Links": or_null(p.values("link")),
        "OomScoreAdj": p.int("oom-score-adj")?.unwrap_or(0),
        "PidMode": p.value("pid").unwrap_or_default(),
        "Privileged": p.flag("privileged"),
        "PublishAllPorts": p.flag("publish-all"),
        "ReadonlyRootfs": p.flag("read-only"),
        "SecurityOpt": or_null(security),
        "StorageOpt": storage,
        "Tmpfs": tmpfs,
        "UTSMode": p.value("uts").unwrap_or_default(),
        "UsernsMode": p.value("userns").unwrap_or_default(),
        "ShmSize": p.bytes("shm-size")?.unwrap_or(0),
        "Sysctls": sysctls,
        "Runtime": p.value("runtime").unwrap_or_default(),
        "Isolation": p.value("isolation").unwrap_or_default(),
        "MaskedPaths": masked,
        "ReadonlyPaths": readonly_paths,
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        host[k.as_str()] = v.clone();
    }
    let mut mounts = each(p, "mount", mount)?;
    if p.flag("use-api-socket") {
        mounts.push(api_socket_mount(p, daemon)?);
    }
    if !mounts.is_empty() {
        host["Mounts"] = Value::Array(mounts);
    }
    if p.given("init") {
        host["Init"] = json!(p.flag("init"));
    }
    config["HostConfig"] = host;
    config["NetworkingConfig"] = json!({"EndpointsConfig": endpoints});
    Ok(config)
}

/// What the Go client changes in the request for the API version in use, and the
/// features it refuses to send to an older daemon.
pub fn fit_api(body: &mut Value, api: &str, platform: Option<&str>) -> Result<(), String> {
    let older = |v: &str| crate::client::version_less(api, v);
    let too_old = |feature: &str, v: &str| {
        format!(
            "\"{feature}\" requires API version {v}, but the Docker daemon API version is {api}"
        )
    };
    if platform.is_some() && older("1.41") {
        return Err(too_old("specify container image platform", "1.41"));
    }
    let per_network_mac = body["NetworkingConfig"]["EndpointsConfig"]
        .as_object()
        .is_some_and(|eps| eps.values().any(|ep| ep.get("MacAddress").is_some()));
    if per_network_mac && older("1.44") {
        return Err(too_old("specify mac-address per network", "1.44"));
    }
    let host = &mut body["HostConfig"];
    if !older("1.42") || older("1.40") {
        host["KernelMemory"] = json!(0);
    }
    if platform.is_some_and(|p| p.starts_with("linux")) && older("1.42") {
        host["ConsoleSize"] = json!([0, 0]);
    }
    if older("1.44") {
        for m in host["Mounts"].as_array().into_iter().flatten() {
            if m["BindOptions"]["ReadOnlyForceRecursive"] == json!(true) {
                return Err("bind-recursive=readonly requires API v1.44 or later".into());
            }
        }
    }
    if !older("1.44") {
        body["MacAddress"] = json!("");
    }
    Ok(())
}

/// The client's capability spelling: upper case, `CAP_` prefixed, sorted, unique.
fn capabilities(caps: Vec<String>) -> Value {
    let mut out: Vec<String> = caps
        .iter()
        .map(|c| {
            let c = c.to_uppercase();
            if c == "ALL" || c.starts_with("CAP_") {
                c
            } else {
                format!("CAP_{c}")
            }
        })
        .collect();
    out.sort();
    out.dedup();
    or_null(out)
}

/// Go's `ListOpts.GetSlice`: an empty list is sent as null.
fn or_null(v: Vec<String>) -> Value {
    if v.is_empty() {
        Value::Null
    } else {
        json!(v)
    }
}

/// `--use-api-socket`: the daemon's unix socket, mounted where clients look for it.
fn api_socket_mount(p: &Parsed, daemon: &Host) -> anyhow::Result<Value> {
    let socket = match daemon {
        Host::Unix(path) => path.display().to_string(),
        Host::Tcp(addr, _) => {
            return Err(rejected(
                p,
                format!("flag --use-api-socket can only be used with unix sockets: docker endpoint tcp://{addr} incompatible"),
            ))
        }
    };
    Ok(
        json!({"Type": "bind", "Source": socket, "Target": "/var/run/docker.sock", "BindOptions": {}}),
    )
}

/// Where `--use-api-socket` puts the credentials inside the container.
pub const API_SOCKET_CONFIG: &str = "/run/secrets/docker/config.json";

/// `--use-api-socket` with registry credentials in our config (and no `DOCKER_CONFIG`
/// of the container's own): points the container's clients at the copy made after
/// creation (`DOCKER_CONFIG`) and returns the `auths` to copy.
pub fn api_socket_credentials(body: &mut Value, config: &Value) -> Option<Value> {
    let auths = config
        .get("auths")
        .filter(|a| a.as_object().is_some_and(|m| !m.is_empty()))?;
    let env = body["Env"].as_array_mut()?;
    if env
        .iter()
        .any(|e| e.as_str().is_some_and(|e| e.starts_with("DOCKER_CONFIG=")))
    {
        return None;
    }
    let dir = API_SOCKET_CONFIG.trim_end_matches("/config.json");
    env.push(json!(format!("DOCKER_CONFIG={dir}")));
    Some(auths.clone())
}

/// `--pull`: checked before anything is sent.
pub fn pull_policy(p: &Parsed) -> anyhow::Result<String> {
    let v = p.value("pull").unwrap_or_else(|| "missing".into());
    match v.as_str() {
        "always" | "missing" | "never" => Ok(v),
        "" => Ok("missing".into()),
        _ => Err(rejected(
            p,
            format!(
                "invalid pull option: '{v}': must be one of \"always\", \"missing\" or \"never\""
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdline::parse_command;

    /// Flags that shape the request around the body (its query, the pull before it,
    /// the attach session after it), each with where it goes.
    const OUTSIDE_THE_BODY: &[(&str, &str)] = &[
        ("name", "the `name` query parameter"),
        ("platform", "the `platform` query parameter"),
        ("pull", "whether to pull before creating"),
        ("quiet", "silences the pull"),
        ("detach-keys", "the attach session"),
        ("sig-proxy", "the attach session (on by default)"),
        (
            "disable-content-trust",
            "content trust is off unless DOCKER_CONTENT_TRUST is set",
        ),
    ];

    /// A value each flag accepts; flags not named take one by their value type.
    fn sample(flag: &str, value_type: &str, dir: &std::path::Path) -> String {
        let named = match flag {
            "add-host" => "db:10.0.0.2",
            "annotation" | "label" | "log-opt" => "k=v",
            "attach" => "stdout",
            "blkio-weight-device" => "/dev/sda:200",
            "device-read-bps" | "device-write-bps" => "/dev/sda:1mb",
            "device-read-iops" | "device-write-iops" => "/dev/sda:100",
            "device" => "/dev/fuse",
            "device-cgroup-rule" => "c 1:3 rwm",
            "dns" => "10.0.0.53",
            "env" => "A=1",
            "gpus" => "all",
            "link" => "other:alias",
            "mount" => "type=tmpfs,target=/t",
            "network" => "host",
            "network-alias" | "link-local-ip" => "169.254.1.1",
            "ip" => "172.30.100.104",
            "ip6" => "2001:db8::33",
            "mac-address" => "92:d0:c6:0a:29:33",
            "pid" | "ipc" | "uts" | "userns" | "cgroupns" => "host",
            "publish" => "8080:80",
            "expose" => "80",
            "restart" => "always",
            "security-opt" => "no-new-privileges",
            "storage-opt" => "size=1G",
            "sysctl" => "net.ipv4.ip_forward=1",
            "tmpfs" => "/run",
            "ulimit" => "nofile=10:20",
            "memory-swappiness" => "10",
            "blkio-weight" => "300",
            "cpus" => "1.5",
            "cpuset-cpus" | "cpuset-mems" => "0",
            "env-file" | "label-file" => {
                let file = dir.join(flag);
                std::fs::write(&file, "FROM_FILE=1\n").unwrap();
                return file.display().to_string();
            }
            _ => "",
        };
        if !named.is_empty() {
            return named.to_string();
        }
        match value_type {
            "int" | "uint" | "uint16" => "7",
            "bytes" => "64m",
            "duration" => "3s",
            _ => "x",
        }
        .to_string()
    }

    fn body(command: &str, args: &[String]) -> Result<Value, String> {
        let spec = crate::commands::TABLE
            .iter()
            .find(|s| s.names[0] == command)
            .unwrap();
        let p = parse_command(spec, command, args).map_err(|e| e.msg)?;
        let daemon = Host::Unix("/run/test.sock".into());
        match command {
            "update" => resources(&p)
                .and_then(|mut r| {
                    if let Some(policy) = restart_policy(&p)? {
                        r.insert("RestartPolicy".into(), policy);
                    }
                    Ok(Value::Object(r))
                })
                .map_err(|e| e.to_string()),
            _ => request(&p, &daemon).map_err(|e| e.to_string()),
        }
    }

    /// Every flag `--help` lists for `run`, `create` and `update` changes what is sent
    /// to the daemon (or is one of the few that act around the request).
    #[test]
    fn every_listed_flag_reaches_the_request() {
        let dir = tempfile::tempdir().unwrap();
        let mut ignored = Vec::new();
        for command in ["run", "create", "update"] {
            let positional: &[&str] = if command == "update" {
                &["c1"]
            } else {
                &["busybox"]
            };
            for f in crate::help::lookup(command).unwrap().flags {
                if f.long == "help" || OUTSIDE_THE_BODY.iter().any(|(n, _)| *n == f.long) {
                    continue;
                }
                // Aliases belong to user-defined networks.
                let base: Vec<String> = if f.long == "network-alias" {
                    vec!["--network".into(), "appnet".into()]
                } else {
                    Vec::new()
                };
                let mut with = base.clone();
                with.push(format!("--{}", f.long));
                if !f.value.is_empty() {
                    with.push(sample(&f.long, &f.value, dir.path()));
                }
                let mut without = base;
                for a in [&mut with, &mut without] {
                    a.extend(positional.iter().map(|s| s.to_string()));
                }
                let before = body(command, &without).unwrap();
                match body(command, &with) {
                    Ok(after) if after != before => {}
                    Ok(_) => ignored.push(format!("{command} --{}", f.long)),
                    Err(e) => ignored.push(format!("{command} {with:?}: {e}")),
                }
            }
        }
        assert!(
            ignored.is_empty(),
            "flags that change nothing: {ignored:#?}"
        );
    }

    #[test]
    fn values_map_to_the_engine_fields() {
        let args: Vec<String> = [
            "--shm-size",
            "64m",
            "--memory-swap",
            "-1",
            "--cpus",
            "0.5",
            "-p",
            "127.0.0.1:8000-8001:80-81/udp",
            "--health-interval",
            "1m30s",
            "--ulimit",
            "nofile=10:20",
            "--network",
            "appnet",
            "--network-alias",
            "web",
            "busybox",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let b = body("create", &args).unwrap();
        let host = &b["HostConfig"];
        assert_eq!(host["ShmSize"], json!(64 << 20));
        assert_eq!(host["MemorySwap"], json!(-1));
        assert_eq!(host["NanoCpus"], json!(500_000_000));
        assert_eq!(
            host["PortBindings"]["81/udp"],
            json!([{"HostIp": "127.0.0.1", "HostPort": "8001"}])
        );
        assert_eq!(
            host["Ulimits"],
            json!([{"Name": "nofile", "Hard": 20, "Soft": 10}])
        );
        assert_eq!(b["Healthcheck"]["Interval"], json!(90_000_000_000i64));
        assert_eq!(
            b["NetworkingConfig"]["EndpointsConfig"]["appnet"]["Aliases"],
            json!(["web"])
        );
    }

    #[test]
    fn bad_values_fail_as_pflag_and_the_cli_report_them() {
        let err = |args: &[&str]| {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            body("run", &args).unwrap_err()
        };
        assert!(err(&["--shm-size", "lots", "busybox"]).starts_with(
            "invalid argument \"lots\" for \"--shm-size\" flag: invalid size: 'lots'"
        ),);
        assert!(err(&["--memory-swappiness", "200", "busybox"])
            .starts_with("docker: invalid value: 200. Valid memory swappiness range is 0-100"));
        assert!(err(&["--rm", "--restart", "always", "busybox"])
            .contains("cannot specify both --restart and --rm"));
        assert!(err(&["--cpu-period", "x", "busybox"]).starts_with(
            "invalid argument \"x\" for \"--cpu-period\" flag: strconv.ParseInt: parsing \"x\": invalid syntax"
        ));
    }
}
