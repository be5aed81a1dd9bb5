//! Volume endpoints (local driver): create, list, inspect, remove (refused while in
//! use), prune.

use serde_json::{json, Value};

use super::body::{json_response, no_content, ok_json, read_json};
use super::{ApiError, Ctx, Resp};

pub async fn create(ctx: Ctx) -> Resp {
    let d = ctx.daemon.clone();
    let body = read_json(ctx.req).await?;
    let name = body
        .get("Name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(String::from);
    if let Some(n) = &name {
        if !crate::containers::valid_name(n) || n.len() < 2 {
            return Err(ApiError::bad_request(format!(
                "create {n}: \"{n}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
            )));
        }
    }
    let driver = body
        .get("Driver")
        .and_then(Value::as_str)
        .unwrap_or("local");
    if driver != "local" && !driver.is_empty() {
        return Err(ApiError::not_found(format!(
            "error looking up volume plugin {driver}: plugin \"{driver}\" not found"
        )));
    }
    let (v, created) = d.volumes.lock().unwrap().create(
        name.as_deref(),
        body.get("Labels").cloned().unwrap_or(Value::Null),
        body.get("DriverOpts").cloned().unwrap_or(Value::Null),
    )?;
    let j = d.volumes.lock().unwrap().to_json(&v);
    if created {
        d.events
            .publish("volume", "create", &v.name, json!({"driver": "local"}));
    }
    Ok(json_response(hyper::StatusCode::CREATED, &j))
}

pub fn list(ctx: Ctx) -> Resp {
    let f = ctx.query.filters()?;
    f.validate(&["dangling", "driver", "label", "name"])?;
    let d = &ctx.daemon;
    let vols = d.volumes.lock().unwrap();
    let mut out = Vec::new();
    for v in vols.all() {
        if !f.get("name").is_empty() && !f.get("name").iter().any(|n| v.name.contains(n.as_str())) {
            continue;
        }
        if let Some(dg) = f.get("dangling").first() {
            let want = dg == "true" || dg == "1";
            if want == d.volume_in_use(&v.name) {
                continue;
            }
        }
        if !f.labels_match(&v.labels) {
            continue;
        }
        out.push(vols.to_json(v));
    }
    ok_json(&json!({"Volumes": out, "Warnings": null}))
}

pub fn inspect(ctx: Ctx, name: &str) -> Resp {
    let vols = ctx.daemon.volumes.lock().unwrap();
    let v = vols
        .get(name)
        .ok_or_else(|| crate::volumes::VolumeError::NotFound(name.to_string()))?;
    ok_json(&vols.to_json(v))
}

pub async fn remove(ctx: Ctx, name: &str) -> Resp {
    let d = ctx.daemon.clone();
    let users = d.volume_users(name);
    if d.volumes.lock().unwrap().get(name).is_none() {
        if ctx.query.bool("force", false) {
            return no_content();
        }
        return Err(crate::volumes::VolumeError::NotFound(name.to_string()).into());
    }
    if !users.is_empty() {
        return Err(ApiError::conflict(format!(
            "remove {name}: volume is in use - [{}]",
            users.join(", ")
        )));
    }
    d.volumes.lock().unwrap().remove(name)?;
    d.events
        .publish("volume", "destroy", name, json!({"driver": "local"}));
    no_content()
}

pub async fn prune(ctx: Ctx) -> Resp {
    let f = ctx.query.filters()?;
    f.validate(&["label", "label!", "all"])?;
    let all = f
        .get("all")
        .first()
        .is_some_and(|a| a == "true" || a == "1");
    let d = ctx.daemon.clone();
    let candidates: Vec<(String, bool)> = d
        .volumes
        .lock()
        .unwrap()
        .all()
        .filter(|v| f.labels_match(&v.labels))
        .map(|v| (v.name.clone(), v.anonymous))
        .collect();
    let mut deleted = Vec::new();
    let mut reclaimed = 0;
    for (name, anonymous) in candidates {
        if (!anonymous && !all) || d.volume_in_use(&name) {
            continue;
        }
        let size = crate::images::layers::dir_size(&d.volumes.lock().unwrap().data_dir(&name));
        if d.volumes.lock().unwrap().remove(&name).is_ok() {
            d.events
                .publish("volume", "destroy", &name, json!({"driver": "local"}));
            deleted.push(name);
            reclaimed += size;
        }
    }
    ok_json(
        &json!({"VolumesDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) }, "SpaceReclaimed": reclaimed}),
    )
}
