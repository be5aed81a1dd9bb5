//! Bearer-token auth against distribution 2.8 configured with `auth: token` and a
//! token server that signs real JWTs: the client follows the `WWW-Authenticate`
//! challenge to the realm with the right service and scopes, wrong credentials are
//! reported as docker reports them, and pushes (with a mount) and pulls work.

mod common;

use std::sync::Arc;

use common::{make_image, Options, Registry, TokenServer};
use distribution::{Client, Credentials, Digest, PushRequest, Reference, RegistryConfig};

fn noop() -> Arc<distribution::ProgressFn> {
    Arc::new(|_: &distribution::Progress| {})
}

#[tokio::test]
async fn bearer_token_from_the_challenge() {
    let tokens = TokenServer::start("alice", "s3cret");
    let reg = Registry::start(Options {
        token: Some(tokens.clone()),
        ..Default::default()
    });
    let c = Client::new(RegistryConfig::default());
    let img = make_image("bearer");
    let req = PushRequest::docker_schema2(img.config.clone(), img.layers.clone());
    let target = Reference::parse(&format!("{}/bearer/app:v1", reg.host())).unwrap();
    let good = Credentials::basic("alice", "s3cret");

    let err = c
        .push(&target, &Credentials::basic("alice", "wrong"), &req, noop())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unauthorized: incorrect username or password"
    );
    let err = c
        .push(&target, &Credentials::default(), &req, noop())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "unauthorized: authentication required");

    let pushed = c.push(&target, &good, &req, noop()).await.unwrap();
    assert!(tokens
        .scopes
        .lock()
        .unwrap()
        .contains(&"repository:bearer/app:pull,push".to_string()));

    // A mount from the first repository asks for pull access there too.
    let mut mounted = req.clone();
    for b in &mut mounted.blobs {
        b.mount_from = vec!["bearer/app".into()];
    }
    let other = Reference::parse(&format!("{}/bearer/other:v1", reg.host())).unwrap();
    c.push(&other, &good, &mounted, noop()).await.unwrap();
    assert!(tokens
        .scopes
        .lock()
        .unwrap()
        .contains(&"repository:bearer/app:pull".to_string()));

    let store = tempfile::tempdir().unwrap();
    let pulled = c.pull(&other, &good, store.path(), noop()).await.unwrap();
    assert_eq!(pulled.digest, pushed.digest);
    assert_eq!(pulled.digest, Digest::of(&req.manifest));
    // A token that turns out useless (as an expired one): the 401 on the manifest is
    // answered with a fresh token for the challenge's scope, and the pull goes on.
    tokens.grant_nothing_next(1);
    let asked = tokens.scopes.lock().unwrap().len();
    let store = tempfile::tempdir().unwrap();
    let again = c.pull(&other, &good, store.path(), noop()).await.unwrap();
    assert_eq!(again.digest, pushed.digest);
    assert!(
        tokens.scopes.lock().unwrap().len() >= asked + 2,
        "a second token was fetched"
    );

    c.login(&reg.host(), &good).await.unwrap();
    let err = c
        .login(&reg.host(), &Credentials::basic("alice", "nope"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Get \"http://{}/v2/\": unauthorized: incorrect username or password",
            reg.host()
        )
    );
    assert!(err.is_unauthorized());
}
