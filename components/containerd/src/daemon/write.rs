//! The content Write stream: a client states a ref, writes at offsets and commits with
//! the expected size and digest; every request gets one answer carrying the ingest's
//! progress, as containerd's remote content writer expects.

use std::sync::Arc;

use containerd_client::events as ev;
use containerd_client::services::v1 as api;
use futures::Stream;
use tonic::{Status, Streaming};

use super::content::{ContentError, Ingest};
use super::errors::{from_content, from_store};
use super::Daemon;

const STAT: i32 = api::WriteAction::Stat as i32;
const WRITE: i32 = api::WriteAction::Write as i32;
const COMMIT: i32 = api::WriteAction::Commit as i32;

pub fn serve(
    d: Arc<Daemon>,
    ns: String,
    lease: Option<String>,
    mut reqs: Streaming<api::WriteContentRequest>,
) -> impl Stream<Item = Result<api::WriteContentResponse, Status>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let mut ingest: Option<Ingest> = None;
        let mut committed = false;
        let started = std::time::SystemTime::now();
        loop {
            let req = match reqs.message().await {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    break;
                }
            };
            let action = req.action;
            let res = handle(&d, &ns, &lease, &mut ingest, started, req).await;
            let stop = res.is_err();
            if action == COMMIT && res.is_ok() {
                committed = true;
            }
            if tx.send(res).await.is_err() || stop {
                break;
            }
        }
        // A write abandoned half way (client gone, truncated source) leaves no partial
        // content behind; a committed one has nothing left to remove.
        if let Some(w) = ingest.take() {
            let reference = w.reference.clone();
            drop(w);
            if !committed {
                let _ = d.content.abort(&reference);
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

async fn handle(
    d: &Arc<Daemon>,
    ns: &str,
    lease: &Option<String>,
    ingest: &mut Option<Ingest>,
    started: std::time::SystemTime,
    req: api::WriteContentRequest,
) -> Result<api::WriteContentResponse, Status> {
    if ingest.is_none() {
        if req.r#ref.is_empty() {
            return Err(Status::invalid_argument(
                "first message must have a reference: invalid argument",
            ));
        }
        if !req.expected.is_empty() && d.content_info(ns, &req.expected).is_ok() {
            return Err(Status::already_exists(format!(
                "content {}: already exists",
                req.expected
            )));
        }
        let w = d
            .content
            .writer(&req.r#ref, req.total.max(0) as u64, &req.expected)
            .map_err(from_content)?;
        *ingest = Some(w);
    }
    let w = ingest.as_mut().expect("ingest opened above");
    if req.total > 0 {
        w.total = req.total as u64;
    }
    if !req.expected.is_empty() {
        w.expected = req.expected.clone();
    }
    let mut resp = api::WriteContentResponse {
        action: req.action,
        started_at: Some(started.into()),
        updated_at: Some(std::time::SystemTime::now().into()),
        offset: w.offset as i64,
        total: w.total as i64,
        digest: String::new(),
    };
    match req.action {
        STAT => {
            resp.digest = w.digest().map_err(from_content)?;
        }
        WRITE | COMMIT => {
            if !req.data.is_empty() || req.offset as u64 != w.offset {
                if req.offset < 0 || req.offset as u64 > w.offset {
                    return Err(Status::out_of_range(format!(
                        "write offset {} beyond ingest size {}",
                        req.offset, w.offset
                    )));
                }
                w.write_at(req.offset as u64, &req.data)
                    .map_err(from_content)?;
                resp.offset = w.offset as i64;
            }
            if req.action == COMMIT {
                let digest = match w.commit(req.total.max(0) as u64, &req.expected) {
                    Ok(dg) => dg,
                    // The blob is on disk (another namespace wrote it): add it here.
                    Err(ContentError::AlreadyExists(dg)) => dg,
                    Err(e) => return Err(from_content(e)),
                };
                d.attach_to_lease(ns, lease.clone(), "content", &digest)
                    .await?;
                let _g = d.meta_lock.lock().await;
                if d.store
                    .get::<api::Info>(ns, "content", &digest)
                    .map_err(from_store)?
                    .is_some()
                {
                    return Err(Status::already_exists(format!(
                        "content {digest}: already exists"
                    )));
                }
                let t: prost_types::Timestamp = std::time::SystemTime::now().into();
                let info = api::Info {
                    digest: digest.clone(),
                    size: w.offset as i64,
                    created_at: Some(t),
                    updated_at: Some(t),
                    labels: req.labels.clone(),
                };
                d.store
                    .put(ns, "content", &digest, &info)
                    .map_err(from_store)?;
                d.events.publish(
                    ns,
                    "/content/create",
                    &ev::ContentCreate {
                        digest: digest.clone(),
                        size: info.size,
                    },
                );
                resp.digest = digest;
            }
        }
        other => {
            return Err(Status::invalid_argument(format!(
                "action {other} is invalid: invalid argument"
            )))
        }
    }
    Ok(resp)
}
