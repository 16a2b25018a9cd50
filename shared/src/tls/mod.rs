//! Mutual TLS for every connection, and the caller's identity from its verified certificate.
//!
//! Servers speak TLS 1.2 or 1.3 only, with the ring provider, and accept a connection only from
//! a client that proves possession of its certificate's key. Whether that certificate chains to
//! the federation root (PKIoverheid-style: root → domain CA → issuing CA → leaf), is within its
//! validity and is not revoked by a configured CRL is decided once per connection, right after
//! the handshake, by the same webpki verifier a strict TLS server would use. The verdict travels
//! with the connection ([`PeerInfo`]): every RPC on a refused connection answers UNAUTHENTICATED
//! with the reason (unknown CA, expired, revoked, no certificate), so a partner's system gets a
//! clear gRPC error on its first call instead of a dropped connection, and the refusal is logged
//! once. A valid certificate whose OIN the service does not know is refused by the service with
//! PERMISSION_DENIED. Handlers never trust a field in a message for who is calling.
//!
//! A server's certificate, key, roots and CRLs are reloaded without a restart ([`reload`]): on
//! SIGHUP and when a file changes. New connections get the new material; existing ones keep
//! theirs.
//!
//! Node certificates carry the node's HPKE public key in a private extension ([`HPKE_KEY_OID`]),
//! so the key that other nodes seal envelopes to is certified by the CA that issues node
//! certificates (the federation's own node CA in production; see `deploy/README.md`).
//!
//! Submodules: [`server`] (reloadable server material, accept loop, verdict), [`reload`]
//! (when material is read again, certificate expiry warnings).

pub mod reload;
pub mod server;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use serde::{Deserialize, Serialize};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Request, Status};
use x509_parser::oid_registry;
use x509_parser::prelude::*;

pub use reload::{reload_on_sighup, request_reload, EXPIRY_WARNING_DAYS};
pub use server::{
    incoming, incoming_with_kill_switch, server_config, PeerInfo, ServerTls, VerifiedStream,
};

use crate::ids::Oin;

/// Object identifier of the certificate extension holding a node's X25519 HPKE public key
/// (an OCTET STRING of 32 bytes). The arc is IANA's documentation enterprise number (RFC 5612);
/// a production federation registers its own.
pub const HPKE_KEY_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 32473, 1, 1];

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("{0}: no certificate in the file")]
    NoCertificate(PathBuf),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("client verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("client TLS: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Where a service finds its certificate chain, its key and the federation root.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsPaths {
    /// PEM: the leaf certificate first, then the issuing and domain CA certificates.
    pub cert: PathBuf,
    /// PEM: the private key of the leaf (PKCS#8).
    pub key: PathBuf,
    /// PEM: the federation root certificate(s) to trust.
    pub ca: PathBuf,
    /// Certificate revocation lists (PEM or DER, one or more per file) of the CAs that issue
    /// client certificates. A client certificate on one of them is refused. Certificates whose
    /// issuer has no CRL here are not checked for revocation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crls: Vec<PathBuf>,
}

impl TlsPaths {
    /// Paths without CRLs.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>, ca: impl Into<PathBuf>) -> Self {
        TlsPaths {
            cert: cert.into(),
            key: key.into(),
            ca: ca.into(),
            crls: Vec::new(),
        }
    }
}

/// Installs ring as rustls' process-wide crypto provider. Idempotent; call before any TLS.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn root_store(path: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots
            .add(cert)
            .map_err(|e| TlsError::Certificate(format!("{}: {e}", path.display())))?;
    }
    Ok(Arc::new(roots))
}

/// Every CRL in a file: PEM (one or more) or a single DER CRL, as CAs publish them.
pub fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let bytes = std::fs::read(path)
        .map_err(|e| TlsError::Certificate(format!("reading {}: {e}", path.display())))?;
    if !bytes.starts_with(b"-----") {
        return Ok(vec![CertificateRevocationListDer::from(bytes)]);
    }
    let crls = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })?;
    if crls.is_empty() {
        return Err(TlsError::Certificate(format!(
            "{}: no CRL in the file",
            path.display()
        )));
    }
    Ok(crls)
}

/// The strict verifier of client chains: the roots in `ca`, and revocation by `crls`. A
/// certificate whose issuer published no CRL here passes the revocation check, so an operator
/// can start with the CRLs of the CAs that matter most.
fn client_verifier(ca: &Path, crls: &[PathBuf]) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut builder = WebPkiClientVerifier::builder_with_provider(root_store(ca)?, provider);
    if !crls.is_empty() {
        let mut all = Vec::new();
        for path in crls {
            all.extend(load_crls(path)?);
        }
        builder = builder.with_crls(all).allow_unknown_revocation_status();
    }
    Ok(builder.build()?)
}

/// Whole days until the leaf (first certificate) in `path` expires, counted from `now`;
/// negative once it has expired. This is the value to export as a metric and alert on.
pub fn leaf_days_left(path: &Path, now: SystemTime) -> Result<i64, TlsError> {
    let certs = load_certs(path)?;
    let (_, cert) = X509Certificate::from_der(certs[0].as_ref())
        .map_err(|e| TlsError::Certificate(format!("{}: unparseable: {e}", path.display())))?;
    let not_after = cert.validity().not_after.timestamp();
    let now = match now.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    Ok((not_after - now).div_euclid(24 * 3600))
}

/// The identity in a verified certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCert {
    pub oin: Oin,
    pub organisation: Option<String>,
    pub organisational_unit: Option<String>,
    pub common_name: Option<String>,
    /// The X25519 HPKE public key of a node, if the certificate carries one.
    pub hpke_public_key: Option<[u8; 32]>,
}

/// Reads the identity from a DER leaf certificate: the OIN is the subject's serialNumber.
pub fn parse_leaf(der: &[u8]) -> Result<PeerCert, TlsError> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| TlsError::Certificate(format!("unparseable certificate: {e}")))?;
    let subject = cert.subject();
    let first = |oid: &x509_parser::der_parser::Oid<'_>| {
        subject
            .iter_by_oid(oid)
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_owned)
    };
    let serial = first(&oid_registry::OID_X509_SERIALNUMBER)
        .ok_or_else(|| TlsError::Certificate("subject has no serialNumber (OIN)".into()))?;
    let oin: Oin = serial
        .parse()
        .map_err(|e| TlsError::Certificate(format!("subject serialNumber is not an OIN: {e}")))?;
    let hpke_oid = x509_parser::der_parser::Oid::from(HPKE_KEY_OID)
        .map_err(|_| TlsError::Certificate("bad HPKE OID".into()))?;
    let hpke_public_key = cert
        .extensions()
        .iter()
        .find(|ext| ext.oid == hpke_oid)
        .and_then(|ext| match ext.value {
            [0x04, 0x20, key @ ..] if key.len() == 32 => key.try_into().ok(),
            _ => None,
        });
    Ok(PeerCert {
        oin,
        organisation: first(&oid_registry::OID_X509_ORGANIZATION_NAME),
        organisational_unit: first(&oid_registry::OID_X509_ORGANIZATIONAL_UNIT),
        common_name: first(&oid_registry::OID_X509_COMMON_NAME),
        hpke_public_key,
    })
}

/// The verified client certificate of a request: UNAUTHENTICATED if the connection has no
/// certificate or one that does not chain to the federation root or is out of its validity.
pub fn peer_cert<T>(request: &Request<T>) -> Result<PeerCert, Status> {
    let peer = request
        .extensions()
        .get::<PeerInfo>()
        .ok_or_else(|| Status::unauthenticated("a client certificate is required"))?;
    if let Err(reason) = &peer.verdict {
        return Err(Status::unauthenticated(format!(
            "client certificate refused: {reason}"
        )));
    }
    let leaf = peer
        .chain
        .first()
        .ok_or_else(|| Status::unauthenticated("a client certificate is required"))?;
    parse_leaf(leaf.as_ref()).map_err(|e| {
        tracing::warn!(reason = %e, event = "identity_refused", "client certificate has no usable identity");
        Status::unauthenticated(format!("client certificate not usable: {e}"))
    })
}

/// The DER chain presented by the caller (leaf first), for relaying to other nodes.
pub fn peer_chain<T>(request: &Request<T>) -> Vec<Vec<u8>> {
    request
        .extensions()
        .get::<PeerInfo>()
        .filter(|p| p.verdict.is_ok())
        .map(|p| p.chain.iter().map(|c| c.as_ref().to_vec()).collect())
        .unwrap_or_default()
}

/// Verifies a chain (leaf first, DER) against the federation root, as a TLS server would a
/// client's, and returns its identity. Used by nodes before sealing to another node's key.
pub fn verify_chain(chain: &[Vec<u8>], ca: &Path, now: UnixTime) -> Result<PeerCert, TlsError> {
    let (leaf, intermediates) = chain
        .split_first()
        .ok_or_else(|| TlsError::Certificate("empty certificate chain".into()))?;
    let leaf_der = CertificateDer::from(leaf.clone());
    let intermediates: Vec<CertificateDer<'static>> = intermediates
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    client_verifier(ca, &[])?.verify_client_cert(&leaf_der, &intermediates, now)?;
    parse_leaf(leaf)
}

/// Client side of mutual TLS for tonic: our chain and key, the federation root, and the name
/// the server's certificate must carry.
pub fn client_tls(paths: &TlsPaths, server_name: &str) -> Result<ClientTlsConfig, TlsError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| TlsError::Certificate(format!("{}: {e}", p.display())))
    };
    Ok(ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(&paths.ca)?))
        .identity(Identity::from_pem(read(&paths.cert)?, read(&paths.key)?))
        .domain_name(server_name))
}

/// A lazily connecting channel with HTTP/2 keepalives, so a dead link is noticed and replaced.
pub fn channel(url: &str, paths: &TlsPaths, server_name: &str) -> Result<Channel, TlsError> {
    channel_with(
        url,
        paths,
        server_name,
        &crate::limits::ChannelSettings::default(),
    )
}

/// [`channel`] with the keepalive and connect timeouts of a service's configuration.
pub fn channel_with(
    url: &str,
    paths: &TlsPaths,
    server_name: &str,
    settings: &crate::limits::ChannelSettings,
) -> Result<Channel, TlsError> {
    let endpoint = Endpoint::from_shared(url.to_owned())?
        .tls_config(client_tls(paths, server_name)?)?
        .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
        .http2_keep_alive_interval(Duration::from_millis(settings.keepalive_interval_ms))
        .keep_alive_timeout(Duration::from_millis(settings.keepalive_timeout_ms))
        .keep_alive_while_idle(true)
        .tcp_nodelay(true);
    Ok(endpoint.connect_lazy())
}
