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
    let spec = as_runc_writes_it(serde_json::to_value(&s)?, rootless);
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    spec.serialize(&mut ser)?;
    std::fs::write(&path, buf)?;
    Ok(0)
}

/// oci-spec's default spec, adjusted to what runc 1.1's `spec` writes: a terminal,
/// no cgroup namespace and no inheritable capabilities, its capability order, a
/// deny-all device rule (not in the rootless spec, which has no resources), no
/// annotations, and runc's key order.
fn as_runc_writes_it(mut v: serde_json::Value, rootless: bool) -> serde_json::Value {
    use serde_json::{json, Value};
    if let Some(o) = v.as_object_mut() {
        o.remove("annotations");
    }
    v["process"]["terminal"] = Value::Bool(true);
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    if let Some(c) = v["process"]["capabilities"].as_object_mut() {
        c.remove("inheritable");
        for set in c.values_mut() {
            *set = caps.clone();
        }
    }
    if let Some(ns) = v["linux"]["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "cgroup");
    }
    if !rootless {
        v["linux"]["resources"] = json!({"devices": [{"allow": false, "access": "rwm"}]});
    }
    if let Some(mounts) = v["mounts"].as_array_mut() {
        for m in mounts.iter_mut().filter(|m| m["destination"] == "/sys") {
            // runc puts rbind first in the rootless /sys bind.
            if let Some(opts) = m["options"].as_array_mut() {
                if let Some(i) = opts.iter().position(|o| o == "rbind") {
                    let rbind = opts.remove(i);
                    opts.insert(0, rbind);
                }
            }
        }
    }
    let mut out = serde_json::Map::new();
    let mut obj = match v {
        Value::Object(o) => o,
        other => return other,
    };
    for key in [
        "ociVersion",
        "process",
        "root",
        "hostname",
        "mounts",
        "linux",
    ] {
        if let Some(x) = obj.remove(key) {
            out.insert(key.to_string(), x);
        }
    }
    out.extend(obj);
    Value::Object(out)
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
