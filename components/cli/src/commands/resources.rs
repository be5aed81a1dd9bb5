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

/// `container prune`'s flags; `volume prune` adds `--all`.
pub fn prune_flags(c: Command) -> Command {
    let c = list_flag(
        c,
        "filter",
        None,
        "Provide filter values (e.g. \"label=<label>\")",
    );
    bool_flag(c, "force", Some('f'), "Do not prompt for confirmation")
}

pub fn volume_prune_flags(c: Command) -> Command {
    bool_flag(
        prune_flags(c),
        "all",
        Some('a'),
        "Remove all unused volumes, not just anonymous ones",
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

pub fn volume_create_flags(c: Command) -> Command {
    let c = value_flag(c, "driver", Some('d'), "Specify volume driver name");
    let c = list_flag(c, "label", None, "Set metadata for a volume");
    let c = value_flag(c, "name", None, "Specify volume name");
    list_flag(c, "opt", Some('o'), "Set driver specific options")
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
    let body = serde_json::json!({
        "Driver": p.value("driver").unwrap_or_else(|| "local".into()),
        "DriverOpts": kv_map(&p.values("opt")),
        "Labels": kv_map(&p.values("label")),
        "Name": name,
    });
    let v = ctx
        .client
        .post("/volumes/create", Query::new(), Some(&body))?;
    println!("{}", s(&v, "Name"));
    Ok(0)
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
    let mut q = Query::new();
    let mut filters = p.values("filter");
    if p.flag("all") {
        filters.push("all=true".into());
    }
    if let Some(f) = filters_json(&filters)? {
        q = q.add("filters", f);
    }
    let v = ctx.client.post("/volumes/prune", q, None)?;
    let deleted: Vec<String> = v
        .get("VolumesDeleted")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    if !deleted.is_empty() {
        println!("Deleted Volumes:");
        for d in &deleted {
            println!("{d}");
        }
        println!();
    }
    let space = v.get("SpaceReclaimed").and_then(Value::as_u64).unwrap_or(0);
    println!("Total reclaimed space: {}", units::human_size(space as f64));
    Ok(0)
}

pub fn network_prune_flags(c: Command) -> Command {
    let c = list_flag(
        c,
        "filter",
        None,
        "Provide filter values (e.g. \"until=<timestamp>\")",
    );
    bool_flag(c, "force", Some('f'), "Do not prompt for confirmation")
}

pub fn network_prune(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    if !confirm(p, "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?")? {
        return Ok(0);
    }
    let mut q = Query::new();
    if let Some(f) = filters_json(&p.values("filter"))? {
        q = q.add("filters", f);
    }
    let v = ctx.client.post("/networks/prune", q, None)?;
    let deleted: Vec<&str> = v
        .get("NetworksDeleted")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    // Unlike the other prunes, nothing at all is printed when nothing was removed.
    if !deleted.is_empty() {
        println!("Deleted Networks:");
        for d in deleted {
            println!("{d}");
        }
        println!();
    }
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

pub fn network_create_flags(c: Command) -> Command {
    let c = bool_flag(c, "attachable", None, "Enable manual container attachment");
    let c = value_flag(c, "driver", Some('d'), "Driver to manage the Network");
    let c = bool_flag(
        c,
        "internal",
        None,
        "Restrict external access to the network",
    );
    let c = bool_flag(c, "ipv6", None, "Enable or disable IPv6 networking");
    let c = list_flag(c, "label", None, "Set metadata on a network");
    let c = list_flag(c, "opt", Some('o'), "Set driver specific options");
    let c = list_flag(
        c,
        "subnet",
        None,
        "Subnet in CIDR format that represents a network segment",
    );
    list_flag(
        c,
        "gateway",
        None,
        "IPv4 or IPv6 Gateway for the master subnet",
    )
}

pub fn network_create(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let subnets = p.values("subnet");
    let gateways = p.values("gateway");
    let ipam_config: Vec<Value> = subnets
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut c = serde_json::json!({"Subnet": s});
            if let Some(g) = gateways.get(i) {
                c["Gateway"] = Value::String(g.clone());
            }
            c
        })
        .collect();
    let body = serde_json::json!({
        "Name": p.args[0],
        "Driver": p.value("driver").unwrap_or_else(|| "bridge".into()),
        "Internal": p.flag("internal"),
        "Attachable": p.flag("attachable"),
        "EnableIPv6": p.flag("ipv6"),
        "Options": kv_map(&p.values("opt")),
        "Labels": kv_map(&p.values("label")),
        "IPAM": {"Driver": "default", "Config": ipam_config, "Options": {}},
        "CheckDuplicate": true,
    });
    let v = ctx
        .client
        .post("/networks/create", Query::new(), Some(&body))?;
    println!("{}", s(&v, "Id"));
    Ok(0)
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

pub fn network_connect_flags(c: Command) -> Command {
    let c = list_flag(
        c,
        "alias",
        None,
        "Add network-scoped alias for the container",
    );
    let c = value_flag(c, "ip", None, "IPv4 address (e.g., \"172.30.100.104\")");
    value_flag(c, "ip6", None, "IPv6 address (e.g., \"2001:db8::33\")")
}

pub fn network_connect(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let mut endpoint = serde_json::json!({"Aliases": p.values("alias")});
    if p.value("ip").is_some() || p.value("ip6").is_some() {
        endpoint["IPAMConfig"] = serde_json::json!({
            "IPv4Address": p.value("ip").unwrap_or_default(),
            "IPv6Address": p.value("ip6").unwrap_or_default(),
        });
    }
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
