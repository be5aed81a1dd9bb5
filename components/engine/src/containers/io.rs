//! Container I/O: the FIFOs handed to containerd's shim, the threads that copy the
//! process's output into the log driver and to attached clients, and stdin.
//!
//! Each FIFO is opened for reading with a blocking open on its own thread, which meets
//! the shim's open for writing; the copy ends when the shim closes its end.

use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use crate::logging::LogWriter;

/// 1 = stdout, 2 = stderr (stdcopy's stream numbers); 0 for a tty's single stream.
pub type Chunk = (u8, Bytes);

/// Fan-out of one container's output to attached clients, and its stdin.
#[derive(Default)]
pub struct Hub {
    subs: Mutex<Vec<mpsc::UnboundedSender<Chunk>>>,
    pub stdin: Mutex<Option<File>>,
    /// Input (and an end of input) that arrived before the process's stdin existed:
    /// `run -i` attaches before it starts the container.
    early_stdin: Mutex<(Vec<u8>, bool)>,
    /// Bumped when a run's output copiers have all finished.
    pub finished: watch::Sender<u64>,
}

impl Hub {
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Chunk> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.subs.lock().unwrap().push(tx);
        rx
    }

    fn publish(&self, chunk: Chunk) {
        self.subs
            .lock()
            .unwrap()
            .retain(|s| s.send(chunk.clone()).is_ok());
    }

    /// End every attached stream (the process's output is over).
    fn close_all(&self) {
        self.subs.lock().unwrap().clear();
    }

    pub fn write_stdin(&self, data: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        match self.stdin.lock().unwrap().as_mut() {
            Some(f) => f.write_all(data),
            None => {
                self.early_stdin.lock().unwrap().0.extend_from_slice(data);
                Ok(())
            }
        }
    }

    pub fn close_stdin(&self) {
        if self.stdin.lock().unwrap().take().is_none() {
            self.early_stdin.lock().unwrap().1 = true;
        }
    }

    /// Give a new run its stdin, with what was typed before it existed.
    fn open_stdin(&self, mut f: File) -> std::io::Result<()> {
        use std::io::Write;
        let mut slot = self.stdin.lock().unwrap();
        let mut early = self.early_stdin.lock().unwrap();
        f.write_all(&std::mem::take(&mut early.0))?;
        *slot = Some(f);
        Ok(())
    }

    /// Once the process holds its end of the stdin FIFO: an end of input that came
    /// before it existed is applied now (closing earlier would drop what was written).
    /// Returns whether it did (the caller then closes the task's stdin in the shim).
    pub fn apply_early_close(&self) -> bool {
        let close = std::mem::take(&mut self.early_stdin.lock().unwrap().1);
        if close {
            self.stdin.lock().unwrap().take();
        }
        close
    }
}

pub fn mkfifo(path: &Path) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let c = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: c is a valid path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o700) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The FIFOs of one process (the container's init or an exec).
pub struct Fifos {
    pub stdin: Option<PathBuf>,
    pub stdout: PathBuf,
    pub stderr: Option<PathBuf>,
}

impl Fifos {
    pub fn create(dir: &Path, prefix: &str, stdin: bool, tty: bool) -> std::io::Result<Fifos> {
        std::fs::create_dir_all(dir)?;
        let f = Fifos {
            stdin: stdin.then(|| dir.join(format!("{prefix}-stdin"))),
            stdout: dir.join(format!("{prefix}-stdout")),
            stderr: (!tty).then(|| dir.join(format!("{prefix}-stderr"))),
        };
        for p in [&f.stdin, &Some(f.stdout.clone()), &f.stderr]
            .into_iter()
            .flatten()
        {
            mkfifo(p)?;
        }
        Ok(f)
    }

    pub fn stdio(&self, tty: bool) -> crate::containerd::Stdio3 {
        let s = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        crate::containerd::Stdio3 {
            stdin: s(&self.stdin),
            stdout: self.stdout.display().to_string(),
            stderr: s(&self.stderr),
            terminal: tty,
        }
    }

    /// Unblock copier threads still waiting in open() (the task never started).
    pub fn abandon(&self) {
        for p in [Some(self.stdout.clone()), self.stderr.clone()]
            .into_iter()
            .flatten()
        {
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&p);
        }
    }

    pub fn remove(&self) {
        for p in [
            self.stdin.clone(),
            Some(self.stdout.clone()),
            self.stderr.clone(),
        ]
        .into_iter()
        .flatten()
        {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Where output goes besides the hub.
pub type SharedLog = Arc<Mutex<Option<LogWriter>>>;

/// Start the copier threads for `fifos`; when all are done, attached clients are
/// disconnected and `hub.finished` is bumped.
pub fn start_copiers(
    fifos: &Fifos,
    hub: Arc<Hub>,
    log: SharedLog,
    tty: bool,
) -> std::io::Result<()> {
    if let Some(p) = &fifos.stdin {
        // O_RDWR never blocks on a FIFO; the shim reads what attach writes here.
        let f = std::fs::OpenOptions::new().read(true).write(true).open(p)?;
        hub.open_stdin(f)?;
    }
    let mut streams = vec![(if tty { 0u8 } else { 1u8 }, fifos.stdout.clone())];
    if let Some(e) = &fifos.stderr {
        streams.push((2, e.clone()));
    }
    let remaining = Arc::new(Mutex::new(streams.len()));
    for (num, path) in streams {
        let hub = hub.clone();
        let log = log.clone();
        let remaining = remaining.clone();
        std::thread::Builder::new()
            .name("ctr-io".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                copy_stream(&path, num, &hub, &log);
                // The last one out closes the log (which finishes a compression)
                // before the output counts as finished.
                drop(log);
                let mut left = remaining.lock().unwrap();
                *left -= 1;
                if *left == 0 {
                    hub.close_all();
                    hub.finished.send_modify(|n| *n += 1);
                }
            })?;
    }
    Ok(())
}

fn copy_stream(path: &Path, num: u8, hub: &Hub, log: &SharedLog) {
    let Ok(mut f) = File::open(path) else { return };
    let stream = if num == 2 { "stderr" } else { "stdout" };
    let mut buf = vec![0u8; 32 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let data = &buf[..n];
        hub.publish((num, Bytes::copy_from_slice(data)));
        pending.extend_from_slice(data);
        let mut w = log.lock().unwrap();
        if let Some(w) = w.as_mut() {
            let now = std::time::SystemTime::now();
            while let Some(i) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=i).collect();
                let _ = w.write(stream, &line, now);
            }
            // dockerd flushes partial lines of 16K as messages of their own.
            if pending.len() >= 16 * 1024 {
                let _ = w.write(stream, &pending, now);
                pending.clear();
            }
        } else {
            pending.clear();
        }
    }
    if !pending.is_empty() {
        if let Some(w) = log.lock().unwrap().as_mut() {
            let _ = w.write(stream, &pending, std::time::SystemTime::now());
        }
    }
}

/// stdcopy framing: 8-byte header (stream, 0, 0, 0, big-endian length) + payload.
pub fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.len());
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}
