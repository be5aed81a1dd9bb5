//! `containerd-shim-runc-v2` (issue #5). Not written yet.

fn main() {
    let line = format!(
        "containerd-shim-runc-v2 github.com/containerd/containerd v1.7.0-compatible {} {}",
        buildinfo::VERSION,
        buildinfo::GIT_COMMIT
    );
    buildinfo::unimplemented_main("containerd-shim-runc-v2", &line, 5)
}
