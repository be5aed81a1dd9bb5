//! Applying layer tarballs (plain, gzip or zstd) to a snapshot directory without ever
//! writing outside it: entry paths with `..` are refused, parent directories are
//! resolved inside the root (symlinks included, clamped to the root), files are created
//! only after removing what was there and never through a symlink, hard links must point
//! inside the layer root, and device nodes are refused. Whiteouts become overlay
//! whiteouts (0/0 character devices, opaque xattrs) when writing an overlay upper dir,
//! or deletions when writing a full tree.

use std::collections::HashSet;
use std::ffi::CString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ApplyError {
    #[error("layer entry {0:?}: path escapes the layer root")]
    Escape(String),
    #[error("layer entry {0:?}: device nodes are not allowed in layers")]
    Device(String),
    #[error("layer entry {0:?}: parent is not a directory")]
    NotDir(String),
    #[error("layer entry {entry:?}: hard link target {target:?} not found in the layer root")]
    LinkTarget { entry: String, target: String },
    #[error("unsupported layer mounts: {0}")]
    Mounts(String),
    #[error("reading layer: {0}")]
    Read(io::Error),
    #[error("layer entry {entry:?}: {source}")]
    Write { entry: String, source: io::Error },
}

/// Where a layer is written and how whiteouts are represented there.
pub struct Target {
    pub root: PathBuf,
    pub overlay_upper: bool,
}

impl Target {
    /// The directory the mounts of an active snapshot write to.
    pub fn from_mounts(mounts: &[containerd_client::types::Mount]) -> Result<Target, ApplyError> {
        match mounts {
            [m] if m.r#type == "bind" || m.r#type == "rbind" => Ok(Target {
                root: PathBuf::from(&m.source),
                overlay_upper: false,
            }),
            [m] if m.r#type == "overlay" => {
                let upper = m
                    .options
                    .iter()
                    .find_map(|o| o.strip_prefix("upperdir="))
                    .ok_or_else(|| ApplyError::Mounts("overlay mount without upperdir".into()))?;
                Ok(Target {
                    root: PathBuf::from(upper),
                    overlay_upper: true,
                })
            }
            _ => Err(ApplyError::Mounts(format!("{} mounts", mounts.len()))),
        }
    }
}

/// A reader that hashes everything read through it: the applied layer's diff id.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
    size: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// Open a possibly compressed layer stream.
pub fn decompress(mut r: impl Read + Send + 'static) -> io::Result<Box<dyn Read + Send>> {
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        let k = r.read(&mut magic[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let chained = io::Cursor::new(magic[..n].to_vec()).chain(r);
    Ok(if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(chained))
    } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        Box::new(zstd::stream::read::Decoder::new(chained)?)
    } else {
        Box::new(chained)
    })
}

/// Apply an uncompressed tar stream; returns the digest and size of the tar.
pub fn apply(target: &Target, tar_stream: impl Read) -> Result<(String, u64), ApplyError> {
    let hashing = Hashing {
        inner: tar_stream,
        hash: Sha256::new(),
        size: 0,
    };
    let mut archive = tar::Archive::new(hashing);
    let mut dir_times: Vec<(PathBuf, i64)> = Vec::new();
    let mut written: HashSet<PathBuf> = HashSet::new();
    for entry in archive.entries().map_err(ApplyError::Read)? {
        let mut entry = entry.map_err(ApplyError::Read)?;
        apply_entry(target, &mut entry, &mut dir_times, &mut written)?;
    }
    let mut hashing = archive.into_inner();
    io::copy(&mut hashing, &mut io::sink()).map_err(ApplyError::Read)?;
    for (p, mtime) in dir_times.into_iter().rev() {
        set_times(&p, mtime);
    }
    Ok((
        format!("sha256:{}", super::content::hex(&hashing.hash.finalize())),
        hashing.size,
    ))
}

/// Entry path as clean components; `..` anywhere is an escape attempt.
fn clean(raw: &str) -> Result<Vec<String>, ApplyError> {
    let mut out = Vec::new();
    for c in Path::new(raw).components() {
        match c {
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(ApplyError::Escape(raw.to_owned()))
            }
        }
    }
    Ok(out)
}

/// Resolve `comps` as directories inside `root`, following symlinks but clamping them
/// to the root (as if chrooted), creating missing directories.
fn resolve_dir(root: &Path, comps: &[String], entry: &str) -> Result<PathBuf, ApplyError> {
    let werr = |source| ApplyError::Write {
        entry: entry.to_owned(),
        source,
    };
    let mut stack: Vec<String> = Vec::new();
    let mut todo: Vec<String> = comps.iter().rev().cloned().collect();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            stack.pop();
            continue;
        }
        let next = stack
            .iter()
            .fold(root.to_path_buf(), |p, s| p.join(s))
            .join(&c);
        match fs::symlink_metadata(&next) {
            Ok(md) if md.is_dir() => stack.push(c),
            Ok(md) if md.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return Err(ApplyError::NotDir(entry.to_owned()));
                }
                let target = fs::read_link(&next).map_err(werr)?;
                if target.is_absolute() {
                    stack.clear();
                }
                let mut rest: Vec<String> = Vec::new();
                for tc in target.components() {
                    match tc {
                        Component::Normal(s) => rest.push(s.to_string_lossy().into_owned()),
                        Component::ParentDir => rest.push("..".into()),
                        _ => {}
                    }
                }
                todo.extend(rest.into_iter().rev());
            }
            Ok(_) => return Err(ApplyError::NotDir(entry.to_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&next).map_err(werr)?;
                fs::set_permissions(&next, fs::Permissions::from_mode(0o755)).map_err(werr)?;
                stack.push(c);
            }
            Err(e) => return Err(werr(e)),
        }
    }
    Ok(stack.iter().fold(root.to_path_buf(), |p, s| p.join(s)))
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("paths have no NUL")
}

fn set_times(p: &Path, mtime: i64) {
    let ts = libc::timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    let times = [ts, ts];
    let c = cstr(p);
    // SAFETY: c is a valid path and times points to two timespecs.
    unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
}

fn lchown(p: &Path, uid: u64, gid: u64) -> io::Result<()> {
    std::os::unix::fs::lchown(p, Some(uid as u32), Some(gid as u32))
}

fn set_xattr(p: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let c = cstr(p);
    let n = CString::new(name).map_err(io::Error::other)?;
    // SAFETY: valid C strings and a buffer of value.len() bytes.
    let rc = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn mknod(p: &Path, mode: u32, dev: libc::dev_t) -> io::Result<()> {
    let c = cstr(p);
    // SAFETY: valid path.
    if unsafe { libc::mknod(c.as_ptr(), mode, dev) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Remove a file or a whole tree, never following symlinks.
pub fn remove_tree(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(md) if md.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn apply_entry<R: Read>(
    target: &Target,
    entry: &mut tar::Entry<R>,
    dir_times: &mut Vec<(PathBuf, i64)>,
    written: &mut HashSet<PathBuf>,
) -> Result<(), ApplyError> {
    let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
    let comps = clean(&raw)?;
    let Some((name, parents)) = comps.split_last() else {
        return Ok(()); // the root itself
    };
    let werr = |source| ApplyError::Write {
        entry: raw.clone(),
        source,
    };
    let parent = resolve_dir(&target.root, parents, &raw)?;
    let path = parent.join(name);

    if name == ".wh..wh..opq" {
        if target.overlay_upper {
            set_xattr(&parent, "trusted.overlay.opaque", b"y").map_err(werr)?;
        } else if let Ok(rd) = fs::read_dir(&parent) {
            for e in rd.flatten() {
                if !written.contains(&e.path()) {
                    remove_tree(&e.path()).map_err(werr)?;
                }
            }
        }
        return Ok(());
    }
    if let Some(hidden) = name.strip_prefix(".wh.") {
        let victim = parent.join(hidden);
        remove_tree(&victim).map_err(werr)?;
        if target.overlay_upper {
            mknod(&victim, libc::S_IFCHR, 0).map_err(werr)?;
        }
        return Ok(());
    }

    let header = entry.header();
    let kind = header.entry_type();
    let mode = header.mode().unwrap_or(0o644) & 0o7777;
    let uid = header.uid().unwrap_or(0);
    let gid = header.gid().unwrap_or(0);
    let mtime = header.mtime().unwrap_or(0) as i64;

    if kind.is_dir() {
        match fs::symlink_metadata(&path) {
            Ok(md) if md.is_dir() => {}
            Ok(_) => {
                remove_tree(&path).map_err(werr)?;
                fs::create_dir(&path).map_err(werr)?;
            }
            Err(_) => fs::create_dir(&path).map_err(werr)?,
        }
        lchown(&path, uid, gid).map_err(werr)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(werr)?;
        dir_times.push((path.clone(), mtime));
        written.insert(path.clone());
        apply_xattrs(entry, &path);
        return Ok(());
    }

    if kind.is_block_special() || kind.is_character_special() {
        return Err(ApplyError::Device(raw));
    }
    remove_tree(&path).map_err(werr)?;
    if kind.is_symlink() {
        let link = entry
            .link_name_bytes()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        symlink(&link, &path).map_err(werr)?;
    } else if kind.is_hard_link() {
        let link = entry
            .link_name_bytes()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let lcomps = clean(&link)?;
        let Some((lname, lparents)) = lcomps.split_last() else {
            return Err(ApplyError::Escape(link));
        };
        let src = resolve_dir(&target.root, lparents, &raw)?.join(lname);
        match fs::symlink_metadata(&src) {
            Ok(md) if !md.is_dir() => {}
            _ => {
                return Err(ApplyError::LinkTarget {
                    entry: raw,
                    target: link,
                })
            }
        }
        fs::hard_link(&src, &path).map_err(werr)?;
        written.insert(path);
        return Ok(());
    } else if kind.is_fifo() {
        mknod(&path, libc::S_IFIFO | mode, 0).map_err(werr)?;
    } else if kind.is_file()
        || kind == tar::EntryType::Continuous
        || kind == tar::EntryType::GNUSparse
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(0o600)
            .open(&path)
            .map_err(werr)?;
        io::copy(entry, &mut f).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                ApplyError::Read(e)
            } else {
                werr(e)
            }
        })?;
    } else {
        // PAX/GNU metadata entries are consumed by the tar reader; anything else is skipped.
        return Ok(());
    }
    lchown(&path, uid, gid).map_err(werr)?;
    if !kind.is_symlink() {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(werr)?;
    }
    apply_xattrs(entry, &path);
    set_times(&path, mtime);
    written.insert(path);
    Ok(())
}

/// PAX `SCHILY.xattr.*` records (file capabilities and the like), best effort.
fn apply_xattrs<R: Read>(entry: &mut tar::Entry<R>, path: &Path) {
    let Ok(Some(exts)) = entry.pax_extensions() else {
        return;
    };
    for ext in exts.flatten() {
        if let Ok(key) = ext.key() {
            if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                let _ = set_xattr(path, name, ext.value_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o755);
            h.set_size(if *kind == tar::EntryType::Regular {
                2
            } else {
                0
            });
            if !link.is_empty() {
                h.set_link_name(link).unwrap();
            }
            // set_path refuses `..`, so write the raw name as a hostile layer would.
            let name = h.as_old_mut().name.as_mut();
            name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            let data: &[u8] = if *kind == tar::EntryType::Regular {
                b"hi"
            } else {
                b""
            };
            b.append(&h, data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn target(dir: &Path) -> Target {
        Target {
            root: dir.join("root"),
            overlay_upper: false,
        }
    }

    #[test]
    fn dot_dot_entries_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("root")).unwrap();
        let t = tar_with(&[("../evil", tar::EntryType::Regular, "")]);
        let err = apply(&target(dir.path()), t.as_slice()).unwrap_err();
        assert!(matches!(err, ApplyError::Escape(_)), "{err}");
        assert!(!dir.path().join("evil").exists());
    }

    #[test]
    fn writes_through_absolute_symlinks_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("root")).unwrap();
        fs::create_dir(dir.path().join("outside")).unwrap();
        let out = dir.path().join("outside");
        let t = tar_with(&[
            ("link", tar::EntryType::Symlink, out.to_str().unwrap()),
            ("link/file", tar::EntryType::Regular, ""),
            ("up", tar::EntryType::Symlink, "../../.."),
            ("up/file2", tar::EntryType::Regular, ""),
        ]);
        apply(&target(dir.path()), t.as_slice()).unwrap();
        assert!(!out.join("file").exists());
        assert!(dir
            .path()
            .join("root")
            .join(out.strip_prefix("/").unwrap())
            .join("file")
            .exists());
        assert!(dir.path().join("root/file2").exists());
        assert!(!dir.path().join("file2").exists());
    }

    #[test]
    fn device_nodes_and_escaping_hard_links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("root")).unwrap();
        let t = tar_with(&[("sda", tar::EntryType::Block, "")]);
        assert!(matches!(
            apply(&target(dir.path()), t.as_slice()),
            Err(ApplyError::Device(_))
        ));
        let t = tar_with(&[("pw", tar::EntryType::Link, "../../etc/passwd")]);
        assert!(matches!(
            apply(&target(dir.path()), t.as_slice()),
            Err(ApplyError::Escape(_))
        ));
    }

    #[test]
    fn digest_is_of_the_uncompressed_tar_and_gzip_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("root")).unwrap();
        let t = tar_with(&[
            ("a/b", tar::EntryType::Regular, ""),
            ("a/.wh.c", tar::EntryType::Regular, ""),
        ]);
        let want = format!("sha256:{}", super::super::content::hex(&Sha256::digest(&t)));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &t).unwrap();
        let gz = gz.finish().unwrap();
        let r = decompress(io::Cursor::new(gz)).unwrap();
        let (d, size) = apply(&target(dir.path()), r).unwrap();
        assert_eq!(d, want);
        assert_eq!(size, t.len() as u64);
        assert_eq!(fs::read(dir.path().join("root/a/b")).unwrap(), b"hi");
    }

    #[test]
    fn truncated_layer_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("root")).unwrap();
        let t = tar_with(&[("a", tar::EntryType::Regular, "")]);
        let cut = &t[..600];
        assert!(apply(&target(dir.path()), cut).is_err());
    }
}
