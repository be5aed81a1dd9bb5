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
        let mut e = Engine {
            socket: root.join("docker.sock"),
            dir,
            containerd: Some(containerd),
            dockerd: None,
            extra_args: args.iter().map(|s| s.to_string()).collect(),
        };
        e.start_dockerd();
        e
    }

    pub fn dockerd_args(&self) -> Vec<String> {
        let root = self.dir.path();
        let mut a = vec![
            format!("--host=unix://{}", self.socket.display()),
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
        let child = Command::new(testbed::workspace_bin("dockerd"))
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
