//! `--systemd-cgroup` against a real systemd: Debian's systemd runs as pid 1 of a
//! private pid, mount and cgroup namespace (its own cgroup subtree in every
//! hierarchy, a private /run with its own D-Bus system bus), and the runtime runs
//! inside those namespaces, as on a host booted with systemd. The unit systemd
//! reports for our container is compared with the one Debian's runc 1.1 makes.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{text, Bundle};

const SYSTEMD: &str = "/lib/systemd/systemd";
const DEBIAN_RUNC: &str = "/usr/sbin/runc";
const SLICE: &str = "runc-test.slice";
/// Where systemd lays out `runc-test.slice` below its root.
const SLICE_PATH: &str = "runc.slice/runc-test.slice";

/// systemd as pid 1 of its own namespaces, with only dbus.socket/dbus.service and
/// an empty target as units; killed (with everything in its pid namespace) and
/// its cgroup subtrees removed on drop.
struct SystemdNs {
    name: String,
    unshare: Child,
    pid: i32,
    dir: tempfile::TempDir,
}

/// The cgroup hierarchies mounted under /sys/fs/cgroup and how to mount each again.
fn hierarchies() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        if !e.file_type().unwrap().is_dir() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let how = match name.as_str() {
            "unified" => "-t cgroup2 cgroup2".to_string(),
            "systemd" => "-t cgroup -o none,name=systemd cgroup".to_string(),
            other => format!("-t cgroup -o {other} cgroup"),
        };
        out.push((name, how));
    }
    out
}

impl SystemdNs {
    fn start() -> SystemdNs {
        for (path, package) in [
            (SYSTEMD, "systemd"),
            ("/usr/bin/dbus-daemon", "dbus-daemon"),
            ("/usr/bin/nsenter", "util-linux"),
            ("/usr/bin/unshare", "util-linux"),
        ] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: install the Debian package {package}"
            );
        }
        let name = format!("runc-systemd-{}", std::process::id());
        let dir = tempfile::Builder::new()
            .prefix("runc-systemd-")
            .tempdir_in("/tmp")
            .unwrap();
        let units = dir.path().join("units");
        std::fs::create_dir(&units).unwrap();
        std::fs::write(
            units.join("test.target"),
            "[Unit]\nDescription=runc test\nWants=dbus.socket dbus.service\n",
        )
        .unwrap();
        for unit in ["dbus.socket", "dbus.service"] {
            std::fs::copy(
                Path::new("/lib/systemd/system").join(unit),
                units.join(unit),
            )
            .unwrap();
        }
        let hier = hierarchies();
        let mut join = String::new();
        let mut mounts = String::from(
            "mount --make-rprivate / && mount -t tmpfs tmpfs /sys/fs/cgroup && \
             mount -t tmpfs tmpfs /run && ",
        );
        for (h, how) in &hier {
            let d = Path::new("/sys/fs/cgroup").join(h).join(&name);
            std::fs::create_dir_all(&d).unwrap();
            if h == "cpuset" {
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    let v = std::fs::read(Path::new("/sys/fs/cgroup/cpuset").join(f)).unwrap();
                    std::fs::write(d.join(f), v).unwrap();
                }
            }
            join.push_str(&format!("echo $$ > {}/cgroup.procs && ", d.display()));
            mounts.push_str(&format!(
                "mkdir /sys/fs/cgroup/{h} && mount {how} /sys/fs/cgroup/{h} && "
            ));
        }
        mounts.push_str(&format!(
            "exec env container=other SYSTEMD_UNIT_PATH={} {SYSTEMD} --system \
             --unit=test.target --log-target=console --log-level=notice",
            units.display()
        ));
        let log = std::fs::File::create(dir.path().join("systemd.log")).unwrap();
        let unshare = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{join} exec unshare --pid --fork --mount --cgroup --mount-proc sh -c \"$0\""
            ))
            .arg(&mounts)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut ns = SystemdNs {
            name,
            pid: 0,
            unshare,
            dir,
        };
        let children = format!("/proc/{0}/task/{0}/children", ns.unshare.id());
        testbed::wait_for("systemd to start", Duration::from_secs(20), || {
            ns.pid = std::fs::read_to_string(&children)
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse().ok())
                .unwrap_or(0);
            ns.pid != 0
                && std::fs::read_link(format!("/proc/{}/exe", ns.pid))
                    .is_ok_and(|e| e.ends_with("systemd"))
        });
        testbed::wait_for(
            "systemd on its D-Bus system bus",
            Duration::from_secs(30),
            || {
                ns.run(&["busctl", "--system", "status", "org.freedesktop.systemd1"])
                    .status
                    .success()
            },
        );
        ns
    }

    /// `args` run inside systemd's pid, mount and cgroup namespaces.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.pid.to_string(), "-m", "-p", "-C", "--"])
            .args(args)
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// `systemctl show` of `unit` as key to value; a key shown once per entry (as
    /// DeviceAllow is) has its values sorted and joined with "; ".
    fn show(&self, unit: &str) -> BTreeMap<String, String> {
        let o = self.run(&["systemctl", "show", "--no-pager", unit]);
        assert!(o.status.success(), "systemctl show: {}", text(&o.stderr));
        let mut all: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in text(&o.stdout).lines().filter_map(|l| l.split_once('=')) {
            all.entry(k.to_string()).or_default().push(v.to_string());
        }
        all.into_iter()
            .map(|(k, mut v)| {
                v.sort();
                (k, v.join("; "))
            })
            .collect()
    }

    /// A file in one of systemd's hierarchies.
    fn cgroup_file(&self, hierarchy: &str, rel: &str) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/root/sys/fs/cgroup/{hierarchy}/{rel}",
            self.pid
        ))
    }
}

impl Drop for SystemdNs {
    fn drop(&mut self) {
        if self.pid != 0 {
            // SAFETY: plain kill of the pid-namespace init we started.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
        }
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
        testbed::reap_zombies();
        for (h, _) in hierarchies() {
            let top = Path::new("/sys/fs/cgroup").join(h).join(&self.name);
            testbed::wait_for("the test's cgroups to go", Duration::from_secs(20), || {
                remove_cgroup_tree(&top);
                !top.exists()
            });
        }
        let _ = std::fs::read_to_string(self.dir.path().join("systemd.log"))
            .map(|l| eprintln!("systemd log:\n{l}"));
    }
}

fn remove_cgroup_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// What a unit made by a runtime looks like to systemd and in cgroupfs, after
/// create, after `update --pids-limit 30` and after delete.
struct Observed {
    after_create: BTreeMap<String, String>,
    memory_limit: String,
    pids_max: String,
    init_in_scope: bool,
    after_update: BTreeMap<String, String>,
    pids_max_updated: String,
    after_delete: BTreeMap<String, String>,
    dirs_left: Vec<PathBuf>,
}

/// `<runc> --root <root> --systemd-cgroup <args>`, run inside systemd's namespaces.
fn runtime(ns: &SystemdNs, runc: &Path, root: &Path, args: &[&str]) -> Command {
    let mut all = vec![
        runc.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
        "--systemd-cgroup",
    ];
    all.extend_from_slice(args);
    ns.cmd(&all)
}

fn drive(ns: &SystemdNs, runc: &Path, id: &str) -> Observed {
    let cgroups_path = format!("{SLICE}:runc:{id}");
    let b = Bundle::new(&["sleep", "1000"], |cfg| {
        cfg["linux"]["cgroupsPath"] = cgroups_path.clone().into();
        cfg["linux"]["resources"]["memory"] = serde_json::json!({"limit": 67108864});
        cfg["linux"]["resources"]["pids"] = serde_json::json!({"limit": 20});
        // Properties runc sets only when systemd is new enough (242 and 244).
        cfg["linux"]["resources"]["cpu"] =
            serde_json::json!({"quota": 100000, "period": 50000, "cpus": "0", "mems": "0"});
        cfg["annotations"] = serde_json::json!({
            "org.systemd.property.TimeoutStopSec": "7",
            "org.systemd.property.CollectMode": "'inactive-or-failed'",
        });
    });
    let root = b.path().join("state");
    let run = |args: &[&str]| -> Output { runtime(ns, runc, &root, args).output().unwrap() };
    let unit = format!("runc-{id}.scope");
    let scope = format!("{SLICE_PATH}/{unit}");

    let err = b.path().join("create.err");
    let status = runtime(
        ns,
        runc,
        &root,
        &["create", "--bundle", b.path().to_str().unwrap(), id],
    )
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&err).unwrap())
    .status()
    .unwrap();
    assert!(
        status.success(),
        "{} create: {}",
        runc.display(),
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    let after_create = ns.show(&unit);
    let memory_limit = std::fs::read_to_string(
        ns.cgroup_file("memory", &format!("{scope}/memory.limit_in_bytes")),
    )
    .unwrap_or_default();
    let pids_max = std::fs::read_to_string(ns.cgroup_file("pids", &format!("{scope}/pids.max")))
        .unwrap_or_default();
    let o = run(&["state", id]);
    assert!(o.status.success(), "state: {}", text(&o.stderr));
    let state: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let init = state["pid"].as_i64().unwrap().to_string();
    let procs = ns.run(&[
        "cat",
        &format!("/sys/fs/cgroup/systemd/{scope}/cgroup.procs"),
    ]);
    let init_in_scope = text(&procs.stdout).lines().any(|l| l == init);

    let o = run(&["update", "--pids-limit", "30", id]);
    assert!(o.status.success(), "update: {}", text(&o.stderr));
    let after_update = ns.show(&unit);
    let pids_max_updated =
        std::fs::read_to_string(ns.cgroup_file("pids", &format!("{scope}/pids.max")))
            .unwrap_or_default();

    let o = run(&["delete", "--force", id]);
    assert!(o.status.success(), "delete: {}", text(&o.stderr));
    let after_delete = ns.show(&unit);
    let dirs_left = ["memory", "pids", "systemd", "cpuset", "devices", "freezer"]
        .iter()
        .map(|h| ns.cgroup_file(h, &scope))
        .filter(|d| d.exists())
        .collect();
    Observed {
        after_create,
        memory_limit,
        pids_max,
        init_in_scope,
        after_update,
        pids_max_updated,
        after_delete,
        dirs_left,
    }
}

/// `create` with an annotation that names no property: exit code, stderr, and
/// whether a state dir or unit was left.
fn bad_annotation(ns: &SystemdNs, runc: &Path) -> (Option<i32>, String, bool) {
    let b = Bundle::new(&["true"], |cfg| {
        cfg["linux"]["cgroupsPath"] = format!("{SLICE}:runc:bad").into();
        cfg["annotations"] = serde_json::json!({"org.systemd.property.X1": "1"});
    });
    let root = b.path().join("state");
    let o = runtime(
        ns,
        runc,
        &root,
        &["create", "--bundle", b.path().to_str().unwrap(), "bad"],
    )
    .output()
    .unwrap();
    let left = root.join("bad").exists() || ns.show("runc-bad.scope")["LoadState"] != "not-found";
    (o.status.code(), text(&o.stderr), left)
}

/// The properties runc sets on its unit, as systemd reports them.
const COMPARED: &[&str] = &[
    "ActiveState",
    "Slice",
    "Delegate",
    "MemoryAccounting",
    "CPUAccounting",
    "BlockIOAccounting",
    "TasksAccounting",
    "MemoryLimit",
    "TasksMax",
    "CPUQuotaPerSecUSec",
    "CPUQuotaPeriodUSec",
    "AllowedCPUs",
    "AllowedMemoryNodes",
    "DefaultDependencies",
    "TimeoutStopUSec",
    "CollectMode",
    "DevicePolicy",
    "DeviceAllow",
];

fn pick(props: &BTreeMap<String, String>) -> BTreeMap<&'static str, String> {
    COMPARED
        .iter()
        .map(|k| (*k, props.get(*k).cloned().unwrap_or_default()))
        .collect()
}

#[test]
fn systemd_driver_makes_runcs_transient_scope_and_removes_it() {
    testbed::require_root();
    testbed::subreaper();
    let ns = SystemdNs::start();
    let (code, err, left) = bad_annotation(&ns, &testbed::workspace_bin("runc"));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("annotation org.systemd.property.X1 name incorrect: too short"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!left, "a bad annotation left a state dir or unit");
    let ours = drive(&ns, &testbed::workspace_bin("runc"), "ours");

    let p = &ours.after_create;
    assert_eq!(p["ActiveState"], "active", "{p:?}");
    assert_eq!(p["ControlGroup"], format!("/{SLICE_PATH}/runc-ours.scope"));
    assert_eq!(p["Slice"], SLICE);
    assert_eq!(p["Description"], "libcontainer container ours");
    assert_eq!(p["Delegate"], "yes");
    assert_eq!(p["MemoryLimit"], "67108864", "MemoryLimit set over D-Bus");
    assert_eq!(p["TasksMax"], "20", "TasksMax set over D-Bus");
    // systemd 252 is new enough for both version-gated groups of properties.
    assert_eq!(p["CPUQuotaPeriodUSec"], "50ms", "{p:?}");
    assert_eq!(p["CPUQuotaPerSecUSec"], "2s", "{p:?}");
    assert_eq!(p["AllowedCPUs"], "0", "{p:?}");
    assert_eq!(p["AllowedMemoryNodes"], "0", "{p:?}");
    assert_eq!(
        p["TimeoutStopUSec"], "7s",
        "org.systemd.property.TimeoutStopSec"
    );
    assert_eq!(p["CollectMode"], "inactive-or-failed");
    assert_eq!(p["DevicePolicy"], "strict", "device rules reached systemd");
    assert!(
        p["DeviceAllow"].contains("/dev/char/1:3 rwm"),
        "{}",
        p["DeviceAllow"]
    );
    assert_eq!(ours.memory_limit.trim(), "67108864");
    assert_eq!(ours.pids_max.trim(), "20");
    assert!(ours.init_in_scope, "the init is not in the scope");
    assert_eq!(
        ours.after_update["TasksMax"], "30",
        "update reached systemd"
    );
    assert_eq!(ours.pids_max_updated.trim(), "30");
    assert_eq!(
        ours.after_delete["LoadState"], "not-found",
        "the unit outlived delete: {:?}",
        ours.after_delete
    );
    assert!(ours.dirs_left.is_empty(), "{:?}", ours.dirs_left);

    assert!(
        Path::new(DEBIAN_RUNC).exists(),
        "{DEBIAN_RUNC} is missing: install the Debian package runc (the peer)"
    );
    let (peer_code, peer_err, _) = bad_annotation(&ns, Path::new(DEBIAN_RUNC));
    assert_eq!(peer_code, code);
    assert!(
        peer_err.contains("annotation org.systemd.property.X1 name incorrect: too short"),
        "Debian runc words it otherwise: {peer_err}"
    );
    let peer = drive(&ns, Path::new(DEBIAN_RUNC), "peer");
    assert_eq!(
        pick(&peer.after_create),
        pick(&ours.after_create),
        "the unit as systemd sees it, Debian runc vs ours"
    );
    assert_eq!(
        peer.after_create["Description"],
        "libcontainer container peer"
    );
    assert_eq!(pick(&peer.after_update), pick(&ours.after_update));
    assert_eq!(
        peer.after_delete["LoadState"],
        ours.after_delete["LoadState"]
    );
    assert_eq!(peer.memory_limit, ours.memory_limit);
    assert_eq!(peer.pids_max_updated, ours.pids_max_updated);
}
