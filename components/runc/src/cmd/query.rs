//! Read-only verbs: `state`, `list`, `ps`, `events`, with runc 1.1's output formats.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cgroups::Manager;
use crate::state::{self, Container, Status};

pub fn state(root: &Path, id: &str) -> Result<i32> {
    let c = super::load(root, id)?;
    println!("{}", serde_json::to_string_pretty(&c.oci_state())?);
    Ok(0)
}

/// Go's text/tabwriter as runc configures it (minwidth 12, padding 3).
fn tabulate(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            if i + 1 < r.len() {
                widths[i] = widths[i].max((cell.chars().count() + 3).max(12));
            }
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            if i + 1 < r.len() {
                out.push_str(&format!("{cell:<w$}", w = widths[i]));
            } else {
                out.push_str(cell);
            }
        }
        out.push('\n');
    }
    out
}

pub fn list(root: &Path, format: &str, quiet: bool) -> Result<i32> {
    let containers: Vec<Container> = state::list_ids(root)
        .iter()
        .filter_map(|id| Container::load(root, id).ok())
        .collect();
    if quiet {
        for c in &containers {
            println!("{}", c.id());
        }
        return Ok(0);
    }
    match format {
        "table" => {
            let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()];
            for c in &containers {
                let s = c.oci_state();
                rows.push(vec![
                    c.id().to_string(),
                    s["pid"].to_string(),
                    s["status"].as_str().unwrap_or("").to_string(),
                    c.saved.bundle.display().to_string(),
                    c.saved.created.clone(),
                    c.saved.owner.clone(),
                ]);
            }
            print!("{}", tabulate(&rows));
        }
        "json" => {
            if containers.is_empty() {
                // Go encodes an empty (nil) slice as null, and runc prints that.
                println!("null");
            } else {
                let v: Vec<serde_json::Value> =
                    containers.iter().map(Container::oci_state).collect();
                println!("{}", serde_json::to_string(&v)?);
            }
        }
        other => bail!("invalid format option {other:?}"),
    }
    Ok(0)
}

pub fn ps(root: &Path, id: &str, format: &str, ps_args: &[String]) -> Result<i32> {
    let c = super::load(root, id)?;
    let pids = Manager::from_saved(&c.saved).pids();
    match format {
        "json" => {
            println!("{}", serde_json::to_string(&pids)?);
            Ok(0)
        }
        "table" => {
            let args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .context("exec ps")?;
            if !out.status.success() {
                bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or("");
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .context("couldn't find PID field in ps output")?;
            println!("{header}");
            for l in lines {
                let pid: Option<i32> = l.split_whitespace().nth(col).and_then(|p| p.parse().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    println!("{l}");
                }
            }
            Ok(0)
        }
        other => bail!("invalid format option {other:?}"),
    }
}

fn stats_event(c: &Container) -> serde_json::Value {
    let stats = Manager::from_saved(&c.saved).stats();
    serde_json::json!({"type": "stats", "id": c.id(), "data": stats})
}

fn parse_interval(s: &str) -> Result<Duration> {
    humantime::parse_duration(s).with_context(|| format!("invalid interval {s:?}"))
}

pub fn events(root: &Path, id: &str, interval: &str, stats_once: bool) -> Result<i32> {
    let c = super::load(root, id)?;
    if c.status() == Status::Stopped {
        bail!("container with id {id} is not running");
    }
    if stats_once {
        println!("{}", serde_json::to_string(&stats_event(&c))?);
        return Ok(0);
    }
    let every = parse_interval(interval)?;
    if every.is_zero() {
        bail!("duration interval must be greater than 0");
    }
    let mem = c.saved.cgroup_paths.get("memory").cloned();
    let mut last_oom = mem.as_ref().and_then(|d| oom_kills(d)).unwrap_or(0);
    loop {
        if c.status() == Status::Stopped {
            return Ok(0);
        }
        if let Some(n) = mem.as_ref().and_then(|d| oom_kills(d)) {
            if n > last_oom {
                last_oom = n;
                println!("{}", serde_json::json!({"type": "oom", "id": id}));
            }
        }
        println!("{}", serde_json::to_string(&stats_event(&c))?);
        std::thread::sleep(every);
    }
}

fn oom_kills(dir: &Path) -> Option<u64> {
    let s = std::fs::read_to_string(dir.join("memory.oom_control")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_like_go_tabwriter() {
        let rows = vec![
            vec!["ID".to_string(), "PID".into(), "OWNER".into()],
            vec!["a-long-container".to_string(), "1".into(), "root".into()],
        ];
        assert_eq!(
            tabulate(&rows),
            format!(
                "{:<19}{:<12}OWNER\n{:<19}{:<12}root\n",
                "ID", "PID", "a-long-container", "1"
            )
        );
    }
}
