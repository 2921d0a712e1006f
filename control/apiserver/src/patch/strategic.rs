//! Strategic merge patch (`application/strategic-merge-patch+json`), driven by the
//! schema's `x-kubernetes-patch-strategy` and `x-kubernetes-patch-merge-key`, with the
//! semantics of k8s.io/apimachinery `strategicpatch` as kube-apiserver 1.33 applies it:
//!
//! - objects merge recursively; `null` deletes a member; a value of another JSON type
//!   replaces the member;
//! - lists whose field has strategy `merge` merge: lists of objects by the merge key
//!   (`containers` by `name`, container `ports` by `containerPort`, Service `ports` by
//!   `port`, `ownerReferences` by `uid`), lists of scalars as a set (`finalizers`); every
//!   other list (`tolerations`, `args`) is replaced whole;
//! - an object field with strategy `replace` (PodDisruptionBudget `selector`) is replaced;
//! - directives: `$patch: replace` / `$patch: delete` in an object, `{"$patch": "delete",
//!   <key>: ..}` and `{"$patch": "replace"}` items in a merging list, `$retainKeys`,
//!   `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`;
//! - order: items the patch names come in the patch's order (or `$setElementOrder`'s);
//!   items only the object has keep their places relative to each other; an item new to
//!   the list goes before the object's own items unless `$setElementOrder` places it;
//! - fields the schema does not describe (`RawExtension`, `JSON`, unknown members) merge
//!   with the same rules and no merge lists: JSON merge patch plus the directives.
//!
//! Deliberate differences from kube-apiserver: where the schema ends it merges as above
//! (kube fails with `unable to find api field` or, for maps of objects such as
//! `JSONSchemaProps.properties`, `merging an object in json but data type is not struct`);
//! an object carrying `$patch: replace` where the original has no value becomes its
//! content (kube drops it); directive keys inside a new value are dropped (kube keeps
//! them as unknown fields); an empty list with `$setElementOrder` is left alone (kube
//! fails with `no elements in any of the given slices`); a list of objects without a
//! merge key under `$setElementOrder` is ordered by whole items (kube: a missing merge
//! key error); null list items are an error rather than a crash; all JSON numbers are
//! one element type. Lists are matched through hash maps, so a patch of many thousand
//! items costs n log n where kube's loops cost n².

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use clipper_proto::schema::{Definition, Field, FieldType, schema};

use super::values::{canonical, exceeds_depth, go_list, go_map, go_type, go_value, remove_key};
use super::{MAX_DEPTH, PatchError};

/// `$patch`: `replace` or `delete` an object or a list item.
pub const DIRECTIVE: &str = "$patch";
/// `$retainKeys: [...]`: members of the object not listed are cleared.
pub const RETAIN_KEYS: &str = "$retainKeys";
/// `$setElementOrder/<list>: [...]`: the order of a merged list.
pub const SET_ELEMENT_ORDER: &str = "$setElementOrder";
/// `$deleteFromPrimitiveList/<list>: [...]`: scalars to remove from a merged list.
pub const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

/// apimachinery's `mergepatch` error texts, which clients see in the 400 answers.
pub mod messages {
    pub const BAD_JSON_DOC: &str = "invalid JSON document";
    pub const NO_LIST_OF_LISTS: &str = "lists of lists are not supported";
    pub const BAD_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
    pub const BAD_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
    pub const BAD_SET_ELEMENT_ORDER: &str = "invalid patch format of setElementOrder list";
    pub const UNSUPPORTED: &str = "strategic merge patch format is not supported";
    pub const MERGE_DIRECTIVE_IN_LIST: &str = "merging lists cannot yet be specified in the patch";
}

/// Applies a strategic merge patch to `original`, an object of the schema definition
/// `definition` (e.g. `io.k8s.api.apps.v1.Deployment`).
pub fn strategic_merge(
    original: &Value,
    patch: &Value,
    definition: &str,
) -> Result<Value, PatchError> {
    let def = match schema().definition(definition) {
        Some(d) if d.scalar.is_none() => d,
        _ => return Err(PatchError::BadRequest(messages::UNSUPPORTED.to_string())),
    };
    let Value::Object(original) = original else {
        return Err(PatchError::BadRequest(messages::BAD_JSON_DOC.to_string()));
    };
    let patch = match patch {
        Value::Object(p) => p,
        // Go decodes `null` into the empty patch.
        Value::Null => return Ok(Value::Object(original.clone())),
        other => {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                super::values::json_kind(other)
            )));
        }
    };
    // Recursion below follows the patch; bounding its depth bounds the stack.
    if patch.values().any(|v| exceeds_depth(v, 1, MAX_DEPTH)) {
        return Err(PatchError::BadRequest(format!(
            "patch is nested deeper than {MAX_DEPTH} levels"
        )));
    }
    // The object's own merge keys are serialized, recursively, to match items.
    if original.values().any(|v| exceeds_depth(v, 1, MAX_DEPTH)) {
        return Err(PatchError::Unprocessable(format!(
            "the object is nested deeper than {MAX_DEPTH} levels"
        )));
    }
    let mut out = original.clone();
    merge_map(&mut out, patch, Node::Object(def))?;
    Ok(Value::Object(out))
}

/// What the schema says about the values at one place in the object.
#[derive(Clone, Copy)]
pub(super) enum Node<'s> {
    /// An object definition: members looked up by name.
    Object(&'s Definition),
    /// A map (`additionalProperties`): every member is this field.
    Map(&'s Field),
    /// No schema: `Any`, or a member the definition does not have.
    Unknown,
}

impl<'s> Node<'s> {
    pub(super) fn field(self, key: &str) -> Option<&'s Field> {
        match self {
            Node::Object(def) => def.properties.get(key),
            Node::Map(f) => Some(f),
            Node::Unknown => None,
        }
    }

    pub(super) fn name(self) -> &'s str {
        match self {
            Node::Object(def) => &def.name,
            Node::Map(_) | Node::Unknown => "struct",
        }
    }
}

fn node_of<'s>(ty: &'s FieldType) -> Node<'s> {
    match ty {
        FieldType::Ref(name) => match schema().definition(name) {
            Some(def) if def.scalar.is_none() => Node::Object(def),
            _ => Node::Unknown,
        },
        FieldType::Map(inner) => Node::Map(inner),
        _ => Node::Unknown,
    }
}

/// A field's patch metadata, as strategicpatch reads it.
pub(super) struct Meta<'s> {
    /// The strategy other than `retainKeys`: `merge`, `replace` or empty.
    pub(super) strategy: &'s str,
    pub(super) merge_key: Option<&'s str>,
    /// The node of the field's value (of its items, for a list).
    pub(super) node: Node<'s>,
}

pub(super) fn meta<'s>(field: Option<&'s Field>, list: bool) -> Result<Meta<'s>, PatchError> {
    let Some(field) = field else {
        return Ok(Meta {
            strategy: "",
            merge_key: None,
            node: Node::Unknown,
        });
    };
    let strategies: Vec<&str> = field.patch_strategies.iter().map(String::as_str).collect();
    let strategy = match strategies.as_slice() {
        [] => "",
        [one] if *one == "retainKeys" => "",
        [one] => one,
        [a, b] if *a == "retainKeys" => b,
        [a, b] if *b == "retainKeys" => a,
        _ => {
            return Err(PatchError::Unclassified(format!(
                "unexpected patch strategy: [{}]",
                strategies.join(" ")
            )));
        }
    };
    let node = if list {
        match &field.ty {
            FieldType::Array(item) => node_of(&item.ty),
            _ => Node::Unknown,
        }
    } else {
        node_of(&field.ty)
    };
    Ok(Meta {
        strategy,
        merge_key: field.patch_merge_key.as_deref(),
        node,
    })
}

fn bad_arg_type(expected: &str, actual: &Value) -> PatchError {
    PatchError::Unclassified(format!(
        "expected a {expected}, but received a {}",
        go_type(actual)
    ))
}

fn no_merge_key(item: &Map<String, Value>, key: &str) -> PatchError {
    PatchError::Unclassified(format!(
        "map: {} does not contain declared merge key: {key}",
        go_map(item)
    ))
}

/// The list key after `<prefix>/`.
fn directive_target<'k>(key: &'k str, prefix: &str, error: &str) -> Result<&'k str, PatchError> {
    match key.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(rest),
        _ => Err(PatchError::BadRequest(error.to_string())),
    }
}

fn is_directive_key(key: &str) -> bool {
    key == DIRECTIVE
        || key == RETAIN_KEYS
        || key.starts_with(SET_ELEMENT_ORDER)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

/// Merges `patch` into `original` in place.
fn merge_map(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    node: Node<'_>,
) -> Result<(), PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        match directive.as_str() {
            Some("replace") => {
                *original = patch
                    .iter()
                    .filter(|(k, _)| *k != DIRECTIVE)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                return Ok(());
            }
            Some("delete") => {
                original.clear();
                return Ok(());
            }
            _ => {
                return Err(PatchError::Unclassified(format!(
                    "unknown patch type: {} in map: {}",
                    go_value(directive),
                    go_map(patch)
                )));
            }
        }
    }

    if let Some(retain) = patch.get(RETAIN_KEYS) {
        apply_retain_keys(original, patch, retain)?;
    }

    // `$setElementOrder` lists first; the lists they order are merged with them.
    let mut ordered: Vec<&str> = Vec::new();
    for (key, order) in patch {
        if !key.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        let Value::Array(order) = order else {
            return Err(bad_arg_type("[]interface {}", order));
        };
        let list_key = directive_target(key, SET_ELEMENT_ORDER, messages::BAD_SET_ELEMENT_ORDER)?;
        if merge_ordered_list(original, patch, list_key, order, node)? {
            ordered.push(list_key);
        }
    }

    for (key, patch_value) in patch {
        if key == RETAIN_KEYS
            || key.starts_with(SET_ELEMENT_ORDER)
            || ordered.contains(&key.as_str())
        {
            continue;
        }
        let (key, delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            (
                directive_target(
                    key,
                    DELETE_FROM_PRIMITIVE_LIST,
                    messages::BAD_PRIMITIVE_LIST,
                )?,
                true,
            )
        } else {
            (key.as_str(), false)
        };
        if patch_value.is_null() {
            remove_key(original, key);
            continue;
        }
        let Some(current) = original.get_mut(key) else {
            if !delete_list {
                set_fresh(original, key, patch_value);
            }
            continue;
        };
        match (current, patch_value) {
            (Value::Object(cur), Value::Object(p)) => {
                let m = meta(node.field(key), false)?;
                if m.strategy == "replace" {
                    *cur = p.clone();
                } else {
                    merge_map(cur, p, m.node)?;
                }
            }
            (Value::Array(cur), Value::Array(p)) => {
                let m = meta(node.field(key), true)?;
                let merged = merge_list_field(cur, p, &m, delete_list)?;
                *cur = merged;
            }
            (cur, p) => {
                let same_kind = std::mem::discriminant(cur) == std::mem::discriminant(p);
                if same_kind || !delete_list {
                    set_fresh(original, key, patch_value);
                }
            }
        }
    }
    Ok(())
}

fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    retain: &Value,
) -> Result<(), PatchError> {
    let Value::Array(retain) = retain else {
        return Err(PatchError::BadRequest(
            messages::BAD_RETAIN_KEYS.to_string(),
        ));
    };
    let listed = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (k, v) in patch {
        if k == RETAIN_KEYS
            || v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !listed(k) {
            return Err(PatchError::BadRequest(
                messages::BAD_RETAIN_KEYS.to_string(),
            ));
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

/// Sets `original[key]` to a patch value the original had no counterpart for.
fn set_fresh(original: &mut Map<String, Value>, key: &str, patch_value: &Value) {
    match fresh(patch_value) {
        Some(v) => {
            original.insert(key.to_string(), v);
        }
        None => {
            remove_key(original, key);
        }
    }
}

/// A patch value taken as is, as strategicpatch does where the original has nothing to
/// merge with: null members dropped, objects carrying `$patch: delete` (or an unknown
/// `$patch`) dropped, `$patch: replace` objects reduced to their content, list items
/// carrying any `$patch` dropped, other directive keys dropped. `None`: drop the value.
fn fresh(v: &Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if let Some(d) = m.get(DIRECTIVE)
                && d.as_str() != Some("replace")
            {
                return None;
            }
            let mut out = Map::new();
            for (k, v) in m {
                if v.is_null() || is_directive_key(k) {
                    continue;
                }
                if let Some(v) = fresh(v) {
                    out.insert(k.clone(), v);
                }
            }
            Some(Value::Object(out))
        }
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .filter(|item| !has_directive(item))
                .filter_map(|item| {
                    if item.is_null() {
                        Some(Value::Null)
                    } else {
                        fresh(item)
                    }
                })
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

fn has_directive(v: &Value) -> bool {
    v.as_object().is_some_and(|m| m.contains_key(DIRECTIVE))
}

/// The list under `field`: merged when its strategy is `merge` (or for a
/// `$deleteFromPrimitiveList`), otherwise the patch's list as is.
fn merge_list_field(
    original: &[Value],
    patch: &[Value],
    m: &Meta<'_>,
    delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    if m.strategy == "merge" || delete_list {
        merge_list(original, patch, m, delete_list)
    } else {
        Ok(patch.to_vec())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ItemKind {
    Object,
    Scalar(u8),
}

/// The one kind of item in the lists: objects, or scalars of one JSON type. `None`: all
/// lists are empty.
pub(super) fn item_kind(lists: &[&[Value]]) -> Result<Option<ItemKind>, PatchError> {
    let mut kind = None;
    for list in lists {
        for v in *list {
            let k = match v {
                Value::Array(_) => {
                    if kind.is_none() {
                        return Err(PatchError::Unprocessable(
                            messages::NO_LIST_OF_LISTS.to_string(),
                        ));
                    }
                    ItemKind::Scalar(0)
                }
                Value::Object(_) => ItemKind::Object,
                Value::Null => ItemKind::Scalar(1),
                Value::Bool(_) => ItemKind::Scalar(2),
                Value::Number(_) => ItemKind::Scalar(3),
                Value::String(_) => ItemKind::Scalar(4),
            };
            match kind {
                None => kind = Some(k),
                Some(prev) if prev != k => {
                    let all: Vec<String> = lists.iter().map(|l| go_list(l)).collect();
                    return Err(PatchError::Unclassified(format!(
                        "list element types are not identical: [{}]",
                        all.join(" ")
                    )));
                }
                Some(_) => {}
            }
        }
    }
    Ok(kind)
}

/// The merge key's value of a list item; the caller has checked items are objects.
fn key_of<'v>(item: &'v Value, key: &str) -> Option<&'v Value> {
    item.as_object().and_then(|m| m.get(key))
}

fn require_key<'v>(item: &'v Value, key: &str) -> Result<&'v Value, PatchError> {
    match item {
        Value::Object(m) => m.get(key).ok_or_else(|| no_merge_key(m, key)),
        other => Err(bad_arg_type("map[string]interface {}", other)),
    }
}

/// How list items are identified: by merge key for objects, by value otherwise.
#[derive(Clone, Copy)]
enum Identity<'k> {
    Key(&'k str),
    Value,
}

impl Identity<'_> {
    /// A string two items share exactly when they are the same item (the compact JSON
    /// of the merge key's value, or of the scalar), so that lists are matched through
    /// hash maps: a patch of many thousand items costs n log n, not n².
    fn canon(self, v: &Value) -> String {
        let target = match self {
            Identity::Key(k) => key_of(v, k),
            Identity::Value => Some(v),
        };
        // No JSON text is empty: "" stands for a missing merge key, which matches
        // nothing a patch names.
        target.map(canonical).unwrap_or_default()
    }

    /// Each item's first position in `list`.
    fn positions(self, list: &[Value]) -> HashMap<String, usize> {
        let mut out = HashMap::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            out.entry(self.canon(v)).or_insert(i);
        }
        out
    }
}

/// strategicpatch's `mergeSlice`: merges two lists of a `merge` field.
fn merge_list(
    original: &[Value],
    patch: &[Value],
    m: &Meta<'_>,
    delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    let Some(kind) = item_kind(&[original, patch])? else {
        return Ok(original.to_vec());
    };
    if kind != ItemKind::Object {
        let id = Identity::Value;
        if delete_list {
            let doomed: HashSet<String> = patch.iter().map(|v| id.canon(v)).collect();
            return Ok(original
                .iter()
                .filter(|v| !doomed.contains(&id.canon(v)))
                .cloned()
                .collect());
        }
        let mut seen = HashSet::with_capacity(original.len() + patch.len());
        let merged: Vec<Value> = original
            .iter()
            .chain(patch)
            .filter(|v| seen.insert(id.canon(v)))
            .cloned()
            .collect();
        return Ok(order_merged(merged, patch, original, id));
    }

    let key = m.merge_key.ok_or_else(|| {
        PatchError::Unclassified(format!(
            "cannot merge lists without merge key for {}",
            m.node.name()
        ))
    })?;
    let id = Identity::Key(key);

    // Directive items first: deletions from the original, or replacement of it.
    let mut deleted: HashSet<String> = HashSet::new();
    let mut items: Vec<&Map<String, Value>> = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Value::Object(item) = item else { continue };
        let Some(directive) = item.get(DIRECTIVE) else {
            items.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let value = item.get(key).ok_or_else(|| no_merge_key(item, key))?;
                deleted.insert(Identity::Value.canon(value));
            }
            Some("replace") => replace = true,
            Some("merge") => {
                return Err(PatchError::Unclassified(
                    messages::MERGE_DIRECTIVE_IN_LIST.to_string(),
                ));
            }
            _ => {
                return Err(PatchError::Unclassified(format!(
                    "unknown patch type: {} in map: {}",
                    go_value(directive),
                    go_map(item)
                )));
            }
        }
    }
    let (base, items): (Vec<Value>, Vec<&Map<String, Value>>) = if replace {
        (
            items.iter().map(|m| Value::Object((*m).clone())).collect(),
            Vec::new(),
        )
    } else {
        let mut base = original.to_vec();
        if !deleted.is_empty() {
            base.retain(|o| !deleted.contains(&id.canon(o)));
        }
        (base, items)
    };

    let mut merged = base.clone();
    let mut index = id.positions(&merged);
    for item in &items {
        let value = item.get(key).ok_or_else(|| no_merge_key(item, key))?;
        let canon = Identity::Value.canon(value);
        match index.get(&canon).and_then(|&i| merged.get_mut(i)) {
            Some(Value::Object(existing)) => merge_map(existing, item, m.node)?,
            _ => {
                if let Some(v) = fresh(&Value::Object((*item).clone())) {
                    index.insert(canon, merged.len());
                    merged.push(v);
                }
            }
        }
    }
    let patch_items: Vec<Value> = items.iter().map(|m| Value::Object((*m).clone())).collect();
    for v in merged.iter().chain(&base) {
        require_key(v, key)?;
    }
    Ok(order_merged(merged, &patch_items, &base, id))
}

/// Orders a merged list: items the patch names in the patch's order, the others in the
/// server's order, interleaved as strategicpatch's `mergeSortedSlice` does: a
/// server-only item goes first when both it and the next named item are in
/// `server_order` and it comes before; otherwise the named item goes first.
fn order_merged(
    merged: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    id: Identity<'_>,
) -> Vec<Value> {
    let in_patch = id.positions(patch_order);
    let in_server = id.positions(server_order);
    // (item, position in the patch, position on the server)
    type Placed = (Value, Option<usize>, Option<usize>);
    let (mut named, mut server_only): (Vec<Placed>, Vec<Placed>) = merged
        .into_iter()
        .map(|v| {
            let c = id.canon(&v);
            let (p, s) = (in_patch.get(&c).copied(), in_server.get(&c).copied());
            (v, p, s)
        })
        .partition(|(_, p, _)| p.is_some());
    named.sort_by_key(|(_, p, _)| *p);
    server_only.sort_by_key(|(_, _, s)| *s);

    let mut out = Vec::with_capacity(named.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = named.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((_, _, l)), Some((_, _, r))) => matches!((l, r), (Some(l), Some(r)) if l < r),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next.map(|(v, _, _)| v));
    }
    out
}

/// Handles `$setElementOrder/<list_key>`: merges the list (when the patch has it) and
/// orders the result. Returns whether the list is now done.
fn merge_ordered_list(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    list_key: &str,
    order: &[Value],
    node: Node<'_>,
) -> Result<bool, PatchError> {
    let current = match original.get(list_key) {
        None => None,
        Some(Value::Array(a)) => Some(a.as_slice()),
        Some(other) => return Err(bad_arg_type("[]interface {}", other)),
    };
    let patch_list = match patch.get(list_key) {
        None => None,
        Some(Value::Array(a)) => Some(a.as_slice()),
        Some(other) => return Err(bad_arg_type("[]interface {}", other)),
    };
    let m = meta(node.field(list_key), true)?;
    validate_order(patch_list.unwrap_or(&[]), order, m.merge_key)?;

    let merged = match (current, patch_list) {
        (None, None) => return Ok(false),
        (Some(c), None) => c.to_vec(),
        (None, Some(p)) => p
            .iter()
            .filter(|item| !has_directive(item))
            .filter_map(fresh_item)
            .collect(),
        (Some(c), Some(p)) => merge_list_field(c, p, &m, false)?,
    };
    let server_order = current.unwrap_or(&[]);
    let kind = item_kind(&[server_order, patch_list.unwrap_or(&[])])?;
    let id = match (kind, m.merge_key) {
        (Some(ItemKind::Object), Some(key)) => {
            for v in merged.iter().chain(order).chain(server_order) {
                require_key(v, key)?;
            }
            Identity::Key(key)
        }
        _ => Identity::Value,
    };
    let ordered = if kind.is_some() {
        order_merged(merged, order, server_order, id)
    } else {
        merged
    };
    original.insert(list_key.to_string(), Value::Array(ordered));
    Ok(true)
}

fn fresh_item(v: &Value) -> Option<Value> {
    if v.is_null() {
        Some(Value::Null)
    } else {
        fresh(v)
    }
}

/// strategicpatch's `validatePatchWithSetOrderList`: the patch list's items (deletions
/// aside) must appear in `order`, in the same relative order.
fn validate_order(
    patch_list: &[Value],
    order: &[Value],
    merge_key: Option<&str>,
) -> Result<(), PatchError> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let mut kept: Vec<&Value> = Vec::with_capacity(patch_list.len());
    for item in patch_list {
        if merge_key.is_some() {
            let Value::Object(m) = item else {
                return Err(bad_arg_type("map[string]interface {}", item));
            };
            if m.get(DIRECTIVE).and_then(Value::as_str) == Some("delete") {
                continue;
            }
        }
        kept.push(item);
    }
    let (mut pi, mut oi) = (0, 0);
    while pi < kept.len() && oi < order.len() {
        if has_directive(kept[pi]) {
            pi += 1;
            continue;
        }
        let equal = match merge_key {
            None => kept[pi] == &order[oi],
            Some(key) => require_key(kept[pi], key)? == require_key(&order[oi], key)?,
        };
        if equal {
            pi += 1;
        }
        oi += 1;
    }
    if pi < kept.len() && oi >= order.len() {
        return Err(PatchError::Unclassified(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}\n",
            go_list(patch_list),
            go_list(order)
        )));
    }
    Ok(())
}
