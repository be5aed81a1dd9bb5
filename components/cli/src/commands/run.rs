//! `run`, `create`, `start`, `exec`: building container configs from flags and
//! attaching to a container's streams.
//!
//! `run` attaches before it starts the container (so no output is lost), waits for
//! the exit with `condition=next-exit` (or `removed` with `--rm`) and exits with the
//! container's status; 125 is the CLI's own failure, 126/127 come from the daemon
//! when the command cannot be invoked or found.

use std::io::{Read, Write};

use clap::Command;
use serde_json::{json, Value};

use crate::client::{encode, ClientError, Query};
use crate::cmdline::{bool_flag, list_flag, value_flag, Parsed};
use crate::streams;
use crate::transport::{self, Body};
use crate::{Ctx, Status};

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

/// Creates the container; returns its ID. Prints warnings as docker does.
fn create_container(ctx: &Ctx, p: &Parsed) -> anyhow::Result<String> {
    let pull = super::create_opts::pull_policy(p)?;
    let mut config = super::create_opts::request(p, &ctx.client.host)?;
    let image = p.args[0].clone();
    // config.json's proxies join the environment, unless `-e` names them.
    let env_flags = p.values("env");
    let given: Vec<&str> = env_flags
        .iter()
        .map(|e| e.split_once('=').map(|(k, _)| k).unwrap_or(e))
        .collect();
    if let Some(env) = config["Env"].as_array_mut() {
        for (k, v) in ctx.config.proxy_vars(&ctx.client.host.display(), &given) {
            env.push(json!(format!("{k}={v}")));
        }
    }
    let api_socket_auths = if p.flag("use-api-socket") {
        super::create_opts::api_socket_credentials(&mut config, &ctx.config.json)
    } else {
        None
    };
    let api = ctx.client.api_version().map_err(|e| usage_error(p, e))?;
    super::create_opts::fit_api(&mut config, &api, p.value("platform").as_deref()).map_err(
        |e| -> anyhow::Error {
            if p.path.ends_with(" create") {
                Status::new(1, e).into()
            } else {
                usage_error(p, e)
            }
        },
    )?;
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
    let quiet = p.flag("quiet");
    let platform = p.value("platform");
    let reference = if image.contains('@')
        || image
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
    {
        image.clone()
    } else {
        format!("{image}:latest")
    };
    if pull == "always" {
        super::image::pull_for_create(ctx, &reference, platform.clone(), quiet)
            .map_err(|e| usage_error(p, e))?;
    }
    let create = || {
        ctx.client
            .post("/containers/create", q.clone(), Some(&config))
    };
    let mut resp = match create() {
        Ok(r) => r,
        Err(e) if e.is_not_found() && pull == "missing" => {
            if !quiet {
                eprintln!("Unable to find image '{reference}' locally");
            }
            super::image::pull_for_create(ctx, &reference, platform, quiet)
                .map_err(|e| usage_error(p, e))?;
            create().map_err(|e| usage_error(p, e))?
        }
        Err(e) => return Err(usage_error(p, e)),
    };
    // The real CLI warns about a loopback DNS server itself.
    if let Some(dns) = p
        .values("dns")
        .iter()
        .find(|d| d.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback()))
    {
        let warning = json!(format!("Localhost DNS ({dns}) may fail in containers."));
        match resp.get_mut("Warnings").and_then(Value::as_array_mut) {
            Some(list) => list.push(warning),
            None => resp["Warnings"] = json!([warning]),
        }
    }
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
    if let Some(auths) = api_socket_auths {
        copy_credentials(ctx, &id, &auths).map_err(|e| {
            usage_error(
                p,
                format!("injecting docker config.json into container failed: {e}"),
            )
        })?;
    }
    Ok(id)
}

/// `--use-api-socket`: our registry credentials as a config.json the container's
/// clients find through `DOCKER_CONFIG`, copied in before it starts.
fn copy_credentials(ctx: &Ctx, id: &str, auths: &Value) -> anyhow::Result<()> {
    // Go's json.MarshalIndent with a tab, as the real CLI writes config files.
    let mut text = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut text, formatter);
    serde::Serialize::serialize(&json!({"auths": auths}), &mut ser)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(text.len() as u64);
    header.set_mode(0o600);
    let mut builder = tar::Builder::new(Vec::new());
    builder.append_data(
        &mut header,
        super::create_opts::API_SOCKET_CONFIG.trim_start_matches('/'),
        text.as_slice(),
    )?;
    let data = builder.into_inner()?;
    let mut reader: &[u8] = &data;
    ctx.client.call(
        "PUT",
        &format!("/containers/{}/archive", encode(id)),
        Query::new().add("path", "/"),
        &[],
        Body::Stream(&mut reader as &mut dyn Read, "application/x-tar"),
    )?;
    Ok(())
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

pub fn start(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let attach = p.flag("attach") || p.flag("interactive");
    if let (Some(checkpoint), false) = (p.value("checkpoint"), attach) {
        // Restoring from a checkpoint (experimental daemons) starts one container.
        if p.args.len() > 1 {
            return Err(Status::new(1, "you cannot restore multiple containers at once").into());
        }
        let mut q = Query::new().add("checkpoint", checkpoint);
        if let Some(dir) = p.value("checkpoint-dir") {
            q = q.add("checkpoint-dir", dir);
        }
        ctx.client.post(
            &format!("/containers/{}/start", encode(&p.args[0])),
            q,
            None,
        )?;
        return Ok(0);
    }
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
    // `--env-file` lines first, then `-e`, as the real CLI reads them.
    let mut env = Vec::new();
    for file in p.values("env-file") {
        env.extend(super::create_opts::kv_file(p, &file, true)?);
    }
    env.extend(
        p.values("env")
            .iter()
            .map(|e| super::create_opts::env_entry(e)),
    );
    let mut cfg = json!({
        "User": p.value("user").unwrap_or_default(),
        "Privileged": p.flag("privileged"),
        "Tty": tty,
        "AttachStdin": interactive && !detach,
        "AttachStdout": !detach,
        "AttachStderr": !detach,
        "Detach": detach,
        "Env": env,
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
