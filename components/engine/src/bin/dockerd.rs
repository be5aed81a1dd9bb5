//! `dockerd` (issue #10). Not written yet.

fn main() {
    buildinfo::unimplemented_main("dockerd", &buildinfo::docker_version_line(), 10)
}
