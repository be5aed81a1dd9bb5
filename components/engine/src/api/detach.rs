//! Detach keys: the key sequence (`ctrl-p,ctrl-q` unless the client or daemon.json says
//! otherwise) that ends an attach without touching the container. dockerd watches the
//! attached stdin for it; bytes of a partial match are held back and passed on when the
//! sequence turns out not to follow.

/// The sequence dockerd uses when neither the request nor daemon.json names one.
pub const DEFAULT: &str = "ctrl-p,ctrl-q";

/// `ctrl-p,ctrl-q`, `a,b`, `ctrl-@`: docker's key syntax, as bytes. The error is
/// dockerd's wording.
pub fn parse(keys: &str) -> Result<Vec<u8>, String> {
    let bad = || format!("Invalid detach keys ({keys}) provided");
    let mut out = Vec::new();
    for key in keys.split(',') {
        let byte = match key.strip_prefix("ctrl-") {
            Some(c) if c.len() == 1 => match c.as_bytes()[0] {
                b @ b'a'..=b'z' => b - b'a' + 1,
                b'@' => 0,
                b @ b'['..=b'_' => b - b'[' + 27,
                _ => return Err(bad()),
            },
            Some(_) => return Err(bad()),
            None if key.len() == 1 => key.as_bytes()[0],
            None => return Err(bad()),
        };
        out.push(byte);
    }
    Ok(out)
}

/// Watches a byte stream for the sequence.
pub struct Escape {
    keys: Vec<u8>,
    /// How many bytes of `keys` the stream has matched so far (held back).
    matched: usize,
}

/// What to do with one chunk of stdin.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Pass these bytes to the container.
    Pass(Vec<u8>),
    /// The sequence was read: pass these bytes (typed before it), then detach.
    Detach(Vec<u8>),
}

impl Escape {
    pub fn new(keys: Vec<u8>) -> Escape {
        Escape { keys, matched: 0 }
    }

    pub fn feed(&mut self, chunk: &[u8]) -> Step {
        let mut pass = Vec::with_capacity(chunk.len());
        for &b in chunk {
            if self.keys.is_empty() {
                pass.push(b);
                continue;
            }
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return Step::Detach(pass);
                }
                continue;
            }
            // A broken partial match: what was held back goes through, and this byte
            // may start the sequence afresh.
            pass.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] && self.keys.len() > 1 {
                self.matched = 1;
            } else if b == self.keys[0] {
                return Step::Detach(pass);
            } else {
                pass.push(b);
            }
        }
        Step::Pass(pass)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_syntax() {
        assert_eq!(parse("ctrl-p,ctrl-q").unwrap(), [16, 17]);
        assert_eq!(parse("a,ctrl-@,ctrl-[,ctrl-_").unwrap(), [b'a', 0, 27, 31]);
        assert_eq!(
            parse("ctrl-pp").unwrap_err(),
            "Invalid detach keys (ctrl-pp) provided"
        );
        assert!(parse("ab").is_err());
        assert!(parse("ctrl-1").is_err());
    }

    #[test]
    fn sequence_detaches_and_partial_matches_pass_through() {
        let mut e = Escape::new(vec![16, 17]);
        assert_eq!(e.feed(b"ab\x10"), Step::Pass(b"ab".to_vec()));
        assert_eq!(e.feed(b"c"), Step::Pass(b"\x10c".to_vec()));
        assert_eq!(e.feed(b"x\x10\x10"), Step::Pass(b"x\x10".to_vec()));
        assert_eq!(e.feed(b"\x11rest"), Step::Detach(Vec::new()));
        let mut single = Escape::new(vec![b'z']);
        assert_eq!(single.feed(b"abz"), Step::Detach(b"ab".to_vec()));
    }
}
