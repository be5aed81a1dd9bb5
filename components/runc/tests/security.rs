//! The protections the runtime owes its host, each checked by an attempt that
//! would succeed without it.

mod common;

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;

use common::{text, Bundle};
use serde_json::Value;

/// CVE-2024-21626 class: an fd the caller leaked (not close-on-exec) must not reach
/// the container, and a cwd through it must be refused.
#[test]
fn no_host_fd_or_cwd_leaks_into_the_container() {
    let b = Bundle::new(&["ls", "/proc/self/fd"], |_| {});
    let host_dir = std::fs::File::open("/tmp").unwrap();
    let raw = host_dir.as_raw_fd();
    let run = |id: &str| {
        let mut c = b.cmd(&["run", id]);
        c.stdin(std::process::Stdio::null());
        // SAFETY: dup2 in the forked child before exec; it clears close-on-exec.
        unsafe {
            c.pre_exec(move || {
                libc::dup2(raw, 7);
                Ok(())
            });
        }
        c.output().unwrap()
    };
    let o = run("leak1");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let fds: Vec<String> = text(&o.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert!(
        !fds.contains(&"7".to_string()),
        "host fd 7 reached the container: {fds:?}"
    );
    assert!(fds.len() <= 4, "{fds:?}");

    let mut cfg = b.config();
    cfg["process"]["cwd"] = Value::from("/proc/self/fd/7");
    cfg["process"]["args"] = serde_json::json!(["pwd"]);
    std::fs::write(b.path().join("config.json"), cfg.to_string()).unwrap();
    let o = run("leak2");
    assert_eq!(
        o.status.code(),
        Some(1),
        "pwd printed {:?}",
        text(&o.stdout)
    );
    assert!(!text(&o.stdout).contains("tmp"), "{}", text(&o.stdout));
    assert!(!b.root.join("leak2").exists());
}

/// CVE-2021-30465 class: a symlink in the image cannot redirect a mount onto the host.
#[test]
fn mount_destination_symlink_stays_inside_rootfs() {
    let host = tempfile::Builder::new()
        .prefix("runc-host-target-")
        .tempdir_in("/tmp")
        .unwrap();
    let target = host.path().to_path_buf();
    let b = Bundle::new(&["sh", "-c", "touch /evil/inside && echo ok"], |cfg| {
        let mounts = cfg["mounts"].as_array_mut().unwrap();
        mounts.push(serde_json::json!({"destination": "/evil", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}));
    });
    std::os::unix::fs::symlink(&target, b.path().join("rootfs/evil")).unwrap();
    let o = b.runc(&["run", "sym"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "ok\n");
    assert!(
        !target.join("inside").exists(),
        "the container wrote into the host directory"
    );
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !info.contains(target.to_str().unwrap()),
        "a mount landed on the host path"
    );
    // The link was followed inside the rootfs instead.
    let inside = b
        .path()
        .join("rootfs")
        .join(target.strip_prefix("/").unwrap());
    assert!(inside.is_dir(), "{} not created", inside.display());
}

/// CVE-2019-5736 class: what a container sees as the runtime's executable is a
/// read-only view of it (a detached read-only overlayfs, or a sealed memfd copy),
/// never the writable file on the host. Without the protection the write below
/// fails only with "Text file busy" while the binary runs, and succeeds after.
#[test]
fn runtime_binary_is_not_reachable_from_the_container() {
    let host_bin = std::fs::canonicalize(testbed::workspace_bin("runc")).unwrap();
    let before = std::fs::read(&host_bin).unwrap();
    let b = Bundle::new(&["sleep", "1000"], |_| {});
    assert!(
        b.create("exe").status.success(),
        "{}",
        b.container_stderr("exe")
    );
    let o = b.runc(&["exec", "exe", "readlink", "/proc/1/exe"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let link = text(&o.stdout);
    assert_ne!(
        link.trim(),
        host_bin.to_string_lossy(),
        "the init runs from the host binary"
    );
    let o = b.runc(&[
        "exec",
        "exe",
        "sh",
        "-c",
        "(echo x >> /proc/1/exe) 2>&1 && echo wrote; true",
    ]);
    let out = text(&o.stdout);
    assert!(
        out.contains("Read-only file system") || out.contains("Operation not permitted"),
        "writing through /proc/1/exe: {out:?}"
    );
    assert!(
        std::fs::read(&host_bin).unwrap() == before,
        "binary changed"
    );
}

/// maskedPaths and readonlyPaths: the /proc and /sys files that reach the host.
#[test]
fn proc_and_sys_escapes_are_masked() {
    // Probe only what this kernel has (a VM kernel may lack kcore or sysrq).
    let script = "if [ -e /proc/kcore ]; then wc -c < /proc/kcore; else echo 0; fi; \
                  ls /proc/acpi 2>/dev/null | wc -l; \
                  (echo h > /proc/sys/kernel/hostname) 2>&1; \
                  if [ -e /proc/sysrq-trigger ]; then (echo s > /proc/sysrq-trigger) 2>&1; fi; \
                  (touch /sys/x) 2>&1; true";
    let expect_ro = if std::path::Path::new("/proc/sysrq-trigger").exists() {
        3
    } else {
        2
    };
    let b = Bundle::new(&["sh", "-c", script], |_| {});
    let o = b.runc(&["run", "mask"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].trim(), "0", "{out}");
    assert_eq!(lines[1].trim(), "0", "{out}");
    assert!(
        out.matches("Read-only file system").count() >= expect_ro,
        "{out}"
    );
}

/// A seccomp filter for the runtime process (and what it starts) that fails
/// `fsopen(2)` with ENOSYS, as older container seccomp profiles and kernels do:
/// the detached overlayfs view cannot be made there.
fn deny_fsopen(cmd: &mut std::process::Command) {
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const RET_ALLOW: u32 = 0x7fff_0000;
    const RET_ERRNO: u32 = 0x0005_0000;
    const SET_MODE_FILTER: libc::c_long = 1;
    let insn = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let prog = [
        // seccomp_data.nr is at offset 0.
        insn(LD_W_ABS, 0, 0, 0),
        insn(JEQ_K, 0, 1, libc::SYS_fsopen as u32),
        insn(RET_K, 0, 0, RET_ERRNO | libc::ENOSYS as u32),
        insn(RET_K, 0, 0, RET_ALLOW),
    ];
    // SAFETY: only the seccomp syscall runs between fork and exec; prog outlives
    // the spawn since the closure owns it.
    unsafe {
        cmd.pre_exec(move || {
            let fprog = libc::sock_fprog {
                len: prog.len() as u16,
                filter: prog.as_ptr() as *mut libc::sock_filter,
            };
            if libc::syscall(libc::SYS_seccomp, SET_MODE_FILTER, 0, &fprog) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// CVE-2019-5736 class, fallback path: where the read-only overlayfs view cannot be
/// made (fsopen refused), the runtime runs from a sealed memfd copy instead, and a
/// write through the container's /proc/1/exe neither succeeds nor reaches the host
/// binary, even once nothing executes from it any more. Without the fallback `create`
/// fails; without the seals the write succeeds.
#[test]
fn memfd_fallback_keeps_the_runtime_binary_out_of_reach() {
    let host_bin = std::fs::canonicalize(testbed::workspace_bin("runc")).unwrap();
    let before = std::fs::read(&host_bin).unwrap();
    let b = Bundle::new(&["sleep", "1000"], |cfg| {
        cfg["root"]["readonly"] = false.into()
    });
    b.ids.borrow_mut().push("memfd".into());
    // The container inherits stdio: a file, not a pipe we would wait on forever.
    let err_path = b.path().join("memfd.err");
    let mut create = b.cmd(&["create", "--bundle", b.path().to_str().unwrap(), "memfd"]);
    create
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap());
    deny_fsopen(&mut create);
    let status = create.status().unwrap();
    assert!(
        status.success(),
        "create without fsopen: {}",
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    let o = b.runc(&["exec", "memfd", "readlink", "/proc/1/exe"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).starts_with("/memfd:runc_cloned"),
        "the init does not run from the memfd copy: {:?}",
        text(&o.stdout)
    );
    // The attack: hold the runtime's executable open from inside the container until
    // no runtime runs from it any more (no "Text file busy"), then reopen it for
    // writing through /proc/<pid>/fd.
    let o = b.runc(&[
        "exec",
        "-d",
        "memfd",
        "sh",
        "-c",
        "exec 3</proc/1/exe; echo $$ > /tmp/holder; exec sleep 1000 </dev/null >/dev/null 2>&1",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let holder = b.path().join("rootfs/tmp/holder");
    testbed::wait_for("the holder", std::time::Duration::from_secs(20), || {
        std::fs::read_to_string(&holder).is_ok_and(|s| s.ends_with('\n'))
    });
    let o = b.runc(&["start", "memfd"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = b.runc(&[
        "exec",
        "memfd",
        "sh",
        "-c",
        "h=$(cat /tmp/holder); readlink /proc/$h/fd/3; \
         (echo x >> /proc/$h/fd/3) 2>&1 && echo wrote; true",
    ]);
    let out = text(&o.stdout);
    assert!(
        out.starts_with("/memfd:runc_cloned"),
        "the holder does not hold the memfd: {out:?}"
    );
    assert!(
        out.contains("Operation not permitted") && !out.contains("wrote"),
        "writing the runtime's memfd copy once nothing runs from it: {out:?}"
    );
    // The exec'd holder is our (the subreaper's) child: reap it before the delete.
    let o = b.runc(&["kill", "memfd", "KILL"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    b.wait_status("memfd", "stopped");
    assert!(
        std::fs::read(&host_bin).unwrap() == before,
        "binary changed"
    );
}
