//! `docker cp`: files between a container and the local filesystem, or tar streams
//! with `-`. The daemon speaks tar archives (`/containers/{id}/archive`); this side
//! packs, unpacks and renames the top entry as docker's copy rules ask.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Command;
use serde_json::Value;

use crate::client::{encode, ClientError, Query};
use crate::cmdline::{bool_flag, Parsed};
use crate::transport::Body;
use crate::{Ctx, Status};

pub fn flags(c: Command) -> Command {
    let c = bool_flag(
        c,
        "archive",
        Some('a'),
        "Archive mode (copy all uid/gid information)",
    );
    let c = bool_flag(
        c,
        "follow-link",
        Some('L'),
        "Always follow symbol link in SRC_PATH",
    );
    bool_flag(
        c,
        "quiet",
        Some('q'),
        "Suppress progress output during copy",
    )
}

/// `CONTAINER:PATH` → (container, path); a local path has no container part.
fn split(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    arg.split_once(':').filter(|(c, _)| !c.is_empty())
}

/// The daemon's stat of a path in the container (`X-Docker-Container-Path-Stat`).
fn stat(ctx: &Ctx, container: &str, path: &str) -> Result<Option<Value>, ClientError> {
    let resp = ctx.client.call(
        "HEAD",
        &format!("/containers/{}/archive", encode(container)),
        Query::new().add("path", path),
        &[],
        Body::Empty,
    );
    match resp {
        Ok(r) => {
            let header = r
                .header("X-Docker-Container-Path-Stat")
                .unwrap_or("")
                .to_string();
            let decoded = base64_decode(&header);
            Ok(serde_json::from_slice(&decoded).ok())
        }
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Decode base64 in the standard alphabet (what dockerd and config.json use), or the
/// url-safe one; undecodable input gives nothing, which callers treat as absent.
pub(super) fn base64_decode(s: &str) -> Vec<u8> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    use base64::Engine as _;
    STANDARD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .unwrap_or_default()
}

fn is_dir_mode(stat: &Value) -> bool {
    // Go's os.ModeDir is the top bit of a uint32.
    stat.get("mode").and_then(Value::as_u64).unwrap_or(0) & (1 << 31) != 0
}

pub fn cp(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let (src, dst) = (&p.args[0], &p.args[1]);
    match (split(src), split(dst)) {
        (Some(_), Some(_)) => {
            Err(Status::new(1, "copying between containers is not supported").into())
        }
        (None, None) => Err(Status::new(1, "must specify at least one container source").into()),
        (Some((c, path)), None) => from_container(ctx, c, path, dst),
        (None, Some((c, path))) => to_container(ctx, p, src, c, path),
    }
}

fn from_container(ctx: &Ctx, container: &str, path: &str, dst: &str) -> anyhow::Result<i32> {
    let body = ctx.client.stream(
        "GET",
        &format!("/containers/{}/archive", encode(container)),
        Query::new().add("path", path),
        Body::Empty,
    )?;
    if dst == "-" {
        let mut out = std::io::stdout().lock();
        let mut body = body;
        std::io::copy(&mut body, &mut out)?;
        return Ok(0);
    }
    let dst = PathBuf::from(dst);
    let src_base = Path::new(path.trim_end_matches('/'))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    // Into an existing directory: keep the name; otherwise the copy takes dst's name.
    let (target_dir, rename) = if dst.is_dir() {
        (dst.clone(), None)
    } else {
        let parent = dst
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        if !parent.is_dir() {
            return Err(Status::new(
                1,
                format!(
                    "invalid output path: directory {:?} does not exist",
                    parent.display().to_string()
                ),
            )
            .into());
        }
        (
            parent,
            dst.file_name().map(|n| n.to_string_lossy().into_owned()),
        )
    };
    let mut archive = tar::Archive::new(body);
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.into_owned();
        let mut comps = name.components();
        let first = comps
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        let rest: PathBuf = comps.collect();
        let top = match (&rename, first == src_base) {
            (Some(r), true) => r.clone(),
            _ => first,
        };
        let mut out = target_dir.join(top);
        if !rest.as_os_str().is_empty() {
            out = out.join(rest);
        }
        if !out.starts_with(&target_dir) {
            continue;
        }
        entry.unpack(&out)?;
    }
    Ok(0)
}

fn to_container(
    ctx: &Ctx,
    p: &Parsed,
    src: &str,
    container: &str,
    path: &str,
) -> anyhow::Result<i32> {
    let url = format!("/containers/{}/archive", encode(container));
    if src == "-" {
        let mut stdin = std::io::stdin().lock();
        ctx.client.call(
            "PUT",
            &url,
            Query::new()
                .add("path", path)
                .add("noOverwriteDirNonDir", "true"),
            &[],
            Body::Stream(&mut stdin, "application/x-tar"),
        )?;
        return Ok(0);
    }
    let local = Path::new(src);
    let meta = if p.flag("follow-link") {
        std::fs::metadata(local)
    } else {
        std::fs::symlink_metadata(local)
    }
    .map_err(|e| {
        let shown = host_source_path(src, p.flag("follow-link"));
        Status::new(
            1,
            format!("lstat {shown}: {}", super::system::go_io_error(&e)),
        )
    })?;
    let base = local
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| ".".into());
    // An existing directory receives the entry; a missing path is the new name.
    let (dir, name) = match stat(ctx, container, path)? {
        Some(st) if is_dir_mode(&st) => (path.to_string(), base),
        Some(_) if meta.is_dir() => {
            return Err(Status::new(
                1,
                format!("cannot copy directory to existing file {path:?}"),
            )
            .into())
        }
        _ => {
            let pp = Path::new(path);
            let parent = pp
                .parent()
                .map(|x| x.display().to_string())
                .filter(|x| !x.is_empty())
                .unwrap_or_else(|| "/".into());
            let name = pp
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or(base);
            (parent, name)
        }
    };
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(p.flag("follow-link"));
    if meta.is_dir() {
        builder.append_dir_all(&name, local)?;
    } else {
        builder.append_path_with_name(local, &name)?;
    }
    let data = builder.into_inner()?;
    let mut reader: &[u8] = &data;
    ctx.client.call(
        "PUT",
        &url,
        Query::new()
            .add("path", dir)
            .add("noOverwriteDirNonDir", "true")
            .flag("copyUIDGID", p.flag("archive")),
        &[],
        Body::Stream(&mut reader as &mut dyn Read, "application/x-tar"),
    )?;
    Ok(0)
}

/// The path the real CLI reports for a local source it cannot stat: made absolute and
/// cleaned (keeping a trailing `/` or `/.`), then, without `-L`, its directory resolved
/// and joined back with a `/` (so `/x` becomes `//x`); a missing directory is reported
/// as the first component that is missing.
fn host_source_path(src: &str, follow_link: bool) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    let joined = if src.starts_with('/') {
        src.to_string()
    } else {
        format!("{}/{src}", cwd.display())
    };
    let mut abs = clean(&joined);
    if src.ends_with("/.") {
        abs.push_str("/.");
    } else if src.ends_with('/') && abs != "/" {
        abs.push('/');
    }
    let first_missing = |path: &str| -> String {
        let mut prefix = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            prefix.push('/');
            prefix.push_str(part);
            if std::fs::symlink_metadata(&prefix).is_err() {
                return prefix;
            }
        }
        path.to_string()
    };
    if follow_link {
        return first_missing(&clean(&abs));
    }
    let cut = abs.rfind('/').map_or(0, |i| i + 1);
    let (dir, base) = abs.split_at(cut);
    match std::fs::canonicalize(dir) {
        Ok(resolved) => format!("{}/{base}", resolved.display()),
        Err(_) => first_missing(&clean(dir)),
    }
}

/// Go's `filepath.Clean` for absolute paths.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_sources_are_named_like_the_real_cli() {
        assert_eq!(host_source_path("/nonexistent-x", false), "//nonexistent-x");
        assert_eq!(
            host_source_path("/tmp/nonexistent-x", false),
            "/tmp/nonexistent-x"
        );
        assert_eq!(
            host_source_path("/nonexistent-d/x/", false),
            "/nonexistent-d"
        );
        assert_eq!(clean("/a/./b/../c//"), "/a/c");
    }

    #[test]
    fn splits_container_paths() {
        assert_eq!(split("c1:/etc/hosts"), Some(("c1", "/etc/hosts")));
        assert_eq!(split("/tmp/x:y"), None);
        assert_eq!(split("-"), None);
    }

    #[test]
    fn decodes_base64() {
        assert_eq!(base64_decode("aGVsbG8="), b"hello");
    }
}
