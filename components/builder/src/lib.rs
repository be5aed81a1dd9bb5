//! The classic builder of dockerd (`POST /build` without BuildKit): a parsed
//! Dockerfile carried out step by step against an engine [`Backend`], one image per
//! instruction, with docker's layer cache (a step is a cache hit when an image with
//! the same parent and the same `container_config` exists: config steps record
//! `#(nop) <INSTRUCTION>` as their command, COPY/ADD the hash of what they copied) and
//! the progress lines the CLI prints (`Step 1/5 : FROM ...`, ` ---> Using cache`,
//! `Successfully built ...`).
//!
//! The engine provides images, commits, RUN containers and read-only views of image
//! filesystems; this crate owns the order of things, the cache keys and the messages.

mod config;
pub mod context;
pub mod copy;
mod remote;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};

use dockerfile::{Command, ImageConfig, Step};
use serde_json::{json, Value};

pub use copy::ImageView;

/// Why a build failed; the message is what the CLI prints.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile does not parse (docker answers 400 before any step).
    #[error("{0}")]
    Parse(String),
    #[error("{0}")]
    Context(String),
    /// A step failed.
    #[error("{0}")]
    Step(String),
    /// A RUN exited non-zero; the CLI exits with `code`.
    #[error("The command '{command}' returned a non-zero code: {code}")]
    Run { command: String, code: i64 },
}

impl BuildError {
    pub(crate) fn io(what: &'static str) -> impl Fn(std::io::Error) -> BuildError {
        move |e| BuildError::Context(format!("{what}: {e}"))
    }
}

/// Where a new layer comes from.
pub enum Layer<'a> {
    /// A directory in overlay diff form (COPY/ADD/WORKDIR).
    Dir(&'a Path),
    /// The writable layer of a RUN container.
    Container(&'a str),
}

/// A read-only view of an image's filesystem, released on drop.
pub trait Rootfs: Send {
    fn path(&self) -> &Path;
}

/// What the builder needs from the engine.
pub trait Backend: Sync {
    /// An image by name or id: its id and its image JSON.
    fn image(&self, name: &str) -> Option<(String, Value)>;
    /// An image whose parent is `parent` and whose `container_config` is `cc`.
    fn cached_child(&self, parent: Option<&str>, cc: &Value) -> Option<String>;
    /// Store `image` (its `rootfs.diff_ids` gets the layer's diff id appended) as a
    /// child of `parent`; the new image id.
    fn commit(
        &self,
        parent: Option<&str>,
        layer: Option<Layer<'_>>,
        image: Value,
    ) -> Result<String, String>;
    /// Create and run a container from `image` with `config` (a container config
    /// with `Cmd`); `output` gets what it prints. The container id and exit code.
    fn run(
        &self,
        image: &str,
        config: Value,
        output: &(dyn Fn(&[u8]) + Send + Sync),
    ) -> impl Future<Output = Result<(String, i64), String>> + Send;
    fn remove_container(&self, id: &str) -> impl Future<Output = ()> + Send;
    /// A read-only view of `image`'s filesystem.
    fn mount(&self, image: &str) -> Result<Box<dyn Rootfs>, String>;
    /// Questions about files of `image` (None: scratch).
    fn view(&self, image: Option<&str>) -> Box<dyn ImageView + '_>;
    /// A fresh empty directory for a layer being made; removed by the caller.
    fn scratch_dir(&self) -> Result<PathBuf, String>;
    fn tag(&self, id: &str, reference: &str) -> Result<(), String>;
    /// GET `url` into `file` (`ADD <url>`); the error in dockerd's words.
    fn download(
        &self,
        url: &str,
        file: &Path,
    ) -> impl Future<Output = Result<Downloaded, String>> + Send;
}

/// The response headers of an `ADD <url>` download that shape the file.
#[derive(Debug, Clone, Default)]
pub struct Downloaded {
    pub last_modified: Option<String>,
    pub content_disposition: Option<String>,
}

/// The `POST /build` options the classic builder honours.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub build_args: HashMap<String, String>,
    pub no_cache: bool,
    pub target: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub tags: Vec<String>,
    /// `q`: print only the final image id.
    pub quiet: bool,
    /// The daemon's version, recorded as `docker_version`.
    pub docker_version: String,
}

fn short(id: &str) -> &str {
    let h = id.trim_start_matches("sha256:");
    &h[..12.min(h.len())]
}

/// The current time as dockerd writes it (RFC 3339, UTC, nanoseconds).
fn now() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

/// The container config a step records: the step's config with `Cmd` replaced by
/// what identifies the step (docker's `#(nop) ` comment or the RUN's command line).
fn container_config(cfg: &Value, cmd: Vec<String>) -> Value {
    let mut cc = cfg.clone();
    cc["Cmd"] = json!(cmd);
    cc
}

fn nop(shell: &[String], comment: &str) -> Vec<String> {
    let mut v = shell.to_vec();
    v.push("#(nop) ".into());
    v.push(comment.into());
    v
}

fn shell_of(c: &ImageConfig) -> Vec<String> {
    c.shell
        .clone()
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
}

/// One build: the stream of progress text goes to `emit`.
pub struct Build<'a, B: Backend> {
    backend: &'a B,
    opts: &'a Options,
    emit: &'a (dyn Fn(&str) + Send + Sync),
}

struct Current {
    /// None: scratch.
    id: Option<String>,
    image: Value,
}

impl<'a, B: Backend> Build<'a, B> {
    pub fn new(backend: &'a B, opts: &'a Options, emit: &'a (dyn Fn(&str) + Send + Sync)) -> Self {
        Build {
            backend,
            opts,
            emit,
        }
    }

    fn say(&self, s: &str) {
        if !self.opts.quiet {
            (self.emit)(s);
        }
    }

    /// Carry out the Dockerfile in `context` (already unpacked); the final image id.
    pub async fn run(&self, dockerfile_text: &str, context: &Path) -> Result<String, BuildError> {
        let df =
            dockerfile::parse(dockerfile_text).map_err(|e| BuildError::Parse(e.to_string()))?;
        let last = match &self.opts.target {
            Some(t) => df.stage_index(t).ok_or_else(|| {
                BuildError::Parse(format!("failed to reach build target {t} in Dockerfile"))
            })?,
            None => df.stages.len() - 1,
        };
        let backend = self.backend;
        let base_config = |name: &str| {
            backend
                .image(name)
                .map(|(_, img)| config::from_json(&img["config"], ""))
        };
        let stages = dockerfile::evaluate(&df, &self.opts.build_args, &base_config)
            .map_err(|e| BuildError::Step(e.to_string()))?;
        let total: usize = df.stages[..=last]
            .iter()
            .map(|s| 1 + s.instructions.len())
            .sum::<usize>()
            + usize::from(!self.opts.labels.is_empty());
        let mut n = 0;
        let mut finals: Vec<String> = Vec::new();
        let mut final_id = String::new();
        for (si, (stage, result)) in df.stages.iter().zip(&stages).enumerate().take(last + 1) {
            n += 1;
            let from = match &stage.name {
                Some(name) => format!("FROM {} AS {name}", stage.base),
                None => format!("FROM {}", stage.base),
            };
            self.say(&format!("Step {n}/{total} : {from}\n"));
            let mut cur = self.from(&result.base, &df, &finals)?;
            match &cur.id {
                Some(id) => self.say(&format!(" ---> {}\n", short(id))),
                None => self.say(" ---> \n"),
            }
            let mut prev_cfg = result.start.clone();
            for ((ins, step), cfg) in result.steps.iter().zip(&result.configs) {
                n += 1;
                self.say(&format!("Step {n}/{total} : {}\n", ins.original.trim()));
                let mut cfg = cfg.clone();
                cur = self
                    .step(cur, ins, step, &mut cfg, &prev_cfg, context, &df, &finals)
                    .await?;
                prev_cfg = cfg;
            }
            if si == last && !self.opts.labels.is_empty() {
                n += 1;
                let text: Vec<String> = self
                    .opts
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k:?}={v:?}"))
                    .collect();
                let comment = format!("LABEL {}", text.join(" "));
                self.say(&format!("Step {n}/{total} : {comment}\n"));
                let mut cfg = prev_cfg.clone();
                for (k, v) in &self.opts.labels {
                    cfg.labels.insert(k.clone(), v.clone());
                }
                cur = self.config_step(cur, &cfg, &comment).await?;
            }
            let id = cur.id.clone().ok_or_else(|| {
                BuildError::Step("No image was generated. Is your Dockerfile empty?".into())
            })?;
            finals.push(id.clone());
            final_id = id;
        }
        self.say(&format!("Successfully built {}\n", short(&final_id)));
        if self.opts.quiet {
            // With `q` the whole output is the image id (dockerd's postBuild).
            (self.emit)(&format!("{final_id}\n"));
        }
        for t in &self.opts.tags {
            self.backend.tag(&final_id, t).map_err(BuildError::Step)?;
            self.say(&format!("Successfully tagged {t}\n"));
        }
        Ok(final_id)
    }

    fn from(
        &self,
        base: &str,
        df: &dockerfile::Dockerfile,
        finals: &[String],
    ) -> Result<Current, BuildError> {
        if base == "scratch" {
            return Ok(Current {
                id: None,
                image: json!({"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": []}, "history": []}),
            });
        }
        let by_stage = df
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(base.to_ascii_lowercase().as_str()))
            .and_then(|i| finals.get(i));
        let name = by_stage.map(String::as_str).unwrap_or(base);
        let (id, image) = self.backend.image(name).ok_or_else(|| {
            BuildError::Step(format!(
                "pull access denied for {base}, repository does not exist or may require 'docker login'"
            ))
        })?;
        Ok(Current {
            id: Some(id),
            image,
        })
    }

    /// The image JSON of the next step: `cfg` as config, `cc` as container config.
    fn next_image(
        &self,
        cur: &Current,
        cfg: &ImageConfig,
        cc: &Value,
        created_by: &str,
        empty: bool,
    ) -> Value {
        let mut img = cur.image.clone();
        let config = config::to_json(cfg, &cur.image["config"]);
        img["config"] = config;
        img["container_config"] = cc.clone();
        let t = now();
        img["created"] = json!(t);
        img["docker_version"] = json!(self.opts.docker_version);
        img["architecture"] = json!("amd64");
        img["os"] = json!("linux");
        if cfg.author.is_empty() {
            if let Some(o) = img.as_object_mut() {
                o.remove("author");
            }
        } else {
            img["author"] = json!(cfg.author);
        }
        let mut hist = img["history"].as_array().cloned().unwrap_or_default();
        let mut h = json!({"created": t, "created_by": created_by});
        if !cfg.author.is_empty() {
            h["author"] = json!(cfg.author);
        }
        if empty {
            h["empty_layer"] = json!(true);
        }
        hist.push(h);
        img["history"] = json!(hist);
        img
    }

    fn cached(&self, cur: &Current, cc: &Value) -> Option<String> {
        if self.opts.no_cache {
            return None;
        }
        let id = self.backend.cached_child(cur.id.as_deref(), cc)?;
        self.say(" ---> Using cache\n");
        self.say(&format!(" ---> {}\n", short(&id)));
        Some(id)
    }

    fn load(&self, id: String) -> Result<Current, BuildError> {
        let (id, image) = self
            .backend
            .image(&id)
            .ok_or_else(|| BuildError::Step(format!("image {id} vanished")))?;
        Ok(Current {
            id: Some(id),
            image,
        })
    }

    async fn config_step(
        &self,
        cur: Current,
        cfg: &ImageConfig,
        comment: &str,
    ) -> Result<Current, BuildError> {
        let shell = shell_of(cfg);
        let base_cfg = config::to_json(cfg, &cur.image["config"]);
        let cc = container_config(&base_cfg, nop(&shell, comment));
        if let Some(id) = self.cached(&cur, &cc) {
            return self.load(id);
        }
        let created_by = format!("{} #(nop)  {comment}", shell.join(" "));
        let img = self.next_image(&cur, cfg, &cc, &created_by, true);
        let id = self
            .backend
            .commit(cur.id.as_deref(), None, img)
            .map_err(BuildError::Step)?;
        self.say(&format!(" ---> {}\n", short(&id)));
        self.load(id)
    }

    #[allow(clippy::too_many_arguments)]
    async fn step(
        &self,
        cur: Current,
        ins: &dockerfile::Instruction,
        step: &Step,
        cfg: &mut ImageConfig,
        prev: &ImageConfig,
        context: &Path,
        df: &dockerfile::Dockerfile,
        finals: &[String],
    ) -> Result<Current, BuildError> {
        match step {
            Step::Config => {
                let mut comment = ins.original.trim().to_string();
                if let Command::Workdir(_) = &ins.command {
                    comment = format!("WORKDIR {}", cfg.working_dir);
                    return self.workdir_step(cur, cfg, &comment).await;
                }
                if let Command::Env(_) | Command::Label(_) = &ins.command {
                    comment = ins.original.trim().to_string();
                }
                self.config_step(cur, cfg, &comment).await
            }
            Step::Run { argv, build_env } => {
                let base_cfg = config::to_json(prev, &cur.image["config"]);
                let mut cmd = argv.clone();
                if !build_env.is_empty() {
                    let mut v = vec![format!("|{}", build_env.len())];
                    v.extend(build_env.iter().cloned());
                    v.extend(cmd);
                    cmd = v;
                }
                let cc = container_config(&base_cfg, cmd);
                if let Some(id) = self.cached(&cur, &cc) {
                    return self.load(id);
                }
                let id = cur.id.clone().ok_or_else(|| {
                    BuildError::Step("cannot RUN in a scratch image with no files".into())
                })?;
                let mut run_cfg = base_cfg.clone();
                run_cfg["Cmd"] = json!(argv);
                run_cfg["Entrypoint"] = Value::Null;
                let mut env: Vec<String> = prev.env.clone();
                env.extend(build_env.iter().cloned());
                run_cfg["Env"] = json!(env);
                let emit = self.emit;
                let quiet = self.opts.quiet;
                let out = move |b: &[u8]| {
                    if !quiet {
                        emit(&String::from_utf8_lossy(b));
                    }
                };
                let (cid, code) = self
                    .backend
                    .run(&id, run_cfg, &out)
                    .await
                    .map_err(BuildError::Step)?;
                if code != 0 {
                    self.backend.remove_container(&cid).await;
                    return Err(BuildError::Run {
                        command: argv.join(" "),
                        code,
                    });
                }
                let created_by = argv.join(" ");
                let img = self.next_image(&cur, prev, &cc, &created_by, false);
                let committed = self
                    .backend
                    .commit(Some(&id), Some(Layer::Container(&cid)), img);
                self.say(&format!(
                    "Removing intermediate container {}\n",
                    short(&cid)
                ));
                self.backend.remove_container(&cid).await;
                let new = committed.map_err(BuildError::Step)?;
                self.say(&format!(" ---> {}\n", short(&new)));
                self.load(new)
            }
            Step::Copy(args) | Step::Add(args) => {
                let is_add = matches!(step, Step::Add(_));
                let layer = self.backend.scratch_dir().map_err(BuildError::Step)?;
                let result = self
                    .copy_step(&cur, args, is_add, prev, &layer, context, df, finals)
                    .await;
                let _ = std::fs::remove_dir_all(&layer);
                result
            }
        }
    }

    async fn workdir_step(
        &self,
        cur: Current,
        cfg: &ImageConfig,
        comment: &str,
    ) -> Result<Current, BuildError> {
        let exists = self
            .backend
            .view(cur.id.as_deref())
            .is_dir(&cfg.working_dir);
        if exists || cfg.working_dir.is_empty() || cfg.working_dir == "/" {
            return self.config_step(cur, cfg, comment).await;
        }
        let shell = shell_of(cfg);
        let base_cfg = config::to_json(cfg, &cur.image["config"]);
        let cc = container_config(&base_cfg, nop(&shell, comment));
        if let Some(id) = self.cached(&cur, &cc) {
            return self.load(id);
        }
        let layer = self.backend.scratch_dir().map_err(BuildError::Step)?;
        let rel = cfg.working_dir.trim_start_matches('/');
        let made = std::fs::create_dir_all(layer.join(rel)).and_then(|_| {
            let mut p = layer.clone();
            for c in Path::new(rel).components() {
                p.push(c);
                std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
            }
            Ok(())
        });
        let created_by = format!("{} #(nop)  {comment}", shell.join(" "));
        let img = self.next_image(&cur, cfg, &cc, &created_by, false);
        let committed = made
            .map_err(|e| BuildError::Step(format!("mkdir {}: {e}", cfg.working_dir)))
            .and_then(|_| {
                self.backend
                    .commit(cur.id.as_deref(), Some(Layer::Dir(&layer)), img)
                    .map_err(BuildError::Step)
            });
        let _ = std::fs::remove_dir_all(&layer);
        let id = committed?;
        self.say(&format!(" ---> {}\n", short(&id)));
        self.load(id)
    }

    #[allow(clippy::too_many_arguments)]
    async fn copy_step(
        &self,
        cur: &Current,
        args: &dockerfile::CopyArgs,
        is_add: bool,
        prev: &ImageConfig,
        layer: &Path,
        context: &Path,
        df: &dockerfile::Dockerfile,
        finals: &[String],
    ) -> Result<Current, BuildError> {
        let ids = match &args.chown {
            Some(spec) => Some(copy::resolve_chown(
                spec,
                &*self.backend.view(cur.id.as_deref()),
            )?),
            // Files from the context belong to root; from another image they keep
            // their owners.
            None if args.from.is_none() => Some((0, 0)),
            None => None,
        };
        let from_root: Option<Box<dyn Rootfs>> = match &args.from {
            None => None,
            Some(f) => {
                let stage = df
                    .stages
                    .iter()
                    .position(|s| s.name.as_deref() == Some(f.to_ascii_lowercase().as_str()))
                    .or_else(|| f.parse::<usize>().ok());
                let image = match stage.and_then(|i| finals.get(i)) {
                    Some(id) => id.clone(),
                    None => self.backend.image(f).map(|(id, _)| id).ok_or_else(|| {
                        BuildError::Step(format!("invalid from flag value {f}: no such image"))
                    })?,
                };
                Some(self.backend.mount(&image).map_err(BuildError::Step)?)
            }
        };
        let src_root = from_root
            .as_ref()
            .map(|r| r.path().to_path_buf())
            .unwrap_or_else(|| context.to_path_buf());
        // URLs (ADD only) are fetched first, at every build as docker does: the
        // content decides the cache key.
        let urls: Vec<&String> = args
            .sources
            .iter()
            .filter(|s| is_add && remote::is_url(s))
            .collect();
        let downloads = if urls.is_empty() {
            None
        } else {
            Some(self.backend.scratch_dir().map_err(BuildError::Step)?)
        };
        let mut fetched = HashMap::new();
        let got = async {
            for (i, url) in urls.iter().enumerate() {
                let dir = downloads.as_ref().expect("made above").join(i.to_string());
                let file = remote::fetch(self.backend, url, &dir).await?;
                fetched.insert(url.to_string(), file);
            }
            Ok::<(), BuildError>(())
        }
        .await;
        let view = self.backend.view(cur.id.as_deref());
        let comment = got.and_then(|()| {
            copy::copy(
                layer,
                &src_root,
                &args.sources,
                &args.dest,
                &prev.working_dir,
                ids,
                is_add,
                &*view,
                &fetched,
            )
        });
        if let Some(d) = &downloads {
            let _ = std::fs::remove_dir_all(d);
        }
        let comment = comment?;
        drop(from_root);
        let keyword = if is_add { "ADD" } else { "COPY" };
        let shell = shell_of(prev);
        let base_cfg = config::to_json(prev, &cur.image["config"]);
        let full_comment = format!("{keyword} {comment}");
        let cc = container_config(&base_cfg, nop(&shell, &full_comment));
        if let Some(id) = self.cached(cur, &cc) {
            return self.load(id);
        }
        let created_by = format!("{} #(nop)  {full_comment}", shell.join(" "));
        let img = self.next_image(cur, prev, &cc, &created_by, false);
        let id = self
            .backend
            .commit(cur.id.as_deref(), Some(Layer::Dir(layer)), img)
            .map_err(BuildError::Step)?;
        self.say(&format!(" ---> {}\n", short(&id)));
        self.load(id)
    }
}
