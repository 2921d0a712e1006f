//! The agent's HTTPS API on kubelet's port (10250): `GET /containerLogs/{namespace}/{pod}/{container}`
//! with kubelet's query (follow, previous, tailLines, sinceSeconds, sinceTime, timestamps,
//! limitBytes), streamed chunked as `text/plain`, `GET /healthz`, and
//! `GET /exec/{namespace}/{pod}/{container}` (and `/attach/...`, the same sessions joined
//! to the container's own process) upgraded to a WebSocket (`exec.rs`) or to SPDY
//! (`streaming.rs`), and `/portForward/{namespace}/{pod}` upgraded to SPDY, tunnelled in a
//! WebSocket or not (`portforward.rs`); `GET /metrics/resource`, kubelet's resource
//! metrics in the Prometheus text format (`metrics.rs`), for the metrics pipeline.
//!
//! TLS: the serving certificate is self-signed, generated at start (kube-apiserver does not
//! verify kubelet serving certificates unless told to). Clients present a certificate
//! signed by the cluster CA; only the API server's identity reads logs: CN
//! `kube-apiserver-kubelet-client` or organization `system:masters`, else 403, and no
//! certificate at all is 401. `/healthz` answers anyone, as kubelet's healthz port does.
//! Errors are plain-text bodies with kubelet's codes and messages; the API server turns
//! them into Status objects.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::sync::watch;

use crate::exec::ExecService;
use crate::logs::{self, LogOptions};
use crate::metrics::ResourceMetrics;

/// kubelet's port.
pub const DEFAULT_PORT: u16 = 10250;
/// The API server's client identity for kubelets (kubeadm's name for it).
pub const APISERVER_CLIENT_USER: &str = "kube-apiserver-kubelet-client";
/// The group whose members may do anything, on kubelets too.
pub const MASTERS_GROUP: &str = "system:masters";
/// Connections served at once: the API server is the only legitimate client, with one
/// connection per log stream; more wait in the kernel's accept queue.
pub const MAX_CONNECTIONS: usize = 512;
/// Largest request head (request line and headers): a GET with a short query, so a few KiB
/// are plenty; hyper's minimum buffer is 8 KiB.
pub const MAX_REQUEST_HEAD_BYTES: usize = 16 * 1024;
/// Longest request target accepted; names are at most 253 characters and the query holds
/// seven short options.
pub const MAX_URI_BYTES: usize = 4096;
/// Time allowed for the TLS handshake and for a request head to arrive.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a container's log file is, and whether the container is done writing it.
pub struct LocatedLog {
    pub path: PathBuf,
    /// `true` once the container has finished (or the sender is dropped): a follow ends
    /// when the file is drained after that. A previous attempt's file is finished.
    pub finished: watch::Receiver<bool>,
}

impl LocatedLog {
    /// The file of an attempt that has finished.
    pub fn finished(path: PathBuf) -> LocatedLog {
        LocatedLog {
            path,
            finished: watch::channel(true).1,
        }
    }
}

/// Why a container's log cannot be read; the messages are kubelet's.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// 404: `pod "p" does not exist`, `container "c" not found in pod "p"`.
    #[error("{0}")]
    NotFound(String),
    /// 400: `previous terminated container "c" in pod "p" not found`, `container "c" in
    /// pod "p" is waiting to start: ContainerCreating`.
    #[error("{0}")]
    BadRequest(String),
    /// 500.
    #[error("{0}")]
    Internal(String),
}

/// Finds container logs; the pod workers implement it.
pub trait LogSource: Send + Sync {
    /// The file of `container` in pod `namespace/pod`: its current (or last) attempt, or
    /// with `previous` the attempt before.
    fn locate(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        previous: bool,
    ) -> Result<LocatedLog, LogError>;
}

/// How to serve.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Usually `0.0.0.0:10250`.
    pub listen: SocketAddr,
    /// The cluster CA (PEM) that signs client certificates.
    pub client_ca_pem: String,
    /// Host names and addresses for the self-signed serving certificate (the node's name
    /// and IPs); `localhost` when empty.
    pub serving_names: Vec<String>,
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running server; stops when [`AgentServer::shutdown`] is called or it is dropped.
pub struct AgentServer {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl AgentServer {
    /// Binds `config.listen` and serves on the current tokio runtime.
    pub async fn start(
        config: ServerConfig,
        logs: Arc<dyn LogSource>,
    ) -> Result<AgentServer, ServerError> {
        AgentServer::start_with_exec(config, logs, None).await
    }

    /// [`AgentServer::start`], serving exec too when `exec` is given.
    pub async fn start_with_exec(
        config: ServerConfig,
        logs: Arc<dyn LogSource>,
        exec: Option<ExecService>,
    ) -> Result<AgentServer, ServerError> {
        AgentServer::start_full(config, logs, exec, None).await
    }

    /// [`AgentServer::start_with_exec`], serving `/metrics/resource` too when `metrics`
    /// is given.
    pub async fn start_full(
        config: ServerConfig,
        logs: Arc<dyn LogSource>,
        exec: Option<ExecService>,
        metrics: Option<Arc<ResourceMetrics>>,
    ) -> Result<AgentServer, ServerError> {
        let tls = tls_config(&config)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Listen {
                addr: config.listen,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServerError::Listen {
                addr: config.listen,
                source,
            })?;
        let (shutdown, stop) = watch::channel(false);
        let task = tokio::spawn(accept_loop(
            listener,
            tokio_rustls::TlsAcceptor::from(Arc::new(tls)),
            logs,
            exec,
            metrics,
            stop,
        ));
        Ok(AgentServer {
            addr,
            shutdown,
            task,
        })
    }

    /// The bound address (its port when `listen` asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and ends open connections.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = (&mut { self }.task).await;
    }
}

impl Drop for AgentServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// The serving configuration: a fresh self-signed certificate, client certificates
/// verified against the cluster CA when presented (optional, so that their absence is a
/// 401 rather than a failed handshake), h2 and http/1.1.
fn tls_config(config: &ServerConfig) -> Result<rustls::ServerConfig, ServerError> {
    use rustls::pki_types::pem::PemObject as _;
    let tls = |e: &dyn std::fmt::Display| ServerError::Tls(e.to_string());
    let mut names = config.serving_names.clone();
    if names.is_empty() {
        names.push("localhost".into());
    }
    let serving = rcgen::generate_simple_self_signed(names).map_err(|e| tls(&e))?;
    let cert = serving.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        serving.signing_key.serialize_der(),
    ));
    let mut roots = rustls::RootCertStore::empty();
    let mut any = false;
    for ca in CertificateDer::pem_slice_iter(config.client_ca_pem.as_bytes()) {
        roots.add(ca.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
        any = true;
    }
    if !any {
        return Err(ServerError::Tls(
            "no certificate in the client CA PEM".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| tls(&e))?;
    let mut out = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert], key)
        .map_err(|e| tls(&e))?;
    out.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(out)
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    logs: Arc<dyn LogSource>,
    exec: Option<ExecService>,
    metrics: Option<Arc<ResourceMetrics>>,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = stop.changed() => return,
        };
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let logs = logs.clone();
        let exec = exec.clone();
        let metrics = metrics.clone();
        let mut conn_stop = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(t)) => t,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, %peer, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let identity = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| identity_of(c));
            let identity = Arc::new(identity);
            let service = hyper::service::service_fn(move |req| {
                let logs = logs.clone();
                let identity = identity.clone();
                let exec = exec.clone();
                let metrics = metrics.clone();
                async move {
                    Ok::<_, Infallible>(
                        handle(
                            req,
                            identity.as_ref().as_ref(),
                            logs.as_ref(),
                            exec.as_ref(),
                            metrics.as_deref(),
                        )
                        .await,
                    )
                }
            });
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HANDSHAKE_TIMEOUT)
                .max_buf_size(MAX_REQUEST_HEAD_BYTES);
            builder
                .http2()
                .max_header_list_size(MAX_REQUEST_HEAD_BYTES as u32);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "agent connection ended with an error");
                    }
                }
                _ = conn_stop.changed() => {}
            }
        });
    }
}

/// Who a client certificate names: CN, O (or an error reading it).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Identity {
    user: String,
    groups: Vec<String>,
}

fn identity_of(cert: &CertificateDer<'_>) -> Option<Identity> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let subject = parsed.subject();
    let user = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())?
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|a| a.as_str().ok().map(str::to_string))
        .collect();
    Some(Identity { user, groups })
}

/// A response body: a buffer or the streamed log.
pub type Body = BoxBody<Bytes, Infallible>;

/// An empty body (a 101's).
pub(crate) fn empty() -> Body {
    http_body_util::Empty::new().boxed()
}

pub(crate) fn text(status: StatusCode, message: impl Into<String>) -> Response<Body> {
    let mut body = message.into();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    let mut resp = Response::new(http_body_util::Full::new(Bytes::from(body)).boxed());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// One request. `identity` is `None` without a client certificate, `Some(None)` when the
/// certificate could not be read.
async fn handle(
    req: Request<Incoming>,
    identity: Option<&Option<Identity>>,
    source: &dyn LogSource,
    exec: Option<&ExecService>,
    metrics: Option<&ResourceMetrics>,
) -> Response<Body> {
    let path = req.uri().path();
    if req.uri().to_string().len() > MAX_URI_BYTES {
        return text(StatusCode::URI_TOO_LONG, "the request URI is too long");
    }
    if path == "/healthz" {
        return match *req.method() {
            Method::GET | Method::HEAD => text(StatusCode::OK, "ok"),
            _ => text(StatusCode::METHOD_NOT_ALLOWED, "405: Method Not Allowed"),
        };
    }
    if path == "/metrics/resource" {
        if let Err(resp) = authorize_subresource(identity, "metrics") {
            return resp;
        }
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            return text(StatusCode::METHOD_NOT_ALLOWED, "405: Method Not Allowed");
        }
        let Some(metrics) = metrics else {
            return text(StatusCode::NOT_FOUND, "404 page not found");
        };
        let mut resp = text(StatusCode::OK, metrics.render().await);
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        return resp;
    }
    if let Some(rest) = path.strip_prefix("/exec/") {
        if let Err(resp) = authorize(identity) {
            return resp;
        }
        let rest = rest.to_string();
        return crate::exec::handle(req, &rest, exec);
    }
    if let Some(rest) = path.strip_prefix("/attach/") {
        if let Err(resp) = authorize(identity) {
            return resp;
        }
        let rest = rest.to_string();
        return crate::exec::handle_attach(req, &rest, exec);
    }
    if let Some(rest) = path.strip_prefix("/portForward/") {
        if let Err(resp) = authorize(identity) {
            return resp;
        }
        let rest = rest.to_string();
        return crate::portforward::handle(req, &rest, exec);
    }
    let Some(rest) = path.strip_prefix("/containerLogs/") else {
        return text(StatusCode::NOT_FOUND, "404 page not found");
    };
    if let Err(resp) = authorize(identity) {
        return resp;
    }
    if req.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "405: Method Not Allowed");
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let [namespace, pod, container] = parts.as_slice() else {
        return text(StatusCode::NOT_FOUND, "404 page not found");
    };
    for (value, what) in [
        (namespace, "podNamespace"),
        (pod, "podID"),
        (container, "containerName"),
    ] {
        if value.is_empty() {
            return text(StatusCode::BAD_REQUEST, format!("Missing {what}."));
        }
    }
    let query = match LogQuery::parse(req.uri().query().unwrap_or(""), SystemTime::now()) {
        Ok(q) => q,
        Err(QueryError::Decode(m)) => return text(StatusCode::BAD_REQUEST, m),
        Err(QueryError::Invalid(m)) => return text(StatusCode::UNPROCESSABLE_ENTITY, m),
    };
    let located = match source.locate(namespace, pod, container, query.previous) {
        Ok(l) => l,
        Err(LogError::NotFound(m)) => return text(StatusCode::NOT_FOUND, m),
        Err(LogError::BadRequest(m)) => return text(StatusCode::BAD_REQUEST, m),
        Err(LogError::Internal(m)) => return text(StatusCode::INTERNAL_SERVER_ERROR, m),
    };
    let rx = match logs::stream(&located.path, query.options, located.finished).await {
        Ok(rx) => rx,
        // kubelet answers a log it cannot open with 400.
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!(
                    "failed to open log file {:?}: {e}",
                    located.path.display().to_string()
                ),
            );
        }
    };
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((Ok::<_, Infallible>(hyper::body::Frame::data(chunk)), rx))
    });
    let mut resp = Response::new(http_body_util::StreamBody::new(stream).boxed());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain"),
    );
    resp
}

/// 401 without a certificate, 403 unless it is the API server's or a master's.
#[allow(clippy::result_large_err)]
fn authorize(identity: Option<&Option<Identity>>) -> Result<(), Response<Body>> {
    authorize_subresource(identity, "proxy")
}

/// [`authorize`], with kubelet's words for the node subresource the path maps to
/// (`proxy` for logs and streams, `metrics` for `/metrics/...`).
#[allow(clippy::result_large_err)]
fn authorize_subresource(
    identity: Option<&Option<Identity>>,
    subresource: &str,
) -> Result<(), Response<Body>> {
    let Some(identity) = identity else {
        return Err(text(StatusCode::UNAUTHORIZED, "Unauthorized"));
    };
    let Some(id) = identity else {
        return Err(text(StatusCode::UNAUTHORIZED, "Unauthorized"));
    };
    if id.user == APISERVER_CLIENT_USER || id.groups.iter().any(|g| g == MASTERS_GROUP) {
        return Ok(());
    }
    // kubelet's words: the request is checked as `get nodes/proxy`.
    Err(text(
        StatusCode::FORBIDDEN,
        format!(
            "Forbidden (user={}, verb=get, resource=nodes, subresource={subresource})",
            id.user
        ),
    ))
}

/// The decoded query of a `/containerLogs` request.
#[derive(Debug, PartialEq, Eq)]
struct LogQuery {
    previous: bool,
    options: LogOptions,
}

#[derive(Debug, PartialEq, Eq)]
enum QueryError {
    /// 400: a value that does not parse.
    Decode(String),
    /// 422: a value out of range, as `ValidatePodLogOptions` says.
    Invalid(String),
}

/// Go's `strconv.ParseBool`, which kube's parameter decoding uses.
fn parse_bool(key: &str, v: &str) -> Result<bool, QueryError> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(QueryError::Decode(format!(
            "unable to decode query: {key}: invalid boolean {v:?}"
        ))),
    }
}

fn parse_int(key: &str, v: &str) -> Result<i64, QueryError> {
    v.parse::<i64>().map_err(|_| {
        QueryError::Decode(format!(
            "unable to decode query: {key}: invalid integer {v:?}"
        ))
    })
}

impl LogQuery {
    /// Decodes kubelet's query parameters, the first of each name; unknown ones are ignored.
    fn parse(query: &str, now: SystemTime) -> Result<LogQuery, QueryError> {
        let mut previous = false;
        let mut options = LogOptions::default();
        let mut since_seconds = None;
        let mut since_time = None;
        let mut seen = std::collections::HashSet::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            if !seen.insert(k.clone()) {
                continue;
            }
            match k.as_ref() {
                "follow" => options.follow = parse_bool(&k, &v)?,
                "previous" => previous = parse_bool(&k, &v)?,
                "timestamps" => options.timestamps = parse_bool(&k, &v)?,
                "tailLines" => {
                    let n = parse_int(&k, &v)?;
                    if n < 0 {
                        return Err(QueryError::Invalid(format!(
                            "tailLines: Invalid value: {n}: must be greater than or equal to 0"
                        )));
                    }
                    options.tail_lines = Some(n as u64);
                }
                "limitBytes" => {
                    let n = parse_int(&k, &v)?;
                    if n < 1 {
                        return Err(QueryError::Invalid(format!(
                            "limitBytes: Invalid value: {n}: must be greater than 0"
                        )));
                    }
                    options.limit_bytes = Some(n as u64);
                }
                "sinceSeconds" => {
                    let n = parse_int(&k, &v)?;
                    if n < 1 {
                        return Err(QueryError::Invalid(format!(
                            "sinceSeconds: Invalid value: {n}: must be greater than 0"
                        )));
                    }
                    since_seconds = Some(n as u64);
                }
                "sinceTime" => {
                    let t = chrono::DateTime::parse_from_rfc3339(&v).map_err(|e| {
                        QueryError::Decode(format!("unable to decode query: sinceTime: {v:?}: {e}"))
                    })?;
                    since_time = Some(SystemTime::from(t));
                }
                _ => {}
            }
        }
        options.since = match (since_seconds, since_time) {
            (Some(_), Some(_)) => {
                return Err(QueryError::Invalid(
                    "at most one of `sinceTime` or `sinceSeconds` may be specified".into(),
                ));
            }
            (Some(s), None) => Some(
                now.checked_sub(Duration::from_secs(s))
                    .unwrap_or(SystemTime::UNIX_EPOCH),
            ),
            (None, t) => t,
        };
        Ok(LogQuery { previous, options })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

    const T0: &str = "2024-05-01T10:00:00Z";
    const T1: &str = "2024-05-01T10:00:01.25Z";

    #[test]
    fn queries_decode_as_kubelet_decodes_them() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let q = LogQuery::parse(
            "follow=true&previous=1&tailLines=5&limitBytes=10&timestamps=True&sinceSeconds=10&x=y",
            now,
        )
        .expect("query");
        assert!(q.previous);
        assert_eq!(
            q.options,
            LogOptions {
                follow: true,
                tail_lines: Some(5),
                since: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(990)),
                timestamps: true,
                limit_bytes: Some(10),
            }
        );
        let q = LogQuery::parse("sinceTime=2024-05-01T10%3A00%3A00Z", now).expect("query");
        assert_eq!(
            q.options.since,
            Some(SystemTime::from(
                chrono::DateTime::parse_from_rfc3339(T0).expect("time")
            ))
        );
        assert_eq!(
            LogQuery::parse("", now).expect("empty").options,
            LogOptions::default()
        );
        for bad in [
            "follow=yes",
            "tailLines=x",
            "limitBytes=1.5",
            "sinceTime=yesterday",
        ] {
            assert!(
                matches!(LogQuery::parse(bad, now), Err(QueryError::Decode(_))),
                "{bad}"
            );
        }
        for invalid in [
            "tailLines=-1",
            "limitBytes=0",
            "sinceSeconds=0",
            "sinceSeconds=5&sinceTime=2024-05-01T10:00:00Z",
        ] {
            assert!(
                matches!(LogQuery::parse(invalid, now), Err(QueryError::Invalid(_))),
                "{invalid}"
            );
        }
    }

    /// A CA and certificates it signs, as the cluster's.
    struct Pki {
        ca_pem: String,
        issuer: Issuer<'static, KeyPair>,
    }

    impl Pki {
        fn new() -> Pki {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::default();
            params
                .distinguished_name
                .push(DnType::CommonName, "test-ca");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let cert = params.self_signed(&key).expect("ca");
            Pki {
                ca_pem: cert.pem(),
                issuer: Issuer::new(params, key),
            }
        }

        fn client(
            &self,
            cn: &str,
            orgs: &[&str],
        ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::default();
            params.distinguished_name.push(DnType::CommonName, cn);
            for o in orgs {
                params.distinguished_name.push(DnType::OrganizationName, *o);
            }
            params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
            let cert = params.signed_by(&key, &self.issuer).expect("client cert");
            (
                cert.der().clone(),
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
        }
    }

    /// A log source over a map of `ns/pod/container` to files.
    #[derive(Default)]
    struct Files(Mutex<HashMap<String, (PathBuf, watch::Receiver<bool>)>>);

    impl LogSource for Files {
        fn locate(
            &self,
            namespace: &str,
            pod: &str,
            container: &str,
            previous: bool,
        ) -> Result<LocatedLog, LogError> {
            if previous {
                return Err(LogError::BadRequest(format!(
                    "previous terminated container {container:?} in pod {pod:?} not found"
                )));
            }
            let map = self.0.lock().expect("lock");
            let Some((path, finished)) = map.get(&format!("{namespace}/{pod}/{container}")) else {
                return Err(LogError::NotFound(format!("pod {pod:?} does not exist")));
            };
            Ok(LocatedLog {
                path: path.clone(),
                finished: finished.clone(),
            })
        }
    }

    struct Fixture {
        pki: Pki,
        server: AgentServer,
        _dir: tempfile::TempDir,
        finish: watch::Sender<bool>,
        path: PathBuf,
    }

    async fn fixture() -> Fixture {
        let pki = Pki::new();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("0.log");
        std::fs::write(
            &path,
            format!("{T0} stdout F one\n{T1} stderr P tw\n{T1} stderr F o\n"),
        )
        .expect("write");
        let (finish, finished) = watch::channel(false);
        let files = Files::default();
        files
            .0
            .lock()
            .expect("lock")
            .insert("ns/p/c".into(), (path.clone(), finished));
        let server = AgentServer::start(
            ServerConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                client_ca_pem: pki.ca_pem.clone(),
                serving_names: vec!["127.0.0.1".into()],
            },
            Arc::new(files),
        )
        .await
        .expect("server starts");
        Fixture {
            pki,
            server,
            _dir: dir,
            finish,
            path,
        }
    }

    /// GET over a fresh TLS connection; returns the status and the response to read.
    async fn get(
        addr: SocketAddr,
        identity: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
        path: &str,
    ) -> Response<Incoming> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(clipper_client::AnyServerCertificate::new(
                provider,
            )));
        let config = match identity {
            Some((cert, key)) => builder
                .with_client_auth_cert(vec![cert], key)
                .expect("client auth"),
            None => builder.with_no_client_auth(),
        };
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(
                rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name"),
                tcp,
            )
            .await
            .expect("TLS");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .expect("HTTP");
        tokio::spawn(conn);
        let req = Request::get(path)
            .header(header::HOST, "127.0.0.1")
            .body(http_body_util::Empty::<Bytes>::new())
            .expect("request");
        sender.send_request(req).await.expect("response")
    }

    async fn body(resp: Response<Incoming>) -> String {
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    #[tokio::test]
    async fn the_api_server_reads_logs_with_kubelets_options() {
        let f = fixture().await;
        let me = || Some(f.pki.client(APISERVER_CLIENT_USER, &[]));
        f.finish.send(true).expect("finish");
        let resp = get(f.server.addr(), me(), "/containerLogs/ns/p/c").await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/plain");
        assert_eq!(body(resp).await, "one\ntwo\n");
        let resp = get(
            f.server.addr(),
            me(),
            "/containerLogs/ns/p/c?tailLines=1&timestamps=true",
        )
        .await;
        assert_eq!(body(resp).await, format!("{T1} two\n"));
        // A master may too.
        let admin = Some(f.pki.client("kubernetes-admin", &["x", MASTERS_GROUP]));
        let resp = get(f.server.addr(), admin, "/containerLogs/ns/p/c?limitBytes=2").await;
        assert_eq!(body(resp).await, "on");
    }

    #[tokio::test]
    async fn others_are_refused() {
        let f = fixture().await;
        let resp = get(f.server.addr(), None, "/containerLogs/ns/p/c").await;
        assert_eq!(resp.status(), 401);
        let someone = Some(f.pki.client("system:node:n1", &["system:nodes"]));
        let resp = get(f.server.addr(), someone, "/containerLogs/ns/p/c").await;
        assert_eq!(resp.status(), 403);
        assert_eq!(
            body(resp).await,
            "Forbidden (user=system:node:n1, verb=get, resource=nodes, subresource=proxy)\n"
        );
        // Health is open to all.
        let resp = get(f.server.addr(), None, "/healthz").await;
        assert_eq!(resp.status(), 200);
        assert_eq!(body(resp).await, "ok\n");
    }

    /// One running container in a fake cgroup tree.
    struct OneContainer;

    impl crate::metrics::ContainerSource for OneContainer {
        fn running_containers(&self) -> Vec<crate::metrics::ContainerRef> {
            vec![crate::metrics::ContainerRef {
                namespace: "ns".into(),
                pod: "p".into(),
                pod_uid: "u".into(),
                container: "c".into(),
                id: "u-c-0".into(),
            }]
        }
    }

    #[tokio::test]
    async fn resource_metrics_are_served_to_the_api_server() {
        let pki = Pki::new();
        let tree = tempfile::tempdir().expect("tempdir");
        let put = |rel: &str, text: &str| {
            let p = tree.path().join(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("dirs");
            std::fs::write(p, text).expect("write");
        };
        put("proc/stat", "cpu  100 0 100 100 0 0 0 0 0 0\n");
        put("proc/meminfo", "MemTotal: 4 kB\nMemFree: 1 kB\n");
        put("cg/cpuacct/clipper/u/u-c-0/cpuacct.usage", "2500000000\n");
        put("cg/memory/clipper/u/u-c-0/memory.usage_in_bytes", "8192\n");
        put(
            "cg/memory/clipper/u/u-c-0/memory.stat",
            "total_inactive_file 0\n",
        );
        let metrics = Arc::new(crate::metrics::ResourceMetrics {
            source: Arc::new(OneContainer),
            collector: crate::metrics::Collector {
                cgroup_root: tree.path().join("cg"),
                proc_root: tree.path().join("proc"),
                containers_dir: None,
                clock_ticks: 100,
            },
        });
        let server = AgentServer::start_full(
            ServerConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                client_ca_pem: pki.ca_pem.clone(),
                serving_names: vec!["127.0.0.1".into()],
            },
            Arc::new(Files::default()),
            None,
            Some(metrics),
        )
        .await
        .expect("server starts");
        let me = Some(pki.client(APISERVER_CLIENT_USER, &[]));
        let resp = get(server.addr(), me, "/metrics/resource").await;
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let text = body(resp).await;
        assert!(
            text.contains(
                "container_cpu_usage_seconds_total{container=\"c\",namespace=\"ns\",pod=\"p\"} 2.5 "
            ),
            "{text}"
        );
        assert!(text.contains("node_cpu_usage_seconds_total 2 "), "{text}");
        assert!(
            text.contains("node_memory_working_set_bytes 3072 "),
            "{text}"
        );
        let resp = get(server.addr(), None, "/metrics/resource").await;
        assert_eq!(resp.status(), 401);
        let someone = Some(pki.client("system:node:n1", &["system:nodes"]));
        let resp = get(server.addr(), someone, "/metrics/resource").await;
        assert_eq!(resp.status(), 403);
        assert_eq!(
            body(resp).await,
            "Forbidden (user=system:node:n1, verb=get, resource=nodes, subresource=metrics)\n"
        );
    }

    #[tokio::test]
    async fn a_certificate_from_another_ca_fails_the_handshake() {
        let f = fixture().await;
        let other = Pki::new().client(APISERVER_CLIENT_USER, &[]);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(clipper_client::AnyServerCertificate::new(
                provider,
            )))
            .with_client_auth_cert(vec![other.0], other.1)
            .expect("client auth");
        let tcp = tokio::net::TcpStream::connect(f.server.addr())
            .await
            .expect("connect");
        let result = async {
            let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(
                    rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name"),
                    tcp,
                )
                .await?;
            // TLS 1.3 reports the refused certificate on the first read.
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            tls.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
                .await?;
            let mut buf = [0u8; 64];
            tls.read(&mut buf).await
        }
        .await;
        assert!(result.is_err(), "{result:?}");
    }

    #[tokio::test]
    async fn errors_carry_kubelets_codes() {
        let f = fixture().await;
        let me = || Some(f.pki.client(APISERVER_CLIENT_USER, &[]));
        let cases = [
            ("/containerLogs/ns/q/c", 404, "pod \"q\" does not exist\n"),
            (
                "/containerLogs/ns/p/c?previous=true",
                400,
                "previous terminated container \"c\" in pod \"p\" not found\n",
            ),
            ("/containerLogs/ns/p/c?tailLines=abc", 400, ""),
            ("/containerLogs/ns/p/c?tailLines=-1", 422, ""),
            ("/containerLogs/ns//c", 400, "Missing podID.\n"),
            ("/containerLogs/ns/p/c/d", 404, "404 page not found\n"),
            ("/stats/summary", 404, "404 page not found\n"),
        ];
        for (path, code, message) in cases {
            let resp = get(f.server.addr(), me(), path).await;
            assert_eq!(resp.status(), code, "{path}");
            let text = body(resp).await;
            if !message.is_empty() {
                assert_eq!(text, message, "{path}");
            }
        }
        let long = format!("/containerLogs/ns/p/c?x={}", "a".repeat(MAX_URI_BYTES));
        let resp = get(f.server.addr(), me(), &long).await;
        assert_eq!(resp.status(), 414);
        // The file went away: kubelet's 400.
        std::fs::remove_file(&f.path).expect("remove");
        let resp = get(f.server.addr(), me(), "/containerLogs/ns/p/c").await;
        assert_eq!(resp.status(), 400);
    }

    #[tokio::test]
    async fn a_follow_streams_until_the_container_finishes() {
        let f = fixture().await;
        let me = Some(f.pki.client(APISERVER_CLIENT_USER, &[]));
        let resp = get(f.server.addr(), me, "/containerLogs/ns/p/c?follow=true").await;
        assert_eq!(resp.status(), 200);
        let mut body = resp.into_body();
        let mut got = Vec::new();
        while got != b"one\ntwo\n" {
            let frame = body.frame().await.expect("a frame").expect("data");
            got.extend_from_slice(&frame.into_data().expect("data"));
        }
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&f.path)
            .expect("append");
        std::io::Write::write_all(&mut file, format!("{T1} stdout F three\n").as_bytes())
            .expect("write");
        f.finish.send(true).expect("finish");
        let rest = body.collect().await.expect("rest").to_bytes();
        assert_eq!(&rest[..], b"three\n");
    }
}
