//! The crate's error type and the registry's own error bodies
//! (`{"errors":[{"code":"MANIFEST_UNKNOWN","message":...}]}`), worded as docker words
//! them: the code lower-cased with spaces, a colon, the message
//! (`unauthorized: authentication required`).

use std::fmt;

use crate::digest::Digest;

/// One error the registry reported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct RegistryError {
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code.to_ascii_lowercase().replace('_', " ");
        let message = if self.message.is_empty() {
            default_message(&self.code)
        } else {
            &self.message
        };
        write!(f, "{code}: {message}")
    }
}

/// What distribution's errcode descriptors say when a registry sends a code only.
fn default_message(code: &str) -> &'static str {
    match code {
        "UNAUTHORIZED" => "authentication required",
        "DENIED" => "requested access to the resource is denied",
        "MANIFEST_UNKNOWN" => "manifest unknown",
        "BLOB_UNKNOWN" => "blob unknown to registry",
        "NAME_UNKNOWN" => "repository name not known to registry",
        "TOOMANYREQUESTS" => "too many requests",
        _ => "unknown error",
    }
}

/// The errors of one failed response, displayed as docker's `errcode.Errors`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryErrors(pub Vec<RegistryError>);

impl RegistryErrors {
    /// Whether any error has `code` (e.g. `MANIFEST_UNKNOWN`).
    pub fn has(&self, code: &str) -> bool {
        self.0.iter().any(|e| e.code == code)
    }
}

impl fmt::Display for RegistryErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "errors:")?;
                for e in many {
                    write!(f, "\n{e}")?;
                }
                Ok(())
            }
        }
    }
}

/// Everything a registry operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),
    /// The registry answered with error codes (4xx/5xx with a JSON body, or a bare 401).
    #[error("{0}")]
    Registry(RegistryErrors),
    #[error("manifest for {reference} not found: {errors}")]
    ManifestNotFound {
        reference: String,
        errors: RegistryErrors,
    },
    #[error("received unexpected HTTP status: {status}")]
    UnexpectedStatus { status: String },
    #[error("no matching manifest for {platform} in the manifest list entries")]
    NoMatchingPlatform { platform: String },
    #[error("filesystem layer verification failed for digest {expected}")]
    BlobDigestMismatch { expected: Digest, actual: Digest },
    #[error("manifest verification failed for digest {expected}")]
    ManifestDigestMismatch { expected: Digest, actual: Digest },
    #[error("blob {digest} is {actual} bytes, the manifest says {expected}")]
    BlobSize {
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),
    #[error("invalid token response from {realm}: {reason}")]
    Token { realm: String, reason: String },
    /// No response: `<Method> "<url>": <reason>`, as Go's url.Error reads.
    #[error("{op} \"{url}\": {reason}")]
    Connect {
        op: String,
        url: String,
        reason: String,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// `docker login` refused: the registry answered the authenticated ping with
    /// `status` (docker's wording for Basic-auth registries).
    #[error("login attempt to {url} failed with status: {status}")]
    LoginRejected { url: String, status: String },
    /// `docker login` failed on the way to a token (docker's wording for token servers).
    #[error("Get \"{url}\": {source}")]
    LoginFailed {
        url: String,
        #[source]
        source: Box<Error>,
    },
    #[error("invalid TLS configuration for {host}: {reason}")]
    Tls { host: String, reason: String },
    #[error("registry response: {0}")]
    Protocol(String),
    /// A plain HTTP download (`ADD <url>`) that failed, in dockerd's words.
    #[error("{0}")]
    Download(String),
    #[error("blob {0} is not in the upload source")]
    MissingSource(Digest),
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// Whether the registry said "unauthorized" (wrong or missing credentials).
    pub fn is_unauthorized(&self) -> bool {
        match self {
            Error::Registry(e) => e.has("UNAUTHORIZED"),
            Error::LoginRejected { status, .. } => status.starts_with("401"),
            Error::LoginFailed { source, .. } => source.is_unauthorized(),
            _ => false,
        }
    }
}

/// Build the error for a failed response as docker's `HandleErrorResponse` does.
pub(crate) fn from_response(status: http::StatusCode, body: &[u8]) -> Error {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<RegistryError>,
    }
    // Token servers (Docker Hub's among them) answer `{"details": "..."}`.
    #[derive(serde::Deserialize)]
    struct Details {
        details: String,
    }
    if let Ok(Details { details }) = serde_json::from_slice::<Details>(body) {
        if !details.is_empty() {
            let code = match status.as_u16() {
                401 => "UNAUTHORIZED",
                429 => "TOOMANYREQUESTS",
                _ => "UNKNOWN",
            };
            return Error::Registry(RegistryErrors(vec![RegistryError {
                code: code.into(),
                message: details,
            }]));
        }
    }
    let parsed = serde_json::from_slice::<Body>(body)
        .map(|b| b.errors)
        .unwrap_or_default();
    if !parsed.is_empty() {
        return Error::Registry(RegistryErrors(parsed));
    }
    let code = match status.as_u16() {
        401 => "UNAUTHORIZED",
        403 => "DENIED",
        429 => "TOOMANYREQUESTS",
        _ => {
            return Error::UnexpectedStatus {
                status: format!(
                    "{} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                )
                .trim_end()
                .to_string(),
            }
        }
    };
    Error::Registry(RegistryErrors(vec![RegistryError {
        code: code.into(),
        message: String::new(),
    }]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worded_as_docker() {
        let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#;
        let e = from_response(http::StatusCode::UNAUTHORIZED, body);
        assert_eq!(e.to_string(), "unauthorized: authentication required");
        assert!(e.is_unauthorized());
        let e = from_response(http::StatusCode::UNAUTHORIZED, b"");
        assert_eq!(e.to_string(), "unauthorized: authentication required");
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"},{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#;
        assert_eq!(
            from_response(http::StatusCode::NOT_FOUND, body).to_string(),
            "errors:\nmanifest unknown: manifest unknown\nname unknown: repository name not known to registry"
        );
        assert_eq!(
            from_response(
                http::StatusCode::UNAUTHORIZED,
                br#"{"details":"incorrect username or password"}"#
            )
            .to_string(),
            "unauthorized: incorrect username or password"
        );
        assert_eq!(
            from_response(http::StatusCode::BAD_GATEWAY, b"<html>").to_string(),
            "received unexpected HTTP status: 502 Bad Gateway"
        );
    }
}
