//! SPDY on the agent's API, for the clients that speak it (kubectl before 1.30 for exec;
//! every kubectl for port-forward): the upgrade handshake as kubelet answers it
//! (`Upgrade: SPDY/3.1`, the subprotocol chosen from `X-Stream-Protocol-Version`), the
//! WebSocket tunnel kubectl 1.31+ wraps port-forward's SPDY in
//! (`SPDY/3.1+portforward.k8s.io`: each binary message carries connection bytes), and
//! exec over SPDY: kubelet's `v4.channel.k8s.io` remote-command protocol, one stream
//! per channel (`streamType` error, stdin, stdout, stderr, resize), the final
//! `metav1.Status` on the error stream. The process and its statuses are `exec.rs`'s;
//! the SPDY framing is `clipper_proto::spdy` driven by `clipper_client::spdy`.

use std::time::Duration;

use clipper_client::spdy::{SpdyConnection, SpdyStream, StreamWriter};
use futures_util::{SinkExt as _, StreamExt as _};
use http::{HeaderMap, Response, StatusCode, header};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::exec::{
    DRAIN_AFTER_EXIT, ExecProcess, ExecRequest, OUTPUT_CHUNK_BYTES, exit_status, internal_error,
    parse_resize,
};

/// The request and response header naming the stream subprotocol.
pub const PROTOCOL_HEADER: &str = "x-stream-protocol-version";
/// The `Upgrade` token.
pub const SPDY_31: &str = "SPDY/3.1";
/// kubectl 1.31+ port-forward: SPDY inside a WebSocket, this prefix before the protocol.
pub const TUNNELING_PREFIX: &str = "SPDY/3.1+";
/// The remote-command protocol served over SPDY (kubectl 1.27–1.29 offer it first).
pub const EXEC_SPDY_PROTOCOL: &str = "v4.channel.k8s.io";
/// How long a client has to open every stream it asked for (kubelet's default
/// streamCreationTimeout).
pub const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest resize input buffered while waiting for a complete JSON object.
const MAX_RESIZE_BUFFER: usize = 4096;
/// Bytes buffered between a WebSocket tunnel and its SPDY connection.
const TUNNEL_BUFFER: usize = 64 * 1024;

/// Whether the request asks to upgrade to SPDY/3.1.
pub fn is_spdy(headers: &HeaderMap) -> bool {
    headers.get_all(header::UPGRADE).iter().any(|v| {
        v.to_str()
            .map(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(SPDY_31)))
            .unwrap_or(false)
    })
}

/// Every subprotocol the client offers in `X-Stream-Protocol-Version` (repeated or
/// comma-separated).
fn offered(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(PROTOCOL_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The protocol to speak: the first the client offers that is `supported`; kube's
/// handshake words when there is none.
pub fn negotiate_spdy(
    headers: &HeaderMap,
    supported: &'static str,
) -> Result<&'static str, String> {
    let offered = offered(headers);
    if offered.iter().any(|p| p == supported) {
        Ok(supported)
    } else {
        Err(format!(
            "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server supports [{supported:?}]"
        ))
    }
}

/// Whether a WebSocket handshake offers `protocol` tunnelled (`SPDY/3.1+<protocol>`).
pub fn offers_tunnel(headers: &HeaderMap, protocol: &str) -> bool {
    let want = format!("{TUNNELING_PREFIX}{protocol}");
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == want)
}

/// kubelet's 101 for SPDY.
pub fn switching_to_spdy(protocol: &'static str) -> Response<crate::server::Body> {
    let mut resp = Response::new(crate::server::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(
        header::CONNECTION,
        header::HeaderValue::from_static("Upgrade"),
    );
    h.insert(header::UPGRADE, header::HeaderValue::from_static(SPDY_31));
    h.insert(PROTOCOL_HEADER, header::HeaderValue::from_static(protocol));
    resp
}

/// Connection bytes carried in a WebSocket's binary messages (client-go's
/// `TunnelingConnection`): returns the byte stream to run SPDY on.
pub fn websocket_bytes<S>(ws: WebSocketStream<S>) -> tokio::io::DuplexStream
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (ours, theirs) = tokio::io::duplex(TUNNEL_BUFFER);
    tokio::spawn(async move {
        let (mut sink, mut messages) = ws.split();
        let (mut from_spdy, mut to_spdy) = tokio::io::split(ours);
        let inbound = async {
            while let Some(m) = messages.next().await {
                match m {
                    Ok(Message::Binary(d)) => {
                        if to_spdy.write_all(&d).await.is_err() {
                            break;
                        }
                    }
                    Ok(Message::Close(_)) | Err(_) => break,
                    // Text has no meaning here; pings are answered by the library.
                    Ok(_) => {}
                }
            }
            let _ = to_spdy.shutdown().await;
        };
        let outbound = async {
            let mut buf = vec![0u8; OUTPUT_CHUNK_BYTES];
            loop {
                match from_spdy.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if sink
                            .send(Message::Binary(buf[..n].to_vec().into()))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
            let _ = sink
                .send(Message::Close(Some(CloseFrame {
                    code: CloseCode::Normal,
                    reason: "".into(),
                })))
                .await;
            let _ = sink.close().await;
        };
        tokio::join!(inbound, outbound);
    });
    theirs
}

/// The streams of one exec, by type.
#[derive(Default)]
struct ExecStreams {
    error: Option<SpdyStream>,
    stdin: Option<SpdyStream>,
    stdout: Option<SpdyStream>,
    stderr: Option<SpdyStream>,
    resize: Option<SpdyStream>,
}

impl ExecStreams {
    fn slot(&mut self, kind: &str) -> Option<&mut Option<SpdyStream>> {
        match kind {
            "error" => Some(&mut self.error),
            "stdin" => Some(&mut self.stdin),
            "stdout" => Some(&mut self.stdout),
            "stderr" => Some(&mut self.stderr),
            "resize" => Some(&mut self.resize),
            _ => None,
        }
    }

    fn complete(&self, request: &ExecRequest) -> bool {
        self.error.is_some()
            && (!request.stdin || self.stdin.is_some())
            && (!request.stdout || self.stdout.is_some())
            && (!request.stderr || self.stderr.is_some())
            && (!request.tty || self.resize.is_some())
    }
}

/// Copies a process's output to a stream, then ends the stream.
async fn pump(mut from: std::pin::Pin<Box<dyn AsyncRead + Send>>, to: StreamWriter) {
    let mut buf = vec![0u8; OUTPUT_CHUNK_BYTES];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    to.close().await;
}

/// Terminal sizes from the resize stream: JSON objects one after another.
async fn resizes(mut stream: SpdyStream, resize: crate::exec::Resize) {
    let mut buf: Vec<u8> = Vec::new();
    while let Some(data) = stream.read().await {
        buf.extend_from_slice(&data);
        loop {
            let mut objects =
                serde_json::Deserializer::from_slice(&buf).into_iter::<serde_json::Value>();
            match objects.next() {
                Some(Ok(v)) => {
                    let used = objects.byte_offset();
                    if let Some((w, h)) = parse_resize(v.to_string().as_bytes())
                        && let Err(e) = resize(w, h)
                    {
                        tracing::debug!(error = %e, "exec: resizing the terminal");
                    }
                    buf.drain(..used);
                }
                Some(Err(e)) if e.is_eof() => break,
                None => break,
                Some(Err(_)) => {
                    // Not JSON: drop what came, as a decoder error ends kubelet's loop.
                    return;
                }
            }
        }
        if buf.len() > MAX_RESIZE_BUFFER {
            return;
        }
    }
}

/// One exec over SPDY: waits for the client's streams, starts the process with `start`,
/// then relays stdin, output and resizes, and ends with the Status on the error stream.
pub async fn run_exec<F>(
    conn: SpdyConnection,
    mut incoming: mpsc::Receiver<SpdyStream>,
    request: ExecRequest,
    start: F,
) where
    F: std::future::Future<Output = Result<ExecProcess, String>>,
{
    let mut streams = ExecStreams::default();
    let collect = async {
        while let Some(s) = incoming.recv().await {
            let kind = s.header("streamtype").unwrap_or_default().to_string();
            match streams.slot(&kind) {
                Some(slot @ None) => {
                    if s.accept().is_err() {
                        return false;
                    }
                    *slot = Some(s);
                }
                _ => s.refuse(),
            }
            if streams.complete(&request) {
                return true;
            }
        }
        false
    };
    match tokio::time::timeout(STREAM_CREATION_TIMEOUT, collect).await {
        Ok(true) => {}
        _ => {
            tracing::debug!("exec: the client did not open its streams");
            conn.shutdown().await;
            return;
        }
    }
    let Some(error) = streams.error.take() else {
        conn.shutdown().await;
        return;
    };
    let error = error.writer();
    let status = |v: serde_json::Value| serde_json::to_vec(&v).unwrap_or_default();
    let mut process = match start.await {
        Ok(p) => p,
        Err(message) => {
            let _ = error.write(&status(internal_error(&message))).await;
            error.close().await;
            conn.shutdown().await;
            return;
        }
    };
    let mut pumps = Vec::new();
    for (pipe, stream) in [
        (process.stdout.take(), streams.stdout.take()),
        (process.stderr.take(), streams.stderr.take()),
    ] {
        match (pipe, stream) {
            (Some(pipe), Some(stream)) => pumps.push(tokio::spawn(pump(pipe, stream.writer()))),
            (None, Some(stream)) => stream.writer().close().await,
            _ => {}
        }
    }
    let mut tasks = Vec::new();
    if let (Some(mut input), Some(mut w)) = (streams.stdin.take(), process.stdin.take()) {
        tasks.push(tokio::spawn(async move {
            while let Some(data) = input.read().await {
                if w.write_all(&data).await.is_err() {
                    return;
                }
            }
            let _ = w.shutdown().await;
        }));
    }
    if let (Some(stream), Some(resize)) = (streams.resize.take(), process.resize.take()) {
        tasks.push(tokio::spawn(resizes(stream, resize)));
    }
    let outcome = tokio::select! {
        code = &mut process.exit => Some(code),
        // The client went away: dropping the process kills it.
        _ = conn.closed() => None,
    };
    let Some(code) = outcome else {
        drop(process);
        for t in pumps.into_iter().chain(tasks) {
            t.abort();
        }
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
    for t in tasks {
        t.abort();
    }
    let end = match code {
        Ok(code) => exit_status(code),
        Err(message) => internal_error(&message),
    };
    let _ = error.write(&status(end)).await;
    error.close().await;
    conn.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handshake_is_kubelets() {
        let mut h = HeaderMap::new();
        h.insert(header::UPGRADE, "SPDY/3.1".parse().expect("value"));
        assert!(is_spdy(&h));
        h.append(PROTOCOL_HEADER, "v4.channel.k8s.io".parse().expect("value"));
        h.append(PROTOCOL_HEADER, "v3.channel.k8s.io".parse().expect("value"));
        assert_eq!(
            negotiate_spdy(&h, EXEC_SPDY_PROTOCOL),
            Ok(EXEC_SPDY_PROTOCOL)
        );
        let mut old = HeaderMap::new();
        old.insert(PROTOCOL_HEADER, "channel.k8s.io".parse().expect("value"));
        assert_eq!(
            negotiate_spdy(&old, EXEC_SPDY_PROTOCOL).expect_err("refused"),
            "unable to upgrade: unable to negotiate protocol: client supports [\"channel.k8s.io\"], server supports [\"v4.channel.k8s.io\"]"
        );
        let mut ws = HeaderMap::new();
        ws.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            "SPDY/3.1+portforward.k8s.io".parse().expect("value"),
        );
        assert!(offers_tunnel(&ws, "portforward.k8s.io"));
        assert!(!offers_tunnel(&ws, "v4.channel.k8s.io"));
    }
}
