//! `inspect` and the per-type `... inspect` commands: the daemon's JSON re-indented
//! byte for byte, or each object through `-f`.

use clap::Command;

use super::typed::{typed, Object};
use crate::client::{ClientError, Query};
use crate::cmdline::{bool_flag, value_flag, Parsed};
use crate::format::indent_json;
use crate::template::Template;
use crate::{Ctx, Status};

pub fn flags(c: Command) -> Command {
    let c = value_flag(
        c,
        "format",
        Some('f'),
        "Format output using a custom template",
    );
    let c = bool_flag(
        c,
        "size",
        Some('s'),
        "Display total file sizes if the type is container",
    );
    value_flag(c, "type", None, "Only inspect objects of the given type")
}

pub fn container_flags(c: Command) -> Command {
    let c = value_flag(
        c,
        "format",
        Some('f'),
        "Format output using a custom template",
    );
    bool_flag(c, "size", Some('s'), "Display total file sizes")
}

pub fn network_flags(c: Command) -> Command {
    let c = value_flag(
        c,
        "format",
        Some('f'),
        "Format output using a custom template",
    );
    bool_flag(c, "verbose", Some('v'), "Verbose output for diagnostics")
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Container,
    Image,
    Network,
    Volume,
}

impl Kind {
    fn path(self, name: &str, size: bool, platform: Option<&str>) -> (String, Query) {
        let n = crate::client::encode(name);
        match self {
            Kind::Container => (
                format!("/containers/{n}/json"),
                Query::new().flag("size", size),
            ),
            Kind::Image => {
                let mut q = Query::new();
                if let Some(pl) = platform {
                    q = q.add("platform", pl);
                }
                (format!("/images/{n}/json"), q)
            }
            Kind::Network => (format!("/networks/{n}"), Query::new()),
            Kind::Volume => (format!("/volumes/{n}"), Query::new()),
        }
    }
    fn noun(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Image => "image",
            Kind::Network => "network",
            Kind::Volume => "volume",
        }
    }
}

/// Fetches one object, trying `kinds` in order; `None` when none has it.
fn fetch(
    ctx: &Ctx,
    name: &str,
    kinds: &[Kind],
    size: bool,
    platform: Option<&str>,
) -> Result<Option<Vec<u8>>, ClientError> {
    for k in kinds {
        let (path, q) = k.path(name, size, platform);
        match ctx.client.get_raw(&path, q) {
            Ok(raw) => return Ok(Some(raw)),
            // With one type the daemon's own error is what docker shows.
            Err(e) if kinds.len() == 1 => return Err(e),
            Err(e) if e.is_not_found() => continue,
            Err(ClientError::Daemon { status: 400, .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

fn run(
    ctx: &Ctx,
    p: &Parsed,
    kinds: &[Kind],
    size: bool,
    missing: impl Fn(&str) -> String,
) -> anyhow::Result<i32> {
    let template = match p.value("format").filter(|f| !f.is_empty()) {
        Some(f) if f != "json" => Some(
            Template::parse(&f)
                .map_err(|e| Status::new(64, format!("template parsing error: {e}")))?,
        ),
        _ => None,
    };
    // `image inspect --platform`: one platform of a multi-platform image.
    let platform = match p.value("platform") {
        Some(pl) => Some(super::image::platform_json(&pl)?),
        None => None,
    };
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for name in &p.args {
        match fetch(ctx, name, kinds, size, platform.as_deref()) {
            Ok(Some(raw)) => raws.push(raw),
            Ok(None) => errors.push(missing(name)),
            Err(e @ ClientError::Daemon { .. }) => errors.push(e.to_string()),
            Err(e) => return Err(e.into()),
        }
    }
    match &template {
        None => {
            let mut joined = b"[".to_vec();
            for (i, r) in raws.iter().enumerate() {
                if i > 0 {
                    joined.push(b',');
                }
                joined.extend_from_slice(r);
            }
            joined.push(b']');
            println!("{}", indent_json(&joined, 0));
        }
        Some(t) => {
            for raw in &raws {
                let json: serde_json::Value = serde_json::from_slice(raw)?;
                match t.execute_strict(&typed(&json, object_of(&json, kinds))) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        println!();
                        return Err(Status::new(1, format!("template parsing error: {e}")).into());
                    }
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(Status::new(1, errors.join("\n")).into())
    }
}

/// Which struct a fetched object is: the only kind asked for, or (for a plain
/// `inspect` trying every kind) what its keys say.
fn object_of(json: &serde_json::Value, kinds: &[Kind]) -> Object {
    let kind = if kinds.len() == 1 {
        kinds[0]
    } else if json.get("State").is_some() {
        Kind::Container
    } else if json.get("RootFS").is_some() {
        Kind::Image
    } else if json.get("IPAM").is_some() {
        Kind::Network
    } else {
        Kind::Volume
    };
    match kind {
        Kind::Container => Object::Container,
        Kind::Image => Object::Image,
        Kind::Network => Object::Network,
        Kind::Volume => Object::Volume,
    }
}

pub fn inspect(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let kinds: Vec<Kind> = match p.value("type").as_deref() {
        None | Some("") => vec![Kind::Container, Kind::Image, Kind::Network, Kind::Volume],
        Some("container") => vec![Kind::Container],
        Some("image") => vec![Kind::Image],
        Some("network") => vec![Kind::Network],
        Some("volume") => vec![Kind::Volume],
        Some(other) => {
            return Err(
                Status::new(1, format!("unknown type: \"{other}\": must be one of \"config\", \"container\", \"image\", \"network\", \"node\", \"plugin\", \"secret\", \"service\", \"task\", \"volume\"")).into(),
            )
        }
    };
    let single = kinds.len() == 1;
    let kind = kinds[0];
    run(ctx, p, &kinds, p.flag("size"), |name| {
        if single {
            format!("Error: No such {}: {name}", kind.noun())
        } else {
            format!("Error: No such object: {name}")
        }
    })
}

pub fn container(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    run(ctx, p, &[Kind::Container], p.flag("size"), |n| {
        format!("Error: No such container: {n}")
    })
}

pub fn image(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    run(ctx, p, &[Kind::Image], false, |n| {
        format!("Error: No such image: {n}")
    })
}

pub fn volume(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    run(ctx, p, &[Kind::Volume], false, |n| {
        format!("Error: No such volume: {n}")
    })
}

pub fn network(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    run(ctx, p, &[Kind::Network], false, |n| {
        format!("Error: No such network: {n}")
    })
}
