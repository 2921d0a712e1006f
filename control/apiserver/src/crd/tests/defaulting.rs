//! Defaulting in nested objects, arrays and maps, and nullable semantics.

use serde_json::json;

use super::schema;
use crate::crd::defaulting::{apply_defaults, prune_non_nullable_nulls};

fn nested_schema() -> crate::crd::Structural {
    schema(json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "default": {},
        "properties": {
            "replicas": {"type": "integer", "default": 1},
            "strategy": {"type": "object", "default": {"type": "Rolling"}, "properties": {
                "type": {"type": "string"},
                "maxSurge": {"type": "integer", "default": 25}
            }},
            "ports": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"},
                "protocol": {"type": "string", "default": "TCP"}
            }}},
            "weights": {"type": "array", "items": {"type": "integer", "default": 7}},
            "limits": {"type": "object", "additionalProperties": {"type": "object", "default": {"max": 3}, "properties": {
                "max": {"type": "integer"},
                "unit": {"type": "string", "default": "Mi"}
            }}},
            "note": {"type": "string", "nullable": true, "default": "n"},
            "plain": {"type": "string"},
            "nullableNoDefault": {"type": "string", "nullable": true}
        }
    }}}))
}

#[test]
fn defaults_apply_at_every_level() {
    let s = nested_schema();
    let mut obj = json!({});
    apply_defaults(&mut obj, Some(&s));
    assert_eq!(
        obj,
        json!({"spec": {
            "replicas": 1,
            "strategy": {"type": "Rolling", "maxSurge": 25},
            "note": "n"
        }}),
        "a defaulted object is itself defaulted"
    );
    let mut obj = json!({"spec": {
        "replicas": 3,
        "strategy": {"type": "Recreate"},
        "ports": [{"name": "http"}, {"name": "dns", "protocol": "UDP"}],
        "weights": [1, null, 3],
        "limits": {"cpu": {"max": 2}, "mem": null}
    }});
    apply_defaults(&mut obj, Some(&s));
    assert_eq!(
        obj,
        json!({"spec": {
            "replicas": 3,
            "strategy": {"type": "Recreate", "maxSurge": 25},
            "ports": [{"name": "http", "protocol": "TCP"}, {"name": "dns", "protocol": "UDP"}],
            "weights": [1, 7, 3],
            "limits": {"cpu": {"max": 2, "unit": "Mi"}, "mem": {"max": 3, "unit": "Mi"}},
            "note": "n"
        }})
    );
}

#[test]
fn nullable_semantics() {
    let s = nested_schema();
    let mut obj = json!({"spec": {
        "replicas": null,
        "note": null,
        "plain": null,
        "nullableNoDefault": null,
        "unknownNull": null,
        "weights": [null]
    }});
    prune_non_nullable_nulls(&mut obj, Some(&s));
    assert_eq!(
        obj,
        json!({"spec": {
            "replicas": null,
            "note": null,
            "nullableNoDefault": null,
            "unknownNull": null,
            "weights": [null]
        }}),
        "only non-nullable nulls without a default go; unknown fields are pruning's business"
    );
    apply_defaults(&mut obj, Some(&s));
    assert_eq!(
        obj["spec"]["replicas"],
        json!(1),
        "a non-nullable null is defaulted"
    );
    assert_eq!(obj["spec"]["note"], json!(null), "a nullable null stays");
    assert_eq!(obj["spec"]["weights"], json!([7]));
    assert_eq!(
        obj["spec"]["strategy"],
        json!({"type": "Rolling", "maxSurge": 25})
    );
}

#[test]
fn defaults_are_copied_not_shared() {
    let s = nested_schema();
    let mut a = json!({"spec": {"ports": [{}, {}]}});
    apply_defaults(&mut a, Some(&s));
    a["spec"]["ports"][0]["protocol"] = json!("SCTP");
    assert_eq!(a["spec"]["ports"][1]["protocol"], json!("TCP"));
}
