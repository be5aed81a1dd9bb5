//! `ctr` (issue #5). Not written yet.

fn main() {
    let line = format!(
        "ctr github.com/containerd/containerd v1.7.0-compatible {} {}",
        buildinfo::VERSION,
        buildinfo::GIT_COMMIT
    );
    buildinfo::unimplemented_main("ctr", &line, 5)
}
