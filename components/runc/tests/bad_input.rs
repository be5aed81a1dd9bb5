//! Bad input: one clear error line, exit 1, and nothing left behind (state dir,
//! cgroup, mounts, processes).

mod common;

use common::{text, Bundle};

fn assert_clean_failure(b: &Bundle, o: &std::process::Output, id: &str, want: &str) {
    assert_eq!(
        o.status.code(),
        Some(1),
        "stdout {:?} stderr {:?}",
        text(&o.stdout),
        text(&o.stderr)
    );
    // On stderr runc logs logfmt-style, with quotes escaped.
    let err = text(&o.stderr).replace("\\\"", "\"");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    assert!(err.contains(want), "{err:?} does not contain {want:?}");
    testbed::reap_zombies();
    if !id.is_empty() && !id.contains('/') && id != ".." {
        assert!(!b.root.join(id).exists(), "state dir left for {id}");
    }
    assert!(b.leftovers().is_empty(), "left behind: {:?}", b.leftovers());
}

#[test]
fn malformed_config_names_the_json_path() {
    let b = Bundle::new(&["true"], |cfg| {
        cfg["process"]["args"] = serde_json::json!("not-a-list");
    });
    let o = b.runc(&["run", "bad1"]);
    assert_clean_failure(&b, &o, "bad1", "process.args");
    let b = Bundle::new(&["true"], |cfg| {
        cfg["linux"]["resources"] = serde_json::json!({"memory": {"limit": "lots"}});
    });
    let o = b.runc(&["create", "bad2"]);
    assert_clean_failure(&b, &o, "bad2", "linux.resources.memory.limit");
}

#[test]
fn missing_rootfs() {
    let b = Bundle::new(&["true"], |cfg| {
        cfg["root"]["path"] = serde_json::json!("no-such-rootfs");
    });
    let o = b.runc(&["run", "bad3"]);
    assert_clean_failure(&b, &o, "bad3", "no-such-rootfs");
}

#[test]
fn existing_and_invalid_ids() {
    let b = Bundle::new(&["sleep", "1000"], |_| {});
    assert!(b.create("dup").status.success());
    let o = b.runc(&["create", "dup"]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    assert!(err.contains("container with id exists: dup"), "{err}");
    assert_eq!(
        b.state("dup")["status"],
        "created",
        "the first container must survive"
    );
    assert!(b.runc(&["delete", "--force", "dup"]).status.success());
    for id in ["a/b", "..", "../escape"] {
        let o = b.runc(&["create", id]);
        assert_clean_failure(&b, &o, id, "invalid container id");
    }
    assert!(!b.path().join("escape").exists());
}

#[test]
fn unknown_container() {
    let b = Bundle::new(&["true"], |_| {});
    for verb in [
        &["state"][..],
        &["start"],
        &["kill"],
        &["delete"],
        &["pause"],
        &["exec"],
        &["ps"],
    ] {
        let mut args: Vec<&str> = verb.to_vec();
        args.push("ghost");
        if verb == ["exec"] {
            args.push("true");
        }
        let o = b.runc(&args);
        assert!(
            o.status.code() == Some(1) || (verb == ["exec"] && o.status.code() == Some(255)),
            "{args:?}: {:?}",
            o.status
        );
        assert!(
            text(&o.stderr).contains("does not exist"),
            "{args:?}: {}",
            text(&o.stderr)
        );
    }
    // delete --force of nothing succeeds, as runc.
    assert!(b.runc(&["delete", "--force", "ghost"]).status.success());
}

#[test]
fn process_that_cannot_start() {
    let b = Bundle::new(&["nope"], |_| {});
    let o = b.runc(&["run", "bad4"]);
    assert_clean_failure(
        &b,
        &o,
        "bad4",
        r#"runc run failed: unable to start container process: exec: "nope": executable file not found in $PATH"#,
    );
    let o = b.runc(&["create", "bad5"]);
    assert_clean_failure(
        &b,
        &o,
        "bad5",
        r#"runc create failed: unable to start container process: exec: "nope""#,
    );
    // The shim reads the reason from the json log.
    let log = b.path().join("log.json");
    let o = b.runc(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        "bad6",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let last = std::fs::read_to_string(&log).unwrap();
    let v: serde_json::Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    assert_eq!(v["level"], "error");
    assert!(v["msg"]
        .as_str()
        .unwrap()
        .contains("executable file not found in $PATH"));
}

/// `runc exec` of a missing program in a running container: runc's wording, exit
/// 255 as runc, and the half-started process does not stay in the container.
#[test]
fn exec_of_a_missing_program() {
    let b = Bundle::new(&["sleep", "1000"], |_| {});
    assert!(b.create("ex").status.success());
    assert!(b.runc(&["start", "ex"]).status.success());
    let pids = |b: &Bundle| text(&b.runc(&["ps", "--format", "json", "ex"]).stdout);
    let before = pids(&b);
    let o = b.runc(&["exec", "ex", "nope"]);
    assert_eq!(o.status.code(), Some(255), "{}", text(&o.stderr));
    let err = text(&o.stderr).replace("\\\"", "\"");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    assert!(
        err.contains(r#"exec failed: unable to start container process: exec: "nope": executable file not found in $PATH"#),
        "{err}"
    );
    testbed::reap_zombies();
    assert_eq!(pids(&b), before, "the failed exec left a process");
    assert!(b.runc(&["delete", "--force", "ex"]).status.success());
    assert!(b.leftovers().is_empty(), "left behind: {:?}", b.leftovers());
}

/// A system error is named once, not once per layer of the error chain.
#[test]
fn state_root_under_a_file() {
    let b = Bundle::new(&["true"], |_| {});
    let file = b.path().join("config.json");
    let o = std::process::Command::new(&b.runc)
        .arg("--root")
        .arg(file.join("state"))
        .args(["run", "r1"])
        .current_dir(b.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert_eq!(err.matches("Not a directory").count(), 1, "{err}");
}
