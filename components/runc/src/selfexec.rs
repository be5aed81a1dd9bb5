//! Protection against overwriting the runtime binary from inside a container
//! (CVE-2019-5736 class): before a command that enters a container, the binary
//! re-executes itself from a sealed, anonymous memfd copy, so `/proc/<pid>/exe` of
//! any runtime process a container can see points at that copy, which can be
//! neither written nor resized, and never at the file on the host.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const MEMFD_NAME: &str = "runc_cloned:/proc/self/exe";

/// Whether this process already runs from the sealed copy.
pub fn is_cloned() -> bool {
    std::fs::read_link("/proc/self/exe")
        .map(|p| p.to_string_lossy().starts_with("/memfd:runc_cloned"))
        .unwrap_or(false)
}

/// Re-exec from a sealed memfd copy of our own binary. Returns only on failure.
pub fn reexec() -> io::Error {
    match clone_binary() {
        Ok(fd) => {
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
            // SAFETY: NULL-terminated arrays of valid C strings; fd is a sealed memfd.
            unsafe { libc::fexecve(fd.as_raw_fd(), ap.as_ptr(), ep.as_ptr()) };
            io::Error::last_os_error()
        }
        Err(e) => e,
    }
}

fn clone_binary() -> io::Result<OwnedFd> {
    let name = crate::sys::cstr(MEMFD_NAME);
    // SAFETY: valid C string.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fd we own.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut src = std::fs::File::open("/proc/self/exe")?;
    let mut dst = std::fs::File::from(owned.try_clone()?);
    io::copy(&mut src, &mut dst)?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on our memfd.
    if unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, seals) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(owned)
}
