//! Links through `ip` (iproute2): bridges, veth pairs whose container end is created
//! directly inside the sandbox's namespace, and the addressing inside it.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use crate::cmd::run;
use crate::ipam::Ipv4Net;
use crate::NetworkError;

/// Whether the calling thread's network namespace has a link `name`. Read from procfs:
/// /sys/class/net shows the namespace sysfs was mounted in, which is not ours when the
/// daemon runs in a namespace of its own.
pub fn exists(name: &str) -> bool {
    match std::fs::read_to_string("/proc/thread-self/net/dev") {
        Ok(table) => table
            .lines()
            .skip(2)
            .any(|l| l.split(':').next().map(str::trim) == Some(name)),
        Err(_) => Path::new("/sys/class/net").join(name).exists(),
    }
}

/// The first IPv4 address of `dev`, as `ip` lists it (`10.0.0.1/24`).
pub fn ipv4_of(dev: &str) -> Result<Option<Ipv4Net>, NetworkError> {
    let out = run("ip", &["-o", "-4", "addr", "show", "dev", dev], None)?;
    Ok(out
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| Ipv4Net::parse(a).ok()))
}

/// Create bridge `name` with `gateway` as its address (kept if it already exists).
pub fn ensure_bridge(name: &str, gateway: &Ipv4Net, mtu: u32) -> Result<(), NetworkError> {
    if !exists(name) {
        run("ip", &["link", "add", "name", name, "type", "bridge"], None)?;
    }
    if mtu > 0 {
        run(
            "ip",
            &["link", "set", "dev", name, "mtu", &mtu.to_string()],
            None,
        )?;
    }
    let have = ipv4_of(name)?;
    if have.is_none() {
        run(
            "ip",
            &["addr", "add", &gateway.to_string(), "dev", name],
            None,
        )?;
    }
    run("ip", &["link", "set", "dev", name, "up"], None)?;
    Ok(())
}

/// Give bridge `name` its IPv6 gateway address and dockerd's `fe80::1` link-local one.
pub fn ensure_bridge_v6(name: &str, gateway: Ipv6Addr, prefix: u8) -> Result<(), NetworkError> {
    let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "0");
    for addr in [format!("{gateway}/{prefix}"), "fe80::1/64".to_string()] {
        run("ip", &["-6", "addr", "replace", &addr, "dev", name], None)?;
    }
    Ok(())
}

pub fn delete(name: &str) {
    if exists(name) {
        let _ = run("ip", &["link", "del", "dev", name], None);
    }
}

/// Everything one endpoint needs on the wire.
pub struct VethPlan<'a> {
    pub host_name: &'a str,
    pub inner_name: &'a str,
    pub bridge: &'a str,
    pub netns: &'a Path,
    pub mac: &'a str,
    pub addr: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub addr6: Option<(Ipv6Addr, u8)>,
    pub gateway6: Option<Ipv6Addr>,
    pub mtu: u32,
}

/// Create the veth pair, attach the host end to the bridge and configure the inner end
/// in the namespace. On failure nothing of it is left.
pub fn plumb(p: &VethPlan) -> Result<(), NetworkError> {
    let ns = p.netns.to_str().unwrap_or_default();
    let mtu = if p.mtu > 0 { p.mtu } else { 1500 }.to_string();
    run(
        "ip",
        &[
            "link",
            "add",
            p.host_name,
            "mtu",
            &mtu,
            "type",
            "veth",
            "peer",
            "name",
            p.inner_name,
            "mtu",
            &mtu,
            "address",
            p.mac,
            "netns",
            ns,
        ],
        None,
    )?;
    let inside = || -> Result<(), NetworkError> {
        run(
            "ip",
            &["link", "set", "dev", p.host_name, "master", p.bridge, "up"],
            None,
        )?;
        let mut batch = format!(
            "link set lo up\naddr add {}/{} dev {inner}\nlink set {inner} up\n",
            p.addr,
            p.prefix,
            inner = p.inner_name
        );
        if let Some(gw) = p.gateway {
            batch.push_str(&format!(
                "route replace default via {gw} dev {}\n",
                p.inner_name
            ));
        }
        // nodad, as dockerd: the address is usable at once, not tentative.
        if let Some((a, prefix)) = p.addr6 {
            batch.push_str(&format!(
                "addr add {a}/{prefix} dev {} nodad\n",
                p.inner_name
            ));
        }
        if let Some(gw) = p.gateway6 {
            batch.push_str(&format!(
                "route replace ::/0 via {gw} dev {}\n",
                p.inner_name
            ));
        }
        run(
            "nsenter",
            &[&format!("--net={ns}"), "ip", "-batch", "-"],
            Some(&batch),
        )?;
        Ok(())
    };
    if let Err(e) = inside() {
        delete(p.host_name);
        return Err(e);
    }
    Ok(())
}

/// Remove the inner end of an endpoint from a live namespace (network disconnect).
pub fn unplumb_inner(netns: &Path, inner: &str) {
    let ns = format!("--net={}", netns.display());
    let _ = run("nsenter", &[&ns, "ip", "link", "del", "dev", inner], None);
}

/// A MAC address as docker derives it from the IPv4 address (02:42 + the 4 bytes).
pub fn mac_for(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}
