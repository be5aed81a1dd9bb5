//! What a Dockerfile does to an image's config, stage by stage, with docker's scoping
//! of variables: ARGs before the first FROM are global and only visible in FROM lines
//! (a stage sees one only after re-declaring it with `ARG NAME`), a stage's ARGs are
//! visible from their declaration to the end of the stage, build args override ARG
//! defaults and only for declared ARGs, and ENV wins over an ARG of the same name.
//!
//! The engine's builder runs RUN/ADD/COPY itself; this module gives it the expanded
//! arguments and the config changes, and the golden tests compare the result with
//! the config Debian's dockerd builds.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::instruction::{Command, CommandLine, CopyArgs, HealthcheckArgs, Instruction};
use crate::shell::{Env, Lexer, ShellError};
use crate::Dockerfile;

/// Build args every RUN sees without an ARG declaring them (and that are never
/// reported as unused), as docker defines them.
pub const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Build args that no ARG of the Dockerfile declares (docker warns: `[Warning] One or
/// more build-args [..] were not consumed`), sorted.
pub fn unused_build_args(df: &Dockerfile, build_args: &HashMap<String, String>) -> Vec<String> {
    let declared = |name: &str| {
        df.meta_args
            .iter()
            .chain(df.stages.iter().flat_map(|s| s.instructions.iter()))
            .any(|i| matches!(&i.command, Command::Arg(a) if a.iter().any(|(n, _)| n == name)))
    };
    let mut unused: Vec<String> = build_args
        .keys()
        .filter(|k| !PREDEFINED_ARGS.contains(&k.as_str()) && !declared(k))
        .cloned()
        .collect();
    unused.sort();
    unused
}

/// Linux's default PATH, added to every stage whose base has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// The parts of an image config a Dockerfile sets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageConfig {
    /// `KEY=value`, in the order first set.
    pub env: Vec<String>,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub working_dir: String,
    pub user: String,
    pub labels: BTreeMap<String, String>,
    /// `80/tcp` form.
    pub exposed_ports: BTreeSet<String>,
    pub volumes: BTreeSet<String>,
    pub stop_signal: Option<String>,
    pub healthcheck: Option<HealthcheckArgs>,
    pub shell: Option<Vec<String>>,
    pub on_build: Vec<String>,
    /// MAINTAINER (the image's `Author`, outside the config proper).
    pub author: String,
}

impl ImageConfig {
    fn env_map(&self) -> Env {
        self.env
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv.clone(), String::new()),
            })
            .collect()
    }
    fn set_env(&mut self, key: &str, value: &str) {
        let entry = format!("{key}={value}");
        match self
            .env
            .iter_mut()
            .find(|kv| kv.split_once('=').map(|(k, _)| k) == Some(key))
        {
            Some(slot) => *slot = entry,
            None => self.env.push(entry),
        }
    }
    fn shell_prefix(&self) -> Vec<String> {
        self.shell
            .clone()
            .unwrap_or_else(|| DEFAULT_SHELL.iter().map(|s| s.to_string()).collect())
    }
}

/// A build step with its arguments expanded, for the engine to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The command line as it runs (shell prefix applied) and the build args the
    /// RUN sees as environment (declared ARGs with a value, not overridden by ENV).
    Run {
        argv: Vec<String>,
        build_env: Vec<String>,
    },
    Add(CopyArgs),
    Copy(CopyArgs),
    /// Anything that only changed the config.
    Config,
}

/// One evaluated stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageResult {
    pub name: Option<String>,
    /// The base after substitution of global ARGs (an image or an earlier stage's name).
    pub base: String,
    pub platform: Option<String>,
    pub config: ImageConfig,
    /// Each instruction after FROM with its step.
    pub steps: Vec<(Instruction, Step)>,
    /// The config after each step (the builder commits one image per step); the
    /// config after ONBUILD triggers of the base when there are no steps yet.
    pub configs: Vec<ImageConfig>,
    /// The config the stage starts from, its base's ONBUILD triggers applied.
    pub start: ImageConfig,
}

/// Why evaluation failed, naming the line like docker's step errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("{0}")]
    Shell(#[from] ShellError),
    #[error("Invalid containerPort: {0}")]
    Port(String),
    #[error("Invalid proto: {0}")]
    Proto(String),
    #[error("Invalid range specified for the Port: {0}")]
    Range(String),
    #[error("base name ({0}) should not be blank")]
    BlankBase(String),
    #[error("failed to parse ONBUILD trigger {0:?}: {1}")]
    Trigger(String, String),
}

/// Evaluate every stage. `base_config` gives the config of an external base image
/// (None: an empty config, as for `scratch`).
pub fn evaluate(
    df: &Dockerfile,
    build_args: &HashMap<String, String>,
    base_config: &dyn Fn(&str) -> Option<ImageConfig>,
) -> Result<Vec<StageResult>, EvalError> {
    let lex = Lexer::new(df.directives.escape);
    let mut meta: Env = Env::new();
    for a in &df.meta_args {
        if let Command::Arg(args) = &a.command {
            for (name, default) in args {
                let value = match (build_args.get(name), default) {
                    (Some(v), _) => Some(v.clone()),
                    (None, Some(d)) => Some(lex.process_word(d, &meta)?),
                    (None, None) => None,
                };
                if let Some(v) = value {
                    meta.insert(name.clone(), v);
                }
            }
        }
    }
    let mut results: Vec<StageResult> = Vec::new();
    for stage in &df.stages {
        let base = lex.process_word(&stage.base, &meta)?;
        if base.is_empty() {
            return Err(EvalError::BlankBase(stage.base.clone()));
        }
        let platform = stage
            .platform
            .as_ref()
            .map(|p| lex.process_word(p, &meta))
            .transpose()?;
        let mut config = match results
            .iter()
            .find(|r| r.name.as_deref() == Some(base.to_ascii_lowercase().as_str()))
        {
            Some(prev) => prev.config.clone(),
            None if base == "scratch" => ImageConfig::default(),
            None => base_config(&base).unwrap_or_default(),
        };
        if !config.env.iter().any(|kv| kv.starts_with("PATH=")) {
            config.env.push(format!("PATH={DEFAULT_PATH}"));
        }
        let mut state = StageState {
            lex,
            args: Vec::new(),
            build_args,
            meta: &meta,
            cmd_set: false,
        };
        let triggers = std::mem::take(&mut config.on_build);
        let mut steps = Vec::new();
        let mut configs = Vec::new();
        for t in &triggers {
            let parsed = crate::parse(&format!("FROM scratch\n{t}\n"))
                .map_err(|e| EvalError::Trigger(t.clone(), e.message))?;
            for ins in &parsed.stages[0].instructions {
                state.apply(ins, &mut config)?;
            }
        }
        let start = config.clone();
        for ins in &stage.instructions {
            let step = state.apply(ins, &mut config)?;
            steps.push((ins.clone(), step));
            configs.push(config.clone());
        }
        results.push(StageResult {
            name: stage.name.clone(),
            base,
            platform,
            config,
            steps,
            configs,
            start,
        });
    }
    Ok(results)
}

struct StageState<'a> {
    lex: Lexer,
    /// Declared ARGs in order, with their value if any.
    args: Vec<(String, Option<String>)>,
    build_args: &'a HashMap<String, String>,
    meta: &'a Env,
    cmd_set: bool,
}

impl StageState<'_> {
    /// Variables for substitution: declared ARGs, then ENV over them.
    fn env(&self, config: &ImageConfig) -> Env {
        let mut env: Env = self
            .args
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        env.extend(config.env_map());
        env
    }

    fn apply(&mut self, ins: &Instruction, config: &mut ImageConfig) -> Result<Step, EvalError> {
        let env = self.env(config);
        let word = |w: &str| self.lex.process_word(w, &env);
        let words = |w: &str| self.lex.process_words(w, &env);
        match &ins.command {
            Command::From { .. } => {}
            Command::Run(cl) => {
                let argv = match cl {
                    CommandLine::Exec(v) => v.clone(),
                    CommandLine::Shell(s) => {
                        let mut v = config.shell_prefix();
                        v.push(s.clone());
                        v
                    }
                };
                let env_keys = config.env_map();
                let mut build_env: Vec<String> = self
                    .args
                    .iter()
                    .filter(|(k, _)| !env_keys.contains_key(k))
                    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
                    .collect();
                for k in PREDEFINED_ARGS {
                    if let Some(v) = self.build_args.get(*k) {
                        if !self.args.iter().any(|(n, _)| n == k) && !env_keys.contains_key(*k) {
                            build_env.push(format!("{k}={v}"));
                        }
                    }
                }
                return Ok(Step::Run { argv, build_env });
            }
            Command::Cmd(cl) => {
                config.cmd = Some(self.command_line(cl, config));
                self.cmd_set = true;
            }
            Command::Entrypoint(cl) => {
                // An empty ENTRYPOINT (either form) clears it, as docker's parser maps
                // empty to nil for ENTRYPOINT only.
                let empty = match cl {
                    CommandLine::Exec(v) => v.is_empty(),
                    CommandLine::Shell(s) => s.is_empty(),
                };
                config.entrypoint = (!empty).then(|| self.command_line(cl, config));
                if !self.cmd_set {
                    config.cmd = None;
                }
            }
            Command::User(u) => config.user = word(u)?,
            Command::Workdir(w) => {
                let w = word(w)?;
                let joined = if w.starts_with('/') {
                    w
                } else {
                    format!("{}/{w}", config.working_dir)
                };
                config.working_dir = clean_path(&joined);
            }
            Command::Expose(ports) => {
                for p in ports {
                    for spec in words(p)? {
                        for port in port_specs(&spec)? {
                            config.exposed_ports.insert(port);
                        }
                    }
                }
            }
            Command::Env(pairs) => {
                let mut expanded = Vec::new();
                for (k, v) in pairs {
                    expanded.push((word(k)?, word(v)?));
                }
                for (k, v) in expanded {
                    config.set_env(&k, &v);
                }
            }
            Command::Label(pairs) => {
                for (k, v) in pairs {
                    let (k, v) = (word(k)?, word(v)?);
                    config.labels.insert(k, v);
                }
            }
            Command::Arg(args) => {
                for (name, default) in args {
                    let value = match (self.build_args.get(name), default) {
                        (Some(v), _) => Some(v.clone()),
                        (None, Some(d)) => Some(self.lex.process_word(d, &self.env(config))?),
                        (None, None) => self.meta.get(name).cloned(),
                    };
                    self.args.retain(|(k, _)| k != name);
                    self.args.push((name.clone(), value));
                }
            }
            Command::Add(c) | Command::Copy(c) => {
                let expand = |s: &String| word(s);
                let args = CopyArgs {
                    sources: c.sources.iter().map(expand).collect::<Result<_, _>>()?,
                    dest: expand(&c.dest)?,
                    from: c.from.as_ref().map(expand).transpose()?,
                    chown: c.chown.as_ref().map(expand).transpose()?,
                    chmod: c.chmod.as_ref().map(expand).transpose()?,
                    link: c.link,
                    json: c.json,
                };
                return Ok(if matches!(ins.command, Command::Add(_)) {
                    Step::Add(args)
                } else {
                    Step::Copy(args)
                });
            }
            Command::Volume(vs) => {
                for v in vs {
                    let v = word(v)?;
                    config.volumes.insert(v);
                }
            }
            Command::Onbuild(inner) => config.on_build.push(inner.original.clone()),
            Command::Maintainer(m) => config.author = m.clone(),
            Command::StopSignal(s) => config.stop_signal = Some(word(s)?),
            Command::Healthcheck(h) => config.healthcheck = Some(h.clone()),
            Command::Shell(s) => config.shell = Some(s.clone()),
        }
        Ok(Step::Config)
    }

    fn command_line(&self, cl: &CommandLine, config: &ImageConfig) -> Vec<String> {
        match cl {
            CommandLine::Exec(v) => v.clone(),
            CommandLine::Shell(s) => {
                let mut v = config.shell_prefix();
                // `CMD` alone is the shell with no command line, not an empty argument.
                if !s.is_empty() {
                    v.push(s.clone());
                }
                v
            }
        }
    }
}

/// `80`, `80/udp`, `8000-8002/tcp` → `80/tcp`, ... (docker's nat.ParsePortSpecs).
fn port_specs(spec: &str) -> Result<Vec<String>, EvalError> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(EvalError::Proto(proto));
    }
    let parse = |s: &str| -> Result<u16, EvalError> {
        s.parse::<u16>()
            .map_err(|_| EvalError::Port(ports.to_string()))
    };
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let p = parse(ports)?;
            (p, p)
        }
    };
    if end < start {
        return Err(EvalError::Range(ports.to_string()));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// Lexical clean of an absolute path (Go's path.Clean for rooted paths).
fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str, args: &[(&str, &str)]) -> Vec<StageResult> {
        let df = crate::parse(text).unwrap();
        let args = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        evaluate(&df, &args, &|_| None).unwrap()
    }

    #[test]
    fn arg_and_env_scoping() {
        let text = "ARG BASE=scratch\nARG V=1\nFROM ${BASE} AS one\nENV A=$V\nARG V\nENV B=$V C=${BASE:-none}\nARG L=local\nENV L=env D=$L\nENV E=$L\nFROM one\nENV F=${L:-unset} G=$A\n";
        let st = eval(text, &[]);
        assert_eq!(st[0].base, "scratch");
        assert_eq!(
            st[0].config.env,
            [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "A=",
                "B=1",
                "C=none",
                "L=env",
                "D=local",
                "E=env"
            ]
        );
        let env1 = &st[1].config.env;
        assert!(env1.contains(&"F=env".to_string()), "{env1:?}");
        assert!(env1.contains(&"G=".to_string()));
        let st = eval(text, &[("V", "9"), ("L", "cli")]);
        assert!(st[0].config.env.contains(&"B=9".to_string()));
        assert!(st[0].config.env.contains(&"D=cli".to_string()));
    }

    #[test]
    fn env_in_one_instruction_sees_the_old_values() {
        let st = eval(
            "FROM scratch\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n",
            &[],
        );
        let env = &st[0].config.env[1..];
        assert_eq!(env, ["abc=bye", "def=hello", "ghi=bye"]);
    }

    #[test]
    fn config_instructions() {
        let text = "FROM scratch\nWORKDIR rel\nWORKDIR sub/../x\nENTRYPOINT echo hi\nEXPOSE 80 90/udp 1000-1002\nONBUILD  run   echo  x\nLABEL a=b \"c d\"=\"e f\"\nVOLUME /v1 /v2\nSTOPSIGNAL SIGKILL\nUSER 1000:1000\nSHELL [\"/bin/bash\", \"-ec\"]\nCMD run me\nMAINTAINER someone\n";
        let c = &eval(text, &[])[0].config;
        assert_eq!(c.working_dir, "/rel/x");
        assert_eq!(
            c.entrypoint.as_deref().unwrap(),
            ["/bin/sh", "-c", "echo hi"]
        );
        assert_eq!(c.cmd.as_deref().unwrap(), ["/bin/bash", "-ec", "run me"]);
        assert_eq!(
            c.exposed_ports.iter().collect::<Vec<_>>(),
            ["1000/tcp", "1001/tcp", "1002/tcp", "80/tcp", "90/udp"]
        );
        assert_eq!(c.on_build, ["run   echo  x"]);
        assert_eq!(c.labels.get("c d").map(String::as_str), Some("e f"));
        assert_eq!(c.volumes.len(), 2);
        assert_eq!(c.stop_signal.as_deref(), Some("SIGKILL"));
        assert_eq!(c.user, "1000:1000");
        assert_eq!(c.author, "someone");
    }

    #[test]
    fn entrypoint_resets_an_inherited_cmd_only() {
        let st = eval("FROM scratch AS a\nCMD [\"a\"]\nFROM a\nENTRYPOINT [\"e\"]\nFROM a\nCMD [\"c\"]\nENTRYPOINT [\"e\"]\n", &[]);
        assert_eq!(st[1].config.cmd, None);
        assert_eq!(st[2].config.cmd.as_deref().unwrap(), ["c"]);
    }

    #[test]
    fn onbuild_triggers_run_in_the_child() {
        let st = eval("FROM scratch AS p\nONBUILD ENV T=1\nFROM p\n", &[]);
        assert_eq!(st[0].config.on_build, ["ENV T=1"]);
        assert!(st[1].config.on_build.is_empty());
        assert!(st[1].config.env.contains(&"T=1".to_string()));
    }

    #[test]
    fn run_sees_build_args_and_copy_is_expanded() {
        let st = eval(
            "FROM scratch\nARG X=1\nENV D=/dst\nRUN echo $X\nCOPY --chown=${X}:${X} a$X $D/\n",
            &[],
        );
        let (_, run) = &st[0].steps[2];
        assert_eq!(
            run,
            &Step::Run {
                argv: vec!["/bin/sh".into(), "-c".into(), "echo $X".into()],
                build_env: vec!["X=1".into()]
            }
        );
        let Step::Copy(c) = &st[0].steps[3].1 else {
            panic!()
        };
        assert_eq!(
            (c.sources.as_slice(), c.dest.as_str(), c.chown.as_deref()),
            (&["a1".to_string()][..], "/dst/", Some("1:1"))
        );
    }

    #[test]
    fn proxies_reach_run_and_unused_args_are_reported() {
        let text = "ARG G\nFROM scratch\nARG X\nRUN true\n";
        let df = crate::parse(text).unwrap();
        let args: HashMap<String, String> = [
            ("X", "1"),
            ("http_proxy", "p"),
            ("NOPE", "n"),
            ("G", "g"),
            ("ALSO", "a"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(unused_build_args(&df, &args), ["ALSO", "NOPE"]);
        let st = evaluate(&df, &args, &|_| None).unwrap();
        let Step::Run { build_env, .. } = &st[0].steps[1].1 else {
            panic!()
        };
        assert_eq!(build_env, &["X=1", "http_proxy=p"]);
    }

    #[test]
    fn bad_ports() {
        let df = crate::parse("FROM scratch\nEXPOSE 80/bogus\n").unwrap();
        let e = evaluate(&df, &HashMap::new(), &|_| None).unwrap_err();
        assert_eq!(e.to_string(), "Invalid proto: bogus");
        let df = crate::parse("FROM scratch\nEXPOSE abc\n").unwrap();
        let e = evaluate(&df, &HashMap::new(), &|_| None).unwrap_err();
        assert_eq!(e.to_string(), "Invalid containerPort: abc");
    }
}
