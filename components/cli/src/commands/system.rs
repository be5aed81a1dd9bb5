//! `version`, `info`, `system df`, `completion`: facts about the client and daemon.

use clap::Command;
use serde_json::{json, Value};

use super::{render_list, short_id};
use crate::client::{Query, DEFAULT_API_VERSION};
use crate::cmdline::{bool_flag, value_flag, Parsed};
use crate::format::row::Row;
use crate::format::{header, tabwriter::TabWriter, units, Format};
use crate::template::{Fields, Template, Val};
use crate::{Ctx, Status};

/// Go's wording for common I/O errors (`no such file or directory`).
pub fn go_io_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let s = e.to_string();
            s.split(" (os error").next().unwrap_or(&s).to_lowercase()
        }
    }
}

/// RFC 3339 → Go's `time.ANSIC` (`Mon Jan  2 15:04:05 2006`), as `version` shows it.
fn ansic(rfc: &str) -> String {
    let Some(t) = units::parse_rfc3339(rfc) else {
        return rfc.to_string();
    };
    let t = t as i64;
    let (y, mo, d, h, mi, s) = units::civil(t);
    let days = t.div_euclid(86400);
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(mo - 1) as usize];
    format!("{wd} {mon} {d:>2} {h:02}:{mi:02}:{s:02} {y}")
}

pub fn version(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let template = match p.value("format").filter(|f| !f.is_empty()) {
        Some(f) => {
            let f = if f == "json" {
                "{{json .}}".to_string()
            } else {
                f
            };
            Some(Template::parse(&f).map_err(|e| {
                Status::new(
                    64,
                    format!(
                        "template parsing error: {}",
                        e.replacen("template: :", "template: version:", 1)
                    ),
                )
            })?)
        }
        None => None,
    };
    let context = ctx
        .globals
        .context
        .clone()
        .or_else(|| ctx.config.current_context())
        .unwrap_or_else(|| "default".into());
    let server = ctx.client.get("/version", Query::new());
    let api = ctx
        .client
        .api_version()
        .unwrap_or_else(|_| DEFAULT_API_VERSION.to_string());
    let client = json!({
        "Version": buildinfo::VERSION,
        "ApiVersion": api,
        "DefaultAPIVersion": DEFAULT_API_VERSION,
        "GitCommit": buildinfo::GIT_COMMIT,
        "GoVersion": buildinfo::RUSTC,
        "Os": "linux",
        "Arch": "amd64",
        "BuildTime": buildinfo::BUILD_TIME,
        "Context": context,
    });
    let mut server_json = server.as_ref().ok().cloned();
    if let Some(Value::Array(components)) =
        server_json.as_mut().and_then(|s| s.get_mut("Components"))
    {
        for c in components.iter_mut() {
            if let Some(bt) = c.pointer_mut("/Details/BuildTime") {
                if let Some(s) = bt.as_str() {
                    *bt = Value::String(ansic(s));
                }
            }
        }
    }
    if let Some(t) = template {
        // Templates name Go's struct fields, which differ from some JSON keys.
        let mut client = client;
        client["APIVersion"] = client["ApiVersion"].clone();
        if let Some(s) = server_json.as_mut() {
            s["APIVersion"] = s.get("ApiVersion").cloned().unwrap_or(Value::Null);
            s["MinAPIVersion"] = s.get("MinAPIVersion").cloned().unwrap_or(Value::Null);
        }
        let data = json!({"Client": client, "Server": server_json});
        let out = t
            .execute(&Val::from_json(&data))
            .map_err(|e| Status::new(1, format!("template: {e}")))?;
        println!("{out}");
    } else {
        let mut text = String::from("Client:\n");
        let downgraded = if api != DEFAULT_API_VERSION {
            format!(" (downgraded from {DEFAULT_API_VERSION})")
        } else {
            String::new()
        };
        text.push_str(&format!(" Version:\t{}\n", buildinfo::VERSION));
        text.push_str(&format!(" API version:\t{api}{downgraded}\n"));
        text.push_str(&format!(" Go version:\t{}\n", buildinfo::RUSTC));
        text.push_str(&format!(" Git commit:\t{}\n", buildinfo::GIT_COMMIT));
        text.push_str(&format!(" Built:\t{}\n", buildinfo::BUILD_TIME));
        text.push_str(" OS/Arch:\tlinux/amd64\n");
        text.push_str(&format!(" Context:\t{context}\n"));
        if let Some(s) = &server_json {
            let name = s
                .pointer("/Platform/Name")
                .and_then(Value::as_str)
                .unwrap_or("");
            text.push_str(&format!(
                "\nServer:{}\n",
                if name.is_empty() {
                    String::new()
                } else {
                    format!(" {name}")
                }
            ));
            for c in s
                .get("Components")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let cname = c.get("Name").and_then(Value::as_str).unwrap_or("");
                let d = |k: &str| {
                    c.pointer(&format!("/Details/{k}"))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                let version = c.get("Version").and_then(Value::as_str).unwrap_or("");
                text.push_str(&format!(" {cname}:\n"));
                if cname == "Engine" {
                    text.push_str(&format!("  Version:\t{version}\n"));
                    text.push_str(&format!(
                        "  API version:\t{} (minimum version {})\n",
                        d("ApiVersion"),
                        d("MinAPIVersion")
                    ));
                    text.push_str(&format!("  Go version:\t{}\n", d("GoVersion")));
                    text.push_str(&format!("  Git commit:\t{}\n", d("GitCommit")));
                    text.push_str(&format!("  Built:\t{}\n", d("BuildTime")));
                    text.push_str(&format!("  OS/Arch:\t{}/{}\n", d("Os"), d("Arch")));
                    text.push_str(&format!("  Experimental:\t{}\n", d("Experimental")));
                } else {
                    text.push_str(&format!("  Version:\t{version}\n"));
                    let mut keys: Vec<String> = c
                        .get("Details")
                        .and_then(Value::as_object)
                        .map(|o| o.keys().cloned().collect())
                        .unwrap_or_default();
                    keys.sort();
                    for k in keys {
                        text.push_str(&format!("  {k}:\t{}\n", d(&k)));
                    }
                }
            }
        }
        let mut tw = TabWriter::new(20, 1);
        tw.write(&text);
        print!("{}", tw.finish());
    }
    match server {
        Ok(_) => Ok(0),
        Err(e) => Err(Status::new(1, e.to_string()).into()),
    }
}

/// `info`'s template data: the real CLI's `system.dockerInfo` struct, where a field
/// the daemon does not report is an error, not `<no value>`.
struct InfoStruct(Val);

impl Fields for InfoStruct {
    fn type_name(&self) -> &str {
        "system.dockerInfo"
    }
    fn field(&self, name: &str, args: &[Val]) -> Option<Result<Val, String>> {
        let (Val::Struct(fields) | Val::Map(fields)) = &self.0 else {
            return None;
        };
        let (_, v) = fields.iter().find(|(k, _)| k == name)?;
        if !args.is_empty() {
            return Some(Err(format!(
                "{name} has arguments but cannot be invoked as function"
            )));
        }
        Some(Ok(v.clone()))
    }
    fn to_json(&self) -> Value {
        self.0.to_json()
    }
}

pub fn info(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let format = p.value("format").filter(|f| !f.is_empty());
    let template = match &format {
        Some(f) => {
            let f = if f == "json" {
                "{{json .}}".to_string()
            } else {
                f.clone()
            };
            Some(
                Template::parse(&f)
                    .map_err(|e| Status::new(64, format!("template parsing error: {e}")))?,
            )
        }
        None => None,
    };
    let info = ctx.client.get("/info", Query::new());
    if let Some(t) = template {
        let info = info?;
        let typed = Val::Object(std::rc::Rc::new(InfoStruct(Val::from_json(&info))));
        let out = t.execute(&typed).map_err(|e| {
            // The real CLI has ended the (empty) output line when the template fails.
            println!();
            Status::new(1, e)
        })?;
        println!("{out}");
        return Ok(0);
    }
    let context = ctx
        .globals
        .context
        .clone()
        .unwrap_or_else(|| "default".into());
    println!("Client:");
    println!(" Version:    {}", buildinfo::VERSION);
    println!(" Context:    {context}");
    println!(" Debug Mode: {}", ctx.globals.debug);
    println!();
    println!("Server:");
    let info = match info {
        Ok(i) => i,
        Err(e) => {
            return Err(Status::new(1, e.to_string()).into());
        }
    };
    print!("{}", server_info_text(&info));
    for w in info
        .get("Warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(w) = w.as_str() {
            eprintln!("{w}");
        }
    }
    Ok(0)
}

/// The server part of `docker info`, line by line as the real CLI prints it.
fn server_info_text(info: &Value) -> String {
    let mut out = String::new();
    let s = |k: &str| -> String {
        info.pointer(k)
            .map(|v| match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            })
            .unwrap_or_default()
    };
    let strs = |k: &str| -> Vec<String> {
        info.pointer(k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    let non_empty = |line: &mut dyn FnMut(String), label: &str, v: String| {
        if !v.is_empty() {
            line(format!("{label} {v}"));
        }
    };
    line(format!(" Containers: {}", s("/Containers")));
    line(format!("  Running: {}", s("/ContainersRunning")));
    line(format!("  Paused: {}", s("/ContainersPaused")));
    line(format!("  Stopped: {}", s("/ContainersStopped")));
    line(format!(" Images: {}", s("/Images")));
    non_empty(&mut line, " Server Version:", s("/ServerVersion"));
    non_empty(&mut line, " Storage Driver:", s("/Driver"));
    for key in ["/DriverStatus", "/SystemStatus"] {
        let indent = if key == "/DriverStatus" { "  " } else { " " };
        for pair in info
            .pointer(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some([k, v]) = pair.as_array().map(Vec::as_slice) {
                line(format!(
                    "{indent}{}: {}",
                    k.as_str().unwrap_or(""),
                    v.as_str().unwrap_or("")
                ));
            }
        }
    }
    non_empty(&mut line, " Logging Driver:", s("/LoggingDriver"));
    non_empty(&mut line, " Cgroup Driver:", s("/CgroupDriver"));
    non_empty(&mut line, " Cgroup Version:", s("/CgroupVersion"));
    line(" Plugins:".into());
    line(format!("  Volume: {}", strs("/Plugins/Volume").join(" ")));
    line(format!("  Network: {}", strs("/Plugins/Network").join(" ")));
    let authz = strs("/Plugins/Authorization");
    if !authz.is_empty() {
        line(format!("  Authorization: {}", authz.join(" ")));
    }
    line(format!("  Log: {}", strs("/Plugins/Log").join(" ")));
    let cdi = strs("/CDISpecDirs");
    if !cdi.is_empty() {
        line(" CDI spec directories:".into());
        for d in cdi {
            line(format!("  {d}"));
        }
    }
    let swarm = s("/Swarm/LocalNodeState");
    line(format!(" Swarm: {swarm}"));
    if swarm != "inactive" && swarm != "locked" {
        line(format!("  NodeID: {}", s("/Swarm/NodeID")));
        line(format!("  Is Manager: {}", s("/Swarm/ControlAvailable")));
    }
    if let Some(rt) = info
        .get("Runtimes")
        .and_then(Value::as_object)
        .filter(|r| !r.is_empty())
    {
        // Go prints these in map order; sorted is the stable choice.
        let mut names: Vec<&String> = rt.keys().collect();
        names.sort();
        let names: Vec<&str> = names.into_iter().map(String::as_str).collect();
        line(format!(" Runtimes: {}", names.join(" ")));
        line(format!(" Default Runtime: {}", s("/DefaultRuntime")));
    }
    if s("/OSType") == "linux" {
        line(format!(" Init Binary: {}", s("/InitBinary")));
        line(format!(
            " containerd version: {}",
            s("/ContainerdCommit/ID")
        ));
        line(format!(" runc version: {}", s("/RuncCommit/ID")));
        line(format!(" init version: {}", s("/InitCommit/ID")));
        let opts = strs("/SecurityOptions");
        if !opts.is_empty() {
            line(" Security Options:".into());
            for o in opts {
                let mut name = String::new();
                let mut profile = None;
                for kv in o.split(',') {
                    match kv.split_once('=') {
                        Some(("name", v)) => name = v.to_string(),
                        Some(("profile", v)) => profile = Some(v.to_string()),
                        _ => {}
                    }
                }
                line(format!("  {name}"));
                if let Some(p) = profile {
                    line(format!("   Profile: {p}"));
                }
            }
        }
    }
    non_empty(&mut line, " Kernel Version:", s("/KernelVersion"));
    non_empty(&mut line, " Operating System:", s("/OperatingSystem"));
    non_empty(&mut line, " OSType:", s("/OSType"));
    non_empty(&mut line, " Architecture:", s("/Architecture"));
    line(format!(" CPUs: {}", s("/NCPU")));
    let mem = info.get("MemTotal").and_then(Value::as_f64).unwrap_or(0.0);
    line(format!(" Total Memory: {}", units::bytes_size(mem)));
    non_empty(&mut line, " Name:", s("/Name"));
    non_empty(&mut line, " ID:", s("/ID"));
    line(format!(" Docker Root Dir: {}", s("/DockerRootDir")));
    line(format!(" Debug Mode: {}", s("/Debug")));
    if info.get("Debug").and_then(Value::as_bool).unwrap_or(false) {
        line(format!("  File Descriptors: {}", s("/NFd")));
        line(format!("  Goroutines: {}", s("/NGoroutines")));
        line(format!("  System Time: {}", s("/SystemTime")));
        line(format!("  EventsListeners: {}", s("/NEventsListener")));
    }
    non_empty(&mut line, " HTTP Proxy:", s("/HttpProxy"));
    non_empty(&mut line, " HTTPS Proxy:", s("/HttpsProxy"));
    non_empty(&mut line, " No Proxy:", s("/NoProxy"));
    let labels = strs("/Labels");
    if !labels.is_empty() {
        line(" Labels:".into());
        for l in labels {
            line(format!("  {l}"));
        }
    }
    line(format!(" Experimental: {}", s("/ExperimentalBuild")));
    let cidrs = strs("/RegistryConfig/InsecureRegistryCIDRs");
    let insecure: Vec<String> = info
        .pointer("/RegistryConfig/IndexConfigs")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, c)| !c.get("Secure").and_then(Value::as_bool).unwrap_or(true))
        .map(|(n, _)| n.clone())
        .collect();
    let has_index = info
        .pointer("/RegistryConfig/IndexConfigs")
        .and_then(Value::as_object)
        .is_some_and(|o| !o.is_empty());
    if !cidrs.is_empty() || has_index {
        line(" Insecure Registries:".into());
        for n in insecure {
            line(format!("  {n}"));
        }
        for c in cidrs {
            line(format!("  {c}"));
        }
    }
    let mirrors = strs("/RegistryConfig/Mirrors");
    if !mirrors.is_empty() {
        line(" Registry Mirrors:".into());
        for m in mirrors {
            line(format!("  {m}"));
        }
    }
    line(format!(
        " Live Restore Enabled: {}",
        s("/LiveRestoreEnabled")
    ));
    let license = s("/ProductLicense");
    if !license.is_empty() {
        line(format!(" Product License: {license}"));
    }
    let pools = info
        .get("DefaultAddressPools")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !pools.is_empty() {
        line(" Default Address Pools:".into());
    }
    for pool in &pools {
        line(format!(
            "   Base: {}, Size: {}",
            s_of(pool, "Base"),
            s_of(pool, "Size")
        ));
    }
    line(String::new());
    out
}

fn s_of(v: &Value, k: &str) -> String {
    v.get(k)
        .map(|x| match x {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default()
}

pub fn df_flags(c: Command) -> Command {
    let c = value_flag(c, "format", None, "Format output using a custom template");
    bool_flag(
        c,
        "verbose",
        Some('v'),
        "Show detailed information on space usage",
    )
}

pub fn df(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let du = ctx.client.get("/system/df", Query::new())?;
    let arr = |k: &str| {
        du.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let images = arr("Images");
    let containers = arr("Containers");
    let volumes = arr("Volumes");
    let cache = arr("BuildCache");
    let i64_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    let pct = |part: i64, total: i64| {
        if total > 0 {
            format!(" ({}%)", part * 100 / total)
        } else {
            String::new()
        }
    };
    // Images.
    let img_size: i64 = du.get("LayersSize").and_then(Value::as_i64).unwrap_or(0);
    let img_active = images
        .iter()
        .filter(|i| i64_of(i, "Containers") > 0)
        .count();
    // What images in use hold uniquely is not reclaimable; the rest of the layers is.
    let img_used: i64 = images
        .iter()
        .filter(|i| i64_of(i, "Containers") != 0)
        .filter(|i| i64_of(i, "Size") != -1 && i64_of(i, "SharedSize") != -1)
        .map(|i| i64_of(i, "Size") - i64_of(i, "SharedSize"))
        .sum();
    let img_reclaim = img_size - img_used;
    let img_reclaim_s = format!(
        "{}{}",
        units::human_size(img_reclaim as f64),
        pct(img_reclaim, img_size)
    );
    // Containers.
    let c_size: i64 = containers.iter().map(|c| i64_of(c, "SizeRw")).sum();
    let c_active = containers
        .iter()
        .filter(|c| {
            matches!(
                c.get("State").and_then(Value::as_str),
                Some("running" | "paused" | "restarting")
            )
        })
        .count();
    let c_reclaim: i64 = containers
        .iter()
        .filter(|c| {
            !matches!(
                c.get("State").and_then(Value::as_str),
                Some("running" | "paused" | "restarting")
            )
        })
        .map(|c| i64_of(c, "SizeRw"))
        .sum();
    let c_reclaim_s = format!(
        "{}{}",
        units::human_size(c_reclaim as f64),
        pct(c_reclaim, c_size)
    );
    // Volumes.
    let vsize = |v: &Value| {
        v.pointer("/UsageData/Size")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .max(0)
    };
    let v_size: i64 = volumes.iter().map(vsize).sum();
    let v_active = volumes
        .iter()
        .filter(|v| {
            v.pointer("/UsageData/RefCount")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                > 0
        })
        .count();
    let v_reclaim: i64 = volumes
        .iter()
        .filter(|v| {
            v.pointer("/UsageData/RefCount")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                == 0
        })
        .map(vsize)
        .sum();
    let v_reclaim_s = format!(
        "{}{}",
        units::human_size(v_reclaim as f64),
        pct(v_reclaim, v_size)
    );
    let b_size: i64 = cache.iter().map(|b| i64_of(b, "Size")).sum();
    let b_active = cache
        .iter()
        .filter(|b| b.get("InUse").and_then(Value::as_bool).unwrap_or(false))
        .count();
    let b_reclaim: i64 = cache
        .iter()
        .filter(|b| !b.get("InUse").and_then(Value::as_bool).unwrap_or(false))
        .map(|b| i64_of(b, "Size"))
        .sum();
    let row = |ty: &str, total: usize, active: usize, size: i64, reclaim: String| {
        Row::new("*formatter.diskUsageImagesContext")
            .set("Active", active.to_string())
            .set("Reclaimable", reclaim)
            .set("Size", units::human_size(size as f64))
            .set("TotalCount", total.to_string())
            .set("Type", ty)
            .into_val()
    };
    let rows = vec![
        row("Images", images.len(), img_active, img_size, img_reclaim_s),
        row(
            "Containers",
            containers.len(),
            c_active,
            c_size,
            c_reclaim_s,
        ),
        row(
            "Local Volumes",
            volumes.len(),
            v_active,
            v_size,
            v_reclaim_s,
        ),
        row(
            "Build Cache",
            cache.len(),
            b_active,
            b_size,
            units::human_size(b_reclaim as f64),
        ),
    ];
    let format = super::list_format(
        p.value("format"),
        "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
        false,
    )?;
    render_list(
        &format,
        &rows,
        &header(&[
            ("Type", "TYPE"),
            ("TotalCount", "TOTAL"),
            ("Active", "ACTIVE"),
            ("Size", "SIZE"),
            ("Reclaimable", "RECLAIMABLE"),
        ]),
    )?;
    let _ = (short_id, Format::new);
    Ok(0)
}

pub fn completion(_ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let shell = match p.args.first().map(String::as_str) {
        Some("bash") => clap_complete::Shell::Bash,
        Some("zsh") => clap_complete::Shell::Zsh,
        Some("fish") => clap_complete::Shell::Fish,
        Some("powershell") => clap_complete::Shell::PowerShell,
        // No shell, or one it does not know: cobra shows the command's help.
        _ => {
            let shells = [
                ("bash", "Generate the autocompletion script for bash"),
                ("fish", "Generate the autocompletion script for fish"),
                (
                    "powershell",
                    "Generate the autocompletion script for powershell",
                ),
                ("zsh", "Generate the autocompletion script for zsh"),
            ]
            .map(|(n, a)| (n.to_string(), a.to_string()));
            print!(
                "{}",
                crate::help::group(
                    "completion",
                    "Generate the autocompletion script for docker for the specified shell.\nSee each sub-command's help for details on how to use the generated script.",
                    &shells
                )
            );
            return Ok(0);
        }
    };
    let mut cmd = super::full_command();
    clap_complete::generate(shell, &mut cmd, "docker", &mut std::io::stdout());
    Ok(0)
}

pub fn prune_flags(c: Command) -> Command {
    let c = bool_flag(
        c,
        "all",
        Some('a'),
        "Remove all unused images not just dangling ones",
    );
    let c = crate::cmdline::list_flag(
        c,
        "filter",
        None,
        "Provide filter values (e.g. \"label=<key>=<value>\")",
    );
    let c = bool_flag(c, "force", Some('f'), "Do not prompt for confirmation");
    bool_flag(c, "volumes", None, "Prune anonymous volumes")
}

pub fn prune(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let mut warning = String::from("WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n");
    if p.flag("volumes") {
        warning.push_str("  - all anonymous volumes not used by at least one container\n");
    }
    if p.flag("all") {
        warning.push_str("  - all images without at least one container associated to them\n");
    } else {
        warning.push_str("  - all dangling images\n");
    }
    warning.push_str("  - unused build cache\n\nAre you sure you want to continue?");
    if !super::resources::confirm(p, &warning)? {
        return Ok(0);
    }
    let filters = super::filters_json(&p.values("filter"))?;
    let q = || match &filters {
        Some(f) => Query::new().add("filters", f.clone()),
        None => Query::new(),
    };
    let mut total = 0u64;
    let list = |v: &Value, key: &str| -> Vec<String> {
        v.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let c = ctx.client.post("/containers/prune", q(), None)?;
    let deleted = list(&c, "ContainersDeleted");
    if !deleted.is_empty() {
        println!("Deleted Containers:\n{}\n", deleted.join("\n"));
    }
    total += c.get("SpaceReclaimed").and_then(Value::as_u64).unwrap_or(0);
    let n = ctx.client.post("/networks/prune", q(), None)?;
    let deleted = list(&n, "NetworksDeleted");
    if !deleted.is_empty() {
        println!("Deleted Networks:\n{}\n", deleted.join("\n"));
    }
    if p.flag("volumes") {
        let v = ctx.client.post("/volumes/prune", q(), None)?;
        let deleted = list(&v, "VolumesDeleted");
        if !deleted.is_empty() {
            println!("Deleted Volumes:\n{}\n", deleted.join("\n"));
        }
        total += v.get("SpaceReclaimed").and_then(Value::as_u64).unwrap_or(0);
    }
    let mut iq = Query::new();
    let mut f = p.values("filter");
    f.push(format!("dangling={}", !p.flag("all")));
    if let Some(j) = super::filters_json(&f)? {
        iq = iq.add("filters", j);
    }
    let i = ctx.client.post("/images/prune", iq, None)?;
    let imgs = i
        .get("ImagesDeleted")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !imgs.is_empty() {
        println!("Deleted Images:");
        for d in &imgs {
            if let Some(u) = d.get("Untagged").and_then(Value::as_str) {
                println!("untagged: {u}");
            }
            if let Some(x) = d.get("Deleted").and_then(Value::as_str) {
                println!("deleted: {x}");
            }
        }
        println!();
    }
    total += i.get("SpaceReclaimed").and_then(Value::as_u64).unwrap_or(0);
    if let Ok(b) = ctx.client.post("/build/prune", Query::new(), None) {
        total += b.get("SpaceReclaimed").and_then(Value::as_u64).unwrap_or(0);
    }
    println!("Total reclaimed space: {}", units::human_size(total as f64));
    Ok(0)
}

/// Hidden: writes one man page per command into a directory (for packaging).
pub fn manpages(_ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let dir = std::path::PathBuf::from(&p.args[0]);
    std::fs::create_dir_all(&dir)?;
    let root = super::full_command();
    let mut pages = vec![("docker".to_string(), root.clone())];
    for sub in root.get_subcommands() {
        let name = format!("docker-{}", sub.get_name());
        for subsub in sub.get_subcommands() {
            pages.push((
                format!("{name}-{}", subsub.get_name()),
                subsub.clone().name(format!("{name}-{}", subsub.get_name())),
            ));
        }
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, cmd) in pages {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut out)?;
        std::fs::write(dir.join(format!("{name}.1")), out)?;
    }
    Ok(0)
}
