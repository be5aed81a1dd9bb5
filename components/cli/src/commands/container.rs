//! Container listing and lifecycle commands that need no attached streams:
//! `ps`, `stop`, `restart`, `kill`, `rm`, `pause`, `unpause`, `wait`, `rename`,
//! `logs`, `top`, `port`, `diff`, `export`, `commit`, `container prune`.

use std::io::Write;

use clap::Command;
use serde_json::Value;

use super::{filters_json, for_each, short_id};
use crate::client::Query;
use crate::cmdline::{bool_flag, list_flag, value_flag, Parsed};
use crate::format::row::Row;
use crate::format::{header, tabwriter::TabWriter, units};
use crate::template::Val;
use crate::transport::Body;
use crate::{Ctx, Status};

const PS_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

pub fn ps_flags(c: Command) -> Command {
    let c = bool_flag(
        c,
        "all",
        Some('a'),
        "Show all containers (default shows just running)",
    );
    let c = list_flag(
        c,
        "filter",
        Some('f'),
        "Filter output based on conditions provided",
    );
    let c = value_flag(c, "format", None, "Format output using a custom template");
    let c = value_flag(
        c,
        "last",
        Some('n'),
        "Show n last created containers (includes all states)",
    );
    let c = bool_flag(
        c,
        "latest",
        Some('l'),
        "Show the latest created container (includes all states)",
    );
    let c = bool_flag(c, "no-trunc", None, "Don't truncate output");
    let c = bool_flag(c, "quiet", Some('q'), "Only display container IDs");
    bool_flag(c, "size", Some('s'), "Display total file sizes")
}

/// `Ellipsis`: cuts to `max` display columns, the last one an ellipsis.
pub(super) fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

fn sorted_labels(v: &Value) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = v
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    labels
}

/// `DisplayablePorts`: `0.0.0.0:80->8080/tcp, 9988/tcp`.
fn ports(list: &Value) -> String {
    let mut items: Vec<String> = Vec::new();
    for p in list.as_array().into_iter().flatten() {
        let private = p.get("PrivatePort").and_then(Value::as_u64).unwrap_or(0);
        let proto = str_of(p, "Type");
        match p.get("PublicPort").and_then(Value::as_u64) {
            Some(public) if public != 0 => {
                let ip = str_of(p, "IP");
                let ip = if ip.contains(':') {
                    format!("[{ip}]")
                } else {
                    ip
                };
                items.push(format!("{ip}:{public}->{private}/{proto}"));
            }
            _ => items.push(format!("{private}/{proto}")),
        }
    }
    items.sort();
    items.dedup();
    items.join(", ")
}

fn container_row(c: &Value, trunc: bool) -> Val {
    let id = str_of(c, "Id");
    let names: Vec<String> = c
        .get("Names")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|n| n.get(1..).unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    let names = if trunc {
        names
            .iter()
            .find(|n| !n.contains('/'))
            .map(|n| vec![n.clone()])
            .unwrap_or(names)
    } else {
        names
    };
    let mut image = str_of(c, "Image");
    if image.is_empty() {
        image = "<no image>".into();
    } else if trunc {
        let image_id = str_of(c, "ImageID");
        if short_id(&image_id) == short_id(&image) {
            image = short_id(&image);
        } else if let Some((name, _)) = image.split_once('@') {
            image = name.to_string();
        }
    }
    let command = str_of(c, "Command");
    let command = if trunc {
        ellipsis(&command, 20)
    } else {
        command
    };
    let created = c.get("Created").and_then(Value::as_i64).unwrap_or(0);
    let size_rw = c.get("SizeRw").and_then(Value::as_i64).unwrap_or(0);
    let size_root = c.get("SizeRootFs").and_then(Value::as_i64).unwrap_or(0);
    let mut size = units::human_size_prec(size_rw as f64, 3);
    if size_root > 0 {
        size = format!(
            "{size} (virtual {})",
            units::human_size_prec(size_root as f64, 3)
        );
    }
    let labels = sorted_labels(c.get("Labels").unwrap_or(&Value::Null));
    let mounts: Vec<String> = c
        .get("Mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|m| {
            let name = str_of(m, "Name");
            let name = if name.is_empty() {
                str_of(m, "Source")
            } else {
                name
            };
            if trunc {
                ellipsis(&name, 15)
            } else {
                name
            }
        })
        .collect();
    let local_volumes = c
        .get("Mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| str_of(m, "Driver") == "local")
        .count();
    let networks: Vec<String> = c
        .pointer("/NetworkSettings/Networks")
        .and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    Row::new("*formatter.ContainerContext")
        .set("Command", format!("{command:?}"))
        .set("CreatedAt", units::go_time_string(created))
        .set("ID", if trunc { short_id(&id) } else { id.clone() })
        .set("Image", image)
        .set(
            "Labels",
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
        )
        .set("LocalVolumes", local_volumes.to_string())
        .set("Mounts", mounts.join(","))
        .set("Names", names.join(","))
        .set("Networks", networks.join(","))
        .set_val("Platform", Val::Nil)
        .set("Ports", ports(c.get("Ports").unwrap_or(&Value::Null)))
        .set("RunningFor", units::ago(created as f64))
        .set("Size", size)
        .set("State", str_of(c, "State"))
        .set("Status", str_of(c, "Status"))
        .labels(labels)
        .into_val()
}

fn ps_header() -> Val {
    header(&[
        ("ID", "CONTAINER ID"),
        ("Names", "NAMES"),
        ("Image", "IMAGE"),
        ("Command", "COMMAND"),
        ("CreatedAt", "CREATED AT"),
        ("RunningFor", "CREATED"),
        ("Ports", "PORTS"),
        ("State", "STATE"),
        ("Status", "STATUS"),
        ("Size", "SIZE"),
        ("Labels", "LABELS"),
        ("Mounts", "MOUNTS"),
        ("LocalVolumes", "LOCAL VOLUMES"),
        ("Networks", "NETWORKS"),
        ("Platform", "PLATFORM"),
    ])
}

pub fn ps(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let quiet = p.flag("quiet");
    let size = p.flag("size");
    let mut given = p.value("format");
    if given.is_none() {
        given = ctx
            .config
            .json
            .get("psFormat")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    let default = if size && !quiet {
        format!("{PS_TABLE}\t{{{{.Size}}}}")
    } else {
        PS_TABLE.to_string()
    };
    let fmt_src = given.clone().unwrap_or_default();
    let format = super::Format::new(&fmt_src, &default, quiet)
        .map_err(|e| Status::new(1, format!("failed to parse template: {e}")))?;
    let mut limit: i64 = match p.value("last") {
        Some(n) => n.parse().map_err(|_| {
            Status::new(
                125,
                format!("invalid argument \"{n}\" for \"-n, --last\" flag: strconv.ParseInt: parsing \"{n}\": invalid syntax\n\nUsage:  {}\n\nRun '{} --help' for more information", p.usage, p.path),
            )
        })?,
        None => -1,
    };
    if p.flag("latest") {
        limit = 1;
    }
    if given.is_some() && !quiet && !size {
        // The real CLI first runs the template on an empty container (to see whether
        // it uses .Size), so a template that fails on empty fields fails here.
        let empty = container_row(&serde_json::json!({}), true);
        format
            .render(&[empty], &ps_header())
            .map_err(|e| Status::new(1, format!("failed to execute template: {e}")))?;
    }
    // `json .` marshals every field, Size included, so it asks for sizes too.
    let want_size = size || fmt_src.contains(".Size") || fmt_src.contains("json .}}");
    let mut q = Query::new();
    if p.flag("all") || limit > 0 {
        q = q.add("all", "1");
    }
    if limit > 0 {
        q = q.add("limit", limit.to_string());
    }
    if want_size {
        q = q.add("size", "1");
    }
    if let Some(f) = filters_json(&p.values("filter"))? {
        q = q.add("filters", f);
    }
    let list = ctx.client.get("/containers/json", q)?;
    let trunc = !p.flag("no-trunc");
    let rows: Vec<Val> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| container_row(c, trunc))
        .collect();
    let out = format
        .render(&rows, &ps_header())
        .map_err(|e| Status::new(1, format!("failed to execute template: {e}")))?;
    print!("{out}");
    Ok(0)
}

pub fn stop_flags(c: Command) -> Command {
    let c = value_flag(c, "signal", Some('s'), "Signal to send to the container");
    value_flag(
        c,
        "timeout",
        Some('t'),
        "Seconds to wait before killing the container",
    )
}

fn stop_query(p: &Parsed) -> anyhow::Result<Query> {
    let mut q = Query::new();
    if let Some(s) = p.value("signal") {
        q = q.add("signal", s);
    }
    if let Some(t) = p.value("timeout") {
        let n: i64 = t.parse().map_err(|_| {
            Status::new(
                125,
                format!("invalid argument \"{t}\" for \"-t, --timeout\" flag: strconv.ParseInt: parsing \"{t}\": invalid syntax\n\nUsage:  {}\n\nRun '{} --help' for more information", p.usage, p.path),
            )
        })?;
        q = q.add("t", n.to_string());
    }
    Ok(q)
}

fn simple_post(
    ctx: &Ctx,
    p: &Parsed,
    action: &str,
    query: impl Fn() -> Query,
) -> anyhow::Result<i32> {
    for_each(&p.args, |name| {
        ctx.client.post(
            &format!("/containers/{}/{action}", crate::client::encode(name)),
            query(),
            None,
        )?;
        println!("{name}");
        Ok(())
    })
}

pub fn stop(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let q = stop_query(p)?;
    let rendered: Vec<(String, String)> = q_pairs(&q);
    simple_post(ctx, p, "stop", || rebuild(&rendered))
}

pub fn restart(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let q = stop_query(p)?;
    let rendered = q_pairs(&q);
    simple_post(ctx, p, "restart", || rebuild(&rendered))
}

fn q_pairs(q: &Query) -> Vec<(String, String)> {
    q.pairs().to_vec()
}

fn rebuild(pairs: &[(String, String)]) -> Query {
    pairs
        .iter()
        .fold(Query::new(), |q, (k, v)| q.add(k, v.clone()))
}

pub fn kill_flags(c: Command) -> Command {
    value_flag(c, "signal", Some('s'), "Signal to send to the container")
}

pub fn kill(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let signal = p.value("signal");
    simple_post(ctx, p, "kill", || match &signal {
        Some(s) => Query::new().add("signal", s.clone()),
        None => Query::new(),
    })
}

pub fn pause(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    simple_post(ctx, p, "pause", Query::new)
}

pub fn unpause(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    simple_post(ctx, p, "unpause", Query::new)
}

pub fn rm_flags(c: Command) -> Command {
    let c = bool_flag(
        c,
        "force",
        Some('f'),
        "Force the removal of a running container (uses SIGKILL)",
    );
    let c = bool_flag(c, "link", Some('l'), "Remove the specified link");
    bool_flag(
        c,
        "volumes",
        Some('v'),
        "Remove anonymous volumes associated with the container",
    )
}

pub fn rm(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let force = p.flag("force");
    let mut failed = Vec::new();
    for name in &p.args {
        let name = name.trim_start_matches('/');
        if name.is_empty() {
            failed.push("Container name cannot be empty".to_string());
            continue;
        }
        let q = Query::new()
            .flag("v", p.flag("volumes"))
            .flag("link", p.flag("link"))
            .flag("force", force);
        match ctx
            .client
            .delete(&format!("/containers/{}", crate::client::encode(name)), q)
        {
            Ok(_) => println!("{name}"),
            Err(e) if force && e.is_not_found() => eprintln!("{e}"),
            Err(e) => failed.push(e.to_string()),
        }
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        Err(Status::new(1, failed.join("\n")).into())
    }
}

pub fn wait(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    for_each(&p.args, |name| {
        let v = ctx.client.post(
            &format!("/containers/{}/wait", crate::client::encode(name)),
            Query::new(),
            None,
        )?;
        println!(
            "{}",
            v.get("StatusCode").and_then(Value::as_i64).unwrap_or(0)
        );
        Ok(())
    })
}

pub fn rename(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let old = p.args[0].trim();
    let new = p.args[1].trim().trim_start_matches('/');
    if old.is_empty() || new.is_empty() {
        return Err(Status::new(1, "Error: Neither old nor new names may be empty").into());
    }
    ctx.client
        .post(
            &format!("/containers/{}/rename", crate::client::encode(old)),
            Query::new().add("name", new),
            None,
        )
        .map_err(|e| {
            Status::new(
                1,
                format!("{e}\nError: failed to rename container named {old}"),
            )
        })?;
    Ok(0)
}

pub fn logs_flags(c: Command) -> Command {
    let c = bool_flag(c, "details", None, "Show extra details provided to logs");
    let c = bool_flag(c, "follow", Some('f'), "Follow log output");
    let c = value_flag(c, "since", None, "Show logs since timestamp or relative");
    let c = value_flag(
        c,
        "tail",
        Some('n'),
        "Number of lines to show from the end of the logs",
    );
    let c = bool_flag(c, "timestamps", Some('t'), "Show timestamps");
    value_flag(c, "until", None, "Show logs before a timestamp or relative")
}

/// `--since`/`--until` values: RFC 3339, unix seconds, or a relative duration.
fn timestamp_arg(v: &str) -> String {
    if let Some(t) = units::parse_rfc3339(v) {
        return format!("{}", t as i64);
    }
    if let Ok(d) = humantime::parse_duration(v) {
        return format!("{}", (units::now_secs() - d.as_secs_f64()) as i64);
    }
    v.to_string()
}

pub fn logs(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let name = &p.args[0];
    let info = ctx.client.get(
        &format!("/containers/{}/json", crate::client::encode(name)),
        Query::new(),
    )?;
    let tty = info
        .pointer("/Config/Tty")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut q = Query::new()
        .add("stdout", "1")
        .add("stderr", "1")
        .flag("follow", p.flag("follow"))
        .flag("timestamps", p.flag("timestamps"))
        .flag("details", p.flag("details"));
    if let Some(s) = p.value("since") {
        q = q.add("since", timestamp_arg(&s));
    }
    if let Some(u) = p.value("until") {
        q = q.add("until", timestamp_arg(&u));
    }
    q = q.add("tail", p.value("tail").unwrap_or_else(|| "all".into()));
    let body = ctx.client.stream(
        "GET",
        &format!("/containers/{}/logs", crate::client::encode(name)),
        q,
        Body::Empty,
    )?;
    let mut out = std::io::stdout();
    if tty {
        crate::streams::copy_raw(body, &mut out)?;
    } else {
        crate::streams::demux(body, &mut out, &mut std::io::stderr())?;
    }
    Ok(0)
}

pub fn top(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let mut q = Query::new();
    if p.args.len() > 1 {
        q = q.add("ps_args", p.args[1..].join(" "));
    }
    let v = ctx.client.get(
        &format!("/containers/{}/top", crate::client::encode(&p.args[0])),
        q,
    )?;
    let mut tw = TabWriter::new(20, 1);
    let titles: Vec<String> = v
        .get("Titles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| t.as_str().unwrap_or("").to_string())
        .collect();
    tw.write(&format!("{}\n", titles.join("\t")));
    for proc_ in v
        .get("Processes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let cells: Vec<String> = proc_
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c.as_str().unwrap_or("").to_string())
            .collect();
        tw.write(&format!("{}\n", cells.join("\t")));
    }
    print!("{}", tw.finish());
    Ok(0)
}

pub fn port(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let name = &p.args[0];
    let info = ctx.client.get(
        &format!("/containers/{}/json", crate::client::encode(name)),
        Query::new(),
    )?;
    let ports = info
        .pointer("/NetworkSettings/Ports")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut lines = Vec::new();
    if let Some(want) = p.args.get(1) {
        let key = if want.contains('/') {
            want.clone()
        } else {
            format!("{want}/tcp")
        };
        match ports.get(&key).and_then(Value::as_array) {
            Some(bindings) => {
                for b in bindings {
                    lines.push(format!("{}:{}", str_of(b, "HostIp"), str_of(b, "HostPort")));
                }
            }
            None => {
                return Err(Status::new(
                    1,
                    format!("Error: No public port '{want}' published for {name}"),
                )
                .into())
            }
        }
    } else {
        for (k, v) in &ports {
            for b in v.as_array().into_iter().flatten() {
                lines.push(format!(
                    "{k} -> {}:{}",
                    str_of(b, "HostIp"),
                    str_of(b, "HostPort")
                ));
            }
        }
    }
    for l in lines {
        println!("{l}");
    }
    Ok(0)
}

pub fn diff(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let v = ctx.client.get(
        &format!("/containers/{}/changes", crate::client::encode(&p.args[0])),
        Query::new(),
    )?;
    for c in v.as_array().into_iter().flatten() {
        let kind = match c.get("Kind").and_then(Value::as_i64) {
            Some(0) => "C",
            Some(1) => "A",
            Some(2) => "D",
            _ => "?",
        };
        println!("{kind} {}", str_of(c, "Path"));
    }
    Ok(0)
}

pub fn output_flags(c: Command) -> Command {
    value_flag(c, "output", Some('o'), "Write to a file, instead of STDOUT")
}

/// Streams a tar from the daemon to `--output` or stdout (refusing a terminal).
pub fn write_tar(
    reader: impl std::io::Read,
    output: Option<String>,
    what: &str,
) -> anyhow::Result<()> {
    let mut reader = reader;
    match output {
        Some(path) => {
            let tmp = format!("{path}.tmp-{}", std::process::id());
            let mut f = std::fs::File::create(&tmp)
                .map_err(|e| Status::new(1, format!("failed to export {what}: {e}")))?;
            let res = std::io::copy(&mut reader, &mut f);
            if let Err(e) = res {
                let _ = std::fs::remove_file(&tmp);
                return Err(Status::new(1, format!("failed to export {what}: {e}")).into());
            }
            std::fs::rename(&tmp, &path)?;
        }
        None => {
            // SAFETY: isatty on our own stdout.
            if unsafe { libc::isatty(1) } == 1 {
                return Err(Status::new(
                    1,
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect",
                )
                .into());
            }
            let mut out = std::io::stdout().lock();
            std::io::copy(&mut reader, &mut out)?;
            out.flush()?;
        }
    }
    Ok(())
}

pub fn export(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    // SAFETY: isatty on our own stdout.
    if p.value("output").is_none() && unsafe { libc::isatty(1) } == 1 {
        return Err(Status::new(
            1,
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        )
        .into());
    }
    let body = ctx.client.stream(
        "GET",
        &format!("/containers/{}/export", crate::client::encode(&p.args[0])),
        Query::new(),
        Body::Empty,
    )?;
    write_tar(body, p.value("output"), "container")?;
    Ok(0)
}

pub fn commit_flags(c: Command) -> Command {
    let c = value_flag(
        c,
        "author",
        Some('a'),
        "Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")",
    );
    let c = list_flag(
        c,
        "change",
        Some('c'),
        "Apply Dockerfile instruction to the created image",
    );
    let c = value_flag(c, "message", Some('m'), "Commit message");
    bool_flag(c, "pause", Some('p'), "Pause container during commit")
}

pub fn commit(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let mut q = Query::new().add("container", p.args[0].clone());
    if let Some(r) = p.args.get(1) {
        let (repo, tag) = super::image::split_ref(r);
        q = q.add("repo", repo);
        if let Some(t) = tag {
            q = q.add("tag", t);
        }
    }
    if let Some(m) = p.value("message") {
        q = q.add("comment", m);
    }
    if let Some(a) = p.value("author") {
        q = q.add("author", a);
    }
    for c in p.values("change") {
        q = q.add("changes", c);
    }
    // `--pause` defaults to true; `--pause=false` commits a running container as is.
    let pause = !p.given("pause") || p.flag("pause");
    q = q.add("pause", if pause { "1" } else { "0" });
    let v = ctx
        .client
        .post("/commit", q, Some(&serde_json::json!({})))?;
    println!("{}", str_of(&v, "Id"));
    Ok(0)
}

pub fn prune(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    if !super::resources::confirm(
        p,
        "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
    )? {
        return Ok(0);
    }
    let space = super::resources::prune_and_report(
        ctx,
        "/containers/prune",
        Query::new(),
        &p.values("filter"),
        "ContainersDeleted",
        "Containers",
    )?;
    super::resources::print_reclaimed(space);
    Ok(0)
}

pub fn update_flags(c: Command) -> Command {
    crate::cmdline::flags_from_help(c, "update")
}

pub fn update(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    // The same resource flags as `create`, sent only when given.
    let mut body = super::create_opts::resources(p)?;
    if let Some(policy) = super::create_opts::restart_policy(p)? {
        body.insert("RestartPolicy".into(), policy);
    }
    if body.is_empty() {
        return Err(Status::new(
            1,
            "you must provide one or more flags when using this command",
        )
        .into());
    }
    let body = Value::Object(body);
    let mut failed = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    for name in &p.args {
        match ctx.client.post(
            &format!("/containers/{}/update", crate::client::encode(name)),
            Query::new(),
            Some(&body),
        ) {
            Ok(v) => {
                println!("{name}");
                warnings.extend(
                    v.get("Warnings")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_string),
                );
            }
            Err(e) => failed.push(e.to_string()),
        }
    }
    // The daemon's warnings go to stdout after the names, as the real CLI prints them.
    if !warnings.is_empty() {
        println!("{}", warnings.join("\n"));
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        Err(Status::new(1, failed.join("\n")).into())
    }
}
