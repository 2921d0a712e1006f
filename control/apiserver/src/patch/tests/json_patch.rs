//! JSON Patch: RFC 6902's examples, then kube-apiserver's behaviours and limits.

use serde_json::{Value, json};

use super::{err, ok, pod, run, set, unset};
use crate::patch::{
    JSON_PATCH_MAX_COPY_BYTES, MAX_DEPTH, MAX_JSON_PATCH_OPERATIONS, PatchError, json_patch,
};

/// RFC 6902 appendix A, one row per example.
#[test]
fn rfc6902_examples() {
    run(
        vec![
            ok(
                "A.1 add an object member",
                json!({"foo": "bar"}),
                json!([{"op": "add", "path": "/baz", "value": "qux"}]),
                json!({"baz": "qux", "foo": "bar"}),
            ),
            ok(
                "A.2 add an array element",
                json!({"foo": ["bar", "baz"]}),
                json!([{"op": "add", "path": "/foo/1", "value": "qux"}]),
                json!({"foo": ["bar", "qux", "baz"]}),
            ),
            ok(
                "A.3 remove an object member",
                json!({"baz": "qux", "foo": "bar"}),
                json!([{"op": "remove", "path": "/baz"}]),
                json!({"foo": "bar"}),
            ),
            ok(
                "A.4 remove an array element",
                json!({"foo": ["bar", "qux", "baz"]}),
                json!([{"op": "remove", "path": "/foo/1"}]),
                json!({"foo": ["bar", "baz"]}),
            ),
            ok(
                "A.5 replace a value",
                json!({"baz": "qux", "foo": "bar"}),
                json!([{"op": "replace", "path": "/baz", "value": "boo"}]),
                json!({"baz": "boo", "foo": "bar"}),
            ),
            ok(
                "A.6 move a value",
                json!({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}),
                json!([{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}]),
                json!({"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
            ),
            ok(
                "A.7 move an array element",
                json!({"foo": ["all", "grass", "cows", "eat"]}),
                json!([{"op": "move", "from": "/foo/1", "path": "/foo/3"}]),
                json!({"foo": ["all", "cows", "eat", "grass"]}),
            ),
            ok(
                "A.8 test a value: success",
                json!({"baz": "qux", "foo": ["a", 2, "c"]}),
                json!([{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}]),
                json!({"baz": "qux", "foo": ["a", 2, "c"]}),
            ),
            err(
                "A.9 test a value: error",
                json!({"baz": "qux"}),
                json!([{"op": "test", "path": "/baz", "value": "bar"}]),
                422,
                "testing value /baz failed: test failed",
            ),
            ok(
                "A.10 add a nested member object",
                json!({"foo": "bar"}),
                json!([{"op": "add", "path": "/child", "value": {"grandchild": {}}}]),
                json!({"foo": "bar", "child": {"grandchild": {}}}),
            ),
            ok(
                "A.11 ignore unrecognized elements",
                json!({"foo": "bar"}),
                json!([{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}]),
                json!({"foo": "bar", "baz": "qux"}),
            ),
            err(
                "A.12 add to a nonexistent target",
                json!({"foo": "bar"}),
                json!([{"op": "add", "path": "/baz/bat", "value": "qux"}]),
                422,
                "add operation does not apply: doc is missing path: \"/baz/bat\": missing value",
            ),
            ok(
                "A.14 ~ escape ordering",
                json!({"/": 9, "~1": 10}),
                json!([{"op": "test", "path": "/~01", "value": 10}]),
                json!({"/": 9, "~1": 10}),
            ),
            err(
                "A.15 comparing strings and numbers",
                json!({"/": 9, "~1": 10}),
                json!([{"op": "test", "path": "/~01", "value": "10"}]),
                422,
                "testing value /~01 failed: test failed",
            ),
            ok(
                "A.16 add an array value",
                json!({"foo": ["bar"]}),
                json!([{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}]),
                json!({"foo": ["bar", ["abc", "def"]]}),
            ),
        ],
        json_patch,
    );
}

/// Behaviours of kube-apiserver's JSON Patch library that clients rely on, and its
/// error texts.
#[test]
fn kubernetes_behaviours() {
    let labels = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"args": ["a", "b", "c"]}});
    run(
        vec![
            ok("empty patch", labels.clone(), json!([]), labels.clone()),
            ok(
                "pointer escapes in a label key",
                labels.clone(),
                json!([{"op": "add", "path": "/metadata/labels/example.com~1team", "value": "x"}]),
                set(
                    labels.clone(),
                    "/metadata/labels/example.com~1team",
                    json!("x"),
                ),
            ),
            ok(
                "negative index reads from the end",
                labels.clone(),
                json!([{"op": "replace", "path": "/spec/args/-1", "value": "z"}, {"op": "remove", "path": "/spec/args/-3"}]),
                set(labels.clone(), "/spec/args", json!(["b", "z"])),
            ),
            ok(
                "add at -1 is past the end, as kube's library sizes the array first",
                labels.clone(),
                json!([{"op": "add", "path": "/spec/args/-1", "value": "d"}]),
                set(labels.clone(), "/spec/args", json!(["a", "b", "c", "d"])),
            ),
            ok(
                "add at len appends",
                labels.clone(),
                json!([{"op": "add", "path": "/spec/args/3", "value": "d"}]),
                set(labels.clone(), "/spec/args", json!(["a", "b", "c", "d"])),
            ),
            ok(
                "replace of a missing member adds it",
                labels.clone(),
                json!([{"op": "replace", "path": "/metadata/labels/tier", "value": "db"}]),
                set(labels.clone(), "/metadata/labels/tier", json!("db")),
            ),
            ok(
                "add replaces an existing member",
                labels.clone(),
                json!([{"op": "add", "path": "/metadata/labels", "value": {"x": "y"}}]),
                set(labels.clone(), "/metadata/labels", json!({"x": "y"})),
            ),
            ok(
                "add without value adds null",
                labels.clone(),
                json!([{"op": "add", "path": "/metadata/note"}]),
                set(labels.clone(), "/metadata/note", Value::Null),
            ),
            ok(
                "test of a missing member against null passes",
                labels.clone(),
                json!([{"op": "test", "path": "/metadata/missing", "value": null}]),
                labels.clone(),
            ),
            ok(
                "test of the whole document",
                labels.clone(),
                json!([{"op": "test", "path": "", "value": labels.clone()}]),
                labels.clone(),
            ),
            ok(
                "replace the whole document",
                labels.clone(),
                json!([{"op": "replace", "path": "", "value": {"a": 1}}]),
                json!({"a": 1}),
            ),
            ok(
                "copy then move",
                labels.clone(),
                json!([
                    {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/name"},
                    {"op": "move", "from": "/metadata/labels/app", "path": "/spec/app"}
                ]),
                json!({"metadata": {"labels": {"name": "web"}}, "spec": {"args": ["a", "b", "c"], "app": "web"}}),
            ),
            ok(
                "move to the same place",
                labels.clone(),
                json!([{"op": "move", "from": "/spec/args/0", "path": "/spec/args/0"}]),
                labels.clone(),
            ),
            err(
                "remove a missing member",
                labels.clone(),
                json!([{"op": "remove", "path": "/metadata/labels/tier"}]),
                422,
                "error in remove for path: '/metadata/labels/tier': Unable to remove nonexistent key: tier: missing value",
            ),
            err(
                "remove past the end",
                labels.clone(),
                json!([{"op": "remove", "path": "/spec/args/3"}]),
                422,
                "error in remove for path: '/spec/args/3': Unable to access invalid index: 3: invalid index referenced",
            ),
            err(
                "add past the end",
                labels.clone(),
                json!([{"op": "add", "path": "/spec/args/5", "value": "x"}]),
                422,
                "error in add for path: '/spec/args/5': Unable to access invalid index: 5: invalid index referenced",
            ),
            err(
                "add with a non-numeric index",
                labels.clone(),
                json!([{"op": "add", "path": "/spec/args/x", "value": "x"}]),
                422,
                "error in add for path: '/spec/args/x': value was not a proper array index: 'x': strconv.Atoi: parsing \"x\": invalid syntax",
            ),
            err(
                "replace past the end",
                labels.clone(),
                json!([{"op": "replace", "path": "/spec/args/7", "value": "x"}]),
                422,
                "replace operation does not apply: doc is missing key: /spec/args/7: missing value",
            ),
            err(
                "replace under a missing parent",
                labels.clone(),
                json!([{"op": "replace", "path": "/spec/template/spec", "value": {}}]),
                422,
                "replace operation does not apply: doc is missing path: /spec/template/spec: missing value",
            ),
            err(
                "path through a scalar",
                labels.clone(),
                json!([{"op": "add", "path": "/metadata/labels/app/x", "value": 1}]),
                422,
                "add operation does not apply: doc is missing path: \"/metadata/labels/app/x\": missing value",
            ),
            err(
                "path without a leading slash",
                labels.clone(),
                json!([{"op": "add", "path": "metadata/x", "value": 1}]),
                422,
                "add operation does not apply: doc is missing path: \"metadata/x\": missing value",
            ),
            err(
                "add to the root",
                labels.clone(),
                json!([{"op": "add", "path": "", "value": {}}]),
                422,
                "add operation does not apply: doc is missing path: \"\": missing value",
            ),
            err(
                "remove without a path",
                labels.clone(),
                json!([{"op": "remove"}]),
                422,
                "remove operation failed to decode path: missing value",
            ),
            err(
                "replace with a path that is not a string",
                labels.clone(),
                json!([{"op": "replace", "path": 3, "value": 1}]),
                422,
                "replace operation failed to decode path: json: cannot unmarshal number into Go value of type string",
            ),
            err(
                "move from a missing member",
                labels.clone(),
                json!([{"op": "move", "from": "/metadata/nope", "path": "/spec/x"}]),
                422,
                "error in move for path: 'nope': Unable to remove nonexistent key: nope: missing value",
            ),
            err(
                "move into its own child",
                labels.clone(),
                json!([{"op": "move", "from": "/metadata", "path": "/metadata/labels/x"}]),
                422,
                "move operation does not apply: doc is missing destination path: /metadata/labels/x: missing value",
            ),
            err(
                "move without from",
                labels.clone(),
                json!([{"op": "move", "path": "/x"}]),
                422,
                "move operation failed to decode from: operation missing from field: missing value",
            ),
            err(
                "copy from a missing member",
                labels.clone(),
                json!([{"op": "copy", "from": "/metadata/nope", "path": "/spec/x"}]),
                422,
                "copy operation does not apply: doc is missing from path: /metadata/nope: missing value",
            ),
            err(
                "copy to a missing parent",
                labels.clone(),
                json!([{"op": "copy", "from": "/metadata/labels", "path": "/a/b"}]),
                422,
                "copy operation does not apply: doc is missing destination path: /a/b: missing value",
            ),
            err(
                "test through an index past the end",
                labels.clone(),
                json!([{"op": "test", "path": "/spec/args/9", "value": "x"}]),
                422,
                "error in test for path: '/spec/args/9': Unable to access invalid index: 9: invalid index referenced",
            ),
            err(
                "unknown operation",
                labels.clone(),
                json!([{"op": "frobnicate", "path": "/x"}]),
                422,
                "Unexpected kind: frobnicate",
            ),
            err(
                "operation without op",
                labels.clone(),
                json!([{"path": "/x"}]),
                422,
                "Unexpected kind: unknown",
            ),
            err(
                "null operation",
                labels.clone(),
                json!([null]),
                422,
                "Unexpected kind: unknown",
            ),
            err(
                "replace the root with a scalar",
                labels.clone(),
                json!([{"op": "replace", "path": "", "value": 1}]),
                422,
                "replace operation value must be object or array",
            ),
            err(
                "a failed operation undoes the earlier ones",
                labels.clone(),
                json!([
                    {"op": "add", "path": "/metadata/labels/x", "value": "1"},
                    {"op": "test", "path": "/metadata/labels/app", "value": "db"}
                ]),
                422,
                "testing value /metadata/labels/app failed: test failed",
            ),
            err(
                "a patch that is an object",
                labels.clone(),
                json!({"op": "add", "path": "/x", "value": 1}),
                400,
                "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
            ),
            err(
                "operations that are not objects",
                labels.clone(),
                json!(["add"]),
                400,
                "json: cannot unmarshal string into Go value of type jsonpatch.Operation",
            ),
        ],
        json_patch,
    );
}

#[test]
fn a_failed_patch_leaves_the_original_untouched() {
    let original = pod();
    let patch = json!([
        {"op": "remove", "path": "/metadata/labels"},
        {"op": "test", "path": "/metadata/name", "value": "other"}
    ]);
    assert!(json_patch(&original, &patch).is_err());
    assert_eq!(original, pod());
    let removed = json_patch(
        &original,
        &json!([{"op": "remove", "path": "/metadata/labels"}]),
    )
    .unwrap();
    assert_eq!(removed, unset(pod(), "/metadata/labels"));
}

#[test]
fn operation_count_is_capped() {
    let original = json!({"a": 1});
    let test = json!({"op": "test", "path": "/a", "value": 1});
    let at_limit = Value::Array(vec![test.clone(); MAX_JSON_PATCH_OPERATIONS]);
    assert_eq!(json_patch(&original, &at_limit), Ok(original.clone()));

    let over = Value::Array(vec![test; MAX_JSON_PATCH_OPERATIONS + 1]);
    let e = json_patch(&original, &over).unwrap_err();
    assert_eq!(e, PatchError::TooManyOperations { count: 10_001 });
    assert_eq!(e.code(), 413);
    assert_eq!(
        e.status().message,
        "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"
    );
}

#[test]
fn copies_are_capped_in_bytes() {
    // 1 MiB, copied three times, is under 3 MiB with the quotes; the fourth copy is over.
    let blob = "x".repeat(1024 * 1024 - 2);
    let original = json!({"data": {"blob": blob}});
    let copy = |to: &str| json!({"op": "copy", "from": "/data/blob", "path": to});
    let three = json!([copy("/data/a"), copy("/data/b"), copy("/data/c")]);
    let patched = json_patch(&original, &three).unwrap();
    assert_eq!(patched["data"]["c"], original["data"]["blob"]);

    let four = json!([
        copy("/data/a"),
        copy("/data/b"),
        copy("/data/c"),
        copy("/data/d")
    ]);
    let e = json_patch(&original, &four).unwrap_err();
    assert_eq!(e.code(), 422);
    assert_eq!(
        e.detail(),
        format!(
            "Unable to complete the copy, the accumulated size increase of copy is {}, exceeding the limit {JSON_PATCH_MAX_COPY_BYTES}",
            4 * 1024 * 1024
        )
    );
}

#[test]
fn doubling_copies_stop_at_the_cap() {
    // Copying an object into itself doubles it: exponential growth without the cap.
    let ops: Vec<Value> = (0..40)
        .map(|i| json!({"op": "copy", "from": "/a", "path": format!("/a/c{i}")}))
        .collect();
    let e = json_patch(
        &json!({"a": {"x": "0123456789"}}),
        &Value::Array(ops[..10].to_vec()),
    )
    .map(|v| v["a"]["c9"]["c8"]["x"].clone());
    assert_eq!(e, Ok(json!("0123456789")));
    let e = json_patch(&json!({"a": {"x": "0123456789"}}), &Value::Array(ops)).unwrap_err();
    assert!(e.detail().starts_with("Unable to complete the copy"), "{e}");
}

#[test]
fn depth_is_bounded() {
    // A patch nested deeper than the limit is refused before anything is applied.
    let mut deep = json!(1);
    for _ in 0..MAX_DEPTH + 5 {
        deep = json!([deep]);
    }
    let e = json_patch(
        &json!({}),
        &json!([{"op": "add", "path": "/a", "value": deep}]),
    )
    .unwrap_err();
    assert_eq!(e.code(), 400);

    // Values within the limit that would land too deep are refused where they land.
    let mut value = json!(1);
    for _ in 0..MAX_DEPTH - 10 {
        value = json!({"n": value});
    }
    let path = format!("/{}", ["n"; 20].join("/"));
    let mut doc = json!(1);
    for _ in 0..20 {
        doc = json!({"n": doc});
    }
    let e = json_patch(&doc, &json!([{"op": "add", "path": path, "value": value}])).unwrap_err();
    assert_eq!(e.code(), 422);
    assert!(e.detail().contains("nested deeper than 128 levels"), "{e}");

    // Repeated moves cannot stack nesting past the limit either.
    let mut ops = Vec::new();
    for _ in 0..200 {
        ops.push(json!({"op": "add", "path": "/b", "value": {}}));
        ops.push(json!({"op": "move", "from": "/a", "path": "/b/a"}));
        ops.push(json!({"op": "move", "from": "/b", "path": "/a"}));
    }
    let e = json_patch(&json!({"a": {}}), &Value::Array(ops)).unwrap_err();
    assert!(e.detail().contains("nested deeper than 128 levels"), "{e}");
}

#[test]
fn rollout_undo_replaces_template_and_annotations() {
    // kubectl rollout undo sends a JSON patch replacing the template with the chosen
    // ReplicaSet's and the annotations with the Deployment's minus the revision ones.
    let original = super::deployment();
    let template = json!({
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.24"}]}
    });
    let patch = json!([
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": {"deployment.kubernetes.io/revision": "1"}}
    ]);
    let want = set(
        set(original.clone(), "/spec/template", template),
        "/metadata/annotations",
        json!({"deployment.kubernetes.io/revision": "1"}),
    );
    assert_eq!(json_patch(&original, &patch), Ok(want));
}
