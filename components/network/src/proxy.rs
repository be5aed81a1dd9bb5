//! The userland proxy: `docker-proxy` forwards one published port of the host to a
//! container, for traffic the DNAT rules cannot catch (from the host's own loopback).
//! The daemon starts one per published port and learns over fd 3 whether it could
//! bind: `0\n`, or `1\n` and the error, as moby's proxy reports it.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::NetworkError;

/// How long the daemon waits for a starting proxy's verdict.
const PROXY_START_TIMEOUT_MS: libc::c_int = 16_000;

/// How long a UDP flow without traffic keeps its backend socket (moby: 90 s).
const UDP_IDLE: Duration = Duration::from_secs(90);

/// Start `docker-proxy` for one port and wait for its verdict.
pub fn spawn(
    bin: &Path,
    proto: &str,
    host_ip: IpAddr,
    host_port: u16,
    container_ip: Ipv4Addr,
    container_port: u16,
) -> Result<Child, NetworkError> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    let (rd, wr) = (fds[0], fds[1]);
    let mut cmd = Command::new(bin);
    cmd.args([
        "-proto",
        proto,
        "-host-ip",
        &host_ip.to_string(),
        "-host-port",
        &host_port.to_string(),
        "-container-ip",
        &container_ip.to_string(),
        "-container-port",
        &container_port.to_string(),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(wr, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let spawned = cmd.spawn();
    // SAFETY: wr is ours and no longer needed here; rd is read below and then closed.
    unsafe { libc::close(wr) };
    let mut reader = unsafe { std::fs::File::from_raw_fd(rd) };
    let mut child = spawned.map_err(|e| {
        NetworkError::Internal(format!(
            "Error starting userland proxy: {}: {e}",
            bin.display()
        ))
    })?;
    // A proxy that neither reports nor exits must not hang the daemon (moby: 16 s).
    let mut pfd = libc::pollfd {
        fd: rd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    if unsafe { libc::poll(&mut pfd, 1, PROXY_START_TIMEOUT_MS) } == 0 {
        let _ = child.kill();
        let _ = child.wait();
        return Err(NetworkError::Internal(
            "Error starting userland proxy: timed out proxy starting the userland proxy".into(),
        ));
    }
    let mut verdict = String::new();
    let _ = reader.read_to_string(&mut verdict);
    if verdict.starts_with("0\n") {
        return Ok(child);
    }
    let _ = child.kill();
    let _ = child.wait();
    let why = verdict.strip_prefix("1\n").unwrap_or(&verdict).trim();
    Err(NetworkError::PortInUse(format!(
        "Error starting userland proxy: {}",
        if why.is_empty() {
            "the proxy exited before reporting"
        } else {
            why
        }
    )))
}

/// docker-proxy's flags, parsed the way Go's flag package does (`-x v`, `-x=v`, `--x`).
#[derive(Debug, PartialEq)]
pub struct Args {
    pub proto: String,
    pub host_ip: IpAddr,
    pub host_port: i64,
    pub container_ip: IpAddr,
    pub container_port: i64,
}

pub fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut a = Args {
        proto: "tcp".into(),
        host_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        host_port: -1,
        container_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        container_port: -1,
    };
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            break;
        };
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag, None),
        };
        if ![
            "proto",
            "host-ip",
            "host-port",
            "container-ip",
            "container-port",
        ]
        .contains(&name)
        {
            return Err(format!("flag provided but not defined: -{name}"));
        }
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .ok_or_else(|| format!("flag needs an argument: -{name}"))?,
        };
        let ip = |v: &str| {
            v.parse::<IpAddr>()
                .map_err(|_| format!("invalid value {v:?} for flag -{name}: invalid IP"))
        };
        let int = |v: &str| {
            v.parse::<i64>()
                .map_err(|_| format!("invalid value {v:?} for flag -{name}: parse error"))
        };
        match name {
            "proto" => a.proto = value,
            "host-ip" => a.host_ip = ip(&value)?,
            "host-port" => a.host_port = int(&value)?,
            "container-ip" => a.container_ip = ip(&value)?,
            _ => a.container_port = int(&value)?,
        }
    }
    Ok(a)
}

/// `docker-proxy`'s main; returns the exit code.
pub fn main(argv: &[String]) -> i32 {
    // SAFETY: fd 3 is the parent's pipe when started by the daemon, taken only if open.
    let mut parent = (unsafe { libc::fcntl(3, libc::F_GETFD) } >= 0)
        .then(|| unsafe { std::fs::File::from_raw_fd(3) });
    let args = match parse_args(argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("Usage of docker-proxy:\n  -container-ip string\n    \tcontainer ip\n  -container-port int\n    \tcontainer port (default -1)\n  -host-ip string\n    \thost ip\n  -host-port int\n    \thost port (default -1)\n  -proto string\n    \tproxy protocol (default \"tcp\")");
            return 2;
        }
    };
    let front = SocketAddr::new(args.host_ip, args.host_port.clamp(0, 65535) as u16);
    let back = SocketAddr::new(
        args.container_ip,
        args.container_port.clamp(0, 65535) as u16,
    );
    let family = if args.host_ip.is_ipv4() { "4" } else { "6" };
    let bound = match (args.proto.as_str(), front) {
        ("tcp", SocketAddr::V4(_)) => TcpListener::bind(front).map(Frontend::Tcp),
        ("udp", SocketAddr::V4(_)) => UdpSocket::bind(front).map(Frontend::Udp),
        ("tcp", SocketAddr::V6(a)) => bind_v6only(a, false).map(|fd| Frontend::Tcp(fd.into())),
        ("udp", SocketAddr::V6(a)) => bind_v6only(a, true).map(|fd| Frontend::Udp(fd.into())),
        (p, _) => Err(std::io::Error::other(format!("unsupported protocol {p}"))),
    }
    .map_err(|e| match e.kind() {
        std::io::ErrorKind::Other => e.to_string(),
        _ => format!(
            "listen {}{family} {front}: bind: {}",
            args.proto,
            go_errno(&e)
        ),
    });
    match bound {
        Ok(f) => {
            if let Some(mut p) = parent.take() {
                let _ = p.write_all(b"0\n");
            }
            match f {
                Frontend::Tcp(l) => run_tcp(l, back),
                Frontend::Udp(s) => run_udp(s, back),
            }
            0
        }
        Err(e) => {
            if let Some(mut p) = parent.take() {
                let _ = write!(p, "1\n{e}");
            }
            eprintln!("{e}");
            1
        }
    }
}

/// An IPv6-only socket on `addr` (as Go's `tcp6`/`udp6` listeners are), so the
/// IPv4 proxy of the same port can coexist with it.
fn bind_v6only(addr: std::net::SocketAddrV6, udp: bool) -> std::io::Result<OwnedFd> {
    let ty = if udp {
        libc::SOCK_DGRAM
    } else {
        libc::SOCK_STREAM
    } | libc::SOCK_CLOEXEC;
    // SAFETY: plain socket calls on an fd owned right after creation.
    unsafe {
        let raw = libc::socket(libc::AF_INET6, ty, 0);
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = OwnedFd::from_raw_fd(raw);
        let one: libc::c_int = 1;
        let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let opt = &one as *const libc::c_int as *const libc::c_void;
        libc::setsockopt(raw, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, opt, len);
        if !udp {
            libc::setsockopt(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, opt, len);
        }
        let mut sa: libc::sockaddr_in6 = std::mem::zeroed();
        sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        sa.sin6_port = addr.port().to_be();
        sa.sin6_addr.s6_addr = addr.ip().octets();
        let sa_len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        if libc::bind(raw, &sa as *const _ as *const libc::sockaddr, sa_len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if !udp && libc::listen(raw, 128) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(fd)
    }
}

enum Frontend {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

/// The errno text Go prints (lowercase, without Rust's " (os error N)").
fn go_errno(e: &std::io::Error) -> String {
    let s = e.to_string();
    let s = s.split(" (os error").next().unwrap_or(&s).to_string();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

fn run_tcp(listener: TcpListener, back: SocketAddr) {
    for client in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let Ok(server) = TcpStream::connect(back) else {
                return;
            };
            let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                return;
            };
            let up = std::thread::spawn(move || pipe(client, server));
            pipe(s2, c2);
            let _ = up.join();
        });
    }
}

/// Copy until EOF, then pass the half-close on.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

fn run_udp(front: UdpSocket, back: SocketAddr) {
    let front = Arc::new(front);
    let flows: Arc<Mutex<std::collections::HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((n, client)) = front.recv_from(&mut buf) else {
            continue;
        };
        let existing = flows.lock().unwrap().get(&client).cloned();
        let upstream = match existing {
            Some(u) => u,
            None => {
                let local: SocketAddr = if back.is_ipv4() {
                    (Ipv4Addr::UNSPECIFIED, 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let Ok(u) = UdpSocket::bind(local) else {
                    continue;
                };
                if u.connect(back).is_err() {
                    continue;
                }
                let _ = u.set_read_timeout(Some(UDP_IDLE));
                let u = Arc::new(u);
                flows.lock().unwrap().insert(client, u.clone());
                let (u2, f2, flows2) = (u.clone(), front.clone(), flows.clone());
                std::thread::spawn(move || {
                    let mut b = vec![0u8; 65535];
                    while let Ok(n) = u2.recv(&mut b) {
                        if f2.send_to(&b[..n], client).is_err() {
                            break;
                        }
                    }
                    flows2.lock().unwrap().remove(&client);
                });
                u
            }
        };
        let _ = upstream.send(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn go_style_flags() {
        let a = parse_args(&v(&[
            "-proto",
            "udp",
            "--host-ip=127.0.0.1",
            "-host-port",
            "5353",
            "-container-ip",
            "10.0.0.2",
            "-container-port=53",
        ]))
        .unwrap();
        assert_eq!(a.proto, "udp");
        assert_eq!(a.host_port, 5353);
        assert_eq!(a.container_port, 53);
        assert_eq!(a.container_ip.to_string(), "10.0.0.2");
        assert_eq!(
            parse_args(&v(&["-bogus", "1"])).unwrap_err(),
            "flag provided but not defined: -bogus"
        );
        assert!(parse_args(&v(&["-host-port"])).is_err());
    }
}
