//! Clipper's client library, QUIC side: a connection to the API server's node protocol
//! and watches that survive disconnects. A [`Watch`] resumes after the last revision it
//! delivered when the connection drops, relists when the server says that revision is
//! gone (410), and stops with the server's reason when it is cut off (too slow,
//! forbidden). Event objects arrive as the stored rkyv envelopes; they are validated
//! before any access ([`Object::decode`]).
//!
//! The frame format and the resume logic are sans-IO in `clipper_proto::wire`; this
//! crate only moves bytes.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clipper_proto::envelope::{AlignedBytes, Envelope, EnvelopeError};
use clipper_proto::wire::{self, Decoder, EventKind, Step, WatchRequest, WatchSession};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::Mutex;

pub use clipper_proto::wire::StatusSummary;

pub mod informer;
pub mod rest;
pub mod spdy;
pub use informer::{Cache, Change, Informer};
pub use rest::{AnyServerCertificate, RestClient};

/// Consecutive failed reconnects before a watch gives up.
pub const MAX_RECONNECTS: u32 = 8;
/// First pause between reconnects; doubled each time up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(50);
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a call over QUIC may take, start to reply (as a REST request's timeout).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("kubeconfig {path}: {reason}")]
    Kubeconfig { path: String, reason: String },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("connecting to {addr}: {reason}")]
    Connect { addr: SocketAddr, reason: String },
    #[error("the server answered {} {}: {}", .0.code, .0.reason, .0.message)]
    Status(StatusSummary),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("gave up after {0} reconnects: {1}")]
    Unreachable(u32, String),
}

impl ClientError {
    /// The HTTP status code of a server's answer; `None` for transport failures.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            ClientError::Status(s) => Some(s.code),
            _ => None,
        }
    }
}

/// Where the API server is and who we are.
#[derive(Clone)]
pub struct Credentials {
    /// The API server's address (the HTTPS port number; QUIC listens on it over UDP).
    pub addr: SocketAddr,
    /// The name the server certificate must carry.
    pub server_name: String,
    pub ca: CertificateDer<'static>,
    /// A client certificate chain and key, or none (then `token` authenticates).
    pub identity: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    pub token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("addr", &self.addr)
            .field("server_name", &self.server_name)
            .field("identity", &self.identity.is_some())
            .field("token", &self.token.is_some())
            .finish()
    }
}

impl Credentials {
    /// The current context of a kubeconfig: server, CA, and the user's client
    /// certificate (inline `-data` fields) or token.
    pub fn from_kubeconfig(path: &Path) -> Result<Credentials, ClientError> {
        let err = |reason: String| ClientError::Kubeconfig {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let doc: serde_json::Value = yaml_serde::from_str(&text).map_err(|e| err(e.to_string()))?;
        let current = doc["current-context"]
            .as_str()
            .ok_or_else(|| err("no current-context".into()))?;
        let named = |list: &str, name: &str| -> Option<serde_json::Value> {
            doc[list]
                .as_array()?
                .iter()
                .find(|e| e["name"].as_str() == Some(name))
                .cloned()
        };
        let context = named("contexts", current)
            .ok_or_else(|| err(format!("context {current:?} not found")))?;
        let cluster_name = context["context"]["cluster"].as_str().unwrap_or("");
        let user_name = context["context"]["user"].as_str().unwrap_or("");
        let cluster = named("clusters", cluster_name)
            .ok_or_else(|| err(format!("cluster {cluster_name:?} not found")))?;
        let user = named("users", user_name).map(|u| u["user"].clone());
        let server = cluster["cluster"]["server"]
            .as_str()
            .ok_or_else(|| err("the cluster has no server".into()))?;
        let hostport = server
            .strip_prefix("https://")
            .ok_or_else(|| err(format!("server {server:?} is not https://")))?
            .trim_end_matches('/');
        let host = match hostport.rsplit_once(':') {
            Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
            None => hostport,
        };
        let addr = if hostport.contains(':') {
            hostport.to_string()
        } else {
            format!("{hostport}:443")
        }
        .to_socket_addrs()
        .map_err(|e| err(format!("resolving {hostport}: {e}")))?
        .next()
        .ok_or_else(|| err(format!("{hostport} resolves to nothing")))?;
        let b64 = |v: &serde_json::Value| -> Result<Option<Vec<u8>>, ClientError> {
            use base64::Engine;
            match v.as_str() {
                None => Ok(None),
                Some(s) => base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map(Some)
                    .map_err(|e| err(format!("base64: {e}"))),
            }
        };
        let ca_pem = b64(&cluster["cluster"]["certificate-authority-data"])?
            .ok_or_else(|| err("certificate-authority-data is required".into()))?;
        let ca = CertificateDer::from_pem_slice(&ca_pem)
            .map_err(|e| err(format!("certificate-authority-data: {e}")))?;
        let (mut identity, mut token) = (None, None);
        if let Some(u) = user {
            let cert = b64(&u["client-certificate-data"])?;
            let key = b64(&u["client-key-data"])?;
            if let (Some(cert), Some(key)) = (cert, key) {
                let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert)
                    .collect::<Result<_, _>>()
                    .map_err(|e| err(format!("client-certificate-data: {e}")))?;
                let key = PrivateKeyDer::from_pem_slice(&key)
                    .map_err(|e| err(format!("client-key-data: {e}")))?;
                identity = Some((chain, Arc::new(key)));
            }
            token = u["token"].as_str().map(str::to_string);
        }
        Ok(Credentials {
            addr,
            server_name: host.to_string(),
            ca,
            identity,
            token,
        })
    }
}

/// The TLS 1.3 client configuration for `creds`: the cluster CA, and the client
/// certificate when there is one.
pub(crate) fn tls_config(creds: &Credentials) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(creds.ca.clone())
        .map_err(|e| ClientError::Tls(e.to_string()))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    match &creds.identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(|e| ClientError::Tls(e.to_string())),
        None => Ok(builder.with_no_client_auth()),
    }
}

/// A TLS connection to the API server offering HTTP/1.1 only (ALPN `http/1.1`), with the
/// kubeconfig's CA and client certificate ([`tls_config`]): for a WebSocket upgrade
/// (`clipper exec`), which the REST client's HTTP/2 connection does not carry. Requests
/// on it authenticate with [`Credentials::token`] when there is one.
pub async fn connect_http1(
    creds: &Credentials,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, ClientError> {
    let addr = creds.addr;
    let err = |reason: String| ClientError::Connect { addr, reason };
    let mut tls = tls_config(creds)?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let name = rustls::pki_types::ServerName::try_from(creds.server_name.clone())
        .map_err(|e| err(format!("server name: {e}")))?;
    let connect = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| err(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        connector
            .connect(name, tcp)
            .await
            .map_err(|e| err(format!("TLS: {e}")))
    };
    tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| err("timed out".into()))?
}

/// Transport knobs (tests shrink the receive window to provoke back-pressure).
#[derive(Clone, Debug)]
pub struct Options {
    /// Per-stream receive window: how much the server may send ahead of the reader.
    pub stream_receive_window: u32,
    pub keep_alive: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            stream_receive_window: 1024 * 1024,
            keep_alive: Duration::from_secs(15),
        }
    }
}

/// A QUIC connection to the API server, re-established on demand.
pub struct QuicClient {
    creds: Credentials,
    endpoint: quinn::Endpoint,
    config: quinn::ClientConfig,
    conn: Mutex<Option<quinn::Connection>>,
}

impl QuicClient {
    pub fn new(creds: Credentials, options: Options) -> Result<Arc<QuicClient>, ClientError> {
        let mut tls = tls_config(&creds)?;
        tls.alpn_protocols = vec![wire::ALPN.to_vec()];
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport
            .stream_receive_window(options.stream_receive_window.into())
            .keep_alive_interval(Some(options.keep_alive));
        config.transport_config(Arc::new(transport));
        let bind: SocketAddr = if creds.addr.is_ipv6() {
            "[::]:0"
        } else {
            "0.0.0.0:0"
        }
        .parse()
        .map_err(|e| ClientError::Protocol(format!("{e}")))?;
        let endpoint = quinn::Endpoint::client(bind).map_err(|e| ClientError::Connect {
            addr: creds.addr,
            reason: e.to_string(),
        })?;
        Ok(Arc::new(QuicClient {
            creds,
            endpoint,
            config,
            conn: Mutex::new(None),
        }))
    }

    async fn connection(&self) -> Result<quinn::Connection, ClientError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref()
            && c.close_reason().is_none()
        {
            return Ok(c.clone());
        }
        let addr = self.creds.addr;
        let connect_err = |reason: String| ClientError::Connect { addr, reason };
        let connecting = self
            .endpoint
            .connect_with(self.config.clone(), addr, &self.creds.server_name)
            .map_err(|e| connect_err(e.to_string()))?;
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| connect_err("timed out".into()))?
            .map_err(|e| connect_err(e.to_string()))?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Closes the current connection; watches reconnect and resume on their next read.
    pub async fn disconnect(&self) {
        if let Some(c) = self.conn.lock().await.take() {
            c.close(wire::codes::DONE.into(), b"disconnect");
        }
    }

    /// A bare stream on the current connection, for speaking the protocol by hand
    /// (conformance tests that send malformed frames).
    pub async fn open_raw_stream(
        &self,
    ) -> Result<(quinn::SendStream, quinn::RecvStream), ClientError> {
        let conn = self.connection().await?;
        conn.open_bi()
            .await
            .map_err(|e| ClientError::Protocol(format!("opening a stream: {e}")))
    }

    /// One call over its own stream — a write or a read with REST's semantics
    /// (`clipper_proto::wire`'s Call/Reply frames). Returns the HTTP status code, the
    /// content type and the body, whatever the code.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(u16, String, Bytes), ClientError> {
        let head = wire::CallHead {
            method: method.to_string(),
            path: path.to_string(),
            content_type: content_type.map(str::to_string),
            token: self
                .creds
                .token
                .clone()
                .filter(|_| self.creds.identity.is_none()),
        };
        let frame = wire::encode_call(&head, body);
        let run = async {
            let (mut send, mut recv) = self.open_raw_stream().await?;
            send.write_all(&frame)
                .await
                .map_err(|e| ClientError::Protocol(format!("sending the call: {e}")))?;
            let _ = send.finish();
            let mut decoder = Decoder::default();
            loop {
                match decoder
                    .next_frame()
                    .map_err(|e| ClientError::Protocol(e.to_string()))?
                {
                    Some(wire::Frame::Reply {
                        status,
                        content_type,
                        body,
                    }) => return Ok((status, content_type, body)),
                    Some(wire::Frame::Error(s)) => return Err(ClientError::Status(s)),
                    Some(other) => {
                        return Err(ClientError::Protocol(format!(
                            "unexpected frame in reply to a call: {other:?}"
                        )));
                    }
                    None => {}
                }
                match recv.read_chunk(wire::MAX_FRAME, true).await {
                    Ok(Some(chunk)) => decoder.feed(&chunk.bytes),
                    Ok(None) => {
                        return Err(ClientError::Protocol(
                            "the stream ended before the reply".into(),
                        ));
                    }
                    Err(e) => {
                        return Err(ClientError::Protocol(format!("reading the reply: {e}")));
                    }
                }
            }
        };
        tokio::time::timeout(CALL_TIMEOUT, run)
            .await
            .map_err(|_| ClientError::Protocol("the call timed out".into()))?
    }

    /// A call whose success is a JSON object; a failure is the server's Status (as
    /// [`RestClient::json`]).
    pub async fn json(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, ClientError> {
        let bytes = match body {
            Some(v) => serde_json::to_vec(v).map_err(|e| ClientError::Protocol(e.to_string()))?,
            None => Vec::new(),
        };
        let content_type = content_type.or(body.map(|_| "application/json"));
        let (code, _, body) = self.call(method, path, content_type, &bytes).await?;
        rest::json_result(code, &body)
    }

    /// Starts a watch.
    pub fn watch(self: &Arc<Self>, request: WatchRequest) -> Watch {
        let mut request = request;
        if request.token.is_none() && self.creds.identity.is_none() {
            request.token = self.creds.token.clone();
        }
        Watch {
            client: self.clone(),
            session: WatchSession::new(request),
            stream: None,
            decoder: Decoder::default(),
            failures: 0,
            connections: 0,
        }
    }
}

/// An object from a watch event: the stored envelope, not yet trusted, aligned for
/// rkyv (copied only if the frame left it unaligned).
#[derive(Clone, Debug)]
pub struct Object(AlignedBytes);

impl PartialEq for Object {
    fn eq(&self, other: &Object) -> bool {
        self.0[..] == other.0[..]
    }
}

impl Eq for Object {}

impl Object {
    /// The raw envelope bytes.
    pub fn bytes(&self) -> &Bytes {
        self.0.bytes()
    }

    /// Checks the envelope's framing and checksum.
    pub fn envelope(&self) -> Result<Envelope<'_>, EnvelopeError> {
        Envelope::parse(&self.0)
    }

    /// Validates (framing, checksum, kind, rkyv bytecheck) and deserializes.
    pub fn decode<T>(&self) -> Result<T, EnvelopeError>
    where
        T: clipper_proto::Resource + clipper_proto::envelope::Archivable,
        T::Archived: for<'b> rkyv::bytecheck::CheckBytes<
                rkyv::api::high::HighValidator<'b, rkyv::rancor::Error>,
            > + rkyv::Deserialize<T, rkyv::api::high::HighDeserializer<rkyv::rancor::Error>>,
    {
        clipper_proto::envelope::decode(&self.0)
    }
}

/// What a watch delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    Event {
        kind: EventKind,
        revision: i64,
        object: Object,
    },
    /// The initial state (or a relist's) is complete at this revision.
    Synced(i64),
    /// The server no longer has the revision this watch was at: the current state follows
    /// as `Added` events, then `Synced`. Caches drop what the relist does not confirm.
    Relisting,
}

/// One watch across reconnects.
pub struct Watch {
    client: Arc<QuicClient>,
    session: WatchSession,
    stream: Option<(quinn::SendStream, quinn::RecvStream)>,
    decoder: Decoder,
    failures: u32,
    connections: u32,
}

impl Watch {
    /// The revision a reconnect resumes after.
    pub fn last_revision(&self) -> Option<i64> {
        self.session.last_revision()
    }

    /// Streams opened so far (1 + reconnects).
    pub fn connections(&self) -> u32 {
        self.connections
    }

    async fn open(&mut self) -> Result<(), ClientError> {
        let conn = self.client.connection().await?;
        let (mut send, recv) = conn
            .open_bi()
            .await
            .map_err(|e| ClientError::Protocol(format!("opening a stream: {e}")))?;
        send.write_all(&wire::encode_request(&self.session.request()))
            .await
            .map_err(|e| ClientError::Protocol(format!("sending the request: {e}")))?;
        self.stream = Some((send, recv));
        self.decoder = Decoder::default();
        self.connections += 1;
        Ok(())
    }

    /// The next event. Reconnects (bounded, with backoff) and resumes transparently;
    /// returns an error when the server ends the watch or cannot be reached.
    pub async fn next(&mut self) -> Result<WatchEvent, ClientError> {
        loop {
            if self.stream.is_none() {
                if self.failures > 0 {
                    if self.failures > MAX_RECONNECTS {
                        return Err(ClientError::Unreachable(
                            MAX_RECONNECTS,
                            "the stream kept breaking".into(),
                        ));
                    }
                    let backoff = FIRST_BACKOFF
                        .saturating_mul(1 << (self.failures - 1).min(10))
                        .min(MAX_BACKOFF);
                    tokio::time::sleep(backoff).await;
                }
                if let Err(e) = self.open().await {
                    self.failures += 1;
                    if self.failures > MAX_RECONNECTS {
                        return Err(ClientError::Unreachable(MAX_RECONNECTS, e.to_string()));
                    }
                    continue;
                }
            }
            match self.decoder.next_frame() {
                Ok(Some(frame)) => {
                    self.failures = 0;
                    match self.session.on_frame(frame) {
                        Step::Event {
                            kind,
                            revision,
                            object,
                        } => {
                            return Ok(WatchEvent::Event {
                                kind,
                                revision,
                                object: Object(AlignedBytes::new(object)),
                            });
                        }
                        Step::Synced(r) => return Ok(WatchEvent::Synced(r)),
                        Step::Nothing => continue,
                        Step::Relist => {
                            self.drop_stream();
                            return Ok(WatchEvent::Relisting);
                        }
                        Step::Failed(s) => {
                            self.drop_stream();
                            return Err(ClientError::Status(s));
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    if let Some((_, mut recv)) = self.stream.take() {
                        let _ = recv.stop(wire::codes::MALFORMED.into());
                    }
                    return Err(ClientError::Protocol(e.to_string()));
                }
            }
            let Some((_, recv)) = self.stream.as_mut() else {
                continue;
            };
            match recv.read_chunk(64 * 1024, true).await {
                Ok(Some(chunk)) => self.decoder.feed(&chunk.bytes),
                Ok(None) => {
                    // The server finished the stream without a reason: resume.
                    self.drop_stream();
                    self.session.on_disconnect();
                    self.failures += 1;
                }
                Err(quinn::ReadError::Reset(code)) if code == wire::codes::STALLED.into() => {
                    self.drop_stream();
                    return Err(ClientError::Status(StatusSummary {
                        code: 429,
                        reason: "StreamStalled".into(),
                        message: "the server cut this watch off: it was not read for too long"
                            .into(),
                    }));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "watch stream broke; resuming");
                    self.drop_stream();
                    self.session.on_disconnect();
                    self.failures += 1;
                }
            }
        }
    }

    fn drop_stream(&mut self) {
        if let Some((mut send, _)) = self.stream.take() {
            let _ = send.finish();
        }
    }
}
