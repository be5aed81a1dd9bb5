//! Volumes and networks (`volume ls/create/rm/prune`, `network ls/create/rm`) and the
//! confirmation prompt prune commands share.

use std::io::{BufRead, Write};

use clap::Command;
use serde_json::Value;

use super::{filters_json, list_format, render_list, short_id};
use crate::client::Query;
use crate::cmdline::{bool_flag, list_flag, value_flag, Parsed};
use crate::format::row::Row;
use crate::format::{header, units};
use crate::{Ctx, Status};

pub fn force_flag(c: Command) -> Command {
    bool_flag(
        c,
        "force",
        Some('f'),
        "Force the removal of one or more volumes",
    )
}

/// Asks `[y/N]` unless `--force`; a closed stdin answers no.
pub fn confirm(p: &Parsed, warning: &str) -> anyhow::Result<bool> {
    if p.flag("force") {
        return Ok(true);
    }
    print!("{warning} [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let yes = matches!(line.trim().to_lowercase().as_str(), "y" | "yes");
    Ok(yes)
}

/// What every prune does once confirmed: `POST` to `endpoint` with the filters, list
/// what the daemon reports deleted (`list_key`) under `Deleted <title>:` followed by a
/// blank line, and return the space reclaimed.
pub fn prune_and_report(
    ctx: &Ctx,
    endpoint: &str,
    query: Query,
    filters: &[String],
    list_key: &str,
    title: &str,
) -> anyhow::Result<u64> {
    let mut q = query;
    if let Some(f) = filters_json(filters)? {
        q = q.add("filters", f);
    }
    let v = ctx.client.post(endpoint, q, None)?;
    let deleted: Vec<&str> = v
        .get(list_key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !deleted.is_empty() {
        println!("Deleted {title}:");
        for d in deleted {
            println!("{d}");
        }
        println!();
    }
    Ok(v.get("SpaceReclaimed").and_then(Value::as_u64).unwrap_or(0))
}

/// The last line of a prune.
pub fn print_reclaimed(space: u64) {
    println!("Total reclaimed space: {}", units::human_size(space as f64));
}

fn labels_string(v: &Value) -> String {
    let mut l: Vec<String> = v
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    l.sort();
    l.join(",")
}

fn sorted_labels(v: &Value) -> Vec<(String, String)> {
    let mut l: Vec<(String, String)> = v
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    l.sort();
    l
}

fn s(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

pub fn volume_ls_flags(c: Command) -> Command {
    let c = bool_flag(
        c,
        "cluster",
        None,
        "Display only cluster volumes, and use cluster volume list formatting",
    );
    let c = list_flag(
        c,
        "filter",
        Some('f'),
        "Provide filter values (e.g. \"dangling=true\")",
    );
    let c = value_flag(c, "format", None, "Format output using a custom template");
    bool_flag(c, "quiet", Some('q'), "Only display volume names")
}

pub fn volume_ls(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let quiet = p.flag("quiet");
    let format = list_format(
        p.value("format").or_else(|| {
            ctx.config
                .json
                .get("volumesFormat")
                .and_then(Value::as_str)
                .map(str::to_string)
        }),
        "table {{.Driver}}\t{{.Name}}",
        false,
    )?;
    let format = if quiet && p.value("format").is_none() {
        list_format(Some("{{.Name}}".into()), "", false)?
    } else {
        format
    };
    let mut q = Query::new();
    if let Some(f) = filters_json(&p.values("filter"))? {
        q = q.add("filters", f);
    }
    let v = ctx.client.get("/volumes", q)?;
    let mut vols: Vec<Value> = v
        .get("Volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    vols.sort_by_key(|a| s(a, "Name"));
    let rows: Vec<_> = vols
        .iter()
        .map(|vol| {
            let size = vol
                .pointer("/UsageData/Size")
                .and_then(Value::as_i64)
                .map(|n| {
                    if n == -1 {
                        "N/A".to_string()
                    } else {
                        units::human_size(n as f64)
                    }
                })
                .unwrap_or_else(|| "N/A".into());
            Row::new("*formatter.volumeContext")
                .set("Availability", "N/A")
                .set("Driver", s(vol, "Driver"))
                .set("Group", "N/A")
                .set(
                    "Labels",
                    labels_string(vol.get("Labels").unwrap_or(&Value::Null)),
                )
                .set("Links", "N/A")
                .set("Mountpoint", s(vol, "Mountpoint"))
                .set("Name", s(vol, "Name"))
                .set("Scope", s(vol, "Scope"))
                .set("Size", size)
                .set("Status", "N/A")
                .labels(sorted_labels(vol.get("Labels").unwrap_or(&Value::Null)))
                .into_val()
        })
        .collect();
    render_list(
        &format,
        &rows,
        &header(&[
            ("Name", "VOLUME NAME"),
            ("Driver", "DRIVER"),
            ("Scope", "SCOPE"),
            ("Mountpoint", "MOUNTPOINT"),
            ("Labels", "LABELS"),
            ("Links", "LINKS"),
            ("Size", "SIZE"),
            ("Group", "GROUP"),
            ("Availability", "AVAILABILITY"),
            ("Status", "STATUS"),
        ]),
    )?;
    Ok(0)
}

/// `volume create`'s flags and the hidden `--name` (the positional's older spelling).
pub fn volume_create_flags(c: Command) -> Command {
    let c = crate::cmdline::flags_from_help(c, "volume create");
    value_flag(c, "name", None, "Specify volume name")
}

fn kv_map(items: &[String]) -> serde_json::Map<String, Value> {
    items
        .iter()
        .map(|i| match i.split_once('=') {
            Some((k, v)) => (k.to_string(), Value::String(v.to_string())),
            None => (i.clone(), Value::String(String::new())),
        })
        .collect()
}

pub fn volume_create(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let name = match (p.value("name"), p.args.first()) {
        (Some(a), Some(b)) if a != *b => {
            return Err(Status::new(
                1,
                "conflicting options: cannot specify a volume-name through both --name and as a positional arg",
            )
            .into())
        }
        (Some(a), _) => a,
        (None, Some(b)) => b.clone(),
        (None, None) => String::new(),
    };
    let mut body = serde_json::json!({
        "Driver": p.value("driver").unwrap_or_else(|| "local".into()),
        "DriverOpts": kv_map(&p.values("opt")),
        "Labels": kv_map(&p.values("label")),
        "Name": name,
    });
    if let Some(spec) = cluster_volume_spec(p)? {
        body["ClusterVolumeSpec"] = spec;
    }
    let v = ctx
        .client
        .post("/volumes/create", Query::new(), Some(&body))?;
    println!("{}", s(&v, "Name"));
    Ok(0)
}

/// The swarm (CSI) side of `volume create`, sent when any of its flags is given.
fn cluster_volume_spec(p: &Parsed) -> anyhow::Result<Option<Value>> {
    const CLUSTER: &[&str] = &[
        "availability",
        "group",
        "limit-bytes",
        "required-bytes",
        "scope",
        "secret",
        "sharing",
        "topology-preferred",
        "topology-required",
        "type",
    ];
    if !CLUSTER.iter().any(|f| p.given(f)) {
        return Ok(None);
    }
    let or = |flag: &str, default: &str| p.value(flag).unwrap_or_else(|| default.into());
    let mut access =
        serde_json::json!({"Scope": or("scope", "single"), "Sharing": or("sharing", "none")});
    match or("type", "block").as_str() {
        "mount" => access["MountVolume"] = serde_json::json!({}),
        "block" => access["BlockVolume"] = serde_json::json!({}),
        _ => {}
    }
    let mut capacity = serde_json::Map::new();
    if let Some(n) = p.bytes("required-bytes")? {
        capacity.insert("RequiredBytes".into(), n.into());
    }
    if let Some(n) = p.bytes("limit-bytes")? {
        capacity.insert("LimitBytes".into(), n.into());
    }
    let mut secrets: Vec<(String, String)> = p
        .values("secret")
        .iter()
        .map(|s| {
            let (k, v) = s.split_once('=').unwrap_or((s, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    secrets.sort();
    let topology = |flag: &str| -> Vec<Value> {
        p.values(flag)
            .iter()
            .map(|t| serde_json::json!({"Segments": kv_map(&t.split(',').map(str::to_string).collect::<Vec<_>>())}))
            .collect()
    };
    Ok(Some(serde_json::json!({
        "Group": or("group", ""),
        "AccessMode": access,
        "AccessibilityRequirements": {
            "Requisite": topology("topology-required"),
            "Preferred": topology("topology-preferred"),
        },
        "CapacityRange": capacity,
        "Secrets": secrets.iter().map(|(k, v)| serde_json::json!({"Key": k, "Secret": v})).collect::<Vec<_>>(),
        "Availability": or("availability", "active"),
    })))
}

pub fn volume_rm(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    super::for_each(&p.args, |name| {
        ctx.client.delete(
            &format!("/volumes/{}", crate::client::encode(name)),
            Query::new().flag("force", p.flag("force")),
        )?;
        println!("{name}");
        Ok(())
    })
}

pub fn volume_prune(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    if !confirm(p, "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?")? {
        return Ok(0);
    }
    let mut filters = p.values("filter");
    if p.flag("all") {
        filters.push("all=true".into());
    }
    let space = prune_and_report(
        ctx,
        "/volumes/prune",
        Query::new(),
        &filters,
        "VolumesDeleted",
        "Volumes",
    )?;
    print_reclaimed(space);
    Ok(0)
}

pub fn network_prune(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    if !confirm(p, "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?")? {
        return Ok(0);
    }
    // Unlike the other prunes, it prints no total: only what was removed, if anything.
    prune_and_report(
        ctx,
        "/networks/prune",
        Query::new(),
        &p.values("filter"),
        "NetworksDeleted",
        "Networks",
    )?;
    Ok(0)
}

pub fn network_ls_flags(c: Command) -> Command {
    let c = list_flag(
        c,
        "filter",
        Some('f'),
        "Provide filter values (e.g. \"driver=bridge\")",
    );
    let c = value_flag(c, "format", None, "Format output using a custom template");
    let c = bool_flag(c, "no-trunc", None, "Do not truncate the output");
    bool_flag(c, "quiet", Some('q'), "Only display network IDs")
}

fn go_bool(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_bool)
        .unwrap_or(false)
        .to_string()
}

pub fn network_ls(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let format = list_format(
        p.value("format").or_else(|| {
            ctx.config
                .json
                .get("networksFormat")
                .and_then(Value::as_str)
                .map(str::to_string)
        }),
        "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
        p.flag("quiet"),
    )?;
    let mut q = Query::new();
    if let Some(f) = filters_json(&p.values("filter"))? {
        q = q.add("filters", f);
    }
    let v = ctx.client.get("/networks", q)?;
    let mut nets: Vec<Value> = v.as_array().cloned().unwrap_or_default();
    nets.sort_by_key(|a| s(a, "Name"));
    let trunc = !p.flag("no-trunc");
    let rows: Vec<_> = nets
        .iter()
        .map(|n| {
            let created = units::parse_rfc3339(&s(n, "Created")).unwrap_or(0.0);
            let id = s(n, "Id");
            Row::new("*network.networkContext")
                .set("CreatedAt", go_time_nanos(&s(n, "Created"), created))
                .set("Driver", s(n, "Driver"))
                .set("ID", if trunc { short_id(&id) } else { id })
                .set(
                    "IPv4",
                    n.get("EnableIPv4")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                        .to_string(),
                )
                .set("IPv6", go_bool(n, "EnableIPv6"))
                .set("Internal", go_bool(n, "Internal"))
                .set(
                    "Labels",
                    labels_string(n.get("Labels").unwrap_or(&Value::Null)),
                )
                .set("Name", s(n, "Name"))
                .set("Scope", s(n, "Scope"))
                .labels(sorted_labels(n.get("Labels").unwrap_or(&Value::Null)))
                .into_val()
        })
        .collect();
    render_list(
        &format,
        &rows,
        &header(&[
            ("ID", "NETWORK ID"),
            ("Name", "NAME"),
            ("Driver", "DRIVER"),
            ("Scope", "SCOPE"),
            ("IPv4", "IPV4"),
            ("IPv6", "IPV6"),
            ("Internal", "INTERNAL"),
            ("Labels", "LABELS"),
            ("CreatedAt", "CREATED AT"),
        ]),
    )?;
    Ok(0)
}

/// Go's `time.Time.String()` keeping the nanoseconds the daemon sent.
fn go_time_nanos(raw: &str, unix: f64) -> String {
    let base = units::go_time_string(unix.floor() as i64);
    let frac = raw
        .find('.')
        .map(|i| {
            raw[i + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .unwrap_or_default();
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        return base;
    }
    // "2024-01-02 03:04:05 +0000 UTC" → insert ".nnn" after the seconds.
    format!("{}.{frac}{}", &base[..19], &base[19..])
}

pub fn network_create(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let aux: Vec<(String, String)> = p
        .values("aux-address")
        .iter()
        .map(|a| {
            let (k, v) = a.split_once('=').unwrap_or((a, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    let ipam_config = ipam_configs(
        &p.values("subnet"),
        &p.values("ip-range"),
        &p.values("gateway"),
        &aux,
    )
    .map_err(|e| Status::new(1, e))?;
    let mut body = serde_json::json!({
        "Name": p.args[0],
        "Driver": p.value("driver").unwrap_or_else(|| "bridge".into()),
        "Scope": p.value("scope").unwrap_or_default(),
        "Internal": p.flag("internal"),
        "Attachable": p.flag("attachable"),
        "Ingress": p.flag("ingress"),
        "ConfigOnly": p.flag("config-only"),
        "Options": kv_map(&p.values("opt")),
        "Labels": kv_map(&p.values("label")),
        "IPAM": {
            "Driver": p.value("ipam-driver").unwrap_or_else(|| "default".into()),
            "Config": ipam_config,
            "Options": kv_map(&p.values("ipam-opt")),
        },
        "CheckDuplicate": true,
    });
    // Sent only when given: the daemon decides the default.
    for (flag, key) in [("ipv4", "EnableIPv4"), ("ipv6", "EnableIPv6")] {
        if p.given(flag) {
            body[key] = Value::Bool(p.flag(flag));
        }
    }
    if let Some(from) = p.value("config-from").filter(|f| !f.is_empty()) {
        body["ConfigFrom"] = serde_json::json!({"Network": from});
    }
    let v = ctx
        .client
        .post("/networks/create", Query::new(), Some(&body))?;
    println!("{}", s(&v, "Id"));
    Ok(0)
}

/// `--subnet`, `--ip-range`, `--gateway` and `--aux-address` grouped by the subnet
/// each belongs to, as the real CLI's `consolidateIpam` does.
fn ipam_configs(
    subnets: &[String],
    ranges: &[String],
    gateways: &[String],
    aux: &[(String, String)],
) -> Result<Vec<Value>, String> {
    if subnets.len() < ranges.len() || subnets.len() < gateways.len() {
        return Err("every ip-range or gateway must have a corresponding subnet".into());
    }
    let mut configs: Vec<serde_json::Map<String, Value>> = Vec::new();
    for (i, s) in subnets.iter().enumerate() {
        let net = Cidr::parse(s).ok_or_else(|| format!("invalid CIDR address: {s}"))?;
        if subnets[..i]
            .iter()
            .filter_map(|o| Cidr::parse(o))
            .any(|o| o.contains(net.addr) || net.contains(o.addr))
        {
            return Err("multiple overlapping subnet configuration is not supported".into());
        }
        let mut c = serde_json::Map::new();
        c.insert("Subnet".into(), Value::String(s.clone()));
        c.insert(
            "AuxiliaryAddresses".into(),
            Value::Object(serde_json::Map::new()),
        );
        configs.push(c);
    }
    let place = |configs: &mut Vec<serde_json::Map<String, Value>>,
                 value: &str,
                 key: &str,
                 what: &str|
     -> Result<(), String> {
        let addr = value.split('/').next().unwrap_or(value);
        let ip: std::net::IpAddr = addr
            .parse()
            .map_err(|_| format!("invalid CIDR address: {value}"))?;
        let mut matched = false;
        for (c, s) in configs.iter_mut().zip(subnets) {
            if !Cidr::parse(s).is_some_and(|n| n.contains(ip)) {
                continue;
            }
            if let Some(old) = c.get(key).and_then(Value::as_str) {
                let plural = if key == "IPRange" {
                    "ranges"
                } else {
                    "gateways"
                };
                let on = if key == "IPRange" {
                    "on the same subnet"
                } else {
                    "for the same subnet"
                };
                return Err(format!(
                    "cannot configure multiple {plural} ({value}, {old}) {on} ({s})"
                ));
            }
            c.insert(key.into(), Value::String(value.to_string()));
            matched = true;
        }
        if matched {
            Ok(())
        } else {
            Err(format!("no matching subnet for {what} {value}"))
        }
    };
    for r in ranges {
        place(&mut configs, r, "IPRange", "range")?;
    }
    for g in gateways {
        place(&mut configs, g, "Gateway", "gateway")?;
    }
    for (name, addr) in aux {
        let ip: std::net::IpAddr = addr
            .parse()
            .map_err(|_| format!("invalid CIDR address: {addr}"))?;
        let mut matched = false;
        for (c, s) in configs.iter_mut().zip(subnets) {
            if Cidr::parse(s).is_some_and(|n| n.contains(ip)) {
                if let Some(Value::Object(m)) = c.get_mut("AuxiliaryAddresses") {
                    m.insert(name.clone(), Value::String(addr.clone()));
                }
                matched = true;
            }
        }
        if !matched {
            return Err(format!("no matching subnet for aux-address {addr}"));
        }
    }
    Ok(configs.into_iter().map(Value::Object).collect())
}

/// An IPv4 or IPv6 network in CIDR notation.
#[derive(Clone, Copy)]
struct Cidr {
    addr: std::net::IpAddr,
    bits: u32,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (addr, bits) = s.split_once('/')?;
        Some(Cidr {
            addr: addr.parse().ok()?,
            bits: bits.parse().ok()?,
        })
    }
    fn contains(self, ip: std::net::IpAddr) -> bool {
        let (net, ip, width) = match (self.addr, ip) {
            (std::net::IpAddr::V4(a), std::net::IpAddr::V4(b)) => {
                (u128::from(u32::from(a)), u128::from(u32::from(b)), 32)
            }
            (std::net::IpAddr::V6(a), std::net::IpAddr::V6(b)) => {
                (u128::from(a), u128::from(b), 128)
            }
            _ => return false,
        };
        if self.bits > width {
            return false;
        }
        let shift = width - self.bits;
        shift >= 128 || (net >> shift) == (ip >> shift)
    }
}

pub fn network_rm(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    // CLI 28 prints each failure as it happens and ends with a bare exit status.
    let mut failed = false;
    for name in &p.args {
        match ctx.client.delete(
            &format!("/networks/{}", crate::client::encode(name)),
            Query::new(),
        ) {
            Ok(_) => println!("{name}"),
            Err(e) if p.flag("force") && e.is_not_found() => {}
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(Status::new(1, "exit status 1").into());
    }
    Ok(0)
}

pub fn network_connect(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    // `--alias`, `--link-local-ip` and `--driver-opt` are string slices: a value may
    // hold several, comma-separated.
    let slice = |flag: &str| -> Vec<String> {
        p.values(flag)
            .iter()
            .flat_map(|v| v.split(',').map(str::to_string).collect::<Vec<_>>())
            .collect()
    };
    let link_local = slice("link-local-ip");
    let driver_opts = slice("driver-opt");
    let endpoint = serde_json::json!({
        "IPAMConfig": {
            "IPv4Address": p.value("ip").unwrap_or_default(),
            "IPv6Address": p.value("ip6").unwrap_or_default(),
            "LinkLocalIPs": if link_local.is_empty() { Value::Null } else { link_local.into() },
        },
        "Links": p.values("link"),
        "Aliases": slice("alias"),
        "DriverOpts": if driver_opts.is_empty() { Value::Null } else { Value::Object(kv_map(&driver_opts)) },
        "GwPriority": p.int("gw-priority")?.unwrap_or(0),
    });
    let body = serde_json::json!({"Container": p.args[1], "EndpointConfig": endpoint});
    ctx.client.post(
        &format!("/networks/{}/connect", crate::client::encode(&p.args[0])),
        Query::new(),
        Some(&body),
    )?;
    Ok(0)
}

pub fn network_disconnect_flags(c: Command) -> Command {
    bool_flag(
        c,
        "force",
        Some('f'),
        "Force the container to disconnect from a network",
    )
}

pub fn network_disconnect(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let body = serde_json::json!({"Container": p.args[1], "Force": p.flag("force")});
    ctx.client.post(
        &format!("/networks/{}/disconnect", crate::client::encode(&p.args[0])),
        Query::new(),
        Some(&body),
    )?;
    Ok(0)
}
