//! The metrics pipeline's memory, as metrics-server keeps it: per node, the last two
//! points of each series (the node, and every container of every pod on it); a usage is
//! the difference of two points' cumulative CPU over their timestamps (the window) and
//! the latest working set. Pure: scrapes and time go in as values.

use std::collections::{BTreeMap, HashMap};

use super::prom::Sample;

/// One reading of a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Point {
    /// Cumulative CPU time, nanoseconds.
    pub cpu_nanos: u64,
    pub memory_bytes: u64,
    /// When the CPU was read, milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// A container's start (ms since the epoch): a different start is a restart, whose
    /// counter began again.
    pub start_ms: Option<i64>,
}

/// What one scrape of a node's `/metrics/resource` said.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    pub node: Option<Point>,
    /// (namespace, pod) → container → point.
    pub pods: BTreeMap<(String, String), BTreeMap<String, Point>>,
}

/// A usage over a window, as the Metrics API reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub nanocores: u64,
    pub memory_bytes: u64,
    /// The later point's time.
    pub timestamp_ms: i64,
    pub window_ms: i64,
}

/// A pod's usage: each container's, all of them known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodUsage {
    pub timestamp_ms: i64,
    pub window_ms: i64,
    pub containers: Vec<(String, Usage)>,
}

fn cpu_nanos(seconds: f64) -> Option<u64> {
    (seconds.is_finite() && seconds >= 0.0).then(|| (seconds * 1e9).round() as u64)
}

fn bytes(value: f64) -> Option<u64> {
    (value.is_finite() && value >= 0.0).then(|| value.round() as u64)
}

/// Reads kubelet's resource metrics out of a scrape's samples. Samples without a
/// timestamp take `scrape_ms`. A container counts only with both its CPU and its
/// working set; unknown families and malformed values are ignored.
pub fn decode(samples: &[Sample], scrape_ms: i64) -> Batch {
    #[derive(Default)]
    struct Partial {
        cpu: Option<(u64, i64)>,
        memory: Option<u64>,
        start_ms: Option<i64>,
    }
    let mut node = Partial::default();
    let mut containers: BTreeMap<(String, String, String), Partial> = BTreeMap::new();
    for s in samples {
        let ts = s.timestamp_ms.unwrap_or(scrape_ms);
        match s.name.as_str() {
            "node_cpu_usage_seconds_total" => {
                node.cpu = cpu_nanos(s.value).map(|c| (c, ts));
            }
            "node_memory_working_set_bytes" => node.memory = bytes(s.value),
            name @ ("container_cpu_usage_seconds_total"
            | "container_memory_working_set_bytes"
            | "container_start_time_seconds") => {
                let (Some(ns), Some(pod), Some(c)) =
                    (s.label("namespace"), s.label("pod"), s.label("container"))
                else {
                    continue;
                };
                let entry = containers
                    .entry((ns.to_string(), pod.to_string(), c.to_string()))
                    .or_default();
                match name {
                    "container_cpu_usage_seconds_total" => {
                        entry.cpu = cpu_nanos(s.value).map(|c| (c, ts));
                    }
                    "container_memory_working_set_bytes" => entry.memory = bytes(s.value),
                    _ => {
                        entry.start_ms = (s.value.is_finite() && s.value > 0.0)
                            .then(|| (s.value * 1000.0).round() as i64);
                    }
                }
            }
            _ => {}
        }
    }
    let point = |p: &Partial| {
        let (cpu_nanos, timestamp_ms) = p.cpu?;
        Some(Point {
            cpu_nanos,
            memory_bytes: p.memory?,
            timestamp_ms,
            start_ms: p.start_ms,
        })
    };
    let mut batch = Batch {
        node: point(&node),
        ..Default::default()
    };
    for ((ns, pod, c), p) in &containers {
        if let Some(point) = point(p) {
            batch
                .pods
                .entry((ns.clone(), pod.clone()))
                .or_default()
                .insert(c.clone(), point);
        }
    }
    batch
}

/// The usage between two points of a series, if they make a window: the later one is
/// newer, of the same start, and its counter did not go back.
pub fn rate(prev: &Point, last: &Point) -> Option<Usage> {
    let window_ms = last.timestamp_ms.checked_sub(prev.timestamp_ms)?;
    if window_ms <= 0 || last.cpu_nanos < prev.cpu_nanos || last.start_ms != prev.start_ms {
        return None;
    }
    let used = u128::from(last.cpu_nanos - prev.cpu_nanos);
    // ns of CPU per ns of wall time, in nanocores: used * 1e9 / (window_ms * 1e6).
    let nanocores = used * 1000 / window_ms as u128;
    Some(Usage {
        nanocores: u64::try_from(nanocores).unwrap_or(u64::MAX),
        memory_bytes: last.memory_bytes,
        timestamp_ms: last.timestamp_ms,
        window_ms,
    })
}

/// The last two points of a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Series {
    prev: Option<Point>,
    last: Point,
}

impl Series {
    fn advance(old: Option<&Series>, new: Point) -> Series {
        match old {
            // The same reading again (the agent served it twice): nothing new.
            Some(o) if o.last.timestamp_ms == new.timestamp_ms => *o,
            Some(o) if rate(&o.last, &new).is_some() => Series {
                prev: Some(o.last),
                last: new,
            },
            _ => Series {
                prev: None,
                last: new,
            },
        }
    }

    fn usage(&self) -> Option<Usage> {
        rate(self.prev.as_ref()?, &self.last)
    }
}

#[derive(Clone, Debug, Default)]
struct NodeState {
    node: Option<Series>,
    pods: HashMap<(String, String), BTreeMap<String, Series>>,
}

/// Every node's latest points, shared by the scraper (writes) and the handlers (reads).
#[derive(Debug, Default)]
pub struct MetricsStore {
    nodes: parking_lot::RwLock<HashMap<String, NodeState>>,
}

impl MetricsStore {
    /// Takes a node's scrape: each series advances; pods and containers the scrape no
    /// longer has are forgotten.
    pub fn ingest(&self, node: &str, batch: Batch) {
        let mut nodes = self.nodes.write();
        let old = nodes.remove(node).unwrap_or_default();
        let mut state = NodeState {
            node: batch.node.map(|p| Series::advance(old.node.as_ref(), p)),
            pods: HashMap::new(),
        };
        for (key, containers) in batch.pods {
            let old_pod = old.pods.get(&key);
            let series = containers
                .into_iter()
                .map(|(name, p)| {
                    let prev = old_pod.and_then(|o| o.get(&name));
                    let s = Series::advance(prev, p);
                    (name, s)
                })
                .collect();
            state.pods.insert(key, series);
        }
        nodes.insert(node.to_string(), state);
    }

    /// Forgets a node (gone, not ready, or its scrape failed).
    pub fn forget(&self, node: &str) {
        self.nodes.write().remove(node);
    }

    /// Forgets every node but these.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.nodes.write().retain(|n, _| keep(n));
    }

    pub fn node_usage(&self, node: &str) -> Option<Usage> {
        self.nodes.read().get(node)?.node?.usage()
    }

    /// A pod's usage once every one of its containers has a window.
    pub fn pod_usage(&self, namespace: &str, pod: &str) -> Option<PodUsage> {
        let nodes = self.nodes.read();
        let key = (namespace.to_string(), pod.to_string());
        let containers = nodes.values().find_map(|n| n.pods.get(&key))?;
        let mut out = PodUsage {
            timestamp_ms: i64::MAX,
            window_ms: 0,
            containers: Vec::with_capacity(containers.len()),
        };
        for (name, series) in containers {
            let u = series.usage()?;
            out.timestamp_ms = out.timestamp_ms.min(u.timestamp_ms);
            out.window_ms = out.window_ms.max(u.window_ms);
            out.containers.push((name.clone(), u));
        }
        (!out.containers.is_empty()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::prom::parse;
    use super::*;

    fn scrape(node_cpu: f64, busy_cpu: f64, idle_cpu: f64, ts: i64) -> Batch {
        let text = format!(
            "container_cpu_usage_seconds_total{{container=\"c\",namespace=\"ns\",pod=\"busy\"}} {busy_cpu} {ts}\n\
container_cpu_usage_seconds_total{{container=\"c\",namespace=\"ns\",pod=\"idle\"}} {idle_cpu} {ts}\n\
container_memory_working_set_bytes{{container=\"c\",namespace=\"ns\",pod=\"busy\"}} 1.048576e+06 {ts}\n\
container_memory_working_set_bytes{{container=\"c\",namespace=\"ns\",pod=\"idle\"}} 65536 {ts}\n\
container_start_time_seconds{{container=\"c\",namespace=\"ns\",pod=\"busy\"}} 1000 1000000\n\
node_cpu_usage_seconds_total {node_cpu} {ts}\n\
node_memory_working_set_bytes 2e+09 {ts}\n"
        );
        decode(&parse(&text).expect("parses"), 0)
    }

    #[test]
    fn decoding_keeps_complete_series() {
        let b = scrape(10.0, 1.5, 0.25, 5000);
        assert_eq!(
            b.node,
            Some(Point {
                cpu_nanos: 10_000_000_000,
                memory_bytes: 2_000_000_000,
                timestamp_ms: 5000,
                start_ms: None
            })
        );
        let busy = &b.pods[&("ns".to_string(), "busy".to_string())]["c"];
        assert_eq!(busy.cpu_nanos, 1_500_000_000);
        assert_eq!(busy.memory_bytes, 1_048_576);
        assert_eq!(busy.start_ms, Some(1_000_000));
        // A container with CPU but no working set, or without labels, is left out.
        let partial = decode(
            &parse("container_cpu_usage_seconds_total{container=\"c\",namespace=\"n\",pod=\"p\"} 1 5\ncontainer_memory_working_set_bytes{pod=\"p\"} 1 5\nnode_cpu_usage_seconds_total -1 5\nnode_memory_working_set_bytes 1 5\n").expect("parses"),
            0,
        );
        assert!(partial.pods.is_empty());
        assert_eq!(partial.node, None);
        // No timestamp: the scrape's time.
        let b = decode(
            &parse("node_cpu_usage_seconds_total 1\nnode_memory_working_set_bytes 1\n")
                .expect("parses"),
            777,
        );
        assert_eq!(b.node.map(|p| p.timestamp_ms), Some(777));
    }

    #[test]
    fn rates_are_cpu_over_the_window() {
        let store = MetricsStore::default();
        store.ingest("n1", scrape(10.0, 1.0, 0.25, 10_000));
        // One point: no window yet.
        assert_eq!(store.node_usage("n1"), None);
        assert_eq!(store.pod_usage("ns", "busy"), None);
        // 2 s later: the busy container used 1.9 s of CPU (0.95 cores), the idle one 2 ms.
        store.ingest("n1", scrape(13.0, 2.9, 0.252, 12_000));
        let node = store.node_usage("n1").expect("node usage");
        assert_eq!(node.nanocores, 1_500_000_000);
        assert_eq!(node.memory_bytes, 2_000_000_000);
        assert_eq!((node.timestamp_ms, node.window_ms), (12_000, 2_000));
        let busy = store.pod_usage("ns", "busy").expect("busy usage");
        assert_eq!(busy.containers[0].0, "c");
        assert_eq!(busy.containers[0].1.nanocores, 950_000_000);
        assert_eq!(busy.containers[0].1.memory_bytes, 1_048_576);
        let idle = store.pod_usage("ns", "idle").expect("idle usage");
        assert_eq!(idle.containers[0].1.nanocores, 1_000_000);
        assert_eq!(store.pod_usage("ns", "missing"), None);
        // The same scrape served again changes nothing.
        store.ingest("n1", scrape(13.0, 2.9, 0.252, 12_000));
        assert_eq!(store.node_usage("n1"), Some(node));
        // A counter that went back (a restart): no window until the next point.
        store.ingest("n1", scrape(14.0, 0.1, 0.3, 13_000));
        assert_eq!(store.pod_usage("ns", "busy"), None);
        store.ingest("n1", scrape(15.0, 0.6, 0.35, 14_000));
        assert_eq!(
            store.pod_usage("ns", "busy").expect("usage").containers[0]
                .1
                .nanocores,
            500_000_000
        );
        store.forget("n1");
        assert_eq!(store.node_usage("n1"), None);
    }

    #[test]
    fn a_new_start_time_is_a_new_series() {
        let prev = Point {
            cpu_nanos: 1,
            memory_bytes: 1,
            timestamp_ms: 1,
            start_ms: Some(1),
        };
        let last = Point {
            cpu_nanos: 5,
            timestamp_ms: 2,
            start_ms: Some(2),
            ..prev
        };
        assert_eq!(rate(&prev, &last), None);
        assert_eq!(rate(&last, &prev), None);
        assert!(
            rate(
                &prev,
                &Point {
                    start_ms: Some(1),
                    ..last
                }
            )
            .is_some()
        );
    }
}
