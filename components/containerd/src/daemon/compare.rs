//! Diff compare: the changes between two mounts as a layer tarball in the content
//! store (what `docker commit` and `ctr snapshots diff` ask for). An overlay upper dir
//! is read directly (its whiteouts become `.wh.` entries); two plain trees are compared
//! by type, size, mode and mtime.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use containerd_client::services::v1 as api;
use containerd_client::types::{Descriptor, Mount};
use sha2::{Digest, Sha256};
use tonic::Status;

use super::Daemon;

fn upper_of(mounts: &[Mount]) -> Option<(PathBuf, bool)> {
    match mounts {
        [m] if m.r#type == "overlay" => m
            .options
            .iter()
            .find_map(|o| o.strip_prefix("upperdir="))
            .map(|u| (PathBuf::from(u), true)),
        [m] if m.r#type == "bind" || m.r#type == "rbind" => Some((PathBuf::from(&m.source), false)),
        _ => None,
    }
}

fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(rd) = fs::read_dir(root.join(&rel)) else {
            continue;
        };
        let mut names: Vec<_> = rd.flatten().map(|e| rel.join(e.file_name())).collect();
        names.sort();
        for n in names.into_iter().rev() {
            if fs::symlink_metadata(root.join(&n))
                .map(|m| m.is_dir())
                .unwrap_or(false)
            {
                stack.push(n.clone());
            }
            out.push(n);
        }
    }
    out.sort();
    out
}

fn changed(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    a.file_type() != b.file_type()
        || a.mode() != b.mode()
        || a.uid() != b.uid()
        || a.gid() != b.gid()
        || (!a.is_dir() && (a.len() != b.len() || a.mtime() != b.mtime()))
}

fn build_tar(lower: Option<&Path>, upper: &Path, overlay: bool) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    // Whiteouts as containerd writes them: empty regular files, mode 0, owned by
    // root, stamped with the time of the diff.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let marker = |name: PathBuf| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(0);
        h.set_mode(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(now);
        (h, name)
    };
    let whiteout = |b: &mut tar::Builder<Vec<u8>>, rel: &Path| -> std::io::Result<()> {
        let name = rel.file_name().unwrap_or_default().to_string_lossy();
        let (mut h, wh) = marker(rel.with_file_name(format!(".wh.{name}")));
        b.append_data(&mut h, wh, std::io::empty())
    };
    for rel in walk(upper) {
        let p = upper.join(&rel);
        let md = fs::symlink_metadata(&p)?;
        if overlay && md.file_type().is_char_device() && md.rdev() == 0 {
            whiteout(&mut b, &rel)?;
            continue;
        }
        if !overlay {
            if let Some(l) = lower {
                if let Ok(lm) = fs::symlink_metadata(l.join(&rel)) {
                    if !changed(&lm, &md) {
                        continue;
                    }
                }
            }
        }
        b.append_path_with_name(&p, &rel)?;
        if overlay && md.is_dir() {
            let mut buf = [0u8; 4];
            let c = std::ffi::CString::new(p.as_os_str().to_string_lossy().as_bytes()).unwrap();
            let n = std::ffi::CString::new("trusted.overlay.opaque").unwrap();
            // SAFETY: valid C strings and a 4-byte buffer.
            let r = unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), 4) };
            if r == 1 && buf[0] == b'y' {
                let (mut h, opq) = marker(rel.join(".wh..wh..opq"));
                b.append_data(&mut h, opq, std::io::empty())?;
            }
        }
    }
    if !overlay {
        if let Some(l) = lower {
            for rel in walk(l) {
                if fs::symlink_metadata(upper.join(&rel)).is_err()
                    && rel
                        .parent()
                        .map(|p| p.as_os_str().is_empty() || upper.join(p).exists())
                        .unwrap_or(true)
                {
                    whiteout(&mut b, &rel)?;
                }
            }
        }
    }
    b.into_inner()
}

pub async fn diff(d: &Daemon, ns: &str, r: api::DiffRequest) -> Result<Descriptor, Status> {
    let (upper, overlay) = upper_of(&r.right).ok_or_else(|| {
        Status::invalid_argument("unsupported upper mounts for diff: invalid argument")
    })?;
    let lower = if r.left.is_empty() {
        None
    } else {
        Some(
            upper_of(&r.left)
                .filter(|(_, o)| !o)
                .map(|(p, _)| p)
                .ok_or_else(|| {
                    Status::invalid_argument("unsupported lower mounts for diff: invalid argument")
                })?,
        )
    };
    let media_type = if r.media_type.is_empty() {
        "application/vnd.oci.image.layer.v1.tar+gzip".to_owned()
    } else {
        r.media_type.clone()
    };
    let mt = media_type.clone();
    let (blob, uncompressed) =
        tokio::task::spawn_blocking(move || -> std::io::Result<(Vec<u8>, String)> {
            let tar = build_tar(lower.as_deref(), &upper, overlay)?;
            let udigest = format!("sha256:{}", super::content::hex(&Sha256::digest(&tar)));
            let blob = if mt.ends_with("gzip") {
                let mut gz =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                gz.write_all(&tar)?;
                gz.finish()?
            } else if mt.ends_with("zstd") {
                zstd::encode_all(tar.as_slice(), 3)?
            } else {
                tar
            };
            Ok((blob, udigest))
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(|e| Status::internal(format!("failed to create diff tar stream: {e}")))?;
    let digest = d
        .content
        .put_bytes(&blob)
        .map_err(super::errors::from_content)?;
    let mut labels: HashMap<String, String> = r.labels.clone();
    labels.insert("containerd.io/uncompressed".into(), uncompressed);
    let t: prost_types::Timestamp = std::time::SystemTime::now().into();
    let info = api::Info {
        digest: digest.clone(),
        size: blob.len() as i64,
        created_at: Some(t),
        updated_at: Some(t),
        labels,
    };
    let _g = d.meta_lock.lock().await;
    d.store
        .put(ns, "content", &digest, &info)
        .map_err(super::errors::from_store)?;
    Ok(Descriptor {
        media_type,
        digest,
        size: blob.len() as i64,
        annotations: HashMap::new(),
    })
}
