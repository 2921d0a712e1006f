//! Custom resources typed by their CRD's `openAPIV3Schema` (map-lists, sets, atomic maps
//! and lists, key defaults, preserved unknown fields, embedded resources), and objects
//! merged without any schema.

use serde_json::{Value, json};

use super::{Want, apply, case, check, force, managers, run_step, set, t};
use crate::apply::{BuiltinSchema, CrdSchema, FieldManager, SchemaLookup, Untyped};

fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {"type": "object", "properties": {
                        "replicas": {"type": "integer"},
                        "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                            "items": {"type": "object", "properties": {"name": {"type": "string"}, "size": {"type": "integer"}}}},
                        "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                        "selector": {"type": "object", "x-kubernetes-map-type": "atomic", "additionalProperties": {"type": "string"}},
                        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port", "protocol"],
                            "items": {"type": "object", "properties": {"port": {"type": "integer"}, "protocol": {"type": "string", "default": "TCP"}}}},
                        "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "args": {"type": "array", "items": {"type": "string"}},
                        "quantity": {"x-kubernetes-int-or-string": true},
                        "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}
                    }},
                    "status": {"type": "object", "properties": {"phase": {"type": "string"}}}
                }
            }}}]
        }
    })
}

fn widget(spec: Value) -> Value {
    set(bare_widget(), "/spec", spec)
}

fn bare_widget() -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}})
}

#[test]
fn custom_resources_merge_by_their_schema() {
    let crd = CrdSchema::from_crd(&widget_crd(), "v1").unwrap();
    let s: &dyn SchemaLookup = &crd;
    check(vec![
        case(
            "map-list items merge by key, sets by value, preserved fields per key",
            s,
            vec![
                apply("a", widget(json!({"items": [{"name": "x", "size": 1}], "tags": ["t1"], "config": {"nested": {"k": "v"}}}))),
                apply("b", widget(json!({"items": [{"name": "y", "size": 2}], "tags": ["t2"], "config": {"nested": {"j": "w"}}}))),
            ],
            Want::Ok(
                Some(widget(json!({"items": [{"name": "x", "size": 1}, {"name": "y", "size": 2}], "tags": ["t1", "t2"], "config": {"nested": {"j": "w", "k": "v"}}}))),
                vec![
                    ("a Apply", json!({"f:spec": {
                        "f:config": {"f:nested": {".": {}, "f:k": {}}},
                        "f:items": {"k:{\"name\":\"x\"}": {".": {}, "f:name": {}, "f:size": {}}},
                        "f:tags": {"v:\"t1\"": {}}
                    }})),
                    ("b Apply", json!({"f:spec": {
                        "f:config": {"f:nested": {".": {}, "f:j": {}}},
                        "f:items": {"k:{\"name\":\"y\"}": {".": {}, "f:name": {}, "f:size": {}}},
                        "f:tags": {"v:\"t2\"": {}}
                    }})),
                ],
            ),
        ),
        case(
            "an atomic map conflicts whole",
            s,
            vec![apply("a", widget(json!({"selector": {"app": "x"}}))), apply("b", widget(json!({"selector": {"tier": "y"}})))],
            Want::Err(409, "Apply failed with 1 conflict: conflict with \"a\": .spec.selector".into()),
        ),
        case(
            "a list without a list type is atomic",
            s,
            vec![apply("a", widget(json!({"args": ["1"]}))), force("b", widget(json!({"args": ["2"]})))],
            Want::Ok(Some(widget(json!({"args": ["2"]}))), vec![("b Apply", json!({"f:spec": {"f:args": {}}}))]),
        ),
        case(
            "key fields default from the schema",
            s,
            vec![apply("a", widget(json!({"ports": [{"port": 80}, {"port": 80, "protocol": "UDP"}]})))],
            Want::Ok(
                None,
                vec![(
                    "a Apply",
                    json!({"f:spec": {"f:ports": {
                        "k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}},
                        "k:{\"port\":80,\"protocol\":\"UDP\"}": {".": {}, "f:port": {}, "f:protocol": {}}
                    }}}),
                )],
            ),
        ),
        case(
            "int-or-string and embedded resources",
            s,
            vec![apply("a", widget(json!({"quantity": "10%", "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": "b"}}, "spec": {"x": 1}}})))],
            Want::Ok(
                None,
                vec![(
                    "a Apply",
                    json!({"f:spec": {"f:quantity": {}, "f:template": {
                        "f:apiVersion": {}, "f:kind": {}, "f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {".": {}, "f:x": {}}
                    }}}),
                )],
            ),
        ),
        case(
            "metadata is typed: labels merge, finalizers are a set",
            s,
            vec![
                apply("a", set(bare_widget(), "/metadata/labels", json!({"a": "1"}))),
                apply("b", set(set(bare_widget(), "/metadata/labels", json!({"b": "2"})), "/metadata/finalizers", json!(["f"]))),
            ],
            Want::Ok(
                Some(set(set(bare_widget(), "/metadata/labels", json!({"a": "1", "b": "2"})), "/metadata/finalizers", json!(["f"]))),
                vec![
                    ("a Apply", json!({"f:metadata": {"f:labels": {"f:a": {}}}})),
                    ("b Apply", json!({"f:metadata": {"f:finalizers": {"v:\"f\"": {}}, "f:labels": {"f:b": {}}}})),
                ],
            ),
        ),
        case(
            "fields the schema does not declare are rejected",
            s,
            vec![apply("a", widget(json!({"unknown": 1})))],
            Want::Err(500, "failed to create typed patch object (default/w; example.com/v1, Kind=Widget): .spec.unknown: field not declared in schema".into()),
        ),
    ]);
    // Another version or kind is not this schema's: it merges deduced.
    assert!(crd.lookup("example.com/v2", "Widget").is_none());
    assert!(crd.lookup("example.com/v1", "Gadget").is_none());
    // A chain finds built-in kinds and the custom resource alike.
    let chain: [&dyn SchemaLookup; 2] = [&BuiltinSchema, &crd];
    assert!(chain[..].lookup("example.com/v1", "Widget").is_some());
    assert!(chain[..].lookup("v1", "Pod").is_some());
}

#[test]
fn untyped_objects_are_deduced() {
    let s: &dyn SchemaLookup = &Untyped;
    let thing = |spec: Value| json!({"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t", "labels": {"app": "x"}}, "spec": spec});
    check(vec![
        case(
            "maps merge per key and every map is owned as a member",
            s,
            vec![
                apply("a", thing(json!({"list": [1, 2], "map": {"a": 1}}))),
                apply("b", thing(json!({"map": {"b": 2}}))),
            ],
            Want::Ok(
                Some(thing(json!({"list": [1, 2], "map": {"a": 1, "b": 2}}))),
                vec![
                    (
                        "a Apply",
                        json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {".": {}, "f:list": {}, "f:map": {".": {}, "f:a": {}}}}),
                    ),
                    (
                        "b Apply",
                        json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {".": {}, "f:map": {".": {}, "f:b": {}}}}),
                    ),
                ],
            ),
        ),
        case(
            "lists are atomic",
            s,
            vec![
                apply("a", thing(json!({"list": [1, 2]}))),
                apply("b", thing(json!({"list": [3]}))),
            ],
            Want::Err(
                409,
                "Apply failed with 1 conflict: conflict with \"a\": .spec.list".into(),
            ),
        ),
        case(
            "a value may change kind",
            s,
            vec![
                apply("a", thing(json!({"v": {"x": 1}}))),
                apply("a", thing(json!({"v": "scalar"}))),
            ],
            Want::Ok(
                Some(thing(json!({"v": "scalar"}))),
                vec![(
                    "a Apply",
                    json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {".": {}, "f:v": {}}}),
                )],
            ),
        ),
    ]);
    // A built-in kind through the untyped schema is deduced too: lists are atomic.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["a"]}});
    let out = run_step(&Untyped, None, &apply("a", cm), t(1)).unwrap();
    assert_eq!(
        managers(&out)[0].1,
        json!({"f:metadata": {"f:finalizers": {}}})
    );
    let out = FieldManager::new(&Untyped).apply(Some(&out), &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["b"]}}), "b", false, t(2));
    assert_eq!(out.unwrap_err().code(), 409);
}

/// structured-merge-diff's `apply_update_apply_no_overlap`: a set shared by an applier and
/// an updater keeps the updater's items where they were.
#[test]
fn set_shared_with_an_updater() {
    let crd = CrdSchema::new(
        "example.com/v1",
        "Sets",
        &json!({"type": "object", "properties": {"list": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}}),
    )
    .unwrap();
    let sets = |items: &[&str]| json!({"apiVersion": "example.com/v1", "kind": "Sets", "metadata": {"name": "s"}, "list": items});
    let values = |items: &[&str]| {
        let m: serde_json::Map<String, Value> = items
            .iter()
            .map(|i| (format!("v:\"{i}\""), json!({})))
            .collect();
        json!({"f:list": m})
    };
    check(vec![case(
        "apply, update, apply",
        &crd,
        vec![
            apply("default", sets(&["a", "c"])),
            super::write("controller", sets(&["a", "b", "c", "d"])),
            apply("default", sets(&["a", "aprime", "c", "cprime"])),
        ],
        Want::Ok(
            Some(sets(&["a", "b", "aprime", "c", "d", "cprime"])),
            vec![
                ("default Apply", values(&["a", "aprime", "c", "cprime"])),
                ("controller Update", values(&["b", "d"])),
            ],
        ),
    )]);
}
