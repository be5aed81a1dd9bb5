//! The container engine xtask drives for `image`, `build` and `shell`: `docker` by
//! default, `podman` with `--engine` or `WORKSPACE_CONTAINER_ENGINE`. It is checked up
//! front so that a missing engine or a stopped daemon is one line saying how to fix it.
//! **Invariant:** only this module and its callers in xtask talk to the engine.

use std::path::Path;

use anyhow::{bail, Context, Result};

mod daemon;
pub use daemon::stop as stop_private_daemon;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    Docker,
    Podman,
}

/// The `--engine` flag every container command takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EngineArgs {
    /// Container engine: docker or podman (default: WORKSPACE_CONTAINER_ENGINE, else docker)
    #[arg(long, value_enum)]
    pub engine: Option<EngineKind>,
}

/// This process's `soft:hard` limit of a resource, at most `cap`, as `--ulimit` takes
/// it (-1 for unlimited).
fn current_limit(resource: libc::__rlimit_resource_t, cap: Option<libc::rlim_t>) -> Option<String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given and nothing else.
    if unsafe { libc::getrlimit(resource, &mut limit) } != 0 {
        return None;
    }
    let value = |v: libc::rlim_t| {
        let v = cap.map_or(v, |c| v.min(c));
        if v == libc::RLIM_INFINITY {
            "-1".to_owned()
        } else {
            v.to_string()
        }
    };
    Some(format!(
        "{}:{}",
        value(limit.rlim_cur),
        value(limit.rlim_max)
    ))
}

/// A reachable container engine.
#[derive(Debug, Clone)]
pub struct Engine {
    pub program: &'static str,
    kind: EngineKind,
}

impl EngineArgs {
    pub fn connect(&self) -> Result<Engine> {
        let kind = match self.engine {
            Some(k) => k,
            None => match std::env::var("WORKSPACE_CONTAINER_ENGINE").as_deref() {
                Ok("podman") => EngineKind::Podman,
                Ok("docker") | Ok("") | Err(_) => EngineKind::Docker,
                Ok(other) => bail!(
                    "WORKSPACE_CONTAINER_ENGINE={other:?} is not a known engine; use docker or podman"
                ),
            },
        };
        let (program, package) = match kind {
            EngineKind::Docker => ("docker", "docker.io"),
            EngineKind::Podman => ("podman", "podman"),
        };
        if crate::host::find(program).is_none() {
            bail!("the container engine {program} is not installed; install it with `apt-get install {package}` (or pick one with --engine docker|podman)");
        }
        let out = duct::cmd!(program, "version", "--format", "{{.Server.Version}}")
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .with_context(|| format!("cannot run {program}"))?;
        if !out.status.success() && kind == EngineKind::Docker && daemon::can_start() {
            daemon::start(program)?;
            return Ok(Engine { program, kind });
        }
        if !out.status.success() {
            let detail = String::from_utf8_lossy(&out.stderr);
            let detail = detail.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            match kind {
                EngineKind::Docker => bail!(
                    "the docker daemon is not reachable{} ({}); start it with `dockerd &` (or `service docker start`), point DOCKER_HOST at a running one, or run as root to let xtask start one",
                    std::env::var("DOCKER_HOST").map(|h| format!(" at {h}")).unwrap_or_default(),
                    detail.trim()
                ),
                EngineKind::Podman => bail!(
                    "podman cannot run ({}); check `podman info`",
                    detail.trim()
                ),
            }
        }
        Ok(Engine { program, kind })
    }
}

impl Engine {
    pub fn cmd(&self, args: Vec<String>) -> duct::Expression {
        // The classic builder: it honours `--network host`, needs no buildx plugin, and
        // the daemons this runs against (Debian's 20.10) support it everywhere.
        duct::cmd(self.program, args).env("DOCKER_BUILDKIT", "0")
    }

    /// The start of every `run` of ours. Podman asks for 1048576 open files and
    /// processes in its containers, which needs CAP_SYS_RESOURCE wherever the hard limits
    /// are lower (runc then fails with "error setting rlimit type 7"), and even its
    /// `--ulimit host` asks for more. So its containers get the caller's own open-files
    /// limit and a processes limit no higher than the kernel's pid_max, which podman
    /// lowers its own limit to (and more processes than pids cannot exist anyway).
    pub fn run_args(&self) -> Vec<String> {
        let mut args = vec!["run".to_owned()];
        if self.kind == EngineKind::Podman {
            let pid_max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
                .ok()
                .and_then(|s| s.trim().parse::<libc::rlim_t>().ok());
            for (name, resource, cap) in [
                ("nofile", libc::RLIMIT_NOFILE, None),
                ("nproc", libc::RLIMIT_NPROC, pid_max),
            ] {
                if let Some(limit) = current_limit(resource, cap) {
                    args.extend(["--ulimit".into(), format!("{name}={limit}")]);
                }
            }
        }
        args
    }

    /// Whether an image (or tag) exists in the engine.
    pub fn has_image(&self, reference: &str) -> bool {
        succeeds(self.cmd(vec!["image".into(), "inspect".into(), reference.into()]))
    }

    /// The image id of a reference.
    pub fn image_id(&self, reference: &str) -> Option<String> {
        self.cmd(vec![
            "image".into(),
            "inspect".into(),
            "--format".into(),
            "{{.Id}}".into(),
            reference.into(),
        ])
        .stdout_capture()
        .stderr_null()
        .unchecked()
        .run()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    }

    /// Make sure a named volume exists and that `uid:gid` owns its root, so the caller's
    /// user can write the caches in it.
    pub fn volume_for(&self, name: &str, image: &str, uid: u32, gid: u32) -> Result<()> {
        let exists = self
            .cmd(vec!["volume".into(), "inspect".into(), name.into()])
            .stdout_null()
            .stderr_null()
            .unchecked()
            .run()?
            .status
            .success();
        if !exists {
            self.cmd(vec!["volume".into(), "create".into(), name.into()])
                .stdout_null()
                .run()
                .with_context(|| format!("cannot create volume {name}"))?;
        }
        if uid != 0 && !exists {
            let mut run = self.run_args();
            run.extend([
                "--rm".into(),
                "--network".into(),
                "none".into(),
                "-v".into(),
                format!("{name}:/v"),
                image.into(),
                "chown".into(),
                format!("{uid}:{gid}"),
                "/v".into(),
            ]);
            self.cmd(run)
                .stdout_null()
                .run()
                .with_context(|| format!("cannot hand volume {name} to {uid}:{gid}"))?;
        }
        Ok(())
    }
}

/// The invoking user's uid and gid: the owner of what a container writes into the
/// tree. Under `sudo` that is the user who ran sudo (`SUDO_UID`/`SUDO_GID`), not root.
pub fn caller_ids() -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let (uid, gid) = std::fs::metadata("/proc/self")
        .map(|m| (m.uid(), m.gid()))
        .unwrap_or((0, 0));
    if uid == 0 {
        let id = |var| std::env::var(var).ok().and_then(|v| v.parse::<u32>().ok());
        if let (Some(u), Some(g)) = (id("SUDO_UID"), id("SUDO_GID")) {
            return (u, g);
        }
    }
    (uid, gid)
}

/// Create a directory of the tree for the caller: missing directories below `top` are
/// handed to the caller (when we run as root for someone else).
pub fn create_dir_for_caller(top: &std::path::Path, dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (uid, gid) = caller_ids();
    if crate::host::is_root() && uid != 0 {
        let mut d = Some(dir);
        while let Some(p) = d {
            if !p.starts_with(top) || p == top.parent().unwrap_or(top) {
                break;
            }
            std::os::unix::fs::chown(p, Some(uid), Some(gid))
                .with_context(|| format!("cannot hand {} to {uid}:{gid}", p.display()))?;
            d = p.parent();
        }
    }
    Ok(())
}

/// A bind mount argument pair (`-v SRC:DST[:ro]`).
pub fn bind(src: &Path, dst: &str, read_only: bool) -> [String; 2] {
    [
        "-v".into(),
        format!(
            "{}:{dst}{}",
            src.display(),
            if read_only { ":ro" } else { "" }
        ),
    ]
}

/// Whether a command runs and exits 0 (its output discarded).
fn succeeds(cmd: duct::Expression) -> bool {
    cmd.stdout_null()
        .stderr_null()
        .unchecked()
        .run()
        .map(|o| o.status.success())
        .unwrap_or(false)
}
