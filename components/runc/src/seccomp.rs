//! `linux.seccomp` compiled with libseccomp (the library runc uses, so rule
//! semantics, syscall names and architecture handling match): default action,
//! per-syscall actions with errno values, argument conditions, and
//! `SCMP_ACT_NOTIFY` with the listener fd sent to `listenerPath`.

use std::collections::HashSet;
use std::os::fd::RawFd;
use std::str::FromStr;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp: {0}")]
    Lib(#[from] libseccomp::error::SeccompError),
    #[error("seccomp: unsupported architecture {0}")]
    Arch(String),
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> ScmpAction {
    match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => {
            ScmpAction::Errno(errno.map_or(libc::EPERM, |e| e as i32))
        }
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActTrace => {
            ScmpAction::Trace(errno.map_or(libc::EPERM as u16, |e| e as u16))
        }
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    }
}

fn op(o: LinuxSeccompOperator, value_two: Option<u64>) -> ScmpCompareOp {
    match o {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value_two.unwrap_or(0)),
    }
}

/// Whether the profile uses SCMP_ACT_NOTIFY anywhere (then a listener is needed).
pub fn uses_notify(s: &LinuxSeccomp) -> bool {
    s.default_action() == LinuxSeccompAction::ScmpActNotify
        || s.syscalls()
            .iter()
            .flatten()
            .any(|c| c.action() == LinuxSeccompAction::ScmpActNotify)
}

/// Build the filter (not loaded).
pub fn build(s: &LinuxSeccomp) -> Result<ScmpFilterContext, SeccompError> {
    let default = action(s.default_action(), s.default_errno_ret());
    let mut ctx = ScmpFilterContext::new(default)?;
    // NNP is the spec's decision (process.noNewPrivileges), not libseccomp's.
    ctx.set_ctl_nnp(false)?;
    for arch in s.architectures().iter().flatten() {
        let name = serde_json::to_value(arch)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let a = ScmpArch::from_str(&name).map_err(|_| SeccompError::Arch(name.clone()))?;
        // Adding the native arch again is an error in libseccomp: ignore "exists".
        let _ = ctx.add_arch(a);
    }
    for sc in s.syscalls().iter().flatten() {
        let act = action(sc.action(), sc.errno_ret());
        if act == default {
            continue;
        }
        for name in sc.names() {
            // Names this libseccomp does not know are skipped, as runc does.
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let args = sc.args().clone().unwrap_or_default();
            let conds: Vec<ScmpArgCompare> = args
                .iter()
                .map(|a| {
                    ScmpArgCompare::new(a.index() as u32, op(a.op(), a.value_two()), a.value())
                })
                .collect();
            let distinct: HashSet<usize> = args.iter().map(|a| a.index()).collect();
            if conds.is_empty() {
                ctx.add_rule(act, nr)?;
            } else if distinct.len() == conds.len() {
                ctx.add_rule_conditional(act, nr, &conds)?;
            } else {
                // Several conditions on one argument: libseccomp cannot AND them, so
                // each becomes its own rule (an OR), as runc does.
                for c in &conds {
                    ctx.add_rule_conditional(act, nr, std::slice::from_ref(c))?;
                }
            }
        }
    }
    Ok(ctx)
}

/// Load the filter into this process; returns the notify fd when one exists.
pub fn load(ctx: &ScmpFilterContext, notify: bool) -> Result<Option<RawFd>, SeccompError> {
    ctx.load()?;
    if notify {
        let fd = ctx.get_notify_fd()?;
        return Ok(Some(fd));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_like_profile_compiles() {
        let json = r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
            "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
            "syscalls":[{"names":["read","write","nosuchcall"],"action":"SCMP_ACT_ALLOW"},
              {"names":["personality"],"action":"SCMP_ACT_ALLOW",
               "args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"},{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
              {"names":["clone"],"action":"SCMP_ACT_ALLOW",
               "args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#;
        let s: LinuxSeccomp = serde_json::from_str(json).unwrap();
        assert!(!uses_notify(&s));
        build(&s).unwrap();
    }
}
