//! `cargo xtask bench cli`: our `docker` against the real docker CLI 28, both talking
//! to one private Debian dockerd, in one run; plus the size of the binary we ship.
//!
//! The binary timed is the one measured: the stripped static build that `xtask static`
//! packs (built here with the same flags if it is missing or stale), so the latency
//! rows and the size row describe the same file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use testbed::{DockerdOptions, RefDockerd};

use super::{size_mb, Report, Target, Unit};
use crate::{build, host, step};

/// The real CLI (docker-ce-cli 28), first on PATH on the machine image.
const REAL_CLI: &str = "/usr/local/bin/docker";

pub fn run(report: &mut Report) -> Result<()> {
    host::require(&[
        host::Tool {
            program: REAL_CLI,
            package: "docker-ce-cli",
            why: "the reference CLI",
        },
        host::DOCKERD,
        host::BUSYBOX,
    ])?;
    anyhow::ensure!(
        host::is_root(),
        "bench cli starts a private dockerd: run it as root"
    );
    let ours = build::build_static(&["cli"])?.join("docker");
    anyhow::ensure!(ours.exists(), "{} was not built", ours.display());
    step(format_args!("measuring {}", ours.display()));

    let daemon = RefDockerd::start(DockerdOptions::default());
    daemon.import_busybox("busybox:latest");
    let config = daemon.dir.path().join("bench-cli-config");
    std::fs::create_dir_all(&config)?;
    // One running container so `ps` and `inspect` have a row and an object to show.
    let setup = daemon.cli(
        REAL_CLI,
        &[
            "run",
            "-d",
            "--name",
            "bench-cli",
            "--network",
            "none",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    if !setup.status.success() {
        bail!(
            "starting the benchmark container failed: {}",
            String::from_utf8_lossy(&setup.stderr).trim()
        );
    }
    let real = PathBuf::from(REAL_CLI);
    let host = daemon.host();
    for args in [
        &["version"][..],
        &["ps"][..],
        &["images"][..],
        &["inspect", "bench-cli"][..],
    ] {
        report.latency(
            &format!("docker {}", args.join(" ")),
            Target::RatioAtMost(0.5),
            || invoke(&ours, &host, &config, args),
            || invoke(&real, &host, &config, args),
        )?;
    }
    daemon.cli(REAL_CLI, &["rm", "-f", "bench-cli"]);

    report.add(
        "docker binary size (stripped, static)",
        Unit::Megabytes,
        size_mb(&ours)?,
        Some(size_mb(Path::new(REAL_CLI))?),
        Target::Below(10.0),
    );
    Ok(())
}

/// One CLI invocation, output discarded; a failure is an error (a benchmark of an
/// error path would measure the wrong thing).
fn invoke(cli: &Path, host: &str, config: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new(cli)
        .env("DOCKER_HOST", host)
        .env("DOCKER_CONFIG", config)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_API_VERSION")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot run {}", cli.display()))?;
    if !out.status.success() {
        bail!(
            "{} {} failed: {}",
            cli.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
