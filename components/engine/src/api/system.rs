//! System endpoints: `_ping`, `version`, `info`, `events`, `system/df`.

use std::time::Duration;

use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use super::binaries::Parts;
use super::body::{empty, full, ok_json, streaming};
use super::{Ctx, Resp, API_VERSION, MIN_API_VERSION};

pub fn ping(head: bool) -> Resp {
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "text/plain; charset=utf-8")
        .header("Cache-Control", "no-cache, no-store, must-revalidate")
        .header("Pragma", "no-cache")
        .header("Builder-Version", "1")
        .header("Swarm", "inactive")
        .body(if head { empty() } else { full("OK") })
        .unwrap())
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string()
}

pub async fn version(ctx: Ctx) -> Resp {
    let kernel = kernel_version();
    let parts = Parts::probe(&ctx.daemon).await;
    let mut components = vec![
        json!({"Name": "Engine", "Version": buildinfo::VERSION, "Details": {
        "ApiVersion": API_VERSION, "Arch": "amd64", "BuildTime": buildinfo::BUILD_TIME,
        "Experimental": "false", "GitCommit": buildinfo::GIT_COMMIT, "GoVersion": buildinfo::RUSTC,
        "KernelVersion": kernel, "MinAPIVersion": MIN_API_VERSION, "Os": "linux"}}),
    ];
    components.extend(parts.components());
    ok_json(&json!({
        "Platform": {"Name": "Docker Engine - Community"},
        "Components": components,
        "Version": buildinfo::VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": buildinfo::GIT_COMMIT,
        "GoVersion": buildinfo::RUSTC,
        "Os": "linux",
        "Arch": "amd64",
        "KernelVersion": kernel,
        "BuildTime": buildinfo::BUILD_TIME,
    }))
}

fn os_name() -> String {
    os_release("PRETTY_NAME").unwrap_or_else(|| "Linux".into())
}

/// A value of /etc/os-release, unquoted.
fn os_release(key: &str) -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|v| v.strip_prefix('='))
            .map(|v| v.trim_matches('"').to_string())
    })
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

pub async fn info(ctx: Ctx) -> Resp {
    let d = &ctx.daemon;
    let cfg = d.config();
    let all = d.containers.lock().unwrap().all();
    let (mut running, mut paused, mut stopped) = (0, 0, 0);
    for c in &all {
        let st = c.rec.lock().unwrap().state.clone();
        if st.paused {
            paused += 1;
        } else if st.running {
            running += 1;
        } else {
            stopped += 1;
        }
    }
    let images = d.images.lock().unwrap().all().count();
    let mut runtimes = json!({"runc": {"path": "runc"}, "io.containerd.runc.v2": {"path": "runc"}});
    for (n, p) in &cfg.runtimes {
        runtimes[n] = json!({"path": p});
    }
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string();
    let id_file = d.data_root.join("engine-id");
    let id = std::fs::read_to_string(&id_file).unwrap_or_else(|_| {
        let r = crate::ids::random_id();
        let id = format!(
            "{}-{}-{}-{}-{}",
            &r[..8],
            &r[8..12],
            &r[12..16],
            &r[16..20],
            &r[20..32]
        );
        let _ = std::fs::write(&id_file, &id);
        id
    });
    let parts = Parts::probe(d).await;
    let mut info = json!({
        "ID": id,
        "Containers": all.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": stopped,
        "Images": images,
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"], ["Using metacopy", "false"], ["Native Overlay Diff", "true"], ["userxattr", "false"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Authorization": null, "Log": ["json-file", "local", "none"]},
        "MemoryLimit": true,
        "SwapLimit": true,
        "CpuCfsPeriod": true,
        "CpuCfsQuota": true,
        "CPUShares": true,
        "CPUSet": true,
        "PidsLimit": true,
        "IPv4Forwarding": true,
        "Debug": cfg.flags.debug,
        "NFd": std::fs::read_dir("/proc/self/fd").map(|r| r.count()).unwrap_or(0),
        "OomKillDisable": true,
        "NGoroutines": 0,
        "SystemTime": crate::ids::now_rfc3339(),
        "LoggingDriver": cfg.flags.log_driver,
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() { "2" } else { "1" },
        "NEventsListener": 0,
        "KernelVersion": kernel_version(),
        "OperatingSystem": os_name(),
        "OSVersion": os_release("VERSION_ID").unwrap_or_default(),
        "OSType": "linux",
        "Architecture": "x86_64",
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "InsecureRegistryCIDRs": ["::1/128", "127.0.0.0/8"],
            "IndexConfigs": {"docker.io": {"Name": "docker.io", "Mirrors": cfg.flags.registry_mirrors, "Secure": true, "Official": true}},
            "Mirrors": cfg.flags.registry_mirrors,
        },
        "NCPU": ncpu,
        "MemTotal": mem_total(),
        "GenericResources": null,
        "DockerRootDir": d.data_root,
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": hostname,
        "Labels": cfg.labels,
        "ExperimentalBuild": cfg.flags.experimental,
        "ServerVersion": buildinfo::VERSION,
        "Runtimes": runtimes,
        "DefaultRuntime": cfg.flags.default_runtime,
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
        "LiveRestoreEnabled": cfg.flags.live_restore,
        "Isolation": "",
        "InitBinary": "docker-init",
        "SecurityOptions": ["name=seccomp,profile=builtin"],
        "Warnings": null,
    });
    for (k, v) in parts.commits() {
        info[k] = v;
    }
    ok_json(&info)
}

/// `since`/`until`: unix seconds (with optional fraction) or RFC 3339.
fn parse_ts(s: &str) -> Option<i128> {
    if let Ok(f) = s.parse::<f64>() {
        return Some((f * 1e9) as i128);
    }
    let n = crate::logging::parse_time(s);
    (n != 0).then_some(n)
}

pub async fn events(ctx: Ctx) -> Resp {
    let filters = ctx.query.filters()?;
    filters.validate(&[
        "container",
        "daemon",
        "event",
        "image",
        "label",
        "network",
        "node",
        "plugin",
        "scope",
        "secret",
        "service",
        "type",
        "volume",
        "config",
    ])?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128;
    let since = ctx.query.get("since").and_then(parse_ts);
    let until = ctx.query.get("until").and_then(parse_ts);
    let (history, mut rx) = ctx.daemon.events.subscribe();
    let (tx, resp) = streaming("application/json");
    let nanos = |e: &Value| e.get("timeNano").and_then(Value::as_i64).unwrap_or(0) as i128;
    tokio::spawn(async move {
        let send = |e: &Value| {
            let mut line = serde_json::to_vec(e).unwrap();
            line.push(b'\n');
            bytes::Bytes::from(line)
        };
        if let Some(s) = since {
            for e in history
                .iter()
                .filter(|e| nanos(e) >= s && until.is_none_or(|u| nanos(e) <= u))
            {
                if crate::events::matches(e, &filters) && tx.send(send(e)).await.is_err() {
                    return;
                }
            }
        }
        if until.is_some_and(|u| u <= now) {
            return;
        }
        loop {
            let ev = match until {
                Some(u) => {
                    let left = Duration::from_nanos(
                        (u - std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap()
                            .as_nanos() as i128)
                            .max(0) as u64,
                    );
                    match tokio::time::timeout(left, rx.recv()).await {
                        Ok(r) => r,
                        Err(_) => return,
                    }
                }
                None => tokio::select! {
                    r = rx.recv() => r,
                    _ = tx.closed() => return,
                },
            };
            match ev {
                Ok(e) => {
                    if crate::events::matches(&e, &filters) && tx.send(send(&e)).await.is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            }
        }
    });
    Ok(resp)
}

pub async fn df(ctx: Ctx) -> Resp {
    let d = &ctx.daemon;
    let (images, layers_size) = {
        let s = d.images.lock().unwrap();
        let mut total = 0;
        let imgs: Vec<Value> = s
            .all()
            .map(|i| {
                let size = s.size(i);
                total += size;
                super::images::summary(&s, i, (1, 47), size)
            })
            .collect();
        (imgs, total)
    };
    let containers: Vec<Value> = {
        let all = d.containers.lock().unwrap().all();
        all.iter()
            .map(|c| super::containers::summary(d, c, true))
            .collect()
    };
    let vols: Vec<Value> = {
        let v = d.volumes.lock().unwrap();
        v.all()
            .map(|vol| {
                let mut j = v.to_json(vol);
                let size = crate::images::layers::dir_size(&v.data_dir(&vol.name));
                j["UsageData"] = json!({"RefCount": d.volume_users(&vol.name).len(), "Size": size});
                j
            })
            .collect()
    };
    ok_json(
        &json!({"LayersSize": layers_size, "Images": images, "Containers": containers, "Volumes": vols, "BuildCache": []}),
    )
}
