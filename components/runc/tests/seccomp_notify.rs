//! `SCMP_ACT_NOTIFY` with `listenerPath`: the listener receives the notify fd over
//! SCM_RIGHTS together with runtime-spec's `ContainerProcessState`, answers the
//! container's trapped syscall itself, and the container sees that answer. Debian's
//! runc 1.1 runs the same scenario against the same kind of listener as the peer.

mod common;

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{recv_with_fd, text, Bundle};
use serde_json::Value;

const DEBIAN_RUNC: &str = "/usr/sbin/runc";

/// struct seccomp_notif (80 bytes) and struct seccomp_notif_resp (24 bytes).
#[repr(C)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    nr: i32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}

#[repr(C)]
struct NotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

// _IOWR('!', 0, struct seccomp_notif) and _IOWR('!', 1, struct seccomp_notif_resp).
const NOTIF_RECV: libc::c_ulong = 0xC050_2100;
const NOTIF_SEND: libc::c_ulong = 0xC018_2101;

/// Accept one runtime, take its notify fd and state, answer one trapped syscall
/// with EXDEV; returns the state and the trapped syscall number.
fn listen_once(listener: UnixListener) -> std::thread::JoinHandle<(Value, i32)> {
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let (payload, fd) = recv_with_fd(conn.as_raw_fd());
        let state: Value = serde_json::from_slice(&payload).unwrap();
        // SAFETY: zeroed Notif is what SECCOMP_IOCTL_NOTIF_RECV requires.
        let mut req: Notif = unsafe { std::mem::zeroed() };
        // SAFETY: valid notify fd and a buffer of the size encoded in the request.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_RECV, &mut req) };
        assert_eq!(rc, 0, "NOTIF_RECV: {}", std::io::Error::last_os_error());
        let resp = NotifResp {
            id: req.id,
            val: 0,
            error: -libc::EXDEV,
            flags: 0,
        };
        // SAFETY: as above, for the response.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_SEND, &resp) };
        assert_eq!(rc, 0, "NOTIF_SEND: {}", std::io::Error::last_os_error());
        (state, req.nr)
    })
}

fn bundle(dir_name: &str) -> (Bundle, std::path::PathBuf) {
    let sock = std::path::PathBuf::from(format!("/tmp/{dir_name}-{}.sock", std::process::id()));
    let path = sock.clone();
    let b = Bundle::new(
        &["sh", "-c", "mkdir /tmp/notified 2>&1; echo rc=$?"],
        move |cfg| {
            cfg["linux"]["seccomp"] = serde_json::json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64"],
                "listenerPath": path,
                "listenerMetadata": "test-meta",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
            });
        },
    );
    (b, sock)
}

/// Run the bundle with `runc` (ours or the peer) against a fresh listener.
fn run_with_listener(runc: &Path, b: &Bundle, sock: &Path, id: &str) -> (String, Value, i32) {
    let _ = std::fs::remove_file(sock);
    let handle = listen_once(UnixListener::bind(sock).unwrap());
    let o = Command::new(runc)
        .arg("--root")
        .arg(b.path().join(format!("state-{id}")))
        .args(["run", id])
        .current_dir(b.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = std::fs::remove_file(sock);
    assert!(
        o.status.success(),
        "{}: {}",
        runc.display(),
        text(&o.stderr)
    );
    let (state, nr) = handle.join().unwrap();
    (text(&o.stdout), state, nr)
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn listener_gets_the_fd_and_state_and_answers_for_the_kernel() {
    let (b, sock) = bundle("notify-ours");
    let (out, state, nr) = run_with_listener(&b.runc, &b, &sock, "notify1");
    assert_eq!(nr, libc::SYS_mkdir as i32, "trapped syscall");
    assert_eq!(
        out,
        "mkdir: can't create directory '/tmp/notified': Invalid cross-device link\nrc=1\n"
    );
    assert_eq!(state["fds"], serde_json::json!(["seccompFd"]));
    assert_eq!(state["metadata"], "test-meta");
    assert_eq!(state["state"]["id"], "notify1");
    assert_eq!(state["state"]["status"], "creating");
    assert_eq!(state["state"]["bundle"], b.path().to_str().unwrap());
    let pid = state["pid"].as_i64().unwrap();
    assert!(pid > 1, "the host pid of the init, got {pid}");
    assert_eq!(state["state"]["pid"], pid);
    testbed::reap_zombies();
    assert!(b.leftovers().is_empty(), "{:?}", b.leftovers());

    assert!(
        Path::new(DEBIAN_RUNC).exists(),
        "{DEBIAN_RUNC} is missing: install the Debian package runc (the peer)"
    );
    let (peer, sock) = bundle("notify-ref");
    let (ref_out, ref_state, ref_nr) =
        run_with_listener(Path::new(DEBIAN_RUNC), &peer, &sock, "notify1");
    assert_eq!(ref_nr, nr);
    assert_eq!(
        ref_out, out,
        "the container saw something else under Debian runc"
    );
    assert_same_process_state(&ref_state, &state);
}

/// The ContainerProcessState Debian runc and ours send agree in keys, fds and status.
fn assert_same_process_state(reference: &Value, ours: &Value) {
    assert_eq!(keys(reference), keys(ours), "ContainerProcessState keys");
    assert_eq!(
        keys(&reference["state"]),
        keys(&ours["state"]),
        "state keys"
    );
    assert_eq!(reference["fds"], ours["fds"]);
    assert_eq!(reference["state"]["status"], ours["state"]["status"]);
}

/// Accept the init's connection (kept, its filter never fires) and then the exec'd
/// process's; answer that one's trapped syscall with EXDEV. Returns both states and
/// the trapped syscall number.
fn listen_init_then_exec(listener: UnixListener) -> std::thread::JoinHandle<(Value, Value, i32)> {
    std::thread::spawn(move || {
        let (init_conn, _) = accept_within(&listener, "the init");
        let (init_payload, _init_fd) = recv_with_fd(init_conn.as_raw_fd());
        let (conn, _) = accept_within(&listener, "the exec'd process");
        let (payload, fd) = recv_with_fd(conn.as_raw_fd());
        let nr = answer_one(&fd, -libc::EXDEV);
        (
            serde_json::from_slice(&init_payload).unwrap(),
            serde_json::from_slice(&payload).unwrap(),
            nr,
        )
    })
}

/// Accept a connection, failing (not hanging) when the runtime never connects.
fn accept_within(
    listener: &UnixListener,
    from: &str,
) -> (
    std::os::unix::net::UnixStream,
    std::os::unix::net::SocketAddr,
) {
    let mut pfd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, 30_000) };
    assert_eq!(n, 1, "the listener got no connection from {from}");
    listener.accept().unwrap()
}

/// Take one notification from `fd` and fail the syscall with `error`.
fn answer_one(fd: &OwnedFd, error: i32) -> i32 {
    // SAFETY: zeroed Notif is what SECCOMP_IOCTL_NOTIF_RECV requires.
    let mut req: Notif = unsafe { std::mem::zeroed() };
    // SAFETY: valid notify fd and a buffer of the size encoded in the request.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_RECV, &mut req) };
    assert_eq!(rc, 0, "NOTIF_RECV: {}", std::io::Error::last_os_error());
    let resp = NotifResp {
        id: req.id,
        val: 0,
        error,
        flags: 0,
    };
    // SAFETY: as above, for the response.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_SEND, &resp) };
    assert_eq!(rc, 0, "NOTIF_SEND: {}", std::io::Error::last_os_error());
    req.nr
}

/// create + start a `sleep` init with `runc`, then exec a process that mkdirs; the
/// listener answers for the exec'd process. Returns the exec output, the init's and
/// the exec'd process's ContainerProcessState, the trapped syscall and the init pid.
fn exec_with_listener(runc: &Path, dir_name: &str, id: &str) -> (String, Value, Value, i32, i64) {
    let sock = std::path::PathBuf::from(format!("/tmp/{dir_name}-{}.sock", std::process::id()));
    let path = sock.clone();
    let mut b = Bundle::new(&["sleep", "1000"], move |cfg| {
        cfg["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "listenerPath": path,
            "listenerMetadata": "exec-meta",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
        });
    });
    b.runc = runc.to_path_buf();
    let _ = std::fs::remove_file(&sock);
    let handle = listen_init_then_exec(UnixListener::bind(&sock).unwrap());
    let o = b.create(id);
    assert!(
        o.status.success(),
        "{} create: {}",
        runc.display(),
        text(&o.stderr)
    );
    let o = b.runc(&["start", id]);
    assert!(
        o.status.success(),
        "{} start: {}",
        runc.display(),
        text(&o.stderr)
    );
    let init_pid = b.state(id)["pid"].as_i64().unwrap();
    let exec = b.runc(&[
        "exec",
        id,
        "sh",
        "-c",
        "mkdir /tmp/notified 2>&1; echo rc=$?",
    ]);
    let _ = std::fs::remove_file(&sock);
    assert!(
        exec.status.success(),
        "{} exec: {}",
        runc.display(),
        text(&exec.stderr)
    );
    let (init_state, exec_state, nr) = handle.join().unwrap();
    let o = b.runc(&["delete", "--force", id]);
    assert!(
        o.status.success(),
        "{} delete: {}",
        runc.display(),
        text(&o.stderr)
    );
    testbed::reap_zombies();
    assert!(b.leftovers().is_empty(), "{:?}", b.leftovers());
    (text(&exec.stdout), init_state, exec_state, nr, init_pid)
}

#[test]
fn exec_sends_its_own_notify_fd_and_state_to_the_listener() {
    let runc = testbed::workspace_bin("runc");
    let (out, init_state, state, nr, init_pid) = exec_with_listener(&runc, "notify-exec", "nexec1");
    assert_eq!(nr, libc::SYS_mkdir as i32, "trapped syscall");
    assert_eq!(
        out,
        "mkdir: can't create directory '/tmp/notified': Invalid cross-device link\nrc=1\n"
    );
    assert_eq!(init_state["state"]["status"], "creating");
    assert_eq!(state["fds"], serde_json::json!(["seccompFd"]));
    assert_eq!(state["metadata"], "exec-meta");
    assert_eq!(state["state"]["id"], "nexec1");
    assert_eq!(state["state"]["status"], "running");
    assert_eq!(state["state"]["pid"], init_pid, "the state names the init");
    let pid = state["pid"].as_i64().unwrap();
    assert!(
        pid > 1 && pid != init_pid,
        "the exec'd process's host pid, got {pid}"
    );

    assert!(
        Path::new(DEBIAN_RUNC).exists(),
        "{DEBIAN_RUNC} is missing: install the Debian package runc (the peer)"
    );
    let (ref_out, ref_init, ref_state, ref_nr, ref_init_pid) =
        exec_with_listener(Path::new(DEBIAN_RUNC), "notify-exec-ref", "nexec1");
    assert_eq!(ref_nr, nr);
    assert_eq!(
        ref_out, out,
        "the exec'd process saw something else under Debian runc"
    );
    assert_same_process_state(&ref_state, &state);
    assert_eq!(ref_init["state"]["status"], init_state["state"]["status"]);
    assert_eq!(
        ref_state["state"]["pid"], ref_init_pid,
        "Debian names the init too"
    );
    assert_ne!(ref_state["pid"].as_i64().unwrap(), ref_init_pid);
}
