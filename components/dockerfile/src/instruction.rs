//! The instructions of the classic builder, typed and checked as docker checks them
//! at parse time (argument counts, flags, JSON forms, stage names, HEALTHCHECK
//! options). Values keep their quotes and `$` references: substitution happens when
//! the build reaches them ([`crate::eval`]), with the variables in scope there.

use std::time::Duration;

use serde::Serialize;

use crate::error::ParseError;
use crate::parser::{parse_words, take_flags, RawInstruction};

/// Shell form (run through the image's shell) or exec form (a JSON array).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum CommandLine {
    Shell(String),
    Exec(Vec<String>),
}

/// `ADD` and `COPY` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyArgs {
    pub sources: Vec<String>,
    pub dest: String,
    /// `--from` (COPY only): a stage name or index, or an image.
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    /// Whether the arguments were a JSON array (no substitution on whitespace).
    pub json: bool,
}

/// `HEALTHCHECK` options; `None` for `HEALTHCHECK NONE`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthcheckArgs {
    /// `["CMD", args...]` or `["CMD-SHELL", cmd]`; `["NONE"]` disables.
    pub test: Vec<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
    pub retries: Option<i64>,
}

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    From {
        image: String,
        name: Option<String>,
        platform: Option<String>,
    },
    Run(CommandLine),
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    User(String),
    Expose(Vec<String>),
    /// `(name, value)` pairs, unprocessed.
    Env(Vec<(String, String)>),
    /// `(name, default)` pairs, unprocessed.
    Arg(Vec<(String, Option<String>)>),
    Label(Vec<(String, String)>),
    Add(CopyArgs),
    Copy(CopyArgs),
    Volume(Vec<String>),
    Workdir(String),
    /// The trigger instruction, checked, and its text as stored in the image.
    Onbuild(Box<Instruction>),
    Maintainer(String),
    StopSignal(String),
    Healthcheck(HealthcheckArgs),
    Shell(Vec<String>),
}

/// An instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub line: usize,
    pub end_line: usize,
    /// The logical line as written (continuations joined).
    pub original: String,
    pub command: Command,
}

impl Instruction {
    /// The upper-case keyword (`RUN`).
    pub fn keyword(&self) -> &'static str {
        keyword_of(&self.command)
    }
}

fn keyword_of(c: &Command) -> &'static str {
    match c {
        Command::From { .. } => "FROM",
        Command::Run(_) => "RUN",
        Command::Cmd(_) => "CMD",
        Command::Entrypoint(_) => "ENTRYPOINT",
        Command::User(_) => "USER",
        Command::Expose(_) => "EXPOSE",
        Command::Env(_) => "ENV",
        Command::Arg(_) => "ARG",
        Command::Label(_) => "LABEL",
        Command::Add(_) => "ADD",
        Command::Copy(_) => "COPY",
        Command::Volume(_) => "VOLUME",
        Command::Workdir(_) => "WORKDIR",
        Command::Onbuild(_) => "ONBUILD",
        Command::Maintainer(_) => "MAINTAINER",
        Command::StopSignal(_) => "STOPSIGNAL",
        Command::Healthcheck(_) => "HEALTHCHECK",
        Command::Shell(_) => "SHELL",
    }
}

const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "ENTRYPOINT",
    "USER",
    "EXPOSE",
    "ENV",
    "ARG",
    "LABEL",
    "ADD",
    "COPY",
    "VOLUME",
    "WORKDIR",
    "ONBUILD",
    "MAINTAINER",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

/// Check and type one raw instruction.
pub(crate) fn parse(raw: &RawInstruction, escape: char) -> Result<Instruction, ParseError> {
    let kw = raw.keyword.to_ascii_uppercase();
    let err = |m: String| ParseError::at(raw.line, m);
    if !KEYWORDS.contains(&kw.as_str()) {
        return Err(err(format!("unknown instruction: {kw}")));
    }
    let (flags, rest) = take_flags(&raw.rest);
    let allowed: &[&str] = match kw.as_str() {
        "FROM" => &["platform"],
        "COPY" => &["from", "chown", "chmod", "link"],
        "ADD" => &["chown", "chmod", "link", "checksum", "keep-git-dir"],
        "HEALTHCHECK" => &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
        "RUN" => &[],
        _ => &[],
    };
    // Flags only exist where docker defines them; elsewhere `--x` is an argument.
    let (flags, rest) = if matches!(kw.as_str(), "FROM" | "COPY" | "ADD" | "HEALTHCHECK" | "RUN") {
        (flags, rest)
    } else {
        (Vec::new(), raw.rest.as_str())
    };
    for (name, value) in &flags {
        if kw == "RUN" && matches!(name.as_str(), "mount" | "network" | "security") {
            return Err(err(format!(
                "the --{name} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"
            )));
        }
        if !allowed.contains(&name.as_str()) {
            return Err(err(format!("Unknown flag: {name}")));
        }
        if value.is_none() && name != "link" && name != "keep-git-dir" {
            return Err(err(format!("Missing a value on flag: {name}")));
        }
    }
    let flag = |n: &str| {
        flags
            .iter()
            .rev()
            .find(|(k, _)| k == n)
            .and_then(|(_, v)| v.clone())
    };
    let has_flag = |n: &str| flags.iter().any(|(k, _)| k == n);
    let at_least_one = || {
        if rest.trim().is_empty() {
            Err(err(format!("{kw} requires at least one argument")))
        } else {
            Ok(())
        }
    };
    let exactly_one = || {
        if rest.trim().is_empty() {
            Err(err(format!("{kw} requires exactly one argument")))
        } else {
            Ok(rest.trim().to_string())
        }
    };
    let command = match kw.as_str() {
        "FROM" => {
            at_least_one()?;
            let words: Vec<&str> = rest.split_whitespace().collect();
            let name = match words.as_slice() {
                [_] => None,
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => {
                    let n = name.to_ascii_lowercase();
                    if !valid_stage_name(&n) {
                        return Err(err(format!(
                            "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                        )));
                    }
                    Some(n)
                }
                _ => return Err(err("FROM requires either one or three arguments".into())),
            };
            Command::From {
                image: words[0].to_string(),
                name,
                platform: flag("platform"),
            }
        }
        "RUN" => {
            reject_heredoc(rest, &kw, raw.line)?;
            Command::Run(command_line(rest))
        }
        "CMD" => Command::Cmd(command_line(rest)),
        "ENTRYPOINT" => Command::Entrypoint(command_line(rest)),
        "USER" => Command::User(exactly_one()?),
        "WORKDIR" => Command::Workdir(exactly_one()?),
        "MAINTAINER" => Command::Maintainer(exactly_one()?),
        "STOPSIGNAL" => Command::StopSignal(exactly_one()?),
        "EXPOSE" => {
            at_least_one()?;
            Command::Expose(rest.split_whitespace().map(str::to_string).collect())
        }
        "VOLUME" => {
            at_least_one()?;
            let v = json_array(rest)
                .unwrap_or_else(|| rest.split_whitespace().map(str::to_string).collect());
            if v.iter().any(|p| p.trim().is_empty()) {
                return Err(err("VOLUME specified can not be an empty string".into()));
            }
            Command::Volume(v)
        }
        "ENV" | "LABEL" => {
            at_least_one()?;
            let pairs = name_values(rest, &kw, escape).map_err(err)?;
            if kw == "ENV" && pairs.iter().any(|(k, _)| k.is_empty()) {
                return Err(err("ENV names can not be blank".into()));
            }
            if kw == "ENV" {
                Command::Env(pairs)
            } else {
                Command::Label(pairs)
            }
        }
        "ARG" => {
            at_least_one()?;
            let mut args = Vec::new();
            for w in parse_words(rest, escape) {
                match w.split_once('=') {
                    Some((k, v)) => args.push((k.to_string(), Some(v.to_string()))),
                    None => args.push((w, None)),
                }
            }
            Command::Arg(args)
        }
        "ADD" | "COPY" => {
            reject_heredoc(rest, &kw, raw.line)?;
            let (mut paths, json) = match json_array(rest) {
                Some(v) => (v, true),
                None => (rest.split_whitespace().map(str::to_string).collect(), false),
            };
            if paths.len() < 2 {
                return Err(err(format!(
                    "{kw} requires at least two arguments, but only one was provided. Destination could not be determined"
                )));
            }
            let dest = paths.pop().expect("two or more");
            let args = CopyArgs {
                sources: paths,
                dest,
                from: flag("from"),
                chown: flag("chown"),
                chmod: flag("chmod"),
                link: has_flag("link"),
                json,
            };
            if kw == "ADD" {
                Command::Add(args)
            } else {
                Command::Copy(args)
            }
        }
        "ONBUILD" => {
            at_least_one()?;
            let inner_kw = rest
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            match inner_kw.as_str() {
                "ONBUILD" => {
                    return Err(err(
                        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()
                    ))
                }
                "FROM" | "MAINTAINER" => {
                    return Err(err(format!(
                        "{inner_kw} isn't allowed as an ONBUILD trigger"
                    )))
                }
                _ => {}
            }
            let trimmed = rest.trim();
            let (k, r) = match trimmed.find(char::is_whitespace) {
                Some(p) => (&trimmed[..p], trimmed[p..].trim_start()),
                None => (trimmed, ""),
            };
            let inner = RawInstruction {
                line: raw.line,
                end_line: raw.end_line,
                keyword: k.to_string(),
                rest: r.to_string(),
                original: trimmed.to_string(),
            };
            Command::Onbuild(Box::new(parse(&inner, escape)?))
        }
        "HEALTHCHECK" => Command::Healthcheck(healthcheck(rest, &flag, raw.line)?),
        "SHELL" => {
            at_least_one()?;
            match json_array(rest) {
                Some(v) if !v.is_empty() => Command::Shell(v),
                _ => return Err(err("SHELL requires the arguments to be in JSON form".into())),
            }
        }
        _ => unreachable!("keyword checked above"),
    };
    Ok(Instruction {
        line: raw.line,
        end_line: raw.end_line,
        original: raw.original.clone(),
        command,
    })
}

fn valid_stage_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// JSON exec form when the text is a JSON array of strings, else shell form.
fn command_line(rest: &str) -> CommandLine {
    match json_array(rest) {
        Some(v) => CommandLine::Exec(v),
        None => CommandLine::Shell(rest.to_string()),
    }
}

/// A JSON array of strings, or None (then the text is taken as shell form).
fn json_array(rest: &str) -> Option<Vec<String>> {
    let t = rest.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

/// Heredocs (`<<EOF`) are a BuildKit feature; the classic builder refuses them here
/// rather than run a command whose body it would drop.
fn reject_heredoc(rest: &str, kw: &str, line: usize) -> Result<(), ParseError> {
    for w in rest.split_whitespace() {
        if let Some(tag) = w.strip_prefix("<<") {
            let tag = tag
                .trim_start_matches('-')
                .trim_matches(|c| c == '"' || c == '\'');
            if !tag.is_empty() && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(ParseError::at(
                    line,
                    format!(
                        "{kw}: heredocs are not supported by the classic builder, use BuildKit"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// `ENV`/`LABEL`: `key value` (legacy, one pair) or `k1=v1 k2=v2`.
fn name_values(rest: &str, kw: &str, escape: char) -> Result<Vec<(String, String)>, String> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Err(format!("{kw} requires at least one argument"));
    };
    if !first.contains('=') {
        let t = rest.trim();
        let Some(p) = t.find(char::is_whitespace) else {
            return Err(format!("{kw} must have two arguments"));
        };
        return Ok(vec![(t[..p].to_string(), t[p..].trim_start().to_string())]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            )),
        })
        .collect()
}

fn healthcheck(
    rest: &str,
    flag: &dyn Fn(&str) -> Option<String>,
    line: usize,
) -> Result<HealthcheckArgs, ParseError> {
    let err = |m: String| ParseError::at(line, m);
    let t = rest.trim();
    let (typ, cmd) = match t.find(char::is_whitespace) {
        Some(p) => (&t[..p], t[p..].trim_start()),
        None => (t, ""),
    };
    let typ_upper = typ.to_ascii_uppercase();
    if typ_upper == "NONE" {
        if !cmd.is_empty() {
            return Err(err("HEALTHCHECK NONE takes no arguments".into()));
        }
        return Ok(HealthcheckArgs {
            test: vec!["NONE".into()],
            ..Default::default()
        });
    }
    if typ_upper != "CMD" {
        return Err(err(format!(
            "Unknown type {typ_upper:?} in HEALTHCHECK (try CMD)"
        )));
    }
    let test = match command_line(cmd) {
        CommandLine::Exec(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
        CommandLine::Shell(s) => vec!["CMD-SHELL".into(), s],
    };
    let duration = |name: &str, what: &str| -> Result<Option<Duration>, ParseError> {
        let Some(v) = flag(name) else { return Ok(None) };
        let d = go_duration(&v).ok_or_else(|| err(format!("time: invalid duration {v:?}")))?;
        if !d.is_zero() && d < Duration::from_millis(1) {
            return Err(err(format!("{what} {name:?} cannot be less than 1ms")));
        }
        Ok(Some(d))
    };
    let retries = match flag("retries") {
        None => None,
        Some(v) => {
            let n: i64 = v
                .parse()
                .map_err(|_| err(format!("strconv.ParseInt: parsing {v:?}: invalid syntax")))?;
            if n < 0 {
                return Err(err(format!("--retries cannot be negative ({n})")));
            }
            Some(n)
        }
    };
    Ok(HealthcheckArgs {
        test,
        interval: duration("interval", "Interval")?,
        timeout: duration("timeout", "Timeout")?,
        start_period: duration("start-period", "StartPeriod")?,
        start_interval: duration("start-interval", "StartInterval")?,
        retries,
    })
}

/// Go's `time.ParseDuration` for the units HEALTHCHECK takes (`1h2m3.5s`, `300ms`).
pub(crate) fn go_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_end);
        let n: f64 = num.parse().ok()?;
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * scale;
        rest = next;
    }
    Some(Duration::from_secs_f64(total))
}
