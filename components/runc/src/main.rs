//! `runc`: an OCI runtime that is a drop-in for runc 1.1, for the callers that exec
//! it (containerd's runc shim, dockerd, `ctr`, people): runc 1.1's command line,
//! flags, exit codes, error wording, `state` JSON and `--root` layout.
//!
//! # Why our own implementation and not youki's crates
//!
//! youki's `libcontainer` 0.7 was measured on this 2-core host before writing this:
//! a release build of it pulls 106 crates (systemd D-Bus, `procfs`, `chrono`,
//! `nix`, `caps`, `regex`, ...) and took 6m33s wall, 4m39s CPU with one job; it pins
//! its own `oci-spec`, logs through `tracing` instead of runc's logrus-style
//! `--log`/`--log-format json` lines that containerd's shim parses, and `liboci-cli`
//! differs from runc 1.1 in flags and error wording. Owning the runtime on `libc` +
//! `oci-spec` + `libseccomp` (the library runc itself uses for seccomp) keeps the
//! tree and the build small (the whole crate builds in well under a minute) and
//! lets every observable behaviour follow runc 1.1: the `exec.fifo` handshake,
//! `state.json` under `--root`, exit codes and error lines.
//!
//! Layout: `cli` (flags) -> `cmd::*` (one file per verb) -> `init` (create: parent
//! and container init), `process` (shared final steps of init and exec), `rootfs`
//! (mounts, pivot), `cgroups` (v1/v2), `caps`, `seccomp`, `hooks`, `console`,
//! `state` (the `--root` layout), `sys` (raw calls), `selfexec` (read-only re-exec).

mod caps;
mod cgroups;
mod cli;
mod cmd;
mod console;
mod dbus;
mod hooks;
mod init;
mod logging;
mod process;
mod rootfs;
mod seccomp;
mod selfexec;
mod state;
mod sys;

use clap::Parser;

fn main() {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    print!("{e}");
                    std::process::exit(0)
                }
                _ => {
                    // runc (urfave/cli) exits 1 on usage errors.
                    let msg = e.to_string();
                    eprint!("{msg}");
                    std::process::exit(1)
                }
            }
        }
    };
    if cli.version {
        println!("{}", cli::version_text());
        std::process::exit(0);
    }
    let format = match cli.log_format.as_str() {
        "json" => logging::Format::Json,
        "text" => logging::Format::Text,
        other => {
            eprintln!("invalid log-format: {other}");
            std::process::exit(1)
        }
    };
    logging::init(cli.log.clone(), format, cli.debug);
    let Some(command) = cli.command.clone() else {
        println!("{}", cli::version_text());
        std::process::exit(0);
    };
    if command.enters_container() && !selfexec::is_sealed() {
        // The state root is ours and exists for every command but a first create;
        // /dev exists everywhere and never holds a runtime binary.
        let scratch = if cli.root.is_dir() {
            cli.root.as_path()
        } else {
            std::path::Path::new("/dev")
        };
        let e = selfexec::reexec(scratch);
        fatal(
            &anyhow::anyhow!("could not re-execute the runtime from a read-only view: {e}"),
            1,
        );
    }
    let code = match cmd::run(&cli, command) {
        Ok(code) => code,
        Err(e) => {
            let code = e.downcast_ref::<cmd::ExitCode>().map_or(1, |c| c.0);
            fatal(&e, code)
        }
    };
    std::process::exit(code);
}

/// runc's fatal(): the error to the log, and to stderr too when the log is a file.
fn fatal(e: &anyhow::Error, code: i32) -> ! {
    let msg = one_line(e);
    logging::log("error", &msg);
    if !logging::to_stderr() {
        eprintln!("{msg}");
    }
    std::process::exit(code)
}

/// The error and its causes on one line. Error types that print their source in
/// their own message (`"{what}: {source}"`) would otherwise show it twice.
pub(crate) fn one_line(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.ends_with(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}
