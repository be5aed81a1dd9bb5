//! `docker build` with the daemon's classic builder (what the real CLI falls back to
//! without the buildx plugin): the context tar honouring `.dockerignore`, a
//! Dockerfile or a tar from stdin, and the daemon's JSON stream printed as it comes.

use std::io::Read;
use std::path::Path;

use clap::Command;
use serde_json::{Map, Value};

use crate::client::Query;
use crate::cmdline::Parsed;
use crate::format::units;
use crate::transport::Body;
use crate::{Ctx, Status};

const LEGACY_WARNING: &str =
    "DEPRECATED: The legacy builder is deprecated and will be removed in a future release.
            Install the buildx component to build images with BuildKit:
            https://docs.docker.com/go/buildx/

";

pub fn flags(c: Command) -> Command {
    crate::cmdline::flags_from_help(c, "build")
}

/// A `.dockerignore` pattern: `*`, `?` and `**` globs on slash-separated paths.
fn glob(pattern: &[u8], path: &[u8]) -> bool {
    match (pattern.first(), path.first()) {
        (None, None) => true,
        (Some(b'*'), _) if pattern.get(1) == Some(&b'*') => {
            let rest = pattern[2..].strip_prefix(b"/").unwrap_or(&pattern[2..]);
            (0..=path.len()).any(|i| glob(rest, &path[i..]))
        }
        (Some(b'*'), _) => (0..=path.len())
            .take_while(|&i| i == 0 || path[i - 1] != b'/')
            .any(|i| glob(&pattern[1..], &path[i..])),
        (Some(b'?'), Some(c)) if *c != b'/' => glob(&pattern[1..], &path[1..]),
        (Some(p), Some(c)) if p == c => glob(&pattern[1..], &path[1..]),
        _ => false,
    }
}

struct Ignore(Vec<(bool, String)>);

impl Ignore {
    fn load(dir: &Path) -> Ignore {
        let text = std::fs::read_to_string(dir.join(".dockerignore")).unwrap_or_default();
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (neg, p) = match l.strip_prefix('!') {
                    Some(p) => (true, p.trim()),
                    None => (false, l),
                };
                let p = p
                    .trim_start_matches("./")
                    .trim_start_matches('/')
                    .trim_end_matches('/');
                (neg, p.to_string())
            })
            .collect();
        Ignore(rules)
    }

    /// Whether `rel` (or a parent directory of it) is excluded.
    fn excluded(&self, rel: &str) -> bool {
        let mut out = false;
        for (neg, pat) in &self.0 {
            let mut hit = glob(pat.as_bytes(), rel.as_bytes());
            let mut prefix = String::new();
            for comp in rel.split('/') {
                if hit {
                    break;
                }
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(comp);
                if prefix.len() < rel.len() {
                    hit = glob(pat.as_bytes(), prefix.as_bytes());
                }
            }
            if hit {
                out = !neg;
            }
        }
        out
    }
}

fn add_dir(
    b: &mut tar::Builder<Vec<u8>>,
    root: &Path,
    dir: &Path,
    ignore: &Ignore,
    keep: &[String],
) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let rel = path
            .strip_prefix(root)
            .map(|r| r.to_string_lossy().into_owned())
            .unwrap_or_default();
        if ignore.excluded(&rel) && !keep.contains(&rel) {
            continue;
        }
        let ft = e.file_type()?;
        if ft.is_dir() {
            b.append_dir(&rel, &path)?;
            add_dir(b, root, &path, ignore, keep)?;
        } else {
            b.append_path_with_name(&path, &rel)?;
        }
    }
    Ok(())
}

fn is_tar(data: &[u8]) -> bool {
    data.len() > 262 && &data[257..262] == b"ustar"
}

/// The real CLI warns before it even checks the arguments.
pub fn warn_legacy() {
    eprint!("{LEGACY_WARNING}");
}

pub fn build(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let source = &p.args[0];
    let mut dockerfile = p.value("file");
    let context: Vec<u8> = if source == "-" {
        let mut data = Vec::new();
        std::io::stdin().read_to_end(&mut data)?;
        if is_tar(&data) {
            data
        } else {
            // A Dockerfile alone: the context is just that file.
            let mut b = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o600);
            h.set_cksum();
            b.append_data(&mut h, "Dockerfile", &data[..])?;
            dockerfile = Some("Dockerfile".into());
            b.into_inner()?
        }
    } else {
        let dir = Path::new(source);
        if !dir.is_dir() {
            return Err(Status::new(
                1,
                format!("unable to prepare context: path {source:?} not found"),
            )
            .into());
        }
        // `-f` is relative to the working directory, not to the context.
        let df_path = match &dockerfile {
            Some(f) => std::env::current_dir()?.join(f),
            None => std::fs::canonicalize(dir)
                .unwrap_or(dir.to_path_buf())
                .join("Dockerfile"),
        };
        if !df_path.exists() {
            return Err(Status::new(
                1,
                format!(
                    "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory",
                    df_path.display()
                ),
            )
            .into());
        }
        let abs_dir = std::fs::canonicalize(dir).unwrap_or(dir.to_path_buf());
        let abs_df = std::fs::canonicalize(&df_path).unwrap_or(df_path.clone());
        let inside = abs_df
            .strip_prefix(&abs_dir)
            .ok()
            .map(|r| r.to_string_lossy().into_owned());
        let df_rel = inside
            .clone()
            .unwrap_or_else(|| format!(".dockerfile.{:x}", std::process::id()));
        dockerfile = Some(df_rel.clone());
        let ignore = Ignore::load(dir);
        let keep = vec![df_rel.clone(), ".dockerignore".to_string()];
        let mut b = tar::Builder::new(Vec::new());
        b.mode(tar::HeaderMode::Deterministic);
        add_dir(&mut b, dir, dir, &ignore, &keep)?;
        if inside.is_none() {
            // A Dockerfile outside the context travels in the tar under a private name.
            b.append_path_with_name(&abs_df, &df_rel)?;
        }
        b.into_inner()?
    };
    let quiet = p.flag("quiet");
    let context = if p.flag("compress") {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &context)?;
        gz.finish()?
    } else {
        context
    };
    // The real CLI's progress line: carriage returns from its progress writer. With
    // `-q` it is kept, and shown on stderr only if the build fails.
    let progress = format!(
        "Sending build context to Docker daemon {:>8}\r\r\n",
        units::human_size(context.len() as f64)
    );
    if !quiet {
        print!("{progress}");
    }
    let mut q = Query::new();
    for t in p.values("tag") {
        q = q.add("t", t);
    }
    if let Some(f) = dockerfile {
        q = q.add("dockerfile", f);
    }
    let mut args = Map::new();
    for a in p.values("build-arg") {
        match a.split_once('=') {
            Some((k, v)) => args.insert(k.to_string(), Value::String(v.to_string())),
            None => args.insert(
                a.clone(),
                std::env::var(&a).map(Value::String).unwrap_or(Value::Null),
            ),
        };
    }
    // config.json's proxies join the build args, unless `--build-arg` names them.
    let given: Vec<String> = args.keys().cloned().collect();
    let given: Vec<&str> = given.iter().map(String::as_str).collect();
    for (k, v) in ctx.config.proxy_vars(&ctx.client.host.display(), &given) {
        args.insert(k, Value::String(v));
    }
    if !args.is_empty() {
        q = q.add("buildargs", Value::Object(args).to_string());
    }
    let mut labels = Map::new();
    for l in p.values("label") {
        let (k, v) = l.split_once('=').unwrap_or((&l, ""));
        labels.insert(k.to_string(), Value::String(v.to_string()));
    }
    if !labels.is_empty() {
        q = q.add("labels", Value::Object(labels).to_string());
    }
    q = q
        .flag("nocache", p.flag("no-cache"))
        .flag("q", quiet)
        .flag("pull", p.flag("pull"))
        .add(
            "rm",
            if !p.given("rm") || p.flag("rm") {
                "1"
            } else {
                "0"
            },
        )
        .flag("forcerm", p.flag("force-rm"));
    if let Some(t) = p.value("target") {
        q = q.add("target", t);
    }
    if let Some(n) = p.value("network") {
        q = q.add("networkmode", n);
    }
    if let Some(pl) = p.value("platform") {
        q = q.add("platform", pl.to_lowercase());
    }
    // The resource limits of the build's RUN containers.
    for (flag, key) in [
        ("cpuset-cpus", "cpusetcpus"),
        ("cpuset-mems", "cpusetmems"),
        ("cgroup-parent", "cgroupparent"),
        ("isolation", "isolation"),
    ] {
        if let Some(v) = p.value(flag) {
            q = q.add(key, v);
        }
    }
    for (flag, key) in [
        ("cpu-shares", "cpushares"),
        ("cpu-quota", "cpuquota"),
        ("cpu-period", "cpuperiod"),
    ] {
        if let Some(n) = p.int(flag)? {
            q = q.add(key, n.to_string());
        }
    }
    for (flag, key) in [("memory", "memory"), ("shm-size", "shmsize")] {
        if let Some(n) = p.bytes(flag)? {
            q = q.add(key, n.to_string());
        }
    }
    if p.value("memory-swap").as_deref() == Some("-1") {
        q = q.add("memswap", "-1");
    } else if let Some(n) = p.bytes("memory-swap")? {
        q = q.add("memswap", n.to_string());
    }
    for o in p.values("security-opt") {
        q = q.add("securityopt", o);
    }
    for h in super::create_opts::each(p, "add-host", super::create_opts::extra_host)? {
        q = q.add("extrahosts", h);
    }
    let ulimits = super::create_opts::each(p, "ulimit", super::create_opts::ulimit)?;
    if !ulimits.is_empty() {
        q = q.add("ulimits", Value::Array(ulimits).to_string());
    }
    // `--cache-from` is a string slice: each value may hold several, comma-separated.
    let cache_from: Vec<String> = p
        .values("cache-from")
        .iter()
        .flat_map(|v| v.split(',').map(str::to_string).collect::<Vec<_>>())
        .collect();
    if !cache_from.is_empty() {
        q = q.add("cachefrom", serde_json::json!(cache_from).to_string());
    }
    q = q.flag("squash", p.flag("squash"));
    let mut reader: &[u8] = &context;
    let body = ctx
        .client
        .stream(
            "POST",
            "/build",
            q,
            Body::Stream(&mut reader as &mut dyn Read, "application/x-tar"),
        )
        .inspect_err(|_| {
            if quiet {
                eprint!("{progress}");
            }
        })?;
    let mut image_id = String::new();
    let mut output = String::new();
    for msg in serde_json::Deserializer::from_reader(body).into_iter::<Value>() {
        let msg = msg?;
        if let Some(e) = msg.get("error").and_then(Value::as_str) {
            if quiet {
                eprint!("{progress}{output}");
            }
            return Err(Status::new(1, e.to_string()).into());
        }
        if let Some(id) = msg.pointer("/aux/ID").and_then(Value::as_str) {
            image_id = id.to_string();
        }
        // With `-q` the daemon's only stream message is the image ID.
        if let Some(s) = msg.get("stream").and_then(Value::as_str) {
            print!("{s}");
            output.push_str(s);
        }
        if let Some(s) = msg.get("status").and_then(Value::as_str) {
            if !quiet {
                println!("{s}");
            }
        }
    }
    if let Some(f) = p.value("iidfile") {
        std::fs::write(f, &image_id)?;
    }
    Ok(0)
}

/// `docker builder prune`: the daemon's build cache (`POST /build/prune`).
pub fn prune(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let warning = if p.flag("all") {
        "WARNING! This will remove all build cache. Are you sure you want to continue?"
    } else {
        "WARNING! This will remove all dangling build cache. Are you sure you want to continue?"
    };
    if !super::resources::confirm(p, warning)? {
        return Ok(0);
    }
    let mut q = Query::new().flag("all", p.flag("all"));
    if let Some(n) = p.bytes("keep-storage")? {
        q = q.add("keep-storage", n.to_string());
    }
    let space = super::resources::prune_and_report(
        ctx,
        "/build/prune",
        q,
        &p.values("filter"),
        "CachesDeleted",
        "build cache objects",
    )?;
    super::resources::print_reclaimed(space);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_like_dockerignore() {
        assert!(glob(b"*.txt", b"a.txt"));
        assert!(!glob(b"*.txt", b"d/a.txt"));
        assert!(glob(b"**/*.txt", b"d/e/a.txt"));
        assert!(glob(b"d?r", b"dir"));
        let ig = Ignore(vec![
            (false, "logs".into()),
            (false, "*.tmp".into()),
            (true, "keep.tmp".into()),
        ]);
        assert!(ig.excluded("logs/x"));
        assert!(ig.excluded("a.tmp"));
        assert!(!ig.excluded("keep.tmp"));
        assert!(!ig.excluded("src/main.rs"));
    }
}
