//! `login` and `logout`: registry credentials in `config.json` (`auths`), written
//! atomically and never over a file we could not parse.

use std::io::Read;

use clap::Command;
use serde_json::{json, Value};

use crate::client::Query;
use crate::cmdline::{bool_flag, value_flag, Parsed};
use crate::{Ctx, Status};

const DEFAULT_REGISTRY: &str = "https://index.docker.io/v1/";

pub fn login_flags(c: Command) -> Command {
    let c = value_flag(
        c,
        "password",
        Some('p'),
        "Password or Personal Access Token (PAT)",
    );
    let c = bool_flag(
        c,
        "password-stdin",
        None,
        "Take the Password or Personal Access Token (PAT) from stdin",
    );
    value_flag(c, "username", Some('u'), "Username")
}

fn server_key(arg: Option<&String>) -> String {
    match arg {
        None => DEFAULT_REGISTRY.to_string(),
        Some(s) if s == "docker.io" || s == "index.docker.io" => DEFAULT_REGISTRY.to_string(),
        Some(s) => s
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string(),
    }
}

fn base64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Reads config.json for an update; a file that exists but does not parse is an
/// error naming it (and is left as it is).
fn load_for_update(ctx: &Ctx) -> anyhow::Result<(std::path::PathBuf, Value)> {
    let path = ctx.config.dir.join("config.json");
    let json = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Status::new(
                1,
                format!("error loading config file {}: {e}", path.display()),
            )
        })?,
        Err(_) => json!({}),
    };
    Ok((path, json))
}

fn save(path: &std::path::Path, json: &Value) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
    std::fs::write(&tmp, serde_json::to_string_pretty(json)?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

pub fn login(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let server = server_key(p.args.first());
    let username = p.value("username").unwrap_or_default();
    let mut password = p.value("password").unwrap_or_default();
    if p.flag("password-stdin") {
        if p.value("password").is_some() {
            return Err(
                Status::new(1, "--password and --password-stdin are mutually exclusive").into(),
            );
        }
        if username.is_empty() {
            return Err(Status::new(1, "Must provide --username with --password-stdin").into());
        }
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        password = s.trim_end_matches(['\n', '\r']).to_string();
    }
    if username.is_empty() || password.is_empty() {
        return Err(Status::new(
            1,
            "Error: Cannot perform an interactive login from a non TTY device",
        )
        .into());
    }
    if p.value("password").is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let (path, mut json) = load_for_update(ctx)?;
    let body = json!({"username": username, "password": password, "serveraddress": server});
    let resp = ctx.client.post("/auth", Query::new(), Some(&body))?;
    let auth = base64(format!("{username}:{password}").as_bytes());
    json["auths"][&server] = json!({"auth": auth});
    save(&path, &json)?;
    if let Some(s) = resp.get("Status").and_then(Value::as_str) {
        println!("{s}");
    } else {
        println!("Login Succeeded");
    }
    Ok(0)
}

pub fn logout(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let server = server_key(p.args.first());
    let (path, mut json) = load_for_update(ctx)?;
    let present = json
        .get("auths")
        .and_then(Value::as_object)
        .is_some_and(|a| a.contains_key(&server));
    println!(
        "Removing login credentials for {}",
        p.args
            .first()
            .map(String::as_str)
            .unwrap_or(DEFAULT_REGISTRY)
    );
    if present {
        if let Some(a) = json.get_mut("auths").and_then(Value::as_object_mut) {
            a.remove(&server);
        }
        save(&path, &json)?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_base64() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"a"), "YQ==");
    }
}
