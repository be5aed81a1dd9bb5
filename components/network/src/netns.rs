//! Network namespaces that outlive any process: created before the container's init
//! exists (the veth goes in first, runc then joins the namespace by path), kept as an
//! nsfs bind mount on a file under the exec root, and destroyed by unmounting it. Its
//! loopback is up from the start, as in libnetwork's sandboxes.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::NetworkError;

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("path without NUL")
}

/// Create a new network namespace and pin it at `path`.
pub fn create(path: &Path) -> Result<(), NetworkError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::File::create(path)?;
    let target = path.to_path_buf();
    // unshare(CLONE_NEWNET) moves only the calling thread: a short-lived thread takes
    // the new namespace, pins it, and exits without touching the daemon's threads.
    let res = std::thread::spawn(move || -> std::io::Result<()> {
        // SAFETY: plain syscalls on this thread only.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let tid = libc::syscall(libc::SYS_gettid);
            let src = CString::new(format!("/proc/self/task/{tid}/ns/net")).unwrap();
            let dst = cstr(&target);
            if libc::mount(
                src.as_ptr(),
                dst.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        loopback_up()
    })
    .join()
    .map_err(|_| NetworkError::Internal("netns thread panicked".into()))?;
    if let Err(e) = res {
        remove(path);
        return Err(NetworkError::Internal(format!(
            "creating network namespace {}: {e}",
            path.display()
        )));
    }
    Ok(())
}

/// Set `lo` up in the calling thread's network namespace (SIOCSIFFLAGS on a socket of
/// that namespace; no iproute2 process for it).
fn loopback_up() -> std::io::Result<()> {
    // SAFETY: a socket of our own, an ifreq for "lo" filled before each ioctl, closed
    // on every path.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (d, s) in req.ifr_name.iter_mut().zip(b"lo") {
            *d = *s as libc::c_char;
        }
        let mut rc = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req);
        if rc == 0 {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            rc = libc::ioctl(fd, libc::SIOCSIFFLAGS, &req);
        }
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if rc != 0 {
            return Err(err);
        }
    }
    Ok(())
}

/// Unpin and remove the namespace file; the namespace (and the interfaces in it) goes
/// away once no process is left in it.
pub fn remove(path: &Path) {
    let p = cstr(path);
    // SAFETY: valid path; a detach unmount of our own bind mount.
    unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) };
    let _ = std::fs::remove_file(path);
}
