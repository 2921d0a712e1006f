//! Port-forward on the agent's API: `/portForward/{namespace}/{pod}` (kubelet's path; a
//! trailing `/{uid}` is accepted), upgraded to SPDY with the subprotocol
//! `portforward.k8s.io` — or, from kubectl 1.31+ through the API server, a WebSocket
//! carrying that SPDY (`SPDY/3.1+portforward.k8s.io`).
//!
//! Kubelet's protocol: for each forwarded connection the client opens two streams with
//! the same `requestID` header and a `port` header, `streamType: error` then
//! `streamType: data`. Once both are there, the agent connects to 127.0.0.1:`port`
//! inside the pod's network namespace and copies bytes between the socket and the data
//! stream; a failure is written as text on the error stream, kubelet's
//! `error forwarding port P to pod ...`. The error stream is closed when the pod's side
//! of the connection ends. A pair not completed within the stream creation timeout gets
//! kubelet's "timed out waiting for streams".
//!
//! The connection is made by a short-lived thread that enters the pod's network
//! namespace (`/run/netns/clipper-<uid>`) and connects; the socket stays in that
//! namespace after the thread is gone, and is driven by the agent's runtime.

use std::collections::HashMap;
use std::os::fd::AsFd as _;
use std::path::PathBuf;
use std::time::Duration;

use clipper_client::spdy::{SpdyConnection, SpdyStream};
use clipper_proto::spdy::Role;
use http::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role as WsRole, WebSocketConfig};

use crate::exec::{ExecService, MAX_MESSAGE_BYTES, OUTPUT_CHUNK_BYTES, is_websocket};
use crate::server::{Body, LogError, text};
use crate::streaming::{
    STREAM_CREATION_TIMEOUT, TUNNELING_PREFIX, is_spdy, negotiate_spdy, offers_tunnel,
    switching_to_spdy, websocket_bytes,
};

/// The subprotocol.
pub const PROTOCOL: &str = "portforward.k8s.io";
/// Connecting inside the pod: the listener is local, so this only bounds a wedged
/// kernel.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the pod's network namespace is.
#[derive(Clone, Debug)]
struct Target {
    pod: String,
    uid: String,
    netns: PathBuf,
}

/// `/portForward/{namespace}/{pod}[/{uid}]`, once the caller is authorized.
pub fn handle<B: Send + 'static>(
    mut req: Request<B>,
    rest: &str,
    service: Option<&ExecService>,
) -> Response<Body> {
    let Some(service) = service else {
        return text(StatusCode::NOT_FOUND, "404 page not found");
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let (namespace, pod) = match parts.as_slice() {
        [ns, pod] | [ns, pod, _] => (*ns, *pod),
        _ => return text(StatusCode::NOT_FOUND, "404 page not found"),
    };
    for (value, what) in [(namespace, "podNamespace"), (pod, "podID")] {
        if value.is_empty() {
            return text(StatusCode::BAD_REQUEST, format!("Missing {what}."));
        }
    }
    if !matches!(*req.method(), http::Method::GET | http::Method::POST) {
        return text(StatusCode::METHOD_NOT_ALLOWED, "405: Method Not Allowed");
    }
    let uid = match service.target.locate_pod(namespace, pod) {
        Ok(uid) => uid,
        Err(LogError::NotFound(m) | LogError::BadRequest(m)) => {
            return text(StatusCode::NOT_FOUND, m);
        }
        Err(LogError::Internal(m)) => return text(StatusCode::INTERNAL_SERVER_ERROR, m),
    };
    let target = Target {
        pod: pod.to_string(),
        netns: service.netns_dir.join(format!("clipper-{uid}")),
        uid,
    };
    let tunnel = is_websocket(req.headers()) && offers_tunnel(req.headers(), PROTOCOL);
    let response = if tunnel {
        let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned() else {
            return text(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key");
        };
        let mut resp = Response::new(crate::server::empty());
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = resp.headers_mut();
        h.insert(
            header::UPGRADE,
            header::HeaderValue::from_static("websocket"),
        );
        h.insert(
            header::CONNECTION,
            header::HeaderValue::from_static("Upgrade"),
        );
        if let Ok(accept) = header::HeaderValue::from_str(
            &tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes()),
        ) {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        if let Ok(p) = header::HeaderValue::from_str(&format!("{TUNNELING_PREFIX}{PROTOCOL}")) {
            h.insert(header::SEC_WEBSOCKET_PROTOCOL, p);
        }
        resp
    } else if is_spdy(req.headers()) {
        match negotiate_spdy(req.headers(), PROTOCOL) {
            Ok(p) => switching_to_spdy(p),
            Err(m) => return text(StatusCode::FORBIDDEN, m),
        }
    } else {
        return text(
            StatusCode::BAD_REQUEST,
            "Upgrade request required: SPDY/3.1, or a WebSocket offering SPDY/3.1+portforward.k8s.io",
        );
    };
    let Ok(permit) = service.sessions.clone().try_acquire_owned() else {
        return text(
            StatusCode::TOO_MANY_REQUESTS,
            "too many streaming sessions on this node",
        );
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let _permit = permit;
        let upgraded = match on_upgrade.await {
            Ok(u) => TokioIo::new(u),
            Err(e) => {
                tracing::debug!(error = %e, "port-forward: the upgrade failed");
                return;
            }
        };
        let (conn, incoming) = if tunnel {
            let config = WebSocketConfig::default()
                .max_message_size(Some(MAX_MESSAGE_BYTES))
                .max_frame_size(Some(MAX_MESSAGE_BYTES));
            let ws = WebSocketStream::from_raw_socket(upgraded, WsRole::Server, Some(config)).await;
            SpdyConnection::start(websocket_bytes(ws), Role::Server)
        } else {
            SpdyConnection::start(upgraded, Role::Server)
        };
        serve(conn, incoming, target).await;
    });
    response
}

/// The error and data streams of one forwarded connection.
struct Pair {
    error: Option<SpdyStream>,
    data: Option<SpdyStream>,
    deadline: Instant,
}

/// kubelet's checks of a new stream: a port above 0, a known stream type.
fn check(stream: &SpdyStream) -> Result<(), String> {
    let Some(port) = stream.header("port") else {
        return Err("\"port\" header is required".into());
    };
    match port.parse::<u16>() {
        Ok(0) => return Err(format!("port {port:?} must be > 0")),
        Ok(_) => {}
        Err(e) => return Err(format!("unable to parse {port:?} as a port: {e}")),
    }
    match stream.header("streamtype") {
        None | Some("") => Err("\"streamType\" header is required".into()),
        Some("error" | "data") => Ok(()),
        Some(t) => Err(format!("invalid stream type {t:?}")),
    }
}

/// The request a stream belongs to: its `requestID`, or for old clients without one,
/// kubelet's guess from the stream id (error streams N, data streams N+2).
fn request_id(stream: &SpdyStream) -> String {
    match stream.header("requestid") {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => match stream.header("streamtype") {
            Some("data") => stream.id.saturating_sub(2).to_string(),
            _ => stream.id.to_string(),
        },
    }
}

async fn serve(conn: SpdyConnection, mut incoming: mpsc::Receiver<SpdyStream>, target: Target) {
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    loop {
        let next_deadline = pairs.values().map(|p| p.deadline).min();
        let expire = async {
            match next_deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let stream = tokio::select! {
            s = incoming.recv() => s,
            _ = expire => {
                let now = Instant::now();
                let late: Vec<String> = pairs
                    .iter()
                    .filter(|(_, p)| p.deadline <= now)
                    .map(|(k, _)| k.clone())
                    .collect();
                for id in late {
                    if let Some(p) = pairs.remove(&id)
                        && let Some(e) = p.error
                    {
                        let w = e.writer();
                        let _ = w
                            .write(format!("(conn=spdy, request={id}) timed out waiting for streams").as_bytes())
                            .await;
                        w.close().await;
                    }
                }
                continue;
            }
        };
        let Some(stream) = stream else { break };
        if let Err(why) = check(&stream) {
            tracing::debug!(%why, "port-forward: refusing a stream");
            stream.refuse();
            continue;
        }
        if stream.accept().is_err() {
            break;
        }
        let id = request_id(&stream);
        let pair = pairs.entry(id.clone()).or_insert_with(|| Pair {
            error: None,
            data: None,
            deadline: Instant::now() + STREAM_CREATION_TIMEOUT,
        });
        let slot = if stream.header("streamtype") == Some("error") {
            &mut pair.error
        } else {
            &mut pair.data
        };
        if slot.is_some() {
            stream.refuse();
            continue;
        }
        *slot = Some(stream);
        if pair.error.is_some()
            && pair.data.is_some()
            && let Some(Pair {
                error: Some(error),
                data: Some(data),
                ..
            }) = pairs.remove(&id)
        {
            tokio::spawn(forward(error, data, target.clone()));
        }
    }
    conn.shutdown().await;
}

/// Go's words for a refused connection, else the error's.
fn dial_error(port: u16, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::ConnectionRefused {
        format!("dial tcp4 127.0.0.1:{port}: connect: connection refused")
    } else {
        format!("dial tcp4 127.0.0.1:{port}: {e}")
    }
}

/// Connects to 127.0.0.1:`port` inside the network namespace at `netns`.
pub async fn connect_in_netns(netns: PathBuf, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("portforward-dial".into())
        .spawn(move || {
            let result: std::io::Result<std::net::TcpStream> = (|| {
                let ns = std::fs::File::open(&netns)?;
                rustix::thread::move_into_link_name_space(
                    ns.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )?;
                let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
                let s = std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
                s.set_nonblocking(true)?;
                Ok(s)
            })();
            let _ = tx.send(result);
        })?;
    let socket = rx
        .await
        .map_err(|_| std::io::Error::other("the connecting thread ended"))??;
    tokio::net::TcpStream::from_std(socket)
}

/// One forwarded connection.
async fn forward(error: SpdyStream, mut data: SpdyStream, target: Target) {
    let port = data
        .header("port")
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_default();
    let error = error.writer();
    let out = data.writer();
    let socket = match connect_in_netns(target.netns.clone(), port).await {
        Ok(s) => s,
        Err(e) => {
            let message = format!(
                "error forwarding port {port} to pod {}, uid {}: failed to connect to localhost:{port} inside namespace {:?}: {}",
                target.pod,
                target.uid,
                target.netns.display().to_string(),
                dial_error(port, &e)
            );
            tracing::debug!(%message, "port-forward");
            let _ = error.write(message.as_bytes()).await;
            error.close().await;
            out.close().await;
            return;
        }
    };
    let _ = socket.set_nodelay(true);
    let (mut from_pod, mut to_pod) = socket.into_split();
    // Client to pod: until the client's FIN (then the socket's write side is shut), or
    // a reset.
    let upstream = tokio::spawn(async move {
        while let Some(d) = data.read().await {
            if to_pod.write_all(&d).await.is_err() {
                return;
            }
        }
        let _ = to_pod.shutdown().await;
    });
    let mut buf = vec![0u8; OUTPUT_CHUNK_BYTES];
    loop {
        match from_pod.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if out.write(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    // The pod's side ended: the client learns it from the data stream's FIN, then
    // waits for the error stream's end.
    out.close().await;
    error.close().await;
    let _ = upstream.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connecting_to_a_closed_port_reports_kubes_words() {
        // Our own namespace (no root needed): nothing listens on a port just freed.
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        drop(l);
        let e = connect_in_netns(PathBuf::from("/proc/self/ns/net"), port).await;
        match e {
            // Entering a namespace needs CAP_SYS_ADMIN.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
            Err(e) => assert_eq!(
                dial_error(port, &e),
                format!("dial tcp4 127.0.0.1:{port}: connect: connection refused")
            ),
            Ok(_) => panic!("connected to a closed port"),
        }
    }
}
