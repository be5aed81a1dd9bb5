//! `containerd` (issue #5). Not written yet.

fn main() {
    let line = format!(
        "containerd github.com/containerd/containerd v1.7.0-compatible {} {}",
        buildinfo::VERSION,
        buildinfo::GIT_COMMIT
    );
    buildinfo::unimplemented_main("containerd", &line, 5)
}
