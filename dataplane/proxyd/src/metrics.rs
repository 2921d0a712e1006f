//! The proxy's observability: `/metrics` (Prometheus text, per service and per backend)
//! and `/healthz` over plain HTTP on a local address (kube-proxy serves the same on
//! 127.0.0.1:10249), and the summary `clipper proxy stats` prints from a scrape.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use clipper_dataplane::metrics::Metrics;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// kube-proxy's metrics address.
pub const DEFAULT_METRICS_ADDRESS: &str = "127.0.0.1:10249";
/// Scrapes served at once; more wait in the listen backlog.
const MAX_CONCURRENT_SCRAPES: usize = 64;

fn respond(metrics: &Metrics, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, ctype, body) = match req.uri().path() {
        "/metrics" => (
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.render_prometheus(),
        ),
        "/healthz" => (200, "text/plain; charset=utf-8", "ok\n".to_string()),
        _ => (404, "text/plain; charset=utf-8", "not found\n".to_string()),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    if let Ok(v) = hyper::header::HeaderValue::from_str(ctype) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// Binds `addr` and serves until `stop` turns true. Returns the bound address once
/// listening and the serving task.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_SCRAPES));
    let task = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = stop.changed() => return,
                a = listener.accept() => a,
            };
            let Ok((stream, _)) = accepted else {
                continue;
            };
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let r = respond(&metrics, &req);
                    async move { Ok::<_, Infallible>(r) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                drop(permit);
            });
        }
    });
    Ok((bound, task))
}

/// One service's line in `clipper proxy stats`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceSummary {
    pub accepted: u64,
    pub active: u64,
    pub backends: usize,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Refused at the connection limit, no endpoint, connects exhausted, connect errors.
    pub errors: u64,
    pub udp_flows: u64,
    /// Backend connect latency quantiles from the histogram buckets (upper bounds), s.
    pub connect_p50: Option<f64>,
    pub connect_p99: Option<f64>,
}

/// `name{labels} value` → (name, labels, value); comments and malformed lines are None.
fn parse_line(line: &str) -> Option<(&str, BTreeMap<&str, String>, f64)> {
    if line.starts_with('#') || line.trim().is_empty() {
        return None;
    }
    let (head, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let (name, labels) = match head.split_once('{') {
        Some((n, rest)) => (n, rest.strip_suffix('}')?),
        None => (head, ""),
    };
    let mut map = BTreeMap::new();
    let mut rest = labels;
    while !rest.is_empty() {
        let (k, after) = rest.split_once("=\"")?;
        // Values are escaped (\\, \", \n); find the closing quote.
        let mut v = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => v.push('\n'),
                    Some((_, other)) => v.push(other),
                    None => return None,
                },
                '"' => {
                    end = Some(i);
                    break;
                }
                c => v.push(c),
            }
        }
        let end = end?;
        map.insert(k.trim_start_matches(','), v);
        rest = after[end + 1..].trim_start_matches(',');
    }
    Some((name, map, value))
}

/// Summarizes a `/metrics` scrape by service.
pub fn summarize(text: &str) -> BTreeMap<String, ServiceSummary> {
    let mut out: BTreeMap<String, ServiceSummary> = BTreeMap::new();
    // service → le → cumulative count (summed over backends)
    let mut buckets: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let mut backends: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for line in text.lines() {
        let Some((name, labels, v)) = parse_line(line) else {
            continue;
        };
        let Some(svc) = labels.get("service") else {
            continue;
        };
        let s = out.entry(svc.clone()).or_default();
        let n = v as u64;
        match name {
            "clipper_proxy_accepted_total" => s.accepted += n,
            "clipper_proxy_udp_flows" => s.udp_flows += n,
            "clipper_proxy_refused_limit_total"
            | "clipper_proxy_no_endpoint_total"
            | "clipper_proxy_connect_exhausted_total"
            | "clipper_proxy_backend_connect_errors_total" => s.errors += n,
            "clipper_proxy_backend_active_connections" => s.active += n,
            "clipper_proxy_backend_bytes_to_backend_total" => s.bytes_in += n,
            "clipper_proxy_backend_bytes_from_backend_total" => s.bytes_out += n,
            "clipper_proxy_backend_connect_latency_seconds_bucket" => {
                if let Some(le) = labels.get("le") {
                    *buckets
                        .entry(svc.clone())
                        .or_default()
                        .entry(le.clone())
                        .or_default() += v;
                }
            }
            _ => {}
        }
        if let Some(b) = labels.get("backend") {
            backends.entry(svc.clone()).or_default().insert(b.clone());
        }
    }
    for (svc, set) in backends {
        if let Some(s) = out.get_mut(&svc) {
            s.backends = set.len();
        }
    }
    for (svc, b) in buckets {
        let mut sorted: Vec<(f64, f64)> = b
            .iter()
            .map(|(le, c)| {
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap_or(f64::INFINITY)
                };
                (le, *c)
            })
            .collect();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total = sorted.last().map_or(0.0, |l| l.1);
        let q = |p: f64| {
            (total > 0.0)
                .then(|| {
                    sorted
                        .iter()
                        .find(|(_, c)| *c >= p * total)
                        .map(|(le, _)| *le)
                })
                .flatten()
        };
        if let Some(s) = out.get_mut(&svc) {
            s.connect_p50 = q(0.5);
            s.connect_p99 = q(0.99);
        }
    }
    out
}

fn duration(s: Option<f64>) -> String {
    match s {
        None => "-".into(),
        Some(v) if v.is_infinite() => ">5s".into(),
        Some(v) if v < 1e-3 => format!("≤{}µs", (v * 1e6).round()),
        Some(v) => format!("≤{}ms", (v * 1e3 * 10.0).round() / 10.0),
    }
}

/// The table `clipper proxy stats` prints.
pub fn render_table(summary: &BTreeMap<String, ServiceSummary>) -> String {
    let mut rows = vec![[
        "SERVICE".to_string(),
        "BACKENDS".into(),
        "ACCEPTED".into(),
        "ACTIVE".into(),
        "BYTES-IN".into(),
        "BYTES-OUT".into(),
        "ERRORS".into(),
        "UDP-FLOWS".into(),
        "CONNECT-P50".into(),
        "CONNECT-P99".into(),
    ]];
    for (name, s) in summary {
        rows.push([
            name.clone(),
            s.backends.to_string(),
            s.accepted.to_string(),
            s.active.to_string(),
            s.bytes_in.to_string(),
            s.bytes_out.to_string(),
            s.errors.to_string(),
            s.udp_flows.to_string(),
            duration(s.connect_p50),
            duration(s.connect_p99),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}

/// How long `clipper proxy stats` waits for a scrape.
pub const SCRAPE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Fetches `http://host:port/path` (plain HTTP/1.1, as the metrics endpoint serves it).
pub async fn scrape(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/metrics"),
    };
    let work = async {
        let stream = tokio::net::TcpStream::connect(authority)
            .await
            .map_err(|e| format!("connecting to {authority}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("{authority}: {e}"))?;
        tokio::spawn(conn);
        let req = Request::get(path)
            .header(hyper::header::HOST, authority)
            .body(http_body_util::Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status();
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .map_err(|e| format!("{url}: {e}"))?
            .to_bytes();
        if !status.is_success() {
            return Err(format!("{url}: HTTP {status}"));
        }
        String::from_utf8(body.to_vec()).map_err(|_| format!("{url}: the body is not UTF-8"))
    };
    tokio::time::timeout(SCRAPE_TIMEOUT, work)
        .await
        .map_err(|_| format!("{url}: no answer within {SCRAPE_TIMEOUT:?}"))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    #[test]
    fn summary_of_a_scrape() {
        let m = Metrics::default();
        let a: SocketAddr = "10.1.0.1:8080".parse().unwrap();
        let b: SocketAddr = "10.1.0.2:8080".parse().unwrap();
        let name = "default/web:http/10.96.0.20:80";
        m.service(name).accepted.fetch_add(7, Relaxed);
        m.service(name).no_endpoint.fetch_add(1, Relaxed);
        let ba = m.backend(name, a);
        ba.connections.fetch_add(4, Relaxed);
        ba.active.fetch_add(2, Relaxed);
        ba.bytes_to_backend.fetch_add(100, Relaxed);
        ba.bytes_from_backend.fetch_add(1000, Relaxed);
        ba.connect_latency.observe(70_000);
        let bb = m.backend(name, b);
        bb.connect_errors.fetch_add(2, Relaxed);
        bb.connect_latency.observe(3_000_000);
        m.service("other \"quoted\"")
            .udp_flows
            .fetch_add(3, Relaxed);
        let s = summarize(&m.render_prometheus());
        let web = &s[name];
        assert_eq!(
            (
                web.accepted,
                web.active,
                web.backends,
                web.bytes_in,
                web.bytes_out,
                web.errors
            ),
            (7, 2, 2, 100, 1000, 3)
        );
        assert_eq!(
            web.connect_p50,
            Some(1e-4),
            "70 µs falls in the ≤100 µs bucket"
        );
        assert_eq!(
            web.connect_p99,
            Some(5e-3),
            "3 ms falls in the ≤5 ms bucket"
        );
        assert_eq!(s["other \"quoted\""].udp_flows, 3, "escaped label values");
        let table = render_table(&s);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("SERVICE"));
        assert!(
            lines[1].contains(name) && lines[1].contains("≤100µs") && lines[1].contains("≤5ms"),
            "{table}"
        );
        assert!(summarize("garbage {{ line\n# only a comment\nx{service=\"a\" 1\n").is_empty());
    }
}
