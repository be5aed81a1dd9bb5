//! `docker-proxy` (issue #10). Not written yet.

fn main() {
    buildinfo::unimplemented_main("docker-proxy", &buildinfo::docker_version_line(), 10)
}
