//! `--help` as the real CLI prints it: cobra's usage template with docker's sections
//! (Usage, description, Aliases, Options, Commands) and pflag's flag table, aligned
//! and wrapped to the terminal width (80 columns when stdin is not a terminal).
//!
//! What each command shows (its long description, the Aliases line and the flags with
//! their value names and usage texts) is the real CLI's contract and lives as data in
//! `commands.txt`; this module only lays it out, the way pflag and cobra do.

use crate::cmdline::Spec;

const DATA: &str = include_str!("commands.txt");

/// One row of a flag table.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagHelp {
    pub short: Option<char>,
    pub long: String,
    /// pflag's value name (`string`, `list`, `bytes`); empty for booleans.
    pub value: String,
    pub usage: String,
    pub gate: Gate,
}

/// When the real CLI shows a flag: it hides those the daemon's API cannot serve.
#[derive(Debug, Clone, PartialEq)]
pub enum Gate {
    Always,
    /// From this API version on.
    MinApi(String),
    /// Only for a daemon on this OS (shown when no daemon answered; ours are Linux).
    OsType(String),
    /// Only for an experimental daemon (shown when no daemon answered).
    Experimental,
}

impl Gate {
    fn shown(&self, api: Option<&str>) -> bool {
        match (self, api) {
            (_, None) | (Gate::Always, _) => true,
            (Gate::MinApi(min), Some(v)) => !crate::client::version_less(v, min),
            (Gate::OsType(_) | Gate::Experimental, Some(_)) => false,
        }
    }
}

/// Help facts of one command.
#[derive(Debug, Default)]
pub struct CommandHelp {
    pub long: String,
    pub aliases: Option<String>,
    pub flags: Vec<FlagHelp>,
}

/// The facts of the command whose first name is `name`, if the data has it.
pub fn lookup(name: &str) -> Option<CommandHelp> {
    let header = format!("[{name}]");
    let mut lines = DATA.lines().skip_while(|l| *l != header);
    lines.next()?;
    let mut help = CommandHelp::default();
    for line in lines.take_while(|l| !l.is_empty()) {
        if let Some(v) = line.strip_prefix("long=") {
            help.long = unescape(v);
        } else if let Some(v) = line.strip_prefix("aliases=") {
            help.aliases = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("flag=") {
            let mut parts = v.splitn(4, '|');
            let (short, long, value, usage) = (
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
            );
            let (long, gate) = match long.split_once('@') {
                None => (long, Gate::Always),
                Some((l, "experimental")) => (l, Gate::Experimental),
                Some((l, "windows")) => (l, Gate::OsType("windows".into())),
                Some((l, v)) => (l, Gate::MinApi(v.to_string())),
            };
            help.flags.push(FlagHelp {
                short: short.chars().next(),
                long: long.to_string(),
                value: value.to_string(),
                usage: expand(usage),
                gate,
            });
        }
    }
    Some(help)
}

/// `@name` refers to a usage text defined once (`def name=...`).
fn expand(usage: &str) -> String {
    let Some(name) = usage.strip_prefix('@') else {
        return unescape(usage);
    };
    let def = format!("def {name}=");
    DATA.lines()
        .find_map(|l| l.strip_prefix(def.as_str()))
        .map(unescape)
        .unwrap_or_default()
}

fn unescape(s: &str) -> String {
    s.replace("\\n", "\n")
}

/// The real CLI's check before a command runs: a flag given on the line that the
/// daemon cannot serve (too old an API, another OS, not experimental) is an error
/// naming it, one line per flag. The daemon is asked only when such a flag is given.
pub fn check_gates(
    spec: &Spec,
    parsed: &crate::cmdline::Parsed,
    client: &crate::client::Client,
) -> Result<(), crate::Status> {
    let Some(help) = lookup(spec.names[0]) else {
        return Ok(());
    };
    let mut errors = Vec::new();
    for f in help.flags.iter().filter(|f| f.gate != Gate::Always) {
        if !parsed.given(&f.long) {
            continue;
        }
        let Ok(api) = client.api_version() else {
            return Ok(());
        };
        match &f.gate {
            Gate::MinApi(min) if crate::client::version_less(&api, min) => errors.push(format!(
                "\"--{}\" requires API version {min}, but the Docker daemon API version is {api}",
                f.long
            )),
            Gate::OsType(os) => {
                let daemon_os = client.os_type().unwrap_or_default();
                if daemon_os != *os {
                    errors.push(format!("\"--{}\" is only supported on a Docker daemon running on {os}, but the Docker daemon is running on {daemon_os}", f.long));
                }
            }
            Gate::Experimental if !client.experimental() => errors.push(format!(
                "\"--{}\" is only supported on a Docker daemon with experimental features enabled",
                f.long
            )),
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(crate::Status::new(1, errors.join("\n")))
    }
}

/// The width flag tables wrap to: the terminal's on stdin, else 80 (as docker does),
/// minus one.
pub fn columns() -> usize {
    // SAFETY: TIOCGWINSZ fills a winsize struct we own; fd 0 may be anything.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let width = if unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } == 0 {
        usize::from(ws.ws_col)
    } else {
        80
    };
    width.saturating_sub(1)
}

/// `docker <path> --help` for a command of the table. `api` is the API version in
/// use when a daemon answered (flags it cannot serve are hidden), None when none did.
pub fn command(spec: &Spec, path: &str, cols: usize, api: Option<&str>) -> String {
    let help = lookup(spec.names[0]).unwrap_or_default();
    let description = if help.long.is_empty() {
        spec.about
    } else {
        help.long.as_str()
    };
    // cobra names a command by its own name, not the alias it was called by.
    let shown_path = match path.split_once(' ') {
        Some((group, _)) => spec
            .names
            .iter()
            .find(|n| n.split_once(' ').is_some_and(|(g, _)| g == group))
            .copied()
            .unwrap_or(path),
        None => path,
    };
    let mut out = format!(
        "Usage:  {}\n\n{}",
        format!("docker {shown_path} {}", spec.usage).trim_end(),
        description.trim()
    );
    if let Some(aliases) = &help.aliases {
        out.push_str(&format!("\n\nAliases:\n  {aliases}"));
    }
    let flags: Vec<FlagHelp> = help
        .flags
        .into_iter()
        .filter(|f| f.gate.shown(api))
        .collect();
    if !flags.is_empty() {
        out.push_str("\n\nOptions:\n");
        out.push_str(flag_usages(&flags, cols).trim_end());
    }
    out.push('\n');
    out
}

/// A management command's help (`docker container --help`): its commands, one line each.
pub fn group(path: &str, about: &str, commands: &[(String, String)]) -> String {
    let mut out = format!("Usage:  docker {path} COMMAND\n\n{about}\n\nCommands:");
    let pad = name_padding(commands.iter().map(|(n, _)| n.as_str()));
    for (name, short) in commands {
        out.push_str(&format!("\n  {name:<pad$} {short}"));
    }
    out.push_str(&format!(
        "\n\nRun 'docker {path} COMMAND --help' for more information on a command.\n"
    ));
    out
}

/// cobra's name column: the longest sibling name, at least 11.
pub fn name_padding<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    names.map(str::len).max().unwrap_or(0).max(11)
}

/// pflag's `FlagUsagesWrapped`: the name column padded to the longest entry, usage
/// texts wrapped into the remaining width.
pub fn flag_usages(flags: &[FlagHelp], cols: usize) -> String {
    let lefts: Vec<String> = flags
        .iter()
        .map(|f| {
            let mut left = match f.short {
                Some(s) => format!("  -{s}, --{}", f.long),
                None => format!("      --{}", f.long),
            };
            if !f.value.is_empty() {
                left.push(' ');
                left.push_str(&f.value);
            }
            left
        })
        .collect();
    // pflag counts a marker byte after the name column in its maximum.
    let maxlen = lefts.iter().map(|l| l.len() + 1).max().unwrap_or(0);
    let mut out = String::new();
    for (left, f) in lefts.iter().zip(flags) {
        let spacing = " ".repeat(maxlen - left.len());
        out.push_str(&format!(
            "{left} {spacing} {}\n",
            wrap(maxlen + 2, cols, &f.usage)
        ));
    }
    out
}

/// pflag's `wrap`: `s` wrapped to width `w` with every line after the first indented
/// by `i`; a usage column narrower than 24 starts on its own line at column 16.
fn wrap(i: usize, w: usize, s: &str) -> String {
    let indent = |n: usize| format!("\n{}", " ".repeat(n));
    if w == 0 {
        return s.replace('\n', &indent(i));
    }
    let mut i = i;
    let mut width = w.saturating_sub(i);
    let mut out = String::new();
    if width < 24 {
        i = 16;
        width = w.saturating_sub(i);
        out.push_str(&indent(i));
    }
    if width < 24 {
        return s.replace('\n', &out);
    }
    // Lines may run this far over to avoid a short orphan word on the last line.
    let slop = 5;
    let width = width - slop;
    let (first, mut rest) = wrap_n(width, slop, s);
    out.push_str(&first.replace('\n', &indent(i)));
    while !rest.is_empty() {
        let (line, more) = wrap_n(width, slop, rest);
        out.push_str(&indent(i));
        out.push_str(&line.replace('\n', &indent(i)));
        rest = more;
    }
    out
}

/// pflag's `wrapN`: the first line of `s` (up to `i` bytes, at whitespace or an
/// earlier newline) and the rest.
fn wrap_n(i: usize, slop: usize, s: &str) -> (&str, &str) {
    if i + slop > s.len() || !s.is_char_boundary(i) {
        return (s, "");
    }
    let head = &s[..i];
    let Some(w) = head.rfind([' ', '\t', '\n']).filter(|w| *w > 0) else {
        return (s, "");
    };
    if let Some(nl) = head.rfind('\n').filter(|nl| *nl > 0 && *nl < w) {
        return (&s[..nl], &s[nl + 1..]);
    }
    (&s[..w], &s[w + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(short: Option<char>, long: &str, value: &str, usage: &str) -> FlagHelp {
        FlagHelp {
            short,
            long: long.into(),
            value: value.into(),
            usage: usage.into(),
            gate: Gate::Always,
        }
    }

    #[test]
    fn columns_align_on_the_longest_name_and_usage_wraps() {
        let flags = [
            flag(Some('a'), "all", "", "Show all containers (default shows just running)"),
            flag(
                None,
                "format",
                "string",
                "Format output using a custom template:\n'table':            Print output in table format with column headers (default)",
            ),
        ];
        assert_eq!(
            flag_usages(&flags, 79),
            "  -a, --all             Show all containers (default shows just running)\n      \
             --format string   Format output using a custom template:\n                        \
             'table':            Print output in table format\n                        \
             with column headers (default)\n"
        );
    }

    #[test]
    fn narrow_usage_columns_start_on_a_line_of_their_own() {
        let flags = [flag(
            None,
            "a-very-long-flag-name-indeed",
            "string",
            "Some words here",
        )];
        let out = flag_usages(&flags, 50);
        assert!(
            out.starts_with("      --a-very-long-flag-name-indeed string   \n                Some"),
            "{out:?}"
        );
    }

    #[test]
    fn flags_newer_than_the_api_in_use_are_hidden() {
        let gate = |g: &str| {
            lookup("save")
                .unwrap()
                .flags
                .iter()
                .find(|f| f.long == g)
                .unwrap()
                .gate
                .clone()
        };
        assert_eq!(gate("platform"), Gate::MinApi("1.48".into()));
        assert!(gate("platform").shown(None));
        assert!(!gate("platform").shown(Some("1.41")));
        assert!(gate("platform").shown(Some("1.50")));
        assert!(!Gate::Experimental.shown(Some("1.41")));
    }

    #[test]
    fn every_flag_we_parse_is_in_the_help_tables() {
        // Flags the real CLI accepts but hides from its help.
        const HIDDEN: &[(&str, &str)] = &[
            ("run", "net"),
            ("create", "net"),
            ("run", "net-alias"),
            ("create", "net-alias"),
            ("run", "dns-opt"),
            ("create", "dns-opt"),
            ("volume create", "name"),
        ];
        let mut missing = Vec::new();
        for spec in crate::commands::TABLE {
            let name = spec.names[0];
            if name.starts_with("__") || name == "completion" {
                continue;
            }
            let help = lookup(name).unwrap_or_else(|| panic!("no help for {name}"));
            let cmd = crate::cmdline::clap_command(spec, name);
            for arg in cmd.get_arguments() {
                let Some(long) = arg.get_long() else { continue };
                if long == "help" || HIDDEN.contains(&(name, long)) {
                    continue;
                }
                match help.flags.iter().find(|f| f.long == long) {
                    Some(f) if f.short == arg.get_short() => {}
                    _ => missing.push(format!("{name} --{long}")),
                }
            }
        }
        assert!(
            missing.is_empty(),
            "flags missing from help/commands.txt or with another shorthand: {missing:?}"
        );
    }

    /// Reads the flags back from the `--help` text we print and gives each to the
    /// parser: none may be listed and then refused.
    #[test]
    fn every_flag_in_our_help_is_accepted() {
        let mut refused = Vec::new();
        for spec in crate::commands::TABLE {
            let name = spec.names[0];
            let text = command(spec, name, 200, None);
            let options = text.split("\nOptions:\n").nth(1).unwrap_or("");
            // The positionals the command requires, so only flags can fail.
            let needed = match spec.arity {
                crate::cmdline::Arity::Min(k)
                | crate::cmdline::Arity::Exact(k)
                | crate::cmdline::Arity::Range(k, _) => k,
                _ => 0,
            };
            for line in options.lines() {
                let words: Vec<&str> = line.split_whitespace().collect();
                let (short, rest) = match words.first() {
                    Some(w) if w.starts_with("--") => (None, &words[..]),
                    Some(w) if w.starts_with('-') => (Some(w.trim_end_matches(',')), &words[1..]),
                    _ => continue,
                };
                let Some(long) = rest.first().filter(|w| w.starts_with("--")) else {
                    continue;
                };
                // A value name follows the flag after one space (the usage after two).
                let after = line.split_once(*long).map(|(_, a)| a).unwrap_or("");
                let takes_value =
                    after.starts_with(' ') && !after[1..].starts_with(' ') && after.len() > 1;
                let mut forms = vec![long.to_string()];
                forms.extend(short.map(str::to_string));
                for form in forms {
                    let mut args = vec![form.clone()];
                    if takes_value {
                        args.push("1".into());
                    }
                    args.extend((0..needed).map(|i| format!("arg{i}")));
                    match crate::cmdline::parse_command(spec, name, &args) {
                        Ok(p) if *long == "--help" || p.value(&long[2..]).is_some() => {}
                        Ok(_) => refused.push(format!("{name} {args:?}: parsed but not stored")),
                        Err(e) => refused.push(format!(
                            "{name} {args:?}: {}",
                            e.msg.lines().next().unwrap_or("")
                        )),
                    }
                }
            }
        }
        assert!(
            refused.is_empty(),
            "flags our help lists but the parser refuses: {refused:#?}"
        );
    }

    #[test]
    fn every_usage_reference_is_defined() {
        for line in DATA.lines().filter(|l| l.starts_with("flag=")) {
            if let Some(name) = line.rsplit('|').next().and_then(|u| u.strip_prefix('@')) {
                assert!(
                    DATA.contains(&format!("def {name}=")),
                    "{line}: @{name} is not defined"
                );
            }
        }
    }
}
