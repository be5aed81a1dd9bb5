//! The shim is the child subreaper of its container: every child exit (runc commands,
//! the container's init once runc has gone, exec'd processes) is collected here by one
//! `waitpid(-1)` loop and handed to whoever waits for that pid, even if the pid exited
//! before anyone asked.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::Notify;

#[derive(Default)]
pub struct Reaper {
    exited: Mutex<HashMap<i32, i32>>,
    notify: Notify,
}

/// The exit status as a shell reports it: the code, or 128 + the signal.
fn status_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

impl Reaper {
    /// Collect every exited child; run on each SIGCHLD.
    pub fn reap(&self) {
        let mut any = false;
        loop {
            let mut status = 0;
            // SAFETY: waitpid with a valid status pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            self.exited.lock().unwrap().insert(pid, status_code(status));
            any = true;
        }
        if any {
            self.notify.notify_waiters();
        }
    }

    /// Wait for `pid` to exit and return its status.
    pub async fn wait(&self, pid: i32) -> i32 {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(s) = self.exited.lock().unwrap().remove(&pid) {
                return s;
            }
            notified.await;
        }
    }

    /// Run the SIGCHLD loop forever.
    pub async fn run(self: std::sync::Arc<Self>) {
        let mut sig = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())
            .expect("installing SIGCHLD handler");
        loop {
            self.reap();
            sig.recv().await;
        }
    }
}
