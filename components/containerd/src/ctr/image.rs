//! Images: import of OCI layout and `docker save` tarballs (blobs written to the
//! content store with containerd's garbage-collection reference labels, then unpacked
//! into snapshots), export as an OCI layout, listing and removal.

use std::collections::HashMap;
use std::io::Read;

use anyhow::{bail, Context};
use containerd_client::services::v1 as api;
use containerd_client::services::v1::snapshots as snap;
use containerd_client::types::Descriptor;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::client::{status, Client};
use super::tabwriter::{bytes, TabWriter};

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

fn sha(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// `busybox` -> `docker.io/library/busybox:latest`, as ctr normalises docker names.
pub fn normalize(name: &str) -> String {
    let (repo, tag) = match name.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r.to_owned(), t.to_owned()),
        _ => (name.to_owned(), "latest".to_owned()),
    };
    let first = repo.split('/').next().unwrap_or("");
    let repo = if !repo.contains('/') {
        format!("docker.io/library/{repo}")
    } else if first.contains('.') || first.contains(':') || first == "localhost" {
        repo
    } else {
        format!("docker.io/{repo}")
    };
    format!("{repo}:{tag}")
}

fn desc(v: &Value) -> Descriptor {
    Descriptor {
        media_type: v["mediaType"].as_str().unwrap_or("").to_owned(),
        digest: v["digest"].as_str().unwrap_or("").to_owned(),
        size: v["size"].as_i64().unwrap_or(0),
        annotations: HashMap::new(),
    }
}

/// Read every regular file of a tarball into memory, by normalised path.
fn read_tar(path: &str) -> anyhow::Result<HashMap<String, Vec<u8>>> {
    let f = std::fs::File::open(path).with_context(|| format!("open {path}"))?;
    let mut a = tar::Archive::new(f);
    let mut files = HashMap::new();
    for e in a.entries().context("reading image tarball")? {
        let mut e = e.context("reading image tarball")?;
        if !e.header().entry_type().is_file() {
            continue;
        }
        let name = e
            .path()?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data)
            .with_context(|| format!("reading {name} from the image tarball: unexpected EOF"))?;
        files.insert(name, data);
    }
    Ok(files)
}

pub async fn import(
    c: &mut Client,
    path: &str,
    snapshotter: &str,
    unpack: bool,
) -> anyhow::Result<()> {
    let files = read_tar(path)?;
    c.begin_lease("import").await?;
    let res = import_files(c, &files, snapshotter, unpack).await;
    c.end_lease().await;
    res
}

async fn put(c: &Client, data: &[u8], labels: HashMap<String, String>) -> anyhow::Result<String> {
    let d = sha(data);
    c.write_blob(&format!("import-{d}"), data, &d, labels)
        .await?;
    Ok(d)
}

async fn import_files(
    c: &Client,
    files: &HashMap<String, Vec<u8>>,
    snapshotter: &str,
    unpack: bool,
) -> anyhow::Result<()> {
    let mut images: Vec<(String, Descriptor)> = Vec::new();
    if let Some(index) = files.get("index.json") {
        let idx: Value = serde_json::from_slice(index).context("parsing index.json")?;
        let blob =
            |d: &str| files.get(&format!("blobs/sha256/{}", d.trim_start_matches("sha256:")));
        for m in idx["manifests"].as_array().cloned().unwrap_or_default() {
            let d = desc(&m);
            let data = blob(&d.digest)
                .with_context(|| format!("manifest {} missing from the tarball", d.digest))?;
            write_tree(c, &d, data, &|dg| blob(dg).cloned()).await?;
            let ann = &m["annotations"];
            let name = ann["io.containerd.image.name"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| {
                    ann["org.opencontainers.image.ref.name"]
                        .as_str()
                        .map(normalize)
                });
            if let Some(n) = name {
                images.push((n, d));
            }
        }
    } else if let Some(mj) = files.get("manifest.json") {
        let list: Value = serde_json::from_slice(mj).context("parsing manifest.json")?;
        for m in list.as_array().cloned().unwrap_or_default() {
            let config = files
                .get(m["Config"].as_str().unwrap_or(""))
                .context("image config missing from the tarball")?;
            let mut layers = Vec::new();
            let mut labels = HashMap::new();
            for (i, l) in m["Layers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let data = files
                    .get(l.as_str().unwrap_or(""))
                    .with_context(|| format!("layer {l} missing from the tarball"))?;
                let gz = data.starts_with(&[0x1f, 0x8b]);
                let d = put(c, data, HashMap::new()).await?;
                labels.insert(format!("containerd.io/gc.ref.content.l.{i}"), d.clone());
                layers.push(serde_json::json!({
                    "mediaType": if gz { "application/vnd.docker.image.rootfs.diff.tar.gzip" } else { "application/vnd.docker.image.rootfs.diff.tar" },
                    "digest": d, "size": data.len()
                }));
            }
            let cd = put(c, config, HashMap::new()).await?;
            labels.insert("containerd.io/gc.ref.content.config".into(), cd.clone());
            let manifest = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": cd, "size": config.len()},
                "layers": layers
            }))?;
            let md = put(c, &manifest, labels).await?;
            for tag in m["RepoTags"].as_array().cloned().unwrap_or_default() {
                images.push((
                    normalize(tag.as_str().unwrap_or("")),
                    Descriptor {
                        media_type: DOCKER_MANIFEST.into(),
                        digest: md.clone(),
                        size: manifest.len() as i64,
                        annotations: HashMap::new(),
                    },
                ));
            }
        }
    } else {
        bail!("unrecognized image format: neither index.json nor manifest.json in the tarball");
    }
    for (name, target) in images {
        let image = api::Image {
            name: name.clone(),
            labels: HashMap::new(),
            target: Some(target.clone()),
            created_at: None,
            updated_at: None,
        };
        let created = c
            .images()
            .create(c.req(api::CreateImageRequest {
                image: Some(image.clone()),
                source_date_epoch: None,
            }))
            .await;
        match created {
            Ok(_) => {}
            Err(s) if s.code() == tonic::Code::AlreadyExists => {
                c.images()
                    .update(c.req(api::UpdateImageRequest {
                        image: Some(image),
                        update_mask: None,
                        source_date_epoch: None,
                    }))
                    .await
                    .map_err(status)?;
            }
            Err(s) => return Err(status(s)),
        }
        if unpack {
            print!("unpacking {name} ({})...", target.digest);
            unpack_image(c, &target, snapshotter).await?;
            println!("done");
        }
    }
    Ok(())
}

/// Write a manifest or index and everything below it, with gc reference labels.
async fn write_tree(
    c: &Client,
    d: &Descriptor,
    data: &[u8],
    blob: &(dyn Fn(&str) -> Option<Vec<u8>> + Sync),
) -> anyhow::Result<()> {
    let v: Value = serde_json::from_slice(data).with_context(|| format!("parsing {}", d.digest))?;
    let mut labels = HashMap::new();
    if let Some(ms) = v["manifests"].as_array() {
        for (i, m) in ms.iter().enumerate() {
            let md = desc(m);
            let md_data = blob(&md.digest)
                .with_context(|| format!("blob {} missing from the tarball", md.digest))?;
            Box::pin(write_tree(c, &md, &md_data, blob)).await?;
            labels.insert(format!("containerd.io/gc.ref.content.m.{i}"), md.digest);
        }
    } else {
        let cfg = desc(&v["config"]);
        let cfg_data = blob(&cfg.digest)
            .with_context(|| format!("config {} missing from the tarball", cfg.digest))?;
        put(c, &cfg_data, HashMap::new()).await?;
        labels.insert("containerd.io/gc.ref.content.config".into(), cfg.digest);
        for (i, l) in v["layers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let ld = desc(l);
            let ldata = blob(&ld.digest)
                .with_context(|| format!("layer {} missing from the tarball", ld.digest))?;
            if sha(&ldata) != ld.digest {
                bail!("layer {}: digest mismatch in the tarball", ld.digest);
            }
            put(c, &ldata, HashMap::new()).await?;
            labels.insert(format!("containerd.io/gc.ref.content.l.{i}"), ld.digest);
        }
    }
    if sha(data) != d.digest {
        bail!("{}: digest mismatch in the tarball", d.digest);
    }
    put(c, data, labels).await?;
    Ok(())
}

/// The manifest for linux/amd64 under `target` (itself, or picked from an index).
pub async fn manifest_of(c: &Client, target: &Descriptor) -> anyhow::Result<Value> {
    let data = c.read_blob(&target.digest).await?;
    let v: Value = serde_json::from_slice(&data)?;
    if target.media_type == OCI_INDEX
        || target.media_type == DOCKER_LIST
        || v["manifests"].is_array()
    {
        let ms = v["manifests"].as_array().cloned().unwrap_or_default();
        let m = ms
            .iter()
            .find(|m| m["platform"]["architecture"] == "amd64" || m["platform"].is_null())
            .context("no manifest for linux/amd64 in the index")?;
        let d = desc(m);
        return Ok(serde_json::from_slice(&c.read_blob(&d.digest).await?)?);
    }
    Ok(v)
}

/// The image config (`config` part holds Env, Cmd, ...) and its chain of diff ids.
pub async fn config_of(c: &Client, target: &Descriptor) -> anyhow::Result<(Value, String)> {
    let m = manifest_of(c, target).await?;
    let cd = desc(&m["config"]);
    Ok((
        serde_json::from_slice(&c.read_blob(&cd.digest).await?)?,
        cd.digest,
    ))
}

pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => sha(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// Apply every layer into committed snapshots named by chain id.
pub async fn unpack_image(
    c: &Client,
    target: &Descriptor,
    snapshotter: &str,
) -> anyhow::Result<String> {
    let m = manifest_of(c, target).await?;
    let (config, config_digest) = config_of(c, target).await?;
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let layers = m["layers"].as_array().cloned().unwrap_or_default();
    if layers.len() != diff_ids.len() {
        bail!("mismatched image rootfs and manifest layers");
    }
    let chain = chain_ids(&diff_ids);
    let mut parent = String::new();
    for (i, l) in layers.iter().enumerate() {
        let id = &chain[i];
        let exists = c
            .snapshots()
            .stat(c.req(snap::StatSnapshotRequest {
                snapshotter: snapshotter.into(),
                key: id.clone(),
            }))
            .await
            .is_ok();
        if !exists {
            let key = format!(
                "extract-{} {id}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos()
            );
            let mounts = c
                .snapshots()
                .prepare(c.req(snap::PrepareSnapshotRequest {
                    snapshotter: snapshotter.into(),
                    key: key.clone(),
                    parent: parent.clone(),
                    labels: HashMap::from([("containerd.io/snapshot.ref".to_owned(), id.clone())]),
                }))
                .await
                .map_err(status)?
                .into_inner()
                .mounts;
            let applied = c
                .diff()
                .apply(c.req(api::ApplyRequest {
                    diff: Some(desc(l)),
                    mounts,
                    payloads: HashMap::new(),
                    sync_fs: false,
                }))
                .await;
            let applied = match applied {
                Ok(a) => a.into_inner().applied.unwrap_or_default(),
                Err(s) => {
                    let _ = c
                        .snapshots()
                        .remove(c.req(snap::RemoveSnapshotRequest {
                            snapshotter: snapshotter.into(),
                            key,
                        }))
                        .await;
                    return Err(status(s));
                }
            };
            if applied.digest != diff_ids[i] {
                let _ = c
                    .snapshots()
                    .remove(c.req(snap::RemoveSnapshotRequest {
                        snapshotter: snapshotter.into(),
                        key,
                    }))
                    .await;
                bail!(
                    "wrong diff id calculated on extraction {:?}: expected {}",
                    applied.digest,
                    diff_ids[i]
                );
            }
            c.snapshots()
                .commit(c.req(snap::CommitSnapshotRequest {
                    snapshotter: snapshotter.into(),
                    name: id.clone(),
                    key,
                    labels: HashMap::new(),
                }))
                .await
                .map_err(status)?;
            let ld = desc(l);
            let mut info = api::Info {
                digest: ld.digest,
                ..Default::default()
            };
            info.labels
                .insert("containerd.io/uncompressed".into(), diff_ids[i].clone());
            let _ = c
                .content()
                .update(c.req(api::UpdateRequest {
                    info: Some(info),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["labels.containerd.io/uncompressed".into()],
                    }),
                }))
                .await;
        }
        parent = id.clone();
    }
    let key = format!("containerd.io/gc.ref.snapshot.{snapshotter}");
    let mut info = api::Info {
        digest: config_digest,
        ..Default::default()
    };
    info.labels.insert(key.clone(), parent.clone());
    c.content()
        .update(c.req(api::UpdateRequest {
            info: Some(info),
            update_mask: Some(prost_types::FieldMask {
                paths: vec![format!("labels.{key}")],
            }),
        }))
        .await
        .map_err(status)?;
    Ok(parent)
}

pub async fn list(c: &Client, quiet: bool) -> anyhow::Result<()> {
    let images = c
        .images()
        .list(c.req(api::ListImagesRequest { filters: vec![] }))
        .await
        .map_err(status)?
        .into_inner()
        .images;
    if quiet {
        for i in images {
            println!("{}", i.name);
        }
        return Ok(());
    }
    let mut w = TabWriter::new(1, 1, ' ');
    w.line("REF\tTYPE\tDIGEST\tSIZE\tPLATFORMS\tLABELS\t");
    for i in images {
        let t = i.target.clone().unwrap_or_default();
        let (size, platforms) = match manifest_of(c, &t).await {
            Ok(m) => {
                let mut size = t.size + m["config"]["size"].as_i64().unwrap_or(0);
                for l in m["layers"].as_array().cloned().unwrap_or_default() {
                    size += l["size"].as_i64().unwrap_or(0);
                }
                let plat = match config_of(c, &t).await {
                    Ok((cfg, _)) => format!(
                        "{}/{}",
                        cfg["os"].as_str().unwrap_or("linux"),
                        cfg["architecture"].as_str().unwrap_or("amd64")
                    ),
                    Err(_) => "-".into(),
                };
                (bytes(size), plat)
            }
            Err(_) => ("-".into(), "-".into()),
        };
        let mut labels: Vec<String> = i.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        let labels = if labels.is_empty() {
            "-".to_owned()
        } else {
            labels.join(",")
        };
        w.line(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t",
            i.name, t.media_type, t.digest, size, platforms, labels
        ));
    }
    w.print();
    Ok(())
}

pub async fn remove(c: &Client, names: &[String]) -> anyhow::Result<()> {
    let mut failed = false;
    for n in names {
        match c
            .images()
            .delete(c.req(api::DeleteImageRequest {
                name: n.clone(),
                sync: false,
                target: None,
            }))
            .await
        {
            Ok(_) => println!("{n}"),
            Err(s) => {
                eprintln!("ctr: unable to delete {n}: {}", s.message());
                failed = true;
            }
        }
    }
    if failed {
        bail!("unable to delete some images");
    }
    Ok(())
}

/// Write the named images as an OCI layout tarball.
pub async fn export(c: &Client, out: &str, names: &[String]) -> anyhow::Result<()> {
    let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut manifests = Vec::new();
    for n in names {
        let img = c
            .images()
            .get(c.req(api::GetImageRequest { name: n.clone() }))
            .await
            .map_err(status)?
            .into_inner()
            .image
            .unwrap_or_default();
        let t = img.target.unwrap_or_default();
        let mut todo = vec![t.digest.clone()];
        while let Some(d) = todo.pop() {
            if blobs.iter().any(|(x, _)| x == &d) {
                continue;
            }
            let data = c.read_blob(&d).await?;
            if let Ok(v) = serde_json::from_slice::<Value>(&data) {
                for m in v["manifests"].as_array().cloned().unwrap_or_default() {
                    todo.push(m["digest"].as_str().unwrap_or("").to_owned());
                }
                if let Some(cd) = v["config"]["digest"].as_str() {
                    todo.push(cd.to_owned());
                }
                for l in v["layers"].as_array().cloned().unwrap_or_default() {
                    todo.push(l["digest"].as_str().unwrap_or("").to_owned());
                }
            }
            blobs.push((d, data));
        }
        manifests.push(serde_json::json!({
            "mediaType": t.media_type, "digest": t.digest, "size": t.size,
            "annotations": {"io.containerd.image.name": n, "org.opencontainers.image.ref.name": n.rsplit(':').next().unwrap_or("latest")}
        }));
    }
    let index =
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": manifests}))?;
    let f = std::fs::File::create(out).with_context(|| format!("creating {out}"))?;
    let mut b = tar::Builder::new(f);
    let mut add = |name: &str, data: &[u8]| -> std::io::Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o444);
        h.set_cksum();
        b.append_data(&mut h, name, data)
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    for (d, data) in &blobs {
        add(
            &format!("blobs/sha256/{}", d.trim_start_matches("sha256:")),
            data,
        )?;
    }
    add("index.json", &index)?;
    b.into_inner()?;
    Ok(())
}
