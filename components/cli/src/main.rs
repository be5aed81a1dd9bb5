//! `docker`: the Docker command line (issue #6). Not written yet.

fn main() {
    buildinfo::unimplemented_main("docker", &buildinfo::docker_version_line(), 6)
}
