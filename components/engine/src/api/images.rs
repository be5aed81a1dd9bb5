//! Image endpoints: import (`create?fromSrc`), load, save, list, inspect, history, tag,
//! delete, prune and commit.

use std::sync::Arc;

use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use super::body::{json_response, ok_json, read_json, spool_to_file, streaming};
use super::{ApiError, Ctx, Resp};
use crate::daemon::Daemon;
use crate::images::{Image, ImageStore};

fn short(id: &str) -> &str {
    let h = id.trim_start_matches("sha256:");
    &h[..12.min(h.len())]
}

fn created_unix(img: &Image) -> i64 {
    img.config
        .get("created")
        .and_then(Value::as_str)
        .map(|t| (crate::logging::parse_time(t) / 1_000_000_000) as i64)
        .unwrap_or(0)
}

/// One entry of `GET /images/json` (also used by `system/df`).
pub fn summary(s: &ImageStore, img: &Image, version: (u32, u32), size: u64) -> Value {
    let tags = s.tags_of(&img.id);
    let mut v = json!({
        "Containers": -1,
        "Created": created_unix(img),
        "Id": img.id,
        "Labels": img.config.pointer("/config/Labels").cloned().unwrap_or(Value::Null),
        "ParentId": "",
        "RepoDigests": s.digests_of(&img.id),
        "RepoTags": tags,
        "SharedSize": -1,
        "Size": size,
    });
    if version < (1, 44) {
        v["VirtualSize"] = json!(size);
    }
    if version < (1, 43) && tags.is_empty() {
        v["RepoTags"] = json!(["<none>:<none>"]);
        if s.digests_of(&img.id).is_empty() {
            v["RepoDigests"] = json!(["<none>@<none>"]);
        }
    }
    v
}

/// Dockerfile-style `changes` applied to an image config (import and commit).
fn apply_changes(cfg: &mut Value, changes: &[&str]) -> Result<(), ApiError> {
    for ch in changes {
        let ch = ch.trim();
        if ch.is_empty() {
            continue;
        }
        let (instr, rest) = ch.split_once(char::is_whitespace).unwrap_or((ch, ""));
        let rest = rest.trim();
        let list = || -> Value {
            if rest.starts_with('[') {
                serde_json::from_str(rest).unwrap_or(json!([rest]))
            } else {
                json!(["/bin/sh", "-c", rest])
            }
        };
        match instr.to_ascii_uppercase().as_str() {
            "CMD" => cfg["Cmd"] = list(),
            "ENTRYPOINT" => cfg["Entrypoint"] = list(),
            "WORKDIR" => cfg["WorkingDir"] = json!(rest),
            "USER" => cfg["User"] = json!(rest),
            "STOPSIGNAL" => cfg["StopSignal"] = json!(rest),
            "ENV" => {
                let (k, v) = rest
                    .split_once('=')
                    .or_else(|| rest.split_once(' '))
                    .unwrap_or((rest, ""));
                let mut env: Vec<Value> = cfg
                    .get("Env")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                env.retain(|e| {
                    e.as_str().and_then(|e| e.split_once('=')).map(|(ek, _)| ek) != Some(k)
                });
                env.push(json!(format!("{k}={}", v.trim_matches('"'))));
                cfg["Env"] = json!(env);
            }
            "LABEL" => {
                let (k, v) = rest.split_once('=').unwrap_or((rest, ""));
                if !cfg.get("Labels").is_some_and(Value::is_object) {
                    cfg["Labels"] = json!({});
                }
                cfg["Labels"][k.trim_matches('"')] = json!(v.trim_matches('"'));
            }
            "EXPOSE" => {
                if !cfg.get("ExposedPorts").is_some_and(Value::is_object) {
                    cfg["ExposedPorts"] = json!({});
                }
                for p in rest.split_whitespace() {
                    let p = if p.contains('/') {
                        p.to_string()
                    } else {
                        format!("{p}/tcp")
                    };
                    cfg["ExposedPorts"][p] = json!({});
                }
            }
            "VOLUME" => {
                if !cfg.get("Volumes").is_some_and(Value::is_object) {
                    cfg["Volumes"] = json!({});
                }
                let vols: Vec<String> = if rest.starts_with('[') {
                    serde_json::from_str(rest).unwrap_or_default()
                } else {
                    rest.split_whitespace().map(String::from).collect()
                };
                for v in vols {
                    cfg["Volumes"][v] = json!({});
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "{other} is not a valid change command"
                )))
            }
        }
    }
    Ok(())
}

fn stream_lines(lines: Vec<Value>) -> Resp {
    let mut body = Vec::new();
    for l in lines {
        body.extend(serde_json::to_vec(&l).unwrap());
        body.push(b'\n');
    }
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/json")
        .body(super::body::full(body))
        .unwrap())
}

pub async fn create(ctx: Ctx) -> Resp {
    let q = &ctx.query;
    if let Some(src) = q.get("fromSrc") {
        if src != "-" {
            return Err(ApiError::bad_request(format!("importing from {src} is not supported: pipe the tarball instead (docker import - or a file)")));
        }
        let repo = q.get("repo").unwrap_or("").to_string();
        let tag = q.get("tag").unwrap_or("").to_string();
        let reference = match (repo.is_empty(), tag.is_empty()) {
            (true, _) => None,
            (false, true) => Some(repo.clone()),
            (false, false) => Some(format!("{repo}:{tag}")),
        };
        if let Some(r) = &reference {
            crate::images::normalize(r)?;
        }
        let message = q
            .get("message")
            .filter(|m| !m.is_empty())
            .map(String::from)
            .unwrap_or_else(|| "Imported from -".into());
        let mut config = json!({"Env": null, "Cmd": null, "Entrypoint": null, "WorkingDir": "", "OnBuild": null, "Labels": null});
        let changes: Vec<&str> = q.all("changes");
        apply_changes(&mut config, &changes)?;
        if config["Env"].is_null() {
            config.as_object_mut().unwrap().remove("Env");
        }
        let d = ctx.daemon.clone();
        let tmp = d
            .images
            .lock()
            .unwrap()
            .tmp_dir()
            .join(format!("import-{}", &crate::ids::random_id()[..16]));
        let spooled = spool_to_file(ctx.req, &tmp).await;
        if let Err(e) = spooled {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        let d2 = d.clone();
        let tmp2 = tmp.clone();
        let res = tokio::task::spawn_blocking(move || {
            crate::images::archive::import(
                &d2.images,
                &tmp2,
                reference.as_deref(),
                config,
                &message,
            )
        })
        .await;
        let _ = std::fs::remove_file(&tmp);
        let id = res.map_err(|e| ApiError::internal(e.to_string()))??;
        d.events
            .publish("image", "import", &id, json!({"name": id}));
        return stream_lines(vec![json!({"status": id})]);
    }
    super::registry::pull(ctx).await
}

pub async fn load(ctx: Ctx) -> Resp {
    let d = ctx.daemon.clone();
    let tmp = d
        .images
        .lock()
        .unwrap()
        .tmp_dir()
        .join(format!("load-{}.tar", &crate::ids::random_id()[..16]));
    if let Err(e) = spool_to_file(ctx.req, &tmp).await {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let d2 = d.clone();
    let tmp2 = tmp.clone();
    let res =
        tokio::task::spawn_blocking(move || crate::images::archive::load(&d2.images, &tmp2)).await;
    let _ = std::fs::remove_file(&tmp);
    let lines = res.map_err(|e| ApiError::internal(e.to_string()))??;
    for l in &lines {
        let name = l.split_once(": ").map(|(_, n)| n).unwrap_or("");
        d.events
            .publish("image", "load", name, json!({"name": name}));
    }
    stream_lines(
        lines
            .into_iter()
            .map(|l| json!({"stream": format!("{l}\n")}))
            .collect(),
    )
}

pub fn list(ctx: Ctx) -> Resp {
    let f = ctx.query.filters()?;
    f.validate(&["dangling", "label", "reference", "before", "since", "until"])?;
    let all = ctx.query.bool("all", false);
    let _ = all;
    let s = ctx.daemon.images.lock().unwrap();
    let mut out = Vec::new();
    let before = f
        .get("before")
        .first()
        .and_then(|r| s.resolve(r).ok())
        .and_then(|id| s.get(&id).map(created_unix));
    let since = f
        .get("since")
        .first()
        .and_then(|r| s.resolve(r).ok())
        .and_then(|id| s.get(&id).map(created_unix));
    let mut imgs: Vec<&Image> = s.all().collect();
    imgs.sort_by_key(|i| std::cmp::Reverse(created_unix(i)));
    for img in imgs {
        let tags = s.tags_of(&img.id);
        if let Some(d) = f.get("dangling").first() {
            let want = d == "true" || d == "1";
            if want != tags.is_empty() {
                continue;
            }
        }
        if !f.get("reference").is_empty() {
            let ok = f.get("reference").iter().any(|pat| {
                tags.iter().any(|t| {
                    let (repo, _) = t.rsplit_once(':').unwrap_or((t, ""));
                    glob(pat, t) || glob(pat, repo)
                })
            });
            if !ok {
                continue;
            }
        }
        if !f.labels_match(img.config.pointer("/config/Labels").unwrap_or(&Value::Null)) {
            continue;
        }
        let c = created_unix(img);
        if before.is_some_and(|b| c >= b) || since.is_some_and(|x| c <= x) {
            continue;
        }
        let mut v = summary(&s, img, ctx.version, s.size(img));
        if !f.get("reference").is_empty() {
            // As dockerd: only the digest references the filter matches are listed.
            let digests = s.digests_of(&img.id);
            let matching: Vec<&String> = digests
                .iter()
                .filter(|r| {
                    let repo = r.split_once('@').map_or(r.as_str(), |(a, _)| a);
                    f.get("reference")
                        .iter()
                        .any(|pat| glob(pat, r) || glob(pat, repo))
                })
                .collect();
            v["RepoDigests"] = json!(matching);
        }
        out.push(v);
    }
    ok_json(&Value::Array(out))
}

/// Shell-style `*` and `?` matching for `reference` filters.
fn glob(pat: &str, s: &str) -> bool {
    fn m(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => m(&p[1..], s) || (!s.is_empty() && s[0] != b'/' && m(p, &s[1..])),
            (Some(b'?'), Some(_)) => m(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    let norm = crate::images::normalize(pat).ok();
    m(pat.as_bytes(), s.as_bytes()) || norm.is_some_and(|n| n == s)
}

fn get_image(d: &Daemon, name: &str) -> Result<Image, ApiError> {
    let s = d.images.lock().unwrap();
    let id = s.resolve(name)?;
    Ok(s.get(&id)
        .cloned()
        .ok_or_else(|| crate::images::ImageError::NotFound(name.to_string()))?)
}

/// An image's container config as dockerd shows it: its Go struct, so the fields
/// without `omitempty` are there even when the image's JSON leaves them out.
fn container_config(stored: Option<&Value>) -> Value {
    let mut full = json!({
        "Hostname": "", "Domainname": "", "User": "",
        "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
        "Tty": false, "OpenStdin": false, "StdinOnce": false,
        "Env": null, "Cmd": null, "Image": "", "Volumes": null, "WorkingDir": "",
        "Entrypoint": null, "OnBuild": null, "Labels": null,
    });
    if let Some(Value::Object(m)) = stored {
        for (k, v) in m {
            full[k] = v.clone();
        }
    }
    full
}

pub fn inspect(ctx: Ctx, name: &str) -> Resp {
    let img = get_image(&ctx.daemon, name)?;
    let s = ctx.daemon.images.lock().unwrap();
    let size = s.size(&img);
    let dirs = s.layer_dirs(&img).unwrap_or_default();
    let c = &img.config;
    let g = |k: &str| c.get(k).cloned().unwrap_or(json!(""));
    let mut v = json!({
        "Id": img.id,
        "RepoTags": s.tags_of(&img.id),
        "RepoDigests": s.digests_of(&img.id),
        "Parent": "",
        "Comment": g("comment"),
        "Created": g("created"),
        "DockerVersion": g("docker_version"),
        "Author": g("author"),
        "Config": container_config(c.get("config")),
        "Architecture": c.get("architecture").cloned().unwrap_or(json!("amd64")),
        "Os": c.get("os").cloned().unwrap_or(json!("linux")),
        "Size": size,
        "GraphDriver": {
            "Data": {
                "MergedDir": dirs.last().map(|p| p.with_file_name("merged")),
                "UpperDir": dirs.last(),
                "WorkDir": dirs.last().map(|p| p.with_file_name("work")),
                "LowerDir": if dirs.len() > 1 { json!(dirs[..dirs.len() - 1].iter().rev().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":")) } else { Value::Null },
            },
            "Name": "overlay2",
        },
        "RootFS": {"Type": "layers", "Layers": c.pointer("/rootfs/diff_ids").cloned().unwrap_or(json!([]))},
        "Metadata": {"LastTagTime": s.last_tag_time(&img.id).unwrap_or_else(|| crate::ids::ZERO_TIME.into())},
    });
    if v["GraphDriver"]["Data"]["LowerDir"].is_null() {
        v["GraphDriver"]["Data"]
            .as_object_mut()
            .unwrap()
            .remove("LowerDir");
    }
    if ctx.version < (1, 45) {
        v["Container"] = json!("");
        v["ContainerConfig"] = container_config(c.get("container_config"));
    }
    if ctx.version < (1, 44) {
        v["VirtualSize"] = json!(size);
    }
    ok_json(&v)
}

pub fn history(ctx: Ctx, name: &str) -> Resp {
    let img = get_image(&ctx.daemon, name)?;
    let s = ctx.daemon.images.lock().unwrap();
    let hist = img
        .config
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut layer_idx = 0;
    let mut out = Vec::new();
    for h in &hist {
        let empty = h
            .get("empty_layer")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let size = if empty {
            0
        } else {
            let sz = img
                .chain
                .get(layer_idx)
                .and_then(|c| s.layer(c))
                .map(|l| l.size)
                .unwrap_or(0);
            layer_idx += 1;
            sz
        };
        out.push(json!({
            "Id": "<missing>",
            "Created": h.get("created").and_then(Value::as_str).map(|t| (crate::logging::parse_time(t) / 1_000_000_000) as i64).unwrap_or(0),
            "CreatedBy": h.get("created_by").and_then(Value::as_str).unwrap_or(""),
            "Tags": null,
            "Size": size,
            "Comment": h.get("comment").and_then(Value::as_str).unwrap_or(""),
        }));
    }
    out.reverse();
    if let Some(first) = out.first_mut() {
        first["Id"] = json!(img.id);
        let tags = s.tags_of(&img.id);
        first["Tags"] = if tags.is_empty() {
            Value::Null
        } else {
            json!(tags)
        };
    }
    ok_json(&Value::Array(out))
}

pub fn tag(ctx: Ctx, name: &str) -> Resp {
    let img = get_image(&ctx.daemon, name)?;
    let repo = ctx.query.get("repo").unwrap_or("");
    let tag = ctx.query.get("tag").unwrap_or("");
    if repo.is_empty() {
        return Err(ApiError::bad_request(
            "repository name must have at least one component",
        ));
    }
    let r = if tag.is_empty() {
        repo.to_string()
    } else {
        format!("{repo}:{tag}")
    };
    ctx.daemon.images.lock().unwrap().tag(&r, &img.id)?;
    let familiar = crate::images::normalize(&r)?;
    ctx.daemon
        .events
        .publish("image", "tag", &img.id, json!({"name": familiar}));
    Ok(Response::builder()
        .status(StatusCode::CREATED)
        .body(super::body::empty())
        .unwrap())
}

pub async fn remove(ctx: Ctx, name: &str) -> Resp {
    let d = ctx.daemon.clone();
    let force = ctx.query.bool("force", false);
    let img = get_image(&d, name)?;
    let users: Vec<(String, bool)> = d
        .containers
        .lock()
        .unwrap()
        .all()
        .iter()
        .filter(|c| c.rec.lock().unwrap().image == img.id)
        .map(|c| (c.id.clone(), c.is_running()))
        .collect();
    // Every `repo:tag` and `repo@digest` of the image, in dockerd's order.
    let refs = |d: &Daemon| d.images.lock().unwrap().references_of(&img.id);
    let untagged = |d: &Daemon, r: &str| {
        d.events
            .publish("image", "untag", &img.id, json!({"name": img.id}));
        json!({ "Untagged": r })
    };
    let before = refs(&d);
    let mut out = Vec::new();
    let by_ref = !is_id_prefix(&img.id, name);
    if by_ref {
        // As dockerd: a name is removed first; the image goes only with its last name.
        if !force && is_single_repository(&before) {
            if let Some((cid, _)) = users.first() {
                return Err(ApiError::conflict(format!(
                    "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
                    &cid[..12],
                    short(&img.id)
                )));
            }
        }
        let named = before
            .iter()
            .find(|r| **r == name || crate::images::normalize(name).ok().as_deref() == Some(r))
            .cloned()
            .unwrap_or_else(|| name.to_string());
        d.images.lock().unwrap().remove_reference(&named)?;
        out.push(untagged(&d, &named));
        // A repository's digests go with its last tag (the store drops them).
        let after = refs(&d);
        for gone in before.iter().filter(|r| **r != named && !after.contains(r)) {
            out.push(untagged(&d, gone));
        }
        if !after.is_empty() || users.iter().any(|(_, running)| *running) {
            return ok_json(&Value::Array(out));
        }
    } else {
        if !force && !is_single_repository(&before) {
            return Err(ApiError::conflict(format!(
                "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                short(&img.id)
            )));
        }
        if let Some((cid, running)) = users.first() {
            if !force || *running {
                let what = if *running { "running" } else { "stopped" };
                return Err(ApiError::conflict(format!(
                    "conflict: unable to delete {} (cannot be forced) - image is being used by {what} container {}",
                    short(&img.id),
                    &cid[..12]
                )));
            }
        }
        for r in &before {
            out.push(untagged(&d, r));
        }
    }
    let deleted = d.images.lock().unwrap().delete(&img.id)?;
    out.push(json!({"Deleted": img.id}));
    for l in deleted {
        out.push(json!({"Deleted": l}));
    }
    d.events
        .publish("image", "delete", &img.id, json!({"name": img.id}));
    ok_json(&Value::Array(out))
}

/// `name` is the image's id or a prefix of it (with or without `sha256:`).
fn is_id_prefix(id: &str, name: &str) -> bool {
    let hex = id.trim_start_matches("sha256:");
    let given = name.strip_prefix("sha256:").unwrap_or(name);
    !given.is_empty() && hex.starts_with(given)
}

/// dockerd's "single reference": at most one tag and every name in one repository.
fn is_single_repository(refs: &[String]) -> bool {
    let repo = |r: &str| {
        r.split_once('@')
            .map(|(a, _)| a.to_string())
            .or_else(|| {
                r.rsplit_once(':')
                    .filter(|(_, t)| !t.contains('/'))
                    .map(|(a, _)| a.to_string())
            })
            .unwrap_or_else(|| r.to_string())
    };
    let tags = refs.iter().filter(|r| !r.contains('@')).count();
    tags <= 1 && refs.windows(2).all(|w| repo(&w[0]) == repo(&w[1]))
}

/// A writer that feeds a streaming response from a blocking thread.
struct ChannelWriter(tokio::sync::mpsc::Sender<Bytes>);

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

pub async fn save(ctx: Ctx, name: Option<String>) -> Resp {
    let d = ctx.daemon.clone();
    let names: Vec<String> = match name {
        Some(n) => vec![n],
        None => ctx
            .query
            .all("names")
            .into_iter()
            .map(String::from)
            .collect(),
    };
    let mut list = Vec::new();
    for n in &names {
        let img = get_image(&d, n)?;
        let tags = match crate::images::normalize(n) {
            Ok(r) if d.images.lock().unwrap().tags_of(&img.id).contains(&r) => vec![r],
            _ => Vec::new(),
        };
        match list
            .iter_mut()
            .find(|(id, _): &&mut (String, Vec<String>)| *id == img.id)
        {
            Some((_, t)) => t.extend(tags),
            None => list.push((img.id.clone(), tags)),
        }
    }
    let (tx, resp) = streaming("application/x-tar");
    let d2: Arc<Daemon> = d.clone();
    tokio::task::spawn_blocking(move || {
        let _ = crate::images::archive::save(
            &d2.images,
            &list,
            std::io::BufWriter::with_capacity(256 * 1024, ChannelWriter(tx)),
        );
    });
    Ok(resp)
}

pub async fn prune(ctx: Ctx) -> Resp {
    let f = ctx.query.filters()?;
    f.validate(&["dangling", "label", "until"])?;
    let dangling_only = f
        .get("dangling")
        .first()
        .is_none_or(|v| v == "true" || v == "1");
    let d = ctx.daemon.clone();
    let used: Vec<String> = d
        .containers
        .lock()
        .unwrap()
        .all()
        .iter()
        .map(|c| c.rec.lock().unwrap().image.clone())
        .collect();
    let mut s = d.images.lock().unwrap();
    let candidates: Vec<(String, u64)> = s
        .all()
        .filter(|i| !used.contains(&i.id))
        .filter(|i| !dangling_only || s.tags_of(&i.id).is_empty())
        .filter(|i| f.labels_match(i.config.pointer("/config/Labels").unwrap_or(&Value::Null)))
        .map(|i| (i.id.clone(), s.size(i)))
        .collect();
    let mut deleted = Vec::new();
    let mut reclaimed = 0;
    for (id, size) in candidates {
        for t in s.references_of(&id) {
            deleted.push(json!({"Untagged": t}));
        }
        if let Ok(layers) = s.delete(&id) {
            deleted.push(json!({"Deleted": id}));
            reclaimed += size;
            for l in layers {
                deleted.push(json!({"Deleted": l}));
            }
        }
    }
    ok_json(
        &json!({"ImagesDeleted": if deleted.is_empty() { Value::Null } else { Value::Array(deleted) }, "SpaceReclaimed": reclaimed}),
    )
}

pub async fn commit(ctx: Ctx) -> Resp {
    let d = ctx.daemon.clone();
    let q = &ctx.query;
    let cid = q.get("container").unwrap_or("").to_string();
    let repo = q.get("repo").unwrap_or("").to_string();
    let tag = q.get("tag").unwrap_or("").to_string();
    let comment = q.get("comment").unwrap_or("").to_string();
    let author = q.get("author").unwrap_or("").to_string();
    let changes: Vec<String> = q.all("changes").into_iter().map(String::from).collect();
    // The body first: answering before the client has written it breaks its pipe.
    let overrides = read_json(ctx.req).await?;
    let c = d.container(&cid)?;
    let rec = c.snapshot();
    let base = get_image(&d, &rec.image)?;
    let mut config = base.config.get("config").cloned().unwrap_or(json!({}));
    for k in [
        "Cmd",
        "Entrypoint",
        "Env",
        "WorkingDir",
        "User",
        "Labels",
        "ExposedPorts",
        "Volumes",
        "StopSignal",
    ] {
        if let Some(v) = rec.config.get(k) {
            if !v.is_null() {
                config[k] = v.clone();
            }
        }
    }
    if let Some(o) = overrides.as_object() {
        for (k, v) in o {
            if !v.is_null() {
                config[k] = v.clone();
            }
        }
    }
    let ch: Vec<&str> = changes.iter().map(String::as_str).collect();
    apply_changes(&mut config, &ch)?;
    let upper = crate::containers::rootfs::RootfsDirs::new(&d.data_root, &c.id).upper();
    let tmp = d
        .images
        .lock()
        .unwrap()
        .tmp_dir()
        .join(format!("commit-{}.tar", &crate::ids::random_id()[..16]));
    let d2 = d.clone();
    let tmp2 = tmp.clone();
    let base2 = base.clone();
    let cid2 = c.id.clone();
    let res = tokio::task::spawn_blocking(move || -> Result<String, ApiError> {
        {
            let f = std::fs::File::create(&tmp2)?;
            let mut w = std::io::BufWriter::new(f);
            crate::images::layers::pack_dir(&upper, &mut w, true)?;
        }
        let parent = base2.chain.last().cloned();
        let staged = d2.images.lock().unwrap().staging_dir();
        std::fs::create_dir_all(staged.join("diff"))?;
        let mut reader = crate::images::layers::HashingReader::new(std::fs::File::open(&tmp2)?);
        let size = crate::images::layers::unpack(&mut reader, &staged.join("diff"))
            .map_err(|e| ApiError::internal(e.to_string()))?;
        std::io::copy(&mut reader, &mut std::io::sink())?;
        let diff_id = reader.digest();
        let (_layer, _) = d2.images.lock().unwrap().commit_layer(
            parent.as_deref(),
            &diff_id,
            size,
            &staged,
            Some(&tmp2),
        )?;
        let now = crate::ids::now_rfc3339();
        let mut img = base2.config.clone();
        img["config"] = config;
        img["created"] = json!(now);
        img["container"] = json!(cid2);
        if !author.is_empty() {
            img["author"] = json!(author);
        }
        img["comment"] = json!(comment);
        let mut hist = img
            .get("history")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        hist.push(json!({"created": now, "comment": comment}));
        img["history"] = json!(hist);
        let mut diffs = img
            .pointer("/rootfs/diff_ids")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        diffs.push(json!(diff_id));
        img["rootfs"] = json!({"type": "layers", "diff_ids": diffs});
        let mut s = d2.images.lock().unwrap();
        let image = s.add_image(serde_json::to_vec(&img).unwrap())?;
        if !repo.is_empty() {
            let r = if tag.is_empty() {
                repo.clone()
            } else {
                format!("{repo}:{tag}")
            };
            s.tag(&r, &image.id)?;
        }
        Ok(image.id)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let _ = std::fs::remove_file(&tmp);
    let id = res?;
    d.event(
        &c,
        "commit",
        json!({"comment": q.get("comment").unwrap_or("")}),
    );
    Ok(json_response(StatusCode::CREATED, &json!({"Id": id})))
}
