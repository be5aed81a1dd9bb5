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

fn inspect(e: &Engine, c: &str, tmpl: &str) -> String {
    e.ok(&["inspect", "-f", tmpl, c]).trim().to_string()
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
