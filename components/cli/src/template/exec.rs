//! Execution of a parsed template: Go's evaluation rules and function set, plus the
//! functions docker adds (`json`, `split`, `join`, `title`, `lower`, `upper`, `pad`,
//! `truncate`). In header mode (the first line of a `table` format) docker replaces
//! those with identity functions so the header shows column names, not data.

use super::parse::{Command, Node, Operand, Pipe};
use super::value::{go_json, go_json_escaped, Val};

const FUNCTIONS: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt",
    "le", "gt", "ge", "html", "js", "urlquery", "call", "json", "split", "join", "title", "lower",
    "upper", "pad", "truncate",
];

pub fn is_function(name: &str) -> bool {
    FUNCTIONS.contains(&name)
}

enum Flow {
    Normal,
    Break,
    Continue,
}

pub struct Exec<'a> {
    src: &'a str,
    vars: Vec<(String, Val)>,
    header: bool,
    missing_error: bool,
    pub out: String,
}

type R<T> = Result<T, String>;

/// A command as Go's parse tree prints it (`index (split .Names "-") 1`).
fn command_text(cmd: &Command) -> String {
    cmd.args
        .iter()
        .map(|(op, _)| match op {
            Operand::Sub(pipe, path) => {
                let mut t = format!("({})", pipe_text(pipe));
                for p in path {
                    t.push('.');
                    t.push_str(p);
                }
                t
            }
            Operand::Str(s) => format!("{s:?}"),
            other => describe(other),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn pipe_text(pipe: &Pipe) -> String {
    let mut out = String::new();
    if !pipe.decl.is_empty() {
        out.push_str(&pipe.decl.join(", "));
        out.push_str(if pipe.assign { " = " } else { " := " });
    }
    let cmds: Vec<String> = pipe.cmds.iter().map(command_text).collect();
    out.push_str(&cmds.join(" | "));
    out
}

fn describe(op: &Operand) -> String {
    match op {
        Operand::Field(p) if p.is_empty() => ".".into(),
        Operand::Field(p) => format!(".{}", p.join(".")),
        Operand::Var(n, p) if p.is_empty() => n.clone(),
        Operand::Var(n, p) => format!("{n}.{}", p.join(".")),
        Operand::Ident(i) => i.clone(),
        Operand::Str(s) => format!("{s:?}"),
        Operand::Int(i) => i.to_string(),
        Operand::Float(f) => f.to_string(),
        Operand::Bool(b) => b.to_string(),
        Operand::Nil => "nil".into(),
        Operand::Sub(_, p) if p.is_empty() => "(...)".into(),
        Operand::Sub(_, p) => format!("(...).{}", p.join(".")),
    }
}

impl<'a> Exec<'a> {
    pub fn new(src: &'a str, root: Val, header: bool, missing_error: bool) -> Exec<'a> {
        Exec {
            src,
            vars: vec![("$".into(), root)],
            header,
            missing_error,
            out: String::new(),
        }
    }

    fn fail(&self, pos: usize, node: &str, msg: impl std::fmt::Display) -> String {
        let before = &self.src[..pos.min(self.src.len())];
        let line = 1 + before.matches('\n').count();
        let col = pos - before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        format!("template: :{line}:{col}: executing \"\" at <{node}>: {msg}")
    }

    pub fn run(&mut self, nodes: &[Node], dot: &Val) -> R<()> {
        self.walk(nodes, dot).map(|_| ())
    }

    fn walk(&mut self, nodes: &[Node], dot: &Val) -> R<Flow> {
        for node in nodes {
            match node {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(pipe) => {
                    let v = self.pipe(pipe, dot)?;
                    if pipe.decl.is_empty() {
                        self.out.push_str(&v.print());
                    }
                }
                Node::If(pipe, body, els) => {
                    let mark = self.vars.len();
                    let v = self.pipe(pipe, dot)?;
                    let flow = if v.truth() {
                        self.walk(body, dot)?
                    } else {
                        self.walk(els, dot)?
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::With(pipe, body, els) => {
                    let mark = self.vars.len();
                    let v = self.pipe(pipe, dot)?;
                    let flow = if v.truth() {
                        self.walk(body, &v)?
                    } else {
                        self.walk(els, dot)?
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range(pipe, body, els) => {
                    let mark = self.vars.len();
                    let mut p = pipe.clone();
                    let decl = std::mem::take(&mut p.decl);
                    let v = self.pipe(&p, dot)?;
                    let items: Vec<(Val, Val)> = match &v {
                        Val::List(l) => l
                            .iter()
                            .enumerate()
                            .map(|(i, x)| (Val::Int(i as i64), x.clone()))
                            .collect(),
                        Val::Map(m) | Val::Struct(m) => {
                            let mut sorted = m.clone();
                            if matches!(v, Val::Map(_)) {
                                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                            }
                            sorted
                                .into_iter()
                                .map(|(k, x)| (Val::Str(k), x.present()))
                                .collect()
                        }
                        Val::Int(n) => (0..*n).map(|i| (Val::Int(i), Val::Int(i))).collect(),
                        Val::Nil | Val::NoValue | Val::NilSlice | Val::NilMap => Vec::new(),
                        other => {
                            return Err(self.fail(
                                pipe.pos,
                                "range",
                                format!("range can't iterate over {}", other.print()),
                            ))
                        }
                    };
                    if items.is_empty() {
                        self.walk(els, dot)?;
                    }
                    for (k, x) in items {
                        let inner = self.vars.len();
                        match decl.len() {
                            0 => {}
                            1 => self.vars.push((decl[0].clone(), x.clone())),
                            _ => {
                                self.vars.push((decl[0].clone(), k));
                                self.vars.push((decl[1].clone(), x.clone()));
                            }
                        }
                        let flow = self.walk(body, &x)?;
                        self.vars.truncate(inner);
                        if matches!(flow, Flow::Break) {
                            break;
                        }
                    }
                    self.vars.truncate(mark);
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn pipe(&mut self, pipe: &Pipe, dot: &Val) -> R<Val> {
        let mut last: Option<Val> = None;
        for cmd in &pipe.cmds {
            last = Some(self.command(cmd, dot, last)?);
        }
        let v = last.unwrap_or(Val::NoValue);
        if !pipe.decl.is_empty() {
            if pipe.assign {
                let name = &pipe.decl[0];
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => {
                        return Err(self.fail(
                            pipe.pos,
                            name,
                            format!("undefined variable: {name}"),
                        ))
                    }
                }
            } else {
                self.vars.push((pipe.decl[0].clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn var(&self, name: &str, pos: usize) -> R<Val> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                format!("template: :{}: undefined variable \"{name}\"", {
                    1 + self.src[..pos.min(self.src.len())].matches('\n').count()
                })
            })
    }

    fn command(&mut self, cmd: &Command, dot: &Val, fin: Option<Val>) -> R<Val> {
        let (first, pos) = &cmd.args[0];
        let rest = &cmd.args[1..];
        match first {
            Operand::Ident(name) => {
                if name == "and" || name == "or" {
                    let mut v = Val::NoValue;
                    let n = rest.len() + usize::from(fin.is_some());
                    if n == 0 {
                        return Err(self.fail(
                            *pos,
                            name,
                            format!("wrong number of args for {name}: want at least 1 got 0"),
                        ));
                    }
                    for (op, p) in rest {
                        v = self.operand(op, *p, dot)?;
                        if (name == "and") != v.truth() {
                            return Ok(v);
                        }
                    }
                    if let Some(f) = fin {
                        v = f;
                    }
                    return Ok(v);
                }
                let mut args = Vec::new();
                for (op, p) in rest {
                    args.push(self.operand(op, *p, dot)?);
                }
                if let Some(f) = fin {
                    args.push(f);
                }
                // A failed call names the whole command, as Go's `evalCall` does.
                self.call(name, &args)
                    .map_err(|e| self.fail(*pos, &command_text(cmd), e))
            }
            Operand::Field(path) => {
                let args = self.args(rest, dot, fin)?;
                self.chain(dot.clone(), path, &args, *pos, first)
            }
            Operand::Var(name, path) => {
                let base = self.var(name, *pos)?;
                let args = self.args(rest, dot, fin)?;
                self.chain(base, path, &args, *pos, first)
            }
            Operand::Sub(pipe, path) => {
                let base = self.pipe(pipe, dot)?;
                let args = self.args(rest, dot, fin)?;
                self.chain(base, path, &args, *pos, first)
            }
            other => {
                if !rest.is_empty() || fin.is_some() {
                    return Err(self.fail(
                        *pos,
                        &describe(other),
                        format!("can't give argument to non-function {}", describe(other)),
                    ));
                }
                self.operand(other, *pos, dot)
            }
        }
    }

    fn args(&mut self, rest: &[(Operand, usize)], dot: &Val, fin: Option<Val>) -> R<Vec<Val>> {
        let mut args = Vec::new();
        for (op, p) in rest {
            args.push(self.operand(op, *p, dot)?);
        }
        if let Some(f) = fin {
            args.push(f);
        }
        Ok(args)
    }

    fn operand(&mut self, op: &Operand, pos: usize, dot: &Val) -> R<Val> {
        Ok(match op {
            Operand::Field(path) => self.chain(dot.clone(), path, &[], pos, op)?,
            Operand::Var(name, path) => {
                let base = self.var(name, pos)?;
                self.chain(base, path, &[], pos, op)?
            }
            Operand::Sub(pipe, path) => {
                let base = self.pipe(pipe, dot)?;
                self.chain(base, path, &[], pos, op)?
            }
            Operand::Ident(name) => self.call(name, &[]).map_err(|e| self.fail(pos, name, e))?,
            Operand::Str(s) => Val::Str(s.clone()),
            Operand::Int(i) => Val::Int(*i),
            Operand::Float(f) => Val::Float(*f),
            Operand::Bool(b) => Val::Bool(*b),
            Operand::Nil => Val::Nil,
        })
    }

    /// Follows `.A.B.C` from `base`; `args` go to the last element (a method call).
    fn chain(&self, base: Val, path: &[String], args: &[Val], pos: usize, op: &Operand) -> R<Val> {
        if path.is_empty() {
            if !args.is_empty() {
                return Err(self.fail(
                    pos,
                    &describe(op),
                    format!("can't give argument to non-function {}", describe(op)),
                ));
            }
            return Ok(base);
        }
        // Go positions a chain at its first chained element: `.B` in `.A.B`, `.A` in `$x.A`.
        let pos = match op {
            Operand::Field(p) if p.len() > 1 => pos + p[0].len() + 1,
            Operand::Var(name, p) if !p.is_empty() => pos + name.len(),
            _ => pos,
        };
        let mut cur = base;
        for (i, name) in path.iter().enumerate() {
            let last = i + 1 == path.len();
            let a = if last { args } else { &[] };
            cur = self
                .field(&cur, name, a)
                .map_err(|e| self.fail(pos, &describe(op), e))?;
        }
        Ok(cur)
    }

    fn field(&self, v: &Val, name: &str, args: &[Val]) -> Result<Val, String> {
        let plain = |found: Option<&Val>| -> Result<Val, String> {
            if !args.is_empty() {
                return Err(format!(
                    "{name} has arguments but cannot be invoked as function"
                ));
            }
            Ok(found.cloned().map(Val::present).unwrap_or(Val::NoValue))
        };
        match v {
            Val::Object(o) => match o.field(name, args) {
                Some(r) => r,
                None => Err(format!(
                    "can't evaluate field {name} in type {}",
                    o.type_name()
                )),
            },
            Val::Map(m) | Val::Struct(m) => {
                let found = m.iter().find(|(k, _)| k == name).map(|(_, v)| v);
                if found.is_none() && self.missing_error {
                    return Err(format!("map has no entry for key \"{name}\""));
                }
                plain(found)
            }
            // A nil map has no keys, and Go reports none missing either.
            Val::NilMap => plain(None),
            Val::Nil | Val::NoValue => Err(format!("nil pointer evaluating interface {{}}.{name}")),
            other => Err(format!(
                "can't evaluate field {name} in type {}",
                other.kind()
            )),
        }
    }

    fn call(&self, name: &str, args: &[Val]) -> Result<Val, String> {
        let want = |n: usize| -> Result<(), String> {
            if args.len() != n {
                return Err(format!(
                    "wrong number of args for {name}: want {n} got {}",
                    args.len()
                ));
            }
            Ok(())
        };
        let string = |v: &Val| -> Result<String, String> {
            match v {
                Val::Str(s) => Ok(s.clone()),
                other => Err(format!(
                    "wrong type for value; expected string; got {}",
                    other.kind()
                )),
            }
        };
        let int = |v: &Val| -> Result<i64, String> {
            match v {
                Val::Int(i) => Ok(*i),
                other => Err(format!(
                    "wrong type for value; expected int; got {}",
                    other.kind()
                )),
            }
        };
        if self.header {
            match name {
                "json" | "title" | "lower" | "upper" => {
                    want(1)?;
                    return Ok(args[0].clone());
                }
                "split" | "join" | "truncate" => {
                    want(2)?;
                    return Ok(args[0].clone());
                }
                _ => {}
            }
        }
        match name {
            "not" => {
                want(1)?;
                Ok(Val::Bool(!args[0].truth()))
            }
            "len" => {
                want(1)?;
                match &args[0] {
                    Val::Str(s) => Ok(Val::Int(s.len() as i64)),
                    Val::List(l) => Ok(Val::Int(l.len() as i64)),
                    Val::Map(m) => Ok(Val::Int(m.len() as i64)),
                    Val::NilSlice | Val::NilMap => Ok(Val::Int(0)),
                    other => Err(format!("error calling len: len of type {}", other.kind())),
                }
            }
            "index" => {
                if args.is_empty() {
                    return Err("wrong number of args for index: want at least 1 got 0".into());
                }
                let mut cur = args[0].clone();
                for key in &args[1..] {
                    cur = match (&cur, key) {
                        (Val::List(l), Val::Int(i)) => l
                            .get(*i as usize)
                            .cloned()
                            .ok_or_else(|| index_error(*i, l.len(), "slice"))?,
                        (Val::Map(m) | Val::Struct(m), Val::Str(k)) => m
                            .iter()
                            .find(|(n, _)| n == k)
                            .map(|(_, v)| v.clone().present())
                            .unwrap_or(Val::NoValue),
                        (Val::Str(s), Val::Int(i)) => Val::Int(
                            *s.as_bytes()
                                .get(*i as usize)
                                .ok_or_else(|| index_error(*i, s.len(), "string"))?
                                as i64,
                        ),
                        (Val::NilMap, _) => Val::NoValue,
                        (Val::NilSlice, Val::Int(i)) => return Err(index_error(*i, 0, "slice")),
                        (Val::Nil | Val::NoValue, _) => {
                            return Err("error calling index: index of untyped nil".into())
                        }
                        (c, _) => {
                            return Err(format!(
                                "error calling index: can't index item of type {}",
                                c.kind()
                            ))
                        }
                    };
                }
                Ok(cur)
            }
            "slice" => {
                let s = args.first().ok_or("wrong number of args for slice")?;
                let from = args.get(1).map(int).transpose()?.unwrap_or(0) as usize;
                match s {
                    Val::Str(st) => {
                        let to =
                            args.get(2).map(int).transpose()?.unwrap_or(st.len() as i64) as usize;
                        st.get(from..to)
                            .map(Val::str)
                            .ok_or_else(|| format!("error calling slice: index out of range: {to}"))
                    }
                    Val::List(l) => {
                        let to =
                            args.get(2).map(int).transpose()?.unwrap_or(l.len() as i64) as usize;
                        l.get(from..to)
                            .map(|x| Val::List(x.to_vec()))
                            .ok_or_else(|| format!("error calling slice: index out of range: {to}"))
                    }
                    other => Err(format!(
                        "error calling slice: can't slice item of type {}",
                        other.kind()
                    )),
                }
            }
            "print" => Ok(Val::Str(sprint(args))),
            "println" => {
                let parts: Vec<String> = args.iter().map(Val::print).collect();
                Ok(Val::Str(format!("{}\n", parts.join(" "))))
            }
            "printf" => {
                let f = string(args.first().ok_or("wrong number of args for printf")?)?;
                Ok(Val::Str(sprintf(&f, &args[1..])))
            }
            "eq" | "ne" | "lt" | "le" | "gt" | "ge" => compare(name, args),
            "html" => Ok(Val::Str(
                sprint(args)
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
                    .replace('"', "&#34;")
                    .replace('\'', "&#39;"),
            )),
            "js" => Ok(Val::Str(
                sprint(args)
                    .replace('\\', "\\\\")
                    .replace('\'', "\\'")
                    .replace('"', "\\\""),
            )),
            "urlquery" => Ok(Val::Str(
                crate::client::encode(&sprint(args)).replace("%20", "+"),
            )),
            "call" => Err("error calling call: functions cannot be called from here".into()),
            "json" => {
                want(1)?;
                // Docker's contexts marshal themselves with Go's default (HTML-escaping)
                // encoder; plain values go through an encoder with escaping off.
                Ok(Val::Str(match &args[0] {
                    Val::Object(_) => go_json_escaped(&args[0].to_json()),
                    other => go_json(&other.to_json()),
                }))
            }
            "split" => {
                want(2)?;
                let s = string(&args[0])?;
                let sep = string(&args[1])?;
                let parts: Vec<Val> = if sep.is_empty() {
                    s.chars().map(|c| Val::Str(c.to_string())).collect()
                } else {
                    s.split(sep.as_str()).map(Val::str).collect()
                };
                Ok(Val::List(parts))
            }
            "join" => {
                want(2)?;
                let sep = string(&args[1])?;
                match &args[0] {
                    Val::List(l) => {
                        let parts: Result<Vec<String>, String> = l.iter().map(string).collect();
                        Ok(Val::Str(parts?.join(&sep)))
                    }
                    Val::Nil => Ok(Val::str("")),
                    other => Err(format!(
                        "wrong type for value; expected []string; got {}",
                        other.kind()
                    )),
                }
            }
            "title" => {
                want(1)?;
                Ok(Val::Str(title(&string(&args[0])?)))
            }
            "lower" => {
                want(1)?;
                Ok(Val::Str(string(&args[0])?.to_lowercase()))
            }
            "upper" => {
                want(1)?;
                Ok(Val::Str(string(&args[0])?.to_uppercase()))
            }
            "pad" => {
                want(3)?;
                let s = string(&args[0])?;
                if s.is_empty() {
                    return Ok(Val::Str(s));
                }
                let (a, b) = (
                    int(&args[1])?.max(0) as usize,
                    int(&args[2])?.max(0) as usize,
                );
                Ok(Val::Str(format!("{}{s}{}", " ".repeat(a), " ".repeat(b))))
            }
            "truncate" => {
                want(2)?;
                let s = string(&args[0])?;
                let n = int(&args[1])?.max(0) as usize;
                if s.len() < n {
                    return Ok(Val::Str(s));
                }
                Ok(Val::Str(
                    String::from_utf8_lossy(&s.as_bytes()[..n]).into_owned(),
                ))
            }
            other => Err(format!("function \"{other}\" not defined")),
        }
    }
}

/// `strings.Title`: upper-cases the first letter of each word.
fn title(s: &str) -> String {
    let mut out = String::new();
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

/// `fmt.Sprint`: spaces between operands when neither side is a string.
fn sprint(args: &[Val]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Val::Str(_)) && !matches!(args[i - 1], Val::Str(_)) {
            out.push(' ');
        }
        out.push_str(&a.print());
    }
    out
}

/// The common subset of `fmt.Sprintf` verbs: `%s %v %d %q %t %x %%` with widths.
fn sprintf(f: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut it = f.chars().peekable();
    let mut n = 0;
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&d) = it.peek() {
            if d == '-' || d.is_ascii_digit() || d == '.' {
                flags.push(d);
                it.next();
            } else {
                break;
            }
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(n) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        n += 1;
        let text = match verb {
            'q' => format!("{:?}", arg.print()),
            'x' => match arg {
                Val::Int(i) => format!("{i:x}"),
                other => other.print().bytes().map(|b| format!("{b:02x}")).collect(),
            },
            _ => arg.print(),
        };
        let left = flags.starts_with('-');
        let width: usize = flags
            .trim_start_matches('-')
            .split('.')
            .next()
            .and_then(|w| w.parse().ok())
            .unwrap_or(0);
        let len = text.chars().count();
        if len < width {
            let pad = " ".repeat(width - len);
            if left {
                out.push_str(&text);
                out.push_str(&pad);
            } else {
                out.push_str(&pad);
                out.push_str(&text);
            }
        } else {
            out.push_str(&text);
        }
    }
    if n < args.len() {
        let extra: Vec<String> = args[n..]
            .iter()
            .map(|a| format!("{}={}", a.kind(), a.print()))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn compare(name: &str, args: &[Val]) -> Result<Val, String> {
    if args.len() < 2 {
        return Err(format!(
            "error calling {name}: missing argument for comparison"
        ));
    }
    let basic = |a: &Val, b: &Val| -> Result<std::cmp::Ordering, String> {
        use std::cmp::Ordering;
        match (a, b) {
            (Val::Str(x), Val::Str(y)) => Ok(x.cmp(y)),
            (Val::Int(x), Val::Int(y)) => Ok(x.cmp(y)),
            (Val::Float(x), Val::Float(y)) => Ok(x.partial_cmp(y).unwrap_or(Ordering::Equal)),
            (Val::Int(x), Val::Float(y)) => {
                Ok((*x as f64).partial_cmp(y).unwrap_or(Ordering::Equal))
            }
            (Val::Float(x), Val::Int(y)) => {
                Ok(x.partial_cmp(&(*y as f64)).unwrap_or(Ordering::Equal))
            }
            (Val::Bool(x), Val::Bool(y)) => Ok(x.cmp(y)),
            (Val::Nil | Val::NoValue, Val::Nil | Val::NoValue) => Ok(Ordering::Equal),
            _ => Err(format!(
                "error calling {name}: incompatible types for comparison"
            )),
        }
    };
    let eqv = |a: &Val, b: &Val| -> Result<bool, String> {
        match (a, b) {
            (Val::Nil, Val::Struct(_) | Val::Object(_) | Val::List(_) | Val::Map(_))
            | (Val::Struct(_) | Val::Object(_) | Val::List(_) | Val::Map(_), Val::Nil) => Ok(false),
            _ => basic(a, b).map(|o| o == std::cmp::Ordering::Equal),
        }
    };
    let r = match name {
        "eq" => {
            let mut any = false;
            for b in &args[1..] {
                if eqv(&args[0], b)? {
                    any = true;
                    break;
                }
            }
            any
        }
        "ne" => !eqv(&args[0], &args[1])?,
        "lt" => basic(&args[0], &args[1])?.is_lt(),
        "le" => basic(&args[0], &args[1])?.is_le(),
        "gt" => basic(&args[0], &args[1])?.is_gt(),
        _ => basic(&args[0], &args[1])?.is_ge(),
    };
    Ok(Val::Bool(r))
}

/// Go's `index` past the end: its bounds check lets an index equal to the length
/// through, and `reflect` then panics (the template reports the panic's text).
fn index_error(i: i64, len: usize, kind: &str) -> String {
    if i == len as i64 {
        format!("error calling index: reflect: {kind} index out of range")
    } else {
        format!("error calling index: index out of range: {i}")
    }
}
