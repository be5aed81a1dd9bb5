//! Container networking through our dockerd, driven by the real docker CLI 28: the
//! default bridge (veth pairs, IPAM, routes, hosts and resolv.conf), published ports
//! (iptables DNAT in docker's chains, docker-proxy for loopback, cleanup at stop and
//! after a kill -9 of the daemon), and user-defined bridge networks.
//!
//! Every test brings its own bridge and subnet (10.213.<n>.0/24), so tests run in
//! parallel and never touch a real docker0. Only the tests about published ports run
//! with `--iptables=true`; they remove rules one by one and only those naming their
//! own bridge. Traffic goes only to 127.0.0.1 and the test's own containers.

mod common;

use std::net::TcpListener;
use std::process::Command;

use common::Engine;

/// A bridge made for one test (dockerd's `-b` wants an existing one, as moby does),
/// removed with whatever rules still name it.
struct TestBridge {
    name: String,
    gateway: String,
}

fn sh(cmd: &str) -> (bool, String) {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

impl TestBridge {
    fn new(name: &str, n: u8) -> TestBridge {
        let gateway = format!("10.213.{n}.1");
        sh(&format!("ip link del {name} 2>/dev/null"));
        let (ok, out) = sh(&format!(
            "ip link add {name} type bridge && ip addr add {gateway}/24 dev {name} && ip link set {name} up"
        ));
        assert!(
            ok,
            "creating bridge {name}: {out} (needs iproute2 and root)"
        );
        TestBridge {
            name: name.into(),
            gateway,
        }
    }

    /// Host-side interfaces enslaved to the bridge.
    fn ports(&self) -> Vec<String> {
        let (_, out) = sh(&format!("ip -o link show master {}", self.name));
        out.lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap().to_string())
            .collect()
    }
}

impl Drop for TestBridge {
    fn drop(&mut self) {
        for table in ["nat", "filter"] {
            let (_, rules) = sh(&format!("iptables -w -t {table} -S"));
            for r in rules
                .lines()
                .filter(|r| r.contains(&format!(" {} ", self.name)))
            {
                sh(&format!(
                    "iptables -w -t {table} {}",
                    r.replacen("-A", "-D", 1)
                ));
            }
        }
        sh(&format!("ip link del {}", self.name));
    }
}

/// Bridges of the test's user-defined networks (IPv4 address starting with `prefix`),
/// deleted when the test ends, passed or not: dockerd leaves them when it stops.
struct NetworkBridges(&'static str);

impl Drop for NetworkBridges {
    fn drop(&mut self) {
        let (_, out) = sh("ip -o -4 addr show");
        for l in out
            .lines()
            .filter(|l| l.contains(&format!("inet {}", self.0)))
        {
            if let Some(dev) = l.split_whitespace().nth(1) {
                sh(&format!("ip link del {dev}"));
            }
        }
    }
}

fn inspect(e: &Engine, c: &str, tmpl: &str) -> String {
    e.ok(&["inspect", "-f", tmpl, c]).trim().to_string()
}

/// A TCP port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP GET with curl; the body, or the error.
fn get(url: &str) -> Result<String, String> {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "20", url])
        .output()
        .expect("curl (apt-get install curl)");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("curl {url}: {:?}", out.status.code()))
    }
}

/// GET once the server in the container answers (it starts after `docker run` returns).
fn get_when_up(url: &str) -> String {
    testbed::wait_for(url, std::time::Duration::from_secs(30), || get(url).is_ok());
    get(url).unwrap()
}

/// iptables rules of `table` that mention `what`.
fn rules_with(table: &str, what: &str) -> Vec<String> {
    let (_, out) = sh(&format!("iptables -w -t {table} -S"));
    out.lines()
        .filter(|l| l.contains(what))
        .map(String::from)
        .collect()
}

/// docker-proxy processes forwarding to `ip`.
fn proxies_to(ip: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            let argv = String::from_utf8_lossy(&c).replace('\0', " ");
            if argv.contains("docker-proxy") && argv.contains(&format!("-container-ip {ip} ")) {
                out.push(argv);
            }
        }
    }
    out
}

const HTTPD: &[&str] = &[
    "sh",
    "-c",
    "mkdir -p /www && echo hello-from-container > /www/index.html && exec httpd -f -p 80 -h /www",
];

/// A DNS server on `<ip>:53` that answers every A query with 192.0.2.55.
struct FakeDns {
    asked: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl FakeDns {
    fn start(ip: &str) -> FakeDns {
        let sock = std::net::UdpSocket::bind((ip, 53))
            .unwrap_or_else(|e| panic!("binding {ip}:53 for a fake DNS server: {e}"));
        let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = asked.clone();
        std::thread::spawn(move || loop {
            let mut buf = [0u8; 512];
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                return;
            };
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // The query with QR and RA set, one answer: a pointer to the question's
            // name, type A, class IN, TTL 60, 4 bytes of address.
            let mut r = buf[..n].to_vec();
            r[2] |= 0x80;
            r[3] = 0x80;
            let qtype = {
                let mut i = 12;
                while r[i] != 0 {
                    i += r[i] as usize + 1;
                }
                u16::from_be_bytes([r[i + 1], r[i + 2]])
            };
            if qtype == 1 {
                r[7] = 1;
                r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 55]);
            }
            let _ = sock.send_to(&r, from);
        });
        FakeDns { asked }
    }

    fn asked(&self) -> usize {
        self.asked.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn engine(bridge: &TestBridge, extra: &[&str]) -> Engine {
    let mut args = vec!["-b", bridge.name.as_str()];
    args.extend_from_slice(extra);
    let e = Engine::start_with(&args);
    e.import_busybox("busybox:latest");
    e
}

#[test]
fn default_bridge_gives_each_container_an_address_a_route_and_etc_files() {
    let br = TestBridge::new("ntb1", 1);
    let mut e = engine(&br, &["--iptables=false", "--live-restore"]);
    e.ok(&[
        "run",
        "-d",
        "--name",
        "one",
        "--hostname",
        "web1",
        "busybox",
        "sleep",
        "1000",
    ]);
    e.ok(&[
        "run",
        "-d",
        "--name",
        "two",
        "--add-host",
        "db.test:10.9.9.9",
        "--dns",
        "10.213.1.53",
        "--dns-search",
        "corp.test",
        "busybox",
        "sleep",
        "1000",
    ]);
    let ip1 = inspect(&e, "one", "{{.NetworkSettings.IPAddress}}");
    let ip2 = inspect(&e, "two", "{{.NetworkSettings.Networks.bridge.IPAddress}}");
    assert!(
        ip1.starts_with("10.213.1.") && ip2.starts_with("10.213.1."),
        "{ip1} {ip2}"
    );
    assert_ne!(ip1, ip2);
    assert_eq!(
        inspect(&e, "one", "{{.NetworkSettings.Gateway}}"),
        br.gateway
    );
    assert_eq!(inspect(&e, "one", "{{.NetworkSettings.IPPrefixLen}}"), "24");
    let mac = inspect(&e, "one", "{{.NetworkSettings.MacAddress}}");
    let o: Vec<u8> = ip1.split('.').map(|x| x.parse().unwrap()).collect();
    assert_eq!(
        mac,
        format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
    );

    // Inside: eth0 with the address, the default route, the gateway and the peer.
    let addr = e.ok(&["exec", "one", "ip", "-o", "-4", "addr", "show", "eth0"]);
    assert!(addr.contains(&format!("inet {ip1}/24")), "{addr}");
    let route = e.ok(&["exec", "one", "ip", "route"]);
    assert!(
        route.contains(&format!("default via {}", br.gateway)),
        "{route}"
    );
    e.ok(&["exec", "one", "ping", "-c", "1", "-W", "5", &br.gateway]);
    e.ok(&["exec", "one", "ping", "-c", "1", "-W", "5", &ip2]);
    assert_eq!(br.ports().len(), 2, "{:?}", br.ports());

    // /etc files as dockerd writes them.
    let hosts = e.ok(&["exec", "one", "cat", "/etc/hosts"]);
    assert!(hosts.starts_with("127.0.0.1\tlocalhost\n"), "{hosts}");
    assert!(hosts.ends_with(&format!("{ip1}\tweb1\n")), "{hosts}");
    assert_eq!(e.ok(&["exec", "one", "hostname"]).trim(), "web1");
    let hosts2 = e.ok(&["exec", "two", "cat", "/etc/hosts"]);
    assert!(hosts2.contains("10.9.9.9\tdb.test\n"), "{hosts2}");
    let resolv = e.ok(&["exec", "two", "cat", "/etc/resolv.conf"]);
    assert_eq!(resolv, "search corp.test\nnameserver 10.213.1.53\n");
    let resolv1 = e.ok(&["exec", "one", "cat", "/etc/resolv.conf"]);
    assert!(!resolv1.contains("nameserver 127."), "{resolv1}");

    // none and host networks.
    let none = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    assert_eq!(none.lines().count(), 1, "{none}");
    let host = e.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    assert!(host.contains(&br.name), "{host}");

    // container:<name> joins that container's namespace.
    let shared = e.ok(&[
        "run",
        "--rm",
        "--network",
        "container:two",
        "busybox",
        "ip",
        "-o",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(shared.contains(&format!("inet {ip2}/24")), "{shared}");

    // IPAM: a removed container's address is free again, a live one is never handed
    // out twice, also after dockerd is killed and restarted.
    e.ok(&["rm", "-f", "one"]);
    assert_eq!(br.ports().len(), 1);
    e.kill_dockerd();
    e.start_dockerd();
    assert_eq!(inspect(&e, "two", "{{.State.Running}}"), "true");
    let mut seen = vec![];
    for n in 0..4 {
        let name = format!("n{n}");
        e.ok(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"]);
        let ip = inspect(&e, &name, "{{.NetworkSettings.IPAddress}}");
        assert_ne!(ip, ip2, "the live address of `two` was handed out again");
        assert!(!seen.contains(&ip), "{ip} twice: {seen:?}");
        seen.push(ip);
    }
    e.ok(&["exec", "n3", "ping", "-c", "1", "-W", "5", &ip2]);
    let out = e.docker(&["rm", "-f", "two", "n0", "n1", "n2", "n3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(br.ports().is_empty(), "veths left: {:?}", br.ports());
    let netns = e.dir.path().join("exec/netns");
    assert_eq!(std::fs::read_dir(&netns).map(|d| d.count()).unwrap_or(0), 0);
}

#[test]
fn published_ports_go_through_dnat_and_docker_proxy_and_leave_nothing_behind() {
    let br = TestBridge::new("ntb2", 2);
    // --icc=false: the DROP rule for traffic between the bridge's containers, which
    // only sees bridged traffic once dockerd turns bridge-nf-call-iptables on (off
    // here first, so the test shows that it does).
    std::fs::write("/proc/sys/net/bridge/bridge-nf-call-iptables", "0")
        .expect("/proc/sys/net/bridge missing: the br_netfilter kernel module is needed");
    let mut e = engine(&br, &["--iptables=true", "--icc=false"]);
    let port = free_port();
    let mut args = vec!["run", "-d", "--name", "web", "-p"];
    let spec = format!("{port}:80");
    args.push(&spec);
    args.push("busybox");
    args.extend_from_slice(HTTPD);
    e.ok(&args);
    let ip = inspect(&e, "web", "{{.NetworkSettings.IPAddress}}");

    // docker's chains and rules.
    let dnat = rules_with("nat", &format!("--to-destination {ip}:80"));
    assert_eq!(
        dnat,
        [format!(
            "-A DOCKER ! -i ntb2 -p tcp -m tcp --dport {port} -j DNAT --to-destination {ip}:80"
        )]
    );
    assert!(
        rules_with(
            "filter",
            &format!("-d {ip}/32 ! -i ntb2 -o ntb2 -p tcp -m tcp --dport 80 -j ACCEPT")
        )
        .len()
            == 1
    );
    assert!(rules_with("nat", "-s 10.213.2.0/24 ! -o ntb2 -j MASQUERADE").len() == 1);
    for chain in [
        "DOCKER-USER",
        "DOCKER-ISOLATION-STAGE-1",
        "DOCKER-ISOLATION-STAGE-2",
    ] {
        assert!(
            sh(&format!("iptables -w -S {chain}")).0,
            "chain {chain} missing"
        );
    }
    assert!(!rules_with("filter", "-A FORWARD -j DOCKER-USER").is_empty());

    // Loopback through docker-proxy, the bridge address through the DNAT rule.
    assert_eq!(
        get_when_up(&format!("http://127.0.0.1:{port}/")),
        "hello-from-container\n"
    );
    assert_eq!(
        get(&format!("http://{}:{port}/", br.gateway)).unwrap(),
        "hello-from-container\n"
    );
    // IPv6 loopback: the second proxy, on [::] (the host has IPv6 here).
    assert_eq!(
        get(&format!("http://[::1]:{port}/")).unwrap(),
        "hello-from-container\n"
    );
    assert_eq!(proxies_to(&ip).len(), 2, "{:?}", proxies_to(&ip));
    // --icc=false: another container of the bridge cannot reach `web` (the host can).
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables")
            .unwrap()
            .trim(),
        "1"
    );
    let out = e.docker(&[
        "run",
        "--rm",
        "busybox",
        "wget",
        "-q",
        "-T",
        "2",
        "-O-",
        &format!("http://{ip}/"),
    ]);
    assert!(
        !out.status.success(),
        "icc=false let a container reach another: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        e.ok(&["port", "web"]).trim(),
        format!("80/tcp -> 0.0.0.0:{port}\n80/tcp -> [::]:{port}")
    );
    assert_eq!(
        e.ok(&["port", "web", "80"]).trim(),
        format!("0.0.0.0:{port}\n[::]:{port}")
    );
    let ps = e.ok(&["ps", "--format", "{{.Ports}}", "--filter", "name=web"]);
    assert_eq!(
        ps.trim(),
        format!("0.0.0.0:{port}->80/tcp, [::]:{port}->80/tcp")
    );

    // The same host port again: docker's error, nothing half-made.
    let veths = br.ports().len();
    let out = e.docker(&[
        "run", "-d", "--name", "web2", "-p", &spec, "busybox", "sleep", "100",
    ]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "Bind for 0.0.0.0:{port} failed: port is already allocated"
        )),
        "{err}"
    );
    assert!(
        err.contains("driver failed programming external connectivity on endpoint web2"),
        "{err}"
    );
    assert_eq!(
        br.ports().len(),
        veths,
        "a veth of the failed container is left"
    );
    assert_eq!(inspect(&e, "web2", "{{.State.Status}}"), "created");
    // A port held by another program: the proxy's bind error, nothing half-made.
    let holder = TcpListener::bind("0.0.0.0:0").unwrap();
    let held = holder.local_addr().unwrap().port().to_string();
    let out = e.docker(&[
        "run",
        "-d",
        "--name",
        "web3",
        "-p",
        &format!("{held}:80"),
        "busybox",
        "sleep",
        "100",
    ]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("Error starting userland proxy: listen tcp4 0.0.0.0:{held}: bind: address already in use")), "{err}");
    assert_eq!(br.ports().len(), veths);
    assert!(rules_with("nat", &format!("--dport {held} ")).is_empty());
    drop(holder);

    // -P: every exposed port on an ephemeral host port.
    let mut args = vec![
        "run", "-d", "--name", "auto", "-P", "--expose", "80", "busybox",
    ];
    args.extend_from_slice(HTTPD);
    e.ok(&args);
    let mapped = e.ok(&["port", "auto", "80/tcp"]);
    let auto_port = mapped.trim().rsplit(':').next().unwrap().to_string();
    assert!(mapped.starts_with("0.0.0.0:"), "{mapped}");
    assert_eq!(
        get_when_up(&format!("http://127.0.0.1:{auto_port}/")),
        "hello-from-container\n"
    );

    // Stop: rules, proxy and veth go.
    e.ok(&["stop", "-t", "1", "auto"]);
    let auto_ip_rules = rules_with("nat", &format!("--dport {auto_port} "));
    assert!(auto_ip_rules.is_empty(), "{auto_ip_rules:?}");
    assert_eq!(br.ports().len(), 1);
    assert!(get(&format!("http://127.0.0.1:{auto_port}/")).is_err());

    // --icc=false: the DROP rule (instead of ACCEPT).
    assert_eq!(
        rules_with("filter", "-A FORWARD -i ntb2 -o ntb2"),
        ["-A FORWARD -i ntb2 -o ntb2 -j DROP"]
    );

    // kill -9 of dockerd with `web` running; the restart cleans up what it left.
    e.kill_dockerd();
    assert_eq!(proxies_to(&ip).len(), 2);
    e.start_dockerd();
    assert_eq!(inspect(&e, "web", "{{.State.Running}}"), "false");
    assert!(proxies_to(&ip).is_empty(), "{:?}", proxies_to(&ip));
    assert!(
        rules_with("nat", &ip).is_empty(),
        "{:?}",
        rules_with("nat", &ip)
    );
    assert!(rules_with("filter", &format!("{ip}/32")).is_empty());
    assert!(br.ports().is_empty(), "{:?}", br.ports());
    assert!(get(&format!("http://127.0.0.1:{port}/")).is_err());
    // And it still works after the restart.
    e.ok(&["start", "web"]);
    assert_eq!(
        get_when_up(&format!("http://127.0.0.1:{port}/")),
        "hello-from-container\n"
    );
    e.ok(&["rm", "-f", "web", "web2", "web3", "auto"]);
    assert!(rules_with("nat", "ntb2")
        .iter()
        .all(|r| !r.contains("DNAT")));
    assert!(br.ports().is_empty());
}

#[test]
fn user_defined_networks_resolve_names_and_aliases_and_reject_overlaps() {
    let br = TestBridge::new("ntb3", 3);
    let _nets = (NetworkBridges("10.213.4."), NetworkBridges("10.213.5."));
    let e = engine(&br, &["--iptables=false"]);
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let id = e.ok(&[
        "network",
        "create",
        "--subnet",
        "10.213.4.0/24",
        "--gateway",
        "10.213.4.254",
        "appnet",
    ]);
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    let bridge = format!("br-{}", &id[..12]);
    assert!(
        sh(&format!("ip link show {bridge}")).0,
        "bridge {bridge} missing"
    );

    // Overlaps with another network, or the default bridge: docker's error.
    for subnet in ["10.213.4.128/25", "10.213.3.0/24"] {
        let out = e.docker(&["network", "create", "--subnet", subnet, "clash"]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("Error response from daemon: invalid pool request: Pool overlaps with other one on this address space"),
            "{err}"
        );
    }
    let out = e.docker(&["network", "create", "appnet"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("network with name appnet already exists")
    );
    let ls = e.ok(&[
        "network",
        "ls",
        "--format",
        "{{.Name}} {{.Driver}} {{.Scope}}",
    ]);
    let mut ls: Vec<&str> = ls.lines().collect();
    ls.sort();
    assert_eq!(
        ls,
        [
            "appnet bridge local",
            "bridge bridge local",
            "host host local",
            "none null local"
        ]
    );
    assert_eq!(
        e.ok(&[
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}",
            "appnet"
        ])
        .trim(),
        "10.213.4.0/24 10.213.4.254"
    );

    e.ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "appnet",
        "--network-alias",
        "database",
        "busybox",
        "sleep",
        "1000",
    ]);
    e.ok(&[
        "run",
        "-d",
        "--name",
        "app",
        "--network",
        "appnet",
        "busybox",
        "sleep",
        "1000",
    ]);
    let route = e.ok(&["exec", "app", "ip", "route"]);
    assert!(route.contains("default via 10.213.4.254"), "{route}");
    for target in ["db", "database"] {
        e.ok(&["exec", "app", "ping", "-c", "1", "-W", "5", target]);
    }
    // Names come from the embedded DNS server, not from the hosts file (as dockerd).
    assert_eq!(
        e.ok(&["exec", "app", "cat", "/etc/resolv.conf"]),
        "nameserver 127.0.0.11\noptions ndots:0\n"
    );
    assert!(!e.ok(&["exec", "app", "cat", "/etc/hosts"]).contains("db"));
    let db_ip = inspect(&e, "db", "{{.NetworkSettings.Networks.appnet.IPAddress}}");
    let answer = e.ok(&["exec", "app", "nslookup", "database", "127.0.0.11"]);
    assert!(answer.contains(&format!("Address: {db_ip}")), "{answer}");
    // Over TCP, with glibc's resolver as the client (`options use-vc` sends every
    // query over TCP) in app's namespace: the alias, and db's address back to
    // `db.appnet` by PTR, as dockerd names it.
    let conf = e.dir.path().join("resolv-tcp.conf");
    std::fs::write(&conf, "nameserver 127.0.0.11\noptions use-vc attempts:1\n").unwrap();
    let app_pid = inspect(&e, "app", "{{.State.Pid}}");
    let over_tcp = |what: &str| {
        let (ok, out) = sh(&format!(
            "unshare -m sh -c 'mount --bind {} /etc/resolv.conf && exec nsenter --net=/proc/{app_pid}/ns/net getent {what}'",
            conf.display()
        ));
        assert!(ok, "getent {what} over TCP: {out}");
        out
    };
    let forward = over_tcp("ahostsv4 database");
    assert!(forward.starts_with(&format!("{db_ip} ")), "{forward}");
    let reverse = over_tcp(&format!("hosts {db_ip}"));
    assert_eq!(
        reverse.split_whitespace().collect::<Vec<_>>(),
        [db_ip.as_str(), "db.appnet"]
    );
    // db came first: it learns of app all the same.
    e.ok(&["exec", "db", "ping", "-c", "1", "-W", "5", "app"]);
    // Other names go to the external servers (here `--dns`, a loopback one: the
    // daemon forwards from its own namespace).
    let upstream = FakeDns::start("127.0.0.211");
    let answer = e.ok(&[
        "run",
        "--rm",
        "--network",
        "appnet",
        "--dns",
        "127.0.0.211",
        "busybox",
        "nslookup",
        "ext.test",
    ]);
    assert!(answer.contains("Address: 192.0.2.55"), "{answer}");
    assert!(upstream.asked() > 0);
    let members = e.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}} {{end}}",
        "appnet",
    ]);
    let mut members: Vec<&str> = members.split_whitespace().collect();
    members.sort();
    assert_eq!(members, ["app", "db"]);
    let out = e.docker(&["network", "rm", "appnet"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("has active endpoints"));

    // connect / disconnect of a running container on the default bridge.
    e.ok(&["run", "-d", "--name", "solo", "busybox", "sleep", "1000"]);
    e.ok(&["network", "connect", "--alias", "lonely", "appnet", "solo"]);
    let addrs = e.ok(&["exec", "solo", "ip", "-o", "-4", "addr"]);
    assert!(
        addrs.contains("eth1") && addrs.contains("inet 10.213.4."),
        "{addrs}"
    );
    e.ok(&["exec", "solo", "ping", "-c", "1", "-W", "5", "db"]);
    e.ok(&["exec", "db", "ping", "-c", "1", "-W", "5", "lonely"]);
    e.ok(&["network", "disconnect", "appnet", "solo"]);
    let addrs = e.ok(&["exec", "solo", "ip", "-o", "-4", "addr"]);
    assert!(!addrs.contains("10.213.4."), "{addrs}");
    assert!(!e.ok(&["exec", "db", "cat", "/etc/hosts"]).contains("solo"));

    // --link on the default bridge: the alias in the hosts file.
    let solo_ip = inspect(&e, "solo", "{{.NetworkSettings.IPAddress}}");
    let hosts = e.ok(&[
        "run",
        "--rm",
        "--link",
        "solo:sol",
        "busybox",
        "cat",
        "/etc/hosts",
    ]);
    let solo_host = inspect(&e, "solo", "{{.Config.Hostname}}");
    assert!(
        hosts.contains(&format!("{solo_ip}\tsol {solo_host} solo\n")),
        "{hosts}"
    );

    // --internal: no way out, no default route.
    e.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.213.5.0/24",
        "intnet",
    ]);
    let ipam = e.ok(&[
        "network",
        "inspect",
        "-f",
        "{{json .IPAM.Config}}",
        "intnet",
    ]);
    assert_eq!(ipam.trim(), r#"[{"Subnet":"10.213.5.0/24"}]"#);
    let route = e.ok(&[
        "run",
        "--rm",
        "--network",
        "intnet",
        "busybox",
        "ip",
        "route",
    ]);
    assert!(!route.contains("default"), "{route}");
    assert!(route.contains("10.213.5.0/24"), "{route}");

    e.ok(&["rm", "-f", "db", "app", "solo"]);
    e.ok(&["network", "rm", "appnet", "intnet"]);
    assert!(
        !sh(&format!("ip link show {bridge}")).0,
        "bridge {bridge} left"
    );
    let ls = e.ok(&["network", "ls", "-q"]);
    assert_eq!(ls.lines().count(), 3, "{ls}");

    // The network events of all that, as dockerd sends them.
    // `--until` a second ahead: the stream ends right after it.
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let events = e.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "type=network",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    for want in [
        "create appnet",
        "connect appnet",
        "disconnect appnet",
        "destroy appnet",
        "connect bridge",
    ] {
        assert!(
            events.lines().any(|l| l == want),
            "no `{want}` in:\n{events}"
        );
    }
}

/// Key paths of a JSON document (`a.b.c`), for comparing shapes across daemons.
fn key_paths(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    if let Some(o) = v.as_object() {
        for (k, x) in o {
            // Container ids differ between daemons: one placeholder for all.
            let k = if prefix.ends_with("Containers.") {
                "<id>"
            } else {
                k
            };
            let p = format!("{prefix}{k}");
            out.push(p.clone());
            key_paths(x, &format!("{p}."), out);
        }
    }
}

#[test]
fn etc_files_and_network_settings_match_debian_dockerd() {
    let ours_br = TestBridge::new("ntb6", 6);
    let ref_br = TestBridge::new("ntg7", 7);
    let _nets = (NetworkBridges("10.214.6."), NetworkBridges("10.214.7."));
    let ours = engine(&ours_br, &["--iptables=false"]);
    let reference = testbed::RefDockerd::start(testbed::DockerdOptions {
        args: vec!["-b".into(), ref_br.name.clone()],
        dockerd: None,
    });
    reference.import_busybox("busybox:latest");
    let run_ref = |args: &[&str]| {
        let out = reference.cli(common::CLI28, args);
        assert!(
            out.status.success(),
            "reference: docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .replace("10.213.7.", "10.213.X.")
            .replace("10.214.7.", "10.214.X.")
            .replace(".7.214.10.in-addr", ".X.214.10.in-addr")
            .replace("0a:d5:07:", "0a:d5:XX:")
    };
    let run_ours = |args: &[&str]| {
        ours.ok(args)
            .replace("10.213.6.", "10.213.X.")
            .replace("10.214.6.", "10.214.X.")
            .replace(".6.214.10.in-addr", ".X.214.10.in-addr")
            .replace("0a:d5:06:", "0a:d5:XX:")
    };

    // The same run on both: hosts, resolv.conf (with and without --dns*), hostname.
    for args in [
        vec![
            "run",
            "--rm",
            "--hostname",
            "h1",
            "--add-host",
            "db.test:10.9.9.9",
            "busybox",
            "cat",
            "/etc/hosts",
            "/etc/hostname",
        ],
        vec![
            "run",
            "--rm",
            "--hostname",
            "h2",
            "--domainname",
            "example.test",
            "busybox",
            "cat",
            "/etc/hosts",
        ],
        vec!["run", "--rm", "busybox", "cat", "/etc/resolv.conf"],
        vec![
            "run",
            "--rm",
            "--dns",
            "10.1.1.1",
            "--dns-search",
            "corp.test",
            "--dns-option",
            "ndots:2",
            "busybox",
            "cat",
            "/etc/resolv.conf",
        ],
        vec![
            "run",
            "--rm",
            "--dns-search",
            "only.test",
            "busybox",
            "cat",
            "/etc/resolv.conf",
        ],
        vec!["run", "--rm", "busybox", "ip", "route"],
    ] {
        assert_eq!(run_ours(&args), run_ref(&args), "docker {args:?}");
    }

    // A user-defined network: resolv.conf pointing at the embedded DNS server, and the
    // same answers from it, on both.
    run_ref(&["network", "create", "--subnet", "10.214.7.0/24", "udn"]);
    run_ours(&["network", "create", "--subnet", "10.214.6.0/24", "udn"]);
    let peer = [
        "run",
        "-d",
        "--name",
        "dp",
        "--network",
        "udn",
        "--network-alias",
        "dpa",
    ];
    run_ref(&[&peer[..], &["busybox", "sleep", "100"]].concat());
    run_ours(&[&peer[..], &["busybox", "sleep", "100"]].concat());
    // The last lookup is a PTR of dp's address.
    let lookups =
        "cat /etc/resolv.conf; for q in dp dpa DP.; do nslookup -type=a $q; done; nslookup -type=aaaa dp; nslookup $(nslookup -type=a dp | sed -n 's/^Address: //p')";
    for args in [
        vec![
            "run",
            "--rm",
            "--network",
            "udn",
            "busybox",
            "sh",
            "-c",
            lookups,
        ],
        vec![
            "run",
            "--rm",
            "--network",
            "udn",
            "--dns",
            "10.1.1.1",
            "--dns-search",
            "corp.test",
            "--dns-option",
            "ndots:2",
            "busybox",
            "cat",
            "/etc/resolv.conf",
        ],
    ] {
        assert_eq!(run_ours(&args), run_ref(&args), "docker {args:?}");
    }
    for run in [&run_ref as &dyn Fn(&[&str]) -> String, &run_ours] {
        run(&["rm", "-f", "dp"]);
        run(&["network", "rm", "udn"]);
    }

    // inspect: every NetworkSettings key of dockerd 20.10 is there, same values where
    // they do not depend on the daemon.
    run_ref(&["run", "-d", "--name", "k1", "busybox", "sleep", "100"]);
    run_ours(&["run", "-d", "--name", "k1", "busybox", "sleep", "100"]);
    let settings = |text: String| -> serde_json::Value { serde_json::from_str(&text).unwrap() };
    let r = settings(run_ref(&[
        "inspect",
        "-f",
        "{{json .NetworkSettings}}",
        "k1",
    ]));
    let o = settings(run_ours(&[
        "inspect",
        "-f",
        "{{json .NetworkSettings}}",
        "k1",
    ]));
    let (mut rk, mut ok) = (vec![], vec![]);
    key_paths(&r, "", &mut rk);
    key_paths(&o, "", &mut ok);
    let missing: Vec<_> = rk.iter().filter(|k| !ok.contains(k)).collect();
    assert!(missing.is_empty(), "keys missing in ours: {missing:?}");
    for k in ["IPAddress", "Gateway", "IPPrefixLen", "MacAddress", "Ports"] {
        assert_eq!(o[k], r[k], "{k}");
    }
    assert_eq!(
        o["Networks"]["bridge"]["IPAddress"],
        r["Networks"]["bridge"]["IPAddress"]
    );

    // network inspect bridge: same keys and options (but the bridge's name).
    let net = |text: String| -> serde_json::Value { serde_json::from_str(&text).unwrap() };
    let r = net(run_ref(&[
        "network",
        "inspect",
        "-f",
        "{{json .}}",
        "bridge",
    ]));
    let o = net(run_ours(&[
        "network",
        "inspect",
        "-f",
        "{{json .}}",
        "bridge",
    ]));
    let (mut rk, mut ok) = (vec![], vec![]);
    key_paths(&r, "", &mut rk);
    key_paths(&o, "", &mut ok);
    let ignore = |k: &&String| !k.starts_with("Containers.") || k.matches('.').count() > 1;
    let missing: Vec<_> = rk
        .iter()
        .filter(ignore)
        .filter(|k| !ok.contains(k))
        .collect();
    assert!(missing.is_empty(), "keys missing in ours: {missing:?}");
    let mut ro = r["Options"].clone();
    let mut oo = o["Options"].clone();
    ro["com.docker.network.bridge.name"] = serde_json::json!("");
    oo["com.docker.network.bridge.name"] = serde_json::json!("");
    assert_eq!(oo, ro);
    assert_eq!(o["IPAM"], r["IPAM"]);

    // --link: the variables and the hosts line, as dockerd makes them.
    for run in [&run_ref as &dyn Fn(&[&str]) -> String, &run_ours] {
        run(&[
            "run",
            "-d",
            "--name",
            "peer",
            "--hostname",
            "peerhost",
            "-e",
            "FOO=bar",
            "--expose",
            "80",
            "--expose",
            "53/udp",
            "busybox",
            "sleep",
            "100",
        ]);
    }
    let linked = |run: &dyn Fn(&[&str]) -> String| {
        let env = run(&[
            "run", "--rm", "--name", "me", "--link", "peer:p-a", "busybox", "env",
        ]);
        let mut env: Vec<String> = env
            .lines()
            .filter(|l| !l.starts_with("HOSTNAME="))
            .map(String::from)
            .collect();
        env.sort();
        let hosts = run(&[
            "run",
            "--rm",
            "--link",
            "peer:p-a",
            "busybox",
            "cat",
            "/etc/hosts",
        ]);
        let link_line = hosts.lines().find(|l| l.contains("\tp-a ")).unwrap_or("");
        (env, link_line.to_string())
    };
    let (ref_env, ref_hosts) = linked(&run_ref);
    let (our_env, our_hosts) = linked(&run_ours);
    assert!(
        ref_env.iter().any(|e| e == "P_A_PORT_80_TCP_PORT=80"),
        "{ref_env:?}"
    );
    assert_eq!(our_env, ref_env);
    assert!(ref_hosts.ends_with("\tp-a peerhost peer"), "{ref_hosts}");
    assert_eq!(our_hosts, ref_hosts);

    // Published ports (the reference runs without iptables too: proxies only).
    let published = |run: &dyn Fn(&[&str]) -> String| {
        let port = free_port().to_string();
        let spec = format!("{port}:80");
        run(&[
            "run",
            "-d",
            "--name",
            "pp",
            "-p",
            &spec,
            "-p",
            "127.0.0.1::81",
            "busybox",
            "sleep",
            "100",
        ]);
        let mut out = String::new();
        for args in [
            vec!["port", "pp"],
            vec!["ps", "--format", "{{.Ports}}", "--filter", "name=pp"],
            vec!["inspect", "-f", "{{json .NetworkSettings.Ports}}", "pp"],
        ] {
            out.push_str(&run(&args).replace(&port, "P"));
        }
        let eph = run(&["port", "pp", "81"]);
        let eph = eph.trim().rsplit(':').next().unwrap().to_string();
        out.replace(&eph, "E")
    };
    assert_eq!(published(&run_ours), published(&run_ref));
    run_ref(&["rm", "-f", "k1", "peer", "pp"]);
}

/// Start the built docker-proxy as dockerd does (the verdict pipe on fd 3); its
/// verdict and the child.
fn start_proxy(args: &[&str]) -> (String, std::process::Child) {
    use std::io::Read;
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::process::CommandExt;
    let mut fds = [0; 2];
    // SAFETY: a pipe for the child's fd 3; close-on-exec so that only fd 3 stays open
    // in the proxy and its close ends our read.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both ends are ours from here on.
    let (mut rd, wr) = unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    };
    let w = wr.as_raw_fd();
    let mut cmd = Command::new(testbed::workspace_bin("docker-proxy"));
    cmd.args(args);
    // SAFETY: dup2/close only, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(w, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    drop(wr);
    let mut verdict = String::new();
    rd.read_to_string(&mut verdict).unwrap();
    (verdict, child)
}

#[test]
fn docker_proxy_forwards_tcp_and_udp_and_reports_bind_errors_on_fd_3() {
    use std::io::{Read, Write};
    use std::net::{TcpStream, UdpSocket};
    // Backends on loopback: a TCP server answering one line, a UDP echo.
    let tcp_backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_port = tcp_backend.local_addr().unwrap().port().to_string();
    std::thread::spawn(move || {
        for mut s in tcp_backend.incoming().flatten() {
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).unwrap();
            s.write_all(&[b"re:", &buf[..]].concat()).unwrap();
        }
    });
    let udp_backend = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_port = udp_backend.local_addr().unwrap().port().to_string();
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while let Ok((n, from)) = udp_backend.recv_from(&mut buf) {
            udp_backend.send_to(&buf[..n], from).unwrap();
        }
    });

    let front = free_port().to_string();
    // Go's flag syntax, single dash and separate values.
    let tcp_args = [
        "-proto",
        "tcp",
        "-host-ip",
        "127.0.0.1",
        "-host-port",
        &front,
        "-container-ip",
        "127.0.0.1",
        "-container-port",
        &tcp_port,
    ];
    let (verdict, mut tcp_proxy) = start_proxy(&tcp_args);
    assert_eq!(verdict, "0\n");
    let mut s = TcpStream::connect(format!("127.0.0.1:{front}")).unwrap();
    s.write_all(b"hello").unwrap();
    let mut reply = [0u8; 8];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"re:hello");

    // The same port again: moby's error text after "1\n".
    let (verdict, mut second) = start_proxy(&tcp_args);
    assert_eq!(
        verdict,
        format!("1\nlisten tcp4 127.0.0.1:{front}: bind: address already in use")
    );
    assert_eq!(second.wait().unwrap().code(), Some(1));

    let ufront = UdpSocket::bind("127.0.0.1:0").unwrap();
    let uport = ufront.local_addr().unwrap().port().to_string();
    drop(ufront);
    let (verdict, mut udp_proxy) = start_proxy(&[
        "--proto=udp",
        "--host-ip=127.0.0.1",
        "--host-port",
        &uport,
        "-container-ip=127.0.0.1",
        "-container-port",
        &udp_port,
    ]);
    assert_eq!(verdict, "0\n");
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    client
        .send_to(b"ping-udp", format!("127.0.0.1:{uport}"))
        .unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = client.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping-udp");

    // Go's flag errors: exit 2.
    let out = Command::new(testbed::workspace_bin("docker-proxy"))
        .args(["-bogus", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("flag provided but not defined: -bogus\n")
    );
    for p in [&mut tcp_proxy, &mut udp_proxy] {
        p.kill().unwrap();
        p.wait().unwrap();
    }
}

#[test]
fn ipv6_on_the_default_bridge_and_on_a_user_defined_network() {
    let br = TestBridge::new("ntb8", 8);
    let _nets = NetworkBridges("10.213.9.");
    let e = engine(
        &br,
        &[
            "--iptables=false",
            "--ipv6",
            "--fixed-cidr-v6",
            "fd00:213:8::/64",
        ],
    );
    // The default bridge: the gateway on the bridge, an address from the MAC (as
    // Debian's dockerd 20.10 gives it), the default route through the gateway.
    let (_, bridge_addrs) = sh("ip -6 addr show dev ntb8");
    assert!(
        bridge_addrs.contains("inet6 fd00:213:8::1/64"),
        "{bridge_addrs}"
    );
    assert!(bridge_addrs.contains("inet6 fe80::1/64"), "{bridge_addrs}");
    let shown = e.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ip -6 addr show eth0; ip -6 route",
    ]);
    assert!(
        shown.contains("inet6 fd00:213:8::242:ad5:802/64 scope global"),
        "{shown}"
    );
    assert!(
        shown.contains("default via fd00:213:8::1 dev eth0"),
        "{shown}"
    );

    // A user-defined network with --ipv6: addresses in order, reachable by name.
    e.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd00:213:9::/64",
        "--subnet",
        "10.213.9.0/24",
        "v6net",
    ]);
    assert_eq!(
        e.ok(&[
            "network",
            "inspect",
            "-f",
            "{{.EnableIPv6}} {{json .IPAM.Config}}",
            "v6net"
        ])
        .trim(),
        r#"true [{"Subnet":"10.213.9.0/24"},{"Subnet":"fd00:213:9::/64"}]"#
    );
    e.ok(&[
        "run",
        "-d",
        "--name",
        "six",
        "--network",
        "v6net",
        "busybox",
        "sleep",
        "100",
    ]);
    assert_eq!(
        inspect(
            &e,
            "six",
            "{{.NetworkSettings.Networks.v6net.GlobalIPv6Address}}/{{.NetworkSettings.Networks.v6net.GlobalIPv6PrefixLen}} via {{.NetworkSettings.Networks.v6net.IPv6Gateway}}"
        ),
        "fd00:213:9::2/64 via fd00:213:9::1"
    );
    let out = e.ok(&[
        "run", "--rm", "--network", "v6net", "busybox", "sh", "-c",
        "ip -6 addr show eth0 && grep fd00 /etc/hosts && nslookup -type=aaaa six && ping -6 -c 1 -W 5 six && nslookup fd00:213:9::2",
    ]);
    assert!(out.contains("inet6 fd00:213:9::3/64"), "{out}");
    assert!(out.contains("Address: fd00:213:9::2"), "{out}");
    assert!(out.contains("1 packets received"), "{out}");
    // The reverse lookup of the IPv6 address, as Debian's dockerd answers it.
    assert!(
        out.contains("9.0.0.0.3.1.2.0.0.0.d.f.ip6.arpa\tname = six.v6net"),
        "{out}"
    );
    // The address goes back to the pool with the container.
    e.ok(&["rm", "-f", "six"]);
    let again = e.ok(&[
        "run",
        "--rm",
        "--network",
        "v6net",
        "busybox",
        "ip",
        "-6",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(again.contains("inet6 fd00:213:9::2/64"), "{again}");
    e.ok(&["network", "rm", "v6net"]);
}

/// Move this test (and every process it starts) into a network namespace of its own,
/// loopback up: its iptables and ip6tables tables are private, so a daemon with
/// `--iptables` here cannot disturb the host's rules or another test's daemon.
fn private_netns() {
    // SAFETY: unshare on the calling thread, which starts every child of the test.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "unshare(CLONE_NEWNET): {}",
        std::io::Error::last_os_error()
    );
    let (ok, out) = sh("ip link set lo up");
    assert!(ok, "{out}");
}

/// The namespace's ip6tables rules (nat, then filter), user-defined bridges named by
/// their network instead of its id.
fn ip6tables_rules(bridges: &[(String, &str)]) -> String {
    let mut rules = String::new();
    for table in ["nat", "filter"] {
        let (ok, out) = sh(&format!("ip6tables -w -t {table} -S"));
        assert!(ok, "{out}");
        rules += &format!("== {table}\n{out}");
    }
    for (id, name) in bridges {
        rules = rules.replace(&format!("br-{}", &id[..12]), &format!("br-{name}"));
    }
    rules
}

/// Empty every table and reset forwarding, so the next daemon starts from the same
/// blank namespace.
fn reset_netns() {
    for cmd in ["iptables", "ip6tables"] {
        let (ok, out) = sh(&format!(
            "for t in nat filter; do {cmd} -w -t $t -F && {cmd} -w -t $t -X; done && {cmd} -w -P FORWARD ACCEPT"
        ));
        assert!(ok, "{out}");
    }
    sh("echo 0 > /proc/sys/net/ipv4/ip_forward; echo 0 > /proc/sys/net/ipv6/conf/all/forwarding; echo 0 > /proc/sys/net/ipv6/conf/default/forwarding");
}

#[test]
fn ip6tables_rules_match_debian_dockerd() {
    // As in dockerd 20.10, the rules need --experimental.
    let cfg = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(cfg.path(), "{}").unwrap();
    let refused = Command::new(testbed::workspace_bin("dockerd"))
        .args(["--ip6tables", "--config-file"])
        .arg(cfg.path())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr).trim(),
        "failed to start daemon: ip6tables rules are only available if experimental features are enabled"
    );

    private_netns();
    let br = TestBridge::new("ntb10", 10);
    let flags = [
        "-b",
        "ntb10",
        "--iptables=true",
        "--ip6tables=true",
        "--experimental",
        "--ipv6",
        "--fixed-cidr-v6",
        "fd00:213:10::/64",
    ];
    // The same steps on each daemon: a published port on the default bridge and on an
    // IPv6 network, an internal IPv6 network and an IPv4-only one; the rules with all
    // of it up, then after the containers and networks are gone.
    let steps = |docker: &dyn Fn(&[&str]) -> String| -> (String, String) {
        docker(&[
            "run",
            "-d",
            "--name",
            "p1",
            "-p",
            "8080:80",
            "-p",
            "127.0.0.1:8081:81/udp",
            "busybox",
            "sleep",
            "100",
        ]);
        let mut ids = Vec::new();
        for (name, args) in [
            (
                "n6",
                &[
                    "--ipv6",
                    "--subnet",
                    "fd00:213:11::/64",
                    "--subnet",
                    "10.213.11.0/24",
                ][..],
            ),
            (
                "n7",
                &[
                    "--ipv6",
                    "--internal",
                    "--subnet",
                    "fd00:213:12::/64",
                    "--subnet",
                    "10.213.12.0/24",
                ][..],
            ),
            ("n8", &["--subnet", "10.213.13.0/24"][..]),
        ] {
            let id = docker(&[&["network", "create"][..], args, &[name]].concat());
            ids.push((id.trim().to_string(), name));
        }
        docker(&[
            "run",
            "-d",
            "--name",
            "p2",
            "--network",
            "n6",
            "-p",
            "9090:90",
            "busybox",
            "sleep",
            "100",
        ]);
        let up = ip6tables_rules(&ids);
        docker(&["rm", "-f", "p1", "p2"]);
        docker(&["network", "rm", "n6", "n7", "n8"]);
        let down = ip6tables_rules(&ids);
        (up, down)
    };
    let theirs = {
        let d = testbed::RefDockerd::start(testbed::DockerdOptions {
            args: flags.iter().map(|s| s.to_string()).collect(),
            dockerd: None,
        });
        d.import_busybox("busybox:latest");
        let docker = |args: &[&str]| {
            let out = d.cli(common::CLI28, args);
            assert!(
                out.status.success(),
                "debian dockerd: docker {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        steps(&docker)
    };
    reset_netns();
    let ours = {
        let e = engine(&br, &flags[2..]);
        steps(&|args: &[&str]| e.ok(args))
    };
    reset_netns();
    // Debian's dockerd as the reference: every chain, rule, policy and its order.
    assert_eq!(
        ours.0, theirs.0,
        "ip6tables with containers and networks up"
    );
    assert_eq!(ours.1, theirs.1, "ip6tables after they are removed");
    for want in [
        "-A POSTROUTING -s fd00:213:10::/64 ! -o ntb10 -j MASQUERADE",
        "-A DOCKER ! -i br-n6 -p tcp -m tcp --dport 9090 -j DNAT --to-destination [fd00:213:11::2]:90",
        "-A DOCKER-ISOLATION-STAGE-1 ! -s fd00:213:12::/64 -o br-n7 -j DROP",
    ] {
        assert!(ours.0.contains(want), "{want} missing from\n{}", ours.0);
    }
}
