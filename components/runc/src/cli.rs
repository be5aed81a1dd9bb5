//! runc 1.1's command line: global flags, verbs and their flags, with runc's names,
//! short forms and defaults.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// First line `runc version ...` (dockerd parses the `commit:` line of this).
pub fn version_text() -> String {
    format!(
        "runc version 1.1.12-compatible\ncommit: {}-{}\nspec: 1.0.2-dev\ngo: none (rust)\nlibseccomp: 2.5.4",
        buildinfo::VERSION,
        buildinfo::GIT_COMMIT
    )
}

#[derive(Debug, Parser)]
#[command(
    name = "runc",
    about = "Open Container Initiative runtime",
    disable_version_flag = true
)]
pub struct Cli {
    /// enable debug logging
    #[arg(long, global = true)]
    pub debug: bool,
    /// set the log file to write runc logs to (default is '/dev/stderr')
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// set the log format ('text' (default), or 'json')
    #[arg(long = "log-format", default_value = "text", global = true)]
    pub log_format: String,
    /// root directory for storage of container state (this should be located in tmpfs)
    #[arg(long, default_value = "/run/runc", global = true)]
    pub root: PathBuf,
    /// path to the criu binary used for checkpoint and restore
    #[arg(long, default_value = "criu", global = true)]
    pub criu: String,
    /// enable systemd cgroup support, expects cgroupsPath to be of form "slice:prefix:name"
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// ignore cgroup permission errors ('true', 'false', or 'auto')
    #[arg(long = "rootless", id = "global_rootless", default_value = "auto")]
    pub rootless: String,
    /// print the version
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// path to the root of the bundle directory, defaults to the current directory
    #[arg(short, long)]
    pub bundle: Option<PathBuf>,
    /// path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// specify the file to write the process id to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// do not use pivot root to jail process inside rootfs
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// do not create a new session keyring for the container
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: i32,
    pub id: String,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// detach from the container's process
    #[arg(short, long)]
    pub detach: bool,
    /// keep the container's state directory and cgroup after it exits
    #[arg(long)]
    pub keep: bool,
    /// disable the use of the subreaper used to reap reparented processes
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    /// path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// current working directory in the container
    #[arg(long)]
    pub cwd: Option<String>,
    /// set environment variables
    #[arg(short, long)]
    pub env: Vec<String>,
    /// allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// UID (format: <uid>[:<gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// additional gids
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// path to the process.json
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// detach from the container's process
    #[arg(short, long)]
    pub detach: bool,
    /// specify the file to write the process id to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// set the asm process label for the process commonly used with selinux
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// set the apparmor profile for the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// set the no new privileges value for the process
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// add a capability to the bounding set for the process
    #[arg(short, long)]
    pub cap: Vec<String>,
    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: i32,
    /// run the process in an (existing) sub-cgroup(s)
    #[arg(long)]
    pub cgroup: Vec<String>,
    /// allow exec in a paused container
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    pub id: String,
    /// command and arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct UpdateArgs {
    /// path to the file containing the resources to update or '-' to read from the standard input
    #[arg(short, long)]
    pub resources: Option<String>,
    /// Specifies per cgroup weight, range is from 10 to 1000
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period to be used for hardcapping (in usecs). 0 to use system default
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    /// CPU realtime period to be used for hardcapping (in usecs). 0 to use system default
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period
    #[arg(long = "cpu-rt-runtime")]
    pub cpu_rt_runtime: Option<i64>,
    /// CPU shares (relative weight vs. other containers)
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    /// CPU(s) to use
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory node(s) to use
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Kernel memory limit (in bytes)
    #[arg(long = "kernel-memory")]
    pub kernel_memory: Option<String>,
    /// Kernel memory limit (in bytes) for tcp buffer
    #[arg(long = "kernel-memory-tcp")]
    pub kernel_memory_tcp: Option<String>,
    /// Memory limit (in bytes)
    #[arg(long)]
    pub memory: Option<String>,
    /// Memory reservation or soft_limit (in bytes)
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Total memory usage (memory + swap); set '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of pids allowed in the container
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// The string of Intel RDT/CAT L3 cache schema
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    /// The string of Intel RDT/MBA memory bandwidth schema
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
    pub id: String,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// checkpoint a running container
    Checkpoint {
        #[arg(long = "image-path")]
        image_path: Option<PathBuf>,
        #[arg(long = "work-path")]
        work_path: Option<PathBuf>,
        #[arg(long = "leave-running")]
        leave_running: bool,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        rest: Vec<String>,
    },
    /// create a container
    Create(CreateArgs),
    /// delete any resources held by the container often used with detached container
    Delete {
        /// Forcibly deletes the container if it is still running (uses SIGKILL)
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// display container events such as OOM notifications, cpu, memory, and IO usage statistics
    Events {
        /// set the stats collection interval
        #[arg(long, default_value = "5s")]
        interval: String,
        /// display the container's stats then exit
        #[arg(long)]
        stats: bool,
        id: String,
    },
    /// execute new process inside the container
    Exec(ExecArgs),
    /// show the enabled features
    Features,
    /// kill sends the specified signal (default: SIGTERM) to the container's init process
    Kill {
        /// send the specified signal to all processes inside the container
        #[arg(short, long)]
        all: bool,
        id: String,
        signal: Option<String>,
    },
    /// lists containers started by runc with the given root
    List {
        /// select one of: table or json
        #[arg(short, long, default_value = "table")]
        format: String,
        /// display only container IDs
        #[arg(short, long)]
        quiet: bool,
    },
    /// pause suspends all processes inside the container
    Pause { id: String },
    /// ps displays the processes running inside a container
    Ps {
        /// select one of: table or json
        #[arg(short, long, default_value = "table")]
        format: String,
        id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// restore a container from a previous checkpoint
    Restore {
        #[arg(long = "image-path")]
        image_path: Option<PathBuf>,
        #[arg(short, long)]
        bundle: Option<PathBuf>,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        rest: Vec<String>,
    },
    /// resumes all processes that have been previously paused
    Resume { id: String },
    /// create and run a container
    Run(RunArgs),
    /// create a new specification file
    Spec {
        /// path to the root of the bundle directory
        #[arg(short, long)]
        bundle: Option<PathBuf>,
        /// generate a configuration for a rootless container
        #[arg(long)]
        rootless: bool,
    },
    /// executes the user defined process in a created container
    Start { id: String },
    /// output the state of a container
    State { id: String },
    /// update container resource constraints
    Update(UpdateArgs),
}

impl Command {
    /// Verbs that put our code inside a container's namespaces (they run from the
    /// binary's read-only view, see `selfexec`).
    pub fn enters_container(&self) -> bool {
        matches!(
            self,
            Command::Create(_) | Command::Run(_) | Command::Exec(_)
        )
    }
}
