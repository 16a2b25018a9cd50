//! The server side of mutual TLS: a reloadable [`ServerTls`], the accept loop [`incoming`], and
//! the per-connection verdict on the client's chain.
//!
//! rustls takes its `ServerConfig` per handshake, so swapping the material behind a lock is
//! enough to reload certificates, trust roots and CRLs without a restart: new handshakes use
//! the new material, connections that are already up keep the verdict they got when they were
//! made (see [`super::reload`] for when a reload happens).

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::Stream;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::{client_verifier, load_certs, load_key, TlsError, TlsPaths};

/// How long a client may take to finish the TLS handshake before it is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS material of one moment: what a handshake and its verdict use.
pub(crate) struct Material {
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) verifier: Arc<dyn ClientCertVerifier>,
}

impl Material {
    fn load(paths: &TlsPaths) -> Result<Material, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = client_verifier(&paths.ca, &paths.crls)?;
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_client_cert_verifier(Arc::new(PossessionOnly(verifier.clone())))
            .with_single_cert(load_certs(&paths.cert)?, load_key(&paths.key)?)?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Material {
            config: Arc::new(config),
            verifier,
        })
    }
}

/// A server's TLS set-up: the rustls configuration plus the verifier that judges each client's
/// chain after the handshake (see the module docs of [`super`]). Clones share the material, so
/// a reload through one is seen by all.
#[derive(Clone)]
pub struct ServerTls {
    paths: Arc<TlsPaths>,
    current: Arc<RwLock<Arc<Material>>>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// The files this material is read from.
    pub fn paths(&self) -> &TlsPaths {
        &self.paths
    }

    /// The rustls configuration new handshakes use now.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.material().config.clone()
    }

    pub(crate) fn material(&self) -> Arc<Material> {
        // A panic while holding this lock cannot leave an `Arc` half-written; keep going.
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads certificate, key, trust roots and CRLs again and uses them for every later
    /// handshake. On an error (a half-written file, a key that does not match) the material in
    /// use stays, so a botched renewal never takes the service down.
    pub fn reload(&self) -> Result<(), TlsError> {
        let material = Arc::new(Material::load(&self.paths)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = material;
        Ok(())
    }
}

/// The server side of mutual TLS for a service with the given certificate and federation root
/// (and CRLs, if `paths.crls` names any).
pub fn server_config(paths: &TlsPaths) -> Result<ServerTls, TlsError> {
    let material = Material::load(paths)?;
    Ok(ServerTls {
        paths: Arc::new(paths.clone()),
        current: Arc::new(RwLock::new(Arc::new(material))),
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
    /// `Err(reason)` when the chain does not verify against the federation root (or is revoked
    /// by a configured CRL).
    pub verdict: Result<(), String>,
}

/// A TLS connection with its peer verdict, as tonic serves it.
pub struct VerifiedStream {
    inner: TlsStream<TcpStream>,
    peer: PeerInfo,
    /// Resolves when the service is killed: from then on every read and write fails, so the
    /// connection dies at once as it would when the process crashes (a graceful shutdown
    /// lets in-flight calls finish instead).
    killed: std::pin::Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
}

impl VerifiedStream {
    /// An error once the service is killed (and registers the waker until then).
    fn severed(&mut self, cx: &mut std::task::Context<'_>) -> Option<std::io::Error> {
        use std::future::Future;
        self.killed.as_mut().poll(cx).is_ready().then(|| {
            std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "service killed: connection severed",
            )
        })
    }
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
        if let Some(e) = self.severed(cx) {
            return std::task::Poll::Ready(Err(e));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for VerifiedStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if let Some(e) = self.severed(cx) {
            return std::task::Poll::Ready(Err(e));
        }
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if let Some(e) = self.severed(cx) {
            return std::task::Poll::Ready(Err(e));
        }
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
        if let Some(e) = self.severed(cx) {
            return std::task::Poll::Ready(Err(e));
        }
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The verdict on a client's chain, by the strict webpki verifier, at the current real time
/// (certificate validity is about real time, never the rules' clock).
fn judge_chain(
    verifier: &dyn ClientCertVerifier,
    chain: &[CertificateDer<'static>],
) -> Result<(), String> {
    let Some((leaf, intermediates)) = chain.split_first() else {
        return Err("no client certificate".to_owned());
    };
    verifier
        .verify_client_cert(leaf, intermediates, UnixTime::now())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Accepts TCP connections and completes TLS handshakes concurrently, yielding every completed
/// connection with the verdict on its client chain. Failed handshakes are logged with the
/// reason (protocol version, key possession) and dropped. Until `shutdown`, the material is
/// reloaded when its files change or a reload is requested ([`super::request_reload`]).
pub fn incoming(
    listener: TcpListener,
    tls: ServerTls,
    shutdown: CancellationToken,
    service: &'static str,
) -> impl Stream<Item = Result<VerifiedStream, std::io::Error>> + Send + 'static {
    incoming_with_kill_switch(listener, tls, shutdown, CancellationToken::new(), service)
}

/// [`incoming`] whose connections are all severed at once when `kill` is cancelled (see
/// `ServiceHandle::with_kill_switch`): what a crash does to them.
pub fn incoming_with_kill_switch(
    listener: TcpListener,
    tls: ServerTls,
    shutdown: CancellationToken,
    kill: CancellationToken,
    service: &'static str,
) -> impl Stream<Item = Result<VerifiedStream, std::io::Error>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(super::reload::watch(tls.clone(), shutdown.clone(), service));
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
            // The material of this moment serves the whole handshake and its verdict.
            let material = tls.material();
            let tx = tx.clone();
            let kill = kill.clone();
            tokio::spawn(async move {
                let acceptor = TlsAcceptor::from(material.config.clone());
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let chain: Vec<CertificateDer<'static>> = stream
                            .get_ref()
                            .1
                            .peer_certificates()
                            .map(|c| c.to_vec())
                            .unwrap_or_default();
                        let verdict = judge_chain(material.verifier.as_ref(), &chain);
                        if let Err(reason) = &verdict {
                            tracing::warn!(
                                service,
                                %peer,
                                reason = %reason,
                                event = "tls_refused",
                                "client certificate refused: every call on this connection answers UNAUTHENTICATED"
                            );
                        }
                        let peer = PeerInfo {
                            remote_addr: peer,
                            chain: Arc::new(chain),
                            verdict,
                        };
                        let _ = tx
                            .send(Ok(VerifiedStream {
                                inner: stream,
                                peer,
                                killed: Box::pin(kill.cancelled_owned()),
                            }))
                            .await;
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
