//! `x-kubernetes-list-type` set and map uniqueness.

use serde_json::{Value, json};

use super::{check, schema};
use crate::admission::field::ErrorType::*;
use crate::crd::validate_list_sets_and_maps;

fn lists_schema() -> crate::crd::Structural {
    schema(
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "set": {"type": "array", "x-kubernetes-list-type": "set", "items": {"x-kubernetes-preserve-unknown-fields": true}},
            "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port"],
                "items": {"type": "object", "properties": {"port": {"type": "integer"}, "name": {"type": "string"}}}},
            "pairs": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["a", "b"],
                "items": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}},
            "byName": {"type": "object", "additionalProperties": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}
        }}}}),
    )
}

#[test]
fn sets_and_maps() {
    let s = lists_schema();
    let cases: Vec<(&str, Value, Vec<super::Want>)> = vec![
        (
            "unique",
            json!({"set": [1, "1", 1.5, true, {"a": 1}], "ports": [{"port": 80}, {"port": 443}]}),
            vec![],
        ),
        (
            "scalar duplicates, reported once at the second occurrence",
            json!({"set": ["a", "b", "a", "a", "b"]}),
            vec![
                (
                    "spec.set[2]",
                    Duplicate,
                    r#"spec.set[2]: Duplicate value: "a""#,
                ),
                (
                    "spec.set[4]",
                    Duplicate,
                    r#"spec.set[4]: Duplicate value: "b""#,
                ),
            ],
        ),
        (
            "an int and a float differ as scalars",
            json!({"set": [1, 1.0]}),
            vec![],
        ),
        (
            "but not inside objects, which compare as JSON",
            json!({"set": [{"a": 1}, {"a": 1.0}]}),
            vec![(
                "spec.set[1]",
                Duplicate,
                r#"spec.set[1]: Duplicate value: map[string]interface {}{"a":1}"#,
            )],
        ),
        (
            "map keys",
            json!({"ports": [{"port": 80, "name": "a"}, {"port": 80, "name": "b"}]}),
            vec![(
                "spec.ports[1]",
                Duplicate,
                r#"spec.ports[1]: Duplicate value: map[string]interface {}{"port":80}"#,
            )],
        ),
        (
            "missing keys are equal to each other",
            json!({"ports": [{"name": "a"}, null]}),
            vec![(
                "spec.ports[1]",
                Duplicate,
                "spec.ports[1]: Duplicate value: map[string]interface {}{}",
            )],
        ),
        (
            "compound keys",
            json!({"pairs": [{"a": "x", "b": "y"}, {"a": "x", "b": "z"}, {"b": "y", "a": "x"}]}),
            vec![(
                "spec.pairs[2]",
                Duplicate,
                r#"spec.pairs[2]: Duplicate value: map[string]interface {}{"a":"x", "b":"y"}"#,
            )],
        ),
        (
            "non-objects in a map list",
            json!({"ports": [{"port": 1}, "p"]}),
            vec![(
                "spec.ports[1]",
                Invalid,
                r#"spec.ports[1]: Invalid value: "p": must be an object for an array of list-type map"#,
            )],
        ),
        (
            "under additionalProperties, keys in brackets",
            json!({"byName": {"team": ["x", "x"]}}),
            vec![(
                "spec.byName[team][1]",
                Duplicate,
                r#"spec.byName[team][1]: Duplicate value: "x""#,
            )],
        ),
    ];
    for (name, spec, want) in cases {
        check(
            name,
            &validate_list_sets_and_maps(&s, &json!({"spec": spec})),
            &want,
        );
    }
}

#[test]
fn large_sets_are_checked_in_linear_time() {
    let s = lists_schema();
    let mut items: Vec<Value> = (0..50_000).map(|i| json!(format!("item-{i}"))).collect();
    items.push(json!("item-7"));
    let errs = validate_list_sets_and_maps(&s, &json!({"spec": {"set": items}}));
    check(
        "one duplicate",
        &errs,
        &[(
            "spec.set[50000]",
            Duplicate,
            r#"spec.set[50000]: Duplicate value: "item-7""#,
        )],
    );
}
