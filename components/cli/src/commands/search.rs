//! `docker search`: the daemon's registry search (`GET /images/search`), listed as the
//! real CLI lists it: most stars first, descriptions on one line and cut at 45
//! columns unless `--no-trunc`, `[OK]` for official images.

use clap::Command;
use serde_json::Value;

use super::container::ellipsis;
use super::image::registry_auth;
use super::{filters_json, list_format, render_list};
use crate::client::Query;
use crate::cmdline::{bool_flag, list_flag, value_flag, Parsed};
use crate::format::header;
use crate::format::row::Row;
use crate::transport::Body;
use crate::{Ctx, Status};

const SEARCH_TABLE: &str = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}";

pub fn flags(c: Command) -> Command {
    let c = list_flag(
        c,
        "filter",
        Some('f'),
        "Filter output based on conditions provided",
    );
    let c = value_flag(c, "format", None, "Pretty-print search using a Go template");
    let c = value_flag(c, "limit", None, "Max number of search results");
    bool_flag(c, "no-trunc", None, "Don't truncate output")
}

pub fn search(ctx: &Ctx, p: &Parsed) -> anyhow::Result<i32> {
    let term = &p.args[0];
    let mut q = Query::new().add("term", term.clone());
    if let Some(limit) = p.value("limit").filter(|l| l != "0") {
        q = q.add("limit", limit);
    }
    // A malformed filter is a flag error: the usage hint follows it.
    let filters = filters_json(&p.values("filter")).map_err(|e| {
        Status::new(
            125,
            format!(
                "{e}\n\nUsage:  {}\n\nRun '{} --help' for more information",
                p.usage, p.path
            ),
        )
    })?;
    if let Some(f) = filters {
        q = q.add("filters", f);
    }
    let auth = registry_auth(ctx, term);
    let resp = ctx.client.call(
        "GET",
        "/images/search",
        q,
        &[("X-Registry-Auth", auth)],
        Body::Empty,
    )?;
    let results: Value = serde_json::from_slice(&resp.bytes()?)?;
    let mut results: Vec<&Value> = results.as_array().into_iter().flatten().collect();
    let stars = |r: &Value| r.get("star_count").and_then(Value::as_i64).unwrap_or(0);
    // Stable, like Go's sort.SliceStable would be; the daemon's order breaks ties.
    results.sort_by_key(|r| std::cmp::Reverse(stars(r)));
    // The template is read only once the daemon answered, as the real CLI does.
    let format = list_format(p.value("format"), SEARCH_TABLE, false)?;
    let trunc = !p.flag("no-trunc");
    let rows: Vec<_> = results
        .iter()
        .map(|r| {
            let text = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let mut description = text("description").replace(['\n', '\r'], " ");
            if trunc {
                description = ellipsis(&description, 45);
            }
            let official = r.get("is_official").and_then(Value::as_bool) == Some(true);
            Row::new("*registry.searchContext")
                .set("Name", text("name"))
                .set("Description", description)
                .set("StarCount", stars(r).to_string())
                .set("IsOfficial", if official { "[OK]" } else { "" })
                .into_val()
        })
        .collect();
    let header = header(&[
        ("Name", "NAME"),
        ("Description", "DESCRIPTION"),
        ("StarCount", "STARS"),
        ("IsOfficial", "OFFICIAL"),
    ]);
    render_list(&format, &rows, &header)?;
    Ok(0)
}
