//! Registry authentication: the credentials a caller hands in (as the CLI sends them in
//! `X-Registry-Auth`) and the `WWW-Authenticate` challenges a registry answers with
//! (`Basic realm=...`, `Bearer realm=...,service=...,scope=...`).

use base64::Engine as _;

/// Credentials for one registry. Empty means anonymous.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Credentials {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// `base64(user:password)`, the config file's form; used when username is empty.
    #[serde(default)]
    pub auth: String,
    /// An OAuth refresh token (from `docker login` against a token server).
    #[serde(default, rename = "identitytoken")]
    pub identity_token: String,
    /// A bearer token to send as is.
    #[serde(default, rename = "registrytoken")]
    pub registry_token: String,
}

/// Why an `X-Registry-Auth` header could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid X-Registry-Auth header: {0}")]
pub struct AuthHeaderError(String);

impl Credentials {
    pub fn basic(username: &str, password: &str) -> Credentials {
        Credentials {
            username: username.into(),
            password: password.into(),
            ..Default::default()
        }
    }

    /// Decode the CLI's `X-Registry-Auth` header (base64url JSON of an AuthConfig).
    pub fn from_x_registry_auth(header: &str) -> Result<Credentials, AuthHeaderError> {
        let header = header.trim();
        if header.is_empty() {
            return Ok(Credentials::default());
        }
        let engines = [
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
        ];
        let bytes = engines
            .iter()
            .find_map(|e| e.decode(header).ok())
            .ok_or_else(|| AuthHeaderError("not base64".into()))?;
        serde_json::from_slice(&bytes).map_err(|e| AuthHeaderError(e.to_string()))
    }

    /// `(user, password)` for Basic auth, from the fields or from `auth`.
    pub(crate) fn user_password(&self) -> Option<(String, String)> {
        if !self.username.is_empty() {
            return Some((self.username.clone(), self.password.clone()));
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(self.auth.trim())
            .ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (u, p) = s.split_once(':')?;
        Some((u.into(), p.into()))
    }

    pub(crate) fn basic_header(&self) -> Option<String> {
        let (u, p) = self.user_password()?;
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        ))
    }
}

/// One parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        /// What the registry says the request needs (`repository:x:pull`).
        scope: Option<String>,
    },
}

/// Parse a `WWW-Authenticate` value; unknown schemes give `None`.
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        }),
        _ => None,
    }
}

/// `k1="v 1", k2=v2` with backslash escapes inside quotes.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                value.push(n);
                            }
                        }
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        out.push((key.trim().to_string(), value.trim().to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="basic-realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(r#"bearer realm="http://a/t\"x", service=svc"#),
            Some(Challenge::Bearer {
                realm: "http://a/t\"x".into(),
                service: Some("svc".into()),
                scope: None
            })
        );
        assert_eq!(parse_challenge("Negotiate abc"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }

    #[test]
    fn x_registry_auth() {
        let json = r#"{"username":"u","password":"p+/?","serveraddress":"h"}"#;
        for enc in [
            base64::engine::general_purpose::URL_SAFE.encode(json),
            base64::engine::general_purpose::STANDARD.encode(json),
        ] {
            let c = Credentials::from_x_registry_auth(&enc).unwrap();
            assert_eq!(c.user_password(), Some(("u".into(), "p+/?".into())));
        }
        let c = Credentials {
            auth: base64::engine::general_purpose::STANDARD.encode("a:b:c"),
            ..Default::default()
        };
        assert_eq!(c.user_password(), Some(("a".into(), "b:c".into())));
        assert_eq!(c.basic_header().unwrap(), "Basic YTpiOmM=");
        assert!(Credentials::from_x_registry_auth("!!!").is_err());
        assert_eq!(
            Credentials::from_x_registry_auth("").unwrap(),
            Credentials::default()
        );
    }
}
