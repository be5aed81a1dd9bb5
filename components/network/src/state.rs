//! What the network controller persists under `<data-root>/network/state.json`: the
//! networks with their address pools, each container's attachments, and the live
//! sandboxes (namespace, endpoints, published ports, proxy pids), so a restarted daemon
//! neither reuses a live address nor forgets what a killed one left behind.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::etc::HostEntry;
use crate::ipam::{Ipv4Net, Pool};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkRec {
    pub id: String,
    pub name: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    pub created: String,
    #[serde(default)]
    pub bridge: String,
    pub subnet: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    /// `--fixed-cidr` / `--ip-range`: where container addresses come from.
    pub range: Option<Ipv4Net>,
    #[serde(default)]
    pub internal: bool,
    /// Created with `--subnet` and no `--gateway`: dockerd lists only the subnet in
    /// the network's IPAM config then.
    #[serde(default)]
    pub subnet_only: bool,
    #[serde(default)]
    pub default_bridge: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub pool: Pool,
    #[serde(default)]
    pub v6: Option<crate::ipv6::V6>,
}

/// A container's wish to be on a network (kept while it is stopped).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attachment {
    pub network_id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub ipv4: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    pub proto: String,
    pub container_port: u16,
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    /// An unspecified host address is published on `::` too (a second proxy), as
    /// dockerd does when the host has IPv6.
    #[serde(default)]
    pub ipv6_too: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndpointRec {
    pub id: String,
    pub network_id: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mac: String,
    #[serde(default)]
    pub ipv6: Option<std::net::Ipv6Addr>,
    #[serde(default)]
    pub ipv6_prefix: u8,
    #[serde(default)]
    pub ipv6_gateway: Option<std::net::Ipv6Addr>,
    pub host_veth: String,
    pub inner: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub ports: Vec<PortMapping>,
    #[serde(default)]
    pub proxy_pids: Vec<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxRec {
    pub id: String,
    pub container_id: String,
    pub name: String,
    pub netns: PathBuf,
    pub hosts_path: PathBuf,
    pub hostname: String,
    pub domainname: String,
    #[serde(default)]
    pub extra_hosts: Vec<HostEntry>,
    #[serde(default)]
    pub endpoints: Vec<EndpointRec>,
    /// `--dns` servers: what the embedded resolver forwards to instead of the host's.
    #[serde(default)]
    pub dns: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub networks: Vec<NetworkRec>,
    #[serde(default)]
    pub attachments: BTreeMap<String, Vec<Attachment>>,
    #[serde(default)]
    pub sandboxes: BTreeMap<String, SandboxRec>,
}

impl State {
    pub fn load(path: &Path) -> std::io::Result<State> {
        match std::fs::read(path) {
            Ok(raw) => serde_json::from_slice(&raw)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(e),
        }
    }

    /// Write atomically: a crash leaves the old or the new file, never half of one.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).unwrap())?;
        std::fs::rename(tmp, path)
    }
}
