//! Golden comparisons with Debian's dockerd (20.10) on the same actions: `inspect`,
//! `version` and `info` value by value (with a short list of what differs and why), and
//! Debian's CLI 20.10 driving our dockerd.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use common::{Engine, CLI20};
use serde_json::Value;

/// Keys Debian's dockerd 20.10 has and ours leaves out, each for a stated reason.
const JUSTIFIED_MISSING: &[(&str, &str)] = &[
    ("HostConfig.KernelMemory", "removed from the API in 1.42"),
    ("HostConfig.KernelMemoryTCP", "removed from the API in 1.42"),
    ("KernelMemory", "info: removed from the API in 1.42"),
    ("KernelMemoryTCP", "info: removed from the API in 1.42"),
    (
        "Runtimes.io.containerd.runtime.v1.linux.",
        "the v1 shim runtime is gone from docker 23 on",
    ),
];

/// Values expected to differ between the two daemons on the same actions (the types
/// must still agree), each with the reason. A path ending in `.` covers everything
/// under it.
const EXPECTED_TO_DIFFER: &[(&str, &str)] = &[
    // Identities and times of this run.
    (
        "Id",
        "random container id, or the config digest of an image made now",
    ),
    ("Image", "the image id (its config holds its creation time)"),
    ("Config.Hostname", "the container's short id"),
    (
        "NetworkSettings.Networks.none.NetworkID",
        "random network id",
    ),
    ("ID", "info: the daemon's random id"),
    ("Created", "time of this run"),
    ("State.StartedAt", "time of this run"),
    ("State.FinishedAt", "time of this run"),
    ("SystemTime", "time of this run"),
    ("Metadata.LastTagTime", "time of this run"),
    // Paths under each daemon's own data root.
    ("HostnamePath", "under the data root"),
    ("HostsPath", "under the data root"),
    ("ResolvConfPath", "under the data root"),
    ("LogPath", "under the data root"),
    ("GraphDriver.Data.", "under the data root"),
    ("DockerRootDir", "the data root"),
    // Versions and build: ours is docker-ce 28's API, theirs 20.10's.
    ("Version", "engine version"),
    ("ServerVersion", "engine version"),
    ("DockerVersion", "the engine version that made the image"),
    ("ApiVersion", "1.47 here, 1.41 there"),
    ("MinAPIVersion", "1.24 from docker 25 on"),
    ("GitCommit", "build"),
    ("GoVersion", "the compiler"),
    ("BuildTime", "build"),
    (
        "Components",
        "the engine's version and build (the other parts are compared by name below)",
    ),
    (
        "Platform.Name",
        "docker-ce's name; Debian's build leaves it empty",
    ),
    ("NFd", "the daemon's own file descriptors"),
    ("NGoroutines", "a Go runtime figure"),
    // What docker-ce 28 does differently from 20.10.
    (
        "HostConfig.MaskedPaths",
        "/sys/devices/virtual/powercap is masked from docker 25 on",
    ),
    (
        "SecurityOptions",
        "the default seccomp profile is called builtin from docker 23 on",
    ),
    (
        "RegistryConfig.InsecureRegistryCIDRs",
        "::1/128 is insecure from docker 26 on",
    ),
    (
        "DriverStatus",
        "overlay2 reports metacopy from docker 25 on",
    ),
    (
        "Plugins.Log",
        "the log drivers built in: json-file, local, none",
    ),
    (
        "Plugins.Network",
        "the network drivers built in: bridge, host, null",
    ),
    (
        "NetworkSettings.SandboxID",
        "random sandbox id (its form and its key's are checked below)",
    ),
    (
        "NetworkSettings.SandboxKey",
        "under each daemon's exec root, named after the sandbox id",
    ),
];

/// Every leaf of a JSON document by path (objects are walked; arrays, scalars and
/// empty objects are leaves).
fn leaves(v: &Value, prefix: &str, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(x, &p, out);
            }
        }
        _ => {
            out.insert(prefix.to_string(), v.clone());
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every difference of `ours` from `theirs` that the lists above do not explain.
fn differences(what: &str, ours: &str, theirs: &str) -> Vec<String> {
    let parse = |json: &str| -> BTreeMap<String, Value> {
        let v: Value =
            serde_json::from_str(json).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {json}"));
        let v = match v {
            Value::Array(mut a) => a.remove(0),
            v => v,
        };
        let mut out = BTreeMap::new();
        leaves(&v, "", &mut out);
        out
    };
    let (ours, theirs) = (parse(ours), parse(theirs));
    let listed = |list: &[(&str, &str)], k: &str| {
        list.iter()
            .any(|(p, _)| k == *p || (p.ends_with('.') && k.starts_with(p)))
    };
    let mut out = Vec::new();
    for (k, want) in &theirs {
        match ours.get(k) {
            None if listed(JUSTIFIED_MISSING, k) => {}
            None => out.push(format!("{what}: {k} missing (Debian: {want})")),
            Some(got) if kind(got) != kind(want) => out.push(format!(
                "{what}: {k} is {} {got}, Debian's is {} {want}",
                kind(got),
                kind(want)
            )),
            Some(got) if got != want && !listed(EXPECTED_TO_DIFFER, k) => {
                out.push(format!("{what}: {k} = {got}, Debian's = {want}"))
            }
            Some(_) => {}
        }
    }
    out
}

/// The real CLI 28 at API 1.41 (Debian's dockerd's), so both daemons answer the same
/// version of the API.
fn cli_141(host: &str, config: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(common::CLI28)
        .env("DOCKER_HOST", host)
        .env("DOCKER_CONFIG", config)
        .env("DOCKER_API_VERSION", "1.41")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker {args:?} on {host}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The same image import and container run on both daemons give the same `inspect`
/// (container and image), `version` and `info`, value by value, but for the listed
/// differences.
#[test]
fn inspect_version_and_info_values_match_debian_dockerd() {
    let e = Engine::start();
    let r = testbed::RefDockerd::start(Default::default());
    let tar = e.dir.path().join("bb.tar");
    testbed::busybox_tar(&tar);
    let config = e.dir.path().join("cli-config");
    let run = [
        "run",
        "--name",
        "gold",
        "--network",
        "none",
        "-e",
        "A=1",
        "-l",
        "k=v",
        "-w",
        "/tmp",
        "--log-opt",
        "max-size=1m",
        "busybox",
        "sh",
        "-c",
        // The sandbox's loopback is up (flags IFF_UP|IFF_LOOPBACK).
        "cat /sys/class/net/lo/flags; exit 3",
    ];
    let mut outputs = Vec::new();
    for host in [e.host(), r.host()] {
        let cli = |args: &[&str]| cli_141(&host, &config, args);
        cli(&["import", tar.to_str().unwrap(), "busybox:latest"]);
        let out = Command::new(common::CLI28)
            .env("DOCKER_HOST", &host)
            .env("DOCKER_CONFIG", &config)
            .env("DOCKER_API_VERSION", "1.41")
            .args(run)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "0x9\n", "{host}");
        outputs.push([
            ("container inspect", cli(&["inspect", "gold"])),
            (
                "image inspect",
                cli(&["image", "inspect", "busybox:latest"]),
            ),
            ("version", cli(&["version", "-f", "{{json .Server}}"])),
            ("info", cli(&["info", "-f", "{{json .}}"])),
        ]);
    }
    // The image was tagged by its import: a time, not Go's zero time.
    let image: Value = serde_json::from_str(&outputs[0][1].1).unwrap();
    let tagged = image[0]["Metadata"]["LastTagTime"].as_str().unwrap_or("");
    assert!(tagged.starts_with("20"), "LastTagTime {tagged:?}");
    let theirs = outputs.pop().unwrap();
    let ours = outputs.pop().unwrap();
    // Both daemons run Debian's containerd, runc and docker-init here: the parts they
    // report beside the engine, probed from those binaries, are the same.
    let parts = |version: &str| -> Vec<Value> {
        let v: Value = serde_json::from_str(version).unwrap();
        v["Components"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["Name"] != "Engine")
            .cloned()
            .collect()
    };
    // --network none still gets a sandbox, kept in inspect after the exit: a random
    // 64-hex id and a namespace file named after its first 12 digits.
    for (who, inspect) in [("ours", &ours[0].1), ("Debian's", &theirs[0].1)] {
        let v: Value = serde_json::from_str(inspect).unwrap();
        let id = v[0]["NetworkSettings"]["SandboxID"].as_str().unwrap_or("");
        let key = v[0]["NetworkSettings"]["SandboxKey"].as_str().unwrap_or("");
        assert!(
            id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{who} SandboxID {id:?}"
        );
        assert!(
            key.ends_with(&format!("/netns/{}", &id[..12])),
            "{who} SandboxKey {key:?} for SandboxID {id}"
        );
    }
    let debian_parts = parts(&theirs[2].1);
    assert_eq!(
        debian_parts.len(),
        3,
        "Debian's dockerd reports containerd, runc and docker-init: {debian_parts:?}"
    );
    assert_eq!(parts(&ours[2].1), debian_parts);
    let found: Vec<String> = ours
        .iter()
        .zip(&theirs)
        .flat_map(|((what, o), (_, t))| differences(what, o, t))
        .collect();
    assert!(
        found.is_empty(),
        "differences from Debian's dockerd:\n{}",
        found.join("\n")
    );
}

#[test]
fn debian_cli_20_runs_containers() {
    let e = Engine::start();
    assert!(
        std::path::Path::new(CLI20).exists(),
        "{CLI20} not found; install it with: apt-get install docker.io"
    );
    let tar = e.dir.path().join("bb.tar");
    testbed::busybox_tar(&tar);
    let out = e.cli(CLI20, &["import", tar.to_str().unwrap(), "busybox:latest"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = e.cli(CLI20, &["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hi\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = e.cli(CLI20, &["run", "--rm", "busybox", "sh", "-c", "exit 4"]);
    assert_eq!(out.status.code(), Some(4));
    let out = e.cli(CLI20, &["ps", "-aq"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
}
