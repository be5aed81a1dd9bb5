//! `docker`: the Docker command line, for people whose fingers know the real one.
//!
//! `main` reads the global options, finds the command in the table
//! (`commands::TABLE`), parses its flags, connects lazily to the daemon and maps
//! every failure to docker's message and exit code.

mod client;
mod cmdline;
mod commands;
mod config;
mod format;
mod help;
mod log;
mod streams;
mod template;
mod tls;
mod transport;

use std::io::Write;
use std::process::ExitCode;

use client::Client;
use transport::Host;

/// A failure with the exit code and text docker uses for it. An empty message
/// prints nothing (the command already reported).
#[derive(Debug)]
pub struct Status {
    pub code: i32,
    pub msg: String,
    /// Help text goes to stdout with exit 0.
    pub to_stdout: bool,
}

impl Status {
    pub fn new(code: i32, msg: impl Into<String>) -> Status {
        Status {
            code,
            msg: msg.into(),
            to_stdout: false,
        }
    }
    pub fn help(text: String) -> Status {
        Status {
            code: 0,
            msg: text,
            to_stdout: true,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Status {}

/// What every command gets: the client and the options that shape output.
pub struct Ctx {
    pub client: Client,
    pub globals: cmdline::Globals,
    pub config: config::Config,
}

fn main() -> ExitCode {
    // Like the real CLI (and unlike Rust's default), die quietly on a closed pipe
    // (`docker ps | head -1`) instead of panicking in println!.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let code = match run(&argv) {
        Ok(code) => code,
        Err(e) => report(&e),
    };
    let _ = std::io::stdout().flush();
    ExitCode::from(code.clamp(0, 255) as u8)
}

fn report(e: &anyhow::Error) -> i32 {
    if let Some(s) = e.downcast_ref::<Status>() {
        if s.to_stdout {
            print!("{}", s.msg);
        } else if !s.msg.is_empty() {
            eprintln!("{}", s.msg);
        }
        return s.code;
    }
    eprintln!("{e}");
    1
}

fn run(argv: &[String]) -> anyhow::Result<i32> {
    let (globals, at) = cmdline::parse_globals(argv)?;
    if let Some(level) = &globals.log_level {
        // Checked before anything else runs (even --help), as the real CLI does.
        if log::parse_level(level).is_none() {
            return Err(Status::new(1, format!("Unable to parse logging level: {level}")).into());
        }
    }
    log::init(globals.debug, globals.log_level.as_deref());
    if globals.version {
        println!("{}", buildinfo::docker_version_line());
        return Ok(0);
    }
    let rest = &argv[at..];
    if globals.help {
        let short = argv[..at].iter().any(|a| a == "-h");
        // `docker --help ps` is the help of ps.
        match commands::help_topic(rest) {
            Ok(text) => {
                if short {
                    print!("{}", cmdline::SHORT_HELP_NOTE);
                }
                print!("{text}");
            }
            Err(_) => {
                // cobra's note for the root command goes to stderr.
                if short {
                    eprint!("{}", cmdline::SHORT_HELP_NOTE);
                }
                print!("{}", commands::root_help(daemon_experimental(&globals)));
            }
        }
        return Ok(0);
    }
    if rest.is_empty() {
        // Bare `docker`: the usage goes to stderr, and that is not an error.
        eprint!("{}", commands::root_help(daemon_experimental(&globals)));
        return Ok(0);
    }
    if rest[0] == "help" {
        let text = if rest.len() == 1 {
            commands::root_help(daemon_experimental(&globals))
        } else {
            commands::help_topic(&rest[1..])?
        };
        print!("{text}");
        return Ok(0);
    }
    // The real CLI warns about its legacy builder for every build command.
    if rest[0] == "builder" {
        commands::build::warn_legacy();
    }
    let (spec, path, consumed) = commands::lookup(rest)?;
    if spec.names[0] == "build" && rest[0] != "builder" {
        commands::build::warn_legacy();
    }
    let parsed = cmdline::parse_command(spec, &path, &rest[consumed..])?;
    let ctx = connect(globals)?;
    if let Some(note) = parsed.help {
        // The help hides what the daemon's API cannot do, so it asks the daemon.
        let api = ctx.client.api_version().ok();
        print!(
            "{note}{}",
            help::command(spec, &path, help::columns(), api.as_deref())
        );
        return Ok(0);
    }
    help::check_gates(spec, &parsed, &ctx.client)?;
    (spec.run)(&ctx, &parsed)
}

/// The client for the daemon the options, environment and configuration name.
fn connect(globals: cmdline::Globals) -> anyhow::Result<Ctx> {
    let config = config::Config::load(globals.config.as_deref());
    let mut host = resolve_host(&globals, &config)?;
    if let Host::Tcp(addr, tls) = &mut host {
        *tls = tls::options(
            globals.tls,
            globals.tlsverify,
            globals.tlscacert.as_deref(),
            globals.tlscert.as_deref(),
            globals.tlskey.as_deref(),
            &config.dir,
        );
        if let Some(t) = tls.as_ref() {
            t.check_files().map_err(|e| Status::new(1, e))?;
        }
        // TLS daemons listen on 2376 when the address names no port.
        if tls.is_some() && addr.ends_with(":2375") && !explicit_port(&globals) {
            addr.truncate(addr.len() - ":2375".len());
            addr.push_str(":2376");
        }
    }
    let pinned = std::env::var("DOCKER_API_VERSION")
        .ok()
        .filter(|v| !v.is_empty());
    Ok(Ctx {
        client: Client::new(host, pinned),
        globals,
        config,
    })
}

/// For the root help, which hides experimental commands from a daemon that has
/// none: whether the daemon runs experimental features, None when none answered.
fn daemon_experimental(globals: &cmdline::Globals) -> Option<bool> {
    let ctx = connect(globals.clone()).ok()?;
    ctx.client.api_version().ok()?;
    Some(ctx.client.experimental())
}

/// `-H` > `DOCKER_HOST` > `--context`/`DOCKER_CONTEXT`/config's current context >
/// the default socket, as the real CLI decides.
fn resolve_host(g: &cmdline::Globals, config: &config::Config) -> anyhow::Result<Host> {
    if g.hosts.len() > 1 {
        return Err(Status::new(1, "Specify only one -H").into());
    }
    if let Some(h) = g.hosts.first() {
        if g.context.is_some() {
            return Err(Status::new(
                1,
                "conflicting options: cannot specify both --host and --context",
            )
            .into());
        }
        return Ok(Host::parse(h)?);
    }
    let context = g.context.clone().or_else(|| {
        std::env::var("DOCKER_CONTEXT")
            .ok()
            .filter(|c| !c.is_empty())
    });
    if context.is_none() {
        if let Ok(h) = std::env::var("DOCKER_HOST") {
            if !h.is_empty() {
                return Ok(Host::parse(&h)?);
            }
        }
    }
    let context = context.or_else(|| config.current_context());
    match context.as_deref() {
        None | Some("default") => Ok(Host::parse(transport::DEFAULT_HOST)?),
        Some(name) => Ok(Host::parse(&config.context_host(name)?)?),
    }
}

/// Whether the host the user gave (`-H` or `DOCKER_HOST`) spells out a port.
fn explicit_port(g: &cmdline::Globals) -> bool {
    let given = g
        .hosts
        .first()
        .cloned()
        .or_else(|| std::env::var("DOCKER_HOST").ok())
        .unwrap_or_default();
    let rest = given.split("://").last().unwrap_or("");
    rest.rsplit_once(':')
        .is_some_and(|(_, p)| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}
