//! Property tests: no configuration, object or FieldsV1 document panics; applying the
//! same configuration twice changes nothing; field sets survive FieldsV1 both ways.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::t;
use crate::apply::{
    BuiltinSchema, FieldManager, FieldSet, Path, PathElement, SchemaLookup, Untyped,
};

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..300).prop_map(Value::from),
        (-2.0f64..2.0).prop_map(|f| json!(f)),
        "[a-z]{0,3}".prop_map(Value::String),
    ]
}

/// Keys drawn from names the Deployment schema knows, so that configurations reach deep.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("spec".to_string()),
        Just("template".to_string()),
        Just("containers".to_string()),
        Just("name".to_string()),
        Just("ports".to_string()),
        Just("containerPort".to_string()),
        Just("protocol".to_string()),
        Just("args".to_string()),
        Just("replicas".to_string()),
        Just("metadata".to_string()),
        Just("labels".to_string()),
        Just("finalizers".to_string()),
        Just("selector".to_string()),
        "[a-z]{1,2}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(5, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

fn config(body: Value) -> Value {
    let mut c = match body {
        Value::Object(m) => Value::Object(m),
        other => json!({"spec": other}),
    };
    c["apiVersion"] = json!("apps/v1");
    c["kind"] = json!("Deployment");
    if !c.get("metadata").is_some_and(Value::is_object) {
        c["metadata"] = json!({});
    }
    c["metadata"]["name"] = json!("web");
    if let Some(m) = c["metadata"].as_object_mut() {
        m.remove("managedFields");
        m.remove("uid");
        m.remove("resourceVersion");
    }
    c
}

fn live() -> Value {
    let d = super::deployment(3, "nginx:1.27");
    FieldManager::new(&BuiltinSchema)
        .apply(None, &d, "owner", false, t(0))
        .unwrap_or(d)
}

/// Values in keys: floats with few digits, which serde_json parses back exactly (it
/// does not promise that for every float without its `float_roundtrip` feature).
fn key_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        (-3i64..300).prop_map(Value::from),
        (-8i32..8).prop_map(|q| json!(f64::from(q) / 4.0)),
        "[a-z<\"]{0,3}".prop_map(Value::String),
    ]
}

fn path_element() -> impl Strategy<Value = PathElement> {
    prop_oneof![
        "[a-z<&]{1,3}".prop_map(PathElement::Field),
        key_value().prop_map(PathElement::Value),
        (0usize..20).prop_map(PathElement::Index),
        prop::collection::vec(("[a-z]{1,2}", key_value()), 1..3).prop_map(PathElement::key),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_configuration_panics(body in value(), force in any::<bool>()) {
        let cfg = config(body);
        let live = live();
        for schema in [&BuiltinSchema as &dyn SchemaLookup, &Untyped] {
            let fm = FieldManager::new(schema);
            let _ = fm.apply(None, &cfg, "m", force, t(1));
            if let Ok(out) = fm.apply(Some(&live), &cfg, "m", force, t(1)) {
                // Applying the same configuration again changes nothing.
                let again = fm.apply(Some(&out), &cfg, "m", false, t(2));
                prop_assert_eq!(again.ok(), Some(out.clone()));
            }
            let mut new = cfg.clone();
            fm.update(Some(&live), &mut new, "w", t(1));
            let mut created = cfg.clone();
            fm.update(None, &mut created, "w", t(1));
        }
    }

    #[test]
    fn no_object_panics(body in value()) {
        let obj = config(body);
        let _ = FieldManager::new(&BuiltinSchema).apply(Some(&obj), &super::deployment(1, "x"), "m", true, t(1));
        let _ = FieldManager::new(&Untyped).apply(Some(&obj), &config(json!({"spec": {"a": 1}})), "m", true, t(1));
    }

    #[test]
    fn no_fields_v1_panics(v in value()) {
        let _ = FieldSet::from_fields_v1(&v);
        let mut obj = live();
        obj["metadata"]["managedFields"] = json!([{"manager": "x", "operation": "Update", "apiVersion": "apps/v1", "fieldsType": "FieldsV1", "fieldsV1": v}]);
        let _ = FieldManager::new(&BuiltinSchema).apply(Some(&obj), &super::deployment(1, "x"), "m", false, t(1));
    }

    #[test]
    fn field_sets_round_trip(paths in prop::collection::vec(prop::collection::vec(path_element(), 1..4), 0..8)) {
        let paths: Vec<Path> = paths.into_iter().map(Path).collect();
        let set = FieldSet::from_paths(&paths);
        prop_assert_eq!(FieldSet::from_json(&set.to_json()).unwrap(), set.clone());
        prop_assert_eq!(FieldSet::from_fields_v1(&set.to_fields_v1()).unwrap(), set.clone());
        for p in &paths {
            prop_assert!(set.has(&p.0));
        }
        prop_assert_eq!(set.len(), set.paths().len());
    }
}

/// The deepest configuration the decoder lets through applies and records on an ordinary
/// test thread's stack; a deeper one is refused before any recursion.
#[test]
fn depth_is_bounded() {
    let nested = |levels: usize| {
        let mut v = json!("leaf");
        for _ in 0..levels {
            v = json!({"k": v});
        }
        json!({"apiVersion": "example.com/v1", "kind": "Deep", "metadata": {"name": "d"}, "spec": v})
    };
    let deep = nested(crate::apply::MAX_FIELD_DEPTH - 1);
    let fm = FieldManager::new(&Untyped);
    let out = fm.apply(None, &deep, "m", false, t(1)).unwrap();
    let again = fm.apply(Some(&out), &nested(3), "m", false, t(2)).unwrap();
    assert_eq!(again["spec"], nested(3)["spec"]);
    let mut updated = deep.clone();
    fm.try_update(Some(&out), &mut updated, "w", t(3)).unwrap();
    // The object with its managedFields still fits the decoder.
    let text = serde_json::to_string(&updated).unwrap();
    assert!(serde_json::from_str::<clipper_proto::JsonValue>(&text).is_ok());
    let too_deep = nested(crate::apply::MAX_FIELD_DEPTH);
    assert_eq!(
        fm.apply(None, &too_deep, "m", false, t(1))
            .unwrap_err()
            .code(),
        400
    );
    assert_eq!(
        fm.try_update(None, &mut too_deep.clone(), "w", t(1))
            .unwrap_err()
            .code(),
        400
    );
}
