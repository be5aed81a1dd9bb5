//! Peers for the registry suites: Debian's `docker-registry` (distribution 2.8) on
//! 127.0.0.1 with a private config and storage, TLS material made with `openssl`, an
//! htpasswd file hashed with the system's crypt(3) (bcrypt), and small images built
//! from a busybox rootfs.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use distribution::{Descriptor, Digest, Progress, ProgressFn, DOCKER_LAYER_GZIP};

const REGISTRY: &str = "/usr/bin/docker-registry";

pub struct Registry {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

/// How a test registry is set up.
#[derive(Default)]
pub struct Options {
    /// `(user, password)`: htpasswd auth plus TLS with a fresh CA.
    pub auth_tls: Option<(String, String)>,
    /// Run as a pull-through cache of this URL.
    pub proxy_of: Option<String>,
    /// Bearer tokens from this token server.
    pub token: Option<TokenServer>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    pub fn start(opts: Options) -> Registry {
        assert!(
            Path::new(REGISTRY).exists(),
            "{REGISTRY} not found; install it with: apt-get install docker-registry"
        );
        testbed::subreaper();
        let dir = tempfile::Builder::new()
            .prefix("registry-")
            .tempdir()
            .unwrap();
        let port = free_port();
        let storage = dir.path().join("storage");
        let mut yaml = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        );
        if let Some((user, password)) = &opts.auth_tls {
            make_tls(dir.path());
            yaml.push_str(&format!(
                "  tls:\n    certificate: {d}/server.crt\n    key: {d}/server.key\nauth:\n  htpasswd:\n    realm: basic-realm\n    path: {d}/htpasswd\n",
                d = dir.path().display()
            ));
            std::fs::write(
                dir.path().join("htpasswd"),
                format!("{user}:{}\n", bcrypt(password)),
            )
            .unwrap();
        }
        if let Some(t) = &opts.token {
            yaml.push_str(&format!(
                "auth:\n  token:\n    realm: {}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                t.realm(),
                t.cert.display()
            ));
        }
        if let Some(remote) = &opts.proxy_of {
            yaml.push_str(&format!("proxy:\n  remoteurl: {remote}\n"));
        }
        let config = dir.path().join("config.yml");
        std::fs::write(&config, yaml).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(REGISTRY)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let r = Registry { dir, port, child };
        testbed::wait_for("docker-registry to listen", Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        r
    }

    /// `127.0.0.1:<port>`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The file the registry serves for `digest`.
    pub fn blob_file(&self, digest: &Digest) -> PathBuf {
        self.dir.path().join(format!(
            "storage/docker/registry/v2/blobs/sha256/{}/{}/data",
            &digest.hex()[..2],
            digest.hex()
        ))
    }

    /// The CA that signed the TLS registry's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for localhost and 127.0.0.1.
fn make_tls(dir: &Path) {
    assert!(
        Path::new("/usr/bin/openssl").exists(),
        "openssl not found; install it with: apt-get install openssl"
    );
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(Command::new("openssl")
        .current_dir(dir)
        .args(["req", "-x509"])
        .args(ec)
        .args([
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=registry test CA",
        ])
        .args([
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]));
    run(Command::new("openssl")
        .current_dir(dir)
        .arg("req")
        .args(ec)
        .args([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]));
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(Command::new("openssl").current_dir(dir).args([
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]));
}

#[link(name = "crypt")]
extern "C" {
    fn crypt(key: *const libc::c_char, setting: *const libc::c_char) -> *mut libc::c_char;
}

/// bcrypt, the only hash distribution's htpasswd accepts.
fn bcrypt(password: &str) -> String {
    let key = std::ffi::CString::new(password).unwrap();
    let setting = std::ffi::CString::new("$2b$05$abcdefghijklmnopqrstuu").unwrap();
    // SAFETY: valid C strings; crypt returns a pointer to a static buffer or NULL, and
    // this is the only caller in the test process.
    let out = unsafe { crypt(key.as_ptr(), setting.as_ptr()) };
    assert!(!out.is_null(), "crypt(3) has no bcrypt");
    let s = unsafe { std::ffi::CStr::from_ptr(out) }
        .to_string_lossy()
        .into_owned();
    assert!(s.starts_with("$2b$05$"), "crypt(3) has no bcrypt: {s}");
    s
}

/// A two-layer busybox image: config bytes and gzip layers with their descriptors.
pub struct TestImage {
    pub dir: tempfile::TempDir,
    pub config: Bytes,
    pub layers: Vec<(Descriptor, PathBuf)>,
    pub diff_ids: Vec<Digest>,
}

pub fn make_image(marker: &str) -> TestImage {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    testbed::busybox_rootfs(&base);
    let extra = dir.path().join("extra");
    std::fs::create_dir_all(extra.join("etc")).unwrap();
    std::fs::write(extra.join("etc/marker"), marker).unwrap();
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for (i, root) in [base, extra].iter().enumerate() {
        let tar = dir.path().join(format!("layer{i}.tar"));
        run(Command::new("tar")
            .args([
                "--numeric-owner",
                "--owner=0",
                "--group=0",
                "--sort=name",
                "--mtime=@0",
                "-C",
            ])
            .arg(root)
            .arg("-cf")
            .arg(&tar)
            .arg("."));
        let raw = std::fs::read(&tar).unwrap();
        diff_ids.push(Digest::of(&raw));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        let gz = gz.finish().unwrap();
        let path = dir.path().join(format!("layer{i}.tar.gz"));
        std::fs::write(&path, &gz).unwrap();
        layers.push((
            Descriptor {
                media_type: DOCKER_LAYER_GZIP.into(),
                size: gz.len() as u64,
                digest: Digest::of(&gz),
                urls: vec![],
                annotations: Default::default(),
                platform: None,
            },
            path,
        ));
    }
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin", format!("MARKER={marker}")], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "busybox"},
                    {"created": "2026-01-01T00:00:00Z", "created_by": "marker"}]
    });
    TestImage {
        dir,
        config: serde_json::to_vec(&config).unwrap().into(),
        layers,
        diff_ids,
    }
}

/// A progress callback that records every event.
pub fn recorder() -> (Arc<ProgressFn>, Arc<Mutex<Vec<Progress>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = Arc::clone(&events);
    let f: Arc<ProgressFn> = Arc::new(move |p: &Progress| e.lock().unwrap().push(p.clone()));
    (f, events)
}

pub fn sha256_of_gunzipped(path: &Path) -> Digest {
    let mut raw = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()),
        &mut raw,
    )
    .unwrap();
    Digest::of(&raw)
}

pub const TOKEN_SERVICE: &str = "test-registry";
pub const TOKEN_ISSUER: &str = "test-issuer";

/// A token server as distribution's `auth: token` expects one: Basic credentials in,
/// an RS256 JWT (signed with `openssl`, key chain in `x5c`) granting the requested
/// repository scopes out; `{"details": ...}` with 401 for wrong credentials.
#[derive(Clone)]
pub struct TokenServer {
    pub port: u16,
    pub cert: PathBuf,
    /// Every `scope` asked for, in order.
    pub scopes: Arc<Mutex<Vec<String>>>,
    /// How many of the next tokens grant nothing (as an expired one would).
    useless: Arc<std::sync::atomic::AtomicUsize>,
    _dir: Arc<tempfile::TempDir>,
}

impl TokenServer {
    pub fn start(user: &str, password: &str) -> TokenServer {
        let dir = tempfile::tempdir().unwrap();
        run(Command::new("openssl")
            .current_dir(dir.path())
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "token.key",
            ])
            .args([
                "-out",
                "token.crt",
                "-days",
                "2",
                "-subj",
                "/CN=token issuer",
            ]));
        let der = Command::new("openssl")
            .current_dir(dir.path())
            .args(["x509", "-in", "token.crt", "-outform", "DER"])
            .output()
            .unwrap()
            .stdout;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let scopes = Arc::new(Mutex::new(Vec::new()));
        let useless = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let server = TokenServer {
            port,
            cert: dir.path().join("token.crt"),
            scopes: Arc::clone(&scopes),
            useless: Arc::clone(&useless),
            _dir: Arc::new(dir),
        };
        let key = server.cert.with_file_name("token.key");
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let _ = serve_token(conn, &expected, &key, &der, &scopes, &useless);
            }
        });
        server
    }

    /// Make the next `n` tokens grant no access.
    pub fn grant_nothing_next(&self, n: usize) {
        self.useless.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }
}

fn serve_token(
    mut conn: std::net::TcpStream,
    expected_auth: &str,
    key: &Path,
    der: &[u8],
    scopes: &Mutex<Vec<String>>,
    useless: &std::sync::atomic::AtomicUsize,
) -> std::io::Result<()> {
    use base64::Engine as _;
    use std::io::{BufRead, BufReader};
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut auth = None;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("authorization") {
                auth = Some(v.trim().to_string());
            }
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("");
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut granted = Vec::new();
    for pair in query.split('&') {
        if let Some(v) = pair.strip_prefix("scope=") {
            let scope = percent_decode(v);
            scopes.lock().unwrap().push(scope.clone());
            // repository:<name>:<actions>
            let mut parts = scope.splitn(3, ':');
            if let (Some("repository"), Some(name), Some(actions)) =
                (parts.next(), parts.next(), parts.next())
            {
                granted.push(serde_json::json!({"type": "repository", "name": name,
                    "actions": actions.split(',').collect::<Vec<_>>()}));
            }
        }
    }
    let (status, body) = match auth.as_deref() {
        Some(a) if a == expected_auth => ("200 OK", None),
        Some(_) => (
            "401 Unauthorized",
            Some(r#"{"details":"incorrect username or password"}"#.to_string()),
        ),
        // Anonymous: a token that grants nothing.
        None => {
            granted.clear();
            ("200 OK", None)
        }
    };
    if body.is_none()
        && useless
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok()
    {
        granted.clear();
    }
    let body = match body {
        Some(b) => b,
        None => {
            let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let header = serde_json::json!({"typ": "JWT", "alg": "RS256",
                "x5c": [base64::engine::general_purpose::STANDARD.encode(der)]});
            let claims = serde_json::json!({"iss": TOKEN_ISSUER, "sub": "alice", "aud": TOKEN_SERVICE,
                "exp": now + 600, "nbf": now - 60, "iat": now - 60, "jti": format!("{now}-{}", granted.len()),
                "access": granted});
            let input = format!(
                "{}.{}",
                b64(&serde_json::to_vec(&header).unwrap()),
                b64(&serde_json::to_vec(&claims).unwrap())
            );
            let mut child = Command::new("openssl")
                .args(["dgst", "-sha256", "-sign"])
                .arg(key)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()?;
            child.stdin.take().unwrap().write_all(input.as_bytes())?;
            let sig = child.wait_with_output()?.stdout;
            serde_json::json!({"token": format!("{input}.{}", b64(&sig))}).to_string()
        }
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A TCP relay to `upstream` on 127.0.0.1 that cuts the first connection whose
/// responses pass `cut_after` bytes, mid-stream, once: a registry whose transfer breaks.
pub fn flaky_relay(upstream: u16, cut_after: usize) -> (u16, Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let cut = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cut);
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c_read, &mut s_write);
                let _ = s_write.shutdown(std::net::Shutdown::Write);
            });
            let flag = Arc::clone(&flag);
            std::thread::spawn(move || {
                let (mut server, mut client) = (server, client);
                let mut buf = [0u8; 16 * 1024];
                let mut sent = 0usize;
                loop {
                    let n = match std::io::Read::read(&mut server, &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if !flag.load(Ordering::SeqCst) && sent + n > cut_after {
                        flag.store(true, Ordering::SeqCst);
                        let _ = client.write_all(&buf[..cut_after - sent]);
                        let _ = client.shutdown(std::net::Shutdown::Both);
                        let _ = server.shutdown(std::net::Shutdown::Both);
                        return;
                    }
                    if client.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    sent += n;
                }
                let _ = client.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (port, cut)
}
