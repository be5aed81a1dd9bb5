//! `ctr`: the containerd command line client.

fn main() {
    std::process::exit(containerd::ctr::run_cli());
}
