//! Value validation: every keyword, Kubernetes' messages, realistic objects, ratcheting
//! and the CEL report.

use serde_json::{Value, json};

use super::{Want, certificate, certificate_schema, check, crontab_schema, schema};
use crate::admission::field::{ErrorType::*, FieldError, Path};
use crate::crd::validation::{cel_rules_not_evaluated, validate_value, validate_value_update};

/// Validates `{"spec": {"x": value}}` against a schema whose `spec.x` is `field`.
fn field_errs(field: Value, value: Value) -> Vec<FieldError> {
    let s = schema(
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"x": field}}}}),
    );
    validate_value(&s, &json!({"spec": {"x": value}}), None)
}

#[test]
fn keywords() {
    let cases: Vec<(&str, Value, Value, Vec<Want>)> = vec![
        ("integer ok", json!({"type": "integer"}), json!(3), vec![]),
        (
            "integer given a string",
            json!({"type": "integer"}),
            json!("string"),
            vec![(
                "spec.x",
                Invalid,
                r#"spec.x: Invalid value: "string": spec.x in body must be of type integer: "string""#,
            )],
        ),
        (
            "integer given a fraction",
            json!({"type": "integer"}),
            json!(1.5),
            vec![(
                "spec.x",
                Invalid,
                r#"spec.x: Invalid value: "number": spec.x in body must be of type integer: "number""#,
            )],
        ),
        (
            "integer given an integral float",
            json!({"type": "integer"}),
            json!(2.0),
            vec![],
        ),
        (
            "number given an integer",
            json!({"type": "number"}),
            json!(2),
            vec![],
        ),
        (
            "boolean given a string",
            json!({"type": "boolean"}),
            json!("true"),
            vec![(
                "spec.x",
                Invalid,
                r#"spec.x: Invalid value: "string": spec.x in body must be of type boolean: "string""#,
            )],
        ),
        (
            "object given an array",
            json!({"type": "object"}),
            json!([1]),
            vec![(
                "spec.x",
                Invalid,
                r#"spec.x: Invalid value: "array": spec.x in body must be of type object: "array""#,
            )],
        ),
        (
            "array given an object",
            json!({"type": "array", "items": {"type": "string"}}),
            json!({}),
            vec![(
                "spec.x",
                Invalid,
                r#"spec.x: Invalid value: "object": spec.x in body must be of type array: "object""#,
            )],
        ),
        (
            "null for a non-nullable string",
            json!({"type": "string"}),
            json!(null),
            vec![(
                "spec.x",
                Invalid,
                r#"spec.x: Invalid value: "null": spec.x in body must be of type string: "null""#,
            )],
        ),
        (
            "null for a nullable string",
            json!({"type": "string", "nullable": true}),
            json!(null),
            vec![],
        ),
        (
            "enum",
            json!({"type": "string", "enum": ["a", "b"]}),
            json!("x"),
            vec![(
                "spec.x",
                NotSupported,
                r#"spec.x: Unsupported value: "x": supported values: "a", "b""#,
            )],
        ),
        (
            "integer enum",
            json!({"type": "integer", "enum": [1, 2]}),
            json!(3),
            vec![(
                "spec.x",
                NotSupported,
                r#"spec.x: Unsupported value: 3: supported values: "1", "2""#,
            )],
        ),
        (
            "integer enum matched by an integral float",
            json!({"type": "integer", "enum": [1, 2]}),
            json!(2.0),
            vec![],
        ),
        (
            "object enum",
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true, "enum": [{"a": 1}]}),
            json!({"a": 2}),
            vec![(
                "spec.x",
                NotSupported,
                r#"spec.x: Unsupported value: map[string]interface {}{"a":2}: supported values: "{\"a\":1}""#,
            )],
        ),
        (
            "nullable enum still refuses null",
            json!({"type": "string", "nullable": true, "enum": ["a"]}),
            json!(null),
            vec![(
                "spec.x",
                NotSupported,
                r#"spec.x: Unsupported value: null: supported values: "a""#,
            )],
        ),
        (
            "maximum",
            json!({"type": "integer", "minimum": 1, "maximum": 10}),
            json!(15),
            vec![(
                "spec.x",
                Invalid,
                "spec.x: Invalid value: 15: spec.x in body should be less than or equal to 10",
            )],
        ),
        (
            "minimum",
            json!({"type": "integer", "minimum": 1, "maximum": 10}),
            json!(0),
            vec![(
                "spec.x",
                Invalid,
                "spec.x: Invalid value: 0: spec.x in body should be greater than or equal to 1",
            )],
        ),
        (
            "exclusiveMaximum",
            json!({"type": "integer", "maximum": 10, "exclusiveMaximum": true}),
            json!(10),
            vec![(
                "spec.x",
                Invalid,
                "spec.x: Invalid value: 10: spec.x in body should be less than 10",
            )],
        ),
        (
            "exclusiveMinimum",
            json!({"type": "number", "minimum": 0, "exclusiveMinimum": true}),
            json!(0.0),
            vec![(
                "spec.x",
                Invalid,
                "spec.x: Invalid value: 0: spec.x in body should be greater than 0",
            )],
        ),
        (
            "float maximum",
            json!({"type": "number", "maximum": 2.5}),
            json!(3.5),
            vec![(
                "spec.x",
                Invalid,
                "spec.x: Invalid value: 3.5: spec.x in body should be less than or equal to 2.5",
            )],
        ),
        (
            "integer against a fractional bound compares with the truncated bound, as Go does",
            json!({"type": "integer", "maximum": 2.5}),
            json!(3),
            vec![(
                "spec.x",
                Invalid,
                "spec.x: Invalid value: 3: spec.x in body should be less than or equal to 2",
            )],
        ),
        (
            "multipleOf",
            json!({"type": "integer", "multipleOf": 5}),
            json!(12),
            vec![(
                "spec.x",
                Invalid,
                "spec.x: Invalid value: 12: spec.x in body should be a multiple of 5",
            )],
        ),
        (
            "fractional multipleOf ok",
            json!({"type": "number", "multipleOf": 0.5}),
            json!(1.5),
            vec![],
        ),
        (
            "fractional multipleOf",
            json!({"type": "number", "multipleOf": 0.5}),
            json!(1.3),
            vec![(
                "spec.x",
                Invalid,
                "spec.x: Invalid value: 1.3: spec.x in body should be a multiple of 0.5",
            )],
        ),
        (
            "maxLength counts characters",
            json!({"type": "string", "maxLength": 3}),
            json!("héllo"),
            vec![(
                "spec.x",
                TooLong,
                "spec.x: Too long: may not be more than 3 bytes",
            )],
        ),
        (
            "maxLength of two characters in three bytes",
            json!({"type": "string", "maxLength": 2}),
            json!("hé"),
            vec![],
        ),
        (
            "minLength",
            json!({"type": "string", "minLength": 2}),
            json!("a"),
            vec![(
                "spec.x",
                Invalid,
                r#"spec.x: Invalid value: "a": spec.x in body should be at least 2 chars long"#,
            )],
        ),
        (
            "pattern",
            json!({"type": "string", "pattern": "^[a-z]+$"}),
            json!("ABC"),
            vec![(
                "spec.x",
                Invalid,
                r#"spec.x: Invalid value: "ABC": spec.x in body should match '^[a-z]+$'"#,
            )],
        ),
        (
            "only the first string failure is reported",
            json!({"type": "string", "maxLength": 1, "pattern": "^[a-z]+$"}),
            json!("ABC"),
            vec![(
                "spec.x",
                TooLong,
                "spec.x: Too long: may not be more than 1 bytes",
            )],
        ),
        (
            "format uuid",
            json!({"type": "string", "format": "uuid"}),
            json!("nope"),
            vec![(
                "spec.x",
                Invalid,
                r#"spec.x: Invalid value: "nope": spec.x in body must be of type uuid: "nope""#,
            )],
        ),
        (
            "format date-time",
            json!({"type": "string", "format": "date-time"}),
            json!("yesterday"),
            vec![(
                "spec.x",
                Invalid,
                r#"spec.x: Invalid value: "yesterday": spec.x in body must be of type date-time: "yesterday""#,
            )],
        ),
        (
            "format byte",
            json!({"type": "string", "format": "byte"}),
            json!("!!"),
            vec![(
                "spec.x",
                Invalid,
                r#"spec.x: Invalid value: "!!": spec.x in body must be of type byte: "!!""#,
            )],
        ),
        (
            "format int32 is not checked by Kubernetes",
            json!({"type": "integer", "format": "int32"}),
            json!(1_099_511_627_776i64),
            vec![],
        ),
        (
            "unknown formats are ignored",
            json!({"type": "string", "format": "k8s-short-name"}),
            json!("UPPER"),
            vec![],
        ),
        (
            "a string format on a number is a type error of the format",
            json!({"type": "string", "format": "date-time"}),
            json!(5),
            vec![(
                "spec.x",
                Invalid,
                r#"spec.x: Invalid value: "int64": spec.x in body must be of type date-time: "int64""#,
            )],
        ),
        (
            "minItems",
            json!({"type": "array", "items": {"type": "integer"}, "minItems": 2}),
            json!([1]),
            vec![(
                "spec.x",
                Invalid,
                "spec.x: Invalid value: 1: spec.x in body should have at least 2 items",
            )],
        ),
        (
            "maxItems",
            json!({"type": "array", "items": {"type": "integer"}, "maxItems": 1}),
            json!([1, 2]),
            vec![(
                "spec.x",
                TooMany,
                "spec.x: Too many: 2: must have at most 1 items",
            )],
        ),
        (
            "uniqueItems",
            json!({"type": "array", "items": {"type": "integer"}, "uniqueItems": true}),
            json!([1, 1]),
            vec![(
                "spec.x",
                Invalid,
                r#"spec.x: Invalid value: "": spec.x in body shouldn't contain duplicates"#,
            )],
        ),
        (
            "items",
            json!({"type": "array", "items": {"type": "integer", "minimum": 0}}),
            json!([1, -1]),
            vec![(
                "spec.x[1]",
                Invalid,
                "spec.x[1]: Invalid value: -1: spec.x[1] in body should be greater than or equal to 0",
            )],
        ),
        (
            "minProperties",
            json!({"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}}),
            json!({}),
            vec![(
                "spec.x",
                Invalid,
                "spec.x: Invalid value: 0: spec.x in body should have at least 1 properties",
            )],
        ),
        (
            "maxProperties",
            json!({"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string"}}),
            json!({"a": "1", "b": "2"}),
            vec![(
                "spec.x",
                TooMany,
                "spec.x: Too many: 2: must have at most 1 items",
            )],
        ),
        (
            "additionalProperties false",
            json!({"type": "object", "additionalProperties": false}),
            json!({"a": 1}),
            vec![(
                "spec.x",
                Invalid,
                r#"spec.x: Invalid value: "a": spec.x.a in body is a forbidden property"#,
            )],
        ),
        (
            "additionalProperties schema",
            json!({"type": "object", "additionalProperties": {"type": "integer"}}),
            json!({"a": "s", "b": 2}),
            vec![(
                "spec.x.a",
                Invalid,
                r#"spec.x.a: Invalid value: "string": spec.x.a in body must be of type integer: "string""#,
            )],
        ),
        (
            "required",
            json!({"type": "object", "required": ["a", "b"], "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}),
            json!({"b": "x"}),
            vec![("spec.x.a", Required, "spec.x.a: Required value")],
        ),
        (
            "allOf",
            json!({"type": "string", "allOf": [{"minLength": 2}, {"maxLength": 3}]}),
            json!("a"),
            vec![
                (
                    "spec.x",
                    Invalid,
                    r#"spec.x: Invalid value: "a": spec.x in body should be at least 2 chars long"#,
                ),
                (
                    "<nil>",
                    Invalid,
                    r#"<nil>: Invalid value: "": "spec.x" must validate all the schemas (allOf)"#,
                ),
            ],
        ),
        (
            "anyOf reports the best failing branch",
            json!({"type": "string", "anyOf": [{"pattern": "^a"}, {"pattern": "^b"}]}),
            json!("c"),
            vec![
                (
                    "<nil>",
                    Invalid,
                    r#"<nil>: Invalid value: "": "spec.x" must validate at least one schema (anyOf)"#,
                ),
                (
                    "spec.x",
                    Invalid,
                    r#"spec.x: Invalid value: "c": spec.x in body should match '^a'"#,
                ),
            ],
        ),
        (
            "anyOf satisfied",
            json!({"type": "string", "anyOf": [{"pattern": "^a"}, {"pattern": "^b"}]}),
            json!("b"),
            vec![],
        ),
        (
            "oneOf with two matches",
            json!({"type": "integer", "oneOf": [{"minimum": 0}, {"maximum": 10}]}),
            json!(5),
            vec![(
                "<nil>",
                Invalid,
                r#"<nil>: Invalid value: "": "spec.x" must validate one and only one schema (oneOf). Found 2 valid alternatives"#,
            )],
        ),
        (
            "oneOf with one match",
            json!({"type": "integer", "oneOf": [{"minimum": 0}, {"maximum": 10}]}),
            json!(20),
            vec![],
        ),
        (
            "oneOf with none",
            json!({"type": "integer", "oneOf": [{"minimum": 100}, {"maximum": -100}]}),
            json!(5),
            vec![
                (
                    "<nil>",
                    Invalid,
                    r#"<nil>: Invalid value: "": "spec.x" must validate one and only one schema (oneOf). Found none valid"#,
                ),
                (
                    "spec.x",
                    Invalid,
                    "spec.x: Invalid value: 5: spec.x in body should be greater than or equal to 100",
                ),
            ],
        ),
        (
            "not",
            json!({"type": "string", "not": {"enum": ["forbidden"]}}),
            json!("forbidden"),
            vec![(
                "<nil>",
                Invalid,
                r#"<nil>: Invalid value: "": "spec.x" must not validate the schema (not)"#,
            )],
        ),
        (
            "int-or-string int",
            json!({"x-kubernetes-int-or-string": true}),
            json!(80),
            vec![],
        ),
        (
            "int-or-string string",
            json!({"x-kubernetes-int-or-string": true}),
            json!("80%"),
            vec![],
        ),
        (
            "int-or-string bool",
            json!({"x-kubernetes-int-or-string": true}),
            json!(true),
            vec![(
                "spec.x",
                Invalid,
                r#"spec.x: Invalid value: "boolean": spec.x in body must be of type integer,string: "boolean""#,
            )],
        ),
        (
            "int-or-string with its anyOf",
            json!({"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}),
            json!(1.5),
            vec![
                (
                    "spec.x",
                    Invalid,
                    r#"spec.x: Invalid value: "number": spec.x in body must be of type integer,string: "number""#,
                ),
                (
                    "<nil>",
                    Invalid,
                    r#"<nil>: Invalid value: "": "spec.x" must validate at least one schema (anyOf)"#,
                ),
                (
                    "spec.x",
                    Invalid,
                    r#"spec.x: Invalid value: "number": spec.x in body must be of type integer: "number""#,
                ),
            ],
        ),
        (
            "preserve-unknown-fields without type accepts anything",
            json!({"x-kubernetes-preserve-unknown-fields": true}),
            json!([{"a": null}]),
            vec![],
        ),
    ];
    for (name, field, value, want) in cases {
        check(name, &field_errs(field, value), &want);
    }
}

#[test]
fn root_level_errors() {
    let s = schema(
        json!({"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object", "required": ["size"], "properties": {"size": {"type": "string"}}}}}),
    );
    check(
        "root required",
        &validate_value(&s, &json!({}), None),
        &[("spec", Required, "spec: Required value")],
    );
    check(
        "nested required",
        &validate_value(&s, &json!({"spec": {}}), None),
        &[("spec.size", Required, "spec.size: Required value")],
    );
    check(
        "wrong type of spec",
        &validate_value(&s, &json!({"spec": "string"}), None),
        &[(
            "spec",
            Invalid,
            r#"spec: Invalid value: "string": spec in body must be of type object: "string""#,
        )],
    );
    check(
        "with a prefix, as the status subresource reports",
        &validate_value(
            &s,
            &json!({"spec": {"size": 1}}),
            Some(&Path::new("status")),
        ),
        &[(
            "status.spec.size",
            Invalid,
            r#"status.spec.size: Invalid value: "integer": spec.size in body must be of type string: "integer""#,
        )],
    );
}

#[test]
fn crontab_as_in_the_kubernetes_docs() {
    let s = schema(crontab_schema());
    let ok = json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "c"},
        "spec": {"cronSpec": "* * * * */5", "image": "my-awesome-cron-image", "replicas": 3, "mode": "a"}});
    check("valid", &validate_value(&s, &ok, None), &[]);
    let bad = json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "c"},
        "spec": {"cronSpec": "* * * *", "image": "my-awesome-cron-image", "replicas": 15, "mode": "x"}});
    check(
        "docs example",
        &validate_value(&s, &bad, None),
        &[
            (
                "spec.cronSpec",
                Invalid,
                r#"spec.cronSpec: Invalid value: "* * * *": spec.cronSpec in body should match '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$'"#,
            ),
            (
                "spec.mode",
                NotSupported,
                r#"spec.mode: Unsupported value: "x": supported values: "a", "b""#,
            ),
            (
                "spec.replicas",
                Invalid,
                "spec.replicas: Invalid value: 15: spec.replicas in body should be less than or equal to 10",
            ),
        ],
    );
    let typed = json!({"spec": {"cronSpec": "* * * * *", "replicas": "string"}});
    check(
        "replicas as a string",
        &validate_value(&s, &typed, None),
        &[(
            "spec.replicas",
            Invalid,
            r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#,
        )],
    );
    check(
        "missing cronSpec",
        &validate_value(&s, &json!({"spec": {}}), None),
        &[("spec.cronSpec", Required, "spec.cronSpec: Required value")],
    );
}

#[test]
fn certificate_schema_errors() {
    let s = schema(certificate_schema());
    check(
        "valid certificate",
        &validate_value(&s, &certificate(), None),
        &[],
    );
    let mut bad = certificate();
    bad["spec"] = json!({
        "secretName": "",
        "commonName": "x".repeat(65),
        "dnsNames": ["a", "b", "c", "d"],
        "ipAddresses": ["10.0.0.1", "not-an-ip"],
        "emailAddresses": ["nobody"],
        "duration": "forever",
        "revisionHistoryLimit": null,
        "usages": ["server auth", "code signing"],
        "privateKey": {"algorithm": "DSA", "size": 1000},
        "issuerRef": {"kind": "Issuer"},
        "secretTemplate": {"labels": {"team": "x".repeat(64)}},
        "port": true
    });
    check(
        "invalid certificate",
        &validate_value(&s, &bad, None),
        &[
            (
                "spec.commonName",
                TooLong,
                "spec.commonName: Too long: may not be more than 64 bytes",
            ),
            (
                "spec.dnsNames",
                TooMany,
                "spec.dnsNames: Too many: 4: must have at most 3 items",
            ),
            (
                "spec.duration",
                Invalid,
                r#"spec.duration: Invalid value: "forever": spec.duration in body must be of type duration: "forever""#,
            ),
            (
                "spec.emailAddresses[0]",
                Invalid,
                r#"spec.emailAddresses[0]: Invalid value: "nobody": spec.emailAddresses[0] in body must be of type email: "nobody""#,
            ),
            (
                "spec.ipAddresses[1]",
                Invalid,
                r#"spec.ipAddresses[1]: Invalid value: "not-an-ip": spec.ipAddresses[1] in body must be of type ipv4: "not-an-ip""#,
            ),
            (
                "spec.issuerRef.name",
                Required,
                "spec.issuerRef.name: Required value",
            ),
            (
                "spec.port",
                Invalid,
                r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#,
            ),
            (
                "<nil>",
                Invalid,
                r#"<nil>: Invalid value: "": "spec.port" must validate at least one schema (anyOf)"#,
            ),
            (
                "spec.port",
                Invalid,
                r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer: "boolean""#,
            ),
            (
                "spec.privateKey.algorithm",
                NotSupported,
                r#"spec.privateKey.algorithm: Unsupported value: "DSA": supported values: "RSA", "ECDSA", "Ed25519""#,
            ),
            (
                "spec.privateKey.size",
                Invalid,
                "spec.privateKey.size: Invalid value: 1000: spec.privateKey.size in body should be a multiple of 1024",
            ),
            (
                "spec.secretName",
                Invalid,
                r#"spec.secretName: Invalid value: "": spec.secretName in body should be at least 1 chars long"#,
            ),
            (
                "spec.secretTemplate.labels.team",
                TooLong,
                "spec.secretTemplate.labels.team: Too long: may not be more than 63 bytes",
            ),
            (
                "spec.usages[1]",
                NotSupported,
                r#"spec.usages[1]: Unsupported value: "code signing": supported values: "digital signature", "key encipherment", "server auth", "client auth""#,
            ),
        ],
    );
}

#[test]
fn ratcheting_keeps_unchanged_invalid_values() {
    let s = schema(certificate_schema());
    let mut old = certificate();
    old["spec"]["privateKey"]["size"] = json!(1000);
    old["status"] = json!({"conditions": [
        {"type": "Ready", "status": "Maybe"},
        {"type": "Issuing", "status": "True"}
    ]});
    let mut new = old.clone();
    new["spec"]["commonName"] = json!("changed.example.com");
    // The map-list is reordered: items still correlate by key and stay unchanged.
    new["status"]["conditions"] = json!([
        {"type": "Issuing", "status": "True"},
        {"type": "Ready", "status": "Maybe"}
    ]);
    check(
        "unchanged invalid values ratchet",
        &validate_value_update(&s, &new, &old, None),
        &[],
    );
    check(
        "but not on create",
        &validate_value(&s, &new, None),
        &[
            (
                "spec.privateKey.size",
                Invalid,
                "~should be a multiple of 1024",
            ),
            (
                "status.conditions[1].status",
                NotSupported,
                "~Unsupported value: \"Maybe\"",
            ),
        ],
    );
    let mut changed = new.clone();
    changed["spec"]["privateKey"]["size"] = json!(1001);
    check(
        "a changed invalid value is reported",
        &validate_value_update(&s, &changed, &old, None),
        &[(
            "spec.privateKey.size",
            Invalid,
            "spec.privateKey.size: Invalid value: 1001: spec.privateKey.size in body should be a multiple of 1024",
        )],
    );
    // Atomic lists correlate only as a whole.
    let mut old2 = certificate();
    old2["spec"]["usages"] = json!(["bad", "server auth"]);
    let mut new2 = old2.clone();
    new2["spec"]["usages"] = json!(["bad", "client auth"]);
    check(
        "atomic list changed",
        &validate_value_update(&s, &new2, &old2, None),
        &[(
            "spec.usages[0]",
            NotSupported,
            "~Unsupported value: \"bad\"",
        )],
    );
}

#[test]
fn cel_rules_are_reported_not_evaluated() {
    let s = schema(json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "x-kubernetes-validations": [{"rule": "self.min <= self.max", "message": "min must not exceed max"}],
        "properties": {
            "min": {"type": "integer"},
            "max": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string", "x-kubernetes-validations": [{"rule": "self.size() < 10"}]}}
        }
    }}}));
    let obj = json!({"spec": {"min": 5, "max": 1, "tags": ["a", "b"]}});
    check("CEL not evaluated", &validate_value(&s, &obj, None), &[]);
    let skipped = cel_rules_not_evaluated(&s, &obj);
    let fields: Vec<(&str, &str)> = skipped
        .iter()
        .map(|r| (r.field.as_str(), r.rule.as_str()))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("spec", "self.min <= self.max"),
            ("spec.tags[0]", "self.size() < 10"),
            ("spec.tags[1]", "self.size() < 10")
        ]
    );
    assert_eq!(
        skipped[0].warning(),
        r#"spec: x-kubernetes-validations rule "self.min <= self.max" was not evaluated: CEL validation is not supported"#
    );
    assert_eq!(
        skipped[0].message.as_deref(),
        Some("min must not exceed max")
    );
    assert!(cel_rules_not_evaluated(&s, &json!({})).is_empty());
    let declared: Vec<String> =
        crate::crd::structural::schema_cel_rules(&s, &Path::new("openAPIV3Schema"))
            .into_iter()
            .map(|(p, r)| format!("{p}: {}", r.rule))
            .collect();
    assert_eq!(
        declared,
        vec![
            "openAPIV3Schema.properties[spec].x-kubernetes-validations[0]: self.min <= self.max",
            "openAPIV3Schema.properties[spec].properties[tags].items.x-kubernetes-validations[0]: self.size() < 10",
        ]
    );
}
