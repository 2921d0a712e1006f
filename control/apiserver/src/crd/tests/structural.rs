//! Structural-schema conversion and invariants.

use serde_json::json;

use super::{certificate_schema, check, crontab_schema, props, schema};
use crate::admission::field::{ErrorType::*, Path};
use crate::crd::structural::{MAX_SCHEMA_DEPTH, Structural, validate_structural};

const P: &str = "spec.versions[0].schema.openAPIV3Schema";

fn errs(v: serde_json::Value) -> Vec<crate::admission::FieldError> {
    validate_structural(&schema(v), &Path::new(P))
}

#[test]
fn realistic_schemas_are_structural() {
    check("crontab", &errs(crontab_schema()), &[]);
    check("certificate", &errs(certificate_schema()), &[]);
}

#[test]
fn structural_violations() {
    let cases: Vec<(&str, serde_json::Value, Vec<super::Want>)> = vec![
        (
            "missing type at the root",
            json!({"properties": {"spec": {"type": "object"}}}),
            vec![(
                "spec.versions[0].schema.openAPIV3Schema.type",
                Required,
                "spec.versions[0].schema.openAPIV3Schema.type: Required value: must not be empty at the root",
            )],
        ),
        (
            "missing types of fields and items",
            json!({"type": "object", "properties": {
                "a": {},
                "b": {"type": "array", "items": {}},
                "c": {"type": "array"}
            }}),
            vec![
                (
                    "spec.versions[0].schema.openAPIV3Schema.properties[a].type",
                    Required,
                    "~Required value: must not be empty for specified object fields",
                ),
                (
                    "spec.versions[0].schema.openAPIV3Schema.properties[b].items.type",
                    Required,
                    "~Required value: must not be empty for specified array items",
                ),
                (
                    "spec.versions[0].schema.openAPIV3Schema.properties[c].items",
                    Required,
                    "~Required value: must be specified",
                ),
            ],
        ),
        (
            "root must be an object",
            json!({"type": "string"}),
            vec![(
                "spec.versions[0].schema.openAPIV3Schema.type",
                Invalid,
                "spec.versions[0].schema.openAPIV3Schema.type: Invalid value: \"string\": must be object at the root",
            )],
        ),
        (
            "additionalProperties at the root",
            json!({"type": "object", "additionalProperties": {"type": "string"}}),
            vec![(
                "spec.versions[0].schema.openAPIV3Schema.additionalProperties",
                Forbidden,
                "~Forbidden: must not be used at the root",
            )],
        ),
        (
            "int-or-string with preserve and embedded",
            json!({"type": "object", "properties": {"x": {
                "type": "object",
                "x-kubernetes-int-or-string": true,
                "x-kubernetes-preserve-unknown-fields": true,
                "x-kubernetes-embedded-resource": true
            }}}),
            vec![
                (
                    "spec.versions[0].schema.openAPIV3Schema.properties[x].x-kubernetes-embedded-resource",
                    Invalid,
                    "~Invalid value: true: must be false if x-kubernetes-int-or-string is true",
                ),
                (
                    "spec.versions[0].schema.openAPIV3Schema.properties[x].x-kubernetes-preserve-unknown-fields",
                    Invalid,
                    "~Invalid value: true: must be false if x-kubernetes-int-or-string is true",
                ),
            ],
        ),
        (
            "int-or-string anyOf pattern allowed, other nested types not",
            json!({"type": "object", "properties": {
                "ok": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                "ok2": {"x-kubernetes-int-or-string": true, "allOf": [{"anyOf": [{"type": "integer"}, {"type": "string"}]}, {"pattern": "^[0-9]+%?$"}]},
                "bad": {"type": "string", "anyOf": [{"type": "string"}]}
            }}),
            vec![(
                "spec.versions[0].schema.openAPIV3Schema.properties[bad].anyOf[0].type",
                Forbidden,
                "~Forbidden: must be empty to be structural",
            )],
        ),
        (
            "nested value validations carry only value validations",
            json!({"type": "object", "properties": {"x": {"type": "object", "properties": {"a": {"type": "string"}}, "allOf": [{
                "description": "d",
                "title": "t",
                "default": 1,
                "nullable": true,
                "x-kubernetes-preserve-unknown-fields": true,
                "x-kubernetes-list-type": "set",
                "additionalProperties": {"type": "string"},
                "properties": {"metadata": {}}
            }]}}}),
            vec![
                (
                    "spec.versions[0].schema.openAPIV3Schema.properties[x].allOf[0].additionalProperties",
                    Forbidden,
                    "~must be undefined to be structural",
                ),
                (
                    "spec.versions[0].schema.openAPIV3Schema.properties[x].allOf[0].default",
                    Forbidden,
                    "~must be undefined to be structural",
                ),
                (
                    "spec.versions[0].schema.openAPIV3Schema.properties[x].allOf[0].description",
                    Forbidden,
                    "~must be empty to be structural",
                ),
                (
                    "spec.versions[0].schema.openAPIV3Schema.properties[x].allOf[0].nullable",
                    Forbidden,
                    "~must be false to be structural",
                ),
                (
                    "spec.versions[0].schema.openAPIV3Schema.properties[x].allOf[0].properties[metadata]",
                    Forbidden,
                    "~must not be specified in a nested context",
                ),
                (
                    "spec.versions[0].schema.openAPIV3Schema.properties[x].allOf[0].title",
                    Forbidden,
                    "~must be empty to be structural",
                ),
                (
                    "spec.versions[0].schema.openAPIV3Schema.properties[x].allOf[0].x-kubernetes-list-type",
                    Forbidden,
                    "~must be undefined to be structural",
                ),
                (
                    "spec.versions[0].schema.openAPIV3Schema.properties[x].allOf[0].x-kubernetes-preserve-unknown-fields",
                    Forbidden,
                    "~must be false to be structural",
                ),
            ],
        ),
        (
            "root value validations must talk about specified fields",
            json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string"}}}},
                "anyOf": [{"required": ["spec"]}, {"properties": {"spec": {"properties": {"b": {"minLength": 1}}}}}]}),
            vec![(
                "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[b]",
                Required,
                "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[b]: Required value: because it is defined in spec.versions[0].schema.openAPIV3Schema.anyOf[1].properties[spec].properties[b]",
            )],
        ),
        (
            "completeness is checked for the root's value validations only, as Kubernetes does",
            json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string"}},
                "anyOf": [{"required": ["a"]}, {"properties": {"b": {"minLength": 1}}}]}}}),
            vec![],
        ),
        (
            "embedded resources",
            json!({"type": "object", "properties": {
                "noType": {"x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true},
                "noProps": {"type": "object", "x-kubernetes-embedded-resource": true},
                "withAP": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true, "additionalProperties": {"type": "string"}},
                "badKind": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"kind": {"type": "integer"}, "metadata": {"type": "string"}}}
            }}),
            vec![
                (
                    "spec.versions[0].schema.openAPIV3Schema.properties[badKind].properties[kind].type",
                    Invalid,
                    "~Invalid value: \"integer\": must be string",
                ),
                (
                    "spec.versions[0].schema.openAPIV3Schema.properties[badKind].properties[metadata].type",
                    Invalid,
                    "~Invalid value: \"string\": must be object",
                ),
                (
                    "spec.versions[0].schema.openAPIV3Schema.properties[noProps].properties",
                    Required,
                    "~must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
                ),
                (
                    "spec.versions[0].schema.openAPIV3Schema.properties[noType].type",
                    Required,
                    "~Required value: must be object if x-kubernetes-embedded-resource is true",
                ),
                (
                    "spec.versions[0].schema.openAPIV3Schema.properties[withAP].additionalProperties",
                    Forbidden,
                    "~must not be used if x-kubernetes-embedded-resource is set",
                ),
            ],
        ),
        (
            "root metadata may only restrict name and generateName",
            json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}, "labels": {"type": "object"}}}}}),
            vec![(
                "spec.versions[0].schema.openAPIV3Schema.properties[metadata]",
                Forbidden,
                "spec.versions[0].schema.openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified",
            )],
        ),
        (
            "bad pattern",
            json!({"type": "object", "properties": {"x": {"type": "string", "pattern": "a(b"}}}),
            vec![(
                "spec.versions[0].schema.openAPIV3Schema.properties[x].pattern",
                Invalid,
                "~Invalid value: \"a(b\": must be a valid regular expression, but isn't: ",
            )],
        ),
    ];
    for (name, s, want) in cases {
        check(name, &errs(s), &want);
    }
    check(
        "names-only metadata is fine",
        &errs(
            json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}, "generateName": {"type": "string"}}}}}),
        ),
        &[],
    );
}

#[test]
fn unsupported_fields_fail_the_conversion() {
    for (s, want) in [
        (
            json!({"type": "object", "$ref": "#/x"}),
            "OpenAPIV3Schema '$ref' is not supported",
        ),
        (
            json!({"type": "object", "id": "x"}),
            "OpenAPIV3Schema 'id' is not supported",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "array", "items": [{"type": "string"}]}}}),
            "OpenAPIV3Schema 'items' must be a schema, but is an array",
        ),
        (
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": false}),
            "internal error: 'x-kubernetes-preserve-unknown-fields' must be true or undefined",
        ),
    ] {
        assert_eq!(Structural::new(&props(s)).err().as_deref(), Some(want));
    }
    let errs = Structural::from_schema(
        &props(json!({"type": "object", "$ref": "#/x"})),
        &Path::new(P),
    )
    .expect_err("refused");
    check(
        "from_schema",
        &errs,
        &[(
            P,
            Invalid,
            "spec.versions[0].schema.openAPIV3Schema: Invalid value: \"\": OpenAPIV3Schema '$ref' is not supported",
        )],
    );
}

#[test]
fn schema_depth_is_bounded() {
    let deep: clipper_proto::api::apiextensions::v1::JSONSchemaProps = {
        // Built directly: the JSON decoder would stop at its own depth limit first.
        fn build(n: usize) -> clipper_proto::api::apiextensions::v1::JSONSchemaProps {
            let mut s = clipper_proto::api::apiextensions::v1::JSONSchemaProps {
                type_: Some("string".into()),
                ..Default::default()
            };
            for _ in 0..n {
                let mut p = std::collections::BTreeMap::new();
                p.insert("a".to_string(), s);
                s = clipper_proto::api::apiextensions::v1::JSONSchemaProps {
                    type_: Some("object".into()),
                    properties: Some(p),
                    ..Default::default()
                };
            }
            s
        }
        build(MAX_SCHEMA_DEPTH + 5)
    };
    assert!(
        Structural::new(&deep)
            .unwrap_err()
            .contains("nested deeper")
    );
}

#[test]
fn the_deepest_accepted_schema_validates_within_the_stack() {
    use clipper_proto::api::apiextensions::v1::JSONSchemaProps;
    let mut s = JSONSchemaProps {
        type_: Some("string".into()),
        ..Default::default()
    };
    let mut v = serde_json::Value::from(5);
    for _ in 0..MAX_SCHEMA_DEPTH {
        let mut p = std::collections::BTreeMap::new();
        p.insert("a".to_string(), s);
        s = JSONSchemaProps {
            type_: Some("object".into()),
            required: Some(vec!["a".into()]),
            properties: Some(p),
            ..Default::default()
        };
        v = json!({"a": v});
    }
    let st = Structural::new(&s).expect("at the limit");
    let errs = crate::crd::validate_value(&st, &v, None);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].message().contains("must be of type string"));
    let mut old = v.clone();
    old["a"]["a"] = json!({});
    assert_eq!(
        crate::crd::validate_value_update(&st, &v, &old, None).len(),
        1
    );
    let mut pruned = v.clone();
    crate::crd::prune(&mut pruned, Some(&st), true);
    crate::crd::apply_defaults(&mut pruned, Some(&st));
    assert!(validate_structural(&st, &Path::new(P)).is_empty());
}
