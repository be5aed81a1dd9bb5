//! The embedded DNS server of user-defined networks, as dockerd runs it: containers
//! ask `127.0.0.11:53`, which iptables rules inside the container's namespace DNAT to a
//! UDP socket and a TCP listener the daemon opened in that namespace. Names of
//! containers on the networks the container shares (name, aliases, short id) are
//! answered here; every other query goes to the external servers (`--dns`, else the
//! host's resolvers) from the daemon's own namespace, so a loopback resolver of the
//! host works too.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{rdata, Name, RData, Record, RecordType};

use crate::cmd::run;
use crate::NetworkError;

/// The resolver's address inside every container namespace.
pub const RESOLVER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
/// dockerd answers its own names with this TTL.
const TTL: u32 = 600;
/// How long an external server gets before the next one is tried.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(4);
/// How often idle serving threads look at the stop flag.
const POLL: Duration = Duration::from_millis(500);

/// Lower-case names without the trailing dot, each with its addresses.
pub type NameTable = HashMap<String, Vec<IpAddr>>;

/// What the resolver of one sandbox answers and where it forwards the rest.
#[derive(Debug, Default)]
pub struct Answers {
    pub names: NameTable,
    /// Reverse lookups: a container's address to `<container name>.<network name>`.
    pub pointers: HashMap<IpAddr, String>,
    pub upstream: Vec<SocketAddr>,
}

/// A running resolver; it stops when dropped.
pub struct Resolver {
    stop: Arc<AtomicBool>,
    pub answers: Arc<RwLock<Answers>>,
}

impl Drop for Resolver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Open the resolver's sockets inside the namespace at `netns`, install the DNAT and
/// SNAT rules there, and serve until the returned [`Resolver`] is dropped.
pub fn start(netns: &Path, answers: Answers) -> Result<Resolver, NetworkError> {
    let (udp, tcp) = bind_in(netns)?;
    let (uport, tport) = (udp.local_addr()?.port(), tcp.local_addr()?.port());
    let ns = netns.display().to_string();
    run(
        "nsenter",
        &[&format!("--net={ns}"), "iptables-restore", "-w"],
        Some(&nat_rules(uport, tport)),
    )?;
    udp.set_read_timeout(Some(POLL))?;
    tcp.set_nonblocking(true)?;
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(RwLock::new(answers));
    {
        let (stop, answers) = (stop.clone(), answers.clone());
        std::thread::Builder::new()
            .name("dns-udp".into())
            .spawn(move || serve_udp(udp, &stop, &answers))?;
    }
    {
        let (stop, answers) = (stop.clone(), answers.clone());
        std::thread::Builder::new()
            .name("dns-tcp".into())
            .spawn(move || serve_tcp(tcp, &stop, &answers))?;
    }
    Ok(Resolver { stop, answers })
}

/// dockerd's nat table of a container namespace (the whole table is replaced, so a
/// restarted daemon's new ports replace the old ones).
fn nat_rules(udp: u16, tcp: u16) -> String {
    format!(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
         :DOCKER_OUTPUT - [0:0]\n:DOCKER_POSTROUTING - [0:0]\n\
         -A OUTPUT -d {RESOLVER_IP}/32 -j DOCKER_OUTPUT\n\
         -A POSTROUTING -d {RESOLVER_IP}/32 -j DOCKER_POSTROUTING\n\
         -A DOCKER_OUTPUT -d {RESOLVER_IP}/32 -p tcp -m tcp --dport 53 -j DNAT --to-destination {RESOLVER_IP}:{tcp}\n\
         -A DOCKER_OUTPUT -d {RESOLVER_IP}/32 -p udp -m udp --dport 53 -j DNAT --to-destination {RESOLVER_IP}:{udp}\n\
         -A DOCKER_POSTROUTING -s {RESOLVER_IP}/32 -p tcp -m tcp --sport {tcp} -j SNAT --to-source :53\n\
         -A DOCKER_POSTROUTING -s {RESOLVER_IP}/32 -p udp -m udp --sport {udp} -j SNAT --to-source :53\n\
         COMMIT\n"
    )
}

/// Bind the UDP socket and TCP listener on 127.0.0.11 from a thread that entered the
/// namespace; the sockets stay in it after the thread is gone.
fn bind_in(netns: &Path) -> Result<(UdpSocket, TcpListener), NetworkError> {
    let ns = std::fs::File::open(netns)?;
    std::thread::spawn(move || -> std::io::Result<(UdpSocket, TcpListener)> {
        // SAFETY: setns on this short-lived thread only; the fd is a valid nsfs file.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let udp = UdpSocket::bind((RESOLVER_IP, 0))?;
        let tcp = TcpListener::bind((RESOLVER_IP, 0))?;
        Ok((udp, tcp))
    })
    .join()
    .map_err(|_| NetworkError::Internal("dns bind thread panicked".into()))?
    .map_err(|e| NetworkError::Internal(format!("starting the embedded DNS server: {e}")))
}

fn serve_udp(sock: UdpSocket, stop: &AtomicBool, answers: &Arc<RwLock<Answers>>) {
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let query = buf[..n].to_vec();
        let local = answer_locally(&query, &answers.read().unwrap());
        match local {
            Some(reply) => {
                let _ = sock.send_to(&reply, from);
            }
            None => {
                // Forwarding may wait on a slow server: off the serving thread.
                let (Ok(sock), answers) = (sock.try_clone(), answers.clone()) else {
                    continue;
                };
                std::thread::spawn(move || {
                    let upstream = answers.read().unwrap().upstream.clone();
                    let reply = forward_udp(&query, &upstream)
                        .unwrap_or_else(|| failure(&query, ResponseCode::ServFail));
                    if !reply.is_empty() {
                        let _ = sock.send_to(&reply, from);
                    }
                });
            }
        }
    }
}

fn serve_tcp(listener: TcpListener, stop: &AtomicBool, answers: &Arc<RwLock<Answers>>) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((conn, _)) => {
                let answers = answers.clone();
                std::thread::spawn(move || serve_tcp_conn(conn, &answers));
            }
            Err(_) => std::thread::sleep(POLL / 5),
        }
    }
}

/// One TCP client: length-prefixed queries until it closes or idles.
fn serve_tcp_conn(mut conn: TcpStream, answers: &Arc<RwLock<Answers>>) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(FORWARD_TIMEOUT));
    while let Some(query) = read_framed(&mut conn) {
        let local = answer_locally(&query, &answers.read().unwrap());
        let reply = local.unwrap_or_else(|| {
            let upstream = answers.read().unwrap().upstream.clone();
            forward_tcp(&query, &upstream)
                .unwrap_or_else(|| failure(&query, ResponseCode::ServFail))
        });
        if reply.is_empty() || write_framed(&mut conn, &reply).is_err() {
            return;
        }
    }
}

fn read_framed(conn: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    conn.read_exact(&mut len).ok()?;
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    conn.read_exact(&mut msg).ok()?;
    Some(msg)
}

fn write_framed(conn: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(msg.len()).map_err(|_| std::io::ErrorKind::InvalidData)?;
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(msg);
    conn.write_all(&out)
}

/// The address a reverse-lookup name (`4.3.2.1.in-addr.arpa`, or the 32 nibbles of
/// an `ip6.arpa` name) stands for.
fn reverse_name(name: &str) -> Option<IpAddr> {
    if let Some(v4) = name.strip_suffix(".in-addr.arpa") {
        let mut octets: Vec<u8> = v4
            .split('.')
            .map(|o| o.parse().ok())
            .collect::<Option<_>>()?;
        octets.reverse();
        let octets: [u8; 4] = octets.try_into().ok()?;
        return Some(IpAddr::from(octets));
    }
    let v6 = name.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<u32> = v6
        .split('.')
        .map(|n| {
            (n.len() == 1)
                .then(|| n.chars().next()?.to_digit(16))
                .flatten()
        })
        .collect::<Option<_>>()?;
    if nibbles.len() != 32 {
        return None;
    }
    let bits = nibbles
        .iter()
        .rev()
        .fold(0u128, |acc, n| (acc << 4) | u128::from(*n));
    Some(IpAddr::V6(std::net::Ipv6Addr::from(bits)))
}

/// The reply for a query about one of the sandbox's names (or, by PTR, one of their
/// addresses); `None` when it is not ours to answer.
pub fn answer_locally(query: &[u8], answers: &Answers) -> Option<Vec<u8>> {
    let Ok(msg) = Message::from_vec(query) else {
        return Some(Vec::new());
    };
    if msg.message_type() != MessageType::Query || msg.op_code() != OpCode::Query {
        return Some(failure(query, ResponseCode::NotImp));
    }
    let q = msg.queries().first()?;
    let name = q
        .name()
        .to_ascii()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let mut reply = Message::new();
    reply
        .set_id(msg.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(msg.recursion_desired())
        .set_recursion_available(true)
        .add_query(q.clone());
    match q.query_type() {
        // A known name without addresses of the asked family: an empty answer, not a
        // forward.
        RecordType::A | RecordType::AAAA => {
            for ip in answers.names.get(&name)? {
                let data = match (q.query_type(), ip) {
                    (RecordType::A, IpAddr::V4(a)) => RData::A(rdata::A(*a)),
                    (RecordType::AAAA, IpAddr::V6(a)) => RData::AAAA(rdata::AAAA(*a)),
                    _ => continue,
                };
                reply.add_answer(Record::from_rdata(q.name().clone(), TTL, data));
            }
        }
        // As dockerd: the container's name on the network, as a FQDN; an address it
        // does not know goes to the external servers.
        RecordType::PTR => {
            let target = answers.pointers.get(&reverse_name(&name)?)?;
            let fqdn = Name::from_ascii(format!("{target}.")).ok()?;
            reply.add_answer(Record::from_rdata(
                q.name().clone(),
                TTL,
                RData::PTR(rdata::PTR(fqdn)),
            ));
        }
        _ => return None,
    }
    reply.to_vec().ok()
}

/// A reply carrying only `code`, or nothing for a query that cannot be parsed.
fn failure(query: &[u8], code: ResponseCode) -> Vec<u8> {
    let Ok(msg) = Message::from_vec(query) else {
        return Vec::new();
    };
    let mut reply = Message::error_msg(msg.id(), msg.op_code(), code);
    reply.add_queries(msg.queries().to_vec());
    reply.set_recursion_desired(msg.recursion_desired());
    reply.set_recursion_available(true);
    reply.to_vec().unwrap_or_default()
}

fn forward_udp(query: &[u8], upstream: &[SocketAddr]) -> Option<Vec<u8>> {
    for server in upstream {
        let bind: SocketAddr = if server.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let Ok(sock) = UdpSocket::bind(bind) else {
            continue;
        };
        let _ = sock.set_read_timeout(Some(FORWARD_TIMEOUT));
        if sock.connect(server).is_err() || sock.send(query).is_err() {
            continue;
        }
        let mut buf = vec![0u8; 65535];
        if let Ok(n) = sock.recv(&mut buf) {
            buf.truncate(n);
            return Some(buf);
        }
    }
    None
}

fn forward_tcp(query: &[u8], upstream: &[SocketAddr]) -> Option<Vec<u8>> {
    for server in upstream {
        let Ok(mut conn) = TcpStream::connect_timeout(server, FORWARD_TIMEOUT) else {
            continue;
        };
        let _ = conn.set_read_timeout(Some(FORWARD_TIMEOUT));
        if write_framed(&mut conn, query).is_ok() {
            if let Some(reply) = read_framed(&mut conn) {
                return Some(reply);
            }
        }
    }
    None
}

/// The external servers: `--dns` when given, else the host's `nameserver` lines (a
/// loopback one included: forwarding happens in the daemon's namespace).
pub fn upstream_servers(dns: &[String], host_resolv: &str) -> Vec<SocketAddr> {
    let from_host: Vec<String>;
    let list = if dns.is_empty() {
        from_host = host_resolv
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some("nameserver")).then(|| w.next().map(str::to_string))?
            })
            .collect();
        &from_host
    } else {
        dns
    };
    list.iter()
        .filter_map(|s| s.parse::<std::net::IpAddr>().ok())
        .filter(|ip| *ip != RESOLVER_IP)
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// The resolv.conf of a container on a user-defined network, from the one written for
/// it: its search domains and options kept, the resolver as the only nameserver, and
/// `ndots:0` unless an `ndots` option was asked for.
pub fn resolv_conf(written: &str) -> String {
    let field = |key: &str| -> Vec<&str> {
        written
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(key)).then_some(w)
            })
            .flatten()
            .collect()
    };
    let search = field("search");
    let mut options = field("options");
    if !options.iter().any(|o| o.starts_with("ndots:")) {
        options.push("ndots:0");
    }
    let mut s = String::new();
    if !search.is_empty() {
        s.push_str(&format!("search {}\n", search.join(" ")));
    }
    s.push_str(&format!("nameserver {RESOLVER_IP}\n"));
    s.push_str(&format!("options {}\n", options.join(" ")));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;

    fn query(name: &str, t: RecordType) -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(0x1234)
            .set_recursion_desired(true)
            .add_query(Query::query(Name::from_ascii(name).unwrap(), t));
        m.to_vec().unwrap()
    }

    fn table() -> Answers {
        let mut t = NameTable::new();
        t.insert("db".into(), vec![Ipv4Addr::new(10, 0, 0, 2).into()]);
        t.insert(
            "database".into(),
            vec![
                Ipv4Addr::new(10, 0, 0, 2).into(),
                "fd00::2".parse().unwrap(),
            ],
        );
        let mut pointers = HashMap::new();
        pointers.insert(Ipv4Addr::new(10, 0, 0, 2).into(), "db.appnet".to_string());
        pointers.insert("fd00::2".parse().unwrap(), "db.appnet".to_string());
        Answers {
            names: t,
            pointers,
            upstream: Vec::new(),
        }
    }

    #[test]
    fn own_names_are_answered_case_insensitively_others_are_not() {
        let reply = answer_locally(&query("DataBase.", RecordType::A), &table()).unwrap();
        let m = Message::from_vec(&reply).unwrap();
        assert_eq!(m.id(), 0x1234);
        assert_eq!(m.response_code(), ResponseCode::NoError);
        assert!(!m.authoritative());
        let ips: Vec<_> = m
            .answers()
            .iter()
            .filter_map(|r| r.data().as_a().map(|a| a.0))
            .collect();
        assert_eq!(ips, [Ipv4Addr::new(10, 0, 0, 2)]);
        let aaaa = answer_locally(&query("db.", RecordType::AAAA), &table()).unwrap();
        assert!(Message::from_vec(&aaaa).unwrap().answers().is_empty());
        let aaaa = answer_locally(&query("database.", RecordType::AAAA), &table()).unwrap();
        let m = Message::from_vec(&aaaa).unwrap();
        assert_eq!(
            m.answers()[0].data().as_aaaa().unwrap().0,
            "fd00::2".parse::<std::net::Ipv6Addr>().unwrap()
        );
        assert!(answer_locally(&query("example.test.", RecordType::A), &table()).is_none());
        assert!(answer_locally(&query("db.", RecordType::MX), &table()).is_none());
    }

    #[test]
    fn addresses_of_containers_resolve_back_to_name_dot_network() {
        let ptr = |name: &str| {
            let reply = answer_locally(&query(name, RecordType::PTR), &table())?;
            let m = Message::from_vec(&reply).unwrap();
            assert_eq!(m.answers()[0].ttl(), TTL);
            Some(m.answers()[0].data().as_ptr().unwrap().0.to_ascii())
        };
        assert_eq!(ptr("2.0.0.10.in-addr.arpa.").as_deref(), Some("db.appnet."));
        let v6 = "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.";
        assert_eq!(ptr(v6).as_deref(), Some("db.appnet."));
        // Unknown addresses and malformed names go to the external servers.
        assert_eq!(ptr("3.0.0.10.in-addr.arpa."), None);
        assert_eq!(ptr("300.0.0.10.in-addr.arpa."), None);
        assert_eq!(ptr("0.0.10.in-addr.arpa."), None);
    }

    #[test]
    fn other_names_are_forwarded_and_a_dead_upstream_gives_servfail() {
        let upstream = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = upstream.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let (n, from) = upstream.recv_from(&mut buf).unwrap();
            let q = Message::from_vec(&buf[..n]).unwrap();
            let mut r = Message::new();
            r.set_id(q.id())
                .set_message_type(MessageType::Response)
                .add_query(q.queries()[0].clone())
                .add_answer(Record::from_rdata(
                    q.queries()[0].name().clone(),
                    60,
                    RData::A(rdata::A(Ipv4Addr::new(192, 0, 2, 7))),
                ));
            upstream.send_to(&r.to_vec().unwrap(), from).unwrap();
        });
        let q = query("example.test.", RecordType::A);
        let reply = forward_udp(&q, &[addr]).unwrap();
        let m = Message::from_vec(&reply).unwrap();
        assert_eq!(
            m.answers()[0].data().as_a().unwrap().0,
            Ipv4Addr::new(192, 0, 2, 7)
        );
        let m = Message::from_vec(&failure(&q, ResponseCode::ServFail)).unwrap();
        assert_eq!(m.response_code(), ResponseCode::ServFail);
        assert_eq!(m.id(), 0x1234);
    }

    #[test]
    fn resolv_conf_as_dockerd_writes_it() {
        assert_eq!(
            resolv_conf("nameserver 10.0.0.53\n"),
            "nameserver 127.0.0.11\noptions ndots:0\n"
        );
        assert_eq!(
            resolv_conf("search a.test\nnameserver 10.1.1.1\noptions ndots:3\n"),
            "search a.test\nnameserver 127.0.0.11\noptions ndots:3\n"
        );
        assert_eq!(
            upstream_servers(&[], "nameserver 127.0.0.53\nnameserver 10.0.0.1\n"),
            [
                "127.0.0.53:53".parse().unwrap(),
                "10.0.0.1:53".parse().unwrap()
            ]
        );
        assert_eq!(
            upstream_servers(&["10.9.9.9".into()], "nameserver 10.0.0.1\n"),
            ["10.9.9.9:53".parse().unwrap()]
        );
    }
}
