//! Daemon configuration: dockerd's command-line flags merged with `daemon.json`, with
//! dockerd's rules (a key unknown to the file, or set both in the file and by a flag,
//! stops the daemon at start with dockerd's wording).

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unable to configure the Docker daemon with file {file}: {why}")]
    File { file: String, why: String },
    #[error("{0}")]
    Invalid(String),
}

/// dockerd's flags (the subset this engine honours; the rest are accepted and ignored
/// where dockerd's behaviour without them is the same here).
#[derive(Parser, Debug, Clone)]
#[command(
    name = "dockerd",
    about = "A self-sufficient runtime for containers.",
    disable_version_flag = true
)]
pub struct Flags {
    /// Daemon socket(s) to connect to
    #[arg(short = 'H', long = "host", action = ArgAction::Append)]
    pub hosts: Vec<String>,
    /// Root directory of persistent Docker state
    #[arg(long = "data-root", short = 'g', default_value = "/var/lib/docker")]
    pub data_root: PathBuf,
    /// Root directory for execution state files
    #[arg(long = "exec-root", default_value = "/var/run/docker")]
    pub exec_root: PathBuf,
    /// Path to use for daemon PID file
    #[arg(short = 'p', long = "pidfile", default_value = "/var/run/docker.pid")]
    pub pidfile: PathBuf,
    /// Daemon configuration file
    #[arg(long = "config-file", default_value = "/etc/docker/daemon.json")]
    pub config_file: PathBuf,
    /// Enable debug mode
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
    /// Set the logging level
    #[arg(short = 'l', long = "log-level", default_value = "info")]
    pub log_level: String,
    /// containerd grpc address
    #[arg(long = "containerd")]
    pub containerd: Option<String>,
    /// containerd namespace to use
    #[arg(long = "containerd-namespace", default_value = "moby")]
    pub containerd_namespace: String,
    /// Enable live restore of docker when containers are still running
    #[arg(long = "live-restore")]
    pub live_restore: bool,
    /// Storage driver to use
    #[arg(short = 's', long = "storage-driver")]
    pub storage_driver: Option<String>,
    /// Enable addition of iptables rules
    #[arg(long = "iptables", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub iptables: bool,
    /// Enable addition of ip6tables rules
    #[arg(long = "ip6tables", default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub ip6tables: bool,
    /// Attach containers to a network bridge
    #[arg(short = 'b', long = "bridge")]
    pub bridge: Option<String>,
    /// Specify network bridge IP
    #[arg(long = "bip")]
    pub bip: Option<String>,
    /// IPv4 subnet for fixed IPs
    #[arg(long = "fixed-cidr")]
    pub fixed_cidr: Option<String>,
    /// Enable IPv6 networking on the default bridge
    #[arg(long = "ipv6", default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub ipv6: bool,
    /// IPv6 subnet for fixed IPs
    #[arg(long = "fixed-cidr-v6")]
    pub fixed_cidr_v6: Option<String>,
    /// Path to the userland proxy binary
    #[arg(long = "userland-proxy-path")]
    pub userland_proxy_path: Option<PathBuf>,
    /// Enable inter-container communication
    #[arg(long = "icc", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub icc: bool,
    /// Default OCI runtime for containers
    #[arg(long = "default-runtime", default_value = "runc")]
    pub default_runtime: String,
    /// Register an additional OCI compatible runtime (name=path)
    #[arg(long = "add-runtime", action = ArgAction::Append)]
    pub add_runtime: Vec<String>,
    /// Default driver for container logs
    #[arg(long = "log-driver", default_value = "json-file")]
    pub log_driver: String,
    /// Default log driver options for containers
    #[arg(long = "log-opt", action = ArgAction::Append)]
    pub log_opts: Vec<String>,
    /// Use TLS; implied by --tlsverify
    #[arg(long = "tls", action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", default_value_t = false)]
    pub tls: bool,
    /// Use TLS and verify the remote
    #[arg(long = "tlsverify", action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", default_value_t = false)]
    pub tlsverify: bool,
    /// Trust certs signed only by this CA
    #[arg(long = "tlscacert")]
    pub tlscacert: Option<PathBuf>,
    /// Path to TLS certificate file
    #[arg(long = "tlscert")]
    pub tlscert: Option<PathBuf>,
    /// Path to TLS key file
    #[arg(long = "tlskey")]
    pub tlskey: Option<PathBuf>,
    /// Set key=value labels to the daemon
    #[arg(long = "label", action = ArgAction::Append)]
    pub labels: Vec<String>,
    /// Set the max concurrent downloads
    #[arg(long = "max-concurrent-downloads", default_value_t = 3)]
    pub max_concurrent_downloads: u32,
    /// Set the max concurrent uploads
    #[arg(long = "max-concurrent-uploads", default_value_t = 5)]
    pub max_concurrent_uploads: u32,
    /// Preferred registry mirror
    #[arg(long = "registry-mirror", action = ArgAction::Append)]
    pub registry_mirrors: Vec<String>,
    /// Enable insecure registry communication
    #[arg(long = "insecure-registry", action = ArgAction::Append)]
    pub insecure_registries: Vec<String>,
    /// Per-registry CA and client certificates (`<dir>/<host[:port]>/`); not a
    /// dockerd flag: tests point it at a private directory instead of the host's.
    #[arg(
        long = "registry-certs-dir",
        hide = true,
        default_value = "/etc/docker/certs.d"
    )]
    pub registry_certs_dir: PathBuf,
    /// Default ulimits for containers
    #[arg(long = "default-ulimit", action = ArgAction::Append)]
    pub default_ulimits: Vec<String>,
    /// Group for the unix socket
    #[arg(short = 'G', long = "group", default_value = "docker")]
    pub group: String,
    /// Enable experimental features
    #[arg(long = "experimental")]
    pub experimental: bool,
    /// Run an init in the container to forward signals and reap processes
    #[arg(long = "init")]
    pub init: bool,
    /// Path to the docker-init binary
    #[arg(long = "init-path")]
    pub init_path: Option<PathBuf>,
    /// Enable userland proxy for loopback traffic
    #[arg(long = "userland-proxy", action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", default_value_t = true)]
    pub userland_proxy: bool,
    /// Enable net.ipv4.ip_forward
    #[arg(long = "ip-forward", action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", default_value_t = true)]
    pub ip_forward: bool,
    /// Enable IP masquerading
    #[arg(long = "ip-masq", action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", default_value_t = true)]
    pub ip_masq: bool,
    /// Set the containers network MTU
    #[arg(long = "mtu", default_value_t = 0)]
    pub mtu: u32,
    /// DNS server to use
    #[arg(long = "dns", action = ArgAction::Append)]
    pub dns: Vec<String>,
    /// Set parent cgroup for all containers
    #[arg(long = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
    /// Runtime execution options
    #[arg(long = "exec-opt", action = ArgAction::Append)]
    pub exec_opts: Vec<String>,
    /// Default shutdown timeout in seconds
    #[arg(long = "shutdown-timeout", default_value_t = 15)]
    pub shutdown_timeout: u32,
    /// Validate daemon configuration and exit
    #[arg(long = "validate")]
    pub validate: bool,
    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    pub version: bool,
}

/// The effective configuration after flags and file are merged.
#[derive(Debug, Clone)]
pub struct Config {
    pub flags: Flags,
    /// `runtimes` from the file and `--add-runtime`: name -> path.
    pub runtimes: BTreeMap<String, String>,
    pub log_opts: BTreeMap<String, String>,
    pub labels: Vec<String>,
}

/// daemon.json keys, mapped to the flag (clap id) they set; `None` for keys without a
/// flag of their own here.
const FILE_KEYS: &[(&str, Option<&str>)] = &[
    ("hosts", Some("hosts")),
    ("data-root", Some("data_root")),
    ("graph", Some("data_root")),
    ("exec-root", Some("exec_root")),
    ("pidfile", Some("pidfile")),
    ("debug", Some("debug")),
    ("log-level", Some("log_level")),
    ("containerd", Some("containerd")),
    ("containerd-namespace", Some("containerd_namespace")),
    ("live-restore", Some("live_restore")),
    ("storage-driver", Some("storage_driver")),
    ("storage-opts", None),
    ("iptables", Some("iptables")),
    ("ip6tables", Some("ip6tables")),
    ("bridge", Some("bridge")),
    ("bip", Some("bip")),
    ("fixed-cidr", Some("fixed_cidr")),
    ("ipv6", Some("ipv6")),
    ("fixed-cidr-v6", Some("fixed_cidr_v6")),
    ("userland-proxy-path", Some("userland_proxy_path")),
    ("icc", Some("icc")),
    ("default-runtime", Some("default_runtime")),
    ("runtimes", None),
    ("log-driver", Some("log_driver")),
    ("log-opts", Some("log_opts")),
    ("tls", Some("tls")),
    ("tlsverify", Some("tlsverify")),
    ("tlscacert", Some("tlscacert")),
    ("tlscert", Some("tlscert")),
    ("tlskey", Some("tlskey")),
    ("labels", Some("labels")),
    ("max-concurrent-downloads", Some("max_concurrent_downloads")),
    ("max-concurrent-uploads", Some("max_concurrent_uploads")),
    ("registry-mirrors", Some("registry_mirrors")),
    ("insecure-registries", Some("insecure_registries")),
    ("default-ulimits", Some("default_ulimits")),
    ("group", Some("group")),
    ("experimental", Some("experimental")),
    ("init", Some("init")),
    ("init-path", Some("init_path")),
    ("userland-proxy", Some("userland_proxy")),
    ("ip-forward", Some("ip_forward")),
    ("ip-masq", Some("ip_masq")),
    ("mtu", Some("mtu")),
    ("dns", Some("dns")),
    ("cgroup-parent", Some("cgroup_parent")),
    ("exec-opts", Some("exec_opts")),
    ("shutdown-timeout", Some("shutdown_timeout")),
    ("features", None),
    ("builder", None),
    ("default-address-pools", None),
    ("default-shm-size", None),
    ("max-download-attempts", None),
    ("no-new-privileges", None),
    ("selinux-enabled", None),
    ("userns-remap", None),
    ("seccomp-profile", None),
];

/// Keys SIGHUP applies without a restart (dockerd's reloadable set, as far as this
/// engine implements them).
pub const RELOADABLE: &[&str] = &[
    "debug",
    "labels",
    "live-restore",
    "max-concurrent-downloads",
    "max-concurrent-uploads",
    "registry-mirrors",
    "insecure-registries",
    "default-runtime",
    "runtimes",
    "shutdown-timeout",
];

impl Config {
    /// Parse argv and the config file.
    pub fn load(argv: impl IntoIterator<Item = String>) -> Result<Config, anyhow::Error> {
        let matches = Flags::command().try_get_matches_from(argv)?;
        let mut flags = Flags::from_arg_matches(&matches)?;
        let explicit = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
        let file_given = explicit("config_file");
        let mut runtimes = BTreeMap::new();
        let mut file_log_opts = BTreeMap::new();
        match std::fs::read_to_string(&flags.config_file) {
            Ok(text) => {
                let map = parse_file(&flags.config_file.display().to_string(), &text, &explicit)?;
                apply_file(&mut flags, &map, &mut runtimes, &mut file_log_opts).map_err(|why| {
                    ConfigError::File {
                        file: flags.config_file.display().to_string(),
                        why,
                    }
                })?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !file_given => {}
            Err(e) => {
                return Err(ConfigError::File {
                    file: flags.config_file.display().to_string(),
                    why: e.to_string(),
                }
                .into())
            }
        }
        for spec in &flags.add_runtime {
            let (name, path) = spec.split_once('=').ok_or_else(|| {
                ConfigError::Invalid(format!("invalid runtime {spec}: expected name=path"))
            })?;
            runtimes.insert(name.to_string(), path.to_string());
        }
        let mut log_opts = file_log_opts;
        for o in &flags.log_opts {
            let (k, v) = o.split_once('=').ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "invalid key/value pair format in logging options: {o}"
                ))
            })?;
            log_opts.insert(k.to_string(), v.to_string());
        }
        if !["json-file", "local", "none"].contains(&flags.log_driver.as_str()) {
            return Err(ConfigError::Invalid(format!(
                "logging driver {} is not supported by this engine (json-file, local, none)",
                flags.log_driver
            ))
            .into());
        }
        if let Some(d) = &flags.storage_driver {
            if d != "overlay2" && d != "vfs" {
                return Err(ConfigError::Invalid(format!(
                    "error initializing graphdriver: driver not supported: {d}"
                ))
                .into());
            }
        }
        if flags.tlsverify {
            flags.tls = true;
        }
        Ok(Config {
            labels: flags.labels.clone(),
            flags,
            runtimes,
            log_opts,
        })
    }
}

fn parse_file(
    file: &str,
    text: &str,
    explicit: &dyn Fn(&str) -> bool,
) -> Result<serde_json::Map<String, Value>, ConfigError> {
    let err = |why: String| ConfigError::File {
        file: file.to_string(),
        why,
    };
    let map: serde_json::Map<String, Value> =
        serde_json::from_str(text).map_err(|e| err(format!("invalid character or syntax: {e}")))?;
    let unknown: Vec<&str> = map
        .keys()
        .filter(|k| !FILE_KEYS.iter().any(|(name, _)| name == k))
        .map(|k| k.as_str())
        .collect();
    if !unknown.is_empty() {
        return Err(err(format!(
            "the following directives don't match any configuration option: {}",
            unknown.join(", ")
        )));
    }
    let mut conflicts = Vec::new();
    for (key, value) in &map {
        if let Some((_, Some(flag))) = FILE_KEYS.iter().find(|(name, _)| name == key) {
            if explicit(flag) {
                conflicts.push(format!("{key}: (from flag: <set>, from file: {value})"));
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(err(format!(
            "the following directives are specified both as a flag and in the configuration file: {}",
            conflicts.join(", ")
        )));
    }
    Ok(map)
}

fn strings(v: &Value, key: &str) -> Result<Vec<String>, String> {
    match v {
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{key} must be a list of strings"))
            })
            .collect(),
        _ => Err(format!("{key} must be a list of strings")),
    }
}

fn apply_file(
    f: &mut Flags,
    map: &serde_json::Map<String, Value>,
    runtimes: &mut BTreeMap<String, String>,
    log_opts: &mut BTreeMap<String, String>,
) -> Result<(), String> {
    for (key, v) in map {
        let s = || {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("{key} must be a string"))
        };
        let b = || {
            v.as_bool()
                .ok_or_else(|| format!("{key} must be a boolean"))
        };
        let n = || {
            v.as_u64()
                .map(|x| x as u32)
                .ok_or_else(|| format!("{key} must be a number"))
        };
        match key.as_str() {
            "hosts" => f.hosts = strings(v, key)?,
            "data-root" | "graph" => f.data_root = s()?.into(),
            "exec-root" => f.exec_root = s()?.into(),
            "pidfile" => f.pidfile = s()?.into(),
            "debug" => f.debug = b()?,
            "log-level" => f.log_level = s()?,
            "containerd" => f.containerd = Some(s()?),
            "containerd-namespace" => f.containerd_namespace = s()?,
            "live-restore" => f.live_restore = b()?,
            "storage-driver" => f.storage_driver = Some(s()?),
            "iptables" => f.iptables = b()?,
            "ip6tables" => f.ip6tables = b()?,
            "bridge" => f.bridge = Some(s()?),
            "bip" => f.bip = Some(s()?),
            "icc" => f.icc = b()?,
            "default-runtime" => f.default_runtime = s()?,
            "runtimes" => {
                let obj = v.as_object().ok_or("runtimes must be an object")?;
                for (name, rt) in obj {
                    let path = rt
                        .get("path")
                        .or_else(|| rt.get("runtimeType"))
                        .and_then(Value::as_str)
                        .ok_or_else(|| format!("runtime {name} needs a path"))?;
                    runtimes.insert(name.clone(), path.to_string());
                }
            }
            "log-driver" => f.log_driver = s()?,
            "log-opts" => {
                let obj = v.as_object().ok_or("log-opts must be an object")?;
                for (k, val) in obj {
                    let val = val
                        .as_str()
                        .ok_or_else(|| format!("log-opts {k} must be a string"))?;
                    log_opts.insert(k.clone(), val.to_string());
                }
            }
            "tls" => f.tls = b()?,
            "tlsverify" => f.tlsverify = b()?,
            "tlscacert" => f.tlscacert = Some(s()?.into()),
            "tlscert" => f.tlscert = Some(s()?.into()),
            "tlskey" => f.tlskey = Some(s()?.into()),
            "labels" => f.labels = strings(v, key)?,
            "max-concurrent-downloads" => f.max_concurrent_downloads = n()?,
            "max-concurrent-uploads" => f.max_concurrent_uploads = n()?,
            "registry-mirrors" => f.registry_mirrors = strings(v, key)?,
            "insecure-registries" => f.insecure_registries = strings(v, key)?,
            "default-ulimits" => {
                let obj = v.as_object().ok_or("default-ulimits must be an object")?;
                f.default_ulimits = obj
                    .iter()
                    .map(|(name, u)| {
                        let soft = u.get("Soft").and_then(Value::as_i64).unwrap_or(0);
                        let hard = u.get("Hard").and_then(Value::as_i64).unwrap_or(soft);
                        format!("{name}={soft}:{hard}")
                    })
                    .collect();
            }
            "group" => f.group = s()?,
            "experimental" => f.experimental = b()?,
            "init" => f.init = b()?,
            "init-path" => f.init_path = Some(s()?.into()),
            "userland-proxy" => f.userland_proxy = b()?,
            "fixed-cidr" => f.fixed_cidr = Some(s()?),
            "ipv6" => f.ipv6 = b()?,
            "fixed-cidr-v6" => f.fixed_cidr_v6 = Some(s()?),
            "userland-proxy-path" => f.userland_proxy_path = Some(s()?.into()),
            "ip-forward" => f.ip_forward = b()?,
            "ip-masq" => f.ip_masq = b()?,
            "mtu" => f.mtu = n()?,
            "dns" => f.dns = strings(v, key)?,
            "cgroup-parent" => f.cgroup_parent = Some(s()?),
            "exec-opts" => f.exec_opts = strings(v, key)?,
            "shutdown-timeout" => f.shutdown_timeout = n()?,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_with(file: &str, extra: &[&str]) -> Result<Config, anyhow::Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.json");
        std::fs::write(&path, file).unwrap();
        let mut argv = vec![
            "dockerd".to_string(),
            format!("--config-file={}", path.display()),
        ];
        argv.extend(extra.iter().map(|s| s.to_string()));
        Config::load(argv)
    }

    #[test]
    fn unknown_key_is_named() {
        let err = load_with(r#"{"debug": true, "bogus-key": 1}"#, &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "the following directives don't match any configuration option: bogus-key"
            ),
            "{err}"
        );
    }

    #[test]
    fn flag_and_file_conflict() {
        let err = load_with(r#"{"debug": true}"#, &["--debug"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("specified both as a flag and in the configuration file: debug"),
            "{err}"
        );
    }

    #[test]
    fn file_values_apply() {
        let c = load_with(
            r#"{"log-opts": {"max-size": "1m"}, "live-restore": true, "runtimes": {"x": {"path": "/bin/x"}}}"#,
            &["--iptables=false", "--bridge", "none"],
        )
        .unwrap();
        assert!(c.flags.live_restore);
        assert!(!c.flags.iptables);
        assert_eq!(c.log_opts["max-size"], "1m");
        assert_eq!(c.runtimes["x"], "/bin/x");
    }

    #[test]
    fn broken_json_is_an_error() {
        let err = load_with("{", &[]).unwrap_err().to_string();
        assert!(
            err.starts_with("unable to configure the Docker daemon with file"),
            "{err}"
        );
    }
}
