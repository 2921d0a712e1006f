//! `clipper exec POD [-c CONTAINER] [-i] [-t] [-q] -- COMMAND [ARGS...]`: kubectl's exec.
//! The pod is read first (a missing pod, a completed pod and the default container are
//! kubectl's checks and words); the command then runs over a WebSocket to
//! `pods/{name}/exec` speaking `v5.channel.k8s.io` (or v4), as kubectl 1.30+ does: stdin
//! streamed with `-i` (its end sent as v5's close of channel 0), stdout and stderr
//! written as they arrive, and the exit code of the remote command passed on with
//! kubectl's `command terminated with exit code N`. With `-t` and a terminal on stdin,
//! the terminal is raw while the command runs, and its size is sent at the start and on
//! every SIGWINCH.

use std::io::Write as _;
use std::os::fd::AsFd;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio::io::AsyncReadExt as _;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};
use tokio_tungstenite::tungstenite::{self, Message};

use super::logs::choose_container;
use super::{Global, Outcome, Result, ServerError, Session, kubeconfig_path, query};

/// What kubectl offers, preferred first.
pub const PROTOCOLS: &str = "v5.channel.k8s.io, v4.channel.k8s.io";
const PROTOCOL_V5: &str = "v5.channel.k8s.io";

/// Channel bytes of the protocol (agent/src/exec.rs serves them).
const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;
/// Stdin is read and sent in chunks of this size (client-go's buffer).
const STDIN_CHUNK: usize = 32 * 1024;
/// Largest error-channel content kept (one Status).
const MAX_STATUS_BYTES: usize = 64 * 1024;

#[derive(clap::Args)]
pub struct ExecArgs {
    /// POD or pod/NAME.
    #[arg(required = true)]
    pub args: Vec<String>,
    /// The command and its arguments, after `--`.
    #[arg(last = true)]
    pub command: Vec<String>,
    /// Container name [default: the `kubectl.kubernetes.io/default-container` annotation,
    /// else the pod's first container].
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Pass stdin to the container.
    #[arg(short = 'i', long)]
    pub stdin: bool,
    /// Stdin is a TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Only print output from the remote session.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[command(flatten)]
    pub global: Global,
}

/// The pod's name from the arguments, checked as kubectl checks them.
fn pod_name(args: &ExecArgs) -> Result<&str> {
    if args.args.len() > 1 {
        anyhow::bail!(
            "exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] instead"
        );
    }
    let arg = args.args.first().map(String::as_str).unwrap_or_default();
    if arg.is_empty() {
        anyhow::bail!("pod, type/name or --filename must be specified");
    }
    if args.command.is_empty() {
        anyhow::bail!("you must specify at least one command for the container");
    }
    match arg.split_once('/') {
        None => Ok(arg),
        Some(("pod" | "pods" | "po", name)) if !name.is_empty() => Ok(name),
        Some((kind, _)) => anyhow::bail!(
            "cannot exec into {kind}: clipper exec runs commands in pods only (POD or pod/NAME)"
        ),
    }
}

/// How the remote command ended, from the error channel's Status (client-go's v4 error
/// decoder): `Ok(code)` for an exit code (0 on success), `Err(message)` otherwise.
pub fn exit_status(status: &[u8]) -> std::result::Result<u8, String> {
    if status.is_empty() {
        return Ok(0);
    }
    let v: Value = serde_json::from_slice(status).map_err(|e| {
        format!(
            "error stream protocol error: {e} in {:?}",
            String::from_utf8_lossy(status)
        )
    })?;
    match v["status"].as_str() {
        Some("Success") => Ok(0),
        Some("Failure") => {
            if v["reason"].as_str() != Some("NonZeroExitCode") {
                return Err(v["message"].as_str().unwrap_or_default().to_string());
            }
            let Some(causes) = v["details"]["causes"].as_array() else {
                return Err("error stream protocol error: details must be set".into());
            };
            let Some(cause) = causes
                .iter()
                .find(|c| c["reason"].as_str() == Some("ExitCode"))
            else {
                return Err("error stream protocol error: no ExitCode cause given".into());
            };
            let text = cause["message"].as_str().unwrap_or_default();
            text.parse::<u8>().map_err(|_| {
                format!("error stream protocol error: invalid exit code value {text:?}")
            })
        }
        _ => Err("error stream protocol error: unknown error".into()),
    }
}

/// The exec query as client-go encodes `PodExecOptions` (keys sorted, false left out).
fn exec_query(container: &str, command: &[String], stdin: bool, tty: bool) -> String {
    let mut pairs: Vec<(&str, &str)> = command.iter().map(|c| ("command", c.as_str())).collect();
    let flag = |b: bool| if b { "true" } else { "" };
    pairs.extend([
        ("container", container),
        // With a terminal, stderr is merged into stdout by the remote tty.
        ("stderr", flag(!tty)),
        ("stdin", flag(stdin)),
        ("stdout", "true"),
        ("tty", flag(tty)),
    ]);
    query(&pairs)
}

/// The terminal in raw mode while it lives; restored on drop.
struct RawTerminal {
    saved: rustix::termios::Termios,
}

impl RawTerminal {
    fn enter() -> std::io::Result<RawTerminal> {
        let stdin = std::io::stdin();
        let saved = rustix::termios::tcgetattr(stdin.as_fd())?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(stdin.as_fd(), rustix::termios::OptionalActions::Now, &raw)?;
        Ok(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let stdin = std::io::stdin();
        let _ = rustix::termios::tcsetattr(
            stdin.as_fd(),
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
}

/// The terminal's size as a resize message, from stdout's terminal else stdin's.
fn resize_message() -> Option<Message> {
    let size = rustix::termios::tcgetwinsize(std::io::stdout().as_fd())
        .or_else(|_| rustix::termios::tcgetwinsize(std::io::stdin().as_fd()))
        .ok()?;
    let mut body = vec![RESIZE];
    body.extend_from_slice(
        serde_json::json!({"Width": size.ws_col, "Height": size.ws_row})
            .to_string()
            .as_bytes(),
    );
    Some(Message::Binary(body.into()))
}

/// A refused handshake's answer as kubectl shows it: the Status in the body, else the
/// HTTP status.
pub(super) fn handshake_error(code: u16, body: &[u8]) -> anyhow::Error {
    let text = String::from_utf8_lossy(body);
    // The body may carry chunked framing around the JSON.
    let json = match (text.find('{'), text.rfind('}')) {
        (Some(a), Some(b)) if a < b => serde_json::from_str::<Value>(&text[a..=b]).ok(),
        _ => None,
    };
    match json.filter(|v| v["kind"] == "Status") {
        Some(v) => ServerError {
            status: clipper_client::StatusSummary {
                code,
                reason: v["reason"].as_str().unwrap_or_default().to_string(),
                message: v["message"].as_str().unwrap_or_default().to_string(),
            },
            context: None,
        }
        .into(),
        None => anyhow::anyhow!("unable to upgrade connection: {}", text.trim()),
    }
}

pub async fn run(args: ExecArgs) -> Result<Outcome> {
    let name = pod_name(&args)?.to_string();
    let session = Session::new(&args.global)?;
    let ns = session.namespace.clone();
    // A missing pod is the server's Status as it is (`pods "x" not found`).
    let pod = session
        .get(&format!("/api/v1/namespaces/{ns}/pods/{name}"))
        .await?;
    if let Some(phase @ ("Succeeded" | "Failed")) = pod["status"]["phase"].as_str() {
        anyhow::bail!("cannot exec into a container in a completed pod; current phase is {phase}");
    }
    let container = match &args.container {
        // kubectl leaves a named container to the server to check.
        Some(c) => c.clone(),
        None => {
            let (c, note) = choose_container(&pod, None)?;
            if let Some(note) = note.filter(|_| !args.quiet) {
                eprintln!("{note}");
            }
            c
        }
    };
    // kubectl's SetupTTY: a TTY needs stdin, and stdin a terminal.
    let stdin_is_tty = rustix::termios::isatty(std::io::stdin().as_fd());
    let tty = args.tty && args.stdin && stdin_is_tty;
    if args.tty && args.stdin && !stdin_is_tty && !args.quiet {
        eprintln!("Unable to use a TTY - input is not a terminal or the right kind of file");
    }

    let creds = clipper_client::Credentials::from_kubeconfig(&kubeconfig_path(
        args.global.kubeconfig.as_deref(),
    )?)
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let host = if creds.server_name.contains(':') {
        format!("[{}]", creds.server_name)
    } else {
        creds.server_name.clone()
    };
    let q = exec_query(&container, &args.command, args.stdin, tty);
    let uri = format!(
        "wss://{host}:{}/api/v1/namespaces/{ns}/pods/{name}/exec{q}",
        creds.addr.port()
    );
    let mut request = uri.into_client_request()?;
    let headers = request.headers_mut();
    headers.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(PROTOCOLS),
    );
    headers.insert(header::USER_AGENT, HeaderValue::from_static("clipper"));
    if let Some(token) = &creds.token {
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}"))?,
        );
    }
    let stream = clipper_client::connect_http1(&creds)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (ws, response) = match tokio_tungstenite::client_async(request, stream).await {
        Ok(ok) => ok,
        Err(tungstenite::Error::Http(resp)) => {
            let body = resp.body().clone().unwrap_or_default();
            return Err(handshake_error(resp.status().as_u16(), &body));
        }
        Err(e) => anyhow::bail!("unable to upgrade connection: {e}"),
    };
    let v5 = response
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .is_some_and(|p| p.as_bytes() == PROTOCOL_V5.as_bytes());

    let (mut sink, mut incoming) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Message>(16);
    // The writer: stdin, resizes, and pongs go out in order.
    tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
    });
    if args.stdin {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut stdin = tokio::io::stdin();
            let mut buf = vec![0u8; STDIN_CHUNK];
            loop {
                match stdin.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let mut m = Vec::with_capacity(n + 1);
                        m.push(STDIN);
                        m.extend_from_slice(&buf[..n]);
                        if tx.send(Message::Binary(m.into())).await.is_err() {
                            return;
                        }
                    }
                }
            }
            // v4 has no way to say so; v5 closes the stdin channel.
            if v5 {
                let _ = tx.send(Message::Binary(vec![CLOSE, STDIN].into())).await;
            }
        });
    }
    let _raw = if tty {
        let raw = RawTerminal::enter()?;
        if let Some(m) = resize_message() {
            let _ = tx.send(m).await;
        }
        let tx = tx.clone();
        let mut winch =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())?;
        tokio::spawn(async move {
            while winch.recv().await.is_some() {
                if let Some(m) = resize_message()
                    && tx.send(m).await.is_err()
                {
                    break;
                }
            }
        });
        Some(raw)
    } else {
        None
    };

    let mut status = Vec::new();
    while let Some(msg) = incoming.next().await {
        let data = match msg {
            Ok(Message::Binary(data)) => data,
            Ok(Message::Ping(p)) => {
                let _ = tx.send(Message::Pong(p)).await;
                continue;
            }
            Ok(Message::Close(_)) => break,
            Ok(_) => continue,
            Err(e) => {
                drop(_raw);
                anyhow::bail!("error reading from the exec stream: {e}");
            }
        };
        let Some((&channel, payload)) = data.split_first() else {
            continue;
        };
        match channel {
            STDOUT => {
                let mut out = std::io::stdout().lock();
                out.write_all(payload)?;
                out.flush()?;
            }
            STDERR => {
                let mut err = std::io::stderr().lock();
                err.write_all(payload)?;
                err.flush()?;
            }
            ERROR if status.len() + payload.len() <= MAX_STATUS_BYTES => {
                status.extend_from_slice(payload);
            }
            _ => {}
        }
    }
    // The terminal is restored before anything is printed.
    drop(_raw);
    match exit_status(&status) {
        Ok(0) => Ok(Outcome::Success),
        Ok(code) => {
            eprintln!("command terminated with exit code {code}");
            Ok(Outcome::Exit(code))
        }
        Err(message) => anyhow::bail!("{message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        exec: ExecArgs,
    }

    fn parse(args: &[&str]) -> ExecArgs {
        let mut all = vec!["exec"];
        all.extend(args);
        Cli::try_parse_from(all).expect("parses").exec
    }

    #[test]
    fn arguments_parse_as_kubectl_takes_them() {
        let a = parse(&["web", "-c", "main", "-it", "--", "sh", "-c", "echo $X"]);
        assert_eq!(pod_name(&a).expect("pod"), "web");
        assert_eq!(a.container.as_deref(), Some("main"));
        assert!(a.stdin && a.tty);
        assert_eq!(a.command, ["sh", "-c", "echo $X"]);
        let typed = parse(&["pod/web", "--", "ls"]);
        assert_eq!(pod_name(&typed).expect("typed"), "web");
        let no_command = parse(&["web"]);
        assert_eq!(
            pod_name(&no_command).expect_err("no command").to_string(),
            "you must specify at least one command for the container"
        );
        let old_style = parse(&["web", "ls"]);
        assert!(
            pod_name(&old_style)
                .expect_err("old")
                .to_string()
                .contains("is not supported anymore")
        );
        assert!(pod_name(&parse(&["deployment/d", "--", "ls"])).is_err());
    }

    #[test]
    fn the_query_is_client_gos() {
        let cmd = vec!["sh".to_string(), "-c".to_string(), "echo a&b".to_string()];
        assert_eq!(
            exec_query("main", &cmd, false, false),
            "?command=sh&command=-c&command=echo%20a%26b&container=main&stderr=true&stdout=true"
        );
        assert_eq!(
            exec_query("main", &cmd[..1], true, true),
            "?command=sh&container=main&stdin=true&stdout=true&tty=true"
        );
    }

    #[test]
    fn statuses_become_exit_codes() {
        assert_eq!(exit_status(b""), Ok(0));
        assert_eq!(
            exit_status(br#"{"kind":"Status","status":"Success","metadata":{}}"#),
            Ok(0)
        );
        let seven = br#"{"status":"Failure","reason":"NonZeroExitCode","message":"command terminated with non-zero exit code","details":{"causes":[{"reason":"ExitCode","message":"7"}]}}"#;
        assert_eq!(exit_status(seven), Ok(7));
        let internal = br#"{"status":"Failure","reason":"InternalError","message":"Internal error occurred: container not running"}"#;
        assert_eq!(
            exit_status(internal),
            Err("Internal error occurred: container not running".into())
        );
        let no_cause =
            br#"{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[]}}"#;
        assert!(exit_status(no_cause).is_err());
        assert!(exit_status(b"{").is_err());
        assert!(exit_status(br#"{"status":"Weird"}"#).is_err());
    }

    #[test]
    fn refused_handshakes_show_the_status() {
        let body = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"container nope is not valid for pod web","reason":"BadRequest","code":400}"#;
        assert_eq!(
            handshake_error(400, body).to_string(),
            "Error from server (BadRequest): container nope is not valid for pod web"
        );
        assert!(
            handshake_error(502, b"bad gateway")
                .to_string()
                .contains("bad gateway")
        );
    }
}
