//! Exec endpoints: create, start (hijacked, tty or multiplexed), resize, inspect.

use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::body::{empty, json_response, ok_json, read_json};
use super::containers::{hijack, StdinSink};
use super::{Ctx, Resp};

pub async fn create(ctx: Ctx, id: &str) -> Resp {
    let d = ctx.daemon.clone();
    // The body first: answering before the client has written it breaks its pipe.
    let body = read_json(ctx.req).await?;
    let c = d.container(id)?;
    let exec_id = d.create_exec(&c, body)?;
    Ok(json_response(StatusCode::CREATED, &json!({"Id": exec_id})))
}

pub async fn start(ctx: Ctx, id: &str) -> Resp {
    let d = ctx.daemon.clone();
    let e = d.exec(id)?;
    let version = ctx.version;
    let (req, body) = {
        let req = ctx.req;
        // The body is small JSON, but reading it consumes the request that the
        // upgrade needs: split it into parts and rebuild with an empty body.
        let (parts, incoming) = req.into_parts();
        let bytes = http_body_util::BodyExt::collect(incoming)
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        (parts, bytes)
    };
    let opts: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|err| super::ApiError::bad_request(format!("invalid JSON: {err}")))?
    };
    let detach = opts.get("Detach").and_then(Value::as_bool).unwrap_or(false);
    if detach {
        d.start_exec(&e).await?;
        return Ok(Response::builder()
            .status(StatusCode::OK)
            .body(empty())
            .unwrap());
    }
    let tty = e.tty();
    let b = |k: &str| e.config.get(k).and_then(Value::as_bool).unwrap_or(false);
    let (want_out, want_err, want_in) = (b("AttachStdout"), b("AttachStderr"), b("AttachStdin"));
    let mut sub = e.hub.subscribe();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some((n, data)) = sub.recv().await {
            let pass = n == 0 || (n == 1 && want_out) || (n == 2 && want_err);
            if pass && tx.send((n, data)).is_err() {
                break;
            }
        }
    });
    d.start_exec(&e).await?;
    let req = hyper::Request::from_parts(req, ());
    let asked = e.config.get("DetachKeys").and_then(Value::as_str);
    let detach_keys = super::containers::detach_keys(asked)?;
    let stdin = want_in.then(|| StdinSink {
        hub: e.hub.clone(),
        close_on_eof: true,
        detach_keys,
        task: Some((d.clone(), e.container_id.clone(), e.id.clone())),
    });
    hijack_parts(req, rx, stdin, tty, version, Some(e.done.subscribe()))
}

fn hijack_parts(
    req: hyper::Request<()>,
    rx: mpsc::UnboundedReceiver<crate::containers::io::Chunk>,
    stdin: Option<StdinSink>,
    tty: bool,
    version: (u32, u32),
    done: Option<tokio::sync::watch::Receiver<bool>>,
) -> Resp {
    hijack(req, rx, stdin, tty, version, done)
}

pub async fn resize(ctx: Ctx, id: &str) -> Resp {
    let e = ctx.daemon.exec(id)?;
    let h = ctx.query.int("h").unwrap_or(0) as u32;
    let w = ctx.query.int("w").unwrap_or(0) as u32;
    ctx.daemon
        .ctrd
        .resize(&e.container_id, &e.id, w, h)
        .await
        .map_err(|err| super::ApiError::internal(err.to_string()))?;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .body(empty())
        .unwrap())
}

pub async fn inspect(ctx: Ctx, id: &str) -> Resp {
    let e = ctx.daemon.exec(id)?;
    ok_json(&e.to_json())
}
