//! Container lifecycle on the daemon: create (config merged with the image, mounts,
//! name), start (rootfs, spec, FIFOs, containerd task), the exit monitor (state,
//! restart policy, auto-remove), stop/kill/pause, remove, and restore at daemon start.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::io::{self, Fifos, SharedLog};
use super::rootfs::RootfsDirs;
use super::spec::{self, SpecInputs};
use super::{valid_name, Container, ContainerError, MountPoint, Progress, Record, State};
use crate::daemon::Daemon;
use crate::ids;
use crate::logging::LogFile;

type Result<T> = std::result::Result<T, ContainerError>;

pub fn signal_number(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return Some(n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    Some(match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" | "IOT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "CHLD" => 17,
        "CONT" => 18,
        "STOP" => 19,
        "TSTP" => 20,
        "TTIN" => 21,
        "TTOU" => 22,
        "URG" => 23,
        "XCPU" => 24,
        "XFSZ" => 25,
        "VTALRM" => 26,
        "PROF" => 27,
        "WINCH" => 28,
        "IO" | "POLL" => 29,
        "PWR" => 30,
        "SYS" => 31,
        _ => return None,
    })
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

fn env_key(e: &str) -> &str {
    e.split_once('=').map(|(k, _)| k).unwrap_or(e)
}

impl Daemon {
    pub fn container(&self, r: &str) -> Result<Arc<Container>> {
        self.containers.lock().unwrap().get(r)
    }

    fn container_dir(&self, id: &str) -> PathBuf {
        self.data_root.join("containers").join(id)
    }

    fn rootfs(&self, id: &str) -> RootfsDirs {
        RootfsDirs::new(&self.data_root, id)
    }

    pub fn event(&self, c: &Container, action: &str, extra: Value) {
        let rec = c.snapshot();
        let mut attrs = json!({"image": rec.config.get("Image").cloned().unwrap_or(json!("")), "name": rec.name.trim_start_matches('/')});
        if let Some(labels) = rec.config.get("Labels").and_then(Value::as_object) {
            for (k, v) in labels {
                attrs[k] = v.clone();
            }
        }
        if let Some(o) = extra.as_object() {
            for (k, v) in o {
                attrs[k] = v.clone();
            }
        }
        self.events.publish("container", action, &c.id, attrs);
    }

    /// `POST /containers/create`.
    pub fn create_container(
        &self,
        body: Value,
        name: Option<&str>,
    ) -> Result<(String, Vec<String>)> {
        let mut cfg = body.clone();
        let obj = cfg.as_object_mut().ok_or_else(|| {
            ContainerError::BadRequest(
                "config cannot be empty in order to create a container".into(),
            )
        })?;
        let mut hc = obj.remove("HostConfig").unwrap_or(json!({}));
        if hc.is_null() {
            hc = json!({});
        }
        let netcfg = obj.remove("NetworkingConfig");
        let image_ref = obj
            .get("Image")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if image_ref.is_empty() {
            return Err(ContainerError::BadRequest(
                "config cannot be empty in order to create a container".into(),
            ));
        }
        let (image_id, image_cfg, lowers) = {
            let images = self.images.lock().unwrap();
            let id = images.resolve(&image_ref).map_err(|_| {
                ContainerError::NotFound(format!(
                    "No such image: {}",
                    crate::images::normalize(&image_ref).unwrap_or(image_ref.clone())
                ))
            })?;
            let img = images.get(&id).unwrap().clone();
            let lowers = images
                .layer_dirs(&img)
                .map_err(|e| ContainerError::Internal(e.to_string()))?;
            (
                id,
                img.config.get("config").cloned().unwrap_or(json!({})),
                lowers,
            )
        };
        let ic = |k: &str| image_cfg.get(k).cloned().unwrap_or(Value::Null);

        // Entrypoint and Cmd: an explicit entrypoint drops the image's Cmd.
        let explicit_ep = obj.get("Entrypoint").filter(|v| !v.is_null()).cloned();
        let entrypoint = match &explicit_ep {
            Some(ep) => strs(Some(ep)),
            None => strs(Some(&ic("Entrypoint"))),
        };
        let mut cmd = strs(obj.get("Cmd"));
        if cmd.is_empty() && explicit_ep.is_none() {
            cmd = strs(Some(&ic("Cmd")));
        }
        let mut argv = entrypoint.clone();
        argv.extend(cmd.iter().cloned());
        if argv.is_empty() || argv[0].is_empty() {
            return Err(ContainerError::BadRequest("no command specified".into()));
        }
        obj.insert(
            "Entrypoint".into(),
            if entrypoint.is_empty() {
                Value::Null
            } else {
                json!(entrypoint)
            },
        );
        obj.insert(
            "Cmd".into(),
            if cmd.is_empty() {
                Value::Null
            } else {
                json!(cmd)
            },
        );

        // Env: the image's, overridden key by key.
        let mut env = strs(Some(&ic("Env")));
        for e in strs(obj.get("Env")) {
            env.retain(|x| env_key(x) != env_key(&e));
            env.push(e);
        }
        obj.insert("Env".into(), json!(env));
        for k in ["WorkingDir", "User", "StopSignal"] {
            let empty = obj.get(k).and_then(Value::as_str).unwrap_or("").is_empty();
            if empty {
                if let Some(v) = image_cfg
                    .get(k)
                    .and_then(Value::as_str)
                    .filter(|v| !v.is_empty())
                {
                    obj.insert(k.into(), json!(v));
                } else if k != "StopSignal" {
                    obj.insert(k.into(), json!(""));
                }
            }
        }
        let mut labels = image_cfg
            .get("Labels")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or(json!({}));
        if let Some(l) = obj.get("Labels").and_then(Value::as_object) {
            for (k, v) in l {
                labels[k] = v.clone();
            }
        }
        obj.insert("Labels".into(), labels);
        let mut vols = image_cfg
            .get("Volumes")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or(json!({}));
        if let Some(v) = obj.get("Volumes").and_then(Value::as_object) {
            for (k, x) in v {
                vols[k] = x.clone();
            }
        }
        if let Some(p) = image_cfg.get("ExposedPorts").filter(|p| p.is_object()) {
            if obj.get("ExposedPorts").is_none_or(Value::is_null) {
                obj.insert("ExposedPorts".into(), p.clone());
            }
        }

        let id = ids::random_id();
        if obj
            .get("Hostname")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            obj.insert("Hostname".into(), json!(&id[..12]));
        }
        for (k, d) in [
            ("Domainname", json!("")),
            ("AttachStdin", json!(false)),
            ("AttachStdout", json!(false)),
            ("AttachStderr", json!(false)),
            ("Tty", json!(false)),
            ("OpenStdin", json!(false)),
            ("StdinOnce", json!(false)),
        ] {
            if obj.get(k).is_none_or(Value::is_null) {
                obj.insert(k.into(), d);
            }
        }
        obj.insert(
            "Volumes".into(),
            if vols.as_object().is_some_and(|m| m.is_empty()) {
                Value::Null
            } else {
                vols.clone()
            },
        );

        // HostConfig defaults as dockerd fills them.
        let dcfg = self.config();
        let h = hc
            .as_object_mut()
            .ok_or_else(|| ContainerError::BadRequest("invalid HostConfig".into()))?;
        let net = h
            .get("NetworkMode")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if net.is_empty() || net == "default" {
            h.insert("NetworkMode".into(), json!("bridge"));
        } else {
            self.net_check_mode(&net)?;
        }
        if h.get("RestartPolicy").is_none_or(|r| {
            r.get("Name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
        }) {
            h.insert(
                "RestartPolicy".into(),
                json!({"Name": "no", "MaximumRetryCount": 0}),
            );
        }
        let rp = h["RestartPolicy"]["Name"]
            .as_str()
            .unwrap_or("no")
            .to_string();
        if !["no", "always", "unless-stopped", "on-failure"].contains(&rp.as_str()) {
            return Err(ContainerError::BadRequest(format!("invalid restart policy: unknown policy '{rp}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'")));
        }
        if rp != "no"
            && h.get("AutoRemove")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        {
            return Err(ContainerError::BadRequest(
                "conflicting options: cannot specify both --restart and --rm".into(),
            ));
        }
        // As dockerd merges them: the daemon's driver when none is named, and the
        // daemon's options under the container's own when the drivers are the same.
        let mut log_cfg = h.get("LogConfig").cloned().unwrap_or(json!({}));
        if log_cfg
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            log_cfg["Type"] = json!(dcfg.flags.log_driver);
        }
        if !log_cfg.get("Config").is_some_and(Value::is_object) {
            log_cfg["Config"] = json!({});
        }
        if log_cfg["Type"] == dcfg.flags.log_driver.as_str() {
            for (k, v) in &dcfg.log_opts {
                if log_cfg["Config"].get(k).is_none() {
                    log_cfg["Config"][k] = json!(v);
                }
            }
        }
        h.insert("LogConfig".into(), log_cfg);
        let log_type = h["LogConfig"]["Type"]
            .as_str()
            .unwrap_or("json-file")
            .to_string();
        if !["json-file", "local", "none"].contains(&log_type.as_str()) {
            return Err(ContainerError::BadRequest(format!("failed to create task for container: logger: no log driver named '{log_type}' is registered")));
        }
        if h.get("Runtime")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            h.insert("Runtime".into(), json!(dcfg.flags.default_runtime));
        }
        let runtime = h["Runtime"].as_str().unwrap().to_string();
        if runtime != "runc" && !dcfg.runtimes.contains_key(&runtime) {
            return Err(ContainerError::BadRequest(format!(
                "unknown or invalid runtime name: {runtime}"
            )));
        }
        if h.get("Init").is_none_or(Value::is_null) && dcfg.flags.init {
            h.insert("Init".into(), json!(true));
        }
        for (k, d) in [
            ("Binds", Value::Null),
            ("ContainerIDFile", json!("")),
            ("PortBindings", json!({})),
            ("AutoRemove", json!(false)),
            ("VolumeDriver", json!("")),
            ("VolumesFrom", Value::Null),
            ("CapAdd", Value::Null),
            ("CapDrop", Value::Null),
            ("CgroupnsMode", json!("host")),
            ("Dns", json!([])),
            ("DnsOptions", json!([])),
            ("DnsSearch", json!([])),
            ("ExtraHosts", Value::Null),
            ("GroupAdd", Value::Null),
            ("IpcMode", json!("private")),
            ("Cgroup", json!("")),
            ("Links", Value::Null),
            ("OomScoreAdj", json!(0)),
            ("PidMode", json!("")),
            ("Privileged", json!(false)),
            ("PublishAllPorts", json!(false)),
            ("ReadonlyRootfs", json!(false)),
            ("SecurityOpt", Value::Null),
            ("UTSMode", json!("")),
            ("UsernsMode", json!("")),
            ("ShmSize", json!(67108864)),
            ("ConsoleSize", json!([0, 0])),
            ("Isolation", json!("")),
            ("CpuShares", json!(0)),
            ("Memory", json!(0)),
            ("NanoCpus", json!(0)),
            ("CgroupParent", json!("")),
            ("BlkioWeight", json!(0)),
            ("CpuPeriod", json!(0)),
            ("CpuQuota", json!(0)),
            ("CpusetCpus", json!("")),
            ("CpusetMems", json!("")),
            ("Devices", json!([])),
            ("MemoryReservation", json!(0)),
            ("MemorySwap", json!(0)),
            ("PidsLimit", Value::Null),
            ("Ulimits", Value::Null),
            ("MaskedPaths", Value::Null),
            ("ReadonlyPaths", Value::Null),
        ] {
            if h.get(k).is_none() || (h[k].is_null() && !d.is_null()) {
                h.insert(k.into(), d);
            }
        }
        if h.get("ShmSize").and_then(Value::as_i64) == Some(0) {
            h.insert("ShmSize".into(), json!(67108864));
        }
        fill_as_dockerd(h);
        spec::capabilities(&hc)?;

        let name = match name {
            Some(n) if !n.is_empty() => {
                if !valid_name(n) {
                    return Err(ContainerError::BadRequest(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                format!("/{}", n.trim_start_matches('/'))
            }
            _ => {
                let store = self.containers.lock().unwrap();
                let mut n = 0;
                loop {
                    let cand = format!("/{}", ids::random_name(n));
                    if store.get(&cand).is_err() {
                        break cand;
                    }
                    n += 1;
                }
            }
        };
        self.containers.lock().unwrap().reserve_name(&name, &id)?;
        let result = self.net_attach(&id, &hc, netcfg.as_ref()).and_then(|_| {
            self.create_rest(
                &id,
                &name,
                cfg.clone(),
                hc.clone(),
                &image_id,
                &lowers,
                &vols,
                &argv,
            )
        });
        if result.is_err() {
            self.net_forget(&id);
            self.containers.lock().unwrap().release_name(&name);
            let _ = std::fs::remove_dir_all(self.container_dir(&id));
            let _ = self.rootfs(&id).remove();
        }
        result.map(|_| (id, Vec::new()))
    }

    #[allow(clippy::too_many_arguments)]
    fn create_rest(
        &self,
        id: &str,
        name: &str,
        cfg: Value,
        hc: Value,
        image_id: &str,
        lowers: &[PathBuf],
        vols: &Value,
        argv: &[String],
    ) -> Result<()> {
        let mounts = self.parse_mounts(&hc, vols)?;
        let dir = self.container_dir(id);
        std::fs::create_dir_all(&dir)?;
        self.rootfs(id).create(lowers)?;
        let rec = Record {
            id: id.to_string(),
            created: ids::now_rfc3339(),
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            config: cfg,
            host_config: hc,
            image: image_id.to_string(),
            name: name.to_string(),
            restart_count: 0,
            state: State {
                status: "created".into(),
                started_at: ids::ZERO_TIME.into(),
                finished_at: ids::ZERO_TIME.into(),
                ..Default::default()
            },
            log_path: dir.join(format!("{id}-json.log")).display().to_string(),
            mounts,
            has_been_started: false,
            manually_stopped: false,
            sandbox_id: String::new(),
            sandbox_key: String::new(),
        };
        let c = Arc::new(Container::new(dir, rec));
        c.save()?;
        self.containers.lock().unwrap().insert(c.clone());
        self.event(&c, "create", json!({}));
        Ok(())
    }

    /// Binds, Mounts, Tmpfs, VolumesFrom and declared volumes -> mount points.
    fn parse_mounts(&self, hc: &Value, declared: &Value) -> Result<Vec<MountPoint>> {
        let mut out: Vec<MountPoint> = Vec::new();
        let mut vols = self.volumes.lock().unwrap();
        let bad = |m: String| ContainerError::BadRequest(m);
        let mut volume =
            |name: Option<&str>, labels: Value, opts: Value| -> Result<(String, String)> {
                let (v, _) = vols
                    .create(name, labels, opts)
                    .map_err(|e| ContainerError::Internal(e.to_string()))?;
                Ok((v.name.clone(), vols.data_dir(&v.name).display().to_string()))
            };
        for from in strs(hc.get("VolumesFrom")) {
            let (cid, mode) = from.split_once(':').unwrap_or((&from, ""));
            let other = self.containers.lock().unwrap().get(cid)?;
            for m in other.snapshot().mounts {
                if m.kind == "tmpfs" {
                    continue;
                }
                let mut m = m.clone();
                if mode == "ro" {
                    m.rw = false;
                }
                out.push(m);
            }
        }
        for b in strs(hc.get("Binds")) {
            let parts: Vec<&str> = b.split(':').collect();
            if parts.len() < 2 || parts.len() > 3 {
                return Err(bad(format!("invalid volume specification: '{b}'")));
            }
            let (src, dst) = (parts[0], parts[1]);
            if !dst.starts_with('/') {
                return Err(bad(format!("invalid volume specification: '{b}': invalid mount config for type \"bind\": invalid mount path: '{dst}' mount path must be absolute")));
            }
            let opts: Vec<&str> = parts
                .get(2)
                .map(|o| o.split(',').collect())
                .unwrap_or_default();
            let rw = !opts.contains(&"ro");
            let propagation = opts
                .iter()
                .find(|o| o.contains("shared") || o.contains("slave") || o.contains("private"))
                .map(|s| s.to_string())
                .unwrap_or_default();
            out.retain(|m| m.destination != dst);
            if src.starts_with('/') {
                std::fs::create_dir_all(src).ok();
                out.push(MountPoint {
                    kind: "bind".into(),
                    name: String::new(),
                    source: src.into(),
                    destination: dst.into(),
                    rw,
                    mode: parts.get(2).unwrap_or(&"").to_string(),
                    propagation: if propagation.is_empty() {
                        "rprivate".into()
                    } else {
                        propagation
                    },
                    options: vec![],
                });
            } else {
                let (n, p) = volume(Some(src), json!(null), json!(null))?;
                out.push(MountPoint {
                    kind: "volume".into(),
                    name: n,
                    source: p,
                    destination: dst.into(),
                    rw,
                    mode: parts.get(2).unwrap_or(&"z").to_string(),
                    propagation: String::new(),
                    options: vec![],
                });
            }
        }
        for m in hc
            .get("Mounts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let target = s("Target");
            if !target.starts_with('/') {
                return Err(bad(format!("invalid mount config for type \"{}\": invalid mount path: '{target}' mount path must be absolute", s("Type"))));
            }
            let rw = !m.get("ReadOnly").and_then(Value::as_bool).unwrap_or(false);
            out.retain(|x| x.destination != target);
            match s("Type").as_str() {
                "bind" => {
                    let src = s("Source");
                    if !Path::new(&src).exists() {
                        return Err(bad(format!("invalid mount config for type \"bind\": bind source path does not exist: {src}")));
                    }
                    let prop = m
                        .pointer("/BindOptions/Propagation")
                        .and_then(Value::as_str)
                        .unwrap_or("rprivate")
                        .to_string();
                    out.push(MountPoint {
                        kind: "bind".into(),
                        name: String::new(),
                        source: src,
                        destination: target,
                        rw,
                        mode: String::new(),
                        propagation: prop,
                        options: vec![],
                    });
                }
                "volume" => {
                    let src = s("Source");
                    let labels = m
                        .pointer("/VolumeOptions/Labels")
                        .cloned()
                        .unwrap_or(Value::Null);
                    let (n, p) = volume(
                        if src.is_empty() { None } else { Some(&src) },
                        labels,
                        Value::Null,
                    )?;
                    out.push(MountPoint {
                        kind: "volume".into(),
                        name: n,
                        source: p,
                        destination: target,
                        rw,
                        mode: "z".into(),
                        propagation: String::new(),
                        options: vec![],
                    });
                }
                "tmpfs" => {
                    let mut opts = Vec::new();
                    if let Some(sz) = m.pointer("/TmpfsOptions/SizeBytes").and_then(Value::as_i64) {
                        opts.push(format!("size={sz}"));
                    }
                    if let Some(mode) = m.pointer("/TmpfsOptions/Mode").and_then(Value::as_u64) {
                        opts.push(format!("mode={mode:o}"));
                    }
                    out.push(MountPoint {
                        kind: "tmpfs".into(),
                        name: String::new(),
                        source: String::new(),
                        destination: target,
                        rw,
                        mode: String::new(),
                        propagation: String::new(),
                        options: opts,
                    });
                }
                t => return Err(bad(format!("mount type unknown: {t:?}"))),
            }
        }
        if let Some(t) = hc.get("Tmpfs").and_then(Value::as_object) {
            for (dst, opts) in t {
                out.retain(|x| &x.destination != dst);
                let options = opts
                    .as_str()
                    .unwrap_or("")
                    .split(',')
                    .filter(|o| !o.is_empty())
                    .map(String::from)
                    .collect();
                out.push(MountPoint {
                    kind: "tmpfs".into(),
                    name: String::new(),
                    source: String::new(),
                    destination: dst.clone(),
                    rw: true,
                    mode: String::new(),
                    propagation: String::new(),
                    options,
                });
            }
        }
        if let Some(d) = declared.as_object() {
            for dst in d.keys() {
                if !out.iter().any(|m| &m.destination == dst) {
                    let (n, p) = volume(None, Value::Null, Value::Null)?;
                    out.push(MountPoint {
                        kind: "volume".into(),
                        name: n,
                        source: p,
                        destination: dst.clone(),
                        rw: true,
                        mode: String::new(),
                        propagation: String::new(),
                        options: vec![],
                    });
                }
            }
        }
        Ok(out)
    }

    fn write_etc_files(&self, c: &Container) -> Result<()> {
        let rec = c.snapshot();
        let hostname = rec
            .config
            .get("Hostname")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let host_net = rec.host_config.get("NetworkMode").and_then(Value::as_str) == Some("host");
        let dir = &c.dir;
        if host_net {
            std::fs::copy("/etc/hosts", dir.join("hosts")).ok();
            let h = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
            std::fs::write(dir.join("hostname"), h)?;
        } else {
            std::fs::write(dir.join("hostname"), format!("{hostname}\n"))?;
            let mut hosts = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n");
            for e in strs(rec.host_config.get("ExtraHosts")) {
                if let Some((h, ip)) = e.split_once(':') {
                    hosts.push_str(&format!("{ip}\t{h}\n"));
                }
            }
            std::fs::write(dir.join("hosts"), hosts)?;
        }
        let resolv = network::etc::resolv_conf(
            &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            &strs(rec.host_config.get("Dns")),
            &strs(rec.host_config.get("DnsSearch")),
            &strs(rec.host_config.get("DnsOptions")),
        );
        std::fs::write(dir.join("resolv.conf"), resolv)?;
        Ok(())
    }

    /// `POST /containers/{id}/start`.
    pub async fn start_container(self: &Arc<Self>, c: &Arc<Container>) -> Result<bool> {
        let _op = c.op.lock().await;
        self.start_locked(c).await
    }

    async fn start_locked(self: &Arc<Self>, c: &Arc<Container>) -> Result<bool> {
        {
            let rec = c.rec.lock().unwrap();
            if rec.state.paused {
                return Err(ContainerError::Conflict(
                    "cannot start a paused container, try unpause instead".into(),
                ));
            }
            if rec.state.running {
                return Ok(false);
            }
            if rec.state.status == "removing" || rec.state.dead {
                return Err(ContainerError::Conflict(
                    "container is marked for removal and cannot be started".into(),
                ));
            }
        }
        match self.start_inner(c).await {
            Ok(()) => Ok(true),
            Err(e) => {
                let msg = e.to_string();
                let code = if msg.contains("executable file not found")
                    || msg.contains("no such file or directory")
                {
                    127
                } else if msg.contains("permission denied") {
                    126
                } else {
                    128
                };
                {
                    let mut rec = c.rec.lock().unwrap();
                    rec.state.error = msg.clone();
                    rec.state.exit_code = code;
                    if rec.has_been_started {
                        rec.state.status = "exited".into();
                    }
                }
                let _ = c.save();
                c.progress.send_modify(|p| p.last_exit_code = code);
                let auto_remove = c
                    .rec
                    .lock()
                    .unwrap()
                    .host_config
                    .get("AutoRemove")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if auto_remove {
                    let _ = self.remove_locked(c, true).await;
                }
                if code == 127 || code == 126 {
                    return Err(ContainerError::BadRequest(msg));
                }
                Err(e)
            }
        }
    }

    async fn start_inner(self: &Arc<Self>, c: &Arc<Container>) -> Result<()> {
        let id = c.id.clone();
        let rootfs = self.rootfs(&id);
        let merged = rootfs.mount()?;
        self.write_etc_files(c)?;
        let netns = match self.net_start(c) {
            Ok(n) => n,
            Err(e) => {
                rootfs.unmount();
                return Err(e);
            }
        };
        let rec = c.snapshot();
        let dcfg = self.config();
        let runtime = rec
            .host_config
            .get("Runtime")
            .and_then(Value::as_str)
            .unwrap_or("runc")
            .to_string();
        let runtime_bin = if runtime == "runc" {
            dcfg.runtimes.get("runc").cloned()
        } else {
            dcfg.runtimes.get(&runtime).cloned()
        };
        let link_env = self.net_link_env(&rec);
        let spec = spec::build(
            &rec,
            &SpecInputs {
                rootfs: &merged,
                container_dir: &c.dir,
                init_path: self.init_path.as_deref(),
                default_ulimits: &dcfg.flags.default_ulimits,
                cgroup_parent: dcfg.flags.cgroup_parent.as_deref(),
                netns: netns.as_deref(),
                link_env: &link_env,
            },
        );
        let spec = match spec {
            Ok(s) => s,
            Err(e) => {
                self.net_stop(&id);
                rootfs.unmount();
                return Err(e);
            }
        }; // Volumes mounted over image content start with a copy of it, as dockerd does.
        for m in rec.mounts.iter().filter(|m| m.kind == "volume") {
            let src = super::rootfs::resolve_in_root(&merged, &m.destination);
            let dst = Path::new(&m.source);
            if src.is_dir()
                && std::fs::read_dir(dst)
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false)
            {
                let _ = copy_tree(&src, dst);
            }
        }
        let tty = c.tty();
        let open_stdin = rec
            .config
            .get("OpenStdin")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let fifos = Fifos::create(
            &self.exec_root.join("containerd").join(&id),
            "init",
            open_stdin,
            tty,
        )?;
        let log: SharedLog = Arc::new(Mutex::new(None));
        if let Some(file) = LogFile::of(&rec.host_config, &rec.log_path) {
            let opts = rec
                .host_config
                .pointer("/LogConfig/Config")
                .and_then(Value::as_object)
                .map(|o| {
                    o.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            *log.lock().unwrap() = Some(file.writer(&opts)?);
        }
        let finished_before = *c.hub.finished.borrow();
        io::start_copiers(&fifos, c.hub.clone(), log, tty)?;
        let image_name = rec
            .config
            .get("Image")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let started = async {
            self.ctrd
                .create_container(&id, &image_name, &spec, runtime_bin.as_deref())
                .await?;
            let pid = self.ctrd.create_task(&id, &fifos.stdio(tty)).await?;
            let closed_early = c.hub.apply_early_close();
            self.ctrd.start(&id, "").await?;
            if closed_early {
                self.ctrd.close_stdin(&id, "").await?;
            }
            Ok::<u32, crate::containerd::CtrdError>(pid)
        }
        .await;
        let pid = match started {
            Ok(pid) => pid,
            Err(e) => {
                fifos.abandon();
                c.hub.close_stdin();
                let _ = self.ctrd.delete_task(&id).await;
                let _ = self.ctrd.delete_container(&id).await;
                fifos.remove();
                self.net_stop(&id);
                rootfs.unmount();
                // containerd's words, as dockerd passes them on.
                return Err(ContainerError::Internal(e.to_string()));
            }
        };
        {
            let mut r = c.rec.lock().unwrap();
            r.state = State {
                status: "running".into(),
                running: true,
                pid,
                started_at: ids::now_rfc3339(),
                finished_at: r.state.finished_at.clone(),
                ..Default::default()
            };
            r.has_been_started = true;
            r.manually_stopped = false;
            (r.sandbox_id, r.sandbox_key) = self
                .network
                .sandbox(&id)
                .map(|(sid, key)| (sid, key.display().to_string()))
                .unwrap_or_default();
        }
        c.save()?;
        self.event(c, "start", json!({}));
        self.spawn_monitor(c.clone(), fifos, finished_before);
        Ok(())
    }

    /// Watch the task until it exits, then record the exit and apply the policies.
    fn spawn_monitor(self: &Arc<Self>, c: Arc<Container>, fifos: Fifos, finished_before: u64) {
        let d = self.clone();
        tokio::spawn(async move {
            let code = match d.ctrd.wait(&c.id, "").await {
                Ok(code) => code as i64,
                Err(_) => 255,
            };
            d.handle_exit(&c, code, fifos, finished_before).await;
        });
    }

    async fn handle_exit(
        self: &Arc<Self>,
        c: &Arc<Container>,
        code: i64,
        fifos: Fifos,
        finished_before: u64,
    ) {
        let mut rx = c.hub.finished.subscribe();
        // Let the copiers drain what the process wrote before it is reported as gone.
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            rx.wait_for(|n| *n > finished_before),
        )
        .await;
        // The sandbox and the rootfs mount are dockerd's, not the runtime's: they are
        // undone while containerd deletes the task, not after it. The process has
        // exited, and `runc delete` kills whatever else is left in its cgroup.
        let undo_host = {
            let d = self.clone();
            let id = c.id.clone();
            tokio::task::spawn_blocking(move || {
                d.net_stop(&id);
                d.rootfs(&id).unmount();
            })
        };
        let _ = self.ctrd.delete_task(&c.id).await;
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            rx.wait_for(|n| *n > finished_before),
        )
        .await;
        let _ = self.ctrd.delete_container(&c.id).await;
        c.hub.close_stdin();
        fifos.remove();
        let _ = undo_host.await;
        let (policy, max, manually, count, auto_remove) = {
            let mut r = c.rec.lock().unwrap();
            r.state.running = false;
            r.state.paused = false;
            r.state.pid = 0;
            r.state.exit_code = code;
            r.state.finished_at = ids::now_rfc3339();
            r.state.status = "exited".into();
            let p = r
                .host_config
                .pointer("/RestartPolicy/Name")
                .and_then(Value::as_str)
                .unwrap_or("no")
                .to_string();
            let max = r
                .host_config
                .pointer("/RestartPolicy/MaximumRetryCount")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let ar = r
                .host_config
                .get("AutoRemove")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            (p, max, r.manually_stopped, r.restart_count, ar)
        };
        let _ = c.save();
        self.event(c, "die", json!({"exitCode": code.to_string()}));
        c.progress.send_modify(|p| {
            p.exits += 1;
            p.last_exit_code = code;
        });
        let restart = !manually
            && match policy.as_str() {
                "always" | "unless-stopped" => true,
                "on-failure" => code != 0 && (max == 0 || (count as i64) < max),
                _ => false,
            };
        if restart {
            {
                // As dockerd shows the back-off: restarting, not exited.
                let mut r = c.rec.lock().unwrap();
                r.state.restarting = true;
                r.state.status = "restarting".into();
            }
            let delay = Duration::from_millis(100u64 << count.min(10));
            let d = self.clone();
            let c = c.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _op = c.op.lock().await;
                let still = {
                    let mut r = c.rec.lock().unwrap();
                    let go = r.state.restarting && !r.manually_stopped;
                    r.state.restarting = false;
                    if go {
                        r.restart_count += 1;
                    } else if r.state.status == "restarting" {
                        r.state.status = "exited".into();
                    }
                    go
                };
                if still {
                    if d.start_locked(&c).await.is_ok() {
                        d.event(&c, "restart", json!({}));
                    } else {
                        let mut r = c.rec.lock().unwrap();
                        r.state.status = "exited".into();
                    }
                }
            });
        } else if auto_remove {
            let _op = c.op.lock().await;
            // Unless it was started again in the meantime; containerd has nothing of
            // this run left.
            if !c.is_running() {
                let _ = self.remove_files(c, true).await;
            }
        }
    }

    /// Wait until the container has exited `after` + 1 times, up to `timeout`.
    async fn wait_exit(&self, c: &Container, after: u64, timeout: Option<Duration>) -> bool {
        let mut rx = c.progress.subscribe();
        let fut = rx.wait_for(|p: &Progress| p.exits > after || p.removed);
        match timeout {
            Some(t) => matches!(tokio::time::timeout(t, fut).await, Ok(Ok(_))),
            None => fut.await.is_ok(),
        }
    }

    /// `POST /containers/{id}/stop`: the stop signal, then SIGKILL after the timeout.
    pub async fn stop_container(
        &self,
        c: &Arc<Container>,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<bool> {
        let _op = c.op.lock().await;
        self.stop_locked(c, timeout, signal).await
    }

    async fn stop_locked(
        &self,
        c: &Arc<Container>,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<bool> {
        let (running, stop_sig, stop_timeout) = {
            let mut r = c.rec.lock().unwrap();
            r.manually_stopped = true;
            let restarting = r.state.restarting;
            r.state.restarting = false;
            if restarting && !r.state.running {
                r.state.status = "exited".into();
            }
            (
                r.state.running || restarting,
                r.config
                    .get("StopSignal")
                    .and_then(Value::as_str)
                    .unwrap_or("SIGTERM")
                    .to_string(),
                r.config.get("StopTimeout").and_then(Value::as_i64),
            )
        };
        let _ = c.save();
        if !running || !c.is_running() {
            return Ok(false);
        }
        let sig = signal.map(str::to_string).unwrap_or(stop_sig);
        let signum = signal_number(&sig)
            .ok_or_else(|| ContainerError::BadRequest(format!("Invalid signal: {sig}")))?;
        let t = timeout.or(stop_timeout).unwrap_or(10);
        let after = c.progress.borrow().exits;
        if c.rec.lock().unwrap().state.paused {
            let _ = self.ctrd.resume(&c.id).await;
        }
        let _ = self.ctrd.kill(&c.id, "", signum as u32, false).await;
        self.event(c, "kill", json!({"signal": signum.to_string()}));
        let graceful = if t < 0 {
            self.wait_exit(c, after, None).await
        } else {
            self.wait_exit(c, after, Some(Duration::from_secs(t as u64)))
                .await
        };
        if !graceful {
            let _ = self.ctrd.kill(&c.id, "", 9, true).await;
            self.event(c, "kill", json!({"signal": "9"}));
            self.wait_exit(c, after, Some(Duration::from_secs(30)))
                .await;
        }
        self.event(c, "stop", json!({}));
        Ok(true)
    }

    /// `POST /containers/{id}/kill`.
    pub async fn kill_container(&self, c: &Arc<Container>, signal: &str) -> Result<()> {
        let signum = signal_number(signal)
            .ok_or_else(|| ContainerError::BadRequest(format!("Invalid signal: {signal}")))?;
        if !c.is_running() {
            return Err(ContainerError::Conflict(format!(
                "Cannot kill container: {}: Container {} is not running",
                c.name().trim_start_matches('/'),
                c.id
            )));
        }
        if signum == 9 {
            c.rec.lock().unwrap().manually_stopped = true;
        }
        self.ctrd.kill(&c.id, "", signum as u32, false).await?;
        self.event(c, "kill", json!({"signal": signum.to_string()}));
        Ok(())
    }

    pub async fn pause_container(&self, c: &Arc<Container>, pause: bool) -> Result<()> {
        let _op = c.op.lock().await;
        let (running, paused) = {
            let r = c.rec.lock().unwrap();
            (r.state.running, r.state.paused)
        };
        if !running {
            return Err(ContainerError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        if pause && paused {
            return Err(ContainerError::Conflict(format!(
                "Container {} is already paused",
                c.id
            )));
        }
        if !pause && !paused {
            return Err(ContainerError::Conflict(format!(
                "Container {} is not paused",
                c.id
            )));
        }
        if pause {
            self.ctrd.pause(&c.id).await?;
        } else {
            self.ctrd.resume(&c.id).await?;
        }
        {
            let mut r = c.rec.lock().unwrap();
            r.state.paused = pause;
            r.state.status = if pause { "paused" } else { "running" }.into();
        }
        c.save()?;
        self.event(c, if pause { "pause" } else { "unpause" }, json!({}));
        Ok(())
    }

    /// `DELETE /containers/{id}`.
    pub async fn remove_container(
        &self,
        c: &Arc<Container>,
        force: bool,
        volumes: bool,
    ) -> Result<()> {
        let _op = c.op.lock().await;
        if c.is_running() {
            if !force {
                return Err(ContainerError::Conflict(format!("cannot remove container \"{}\": container is running: stop the container before removing or force remove", c.name())));
            }
            c.rec.lock().unwrap().manually_stopped = true;
            let after = c.progress.borrow().exits;
            if c.rec.lock().unwrap().state.paused {
                let _ = self.ctrd.resume(&c.id).await;
            }
            let _ = self.ctrd.kill(&c.id, "", 9, true).await;
            self.event(c, "kill", json!({"signal": "9"}));
            self.wait_exit(c, after, Some(Duration::from_secs(30)))
                .await;
        }
        if c.progress.borrow().removed {
            return Ok(());
        }
        self.remove_locked(c, volumes).await
    }

    async fn remove_locked(&self, c: &Arc<Container>, volumes: bool) -> Result<()> {
        if c.progress.borrow().removed {
            return Ok(());
        }
        c.rec.lock().unwrap().state.status = "removing".into();
        let _ = self.ctrd.delete_task(&c.id).await;
        let _ = self.ctrd.delete_container(&c.id).await;
        self.remove_files(c, volumes).await
    }

    /// Remove a container whose task and containerd container are gone: its sandbox,
    /// rootfs, state and FIFO directories, the record and its anonymous volumes.
    async fn remove_files(&self, c: &Arc<Container>, volumes: bool) -> Result<()> {
        if c.progress.borrow().removed {
            return Ok(());
        }
        c.rec.lock().unwrap().state.status = "removing".into();
        let rec = c.snapshot();
        self.net_forget(&c.id);
        let rootfs = self.rootfs(&c.id);
        let fifo_dir = self.exec_root.join("containerd").join(&c.id);
        tokio::task::block_in_place(|| {
            rootfs.unmount();
            // The trees are independent: removed side by side, their unlinks share
            // the filesystem's journal commits instead of queueing one after another.
            std::thread::scope(|s| {
                let layers = [&rootfs.base, &rootfs.init].map(|d| s.spawn(move || remove_tree(d)));
                let others = [&c.dir, &fifo_dir].map(|d| s.spawn(move || remove_tree(d)));
                for t in others {
                    let _ = t.join();
                }
                layers
                    .into_iter()
                    .map(|t| t.join().unwrap_or(Ok(())))
                    .collect::<std::io::Result<Vec<()>>>()
            })
        })?;
        self.containers.lock().unwrap().remove(&c.id);
        self.execs
            .lock()
            .unwrap()
            .retain(|_, e| e.container_id != c.id);
        if volumes {
            let mut vols = self.volumes.lock().unwrap();
            for m in rec.mounts.iter().filter(|m| m.kind == "volume") {
                let anonymous = vols.get(&m.name).is_some_and(|v| v.anonymous);
                if anonymous && !self.volume_in_use(&m.name) {
                    let _ = vols.remove(&m.name);
                }
            }
        }
        self.event(c, "destroy", json!({}));
        c.progress.send_modify(|p| p.removed = true);
        Ok(())
    }

    /// Ids of containers that mount the volume `name`.
    pub fn volume_users(&self, name: &str) -> Vec<String> {
        self.containers
            .lock()
            .unwrap()
            .all()
            .iter()
            .filter(|c| {
                c.rec
                    .lock()
                    .unwrap()
                    .mounts
                    .iter()
                    .any(|m| m.kind == "volume" && m.name == name)
            })
            .map(|c| c.id.clone())
            .collect()
    }

    pub fn volume_in_use(&self, name: &str) -> bool {
        !self.volume_users(name).is_empty()
    }

    /// After a (re)start of the daemon: reattach to running tasks (live-restore), or
    /// record that they are gone; then apply restart policies.
    pub async fn restore(self: &Arc<Self>) {
        let all = self.containers.lock().unwrap().all();
        let live = self.config().flags.live_restore;
        for c in all {
            let (was_running, policy, manually) = {
                let r = c.rec.lock().unwrap();
                (
                    r.state.running,
                    r.host_config
                        .pointer("/RestartPolicy/Name")
                        .and_then(Value::as_str)
                        .unwrap_or("no")
                        .to_string(),
                    r.manually_stopped,
                )
            };
            if was_running {
                let task = self.ctrd.task(&c.id).await.ok().flatten();
                match task {
                    Some((st, pid)) if live && st != crate::containerd::TaskStatus::Stopped => {
                        let tty = c.tty();
                        let dir = self.exec_root.join("containerd").join(&c.id);
                        let fifos = Fifos {
                            stdin: Some(dir.join("init-stdin")).filter(|p| p.exists()),
                            stdout: dir.join("init-stdout"),
                            stderr: Some(dir.join("init-stderr")).filter(|p| p.exists() && !tty),
                        };
                        let rec = c.snapshot();
                        let log: SharedLog = Arc::new(Mutex::new(None));
                        if let Some(file) = LogFile::of(&rec.host_config, &rec.log_path) {
                            let opts = rec
                                .host_config
                                .pointer("/LogConfig/Config")
                                .and_then(Value::as_object)
                                .map(|o| {
                                    o.iter()
                                        .filter_map(|(k, v)| {
                                            v.as_str().map(|v| (k.clone(), v.to_string()))
                                        })
                                        .collect()
                                })
                                .unwrap_or_default();
                            *log.lock().unwrap() = file.writer(&opts).ok();
                        }
                        let finished_before = *c.hub.finished.borrow();
                        let _ = io::start_copiers(&fifos, c.hub.clone(), log, tty);
                        {
                            let mut r = c.rec.lock().unwrap();
                            r.state.pid = pid;
                            r.state.paused = st == crate::containerd::TaskStatus::Paused;
                            r.state.status =
                                if r.state.paused { "paused" } else { "running" }.into();
                        }
                        let _ = c.save();
                        self.spawn_monitor(c.clone(), fifos, finished_before);
                        continue;
                    }
                    Some(_) => {
                        let _ = self.ctrd.kill(&c.id, "", 9, true).await;
                        let _ = self.ctrd.wait(&c.id, "").await;
                        let _ = self.ctrd.delete_task(&c.id).await;
                    }
                    None => {}
                }
                let _ = self.ctrd.delete_container(&c.id).await;
                self.rootfs(&c.id).unmount();
                {
                    let mut r = c.rec.lock().unwrap();
                    r.state.running = false;
                    r.state.paused = false;
                    r.state.pid = 0;
                    r.state.status = "exited".into();
                    r.state.exit_code = 255;
                    r.state.finished_at = ids::now_rfc3339();
                }
                let _ = c.save();
            }
            let auto_remove = c
                .rec
                .lock()
                .unwrap()
                .host_config
                .get("AutoRemove")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if auto_remove && !c.is_running() && c.rec.lock().unwrap().has_been_started {
                let _ = self.remove_container(&c, false, true).await;
                continue;
            }
            let restart = match policy.as_str() {
                "always" => true,
                "unless-stopped" => !manually,
                _ => false,
            };
            if restart && !c.is_running() && (policy == "always" || !manually) {
                let _ = self.start_container(&c).await;
            }
        }
    }

    /// SIGTERM: without live-restore, stop every running container first.
    pub async fn shutdown(self: &Arc<Self>) {
        if self.config().flags.live_restore {
            return;
        }
        let t = self.config().flags.shutdown_timeout as i64;
        let running: Vec<_> = self
            .containers
            .lock()
            .unwrap()
            .all()
            .into_iter()
            .filter(|c| c.is_running())
            .collect();
        let mut tasks = Vec::new();
        for c in running {
            let d = self.clone();
            tasks.push(tokio::spawn(async move {
                let _op = c.op.lock().await;
                let _ = d.stop_locked(&c, Some(t), None).await;
                // A daemon stop is not a user's stop: restart policies apply next start.
                c.rec.lock().unwrap().manually_stopped = false;
                let _ = c.save();
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// Copy a directory tree keeping modes and owners (image content into a new volume).
/// `remove_dir_all`, where a tree that is already gone is no error.
fn remove_tree(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

pub fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let from = e.path();
        let to = dst.join(e.file_name());
        let md = std::fs::symlink_metadata(&from)?;
        if md.is_dir() {
            std::fs::create_dir_all(&to)?;
            copy_tree(&from, &to)?;
        } else if md.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
        } else if md.is_file() {
            std::fs::copy(&from, &to)?;
        } else {
            continue;
        }
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(md.mode())).ok();
        let c = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(to.as_os_str()))?;
        // SAFETY: valid path; lchown never follows links.
        unsafe { libc::lchown(c.as_ptr(), md.uid(), md.gid()) };
    }
    let md = std::fs::metadata(src)?;
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(md.mode())).ok();
    Ok(())
}

/// What dockerd fills in at create beyond plain defaults: an empty IPC or cgroup
/// namespace mode is its default, a zero or negative pids limit and a swappiness of -1
/// mean unset, and an unprivileged container gets the masked and read-only paths.
fn fill_as_dockerd(h: &mut serde_json::Map<String, Value>) {
    let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    for (k, d) in [
        ("IpcMode", "private"),
        ("CgroupnsMode", if unified { "private" } else { "host" }),
    ] {
        if h.get(k).and_then(Value::as_str) == Some("") {
            h.insert(k.into(), json!(d));
        }
    }
    if h.get("PidsLimit")
        .and_then(Value::as_i64)
        .is_some_and(|n| n <= 0)
    {
        h.insert("PidsLimit".into(), Value::Null);
    }
    if h.get("MemorySwappiness").and_then(Value::as_i64) == Some(-1) {
        h.insert("MemorySwappiness".into(), Value::Null);
    }
    if !h
        .get("Privileged")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        for (k, d) in [
            ("MaskedPaths", spec::MASKED_PATHS),
            ("ReadonlyPaths", spec::READONLY_PATHS),
        ] {
            if h.get(k).is_none_or(Value::is_null) {
                h.insert(k.into(), json!(d));
            }
        }
    }
}
