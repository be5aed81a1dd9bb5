//! Linux capabilities: name table and the five sets (bounding, effective,
//! permitted, inheritable, ambient). Capabilities the kernel or the host's own
//! bounding set lacks are skipped, not errors: a runtime cannot grant what it does
//! not hold (this host lacks CAP_SYS_RESOURCE), and runc behaves the same way.

use std::collections::HashSet;
use std::io;

const NAMES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

pub fn all_names() -> &'static [&'static str] {
    NAMES
}

pub fn number(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    NAMES.iter().position(|n| *n == full).map(|i| i as u32)
}

/// The highest capability the running kernel knows.
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// The caps in our own bounding set: the most a container can get.
fn held_bounding() -> HashSet<u32> {
    (0..=last_cap())
        // SAFETY: PR_CAPBSET_READ only reads.
        .filter(
            |c| unsafe { libc::prctl(libc::PR_CAPBSET_READ, *c as libc::c_ulong, 0, 0, 0) } == 1,
        )
        .collect()
}

#[derive(Debug, Default, Clone)]
pub struct CapSets {
    pub bounding: Vec<String>,
    pub effective: Vec<String>,
    pub permitted: Vec<String>,
    pub inheritable: Vec<String>,
    pub ambient: Vec<String>,
}

impl CapSets {
    pub fn from_spec(c: &oci_spec::runtime::LinuxCapabilities) -> Self {
        let names = |s: &Option<oci_spec::runtime::Capabilities>| -> Vec<String> {
            s.iter().flatten().map(|c| c.to_string()).collect()
        };
        CapSets {
            bounding: names(c.bounding()),
            effective: names(c.effective()),
            permitted: names(c.permitted()),
            inheritable: names(c.inheritable()),
            ambient: names(c.ambient()),
        }
    }
}

/// Parse names to numbers, failing on a name nobody knows and dropping what the
/// kernel or our bounding set cannot give.
fn to_mask(names: &[String], held: &HashSet<u32>) -> io::Result<u64> {
    let mut mask = 0u64;
    for n in names {
        let num = number(n).ok_or_else(|| io::Error::other(format!("unknown capability {n:?}")))?;
        if held.contains(&num) {
            mask |= 1 << num;
        }
    }
    Ok(mask)
}

/// Drop every bounding capability not listed. Needs CAP_SETPCAP, so it runs before
/// the user switch.
pub fn apply_bounding(sets: &CapSets) -> io::Result<()> {
    let held = held_bounding();
    let keep = to_mask(&sets.bounding, &held)?;
    for c in held {
        if keep & (1 << c) == 0 {
            crate::sys::prctl(libc::PR_CAPBSET_DROP, c as libc::c_ulong)?;
        }
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Set effective, permitted, inheritable, then raise ambient.
pub fn apply_sets(sets: &CapSets) -> io::Result<()> {
    let held = held_bounding();
    let eff = to_mask(&sets.effective, &held)?;
    let perm = to_mask(&sets.permitted, &held)?;
    let inh = to_mask(&sets.inheritable, &held)?;
    let amb = to_mask(&sets.ambient, &held)?;
    let hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: eff as u32,
            permitted: perm as u32,
            inheritable: inh as u32,
        },
        CapData {
            effective: (eff >> 32) as u32,
            permitted: (perm >> 32) as u32,
            inheritable: (inh >> 32) as u32,
        },
    ];
    // SAFETY: hdr and data match the kernel's v3 capset layout.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &hdr as *const CapHeader, data.as_ptr()) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes no pointers.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    for c in 0..64u32 {
        if amb & (1 << c) != 0 {
            // Ambient needs the cap in permitted and inheritable; skip silently
            // otherwise, like runc.
            // SAFETY: integer-only prctl.
            unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    c as libc::c_ulong,
                    0,
                    0,
                )
            };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_kernel_numbers() {
        assert_eq!(number("CAP_CHOWN"), Some(0));
        assert_eq!(number("sys_admin"), Some(21));
        assert_eq!(number("CAP_SYS_RESOURCE"), Some(24));
        assert_eq!(number("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(number("CAP_NOPE"), None);
    }
}
