//! `spec` (a starting config.json), `features` (what this runtime supports, as
//! runc 1.1's JSON) and `checkpoint`/`restore` (need CRIU; refused clearly).

use std::path::Path;

use anyhow::{bail, Result};
use serde::Serialize;

use crate::cli::Cli;

pub fn spec(bundle: Option<&Path>, rootless: bool) -> Result<i32> {
    let dir = match bundle {
        Some(b) if !b.as_os_str().is_empty() => b.to_path_buf(),
        _ => std::env::current_dir()?,
    };
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let path = dir.join("config.json");
    if path.exists() {
        bail!("File config.json exists. Remove it first.");
    }
    let mut s = if rootless {
        // SAFETY: getuid/getgid have no preconditions.
        oci_spec::runtime::Spec::rootless(unsafe { libc::getuid() }, unsafe { libc::getgid() })
    } else {
        oci_spec::runtime::Spec::default()
    };
    s.set_version("1.0.2-dev".to_string());
    s.set_hostname(Some("runc".to_string()));
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    s.serialize(&mut ser)?;
    std::fs::write(&path, buf)?;
    Ok(0)
}

pub fn features() -> Result<i32> {
    let caps: Vec<&str> = crate::caps::all_names().to_vec();
    let v = serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.0.2-dev",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": [
            "acl", "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec",
            "iversion", "lazytime", "loud", "mand", "noacl", "noatime", "nodev", "nodiratime",
            "noexec", "noiversion", "nolazytime", "nomand", "norelatime", "nostrictatime",
            "nosuid", "private", "rbind", "relatime", "remount", "ro", "rprivate", "rshared",
            "rslave", "runbindable", "rw", "shared", "silent", "slave", "strictatime", "suid",
            "sync", "tmpcopyup", "unbindable"
        ],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
                            "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                              "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false}
        },
        "annotations": {
            "io.github.seccomp.libseccomp.version": "2.5.4",
            "org.opencontainers.runc.checkpoint.enabled": "false",
            "org.opencontainers.runc.version": "1.1.12-compatible"
        }
    });
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(0)
}

pub fn criu(cli: &Cli, verb: &str) -> Result<i32> {
    let found = if cli.criu.contains('/') {
        Path::new(&cli.criu).exists()
    } else {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(&cli.criu).is_file()))
            .unwrap_or(false)
    };
    if !found {
        bail!(
            "{verb} failed: exec: {:?}: executable file not found in $PATH (install the criu package to {verb} containers)",
            cli.criu
        );
    }
    bail!("{verb} failed: checkpoint/restore through criu is not supported by this runtime")
}
