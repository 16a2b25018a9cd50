//! Mutual TLS for every connection, and the caller's identity from its verified certificate.
//!
//! Servers speak TLS 1.2 or 1.3 only, with the ring provider, and accept a connection only from
//! a client that proves possession of its certificate's key. Whether that certificate chains to
//! the federation root (PKIoverheid-style: root → domain CA → issuing CA → leaf) and is within its
//! validity is decided once per connection, right after the handshake, by the same webpki
//! verifier a strict TLS server would use. The verdict travels with the connection
//! ([`PeerInfo`]): every RPC on a refused connection answers UNAUTHENTICATED with the reason
//! (unknown CA, expired, no certificate), so a partner's system gets a clear gRPC error on its
//! first call instead of a dropped connection, and the refusal is logged once. A valid
//! certificate whose OIN the service does not know is refused by the service with
//! PERMISSION_DENIED. Handlers never trust a field in a message for who is calling.
//!
//! Node certificates carry the node's HPKE public key in a private extension ([`HPKE_KEY_OID`]),
//! so the key that other nodes seal envelopes to is certified by the federation CA.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Request, Status};
use x509_parser::oid_registry;
use x509_parser::prelude::*;

use crate::ids::Oin;

/// Object identifier of the certificate extension holding a node's X25519 HPKE public key
/// (an OCTET STRING of 32 bytes). The arc is IANA's documentation enterprise number (RFC 5612);
/// a production federation registers its own.
pub const HPKE_KEY_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 32473, 1, 1];

/// How long a client may take to finish the TLS handshake before it is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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

fn client_verifier(ca: &Path) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(WebPkiClientVerifier::builder_with_provider(root_store(ca)?, provider).build()?)
}

/// A server's TLS set-up: the rustls configuration plus the verifier that judges each client's
/// chain after the handshake (see the module docs).
#[derive(Clone)]
pub struct ServerTls {
    pub config: Arc<ServerConfig>,
    verifier: Arc<dyn ClientCertVerifier>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerTls")
    }
}

/// The server side of mutual TLS for a service with the given certificate and federation root.
pub fn server_config(paths: &TlsPaths) -> Result<ServerTls, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = client_verifier(&paths.ca)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(Arc::new(PossessionOnly(verifier.clone())))
        .with_single_cert(load_certs(&paths.cert)?, load_key(&paths.key)?)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(ServerTls {
        config: Arc::new(config),
        verifier,
    })
}

/// During the handshake: checks that the client holds the key of the certificate it presents
/// (the CertificateVerify signature), and leaves the chain to the verdict taken right after the
/// handshake, so that a refusal can be told to the client as a gRPC status.
#[derive(Debug)]
struct PossessionOnly(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for PossessionOnly {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// What the server knows about the peer of a connection; tonic puts it in every request's
/// extensions.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub remote_addr: SocketAddr,
    /// The presented chain, leaf first (empty without a client certificate).
    pub chain: Arc<Vec<CertificateDer<'static>>>,
    /// `Err(reason)` when the chain does not verify against the federation root.
    pub verdict: Result<(), String>,
}

/// A TLS connection with its peer verdict, as tonic serves it.
pub struct VerifiedStream {
    inner: TlsStream<TcpStream>,
    peer: PeerInfo,
}

impl tonic::transport::server::Connected for VerifiedStream {
    type ConnectInfo = PeerInfo;
    fn connect_info(&self) -> PeerInfo {
        self.peer.clone()
    }
}

impl tokio::io::AsyncRead for VerifiedStream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for VerifiedStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The verdict on a client's chain, by the strict webpki verifier, at the current real time
/// (certificate validity is about real time, never the rules' clock).
fn judge_chain(verifier: &dyn ClientCertVerifier, chain: &[CertificateDer<'static>]) -> Result<(), String> {
    let Some((leaf, intermediates)) = chain.split_first() else {
        return Err("no client certificate".to_owned());
    };
    verifier
        .verify_client_cert(leaf, intermediates, UnixTime::now())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Accepts TCP connections and completes TLS handshakes concurrently, yielding only the
/// connections whose client certificate verified. Failed handshakes are logged with the reason
/// (unknown CA, expired, no certificate, protocol version) and dropped.
pub fn incoming(
    listener: TcpListener,
    tls: ServerTls,
    shutdown: CancellationToken,
    service: &'static str,
) -> impl Stream<Item = Result<VerifiedStream, std::io::Error>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let acceptor = TlsAcceptor::from(tls.config.clone());
    let verifier = tls.verifier;
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(service, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let verifier = verifier.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let chain: Vec<CertificateDer<'static>> = stream
                            .get_ref()
                            .1
                            .peer_certificates()
                            .map(|c| c.to_vec())
                            .unwrap_or_default();
                        let verdict = judge_chain(verifier.as_ref(), &chain);
                        if let Err(reason) = &verdict {
                            tracing::warn!(
                                service,
                                %peer,
                                reason = %reason,
                                event = "tls_refused",
                                "client certificate refused: every call on this connection answers UNAUTHENTICATED"
                            );
                        }
                        let peer = PeerInfo { remote_addr: peer, chain: Arc::new(chain), verdict };
                        let _ = tx.send(Ok(VerifiedStream { inner: stream, peer })).await;
                    }
                    Ok(Err(e)) => log_refused_handshake(service, peer, &e),
                    Err(_) => {
                        tracing::warn!(service, %peer, "TLS handshake timed out; connection dropped")
                    }
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

fn log_refused_handshake(service: &str, peer: SocketAddr, error: &std::io::Error) {
    tracing::warn!(
        service,
        %peer,
        reason = %error,
        event = "tls_refused",
        "TLS handshake failed (protocol version, cipher or key possession)"
    );
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
    client_verifier(ca)?.verify_client_cert(&leaf_der, &intermediates, now)?;
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
    let endpoint = Endpoint::from_shared(url.to_owned())?
        .tls_config(client_tls(paths, server_name)?)?
        .connect_timeout(Duration::from_secs(5))
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true)
        .tcp_nodelay(true);
    Ok(endpoint.connect_lazy())
}
