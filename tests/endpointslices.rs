//! The EndpointSlice controller against a real `clipper up`, driven by stock kubectl.
//! The cluster runs without a node agent: the test plays the kubelet, writing each pod's
//! IP and Ready condition through the status subresource. Each phase awaits its outcome
//! with a deadline.

mod common;

use common::{Cluster, Kubectl};
use serde_json::{Value, json};
use std::time::Duration;

/// How long the controller may take to act.
const WAIT: Duration = Duration::from_secs(30);
/// Pause between two looks while polling (kubectl has no event to await here).
const POLL: Duration = Duration::from_millis(100);
const KUBECTL: &str = "1.33";
const NS: &str = "eps";
const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io";

/// The controller's slices of Service `svc`.
fn slices(k: &Kubectl, svc: &str) -> Vec<Value> {
    let sel = format!("kubernetes.io/service-name={svc},{MANAGED_BY}");
    let v = k.json(&["get", "endpointslices", "-n", NS, "-l", &sel]);
    v["items"].as_array().cloned().unwrap_or_default()
}

/// `(pod, ip, ready, port)` of every endpoint of the Service's slices, sorted.
fn endpoints(k: &Kubectl, svc: &str) -> Vec<(String, String, bool, i64)> {
    let mut out = Vec::new();
    for s in slices(k, svc) {
        let port = s["ports"][0]["port"].as_i64().unwrap_or(0);
        for e in s["endpoints"].as_array().cloned().unwrap_or_default() {
            out.push((
                e["targetRef"]["name"].as_str().unwrap_or("").to_string(),
                e["addresses"][0].as_str().unwrap_or("").to_string(),
                e["conditions"]["ready"] == true,
                port,
            ));
        }
    }
    out.sort();
    out
}

/// Waits until the Service's endpoints read `expect`; a timeout reports the last value.
#[track_caller]
fn wait_for_endpoints(k: &Kubectl, svc: &str, expect: &[(&str, &str, bool, i64)]) {
    let expect: Vec<_> = expect
        .iter()
        .map(|(n, ip, r, p)| (n.to_string(), ip.to_string(), *r, *p))
        .collect();
    common::wait_for(
        &format!("the endpoints of {svc} to be {expect:?}"),
        WAIT,
        POLL,
        || endpoints(k, svc),
        |last| *last == expect,
        || k.ok(&["get", "endpointslices", "-n", NS, "-o", "yaml"]),
    );
}

/// A pod labelled app=web whose container port 8080 is named http.
fn create_pod(k: &Kubectl, name: &str) {
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox",
            "ports": [{"name": "http", "containerPort": 8080}]}]},
    });
    k.ok_stdin(&["create", "-f", "-"], &pod.to_string());
}

/// Plays the kubelet: the pod runs at `ip`, Ready or not.
fn set_status(k: &Kubectl, name: &str, ip: &str, ready: bool) {
    let status = if ready { "True" } else { "False" };
    let patch = json!({"status": {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": status}],
    }});
    k.ok(&[
        "patch",
        "pod",
        name,
        "-n",
        NS,
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch.to_string(),
    ]);
}

/// A Service selecting app=web with a named target port: one slice holds both pods
/// (ready and not), on the resolved port; a deleted pod and a pod whose labels stop
/// matching leave it; the Service's deletion takes its slices; a slice written by hand
/// without the managed-by label is left alone throughout.
#[test]
fn endpointslices_follow_services_and_pods() {
    let cluster = Cluster::start();
    let k = cluster.kubectl(KUBECTL);
    k.ok(&["create", "namespace", NS]);
    let manual = json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "web-manual", "namespace": NS,
            "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["192.0.2.1"]}],
        "ports": [{"name": "http", "port": 1234, "protocol": "TCP"}],
    });
    k.ok_stdin(&["create", "-f", "-"], &manual.to_string());
    let manual_rv = |k: &Kubectl| {
        k.ok(&[
            "get",
            "endpointslice",
            "web-manual",
            "-n",
            NS,
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
    };
    let rv = manual_rv(&k);

    let svc = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {"selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}]},
    });
    k.ok_stdin(&["create", "-f", "-"], &svc.to_string());
    for p in ["a", "b", "c"] {
        create_pod(&k, p);
    }
    set_status(&k, "a", "10.1.0.1", true);
    set_status(&k, "b", "10.1.0.2", false);
    set_status(&k, "c", "10.1.0.3", true);
    wait_for_endpoints(
        &k,
        "web",
        &[
            ("a", "10.1.0.1", true, 8080),
            ("b", "10.1.0.2", false, 8080),
            ("c", "10.1.0.3", true, 8080),
        ],
    );
    let all = slices(&k, "web");
    assert_eq!(all.len(), 1, "one slice: {all:?}");
    let s = &all[0];
    assert!(
        s["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("web-") && n != "web-manual"),
        "{s}"
    );
    assert_eq!(s["addressType"], "IPv4");
    assert_eq!(s["ports"][0]["name"], "http");
    assert_eq!(s["ports"][0]["protocol"], "TCP");
    let owner = &s["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "Service");
    assert_eq!(owner["name"], "web");
    assert_eq!(owner["controller"], true);
    assert_eq!(owner["blockOwnerDeletion"], true);
    let b = s["endpoints"]
        .as_array()
        .and_then(|es| es.iter().find(|e| e["targetRef"]["name"] == "b"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(b["conditions"]["serving"], false, "{b}");
    assert_eq!(b["targetRef"]["kind"], "Pod", "{b}");
    assert_eq!(b["targetRef"]["namespace"], NS, "{b}");
    assert!(
        b["targetRef"]["uid"]
            .as_str()
            .is_some_and(|u| !u.is_empty())
    );

    // A pod deleted (no kubelet here: delete it outright) leaves the slice.
    k.ok(&[
        "delete",
        "pod",
        "a",
        "-n",
        NS,
        "--grace-period=0",
        "--force",
    ]);
    wait_for_endpoints(
        &k,
        "web",
        &[
            ("b", "10.1.0.2", false, 8080),
            ("c", "10.1.0.3", true, 8080),
        ],
    );
    // A pod whose labels stop matching leaves it too.
    k.ok(&["label", "pod", "c", "-n", NS, "app=other", "--overwrite"]);
    wait_for_endpoints(&k, "web", &[("b", "10.1.0.2", false, 8080)]);
    assert_eq!(slices(&k, "web").len(), 1, "still one slice");

    // The Service deleted: its slices go.
    k.ok(&["delete", "service", "web", "-n", NS]);
    common::wait_until("the Service's slices deleted", WAIT, POLL, || {
        slices(&k, "web").is_empty()
    });
    // The hand-written slice was never touched.
    assert_eq!(manual_rv(&k), rv, "the hand-written slice was left alone");
    let m = k.json(&["get", "endpointslice", "web-manual", "-n", NS]);
    assert_eq!(m["ports"][0]["port"], 1234);
    assert_eq!(m["endpoints"][0]["addresses"][0], "192.0.2.1");
}
