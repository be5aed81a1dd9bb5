//! `cargo xtask bench <component>`: our components side by side with the reference ones
//! from Debian, in one run, reported as ratios (ours / reference; below 1 is faster or
//! smaller). Timings live here and never in tests.
//!
//! Each component's benchmark is a module of this directory with a
//! `fn run(&mut Report) -> Result<()>` that adds rows; this module owns the measuring
//! (alternating runs, medians), the table and the JSON output.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::not_yet;

mod cli;
mod containerd;
mod engine;
mod registry;
mod runc;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which component to benchmark
    #[arg(value_parser = ["runc", "containerd", "cli", "engine", "registry"])]
    component: String,
    /// Timed runs of each side (after one warm-up run each)
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Output format: `table` for people, `json` for scripts
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
}

/// `packages` of this workspace release-built on the host (what `cargo build --release`
/// gives a developer); returns the directory holding their binaries.
fn release_build(packages: &[&str]) -> Result<std::path::PathBuf> {
    let mut args = vec!["build", "--release", "--locked"];
    for p in packages {
        args.extend(["-p", p]);
    }
    crate::step(format_args!("cargo {}", args.join(" ")));
    duct::cmd("cargo", &args)
        .dir(crate::project::root())
        .run()
        .with_context(|| format!("building {} failed (errors above)", packages.join(", ")))?;
    Ok(crate::build::target_dir()?.join("release"))
}

pub fn run(args: Args) -> Result<()> {
    let mut report = Report {
        runs: args.runs.max(1),
        rows: Vec::new(),
    };
    match args.component.as_str() {
        "runc" => runc::run(&mut report)?,
        "containerd" => containerd::run(&mut report)?,
        "cli" => cli::run(&mut report)?,
        "registry" => registry::run(&mut report)?,
        "engine" => engine::run(&mut report)?,
        other => {
            let what = format!("the {other} benchmark");
            return Err(not_yet(&format!("bench {other}"), &what, 11));
        }
    }
    report.print(&args.format)
}

/// The rows of one benchmark run.
#[derive(Debug, Serialize)]
pub struct Report {
    pub runs: usize,
    pub rows: Vec<Row>,
}

/// One comparison: a latency, a memory figure or a size, ours against the reference.
#[derive(Debug, Serialize)]
pub struct Row {
    pub name: String,
    pub unit: Unit,
    pub ours: f64,
    /// None when there is no reference figure (e.g. a size with only a target).
    pub reference: Option<f64>,
    /// ours / reference.
    pub ratio: Option<f64>,
    /// The target, as text (`<= 0.5x`, `< 6 MB`).
    pub target: String,
    pub met: bool,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Milliseconds,
    Megabytes,
}

/// What the ratio (or absolute figure) must stay within.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// ours / reference at most this.
    RatioAtMost(f64),
    /// ours / reference at least this (speed-ups stated as "1.5x faster").
    SpeedupAtLeast(f64),
    /// an absolute upper bound in the row's unit.
    Below(f64),
}

impl Report {
    /// Time `ours` and `reference` in alternating runs (so drift and noise hit both
    /// alike) and add a row with the medians.
    pub fn latency(
        &mut self,
        name: &str,
        target: Target,
        mut ours: impl FnMut() -> Result<()>,
        mut reference: impl FnMut() -> Result<()>,
    ) -> Result<()> {
        ours().with_context(|| format!("{name}: warm-up of ours failed"))?;
        reference().with_context(|| format!("{name}: warm-up of the reference failed"))?;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..self.runs {
            a.push(timed(&mut ours).with_context(|| format!("{name}: ours failed"))?);
            b.push(timed(&mut reference).with_context(|| format!("{name}: the reference failed"))?);
        }
        self.add(
            name,
            Unit::Milliseconds,
            median_ms(&mut a),
            Some(median_ms(&mut b)),
            target,
        );
        Ok(())
    }

    /// Add a row measured by the caller (memory, sizes).
    pub fn add(
        &mut self,
        name: &str,
        unit: Unit,
        ours: f64,
        reference: Option<f64>,
        target: Target,
    ) {
        let ratio = reference.filter(|r| *r > 0.0).map(|r| ours / r);
        let (target_text, met) = match target {
            Target::RatioAtMost(x) => (format!("<= {x}x"), ratio.is_some_and(|r| r <= x)),
            Target::SpeedupAtLeast(x) => (
                format!(">= {x}x faster"),
                ratio.is_some_and(|r| r > 0.0 && 1.0 / r >= x),
            ),
            Target::Below(x) => (format!("< {x} {}", unit.short()), ours < x),
        };
        self.rows.push(Row {
            name: name.to_owned(),
            unit,
            ours,
            reference,
            ratio,
            target: target_text,
            met,
        });
    }

    pub fn print(&self, format: &str) -> Result<()> {
        if format == "json" {
            println!("{}", serde_json::to_string_pretty(self)?);
            return Ok(());
        }
        println!(
            "{:<44} {:>12} {:>12} {:>8}  {:<14} met",
            "benchmark", "ours", "reference", "ratio", "target"
        );
        for r in &self.rows {
            let reference = r
                .reference
                .map(|v| r.unit.show(v))
                .unwrap_or_else(|| "-".into());
            let ratio = r
                .ratio
                .map(|v| format!("{v:.2}x"))
                .unwrap_or_else(|| "-".into());
            println!(
                "{:<44} {:>12} {:>12} {:>8}  {:<14} {}",
                r.name,
                r.unit.show(r.ours),
                reference,
                ratio,
                r.target,
                if r.met { "yes" } else { "no" }
            );
        }
        println!("({} timed runs per side, medians)", self.runs);
        Ok(())
    }
}

impl Unit {
    fn short(self) -> &'static str {
        match self {
            Unit::Milliseconds => "ms",
            Unit::Megabytes => "MB",
        }
    }

    fn show(self, v: f64) -> String {
        format!("{v:.1} {}", self.short())
    }
}

fn timed(f: &mut impl FnMut() -> Result<()>) -> Result<Duration> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed())
}

fn median_ms(samples: &mut [Duration]) -> f64 {
    samples.sort_unstable();
    let n = samples.len();
    let mid = if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2
    };
    mid.as_secs_f64() * 1000.0
}

/// Resident memory of a process in MB (VmRSS from /proc/<pid>/status).
pub fn rss_mb(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("process {pid} is gone"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no VmRSS for process {pid}"))?;
    Ok(kb / 1024.0)
}

/// Size of a file in MB (10^6 bytes, as the targets are stated).
pub fn size_mb(path: &std::path::Path) -> Result<f64> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("{} is missing", path.display()))?
        .len();
    Ok(len as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_samples() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        assert_eq!(median_ms(&mut ms(&[5, 1, 3])), 3.0);
        assert_eq!(median_ms(&mut ms(&[4, 1, 3, 2])), 2.5);
    }

    #[test]
    fn targets_are_judged_on_the_ratio_or_the_figure() {
        let mut r = Report {
            runs: 1,
            rows: Vec::new(),
        };
        r.add(
            "fast",
            Unit::Milliseconds,
            4.0,
            Some(10.0),
            Target::RatioAtMost(0.5),
        );
        r.add(
            "slow",
            Unit::Milliseconds,
            6.0,
            Some(10.0),
            Target::RatioAtMost(0.5),
        );
        r.add(
            "pull",
            Unit::Milliseconds,
            5.0,
            Some(10.0),
            Target::SpeedupAtLeast(1.5),
        );
        r.add("size", Unit::Megabytes, 7.0, None, Target::Below(6.0));
        let met: Vec<bool> = r.rows.iter().map(|x| x.met).collect();
        assert_eq!(met, [true, false, true, false]);
        assert_eq!(r.rows[0].ratio, Some(0.4));
    }

    #[test]
    fn rss_of_this_process_is_positive() {
        assert!(rss_mb(std::process::id()).unwrap() > 0.0);
    }
}
