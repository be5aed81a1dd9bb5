//! The container's terminal: a pty created inside the container (from its own devpts)
//! whose master end is handed to the caller over `--console-socket` with SCM_RIGHTS,
//! as runc's console protocol does.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::sys;

/// Open a new pty pair. Returns (master, slave, slave path).
pub fn open_pty() -> io::Result<(OwnedFd, OwnedFd, String)> {
    // SAFETY: valid C string literal.
    let m = unsafe {
        libc::open(
            c"/dev/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if m < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fd we own.
    let master = unsafe { OwnedFd::from_raw_fd(m) };
    // SAFETY: m is a pty master.
    if unsafe { libc::unlockpt(m) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = [0 as libc::c_char; 128];
    // SAFETY: buf is valid for its length.
    if unsafe { libc::ptsname_r(m, buf.as_mut_ptr(), buf.len()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: ptsname_r wrote a NUL-terminated string.
    let name = sys::c_str_to_string(unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) });
    let slave = sys::open_path(std::path::Path::new(&name), libc::O_RDWR | libc::O_NOCTTY)?;
    Ok((master, slave, name))
}

/// Send the master to the console socket, make the slave our stdio and controlling
/// terminal.
pub fn setup(console_sock: RawFd) -> io::Result<()> {
    let ctx =
        |what: &'static str| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    let (master, slave, name) = open_pty().map_err(ctx("open pty"))?;
    sys::send_fd(console_sock, master.as_raw_fd(), name.as_bytes())
        .map_err(ctx("send pty master"))?;
    drop(master);
    let s = slave.as_raw_fd();
    for target in 0..3 {
        // SAFETY: dup2 onto stdio.
        if unsafe { libc::dup2(s, target) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: TIOCSCTTY on a tty we just opened, in a new session.
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
        return Err(ctx("set controlling terminal")(io::Error::last_os_error()));
    }
    Ok(())
}
