//! The workload controllers (ReplicaSet, Deployment) against a real `clipper up`, driven
//! by stock kubectl. Clusters run without a node agent, so pods never run: the test plays
//! the kubelet, writing a pod's status (Running, Ready) through the status subresource
//! with the admin kubeconfig. Each phase awaits its outcome with a deadline.

mod common;

use common::{Cluster, Kubectl};
use serde_json::Value;
use std::time::Duration;

/// How long a controller may take to act.
const WAIT: Duration = Duration::from_secs(30);
/// Pause between two looks while polling (kubectl has no event to await here).
const POLL: Duration = Duration::from_millis(100);
const KUBECTL: &str = "1.33";

#[track_caller]
fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    common::wait_until(what, WAIT, POLL, cond)
}

/// The pods of `ns` with label selector `sel`, as JSON objects.
fn pods(k: &Kubectl, ns: &str, sel: &str) -> Vec<Value> {
    let v = k.json(&["get", "pods", "-n", ns, "-l", sel]);
    v["items"].as_array().cloned().unwrap_or_default()
}

fn name(o: &Value) -> String {
    o["metadata"]["name"].as_str().unwrap_or("").to_string()
}

fn controller_of(o: &Value) -> Option<(String, String)> {
    o["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)
        .map(|r| {
            (
                r["kind"].as_str().unwrap_or("").to_string(),
                r["name"].as_str().unwrap_or("").to_string(),
            )
        })
}

/// Plays the kubelet: the pod is Running and Ready from now on.
fn mark_ready(k: &Kubectl, ns: &str, pod: &str) {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date runs");
    let now = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let patch = serde_json::json!({"status": {
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
        ],
    }});
    k.ok(&[
        "patch",
        "pod",
        pod,
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch.to_string(),
    ]);
}

fn is_ready(p: &Value) -> bool {
    p["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// Marks every pod matching `sel` that is not ready yet; returns how many it marked.
fn mark_all_ready(k: &Kubectl, ns: &str, sel: &str) -> usize {
    let mut n = 0;
    for p in pods(k, ns, sel) {
        if !is_ready(&p) && p["metadata"]["deletionTimestamp"].is_null() {
            mark_ready(k, ns, &name(&p));
            n += 1;
        }
    }
    n
}

fn jsonpath(k: &Kubectl, ns: &str, what: &str, path: &str) -> String {
    k.ok(&["get", what, "-n", ns, "-o", &format!("jsonpath={path}")])
}

/// Waits until `path` of `what` reads `expect`; a timeout reports the last value.
#[track_caller]
fn wait_for_jsonpath(k: &Kubectl, ns: &str, what: &str, path: &str, expect: &str) {
    let mut last;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        last = jsonpath(k, ns, what, path);
        if last == expect {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} {path}: waited {WAIT:?} for {expect:?}, last {last:?}\n{}",
            k.ok(&["get", what, "-n", ns, "-o", "yaml"])
        );
        std::thread::sleep(POLL);
    }
}

/// A standalone ReplicaSet: adopts a matching orphan, creates the rest, replaces a
/// deleted pod, scales both ways, releases a pod whose labels stop matching, and
/// reports ready and available replicas.
#[test]
fn replicaset_keeps_its_replicas() {
    let cluster = Cluster::start();
    let k = cluster.kubectl(KUBECTL);
    let ns = "rs";
    k.ok(&["create", "namespace", ns]);
    k.ok(&[
        "run",
        "orphan",
        "-n",
        ns,
        "--image=busybox",
        "--labels=app=front",
    ]);
    let rs = format!(
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: front\n  namespace: {ns}\nspec:\n  replicas: 3\n  selector:\n    matchLabels: {{app: front}}\n  template:\n    metadata:\n      labels: {{app: front}}\n    spec:\n      containers:\n      - {{name: c, image: busybox}}\n"
    );
    k.ok_stdin(&["create", "-f", "-"], &rs);
    wait_until("3 pods owned by the ReplicaSet", || {
        let ps = pods(&k, ns, "app=front");
        ps.len() == 3
            && ps
                .iter()
                .all(|p| controller_of(p) == Some(("ReplicaSet".into(), "front".into())))
    });
    let ps = pods(&k, ns, "app=front");
    assert!(
        ps.iter().any(|p| name(p) == "orphan"),
        "the orphan was adopted, not replaced"
    );
    let created: Vec<String> = ps.iter().map(name).filter(|n| n != "orphan").collect();
    assert!(
        created.iter().all(|n| n.starts_with("front-")),
        "{created:?}"
    );
    assert_eq!(
        ps[0]["metadata"]["ownerReferences"][0]["blockOwnerDeletion"],
        true
    );

    // The status counts them; ready and available once the "kubelet" says so.
    wait_for_jsonpath(&k, ns, "rs/front", "{.status.replicas}", "3");
    assert_eq!(mark_all_ready(&k, ns, "app=front"), 3);
    wait_for_jsonpath(
        &k,
        ns,
        "rs/front",
        "{.status.readyReplicas}/{.status.availableReplicas}/{.status.fullyLabeledReplicas}/{.status.observedGeneration}",
        "3/3/3/1",
    );

    // A deleted pod is replaced.
    let victim = created[0].clone();
    k.ok(&["delete", "pod", &victim, "-n", ns, "--wait=false"]);
    wait_until("a replacement pod", || {
        let ps = pods(&k, ns, "app=front");
        ps.len() == 3 && ps.iter().all(|p| name(p) != victim)
    });

    // Scale up, then down: the pods that are not ready go first.
    k.ok(&["scale", "rs/front", "-n", ns, "--replicas=5"]);
    wait_until("5 pods", || pods(&k, ns, "app=front").len() == 5);
    k.ok(&["scale", "rs/front", "-n", ns, "--replicas=2"]);
    wait_until("2 pods", || pods(&k, ns, "app=front").len() == 2);
    let left = pods(&k, ns, "app=front");
    assert!(
        left.iter().all(is_ready),
        "the ready pods are kept: {:?}",
        left.iter().map(name).collect::<Vec<_>>()
    );
    wait_for_jsonpath(
        &k,
        ns,
        "rs/front",
        "{.status.replicas}/{.status.observedGeneration}",
        "2/3",
    );

    // A pod whose labels stop matching is released and replaced.
    let kept = name(&left[0]);
    k.ok(&[
        "label",
        "pod",
        &kept,
        "-n",
        ns,
        "app=elsewhere",
        "--overwrite",
    ]);
    wait_until("the relabelled pod released", || {
        controller_of(&k.json(&["get", "pod", &kept, "-n", ns])).is_none()
    });
    wait_until("2 matching pods again", || {
        pods(&k, ns, "app=front").len() == 2
    });

    // Deleting the ReplicaSet takes its pods (the garbage collector), not the released one.
    k.ok(&["delete", "rs/front", "-n", ns]);
    wait_until("the ReplicaSet's pods gone", || {
        pods(&k, ns, "app=front").is_empty()
    });
    assert_eq!(pods(&k, ns, "app=elsewhere").len(), 1);
}
