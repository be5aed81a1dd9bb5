//! The event bus behind `GET /events`: every container, image and volume action is
//! published here, kept in a bounded history (for `since`) and broadcast to listeners.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::sync::broadcast;

const HISTORY: usize = 1024;

pub struct Events {
    history: Mutex<VecDeque<Value>>,
    tx: broadcast::Sender<Value>,
}

impl Default for Events {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(256);
        Events {
            history: Mutex::new(VecDeque::new()),
            tx,
        }
    }
}

impl Events {
    /// Publish `action` on an object of `kind` (`container`, `image`, `volume`).
    pub fn publish(&self, kind: &str, action: &str, id: &str, attributes: Value) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut ev = json!({
            "Type": kind,
            "Action": action,
            "Actor": {"ID": id, "Attributes": attributes},
            "scope": "local",
            "time": now.as_secs(),
            "timeNano": now.as_nanos() as u64,
        });
        // The pre-1.22 fields that both CLIs still read for containers and images.
        if kind == "container" || kind == "image" {
            ev["status"] = json!(action);
            ev["id"] = json!(id);
            if let Some(from) = attributes.get("image") {
                ev["from"] = from.clone();
            }
        }
        let mut h = self.history.lock().unwrap();
        if h.len() == HISTORY {
            h.pop_front();
        }
        h.push_back(ev.clone());
        drop(h);
        let _ = self.tx.send(ev);
    }

    /// Past events (for `since`) and a receiver of the ones to come, taken together
    /// so that none falls between the two.
    pub fn subscribe(&self) -> (Vec<Value>, broadcast::Receiver<Value>) {
        let h = self.history.lock().unwrap();
        let rx = self.tx.subscribe();
        (h.iter().cloned().collect(), rx)
    }
}

/// Whether an event passes the `filters` of `GET /events`.
pub fn matches(ev: &Value, f: &crate::api::Filters) -> bool {
    let s = |p: &str| ev.pointer(p).and_then(Value::as_str).unwrap_or("");
    let attrs = ev
        .pointer("/Actor/Attributes")
        .cloned()
        .unwrap_or(Value::Null);
    let any = |key: &str, have: &[&str]| {
        let want = f.get(key);
        want.is_empty() || want.iter().any(|w| have.contains(&w.as_str()))
    };
    let id = s("/Actor/ID");
    let name = attrs.get("name").and_then(Value::as_str).unwrap_or("");
    let kind = s("/Type");
    let container_ok = f.get("container").is_empty()
        || (kind == "container"
            && f.get("container")
                .iter()
                .any(|w| w == name || id.starts_with(w.as_str())));
    let image_ok = f.get("image").is_empty()
        || f.get("image").iter().any(|w| {
            attrs.get("image").and_then(Value::as_str) == Some(w.as_str())
                || (kind == "image" && (id == w || name == w))
        });
    any("type", &[kind])
        && any(
            "event",
            &[s("/Action"), s("/Action").split(':').next().unwrap_or("")],
        )
        && container_ok
        && image_ok
        && (f.get("volume").is_empty()
            || (kind == "volume" && f.get("volume").iter().any(|w| w == id)))
        && f.labels_match(&attrs)
}
