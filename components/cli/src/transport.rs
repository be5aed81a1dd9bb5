//! HTTP/1.1 over the daemon's socket.
//!
//! The CLI makes a handful of short requests per run, so a blocking client on std
//! sockets is all it needs: no async runtime, which keeps start-up fast and the
//! binary small. Besides plain request/response it supports the two things the
//! Docker API adds on top of HTTP: long-lived streamed bodies (logs, events) and
//! connection hijacking (`Upgrade: tcp`) for attach and exec.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

/// Where the daemon listens, as `-H`/`DOCKER_HOST` name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    /// `host:port`, and TLS settings when `--tls`/`--tlsverify` ask for it.
    Tcp(String, Option<crate::tls::TlsOptions>),
}

pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("Cannot connect to the Docker daemon at {0}. Is the docker daemon running?")]
    Connect(String),
    #[error("unable to parse docker host `{0}`")]
    BadHost(String),
    #[error("error during connect: {0}")]
    Io(#[from] io::Error),
    #[error("malformed response from the daemon: {0}")]
    Protocol(String),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

impl Host {
    /// Parses `unix:///path`, `tcp://host:port`, `host:port` (tcp) as the docker CLI does.
    pub fn parse(spec: &str) -> Result<Host, TransportError> {
        let spec = spec.trim();
        if let Some(path) = spec.strip_prefix("unix://") {
            if path.is_empty() {
                return Ok(Host::Unix(PathBuf::from("/var/run/docker.sock")));
            }
            return Ok(Host::Unix(PathBuf::from(path)));
        }
        let rest = spec
            .strip_prefix("tcp://")
            .or_else(|| spec.strip_prefix("http://"))
            .unwrap_or(spec);
        if rest.is_empty() || rest.contains("://") {
            return Err(TransportError::BadHost(spec.to_string()));
        }
        let rest = rest.trim_end_matches('/');
        let addr = if rest.rsplit_once(':').is_some_and(|(_, p)| !p.is_empty()) {
            rest.to_string()
        } else {
            format!("{}:2375", rest.trim_end_matches(':'))
        };
        Ok(Host::Tcp(addr, None))
    }

    /// The form error messages show: `unix:///var/run/docker.sock`, `tcp://1.2.3.4:2375`.
    pub fn display(&self) -> String {
        match self {
            Host::Unix(p) => format!("unix://{}", p.display()),
            Host::Tcp(a, _) => format!("tcp://{a}"),
        }
    }

    fn connect(&self) -> Result<Stream, TransportError> {
        let refused = |_| TransportError::Connect(self.display());
        match self {
            Host::Unix(p) => Ok(Stream::Unix(UnixStream::connect(p).map_err(refused)?)),
            Host::Tcp(a, None) => Ok(Stream::Tcp(TcpStream::connect(a).map_err(refused)?)),
            Host::Tcp(a, Some(tls)) => {
                let tcp = TcpStream::connect(a).map_err(refused)?;
                Ok(Stream::Tls(crate::tls::TlsStream::connect(tcp, a, tls)?))
            }
        }
    }
}

/// A connected socket of either kind.
pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
    Tls(crate::tls::TlsStream),
}

impl Stream {
    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Tls(s) => Stream::Tls(s.clone()),
        })
    }

    /// Half-close: tells the daemon stdin is finished while output keeps flowing.
    pub fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Tls(s) => s.shutdown_write(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// A request body: none, bytes in memory, or a reader streamed with chunked encoding
/// (for `import`, `load`, `cp` into a container).
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8], &'a str),
    Stream(&'a mut dyn Read, &'a str),
}

/// A response whose body is read on demand.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: BodyReader,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn bytes(mut self) -> Result<Vec<u8>, TransportError> {
        let mut out = Vec::new();
        self.body.read_to_end(&mut out)?;
        Ok(out)
    }

    /// For a `101 Switching Protocols` answer: the raw socket, with whatever the
    /// buffered reader already holds put back in front.
    pub fn into_hijacked(self) -> (BufReader<Stream>, Stream) {
        match self.body.kind {
            Kind::Raw | Kind::Length(_) | Kind::Chunked { .. } => {
                let writer = self.body.writer;
                (self.body.inner, writer)
            }
        }
    }
}

enum Kind {
    Length(u64),
    Chunked { left: u64, done: bool },
    Raw,
}

pub struct BodyReader {
    inner: BufReader<Stream>,
    writer: Stream,
    kind: Kind,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.kind {
            Kind::Raw => self.inner.read(buf),
            Kind::Length(left) => {
                if *left == 0 {
                    return Ok(0);
                }
                let max = buf.len().min(*left as usize);
                let n = self.inner.read(&mut buf[..max])?;
                *left -= n as u64;
                Ok(n)
            }
            Kind::Chunked { left, done } => {
                if *done {
                    return Ok(0);
                }
                if *left == 0 {
                    let mut line = String::new();
                    self.inner.read_line(&mut line)?;
                    if line.trim().is_empty() {
                        // CRLF closing the previous chunk.
                        line.clear();
                        self.inner.read_line(&mut line)?;
                    }
                    let size = line.trim().split(';').next().unwrap_or("");
                    if size.is_empty() {
                        *done = true;
                        return Ok(0);
                    }
                    let size = u64::from_str_radix(size, 16).map_err(|_| {
                        io::Error::new(io::ErrorKind::InvalidData, "bad chunk size")
                    })?;
                    if size == 0 {
                        *done = true;
                        let mut trailer = String::new();
                        self.inner.read_line(&mut trailer)?;
                        return Ok(0);
                    }
                    *left = size;
                }
                let max = buf.len().min(*left as usize);
                let n = self.inner.read(&mut buf[..max])?;
                if n == 0 {
                    *done = true;
                }
                *left -= n as u64;
                Ok(n)
            }
        }
    }
}

/// One request on a fresh connection (the daemon closes idle ones anyway and the
/// CLI makes few requests).
pub fn request(
    host: &Host,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Body<'_>,
) -> Result<Response, TransportError> {
    let mut stream = host.connect()?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: Docker-Client/{} (linux)\r\n", buildinfo::VERSION);
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    match &body {
        Body::Empty => {
            if matches!(method, "POST" | "PUT") {
                head.push_str("Content-Length: 0\r\n");
            }
        }
        Body::Bytes(b, ctype) => {
            head.push_str(&format!(
                "Content-Type: {ctype}\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        Body::Stream(_, ctype) => {
            head.push_str(&format!(
                "Content-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n"
            ));
        }
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    match body {
        Body::Empty => {}
        Body::Bytes(b, _) => stream.write_all(b)?,
        Body::Stream(r, _) => {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = r.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                stream.write_all(format!("{n:x}\r\n").as_bytes())?;
                stream.write_all(&buf[..n])?;
                stream.write_all(b"\r\n")?;
            }
            stream.write_all(b"0\r\n\r\n")?;
        }
    }
    stream.flush()?;
    let writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    if reader.read_line(&mut status_line)? == 0 {
        return Err(TransportError::Protocol("connection closed".into()));
    }
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| TransportError::Protocol(status_line.trim().to_string()))?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let kind = if status == 101 || method == "HEAD" || status == 204 || status == 304 {
        if status == 101 {
            Kind::Raw
        } else {
            Kind::Length(0)
        }
    } else if find("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        Kind::Chunked {
            left: 0,
            done: false,
        }
    } else if let Some(len) = find("Content-Length").and_then(|v| v.parse().ok()) {
        Kind::Length(len)
    } else {
        Kind::Raw
    };
    Ok(Response {
        status,
        headers,
        body: BodyReader {
            inner: reader,
            writer,
            kind,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_as_docker_does() {
        assert_eq!(
            Host::parse("unix:///run/d.sock").unwrap(),
            Host::Unix("/run/d.sock".into())
        );
        assert_eq!(
            Host::parse("tcp://127.0.0.1:2376").unwrap(),
            Host::Tcp("127.0.0.1:2376".into(), None)
        );
        assert_eq!(
            Host::parse("tcp://10.0.0.1").unwrap(),
            Host::Tcp("10.0.0.1:2375".into(), None)
        );
        assert!(Host::parse("ssh2://x").is_err());
        assert_eq!(
            Host::parse(DEFAULT_HOST).unwrap().display(),
            "unix:///var/run/docker.sock"
        );
    }
}
