//! `x-kubernetes-list-type: set` and `map` uniqueness (`schema/listtype`): every element
//! of a set, and every key tuple of a map-list, appears once. Duplicates are reported at
//! their first repeated index as `FieldValueDuplicate`.

use serde_json::{Map, Value};

use super::gofmt::error_value;
use super::structural::{AdditionalProperties, Structural};
use crate::admission::field::{ErrorList, FieldError, Path, Raw};

/// `ValidateListSetsAndMaps` from the object root.
pub fn validate_list_sets_and_maps(s: &Structural, obj: &Value) -> ErrorList {
    match obj {
        Value::Object(map) => object(None, s, map),
        _ => Vec::new(),
    }
}

fn child(path: Option<&Path>, name: &str) -> Path {
    match path {
        Some(p) => p.child(name),
        None => Path::new(name),
    }
}

fn key(path: Option<&Path>, k: &str) -> Path {
    match path {
        Some(p) => p.key(k),
        None => Path::new(&format!("[{k}]")),
    }
}

fn index(path: Option<&Path>, i: usize) -> Path {
    match path {
        Some(p) => p.index(i),
        None => Path::new(&format!("[{i}]")),
    }
}

fn object(path: Option<&Path>, s: &Structural, map: &Map<String, Value>) -> ErrorList {
    let mut errs = Vec::new();
    if let Some(ap) = s
        .additional_properties
        .as_ref()
        .and_then(AdditionalProperties::schema)
    {
        for (k, v) in map {
            errs.extend(value(&key(path, k), ap, v));
        }
    }
    for (k, v) in map {
        if let Some(sub) = s.properties.get(k) {
            errs.extend(value(&child(path, k), sub, v));
        }
    }
    errs
}

fn value(path: &Path, s: &Structural, v: &Value) -> ErrorList {
    match v {
        Value::Array(items) => array(path, s, items),
        Value::Object(map) => object(Some(path), s, map),
        _ => Vec::new(),
    }
}

fn array(path: &Path, s: &Structural, items: &[Value]) -> ErrorList {
    let mut errs = Vec::new();
    match s.extensions.list_type.as_deref() {
        Some("set") => {
            let keys: Vec<String> = items.iter().map(SetKey::of).collect();
            for i in first_repeats(&keys) {
                errs.push(FieldError::duplicate(
                    &path.index(i),
                    Raw(error_value(&items[i])),
                ));
            }
        }
        Some("map") => errs.extend(list_map(path, s, items)),
        _ => {}
    }
    if let Some(is) = &s.items {
        for (i, x) in items.iter().enumerate() {
            errs.extend(value(&index(Some(path), i), is, x));
        }
    }
    errs
}

/// How `validateListSet` compares elements, as a hashable text: scalars by Go value
/// (`1` and `1.0` differ: an int64 and a float64), compound values by their JSON text
/// as Go writes it (where they do not), and a missing map key only equal to another.
struct SetKey;

impl SetKey {
    const UNSPECIFIED: &'static str = "u";

    fn of(v: &Value) -> String {
        match v {
            Value::Object(_) | Value::Array(_) => {
                let j: clipper_proto::JsonValue = v.clone().into();
                format!("c{}", serde_json::to_string(&j).unwrap_or_default())
            }
            Value::Number(n) => match super::gofmt::go_num(n) {
                super::gofmt::GoNum::Int(i) => format!("i{i}"),
                super::gofmt::GoNum::Float(f) => format!("f{:?}", f.to_bits()),
            },
            other => format!("s{other}"),
        }
    }
}

/// The indices where an element is seen for the second time (each value reported once).
fn first_repeats(items: &[String]) -> Vec<usize> {
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut out = Vec::new();
    for (i, k) in items.iter().enumerate() {
        let n = seen.entry(k.as_str()).or_insert(0);
        *n += 1;
        if *n == 2 {
            out.push(i);
        }
    }
    out
}

fn list_map(path: &Path, s: &Structural, items: &[Value]) -> ErrorList {
    for (i, x) in items.iter().enumerate() {
        if !x.is_null() && !x.is_object() {
            return vec![FieldError::invalid(
                &path.index(i),
                Raw(error_value(x)),
                "must be an object for an array of list-type map",
            )];
        }
    }
    if items.len() <= 1 {
        return Vec::new();
    }
    let keys = &s.extensions.list_map_keys;
    // The key tuple of each element, as the map Kubernetes prints in the error.
    let tuples: Vec<Map<String, Value>> = items
        .iter()
        .map(|x| {
            let mut m = Map::new();
            if let Some(obj) = x.as_object() {
                for k in keys {
                    if let Some(v) = obj.get(k) {
                        m.insert(k.clone(), v.clone());
                    }
                }
            }
            m
        })
        .collect();
    let set_keys: Vec<String> = if keys.len() == 1 {
        tuples
            .iter()
            .map(|m| {
                m.get(&keys[0])
                    .map_or_else(|| SetKey::UNSPECIFIED.to_string(), SetKey::of)
            })
            .collect()
    } else {
        tuples
            .iter()
            .map(|m| SetKey::of(&Value::Object(m.clone())))
            .collect()
    };
    first_repeats(&set_keys)
        .into_iter()
        .map(|i| {
            FieldError::duplicate(
                &path.index(i),
                Raw(error_value(&Value::Object(tuples[i].clone()))),
            )
        })
        .collect()
}
