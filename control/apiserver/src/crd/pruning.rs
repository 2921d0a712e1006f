//! Pruning (`schema/pruning`): fields the schema does not specify are removed, except
//! under `x-kubernetes-preserve-unknown-fields: true` and for the `apiVersion`, `kind`
//! and `metadata` of the object and of embedded resources (metadata is pruned to
//! ObjectMeta separately, see `objectmeta`). The removed paths are returned sorted, as
//! the API server reports them (`unknown field "spec.foo"`).

use serde_json::Value;

use super::MAX_VALUE_DEPTH;
use super::structural::Structural;

const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// Removes unknown fields from `obj`; `is_resource_root` treats the top level as a
/// resource (its type and object metadata are kept). Returns the pruned paths, sorted,
/// in Kubernetes' notation (`spec.items[0].foo`, map keys as `.key`).
///
/// Values nested deeper than [`MAX_VALUE_DEPTH`] (which no decoded request reaches) are
/// left as they are.
pub fn prune(obj: &mut Value, s: Option<&Structural>, is_resource_root: bool) -> Vec<String> {
    let mut out = Vec::new();
    walk(obj, s, is_resource_root, String::new(), false, 0, &mut out);
    out.sort();
    out
}

fn append_key(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}.{k}")
    }
}

fn walk(
    x: &mut Value,
    s: Option<&Structural>,
    force_embedded: bool,
    path: String,
    skip: bool,
    depth: usize,
    out: &mut Vec<String>,
) {
    if depth > MAX_VALUE_DEPTH {
        return;
    }
    if skip {
        return skip_prune(x, s, force_embedded, path, depth, out);
    }
    if s.is_some_and(|s| s.extensions.preserve_unknown_fields) {
        return skip_prune(x, s, force_embedded, path, depth, out);
    }
    match x {
        Value::Object(map) => {
            let Some(s) = s else {
                if !force_embedded {
                    for k in map.keys() {
                        out.push(append_key(&path, k));
                    }
                    map.clear();
                    return;
                }
                // A resource root without a schema keeps only its type and metadata.
                let keys: Vec<String> = map.keys().cloned().collect();
                for k in keys {
                    if !META_FIELDS.contains(&k.as_str()) {
                        out.push(append_key(&path, &k));
                        map.remove(&k);
                    }
                }
                return;
            };
            let embedded = force_embedded || s.extensions.embedded_resource;
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                if embedded && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                let Some(v) = map.get_mut(&k) else { continue };
                if let Some(p) = s.properties.get(&k) {
                    walk(
                        v,
                        Some(p),
                        false,
                        append_key(&path, &k),
                        false,
                        depth + 1,
                        out,
                    );
                } else if let Some(ap) = &s.additional_properties {
                    let aps = ap.schema();
                    walk(v, aps, false, append_key(&path, &k), false, depth + 1, out);
                } else {
                    if !META_FIELDS.contains(&k.as_str()) || !path.is_empty() {
                        out.push(append_key(&path, &k));
                    }
                    map.remove(&k);
                }
            }
        }
        Value::Array(items) => {
            let item_schema = s.and_then(|s| s.items.as_deref());
            for (i, v) in items.iter_mut().enumerate() {
                walk(
                    v,
                    item_schema,
                    false,
                    format!("{path}[{i}]"),
                    false,
                    depth + 1,
                    out,
                );
            }
        }
        _ => {}
    }
}

/// `skipPrune`: a preserve-unknown-fields node keeps its unknown fields but still prunes
/// below the properties (and additionalProperties) it specifies; its array items are
/// treated the same way.
fn skip_prune(
    x: &mut Value,
    s: Option<&Structural>,
    force_embedded: bool,
    path: String,
    depth: usize,
    out: &mut Vec<String>,
) {
    let Some(s) = s else { return };
    match x {
        Value::Object(map) => {
            let embedded = force_embedded || s.extensions.embedded_resource;
            for (k, v) in map.iter_mut() {
                if embedded && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                if let Some(p) = s.properties.get(k) {
                    walk(
                        v,
                        Some(p),
                        false,
                        append_key(&path, k),
                        false,
                        depth + 1,
                        out,
                    );
                } else if let Some(ap) = &s.additional_properties {
                    let aps = ap.schema();
                    walk(v, aps, false, append_key(&path, k), false, depth + 1, out);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                walk(
                    v,
                    s.items.as_deref(),
                    false,
                    format!("{path}[{i}]"),
                    true,
                    depth + 1,
                    out,
                );
            }
        }
        _ => {}
    }
}
