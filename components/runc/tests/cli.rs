//! The runtime driven directly, as containerd's shim drives it: lifecycle verbs,
//! their JSON and exit codes (compared with Debian's runc 1.1 where the output is
//! deterministic), and bad input leaving nothing behind.

mod common;

use common::{text, Bundle};
use serde_json::Value;

const DEBIAN_RUNC: &str = "/usr/sbin/runc";

fn debian_runc() -> &'static str {
    assert!(
        std::path::Path::new(DEBIAN_RUNC).exists(),
        "{DEBIAN_RUNC} not found; install it with: apt-get install runc"
    );
    DEBIAN_RUNC
}

#[test]
fn version_stamp_has_runc_lines() {
    let b = Bundle::new(&["true"], |_| {});
    let o = b.runc(&["--version"]);
    assert!(o.status.success());
    let s = text(&o.stdout);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines[0], "runc version 1.1.12-compatible");
    assert!(lines[1].starts_with("commit: "), "{s}");
    assert!(lines[2].starts_with("spec: "), "{s}");
}

#[test]
fn run_foreground_returns_exit_code_and_output() {
    let b = Bundle::new(&["sh", "-c", "echo out; hostname; exit 7"], |_| {});
    let o = b.runc(&["run", "c1"]);
    assert_eq!(o.status.code(), Some(7), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "out\nrunc\n");
    // run without --keep removes the container.
    assert!(!b.root.join("c1").exists());
    assert!(b.leftovers().is_empty(), "{:?}", b.leftovers());
}

#[test]
fn lifecycle_create_start_exec_kill_delete() {
    let b = Bundle::new(&["sh", "-c", "echo started; exec sleep 1000"], |_| {});
    let pidfile = b.path().join("init.pid");
    let o = b
        .cmd(&[
            "create",
            "--bundle",
            b.path().to_str().unwrap(),
            "--pid-file",
            pidfile.to_str().unwrap(),
            "c2",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(b.path().join("c2.out")).unwrap())
        .stderr(std::fs::File::create(b.path().join("c2.err")).unwrap())
        .status()
        .unwrap();
    b.ids.borrow_mut().push("c2".into());
    assert!(o.success(), "create: {}", b.container_stderr("c2"));
    let st = b.state("c2");
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], "c2");
    let pid = st["pid"].as_i64().unwrap();
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        pid.to_string()
    );
    assert!(
        b.root.join("c2/exec.fifo").exists(),
        "runc's layout: exec.fifo while created"
    );
    // The init is in the container's group of every hierarchy, v1 and unified,
    // before it starts.
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = format!(":/{}", b.cgroup_name());
    assert!(
        cgroups.lines().count() > 1 && cgroups.lines().all(|l| l.ends_with(&want)),
        "{cgroups}"
    );
    assert_eq!(
        b.container_stdout("c2"),
        "",
        "the process must not run before start"
    );

    let o = b.runc(&["start", "c2"]);
    assert!(o.status.success(), "start: {}", text(&o.stderr));
    assert_eq!(b.state("c2")["status"], "running");
    testbed::wait_for(
        "container output",
        std::time::Duration::from_secs(10),
        || b.container_stdout("c2") == "started\n",
    );
    let o = b.runc(&["start", "c2"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("cannot start an already running container"));

    // exec in the foreground: output and exit status come back.
    let o = b.runc(&["exec", "c2", "sh", "-c", "echo $$ in $(hostname); exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).ends_with(" in runc\n"),
        "{}",
        text(&o.stdout)
    );
    // exec with a process.json, detached, with a pid file (the shim's way).
    let proc_json = serde_json::json!({
        "terminal": false, "user": {"uid": 1000, "gid": 1000}, "args": ["sleep", "999"],
        "env": ["PATH=/bin"], "cwd": "/tmp"
    });
    let pj = b.path().join("process.json");
    std::fs::write(&pj, proc_json.to_string()).unwrap();
    let epid = b.path().join("exec.pid");
    // The detached process keeps exec's stdio: give it files, not pipes.
    let o = b
        .cmd(&[
            "exec",
            "--process",
            pj.to_str().unwrap(),
            "--detach",
            "--pid-file",
            epid.to_str().unwrap(),
            "c2",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(b.path().join("exec.err")).unwrap())
        .status()
        .unwrap();
    assert!(
        o.success(),
        "exec -d: {}",
        std::fs::read_to_string(b.path().join("exec.err")).unwrap()
    );
    let exec_pid: i32 = std::fs::read_to_string(&epid)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let status = std::fs::read_to_string(format!("/proc/{exec_pid}/status")).unwrap();
    assert!(
        status.lines().any(|l| l.starts_with("Uid:\t1000\t")),
        "{status}"
    );
    let cgroups = std::fs::read_to_string(format!("/proc/{exec_pid}/cgroup")).unwrap();
    assert!(
        cgroups.lines().count() > 1 && cgroups.lines().all(|l| l.ends_with(&want)),
        "exec'd process: {cgroups}"
    );
    // ps --format json lists both processes.
    let o = b.runc(&["ps", "--format", "json", "c2"]);
    let pids: Vec<i64> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        pids.contains(&pid) && pids.contains(&(exec_pid as i64)),
        "{pids:?}"
    );

    // list shows it, json and quiet.
    let o = b.runc(&["list", "--format", "json"]);
    let list: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list[0]["id"], "c2");
    assert_eq!(list[0]["status"], "running");
    assert_eq!(text(&b.runc(&["list", "-q"]).stdout), "c2\n");

    // delete refuses a running container, kill stops it, then delete works.
    let o = b.runc(&["delete", "c2"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("cannot delete container c2 that is not stopped: running"));
    let o = b.runc(&["kill", "c2", "KILL"]);
    assert!(o.status.success(), "kill: {}", text(&o.stderr));
    testbed::reap_zombies();
    b.wait_status("c2", "stopped");
    assert_eq!(b.state("c2")["pid"], 0);
    let o = b.runc(&["delete", "c2"]);
    assert!(o.status.success(), "delete: {}", text(&o.stderr));
    assert!(!b.root.join("c2").exists());
    testbed::reap_zombies();
    assert!(b.leftovers().is_empty(), "{:?}", b.leftovers());
    assert_eq!(
        text(&b.runc(&["list", "--format", "json"]).stdout),
        "null\n"
    );
}

#[test]
fn state_json_has_the_keys_debian_runc_prints() {
    let b = Bundle::new(&["sleep", "1000"], |_| {});
    assert!(b.create("ours").status.success());
    let ours = b.state("ours");
    // The same rootfs under Debian's runc 1.1, in its own bundle and cgroup.
    let theirs_bundle = b.path().join("theirs-bundle");
    std::fs::create_dir(&theirs_bundle).unwrap();
    let mut cfg = b.config();
    cfg["root"]["path"] = Value::from(b.path().join("rootfs").to_str().unwrap());
    cfg["linux"]["cgroupsPath"] = Value::from(format!("/{}-theirs", b.cgroup_name()));
    std::fs::write(theirs_bundle.join("config.json"), cfg.to_string()).unwrap();
    let theirs_root = b.path().join("theirs-root");
    let debian = |args: &[&str]| {
        std::process::Command::new(debian_runc())
            .arg("--root")
            .arg(&theirs_root)
            .args(args)
            .stdin(std::process::Stdio::null())
            // A created container keeps the stdio of create: files, not pipes.
            .stdout(std::fs::File::create(theirs_root.with_extension("out")).unwrap())
            .stderr(std::fs::File::create(theirs_root.with_extension("err")).unwrap())
            .status()
            .unwrap()
    };
    let created = debian(&[
        "create",
        "--bundle",
        theirs_bundle.to_str().unwrap(),
        "theirs",
    ]);
    let err = std::fs::read_to_string(theirs_root.with_extension("err")).unwrap_or_default();
    let st = std::process::Command::new(debian_runc())
        .arg("--root")
        .arg(&theirs_root)
        .args(["state", "theirs"])
        .output()
        .unwrap();
    let _ = debian(&["delete", "--force", "theirs"]);
    assert!(created.success(), "debian runc create: {err}");
    let theirs: Value = serde_json::from_slice(&st.stdout).unwrap();
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&ours), keys(&theirs));
    assert_eq!(ours["status"], theirs["status"]);
    assert_eq!(ours["ociVersion"], theirs["ociVersion"]);
    assert_eq!(ours["rootfs"], theirs["rootfs"]);
}

#[test]
fn pause_resume_and_events_stats() {
    let b = Bundle::new(&["sleep", "1000"], |cfg| {
        cfg["linux"]["resources"]["memory"] = serde_json::json!({"limit": 64 << 20});
        cfg["linux"]["resources"]["pids"] = serde_json::json!({"limit": 20});
    });
    assert!(b.create("c3").status.success());
    assert!(b.runc(&["start", "c3"]).status.success());
    assert!(b.runc(&["pause", "c3"]).status.success());
    assert_eq!(b.state("c3")["status"], "paused");
    let name = b.cgroup_name();
    let freezer =
        std::fs::read_to_string(format!("/sys/fs/cgroup/freezer/{name}/freezer.state")).unwrap();
    assert_eq!(freezer.trim(), "FROZEN");
    assert!(b.runc(&["resume", "c3"]).status.success());
    assert_eq!(b.state("c3")["status"], "running");
    let o = b.runc(&["resume", "c3"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("container not paused"));

    let o = b.runc(&["events", "--stats", "c3"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let ev: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], "c3");
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 64 << 20);
    assert_eq!(ev["data"]["pids"]["current"], 1);
    assert_eq!(ev["data"]["pids"]["limit"], 20);
    assert!(ev["data"]["cpu"]["usage"]["total"].as_u64().unwrap() > 0);

    // update from flags and from stdin.
    let o = b.runc(&["update", "--memory", "32m", "--pids-limit", "10", "c3"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let lim = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/memory/{name}/memory.limit_in_bytes"
    ))
    .unwrap();
    assert_eq!(lim.trim(), (32u64 << 20).to_string());
    let mut c = b.cmd(&["update", "-r", "-", "c3"]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"pids":{"limit":5}}"#)
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let pmax = std::fs::read_to_string(format!("/sys/fs/cgroup/pids/{name}/pids.max")).unwrap();
    assert_eq!(pmax.trim(), "5");
    assert!(b.runc(&["delete", "--force", "c3"]).status.success());
    testbed::reap_zombies();
    assert!(b.leftovers().is_empty(), "{:?}", b.leftovers());
}

/// `delete --force` while an `exec -d` process is an unreaped zombie of the caller
/// (we are its subreaper): the pid namespace's init, killed, cannot finish exiting
/// until we reap that zombie, and we cannot while we wait for delete. Delete must
/// return anyway once nothing in the container is alive, and leave nothing.
#[test]
fn delete_force_returns_while_an_exec_zombie_is_unreaped() {
    let b = Bundle::new(&["sleep", "1000"], |_| {});
    let o = b.create("z");
    assert!(o.status.success(), "create: {}", text(&o.stderr));
    let o = b.runc(&["start", "z"]);
    assert!(o.status.success(), "start: {}", text(&o.stderr));
    let o = b
        .cmd(&["exec", "-d", "z", "sleep", "999"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(o.success(), "exec -d");
    let mut delete = b
        .cmd(&["delete", "--force", "z"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(b.path().join("delete.err")).unwrap())
        .spawn()
        .unwrap();
    // Waiting for this one child reaps nothing else.
    let mut status = None;
    testbed::wait_for(
        "delete --force to return with the exec'd zombie unreaped",
        std::time::Duration::from_secs(5),
        || {
            status = delete.try_wait().unwrap();
            status.is_some()
        },
    );
    assert!(
        status.unwrap().success(),
        "delete: {}",
        std::fs::read_to_string(b.path().join("delete.err")).unwrap()
    );
    assert!(!b.root.join("z").exists(), "state dir left");
    // Nothing alive, no cgroup, no mount, even before we reap.
    assert!(b.leftovers().is_empty(), "{:?}", b.leftovers());
    testbed::reap_zombies();
}

#[test]
fn kill_all_signals_every_process() {
    let b = Bundle::new(&["sh", "-c", "sleep 1000 & sleep 1000 & wait"], |_| {});
    assert!(b.create("c4").status.success());
    assert!(b.runc(&["start", "c4"]).status.success());
    testbed::wait_for(
        "three processes",
        std::time::Duration::from_secs(10),
        || {
            let o = b.runc(&["ps", "--format", "json", "c4"]);
            serde_json::from_slice::<Vec<i64>>(&o.stdout)
                .map(|p| p.len())
                .unwrap_or(0)
                == 3
        },
    );
    let o = b.runc(&["kill", "--all", "c4", "9"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    testbed::reap_zombies();
    b.wait_status("c4", "stopped");
    assert!(b.runc(&["delete", "c4"]).status.success());
}

#[test]
fn hooks_run_with_state_on_stdin() {
    let b = Bundle::new(&["true"], |_| {});
    let log = b.path().join("hooks.log");
    let hook = |name: &str| {
        serde_json::json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("read s; echo {name} \"$s\" >> {}", log.display())]
        })
    };
    let mut cfg = b.config();
    cfg["hooks"] = serde_json::json!({
        "prestart": [hook("prestart")],
        "createRuntime": [hook("createRuntime")],
        "poststart": [hook("poststart")],
        "poststop": [hook("poststop")],
    });
    std::fs::write(b.path().join("config.json"), cfg.to_string()).unwrap();
    assert!(
        b.create("c5").status.success(),
        "{}",
        text(&b.create("x").stderr)
    );
    assert!(b.runc(&["start", "c5"]).status.success());
    testbed::reap_zombies();
    b.wait_status("c5", "stopped");
    assert!(b.runc(&["delete", "c5"]).status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let names: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        names,
        ["prestart", "createRuntime", "poststart", "poststop"]
    );
    let first: Value =
        serde_json::from_str(text.lines().next().unwrap().split_once(' ').unwrap().1).unwrap();
    assert_eq!(first["id"], "c5");
    assert!(first["pid"].as_i64().unwrap() > 0);
}

/// The `msg` of a runtime's logrus-style error line.
fn error_msg(stderr: &[u8]) -> String {
    let line = text(stderr);
    line.split_once("msg=")
        .map_or(line.clone(), |(_, m)| m.trim().to_string())
}

/// `create` of `b` as `id` by Debian's runc, in its own state root: its error line.
fn peer_create_error(b: &Bundle, id: &str) -> String {
    let o = std::process::Command::new(debian_runc())
        .arg("--root")
        .arg(b.path().join("peer-state"))
        .args(["create", "--bundle", b.path().to_str().unwrap(), id])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "Debian runc: {}", text(&o.stderr));
    error_msg(&o.stderr)
}

#[test]
fn failing_hook_fails_create_and_cleans_up() {
    let b = Bundle::new(&["true"], |cfg| {
        cfg["hooks"] = serde_json::json!({"prestart": [
            {"path": "/bin/sh", "args": ["sh", "-c", "echo out; echo err >&2; exit 3"]}
        ]});
    });
    let o = b.create("c6");
    assert_eq!(o.status.code(), Some(1));
    let msg = error_msg(&o.stderr);
    assert_eq!(
        msg,
        "\"runc create failed: unable to start container process: error during container init: \
         error running hook #0: error running hook: exit status 3, stdout: out\\n, stderr: err\\n\""
    );
    assert!(!b.root.join("c6").exists());
    testbed::reap_zombies();
    assert!(b.leftovers().is_empty(), "{:?}", b.leftovers());
    assert_eq!(
        peer_create_error(&b, "c6"),
        msg,
        "Debian runc words it otherwise"
    );
}

/// A hook that writes more than a pipe holds runs to its end; one that outlives its
/// timeout is killed and fails create with runc's words.
#[test]
fn hook_output_is_drained_and_timeout_kills() {
    let b = Bundle::new(&["true"], |cfg| {
        cfg["hooks"] = serde_json::json!({"prestart": [
            {"path": "/bin/sh", "args": ["sh", "-c", "head -c 300000 /dev/zero"]},
            {"path": "/bin/sh", "args": ["sh", "-c", "exec sleep 60"], "timeout": 1}
        ]});
    });
    let mut create = b
        .cmd(&["create", "--bundle", b.path().to_str().unwrap(), "c9"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(b.path().join("c9.err")).unwrap())
        .spawn()
        .unwrap();
    let mut status = None;
    testbed::wait_for(
        "create to return",
        std::time::Duration::from_secs(30),
        || {
            status = create.try_wait().unwrap();
            status.is_some()
        },
    );
    assert_eq!(status.unwrap().code(), Some(1));
    let msg = error_msg(&std::fs::read(b.path().join("c9.err")).unwrap());
    assert_eq!(
        msg,
        "\"runc create failed: unable to start container process: error during container init: \
         error running hook #1: hook ran past specified timeout of 1.0s\""
    );
    assert!(!b.root.join("c9").exists());
    testbed::reap_zombies();
    assert!(b.leftovers().is_empty(), "{:?}", b.leftovers());
    assert_eq!(
        peer_create_error(&b, "c9"),
        msg,
        "Debian runc words it otherwise"
    );
}

#[test]
fn capabilities_user_and_rlimits_apply() {
    let b = Bundle::new(
        &[
            "sh",
            "-c",
            "grep -E '^Cap(Eff|Bnd)' /proc/self/status; id -u; id -G; ulimit -n; umask",
        ],
        |cfg| {
            cfg["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1000, "additionalGids": [65534], "umask": 63});
            cfg["process"]["capabilities"] = serde_json::json!({
                "bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
                "ambient": ["CAP_KILL"], "inheritable": ["CAP_KILL"]
            });
            cfg["process"]["rlimits"] =
                serde_json::json!([{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}]);
        },
    );
    let o = b.runc(&["run", "c7"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    // CAP_KILL = bit 5, CAP_CHOWN = bit 0.
    assert!(out.contains("CapEff:\t0000000000000020"), "{out}");
    assert!(out.contains("CapBnd:\t0000000000000021"), "{out}");
    assert!(out.contains("\n1000\n1000 65534\n256\n0077\n"), "{out}");
}

#[test]
fn terminal_through_console_socket() {
    use std::os::fd::AsRawFd;
    let b = Bundle::new(&["sh", "-c", "tty; echo done"], |cfg| {
        cfg["process"]["terminal"] = Value::Bool(true);
    });
    let sock = b.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let o = b.runc(&[
        "create",
        "--bundle",
        b.path().to_str().unwrap(),
        "--console-socket",
        sock.to_str().unwrap(),
        "c8",
    ]);
    b.ids.borrow_mut().push("c8".into());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let (conn, _) = listener.accept().unwrap();
    let (_, master) = common::recv_with_fd(conn.as_raw_fd());
    assert!(b.runc(&["start", "c8"]).status.success());
    let mut f = std::fs::File::from(master);
    let mut out = String::new();
    use std::io::Read;
    let mut buf = [0u8; 256];
    while !out.contains("done") {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(out.starts_with("/dev/pts/0\r\n"), "{out:?}");
}

#[test]
fn seccomp_errno_rule_applies() {
    let b = Bundle::new(
        &["sh", "-c", "mkdir /tmp/x && echo made || echo denied"],
        |cfg| {
            cfg["linux"]["seccomp"] = serde_json::json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
            });
        },
    );
    let o = b.runc(&["run", "c9"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "denied\n");
}

#[test]
fn user_namespace_with_id_maps() {
    let b = Bundle::new(&["sh", "-c", "cat /proc/self/uid_map; id -u"], |cfg| {
        let ns = cfg["linux"]["namespaces"].as_array_mut().unwrap();
        ns.push(serde_json::json!({"type": "user"}));
        cfg["linux"]["uidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        cfg["linux"]["gidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    // The rootfs must be reachable by the mapped root.
    let o = std::process::Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(b.path().join("rootfs"))
        .status()
        .unwrap();
    assert!(o.success());
    let o = b.runc(&["run", "c10"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let first: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(first, ["0", "100000", "65536"]);
    assert!(out.ends_with("\n0\n"), "{out}");
}

#[test]
fn join_network_namespace_by_path() {
    let a = Bundle::new(&["sleep", "1000"], |_| {});
    assert!(a.create("holder").status.success());
    let pid = a.state("holder")["pid"].as_i64().unwrap();
    let b = Bundle::new(&["readlink", "/proc/self/ns/net"], |cfg| {
        for ns in cfg["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "network" {
                ns["path"] = Value::from(format!("/proc/{pid}/ns/net"));
            }
        }
    });
    let o = b.runc(&["run", "joiner"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_eq!(text(&o.stdout).trim(), theirs.to_string_lossy());
}

#[test]
fn features_and_spec() {
    let b = Bundle::new(&["true"], |_| {});
    let o = b.runc(&["features"]);
    assert!(o.status.success());
    let f: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(f["ociVersionMin"], "1.0.0");
    assert!(f["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .contains(&Value::from("user")));
    // spec refuses to overwrite, like runc.
    let o = b.runc(&["spec", "--bundle", b.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("File config.json exists. Remove it first"));
    // Our default spec and Debian runc's agree on the essentials.
    let dir = tempfile::tempdir().unwrap();
    let st = std::process::Command::new(debian_runc())
        .args(["spec", "--bundle"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    let theirs: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    let st = std::process::Command::new(&b.runc)
        .args(["spec", "--bundle"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    let ours: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(ours, theirs, "runc spec");
    for (name, spec) in [("ours", &ours), ("Debian's", &theirs)] {
        let keys: Vec<&String> = spec.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "ociVersion",
                "process",
                "root",
                "hostname",
                "mounts",
                "linux"
            ],
            "{name}"
        );
    }
    // And the rootless one.
    let rootless = |runc: &std::path::Path| -> Value {
        let dir = tempfile::tempdir().unwrap();
        let st = std::process::Command::new(runc)
            .args(["spec", "--rootless", "--bundle"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(st.success());
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap()
    };
    assert_eq!(
        rootless(&b.runc),
        rootless(std::path::Path::new(debian_runc())),
        "runc spec --rootless"
    );
}

#[test]
fn checkpoint_without_criu_is_a_clear_error() {
    let b = Bundle::new(&["true"], |_| {});
    let o = b
        .cmd(&["checkpoint", "x"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = text(&o.stderr);
    assert!(
        e.contains("criu") && e.contains("executable file not found"),
        "{e}"
    );
}
