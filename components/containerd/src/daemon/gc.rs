//! Garbage collection of a namespace: content and committed snapshots that no image,
//! container, lease or `containerd.io/gc.ref.*` label reaches are removed. Leases whose
//! `containerd.io/gc.expire` time has passed are removed first and hold nothing.
//! Deletes that do not ask for a synchronous collection get one in the background, as
//! containerd's scheduler does, so the client does not wait for the scan.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use containerd_client::services::v1 as api;

use super::services::LeaseRecord;
use super::snapshots::SNAPSHOTTERS;
use super::Daemon;

#[derive(Hash, PartialEq, Eq, Clone, Debug)]
enum Node {
    Content(String),
    Snapshot(String, String),
}

/// The label holding a lease's expiry time (RFC 3339).
const EXPIRE_LABEL: &str = "containerd.io/gc.expire";

/// When a lease expires, if it carries an expiry label.
pub fn lease_expiry(lease: &LeaseRecord) -> Option<SystemTime> {
    let at = lease.lease.as_ref()?.labels.get(EXPIRE_LABEL)?;
    crate::timefmt::parse_rfc3339(at)
}

impl Daemon {
    /// Collect `ns` in the background (a delete that did not ask to wait for it).
    pub fn schedule_gc(self: &Arc<Self>, ns: &str) {
        let d = self.clone();
        let ns = ns.to_owned();
        tokio::spawn(async move { d.collect_garbage(&ns).await });
    }

    /// Collect `ns` once the lease expiring `at` has expired.
    pub fn collect_at(self: &Arc<Self>, ns: &str, at: SystemTime) {
        let d = self.clone();
        let ns = ns.to_owned();
        tokio::spawn(async move {
            // A second past the label's whole-second time, so the lease is over by then.
            let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
            tokio::time::sleep(wait + Duration::from_secs(1)).await;
            d.collect_garbage(&ns).await;
        });
    }

    /// At start: collect every namespace (leases may have expired while the daemon was
    /// down) and watch the leases that expire later.
    pub async fn collect_all_at_start(self: &Arc<Self>) {
        let Ok(namespaces) = self.store.namespaces() else {
            return;
        };
        for ns in namespaces {
            self.collect_garbage(&ns).await;
            let Ok(leases) = self.store.list::<LeaseRecord>(&ns, "leases") else {
                continue;
            };
            for (_, l) in leases {
                if let Some(at) = lease_expiry(&l) {
                    self.collect_at(&ns, at);
                }
            }
        }
    }

    pub async fn collect_garbage(&self, ns: &str) {
        let _g = self.meta_lock.lock().await;
        if let Err(e) = self.collect(ns) {
            tracing_warn(&format!("garbage collection in namespace {ns}: {e}"));
        }
    }

    fn collect(&self, ns: &str) -> Result<(), Box<dyn std::error::Error>> {
        let mut roots: VecDeque<Node> = VecDeque::new();
        let now = SystemTime::now();
        for (id, l) in self.store.list::<LeaseRecord>(ns, "leases")? {
            if lease_expiry(&l).is_some_and(|at| at <= now) {
                self.store.delete(ns, "leases", &id)?;
                continue;
            }
            for r in l.resources {
                if r.r#type == "content" {
                    roots.push_back(Node::Content(r.id));
                } else if let Some(sn) = r.r#type.strip_prefix("snapshots/") {
                    roots.push_back(Node::Snapshot(sn.to_owned(), r.id));
                }
            }
        }
        for (_, img) in self.store.list::<api::Image>(ns, "images")? {
            if let Some(t) = img.target {
                roots.push_back(Node::Content(t.digest));
            }
        }
        for (_, c) in self.store.list::<api::Container>(ns, "containers")? {
            if !c.snapshot_key.is_empty() {
                let sn = if c.snapshotter.is_empty() {
                    "overlayfs".to_owned()
                } else {
                    c.snapshotter.clone()
                };
                roots.push_back(Node::Snapshot(sn, c.snapshot_key.clone()));
            }
        }
        let contents = self.store.list::<api::Info>(ns, "content")?;
        for (_, i) in &contents {
            if i.labels.contains_key("containerd.io/gc.root") {
                roots.push_back(Node::Content(i.digest.clone()));
            }
        }
        let mut snaps = Vec::new();
        for sn in SNAPSHOTTERS {
            for i in self.snapshots.list(ns, sn)? {
                if i.labels.contains_key("containerd.io/gc.root") || i.kind != 3 {
                    // Active and view snapshots belong to someone in the middle of work.
                    roots.push_back(Node::Snapshot(sn.to_owned(), i.name.clone()));
                }
                snaps.push((sn.to_owned(), i));
            }
        }
        let mut seen: HashSet<Node> = HashSet::new();
        while let Some(n) = roots.pop_front() {
            if !seen.insert(n.clone()) {
                continue;
            }
            let labels = match &n {
                Node::Content(dg) => contents
                    .iter()
                    .find(|(k, _)| k == dg)
                    .map(|(_, i)| i.labels.clone())
                    .unwrap_or_default(),
                Node::Snapshot(sn, name) => {
                    let Some((_, i)) = snaps.iter().find(|(s, i)| s == sn && &i.name == name)
                    else {
                        continue;
                    };
                    if !i.parent.is_empty() {
                        roots.push_back(Node::Snapshot(sn.clone(), i.parent.clone()));
                    }
                    i.labels.clone()
                }
            };
            for (k, v) in labels {
                if let Some(rest) = k.strip_prefix("containerd.io/gc.ref.content") {
                    let _ = rest;
                    roots.push_back(Node::Content(v));
                } else if let Some(rest) = k.strip_prefix("containerd.io/gc.ref.snapshot.") {
                    let sn = rest.split('/').next().unwrap_or(rest).to_owned();
                    roots.push_back(Node::Snapshot(sn, v));
                }
            }
        }
        for (dg, _) in contents {
            if !seen.contains(&Node::Content(dg.clone())) {
                let _ = self.delete_content(ns, &dg);
            }
        }
        // Children first: a parent can only go once nothing stacks on it.
        let mut doomed: Vec<(String, String)> = snaps
            .iter()
            .filter(|(sn, i)| !seen.contains(&Node::Snapshot(sn.clone(), i.name.clone())))
            .map(|(sn, i)| (sn.clone(), i.name.clone()))
            .collect();
        for _ in 0..doomed.len() + 1 {
            doomed.retain(|(sn, name)| self.snapshots.remove(ns, sn, name).is_err());
            if doomed.is_empty() {
                break;
            }
        }
        Ok(())
    }
}

fn tracing_warn(msg: &str) {
    super::log::warn(msg);
}
