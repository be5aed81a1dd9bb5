//! Metadata lifetime against the real clients: garbage collection of unreferenced
//! content and snapshots (ours beside Debian's containerd 1.6 doing the same steps),
//! lease expiry, and crash safety of the metadata store under `kill -9`.

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Daemon, IMAGE};
use containerd_client::services::v1 as api;
use containerd_client::services::v1::content_client::ContentClient;
use containerd_client::services::v1::leases_client::LeasesClient;
use containerd_client::with_namespace;
use sha2::Digest;
use tonic::Request;

fn lines(s: &str) -> BTreeSet<String> {
    s.lines()
        .map(|l| l.split_whitespace().next().unwrap_or("").to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The (manifest, config, layer) digests of an OCI image tarball with one layer.
fn image_digests(oci_tar: &Path) -> (String, String, String) {
    let (mut manifest, mut config, mut layer) = (None, None, None);
    let mut ar = tar::Archive::new(std::fs::File::open(oci_tar).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let Some(hex) = name.strip_prefix("blobs/sha256/") else {
            continue;
        };
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        let digest = Some(format!("sha256:{hex}"));
        match serde_json::from_slice::<serde_json::Value>(&data) {
            Ok(v) if v.get("layers").is_some() => manifest = digest,
            Ok(v) if v.get("rootfs").is_some() => config = digest,
            _ => layer = digest,
        }
    }
    (manifest.unwrap(), config.unwrap(), layer.unwrap())
}

/// The committed layer snapshot of the imported image (its chain id).
fn layer_snapshot(d: &Daemon) -> String {
    let snaps = d.ctr(&["snapshots", "ls"]);
    snaps
        .lines()
        .skip(1)
        .find(|l| l.contains("Committed"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no committed snapshot in:\n{snaps}"))
        .to_owned()
}

/// What survives an image removal with a synchronous collection, after the same
/// steps on one daemon: (content digests, snapshot keys).
fn gc_steps(d: &Daemon, oci_tar: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    d.ctr(&["images", "import", oci_tar.to_str().unwrap()]);
    let (manifest, config, layer) = image_digests(oci_tar);
    // The config stays (a gc.root label) and keeps the layer blob (a gc.ref label)
    // and, through the label import put on it, the unpacked snapshot.
    d.ctr(&[
        "content",
        "label",
        &config,
        "containerd.io/gc.root=2026-01-01T00:00:00Z",
        &format!("containerd.io/gc.ref.content.l={layer}"),
    ]);
    let chain = layer_snapshot(d);
    // `ctr snapshots prepare` puts a gc.root label on what it prepares, and commit
    // keeps it: one committed snapshot loses the label (nothing refers to it), one
    // keeps it.
    d.ctr(&["snapshots", "prepare", "gc-active-a", &chain]);
    d.ctr(&["snapshots", "commit", "gc-orphan", "gc-active-a"]);
    d.ctr(&["snapshots", "label", "gc-orphan", "containerd.io/gc.root="]);
    d.ctr(&["snapshots", "prepare", "gc-active-b", &chain]);
    d.ctr(&["snapshots", "commit", "gc-rooted", "gc-active-b"]);
    d.ctr(&["images", "rm", "--sync", IMAGE]);
    let content = lines(&d.ctr(&["content", "ls", "-q"]));
    assert!(
        content.contains(&config),
        "{config} was collected: {content:?}"
    );
    assert!(
        content.contains(&layer),
        "{layer} was collected: {content:?}"
    );
    assert!(
        !content.contains(&manifest),
        "{manifest} survived: {content:?}"
    );
    let snaps: BTreeSet<String> = lines(&d.ctr(&["snapshots", "ls"]))
        .into_iter()
        .filter(|k| k != "KEY")
        .collect();
    assert!(snaps.contains("gc-rooted"), "{snaps:?}");
    assert!(!snaps.contains("gc-orphan"), "{snaps:?}");
    assert!(snaps.contains(&chain), "{snaps:?}");
    (content, snaps)
}

#[test]
fn garbage_collection_keeps_what_debian_containerd_keeps() {
    let ours = Daemon::start();
    let reference = Daemon::start_with("/usr/bin/containerd".into(), None);
    // One image tarball for both, so both hold the same digests.
    let oci_tar = ours.dir.path().join("image.tar");
    common::oci_image_tar(&oci_tar, &common::busybox_layer());
    let (ref_content, ref_snaps) = gc_steps(&reference, &oci_tar);
    let (our_content, our_snaps) = gc_steps(&ours, &oci_tar);
    assert_eq!(our_content, ref_content, "content left after collection");
    assert_eq!(our_snaps, ref_snaps, "snapshots left after collection");
    // Nothing of the collected blob is left on disk either.
    let blobs = ours
        .root()
        .join("io.containerd.content.v1.content/blobs/sha256");
    let on_disk: BTreeSet<String> = std::fs::read_dir(&blobs)
        .unwrap()
        .flatten()
        .map(|e| format!("sha256:{}", e.file_name().to_string_lossy()))
        .collect();
    assert_eq!(on_disk, our_content, "blobs on disk vs content ls");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Write `data` under the lease `lease` through the content API.
async fn write_under_lease(d: &Daemon, lease: &str, data: &[u8]) -> String {
    let channel = containerd_client::connect(d.socket()).await.unwrap();
    let digest = format!("sha256:{:x}", sha2::Sha256::digest(data));
    let req = api::WriteContentRequest {
        action: api::WriteAction::Commit as i32,
        r#ref: format!("lease-test-{lease}"),
        total: data.len() as i64,
        expected: digest.clone(),
        offset: 0,
        data: data.to_vec(),
        labels: Default::default(),
    };
    let mut r = Request::new(futures::stream::iter(vec![req]));
    r.metadata_mut()
        .insert("containerd-namespace", "default".parse().unwrap());
    r.metadata_mut()
        .insert("containerd-lease", lease.parse().unwrap());
    let mut resp = ContentClient::new(channel)
        .write(r)
        .await
        .unwrap()
        .into_inner();
    while resp.message().await.unwrap().is_some() {}
    digest
}

#[test]
fn expired_leases_and_what_only_they_held_are_collected() {
    let mut d = Daemon::start();
    d.ctr(&["leases", "create", "--id", "short", "-x", "2s"]);
    d.ctr(&["leases", "create", "--id", "forever", "-x", "0"]);
    let listed = d.ctr(&["leases", "ls"]);
    assert!(
        listed.contains("containerd.io/gc.expire="),
        "ctr set no expiry label: {listed}"
    );
    let rt = runtime();
    let held = rt.block_on(write_under_lease(
        &d,
        "short",
        b"held by an expiring lease\n",
    ));
    let kept = rt.block_on(write_under_lease(
        &d,
        "forever",
        b"held by a lease for good\n",
    ));
    // While the lease lives, a synchronous collection keeps what it holds.
    d.ctr(&["leases", "create", "--id", "trigger"]);
    d.ctr(&["leases", "rm", "--sync", "trigger"]);
    let content = lines(&d.ctr(&["content", "ls", "-q"]));
    assert!(
        content.contains(&held) && content.contains(&kept),
        "{content:?}"
    );
    // Expiry alone (no further request) removes the lease and its blob.
    testbed::wait_for("the expired lease to go", Duration::from_secs(20), || {
        !lines(&d.ctr(&["leases", "ls", "-q"])).contains("short")
    });
    testbed::wait_for("its blob to be collected", Duration::from_secs(20), || {
        !lines(&d.ctr(&["content", "ls", "-q"])).contains(&held)
    });
    let leases = lines(&d.ctr(&["leases", "ls", "-q"]));
    assert!(leases.contains("forever"), "{leases:?}");
    assert!(lines(&d.ctr(&["content", "ls", "-q"])).contains(&kept));
    // A lease that expired while the daemon was down goes at the next start.
    d.ctr(&["leases", "create", "--id", "while-down", "-x", "1s"]);
    d.kill9_and_restart();
    testbed::wait_for(
        "the lease that expired during the restart to go",
        Duration::from_secs(20),
        || !lines(&d.ctr(&["leases", "ls", "-q"])).contains("while-down"),
    );
    // The lease API answers what a client asked for, not only what ctr shows.
    let left = rt.block_on(async {
        let channel = containerd_client::connect(d.socket()).await.unwrap();
        let req = with_namespace!(api::ListRequest { filters: vec![] }, "default");
        LeasesClient::new(channel)
            .list(req)
            .await
            .unwrap()
            .into_inner()
            .leases
    });
    let ids: BTreeSet<String> = left.into_iter().map(|l| l.id).collect();
    assert_eq!(ids, BTreeSet::from(["forever".to_owned()]));
}

#[test]
fn kill_9_during_writes_loses_nothing_acknowledged() {
    let mut d = Daemon::start();
    let socket = d.socket();
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    // Two writers of different record kinds, each remembering what ctr acknowledged.
    let writers: Vec<_> = ["leases", "namespaces"]
        .into_iter()
        .map(|kind| {
            let (acked, stop, socket) = (acked.clone(), stop.clone(), socket.clone());
            std::thread::spawn(move || {
                for i in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let name = format!("crash-{kind}-{i}");
                    let args: Vec<&str> = match kind {
                        "leases" => vec!["leases", "create", "--id", &name],
                        _ => vec!["namespaces", "create", &name],
                    };
                    let ok = Command::new(common::debian_ctr())
                        .arg("--address")
                        .arg(&socket)
                        .args(&args)
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .unwrap()
                        .success();
                    if ok {
                        acked.lock().unwrap().push(format!("{kind}/{name}"));
                    }
                }
            })
        })
        .collect();
    testbed::wait_for("writes to be acknowledged", Duration::from_secs(60), || {
        acked.lock().unwrap().len() >= 40
    });
    // kill -9 in the middle of the writers' stream, then start again.
    d.kill9_and_restart();
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().unwrap();
    }
    let leases = lines(&d.ctr(&["leases", "ls", "-q"]));
    let namespaces = lines(&d.ctr(&["namespaces", "ls", "-q"]));
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 40);
    for a in &acked {
        let (kind, name) = a.split_once('/').unwrap();
        let present = match kind {
            "leases" => leases.contains(name),
            _ => namespaces.contains(name),
        };
        assert!(
            present,
            "{a} was acknowledged before the kill -9 and is gone after it"
        );
    }
    // The store holds no half-written record: every listing decodes, and no
    // temporary file is mistaken for a record.
    assert!(
        !d.log().contains("is corrupt"),
        "{}",
        common::tail(&d.log())
    );
}
