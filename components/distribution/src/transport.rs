//! How the client reaches a registry: which base URLs to try for a host (mirrors first
//! for Docker Hub, https then http for insecure registries), and the HTTP client for
//! each, with rustls trusting the system store plus `/etc/docker/certs.d/<host>/*.crt`
//! (and presenting `<host>/*.cert` + `*.key` as client certificates, as docker does).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::error::Error;
use crate::reference::DOCKER_HUB;

pub(crate) type Body = BoxBody<Bytes, std::io::Error>;
pub(crate) type Http = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Body>;

/// Where docker keeps per-registry certificates.
pub const DEFAULT_CERTS_DIR: &str = "/etc/docker/certs.d";
/// Always insecure in docker.
pub const LOOPBACK_CIDR: &str = "127.0.0.0/8";
/// The API host behind `docker.io`.
pub const DOCKER_HUB_ENDPOINT: &str = "https://registry-1.docker.io";

/// How to reach registries; mirrors the daemon.json keys that concern them.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// `insecure-registries`: `host[:port]` or an IPv4 CIDR; http (or unverified https)
    /// is allowed for these. The default holds docker's 127.0.0.0/8, which dockerd
    /// always adds to what daemon.json lists.
    pub insecure_registries: Vec<String>,
    /// `registry-mirrors`: base URLs tried in order before Docker Hub for `docker.io`.
    pub mirrors: Vec<String>,
    /// Per-registry CA and client certificates (`<dir>/<host[:port]>/`).
    pub certs_dir: PathBuf,
    /// The origin for `docker.io` after the mirrors.
    pub docker_hub_endpoint: String,
    /// `max-concurrent-downloads` (docker's default 3).
    pub max_concurrent_downloads: usize,
    /// `max-concurrent-uploads` (docker's default 5).
    pub max_concurrent_uploads: usize,
    /// Upload blobs in PATCH chunks of this size; `None` uploads each blob in one PUT.
    pub upload_chunk_size: Option<u64>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            insecure_registries: vec![LOOPBACK_CIDR.into()],
            mirrors: Vec::new(),
            certs_dir: PathBuf::from(DEFAULT_CERTS_DIR),
            docker_hub_endpoint: DOCKER_HUB_ENDPOINT.into(),
            max_concurrent_downloads: 3,
            max_concurrent_uploads: 5,
            upload_chunk_size: None,
        }
    }
}

/// One base URL to try, with the HTTP client configured for it.
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// `scheme://host[:port]` (a mirror may carry a path prefix).
    pub base: String,
    pub http: Http,
}

impl RegistryConfig {
    /// Whether `host` (`name[:port]`) may be reached without verified TLS: listed as
    /// is, or an address in a listed CIDR; a name is resolved for that, as docker does
    /// (so `localhost` falls in the default 127.0.0.0/8).
    pub async fn is_insecure(&self, host: &str) -> bool {
        let bare = strip_port(host);
        if self
            .insecure_registries
            .iter()
            .any(|e| e == host || e == bare)
        {
            return true;
        }
        let ips: Vec<Ipv4Addr> = match bare.parse::<Ipv4Addr>() {
            Ok(ip) => vec![ip],
            Err(_) if self.insecure_registries.iter().any(|e| e.contains('/')) => {
                tokio::net::lookup_host((bare, 0))
                    .await
                    .map(|addrs| {
                        addrs
                            .filter_map(|a| match a.ip() {
                                std::net::IpAddr::V4(v4) => Some(v4),
                                std::net::IpAddr::V6(_) => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            }
            Err(_) => Vec::new(),
        };
        self.insecure_registries
            .iter()
            .any(|entry| match entry.split_once('/') {
                Some((net, bits)) => ips.iter().any(|ip| cidr_contains(net, bits, *ip)),
                None => false,
            })
    }

    /// The registries to try for `registry`, in order: for `docker.io` pulls each
    /// mirror then the origin (any failure moves to the next); `for_push` leaves mirrors
    /// out. Each candidate lists its transports (an insecure registry: https without
    /// verification, then http), tried in turn only when a connection fails.
    pub(crate) async fn candidates(
        &self,
        registry: &str,
        for_push: bool,
    ) -> Result<Vec<Vec<Endpoint>>, Error> {
        let mut out = Vec::new();
        if registry == DOCKER_HUB {
            if !for_push {
                for m in &self.mirrors {
                    let base = m.trim_end_matches('/').to_string();
                    let host = host_of(&base);
                    let skip = base.starts_with("https://") && self.is_insecure(&host).await;
                    out.push(vec![Endpoint {
                        http: self.http_for(&host, skip)?,
                        base,
                    }]);
                }
            }
            let base = self.docker_hub_endpoint.trim_end_matches('/').to_string();
            out.push(vec![Endpoint {
                http: self.http_for(&host_of(&base), false)?,
                base,
            }]);
        } else if self.is_insecure(registry).await {
            let http = self.http_for(registry, true)?;
            out.push(vec![
                Endpoint {
                    base: format!("https://{registry}"),
                    http: http.clone(),
                },
                Endpoint {
                    base: format!("http://{registry}"),
                    http,
                },
            ]);
        } else {
            out.push(vec![Endpoint {
                base: format!("https://{registry}"),
                http: self.http_for(registry, false)?,
            }]);
        }
        Ok(out)
    }

    pub(crate) fn http_for(&self, host: &str, skip_verify: bool) -> Result<Http, Error> {
        let tls = tls_config(host, &self.certs_dir.join(host), skip_verify)?;
        let mut connector = HttpConnector::new();
        connector.enforce_http(false);
        connector.set_connect_timeout(Some(Duration::from_secs(15)));
        connector.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        Ok(
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(https),
        )
    }
}

/// `host[:port]` of a base URL.
fn host_of(base: &str) -> String {
    let rest = base.split_once("://").map(|(_, h)| h).unwrap_or(base);
    rest.split('/').next().unwrap_or(rest).to_string()
}

fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|c| c.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

fn cidr_contains(net: &str, bits: &str, ip: Ipv4Addr) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<Ipv4Addr>(), bits.parse::<u32>()) else {
        return false;
    };
    if bits > 32 {
        return false;
    }
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    u32::from(net) & mask == u32::from(ip) & mask
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The system store, the host's extra CAs, and its client certificate if any.
fn tls_config(host: &str, dir: &Path, skip_verify: bool) -> Result<rustls::ClientConfig, Error> {
    let tls_err = |reason: String| Error::Tls {
        host: host.into(),
        reason,
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?;
    let builder = if skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        // Unreadable system certificates are skipped: the host's own CAs may still do.
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        for ca in files_with_ext(dir, "crt") {
            for cert in CertificateDer::pem_file_iter(&ca)
                .map_err(|e| tls_err(format!("{}: {e}", ca.display())))?
            {
                let cert = cert.map_err(|e| tls_err(format!("{}: {e}", ca.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| tls_err(format!("{}: {e}", ca.display())))?;
            }
        }
        builder.with_root_certificates(roots)
    };
    // docker pairs `name.cert` with `name.key`; a cert without its key is an error.
    if let Some(cert_path) = files_with_ext(dir, "cert").into_iter().next() {
        let key_path = cert_path.with_extension("key");
        if !key_path.exists() {
            return Err(tls_err(format!(
                "missing key {} for client certificate {}",
                key_path.display(),
                cert_path.display()
            )));
        }
        let chain = CertificateDer::pem_file_iter(&cert_path)
            .and_then(|i| i.collect::<Result<Vec<_>, _>>())
            .map_err(|e| tls_err(format!("{}: {e}", cert_path.display())))?;
        let key = PrivateKeyDer::from_pem_file(&key_path)
            .map_err(|e| tls_err(format!("{}: {e}", key_path.display())))?;
        return builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| tls_err(e.to_string()));
    }
    Ok(builder.with_no_client_auth())
}

fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

/// For insecure registries only: docker skips certificate verification there.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
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
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn insecure_rules() {
        let c = RegistryConfig {
            insecure_registries: vec![
                LOOPBACK_CIDR.into(),
                "reg.local:5000".into(),
                "10.1.0.0/16".into(),
                "plain".into(),
            ],
            ..Default::default()
        };
        assert!(c.is_insecure("127.0.0.1:5000").await);
        assert!(c.is_insecure("127.5.5.5").await);
        assert!(
            c.is_insecure("localhost:5000").await,
            "resolved into 127.0.0.0/8"
        );
        assert!(c.is_insecure("reg.local:5000").await);
        assert!(!c.is_insecure("reg.local:5001").await);
        assert!(c.is_insecure("plain:443").await);
        assert!(c.is_insecure("10.1.200.3:80").await);
        assert!(!c.is_insecure("10.2.0.1:80").await);
        let strict = RegistryConfig {
            insecure_registries: vec![],
            ..Default::default()
        };
        assert!(!strict.is_insecure("127.0.0.1:5000").await);
    }

    #[tokio::test]
    async fn mirrors_first_for_docker_hub_only() {
        let c = RegistryConfig {
            mirrors: vec![
                "http://127.0.0.1:1/".into(),
                "https://mirror.example".into(),
            ],
            ..Default::default()
        };
        let bases = |r: &'static str, push: bool| {
            let c = c.clone();
            async move {
                c.candidates(r, push)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|eps| {
                        eps.into_iter()
                            .map(|e| e.base)
                            .collect::<Vec<_>>()
                            .join(" then ")
                    })
                    .collect::<Vec<String>>()
            }
        };
        assert_eq!(
            bases("docker.io", false).await,
            [
                "http://127.0.0.1:1",
                "https://mirror.example",
                DOCKER_HUB_ENDPOINT
            ]
        );
        assert_eq!(bases("docker.io", true).await, [DOCKER_HUB_ENDPOINT]);
        assert_eq!(
            bases("127.0.0.1:5000", false).await,
            ["https://127.0.0.1:5000 then http://127.0.0.1:5000"]
        );
        assert_eq!(bases("quay.io", false).await, ["https://quay.io"]);
    }
}
