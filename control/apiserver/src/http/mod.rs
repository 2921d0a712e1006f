//! HTTPS serving: thread-per-core workers, each pinned to a core with its own
//! SO_REUSEPORT listener, its own single-threaded runtime and its own connections;
//! HTTP/1.1 and HTTP/2 over TLS; request parsing, authentication, authorization and
//! dispatch to the handlers.

mod discovery;
pub(crate) mod request;
pub(crate) mod resources;
pub mod response;
mod special;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{Method, Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::CertificateDer;
use tokio::sync::watch;

use crate::api::Api;
use crate::auth::authn::Credentials;
use crate::auth::{Attributes, UserInfo};
use crate::openapi::OpenApi;
use crate::security::Security;
use crate::status::ApiError;

pub use request::{ParsedPath, Query, parse_path};
pub use response::Body;

/// Largest request body accepted (kube-apiserver's limit is 3 MiB for most requests).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;
/// How much of an oversized body is read and dropped before the 413 goes out.
pub const MAX_DRAINED_BYTES: usize = 64 * 1024 * 1024;
/// Connections one worker serves at once; more wait in the kernel's accept queue.
pub const MAX_CONNECTIONS_PER_WORKER: usize = 10_000;
/// Listen backlog of each worker's socket.
pub const LISTEN_BACKLOG: i32 = 4096;

/// What the handlers share.
pub struct Server {
    pub api: Arc<Api>,
    pub security: Arc<Security>,
    openapi: ArcSwap<OpenApi>,
    /// Connections to node agents (`pods/log`), with the API server's client certificate.
    pub kubelet: crate::kubelet::KubeletClient,
    /// The latest resource metrics scraped from the node agents (`metrics.k8s.io`).
    pub metrics: crate::metrics::MetricsStore,
}

impl Server {
    pub fn new(api: Arc<Api>, security: Arc<Security>) -> Result<Arc<Server>, ApiError> {
        let openapi =
            OpenApi::with_custom_resources(&[]).map_err(|e| ApiError::internal(e.to_string()))?;
        let kubelet =
            crate::kubelet::KubeletClient::new(&security.ca, clipper_proto::Time::now().0)
                .map_err(|e| {
                    ApiError::internal(format!("the node agents' client certificate: {e}"))
                })?;
        Ok(Arc::new(Server {
            api,
            security,
            openapi: ArcSwap::from_pointee(openapi),
            kubelet,
            metrics: Default::default(),
        }))
    }

    /// Rebuilds the OpenAPI documents after custom resources changed.
    pub fn set_openapi(&self, openapi: OpenApi) {
        self.openapi.store(Arc::new(openapi));
    }

    pub(crate) fn openapi(&self) -> Arc<OpenApi> {
        self.openapi.load_full()
    }
}

/// What a connection knows about its peer.
pub struct Peer {
    pub addr: SocketAddr,
    pub certificates: Vec<CertificateDer<'static>>,
}

/// A running server: its address, and how to stop it.
pub struct ServerHandle {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
}

impl ServerHandle {
    /// Stops accepting, ends the workers and waits for them.
    pub fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// Binds `workers` SO_REUSEPORT listeners on `addr` (the first fixes the port when
/// `addr` asks for port 0).
fn bind_listeners(addr: SocketAddr, workers: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    use socket2::{Domain, Protocol, Socket, Type};
    let mut out = Vec::with_capacity(workers);
    let mut bound = addr;
    for _ in 0..workers {
        let socket = Socket::new(
            Domain::for_address(bound),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_tcp_nodelay(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&bound.into())?;
        socket.listen(LISTEN_BACKLOG)?;
        let listener: std::net::TcpListener = socket.into();
        bound = listener.local_addr()?;
        out.push(listener);
    }
    Ok(out)
}

/// Starts `workers` threads (one per core by default), each pinned to a core with its own
/// runtime and listener.
pub fn serve(
    server: Arc<Server>,
    tls: Arc<rustls::ServerConfig>,
    addr: SocketAddr,
    workers: usize,
) -> std::io::Result<ServerHandle> {
    let workers = workers.max(1);
    let listeners = bind_listeners(addr, workers)?;
    let bound = listeners[0].local_addr()?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let mut handles = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let server = server.clone();
        let tls = tls.clone();
        let mut stop = shutdown_rx.clone();
        let core = cores.get(i % cores.len().max(1)).copied();
        let handle = std::thread::Builder::new().name(format!("api-worker-{i}")).spawn(move || {
            if let Some(core) = core {
                core_affinity::set_for_current(core);
            }
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start a worker runtime");
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot register the listener");
                        return;
                    }
                };
                let acceptor = tokio_rustls::TlsAcceptor::from(tls);
                let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS_PER_WORKER));
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
                    let server = server.clone();
                    let mut conn_stop = stop.clone();
                    tokio::spawn(async move {
                        let _permit = permit;
                        let tls = match acceptor.accept(tcp).await {
                            Ok(t) => t,
                            Err(e) => {
                                tracing::debug!(error = %e, %peer, "TLS handshake failed");
                                return;
                            }
                        };
                        let certificates = tls
                            .get_ref()
                            .1
                            .peer_certificates()
                            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                            .unwrap_or_default();
                        let peer = Arc::new(Peer { addr: peer, certificates });
                        let service = hyper::service::service_fn(move |req| {
                            let server = server.clone();
                            let peer = peer.clone();
                            async move { Ok::<_, std::convert::Infallible>(handle(&server, req, &peer).await) }
                        });
                        let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                        let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
                        tokio::pin!(conn);
                        tokio::select! {
                            r = conn.as_mut() => {
                                if let Err(e) = r {
                                    tracing::debug!(error = %e, "connection ended with an error");
                                }
                            }
                            _ = conn_stop.changed() => {}
                        }
                    });
                }
            });
        })?;
        handles.push(handle);
    }
    Ok(ServerHandle {
        addr: bound,
        shutdown,
        workers: handles,
    })
}

/// A request body as the handlers read it: hyper's, or bytes that arrived another way
/// (a request over the QUIC node protocol).
pub type ReqBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BodyError>;
/// An error while reading a request body.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// A body already read.
pub fn bytes_body(b: Bytes) -> ReqBody {
    use http_body_util::BodyExt;
    http_body_util::Full::new(b)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// One request, start to finish.
pub async fn handle(server: &Server, req: Request<Incoming>, peer: &Peer) -> Response<Body> {
    use http_body_util::BodyExt;
    let req = req.map(|b| b.map_err(|e| Box::new(e) as BodyError).boxed_unsync());
    handle_request(server, req, peer).await
}

/// One request with its body already boxed (HTTPS, or the QUIC node protocol).
pub async fn handle_request(server: &Server, req: Request<ReqBody>, peer: &Peer) -> Response<Body> {
    let result = handle_inner(server, req, peer).await;
    match result {
        Ok(resp) => resp,
        Err(e) => response::error(&e),
    }
}

async fn handle_inner(
    server: &Server,
    req: Request<ReqBody>,
    peer: &Peer,
) -> Result<Response<Body>, ApiError> {
    let authorization = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let user = server.security.authenticate(&Credentials {
        client_certificates: &peer.certificates,
        authorization: authorization.as_deref(),
    })?;
    let user = server.security.impersonate(user, req.headers())?;
    let path = req.uri().path().to_string();
    let query = Query::parse(req.uri().query().unwrap_or(""));
    let parsed = parse_path(&path)?;
    match parsed {
        ParsedPath::NonResource(p) => {
            authorize_path(server, &user, req.method(), &p)?;
            special::non_resource(server, req, &p, &query).await
        }
        ParsedPath::Resource(r) => resources::handle(server, req, &user, r, query).await,
    }
}

fn authorize_path(
    server: &Server,
    user: &UserInfo,
    method: &Method,
    path: &str,
) -> Result<(), ApiError> {
    let verb = match *method {
        Method::GET | Method::HEAD => "get",
        Method::POST => "post",
        Method::PUT => "put",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "get",
    };
    server.security.authorize(&Attributes {
        user,
        verb,
        api_group: "",
        resource: "",
        subresource: "",
        namespace: "",
        name: "",
        path,
        resource_request: false,
        field_selector: &[],
    })
}

/// Reads a request body up to [`MAX_BODY_BYTES`]. A larger body is answered 413 after
/// the rest of it is read and dropped (up to [`MAX_DRAINED_BYTES`]), so that HTTP/2
/// clients see the Status instead of a reset stream.
pub(crate) async fn read_body(mut body: ReqBody) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt;
    let mut buf = bytes::BytesMut::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len());
        if total <= MAX_BODY_BYTES {
            buf.extend_from_slice(&data);
        } else if total > MAX_BODY_BYTES + MAX_DRAINED_BYTES {
            break;
        }
    }
    if total > MAX_BODY_BYTES {
        return Err(ApiError::too_large(format!(
            "the request body is larger than the limit of {MAX_BODY_BYTES} bytes"
        )));
    }
    Ok(buf.freeze())
}
