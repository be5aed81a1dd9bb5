//! The systemd side of `--systemd-cgroup`, as runc 1.1 does it: the container's
//! init is put into a transient scope unit (`StartTransientUnit` over the system bus
//! with runc's properties: slice, delegation, accounting, no default dependencies),
//! resources are set as unit properties (`SetUnitProperties`, runtime) before the
//! cgroupfs files are written, and the unit is stopped on delete. Each job is waited
//! for through its `JobRemoved` signal, so the scope exists (or is gone) on return.

use std::time::Duration;

use oci_spec::runtime::LinuxResources;

use super::devices_bpf::{access_letters, Rule};
use crate::dbus::{Arg, Bus, DbusError};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
/// runc waits this long for a job's result.
const JOB_TIMEOUT: Duration = Duration::from_secs(30);
/// The default CFS period, used when only a quota is given.
const DEFAULT_CPU_PERIOD: u64 = 100_000;
/// The first systemd versions that take CPUQuotaPeriodUSec, and AllowedCPUs with
/// AllowedMemoryNodes.
const CPU_QUOTA_PERIOD_SINCE: i64 = 242;
const ALLOWED_CPUS_SINCE: i64 = 244;

#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    #[error(transparent)]
    Dbus(#[from] DbusError),
    #[error("error creating systemd unit `{unit}`: got `{result}`")]
    JobFailed { unit: String, result: String },
    #[error("Timeout waiting for systemd to create {0}")]
    StartTimeout(String),
    #[error("Timed out while waiting for systemd to remove {0}")]
    StopTimeout(String),
    #[error("annotation {key} name incorrect: {why}")]
    PropertyName { key: String, why: &'static str },
    #[error("annotation {key}={value} value parse error: {why}")]
    PropertyValue {
        key: String,
        value: String,
        why: &'static str,
    },
}

/// The unit runc makes for a container: a scope (or a slice, when the name of
/// `slice:prefix:name` is itself a slice) in a parent slice.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub name: String,
    pub slice: String,
    /// The `name` part of `slice:prefix:name`, for the unit's description.
    pub container: String,
}

impl Unit {
    fn is_slice(&self) -> bool {
        self.name.ends_with(".slice")
    }
}

fn prop(name: &str, value: Arg) -> Arg {
    Arg::Struct(vec![Arg::Str(name.into()), Arg::Variant(Box::new(value))])
}

fn props(list: Vec<Arg>) -> Arg {
    Arg::Array("(sv)".into(), list)
}

const PROPERTY_PREFIX: &str = "org.systemd.property.";

/// The unit properties asked for by `org.systemd.property.<Name>` annotations, whose
/// values are GVariant text (runc 1.1's rules: a name of at least three latin
/// letters; `<x>Sec` means `<x>USec`, given in seconds). Supported values: booleans,
/// quoted strings, numbers (int32, or double with a point) and the typed forms
/// `int32|uint32|int64|uint64|double <number>`.
pub fn annotation_properties(
    annotations: &std::collections::HashMap<String, String>,
) -> Result<Vec<Arg>, SystemdError> {
    let mut keys: Vec<&String> = annotations.keys().collect();
    keys.sort();
    let mut out = Vec::new();
    for key in keys {
        let Some(name) = key.strip_prefix(PROPERTY_PREFIX) else {
            continue;
        };
        let value = &annotations[key];
        let bad_name = if name.len() < 3 {
            Some("too short")
        } else if !name.bytes().all(|b| b.is_ascii_alphabetic()) {
            Some("contains non-alphabetic character")
        } else {
            None
        };
        if let Some(why) = bad_name {
            return Err(SystemdError::PropertyName {
                key: key.clone(),
                why,
            });
        }
        let bad = |why| SystemdError::PropertyValue {
            key: key.clone(),
            value: value.clone(),
            why,
        };
        let mut arg = parse_gvariant(value).map_err(bad)?;
        let mut name = name.to_string();
        if let Some(stem) = name.strip_suffix("Sec") {
            if stem.ends_with(|c: char| c.is_ascii_lowercase()) {
                arg = Arg::U64(seconds_to_usec(&arg).ok_or_else(|| bad("not a number"))?);
                name = format!("{stem}USec");
            }
        }
        out.push(prop(&name, arg));
    }
    Ok(out)
}

fn seconds_to_usec(a: &Arg) -> Option<u64> {
    const M: u64 = 1_000_000;
    Some(match a {
        Arg::I32(v) => (*v as u64).wrapping_mul(M),
        Arg::U32(v) => u64::from(*v) * M,
        Arg::I64(v) => (*v as u64).wrapping_mul(M),
        Arg::U64(v) => v.wrapping_mul(M),
        Arg::Double(v) => (v * M as f64) as u64,
        _ => return None,
    })
}

/// The GVariant text forms runc's users put in annotations.
fn parse_gvariant(text: &str) -> Result<Arg, &'static str> {
    let t = text.trim();
    match t {
        "true" => return Ok(Arg::Bool(true)),
        "false" => return Ok(Arg::Bool(false)),
        _ => {}
    }
    if let Some(q) = t.chars().next().filter(|c| *c == '\'' || *c == '"') {
        let inner = t
            .strip_prefix(q)
            .and_then(|r| r.strip_suffix(q))
            .ok_or("unterminated string")?;
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                out.push(chars.next().ok_or("unterminated string")?);
            } else {
                out.push(c);
            }
        }
        return Ok(Arg::Str(out));
    }
    let num = |s: &str| s.trim().to_string();
    if let Some((ty, n)) = t.split_once(char::is_whitespace) {
        let n = num(n);
        return match ty {
            "int32" => n.parse().map(Arg::I32).map_err(|_| "bad int32"),
            "uint32" => n.parse().map(Arg::U32).map_err(|_| "bad uint32"),
            "int64" => n.parse().map(Arg::I64).map_err(|_| "bad int64"),
            "uint64" => n.parse().map(Arg::U64).map_err(|_| "bad uint64"),
            "double" => n.parse().map(Arg::Double).map_err(|_| "bad double"),
            _ => Err("unsupported type"),
        };
    }
    if let Ok(v) = t.parse::<i32>() {
        return Ok(Arg::I32(v));
    }
    if t.contains(['.', 'e', 'E']) {
        if let Ok(v) = t.parse::<f64>() {
            return Ok(Arg::Double(v));
        }
    }
    Err("unsupported value")
}

/// Start the transient unit holding `pid` and wait until systemd has made it.
/// `extra` are the annotations' properties, sent last as runc does.
pub fn start(unit: &Unit, pid: i32, extra: Vec<Arg>) -> Result<(), SystemdError> {
    let mut list = vec![prop(
        "Description",
        Arg::Str(format!("libcontainer container {}", unit.container)),
    )];
    if unit.is_slice() {
        list.push(prop(
            "Wants",
            Arg::Array("s".into(), vec![Arg::Str(unit.slice.clone())]),
        ));
    } else {
        list.push(prop("Slice", Arg::Str(unit.slice.clone())));
        list.push(prop("Delegate", Arg::Bool(true)));
    }
    list.push(prop(
        "PIDs",
        Arg::Array("u".into(), vec![Arg::U32(pid as u32)]),
    ));
    for accounting in [
        "MemoryAccounting",
        "CPUAccounting",
        "BlockIOAccounting",
        "TasksAccounting",
    ] {
        list.push(prop(accounting, Arg::Bool(true)));
    }
    list.push(prop("DefaultDependencies", Arg::Bool(false)));
    list.extend(extra);

    let mut bus = connect()?;
    let args = [
        Arg::Str(unit.name.clone()),
        Arg::Str("replace".into()),
        props(list),
        Arg::Array("(sa(sv))".into(), vec![]),
    ];
    let job = match bus.call(DEST, PATH, MANAGER, "StartTransientUnit", &args) {
        Ok(reply) => reply,
        // A leftover failed unit of the same name: let systemd forget it, retry once.
        Err(DbusError::Remote { name, .. }) if name == "org.freedesktop.systemd1.UnitExists" => {
            let _ = reset_failed(&mut bus, &unit.name);
            bus.call(DEST, PATH, MANAGER, "StartTransientUnit", &args)?
        }
        Err(e) => return Err(e.into()),
    };
    let job = first(&job.strings()?);
    match wait_job(&mut bus, &job) {
        Ok(result) if result == "done" => Ok(()),
        Ok(result) => {
            let _ = reset_failed(&mut bus, &unit.name);
            Err(SystemdError::JobFailed {
                unit: unit.name.clone(),
                result,
            })
        }
        Err(DbusError::Io(e)) if is_timeout(&e) => {
            let _ = reset_failed(&mut bus, &unit.name);
            Err(SystemdError::StartTimeout(unit.name.clone()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Set the unit's resource properties (runtime only, as runc does).
pub fn set(unit: &Unit, res: &LinuxResources, unified: bool) -> Result<(), SystemdError> {
    let list = resource_properties(res, unified, systemd_version);
    if list.is_empty() {
        return Ok(());
    }
    let mut bus = connect()?;
    bus.call(
        DEST,
        PATH,
        MANAGER,
        "SetUnitProperties",
        &[Arg::Str(unit.name.clone()), Arg::Bool(true), props(list)],
    )?;
    Ok(())
}

/// Stop the unit and wait for it to go; a unit that is already gone is fine.
pub fn stop(unit: &Unit) -> Result<(), SystemdError> {
    let mut bus = connect()?;
    let args = [Arg::Str(unit.name.clone()), Arg::Str("replace".into())];
    let result = match bus.call(DEST, PATH, MANAGER, "StopUnit", &args) {
        Ok(reply) => {
            let job = first(&reply.strings()?);
            match wait_job(&mut bus, &job) {
                Ok(_) => Ok(()),
                Err(DbusError::Io(e)) if is_timeout(&e) => {
                    Err(SystemdError::StopTimeout(unit.name.clone()))
                }
                Err(e) => Err(e.into()),
            }
        }
        Err(DbusError::Remote { name, .. }) if name == "org.freedesktop.systemd1.NoSuchUnit" => {
            Ok(())
        }
        Err(e) => Err(e.into()),
    };
    let _ = reset_failed(&mut bus, &unit.name);
    result
}

fn connect() -> Result<Bus, SystemdError> {
    let mut bus = Bus::system(JOB_TIMEOUT)?;
    // Job results come as JobRemoved signals; ask the bus for them before any job
    // can finish.
    bus.call(
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "AddMatch",
        &[Arg::Str(format!(
            "type='signal',sender='{DEST}',path='{PATH}',interface='{MANAGER}',member='JobRemoved'"
        ))],
    )?;
    Ok(bus)
}

fn reset_failed(bus: &mut Bus, unit: &str) -> Result<(), DbusError> {
    bus.call(
        DEST,
        PATH,
        MANAGER,
        "ResetFailedUnit",
        &[Arg::Str(unit.into())],
    )
    .map(|_| ())
}

/// Wait for `JobRemoved(id, job, unit, result)` of `job`; returns the result.
fn wait_job(bus: &mut Bus, job: &str) -> Result<String, DbusError> {
    loop {
        let m = bus.next_signal()?;
        if m.member != "JobRemoved" || m.interface != MANAGER {
            continue;
        }
        let fields = m.strings()?;
        if fields.get(1).map(String::as_str) == Some(job) {
            return Ok(fields.get(3).cloned().unwrap_or_default());
        }
    }
}

fn first(v: &[String]) -> String {
    v.first().cloned().unwrap_or_default()
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// -1 means unlimited, which systemd spells as u64::MAX (its "infinity").
fn limit(v: i64) -> u64 {
    if v < 0 {
        u64::MAX
    } else {
        v as u64
    }
}

/// CPUQuotaPerSecUSec from a CFS quota and period, rounded up to whole percents
/// as systemd stores it.
fn quota_per_sec(res: &LinuxResources) -> Option<u64> {
    let cpu = res.cpu().as_ref()?;
    let quota = cpu.quota().unwrap_or(0);
    let period = cpu.period().unwrap_or(0);
    if quota == 0 && period == 0 {
        return None;
    }
    if quota <= 0 {
        return Some(u64::MAX);
    }
    let period = if period == 0 {
        DEFAULT_CPU_PERIOD
    } else {
        period
    };
    let per_sec = (quota as u64) * 1_000_000 / period;
    Some(per_sec.div_ceil(10_000) * 10_000)
}

/// The device rules as systemd takes them (runc 1.1's translation): the spec's rules
/// plus runc's always-allowed nodes are reduced, as the devices controller would,
/// to a default and its exceptions. A deny-by-default list becomes
/// `DevicePolicy=strict` with one `DeviceAllow` per exception: `/dev/{char,block}/M:m`
/// for one node, the /proc/devices group name for `M:*`, `char-*`/`block-*` for all;
/// `*:m` cannot be said and is left to the cgroupfs rules. Allow-all is
/// `DevicePolicy=auto`; any other allow-by-default list is deny-all here, the
/// cgroupfs rules written next being the real ones.
pub fn device_properties(res: &LinuxResources) -> Vec<Arg> {
    let Some(devs) = res.devices() else {
        return Vec::new();
    };
    let rules = devs.iter().map(Rule::from_spec).chain(
        super::v1::ALWAYS_ALLOWED
            .iter()
            .filter_map(|r| Rule::parse(r, true)),
    );
    let (default_allow, exceptions) = reduce(rules);
    let empty = || Arg::Array("(ss)".into(), vec![]);
    if default_allow {
        let policy = if exceptions.is_empty() {
            "auto"
        } else {
            "strict"
        };
        return vec![
            prop("DevicePolicy", Arg::Str(policy.into())),
            prop("DeviceAllow", empty()),
        ];
    }
    let groups = std::fs::read_to_string("/proc/devices").unwrap_or_default();
    let mut allow = Vec::new();
    for r in &exceptions {
        let kind = if r.typ == 'b' { "block" } else { "char" };
        let path = match (r.major, r.minor) {
            (None, None) => format!("{kind}-*"),
            (None, Some(_)) => continue,
            (Some(major), None) => match device_group(&groups, kind, major) {
                Some(name) => format!("{kind}-{name}"),
                None => continue,
            },
            (Some(major), Some(minor)) => format!("/dev/{kind}/{major}:{minor}"),
        };
        allow.push(Arg::Struct(vec![
            Arg::Str(path),
            Arg::Str(access_letters(r.access)),
        ]));
    }
    vec![
        prop("DevicePolicy", Arg::Str("strict".into())),
        prop("DeviceAllow", empty()),
        prop("DeviceAllow", Arg::Array("(ss)".into(), allow)),
    ]
}

/// Apply rules in order as the v1 devices controller does: an `a` rule sets the
/// default and drops every exception; a rule against the default adds access to
/// its exception, one with the default takes access away.
fn reduce(rules: impl Iterator<Item = Rule>) -> (bool, Vec<Rule>) {
    let mut default_allow = true;
    let mut exceptions: Vec<Rule> = Vec::new();
    for r in rules {
        if r.typ == 'a' {
            default_allow = r.allow;
            exceptions.clear();
            continue;
        }
        let same = |e: &Rule| e.typ == r.typ && e.major == r.major && e.minor == r.minor;
        if r.allow == default_allow {
            for e in exceptions.iter_mut().filter(|e| same(e)) {
                e.access &= !r.access;
            }
            exceptions.retain(|e| e.access != 0);
        } else if let Some(e) = exceptions.iter_mut().find(|e| same(e)) {
            e.access |= r.access;
        } else {
            exceptions.push(r);
        }
    }
    (default_allow, exceptions)
}

/// The name /proc/devices gives major `major` of `kind` ("char" or "block").
fn device_group(proc_devices: &str, kind: &str, major: u32) -> Option<String> {
    let header = if kind == "block" {
        "Block devices:"
    } else {
        "Character devices:"
    };
    proc_devices
        .lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .take_while(|l| !l.trim().is_empty() && !l.ends_with(':'))
        .find_map(|l| {
            let (num, name) = l.trim().split_once(char::is_whitespace)?;
            (num.parse() == Ok(major)).then(|| name.trim().to_string())
        })
}

/// runc 1.1's resource properties, in its order; `unified` picks the cgroup v2
/// names (MemoryMax, CPUWeight) over the v1 ones (MemoryLimit, CPUShares,
/// BlockIOWeight). Properties a systemd older than the one that introduced them
/// would refuse (failing the whole call) are left out as runc leaves them out,
/// asking `version` only when one is wanted; the cgroupfs files written next
/// carry those settings anyway.
fn resource_properties(
    res: &LinuxResources,
    unified: bool,
    version: impl FnOnce() -> i64,
) -> Vec<Arg> {
    let mut list = device_properties(res);
    if let Some(m) = res
        .memory()
        .as_ref()
        .and_then(|m| m.limit())
        .filter(|m| *m != 0)
    {
        let name = if unified { "MemoryMax" } else { "MemoryLimit" };
        list.push(prop(name, Arg::U64(limit(m))));
    }
    let cpu = res.cpu().as_ref();
    if let Some(s) = cpu.and_then(|c| c.shares()).filter(|s| *s != 0) {
        if unified {
            // The v1 shares range [2, 262144] mapped onto weights [1, 10000].
            let weight = 1 + ((s.clamp(2, 262_144) - 2) * 9999) / 262_142;
            list.push(prop("CPUWeight", Arg::U64(weight)));
        } else {
            list.push(prop("CPUShares", Arg::U64(s)));
        }
    }
    let period = cpu.and_then(|c| c.period()).filter(|p| *p != 0);
    let cpus = cpu.and_then(|c| c.cpus().clone()).filter(|c| !c.is_empty());
    let mems = cpu.and_then(|c| c.mems().clone()).filter(|m| !m.is_empty());
    let version = if period.is_some() || cpus.is_some() || mems.is_some() {
        version()
    } else {
        -1
    };
    if let Some(p) = period.filter(|_| version >= CPU_QUOTA_PERIOD_SINCE) {
        list.push(prop("CPUQuotaPeriodUSec", Arg::U64(p)));
    }
    if let Some(q) = quota_per_sec(res) {
        list.push(prop("CPUQuotaPerSecUSec", Arg::U64(q)));
    }
    if !unified {
        if let Some(w) = res
            .block_io()
            .as_ref()
            .and_then(|b| b.weight())
            .filter(|w| *w != 0)
        {
            list.push(prop("BlockIOWeight", Arg::U64(u64::from(w))));
        }
    }
    if let Some(p) = pids_limit(res) {
        list.push(prop("TasksMax", Arg::U64(limit(p))));
    }
    if version >= ALLOWED_CPUS_SINCE {
        for (name, set) in [("AllowedCPUs", cpus), ("AllowedMemoryNodes", mems)] {
            if let Some(bits) = set.as_deref().and_then(range_to_bits) {
                list.push(prop(name, Arg::Bytes(bits)));
            }
        }
    }
    list
}

/// A cpuset list (`0-3,7`) as the little-endian bit mask systemd takes (runc's
/// RangeToBits, with the byte order of its 1.1.6 fix); None when it does not
/// parse or is empty (the cgroupfs write that follows then reports it).
fn range_to_bits(list: &str) -> Option<Vec<u8>> {
    let mut bits: Vec<u8> = Vec::new();
    for part in list.split(',').filter(|p| !p.trim().is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (
                a.trim().parse::<usize>().ok()?,
                b.trim().parse::<usize>().ok()?,
            ),
            None => {
                let n = part.trim().parse::<usize>().ok()?;
                (n, n)
            }
        };
        if lo > hi || hi >= 1 << 16 {
            return None;
        }
        for n in lo..=hi {
            if bits.len() <= n / 8 {
                bits.resize(n / 8 + 1, 0);
            }
            bits[n / 8] |= 1 << (n % 8);
        }
    }
    (!bits.is_empty()).then_some(bits)
}

/// The running systemd's version number, read once per process from the
/// manager's `Version` property ("252.22-1~deb12u1" is 252); -1 when it cannot be
/// read, which leaves every version-gated property out (as runc does).
fn systemd_version() -> i64 {
    static VERSION: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *VERSION.get_or_init(|| {
        let read = || -> Result<String, SystemdError> {
            let mut bus = Bus::system(JOB_TIMEOUT)?;
            let reply = bus.call(
                DEST,
                PATH,
                "org.freedesktop.DBus.Properties",
                "Get",
                &[Arg::Str(MANAGER.into()), Arg::Str("Version".into())],
            )?;
            Ok(first(&reply.strings()?))
        };
        match read() {
            Ok(v) => parse_version(&v).unwrap_or_else(|| {
                crate::logging::log(
                    "error",
                    &format!("unable to get systemd version: can't parse version {v}"),
                );
                -1
            }),
            Err(e) => {
                crate::logging::log("error", &format!("unable to get systemd version: {e}"));
                -1
            }
        }
    })
}

/// The first number in a systemd version string.
fn parse_version(v: &str) -> Option<i64> {
    let digits: String = v
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn pids_limit(res: &LinuxResources) -> Option<i64> {
    res.pids()
        .as_ref()
        .map(|p| p.limit())
        .filter(|l| *l > 0 || *l == -1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quota_rounds_up_to_whole_percents() {
        let res: LinuxResources =
            serde_json::from_str(r#"{"cpu": {"quota": 50001, "period": 100000}}"#).unwrap();
        assert_eq!(quota_per_sec(&res), Some(510_000));
        let res: LinuxResources = serde_json::from_str(r#"{"cpu": {"quota": 20000}}"#).unwrap();
        assert_eq!(quota_per_sec(&res), Some(200_000));
        let res: LinuxResources = serde_json::from_str(r#"{"cpu": {"quota": -1}}"#).unwrap();
        assert_eq!(quota_per_sec(&res), Some(u64::MAX));
    }

    #[test]
    fn cpu_properties_follow_the_systemd_version() {
        let res: LinuxResources = serde_json::from_str(
            r#"{"cpu": {"quota": 50000, "period": 50000, "cpus": "0-2,9", "mems": "0"}}"#,
        )
        .unwrap();
        let names = |version: i64, unified: bool| -> Vec<String> {
            resource_properties(&res, unified, || version)
                .iter()
                .map(|p| match p {
                    Arg::Struct(f) => match &f[0] {
                        Arg::Str(n) => n.clone(),
                        _ => unreachable!(),
                    },
                    _ => unreachable!(),
                })
                .collect()
        };
        let quota = ["CPUQuotaPerSecUSec"];
        let period_and_quota = ["CPUQuotaPeriodUSec", "CPUQuotaPerSecUSec"];
        let all = [
            "CPUQuotaPeriodUSec",
            "CPUQuotaPerSecUSec",
            "AllowedCPUs",
            "AllowedMemoryNodes",
        ];
        assert_eq!(names(-1, false), quota, "version unknown");
        assert_eq!(names(241, false), quota);
        assert_eq!(names(242, false), period_and_quota);
        assert_eq!(names(243, true), period_and_quota);
        assert_eq!(names(244, false), all);
        assert_eq!(names(252, true), all);
        let list = resource_properties(&res, false, || 252);
        assert_eq!(
            list[2],
            prop("AllowedCPUs", Arg::Bytes(vec![0b0000_0111, 0b10]))
        );
        assert_eq!(list[0], prop("CPUQuotaPeriodUSec", Arg::U64(50_000)));
        // Nothing version-gated wanted: systemd is not asked.
        let res: LinuxResources = serde_json::from_str(r#"{"cpu": {"shares": 512}}"#).unwrap();
        let list = resource_properties(&res, false, || panic!("version asked for"));
        assert_eq!(list, vec![prop("CPUShares", Arg::U64(512))]);
    }

    #[test]
    fn versions_and_cpu_lists_parse_like_runc() {
        assert_eq!(parse_version("252.22-1~deb12u1"), Some(252));
        assert_eq!(parse_version("v245.4-1.fc32"), Some(245));
        assert_eq!(parse_version("245"), Some(245));
        assert_eq!(parse_version("unknown"), None);
        assert_eq!(range_to_bits("0"), Some(vec![1]));
        assert_eq!(range_to_bits("1,3-4,8"), Some(vec![0b0001_1010, 1]));
        assert_eq!(range_to_bits(" 2, ,"), Some(vec![0b100]));
        assert_eq!(range_to_bits(""), None);
        assert_eq!(range_to_bits("3-1"), None);
        assert_eq!(range_to_bits("x"), None);
    }

    #[test]
    fn device_rules_reduce_to_systemds_allow_list() {
        let res: LinuxResources = serde_json::from_str(
            r#"{"devices": [{"allow": false, "access": "rwm"},
                            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "r"},
                            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "w"},
                            {"allow": false, "type": "c", "major": 10, "minor": 200, "access": "rwm"}]}"#,
        )
        .unwrap();
        let (default_allow, ex) =
            reduce(res.devices().as_ref().unwrap().iter().map(Rule::from_spec));
        assert!(!default_allow);
        assert_eq!(ex.len(), 1);
        assert_eq!(access_letters(ex[0].access), "rw");
        let groups = "Character devices:\n  1 mem\n136 pts\n\nBlock devices:\n  8 sd\n";
        assert_eq!(device_group(groups, "char", 136).as_deref(), Some("pts"));
        assert_eq!(device_group(groups, "block", 8).as_deref(), Some("sd"));
        assert_eq!(device_group(groups, "block", 1), None);
    }

    #[test]
    fn annotations_follow_runcs_rules() {
        let ann: std::collections::HashMap<String, String> = [
            ("org.systemd.property.TimeoutStopSec", "2"),
            ("org.systemd.property.CollectMode", "'inactive-or-failed'"),
            ("org.systemd.property.CPUQuotaPeriodUSec", "uint64 50000"),
            ("other", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let p = annotation_properties(&ann).unwrap();
        assert_eq!(
            p,
            vec![
                prop("CPUQuotaPeriodUSec", Arg::U64(50_000)),
                prop("CollectMode", Arg::Str("inactive-or-failed".into())),
                prop("TimeoutStopUSec", Arg::U64(2_000_000)),
            ]
        );
        let bad: std::collections::HashMap<String, String> =
            [("org.systemd.property.X1".to_string(), "1".to_string())].into();
        assert_eq!(
            annotation_properties(&bad).unwrap_err().to_string(),
            "annotation org.systemd.property.X1 name incorrect: too short"
        );
    }
}
