//! The stack under test: Debian's containerd on a private socket and state root, and
//! our dockerd on a private socket, data root and exec root, driven by real docker CLIs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The real docker CLI 28 and Debian's CLI 20.10.
pub const CLI28: &str = "/usr/local/bin/docker";
pub const CLI20: &str = "/usr/bin/docker";

pub struct Engine {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    containerd: Option<Child>,
    dockerd: Option<Child>,
    pub extra_args: Vec<String>,
    /// Socket activation: dockerd gets this listener as fd 3 and `-H fd://`.
    pub activation: Option<std::os::unix::net::UnixListener>,
}

fn require(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} not found; install it with: apt-get install {package}"
    );
}

impl Engine {
    pub fn start() -> Engine {
        Engine::start_with(&[])
    }

    /// containerd first, then dockerd with `args` added.
    pub fn start_with(args: &[&str]) -> Engine {
        Engine::start_with_config("{}", args)
    }

    /// As [`Engine::start_with`], with `daemon_json` as the config file.
    pub fn start_with_config(daemon_json: &str, args: &[&str]) -> Engine {
        let mut e = Engine::prepare(daemon_json, args);
        e.start_dockerd();
        e
    }

    /// dockerd started as a service manager would with socket activation: `listener`
    /// (bound at `socket`) handed over as fd 3 and `-H fd://`.
    pub fn start_activated(listener: std::os::unix::net::UnixListener, socket: PathBuf) -> Engine {
        let mut e = Engine::prepare("{}", &[]);
        e.socket = socket;
        e.activation = Some(listener);
        e.start_dockerd();
        e
    }

    /// containerd up, dockerd not yet started.
    fn prepare(daemon_json: &str, args: &[&str]) -> Engine {
        testbed::require_root();
        testbed::subreaper();
        require("/usr/bin/containerd", "containerd");
        require(CLI28, "the docker CLI 28 (/usr/local/bin/docker)");
        let dir = tempfile::Builder::new()
            .prefix("engine-test-")
            .tempdir_in("/tmp")
            .unwrap();
        let root = dir.path();
        let ctd_sock = root.join("containerd.sock");
        std::fs::write(
            root.join("containerd.toml"),
            format!(
                "version = 2\nroot = \"{}\"\nstate = \"{}\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"{}\"\n",
                root.join("ctd-root").display(),
                root.join("ctd-state").display(),
                ctd_sock.display()
            ),
        )
        .unwrap();
        std::fs::write(root.join("daemon.json"), daemon_json).unwrap();
        let log = std::fs::File::create(root.join("containerd.log")).unwrap();
        let containerd = Command::new("/usr/bin/containerd")
            .arg("--config")
            .arg(root.join("containerd.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        testbed::wait_for("containerd socket", Duration::from_secs(30), || {
            ctd_sock.exists()
        });
        Engine {
            socket: root.join("docker.sock"),
            dir,
            containerd: Some(containerd),
            dockerd: None,
            extra_args: args.iter().map(|s| s.to_string()).collect(),
            activation: None,
        }
    }

    pub fn dockerd_args(&self) -> Vec<String> {
        let root = self.dir.path();
        let host = match self.activation {
            Some(_) => "--host=fd://".to_string(),
            None => format!("--host=unix://{}", self.socket.display()),
        };
        let mut a = vec![
            host,
            format!("--data-root={}", root.join("data").display()),
            format!("--exec-root={}", root.join("exec").display()),
            format!("--pidfile={}", root.join("dockerd.pid").display()),
            format!("--containerd={}", root.join("containerd.sock").display()),
            format!("--config-file={}", root.join("daemon.json").display()),
        ];
        // Networking tests pass their own -b/--bip/--iptables instead of these.
        let given = |f: &str| self.extra_args.iter().any(|a| a.starts_with(f));
        if !given("--iptables") {
            a.push("--iptables=false".into());
        }
        if !given("--bridge") && !given("-b") && !given("--bip") {
            a.push("--bridge=none".into());
        }
        a.extend(self.extra_args.iter().cloned());
        a
    }

    pub fn start_dockerd(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("dockerd.log"))
            .unwrap();
        let mut cmd = match &self.activation {
            None => Command::new(testbed::workspace_bin("dockerd")),
            Some(listener) => {
                // As a service manager does it: the socket as fd 3, LISTEN_FDS=1 and
                // LISTEN_PID naming dockerd (the shell's pid, kept across exec).
                use std::os::fd::AsRawFd;
                use std::os::unix::process::CommandExt;
                let fd = listener.as_raw_fd();
                let mut c = Command::new("/bin/sh");
                c.arg("-c")
                    .arg("LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" \"$@\"")
                    .arg(testbed::workspace_bin("dockerd"));
                // SAFETY: dup2 is async-signal-safe; fd stays open in the parent.
                unsafe {
                    c.pre_exec(move || {
                        if fd == 3 {
                            // dup2 onto itself would keep close-on-exec.
                            libc::fcntl(3, libc::F_SETFD, 0);
                        } else if libc::dup2(fd, 3) < 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
                c
            }
        };
        let child = cmd
            .args(self.dockerd_args())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        self.dockerd = Some(child);
        let start = std::time::Instant::now();
        loop {
            if self
                .docker(&["version", "--format", "{{.Server.Version}}"])
                .status
                .success()
            {
                break;
            }
            let exited = self.dockerd.as_mut().unwrap().try_wait().unwrap();
            assert!(
                exited.is_none() && start.elapsed() < Duration::from_secs(60),
                "our dockerd did not come up ({exited:?}); its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Our dockerd's pid.
    pub fn dockerd_pid(&self) -> i32 {
        self.dockerd.as_ref().expect("dockerd is running").id() as i32
    }

    /// SIGTERM dockerd and wait until it has exited (containerd stays).
    pub fn stop_dockerd(&mut self) {
        if let Some(mut c) = self.dockerd.take() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let status = c.wait().unwrap();
            assert!(
                status.success(),
                "dockerd exited with {status} on SIGTERM; its log:\n{}",
                self.log()
            );
        }
    }

    /// SIGKILL dockerd (containerd and the containers stay).
    pub fn kill_dockerd(&mut self) {
        if let Some(mut c) = self.dockerd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn cli(&self, cli: &str, args: &[&str]) -> Output {
        Command::new(cli)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("cli-config"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cli}: {e}"))
    }

    /// The real docker CLI 28.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.cli(CLI28, args)
    }

    /// Run the CLI 28 and insist on success; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({:?}): {}\n--- dockerd log:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `docker inspect -f <template> <name>`, trimmed.
    pub fn inspect(&self, name: &str, template: &str) -> String {
        self.ok(&["inspect", "-f", template, name])
            .trim()
            .to_string()
    }

    pub fn import_busybox(&self, tag: &str) {
        let tar = self.dir.path().join("busybox.tar");
        if !tar.exists() {
            testbed::busybox_tar(&tar);
        }
        self.ok(&["import", tar.to_str().unwrap(), tag]);
    }

    /// An API call with curl over the socket: (status, body).
    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-s",
            "--max-time",
            "60",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "--unix-socket",
        ])
        .arg(&self.socket);
        if method == "HEAD" {
            cmd.arg("-I");
        } else {
            cmd.args(["-X", method]);
        }
        if let Some(b) = body {
            cmd.args(["-H", "Content-Type: application/json", "--data-binary", b]);
        }
        cmd.arg(format!("http://localhost{path}"));
        let out = cmd.output().expect("curl (apt-get install curl)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if self.dockerd.is_some() {
            let ids = self.docker(&["ps", "-aq"]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = self.docker(&["rm", "-f", id]);
            }
        }
        for child in [self.dockerd.take(), self.containerd.take()]
            .into_iter()
            .flatten()
        {
            let mut child = child;
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let start = std::time::Instant::now();
            while child.try_wait().ok().flatten().is_none() {
                if start.elapsed() > Duration::from_secs(20) {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        testbed::reap_zombies();
        testbed::unmount_under(self.dir.path());
    }
}

/// A docker CLI on a pseudo-terminal, as a person at a terminal runs it.
pub struct Pty {
    master: std::fs::File,
    pub child: Child,
    /// Everything read from the terminal so far.
    pub seen: String,
}

impl Pty {
    pub fn spawn(e: &Engine, cli: &str, args: &[&str]) -> Pty {
        use std::os::fd::FromRawFd;
        use std::os::unix::process::CommandExt;
        let (mut master, mut slave) = (0, 0);
        let size = libc::winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: out-pointers to locals; no name buffer.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both fds are fresh and owned here.
        let (master, slave) = unsafe {
            (
                std::fs::File::from_raw_fd(master),
                std::fs::File::from_raw_fd(slave),
            )
        };
        let mut cmd = Command::new(cli);
        cmd.env("DOCKER_HOST", e.host())
            .env("DOCKER_CONFIG", e.dir.path().join("cli-config"))
            .env("TERM", "xterm")
            .args(args)
            .stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave);
        // SAFETY: setsid and ioctl are async-signal-safe; the terminal becomes the
        // controlling one of the CLI's new session.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run {cli}: {err}"));
        // SAFETY: our own fd.
        unsafe {
            let fl = libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&master), libc::F_GETFL);
            libc::fcntl(
                std::os::fd::AsRawFd::as_raw_fd(&master),
                libc::F_SETFL,
                fl | libc::O_NONBLOCK,
            );
        }
        Pty {
            master,
            child,
            seen: String::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.master.write_all(bytes).unwrap();
    }

    /// Read until `needle` shows up (new output only counts from `from`); the output.
    pub fn expect(&mut self, needle: &str) -> String {
        use std::io::Read;
        let start = std::time::Instant::now();
        let from = self.seen.len();
        loop {
            if self.seen[from..].contains(needle) {
                return self.seen.clone();
            }
            let mut buf = [0u8; 4096];
            match self.master.read(&mut buf) {
                Ok(0) => {}
                Ok(n) => self.seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                // EIO: the CLI closed its side.
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{needle:?} never showed on the terminal; it shows:\n{}",
                self.seen
            );
        }
    }

    /// Wait for the CLI to exit; its exit code.
    pub fn wait(&mut self) -> i32 {
        let start = std::time::Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                // Drain what the CLI wrote last: data until EIO once no slave is open.
                let mut buf = [0u8; 4096];
                for _ in 0..250 {
                    match std::io::Read::read(&mut self.master, &mut buf) {
                        Ok(n) if n > 0 => self.seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(20))
                        }
                        _ => break,
                    }
                }
                return s.code().unwrap_or(-1);
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the CLI did not exit; the terminal shows:\n{}",
                self.seen
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw HTTP/1.1 connection on a unix socket, for hijacked and streaming endpoints
/// the CLI does not expose.
pub struct RawHttp {
    stream: std::os::unix::net::UnixStream,
    /// The response head (status line and headers).
    pub head: String,
    /// Body bytes read so far.
    pub body: Vec<u8>,
}

impl RawHttp {
    /// Send `request` and read the response head.
    pub fn open(socket: &Path, request: &str) -> RawHttp {
        use std::io::{Read, Write};
        let mut stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = stream.read(&mut buf).expect("response head");
            assert!(n > 0, "connection closed before the response head");
            data.extend_from_slice(&buf[..n]);
        };
        RawHttp {
            head: String::from_utf8_lossy(&data[..head_end]).into_owned(),
            body: data[head_end..].to_vec(),
            stream,
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        std::io::Write::write_all(&mut self.stream, bytes).unwrap();
    }

    /// Read until the body holds `needle`.
    pub fn read_until(&mut self, needle: &[u8]) {
        let mut buf = [0u8; 4096];
        while !self.body.windows(needle.len()).any(|w| w == needle) {
            let n = std::io::Read::read(&mut self.stream, &mut buf).unwrap_or_else(|e| {
                panic!(
                    "{:?} never came: {e}; so far {:?}",
                    String::from_utf8_lossy(needle),
                    String::from_utf8_lossy(&self.body)
                )
            });
            assert!(
                n > 0,
                "closed before {:?}; body {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&self.body)
            );
            self.body.extend_from_slice(&buf[..n]);
        }
    }

    /// Read once (blocking): whatever the daemon sent next.
    pub fn read_some(&mut self) {
        let mut buf = [0u8; 4096];
        let n = std::io::Read::read(&mut self.stream, &mut buf).expect("reading the stream");
        assert!(n > 0, "the daemon closed the stream");
        self.body.extend_from_slice(&buf[..n]);
    }

    /// Read until the daemon closes the connection; the whole body.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let mut buf = [0u8; 4096];
        loop {
            match std::io::Read::read(&mut self.stream, &mut buf) {
                Ok(0) => return self.body.clone(),
                Ok(n) => self.body.extend_from_slice(&buf[..n]),
                Err(e) => panic!(
                    "the daemon did not close the connection: {e}; so far {:?}",
                    String::from_utf8_lossy(&self.body)
                ),
            }
        }
    }
}
