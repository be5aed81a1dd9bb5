//! What `version` and `info` report of the binaries dockerd runs: containerd's version
//! and revision (asked over its Version service), and the default runtime's and
//! docker-init's (read from their `--version` output), probed on each request as
//! dockerd does, so a replaced binary shows at once.

use serde_json::{json, Value};

use crate::daemon::Daemon;

/// One probed binary: its name in `Components`, version and commit.
pub struct Probed {
    pub name: String,
    pub version: String,
    pub commit: String,
}

/// The parts dockerd runs; `None` where the probe failed (dockerd then shows `N/A` in
/// `info` and leaves the component out of `version`).
pub struct Parts {
    pub containerd: Option<Probed>,
    pub runtime: Option<Probed>,
    pub init: Option<Probed>,
}

impl Parts {
    pub async fn probe(d: &Daemon) -> Parts {
        let containerd = d
            .ctrd
            .server_version()
            .await
            .ok()
            .map(|(version, commit)| Probed {
                name: "containerd".into(),
                version,
                commit,
            });
        let cfg = d.config();
        let runtime_name = cfg.flags.default_runtime.clone();
        let runtime_bin = cfg
            .runtimes
            .get(&runtime_name)
            .cloned()
            .unwrap_or_else(|| "runc".into());
        let init_bin = d.init_path.clone();
        let (runtime, init) = tokio::task::spawn_blocking(move || {
            let runtime = output_of(&runtime_bin)
                .and_then(|out| runtime_version(&out))
                .map(|(version, commit)| Probed {
                    name: runtime_name,
                    version,
                    commit,
                });
            let init = init_bin.and_then(|bin| {
                let (version, commit) = init_version(&output_of(bin.to_str()?)?)?;
                Some(Probed {
                    name: bin.file_name()?.to_string_lossy().into_owned(),
                    version,
                    commit,
                })
            });
            (runtime, init)
        })
        .await
        .unwrap_or((None, None));
        Parts {
            containerd,
            runtime,
            init,
        }
    }

    /// The `Components` entries after the engine's, in dockerd's order.
    pub fn components(&self) -> Vec<Value> {
        [&self.containerd, &self.runtime, &self.init]
            .into_iter()
            .flatten()
            .map(|p| json!({"Name": p.name, "Version": p.version, "Details": {"GitCommit": p.commit}}))
            .collect()
    }

    /// `ContainerdCommit`, `RuncCommit` and `InitCommit` of `info`: Expected is the
    /// same as ID, as dockerd sets it since the binaries ship on their own.
    pub fn commits(&self) -> [(&'static str, Value); 3] {
        let commit = |p: &Option<Probed>| {
            let id = p.as_ref().map_or("N/A", |p| p.commit.as_str());
            json!({"ID": id, "Expected": id})
        };
        [
            ("ContainerdCommit", commit(&self.containerd)),
            ("RuncCommit", commit(&self.runtime)),
            ("InitCommit", commit(&self.init)),
        ]
    }
}

/// The standard output of `<bin> --version`, if it ran and succeeded.
fn output_of(bin: &str) -> Option<String> {
    let out = std::process::Command::new(bin)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `runc version 1.1.5` / `commit: <id>` lines: (version, commit).
fn runtime_version(out: &str) -> Option<(String, String)> {
    let (mut version, mut commit) = (None, String::new());
    for line in out.trim().lines() {
        if line.contains("version") {
            version = line.rsplit("version").next().map(|v| v.trim().to_string());
        } else if let Some(c) = line.strip_prefix("commit:") {
            commit = c.trim().to_string();
        }
    }
    Some((version?, commit))
}

/// `tini version 0.19.0 - git.de40ad0`: (version, commit), either may be empty.
fn init_version(out: &str) -> Option<(String, String)> {
    let mut parts = out.trim().split(" - ");
    let version = parts
        .next()
        .and_then(|p| p.trim().strip_prefix("tini version "))
        .unwrap_or("")
        .to_string();
    let commit = parts
        .next()
        .and_then(|p| p.trim().strip_prefix("git."))
        .filter(|c| !c.contains('.'))
        .unwrap_or("")
        .to_string();
    (!version.is_empty() || !commit.is_empty()).then_some((version, commit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_outputs_parse_as_dockerd_reads_them() {
        let runc = "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\ngo: go1.19.8\nlibseccomp: 2.5.4\n";
        assert_eq!(
            runtime_version(runc),
            Some(("1.1.5+ds1".into(), "1.1.5+ds1-1+deb12u1".into()))
        );
        assert_eq!(runtime_version("no such output\n"), None);
        assert_eq!(
            init_version("tini version 0.19.0 - git.de40ad0\n"),
            Some(("0.19.0".into(), "de40ad0".into()))
        );
        assert_eq!(
            init_version("tini version 0.19.0\n"),
            Some(("0.19.0".into(), String::new()))
        );
        assert_eq!(init_version("something else"), None);
    }
}
