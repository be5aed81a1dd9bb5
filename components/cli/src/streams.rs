//! Container I/O: the multiplexed stream format (stdcopy) and hijacked attach
//! connections that carry stdin one way and output the other.

use std::io::{self, Read, Write};

/// Demultiplexes docker's stream format (8-byte headers: stream id, 3 zero bytes,
/// big-endian length) into stdout and stderr. Returns at end of stream.
pub fn demux(mut r: impl Read, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<()> {
    let mut header = [0u8; 8];
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        if let Err(e) = r.read_exact(&mut header) {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                return Ok(());
            }
            return Err(e);
        }
        let mut len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        while len > 0 {
            let want = len.min(buf.len());
            let n = r.read(&mut buf[..want])?;
            if n == 0 {
                return Ok(());
            }
            match header[0] {
                2 => {
                    err.write_all(&buf[..n])?;
                    err.flush()?;
                }
                3 => {
                    // systemerr: the daemon's own error about the stream.
                    return Err(io::Error::other(
                        String::from_utf8_lossy(&buf[..n]).into_owned(),
                    ));
                }
                _ => {
                    out.write_all(&buf[..n])?;
                    out.flush()?;
                }
            }
            len -= n;
        }
    }
}

/// Copies a raw (tty) stream to stdout until it ends.
pub fn copy_raw(mut r: impl Read, out: &mut dyn Write) -> io::Result<()> {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        out.write_all(&buf[..n])?;
        out.flush()?;
    }
}

/// Puts the terminal on `fd` in raw mode; restores it on drop.
pub struct RawTerminal {
    fd: i32,
    saved: libc::termios,
}

impl RawTerminal {
    pub fn enter(fd: i32) -> Option<RawTerminal> {
        // SAFETY: isatty/tcgetattr/tcsetattr on a file descriptor we were given, with a
        // zeroed termios that tcgetattr fills.
        unsafe {
            if libc::isatty(fd) != 1 {
                return None;
            }
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) != 0 {
                return None;
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            t.c_oflag |= libc::OPOST;
            libc::tcsetattr(fd, libc::TCSANOW, &t);
            Some(RawTerminal { fd, saved })
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        // SAFETY: restoring the attributes saved from the same descriptor.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved);
        }
    }
}

/// The terminal size of `fd` as (rows, cols).
pub fn terminal_size(fd: i32) -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ fills a winsize struct we own.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) != 0 || ws.ws_row == 0 {
            return None;
        }
        Some((ws.ws_row, ws.ws_col))
    }
}

/// Parses `--detach-keys` (`ctrl-p,ctrl-q` by default) into the byte sequence.
pub fn detach_keys(spec: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for key in spec.split(',') {
        let k = key.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let ch = c
                .chars()
                .next()
                .ok_or_else(|| format!("Unknown character: '{k}'"))?;
            let b = match ch {
                'a'..='z' => ch as u8 - b'a' + 1,
                '@' => 0,
                '[' => 27,
                '\\' => 28,
                ']' => 29,
                '^' => 30,
                '_' => 31,
                _ => return Err(format!("Unknown character: '{k}'")),
            };
            if c.len() != 1 {
                return Err(format!("Unknown character: '{k}'"));
            }
            out.push(b);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(format!("Unknown character: '{k}'"));
        }
    }
    Ok(out)
}

/// Signal handling for an attached session: proxies catchable signals to the
/// container (`--sig-proxy`, not with a tty) and turns SIGWINCH into resize calls.
///
/// Must be called before any other thread starts, so every thread inherits the
/// blocked mask and only the waiting thread receives these signals.
pub fn handle_signals(
    host: crate::transport::Host,
    version: String,
    container: String,
    proxy: bool,
    resize_path: Option<String>,
) {
    if !proxy && resize_path.is_none() {
        return;
    }
    let mut signals = vec![libc::SIGWINCH];
    if proxy {
        signals.extend([
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGUSR1,
            libc::SIGUSR2,
        ]);
    }
    // SAFETY: building and applying a signal mask for this thread with libc's own
    // initialisers; `set` lives for the duration of the calls.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in &signals {
            libc::sigaddset(&mut set, *s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::spawn(move || loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: sigwait on the mask blocked above, writing into our own int.
        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
            return;
        }
        let path = if sig == libc::SIGWINCH {
            match (&resize_path, terminal_size(1)) {
                (Some(p), Some((h, w))) => format!("/v{version}{p}?h={h}&w={w}"),
                _ => continue,
            }
        } else {
            format!("/v{version}/containers/{container}/kill?signal={sig}")
        };
        let _ = crate::transport::request(&host, "POST", &path, &[], crate::transport::Body::Empty)
            .and_then(|r| r.bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demuxes_both_streams() {
        let mut data = Vec::new();
        data.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 3]);
        data.extend_from_slice(b"out");
        data.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 3]);
        data.extend_from_slice(b"err");
        let (mut o, mut e) = (Vec::new(), Vec::new());
        demux(&data[..], &mut o, &mut e).unwrap();
        assert_eq!((o.as_slice(), e.as_slice()), (&b"out"[..], &b"err"[..]));
    }

    #[test]
    fn parses_detach_keys() {
        assert_eq!(detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert!(detach_keys("ctrl-ab").is_err());
    }
}
