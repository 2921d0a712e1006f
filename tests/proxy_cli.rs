//! `clipper proxy --config` as a user runs it: a real process on a static configuration file
//! relays bytes to a TCP echo backend on loopback, stops cleanly on SIGTERM, and rejects a
//! malformed or missing file with one line and a non-zero exit.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Every socket read and write in this test gives up after this long.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections the echo backend serves before its thread ends.
const ECHO_CONNECTIONS: usize = 8;

/// A child process killed when dropped, so a failing test leaves nothing running.
struct Proxy(Option<Child>);

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A TCP echo server on an ephemeral loopback port, for `ECHO_CONNECTIONS` connections.
fn echo_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind echo backend");
    let addr = listener.local_addr().expect("backend address");
    std::thread::spawn(move || {
        for stream in listener.incoming().take(ECHO_CONNECTIONS) {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(IO_TIMEOUT));
                let _ = s.set_write_timeout(Some(IO_TIMEOUT));
                let mut buf = [0u8; 16 * 1024];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = s.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    addr
}

fn clipper_proxy(config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clipper"));
    cmd.args([
        "proxy",
        "--threads",
        "2",
        "--metrics-address",
        "127.0.0.1:0",
        "--config",
    ])
    .arg(config)
    .env("RUST_LOG", "warn");
    cmd
}

/// Reads the child's stdout until `listening <name> <addr>`; returns the address and the
/// metrics URL printed before it.
fn wait_listening(child: &mut Child, name: &str) -> (SocketAddr, String) {
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut metrics = String::new();
    for line in lines.by_ref() {
        let line = line.expect("utf-8 output");
        if let Some(url) = line.strip_prefix("metrics ") {
            metrics = url.to_string();
        }
        let mut words = line.split_whitespace();
        if words.next() == Some("listening") && words.next() == Some(name) {
            let addr = words
                .next()
                .expect("an address")
                .parse()
                .expect("a socket address");
            // Keep draining so the child never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return (addr, metrics);
        }
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    panic!("clipper proxy exited before listening: {err}");
}

#[test]
fn proxy_relays_tcp_to_an_echo_backend_and_stops_on_sigterm() {
    let backend = echo_backend();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("proxy.yaml");
    std::fs::write(
        &config,
        format!(
            "services:\n  - name: test/echo\n    listen: 127.0.0.1:0\n    backends:\n      - addr: {backend}\n"
        ),
    )
    .expect("write config");
    let mut child = clipper_proxy(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("clipper starts");
    let (addr, metrics) = wait_listening(&mut child, "test/echo");
    let mut proxy = Proxy(Some(child));
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");

    // Three connections, each sending 256 KiB and reading all of it back through the proxy.
    for round in 0..3u8 {
        let mut s = TcpStream::connect(addr).expect("connect to the proxy");
        s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        s.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
        let sent: Vec<u8> = (0..256 * 1024u32)
            .map(|i| (i % 251) as u8 ^ round)
            .collect();
        let mut writer = s.try_clone().expect("clone");
        let to_send = sent.clone();
        let w = std::thread::spawn(move || {
            writer.write_all(&to_send).expect("send through the proxy");
            writer
                .shutdown(std::net::Shutdown::Write)
                .expect("half-close");
        });
        let mut got = Vec::with_capacity(sent.len());
        s.read_to_end(&mut got)
            .expect("read the echo until the backend's FIN");
        w.join().expect("writer");
        assert_eq!(got.len(), sent.len(), "round {round}: every byte came back");
        assert!(got == sent, "round {round}: bytes intact");
    }

    // `clipper proxy stats` summarizes the proxy's /metrics: three connections, every
    // byte counted in both directions, no errors.
    let out = Command::new(env!("CARGO_BIN_EXE_clipper"))
        .args(["proxy", "stats", "--url", &metrics])
        .output()
        .expect("clipper proxy stats runs");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{table}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("test/echo "))
        .unwrap_or_else(|| panic!("a row for test/echo: {table}"))
        .split_whitespace()
        .collect();
    let col = |name: &str| row[header.iter().position(|h| *h == name).expect(name)];
    assert_eq!(
        (col("BACKENDS"), col("ACCEPTED"), col("ERRORS")),
        ("1", "3", "0"),
        "{table}"
    );
    assert_eq!(col("BYTES-IN"), (3 * 256 * 1024).to_string(), "{table}");
    assert_eq!(col("BYTES-OUT"), (3 * 256 * 1024).to_string(), "{table}");
    let out = Command::new(env!("CARGO_BIN_EXE_clipper"))
        .args(["proxy", "stats", "--url", "http://127.0.0.1:1/metrics"])
        .output()
        .expect("clipper proxy stats runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: reading the proxy's metrics: connecting to 127.0.0.1:1:")
            && err.lines().count() == 1,
        "{err}"
    );

    let mut child = proxy.0.take().expect("child");
    // SAFETY: kill(2) on the pid of a child we spawned and have not yet waited for, so the
    // pid cannot have been reused.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0, "SIGTERM delivered");
    let status = child.wait().expect("wait");
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
}

/// Runs `clipper proxy` on `config`; asserts a failure with exactly one `error:` line that
/// contains `expect`.
#[track_caller]
fn assert_rejected(config: &Path, expect: &str) {
    let out = clipper_proxy(config)
        .stdin(Stdio::null())
        .output()
        .expect("clipper runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "non-zero exit; stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(lines[0].contains(expect), "mentions {expect:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout");
}

#[test]
fn malformed_or_missing_configuration_is_one_line_and_a_failure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            "broken.yaml",
            "services: [ {name: x, listen: 127.0.0.1:1\n",
            "parsing",
        ),
        (
            "unknown-key.yaml",
            "services:\n  - name: x\n    listen: 127.0.0.1:0\n    colour: blue\n    backends: []\n",
            "colour",
        ),
        (
            "bad-address.yaml",
            "services:\n  - name: x\n    listen: not-an-address\n    backends: []\n",
            "parsing",
        ),
    ];
    for (file, text, expect) in cases {
        let path = dir.path().join(file);
        std::fs::write(&path, text).expect("write config");
        assert_rejected(&path, expect);
    }
    assert_rejected(&dir.path().join("absent.yaml"), "absent.yaml");
}
