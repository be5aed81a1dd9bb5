//! docker's iptables layout, kept through the `iptables` and `ip6tables` binaries
//! (whatever backend the host uses): the chains DOCKER (nat and filter), DOCKER-USER
//! (IPv4 only, as in dockerd 20.10) and DOCKER-ISOLATION-STAGE-1/2, the jumps into
//! them, and the rules each bridge network and each published port adds. Rules are
//! added idempotently and removed one by one, never by flushing a chain, so two
//! daemons on different bridges can share a host.

use std::net::IpAddr;

use crate::cmd::run;
use crate::NetworkError;

/// Which of the two tables a rule lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn binary(self) -> &'static str {
        match self {
            Family::V4 => "iptables",
            Family::V6 => "ip6tables",
        }
    }

    /// The prefix length of a single address.
    fn host_bits(self) -> &'static str {
        match self {
            Family::V4 => "/32",
            Family::V6 => "/128",
        }
    }
}

/// One rule: table, chain, match and target arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub family: Family,
    pub table: &'static str,
    pub chain: &'static str,
    pub args: Vec<String>,
    /// Insert at the top of the chain instead of appending.
    pub insert: bool,
}

fn rule(family: Family, table: &'static str, chain: &'static str, args: &str) -> Rule {
    Rule {
        family,
        table,
        chain,
        args: args.split_whitespace().map(str::to_string).collect(),
        insert: false,
    }
}

fn ipt(
    family: Family,
    table: &str,
    op: &str,
    chain: &str,
    args: &[String],
) -> Result<String, NetworkError> {
    let mut a: Vec<&str> = vec!["-w", "-t", table, op, chain];
    a.extend(args.iter().map(String::as_str));
    run(family.binary(), &a, None)
}

fn exists(r: &Rule) -> bool {
    ipt(r.family, r.table, "-C", r.chain, &r.args).is_ok()
}

/// Add the rules not yet present; on an error, remove the ones this call added.
pub fn add(rules: &[Rule]) -> Result<(), NetworkError> {
    let mut done = Vec::new();
    for r in rules {
        if exists(r) {
            continue;
        }
        let op = if r.insert { "-I" } else { "-A" };
        let res = ipt(r.family, r.table, op, r.chain, &r.args);
        if let Err(e) = res {
            delete(&done);
            return Err(e);
        }
        done.push(r.clone());
    }
    Ok(())
}

/// Delete each rule (all copies of it); missing ones are fine.
pub fn delete(rules: &[Rule]) {
    for r in rules.iter().rev() {
        while ipt(r.family, r.table, "-D", r.chain, &r.args).is_ok() {}
    }
}

fn ensure_chain(family: Family, table: &str, chain: &str) -> Result<(), NetworkError> {
    let bin = family.binary();
    if run(bin, &["-w", "-t", table, "-S", chain], None).is_err() {
        // Another daemon may have created it meanwhile: only a still-missing chain is an error.
        if let Err(e) = run(bin, &["-w", "-t", table, "-N", chain], None) {
            if run(bin, &["-w", "-t", table, "-S", chain], None).is_err() {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// The chains and the jumps into them, as dockerd sets them up at start (dockerd
/// 20.10 makes no DOCKER-USER chain for IPv6).
pub fn setup_chains(family: Family, userland_proxy: bool) -> Result<(), NetworkError> {
    ensure_chain(family, "nat", "DOCKER")?;
    let user_chain = family == Family::V4;
    for c in [
        "DOCKER",
        "DOCKER-USER",
        "DOCKER-ISOLATION-STAGE-1",
        "DOCKER-ISOLATION-STAGE-2",
    ] {
        if c != "DOCKER-USER" || user_chain {
            ensure_chain(family, "filter", c)?;
        }
    }
    let loopback = match family {
        Family::V4 => "127.0.0.0/8",
        Family::V6 => "::1/128",
    };
    let output = if userland_proxy {
        format!("! -d {loopback} -m addrtype --dst-type LOCAL -j DOCKER")
    } else {
        "-m addrtype --dst-type LOCAL -j DOCKER".to_string()
    };
    let r = |table, chain, args: &str| rule(family, table, chain, args);
    let mut rules = vec![
        r(
            "nat",
            "PREROUTING",
            "-m addrtype --dst-type LOCAL -j DOCKER",
        ),
        r("nat", "OUTPUT", &output),
        r("filter", "DOCKER-ISOLATION-STAGE-1", "-j RETURN"),
        r("filter", "DOCKER-ISOLATION-STAGE-2", "-j RETURN"),
    ];
    // DOCKER-USER first in FORWARD, then the isolation stage (inserted in reverse).
    let mut iso = r("filter", "FORWARD", "-j DOCKER-ISOLATION-STAGE-1");
    iso.insert = true;
    rules.push(iso);
    if user_chain {
        rules.push(r("filter", "DOCKER-USER", "-j RETURN"));
        let mut user = r("filter", "FORWARD", "-j DOCKER-USER");
        user.insert = true;
        rules.push(user);
    }
    add(&rules)
}

/// Set the FORWARD chain's policy (dockerd drops forwarded traffic by default when
/// it is the one that turned forwarding on).
pub fn forward_policy(family: Family, policy: &str) -> Result<(), NetworkError> {
    run(
        family.binary(),
        &["-w", "-t", "filter", "-P", "FORWARD", policy],
        None,
    )
    .map(|_| ())
}

/// What a bridge network adds: masquerading of its subnet (`net`, host bits clear),
/// forwarding to and from it, isolation from other bridges (or from everything, for an
/// internal network). In ip6tables a network without IPv6 (`net` `None`) still gets its
/// isolation from the others, as dockerd 20.10 does. The network's rules go on top of
/// their chains (newest network first), as dockerd inserts them.
pub fn network_rules(
    family: Family,
    bridge: &str,
    net: Option<&str>,
    icc: bool,
    masq: bool,
    internal: bool,
) -> Vec<Rule> {
    let verdict = if icc { "ACCEPT" } else { "DROP" };
    let (s1, s2) = ("DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2");
    // (table, chain, rules in the order the chain shows them): one group per chain.
    let mut groups: Vec<(&'static str, &'static str, Vec<String>)> = Vec::new();
    match (net, internal) {
        (Some(net), true) => {
            groups.push((
                "filter",
                s1,
                vec![
                    format!("! -s {net} -o {bridge} -j DROP"),
                    format!("! -d {net} -i {bridge} -j DROP"),
                ],
            ));
            groups.push((
                "filter",
                "FORWARD",
                vec![format!("-i {bridge} -o {bridge} -j {verdict}")],
            ));
        }
        (None, true) => {}
        (net, false) => {
            if let Some(net) = net {
                if masq {
                    groups.push((
                        "nat",
                        "POSTROUTING",
                        vec![format!("-s {net} ! -o {bridge} -j MASQUERADE")],
                    ));
                }
                groups.push(("nat", "DOCKER", vec![format!("-i {bridge} -j RETURN")]));
                groups.push((
                    "filter",
                    "FORWARD",
                    vec![
                        format!("-o {bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
                        format!("-o {bridge} -j DOCKER"),
                        format!("-i {bridge} ! -o {bridge} -j ACCEPT"),
                        format!("-i {bridge} -o {bridge} -j {verdict}"),
                    ],
                ));
            }
            groups.push((
                "filter",
                s1,
                vec![format!("-i {bridge} ! -o {bridge} -j {s2}")],
            ));
            groups.push(("filter", s2, vec![format!("-o {bridge} -j DROP")]));
        }
    }
    // Each rule goes on top of its chain: a group's last rule first.
    groups
        .into_iter()
        .flat_map(|(table, chain, rules)| {
            rules.into_iter().rev().map(move |args| Rule {
                insert: true,
                ..rule(family, table, chain, &args)
            })
        })
        .collect()
}

/// Put the jumps into docker's chains back on top of FORWARD (DOCKER-USER first, then
/// the isolation stage) after a network's rules were inserted above them, as dockerd
/// does after each network it sets up.
pub fn jumps_on_top(family: Family) -> Result<(), NetworkError> {
    let mut jumps = vec!["DOCKER-ISOLATION-STAGE-1"];
    if family == Family::V4 {
        jumps.push("DOCKER-USER");
    }
    for chain in jumps {
        let args = vec!["-j".to_string(), chain.to_string()];
        while ipt(family, "filter", "-D", "FORWARD", &args).is_ok() {}
        ipt(family, "filter", "-I", "FORWARD", &args)?;
    }
    Ok(())
}

/// What one published port adds: the DNAT from the host port, the filter accept to the
/// container, and the hairpin masquerade (a container reaching itself by a host port).
/// `ip` (the container's address) says which table; `host_ip` is `None` for all
/// addresses.
pub fn port_rules(
    bridge: &str,
    proto: &str,
    host_ip: Option<IpAddr>,
    host_port: u16,
    ip: IpAddr,
    port: u16,
) -> Vec<Rule> {
    let family = match ip {
        IpAddr::V4(_) => Family::V4,
        IpAddr::V6(_) => Family::V6,
    };
    let bits = family.host_bits();
    let dst = host_ip.map_or(String::new(), |h| format!("-d {h}{bits} "));
    let to = match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    };
    vec![
        rule(
            family,
            "nat",
            "POSTROUTING",
            &format!("-s {ip}{bits} -d {ip}{bits} -p {proto} -m {proto} --dport {port} -j MASQUERADE"),
        ),
        rule(
            family,
            "nat",
            "DOCKER",
            &format!("{dst}! -i {bridge} -p {proto} -m {proto} --dport {host_port} -j DNAT --to-destination {to}"),
        ),
        rule(
            family,
            "filter",
            "DOCKER",
            &format!("-d {ip}{bits} ! -i {bridge} -o {bridge} -p {proto} -m {proto} --dport {port} -j ACCEPT"),
        ),
    ]
}

/// Remove every rule that names `bridge` as an interface or masquerades a single
/// address that `in_subnet` accepts: what a killed daemon left for this network.
pub fn purge(family: Family, bridge: &str, in_subnet: &dyn Fn(IpAddr) -> bool) {
    for table in ["nat", "filter"] {
        let Ok(listing) = run(family.binary(), &["-w", "-t", table, "-S"], None) else {
            continue;
        };
        for line in listing.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.first() != Some(&"-A") || words.len() < 3 {
                continue;
            }
            let names_bridge = words
                .windows(2)
                .any(|w| (w[0] == "-i" || w[0] == "-o") && w[1] == bridge);
            let single_in_subnet = words.windows(2).any(|w| {
                w[0] == "-s"
                    && w[1]
                        .strip_suffix(family.host_bits())
                        .and_then(|a| a.parse::<IpAddr>().ok())
                        .is_some_and(in_subnet)
            });
            if names_bridge || single_in_subnet {
                let args: Vec<String> = words[2..].iter().map(|s| s.to_string()).collect();
                let _ = ipt(family, table, "-D", words[1], &args);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_rules_read_as_dockerd_writes_them() {
        let r = port_rules(
            "docker0",
            "tcp",
            None,
            8080,
            "172.17.0.2".parse().unwrap(),
            80,
        );
        assert_eq!(
            r[1].args.join(" "),
            "! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80"
        );
        assert_eq!(
            r[2].args.join(" "),
            "-d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT"
        );
        // As Debian's dockerd 20.10 writes them to ip6tables (--ip6tables).
        let r = port_rules(
            "docker0",
            "tcp",
            None,
            8080,
            "fd00:1::242:ac11:2".parse().unwrap(),
            80,
        );
        assert_eq!(r[0].family, Family::V6);
        assert_eq!(
            r[0].args.join(" "),
            "-s fd00:1::242:ac11:2/128 -d fd00:1::242:ac11:2/128 -p tcp -m tcp --dport 80 -j MASQUERADE"
        );
        assert_eq!(
            r[1].args.join(" "),
            "! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd00:1::242:ac11:2]:80"
        );
    }
}
