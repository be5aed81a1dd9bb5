//! Mount points below a directory, read from /proc/self/mountinfo, and their lazy
//! unmounting: what the verify chroot and the private docker daemon leave mounted must
//! not outlive the command.

use std::path::{Path, PathBuf};

/// Every mount point at or below `dir`, deepest first (so unmounting them in order
/// never hits a busy parent).
pub fn under(dir: &Path) -> Vec<PathBuf> {
    let mut points: Vec<PathBuf> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort();
    points.dedup();
    points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    points
}

/// Lazily unmount each of `points` in order; one that is already gone is no error.
pub fn unmount_all(points: &[PathBuf]) {
    use std::os::unix::ffi::OsStrExt;
    for point in points {
        let Ok(c) = std::ffi::CString::new(point.as_os_str().as_bytes()) else {
            continue;
        };
        // SAFETY: c is a valid NUL-terminated path.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// mountinfo escapes space, tab, newline and backslash as octal (`\040`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4].iter().all(u8::is_ascii_digit)
        {
            out.push(u8::from_str_radix(&field[i + 1..i + 4], 8).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_are_decoded() {
        assert_eq!(super::unescape(r"/a\040b\134c"), r"/a b\c");
        assert_eq!(super::unescape(r"/plain\04"), r"/plain\04");
    }

    #[test]
    fn a_tmpfs_below_a_dir_is_found_and_unmounted() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("with space");
        std::fs::create_dir(&inner).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "tmpfs"])
            .arg(&inner)
            .status()
            .unwrap();
        assert!(status.success(), "mount tmpfs (needs root)");
        let found = super::under(dir.path());
        assert_eq!(found, vec![inner.clone()]);
        super::unmount_all(&found);
        assert!(super::under(dir.path()).is_empty());
    }
}
