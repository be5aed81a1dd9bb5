//! The CLI's own log lines (`-D`, `-l`), in logrus's text format as the real CLI
//! writes them to stderr: `time="2026-01-02T03:04:05Z" level=debug msg="..."`.

use std::sync::atomic::{AtomicU8, Ordering};

/// logrus's levels, most severe first.
const LEVELS: &[&str] = &[
    "panic", "fatal", "error", "warning", "info", "debug", "trace",
];

/// "info" until `init` says otherwise.
static LEVEL: AtomicU8 = AtomicU8::new(4);

/// The level of a `-l` value (`warn` is `warning`), or None if logrus knows no such level.
pub fn parse_level(name: &str) -> Option<u8> {
    let name = name.to_lowercase();
    let name = if name == "warn" { "warning" } else { &name };
    LEVELS.iter().position(|l| *l == name).map(|i| i as u8)
}

/// Sets the level from the global options: `-D` means debug whatever `-l` says.
pub fn init(debug: bool, level: Option<&str>) {
    let level = if debug {
        parse_level("debug")
    } else {
        level.and_then(parse_level)
    };
    if let Some(l) = level {
        LEVEL.store(l, Ordering::Relaxed);
    }
}

pub fn debug(msg: &str) {
    emit(5, msg);
}

fn emit(level: u8, msg: &str) {
    if LEVEL.load(Ordering::Relaxed) < level {
        return;
    }
    let name = if level == 3 {
        "warning"
    } else {
        LEVELS[usize::from(level)]
    };
    eprintln!("time=\"{}\" level={name} msg={}", now_rfc3339(), quote(msg));
}

/// logrus quotes a value unless it is one plain word.
fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._/@^+".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// The local time in RFC 3339 with seconds, as Go's `time.RFC3339` prints it.
fn now_rfc3339() -> String {
    // SAFETY: time() and localtime_r() write into values we own.
    let tm = unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        tm
    };
    let offset = tm.tm_gmtoff;
    let zone = if offset == 0 {
        "Z".to_string()
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let m = offset.abs() / 60;
        format!("{sign}{:02}:{:02}", m / 60, m % 60)
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{zone}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_like_logrus() {
        assert_eq!(parse_level("WARN"), parse_level("warning"));
        assert_eq!(parse_level("debug"), Some(5));
        assert_eq!(parse_level("bogus"), None);
    }

    #[test]
    fn messages_are_quoted_unless_one_word() {
        assert_eq!(
            quote("[hijack] End of stdout"),
            "\"[hijack] End of stdout\""
        );
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("say \"x\""), "\"say \\\"x\\\"\"");
    }

    #[test]
    fn timestamps_are_rfc3339_seconds() {
        let t = now_rfc3339();
        assert_eq!(&t[4..5], "-");
        assert_eq!(&t[10..11], "T");
        assert!(t.ends_with('Z') || t.len() == 25, "{t}");
    }
}
