//! The `local` driver's file format, byte for byte what moby's `daemon/logger/local`
//! writes, so that either daemon reads the other's files: each message is a protobuf
//! `LogEntry` (1 source, 2 time_nano, 3 line, 4 partial, 5 partial_log_metadata {1 last,
//! 2 id, 3 ordinal}, 6 attrs) between two big-endian u32 copies of its length. The line
//! is stored without its newline; a reader adds it back unless the message is a
//! partial one that is not the last of its sequence.

use super::LogEntry;

/// dockerd's default `max-file` for this driver (its `max-size` is 20 MB).
pub const DEFAULT_MAX_FILE: u32 = 5;

/// A message longer than this is taken for a corrupt file (dockerd's limit too).
const MAX_MESSAGE: usize = 1_000_000;

/// Where a message stands in a line split over several messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partial {
    pub id: String,
    pub ordinal: i32,
    pub last: bool,
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes_field(out: &mut Vec<u8>, field: u8, data: &[u8]) {
    if data.is_empty() {
        return; // proto3 leaves empty fields out
    }
    out.push(field << 3 | 2);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

fn varint_field(out: &mut Vec<u8>, field: u8, v: u64) {
    if v != 0 {
        out.push(field << 3);
        varint(out, v);
    }
}

/// One framed message.
pub fn encode(source: &str, time_nano: i64, line: &[u8], partial: Option<&Partial>) -> Vec<u8> {
    let mut msg = Vec::with_capacity(line.len() + 32);
    bytes_field(&mut msg, 1, source.as_bytes());
    varint_field(&mut msg, 2, time_nano as u64);
    bytes_field(&mut msg, 3, line);
    if let Some(p) = partial {
        varint_field(&mut msg, 4, 1);
        let mut meta = Vec::new();
        varint_field(&mut meta, 1, u64::from(p.last));
        bytes_field(&mut meta, 2, p.id.as_bytes());
        varint_field(&mut meta, 3, p.ordinal as i64 as u64);
        // Present even when empty, as gogo-protobuf writes a set message field.
        msg.push(5 << 3 | 2);
        varint(&mut msg, meta.len() as u64);
        msg.extend_from_slice(&meta);
    }
    let len = (msg.len() as u32).to_be_bytes();
    let mut out = Vec::with_capacity(msg.len() + 8);
    out.extend_from_slice(&len);
    out.extend_from_slice(&msg);
    out.extend_from_slice(&len);
    out
}

struct Fields<'a> {
    data: &'a [u8],
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.data.split_first()?;
            self.data = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// The next (field number, value); None at the end or on malformed input.
    fn next_field(&mut self) -> Option<(u64, Value<'a>)> {
        if self.data.is_empty() {
            return None;
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            2 => {
                let len = self.varint()? as usize;
                if len > self.data.len() {
                    return None;
                }
                let (v, rest) = self.data.split_at(len);
                self.data = rest;
                Value::Bytes(v)
            }
            1 => {
                self.data = self.data.get(8..)?;
                Value::Varint(0)
            }
            5 => {
                self.data = self.data.get(4..)?;
                Value::Varint(0)
            }
            _ => return None,
        };
        Some((key >> 3, value))
    }
}

/// One message's fields: (source, time_nano, line, partial metadata).
fn decode(msg: &[u8]) -> Option<(String, i64, Vec<u8>, Option<Partial>)> {
    let mut f = Fields { data: msg };
    let (mut source, mut time, mut line, mut partial, mut meta) =
        (String::new(), 0i64, Vec::new(), false, None);
    while let Some((n, v)) = f.next_field() {
        match (n, v) {
            (1, Value::Bytes(b)) => source = String::from_utf8_lossy(b).into_owned(),
            (2, Value::Varint(t)) => time = t as i64,
            (3, Value::Bytes(b)) => line = b.to_vec(),
            (4, Value::Varint(p)) => partial = p != 0,
            (5, Value::Bytes(b)) => {
                let mut m = Fields { data: b };
                let mut p = Partial {
                    id: String::new(),
                    ordinal: 0,
                    last: false,
                };
                while let Some((n, v)) = m.next_field() {
                    match (n, v) {
                        (1, Value::Varint(l)) => p.last = l != 0,
                        (2, Value::Bytes(id)) => p.id = String::from_utf8_lossy(id).into_owned(),
                        (3, Value::Varint(o)) => p.ordinal = o as i32,
                        _ => {}
                    }
                }
                meta = Some(p);
            }
            _ => {}
        }
    }
    let meta = if partial {
        Some(meta.unwrap_or(Partial {
            id: String::new(),
            ordinal: 0,
            last: false,
        }))
    } else {
        None
    };
    Some((source, time, line, meta))
}

/// The messages of a file's bytes, and how many bytes they took (a torn message at the
/// end is left for a later read; a corrupt one ends the read).
pub fn decode_all(data: &[u8]) -> (Vec<LogEntry>, usize) {
    let mut out = Vec::new();
    let mut pos = 0;
    while data.len() - pos >= 8 {
        let len = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        if len > MAX_MESSAGE || data.len() - pos < len + 8 {
            break;
        }
        let body = &data[pos + 4..pos + 4 + len];
        let trailer = &data[pos + 4 + len..pos + 8 + len];
        if trailer != &data[pos..pos + 4] {
            break;
        }
        let Some((source, time, mut line, partial)) = decode(body) else {
            break;
        };
        if partial.as_ref().is_none_or(|p| p.last) {
            line.push(b'\n');
        }
        out.push(LogEntry {
            stream: source,
            log: String::from_utf8_lossy(&line).into_owned(),
            nanos: i128::from(time),
        });
        pos += len + 8;
    }
    (out, pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Messages as Debian's dockerd 20.10 wrote them (`docker run --log-driver local`):
    /// a full line, and an unterminated end (partial, ordinal 1, not last).
    const LINE: &str = "0000001b0a067374646f757410879ac2dce6d0adf5181a076c696e652d35380000001b";
    const PARTIAL: &str = "000000630a067374646f757410fee6acf3e6d0adf5181a077061727469616c20012a44124066373239326431616437643836323361633961613966356565653264373735623364393431333738343038343266373538376230643837343831653231643430180100000063";

    #[test]
    fn framing_is_byte_for_byte_dockerds() {
        let line = unhex(LINE);
        let (source, time, text, partial) = decode(&line[4..line.len() - 4]).unwrap();
        assert_eq!(
            (source.as_str(), text.as_slice(), &partial),
            ("stdout", &b"line-58"[..], &None)
        );
        assert_eq!(encode("stdout", time, b"line-58", None), line);

        let part = unhex(PARTIAL);
        let (_, time, text, partial) = decode(&part[4..part.len() - 4]).unwrap();
        let p = partial.unwrap();
        assert_eq!(
            (text.as_slice(), p.ordinal, p.last),
            (&b"partial"[..], 1, false)
        );
        assert_eq!(p.id.len(), 64);
        assert_eq!(encode("stdout", time, b"partial", Some(&p)), part);

        let mut both = line.clone();
        both.extend(&part);
        let (entries, used) = decode_all(&both);
        assert_eq!(used, both.len());
        assert_eq!(entries[0].log, "line-58\n");
        assert_eq!(entries[1].log, "partial");
        // A torn message is not consumed.
        let (entries, used) = decode_all(&both[..both.len() - 3]);
        assert_eq!((entries.len(), used), (1, line.len()));
    }

    #[test]
    fn empty_line_and_last_partial_round_trip() {
        let p = Partial {
            id: "abc".into(),
            ordinal: 2,
            last: true,
        };
        let mut data = encode("stderr", 5, b"", None);
        data.extend(encode("stdout", -1, b"end", Some(&p)));
        let (entries, _) = decode_all(&data);
        assert_eq!(entries[0].log, "\n");
        assert_eq!(entries[0].stream, "stderr");
        assert_eq!((entries[1].log.as_str(), entries[1].nanos), ("end\n", -1));
    }
}
