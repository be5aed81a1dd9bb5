//! cgroup v2 for real on a hybrid host: each scenario runs in a private mount
//! namespace whose /sys/fs/cgroup is the host's cgroup2 hierarchy (no controller
//! is delegated there, so the freezer and membership work and resource limits
//! cannot). Debian's runc runs the same scenario as the peer.

mod common;

use std::path::Path;
use std::process::Command;

use common::{text, Bundle};

const DEBIAN_RUNC: &str = "/usr/sbin/runc";

/// Lifecycle with the v2 freezer; prints one line per observation.
const LIFECYCLE: &str = r#"
set -e
R=$1; ROOT=$2; ID=$3; CG=/sys/fs/cgroup$4
mount -t cgroup2 cgroup2 /sys/fs/cgroup
field() { "$R" --root "$ROOT" state "$ID" | sed -n "s/.*\"$1\": \"*\([a-z0-9]*\)\"*,*/\1/p"; }
"$R" --root "$ROOT" run -d "$ID" </dev/null >/dev/null 2>&1
pid=$(field pid)
echo "status $(field status)"
grep -qx "$pid" "$CG/cgroup.procs" && echo "init in cgroup.procs"
echo "ps $("$R" --root "$ROOT" ps --format json "$ID" | tr -d ' \n')" | sed "s/$pid/PID/"
"$R" --root "$ROOT" pause "$ID"
echo "paused: freeze $(cat $CG/cgroup.freeze), $(grep frozen $CG/cgroup.events)"
echo "status $(field status)"
"$R" --root "$ROOT" resume "$ID"
echo "resumed: freeze $(cat $CG/cgroup.freeze), $(grep frozen $CG/cgroup.events)"
echo "status $(field status)"
"$R" --root "$ROOT" kill "$ID" KILL
"$R" --root "$ROOT" delete -f "$ID"
test -e "$CG" && echo "cgroup left" || echo "cgroup removed"
"#;

fn in_cgroup2_ns(script: &str, runc: &Path, b: &Bundle, id: &str) -> std::process::Output {
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(runc)
        .arg(b.root.as_os_str())
        .arg(id)
        .arg(format!("/{}", b.cgroup_name()))
        .current_dir(b.path())
        .output()
        .unwrap()
}

fn debian_runc() -> &'static Path {
    assert!(
        Path::new(DEBIAN_RUNC).exists(),
        "{DEBIAN_RUNC} is missing: install the Debian package runc (the peer)"
    );
    Path::new(DEBIAN_RUNC)
}

#[test]
fn lifecycle_and_freezer_match_debian_runc() {
    let ours = Bundle::new(&["sleep", "1000"], |_| {});
    let o = in_cgroup2_ns(LIFECYCLE, &ours.runc, &ours, "v2-ours");
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let got = text(&o.stdout);
    assert_eq!(
        got,
        "status running\ninit in cgroup.procs\nps [PID]\n\
         paused: freeze 1, frozen 1\nstatus paused\n\
         resumed: freeze 0, frozen 0\nstatus running\ncgroup removed\n",
        "{}",
        text(&o.stderr)
    );
    assert!(ours.leftovers().is_empty(), "{:?}", ours.leftovers());

    let peer = Bundle::new(&["sleep", "1000"], |_| {});
    let o = in_cgroup2_ns(LIFECYCLE, debian_runc(), &peer, "v2-ref");
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    assert_eq!(text(&o.stdout), got, "Debian runc saw something else");
}

/// A limit whose controller is not delegated is refused with one line naming the
/// controller, and nothing is left behind.
#[test]
fn undelegated_controller_is_a_clear_error() {
    let b = Bundle::new(&["true"], |cfg| {
        cfg["linux"]["resources"]["memory"] = serde_json::json!({"limit": 67108864});
    });
    let script = r#"
mount -t cgroup2 cgroup2 /sys/fs/cgroup
"$1" --root "$2" run "$3" </dev/null
echo "exit $?"
test -e "/sys/fs/cgroup$4" && echo "cgroup left" || echo "cgroup removed"
test -e "$2/$3" && echo "state left" || echo "state removed"
"#;
    let o = in_cgroup2_ns(script, &b.runc, &b, "v2-mem");
    let out = text(&o.stdout);
    assert_eq!(out, "exit 1\ncgroup removed\nstate removed\n");
    let err = text(&o.stderr).replace("\\\"", "\"");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    assert!(
        err.contains(r#"cgroup v2 controller "memory" is not available"#)
            && err.contains("linux.resources.memory"),
        "{err}"
    );
    testbed::reap_zombies();
    assert!(b.leftovers().is_empty(), "{:?}", b.leftovers());
}

/// `--systemd-cgroup` without systemd: runc's one line, exit 1, nothing made.
#[test]
fn systemd_driver_without_systemd_is_refused() {
    assert!(
        !Path::new("/run/systemd/system").exists(),
        "this test needs a host without systemd as init"
    );
    let b = Bundle::new(&["true"], |cfg| {
        cfg["linux"]["cgroupsPath"] = serde_json::json!("system.slice:runc-test:sd");
    });
    let o = b.runc(&["--systemd-cgroup", "run", "sd"]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    assert!(
        err.contains("systemd not running on this host, cannot use systemd cgroups manager"),
        "{err}"
    );
    assert!(!b.root.join("sd").exists(), "state dir left");
    assert!(b.leftovers().is_empty(), "{:?}", b.leftovers());
    // Debian's runc words it the same way.
    let o = Command::new(debian_runc())
        .arg("--root")
        .arg(b.path().join("ref-state"))
        .args(["--systemd-cgroup", "run", "sd"])
        .current_dir(b.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert!(
        err.contains("systemd not running on this host, cannot use systemd cgroups manager"),
        "{err}"
    );
}

/// Device rules on v2 are an eBPF program on the container's cgroup: a node the
/// rules do not allow cannot be opened, one they allow can, and the standard nodes
/// stay usable. (The v1 devices cgroup of these processes allows everything, so
/// only the program can refuse.) Debian runc sees the same.
#[test]
fn device_rules_are_enforced_by_an_ebpf_program() {
    let script = r#"
mount -t cgroup2 cgroup2 /sys/fs/cgroup
"$1" --root "$2" run "$3" </dev/null
"#;
    let probe = "(head -c0 /dev/fuse && echo fuse opened) 2>&1; \
                 (echo x > /dev/null && echo null ok) 2>&1";
    let outputs = |runc: &Path, allow_fuse: bool| {
        let b = Bundle::new(&["sh", "-c", probe], |cfg| {
            cfg["linux"]["devices"] = serde_json::json!([
                {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}
            ]);
            if allow_fuse {
                cfg["linux"]["resources"]["devices"]
                    .as_array_mut()
                    .unwrap()
                    .push(serde_json::json!(
                        {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}
                    ));
            }
        });
        let o = in_cgroup2_ns(script, runc, &b, "dev");
        assert!(o.status.success(), "{}", text(&o.stderr));
        testbed::reap_zombies();
        assert!(b.leftovers().is_empty(), "{:?}", b.leftovers());
        text(&o.stdout)
    };
    let ours_runc = testbed::workspace_bin("runc");
    let denied = outputs(&ours_runc, false);
    assert_eq!(
        denied, "head: /dev/fuse: Operation not permitted\nnull ok\n",
        "denied"
    );
    let allowed = outputs(&ours_runc, true);
    assert!(
        !allowed.contains("Operation not permitted") && allowed.ends_with("null ok\n"),
        "allowed: {allowed:?}"
    );
    assert_eq!(outputs(debian_runc(), false), denied, "Debian runc, denied");
    assert_eq!(
        outputs(debian_runc(), true),
        allowed,
        "Debian runc, allowed"
    );
}
