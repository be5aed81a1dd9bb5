//! TLS on `tcp://` listeners, as dockerd's `--tls`, `--tlsverify`, `--tlscacert`,
//! `--tlscert` and `--tlskey` set it up: `--tls` encrypts with the server's key pair,
//! `--tlsverify` also demands a client certificate signed by the CA. Files not given
//! default to `ca.pem`, `cert.pem` and `key.pem` in `$DOCKER_CERT_PATH` or `~/.docker`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::Flags;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("could not read CA certificate {path}: {reason}")]
    Ca { path: PathBuf, reason: String },
    #[error("could not load X509 key pair ({cert}, {key}): {reason}")]
    KeyPair {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("invalid TLS configuration: {0}")]
    Config(String),
}

/// The directory of the default certificate files.
fn cert_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CERT_PATH").filter(|d| !d.is_empty()) {
        return d.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    Path::new(&home).join(".docker")
}

/// The acceptor for `tcp://` listeners, or None when TLS is off.
pub fn acceptor(f: &Flags) -> Result<Option<TlsAcceptor>, TlsError> {
    if !(f.tls || f.tlsverify) {
        return Ok(None);
    }
    // rustls needs one process-wide crypto provider; ring is the workspace's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = cert_dir();
    let pick =
        |given: &Option<PathBuf>, name: &str| given.clone().unwrap_or_else(|| dir.join(name));
    let (cert, key) = (pick(&f.tlscert, "cert.pem"), pick(&f.tlskey, "key.pem"));
    let pair_error = |reason: String| TlsError::KeyPair {
        cert: cert.clone(),
        key: key.clone(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(&cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| pair_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(pair_error(format!("no certificate in {}", cert.display())));
    }
    let private = PrivateKeyDer::from_pem_file(&key).map_err(|e| pair_error(e.to_string()))?;
    let builder = rustls::ServerConfig::builder();
    let builder = if f.tlsverify {
        let ca = pick(&f.tlscacert, "ca.pem");
        let ca_error = |reason: String| TlsError::Ca {
            path: ca.clone(),
            reason,
        };
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&ca).map_err(|e| ca_error(e.to_string()))? {
            roots
                .add(c.map_err(|e| ca_error(e.to_string()))?)
                .map_err(|e| ca_error(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(ca_error("no certificate in the file".into()));
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
            .build()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(chain, private)
        .map_err(|e| pair_error(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}
