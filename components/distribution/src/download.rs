//! Plain HTTP(S) downloads for the classic builder's `ADD <url>`: the registry
//! client's transport (rustls with the system store and certs.d), redirects followed
//! as Go's client follows them, the body streamed to a file, and the headers the
//! builder needs (`Last-Modified` for the file's mtime, `Content-Disposition` for a
//! name when the URL has none).

use std::path::Path;

use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use tokio::io::AsyncWriteExt;

use crate::error::Error;
use crate::session::empty;
use crate::transport::RegistryConfig;

/// Go's client gives up after this many redirects.
const MAX_REDIRECTS: usize = 10;

/// What a successful download said about itself.
#[derive(Debug, Clone, Default)]
pub struct Downloaded {
    /// The URL the body came from, after redirects.
    pub final_url: String,
    pub last_modified: Option<String>,
    pub content_disposition: Option<String>,
}

pub(crate) async fn get(cfg: &RegistryConfig, url: &str, file: &Path) -> Result<Downloaded, Error> {
    let mut current = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let uri: http::Uri = current
            .parse()
            .map_err(|e| Error::Download(format!("invalid URL {current}: {e}")))?;
        let host = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .ok_or_else(|| Error::Download(format!("invalid URL {current}: no host")))?;
        let client = cfg.http_for(&host, false)?;
        let req = Request::builder()
            .method(Method::GET)
            .uri(uri.clone())
            .body(empty())
            .expect("valid request");
        let resp = client.request(req).await.map_err(|e| Error::Connect {
            op: "Get".into(),
            url: current.clone(),
            reason: e.to_string(),
        })?;
        let status = resp.status();
        if status.is_redirection() {
            if let Some(next) = header(resp.headers(), "location") {
                current = resolve(&uri, &next);
                continue;
            }
        }
        if !status.is_success() {
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(Error::Download(format!(
                "failed to GET {url} with status {}: {}",
                status_text(status),
                String::from_utf8_lossy(&body).trim_end()
            )));
        }
        let found = Downloaded {
            final_url: current.clone(),
            last_modified: header(resp.headers(), "last-modified"),
            content_disposition: header(resp.headers(), "content-disposition"),
        };
        let io = |e| Error::io(format!("write {}", file.display()), e);
        let mut out = tokio::fs::File::create(file).await.map_err(io)?;
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Error::Connect {
                op: "Get".into(),
                url: current.clone(),
                reason: e.to_string(),
            })?;
            if let Some(data) = frame.data_ref() {
                out.write_all(data).await.map_err(io)?;
            }
        }
        out.flush().await.map_err(io)?;
        return Ok(found);
    }
    Err(Error::Download(format!(
        "Get \"{url}\": stopped after {MAX_REDIRECTS} redirects"
    )))
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `404 Not Found`, as Go prints a response's status.
fn status_text(s: StatusCode) -> String {
    format!("{} {}", s.as_u16(), s.canonical_reason().unwrap_or(""))
        .trim_end()
        .to_string()
}

/// A `Location` relative to the URL that sent it.
fn resolve(base: &http::Uri, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let scheme = base.scheme_str().unwrap_or("http");
    let auth = base.authority().map(|a| a.as_str()).unwrap_or("");
    if location.starts_with('/') {
        return format!("{scheme}://{auth}{location}");
    }
    let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
    format!("{scheme}://{auth}{dir}/{location}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_against_the_sender() {
        let base: http::Uri = "http://h:1/a/b?x".parse().unwrap();
        assert_eq!(resolve(&base, "/c"), "http://h:1/c");
        assert_eq!(resolve(&base, "c"), "http://h:1/a/c");
        assert_eq!(resolve(&base, "https://o/d"), "https://o/d");
        assert_eq!(status_text(StatusCode::NOT_FOUND), "404 Not Found");
    }
}
