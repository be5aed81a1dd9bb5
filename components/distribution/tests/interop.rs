//! Interop with Debian's dockerd 20.10 through a real registry: it pulls what this
//! client pushed, this client pulls what it pushed, and both word a missing tag alike.

mod common;

use std::sync::Arc;

use common::{make_image, Options, Registry};
use distribution::{Client, Credentials, Digest, PushRequest, Reference, RegistryConfig};
use testbed::{DockerdOptions, RefDockerd};

fn noop() -> Arc<distribution::ProgressFn> {
    Arc::new(|_: &distribution::Progress| {})
}

fn dockerd_for(reg: &Registry) -> RefDockerd {
    RefDockerd::start(DockerdOptions {
        args: vec![format!("--insecure-registry={}", reg.host())],
        dockerd: None,
    })
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "docker failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn dockerd_pulls_what_we_pushed() {
    let reg = Registry::start(Options::default());
    let img = make_image("to-dockerd");
    let req = PushRequest::docker_schema2(img.config.clone(), img.layers.clone());
    let name = format!("{}/ours/app:v1", reg.host());
    let pushed = Client::new(RegistryConfig::default())
        .push(
            &Reference::parse(&name).unwrap(),
            &Credentials::default(),
            &req,
            noop(),
        )
        .await
        .unwrap();
    let d = dockerd_for(&reg);
    ok(d.docker(&["pull", &name]));
    let inspect = ok(d.docker(&[
        "image",
        "inspect",
        "--format",
        "{{index .RepoDigests 0}}|{{json .Config.Env}}|{{json .RootFS.Layers}}",
        &name,
    ]));
    let want_layers = serde_json::to_string(
        &img.diff_ids
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert_eq!(
        inspect.trim(),
        format!(
            "{}/ours/app@{}|[\"PATH=/bin\",\"MARKER=to-dockerd\"]|{want_layers}",
            reg.host(),
            pushed.digest
        )
    );
}

#[tokio::test]
async fn we_pull_what_dockerd_pushed() {
    let reg = Registry::start(Options::default());
    let d = dockerd_for(&reg);
    d.import_busybox("busybox:latest");
    let name = format!("{}/theirs/busybox:latest", reg.host());
    ok(d.docker(&["tag", "busybox:latest", &name]));
    let out = ok(d.docker(&["push", &name]));
    // `latest: digest: sha256:... size: 527`
    let digest = out
        .lines()
        .find_map(|l| l.split("digest: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest in docker push output:\n{out}"));
    let digest = Digest::parse(digest).unwrap();
    let diff_ids = ok(d.docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .RootFS.Layers}}",
        &name,
    ]));

    let store = tempfile::tempdir().unwrap();
    let pulled = Client::new(RegistryConfig::default())
        .pull(
            &Reference::parse(&name).unwrap(),
            &Credentials::default(),
            store.path(),
            noop(),
        )
        .await
        .unwrap();
    assert_eq!(pulled.digest, digest);
    let ours: Vec<String> = pulled
        .layers
        .iter()
        .map(|(_, p)| common::sha256_of_gunzipped(p).to_string())
        .collect();
    assert_eq!(serde_json::to_string(&ours).unwrap(), diff_ids.trim());
    let config: serde_json::Value = serde_json::from_slice(&pulled.config).unwrap();
    assert_eq!(
        config["rootfs"]["diff_ids"],
        serde_json::from_str::<serde_json::Value>(diff_ids.trim()).unwrap()
    );
}

#[tokio::test]
async fn missing_tag_worded_as_dockerd_words_it() {
    let reg = Registry::start(Options::default());
    let img = make_image("missing");
    let req = PushRequest::docker_schema2(img.config.clone(), img.layers.clone());
    let c = Client::new(RegistryConfig::default());
    let base = format!("{}/some/app", reg.host());
    c.push(
        &Reference::parse(&format!("{base}:v1")).unwrap(),
        &Credentials::default(),
        &req,
        noop(),
    )
    .await
    .unwrap();
    let store = tempfile::tempdir().unwrap();
    let ours = c
        .pull(
            &Reference::parse(&format!("{base}:nope")).unwrap(),
            &Credentials::default(),
            store.path(),
            noop(),
        )
        .await
        .unwrap_err()
        .to_string();
    let d = dockerd_for(&reg);
    let out = d.docker(&["pull", &format!("{base}:nope")]);
    assert!(!out.status.success());
    let theirs = String::from_utf8_lossy(&out.stderr);
    assert_eq!(theirs.trim(), format!("Error response from daemon: {ours}"));
}

#[tokio::test]
async fn login_errors_worded_as_dockerd_words_them() {
    let reg = Registry::start(Options {
        auth_tls: Some(("alice".into(), "s3cret".into())),
        ..Default::default()
    });
    let d = dockerd_for(&reg);
    let c = Client::new(RegistryConfig {
        certs_dir: tempfile::tempdir().unwrap().path().to_path_buf(),
        ..Default::default()
    });
    for (user, password) in [("alice", "wrong"), ("mallory", "s3cret")] {
        let out = d.docker(&["login", "-u", user, "-p", password, &reg.host()]);
        assert!(!out.status.success());
        let theirs = String::from_utf8_lossy(&out.stderr);
        let theirs = theirs.lines().last().unwrap_or("").to_string();
        let ours = c
            .login(&reg.host(), &Credentials::basic(user, password))
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(theirs, format!("Error response from daemon: {ours}"));
    }
    let out = d.docker(&["login", "-u", "alice", "-p", "s3cret", &reg.host()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.login(&reg.host(), &Credentials::basic("alice", "s3cret"))
        .await
        .unwrap();
}

#[tokio::test]
async fn wrong_credentials_on_pull_worded_as_dockerd_words_them() {
    let reg = Registry::start(Options {
        auth_tls: Some(("alice".into(), "s3cret".into())),
        ..Default::default()
    });
    let d = dockerd_for(&reg);
    let c = Client::new(RegistryConfig {
        certs_dir: tempfile::tempdir().unwrap().path().to_path_buf(),
        ..Default::default()
    });
    let name = format!("{}/secure/app:v1", reg.host());
    let out = d.docker(&["login", "-u", "alice", "-p", "s3cret", &reg.host()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The password changes on the registry: the CLI's stored credentials are wrong now.
    std::fs::write(
        reg.dir.path().join("htpasswd"),
        "alice:$2b$05$abcdefghijklmnopqrstuuQ1gLhPqUq8cKdd3ZfJmvGpyV8vUS3K6\n",
    )
    .unwrap();
    let out = d.docker(&["pull", &name]);
    assert!(!out.status.success());
    let theirs = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let store = tempfile::tempdir().unwrap();
    let ours = c
        .pull(
            &Reference::parse(&name).unwrap(),
            &Credentials::basic("alice", "s3cret"),
            store.path(),
            noop(),
        )
        .await
        .unwrap_err();
    assert!(ours.is_unauthorized());
    assert_eq!(theirs, format!("Error response from daemon: {ours}"));
}
