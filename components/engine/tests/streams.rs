//! Attached streams with the real CLIs: `run -i` and `exec -i` with piped stdin and its
//! end, `attach` demultiplexing stdout and stderr, and the daemon's own detach-key handling on a hijacked connection.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{Engine, Pty, RawHttp, CLI20, CLI28};

fn run_with_stdin(e: &Engine, cli: &str, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = Command::new(cli)
        .env("DOCKER_HOST", e.host())
        .env("DOCKER_CONFIG", e.dir.path().join("cli-config"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// The CLI attaches before it starts the container and sends input and its end at
/// once: both must reach the process (the end through the shim's CloseIO).
#[test]
fn run_i_and_exec_i_feed_piped_stdin_and_its_end() {
    let e = Engine::start();
    e.import_busybox("busybox:latest");
    for cli in [CLI28, CLI20] {
        let out = run_with_stdin(
            &e,
            cli,
            &[
                "run",
                "-i",
                "--rm",
                "busybox",
                "sh",
                "-c",
                "wc -l; echo done >&2; exit 4",
            ],
            b"one\ntwo\nthree\n",
        );
        assert_eq!(out.status.code(), Some(4), "{cli}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3", "{cli}");
        assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "done", "{cli}");
    }
    e.ok(&["run", "-d", "--name", "ex", "busybox", "sleep", "100000"]);
    let out = run_with_stdin(&e, CLI28, &["exec", "-i", "ex", "wc", "-l"], b"a\nb\n");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2", "{out:?}");
}

#[test]
fn attach_splits_stdout_and_stderr_and_returns_the_exit_code() {
    let e = Engine::start();
    e.import_busybox("busybox:latest");
    e.ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "att",
        "busybox",
        "sh",
        "-c",
        "read l; echo out:$l; echo err:$l >&2; exit 3",
    ]);
    let out = run_with_stdin(&e, CLI28, &["attach", "att"], b"hello\n");
    assert_eq!(out.status.code(), Some(3), "{out:?}\n{}", e.log());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out:hello\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err:hello\n");
}

#[test]
fn run_it_on_a_terminal_and_detach_with_ctrl_p_ctrl_q() {
    let e = Engine::start();
    e.import_busybox("busybox:latest");
    let mut t = Pty::spawn(
        &e,
        CLI28,
        &["run", "-it", "--name", "tty1", "busybox", "sh"],
    );
    t.expect("# ");
    t.send(b"echo sum-$((40+2))\r");
    t.expect("sum-42");
    // The terminal is a real one inside: sh sees a tty.
    t.send(b"[ -t 0 ] && echo is-a-$((0))tty\r");
    t.expect("is-a-0tty");
    t.send(b"\x10\x11");
    let code = t.wait();
    assert_eq!(code, 0, "run -it after ctrl-p ctrl-q:\n{:?}", t.seen);
    let running = || e.inspect("tty1", "{{.State.Running}}");
    assert_eq!(
        running(),
        "true",
        "the container must keep running after a detach"
    );
    // The shell is still there, its terminal too: attach again, and detach again.
    let mut t = Pty::spawn(&e, CLI28, &["attach", "tty1"]);
    t.send(b"echo back-$((6*7))\r");
    t.expect("back-42");
    t.send(b"\x10\x11");
    // The CLI's attach reports the detach as an error, exit 1, with Debian's dockerd too.
    assert_eq!(t.wait(), 1, "attach after a detach:\n{:?}", t.seen);
    assert!(t.seen.contains("read escape sequence"), "{:?}", t.seen);
    assert_eq!(running(), "true");
    // exec into the detached container, with a terminal and without.
    let out = e.ok(&["exec", "tty1", "echo", "exec-ok"]);
    assert_eq!(out.trim(), "exec-ok");
    let mut t = Pty::spawn(&e, CLI28, &["exec", "-it", "tty1", "sh"]);
    t.expect("# ");
    t.send(b"echo in-exec-$((5+5)); exit 7\r");
    t.expect("in-exec-10");
    assert_eq!(t.wait(), 7, "exec -it after a detach:\n{:?}", t.seen);
}

fn attach_request(container: &str, query: &str) -> String {
    format!(
        "POST /v1.47/containers/{container}/attach?stream=1&stdin=1&stdout=1&stderr=1{query} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Without a terminal the CLI leaves the detach keys to the daemon: a client sending
/// them on a hijacked stream is cut off and the container keeps running, its stdin
/// still open; bytes of a broken partial sequence reach the container.
#[test]
fn daemon_detaches_on_the_key_sequence_of_a_hijacked_stream() {
    let e = Engine::start();
    e.import_busybox("busybox:latest");
    e.ok(&["run", "-d", "-i", "--name", "cat1", "busybox", "cat"]);
    let running = || e.inspect("cat1", "{{.State.Running}}");
    let mut h = RawHttp::open(&e.socket, &attach_request("cat1", ""));
    assert!(h.head.starts_with("HTTP/1.1 101"), "{}", h.head);
    h.send(b"a\x10b\n");
    // stdcopy frame of stdout: header (stream 1, length 4) then the echoed line.
    h.read_until(b"\x01\x00\x00\x00\x00\x00\x00\x04a\x10b\n");
    h.send(b"\x10\x11ignored\n");
    let body = h.read_to_close();
    assert_eq!(
        body,
        b"\x01\x00\x00\x00\x00\x00\x00\x04a\x10b\n",
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(running(), "true");

    // Custom keys; the default sequence then passes through as data.
    let mut h = RawHttp::open(&e.socket, &attach_request("cat1", "&detachKeys=ctrl-e,e"));
    h.send(b"\x10\x11\n");
    h.read_until(b"\x01\x00\x00\x00\x00\x00\x00\x03\x10\x11\n");
    h.send(b"\x05e");
    assert_eq!(
        h.read_to_close(),
        b"\x01\x00\x00\x00\x00\x00\x00\x03\x10\x11\n"
    );
    assert_eq!(running(), "true");

    let (status, msg) = e.api(
        "POST",
        "/containers/cat1/attach?stream=1&stdin=1&detachKeys=ctrl-pp",
        None,
    );
    assert_eq!(status, 400);
    assert!(
        msg.contains("Invalid detach keys (ctrl-pp) provided"),
        "{msg}"
    );
}
