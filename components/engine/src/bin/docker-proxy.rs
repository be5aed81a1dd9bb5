//! `docker-proxy`: the userland proxy dockerd starts for each published port
//! (`-proto -host-ip -host-port -container-ip -container-port`); the work is in the
//! `network` crate.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args
        .iter()
        .any(|a| a == "--version" || a == "-version" || a == "-v")
    {
        println!("{}", buildinfo::docker_version_line());
        return;
    }
    std::process::exit(network::proxy::main(&args));
}
