//! Running the host's networking tools (`ip`, `iptables`, `nsenter`): their errors
//! carry the command line and what the tool printed, so a failure names its cause.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::NetworkError;

/// Run `prog args..`, feeding `stdin` when given; its stdout on success.
pub fn run(prog: &str, args: &[&str], stdin: Option<&str>) -> Result<String, NetworkError> {
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        NetworkError::Internal(format!("cannot run {prog}: {e} (is it installed?)"))
    })?;
    if let Some(input) = stdin {
        if let Some(mut w) = child.stdin.take() {
            let _ = w.write_all(input.as_bytes());
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetworkError::Internal(format!("{prog}: {e}")))?;
    if !out.status.success() {
        return Err(NetworkError::Internal(format!(
            "{prog} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
