//! Property tests: no patch document, however odd, panics; every error is one of the
//! four classes; a successful merge patch or strategic merge patch yields an object.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::{DEPLOYMENT, POD, deployment, pod};
use crate::patch::{PatchType, json_patch, merge_patch, strategic_merge};

/// Keys that reach the interesting code: real fields, merge keys and directives.
const KEYS: &[&str] = &[
    "metadata",
    "spec",
    "template",
    "containers",
    "name",
    "image",
    "env",
    "value",
    "ports",
    "containerPort",
    "labels",
    "finalizers",
    "ownerReferences",
    "uid",
    "volumes",
    "strategy",
    "rollingUpdate",
    "type",
    "tolerations",
    "$patch",
    "$retainKeys",
    "$setElementOrder/containers",
    "$setElementOrder/finalizers",
    "$setElementOrder/env",
    "$setElementOrder",
    "$deleteFromPrimitiveList/finalizers",
    "$deleteFromPrimitiveList/containers",
    "$deleteFromPrimitiveList",
];

const STRINGS: &[&str] = &[
    "app",
    "sidecar",
    "MODE",
    "replace",
    "delete",
    "merge",
    "example.com/a",
    "example.com/b",
    "Recreate",
    "",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..500).prop_map(|n| json!(n)),
        Just(json!(1.5)),
        prop::sample::select(STRINGS).prop_map(|s| json!(s)),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(6, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..5).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

const PATHS: &[&str] = &[
    "",
    "/",
    "/metadata/labels/x",
    "/metadata/labels/app",
    "/metadata/finalizers/-1",
    "/metadata/finalizers/0",
    "/metadata/finalizers/-",
    "/metadata/finalizers/9",
    "/spec/containers/0/image",
    "/spec/containers/-",
    "/spec/containers/1",
    "/spec/containers/01",
    "/spec/containers/x",
    "/spec/nodeSelector",
    "/spec",
    "/spec/volumes/0/emptyDir/a",
    "metadata",
    "/a~1b/~0",
];

fn op() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(&["add", "remove", "replace", "move", "copy", "test", "bogus"][..]),
        prop::sample::select(PATHS),
        prop::sample::select(PATHS),
        prop::option::of(value()),
    )
        .prop_map(|(op, path, from, value)| {
            let mut m = Map::new();
            m.insert("op".into(), json!(op));
            m.insert("path".into(), json!(path));
            m.insert("from".into(), json!(from));
            if let Some(v) = value {
                m.insert("value".into(), v);
            }
            Value::Object(m)
        })
}

fn check_error(e: &crate::patch::PatchError) {
    assert!(matches!(e.code(), 400 | 413 | 422 | 500), "{e:?}");
    assert!(!e.detail().is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn strategic_merge_never_panics(patch in value()) {
        for (original, definition) in [(pod(), POD), (deployment(), DEPLOYMENT)] {
            match strategic_merge(&original, &json!({"metadata": patch.clone(), "spec": patch.clone()}), definition) {
                Ok(v) => prop_assert!(v.is_object()),
                Err(e) => check_error(&e),
            }
            match strategic_merge(&original, &patch, definition) {
                Ok(v) => prop_assert!(v.is_object()),
                Err(e) => check_error(&e),
            }
        }
    }

    #[test]
    fn strategic_merge_of_nested_containers_never_panics(items in prop::collection::vec(value(), 0..4)) {
        let patch = json!({"spec": {"template": {"spec": {"containers": items.clone(), "$setElementOrder/containers": items}}}});
        match strategic_merge(&deployment(), &patch, DEPLOYMENT) {
            Ok(v) => prop_assert!(v.is_object()),
            Err(e) => check_error(&e),
        }
    }

    #[test]
    fn merge_patch_never_panics(patch in value()) {
        match merge_patch(&pod(), &patch) {
            Ok(v) => prop_assert!(v.is_object()),
            Err(e) => {
                check_error(&e);
                prop_assert!(!patch.is_object());
            }
        }
    }

    #[test]
    fn json_patch_never_panics(ops in prop::collection::vec(op(), 0..8)) {
        if let Err(e) = json_patch(&pod(), &Value::Array(ops)) {
            check_error(&e);
        }
    }

    #[test]
    fn json_patch_of_any_document_never_panics(patch in value()) {
        if let Err(e) = json_patch(&pod(), &patch) {
            check_error(&e);
        }
    }

    #[test]
    fn decoding_any_body_never_panics(body in prop::collection::vec(any::<u8>(), 0..64)) {
        for t in [PatchType::Json, PatchType::Merge, PatchType::StrategicMerge] {
            if let Ok(patch) = t.decode(&body)
                && let Err(e) = t.apply(&pod(), &patch, POD)
            {
                check_error(&e);
            }
        }
    }
}
