//! `cargo xtask bench runc`: our runc against Debian's, on one busybox bundle, in one run.
//!
//! Ours is the stripped static `dist` build (what ships), built here unless
//! `BENCH_RUNC_OURS=<path>` names another build to time (an older one, for a
//! before/after comparison).

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{bail, Context, Result};

use super::{size_mb, Report, Target, Unit};
use crate::{build, host};

const REFERENCE: &str = host::RUNC.program;

pub fn run(report: &mut Report) -> Result<()> {
    host::ensure(&[host::RUNC, host::BUSYBOX])?;
    anyhow::ensure!(
        host::is_root(),
        "bench runc creates containers: run it as root"
    );
    let ours = match std::env::var_os("BENCH_RUNC_OURS") {
        Some(p) => std::path::PathBuf::from(p),
        None => build::build_static(&["runc"])?.join("runc"),
    };
    let work = tempfile::Builder::new().prefix("bench-runc-").tempdir()?;
    let bundle = work.path().join("bundle");
    make_bundle(&bundle)?;
    let _cleanup = Cleanup {
        runs: vec![
            (ours.clone(), state_dir(&work, "ours")),
            (REFERENCE.into(), state_dir(&work, "ref")),
        ],
    };
    let state_ours = state_dir(&work, "ours");
    let state_ref = state_dir(&work, "ref");
    let counter = AtomicU32::new(0);
    let id = || {
        format!(
            "bench-{}-{}",
            std::process::id(),
            counter.fetch_add(1, Ordering::Relaxed)
        )
    };

    report.latency(
        "runc run (true)",
        Target::RatioAtMost(0.5),
        || runc(&ours, &state_ours, &bundle, &["run", &id()]),
        || runc(Path::new(REFERENCE), &state_ref, &bundle, &["run", &id()]),
    )?;
    let lifecycle = |bin: &Path, state: &Path| -> Result<()> {
        let id = id();
        runc(bin, state, &bundle, &["create", &id])?;
        runc(bin, state, &bundle, &["start", &id])?;
        // `true` exits at once; delete --force also covers a slow exit.
        runc(bin, state, &bundle, &["delete", "--force", &id])
    };
    report.latency(
        "runc create + start + delete",
        Target::RatioAtMost(0.5),
        || lifecycle(&ours, &state_ours),
        || lifecycle(Path::new(REFERENCE), &state_ref),
    )?;
    report.add(
        "runc static binary size (stripped)",
        Unit::Megabytes,
        size_mb(&ours)?,
        Some(size_mb(Path::new(REFERENCE))?),
        Target::Below(6.0),
    );
    Ok(())
}

fn state_dir(work: &tempfile::TempDir, who: &str) -> std::path::PathBuf {
    work.path().join(format!("state-{who}"))
}

/// Containers a failed run left behind are deleted (their cgroups and inits too)
/// before the temporary directory goes.
struct Cleanup {
    runs: Vec<(std::path::PathBuf, std::path::PathBuf)>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for (bin, state) in &self.runs {
            for e in std::fs::read_dir(state).into_iter().flatten().flatten() {
                let id = e.file_name();
                let _ = duct::cmd!(bin, "--root", state, "delete", "--force", id)
                    .stdout_null()
                    .stderr_null()
                    .unchecked()
                    .run();
            }
        }
    }
}

/// A bundle whose process is `true`, from `runc spec` of the reference runtime.
fn make_bundle(bundle: &Path) -> Result<()> {
    let rootfs = bundle.join("rootfs");
    std::fs::create_dir_all(&rootfs)?;
    testbed::busybox_rootfs(&rootfs);
    duct::cmd!(REFERENCE, "spec", "--bundle", bundle)
        .run()
        .context("runc spec failed")?;
    let path = bundle.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    config["process"]["terminal"] = false.into();
    config["process"]["args"] = serde_json::json!(["/bin/true"]);
    std::fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
    Ok(())
}

/// One runtime call. Its output goes to a file, not a pipe: after `create` the
/// container's init holds the same stdout and stderr until it exits, so a pipe
/// would never reach end-of-file.
fn runc(bin: &Path, state: &Path, bundle: &Path, args: &[&str]) -> Result<()> {
    let log = state.with_extension("out");
    let out = duct::cmd(
        bin,
        ["--root".as_ref(), state.as_os_str()]
            .into_iter()
            .chain(args.iter().map(|a| a.as_ref())),
    )
    .dir(bundle)
    .stdin_null()
    .stderr_to_stdout()
    .stdout_path(&log)
    .unchecked()
    .run()?;
    if !out.status.success() {
        bail!(
            "{} {} failed: {}",
            bin.display(),
            args.join(" "),
            std::fs::read_to_string(&log).unwrap_or_default().trim()
        );
    }
    Ok(())
}
