//! `cargo xtask shell`: a shell (or one command) in the dev container, with the source
//! at the same path, the caches of `cargo xtask build` and the freshly built binaries
//! (`bundles/<version>/binary/`) first on PATH. It is privileged enough to run our own
//! runtime and engine inside: every capability of the bounding set (`--privileged`
//! would also ask for CAP_SYS_RESOURCE, which some hosts withhold), no seccomp, no
//! AppArmor, unmasked /proc and /sys.

use anyhow::{Context, Result};

use crate::container::EngineArgs;
use crate::{build, image, mirror, project};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    engine: EngineArgs,
    /// Run this command instead of an interactive shell
    #[arg(last = true)]
    command: Vec<String>,
}

/// The options that make the container privileged enough, without `--privileged`.
pub const PRIVILEGES: &[&str] = &[
    "--cap-add",
    "ALL",
    "--cap-drop",
    "SYS_RESOURCE",
    "--security-opt",
    "seccomp=unconfined",
    "--security-opt",
    "apparmor=unconfined",
    "--security-opt",
    "systempaths=unconfined",
    "--cgroupns",
    "host",
];

pub fn run(args: Args) -> Result<()> {
    let engine = args.engine.connect()?;
    let profile = mirror::selected()?;
    let image = image::ensure(&engine, &profile, None)?;
    let binaries = project::bundles_dir()?.join("binary");
    // Root inside: the shell is for running runtimes and daemons.
    let mut run = build::container_run_args(&image, &engine, false)?;
    run.extend(PRIVILEGES.iter().map(|s| (*s).to_owned()));
    run.extend(["-v".into(), "/sys/fs/cgroup:/sys/fs/cgroup".into()]);
    run.extend([
        "-e".into(),
        format!("PATH={}", image.path_with(&binaries.display().to_string())),
    ]);
    let interactive = args.command.is_empty();
    if interactive {
        run.push("-it".into());
    } else {
        run.push("-i".into());
    }
    run.push(image.tag.clone());
    if interactive {
        run.push("bash".into());
    } else {
        run.extend(args.command);
    }
    let status = engine
        .cmd(run)
        .unchecked()
        .run()
        .context("cannot run the dev container")?
        .status;
    if !status.success() {
        std::process::exit(status.code().unwrap_or(1));
    }
    Ok(())
}
