//! The `json-file` log driver: one JSON object per line (`log`, `stream`, `time`),
//! rotated by `max-size`/`max-file`, and read back (rotated files included) for
//! `docker logs` with `tail`, `since`, `until` and `follow`.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

pub struct JsonFileWriter {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: Option<u64>,
    max_file: u32,
}

/// `10m`, `1k`, `2g`, plain bytes: docker's size syntax.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = match s.trim_end_matches('b').chars().last()? {
        'k' => (&s[..s.trim_end_matches('b').len() - 1], 1024u64),
        'm' => (&s[..s.trim_end_matches('b').len() - 1], 1024 * 1024),
        'g' => (&s[..s.trim_end_matches('b').len() - 1], 1024 * 1024 * 1024),
        _ => (s.trim_end_matches('b'), 1),
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .map(|n| (n * mult as f64) as u64)
}

impl JsonFileWriter {
    pub fn open(path: &Path, opts: &BTreeMap<String, String>) -> std::io::Result<JsonFileWriter> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(JsonFileWriter {
            path: path.to_path_buf(),
            file,
            size,
            max_size: opts.get("max-size").and_then(|s| parse_size(s)),
            max_file: opts
                .get("max-file")
                .and_then(|s| s.parse().ok())
                .unwrap_or(1)
                .max(1),
        })
    }

    /// Append one message (a line, or a partial line when the process wrote no newline).
    pub fn write(&mut self, stream: &str, msg: &[u8], time: &str) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(&serde_json::json!({
            "log": String::from_utf8_lossy(msg),
            "stream": stream,
            "time": time,
        }))?;
        line.push(b'\n');
        if let Some(max) = self.max_size {
            if self.size > 0 && self.size + line.len() as u64 > max {
                self.rotate()?;
            }
        }
        self.file.write_all(&line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        if self.max_file <= 1 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        for i in (1..self.max_file - 1).rev() {
            let from = rotated(&self.path, i);
            if from.exists() {
                std::fs::rename(&from, rotated(&self.path, i + 1))?;
            }
        }
        std::fs::rename(&self.path, rotated(&self.path, 1))?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn rotated(path: &Path, i: u32) -> PathBuf {
    PathBuf::from(format!("{}.{i}", path.display()))
}

/// One stored log message.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub stream: String,
    pub log: String,
    pub nanos: i128,
}

pub fn parse_time(t: &str) -> i128 {
    humantime::parse_rfc3339_weak(t.trim_end_matches('Z'))
        .or_else(|_| humantime::parse_rfc3339(t))
        .ok()
        .and_then(|st| st.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

fn parse_line(line: &str) -> Option<LogEntry> {
    let v: Value = serde_json::from_str(line).ok()?;
    let time = v.get("time")?.as_str()?.to_string();
    Some(LogEntry {
        stream: v.get("stream")?.as_str()?.to_string(),
        log: v.get("log")?.as_str()?.to_string(),
        nanos: parse_time(&time),
    })
}

/// Every message stored for a container, oldest first, rotated files included.
pub fn read_all(path: &Path) -> Vec<LogEntry> {
    let mut files: Vec<PathBuf> = (1..100)
        .map(|i| rotated(path, i))
        .filter(|p| p.exists())
        .collect();
    files.reverse();
    files.push(path.to_path_buf());
    let mut out = Vec::new();
    for f in files {
        if let Ok(file) = File::open(&f) {
            for line in BufReader::new(file).lines().map_while(Result::ok) {
                if let Some(e) = parse_line(&line) {
                    out.push(e);
                }
            }
        }
    }
    out
}

/// Read whatever complete lines were appended to `path` after `offset`.
pub fn read_from(path: &Path, offset: &mut u64) -> Vec<LogEntry> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len < *offset {
        // Rotated underneath us: start over on the new file.
        *offset = 0;
    }
    if f.seek(SeekFrom::Start(*offset)).is_err() {
        return Vec::new();
    }
    let mut buf = String::new();
    let _ = f.read_to_string(&mut buf);
    let complete = buf.rfind('\n').map(|i| i + 1).unwrap_or(0);
    *offset += complete as u64;
    buf[..complete].lines().filter_map(parse_line).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_max_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let opts = BTreeMap::from([
            ("max-size".to_string(), "200".to_string()),
            ("max-file".to_string(), "3".to_string()),
        ]);
        let mut w = JsonFileWriter::open(&p, &opts).unwrap();
        for i in 0..40 {
            w.write(
                "stdout",
                format!("line {i}\n").as_bytes(),
                "2024-01-01T00:00:00.000000001Z",
            )
            .unwrap();
        }
        assert!(rotated(&p, 2).exists());
        assert!(!rotated(&p, 3).exists());
        let all = read_all(&p);
        assert_eq!(all.last().unwrap().log, "line 39\n");
        assert!(all.len() < 40);
        // Kept messages are in order.
        let nums: Vec<u32> = all
            .iter()
            .map(|e| e.log[5..].trim().parse().unwrap())
            .collect();
        assert!(nums.windows(2).all(|w| w[1] == w[0] + 1));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10m"), Some(10 * 1024 * 1024));
        assert_eq!(parse_size("1k"), Some(1024));
        assert_eq!(parse_size("512"), Some(512));
    }
}
