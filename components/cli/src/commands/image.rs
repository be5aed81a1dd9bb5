//! Image commands: `images`, `rmi`, `tag`, `history`, `import`, `save`, `load`,
//! `image prune`.

use std::io::{Read, Write};

use clap::Command;
use serde_json::Value;

use super::{filters_json, list_format, render_list, short_id};
use crate::client::Query;
use crate::cmdline::{bool_flag, list_flag, value_flag, Parsed};
use crate::format::row::Row;
use crate::format::{header, units};
use crate::template::Val;
use crate::transport::Body;
use crate::{Ctx, Status};

const IMAGES_TABLE: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}";
const IMAGES_TABLE_DIGEST: &str = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}";

/// Splits `repo:tag` (a colon after the last slash is the tag).
pub fn split_ref(r: &str) -> (String, Option<String>) {
    let r = r.split('@').next().unwrap_or(r);
    match r.rfind(':') {
        Some(i) if !r[i..].contains('/') => (r[..i].to_string(), Some(r[i + 1..].to_string())),
        _ => (r.to_string(), None),
    }
}

/// The familiar form of a reference: `docker.io/library/x` → `x`.
fn familiar(name: &str) -> String {
    let n = name.strip_prefix("docker.io/").unwrap_or(name);
    n.strip_prefix("library/").unwrap_or(n).to_string()
}

pub fn images_flags(c: Command) -> Command {
    let c = bool_flag(
        c,
        "all",
        Some('a'),
        "Show all images (default hides intermediate images)",
    );
    let c = bool_flag(c, "digests", None, "Show digests");
    let c = list_flag(
        c,
        "filter",
        Some('f'),
        "Filter output based on conditions provided",
    );
    let c = value_flag(c, "format", None, "Format output using a custom template");
    let c = bool_flag(c, "no-trunc", None, "Don't truncate output");
    let c = bool_flag(c, "quiet", Some('q'), "Only show image IDs");
    bool_flag(
        c,
        "tree",
        None,
        "List multi-platform images as a tree (EXPERIMENTAL)",
    )
}

fn image_rows(img: &Value, trunc: bool, digests: bool) -> Vec<Val> {
    let id = img.get("Id").and_then(Value::as_str).unwrap_or("");
    let created = img.get("Created").and_then(Value::as_i64).unwrap_or(0);
    let size = img.get("Size").and_then(Value::as_i64).unwrap_or(0);
    let shared = img.get("SharedSize").and_then(Value::as_i64).unwrap_or(-1);
    let containers = img.get("Containers").and_then(Value::as_i64).unwrap_or(-1);
    let strs = |key: &str| -> Vec<String> {
        img.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let tags: Vec<String> = strs("RepoTags")
        .into_iter()
        .filter(|t| t != "<none>:<none>")
        .collect();
    let repo_digests: Vec<String> = strs("RepoDigests")
        .into_iter()
        .filter(|d| d != "<none>@<none>")
        .collect();
    let row = |repo: &str, tag: &str, digest: &str| -> Val {
        Row::new("*formatter.imageContext")
            .set(
                "Containers",
                if containers == -1 {
                    "N/A".into()
                } else {
                    containers.to_string()
                },
            )
            .set("CreatedAt", units::go_time_string(created))
            .set(
                "CreatedSince",
                if created == 0 {
                    String::new()
                } else {
                    units::ago(created as f64)
                },
            )
            .set("Digest", digest)
            .set("ID", if trunc { short_id(id) } else { id.to_string() })
            .set("Repository", repo)
            .set(
                "SharedSize",
                if shared == -1 {
                    "N/A".into()
                } else {
                    units::human_size(shared as f64)
                },
            )
            .set("Size", units::human_size_prec(size as f64, 3))
            .set("Tag", tag)
            .set(
                "UniqueSize",
                if shared == -1 || size == -1 {
                    "N/A".into()
                } else {
                    units::human_size((size - shared) as f64)
                },
            )
            .set("VirtualSize", units::human_size(size as f64))
            .into_val()
    };
    if tags.is_empty() && repo_digests.is_empty() {
        return vec![row("<none>", "<none>", "<none>")];
    }
    // Grouped by repository as docker does: tags first, then digest-only rows.
    let mut repos: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
    for t in &tags {
        let (repo, tag) = split_ref(t);
        let repo = familiar(&repo);
        let tag = tag.unwrap_or_else(|| "latest".into());
        match repos.iter_mut().find(|(r, _, _)| *r == repo) {
            Some(e) => e.1.push(tag),
            None => repos.push((repo, vec![tag], Vec::new())),
        }
    }
    for d in &repo_digests {
        if let Some((repo, dg)) = d.split_once('@') {
            let repo = familiar(repo);
            match repos.iter_mut().find(|(r, _, _)| *r == repo) {
                Some(e) => e.2.push(dg.to_string()),
                None => repos.push((repo, Vec::new(), vec![dg.to_string()])),
            }
        }
    }
    repos.sort_by(|a, b| a.0.cmp(&b.0));
    let mut rows = Vec::new();
    for (repo, tags, dgs) in repos {
        if tags.is_empty() {
            if digests {
                for d in &dgs {
                    rows.push(row(&repo, "<none>", d));
                }
            } else {
                rows.push(row(&repo, "<none>", ""));
            }
            continue;
        }
        for tag in tags {
            if !digests || dgs.is_empty() {
                rows.push(row(&repo, &tag, "<none>"));
            } else {
                for d in &dgs {
                    rows.push(row(&repo, &tag, d));
                }
            }
        }
    }
    rows
}

fn images_header() -> Val {
    header(&[
        ("ID", "IMAGE ID"),
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("Digest", "DIGEST"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("Size", "SIZE"),
        ("Containers", "CONTAINERS"),
        ("VirtualSize", "SIZE"),
        ("SharedSize", "SHARED SIZE"),
        ("UniqueSize", "UNIQUE SIZE"),
    ])
}

pub fn images(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let digests = p.flag("digests");
    let given = p.value("format").or_else(|| {
        ctx.config
            .json
            .get("imagesFormat")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let show_digests = digests || given.as_deref().is_some_and(|f| f.contains("{{.Digest}}"));
    let default = if digests {
        IMAGES_TABLE_DIGEST
    } else {
        IMAGES_TABLE
    };
    let format = list_format(given, default, p.flag("quiet"))?;
    let mut filters = p.values("filter");
    if let Some(r) = p.args.first() {
        filters.push(format!("reference={r}"));
    }
    let mut q = Query::new().flag("all", p.flag("all"));
    if let Some(f) = filters_json(&filters)? {
        q = q.add("filters", f);
    }
    let list = ctx.client.get("/images/json", q)?;
    let trunc = !p.flag("no-trunc");
    let mut rows = Vec::new();
    for img in list.as_array().into_iter().flatten() {
        rows.extend(image_rows(img, trunc, show_digests));
    }
    render_list(&format, &rows, &images_header())?;
    Ok(0)
}

pub fn rmi_flags(c: Command) -> Command {
    let c = bool_flag(c, "force", Some('f'), "Force removal of the image");
    let c = bool_flag(c, "no-prune", None, "Do not delete untagged parents");
    list_flag(
        c,
        "platform",
        None,
        "Remove only the given platform variant",
    )
}

pub fn rmi(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let mut failed = Vec::new();
    for name in &p.args {
        let q = Query::new()
            .flag("force", p.flag("force"))
            .flag("noprune", p.flag("no-prune"));
        match ctx
            .client
            .delete(&format!("/images/{}", crate::client::encode(name)), q)
        {
            Ok(v) => {
                for item in v.as_array().into_iter().flatten() {
                    if let Some(u) = item.get("Untagged").and_then(Value::as_str) {
                        println!("Untagged: {u}");
                    }
                    if let Some(d) = item.get("Deleted").and_then(Value::as_str) {
                        println!("Deleted: {d}");
                    }
                }
            }
            Err(e) => failed.push(e.to_string()),
        }
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        Err(Status::new(1, failed.join("\n")).into())
    }
}

pub fn tag(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let (repo, tag) = split_ref(&p.args[1]);
    let mut q = Query::new().add("repo", repo);
    q = q.add("tag", tag.unwrap_or_else(|| "latest".into()));
    ctx.client.post(
        &format!("/images/{}/tag", crate::client::encode(&p.args[0])),
        q,
        None,
    )?;
    Ok(0)
}

pub fn history_flags(c: Command) -> Command {
    let c = value_flag(c, "format", None, "Format output using a custom template");
    let c = bool_flag(
        c,
        "human",
        Some('H'),
        "Print sizes and dates in human readable format",
    );
    let c = bool_flag(c, "no-trunc", None, "Don't truncate output");
    let c = value_flag(c, "platform", None, "Show history for the given platform");
    bool_flag(c, "quiet", Some('q'), "Only show image IDs")
}

pub fn history(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let human = !p.given("human") || p.flag("human");
    let trunc = !p.flag("no-trunc");
    let default = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
    let format = list_format(p.value("format"), default, p.flag("quiet"))?;
    let v = ctx.client.get(
        &format!("/images/{}/history", crate::client::encode(&p.args[0])),
        Query::new(),
    )?;
    let mut rows = Vec::new();
    for h in v.as_array().into_iter().flatten() {
        let id = h.get("Id").and_then(Value::as_str).unwrap_or("");
        let created = h.get("Created").and_then(Value::as_i64).unwrap_or(0);
        let size = h.get("Size").and_then(Value::as_i64).unwrap_or(0);
        let by = h.get("CreatedBy").and_then(Value::as_str).unwrap_or("");
        let by = by.replace('\t', " ");
        let by = if trunc && by.chars().count() > 45 {
            format!("{}…", by.chars().take(44).collect::<String>())
        } else {
            by
        };
        let id = if id == "<missing>" {
            id.to_string()
        } else if trunc {
            short_id(id)
        } else {
            id.to_string()
        };
        rows.push(
            Row::new("*image.historyContext")
                .set(
                    "Comment",
                    h.get("Comment").and_then(Value::as_str).unwrap_or(""),
                )
                .set("CreatedAt", units::go_time_string(created))
                .set("CreatedBy", by)
                .set(
                    "CreatedSince",
                    if human {
                        units::ago(created as f64)
                    } else {
                        units::go_time_string(created)
                    },
                )
                .set("ID", id)
                .set(
                    "Size",
                    if human {
                        units::human_size_prec(size as f64, 3)
                    } else {
                        size.to_string()
                    },
                )
                .into_val(),
        );
    }
    render_list(
        &format,
        &rows,
        &header(&[
            ("ID", "IMAGE"),
            ("CreatedSince", "CREATED"),
            ("CreatedAt", "CREATED AT"),
            ("CreatedBy", "CREATED BY"),
            ("Size", "SIZE"),
            ("Comment", "COMMENT"),
        ]),
    )?;
    Ok(0)
}

pub fn import_flags(c: Command) -> Command {
    let c = list_flag(
        c,
        "change",
        Some('c'),
        "Apply Dockerfile instruction to the created image",
    );
    let c = value_flag(
        c,
        "message",
        Some('m'),
        "Set commit message for imported image",
    );
    value_flag(
        c,
        "platform",
        None,
        "Set platform if server is multi-platform capable",
    )
}

/// Prints the lines of a JSON message stream (`{"status": ...}`, `{"error": ...}`).
fn json_messages(r: impl Read, quiet_status: bool) -> anyhow::Result<()> {
    let stream = serde_json::Deserializer::from_reader(r).into_iter::<Value>();
    for msg in stream {
        let msg = msg?;
        if let Some(e) = msg.get("error").and_then(Value::as_str) {
            return Err(Status::new(1, e.to_string()).into());
        }
        if let Some(s) = msg.get("status").and_then(Value::as_str) {
            if !quiet_status {
                println!("{s}");
            }
        }
        if let Some(s) = msg.get("stream").and_then(Value::as_str) {
            print!("{s}");
        }
    }
    Ok(())
}

pub fn import(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let src = &p.args[0];
    let mut q = Query::new();
    if let Some(r) = p.args.get(1) {
        let (repo, tag) = split_ref(r);
        q = q.add("repo", repo);
        if let Some(t) = tag {
            q = q.add("tag", t);
        }
    }
    if let Some(m) = p.value("message") {
        q = q.add("message", m);
    }
    for c in p.values("change") {
        q = q.add("changes", c);
    }
    let resp;
    if src == "-" {
        let mut stdin = std::io::stdin().lock();
        q = q.add("fromSrc", "-");
        resp = ctx.client.stream(
            "POST",
            "/images/create",
            q,
            Body::Stream(&mut stdin, "application/x-tar"),
        )?;
    } else if src.contains("://") {
        q = q.add("fromSrc", src.clone());
        resp = ctx
            .client
            .stream("POST", "/images/create", q, Body::Empty)?;
    } else {
        let mut f = std::fs::File::open(src).map_err(|e| {
            Status::new(
                1,
                format!("open {src}: {}", crate::commands::system::go_io_error(&e)),
            )
        })?;
        q = q.add("fromSrc", "-");
        resp = ctx.client.stream(
            "POST",
            "/images/create",
            q,
            Body::Stream(&mut f, "application/x-tar"),
        )?;
    }
    json_messages(resp, false)?;
    Ok(0)
}

pub fn save(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    // SAFETY: isatty on our own stdout.
    if p.value("output").is_none() && unsafe { libc::isatty(1) } == 1 {
        return Err(Status::new(
            1,
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        )
        .into());
    }
    let mut q = Query::new();
    for n in &p.args {
        q = q.add("names", n.clone());
    }
    if let Some(pl) = p.value("platform") {
        q = q.add("platform", platform_json(&pl)?);
    }
    let body = ctx.client.stream("GET", "/images/get", q, Body::Empty)?;
    super::container::write_tar(body, p.value("output"), "image")?;
    Ok(0)
}

/// An `os[/arch[/variant]]` platform as the API's `platform` query parameter takes
/// it: the OCI platform object in JSON (containerd's normalised names).
pub(super) fn platform_json(spec: &str) -> Result<String, Status> {
    let mut parts = spec.split('/');
    let os = parts.next().unwrap_or("").to_lowercase();
    let arch = parts.next().map(str::to_lowercase);
    let variant = parts.next().map(str::to_lowercase);
    if os.is_empty() || parts.next().is_some() {
        return Err(Status::new(
            1,
            format!("invalid platform: {spec:?}: unknown operating system or architecture: invalid argument"),
        ));
    }
    let arch = match arch.as_deref() {
        None => std::env::consts::ARCH
            .replace("x86_64", "amd64")
            .replace("aarch64", "arm64"),
        Some("x86_64" | "x86-64") => "amd64".into(),
        Some("aarch64") => "arm64".into(),
        Some(a) => a.to_string(),
    };
    let mut platform = serde_json::json!({"architecture": arch, "os": os});
    if let Some(v) = variant {
        platform["variant"] = Value::String(v);
    }
    Ok(platform.to_string())
}

pub fn load_flags(c: Command) -> Command {
    let c = value_flag(
        c,
        "input",
        Some('i'),
        "Read from tar archive file, instead of STDIN",
    );
    let c = list_flag(c, "platform", None, "Load only the given platform(s)");
    bool_flag(c, "quiet", Some('q'), "Suppress the load output")
}

pub fn load(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let quiet = p.flag("quiet");
    let q = Query::new().flag("quiet", quiet);
    let resp = match p.value("input") {
        Some(path) => {
            let mut f = std::fs::File::open(&path).map_err(|e| {
                Status::new(
                    1,
                    format!("open {path}: {}", crate::commands::system::go_io_error(&e)),
                )
            })?;
            ctx.client.stream(
                "POST",
                "/images/load",
                q,
                Body::Stream(&mut f, "application/x-tar"),
            )?
        }
        None => {
            // SAFETY: isatty on our own stdin.
            if unsafe { libc::isatty(0) } == 1 {
                return Err(Status::new(1, "requested load from stdin, but stdin is empty").into());
            }
            let mut stdin = std::io::stdin().lock();
            ctx.client.stream(
                "POST",
                "/images/load",
                q,
                Body::Stream(&mut stdin, "application/x-tar"),
            )?
        }
    };
    let mut buf = Vec::new();
    let mut resp = resp;
    resp.read_to_end(&mut buf)?;
    if buf.is_empty() {
        return Err(Status::new(1, "requested load from stdin, but stdin is empty").into());
    }
    json_messages(&buf[..], false)?;
    Ok(0)
}

pub fn prune_flags(c: Command) -> Command {
    let c = bool_flag(
        c,
        "all",
        Some('a'),
        "Remove all unused images, not just dangling ones",
    );
    let c = list_flag(
        c,
        "filter",
        None,
        "Provide filter values (e.g. \"until=<timestamp>\")",
    );
    bool_flag(c, "force", Some('f'), "Do not prompt for confirmation")
}

pub fn prune(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let all = p.flag("all");
    let warning = if all {
        "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?"
    } else {
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
    };
    if !super::resources::confirm(p, warning)? {
        return Ok(0);
    }
    let mut filters = p.values("filter");
    filters.push(format!("dangling={}", !all));
    let mut q = Query::new();
    if let Some(f) = filters_json(&filters)? {
        q = q.add("filters", f);
    }
    let v = ctx.client.post("/images/prune", q, None)?;
    let deleted = v
        .get("ImagesDeleted")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Images:");
        for d in &deleted {
            if let Some(u) = d.get("Untagged").and_then(Value::as_str) {
                println!("untagged: {u}");
            }
            if let Some(x) = d.get("Deleted").and_then(Value::as_str) {
                println!("deleted: {x}");
            }
        }
        println!();
    }
    let space = v.get("SpaceReclaimed").and_then(Value::as_u64).unwrap_or(0);
    println!("Total reclaimed space: {}", units::human_size(space as f64));
    Ok(0)
}

/// `X-Registry-Auth`: the stored credentials for the reference's registry, as
/// base64url JSON (`{}` when there are none).
pub(super) fn registry_auth(ctx: &Ctx, reference: &str) -> String {
    let first = reference.split('/').next().unwrap_or("");
    let registry = if reference.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        first.to_string()
    } else {
        "https://index.docker.io/v1/".to_string()
    };
    let auth = ctx
        .config
        .json
        .pointer(&format!(
            "/auths/{}",
            registry.replace('~', "~0").replace('/', "~1")
        ))
        .and_then(|a| a.get("auth"))
        .and_then(Value::as_str)
        .map(|a| {
            let decoded = super::cp::base64_decode(a);
            let text = String::from_utf8_lossy(&decoded).into_owned();
            let (u, p) = text.split_once(':').unwrap_or((&text, ""));
            serde_json::json!({"username": u, "password": p, "serveraddress": registry})
        })
        .unwrap_or_else(|| serde_json::json!({}));
    use base64::Engine as _;
    // Go's base64.URLEncoding, padded, as the real CLI sends it.
    base64::engine::general_purpose::URL_SAFE.encode(auth.to_string())
}

/// Prints a pull/push message stream as the real CLI does without a terminal:
/// `id: status` lines, progress updates left out, an error ends the command.
fn display_progress(r: impl Read, quiet: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    for msg in serde_json::Deserializer::from_reader(r).into_iter::<Value>() {
        let msg = msg?;
        if let Some(e) = msg
            .get("errorDetail")
            .and_then(|d| d.get("message"))
            .and_then(Value::as_str)
            .or_else(|| msg.get("error").and_then(Value::as_str))
        {
            return Err(Status::new(1, e.to_string()).into());
        }
        if quiet {
            continue;
        }
        let moving = msg.get("progressDetail").is_some_and(|d| {
            d.get("current").and_then(Value::as_i64).unwrap_or(0) > 0
                || d.get("total").and_then(Value::as_i64).unwrap_or(0) > 0
        });
        if moving || msg.get("aux").is_some() && msg.get("status").is_none() {
            continue;
        }
        let mut line = String::new();
        if let Some(id) = msg
            .get("id")
            .and_then(Value::as_str)
            .filter(|i| !i.is_empty())
        {
            line.push_str(&format!("{id}: "));
        }
        if let Some(s) = msg.get("stream").and_then(Value::as_str) {
            write!(out, "{line}{s}")?;
            continue;
        }
        let status = msg.get("status").and_then(Value::as_str).unwrap_or("");
        match msg
            .get("progress")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
        {
            Some(p) if !moving && msg.get("progressDetail").is_none() => {
                writeln!(out, "{line}{status} {p}")?
            }
            _ => writeln!(out, "{line}{status}")?,
        }
    }
    Ok(())
}

/// Adds `:latest` to a reference without tag or digest, saying so as docker does.
fn with_default_tag(reference: &str, quiet: bool) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    if last.contains(':') || reference.contains('@') {
        return reference.to_string();
    }
    if !quiet {
        println!("Using default tag: latest");
    }
    format!("{reference}:latest")
}

pub fn pull_flags(c: Command) -> Command {
    let c = bool_flag(
        c,
        "all-tags",
        Some('a'),
        "Download all tagged images in the repository",
    );
    let c = bool_flag(c, "disable-content-trust", None, "Skip image verification");
    let c = value_flag(
        c,
        "platform",
        None,
        "Set platform if server is multi-platform capable",
    );
    bool_flag(c, "quiet", Some('q'), "Suppress verbose output")
}

pub fn pull(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let quiet = p.flag("quiet");
    let all = p.flag("all-tags");
    let reference = if all {
        p.args[0].clone()
    } else {
        with_default_tag(&p.args[0], quiet)
    };
    let (repo, tag, digest) = match reference.split_once('@') {
        Some((r, d)) => (r.to_string(), None, Some(d.to_string())),
        None => {
            let (r, t) = split_ref(&reference);
            (r, t, None)
        }
    };
    let mut q = Query::new().add("fromImage", repo.clone());
    if let Some(t) = tag.clone().or(digest.clone()) {
        q = q.add("tag", t);
    }
    if let Some(pl) = p.value("platform") {
        q = q.add("platform", pl);
    }
    create_image(ctx, q, &reference, quiet, &mut std::io::stdout())?;
    if !all {
        println!("{reference}");
    }
    Ok(0)
}

/// The pull `create`/`run` make for a missing image (`--pull`): progress on stderr.
pub(super) fn pull_for_create(
    ctx: &Ctx,
    reference: &str,
    platform: Option<String>,
    quiet: bool,
) -> anyhow::Result<()> {
    let (repo, tag) = split_ref(reference);
    let mut q = Query::new()
        .add("fromImage", repo)
        .add("tag", tag.unwrap_or_default());
    if let Some(pl) = platform {
        q = q.add("platform", pl);
    }
    create_image(ctx, q, reference, quiet, &mut std::io::stderr())
}

/// `POST /images/create` (a pull) with the registry credentials for `reference`, its
/// progress shown on `out`.
fn create_image(
    ctx: &Ctx,
    query: Query,
    reference: &str,
    quiet: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let auth = registry_auth(ctx, reference);
    let resp = ctx.client.call(
        "POST",
        "/images/create",
        query,
        &[("X-Registry-Auth", auth)],
        Body::Empty,
    )?;
    display_progress(resp.body, quiet, out)
}

pub fn push_flags(c: Command) -> Command {
    let c = bool_flag(
        c,
        "all-tags",
        Some('a'),
        "Push all tags of an image to the repository",
    );
    let c = bool_flag(c, "disable-content-trust", None, "Skip image signing");
    let c = value_flag(
        c,
        "platform",
        None,
        "Push a platform-specific manifest as a single-platform image to the registry.",
    );
    bool_flag(c, "quiet", Some('q'), "Suppress verbose output")
}

pub fn push(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let quiet = p.flag("quiet");
    let reference = if p.flag("all-tags") {
        p.args[0].clone()
    } else {
        with_default_tag(&p.args[0], quiet)
    };
    let (repo, tag) = split_ref(&reference);
    let mut q = Query::new();
    if let Some(t) = tag {
        q = q.add("tag", t);
    }
    let auth = registry_auth(ctx, &reference);
    let resp = ctx.client.call(
        "POST",
        &format!(
            "/images/{}/push",
            crate::client::encode(&repo).replace("%2F", "/")
        ),
        q,
        &[("X-Registry-Auth", auth)],
        Body::Empty,
    )?;
    display_progress(resp.body, quiet, &mut std::io::stdout())?;
    if quiet {
        println!("{reference}");
    }
    Ok(0)
}
