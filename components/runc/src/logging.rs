//! Where runc's messages go: `--log` (file, else stderr) in `--log-format` text or
//! json. containerd's shim reads the last `"level":"error"` line of the json log to
//! report why a command failed, so errors are always written there.

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

struct Sink {
    path: Option<PathBuf>,
    format: Format,
    debug: bool,
}

static SINK: OnceLock<Sink> = OnceLock::new();

pub fn init(path: Option<PathBuf>, format: Format, debug: bool) {
    let _ = SINK.set(Sink {
        path: path.filter(|p| !p.as_os_str().is_empty()),
        format,
        debug,
    });
}

/// Whether messages go to stderr (no `--log`).
pub fn to_stderr() -> bool {
    SINK.get().is_none_or(|s| s.path.is_none())
}

fn line(level: &str, msg: &str, format: Format) -> String {
    let time = crate::state::now_rfc3339();
    match format {
        Format::Json => {
            let v = serde_json::json!({"level": level, "msg": msg, "time": time});
            format!("{v}\n")
        }
        Format::Text => format!("time={time:?} level={level} msg={msg:?}\n"),
    }
}

pub fn log(level: &str, msg: &str) {
    let Some(s) = SINK.get() else {
        eprint!("{}", line(level, msg, Format::Text));
        return;
    };
    if level == "debug" && !s.debug {
        return;
    }
    let text = line(level, msg, s.format);
    match &s.path {
        Some(p) => {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
            {
                let _ = f.write_all(text.as_bytes());
            }
        }
        None => {
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
    }
}

pub fn warn(msg: &str) {
    log("warning", msg);
}
