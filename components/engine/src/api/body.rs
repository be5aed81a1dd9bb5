//! Response bodies: whole JSON documents, and streams fed from a channel (logs, events,
//! pull/load progress, wait results) that reach the client as they are produced.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::{Response, StatusCode};
use tokio::sync::mpsc;

pub type Body = BoxBody<Bytes, Infallible>;

pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into()).boxed()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

pub fn json_response(status: StatusCode, v: &serde_json::Value) -> Response<Body> {
    let mut text = serde_json::to_vec(v).unwrap_or_default();
    text.push(b'\n');
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .body(full(text))
        .unwrap()
}

pub fn ok_json(v: &serde_json::Value) -> super::Resp {
    Ok(json_response(StatusCode::OK, v))
}

pub fn no_content() -> super::Resp {
    Ok(Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(empty())
        .unwrap())
}

/// A body whose chunks come from a channel; it ends when every sender is dropped.
pub struct ChannelBody(mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.0.poll_recv(cx) {
            Poll::Ready(Some(b)) => Poll::Ready(Some(Ok(Frame::data(b)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A streaming response and the sender that feeds it.
pub fn streaming(content_type: &str) -> (mpsc::Sender<Bytes>, Response<Body>) {
    let (tx, rx) = mpsc::channel(64);
    let resp = Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", content_type)
        .body(ChannelBody(rx).boxed())
        .unwrap();
    (tx, resp)
}

/// Read a whole request body (JSON documents are small).
pub async fn read_all(
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<Bytes, super::ApiError> {
    req.into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| super::ApiError::bad_request(format!("reading request body: {e}")))
}

/// Parse a JSON body, with dockerd's 400 for malformed input; an empty body is `{}`.
pub async fn read_json(
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<serde_json::Value, super::ApiError> {
    let bytes = read_all(req).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::json!({}));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| super::ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// Copy a request body into a file (image tarballs are spooled before unpacking).
pub async fn spool_to_file(
    req: hyper::Request<hyper::body::Incoming>,
    path: &std::path::Path,
) -> Result<u64, super::ApiError> {
    use tokio::io::AsyncWriteExt;
    let mut f = tokio::fs::File::create(path).await?;
    let mut body = req.into_body();
    let mut n = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| super::ApiError::bad_request(format!("reading request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            n += data.len() as u64;
            f.write_all(&data).await?;
        }
    }
    f.flush().await?;
    Ok(n)
}
