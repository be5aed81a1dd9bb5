//! containerd, its runc v2 shim and ctr, in Rust: the daemon speaks containerd's gRPC
//! API (message types from `containerd-client`), the shim speaks the shim v2 ttrpc
//! protocol (types from `containerd-shim-protos`), and `ctr` is a client of the daemon.

pub mod ctr;
pub mod daemon;
pub mod shim;
mod timefmt;

/// One glibc malloc arena for the whole process. glibc gives each thread that
/// allocates its own arena (64 MB reserved, a few MB touched) to avoid lock
/// contention; these daemons spend their time waiting on sockets and children, so the
/// contention never shows while the arenas are most of their idle memory.
pub fn single_malloc_arena() {
    // SAFETY: mallopt only sets an allocator parameter; called before any thread starts.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
}
