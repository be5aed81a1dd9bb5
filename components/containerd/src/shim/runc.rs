//! Running the OCI runtime (`runc` or whatever binary the runtime options name). Every
//! command's exit is collected by the shim's reaper, so children are spawned and never
//! waited on directly.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;

use super::reaper::Reaper;
use super::stdio::ContainerSide;

#[derive(Clone)]
pub struct Runc {
    pub binary: String,
    pub root: PathBuf,
    pub reaper: Arc<Reaper>,
}

#[derive(Debug, thiserror::Error)]
pub enum RuncError {
    #[error("runc did not start ({binary}): {source}")]
    Spawn {
        binary: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Failed(String),
}

/// The last error runc logged (json log lines `{"level":"error","msg":...}`).
fn last_log_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["level"] == "error")
        .and_then(|v| v["msg"].as_str().map(str::to_owned))
}

/// Everything a pipe from a child holds until the child closes it.
async fn read_all(fd: Option<OwnedFd>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(Ok(mut rx)) = fd.map(pipe::Receiver::from_owned_fd) {
        let _ = rx.read_to_end(&mut buf).await;
    }
    buf
}

impl Runc {
    fn command(&self, log: Option<&Path>) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--root").arg(&self.root);
        if let Some(l) = log {
            c.arg("--log").arg(l).args(["--log-format", "json"]);
        }
        c
    }

    /// Run to completion; returns stdout, or an error with runc's own message.
    pub async fn run(
        &self,
        args: &[&str],
        stdin: Option<Vec<u8>>,
        side: Option<ContainerSide>,
        log: Option<&Path>,
    ) -> Result<Vec<u8>, RuncError> {
        let mut cmd = self.command(log);
        cmd.args(args);
        let capture = side.is_none();
        match side {
            Some(s) => {
                cmd.stdin(s.stdin).stdout(s.stdout).stderr(s.stderr);
            }
            None => {
                cmd.stdin(if stdin.is_some() {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            }
        }
        let mut child = cmd.spawn().map_err(|source| RuncError::Spawn {
            binary: self.binary.clone(),
            source,
        })?;
        drop(cmd);
        let pid = child.id() as i32;
        // Pipes are read and written on the runtime: no thread per command.
        let input = child.stdin.take().map(OwnedFd::from);
        let (out, err) = (
            child.stdout.take().map(OwnedFd::from),
            child.stderr.take().map(OwnedFd::from),
        );
        // The child is reaped by the reaper; the handle must never wait.
        std::mem::forget(child);
        let feed = async move {
            if let (Some(data), Some(fd)) = (stdin, input) {
                if let Ok(mut tx) = pipe::Sender::from_owned_fd(fd) {
                    let _ = tx.write_all(&data).await;
                }
            }
        };
        let (status, stdout, stderr, ()) =
            tokio::join!(self.reaper.wait(pid), read_all(out), read_all(err), feed);
        if status == 0 {
            return Ok(stdout);
        }
        let msg = log
            .and_then(last_log_error)
            .or_else(|| {
                let s = String::from_utf8_lossy(&stderr).trim().to_owned();
                (capture && !s.is_empty()).then_some(s)
            })
            .unwrap_or_else(|| {
                format!(
                    "{} {} exited with status {status}",
                    self.binary,
                    args.first().unwrap_or(&"")
                )
            });
        Err(RuncError::Failed(msg))
    }
}
