//! The command table and what commands share (listing output, error joining).
//!
//! Each entry names every path that reaches the command (`ps`, `container ls`,
//! `container ps`, `container list`), its usage line, argument count, flags and
//! the function that runs it. One module per group of commands.

mod auth;
pub mod build;
mod container;
mod context;
mod cp;
mod create_opts;
mod image;
mod inspect;
mod monitor;
mod resources;
mod run;
mod search;
mod system;
mod typed;

use clap::Command;

use crate::cmdline::{flags_from_help, value_flag, Arity, Spec};
use crate::format::Format;
use crate::template::Val;
use crate::Status;

/// Management commands we implement: `docker container ...` etc.
const GROUPS: &[(&str, &str)] = &[
    ("builder", "Manage builds"),
    ("container", "Manage containers"),
    ("context", "Manage contexts"),
    ("image", "Manage images"),
    ("network", "Manage networks"),
    ("system", "Manage Docker"),
    ("volume", "Manage volumes"),
];

/// The real CLI's commands this one does not implement: swarm mode, plugins, content
/// trust, manifest lists and checkpoints. `docker --help` lists them as the real CLI
/// does (people know that list, and scripts read it), and running one says plainly
/// that it is not supported instead of calling it an unknown command.
const UNSUPPORTED: &[(&str, &str, Section)] = &[
    ("checkpoint", "Manage checkpoints", Section::Experimental),
    (
        "manifest",
        "Manage Docker image manifests and manifest lists",
        Section::Management,
    ),
    ("plugin", "Manage plugins", Section::Management),
    (
        "trust",
        "Manage trust on Docker images",
        Section::Management,
    ),
    ("config", "Manage Swarm configs", Section::Swarm),
    ("node", "Manage Swarm nodes", Section::Swarm),
    ("secret", "Manage Swarm secrets", Section::Swarm),
    ("service", "Manage Swarm services", Section::Swarm),
    ("stack", "Manage Swarm stacks", Section::Swarm),
    ("swarm", "Manage Swarm", Section::Swarm),
];

/// Where the root help lists an unsupported group.
#[derive(Clone, Copy, PartialEq)]
enum Section {
    Management,
    /// A management command shown only when the daemon runs experimental features
    /// (or no daemon answered), as the real CLI does.
    Experimental,
    Swarm,
}

fn not_supported(group: &str) -> Status {
    Status::new(
        1,
        format!("docker: 'docker {group}' is not supported by this docker CLI"),
    )
}

fn no_flags(c: Command) -> Command {
    c
}

fn format_flag(c: Command) -> Command {
    value_flag(
        c,
        "format",
        Some('f'),
        "Format output using a custom template",
    )
}

#[rustfmt::skip]
pub static TABLE: &[Spec] = &[
    Spec { names: &["version"], usage: "[OPTIONS]", about: "Show the Docker version information", arity: Arity::None, interspersed: true, flags: format_flag, run: system::version, },
    Spec { names: &["info", "system info"], usage: "[OPTIONS]", about: "Display system-wide information", arity: Arity::None, interspersed: true, flags: format_flag, run: system::info, },
    Spec { names: &["ps", "container ls", "container ps", "container list"], usage: "[OPTIONS]", about: "List containers", arity: Arity::None, interspersed: true, flags: container::ps_flags, run: container::ps, },
    Spec { names: &["images", "image ls", "image list"], usage: "[OPTIONS] [REPOSITORY[:TAG]]", about: "List images", arity: Arity::Max(1), interspersed: true, flags: image::images_flags, run: image::images, },
    Spec { names: &["inspect"], usage: "[OPTIONS] NAME|ID [NAME|ID...]", about: "Return low-level information on Docker objects", arity: Arity::Min(1), interspersed: true, flags: inspect::flags, run: inspect::inspect, },
    Spec { names: &["container inspect"], usage: "[OPTIONS] CONTAINER [CONTAINER...]", about: "Display detailed information on one or more containers", arity: Arity::Min(1), interspersed: true, flags: inspect::container_flags, run: inspect::container, },
    Spec { names: &["image inspect"], usage: "[OPTIONS] IMAGE [IMAGE...]", about: "Display detailed information on one or more images", arity: Arity::Min(1), interspersed: true, flags: |c| flags_from_help(c, "image inspect"), run: inspect::image, },
    Spec { names: &["volume inspect"], usage: "[OPTIONS] VOLUME [VOLUME...]", about: "Display detailed information on one or more volumes", arity: Arity::Min(1), interspersed: true, flags: format_flag, run: inspect::volume, },
    Spec { names: &["network inspect"], usage: "[OPTIONS] NETWORK [NETWORK...]", about: "Display detailed information on one or more networks", arity: Arity::Min(1), interspersed: true, flags: inspect::network_flags, run: inspect::network, },
    Spec { names: &["run", "container run"], usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]", about: "Create and run a new container from an image", arity: Arity::Min(1), interspersed: false, flags: create_opts::run_flags, run: run::run, },
    Spec { names: &["create", "container create"], usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]", about: "Create a new container", arity: Arity::Min(1), interspersed: false, flags: create_opts::create_flags, run: run::create, },
    Spec { names: &["start", "container start"], usage: "[OPTIONS] CONTAINER [CONTAINER...]", about: "Start one or more stopped containers", arity: Arity::Min(1), interspersed: true, flags: |c| flags_from_help(c, "start"), run: run::start, },
    Spec { names: &["exec", "container exec"], usage: "[OPTIONS] CONTAINER COMMAND [ARG...]", about: "Execute a command in a running container", arity: Arity::Min(2), interspersed: false, flags: run::exec_flags, run: run::exec, },
    Spec { names: &["stop", "container stop"], usage: "[OPTIONS] CONTAINER [CONTAINER...]", about: "Stop one or more running containers", arity: Arity::Min(1), interspersed: true, flags: container::stop_flags, run: container::stop, },
    Spec { names: &["restart", "container restart"], usage: "[OPTIONS] CONTAINER [CONTAINER...]", about: "Restart one or more containers", arity: Arity::Min(1), interspersed: true, flags: container::stop_flags, run: container::restart, },
    Spec { names: &["kill", "container kill"], usage: "[OPTIONS] CONTAINER [CONTAINER...]", about: "Kill one or more running containers", arity: Arity::Min(1), interspersed: true, flags: container::kill_flags, run: container::kill, },
    Spec { names: &["rm", "container rm", "container remove"], usage: "[OPTIONS] CONTAINER [CONTAINER...]", about: "Remove one or more containers", arity: Arity::Min(1), interspersed: true, flags: container::rm_flags, run: container::rm, },
    Spec { names: &["pause", "container pause"], usage: "CONTAINER [CONTAINER...]", about: "Pause all processes within one or more containers", arity: Arity::Min(1), interspersed: true, flags: no_flags, run: container::pause, },
    Spec { names: &["unpause", "container unpause"], usage: "CONTAINER [CONTAINER...]", about: "Unpause all processes within one or more containers", arity: Arity::Min(1), interspersed: true, flags: no_flags, run: container::unpause, },
    Spec { names: &["wait", "container wait"], usage: "CONTAINER [CONTAINER...]", about: "Block until one or more containers stop, then print their exit codes", arity: Arity::Min(1), interspersed: true, flags: no_flags, run: container::wait, },
    Spec { names: &["rename", "container rename"], usage: "CONTAINER NEW_NAME", about: "Rename a container", arity: Arity::Exact(2), interspersed: true, flags: no_flags, run: container::rename, },
    Spec { names: &["logs", "container logs"], usage: "[OPTIONS] CONTAINER", about: "Fetch the logs of a container", arity: Arity::Exact(1), interspersed: true, flags: container::logs_flags, run: container::logs, },
    Spec { names: &["top", "container top"], usage: "CONTAINER [ps OPTIONS]", about: "Display the running processes of a container", arity: Arity::Min(1), interspersed: false, flags: no_flags, run: container::top, },
    Spec { names: &["port", "container port"], usage: "CONTAINER [PRIVATE_PORT[/PROTO]]", about: "List port mappings or a specific mapping for the container", arity: Arity::Range(1, 2), interspersed: true, flags: no_flags, run: container::port, },
    Spec { names: &["diff", "container diff"], usage: "CONTAINER", about: "Inspect changes to files or directories on a container's filesystem", arity: Arity::Exact(1), interspersed: true, flags: no_flags, run: container::diff, },
    Spec { names: &["export", "container export"], usage: "[OPTIONS] CONTAINER", about: "Export a container's filesystem as a tar archive", arity: Arity::Exact(1), interspersed: true, flags: container::output_flags, run: container::export, },
    Spec { names: &["commit", "container commit"], usage: "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]", about: "Create a new image from a container's changes", arity: Arity::Range(1, 2), interspersed: true, flags: container::commit_flags, run: container::commit, },
    Spec { names: &["container prune"], usage: "[OPTIONS]", about: "Remove all stopped containers", arity: Arity::None, interspersed: true, flags: |c| flags_from_help(c, "container prune"), run: container::prune, },
    Spec { names: &["rmi", "image rm", "image remove"], usage: "[OPTIONS] IMAGE [IMAGE...]", about: "Remove one or more images", arity: Arity::Min(1), interspersed: true, flags: image::rmi_flags, run: image::rmi, },
    Spec { names: &["tag", "image tag"], usage: "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", about: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", arity: Arity::Exact(2), interspersed: true, flags: no_flags, run: image::tag, },
    Spec { names: &["history", "image history"], usage: "[OPTIONS] IMAGE", about: "Show the history of an image", arity: Arity::Exact(1), interspersed: true, flags: image::history_flags, run: image::history, },
    Spec { names: &["import", "image import"], usage: "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]", about: "Import the contents from a tarball to create a filesystem image", arity: Arity::Range(1, 2), interspersed: true, flags: image::import_flags, run: image::import, },
    Spec { names: &["save", "image save"], usage: "[OPTIONS] IMAGE [IMAGE...]", about: "Save one or more images to a tar archive (streamed to STDOUT by default)", arity: Arity::Min(1), interspersed: true, flags: |c| flags_from_help(c, "save"), run: image::save, },
    Spec { names: &["load", "image load"], usage: "[OPTIONS]", about: "Load an image from a tar archive or STDIN", arity: Arity::None, interspersed: true, flags: image::load_flags, run: image::load, },
    Spec { names: &["image prune"], usage: "[OPTIONS]", about: "Remove unused images", arity: Arity::None, interspersed: true, flags: image::prune_flags, run: image::prune, },
    Spec { names: &["volume ls", "volume list"], usage: "[OPTIONS]", about: "List volumes", arity: Arity::None, interspersed: true, flags: resources::volume_ls_flags, run: resources::volume_ls, },
    Spec { names: &["volume create"], usage: "[OPTIONS] [VOLUME]", about: "Create a volume", arity: Arity::Max(1), interspersed: true, flags: resources::volume_create_flags, run: resources::volume_create, },
    Spec { names: &["volume rm", "volume remove"], usage: "[OPTIONS] VOLUME [VOLUME...]", about: "Remove one or more volumes", arity: Arity::Min(1), interspersed: true, flags: resources::force_flag, run: resources::volume_rm, },
    Spec { names: &["volume prune"], usage: "[OPTIONS]", about: "Remove unused local volumes", arity: Arity::None, interspersed: true, flags: |c| flags_from_help(c, "volume prune"), run: resources::volume_prune, },
    Spec { names: &["network ls", "network list"], usage: "[OPTIONS]", about: "List networks", arity: Arity::None, interspersed: true, flags: resources::network_ls_flags, run: resources::network_ls, },
    Spec { names: &["network create"], usage: "[OPTIONS] NETWORK", about: "Create a network", arity: Arity::Exact(1), interspersed: true, flags: |c| flags_from_help(c, "network create"), run: resources::network_create, },
    Spec { names: &["network rm", "network remove"], usage: "NETWORK [NETWORK...]", about: "Remove one or more networks", arity: Arity::Min(1), interspersed: true, flags: resources::force_flag, run: resources::network_rm, },
    Spec { names: &["network prune"], usage: "[OPTIONS]", about: "Remove all unused networks", arity: Arity::None, interspersed: true, flags: |c| flags_from_help(c, "network prune"), run: resources::network_prune, },
    Spec { names: &["system df"], usage: "[OPTIONS]", about: "Show docker disk usage", arity: Arity::None, interspersed: true, flags: system::df_flags, run: system::df, },
    Spec { names: &["events", "system events"], usage: "[OPTIONS]", about: "Get real time events from the server", arity: Arity::None, interspersed: true, flags: monitor::events_flags, run: monitor::events, },
    Spec { names: &["stats", "container stats"], usage: "[OPTIONS] [CONTAINER...]", about: "Display a live stream of container(s) resource usage statistics", arity: Arity::Min(0), interspersed: true, flags: monitor::stats_flags, run: monitor::stats, },
    Spec { names: &["cp", "container cp"], usage: "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tdocker cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH", about: "Copy files/folders between a container and the local filesystem", arity: Arity::Exact(2), interspersed: true, flags: cp::flags, run: cp::cp, },
    Spec { names: &["attach", "container attach"], usage: "[OPTIONS] CONTAINER", about: "Attach local standard input, output, and error streams to a running container", arity: Arity::Exact(1), interspersed: true, flags: run::attach_flags, run: run::attach, },
    Spec { names: &["update", "container update"], usage: "[OPTIONS] CONTAINER [CONTAINER...]", about: "Update configuration of one or more containers", arity: Arity::Min(1), interspersed: true, flags: container::update_flags, run: container::update, },
    Spec { names: &["system prune"], usage: "[OPTIONS]", about: "Remove unused data", arity: Arity::None, interspersed: true, flags: system::prune_flags, run: system::prune, },
    Spec { names: &["network connect"], usage: "[OPTIONS] NETWORK CONTAINER", about: "Connect a container to a network", arity: Arity::Exact(2), interspersed: true, flags: |c| flags_from_help(c, "network connect"), run: resources::network_connect, },
    Spec { names: &["network disconnect"], usage: "[OPTIONS] NETWORK CONTAINER", about: "Disconnect a container from a network", arity: Arity::Exact(2), interspersed: true, flags: resources::network_disconnect_flags, run: resources::network_disconnect, },
    Spec { names: &["login"], usage: "[OPTIONS] [SERVER]", about: "Authenticate to a registry", arity: Arity::Max(1), interspersed: true, flags: auth::login_flags, run: auth::login, },
    Spec { names: &["logout"], usage: "[SERVER]", about: "Log out from a registry", arity: Arity::Max(1), interspersed: true, flags: no_flags, run: auth::logout, },
    Spec { names: &["__manpages"], usage: "DIR", about: "Write man pages (for packaging)", arity: Arity::Exact(1), interspersed: true, flags: no_flags, run: system::manpages, },
    Spec { names: &["context ls", "context list"], usage: "[OPTIONS]", about: "List contexts", arity: Arity::None, interspersed: true, flags: context::ls_flags, run: context::ls, },
    Spec { names: &["context show"], usage: "", about: "Print the name of the current context", arity: Arity::None, interspersed: true, flags: no_flags, run: context::show, },
    Spec { names: &["context use"], usage: "CONTEXT", about: "Set the current docker context", arity: Arity::Exact(1), interspersed: true, flags: no_flags, run: context::use_, },
    Spec { names: &["context create"], usage: "[OPTIONS] CONTEXT", about: "Create a context", arity: Arity::Exact(1), interspersed: true, flags: context::create_flags, run: context::create, },
    Spec { names: &["context update"], usage: "[OPTIONS] CONTEXT", about: "Update a context", arity: Arity::Exact(1), interspersed: true, flags: context::update_flags, run: context::update, },
    Spec { names: &["context export"], usage: "[OPTIONS] CONTEXT [FILE|-]", about: "Export a context to a tar archive FILE or a tar stream on STDOUT.", arity: Arity::Range(1, 2), interspersed: true, flags: no_flags, run: context::export, },
    Spec { names: &["context import"], usage: "CONTEXT FILE|-", about: "Import a context from a tar or zip file", arity: Arity::Exact(2), interspersed: true, flags: no_flags, run: context::import, },
    Spec { names: &["context rm", "context remove"], usage: "CONTEXT [CONTEXT...]", about: "Remove one or more contexts", arity: Arity::Min(1), interspersed: true, flags: context::rm_flags, run: context::rm, },
    Spec { names: &["context inspect"], usage: "[OPTIONS] [CONTEXT] [CONTEXT...]", about: "Display detailed information on one or more contexts", arity: Arity::Min(0), interspersed: true, flags: context::inspect_flags, run: context::inspect, },
    Spec { names: &["build", "image build", "builder build"], usage: "[OPTIONS] PATH | URL | -", about: "Build an image from a Dockerfile", arity: Arity::Exact(1), interspersed: true, flags: build::flags, run: build::build, },
    Spec { names: &["builder prune"], usage: "", about: "Remove build cache", arity: Arity::None, interspersed: true, flags: |c| flags_from_help(c, "builder prune"), run: build::prune, },
    Spec { names: &["pull", "image pull"], usage: "[OPTIONS] NAME[:TAG|@DIGEST]", about: "Download an image from a registry", arity: Arity::Exact(1), interspersed: true, flags: image::pull_flags, run: image::pull, },
    Spec { names: &["push", "image push"], usage: "[OPTIONS] NAME[:TAG]", about: "Upload an image to a registry", arity: Arity::Exact(1), interspersed: true, flags: image::push_flags, run: image::push, },
    Spec { names: &["search"], usage: "[OPTIONS] TERM", about: "Search Docker Hub for images", arity: Arity::Exact(1), interspersed: true, flags: search::flags, run: search::search, },
    Spec { names: &["completion"], usage: "[bash|zsh|fish|powershell]", about: "Generate the autocompletion script for the specified shell", arity: Arity::Max(1), interspersed: true, flags: no_flags, run: system::completion, },
];

/// Finds the command for `rest` (which starts at the command name); returns it,
/// the path it was called by, and how many words the path used.
pub fn lookup(rest: &[String]) -> Result<(&'static Spec, String, usize), Status> {
    let first = rest[0].as_str();
    if UNSUPPORTED.iter().any(|(g, _, _)| *g == first) {
        return Err(not_supported(first));
    }
    if let Some((group, about)) = GROUPS.iter().find(|(g, _)| *g == first) {
        let Some(sub) = rest.get(1).filter(|s| !s.starts_with('-')) else {
            if rest.get(1).is_some_and(|s| s == "--help" || s == "-h") {
                let note = if rest[1] == "-h" {
                    crate::cmdline::SHORT_HELP_NOTE
                } else {
                    ""
                };
                return Err(Status::help(format!("{note}{}", group_help(group, about))));
            }
            if rest.len() == 1 {
                // A bare management command prints its usage to stderr, exit 0.
                return Err(Status::new(
                    0,
                    group_help(group, about).trim_end().to_string(),
                ));
            }
            return Err(Status::new(
                125,
                format!(
                    "unknown flag: {}\n\nUsage:  docker {group} COMMAND\n\nRun 'docker {group} --help' for more information",
                    rest[1]
                ),
            ));
        };
        let path = format!("{group} {sub}");
        return match TABLE.iter().find(|s| s.names.contains(&path.as_str())) {
            Some(spec) => Ok((spec, path, 2)),
            None => Err(Status::new(
                1,
                format!(
                    "docker: unknown command: docker {group} {sub}\n\nUsage:  docker {group}{}\n\nRun 'docker {group} --help' for more information",
                    // cobra's use line: only `volume` spells out COMMAND in its `Use`.
                    if *group == "volume" { " COMMAND" } else { "" }
                ),
            )),
        };
    }
    match TABLE.iter().find(|s| s.names.contains(&first)) {
        Some(spec) => Ok((spec, first.to_string(), 1)),
        None => Err(Status::new(
            1,
            format!("docker: unknown command: docker {first}\n\nRun 'docker --help' for more information"),
        )),
    }
}

/// `docker help [COMMAND...]`: the help of the command the words name.
pub fn help_topic(words: &[String]) -> Result<String, Status> {
    let unknown = || Status::new(1, format!("unknown help topic: {}", words.join(" ")));
    let Some(first) = words.first() else {
        return Err(unknown());
    };
    if UNSUPPORTED.iter().any(|(g, _, _)| g == first) {
        return Err(not_supported(first));
    }
    if let Some((group, about)) = GROUPS.iter().find(|(g, _)| g == first) {
        let Some(sub) = words.get(1) else {
            return Ok(group_help(group, about));
        };
        let path = format!("{group} {sub}");
        return match TABLE.iter().find(|s| s.names.contains(&path.as_str())) {
            Some(spec) if words.len() == 2 => Ok(crate::help::command(
                spec,
                &path,
                crate::help::columns(),
                None,
            )),
            _ => Err(unknown()),
        };
    }
    match TABLE.iter().find(|s| s.names.contains(&first.as_str())) {
        Some(spec) if words.len() == 1 => Ok(crate::help::command(
            spec,
            first,
            crate::help::columns(),
            None,
        )),
        _ => Err(unknown()),
    }
}

fn group_help(group: &str, about: &str) -> String {
    let mut subs: Vec<(String, String)> = Vec::new();
    for spec in TABLE {
        // The first name under this group is the command's own; the rest are aliases.
        let own = spec
            .names
            .iter()
            .find_map(|n| n.strip_prefix(group).and_then(|s| s.strip_prefix(' ')));
        if let Some(sub) = own {
            subs.push((sub.to_string(), spec.about.to_string()));
        }
    }
    subs.sort();
    crate::help::group(group, about, &subs)
}

/// The commands `docker --help` lists first, in the real CLI's order.
const COMMON: &[&str] = &[
    "run", "exec", "ps", "build", "pull", "push", "images", "login", "logout", "search", "version",
    "info",
];

/// `docker --help`: cobra's root usage with docker's sections. `experimental` is
/// whether the daemon runs experimental features, None when no daemon answered.
pub fn root_help(experimental: Option<bool>) -> String {
    let about_of = |name: &str| {
        TABLE
            .iter()
            .find(|s| s.names.contains(&name))
            .map(|s| s.about)
    };
    let common: Vec<(&str, &str)> = COMMON
        .iter()
        .filter_map(|n| about_of(n).map(|a| (*n, a)))
        .collect();
    let mut others: Vec<(&str, &str)> = TABLE
        .iter()
        .filter_map(|s| {
            let name = s.names.iter().find(|n| !n.contains(' '))?;
            let hidden = name.starts_with("__") || *name == "completion";
            (!hidden && !COMMON.contains(name)).then_some((*name, s.about))
        })
        .collect();
    others.sort();
    let unsupported_in = |section: Section| {
        UNSUPPORTED
            .iter()
            .filter(move |(_, _, s)| *s == section)
            .map(|(g, a, _)| (*g, *a))
    };
    let mut management: Vec<(&str, &str)> = GROUPS
        .iter()
        .copied()
        .chain(unsupported_in(Section::Management))
        .collect();
    if experimental != Some(false) {
        management.extend(unsupported_in(Section::Experimental));
    }
    management.sort();
    let swarm: Vec<(&str, &str)> = unsupported_in(Section::Swarm).collect();
    let pad = crate::help::name_padding(
        common
            .iter()
            .chain(&others)
            .chain(&management)
            .chain(&swarm)
            .map(|(n, _)| *n),
    );
    let section = |title: &str, rows: &[(&str, &str)]| {
        let mut out = format!("\n\n{title}:");
        for (name, about) in rows {
            out.push_str(&format!("\n  {name:<pad$} {about}"));
        }
        out
    };
    let mut out = String::from(
        "Usage:  docker [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers",
    );
    out.push_str(&section("Common Commands", &common));
    out.push_str(&section("Management Commands", &management));
    out.push_str(&section("Swarm Commands", &swarm));
    out.push_str(&section("Commands", &others));
    out.push_str("\n\nGlobal Options:\n");
    out.push_str(crate::help::flag_usages(&global_flags(), crate::help::columns()).trim_end());
    out.push_str("\n\nRun 'docker COMMAND --help' for more information on a command.\n\nFor more help on how to use Docker, head to https://docs.docker.com/go/guides/\n");
    out
}

/// The global options as `docker --help` shows them; the defaults name this user's
/// configuration directory (`DOCKER_CONFIG`, `DOCKER_CERT_PATH`).
fn global_flags() -> Vec<crate::help::FlagHelp> {
    let config = crate::config::default_dir();
    let certs = std::env::var("DOCKER_CERT_PATH")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| config.clone());
    let flag =
        |short: Option<char>, long: &str, value: &str, usage: String| crate::help::FlagHelp {
            short,
            long: long.into(),
            value: value.into(),
            usage,
            gate: crate::help::Gate::Always,
        };
    vec![
        flag(None, "config", "string", format!("Location of client config files (default {config:?})")),
        flag(Some('c'), "context", "string", "Name of the context to use to connect to the daemon (overrides DOCKER_HOST env var and default context set with \"docker context use\")".into()),
        flag(Some('D'), "debug", "", "Enable debug mode".into()),
        flag(Some('H'), "host", "list", "Daemon socket to connect to".into()),
        flag(Some('l'), "log-level", "string", "Set the logging level (\"debug\", \"info\", \"warn\", \"error\", \"fatal\") (default \"info\")".into()),
        flag(None, "tls", "", "Use TLS; implied by --tlsverify".into()),
        flag(None, "tlscacert", "string", format!("Trust certs signed only by this CA (default \"{certs}/ca.pem\")")),
        flag(None, "tlscert", "string", format!("Path to TLS certificate file (default \"{certs}/cert.pem\")")),
        flag(None, "tlskey", "string", format!("Path to TLS key file (default \"{certs}/key.pem\")")),
        flag(None, "tlsverify", "", "Use TLS and verify the remote".into()),
        flag(Some('v'), "version", "", "Print version information and quit".into()),
    ]
}

/// Renders a listing with `--format`, mapping template errors to docker's text.
pub fn render_list(format: &Format, rows: &[Val], header: &Val) -> anyhow::Result<()> {
    let out = format
        .render(rows, header)
        .map_err(|e| Status::new(1, format!("template parsing error: {e}")))?;
    print!("{out}");
    Ok(())
}

/// Parses a `--format` for a listing; parse errors exit 1 with docker's prefix.
pub fn list_format(
    given: Option<String>,
    default_table: &str,
    quiet: bool,
) -> anyhow::Result<Format> {
    Format::new(given.as_deref().unwrap_or(""), default_table, quiet)
        .map_err(|e| Status::new(1, format!("template parsing error: {e}")).into())
}

/// Runs `op` for each argument, printing errors as they come; exit 1 if any failed.
pub fn for_each(
    args: &[String],
    mut op: impl FnMut(&str) -> anyhow::Result<()>,
) -> anyhow::Result<i32> {
    let mut failed = Vec::new();
    for a in args {
        if let Err(e) = op(a) {
            failed.push(e.to_string());
        }
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        Err(Status::new(1, failed.join("\n")).into())
    }
}

/// `{"label":{"a=b":true}}` from `-f label=a=b` flags.
pub fn filters_json(filters: &[String]) -> anyhow::Result<Option<String>> {
    if filters.is_empty() {
        return Ok(None);
    }
    let mut map = serde_json::Map::new();
    for f in filters {
        let Some((k, v)) = f.split_once('=') else {
            return Err(Status::new(
                125,
                format!("invalid argument \"{f}\" for \"-f, --filter\" flag: bad format of filter (expected name=value)"),
            )
            .into());
        };
        let entry = map
            .entry(k.trim().to_lowercase())
            .or_insert_with(|| serde_json::json!({}));
        entry[v.trim()] = serde_json::Value::Bool(true);
    }
    Ok(Some(serde_json::Value::Object(map).to_string()))
}

/// `stringid.TruncateID`: drops `sha256:` and keeps 12 characters.
pub fn short_id(id: &str) -> String {
    let id = id.split_once(':').map(|(_, h)| h).unwrap_or(id);
    id.chars().take(12).collect()
}

/// The whole command tree as one clap `Command`, for completion scripts and man pages.
pub fn full_command() -> Command {
    let mut root = Command::new("docker")
        .about("A self-sufficient runtime for containers")
        .disable_help_flag(true)
        .disable_version_flag(true);
    for (long, short, help, takes) in [
        ("config", None, "Location of client config files", true),
        (
            "context",
            Some('c'),
            "Name of the context to use to connect to the daemon",
            true,
        ),
        ("debug", Some('D'), "Enable debug mode", false),
        ("host", Some('H'), "Daemon socket to connect to", true),
        ("log-level", Some('l'), "Set the logging level", true),
        ("tls", None, "Use TLS; implied by --tlsverify", false),
        (
            "tlscacert",
            None,
            "Trust certs signed only by this CA",
            true,
        ),
        ("tlscert", None, "Path to TLS certificate file", true),
        ("tlskey", None, "Path to TLS key file", true),
        ("tlsverify", None, "Use TLS and verify the remote", false),
        (
            "version",
            Some('v'),
            "Print version information and quit",
            false,
        ),
        ("help", Some('h'), "Print usage", false),
    ] {
        let mut a = clap::Arg::new(long).long(long).help(help);
        a = if takes {
            a.num_args(1)
        } else {
            a.action(clap::ArgAction::SetTrue)
        };
        if let Some(s) = short {
            a = a.short(s);
        }
        root = root.arg(a);
    }
    let mut groups: Vec<Command> = GROUPS
        .iter()
        .map(|(g, about)| Command::new(*g).about(*about))
        .collect();
    for spec in TABLE {
        for name in spec.names.iter().filter(|n| !n.starts_with("__")) {
            match name.split_once(' ') {
                None => root = root.subcommand(crate::cmdline::clap_command(spec, name)),
                Some((g, sub)) => {
                    if let Some(i) = GROUPS.iter().position(|(x, _)| *x == g) {
                        let c = crate::cmdline::clap_command(spec, sub);
                        groups[i] = groups[i].clone().subcommand(c);
                    }
                }
            }
        }
    }
    for g in groups {
        root = root.subcommand(g);
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn listed_but_unimplemented_groups_say_so_in_one_line() {
        for group in [
            "swarm",
            "plugin",
            "stack",
            "trust",
            "manifest",
            "checkpoint",
        ] {
            let err = lookup(&words(&format!("{group} ls"))).err().unwrap();
            assert_eq!(err.code, 1);
            assert_eq!(
                err.msg,
                format!("docker: 'docker {group}' is not supported by this docker CLI")
            );
            assert!(root_help(None).contains(&format!("\n  {group} ")));
        }
        // A daemon without experimental features hides checkpoint, as the real CLI does.
        assert!(!root_help(Some(false)).contains("\n  checkpoint "));
        assert!(lookup(&words("builder prune")).is_ok());
    }
}
