//! Lexing and parsing of Go `text/template` source into a tree.
//!
//! Covers what docker users write: text and actions with `{{-`/`-}}` trimming,
//! comments, pipelines, variables (`$x :=`, `$x =`), field chains on dots,
//! variables and parenthesised pipelines, string/raw/char/number/bool/nil literals,
//! and `if`/`else if`/`range`/`with`/`else`/`end`/`break`/`continue`. Errors use
//! Go's wording (`template: :1: unclosed action`).

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// `.A.B`; an empty path is the dot itself.
    Field(Vec<String>),
    /// `$x.A.B`; `$` alone is the root data.
    Var(String, Vec<String>),
    /// A function name.
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    /// `(pipeline).A.B`
    Sub(Box<Pipe>, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub args: Vec<(Operand, usize)>,
    pub pos: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pipe {
    pub decl: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Command>,
    pub pos: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(String),
    Action(Pipe),
    If(Pipe, Vec<Node>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
    With(Pipe, Vec<Node>, Vec<Node>),
    Break,
    Continue,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Ident(String),
    Str(String),
    Num(String),
    Char(char),
    LParen,
    RParen,
    /// `.A.B` right after `)`: continues the chain of the parenthesised pipeline.
    Chain(Vec<String>),
    Pipe,
    Declare,
    Assign,
    Comma,
}

struct Action {
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

enum Item {
    Text(String),
    Action(Action),
}

pub type ParseError = String;

fn line_of(src: &str, pos: usize) -> usize {
    1 + src[..pos.min(src.len())].matches('\n').count()
}

fn err(src: &str, pos: usize, msg: impl std::fmt::Display) -> ParseError {
    format!("template: :{}: {msg}", line_of(src, pos))
}

fn scan(src: &str) -> Result<Vec<Item>, ParseError> {
    let mut items = Vec::new();
    let mut rest = 0usize;
    let bytes = src.as_bytes();
    loop {
        let Some(open) = src[rest..].find("{{").map(|i| i + rest) else {
            if rest < src.len() {
                items.push(Item::Text(src[rest..].to_string()));
            }
            break;
        };
        let mut text = src[rest..open].to_string();
        let mut start = open + 2;
        if src[start..].starts_with("- ")
            || src[start..].starts_with("-\t")
            || src[start..].starts_with("-\n")
            || src[start..].starts_with("-\r")
        {
            text = text.trim_end().to_string();
            start += 1;
        }
        if !text.is_empty() {
            items.push(Item::Text(text));
        }
        // Comments.
        let trimmed_start = src[start..].trim_start();
        if trimmed_start.starts_with("/*") {
            let cstart = src.len() - trimmed_start.len();
            let Some(cend) = src[cstart..].find("*/").map(|i| i + cstart + 2) else {
                return Err(err(src, open, "unclosed comment"));
            };
            let after = src[cend..].trim_start_matches([' ', '\t', '\n', '\r']);
            let (close, trim) = if src[cend..].starts_with("}}") {
                (cend, false)
            } else if after.starts_with("-}}") {
                (src.len() - after.len(), true)
            } else {
                return Err(err(src, open, "comment ends before closing delimiter"));
            };
            rest = if trim { close + 3 } else { close + 2 };
            if trim {
                rest = skip_space(src, rest);
            }
            continue;
        }
        let (toks, end, trim) = lex_action(src, start)?;
        items.push(Item::Action(Action { toks, pos: start }));
        rest = end;
        if trim {
            rest = skip_space(src, rest);
        }
        let _ = bytes;
    }
    Ok(items)
}

fn skip_space(src: &str, mut i: usize) -> usize {
    let b = src.as_bytes();
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Lexes one action starting after `{{` (and its trim marker); returns the tokens,
/// the offset after `}}` and whether `-}}` asked to trim what follows.
#[allow(clippy::type_complexity)]
fn lex_action(src: &str, mut i: usize) -> Result<(Vec<(Tok, usize)>, usize, bool), ParseError> {
    let b = src.as_bytes();
    let mut toks: Vec<(Tok, usize)> = Vec::new();
    let mut depth = 0;
    loop {
        if i >= b.len() {
            return Err(err(src, i, "unclosed action"));
        }
        let c = b[i];
        if c == b'\n' && depth == 0 {
            return Err(err(src, i, "unclosed action"));
        }
        if c.is_ascii_whitespace() {
            let j = skip_space(src, i);
            if src[j..].starts_with("-}}") {
                return Ok((toks, j + 3, true));
            }
            i = j;
            continue;
        }
        if src[i..].starts_with("}}") {
            if depth > 0 {
                return Err(err(src, i, "unclosed left paren"));
            }
            return Ok((toks, i + 2, false));
        }
        let start = i;
        match c {
            b'.' => {
                let after_paren = matches!(toks.last(), Some((Tok::RParen, p)) if *p + 1 == start);
                let mut path = Vec::new();
                if i + 1 < b.len() && is_ident(b[i + 1]) && !b[i + 1].is_ascii_digit() {
                    while i < b.len() && b[i] == b'.' && i + 1 < b.len() && is_ident(b[i + 1]) {
                        let s = i + 1;
                        i = s;
                        while i < b.len() && is_ident(b[i]) {
                            i += 1;
                        }
                        path.push(src[s..i].to_string());
                    }
                } else if i + 1 < b.len() && b[i + 1].is_ascii_digit() {
                    let (num, end) = lex_number(src, i);
                    toks.push((Tok::Num(num), start));
                    i = end;
                    continue;
                } else {
                    i += 1;
                }
                if after_paren && !path.is_empty() {
                    toks.push((Tok::Chain(path), start));
                } else {
                    toks.push((Tok::Field(path), start));
                }
            }
            b'$' => {
                i += 1;
                while i < b.len() && is_ident(b[i]) {
                    i += 1;
                }
                let name = src[start..i].to_string();
                let mut path = Vec::new();
                while i < b.len() && b[i] == b'.' && i + 1 < b.len() && is_ident(b[i + 1]) {
                    let s = i + 1;
                    i = s;
                    while i < b.len() && is_ident(b[i]) {
                        i += 1;
                    }
                    path.push(src[s..i].to_string());
                }
                toks.push((Tok::Var(name, path), start));
            }
            b'"' => {
                i += 1;
                let mut s = String::new();
                loop {
                    if i >= b.len() || b[i] == b'\n' {
                        return Err(err(src, start, "unterminated quoted string"));
                    }
                    let ch = src[i..].chars().next().unwrap_or('"');
                    if ch == '"' {
                        i += 1;
                        break;
                    }
                    if ch == '\\' {
                        let e = src[i + 1..].chars().next().unwrap_or(' ');
                        i += 1 + e.len_utf8();
                        s.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            '\\' => '\\',
                            '"' => '"',
                            '\'' => '\'',
                            '0' => '\0',
                            other => other,
                        });
                        continue;
                    }
                    s.push(ch);
                    i += ch.len_utf8();
                }
                toks.push((Tok::Str(s), start));
            }
            b'`' => {
                let Some(end) = src[i + 1..].find('`') else {
                    return Err(err(src, start, "unterminated raw quoted string"));
                };
                toks.push((Tok::Str(src[i + 1..i + 1 + end].to_string()), start));
                i = i + 2 + end;
            }
            b'\'' => {
                let ch = src[i + 1..].chars().next().unwrap_or('\'');
                let (ch, len) = if ch == '\\' {
                    let e = src[i + 2..].chars().next().unwrap_or(' ');
                    (
                        match e {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        },
                        1 + e.len_utf8(),
                    )
                } else {
                    (ch, ch.len_utf8())
                };
                if !src[i + 1 + len..].starts_with('\'') {
                    return Err(err(src, start, "unterminated character constant"));
                }
                toks.push((Tok::Char(ch), start));
                i += len + 2;
            }
            b'(' => {
                depth += 1;
                toks.push((Tok::LParen, start));
                i += 1;
            }
            b')' => {
                if depth == 0 {
                    return Err(err(src, start, "unexpected right paren U+0029 ')'"));
                }
                depth -= 1;
                toks.push((Tok::RParen, start));
                i += 1;
            }
            b'|' => {
                toks.push((Tok::Pipe, start));
                i += 1;
            }
            b',' => {
                toks.push((Tok::Comma, start));
                i += 1;
            }
            b':' if src[i..].starts_with(":=") => {
                toks.push((Tok::Declare, start));
                i += 2;
            }
            b'=' => {
                toks.push((Tok::Assign, start));
                i += 1;
            }
            b'-' | b'+' | b'0'..=b'9' => {
                let (num, end) = lex_number(src, i);
                if num == "-" || num == "+" {
                    return Err(err(
                        src,
                        start,
                        format!("bad character U+002D '{}'", c as char),
                    ));
                }
                toks.push((Tok::Num(num), start));
                i = end;
            }
            c if is_ident(c) => {
                while i < b.len() && is_ident(b[i]) {
                    i += 1;
                }
                toks.push((Tok::Ident(src[start..i].to_string()), start));
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(err(
                    src,
                    start,
                    format!(
                        "unexpected bad character U+{:04X} '{ch}' in command",
                        ch as u32
                    ),
                ));
            }
        }
    }
}

fn lex_number(src: &str, mut i: usize) -> (String, usize) {
    let b = src.as_bytes();
    let start = i;
    if b[i] == b'-' || b[i] == b'+' {
        i += 1;
    }
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
        if (b[i] == b'e' || b[i] == b'E')
            && i + 1 < b.len()
            && (b[i + 1] == b'-' || b[i + 1] == b'+')
        {
            i += 1;
        }
        i += 1;
    }
    (src[start..i].to_string(), i)
}

struct Parser<'a> {
    src: &'a str,
    items: Vec<Item>,
    at: usize,
}

/// Parses a template into its node list.
pub fn parse(src: &str) -> Result<Vec<Node>, ParseError> {
    let items = scan(src)?;
    let mut p = Parser { src, items, at: 0 };
    let (nodes, end) = p.list(0)?;
    match end {
        None => Ok(nodes),
        Some((kw, pos)) => Err(err(src, pos, format!("unexpected {{{{{kw}}}}}"))),
    }
}

impl Parser<'_> {
    /// Parses nodes until `{{end}}` / `{{else}}` or the end; returns which stopped it.
    #[allow(clippy::type_complexity)]
    fn list(&mut self, depth: usize) -> Result<(Vec<Node>, Option<(String, usize)>), ParseError> {
        let mut nodes = Vec::new();
        while self.at < self.items.len() {
            let idx = self.at;
            self.at += 1;
            let action = match &self.items[idx] {
                Item::Text(t) => {
                    nodes.push(Node::Text(t.clone()));
                    continue;
                }
                Item::Action(a) => Action {
                    toks: a.toks.clone(),
                    pos: a.pos,
                },
            };
            let first = action.toks.first().cloned();
            match first {
                None => return Err(err(self.src, action.pos, "missing value for command")),
                Some((Tok::Ident(kw), pos)) => match kw.as_str() {
                    "end" => {
                        if action.toks.len() > 1 {
                            return Err(err(self.src, pos, "unexpected token in end"));
                        }
                        return Ok((nodes, Some(("end".into(), pos))));
                    }
                    "else" => {
                        return Ok((nodes, Some(("else".into(), pos))));
                    }
                    "if" | "range" | "with" => {
                        nodes.push(self.control(&kw, &action.toks[1..], pos, depth)?);
                    }
                    "break" | "continue" => {
                        nodes.push(if kw == "break" {
                            Node::Break
                        } else {
                            Node::Continue
                        });
                    }
                    "define" | "template" | "block" => {
                        return Err(err(self.src, pos, format!("{kw} is not supported here")));
                    }
                    _ => nodes.push(Node::Action(self.pipe(&action.toks, action.pos, true)?)),
                },
                Some(_) => nodes.push(Node::Action(self.pipe(&action.toks, action.pos, true)?)),
            }
        }
        Ok((nodes, None))
    }

    fn control(
        &mut self,
        kw: &str,
        toks: &[(Tok, usize)],
        pos: usize,
        depth: usize,
    ) -> Result<Node, ParseError> {
        let pipe = self.pipe(toks, pos, kw != "if")?;
        if pipe.cmds.is_empty() {
            return Err(err(self.src, pos, format!("missing value for {kw}")));
        }
        let (body, end) = self.list(depth + 1)?;
        let mut else_body = Vec::new();
        match end {
            None => return Err(err(self.src, self.src.len(), "unexpected EOF")),
            Some((e, _)) if e == "end" => {}
            Some(_) => {
                // `{{else}}` or `{{else if ...}}` / `{{else with ...}}`.
                let Item::Action(a) = &self.items[self.at - 1] else {
                    unreachable!("else comes from an action")
                };
                let rest: Vec<(Tok, usize)> = a.toks[1..].to_vec();
                if let Some((Tok::Ident(k2), p2)) = rest.first().cloned() {
                    if (k2 == "if" && kw == "if") || (k2 == "with" && kw == "with") {
                        // The chained form shares the outer `{{end}}`.
                        else_body.push(self.control(&k2, &rest[1..], p2, depth)?);
                        return Ok(match kw {
                            "if" => Node::If(pipe, body, else_body),
                            _ => Node::With(pipe, body, else_body),
                        });
                    }
                }
                let (eb, end2) = self.list(depth + 1)?;
                else_body = eb;
                match end2 {
                    Some((e, _)) if e == "end" => {}
                    Some((_, p)) => return Err(err(self.src, p, "expected end; found {{else}}")),
                    None => return Err(err(self.src, self.src.len(), "unexpected EOF")),
                }
            }
        }
        Ok(match kw {
            "if" => Node::If(pipe, body, else_body),
            "range" => Node::Range(pipe, body, else_body),
            _ => Node::With(pipe, body, else_body),
        })
    }

    fn pipe(
        &self,
        toks: &[(Tok, usize)],
        pos: usize,
        allow_decl: bool,
    ) -> Result<Pipe, ParseError> {
        let mut i = 0;
        let mut decl = Vec::new();
        let mut assign = false;
        // `$x :=`, `$i, $v :=`, `$x =`
        let mut j = 0;
        let mut names = Vec::new();
        while let Some((Tok::Var(name, path), _)) = toks.get(j) {
            if !path.is_empty() {
                break;
            }
            names.push(name.clone());
            match toks.get(j + 1) {
                Some((Tok::Comma, _)) => j += 2,
                Some((Tok::Declare, _)) => {
                    decl = names.clone();
                    i = j + 2;
                    break;
                }
                Some((Tok::Assign, _)) => {
                    decl = names.clone();
                    assign = true;
                    i = j + 2;
                    break;
                }
                _ => break,
            }
        }
        if !decl.is_empty() && !allow_decl && decl.len() > 1 {
            return Err(err(self.src, pos, "too many declarations"));
        }
        let mut cmds = Vec::new();
        let rest = &toks[i..];
        let mut k = 0;
        while k < rest.len() {
            let (cmd, next) = self.command(rest, k)?;
            cmds.push(cmd);
            k = next;
            if k < rest.len() {
                match &rest[k].0 {
                    Tok::Pipe => {
                        k += 1;
                        if k >= rest.len() {
                            return Err(err(self.src, pos, "missing command"));
                        }
                    }
                    Tok::RParen => break,
                    _ => return Err(err(self.src, rest[k].1, "unexpected token in operand")),
                }
            }
        }
        if cmds.is_empty() && !decl.is_empty() {
            return Err(err(self.src, pos, "missing value for command"));
        }
        Ok(Pipe {
            decl,
            assign,
            cmds,
            pos: toks.get(i).map(|t| t.1).unwrap_or(pos),
        })
    }

    /// One command: operands up to `|`, `)` or the end.
    fn command(&self, toks: &[(Tok, usize)], mut k: usize) -> Result<(Command, usize), ParseError> {
        let pos = toks[k].1;
        let mut args = Vec::new();
        while k < toks.len() {
            let (tok, p) = &toks[k];
            let op = match tok {
                Tok::Pipe | Tok::RParen => break,
                Tok::Field(path) => Operand::Field(path.clone()),
                Tok::Var(n, path) => Operand::Var(n.clone(), path.clone()),
                Tok::Str(s) => Operand::Str(s.clone()),
                Tok::Char(c) => Operand::Int(*c as i64),
                Tok::Num(n) => parse_number(n)
                    .ok_or_else(|| err(self.src, *p, format!("bad number syntax: \"{n}\"")))?,
                Tok::Ident(id) => match id.as_str() {
                    "true" => Operand::Bool(true),
                    "false" => Operand::Bool(false),
                    "nil" => Operand::Nil,
                    "if" | "range" | "with" | "end" | "else" | "define" | "template" | "block"
                    | "break" | "continue" => {
                        return Err(err(self.src, *p, format!("unexpected <{id}> in command")));
                    }
                    _ => {
                        if !super::exec::is_function(id) {
                            return Err(err(
                                self.src,
                                *p,
                                format!("function \"{id}\" not defined"),
                            ));
                        }
                        Operand::Ident(id.clone())
                    }
                },
                Tok::LParen => {
                    let inner = self.pipe(&toks[k + 1..], *p, false)?;
                    // find the matching paren
                    let mut depth = 0;
                    let mut m = k;
                    while m < toks.len() {
                        match toks[m].0 {
                            Tok::LParen => depth += 1,
                            Tok::RParen => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        m += 1;
                    }
                    k = m;
                    let mut chain = Vec::new();
                    if let Some((Tok::Chain(path), _)) = toks.get(k + 1) {
                        chain = path.clone();
                        k += 1;
                    }
                    Operand::Sub(Box::new(inner), chain)
                }
                Tok::Chain(_) | Tok::Declare | Tok::Assign | Tok::Comma => {
                    return Err(err(self.src, *p, "unexpected token in operand"));
                }
            };
            args.push((op, *p));
            k += 1;
        }
        if args.is_empty() {
            return Err(err(self.src, pos, "missing value for command"));
        }
        Ok((Command { args, pos }, k))
    }
}

fn parse_number(n: &str) -> Option<Operand> {
    let clean = n.replace('_', "");
    if let Some(hex) = clean.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok().map(Operand::Int);
    }
    if let Ok(i) = clean.parse::<i64>() {
        return Some(Operand::Int(i));
    }
    clean.parse::<f64>().ok().map(Operand::Float)
}
