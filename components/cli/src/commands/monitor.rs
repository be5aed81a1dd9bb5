//! Watching the daemon: `events` (`system events`) and `stats`.

use std::io::BufReader;

use clap::Command;
use serde_json::Value;

use super::{filters_json, list_format, render_list, short_id};
use crate::client::{encode, Query};
use crate::cmdline::{bool_flag, list_flag, value_flag, Parsed};
use crate::format::row::Row;
use crate::format::{header, units, Format};
use crate::template::Val;
use crate::transport::Body;
use crate::{Ctx, Status};

pub fn events_flags(c: Command) -> Command {
    let c = list_flag(
        c,
        "filter",
        Some('f'),
        "Filter output based on conditions provided",
    );
    let c = value_flag(c, "format", None, "Format output using a custom template");
    let c = value_flag(c, "since", None, "Show all events created since timestamp");
    value_flag(c, "until", None, "Stream events until this timestamp")
}

/// Go's `time.RFC3339Nano` of a UTC time in nanoseconds (trailing zeros trimmed).
fn rfc3339_nano(nanos: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos.max(0) as u64);
    // humantime always writes nine digits: Go trims trailing zeros (and the dot).
    let full = humantime::format_rfc3339_nanos(t).to_string();
    let (head, frac) = full
        .trim_end_matches('Z')
        .split_once('.')
        .unwrap_or((&full, ""));
    match frac.trim_end_matches('0') {
        "" => format!("{head}Z"),
        f => format!("{head}.{f}Z"),
    }
}

/// `--since`/`--until` as docker sends them: unix seconds (with nanoseconds), from a
/// timestamp, a unix time or a duration before now.
pub fn timestamp_arg(v: &str) -> String {
    if let Some(t) = units::parse_rfc3339(v) {
        return format!("{:.9}", t);
    }
    if let Ok(d) = humantime::parse_duration(v) {
        return format!("{:.9}", units::now_secs() - d.as_secs_f64());
    }
    if v.ends_with('s') || v.ends_with('m') || v.ends_with('h') {
        if let Ok(n) = v[..v.len() - 1].parse::<f64>() {
            let mult = match v.as_bytes()[v.len() - 1] {
                b's' => 1.0,
                b'm' => 60.0,
                _ => 3600.0,
            };
            return format!("{:.9}", units::now_secs() - n * mult);
        }
    }
    v.to_string()
}

pub fn events(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let template = match p.value("format").filter(|f| !f.is_empty()) {
        Some(f) => Some(
            Format::new(&f, "", false)
                .map_err(|e| Status::new(64, format!("Error parsing format: {e}")))?,
        ),
        None => None,
    };
    let mut q = Query::new();
    if let Some(s) = p.value("since") {
        q = q.add("since", timestamp_arg(&s));
    }
    if let Some(u) = p.value("until") {
        q = q.add("until", timestamp_arg(&u));
    }
    if let Some(f) = filters_json(&p.values("filter"))? {
        q = q.add("filters", f);
    }
    let body = ctx.client.stream("GET", "/events", q, Body::Empty)?;
    let stream = serde_json::Deserializer::from_reader(BufReader::new(body)).into_iter::<Value>();
    for msg in stream {
        let Ok(msg) = msg else { break };
        match &template {
            Some(t) => {
                let out = t
                    .render(&[Val::from_json(&msg)], &Val::Nil)
                    .map_err(|e| Status::new(1, e))?;
                print!("{out}");
            }
            None => {
                let nanos = msg
                    .get("timeNano")
                    .and_then(Value::as_i64)
                    .unwrap_or_else(|| {
                        msg.get("time").and_then(Value::as_i64).unwrap_or(0) * 1_000_000_000
                    });
                let typ = msg.get("Type").and_then(Value::as_str).unwrap_or("");
                let action = msg.get("Action").and_then(Value::as_str).unwrap_or("");
                let id = msg
                    .pointer("/Actor/ID")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let mut attrs: Vec<String> = msg
                    .pointer("/Actor/Attributes")
                    .and_then(Value::as_object)
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                            .collect()
                    })
                    .unwrap_or_default();
                attrs.sort();
                let mut line = format!("{} {typ} {action} {id}", rfc3339_nano(nanos));
                if !attrs.is_empty() {
                    line.push_str(&format!(" ({})", attrs.join(", ")));
                }
                println!("{line}");
            }
        }
    }
    Ok(0)
}

pub fn stats_flags(c: Command) -> Command {
    let c = bool_flag(
        c,
        "all",
        Some('a'),
        "Show all containers (default shows just running)",
    );
    let c = value_flag(c, "format", None, "Format output using a custom template");
    let c = bool_flag(
        c,
        "no-stream",
        None,
        "Disable streaming stats and only pull the first result",
    );
    bool_flag(c, "no-trunc", None, "Do not truncate output")
}

const STATS_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

fn f(v: &Value, ptr: &str) -> f64 {
    v.pointer(ptr).and_then(Value::as_f64).unwrap_or(0.0)
}

fn stats_row(container: &str, s: &Value, trunc: bool) -> Val {
    let cpu_delta =
        f(s, "/cpu_stats/cpu_usage/total_usage") - f(s, "/precpu_stats/cpu_usage/total_usage");
    let sys_delta = f(s, "/cpu_stats/system_cpu_usage") - f(s, "/precpu_stats/system_cpu_usage");
    let mut online = f(s, "/cpu_stats/online_cpus");
    if online == 0.0 {
        online = s
            .pointer("/cpu_stats/cpu_usage/percpu_usage")
            .and_then(Value::as_array)
            .map(|a| a.len() as f64)
            .unwrap_or(0.0);
    }
    let cpu = if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    };
    let usage = f(s, "/memory_stats/usage");
    let inactive = s
        .pointer("/memory_stats/stats/total_inactive_file")
        .or_else(|| s.pointer("/memory_stats/stats/inactive_file"))
        .and_then(Value::as_f64);
    let mem = match inactive {
        Some(i) if i < usage => usage - i,
        _ => usage,
    };
    let limit = f(s, "/memory_stats/limit");
    let mem_pct = if limit != 0.0 {
        mem / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    for n in s
        .get("networks")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(_, v)| v)
    {
        rx += f(n, "/rx_bytes");
        tx += f(n, "/tx_bytes");
    }
    let (mut br, mut bw) = (0.0, 0.0);
    for e in s
        .pointer("/blkio_stats/io_service_bytes_recursive")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let op = e.get("op").and_then(Value::as_str).unwrap_or("");
        match op.chars().next() {
            Some('r' | 'R') => br += f(e, "/value"),
            Some('w' | 'W') => bw += f(e, "/value"),
            _ => {}
        }
    }
    let name = s.get("name").and_then(Value::as_str).unwrap_or("");
    let id = s.get("id").and_then(Value::as_str).unwrap_or("");
    Row::new("*container.statsContext")
        .set(
            "BlockIO",
            format!(
                "{} / {}",
                units::human_size_prec(br, 3),
                units::human_size_prec(bw, 3)
            ),
        )
        .set("CPUPerc", format!("{cpu:.2}%"))
        .set("Container", container)
        .set("ID", if trunc { short_id(id) } else { id.to_string() })
        .set("MemPerc", format!("{mem_pct:.2}%"))
        .set(
            "MemUsage",
            format!("{} / {}", units::bytes_size(mem), units::bytes_size(limit)),
        )
        .set(
            "Name",
            if name.len() > 1 {
                name[1..].to_string()
            } else {
                "--".into()
            },
        )
        .set(
            "NetIO",
            format!(
                "{} / {}",
                units::human_size_prec(rx, 3),
                units::human_size_prec(tx, 3)
            ),
        )
        .set("PIDs", format!("{}", f(s, "/pids_stats/current") as u64))
        .into_val()
}

pub fn stats(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let format = list_format(p.value("format"), STATS_TABLE, false)?;
    let mut names = p.args.clone();
    if names.is_empty() {
        let list = ctx
            .client
            .get("/containers/json", Query::new().flag("all", p.flag("all")))?;
        names = list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("Id").and_then(Value::as_str).map(str::to_string))
            .collect();
    }
    let trunc = !p.flag("no-trunc");
    let stream = !p.flag("no-stream");
    let hdr = header(&[
        ("Container", "CONTAINER"),
        ("ID", "CONTAINER ID"),
        ("Name", "NAME"),
        ("CPUPerc", "CPU %"),
        ("MemUsage", "MEM USAGE / LIMIT"),
        ("MemPerc", "MEM %"),
        ("NetIO", "NET I/O"),
        ("BlockIO", "BLOCK I/O"),
        ("PIDs", "PIDS"),
    ]);
    loop {
        let mut rows = Vec::new();
        let mut errors = Vec::new();
        for n in &names {
            match ctx.client.get(
                &format!("/containers/{}/stats", encode(n)),
                Query::new().add("stream", "0"),
            ) {
                Ok(s) => rows.push(stats_row(n, &s, trunc)),
                Err(e) => errors.push(e.to_string()),
            }
        }
        if !errors.is_empty() {
            return Err(Status::new(1, errors.join("\n")).into());
        }
        if stream {
            // Clear the screen and redraw, as the real CLI does on a terminal.
            print!("\x1b[2J\x1b[H");
        }
        render_list(&format, &rows, &hdr)?;
        if !stream {
            return Ok(0);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_times_trim_trailing_zeros_as_go_does() {
        assert_eq!(
            super::rfc3339_nano(1_704_164_645_120_000_000),
            "2024-01-02T03:04:05.12Z"
        );
        assert_eq!(
            super::rfc3339_nano(1_704_164_645_000_000_000),
            "2024-01-02T03:04:05Z"
        );
    }
}
