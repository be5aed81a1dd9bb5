//! Tar headers as Go's `archive/tar` reads them. Images are written by Go tools, and
//! dockerd accepts what Go accepts: a numeric field that is empty, NUL-filled or padded
//! with NULs or spaces on either side parses (empty as 0), and a header-only entry (link,
//! symlink, directory, device, FIFO) carries no data whatever its size field says. The
//! `tar` crate refuses the first and follows the size field in the second, so this
//! reader rewrites such headers into the canonical octal form (with a fresh checksum)
//! before the crate sees them. Headers whose checksum is wrong, or whose fields hold
//! something other than octal digits, pass unchanged and are refused downstream.

use std::io::{self, Read};

const BLOCK: usize = 512;
/// Offset and length of every numeric field of a ustar/GNU header that is read.
const NUMERIC: [(usize, usize); 7] = [
    (100, 8),  // mode
    (108, 8),  // uid
    (116, 8),  // gid
    (124, 12), // size
    (136, 12), // mtime
    (329, 8),  // devmajor
    (337, 8),  // devminor
];
const SIZE: (usize, usize) = (124, 12);
const DEVMAJOR: usize = 329;
const CHKSUM: (usize, usize) = (148, 8);
const TYPEFLAG: usize = 156;
/// A PAX extended header larger than this is refused rather than buffered.
const MAX_PAX: u64 = 1 << 20;

/// Wraps a tar stream; see the module comment.
pub struct GoHeaders<R> {
    inner: R,
    /// Bytes ready to hand out (a rewritten header, a PAX header's data).
    out: Vec<u8>,
    pos: usize,
    /// Data (with block padding) of the current entry still to pass through as is.
    data_left: u64,
    /// A PAX `size` record for the next entry, which overrides its header's field.
    pax_size: Option<u64>,
}

impl<R: Read> GoHeaders<R> {
    pub fn new(inner: R) -> Self {
        GoHeaders {
            inner,
            out: Vec::new(),
            pos: 0,
            data_left: 0,
            pax_size: None,
        }
    }

    /// Read up to one block; short only at the end of the stream.
    fn read_block(&mut self, block: &mut [u8; BLOCK]) -> io::Result<usize> {
        let mut got = 0;
        while got < BLOCK {
            match self.inner.read(&mut block[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(got)
    }

    /// Take in the next header block (and a PAX header's data) into `out`.
    fn next_header(&mut self) -> io::Result<()> {
        let mut block = [0u8; BLOCK];
        let got = self.read_block(&mut block)?;
        self.out.clear();
        self.pos = 0;
        if got < BLOCK || block.iter().all(|&b| b == 0) {
            // The end marker or a truncated stream: the tar crate judges it.
            self.out.extend_from_slice(&block[..got]);
            return Ok(());
        }
        if checksum_ok(&block) {
            normalize(&mut block);
        }
        let kind = block[TYPEFLAG];
        let header_size = field_value(&block[SIZE.0..SIZE.0 + SIZE.1]).unwrap_or(0);
        let size = match kind {
            b'x' | b'g' | b'L' | b'K' => header_size,
            _ if header_only(kind) => 0,
            _ => self.pax_size.take().unwrap_or(header_size),
        };
        self.out.extend_from_slice(&block);
        let padded = size.div_ceil(BLOCK as u64) * BLOCK as u64;
        if kind == b'x' && size <= MAX_PAX {
            // Buffered: its `size` record decides how much data the next entry has.
            let start = self.out.len();
            self.out.resize(start + padded as usize, 0);
            let mut filled = 0;
            while filled < padded as usize {
                match self.inner.read(&mut self.out[start + filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            self.out.truncate(start + filled);
            let records = &self.out[start..start + filled.min(size as usize)];
            self.pax_size = pax_size(records);
        } else {
            self.data_left = padded;
        }
        Ok(())
    }
}

impl<R: Read> Read for GoHeaders<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.out.len() {
                let n = buf.len().min(self.out.len() - self.pos);
                buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.data_left > 0 {
                let want = buf
                    .len()
                    .min(self.data_left.min(usize::MAX as u64) as usize);
                let n = self.inner.read(&mut buf[..want])?;
                self.data_left -= n as u64;
                return Ok(n);
            }
            self.next_header()?;
            if self.out.is_empty() {
                return Ok(0);
            }
        }
    }
}

/// Go's header-only types: their data is skipped whatever the size field says.
fn header_only(kind: u8) -> bool {
    matches!(kind, b'1' | b'2' | b'3' | b'4' | b'5' | b'6')
}

/// Go's reading of a numeric field: base-256 when the top bit is set, else octal with
/// NULs and spaces trimmed from both ends, empty being 0. None when not a number.
fn field_value(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        if field[0] & 0x40 != 0 {
            return None; // negative
        }
        let mut v: u64 = u64::from(field[0] & 0x3f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let trimmed = trim(field);
    if trimmed.is_empty() {
        return Some(0);
    }
    if !trimmed.iter().all(|b| (b'0'..=b'7').contains(b)) {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(trimmed).ok()?, 8).ok()
}

fn trim(field: &[u8]) -> &[u8] {
    let keep = |b: &u8| *b != 0 && *b != b' ';
    let start = field.iter().position(keep).unwrap_or(field.len());
    let end = field.iter().rposition(keep).map_or(start, |i| i + 1);
    &field[start..end]
}

/// Whether the stored checksum matches, by Go's rule (the unsigned or the signed sum of
/// the header with the checksum field read as spaces).
fn checksum_ok(block: &[u8; BLOCK]) -> bool {
    let Some(stored) = field_value(&block[CHKSUM.0..CHKSUM.0 + CHKSUM.1]) else {
        return false;
    };
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &b) in block.iter().enumerate() {
        let b = if (CHKSUM.0..CHKSUM.0 + CHKSUM.1).contains(&i) {
            b' '
        } else {
            b
        };
        unsigned += i64::from(b);
        signed += i64::from(b as i8);
    }
    stored as i64 == unsigned || stored as i64 == signed
}

/// Rewrite every numeric field the tar crate would misread into plain octal, zero
/// the size of header-only entries, and store a fresh checksum if anything changed.
fn normalize(block: &mut [u8; BLOCK]) {
    let mut changed = false;
    let header_only = header_only(block[TYPEFLAG]);
    let device = matches!(block[TYPEFLAG], b'3' | b'4');
    for (off, len) in NUMERIC {
        let field = &block[off..off + len];
        // Device numbers are read for devices only (by Go and by the crate).
        if field[0] & 0x80 != 0 || (off >= DEVMAJOR && !device) {
            continue;
        }
        let Some(mut value) = field_value(field) else {
            continue;
        };
        if header_only && (off, len) == SIZE && value != 0 {
            value = 0;
        } else if crate_reads(field) == Some(value) {
            continue;
        }
        if value >= 1u64 << (3 * (len - 1)) {
            continue; // does not fit in octal: left for the crate to refuse
        }
        let text = format!("{value:0width$o}\0", width = len - 1);
        block[off..off + len].copy_from_slice(text.as_bytes());
        changed = true;
    }
    if changed {
        block[CHKSUM.0..CHKSUM.0 + CHKSUM.1].fill(b' ');
        let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
        let text = format!("{sum:06o}\0 ");
        block[CHKSUM.0..CHKSUM.0 + CHKSUM.1].copy_from_slice(text.as_bytes());
    }
}

/// What the tar crate makes of an octal field: up to the first NUL, spaces trimmed.
fn crate_reads(field: &[u8]) -> Option<u64> {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    let text = std::str::from_utf8(&field[..end]).ok()?.trim();
    u64::from_str_radix(text, 8).ok()
}

/// The `size` record of PAX extended header data (`<len> size=<n>\n` records).
fn pax_size(mut records: &[u8]) -> Option<u64> {
    let mut found = None;
    while !records.is_empty() {
        let sp = records.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&records[..sp]).ok()?.parse().ok()?;
        if len <= sp || len > records.len() {
            return found;
        }
        let record = &records[sp + 1..len];
        if let Some(v) = record.strip_prefix(b"size=") {
            let v = v.strip_suffix(b"\n").unwrap_or(v);
            found = std::str::from_utf8(v).ok()?.parse().ok();
        }
        records = &records[len..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ustar header as a Go tool may leave it: mode with leading NULs, uid, gid and
    /// mtime all NUL, devmajor/devminor spaces.
    fn sloppy_header(name: &str, kind: u8, size_field: &[u8]) -> [u8; BLOCK] {
        let mut h = [0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"\0\0\x00644 \0");
        h[124..124 + size_field.len()].copy_from_slice(size_field);
        h[TYPEFLAG] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[329..345].fill(b' ');
        h[CHKSUM.0..CHKSUM.0 + CHKSUM.1].fill(b' ');
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[CHKSUM.0..CHKSUM.0 + 7].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        h
    }

    /// Path, uid, mode, mtime and data of an entry.
    type Summary = (String, u64, u32, u64, Vec<u8>);

    fn entries(stream: &[u8]) -> io::Result<Vec<Summary>> {
        let mut ar = tar::Archive::new(GoHeaders::new(stream));
        let mut out = Vec::new();
        for e in ar.entries()? {
            let mut e = e?;
            let h = e.header().clone();
            let mut data = Vec::new();
            e.read_to_end(&mut data)?;
            out.push((
                e.path()?.display().to_string(),
                h.uid()?,
                h.mode()?,
                h.mtime()?,
                data,
            ));
        }
        Ok(out)
    }

    #[test]
    fn nul_filled_numeric_fields_read_as_go_reads_them() {
        let mut t = Vec::new();
        t.extend(sloppy_header("a", b'0', b"\0\0\0\0\0\0\0\0\x005\0\0"));
        t.extend(*b"hello");
        t.resize(t.len() + BLOCK - 5, 0);
        // A symlink whose size field claims data that is not there (Go skips none).
        t.extend(sloppy_header("l", b'2', b"00000001000\0"));
        t.extend(sloppy_header("empty", b'0', b"\0\0\0\0\0\0\0\0\0\0\0\0"));
        t.resize(t.len() + 2 * BLOCK, 0);
        // Without the rewrite the crate refuses the first header.
        assert!(tar::Archive::new(&t[..])
            .entries()
            .unwrap()
            .next()
            .unwrap()
            .is_err());
        let got = entries(&t).unwrap();
        let summary: Vec<_> = got
            .iter()
            .map(|(p, uid, mode, mtime, d)| (p.as_str(), *uid, *mode, *mtime, d.as_slice()))
            .collect();
        assert_eq!(
            summary,
            [
                ("a", 0, 0o644, 0, &b"hello"[..]),
                ("l", 0, 0o644, 0, &b""[..]),
                ("empty", 0, 0o644, 0, &b""[..]),
            ]
        );
    }

    #[test]
    fn pax_size_overrides_the_next_header() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(3);
        h.set_mode(0o600);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        b.append_data(&mut h, "x", &b"abc"[..]).unwrap();
        let plain = b.into_inner().unwrap();
        // The same entry preceded by a PAX header with its size, its own field NUL.
        let record = b"12 size=300\n";
        let mut t = Vec::new();
        t.extend(sloppy_header(
            "pax",
            b'x',
            format!("{:011o}\0", record.len()).as_bytes(),
        ));
        t.extend(record);
        t.resize(2 * BLOCK, 0);
        t.extend(sloppy_header("big", b'0', b"\0\0\0\0\0\0\0\0\0\0\0\0"));
        t.extend([b'z'; 300]);
        t.resize(t.len() + BLOCK - 300 + 2 * BLOCK, 0);
        let got = entries(&t).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].4, vec![b'z'; 300]);
        // Canonical archives pass byte for byte.
        let mut same = Vec::new();
        GoHeaders::new(&plain[..]).read_to_end(&mut same).unwrap();
        assert!(same == plain, "a canonical archive was rewritten");
    }

    #[test]
    fn bad_checksum_and_non_octal_fields_still_fail() {
        let mut h = sloppy_header("a", b'0', b"\0\0\0\0\0\0\0\0\0\0\0\0");
        h[CHKSUM.0] = b'7';
        let mut t = h.to_vec();
        t.resize(3 * BLOCK, 0);
        assert!(entries(&t).is_err());
        let mut h = sloppy_header("a", b'0', b"\0\0\0\0\0\0\0\0\0\0\0\0");
        h[108..116].copy_from_slice(b"12x4567\0");
        h[CHKSUM.0..CHKSUM.0 + CHKSUM.1].fill(b' ');
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[CHKSUM.0..CHKSUM.0 + 7].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        let mut t = h.to_vec();
        t.resize(3 * BLOCK, 0);
        assert!(entries(&t).is_err());
    }
}
