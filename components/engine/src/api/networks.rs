//! Networking in the engine: the `/networks` endpoints, and the glue between the
//! container lifecycle and the `network` crate (attach at create, sandbox at start,
//! teardown at stop and removal, `NetworkSettings` of inspect and `ps`). The crate
//! stays behind this one module, as libnetwork sits behind moby's daemon.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use hyper::StatusCode;
use network::{CreateRequest, NetworkError, NetworkInfo, Networks, PortRequest, SandboxOptions};
use serde_json::{json, Value};

use super::body::{json_response, no_content, ok_json, read_json};
use super::{ApiError, Ctx, Resp};
use crate::config::Config;
use crate::containers::{Container, ContainerError, Record};
use crate::daemon::Daemon;

impl From<NetworkError> for ApiError {
    fn from(e: NetworkError) -> ApiError {
        let status = match &e {
            NetworkError::NotFound(_) => StatusCode::NOT_FOUND,
            NetworkError::Conflict(_) => StatusCode::CONFLICT,
            NetworkError::BadRequest(_) => StatusCode::BAD_REQUEST,
            NetworkError::Forbidden(_) => StatusCode::FORBIDDEN,
            NetworkError::PortInUse(_) | NetworkError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ApiError::new(status, e.to_string())
    }
}

fn container_err(e: NetworkError) -> ContainerError {
    match e {
        NetworkError::NotFound(m) => ContainerError::NotFound(m),
        NetworkError::Conflict(m) | NetworkError::Forbidden(m) => ContainerError::Conflict(m),
        NetworkError::BadRequest(m) => ContainerError::BadRequest(m),
        NetworkError::PortInUse(m) | NetworkError::Internal(m) => ContainerError::Internal(m),
    }
}

/// The network controller from dockerd's flags.
pub fn open(cfg: &Config) -> Result<Networks, NetworkError> {
    let f = &cfg.flags;
    let proxy_path = f.userland_proxy_path.clone().unwrap_or_else(|| {
        let beside = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.join("docker-proxy")))
            .filter(|p| p.is_file());
        beside.unwrap_or_else(|| PathBuf::from("docker-proxy"))
    });
    Networks::open(network::Config {
        data_root: f.data_root.clone(),
        exec_root: f.exec_root.clone(),
        bridge: f.bridge.clone(),
        bip: f.bip.clone(),
        fixed_cidr: f.fixed_cidr.clone(),
        ipv6: f.ipv6,
        fixed_cidr_v6: f.fixed_cidr_v6.clone(),
        mtu: f.mtu,
        icc: f.icc,
        ip_masq: f.ip_masq,
        iptables: f.iptables,
        ip6tables: f.ip6tables,
        ip_forward: f.ip_forward,
        userland_proxy: f.userland_proxy,
        proxy_path,
    })
}

/// After the containers are restored: undo what belongs to containers not running.
pub fn cleanup(d: &Daemon) {
    let running: Vec<String> = d
        .containers
        .lock()
        .unwrap()
        .all()
        .iter()
        .filter(|c| c.is_running())
        .map(|c| c.id.clone())
        .collect();
    d.network.cleanup(&|id| running.iter().any(|r| r == id));
}

fn network_mode(hc: &Value) -> String {
    hc.get("NetworkMode")
        .and_then(Value::as_str)
        .unwrap_or("bridge")
        .to_string()
}

fn plain_mode(mode: &str) -> bool {
    matches!(mode, "none" | "host") || mode.starts_with("container:")
}

fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

impl Daemon {
    /// `NetworkMode` at create: a user-defined network must exist.
    pub(crate) fn net_check_mode(&self, mode: &str) -> Result<(), ContainerError> {
        if plain_mode(mode) || mode == "bridge" || mode == "default" || mode.is_empty() {
            return Ok(());
        }
        self.network.get(mode).map(|_| ()).map_err(container_err)
    }

    /// Record the container's networks (its mode, with `NetworkingConfig` aliases).
    pub(crate) fn net_attach(
        &self,
        id: &str,
        hc: &Value,
        netcfg: Option<&Value>,
    ) -> Result<(), ContainerError> {
        let mode = network_mode(hc);
        if plain_mode(&mode) {
            return Ok(());
        }
        let ep = netcfg
            .and_then(|n| n.get("EndpointsConfig"))
            .and_then(|e| e.get(&mode));
        let aliases = strs(ep.and_then(|e| e.get("Aliases")));
        let ipv4 = ep
            .and_then(|e| e.pointer("/IPAMConfig/IPv4Address"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<Ipv4Addr>()
                    .map_err(|_| ContainerError::BadRequest(format!("invalid IPv4 address: {s}")))
            })
            .transpose()?;
        self.network
            .attach(id, &mode, &aliases, ipv4)
            .map_err(container_err)
    }

    /// Before the runtime starts the container: its namespace with the endpoints in
    /// it, or `None` for the host's. Like dockerd, `none` and the default network
    /// under `--bridge=none` get a sandbox too: a namespace with only `lo`, up.
    pub(crate) fn net_start(&self, c: &Container) -> Result<Option<PathBuf>, ContainerError> {
        let rec = c.snapshot();
        let mode = network_mode(&rec.host_config);
        if let Some(other) = mode.strip_prefix("container:") {
            return self.shared_netns(other).map(Some);
        }
        if mode == "host" {
            return Ok(None);
        }
        let endpoints = self.network.has_attachments(&c.id);
        let s = |k: &str| {
            rec.config
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let mut extra_hosts: Vec<network::HostEntry> = strs(rec.host_config.get("ExtraHosts"))
            .iter()
            .filter_map(|h| network::etc::parse_extra_host(h))
            .collect();
        extra_hosts.extend(self.link_entries(&rec));
        let opts = SandboxOptions {
            name: rec.name.clone(),
            hostname: s("Hostname"),
            domainname: s("Domainname"),
            // Without endpoints the hosts file written at start stays as it is.
            hosts_path: if endpoints {
                c.dir.join("hosts")
            } else {
                PathBuf::new()
            },
            extra_hosts,
            ports: port_requests(&rec)?,
            dns: strs(rec.host_config.get("Dns")),
        };
        let id = c.id.clone();
        let key = tokio::task::block_in_place(|| self.network.start(&id, &opts))
            .map_err(container_err)?;
        self.network_events(&id, "connect");
        Ok(Some(key))
    }

    /// `network connect`/`disconnect` events for the live endpoints, as dockerd sends
    /// them when a container starts and stops.
    fn network_events(&self, id: &str, action: &str) {
        for (net_id, name, ep) in self.network.container_networks(id) {
            if ep.is_some() {
                self.events.publish(
                    "network",
                    action,
                    &net_id,
                    json!({"container": id, "name": name, "type": "bridge"}),
                );
            }
        }
    }

    /// `--network container:<other>`: the other container's namespace, which must run.
    fn shared_netns(&self, other: &str) -> Result<PathBuf, ContainerError> {
        let o = self.container(other)?;
        let r = o.snapshot();
        if !r.state.running {
            return Err(ContainerError::Conflict(format!(
                "cannot join network namespace of a non running container: container {} is exited",
                o.id
            )));
        }
        Ok(self
            .network
            .sandbox_key(&o.id)
            .unwrap_or_else(|| PathBuf::from(format!("/proc/{}/ns/net", r.state.pid))))
    }

    /// `--link name:alias` hosts entries: `ip alias hostname name`, as dockerd adds them.
    fn link_entries(&self, rec: &Record) -> Vec<network::HostEntry> {
        let mut out = Vec::new();
        for l in strs(rec.host_config.get("Links")) {
            let (target, alias) = l.split_once(':').unwrap_or((&l, &l));
            let alias = alias.rsplit('/').next().unwrap_or(alias);
            let Ok(other) = self.container(target.trim_start_matches('/')) else {
                continue;
            };
            let Some(ip) = self.network.address_on(&other.id, "bridge") else {
                continue;
            };
            let o = other.snapshot();
            let other_name = o.name.trim_start_matches('/').to_string();
            let hostname = o
                .config
                .get("Hostname")
                .and_then(Value::as_str)
                .unwrap_or("");
            let mut names = format!("{alias} {hostname}");
            if alias != other_name {
                names.push(' ');
                names.push_str(&other_name);
            }
            out.push(network::HostEntry {
                ip: ip.to_string(),
                names,
            });
        }
        out
    }

    /// The variables `--link other:alias` adds, in dockerd's order: the first exposed
    /// port, each port's four variables, the link's name, the other's environment.
    pub(crate) fn net_link_env(&self, rec: &Record) -> Vec<String> {
        let mut env = Vec::new();
        let me = rec.name.trim_start_matches('/');
        for l in strs(rec.host_config.get("Links")) {
            let (target, alias) = l.split_once(':').unwrap_or((&l, &l));
            let alias = alias.rsplit('/').next().unwrap_or(alias);
            let Ok(other) = self.container(target.trim_start_matches('/')) else {
                continue;
            };
            let Some(ip) = self.network.address_on(&other.id, "bridge") else {
                continue;
            };
            let o = other.snapshot();
            let prefix: String = alias
                .to_uppercase()
                .chars()
                .map(|c| if c == '-' { '_' } else { c })
                .collect();
            let mut ports: Vec<(u16, String)> = o
                .config
                .get("ExposedPorts")
                .and_then(Value::as_object)
                .map(|m| {
                    m.keys()
                        .filter_map(|k| {
                            let (p, proto) = k.split_once('/').unwrap_or((k, "tcp"));
                            Some((p.parse().ok()?, proto.to_string()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            ports.sort();
            if let Some((p, proto)) = ports.first() {
                env.push(format!("{prefix}_PORT={proto}://{ip}:{p}"));
            }
            for (p, proto) in &ports {
                let up = proto.to_uppercase();
                env.push(format!("{prefix}_PORT_{p}_{up}={proto}://{ip}:{p}"));
                env.push(format!("{prefix}_PORT_{p}_{up}_ADDR={ip}"));
                env.push(format!("{prefix}_PORT_{p}_{up}_PORT={p}"));
                env.push(format!("{prefix}_PORT_{p}_{up}_PROTO={proto}"));
            }
            env.push(format!("{prefix}_NAME=/{me}/{alias}"));
            for e in strs(o.config.get("Env")) {
                if let Some((k, v)) = e.split_once('=') {
                    if k != "HOME" && k != "PATH" {
                        env.push(format!("{prefix}_ENV_{k}={v}"));
                    }
                }
            }
        }
        env
    }

    pub(crate) fn net_stop(&self, id: &str) {
        if self.network.sandbox_key(id).is_some() {
            self.network_events(id, "disconnect");
        }
        tokio::task::block_in_place(|| self.network.stop(id));
    }

    pub(crate) fn net_forget(&self, id: &str) {
        tokio::task::block_in_place(|| self.network.forget(id));
    }
}

/// `PortBindings`, and with `PublishAllPorts` every exposed port, as requests.
fn port_requests(rec: &Record) -> Result<Vec<PortRequest>, ContainerError> {
    let bad = |m: String| ContainerError::BadRequest(m);
    let mut out = Vec::new();
    let bindings = rec
        .host_config
        .get("PortBindings")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let parse_key = |k: &str| -> Result<(u16, String), ContainerError> {
        let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
        let port = port
            .parse::<u16>()
            .map_err(|_| bad(format!("invalid port specification: \"{k}\"")))?;
        Ok((port, proto.to_string()))
    };
    for (k, list) in &bindings {
        let (container_port, proto) = parse_key(k)?;
        for b in list.as_array().cloned().unwrap_or_default() {
            let ip = b.get("HostIp").and_then(Value::as_str).unwrap_or("");
            let host_ip = if ip.is_empty() {
                Ipv4Addr::UNSPECIFIED
            } else {
                ip.parse()
                    .map_err(|_| bad(format!("invalid IP address: {ip}")))?
            };
            let hp = b.get("HostPort").and_then(Value::as_str).unwrap_or("");
            let host_ports = if hp.is_empty() {
                (0, 0)
            } else {
                let (a, z) = hp.split_once('-').unwrap_or((hp, hp));
                let p = |x: &str| {
                    x.parse::<u16>()
                        .map_err(|_| bad(format!("invalid port specification: \"{hp}\"")))
                };
                (p(a)?, p(z)?)
            };
            out.push(PortRequest {
                proto: proto.clone(),
                container_port,
                host_ip,
                host_ports,
            });
        }
    }
    if rec
        .host_config
        .get("PublishAllPorts")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        if let Some(exposed) = rec.config.get("ExposedPorts").and_then(Value::as_object) {
            for k in exposed.keys().filter(|k| !bindings.contains_key(*k)) {
                let (container_port, proto) = parse_key(k)?;
                out.push(PortRequest {
                    proto,
                    container_port,
                    host_ip: Ipv4Addr::UNSPECIFIED,
                    host_ports: (0, 0),
                });
            }
        }
    }
    Ok(out)
}

/// `NetworkSettings` of `docker inspect`.
pub fn settings(d: &Daemon, c: &Container, rec: &Record) -> Value {
    let mode = network_mode(&rec.host_config);
    let empty_ep = |id: &str| json!({"IPAMConfig": null, "Links": null, "Aliases": null, "MacAddress": "", "DriverOpts": null, "NetworkID": id, "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": null});
    let mut v = json!({
        "Bridge": "", "SandboxID": "", "SandboxKey": "", "Ports": {}, "HairpinMode": false,
        "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "SecondaryIPAddresses": null,
        "SecondaryIPv6Addresses": null, "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0, "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "",
        "Networks": {},
    });
    // The last run's sandbox, still shown after it stopped, as dockerd does.
    v["SandboxID"] = json!(rec.sandbox_id);
    v["SandboxKey"] = json!(rec.sandbox_key);
    let attached = d.network.container_networks(&c.id);
    if attached.is_empty() {
        let id = d.network.get(&mode).map(|n| n.id).unwrap_or_default();
        v["Networks"][&mode] = empty_ep(&id);
        return v;
    }
    let running = rec.state.running;
    let mut ports = serde_json::Map::new();
    if running {
        if let Some(exposed) = rec.config.get("ExposedPorts").and_then(Value::as_object) {
            for k in exposed.keys() {
                ports.insert(k.clone(), Value::Null);
            }
        }
    }
    let name = rec.name.trim_start_matches('/').to_string();
    for (net_id, net_name, ep) in attached {
        let mut e = empty_ep(&net_id);
        if let Some(ep) = ep {
            e["EndpointID"] = json!(ep.id);
            e["Gateway"] = json!(ep.gateway.map(|g| g.to_string()).unwrap_or_default());
            e["IPAddress"] = json!(ep.ip.to_string());
            e["IPPrefixLen"] = json!(ep.prefix);
            e["MacAddress"] = json!(ep.mac);
            if let Some(a) = ep.ipv6 {
                e["GlobalIPv6Address"] = json!(a.to_string());
                e["GlobalIPv6PrefixLen"] = json!(ep.ipv6_prefix);
            }
            if let Some(g) = ep.ipv6_gateway {
                e["IPv6Gateway"] = json!(g.to_string());
            }
            if net_name != "bridge" {
                let mut names = vec![json!(name), json!(&c.id[..12])];
                names.extend(ep.aliases.iter().map(|a| json!(a)));
                e["DNSNames"] = json!(names);
                if !ep.aliases.is_empty() {
                    e["Aliases"] = json!(ep.aliases);
                }
            } else {
                for k in [
                    "EndpointID",
                    "Gateway",
                    "IPAddress",
                    "IPPrefixLen",
                    "MacAddress",
                    "GlobalIPv6Address",
                    "GlobalIPv6PrefixLen",
                    "IPv6Gateway",
                ] {
                    v[k] = e[k].clone();
                }
            }
            for p in &ep.ports {
                let key = format!("{}/{}", p.container_port, p.proto);
                let mut hosts = vec![p.host_ip.to_string()];
                if p.ipv6_too {
                    hosts.push("::".into());
                }
                for h in hosts {
                    let entry = json!({"HostIp": h, "HostPort": p.host_port.to_string()});
                    match ports.get_mut(&key) {
                        Some(Value::Array(a)) => a.push(entry),
                        _ => {
                            ports.insert(key.clone(), json!([entry]));
                        }
                    }
                }
            }
        }
        v["Networks"][&net_name] = e;
    }
    v["Ports"] = Value::Object(ports);
    v
}

/// `Ports` of a `docker ps` row.
pub fn ps_ports(d: &Daemon, c: &Container, rec: &Record) -> Value {
    let mut out = Vec::new();
    let mut published = Vec::new();
    for (_, _, ep) in d.network.container_networks(&c.id) {
        for p in ep.map(|e| e.ports).unwrap_or_default() {
            published.push(format!("{}/{}", p.container_port, p.proto));
            out.push(json!({"IP": p.host_ip.to_string(), "PrivatePort": p.container_port, "PublicPort": p.host_port, "Type": p.proto}));
            if p.ipv6_too {
                out.push(json!({"IP": "::", "PrivatePort": p.container_port, "PublicPort": p.host_port, "Type": p.proto}));
            }
        }
    }
    if let Some(exposed) = rec.config.get("ExposedPorts").and_then(Value::as_object) {
        for k in exposed.keys().filter(|k| !published.contains(k)) {
            let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
            if let Ok(port) = port.parse::<u16>() {
                out.push(json!({"PrivatePort": port, "Type": proto}));
            }
        }
    }
    json!(out)
}

fn network_json(d: &Daemon, n: &NetworkInfo, verbose: bool) -> Value {
    let mut containers = serde_json::Map::new();
    if verbose {
        for (cid, name, ep) in &n.endpoints {
            let _ = d;
            containers.insert(
                cid.clone(),
                json!({"Name": name.trim_start_matches('/'), "EndpointID": ep.id, "MacAddress": ep.mac, "IPv4Address": format!("{}/{}", ep.ip, ep.prefix), "IPv6Address": ep.ipv6.map(|a| format!("{a}/{}", ep.ipv6_prefix)).unwrap_or_default()}),
            );
        }
    }
    let mut config: Vec<Value> = match (n.subnet, n.gateway) {
        (Some(s), Some(g)) => {
            let mut c = json!({"Subnet": s.to_string()});
            if n.config_gateway {
                c["Gateway"] = json!(g.to_string());
            }
            if let Some(r) = n.range {
                c["IPRange"] = json!(r.to_string());
            }
            vec![c]
        }
        _ => vec![],
    };
    if let Some((subnet, _)) = n.v6 {
        config.push(json!({"Subnet": subnet.to_string()}));
    }
    let predefined = matches!(n.name.as_str(), "bridge" | "host" | "none");
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": n.v6.is_some(),
        "IPAM": {"Driver": "default", "Options": if predefined { Value::Null } else { json!({}) }, "Config": config},
        "Internal": n.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": n.options,
        "Labels": n.labels,
    })
}

fn matches_filters(n: &NetworkInfo, f: &super::Filters) -> bool {
    let any = |key: &str, test: &dyn Fn(&str) -> bool| {
        let want = f.get(key);
        want.is_empty() || want.iter().any(|w| test(w))
    };
    let kind = if matches!(n.name.as_str(), "bridge" | "host" | "none") {
        "builtin"
    } else {
        "custom"
    };
    any("name", &|w| n.name.contains(w))
        && any("id", &|w| n.id.starts_with(w))
        && any("driver", &|w| n.driver == w)
        && any("type", &|w| w == kind)
        && f.labels_match(&json!(n.labels))
}

pub fn list(ctx: Ctx) -> Resp {
    let f = ctx.query.filters()?;
    f.validate(&["dangling", "driver", "id", "label", "name", "scope", "type"])?;
    let d = &ctx.daemon;
    let out: Vec<Value> = d
        .network
        .list()
        .iter()
        .filter(|n| matches_filters(n, &f))
        .map(|n| network_json(d, n, false))
        .collect();
    ok_json(&json!(out))
}

pub fn inspect(ctx: Ctx, id: &str) -> Resp {
    let n = ctx.daemon.network.get(id)?;
    ok_json(&network_json(&ctx.daemon, &n, true))
}

pub async fn create(ctx: Ctx) -> Resp {
    let d = ctx.daemon.clone();
    let body = read_json(ctx.req).await?;
    let s = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let map = |k: &str| -> BTreeMap<String, String> {
        body.get(k)
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let ipam = body
        .pointer("/IPAM/Config")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let is_v6 = |c: &&Value| {
        c.get("Subnet")
            .and_then(Value::as_str)
            .is_some_and(|s| s.contains(':'))
    };
    let (v6, v4): (Vec<&Value>, Vec<&Value>) = ipam.iter().partition(is_v6);
    if v4.len() > 1 || v6.len() > 1 {
        return Err(ApiError::bad_request(
            "this engine supports one IPv4 and one IPv6 subnet per network",
        ));
    }
    let field = |list: &[&Value], k: &str| {
        list.first()
            .and_then(|c| c.get(k))
            .and_then(Value::as_str)
            .filter(|x| !x.is_empty())
            .map(String::from)
    };
    let pick = |k: &str| field(&v4, k);
    let name = s("Name");
    let req = CreateRequest {
        name: name.clone(),
        driver: s("Driver"),
        subnet: pick("Subnet"),
        gateway: pick("Gateway"),
        ip_range: pick("IPRange"),
        internal: body
            .get("Internal")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        enable_ipv6: body
            .get("EnableIPv6")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        subnet6: field(&v6, "Subnet"),
        gateway6: field(&v6, "Gateway"),
        labels: map("Labels"),
        options: map("Options"),
    };
    let id = tokio::task::block_in_place(|| d.network.create(req))?;
    d.events.publish(
        "network",
        "create",
        &id,
        json!({"name": name, "type": "bridge"}),
    );
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"Id": id, "Warning": ""}),
    ))
}

pub fn remove(ctx: Ctx, id: &str) -> Resp {
    let d = &ctx.daemon;
    let n = d.network.get(id)?;
    tokio::task::block_in_place(|| d.network.remove(&n.id))?;
    d.events.publish(
        "network",
        "destroy",
        &n.id,
        json!({"name": n.name, "type": n.driver}),
    );
    no_content()
}

pub async fn prune(ctx: Ctx) -> Resp {
    let d = ctx.daemon.clone();
    let f = ctx.query.filters()?;
    f.validate(&["label", "label!", "until"])?;
    let mut deleted = Vec::new();
    for n in d.network.list() {
        if matches!(n.name.as_str(), "bridge" | "host" | "none")
            || !n.endpoints.is_empty()
            || !f.labels_match(&json!(n.labels))
        {
            continue;
        }
        if tokio::task::block_in_place(|| d.network.remove(&n.id)).is_ok() {
            d.events.publish(
                "network",
                "destroy",
                &n.id,
                json!({"name": n.name, "type": n.driver}),
            );
            deleted.push(n.name);
        }
    }
    ok_json(&json!({"NetworksDeleted": deleted}))
}

pub async fn connect(ctx: Ctx, id: &str) -> Resp {
    let d = ctx.daemon.clone();
    let body = read_json(ctx.req).await?;
    let n = d.network.get(id)?;
    let target = body.get("Container").and_then(Value::as_str).unwrap_or("");
    let c = d.container(target)?;
    let mode = network_mode(&c.snapshot().host_config);
    if plain_mode(&mode) {
        let msg = match mode.as_str() {
            "host" => "container cannot be disconnected from host network or connected to host network",
            "none" => "container cannot be connected to multiple networks with one of the networks in private (none) mode",
            _ => "container sharing network namespace with another container or host cannot be connected to any other network",
        };
        return Err(ApiError::new(StatusCode::FORBIDDEN, msg));
    }
    let ep = body.get("EndpointConfig");
    let aliases = strs(ep.and_then(|e| e.get("Aliases")));
    let ipv4 = ep
        .and_then(|e| e.pointer("/IPAMConfig/IPv4Address"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<Ipv4Addr>())
        .transpose()
        .map_err(|_| ApiError::bad_request("invalid IPv4 address"))?;
    let cid = c.id.clone();
    if d.network
        .container_networks(&cid)
        .iter()
        .any(|(id, _, _)| *id == n.id)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "endpoint with name {} already exists in network {}",
                c.name().trim_start_matches('/'),
                n.name
            ),
        ));
    }
    tokio::task::block_in_place(|| d.network.connect(&cid, &n.id, &aliases, ipv4))?;
    d.events.publish(
        "network",
        "connect",
        &n.id,
        json!({"container": cid, "name": n.name, "type": n.driver}),
    );
    Ok(json_response(StatusCode::OK, &json!(null)))
}

pub async fn disconnect(ctx: Ctx, id: &str) -> Resp {
    let d = ctx.daemon.clone();
    let body = read_json(ctx.req).await?;
    let n = d.network.get(id)?;
    let target = body.get("Container").and_then(Value::as_str).unwrap_or("");
    let c = d.container(target)?;
    let cid = c.id.clone();
    tokio::task::block_in_place(|| d.network.disconnect(&cid, &n.id))?;
    d.events.publish(
        "network",
        "disconnect",
        &n.id,
        json!({"container": cid, "name": n.name, "type": n.driver}),
    );
    Ok(json_response(StatusCode::OK, &json!(null)))
}
