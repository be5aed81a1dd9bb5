//! `cargo xtask bench containerd`: our containerd + shim + runc against Debian's
//! containerd 1.6 + shim + runc, driven by the same client (Debian's `ctr`), in one run.
//! Ours is measured twice: the static `dist` build the packages ship and the plain
//! release build; the report names the binaries of each.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{bail, Context, Result};
use testbed::oci::BUSYBOX_IMAGE;
use testbed::Containerd;

use super::{rss_mb, Report, Target, Unit};
use crate::{build, host, step};

pub fn run(report: &mut Report) -> Result<()> {
    host::ensure(&[host::CONTAINERD, host::RUNC, host::BUSYBOX])?;
    anyhow::ensure!(
        host::is_root(),
        "bench containerd runs containers: run it as root"
    );
    testbed::subreaper();
    // What ships (the static `dist` build) and what `cargo build --release` gives; both
    // are measured against the same Debian daemon.
    let builds = [
        ("dist static", build::build_static(&["containerd", "runc"])?),
        ("release", super::release_build(&["containerd", "runc"])?),
    ];
    let reference = Containerd::start_with(PathBuf::from("/usr/bin/containerd"), None);
    reference.import_busybox();
    step("reference: /usr/bin/containerd, its containerd-shim-runc-v2, /usr/sbin/runc");
    let counter = AtomicU32::new(0);
    for (kind, dir) in builds {
        let bin = Binaries::in_dir(&dir)?;
        step(format_args!("ours [{kind}]: {bin}"));
        measure(report, kind, &bin, &reference, &counter)?;
    }
    Ok(())
}

/// Our three binaries of one build, and what they are.
struct Binaries {
    dir: PathBuf,
    described: String,
}

impl Binaries {
    fn in_dir(dir: &Path) -> Result<Binaries> {
        let mut described = Vec::new();
        for name in ["containerd", "containerd-shim-runc-v2", "runc"] {
            let path = dir.join(name);
            let meta = std::fs::metadata(&path)
                .with_context(|| format!("{} was not built", path.display()))?;
            let elf =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let linking = if has_interpreter(&elf) {
                "dynamic"
            } else {
                "static"
            };
            described.push(format!(
                "{} ({:.1} MB, {linking})",
                path.display(),
                meta.len() as f64 / 1e6
            ));
        }
        Ok(Binaries {
            dir: dir.to_owned(),
            described: described.join(", "),
        })
    }
}

/// Whether an ELF64 file asks for a program interpreter (a PT_INTERP program header),
/// which is what makes it dynamically linked; static-pie binaries have none.
fn has_interpreter(elf: &[u8]) -> bool {
    let u16_at = |o: usize| elf.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    (0..phnum as usize).any(|i| {
        let at = phoff as usize + i * phentsize as usize;
        elf.get(at..at + 4) == Some(&3u32.to_le_bytes()[..])
    })
}

impl std::fmt::Display for Binaries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.described)
    }
}

fn measure(
    report: &mut Report,
    kind: &str,
    bin: &Binaries,
    reference: &Containerd,
    counter: &AtomicU32,
) -> Result<()> {
    // Our shim and our runc first on our containerd's PATH (shims and runtimes are
    // looked up there); Debian's containerd finds Debian's.
    let path_dir = tempfile::Builder::new()
        .prefix("bench-ctrd-path-")
        .tempdir()?;
    for name in ["containerd-shim-runc-v2", "runc"] {
        std::os::unix::fs::symlink(bin.dir.join(name), path_dir.path().join(name))?;
    }
    let ours = Containerd::start_with(
        bin.dir.join("containerd"),
        Some(path_dir.path().to_path_buf()),
    );
    ours.import_busybox();
    let run_true = |d: &Containerd| -> Result<()> {
        let id = format!("bench-{}", counter.fetch_add(1, Ordering::Relaxed));
        ctr(d, &["run", "--rm", BUSYBOX_IMAGE, &id, "true"])
    };
    report.latency(
        &format!("ctr run --rm true [{kind}]"),
        Target::RatioAtMost(0.5),
        || run_true(&ours),
        || run_true(reference),
    )?;

    // Idle memory with one container running, after the daemons settle.
    // Both daemons' shims keep runc state under the same default root, so the two
    // containers need different ids.
    let n = counter.fetch_add(1, Ordering::Relaxed);
    let sides = [
        (&ours, format!("bench-idle-ours-{n}")),
        (reference, format!("bench-idle-ref-{n}")),
    ];
    for (d, id) in &sides {
        ctr(d, &["run", "-d", BUSYBOX_IMAGE, id, "sleep", "1000"])?;
    }
    std::thread::sleep(std::time::Duration::from_secs(5));
    report.add(
        &format!("containerd idle RSS [{kind}]"),
        Unit::Megabytes,
        rss_mb(ours.pid())?,
        Some(rss_mb(reference.pid())?),
        Target::Below(10.0),
    );
    let (our_shim, ref_shim) = (shim_pid(&ours)?, shim_pid(reference)?);
    report.add(
        &format!("shim idle RSS [{kind}]"),
        Unit::Megabytes,
        rss_mb(our_shim)?,
        Some(rss_mb(ref_shim)?),
        Target::Below(2.0),
    );
    // Shims of one binary share its text: the proportional share is what each
    // further container costs.
    step(format_args!(
        "shim proportional set size [{kind}]: ours {:.1} MB, Debian's {:.1} MB",
        pss_mb(our_shim)?,
        pss_mb(ref_shim)?
    ));
    for (d, id) in &sides {
        ctr(d, &["tasks", "kill", "-s", "KILL", id])?;
    }
    for (d, id) in &sides {
        testbed::wait_for(
            "the idle task to stop",
            std::time::Duration::from_secs(20),
            || {
                d.ctr_with(&testbed::containerd::debian_ctr(), &["tasks", "rm", id])
                    .status
                    .success()
            },
        );
        ctr(d, &["containers", "rm", id])?;
    }
    Ok(())
}

/// Proportional set size of a process in MB (Pss from /proc/<pid>/smaps_rollup).
fn pss_mb(pid: u32) -> Result<f64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .with_context(|| format!("process {pid} is gone"))?;
    let kb: f64 = rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no Pss for process {pid}"))?;
    Ok(kb / 1024.0)
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
