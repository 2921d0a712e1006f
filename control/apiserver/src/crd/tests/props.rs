//! Property tests: arbitrary JSON never panics validation, pruning, defaulting or the
//! other walks, and pruning is idempotent.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::{certificate_schema, crontab_crd, schema};
use crate::crd::{
    DecodeOptions, ServedVersion, apply_defaults, cel_rules_not_evaluated, prune,
    prune_non_nullable_nulls, validate_embedded, validate_list_sets_and_maps, validate_value,
    validate_value_update,
};

/// Keys that hit the schemas' properties often, plus free ones.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("spec".to_string()),
        Just("status".to_string()),
        Just("metadata".to_string()),
        Just("kind".to_string()),
        Just("apiVersion".to_string()),
        Just("replicas".to_string()),
        Just("conditions".to_string()),
        Just("type".to_string()),
        Just("dnsNames".to_string()),
        Just("subjectAltNames".to_string()),
        Just("podTemplate".to_string()),
        Just("port".to_string()),
        Just("secretTemplate".to_string()),
        Just("labels".to_string()),
        "[a-z]{1,6}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_never_panics(v in json_value(), old in json_value()) {
        let s = schema(certificate_schema());
        let _ = validate_value(&s, &v, None);
        let _ = validate_value_update(&s, &v, &old, None);
        let _ = validate_list_sets_and_maps(&s, &v);
        let _ = validate_embedded(&s, &v);
        let _ = cel_rules_not_evaluated(&s, &v);
        let mut p = v.clone();
        prune(&mut p, Some(&s), true);
        let mut again = p.clone();
        prop_assert!(prune(&mut again, Some(&s), true).is_empty(), "pruning is idempotent");
        prop_assert_eq!(&again, &p);
        prune_non_nullable_nulls(&mut p, Some(&s));
        apply_defaults(&mut p, Some(&s));
        let served = ServedVersion::new(&crontab_crd(), "v1").expect("served");
        for opts in [DecodeOptions::REQUEST, DecodeOptions::STORAGE] {
            let mut d = v.clone();
            if let Value::Object(m) = &mut d {
                m.insert("apiVersion".into(), json!("stable.example.com/v1"));
                m.insert("kind".into(), json!("CronTab"));
            }
            if served.decode(&mut d, opts).is_ok() {
                let _ = served.validate_create(&d);
                let _ = served.validate_update(&d, &old);
                let _ = served.validate_status_update(&d, &old);
                let _ = served.scale(&d);
            }
        }
    }
}

#[test]
fn very_deep_values_do_not_overflow_the_stack() {
    // Deeper than any decoded request, through a schema-less part of the object.
    let s = schema(
        json!({"type": "object", "properties": {"spec": {"type": "object", "additionalProperties": true}}}),
    );
    let mut deep = json!("leaf");
    for _ in 0..(crate::crd::MAX_VALUE_DEPTH * 2) {
        deep = Value::Array(vec![deep]);
    }
    let mut obj = json!({"spec": {"free": deep}});
    let _ = prune(&mut obj, Some(&s), true);
    prune_non_nullable_nulls(&mut obj, Some(&s));
    apply_defaults(&mut obj, Some(&s));
    assert!(validate_value(&s, &obj, None).is_empty());
    // Dismantle iteratively: the recursive Drop of serde_json would be the deepest walk.
    let mut cur = obj;
    loop {
        cur = match cur {
            Value::Array(mut a) if !a.is_empty() => a.swap_remove(0),
            Value::Object(mut m) => match m.keys().next().cloned() {
                Some(k) => m.remove(&k).unwrap_or(Value::Null),
                None => break,
            },
            _ => break,
        };
    }
}
