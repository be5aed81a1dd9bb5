//! More of the CLI 28 against our dockerd: cp, commit, volumes, ps filters, events,
//! API errors, image load/save with Debian's dockerd, hostile archives, daemon.json,
//! live-restore.

mod common;

use std::time::Duration;

use common::Engine;

#[test]
fn cp_both_ways_and_symlink_escape() {
    let e = Engine::start();
    e.import_busybox("busybox:latest");
    e.ok(&[
        "run",
        "-d",
        "--name",
        "cc",
        "busybox",
        "sh",
        "-c",
        "ln -s / /tmp/esc; sleep 1000",
    ]);
    let src = e.dir.path().join("in.txt");
    std::fs::write(&src, "payload\n").unwrap();
    e.ok(&["cp", src.to_str().unwrap(), "cc:/tmp/in.txt"]);
    assert_eq!(e.ok(&["exec", "cc", "cat", "/tmp/in.txt"]), "payload\n");
    let out = e.dir.path().join("out.txt");
    e.ok(&["cp", "cc:/etc/hostname", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap().len(), 13);
    // A link to / inside the container must resolve to the container's root.
    let marker = format!("engine-cp-escape-{}", std::process::id());
    let m = e.dir.path().join(&marker);
    std::fs::write(&m, "x").unwrap();
    testbed::wait_for("the symlink", Duration::from_secs(10), || {
        e.docker(&["exec", "cc", "test", "-L", "/tmp/esc"])
            .status
            .success()
    });
    e.ok(&["cp", m.to_str().unwrap(), "cc:/tmp/esc/"]);
    assert!(
        !std::path::Path::new("/").join(&marker).exists(),
        "docker cp wrote through a symlink onto the host"
    );
    assert_eq!(e.ok(&["exec", "cc", "cat", &format!("/{marker}")]), "x");
    e.ok(&["rm", "-f", "cc"]);
}

#[test]
fn commit_then_run_and_diff() {
    let e = Engine::start();
    e.import_busybox("busybox:latest");
    e.ok(&[
        "run",
        "--name",
        "c1",
        "busybox",
        "sh",
        "-c",
        "echo data > /marker; rm /etc/group",
    ]);
    let diff = e.ok(&["diff", "c1"]);
    assert!(diff.contains("A /marker"), "{diff}");
    assert!(diff.contains("D /etc/group"), "{diff}");
    e.ok(&["commit", "c1", "snap:1"]);
    assert_eq!(e.ok(&["run", "--rm", "snap:1", "cat", "/marker"]), "data\n");
    let out = e.docker(&["run", "--rm", "snap:1", "cat", "/etc/group"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the whiteout of /etc/group was lost"
    );
    assert_eq!(
        e.ok(&["image", "inspect", "-f", "{{len .RootFS.Layers}}", "snap:1"])
            .trim(),
        "2"
    );
}

#[test]
fn named_volume_survives_and_is_protected() {
    let e = Engine::start();
    e.import_busybox("busybox:latest");
    e.ok(&["volume", "create", "v1"]);
    e.ok(&[
        "run",
        "--name",
        "ww",
        "-v",
        "v1:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    let out = e.docker(&["volume", "rm", "v1"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("volume is in use"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    e.ok(&["rm", "ww"]);
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "--mount",
            "type=volume,src=v1,dst=/d",
            "busybox",
            "cat",
            "/d/f"
        ]),
        "kept\n"
    );
    assert_eq!(e.ok(&["volume", "ls", "-q"]).trim(), "v1");
    e.ok(&["volume", "rm", "v1"]);
    assert_eq!(e.ok(&["volume", "ls", "-q"]).trim(), "");
}

#[test]
fn ps_filters_inspect_templates_and_events() {
    let e = Engine::start();
    e.import_busybox("busybox:latest");
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    e.ok(&[
        "create",
        "--name",
        "aa",
        "--label",
        "tier=front",
        "busybox",
        "true",
    ]);
    assert_eq!(
        e.docker(&[
            "run",
            "--name",
            "bb",
            "--label",
            "tier=back",
            "busybox",
            "sh",
            "-c",
            "exit 2"
        ])
        .status
        .code(),
        Some(2)
    );
    assert_eq!(
        e.ok(&[
            "ps",
            "-a",
            "--filter",
            "label=tier=front",
            "--format",
            "{{.Names}}"
        ])
        .trim(),
        "aa"
    );
    assert_eq!(
        e.ok(&["ps", "-a", "--filter", "exited=2", "--format", "{{.Names}}"])
            .trim(),
        "bb"
    );
    assert_eq!(
        e.ok(&[
            "ps",
            "-a",
            "--filter",
            "status=created",
            "--format",
            "{{.Names}}"
        ])
        .trim(),
        "aa"
    );
    assert_eq!(
        e.inspect(
            "bb",
            "{{.Config.Labels.tier}} {{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}}"
        ),
        "back 2 no"
    );
    let t1 = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let ev = e.ok(&[
        "events",
        "--since",
        &t0,
        "--until",
        &t1,
        "--filter",
        "container=bb",
        "--format",
        "{{.Action}}",
    ]);
    let actions: Vec<&str> = ev.lines().collect();
    assert_eq!(actions, ["create", "attach", "start", "die"], "{ev}");
}

#[test]
fn api_errors_in_dockerd_wording() {
    let e = Engine::start();
    e.import_busybox("busybox:latest");
    let (code, body) = e.api("GET", "/v1.47/containers/nope/json", None);
    assert_eq!(
        (code, body.trim()),
        (404, r#"{"message":"No such container: nope"}"#)
    );
    let (code, body) = e.api("POST", "/v1.47/containers/create", Some("{not json"));
    assert_eq!(code, 400, "{body}");
    let (code, body) = e.api("GET", "/v1.99/version", None);
    assert_eq!(
        (code, body.trim()),
        (
            400,
            r#"{"message":"client version 1.99 is too new. Maximum supported API version is 1.47"}"#
        )
    );
    let (code, _) = e.api("GET", "/v1.41/version", None);
    assert_eq!(code, 200);
    let id = e.ok(&["create", "--name", "taken", "busybox", "true"]);
    let out = e.docker(&["run", "--name", "taken", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "The container name \"/taken\" is already in use by container \"{}\"",
            id.trim()
        )),
        "{err}"
    );
    let (code, _) = e.api("HEAD", "/_ping", None);
    assert_eq!(code, 200);
}

#[test]
fn load_save_with_debian_dockerd() {
    let e = Engine::start();
    let reference = testbed::RefDockerd::start(Default::default());
    reference.import_busybox("refbox:1");
    let saved = e.dir.path().join("ref.tar");
    let out = reference.docker(&["save", "-o", saved.to_str().unwrap(), "refbox:1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let loaded = e.ok(&["load", "-i", saved.to_str().unwrap()]);
    assert!(loaded.contains("Loaded image: refbox:1"), "{loaded}");
    let ref_id = String::from_utf8_lossy(
        &reference
            .docker(&["image", "inspect", "-f", "{{.Id}}", "refbox:1"])
            .stdout,
    )
    .trim()
    .to_string();
    assert_eq!(
        e.ok(&["image", "inspect", "-f", "{{.Id}}", "refbox:1"])
            .trim(),
        ref_id,
        "image id changed on load"
    );
    assert_eq!(e.ok(&["run", "--rm", "refbox:1", "echo", "ok"]), "ok\n");
    // And back: our save loads into Debian's dockerd with the same id.
    e.ok(&["tag", "refbox:1", "ours:2"]);
    let ours = e.dir.path().join("ours.tar");
    e.ok(&["save", "-o", ours.to_str().unwrap(), "ours:2"]);
    let out = reference.docker(&["load", "-i", ours.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let back = String::from_utf8_lossy(
        &reference
            .docker(&["image", "inspect", "-f", "{{.Id}}", "ours:2"])
            .stdout,
    )
    .trim()
    .to_string();
    assert_eq!(back, ref_id);
}

fn tar_with_raw_name(name: &str, kind: tar::EntryType, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_cksum();
    b.append(&h, data).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn hostile_archives_leave_nothing() {
    let e = Engine::start();
    let layers_dir = e.dir.path().join("data/overlay2");
    let count = || {
        std::fs::read_dir(&layers_dir)
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let before = count();
    // A docker-save archive whose layer climbs out with "../".
    let layer = tar_with_raw_name("../../escaped", tar::EntryType::Regular, b"x");
    let archive = e.dir.path().join("evil.tar");
    write_save_archive(&archive, &layer, "evil:1", "{}");
    let out = e.docker(&["load", "-i", archive.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("path traversal"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(e.ok(&["images", "-q"]), "");
    assert_eq!(count(), before, "a layer was left behind");
    // A device node and a truncated archive through import.
    let dev = e.dir.path().join("dev.tar");
    std::fs::write(
        &dev,
        tar_with_raw_name("dev/sda", tar::EntryType::Block, b""),
    )
    .unwrap();
    let out = e.docker(&["import", dev.to_str().unwrap(), "dev:1"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("device node"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let full = e.dir.path().join("bb.tar");
    testbed::busybox_tar(&full);
    let bytes = std::fs::read(&full).unwrap();
    let cut = e.dir.path().join("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() / 2 + 77]).unwrap();
    let out = e.docker(&["import", cut.to_str().unwrap(), "cut:1"]);
    assert!(!out.status.success(), "a truncated tarball was accepted");
    assert_eq!(e.ok(&["images", "-q"]), "");
    assert_eq!(count(), before);
}

/// A ustar header as some Go-written layers have it: numeric fields padded with
/// leading NULs, uid, gid and mtime all NUL, and the size field ignored for links.
fn go_style_header(name: &str, kind: u8, mode: u32, size_field: &[u8; 12]) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(format!("\0\0{mode:04o} \0").as_bytes());
    h[124..136].copy_from_slice(size_field);
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    h
}

fn go_style_layer() -> Vec<u8> {
    let busybox = std::fs::read(testbed::busybox()).unwrap();
    let nul_padded = |n: usize| -> [u8; 12] {
        let text = format!("{n:o}");
        let mut f = [0u8; 12];
        f[11 - text.len()..11].copy_from_slice(text.as_bytes());
        f
    };
    let mut t = Vec::new();
    let mut add = |h: [u8; 512], data: &[u8]| {
        t.extend(h);
        t.extend(data);
        t.resize(t.len().div_ceil(512) * 512, 0);
    };
    add(go_style_header("bin/", b'5', 0o755, &[0; 12]), b"");
    add(
        go_style_header("bin/busybox", b'0', 0o755, &nul_padded(busybox.len())),
        &busybox,
    );
    let mut sh = go_style_header("bin/sh", b'2', 0o777, b"00000000000\0");
    sh[157..164].copy_from_slice(b"busybox");
    // The link's size field says 9 bytes; Go reads no data for a link.
    sh[124..136].copy_from_slice(b"00000000011\0");
    sh[148..156].fill(b' ');
    let sum: u32 = sh.iter().map(|&b| u32::from(b)).sum();
    sh[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    add(sh, b"");
    add(
        go_style_header("etc/msg", b'0', 0o640, &nul_padded(6)),
        b"hello\n",
    );
    t.resize(t.len() + 1024, 0);
    t
}

/// Write a one-layer `docker save` archive of `layer`, tagged `repo_tag`, whose image
/// config is `config` (a JSON object).
fn write_save_archive(path: &std::path::Path, layer: &[u8], repo_tag: &str, config: &str) {
    let diff = {
        use sha2::Digest;
        let h = sha2::Sha256::digest(layer);
        h.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{config},"rootfs":{{"type":"layers","diff_ids":["sha256:{diff}"]}}}}"#
    );
    let manifest =
        format!(r#"[{{"Config":"config.json","RepoTags":["{repo_tag}"],"Layers":["layer.tar"]}}]"#);
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("config.json", config.as_bytes()),
        ("manifest.json", manifest.as_bytes()),
        ("layer.tar", layer),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        b.append_data(&mut h, name, data).unwrap();
    }
    std::fs::write(path, b.into_inner().unwrap()).unwrap();
}

/// Go's archive/tar reads empty and NUL-padded numeric fields (as 0 when empty), and
/// Debian's dockerd loads such a layer: ours loads it too, with the same file modes,
/// owners, times and contents.
#[test]
fn layer_with_nul_filled_numeric_fields_loads_as_in_debian_dockerd() {
    let e = Engine::start();
    let reference = testbed::RefDockerd::start(Default::default());
    let layer = go_style_layer();
    let archive = e.dir.path().join("gotar.tar");
    write_save_archive(&archive, &layer, "gotar:1", r#"{"Cmd":["sh"]}"#);
    let script =
        "stat -c '%n %a %u %g %Y %s' /bin /bin/busybox /etc/msg; readlink /bin/sh; cat /etc/msg";
    let run = [
        "run",
        "--rm",
        "--network",
        "none",
        "gotar:1",
        "sh",
        "-c",
        script,
    ];
    let out = reference.docker(&["load", "-i", archive.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "Debian's dockerd refused the layer: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = reference.docker(&run);
    assert!(theirs.status.success(), "{theirs:?}");
    let loaded = e.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(loaded.contains("Loaded image: gotar:1"), "{loaded}");
    let ours = e.ok(&run);
    assert_eq!(ours, String::from_utf8_lossy(&theirs.stdout));
    assert!(
        ours.contains("/etc/msg 640 0 0 0 6\nbusybox\nhello\n"),
        "{ours}"
    );
}

#[test]
fn daemon_json_unknown_key_refuses_to_start() {
    testbed::require_root();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("daemon.json");
    std::fs::write(&cfg, r#"{"debug": true, "no-such-option": 1}"#).unwrap();
    let out = std::process::Command::new(testbed::workspace_bin("dockerd"))
        .arg(format!("--config-file={}", cfg.display()))
        .arg(format!("--data-root={}", dir.path().join("d").display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "the following directives don't match any configuration option: no-such-option"
        ),
        "{err}"
    );
    let out = std::process::Command::new(testbed::workspace_bin("dockerd"))
        .arg(format!("--config-file={}", cfg.display()))
        .arg("--validate")
        .arg("--debug")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        !dir.path().join("d").exists(),
        "a refused start left a data root"
    );
}

#[test]
fn live_restore_after_kill_9() {
    let mut e = Engine::start_with_config(r#"{"live-restore": true}"#, &[]);
    e.import_busybox("busybox:latest");
    e.ok(&[
        "run",
        "-d",
        "--name",
        "keep",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 7' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done",
    ]);
    testbed::wait_for("first tick", Duration::from_secs(20), || {
        e.ok(&["logs", "keep"]).contains("tick 0")
    });
    let pid = e
        .ok(&["inspect", "-f", "{{.State.Pid}}", "keep"])
        .trim()
        .to_string();
    e.kill_dockerd();
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the container died with dockerd"
    );
    e.start_dockerd();
    assert_eq!(
        e.inspect("keep", "{{.State.Running}} {{.State.Pid}}"),
        format!("true {pid}")
    );
    let n = e.ok(&["logs", "keep"]).lines().count();
    testbed::wait_for("logs after the restart", Duration::from_secs(20), || {
        e.ok(&["logs", "keep"]).lines().count() > n + 2
    });
    assert_eq!(e.ok(&["exec", "keep", "echo", "still"]), "still\n");
    e.ok(&["stop", "keep"]);
    assert_eq!(e.inspect("keep", "{{.State.ExitCode}}"), "7");
}
