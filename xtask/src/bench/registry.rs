//! `cargo xtask bench registry`: our dockerd against Debian's dockerd 20.10, both
//! driven by the real docker CLI 28 and talking to Debian's `docker-registry` on
//! 127.0.0.1, in one run: a cold pull of a 5-layer ~300 MB image (nothing of it on
//! the daemon), a push of it to an empty registry, and `docker build` (classic
//! builder) of a 10-step Dockerfile, cold (`--no-cache`) and cached.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use testbed::RefDockerd;

use super::engine::{both_stacks, CLI};
use super::{Report, Target, Unit};
use crate::{host, step};

const REGISTRY: &str = "/usr/bin/docker-registry";
/// Pulls and pushes of 300 MB are slow on both sides: at most this many timed runs.
const BIG_RUNS: usize = 3;
/// The image: busybox plus four layers of this many random (incompressible) bytes.
const LAYER_BYTES: usize = 75_000_000;

pub fn run(report: &mut Report) -> Result<()> {
    host::ensure(&[host::DOCKERD, host::REGISTRY, host::BUSYBOX])?;
    let (ours, reference) = both_stacks("registry")?;
    let origin = Registry::start()?;
    let name = format!("{}/bench/big:v1", origin.host());

    step(format_args!(
        "building the 5-layer image ({} MB) on the reference and pushing it to {}",
        4 * LAYER_BYTES / 1_000_000 + 2,
        origin.host()
    ));
    let ctx = tempfile::Builder::new()
        .prefix("bench-registry-")
        .tempdir_in("/tmp")?;
    let mut dockerfile = String::from("FROM busybox:latest\n");
    for i in 1..=4 {
        dockerfile.push_str(&format!(
            "RUN head -c {LAYER_BYTES} /dev/urandom > /layer{i}\n"
        ));
    }
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile)?;
    docker(
        &reference,
        &["build", "-q", "-t", &name, ctx.path().to_str().unwrap()],
    )?;
    docker(&reference, &["push", &name])?;
    docker(
        &reference,
        &[
            "save",
            "-o",
            ctx.path().join("big.tar").to_str().unwrap(),
            &name,
        ],
    )?;
    docker(&reference, &["rmi", &name])?;

    let runs = report.runs.min(BIG_RUNS);
    // Cold pull: nothing of the image on the daemon before each run (our blob cache
    // included, so every byte is downloaded).
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        for (d, samples, is_ours) in [(&ours, &mut a, true), (&reference, &mut b, false)] {
            let took = timed(|| docker(d, &["pull", "-q", &name]))?;
            samples.push(took);
            docker(d, &["rmi", &name])?;
            if is_ours {
                let blobs = d.dir.path().join("data/image/overlay2/distribution/blobs");
                let _ = std::fs::remove_dir_all(blobs);
            }
        }
    }
    report.add(
        &format!("docker pull, 5 layers ~300 MB, cold ({runs} runs)"),
        Unit::Milliseconds,
        super::median_ms(&mut a),
        Some(super::median_ms(&mut b)),
        Target::SpeedupAtLeast(1.5),
    );

    // Push to an empty registry each time, so every blob is uploaded.
    for d in [&ours, &reference] {
        docker(
            d,
            &[
                "load",
                "-q",
                "-i",
                ctx.path().join("big.tar").to_str().unwrap(),
            ],
        )?;
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        for (d, samples) in [(&ours, &mut a), (&reference, &mut b)] {
            let empty = Registry::start()?;
            let target = format!("{}/bench/big:v1", empty.host());
            docker(d, &["tag", &name, &target])?;
            samples.push(timed(|| docker(d, &["push", "-q", &target]))?);
            docker(d, &["rmi", &target])?;
        }
    }
    report.add(
        &format!("docker push, 5 layers ~300 MB, empty registry ({runs} runs)"),
        Unit::Milliseconds,
        super::median_ms(&mut a),
        Some(super::median_ms(&mut b)),
        // No target in the issue: parity at least.
        Target::RatioAtMost(1.0),
    );

    let bctx = ctx.path().join("build");
    std::fs::create_dir_all(&bctx)?;
    std::fs::write(bctx.join("a.txt"), "a")?;
    std::fs::write(
        bctx.join("Dockerfile"),
        "FROM busybox:latest\nARG V=1\nENV A=b\nWORKDIR /app\nCOPY a.txt .\nRUN echo $V > /v\nLABEL x=y\nEXPOSE 80\nUSER 1000\nCMD [\"sh\"]\n",
    )?;
    let b_path = bctx.to_str().unwrap().to_string();
    report.latency(
        "docker build, 10 steps, --no-cache",
        Target::RatioAtMost(1.0),
        || {
            docker(
                &ours,
                &["build", "-q", "--no-cache", "-t", "bench/b", &b_path],
            )
        },
        || {
            docker(
                &reference,
                &["build", "-q", "--no-cache", "-t", "bench/b", &b_path],
            )
        },
    )?;
    report.latency(
        "docker build, 10 steps, all cached",
        Target::RatioAtMost(1.0),
        || docker(&ours, &["build", "-q", "-t", "bench/b", &b_path]),
        || docker(&reference, &["build", "-q", "-t", "bench/b", &b_path]),
    )?;
    Ok(())
}

fn timed(f: impl FnOnce() -> Result<()>) -> Result<Duration> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed())
}

/// Debian's docker-registry on a free 127.0.0.1 port with private storage.
struct Registry {
    _dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl Registry {
    fn start() -> Result<Registry> {
        let dir = tempfile::Builder::new()
            .prefix("bench-registry-store-")
            .tempdir_in("/tmp")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("storage").display()
            ),
        )?;
        let child = Command::new(REGISTRY)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting docker-registry")?;
        let r = Registry {
            _dir: dir,
            port,
            child,
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if start.elapsed() > Duration::from_secs(30) {
                bail!("docker-registry did not listen on 127.0.0.1:{port}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(r)
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The CLI 28 (classic builder for `build`) against one daemon; fails on a non-zero exit.
fn docker(d: &RefDockerd, args: &[&str]) -> Result<()> {
    let out = Command::new(CLI)
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.path().join("cli-config"))
        .env("DOCKER_BUILDKIT", "0")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {CLI}"))?;
    if !out.status.success() {
        bail!(
            "docker {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
