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
            "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
        ),
        "kube-scheduler's wording, with DefaultPreemption's clause"
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

    // A claim bound to a local volume pins its pod to the volume's node; a missing claim
    // is refused before any node is looked at.
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: local-b}\nspec:\n  capacity: {storage: 1Gi}\n  accessModes: [ReadWriteOnce]\n  local: {path: /mnt/disk}\n  nodeAffinity:\n    required:\n      nodeSelectorTerms: [{matchExpressions: [{key: zone, operator: In, values: [b]}]}]\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data-b, namespace: sched}\nspec:\n  volumeName: local-b\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n",
    );
    let with_claim = |name: &str, claim: &str| {
        pod(
            name,
            "100m",
            &format!(
                "  volumes: [{{name: data, persistentVolumeClaim: {{claimName: {claim}}}}}]\n"
            ),
        )
    };
    k.ok_stdin(&["apply", "-f", "-"], &with_claim("on-volume", "data-b"));
    assert_eq!(
        wait_for_node(&k, "on-volume"),
        "node-b",
        "the local volume's node"
    );
    k.ok_stdin(&["apply", "-f", "-"], &with_claim("no-claim", "nope"));
    let (_guard3, events) = k.spawn_lines(&[
        "get",
        "events",
        "-n",
        "sched",
        "-w",
        "--field-selector=involvedObject.name=no-claim,reason=FailedScheduling",
        "-o",
        "jsonpath={.message}{\"\\n\"}",
    ]);
    let seen = expect_line(&events, WAIT, "FailedScheduling for no-claim", |l| {
        l.starts_with("0/4 nodes are available")
    });
    assert_eq!(
        seen.last().map(String::as_str),
        Some(
            "0/4 nodes are available: persistentvolumeclaim \"nope\" not found. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling."
        )
    );
    cluster.stop();
}

fn priority_pod(name: &str, cpu: &str, class: &str, scheduler: &str) -> String {
    pod(
        name,
        cpu,
        &format!(
            "  priorityClassName: {class}\n  schedulerName: {scheduler}\n  terminationGracePeriodSeconds: 0\n"
        ),
    )
}

/// Preemption through the whole control plane, with a configuration file of two
/// profiles: a high-priority pod that fits nowhere evicts a lower-priority pod (it gets
/// the DisruptionTarget condition and a Preempted event, and is deleted), is nominated,
/// and binds where room was made; under the profile with DefaultPreemption disabled the
/// same situation leaves the pod pending and says why.
#[test]
fn preemption_priority_classes_and_profiles_from_a_configuration_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("scheduler.yaml");
    std::fs::write(
        &config,
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: default-scheduler\n- schedulerName: no-preempt\n  plugins:\n    postFilter:\n      disabled: [{name: DefaultPreemption}]\n",
    )
    .expect("write config");
    let config = config.to_str().expect("utf-8 path").to_string();
    let cluster = Cluster::start_with(dir, &["--scheduler-config", &config]);
    let k = cluster.kubectl("1.33");
    k.ok(&["create", "namespace", "sched"]);
    k.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            "{}apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {{name: low}}\nvalue: 10\n---\napiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {{name: high}}\nvalue: 1000\n",
            node("only", "2", "zone: a", None)
        ),
    );
    let low = format!(
        "{}{}",
        priority_pod("low-1", "1", "low", "default-scheduler"),
        priority_pod("low-2", "1", "low", "default-scheduler")
    );
    k.ok_stdin(&["apply", "-f", "-"], &low);
    assert_eq!(wait_for_node(&k, "low-1"), "only");
    assert_eq!(wait_for_node(&k, "low-2"), "only");

    // The node is full. Under the profile without preemption the high pod just waits.
    k.ok_stdin(
        &["apply", "-f", "-"],
        &priority_pod("high-np", "1", "high", "no-preempt"),
    );
    let (_g, events) = k.spawn_lines(&[
        "get",
        "events",
        "-n",
        "sched",
        "-w",
        "--field-selector=involvedObject.name=high-np,reason=FailedScheduling",
        "-o",
        "jsonpath={.message}{\"\\n\"}",
    ]);
    let seen = expect_line(&events, WAIT, "FailedScheduling for high-np", |l| {
        l.starts_with("0/1 nodes are available")
    });
    assert_eq!(
        seen.last().map(String::as_str),
        Some("0/1 nodes are available: 1 Insufficient cpu."),
        "no preemption under this profile, so no preemption clause"
    );
    assert_eq!(
        k.ok(&["get", "pods", "-n", "sched", "-o", "name"])
            .lines()
            .count(),
        3,
        "nothing was evicted"
    );
    k.ok(&["delete", "pod", "high-np", "-n", "sched"]);

    // The same pod under the default profile preempts one low pod and takes its room.
    k.ok_stdin(
        &["apply", "-f", "-"],
        &priority_pod("high", "1", "high", "default-scheduler"),
    );
    assert_eq!(wait_for_node(&k, "high"), "only");
    let high_uid = k.ok(&[
        "get",
        "pod",
        "high",
        "-n",
        "sched",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    assert_eq!(
        k.ok(&[
            "get",
            "pod",
            "high",
            "-n",
            "sched",
            "-o",
            "jsonpath={.spec.priority} {.status.nominatedNodeName}"
        ]),
        "1000 only",
        "priority resolved from the class; nominated to the node before binding"
    );
    let left: Vec<String> = k
        .ok(&["get", "pods", "-n", "sched", "-o", "name", "-l", ""])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(left.len(), 2, "exactly one victim: {left:?}");
    let preempted = k.ok(&[
        "get",
        "events",
        "-n",
        "sched",
        "--field-selector=reason=Preempted",
        "-o",
        "jsonpath={.items[*].involvedObject.name}={.items[*].message}",
    ]);
    let (victim, message) = preempted.split_once('=').expect("one Preempted event");
    assert!(
        victim == "low-1" || victim == "low-2",
        "a low pod was the victim: {preempted}"
    );
    assert!(
        !left.iter().any(|p| p == &format!("pod/{victim}")),
        "the victim is gone: {left:?}"
    );
    assert_eq!(message, format!("Preempted by pod {high_uid} on node only"));
    let failed = k.ok(&[
        "get",
        "events",
        "-n",
        "sched",
        "--field-selector=involvedObject.name=high,reason=FailedScheduling",
        "-o",
        "jsonpath={.items[0].message}",
    ]);
    assert_eq!(failed, "0/1 nodes are available: 1 Insufficient cpu.");

    // The Priority admission plugin refuses what kube-apiserver refuses.
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        priority_pod("no-class", "1", "missing", "default-scheduler"),
    )
    .expect("write");
    let err = k.fails(&["create", "-f", bad.to_str().expect("utf-8")]);
    assert!(
        err.contains(
            r#"pods "no-class" is forbidden: no PriorityClass with name missing was found"#
        ),
        "{err}"
    );
    std::fs::write(
        &bad,
        pod(
            "wrong-value",
            "1",
            "  priorityClassName: low\n  priority: 7\n",
        ),
    )
    .expect("write");
    let err = k.fails(&["create", "-f", bad.to_str().expect("utf-8")]);
    assert!(
        err.contains("the integer value of priority (7) must not be provided in pod spec; priority admission controller computed 10 from the given PriorityClass name"),
        "{err}"
    );
    // Built-in classes resolve without an object.
    std::fs::write(
        &bad,
        pod(
            "critical",
            "0",
            "  priorityClassName: system-node-critical\n",
        ),
    )
    .expect("write");
    k.ok(&["create", "-f", bad.to_str().expect("utf-8")]);
    assert_eq!(
        k.ok(&[
            "get",
            "pod",
            "critical",
            "-n",
            "sched",
            "-o",
            "jsonpath={.spec.priority} {.spec.preemptionPolicy}"
        ]),
        "2000001000 PreemptLowerPriority"
    );
    cluster.stop();
}
