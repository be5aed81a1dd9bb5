//! Template values with Go's printing rules.
//!
//! Go's `text/template` prints through `fmt`'s `%v`: slices as `[a b]`, maps as
//! `map[k:v]` with sorted keys, structs as `{a b}`, nil as `<nil>`, a missing map key
//! as `<no value>`. Docker's formatters add objects whose fields are computed (the
//! `ps` row's `.ID`, `.Label "k"`); those implement [`Fields`].

use std::fmt::Write as _;
use std::rc::Rc;

use serde_json::Value as Json;

/// An object whose fields are computed on demand, like docker's formatter contexts.
pub trait Fields {
    /// Go type name for error messages (`*formatter.ContainerContext`).
    fn type_name(&self) -> &str;
    /// The field or method `name`, called with `args`; `None` when it does not exist.
    fn field(&self, name: &str, args: &[Val]) -> Option<Result<Val, String>>;
    /// What `json .` prints: every argument-less field, as Go marshals a map.
    fn to_json(&self) -> Json;
}

#[derive(Clone)]
pub enum Val {
    NoValue,
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Val>),
    /// A Go map: printed with sorted keys; a missing key is `<no value>`.
    Map(Vec<(String, Val)>),
    /// A Go struct decoded from the daemon's JSON: fields in declaration order.
    Struct(Vec<(String, Val)>),
    Object(Rc<dyn Fields>),
    /// A typed nil slice of a Go struct (`[]string(nil)`): prints `[]`, marshals `null`.
    NilSlice,
    /// A typed nil map (`map[string]string(nil)`): prints `map[]`, marshals `null`.
    NilMap,
    /// A struct field the daemon left out (`omitempty`): its zero value for templates,
    /// left out again by `json`. Field access unwraps it.
    Absent(Box<Val>),
}

impl Val {
    pub fn str(s: impl Into<String>) -> Val {
        Val::Str(s.into())
    }

    /// The value itself, for a field the daemon left out.
    pub fn present(self) -> Val {
        match self {
            Val::Absent(v) => *v,
            v => v,
        }
    }

    /// Converts the daemon's JSON. Objects whose keys all look like Go field names
    /// become structs; others (labels, options) become maps.
    pub fn from_json(j: &Json) -> Val {
        match j {
            Json::Null => Val::Nil,
            Json::Bool(b) => Val::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Val::Int(i),
                None => Val::Float(n.as_f64().unwrap_or(0.0)),
            },
            Json::String(s) => Val::Str(s.clone()),
            Json::Array(a) => Val::List(a.iter().map(Val::from_json).collect()),
            Json::Object(o) => {
                let fields: Vec<(String, Val)> = o
                    .iter()
                    .map(|(k, v)| (k.clone(), Val::from_json(v)))
                    .collect();
                let structish = !o.is_empty()
                    && o.keys().all(|k| {
                        k.starts_with(|c: char| c.is_ascii_uppercase())
                            && k.chars().all(|c| c.is_ascii_alphanumeric())
                    });
                if structish {
                    Val::Struct(fields)
                } else {
                    Val::Map(fields)
                }
            }
        }
    }

    pub fn to_json(&self) -> Json {
        match self {
            Val::NoValue | Val::Nil | Val::NilSlice | Val::NilMap => Json::Null,
            Val::Bool(b) => Json::Bool(*b),
            Val::Int(i) => Json::from(*i),
            Val::Float(f) => serde_json::Number::from_f64(*f)
                .map(Json::Number)
                .unwrap_or(Json::Null),
            Val::Str(s) => Json::String(s.clone()),
            Val::List(l) => Json::Array(l.iter().map(Val::to_json).collect()),
            Val::Map(m) => {
                let mut sorted: Vec<&(String, Val)> = m.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                Json::Object(
                    sorted
                        .into_iter()
                        .map(|(k, v)| (k.clone(), v.to_json()))
                        .collect(),
                )
            }
            Val::Struct(m) => Json::Object(
                m.iter()
                    .filter(|(_, v)| !matches!(v, Val::Absent(_)))
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            Val::Object(o) => o.to_json(),
            Val::Absent(v) => v.to_json(),
        }
    }

    /// Go's notion of "true" for `if`, `with`, `and`, `or`, `not`.
    pub fn truth(&self) -> bool {
        match self {
            Val::NoValue | Val::Nil | Val::NilSlice | Val::NilMap => false,
            Val::Bool(b) => *b,
            Val::Int(i) => *i != 0,
            Val::Float(f) => *f != 0.0,
            Val::Str(s) => !s.is_empty(),
            Val::List(l) => !l.is_empty(),
            Val::Map(m) => !m.is_empty(),
            Val::Struct(_) | Val::Object(_) => true,
            Val::Absent(v) => v.truth(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Val::NoValue => "invalid",
            Val::Nil => "nil",
            Val::Bool(_) => "bool",
            Val::Int(_) => "int",
            Val::Float(_) => "float64",
            Val::Str(_) => "string",
            Val::List(_) | Val::NilSlice => "slice",
            Val::Map(_) | Val::NilMap => "map",
            Val::Struct(_) | Val::Object(_) => "struct",
            Val::Absent(v) => v.kind(),
        }
    }

    /// `fmt.Sprint(v)`.
    pub fn print(&self) -> String {
        let mut out = String::new();
        self.write_to(&mut out, true);
        out
    }

    fn write_to(&self, out: &mut String, top: bool) {
        match self {
            Val::NoValue => out.push_str("<no value>"),
            Val::Nil => out.push_str("<nil>"),
            Val::NilSlice => out.push_str("[]"),
            Val::NilMap => out.push_str("map[]"),
            Val::Absent(v) => v.write_to(out, top),
            Val::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Val::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Val::Float(f) => out.push_str(&go_float(*f)),
            Val::Str(s) => out.push_str(s),
            Val::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_to(out, false);
                }
                out.push(']');
            }
            Val::Map(m) => {
                let mut sorted: Vec<&(String, Val)> = m.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                out.push_str("map[");
                for (i, (k, v)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_to(out, false);
                }
                out.push(']');
            }
            Val::Struct(m) => {
                out.push('{');
                for (i, (_, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_to(out, false);
                }
                out.push('}');
            }
            Val::Object(o) => {
                let _ = top;
                out.push_str(&format!("&{{{}}}", o.type_name()));
            }
        }
    }
}

/// `%v` of a float64: shortest representation, exponent form outside 1e-4..1e21.
pub fn go_float(f: f64) -> String {
    if f == f.trunc() && f.abs() < 1e21 {
        return format!("{}", f as i64);
    }
    let abs = f.abs();
    if (1e-4..1e21).contains(&abs) {
        return format!("{f}");
    }
    let s = format!("{f:e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

/// Go's `json.Marshal` with HTML escaping off, as docker's `json` template function.
pub fn go_json(j: &Json) -> String {
    let mut out = String::new();
    write_json(j, &mut out, false);
    out
}

/// Go's default `json.Marshal` (HTML-escaped), for JSON the CLI encodes itself.
pub fn go_json_escaped(j: &Json) -> String {
    let mut out = String::new();
    write_json(j, &mut out, true);
    out
}

fn write_json(j: &Json, out: &mut String, html: bool) {
    match j {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(&n.to_string()),
        Json::String(s) => write_json_str(s, out, html),
        Json::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(v, out, html);
            }
            out.push(']');
        }
        Json::Object(o) => {
            out.push('{');
            for (i, (k, v)) in o.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(k, out, html);
                out.push(':');
                write_json(v, out, html);
            }
            out.push('}');
        }
    }
}

fn write_json_str(s: &str, out: &mut String, html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if html => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_go_fmt() {
        let j: Json =
            serde_json::json!({"Env": ["A=1", "B=2"], "Labels": {"z": "1", "a": "2"}, "N": null});
        let v = Val::from_json(&j);
        assert_eq!(v.print(), "{[A=1 B=2] map[a:2 z:1] <nil>}");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(0.5), "0.5");
    }

    #[test]
    fn json_escapes_like_go() {
        let j = serde_json::json!({"a": "<x>&\u{1}"});
        assert_eq!(go_json(&j), r#"{"a":"<x>&\u0001"}"#);
        assert_eq!(go_json_escaped(&j), r#"{"a":"\u003cx\u003e\u0026\u0001"}"#);
    }
}
