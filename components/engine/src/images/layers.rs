//! Layer tarballs <-> overlay2 directories: unpacking (whiteouts become overlay
//! whiteouts, hostile entries are refused) and packing a directory tree back into a
//! layer tarball (for commit, export and `docker cp`).

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

mod gotar;
pub use gotar::GoHeaders;

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("invalid layer tar: entry {0:?} escapes the layer (path traversal)")]
    Traversal(String),
    #[error("invalid layer tar: entry {0:?} is a device node, refused")]
    Device(String),
    #[error("invalid layer tar: {0}")]
    Tar(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Reads through to an inner reader while hashing and counting what passed.
pub struct HashingReader<R> {
    inner: R,
    pub hasher: Sha256,
    pub count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }
    pub fn digest(self) -> String {
        format!("sha256:{}", crate::ids::hex(&self.hasher.finalize()))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Reads a layer's tar back and fails at its end unless exactly `len` bytes hashing to
/// `diff_id` passed, so a damaged copy never goes out as the layer.
pub struct CheckedReader<R> {
    inner: HashingReader<R>,
    diff_id: String,
    len: u64,
}

impl<R: Read> CheckedReader<R> {
    pub fn new(inner: R, diff_id: &str, len: u64) -> Self {
        CheckedReader {
            inner: HashingReader::new(inner),
            diff_id: diff_id.to_string(),
            len,
        }
    }
}

impl<R: Read> Read for CheckedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.inner.count > self.len {
            return Err(io::Error::other(format!(
                "layer {}: its tar is longer than the {} bytes recorded",
                self.diff_id, self.len
            )));
        }
        if n == 0 && !buf.is_empty() {
            let got = format!(
                "sha256:{}",
                crate::ids::hex(&self.inner.hasher.clone().finalize())
            );
            if self.inner.count != self.len || got != self.diff_id {
                return Err(io::Error::other(format!(
                    "layer {}: the kept blob gives back {} bytes hashing to {got}",
                    self.diff_id, self.inner.count
                )));
            }
        }
        Ok(n)
    }
}

/// A tar stream, gzip-compressed or not (docker import and OCI layers may be either).
pub fn maybe_gunzip(mut f: std::fs::File) -> io::Result<Box<dyn Read + Send>> {
    use std::io::Seek;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic)?;
    f.seek(io::SeekFrom::Start(0))?;
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(flate2::read::GzDecoder::new(io::BufReader::new(
            f,
        ))))
    } else {
        Ok(Box::new(io::BufReader::new(f)))
    }
}

/// Clean relative path of a tar entry, or an error if it would leave the root.
fn entry_path(raw: &Path) -> Result<PathBuf, LayerError> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(LayerError::Traversal(raw.display().to_string()))
            }
        }
    }
    Ok(out)
}

fn mknod_whiteout(path: &Path) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: c is a valid path; a 0/0 character device is overlayfs's whiteout.
    let rc = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub fn set_opaque(dir: &Path) -> io::Result<()> {
    let c = CString::new(dir.as_os_str().as_bytes())?;
    let name = c"trusted.overlay.opaque";
    // SAFETY: valid C strings and a 1-byte value buffer.
    let rc = unsafe { libc::lsetxattr(c.as_ptr(), name.as_ptr(), b"y".as_ptr().cast(), 1, 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn is_opaque(dir: &Path) -> bool {
    let Ok(c) = CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    let mut buf = [0u8; 4];
    // SAFETY: valid C strings and buffer.
    let n = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n == 1 && buf[0] == b'y'
}

/// Unpack a layer tarball into `dest` (an empty directory), converting `.wh.` entries
/// to overlay whiteouts. Returns the unpacked size in bytes. The caller removes `dest`
/// on error.
pub fn unpack(reader: impl Read, dest: &Path) -> Result<u64, LayerError> {
    let mut ar = tar::Archive::new(GoHeaders::new(reader));
    ar.set_preserve_permissions(true);
    ar.set_preserve_ownerships(true);
    ar.set_preserve_mtime(true);
    ar.set_unpack_xattrs(true);
    ar.set_overwrite(true);
    let mut size = 0u64;
    let mut dirs = Vec::new();
    for entry in ar.entries().map_err(|e| LayerError::Tar(e.to_string()))? {
        let mut entry = entry.map_err(|e| LayerError::Tar(e.to_string()))?;
        let raw = entry
            .path()
            .map_err(|e| LayerError::Tar(e.to_string()))?
            .into_owned();
        let rel = entry_path(&raw)?;
        let kind = entry.header().entry_type();
        if kind.is_block_special() || kind.is_character_special() {
            return Err(LayerError::Device(raw.display().to_string()));
        }
        if kind.is_hard_link() {
            if let Some(target) = entry
                .link_name()
                .map_err(|e| LayerError::Tar(e.to_string()))?
            {
                entry_path(&target)?;
            }
        }
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(hidden) = name.strip_prefix(".wh.") {
            let parent = dest.join(rel.parent().unwrap_or(Path::new("")));
            std::fs::create_dir_all(&parent)?;
            check_inside(dest, &parent, &raw)?;
            if hidden == ".wh..opq" {
                set_opaque(&parent)?;
            } else {
                let target = parent.join(hidden);
                let _ = std::fs::remove_file(&target);
                mknod_whiteout(&target)?;
            }
            continue;
        }
        if rel.as_os_str().is_empty() {
            continue;
        }
        size += entry.header().size().unwrap_or(0);
        // dockerd's size of a layer counts a symlink as its lstat size, its target's length.
        if kind.is_symlink() {
            size += entry.link_name_bytes().map_or(0, |l| l.len() as u64);
        }
        let mtime = entry.header().mtime().unwrap_or(0);
        // The crate stores a zero mtime as 1; dockerd keeps 0, so those are put back too.
        if kind.is_dir() || mtime == 0 {
            dirs.push((rel.clone(), mtime));
        }
        let ok = entry.unpack_in(dest).map_err(|e| {
            let cause = std::error::Error::source(&e)
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            LayerError::Tar(format!("{}: {e}{cause}", raw.display()))
        })?;
        if !ok {
            return Err(LayerError::Traversal(raw.display().to_string()));
        }
    }
    // Later entries changed directory mtimes; put back the recorded ones (and zero ones).
    for (rel, mtime) in dirs.iter().rev() {
        let p = dest.join(rel);
        let t = libc::timespec {
            tv_sec: *mtime as i64,
            tv_nsec: 0,
        };
        if let Ok(c) = CString::new(p.as_os_str().as_bytes()) {
            // SAFETY: valid path and two timespecs; AT_SYMLINK_NOFOLLOW never follows.
            unsafe {
                libc::utimensat(
                    libc::AT_FDCWD,
                    c.as_ptr(),
                    [t, t].as_ptr(),
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            };
        }
    }
    Ok(size)
}

/// The parent of a whiteout must resolve inside the layer (no writing through links).
fn check_inside(root: &Path, p: &Path, raw: &Path) -> Result<(), LayerError> {
    let canon_root = root.canonicalize()?;
    let canon = p.canonicalize()?;
    if !canon.starts_with(&canon_root) {
        return Err(LayerError::Traversal(raw.display().to_string()));
    }
    Ok(())
}

/// Write a tarball of the tree at `dir` (an overlay upper dir or a plain tree); overlay
/// whiteouts become `.wh.` entries when `whiteouts` is set. Names are relative, sorted.
pub fn pack_dir(dir: &Path, out: impl Write, whiteouts: bool) -> io::Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    pack_rec(&mut b, dir, Path::new(""), whiteouts)?;
    b.into_inner()?.flush()
}

fn pack_rec<W: Write>(
    b: &mut tar::Builder<W>,
    root: &Path,
    rel: &Path,
    whiteouts: bool,
) -> io::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(root.join(rel))?
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for name in names {
        let r = rel.join(&name);
        let full = root.join(&r);
        let md = std::fs::symlink_metadata(&full)?;
        let ft = md.file_type();
        use std::os::unix::fs::FileTypeExt;
        if whiteouts && ft.is_char_device() && md.rdev() == 0 {
            let wh = rel.join(format!(".wh.{}", name.to_string_lossy()));
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(0);
            h.set_mode(0o600);
            h.set_mtime(md.mtime() as u64);
            b.append_data(&mut h, &wh, io::empty())?;
            continue;
        }
        if ft.is_socket() {
            continue;
        }
        b.append_path_with_name(&full, &r)?;
        if ft.is_dir() {
            if whiteouts && is_opaque(&full) {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(0);
                h.set_mode(0o600);
                b.append_data(&mut h, r.join(".wh..wh..opq"), io::empty())?;
            }
            pack_rec(b, root, &r, whiteouts)?;
        }
    }
    Ok(())
}

/// Total size of regular files under `dir` (what `SizeRw` reports).
pub fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    for e in rd.flatten() {
        let Ok(md) = e.path().symlink_metadata() else {
            continue;
        };
        if md.is_dir() {
            total += dir_size(&e.path());
        } else if md.is_file() || md.file_type().is_symlink() {
            total += md.len();
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o755);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            if let Some(l) = link {
                h.set_link_name(l).unwrap();
            }
            // Bypass the builder's own path checks: hostile names are the point.
            let bytes = name.as_bytes();
            h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn a_checked_tar_fails_unless_its_length_and_digest_match() {
        let data = b"layer bytes";
        let diff_id = format!("sha256:{}", crate::ids::hex(&Sha256::digest(data)));
        let read = |bytes: &[u8], len: u64| {
            let mut out = Vec::new();
            CheckedReader::new(bytes, &diff_id, len)
                .read_to_end(&mut out)
                .map(|_| out)
        };
        assert_eq!(read(data, data.len() as u64).unwrap(), data);
        assert!(read(b"layer bytez", data.len() as u64).is_err());
        assert!(read(data, data.len() as u64 + 1).is_err());
        assert!(read(data, data.len() as u64 - 1).is_err());
    }

    #[test]
    fn traversal_refused() {
        let t = tar_with(&[("../evil", tar::EntryType::Regular, b"x", None)]);
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("layer");
        std::fs::create_dir(&dest).unwrap();
        assert!(matches!(
            unpack(&t[..], &dest),
            Err(LayerError::Traversal(_))
        ));
        assert!(!d.path().join("evil").exists());
    }

    #[test]
    fn write_through_absolute_symlink_refused() {
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().to_str().unwrap().to_string();
        let t = tar_with(&[
            ("link", tar::EntryType::Symlink, b"", Some(&target)),
            ("link/pwned", tar::EntryType::Regular, b"x", None),
        ]);
        let d = tempfile::tempdir().unwrap();
        assert!(unpack(&t[..], d.path()).is_err());
        assert!(!outside.path().join("pwned").exists());
    }

    #[test]
    fn device_refused() {
        let t = tar_with(&[("dev/sda", tar::EntryType::Block, b"", None)]);
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            unpack(&t[..], d.path()),
            Err(LayerError::Device(_))
        ));
    }

    #[test]
    fn truncated_refused() {
        let t = tar_with(&[("file", tar::EntryType::Regular, &[7u8; 4000], None)]);
        let d = tempfile::tempdir().unwrap();
        assert!(unpack(&t[..1500], d.path()).is_err());
    }

    #[test]
    fn whiteouts_roundtrip() {
        let t = tar_with(&[
            ("etc/", tar::EntryType::Directory, b"", None),
            ("etc/.wh.gone", tar::EntryType::Regular, b"", None),
            ("etc/keep", tar::EntryType::Regular, b"k", None),
        ]);
        let d = tempfile::tempdir().unwrap();
        unpack(&t[..], d.path()).unwrap();
        let md = std::fs::symlink_metadata(d.path().join("etc/gone")).unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(md.file_type().is_char_device());
        let mut out = Vec::new();
        pack_dir(d.path(), &mut out, true).unwrap();
        let mut names: Vec<String> = tar::Archive::new(&out[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["etc", "etc/.wh.gone", "etc/keep"]);
    }
}
