//! `-H tcp://` with `--tlsverify`: a reference dockerd listening with TLS and client
//! certificate checks, certificates made with openssl, both CLIs compared.

use std::path::Path;
use std::process::Command;

const REAL_CLI: &str = "/usr/local/bin/docker";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl not found: install it with apt-get install openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate.
fn make_certs(dir: &Path) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage = clientAuth\n").unwrap();
    for args in [
        &["genrsa", "-out", "ca-key.pem", "2048"][..],
        &[
            "req",
            "-new",
            "-x509",
            "-days",
            "2",
            "-key",
            "ca-key.pem",
            "-subj",
            "/CN=test-ca",
            "-out",
            "ca.pem",
        ],
        &["genrsa", "-out", "server-key.pem", "2048"],
        &[
            "req",
            "-new",
            "-key",
            "server-key.pem",
            "-subj",
            "/CN=127.0.0.1",
            "-out",
            "server.csr",
        ],
        &[
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-extfile",
            "server.ext",
            "-out",
            "server-cert.pem",
        ],
        &["genrsa", "-out", "key.pem", "2048"],
        &[
            "req",
            "-new",
            "-key",
            "key.pem",
            "-subj",
            "/CN=client",
            "-out",
            "client.csr",
        ],
        &[
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            "client.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-extfile",
            "client.ext",
            "-out",
            "cert.pem",
        ],
    ] {
        openssl(dir, args);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn tlsverify_reaches_a_tls_daemon_like_the_real_cli() {
    assert!(
        Path::new(REAL_CLI).exists(),
        "{REAL_CLI} not found: this suite needs the real docker CLI 28 (package docker-ce-cli)"
    );
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let c = |name: &str| certs.path().join(name).display().to_string();
    let port = free_port();
    let d = testbed::RefDockerd::start(testbed::DockerdOptions {
        args: vec![
            format!("--host=tcp://127.0.0.1:{port}"),
            "--tlsverify".into(),
            format!("--tlscacert={}", c("ca.pem")),
            format!("--tlscert={}", c("server-cert.pem")),
            format!("--tlskey={}", c("server-key.pem")),
        ],
        dockerd: None,
    });
    let host = format!("tcp://127.0.0.1:{port}");
    let run = |cli: &str, extra: &[String]| {
        let out = Command::new(cli)
            .env_remove("DOCKER_HOST")
            .env("DOCKER_CONFIG", d.dir.path().join("cli-config"))
            .args(extra)
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let ours = env!("CARGO_BIN_EXE_docker");
    let verified: Vec<String> = [
        "--tlsverify",
        "--tlscacert",
        &c("ca.pem"),
        "--tlscert",
        &c("cert.pem"),
        "--tlskey",
        &c("key.pem"),
        "-H",
        &host,
        "version",
        "--format",
        "{{.Server.Version}}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let real = run(REAL_CLI, &verified);
    assert_eq!(
        real.1,
        Some(0),
        "the real CLI could not reach the TLS daemon"
    );
    assert_eq!(run(ours, &verified), real);
    // --tls without verification (the CA is still named, as docker requires).
    let unverified: Vec<String> = [
        "--tls",
        "--tlscacert",
        &c("ca.pem"),
        "--tlscert",
        &c("cert.pem"),
        "--tlskey",
        &c("key.pem"),
        "-H",
        &host,
        "ps",
        "-q",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(run(ours, &unverified), run(REAL_CLI, &unverified));
    assert_eq!(run(ours, &unverified).1, Some(0));
    // A default certificate file that does not exist fails the same way in both.
    let missing: Vec<String> = ["--tls", "-H", &host, "ps"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(run(ours, &missing), run(REAL_CLI, &missing));
    // Without TLS the daemon refuses the plain HTTP request: both fail.
    let plain: Vec<String> = ["-H", &host, "ps"].iter().map(|s| s.to_string()).collect();
    assert_ne!(run(ours, &plain).1, Some(0));
    assert_ne!(run(REAL_CLI, &plain).1, Some(0));
}
