//! docker's iptables layout, kept through the `iptables` binary (whatever backend the
//! host uses): the chains DOCKER (nat and filter), DOCKER-USER and
//! DOCKER-ISOLATION-STAGE-1/2, the jumps into them, and the rules each bridge network
//! and each published port adds. Rules are added idempotently and removed one by one,
//! never by flushing a chain, so two daemons on different bridges can share a host.

use std::net::Ipv4Addr;

use crate::cmd::run;
use crate::ipam::Ipv4Net;
use crate::NetworkError;

/// One rule: table, chain, match and target arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub table: &'static str,
    pub chain: &'static str,
    pub args: Vec<String>,
    /// Insert at the top of the chain instead of appending.
    pub insert: bool,
}

fn rule(table: &'static str, chain: &'static str, args: &str) -> Rule {
    Rule {
        table,
        chain,
        args: args.split_whitespace().map(str::to_string).collect(),
        insert: false,
    }
}

fn ipt(table: &str, op: &str, chain: &str, args: &[String]) -> Result<String, NetworkError> {
    let mut a: Vec<&str> = vec!["-w", "-t", table, op, chain];
    a.extend(args.iter().map(String::as_str));
    run("iptables", &a, None)
}

fn exists(r: &Rule) -> bool {
    ipt(r.table, "-C", r.chain, &r.args).is_ok()
}

/// Add the rules not yet present; on an error, remove the ones this call added.
pub fn add(rules: &[Rule]) -> Result<(), NetworkError> {
    let mut done = Vec::new();
    for r in rules {
        if exists(r) {
            continue;
        }
        let res = if r.insert {
            ipt(r.table, "-I", r.chain, &r.args)
        } else {
            ipt(r.table, "-A", r.chain, &r.args)
        };
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
        while ipt(r.table, "-D", r.chain, &r.args).is_ok() {}
    }
}

fn ensure_chain(table: &str, chain: &str) -> Result<(), NetworkError> {
    if run("iptables", &["-w", "-t", table, "-S", chain], None).is_err() {
        // Another daemon may have created it meanwhile: only a still-missing chain is an error.
        if let Err(e) = run("iptables", &["-w", "-t", table, "-N", chain], None) {
            if run("iptables", &["-w", "-t", table, "-S", chain], None).is_err() {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// The chains and the jumps into them, as dockerd sets them up at start.
pub fn setup_chains(userland_proxy: bool) -> Result<(), NetworkError> {
    ensure_chain("nat", "DOCKER")?;
    for c in [
        "DOCKER",
        "DOCKER-USER",
        "DOCKER-ISOLATION-STAGE-1",
        "DOCKER-ISOLATION-STAGE-2",
    ] {
        ensure_chain("filter", c)?;
    }
    let output = if userland_proxy {
        "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER"
    } else {
        "-m addrtype --dst-type LOCAL -j DOCKER"
    };
    let mut rules = vec![
        rule(
            "nat",
            "PREROUTING",
            "-m addrtype --dst-type LOCAL -j DOCKER",
        ),
        rule("nat", "OUTPUT", output),
        rule("filter", "DOCKER-ISOLATION-STAGE-1", "-j RETURN"),
        rule("filter", "DOCKER-ISOLATION-STAGE-2", "-j RETURN"),
        rule("filter", "DOCKER-USER", "-j RETURN"),
    ];
    // DOCKER-USER first in FORWARD, then the isolation stage (inserted in reverse).
    let mut iso = rule("filter", "FORWARD", "-j DOCKER-ISOLATION-STAGE-1");
    iso.insert = true;
    let mut user = rule("filter", "FORWARD", "-j DOCKER-USER");
    user.insert = true;
    rules.push(iso);
    rules.push(user);
    add(&rules)
}

/// What a bridge network adds: masquerading of its subnet, forwarding to and from it,
/// isolation from other bridges (or from everything, for an internal network).
pub fn network_rules(
    bridge: &str,
    subnet: &Ipv4Net,
    icc: bool,
    masq: bool,
    internal: bool,
) -> Vec<Rule> {
    let net = subnet.network();
    let mut v = Vec::new();
    if internal {
        let mut a = rule(
            "filter",
            "DOCKER-ISOLATION-STAGE-1",
            &format!("! -s {net} -o {bridge} -j DROP"),
        );
        a.insert = true;
        let mut b = rule(
            "filter",
            "DOCKER-ISOLATION-STAGE-1",
            &format!("! -d {net} -i {bridge} -j DROP"),
        );
        b.insert = true;
        v.push(a);
        v.push(b);
    } else {
        if masq {
            v.push(rule(
                "nat",
                "POSTROUTING",
                &format!("-s {net} ! -o {bridge} -j MASQUERADE"),
            ));
        }
        v.push(rule("nat", "DOCKER", &format!("-i {bridge} -j RETURN")));
        let mut s1 = rule(
            "filter",
            "DOCKER-ISOLATION-STAGE-1",
            &format!("-i {bridge} ! -o {bridge} -j DOCKER-ISOLATION-STAGE-2"),
        );
        s1.insert = true;
        let mut s2 = rule(
            "filter",
            "DOCKER-ISOLATION-STAGE-2",
            &format!("-o {bridge} -j DROP"),
        );
        s2.insert = true;
        v.push(s1);
        v.push(s2);
        v.push(rule(
            "filter",
            "FORWARD",
            &format!("-o {bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
        ));
        v.push(rule("filter", "FORWARD", &format!("-o {bridge} -j DOCKER")));
        v.push(rule(
            "filter",
            "FORWARD",
            &format!("-i {bridge} ! -o {bridge} -j ACCEPT"),
        ));
    }
    let verdict = if icc { "ACCEPT" } else { "DROP" };
    v.push(rule(
        "filter",
        "FORWARD",
        &format!("-i {bridge} -o {bridge} -j {verdict}"),
    ));
    v
}

/// What one published port adds: the DNAT from the host port, the filter accept to the
/// container, and the hairpin masquerade (a container reaching itself by a host port).
pub fn port_rules(
    bridge: &str,
    proto: &str,
    host_ip: Ipv4Addr,
    host_port: u16,
    ip: Ipv4Addr,
    port: u16,
) -> Vec<Rule> {
    let dst = if host_ip.is_unspecified() {
        String::new()
    } else {
        format!("-d {host_ip}/32 ")
    };
    vec![
        rule(
            "nat",
            "POSTROUTING",
            &format!("-s {ip}/32 -d {ip}/32 -p {proto} -m {proto} --dport {port} -j MASQUERADE"),
        ),
        rule(
            "nat",
            "DOCKER",
            &format!("{dst}! -i {bridge} -p {proto} -m {proto} --dport {host_port} -j DNAT --to-destination {ip}:{port}"),
        ),
        rule(
            "filter",
            "DOCKER",
            &format!("-d {ip}/32 ! -i {bridge} -o {bridge} -p {proto} -m {proto} --dport {port} -j ACCEPT"),
        ),
    ]
}

/// Remove every rule that names `bridge` as an interface or masquerades a single
/// address of `subnet`: what a killed daemon left for this network.
pub fn purge(bridge: &str, subnet: &Ipv4Net) {
    for table in ["nat", "filter"] {
        let Ok(listing) = run("iptables", &["-w", "-t", table, "-S"], None) else {
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
                        .strip_suffix("/32")
                        .and_then(|a| a.parse::<Ipv4Addr>().ok())
                        .is_some_and(|a| subnet.contains(a))
            });
            if names_bridge || single_in_subnet {
                let args: Vec<String> = words[2..].iter().map(|s| s.to_string()).collect();
                let _ = ipt(table, "-D", words[1], &args);
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
            Ipv4Addr::UNSPECIFIED,
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
    }
}
