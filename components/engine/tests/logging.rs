//! Log drivers with the real CLI: json-file rotation by `max-size`/`max-file` read back
//! across the rotated files, the `local` driver (its files read by Debian's dockerd and
//! the other way round), `none` (no reading, dockerd's error), and the daemon-wide
//! driver from daemon.json.

mod common;

use std::time::Duration;

use common::{Engine, CLI28};

fn wait_exit(e: &Engine, name: &str) {
    testbed::wait_for("the container's exit", Duration::from_secs(60), || {
        e.inspect(name, "{{.State.Status}}") == "exited"
    });
}

#[test]
fn json_file_rotation_is_read_back_across_files() {
    let e = Engine::start();
    e.import_busybox("busybox:latest");
    e.ok(&[
        "run", "-d", "--name", "rot", "--log-opt", "max-size=1k", "--log-opt", "max-file=3",
        "busybox", "sh", "-c",
        "i=0; while [ $i -lt 200 ]; do echo line-$i-some-padding-to-fill-the-files; i=$((i+1)); done",
    ]);
    wait_exit(&e, "rot");
    let log_path = e.inspect("rot", "{{.LogPath}}");
    let log_path = log_path.as_str();
    let files: Vec<String> = [
        log_path.to_string(),
        format!("{log_path}.1"),
        format!("{log_path}.2"),
    ]
    .into_iter()
    .filter(|p| std::path::Path::new(p).exists())
    .collect();
    assert_eq!(files.len(), 3, "max-file=3 keeps three files: {files:?}");
    assert!(!std::path::Path::new(&format!("{log_path}.3")).exists());
    // As dockerd: a file is rotated once it has reached max-size, so rotated files
    // hold max-size plus at most one message.
    for f in &files[1..] {
        let len = std::fs::metadata(f).unwrap().len();
        assert!((1024..1124).contains(&len), "{f} is {len} bytes");
    }

    let out = e.ok(&["logs", "rot"]);
    let numbers: Vec<u32> = out
        .lines()
        .map(|l| {
            l.strip_prefix("line-")
                .and_then(|r| r.split('-').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected log line {l:?}"))
        })
        .collect();
    // A contiguous tail of the output, longer than one file holds, oldest first.
    assert_eq!(numbers.last(), Some(&199));
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    assert!(
        numbers[0] > 0,
        "rotation must have dropped the oldest lines"
    );
    let in_current = std::fs::read_to_string(log_path).unwrap().lines().count();
    assert!(
        numbers.len() > in_current,
        "logs must read the rotated files too"
    );

    let tail = e.ok(&["logs", "--tail", "3", "rot"]);
    assert_eq!(tail.lines().count(), 3);
    assert!(tail.starts_with("line-197-"), "{tail}");
}

#[test]
fn local_and_none_drivers() {
    let e = Engine::start();
    e.import_busybox("busybox:latest");
    e.ok(&[
        "run",
        "--name",
        "loc",
        "--log-driver",
        "local",
        "busybox",
        "sh",
        "-c",
        "echo a; echo b >&2",
    ]);
    assert_eq!(e.inspect("loc", "{{.HostConfig.LogConfig.Type}}"), "local");
    let out = e.docker(&["logs", "loc"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "b\n");

    // With `none` an attached run still shows the output; nothing can be read later.
    let run = e.ok(&[
        "run",
        "--name",
        "quiet",
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "shown",
    ]);
    assert_eq!(run, "shown\n");
    let out = e.docker(&["logs", "quiet"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "Error response from daemon: configured logging driver does not support reading"
    );

    let out = e.docker(&["run", "--log-driver", "syslogish", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no log driver named 'syslogish'"));
}

#[test]
fn daemon_wide_driver_and_options_from_daemon_json() {
    let e = Engine::start_with_config(
        r#"{"log-driver": "json-file", "log-opts": {"max-size": "2k", "max-file": "2"}}"#,
        &[],
    );
    e.import_busybox("busybox:latest");
    e.ok(&[
        "run",
        "--name",
        "dflt",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 100 ]; do echo row-$i-xxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done",
    ]);
    let cfg = e.inspect("dflt", "{{json .HostConfig.LogConfig}}");
    let v: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    assert_eq!(v["Type"], "json-file");
    assert_eq!(v["Config"]["max-size"], "2k", "{cfg}");
    let log_path = e.inspect("dflt", "{{.LogPath}}");
    assert!(std::path::Path::new(&format!("{log_path}.1")).exists());
    assert!(!std::path::Path::new(&format!("{log_path}.2")).exists());
    assert!(e
        .ok(&["logs", "dflt"])
        .ends_with("row-99-xxxxxxxxxxxxxxxxxxxx\n"));
    assert_eq!(
        e.ok(&["info", "--format", "{{.LoggingDriver}}"]).trim(),
        "json-file"
    );
}

/// The local driver's directory of a container under a data root.
fn local_logs(data_root: &std::path::Path, id: &str) -> std::path::PathBuf {
    data_root.join("containers").join(id).join("local-logs")
}

/// Copy every file of the local driver's directory `from` into `to`.
fn copy_logs(from: &std::path::Path, to: &std::path::Path) -> Vec<String> {
    std::fs::create_dir_all(to).unwrap();
    let mut names = Vec::new();
    for f in std::fs::read_dir(from).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
        names.push(f.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    names
}

fn logs_of(out: std::process::Output) -> (String, String) {
    assert!(out.status.success(), "{out:?}");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The local driver's files are dockerd's format: what our dockerd wrote (rotated,
/// compressed, with an unterminated last line) Debian's dockerd reads back the same,
/// and what Debian's wrote ours reads.
#[test]
fn local_driver_files_are_read_by_debian_dockerd_and_back() {
    let e = Engine::start();
    e.import_busybox("busybox:latest");
    let reference = testbed::RefDockerd::start(Default::default());
    reference.import_busybox("busybox:latest");
    let opts = [
        "--log-driver",
        "local",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=3",
    ];
    // stdout and stderr are two pipes read by two copiers, so a burst lands in the log
    // in chunks of either order; a pause after each stderr line lets both copiers
    // catch up, so the last stderr lines are among the entries rotation keeps.
    let script = "i=0; while [ $i -lt 80 ]; do echo line-$i; [ $((i % 10)) = 0 ] && echo err-$i >&2 && usleep 20000; i=$((i+1)); done; printf unterminated";
    let mut run = vec!["run", "--name", "writer", "--network", "none"];
    run.extend(opts);
    run.extend(["busybox", "sh", "-c", script]);
    let mut create = vec!["create", "--name", "reader", "--network", "none"];
    create.extend(opts);
    create.extend(["busybox", "true"]);

    // Ours writes, Debian's reads.
    e.ok(&run);
    let ours = logs_of(e.docker(&["logs", "writer"]));
    assert!(ours.0.ends_with("line-79\nunterminated"), "{}", ours.0);
    assert!(ours.1.ends_with("err-70\n"), "{ours:?}");
    let our_id = e.inspect("writer", "{{.Id}}");
    let from = local_logs(&e.dir.path().join("data"), &our_id);
    let out = reference.cli(CLI28, &create);
    let their_id = logs_of(out).0.trim().to_string();
    let to = local_logs(&reference.dir.path().join("data"), &their_id);
    let names = copy_logs(&from, &to);
    assert_eq!(
        names,
        ["container.log", "container.log.1.gz", "container.log.2.gz"],
        "max-file=3 with compression keeps two gzipped files"
    );
    assert_eq!(logs_of(reference.cli(CLI28, &["logs", "reader"])), ours);
    let tail = ["logs", "--tail", "4", "reader"];
    assert_eq!(
        logs_of(reference.cli(CLI28, &tail)),
        logs_of(e.docker(&["logs", "--tail", "4", "writer"]))
    );

    // Debian's writes, ours reads.
    let out = reference.cli(CLI28, &run);
    assert!(out.status.success(), "{out:?}");
    let theirs = logs_of(reference.cli(CLI28, &["logs", "writer"]));
    let their_id = reference.cli(CLI28, &["inspect", "-f", "{{.Id}}", "writer"]);
    let from = local_logs(
        &reference.dir.path().join("data"),
        String::from_utf8_lossy(&their_id.stdout).trim(),
    );
    let our_id = e.ok(&create);
    let to = local_logs(&e.dir.path().join("data"), our_id.trim());
    copy_logs(&from, &to);
    assert_eq!(logs_of(e.docker(&["logs", "reader"])), theirs);
    assert!(theirs.0.ends_with("line-79\nunterminated"), "{theirs:?}");
}
