//! The scheduler inside `clipper up`, end to end: Node objects and pods written with
//! kubectl, placements decided by the decision core over informers fed by QUIC watches,
//! bindings and events written over HTTPS — checked through kubectl: where each pod
//! went, the FailedScheduling text `kubectl describe pod` shows, and a pending pod
//! placed as soon as a node that fits it appears.

mod common;

use common::{Cluster, Kubectl, expect_line};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn node(name: &str, cpu: &str, labels: &str, taint: Option<&str>) -> String {
    let taints = match taint {
        Some(t) => format!("  taints: [{t}]\n"),
        None => String::new(),
    };
    format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels: {{{labels}}}\nspec:\n{taints}status:\n  capacity: {{cpu: \"{cpu}\", memory: 8Gi, pods: \"110\"}}\n  allocatable: {{cpu: \"{cpu}\", memory: 8Gi, pods: \"110\"}}\n---\n"
    )
}

fn pod(name: &str, cpu: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: sched\nspec:\n{extra}  containers:\n  - name: c\n    image: busybox\n    resources: {{requests: {{cpu: \"{cpu}\"}}}}\n---\n"
    )
}

/// Waits (on a watch, not by polling) until the pod has a node; returns it.
fn wait_for_node(k: &Kubectl, name: &str) -> String {
    let (_guard, lines) = k.spawn_lines(&[
        "get",
        "pod",
        name,
        "-n",
        "sched",
        "-w",
        "-o",
        "jsonpath={.spec.nodeName}{\"\\n\"}",
    ]);
    let seen = expect_line(&lines, WAIT, &format!("{name} bound"), |l| {
        !l.trim().is_empty()
    });
    seen.last().cloned().unwrap_or_default().trim().to_string()
}

#[test]
fn the_scheduler_places_pods_explains_failures_and_retries_on_new_nodes() {
    let cluster = Cluster::start();
    let k = cluster.kubectl("1.33");
    k.ok(&["create", "namespace", "sched"]);
    let mut nodes = String::new();
    nodes.push_str(&node("node-a", "2", "zone: a", None));
    nodes.push_str(&node("node-b", "2", "zone: b", None));
    nodes.push_str(&node(
        "node-gpu",
        "8",
        "zone: a",
        Some("{key: dedicated, value: gpu, effect: NoSchedule}"),
    ));
    k.ok_stdin(&["apply", "-f", "-"], &nodes);

    let mut pods = String::new();
    pods.push_str(&pod("in-b", "500m", "  nodeSelector: {zone: b}\n"));
    pods.push_str(&pod(
        "on-gpu",
        "4",
        "  tolerations: [{key: dedicated, operator: Equal, value: gpu, effect: NoSchedule}]\n",
    ));
    pods.push_str(&pod("big", "3", ""));
    k.ok_stdin(&["apply", "-f", "-"], &pods);

    assert_eq!(wait_for_node(&k, "in-b"), "node-b", "nodeSelector honoured");
    assert_eq!(
        wait_for_node(&k, "on-gpu"),
        "node-gpu",
        "only the tainted node has 4 CPUs, and the pod tolerates it"
    );

    // "big" (3 CPUs) fits nowhere: 2-CPU nodes are too small, the 8-CPU node is tainted.
    let (_guard, events) = k.spawn_lines(&[
        "get",
        "events",
        "-n",
        "sched",
        "-w",
        "--field-selector=involvedObject.name=big,reason=FailedScheduling",
        "-o",
        "jsonpath={.message}{\"\\n\"}",
    ]);
    let seen = expect_line(&events, WAIT, "FailedScheduling for big", |l| {
        l.starts_with("0/3 nodes are available")
    });
    assert_eq!(
        seen.last().map(String::as_str),
        Some(
            "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu."
        ),
        "kube-scheduler's wording"
    );
    let described = k.ok(&["describe", "pod", "big", "-n", "sched"]);
    assert!(
        described.contains("FailedScheduling") && described.contains("2 Insufficient cpu"),
        "describe pod explains why: {described}"
    );
    assert!(
        k.ok(&[
            "get",
            "pod",
            "big",
            "-n",
            "sched",
            "-o",
            "jsonpath={.spec.nodeName}"
        ])
        .is_empty()
    );

    // A node that fits appears: the pending pod is retried at once (no polling).
    k.ok_stdin(&["apply", "-f", "-"], &node("node-c", "4", "zone: c", None));
    assert_eq!(wait_for_node(&k, "big"), "node-c");
    let scheduled = k.ok(&[
        "get",
        "events",
        "-n",
        "sched",
        "--field-selector=involvedObject.name=big,reason=Scheduled",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert_eq!(scheduled, "Successfully assigned sched/big to node-c");

    // Resources are accounted: a second 3-CPU pod does not fit on node-c any more.
    k.ok_stdin(&["apply", "-f", "-"], &pod("big-2", "3", ""));
    let (_guard2, events) = k.spawn_lines(&[
        "get",
        "events",
        "-n",
        "sched",
        "-w",
        "--field-selector=involvedObject.name=big-2,reason=FailedScheduling",
        "-o",
        "jsonpath={.message}{\"\\n\"}",
    ]);
    let seen = expect_line(&events, WAIT, "FailedScheduling for big-2", |l| {
        l.starts_with("0/4 nodes are available")
    });
    assert!(
        seen.last()
            .is_some_and(|m| m.contains("3 Insufficient cpu")),
        "node-c is full now: {seen:?}"
    );
    cluster.stop();
}
