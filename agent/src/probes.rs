//! Container probes as the kubelet runs them: startup, liveness and readiness, each an
//! exec, HTTP GET or TCP check with its initial delay, period, timeout and thresholds.
//!
//! [`Tracker`] is the pure part (results in, time passed in, state out); [`check`] runs
//! one probe against a container.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use clipper_proto::IntOrString;
use clipper_proto::api::core::v1::{Container, Probe};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::runtime::Runtime;

/// The largest HTTP probe response read: the status line is all that matters, and
/// kubelet reads at most 10 KiB of a probe's body.
pub const MAX_HTTP_PROBE_RESPONSE: usize = 10 * 1024;

/// A probe's schedule and thresholds, with Kubernetes' defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

impl Schedule {
    pub fn of(p: &Probe) -> Schedule {
        let secs = |v: Option<i32>, default: u64, min: u64| {
            Duration::from_secs(v.map_or(default, |s| (s.max(0) as u64).max(min)))
        };
        Schedule {
            initial_delay: secs(p.initial_delay_seconds, 0, 0),
            period: secs(p.period_seconds, 10, 1),
            timeout: secs(p.timeout_seconds, 1, 1),
            success_threshold: p.success_threshold.map_or(1, |t| t.max(1) as u32),
            failure_threshold: p.failure_threshold.map_or(3, |t| t.max(1) as u32),
        }
    }
}

/// One probe of one container attempt.
#[derive(Clone, Debug)]
pub struct Tracker {
    pub schedule: Schedule,
    /// The next time the probe is due.
    next: Instant,
    successes: u32,
    failures: u32,
    /// The probe's current verdict; `initial` until a threshold is crossed.
    pub result: bool,
}

impl Tracker {
    /// A tracker for a container that started at `started`. `initial` is the verdict
    /// before any threshold is crossed: false for readiness and startup, true for
    /// liveness.
    pub fn new(schedule: Schedule, started: Instant, initial: bool) -> Tracker {
        Tracker {
            schedule,
            next: started + schedule.initial_delay,
            successes: 0,
            failures: 0,
            result: initial,
        }
    }

    pub fn due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// Whether the failure threshold has been reached (a startup probe's end).
    pub fn failed(&self) -> bool {
        self.failures >= self.schedule.failure_threshold
    }

    /// Records one outcome at `now`; returns the verdict.
    pub fn record(&mut self, ok: bool, now: Instant) -> bool {
        self.next = now + self.schedule.period;
        if ok {
            self.failures = 0;
            self.successes += 1;
            if self.successes >= self.schedule.success_threshold {
                self.result = true;
            }
        } else {
            self.successes = 0;
            self.failures += 1;
            if self.failures >= self.schedule.failure_threshold {
                self.result = false;
            }
        }
        self.result
    }
}

/// The probes of one container attempt.
#[derive(Clone, Debug)]
pub struct ContainerProbes {
    pub attempt: u32,
    pub startup: Option<Tracker>,
    pub liveness: Option<Tracker>,
    pub readiness: Option<Tracker>,
}

impl ContainerProbes {
    pub fn new(c: &Container, attempt: u32, started: Instant) -> ContainerProbes {
        let t = |p: &Option<Probe>, initial| {
            p.as_ref()
                .map(|p| Tracker::new(Schedule::of(p), started, initial))
        };
        ContainerProbes {
            attempt,
            startup: t(&c.startup_probe, false),
            liveness: t(&c.liveness_probe, true),
            readiness: t(&c.readiness_probe, false),
        }
    }

    /// Whether the startup probe (if any) has passed: until then the others wait.
    pub fn started(&self) -> bool {
        self.startup.as_ref().is_none_or(|t| t.result)
    }

    /// Whether the container counts as ready.
    pub fn ready(&self) -> bool {
        self.started() && self.readiness.as_ref().is_none_or(|t| t.result)
    }
}

/// Resolves a probe's port: a number, or the name of one of the container's ports.
fn port(c: &Container, p: &IntOrString) -> Result<u16, String> {
    match p {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| format!("invalid port {n}")),
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|cp| cp.name.as_deref() == Some(name.as_str()))
            .and_then(|cp| u16::try_from(cp.container_port).ok())
            .ok_or_else(|| format!("port {name:?} is not a named port of the container")),
    }
}

/// The HTTP status code of a response's status line.
pub fn http_status(response: &[u8]) -> Option<u16> {
    let line = response.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

async fn http_get(
    addr: SocketAddr,
    host: &str,
    path: &str,
    headers: &HashMap<String, String>,
) -> Result<u16, String> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("Get \"http://{addr}{path}\": {e}"))?;
    let mut request = format!("GET {path} HTTP/1.1\r\n");
    let has = |name: &str| headers.keys().any(|k| k.eq_ignore_ascii_case(name));
    if !has("host") {
        request.push_str(&format!("Host: {host}\r\n"));
    }
    if !has("user-agent") {
        request.push_str("User-Agent: kube-probe/1.33\r\n");
    }
    if !has("accept") {
        request.push_str("Accept: */*\r\n");
    }
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("Get \"http://{addr}{path}\": {e}"))?;
    let mut buf = vec![0u8; MAX_HTTP_PROBE_RESPONSE];
    let mut read = 0;
    while read < buf.len() && !buf[..read].contains(&b'\n') {
        match stream.read(&mut buf[read..]).await {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) => return Err(format!("Get \"http://{addr}{path}\": {e}")),
        }
    }
    http_status(&buf[..read])
        .ok_or_else(|| format!("Get \"http://{addr}{path}\": malformed HTTP response"))
}

/// Runs one probe; `Err` carries the failure's message (for the `Unhealthy` event).
pub async fn check(
    runtime: &dyn Runtime,
    container_id: &str,
    c: &Container,
    probe: &Probe,
    pod_ip: Option<IpAddr>,
) -> Result<(), String> {
    let timeout = Schedule::of(probe).timeout;
    if let Some(exec) = &probe.exec {
        let command = exec.command.clone().unwrap_or_default();
        let out = runtime
            .exec(container_id, &command, timeout)
            .await
            .map_err(|e| e.to_string())?;
        if out.exit_code == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "command {:?} exited with {}: {}",
            command.join(" "),
            out.exit_code,
            text.trim()
        ));
    }
    if let Some(h) = &probe.http_get {
        if h.scheme
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("HTTPS"))
        {
            return Err("HTTPS probes are not supported by Clipper's agent yet".into());
        }
        let ip = match h.host.as_deref().filter(|h| !h.is_empty()) {
            Some(host) => host
                .parse::<IpAddr>()
                .map_err(|_| format!("probe host {host:?} must be an IP address"))?,
            None => pod_ip.ok_or("the pod has no IP yet")?,
        };
        let addr = SocketAddr::new(ip, port(c, &h.port)?);
        let mut path = h.path.clone().unwrap_or_else(|| "/".into());
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        let headers: HashMap<String, String> = h
            .http_headers
            .iter()
            .flatten()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect();
        let status = tokio::time::timeout(timeout, http_get(addr, &addr.to_string(), &path, &headers))
            .await
            .map_err(|_| {
                format!("Get \"http://{addr}{path}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)")
            })??;
        return if (200..400).contains(&status) {
            Ok(())
        } else {
            Err(format!("HTTP probe failed with statuscode: {status}"))
        };
    }
    if let Some(t) = &probe.tcp_socket {
        let ip = match t.host.as_deref().filter(|h| !h.is_empty()) {
            Some(host) => host
                .parse::<IpAddr>()
                .map_err(|_| format!("probe host {host:?} must be an IP address"))?,
            None => pod_ip.ok_or("the pod has no IP yet")?,
        };
        let addr = SocketAddr::new(ip, port(c, &t.port)?);
        return match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("dial tcp {addr}: {e}")),
            Err(_) => Err(format!("dial tcp {addr}: i/o timeout")),
        };
    }
    if probe.grpc.is_some() {
        return Err("gRPC probes are not supported by Clipper's agent yet".into());
    }
    Err("the probe has no handler".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(success: u32, failure: u32) -> Schedule {
        Schedule {
            initial_delay: Duration::from_secs(5),
            period: Duration::from_secs(10),
            timeout: Duration::from_secs(1),
            success_threshold: success,
            failure_threshold: failure,
        }
    }

    /// Feeds outcomes one period apart; returns the verdict after each.
    fn check_run(initial: bool, s: Schedule, outcomes: &[bool], expect: &[bool]) {
        let t0 = Instant::now();
        let mut t = Tracker::new(s, t0, initial);
        assert!(!t.due(t0), "not before the initial delay");
        let mut now = t0 + s.initial_delay;
        let mut got = Vec::new();
        for &ok in outcomes {
            assert!(t.due(now));
            got.push(t.record(ok, now));
            assert!(!t.due(now + s.period - Duration::from_millis(1)));
            now += s.period;
        }
        assert_eq!(got, expect, "outcomes {outcomes:?}");
    }

    #[test]
    fn thresholds_flip_the_verdict() {
        // Readiness: not ready until a success; three failures to turn not-ready again.
        check_run(
            false,
            schedule(1, 3),
            &[false, true, false, false, false, true],
            &[false, true, true, true, false, true],
        );
        // Liveness: alive until three failures in a row; a success resets the count.
        check_run(
            true,
            schedule(1, 3),
            &[false, false, true, false, false, false],
            &[true, true, true, true, true, false],
        );
        // successThreshold 2.
        check_run(
            false,
            schedule(2, 1),
            &[true, true, false, true],
            &[false, true, false, false],
        );
    }

    #[test]
    fn defaults_are_kubernetes() {
        let s = Schedule::of(&Probe::default());
        assert_eq!(
            s,
            Schedule {
                initial_delay: Duration::ZERO,
                period: Duration::from_secs(10),
                timeout: Duration::from_secs(1),
                success_threshold: 1,
                failure_threshold: 3,
            }
        );
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(http_status(b"HTTP/1.1 200 OK\r\n\r\n"), Some(200));
        assert_eq!(
            http_status(b"HTTP/1.0 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(http_status(b"garbage"), None);
        assert_eq!(http_status(b"HTTP/1.1 abc\r\n"), None);
        assert_eq!(http_status(b""), None);
    }

    #[test]
    fn probes_and_readiness() {
        let c: Container = serde_json::from_value(serde_json::json!({
            "name": "c",
            "ports": [{"name": "http", "containerPort": 8080}],
            "readinessProbe": {"httpGet": {"port": "http"}},
            "startupProbe": {"tcpSocket": {"port": 8080}},
        }))
        .expect("container");
        assert_eq!(port(&c, &IntOrString::String("http".into())), Ok(8080));
        assert!(port(&c, &IntOrString::String("nope".into())).is_err());
        let now = Instant::now();
        let mut p = ContainerProbes::new(&c, 0, now);
        assert!(!p.started() && !p.ready());
        if let Some(s) = p.startup.as_mut() {
            s.record(true, now);
        }
        assert!(p.started() && !p.ready(), "readiness still pending");
        if let Some(r) = p.readiness.as_mut() {
            r.record(true, now);
        }
        assert!(p.ready());
        assert!(p.liveness.is_none());
    }
}
