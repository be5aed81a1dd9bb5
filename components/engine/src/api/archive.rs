//! `docker cp`: `GET`/`HEAD`/`PUT /containers/{id}/archive`. Paths are resolved as the
//! container sees them (its volumes and binds included), and symlinks in the archive
//! or the container can never lead outside the container's filesystem.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hyper::{Response, StatusCode};
use serde_json::json;

use super::body::{empty, spool_to_file, streaming};
use super::containers::ChannelWriter;
use super::{ApiError, Ctx, Resp};
use crate::containers::rootfs::{resolve_in_root, RootfsDirs};
use crate::containers::Container;
use crate::daemon::Daemon;

/// The host directory that holds container path `path`, and the path below it:
/// the container's mounts first (longest match), else its root filesystem.
fn host_root(c: &Container, merged: &Path, path: &str) -> (PathBuf, String) {
    let rec = c.snapshot();
    let mut best: Option<(usize, PathBuf, String)> = None;
    for m in rec.mounts.iter().filter(|m| m.kind != "tmpfs") {
        let dest = m.destination.trim_end_matches('/');
        if path == dest || path.starts_with(&format!("{dest}/")) {
            let rest = path[dest.len()..].to_string();
            if best.as_ref().is_none_or(|(l, _, _)| dest.len() > *l) {
                best = Some((dest.len(), PathBuf::from(&m.source), rest));
            }
        }
    }
    // The files dockerd bind-mounts over the image's own.
    for f in ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"] {
        if path == f && best.is_none() {
            return (c.dir.clone(), format!("/{}", &f[5..]));
        }
    }
    match best {
        Some((_, root, rest)) => (root, rest),
        None => (merged.to_path_buf(), path.to_string()),
    }
}

/// Mount the rootfs for the duration of a copy if the container is not running.
struct Mounted {
    dirs: RootfsDirs,
    unmount: bool,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.unmount {
            self.dirs.unmount();
        }
    }
}

fn mount(d: &Daemon, c: &Container) -> Result<(Mounted, PathBuf), ApiError> {
    let dirs = RootfsDirs::new(&d.data_root, &c.id);
    let was = dirs.is_mounted();
    let merged = dirs.mount()?;
    Ok((
        Mounted {
            dirs,
            unmount: !was,
        },
        merged,
    ))
}

fn go_mode(md: &std::fs::Metadata) -> u32 {
    let m = md.mode();
    let mut out = m & 0o777;
    if md.is_dir() {
        out |= 1 << 31;
    }
    if md.file_type().is_symlink() {
        out |= 1 << 27;
    }
    if m & 0o4000 != 0 {
        out |= 1 << 23;
    }
    if m & 0o2000 != 0 {
        out |= 1 << 22;
    }
    if m & 0o1000 != 0 {
        out |= 1 << 20;
    }
    out
}

fn stat_header(name: &str, host: &Path) -> Result<String, ApiError> {
    let md = std::fs::symlink_metadata(host)?;
    let link = std::fs::read_link(host)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mtime =
        std::time::UNIX_EPOCH + std::time::Duration::new(md.mtime() as u64, md.mtime_nsec() as u32);
    let stat = json!({
        "name": name,
        "size": md.len(),
        "mode": go_mode(&md),
        "mtime": humantime::format_rfc3339_nanos(mtime).to_string(),
        "linkTarget": link,
    });
    Ok(STANDARD.encode(serde_json::to_vec(&stat).unwrap()))
}

fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            x => parts.push(x),
        }
    }
    format!("/{}", parts.join("/"))
}

pub async fn get(ctx: Ctx, id: &str, head: bool) -> Resp {
    let d = ctx.daemon.clone();
    let c = d.container(id)?;
    let raw = ctx.query.get("path").unwrap_or("").to_string();
    if raw.is_empty() {
        return Err(ApiError::bad_request("path is required"));
    }
    let path = clean(&raw);
    let (guard, merged) = mount(&d, &c)?;
    let (root, rest) = host_root(&c, &merged, &path);
    let parent = resolve_in_root(
        &root,
        Path::new(&rest)
            .parent()
            .map(|p| p.to_str().unwrap_or("/"))
            .unwrap_or("/"),
    );
    let name = Path::new(&path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    let mut host = if path == "/" {
        root.clone()
    } else {
        parent.join(&name)
    };
    // A trailing "/." or "/" asks for what the link points to.
    if raw.ends_with('/') || raw.ends_with("/.") {
        host = resolve_in_root(&root, &rest);
    }
    if std::fs::symlink_metadata(&host).is_err() {
        return Err(ApiError::not_found(format!(
            "Could not find the file {raw} in container {id}"
        )));
    }
    let stat = stat_header(&name, &host)?;
    if head {
        return Ok(Response::builder()
            .status(StatusCode::OK)
            .header("X-Docker-Container-Path-Stat", stat)
            .body(empty())
            .unwrap());
    }
    let (tx, mut resp) = streaming("application/x-tar");
    resp.headers_mut()
        .insert("X-Docker-Container-Path-Stat", stat.parse().unwrap());
    tokio::task::spawn_blocking(move || {
        let _keep = guard;
        let mut b = tar::Builder::new(std::io::BufWriter::with_capacity(
            128 * 1024,
            ChannelWriter(tx),
        ));
        b.follow_symlinks(false);
        let md = std::fs::symlink_metadata(&host);
        let _ = match md {
            Ok(m) if m.is_dir() => b.append_dir_all(&name, &host),
            _ => b.append_path_with_name(&host, &name),
        };
        let _ = b.into_inner();
    });
    Ok(resp)
}

pub async fn put(ctx: Ctx, id: &str) -> Resp {
    let d = ctx.daemon.clone();
    let c = d.container(id)?;
    let raw = ctx.query.get("path").unwrap_or("").to_string();
    let no_overwrite = ctx.query.bool("noOverwriteDirNonDir", false);
    let path = clean(&raw);
    let (guard, merged) = mount(&d, &c)?;
    let (root, rest) = host_root(&c, &merged, &path);
    let dest = resolve_in_root(&root, &rest);
    match std::fs::metadata(&dest) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(ApiError::bad_request(format!(
                "extraction point is not a directory: {raw}"
            )))
        }
        Err(_) => {
            return Err(ApiError::not_found(format!(
                "Could not find the file {raw} in container {id}"
            )))
        }
    }
    if c.snapshot()
        .host_config
        .get("ReadonlyRootfs")
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
        && root == merged
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "container rootfs is marked read-only",
        ));
    }
    let tmp = d
        .images
        .lock()
        .unwrap()
        .tmp_dir()
        .join(format!("cp-{}.tar", &crate::ids::random_id()[..16]));
    if let Err(e) = spool_to_file(ctx.req, &tmp).await {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let tmp2 = tmp.clone();
    let rest2 = rest.clone();
    let res = tokio::task::spawn_blocking(move || {
        let _keep = guard;
        extract(&tmp2, &root, &rest2, no_overwrite)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let _ = std::fs::remove_file(&tmp);
    res?;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .body(empty())
        .unwrap())
}

/// Unpack the archive under container path `dir` of `root`, each entry's parent
/// resolved inside `root` so no symlink (old or just unpacked) leads outside.
fn extract(tarball: &Path, root: &Path, dir: &str, no_overwrite: bool) -> Result<(), ApiError> {
    let f = std::fs::File::open(tarball)?;
    let reader: Box<dyn Read> = crate::images::layers::maybe_gunzip(f)?;
    let mut ar = tar::Archive::new(crate::images::layers::GoHeaders::new(reader));
    for entry in ar
        .entries()
        .map_err(|e| ApiError::bad_request(format!("invalid tar: {e}")))?
    {
        let mut entry = entry.map_err(|e| ApiError::bad_request(format!("invalid tar: {e}")))?;
        let p = entry
            .path()
            .map_err(|e| ApiError::bad_request(e.to_string()))?
            .into_owned();
        if p.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(ApiError::bad_request(format!(
                "invalid tar: entry {} escapes the destination",
                p.display()
            )));
        }
        let rel: PathBuf = p
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .collect();
        let Some(name) = rel.file_name().map(|n| n.to_owned()) else {
            continue;
        };
        let parent_in = format!(
            "{}/{}",
            dir,
            rel.parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
        let parent = resolve_in_root(root, &parent_in);
        std::fs::create_dir_all(&parent)?;
        let target = parent.join(&name);
        let kind = entry.header().entry_type();
        if let Ok(md) = std::fs::symlink_metadata(&target) {
            if no_overwrite && md.is_dir() != kind.is_dir() {
                return Err(ApiError::bad_request(format!(
                    "cannot overwrite {} with a {}",
                    target.display(),
                    if kind.is_dir() {
                        "directory"
                    } else {
                        "non-directory"
                    }
                )));
            }
            if !md.is_dir() {
                std::fs::remove_file(&target)?;
            }
        }
        if kind.is_hard_link() {
            let link = entry
                .link_name()
                .ok()
                .flatten()
                .map(|l| l.into_owned())
                .unwrap_or_default();
            let src = resolve_in_root(root, &format!("{dir}/{}", link.display()));
            std::fs::hard_link(src, &target)?;
            continue;
        }
        entry.set_preserve_mtime(true);
        entry.set_unpack_xattrs(false);
        entry.set_preserve_permissions(true);
        entry
            .unpack(&target)
            .map_err(|e| ApiError::internal(format!("{}: {e}", target.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extraction_stays_inside() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        let outside = d.path().join("outside");
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("tmp/esc")).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        b.append_data(&mut h, "esc/pwned", &b"x"[..]).unwrap();
        let t = d.path().join("a.tar");
        std::fs::write(&t, b.into_inner().unwrap()).unwrap();
        extract(&t, &root, "/tmp", false).unwrap();
        assert!(!outside.join("pwned").exists());
        assert!(root
            .join(outside.strip_prefix("/").unwrap())
            .join("pwned")
            .exists());
    }
}
