//! Container endpoints, and the hijacked streams that attach and exec share.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::body::{empty, json_response, no_content, ok_json, read_json, streaming};
use super::{ApiError, Ctx, Resp};
use crate::containers::io::{frame, Chunk, Hub};
use crate::containers::rootfs::RootfsDirs;
use crate::containers::Container;
use crate::daemon::Daemon;

pub async fn create(ctx: Ctx) -> Resp {
    let name = ctx.query.get("name").map(String::from);
    let d = ctx.daemon.clone();
    let body = read_json(ctx.req).await?;
    if !body.is_object() {
        return Err(ApiError::bad_request("invalid JSON: expected an object"));
    }
    let (id, warnings) = d.create_container(body, name.as_deref())?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"Id": id, "Warnings": warnings}),
    ))
}

fn not_modified() -> Resp {
    Ok(Response::builder()
        .status(StatusCode::NOT_MODIFIED)
        .body(empty())
        .unwrap())
}

pub async fn start(ctx: Ctx, id: &str) -> Resp {
    let c = ctx.daemon.container(id)?;
    if ctx.daemon.start_container(&c).await? {
        no_content()
    } else {
        not_modified()
    }
}

fn timeout_param(ctx: &Ctx) -> Option<i64> {
    ctx.query.int("t").or_else(|| ctx.query.int("timeout"))
}

pub async fn stop(ctx: Ctx, id: &str) -> Resp {
    let c = ctx.daemon.container(id)?;
    let t = timeout_param(&ctx);
    let sig = ctx
        .query
        .get("signal")
        .filter(|s| !s.is_empty())
        .map(String::from);
    if ctx.daemon.stop_container(&c, t, sig.as_deref()).await? {
        no_content()
    } else {
        not_modified()
    }
}

pub async fn restart(ctx: Ctx, id: &str) -> Resp {
    let c = ctx.daemon.container(id)?;
    let t = timeout_param(&ctx);
    let sig = ctx
        .query
        .get("signal")
        .filter(|s| !s.is_empty())
        .map(String::from);
    ctx.daemon.stop_container(&c, t, sig.as_deref()).await?;
    ctx.daemon.start_container(&c).await?;
    ctx.daemon.event(&c, "restart", json!({}));
    no_content()
}

pub async fn kill(ctx: Ctx, id: &str) -> Resp {
    let c = ctx.daemon.container(id)?;
    let sig = ctx
        .query
        .get("signal")
        .filter(|s| !s.is_empty())
        .unwrap_or("KILL")
        .to_string();
    ctx.daemon.kill_container(&c, &sig).await?;
    no_content()
}

pub async fn pause(ctx: Ctx, id: &str, p: bool) -> Resp {
    let c = ctx.daemon.container(id)?;
    ctx.daemon.pause_container(&c, p).await?;
    no_content()
}

pub async fn remove(ctx: Ctx, id: &str) -> Resp {
    let c = ctx.daemon.container(id)?;
    ctx.daemon
        .remove_container(
            &c,
            ctx.query.bool("force", false),
            ctx.query.bool("v", false),
        )
        .await?;
    no_content()
}

pub async fn wait(ctx: Ctx, id: &str) -> Resp {
    let c = ctx.daemon.container(id)?;
    let cond = ctx
        .query
        .get("condition")
        .unwrap_or("not-running")
        .to_string();
    if !["not-running", "next-exit", "removed", ""].contains(&cond.as_str()) {
        return Err(ApiError::bad_request(format!(
            "invalid condition: {cond:?}"
        )));
    }
    let mut rx = c.progress.subscribe();
    let start = *rx.borrow();
    let running = c.is_running() || c.rec.lock().unwrap().state.restarting;
    let (tx, resp) = streaming("application/json");
    tokio::spawn(async move {
        let p = match cond.as_str() {
            "next-exit" => rx
                .wait_for(|p| p.exits > start.exits || p.removed)
                .await
                .map(|p| *p),
            "removed" => rx.wait_for(|p| p.removed).await.map(|p| *p),
            _ if !running => Ok(start),
            _ => rx
                .wait_for(|p| p.exits > start.exits || p.removed)
                .await
                .map(|p| *p),
        };
        let code = match p {
            Ok(p) if p.exits > 0 || p.removed => p.last_exit_code,
            _ => c.rec.lock().unwrap().state.exit_code,
        };
        let code = if code == 0 && !running && start.exits == 0 {
            c.rec.lock().unwrap().state.exit_code
        } else {
            code
        };
        let mut line = serde_json::to_vec(&json!({"Error": null, "StatusCode": code})).unwrap();
        line.push(b'\n');
        let _ = tx.send(Bytes::from(line)).await;
    });
    Ok(resp)
}

/// Where a hijacked connection's input goes.
pub struct StdinSink {
    pub hub: Arc<Hub>,
    pub close_on_eof: bool,
    /// The detach sequence as bytes (empty: none).
    pub detach_keys: Vec<u8>,
    /// The task and process whose input this is: EOF is passed on to the shim.
    pub task: Option<(Arc<Daemon>, String, String)>,
}

/// Answer with `101 UPGRADED` (or a plain streaming 200 when the client did not ask to
/// upgrade) and pump `out` to the client, stdcopy-framed unless `tty`; client input goes
/// to `stdin`. `before_close` runs before the connection is closed.
pub fn hijack<B>(
    mut req: Request<B>,
    mut out: mpsc::UnboundedReceiver<Chunk>,
    stdin: Option<StdinSink>,
    tty: bool,
    version: (u32, u32),
    before_close: Option<tokio::sync::watch::Receiver<bool>>,
) -> Resp {
    let content_type = if tty || version < (1, 42) {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let encode = move |(n, data): Chunk| -> Vec<u8> {
        if tty {
            data.to_vec()
        } else {
            frame(n.max(1), &data)
        }
    };
    let upgrade = req.headers().get("Upgrade").is_some();
    if !upgrade {
        let (tx, resp) = streaming(content_type);
        tokio::spawn(async move {
            while let Some(c) = out.recv().await {
                if tx.send(Bytes::from(encode(c))).await.is_err() {
                    break;
                }
            }
        });
        return Ok(resp);
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let (mut rd, mut wr) = tokio::io::split(TokioIo::new(upgraded));
        let (detached_tx, mut detached) = tokio::sync::oneshot::channel::<()>();
        let reader = stdin.map(|sink| {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 32 * 1024];
                let mut escape = super::detach::Escape::new(sink.detach_keys.clone());
                loop {
                    let (data, detach) = match rd.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => match escape.feed(&buf[..n]) {
                            super::detach::Step::Pass(d) => (d, false),
                            super::detach::Step::Detach(d) => (d, true),
                        },
                    };
                    if !data.is_empty() {
                        let hub = sink.hub.clone();
                        let ok = tokio::task::spawn_blocking(move || hub.write_stdin(&data)).await;
                        if !matches!(ok, Ok(Ok(()))) {
                            break;
                        }
                    }
                    if detach {
                        // The container keeps running with its stdin open.
                        let _ = detached_tx.send(());
                        return;
                    }
                }
                if tty {
                    // As dockerd: a terminal's input is never closed by a client's
                    // EOF (the CLI detaches from a terminal by ending its input; the
                    // shell must not read an end of file), and the attach ends there.
                    let _ = detached_tx.send(());
                    return;
                }
                if sink.close_on_eof {
                    sink.hub.close_stdin();
                    if let Some((d, id, exec_id)) = &sink.task {
                        // Not yet running: the start passes the EOF on.
                        let _ = d.ctrd.close_stdin(id, exec_id).await;
                    }
                }
            })
        });
        // Whether the detach keys ended the attach (the sender is dropped unused when
        // there is no stdin, which is no detach).
        let mut detach_watch_over = false;
        let mut detached_by_keys = false;
        loop {
            tokio::select! {
                c = out.recv() => {
                    let Some(c) = c else { break };
                    if wr.write_all(&encode(c)).await.is_err() {
                        break;
                    }
                    let _ = wr.flush().await;
                }
                r = &mut detached, if !detach_watch_over => {
                    detach_watch_over = true;
                    if r.is_ok() {
                        detached_by_keys = true;
                        break;
                    }
                }
            }
        }
        if detached_by_keys {
            let _ = wr.shutdown().await;
            return;
        }
        if let Some(mut done) = before_close {
            let _ = tokio::time::timeout(Duration::from_secs(10), done.wait_for(|d| *d)).await;
        }
        let _ = wr.shutdown().await;
        if let Some(r) = reader {
            r.abort();
        }
    });
    Ok(Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("Content-Type", content_type)
        .header("Connection", "Upgrade")
        .header("Upgrade", "tcp")
        .body(empty())
        .unwrap())
}

/// The detach sequence of a request: its own (the CLI sends its config's), else
/// ctrl-p,ctrl-q.
pub fn detach_keys(asked: Option<&str>) -> Result<Vec<u8>, ApiError> {
    let keys = asked
        .filter(|k| !k.is_empty())
        .unwrap_or(super::detach::DEFAULT);
    super::detach::parse(keys).map_err(ApiError::bad_request)
}

pub async fn attach(ctx: Ctx, id: &str) -> Resp {
    let c = ctx.daemon.container(id)?;
    let q = &ctx.query;
    let (want_out, want_err, want_in) = (
        q.bool("stdout", false),
        q.bool("stderr", false),
        q.bool("stdin", false),
    );
    let tty = c.tty();
    let rec = c.snapshot();
    let (tx, rx) = mpsc::unbounded_channel();
    if q.bool("logs", false) {
        let file = crate::logging::LogFile::of(&rec.host_config, &rec.log_path);
        for e in file.map(|f| f.read_all()).unwrap_or_default() {
            let n = if e.stream == "stderr" { 2 } else { 1 };
            if (n == 1 && want_out) || (n == 2 && want_err) {
                let _ = tx.send((if tty { 0 } else { n }, Bytes::from(e.log.into_bytes())));
            }
        }
    }
    if q.bool("stream", false) {
        let mut sub = c.hub.subscribe();
        tokio::spawn(async move {
            while let Some((n, data)) = sub.recv().await {
                let pass = n == 0 || (n == 1 && want_out) || (n == 2 && want_err);
                if pass && tx.send((n, data)).is_err() {
                    break;
                }
            }
        });
    } else {
        drop(tx);
    }
    let open_stdin = rec
        .config
        .get("OpenStdin")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let detach_keys = detach_keys(q.get("detachKeys"))?;
    let stdin = (want_in && open_stdin).then(|| StdinSink {
        hub: c.hub.clone(),
        close_on_eof: rec
            .config
            .get("StdinOnce")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        detach_keys,
        task: Some((ctx.daemon.clone(), c.id.clone(), String::new())),
    });
    ctx.daemon.event(&c, "attach", json!({}));
    hijack(ctx.req, rx, stdin, tty, ctx.version, None)
}

fn fmt_ts(nanos: i128) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_nanos(nanos.max(0) as u64);
    humantime::format_rfc3339_nanos(t).to_string()
}

pub async fn logs(ctx: Ctx, id: &str) -> Resp {
    let c = ctx.daemon.container(id)?;
    let q = &ctx.query;
    let (want_out, want_err) = (q.bool("stdout", false), q.bool("stderr", false));
    if !want_out && !want_err {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let rec = c.snapshot();
    let Some(file) = crate::logging::LogFile::of(&rec.host_config, &rec.log_path) else {
        return Err(ApiError::not_implemented(
            "configured logging driver does not support reading",
        ));
    };
    let follow = q.bool("follow", false);
    let timestamps = q.bool("timestamps", false);
    let parse = |k: &str| {
        q.get(k).filter(|s| !s.is_empty() && *s != "0").map(|s| {
            s.parse::<f64>()
                .map(|f| (f * 1e9) as i128)
                .unwrap_or_else(|_| crate::logging::parse_time(s))
        })
    };
    let since = parse("since");
    let until = parse("until");
    let tail: Option<usize> = q
        .get("tail")
        .filter(|t| *t != "all" && !t.is_empty())
        .and_then(|t| t.parse().ok());
    let tty = c.tty();
    let content_type = if tty || ctx.version < (1, 42) {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let (tx, resp) = streaming(content_type);
    tokio::spawn(async move {
        let encode = |e: &crate::logging::LogEntry| -> Option<Bytes> {
            let n = if e.stream == "stderr" { 2 } else { 1 };
            if (n == 1 && !want_out) || (n == 2 && !want_err) {
                return None;
            }
            if since.is_some_and(|s| e.nanos < s) || until.is_some_and(|u| e.nanos > u) {
                return None;
            }
            let mut line = Vec::new();
            if timestamps {
                line.extend(fmt_ts(e.nanos).into_bytes());
                line.push(b' ');
            }
            line.extend(e.log.as_bytes());
            Some(Bytes::from(if tty { line } else { frame(n, &line) }))
        };
        let f2 = file.clone();
        let mut all = tokio::task::spawn_blocking(move || f2.read_all())
            .await
            .unwrap_or_default();
        if let Some(t) = tail {
            let skip = all.len().saturating_sub(t);
            all.drain(..skip);
        }
        for e in &all {
            if let Some(b) = encode(e) {
                if tx.send(b).await.is_err() {
                    return;
                }
            }
        }
        if !follow || until.is_some() {
            return;
        }
        let mut offset = std::fs::metadata(file.path()).map(|m| m.len()).unwrap_or(0);
        loop {
            let running = c.is_running() || c.rec.lock().unwrap().state.restarting;
            let fresh = file.read_from(&mut offset);
            for e in &fresh {
                if let Some(b) = encode(e) {
                    if tx.send(b).await.is_err() {
                        return;
                    }
                }
            }
            if !running || c.progress.borrow().removed {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = tx.closed() => return,
            }
        }
    });
    Ok(resp)
}

pub async fn rename(ctx: Ctx, id: &str) -> Resp {
    let c = ctx.daemon.container(id)?;
    let new = ctx.query.get("name").unwrap_or("").to_string();
    if !crate::containers::valid_name(&new) {
        return Err(ApiError::bad_request(format!(
            "Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    let new = format!("/{}", new.trim_start_matches('/'));
    let old = c.name();
    if old == new {
        return Err(ApiError::bad_request(
            "Renaming a container with the same name as its current name",
        ));
    }
    {
        let mut store = ctx.daemon.containers.lock().unwrap();
        store.reserve_name(&new, &c.id)?;
        store.release_name(&old);
    }
    c.rec.lock().unwrap().name = new;
    c.save()?;
    ctx.daemon.event(&c, "rename", json!({"oldName": old}));
    no_content()
}

pub async fn resize(ctx: Ctx, id: &str) -> Resp {
    let c = ctx.daemon.container(id)?;
    if !c.is_running() {
        return Err(ApiError::conflict(format!(
            "Container {} is not running",
            c.id
        )));
    }
    let h = ctx.query.int("h").unwrap_or(0) as u32;
    let w = ctx.query.int("w").unwrap_or(0) as u32;
    ctx.daemon
        .ctrd
        .resize(&c.id, "", w, h)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .body(empty())
        .unwrap())
}

pub async fn update(ctx: Ctx, id: &str) -> Resp {
    // The body first: answering before the client has written it breaks its pipe.
    let body = read_json(ctx.req).await?;
    let c = ctx.daemon.container(id)?;
    {
        let mut r = c.rec.lock().unwrap();
        if let Some(o) = body.as_object() {
            for (k, v) in o {
                let auto_remove = r
                    .host_config
                    .get("AutoRemove")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if k == "RestartPolicy"
                    && auto_remove
                    && v.get("Name").and_then(Value::as_str).unwrap_or("no") != "no"
                {
                    return Err(ApiError::bad_request("Restart policy cannot be updated because AutoRemove is enabled for the container"));
                }
                // The client sends every field; as dockerd, zero means "unchanged"
                // (PidsLimit excepted: 0 there lifts the limit).
                let unchanged = match v {
                    Value::Null => true,
                    Value::Number(n) => n.as_i64() == Some(0) && k != "PidsLimit",
                    Value::String(s) => s.is_empty(),
                    Value::Array(a) => a.is_empty(),
                    Value::Object(_) if k == "RestartPolicy" => v
                        .get("Name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .is_empty(),
                    _ => false,
                };
                if !unchanged {
                    r.host_config[k] = v.clone();
                }
            }
        }
    }
    if c.is_running() {
        let hc = c.rec.lock().unwrap().host_config.clone();
        let limits = Value::Object(crate::containers::spec::limits(&hc));
        ctx.daemon
            .ctrd
            .update_resources(&c.id, &limits)
            .await
            .map_err(|e| ApiError::internal(format!("Cannot update container {}: {e}", c.id)))?;
    }
    c.save()?;
    ctx.daemon.event(&c, "update", json!({}));
    ok_json(&json!({"Warnings": []}))
}

pub async fn top(ctx: Ctx, id: &str) -> Resp {
    let c = ctx.daemon.container(id)?;
    if !c.is_running() {
        return Err(ApiError::conflict(format!(
            "Container {} is not running",
            c.id
        )));
    }
    let pids = ctx
        .daemon
        .ctrd
        .pids(&c.id)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let args = ctx
        .query
        .get("ps_args")
        .filter(|a| !a.is_empty())
        .unwrap_or("-ef")
        .to_string();
    let out = std::process::Command::new("ps")
        .args(args.split_whitespace())
        .output()
        .map_err(|e| ApiError::internal(format!("running ps: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let titles: Vec<&str> = header.split_whitespace().collect();
    let pid_col = titles
        .iter()
        .position(|t| *t == "PID")
        .ok_or_else(|| ApiError::internal("Couldn't find PID field in ps output"))?;
    let mut procs = Vec::new();
    for l in lines {
        let fields: Vec<&str> = l.split_whitespace().collect();
        if fields.len() < titles.len() {
            continue;
        }
        let Ok(pid) = fields[pid_col].parse::<u32>() else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let mut row: Vec<String> = fields[..titles.len() - 1]
            .iter()
            .map(|s| s.to_string())
            .collect();
        row.push(fields[titles.len() - 1..].join(" "));
        procs.push(row);
    }
    ok_json(&json!({"Titles": titles, "Processes": procs}))
}

/// Changes in a container's upper directory against its image (`docker diff`).
pub async fn changes(ctx: Ctx, id: &str) -> Resp {
    let c = ctx.daemon.container(id)?;
    let dirs = RootfsDirs::new(&ctx.daemon.data_root, &c.id);
    let lowers: Vec<std::path::PathBuf> = dirs
        .lowerdir()
        .unwrap_or_default()
        .split(':')
        .skip(1)
        .map(std::path::PathBuf::from)
        .collect();
    let upper = dirs.upper();
    let mut out = Vec::new();
    walk_changes(&upper, std::path::Path::new("/"), &lowers, &mut out);
    ok_json(&Value::Array(out))
}

fn walk_changes(
    upper: &std::path::Path,
    rel: &std::path::Path,
    lowers: &[std::path::PathBuf],
    out: &mut Vec<Value>,
) {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(rd) = std::fs::read_dir(upper.join(rel.strip_prefix("/").unwrap())) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let r = rel.join(e.file_name());
        let Ok(md) = e.path().symlink_metadata() else {
            continue;
        };
        let in_lower = lowers.iter().any(|l| {
            l.join(r.strip_prefix("/").unwrap())
                .symlink_metadata()
                .is_ok()
        });
        let kind = if md.file_type().is_char_device() && md.rdev() == 0 {
            2
        } else if in_lower {
            0
        } else {
            1
        };
        out.push(json!({"Path": r, "Kind": kind}));
        if md.is_dir() && kind != 2 {
            walk_changes(upper, &r, lowers, out);
        }
    }
}

/// A writer that feeds a streaming response from a blocking thread.
pub struct ChannelWriter(pub mpsc::Sender<Bytes>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub async fn export(ctx: Ctx, id: &str) -> Resp {
    let c = ctx.daemon.container(id)?;
    let dirs = RootfsDirs::new(&ctx.daemon.data_root, &c.id);
    let was_mounted = dirs.is_mounted();
    let merged = dirs.mount()?;
    let (tx, resp) = streaming("application/x-tar");
    tokio::task::spawn_blocking(move || {
        let _ = crate::images::layers::pack_dir(
            &merged,
            std::io::BufWriter::with_capacity(256 * 1024, ChannelWriter(tx)),
            false,
        );
        if !was_mounted && !c.is_running() {
            dirs.unmount();
        }
    });
    let c2 = ctx.daemon.container(id)?;
    ctx.daemon.event(&c2, "export", json!({}));
    Ok(resp)
}

fn read_cgroup(ctrl: &str, id: &str, file: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/sys/fs/cgroup/{ctrl}/docker/{id}/{file}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn stats_json(d: &Daemon, c: &Container, pre: &Value) -> Value {
    let id = &c.id;
    let rec = c.snapshot();
    let running = rec.state.running;
    let usage = if running {
        read_cgroup("cpu,cpuacct", id, "cpuacct.usage")
            .or_else(|| read_cgroup("cpuacct", id, "cpuacct.usage"))
            .unwrap_or(0)
    } else {
        0
    };
    let system = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse::<u64>().ok())
                    .sum::<u64>()
                    * 10_000_000
            })
        })
        .unwrap_or(0);
    let mem = if running {
        read_cgroup("memory", id, "memory.usage_in_bytes").unwrap_or(0)
    } else {
        0
    };
    let limit = read_cgroup("memory", id, "memory.limit_in_bytes").unwrap_or(0);
    let pids = if running {
        read_cgroup("pids", id, "pids.current").unwrap_or(0)
    } else {
        0
    };
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let _ = d;
    json!({
        "read": crate::ids::now_rfc3339(),
        "preread": pre.get("read").cloned().unwrap_or(json!(crate::ids::ZERO_TIME)),
        "pids_stats": {"current": pids},
        "blkio_stats": {"io_service_bytes_recursive": null, "io_serviced_recursive": null, "io_queue_recursive": null, "io_service_time_recursive": null, "io_wait_time_recursive": null, "io_merged_recursive": null, "io_time_recursive": null, "sectors_recursive": null},
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": {"cpu_usage": {"total_usage": usage, "usage_in_kernelmode": 0, "usage_in_usermode": 0}, "system_cpu_usage": system, "online_cpus": ncpu, "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
        "precpu_stats": pre.get("cpu_stats").cloned().unwrap_or(json!({"cpu_usage": {"total_usage": 0}, "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}})),
        "memory_stats": if running { json!({"usage": mem, "limit": limit.min(crate::api::system_mem()), "stats": {}}) } else { json!({}) },
        "name": rec.name,
        "id": c.id,
        "networks": {},
    })
}

pub async fn stats(ctx: Ctx, id: &str) -> Resp {
    let c = ctx.daemon.container(id)?;
    let stream = ctx.query.bool("stream", true);
    let one_shot = ctx.query.bool("one-shot", false);
    let d = ctx.daemon.clone();
    let (tx, resp) = streaming("application/json");
    tokio::spawn(async move {
        let mut pre = json!({});
        if !stream && !one_shot && c.is_running() {
            pre = stats_json(&d, &c, &json!({}));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        loop {
            let s = stats_json(&d, &c, &pre);
            let mut line = serde_json::to_vec(&s).unwrap();
            line.push(b'\n');
            if tx.send(Bytes::from(line)).await.is_err() || !stream || c.progress.borrow().removed {
                return;
            }
            pre = s;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    Ok(resp)
}

/// The `docker ps` row of a container.
pub fn summary(d: &Daemon, c: &Container, size: bool) -> Value {
    let r = c.snapshot();
    let created = crate::logging::parse_time(&r.created) / 1_000_000_000;
    let mut cmd = vec![r.path.clone()];
    cmd.extend(r.args.iter().cloned());
    let status = status_text(&r.state, r.restart_count);
    let mounts: Vec<Value> = r.mounts.iter().map(mount_json).collect();
    let mut v = json!({
        "Id": c.id,
        "Names": [r.name],
        "Image": r.config.get("Image").cloned().unwrap_or(json!("")),
        "ImageID": r.image,
        "Command": shell_join(&cmd),
        "Created": created as i64,
        "Ports": super::networks::ps_ports(d, c, &r),
        "Labels": r.config.get("Labels").cloned().unwrap_or(json!({})),
        "State": r.state.status,
        "Status": status,
        "HostConfig": {"NetworkMode": r.host_config.get("NetworkMode").cloned().unwrap_or(json!("bridge"))},
        "NetworkSettings": {"Networks": super::networks::settings(d, c, &r)["Networks"].clone()},
        "Mounts": mounts,
    });
    if size {
        let dirs = RootfsDirs::new(&d.data_root, &c.id);
        v["SizeRw"] = json!(crate::images::layers::dir_size(&dirs.upper()));
        let root = d
            .images
            .lock()
            .unwrap()
            .get(&r.image)
            .map(|i| d.images.lock().map(|s| s.size(i)).unwrap_or(0))
            .unwrap_or(0);
        v["SizeRootFs"] = json!(root);
    }
    v
}

fn shell_join(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn ago(t: &str) -> String {
    let then = crate::logging::parse_time(t);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128;
    let secs = ((now - then) / 1_000_000_000).max(0) as u64;
    human_duration(secs)
}

/// docker's `units.HumanDuration`.
fn human_duration(secs: u64) -> String {
    match secs {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s if s < 120 => "About a minute".into(),
        s if s < 3600 => format!("{} minutes", s / 60),
        s if s < 7200 => "About an hour".into(),
        s if s < 48 * 3600 => format!("{} hours", s / 3600),
        s if s < 7 * 24 * 3600 * 2 => format!("{} days", s / 86400),
        s if s < 30 * 24 * 3600 * 3 => format!("{} weeks", s / (7 * 86400)),
        s if s < 365 * 24 * 3600 * 2 => format!("{} months", s / (30 * 86400)),
        s => format!("{} years", s / (365 * 86400)),
    }
}

fn status_text(s: &crate::containers::State, restarts: u64) -> String {
    if s.paused {
        return format!("Up {} (Paused)", ago(&s.started_at));
    }
    if s.restarting {
        return format!("Restarting ({}) {} ago", s.exit_code, ago(&s.finished_at));
    }
    if s.running {
        return format!("Up {}", ago(&s.started_at));
    }
    if s.status == "removing" {
        return "Removal In Progress".into();
    }
    if s.status == "created" || s.finished_at == crate::ids::ZERO_TIME {
        let _ = restarts;
        return "Created".into();
    }
    format!("Exited ({}) {} ago", s.exit_code, ago(&s.finished_at))
}

fn mount_json(m: &crate::containers::MountPoint) -> Value {
    let mut v = json!({
        "Type": m.kind,
        "Source": m.source,
        "Destination": m.destination,
        "Mode": m.mode,
        "RW": m.rw,
        "Propagation": m.propagation,
    });
    if m.kind == "volume" {
        v["Name"] = json!(m.name);
        v["Driver"] = json!("local");
    }
    v
}

pub async fn list(ctx: Ctx) -> Resp {
    let q = &ctx.query;
    let f = q.filters()?;
    f.validate(&[
        "ancestor",
        "before",
        "expose",
        "exited",
        "health",
        "id",
        "isolation",
        "is-task",
        "label",
        "name",
        "network",
        "publish",
        "since",
        "status",
        "volume",
    ])?;
    let all = q.bool("all", false) || !f.get("status").is_empty() || !f.get("exited").is_empty();
    let limit = q.int("limit").filter(|l| *l > 0);
    let size = q.bool("size", false);
    let d = &ctx.daemon;
    let mut list = d.containers.lock().unwrap().all();
    let created_of = |r: &str| -> Option<String> {
        d.container(r)
            .ok()
            .map(|c| c.rec.lock().unwrap().created.clone())
    };
    let before = f.get("before").first().and_then(|r| created_of(r));
    let since = f.get("since").first().and_then(|r| created_of(r));
    let ancestors: Vec<String> = f
        .get("ancestor")
        .iter()
        .filter_map(|a| d.images.lock().unwrap().resolve(a).ok())
        .collect();
    if !f.get("ancestor").is_empty() && ancestors.is_empty() {
        list.clear();
    }
    let mut out = Vec::new();
    for c in list {
        let r = c.snapshot();
        if !all && !r.state.running && !r.state.restarting {
            continue;
        }
        let name = r.name.trim_start_matches('/');
        if !f.get("id").is_empty() && !f.get("id").iter().any(|p| c.id.starts_with(p.as_str())) {
            continue;
        }
        if !f.get("name").is_empty()
            && !f
                .get("name")
                .iter()
                .any(|p| name.contains(p.trim_start_matches('/')))
        {
            continue;
        }
        if !f.get("status").is_empty() && !f.get("status").contains(&r.state.status) {
            continue;
        }
        if !f.get("exited").is_empty()
            && (r.state.running
                || r.state.status != "exited"
                || !f
                    .get("exited")
                    .iter()
                    .any(|e| e.parse::<i64>().ok() == Some(r.state.exit_code)))
        {
            continue;
        }
        if !f.labels_match(r.config.get("Labels").unwrap_or(&Value::Null)) {
            continue;
        }
        if !ancestors.is_empty() && !ancestors.contains(&r.image) {
            continue;
        }
        if !f.get("volume").is_empty()
            && !r.mounts.iter().any(|m| {
                f.get("volume")
                    .iter()
                    .any(|v| *v == m.name || *v == m.destination)
            })
        {
            continue;
        }
        if !f.get("network").is_empty()
            && !f.get("network").iter().any(|n| {
                Some(n.as_str()) == r.host_config.get("NetworkMode").and_then(Value::as_str)
            })
        {
            continue;
        }
        if before.as_ref().is_some_and(|b| r.created >= *b)
            || since.as_ref().is_some_and(|s| r.created <= *s)
        {
            continue;
        }
        out.push(summary(d, &c, size));
        if limit.is_some_and(|l| out.len() as i64 >= l) {
            break;
        }
    }
    ok_json(&Value::Array(out))
}

pub async fn inspect(ctx: Ctx, id: &str) -> Resp {
    let c = ctx.daemon.container(id)?;
    let d = &ctx.daemon;
    let r = c.snapshot();
    let dirs = RootfsDirs::new(&d.data_root, &c.id);
    let execs: Vec<String> = d
        .execs
        .lock()
        .unwrap()
        .values()
        .filter(|e| e.container_id == c.id)
        .map(|e| e.id.clone())
        .collect();
    let net = r
        .host_config
        .get("NetworkMode")
        .and_then(Value::as_str)
        .unwrap_or("bridge")
        .to_string();
    let mut state = serde_json::to_value(&r.state).unwrap();
    if ctx.version >= (1, 0) {
        state["Error"] = json!(r.state.error);
    }
    let mut v = json!({
        "Id": c.id,
        "Created": r.created,
        "Path": r.path,
        "Args": r.args,
        "State": state,
        "Image": r.image,
        "ResolvConfPath": c.dir.join("resolv.conf"),
        "HostnamePath": c.dir.join("hostname"),
        "HostsPath": c.dir.join("hosts"),
        // dockerd names the json-file driver's file only.
        "LogPath": if matches!(r.host_config.pointer("/LogConfig/Type").and_then(Value::as_str), Some("none" | "local")) { String::new() } else { r.log_path.clone() },
        "Name": r.name,
        "RestartCount": r.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": if execs.is_empty() { Value::Null } else { json!(execs) },
        "HostConfig": r.host_config,
        "GraphDriver": {
            "Data": {
                "LowerDir": dirs.lowerdir().unwrap_or_default(),
                "MergedDir": dirs.merged(),
                "UpperDir": dirs.upper(),
                "WorkDir": dirs.upper().with_file_name("work"),
            },
            "Name": "overlay2",
        },
        "Mounts": r.mounts.iter().map(mount_json).collect::<Vec<_>>(),
        "Config": r.config,
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": "",
            "SandboxKey": "",
            "Ports": {},
            "HairpinMode": false,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "SecondaryIPAddresses": null,
            "SecondaryIPv6Addresses": null,
            "EndpointID": "",
            "Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "IPAddress": "",
            "IPPrefixLen": 0,
            "IPv6Gateway": "",
            "MacAddress": "",
            "Networks": {net.clone(): {"IPAMConfig": null, "Links": null, "Aliases": null, "MacAddress": "", "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DriverOpts": null, "DNSNames": null}},
        },
    });
    v["NetworkSettings"] = super::networks::settings(d, &c, &r);
    if ctx.query.bool("size", false) {
        v["SizeRw"] = json!(crate::images::layers::dir_size(&dirs.upper()));
        let s = d.images.lock().unwrap();
        v["SizeRootFs"] = json!(s.get(&r.image).map(|i| s.size(i)).unwrap_or(0));
    }
    ok_json(&v)
}

pub async fn prune(ctx: Ctx) -> Resp {
    let f = ctx.query.filters()?;
    f.validate(&["label", "label!", "until"])?;
    let d = ctx.daemon.clone();
    let list = d.containers.lock().unwrap().all();
    let mut deleted = Vec::new();
    let mut reclaimed = 0;
    for c in list {
        let r = c.snapshot();
        if r.state.running
            || r.state.restarting
            || !f.labels_match(r.config.get("Labels").unwrap_or(&Value::Null))
        {
            continue;
        }
        let size = crate::images::layers::dir_size(&RootfsDirs::new(&d.data_root, &c.id).upper());
        if d.remove_container(&c, false, false).await.is_ok() {
            deleted.push(c.id.clone());
            reclaimed += size;
        }
    }
    ok_json(
        &json!({"ContainersDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) }, "SpaceReclaimed": reclaimed}),
    )
}
