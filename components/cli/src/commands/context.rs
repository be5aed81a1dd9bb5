//! `docker context`: the context store under `<config>/contexts/meta/<sha256(name)>/`
//! and `currentContext` in config.json, in the real CLI's file formats.

use clap::Command;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{list_format, render_list};
use crate::cmdline::{bool_flag, list_flag, value_flag, Parsed};
use crate::format::row::Row;
use crate::format::{header, indent_json};
use crate::template::{Template, Val};
use crate::transport::DEFAULT_HOST;
use crate::{Ctx, Status};

fn meta_dir(ctx: &Ctx, name: &str) -> std::path::PathBuf {
    let digest = Sha256::digest(name.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    ctx.config.dir.join("contexts").join("meta").join(hex)
}

fn tls_dir(ctx: &Ctx, name: &str) -> std::path::PathBuf {
    let meta = meta_dir(ctx, name);
    let hash = meta
        .file_name()
        .map(|h| h.to_os_string())
        .unwrap_or_default();
    ctx.config.dir.join("contexts").join("tls").join(hash)
}

/// Every stored context's metadata, sorted by name.
fn stored(ctx: &Ctx) -> Vec<Value> {
    let mut out: Vec<Value> = std::fs::read_dir(ctx.config.dir.join("contexts").join("meta"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("meta.json")).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect();
    out.sort_by_key(|m: &Value| {
        m.get("Name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    });
    out
}

fn find(ctx: &Ctx, name: &str) -> Option<Value> {
    stored(ctx)
        .into_iter()
        .find(|m| m.get("Name").and_then(Value::as_str) == Some(name))
}

fn current(ctx: &Ctx) -> String {
    ctx.globals
        .context
        .clone()
        .or_else(|| {
            std::env::var("DOCKER_CONTEXT")
                .ok()
                .filter(|c| !c.is_empty())
        })
        .or_else(|| ctx.config.current_context())
        .unwrap_or_else(|| "default".into())
}

const HOST_WARNING: &str = "Warning: DOCKER_HOST environment variable overrides the active context. To use a context, either set the global --context flag, or unset DOCKER_HOST environment variable.";

fn not_found(ctx: &Ctx, name: &str) -> String {
    format!(
        "context \"{name}\": context not found: open {}: no such file or directory",
        meta_dir(ctx, name).join("meta.json").display()
    )
}

fn default_meta() -> Value {
    let host = std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| DEFAULT_HOST.into());
    json!({
        "Name": "default",
        "Metadata": {"Description": "Current DOCKER_HOST based configuration"},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}},
    })
}

/// Writes config.json as Go's `MarshalIndent(.., "", "\t")` does, keeping other keys;
/// a file that does not parse is left alone and named.
fn set_current(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    let path = ctx.config.dir.join("config.json");
    let mut json = match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice::<Value>(&b).map_err(|e| {
            Status::new(
                1,
                format!("error loading config file {}: {e}", path.display()),
            )
        })?,
        Err(_) => json!({"auths": {}}),
    };
    if name == "default" {
        if let Some(o) = json.as_object_mut() {
            o.remove("currentContext");
        }
    } else {
        json["currentContext"] = Value::String(name.to_string());
    }
    std::fs::create_dir_all(&ctx.config.dir)?;
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(&json, &mut ser)?;
    let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
    std::fs::write(&tmp, &buf)?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
}

pub fn ls_flags(c: Command) -> Command {
    let c = value_flag(c, "format", None, "Format output using a custom template");
    bool_flag(c, "quiet", Some('q'), "Only show context names")
}

pub fn ls(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let cur = current(ctx);
    let mut metas = vec![default_meta()];
    metas.extend(stored(ctx));
    metas.sort_by_key(|m| {
        m.get("Name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    });
    let warn =
        std::env::var("DOCKER_HOST").is_ok_and(|h| !h.is_empty()) && ctx.globals.context.is_none();
    if p.flag("quiet") {
        if warn {
            eprintln!("{HOST_WARNING}");
        }
        for m in &metas {
            println!("{}", m.get("Name").and_then(Value::as_str).unwrap_or(""));
        }
        return Ok(0);
    }
    let format = list_format(
        p.value("format"),
        "table {{.Name}}{{if .Current}} *{{end}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}",
        false,
    )?;
    let rows: Vec<Val> = metas
        .iter()
        .map(|m| {
            let name = m.get("Name").and_then(Value::as_str).unwrap_or("");
            Row::new("*formatter.clientContextContext")
                .set_val("Current", Val::Bool(name == cur))
                .set(
                    "Description",
                    m.pointer("/Metadata/Description")
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                )
                .set(
                    "DockerEndpoint",
                    m.pointer("/Endpoints/docker/Host")
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                )
                .set("Error", "")
                .set("Name", name)
                .into_val()
        })
        .collect();
    render_list(
        &format,
        &rows,
        &header(&[
            ("Name", "NAME"),
            ("Description", "DESCRIPTION"),
            ("DockerEndpoint", "DOCKER ENDPOINT"),
            ("Error", "ERROR"),
        ]),
    )?;
    if warn {
        eprintln!("{HOST_WARNING}");
    }
    Ok(0)
}

pub fn show(ctx: &Ctx, _p: &Parsed) -> anyhow::Result<i32> {
    println!("{}", current(ctx));
    Ok(0)
}

pub fn use_(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let name = &p.args[0];
    if name != "default" && find(ctx, name).is_none() {
        return Err(Status::new(1, not_found(ctx, name)).into());
    }
    set_current(ctx, name)?;
    println!("{name}");
    eprintln!("Current context is now \"{name}\"");
    if std::env::var("DOCKER_HOST").is_ok_and(|h| !h.is_empty()) {
        eprintln!("Warning: DOCKER_HOST environment variable overrides the active context. To use {name:?}, either set the global --context flag, or unset DOCKER_HOST environment variable.");
    }
    Ok(0)
}

/// A name `create` and `import` may give: valid, not reserved, not taken.
fn check_new_name(ctx: &Ctx, name: &str) -> Result<(), Status> {
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.+-".contains(c));
    if !valid {
        return Err(Status::new(
            1,
            format!("context name \"{name}\" is invalid, names are validated against regexp \"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$\""),
        ));
    }
    if name == "default" {
        return Err(Status::new(
            1,
            format!("{name:?} is a reserved context name"),
        ));
    }
    if find(ctx, name).is_some() {
        return Err(Status::new(1, format!("context \"{name}\" already exists")));
    }
    Ok(())
}

/// An existing context's metadata, or the store's error for a missing one.
fn existing(ctx: &Ctx, name: &str) -> Result<Value, Status> {
    find(ctx, name).ok_or_else(|| {
        Status::new(
            1,
            format!(
                "context \"{name}\": context not found: open {}: no such file or directory",
                meta_dir(ctx, name).join("meta.json").display()
            ),
        )
    })
}

fn write_meta(ctx: &Ctx, name: &str, meta: &Value) -> anyhow::Result<()> {
    let dir = meta_dir(ctx, name);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("meta.json"), serde_json::to_vec(meta)?)?;
    Ok(())
}

pub fn update_flags(c: Command) -> Command {
    let c = value_flag(c, "description", None, "Description of the context");
    list_flag(c, "docker", None, "set the docker endpoint")
}

pub fn update(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let name = &p.args[0];
    let mut meta = existing(ctx, name)?;
    if let Some(d) = p.value("description") {
        meta["Metadata"]["Description"] = Value::String(d);
    }
    for spec in p.values("docker") {
        for kv in spec.split(',') {
            match kv.split_once('=') {
                Some(("host", h)) => meta["Endpoints"]["docker"]["Host"] = h.into(),
                Some(("skip-tls-verify", v)) => {
                    meta["Endpoints"]["docker"]["SkipTLSVerify"] = (v == "true").into()
                }
                _ => {}
            }
        }
    }
    write_meta(ctx, name, &meta)?;
    println!("{name}");
    eprintln!("Successfully updated context \"{name}\"");
    Ok(0)
}

/// `context export`: a tar of `meta.json` and the `tls` directory, as the real CLI
/// writes it (root-owned entries, zero times), to `NAME.dockercontext` or stdout.
pub fn export(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let name = &p.args[0];
    let meta = if name == "default" {
        // The exported default context carries no description.
        let mut m = default_meta();
        m["Metadata"] = json!({});
        m
    } else {
        existing(ctx, name)?
    };
    let bytes = serde_json::to_vec(&meta)?;
    let mut data = go_tar_header(
        "meta.json",
        0o644,
        bytes.len() as u64,
        tar::EntryType::Regular,
    )?;
    data.extend_from_slice(&bytes);
    data.resize(data.len().next_multiple_of(512), 0);
    data.extend(go_tar_header("tls", 0o700, 0, tar::EntryType::Directory)?);
    match p.args.get(1).map(String::as_str) {
        Some("-") => {
            use std::io::Write as _;
            std::io::stdout().write_all(&data)?;
        }
        file => {
            let file = file.map_or_else(|| format!("{name}.dockercontext"), str::to_string);
            // Never over an existing file, as the real CLI.
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&file)
                .map_err(|e| {
                    Status::new(
                        1,
                        format!("open {file}: {}", super::system::go_io_error(&e)),
                    )
                })?;
            std::io::Write::write_all(&mut out, &data)?;
            eprintln!("Written file \"{file}\"");
        }
    }
    Ok(0)
}

/// One USTAR header as Go's `archive/tar` writes it for the real CLI's export (the
/// archive has no end blocks: the real CLI never closes its writer).
fn go_tar_header(
    name: &str,
    mode: u32,
    size: u64,
    kind: tar::EntryType,
) -> anyhow::Result<Vec<u8>> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name)?;
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(kind);
    h.set_device_major(0)?;
    h.set_device_minor(0)?;
    h.set_cksum();
    let mut bytes = h.as_bytes().to_vec();
    // Go writes the checksum as six octal digits, a NUL and a space.
    let sum: u32 = bytes[..148]
        .iter()
        .chain(&[b' '; 8])
        .chain(&bytes[156..])
        .map(|b| u32::from(*b))
        .sum();
    bytes[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    Ok(bytes)
}

/// `context import`: a context from an exported tar (file or stdin), renamed.
pub fn import(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let name = &p.args[0];
    check_new_name(ctx, name)?;
    let data = match p.args[1].as_str() {
        "-" => {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut buf)?;
            buf
        }
        file => std::fs::read(file).map_err(|e| {
            Status::new(
                1,
                format!("open {file}: {}", super::system::go_io_error(&e)),
            )
        })?,
    };
    let mut meta: Option<Value> = None;
    for entry in tar::Archive::new(data.as_slice()).entries()? {
        let mut entry = entry?;
        if entry.path()?.as_os_str() == "meta.json" {
            let mut text = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut text)?;
            meta = serde_json::from_slice(&text).ok();
        }
    }
    let Some(mut meta) = meta else {
        return Err(Status::new(1, "invalid context: no metadata found").into());
    };
    meta["Name"] = Value::String(name.clone());
    write_meta(ctx, name, &meta)?;
    println!("{name}");
    eprintln!("Successfully imported context \"{name}\"");
    Ok(0)
}

pub fn create_flags(c: Command) -> Command {
    let c = value_flag(c, "description", None, "Description of the context");
    let c = list_flag(c, "docker", None, "set the docker endpoint");
    value_flag(c, "from", None, "create context from a named context")
}

pub fn create(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let name = &p.args[0];
    check_new_name(ctx, name)?;
    let mut host = String::new();
    let mut skip = false;
    for spec in p.values("docker") {
        for kv in spec.split(',') {
            match kv.split_once('=') {
                Some(("host", h)) => host = h.to_string(),
                Some(("skip-tls-verify", v)) => skip = v == "true",
                _ => {}
            }
        }
    }
    if host.is_empty() {
        let from = p.value("from").unwrap_or_else(|| current(ctx));
        host = if from == "default" {
            default_meta()["Endpoints"]["docker"]["Host"]
                .as_str()
                .unwrap_or(DEFAULT_HOST)
                .to_string()
        } else {
            find(ctx, &from)
                .and_then(|m| {
                    m.pointer("/Endpoints/docker/Host")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_else(|| DEFAULT_HOST.into())
        };
    }
    let mut metadata = serde_json::Map::new();
    if let Some(d) = p.value("description").filter(|d| !d.is_empty()) {
        metadata.insert("Description".into(), Value::String(d));
    }
    let meta = json!({
        "Name": name,
        "Metadata": metadata,
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip}},
    });
    let dir = meta_dir(ctx, name);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("meta.json"), serde_json::to_vec(&meta)?)?;
    println!("{name}");
    eprintln!("Successfully created context \"{name}\"");
    Ok(0)
}

pub fn rm_flags(c: Command) -> Command {
    bool_flag(
        c,
        "force",
        Some('f'),
        "Force the removal of a context in use",
    )
}

pub fn rm(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let cur = current(ctx);
    let mut errors = Vec::new();
    for name in &p.args {
        if name == "default" {
            errors.push("context \"default\" cannot be removed".to_string());
            continue;
        }
        if find(ctx, name).is_none() {
            errors.push(format!("context \"{name}\" does not exist"));
            continue;
        }
        if *name == cur && !p.flag("force") {
            errors.push(format!(
                "context \"{name}\" is in use, set -f flag to force remove"
            ));
            continue;
        }
        if *name == cur {
            set_current(ctx, "default")?;
        }
        let _ = std::fs::remove_dir_all(meta_dir(ctx, name));
        let _ = std::fs::remove_dir_all(tls_dir(ctx, name));
        println!("{name}");
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(Status::new(1, errors.join("\n")).into())
    }
}

pub fn inspect_flags(c: Command) -> Command {
    value_flag(
        c,
        "format",
        Some('f'),
        "Format output using a custom template",
    )
}

pub fn inspect(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let names = if p.args.is_empty() {
        vec![current(ctx)]
    } else {
        p.args.clone()
    };
    let template = match p.value("format").filter(|f| !f.is_empty()) {
        Some(f) => Some(
            Template::parse(&f)
                .map_err(|e| Status::new(64, format!("template parsing error: {e}")))?,
        ),
        None => None,
    };
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for name in &names {
        let (meta, storage) = if name == "default" {
            (
                {
                    let mut m = default_meta();
                    m["Metadata"] = json!({});
                    m
                },
                json!({"MetadataPath": "<IN MEMORY>", "TLSPath": "<IN MEMORY>"}),
            )
        } else {
            match find(ctx, name) {
                Some(m) => (
                    m,
                    json!({
                        "MetadataPath": meta_dir(ctx, name).display().to_string(),
                        "TLSPath": tls_dir(ctx, name).display().to_string(),
                    }),
                ),
                None => {
                    errors.push(not_found(ctx, name));
                    continue;
                }
            }
        };
        let mut item = meta;
        if item.get("Metadata").is_none_or(Value::is_null) {
            item["Metadata"] = json!({});
        }
        item["TLSMaterial"] = json!({});
        item["Storage"] = storage;
        items.push(item);
    }
    match template {
        Some(t) => {
            for item in &items {
                let out = t
                    .execute(&Val::from_json(item))
                    .map_err(|e| Status::new(1, format!("template parsing error: {e}")))?;
                println!("{out}");
            }
        }
        None => {
            let raw = crate::template::go_json_escaped(&Value::Array(items));
            println!("{}", indent_json(raw.as_bytes(), 0));
        }
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(Status::new(1, errors.join("\n")).into())
    }
}
