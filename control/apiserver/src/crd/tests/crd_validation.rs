//! CRD checks beyond admission's: complete structural rules, defaults, list and map
//! types, CEL rule shapes, selectable fields — never repeating admission's errors.

use serde_json::{Value, json};

use super::{certificate_crd, check, crontab_crd};
use crate::admission::field::ErrorType::*;
use crate::crd::crd_validation::validate_crd_extra;

/// The path of the CronTab spec's properties in the CRD.
const S: &str = "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties";

/// The CronTab CRD with `spec.versions[0].schema.openAPIV3Schema` replaced.
fn with_schema(s: Value) -> clipper_proto::api::apiextensions::v1::CustomResourceDefinition {
    let mut c = crontab_crd();
    c.status = Some(serde_json::from_value(json!({"storedVersions": ["v1"]})).expect("status"));
    c.spec.versions[0].subresources = None;
    c.spec.versions[0].schema =
        Some(serde_json::from_value(json!({"openAPIV3Schema": s})).expect("schema"));
    c
}

fn errs(s: Value) -> Vec<crate::admission::FieldError> {
    validate_crd_extra(&with_schema(s), None)
}

#[test]
fn realistic_crds_pass() {
    let mut c = crontab_crd();
    c.status = Some(serde_json::from_value(json!({"storedVersions": ["v1"]})).expect("status"));
    check("crontab", &validate_crd_extra(&c, None), &[]);
    let mut c = certificate_crd();
    c.status = Some(serde_json::from_value(json!({"storedVersions": ["v1"]})).expect("status"));
    check("certificate", &validate_crd_extra(&c, None), &[]);
}

#[test]
fn defaults_must_validate_and_be_pruned() {
    check(
        "bad defaults",
        &errs(
            json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
                "replicas": {"type": "integer", "minimum": 1, "default": 0},
                "mode": {"type": "string", "enum": ["a"], "default": "b"},
                "obj": {"type": "object", "properties": {"a": {"type": "string"}}, "default": {"a": "x", "zzz": 1}}
            }}}}),
        ),
        &[
            (
                "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[mode].default",
                NotSupported,
                r#"spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[mode].default: Unsupported value: "b": supported values: "a""#,
            ),
            (
                "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[obj].default",
                Invalid,
                r#"spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[obj].default: Invalid value: map[string]interface {}{"a":"x", "zzz":1}: must not have unknown fields"#,
            ),
            (
                "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[replicas].default",
                Invalid,
                "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[replicas].default: Invalid value: 0:  in body should be greater than or equal to 1",
            ),
        ],
    );
}

#[test]
fn defaults_forbidden_in_top_level_metadata_and_embedded_metadata_checked() {
    check(
        "top-level metadata default",
        &errs(json!({"type": "object", "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "default": "x"}}},
            "spec": {"type": "object", "properties": {"template": {
                "type": "object",
                "x-kubernetes-embedded-resource": true,
                "x-kubernetes-preserve-unknown-fields": true,
                "properties": {"metadata": {"type": "object", "properties": {"name": {"type": "string", "default": "a/b"}}}}
            }}}
        }})),
        &[
            (
                "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[template].properties[metadata].properties[name].default",
                Invalid,
                "~must result in valid metadata: metadata.name: Invalid value: \"a/b\": may not contain '/'",
            ),
            (
                "spec.versions[0].schema.openAPIV3Schema.properties[metadata].properties[name].default",
                Forbidden,
                "spec.versions[0].schema.openAPIV3Schema.properties[metadata].properties[name].default: Forbidden: must not be set in top-level metadata",
            ),
        ],
    );
}

#[test]
fn list_and_map_types() {
    check(
        "list/map types",
        &errs(
            json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
                "notArray": {"type": "string", "x-kubernetes-list-type": "set"},
                "badType": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "bag"},
                "keysWithoutMap": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}, "x-kubernetes-list-map-keys": ["k"]},
                "mapNoKeys": {"type": "array", "items": {"type": "object"}, "x-kubernetes-list-type": "map"},
                "mapBadKeys": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["a", "nope", "a"],
                    "items": {"type": "object", "properties": {"a": {"type": "object"}}}},
                "mapKeyOptional": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
                    "items": {"type": "object", "properties": {"k": {"type": "string", "nullable": true}}}},
                "setOfObjects": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "object", "properties": {"a": {"type": "string"}}}},
                "mapType": {"type": "object", "x-kubernetes-map-type": "weird"}
            }}}}),
        ),
        &[
            (
                &format!("{S}[badType].x-kubernetes-list-type"),
                NotSupported,
                r#"~Unsupported value: "bag": supported values: "atomic", "set", "map""#,
            ),
            (
                &format!("{S}[keysWithoutMap].x-kubernetes-list-type"),
                Required,
                "~Required value: must be map if x-kubernetes-list-map-keys is non-empty",
            ),
            (
                &format!("{S}[mapBadKeys].items.properties[a].type"),
                Invalid,
                r#"~Invalid value: "object": must be a scalar type if parent array's x-kubernetes-list-type is map"#,
            ),
            (
                &format!("{S}[mapBadKeys].x-kubernetes-list-map-keys"),
                Invalid,
                r#"~Invalid value: []string{"a", "nope", "a"}: entries must all be names of item properties"#,
            ),
            (
                &format!("{S}[mapBadKeys].items.properties[a].type"),
                Invalid,
                "~must be a scalar type",
            ),
            (
                &format!("{S}[mapBadKeys].x-kubernetes-list-map-keys"),
                Invalid,
                "~must not contain duplicate entries",
            ),
            (
                &format!("{S}[mapBadKeys].items.properties[a].default"),
                Required,
                "~Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
            ),
            (
                &format!("{S}[mapBadKeys].items.properties[a].default"),
                Required,
                "~must have a default or be a required property",
            ),
            (
                &format!("{S}[mapKeyOptional].items.properties[k].default"),
                Required,
                "~must have a default or be a required property",
            ),
            (
                &format!("{S}[mapKeyOptional].items.properties[k].nullable"),
                Forbidden,
                "~Forbidden: this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
            ),
            (
                &format!("{S}[mapNoKeys].x-kubernetes-list-map-keys"),
                Required,
                "~Required value: must not be empty if x-kubernetes-list-type is map",
            ),
            (
                &format!("{S}[mapType].x-kubernetes-map-type"),
                NotSupported,
                r#"~Unsupported value: "weird": supported values: "atomic", "granular""#,
            ),
            (
                &format!("{S}[notArray].type"),
                Invalid,
                r#"~Invalid value: "string": must be array if x-kubernetes-list-type is specified"#,
            ),
            (
                &format!("{S}[setOfObjects].items.x-kubernetes-map-type"),
                Invalid,
                "~Invalid value: null: must be atomic as item of a list with x-kubernetes-list-type=set",
            ),
        ],
    );
}

#[test]
fn cel_rule_shapes_and_nested_structural_rules() {
    check(
        "rules",
        &errs(
            json!({"type": "object", "properties": {"spec": {"type": "object",
                "x-kubernetes-validations": [
                    {"rule": "  "},
                    {"rule": "self.a", "message": " "},
                    {"rule": "self.a\n|| self.b"},
                    {"rule": "self.a", "reason": "Nope"},
                    {"rule": "self.a", "fieldPath": "a\nb", "message": "m"}
                ],
                "properties": {"a": {"type": "string", "allOf": [{"description": "nested docs"}]}}
            }}}),
        ),
        &[
            (
                "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[a].allOf[0].description",
                Forbidden,
                "~must be empty to be structural",
            ),
            (
                "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule",
                Required,
                "~rule is not specified",
            ),
            (
                "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[1].message",
                Invalid,
                "~message must be non-empty if specified",
            ),
            (
                "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[2].message",
                Required,
                "~message must be specified if rule contains line breaks",
            ),
            (
                "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[3].reason",
                NotSupported,
                r#"~supported values: "FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired""#,
            ),
            (
                "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[4].fieldPath",
                Invalid,
                "~fieldPath must not contain line breaks",
            ),
        ],
    );
}

#[test]
fn admission_errors_are_not_repeated_and_old_errors_ratchet() {
    // Admission already reports a missing root type; the extra checks must not repeat it.
    let c = with_schema(json!({"properties": {"spec": {"type": "object"}}}));
    let admission: Vec<String> = crate::admission::validate(&c, None)
        .iter()
        .map(|e| e.message())
        .collect();
    assert!(
        admission
            .iter()
            .any(|m| m.ends_with("must not be empty at the root"))
    );
    check("no repeats", &validate_crd_extra(&c, None), &[]);

    // An update keeping a pre-existing problem is not refused for it again.
    let bad = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "x": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "bag"}}}}});
    let old = with_schema(bad.clone());
    assert_eq!(validate_crd_extra(&old, None).len(), 1);
    let mut new = with_schema(bad);
    new.metadata.labels = Some([("a".to_string(), "b".to_string())].into_iter().collect());
    check("ratcheted", &validate_crd_extra(&new, Some(&old)), &[]);
}

#[test]
fn selectable_fields() {
    let mut c = crontab_crd();
    c.status = Some(serde_json::from_value(json!({"storedVersions": ["v1"]})).expect("status"));
    c.spec.versions[0].selectable_fields = Some(
        serde_json::from_value(json!([
            {"jsonPath": ".spec.image"},
            {"jsonPath": ".spec.image"},
            {"jsonPath": ".spec.missing"},
            {"jsonPath": ".spec"},
            {"jsonPath": ""}
        ]))
        .expect("fields"),
    );
    check(
        "selectable fields",
        &validate_crd_extra(&c, None),
        &[
            (
                "spec.versions[0].selectableFields[1].jsonPath",
                Duplicate,
                r#"spec.versions[0].selectableFields[1].jsonPath: Duplicate value: ".spec.image""#,
            ),
            (
                "spec.versions[0].selectableFields[2].jsonPath",
                Invalid,
                "~is an invalid path",
            ),
            (
                "spec.versions[0].selectableFields[3].jsonPath",
                Invalid,
                "~must point to a field of type string, boolean or integer",
            ),
            (
                "spec.versions[0].selectableFields[4].jsonPath",
                Required,
                "spec.versions[0].selectableFields[4].jsonPath: Required value",
            ),
        ],
    );
}
