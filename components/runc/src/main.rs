//! `runc`: the OCI runtime (issue #4). Not written yet.

fn main() {
    let line = format!(
        "runc version 1.1.12-compatible\ncommit: {}-{}\nspec: 1.1.0",
        buildinfo::VERSION,
        buildinfo::GIT_COMMIT
    );
    buildinfo::unimplemented_main("runc", &line, 4)
}
