//! JSON Merge Patch: RFC 7386's examples, then what kube-apiserver adds.

use serde_json::json;

use super::{err, ok, pod, run, set, unset};
use crate::patch::{MAX_DEPTH, merge_patch, rfc7386_merge};

/// RFC 7386 appendix A, one row per example (non-object targets and patches included).
#[test]
fn rfc7386_examples() {
    run(
        vec![
            ok(
                "replace a member",
                json!({"a": "b"}),
                json!({"a": "c"}),
                json!({"a": "c"}),
            ),
            ok(
                "add a member",
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            ok(
                "null removes",
                json!({"a": "b"}),
                json!({"a": null}),
                json!({}),
            ),
            ok(
                "null removes one of two",
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            ok(
                "a string replaces a list",
                json!({"a": ["b"]}),
                json!({"a": "c"}),
                json!({"a": "c"}),
            ),
            ok(
                "a list replaces a string",
                json!({"a": "c"}),
                json!({"a": ["b"]}),
                json!({"a": ["b"]}),
            ),
            ok(
                "nested objects merge",
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            ok(
                "lists are replaced whole",
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            ok(
                "a list patch replaces a list",
                json!(["a", "b"]),
                json!(["c", "d"]),
                json!(["c", "d"]),
            ),
            ok(
                "a list patch replaces an object",
                json!({"a": "b"}),
                json!(["c"]),
                json!(["c"]),
            ),
            ok(
                "a null patch replaces everything",
                json!({"a": "foo"}),
                json!(null),
                json!(null),
            ),
            ok(
                "a string patch replaces everything",
                json!({"a": "foo"}),
                json!("bar"),
                json!("bar"),
            ),
            ok(
                "existing nulls stay",
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            ok(
                "an object patch on a list",
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            ok(
                "nulls inside new objects are dropped",
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ],
        rfc7386_merge,
    );
}

#[test]
fn kubernetes_merge_patches() {
    run(
        vec![
            ok(
                "kubectl label adds a label",
                pod(),
                json!({"metadata": {"labels": {"env": "prod"}}}),
                set(pod(), "/metadata/labels/env", json!("prod")),
            ),
            ok(
                "kubectl label key- removes it",
                pod(),
                json!({"metadata": {"labels": {"tier": null}}}),
                unset(pod(), "/metadata/labels/tier"),
            ),
            ok(
                "kubectl annotate --overwrite",
                pod(),
                json!({"metadata": {"annotations": {"note": "2"}, "resourceVersion": "42"}}),
                set(
                    set(pod(), "/metadata/annotations/note", json!("2")),
                    "/metadata/resourceVersion",
                    json!("42"),
                ),
            ),
            ok(
                "containers are replaced, not merged",
                pod(),
                json!({"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}),
                set(
                    pod(),
                    "/spec/containers",
                    json!([{"name": "app", "image": "nginx:2"}]),
                ),
            ),
            ok(
                "nulls inside list items are kept, as RFC 7386 says",
                pod(),
                json!({"spec": {"tolerations": [{"key": "k", "value": null}]}}),
                set(
                    pod(),
                    "/spec/tolerations",
                    json!([{"key": "k", "value": null}]),
                ),
            ),
            ok(
                "finalizers emptied",
                pod(),
                json!({"metadata": {"finalizers": null}}),
                unset(pod(), "/metadata/finalizers"),
            ),
            ok("the empty patch", pod(), json!({}), pod()),
            err(
                "a list patch",
                pod(),
                json!([{"a": 1}]),
                400,
                "Invalid JSON Patch",
            ),
            err(
                "a null patch",
                pod(),
                json!(null),
                400,
                "Invalid JSON Patch",
            ),
            err(
                "a string patch",
                pod(),
                json!("x"),
                400,
                "Invalid JSON Patch",
            ),
        ],
        merge_patch,
    );
}

#[test]
fn deep_merge_patches_are_refused() {
    let mut deep = json!(1);
    for _ in 0..MAX_DEPTH + 1 {
        deep = json!({"a": deep});
    }
    assert_eq!(merge_patch(&json!({}), &deep).unwrap_err().code(), 400);

    let mut fits = json!(1);
    for _ in 0..MAX_DEPTH {
        fits = json!({"a": fits});
    }
    assert_eq!(merge_patch(&json!({}), &fits), Ok(fits));
}
