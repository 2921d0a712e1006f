//! The patches kubectl itself sends, applied to the objects it sends them for.

use serde_json::{Value, json};

use super::{DEPLOYMENT, POD, deployment, pod, set};
use crate::patch::{PatchType, merge_patch, strategic_merge};

fn smp(original: &Value, patch: Value, definition: &str) -> Value {
    match strategic_merge(original, &patch, definition) {
        Ok(v) => v,
        Err(e) => panic!("{patch} failed: {e}"),
    }
}

#[test]
fn set_image() {
    // kubectl set image deployment/web app=nginx:1.27
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
        "containers": [{"image": "nginx:1.27", "name": "app"}]
    }}}});
    assert_eq!(
        smp(&deployment(), patch, DEPLOYMENT),
        set(
            deployment(),
            "/spec/template/spec/containers/0/image",
            json!("nginx:1.27")
        )
    );
}

#[test]
fn set_env() {
    // kubectl set env deployment/web LOG=debug: a nested $setElementOrder in a list item.
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
        "containers": [{
            "$setElementOrder/env": [{"name": "MODE"}, {"name": "LOG"}],
            "env": [{"name": "LOG", "value": "debug"}],
            "name": "app"
        }]
    }}}});
    assert_eq!(
        smp(&deployment(), patch, DEPLOYMENT),
        set(
            deployment(),
            "/spec/template/spec/containers/0/env",
            json!([{"name": "MODE", "value": "prod"}, {"name": "LOG", "value": "debug"}])
        )
    );
}

#[test]
fn rollout_restart() {
    // kubectl rollout restart deployment/web, twice.
    let restart = |at: &str| json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": at}}}}});
    let once = smp(&deployment(), restart("2025-06-01T12:00:00Z"), DEPLOYMENT);
    let want = set(
        deployment(),
        "/spec/template/metadata/annotations",
        json!({"kubectl.kubernetes.io/restartedAt": "2025-06-01T12:00:00Z"}),
    );
    assert_eq!(once, want);
    let twice = smp(&once, restart("2025-06-02T08:30:00Z"), DEPLOYMENT);
    assert_eq!(
        twice["spec"]["template"]["metadata"]["annotations"],
        json!({"kubectl.kubernetes.io/restartedAt": "2025-06-02T08:30:00Z"})
    );
}

#[test]
fn label_annotate_scale_are_merge_patches() {
    // kubectl label / annotate / scale send application/merge-patch+json.
    let labelled = merge_patch(&pod(), &json!({"metadata": {"labels": {"env": "prod"}}})).unwrap();
    assert_eq!(labelled, set(pod(), "/metadata/labels/env", json!("prod")));
    let unlabelled =
        merge_patch(&labelled, &json!({"metadata": {"labels": {"env": null}}})).unwrap();
    assert_eq!(unlabelled, pod());
    let annotated = PatchType::from_content_type("application/merge-patch+json")
        .unwrap()
        .apply(
            &pod(),
            &json!({"metadata": {"annotations": {"note": null, "owner": "team-a"}}}),
            POD,
        )
        .unwrap();
    assert_eq!(
        annotated["metadata"]["annotations"],
        json!({"owner": "team-a"})
    );
    let scaled = merge_patch(&deployment(), &json!({"spec": {"replicas": 5}})).unwrap();
    assert_eq!(scaled, set(deployment(), "/spec/replicas", json!(5)));
}

#[test]
fn cordon() {
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}, "spec": {"podCIDR": "10.0.0.0/24"}});
    let cordoned = smp(
        &node,
        json!({"spec": {"unschedulable": true}}),
        "io.k8s.api.core.v1.Node",
    );
    assert_eq!(cordoned, set(node, "/spec/unschedulable", json!(true)));
}

#[test]
fn patch_adding_a_container_puts_it_first() {
    // kubectl patch deployment --patch-file with a containers list naming a new
    // container: the list merges, and the new container comes first (as in the
    // Kubernetes documentation's "Update API Objects in Place Using kubectl patch").
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "redis", "image": "redis"}]}}}});
    let got = smp(&deployment(), patch, DEPLOYMENT);
    let names: Vec<&str> = got["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["redis", "app", "sidecar"]);
}

/// Client-side `kubectl apply`: the live object has a server-injected container and
/// env var and defaulted fields; the three-way patch changes what the user changed and
/// keeps the rest.
#[test]
fn client_side_apply_three_way_patch() {
    let live = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "labels": {"app": "web"},
            "annotations": {
                "deployment.kubernetes.io/revision": "3",
                "kubectl.kubernetes.io/last-applied-configuration": "{\"old\":true}\n"
            }
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "nginx:1.25",
                            "imagePullPolicy": "IfNotPresent",
                            "resources": {"limits": {"cpu": "1"}},
                            "env": [
                                {"name": "MODE", "value": "prod"},
                                {"name": "DEBUG", "value": "1"},
                                {"name": "INJECTED", "value": "yes"}
                            ]
                        },
                        {"name": "istio-proxy", "image": "istio/proxyv2"}
                    ],
                    "restartPolicy": "Always"
                }
            }
        }
    });
    let patch = json!({
        "metadata": {
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"new\":true}\n"},
            "labels": {"team": "web"}
        },
        "spec": {
            "strategy": {"$retainKeys": ["type"], "rollingUpdate": null, "type": "Recreate"},
            "template": {"spec": {
                "$setElementOrder/containers": [{"name": "app"}, {"name": "metrics"}],
                "containers": [
                    {
                        "$setElementOrder/env": [{"name": "MODE"}],
                        "env": [{"$patch": "delete", "name": "DEBUG"}],
                        "image": "nginx:1.27",
                        "name": "app",
                        "resources": null
                    },
                    {"image": "prom/prometheus:2", "name": "metrics"}
                ]
            }}
        }
    });
    let got = smp(&live, patch, DEPLOYMENT);

    let mut want = live.clone();
    want = set(
        want,
        "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
        json!("{\"new\":true}\n"),
    );
    want = set(want, "/metadata/labels/team", json!("web"));
    want = set(want, "/spec/strategy", json!({"type": "Recreate"}));
    want = set(
        want,
        "/spec/template/spec/containers",
        json!([
            {
                "name": "app",
                "image": "nginx:1.27",
                "imagePullPolicy": "IfNotPresent",
                "env": [{"name": "MODE", "value": "prod"}, {"name": "INJECTED", "value": "yes"}]
            },
            {"name": "metrics", "image": "prom/prometheus:2"},
            {"name": "istio-proxy", "image": "istio/proxyv2"}
        ]),
    );
    assert_eq!(got, want);
}

#[test]
fn client_side_apply_finalizers() {
    // Last applied [a, b], new config [b, c]: kubectl deletes a, adds c, orders b, c.
    let patch = json!({"metadata": {
        "$deleteFromPrimitiveList/finalizers": ["example.com/a"],
        "$setElementOrder/finalizers": ["example.com/b", "example.com/c"],
        "finalizers": ["example.com/c"]
    }});
    assert_eq!(
        smp(&pod(), patch, POD),
        set(
            pod(),
            "/metadata/finalizers",
            json!(["example.com/b", "example.com/c"])
        )
    );
}
