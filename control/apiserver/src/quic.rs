//! The QUIC node protocol's server: watches over QUIC streams, on the HTTPS port number
//! over UDP. Agents, proxies, the scheduler and controllers authenticate with their
//! client certificate (or a token in the request) and are authorized exactly as on
//! HTTPS. One bidirectional stream is one watch (see `clipper_proto::wire`): the event
//! frames carry the watch cache's stored rkyv envelopes, written to the stream without
//! a copy. Or it is one call — a write or a read with REST's semantics — which goes
//! through the same handler as an HTTPS request (authentication, impersonation,
//! authorization, admission, the same Status errors).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clipper_proto::wire::{self, CallHead, Decoder, EventKind, Frame, WatchRequest};
use rustls::pki_types::CertificateDer;
use tokio::sync::watch;

use crate::api::Scope;
use crate::auth::authn::Credentials;
use crate::auth::{Attributes, UserInfo};
use crate::cache::{EventType, WatchItem};
use crate::http::Server;
use crate::http::request::Query;
use crate::status::ApiError;

/// Watches one connection may hold open at once (agents hold a handful).
pub const MAX_STREAMS_PER_CONNECTION: u32 = 256;
/// Connections the endpoint serves at once (every node has one or two).
pub const MAX_CONNECTIONS: usize = 20_000;
/// A consumer that takes longer than this to accept one frame is cut off: the server
/// never buffers more than QUIC's flow-control window per watch.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a new stream may take to send its request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection with no traffic (not even keep-alives) for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest call frame: a REST body plus its head.
const MAX_CALL_FRAME: usize = crate::http::MAX_BODY_BYTES + wire::MAX_REQUEST + 16;
/// How long a call may take to be answered (a request over HTTPS has no shorter bound
/// than its client's patience; this keeps a stuck call from holding a stream forever).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// How often an idle watch gets a bookmark, so a resumed watch starts close to now.
pub const BOOKMARK_INTERVAL: Duration = Duration::from_secs(10);

/// The running QUIC endpoints (one per worker).
pub struct QuicHandle {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl QuicHandle {
    /// Closes every connection and waits for the endpoints' threads.
    pub fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Binds `workers` SO_REUSEPORT UDP sockets on `addr` (the first fixes the port when
/// `addr` asks for port 0).
fn bind_sockets(addr: SocketAddr, workers: usize) -> std::io::Result<Vec<std::net::UdpSocket>> {
    use socket2::{Domain, Protocol, Socket, Type};
    let mut out = Vec::with_capacity(workers);
    let mut bound = addr;
    for _ in 0..workers {
        let socket = Socket::new(Domain::for_address(bound), Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&bound.into())?;
        let socket: std::net::UdpSocket = socket.into();
        bound = socket.local_addr()?;
        out.push(socket);
    }
    Ok(out)
}

/// Serves the node protocol on UDP `addr` with `workers` endpoints, each on a thread of
/// its own pinned to a core, as the HTTPS workers are. The kernel spreads clients over
/// the SO_REUSEPORT sockets by their address and port, so every packet of a connection
/// reaches the endpoint that holds it; a connection's encryption, packetization and
/// streams then run on that endpoint's core only.
pub fn serve(
    server: Arc<Server>,
    mut tls: rustls::ServerConfig,
    addr: SocketAddr,
    workers: usize,
) -> std::io::Result<QuicHandle> {
    tls.alpn_protocols = vec![wire::ALPN.to_vec()];
    tls.max_early_data_size = 0;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| std::io::Error::other(format!("QUIC TLS configuration: {e}")))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(MAX_STREAMS_PER_CONNECTION.into())
        .max_concurrent_uni_streams(0u32.into())
        .max_idle_timeout(Some(
            IDLE_TIMEOUT
                .try_into()
                .map_err(|_| std::io::Error::other("idle timeout out of range"))?,
        ));
    config.transport_config(Arc::new(transport));
    let workers = workers.max(1);
    let sockets = bind_sockets(addr, workers)?;
    let bound = sockets[0].local_addr()?;
    let (stop, stop_rx) = watch::channel(false);
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    // Shared by the endpoints: MAX_CONNECTIONS is the server's bound, not each one's.
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut threads = Vec::with_capacity(workers);
    let mut ready = Vec::with_capacity(workers);
    for (i, socket) in sockets.into_iter().enumerate() {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        ready.push(ready_rx);
        let core = cores.get(i % cores.len().max(1)).copied();
        let (server, config, stop_rx, slots) = (
            server.clone(),
            config.clone(),
            stop_rx.clone(),
            slots.clone(),
        );
        let thread = std::thread::Builder::new()
            .name(format!("api-quic-{i}"))
            .spawn(move || {
                if let Some(core) = core {
                    core_affinity::set_for_current(core);
                }
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let endpoint = match quinn::Endpoint::new(
                        quinn::EndpointConfig::default(),
                        Some(config),
                        socket,
                        Arc::new(quinn::TokioRuntime),
                    ) {
                        Ok(e) => e,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    accept_loop(server, endpoint, stop_rx, slots).await;
                });
            });
        match thread {
            Ok(t) => threads.push(t),
            Err(e) => {
                let _ = stop.send(true);
                return Err(e);
            }
        }
    }
    let handle = QuicHandle {
        addr: bound,
        stop,
        threads,
    };
    for r in ready {
        let started = r
            .recv()
            .map_err(|_| std::io::Error::other("a QUIC thread ended before starting"))
            .and_then(|r| r);
        if let Err(e) = started {
            handle.shutdown();
            return Err(e);
        }
    }
    Ok(handle)
}

async fn accept_loop(
    server: Arc<Server>,
    endpoint: quinn::Endpoint,
    mut stop: watch::Receiver<bool>,
    slots: Arc<tokio::sync::Semaphore>,
) {
    loop {
        let incoming = tokio::select! {
            i = endpoint.accept() => match i { Some(i) => i, None => break },
            _ = stop.changed() => break,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            incoming.refuse();
            continue;
        };
        let server = server.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let conn = match incoming.await {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = %e, "QUIC handshake failed");
                    return;
                }
            };
            serve_connection(server, conn, stop).await;
        });
    }
    endpoint.close(wire::codes::SHUTDOWN.into(), b"shutting down");
    endpoint.wait_idle().await;
}

async fn serve_connection(
    server: Arc<Server>,
    conn: quinn::Connection,
    mut stop: watch::Receiver<bool>,
) {
    let certificates: Arc<Vec<CertificateDer<'static>>> = Arc::new(
        conn.peer_identity()
            .and_then(|id| id.downcast::<Vec<CertificateDer<'static>>>().ok())
            .map(|b| *b)
            .unwrap_or_default(),
    );
    let remote = conn.remote_address();
    loop {
        let (send, recv) = tokio::select! {
            s = conn.accept_bi() => match s {
                Ok(s) => s,
                Err(_) => return,
            },
            _ = stop.changed() => {
                conn.close(wire::codes::SHUTDOWN.into(), b"shutting down");
                return;
            }
        };
        let server = server.clone();
        let certificates = certificates.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            serve_stream(&server, &certificates, remote, send, recv, stop).await;
        });
    }
}

/// What a new stream asks for.
enum First {
    Watch(WatchRequest),
    Call(CallHead, Bytes),
}

/// Feeds the stream's next chunk to `decoder`.
async fn read_more(recv: &mut quinn::RecvStream, decoder: &mut Decoder) -> Result<(), ApiError> {
    match recv.read_chunk(MAX_CALL_FRAME, true).await {
        Ok(Some(chunk)) => {
            decoder.feed(&chunk.bytes);
            Ok(())
        }
        Ok(None) => Err(ApiError::bad_request(
            "the stream ended before a watch request",
        )),
        Err(e) => Err(ApiError::bad_request(format!("reading the request: {e}"))),
    }
}

/// Reads the first frame of a new stream. [`REQUEST_TIMEOUT`] runs from the stream's
/// first byte, not from its opening: QUIC opens every lower-numbered stream implicitly
/// when a higher one arrives first, so a client opening thousands of watches at once
/// would otherwise see the timer of a stream start before its request was even sent.
/// A stream that never sends a byte costs one of its connection's
/// [`MAX_STREAMS_PER_CONNECTION`] and ends with its connection.
async fn read_request(recv: &mut quinn::RecvStream) -> Result<First, ApiError> {
    let mut decoder = Decoder::new(MAX_CALL_FRAME);
    read_more(recv, &mut decoder).await?;
    let read = async {
        loop {
            match decoder.next_frame() {
                Ok(Some(Frame::WatchRequest(r))) => return Ok(First::Watch(r)),
                Ok(Some(Frame::Call { head, body })) => return Ok(First::Call(head, body)),
                Ok(Some(_)) => {
                    return Err(ApiError::bad_request(
                        "the first frame of a stream must be a watch request or a call",
                    ));
                }
                Ok(None) => {}
                Err(wire::WireError::TooLarge(n)) => {
                    return Err(ApiError::too_large(format!(
                        "the request of {n} bytes is larger than the limit of {} bytes",
                        crate::http::MAX_BODY_BYTES
                    )));
                }
                Err(e) => return Err(ApiError::bad_request(e.to_string())),
            }
            read_more(recv, &mut decoder).await?;
        }
    };
    tokio::time::timeout(REQUEST_TIMEOUT, read)
        .await
        .map_err(|_| ApiError::bad_request("no complete request within 10 s of its first byte"))?
}

async fn serve_stream(
    server: &Server,
    certificates: &[CertificateDer<'static>],
    remote: SocketAddr,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    mut stop: watch::Receiver<bool>,
) {
    let request = match read_request(&mut recv).await {
        Ok(First::Watch(r)) => r,
        Ok(First::Call(head, body)) => {
            serve_call(server, certificates, remote, head, body, send).await;
            return;
        }
        Err(e) => {
            let _ = finish_with(&mut send, &e).await;
            return;
        }
    };
    let bearer = request.token.as_ref().map(|t| format!("Bearer {t}"));
    let user = match server.security.authenticate(&Credentials {
        client_certificates: certificates,
        authorization: bearer.as_deref(),
    }) {
        Ok(u) => u,
        Err(e) => {
            let _ = finish_with(&mut send, &e).await;
            return;
        }
    };
    let mut watcher = match start_watch(server, &user, &request).await {
        Ok(w) => w,
        Err(e) => {
            let _ = finish_with(&mut send, &e).await;
            return;
        }
    };
    loop {
        let item = tokio::select! {
            item = watcher.next() => item,
            _ = tokio::time::sleep(BOOKMARK_INTERVAL) => Some(WatchItem::Bookmark {
                revision: watcher.revision(),
                initial_end: false,
            }),
            _ = stop.changed() => {
                let _ = send.reset(wire::codes::SHUTDOWN.into());
                return;
            }
        };
        let written = match item {
            None => {
                let _ = send.finish();
                return;
            }
            Some(WatchItem::Event(kind, obj)) => {
                let kind = match kind {
                    EventType::Added => EventKind::Added,
                    EventType::Modified => EventKind::Modified,
                    EventType::Deleted => EventKind::Deleted,
                };
                let object: Bytes = obj.value.bytes().clone();
                let head = wire::encode_event_head(kind, obj.revision, object.len());
                write_all(&mut send, [head, object]).await
            }
            Some(WatchItem::Bookmark {
                revision,
                initial_end,
            }) => {
                let frame = if initial_end {
                    wire::encode_initial_end(revision)
                } else {
                    wire::encode_bookmark(revision)
                };
                write_all(&mut send, [frame, Bytes::new()]).await
            }
            Some(WatchItem::Error(e)) => {
                let _ = finish_with(&mut send, &e).await;
                return;
            }
        };
        if let Err(stalled) = written {
            if stalled {
                let _ = send.reset(wire::codes::STALLED.into());
            }
            return;
        }
    }
}

/// One call: an HTTP request built from the frame, through the HTTPS handler; its
/// response goes back as one reply frame.
async fn serve_call(
    server: &Server,
    certificates: &[CertificateDer<'static>],
    remote: SocketAddr,
    head: CallHead,
    body: Bytes,
    mut send: quinn::SendStream,
) {
    let response = match call_response(server, certificates, remote, head, body).await {
        Ok(r) => r,
        Err(e) => crate::http::response::error(&e),
    };
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let collected = tokio::time::timeout(
        CALL_TIMEOUT,
        http_body_util::BodyExt::collect(response.into_body()),
    )
    .await;
    let body = match collected {
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(never)) => match never {},
        Err(_) => {
            let _ = send.reset(wire::codes::SHUTDOWN.into());
            return;
        }
    };
    let head = wire::encode_reply_head(status, &content_type, body.len());
    if write_all(&mut send, [head, body]).await.is_ok() {
        let _ = send.finish();
    }
}

async fn call_response(
    server: &Server,
    certificates: &[CertificateDer<'static>],
    remote: SocketAddr,
    head: CallHead,
    body: Bytes,
) -> Result<http::Response<crate::http::response::Body>, ApiError> {
    let query = head.path.split_once('?').map_or("", |(_, q)| q);
    if Query::parse(query).flag("watch") {
        return Err(ApiError::bad_request(
            "a watch is its own stream (a watch request frame), not a call",
        ));
    }
    let mut req = http::Request::builder()
        .method(head.method.as_str())
        .uri(head.path.as_str())
        .header(http::header::ACCEPT, "application/json");
    if let Some(ct) = &head.content_type {
        req = req.header(http::header::CONTENT_TYPE, ct.as_str());
    }
    if let Some(t) = &head.token {
        req = req.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = req
        .body(crate::http::bytes_body(body))
        .map_err(|e| ApiError::bad_request(format!("the call: {e}")))?;
    let peer = crate::http::Peer {
        addr: remote,
        certificates: certificates.to_vec(),
    };
    let handled = crate::http::handle_request(server, req, &peer);
    tokio::time::timeout(CALL_TIMEOUT, handled)
        .await
        .map_err(|_| ApiError::internal("the call took too long"))
}

/// Writes the chunks (shared, not copied) within [`STALL_TIMEOUT`]; `Err(true)` when
/// the consumer stalled, `Err(false)` when the stream is gone.
async fn write_all(send: &mut quinn::SendStream, chunks: [Bytes; 2]) -> Result<(), bool> {
    let write = async {
        for c in chunks {
            if !c.is_empty() {
                send.write_chunk(c).await.map_err(|_| false)?;
            }
        }
        Ok(())
    };
    match tokio::time::timeout(STALL_TIMEOUT, write).await {
        Ok(r) => r,
        Err(_) => Err(true),
    }
}

async fn finish_with(send: &mut quinn::SendStream, e: &ApiError) -> Result<(), ()> {
    let status = e.to_status().to_string();
    let frame = wire::encode_error(status.as_bytes());
    write_all(send, [frame, Bytes::new()])
        .await
        .map_err(|_| ())?;
    send.finish().map_err(|_| ())
}

/// Resolves, authorizes and opens the watch a request asks for, with the same checks
/// and errors as an HTTPS `?watch=1`.
async fn start_watch(
    server: &Server,
    user: &UserInfo,
    r: &WatchRequest,
) -> Result<crate::cache::Watcher, ApiError> {
    let set = server.api.served.load();
    let not_found = || {
        ApiError::new(
            404,
            "NotFound",
            format!(
                "the server could not find the requested resource ({}/{} {})",
                r.group, r.version, r.resource
            ),
        )
    };
    let served = set
        .get(&r.group, &r.version, &r.resource)
        .cloned()
        .ok_or_else(not_found)?;
    if r.namespace.is_some() && !served.namespaced {
        return Err(not_found());
    }
    if !served.has_verb("watch") {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource (watch {})",
            served.plural
        )));
    }
    let field_requirements = if r.field_selector.is_empty() {
        Vec::new()
    } else {
        crate::auth::parse_field_selector(&r.field_selector).unwrap_or_default()
    };
    let selector_name = clipper_proto::selector::FieldSelector::parse(&r.field_selector)
        .ok()
        .and_then(|f| f.required_value("metadata.name").map(str::to_string));
    server.security.authorize(&Attributes {
        user,
        verb: "watch",
        api_group: &served.group,
        resource: &served.plural,
        subresource: "",
        namespace: r.namespace.as_deref().unwrap_or(""),
        name: selector_name.as_deref().unwrap_or(""),
        path: "",
        resource_request: true,
        field_selector: &field_requirements,
    })?;
    let query = Query::from_pairs([
        ("labelSelector", r.label_selector.as_str()),
        ("fieldSelector", r.field_selector.as_str()),
    ]);
    let filter = crate::http::resources::filter(&served, r.namespace.as_deref(), &query)?;
    let scope = Scope {
        served,
        namespace: r.namespace.clone(),
    };
    server
        .api
        .watch(&scope, filter, r.from_revision, r.from_revision.is_none())
        .await
}
