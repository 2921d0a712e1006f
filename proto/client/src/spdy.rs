//! A SPDY/3.1 connection over any async byte stream, driving `clipper_proto::spdy`'s
//! sans-IO [`Session`]: one task reads and hands each stream its data, one task writes
//! what the session queued. Streams are [`SpdyStream`]s (a bounded queue of incoming
//! data) with [`StreamWriter`]s (data and FIN out, back-pressured by the bytes waiting to
//! be written). Used by the node agent (the server side of exec and port-forward) and by
//! `clipper port-forward` (the client side).
//!
//! Reading and writing never wait on each other: a stream whose reader is slow holds up
//! the reading of the connection (as spdystream does: flow control is not used by its
//! peers), never the writing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use clipper_proto::spdy::{self, Event, Headers, Role, Session};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::{Notify, mpsc, oneshot, watch};

/// Data chunks queued per stream for its reader: beyond this the connection's reading
/// waits for the reader.
pub const STREAM_QUEUE: usize = 64;
/// Streams opened by the peer and not yet taken by the application.
pub const ACCEPT_QUEUE: usize = 64;
/// Bytes queued for writing beyond which writers wait for the socket.
pub const MAX_PENDING_OUTPUT: usize = 256 * 1024;
/// Read buffer size.
const READ_CHUNK: usize = 32 * 1024;

struct Slot {
    data: Option<mpsc::Sender<Vec<u8>>>,
    reply: Option<oneshot::Sender<()>>,
}

struct State {
    session: Session,
    streams: HashMap<u32, Slot>,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Output is waiting, or the connection is closing.
    wake_writer: Notify,
    /// The writer wrote what was queued.
    drained: Notify,
    /// True once the connection is gone.
    done: watch::Sender<bool>,
}

/// One SPDY connection; clones share it.
#[derive(Clone)]
pub struct SpdyConnection {
    shared: Arc<Shared>,
}

/// A stream: its id, the headers it was opened with, and the data the peer sends on it.
pub struct SpdyStream {
    pub id: u32,
    pub headers: Headers,
    data: mpsc::Receiver<Vec<u8>>,
    conn: SpdyConnection,
}

/// The sending side of a stream.
#[derive(Clone)]
pub struct StreamWriter {
    id: u32,
    conn: SpdyConnection,
}

fn gone() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::BrokenPipe,
        "the SPDY connection is closed",
    )
}

impl SpdyConnection {
    /// Starts the connection's reader and writer on `io`; returns it and the streams the
    /// peer opens (to [`SpdyStream::accept`] or [`SpdyStream::refuse`]).
    pub fn start<IO>(io: IO, role: Role) -> (SpdyConnection, mpsc::Receiver<SpdyStream>)
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (done, _) = watch::channel(false);
        let conn = SpdyConnection {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    session: Session::new(role),
                    streams: HashMap::new(),
                    closed: false,
                }),
                wake_writer: Notify::new(),
                drained: Notify::new(),
                done,
            }),
        };
        let (reader, writer) = tokio::io::split(io);
        let (accept_tx, accept_rx) = mpsc::channel(ACCEPT_QUEUE);
        tokio::spawn(conn.clone().read_loop(reader, accept_tx));
        tokio::spawn(conn.clone().write_loop(writer));
        (conn, accept_rx)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock means a panic elsewhere; the state is still usable.
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn read_loop<R: AsyncRead + Unpin>(
        self,
        mut reader: R,
        accept: mpsc::Sender<SpdyStream>,
    ) {
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let n = match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let events = {
                let mut st = self.lock();
                match st.session.receive(&buf[..n]) {
                    Ok(events) => events,
                    Err(e) => {
                        tracing::debug!(error = %e, "SPDY: ending the connection");
                        let _ = st.session.go_away(spdy::GOAWAY_PROTOCOL_ERROR);
                        break;
                    }
                }
            };
            self.shared.wake_writer.notify_one();
            for event in events {
                self.dispatch(event, &accept).await;
            }
        }
        self.close_now();
    }

    async fn dispatch(&self, event: Event, accept: &mpsc::Sender<SpdyStream>) {
        match event {
            Event::Opened {
                stream_id,
                headers,
                fin,
            } => {
                let (tx, rx) = mpsc::channel(STREAM_QUEUE);
                self.lock().streams.insert(
                    stream_id,
                    Slot {
                        data: (!fin).then_some(tx),
                        reply: None,
                    },
                );
                let stream = SpdyStream {
                    id: stream_id,
                    headers,
                    data: rx,
                    conn: self.clone(),
                };
                if accept.send(stream).await.is_err() {
                    let mut st = self.lock();
                    let _ = st.session.reset(stream_id, spdy::REFUSED_STREAM);
                    st.streams.remove(&stream_id);
                }
            }
            Event::Replied { stream_id, fin, .. } => {
                let mut st = self.lock();
                if let Some(slot) = st.streams.get_mut(&stream_id) {
                    if let Some(r) = slot.reply.take() {
                        let _ = r.send(());
                    }
                    if fin {
                        slot.data = None;
                    }
                }
            }
            Event::Data {
                stream_id,
                data,
                fin,
            } => {
                let tx = self
                    .lock()
                    .streams
                    .get(&stream_id)
                    .and_then(|s| s.data.clone());
                if let Some(tx) = tx
                    && !data.is_empty()
                {
                    let _ = tx.send(data).await;
                }
                if fin && let Some(slot) = self.lock().streams.get_mut(&stream_id) {
                    slot.data = None;
                }
            }
            Event::Reset { stream_id, .. } => {
                self.lock().streams.remove(&stream_id);
            }
            Event::Pong { .. } | Event::GoAway { .. } => {}
        }
    }

    async fn write_loop<W: AsyncWrite + Unpin>(self, mut writer: W) {
        loop {
            let notified = self.shared.wake_writer.notified();
            let (out, closed) = {
                let mut st = self.lock();
                (st.session.take_output(), st.closed)
            };
            if !out.is_empty() {
                if writer.write_all(&out).await.is_err() || writer.flush().await.is_err() {
                    self.close_now();
                    self.shared.drained.notify_waiters();
                    break;
                }
                self.shared.drained.notify_waiters();
                continue;
            }
            if closed {
                let _ = writer.shutdown().await;
                break;
            }
            notified.await;
        }
        self.shared.drained.notify_waiters();
        // send_replace stores the value even while nobody is subscribed.
        self.shared.done.send_replace(true);
    }

    /// Marks the connection closed: every stream ends, the writer flushes and shuts down.
    fn close_now(&self) {
        {
            let mut st = self.lock();
            st.closed = true;
            st.streams.clear();
        }
        self.shared.wake_writer.notify_one();
    }

    /// Opens a stream and waits for the peer's SYN_REPLY.
    pub async fn open(&self, headers: &Headers) -> std::io::Result<SpdyStream> {
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        let (reply_tx, reply_rx) = oneshot::channel();
        let id = {
            let mut st = self.lock();
            if st.closed {
                return Err(gone());
            }
            let id = st
                .session
                .open(headers, false)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            st.streams.insert(
                id,
                Slot {
                    data: Some(tx),
                    reply: Some(reply_tx),
                },
            );
            id
        };
        self.shared.wake_writer.notify_one();
        reply_rx.await.map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                format!("stream {id} was refused"),
            )
        })?;
        Ok(SpdyStream {
            id,
            headers: headers.clone(),
            data: rx,
            conn: self.clone(),
        })
    }

    /// Sends data (and FIN) on a stream, waiting while too much output is queued.
    async fn send(&self, id: u32, data: &[u8], fin: bool) -> std::io::Result<()> {
        loop {
            let drained = self.shared.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            {
                let mut st = self.lock();
                if st.closed {
                    return Err(gone());
                }
                if st.session.pending_output() < MAX_PENDING_OUTPUT {
                    st.session.send_data(id, data, fin).map_err(|_| gone())?;
                    break;
                }
            }
            self.shared.wake_writer.notify_one();
            drained.await;
        }
        self.shared.wake_writer.notify_one();
        Ok(())
    }

    fn reset(&self, id: u32, status: u32) {
        {
            let mut st = self.lock();
            let _ = st.session.reset(id, status);
            st.streams.remove(&id);
        }
        self.shared.wake_writer.notify_one();
    }

    /// Sends GOAWAY, writes what is queued and closes the connection; returns once done.
    pub async fn shutdown(&self) {
        {
            let mut st = self.lock();
            let _ = st.session.go_away(spdy::GOAWAY_OK);
            st.closed = true;
            st.streams.clear();
        }
        self.shared.wake_writer.notify_one();
        self.closed().await;
    }

    /// Resolves once the connection is gone (the peer closed it, or [`Self::shutdown`]).
    pub async fn closed(&self) {
        let mut rx = self.shared.done.subscribe();
        let _ = rx.wait_for(|d| *d).await;
    }
}

impl SpdyStream {
    /// The value of a header the stream was opened with (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        spdy::header(&self.headers, name)
    }

    /// Accepts a stream the peer opened (SYN_REPLY).
    pub fn accept(&self) -> std::io::Result<()> {
        {
            let mut st = self.conn.lock();
            st.session
                .reply(self.id, &Vec::new(), false)
                .map_err(|_| gone())?;
        }
        self.conn.shared.wake_writer.notify_one();
        Ok(())
    }

    /// Refuses a stream the peer opened (RST_STREAM).
    pub fn refuse(&self) {
        self.conn.reset(self.id, spdy::REFUSED_STREAM);
    }

    /// The next data the peer sent; `None` at its FIN, a reset, or the connection's end.
    pub async fn read(&mut self) -> Option<Vec<u8>> {
        self.data.recv().await
    }

    pub fn writer(&self) -> StreamWriter {
        StreamWriter {
            id: self.id,
            conn: self.conn.clone(),
        }
    }
}

impl StreamWriter {
    pub async fn write(&self, data: &[u8]) -> std::io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.conn.send(self.id, data, false).await
    }

    /// Ends this side of the stream (FIN); already ended is fine.
    pub async fn close(&self) {
        let _ = self.conn.send(self.id, &[], true).await;
    }

    /// Resets the stream (CANCEL).
    pub fn reset(&self) {
        self.conn.reset(self.id, spdy::CANCEL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn a_client_and_a_server_exchange_data() {
        let (a, b) = tokio::io::duplex(1024);
        let (client, _none) = SpdyConnection::start(a, Role::Client);
        let (server, mut incoming) = SpdyConnection::start(b, Role::Server);
        let serve = tokio::spawn(async move {
            let mut s = incoming.recv().await.expect("a stream");
            assert_eq!(s.header("streamType"), Some("data"));
            s.accept().expect("accept");
            let w = s.writer();
            let mut got = Vec::new();
            while let Some(d) = s.read().await {
                got.extend(d);
            }
            // Echo back, much larger than the pipe, then FIN.
            let big: Vec<u8> = got.iter().cycle().take(300_000).copied().collect();
            w.write(&big).await.expect("write");
            w.close().await;
            server.shutdown().await;
        });
        let mut s = client
            .open(&h(&[("streamtype", "data")]))
            .await
            .expect("open");
        let w = s.writer();
        w.write(b"abc").await.expect("write");
        w.close().await;
        let mut got = Vec::new();
        while let Some(d) = s.read().await {
            got.extend(d);
        }
        assert_eq!(got.len(), 300_000);
        assert!(got.starts_with(b"abcabc"));
        serve.await.expect("server");
        client.closed().await;
        assert!(client.open(&h(&[])).await.is_err());
    }
}
