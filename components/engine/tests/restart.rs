//! Restart policies, applied when a container exits and when the daemon starts:
//! `on-failure:N` stops after N restarts, `always` restarts until a user stops it,
//! and at daemon start `always` comes back even after a user's stop while
//! `unless-stopped` and `no` stay down.

mod common;

use std::time::Duration;

use common::Engine;

fn state(e: &Engine, name: &str) -> String {
    e.inspect(
        name,
        "{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}",
    )
}

#[test]
fn on_failure_restarts_n_times_then_stays_exited() {
    let e = Engine::start();
    e.import_busybox("busybox:latest");
    e.ok(&[
        "run",
        "-d",
        "--name",
        "fail3",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 3",
    ]);
    testbed::wait_for(
        "two restarts and a final exit",
        Duration::from_secs(60),
        || state(&e, "fail3") == "exited 3 2",
    );
    // Three runs in all (the first and two restarts), each logged.
    assert_eq!(e.ok(&["logs", "fail3"]), "run\nrun\nrun\n");
    let policy = e.ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
        "fail3",
    ]);
    assert_eq!(policy.trim(), "on-failure:2");

    // A clean exit is no failure: no restart.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "clean",
        "--restart",
        "on-failure",
        "busybox",
        "true",
    ]);
    testbed::wait_for("clean exit", Duration::from_secs(30), || {
        state(&e, "clean") == "exited 0 0"
    });

    let out = e.docker(&["run", "-d", "--restart", "sometimes", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid restart policy"),
        "{out:?}"
    );
}

#[test]
fn always_restarts_until_stopped() {
    let e = Engine::start();
    e.import_busybox("busybox:latest");
    e.ok(&[
        "run",
        "-d",
        "--name",
        "loop",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "echo x; exit 1",
    ]);
    testbed::wait_for("two restarts", Duration::from_secs(60), || {
        let s = state(&e, "loop");
        s.split(' ')
            .nth(2)
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
            >= 2
    });
    e.ok(&["stop", "loop"]);
    let after = state(&e, "loop");
    assert!(after.starts_with("exited "), "{after}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        state(&e, "loop"),
        after,
        "a user's stop must end the restarts"
    );
}

#[test]
fn policies_at_daemon_start() {
    let mut e = Engine::start();
    e.import_busybox("busybox:latest");
    let run = |name: &str, policy: &str| {
        e.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--restart",
            policy,
            "busybox",
            "sleep",
            "100000",
        ]);
    };
    run("always-stopped", "always");
    run("unless-stopped", "unless-stopped");
    run("always-running", "always");
    run("unless-running", "unless-stopped");
    run("no-running", "no");
    e.ok(&["stop", "-t", "0", "always-stopped"]);
    e.ok(&["stop", "-t", "0", "unless-stopped"]);

    // A daemon shutdown stops the running ones; it is no user's stop.
    e.stop_dockerd();
    e.start_dockerd();
    let running = |name: &str| e.inspect(name, "{{.State.Running}}") == "true";
    testbed::wait_for("restarts at daemon start", Duration::from_secs(60), || {
        running("always-stopped") && running("always-running") && running("unless-running")
    });
    assert!(
        !running("unless-stopped"),
        "unless-stopped came back after a user's stop"
    );
    assert!(
        !running("no-running"),
        "a container without a policy came back"
    );
    let ps = e.ok(&["ps", "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = ps.split_whitespace().collect();
    names.sort();
    assert_eq!(
        names,
        ["always-running", "always-stopped", "unless-running"]
    );
}
