//! Reproducible archives: the tar trees inside a `.deb` and the static tarball, and the
//! `ar` container of a `.deb`.
//!
//! Everything that could differ between two builds of one commit is fixed here: entries
//! are sorted, every owner is root:root (0:0), every mtime is `SOURCE_DATE_EPOCH`, modes
//! come from the layout (never from the files on disk, whose umask and timestamps vary
//! between clones), and gzip headers carry no time or file name.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use flate2::{Compression, GzBuilder};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("path {0:?} is too long for a ustar header (more than 255 bytes)")]
    PathTooLong(String),
    #[error("cannot write archive: {0}")]
    Io(#[from] std::io::Error),
}

/// One entry of a [`Tree`]: a directory or a regular file with its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir { mode: u32 },
    File { mode: u32, data: Vec<u8> },
}

/// A file tree held in memory, keyed by its relative path (`usr/bin/dockerd`). Parent
/// directories are added implicitly with mode 0755.
#[derive(Debug, Default, Clone)]
pub struct Tree {
    nodes: BTreeMap<String, Node>,
}

impl Tree {
    pub fn new() -> Tree {
        Tree::default()
    }

    /// Add (or replace) a regular file.
    pub fn file(&mut self, path: &str, mode: u32, data: Vec<u8>) {
        self.parents(path);
        self.nodes.insert(clean(path), Node::File { mode, data });
    }

    fn parents(&mut self, path: &str) {
        let path = clean(path);
        let mut at = 0;
        while let Some(i) = path[at..].find('/') {
            let dir = &path[..at + i];
            self.nodes
                .entry(dir.to_owned())
                .or_insert(Node::Dir { mode: 0o755 });
            at += i + 1;
        }
    }

    /// Every entry in the order they are archived (sorted by path).
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(p, n)| (p.as_str(), n))
    }

    /// dpkg's `Installed-Size`: KiB, each file rounded up, each directory or link 1.
    pub fn installed_size_kib(&self) -> u64 {
        self.nodes
            .values()
            .map(|n| match n {
                Node::File { data, .. } => (data.len() as u64).div_ceil(1024),
                Node::Dir { .. } => 1,
            })
            .sum()
    }

    /// The tree as an uncompressed tar. `prefix` is prepended to every name: `./` for
    /// the members of a .deb (as dpkg-deb writes them, with a `./` root entry), `docker/`
    /// for the static tarball.
    pub fn to_tar(&self, prefix: &str, mtime: u64) -> Result<Vec<u8>, ArchiveError> {
        let mut builder = tar::Builder::new(Vec::new());
        if prefix == "./" {
            append(&mut builder, "./", &Node::Dir { mode: 0o755 }, mtime)?;
        }
        for (path, node) in self.entries() {
            let name = match node {
                Node::Dir { .. } => format!("{prefix}{path}/"),
                _ => format!("{prefix}{path}"),
            };
            append(&mut builder, &name, node, mtime)?;
        }
        Ok(builder.into_inner()?)
    }

    /// [`Tree::to_tar`], gzip-compressed with a header that names no file and no time.
    pub fn to_tar_gz(&self, prefix: &str, mtime: u64) -> Result<Vec<u8>, ArchiveError> {
        gzip(&self.to_tar(prefix, mtime)?)
    }
}

/// Paths are kept relative, without a leading `./` or `/` and without a trailing `/`.
fn clean(path: &str) -> String {
    path.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_owned()
}

fn append(
    builder: &mut tar::Builder<Vec<u8>>,
    name: &str,
    node: &Node,
    mtime: u64,
) -> Result<(), ArchiveError> {
    let mut header = tar::Header::new_ustar();
    set_name(&mut header, name)?;
    header.set_uid(0);
    header.set_gid(0);
    header.set_username("root")?;
    header.set_groupname("root")?;
    header.set_mtime(mtime);
    let data: &[u8] = match node {
        Node::Dir { mode } => {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(*mode);
            header.set_size(0);
            &[]
        }
        Node::File { mode, data } => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(*mode);
            header.set_size(data.len() as u64);
            data
        }
    };
    header.set_cksum();
    builder.append(&header, data)?;
    Ok(())
}

/// Write the name bytes ourselves: the tar crate's `set_path` drops `.` components, and
/// dpkg-deb's members keep their `./` prefix.
fn set_name(header: &mut tar::Header, name: &str) -> Result<(), ArchiveError> {
    let bytes = name.as_bytes();
    let ustar = header
        .as_ustar_mut()
        .expect("a header made by new_ustar is ustar");
    if bytes.len() <= ustar.name.len() {
        ustar.name[..bytes.len()].copy_from_slice(bytes);
        return Ok(());
    }
    // Long names are split at a `/` into the 155-byte prefix and the 100-byte name.
    let split = (0..bytes.len())
        .rev()
        .filter(|&i| bytes[i] == b'/')
        .find(|&i| i <= ustar.prefix.len() && bytes.len() - i - 1 <= ustar.name.len())
        .ok_or_else(|| ArchiveError::PathTooLong(name.to_owned()))?;
    ustar.prefix[..split].copy_from_slice(&bytes[..split]);
    ustar.name[..bytes.len() - split - 1].copy_from_slice(&bytes[split + 1..]);
    Ok(())
}

/// gzip at the best level, with mtime 0 and no file name in the header.
pub fn gzip(data: &[u8]) -> Result<Vec<u8>, ArchiveError> {
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::best());
    encoder.write_all(data)?;
    Ok(encoder.finish()?)
}

/// A `.deb`: the `ar` archive of `debian-binary`, `control.tar.gz` and `data.tar.gz`, in
/// that order (dpkg requires it), members dated `mtime` and owned by 0:0 mode 0644.
pub fn deb(control_tar_gz: &[u8], data_tar_gz: &[u8], mtime: u64) -> Result<Vec<u8>, ArchiveError> {
    let mut builder = ar::Builder::new(Vec::new());
    for (name, data) in [
        ("debian-binary", &b"2.0\n"[..]),
        ("control.tar.gz", control_tar_gz),
        ("data.tar.gz", data_tar_gz),
    ] {
        let mut header = ar::Header::new(name.as_bytes().to_vec(), data.len() as u64);
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mode(0o100644);
        builder.append(&header, data)?;
    }
    Ok(builder.into_inner()?)
}

/// Write `bytes` to `path` through a temporary name in the same directory, so that an
/// interrupted build never leaves a half-written artefact under its final name.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.partial"));
    let result = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Tree {
        let mut t = Tree::new();
        t.file("usr/bin/tool", 0o755, b"#!/bin/sh\necho hi\n".to_vec());
        t.file("etc/default/tool", 0o644, b"# settings\n".to_vec());
        t
    }

    #[test]
    fn tar_lists_sorted_entries_owned_by_root_with_fixed_times() {
        let dir = tempfile::tempdir().unwrap();
        let tar = dir.path().join("t.tar");
        std::fs::write(&tar, sample().to_tar("./", 1_700_000_000).unwrap()).unwrap();
        // GNU tar reads it back: the listing is the reference.
        let listing = duct::cmd!("tar", "--numeric-owner", "--full-time", "-tvf", &tar)
            .env("TZ", "UTC")
            .read()
            .unwrap();
        let names: Vec<&str> = listing
            .lines()
            .map(|l| l.split_whitespace().nth(5).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "./",
                "./etc/",
                "./etc/default/",
                "./etc/default/tool",
                "./usr/",
                "./usr/bin/",
                "./usr/bin/tool",
            ]
        );
        for line in listing.lines() {
            assert!(line.contains(" 0/0 "), "owner is not 0/0: {line}");
            assert!(line.contains("2023-11-14 22:13:20"), "mtime: {line}");
        }
        assert!(listing.contains("-rwxr-xr-x 0/0"), "{listing}");
    }

    #[test]
    fn long_paths_use_the_ustar_prefix() {
        let mut t = Tree::new();
        let long = format!("{}/file", "d".repeat(120));
        t.file(&long, 0o644, b"x".to_vec());
        let dir = tempfile::tempdir().unwrap();
        let tar = dir.path().join("t.tar");
        std::fs::write(&tar, t.to_tar("", 0).unwrap()).unwrap();
        let listing = duct::cmd!("tar", "-tf", &tar).read().unwrap();
        assert!(listing.lines().any(|l| l == long), "{listing}");
        let mut t = Tree::new();
        t.file(&"x".repeat(300), 0o644, vec![]);
        assert!(matches!(t.to_tar("", 0), Err(ArchiveError::PathTooLong(_))));
    }

    #[test]
    fn same_tree_gives_identical_bytes_and_gzip_has_no_timestamp() {
        let a = sample().to_tar_gz("docker/", 42).unwrap();
        let b = sample().to_tar_gz("docker/", 42).unwrap();
        assert_eq!(a, b);
        // gzip header: magic, method, flags (no FNAME), mtime 0
        assert_eq!(&a[..3], &[0x1f, 0x8b, 8]);
        assert_eq!(a[3], 0, "no optional gzip fields");
        assert_eq!(&a[4..8], &[0, 0, 0, 0], "gzip mtime is zero");
    }

    #[test]
    fn dpkg_deb_reads_the_container() {
        let mut control = Tree::new();
        control.file(
            "control",
            0o644,
            b"Package: fixture\nVersion: 1.0\nArchitecture: amd64\nMaintainer: A <a@example.org>\nDescription: fixture\n a test package\n".to_vec(),
        );
        let deb = deb(
            &control.to_tar_gz("./", 0).unwrap(),
            &sample().to_tar_gz("./", 0).unwrap(),
            0,
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fixture.deb");
        std::fs::write(&path, deb).unwrap();
        let info = duct::cmd!("dpkg-deb", "--field", &path, "Package")
            .read()
            .unwrap();
        assert_eq!(info, "fixture");
        let contents = duct::cmd!("dpkg-deb", "--contents", &path).read().unwrap();
        assert!(contents.contains("./usr/bin/tool"), "{contents}");
        let members = duct::cmd!("ar", "t", &path).read().unwrap();
        assert_eq!(members, "debian-binary\ncontrol.tar.gz\ndata.tar.gz");
    }

    #[test]
    fn atomic_write_leaves_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/a.deb");
        write_atomically(&path, b"data").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.deb"]);
        // a directory in the way: the write fails and no temporary is left
        let blocked = dir.path().join("out/blocked");
        std::fs::create_dir_all(blocked.join("x")).unwrap();
        assert!(write_atomically(&blocked, b"data").is_err());
        assert!(!dir.path().join("out/.blocked.partial").exists());
    }
}
