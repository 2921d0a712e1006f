//! Status and scale subresource helpers.

use clipper_proto::api::apiextensions::v1::CustomResourceSubresourceScale;
use clipper_proto::api::autoscaling::v1::{Scale, ScaleSpec};
use serde_json::json;

use super::check;
use crate::admission::field::ErrorType::*;
use crate::crd::subresources::*;

fn cfg() -> CustomResourceSubresourceScale {
    CustomResourceSubresourceScale {
        spec_replicas_path: ".spec.replicas".into(),
        status_replicas_path: ".status.replicas".into(),
        label_selector_path: Some(".status.labelSelector".into()),
    }
}

fn cr() -> serde_json::Value {
    json!({
        "apiVersion": "stable.example.com/v1", "kind": "CronTab",
        "metadata": {"name": "c", "namespace": "ns", "uid": "u-1", "resourceVersion": "42",
            "creationTimestamp": "2024-01-02T03:04:05Z", "generation": 3},
        "spec": {"replicas": 3, "image": "i"},
        "status": {"replicas": 2, "labelSelector": "app=c"}
    })
}

#[test]
fn scale_is_read_from_the_paths() {
    let (scale, found) = scale_from_custom_resource(&cr(), &cfg()).expect("scale");
    assert!(found);
    assert_eq!(
        serde_json::to_value(&scale).expect("json"),
        json!({
            "apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {"name": "c", "namespace": "ns", "uid": "u-1", "resourceVersion": "42",
                "creationTimestamp": "2024-01-02T03:04:05Z"},
            "spec": {"replicas": 3},
            "status": {"replicas": 2, "selector": "app=c"}
        })
    );
    let mut bare = cr();
    bare["spec"] = json!({});
    bare["status"] = json!({});
    let (scale, found) = scale_from_custom_resource(&bare, &cfg()).expect("scale");
    assert!(!found);
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(0));
    assert_eq!(
        scale.status.map(|s| (s.replicas, s.selector)),
        Some((0, None))
    );
    let update = scale_for_update(&bare, &cfg()).expect("scale");
    assert_eq!(update.spec.and_then(|s| s.replicas), None);
}

#[test]
fn scale_read_errors() {
    let mut bad = cr();
    bad["spec"]["replicas"] = json!("three");
    assert_eq!(
        scale_from_custom_resource(&bad, &cfg()).unwrap_err(),
        ScaleError::Accessor(
            ".spec.replicas accessor error: three is of the type string, expected int64".into()
        )
    );
    let mut bad = cr();
    bad["status"] = json!([1]);
    assert_eq!(
        scale_from_custom_resource(&bad, &cfg())
            .unwrap_err()
            .to_string(),
        ".status.replicas accessor error: [1] is of the type []interface {}, expected map[string]interface{}"
    );
}

#[test]
fn scale_is_applied_to_the_spec_path() {
    let mut obj = cr();
    let mut scale = Scale {
        spec: Some(ScaleSpec { replicas: Some(5) }),
        ..Scale::default()
    };
    scale.metadata.resource_version = Some("43".into());
    apply_scale(&mut obj, &cfg(), &scale).expect("applied");
    assert_eq!(obj["spec"]["replicas"], json!(5));
    assert_eq!(obj["metadata"]["resourceVersion"], json!("43"));
    assert_eq!(obj["status"]["replicas"], json!(2), "status untouched");

    let mut missing = json!({"metadata": {"name": "c"}});
    apply_scale(&mut missing, &cfg(), &scale).expect("path created");
    assert_eq!(missing["spec"], json!({"replicas": 5}));

    let empty = Scale {
        spec: Some(ScaleSpec { replicas: None }),
        ..Scale::default()
    };
    assert_eq!(
        apply_scale(&mut cr(), &cfg(), &empty).unwrap_err(),
        ScaleError::EmptySpecReplicas(
            r#"the spec replicas field ".spec.replicas" cannot be empty"#.into()
        )
    );
    let mut blocked = json!({"spec": "not an object"});
    assert_eq!(
        apply_scale(&mut blocked, &cfg(), &scale).unwrap_err(),
        ScaleError::CannotSet(
            "value cannot be set because .spec is not a map[string]interface{}".into()
        )
    );
}

#[test]
fn scale_paths_are_validated() {
    let mut obj = cr();
    obj["spec"]["replicas"] = json!(-1);
    obj["status"]["replicas"] = json!(3_000_000_000i64);
    obj["status"]["labelSelector"] = json!(7);
    let mut errs = validate_scale_spec(&obj, &cfg());
    errs.extend(validate_scale_status(&obj, &cfg()));
    check(
        "scale paths",
        &errs,
        &[
            (
                ".spec.replicas",
                Invalid,
                ".spec.replicas: Invalid value: -1: should be a non-negative integer",
            ),
            (
                ".status.replicas",
                Invalid,
                ".status.replicas: Invalid value: 3000000000: should be less than or equal to 2147483647",
            ),
            (
                ".status.labelSelector",
                Invalid,
                r#".status.labelSelector: Invalid value: "": .status.labelSelector accessor error: 7 is of the type int64, expected string"#,
            ),
        ],
    );
    obj["spec"]["replicas"] = json!(1.5);
    check(
        "float replicas",
        &validate_scale_spec(&obj, &cfg()),
        &[(
            ".spec.replicas",
            Invalid,
            ".spec.replicas: Invalid value: 0: .spec.replicas accessor error: 1.5 is of the type float64, expected int64",
        )],
    );
    check("valid", &validate_scale_spec(&cr(), &cfg()), &[]);
}

#[test]
fn status_subresource_splits_writes() {
    // Create: the client's status is dropped, generation starts at 1.
    let mut obj = cr();
    prepare_for_create(&mut obj, true);
    assert!(obj.get("status").is_none());
    assert_eq!(obj["metadata"]["generation"], json!(1));
    let mut no_sub = cr();
    prepare_for_create(&mut no_sub, false);
    assert_eq!(no_sub["status"]["replicas"], json!(2));

    // Main-resource update: status comes from the old object; a spec change bumps generation.
    let old = cr();
    let mut new = cr();
    new["spec"]["image"] = json!("j");
    new["status"] = json!({"replicas": 99});
    prepare_for_update(&mut new, &old, true);
    assert_eq!(new["status"], old["status"]);
    assert_eq!(new["metadata"]["generation"], json!(4));

    // A metadata-only change does not bump generation; a status-only change is ignored.
    let mut meta_only = cr();
    meta_only["metadata"]["labels"] = json!({"a": "b"});
    meta_only["status"] = json!({"replicas": 5});
    prepare_for_update(&mut meta_only, &old, true);
    assert_eq!(meta_only["metadata"]["generation"], json!(3));
    assert_eq!(meta_only["status"], old["status"]);

    // Without the subresource, status is part of the object and its change bumps generation.
    let mut plain = cr();
    plain["status"] = json!({"replicas": 5});
    prepare_for_update(&mut plain, &old, false);
    assert_eq!(plain["status"], json!({"replicas": 5}));
    assert_eq!(plain["metadata"]["generation"], json!(4));

    // Status update: only status (and managed fields) change.
    let mut st = cr();
    st["spec"]["image"] = json!("ignored");
    st["metadata"]["labels"] = json!({"ignored": "yes"});
    st["metadata"]["managedFields"] = json!([{"manager": "m", "operation": "Update"}]);
    st["status"] = json!({"replicas": 7});
    prepare_for_status_update(&mut st, &old);
    let mut want = old.clone();
    want["status"] = json!({"replicas": 7});
    want["metadata"]["managedFields"] = json!([{"manager": "m", "operation": "Update"}]);
    assert_eq!(st, want);
    let mut cleared = cr();
    cleared.as_object_mut().expect("object").remove("status");
    prepare_for_status_update(&mut cleared, &old);
    assert!(cleared.get("status").is_none());
}
