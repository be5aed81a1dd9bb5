//! Image archives: `docker import` (a rootfs tarball becomes a one-layer image),
//! `docker load` (docker-save and OCI layouts) and `docker save`. Everything is
//! verified and unpacked before anything is registered, so a bad archive leaves nothing.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use serde_json::{json, Value};

use super::layers::{self, HashingReader};
use super::{ImageError, ImageStore};

/// Unpack one layer tarball (compressed or not) and register it above `parent`;
/// returns the chain id and whether the layer is new. `want` is the diff id the
/// image config promises, checked before registering.
fn add_layer(
    store: &Mutex<ImageStore>,
    src: &Path,
    parent: Option<&str>,
    want: Option<&str>,
) -> Result<(String, String, bool), ImageError> {
    let (staged, tmp_dir) = {
        let s = store.lock().unwrap();
        (s.staging_dir(), s.tmp_dir())
    };
    let plain = tmp_dir.join(format!("layer-{}.tar", &crate::ids::random_id()[..16]));
    let result = (|| {
        // Keep the uncompressed tar: `save` gives back exactly the bytes of the diff id.
        let mut reader = HashingReader::new(layers::maybe_gunzip(File::open(src)?)?);
        {
            let mut out = io::BufWriter::new(File::create(&plain)?);
            io::copy(&mut reader, &mut out)?;
            out.flush()?;
        }
        let diff_id = reader.digest();
        if let Some(w) = want {
            if w != diff_id {
                return Err(ImageError::Invalid(format!(
                    "layer digest mismatch: the config says {w}, the layer is {diff_id}"
                )));
            }
        }
        std::fs::create_dir_all(staged.join("diff"))?;
        let size = layers::unpack(
            io::BufReader::new(File::open(&plain)?),
            &staged.join("diff"),
        )?;
        let (layer, new) =
            store
                .lock()
                .unwrap()
                .commit_layer(parent, &diff_id, size, &staged, Some(&plain))?;
        Ok((layer.chain_id, diff_id, new))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staged);
        let _ = std::fs::remove_file(&plain);
    }
    result
}

/// `POST /images/create?fromSrc=-`: the tarball at `src` becomes a one-layer image.
pub fn import(
    store: &Mutex<ImageStore>,
    src: &Path,
    tag: Option<&str>,
    config: Value,
    message: &str,
) -> Result<String, ImageError> {
    let (chain, diff_id, new) = add_layer(store, src, None, None)?;
    let now = crate::ids::now_rfc3339();
    let mut cfg = json!({
        "architecture": "amd64",
        "comment": message,
        "config": config,
        "docker_version": buildinfo::VERSION,
        "created": now,
        "history": [{"created": now, "comment": message}],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    });
    if message.is_empty() {
        cfg.as_object_mut().unwrap().remove("comment");
        cfg["history"][0].as_object_mut().unwrap().remove("comment");
    }
    let mut s = store.lock().unwrap();
    let img = match s.add_image(serde_json::to_vec(&cfg).unwrap()) {
        Ok(i) => i,
        Err(e) => {
            if new {
                s.forget_layer(&chain);
            }
            return Err(e);
        }
    };
    if let Some(t) = tag {
        s.tag(t, &img.id)?;
    }
    Ok(img.id)
}

/// Resolve `rel` inside the unpacked archive at `root`, refusing anything that leaves it.
fn inside(root: &Path, rel: &str) -> Result<PathBuf, ImageError> {
    let bad = || {
        ImageError::Invalid(format!(
            "invalid archive: {rel:?} points outside the archive"
        ))
    };
    if Path::new(rel)
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::RootDir))
    {
        return Err(bad());
    }
    let p = root
        .join(rel)
        .canonicalize()
        .map_err(|_| ImageError::Invalid(format!("invalid archive: {rel} is missing")))?;
    if !p.starts_with(root.canonicalize()?) {
        return Err(bad());
    }
    Ok(p)
}

/// Extract the outer archive of `docker load`: directories, files, and relative symlinks
/// that stay inside (docker save links duplicate layers); anything else is refused.
fn extract_outer(src: &Path, dest: &Path) -> Result<(), ImageError> {
    let mut ar = tar::Archive::new(layers::GoHeaders::new(layers::maybe_gunzip(File::open(
        src,
    )?)?));
    for entry in ar
        .entries()
        .map_err(|e| ImageError::Invalid(format!("invalid archive: {e}")))?
    {
        let mut entry = entry.map_err(|e| ImageError::Invalid(format!("invalid archive: {e}")))?;
        let raw = entry
            .path()
            .map_err(|e| ImageError::Invalid(e.to_string()))?
            .into_owned();
        if raw.components().any(|c| matches!(c, Component::ParentDir)) || raw.is_absolute() {
            return Err(ImageError::Invalid(format!(
                "invalid archive: entry {:?} escapes the archive (path traversal)",
                raw
            )));
        }
        let kind = entry.header().entry_type();
        if kind.is_symlink() {
            let target = entry
                .link_name()
                .ok()
                .flatten()
                .map(|t| t.into_owned())
                .unwrap_or_default();
            let mut depth: i32 = raw.components().count() as i32 - 1;
            for c in target.components() {
                match c {
                    Component::ParentDir => depth -= 1,
                    Component::Normal(_) => depth += 1,
                    _ => depth = -1000,
                }
                if depth < 0 {
                    return Err(ImageError::Invalid(format!(
                        "invalid archive: symlink {:?} -> {:?} escapes the archive",
                        raw, target
                    )));
                }
            }
        } else if !(kind.is_dir()
            || kind.is_file()
            || kind == tar::EntryType::Continuous
            || kind.is_pax_global_extensions())
        {
            return Err(ImageError::Invalid(format!(
                "invalid archive: entry {:?} has a type docker load does not take",
                raw
            )));
        }
        if !entry
            .unpack_in(dest)
            .map_err(|e| ImageError::Invalid(format!("invalid archive: {e}")))?
        {
            return Err(ImageError::Invalid(format!(
                "invalid archive: entry {:?} escapes the archive",
                raw
            )));
        }
    }
    Ok(())
}

struct Manifest {
    config: String,
    tags: Vec<String>,
    layers: Vec<String>,
}

fn read_json(root: &Path, rel: &str) -> Result<Value, ImageError> {
    let p = inside(root, rel)?;
    serde_json::from_slice(&std::fs::read(p)?)
        .map_err(|e| ImageError::Invalid(format!("invalid archive: {rel}: {e}")))
}

fn manifests(root: &Path) -> Result<Vec<Manifest>, ImageError> {
    if root.join("manifest.json").exists() {
        let v = read_json(root, "manifest.json")?;
        let list = v.as_array().ok_or_else(|| {
            ImageError::Invalid("invalid archive: manifest.json is not a list".into())
        })?;
        return list
            .iter()
            .map(|m| {
                let strs = |k: &str| -> Vec<String> {
                    m.get(k)
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default()
                };
                Ok(Manifest {
                    config: m
                        .get("Config")
                        .and_then(Value::as_str)
                        .ok_or_else(|| {
                            ImageError::Invalid("invalid archive: manifest without Config".into())
                        })?
                        .to_string(),
                    tags: strs("RepoTags"),
                    layers: strs("Layers"),
                })
            })
            .collect();
    }
    if root.join("index.json").exists() {
        let blob = |d: &str| format!("blobs/{}", d.replacen(':', "/", 1));
        let index = read_json(root, "index.json")?;
        let mut out = Vec::new();
        for m in index
            .get("manifests")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let digest = m.get("digest").and_then(Value::as_str).unwrap_or_default();
            let manifest = read_json(root, &blob(digest))?;
            let annotations = m.get("annotations").cloned().unwrap_or(Value::Null);
            let tags = annotations
                .get("io.containerd.image.name")
                .and_then(Value::as_str)
                .map(|n| vec![n.to_string()])
                .unwrap_or_default();
            out.push(Manifest {
                config: blob(
                    manifest
                        .pointer("/config/digest")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                ),
                tags,
                layers: manifest
                    .get("layers")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|l| l.get("digest").and_then(Value::as_str))
                            .map(blob)
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
        return Ok(out);
    }
    Err(ImageError::Invalid(
        "invalid archive: neither manifest.json nor index.json found".into(),
    ))
}

/// `POST /images/load`: returns the lines dockerd prints (`Loaded image: x`).
pub fn load(store: &Mutex<ImageStore>, src: &Path) -> Result<Vec<String>, ImageError> {
    let tmp = tempdir_in(&store.lock().unwrap().tmp_dir())?;
    let result = load_from(store, src, &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

fn tempdir_in(base: &Path) -> io::Result<PathBuf> {
    let p = base.join(format!("load-{}", &crate::ids::random_id()[..16]));
    std::fs::create_dir_all(&p)?;
    Ok(p)
}

fn load_from(store: &Mutex<ImageStore>, src: &Path, tmp: &Path) -> Result<Vec<String>, ImageError> {
    extract_outer(src, tmp)?;
    let mut new_layers: Vec<String> = Vec::new();
    let mut staged_images = Vec::new();
    let result = (|| {
        for m in manifests(tmp)? {
            let raw = std::fs::read(inside(tmp, &m.config)?)?;
            let cfg: Value = serde_json::from_slice(&raw).map_err(|e| {
                ImageError::Invalid(format!("invalid image config {}: {e}", m.config))
            })?;
            let diff_ids: Vec<String> = cfg
                .pointer("/rootfs/diff_ids")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            if diff_ids.len() != m.layers.len() {
                return Err(ImageError::Invalid(format!(
                    "invalid archive: {} lists {} layers, its config {}",
                    m.config,
                    m.layers.len(),
                    diff_ids.len()
                )));
            }
            let mut parent: Option<String> = None;
            for (layer, want) in m.layers.iter().zip(&diff_ids) {
                let chain = super::chain_id(parent.as_deref(), want);
                if store.lock().unwrap().layer(&chain).is_none() {
                    let (c, _, new) =
                        add_layer(store, &inside(tmp, layer)?, parent.as_deref(), Some(want))?;
                    if new {
                        new_layers.push(c);
                    }
                }
                parent = Some(chain);
            }
            staged_images.push((raw, m.tags));
        }
        Ok(())
    })();
    let mut s = store.lock().unwrap();
    if let Err(e) = result {
        for c in new_layers {
            s.forget_layer(&c);
        }
        return Err(e);
    }
    let mut lines = Vec::new();
    for (raw, tags) in staged_images {
        let img = s.add_image(raw)?;
        if tags.is_empty() {
            lines.push(format!("Loaded image ID: {}", img.id));
        }
        for t in tags {
            let familiar = super::normalize(&t)?;
            s.tag(&t, &img.id)?;
            lines.push(format!("Loaded image: {familiar}"));
        }
    }
    Ok(lines)
}

/// `GET /images/get`: write a docker-save archive (with an OCI index beside
/// `manifest.json`, as current dockerd writes) of `images` (id, tags to record).
pub fn save(
    store: &Mutex<ImageStore>,
    images: &[(String, Vec<String>)],
    out: impl Write,
) -> Result<(), ImageError> {
    let mut b = tar::Builder::new(out);
    let mut manifest = Vec::new();
    let mut index = Vec::new();
    let mut written = std::collections::HashSet::new();
    let add =
        |b: &mut tar::Builder<_>, name: String, data: &mut dyn Read, size: u64| -> io::Result<()> {
            let mut h = tar::Header::new_gnu();
            h.set_size(size);
            h.set_mode(0o644);
            h.set_mtime(0);
            b.append_data(&mut h, name, data)
        };
    for (id, tags) in images {
        let (img, layer_chain) = {
            let s = store.lock().unwrap();
            let img = s
                .get(id)
                .ok_or_else(|| ImageError::NotFound(id.clone()))?
                .clone();
            let chain: Vec<(String, String)> = img
                .chain
                .iter()
                .map(|c| {
                    let diff = s.layer(c).map(|l| l.diff_id.clone()).unwrap_or_default();
                    (diff, c.clone())
                })
                .collect();
            (img, chain)
        };
        let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
        let cfg_name = format!("blobs/sha256/{}", hex(&img.id));
        if written.insert(cfg_name.clone()) {
            add(
                &mut b,
                cfg_name.clone(),
                &mut &img.raw[..],
                img.raw.len() as u64,
            )?;
        }
        let mut layer_names = Vec::new();
        let mut layer_descs = Vec::new();
        for (diff_id, chain) in &layer_chain {
            let name = format!("blobs/sha256/{}", hex(diff_id));
            let (mut tar, size) = store.lock().unwrap().open_layer_tar(chain)?;
            if written.insert(name.clone()) {
                add(&mut b, name.clone(), &mut tar, size)?;
            }
            layer_descs.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": diff_id, "size": size}));
            layer_names.push(name);
        }
        let oci = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": img.id, "size": img.raw.len()},
            "layers": layer_descs,
        }))
        .unwrap();
        let oci_digest = format!("sha256:{}", super::sha256_hex(&oci));
        let oci_name = format!("blobs/sha256/{}", hex(&oci_digest));
        if written.insert(oci_name.clone()) {
            add(&mut b, oci_name, &mut &oci[..], oci.len() as u64)?;
        }
        let mut desc = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": oci_digest, "size": oci.len()});
        if let Some(t) = tags.first() {
            let tag = t.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest");
            let full = if t.contains('/') {
                format!("docker.io/{t}")
            } else {
                format!("docker.io/library/{t}")
            };
            desc["annotations"] =
                json!({"io.containerd.image.name": full, "org.opencontainers.image.ref.name": tag});
        }
        index.push(desc);
        manifest.push(json!({"Config": cfg_name, "RepoTags": tags, "Layers": layer_names}));
    }
    let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (id, tags) in images {
        for t in tags {
            if let Some((r, tag)) = t.rsplit_once(':') {
                repos.entry(r.to_string()).or_default().insert(
                    tag.to_string(),
                    id.trim_start_matches("sha256:").to_string(),
                );
            }
        }
    }
    let files = [
        ("index.json", serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index})).unwrap()),
        ("manifest.json", serde_json::to_vec(&manifest).unwrap()),
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
    ];
    for (name, data) in files {
        add(&mut b, name.to_string(), &mut &data[..], data.len() as u64)?;
    }
    b.into_inner()?.flush()?;
    Ok(())
}
