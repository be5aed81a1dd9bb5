//! Container networking for dockerd, as moby's libnetwork does it with its bridge
//! driver: bridges, veth pairs into per-container network namespaces, an IPAM that never
//! hands out a live address twice, docker's iptables chains, published ports (DNAT and
//! a `docker-proxy` per port for loopback traffic), and the embedded DNS server that
//! resolves the containers of a user-defined network by name and alias.
//!
//! The engine sees a narrow surface: [`Networks`] (open at start, `attach` at create,
//! `start`/`stop` around a container's run, `forget` at removal) and the views it
//! renders for the API. Everything it creates on the host is recorded in
//! [`state`] first, so [`Networks::cleanup`] can undo what a killed daemon left.

mod cmd;
mod dns;
pub mod etc;
pub mod ipam;
mod iptables;
pub mod ipv6;
mod link;
mod netns;
pub mod proxy;
mod state;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Mutex;

pub use etc::HostEntry;
pub use ipam::Ipv4Net;
pub use ipv6::Ipv6Net;
pub use state::{EndpointRec as Endpoint, PortMapping};

use iptables::Family;
use state::{Attachment, EndpointRec, NetworkRec, SandboxRec, State};

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    /// A host port that cannot be bound (the caller wraps it in dockerd's words).
    #[error("{0}")]
    PortInUse(String),
    #[error("{0}")]
    Internal(String),
}

impl From<std::io::Error> for NetworkError {
    fn from(e: std::io::Error) -> Self {
        NetworkError::Internal(e.to_string())
    }
}

type Result<T> = std::result::Result<T, NetworkError>;

/// The daemon flags that shape networking.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// `-b`/`--bridge`: `None` means docker0, `Some("none")` disables the default bridge.
    pub bridge: Option<String>,
    pub bip: Option<String>,
    pub fixed_cidr: Option<String>,
    /// `--ipv6` with `--fixed-cidr-v6`: IPv6 on the default bridge.
    pub ipv6: bool,
    pub fixed_cidr_v6: Option<String>,
    pub mtu: u32,
    pub icc: bool,
    pub ip_masq: bool,
    pub iptables: bool,
    /// `--ip6tables` (experimental in dockerd 20.10): the same chains and rules in
    /// ip6tables for the IPv6 side of networks.
    pub ip6tables: bool,
    pub ip_forward: bool,
    pub userland_proxy: bool,
    pub proxy_path: PathBuf,
}

/// A published port as asked for (`-p [ip:]host:container[/proto]`, `-P`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRequest {
    pub proto: String,
    pub container_port: u16,
    pub host_ip: Ipv4Addr,
    /// First and last host port; `(0, 0)` asks for an ephemeral one.
    pub host_ports: (u16, u16),
}

/// What a container brings to its sandbox.
#[derive(Debug, Clone, Default)]
pub struct SandboxOptions {
    pub name: String,
    pub hostname: String,
    pub domainname: String,
    /// The container's hosts file; its resolv.conf is the `resolv.conf` beside it.
    pub hosts_path: PathBuf,
    pub extra_hosts: Vec<HostEntry>,
    pub ports: Vec<PortRequest>,
    /// `--dns`: where the embedded resolver forwards (the host's resolvers if empty).
    pub dns: Vec<String>,
}

/// A network as the API shows it.
#[derive(Debug, Clone)]
pub struct NetworkInfo {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub created: String,
    pub subnet: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    /// Whether the IPAM config lists the gateway (not when only a subnet was given).
    pub config_gateway: bool,
    pub range: Option<Ipv4Net>,
    pub internal: bool,
    /// The IPv6 subnet and gateway of an IPv6-enabled network.
    pub v6: Option<(Ipv6Net, Ipv6Addr)>,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// Live endpoints: container id, container name, endpoint.
    pub endpoints: Vec<(String, String, Endpoint)>,
}

/// `docker network create`'s request.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub name: String,
    pub driver: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    pub internal: bool,
    /// `--ipv6` with an IPv6 `--subnet` (and maybe `--gateway`).
    pub enable_ipv6: bool,
    pub subnet6: Option<String>,
    pub gateway6: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

const DEFAULT_BRIDGE: &str = "docker0";

pub struct Networks {
    cfg: Config,
    state_path: PathBuf,
    inner: Mutex<Inner>,
}

struct Inner {
    state: State,
    /// The proxies this daemon started, per container (killed and reaped at stop).
    proxies: HashMap<String, Vec<Child>>,
    /// The last ephemeral host port handed out per protocol: like dockerd's port
    /// allocator, the next search starts after it.
    last_ephemeral: HashMap<String, u16>,
    /// The embedded DNS server of each sandbox on a user-defined network.
    resolvers: HashMap<String, dns::Resolver>,
}

fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut b = vec![0u8; bytes];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The current time as dockerd writes it (RFC 3339, UTC, nanoseconds).
fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

impl Networks {
    /// Load the persisted state, set up docker's chains and the default bridge.
    pub fn open(cfg: Config) -> Result<Networks> {
        let dir = cfg.data_root.join("network");
        std::fs::create_dir_all(&dir)?;
        let state_path = dir.join("state.json");
        let mut state = State::load(&state_path)?;
        for (name, driver) in [("host", "host"), ("none", "null")] {
            if !state.networks.iter().any(|n| n.name == name) {
                state.networks.push(NetworkRec {
                    id: random_hex(32),
                    name: name.into(),
                    driver: driver.into(),
                    created: now_rfc3339(),
                    bridge: String::new(),
                    subnet: None,
                    gateway: None,
                    range: None,
                    internal: false,
                    subnet_only: false,
                    default_bridge: false,
                    labels: BTreeMap::new(),
                    options: BTreeMap::new(),
                    pool: Default::default(),
                    v6: None,
                });
            }
        }
        if cfg.bridge.is_some() && cfg.bip.is_some() {
            return Err(NetworkError::BadRequest(
                "You specified -b & --bip, mutually exclusive options. Please specify only one"
                    .into(),
            ));
        }
        if cfg.iptables {
            iptables::setup_chains(Family::V4, cfg.userland_proxy)?;
        }
        if cfg.ip6tables {
            iptables::setup_chains(Family::V6, cfg.userland_proxy)?;
        }
        if cfg.ip_forward && (cfg.iptables || cfg.ip6tables) {
            let knob = "/proc/sys/net/ipv4/ip_forward";
            let was_on = std::fs::read_to_string(knob).is_ok_and(|v| v.trim() == "1");
            if !was_on {
                let _ = std::fs::write(knob, "1");
                // As dockerd: forwarding it turned on itself is closed by default;
                // docker's own chains open it for its bridges.
                for (on, family) in [(cfg.iptables, Family::V4), (cfg.ip6tables, Family::V6)] {
                    if on {
                        iptables::forward_policy(family, "DROP")?;
                    }
                }
            }
        }
        let nets = Networks {
            state_path,
            inner: Mutex::new(Inner {
                state,
                proxies: HashMap::new(),
                last_ephemeral: HashMap::new(),
                resolvers: HashMap::new(),
            }),
            cfg,
        };
        nets.setup_default_bridge()?;
        {
            let inner = nets.inner.lock().unwrap();
            for n in inner
                .state
                .networks
                .iter()
                .filter(|n| n.driver == "bridge" && !n.default_bridge)
            {
                nets.setup_bridge(n)?;
            }
            nets.save(&inner)?;
        }
        Ok(nets)
    }

    fn save(&self, inner: &Inner) -> Result<()> {
        inner.state.save(&self.state_path)?;
        Ok(())
    }

    /// Bring up the bridge of a network and its iptables rules.
    fn setup_bridge(&self, n: &NetworkRec) -> Result<()> {
        let (Some(subnet), Some(gw)) = (n.subnet, n.gateway) else {
            return Ok(());
        };
        let gw_net = Ipv4Net {
            addr: gw,
            prefix: subnet.prefix,
        };
        link::ensure_bridge(&n.bridge, &gw_net, self.cfg.mtu)?;
        if let Some(v6) = &n.v6 {
            link::ensure_bridge_v6(&n.bridge, v6.gateway, v6.subnet.prefix)?;
        }
        if self.cfg.iptables {
            let (icc, masq) = (self.icc(n), self.masq(n));
            if !icc {
                // Traffic between two ports of one bridge is switched, not routed: the
                // FORWARD DROP only sees it when bridged frames go through iptables,
                // which dockerd turns on when icc is off.
                bridge_netfilter()?;
            }
            iptables::add(&iptables::network_rules(
                Family::V4,
                &n.bridge,
                Some(&subnet.network().to_string()),
                icc,
                masq,
                n.internal,
            ))?;
            iptables::jumps_on_top(Family::V4)?;
        }
        if self.cfg.ip6tables {
            let net6 = n.v6.as_ref().map(|v6| v6.subnet.network().to_string());
            iptables::add(&iptables::network_rules(
                Family::V6,
                &n.bridge,
                net6.as_deref(),
                self.icc(n),
                self.masq(n),
                n.internal,
            ))?;
            iptables::jumps_on_top(Family::V6)?;
        }
        if n.v6.is_some() {
            ipv6_forwarding();
        }
        Ok(())
    }

    /// Whether the network's containers may talk to each other.
    fn icc(&self, n: &NetworkRec) -> bool {
        n.options
            .get("com.docker.network.bridge.enable_icc")
            .map(|v| v == "true")
            .unwrap_or(self.cfg.icc || !n.default_bridge)
    }

    /// Whether traffic leaving the network is masqueraded.
    fn masq(&self, n: &NetworkRec) -> bool {
        n.options
            .get("com.docker.network.bridge.enable_ip_masquerade")
            .map(|v| v == "true")
            .unwrap_or(self.cfg.ip_masq)
    }

    fn setup_default_bridge(&self) -> Result<()> {
        let mut inner = self.inner.lock().unwrap();
        if self.cfg.bridge.as_deref() == Some("none") {
            inner.state.networks.retain(|n| !n.default_bridge);
            return Ok(());
        }
        let name = self.cfg.bridge.clone().unwrap_or(DEFAULT_BRIDGE.into());
        let gateway = match (&self.cfg.bip, link::exists(&name)) {
            (Some(bip), _) => {
                let g = Ipv4Net::parse(bip)?;
                if g.addr == g.network().addr {
                    return Err(NetworkError::BadRequest(format!(
                        "failed to allocate gateway ({}): Address already in use",
                        g.addr
                    )));
                }
                if let Some(have) = link::ipv4_of(&name).ok().flatten() {
                    if have != g && link::exists(&name) {
                        return Err(NetworkError::BadRequest(format!(
                            "bridge IPv4 ({have}) does not match requested configuration {g}"
                        )));
                    }
                }
                g
            }
            (None, true) => link::ipv4_of(&name)?.ok_or_else(|| {
                NetworkError::BadRequest(format!("bridge {name} has no IPv4 address"))
            })?,
            (None, false) if name == DEFAULT_BRIDGE => Ipv4Net::parse("172.17.0.1/16")?,
            (None, false) => {
                return Err(NetworkError::BadRequest(format!(
                    "bridge device with non default name {name} must be created manually"
                )))
            }
        };
        let subnet = gateway.network();
        let range = match &self.cfg.fixed_cidr {
            Some(c) => {
                let r = Ipv4Net::parse(c)?.network();
                if !subnet.overlaps(&r) || r.prefix < subnet.prefix {
                    return Err(NetworkError::BadRequest(format!(
                        "fixed-cidr {r} is not within the bridge subnet {subnet}"
                    )));
                }
                Some(r)
            }
            None => None,
        };
        let mut options = BTreeMap::new();
        for (k, v) in [
            (
                "com.docker.network.bridge.default_bridge",
                "true".to_string(),
            ),
            (
                "com.docker.network.bridge.enable_icc",
                self.cfg.icc.to_string(),
            ),
            // dockerd turns masquerading off without iptables, and says so here.
            (
                "com.docker.network.bridge.enable_ip_masquerade",
                (self.cfg.ip_masq && self.cfg.iptables).to_string(),
            ),
            (
                "com.docker.network.bridge.host_binding_ipv4",
                "0.0.0.0".into(),
            ),
            ("com.docker.network.bridge.name", name.clone()),
            (
                "com.docker.network.driver.mtu",
                if self.cfg.mtu > 0 { self.cfg.mtu } else { 1500 }.to_string(),
            ),
        ] {
            options.insert(k.to_string(), v);
        }
        let v6 = match (&self.cfg.ipv6, &self.cfg.fixed_cidr_v6) {
            (true, Some(c)) => Some(ipv6::V6::new(c, None, true)?),
            _ => None,
        };
        let existing = inner.state.networks.iter().position(|n| n.default_bridge);
        let rec = match existing {
            Some(i) => {
                let n = &mut inner.state.networks[i];
                if n.subnet != Some(subnet) {
                    n.pool = Default::default();
                }
                let same_v6 = n.v6.as_ref().map(|v| (v.subnet, v.gateway))
                    == v6.as_ref().map(|v| (v.subnet, v.gateway));
                if !same_v6 {
                    n.v6 = v6;
                }
                n.bridge = name.clone();
                n.subnet = Some(subnet);
                n.gateway = Some(gateway.addr);
                n.range = range;
                n.options = options;
                n.clone()
            }
            None => {
                let n = NetworkRec {
                    id: random_hex(32),
                    name: "bridge".into(),
                    driver: "bridge".into(),
                    created: now_rfc3339(),
                    bridge: name.clone(),
                    subnet: Some(subnet),
                    gateway: Some(gateway.addr),
                    range,
                    internal: false,
                    subnet_only: false,
                    default_bridge: true,
                    labels: BTreeMap::new(),
                    options,
                    pool: Default::default(),
                    v6,
                };
                inner.state.networks.insert(0, n.clone());
                n
            }
        };
        drop(inner);
        self.setup_bridge(&rec)
    }

    /// After a restart: tear down the sandboxes of containers that are not running
    /// any more (veths, rules, proxies, namespaces), and namespace files nobody owns.
    pub fn cleanup(&self, running: &dyn Fn(&str) -> bool) {
        let mut inner = self.inner.lock().unwrap();
        let stale: Vec<String> = inner
            .state
            .sandboxes
            .keys()
            .filter(|id| !running(id))
            .cloned()
            .collect();
        for id in stale {
            self.teardown(&mut inner, &id);
        }
        // Rules of bridges whose daemon died without tearing down: rebuild from scratch
        // for networks without live endpoints.
        if self.cfg.iptables {
            let live: Vec<String> = inner
                .state
                .sandboxes
                .values()
                .flat_map(|s| s.endpoints.iter().map(|e| e.network_id.clone()))
                .collect();
            let idle: Vec<NetworkRec> = inner
                .state
                .networks
                .iter()
                .filter(|n| n.driver == "bridge" && !live.contains(&n.id))
                .cloned()
                .collect();
            for n in idle {
                self.purge_rules(&n);
                let _ = self.setup_bridge(&n);
            }
        }
        // Live sandboxes of a previous daemon: their resolvers died with it.
        let live: Vec<String> = inner.state.sandboxes.keys().cloned().collect();
        for id in live {
            let _ = self.ensure_resolver(&mut inner, &id);
        }
        self.refresh_names(&mut inner);
        let netns_dir = self.cfg.exec_root.join("netns");
        let owned: Vec<PathBuf> = inner
            .state
            .sandboxes
            .values()
            .map(|s| s.netns.clone())
            .collect();
        if let Ok(rd) = std::fs::read_dir(&netns_dir) {
            for e in rd.flatten() {
                if !owned.contains(&e.path()) {
                    netns::remove(&e.path());
                }
            }
        }
        let _ = self.save(&inner);
    }

    fn find<'a>(state: &'a State, r: &str) -> Result<&'a NetworkRec> {
        state
            .networks
            .iter()
            .find(|n| n.id == r)
            .or_else(|| state.networks.iter().find(|n| n.name == r))
            .or_else(|| {
                let m: Vec<_> = state
                    .networks
                    .iter()
                    .filter(|n| !r.is_empty() && n.id.starts_with(r))
                    .collect();
                (m.len() == 1).then(|| m[0])
            })
            .ok_or_else(|| NetworkError::NotFound(format!("network {r} not found")))
    }

    /// Whether the default bridge exists (`--bridge=none` disables it).
    pub fn has_default_bridge(&self) -> bool {
        let inner = self.inner.lock().unwrap();
        inner.state.networks.iter().any(|n| n.default_bridge)
    }

    pub fn get(&self, r: &str) -> Result<NetworkInfo> {
        let inner = self.inner.lock().unwrap();
        let n = Self::find(&inner.state, r)?;
        Ok(Self::info(&inner.state, n))
    }

    pub fn list(&self) -> Vec<NetworkInfo> {
        let inner = self.inner.lock().unwrap();
        inner
            .state
            .networks
            .iter()
            .map(|n| Self::info(&inner.state, n))
            .collect()
    }

    fn info(state: &State, n: &NetworkRec) -> NetworkInfo {
        let endpoints = state
            .sandboxes
            .values()
            .flat_map(|s| {
                s.endpoints
                    .iter()
                    .filter(|e| e.network_id == n.id)
                    .map(|e| (s.container_id.clone(), s.name.clone(), e.clone()))
            })
            .collect();
        NetworkInfo {
            id: n.id.clone(),
            name: n.name.clone(),
            driver: n.driver.clone(),
            created: n.created.clone(),
            subnet: n.subnet.map(|s| s.network()),
            gateway: n.gateway,
            config_gateway: !n.subnet_only,
            range: n.range,
            internal: n.internal,
            v6: n.v6.as_ref().map(|v| (v.subnet, v.gateway)),
            labels: n.labels.clone(),
            options: n.options.clone(),
            endpoints,
        }
    }

    /// `docker network create` (bridge driver).
    pub fn create(&self, req: CreateRequest) -> Result<String> {
        let mut inner = self.inner.lock().unwrap();
        if req.name.is_empty() {
            return Err(NetworkError::BadRequest(
                "network name cannot be empty".into(),
            ));
        }
        if inner.state.networks.iter().any(|n| n.name == req.name) {
            return Err(NetworkError::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let driver = if req.driver.is_empty() {
            "bridge"
        } else {
            req.driver.as_str()
        };
        if driver != "bridge" {
            return Err(NetworkError::NotFound(format!(
                "plugin \"{driver}\" not found"
            )));
        }
        let taken: Vec<Ipv4Net> = inner
            .state
            .networks
            .iter()
            .filter_map(|n| n.subnet)
            .collect();
        let subnet = match &req.subnet {
            Some(s) => {
                let s = Ipv4Net::parse(s)?;
                if s.addr != s.network().addr {
                    return Err(NetworkError::BadRequest(format!(
                        "invalid subnet {s}: it should be {}",
                        s.network()
                    )));
                }
                if taken.iter().any(|t| t.overlaps(&s)) {
                    return Err(NetworkError::Forbidden(
                        "invalid pool request: Pool overlaps with other one on this address space"
                            .into(),
                    ));
                }
                s
            }
            None => ipam::default_pools()
                .find(|p| !taken.iter().any(|t| t.overlaps(p)) && !host_routes_overlap(p))
                .ok_or_else(|| {
                    NetworkError::Forbidden(
                        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
                    )
                })?,
        };
        let gateway = match &req.gateway {
            Some(g) => {
                let g: Ipv4Addr = g.parse().map_err(|_| {
                    NetworkError::BadRequest(format!("invalid gateway address {g}"))
                })?;
                if !subnet.contains(g) {
                    return Err(NetworkError::Forbidden(format!(
                        "no matching subnet for gateway {g}"
                    )));
                }
                g
            }
            None => Ipv4Addr::from(subnet.first() + 1),
        };
        let range = match &req.ip_range {
            Some(r) => {
                let r = Ipv4Net::parse(r)?;
                if r.prefix < subnet.prefix || !subnet.contains(r.addr) {
                    return Err(NetworkError::BadRequest(format!(
                        "invalid ip-range {r}: it is not within subnet {subnet}"
                    )));
                }
                Some(r.network())
            }
            None => None,
        };
        let v6 = match (req.enable_ipv6, &req.subnet6) {
            (false, _) => None,
            (true, None) => {
                return Err(NetworkError::Forbidden(
                    "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network".into(),
                ))
            }
            (true, Some(s6)) => {
                let v = ipv6::V6::new(s6, req.gateway6.as_deref(), false)?;
                let clash = inner
                    .state
                    .networks
                    .iter()
                    .filter_map(|n| n.v6.as_ref())
                    .any(|o| o.subnet.overlaps(&v.subnet));
                if clash {
                    return Err(NetworkError::Forbidden(
                        "invalid pool request: Pool overlaps with other one on this address space"
                            .into(),
                    ));
                }
                Some(v)
            }
        };
        let id = random_hex(32);
        let bridge = req
            .options
            .get("com.docker.network.bridge.name")
            .cloned()
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        let rec = NetworkRec {
            id: id.clone(),
            name: req.name.clone(),
            driver: "bridge".into(),
            created: now_rfc3339(),
            bridge,
            subnet: Some(subnet),
            gateway: Some(gateway),
            range,
            internal: req.internal,
            subnet_only: req.subnet.is_some() && req.gateway.is_none(),
            default_bridge: false,
            labels: req.labels,
            options: req.options,
            pool: Default::default(),
            v6,
        };
        if let Err(e) = self.setup_bridge(&rec) {
            self.remove_bridge(&rec);
            return Err(e);
        }
        inner.state.networks.push(rec);
        self.save(&inner)?;
        Ok(id)
    }

    fn remove_bridge(&self, n: &NetworkRec) {
        self.purge_rules(n);
        link::delete(&n.bridge);
    }

    /// Remove whatever rules name the network's bridge or one of its addresses.
    fn purge_rules(&self, n: &NetworkRec) {
        if let (true, Some(s)) = (self.cfg.iptables, n.subnet) {
            iptables::purge(Family::V4, &n.bridge, &|a| match a {
                IpAddr::V4(a) => s.contains(a),
                IpAddr::V6(_) => false,
            });
        }
        if self.cfg.ip6tables {
            let s = n.v6.as_ref().map(|v6| v6.subnet);
            iptables::purge(Family::V6, &n.bridge, &|a| match (a, s) {
                (IpAddr::V6(a), Some(s)) => s.contains(a),
                _ => false,
            });
        }
    }

    /// `docker network rm`.
    pub fn remove(&self, r: &str) -> Result<()> {
        let mut inner = self.inner.lock().unwrap();
        let n = Self::find(&inner.state, r)?.clone();
        if n.default_bridge || n.driver != "bridge" {
            return Err(NetworkError::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        let info = Self::info(&inner.state, &n);
        if !info.endpoints.is_empty() {
            return Err(NetworkError::Forbidden(format!(
                "error while removing network: network {} id {} has active endpoints",
                n.name, n.id
            )));
        }
        self.remove_bridge(&n);
        inner.state.networks.retain(|x| x.id != n.id);
        for list in inner.state.attachments.values_mut() {
            list.retain(|a| a.network_id != n.id);
        }
        self.save(&inner)
    }

    /// Record that `container` joins `network` when it runs (`create`, or `network
    /// connect` of a stopped container). The default bridge under `--bridge=none` is
    /// no network at all, as in dockerd.
    pub fn attach(
        &self,
        container: &str,
        network: &str,
        aliases: &[String],
        ipv4: Option<Ipv4Addr>,
    ) -> Result<()> {
        let mut inner = self.inner.lock().unwrap();
        let n = match Self::find(&inner.state, network) {
            Ok(n) => n.clone(),
            Err(_) if network == "bridge" => return Ok(()),
            Err(e) => return Err(e),
        };
        if n.driver != "bridge" {
            return Ok(());
        }
        if let Some(ip) = ipv4 {
            if n.default_bridge {
                return Err(NetworkError::BadRequest(
                    "user specified IP address is supported on user defined networks only".into(),
                ));
            }
            if !n.subnet.is_some_and(|s| s.contains(ip)) {
                return Err(NetworkError::BadRequest(format!(
                    "Invalid address {ip}: It does not belong to any of this network's subnets"
                )));
            }
        }
        if !aliases.is_empty() && n.default_bridge {
            return Err(NetworkError::BadRequest(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
        let list = inner
            .state
            .attachments
            .entry(container.to_string())
            .or_default();
        if list.iter().any(|a| a.network_id == n.id) {
            return Err(NetworkError::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                container, n.name
            )));
        }
        list.push(Attachment {
            network_id: n.id.clone(),
            aliases: aliases.to_vec(),
            ipv4,
        });
        self.save(&inner)
    }

    /// Whether the container has a network to be plumbed in a sandbox.
    pub fn has_attachments(&self, container: &str) -> bool {
        let inner = self.inner.lock().unwrap();
        inner
            .state
            .attachments
            .get(container)
            .is_some_and(|l| !l.is_empty())
    }

    /// The networks a container is attached to: (network id, name, endpoint if live).
    pub fn container_networks(&self, container: &str) -> Vec<(String, String, Option<Endpoint>)> {
        let inner = self.inner.lock().unwrap();
        let sb = inner.state.sandboxes.get(container);
        inner
            .state
            .attachments
            .get(container)
            .map(|l| {
                l.iter()
                    .filter_map(|a| {
                        let n = inner.state.networks.iter().find(|n| n.id == a.network_id)?;
                        let ep = sb.and_then(|s| {
                            s.endpoints
                                .iter()
                                .find(|e| e.network_id == a.network_id)
                                .cloned()
                        });
                        Some((n.id.clone(), n.name.clone(), ep))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The sandbox key (network namespace path) of a running container.
    pub fn sandbox_key(&self, container: &str) -> Option<PathBuf> {
        let inner = self.inner.lock().unwrap();
        inner
            .state
            .sandboxes
            .get(container)
            .map(|s| s.netns.clone())
    }

    /// The sandbox id and key (network namespace path) of a running container.
    pub fn sandbox(&self, container: &str) -> Option<(String, PathBuf)> {
        let inner = self.inner.lock().unwrap();
        inner
            .state
            .sandboxes
            .get(container)
            .map(|s| (s.id.clone(), s.netns.clone()))
    }

    /// Create the container's network namespace and its endpoints; returns the
    /// namespace path for the runtime. On error nothing of it is left.
    pub fn start(&self, container: &str, opts: &SandboxOptions) -> Result<PathBuf> {
        let mut inner = self.inner.lock().unwrap();
        if inner.state.sandboxes.contains_key(container) {
            self.teardown(&mut inner, container);
        }
        // As libnetwork names it: the namespace file is the sandbox id's short form.
        let id = random_hex(32);
        let sb = SandboxRec {
            container_id: container.to_string(),
            name: opts.name.clone(),
            netns: self.cfg.exec_root.join("netns").join(&id[..12]),
            id,
            hosts_path: opts.hosts_path.clone(),
            hostname: opts.hostname.clone(),
            domainname: opts.domainname.clone(),
            extra_hosts: opts.extra_hosts.clone(),
            endpoints: Vec::new(),
            dns: opts.dns.clone(),
        };
        let netns_path = sb.netns.clone();
        inner.state.sandboxes.insert(container.to_string(), sb);
        // Recorded before anything exists on the host: a crash from here on is undone
        // by `cleanup` at the next start.
        self.save(&inner)?;
        let res = (|| -> Result<()> {
            netns::create(&netns_path)?;
            let attachments = inner
                .state
                .attachments
                .get(container)
                .cloned()
                .unwrap_or_default();
            for (i, a) in attachments.iter().enumerate() {
                let ports = if i == 0 { opts.ports.as_slice() } else { &[] };
                self.join(&mut inner, container, a, ports)?;
            }
            self.ensure_resolver(&mut inner, container)
        })();
        if let Err(e) = res {
            self.teardown(&mut inner, container);
            let _ = self.save(&inner);
            return Err(e);
        }
        self.refresh_names(&mut inner);
        self.save(&inner)?;
        Ok(netns_path)
    }

    /// Plumb one endpoint into the sandbox and publish its ports.
    fn join(
        &self,
        inner: &mut Inner,
        container: &str,
        a: &Attachment,
        ports: &[PortRequest],
    ) -> Result<()> {
        let ni = inner
            .state
            .networks
            .iter()
            .position(|n| n.id == a.network_id)
            .ok_or_else(|| NetworkError::NotFound(format!("network {} not found", a.network_id)))?;
        let n = inner.state.networks[ni].clone();
        let (Some(subnet), gateway) = (n.subnet, n.gateway) else {
            return Ok(());
        };
        let range = n.range.unwrap_or(subnet);
        let ip = inner.state.networks[ni]
            .pool
            .allocate(&subnet, &range, gateway, a.ipv4)?;
        let mac = link::mac_for(ip);
        let addr6 = match inner.state.networks[ni].v6.as_mut() {
            Some(v6) => match v6.allocate(&mac) {
                Ok(a) => Some((a, v6.subnet.prefix, v6.gateway)),
                Err(e) => {
                    inner.state.networks[ni].pool.release(ip);
                    return Err(e);
                }
            },
            None => None,
        };
        let sb = inner.state.sandboxes.get_mut(container).unwrap();
        let inner_name = format!("eth{}", sb.endpoints.len());
        let first_gateway = !n.internal && sb.endpoints.is_empty();
        let ep = EndpointRec {
            id: random_hex(32),
            network_id: n.id.clone(),
            ip,
            prefix: subnet.prefix,
            gateway: if n.internal || !sb.endpoints.is_empty() {
                None
            } else {
                gateway
            },
            mac,
            ipv6: addr6.map(|a| a.0),
            ipv6_prefix: addr6.map_or(0, |a| a.1),
            ipv6_gateway: addr6.filter(|_| first_gateway).map(|a| a.2),
            host_veth: format!("veth{}", &random_hex(4)[..7]),
            inner: inner_name,
            aliases: a.aliases.clone(),
            ports: Vec::new(),
            proxy_pids: Vec::new(),
        };
        sb.endpoints.push(ep.clone());
        let netns_path = sb.netns.clone();
        let sb_name = sb.name.clone();
        self.save(inner)?;
        link::plumb(&link::VethPlan {
            host_name: &ep.host_veth,
            inner_name: &ep.inner,
            bridge: &n.bridge,
            netns: &netns_path,
            mac: &ep.mac,
            addr: ip,
            prefix: subnet.prefix,
            gateway: ep.gateway,
            addr6: ep.ipv6.map(|a| (a, ep.ipv6_prefix)),
            gateway6: ep.ipv6_gateway,
            mtu: self.cfg.mtu,
        })?;
        for p in ports {
            self.publish(inner, container, &n, &ep, p)
                .map_err(|e| match e {
                    NetworkError::PortInUse(why) => NetworkError::Internal(format!(
                    "driver failed programming external connectivity on endpoint {} ({}): {why}",
                    sb_name.trim_start_matches('/'),
                    ep.id
                )),
                    e => e,
                })?;
        }
        Ok(())
    }

    fn host_ports_in_use(inner: &Inner) -> Vec<(String, Ipv4Addr, u16)> {
        inner
            .state
            .sandboxes
            .values()
            .flat_map(|s| s.endpoints.iter())
            .flat_map(|e| e.ports.iter())
            .map(|p| (p.proto.clone(), p.host_ip, p.host_port))
            .collect()
    }

    fn publish(
        &self,
        inner: &mut Inner,
        container: &str,
        n: &NetworkRec,
        ep: &EndpointRec,
        p: &PortRequest,
    ) -> Result<()> {
        let used = Self::host_ports_in_use(inner);
        let clash = |port: u16| {
            used.iter().any(|(proto, ip, hp)| {
                *proto == p.proto
                    && *hp == port
                    && (ip.is_unspecified() || p.host_ip.is_unspecified() || *ip == p.host_ip)
            })
        };
        let candidates: Vec<u16> = if p.host_ports.0 == 0 {
            let (lo, hi) = ephemeral_range();
            let start = inner
                .last_ephemeral
                .get(&p.proto)
                .map(|l| l.saturating_add(1))
                .filter(|s| *s > lo && *s <= hi)
                .unwrap_or(lo);
            (start..=hi).chain(lo..start).collect()
        } else {
            (p.host_ports.0..=p.host_ports.1.max(p.host_ports.0)).collect()
        };
        let explicit = p.host_ports.0 != 0;
        let mut last_err = None;
        for port in candidates.iter().copied().filter(|port| !clash(*port)) {
            match self.bind_port(n, ep, p, port) {
                Ok(children) => {
                    if !explicit {
                        inner.last_ephemeral.insert(p.proto.clone(), port);
                    }
                    let mapping = PortMapping {
                        proto: p.proto.clone(),
                        container_port: p.container_port,
                        host_ip: p.host_ip,
                        host_port: port,
                        ipv6_too: children.len() > 1,
                    };
                    let pids: Vec<u32> = children.iter().map(Child::id).collect();
                    inner
                        .proxies
                        .entry(container.to_string())
                        .or_default()
                        .extend(children);
                    let sb = inner.state.sandboxes.get_mut(container).unwrap();
                    let e = sb.endpoints.iter_mut().find(|e| e.id == ep.id).unwrap();
                    e.ports.push(mapping);
                    e.proxy_pids.extend(pids);
                    self.save(inner)?;
                    return Ok(());
                }
                Err(e @ NetworkError::PortInUse(_)) => {
                    if explicit && p.host_ports.0 == p.host_ports.1 {
                        return Err(e);
                    }
                    last_err = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| {
            if explicit {
                NetworkError::PortInUse(format!(
                    "Bind for {}:{} failed: port is already allocated",
                    p.host_ip, p.host_ports.0
                ))
            } else {
                NetworkError::PortInUse("no free port in the ephemeral range".into())
            }
        }))
    }

    /// Rules and proxies for one host port; nothing is left if it fails.
    fn bind_port(
        &self,
        n: &NetworkRec,
        ep: &EndpointRec,
        p: &PortRequest,
        port: u16,
    ) -> Result<Vec<Child>> {
        let mut children: Vec<Child> = Vec::new();
        let undo = |children: &mut Vec<Child>| {
            for c in children.iter_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
        };
        if self.cfg.userland_proxy {
            let mut hosts = vec![IpAddr::V4(p.host_ip)];
            if p.host_ip.is_unspecified() && host_has_ipv6() {
                hosts.push(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
            }
            for h in hosts {
                match proxy::spawn(
                    &self.cfg.proxy_path,
                    &p.proto,
                    h,
                    port,
                    ep.ip,
                    p.container_port,
                ) {
                    Ok(c) => children.push(c),
                    Err(e) => {
                        undo(&mut children);
                        return Err(e);
                    }
                }
            }
        }
        let rules = self.port_rules(n, ep, &p.proto, p.host_ip, port, p.container_port);
        if let Err(e) = iptables::add(&rules) {
            undo(&mut children);
            return Err(e);
        }
        Ok(children)
    }

    /// The rules of one published port: in iptables, and in ip6tables too for an
    /// endpoint with an IPv6 address when the port is published on every address.
    fn port_rules(
        &self,
        n: &NetworkRec,
        ep: &EndpointRec,
        proto: &str,
        host_ip: Ipv4Addr,
        host_port: u16,
        container_port: u16,
    ) -> Vec<iptables::Rule> {
        let mut rules = Vec::new();
        let host = (!host_ip.is_unspecified()).then_some(IpAddr::V4(host_ip));
        if self.cfg.iptables {
            rules.extend(iptables::port_rules(
                &n.bridge,
                proto,
                host,
                host_port,
                IpAddr::V4(ep.ip),
                container_port,
            ));
        }
        if let (true, Some(ip6), None) = (self.cfg.ip6tables, ep.ipv6, host) {
            rules.extend(iptables::port_rules(
                &n.bridge,
                proto,
                None,
                host_port,
                IpAddr::V6(ip6),
                container_port,
            ));
        }
        rules
    }

    /// The container stopped: remove its endpoints, rules, proxies and namespace.
    pub fn stop(&self, container: &str) {
        let mut inner = self.inner.lock().unwrap();
        if !inner.state.sandboxes.contains_key(container) {
            return;
        }
        self.teardown(&mut inner, container);
        self.refresh_names(&mut inner);
        let _ = self.save(&inner);
    }

    /// The container is removed: also drop its attachments.
    pub fn forget(&self, container: &str) {
        self.stop(container);
        let mut inner = self.inner.lock().unwrap();
        if inner.state.attachments.remove(container).is_some() {
            let _ = self.save(&inner);
        }
    }

    fn teardown(&self, inner: &mut Inner, container: &str) {
        let Some(sb) = inner.state.sandboxes.remove(container) else {
            return;
        };
        inner.resolvers.remove(container);
        let mut mine = inner.proxies.remove(container).unwrap_or_default();
        for ep in &sb.endpoints {
            self.release_endpoint(inner, ep, &mut mine);
        }
        netns::remove(&sb.netns);
    }

    fn release_endpoint(&self, inner: &mut Inner, ep: &EndpointRec, mine: &mut Vec<Child>) {
        let n = inner
            .state
            .networks
            .iter_mut()
            .find(|n| n.id == ep.network_id);
        for pid in &ep.proxy_pids {
            if let Some(i) = mine.iter().position(|c| c.id() == *pid) {
                let mut c = mine.remove(i);
                let _ = c.kill();
                let _ = c.wait();
            } else if is_proxy(*pid) {
                // A proxy of a previous daemon: not our child, the reaper collects it.
                // SAFETY: signalling a process verified to be a docker-proxy.
                unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
            }
        }
        if let Some(n) = n {
            for p in &ep.ports {
                iptables::delete(&self.port_rules(
                    n,
                    ep,
                    &p.proto,
                    p.host_ip,
                    p.host_port,
                    p.container_port,
                ));
            }
            n.pool.release(ep.ip);
            if let (Some(v6), Some(a)) = (n.v6.as_mut(), ep.ipv6) {
                v6.release(a);
            }
        }
        link::delete(&ep.host_veth);
    }

    /// Rewrite the hosts file of every sandbox (its own addresses and `extra` entries)
    /// and the name table of every embedded resolver: the containers it shares a
    /// user-defined network with, by name, alias and short id.
    fn refresh_names(&self, inner: &mut Inner) {
        // User-defined networks: id and name.
        let user_nets: HashMap<&str, &str> = inner
            .state
            .networks
            .iter()
            .filter(|n| n.driver == "bridge" && !n.default_bridge)
            .map(|n| (n.id.as_str(), n.name.as_str()))
            .collect();
        for sb in inner.state.sandboxes.values() {
            if let Some(r) = inner.resolvers.get(&sb.container_id) {
                let mut names = dns::NameTable::new();
                let mut pointers = HashMap::new();
                for other in inner.state.sandboxes.values() {
                    for oe in &other.endpoints {
                        let Some(net_name) = user_nets.get(oe.network_id.as_str()) else {
                            continue;
                        };
                        if !sb.endpoints.iter().any(|e| e.network_id == oe.network_id) {
                            continue;
                        }
                        let short = &other.container_id[..12.min(other.container_id.len())];
                        let name = other.name.trim_start_matches('/');
                        let v6 = oe.ipv6.map(IpAddr::V6);
                        for ip in std::iter::once(IpAddr::V4(oe.ip)).chain(v6) {
                            pointers.insert(ip, format!("{name}.{net_name}"));
                        }
                        let own = [name, short];
                        for n in own.into_iter().chain(oe.aliases.iter().map(String::as_str)) {
                            let ips = names.entry(n.to_ascii_lowercase()).or_default();
                            let v6 = oe.ipv6.map(IpAddr::V6);
                            for ip in std::iter::once(IpAddr::V4(oe.ip)).chain(v6) {
                                if !ips.contains(&ip) {
                                    ips.push(ip);
                                }
                            }
                        }
                    }
                }
                let mut answers = r.answers.write().unwrap();
                answers.names = names;
                answers.pointers = pointers;
            }
            if sb.hosts_path.as_os_str().is_empty() {
                continue;
            }
            let own_names = etc::own_names(&sb.hostname, &sb.domainname);
            let own: Vec<HostEntry> = sb
                .endpoints
                .iter()
                .flat_map(|e| {
                    let v6 = e.ipv6.map(|a| a.to_string());
                    std::iter::once(e.ip.to_string()).chain(v6)
                })
                .map(|ip| HostEntry {
                    ip,
                    names: own_names.clone(),
                })
                .collect();
            let text = etc::hosts(&sb.extra_hosts, &own);
            write_in_place(&sb.hosts_path, &text);
        }
    }

    /// Start the embedded DNS server of a sandbox that joined its first user-defined
    /// network, and point the container's resolv.conf at it.
    fn ensure_resolver(&self, inner: &mut Inner, container: &str) -> Result<()> {
        let Some(sb) = inner.state.sandboxes.get(container) else {
            return Ok(());
        };
        let on_user_net = sb.endpoints.iter().any(|e| {
            inner
                .state
                .networks
                .iter()
                .any(|n| n.id == e.network_id && n.driver == "bridge" && !n.default_bridge)
        });
        if !on_user_net || inner.resolvers.contains_key(container) {
            return Ok(());
        }
        let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let answers = dns::Answers {
            names: Default::default(),
            pointers: Default::default(),
            upstream: dns::upstream_servers(&sb.dns, &host),
        };
        let resolver = dns::start(&sb.netns, answers)?;
        if !sb.hosts_path.as_os_str().is_empty() {
            let path = sb.hosts_path.with_file_name("resolv.conf");
            let written = std::fs::read_to_string(&path).unwrap_or(host);
            write_in_place(&path, &dns::resolv_conf(&written));
        }
        inner.resolvers.insert(container.to_string(), resolver);
        Ok(())
    }

    /// `docker network connect` of a running container: plumb a new endpoint into its
    /// live namespace. A stopped one only records the attachment.
    pub fn connect(
        &self,
        container: &str,
        network: &str,
        aliases: &[String],
        ipv4: Option<Ipv4Addr>,
    ) -> Result<()> {
        self.attach(container, network, aliases, ipv4)?;
        let mut inner = self.inner.lock().unwrap();
        if !inner.state.sandboxes.contains_key(container) {
            return Ok(());
        }
        let a = inner.state.attachments[container].last().cloned().unwrap();
        let joined = self
            .join(&mut inner, container, &a, &[])
            .and_then(|()| self.ensure_resolver(&mut inner, container));
        if let Err(e) = joined {
            // Undo the half-made endpoint and the attachment.
            let sb = inner.state.sandboxes.get_mut(container).unwrap();
            let half: Vec<EndpointRec> = sb
                .endpoints
                .iter()
                .filter(|e| e.network_id == a.network_id)
                .cloned()
                .collect();
            sb.endpoints.retain(|e| e.network_id != a.network_id);
            let mut none = Vec::new();
            for ep in &half {
                self.release_endpoint(&mut inner, ep, &mut none);
            }
            if let Some(l) = inner.state.attachments.get_mut(container) {
                l.retain(|x| x.network_id != a.network_id);
            }
            let _ = self.save(&inner);
            return Err(e);
        }
        self.refresh_names(&mut inner);
        self.save(&inner)
    }

    /// `docker network disconnect`.
    pub fn disconnect(&self, container: &str, network: &str) -> Result<()> {
        let mut inner = self.inner.lock().unwrap();
        let n = Self::find(&inner.state, network)?.clone();
        let attached = inner
            .state
            .attachments
            .get(container)
            .is_some_and(|l| l.iter().any(|a| a.network_id == n.id));
        if !attached {
            return Err(NetworkError::Forbidden(format!(
                "container {container} is not connected to network {}",
                n.name
            )));
        }
        if let Some(l) = inner.state.attachments.get_mut(container) {
            l.retain(|a| a.network_id != n.id);
        }
        let eps: Vec<EndpointRec> = inner
            .state
            .sandboxes
            .get(container)
            .map(|s| {
                s.endpoints
                    .iter()
                    .filter(|e| e.network_id == n.id)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if let Some(sb) = inner.state.sandboxes.get_mut(container) {
            sb.endpoints.retain(|e| e.network_id != n.id);
            let ns = sb.netns.clone();
            for ep in &eps {
                link::unplumb_inner(&ns, &ep.inner);
            }
        }
        let mut mine = inner.proxies.remove(container).unwrap_or_default();
        for ep in &eps {
            self.release_endpoint(&mut inner, ep, &mut mine);
        }
        if !mine.is_empty() {
            inner.proxies.insert(container.to_string(), mine);
        }
        self.refresh_names(&mut inner);
        self.save(&inner)
    }

    /// The address of a container on a network (for `--link`).
    pub fn address_on(&self, container: &str, network: &str) -> Option<Ipv4Addr> {
        let inner = self.inner.lock().unwrap();
        let n = Self::find(&inner.state, network).ok()?;
        inner
            .state
            .sandboxes
            .get(container)?
            .endpoints
            .iter()
            .find(|e| e.network_id == n.id)
            .map(|e| e.ip)
    }
}

/// Turn IPv6 forwarding on (default and all) for a bridge with IPv6, as dockerd does
/// when it sets one up; a failure only costs routing, so it is not fatal.
fn ipv6_forwarding() {
    for knob in [
        "/proc/sys/net/ipv6/conf/default/forwarding",
        "/proc/sys/net/ipv6/conf/all/forwarding",
    ] {
        if std::fs::read_to_string(knob).is_ok_and(|v| v.trim() != "1") {
            let _ = std::fs::write(knob, "1");
        }
    }
}

/// Make bridged IPv4 traffic pass through iptables (`br_netfilter`'s switch).
fn bridge_netfilter() -> Result<()> {
    let knob = Path::new("/proc/sys/net/bridge/bridge-nf-call-iptables");
    if !knob.exists() {
        return Err(NetworkError::Internal(
            "cannot disable inter-container communication: /proc/sys/net/bridge is missing (load the br_netfilter kernel module)".into(),
        ));
    }
    if std::fs::read_to_string(knob).is_ok_and(|v| v.trim() == "1") {
        return Ok(());
    }
    std::fs::write(knob, "1")
        .map_err(|e| NetworkError::Internal(format!("enabling bridge-nf-call-iptables: {e}")))
}

/// Replace a file's content without replacing its inode: the container has it
/// bind-mounted, and a rename would leave it looking at the old one.
fn write_in_place(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, text).is_ok() {
        let _ = std::fs::copy(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Whether `pid` is a live docker-proxy (a recorded pid may have been reused).
fn is_proxy(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            let argv0 = c.split(|b| *b == 0).next().unwrap_or_default();
            Path::new(std::str::from_utf8(argv0).unwrap_or_default())
                .file_name()
                .is_some_and(|f| f == "docker-proxy")
        })
        .unwrap_or(false)
}

/// Whether the host speaks IPv6 (then published ports are proxied on `::` too).
fn host_has_ipv6() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/disable_ipv6")
        .map(|v| v.trim() == "0")
        .unwrap_or(false)
}

/// The kernel's ephemeral port range, where `-P` and `-p <port>` take host ports from.
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut w = s.split_whitespace().map(|x| x.parse::<u16>().ok());
            Some((w.next()??, w.next()??))
        })
        .unwrap_or((49153, 65535))
}

/// Whether a subnet collides with a route of the host (dockerd avoids those pools).
fn host_routes_overlap(net: &Ipv4Net) -> bool {
    let Ok(out) = cmd::run("ip", &["-4", "route", "show"], None) else {
        return false;
    };
    out.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|d| *d != "default")
        .filter_map(|d| {
            if d.contains('/') {
                Ipv4Net::parse(d).ok()
            } else {
                Ipv4Net::parse(&format!("{d}/32")).ok()
            }
        })
        .any(|r| r.overlaps(net))
}
