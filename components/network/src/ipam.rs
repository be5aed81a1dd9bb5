//! IPv4 address management: subnets as docker writes them (`172.17.0.0/16`), and the
//! allocator that hands out each address of a pool once until it is released: the
//! lowest free one, as dockerd's default IPAM does for local bridge networks (checked
//! against Debian's dockerd in the engine's network suite).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::NetworkError;

/// An IPv4 prefix; `addr` keeps the host bits given (a gateway written as `10.0.0.1/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Net {
    pub fn parse(s: &str) -> Result<Ipv4Net, NetworkError> {
        let bad = || NetworkError::BadRequest(format!("invalid CIDR address: {s}"));
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        Ok(Ipv4Net { addr, prefix })
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    /// The network itself, host bits cleared.
    pub fn network(&self) -> Ipv4Net {
        Ipv4Net {
            addr: Ipv4Addr::from(u32::from(self.addr) & self.mask()),
            prefix: self.prefix,
        }
    }

    pub fn first(&self) -> u32 {
        u32::from(self.addr) & self.mask()
    }

    pub fn last(&self) -> u32 {
        self.first() | !self.mask()
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let x = u32::from(ip);
        x >= self.first() && x <= self.last()
    }

    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        self.first() <= other.last() && other.first() <= self.last()
    }
}

impl std::fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The allocation state of one network's pool, persisted with the network.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Pool {
    pub allocated: BTreeSet<Ipv4Addr>,
}

impl Pool {
    /// Reserve `want`, or the next free address of `range` inside `subnet` (never the
    /// network address, the broadcast address or `gateway`).
    pub fn allocate(
        &mut self,
        subnet: &Ipv4Net,
        range: &Ipv4Net,
        gateway: Option<Ipv4Addr>,
        want: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr, NetworkError> {
        let usable = |x: u32| {
            let ip = Ipv4Addr::from(x);
            x != subnet.first()
                && (subnet.prefix >= 31 || x != subnet.last())
                && Some(ip) != gateway
                && !self.allocated.contains(&ip)
        };
        if let Some(ip) = want {
            if !subnet.contains(ip) {
                return Err(NetworkError::BadRequest(format!(
                    "Invalid address {ip}: It does not belong to any of this network's subnets"
                )));
            }
            if !usable(u32::from(ip)) {
                return Err(NetworkError::Forbidden("Address already in use".into()));
            }
            self.allocated.insert(ip);
            return Ok(ip);
        }
        let (lo, hi) = (
            range.first().max(subnet.first()),
            range.last().min(subnet.last()),
        );
        let found = (lo..=hi)
            .find(|x| usable(*x))
            .map(Ipv4Addr::from)
            .ok_or_else(|| {
                NetworkError::Forbidden(format!(
                    "no available IPv4 addresses on this network's address pools: {subnet}"
                ))
            })?;
        self.allocated.insert(found);
        Ok(found)
    }

    pub fn release(&mut self, ip: Ipv4Addr) {
        self.allocated.remove(&ip);
    }
}

/// The pools `docker network create` picks a subnet from when none is given, in
/// dockerd's order (172.17-31.0.0/16, then 192.168.x.0/20).
pub fn default_pools() -> impl Iterator<Item = Ipv4Net> {
    let b16 = (17..=31).map(|b| Ipv4Net {
        addr: Ipv4Addr::new(172, b, 0, 0),
        prefix: 16,
    });
    let b20 = (0..16).map(|i| Ipv4Net {
        addr: Ipv4Addr::new(192, 168, i * 16, 0),
        prefix: 20,
    });
    b16.chain(b20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_contain() {
        let n = Ipv4Net::parse("10.1.2.3/24").unwrap();
        assert_eq!(n.network().to_string(), "10.1.2.0/24");
        assert!(n.contains("10.1.2.255".parse().unwrap()));
        assert!(!n.contains("10.1.3.0".parse().unwrap()));
        assert!(Ipv4Net::parse("10.1.2.3").is_err());
        assert!(Ipv4Net::parse("10.1.2.3/33").is_err());
        assert!(n.overlaps(&Ipv4Net::parse("10.1.0.0/16").unwrap()));
        assert!(!n.overlaps(&Ipv4Net::parse("10.1.3.0/24").unwrap()));
    }

    #[test]
    fn lowest_free_allocation_skips_reserved_and_never_repeats_a_live_address() {
        let subnet = Ipv4Net::parse("10.0.0.0/29").unwrap();
        let gw = Some("10.0.0.1".parse().unwrap());
        let mut p = Pool::default();
        let got: Vec<String> = (0..5)
            .map(|_| p.allocate(&subnet, &subnet, gw, None).unwrap().to_string())
            .collect();
        assert_eq!(
            got,
            ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
        );
        let err = p.allocate(&subnet, &subnet, gw, None).unwrap_err();
        assert!(
            err.to_string().contains("no available IPv4 addresses"),
            "{err}"
        );
        p.release("10.0.0.3".parse().unwrap());
        assert_eq!(
            p.allocate(&subnet, &subnet, gw, None).unwrap().to_string(),
            "10.0.0.3"
        );
        p.release("10.0.0.4".parse().unwrap());
        p.release("10.0.0.2".parse().unwrap());
        assert_eq!(
            p.allocate(&subnet, &subnet, gw, None).unwrap().to_string(),
            "10.0.0.2"
        );
        let taken = p.allocate(&subnet, &subnet, gw, Some("10.0.0.5".parse().unwrap()));
        assert!(taken
            .unwrap_err()
            .to_string()
            .contains("Address already in use"));
    }

    #[test]
    fn fixed_cidr_limits_the_range() {
        let subnet = Ipv4Net::parse("10.0.0.0/16").unwrap();
        let range = Ipv4Net::parse("10.0.5.0/24").unwrap();
        let mut p = Pool::default();
        let ip = p
            .allocate(&subnet, &range, Some("10.0.0.1".parse().unwrap()), None)
            .unwrap();
        assert!(range.contains(ip), "{ip}");
        let mut all = Pool::default();
        for _ in 0..256 {
            let ip = all.allocate(&subnet, &range, None, None).unwrap();
            assert!(range.contains(ip), "{ip}");
        }
        assert!(all.allocate(&subnet, &range, None, None).is_err());
    }
}
