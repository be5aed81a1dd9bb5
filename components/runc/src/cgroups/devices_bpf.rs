//! cgroup v2 has no devices controller: device access is decided by an eBPF
//! program of type `BPF_PROG_TYPE_CGROUP_DEVICE` attached to the container's
//! cgroup. This module turns the spec's `linux.resources.devices` list (plus
//! runc's always-allowed nodes) into such a program and attaches it.
//!
//! The list is read as the devices controller reads it: later rules override
//! earlier ones, so the program checks the rules from last to first and the first
//! that matches decides; nothing matching means deny.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::CgroupError;

/// One rule: type ('a', 'b' or 'c'), major/minor (None = any), access bits, allow.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub typ: char,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u32,
    pub allow: bool,
}

// BPF_DEVCG_ACC_* and BPF_DEVCG_DEV_*.
const ACC_MKNOD: u32 = 1;
const ACC_READ: u32 = 2;
const ACC_WRITE: u32 = 4;
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

impl Rule {
    pub fn from_spec(d: &LinuxDeviceCgroup) -> Rule {
        let access = d.access().as_deref().unwrap_or("rwm");
        Rule {
            typ: match d.typ().unwrap_or(LinuxDeviceType::A) {
                LinuxDeviceType::B => 'b',
                LinuxDeviceType::C | LinuxDeviceType::U => 'c',
                _ => 'a',
            },
            major: d.major().and_then(|m| u32::try_from(m).ok()),
            minor: d.minor().and_then(|m| u32::try_from(m).ok()),
            access: access_bits(access),
            allow: d.allow(),
        }
    }

    /// `c 1:3 rwm` as the v1 devices files spell it.
    pub fn parse(s: &str, allow: bool) -> Option<Rule> {
        let mut parts = s.split_whitespace();
        let typ = parts.next()?.chars().next()?;
        let (major, minor) = parts.next()?.split_once(':')?;
        let num = |v: &str| {
            if v == "*" {
                Ok(None)
            } else {
                v.parse().map(Some)
            }
        };
        Some(Rule {
            typ,
            major: num(major).ok()?,
            minor: num(minor).ok()?,
            access: access_bits(parts.next()?),
            allow,
        })
    }
}

/// Access bits back to the `rwm` letters, in that order.
pub fn access_letters(bits: u32) -> String {
    [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')]
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, c)| c)
        .collect()
}

fn access_bits(s: &str) -> u32 {
    s.chars().fold(0, |acc, c| {
        acc | match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => 0,
        }
    })
}

/// One `struct bpf_insn`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54;
const ALU32_RSH_K: u8 = 0x74;
const ALU32_MOV_X: u8 = 0xbc;
const ALU64_MOV_K: u8 = 0xb7;
const JNE_K: u8 = 0x55;
const JSET_K: u8 = 0x45;
const JEQ_K: u8 = 0x15;
const EXIT: u8 = 0x95;

/// The program: r2 = type, r3 = access, r4 = major, r5 = minor from the context
/// (`struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`).
fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    let all = ACC_MKNOD | ACC_READ | ACC_WRITE;
    for r in rules.iter().rev() {
        // Every test jumps to the next rule's block on a mismatch.
        let mut jumps = Vec::new();
        let mut test = |p: &mut Vec<Insn>, i: Insn| {
            jumps.push(p.len());
            p.push(i);
        };
        match r.typ {
            'b' => test(&mut p, insn(JNE_K, 2, 0, 0, DEV_BLOCK)),
            'c' => test(&mut p, insn(JNE_K, 2, 0, 0, DEV_CHAR)),
            _ => {}
        }
        if r.access & all != all {
            p.push(insn(ALU32_MOV_X, 6, 3, 0, 0));
            if r.allow {
                // Allows only when nothing beyond the rule's access is asked for.
                test(&mut p, insn(JSET_K, 6, 0, 0, (!r.access & all) as i32));
            } else {
                // Denies when any of the rule's access is asked for.
                p.push(insn(ALU32_AND_K, 6, 0, 0, r.access as i32));
                test(&mut p, insn(JEQ_K, 6, 0, 0, 0));
            }
        }
        if let Some(m) = r.major {
            test(&mut p, insn(JNE_K, 4, 0, 0, m as i32));
        }
        if let Some(m) = r.minor {
            test(&mut p, insn(JNE_K, 5, 0, 0, m as i32));
        }
        p.push(insn(ALU64_MOV_K, 0, 0, 0, i32::from(r.allow)));
        p.push(insn(EXIT, 0, 0, 0, 0));
        if jumps.is_empty() {
            // Matches everything: earlier rules could never be reached (and the
            // verifier refuses unreachable code).
            return p;
        }
        let next = p.len();
        for j in jumps {
            p[j].off = (next - j - 1) as i16;
        }
    }
    p.push(insn(ALU64_MOV_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

fn bpf_err(dir: &Path, what: &str, e: std::io::Error) -> CgroupError {
    CgroupError::Unsupported(format!("cgroup {}: {what}: {e}", dir.display()))
}

/// Load the device program for `rules` and attach it to the cgroup `dir`.
pub fn apply(dir: &Path, rules: &[Rule]) -> Result<(), CgroupError> {
    let prog = program(rules);
    let license = b"Apache-2.0\0";
    let load = |log: &mut [u8]| {
        let attr = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: prog.len() as u32,
            insns: prog.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: u32::from(!log.is_empty()),
            log_size: log.len() as u32,
            // The kernel refuses a buffer pointer without a log level.
            log_buf: if log.is_empty() {
                0
            } else {
                log.as_mut_ptr() as u64
            },
            ..Default::default()
        };
        // SAFETY: attr points at live buffers of the sizes it states.
        unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_PROG_LOAD,
                &attr as *const ProgLoadAttr,
                std::mem::size_of::<ProgLoadAttr>(),
            )
        }
    };
    let fd = load(&mut []);
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        // Load again with the verifier's log, for the reason.
        let mut log = vec![0u8; 1 << 16];
        let again = load(&mut log);
        if again >= 0 {
            // SAFETY: an fd the kernel just returned; not used.
            unsafe { libc::close(again as i32) };
        }
        let verifier = String::from_utf8_lossy(&log);
        let verifier = verifier.trim_end_matches('\0').lines().next().unwrap_or("");
        return Err(bpf_err(dir, &format!("load device filter ({verifier})"), e));
    }
    // SAFETY: a fresh fd from the kernel.
    let prog_fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let cg = crate::sys::open_path(dir, libc::O_RDONLY | libc::O_DIRECTORY)
        .map_err(|e| bpf_err(dir, "open cgroup", e))?;
    let attr = ProgAttachAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog_fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    // SAFETY: attr is a valid attach attribute of the size passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attr as *const ProgAttachAttr,
            std::mem::size_of::<ProgAttachAttr>(),
        )
    };
    if rc < 0 {
        return Err(bpf_err(
            dir,
            "attach device filter",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_like_the_v1_files() {
        assert_eq!(
            Rule::parse("c 136:* rwm", true),
            Some(Rule {
                typ: 'c',
                major: Some(136),
                minor: None,
                access: 7,
                allow: true
            })
        );
        assert_eq!(Rule::parse("garbage", true), None);
    }
}
