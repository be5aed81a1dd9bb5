//! The daemon's operating surface: SIGHUP reloading daemon.json's reloadable keys,
//! `-H tcp://` with mutual TLS (certificates made with openssl here) and `-H fd://`
//! socket activation, each driven by the real CLIs.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Engine, CLI20, CLI28};

fn info(e: &Engine) -> String {
    e.ok(&["info", "--format", "{{.Debug}} {{json .Labels}}"])
        .trim()
        .to_string()
}

#[test]
fn sighup_reloads_reloadable_keys_and_survives_a_broken_file() {
    let e = Engine::start_with_config(r#"{"debug": false, "labels": ["stage=one"]}"#, &[]);
    assert_eq!(info(&e), r#"false ["stage=one"]"#);
    let config = e.dir.path().join("daemon.json");

    std::fs::write(
        &config,
        r#"{"debug": true, "labels": ["stage=two", "x=y"]}"#,
    )
    .unwrap();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(e.dockerd_pid(), libc::SIGHUP) };
    testbed::wait_for("the reload", Duration::from_secs(30), || {
        info(&e) == r#"true ["stage=two","x=y"]"#
    });
    // A broken file is reported and the running configuration stays.
    std::fs::write(&config, "{not json").unwrap();
    // SAFETY: as above.
    unsafe { libc::kill(e.dockerd_pid(), libc::SIGHUP) };
    testbed::wait_for(
        "the reload error in the log",
        Duration::from_secs(30),
        || e.log().contains("error reloading configuration"),
    );
    assert_eq!(info(&e), r#"true ["stage=two","x=y"]"#);
    e.ok(&["version"]);
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all from openssl.
fn make_certs(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("openssl (apt-get install openssl)");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
    ]);
    for who in ["server", "client"] {
        let key = format!("{who}-key.pem");
        let csr = format!("{who}.csr");
        let cert = format!("{who}-cert.pem");
        let ext = format!("{who}.ext");
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={who}"),
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
    }
    // A second CA whose client certificate the daemon must refuse.
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "other-key.pem",
        "-out",
        "other.pem",
        "-days",
        "2",
        "-subj",
        "/CN=other",
    ]);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn tcp_with_tlsverify_takes_only_clients_of_the_ca() {
    let certs = tempfile::tempdir().unwrap();
    let c = certs.path();
    make_certs(c);
    let port = free_port();
    let p = |f: &str| c.join(f).display().to_string();
    let e = Engine::start_with(&[
        &format!("--host=tcp://127.0.0.1:{port}"),
        "--tlsverify",
        &format!("--tlscacert={}", p("ca.pem")),
        &format!("--tlscert={}", p("server-cert.pem")),
        &format!("--tlskey={}", p("server-key.pem")),
    ]);
    let tcp = format!("tcp://127.0.0.1:{port}");
    let over_tls = |cli: &str, cert: &str, key: &str| {
        Command::new(cli)
            .env("DOCKER_CONFIG", e.dir.path().join("cli-config"))
            .env_remove("DOCKER_HOST")
            .args([
                "-H",
                &tcp,
                "--tlsverify",
                &format!("--tlscacert={}", p("ca.pem")),
                &format!("--tlscert={}", p(cert)),
                &format!("--tlskey={}", p(key)),
                "version",
                "--format",
                "{{.Server.Version}}",
            ])
            .output()
            .unwrap()
    };
    for cli in [CLI28, CLI20] {
        let out = over_tls(cli, "client-cert.pem", "client-key.pem");
        assert!(out.status.success(), "{cli} over TLS: {out:?}\n{}", e.log());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            e.ok(&["version", "--format", "{{.Server.Version}}"]).trim()
        );
    }
    // A client whose certificate another CA signed, and one with none, are refused.
    let out = over_tls(CLI28, "other.pem", "other-key.pem");
    assert!(
        !out.status.success(),
        "a foreign client certificate was accepted"
    );
    let out = Command::new(CLI28)
        .env_remove("DOCKER_HOST")
        .env("DOCKER_CONFIG", e.dir.path().join("cli-config"))
        .args([
            "-H",
            &tcp,
            "--tls",
            &format!("--tlscacert={}", p("ca.pem")),
            "version",
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a client without a certificate was accepted"
    );
    // Plain HTTP on the TLS port gets nothing.
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "10",
            &format!("http://127.0.0.1:{port}/_ping"),
        ])
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
}

#[test]
fn tls_with_a_missing_key_refuses_to_start() {
    let certs = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let missing = certs.path().join("nope.pem");
    std::fs::write(dir.path().join("daemon.json"), "{}").unwrap();
    let out = Command::new(testbed::workspace_bin("dockerd"))
        .args([
            "--host=tcp://127.0.0.1:0",
            "--tlsverify",
            &format!("--tlscert={}", missing.display()),
            &format!("--tlskey={}", missing.display()),
            &format!("--tlscacert={}", missing.display()),
            &format!("--data-root={}", dir.path().join("data").display()),
            &format!("--exec-root={}", dir.path().join("exec").display()),
            &format!("--pidfile={}", dir.path().join("pid").display()),
            "--containerd=/nonexistent.sock",
            &format!("--config-file={}", dir.path().join("daemon.json").display()),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nope.pem"),
        "the error must name the file: {err}"
    );
    assert!(
        !dir.path().join("data").exists() && !dir.path().join("pid").exists(),
        "a refused start must leave nothing behind"
    );
}

#[test]
fn fd_socket_activation_serves_the_handed_over_socket() {
    testbed::require_root();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("activated.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let e = Engine::start_activated(listener, sock);
    e.import_busybox("busybox:latest");
    assert_eq!(
        e.ok(&["run", "--rm", "busybox", "echo", "activated"]),
        "activated\n"
    );
    assert!(e.log().contains("API listen on fd://"), "{}", e.log());
}
