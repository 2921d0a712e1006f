//! Per-service and per-backend counters and a connect-latency histogram, rendered as
//! Prometheus text. Counters are relaxed atomics shared by all cores.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::Nanos;

/// Upper bounds of the latency buckets, in microseconds (50 µs … 5 s).
pub const LATENCY_BUCKETS_US: [u64; 16] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000,
];

/// A fixed-bucket histogram of durations.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS_US.len()],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Histogram {
    /// Records one duration.
    pub fn observe(&self, d: Nanos) {
        let us = d / 1_000;
        if let Some(i) = LATENCY_BUCKETS_US.iter().position(|b| us <= *b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(d, Relaxed);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, b) in LATENCY_BUCKETS_US.iter().enumerate() {
            cumulative += self.buckets[i].load(Relaxed);
            let le = *b as f64 / 1e6;
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let sum = self.sum_ns.load(Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// Counters of one backend of one service.
#[derive(Debug, Default)]
pub struct BackendStats {
    /// Connections currently established to this backend (also the least-connections load).
    pub active: AtomicU64,
    /// Connections established.
    pub connections: AtomicU64,
    /// Connect attempts refused, timed out or failed.
    pub connect_errors: AtomicU64,
    /// Connections ended by a reset (either side) or an I/O error.
    pub resets: AtomicU64,
    /// Bytes relayed client → backend.
    pub bytes_to_backend: AtomicU64,
    /// Bytes relayed backend → client.
    pub bytes_from_backend: AtomicU64,
    /// UDP datagrams forwarded to this backend.
    pub datagrams_to_backend: AtomicU64,
    /// Time from connect issued to connect completed.
    pub connect_latency: Histogram,
}

/// Counters of one service.
#[derive(Debug, Default)]
pub struct ServiceStats {
    /// Connections accepted and handed to the balancer.
    pub accepted: AtomicU64,
    /// Connections refused because the core was at its connection limit.
    pub refused_limit: AtomicU64,
    /// Connections or datagrams dropped because no endpoint was usable.
    pub no_endpoint: AtomicU64,
    /// Connections that exhausted their connect attempts.
    pub connect_exhausted: AtomicU64,
    /// Connections closed by the idle timeout.
    pub idle_timeouts: AtomicU64,
    /// UDP flows currently open.
    pub udp_flows: AtomicU64,
    /// UDP datagrams dropped (flow table full, flow gone).
    pub udp_dropped: AtomicU64,
}

#[derive(Debug, Default)]
struct ServiceEntry {
    stats: Arc<ServiceStats>,
    /// Hashed, not ordered: an endpoint update adds and drops series in O(1) each; rendering
    /// sorts.
    backends: crate::hash::AddrMap<Arc<BackendStats>>,
}

/// The registry of all stats, keyed by service name and backend address. Touched only when
/// tables are built and when rendering, never per connection.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<BTreeMap<String, ServiceEntry>>,
    /// Services whose sockets could not be bound.
    bind_errors: AtomicU64,
    /// Service addresses listened on (each by every thread).
    listeners: AtomicU64,
    /// Connections that should have kept the client's address and could not.
    transparent_failures: AtomicU64,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// The stats of service `name`, created on first use.
    pub fn service(&self, name: &str) -> Arc<ServiceStats> {
        self.inner
            .lock()
            .entry(name.to_owned())
            .or_default()
            .stats
            .clone()
    }

    /// The stats of backend `addr` of service `name`, created on first use.
    pub fn backend(&self, name: &str, addr: SocketAddr) -> Arc<BackendStats> {
        self.inner
            .lock()
            .entry(name.to_owned())
            .or_default()
            .backends
            .entry(addr)
            .or_default()
            .clone()
    }

    /// The registry entry of service `name`, created on first use (without allocating the
    /// name when it exists).
    fn entry_of<'a>(
        inner: &'a mut BTreeMap<String, ServiceEntry>,
        name: &str,
    ) -> &'a mut ServiceEntry {
        if !inner.contains_key(name) {
            inner.insert(name.to_owned(), ServiceEntry::default());
        }
        inner.get_mut(name).expect("inserted above")
    }

    /// Makes the backends of service `name` exactly `addrs` under one lock: the stats of each
    /// (created on first use, in the order of `addrs`; a repeated address gets the same
    /// stats), and the series of every other backend of `name` dropped. With the service's
    /// stats. `index` holds every address of `addrs`.
    pub fn sync_backends(
        &self,
        name: &str,
        addrs: impl ExactSizeIterator<Item = SocketAddr>,
        index: &crate::hash::AddrMap<u32>,
    ) -> (Arc<ServiceStats>, Vec<Arc<BackendStats>>) {
        let mut inner = self.inner.lock();
        let e = Self::entry_of(&mut inner, name);
        e.backends.retain(|a, _| index.contains_key(a));
        let mut out = Vec::with_capacity(addrs.len());
        for a in addrs {
            out.push(e.backends.entry(a).or_default().clone());
        }
        (e.stats.clone(), out)
    }

    /// Changes the backends of service `name` by a difference, under one lock: drops the
    /// series of `removed` and returns the stats of `added` (created on first use), in order.
    /// What the table does when a service's endpoints change: the cost is the change's, not
    /// the service's size.
    pub fn update_backends(
        &self,
        name: &str,
        removed: &[SocketAddr],
        added: &[SocketAddr],
    ) -> Vec<Arc<BackendStats>> {
        let mut inner = self.inner.lock();
        let e = Self::entry_of(&mut inner, name);
        for a in removed {
            e.backends.remove(a);
        }
        added
            .iter()
            .map(|a| e.backends.entry(*a).or_default().clone())
            .collect()
    }

    /// Number of backends of service `name` with series.
    pub fn backend_count(&self, name: &str) -> usize {
        self.inner.lock().get(name).map_or(0, |e| e.backends.len())
    }

    /// Drops the series of backends of `name` not in `keep` (connections still open to them
    /// keep counting into their detached stats).
    pub fn retain_backends(&self, name: &str, keep: &[SocketAddr]) {
        // A set: a linear search per backend made a 10,000-endpoint update quadratic.
        let keep: std::collections::HashSet<&SocketAddr> = keep.iter().collect();
        if let Some(e) = self.inner.lock().get_mut(name) {
            e.backends.retain(|a, _| keep.contains(a));
        }
    }

    /// Counts a service whose sockets could not be bound.
    pub fn record_bind_error(&self) {
        self.bind_errors.fetch_add(1, Relaxed);
    }

    /// Services whose sockets could not be bound, since start.
    pub fn bind_errors(&self) -> u64 {
        self.bind_errors.load(Relaxed)
    }

    /// Counts a connection that fell back to the node's address.
    pub fn record_transparent_failure(&self) {
        self.transparent_failures.fetch_add(1, Relaxed);
    }

    /// Connections that fell back to the node's address, since start.
    pub fn transparent_failures(&self) -> u64 {
        self.transparent_failures.load(Relaxed)
    }

    /// Sets the number of service addresses listened on.
    pub fn set_listeners(&self, n: u64) {
        self.listeners.store(n, Relaxed);
    }

    /// Drops every series of service `name`.
    pub fn remove_service(&self, name: &str) {
        self.inner.lock().remove(name);
    }

    /// Renders everything in the Prometheus text exposition format (version 0.0.4).
    pub fn render_prometheus(&self) -> String {
        let inner = self.inner.lock();
        let mut out = String::new();
        let globals: [(&str, &str, &str, &AtomicU64); 3] = [
            (
                "clipper_proxy_listeners",
                "gauge",
                "Service addresses listened on (each by every proxy thread).",
                &self.listeners,
            ),
            (
                "clipper_proxy_bind_errors_total",
                "counter",
                "Services whose listening sockets could not be bound.",
                &self.bind_errors,
            ),
            (
                "clipper_proxy_transparent_failures_total",
                "counter",
                "Connections that could not keep the client's source address.",
                &self.transparent_failures,
            ),
        ];
        for (name, kind, help, v) in globals {
            let v = v.load(Relaxed);
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
        type SvcGet = fn(&ServiceStats) -> &AtomicU64;
        let svc_counters: [(&str, &str, &str, SvcGet); 7] = [
            (
                "clipper_proxy_accepted_total",
                "counter",
                "Connections accepted.",
                |s| &s.accepted,
            ),
            (
                "clipper_proxy_refused_limit_total",
                "counter",
                "Connections refused at the per-core limit.",
                |s| &s.refused_limit,
            ),
            (
                "clipper_proxy_no_endpoint_total",
                "counter",
                "Connections or datagrams with no usable endpoint.",
                |s| &s.no_endpoint,
            ),
            (
                "clipper_proxy_connect_exhausted_total",
                "counter",
                "Connections that ran out of connect attempts.",
                |s| &s.connect_exhausted,
            ),
            (
                "clipper_proxy_idle_timeouts_total",
                "counter",
                "Connections closed by the idle timeout.",
                |s| &s.idle_timeouts,
            ),
            ("clipper_proxy_udp_flows", "gauge", "UDP flows open.", |s| {
                &s.udp_flows
            }),
            (
                "clipper_proxy_udp_dropped_total",
                "counter",
                "UDP datagrams dropped.",
                |s| &s.udp_dropped,
            ),
        ];
        for (name, kind, help, get) in svc_counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (svc, e) in inner.iter() {
                let v = get(&e.stats).load(Relaxed);
                let _ = writeln!(out, "{name}{{service=\"{}\"}} {v}", escape(svc));
            }
        }
        type BeGet = fn(&BackendStats) -> &AtomicU64;
        let be_counters: [(&str, &str, &str, BeGet); 7] = [
            (
                "clipper_proxy_backend_active_connections",
                "gauge",
                "Connections open to the backend.",
                |b| &b.active,
            ),
            (
                "clipper_proxy_backend_connections_total",
                "counter",
                "Connections established to the backend.",
                |b| &b.connections,
            ),
            (
                "clipper_proxy_backend_connect_errors_total",
                "counter",
                "Connect attempts that failed.",
                |b| &b.connect_errors,
            ),
            (
                "clipper_proxy_backend_resets_total",
                "counter",
                "Connections ended by a reset or an I/O error.",
                |b| &b.resets,
            ),
            (
                "clipper_proxy_backend_bytes_to_backend_total",
                "counter",
                "Bytes relayed client to backend.",
                |b| &b.bytes_to_backend,
            ),
            (
                "clipper_proxy_backend_bytes_from_backend_total",
                "counter",
                "Bytes relayed backend to client.",
                |b| &b.bytes_from_backend,
            ),
            (
                "clipper_proxy_backend_datagrams_total",
                "counter",
                "UDP datagrams forwarded to the backend.",
                |b| &b.datagrams_to_backend,
            ),
        ];
        // Backends in address order, per service.
        type Sorted<'a> = Vec<(&'a SocketAddr, &'a Arc<BackendStats>)>;
        let sorted: Vec<(&String, Sorted)> = inner
            .iter()
            .map(|(svc, e)| {
                let mut v: Vec<_> = e.backends.iter().collect();
                v.sort_unstable_by_key(|(a, _)| **a);
                (svc, v)
            })
            .collect();
        for (name, kind, help, get) in be_counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (svc, backends) in &sorted {
                for (addr, b) in backends {
                    let v = get(b).load(Relaxed);
                    let _ = writeln!(
                        out,
                        "{name}{{service=\"{}\",backend=\"{addr}\"}} {v}",
                        escape(svc)
                    );
                }
            }
        }
        let name = "clipper_proxy_backend_connect_latency_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time to establish the backend connection.\n# TYPE {name} histogram"
        );
        for (svc, backends) in &sorted {
            for (addr, b) in backends {
                let labels = format!("service=\"{}\",backend=\"{addr}\"", escape(svc));
                b.connect_latency.render(&mut out, name, &labels);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let m = Metrics::default();
        let addr: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let b = m.backend("default/web\"x", addr);
        b.connections.fetch_add(3, Relaxed);
        b.connect_latency.observe(70_000); // 70 µs
        b.connect_latency.observe(3_000_000); // 3 ms
        m.service("default/web\"x").accepted.fetch_add(4, Relaxed);
        let text = m.render_prometheus();
        assert!(text.contains(
            "clipper_proxy_backend_connections_total{service=\"default/web\\\"x\",backend=\"10.0.0.1:80\"} 3"
        ));
        assert!(text.contains("clipper_proxy_accepted_total{service=\"default/web\\\"x\"} 4"));
        assert!(text.contains("le=\"0.0001\"} 1\n"));
        assert!(text.contains("le=\"0.005\"} 2\n"));
        assert!(text.contains("clipper_proxy_backend_connect_latency_seconds_count{service=\"default/web\\\"x\",backend=\"10.0.0.1:80\"} 2"));
        m.retain_backends("default/web\"x", &[]);
        assert!(!m.render_prometheus().contains("10.0.0.1:80"));
    }

    type Labels = Vec<(String, String)>;

    /// Parses `name{k="v",...} value` (labels optional); `None` if malformed.
    fn parse_sample(line: &str) -> Option<(String, Labels, f64)> {
        let (head, value) = line.rsplit_once(' ')?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().ok()?,
        };
        let (name, labels) = match head.split_once('{') {
            None => (head, Vec::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}')?;
                let mut labels = Vec::new();
                let mut chars = body.chars().peekable();
                while chars.peek().is_some() {
                    let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                    let valid_key = key.chars().enumerate().all(|(i, c)| {
                        c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
                    });
                    if key.is_empty() || !valid_key || chars.next()? != '"' {
                        return None;
                    }
                    let mut v = String::new();
                    loop {
                        match chars.next()? {
                            '\\' => match chars.next()? {
                                'n' => v.push('\n'),
                                c @ ('\\' | '"') => v.push(c),
                                _ => return None,
                            },
                            '"' => break,
                            c => v.push(c),
                        }
                    }
                    labels.push((key, v));
                    match chars.next() {
                        None => break,
                        Some(',') => {}
                        Some(_) => return None,
                    }
                }
                (name, labels)
            }
        };
        let valid_name = name.chars().enumerate().all(|(i, c)| {
            c == '_' || c == ':' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
        });
        (valid_name && !name.is_empty()).then(|| (name.to_owned(), labels, value))
    }

    #[test]
    fn exposition_format_is_well_formed() {
        let m = Metrics::default();
        m.set_listeners(3);
        m.record_bind_error();
        for (svc, port) in [("ns/a", 80u16), ("ns/b\\\"\n", 81)] {
            m.service(svc).accepted.fetch_add(5, Relaxed);
            for n in 1..=2u8 {
                let b = m.backend(svc, SocketAddr::from(([10, 0, 0, n], port)));
                b.connections.fetch_add(2, Relaxed);
                b.bytes_to_backend.fetch_add(1_000, Relaxed);
                b.bytes_from_backend.fetch_add(2_000, Relaxed);
                b.connect_errors.fetch_add(1, Relaxed);
                for d in [10_000, 400_000, 7_000_000, 9_000_000_000] {
                    b.connect_latency.observe(d);
                }
            }
        }
        let text = m.render_prometheus();
        assert!(text.ends_with('\n'));
        let mut families: BTreeMap<String, String> = BTreeMap::new();
        let mut current: Option<(String, String)> = None;
        let mut pending_help: Option<String> = None;
        // Histogram series: labels without `le` → (le bounds in order, counts), _count.
        type Series = BTreeMap<Labels, (Vec<(f64, f64)>, Option<f64>)>;
        let mut histograms: Series = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect("HELP has text");
                assert!(!help.is_empty());
                assert!(pending_help.is_none(), "HELP without TYPE before {line}");
                pending_help = Some(name.to_owned());
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE has a kind");
                assert_eq!(pending_help.take().as_deref(), Some(name), "HELP then TYPE");
                assert!(matches!(kind, "counter" | "gauge" | "histogram"), "{line}");
                if kind == "counter" {
                    assert!(name.ends_with("_total"), "counter {name} ends in _total");
                }
                let fresh = families.insert(name.to_owned(), kind.to_owned());
                assert!(fresh.is_none(), "family {name} declared twice");
                current = Some((name.to_owned(), kind.to_owned()));
                continue;
            }
            assert!(!line.starts_with('#'), "unknown comment {line}");
            let (name, mut labels, value) =
                parse_sample(line).unwrap_or_else(|| panic!("malformed sample {line:?}"));
            let (family, kind) = current.clone().expect("sample after its TYPE");
            assert!(value >= 0.0 && value.is_finite(), "{line}");
            if kind != "histogram" {
                assert_eq!(name, family, "{line}");
                continue;
            }
            let suffix = name.strip_prefix(&family).expect("histogram sample name");
            match suffix {
                "_bucket" => {
                    let pos = labels.iter().position(|(k, _)| k == "le").expect("le");
                    let (_, le) = labels.remove(pos);
                    let le: f64 = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().expect("le is a number")
                    };
                    histograms.entry(labels).or_default().0.push((le, value));
                }
                "_count" => histograms.entry(labels).or_default().1 = Some(value),
                "_sum" => assert!(value > 0.0),
                _ => panic!("unexpected histogram sample {line}"),
            }
        }
        assert!(pending_help.is_none());
        for name in [
            "clipper_proxy_listeners",
            "clipper_proxy_bind_errors_total",
            "clipper_proxy_accepted_total",
            "clipper_proxy_backend_connections_total",
            "clipper_proxy_backend_bytes_to_backend_total",
            "clipper_proxy_backend_bytes_from_backend_total",
            "clipper_proxy_backend_connect_errors_total",
            "clipper_proxy_backend_connect_latency_seconds",
        ] {
            assert!(families.contains_key(name), "{name} missing");
        }
        assert_eq!(histograms.len(), 4, "one latency series per backend");
        for (labels, (buckets, count)) in &histograms {
            assert_eq!(buckets.len(), LATENCY_BUCKETS_US.len() + 1, "{labels:?}");
            assert!(
                buckets
                    .windows(2)
                    .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
            );
            let (last_le, last) = buckets.last().copied().unwrap();
            assert!(last_le.is_infinite());
            assert_eq!(Some(last), *count, "+Inf bucket equals _count");
            assert_eq!(last, 4.0);
            // 10 µs, 400 µs, 7 ms fall in buckets; 9 s only in +Inf.
            assert_eq!(buckets[buckets.len() - 2].1, 3.0);
        }
        // Label values come back unescaped exactly.
        assert!(histograms.keys().any(|l| l[0].1 == "ns/b\\\"\n"));
    }
}
