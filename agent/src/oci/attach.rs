//! Attaching to a running container (`kubectl attach`, `kubectl run -i`): the shim's
//! side and the agent's.
//!
//! The shim listens on `<bundle>/attach.sock`. A connection receives the container's
//! output as it is produced — not what came before: attach joins a running stream, as
//! kubelet's does — and may send input and window sizes. Both directions are frames
//! `[kind u8][length u32 BE][payload]`: [`STDIN`] and [`RESIZE`] (columns, rows as u16
//! BE) and [`STDIN_EOF`] from the client, [`STDOUT`] and [`STDERR`] from the shim. When the container exits
//! the shim closes every connection, after the last output.
//!
//! A container with `stdin` reads a pipe the shim holds open between attaches; with
//! `stdinOnce` the shim closes it (the container sees end of file) when the first client
//! that wrote to it ends its input or leaves. With `tty`, runc hands the shim the pty's master over
//! `--console-socket`: output and input go through it, and resizes set its window size.

use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;

use crate::exec::{ExecProcess, ExecRequest};
use crate::runtime::RuntimeError;

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
/// The client's input ended (kubectl's stdin closed): with stdinOnce, the container's
/// too.
pub const STDIN_EOF: u8 = 3;
pub const RESIZE: u8 = 4;
/// The largest payload of one frame.
pub const MAX_FRAME: usize = 64 * 1024;
/// The socket's name in the container's bundle directory.
pub const SOCKET: &str = "attach.sock";
/// A client that cannot take output for this long is dropped, so that one stuck client
/// never blocks the container on its output pipe.
const CLIENT_WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// At most this many attached clients at once.
const MAX_CLIENTS: usize = 16;
const HEADER: usize = 5;

/// One frame's bytes.
pub fn encode(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + data.len());
    out.push(kind);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Frames out of a byte stream, however it was cut.
#[derive(Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole frame; an error for a frame over [`MAX_FRAME`].
    pub fn next_frame(&mut self) -> Result<Option<(u8, Vec<u8>)>, String> {
        if self.buf.len() < HEADER {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if len > MAX_FRAME {
            return Err(format!("attach frame of {len} bytes (at most {MAX_FRAME})"));
        }
        if self.buf.len() < HEADER + len {
            return Ok(None);
        }
        let kind = self.buf[0];
        let data = self.buf[HEADER..HEADER + len].to_vec();
        self.buf.drain(..HEADER + len);
        Ok(Some((kind, data)))
    }
}

/// The shim's attach state: the connected clients, the container's input, its pty.
pub(crate) struct Hub {
    clients: Mutex<Vec<UnixStream>>,
    stdin: Mutex<Option<File>>,
    stdin_once: bool,
    pty: Option<OwnedFd>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Hub {
    pub(crate) fn new(stdin: Option<File>, stdin_once: bool, pty: Option<OwnedFd>) -> Arc<Hub> {
        Arc::new(Hub {
            clients: Mutex::new(Vec::new()),
            stdin: Mutex::new(stdin),
            stdin_once,
            pty,
        })
    }

    /// Sends output to every client; those that fail are dropped.
    pub(crate) fn broadcast(&self, kind: u8, data: &[u8]) {
        let mut clients = lock(&self.clients);
        if clients.is_empty() {
            return;
        }
        let mut frames = Vec::new();
        for chunk in data.chunks(MAX_FRAME) {
            frames.extend_from_slice(&encode(kind, chunk));
        }
        clients.retain_mut(|c| c.write_all(&frames).is_ok());
    }

    /// Ends every attachment (the container exited).
    pub(crate) fn close_all(&self) {
        for c in lock(&self.clients).drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Accepts clients on `listener` for ever (a thread of its own).
    pub(crate) fn serve(self: &Arc<Self>, listener: UnixListener) {
        let hub = Arc::clone(self);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let Ok(writer) = conn.try_clone() else {
                    continue;
                };
                let _ = writer.set_write_timeout(Some(CLIENT_WRITE_TIMEOUT));
                {
                    let mut clients = lock(&hub.clients);
                    if clients.len() >= MAX_CLIENTS {
                        continue; // Dropping `conn` closes it.
                    }
                    clients.push(writer);
                }
                let hub = Arc::clone(&hub);
                std::thread::spawn(move || hub.client(conn));
            }
        });
    }

    /// One client's input, until it leaves.
    fn client(&self, mut conn: UnixStream) {
        let mut decoder = Decoder::default();
        let mut buf = vec![0u8; 16 * 1024];
        let mut wrote_stdin = false;
        'read: loop {
            let n = match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            decoder.push(&buf[..n]);
            loop {
                match decoder.next_frame() {
                    Ok(Some((STDIN, data))) => {
                        wrote_stdin = true;
                        if let Some(stdin) = lock(&self.stdin).as_mut() {
                            // A container that closed its end loses the input; output goes on.
                            let _ = stdin.write_all(&data);
                        }
                    }
                    Ok(Some((STDIN_EOF, _))) => {
                        if self.stdin_once {
                            lock(&self.stdin).take();
                        }
                    }
                    Ok(Some((RESIZE, data))) if data.len() == 4 => {
                        if let Some(pty) = &self.pty {
                            let size = rustix::termios::Winsize {
                                ws_col: u16::from_be_bytes([data[0], data[1]]),
                                ws_row: u16::from_be_bytes([data[2], data[3]]),
                                ws_xpixel: 0,
                                ws_ypixel: 0,
                            };
                            let _ = rustix::termios::tcsetwinsize(pty, size);
                        }
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => break 'read,
                }
            }
        }
        if self.stdin_once && wrote_stdin {
            lock(&self.stdin).take();
        }
    }
}

/// Receives the pty master runc sends over the console socket (SCM_RIGHTS).
pub(crate) fn receive_pty(listener: &UnixListener, timeout: Duration) -> io::Result<OwnedFd> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    // Wait for runc's connection without spinning: poll(2) on the listener, bounded.
    let limit = rustix::event::Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    let mut fds = [rustix::event::PollFd::new(
        listener,
        rustix::event::PollFlags::IN,
    )];
    let ready = rustix::event::poll(&mut fds, Some(&limit))?;
    if ready == 0 {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "runc did not send the console",
        ));
    }
    let (conn, _) = listener.accept()?;
    conn.set_read_timeout(Some(timeout))?;
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut name = [0u8; 256];
    rustix::net::recvmsg(
        &conn,
        &mut [io::IoSliceMut::new(&mut name)],
        &mut control,
        RecvFlags::empty(),
    )?;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = message
            && let Some(fd) = fds.next()
        {
            return Ok(fd);
        }
    }
    Err(io::Error::other("runc sent no console descriptor"))
}

/// The agent's side: attaches to the shim of the container whose bundle is `dir`.
pub async fn attach(dir: &Path, request: &ExecRequest) -> Result<ExecProcess, RuntimeError> {
    let path = dir.join(SOCKET);
    let stream = tokio::net::UnixStream::connect(&path).await.map_err(|e| {
        RuntimeError::Failed(format!(
            "attaching to the container ({}): {e}",
            path.display()
        ))
    })?;
    let (mut read, mut write) = stream.into_split();
    let (to_shim, mut frames) = mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        while let Some(frame) = frames.recv().await {
            if write.write_all(&frame).await.is_err() {
                return;
            }
        }
        let _ = write.shutdown().await;
    });
    let (out_reader, mut out_writer) = tokio::io::duplex(64 * 1024);
    let (err_reader, mut err_writer) = tokio::io::duplex(64 * 1024);
    let (exited_tx, exited) = tokio::sync::oneshot::channel::<()>();
    let (want_out, want_err) = (request.stdout, request.stderr && !request.tty);
    tokio::spawn(async move {
        let mut decoder = Decoder::default();
        let mut buf = vec![0u8; 32 * 1024];
        'read: loop {
            let n = match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            decoder.push(&buf[..n]);
            while let Ok(Some((kind, data))) = decoder.next_frame() {
                let sink = match kind {
                    STDOUT if want_out => &mut out_writer,
                    STDERR if want_err => &mut err_writer,
                    _ => continue,
                };
                if sink.write_all(&data).await.is_err() {
                    break 'read;
                }
            }
        }
        drop((out_writer, err_writer));
        let _ = exited_tx.send(());
    });
    let stdin = if request.stdin {
        let (writer, mut reader) = tokio::io::duplex(64 * 1024);
        let to_shim = to_shim.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(n) = reader.read(&mut buf).await {
                if n == 0 {
                    let _ = to_shim.send(encode(STDIN_EOF, &[]));
                    return;
                }
                if to_shim.send(encode(STDIN, &buf[..n])).is_err() {
                    return;
                }
            }
        });
        Some(Box::pin(writer) as Pin<Box<dyn tokio::io::AsyncWrite + Send>>)
    } else {
        None
    };
    let resize_tx = to_shim.clone();
    let resize = move |columns: u16, rows: u16| -> io::Result<()> {
        let mut size = columns.to_be_bytes().to_vec();
        size.extend_from_slice(&rows.to_be_bytes());
        resize_tx
            .send(encode(RESIZE, &size))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    };
    Ok(ExecProcess {
        stdin,
        stdout: want_out.then(|| Box::pin(out_reader) as Pin<Box<dyn tokio::io::AsyncRead + Send>>),
        stderr: want_err.then(|| Box::pin(err_reader) as Pin<Box<dyn tokio::io::AsyncRead + Send>>),
        resize: request.tty.then(|| Box::new(resize) as crate::exec::Resize),
        // Attach ends when the container's output does (it exited) or the client leaves;
        // kubelet reports no exit code for it.
        exit: Box::pin(async move {
            let _ = exited.await;
            drop(to_shim);
            Ok(0)
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_any_cut() {
        let mut bytes = encode(STDOUT, b"hello");
        bytes.extend(encode(RESIZE, &[0, 80, 0, 24]));
        bytes.extend(encode(STDIN, b""));
        for cut in 0..bytes.len() {
            let mut d = Decoder::default();
            let mut got = Vec::new();
            for part in [&bytes[..cut], &bytes[cut..]] {
                d.push(part);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(
                got,
                vec![
                    (STDOUT, b"hello".to_vec()),
                    (RESIZE, vec![0, 80, 0, 24]),
                    (STDIN, vec![])
                ]
            );
        }
    }

    #[test]
    fn oversized_frames_are_refused() {
        let mut d = Decoder::default();
        d.push(&[STDIN, 0xff, 0xff, 0xff, 0xff]);
        assert!(d.next_frame().is_err());
    }

    #[test]
    fn clients_get_output_and_feed_input() {
        let dir = tempfile::tempdir().unwrap();
        let (stdin_r, stdin_w) = std::io::pipe().unwrap();
        let hub = Hub::new(Some(File::from(OwnedFd::from(stdin_w))), true, None);
        let listener = UnixListener::bind(dir.path().join(SOCKET)).unwrap();
        hub.serve(listener);
        let mut client = UnixStream::connect(dir.path().join(SOCKET)).unwrap();
        client.write_all(&encode(STDIN, b"ping\n")).unwrap();
        let mut stdin_r = stdin_r;
        let mut line = [0u8; 5];
        stdin_r.read_exact(&mut line).unwrap();
        assert_eq!(&line, b"ping\n");
        // Output reaches the client once it is registered (it is, since its input arrived).
        hub.broadcast(STDERR, b"oops");
        let mut frame = [0u8; HEADER + 4];
        client.read_exact(&mut frame).unwrap();
        assert_eq!(frame.to_vec(), encode(STDERR, b"oops"));
        // stdinOnce: the first writer leaving closes the container's stdin.
        drop(client);
        let mut rest = Vec::new();
        stdin_r.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        hub.close_all();
    }
}
