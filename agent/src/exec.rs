//! `exec` on the agent's API: `GET /exec/{namespace}/{pod}/{container}?command=..&input=1&
//! output=1&error=1&tty=1` (kubelet's path and query; `stdin`/`stdout`/`stderr` are accepted
//! for `input`/`output`/`error`), upgraded to a WebSocket that speaks Kubernetes' channel
//! protocol, `v5.channel.k8s.io` or `v4.channel.k8s.io`:
//!
//! - every binary message starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error
//!   (one `metav1.Status` when the command ends), 4 resize (`{"Width":w,"Height":h}`);
//! - v5 adds 255, "close": its payload is the channel that has ended (stdin's EOF).
//!
//! The process runs through [`InteractiveExec`] (the runtime's part, runc in
//! `oci/exec.rs`); the container id comes from [`ExecTarget`] (the pod workers' index).
//! Once upgraded, errors (the container is not running, the runtime failed) are reported as
//! kube-apiserver's stream translator reports them: an InternalError Status on the error
//! channel, which kubectl prints as `error: Internal error occurred: ...`. Before the
//! upgrade, errors are plain-text bodies with kubelet's codes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use http::{HeaderMap, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};

use crate::runtime::RuntimeError;
use crate::server::LogError;

/// The protocols served, preferred first (kubectl 1.30+ offers both, v5 first).
pub const PROTOCOL_V5: &str = "v5.channel.k8s.io";
pub const PROTOCOL_V4: &str = "v4.channel.k8s.io";
pub const SUPPORTED_PROTOCOLS: &[&str] = &[PROTOCOL_V5, PROTOCOL_V4];

/// Channel bytes.
pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const ERROR: u8 = 3;
pub const RESIZE: u8 = 4;
/// v5 only: "this channel has ended"; the payload is the channel's byte.
pub const CLOSE: u8 = 255;

/// Largest WebSocket message accepted from a client: stdin arrives in chunks of at most
/// 32 KiB from client-go; a resize is a few bytes.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Largest chunk of output sent in one message (client-go reads in 32 KiB buffers).
pub const OUTPUT_CHUNK_BYTES: usize = 32 * 1024;
/// Output messages queued for the socket: a slow client holds back the process's output
/// (its pipes fill) rather than the agent's memory.
pub const OUTGOING_QUEUE: usize = 16;
/// exec sessions at once on this node; more are refused with 429.
pub const MAX_EXEC_SESSIONS: usize = 64;
/// Longest command line accepted (arguments, all told): the query is bounded by the server's
/// URI limit anyway; this bounds the arguments' count.
pub const MAX_COMMAND_ARGS: usize = 1024;
/// After the command exits, how long its output may take to drain: a background child that
/// keeps the pipes open must not hold the session forever.
pub const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// What the client asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecRequest {
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
    /// An attach to the container's own process (`/attach/...`): no command.
    pub attach: bool,
}

/// Applies a terminal's window size: columns, rows.
pub type Resize = Box<dyn Fn(u16, u16) -> std::io::Result<()> + Send + Sync>;

/// A process started in a container. Dropping it before it exits kills it.
pub struct ExecProcess {
    pub stdin: Option<Pin<Box<dyn AsyncWrite + Send>>>,
    /// With a tty, the terminal's output (stdout and stderr together).
    pub stdout: Option<Pin<Box<dyn AsyncRead + Send>>>,
    pub stderr: Option<Pin<Box<dyn AsyncRead + Send>>>,
    /// Applies a window size (columns, rows); only with a tty.
    pub resize: Option<Resize>,
    /// The exit code (128 + signal for a signal), or why waiting failed.
    pub exit: Pin<Box<dyn Future<Output = Result<i32, String>> + Send>>,
}

/// Runs commands in containers, interactively; the runtime implements it.
#[async_trait::async_trait]
pub trait InteractiveExec: Send + Sync {
    async fn exec_interactive(
        &self,
        container_id: &str,
        request: &ExecRequest,
    ) -> Result<ExecProcess, RuntimeError>;

    /// Attaches to a running container's own streams (`kubectl attach`): its output from
    /// now on, input when it has stdin, resizes when it has a tty; `request.command` is
    /// empty. The process "exits" (0) when the container does.
    async fn attach(
        &self,
        container_id: &str,
        request: &ExecRequest,
    ) -> Result<ExecProcess, RuntimeError>;
}

/// Finds the runtime's id of a running container; the pod workers' index implements it.
pub trait ExecTarget: Send + Sync {
    /// kubelet's words when it is not running: `container not found ("c")`.
    fn locate_container(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
    ) -> Result<String, LogError>;

    /// The uid of a pod on this node (for its network namespace): kubelet's 404 words
    /// when it is not here.
    fn locate_pod(&self, namespace: &str, pod: &str) -> Result<String, LogError> {
        let _ = namespace;
        Err(LogError::NotFound(format!("pod {pod:?} does not exist")))
    }
}

/// What the server needs to serve exec.
#[derive(Clone)]
pub struct ExecService {
    pub target: Arc<dyn ExecTarget>,
    pub runtime: Arc<dyn InteractiveExec>,
    /// Where pods' network namespaces are (`clipper-<uid>`), for port-forward: CNI's
    /// default, `/run/netns`.
    pub netns_dir: std::path::PathBuf,
    /// exec and port-forward sessions at once.
    pub(crate) sessions: Arc<tokio::sync::Semaphore>,
}

impl ExecService {
    pub fn new(target: Arc<dyn ExecTarget>, runtime: Arc<dyn InteractiveExec>) -> ExecService {
        ExecService {
            target,
            runtime,
            netns_dir: std::path::PathBuf::from("/run/netns"),
            sessions: Arc::new(tokio::sync::Semaphore::new(MAX_EXEC_SESSIONS)),
        }
    }
}

/// Go's `strconv.ParseBool` truths, as kube decodes its query; kubelet's own query uses "1".
fn truthy(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

impl ExecRequest {
    /// kubelet's `NewOptions`: the streams, the command; stderr is dropped with a tty (the
    /// terminal carries both).
    pub fn from_query(query: &str) -> Result<ExecRequest, String> {
        Self::parse(query, false)
    }

    /// kubelet's attach options: the streams only.
    pub fn attach_from_query(query: &str) -> Result<ExecRequest, String> {
        Self::parse(query, true)
    }

    fn parse(query: &str, attach: bool) -> Result<ExecRequest, String> {
        let mut r = ExecRequest {
            attach,
            ..ExecRequest::default()
        };
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "command" => {
                    if r.command.len() >= MAX_COMMAND_ARGS {
                        return Err(format!(
                            "the command has more than {MAX_COMMAND_ARGS} arguments"
                        ));
                    }
                    r.command.push(v.into_owned());
                }
                "input" | "stdin" => r.stdin = truthy(&v),
                "output" | "stdout" => r.stdout = truthy(&v),
                "error" | "stderr" => r.stderr = truthy(&v),
                "tty" => r.tty = truthy(&v),
                _ => {}
            }
        }
        if r.tty {
            r.stderr = false;
        }
        if !(r.stdin || r.stdout || r.stderr) {
            return Err("you must specify at least 1 of stdin, stdout, stderr".into());
        }
        if r.command.is_empty() && !attach {
            return Err("you must specify at least one command for the container".into());
        }
        Ok(r)
    }
}

/// The protocol to speak: the first the client offers that is served (kube's wsstream
/// order), from every `Sec-WebSocket-Protocol` header, comma-separated.
pub fn negotiate(headers: &HeaderMap) -> Result<&'static str, String> {
    let offered: Vec<String> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    offered
        .iter()
        .find_map(|p| SUPPORTED_PROTOCOLS.iter().find(|s| **s == p).copied())
        .ok_or_else(|| {
            format!(
                "requested protocol(s) are not supported: [{}]; supports [{}]",
                offered.join(" "),
                SUPPORTED_PROTOCOLS.join(" ")
            )
        })
}

/// Whether the request asks for a WebSocket (`Upgrade: websocket`, `Connection: upgrade`).
pub fn is_websocket(headers: &HeaderMap) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .map(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
                .unwrap_or(false)
        })
    };
    has(header::UPGRADE, "websocket") && has(header::CONNECTION, "upgrade")
}

/// A message on a channel.
pub fn frame(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 1);
    out.push(channel);
    out.extend_from_slice(data);
    out
}

/// The Status that ends a session: success, or kubelet's NonZeroExitCode with the code as
/// an `ExitCode` cause (client-go reads it as the exit code, 0–255).
pub fn exit_status(code: i32) -> serde_json::Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: error executing command, exit code {code}"),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// apimachinery's `NewInternalError(err)`, as the error channel carries it.
pub fn internal_error(message: &str) -> serde_json::Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("Internal error occurred: {message}"),
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    })
}

/// A resize message's payload: `{"Width":80,"Height":24}` (Go's field names).
pub fn parse_resize(data: &[u8]) -> Option<(u16, u16)> {
    #[derive(serde::Deserialize)]
    struct Size {
        #[serde(rename = "Width")]
        width: u16,
        #[serde(rename = "Height")]
        height: u16,
    }
    serde_json::from_slice::<Size>(data)
        .ok()
        .map(|s| (s.width, s.height))
}

fn text(status: StatusCode, message: impl Into<String>) -> Response<crate::server::Body> {
    crate::server::text(status, message)
}

/// `/exec/{namespace}/{pod}/{container}`, once the caller is authorized: validates, answers
/// 101 and runs the session on the upgraded connection.
pub fn handle<B: Send + 'static>(
    req: Request<B>,
    rest: &str,
    service: Option<&ExecService>,
) -> Response<crate::server::Body> {
    handle_stream(req, rest, service, false)
}

/// `/attach/{namespace}/{pod}/{container}`: the same sessions as exec, joined to the
/// container's own process through its shim.
pub fn handle_attach<B: Send + 'static>(
    req: Request<B>,
    rest: &str,
    service: Option<&ExecService>,
) -> Response<crate::server::Body> {
    handle_stream(req, rest, service, true)
}

fn handle_stream<B: Send + 'static>(
    mut req: Request<B>,
    rest: &str,
    service: Option<&ExecService>,
    attach: bool,
) -> Response<crate::server::Body> {
    let Some(service) = service else {
        return text(StatusCode::NOT_FOUND, "404 page not found");
    };
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
    if !matches!(*req.method(), http::Method::GET | http::Method::POST) {
        return text(StatusCode::METHOD_NOT_ALLOWED, "405: Method Not Allowed");
    }
    let query = req.uri().query().unwrap_or("");
    let parsed = if attach {
        ExecRequest::attach_from_query(query)
    } else {
        ExecRequest::from_query(query)
    };
    let request = match parsed {
        Ok(r) => r,
        Err(m) => return text(StatusCode::BAD_REQUEST, m),
    };
    if crate::streaming::is_spdy(req.headers()) {
        return handle_spdy(req, request, service, namespace, pod, container);
    }
    if !is_websocket(req.headers()) {
        return text(
            StatusCode::BAD_REQUEST,
            format!(
                "Upgrade request required: a WebSocket ({}) or SPDY/3.1 ({})",
                SUPPORTED_PROTOCOLS.join(", "),
                crate::streaming::EXEC_SPDY_PROTOCOL
            ),
        );
    }
    let protocol = match negotiate(req.headers()) {
        Ok(p) => p,
        Err(m) => return text(StatusCode::BAD_REQUEST, m),
    };
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned() else {
        return text(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key");
    };
    if req
        .headers()
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return text(StatusCode::BAD_REQUEST, "unsupported Sec-WebSocket-Version");
    }
    let Ok(permit) = service.sessions.clone().try_acquire_owned() else {
        return text(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many exec sessions on this node (at most {MAX_EXEC_SESSIONS})"),
        );
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let service = service.clone();
    let (namespace, pod, container) = (
        namespace.to_string(),
        pod.to_string(),
        container.to_string(),
    );
    tokio::spawn(async move {
        let _permit = permit;
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(error = %e, "exec: the upgrade failed");
                return;
            }
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE_BYTES))
            .max_frame_size(Some(MAX_MESSAGE_BYTES));
        let ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        let process = start_process(&service, &namespace, &pod, &container, &request).await;
        run_session(ws, protocol, &request, process).await;
    });
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
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        header::HeaderValue::from_static(protocol),
    );
    resp
}

/// The process of an exec: the container's runtime id, then `runc exec` in it; errors
/// in the words the error channel carries.
async fn start_process(
    service: &ExecService,
    namespace: &str,
    pod: &str,
    container: &str,
    request: &ExecRequest,
) -> Result<ExecProcess, String> {
    match service.target.locate_container(namespace, pod, container) {
        Ok(id) if request.attach => service
            .runtime
            .attach(&id, request)
            .await
            .map_err(|e| format!("error attaching to container: {e}")),
        Ok(id) => service
            .runtime
            .exec_interactive(&id, request)
            .await
            .map_err(|e| format!("error executing command in container: {e}")),
        Err(e) => Err(format!("unable to upgrade connection: {e}")),
    }
}

/// exec upgraded to SPDY (kubectl before 1.30): kubelet's `v4.channel.k8s.io` over
/// SPDY streams (`streaming.rs`), the same process and statuses as the WebSocket.
fn handle_spdy<B: Send + 'static>(
    mut req: Request<B>,
    request: ExecRequest,
    service: &ExecService,
    namespace: &str,
    pod: &str,
    container: &str,
) -> Response<crate::server::Body> {
    let protocol =
        match crate::streaming::negotiate_spdy(req.headers(), crate::streaming::EXEC_SPDY_PROTOCOL)
        {
            Ok(p) => p,
            Err(m) => return text(StatusCode::FORBIDDEN, m),
        };
    let Ok(permit) = service.sessions.clone().try_acquire_owned() else {
        return text(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many exec sessions on this node (at most {MAX_EXEC_SESSIONS})"),
        );
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let service = service.clone();
    let (namespace, pod, container) = (
        namespace.to_string(),
        pod.to_string(),
        container.to_string(),
    );
    tokio::spawn(async move {
        let _permit = permit;
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(error = %e, "exec: the upgrade failed");
                return;
            }
        };
        let (conn, incoming) = clipper_client::spdy::SpdyConnection::start(
            TokioIo::new(upgraded),
            clipper_proto::spdy::Role::Server,
        );
        let start = start_process(&service, &namespace, &pod, &container, &request);
        crate::streaming::run_exec(conn, incoming, request.clone(), start).await;
    });
    crate::streaming::switching_to_spdy(protocol)
}

/// Copies one output pipe to its channel until EOF (or EIO: a pty whose other side closed).
async fn pump(mut from: Pin<Box<dyn AsyncRead + Send>>, channel: u8, to: mpsc::Sender<Vec<u8>>) {
    let mut buf = vec![0u8; OUTPUT_CHUNK_BYTES];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.send(frame(channel, &buf[..n])).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// One session on an upgraded socket: output to the client, its input and resizes to the
/// process, then the Status on the error channel and a close.
pub async fn run_session<S>(
    ws: WebSocketStream<S>,
    protocol: &str,
    request: &ExecRequest,
    process: Result<ExecProcess, String>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut incoming) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(OUTGOING_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.send(Message::Binary(m.into())).await.is_err() {
                return;
            }
        }
        // A normal closure (1000): client-go reads a close without a code (1005) as an
        // error on every stream.
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            })))
            .await;
        let _ = sink.close().await;
    });
    let status_frame =
        |v: serde_json::Value| frame(ERROR, &serde_json::to_vec(&v).unwrap_or_default());
    let mut process = match process {
        Ok(p) => p,
        Err(message) => {
            let _ = tx.send(status_frame(internal_error(&message))).await;
            drop(tx);
            let _ = writer.await;
            return;
        }
    };
    // kubelet's "the connection is established" note: an empty message on the lowest
    // writable channel.
    let first = if request.stdout {
        STDOUT
    } else if request.stderr {
        STDERR
    } else {
        ERROR
    };
    let _ = tx.send(vec![first]).await;
    let mut pumps = Vec::new();
    for (pipe, channel) in [
        (process.stdout.take(), STDOUT),
        (process.stderr.take(), STDERR),
    ] {
        if let Some(pipe) = pipe {
            pumps.push(tokio::spawn(pump(pipe, channel, tx.clone())));
        }
    }
    let mut stdin = process.stdin.take();
    let resize = process.resize.take();
    let closes = protocol == PROTOCOL_V5;
    let input = async {
        while let Some(message) = incoming.next().await {
            let data = match message {
                Ok(Message::Binary(d)) => d,
                Ok(Message::Close(_)) | Err(_) => break,
                // Text (the base64 protocols) is not served; pings are answered by the
                // library.
                Ok(_) => continue,
            };
            let Some((&channel, payload)) = data.split_first() else {
                continue;
            };
            match channel {
                STDIN => {
                    if let Some(w) = stdin.as_mut()
                        && w.write_all(payload).await.is_err()
                    {
                        stdin = None;
                    }
                }
                RESIZE => {
                    if let (Some(f), Some((w, h))) = (resize.as_ref(), parse_resize(payload))
                        && let Err(e) = f(w, h)
                    {
                        tracing::debug!(error = %e, "exec: resizing the terminal");
                    }
                }
                CLOSE if closes && payload.first() == Some(&STDIN) => {
                    if let Some(mut w) = stdin.take() {
                        let _ = w.shutdown().await;
                    }
                }
                _ => {}
            }
        }
    };
    let outcome = tokio::select! {
        code = &mut process.exit => Some(code),
        // The client went away: dropping the process kills it.
        _ = input => None,
    };
    let Some(code) = outcome else {
        drop(process);
        for p in pumps {
            p.abort();
        }
        drop(tx);
        writer.abort();
        return;
    };
    let drained = async {
        for p in pumps {
            let _ = p.await;
        }
    };
    if tokio::time::timeout(DRAIN_AFTER_EXIT, drained)
        .await
        .is_err()
    {
        tracing::debug!("exec: output still open after the command exited; ending the session");
    }
    let status = match code {
        Ok(code) => exit_status(code),
        Err(message) => internal_error(&message),
    };
    let _ = tx.send(status_frame(status)).await;
    drop(tx);
    let _ = writer.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_as_kubelet_decodes_them() {
        let r = ExecRequest::from_query(
            "command=sh&command=-c&command=echo+a%26b&input=1&output=1&error=1",
        )
        .expect("query");
        assert_eq!(r.command, ["sh", "-c", "echo a&b"]);
        assert!(r.stdin && r.stdout && r.stderr && !r.tty);
        // The API server's spelling, and stderr dropped with a tty.
        let r =
            ExecRequest::from_query("command=ls&stdout=true&stderr=true&tty=true").expect("query");
        assert!(r.stdout && !r.stderr && r.tty);
        assert_eq!(
            ExecRequest::from_query("command=ls").unwrap_err(),
            "you must specify at least 1 of stdin, stdout, stderr"
        );
        assert!(ExecRequest::from_query("output=1").is_err());
    }

    #[test]
    fn the_first_offered_protocol_that_is_served_wins() {
        let mut h = HeaderMap::new();
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            "v5.channel.k8s.io, v4.channel.k8s.io"
                .parse()
                .expect("value"),
        );
        assert_eq!(negotiate(&h), Ok(PROTOCOL_V5));
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            "v4.base64.channel.k8s.io,v4.channel.k8s.io"
                .parse()
                .expect("value"),
        );
        assert_eq!(negotiate(&h), Ok(PROTOCOL_V4));
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            "channel.k8s.io".parse().expect("value"),
        );
        assert_eq!(
            negotiate(&h).unwrap_err(),
            "requested protocol(s) are not supported: [channel.k8s.io]; supports [v5.channel.k8s.io v4.channel.k8s.io]"
        );
        let mut h = HeaderMap::new();
        h.insert(header::UPGRADE, "websocket".parse().expect("value"));
        h.insert(
            header::CONNECTION,
            "keep-alive, Upgrade".parse().expect("value"),
        );
        assert!(is_websocket(&h));
        h.insert(header::UPGRADE, "SPDY/3.1".parse().expect("value"));
        assert!(!is_websocket(&h));
    }

    #[test]
    fn statuses_have_kubelets_shape() {
        assert_eq!(
            serde_json::to_string(&exit_status(0)).expect("json"),
            r#"{"metadata":{},"status":"Success"}"#
        );
        let s = exit_status(7);
        assert_eq!(s["status"], "Failure");
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(
            s["details"]["causes"],
            json!([{"reason": "ExitCode", "message": "7"}])
        );
        let e = internal_error("unable to upgrade connection: container not found (\"c\")");
        assert_eq!(
            e["message"],
            "Internal error occurred: unable to upgrade connection: container not found (\"c\")"
        );
        assert_eq!(e["code"], 500);
        assert_eq!(frame(STDOUT, b"hi"), b"\x01hi");
        assert_eq!(parse_resize(br#"{"Width":80,"Height":24}"#), Some((80, 24)));
        assert_eq!(parse_resize(b"junk"), None);
    }
}
