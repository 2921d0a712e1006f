//! The whole pipeline of a served version: decode (prune, metadata, nulls, defaults),
//! validation on create, update and status update, and the Scale.

use clipper_proto::api::autoscaling::v1::{Scale, ScaleSpec};
use clipper_proto::codec::{Decoded, FieldValidation};
use serde_json::json;

use super::{certificate, certificate_crd, check, crontab_crd};
use crate::admission::field::ErrorType::*;
use crate::crd::{DecodeError, DecodeOptions, ServedVersion};

fn crontab() -> ServedVersion {
    ServedVersion::new(&crontab_crd(), "v1").expect("served")
}

#[test]
fn decode_prunes_coerces_and_defaults() {
    let v = crontab();
    let mut obj = json!({
        "apiVersion": "stable.example.com/v1", "kind": "CronTab",
        "metadata": {"name": "c", "namespace": "ns", "labels": {"a": "b"}, "bogus": true, "name2": "x"},
        "spec": {"cronSpec": "* * * * *", "replicas": null, "image": null, "surplus": 1}
    });
    let unknown = v.decode(&mut obj, DecodeOptions::REQUEST).expect("decodes");
    assert_eq!(
        unknown,
        vec!["metadata.bogus", "metadata.name2", "spec.surplus"]
    );
    assert_eq!(
        obj,
        json!({
            "apiVersion": "stable.example.com/v1", "kind": "CronTab",
            "metadata": {"name": "c", "namespace": "ns", "labels": {"a": "b"}},
            "spec": {"cronSpec": "* * * * *", "replicas": 1}
        })
    );
    // The API server's fieldValidation handling, as for built-in kinds.
    let strict = Decoded {
        value: (),
        unknown_fields: unknown.clone(),
    }
    .validate(FieldValidation::Strict);
    assert_eq!(
        strict.unwrap_err().to_string(),
        r#"strict decoding error: unknown field "metadata.bogus", unknown field "metadata.name2", unknown field "spec.surplus""#
    );
    let warn = Decoded {
        value: (),
        unknown_fields: unknown,
    }
    .validate(FieldValidation::Warn)
    .expect("warn");
    assert_eq!(warn.1.len(), 3);
}

#[test]
fn decode_embedded_metadata_and_errors() {
    let v = ServedVersion::new(&certificate_crd(), "v1").expect("served");
    let mut obj = certificate();
    obj["spec"]["podTemplate"] = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "labels": {"x": "y"}, "unknownMeta": 1}, "spec": {"anything": true}});
    let unknown = v.decode(&mut obj, DecodeOptions::REQUEST).expect("decodes");
    assert_eq!(unknown, vec!["spec.podTemplate.metadata.unknownMeta"]);
    assert_eq!(
        obj["spec"]["podTemplate"],
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"x": "y"}}, "spec": {"anything": true}})
    );
    assert_eq!(obj["spec"]["privateKey"]["algorithm"], json!("ECDSA"));
    assert_eq!(
        obj["spec"]["subjectAltNames"][0]["critical"],
        json!(false),
        "map-list item defaulted"
    );

    let mut bad = certificate();
    bad["spec"]["podTemplate"] = json!({"apiVersion": 1, "kind": "Pod"});
    assert_eq!(
        v.decode(&mut bad, DecodeOptions::REQUEST),
        Err(DecodeError(
            "spec.podTemplate.apiVersion: Invalid value: 1: must be a string".into()
        ))
    );
    let mut bad_meta = certificate();
    bad_meta["metadata"]["labels"] = json!(5);
    assert!(v.decode(&mut bad_meta, DecodeOptions::REQUEST).is_err());
    // From storage, a malformed metadata field is dropped and generation repaired.
    let mut stored = certificate();
    stored["metadata"]["labels"] = json!(5);
    v.decode(&mut stored, DecodeOptions::STORAGE)
        .expect("best effort");
    assert_eq!(
        stored["metadata"],
        json!({"name": "example-com", "namespace": "default", "generation": 1})
    );
    let mut kindless = json!({"apiVersion": "cert-manager.io/v1", "kind": 3});
    assert_eq!(
        v.decode(&mut kindless, DecodeOptions::REQUEST),
        Err(DecodeError(
            ".kind accessor error: 3 is of the type int64, expected string".into()
        ))
    );
}

#[test]
fn validate_create_combines_every_check() {
    let v = ServedVersion::new(&certificate_crd(), "v1").expect("served");
    check("valid", &v.validate_create(&certificate()), &[]);
    let mut obj = certificate();
    obj["metadata"] = json!({"name": "Bad_Name"});
    obj["spec"]["secretName"] = json!(7);
    obj["spec"]["dnsNames"] = json!(["a", "b", "a"]);
    obj["spec"]["subjectAltNames"] = json!([
        {"type": "dns", "value": "a"}, {"type": "dns", "value": "a"}
    ]);
    obj["spec"]["podTemplate"] = json!({"apiVersion": "a/b/c", "metadata": {"name": "x/y"}});
    check(
        "invalid",
        &v.validate_create(&obj),
        &[
            (
                "metadata.name",
                Invalid,
                "~metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain",
            ),
            (
                "metadata.namespace",
                Required,
                "metadata.namespace: Required value",
            ),
            (
                "spec.secretName",
                Invalid,
                r#"spec.secretName: Invalid value: "integer": spec.secretName in body must be of type string: "integer""#,
            ),
            (
                "spec.podTemplate.kind",
                Required,
                "spec.podTemplate.kind: Required value: must not be empty",
            ),
            (
                "spec.podTemplate.apiVersion",
                Invalid,
                r#"spec.podTemplate.apiVersion: Invalid value: "a/b/c": unexpected GroupVersion string: a/b/c"#,
            ),
            (
                "spec.podTemplate.metadata.name",
                Invalid,
                r#"spec.podTemplate.metadata.name: Invalid value: "x/y": may not contain '/'"#,
            ),
            (
                "spec.dnsNames[2]",
                Duplicate,
                r#"spec.dnsNames[2]: Duplicate value: "a""#,
            ),
            (
                "spec.subjectAltNames[1]",
                Duplicate,
                r#"spec.subjectAltNames[1]: Duplicate value: map[string]interface {}{"type":"dns", "value":"a"}"#,
            ),
        ],
    );
    let mut wrong = certificate();
    wrong["kind"] = json!("Cert");
    wrong["apiVersion"] = json!("cert-manager.io/v2");
    check(
        "type meta first and alone",
        &v.validate_create(&wrong),
        &[
            (
                "kind",
                Invalid,
                r#"kind: Invalid value: "Cert": must be Certificate"#,
            ),
            (
                "apiVersion",
                Invalid,
                r#"apiVersion: Invalid value: "cert-manager.io/v2": must be cert-manager.io/v1"#,
            ),
        ],
    );
}

#[test]
fn validate_update_and_status_update() {
    let v = crontab();
    let old = json!({
        "apiVersion": "stable.example.com/v1", "kind": "CronTab",
        "metadata": {"name": "c", "namespace": "ns", "resourceVersion": "1", "generation": 1},
        "spec": {"cronSpec": "bad", "replicas": 2},
        "status": {"replicas": 1}
    });
    let mut new = old.clone();
    new["spec"]["image"] = json!("i2");
    check("ratcheted cronSpec", &v.validate_update(&new, &old), &[]);
    new["metadata"]["name"] = json!("d");
    new["spec"]["replicas"] = json!(11);
    check(
        "immutable name, changed replicas",
        &v.validate_update(&new, &old),
        &[
            (
                "metadata.name",
                Invalid,
                r#"metadata.name: Invalid value: "d": field is immutable"#,
            ),
            (
                "spec.replicas",
                Invalid,
                "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10",
            ),
        ],
    );

    let mut st = old.clone();
    st["status"] = json!({"replicas": "two", "labelSelector": 3});
    check(
        "status update",
        &v.validate_status_update(&st, &old),
        &[
            (
                "status.labelSelector",
                Invalid,
                r#"status.labelSelector: Invalid value: "integer": labelSelector in body must be of type string: "integer""#,
            ),
            (
                "status.replicas",
                Invalid,
                r#"status.replicas: Invalid value: "string": replicas in body must be of type integer: "string""#,
            ),
            (
                ".status.replicas",
                Invalid,
                ".status.replicas: Invalid value: 0: .status.replicas accessor error: two is of the type string, expected int64",
            ),
            (
                ".status.labelSelector",
                Invalid,
                r#".status.labelSelector: Invalid value: "": .status.labelSelector accessor error: 3 is of the type int64, expected string"#,
            ),
        ],
    );
}

#[test]
fn scale_through_the_served_version() {
    let v = crontab();
    let mut obj = json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab",
        "metadata": {"name": "c", "namespace": "ns"}, "spec": {"cronSpec": "* * * * *", "replicas": 2},
        "status": {"replicas": 2, "labelSelector": "app=c"}});
    let scale = v.scale(&obj).expect("has scale").expect("reads");
    assert_eq!(scale.spec.as_ref().and_then(|s| s.replicas), Some(2));
    let up = Scale {
        spec: Some(ScaleSpec { replicas: Some(4) }),
        ..Scale::default()
    };
    v.apply_scale(&mut obj, &up)
        .expect("has scale")
        .expect("applies");
    assert_eq!(obj["spec"]["replicas"], json!(4));
    check("scaled object valid", &v.validate_create(&obj), &[]);

    let plain = ServedVersion::new(&certificate_crd(), "v1").expect("served");
    assert!(plain.scale(&certificate()).is_none());
    assert!(ServedVersion::new(&certificate_crd(), "v2").is_err());
}

#[test]
fn unevaluated_cel_rules_are_listed() {
    let mut c = crontab_crd();
    let schema = c.spec.versions[0]
        .schema
        .as_mut()
        .and_then(|s| s.open_apiv3_schema.as_mut())
        .expect("schema");
    let spec = schema
        .properties
        .as_mut()
        .and_then(|p| p.get_mut("spec"))
        .expect("spec");
    spec.x_kubernetes_validations = Some(vec![
        serde_json::from_value(json!({"rule": "self.replicas <= 5"})).expect("rule"),
    ]);
    let v = ServedVersion::new(&c, "v1").expect("served");
    let obj = json!({"spec": {"cronSpec": "* * * * *"}});
    let rules = v.unevaluated_cel_rules(&obj);
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].field, "spec");
}

#[test]
fn metadata_is_pruned_to_object_meta() {
    use crate::crd::{coerce_embedded, decode_object_meta};
    let m = json!({"name": "n", "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u", "extra": 1}], "zzz": {}});
    let d = decode_object_meta(&m, false, "spec.template.metadata").expect("decodes");
    assert_eq!(
        d.unknown_fields,
        vec![
            "spec.template.metadata.ownerReferences[0].extra",
            "spec.template.metadata.zzz"
        ]
    );
    assert_eq!(
        d.value,
        json!({"name": "n", "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u"}]})
    );
    // omitempty drops a zero generation, not a zero pointer (deletionGracePeriodSeconds).
    let m = json!({"name": "n", "generation": 0, "deletionGracePeriodSeconds": 0,
        "deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["foregroundDeletion"]});
    let d = decode_object_meta(&m, false, "metadata").expect("decodes");
    assert_eq!(
        d.value,
        json!({"name": "n", "deletionGracePeriodSeconds": 0,
            "deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["foregroundDeletion"]})
    );
    assert_eq!(
        decode_object_meta(&json!("x"), true, "metadata").unwrap_err(),
        "invalid metadata: expected object, got string"
    );

    // Embedded resources under additionalProperties are addressed with [key].
    let s = super::schema(
        json!({"type": "object", "properties": {"spec": {"type": "object", "additionalProperties": {
        "type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}}}}),
    );
    let mut obj = json!({"spec": {"a": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "odd": 1}}}});
    assert_eq!(
        coerce_embedded(&mut obj, &s, false).expect("coerces"),
        vec!["spec[a].metadata.odd"]
    );
    assert_eq!(obj["spec"]["a"]["metadata"], json!({"name": "c"}));
    let mut bad =
        json!({"spec": {"a": {"apiVersion": "v1", "kind": ["x"], "metadata": {"labels": 1}}}});
    assert_eq!(
        coerce_embedded(&mut bad, &s, false).unwrap_err().message(),
        r#"spec[a].kind: Invalid value: []interface {}{"x"}: must be a string"#
    );
    coerce_embedded(&mut bad, &s, true).expect("dropped instead");
    assert_eq!(
        bad,
        json!({"spec": {"a": {"apiVersion": "v1", "metadata": {}}}})
    );
}
