//! `containerd`: parse the command line and run the daemon (or one of its helper
//! commands).

use anyhow::Context;
use clap::Parser;
use containerd::daemon::{self, Cli, Command};

fn main() {
    containerd::single_malloc_arena();
    let argv: Vec<String> = std::env::args().collect();
    let explicit_config = argv.iter().any(|a| {
        a == "-c" || a == "--config" || a.starts_with("--config=") || a.starts_with("-c=")
    });
    let cli = Cli::parse();
    if cli.version {
        println!(
            "containerd github.com/containerd/containerd {} {}",
            daemon::version(),
            buildinfo::GIT_COMMIT
        );
        return;
    }
    if let Err(e) = run(cli, explicit_config) {
        eprintln!("containerd: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli, explicit_config: bool) -> anyhow::Result<()> {
    // One thread serves every socket: a request is answered on the thread that read
    // it, with no hand-over between workers (each a futex wake and, in a VM, an
    // interrupt to another CPU). Work that takes long (layer unpacking, diffs, big
    // content reads) runs on the blocking pool.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match &cli.command {
        Some(Command::Config { .. }) => {
            print!("{}", daemon::DEFAULT_CONFIG);
            Ok(())
        }
        Some(Command::Publish { namespace, topic }) => {
            let cfg = cli.resolve(explicit_config)?;
            rt.block_on(daemon::publish(&cfg.address, namespace, topic))
        }
        None => {
            let cfg = cli.resolve(explicit_config)?;
            daemon::log::set_level(&cfg.log_level).map_err(anyhow::Error::msg)?;
            rt.block_on(daemon::serve(cfg))
        }
    }
}
