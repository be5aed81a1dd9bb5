//! The command line: global options, the command table, and docker's (cobra and
//! pflag's) argument rules and error texts on top of clap.
//!
//! Global options are read by hand before the command name, as docker only accepts
//! them there; each command's own flags are parsed by a clap `Command` built from
//! its entry in the table, with help and version flags defined explicitly because
//! docker uses `-h` and `-v` for other things (`run -h` is `--hostname`).

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::Status;

/// Options given before the command name.
#[derive(Debug, Default, Clone)]
pub struct Globals {
    pub config: Option<String>,
    pub context: Option<String>,
    pub debug: bool,
    pub hosts: Vec<String>,
    pub log_level: Option<String>,
    pub tls: bool,
    pub tlsverify: bool,
    pub tlscacert: Option<String>,
    pub tlscert: Option<String>,
    pub tlskey: Option<String>,
    pub version: bool,
    pub help: bool,
}

pub const ROOT_USAGE: &str = "docker [OPTIONS] COMMAND [ARG...]";

fn flag_error(msg: String, usage: &str, path: &str) -> Status {
    Status::new(
        125,
        format!("{msg}\n\nUsage:  {usage}\n\nRun '{path} --help' for more information"),
    )
}

/// Splits off the global options; returns them and the index of the command name.
pub fn parse_globals(argv: &[String]) -> Result<(Globals, usize), Status> {
    let mut g = Globals::default();
    let mut i = 0;
    while i < argv.len() {
        let a = &argv[i];
        if a == "--" {
            i += 1;
            break;
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if a.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let long = match name.as_str() {
            "--config" => "config",
            "-c" | "--context" => "context",
            "-D" | "--debug" => "debug",
            "-H" | "--host" => "host",
            "-l" | "--log-level" => "log-level",
            "--tls" => "tls",
            "--tlsverify" => "tlsverify",
            "--tlscacert" => "tlscacert",
            "--tlscert" => "tlscert",
            "--tlskey" => "tlskey",
            "-v" | "--version" => "version",
            "-h" | "--help" => "help",
            n if n.starts_with("--") => {
                return Err(flag_error(
                    format!("unknown flag: {n}"),
                    ROOT_USAGE,
                    "docker",
                ));
            }
            n => {
                // `-Hunix:///x` and `-lwarn`: shorthand with attached value.
                let c = n.chars().nth(1).unwrap_or('?');
                if matches!(c, 'H' | 'l' | 'c') && n.len() > 2 {
                    let value = n[2..].trim_start_matches('=').to_string();
                    match c {
                        'H' => g.hosts.push(value),
                        'l' => g.log_level = Some(value),
                        _ => g.context = Some(value),
                    }
                    i += 1;
                    continue;
                }
                if n.len() > 2 && n[1..].chars().all(|c| matches!(c, 'D' | 'v' | 'h')) {
                    for c in n[1..].chars() {
                        match c {
                            'D' => g.debug = true,
                            'v' => g.version = true,
                            _ => g.help = true,
                        }
                    }
                    i += 1;
                    continue;
                }
                return Err(flag_error(
                    format!("unknown shorthand flag: '{c}' in {n}"),
                    ROOT_USAGE,
                    "docker",
                ));
            }
        };
        let takes_value = matches!(
            long,
            "config" | "context" | "host" | "log-level" | "tlscacert" | "tlscert" | "tlskey"
        );
        if takes_value {
            let value = match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    match argv.get(i) {
                        Some(v) => v.clone(),
                        None => {
                            let shown = if name.starts_with("--") {
                                name.clone()
                            } else {
                                format!("'{}' in {name}", &name[1..])
                            };
                            return Err(flag_error(
                                format!("flag needs an argument: {shown}"),
                                ROOT_USAGE,
                                "docker",
                            ));
                        }
                    }
                }
            };
            match long {
                "config" => g.config = Some(value),
                "context" => g.context = Some(value),
                "host" => g.hosts.push(value),
                "log-level" => g.log_level = Some(value),
                "tlscacert" => g.tlscacert = Some(value),
                "tlscert" => g.tlscert = Some(value),
                _ => g.tlskey = Some(value),
            }
        } else {
            let on = match inline.as_deref() {
                None => true,
                Some(v) => parse_bool(v).ok_or_else(|| {
                    flag_error(
                        format!("invalid argument \"{v}\" for \"{name}\" flag: strconv.ParseBool: parsing \"{v}\": invalid syntax"),
                        ROOT_USAGE,
                        "docker",
                    )
                })?,
            };
            match long {
                "debug" => g.debug = on,
                "tls" => g.tls = on,
                "tlsverify" => g.tlsverify = on,
                "version" => g.version = on,
                _ => g.help = on,
            }
        }
        i += 1;
    }
    Ok((g, i))
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// How many positional arguments a command takes (cobra's validators).
#[derive(Clone, Copy)]
pub enum Arity {
    None,
    Min(usize),
    Max(usize),
    Exact(usize),
    Range(usize, usize),
}

/// One command of the table.
pub struct Spec {
    /// Every path that reaches it; the first is the canonical one.
    pub names: &'static [&'static str],
    /// The rest of cobra's `Use` after the name (`[OPTIONS] CONTAINER [CONTAINER...]`).
    pub usage: &'static str,
    pub about: &'static str,
    pub arity: Arity,
    /// Whether flags may follow positionals (false for `run`, `exec`: everything after
    /// the image or container belongs to the command).
    pub interspersed: bool,
    pub flags: fn(Command) -> Command,
    pub run: fn(&crate::Ctx, &Parsed) -> anyhow::Result<i32>,
}

/// A command's parsed arguments.
pub struct Parsed {
    pub matches: ArgMatches,
    pub args: Vec<String>,
    /// `docker ps`, `docker container ls`: how the user called it.
    pub path: String,
    pub usage: String,
    /// `--help` was given: print the help (after this note) instead of running.
    pub help: Option<&'static str>,
    /// The shorthand of each flag that has one, to name flags as pflag does in errors.
    shorts: Vec<(String, char)>,
}

impl Parsed {
    pub fn flag(&self, name: &str) -> bool {
        self.value(name)
            .and_then(|v| parse_bool(&v))
            .unwrap_or(false)
    }
    pub fn value(&self, name: &str) -> Option<String> {
        // Commands sharing code ask for flags only some of them define.
        self.matches
            .try_get_one::<String>(name)
            .ok()
            .flatten()
            .cloned()
    }
    pub fn values(&self, name: &str) -> Vec<String> {
        self.matches
            .try_get_many::<String>(name)
            .ok()
            .flatten()
            .map(|v| v.cloned().collect())
            .unwrap_or_default()
    }
    /// pflag's name of a flag in its errors: `-m, --memory` or `--cpus`.
    pub fn shown(&self, name: &str) -> String {
        match self.shorts.iter().find(|(l, _)| l == name) {
            Some((_, s)) => format!("-{s}, --{name}"),
            None => format!("--{name}"),
        }
    }
    /// A value pflag refuses while parsing flags: its text, the usage, exit 125.
    pub fn invalid(&self, name: &str, value: &str, why: impl std::fmt::Display) -> Status {
        Status::new(
            125,
            format!(
                "invalid argument \"{value}\" for \"{}\" flag: {why}\n\nUsage:  {}\n\nRun '{} --help' for more information",
                self.shown(name),
                self.usage,
                self.path
            ),
        )
    }
    /// An `int`/`int64` flag (Go's `strconv.ParseInt` with base prefixes).
    pub fn int(&self, name: &str) -> Result<Option<i64>, Status> {
        let Some(v) = self.value(name) else {
            return Ok(None);
        };
        go_parse_int(&v).map(Some).map_err(|why| {
            self.invalid(
                name,
                &v,
                format!("strconv.ParseInt: parsing \"{v}\": {why}"),
            )
        })
    }
    /// A `uint`/`uint16` flag of `bits` bits.
    pub fn uint(&self, name: &str, bits: u32) -> Result<Option<u64>, Status> {
        let Some(v) = self.value(name) else {
            return Ok(None);
        };
        let parsed = match go_parse_int(&v) {
            Ok(_) if v.starts_with(['-', '+']) => Err("invalid syntax"),
            Ok(n) if bits < 64 && n >= 1 << bits => Err("value out of range"),
            Ok(n) => Ok(n as u64),
            Err(why) => Err(why),
        };
        parsed.map(Some).map_err(|why| {
            self.invalid(
                name,
                &v,
                format!("strconv.ParseUint: parsing \"{v}\": {why}"),
            )
        })
    }
    /// A `bytes` flag (`opts.MemBytes`: `512m`, `1g`).
    pub fn bytes(&self, name: &str) -> Result<Option<i64>, Status> {
        let Some(v) = self.value(name) else {
            return Ok(None);
        };
        crate::format::units::ram_in_bytes(&v)
            .map(Some)
            .ok_or_else(|| self.invalid(name, &v, format!("invalid size: '{v}'")))
    }
    /// A `duration` flag (Go's `time.ParseDuration`), in nanoseconds.
    pub fn duration(&self, name: &str) -> Result<Option<i64>, Status> {
        let Some(v) = self.value(name) else {
            return Ok(None);
        };
        crate::format::units::parse_go_duration(&v)
            .map(Some)
            .ok_or_else(|| self.invalid(name, &v, format!("time: invalid duration \"{v}\"")))
    }
    pub fn given(&self, name: &str) -> bool {
        self.matches.try_contains_id(name).unwrap_or(false)
            && self.matches.value_source(name) == Some(clap::parser::ValueSource::CommandLine)
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: an optional sign, then `0x`, `0o`, `0b` or a
/// leading `0` (octal) for the base; the error is Go's reason.
fn go_parse_int(s: &str) -> Result<i64, &'static str> {
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(b) = lower.strip_prefix("0x") {
        (16, b.to_string())
    } else if let Some(b) = lower.strip_prefix("0o") {
        (8, b.to_string())
    } else if let Some(b) = lower.strip_prefix("0b") {
        (2, b.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string())
    } else {
        (10, lower.clone())
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return Err("invalid syntax");
    }
    let n = i128::from_str_radix(&body, radix).map_err(|_| "value out of range")?;
    let n = if neg { -n } else { n };
    i64::try_from(n).map_err(|_| "value out of range")
}

/// A boolean flag; accepts `--flag`, `--flag=false` and clustered shorthands.
pub fn bool_flag(
    cmd: Command,
    long: &'static str,
    short: Option<char>,
    help: &'static str,
) -> Command {
    cmd.arg(typed_arg(FlagKind::Bool, long, short, help))
}

/// A flag taking one value (the last one given wins, as in pflag).
pub fn value_flag(
    cmd: Command,
    long: &'static str,
    short: Option<char>,
    help: &'static str,
) -> Command {
    cmd.arg(typed_arg(FlagKind::Value, long, short, help))
}

/// A repeatable flag.
pub fn list_flag(
    cmd: Command,
    long: &'static str,
    short: Option<char>,
    help: &'static str,
) -> Command {
    cmd.arg(typed_arg(FlagKind::List, long, short, help))
}

/// How pflag takes a flag's values.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum FlagKind {
    Bool,
    /// One value; the last one given wins.
    Value,
    /// Repeatable; every value is kept.
    List,
}

impl FlagKind {
    /// From pflag's value name as `--help` shows it (`list`, `bytes`, empty for booleans).
    pub fn of(value_name: &str) -> FlagKind {
        match value_name {
            "" => FlagKind::Bool,
            "list" | "map" | "filter" | "strings" | "stringArray" | "stringToString" | "ulimit"
            | "mount" | "network" | "gpu-request" | "pref" => FlagKind::List,
            _ => FlagKind::Value,
        }
    }
}

fn typed_arg(
    kind: FlagKind,
    long: impl Into<String>,
    short: Option<char>,
    help: impl Into<String>,
) -> Arg {
    let long = long.into();
    let a = Arg::new(long.clone()).long(long.clone()).help(help.into());
    let mut a = match kind {
        FlagKind::Bool => a
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true")
            .action(ArgAction::Set),
        FlagKind::Value => a
            .num_args(1)
            .allow_hyphen_values(true)
            .action(ArgAction::Set)
            .overrides_with(long),
        FlagKind::List => a
            .num_args(1)
            .allow_hyphen_values(true)
            .action(ArgAction::Append),
    };
    if let Some(s) = short {
        a = a.short(s);
    }
    a
}

/// Defines every flag `docker <command> --help` lists that `cmd` does not define yet:
/// the help data is the one list of a command's flags, so none can be shown and
/// then refused.
pub fn flags_from_help(mut cmd: Command, command: &str) -> Command {
    let Some(help) = crate::help::lookup(command) else {
        return cmd;
    };
    for f in help.flags {
        if f.long == "help" || cmd.get_arguments().any(|a| a.get_id() == f.long.as_str()) {
            continue;
        }
        cmd = cmd.arg(typed_arg(FlagKind::of(&f.value), f.long, f.short, f.usage));
    }
    cmd
}

/// What cobra prints (on stdout) when `-h` asks for help.
pub const SHORT_HELP_NOTE: &str = "Flag shorthand -h has been deprecated, use --help\n";

/// Whether the command has a flag of its own on `-h` (`run -h` is `--hostname`).
fn spec_uses_h(spec: &Spec) -> bool {
    (spec.flags)(Command::new("x"))
        .get_arguments()
        .any(|a| a.get_short() == Some('h'))
}

/// The clap command of a table entry (also used for completions and man pages).
pub fn clap_command(spec: &Spec, name: &str) -> Command {
    let mut cmd = Command::new(name.to_string())
        .about(spec.about)
        .override_usage(format!("docker {name} {}", spec.usage))
        .disable_help_flag(true)
        .disable_version_flag(true)
        .disable_help_subcommand(true)
        .dont_delimit_trailing_values(true);
    cmd = (spec.flags)(cmd);
    let has_h = cmd.get_arguments().any(|a| a.get_short() == Some('h'));
    // A boolean like pflag's: `--help=false` is allowed and means no help.
    let help = Arg::new("help")
        .long("help")
        .help("Print usage")
        .num_args(0..=1)
        .require_equals(true)
        .default_missing_value("true")
        .action(ArgAction::Set);
    cmd = cmd.arg(if has_h { help } else { help.short('h') });
    let mut pos = Arg::new("ARGS").num_args(0..).action(ArgAction::Append);
    if !spec.interspersed {
        pos = pos.trailing_var_arg(true);
    }
    cmd.arg(pos)
}

/// Parses `args` (after the command name) for `spec` called as `path`.
pub fn parse_command(spec: &Spec, path: &str, args: &[String]) -> Result<Parsed, Status> {
    let usage = format!("docker {path} {}", spec.usage)
        .trim_end()
        .to_string();
    let full_path = format!("docker {path}");
    let cmd = clap_command(spec, path);
    let shorts: Vec<(String, char)> = cmd
        .get_arguments()
        .filter_map(|a| Some((a.get_long()?.to_string(), a.get_short()?)))
        .collect();
    let matches = match cmd
        .try_get_matches_from(std::iter::once(path.to_string()).chain(args.iter().cloned()))
    {
        Ok(m) => m,
        Err(e) => return Err(flag_error(clap_error_text(&e, args), &usage, &full_path)),
    };
    if matches
        .get_one::<String>("help")
        .is_some_and(|v| v == "true")
    {
        // `-h` still works where no other flag took it, with cobra's deprecation note.
        let short_h = !spec_uses_h(spec)
            && args
                .iter()
                .take_while(|a| a.as_str() != "--")
                .any(|a| a == "-h");
        return Ok(Parsed {
            matches,
            args: Vec::new(),
            path: full_path,
            usage,
            help: Some(if short_h { SHORT_HELP_NOTE } else { "" }),
            shorts,
        });
    }
    let positional: Vec<String> = matches
        .get_many::<String>("ARGS")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    let n = positional.len();
    let plural = |k: usize| if k == 1 { "argument" } else { "arguments" };
    let bad = match spec.arity {
        Arity::None if n > 0 => Some(format!(
            "docker: '{full_path}' accepts no arguments\n\nUsage:  {usage}\n\nRun '{full_path} --help' for more information"
        )),
        Arity::Min(k) if n < k => Some(format!(
            "docker: '{full_path}' requires at least {k} {}\n\nUsage:  {usage}\n\nSee '{full_path} --help' for more information",
            plural(k)
        )),
        // "SRun" is CLI 28.2's own typo in its at-most validator, kept byte for byte.
        Arity::Max(k) if n > k => Some(format!(
            "docker: '{full_path}' requires at most {k} {}\n\nUsage:  {usage}\n\nSRun '{full_path} --help' for more information",
            plural(k)
        )),
        Arity::Exact(k) if n != k => Some(format!(
            "docker: '{full_path}' requires {k} {}\n\nUsage:  {usage}\n\nRun '{full_path} --help' for more information",
            plural(k)
        )),
        Arity::Range(a, b) if n < a || n > b => Some(format!(
            "docker: '{full_path}' requires at least {a} and at most {b} {}\n\nUsage:  {usage}\n\nRun '{full_path} --help' for more information",
            plural(b)
        )),
        _ => None,
    };
    if let Some(msg) = bad {
        return Err(Status::new(1, msg));
    }
    Ok(Parsed {
        matches,
        args: positional,
        path: full_path,
        usage,
        help: None,
        shorts,
    })
}

/// pflag's wording for what clap reports.
fn clap_error_text(e: &clap::Error, args: &[String]) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let invalid = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    let flag = invalid.split([' ', '=']).next().unwrap_or("").to_string();
    // The token as the user typed it, for shorthand messages (`-az`).
    let typed = |short: &str| -> String {
        let c = short.trim_start_matches('-');
        args.iter()
            .find(|a| a.starts_with('-') && !a.starts_with("--") && a[1..].contains(c))
            .cloned()
            .unwrap_or_else(|| short.to_string())
    };
    match e.kind() {
        ErrorKind::UnknownArgument => {
            if flag.starts_with("--") {
                format!("unknown flag: {flag}")
            } else {
                let c = flag.trim_start_matches('-').chars().next().unwrap_or('?');
                format!("unknown shorthand flag: '{c}' in {}", typed(&flag))
            }
        }
        ErrorKind::InvalidValue | ErrorKind::NoEquals | ErrorKind::WrongNumberOfValues => {
            let value = match e.get(ContextKind::InvalidValue) {
                Some(ContextValue::String(s)) => s.clone(),
                _ => String::new(),
            };
            // Which form was typed: `-e` or `--env`.
            let long = flag
                .split(", ")
                .find(|f| f.starts_with("--"))
                .unwrap_or(&flag)
                .to_string();
            let short = invalid
                .split(['<', ' ', ','])
                .find(|f| f.starts_with('-') && !f.starts_with("--"))
                .map(str::to_string);
            if value.is_empty() {
                if let Some(last) = args
                    .last()
                    .filter(|a| a.starts_with('-') && !a.starts_with("--"))
                {
                    let c = last.chars().last().unwrap_or('?');
                    return format!("flag needs an argument: '{c}' in {last}");
                }
                if let Some(s) = short {
                    if args
                        .last()
                        .is_some_and(|a| a.starts_with(&s) && !a.starts_with("--"))
                    {
                        let c = s.trim_start_matches('-');
                        return format!("flag needs an argument: '{c}' in {}", typed(&s));
                    }
                }
                format!("flag needs an argument: {long}")
            } else {
                format!("invalid argument \"{value}\" for \"{long}\" flag: strconv.ParseBool: parsing \"{value}\": invalid syntax")
            }
        }
        _ => e
            .to_string()
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches("error: ")
            .to_string(),
    }
}
