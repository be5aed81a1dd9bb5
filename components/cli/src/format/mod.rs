//! Output formatting: docker's `--format` handling (`table`, `json`, custom
//! templates), the tabwriter, human units, and the JSON re-indenter `inspect` uses.

pub mod row;
pub mod tabwriter;
pub mod units;

use crate::template::{Template, Val};

/// A `--format` value after docker's pre-processing.
pub struct Format {
    table: bool,
    tmpl: Template,
}

impl Format {
    /// `format` as the user gave it; `default_table` is what bare `table` (or an empty
    /// format) means; `quiet` selects `{{.ID}}`.
    pub fn new(format: &str, default_table: &str, quiet: bool) -> Result<Format, String> {
        let mut f = format.to_string();
        if quiet && (f.is_empty() || f == "table") {
            f = "{{.ID}}".into();
        } else if f.is_empty() || f == "table" {
            f = default_table.to_string();
        }
        let table = f.starts_with("table");
        let mut body = if table {
            f["table".len()..].to_string()
        } else if f == "json" {
            "{{json .}}".to_string()
        } else {
            f.clone()
        };
        body = body
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        Ok(Format {
            table,
            tmpl: Template::parse(&body)?,
        })
    }

    /// Renders `rows`, and for tables the header line (`header` maps field names to
    /// column titles) through the tabwriter.
    pub fn render(&self, rows: &[Val], header: &Val) -> Result<String, String> {
        let mut body = String::new();
        for row in rows {
            body.push_str(&self.tmpl.execute(row)?);
            body.push('\n');
        }
        if !self.table {
            return Ok(body);
        }
        let mut tw = tabwriter::TabWriter::docker();
        let mut all = self.tmpl.execute_header(header).unwrap_or_default();
        all.push('\n');
        all.push_str(&body);
        tw.write(&all);
        Ok(tw.finish())
    }
}

/// A header map for table formats: field name → column title.
pub fn header(pairs: &[(&str, &str)]) -> Val {
    Val::Map(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Val::str(*v)))
            .collect(),
    )
}

/// Go's `json.Indent(raw, "", "    ")`: re-indents the daemon's JSON byte for byte,
/// keeping its key order and escapes.
pub fn indent_json(raw: &[u8], prefix_level: usize) -> String {
    let mut out = String::new();
    let mut level = prefix_level;
    let mut in_str = false;
    let mut escape = false;
    let mut need_indent = false;
    let s = String::from_utf8_lossy(raw);
    let newline = |out: &mut String, level: usize| {
        out.push('\n');
        for _ in 0..level {
            out.push_str("    ");
        }
    };
    for c in s.trim().chars() {
        if in_str {
            out.push(c);
            if escape {
                escape = false;
            } else if c == '\\' {
                escape = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        if c.is_ascii_whitespace() {
            continue;
        }
        if need_indent && c != ']' && c != '}' {
            need_indent = false;
            level += 1;
            newline(&mut out, level);
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                need_indent = true;
            }
            ',' => {
                out.push(c);
                newline(&mut out, level);
            }
            ':' => out.push_str(": "),
            '}' | ']' => {
                if need_indent {
                    need_indent = false;
                } else {
                    level = level.saturating_sub(1);
                    newline(&mut out, level);
                }
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indents_like_go() {
        let raw = br#"{"A":[],"B":{"c":"x\"<"},"D":[1,2]}"#;
        assert_eq!(
            indent_json(raw, 0),
            "{\n    \"A\": [],\n    \"B\": {\n        \"c\": \"x\\\"<\"\n    },\n    \"D\": [\n        1,\n        2\n    ]\n}"
        );
    }

    #[test]
    fn table_has_header_and_padding() {
        let f = Format::new("table {{.A}}\t{{.B}}", "", false).unwrap();
        let row = Val::from_json(&serde_json::json!({"A": "x", "B": "y"}));
        let out = f
            .render(&[row], &header(&[("A", "COL A"), ("B", "B")]))
            .unwrap();
        assert_eq!(out, "COL A     B\nx         y\n");
    }
}
