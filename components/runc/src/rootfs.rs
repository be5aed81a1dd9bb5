//! Building the container's filesystem view inside its new mount namespace: spec
//! mounts, default devices and /dev links, pivot_root (or chroot with `--no-pivot`),
//! masked and read-only paths, a read-only root.
//!
//! Every mount destination is created and opened with openat2(RESOLVE_IN_ROOT)
//! relative to the rootfs, and the mount is made onto `/proc/self/fd/N` of that
//! handle: a symlink planted in the image cannot redirect a mount onto the host
//! (CVE-2021-30465 class).

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};

use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("invalid mount {dest}: {reason}")]
    Invalid { dest: String, reason: String },
}

fn err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> RootfsError + 'a {
    move |source| RootfsError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Mount flags and the leftover `data` string from a spec's option list.
#[derive(Debug, Default)]
pub struct MountOpts {
    pub flags: libc::c_ulong,
    pub clear: libc::c_ulong,
    pub propagation: Vec<libc::c_ulong>,
    pub data: Vec<String>,
    pub bind: bool,
    pub recursive: bool,
}

pub fn parse_options(opts: &[String]) -> MountOpts {
    let mut m = MountOpts::default();
    for o in opts {
        let (set, clear): (libc::c_ulong, libc::c_ulong) = match o.as_str() {
            "ro" => (libc::MS_RDONLY, 0),
            "rw" => (0, libc::MS_RDONLY),
            "nosuid" => (libc::MS_NOSUID, 0),
            "suid" => (0, libc::MS_NOSUID),
            "nodev" => (libc::MS_NODEV, 0),
            "dev" => (0, libc::MS_NODEV),
            "noexec" => (libc::MS_NOEXEC, 0),
            "exec" => (0, libc::MS_NOEXEC),
            "sync" => (libc::MS_SYNCHRONOUS, 0),
            "async" => (0, libc::MS_SYNCHRONOUS),
            "dirsync" => (libc::MS_DIRSYNC, 0),
            "remount" => (libc::MS_REMOUNT, 0),
            "mand" => (libc::MS_MANDLOCK, 0),
            "nomand" => (0, libc::MS_MANDLOCK),
            "atime" => (0, libc::MS_NOATIME),
            "noatime" => (libc::MS_NOATIME, 0),
            "diratime" => (0, libc::MS_NODIRATIME),
            "nodiratime" => (libc::MS_NODIRATIME, 0),
            "relatime" => (libc::MS_RELATIME, 0),
            "norelatime" => (0, libc::MS_RELATIME),
            "strictatime" => (libc::MS_STRICTATIME, 0),
            "nostrictatime" => (0, libc::MS_STRICTATIME),
            "silent" => (libc::MS_SILENT, 0),
            "loud" => (0, libc::MS_SILENT),
            "bind" => {
                m.bind = true;
                (0, 0)
            }
            "rbind" => {
                m.bind = true;
                m.recursive = true;
                (0, 0)
            }
            "private" => {
                m.propagation.push(libc::MS_PRIVATE);
                (0, 0)
            }
            "rprivate" => {
                m.propagation.push(libc::MS_PRIVATE | libc::MS_REC);
                (0, 0)
            }
            "shared" => {
                m.propagation.push(libc::MS_SHARED);
                (0, 0)
            }
            "rshared" => {
                m.propagation.push(libc::MS_SHARED | libc::MS_REC);
                (0, 0)
            }
            "slave" => {
                m.propagation.push(libc::MS_SLAVE);
                (0, 0)
            }
            "rslave" => {
                m.propagation.push(libc::MS_SLAVE | libc::MS_REC);
                (0, 0)
            }
            "unbindable" => {
                m.propagation.push(libc::MS_UNBINDABLE);
                (0, 0)
            }
            "runbindable" => {
                m.propagation.push(libc::MS_UNBINDABLE | libc::MS_REC);
                (0, 0)
            }
            // runc extensions without a kernel meaning here.
            "tmpcopyup" | "idmap" | "ridmap" | "nosymfollow" | "defaults" => (0, 0),
            other => {
                m.data.push(other.to_string());
                (0, 0)
            }
        };
        m.flags |= set;
        m.flags &= !clear;
        m.clear |= clear;
    }
    m
}

/// Open (creating directories as needed) `path` inside the tree at `root`, never
/// leaving it. `file` creates the last component as an empty file instead.
pub fn mkdir_open_in_root(root: &OwnedFd, path: &Path, file: bool) -> io::Result<OwnedFd> {
    mkdir_open_depth(root, path, file, 0)
}

fn mkdir_open_depth(root: &OwnedFd, path: &Path, file: bool, depth: u32) -> io::Result<OwnedFd> {
    if depth > 40 {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    let comps: Vec<&OsStr> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    let mut cur = PathBuf::from("/");
    for (i, name) in comps.iter().enumerate() {
        let next = cur.join(name);
        let last = i + 1 == comps.len();
        let flags = if last && file {
            libc::O_PATH
        } else {
            libc::O_PATH | libc::O_DIRECTORY
        };
        match sys::open_in_root(root.as_raw_fd(), &next, flags) {
            Ok(fd) => {
                if last {
                    return Ok(fd);
                }
                cur = next;
                continue;
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let parent = sys::open_in_root(root.as_raw_fd(), &cur, libc::O_PATH | libc::O_DIRECTORY)?;
        let made = if last && file {
            let c = sys::cstr(name);
            // SAFETY: valid C string; O_EXCL|O_NOFOLLOW never follows a symlink.
            let fd = unsafe {
                libc::openat(
                    parent.as_raw_fd(),
                    c.as_ptr(),
                    libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_NOFOLLOW
                        | libc::O_CLOEXEC
                        | libc::O_WRONLY,
                    0o755,
                )
            };
            if fd >= 0 {
                // SAFETY: closing the fd we just created.
                unsafe { libc::close(fd) };
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        } else {
            sys::mkdirat(parent.as_raw_fd(), name, 0o755)
        };
        match made {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                // A dangling symlink: create what it points at, resolved in root.
                let target = readlinkat(&parent, name)?;
                let resolved = if target.is_absolute() {
                    target
                } else {
                    cur.join(target)
                };
                let rest: PathBuf = comps[i + 1..].iter().collect();
                return mkdir_open_depth(root, &resolved.join(rest), file, depth + 1);
            }
            Err(e) => return Err(e),
        }
        if last {
            return sys::open_in_root(root.as_raw_fd(), &next, flags);
        }
        cur = next;
    }
    sys::open_in_root(root.as_raw_fd(), &cur, libc::O_PATH | libc::O_DIRECTORY)
}

fn readlinkat(dir: &OwnedFd, name: &OsStr) -> io::Result<PathBuf> {
    let c = sys::cstr(name);
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: buf is valid for its length.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            c.as_ptr(),
            buf.as_mut_ptr() as *mut _,
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(PathBuf::from(OsStr::from_bytes(&buf)))
}

/// Everything about the container's filesystem the init needs.
pub struct RootfsPlan<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub cgroup_paths: &'a std::collections::BTreeMap<String, PathBuf>,
    pub new_user_ns: bool,
}

/// Before pivot: propagation, the rootfs bind, spec mounts, devices.
pub fn prepare(plan: &RootfsPlan) -> Result<(), RootfsError> {
    let linux = plan.spec.linux().as_ref();
    let prop = match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        Some("shared") => libc::MS_SHARED | libc::MS_REC,
        Some("private") => libc::MS_PRIVATE | libc::MS_REC,
        Some("unbindable") => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => libc::MS_SLAVE | libc::MS_REC,
    };
    sys::mount(None, Path::new("/"), None, prop, None)
        .map_err(err("remount / with propagation", Path::new("/")))?;
    sys::mount(
        Some(plan.rootfs),
        plan.rootfs,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
    .map_err(err("bind mount rootfs", plan.rootfs))?;
    let root = sys::open_path(plan.rootfs, libc::O_PATH | libc::O_DIRECTORY)
        .map_err(err("open rootfs", plan.rootfs))?;

    let mut dev_is_bind = false;
    for m in plan.spec.mounts().iter().flatten() {
        let o = parse_options(m.options().as_deref().unwrap_or(&[]));
        if m.destination() == Path::new("/dev") && (o.bind || m.typ().as_deref() == Some("bind")) {
            dev_is_bind = true;
        }
        mount_one(plan, &root, m).map_err(|e| match e {
            RootfsError::Io { what, source, .. } => RootfsError::Io {
                what,
                path: plan.rootfs.join(strip(m.destination())),
                source,
            },
            other => other,
        })?;
    }
    if !dev_is_bind {
        create_devices(plan, &root)?;
        dev_links(&root)?;
    }
    if let Some(cwd) = Some(
        plan.spec
            .process()
            .as_ref()
            .map(|p| p.cwd().clone())
            .unwrap_or_else(|| "/".into()),
    ) {
        // runc creates a missing working directory.
        let _ = mkdir_open_in_root(&root, &cwd, false);
    }
    Ok(())
}

fn strip(p: &Path) -> &Path {
    p.strip_prefix("/").unwrap_or(p)
}

fn mount_one(plan: &RootfsPlan, root: &OwnedFd, m: &Mount) -> Result<(), RootfsError> {
    let dest = m.destination();
    if !dest.is_absolute() {
        return Err(RootfsError::Invalid {
            dest: dest.display().to_string(),
            reason: "destination must be an absolute path".into(),
        });
    }
    let o = parse_options(m.options().as_deref().unwrap_or(&[]));
    let typ = m
        .typ()
        .as_deref()
        .unwrap_or(if o.bind { "bind" } else { "" });
    let is_bind = o.bind || typ == "bind";
    if typ == "cgroup" {
        return mount_cgroup(plan, root, m, &o);
    }
    let data = o.data.join(",");
    if is_bind {
        let src = m
            .source()
            .as_ref()
            .map(|s| {
                if s.is_absolute() {
                    s.clone()
                } else {
                    plan.bundle.join(s)
                }
            })
            .ok_or_else(|| RootfsError::Invalid {
                dest: dest.display().to_string(),
                reason: "bind mount without a source".into(),
            })?;
        let meta = std::fs::metadata(&src).map_err(err("stat bind source", &src))?;
        let target = mkdir_open_in_root(root, dest, !meta.is_dir())
            .map_err(err("create mount point", dest))?;
        let tpath = sys::fd_path(&target);
        let rec = if o.recursive { libc::MS_REC } else { 0 };
        sys::mount(Some(&src), &tpath, None, libc::MS_BIND | rec, None)
            .map_err(err("bind mount", &src))?;
        // The handle still names the covered directory: reopen to reach the mount.
        let target = reopen(root, dest, !meta.is_dir())?;
        let tpath = sys::fd_path(&target);
        // Flags other than bind only take effect on a remount of the bind.
        let extra = o.flags & !(libc::MS_REC | libc::MS_REMOUNT | libc::MS_BIND);
        if extra != 0 {
            remount_bind(&tpath, extra)?;
        }
        for p in &o.propagation {
            sys::mount(None, &tpath, None, *p, None).map_err(err("set propagation", dest))?;
        }
        return Ok(());
    }
    let target = mkdir_open_in_root(root, dest, false).map_err(err("create mount point", dest))?;
    let tpath = sys::fd_path(&target);
    let src = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
    let flags = o.flags & !libc::MS_REMOUNT;
    let res = sys::mount(Some(&src), &tpath, Some(typ), flags, Some(&data));
    match res {
        Ok(()) => {}
        // sysfs/mqueue cannot be mounted without owning the net/ipc namespace
        // (host net namespace, or a user namespace): bind the host's instead.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) && matches!(typ, "sysfs" | "mqueue") => {
            let host = if typ == "sysfs" {
                "/sys"
            } else {
                "/dev/mqueue"
            };
            sys::mount(
                Some(Path::new(host)),
                &tpath,
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )
            .map_err(err("bind mount", Path::new(host)))?;
            if flags & libc::MS_RDONLY != 0 {
                let t = reopen(root, dest, false)?;
                remount_bind(&sys::fd_path(&t), flags)?;
            }
        }
        Err(e) => return Err(err("mount", dest)(e)),
    }
    let target = reopen(root, dest, false)?;
    let tpath = sys::fd_path(&target);
    for p in &o.propagation {
        sys::mount(None, &tpath, None, *p, None).map_err(err("set propagation", dest))?;
    }
    Ok(())
}

/// Open `dest` again after something was mounted on it.
fn reopen(root: &OwnedFd, dest: &Path, file: bool) -> Result<OwnedFd, RootfsError> {
    let flags = if file {
        libc::O_PATH
    } else {
        libc::O_PATH | libc::O_DIRECTORY
    };
    sys::open_in_root(root.as_raw_fd(), dest, flags).map_err(err("reopen mount point", dest))
}

fn remount_bind(target: &Path, flags: libc::c_ulong) -> Result<(), RootfsError> {
    // Locked flags (nodev/nosuid/noexec of the source, e.g. in a user namespace) must
    // be kept on remount: add what the mount already has.
    let c = sys::cstr(target);
    // SAFETY: zeroed statvfs is a valid out buffer.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid C string.
    let cur = if unsafe { libc::statvfs(c.as_ptr(), &mut st) } == 0 {
        st.f_flag
            & (libc::MS_NOSUID
                | libc::MS_NODEV
                | libc::MS_NOEXEC
                | libc::MS_RDONLY
                | libc::MS_NOATIME
                | libc::MS_NODIRATIME
                | libc::MS_RELATIME)
    } else {
        0
    };
    sys::mount(
        None,
        target,
        None,
        libc::MS_BIND | libc::MS_REMOUNT | flags | cur,
        None,
    )
    .map_err(err("remount", target))
}

/// The `cgroup` mount: on v2 the cgroup2 filesystem; on v1 a tmpfs with one bind per
/// hierarchy of the container's own groups (what runc does).
fn mount_cgroup(
    plan: &RootfsPlan,
    root: &OwnedFd,
    m: &Mount,
    o: &MountOpts,
) -> Result<(), RootfsError> {
    let dest = m.destination();
    let target = mkdir_open_in_root(root, dest, false).map_err(err("create mount point", dest))?;
    let tpath = sys::fd_path(&target);
    let ro = o.flags & libc::MS_RDONLY != 0;
    let base = o.flags & (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC);
    if crate::cgroups::is_unified() {
        let r = sys::mount(
            Some(Path::new("cgroup2")),
            &tpath,
            Some("cgroup2"),
            o.flags,
            None,
        );
        if r.is_err() {
            let own = plan
                .cgroup_paths
                .get("")
                .cloned()
                .unwrap_or_else(|| "/sys/fs/cgroup".into());
            sys::mount(Some(&own), &tpath, None, libc::MS_BIND | libc::MS_REC, None)
                .map_err(err("bind mount", &own))?;
            if ro {
                let t = reopen(root, dest, false)?;
                remount_bind(&sys::fd_path(&t), libc::MS_RDONLY | base)?;
            }
        }
        return Ok(());
    }
    sys::mount(
        Some(Path::new("tmpfs")),
        &tpath,
        Some("tmpfs"),
        base,
        Some("mode=755"),
    )
    .map_err(err("mount tmpfs", dest))?;
    let mut done = std::collections::HashSet::new();
    for (ctrl, dir) in plan.cgroup_paths {
        let hier = crate::cgroups::v1_mount_of(ctrl);
        let Some(hier) = hier else { continue };
        let name = hier
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        if !done.insert(name.clone()) {
            continue;
        }
        let sub = dest.join(&name);
        let t = mkdir_open_in_root(root, &sub, false).map_err(err("create mount point", &sub))?;
        let tp = sys::fd_path(&t);
        sys::mount(Some(dir), &tp, None, libc::MS_BIND | libc::MS_REC, None)
            .map_err(err("bind mount", dir))?;
        let t = reopen(root, &sub, false)?;
        remount_bind(
            &sys::fd_path(&t),
            base | if ro { libc::MS_RDONLY } else { 0 },
        )?;
    }
    if ro {
        let t = reopen(root, dest, false)?;
        remount_bind_tmpfs(&sys::fd_path(&t), base)?;
    }
    Ok(())
}

fn remount_bind_tmpfs(target: &Path, base: libc::c_ulong) -> Result<(), RootfsError> {
    sys::mount(
        None,
        target,
        None,
        libc::MS_REMOUNT | libc::MS_RDONLY | base,
        None,
    )
    .map_err(err("remount", target))
}

fn default_devices() -> Vec<(&'static str, u32, u32)> {
    vec![
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
}

fn create_devices(plan: &RootfsPlan, root: &OwnedFd) -> Result<(), RootfsError> {
    let mut list: Vec<(PathBuf, libc::mode_t, u32, u32, u32, u32, u32)> = default_devices()
        .into_iter()
        .map(|(p, ma, mi)| (PathBuf::from(p), libc::S_IFCHR, ma, mi, 0o666, 0, 0))
        .collect();
    let extra: &[LinuxDevice] = plan
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_deref())
        .unwrap_or(&[]);
    for d in extra {
        let kind = match d.typ() {
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            _ => libc::S_IFCHR,
        };
        list.retain(|e| &e.0 != d.path());
        list.push((
            d.path().clone(),
            kind,
            d.major() as u32,
            d.minor() as u32,
            d.file_mode().unwrap_or(0o666),
            d.uid().unwrap_or(0),
            d.gid().unwrap_or(0),
        ));
    }
    for (path, kind, major, minor, mode, uid, gid) in list {
        let parent = path.parent().unwrap_or(Path::new("/"));
        let name = path.file_name().unwrap_or_default();
        let pfd =
            mkdir_open_in_root(root, parent, false).map_err(err("create device dir", parent))?;
        let dir = sys::open_in_root(root.as_raw_fd(), parent, libc::O_DIRECTORY | libc::O_RDONLY)
            .map_err(err("open device dir", parent))?;
        drop(pfd);
        let dev = libc::makedev(major, minor);
        let c = sys::cstr(name);
        // SAFETY: valid C string; unlinking a stale node in a directory we hold.
        unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) };
        let made = if plan.new_user_ns {
            Err(io::Error::from_raw_os_error(libc::EPERM))
        } else {
            sys::mknodat(dir.as_raw_fd(), name, kind | (mode & 0o7777), dev)
        };
        match made {
            Ok(()) => {
                // SAFETY: valid C string.
                unsafe {
                    libc::fchownat(
                        dir.as_raw_fd(),
                        c.as_ptr(),
                        uid,
                        gid,
                        libc::AT_SYMLINK_NOFOLLOW,
                    );
                    libc::fchmodat(dir.as_raw_fd(), c.as_ptr(), mode & 0o7777, 0);
                }
            }
            Err(_) => {
                // No mknod (user namespace): bind the host's node instead.
                let t =
                    mkdir_open_in_root(root, &path, true).map_err(err("create device", &path))?;
                sys::mount(Some(&path), &sys::fd_path(&t), None, libc::MS_BIND, None)
                    .map_err(err("bind device", &path))?;
            }
        }
    }
    Ok(())
}

fn dev_links(root: &OwnedFd) -> Result<(), RootfsError> {
    let dev = sys::open_in_root(
        root.as_raw_fd(),
        Path::new("/dev"),
        libc::O_DIRECTORY | libc::O_RDONLY,
    )
    .map_err(err("open", Path::new("/dev")))?;
    let mut links = vec![
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ];
    if sys::open_in_root(root.as_raw_fd(), Path::new("/proc/kcore"), libc::O_PATH).is_ok() {
        links.push(("core", "/proc/kcore"));
    }
    if sys::open_in_root(root.as_raw_fd(), Path::new("/dev/pts/ptmx"), libc::O_PATH).is_ok() {
        let c = sys::cstr("ptmx");
        // SAFETY: valid C string; replace any ptmx node with the devpts link.
        unsafe { libc::unlinkat(dev.as_raw_fd(), c.as_ptr(), 0) };
        links.push(("ptmx", "pts/ptmx"));
    }
    for (name, target) in links {
        let n = sys::cstr(name);
        let t = sys::cstr(target);
        // SAFETY: valid C strings; EEXIST is fine.
        let rc = unsafe { libc::symlinkat(t.as_ptr(), dev.as_raw_fd(), n.as_ptr()) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(err("symlink", Path::new(name))(e));
            }
        }
    }
    Ok(())
}

/// Make `rootfs` the root: pivot_root, then detach the old root (made a slave first
/// so the unmount does not propagate to the host).
pub fn pivot(rootfs: &Path, no_pivot: bool) -> Result<(), RootfsError> {
    std::env::set_current_dir(rootfs).map_err(err("chdir", rootfs))?;
    if no_pivot {
        sys::mount(Some(rootfs), Path::new("/"), None, libc::MS_MOVE, None)
            .map_err(err("move mount", rootfs))?;
        sys::chroot(Path::new(".")).map_err(err("chroot", rootfs))?;
    } else {
        sys::pivot_root(Path::new("."), Path::new(".")).map_err(err("pivot_root", rootfs))?;
        sys::mount(
            None,
            Path::new("."),
            None,
            libc::MS_SLAVE | libc::MS_REC,
            None,
        )
        .map_err(err("make old root slave", rootfs))?;
        sys::umount2(Path::new("."), libc::MNT_DETACH).map_err(err("unmount old root", rootfs))?;
    }
    std::env::set_current_dir("/").map_err(err("chdir", Path::new("/")))?;
    Ok(())
}

/// After pivot: readonly paths, masked paths, read-only root.
pub fn finish(spec: &Spec) -> Result<(), RootfsError> {
    let linux = spec.linux().as_ref();
    for p in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
    {
        let path = Path::new(p);
        match sys::mount(Some(path), path, None, libc::MS_BIND | libc::MS_REC, None) {
            Ok(()) => remount_bind(
                path,
                libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            )?,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(err("bind readonly path", path)(e)),
        }
    }
    for p in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
    {
        let path = Path::new(p);
        let Ok(meta) = std::fs::metadata(path) else {
            continue;
        };
        let r = if meta.is_dir() {
            sys::mount(
                Some(Path::new("tmpfs")),
                path,
                Some("tmpfs"),
                libc::MS_RDONLY,
                None,
            )
        } else {
            sys::mount(
                Some(Path::new("/dev/null")),
                path,
                None,
                libc::MS_BIND,
                None,
            )
        };
        r.map_err(err("mask path", path))?;
    }
    if spec
        .root()
        .as_ref()
        .is_some_and(|r| r.readonly() == Some(true))
    {
        remount_bind(Path::new("/"), libc::MS_RDONLY)?;
    }
    Ok(())
}

/// Kernel parameters from `linux.sysctl`, written through the container's /proc.
pub fn sysctl(spec: &Spec) -> Result<(), RootfsError> {
    for (k, v) in spec
        .linux()
        .as_ref()
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flatten()
    {
        if k.contains("..") || k.contains('/') && k.contains('.') && k.starts_with('/') {
            return Err(RootfsError::Invalid {
                dest: k.clone(),
                reason: "invalid sysctl name".into(),
            });
        }
        let path = Path::new("/proc/sys").join(k.replace('.', "/"));
        std::fs::write(&path, v).map_err(err("write sysctl", &path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let o = parse_options(&[
            "nosuid".into(),
            "rbind".into(),
            "ro".into(),
            "rslave".into(),
            "mode=755".into(),
            "size=65536k".into(),
        ]);
        assert!(o.bind && o.recursive);
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_RDONLY);
        assert_eq!(o.propagation, vec![libc::MS_SLAVE | libc::MS_REC]);
        assert_eq!(o.data.join(","), "mode=755,size=65536k");
        let rw = parse_options(&["ro".into(), "rw".into()]);
        assert_eq!(rw.flags & libc::MS_RDONLY, 0);
    }
}
