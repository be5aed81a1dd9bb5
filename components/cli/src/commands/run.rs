//! `run`, `create`, `start`, `exec`: building container configs from flags and
//! attaching to a container's streams.
//!
//! `run` attaches before it starts the container (so no output is lost), waits for
//! the exit with `condition=next-exit` (or `removed` with `--rm`) and exits with the
//! container's status; 125 is the CLI's own failure, 126/127 come from the daemon
//! when the command cannot be invoked or found.

use std::io::{Read, Write};

use clap::Command;
use serde_json::{json, Map, Value};

use crate::client::{encode, ClientError, Query};
use crate::cmdline::{bool_flag, list_flag, value_flag, Parsed};
use crate::streams;
use crate::transport::{self, Body};
use crate::{Ctx, Status};

/// The resource flags `create`/`run` share with `update` (one definition for both).
pub fn resource_flags(c: Command) -> Command {
    let c = value_flag(c, "cpu-shares", Some('c'), "CPU shares (relative weight)");
    let c = value_flag(c, "cpus", None, "Number of CPUs");
    let c = value_flag(
        c,
        "cpuset-cpus",
        None,
        "CPUs in which to allow execution (0-3, 0,1)",
    );
    let c = value_flag(c, "memory", Some('m'), "Memory limit");
    let c = value_flag(
        c,
        "memory-swap",
        None,
        "Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
    );
    let c = value_flag(
        c,
        "pids-limit",
        None,
        "Tune container pids limit (set -1 for unlimited)",
    );
    value_flag(
        c,
        "restart",
        None,
        "Restart policy to apply when a container exits",
    )
}

pub fn create_flags(c: Command) -> Command {
    let c = resource_flags(c);
    let c = list_flag(
        c,
        "add-host",
        None,
        "Add a custom host-to-IP mapping (host:ip)",
    );
    let c = list_flag(c, "attach", Some('a'), "Attach to STDIN, STDOUT or STDERR");
    let c = list_flag(c, "cap-add", None, "Add Linux capabilities");
    let c = list_flag(c, "cap-drop", None, "Drop Linux capabilities");
    let c = value_flag(c, "cidfile", None, "Write the container ID to the file");
    let c = list_flag(c, "dns", None, "Set custom DNS servers");
    let c = list_flag(c, "dns-search", None, "Set custom DNS search domains");
    let c = value_flag(
        c,
        "entrypoint",
        None,
        "Overwrite the default ENTRYPOINT of the image",
    );
    let c = list_flag(c, "env", Some('e'), "Set environment variables");
    let c = list_flag(
        c,
        "env-file",
        None,
        "Read in a file of environment variables",
    );
    let c = list_flag(c, "expose", None, "Expose a port or a range of ports");
    let c = value_flag(c, "hostname", Some('h'), "Container host name");
    let c = bool_flag(
        c,
        "init",
        None,
        "Run an init inside the container that forwards signals and reaps processes",
    );
    let c = bool_flag(
        c,
        "interactive",
        Some('i'),
        "Keep STDIN open even if not attached",
    );
    let c = list_flag(c, "label", Some('l'), "Set meta data on a container");
    let c = list_flag(c, "link", None, "Add link to another container");
    let c = value_flag(c, "log-driver", None, "Logging driver for the container");
    let c = list_flag(c, "log-opt", None, "Log driver options");
    let c = list_flag(
        c,
        "mount",
        None,
        "Attach a filesystem mount to the container",
    );
    let c = value_flag(c, "name", None, "Assign a name to the container");
    let c = value_flag(c, "network", None, "Connect a container to a network");
    let c = value_flag(c, "net", None, "Connect a container to a network");
    let c = list_flag(
        c,
        "network-alias",
        None,
        "Add network-scoped alias for the container",
    );
    let c = value_flag(
        c,
        "platform",
        None,
        "Set platform if server is multi-platform capable",
    );
    let c = bool_flag(
        c,
        "privileged",
        None,
        "Give extended privileges to this container",
    );
    let c = list_flag(
        c,
        "publish",
        Some('p'),
        "Publish a container's port(s) to the host",
    );
    let c = bool_flag(
        c,
        "publish-all",
        Some('P'),
        "Publish all exposed ports to random ports",
    );
    let c = value_flag(
        c,
        "pull",
        None,
        "Pull image before creating (\"always\", \"missing\", \"never\")",
    );
    let c = bool_flag(c, "quiet", Some('q'), "Suppress the pull output");
    let c = bool_flag(
        c,
        "read-only",
        None,
        "Mount the container's root filesystem as read only",
    );
    let c = bool_flag(
        c,
        "rm",
        None,
        "Automatically remove the container and its associated anonymous volumes when it exits",
    );
    let c = list_flag(c, "security-opt", None, "Security Options");
    let c = value_flag(c, "stop-signal", None, "Signal to stop the container");
    let c = value_flag(
        c,
        "stop-timeout",
        None,
        "Timeout (in seconds) to stop a container",
    );
    let c = list_flag(c, "tmpfs", None, "Mount a tmpfs directory");
    let c = bool_flag(c, "tty", Some('t'), "Allocate a pseudo-TTY");
    let c = list_flag(c, "ulimit", None, "Ulimit options");
    let c = value_flag(
        c,
        "user",
        Some('u'),
        "Username or UID (format: <name|uid>[:<group|gid>])",
    );
    let c = list_flag(c, "volume", Some('v'), "Bind mount a volume");
    let c = list_flag(
        c,
        "volumes-from",
        None,
        "Mount volumes from the specified container(s)",
    );
    value_flag(
        c,
        "workdir",
        Some('w'),
        "Working directory inside the container",
    )
}

pub fn run_flags(c: Command) -> Command {
    let c = create_flags(c);
    let c = bool_flag(
        c,
        "detach",
        Some('d'),
        "Run container in background and print container ID",
    );
    let c = value_flag(
        c,
        "detach-keys",
        None,
        "Override the key sequence for detaching a container",
    );
    bool_flag(
        c,
        "sig-proxy",
        None,
        "Proxy received signals to the process",
    )
}

/// A flag value docker rejects while parsing flags (pflag's format).
fn flag_value_error(p: &Parsed, msg: impl std::fmt::Display) -> anyhow::Error {
    Status::new(
        125,
        format!(
            "{msg}\n\nUsage:  {}\n\nRun '{} --help' for more information",
            p.usage, p.path
        ),
    )
    .into()
}

fn usage_error(p: &Parsed, msg: impl std::fmt::Display) -> anyhow::Error {
    Status::new(
        125,
        format!(
            "docker: {msg}\n\nRun '{} --help' for more information",
            p.path
        ),
    )
    .into()
}

/// `units.RAMInBytes`: `512m`, `1g`, `100k` (binary multiples).
pub(super) fn ram_bytes(s: &str) -> Option<i64> {
    let s = s.trim().to_lowercase();
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(digits_end);
    let n: f64 = num.parse().ok()?;
    let unit = unit.trim_end_matches('b').trim_end_matches('i');
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return None,
    };
    Some((n * mult) as i64)
}

fn kv_labels(items: &[String]) -> Map<String, Value> {
    items
        .iter()
        .map(|i| match i.split_once('=') {
            Some((k, v)) => (k.to_string(), Value::String(v.to_string())),
            None => (i.clone(), Value::String(String::new())),
        })
        .collect()
}

/// Builds the `POST /containers/create` body from the flags; returns it and the image.
fn build_config(p: &Parsed) -> anyhow::Result<(Value, String)> {
    let image = p.args[0].clone();
    let cmd: Vec<String> = p.args[1..].to_vec();
    let mut env = Vec::new();
    for file in p.values("env-file") {
        let text = std::fs::read_to_string(&file).map_err(|e| {
            usage_error(
                p,
                format!("open {file}: {}", super::system::go_io_error(&e)),
            )
        })?;
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.contains('=') {
                env.push(line.to_string());
            } else if let Ok(v) = std::env::var(line) {
                env.push(format!("{line}={v}"));
            }
        }
    }
    for e in p.values("env") {
        if e.contains('=') {
            env.push(e);
        } else if let Ok(v) = std::env::var(&e) {
            env.push(format!("{e}={v}"));
        }
    }
    let tty = p.flag("tty");
    let interactive = p.flag("interactive");
    let detach = p.flag("detach");
    let attach = p.values("attach");
    let (mut a_in, mut a_out, mut a_err) = (false, false, false);
    if !detach {
        if attach.is_empty() {
            a_out = true;
            a_err = true;
            a_in = interactive;
        } else {
            for a in &attach {
                match a.to_lowercase().as_str() {
                    "stdin" => a_in = true,
                    "stdout" => a_out = true,
                    "stderr" => a_err = true,
                    other => {
                        return Err(usage_error(
                            p,
                            format!("invalid argument \"{other}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"),
                        ))
                    }
                }
            }
        }
    }
    let mut exposed = Map::new();
    for e in p.values("expose") {
        let key = if e.contains('/') {
            e
        } else {
            format!("{e}/tcp")
        };
        exposed.insert(key, json!({}));
    }
    let mut bindings = Map::new();
    for spec in p.values("publish") {
        let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
        let (container, host_port, host_ip) = match parts.as_slice() {
            [c] => (c.to_string(), String::new(), String::new()),
            [c, hp] => (c.to_string(), hp.to_string(), String::new()),
            [c, hp, ip] => (c.to_string(), hp.to_string(), ip.to_string()),
            _ => return Err(usage_error(p, format!("invalid port format: {spec}"))),
        };
        let key = if container.contains('/') {
            container
        } else {
            format!("{container}/tcp")
        };
        exposed.insert(key.clone(), json!({}));
        let entry = bindings.entry(key).or_insert_with(|| json!([]));
        if let Some(a) = entry.as_array_mut() {
            a.push(json!({"HostIp": host_ip, "HostPort": host_port}));
        }
    }
    let mut binds = Vec::new();
    let mut volumes = Map::new();
    for v in p.values("volume") {
        if v.contains(':') {
            binds.push(v);
        } else {
            volumes.insert(v, json!({}));
        }
    }
    let mut mounts = Vec::new();
    for m in p.values("mount") {
        let mut mount = Map::new();
        for field in m.split(',') {
            let (k, v) = field.split_once('=').unwrap_or((field, "true"));
            match k {
                "type" => {
                    mount.insert("Type".into(), json!(v));
                }
                "source" | "src" => {
                    mount.insert("Source".into(), json!(v));
                }
                "target" | "destination" | "dst" => {
                    mount.insert("Target".into(), json!(v));
                }
                "readonly" | "ro" => {
                    mount.insert("ReadOnly".into(), json!(v == "true" || v == "1"));
                }
                _ => {}
            }
        }
        if !mount.contains_key("Type") {
            mount.insert("Type".into(), json!("volume"));
        }
        mounts.push(Value::Object(mount));
    }
    let mut tmpfs = Map::new();
    for t in p.values("tmpfs") {
        let (path, opts) = t.split_once(':').unwrap_or((&t, ""));
        tmpfs.insert(path.to_string(), json!(opts));
    }
    let restart = p.value("restart").unwrap_or_else(|| "no".into());
    let (policy, retries) = restart.split_once(':').unwrap_or((&restart, "0"));
    let mut ulimits = Vec::new();
    for u in p.values("ulimit") {
        let (name, vals) = u.split_once('=').ok_or_else(|| {
            usage_error(
                p,
                format!(
                    "invalid argument \"{u}\" for \"--ulimit\" flag: invalid ulimit argument: {u}"
                ),
            )
        })?;
        let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
        ulimits.push(json!({"Name": name, "Soft": soft.parse::<i64>().unwrap_or(0), "Hard": hard.parse::<i64>().unwrap_or(0)}));
    }
    let network = p
        .value("network")
        .or_else(|| p.value("net"))
        .unwrap_or_else(|| "default".into());
    let memory = match p.value("memory") {
        Some(m) => ram_bytes(&m).ok_or_else(|| {
            flag_value_error(
                p,
                format!("invalid argument \"{m}\" for \"-m, --memory\" flag: invalid size: '{m}'"),
            )
        })?,
        None => 0,
    };
    let memory_swap = match p.value("memory-swap") {
        Some(m) if m == "-1" => -1,
        Some(m) => ram_bytes(&m).ok_or_else(|| {
            flag_value_error(
                p,
                format!("invalid argument \"{m}\" for \"--memory-swap\" flag: invalid size: '{m}'"),
            )
        })?,
        None => 0,
    };
    let nano_cpus = match p.value("cpus") {
        Some(c) => {
            let f: f64 = c.parse().map_err(|_| {
                flag_value_error(p, format!("invalid argument \"{c}\" for \"--cpus\" flag: failed to parse {c} as a rational number"))
            })?;
            (f * 1e9) as i64
        }
        None => 0,
    };
    let mut log_opts = Map::new();
    for o in p.values("log-opt") {
        if let Some((k, v)) = o.split_once('=') {
            log_opts.insert(k.to_string(), json!(v));
        }
    }
    let mut config = json!({
        "Hostname": p.value("hostname").unwrap_or_default(),
        "Domainname": "",
        "User": p.value("user").unwrap_or_default(),
        "AttachStdin": a_in,
        "AttachStdout": a_out,
        "AttachStderr": a_err,
        "Tty": tty,
        "OpenStdin": interactive,
        "StdinOnce": interactive && !detach,
        "Env": env,
        "Cmd": if cmd.is_empty() { Value::Null } else { json!(cmd) },
        "Image": image,
        "Volumes": volumes,
        "WorkingDir": p.value("workdir").unwrap_or_default(),
        "Labels": kv_labels(&p.values("label")),
    });
    if !exposed.is_empty() {
        config["ExposedPorts"] = Value::Object(exposed);
    }
    if let Some(e) = p.value("entrypoint") {
        config["Entrypoint"] = if e.is_empty() {
            json!([""])
        } else {
            json!([e])
        };
    }
    if let Some(s) = p.value("stop-signal") {
        config["StopSignal"] = json!(s);
    }
    if let Some(t) = p.value("stop-timeout") {
        config["StopTimeout"] = json!(t.parse::<i64>().unwrap_or(0));
    }
    let mut host = json!({
        "Binds": binds,
        "NetworkMode": network,
        "PortBindings": bindings,
        "RestartPolicy": {"Name": policy, "MaximumRetryCount": retries.parse::<i64>().unwrap_or(0)},
        "AutoRemove": p.flag("rm"),
        "VolumesFrom": p.values("volumes-from"),
        "CapAdd": p.values("cap-add"),
        "CapDrop": p.values("cap-drop"),
        "Dns": p.values("dns"),
        "DnsSearch": p.values("dns-search"),
        "ExtraHosts": p.values("add-host"),
        "Links": p.values("link"),
        "Privileged": p.flag("privileged"),
        "PublishAllPorts": p.flag("publish-all"),
        "ReadonlyRootfs": p.flag("read-only"),
        "SecurityOpt": p.values("security-opt"),
        "Memory": memory,
        "MemorySwap": memory_swap,
        "NanoCpus": nano_cpus,
        "CpuShares": p.value("cpu-shares").and_then(|c| c.parse::<i64>().ok()).unwrap_or(0),
        "CpusetCpus": p.value("cpuset-cpus").unwrap_or_default(),
        "Ulimits": ulimits,
        "Mounts": mounts,
        "LogConfig": {"Type": p.value("log-driver").unwrap_or_default(), "Config": log_opts},
    });
    if !tmpfs.is_empty() {
        host["Tmpfs"] = Value::Object(tmpfs);
    }
    if let Some(pl) = p.value("pids-limit") {
        host["PidsLimit"] = json!(pl.parse::<i64>().unwrap_or(0));
    }
    if p.given("init") {
        host["Init"] = json!(p.flag("init"));
    }
    config["HostConfig"] = host;
    let aliases = p.values("network-alias");
    if !aliases.is_empty() {
        let net = p
            .value("network")
            .or_else(|| p.value("net"))
            .unwrap_or_else(|| "default".into());
        config["NetworkingConfig"] = json!({"EndpointsConfig": {net: {"Aliases": aliases}}});
    }
    Ok((config, p.args[0].clone()))
}

/// Creates the container; returns its ID. Prints warnings as docker does.
fn create_container(ctx: &Ctx, p: &Parsed) -> anyhow::Result<String> {
    let (config, image) = build_config(p)?;
    if let Some(f) = p.value("cidfile") {
        if std::path::Path::new(&f).exists() {
            return Err(usage_error(p, format!("failed to create the container ID file: container ID file found, make sure the other container isn't running or delete {f}")));
        }
    }
    let mut q = Query::new();
    if let Some(n) = p.value("name") {
        q = q.add("name", n);
    }
    if let Some(pl) = p.value("platform") {
        q = q.add("platform", pl);
    }
    let resp = match ctx.client.post("/containers/create", q, Some(&config)) {
        Ok(r) => r,
        Err(e) if e.is_not_found() && !image.contains('@') => {
            let reference = if image.contains(':')
                && !image.rsplit('/').next().unwrap_or("").is_empty()
                && image
                    .rsplit_once(':')
                    .is_some_and(|(_, t)| !t.contains('/'))
            {
                image.clone()
            } else {
                format!("{image}:latest")
            };
            if p.value("pull").as_deref() == Some("never") {
                return Err(usage_error(p, e));
            }
            eprintln!("Unable to find image '{reference}' locally");
            let (repo, tag) = super::image::split_ref(&reference);
            let pull = ctx.client.post(
                "/images/create",
                Query::new()
                    .add("fromImage", repo)
                    .add("tag", tag.unwrap_or_default()),
                None,
            );
            match pull {
                Ok(_) => ctx
                    .client
                    .post("/containers/create", Query::new(), Some(&config))
                    .map_err(|e| usage_error(p, e))?,
                Err(e) => return Err(usage_error(p, e)),
            }
        }
        Err(e) => return Err(usage_error(p, e)),
    };
    for w in resp
        .get("Warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(w) = w.as_str() {
            eprintln!("WARNING: {w}");
        }
    }
    let id = resp
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(f) = p.value("cidfile") {
        std::fs::write(&f, &id)?;
    }
    Ok(id)
}

pub fn create(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    // `create` reports the daemon's errors plainly (exit 1); `run` adds its usage hint.
    let id = create_container(ctx, p).map_err(|e| match e.downcast::<Status>() {
        Ok(s) if s.code == 125 && s.msg.starts_with("docker: Error response from daemon") => {
            let msg = s.msg.trim_start_matches("docker: ");
            let msg = msg.split("\n\nRun '").next().unwrap_or(msg).to_string();
            Status::new(1, msg).into()
        }
        Ok(s) => s.into(),
        Err(e) => e,
    })?;
    println!("{id}");
    Ok(0)
}

/// Attaches to `path` (a container's or exec's attach endpoint) by hijacking the
/// connection; returns the raw stream halves.
fn hijack(
    ctx: &Ctx,
    path: &str,
    query: Query,
    body: Option<&Value>,
) -> Result<(std::io::BufReader<transport::Stream>, transport::Stream), ClientError> {
    let data;
    let body = match body {
        Some(v) => {
            data = serde_json::to_vec(v)?;
            Body::Bytes(&data, "application/json")
        }
        None => Body::Empty,
    };
    let resp = ctx.client.call(
        "POST",
        path,
        query,
        &[("Connection", "Upgrade".into()), ("Upgrade", "tcp".into())],
        body,
    )?;
    Ok(resp.into_hijacked())
}

/// Pumps stdin to the container (when `stdin`) and its output to ours until the
/// output ends. With a tty, stdin is put in raw mode and the detach keys end it.
fn pump(
    reader: std::io::BufReader<transport::Stream>,
    writer: transport::Stream,
    tty: bool,
    stdin: bool,
    detach_keys: Vec<u8>,
) -> anyhow::Result<bool> {
    let _raw = if tty && stdin {
        streams::RawTerminal::enter(0)
    } else {
        None
    };
    let detached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if stdin {
        let mut w = writer;
        let detached = detached.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut matched = 0usize;
            let mut input = std::io::stdin().lock();
            loop {
                let n = match input.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if tty && !detach_keys.is_empty() {
                    for &b in &buf[..n] {
                        if b == detach_keys[matched] {
                            matched += 1;
                            if matched == detach_keys.len() {
                                detached.store(true, std::sync::atomic::Ordering::SeqCst);
                                let _ = w.shutdown_write();
                                std::process::exit(0);
                            }
                        } else {
                            matched = 0;
                        }
                    }
                }
                if w.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            crate::log::debug("[hijack] End of stdin");
            let _ = w.shutdown_write();
        });
    }
    let mut out = std::io::stdout();
    if tty {
        streams::copy_raw(reader, &mut out)?;
    } else {
        streams::demux(reader, &mut out, &mut std::io::stderr())?;
    }
    crate::log::debug("[hijack] End of stdout");
    Ok(detached.load(std::sync::atomic::Ordering::SeqCst))
}

/// Sends SIGWINCH-driven resizes for a tty session.
fn resize(ctx: &Ctx, path: &str) {
    if let Some((h, w)) = streams::terminal_size(1) {
        let _ = ctx.client.post(
            path,
            Query::new().add("h", h.to_string()).add("w", w.to_string()),
            None,
        );
    }
}

pub fn run(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let detach = p.flag("detach");
    let tty = p.flag("tty");
    let interactive = p.flag("interactive");
    if tty && interactive && unsafe { libc::isatty(0) } != 1 {
        return Err(Status::new(1, "the input device is not a TTY").into());
    }
    let id = create_container(ctx, p)?;
    let cpath = format!("/containers/{}", encode(&id));
    if detach {
        ctx.client
            .post(&format!("{cpath}/start"), Query::new(), None)
            .map_err(|e| usage_error(p, e))?;
        println!("{id}");
        return Ok(0);
    }
    let version = ctx.client.api_version()?;
    let sig_proxy = !p.given("sig-proxy") || p.flag("sig-proxy");
    streams::handle_signals(
        ctx.client.host.clone(),
        version.clone(),
        id.clone(),
        sig_proxy && !tty,
        tty.then(|| format!("{cpath}/resize")),
    );
    // Wait first so the exit is not missed, then attach, then start.
    let condition = if p.flag("rm") { "removed" } else { "next-exit" };
    let wait_host = ctx.client.host.clone();
    let wait_path = format!("/v{version}{cpath}/wait?condition={condition}");
    let waiter = std::thread::spawn(move || -> Result<Value, String> {
        let resp = transport::request(&wait_host, "POST", &wait_path, &[], Body::Empty)
            .map_err(|e| e.to_string())?;
        let bytes = resp.bytes().map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    });
    let q = Query::new()
        .add("stream", "1")
        .flag("stdin", interactive)
        .add("stdout", "1")
        .add("stderr", "1");
    let (reader, writer) =
        hijack(ctx, &format!("{cpath}/attach"), q, None).map_err(|e| usage_error(p, e))?;
    if let Err(e) = ctx
        .client
        .post(&format!("{cpath}/start"), Query::new(), None)
    {
        let msg = e.to_string();
        // The daemon's text says whether the command was missing or not executable.
        let code = if msg.contains("executable file not found")
            || msg.contains("no such file or directory")
        {
            127
        } else if msg.contains("permission denied") {
            126
        } else {
            125
        };
        if p.flag("rm") {
            let _ = ctx.client.delete(&cpath, Query::new().add("force", "1"));
        }
        return Err(Status::new(
            code,
            format!(
                "docker: {msg}\n\nRun '{} --help' for more information",
                p.path
            ),
        )
        .into());
    }
    if tty {
        resize(ctx, &format!("{cpath}/resize"));
    }
    let keys = streams::detach_keys(
        &p.value("detach-keys")
            .unwrap_or_else(|| "ctrl-p,ctrl-q".into()),
    )
    .map_err(|e| usage_error(p, e))?;
    let detached = pump(reader, writer, tty, interactive, keys)?;
    if detached {
        return Ok(0);
    }
    let status = waiter
        .join()
        .map_err(|_| Status::new(125, "wait failed"))?
        .map_err(|e| Status::new(125, e))?;
    if let Some(msg) = status.pointer("/Error/Message").and_then(Value::as_str) {
        if !msg.is_empty() {
            return Err(Status::new(125, msg.to_string()).into());
        }
    }
    Ok(status
        .get("StatusCode")
        .and_then(Value::as_i64)
        .unwrap_or(0) as i32)
}

pub fn start_flags(c: Command) -> Command {
    let c = bool_flag(
        c,
        "attach",
        Some('a'),
        "Attach STDOUT/STDERR and forward signals",
    );
    let c = value_flag(
        c,
        "detach-keys",
        None,
        "Override the key sequence for detaching a container",
    );
    bool_flag(c, "interactive", Some('i'), "Attach container's STDIN")
}

pub fn start(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let attach = p.flag("attach") || p.flag("interactive");
    if !attach {
        let mut failed = Vec::new();
        for name in &p.args {
            match ctx.client.post(
                &format!("/containers/{}/start", encode(name)),
                Query::new(),
                None,
            ) {
                Ok(_) => println!("{name}"),
                Err(e) => failed.push(e.to_string()),
            }
        }
        if !failed.is_empty() {
            failed.push("Error: failed to start containers: ".to_string() + &p.args.join(", "));
            return Err(Status::new(1, failed.join("\n")).into());
        }
        return Ok(0);
    }
    if p.args.len() > 1 {
        return Err(
            Status::new(1, "you cannot start and attach multiple containers at once").into(),
        );
    }
    let name = &p.args[0];
    let info = ctx
        .client
        .get(&format!("/containers/{}/json", encode(name)), Query::new())?;
    let tty = info
        .pointer("/Config/Tty")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let id = info
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or(name)
        .to_string();
    let cpath = format!("/containers/{id}");
    let stdin = p.flag("interactive")
        && info
            .pointer("/Config/OpenStdin")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    let q = Query::new()
        .add("stream", "1")
        .flag("stdin", stdin)
        .add("stdout", "1")
        .add("stderr", "1");
    let (reader, writer) = hijack(ctx, &format!("{cpath}/attach"), q, None)?;
    ctx.client
        .post(&format!("{cpath}/start"), Query::new(), None)?;
    let keys = streams::detach_keys(
        &p.value("detach-keys")
            .unwrap_or_else(|| "ctrl-p,ctrl-q".into()),
    )
    .map_err(|e| Status::new(1, e))?;
    if pump(reader, writer, tty, stdin, keys)? {
        return Ok(0);
    }
    let status = ctx
        .client
        .post(&format!("{cpath}/wait"), Query::new(), None)?;
    Ok(status
        .get("StatusCode")
        .and_then(Value::as_i64)
        .unwrap_or(0) as i32)
}

pub fn exec_flags(c: Command) -> Command {
    let c = bool_flag(
        c,
        "detach",
        Some('d'),
        "Detached mode: run command in the background",
    );
    let c = value_flag(
        c,
        "detach-keys",
        None,
        "Override the key sequence for detaching a container",
    );
    let c = list_flag(c, "env", Some('e'), "Set environment variables");
    let c = list_flag(
        c,
        "env-file",
        None,
        "Read in a file of environment variables",
    );
    let c = bool_flag(
        c,
        "interactive",
        Some('i'),
        "Keep STDIN open even if not attached",
    );
    let c = bool_flag(
        c,
        "privileged",
        None,
        "Give extended privileges to the command",
    );
    let c = bool_flag(c, "tty", Some('t'), "Allocate a pseudo-TTY");
    let c = value_flag(
        c,
        "user",
        Some('u'),
        "Username or UID (format: \"<name|uid>[:<group|gid>]\")",
    );
    value_flag(
        c,
        "workdir",
        Some('w'),
        "Working directory inside the container",
    )
}

pub fn exec(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let name = &p.args[0];
    let tty = p.flag("tty");
    let interactive = p.flag("interactive");
    let detach = p.flag("detach");
    let mut cfg = json!({
        "User": p.value("user").unwrap_or_default(),
        "Privileged": p.flag("privileged"),
        "Tty": tty,
        "AttachStdin": interactive && !detach,
        "AttachStdout": !detach,
        "AttachStderr": !detach,
        "Detach": detach,
        "Env": p.values("env"),
        "WorkingDir": p.value("workdir").unwrap_or_default(),
        "Cmd": p.args[1..].to_vec(),
    });
    if let Some(k) = p.value("detach-keys") {
        cfg["DetachKeys"] = json!(k);
    }
    let created = ctx.client.post(
        &format!("/containers/{}/exec", encode(name)),
        Query::new(),
        Some(&cfg),
    )?;
    let exec_id = created
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let start_body = json!({"Detach": detach, "Tty": tty});
    if detach {
        ctx.client.post(
            &format!("/exec/{exec_id}/start"),
            Query::new(),
            Some(&start_body),
        )?;
        return Ok(0);
    }
    let (reader, writer) = hijack(
        ctx,
        &format!("/exec/{exec_id}/start"),
        Query::new(),
        Some(&start_body),
    )?;
    if tty {
        resize(ctx, &format!("/exec/{exec_id}/resize"));
    }
    let keys = streams::detach_keys(
        &p.value("detach-keys")
            .unwrap_or_else(|| "ctrl-p,ctrl-q".into()),
    )
    .map_err(|e| Status::new(1, e))?;
    pump(reader, writer, tty, interactive, keys)?;
    let info = ctx
        .client
        .get(&format!("/exec/{exec_id}/json"), Query::new())?;
    Ok(info.get("ExitCode").and_then(Value::as_i64).unwrap_or(0) as i32)
}

pub fn attach_flags(c: Command) -> Command {
    let c = value_flag(
        c,
        "detach-keys",
        None,
        "Override the key sequence for detaching a container",
    );
    let c = bool_flag(c, "no-stdin", None, "Do not attach STDIN");
    bool_flag(
        c,
        "sig-proxy",
        None,
        "Proxy all received signals to the process",
    )
}

pub fn attach(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let name = &p.args[0];
    let info = ctx
        .client
        .get(&format!("/containers/{}/json", encode(name)), Query::new())?;
    if !info
        .pointer("/State/Running")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        return Err(Status::new(
            1,
            "You cannot attach to a stopped container, start it first",
        )
        .into());
    }
    if info
        .pointer("/State/Paused")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        return Err(Status::new(
            1,
            "You cannot attach to a paused container, unpause it first",
        )
        .into());
    }
    let tty = info
        .pointer("/Config/Tty")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let stdin = !p.flag("no-stdin")
        && info
            .pointer("/Config/OpenStdin")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    let id = info
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or(name)
        .to_string();
    let q = Query::new()
        .add("stream", "1")
        .flag("stdin", stdin)
        .add("stdout", "1")
        .add("stderr", "1");
    let sig_proxy = !p.given("sig-proxy") || p.flag("sig-proxy");
    streams::handle_signals(
        ctx.client.host.clone(),
        ctx.client.api_version()?,
        id.clone(),
        sig_proxy && !tty,
        tty.then(|| format!("/containers/{id}/resize")),
    );
    let (reader, writer) = hijack(ctx, &format!("/containers/{id}/attach"), q, None)?;
    if tty {
        resize(ctx, &format!("/containers/{id}/resize"));
    }
    let keys = streams::detach_keys(
        &p.value("detach-keys")
            .unwrap_or_else(|| "ctrl-p,ctrl-q".into()),
    )
    .map_err(|e| Status::new(1, e))?;
    if pump(reader, writer, tty, stdin, keys)? {
        return Ok(0);
    }
    let status = ctx
        .client
        .post(&format!("/containers/{id}/wait"), Query::new(), None)?;
    Ok(status
        .get("StatusCode")
        .and_then(Value::as_i64)
        .unwrap_or(0) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_sizes_are_binary() {
        assert_eq!(ram_bytes("512m"), Some(512 * 1024 * 1024));
        assert_eq!(ram_bytes("1g"), Some(1 << 30));
        assert_eq!(ram_bytes("100"), Some(100));
        assert_eq!(ram_bytes("x"), None);
    }
}
