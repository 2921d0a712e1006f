//! Defaulting (`schema/defaulting`): nulls the schema does not allow are dropped unless a
//! default will replace them, then `default` values are applied at every level — object
//! properties, array items and additionalProperties values — as Kubernetes does after
//! pruning, both on write and when reading from storage.

use serde_json::Value;

use super::MAX_VALUE_DEPTH;
use super::structural::{AdditionalProperties, Structural};

fn non_nullable_null(x: &Value, s: Option<&Structural>) -> bool {
    x.is_null() && s.is_some_and(|s| !s.generic.nullable)
}

fn field_schema<'a>(s: Option<&'a Structural>, k: &str) -> Option<&'a Structural> {
    s.and_then(|s| s.child(k))
}

/// `PruneNonNullableNullsWithoutDefaults`: removes object fields that are null although
/// their schema is not nullable and has no default (those with a default are left for
/// [`apply_defaults`]). Nulls inside arrays stay.
pub fn prune_non_nullable_nulls(x: &mut Value, s: Option<&Structural>) {
    prune_nulls(x, s, 0);
}

fn prune_nulls(x: &mut Value, s: Option<&Structural>, depth: usize) {
    if depth > MAX_VALUE_DEPTH {
        return;
    }
    match x {
        Value::Object(map) => {
            map.retain(|k, v| {
                let fs = field_schema(s, k);
                !(v.is_null()
                    && fs.is_some_and(|f| !f.generic.nullable && f.generic.default.is_none()))
            });
            for (k, v) in map.iter_mut() {
                prune_nulls(v, field_schema(s, k), depth + 1);
            }
        }
        Value::Array(items) => {
            let is = s.and_then(|s| s.items.as_deref());
            for v in items {
                prune_nulls(v, is, depth + 1);
            }
        }
        _ => {}
    }
}

/// `Default`: fills in missing (or non-nullable null) fields from `default`, then
/// descends into properties, additionalProperties values and array items. Defaults are
/// copied as they are; they were validated and pruned when the CRD was admitted.
pub fn apply_defaults(x: &mut Value, s: Option<&Structural>) {
    apply(x, s, 0);
}

fn apply(x: &mut Value, s: Option<&Structural>, depth: usize) {
    let Some(s) = s else { return };
    if depth > MAX_VALUE_DEPTH {
        return;
    }
    match x {
        Value::Object(map) => {
            for (k, prop) in &s.properties {
                let Some(d) = &prop.generic.default else {
                    continue;
                };
                let missing = match map.get(k) {
                    None => true,
                    Some(v) => non_nullable_null(v, Some(prop)),
                };
                if missing {
                    map.insert(k.clone(), d.clone());
                }
            }
            let ap = s
                .additional_properties
                .as_ref()
                .map(AdditionalProperties::schema);
            for (k, v) in map.iter_mut() {
                if let Some(p) = s.properties.get(k) {
                    apply(v, Some(p), depth + 1);
                } else if let Some(aps) = ap {
                    if non_nullable_null(v, aps)
                        && let Some(d) = aps.and_then(|a| a.generic.default.as_ref())
                    {
                        *v = d.clone();
                    }
                    apply(v, aps, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            let is = s.items.as_deref();
            for v in items {
                if non_nullable_null(v, is)
                    && let Some(d) = is.and_then(|i| i.generic.default.as_ref())
                {
                    *v = d.clone();
                }
                apply(v, is, depth + 1);
            }
        }
        _ => {}
    }
}
