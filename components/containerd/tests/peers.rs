//! Golden comparisons with Debian's containerd 1.6 doing the same thing: the layer the
//! diff service produces for one filesystem change, task metrics and resource
//! updates, and task events forwarded by shims (ours under Debian's containerd,
//! Debian's under ours).

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Daemon, IMAGE};
use containerd_client::services::v1 as api;
use containerd_client::services::v1::tasks_client::TasksClient;
use containerd_client::with_namespace;
use tonic::Request;

/// One tar entry as the comparison sees it: everything but access and change times.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    kind: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    link: Option<String>,
    data: Vec<u8>,
}

fn entries(gzip_tar: &[u8]) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(gzip_tar));
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let h = e.header().clone();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(
            name.trim_end_matches('/').to_owned(),
            Entry {
                kind: h.entry_type().as_byte(),
                mode: h.mode().unwrap() & 0o7777,
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                mtime: h.mtime().unwrap(),
                link: e
                    .link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned()),
                data,
            },
        );
    }
    out
}

fn sh(script: &str) {
    let st = Command::new("sh").args(["-ec", script]).status().unwrap();
    assert!(st.success(), "{script}");
}

/// Prepare a snapshot on the busybox layer, change it, and return the layer
/// `ctr snapshots diff` produces for it (the diff service's Compare).
fn diff_of_one_change(d: &Daemon) -> Vec<u8> {
    d.import_busybox();
    let snaps = d.ctr(&["snapshots", "ls"]);
    let layer = snaps
        .lines()
        .find(|l| l.contains("Committed"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no committed layer in {snaps}"))
        .to_owned();
    d.ctr(&["snapshots", "prepare", "diff-work", &layer]);
    let mnt = d.dir.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let mount = d.ctr(&["snapshots", "mounts", mnt.to_str().unwrap(), "diff-work"]);
    sh(&mount);
    let m = mnt.display();
    // Every kind of change: new file, dir and symlink, changed content and mode,
    // a removed file (whiteout), a removed directory tree; fixed times throughout.
    sh(&format!(
        "cd {m}
         mkdir -p data/sub && printf 'new\\n' > data/sub/new.txt && chmod 0640 data/sub/new.txt
         ln -s ../bin/busybox data/link
         printf 'changed\\n' >> etc/passwd
         chmod 0700 home/user
         rm bin/true
         rm -r var
         touch -h -d @1600000000 data/sub/new.txt data/link data/sub data etc/passwd etc home/user home bin .
         "
    ));
    sh(&format!("umount {m}"));
    let out = Command::new(common::debian_ctr())
        .arg("--address")
        .arg(d.socket())
        .args(["snapshots", "diff", "diff-work"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ctr snapshots diff: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        common::tail(&d.log())
    );
    out.stdout
}

#[test]
fn diff_compare_produces_the_layer_debian_containerd_produces() {
    let ours = Daemon::start();
    let reference = Daemon::start_with("/usr/bin/containerd".into(), None);
    let our_layer = entries(&diff_of_one_change(&ours));
    let ref_layer = entries(&diff_of_one_change(&reference));
    // The change itself must be in the layer, or the comparison proves nothing.
    for must in [
        "data/sub/new.txt",
        "data/link",
        "etc/passwd",
        "bin/.wh.true",
        ".wh.var",
    ] {
        assert!(
            ref_layer.contains_key(must),
            "{must} missing from Debian's layer"
        );
    }
    let names = |m: &BTreeMap<String, Entry>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&our_layer),
        names(&ref_layer),
        "entries of the layer; ours:\n{our_layer:#?}\nDebian's:\n{ref_layer:#?}"
    );
    for (name, want) in &ref_layer {
        let mut got = our_layer[name].clone();
        // containerd stamps whiteouts with the time of the diff.
        if name.rsplit('/').next().unwrap_or("").starts_with(".wh.") {
            got.mtime = want.mtime;
        }
        assert_eq!(&got, want, "entry {name}");
    }
}

/// The METRIC column of `ctr tasks metrics`.
fn metric_names(table: &str) -> Vec<String> {
    table
        .lines()
        .skip_while(|l| !l.starts_with("METRIC"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

fn metric(table: &str, name: &str) -> u64 {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{table}"))
}

/// The memory cgroup directory of a task's init process.
fn memory_cgroup(d: &Daemon, id: &str) -> std::path::PathBuf {
    let ls = d.ctr(&["tasks", "ls"]);
    let pid = ls
        .lines()
        .find(|l| l.starts_with(id))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_else(|| panic!("no task {id} in {ls}"));
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let path = cg
        .lines()
        .find_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_, ctrl, path) = (p.next()?, p.next()?, p.next()?);
            (ctrl == "memory").then(|| path.to_owned())
        })
        .unwrap_or_else(|| panic!("no memory cgroup in {cg}"));
    Path::new("/sys/fs/cgroup/memory").join(path.trim_start_matches('/'))
}

/// Set a task's memory limit through the tasks API, as a client such as dockerd does.
fn update_memory_limit(d: &Daemon, id: &str, limit: i64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let channel = containerd_client::connect(d.socket()).await.unwrap();
        let resources = serde_json::json!({"memory": {"limit": limit}}).to_string();
        let req = api::UpdateTaskRequest {
            container_id: id.to_owned(),
            resources: Some(prost_types::Any {
                type_url: "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources".into(),
                value: resources.into_bytes(),
            }),
            annotations: Default::default(),
        };
        TasksClient::new(channel)
            .update(with_namespace!(req, "default"))
            .await
            .unwrap_or_else(|e| panic!("update of {id}: {e}"));
    });
}

#[test]
fn task_metrics_and_update_match_debian_containerd() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = Daemon::start_with(
        testbed::workspace_bin("containerd"),
        Some(common::our_shim_dir(tmp.path())),
    );
    let reference = Daemon::start_with("/usr/bin/containerd".into(), None);
    let sides = [(&ours, "metrics-ours"), (&reference, "metrics-ref")];
    let mut tables = Vec::new();
    for (d, id) in sides {
        d.import_busybox();
        d.ctr(&["run", "-d", IMAGE, id, "sleep", "1000"]);
        update_memory_limit(d, id, 64 << 20);
        let limit =
            std::fs::read_to_string(memory_cgroup(d, id).join("memory.limit_in_bytes")).unwrap();
        assert_eq!(limit.trim(), (64u64 << 20).to_string(), "{id}");
        tables.push(d.ctr(&["tasks", "metrics", id]));
    }
    let (our_table, ref_table) = (&tables[0], &tables[1]);
    assert_eq!(
        metric_names(our_table),
        metric_names(ref_table),
        "ours:\n{our_table}\nDebian's:\n{ref_table}"
    );
    assert_eq!(metric(our_table, "memory.limit_in_bytes"), 64 << 20);
    assert!(metric(our_table, "pids.current") >= 1, "{our_table}");
    assert!(
        metric(our_table, "memory.usage_in_bytes") > 0,
        "{our_table}"
    );
    let per_cpu = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("cpuacct.usage_percpu"))
            .map(|l| {
                l.split_whitespace()
                    .skip(1)
                    .map(|t| t.trim_matches(['[', ']']))
                    .filter(|t| !t.is_empty())
                    .count()
            })
            .unwrap_or(0)
    };
    assert!(per_cpu(our_table) > 0, "no per-cpu usage:\n{our_table}");
    assert_eq!(per_cpu(our_table), per_cpu(ref_table));
    // The JSON form is the cgroup v1 metrics message itself; ours carries the
    // groups Debian's shim fills.
    let json = |d: &Daemon, id: &str| -> serde_json::Value {
        serde_json::from_str(&d.ctr(&["tasks", "metrics", "--format", "json", id])).unwrap()
    };
    let (our_json, ref_json) = (json(&ours, "metrics-ours"), json(&reference, "metrics-ref"));
    for key in ["cpu", "memory", "pids"] {
        assert!(ref_json.get(key).is_some(), "Debian's metrics lack {key}");
        assert!(
            our_json.get(key).is_some(),
            "our metrics lack {key}: {our_json}"
        );
    }
    assert_eq!(
        our_json["memory"]["usage"]["limit"],
        64u64 << 20,
        "{our_json}"
    );
    for (d, id) in sides {
        d.ctr(&["tasks", "kill", "-s", "KILL", id]);
    }
}

/// Topics `ctr events` printed while a task ran to completion and was removed.
fn task_topics(d: &Daemon, id: &str) -> String {
    d.import_busybox();
    let mut events = Command::new(common::debian_ctr())
        .arg("--address")
        .arg(d.socket())
        .arg("events")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The subscription is in place once an event published after it shows up; a
    // namespace label update is one that involves no shim.
    let probe = format!("probe-{id}");
    d.ctr(&["namespaces", "create", &probe]);
    let mut out = events.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0
                || tx
                    .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                    .is_err()
            {
                break;
            }
        }
    });
    let mut seen = String::new();
    testbed::wait_for("the event subscription", Duration::from_secs(20), || {
        d.ctr(&["namespaces", "label", &probe, "n=1"]);
        while let Ok(s) = rx.try_recv() {
            seen.push_str(&s);
        }
        seen.contains("/namespaces/update")
    });
    assert_eq!(d.ctr(&["run", "--rm", IMAGE, id, "echo", "hi"]), "hi\n");
    testbed::wait_for("the task's delete event", Duration::from_secs(20), || {
        while let Ok(s) = rx.try_recv() {
            seen.push_str(&s);
        }
        seen.contains("/tasks/delete")
    });
    events.kill().unwrap();
    let _ = events.wait();
    seen
}

/// The shim publishes these; the daemon only forwards them to subscribers.
const SHIM_TOPICS: [&str; 4] = [
    "/tasks/create",
    "/tasks/start",
    "/tasks/exit",
    "/tasks/delete",
];

#[test]
fn events_forwarded_from_shims_reach_subscribers_both_ways() {
    let tmp = tempfile::tempdir().unwrap();
    // Our shim forwarding into Debian's containerd.
    let debian = Daemon::start_with(
        "/usr/bin/containerd".into(),
        Some(common::our_shim_dir(tmp.path())),
    );
    let seen = task_topics(&debian, "fwd-our-shim");
    for t in SHIM_TOPICS {
        assert!(
            seen.contains(t),
            "Debian containerd got no {t} from our shim:\n{seen}"
        );
    }
    assert!(
        seen.contains("fwd-our-shim"),
        "events do not name the task:\n{seen}"
    );
    // Debian's shim forwarding into ours.
    let deb_shim = tmp.path().join("debian-shim");
    std::fs::create_dir_all(&deb_shim).unwrap();
    std::os::unix::fs::symlink(
        "/usr/bin/containerd-shim-runc-v2",
        deb_shim.join("containerd-shim-runc-v2"),
    )
    .unwrap();
    let ours = Daemon::start_with(testbed::workspace_bin("containerd"), Some(deb_shim));
    let seen = task_topics(&ours, "fwd-deb-shim");
    for t in SHIM_TOPICS {
        assert!(
            seen.contains(t),
            "our containerd got no {t} from Debian's shim:\n{seen}"
        );
    }
}

/// `ctr plugins ls` rows as (TYPE, ID, PLATFORMS, STATUS).
fn plugin_rows(d: &Daemon) -> Vec<(String, String, String, String)> {
    d.ctr(&["plugins", "ls"])
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 4).then(|| (f[0].into(), f[1].into(), f[2].into(), f[3].into()))
        })
        .collect()
}

/// An OCI image tarball (named [`IMAGE`]) of one zstd-compressed layer holding `/hello`.
fn zstd_image_tar(path: &Path) {
    use sha2::{Digest, Sha256};
    let sha = |b: &[u8]| format!("sha256:{:x}", Sha256::digest(b));
    let mut layer_tar = tar::Builder::new(Vec::new());
    let mut append = |name: &str, kind: tar::EntryType, mode: u32, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_cksum();
        layer_tar.append_data(&mut h, name, data).unwrap();
    };
    append("bin/", tar::EntryType::Directory, 0o755, b"");
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (package busybox-static)");
    append("bin/busybox", tar::EntryType::Regular, 0o755, &busybox);
    append("hello", tar::EntryType::Regular, 0o644, b"zstd layer\n");
    let layer_tar = layer_tar.into_inner().unwrap();
    let layer = zstd::encode_all(layer_tar.as_slice(), 3).unwrap();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/busybox", "sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(&layer_tar)]}
    })
    .to_string()
    .into_bytes();
    testbed::oci::write_layout(
        path,
        &layer,
        "application/vnd.oci.image.layer.v1.tar+zstd",
        &config,
        serde_json::json!({"io.containerd.image.name": IMAGE}),
    );
}

#[test]
fn plugins_and_zstd_layers_as_debian_containerd() {
    let ours = Daemon::start();
    let reference = Daemon::start_with("/usr/bin/containerd".into(), None);

    // Every plugin we report is one Debian's containerd reports, on the same
    // platforms, and it works.
    let theirs = plugin_rows(&reference);
    let mine = plugin_rows(&ours);
    assert!(mine.len() >= 10, "{mine:?}");
    for (ty, id, platforms, status) in &mine {
        let same = theirs.iter().find(|(t, i, _, _)| t == ty && i == id);
        let Some((_, _, their_platforms, _)) = same else {
            panic!("{ty} {id} is not a plugin of Debian's containerd: {theirs:?}");
        };
        assert_eq!(platforms, their_platforms, "platforms of {ty} {id}");
        assert_eq!(status, "ok", "{ty} {id}");
    }

    // A zstd-compressed layer is unpacked and runs as in Debian's containerd.
    let tar = ours.dir.path().join("zstd.tar");
    zstd_image_tar(&tar);
    let mut outputs = Vec::new();
    for (d, id) in [(&ours, "zstd-ours"), (&reference, "zstd-ref")] {
        d.ctr(&["images", "import", tar.to_str().unwrap()]);
        outputs.push(d.ctr(&["run", "--rm", IMAGE, id, "/bin/busybox", "cat", "/hello"]));
    }
    assert_eq!(outputs[0], "zstd layer\n");
    assert_eq!(outputs[0], outputs[1]);
}
