//! COPY and ADD: sources from the context (or another stage's filesystem) copied into
//! a fresh layer directory at their destination, with docker's rules: a relative
//! destination is under WORKDIR, a trailing `/` or several sources make it a
//! directory, a directory source copies its contents, missing parents are created
//! (owned by `--chown`'s user), symlinks are copied as links and never followed, and
//! ADD unpacks local tar archives (plain or gzip). The content hash of what was copied
//! is the step's cache key, as docker's `file:<hash>`/`dir:<hash>` comments are.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::context::clean_rel;
use crate::BuildError;

/// What a COPY/ADD needs to know about the image it copies into.
pub trait ImageView {
    /// What is at `path` (absolute) in the image, links not followed.
    fn stat(&self, path: &str) -> Option<fs::Metadata>;
    /// Whether `path` (absolute) is a directory in the image.
    fn is_dir(&self, path: &str) -> bool {
        self.stat(path).is_some_and(|m| m.is_dir())
    }
    /// The contents of a file in the image (`/etc/passwd` for `--chown` names).
    fn read(&self, path: &str) -> Option<Vec<u8>>;
}

/// `--chown=user[:group]` to numeric ids, names looked up in the image's files.
pub fn resolve_chown(spec: &str, image: &dyn ImageView) -> Result<(u32, u32), BuildError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let lookup = |file: &str, name: &str, field: usize| -> Option<u32> {
        let text = String::from_utf8(image.read(file)?).ok()?;
        text.lines().find_map(|l| {
            let parts: Vec<&str> = l.split(':').collect();
            (parts.first() == Some(&name))
                .then(|| parts.get(field)?.parse().ok())
                .flatten()
        })
    };
    let uid = match user.parse::<u32>() {
        Ok(n) => n,
        Err(_) => lookup("/etc/passwd", user, 2).ok_or_else(|| {
            BuildError::Step(format!(
                "unable to convert uid/gid chown string to host mapping: can't find uid for user {user}: no such user: {user}"
            ))
        })?,
    };
    let gid = match group {
        None => match user.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup("/etc/passwd", user, 3).unwrap_or(uid),
        },
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup("/etc/group", g, 2).ok_or_else(|| {
                BuildError::Step(format!(
                    "unable to convert uid/gid chown string to host mapping: can't find gid for group {g}: no such group: {g}"
                ))
            })?,
        },
    };
    Ok((uid, gid))
}

/// Sources matching `pattern` (a path with `*`/`?` wildcards) under `root`.
fn matches(root: &Path, pattern: &str) -> Result<Vec<PathBuf>, BuildError> {
    let rel = clean_rel(Path::new(pattern)).ok_or_else(|| {
        BuildError::Step(format!(
            "forbidden path outside the build context: {pattern}"
        ))
    })?;
    if !pattern.contains(['*', '?', '[']) {
        let p = root.join(&rel);
        if fs::symlink_metadata(&p).is_err() {
            return Err(BuildError::Step(format!(
                "failed to compute cache key: \"/{}\" not found: not found",
                rel.display()
            )));
        }
        return Ok(vec![rel]);
    }
    let mut out = vec![PathBuf::new()];
    for comp in rel.components() {
        let c = comp.as_os_str().to_string_lossy().to_string();
        let mut next = Vec::new();
        for base in &out {
            if c.contains(['*', '?', '[']) {
                if let Ok(rd) = fs::read_dir(root.join(base)) {
                    let mut names: Vec<String> = rd
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().to_string())
                        .collect();
                    names.sort();
                    for n in names {
                        if glob(&c, &n) {
                            next.push(base.join(n));
                        }
                    }
                }
            } else {
                next.push(base.join(&c));
            }
        }
        out = next;
    }
    if out.is_empty() {
        return Err(BuildError::Step(format!(
            "COPY failed: no source files were specified matching {pattern}"
        )));
    }
    Ok(out)
}

fn glob(p: &str, s: &str) -> bool {
    fn m(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => m(&p[1..], s) || (!s.is_empty() && m(p, &s[1..])),
            (Some(b'?'), Some(_)) => m(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    m(p.as_bytes(), s.as_bytes())
}

fn io_err(what: &str, p: &Path) -> impl Fn(std::io::Error) -> BuildError {
    let what = what.to_string();
    let p = p.to_path_buf();
    move |e| BuildError::Step(format!("{what} {}: {e}", p.display()))
}

fn lchown(p: &Path, ids: (u32, u32)) -> Result<(), BuildError> {
    std::os::unix::fs::lchown(p, Some(ids.0), Some(ids.1)).map_err(io_err("chown", p))
}

/// Create `rel` and its parents inside `layer`: a directory the image already has is
/// repeated with its own mode and owner (the layer must not change it), a missing
/// one is made with mode 0755 owned by `ids`.
fn mkdir_all(
    layer: &Path,
    rel: &Path,
    ids: (u32, u32),
    image: &dyn ImageView,
) -> Result<(), BuildError> {
    let mut cur = layer.to_path_buf();
    let mut abs = String::new();
    for c in rel.components() {
        cur.push(c);
        abs.push('/');
        abs.push_str(&c.as_os_str().to_string_lossy());
        if fs::symlink_metadata(&cur).is_ok() {
            continue;
        }
        fs::create_dir(&cur).map_err(io_err("mkdir", &cur))?;
        match image.stat(&abs).filter(|m| m.is_dir()) {
            Some(m) => {
                fs::set_permissions(&cur, fs::Permissions::from_mode(m.mode() & 0o7777))
                    .map_err(io_err("chmod", &cur))?;
                lchown(&cur, (m.uid(), m.gid()))?;
                set_mtime(&cur, &m);
            }
            None => {
                fs::set_permissions(&cur, fs::Permissions::from_mode(0o755))
                    .map_err(io_err("chmod", &cur))?;
                lchown(&cur, ids)?;
            }
        }
    }
    Ok(())
}

fn set_mtime(p: &Path, meta: &fs::Metadata) {
    let t = libc::timespec {
        tv_sec: meta.mtime(),
        tv_nsec: meta.mtime_nsec(),
    };
    if let Ok(c) = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()) {
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

/// Copy `src` (file, directory or symlink; never followed) to `dst`, hashing; owned
/// by `ids`, or by the source's owner when None (COPY --from keeps owners).
fn copy_entry(
    layer: &Path,
    src: &Path,
    dst: &Path,
    ids: Option<(u32, u32)>,
    h: &mut Sha256,
) -> Result<(), BuildError> {
    let meta = fs::symlink_metadata(src).map_err(io_err("stat", src))?;
    let ids_of = ids.unwrap_or((meta.uid(), meta.gid()));
    let ft = meta.file_type();
    // The key names where it lands in the image, not where the layer is made.
    h.update(
        dst.strip_prefix(layer)
            .unwrap_or(dst)
            .as_os_str()
            .as_encoded_bytes(),
    );
    h.update(ids_of.0.to_le_bytes());
    h.update(ids_of.1.to_le_bytes());
    h.update(meta.mode().to_le_bytes());
    if ft.is_symlink() {
        let target = fs::read_link(src).map_err(io_err("readlink", src))?;
        h.update(target.as_os_str().as_encoded_bytes());
        let _ = fs::remove_file(dst);
        std::os::unix::fs::symlink(&target, dst).map_err(io_err("symlink", dst))?;
        lchown(dst, ids_of)?;
        set_mtime(dst, &meta);
    } else if ft.is_dir() {
        if !fs::symlink_metadata(dst).is_ok_and(|m| m.is_dir()) {
            fs::create_dir(dst).map_err(io_err("mkdir", dst))?;
        }
        let mut names: Vec<_> = fs::read_dir(src)
            .map_err(io_err("read", src))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            copy_entry(layer, &src.join(&n), &dst.join(&n), ids, h)?;
        }
        fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(io_err("chmod", dst))?;
        lchown(dst, ids_of)?;
        set_mtime(dst, &meta);
    } else if ft.is_file() {
        let mut data = Vec::new();
        fs::File::open(src)
            .and_then(|mut f| f.read_to_end(&mut data))
            .map_err(io_err("read", src))?;
        h.update(&data);
        let _ = fs::remove_file(dst);
        fs::write(dst, &data).map_err(io_err("write", dst))?;
        fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(io_err("chmod", dst))?;
        lchown(dst, ids_of)?;
        set_mtime(dst, &meta);
    }
    Ok(())
}

fn is_tar(path: &Path) -> bool {
    let mut head = vec![0u8; 512];
    let Ok(mut f) = fs::File::open(path) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    if n >= 2 && head[..2] == [0x1f, 0x8b] {
        return true;
    }
    n >= 262 && &head[257..262] == b"ustar"
}

fn extract(archive: &Path, dst: &Path, h: &mut Sha256) -> Result<(), BuildError> {
    let mut raw = Vec::new();
    fs::File::open(archive)
        .and_then(|mut f| f.read_to_end(&mut raw))
        .map_err(io_err("read", archive))?;
    h.update(&raw);
    let reader: Box<dyn Read> = if raw.len() >= 2 && raw[..2] == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(&raw[..]))
    } else {
        Box::new(&raw[..])
    };
    let mut ar = tar::Archive::new(reader);
    ar.set_preserve_permissions(true);
    ar.set_preserve_ownerships(true);
    ar.set_preserve_mtime(true);
    ar.set_overwrite(true);
    ar.unpack(dst)
        .map_err(|e| BuildError::Step(format!("extract {}: {e}", archive.display())))
}

/// Carry out a COPY/ADD into `layer`; the cache comment docker records
/// (`file:<hash> in <dest> `, `dir:...`, `multi:...`).
#[allow(clippy::too_many_arguments)]
pub fn copy(
    layer: &Path,
    src_root: &Path,
    sources: &[String],
    dest: &str,
    workdir: &str,
    ids: Option<(u32, u32)>,
    is_add: bool,
    image: &dyn ImageView,
    fetched: &HashMap<String, PathBuf>,
) -> Result<String, BuildError> {
    // Context-relative paths, or absolute ones for files downloaded for ADD <url>
    // (never unpacked, as docker never unpacks a download).
    let mut found = Vec::new();
    for s in sources {
        match fetched.get(s) {
            Some(file) => found.push(file.clone()),
            None => found.extend(matches(src_root, s)?),
        }
    }
    let abs_dest = if dest.starts_with('/') {
        dest.to_string()
    } else {
        format!("{}/{dest}", if workdir.is_empty() { "" } else { workdir })
    };
    let dest_rel = clean_rel(Path::new(&abs_dest)).unwrap_or_default();
    let dest_abs = format!("/{}", dest_rel.display());
    let into_dir = dest.ends_with('/')
        || dest == "."
        || found.len() > 1
        || image.is_dir(&dest_abs)
        || dest_rel.as_os_str().is_empty();
    let parents = ids.unwrap_or((0, 0));
    let mut h = Sha256::new();
    let mut kind = "file";
    for rel in &found {
        let src = src_root.join(rel);
        let meta = fs::symlink_metadata(&src).map_err(io_err("stat", &src))?;
        if meta.is_dir() {
            kind = "dir";
            mkdir_all(layer, &dest_rel, parents, image)?;
            let dst = layer.join(&dest_rel);
            let mut names: Vec<_> = fs::read_dir(&src)
                .map_err(io_err("read", &src))?
                .flatten()
                .map(|e| e.file_name())
                .collect();
            names.sort();
            for n in names {
                copy_entry(layer, &src.join(&n), &dst.join(&n), ids, &mut h)?;
            }
        } else if is_add && meta.is_file() && !rel.is_absolute() && is_tar(&src) {
            kind = "dir";
            mkdir_all(layer, &dest_rel, parents, image)?;
            extract(&src, &layer.join(&dest_rel), &mut h)?;
        } else {
            let target = if into_dir {
                mkdir_all(layer, &dest_rel, parents, image)?;
                dest_rel.join(rel.file_name().unwrap_or_default())
            } else {
                if let Some(parent) = dest_rel.parent() {
                    mkdir_all(layer, parent, parents, image)?;
                }
                dest_rel.clone()
            };
            copy_entry(layer, &src, &layer.join(&target), ids, &mut h)?;
        }
    }
    if found.len() > 1 {
        kind = "multi";
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{kind}:{hex} in {dest} "))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Empty;
    impl ImageView for Empty {
        fn stat(&self, _: &str) -> Option<fs::Metadata> {
            None
        }
        fn read(&self, _: &str) -> Option<Vec<u8>> {
            None
        }
    }

    #[test]
    fn symlinks_are_copied_not_followed() {
        let ctx = tempfile::tempdir().unwrap();
        let layer = tempfile::tempdir().unwrap();
        fs::create_dir(ctx.path().join("d")).unwrap();
        fs::write(ctx.path().join("d/a"), "a").unwrap();
        std::os::unix::fs::symlink("/etc/shadow", ctx.path().join("d/out")).unwrap();
        let ids = Some((0, 0));
        let c = copy(
            layer.path(),
            ctx.path(),
            &["d".into()],
            "/x/",
            "",
            ids,
            false,
            &Empty,
            &HashMap::new(),
        )
        .unwrap();
        assert!(c.starts_with("dir:"));
        assert_eq!(
            fs::read_link(layer.path().join("x/out")).unwrap(),
            Path::new("/etc/shadow")
        );
        assert_eq!(fs::read(layer.path().join("x/a")).unwrap(), b"a");
        let again = tempfile::tempdir().unwrap();
        let c2 = copy(
            again.path(),
            ctx.path(),
            &["d".into()],
            "/x/",
            "",
            ids,
            false,
            &Empty,
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(c, c2, "the cache key is stable");
        assert!(copy(
            layer.path(),
            ctx.path(),
            &["../etc".into()],
            "/",
            "",
            ids,
            false,
            &Empty,
            &HashMap::new(),
        )
        .is_err());
    }

    #[test]
    fn globs() {
        assert!(glob("*.txt", "a.txt"));
        assert!(!glob("*.txt", "a.md"));
    }
}
