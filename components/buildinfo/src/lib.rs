//! The release version of the tree and the build stamp every binary prints.
//!
//! The version comes from the `VERSION` file at the workspace root (docker-ce's scheme:
//! `YY.MM.patch`, pre-releases `-beta.N`/`-rc.N`, `-dev` on main); [`Version`] turns it
//! into the Debian and static-tarball versions the way docker-ce-packaging's
//! `gen-deb-ver` and `gen-static-ver` do. The stamp constants are filled in by `build.rs`.

mod version;

pub use version::{Prerelease, Source, Version, VersionError};

/// The contents of `VERSION`, e.g. `26.11.0-dev`.
pub const VERSION: &str = env!("BUILDINFO_VERSION");
/// Short (7 hex digit) git commit the binary was built from, or `unknown`.
pub const GIT_COMMIT: &str = env!("BUILDINFO_GIT_COMMIT");
/// Build time as Unix seconds: `SOURCE_DATE_EPOCH`, else the commit time.
pub const BUILD_EPOCH: &str = env!("BUILDINFO_BUILD_EPOCH");
/// Build time in RFC 3339, derived from [`BUILD_EPOCH`].
pub const BUILD_TIME: &str = env!("BUILDINFO_BUILD_TIME");
/// `rustc --version` of the compiler that built the binary.
pub const RUSTC: &str = env!("BUILDINFO_RUSTC");

/// `Docker version 26.11.0-dev, build 1a2b3c4`: the line `docker --version` and
/// `dockerd --version` print.
pub fn docker_version_line() -> String {
    format!("Docker version {VERSION}, build {GIT_COMMIT}")
}

/// For a binary whose component is not written yet: print one line saying so (or the
/// stamp, for `--version`) and exit. Such binaries are never packaged
/// (`packaging/manifest.toml` marks them).
pub fn unimplemented_main(binary: &str, version_line: &str, issue: u32) -> ! {
    let first = std::env::args().nth(1);
    if matches!(first.as_deref(), Some("--version" | "-v" | "version")) {
        println!("{version_line}");
        std::process::exit(0);
    }
    eprintln!("{binary}: not implemented yet in this workspace (tracked in issue #{issue})");
    std::process::exit(1);
}
