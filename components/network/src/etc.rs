//! The `/etc/hosts` and `/etc/resolv.conf` a container gets, in the layout dockerd
//! writes: the fixed localhost block, `--add-host` and `--link` entries, the container's
//! own address; resolv.conf from the host's with loopback resolvers dropped (they are
//! unreachable from a container's namespace) unless `--dns*` options replace parts.

use std::fmt::Write;

/// The lines every non-host container's hosts file starts with.
pub const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// An `ip\tname name..` line of a hosts file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostEntry {
    pub ip: String,
    pub names: String,
}

/// The container's own line: `fqdn short` when a domain is involved, else the hostname.
pub fn own_names(hostname: &str, domainname: &str) -> String {
    let fqdn = if domainname.is_empty() {
        hostname.to_string()
    } else {
        format!("{hostname}.{domainname}")
    };
    match fqdn.split_once('.') {
        Some((short, _)) => format!("{fqdn} {short}"),
        None => fqdn,
    }
}

/// Assemble a hosts file: defaults, `extra` (add-host, links), then `own` entries (peers
/// on user-defined networks are the embedded DNS server's business, as in dockerd).
pub fn hosts(extra: &[HostEntry], own: &[HostEntry]) -> String {
    let mut s = String::from(DEFAULT_HOSTS);
    for e in extra.iter().chain(own) {
        let _ = writeln!(s, "{}\t{}", e.ip, e.names);
    }
    s
}

/// `--add-host name:ip` (docker 28 also accepts `name=ip`) as a hosts entry.
pub fn parse_extra_host(spec: &str) -> Option<HostEntry> {
    let (name, ip) = spec.split_once('=').or_else(|| spec.split_once(':'))?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    Some(HostEntry {
        ip: ip.to_string(),
        names: name.to_string(),
    })
}

fn is_loopback(ns: &str) -> bool {
    ns.parse::<std::net::IpAddr>()
        .map(|a| a.is_loopback())
        .unwrap_or(false)
}

/// The resolv.conf of a container from the host's `host` text and the `--dns`,
/// `--dns-search`, `--dns-option` values.
pub fn resolv_conf(host: &str, dns: &[String], search: &[String], options: &[String]) -> String {
    let field = |key: &str| -> Vec<String> {
        host.lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(key)).then(|| w.map(str::to_string).collect::<Vec<_>>())
            })
            .flatten()
            .collect()
    };
    let host_ns: Vec<String> = field("nameserver")
        .into_iter()
        .filter(|n| !is_loopback(n))
        .collect();
    if dns.is_empty() && search.is_empty() && options.is_empty() {
        let mut out: String = host
            .lines()
            .filter(|l| {
                let mut w = l.split_whitespace();
                !(w.next() == Some("nameserver") && w.next().is_some_and(is_loopback))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        if host_ns.is_empty() {
            out.push_str("\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n");
        }
        return out;
    }
    let ns = if dns.is_empty() {
        if host_ns.is_empty() {
            vec!["8.8.8.8".to_string(), "8.8.4.4".to_string()]
        } else {
            host_ns
        }
    } else {
        dns.to_vec()
    };
    let search = if search.is_empty() {
        field("search")
    } else {
        search.to_vec()
    };
    let options = if options.is_empty() {
        field("options")
    } else {
        options.to_vec()
    };
    let mut s = String::new();
    let joined = search.join(" ");
    if !search.is_empty() && joined.trim() != "." {
        let _ = writeln!(s, "search {joined}");
    }
    for n in ns {
        let _ = writeln!(s, "nameserver {n}");
    }
    if !options.is_empty() {
        let _ = writeln!(s, "options {}", options.join(" "));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_resolvers_are_dropped() {
        let host = "# generated\nnameserver 127.0.0.53\noptions edns0\n";
        let out = resolv_conf(host, &[], &[], &[]);
        assert_eq!(
            out,
            "# generated\noptions edns0\n\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        let host = "search corp\nnameserver 10.0.0.53\n";
        assert_eq!(resolv_conf(host, &[], &[], &[]), host);
    }

    #[test]
    fn dns_flags_replace_their_part_only() {
        let host = "search corp\nnameserver 10.0.0.53\noptions ndots:2\n";
        let out = resolv_conf(host, &["1.1.1.1".into()], &[], &[]);
        assert_eq!(out, "search corp\nnameserver 1.1.1.1\noptions ndots:2\n");
        let out = resolv_conf(
            host,
            &[],
            &["a.test".into(), "b.test".into()],
            &["debug".into()],
        );
        assert_eq!(
            out,
            "search a.test b.test\nnameserver 10.0.0.53\noptions debug\n"
        );
    }

    #[test]
    fn hosts_layout() {
        let extra = [parse_extra_host("db:10.9.9.9").unwrap()];
        let own = [HostEntry {
            ip: "172.17.0.2".into(),
            names: own_names("web", ""),
        }];
        let h = hosts(&extra, &own);
        assert!(h.starts_with(DEFAULT_HOSTS));
        assert!(h.ends_with("10.9.9.9\tdb\n172.17.0.2\tweb\n"), "{h}");
        assert_eq!(own_names("web", "example.com"), "web.example.com web");
        assert_eq!(parse_extra_host("v6:[::1]").unwrap().ip, "::1");
    }
}
