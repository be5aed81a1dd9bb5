//! `cargo xtask bench containerd`: our containerd + shim + runc against Debian's
//! containerd 1.6 + shim + runc, driven by the same client (Debian's `ctr`), in one run.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{bail, Context, Result};
use testbed::oci::BUSYBOX_IMAGE;
use testbed::Containerd;

use super::{rss_mb, Report, Target, Unit};
use crate::{build, host, step};

pub fn run(report: &mut Report) -> Result<()> {
    host::ensure(&[
        host::Tool {
            program: "/usr/bin/containerd",
            package: "containerd",
            why: "the reference",
        },
        host::Tool {
            program: "/usr/sbin/runc",
            package: "runc",
            why: "the reference runtime",
        },
        host::Tool {
            program: "busybox",
            package: "busybox-static",
            why: "the image's rootfs",
        },
    ])?;
    anyhow::ensure!(
        host::is_root(),
        "bench containerd runs containers: run it as root"
    );
    testbed::subreaper();
    let bin = ours()?;
    // Our shim and our runc first on our containerd's PATH (shims and runtimes are
    // looked up there); Debian's containerd finds Debian's.
    let path_dir = tempfile::Builder::new()
        .prefix("bench-ctrd-path-")
        .tempdir()?;
    for name in ["containerd-shim-runc-v2", "runc"] {
        std::os::unix::fs::symlink(bin.join(name), path_dir.path().join(name))?;
    }
    let ours = Containerd::start_with(bin.join("containerd"), Some(path_dir.path().to_path_buf()));
    let reference = Containerd::start_with(PathBuf::from("/usr/bin/containerd"), None);
    for d in [&ours, &reference] {
        d.import_busybox();
    }
    let counter = AtomicU32::new(0);
    let run_true = |d: &Containerd| -> Result<()> {
        let id = format!("bench-{}", counter.fetch_add(1, Ordering::Relaxed));
        ctr(d, &["run", "--rm", BUSYBOX_IMAGE, &id, "true"])
    };
    report.latency(
        "ctr run --rm (true)",
        Target::RatioAtMost(0.5),
        || run_true(&ours),
        || run_true(&reference),
    )?;

    // Idle memory with one container running, after the daemons settle.
    // Both daemons' shims keep runc state under the same default root, so the two
    // containers need different ids.
    let sides = [(&ours, "bench-idle-ours"), (&reference, "bench-idle-ref")];
    for (d, id) in sides {
        ctr(d, &["run", "-d", BUSYBOX_IMAGE, id, "sleep", "1000"])?;
    }
    std::thread::sleep(std::time::Duration::from_secs(5));
    report.add(
        "containerd idle RSS (one container)",
        Unit::Megabytes,
        rss_mb(ours.pid())?,
        Some(rss_mb(reference.pid())?),
        Target::Below(10.0),
    );
    report.add(
        "shim idle RSS (one container)",
        Unit::Megabytes,
        rss_mb(shim_pid(&ours)?)?,
        Some(rss_mb(shim_pid(&reference)?)?),
        Target::Below(2.0),
    );
    for (d, id) in sides {
        ctr(d, &["tasks", "kill", "-s", "KILL", id])?;
    }
    Ok(())
}

/// Our containerd, shim and runc, release-built on the host; returns their directory.
fn ours() -> Result<PathBuf> {
    step("cargo build --release -p containerd -p runc");
    duct::cmd!(
        "cargo",
        "build",
        "--release",
        "--locked",
        "-p",
        "containerd",
        "-p",
        "runc"
    )
    .dir(crate::project::root())
    .run()
    .context("building our containerd failed (errors above)")?;
    Ok(build::target_dir()?.join("release"))
}

fn ctr(d: &Containerd, args: &[&str]) -> Result<()> {
    let out = d.ctr_with(&testbed::containerd::debian_ctr(), args);
    if !out.status.success() {
        bail!(
            "ctr {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The shim serving this daemon: the process whose command line names its socket.
fn shim_pid(d: &Containerd) -> Result<u32> {
    let socket = d.socket().display().to_string();
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let exe = std::fs::read_link(entry.path().join("exe")).unwrap_or_default();
        let is_shim = Path::new(&exe)
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("containerd-shim"));
        if is_shim && cmdline.contains(&socket) {
            return Ok(pid);
        }
    }
    bail!("no shim process found for {socket}")
}
