//! `ctr`: the containerd client for people, with the command set, flags and output of
//! containerd's own `ctr` for the commands it covers.

mod client;
mod image;
mod run;
mod spec;
mod tabwriter;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use containerd_client::services::v1 as api;
use containerd_client::services::v1::snapshots as snap;

use client::{status, Client};
use tabwriter::TabWriter;

#[derive(Parser, Debug)]
#[command(name = "ctr", about = "containerd CLI", disable_version_flag = true)]
pub struct Cli {
    /// Address for containerd's GRPC server
    #[arg(
        short = 'a',
        long,
        env = "CONTAINERD_ADDRESS",
        default_value = "/run/containerd/containerd.sock"
    )]
    address: String,
    /// Namespace to use with commands
    #[arg(
        short = 'n',
        long,
        env = "CONTAINERD_NAMESPACE",
        default_value = "default"
    )]
    namespace: String,
    /// Print the version
    #[arg(short = 'v', long = "version")]
    version_flag: bool,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Print the client and server versions
    Version,
    /// Manage namespaces
    #[command(alias = "namespace", alias = "ns")]
    Namespaces {
        #[command(subcommand)]
        cmd: NsCmd,
    },
    /// Manage images
    #[command(alias = "image", alias = "i")]
    Images {
        #[command(subcommand)]
        cmd: ImageCmd,
    },
    /// Manage content
    Content {
        #[command(subcommand)]
        cmd: ListOnly,
    },
    /// Manage snapshots
    #[command(alias = "snapshot")]
    Snapshots {
        #[arg(long, default_value = "overlayfs")]
        snapshotter: String,
        #[command(subcommand)]
        cmd: ListOnly,
    },
    /// Manage containers
    #[command(alias = "container", alias = "c")]
    Containers {
        #[command(subcommand)]
        cmd: ContainerCmd,
    },
    /// Manage tasks
    #[command(alias = "task", alias = "t")]
    Tasks {
        #[command(subcommand)]
        cmd: TaskCmd,
    },
    /// Run a container
    Run {
        /// Delete the container when it exits
        #[arg(long)]
        rm: bool,
        /// Allocate a TTY for the container
        #[arg(short = 't', long)]
        tty: bool,
        /// Detach from the task after it has started execution
        #[arg(short = 'd', long)]
        detach: bool,
        /// Runtime name
        #[arg(long, default_value = "io.containerd.runc.v2")]
        runtime: String,
        /// Specify runc-compatible binary
        #[arg(long = "runc-binary")]
        runc_binary: Option<String>,
        #[arg(long, default_value = "overlayfs")]
        snapshotter: String,
        /// Specify additional container environment variables
        #[arg(long)]
        env: Vec<String>,
        /// Specify the working directory of the process
        #[arg(long)]
        cwd: Option<String>,
        image: String,
        id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Display containerd events
    #[command(alias = "event")]
    Events { filters: Vec<String> },
}

#[derive(Subcommand, Debug)]
enum NsCmd {
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
    },
    Create {
        name: String,
    },
    #[command(alias = "remove", alias = "delete")]
    Rm {
        names: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum ImageCmd {
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
    },
    Import {
        #[arg(long, default_value = "overlayfs")]
        snapshotter: String,
        #[arg(long = "no-unpack")]
        no_unpack: bool,
        input: String,
    },
    Export {
        output: String,
        names: Vec<String>,
    },
    #[command(alias = "remove", alias = "delete", alias = "del")]
    Rm {
        names: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum ListOnly {
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ContainerCmd {
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
    },
    Info {
        id: String,
    },
    #[command(alias = "remove", alias = "delete", alias = "del")]
    Rm {
        ids: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum TaskCmd {
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
    },
    Kill {
        #[arg(short, long, default_value = "SIGTERM")]
        signal: String,
        #[arg(short, long)]
        all: bool,
        #[arg(long = "exec-id", default_value = "")]
        exec_id: String,
        id: String,
    },
    Ps {
        id: String,
    },
    Pause {
        id: String,
    },
    Resume {
        id: String,
    },
    Start {
        id: String,
    },
    #[command(alias = "remove", alias = "delete", alias = "del")]
    Rm {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    Exec {
        #[arg(long = "exec-id", default_value = "")]
        exec_id: String,
        #[arg(short = 't', long)]
        tty: bool,
        id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        args: Vec<String>,
    },
}

fn signal_number(s: &str) -> anyhow::Result<u32> {
    if let Ok(n) = s.parse() {
        return Ok(n);
    }
    let name = s.trim_start_matches("SIG").to_ascii_uppercase();
    let n = match name.as_str() {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "TERM" => libc::SIGTERM,
        "STOP" => libc::SIGSTOP,
        "CONT" => libc::SIGCONT,
        _ => bail!("invalid signal {s}"),
    };
    Ok(n as u32)
}

fn fmt_time(t: &Option<prost_types::Timestamp>) -> String {
    t.as_ref()
        .and_then(|t| std::time::SystemTime::try_from(*t).ok())
        .map(crate::timefmt::go_string)
        .unwrap_or_default()
}

fn status_name(s: i32) -> &'static str {
    match s {
        1 => "CREATED",
        2 => "RUNNING",
        3 => "STOPPED",
        4 => "PAUSED",
        5 => "PAUSING",
        _ => "UNKNOWN",
    }
}

/// Run one ctr command; returns the exit code.
pub async fn main(cli: Cli) -> anyhow::Result<i32> {
    if cli.version_flag {
        println!(
            "ctr github.com/containerd/containerd {}",
            crate::daemon::version()
        );
        return Ok(0);
    }
    let Some(cmd) = cli.command else {
        bail!("no command given; see ctr --help");
    };
    let mut c = Client::connect(&cli.address, &cli.namespace).await?;
    match cmd {
        Cmd::Version => {
            let v = c
                .version()
                .version(c.req(()))
                .await
                .map_err(status)?
                .into_inner();
            let s = c
                .introspection()
                .server(c.req(()))
                .await
                .map(|r| r.into_inner().uuid)
                .unwrap_or_default();
            println!(
                "Client:\n  Version:  {}\n  Revision: {}\n",
                crate::daemon::version(),
                buildinfo::GIT_COMMIT
            );
            println!(
                "Server:\n  Version:  {}\n  Revision: {}\n  UUID: {s}",
                v.version, v.revision
            );
        }
        Cmd::Namespaces { cmd } => match cmd {
            NsCmd::Ls { quiet } => {
                let ns = c
                    .namespaces()
                    .list(c.req(api::ListNamespacesRequest {
                        filter: String::new(),
                    }))
                    .await
                    .map_err(status)?
                    .into_inner()
                    .namespaces;
                let mut w = TabWriter::new(1, 1, ' ');
                if !quiet {
                    w.line("NAME\tLABELS\t");
                }
                for n in ns {
                    let mut labels: Vec<String> =
                        n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    labels.sort();
                    if quiet {
                        println!("{}", n.name);
                    } else {
                        w.line(&format!("{}\t{}\t", n.name, labels.join(",")));
                    }
                }
                if !quiet {
                    w.print();
                }
            }
            NsCmd::Create { name } => {
                c.namespaces()
                    .create(c.req(api::CreateNamespaceRequest {
                        namespace: Some(api::Namespace {
                            name,
                            labels: Default::default(),
                        }),
                    }))
                    .await
                    .map_err(status)?;
            }
            NsCmd::Rm { names } => {
                for name in names {
                    c.namespaces()
                        .delete(c.req(api::DeleteNamespaceRequest { name: name.clone() }))
                        .await
                        .map_err(status)?;
                    println!("{name}");
                }
            }
        },
        Cmd::Images { cmd } => match cmd {
            ImageCmd::Ls { quiet } => image::list(&c, quiet).await?,
            ImageCmd::Import {
                snapshotter,
                no_unpack,
                input,
            } => image::import(&mut c, &input, &snapshotter, !no_unpack).await?,
            ImageCmd::Export { output, names } => image::export(&c, &output, &names).await?,
            ImageCmd::Rm { names } => image::remove(&c, &names).await?,
        },
        Cmd::Content {
            cmd: ListOnly::Ls { quiet },
        } => {
            let mut s = c
                .content()
                .list(c.req(api::ListContentRequest { filters: vec![] }))
                .await
                .map_err(status)?
                .into_inner();
            let mut w = TabWriter::new(1, 1, '\t');
            if !quiet {
                w.line("DIGEST\tSIZE\tAGE\tLABELS");
            }
            while let Some(m) = s.message().await.map_err(status)? {
                for i in m.info {
                    if quiet {
                        println!("{}", i.digest);
                        continue;
                    }
                    let mut labels: Vec<String> =
                        i.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    labels.sort();
                    let age = i
                        .created_at
                        .and_then(|t| std::time::SystemTime::try_from(t).ok())
                        .and_then(|t| t.elapsed().ok())
                        .map(human_duration)
                        .unwrap_or_default();
                    w.line(&format!(
                        "{}\t{}\t{}\t{}",
                        i.digest,
                        human_size(i.size),
                        age,
                        labels.join(",")
                    ));
                }
            }
            if !quiet {
                w.print();
            }
        }
        Cmd::Snapshots {
            snapshotter,
            cmd: ListOnly::Ls { quiet },
        } => {
            let mut s = c
                .snapshots()
                .list(c.req(snap::ListSnapshotsRequest {
                    snapshotter,
                    filters: vec![],
                }))
                .await
                .map_err(status)?
                .into_inner();
            let mut w = TabWriter::new(1, 1, ' ');
            w.line("KEY\tPARENT\tKIND\t");
            while let Some(m) = s.message().await.map_err(status)? {
                for i in m.info {
                    if quiet {
                        println!("{}", i.name);
                    }
                    let kind = match i.kind {
                        1 => "View",
                        2 => "Active",
                        3 => "Committed",
                        _ => "Unknown",
                    };
                    w.line(&format!("{}\t{}\t{}\t", i.name, i.parent, kind));
                }
            }
            if !quiet {
                w.print();
            }
        }
        Cmd::Containers { cmd } => match cmd {
            ContainerCmd::Ls { quiet } => {
                let cs = c
                    .containers()
                    .list(c.req(api::ListContainersRequest { filters: vec![] }))
                    .await
                    .map_err(status)?
                    .into_inner()
                    .containers;
                let mut w = TabWriter::new(4, 4, ' ');
                w.line("CONTAINER\tIMAGE\tRUNTIME\t");
                for x in cs {
                    if quiet {
                        println!("{}", x.id);
                        continue;
                    }
                    let image = if x.image.is_empty() {
                        "-".to_owned()
                    } else {
                        x.image.clone()
                    };
                    w.line(&format!(
                        "{}\t{}\t{}\t",
                        x.id,
                        image,
                        x.runtime.map(|r| r.name).unwrap_or_default()
                    ));
                }
                if !quiet {
                    w.print();
                }
            }
            ContainerCmd::Info { id } => {
                let x = c
                    .containers()
                    .get(c.req(api::GetContainerRequest { id }))
                    .await
                    .map_err(status)?
                    .into_inner()
                    .container
                    .unwrap_or_default();
                let spec: serde_json::Value = x
                    .spec
                    .as_ref()
                    .and_then(|s| serde_json::from_slice(&s.value).ok())
                    .unwrap_or_default();
                let info = serde_json::json!({
                    "ID": x.id, "Labels": x.labels, "Image": x.image,
                    "Runtime": {"Name": x.runtime.as_ref().map(|r| r.name.clone()).unwrap_or_default()},
                    "SnapshotKey": x.snapshot_key, "Snapshotter": x.snapshotter,
                    "CreatedAt": fmt_time(&x.created_at), "UpdatedAt": fmt_time(&x.updated_at),
                    "Extensions": {}, "Spec": spec,
                });
                let mut buf = Vec::new();
                let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
                let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
                serde::Serialize::serialize(&info, &mut ser)?;
                println!("{}", String::from_utf8_lossy(&buf));
            }
            ContainerCmd::Rm { ids } => {
                for id in ids {
                    let task = c
                        .tasks()
                        .get(c.req(api::GetRequest {
                            container_id: id.clone(),
                            exec_id: String::new(),
                        }))
                        .await;
                    if let Ok(t) = task {
                        let p = t.into_inner().process.unwrap_or_default();
                        if p.status != 3 {
                            bail!(
                                "cannot delete a non stopped container: {{{} {} {}}}",
                                status_name(p.status).to_lowercase(),
                                p.exit_status,
                                fmt_time(&p.exited_at)
                            );
                        }
                        c.tasks()
                            .delete(c.req(api::DeleteTaskRequest {
                                container_id: id.clone(),
                            }))
                            .await
                            .map_err(status)?;
                    }
                    let x = c
                        .containers()
                        .get(c.req(api::GetContainerRequest { id: id.clone() }))
                        .await
                        .map_err(status)?
                        .into_inner()
                        .container
                        .unwrap_or_default();
                    c.containers()
                        .delete(c.req(api::DeleteContainerRequest { id: id.clone() }))
                        .await
                        .map_err(status)?;
                    if !x.snapshot_key.is_empty() {
                        let _ = c
                            .snapshots()
                            .remove(c.req(snap::RemoveSnapshotRequest {
                                snapshotter: x.snapshotter,
                                key: x.snapshot_key,
                            }))
                            .await;
                    }
                }
            }
        },
        Cmd::Tasks { cmd } => return tasks(&c, cmd).await,
        Cmd::Run {
            rm,
            tty,
            detach,
            runtime,
            runc_binary,
            snapshotter,
            env,
            cwd,
            image,
            id,
            args,
        } => {
            if rm && detach {
                bail!("flags --detach and --rm cannot be specified together");
            }
            c.begin_lease("run").await?;
            let code = run::run(
                &c,
                run::RunArgs {
                    image,
                    id,
                    args,
                    rm,
                    tty,
                    detach,
                    runtime,
                    runc_binary,
                    snapshotter,
                    env,
                    cwd,
                },
            )
            .await;
            c.end_lease().await;
            return code;
        }
        Cmd::Events { filters } => {
            let mut s = c
                .events()
                .subscribe(c.req(api::SubscribeRequest { filters }))
                .await
                .map_err(status)?
                .into_inner();
            while let Some(env) = s.message().await.map_err(status)? {
                let ev = env.event.as_ref().map(event_json).unwrap_or_default();
                println!(
                    "{} {} {} {}",
                    fmt_time(&env.timestamp),
                    env.namespace,
                    env.topic,
                    ev
                );
            }
        }
    }
    Ok(0)
}

/// go-units `HumanSize`: decimal units, four significant digits.
fn human_size(n: i64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    let int_digits = if v < 1.0 {
        1
    } else {
        (v.log10().floor() as usize) + 1
    };
    let s = format!("{v:.*}", 4usize.saturating_sub(int_digits));
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    format!("{s}{}", units[i])
}

/// go-units `HumanDuration`, as ctr prints ages.
fn human_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        _ if s < 48 * 3600 => format!("{} hours", s / 3600),
        _ => format!("{} days", s / 86400),
    }
}

/// An event as JSON, for the event types containerd publishes.
fn event_json(any: &prost_types::Any) -> String {
    use containerd_client::events as ev;
    use prost::Message;
    let name = any.type_url.rsplit('/').next().unwrap_or("");
    let v = any.value.as_slice();
    let j = match name {
        "containerd.events.TaskExit" => ev::TaskExit::decode(v).map(|e| serde_json::json!({"container_id": e.container_id, "id": e.id, "pid": e.pid, "exit_status": e.exit_status})),
        "containerd.events.TaskStart" => ev::TaskStart::decode(v).map(|e| serde_json::json!({"container_id": e.container_id, "pid": e.pid})),
        "containerd.events.TaskCreate" => ev::TaskCreate::decode(v).map(|e| serde_json::json!({"container_id": e.container_id, "bundle": e.bundle, "pid": e.pid})),
        "containerd.events.TaskDelete" => ev::TaskDelete::decode(v).map(|e| serde_json::json!({"container_id": e.container_id, "pid": e.pid, "exit_status": e.exit_status})),
        "containerd.events.TaskPaused" => ev::TaskPaused::decode(v).map(|e| serde_json::json!({"container_id": e.container_id})),
        "containerd.events.TaskResumed" => ev::TaskResumed::decode(v).map(|e| serde_json::json!({"container_id": e.container_id})),
        "containerd.events.TaskExecAdded" => ev::TaskExecAdded::decode(v).map(|e| serde_json::json!({"container_id": e.container_id, "exec_id": e.exec_id})),
        "containerd.events.TaskExecStarted" => ev::TaskExecStarted::decode(v).map(|e| serde_json::json!({"container_id": e.container_id, "exec_id": e.exec_id, "pid": e.pid})),
        "containerd.events.ContainerCreate" => ev::ContainerCreate::decode(v).map(|e| serde_json::json!({"id": e.id, "image": e.image})),
        "containerd.events.ContainerDelete" => ev::ContainerDelete::decode(v).map(|e| serde_json::json!({"id": e.id})),
        "containerd.events.SnapshotPrepare" => ev::SnapshotPrepare::decode(v).map(|e| serde_json::json!({"key": e.key, "parent": e.parent})),
        "containerd.events.SnapshotCommit" => ev::SnapshotCommit::decode(v).map(|e| serde_json::json!({"key": e.key, "name": e.name})),
        "containerd.events.SnapshotRemove" => ev::SnapshotRemove::decode(v).map(|e| serde_json::json!({"key": e.key})),
        _ => return format!("{{\"type_url\":{:?}}}", any.type_url),
    };
    j.map(|j| j.to_string()).unwrap_or_default()
}

async fn tasks(c: &Client, cmd: TaskCmd) -> anyhow::Result<i32> {
    match cmd {
        TaskCmd::Ls { quiet } => {
            let ts = c
                .tasks()
                .list(c.req(api::ListTasksRequest {
                    filter: String::new(),
                }))
                .await
                .map_err(status)?
                .into_inner()
                .tasks;
            let mut w = TabWriter::new(4, 4, ' ');
            w.line("TASK\tPID\tSTATUS\t");
            for t in ts {
                if quiet {
                    println!("{}", t.id);
                }
                w.line(&format!("{}\t{}\t{}", t.id, t.pid, status_name(t.status)));
            }
            if !quiet {
                w.print();
            }
        }
        TaskCmd::Kill {
            signal,
            all,
            exec_id,
            id,
        } => {
            c.tasks()
                .kill(c.req(api::KillRequest {
                    container_id: id,
                    exec_id,
                    signal: signal_number(&signal)?,
                    all,
                }))
                .await
                .map_err(status)?;
        }
        TaskCmd::Ps { id } => {
            let ps = c
                .tasks()
                .list_pids(c.req(api::ListPidsRequest { container_id: id }))
                .await
                .map_err(status)?
                .into_inner()
                .processes;
            let mut w = TabWriter::new(1, 8, ' ');
            w.line("PID\tINFO");
            for p in ps {
                w.line(&format!(
                    "{}\t{}",
                    p.pid,
                    if p.info.is_some() {
                        "&ProcessDetails{ExecID:...}"
                    } else {
                        "-"
                    }
                ));
            }
            w.print();
        }
        TaskCmd::Pause { id } => {
            c.tasks()
                .pause(c.req(api::PauseTaskRequest { container_id: id }))
                .await
                .map_err(status)?;
        }
        TaskCmd::Resume { id } => {
            c.tasks()
                .resume(c.req(api::ResumeTaskRequest { container_id: id }))
                .await
                .map_err(status)?;
        }
        TaskCmd::Start { id } => {
            c.tasks()
                .start(c.req(api::StartRequest {
                    container_id: id,
                    exec_id: String::new(),
                }))
                .await
                .map_err(status)?;
        }
        TaskCmd::Rm { force, id } => {
            let p = c
                .tasks()
                .get(c.req(api::GetRequest {
                    container_id: id.clone(),
                    exec_id: String::new(),
                }))
                .await
                .map_err(status)?
                .into_inner()
                .process
                .unwrap_or_default();
            if p.status != 3 && p.status != 1 {
                if !force {
                    bail!(
                        "task must be stopped before deletion: {}: failed precondition",
                        status_name(p.status).to_lowercase()
                    );
                }
                let _ = c
                    .tasks()
                    .kill(c.req(api::KillRequest {
                        container_id: id.clone(),
                        exec_id: String::new(),
                        signal: libc::SIGKILL as u32,
                        all: true,
                    }))
                    .await;
                let _ = c
                    .tasks()
                    .wait(c.req(api::WaitRequest {
                        container_id: id.clone(),
                        exec_id: String::new(),
                    }))
                    .await;
            }
            let r = c
                .tasks()
                .delete(c.req(api::DeleteTaskRequest {
                    container_id: id.clone(),
                }))
                .await
                .map_err(status)?
                .into_inner();
            if r.exit_status != 0 {
                eprintln!(
                    "WARN[0000] task {id} exit with non-zero exit code {}",
                    r.exit_status
                );
            }
        }
        TaskCmd::Exec {
            exec_id,
            tty,
            id,
            args,
        } => {
            return run::exec(c, &id, &exec_id, tty, args).await;
        }
    }
    Ok(0)
}

/// Entry point of the binary.
pub fn run_cli() -> i32 {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ctr: {e:#}");
            return 1;
        }
    };
    match rt.block_on(main(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ctr: {e:#}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_times_as_ctr_prints_them() {
        assert_eq!(human_size(1_034_346), "1.034MB");
        assert_eq!(human_size(422), "422B");
        assert_eq!(human_size(264), "264B");
        assert_eq!(
            human_duration(std::time::Duration::from_millis(300)),
            "Less than a second"
        );
        let t = Some(prost_types::Timestamp {
            seconds: 1_795_426_687,
            nanos: 421_095_675,
        });
        assert_eq!(fmt_time(&t), "2026-11-23 09:38:07.421095675 +0000 UTC");
        assert_eq!(signal_number("SIGKILL").unwrap(), 9);
        assert_eq!(signal_number("term").unwrap(), 15);
        assert!(signal_number("BOGUS").is_err());
    }
}
