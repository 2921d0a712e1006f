//! The JSON normalisation shared by the corpus and protobuf tests: what Kubernetes itself
//! canonicalises (quantities, times, numbers by value, nulls in typed fields, the
//! apiVersion/kind of embedded resources), and a first-difference finder.

use std::collections::BTreeSet;

use clipper_proto::codec;
use clipper_proto::schema::{FieldType, schema};
use clipper_proto::{MicroTime, Quantity, Time};
use serde_json::Value;

/// Canonicalises `v` in place, following the schema type `ty`.
fn canonicalize(v: &mut Value, ty: &FieldType) {
    match (ty, v) {
        (FieldType::Ref(name), v) => canonicalize_def(v, name),
        (FieldType::Array(item), Value::Array(items)) => {
            for i in items {
                canonicalize(i, &item.ty);
            }
        }
        (FieldType::Map(item), Value::Object(m)) => {
            for i in m.values_mut() {
                canonicalize(i, &item.ty);
            }
        }
        (_, v) => numbers(v),
    }
}

fn canonicalize_def(v: &mut Value, def_name: &str) {
    let render = |s: Result<String, String>| s.map(Value::String);
    let special = match def_name {
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => Some(match &*v {
            Value::String(s) => render(
                Quantity::parse(s)
                    .map(|q| q.to_string())
                    .map_err(|e| e.to_string()),
            ),
            Value::Number(n) => render(
                Quantity::parse(&n.to_string())
                    .map(|q| q.to_string())
                    .map_err(|e| e.to_string()),
            ),
            _ => Err("quantity is neither string nor number".into()),
        }),
        "io.k8s.apimachinery.pkg.apis.meta.v1.Time" => Some(render(
            v.as_str()
                .ok_or("time is not a string".to_string())
                .and_then(Time::parse)
                .map(|t| t.to_string()),
        )),
        "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime" => Some(render(
            v.as_str()
                .ok_or("time is not a string".to_string())
                .and_then(MicroTime::parse)
                .map(|t| t.to_string()),
        )),
        _ => None,
    };
    if let Some(result) = special {
        match result {
            Ok(c) => *v = c,
            Err(e) => panic!("corpus value {v} is not valid for {def_name}: {e}"),
        }
        return;
    }
    let Some(def) = schema().definition(def_name) else {
        return numbers(v);
    };
    match v {
        Value::Object(m) if def.scalar.is_none() => {
            // An explicit null in a typed field means "unset": Kubernetes and both typed
            // decoders drop it.
            m.retain(|k, val| {
                !(val.is_null()
                    && def
                        .properties
                        .get(k)
                        .is_some_and(|f| f.ty != FieldType::Any))
            });
            // An embedded resource (a StatefulSet's volumeClaimTemplates) gets its own
            // apiVersion and kind from both typed decoders; absent ones are filled in.
            if let [(group, version, kind)] = def.group_version_kinds.as_slice() {
                let api_version = if group.is_empty() {
                    version.clone()
                } else {
                    format!("{group}/{version}")
                };
                m.entry("apiVersion").or_insert(Value::String(api_version));
                m.entry("kind").or_insert(Value::String(kind.clone()));
            }
            for (k, val) in m.iter_mut() {
                match def.properties.get(k) {
                    Some(f) => canonicalize(val, &f.ty),
                    None => numbers(val),
                }
            }
        }
        v => numbers(v),
    }
}

/// Numbers become floats, so that `5` and `5.0` compare equal.
fn numbers(v: &mut Value) {
    match v {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().and_then(serde_json::Number::from_f64) {
                *v = Value::Number(f);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(numbers),
        Value::Object(m) => m.values_mut().for_each(numbers),
        _ => {}
    }
}

pub fn normalized(doc: &Value) -> Value {
    let mut v = doc.clone();
    let (av, kind) = codec::type_meta(doc);
    match av
        .zip(kind)
        .and_then(|(a, k)| schema().definition_for_kind(a, k))
    {
        Some(def) => canonicalize_def(&mut v, &def.name.clone()),
        None => numbers(&mut v),
    }
    v
}

/// The first difference between two JSON values, as a path and both sides.
pub fn diff(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => diff(p, q, &format!("{path}.{k}")),
                (p, q) => Some(format!("{path}.{k}: {p:?} vs {q:?}")),
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| diff(p, q, &format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{path}: {a} vs {b}")),
    }
}
