//! `containerd-shim-runc-v2`: dispatch on the shim v2 action (`start`, `delete`, or
//! serve when none is given).

use containerd::shim;

fn main() {
    containerd::single_malloc_arena();
    let argv: Vec<String> = std::env::args().collect();
    let args = match shim::parse_args(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("containerd-shim-runc-v2: {e:#}");
            std::process::exit(2);
        }
    };
    if args.version {
        println!("containerd-shim-runc-v2:");
        println!("  Version:  {}", containerd::daemon::version());
        println!("  Revision: {}", buildinfo::GIT_COMMIT);
        return;
    }
    let res = match args.action.as_deref() {
        Some("start") => shim::start(&args),
        Some("delete") => shim::delete(&args),
        Some(other) => Err(anyhow::anyhow!(
            "unknown action {other:?}; use start or delete"
        )),
        None => shim::serve(args),
    };
    if let Err(e) = res {
        eprintln!("containerd-shim-runc-v2: {e:#}");
        std::process::exit(1);
    }
}
