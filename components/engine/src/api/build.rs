//! `POST /build`: the classic builder (the `builder` crate) run against this engine's
//! stores. The context tar is spooled and unpacked privately; each step's image is
//! committed with its parent recorded (`imagedb/metadata/sha256/<id>/parent`, as
//! dockerd keeps it) so the next build finds its cache; RUN steps are ordinary
//! containers (network `none` unless `networkmode` says `host`), removed after commit.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use builder::{Backend, BuildError, ImageView, Layer, Options, Rootfs};
use bytes::Bytes;
use serde_json::{json, Value};

use super::body::{spool_to_file, streaming};
use super::{ApiError, Ctx, Resp};
use crate::daemon::Daemon;

struct Engine {
    d: Arc<Daemon>,
    network: String,
}

fn parent_file(d: &Daemon, id: &str) -> PathBuf {
    d.data_root
        .join("image/overlay2/imagedb/metadata/sha256")
        .join(id.trim_start_matches("sha256:"))
        .join("parent")
}

/// An image's filesystem, answered from its layer directories top down (a whiteout
/// hides what is below it).
struct LayersView {
    layers: Vec<PathBuf>,
}

impl LayersView {
    fn find(&self, path: &str) -> Option<(PathBuf, std::fs::Metadata)> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let rel = path.trim_start_matches('/');
        for l in self.layers.iter().rev() {
            let p = l.join(rel);
            if let Ok(m) = std::fs::symlink_metadata(&p) {
                if m.file_type().is_char_device() && m.rdev() == 0 {
                    return None;
                }
                return Some((p, m));
            }
        }
        None
    }
}

impl ImageView for LayersView {
    fn stat(&self, path: &str) -> Option<std::fs::Metadata> {
        self.find(path).map(|(_, m)| m)
    }
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        let (p, m) = self.find(path)?;
        m.is_file().then(|| std::fs::read(p).ok()).flatten()
    }
}

/// A read-only overlay of an image's layers (or its one layer directory as is).
struct Mounted {
    path: PathBuf,
    mounted: bool,
}

impl Rootfs for Mounted {
    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.mounted {
            if let Ok(c) = std::ffi::CString::new(self.path.as_os_str().as_encoded_bytes()) {
                // SAFETY: unmounting our own private mount point.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
            let _ = std::fs::remove_dir(&self.path);
        }
    }
}

impl Engine {
    fn layers_of(&self, image: &str) -> Result<Vec<PathBuf>, String> {
        let s = self.d.images.lock().unwrap();
        let img = s
            .get(image)
            .ok_or_else(|| format!("No such image: {image}"))?;
        s.layer_dirs(img).map_err(|e| e.to_string())
    }

    fn commit_blocking(
        &self,
        parent: Option<&str>,
        dir: &Path,
        mut image: Value,
    ) -> Result<String, String> {
        let d = &self.d;
        let err = |e: &dyn std::fmt::Display| e.to_string();
        let parent_chain = match parent {
            Some(p) => d
                .images
                .lock()
                .unwrap()
                .get(p)
                .and_then(|i| i.chain.last().cloned()),
            None => None,
        };
        let (tmp, staged) = {
            let s = d.images.lock().unwrap();
            (
                s.tmp_dir()
                    .join(format!("build-{}.tar", &crate::ids::random_id()[..16])),
                s.staging_dir(),
            )
        };
        let result = (|| -> Result<String, String> {
            {
                let f = std::fs::File::create(&tmp).map_err(|e| err(&e))?;
                let mut w = std::io::BufWriter::new(f);
                crate::images::layers::pack_dir(dir, &mut w, true).map_err(|e| err(&e))?;
                std::io::Write::flush(&mut w).map_err(|e| err(&e))?;
            }
            std::fs::create_dir_all(staged.join("diff")).map_err(|e| err(&e))?;
            let mut reader = crate::images::layers::HashingReader::new(
                std::fs::File::open(&tmp).map_err(|e| err(&e))?,
            );
            let size = crate::images::layers::unpack(&mut reader, &staged.join("diff"))
                .map_err(|e| err(&e))?;
            std::io::copy(&mut reader, &mut std::io::sink()).map_err(|e| err(&e))?;
            let diff_id = reader.digest();
            d.images
                .lock()
                .unwrap()
                .commit_layer(parent_chain.as_deref(), &diff_id, size, &staged, Some(&tmp))
                .map_err(|e| err(&e))?;
            let mut diffs = image
                .pointer("/rootfs/diff_ids")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            diffs.push(json!(diff_id));
            image["rootfs"] = json!({"type": "layers", "diff_ids": diffs});
            self.store(parent, image)
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&staged);
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn store(&self, parent: Option<&str>, image: Value) -> Result<String, String> {
        let raw = serde_json::to_vec(&image).map_err(|e| e.to_string())?;
        let img = self
            .d
            .images
            .lock()
            .unwrap()
            .add_image(raw)
            .map_err(|e| e.to_string())?;
        if let Some(p) = parent {
            let f = parent_file(&self.d, &img.id);
            if let Some(dir) = f.parent() {
                std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            }
            std::fs::write(f, p).map_err(|e| e.to_string())?;
        }
        Ok(img.id)
    }
}

impl Backend for Engine {
    fn image(&self, name: &str) -> Option<(String, Value)> {
        let s = self.d.images.lock().unwrap();
        let id = s.resolve(name).ok()?;
        let img = s.get(&id)?;
        Some((id, img.config.clone()))
    }

    fn cached_child(&self, parent: Option<&str>, cc: &Value) -> Option<String> {
        let s = self.d.images.lock().unwrap();
        let mut found: Vec<(String, String)> = s
            .all()
            .filter(|img| img.config.get("container_config") == Some(cc))
            .filter(|img| {
                let p = std::fs::read_to_string(parent_file(&self.d, &img.id)).ok();
                p.as_deref() == parent
            })
            .map(|img| {
                let created = img
                    .config
                    .get("created")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                (created, img.id.clone())
            })
            .collect();
        found.sort();
        found.pop().map(|(_, id)| id)
    }

    fn commit(
        &self,
        parent: Option<&str>,
        layer: Option<Layer<'_>>,
        image: Value,
    ) -> Result<String, String> {
        tokio::task::block_in_place(|| match layer {
            None => self.store(parent, image),
            Some(Layer::Dir(dir)) => self.commit_blocking(parent, dir, image),
            Some(Layer::Container(cid)) => {
                let upper =
                    crate::containers::rootfs::RootfsDirs::new(&self.d.data_root, cid).upper();
                self.commit_blocking(parent, &upper, image)
            }
        })
    }

    async fn run(
        &self,
        image: &str,
        config: Value,
        output: &(dyn Fn(&[u8]) + Send + Sync),
    ) -> Result<(String, i64), String> {
        let mut body = config;
        body["Image"] = json!(image);
        body["AttachStdout"] = json!(true);
        body["AttachStderr"] = json!(true);
        body["HostConfig"] = json!({"NetworkMode": self.network});
        let (id, _) = self
            .d
            .create_container(body, None)
            .map_err(|e| e.to_string())?;
        output(format!(" ---> Running in {}\n", &id[..12]).as_bytes());
        let c = self.d.container(&id).map_err(|e| e.to_string())?;
        let mut out = c.hub.subscribe();
        let mut progress = c.progress.subscribe();
        if let Err(e) = self.d.start_container(&c).await {
            let _ = self.d.remove_container(&c, true, false).await;
            return Err(e.to_string());
        }
        let mut code = None;
        {
            let exited = progress.wait_for(|p| p.exits > 0 || p.removed);
            tokio::pin!(exited);
            loop {
                tokio::select! {
                    chunk = out.recv() => match chunk {
                        Some((_, data)) => output(&data),
                        None => break,
                    },
                    r = &mut exited, if code.is_none() => {
                        code = Some(r.map(|p| p.last_exit_code).unwrap_or(-1));
                    }
                    // The output ends with the process; this only guards a lost close.
                    _ = tokio::time::sleep(std::time::Duration::from_secs(2)), if code.is_some() => break,
                }
            }
        }
        let code = match code {
            Some(c) => c,
            None => progress
                .wait_for(|p| p.exits > 0 || p.removed)
                .await
                .map(|p| p.last_exit_code)
                .unwrap_or(-1),
        };
        Ok((id, code))
    }

    async fn remove_container(&self, id: &str) {
        if let Ok(c) = self.d.container(id) {
            let _ = self.d.remove_container(&c, true, false).await;
        }
    }

    fn mount(&self, image: &str) -> Result<Box<dyn Rootfs>, String> {
        let layers = self.layers_of(image)?;
        if layers.len() == 1 {
            return Ok(Box::new(Mounted {
                path: layers[0].clone(),
                mounted: false,
            }));
        }
        let dir = self
            .d
            .images
            .lock()
            .unwrap()
            .tmp_dir()
            .join(format!("build-from-{}", &crate::ids::random_id()[..16]));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let lower: Vec<String> = layers
            .iter()
            .rev()
            .map(|p| p.display().to_string())
            .collect();
        let opts = format!("lowerdir={}", lower.join(":"));
        let c = |s: &str| std::ffi::CString::new(s).map_err(|e| e.to_string());
        let (src, target, data) = (c("overlay")?, c(&dir.display().to_string())?, c(&opts)?);
        // SAFETY: valid C strings; a read-only overlay on our own private directory.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                target.as_ptr(),
                src.as_ptr(),
                libc::MS_RDONLY,
                data.as_ptr().cast(),
            )
        };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            let _ = std::fs::remove_dir(&dir);
            return Err(format!("mount {}: {e}", dir.display()));
        }
        Ok(Box::new(Mounted {
            path: dir,
            mounted: true,
        }))
    }

    fn view(&self, image: Option<&str>) -> Box<dyn ImageView + '_> {
        let layers = image
            .and_then(|i| self.layers_of(i).ok())
            .unwrap_or_default();
        Box::new(LayersView { layers })
    }

    fn scratch_dir(&self) -> Result<PathBuf, String> {
        let dir = self
            .d
            .images
            .lock()
            .unwrap()
            .tmp_dir()
            .join(format!("build-layer-{}", &crate::ids::random_id()[..16]));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        Ok(dir)
    }

    async fn download(&self, url: &str, file: &Path) -> Result<builder::Downloaded, String> {
        let got = super::registry::client(&self.d)
            .download(url, file)
            .await
            .map_err(|e| e.to_string())?;
        Ok(builder::Downloaded {
            last_modified: got.last_modified,
            content_disposition: got.content_disposition,
        })
    }

    fn tag(&self, id: &str, reference: &str) -> Result<(), String> {
        self.d
            .images
            .lock()
            .unwrap()
            .tag(reference, id)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

fn json_map(text: Option<&str>, what: &str) -> Result<HashMap<String, Option<String>>, ApiError> {
    match text.filter(|t| !t.is_empty()) {
        None => Ok(HashMap::new()),
        Some(t) => serde_json::from_str(t)
            .map_err(|e| ApiError::bad_request(format!("failed to parse {what}: {e}"))),
    }
}

fn line(v: Value) -> Bytes {
    let mut b = serde_json::to_vec(&v).expect("json");
    b.push(b'\n');
    Bytes::from(b)
}

/// `POST /build`.
pub async fn build(ctx: Ctx) -> Resp {
    let q = &ctx.query;
    let d = ctx.daemon.clone();
    let dockerfile_name = q
        .get("dockerfile")
        .filter(|s| !s.is_empty())
        .unwrap_or("Dockerfile")
        .to_string();
    let build_args: HashMap<String, String> = json_map(q.get("buildargs"), "buildargs")?
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    let labels: BTreeMap<String, String> = json_map(q.get("labels"), "labels")?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    let mut tags = Vec::new();
    for t in q.all("t") {
        let n = crate::images::normalize(t)?;
        tags.push(n);
    }
    let opts = Options {
        build_args,
        no_cache: q.bool("nocache", false),
        target: q.get("target").filter(|t| !t.is_empty()).map(String::from),
        labels,
        tags,
        quiet: q.bool("q", false),
        docker_version: buildinfo::VERSION.to_string(),
    };
    let network = match q.get("networkmode") {
        Some("host") => "host",
        _ => "none",
    }
    .to_string();
    let work = d
        .images
        .lock()
        .unwrap()
        .tmp_dir()
        .join(format!("build-{}", &crate::ids::random_id()[..16]));
    std::fs::create_dir_all(&work)?;
    let tar = work.join("context.tar");
    if let Err(e) = spool_to_file(ctx.req, &tar).await {
        let _ = std::fs::remove_dir_all(&work);
        return Err(e);
    }
    let context = work.join("context");
    let (ctx_dir, df_name) = (context.clone(), dockerfile_name.clone());
    let unpacked = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&ctx_dir).map_err(|e| BuildError::Context(e.to_string()))?;
        let f = std::fs::File::open(ctx_dir.with_file_name("context.tar"))
            .map_err(|e| BuildError::Context(e.to_string()))?;
        builder::context::unpack(f, &ctx_dir, &df_name)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let _ = std::fs::remove_file(&tar);
    let text = match unpacked {
        Ok(t) => t,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&work);
            return Err(ApiError::bad_request(e.to_string()));
        }
    };
    if let Err(e) = dockerfile::parse(&text) {
        let _ = std::fs::remove_dir_all(&work);
        return Err(ApiError::bad_request(e.to_string()));
    }
    let (tx, resp) = streaming("application/json");
    // The builder reports synchronously; an unbounded queue keeps every line in order
    // and a forwarder feeds the response at the client's pace.
    let (lines, mut queued) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    tokio::spawn(async move {
        while let Some(b) = queued.recv().await {
            if tx.send(b).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let engine = Engine {
            d: d.clone(),
            network,
        };
        let out = lines.clone();
        let emit = move |s: &str| {
            let _ = out.send(line(json!({ "stream": s })));
        };
        let result = builder::Build::new(&engine, &opts, &emit)
            .run(&text, &context)
            .await;
        match result {
            Ok(id) => {
                let _ = lines.send(line(json!({"aux": {"ID": id}})));
            }
            Err(e) => {
                let code = match &e {
                    BuildError::Run { code, .. } => *code,
                    _ => 1,
                };
                let msg = e.to_string();
                let _ = lines.send(line(
                    json!({"errorDetail": {"code": code, "message": msg}, "error": msg}),
                ));
            }
        }
        let _ = std::fs::remove_dir_all(&work);
    });
    Ok(resp)
}
