//! Resource metrics, as kubelet serves them on `GET /metrics/resource`: per container the
//! cumulative CPU time and the memory working set read from its cgroup, per pod the same
//! from the pod's cgroup (which holds every container of the pod), and the node's totals,
//! in the Prometheus text format with kubelet's metric names and each sample's own
//! timestamp in milliseconds. This is what the metrics pipeline (`kubectl top`) scrapes.
//!
//! Where the numbers come from (as cadvisor reads them for kubelet):
//! - containers run in `/clipper/<pod uid>/<container id>` under each hierarchy
//!   (`oci::bundle::cgroup_path`), pods' containers under `/clipper/<pod uid>`;
//! - CPU: cgroup v1 `cpuacct.usage` (nanoseconds), v2 `cpu.stat`'s `usage_usec`;
//! - working set: v1 `memory.usage_in_bytes` minus `memory.stat`'s `total_inactive_file`,
//!   v2 `memory.current` minus `inactive_file` (never below zero);
//! - the node: CPU from `/proc/stat` (every state but idle and iowait, in clock ticks), the
//!   working set from the root memory cgroup (v1), else `/proc/meminfo` (MemTotal −
//!   MemFree − Inactive(file)).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::SystemTime;

/// One running container the agent knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerRef {
    pub namespace: String,
    pub pod: String,
    pub pod_uid: String,
    pub container: String,
    /// The runtime's id (its cgroup's last component).
    pub id: String,
}

/// The running containers, for the metrics endpoint; the pod workers' index implements it.
pub trait ContainerSource: Send + Sync {
    fn running_containers(&self) -> Vec<ContainerRef>;
}

/// Cumulative CPU and current working set of one cgroup, read at `timestamp_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub cpu_nanos: u64,
    pub working_set_bytes: u64,
    pub timestamp_ms: i64,
}

/// A container's usage, with its start time when known.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerUsage {
    pub container: ContainerRef,
    pub usage: Usage,
    /// Seconds since the epoch.
    pub start_time: Option<f64>,
}

/// A pod's usage (its cgroup's).
#[derive(Clone, Debug, PartialEq)]
pub struct PodUsage {
    pub namespace: String,
    pub pod: String,
    pub usage: Usage,
}

/// One scrape's worth of samples.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub node: Option<Usage>,
    pub pods: Vec<PodUsage>,
    pub containers: Vec<ContainerUsage>,
}

/// Reads cgroups and /proc. Paths are fields so that tests can point them at a fake tree.
#[derive(Clone, Debug)]
pub struct Collector {
    /// `/sys/fs/cgroup`.
    pub cgroup_root: PathBuf,
    /// `/proc`.
    pub proc_root: PathBuf,
    /// The runtime's `containers/` directory (`<id>/start.json` holds the start time).
    pub containers_dir: Option<PathBuf>,
    /// `sysconf(_SC_CLK_TCK)`: /proc/stat's unit.
    pub clock_ticks: u64,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Collector {
    /// The host's cgroups and /proc.
    pub fn host(containers_dir: Option<PathBuf>) -> Collector {
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Collector {
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
            proc_root: PathBuf::from("/proc"),
            containers_dir,
            clock_ticks: if ticks > 0 { ticks as u64 } else { 100 },
        }
    }

    /// cgroup v2 (one unified hierarchy) or v1.
    fn unified(&self) -> bool {
        self.cgroup_root.join("cgroup.controllers").exists()
    }

    /// The usage of the cgroup at `relative` (e.g. `clipper/<uid>/<id>`), if it exists.
    pub fn cgroup_usage(&self, relative: &str) -> Option<Usage> {
        let relative = relative.trim_start_matches('/');
        let read = |p: PathBuf| std::fs::read_to_string(p).ok();
        let (cpu_nanos, usage, inactive) = if self.unified() {
            let dir = self.cgroup_root.join(relative);
            let cpu = stat_value(&read(dir.join("cpu.stat"))?, "usage_usec")?.saturating_mul(1000);
            let usage = read(dir.join("memory.current"))?.trim().parse().ok()?;
            let inactive = read(dir.join("memory.stat"))
                .and_then(|s| stat_value(&s, "inactive_file"))
                .unwrap_or(0);
            (cpu, usage, inactive)
        } else {
            let cpu = read(
                self.cgroup_root
                    .join("cpuacct")
                    .join(relative)
                    .join("cpuacct.usage"),
            )?
            .trim()
            .parse()
            .ok()?;
            let mem = self.cgroup_root.join("memory").join(relative);
            let usage = read(mem.join("memory.usage_in_bytes"))?
                .trim()
                .parse()
                .ok()?;
            let inactive = read(mem.join("memory.stat"))
                .and_then(|s| stat_value(&s, "total_inactive_file"))
                .unwrap_or(0);
            (cpu, usage, inactive)
        };
        Some(Usage {
            cpu_nanos,
            working_set_bytes: working_set(usage, inactive),
            timestamp_ms: now_ms(),
        })
    }

    /// The node's usage: CPU from /proc/stat, the working set from the root memory
    /// cgroup (v1) or /proc/meminfo.
    pub fn node_usage(&self) -> Option<Usage> {
        let stat = std::fs::read_to_string(self.proc_root.join("stat")).ok()?;
        let ticks = proc_stat_busy_ticks(&stat)?;
        let cpu_nanos = ticks.saturating_mul(1_000_000_000) / self.clock_ticks.max(1);
        let from_cgroup = (!self.unified())
            .then(|| {
                let mem = self.cgroup_root.join("memory");
                let usage: u64 = std::fs::read_to_string(mem.join("memory.usage_in_bytes"))
                    .ok()?
                    .trim()
                    .parse()
                    .ok()?;
                let inactive = std::fs::read_to_string(mem.join("memory.stat"))
                    .ok()
                    .and_then(|s| stat_value(&s, "total_inactive_file"))
                    .unwrap_or(0);
                Some(working_set(usage, inactive))
            })
            .flatten();
        let working_set_bytes = match from_cgroup {
            Some(w) => w,
            None => {
                meminfo_working_set(&std::fs::read_to_string(self.proc_root.join("meminfo")).ok()?)?
            }
        };
        Some(Usage {
            cpu_nanos,
            working_set_bytes,
            timestamp_ms: now_ms(),
        })
    }

    /// When container `id` started (its shim's `start.json`), in seconds since the epoch.
    fn start_time(&self, id: &str) -> Option<f64> {
        let dir = self.containers_dir.as_ref()?;
        let text = std::fs::read_to_string(dir.join(id).join("start.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        let t = crate::oci::parse_rfc3339(v["started_at"].as_str()?)?;
        t.duration_since(SystemTime::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs_f64())
    }

    /// Everything for one scrape. Containers whose cgroup cannot be read (it just went)
    /// are left out, as kubelet leaves out containers without stats.
    pub fn collect(&self, containers: &[ContainerRef]) -> Snapshot {
        let mut snap = Snapshot {
            node: self.node_usage(),
            ..Default::default()
        };
        let mut pods_seen: Vec<(&str, &str, &str)> = Vec::new();
        for c in containers {
            if !safe_component(&c.pod_uid) || !safe_component(&c.id) {
                continue;
            }
            let Some(usage) = self.cgroup_usage(&format!("clipper/{}/{}", c.pod_uid, c.id)) else {
                continue;
            };
            snap.containers.push(ContainerUsage {
                container: c.clone(),
                usage,
                start_time: self.start_time(&c.id),
            });
            if !pods_seen.iter().any(|(_, _, uid)| *uid == c.pod_uid) {
                pods_seen.push((&c.namespace, &c.pod, &c.pod_uid));
            }
        }
        for (namespace, pod, uid) in pods_seen {
            if let Some(usage) = self.cgroup_usage(&format!("clipper/{uid}")) {
                snap.pods.push(PodUsage {
                    namespace: namespace.to_string(),
                    pod: pod.to_string(),
                    usage,
                });
            }
        }
        snap
    }
}

/// A path component that cannot climb out of the cgroup tree.
fn safe_component(s: &str) -> bool {
    !s.is_empty() && !s.contains('/') && s != "." && s != ".."
}

/// cadvisor's working set: usage minus inactive file pages, never below zero.
pub fn working_set(usage: u64, inactive_file: u64) -> u64 {
    usage.saturating_sub(inactive_file)
}

/// The value of `key` in a `key value` per line file (`memory.stat`, `cpu.stat`).
pub fn stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// The node's busy time in clock ticks from /proc/stat's `cpu` line: user, nice, system,
/// irq, softirq and steal (idle and iowait left out; guest time is already in user).
pub fn proc_stat_busy_ticks(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal guest guest_nice
    let get = |i: usize| fields.get(i).copied().unwrap_or(0);
    if fields.len() < 4 {
        return None;
    }
    Some(get(0) + get(1) + get(2) + get(5) + get(6) + get(7))
}

/// MemTotal − MemFree − Inactive(file), in bytes, from /proc/meminfo (kB values).
pub fn meminfo_working_set(text: &str) -> Option<u64> {
    let kb = |key: &str| {
        text.lines().find_map(|l| {
            let rest = l.strip_prefix(key)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
    };
    let total = kb("MemTotal")?;
    let free = kb("MemFree")?;
    let inactive = kb("Inactive(file)").unwrap_or(0);
    Some(total.saturating_sub(free).saturating_sub(inactive) * 1024)
}

/// A label value escaped as the text format wants (`\\`, `\"`, `\n`).
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for ch in v.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn seconds(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}

/// The Prometheus text exposition of a snapshot, with kubelet's families, help texts,
/// label names and order: families with no sample are left out, except
/// `resource_scrape_error` (0 when the node could be read).
pub fn render(snap: &Snapshot) -> String {
    let mut out = String::new();
    let family = |out: &mut String, name: &str, help: &str, kind: &str| {
        let _ = writeln!(out, "# HELP {name} [STABLE] {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
    };
    let mut containers: Vec<&ContainerUsage> = snap.containers.iter().collect();
    containers.sort_by(|a, b| {
        let key = |c: &ContainerUsage| {
            (
                c.container.namespace.clone(),
                c.container.pod.clone(),
                c.container.container.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    let clabels = |c: &ContainerRef| {
        format!(
            "container=\"{}\",namespace=\"{}\",pod=\"{}\"",
            escape(&c.container),
            escape(&c.namespace),
            escape(&c.pod)
        )
    };
    if !containers.is_empty() {
        family(
            &mut out,
            "container_cpu_usage_seconds_total",
            "Cumulative cpu time consumed by the container in core-seconds",
            "counter",
        );
        for c in &containers {
            let _ = writeln!(
                out,
                "container_cpu_usage_seconds_total{{{}}} {} {}",
                clabels(&c.container),
                seconds(c.usage.cpu_nanos),
                c.usage.timestamp_ms
            );
        }
        family(
            &mut out,
            "container_memory_working_set_bytes",
            "Current working set of the container in bytes",
            "gauge",
        );
        for c in &containers {
            let _ = writeln!(
                out,
                "container_memory_working_set_bytes{{{}}} {} {}",
                clabels(&c.container),
                c.usage.working_set_bytes,
                c.usage.timestamp_ms
            );
        }
        if containers.iter().any(|c| c.start_time.is_some()) {
            family(
                &mut out,
                "container_start_time_seconds",
                "Start time of the container since unix epoch in seconds",
                "gauge",
            );
            for c in &containers {
                if let Some(t) = c.start_time {
                    let _ = writeln!(
                        out,
                        "container_start_time_seconds{{{}}} {} {}",
                        clabels(&c.container),
                        t,
                        (t * 1000.0) as i64
                    );
                }
            }
        }
    }
    if let Some(node) = &snap.node {
        family(
            &mut out,
            "node_cpu_usage_seconds_total",
            "Cumulative cpu time consumed by the node in core-seconds",
            "counter",
        );
        let _ = writeln!(
            out,
            "node_cpu_usage_seconds_total {} {}",
            seconds(node.cpu_nanos),
            node.timestamp_ms
        );
        family(
            &mut out,
            "node_memory_working_set_bytes",
            "Current working set of the node in bytes",
            "gauge",
        );
        let _ = writeln!(
            out,
            "node_memory_working_set_bytes {} {}",
            node.working_set_bytes, node.timestamp_ms
        );
    }
    let mut pods: Vec<&PodUsage> = snap.pods.iter().collect();
    pods.sort_by(|a, b| (&a.namespace, &a.pod).cmp(&(&b.namespace, &b.pod)));
    if !pods.is_empty() {
        family(
            &mut out,
            "pod_cpu_usage_seconds_total",
            "Cumulative cpu time consumed by the pod in core-seconds",
            "counter",
        );
        for p in &pods {
            let _ = writeln!(
                out,
                "pod_cpu_usage_seconds_total{{namespace=\"{}\",pod=\"{}\"}} {} {}",
                escape(&p.namespace),
                escape(&p.pod),
                seconds(p.usage.cpu_nanos),
                p.usage.timestamp_ms
            );
        }
        family(
            &mut out,
            "pod_memory_working_set_bytes",
            "Current working set of the pod in bytes",
            "gauge",
        );
        for p in &pods {
            let _ = writeln!(
                out,
                "pod_memory_working_set_bytes{{namespace=\"{}\",pod=\"{}\"}} {} {}",
                escape(&p.namespace),
                escape(&p.pod),
                p.usage.working_set_bytes,
                p.usage.timestamp_ms
            );
        }
    }
    family(
        &mut out,
        "resource_scrape_error",
        "1 if there was an error while getting container metrics, 0 otherwise",
        "gauge",
    );
    let _ = writeln!(
        out,
        "resource_scrape_error {}",
        u8::from(snap.node.is_none())
    );
    out
}

/// What `GET /metrics/resource` serves: the source's running containers, collected now.
pub struct ResourceMetrics {
    pub source: std::sync::Arc<dyn ContainerSource>,
    pub collector: Collector,
}

impl ResourceMetrics {
    /// Collects (blocking file reads, done off the async threads) and renders.
    pub async fn render(&self) -> String {
        let containers = self.source.running_containers();
        let collector = self.collector.clone();
        tokio::task::spawn_blocking(move || render(&collector.collect(&containers)))
            .await
            .unwrap_or_else(|_| render(&Snapshot::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        std::fs::write(path, text).expect("write");
    }

    #[test]
    fn proc_files_parse_as_kubelet_reads_them() {
        let stat = "cpu  100 5 50 9000 30 2 3 1 0 0\ncpu0 50 2 25 4500 15 1 1 0 0 0\n";
        assert_eq!(proc_stat_busy_ticks(stat), Some(100 + 5 + 50 + 2 + 3 + 1));
        assert_eq!(proc_stat_busy_ticks("intr 1 2\n"), None);
        let meminfo = "MemTotal:       2000 kB\nMemFree:         500 kB\nMemAvailable:   1200 kB\nInactive(file):  300 kB\n";
        assert_eq!(
            meminfo_working_set(meminfo),
            Some((2000 - 500 - 300) * 1024)
        );
        assert_eq!(
            stat_value("cache 5\ntotal_inactive_file 4096\n", "total_inactive_file"),
            Some(4096)
        );
        assert_eq!(working_set(4096, 8192), 0);
    }

    #[test]
    fn a_v1_tree_is_collected_and_rendered_with_kubelets_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cg = dir.path().join("cgroup");
        let proc = dir.path().join("proc");
        write(&proc.join("stat"), "cpu  200 0 100 5000 0 0 0 0 0 0\n");
        write(&proc.join("meminfo"), "MemTotal: 1 kB\nMemFree: 1 kB\n");
        write(&cg.join("memory/memory.usage_in_bytes"), "1048576\n");
        write(&cg.join("memory/memory.stat"), "total_inactive_file 4096\n");
        let c = "clipper/u1/u1-main-0";
        write(
            &cg.join("cpuacct").join(c).join("cpuacct.usage"),
            "1500000000\n",
        );
        write(
            &cg.join("memory").join(c).join("memory.usage_in_bytes"),
            "8192\n",
        );
        write(
            &cg.join("memory").join(c).join("memory.stat"),
            "cache 0\ntotal_inactive_file 4096\n",
        );
        write(&cg.join("cpuacct/clipper/u1/cpuacct.usage"), "2000000000\n");
        write(
            &cg.join("memory/clipper/u1/memory.usage_in_bytes"),
            "12288\n",
        );
        write(
            &cg.join("memory/clipper/u1/memory.stat"),
            "total_inactive_file 0\n",
        );
        let containers_dir = dir.path().join("containers");
        write(
            &containers_dir.join("u1-main-0/start.json"),
            r#"{"started_at":"2026-01-01T00:00:00Z"}"#,
        );
        let collector = Collector {
            cgroup_root: cg,
            proc_root: proc,
            containers_dir: Some(containers_dir),
            clock_ticks: 100,
        };
        let refs = vec![
            ContainerRef {
                namespace: "ns".into(),
                pod: "p".into(),
                pod_uid: "u1".into(),
                container: "main".into(),
                id: "u1-main-0".into(),
            },
            // Gone between the listing and the read: left out.
            ContainerRef {
                namespace: "ns".into(),
                pod: "q".into(),
                pod_uid: "u2".into(),
                container: "main".into(),
                id: "u2-main-0".into(),
            },
            // Never read outside the tree.
            ContainerRef {
                namespace: "ns".into(),
                pod: "r".into(),
                pod_uid: "..".into(),
                container: "main".into(),
                id: "x".into(),
            },
        ];
        let snap = collector.collect(&refs);
        let node = snap.node.expect("node");
        assert_eq!(node.cpu_nanos, 3_000_000_000);
        assert_eq!(node.working_set_bytes, 1048576 - 4096);
        assert_eq!(snap.containers.len(), 1);
        assert_eq!(snap.containers[0].usage.cpu_nanos, 1_500_000_000);
        assert_eq!(snap.containers[0].usage.working_set_bytes, 4096);
        assert_eq!(snap.containers[0].start_time, Some(1_767_225_600.0));
        assert_eq!(snap.pods.len(), 1);
        assert_eq!(snap.pods[0].usage.working_set_bytes, 12288);

        let text = render(&snap);
        let ts = snap.containers[0].usage.timestamp_ms;
        assert!(text.contains("# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds\n# TYPE container_cpu_usage_seconds_total counter\n"), "{text}");
        assert!(text.contains(&format!(
            "container_cpu_usage_seconds_total{{container=\"main\",namespace=\"ns\",pod=\"p\"}} 1.5 {ts}\n"
        )));
        assert!(text.contains(&format!(
            "container_memory_working_set_bytes{{container=\"main\",namespace=\"ns\",pod=\"p\"}} 4096 {ts}\n"
        )));
        assert!(text.contains(
            "container_start_time_seconds{container=\"main\",namespace=\"ns\",pod=\"p\"} 1767225600 1767225600000\n"
        ));
        assert!(text.contains(&format!(
            "node_cpu_usage_seconds_total 3 {}\n",
            node.timestamp_ms
        )));
        assert!(text.contains("# TYPE node_memory_working_set_bytes gauge\n"));
        assert!(text.contains("pod_cpu_usage_seconds_total{namespace=\"ns\",pod=\"p\"} 2 "));
        assert!(text.contains("pod_memory_working_set_bytes{namespace=\"ns\",pod=\"p\"} 12288 "));
        assert!(text.ends_with("resource_scrape_error 0\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
