//! Container logs on disk: the `json-file` driver (one JSON object per line: `log`,
//! `stream`, `time`) and the `local` driver (protobuf entries framed as moby's
//! `daemon/logger/local` writes them, see [`local`]), both rotated by `max-size` and
//! `max-file` as dockerd's shared log file does, rotated files gzip-compressed with
//! `compress`, and read back (rotated files included) for `docker logs` with `tail`,
//! `since`, `until` and `follow`.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;

mod local;

/// Which on-disk format a container's log has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Driver {
    JsonFile,
    Local,
}

/// Where and how one container's log is stored.
#[derive(Debug, Clone)]
pub struct LogFile {
    driver: Driver,
    path: PathBuf,
}

impl LogFile {
    /// The log of a container with `host_config`; `json_path` is its `<id>-json.log`.
    /// None when the driver stores nothing (`none`).
    pub fn of(host_config: &Value, json_path: &str) -> Option<LogFile> {
        let kind = host_config
            .pointer("/LogConfig/Type")
            .and_then(Value::as_str)
            .unwrap_or("json-file");
        match kind {
            "none" => None,
            // dockerd keeps the local driver's files in the container's directory.
            "local" => Some(LogFile {
                driver: Driver::Local,
                path: Path::new(json_path)
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join("local-logs")
                    .join("container.log"),
            }),
            _ => Some(LogFile {
                driver: Driver::JsonFile,
                path: PathBuf::from(json_path),
            }),
        }
    }

    /// The file being written (rotated ones are `<path>.N`, `<path>.N.gz`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Open for appending, with the driver's options (`max-size`, `max-file`,
    /// `compress`) and defaults.
    pub fn writer(&self, opts: &BTreeMap<String, String>) -> std::io::Result<LogWriter> {
        let bad = |msg: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, msg);
        let (size, max_file, compress) = match self.driver {
            Driver::JsonFile => (opts.get("max-size").and_then(|s| parse_size(s)), 1, false),
            Driver::Local => (Some(20_000_000), local::DEFAULT_MAX_FILE, true),
        };
        let capacity = match (self.driver, opts.get("max-size")) {
            (Driver::Local, Some(s)) => Some(
                parse_decimal_size(s)
                    .ok_or_else(|| bad(format!("invalid value for max-size: {s}")))?,
            ),
            _ => size,
        };
        let max_file = match opts.get("max-file") {
            Some(s) => s
                .parse::<u32>()
                .map_err(|_| bad(format!("invalid value for max-file: {s}")))?,
            None => max_file,
        };
        let compress = match opts.get("compress").map(String::as_str) {
            Some("true" | "1" | "t" | "T" | "TRUE" | "True") => true,
            Some("false" | "0" | "f" | "F" | "FALSE" | "False") => false,
            Some(_) => return Err(bad("invalid boolean value for compress".into())),
            None => compress,
        };
        if self.driver == Driver::Local && compress && max_file <= 1 {
            return Err(bad(
                "compression cannot be enabled when max file count is 1".into(),
            ));
        }
        if self.driver == Driver::Local {
            if let Some(dir) = self.path.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .ok();
            }
        }
        let file = RotatingFile::open(
            &self.path,
            capacity.filter(|c| *c > 0),
            max_file.max(1),
            compress,
        )?;
        Ok(LogWriter {
            driver: self.driver,
            file,
            partial: BTreeMap::new(),
        })
    }

    /// Every message stored, oldest first, rotated files included.
    pub fn read_all(&self) -> Vec<LogEntry> {
        let mut files: Vec<PathBuf> = Vec::new();
        for i in (1..100).rev() {
            let plain = rotated(&self.path, i);
            let gz = PathBuf::from(format!("{}.gz", plain.display()));
            if gz.exists() {
                files.push(gz);
            } else if plain.exists() {
                files.push(plain);
            }
        }
        files.push(self.path.clone());
        let mut out = Vec::new();
        for f in files {
            let Ok(file) = File::open(&f) else { continue };
            let mut data = Vec::new();
            let read = if f.extension().is_some_and(|e| e == "gz") {
                flate2::read::GzDecoder::new(file).read_to_end(&mut data)
            } else {
                BufReader::new(file).read_to_end(&mut data)
            };
            if read.is_err() && data.is_empty() {
                continue;
            }
            out.extend(self.parse(&data).0);
        }
        out
    }

    /// Whatever complete messages were appended to the current file after `offset`.
    pub fn read_from(&self, offset: &mut u64) -> Vec<LogEntry> {
        use std::io::{Seek, SeekFrom};
        let Ok(mut f) = File::open(&self.path) else {
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
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        let (entries, used) = self.parse(&buf);
        *offset += used as u64;
        entries
    }

    /// The messages in `data` and how many bytes of it they took (a torn last message
    /// is left for later).
    fn parse(&self, data: &[u8]) -> (Vec<LogEntry>, usize) {
        match self.driver {
            Driver::Local => local::decode_all(data),
            Driver::JsonFile => {
                let complete = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                let entries = BufReader::new(&data[..complete])
                    .lines()
                    .map_while(Result::ok)
                    .filter_map(|l| parse_line(&l))
                    .collect();
                (entries, complete)
            }
        }
    }
}

/// Appends a container's output to its log file in the driver's format.
pub struct LogWriter {
    driver: Driver,
    file: RotatingFile,
    /// The local driver's partial-message sequence per stream: its id and the next
    /// ordinal (dockerd's copier marks 16K chunks and unterminated ends this way).
    partial: BTreeMap<String, (String, i32)>,
}

impl LogWriter {
    /// Append one message: a line with its newline, or a partial line without.
    pub fn write(&mut self, stream: &str, msg: &[u8], at: SystemTime) -> std::io::Result<()> {
        let nanos = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let entry = match self.driver {
            Driver::JsonFile => {
                let mut line = serde_json::to_vec(&serde_json::json!({
                    "log": String::from_utf8_lossy(msg),
                    "stream": stream,
                    "time": humantime::format_rfc3339_nanos(at).to_string(),
                }))?;
                line.push(b'\n');
                line
            }
            Driver::Local => {
                let (line, partial) = match msg.strip_suffix(b"\n") {
                    Some(line) => {
                        let p = self.partial.remove(stream).map(|(id, ord)| local::Partial {
                            id,
                            ordinal: ord,
                            last: true,
                        });
                        (line, p)
                    }
                    None => {
                        let (id, ord) = self
                            .partial
                            .entry(stream.to_string())
                            .or_insert_with(|| (crate::ids::random_id(), 1));
                        let p = local::Partial {
                            id: id.clone(),
                            ordinal: *ord,
                            last: false,
                        };
                        *ord += 1;
                        (msg, Some(p))
                    }
                };
                local::encode(stream, nanos, line, partial.as_ref())
            }
        };
        self.file.write_entry(&entry, at)
    }
}

/// dockerd's rotating log file: before a write, a file that reached `capacity` is
/// moved to `.1` (older ones shifted up to `max_file - 1`, gzip-compressed with
/// `compress`) and a new one started; with `max_file` 1 it is truncated instead.
struct RotatingFile {
    path: PathBuf,
    file: File,
    size: u64,
    capacity: Option<u64>,
    max_file: u32,
    compress: bool,
    /// Time of the last message written, recorded in a compressed file's header.
    last: Option<SystemTime>,
    /// The compression of the last rotated file, on its own thread as dockerd does it
    /// (and off the small stacks of the output copiers); waited for before the next.
    compressing: Option<std::thread::JoinHandle<()>>,
}

impl RotatingFile {
    fn open(
        path: &Path,
        capacity: Option<u64>,
        max_file: u32,
        compress: bool,
    ) -> std::io::Result<RotatingFile> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            file,
            size,
            capacity,
            max_file,
            compress,
            last: None,
            compressing: None,
        })
    }

    fn write_entry(&mut self, entry: &[u8], at: SystemTime) -> std::io::Result<()> {
        if self.capacity.is_some_and(|c| self.size >= c) {
            self.rotate()?;
        }
        self.file.write_all(entry)?;
        self.size += entry.len() as u64;
        self.last = Some(at);
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        if let Some(previous) = self.compressing.take() {
            let _ = previous.join();
        }
        if self.max_file > 1 {
            let ext = if self.compress { ".gz" } else { "" };
            let name = |i: u32| PathBuf::from(format!("{}{ext}", rotated(&self.path, i).display()));
            let _ = std::fs::remove_file(name(self.max_file - 1));
            for i in (2..self.max_file).rev() {
                if name(i - 1).exists() {
                    std::fs::rename(name(i - 1), name(i))?;
                }
            }
            let first = rotated(&self.path, 1);
            std::fs::rename(&self.path, &first)?;
            if self.compress {
                let last = self.last;
                self.compressing = Some(
                    std::thread::Builder::new()
                        .name("log-compress".into())
                        .spawn(move || {
                            // A failure leaves the plain file, which is read as well.
                            let _ = compress(&first, last);
                        })?,
                );
            }
        }
        self.file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

impl Drop for RotatingFile {
    /// A container's log is complete once its writer is gone.
    fn drop(&mut self) {
        if let Some(compressing) = self.compressing.take() {
            let _ = compressing.join();
        }
    }
}

/// `<file>` becomes `<file>.gz` as dockerd writes it: the header's extra field holds
/// `{"lastTime":...}` (which its reader uses to skip files for `since`), no mtime.
fn compress(file: &Path, last: Option<SystemTime>) -> std::io::Result<()> {
    let gz_path = PathBuf::from(format!("{}.gz", file.display()));
    let last = last.map(|t| humantime::format_rfc3339_nanos(t).to_string());
    let extra = serde_json::to_vec(&serde_json::json!({
        "lastTime": last.as_deref().map(trim_nanos).unwrap_or("0001-01-01T00:00:00Z".into())
    }))?;
    // Written aside and renamed: a reader never sees half a compressed file.
    let tmp = PathBuf::from(format!("{}.tmp", gz_path.display()));
    let result = (|| {
        let out = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .open(&tmp)?;
        let mut gz = flate2::GzBuilder::new()
            .extra(extra)
            .operating_system(255)
            .write(out, flate2::Compression::default());
        std::io::copy(&mut File::open(file)?, &mut gz)?;
        gz.finish()?;
        std::fs::rename(&tmp, &gz_path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    std::fs::remove_file(file)
}

/// Go's time format drops trailing zeros of the fraction (`.90707079Z`).
fn trim_nanos(t: &str) -> String {
    match t.strip_suffix('Z').and_then(|t| t.split_once('.')) {
        Some((secs, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                format!("{secs}Z")
            } else {
                format!("{secs}.{frac}Z")
            }
        }
        None => t.to_string(),
    }
}

/// `10m`, `1k`, `2g`, plain bytes: docker's size syntax in powers of 1024, as the
/// json-file driver reads `max-size`.
pub fn parse_size(s: &str) -> Option<u64> {
    parse_size_in(s, 1024)
}

/// The same syntax in powers of 1000, as the local driver reads `max-size`.
fn parse_decimal_size(s: &str) -> Option<u64> {
    parse_size_in(s, 1000)
}

fn parse_size_in(s: &str, unit: u64) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let s = s.strip_suffix('i').unwrap_or(s);
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], unit),
        'm' => (&s[..s.len() - 1], unit * unit),
        'g' => (&s[..s.len() - 1], unit * unit * unit),
        't' => (&s[..s.len() - 1], unit * unit * unit * unit),
        _ => (s, 1),
    };
    let n = num.trim().parse::<f64>().ok()?;
    (n >= 0.0).then_some((n * mult as f64) as u64)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn log_file(driver: &str, dir: &Path) -> LogFile {
        let hc = serde_json::json!({"LogConfig": {"Type": driver}});
        LogFile::of(&hc, dir.join("c-json.log").to_str().unwrap()).unwrap()
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs)
    }

    #[test]
    fn rotation_keeps_max_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_file("json-file", dir.path());
        let p = log.path().to_path_buf();
        let opts = BTreeMap::from([
            ("max-size".to_string(), "200".to_string()),
            ("max-file".to_string(), "3".to_string()),
        ]);
        let mut w = log.writer(&opts).unwrap();
        for i in 0..40 {
            w.write("stdout", format!("line {i}\n").as_bytes(), at(1))
                .unwrap();
        }
        assert!(rotated(&p, 2).exists());
        assert!(!rotated(&p, 3).exists());
        // dockerd rotates once a file has reached max-size, not before.
        assert!(std::fs::metadata(rotated(&p, 1)).unwrap().len() >= 200);
        let all = log.read_all();
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
    fn local_driver_rotates_compresses_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_file("local", dir.path());
        assert_eq!(
            log.path(),
            dir.path().join("local-logs").join("container.log")
        );
        let opts = BTreeMap::from([
            ("max-size".to_string(), "1k".to_string()),
            ("max-file".to_string(), "3".to_string()),
        ]);
        let mut w = log.writer(&opts).unwrap();
        for i in 0..100 {
            let stream = if i % 10 == 0 { "stderr" } else { "stdout" };
            w.write(stream, format!("line-{i}\n").as_bytes(), at(i))
                .unwrap();
        }
        w.write("stdout", b"no newline", at(200)).unwrap();
        let mut offset = std::fs::metadata(log.path()).unwrap().len();
        drop(w);
        let gz = |i| PathBuf::from(format!("{}.{i}.gz", log.path().display()));
        assert!(gz(1).exists() && gz(2).exists() && !gz(3).exists());
        assert!(!rotated(log.path(), 1).exists());
        // 1k is 1000 bytes for the local driver: the rotated files hold just over it.
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(File::open(gz(1)).unwrap())
            .read_to_end(&mut plain)
            .unwrap();
        assert!((1000..1040).contains(&plain.len()), "{}", plain.len());
        let all = log.read_all();
        let last = all.last().unwrap();
        assert_eq!(
            (last.stream.as_str(), last.log.as_str()),
            ("stdout", "no newline")
        );
        assert_eq!(last.nanos, 200_000_000_000);
        let before = &all[all.len() - 2];
        assert_eq!(before.log, "line-99\n");
        assert_eq!(before.nanos, 99_000_000_000);
        assert!(all
            .iter()
            .any(|e| e.stream == "stderr" && e.log == "line-90\n"));
        let nums: Vec<u64> = all[..all.len() - 1]
            .iter()
            .map(|e| e.log[5..].trim().parse().unwrap())
            .collect();
        assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{nums:?}");
        assert!(nums[0] > 0, "the oldest file was not dropped");
        // Following from an offset sees only complete new messages.
        let mut w = log.writer(&opts).unwrap();
        w.write("stdout", b"more\n", at(201)).unwrap();
        let fresh = log.read_from(&mut offset);
        assert_eq!(fresh.len(), 1);
        assert_eq!(fresh[0].log, "more\n");
    }

    #[test]
    fn local_driver_options_as_dockerd_checks_them() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_file("local", dir.path());
        let err = |k: &str, v: &str| {
            log.writer(&BTreeMap::from([(k.to_string(), v.to_string())]))
                .err()
                .map(|e| e.to_string())
        };
        assert_eq!(
            err("max-file", "1").as_deref(),
            Some("compression cannot be enabled when max file count is 1")
        );
        assert!(err("max-size", "lots").is_some());
        assert!(err("compress", "maybe").is_some());
        assert!(err("max-size", "5m").is_none());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10m"), Some(10 * 1024 * 1024));
        assert_eq!(parse_size("1k"), Some(1024));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_decimal_size("1k"), Some(1000));
        assert_eq!(parse_decimal_size("20MB"), Some(20_000_000));
    }
}
