//! Interactive exec on runc ([`InteractiveExec`] for [`OciRuntime`]): `runc exec` in the
//! container, attached to the agent.
//!
//! Without a tty the process gets pipes (or /dev/null for a stream not asked for). With a
//! tty the agent opens a pty pair and gives runc the slave as its stdio, without
//! `--detach`: runc then opens the container's own pty, puts ours in raw mode and relays
//! between the two, and still exits with the process's status. (`--console-socket`, which
//! would hand the container's pty master over SCM_RIGHTS, requires `--detach`, and a
//! detached exec's status is lost to whoever reaps it.) A resize sets our pty's window
//! size and sends runc SIGWINCH, on which runc copies the size to the container's pty.
//!
//! Dropping the process before it exits kills it: runc exec cannot pass SIGKILL on, so the
//! process in the container is killed by the pid runc wrote (`--pid-file`).

use std::path::PathBuf;
use std::process::Stdio;

use rustix::termios::Winsize;

use super::OciRuntime;
use crate::exec::{ExecProcess, ExecRequest, InteractiveExec};
use crate::runtime::{ContainerState, Runtime, RuntimeError};

/// The window size until the client sends its own (a VT100's).
pub const DEFAULT_COLUMNS: u16 = 80;
pub const DEFAULT_ROWS: u16 = 24;

/// Kills the exec'd process (by the pid runc wrote) unless disarmed; removes the pid file.
struct KillOnDrop {
    pid_file: Option<PathBuf>,
    armed: bool,
}

impl KillOnDrop {
    /// The process has exited: nothing to kill.
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let Some(path) = self.pid_file.take() else {
            return;
        };
        if self.armed
            && let Some(pid) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok())
                .and_then(rustix::process::Pid::from_raw)
            && let Err(e) = rustix::process::kill_process(pid, rustix::process::Signal::KILL)
        {
            tracing::debug!(error = %e, "exec: killing an abandoned process");
        }
        let _ = std::fs::remove_file(&path);
    }
}

fn io_error(what: &str) -> impl Fn(std::io::Error) -> RuntimeError + '_ {
    move |e| RuntimeError::Failed(format!("{what}: {e}"))
}

/// The exit code of a finished process: its code, or 128 + the signal that ended it.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt as _;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Starts `command` with pipes for the streams asked for (/dev/null for the others).
/// `pid_file` names the file in which the process's pid will be, to kill it if abandoned.
pub fn spawn_piped(
    mut command: tokio::process::Command,
    request: &ExecRequest,
    pid_file: Option<PathBuf>,
) -> Result<ExecProcess, RuntimeError> {
    let pipe = |on: bool| if on { Stdio::piped() } else { Stdio::null() };
    command
        .stdin(pipe(request.stdin))
        .stdout(pipe(request.stdout))
        .stderr(pipe(request.stderr))
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(io_error("starting runc exec"))?;
    let mut guard = KillOnDrop {
        pid_file,
        armed: true,
    };
    Ok(ExecProcess {
        stdin: child
            .stdin
            .take()
            .map(|w| Box::pin(w) as std::pin::Pin<Box<_>>),
        stdout: child
            .stdout
            .take()
            .map(|r| Box::pin(r) as std::pin::Pin<Box<_>>),
        stderr: child
            .stderr
            .take()
            .map(|r| Box::pin(r) as std::pin::Pin<Box<_>>),
        resize: None,
        exit: Box::pin(async move {
            let status = child.wait().await.map_err(|e| e.to_string())?;
            guard.disarm();
            Ok(exit_code(status))
        }),
    })
}

/// Starts `command` on a new pty: the slave as its stdin, stdout and stderr, the master
/// read and written by the session. A resize sets the pty's size and, with
/// `signal_on_resize`, sends the process SIGWINCH (runc's cue to copy the size inward).
pub fn spawn_on_pty(
    mut command: tokio::process::Command,
    request: &ExecRequest,
    pid_file: Option<PathBuf>,
    signal_on_resize: bool,
) -> Result<ExecProcess, RuntimeError> {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::OpenptFlags;
    let pty = io_error("opening a pty");
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).map_err(|e| pty(e.into()))?;
    rustix::io::fcntl_setfd(&master, rustix::io::FdFlags::CLOEXEC).map_err(|e| pty(e.into()))?;
    rustix::pty::grantpt(&master).map_err(|e| pty(e.into()))?;
    rustix::pty::unlockpt(&master).map_err(|e| pty(e.into()))?;
    let name = rustix::pty::ptsname(&master, Vec::new()).map_err(|e| pty(e.into()))?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| pty(e.into()))?;
    rustix::termios::tcsetwinsize(
        &master,
        Winsize {
            ws_row: DEFAULT_ROWS,
            ws_col: DEFAULT_COLUMNS,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )
    .map_err(|e| pty(e.into()))?;
    let dup = |fd: &std::os::fd::OwnedFd| fd.try_clone().map_err(io_error("duplicating the pty"));
    command
        .stdin(Stdio::from(dup(&slave)?))
        .stdout(Stdio::from(dup(&slave)?))
        .stderr(Stdio::from(slave))
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(io_error("starting runc exec"))?;
    // The command holds the slave's copies until dropped: the master sees EOF (EIO) only
    // once the child's are the last.
    drop(command);
    let mut guard = KillOnDrop {
        pid_file,
        armed: true,
    };
    rustix::io::ioctl_fionbio(&master, true).map_err(|e| pty(e.into()))?;
    let reader = tokio::net::unix::pipe::Receiver::from_owned_fd_unchecked(dup(&master)?)
        .map_err(io_error("registering the pty"))?;
    let writer = tokio::net::unix::pipe::Sender::from_owned_fd_unchecked(dup(&master)?)
        .map_err(io_error("registering the pty"))?;
    let pid = child
        .id()
        .and_then(|p| rustix::process::Pid::from_raw(p as i32));
    let resize = move |columns: u16, rows: u16| -> std::io::Result<()> {
        rustix::termios::tcsetwinsize(
            &master,
            Winsize {
                ws_row: rows,
                ws_col: columns,
                ws_xpixel: 0,
                ws_ypixel: 0,
            },
        )?;
        if signal_on_resize && let Some(pid) = pid {
            rustix::process::kill_process(pid, rustix::process::Signal::WINCH)?;
        }
        Ok(())
    };
    Ok(ExecProcess {
        stdin: request
            .stdin
            .then(|| Box::pin(writer) as std::pin::Pin<Box<_>>),
        stdout: Some(Box::pin(reader)),
        stderr: None,
        resize: Some(Box::new(resize)),
        exit: Box::pin(async move {
            let status = child.wait().await.map_err(|e| e.to_string())?;
            guard.disarm();
            Ok(exit_code(status))
        }),
    })
}

#[async_trait::async_trait]
impl InteractiveExec for OciRuntime {
    async fn exec_interactive(
        &self,
        id: &str,
        request: &ExecRequest,
    ) -> Result<ExecProcess, RuntimeError> {
        if request.command.is_empty() {
            return Err(RuntimeError::InvalidSpec("exec: empty command".into()));
        }
        let status = self.status(id).await?;
        if !matches!(status.state, ContainerState::Running { .. }) {
            return Err(RuntimeError::Failed(format!(
                "container {id} is not running"
            )));
        }
        let pid_file = super::temp_path(&self.container_dir(id), "exec.pid");
        let mut command = tokio::process::Command::new(self.runc_program());
        command
            .arg("--root")
            .arg(self.runc_root())
            .arg("exec")
            .arg("--pid-file")
            .arg(&pid_file);
        if request.tty {
            command.arg("--tty");
        }
        command.arg(id).args(&request.command);
        if request.tty {
            spawn_on_pty(command, request, Some(pid_file), true)
        } else {
            spawn_piped(command, request, Some(pid_file))
        }
    }

    async fn attach(&self, id: &str, request: &ExecRequest) -> Result<ExecProcess, RuntimeError> {
        let status = self.status(id).await?;
        if !matches!(status.state, ContainerState::Running { .. }) {
            return Err(RuntimeError::Failed(format!(
                "container {id} is not running"
            )));
        }
        super::attach::attach(&self.container_dir(id), request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::{RESIZE, STDIN, STDOUT, frame, run_session};
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::Role;

    /// A session over an in-memory socket: the server runs `process`, the client sends
    /// `input` messages after the first output, and gets every message until the close.
    async fn session(
        request: ExecRequest,
        process: ExecProcess,
        input: Vec<Vec<u8>>,
    ) -> Vec<Vec<u8>> {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move {
            let ws = WebSocketStream::from_raw_socket(a, Role::Server, None).await;
            run_session(ws, crate::exec::PROTOCOL_V5, &request, Ok(process)).await;
        });
        let mut client = WebSocketStream::from_raw_socket(b, Role::Client, None).await;
        for m in input {
            client.send(Message::Binary(m.into())).await.expect("send");
        }
        let mut got = Vec::new();
        while let Some(m) = client.next().await {
            match m.expect("message") {
                Message::Binary(d) => got.push(d.to_vec()),
                Message::Close(_) => break,
                _ => {}
            }
        }
        server.await.expect("session");
        got
    }

    fn channel(got: &[Vec<u8>], ch: u8) -> String {
        got.iter()
            .filter(|m| m.first() == Some(&ch))
            .map(|m| String::from_utf8_lossy(&m[1..]).into_owned())
            .collect()
    }

    #[tokio::test]
    async fn pipes_carry_the_streams_and_the_exit_code() {
        let request = ExecRequest {
            command: vec![],
            stdin: true,
            stdout: true,
            stderr: true,
            tty: false,
            attach: false,
        };
        let mut command = tokio::process::Command::new("sh");
        command.args(["-c", "cat; echo err >&2; exit 7"]);
        let process = spawn_piped(command, &request, None).expect("spawn");
        let got = session(
            request,
            process,
            vec![frame(STDIN, b"hello\n"), vec![crate::exec::CLOSE, STDIN]],
        )
        .await;
        assert_eq!(
            got[0],
            vec![STDOUT],
            "the first message says the stream is up"
        );
        assert_eq!(channel(&got, STDOUT), "hello\n");
        assert_eq!(channel(&got, 2), "err\n");
        let status: serde_json::Value = serde_json::from_str(&channel(&got, 3)).expect("a Status");
        assert_eq!(status["reason"], "NonZeroExitCode");
        assert_eq!(status["details"]["causes"][0]["message"], "7");
    }

    #[tokio::test]
    async fn a_tty_has_a_size_that_resizes_change() {
        let request = ExecRequest {
            command: vec![],
            stdin: true,
            stdout: true,
            stderr: false,
            tty: true,
            attach: false,
        };
        let mut command = tokio::process::Command::new("sh");
        // `stty size` reads the terminal's size; `read` waits for the resize to be done.
        command.args(["-c", "stty size; read x; stty size; test -t 0 && echo tty"]);
        let process = spawn_on_pty(command, &request, None, false).expect("spawn");
        let got = session(
            request,
            process,
            vec![
                frame(RESIZE, br#"{"Width":100,"Height":40}"#),
                frame(STDIN, b"go\n"),
            ],
        )
        .await;
        let out = channel(&got, STDOUT);
        assert!(out.contains("40 100"), "{out:?}");
        assert!(out.contains("tty"), "{out:?}");
        assert_eq!(channel(&got, 3), r#"{"metadata":{},"status":"Success"}"#);
    }
}
