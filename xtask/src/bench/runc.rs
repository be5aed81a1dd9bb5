//! `cargo xtask bench runc`: our runc against Debian's, on one busybox bundle, in one run.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{bail, Context, Result};

use super::{size_mb, Report, Target, Unit};
use crate::{build, host, step};

const REFERENCE: &str = "/usr/sbin/runc";

pub fn run(report: &mut Report) -> Result<()> {
    host::ensure(&[
        host::Tool {
            program: REFERENCE,
            package: "runc",
            why: "the reference runtime",
        },
        host::Tool {
            program: "busybox",
            package: "busybox-static",
            why: "the bundle's rootfs",
        },
    ])?;
    anyhow::ensure!(
        host::is_root(),
        "bench runc creates containers: run it as root"
    );
    let ours = ours()?;
    let work = tempfile::Builder::new().prefix("bench-runc-").tempdir()?;
    let bundle = work.path().join("bundle");
    make_bundle(&bundle)?;
    let state_ours = work.path().join("state-ours");
    let state_ref = work.path().join("state-ref");
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
    let static_runc = build::build_static(&["runc"])?.join("runc");
    report.add(
        "runc static binary size (stripped)",
        Unit::Megabytes,
        size_mb(&static_runc)?,
        Some(size_mb(Path::new(REFERENCE))?),
        Target::Below(6.0),
    );
    Ok(())
}

/// Our runc, release-built on the host.
fn ours() -> Result<PathBuf> {
    step("cargo build --release -p runc");
    duct::cmd!("cargo", "build", "--release", "--locked", "-p", "runc")
        .dir(crate::project::root())
        .run()
        .context("building our runc failed (errors above)")?;
    Ok(build::target_dir()?.join("release/runc"))
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

fn runc(bin: &Path, state: &Path, bundle: &Path, args: &[&str]) -> Result<()> {
    let out = duct::cmd(
        bin,
        ["--root".as_ref(), state.as_os_str()]
            .into_iter()
            .chain(args.iter().map(|a| a.as_ref())),
    )
    .dir(bundle)
    .stdin_null()
    .stdout_capture()
    .stderr_capture()
    .unchecked()
    .run()?;
    if !out.status.success() {
        bail!(
            "{} {} failed: {}",
            bin.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
