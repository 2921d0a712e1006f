//! The HTTPS side of the client: the Kubernetes REST API over one multiplexed HTTP/2
//! connection (re-established on demand), for writes — creates, patches, bindings,
//! events — and for reads against any Kubernetes API server. Errors come back as the
//! server's `Status`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::{CONNECT_TIMEOUT, ClientError, Credentials, StatusSummary};

/// The longest a request may take, response body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest response body read (a full list of a big resource is larger: page it).
pub const MAX_RESPONSE: usize = 64 * 1024 * 1024;

pub const JSON: &str = "application/json";
pub const MERGE_PATCH: &str = "application/merge-patch+json";
pub const STRATEGIC_MERGE_PATCH: &str = "application/strategic-merge-patch+json";
pub const JSON_PATCH: &str = "application/json-patch+json";
pub const APPLY_PATCH: &str = "application/apply-patch+yaml";
/// kubectl's `Accept` for `get`: a Table, else the object.
pub const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

pub use bytes::Bytes as Body;
pub use http::Method;

/// The JSON values of a streamed response body (a watch's events), one at a time,
/// whether or not they are separated by newlines.
pub struct JsonStream {
    body: Option<hyper::body::Incoming>,
    buf: Vec<u8>,
}

impl JsonStream {
    /// The next value; `None` when the server ends the response.
    pub async fn next(&mut self) -> Result<Option<Value>, ClientError> {
        use hyper::body::Body as _;
        loop {
            let mut values = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
            match values.next() {
                Some(Ok(v)) => {
                    let used = values.byte_offset();
                    self.buf.drain(..used);
                    return Ok(Some(v));
                }
                Some(Err(e)) if !e.is_eof() => {
                    return Err(ClientError::Protocol(format!("watch stream: {e}")));
                }
                _ => {}
            }
            let Some(body) = self.body.as_mut() else {
                return Ok(None);
            };
            match std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_frame(cx)).await {
                None => {
                    self.body = None;
                    if self.buf.iter().all(u8::is_ascii_whitespace) {
                        return Ok(None);
                    }
                }
                Some(Err(e)) => return Err(ClientError::Protocol(format!("watch stream: {e}"))),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if self.buf.len() + data.len() > MAX_RESPONSE {
                            return Err(ClientError::Protocol("watch event too large".into()));
                        }
                        self.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}

/// A response body read as it arrives, chunk by chunk (a followed pod log).
pub struct ByteStream {
    body: Option<hyper::body::Incoming>,
}

impl ByteStream {
    /// The next chunk; `None` when the server ends the response.
    pub async fn next(&mut self) -> Result<Option<Bytes>, ClientError> {
        use hyper::body::Body as _;
        loop {
            let Some(body) = self.body.as_mut() else {
                return Ok(None);
            };
            match std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_frame(cx)).await {
                None => {
                    self.body = None;
                    return Ok(None);
                }
                Some(Err(e)) => return Err(ClientError::Protocol(format!("response body: {e}"))),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data()
                        && !data.is_empty()
                    {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }
}

/// A REST client for one API server.
/// A response as a JSON object on success, or the server's Status.
pub fn json_result(code: u16, body: &[u8]) -> Result<Value, ClientError> {
    if !(200..300).contains(&code) {
        let status: StatusSummary = serde_json::from_slice(body).unwrap_or(StatusSummary {
            code,
            reason: String::new(),
            message: String::from_utf8_lossy(body).into_owned(),
        });
        return Err(ClientError::Status(StatusSummary { code, ..status }));
    }
    serde_json::from_slice(body)
        .map_err(|e| ClientError::Protocol(format!("the response is not JSON: {e}")))
}

pub struct RestClient {
    creds: Credentials,
    tls: tokio_rustls::TlsConnector,
    sender: Mutex<Option<SendRequest<Full<Bytes>>>>,
    user_agent: String,
}

impl RestClient {
    pub fn new(creds: Credentials, user_agent: &str) -> Result<Arc<RestClient>, ClientError> {
        let mut tls = crate::tls_config(&creds)?;
        tls.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(RestClient {
            creds,
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
            sender: Mutex::new(None),
            user_agent: user_agent.to_string(),
        }))
    }

    /// An anonymous client that does NOT verify the server's certificate: only for
    /// bootstrap discovery (`kube-public/cluster-info`), whose answer the caller must
    /// check out of band — a joining node compares the CA it reads there with the pin
    /// it was given — before trusting anything else the server says.
    pub fn unverified_for_discovery(
        addr: std::net::SocketAddr,
        server_name: &str,
        user_agent: &str,
    ) -> Result<Arc<RestClient>, ClientError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServerCertificate(provider)))
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(RestClient {
            creds: Credentials {
                addr,
                server_name: server_name.to_string(),
                ca: rustls::pki_types::CertificateDer::from(Vec::new()),
                identity: None,
                token: None,
            },
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
            sender: Mutex::new(None),
            user_agent: user_agent.to_string(),
        }))
    }

    async fn sender(&self) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let mut slot = self.sender.lock().await;
        if let Some(s) = slot.as_ref()
            && !s.is_closed()
        {
            return Ok(s.clone());
        }
        let addr = self.creds.addr;
        let err = |reason: String| ClientError::Connect { addr, reason };
        let name = ServerName::try_from(self.creds.server_name.clone())
            .map_err(|e| err(format!("server name: {e}")))?;
        let connect = async {
            let tcp = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| err(e.to_string()))?;
            let _ = tcp.set_nodelay(true);
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| err(format!("TLS: {e}")))?;
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .map_err(|e| err(format!("HTTP/2: {e}")))
        };
        let (sender, conn) = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| err("timed out".into()))??;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "API connection ended");
            }
        });
        *slot = Some(sender.clone());
        Ok(sender)
    }

    /// One request; returns the status code and body, whatever the code.
    pub async fn raw(
        &self,
        method: http::Method,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<(u16, Bytes), ClientError> {
        self.raw_accept(method, path, JSON, content_type, body)
            .await
    }

    /// [`RestClient::raw`] with another `Accept` (e.g. kubectl's Table negotiation,
    /// `application/json;as=Table;v=v1;g=meta.k8s.io`).
    pub async fn raw_accept(
        &self,
        method: http::Method,
        path: &str,
        accept: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<(u16, Bytes), ClientError> {
        let req = self.request(method, path, accept, content_type, body)?;
        let run = async {
            let mut sender = self.sender().await?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| ClientError::Protocol(format!("request: {e}")))?;
            let code = resp.status().as_u16();
            let body = http_body_util::Limited::new(resp.into_body(), MAX_RESPONSE)
                .collect()
                .await
                .map_err(|e| ClientError::Protocol(format!("response body: {e}")))?
                .to_bytes();
            Ok::<_, ClientError>((code, body))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, run)
            .await
            .map_err(|_| ClientError::Protocol("the request timed out".into()))?
    }

    /// A GET whose response body is read as it arrives (a watch: `?watch=1`), without
    /// [`REQUEST_TIMEOUT`]. A status other than 2xx is the server's Status as an error.
    pub async fn stream(&self, path: &str, accept: &str) -> Result<JsonStream, ClientError> {
        let req = self.request(http::Method::GET, path, accept, None, Bytes::new())?;
        let connect = async {
            let mut sender = self.sender().await?;
            sender
                .send_request(req)
                .await
                .map_err(|e| ClientError::Protocol(format!("request: {e}")))
        };
        let resp = tokio::time::timeout(REQUEST_TIMEOUT, connect)
            .await
            .map_err(|_| ClientError::Protocol("the request timed out".into()))??;
        let code = resp.status().as_u16();
        let body = resp.into_body();
        if !(200..300).contains(&code) {
            let bytes = http_body_util::Limited::new(body, MAX_RESPONSE)
                .collect()
                .await
                .map_err(|e| ClientError::Protocol(format!("response body: {e}")))?
                .to_bytes();
            return json_result(code, &bytes).map(|_| JsonStream {
                body: None,
                buf: Vec::new(),
            });
        }
        Ok(JsonStream {
            body: Some(body),
            buf: Vec::new(),
        })
    }

    /// A GET whose body is read as it arrives, as bytes (`pods/log`), without
    /// [`REQUEST_TIMEOUT`] once the response has begun. A status other than 2xx is the
    /// server's Status as an error.
    pub async fn stream_bytes(&self, path: &str, accept: &str) -> Result<ByteStream, ClientError> {
        let req = self.request(http::Method::GET, path, accept, None, Bytes::new())?;
        let connect = async {
            let mut sender = self.sender().await?;
            sender
                .send_request(req)
                .await
                .map_err(|e| ClientError::Protocol(format!("request: {e}")))
        };
        let resp = tokio::time::timeout(REQUEST_TIMEOUT, connect)
            .await
            .map_err(|_| ClientError::Protocol("the request timed out".into()))??;
        let code = resp.status().as_u16();
        let body = resp.into_body();
        if !(200..300).contains(&code) {
            let bytes = http_body_util::Limited::new(body, MAX_RESPONSE)
                .collect()
                .await
                .map_err(|e| ClientError::Protocol(format!("response body: {e}")))?
                .to_bytes();
            return json_result(code, &bytes).map(|_| ByteStream { body: None });
        }
        Ok(ByteStream { body: Some(body) })
    }

    fn request(
        &self,
        method: http::Method,
        path: &str,
        accept: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<http::Request<Full<Bytes>>, ClientError> {
        let uri = format!("https://{}{path}", self.creds.addr);
        let mut req = http::Request::builder()
            .method(method)
            .uri(uri)
            .header(http::header::ACCEPT, accept)
            .header(http::header::USER_AGENT, &self.user_agent);
        if let Some(ct) = content_type {
            req = req.header(http::header::CONTENT_TYPE, ct);
        }
        if let Some(token) = self
            .creds
            .token
            .as_ref()
            .filter(|_| self.creds.identity.is_none())
        {
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        req.body(Full::new(body))
            .map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// A request whose success is a JSON object; a failure is the server's Status.
    pub async fn json(
        &self,
        method: http::Method,
        path: &str,
        content_type: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let bytes = match body {
            Some(v) => Bytes::from(
                serde_json::to_vec(v).map_err(|e| ClientError::Protocol(e.to_string()))?,
            ),
            None => Bytes::new(),
        };
        let (code, body) = self.raw(method, path, content_type, bytes).await?;
        json_result(code, &body)
    }

    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.json(http::Method::GET, path, None, None).await
    }

    pub async fn create(&self, path: &str, obj: &Value) -> Result<Value, ClientError> {
        self.json(http::Method::POST, path, Some(JSON), Some(obj))
            .await
    }

    pub async fn patch(
        &self,
        path: &str,
        content_type: &str,
        patch: &Value,
    ) -> Result<Value, ClientError> {
        self.json(http::Method::PATCH, path, Some(content_type), Some(patch))
            .await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.json(http::Method::DELETE, path, None, None).await
    }
}

/// Accepts whatever certificate the server presents, while still checking that the
/// handshake is signed by the key that certificate names: for bootstrap discovery
/// ([`RestClient::unverified_for_discovery`]) and for kube-apiserver's default towards
/// kubelets, whose serving certificates it does not verify.
#[derive(Debug)]
pub struct AnyServerCertificate(Arc<rustls::crypto::CryptoProvider>);

impl AnyServerCertificate {
    pub fn new(provider: Arc<rustls::crypto::CryptoProvider>) -> AnyServerCertificate {
        AnyServerCertificate(provider)
    }
}

impl rustls::client::danger::ServerCertVerifier for AnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
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
        cert: &rustls::pki_types::CertificateDer<'_>,
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
