//! The client against real registries (Debian's distribution 2.8) and Debian's dockerd:
//! push and pull round trips, interop both ways, mounts and skips, a corrupted blob,
//! TLS with a private CA, htpasswd auth, and a pull-through cache as a mirror.

mod common;

use std::sync::Arc;

use common::{make_image, recorder, Options, Registry};
use distribution::{
    Client, Credentials, Digest, Error, LayerEvent, Manifest, PushRequest, Reference,
    RegistryConfig,
};

fn client(config: RegistryConfig) -> Client {
    Client::new(config)
}

fn r(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

fn noop() -> Arc<distribution::ProgressFn> {
    Arc::new(|_: &distribution::Progress| {})
}

#[tokio::test]
async fn push_then_pull_round_trip_with_skip_and_mount() {
    let reg = Registry::start(Options::default());
    let img = make_image("round-trip");
    let c = client(RegistryConfig::default());
    let req = PushRequest::docker_schema2(img.config.clone(), img.layers.clone());
    let target = r(&format!("{}/test/app:v1", reg.host()));
    let (rec, events) = recorder();
    let pushed = c
        .push(&target, &Credentials::default(), &req, rec)
        .await
        .unwrap();
    assert_eq!(pushed.digest, Digest::of(&req.manifest));
    let pushed_blobs = events
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.event == LayerEvent::Pushed)
        .count();
    assert_eq!(pushed_blobs, 3, "config and two layers uploaded");

    // Again: every blob is already there.
    let (rec, events) = recorder();
    c.push(&target.with_tag("v2"), &Credentials::default(), &req, rec)
        .await
        .unwrap();
    let ev = events.lock().unwrap().clone();
    assert_eq!(
        ev.iter()
            .filter(|p| p.event == LayerEvent::AlreadyExists)
            .count(),
        3,
        "{ev:?}"
    );
    assert!(!ev.iter().any(|p| p.event == LayerEvent::Pushed));

    // Another repository, mounting from the first.
    let mut req2 = req.clone();
    for b in &mut req2.blobs {
        b.mount_from = vec!["test/app".into()];
    }
    let (rec, events) = recorder();
    c.push(
        &r(&format!("{}/other/app:v1", reg.host())),
        &Credentials::default(),
        &req2,
        rec,
    )
    .await
    .unwrap();
    let mounted = events
        .lock()
        .unwrap()
        .iter()
        .filter(|p| matches!(&p.event, LayerEvent::Mounted { from } if from == "test/app"))
        .count();
    assert_eq!(mounted, 3);

    // Pull back and compare.
    let store = tempfile::tempdir().unwrap();
    let (rec, events) = recorder();
    let pulled = c
        .pull(&target, &Credentials::default(), store.path(), rec)
        .await
        .unwrap();
    assert_eq!(pulled.digest, pushed.digest);
    assert_eq!(pulled.manifest, req.manifest);
    assert_eq!(pulled.config, img.config);
    assert_eq!(pulled.layers.len(), 2);
    for ((d, path), (want, src)) in pulled.layers.iter().zip(&img.layers) {
        assert_eq!(d, want);
        assert_eq!(std::fs::read(path).unwrap(), std::fs::read(src).unwrap());
    }
    let ev = events.lock().unwrap().clone();
    assert_eq!(
        ev.iter()
            .filter(|p| p.event == LayerEvent::DownloadComplete)
            .count(),
        2
    );
    // By digest, and a second pull finds everything in the store.
    let (rec, events) = recorder();
    let by_digest = target.with_digest(pushed.digest.clone());
    let again = c
        .pull(&by_digest, &Credentials::default(), store.path(), rec)
        .await
        .unwrap();
    assert_eq!(again.digest, pushed.digest);
    assert_eq!(
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.event == LayerEvent::AlreadyExists)
            .count(),
        2
    );
    // No partial files are left.
    let leftovers: Vec<_> = std::fs::read_dir(store.path().join("sha256"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn chunked_upload_and_unknown_manifest() {
    let reg = Registry::start(Options::default());
    let img = make_image("chunked");
    let c = client(RegistryConfig {
        upload_chunk_size: Some(64 * 1024),
        ..Default::default()
    });
    let req = PushRequest::docker_schema2(img.config.clone(), img.layers.clone());
    let target = r(&format!("{}/chunked/app:latest", reg.host()));
    c.push(&target, &Credentials::default(), &req, noop())
        .await
        .unwrap();
    let store = tempfile::tempdir().unwrap();
    let pulled = c
        .pull(&target, &Credentials::default(), store.path(), noop())
        .await
        .unwrap();
    assert_eq!(pulled.manifest, req.manifest);
    for (d, path) in &pulled.layers {
        assert_eq!(Digest::of(&std::fs::read(path).unwrap()), d.digest);
    }
    let missing = r(&format!("{}/chunked/app:nope", reg.host()));
    let err = c
        .pull(&missing, &Credentials::default(), store.path(), noop())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "manifest for {}/chunked/app:nope not found: manifest unknown: manifest unknown",
            reg.host()
        )
    );
}

#[tokio::test]
async fn corrupted_blob_is_rejected_and_nothing_stored() {
    let reg = Registry::start(Options::default());
    let img = make_image("corrupt");
    let c = client(RegistryConfig::default());
    let req = PushRequest::docker_schema2(img.config.clone(), img.layers.clone());
    let target = r(&format!("{}/corrupt/app:v1", reg.host()));
    c.push(&target, &Credentials::default(), &req, noop())
        .await
        .unwrap();
    // Flip bytes in the middle of the big layer, keeping its size.
    let victim = img.layers[0].0.digest.clone();
    let file = reg.blob_file(&victim);
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 16] {
        *b ^= 0xff;
    }
    std::fs::write(&file, &bytes).unwrap();

    let store = tempfile::tempdir().unwrap();
    let err = c
        .pull(&target, &Credentials::default(), store.path(), noop())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::BlobDigestMismatch { expected, .. } if *expected == victim),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("filesystem layer verification failed for digest {victim}")
    );
    let dir = store.path().join("sha256");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with(victim.hex())),
        "corrupted blob left in the store: {names:?}"
    );
}

#[tokio::test]
async fn platform_selection_from_an_index() {
    let reg = Registry::start(Options::default());
    let img = make_image("index");
    let c = client(RegistryConfig::default());
    let req = PushRequest::docker_schema2(img.config.clone(), img.layers.clone());
    let repo = format!("{}/multi/app", reg.host());
    let digest = Digest::of(&req.manifest);
    // The platform manifest by digest, then indexes pointing at it.
    c.push(
        &r(&format!("{repo}@{digest}")),
        &Credentials::default(),
        &req,
        noop(),
    )
    .await
    .unwrap();
    let index = |platforms: &[(&str, Option<&str>)]| -> PushRequest {
        let manifests: Vec<_> = platforms
            .iter()
            .map(|(arch, variant)| {
                let mut p = serde_json::json!({"architecture": arch, "os": "linux"});
                if let Some(v) = variant {
                    p["variant"] = (*v).into();
                }
                serde_json::json!({"mediaType": distribution::DOCKER_MANIFEST,
                    "size": req.manifest.len(), "digest": digest.to_string(), "platform": p})
            })
            .collect();
        let body = serde_json::json!({"schemaVersion": 2, "mediaType": distribution::OCI_INDEX, "manifests": manifests});
        PushRequest {
            manifest: serde_json::to_vec(&body).unwrap().into(),
            manifest_media_type: distribution::OCI_INDEX.into(),
            blobs: vec![],
        }
    };
    let store = tempfile::tempdir().unwrap();
    let multi = index(&[("arm64", Some("v8")), ("amd64", None)]);
    let tag = r(&format!("{repo}:multi"));
    c.push(&tag, &Credentials::default(), &multi, noop())
        .await
        .unwrap();
    let pulled = c
        .pull(&tag, &Credentials::default(), store.path(), noop())
        .await
        .unwrap();
    assert_eq!(
        pulled.digest,
        Digest::of(&multi.manifest),
        "repo digest is the index's"
    );
    assert_eq!(pulled.manifest_digest, digest);
    assert!(matches!(
        Manifest::parse(&pulled.manifest_media_type, &pulled.manifest).unwrap(),
        Manifest::Image(_)
    ));

    let arm = index(&[("arm64", Some("v8")), ("arm", Some("v7"))]);
    let tag = r(&format!("{repo}:arm-only"));
    c.push(&tag, &Credentials::default(), &arm, noop())
        .await
        .unwrap();
    let err = c
        .pull(&tag, &Credentials::default(), store.path(), noop())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no matching manifest for linux/amd64 in the manifest list entries"
    );
}

#[tokio::test]
async fn tls_with_private_ca_and_htpasswd() {
    let reg = Registry::start(Options {
        auth_tls: Some(("alice".into(), "s3cret".into())),
        ..Default::default()
    });
    // Without docker's default 127.0.0.0/8 in the insecure list, 127.0.0.1 is a
    // secure registry: TLS is verified.
    let host = reg.host();
    let img = make_image("tls");
    let req = PushRequest::docker_schema2(img.config.clone(), img.layers.clone());
    let target = r(&format!("{host}/secure/app:v1"));
    let good = Credentials::basic("alice", "s3cret");

    // Without the CA the certificate is refused.
    let certs = tempfile::tempdir().unwrap();
    let without_ca = client(RegistryConfig {
        certs_dir: certs.path().to_path_buf(),
        insecure_registries: vec![],
        ..Default::default()
    });
    let err = without_ca
        .push(&target, &good, &req, noop())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Get \"https://{host}/v2/\": x509: certificate signed by unknown authority")
    );

    // With certs.d/<host>/ca.crt it is trusted.
    std::fs::create_dir_all(certs.path().join(&host)).unwrap();
    std::fs::copy(reg.ca(), certs.path().join(&host).join("ca.crt")).unwrap();
    let c = client(RegistryConfig {
        certs_dir: certs.path().to_path_buf(),
        insecure_registries: vec![],
        ..Default::default()
    });
    let store = tempfile::tempdir().unwrap();
    for creds in [Credentials::default(), Credentials::basic("alice", "wrong")] {
        let err = c.push(&target, &creds, &req, noop()).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "unauthorized: authentication required",
            "{creds:?}"
        );
        assert!(err.is_unauthorized());
        let err = c.login(&host, &creds).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("login attempt to https://{host}/v2/ failed with status: 401 Unauthorized")
        );
        assert!(err.is_unauthorized());
    }
    c.login(&host, &good).await.unwrap();
    let pushed = c.push(&target, &good, &req, noop()).await.unwrap();

    // With docker's defaults 127.0.0.1 is insecure: https without verification is
    // tried first and works; its errors are not masked by the http fallback.
    let insecure = client(RegistryConfig {
        certs_dir: tempfile::tempdir().unwrap().path().to_path_buf(),
        ..Default::default()
    });
    let err = insecure
        .pull(
            &target,
            &Credentials::basic("alice", "wrong"),
            store.path(),
            noop(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "unauthorized: authentication required");
    let err = insecure
        .pull(&target.with_tag("nope"), &good, store.path(), noop())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "manifest for {host}/secure/app:nope not found: manifest unknown: manifest unknown"
        )
    );
    insecure
        .pull(&target, &good, store.path(), noop())
        .await
        .unwrap();
    let pulled = c.pull(&target, &good, store.path(), noop()).await.unwrap();
    assert_eq!(pulled.digest, pushed.digest);
    let err = c
        .pull(
            &target,
            &Credentials::basic("alice", "nope"),
            store.path(),
            noop(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "unauthorized: authentication required");
}

#[tokio::test]
async fn pull_through_cache_mirror_and_fallback_to_origin() {
    let origin = Registry::start(Options::default());
    let cache = Registry::start(Options {
        proxy_of: Some(format!("http://{}", origin.host())),
        ..Default::default()
    });
    let img = make_image("mirror");
    let req = PushRequest::docker_schema2(img.config.clone(), img.layers.clone());
    let plain = client(RegistryConfig::default());
    plain
        .push(
            &r(&format!("{}/library/busybox:latest", origin.host())),
            &Credentials::default(),
            &req,
            noop(),
        )
        .await
        .unwrap();
    let dead = format!("http://127.0.0.1:{}", common::free_port());

    // docker.io through the mirrors: a dead one first, then the cache; the origin
    // (Docker Hub's stand-in) is dead too, so only the cache can have served it.
    let via_mirror = client(RegistryConfig {
        mirrors: vec![dead.clone(), format!("http://{}", cache.host())],
        docker_hub_endpoint: dead.clone(),
        ..Default::default()
    });
    let store = tempfile::tempdir().unwrap();
    let pulled = via_mirror
        .pull(&r("busybox"), &Credentials::default(), store.path(), noop())
        .await
        .unwrap();
    assert_eq!(pulled.digest, Digest::of(&req.manifest));
    assert_eq!(
        pulled.reference.to_string(),
        format!("docker.io/library/busybox@{}", pulled.digest)
    );
    // The cache writes what it relayed to its storage in the background.
    for (d, _) in &img.layers {
        let file = cache.blob_file(&d.digest);
        testbed::wait_for(
            &format!("the cache to store {}", d.digest),
            std::time::Duration::from_secs(30),
            || file.exists(),
        );
    }

    // Mirrors that fail fall back to the origin.
    let fallback = client(RegistryConfig {
        mirrors: vec![dead.clone()],
        docker_hub_endpoint: format!("http://{}", origin.host()),
        ..Default::default()
    });
    let store = tempfile::tempdir().unwrap();
    let pulled = fallback
        .pull(
            &r("docker.io/library/busybox:latest"),
            &Credentials::default(),
            store.path(),
            noop(),
        )
        .await
        .unwrap();
    assert_eq!(pulled.digest, Digest::of(&req.manifest));
}

#[tokio::test]
async fn partial_download_resumes_with_range_and_limit_is_respected() {
    let reg = Registry::start(Options::default());
    let img = make_image("resume");
    let c = client(RegistryConfig {
        max_concurrent_downloads: 1,
        ..Default::default()
    });
    let req = PushRequest::docker_schema2(img.config.clone(), img.layers.clone());
    let target = r(&format!("{}/resume/app:v1", reg.host()));
    c.push(&target, &Credentials::default(), &req, noop())
        .await
        .unwrap();

    // A previous pull got half of the big layer.
    let store = tempfile::tempdir().unwrap();
    let (big, big_path) = &img.layers[0];
    let bytes = std::fs::read(big_path).unwrap();
    let half = bytes.len() / 2;
    let partial = distribution::blob_path(store.path(), &big.digest).with_extension("partial");
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    std::fs::write(&partial, &bytes[..half]).unwrap();

    let (rec, events) = recorder();
    let pulled = c
        .pull(&target, &Credentials::default(), store.path(), rec)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&pulled.layers[0].1).unwrap(), bytes);
    assert!(!partial.exists());
    let ev = events.lock().unwrap().clone();
    assert!(
        ev.contains(&distribution::Progress {
            digest: big.digest.clone(),
            event: LayerEvent::Resuming {
                offset: half as u64
            }
        }),
        "{ev:?}"
    );
    // The first progress report of the resumed layer counts from where it resumed.
    let first = ev
        .iter()
        .find_map(|p| match p.event {
            LayerEvent::Downloading { current, .. } if p.digest == big.digest => Some(current),
            _ => None,
        })
        .unwrap();
    assert!(first > half as u64);
    // With one download at a time, a layer's transfer never interleaves with another's.
    let transfer: Vec<&Digest> = ev
        .iter()
        .filter(|p| {
            matches!(
                p.event,
                LayerEvent::Downloading { .. } | LayerEvent::DownloadComplete
            )
        })
        .map(|p| &p.digest)
        .collect();
    let mut seen: Vec<&Digest> = Vec::new();
    for d in transfer {
        if seen.last() != Some(&d) {
            assert!(
                !seen.contains(&d),
                "downloads interleaved with a limit of 1"
            );
            seen.push(d);
        }
    }
    assert_eq!(seen.len(), 2);
}

#[tokio::test]
async fn a_garbage_partial_file_fails_verification_then_a_retry_succeeds() {
    let reg = Registry::start(Options::default());
    let img = make_image("garbage");
    let c = client(RegistryConfig::default());
    let req = PushRequest::docker_schema2(img.config.clone(), img.layers.clone());
    let target = r(&format!("{}/garbage/app:v1", reg.host()));
    c.push(&target, &Credentials::default(), &req, noop())
        .await
        .unwrap();
    let store = tempfile::tempdir().unwrap();
    let (big, _) = &img.layers[0];
    let partial = distribution::blob_path(store.path(), &big.digest).with_extension("partial");
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    std::fs::write(&partial, b"not the start of this blob").unwrap();
    let err = c
        .pull(&target, &Credentials::default(), store.path(), noop())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BlobDigestMismatch { .. }), "{err}");
    assert!(!partial.exists(), "the bad partial download is removed");
    assert!(!distribution::blob_path(store.path(), &big.digest).exists());
    c.pull(&target, &Credentials::default(), store.path(), noop())
        .await
        .unwrap();
}

#[tokio::test]
async fn unreachable_registry_worded_as_docker() {
    let port = common::free_port();
    let c = client(RegistryConfig::default());
    let store = tempfile::tempdir().unwrap();
    let err = c
        .pull(
            &r(&format!("127.0.0.1:{port}/x")),
            &Credentials::default(),
            store.path(),
            noop(),
        )
        .await
        .unwrap_err();
    // dockerd 20.10 says exactly this after its https attempt falls back to http.
    assert_eq!(
        err.to_string(),
        format!("Get \"http://127.0.0.1:{port}/v2/\": dial tcp 127.0.0.1:{port}: connect: connection refused")
    );
}

#[tokio::test]
async fn oci_manifest_round_trip_and_tampered_manifest_rejected() {
    let reg = Registry::start(Options::default());
    let img = make_image("oci");
    let c = client(RegistryConfig::default());
    // The same image as an OCI manifest with OCI media types.
    let mut req = PushRequest::docker_schema2(img.config.clone(), img.layers.clone());
    let mut manifest: serde_json::Value = serde_json::from_slice(&req.manifest).unwrap();
    manifest["mediaType"] = distribution::OCI_MANIFEST.into();
    manifest["config"]["mediaType"] = distribution::OCI_CONFIG.into();
    for l in manifest["layers"].as_array_mut().unwrap() {
        l["mediaType"] = distribution::OCI_LAYER_GZIP.into();
    }
    req.manifest = serde_json::to_vec_pretty(&manifest).unwrap().into();
    req.manifest_media_type = distribution::OCI_MANIFEST.into();
    let target = r(&format!("{}/oci/app:v1", reg.host()));
    let pushed = c
        .push(&target, &Credentials::default(), &req, noop())
        .await
        .unwrap();
    let store = tempfile::tempdir().unwrap();
    let pulled = c
        .pull(&target, &Credentials::default(), store.path(), noop())
        .await
        .unwrap();
    assert_eq!(pulled.manifest_media_type, distribution::OCI_MANIFEST);
    assert_eq!(pulled.digest, pushed.digest);
    assert_eq!(pulled.layers[1].0.media_type, distribution::OCI_LAYER_GZIP);

    // Change the stored manifest without changing its length: valid JSON, wrong digest.
    let file = reg.blob_file(&pushed.digest);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("\"schemaVersion\": 2,"), "{text}");
    std::fs::write(
        &file,
        text.replacen("\"schemaVersion\": 2,", "\"schemaVersion\":2 ,", 1),
    )
    .unwrap();
    let store = tempfile::tempdir().unwrap();
    for reference in [target.clone(), target.with_digest(pushed.digest.clone())] {
        let err = c
            .pull(&reference, &Credentials::default(), store.path(), noop())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::ManifestDigestMismatch { expected, .. } if *expected == pushed.digest),
            "{reference}: {err:?}"
        );
    }
}

#[tokio::test]
async fn the_system_store_is_trusted() {
    let reg = Registry::start(Options {
        auth_tls: Some(("bob".into(), "pw".into())),
        ..Default::default()
    });
    // The system store as rustls-native-certs reads it; this test process only.
    std::env::set_var("SSL_CERT_FILE", reg.ca());
    let c = client(RegistryConfig {
        certs_dir: tempfile::tempdir().unwrap().path().to_path_buf(),
        insecure_registries: vec![],
        ..Default::default()
    });
    c.login(&reg.host(), &Credentials::basic("bob", "pw"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_transfer_cut_mid_blob_resumes_where_it_broke() {
    let reg = Registry::start(Options::default());
    let img = make_image("cut");
    let c = client(RegistryConfig::default());
    let req = PushRequest::docker_schema2(img.config.clone(), img.layers.clone());
    c.push(
        &r(&format!("{}/cut/app:v1", reg.host())),
        &Credentials::default(),
        &req,
        noop(),
    )
    .await
    .unwrap();
    let big = &img.layers[0].0;
    assert!(
        big.size > 300_000,
        "the busybox layer is large enough to cut"
    );
    // Through a relay that breaks the connection once, 200 kB into the responses.
    let (port, cut) = common::flaky_relay(reg.port, 200_000);
    let target = r(&format!("127.0.0.1:{port}/cut/app:v1"));
    let store = tempfile::tempdir().unwrap();
    let (rec, events) = recorder();
    let pulled = c
        .pull(&target, &Credentials::default(), store.path(), rec)
        .await
        .unwrap();
    assert!(
        cut.load(std::sync::atomic::Ordering::SeqCst),
        "the relay cut a transfer"
    );
    assert_eq!(
        std::fs::read(&pulled.layers[0].1).unwrap(),
        std::fs::read(&img.layers[0].1).unwrap()
    );
    let resumed = events
        .lock()
        .unwrap()
        .iter()
        .find_map(|p| match p.event {
            LayerEvent::Resuming { offset } if p.digest == big.digest => Some(offset),
            _ => None,
        })
        .expect("the big layer resumed");
    assert!(resumed > 0 && resumed < big.size);
}
