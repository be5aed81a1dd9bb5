//! IPv6 on bridge networks, as dockerd 20.10 does it with `--ipv6`: the network's
//! subnet (`--fixed-cidr-v6` for the default bridge, `--subnet` of `network create
//! --ipv6`), the gateway at its first address on the bridge, and container addresses
//! handed out in order on user-defined networks or derived from the MAC address on the
//! default bridge (checked against Debian's dockerd in the engine's network suite).

use std::collections::BTreeSet;
use std::net::Ipv6Addr;

use serde::{Deserialize, Serialize};

use crate::NetworkError;

/// An IPv6 prefix, host bits as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv6Net {
    pub addr: Ipv6Addr,
    pub prefix: u8,
}

impl Ipv6Net {
    pub fn parse(s: &str) -> Result<Ipv6Net, NetworkError> {
        let bad = || NetworkError::BadRequest(format!("invalid CIDR address: {s}"));
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv6Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if prefix > 128 {
            return Err(bad());
        }
        Ok(Ipv6Net { addr, prefix })
    }

    fn mask(&self) -> u128 {
        if self.prefix == 0 {
            0
        } else {
            u128::MAX << (128 - self.prefix)
        }
    }

    pub fn network(&self) -> Ipv6Net {
        Ipv6Net {
            addr: Ipv6Addr::from(u128::from(self.addr) & self.mask()),
            prefix: self.prefix,
        }
    }

    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & self.mask() == u128::from(self.addr) & self.mask()
    }

    pub fn overlaps(&self, other: &Ipv6Net) -> bool {
        let p = self.prefix.min(other.prefix);
        let m = if p == 0 { 0 } else { u128::MAX << (128 - p) };
        u128::from(self.addr) & m == u128::from(other.addr) & m
    }

    /// The `n`th address of the subnet.
    fn nth(&self, n: u128) -> Ipv6Addr {
        Ipv6Addr::from((u128::from(self.addr) & self.mask()) | (n & !self.mask()))
    }
}

impl std::fmt::Display for Ipv6Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A network's IPv6 side, persisted with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V6 {
    pub subnet: Ipv6Net,
    pub gateway: Ipv6Addr,
    /// Addresses from the MAC (the default bridge) instead of in order.
    #[serde(default)]
    pub from_mac: bool,
    #[serde(default)]
    pub allocated: BTreeSet<Ipv6Addr>,
}

impl V6 {
    /// A subnet with its gateway (the first address unless given).
    pub fn new(subnet: &str, gateway: Option<&str>, from_mac: bool) -> Result<V6, NetworkError> {
        let subnet = Ipv6Net::parse(subnet)?.network();
        let gateway = match gateway {
            Some(g) => {
                let g: Ipv6Addr = g.parse().map_err(|_| {
                    NetworkError::BadRequest(format!("invalid gateway address {g}"))
                })?;
                if !subnet.contains(g) {
                    return Err(NetworkError::Forbidden(format!(
                        "no matching subnet for gateway {g}"
                    )));
                }
                g
            }
            None => subnet.nth(1),
        };
        Ok(V6 {
            subnet,
            gateway,
            from_mac,
            allocated: BTreeSet::new(),
        })
    }

    /// An address for an endpoint whose MAC address is `mac` (`02:42:..`).
    pub fn allocate(&mut self, mac: &str) -> Result<Ipv6Addr, NetworkError> {
        let ip = if self.from_mac && self.subnet.prefix <= 80 {
            let bytes: Vec<u8> = mac
                .split(':')
                .filter_map(|b| u8::from_str_radix(b, 16).ok())
                .collect();
            let low = bytes
                .iter()
                .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
            self.subnet.nth(low)
        } else {
            let size = if self.subnet.prefix >= 128 {
                1
            } else {
                1u128 << (128 - u32::from(self.subnet.prefix)).min(127)
            };
            (1..size)
                .map(|n| self.subnet.nth(n))
                .find(|ip| *ip != self.gateway && !self.allocated.contains(ip))
                .ok_or_else(|| {
                    NetworkError::Internal(format!(
                        "no available IPv6 addresses on this network's address pools: {}",
                        self.subnet
                    ))
                })?
        };
        self.allocated.insert(ip);
        Ok(ip)
    }

    pub fn release(&mut self, ip: Ipv6Addr) {
        self.allocated.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_as_dockerd_hands_them_out() {
        let mut v = V6::new("fd00:219:3::/64", None, false).unwrap();
        assert_eq!(v.gateway, "fd00:219:3::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(v.allocate("").unwrap().to_string(), "fd00:219:3::2");
        assert_eq!(v.allocate("").unwrap().to_string(), "fd00:219:3::3");
        v.release("fd00:219:3::2".parse().unwrap());
        assert_eq!(v.allocate("").unwrap().to_string(), "fd00:219:3::2");
        let mut d = V6::new("fd00:219:2::/64", None, true).unwrap();
        assert_eq!(
            d.allocate("02:42:0a:db:02:02").unwrap().to_string(),
            "fd00:219:2::242:adb:202"
        );
        assert!(V6::new("fd00::/64", Some("fd01::1"), false).is_err());
        let a = Ipv6Net::parse("fd00::/64").unwrap();
        assert!(a.overlaps(&Ipv6Net::parse("fd00::/48").unwrap()));
        assert!(!a.overlaps(&Ipv6Net::parse("fd00:0:0:1::/64").unwrap()));
    }
}
