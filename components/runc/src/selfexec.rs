//! Protection against overwriting the runtime binary from inside a container
//! (CVE-2019-5736 class): before a command that enters a container, the binary
//! re-executes itself from a read-only view of itself, so `/proc/<pid>/exe` of any
//! runtime process a container can see (and what a `#!/proc/self/exe` entrypoint
//! runs) can never be opened for writing.
//!
//! The view is, in order of preference:
//! - a private, never-attached, read-only overlayfs whose top layer is the binary's
//!   directory: no copy at all (the pages are the binary's own page cache) and
//!   nothing to unmount, since the mount exists only as file descriptors and goes
//!   away with the last of them; writes through it fail with EROFS and there is no
//!   way to reach the underlying file from it;
//! - a sealed memfd copy of the whole binary (copies the binary on every start),
//!   when overlayfs or the new mount API is unavailable.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const MEMFD_NAME: &str = "runc_cloned:/proc/self/exe";
const OVERLAYFS_SUPER_MAGIC: libc::c_long = 0x794c_7630;

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;

/// Whether this process already runs from a read-only view of the binary: a
/// read-only overlayfs (ours, or an installation on one) or our sealed memfd.
pub fn is_sealed() -> bool {
    let exe = crate::sys::cstr("/proc/self/exe");
    // SAFETY: zeroed statfs is a valid out buffer; exe is a valid C string.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    // SAFETY: zeroed statvfs is a valid out buffer.
    let mut vfs: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::statfs(exe.as_ptr(), &mut st) } == 0
        && st.f_type == OVERLAYFS_SUPER_MAGIC
        && unsafe { libc::statvfs(exe.as_ptr(), &mut vfs) } == 0
        && vfs.f_flag & libc::ST_RDONLY != 0
    {
        return true;
    }
    std::fs::read_link("/proc/self/exe")
        .map(|p| p.to_string_lossy().starts_with("/memfd:runc_cloned"))
        .unwrap_or(false)
}

/// Re-exec from a read-only view of our own binary. `scratch` is an existing
/// directory of ours that is not an ancestor of the binary's (overlayfs needs a
/// second, non-overlapping lower layer; nothing in it is ever looked up). Returns
/// only on failure.
pub fn reexec(scratch: &Path) -> io::Error {
    let fd = match overlay_view(scratch) {
        Ok(fd) => fd,
        Err(_) => match memfd_copy() {
            Ok(fd) => fd,
            Err(e) => return e,
        },
    };
    let args: Vec<std::ffi::CString> = std::env::args_os().map(crate::sys::cstr).collect();
    let env: Vec<std::ffi::CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            crate::sys::cstr(kv)
        })
        .collect();
    let mut ap: Vec<*const libc::c_char> = args.iter().map(|s| s.as_ptr()).collect();
    ap.push(std::ptr::null());
    let mut ep: Vec<*const libc::c_char> = env.iter().map(|s| s.as_ptr()).collect();
    ep.push(std::ptr::null());
    let empty = crate::sys::cstr("");
    // SAFETY: NULL-terminated arrays of valid C strings; fd names our binary (an
    // O_PATH handle or a memfd), executed through AT_EMPTY_PATH.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            empty.as_ptr(),
            ap.as_ptr(),
            ep.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    io::Error::last_os_error()
}

fn checked(rc: libc::c_long) -> io::Result<OwnedFd> {
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd the kernel just returned to us.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as RawFd) })
}

/// An O_PATH handle on our binary inside a detached read-only overlayfs.
fn overlay_view(scratch: &Path) -> io::Result<OwnedFd> {
    let exe = std::fs::read_link("/proc/self/exe")?;
    let (Some(dir), Some(name)) = (exe.parent(), exe.file_name()) else {
        return Err(io::Error::other("no directory for /proc/self/exe"));
    };
    let fstype = crate::sys::cstr("overlay");
    // SAFETY: valid C string.
    let ctx = checked(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })?;
    // The binary's directory on top, so nothing in the scratch layer can shadow it.
    let mut lower = escape_lowerdir(dir.as_os_str());
    lower.push(b':');
    lower.extend(escape_lowerdir(scratch.as_os_str()));
    let key = crate::sys::cstr("lowerdir");
    let value = crate::sys::cstr(OsStr::from_bytes(&lower));
    // SAFETY: valid fs context fd and C strings.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: valid fs context fd; no key or value for CMD_CREATE.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: valid, created fs context fd.
    let mnt = checked(unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            ctx.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        )
    })?;
    let name = crate::sys::cstr(name);
    // SAFETY: valid dirfd (the mount's root) and C string.
    checked(unsafe {
        libc::openat(
            mnt.as_raw_fd(),
            name.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    } as libc::c_long)
}

/// `:` separates layers and `\` escapes: both must be escaped inside a path.
fn escape_lowerdir(p: &OsStr) -> Vec<u8> {
    let mut out = Vec::with_capacity(p.len());
    for &b in p.as_bytes() {
        if b == b'\\' || b == b':' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// A sealed memfd holding a copy of our binary.
fn memfd_copy() -> io::Result<OwnedFd> {
    let name = crate::sys::cstr(MEMFD_NAME);
    // SAFETY: valid C string.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    let owned = checked(fd as libc::c_long)?;
    let mut src = std::fs::File::open("/proc/self/exe")?;
    let mut dst = std::fs::File::from(owned.try_clone()?);
    io::copy(&mut src, &mut dst)?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on our memfd.
    if unsafe { libc::fcntl(owned.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowerdir_separators_are_escaped() {
        assert_eq!(
            escape_lowerdir(OsStr::new(r"/a:b\c")),
            br"/a\:b\\c".to_vec()
        );
    }
}
