//! Pull, push and login through our dockerd with the real CLI 28, against Debian's
//! `docker-registry` on 127.0.0.1 (plain, htpasswd + TLS, pull-through cache) and
//! beside Debian's dockerd 20.10: what one pushes the other pulls, and both word
//! failures alike.

mod common;
#[path = "../../distribution/tests/common/mod.rs"]
mod peer;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{Engine, CLI28};
use distribution::{Client, Credentials, PushRequest, Reference, RegistryConfig};
use peer::{make_image, Options, Registry};
use testbed::{DockerdOptions, RefDockerd};

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn debian_for(reg: &Registry) -> RefDockerd {
    RefDockerd::start(DockerdOptions {
        args: vec![format!("--insecure-registry={}", reg.host())],
        dockerd: None,
    })
}

fn ok_ref(d: &RefDockerd, args: &[&str]) -> String {
    let out = d.cli(CLI28, args);
    assert!(
        out.status.success(),
        "debian dockerd: docker {args:?}: {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The per-layer and summary lines of a non-tty `docker pull`/`push`, as a set (the
/// order of concurrent layers varies from run to run).
/// The distinct non-empty lines of a CLI's output. `Verifying Checksum` is left out:
/// dockerd's transfer broadcaster keeps only the latest progress of a layer for slow
/// watchers, so whether that short-lived status reaches the client is a matter of timing
/// (it is seen or overwritten by `Download complete`), in Debian's dockerd as in ours.
fn line_set(out: &str) -> BTreeSet<String> {
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.ends_with(": Verifying Checksum"))
        .map(String::from)
        .collect()
}

async fn push_with_client(name: &str, marker: &str) -> peer::TestImage {
    let img = make_image(marker);
    let req = PushRequest::docker_schema2(img.config.clone(), img.layers.clone());
    Client::new(RegistryConfig::default())
        .push(
            &Reference::parse(name).unwrap(),
            &Credentials::default(),
            &req,
            Arc::new(|_: &distribution::Progress| {}),
        )
        .await
        .unwrap();
    img
}

#[test]
fn push_from_ours_pull_into_debian_and_back() {
    let reg = Registry::start(Options::default());
    let e = Engine::start();
    e.import_busybox("busybox:latest");
    let ours = format!("{}/ours/bb:v1", reg.host());
    e.ok(&["tag", "busybox:latest", &ours]);
    let out = e.ok(&["push", &ours]);
    let diff = e.ok(&[
        "image",
        "inspect",
        "--format",
        "{{index .RootFS.Layers 0}}",
        &ours,
    ]);
    let short = &diff.trim().trim_start_matches("sha256:")[..12];
    let lines = line_set(&out);
    assert!(
        lines.contains(&format!(
            "The push refers to repository [{}/ours/bb]",
            reg.host()
        )),
        "{out}"
    );
    assert!(lines.contains(&format!("{short}: Pushed")), "{out}");
    let digest_line = out
        .lines()
        .find(|l| l.starts_with("v1: digest: sha256:"))
        .unwrap_or_else(|| panic!("no digest line:\n{out}"))
        .to_string();

    // Again: the registry has every blob.
    let again = e.ok(&["push", &ours]);
    assert!(
        line_set(&again).contains(&format!("{short}: Layer already exists")),
        "{again}"
    );
    assert!(again.contains(&digest_line), "{again}");
    // Another repository of the same registry: mounted, not uploaded.
    let other = format!("{}/elsewhere/bb:v1", reg.host());
    e.ok(&["tag", "busybox:latest", &other]);
    let mounted = e.ok(&["push", &other]);
    assert!(
        line_set(&mounted).contains(&format!("{short}: Mounted from ours/bb")),
        "{mounted}"
    );

    // Debian's dockerd pulls what we pushed: the same image id.
    let d = debian_for(&reg);
    ok_ref(&d, &["pull", &ours]);
    let id_ours = e.ok(&["image", "inspect", "--format", "{{.Id}}", &ours]);
    let id_theirs = ok_ref(&d, &["image", "inspect", "--format", "{{.Id}}", &ours]);
    assert_eq!(id_ours, id_theirs);

    // Back: Debian pushes an image of its own, we pull it and run it; the lines we
    // stream are the lines Debian's dockerd streams for the same pull.
    d.import_busybox("mine:latest");
    let theirs = format!("{}/theirs/bb:v2", reg.host());
    ok_ref(&d, &["tag", "mine:latest", &theirs]);
    ok_ref(&d, &["push", &theirs]);
    ok_ref(&d, &["rmi", &theirs, "mine:latest"]);
    let their_pull = ok_ref(&d, &["pull", &theirs]);
    let our_pull = e.ok(&["pull", &theirs]);
    assert_eq!(line_set(&our_pull), line_set(&their_pull));
    assert!(our_pull.contains("Pull complete"), "{our_pull}");
    let ran = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &theirs,
        "echo",
        "pulled",
    ]);
    assert_eq!(ran.trim(), "pulled");
    // A second pull changes nothing and says so, as dockerd does.
    let second = e.ok(&["pull", &theirs]);
    let their_second = ok_ref(&d, &["pull", &theirs]);
    assert_eq!(line_set(&second), line_set(&their_second));
    assert!(
        second.contains("Status: Image is up to date for"),
        "{second}"
    );

    // RepoDigests after a pull, as Debian's dockerd records them.
    let digests = |out: &str| out.trim().to_string();
    let fmt = ["image", "inspect", "--format", "{{json .RepoDigests}}"];
    let ours_pulled = e.ok(&[&fmt[..], &[theirs.as_str()]].concat());
    assert_eq!(
        digests(&ours_pulled),
        digests(&ok_ref(&d, &[&fmt[..], &[theirs.as_str()]].concat()))
    );
    assert!(ours_pulled.contains("/theirs/bb@sha256:"), "{ours_pulled}");
    let listing = [
        "images",
        "--digests",
        "--format",
        "{{.Repository}} {{.Tag}} {{.Digest}}",
        &theirs,
    ];
    assert_eq!(e.ok(&listing), ok_ref(&d, &listing));
    let repo_only = theirs.trim_end_matches(":v2");
    let listing = [&listing[..4], &[repo_only]].concat();
    let listed = e.ok(&listing);
    assert_eq!(listed, ok_ref(&d, &listing));
    assert!(listed.contains(" v2 sha256:"), "{listed}");
    // After a push: the pushed manifest's digest, for each repository pushed to.
    let pushed = digest_line.split_whitespace().nth(2).unwrap();
    let ours_digests = e.ok(&[&fmt[..], &[ours.as_str()]].concat());
    for repo in ["ours/bb", "elsewhere/bb"] {
        let want = format!("{}/{repo}@{pushed}", reg.host());
        assert!(ours_digests.contains(&want), "{want} not in {ours_digests}");
    }

    // rmi of the last image using a layer takes its compressed blob along.
    let blobs = e
        .dir
        .path()
        .join("data/image/overlay2/distribution/blobs/sha256");
    let count = || std::fs::read_dir(&blobs).map_or(0, |d| d.count());
    let before = count();
    assert!(before > 0, "no compressed blob kept after pull and push");
    // `save` of a pulled image: each layer's tar comes back from its kept blob, and
    // Debian's dockerd, which checks every layer against the config's diff ids, loads
    // it as the same image.
    let saved = e.dir.path().join("pulled.tar");
    e.ok(&["save", "-o", saved.to_str().unwrap(), &theirs]);
    let id = e.ok(&["image", "inspect", "--format", "{{.Id}}", &theirs]);
    // rmi names the tag and the repository digest it drops, as Debian's dockerd does.
    let removed = e.ok(&["rmi", &theirs]);
    assert_eq!(removed, ok_ref(&d, &["rmi", &theirs]));
    assert!(
        removed.contains(&format!("Untagged: {}@sha256:", repo_only)),
        "{removed}"
    );
    let loaded = ok_ref(&d, &["load", "-i", saved.to_str().unwrap()]);
    assert_eq!(loaded.trim(), format!("Loaded image: {theirs}"));
    assert_eq!(
        ok_ref(&d, &["image", "inspect", "--format", "{{.Id}}", &theirs]),
        id
    );
    assert_eq!(
        count(),
        before - 1,
        "the pulled layer's blob stays after rmi"
    );
    e.ok(&["rmi", "-f", &ours, &other, "busybox:latest"]);
    assert_eq!(count(), 0, "blobs left after every image is gone");
}

#[tokio::test]
async fn bad_digest_is_rejected_and_nothing_is_stored() {
    let reg = Registry::start(Options::default());
    let name = format!("{}/bad/app:v1", reg.host());
    let img = push_with_client(&name, "bad").await;
    let (victim, _) = &img.layers[1];
    let file = reg.blob_file(&victim.digest);
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();

    let e = Engine::start();
    let out = e.docker(&["pull", &name]);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(
        msg.contains(&format!(
            "filesystem layer verification failed for digest {}",
            victim.digest
        )),
        "{msg}"
    );
    assert_eq!(e.ok(&["images", "-q"]).trim(), "");
    let data = e.dir.path().join("data");
    let blob = data
        .join("image/overlay2/distribution/blobs/sha256")
        .join(victim.digest.hex());
    assert!(!blob.exists(), "the bad blob was kept");
    let partial = blob.with_extension("partial");
    assert!(!partial.exists(), "the bad partial blob was kept");
    let layers: Vec<_> = std::fs::read_dir(data.join("overlay2"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(layers.is_empty(), "layers left behind: {layers:?}");
    let tmp: Vec<_> = std::fs::read_dir(data.join("image/overlay2/layerdb/tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(tmp.is_empty(), "staging files left behind: {tmp:?}");
}

#[tokio::test]
async fn missing_tag_and_wrong_credentials_worded_as_dockerd_words_them() {
    let plain = Registry::start(Options::default());
    push_with_client(&format!("{}/some/app:v1", plain.host()), "x").await;
    let secure = Registry::start(Options {
        auth_tls: Some(("alice".into(), "s3cret".into())),
        ..Default::default()
    });
    let e = Engine::start();
    let d = RefDockerd::start(DockerdOptions {
        args: vec![],
        dockerd: None,
    });
    // Both log in, then the password changes on the registry: the stored
    // credentials are wrong now.
    for out in [
        e.docker(&["login", "-u", "alice", "-p", "s3cret", &secure.host()]),
        d.cli(
            CLI28,
            &["login", "-u", "alice", "-p", "s3cret", &secure.host()],
        ),
    ] {
        assert!(out.status.success(), "{}", text(&out));
    }
    std::fs::write(
        secure.dir.path().join("htpasswd"),
        "alice:$2b$05$abcdefghijklmnopqrstuuQ1gLhPqUq8cKdd3ZfJmvGpyV8vUS3K6\n",
    )
    .unwrap();
    for name in [
        format!("{}/some/app:nope", plain.host()),
        format!("{}/secure/app:v1", secure.host()),
    ] {
        let ours = e.docker(&["pull", &name]);
        let theirs = d.cli(CLI28, &["pull", &name]);
        assert!(!ours.status.success() && !theirs.status.success());
        assert_eq!(ours.status.code(), theirs.status.code());
        assert_eq!(
            String::from_utf8_lossy(&ours.stderr),
            String::from_utf8_lossy(&theirs.stderr)
        );
    }
}

#[tokio::test]
async fn login_with_htpasswd_over_tls_then_push_and_pull_with_the_stored_credentials() {
    let reg = Registry::start(Options {
        auth_tls: Some(("alice".into(), "s3cret".into())),
        ..Default::default()
    });
    // The registry's CA where docker looks for it (a private certs.d for the test).
    let certs = tempfile::tempdir().unwrap();
    let host_dir = certs.path().join(reg.host());
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::copy(reg.ca(), host_dir.join("ca.crt")).unwrap();
    let e = Engine::start_with(&[&format!("--registry-certs-dir={}", certs.path().display())]);
    let d = RefDockerd::start(DockerdOptions {
        args: vec![],
        dockerd: None,
    });
    // Wrong password and unknown user: our words are Debian dockerd's words.
    for (user, password) in [("alice", "wrong"), ("mallory", "s3cret")] {
        let ours = e.docker(&["login", "-u", user, "-p", password, &reg.host()]);
        let theirs = d.cli(CLI28, &["login", "-u", user, "-p", password, &reg.host()]);
        assert!(!ours.status.success());
        assert_eq!(ours.status.code(), theirs.status.code());
        let last = |o: &std::process::Output| {
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
                .to_string()
        };
        assert_eq!(last(&ours), last(&theirs));
        assert!(last(&ours).contains("401 Unauthorized"), "{}", last(&ours));
    }
    let out = e.docker(&["login", "-u", "alice", "-p", "s3cret", &reg.host()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Login Succeeded"), "{}", text(&out));

    e.import_busybox("busybox:latest");
    let name = format!("{}/secure/bb:v1", reg.host());
    e.ok(&["tag", "busybox:latest", &name]);
    let pushed = e.ok(&["push", &name]);
    assert!(pushed.contains("v1: digest: sha256:"), "{pushed}");
    e.ok(&["rmi", &name, "busybox:latest"]);
    let pulled = e.ok(&["pull", &name]);
    assert!(
        pulled.contains(&format!("Status: Downloaded newer image for {name}")),
        "{pulled}"
    );
    e.ok(&["logout", &reg.host()]);
    let out = e.docker(&["pull", &format!("{}/secure/other:v1", reg.host())]);
    assert!(!out.status.success());
}

#[tokio::test]
async fn mirror_first_then_the_next_one() {
    let origin = Registry::start(Options::default());
    let img = push_with_client(&format!("{}/library/app:v1", origin.host()), "m").await;
    let mirror = Registry::start(Options {
        proxy_of: Some(format!("http://{}", origin.host())),
        ..Default::default()
    });
    let dead = peer::free_port();
    let e = Engine::start_with(&[
        &format!("--registry-mirror=http://127.0.0.1:{dead}"),
        &format!("--registry-mirror=http://{}", mirror.host()),
        "--max-concurrent-downloads=1",
    ]);
    let out = e.ok(&["pull", "app:v1"]);
    assert!(
        out.contains("Status: Downloaded newer image for app:v1"),
        "{out}"
    );
    // One download at a time: the second layer waited.
    let second = &img.layers[1].0.digest.hex()[..12];
    let first = &img.layers[0].0.digest.hex()[..12];
    assert!(
        out.contains(&format!("{second}: Waiting")) || out.contains(&format!("{first}: Waiting")),
        "{out}"
    );
    // The pull went through the cache: it now holds the blobs.
    for (desc, _) in &img.layers {
        assert!(
            mirror.blob_file(&desc.digest).exists(),
            "{} not cached",
            desc.digest
        );
    }
    let env = e.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Env}}",
        "app:v1",
    ]);
    assert_eq!(env.trim(), r#"["PATH=/bin","MARKER=m"]"#);
    let _ = CLI28;
}

#[tokio::test]
async fn oci_index_with_a_zstd_layer_picks_linux_amd64_and_other_platforms_fail() {
    let reg = Registry::start(Options::default());
    let img = make_image("zstd");
    // The second layer recompressed with zstd, in an OCI manifest.
    let (gz_desc, gz_path) = &img.layers[1];
    let mut raw = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(gz_path).unwrap()),
        &mut raw,
    )
    .unwrap();
    let zst = zstd::encode_all(&raw[..], 3).unwrap();
    let zst_path = img.dir.path().join("layer1.tar.zst");
    std::fs::write(&zst_path, &zst).unwrap();
    let mut zst_desc = gz_desc.clone();
    zst_desc.media_type = distribution::OCI_LAYER_ZSTD.into();
    zst_desc.digest = distribution::Digest::of(&zst);
    zst_desc.size = zst.len() as u64;
    let mut base_desc = img.layers[0].0.clone();
    base_desc.media_type = distribution::OCI_LAYER_GZIP.into();
    let mut req = PushRequest::docker_schema2(
        img.config.clone(),
        vec![(base_desc, img.layers[0].1.clone()), (zst_desc, zst_path)],
    );
    let mut manifest: serde_json::Value = serde_json::from_slice(&req.manifest).unwrap();
    manifest["mediaType"] = distribution::OCI_MANIFEST.into();
    manifest["config"]["mediaType"] = distribution::OCI_CONFIG.into();
    req.manifest = serde_json::to_vec(&manifest).unwrap().into();
    req.manifest_media_type = distribution::OCI_MANIFEST.into();
    req.blobs[0].descriptor.media_type = distribution::OCI_CONFIG.into();
    let c = Client::new(RegistryConfig::default());
    let repo = format!("{}/oci/app", reg.host());
    let digest = distribution::Digest::of(&req.manifest);
    let noop = || Arc::new(|_: &distribution::Progress| {}) as Arc<distribution::ProgressFn>;
    c.push(
        &Reference::parse(&format!("{repo}@{digest}")).unwrap(),
        &Credentials::default(),
        &req,
        noop(),
    )
    .await
    .unwrap();
    let index = |archs: &[&str]| PushRequest {
        manifest: serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": distribution::OCI_INDEX,
            "manifests": archs.iter().map(|a| serde_json::json!({
                "mediaType": distribution::OCI_MANIFEST,
                "size": req.manifest.len(),
                "digest": digest.to_string(),
                "platform": {"architecture": a, "os": "linux"},
            })).collect::<Vec<_>>(),
        }))
        .unwrap()
        .into(),
        manifest_media_type: distribution::OCI_INDEX.into(),
        blobs: vec![],
    };
    for (tag, archs) in [
        ("multi", &["arm64", "amd64"][..]),
        ("arm", &["arm64", "s390x"][..]),
    ] {
        c.push(
            &Reference::parse(&format!("{repo}:{tag}")).unwrap(),
            &Credentials::default(),
            &index(archs),
            noop(),
        )
        .await
        .unwrap();
    }
    let e = Engine::start();
    let out = e.ok(&["pull", &format!("{repo}:multi")]);
    let index_digest = distribution::Digest::of(&index(&["arm64", "amd64"]).manifest);
    assert!(out.contains(&format!("Digest: {index_digest}")), "{out}");
    let ran = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &format!("{repo}:multi"),
        "cat",
        "/etc/marker",
    ]);
    assert_eq!(ran, "zstd");
    let out = e.docker(&["pull", &format!("{repo}:arm")]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no matching manifest for linux/amd64 in the manifest list entries"),
        "{}",
        text(&out)
    );
    // By digest: the platform manifest itself.
    let out = e.ok(&["pull", &format!("{repo}@{digest}")]);
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
}
