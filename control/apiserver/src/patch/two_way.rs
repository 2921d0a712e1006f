//! The client side of strategic merge patch: the patch that turns one object into
//! another (apimachinery `CreateTwoWayMergePatch`, as `kubectl edit`, `set image` and
//! `set env` compute it), with `$setElementOrder` lists, `$patch: delete` items,
//! `$deleteFromPrimitiveList` lists, `$retainKeys` for fields with that strategy, and
//! `null` for removed members. The server only applies patches; this is for clients.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use clipper_proto::schema::schema;

use super::strategic::{
    DELETE_FROM_PRIMITIVE_LIST, DIRECTIVE, Meta, Node, RETAIN_KEYS, SET_ELEMENT_ORDER, meta,
};
use super::values::{canonical, exceeds_depth, go_map, go_value};
use super::{MAX_DEPTH, PatchError, messages};

/// The strategic merge patch that, applied to `original`, yields `modified`; both are
/// objects of the schema definition `definition`.
pub fn create_two_way_merge_patch(
    original: &Value,
    modified: &Value,
    definition: &str,
) -> Result<Value, PatchError> {
    let def = match schema().definition(definition) {
        Some(d) if d.scalar.is_none() => d,
        _ => return Err(PatchError::BadRequest(messages::UNSUPPORTED.to_string())),
    };
    let (Value::Object(original), Value::Object(modified)) = (original, modified) else {
        return Err(PatchError::BadRequest(messages::BAD_JSON_DOC.to_string()));
    };
    // Recursion follows both documents where both have containers.
    if original
        .values()
        .chain(modified.values())
        .any(|v| exceeds_depth(v, 1, MAX_DEPTH))
    {
        return Err(PatchError::BadRequest(format!(
            "document is nested deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(Value::Object(diff_maps(
        original,
        modified,
        Node::Object(def),
        false,
    )?))
}

fn diff_maps(
    original: &Map<String, Value>,
    modified: &Map<String, Value>,
    node: Node<'_>,
    retain_keys: bool,
) -> Result<Map<String, Value>, PatchError> {
    let mut patch = Map::new();
    let mut retained: Vec<&str> = Vec::new();
    for (key, new) in modified {
        if retain_keys && !new.is_null() {
            retained.push(key);
        }
        let Some(old) = original.get(key) else {
            patch.insert(key.clone(), new.clone());
            continue;
        };
        if key == DIRECTIVE {
            if old != new {
                patch.insert(key.clone(), new.clone());
            }
            continue;
        }
        match (old, new) {
            (Value::Object(o), Value::Object(n)) => {
                let field = node.field(key);
                let m = meta(field, false)?;
                if m.strategy == "replace" {
                    patch.insert(key.clone(), new.clone());
                } else {
                    let keep = field.is_some_and(|f| f.retains_keys());
                    let sub = diff_maps(o, n, m.node, keep)?;
                    if !sub.is_empty() {
                        patch.insert(key.clone(), Value::Object(sub));
                    }
                }
            }
            (Value::Array(o), Value::Array(n)) => {
                let field = node.field(key);
                let m = meta(field, true)?;
                if m.strategy == "merge" {
                    let keep = field.is_some_and(|f| f.retains_keys());
                    let (changes, deletions, order) = diff_lists(o, n, &m, keep)?;
                    if !changes.is_empty() {
                        patch.insert(key.clone(), Value::Array(changes));
                    }
                    if !deletions.is_empty() {
                        patch.insert(
                            format!("{DELETE_FROM_PRIMITIVE_LIST}/{key}"),
                            Value::Array(deletions),
                        );
                    }
                    if !order.is_empty() {
                        patch.insert(format!("{SET_ELEMENT_ORDER}/{key}"), Value::Array(order));
                    }
                } else if old != new {
                    patch.insert(key.clone(), new.clone());
                }
            }
            _ => {
                if old != new {
                    patch.insert(key.clone(), new.clone());
                }
            }
        }
    }
    for key in original.keys() {
        if !modified.contains_key(key) {
            patch.insert(key.clone(), Value::Null);
        }
    }
    let clears_more = original
        .iter()
        .any(|(k, v)| !v.is_null() && !modified.contains_key(k));
    if !retained.is_empty() && (!patch.is_empty() || clears_more) {
        retained.sort_unstable();
        patch.insert(
            RETAIN_KEYS.to_string(),
            Value::Array(
                retained
                    .into_iter()
                    .map(|k| Value::String(k.to_string()))
                    .collect(),
            ),
        );
    }
    Ok(patch)
}

type ListDiff = (Vec<Value>, Vec<Value>, Vec<Value>);

/// Changes and additions, scalar deletions, and the `$setElementOrder` list of a merging
/// list.
fn diff_lists(
    original: &[Value],
    modified: &[Value],
    m: &Meta<'_>,
    retain_keys: bool,
) -> Result<ListDiff, PatchError> {
    if original.is_empty() {
        return Ok((modified.to_vec(), Vec::new(), Vec::new()));
    }
    let objects = match super::strategic::item_kind(&[original, modified])? {
        Some(kind) => kind == super::strategic::ItemKind::Object,
        None => return Ok((Vec::new(), Vec::new(), Vec::new())),
    };
    if !objects {
        let in_original: HashSet<String> = original.iter().map(canonical).collect();
        let in_modified: HashSet<String> = modified.iter().map(canonical).collect();
        let mut seen = HashSet::new();
        let additions: Vec<Value> = modified
            .iter()
            .filter(|v| {
                let c = canonical(v);
                !in_original.contains(&c) && seen.insert(c)
            })
            .cloned()
            .collect();
        let mut deletions: Vec<Value> = original
            .iter()
            .filter(|v| {
                let c = canonical(v);
                !in_modified.contains(&c) && seen.insert(c)
            })
            .cloned()
            .collect();
        deletions.sort_by_cached_key(go_value);
        let order = if !deletions.is_empty() || original != modified {
            modified.to_vec()
        } else {
            Vec::new()
        };
        return Ok((additions, deletions, order));
    }

    let key = m.merge_key.ok_or_else(|| {
        PatchError::Unclassified(format!(
            "cannot merge lists without merge key for {}",
            m.node.name()
        ))
    })?;
    let key_of = |item: &Value| -> Result<Value, PatchError> {
        match item {
            Value::Object(o) => o.get(key).cloned().ok_or_else(|| no_merge_key(o, key)),
            other => Err(PatchError::Unclassified(format!(
                "expected a map[string]interface {{}}, but received a {}",
                super::values::go_type(other)
            ))),
        }
    };
    let original_keys = original.iter().map(key_of).collect::<Result<Vec<_>, _>>()?;
    let modified_keys = modified.iter().map(key_of).collect::<Result<Vec<_>, _>>()?;

    let mut by_key: HashMap<String, usize> = HashMap::with_capacity(original.len());
    for (i, k) in original_keys.iter().enumerate() {
        by_key.entry(canonical(k)).or_insert(i);
    }
    let mut changes = Vec::new();
    for (item, k) in modified.iter().zip(&modified_keys) {
        let Value::Object(new) = item else { continue };
        match by_key.get(&canonical(k)).map(|&i| &original[i]) {
            Some(Value::Object(old)) => {
                let mut sub = diff_maps(old, new, m.node, retain_keys)?;
                if !sub.is_empty() {
                    sub.insert(key.to_string(), k.clone());
                    changes.push(Value::Object(sub));
                }
            }
            _ => changes.push(item.clone()),
        }
    }
    let in_modified: HashSet<String> = modified_keys.iter().map(canonical).collect();
    let mut deletions: Vec<&Value> = original_keys
        .iter()
        .filter(|k| !in_modified.contains(&canonical(k)))
        .collect();
    deletions.sort_by_cached_key(|k| go_value(k));
    changes.extend(deletions.into_iter().map(|k| {
        let mut d = Map::new();
        d.insert(key.to_string(), k.clone());
        d.insert(DIRECTIVE.to_string(), Value::String("delete".to_string()));
        Value::Object(d)
    }));
    let order_same = original_keys == modified_keys;
    let order = if !changes.is_empty() || !order_same {
        modified_keys
            .into_iter()
            .map(|k| {
                let mut o = Map::new();
                o.insert(key.to_string(), k);
                Value::Object(o)
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok((changes, Vec::new(), order))
}

fn no_merge_key(item: &Map<String, Value>, key: &str) -> PatchError {
    PatchError::Unclassified(format!(
        "map: {} does not contain declared merge key: {key}",
        go_map(item)
    ))
}
