//! A small blocking D-Bus client: EXTERNAL authentication on a unix socket, method
//! calls with marshalled arguments, and the signals that arrive meanwhile. It covers
//! exactly what the systemd cgroup driver sends and receives (strings, booleans,
//! integers, object paths, arrays, structs, variants). zbus, the maintained D-Bus
//! crate, is async at heart and runs an executor (threads) behind its blocking API,
//! while the runtime forks on the assumption that it has no other threads.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Where the system bus listens unless `DBUS_SYSTEM_BUS_ADDRESS` says otherwise.
const SYSTEM_BUS: &str = "unix:path=/var/run/dbus/system_bus_socket";

const METHOD_CALL: u8 = 1;
const METHOD_RETURN: u8 = 2;
const ERROR: u8 = 3;
pub const SIGNAL: u8 = 4;

#[derive(Debug, thiserror::Error)]
pub enum DbusError {
    #[error("dbus: connect to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("dbus: {0}")]
    Io(#[from] std::io::Error),
    #[error("dbus: unsupported bus address {0:?}")]
    Address(String),
    #[error("dbus: authentication rejected: {0}")]
    Auth(String),
    #[error("dbus: malformed message: {0}")]
    Malformed(&'static str),
    /// An error reply: its D-Bus name and message.
    #[error("{message}")]
    Remote { name: String, message: String },
}

/// A value to marshal. Arrays carry their element signature so that empty ones
/// can be written too.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Str(String),
    Path(String),
    Signature(String),
    Bool(bool),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    Double(f64),
    /// An array of bytes (`ay`).
    Bytes(Vec<u8>),
    Variant(Box<Arg>),
    Array(String, Vec<Arg>),
    Struct(Vec<Arg>),
}

impl Arg {
    pub fn signature(&self) -> String {
        match self {
            Arg::Str(_) => "s".into(),
            Arg::Path(_) => "o".into(),
            Arg::Signature(_) => "g".into(),
            Arg::Bool(_) => "b".into(),
            Arg::I32(_) => "i".into(),
            Arg::U32(_) => "u".into(),
            Arg::I64(_) => "x".into(),
            Arg::U64(_) => "t".into(),
            Arg::Double(_) => "d".into(),
            Arg::Bytes(_) => "ay".into(),
            Arg::Variant(_) => "v".into(),
            Arg::Array(elem, _) => format!("a{elem}"),
            Arg::Struct(fields) => {
                let inner: String = fields.iter().map(Arg::signature).collect();
                format!("({inner})")
            }
        }
    }
}

/// Alignment of the first type in `sig`.
fn alignment(sig: &str) -> usize {
    match sig.as_bytes().first() {
        Some(b't' | b'x' | b'd' | b'(' | b'{') => 8,
        Some(b'y' | b'g' | b'v') => 1,
        Some(b'n' | b'q') => 2,
        _ => 4,
    }
}

/// Little-endian marshalling into one buffer; offsets (and so padding) are counted
/// from the start of the message.
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn pad(&mut self, align: usize) {
        while self.buf.len() % align != 0 {
            self.buf.push(0);
        }
    }

    fn u32(&mut self, v: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.pad(8);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn signature(&mut self, s: &str) {
        self.buf.push(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    fn arg(&mut self, a: &Arg) {
        match a {
            Arg::Str(s) | Arg::Path(s) => {
                self.u32(s.len() as u32);
                self.buf.extend_from_slice(s.as_bytes());
                self.buf.push(0);
            }
            Arg::Signature(s) => self.signature(s),
            Arg::Bool(b) => self.u32(u32::from(*b)),
            Arg::I32(v) => self.u32(*v as u32),
            Arg::U32(v) => self.u32(*v),
            Arg::I64(v) => self.u64(*v as u64),
            Arg::U64(v) => self.u64(*v),
            Arg::Double(v) => self.u64(v.to_bits()),
            Arg::Bytes(b) => {
                self.u32(b.len() as u32);
                self.buf.extend_from_slice(b);
            }
            Arg::Variant(inner) => {
                self.signature(&inner.signature());
                self.arg(inner);
            }
            Arg::Array(elem, items) => {
                self.u32(0);
                let len_at = self.buf.len() - 4;
                // The length excludes the padding up to the first element.
                self.pad(alignment(elem));
                let start = self.buf.len();
                for item in items {
                    self.arg(item);
                }
                let len = (self.buf.len() - start) as u32;
                self.buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
            }
            Arg::Struct(fields) => {
                self.pad(8);
                for f in fields {
                    self.arg(f);
                }
            }
        }
    }
}

/// Unmarshalling of the few types replies and signals carry here.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn align(&mut self, n: usize) {
        self.pos = self.pos.div_ceil(n) * n;
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DbusError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        let end = end.ok_or(DbusError::Malformed("truncated"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, DbusError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, DbusError> {
        self.align(4);
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> Result<String, DbusError> {
        let n = self.u32()? as usize;
        let s = self.take(n + 1)?;
        String::from_utf8(s[..n].to_vec()).map_err(|_| DbusError::Malformed("string"))
    }

    fn signature(&mut self) -> Result<String, DbusError> {
        let n = self.u8()? as usize;
        let s = self.take(n + 1)?;
        String::from_utf8(s[..n].to_vec()).map_err(|_| DbusError::Malformed("signature"))
    }
}

/// A received message: the header fields we use and the raw body.
#[derive(Debug, Default)]
pub struct Message {
    pub kind: u8,
    pub reply_serial: Option<u32>,
    pub path: String,
    pub interface: String,
    pub member: String,
    pub error_name: String,
    pub signature: String,
    pub body: Vec<u8>,
}

impl Message {
    /// The body as a sequence of strings, object paths and u32s, for the simple
    /// signatures used here (`s`, `o`, `uoss`, a property's `v` holding one of
    /// those, ...); anything else is an error.
    pub fn strings(&self) -> Result<Vec<String>, DbusError> {
        let mut r = Reader {
            buf: &self.body,
            pos: 0,
        };
        let mut out = Vec::new();
        for c in self.signature.chars() {
            let c = match c {
                'v' => match r.signature()?.as_str() {
                    "s" => 's',
                    "o" => 'o',
                    "g" => 'g',
                    "u" => 'u',
                    _ => return Err(DbusError::Malformed("unexpected variant type")),
                },
                c => c,
            };
            out.push(match c {
                's' | 'o' => r.string()?,
                'g' => r.signature()?,
                'u' => r.u32()?.to_string(),
                _ => return Err(DbusError::Malformed("unexpected body type")),
            });
        }
        Ok(out)
    }
}

/// One connection to a bus.
pub struct Bus {
    sock: UnixStream,
    serial: u32,
    /// Signals read while waiting for a reply.
    queued: VecDeque<Message>,
}

impl Bus {
    /// Connect and authenticate to the system bus, and say Hello.
    pub fn system(timeout: Duration) -> Result<Bus, DbusError> {
        let address =
            std::env::var("DBUS_SYSTEM_BUS_ADDRESS").unwrap_or_else(|_| SYSTEM_BUS.to_string());
        // Several addresses may be listed; the first unix path one is used.
        let path = address
            .split(';')
            .filter_map(|a| a.strip_prefix("unix:"))
            .flat_map(|kv| kv.split(','))
            .find_map(|kv| kv.strip_prefix("path="))
            .ok_or_else(|| DbusError::Address(address.clone()))?;
        let sock = UnixStream::connect(path).map_err(|source| DbusError::Connect {
            address: address.clone(),
            source,
        })?;
        sock.set_read_timeout(Some(timeout))?;
        let mut bus = Bus {
            sock,
            serial: 0,
            queued: VecDeque::new(),
        };
        bus.authenticate()?;
        bus.call(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "Hello",
            &[],
        )?;
        Ok(bus)
    }

    fn authenticate(&mut self) -> Result<(), DbusError> {
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() }.to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        self.sock
            .write_all(format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes())?;
        let line = self.read_line()?;
        if !line.starts_with("OK ") {
            return Err(DbusError::Auth(line));
        }
        self.sock.write_all(b"BEGIN\r\n")?;
        Ok(())
    }

    fn read_line(&mut self) -> Result<String, DbusError> {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            if self.sock.read(&mut b)? == 0 {
                return Err(DbusError::Auth("connection closed".into()));
            }
            line.push(b[0]);
        }
        line.truncate(line.len() - 2);
        Ok(String::from_utf8_lossy(&line).into_owned())
    }

    /// Call a method and wait for its reply; an error reply is `DbusError::Remote`.
    pub fn call(
        &mut self,
        destination: &str,
        path: &str,
        interface: &str,
        member: &str,
        args: &[Arg],
    ) -> Result<Message, DbusError> {
        self.serial += 1;
        let serial = self.serial;
        self.sock.write_all(&encode_call(
            serial,
            destination,
            path,
            interface,
            member,
            args,
        ))?;
        loop {
            let m = self.read_message()?;
            match m.kind {
                METHOD_RETURN | ERROR if m.reply_serial == Some(serial) => {
                    if m.kind == ERROR {
                        let message = m.strings()?.into_iter().next().unwrap_or_default();
                        return Err(DbusError::Remote {
                            name: m.error_name,
                            message,
                        });
                    }
                    return Ok(m);
                }
                SIGNAL => self.queued.push_back(m),
                _ => {}
            }
        }
    }

    /// The next signal (those queued during calls first).
    pub fn next_signal(&mut self) -> Result<Message, DbusError> {
        if let Some(m) = self.queued.pop_front() {
            return Ok(m);
        }
        loop {
            let m = self.read_message()?;
            if m.kind == SIGNAL {
                return Ok(m);
            }
        }
    }

    fn read_message(&mut self) -> Result<Message, DbusError> {
        let mut fixed = [0u8; 16];
        self.sock.read_exact(&mut fixed)?;
        if fixed[0] != b'l' {
            return Err(DbusError::Malformed("big-endian message"));
        }
        let word =
            |i: usize| u32::from_le_bytes([fixed[i], fixed[i + 1], fixed[i + 2], fixed[i + 3]]);
        let body_len = word(4) as usize;
        let fields_len = word(12) as usize;
        let header_len = (16 + fields_len).div_ceil(8) * 8;
        if header_len + body_len > 128 << 20 {
            return Err(DbusError::Malformed("message too large"));
        }
        let mut all = vec![0u8; header_len + body_len];
        all[..16].copy_from_slice(&fixed);
        self.sock.read_exact(&mut all[16..])?;
        let mut m = Message {
            kind: fixed[1],
            ..Default::default()
        };
        let mut r = Reader {
            buf: &all[..16 + fields_len],
            pos: 16,
        };
        while r.pos < 16 + fields_len {
            r.align(8);
            let code = r.u8()?;
            let sig = r.signature()?;
            let value = match sig.as_str() {
                "s" | "o" => r.string()?,
                "g" => r.signature()?,
                "u" => r.u32()?.to_string(),
                _ => return Err(DbusError::Malformed("header field type")),
            };
            match code {
                1 => m.path = value,
                2 => m.interface = value,
                3 => m.member = value,
                4 => m.error_name = value,
                5 => m.reply_serial = value.parse().ok(),
                8 => m.signature = value,
                _ => {}
            }
        }
        m.body = all.split_off(header_len);
        Ok(m)
    }
}

fn encode_call(
    serial: u32,
    destination: &str,
    path: &str,
    interface: &str,
    member: &str,
    args: &[Arg],
) -> Vec<u8> {
    let mut body = Writer { buf: Vec::new() };
    for a in args {
        body.arg(a);
    }
    let signature: String = args.iter().map(Arg::signature).collect();
    let mut w = Writer {
        buf: vec![b'l', METHOD_CALL, 0, 1],
    };
    w.u32(body.buf.len() as u32);
    w.u32(serial);
    // Header fields are a(yv); there is no byte Arg, so each struct is written here.
    let mut fields = vec![
        (1u8, Arg::Path(path.into())),
        (2, Arg::Str(interface.into())),
        (3, Arg::Str(member.into())),
        (6, Arg::Str(destination.into())),
    ];
    if !signature.is_empty() {
        fields.push((8, Arg::Signature(signature)));
    }
    w.u32(0);
    let len_at = w.buf.len() - 4;
    let start = w.buf.len();
    for (code, value) in fields {
        w.pad(8);
        w.buf.push(code);
        w.arg(&Arg::Variant(Box::new(value)));
    }
    let len = (w.buf.len() - start) as u32;
    w.buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
    w.pad(8);
    w.buf.extend_from_slice(&body.buf);
    w.buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_of_structs_pad_to_eight_even_when_empty() {
        let mut w = Writer { buf: Vec::new() };
        w.arg(&Arg::Str("a".into()));
        w.arg(&Arg::Array("(sv)".into(), vec![]));
        // "a": len 1 + 'a' + NUL = 6 bytes, pad to 8, length 0, pad to 16.
        assert_eq!(w.buf.len(), 16);
        assert_eq!(&w.buf[8..12], &[0, 0, 0, 0]);
    }

    #[test]
    fn property_signature() {
        let p = Arg::Struct(vec![
            Arg::Str("PIDs".into()),
            Arg::Variant(Box::new(Arg::Array("u".into(), vec![Arg::U32(7)]))),
        ]);
        assert_eq!(p.signature(), "(sv)");
        let mut w = Writer { buf: Vec::new() };
        w.arg(&p);
        // Length and "PIDs\0" end at 9, the variant's signature "au" at 13, the array's
        // length is padded to 16 and its one element follows.
        assert_eq!(w.buf.len(), 24);
        assert_eq!(&w.buf[20..24], &7u32.to_le_bytes());
    }
}
