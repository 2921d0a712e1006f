//! Strategic merge patch on real kinds: every directive, merge keys, replaced lists,
//! ordering, and the errors with kube-apiserver's codes and texts.

use serde_json::{Value, json};

use super::{DEPLOYMENT, POD, deployment, err, ok, pod, run, set, unset};
use crate::patch::{MAX_DEPTH, strategic_merge};

fn pod_smp(original: &Value, patch: &Value) -> Result<Value, crate::patch::PatchError> {
    strategic_merge(original, patch, POD)
}

fn containers(v: &Value) -> Vec<&str> {
    v["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

#[test]
fn pod_lists_and_maps() {
    let app = pod()["spec"]["containers"][0].clone();
    let sidecar = pod()["spec"]["containers"][1].clone();
    run(
        vec![
            ok(
                "container image by name",
                pod(),
                json!({"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}),
                set(pod(), "/spec/containers/0/image", json!("nginx:1.27")),
            ),
            ok(
                "a new container goes before the existing ones",
                pod(),
                json!({"spec": {"containers": [{"name": "debug", "image": "busybox"}]}}),
                set(
                    pod(),
                    "/spec/containers",
                    json!([{"name": "debug", "image": "busybox"}, app.clone(), sidecar.clone()]),
                ),
            ),
            ok(
                "$patch: delete removes a container by merge key",
                pod(),
                json!({"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}),
                set(pod(), "/spec/containers", json!([app.clone()])),
            ),
            ok(
                "$patch: delete of a missing item changes nothing",
                pod(),
                json!({"spec": {"containers": [{"name": "nope", "$patch": "delete"}]}}),
                pod(),
            ),
            ok(
                "$patch: replace item replaces the list with the other items",
                pod(),
                json!({"spec": {"containers": [{"name": "only", "image": "x"}, {"$patch": "replace"}]}}),
                set(
                    pod(),
                    "/spec/containers",
                    json!([{"name": "only", "image": "x"}]),
                ),
            ),
            ok(
                "env merges by name, patch order first",
                pod(),
                json!({"spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}]}]}}),
                set(
                    pod(),
                    "/spec/containers/0/env",
                    json!([{"name": "A", "value": "1"}, {"name": "B", "value": "20"}, {"name": "C", "value": "3"}]),
                ),
            ),
            ok(
                "null removes a member of a list item",
                pod(),
                json!({"spec": {"containers": [{"name": "app", "env": [{"name": "A", "value": null}]}]}}),
                set(pod(), "/spec/containers/0/env/0", json!({"name": "A"})),
            ),
            ok(
                "ports merge by containerPort",
                pod(),
                json!({"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 443, "name": "https"}]}]}}),
                set(pod(), "/spec/containers/0/ports/1/name", json!("https")),
            ),
            ok(
                "a new port goes first",
                pod(),
                json!({"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 8080}]}]}}),
                set(
                    pod(),
                    "/spec/containers/0/ports",
                    json!([
                        {"containerPort": 8080},
                        {"containerPort": 80, "protocol": "TCP"},
                        {"containerPort": 443, "protocol": "TCP"}
                    ]),
                ),
            ),
            ok(
                "args have no strategy: replaced",
                pod(),
                json!({"spec": {"containers": [{"name": "app", "args": ["--z"]}]}}),
                set(pod(), "/spec/containers/0/args", json!(["--z"])),
            ),
            ok(
                "tolerations have no merge key: replaced",
                pod(),
                json!({"spec": {"tolerations": [{"key": "k2", "operator": "Exists"}]}}),
                set(
                    pod(),
                    "/spec/tolerations",
                    json!([{"key": "k2", "operator": "Exists"}]),
                ),
            ),
            ok(
                "volumes merge by name; without $retainKeys both sources stay",
                pod(),
                json!({"spec": {"volumes": [{"name": "conf", "secret": {"secretName": "s1"}}]}}),
                set(
                    pod(),
                    "/spec/volumes/1",
                    json!({"name": "conf", "configMap": {"name": "c1"}, "secret": {"secretName": "s1"}}),
                ),
            ),
            ok(
                "volume source switched with $retainKeys",
                pod(),
                json!({"spec": {"volumes": [{"name": "conf", "secret": {"secretName": "s1"}, "$retainKeys": ["name", "secret"]}]}}),
                set(
                    pod(),
                    "/spec/volumes/1",
                    json!({"name": "conf", "secret": {"secretName": "s1"}}),
                ),
            ),
            ok(
                "labels merge; null deletes",
                pod(),
                json!({"metadata": {"labels": {"env": "prod", "tier": null}}}),
                set(
                    unset(pod(), "/metadata/labels/tier"),
                    "/metadata/labels/env",
                    json!("prod"),
                ),
            ),
            ok(
                "$patch: replace on a map",
                pod(),
                json!({"metadata": {"labels": {"$patch": "replace", "only": "this"}}}),
                set(pod(), "/metadata/labels", json!({"only": "this"})),
            ),
            ok(
                "$patch: delete on a map empties it",
                pod(),
                json!({"spec": {"nodeSelector": {"$patch": "delete"}}}),
                set(pod(), "/spec/nodeSelector", json!({})),
            ),
            ok(
                "null deletes a field",
                pod(),
                json!({"spec": {"nodeSelector": null}, "metadata": {"annotations": null}}),
                unset(unset(pod(), "/spec/nodeSelector"), "/metadata/annotations"),
            ),
            ok(
                "finalizers merge as a set, patch order first",
                pod(),
                json!({"metadata": {"finalizers": ["example.com/c", "example.com/a"]}}),
                set(
                    pod(),
                    "/metadata/finalizers",
                    json!(["example.com/c", "example.com/a", "example.com/b"]),
                ),
            ),
            ok(
                "$deleteFromPrimitiveList removes finalizers",
                pod(),
                json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/a", "example.com/z"]}}),
                set(pod(), "/metadata/finalizers", json!(["example.com/b"])),
            ),
            ok(
                "$deleteFromPrimitiveList on a missing list adds nothing",
                unset(pod(), "/metadata/finalizers"),
                json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/a"]}}),
                unset(pod(), "/metadata/finalizers"),
            ),
            ok(
                "$setElementOrder reorders finalizers",
                pod(),
                json!({"metadata": {"$setElementOrder/finalizers": ["example.com/b", "example.com/a"]}}),
                set(
                    pod(),
                    "/metadata/finalizers",
                    json!(["example.com/b", "example.com/a"]),
                ),
            ),
            ok(
                "$setElementOrder reorders containers",
                pod(),
                json!({"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}]}}),
                set(
                    pod(),
                    "/spec/containers",
                    json!([sidecar.clone(), app.clone()]),
                ),
            ),
            ok(
                "$setElementOrder places a new container",
                pod(),
                json!({"spec": {
                    "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}, {"name": "log"}],
                    "containers": [{"name": "log", "image": "fluent"}]
                }}),
                set(
                    pod(),
                    "/spec/containers",
                    json!([app.clone(), sidecar.clone(), {"name": "log", "image": "fluent"}]),
                ),
            ),
            ok(
                "ownerReferences merge by uid",
                pod(),
                json!({"metadata": {"ownerReferences": [{"uid": "u1", "blockOwnerDeletion": true}]}}),
                set(
                    pod(),
                    "/metadata/ownerReferences/0/blockOwnerDeletion",
                    json!(true),
                ),
            ),
            ok(
                "a second owner",
                pod(),
                json!({"metadata": {"ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": "u2"}]}}),
                set(
                    pod(),
                    "/metadata/ownerReferences",
                    json!([
                        {"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": "u2"},
                        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "u1", "controller": true}
                    ]),
                ),
            ),
            ok(
                "a new field with nulls and directives inside",
                pod(),
                json!({"spec": {"securityContext": {"runAsUser": 1000, "fsGroup": null, "$retainKeys": ["runAsUser"]}}}),
                set(pod(), "/spec/securityContext", json!({"runAsUser": 1000})),
            ),
            ok(
                "a new list drops $patch items",
                pod(),
                json!({"spec": {"initContainers": [{"name": "init", "image": "x"}, {"name": "gone", "$patch": "delete"}]}}),
                set(
                    pod(),
                    "/spec/initContainers",
                    json!([{"name": "init", "image": "x"}]),
                ),
            ),
            ok(
                "a new map with $patch: delete is not added",
                unset(pod(), "/spec/nodeSelector"),
                json!({"spec": {"nodeSelector": {"$patch": "delete"}}}),
                unset(pod(), "/spec/nodeSelector"),
            ),
            ok(
                "a new map with $patch: replace is its content",
                unset(pod(), "/spec/nodeSelector"),
                json!({"spec": {"nodeSelector": {"$patch": "replace", "zone": "a"}}}),
                set(pod(), "/spec/nodeSelector", json!({"zone": "a"})),
            ),
            ok(
                "a value of another type replaces",
                pod(),
                json!({"spec": {"nodeSelector": "oops"}}),
                set(pod(), "/spec/nodeSelector", json!("oops")),
            ),
            ok("null patch changes nothing", pod(), Value::Null, pod()),
            ok("empty patch changes nothing", pod(), json!({}), pod()),
            ok(
                "the whole object with $patch: delete",
                pod(),
                json!({"$patch": "delete"}),
                json!({}),
            ),
            ok(
                "fields the schema lacks merge like a merge patch",
                set(pod(), "/spec/future", json!({"a": {"b": 1, "c": [1, 2]}})),
                json!({"spec": {"future": {"a": {"b": null, "c": [3], "d": 4}}}}),
                set(pod(), "/spec/future", json!({"a": {"c": [3], "d": 4}})),
            ),
        ],
        pod_smp,
    );
}

#[test]
fn other_kinds() {
    let service = json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"ports": [
            {"name": "http", "port": 80, "targetPort": 8080},
            {"name": "https", "port": 443, "targetPort": 8443}
        ], "selector": {"app": "web"}}
    });
    let pdb = json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
        "spec": {"minAvailable": 1, "selector": {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]
        }}
    });
    let revision = json!({
        "apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "web-1"}, "revision": 1,
        "data": {"spec": {"template": {"a": 1, "b": 2}}, "list": [1, 2]}
    });
    let schema_props = json!({
        "type": "object",
        "required": ["a"],
        "properties": {"a": {"type": "string"}, "b": {"type": "integer", "minimum": 0}}
    });
    let cases: Vec<(&str, super::Case)> = vec![
        (
            "io.k8s.api.core.v1.Service",
            ok(
                "Service ports merge by port",
                service.clone(),
                json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}),
                set(service.clone(), "/spec/ports/0/targetPort", json!(9090)),
            ),
        ),
        (
            "io.k8s.api.core.v1.Service",
            ok(
                "Service port deleted by merge key",
                service.clone(),
                json!({"spec": {"ports": [{"port": 443, "$patch": "delete"}]}}),
                set(
                    service.clone(),
                    "/spec/ports",
                    json!([{"name": "http", "port": 80, "targetPort": 8080}]),
                ),
            ),
        ),
        (
            DEPLOYMENT,
            ok(
                "Deployment strategy switched with $retainKeys",
                deployment(),
                json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
                set(deployment(), "/spec/strategy", json!({"type": "Recreate"})),
            ),
        ),
        (
            DEPLOYMENT,
            ok(
                "Deployment strategy without $retainKeys keeps rollingUpdate",
                deployment(),
                json!({"spec": {"strategy": {"type": "Recreate"}}}),
                set(deployment(), "/spec/strategy/type", json!("Recreate")),
            ),
        ),
        (
            DEPLOYMENT,
            ok(
                "$retainKeys with a null for a listed key",
                deployment(),
                json!({"spec": {"strategy": {"$retainKeys": ["rollingUpdate", "type"], "rollingUpdate": {"maxSurge": 1}, "type": null}}}),
                set(
                    deployment(),
                    "/spec/strategy",
                    json!({"rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}}),
                ),
            ),
        ),
        (
            "io.k8s.api.policy.v1.PodDisruptionBudget",
            ok(
                "PDB selector has strategy replace",
                pdb.clone(),
                json!({"spec": {"selector": {"matchLabels": {"app": "api"}}}}),
                set(
                    pdb.clone(),
                    "/spec/selector",
                    json!({"matchLabels": {"app": "api"}}),
                ),
            ),
        ),
        (
            "io.k8s.api.apps.v1.ControllerRevision",
            ok(
                "RawExtension data merges like a merge patch",
                revision.clone(),
                json!({"data": {"spec": {"template": {"a": null, "c": 3}}, "list": [3]}}),
                set(
                    revision.clone(),
                    "/data",
                    json!({"spec": {"template": {"b": 2, "c": 3}}, "list": [3]}),
                ),
            ),
        ),
        (
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps",
            ok(
                "a map of objects merges per entry",
                schema_props.clone(),
                json!({"properties": {"b": {"minimum": null, "maximum": 9}, "c": {"type": "boolean"}}, "required": ["b"]}),
                json!({
                    "type": "object",
                    "required": ["b"],
                    "properties": {"a": {"type": "string"}, "b": {"type": "integer", "maximum": 9}, "c": {"type": "boolean"}}
                }),
            ),
        ),
    ];
    for (definition, case) in cases {
        run(vec![case], |o, p| strategic_merge(o, p, definition));
    }
}

#[test]
fn errors_carry_kube_codes_and_texts() {
    let finalizers_empty = set(pod(), "/metadata/finalizers", json!([]));
    run(
        vec![
            err(
                "item without its merge key",
                pod(),
                json!({"spec": {"containers": [{"image": "x"}]}}),
                500,
                "map: map[image:x] does not contain declared merge key: name",
            ),
            err(
                "delete item without its merge key",
                pod(),
                json!({"spec": {"containers": [{"$patch": "delete", "image": "x"}]}}),
                500,
                "map: map[$patch:delete image:x] does not contain declared merge key: name",
            ),
            err(
                "$patch: merge in a map",
                pod(),
                json!({"metadata": {"labels": {"$patch": "merge", "a": "b"}}}),
                500,
                "unknown patch type: merge in map: map[$patch:merge a:b]",
            ),
            err(
                "$patch: merge in a list",
                pod(),
                json!({"spec": {"containers": [{"$patch": "merge"}]}}),
                500,
                "merging lists cannot yet be specified in the patch",
            ),
            err(
                "unknown $patch in a list",
                pod(),
                json!({"spec": {"containers": [{"$patch": "frob", "name": "app"}]}}),
                500,
                "unknown patch type: frob in map: map[$patch:frob name:app]",
            ),
            err(
                "$retainKeys that is not a list",
                pod(),
                json!({"spec": {"$retainKeys": "containers"}}),
                400,
                "invalid patch format of retainKeys",
            ),
            err(
                "$retainKeys without a patched key",
                deployment(),
                json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}}),
                400,
                "invalid patch format of retainKeys",
            ),
            err(
                "$setElementOrder contradicting the patch list",
                pod(),
                json!({"spec": {
                    "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
                    "containers": [{"name": "app", "image": "a"}, {"name": "sidecar", "image": "b"}]
                }}),
                500,
                "The order in patch list:\n[map[image:a name:app] map[image:b name:sidecar]]\n doesn't match $setElementOrder list:\n[map[name:sidecar] map[name:app]]\n",
            ),
            err(
                "$setElementOrder missing an item of the patch list",
                pod(),
                json!({"metadata": {"$setElementOrder/finalizers": ["example.com/a"], "finalizers": ["example.com/z"]}}),
                500,
                "The order in patch list:\n[example.com/z]\n doesn't match $setElementOrder list:\n[example.com/a]\n",
            ),
            err(
                "$setElementOrder without a list name",
                pod(),
                json!({"metadata": {"$setElementOrder": ["a"]}}),
                400,
                "invalid patch format of setElementOrder list",
            ),
            err(
                "$setElementOrder that is not a list",
                pod(),
                json!({"metadata": {"$setElementOrder/finalizers": "a"}}),
                500,
                "expected a []interface {}, but received a string",
            ),
            err(
                "$deleteFromPrimitiveList without a list name",
                pod(),
                json!({"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}}),
                400,
                "invalid patch format of primitive list",
            ),
            err(
                "list of lists",
                finalizers_empty.clone(),
                json!({"metadata": {"finalizers": [["a"]]}}),
                422,
                "lists of lists are not supported",
            ),
            err(
                "mixed item types",
                pod(),
                json!({"metadata": {"finalizers": [1]}}),
                500,
                "list element types are not identical: [[example.com/a example.com/b] [1]]",
            ),
            err(
                "a patch that is a list",
                pod(),
                json!([{"op": "add"}]),
                400,
                "json: cannot unmarshal array into Go value of type map[string]interface {}",
            ),
            err(
                "an original that is not an object",
                json!([1]),
                json!({}),
                400,
                "invalid JSON document",
            ),
        ],
        pod_smp,
    );
    let e = strategic_merge(&json!({}), &json!({}), "io.k8s.example.v1.Widget").unwrap_err();
    assert_eq!(
        (e.code(), e.detail()),
        (
            400,
            "strategic merge patch format is not supported".to_string()
        )
    );
    let e = strategic_merge(
        &json!({}),
        &json!({}),
        "io.k8s.apimachinery.pkg.api.resource.Quantity",
    )
    .unwrap_err();
    assert_eq!(e.code(), 400);
}

#[test]
fn ordering_keeps_server_only_items_in_place() {
    // live: a, injected, c; the patch orders a before c and changes c.
    let original = set(
        pod(),
        "/spec/containers",
        json!([{"name": "a"}, {"name": "injected"}, {"name": "c"}]),
    );
    let patch = json!({"spec": {
        "$setElementOrder/containers": [{"name": "a"}, {"name": "c"}],
        "containers": [{"name": "c", "image": "c:2"}]
    }});
    let got = pod_smp(&original, &patch).unwrap();
    assert_eq!(containers(&got), ["a", "injected", "c"]);
    assert_eq!(got["spec"]["containers"][2]["image"], "c:2");

    // Reversed, the named items swap; the server-only item stays ahead of c, which it
    // preceded in the live list (strategicpatch's mergeSortedSlice).
    let patch = json!({"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}]}});
    assert_eq!(
        containers(&pod_smp(&original, &patch).unwrap()),
        ["injected", "c", "a"]
    );
}

#[test]
fn patches_nested_too_deep_are_refused_without_overflow() {
    // Built by hand: json!'s interpolation serializes recursively.
    let mut deep = json!("x");
    for _ in 0..10_000 {
        deep = Value::Object(std::iter::once(("a".to_string(), deep)).collect());
    }
    let mut patch = json!({"spec": {"future": null}});
    patch["spec"]["future"] = deep;
    let e = pod_smp(&pod(), &patch).unwrap_err();
    assert_eq!(e.code(), 400);
    assert_eq!(
        e.detail(),
        format!("patch is nested deeper than {MAX_DEPTH} levels")
    );
    // serde_json drops values recursively; take this one apart by hand.
    let mut v = patch;
    while let Some(inner) = v
        .as_object_mut()
        .and_then(|m| m.values_mut().next())
        .map(Value::take)
    {
        v = inner;
    }
}

#[test]
fn large_lists_merge_through_hash_lookups() {
    // 20,000 env vars on each side, half shared, and 20,000 finalizers: quadratic
    // matching would take minutes here; lookups by merge key keep it to milliseconds.
    let n = 20_000;
    let env = |range: std::ops::Range<usize>, v: &str| -> Value {
        Value::Array(
            range
                .map(|i| json!({"name": format!("V{i}"), "value": v}))
                .collect(),
        )
    };
    let original = set(pod(), "/spec/containers/0/env", env(0..n, "old"));
    let patch = json!({"spec": {"containers": [{"name": "app", "env": env(n / 2..n + n / 2, "new")}]},
        "metadata": {"finalizers": (0..n).map(|i| format!("f/{i}")).collect::<Vec<_>>()}});
    let got = pod_smp(&original, &patch).unwrap();
    let merged = got["spec"]["containers"][0]["env"].as_array().unwrap();
    assert_eq!(merged.len(), n + n / 2);
    // Patch items come in patch order; the original's own items keep their place before
    // the first one they preceded.
    assert_eq!(merged[0], json!({"name": "V0", "value": "old"}));
    assert_eq!(
        merged[n / 2],
        json!({"name": format!("V{}", n / 2), "value": "new"})
    );
    assert_eq!(
        merged[n + n / 2 - 1],
        json!({"name": format!("V{}", n + n / 2 - 1), "value": "new"})
    );
    assert_eq!(
        got["metadata"]["finalizers"].as_array().unwrap().len(),
        n + 2
    );
}
