//! Pruning: unknown fields, preserve-unknown-fields (nested), embedded resources, and the
//! reported paths.

use serde_json::json;

use super::{certificate, certificate_schema, schema};
use crate::crd::pruning::prune;

#[test]
fn unknown_fields_are_pruned_and_reported() {
    let s = schema(
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "a": {"type": "string"},
            "list": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
            "map": {"type": "object", "additionalProperties": {"type": "object", "properties": {"v": {"type": "integer"}}}},
            "anyMap": {"type": "object", "additionalProperties": true}
        }}}}),
    );
    let mut obj = json!({
        "apiVersion": "x.io/v1", "kind": "X", "metadata": {"name": "n", "whatever": 1},
        "spec": {
            "a": "kept", "b": "dropped",
            "list": [{"name": "n", "extra": 1}, {"extra": {"deep": true}}],
            "map": {"k1": {"v": 1, "w": 2}},
            "anyMap": {"k": {"nested": 1}, "s": "scalar kept"}
        },
        "extraTop": {"x": 1}
    });
    let paths = prune(&mut obj, Some(&s), true);
    assert_eq!(
        paths,
        vec![
            "extraTop",
            "spec.anyMap.k.nested",
            "spec.b",
            "spec.list[0].extra",
            "spec.list[1].extra",
            "spec.map.k1.w"
        ]
    );
    assert_eq!(
        obj,
        json!({
            "apiVersion": "x.io/v1", "kind": "X", "metadata": {"name": "n", "whatever": 1},
            "spec": {
                "a": "kept",
                "list": [{"name": "n"}, {}],
                "map": {"k1": {"v": 1}},
                "anyMap": {"k": {}, "s": "scalar kept"}
            }
        })
    );
}

#[test]
fn nested_preserve_unknown_fields() {
    let s = schema(json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            "strict": {"type": "object", "properties": {"a": {"type": "string"}}},
            "loose": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {
                "inner": {"type": "object", "properties": {"b": {"type": "string"}}}
            }},
            "items": {"type": "array", "x-kubernetes-preserve-unknown-fields": true, "items": {"type": "object", "properties": {"c": {"type": "string"}}}}
        }
    }}}));
    let mut obj = json!({"spec": {
        "unknown": {"anything": [1, 2]},
        "strict": {"a": "x", "gone": 1},
        "loose": {"free": true, "inner": {"b": "y", "gone": 2}},
        "items": [{"c": "z", "kept": 3}]
    }});
    let paths = prune(&mut obj, Some(&s), true);
    assert_eq!(paths, vec!["spec.loose.inner.gone", "spec.strict.gone"]);
    assert_eq!(
        obj,
        json!({"spec": {
            "unknown": {"anything": [1, 2]},
            "strict": {"a": "x"},
            "loose": {"free": true, "inner": {"b": "y"}},
            "items": [{"c": "z", "kept": 3}]
        }})
    );
}

#[test]
fn embedded_resources_keep_type_and_metadata() {
    let s = schema(certificate_schema());
    let mut obj = certificate();
    obj["spec"]["podTemplate"] = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "odd": 1}, "spec": {"containers": []}});
    obj["spec"]["unknownThing"] = json!(1);
    obj["status"] =
        json!({"conditions": [{"type": "Ready", "status": "True", "reason": "not in schema"}]});
    let paths = prune(&mut obj, Some(&s), true);
    assert_eq!(
        paths,
        vec!["spec.unknownThing", "status.conditions[0].reason"]
    );
    assert_eq!(
        obj["spec"]["podTemplate"]["metadata"],
        json!({"name": "p", "odd": 1})
    );
    assert_eq!(
        obj["spec"]["podTemplate"]["spec"],
        json!({"containers": []})
    );
}

#[test]
fn a_field_named_metadata_is_pruned_below_the_root() {
    let s = schema(
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string"}}}}}),
    );
    let mut obj = json!({"metadata": {"name": "x"}, "spec": {"metadata": {}, "kind": "k"}});
    assert_eq!(
        prune(&mut obj, Some(&s), true),
        vec!["spec.kind", "spec.metadata"]
    );
    assert_eq!(obj, json!({"metadata": {"name": "x"}, "spec": {}}));
}

#[test]
fn no_schema_keeps_only_type_and_metadata() {
    let mut obj = json!({"apiVersion": "a/v1", "kind": "K", "metadata": {}, "spec": {"x": 1}});
    assert_eq!(prune(&mut obj, None, true), vec!["spec"]);
    assert_eq!(
        obj,
        json!({"apiVersion": "a/v1", "kind": "K", "metadata": {}})
    );
}
