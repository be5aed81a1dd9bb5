//! Process stdio between the client's fifos and the container: pipes whose container
//! ends go to runc, with a copier thread per stream; or, for a terminal, the pty master
//! runc hands back over the console socket. A copier closes its fifo when its source
//! ends, which is how the client learns that output is complete.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

/// What the process side gets.
pub struct ContainerSide {
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
    pub console_socket: Option<PathBuf>,
}

/// What the shim keeps: the stdin writer (for CloseIO) and the pty master (for resize).
#[derive(Default)]
pub struct Io {
    pub stdin: Arc<Mutex<Option<File>>>,
    pub console: Option<File>,
    console_listener: Option<(UnixListener, PathBuf)>,
    stdin_path: String,
    stdout_path: String,
}

fn pipe() -> std::io::Result<(File, File)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid two-int array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 just returned two fresh descriptors we own.
    Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
}

/// Copy `src` to the fifo at `path` (opened once a reader exists), then close it.
fn copy_out(mut src: File, path: String) {
    std::thread::spawn(move || {
        let Ok(mut dst) = OpenOptions::new().write(true).open(&path) else {
            return;
        };
        let _ = std::io::copy(&mut src, &mut dst);
    });
}

/// Copy the client's stdin fifo into the shared writer until EOF or CloseIO.
fn copy_in(path: String, writer: Arc<Mutex<Option<File>>>) {
    std::thread::spawn(move || {
        let Ok(mut src) = OpenOptions::new().read(true).open(&path) else {
            return;
        };
        let mut buf = [0u8; 32 * 1024];
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut w = writer.lock().unwrap();
            let ok = match w.as_mut() {
                Some(f) => f.write_all(&buf[..n]).is_ok(),
                None => false,
            };
            if !ok {
                break;
            }
        }
        writer.lock().unwrap().take();
    });
}

impl Io {
    /// Set up stdio for a process about to be created by runc.
    pub fn prepare(
        stdin: &str,
        stdout: &str,
        stderr: &str,
        terminal: bool,
        socket_dir: &Path,
    ) -> std::io::Result<(ContainerSide, Io)> {
        let mut io = Io {
            stdin_path: stdin.to_owned(),
            stdout_path: stdout.to_owned(),
            ..Default::default()
        };
        if terminal {
            let path = socket_dir.join(format!(
                "pty-{}-{}.sock",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .subsec_nanos()
            ));
            let _ = std::fs::remove_file(&path);
            let l = UnixListener::bind(&path)?;
            io.console_listener = Some((l, path.clone()));
            return Ok((
                ContainerSide {
                    stdin: Stdio::null(),
                    stdout: Stdio::null(),
                    stderr: Stdio::null(),
                    console_socket: Some(path),
                },
                io,
            ));
        }
        let side_in = if stdin.is_empty() {
            Stdio::null()
        } else {
            let (r, w) = pipe()?;
            *io.stdin.lock().unwrap() = Some(w);
            copy_in(stdin.to_owned(), io.stdin.clone());
            Stdio::from(r)
        };
        let out = |path: &str| -> std::io::Result<Stdio> {
            if path.is_empty() {
                return Ok(Stdio::null());
            }
            let (r, w) = pipe()?;
            copy_out(r, path.to_owned());
            Ok(Stdio::from(w))
        };
        let side_out = out(stdout)?;
        let side_err = out(stderr)?;
        Ok((
            ContainerSide {
                stdin: side_in,
                stdout: side_out,
                stderr: side_err,
                console_socket: None,
            },
            io,
        ))
    }

    /// After runc returned: take the pty master from the console socket and start
    /// copying between it and the fifos.
    pub fn finish(&mut self) -> std::io::Result<()> {
        let Some((listener, path)) = self.console_listener.take() else {
            return Ok(());
        };
        let _ = std::fs::remove_file(&path);
        listener.set_nonblocking(true)?;
        let (conn, _) = {
            let start = std::time::Instant::now();
            loop {
                match listener.accept() {
                    Ok(c) => break c,
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            && start.elapsed() < std::time::Duration::from_secs(10) =>
                    {
                        std::thread::sleep(std::time::Duration::from_millis(5))
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        conn.set_nonblocking(false)?;
        let master = recv_fd(conn.as_raw_fd())?;
        let master = File::from(master);
        if !self.stdout_path.is_empty() {
            copy_out(master.try_clone()?, self.stdout_path.clone());
        }
        if !self.stdin_path.is_empty() {
            *self.stdin.lock().unwrap() = Some(master.try_clone()?);
            copy_in(self.stdin_path.clone(), self.stdin.clone());
        }
        self.console = Some(master);
        Ok(())
    }

    pub fn resize(&self, width: u32, height: u32) -> std::io::Result<()> {
        let Some(c) = &self.console else {
            return Ok(());
        };
        let ws = libc::winsize {
            ws_row: height as u16,
            ws_col: width as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ with a valid winsize on an open pty master.
        if unsafe { libc::ioctl(c.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn close_stdin(&self) {
        self.stdin.lock().unwrap().take();
    }
}

/// Receive one file descriptor sent with SCM_RIGHTS (runc's console socket protocol).
fn recv_fd(sock: RawFd) -> std::io::Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cmsg = [0u8; 64];
    // SAFETY: msghdr is plain data; every pointer set below is valid for the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr().cast();
    msg.msg_controllen = cmsg.len();
    // SAFETY: sock is a connected unix socket and msg points to live buffers.
    let n = unsafe { libc::recvmsg(sock, &mut msg, 0) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: msg was filled by recvmsg; CMSG_* walk the control buffer it described.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        if !c.is_null() && (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS
        {
            let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const RawFd);
            return Ok(OwnedFd::from_raw_fd(fd));
        }
    }
    Err(std::io::Error::other(
        "no terminal received on the console socket",
    ))
}
