//! The build context: the tar the client sent, unpacked into a private directory
//! with `.dockerignore` applied (the Dockerfile and `.dockerignore` themselves are
//! always kept, as the daemon needs them). Entries that would land outside the
//! directory are refused; symlinks are kept as links and never followed later.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use dockerfile::DockerIgnore;

use crate::BuildError;

/// A clean relative path inside the context, or None for `..` escapes.
pub(crate) fn clean_rel(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Unpack `tar` (plain or gzip) into `dir`, skipping what `.dockerignore` excludes.
/// `dockerfile` is the Dockerfile's path in the context. Returns its text.
pub fn unpack(tar: impl Read, dir: &Path, dockerfile: &str) -> Result<String, BuildError> {
    let mut buf = std::io::BufReader::new(tar);
    let peek = std::io::BufRead::fill_buf(&mut buf).map_err(BuildError::io("read context"))?;
    let gz = peek.len() >= 2 && peek[..2] == [0x1f, 0x8b];
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(buf))
    } else {
        Box::new(buf)
    };
    let mut ar = tar::Archive::new(reader);
    ar.set_preserve_permissions(true);
    ar.set_preserve_mtime(true);
    ar.set_overwrite(true);
    let entries = ar.entries().map_err(BuildError::io("read context"))?;
    for entry in entries {
        let mut entry = entry.map_err(BuildError::io("read context"))?;
        let path = entry
            .path()
            .map_err(BuildError::io("read context"))?
            .into_owned();
        let Some(rel) = clean_rel(&path) else {
            return Err(BuildError::Context(format!(
                "{} points outside the build context",
                path.display()
            )));
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        let ok = entry
            .unpack_in(dir)
            .map_err(|e| BuildError::Context(format!("{}: {e}", rel.display())))?;
        if !ok {
            return Err(BuildError::Context(format!(
                "{} points outside the build context",
                rel.display()
            )));
        }
    }
    let ignore = match std::fs::read_to_string(dir.join(".dockerignore")) {
        Ok(text) => {
            Some(DockerIgnore::parse(&text).map_err(|e| BuildError::Context(e.to_string()))?)
        }
        Err(_) => None,
    };
    let df_rel = clean_rel(Path::new(dockerfile)).unwrap_or_else(|| PathBuf::from("Dockerfile"));
    if let Some(ig) = ignore {
        remove_ignored(dir, dir, &ig, &df_rel)?;
    }
    let df_path = dir.join(&df_rel);
    let meta = std::fs::symlink_metadata(&df_path);
    if !meta.as_ref().is_ok_and(|m| m.is_file()) {
        return Err(BuildError::Context(format!(
            "Cannot locate specified Dockerfile: {}",
            df_rel.display()
        )));
    }
    std::fs::read_to_string(&df_path).map_err(BuildError::io("read the Dockerfile"))
}

fn remove_ignored(
    root: &Path,
    dir: &Path,
    ig: &DockerIgnore,
    keep: &Path,
) -> Result<(), BuildError> {
    let entries = std::fs::read_dir(dir).map_err(BuildError::io("read context"))?;
    for e in entries.flatten() {
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap_or(&p).to_path_buf();
        let rel_s = rel.to_string_lossy().to_string();
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if rel == keep || rel_s == ".dockerignore" {
            continue;
        }
        if ig.is_excluded(&rel_s) && !(is_dir && ig.has_exceptions()) {
            if is_dir {
                let _ = std::fs::remove_dir_all(&p);
            } else {
                let _ = std::fs::remove_file(&p);
            }
            continue;
        }
        if is_dir {
            remove_ignored(root, &p, ig, keep)?;
            if ig.is_excluded(&rel_s)
                && std::fs::read_dir(&p)
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false)
            {
                let _ = std::fs::remove_dir(&p);
            }
        }
    }
    Ok(())
}
