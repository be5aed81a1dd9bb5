//! `cargo xtask mirror check`: probe every source of a profile in parallel, each with a
//! short timeout, and print a table. A required source that is down fails the command,
//! so a build does not start against a mirror it cannot reach.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use super::{Probe, Profile, Source};

/// The outcome of one probe.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub reachable: bool,
    pub latency: Duration,
    pub detail: String,
}

pub fn run(profile: &Profile, sources: &[Source], timeout: Duration) -> Result<()> {
    let outcomes = probe_all(sources, timeout);
    println!(
        "profile {}: probing {} sources",
        profile.name,
        sources.len()
    );
    println!(
        "{:<4} {:<11} {:<10} {:>9}  {:<40} DETAIL",
        "REQ", "STATUS", "KIND", "LATENCY", "SOURCE"
    );
    let mut down = Vec::new();
    for (s, o) in sources.iter().zip(&outcomes) {
        let status = if o.reachable {
            "reachable"
        } else {
            "unreachable"
        };
        println!(
            "{:<4} {:<11} {:<10} {:>7}ms  {:<40} {}",
            if s.required { "*" } else { "" },
            status,
            s.kind,
            o.latency.as_millis(),
            s.name,
            if o.reachable {
                s.url.clone()
            } else {
                format!("{} ({})", s.url, o.detail)
            }
        );
        if s.required && !o.reachable {
            down.push(format!("{} {} ({}: {})", s.kind, s.name, s.url, o.detail));
        }
    }
    if !down.is_empty() {
        bail!(
            "profile {}: required source unreachable: {}",
            profile.name,
            down.join("; ")
        );
    }
    Ok(())
}

/// Probe every source at once (one thread each), in the order given.
pub fn probe_all(sources: &[Source], timeout: Duration) -> Vec<Outcome> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = sources
            .iter()
            .map(|s| scope.spawn(move || probe(&s.probe, timeout)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| Outcome {
                    reachable: false,
                    latency: Duration::ZERO,
                    detail: "probe panicked".into(),
                })
            })
            .collect()
    })
}

pub fn probe(probe: &Probe, timeout: Duration) -> Outcome {
    let start = Instant::now();
    let (reachable, detail) = match probe {
        Probe::Path(p) => (
            p.exists(),
            if p.exists() {
                "present".into()
            } else {
                format!("{} does not exist", p.display())
            },
        ),
        Probe::Http(url) => http(url, timeout),
        Probe::CargoIndex => command_probe(
            duct::cmd!("cargo", "info", "--quiet", "cfg-if")
                .dir(std::env::temp_dir())
                .env("CARGO_NET_RETRY", "0")
                .env("CARGO_HTTP_TIMEOUT", timeout.as_secs().max(1).to_string()),
            timeout,
        ),
        Probe::Engine => command_probe(
            duct::cmd!("docker", "search", "--limit", "1", "debian"),
            timeout,
        ),
        Probe::Rustup => command_probe(duct::cmd!("rustup", "check"), timeout),
    };
    Outcome {
        reachable,
        latency: start.elapsed(),
        detail,
    }
}

/// GET the first byte of a URL with curl (which honours the host's CA bundle and proxy
/// settings); 2xx, 3xx and 401 (a registry asking for a token) count as reachable.
fn http(url: &str, timeout: Duration) -> (bool, String) {
    let secs = timeout.as_secs_f64().max(0.5).to_string();
    let out = duct::cmd!(
        "curl",
        "-sS",
        "-o",
        "/dev/null",
        "-r",
        "0-0",
        "--max-time",
        &secs,
        "-w",
        "%{http_code}",
        url
    )
    .stdout_capture()
    .stderr_capture()
    .unchecked()
    .run();
    match out {
        Err(e) => (false, format!("cannot run curl: {e}")),
        Ok(out) => {
            let code: u16 = String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or(0);
            let ok = (200..400).contains(&code) || code == 401;
            let detail = if code == 0 {
                String::from_utf8_lossy(&out.stderr).trim().to_owned()
            } else {
                format!("HTTP {code}")
            };
            (ok, detail)
        }
    }
}

/// Run a command that asks a tool to reach its own configured source; killed at the
/// timeout.
fn command_probe(cmd: duct::Expression, timeout: Duration) -> (bool, String) {
    let handle = match cmd
        .stdin_null()
        .stdout_null()
        .stderr_capture()
        .unchecked()
        .start()
    {
        Ok(h) => h,
        Err(e) => return (false, format!("cannot start: {e}")),
    };
    let deadline = Instant::now() + timeout;
    loop {
        match handle.try_wait() {
            Ok(Some(out)) => {
                return if out.status.success() {
                    (true, "ok".into())
                } else {
                    let err = String::from_utf8_lossy(&out.stderr);
                    let line = err
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("failed");
                    (false, line.trim().to_owned())
                };
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = handle.kill();
                return (false, format!("timed out after {}s", timeout.as_secs()));
            }
            Err(e) => return (false, e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_http_server_is_reachable_and_a_closed_port_is_not() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx")
                .unwrap();
        });
        let ok = probe(
            &Probe::Http(format!("http://{addr}/dists/x/Release")),
            Duration::from_secs(5),
        );
        server.join().unwrap();
        assert!(ok.reachable, "{}", ok.detail);

        // A port that was just free: nothing listens there.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let down = probe(
            &Probe::Http(format!("http://127.0.0.1:{port}/")),
            Duration::from_secs(2),
        );
        assert!(!down.reachable);
        assert!(!down.detail.is_empty());
    }

    #[test]
    fn paths_are_probed_for_existence() {
        assert!(probe(&Probe::Path("/".into()), Duration::from_secs(1)).reachable);
        let o = probe(
            &Probe::Path("/no/such/vendor".into()),
            Duration::from_secs(1),
        );
        assert!(!o.reachable);
        assert!(o.detail.contains("/no/such/vendor"));
    }
}
