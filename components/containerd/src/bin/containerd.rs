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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
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
