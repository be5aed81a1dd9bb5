//! The Engine API client: version negotiation, JSON requests, daemon errors.
//!
//! Like the real CLI it pings `/_ping` once before the first versioned request and
//! speaks the lower of its own API version and the daemon's (`API-Version` header),
//! unless `DOCKER_API_VERSION` pins one. Every request path is then prefixed with
//! `/v<version>`.

use std::cell::OnceCell;
use std::io::Read;

use serde_json::Value;

use crate::transport::{self, Body, Host, Response, TransportError};

/// The newest API version this CLI speaks (the real CLI 28.2's).
pub const DEFAULT_API_VERSION: &str = "1.50";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The daemon answered with an error status; `message` is its own text.
    #[error("Error response from daemon: {message}")]
    Daemon { status: u16, message: String },
    #[error("error decoding the daemon's answer: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("error reading the daemon's answer: {0}")]
    Io(#[from] std::io::Error),
}

impl ClientError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Daemon { status: 404, .. })
    }
}

pub struct Client {
    pub host: Host,
    pinned_version: Option<String>,
    negotiated: OnceCell<Negotiated>,
}

#[derive(Clone)]
struct Negotiated {
    version: String,
    os_type: Option<String>,
    experimental: bool,
}

/// A query string built in order, values percent-encoded.
#[derive(Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn new() -> Query {
        Query::default()
    }
    pub fn add(mut self, key: &str, value: impl Into<String>) -> Query {
        self.0.push((key.to_string(), value.into()));
        self
    }
    pub fn flag(self, key: &str, on: bool) -> Query {
        if on {
            self.add(key, "1")
        } else {
            self
        }
    }
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
    fn render(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        format!("?{}", parts.join("&"))
    }
}

pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn version_less(a: &str, b: &str) -> bool {
    let parse = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parse(a) < parse(b)
}

impl Client {
    pub fn new(host: Host, pinned_version: Option<String>) -> Client {
        Client {
            host,
            pinned_version,
            negotiated: OnceCell::new(),
        }
    }

    /// The API version requests use (negotiating first if needed).
    pub fn api_version(&self) -> Result<String, ClientError> {
        Ok(self.negotiate()?.version)
    }

    fn negotiate(&self) -> Result<Negotiated, ClientError> {
        if let Some(n) = self.negotiated.get() {
            return Ok(n.clone());
        }
        let n = if let Some(v) = &self.pinned_version {
            Negotiated {
                version: v.clone(),
                os_type: None,
                experimental: false,
            }
        } else {
            let resp = transport::request(&self.host, "GET", "/_ping", &[], Body::Empty)?;
            let server = resp.header("API-Version").map(str::to_string);
            let os_type = resp.header("OSType").map(str::to_string);
            let experimental = resp.header("Docker-Experimental") == Some("true");
            let _ = resp.bytes();
            let version = match server {
                Some(v) if version_less(&v, DEFAULT_API_VERSION) => v,
                _ => DEFAULT_API_VERSION.to_string(),
            };
            Negotiated {
                version,
                os_type,
                experimental,
            }
        };
        let _ = self.negotiated.set(n.clone());
        Ok(n)
    }

    pub fn os_type(&self) -> Option<String> {
        self.negotiate().ok().and_then(|n| n.os_type)
    }

    /// Whether the daemon runs with experimental features (its ping says so).
    pub fn experimental(&self) -> bool {
        self.negotiate().is_ok_and(|n| n.experimental)
    }

    /// A raw request; error statuses become [`ClientError::Daemon`].
    pub fn call(
        &self,
        method: &str,
        path: &str,
        query: Query,
        headers: &[(&str, String)],
        body: Body<'_>,
    ) -> Result<Response, ClientError> {
        let version = self.api_version()?;
        let full = format!("/v{version}{path}{}", query.render());
        let resp = transport::request(&self.host, method, &full, headers, body)?;
        if resp.status >= 400 {
            let status = resp.status;
            let bytes = resp.bytes()?;
            let message = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_string());
            return Err(ClientError::Daemon { status, message });
        }
        Ok(resp)
    }

    pub fn get_raw(&self, path: &str, query: Query) -> Result<Vec<u8>, ClientError> {
        Ok(self.call("GET", path, query, &[], Body::Empty)?.bytes()?)
    }

    pub fn get(&self, path: &str, query: Query) -> Result<Value, ClientError> {
        let bytes = self.get_raw(path, query)?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// POST with an optional JSON body; returns the decoded answer (Null when empty).
    pub fn post(
        &self,
        path: &str,
        query: Query,
        json: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let data;
        let body = match json {
            Some(v) => {
                data = serde_json::to_vec(v)?;
                Body::Bytes(&data, "application/json")
            }
            None => Body::Empty,
        };
        let bytes = self.call("POST", path, query, &[], body)?.bytes()?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    pub fn delete(&self, path: &str, query: Query) -> Result<Value, ClientError> {
        let bytes = self
            .call("DELETE", path, query, &[], Body::Empty)?
            .bytes()?;
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// A streamed body (logs, events, export): the caller reads it to the end.
    pub fn stream(
        &self,
        method: &str,
        path: &str,
        query: Query,
        body: Body<'_>,
    ) -> Result<impl Read, ClientError> {
        Ok(self.call(method, path, query, &[], body)?.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(version_less("1.41", "1.50"));
        assert!(version_less("1.9", "1.41"));
        assert!(!version_less("1.50", "1.50"));
    }

    #[test]
    fn queries_are_percent_encoded() {
        let q = Query::new()
            .add("filters", "{\"a\":1}")
            .flag("all", true)
            .flag("x", false);
        assert_eq!(q.render(), "?filters=%7B%22a%22%3A1%7D&all=1");
    }
}
