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
    common::wait_for(
        &format!("{what} {path} to be {expect:?}"),
        WAIT,
        POLL,
        || jsonpath(k, ns, what, path),
        |last| last == expect,
        || k.ok(&["get", what, "-n", ns, "-o", "yaml"]),
    );
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

/// Marks pods ready (as a kubelet would) until the Deployment reports `replicas`
/// updated and available replicas and no others.
fn roll_until_complete(k: &Kubectl, ns: &str, deploy: &str, replicas: usize) {
    let want = format!("{replicas}/{replicas}/{replicas}");
    let mut last = String::new();
    wait_until(&format!("{deploy} rolled out"), || {
        mark_all_ready(k, ns, "app=web");
        last = jsonpath(
            k,
            ns,
            deploy,
            "{.status.replicas}/{.status.updatedReplicas}/{.status.availableReplicas}",
        );
        last == want
    });
    k.ok(&["rollout", "status", deploy, "-n", ns, "--timeout=30s"]);
}

fn replicasets(k: &Kubectl, ns: &str) -> Vec<Value> {
    let v = k.json(&["get", "rs", "-n", ns]);
    v["items"].as_array().cloned().unwrap_or_default()
}

/// A Deployment from `kubectl create deployment`: its ReplicaSet and pods, scaling, a
/// rolling update with `kubectl set image` (pods made ready by the test), the rollout
/// history, `kubectl rollout undo`, and the cascading delete.
#[test]
fn deployment_rolls_out_and_back() {
    let cluster = Cluster::start();
    let k = cluster.kubectl(KUBECTL);
    let ns = "dep";
    k.ok(&["create", "namespace", ns]);
    k.ok(&[
        "create",
        "deployment",
        "web",
        "-n",
        ns,
        "--image=busybox",
        "--replicas=3",
    ]);
    wait_until("3 pods of a ReplicaSet of the Deployment", || {
        pods(&k, ns, "app=web").len() == 3
    });
    let rss = replicasets(&k, ns);
    assert_eq!(rss.len(), 1);
    let rs = &rss[0];
    let hash = rs["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .expect("pod-template-hash")
        .to_string();
    assert_eq!(name(rs), format!("web-{hash}"));
    assert_eq!(controller_of(rs), Some(("Deployment".into(), "web".into())));
    assert_eq!(
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    assert_eq!(
        rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"],
        "3"
    );
    assert_eq!(
        rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"],
        "4"
    );
    for p in pods(&k, ns, "app=web") {
        assert_eq!(controller_of(&p), Some(("ReplicaSet".into(), name(rs))));
    }
    roll_until_complete(&k, ns, "deploy/web", 3);
    let conditions = jsonpath(
        &k,
        ns,
        "deploy/web",
        "{range .status.conditions[*]}{.type}={.reason};{end}",
    );
    assert!(
        conditions.contains("Available=MinimumReplicasAvailable")
            && conditions.contains("Progressing=NewReplicaSetAvailable"),
        "{conditions}"
    );

    // Scaling.
    k.ok(&["scale", "deploy/web", "-n", ns, "--replicas=5"]);
    roll_until_complete(&k, ns, "deploy/web", 5);
    k.ok(&["scale", "deploy/web", "-n", ns, "--replicas=1"]);
    wait_until("1 pod", || pods(&k, ns, "app=web").len() == 1);
    k.ok(&["scale", "deploy/web", "-n", ns, "--replicas=3"]);
    roll_until_complete(&k, ns, "deploy/web", 3);

    // A rolling update: a second ReplicaSet takes over; the first ends at 0.
    k.ok(&[
        "set",
        "image",
        "deploy/web",
        "-n",
        ns,
        "busybox=busybox:1.36",
    ]);
    roll_until_complete(&k, ns, "deploy/web", 3);
    let rss = replicasets(&k, ns);
    assert_eq!(rss.len(), 2);
    for rs in &rss {
        let image = rs["spec"]["template"]["spec"]["containers"][0]["image"].clone();
        let want = if image == "busybox:1.36" { 3 } else { 0 };
        assert_eq!(rs["spec"]["replicas"], want, "{}", name(rs));
    }
    for p in pods(&k, ns, "app=web") {
        assert_eq!(p["spec"]["containers"][0]["image"], "busybox:1.36");
    }
    let history = k.ok(&["rollout", "history", "deploy/web", "-n", ns]);
    let revisions: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert_eq!(revisions, ["1", "2"], "{history}");

    // kubectl rollout undo patches the old template back: revision 3, old ReplicaSet.
    k.ok(&["rollout", "undo", "deploy/web", "-n", ns]);
    roll_until_complete(&k, ns, "deploy/web", 3);
    let rss = replicasets(&k, ns);
    assert_eq!(rss.len(), 2, "the old ReplicaSet is reused");
    let back = rss
        .iter()
        .find(|rs| name(rs) == format!("web-{hash}"))
        .expect("the first ReplicaSet");
    assert_eq!(back["spec"]["replicas"], 3);
    assert_eq!(
        back["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    assert_eq!(
        jsonpath(
            &k,
            ns,
            "deploy/web",
            "{.metadata.annotations.deployment\\.kubernetes\\.io/revision}"
        ),
        "3"
    );
    for p in pods(&k, ns, "app=web") {
        assert_eq!(p["spec"]["containers"][0]["image"], "busybox");
    }

    // Deleting the Deployment takes its ReplicaSets and their pods.
    k.ok(&["delete", "deploy/web", "-n", ns]);
    wait_until("ReplicaSets and pods gone", || {
        replicasets(&k, ns).is_empty() && pods(&k, ns, "app=web").is_empty()
    });
}
