//! Seccomp for containers, as dockerd applies it: the builtin profile unless the
//! container is privileged or asks for `seccomp=unconfined`, or a profile the client
//! sent (`--security-opt seccomp=<file>`: the CLI sends the file's JSON). Profiles are in
//! docker's format, whose rules may depend on the container's capabilities and the
//! architecture; they are resolved here into the OCI runtime spec's `linux.seccomp`.

use serde_json::{json, Value};

use super::ContainerError;

/// Syscalls the builtin profile allows to every container (an allowlist; anything else
/// fails with EPERM). Names unknown to the kernel's architecture are skipped by runc.
const ALLOWED: &str = "
accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime
clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect
copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old
epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit
exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir
fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr
flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync
ftruncate ftruncate64 futex futex_time64 futex_waitv futimesat getcpu getcwd getdents
getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32
getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid
getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname
getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch
inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents
io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit io_uring_enter
io_uring_register io_uring_setup ipc kill landlock_add_rule landlock_create_ruleset
landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listxattr llistxattr
_llseek lremovexattr lseek lsetxattr lstat lstat64 madvise membarrier memfd_create
memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect
mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall
munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause
pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll
ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6
pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv
recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat
renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask
rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64
rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam sched_get_priority_max
sched_get_priority_min sched_getscheduler sched_rr_get_interval
sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32
setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority
setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32
setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid
setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4
sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statx
symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create
timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64
timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times
tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat
utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
process_vm_readv process_vm_writev ptrace arch_prctl modify_ldt";

/// Syscalls a capability unlocks (the capability makes them safe enough to allow).
const BY_CAPABILITY: &[(&str, &str)] = &[
    ("CAP_DAC_READ_SEARCH", "open_by_handle_at"),
    (
        "CAP_SYS_ADMIN",
        "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount \
         mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname \
         sethostname setns syslog umount umount2 unshare",
    ),
    ("CAP_SYS_BOOT", "reboot"),
    ("CAP_SYS_CHROOT", "chroot"),
    ("CAP_SYS_MODULE", "delete_module init_module finit_module"),
    ("CAP_SYS_PACCT", "acct"),
    ("CAP_SYS_PTRACE", "kcmp pidfd_getfd process_madvise"),
    ("CAP_SYS_RAWIO", "iopl ioperm"),
    (
        "CAP_SYS_TIME",
        "settimeofday stime clock_settime clock_settime64",
    ),
    ("CAP_SYS_TTY_CONFIG", "vhangup"),
    (
        "CAP_SYS_NICE",
        "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
    ),
    ("CAP_SYSLOG", "syslog"),
    ("CAP_BPF", "bpf"),
    ("CAP_PERFMON", "perf_event_open"),
];

/// Namespace flags of clone(2) (CLONE_NEWNS..CLONE_NEWNET and CLONE_NEWCGROUP): without
/// CAP_SYS_ADMIN a container may clone only with none of them set.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

fn names(list: &'static str) -> Vec<&'static str> {
    list.split_whitespace().collect()
}

/// The builtin profile in docker's format.
pub fn builtin_profile() -> Value {
    let mut rules = vec![json!({"names": names(ALLOWED), "action": "SCMP_ACT_ALLOW"})];
    // AF_VSOCK (40) sockets stay closed; personality only with the harmless personas
    // (linux, linux32 and their unaligned-address variants, and the query).
    rules.push(json!({"names": ["socket"], "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]}));
    for persona in [0u64, 8, 0x20000, 0x20008, 0xffff_ffff] {
        rules.push(json!({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": persona, "op": "SCMP_CMP_EQ"}]}));
    }
    for (cap, calls) in BY_CAPABILITY {
        rules.push(json!({"names": names(calls), "action": "SCMP_ACT_ALLOW",
            "includes": {"caps": [cap]}}));
    }
    rules.push(json!({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": CLONE_NAMESPACE_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
        "excludes": {"caps": ["CAP_SYS_ADMIN"]}}));
    // clone3 passes its flags in memory seccomp cannot read: ENOSYS makes libcs fall
    // back to clone, which the rule above checks.
    rules.push(
        json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
        "excludes": {"caps": ["CAP_SYS_ADMIN"]}}),
    );
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
        "syscalls": rules,
    })
}

/// Whether a rule's `includes`/`excludes` (capabilities, architectures) let it apply to
/// a container with `caps` on amd64.
fn applies(rule: &Value, caps: &[String]) -> bool {
    let list = |v: Option<&Value>, key: &str| -> Vec<String> {
        v.and_then(|v| v.get(key))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let has_cap = |c: &String| caps.iter().any(|x| x == c);
    let is_ours = |a: &String| matches!(a.as_str(), "amd64" | "x86_64");
    let (inc, exc) = (rule.get("includes"), rule.get("excludes"));
    let inc_caps = list(inc, "caps");
    let inc_arches = list(inc, "arches");
    (inc_caps.is_empty() || inc_caps.iter().all(has_cap))
        && (inc_arches.is_empty() || inc_arches.iter().any(is_ours))
        && !list(exc, "caps").iter().any(has_cap)
        && !list(exc, "arches").iter().any(is_ours)
}

/// A docker-format profile as the runtime spec's `linux.seccomp` for a container whose
/// capabilities are `caps`.
pub fn to_oci(profile: &Value, caps: &[String]) -> Result<Value, ContainerError> {
    let bad =
        |why: &str| ContainerError::BadRequest(format!("Error loading seccomp profile: {why}"));
    let default = profile
        .get("defaultAction")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("defaultAction is missing"))?;
    let mut arches: Vec<Value> = Vec::new();
    if let Some(map) = profile.get("archMap").and_then(Value::as_array) {
        for m in map {
            if m["architecture"] == "SCMP_ARCH_X86_64" {
                arches.push(m["architecture"].clone());
                arches.extend(
                    m["subArchitectures"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                );
            }
        }
    } else if let Some(a) = profile.get("architectures").and_then(Value::as_array) {
        arches.extend(a.iter().cloned());
    }
    let mut syscalls = Vec::new();
    for rule in profile
        .get("syscalls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if !applies(rule, caps) {
            continue;
        }
        let mut names: Vec<Value> = rule
            .get("names")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(n) = rule.get("name").filter(|n| n.is_string()) {
            names.push(n.clone());
        }
        let mut out = json!({"names": names, "action": rule.get("action").cloned().unwrap_or(json!("SCMP_ACT_ALLOW"))});
        for key in ["args", "errnoRet"] {
            if let Some(v) = rule.get(key).filter(|v| !v.is_null()) {
                out[key] = v.clone();
            }
        }
        syscalls.push(out);
    }
    let mut oci = json!({"defaultAction": default, "architectures": arches, "syscalls": syscalls});
    if let Some(e) = profile.get("defaultErrnoRet").filter(|v| !v.is_null()) {
        oci["defaultErrnoRet"] = e.clone();
    }
    Ok(oci)
}

/// `linux.seccomp` for a container: None when it runs unconfined.
pub fn for_container(
    privileged: bool,
    security_opts: &[String],
    caps: &[String],
) -> Result<Option<Value>, ContainerError> {
    let chosen = security_opts
        .iter()
        .filter_map(|o| o.split_once(['=', ':']))
        .filter(|(k, _)| *k == "seccomp")
        .map(|(_, v)| v)
        .next_back();
    match chosen {
        Some("unconfined") => Ok(None),
        _ if privileged => Ok(None),
        None | Some("builtin") => to_oci(&builtin_profile(), caps).map(Some),
        Some(custom) => {
            let profile: Value = serde_json::from_str(custom).map_err(|e| {
                ContainerError::BadRequest(format!(
                    "Error loading seccomp profile: decoding seccomp profile failed: {e}"
                ))
            })?;
            to_oci(&profile, caps).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(oci: &Value) -> Vec<String> {
        oci["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == "SCMP_ACT_ALLOW" && r.get("args").is_none())
            .flat_map(|r| r["names"].as_array().unwrap().clone())
            .map(|n| n.as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn capabilities_unlock_their_syscalls() {
        let plain = to_oci(&builtin_profile(), &["CAP_CHOWN".into()]).unwrap();
        assert!(!names(&plain).contains(&"unshare".to_string()));
        assert!(names(&plain).contains(&"read".to_string()));
        // Without CAP_SYS_ADMIN clone is allowed only without namespace flags.
        let clone_rules: Vec<&Value> = plain["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["names"][0] == "clone")
            .collect();
        assert_eq!(clone_rules.len(), 1);
        assert_eq!(clone_rules[0]["args"][0]["op"], "SCMP_CMP_MASKED_EQ");

        let admin = to_oci(&builtin_profile(), &["CAP_SYS_ADMIN".into()]).unwrap();
        assert!(names(&admin).contains(&"unshare".to_string()));
        assert!(names(&admin).contains(&"clone".to_string()));
        assert!(!admin
            .to_string()
            .contains("clone3\"],\"action\":\"SCMP_ACT_ERRNO"));
        assert_eq!(
            admin["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        assert_eq!(admin["defaultErrnoRet"], 1);
    }

    #[test]
    fn options_choose_the_profile() {
        let caps: Vec<String> = Vec::new();
        assert!(for_container(false, &[], &caps).unwrap().is_some());
        assert!(for_container(true, &[], &caps).unwrap().is_none());
        assert!(for_container(false, &["seccomp=unconfined".into()], &caps)
            .unwrap()
            .is_none());
        let custom = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#;
        let oci = for_container(false, &[format!("seccomp={custom}")], &caps)
            .unwrap()
            .unwrap();
        assert_eq!(oci["defaultAction"], "SCMP_ACT_ALLOW");
        assert_eq!(oci["syscalls"][0]["names"][0], "mkdir");
        assert!(for_container(false, &["seccomp={broken".into()], &caps).is_err());
    }
}
