//! One conversation with one registry endpoint about one repository: the `/v2/` ping
//! that reveals the auth scheme, the token or Basic header that follows, and requests
//! that carry it (following redirects for blobs, never leaking it to another host).

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;

use crate::auth::{parse_challenge, Challenge, Credentials};
use crate::error::{from_response, Error};
use crate::transport::{Body, Endpoint};

const MAX_REDIRECTS: usize = 5;

/// An authenticated channel to `endpoint` for the given repository scopes.
pub(crate) struct Session {
    pub(crate) base: String,
    http: crate::transport::Http,
    creds: Credentials,
    scopes: Vec<String>,
    /// Replaced when the registry asks again (an expired token, a wider scope).
    authorization: std::sync::Mutex<Option<String>>,
}

pub(crate) fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

pub(crate) fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

impl Session {
    /// Ping `endpoint`, then authenticate for `scopes` (`repository:name:pull,push`).
    pub(crate) async fn open(
        endpoint: &Endpoint,
        creds: &Credentials,
        scopes: &[String],
    ) -> Result<Session, Error> {
        let s = Session {
            base: endpoint.base.clone(),
            http: endpoint.http.clone(),
            creds: creds.clone(),
            scopes: scopes.to_vec(),
            authorization: std::sync::Mutex::new(None),
        };
        let url = format!("{}/v2/", s.base);
        let resp = s.raw(Method::GET, &url, HeaderMap::new(), empty()).await?;
        let status = resp.status();
        let challenge = challenge_of(&resp);
        let body = read_small(resp).await?;
        match (status, challenge) {
            (StatusCode::OK, _) => {}
            (StatusCode::UNAUTHORIZED, Some(ch)) => {
                *s.authorization.lock().expect("not poisoned") = s.authorize(&ch).await?;
            }
            _ => return Err(from_response(status, &body)),
        }
        Ok(s)
    }

    /// The Authorization value that answers `challenge`, for the session's scopes plus
    /// the one the challenge names.
    async fn authorize(&self, challenge: &Challenge) -> Result<Option<String>, Error> {
        match challenge {
            Challenge::Basic => Ok(self.creds.basic_header()),
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let mut scopes = self.scopes.clone();
                if let Some(sc) = scope {
                    if !scopes.contains(sc) {
                        scopes.push(sc.clone());
                    }
                }
                let t = self
                    .token(realm, service.as_deref(), &scopes, &self.creds)
                    .await?;
                Ok(Some(t))
            }
        }
    }

    async fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        creds: &Credentials,
    ) -> Result<String, Error> {
        if !creds.registry_token.is_empty() {
            return Ok(format!("Bearer {}", creds.registry_token));
        }
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(svc) = service {
            query.push(("service", svc));
        }
        for sc in scopes {
            query.push(("scope", sc));
        }
        let user = creds.user_password().map(|(u, _)| u);
        let resp = if !creds.identity_token.is_empty() {
            let mut form = query.clone();
            form.extend([
                ("grant_type", "refresh_token"),
                ("refresh_token", creds.identity_token.as_str()),
                ("client_id", "docker"),
            ]);
            let mut h = HeaderMap::new();
            h.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
            self.raw(Method::POST, realm, h, full(encode_query(&form)))
                .await?
        } else {
            if let Some(u) = &user {
                query.push(("account", u));
            }
            let sep = if realm.contains('?') { '&' } else { '?' };
            let url = format!("{realm}{sep}{}", encode_query(&query));
            let mut h = HeaderMap::new();
            if let Some(b) = creds.basic_header() {
                h.insert(http::header::AUTHORIZATION, header_value(&b)?);
            }
            self.raw(Method::GET, &url, h, empty()).await?
        };
        let status = resp.status();
        let body = read_small(resp).await?;
        if !status.is_success() {
            return Err(from_response(status, &body));
        }
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            #[serde(default)]
            token: String,
            #[serde(default)]
            access_token: String,
        }
        let t: TokenResponse = serde_json::from_slice(&body).map_err(|e| Error::Token {
            realm: realm.into(),
            reason: e.to_string(),
        })?;
        let token = if t.token.is_empty() {
            t.access_token
        } else {
            t.token
        };
        if token.is_empty() {
            return Err(Error::Token {
                realm: realm.into(),
                reason: "no token in response".into(),
            });
        }
        Ok(format!("Bearer {token}"))
    }

    /// A request to a path under `/v2/` (or an absolute URL the registry handed out,
    /// e.g. an upload location), authenticated, following redirects for GET/HEAD. A
    /// GET or HEAD answered 401 is retried once with fresh credentials for the
    /// challenge (an expired token, a registry that only challenges per repository).
    pub(crate) async fn request(
        &self,
        method: Method,
        path_or_url: &str,
        headers: HeaderMap,
        body: Body,
    ) -> Result<Response<Incoming>, Error> {
        let url = self.absolute(path_or_url);
        let current = self.authorization.lock().expect("not poisoned").clone();
        let resp = self
            .send(
                method.clone(),
                &url,
                headers.clone(),
                body,
                current.as_deref(),
            )
            .await?;
        let replayable = method == Method::GET || method == Method::HEAD;
        if resp.status() != StatusCode::UNAUTHORIZED || !replayable {
            return Ok(resp);
        }
        let Some(challenge) = challenge_of(&resp) else {
            return Ok(resp);
        };
        let fresh = self.authorize(&challenge).await?;
        if fresh.is_none() || fresh == current {
            return Ok(resp);
        }
        drop(resp);
        *self.authorization.lock().expect("not poisoned") = fresh.clone();
        self.send(method, &url, headers, empty(), fresh.as_deref())
            .await
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        mut headers: HeaderMap,
        body: Body,
        authorization: Option<&str>,
    ) -> Result<Response<Incoming>, Error> {
        let mut url = url.to_string();
        if let Some(a) = authorization {
            if same_origin(&url, &self.base) {
                headers.insert(http::header::AUTHORIZATION, header_value(a)?);
            }
        }
        let follow = method == Method::GET || method == Method::HEAD;
        let mut resp = self
            .raw(method.clone(), &url, headers.clone(), body)
            .await?;
        for _ in 0..MAX_REDIRECTS {
            if !follow || !resp.status().is_redirection() {
                break;
            }
            let Some(loc) = resp
                .headers()
                .get(http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
            else {
                break;
            };
            let next = resolve(&url, loc);
            if !same_origin(&next, &self.base) {
                headers.remove(http::header::AUTHORIZATION);
            }
            url = next;
            resp = self
                .raw(method.clone(), &url, headers.clone(), empty())
                .await?;
        }
        Ok(resp)
    }

    /// `/v2/...` goes under the base (which may carry a mirror's path prefix); anything
    /// else is a Location the registry handed out.
    pub(crate) fn absolute(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("/v2/") {
            format!("{}{path_or_url}", self.base)
        } else {
            resolve(&self.base, path_or_url)
        }
    }

    async fn raw(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Body,
    ) -> Result<Response<Incoming>, Error> {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(url)
            .header(http::header::USER_AGENT, user_agent())
            .body(body)
            .map_err(|e| Error::Protocol(format!("invalid request to {url}: {e}")))?;
        req.headers_mut().extend(headers);
        self.http.request(req).await.map_err(|e| Error::Connect {
            op: go_op(&method),
            url: url.into(),
            reason: transport_reason(url, &e),
        })
    }
}

/// `GET` → `Get`, as Go names the operation in its errors.
fn go_op(m: &Method) -> String {
    let s = m.as_str();
    let mut out = s[..1].to_string();
    out.push_str(&s[1..].to_ascii_lowercase());
    out
}

/// The first challenge of a response that this client understands.
fn challenge_of(resp: &Response<Incoming>) -> Option<Challenge> {
    resp.headers()
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(parse_challenge)
}

fn user_agent() -> String {
    format!(
        "docker/{} (rust distribution client)",
        env!("CARGO_PKG_VERSION")
    )
}

fn header_value(s: &str) -> Result<http::HeaderValue, Error> {
    http::HeaderValue::from_str(s)
        .map_err(|_| Error::Protocol("credentials are not valid header text".into()))
}

/// Why a request got no response, worded as Go's net/http errors read in docker's
/// messages (`dial tcp 127.0.0.1:1: connect: connection refused`,
/// `x509: certificate signed by unknown authority`); anything else as the chain.
fn transport_reason(url: &str, e: &hyper_util::client::legacy::Error) -> String {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(t) = rustls_error(c) {
            return match t {
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
                    "x509: certificate signed by unknown authority".into()
                }
                other => format!("tls: {other}"),
            };
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if e.is_connect() {
                let what = match io.kind() {
                    std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
                    std::io::ErrorKind::TimedOut => "i/o timeout".to_string(),
                    _ => {
                        let s = io.to_string();
                        s.split(" (os error")
                            .next()
                            .unwrap_or(&s)
                            .to_ascii_lowercase()
                    }
                };
                return format!("dial tcp {}: connect: {what}", host_port(url));
            }
        }
        cur = c.source();
    }
    error_chain(e)
}

/// The TLS error inside `e`, looking through io::Errors that wrap io::Errors (as the
/// TLS connector wraps them).
fn rustls_error<'a>(mut e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    loop {
        if let Some(t) = e.downcast_ref::<rustls::Error>() {
            return Some(t);
        }
        match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => e = inner,
            None => return None,
        }
    }
}

/// `host:port` of a URL, with the scheme's default port.
fn host_port(url: &str) -> String {
    let o = origin(url);
    let (scheme, host) = o.split_once("://").unwrap_or(("https", o));
    if host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
    {
        host.to_string()
    } else {
        format!("{host}:{}", if scheme == "http" { 80 } else { 443 })
    }
}

/// The whole chain of causes, as Go's wrapped errors print (`dial tcp ...: connection refused`).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// Read an error or JSON body, capped so a hostile registry cannot exhaust memory.
pub(crate) async fn read_small(resp: Response<Incoming>) -> Result<Bytes, Error> {
    const CAP: usize = 16 << 20;
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Error::Protocol(format!("reading response: {e}")))?;
        if let Some(d) = frame.data_ref() {
            out.extend_from_slice(d);
            if out.len() > CAP {
                return Err(Error::Protocol("response body larger than 16 MiB".into()));
            }
        }
    }
    Ok(out.into())
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> &str {
    let after = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after..].find('/') {
        Some(i) => &url[..after + i],
        None => url,
    }
}

fn same_origin(a: &str, b: &str) -> bool {
    origin(a) == origin(b)
}

/// Resolve a Location (absolute, absolute-path, or relative) against `base`.
pub(crate) fn resolve(base: &str, loc: &str) -> String {
    if loc.contains("://") {
        loc.to_string()
    } else if loc.starts_with('/') {
        format!("{}{loc}", origin(base))
    } else {
        let dir = match base.rfind('/') {
            Some(i) if i > origin(base).len() => &base[..=i],
            _ => return format!("{}/{loc}", origin(base)),
        };
        format!("{dir}{loc}")
    }
}

/// application/x-www-form-urlencoded, enough for scopes, digests and tokens.
pub(crate) fn encode_query(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        let mut o = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                o.push(b as char);
            } else {
                o.push_str(&format!("%{b:02X}"));
            }
        }
        o
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            resolve("http://h:1/v2/", "/v2/a/blobs/uploads/x?y=1"),
            "http://h:1/v2/a/blobs/uploads/x?y=1"
        );
        assert_eq!(resolve("http://h:1", "/v2/"), "http://h:1/v2/");
        assert_eq!(resolve("http://h:1/v2/a", "https://s3/x"), "https://s3/x");
        assert!(same_origin("http://h:1/a", "http://h:1"));
        assert!(!same_origin("http://h:1/a", "http://h:2/a"));
        assert_eq!(
            encode_query(&[("scope", "repository:a/b:pull,push"), ("service", "x y")]),
            "scope=repository%3Aa%2Fb%3Apull%2Cpush&service=x%20y"
        );
    }
}
