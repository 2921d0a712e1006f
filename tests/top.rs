//! Resource metrics end to end: a `clipper up` (scraping every second) with its node
//! agent in a network namespace of the test's own runs a pod that burns CPU and a pod
//! whose two containers hold memory (busybox, runc, cgroups); stock kubectl and
//! `clipper top` read the Metrics API (`metrics.k8s.io/v1beta1`) the API server fills
//! from the agent's `/metrics/resource`: the busy pod's CPU well above the others', the
//! memory held, the node's row, per-container lines, selectors and sorting, kube's
//! NotFound Statuses, RBAC on the metrics resources, and kubectl's messages when there is
//! nothing to show.

mod common;

use std::time::Duration;

use common::node::{Host, busybox_layout};
use common::{Kubectl, rows, wait_for, wait_until};

/// How long pods may take to run (image unpack, runc, CNI on a loaded 2-core machine).
const POD_LIMIT: Duration = Duration::from_secs(90);
/// How long until two scrapes (1 s apart) have seen the pods.
const METRICS_LIMIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(500);

const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: busy
  labels: {app: busy}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: spin
    image: busybox
    command: ["sh", "-c", "while :; do :; done"]
---
apiVersion: v1
kind: Pod
metadata:
  name: holder
  labels: {app: holder}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: hold
    image: busybox
    command: ["sh", "-c", "dd if=/dev/zero of=/dev/shm/held bs=1048576 count=40 && exec sleep 100000"]
  - name: idle
    image: busybox
    command: ["sleep", "100000"]
---
apiVersion: v1
kind: Namespace
metadata:
  name: waiting
---
apiVersion: v1
kind: Pod
metadata:
  name: unscheduled
  namespace: waiting
spec:
  nodeSelector: {nowhere: "true"}
  containers:
  - name: c
    image: busybox
---
apiVersion: v1
kind: Namespace
metadata:
  name: empty
"#;

fn phase(k: &Kubectl, pod: &str) -> String {
    let r = k.run(&["get", "pod", pod, "-o", "jsonpath={.status.phase}"]);
    if r.ok { r.stdout } else { String::new() }
}

/// `123m` → 123; `45Mi` → 45.
fn number(cell: &str) -> u64 {
    cell.trim_end_matches(|c: char| c.is_ascii_alphabetic())
        .parse()
        .unwrap_or_else(|_| panic!("a number in {cell:?}"))
}

/// `kubectl top pod`'s rows by pod name: (CPU millicores, memory Mi).
fn top_pods(k: &Kubectl, args: &[&str]) -> Vec<(String, u64, u64)> {
    let mut all = vec!["top", "pod"];
    all.extend_from_slice(args);
    let r = k.run(&all);
    if !r.ok {
        return Vec::new();
    }
    rows(&r.stdout)
        .into_iter()
        .skip(1)
        .map(|r| (r[0].clone(), number(&r[1]), number(&r[2])))
        .collect()
}

#[test]
fn kubectl_top_shows_the_usage_measured_on_the_node() {
    let mut host = Host::new("ctop");
    let kubeconfig = host.start_with(&[
        "--listen",
        "127.0.0.1:0",
        "--node-name",
        "node-1",
        "--metric-resolution",
        "1s",
    ]);
    let layout = busybox_layout(host.dir.path());
    let root = host.data().join("agent");
    host.clipper(&[
        "image",
        "import",
        layout.to_str().expect("utf-8"),
        "--root",
        root.to_str().expect("utf-8"),
    ]);
    let k = host.kubectl(&kubeconfig, "1.33");
    let c = host.clipper_cli(&kubeconfig);
    k.ok_stdin(&["apply", "-f", "-"], PODS);
    for pod in ["busy", "holder"] {
        wait_until(&format!("pod {pod} Running"), POD_LIMIT, POLL, || {
            phase(&k, pod) == "Running"
        });
    }

    // The busy pod's CPU, measured over the scrape window, stands out; the holder's
    // working set has the 40 MiB it wrote to its tmpfs.
    let seen = wait_for(
        "kubectl top pod to show the busy pod spinning and the holder's memory",
        METRICS_LIMIT,
        POLL,
        || top_pods(&k, &[]),
        |rows| {
            let get = |n: &str| rows.iter().find(|r| r.0 == n);
            matches!(
                (get("busy"), get("holder")),
                (Some(b), Some(h)) if b.1 >= 200 && b.1 > 4 * h.1.max(1) && h.2 >= 40
            )
        },
        || {
            k.run(&["get", "--raw", "/apis/metrics.k8s.io/v1beta1/pods"])
                .stdout
        },
    );
    assert_eq!(seen.len(), 2, "{seen:?}");

    // The header and columns are kubectl's; clipper prints the same table.
    let kubectl_table = k.ok(&["top", "pod", "--sort-by=cpu"]);
    let clipper_table = c.ok(&["top", "pod", "--sort-by=cpu"]);
    for table in [&kubectl_table, &clipper_table] {
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["NAME", "CPU(cores)", "MEMORY(bytes)"],
            "{table}"
        );
        assert!(lines[1].starts_with("busy "), "sorted by CPU: {table}");
        assert!(lines[2].starts_with("holder "), "{table}");
    }
    // Same layout: the header line is aligned alike.
    assert_eq!(
        kubectl_table.lines().next(),
        clipper_table.lines().next(),
        "header"
    );

    // Per container, selectors, all namespaces, no headers.
    let containers = c.ok(&["top", "pod", "holder", "--containers"]);
    let cells = rows(&containers);
    assert_eq!(
        cells[0],
        ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"],
        "{containers}"
    );
    assert_eq!(
        cells[1..]
            .iter()
            .map(|r| (r[0].as_str(), r[1].as_str()))
            .collect::<Vec<_>>(),
        [("holder", "hold"), ("holder", "idle")],
        "{containers}"
    );
    assert!(number(&cells[1][3]) >= 40, "{containers}");
    let kcontainers = k.ok(&["top", "pod", "holder", "--containers"]);
    assert_eq!(rows(&kcontainers).len(), 3, "{kcontainers}");
    let selected = c.ok(&["top", "pod", "-l", "app=busy", "--no-headers"]);
    assert_eq!(
        rows(&selected)
            .iter()
            .map(|r| r[0].as_str())
            .collect::<Vec<_>>(),
        ["busy"],
        "{selected}"
    );
    let all = c.ok(&["top", "pod", "-A", "--sort-by=memory"]);
    let cells = rows(&all);
    assert_eq!(
        cells[0],
        ["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"],
        "{all}"
    );
    assert_eq!(
        (cells[1][0].as_str(), cells[1][1].as_str()),
        ("default", "holder"),
        "{all}"
    );
    // kubectl 1.27 reads the same API.
    let old = host.kubectl(&kubeconfig, "1.27");
    assert!(old.ok(&["top", "pod", "busy"]).contains("busy"));

    // The node: usage and its share of allocatable.
    for tool in [&k, &c] {
        let nodes = tool.ok(&["top", "node"]);
        let cells = rows(&nodes);
        assert_eq!(
            cells[0],
            ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"],
            "{nodes}"
        );
        assert_eq!(cells[1][0], "node-1", "{nodes}");
        assert!(
            number(&cells[1][1]) >= 200,
            "the node runs the busy pod: {nodes}"
        );
        assert!(
            cells[1][2].ends_with('%') && cells[1][4].ends_with('%'),
            "{nodes}"
        );
    }
    let raw = k.ok(&["get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes/node-1"]);
    let node: serde_json::Value = serde_json::from_str(&raw).expect("JSON");
    assert_eq!(node["kind"], "NodeMetrics");
    assert!(node["usage"]["cpu"].is_string() && node["usage"]["memory"].is_string());
    assert!(
        node["window"].as_str().is_some_and(|w| w.ends_with('s')),
        "{raw}"
    );

    // Kube's NotFound Statuses, through kubectl.
    let err = k.fails(&[
        "get",
        "--raw",
        "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/missing",
    ]);
    assert!(
        err.contains("podmetrics.metrics.k8s.io \"missing\" not found"),
        "{err}"
    );
    let err = k.fails(&["top", "node", "nope"]);
    assert!(
        err.contains("nodemetrics.metrics.k8s.io \"nope\" not found"),
        "{err}"
    );
    let err = c.fails(&["top", "pod", "missing"]);
    assert!(
        err.contains(
            "Error from server (NotFound): podmetrics.metrics.k8s.io \"missing\" not found"
        ),
        "{err}"
    );

    // Nothing to show: kubectl's messages, from both.
    for tool in [&k, &c] {
        let r = tool.run(&["top", "pod", "-n", "waiting"]);
        assert_eq!(r.code, Some(1), "{}", r.stdout);
        assert_eq!(r.stderr.trim(), "error: metrics not available yet");
        let r = tool.run(&["top", "pod", "-n", "empty"]);
        assert!(r.ok, "{}", r.stderr);
        assert_eq!(r.stderr.trim(), "No resources found in empty namespace.");
        let r = tool.run(&["top", "pod", "--sort-by=name"]);
        assert_eq!(
            r.stderr.trim(),
            "error: --sort-by accepts only cpu or memory"
        );
    }

    // RBAC: a user without a grant is refused, as on any resource; a Role on
    // pods.metrics.k8s.io lets them read.
    let err = k.fails(&["top", "pod", "--as", "jane"]);
    assert!(
        err.contains(
            "pods.metrics.k8s.io is forbidden: User \"jane\" cannot list resource \"pods\" in API group \"metrics.k8s.io\" in the namespace \"default\""
        ),
        "{err}"
    );
    let r = k.run(&[
        "get",
        "--raw",
        "/apis/metrics.k8s.io/v1beta1/nodes",
        "--as",
        "jane",
    ]);
    assert!(!r.ok && r.stderr.contains("Forbidden"), "{}", r.stderr);
    k.ok(&[
        "create",
        "role",
        "metrics-reader",
        "--verb=get,list",
        "--resource=pods.metrics.k8s.io",
    ]);
    k.ok(&[
        "create",
        "rolebinding",
        "jane-metrics",
        "--role=metrics-reader",
        "--user=jane",
    ]);
    wait_until("jane may read pod metrics", METRICS_LIMIT, POLL, || {
        k.run(&["top", "pod", "busy", "--as", "jane"]).ok
    });

    k.ok(&["delete", "pod", "busy", "holder", "--wait=true"]);
    // The metrics of deleted pods go with them.
    wait_until("no pod metrics left", METRICS_LIMIT, POLL, || {
        k.run(&[
            "get",
            "--raw",
            "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods",
        ])
        .stdout
        .contains("\"items\":[]")
    });
    host.stop();
}
