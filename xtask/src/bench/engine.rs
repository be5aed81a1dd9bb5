//! `cargo xtask bench engine`: our whole stack (dockerd + containerd + shim + runc, each
//! daemon managing the next as dockerd does) against Debian's docker.io stack, both on
//! private sockets and data roots with `--iptables=false --bridge=none`, both driven by
//! the same real docker CLI 28, in one run.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use testbed::{DockerdOptions, RefDockerd};

use super::{rss_mb, Report, Target, Unit};
use crate::{host, step};

/// The client both daemons are judged by.
pub(super) const CLI: &str = "/usr/local/bin/docker";
/// Running containers listed by the `docker ps` row.
const PS_CONTAINERS: usize = 50;
/// Size of the image of the `docker load` row, in bytes of layer content.
const LOAD_IMAGE_BYTES: usize = 200 * 1000 * 1000;
/// `docker load` of 200 MB is slow on both sides: fewer timed runs than the quick rows.
const LOAD_RUNS: usize = 5;

pub fn run(report: &mut Report) -> Result<()> {
    host::ensure(&[host::DOCKERD, host::CONTAINERD, host::RUNC, host::BUSYBOX])?;
    let (ours, reference) = both_stacks("engine")?;
    let sides = [&ours, &reference];

    // Idle memory first, before any workload has grown either heap; after both
    // daemons settle.
    std::thread::sleep(std::time::Duration::from_secs(5));
    report.add(
        "dockerd idle RSS (one image, no container)",
        Unit::Megabytes,
        rss_mb(dockerd_pid(&ours)?)?,
        Some(rss_mb(dockerd_pid(&reference)?)?),
        Target::Below(15.0),
    );

    report.latency(
        "docker run --rm busybox true",
        Target::RatioAtMost(0.5),
        || docker(&ours, &["run", "--rm", "busybox", "true"]),
        || docker(&reference, &["run", "--rm", "busybox", "true"]),
    )?;

    step(format_args!(
        "starting {PS_CONTAINERS} containers on each side"
    ));
    for d in sides {
        for _ in 0..PS_CONTAINERS {
            docker(d, &["run", "-d", "busybox", "sleep", "100000"])?;
        }
    }
    report.latency(
        &format!("docker ps ({PS_CONTAINERS} running)"),
        // No target in the issue: parity at least.
        Target::RatioAtMost(1.0),
        || docker(&ours, &["ps"]),
        || docker(&reference, &["ps"]),
    )?;
    for d in sides {
        remove_all_containers(d)?;
    }

    let image = tempfile::Builder::new()
        .prefix("bench-engine-image-")
        .tempdir_in("/tmp")?;
    let tar = image.path().join("big.tar");
    step(format_args!(
        "writing a {} MB image to {}",
        LOAD_IMAGE_BYTES / 1_000_000,
        tar.display()
    ));
    save_tar_of_random_layer(&tar, LOAD_IMAGE_BYTES)?;
    let load = |d: &RefDockerd| docker(d, &["load", "-q", "-i", tar.to_str().unwrap()]);
    let unload = |d: &RefDockerd| docker(d, &["rmi", "bench/big:latest"]);
    let runs = report.runs.min(LOAD_RUNS);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        for (d, samples) in [(&ours, &mut a), (&reference, &mut b)] {
            let start = std::time::Instant::now();
            load(d)?;
            samples.push(start.elapsed());
            unload(d)?;
        }
    }
    report.add(
        &format!("docker load (200 MB image, {runs} runs)"),
        Unit::Milliseconds,
        super::median_ms(&mut a),
        Some(super::median_ms(&mut b)),
        // No target in the issue: parity at least.
        Target::RatioAtMost(1.0),
    );
    Ok(())
}

/// Our stack and Debian's, each on a private socket and data root with busybox
/// imported, for a benchmark driven by the real CLI 28 (`bench` names it in errors).
pub(super) fn both_stacks(bench: &str) -> Result<(RefDockerd, RefDockerd)> {
    anyhow::ensure!(
        Path::new(CLI).exists(),
        "{CLI} is missing: both daemons are driven by the real docker CLI 28 installed there"
    );
    anyhow::ensure!(
        host::is_root(),
        "bench {bench} runs containers: run it as root"
    );
    testbed::subreaper();
    let bin = super::release_build(&["engine", "containerd", "runc"])?;
    let ours = start_ours(&bin)?;
    let reference = RefDockerd::start(DockerdOptions::default());
    for d in [&ours, &reference] {
        d.import_busybox("busybox:latest");
    }
    Ok((ours, reference))
}

/// Our dockerd starts the containerd beside it; that containerd finds our shim and the
/// shim our runc on PATH, so our binaries' directory goes first on PATH for this one
/// daemon (Debian's, started afterwards, sees the PATH unchanged).
fn start_ours(bin: &Path) -> Result<RefDockerd> {
    let old = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin.to_path_buf()];
    dirs.extend(std::env::split_paths(&old));
    std::env::set_var("PATH", std::env::join_paths(dirs)?);
    let d = std::panic::catch_unwind(|| {
        RefDockerd::start(DockerdOptions {
            args: Vec::new(),
            dockerd: Some(bin.join("dockerd")),
        })
    });
    std::env::set_var("PATH", old);
    d.map_err(|_| anyhow::anyhow!("our dockerd did not come up (its log is printed above)"))
}

fn docker(d: &RefDockerd, args: &[&str]) -> Result<()> {
    let out = d.cli(CLI, args);
    if !out.status.success() {
        bail!(
            "docker {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn remove_all_containers(d: &RefDockerd) -> Result<()> {
    let out = d.cli(CLI, &["ps", "-aq"]);
    let ids = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut args = vec!["rm", "-f"];
    args.extend(ids.split_whitespace());
    if args.len() > 2 {
        docker(d, &args)?;
    }
    Ok(())
}

fn dockerd_pid(d: &RefDockerd) -> Result<u32> {
    let file = d.dir.path().join("dockerd.pid");
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    text.trim()
        .parse()
        .with_context(|| format!("{} holds no pid", file.display()))
}

/// A `docker save` tarball (manifest.json + config + one uncompressed layer) named
/// `bench/big:latest`, whose layer holds `bytes` of incompressible data in 50 MB files,
/// so neither side can shortcut the copy.
fn save_tar_of_random_layer(path: &Path, bytes: usize) -> Result<()> {
    const FILE: usize = 50 * 1000 * 1000;
    let dir = path.parent().context("image path has no parent")?;
    let layer_path = dir.join("layer.tar");
    {
        let out = std::io::BufWriter::new(std::fs::File::create(&layer_path)?);
        let mut layer = tar::Builder::new(out);
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut left = bytes;
        let mut n = 0;
        while left > 0 {
            let len = left.min(FILE);
            let mut data = vec![0u8; len];
            for chunk in data.chunks_mut(8) {
                // xorshift64: cheap and incompressible enough for a copy benchmark.
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                chunk.copy_from_slice(&seed.to_le_bytes()[..chunk.len()]);
            }
            let mut h = tar::Header::new_ustar();
            h.set_size(len as u64);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_cksum();
            layer.append_data(&mut h, format!("data/blob{n}"), &data[..])?;
            left -= len;
            n += 1;
        }
        layer.into_inner()?.flush()?;
    }
    let diff_id = sha256_file(&layer_path)?;
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
        "history": [{"created_by": "cargo xtask bench engine"}],
    })
    .to_string();
    let config_name = format!("{:x}.json", Sha256::digest(config.as_bytes()));
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": ["bench/big:latest"],
        "Layers": [format!("{diff_id}/layer.tar")],
    }])
    .to_string();
    let mut tar = tar::Builder::new(std::io::BufWriter::new(std::fs::File::create(path)?));
    let mut add = |name: &str, data: &[u8]| -> std::io::Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        tar.append_data(&mut h, name, data)
    };
    add("manifest.json", manifest.as_bytes())?;
    add(&config_name, config.as_bytes())?;
    tar.append_path_with_name(&layer_path, format!("{diff_id}/layer.tar"))?;
    tar.into_inner()?.flush()?;
    std::fs::remove_file(&layer_path)?;
    Ok(())
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(format!("{:x}", h.finalize()))
}
