//! `dockerd`: the Docker Engine daemon.

fn main() {
    std::process::exit(engine::main());
}
