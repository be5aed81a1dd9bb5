//! Daemon logging in containerd's logfmt shape (`time=... level=... msg=...`) on
//! stderr, filtered by `--log-level`.

use std::sync::atomic::{AtomicU8, Ordering};

static LEVEL: AtomicU8 = AtomicU8::new(2);

const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "fatal"];

pub fn set_level(name: &str) -> Result<(), String> {
    let i = LEVELS
        .iter()
        .position(|l| {
            *l == name || (name == "warning" && *l == "warn") || (name == "panic" && *l == "fatal")
        })
        .ok_or_else(|| format!("not a valid log level {name:?}"))?;
    LEVEL.store(i as u8, Ordering::Relaxed);
    Ok(())
}

fn emit(level: usize, msg: &str) {
    if level >= LEVEL.load(Ordering::Relaxed) as usize {
        // Formatted first, written once: stderr is unbuffered, and `eprintln!` would
        // make a write per piece of the line.
        let line = format!(
            "time=\"{}\" level={} msg={:?}\n",
            crate::timefmt::rfc3339(std::time::SystemTime::now()),
            if LEVELS[level] == "warn" {
                "warning"
            } else {
                LEVELS[level]
            },
            msg
        );
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
    }
}

pub fn trace(msg: &str) {
    emit(0, msg)
}

pub fn debug(msg: &str) {
    emit(1, msg)
}

pub fn info(msg: &str) {
    emit(2, msg)
}

pub fn warn(msg: &str) {
    emit(3, msg)
}

pub fn error(msg: &str) {
    emit(4, msg)
}

pub fn is_trace() -> bool {
    LEVEL.load(Ordering::Relaxed) == 0
}

pub fn is_debug() -> bool {
    LEVEL.load(Ordering::Relaxed) <= 1
}
