//! TLS for `tcp://` daemons (`--tls`, `--tlsverify`, `--tlscacert/--tlscert/--tlskey`,
//! `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`), with rustls.
//!
//! A hijacked attach reads and writes the same TLS session from two threads, so the
//! session sits behind a mutex and reads poll with a short socket timeout, letting
//! writes in between.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// What the user asked for; `None` means plain TCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    pub verify: bool,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("Could not load X509 key pair: open {0}: no such file or directory")]
    Missing(String),
    #[error("Could not read CA certificate {0:?}: {1}")]
    Ca(String, String),
    #[error("Could not load X509 key pair: {0}")]
    KeyPair(String),
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Resolves the flags and environment into options (`--tlsverify` implies `--tls`;
/// default files come from `DOCKER_CERT_PATH` or the config directory).
pub fn options(
    tls: bool,
    verify: bool,
    ca: Option<&str>,
    cert: Option<&str>,
    key: Option<&str>,
    config_dir: &Path,
) -> Option<TlsOptions> {
    let env_verify = std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty());
    let verify = verify || env_verify;
    if !tls && !verify {
        return None;
    }
    let dir = std::env::var("DOCKER_CERT_PATH")
        .ok()
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| config_dir.to_path_buf());
    // Like the real CLI, the default files are always named and must exist.
    let pick = |given: Option<&str>, name: &str| -> Option<PathBuf> {
        Some(given.map(PathBuf::from).unwrap_or_else(|| dir.join(name)))
    };
    Some(TlsOptions {
        verify,
        ca: pick(ca, "ca.pem"),
        cert: pick(cert, "cert.pem"),
        key: pick(key, "key.pem"),
    })
}

#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn client_config(o: &TlsOptions) -> Result<rustls::ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = if o.verify {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = &o.ca {
            let shown = ca.display().to_string();
            if !ca.exists() {
                return Err(TlsError::Ca(
                    shown,
                    "open: no such file or directory".into(),
                ));
            }
            for cert in CertificateDer::pem_file_iter(ca)
                .map_err(|e| TlsError::Ca(shown.clone(), e.to_string()))?
            {
                let cert = cert.map_err(|e| TlsError::Ca(shown.clone(), e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| TlsError::Ca(shown.clone(), e.to_string()))?;
            }
        }
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
    };
    match (&o.cert, &o.key) {
        (Some(cert), Some(key)) => {
            for p in [cert, key] {
                if !p.exists() {
                    return Err(TlsError::Missing(p.display().to_string()));
                }
            }
            let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(cert)
                .map_err(|e| TlsError::KeyPair(e.to_string()))?
                .collect();
            let certs = certs.map_err(|e| TlsError::KeyPair(e.to_string()))?;
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::KeyPair(e.to_string()))?;
            Ok(builder.with_client_auth_cert(certs, key)?)
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

impl TlsOptions {
    /// The first named file that does not exist, reported as docker does at start-up.
    pub fn check_files(&self) -> Result<(), String> {
        for p in [&self.ca, &self.cert, &self.key].into_iter().flatten() {
            if !p.exists() {
                return Err(format!(
                    "Failed to initialize: unable to resolve docker endpoint: open {}: no such file or directory",
                    p.display()
                ));
            }
        }
        Ok(())
    }
}

/// A TLS session over TCP, shareable between a reading and a writing thread.
#[derive(Clone)]
pub struct TlsStream {
    inner: Arc<Mutex<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>>,
    tcp: Arc<TcpStream>,
}

impl TlsStream {
    pub fn connect(tcp: TcpStream, host: &str, o: &TlsOptions) -> Result<TlsStream, TlsError> {
        let name = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
        let name = name.trim_start_matches('[').trim_end_matches(']');
        let server =
            ServerName::try_from(name.to_string()).map_err(|e| TlsError::KeyPair(e.to_string()))?;
        let conn = rustls::ClientConnection::new(Arc::new(client_config(o)?), server)?;
        let tcp2 = tcp
            .try_clone()
            .map_err(|e| TlsError::KeyPair(e.to_string()))?;
        let mut s = rustls::StreamOwned::new(conn, tcp);
        // Complete the handshake now so certificate errors surface at connect time.
        while s.conn.is_handshaking() {
            s.conn
                .complete_io(&mut s.sock)
                .map_err(|e| TlsError::Rustls(rustls::Error::General(e.to_string())))?;
        }
        Ok(TlsStream {
            inner: Arc::new(Mutex::new(s)),
            tcp: Arc::new(tcp2),
        })
    }

    pub fn shutdown_write(&self) -> io::Result<()> {
        let mut s = self
            .inner
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?;
        s.conn.send_close_notify();
        let _ = s.flush();
        Ok(())
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            self.tcp.set_read_timeout(Some(Duration::from_millis(50)))?;
            let r = {
                let mut s = self
                    .inner
                    .lock()
                    .map_err(|_| io::Error::other("poisoned"))?;
                s.read(buf)
            };
            match r {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                other => return other,
            }
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?
            .write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?
            .flush()
    }
}
