//! OCI hooks: each runs with the container state JSON on stdin, its own args and env,
//! and an optional timeout; a failing hook fails the lifecycle step (except poststop,
//! whose failures are only logged, as the spec says).

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("error running hook #{index}: {reason}, stdout: {stdout}, stderr: {stderr}")]
    Failed {
        index: usize,
        reason: String,
        stdout: String,
        stderr: String,
    },
}

pub fn run_all(hooks: Option<&Vec<Hook>>, state: &[u8]) -> Result<(), HookError> {
    for (index, h) in hooks.into_iter().flatten().enumerate() {
        run_one(index, h, state)?;
    }
    Ok(())
}

fn run_one(index: usize, hook: &Hook, state: &[u8]) -> Result<(), HookError> {
    let fail = |reason: String, stdout: &[u8], stderr: &[u8]| HookError::Failed {
        index,
        reason,
        stdout: String::from_utf8_lossy(stdout).trim_end().to_string(),
        stderr: String::from_utf8_lossy(stderr).trim_end().to_string(),
    };
    let mut cmd = Command::new(hook.path());
    let args = hook.args().clone().unwrap_or_default();
    if let Some(a0) = args.first() {
        cmd.arg0(a0);
    }
    cmd.args(args.iter().skip(1));
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        fail(
            format!("fork/exec {}: {e}", hook.path().display()),
            b"",
            b"",
        )
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading its stdin: EPIPE is not a failure.
        let _ = stdin.write_all(state);
    }
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) => {}
            Err(e) => return Err(fail(e.to_string(), b"", b"")),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let out = child.wait_with_output().ok();
            let (o, e) = out.map(|o| (o.stdout, o.stderr)).unwrap_or_default();
            return Err(fail("timeout".into(), &o, &e));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(e.to_string(), b"", b""))?;
    if !out.status.success() {
        let reason = match out.status.code() {
            Some(c) => format!("exit status {c}"),
            None => "signal: killed".to_string(),
        };
        return Err(fail(reason, &out.stdout, &out.stderr));
    }
    Ok(())
}
