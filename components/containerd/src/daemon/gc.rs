//! Garbage collection of a namespace: content and committed snapshots that no image,
//! container, lease or `containerd.io/gc.ref.*` label reaches are removed. While any
//! lease exists in the namespace the collection waits (the lease holder may be in the
//! middle of writing an image whose references are not recorded yet).

use std::collections::{HashSet, VecDeque};

use containerd_client::services::v1 as api;

use super::services::LeaseRecord;
use super::snapshots::SNAPSHOTTERS;
use super::Daemon;

#[derive(Hash, PartialEq, Eq, Clone, Debug)]
enum Node {
    Content(String),
    Snapshot(String, String),
}

impl Daemon {
    pub async fn collect_garbage(&self, ns: &str) {
        let _g = self.meta_lock.lock().await;
        if let Err(e) = self.collect(ns) {
            tracing_warn(&format!("garbage collection in namespace {ns}: {e}"));
        }
    }

    fn collect(&self, ns: &str) -> Result<(), Box<dyn std::error::Error>> {
        let mut roots: VecDeque<Node> = VecDeque::new();
        for (_, l) in self.store.list::<LeaseRecord>(ns, "leases")? {
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
