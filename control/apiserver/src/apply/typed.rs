//! Typed operations on JSON values (structured-merge-diff `typed`): validation, the field
//! set a value sets, the comparison of two values, the merge of an apply configuration
//! into an object, and the removal of a field set from an object.
//!
//! Each walk follows the value and its type together. A value picks the part of its type's
//! atom that fits it (a map for an object, a list for an array, a scalar otherwise); lists
//! and maps that are atomic, and pairs of empty ones, are leaves compared and replaced
//! whole. Recursion follows the values, whose depth the entry points bound first.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::fieldpath::{FieldSet, PathElement};
use super::gofmt::{go_type, quote, values_equal, wrapped};
use super::schema::{DEDUCED, ListDef, MapDef, Scalar, Schema, TypeRef, UNTYPED};

/// A validation error at a path (`.spec.replicas: expected numeric ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeError {
    pub path: String,
    pub message: String,
}

/// structured-merge-diff's rendering of validation errors: one as `path: message`, several
/// on indented lines under `errors:`.
pub fn format_errors(errs: &[TypeError]) -> String {
    let one = |e: &TypeError| {
        if e.path.is_empty() {
            e.message.clone()
        } else {
            format!("{}: {}", e.path, e.message)
        }
    };
    match errs {
        [e] => one(e),
        _ => {
            let mut s = String::from("errors:");
            for e in errs {
                s.push_str("\n  ");
                s.push_str(&one(e));
            }
            s
        }
    }
}

/// What changed from one value to another, as field sets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    pub removed: FieldSet,
    pub modified: FieldSet,
    pub added: FieldSet,
}

impl Comparison {
    /// Drops the paths under the members of `ignored` (reset fields).
    pub fn exclude(&mut self, ignored: &FieldSet) {
        self.removed = self.removed.recursive_difference(ignored);
        self.modified = self.modified.recursive_difference(ignored);
        self.added = self.added.recursive_difference(ignored);
    }
}

/// The part of a type's atom a value takes.
#[derive(Clone, Copy)]
enum Shape<'s> {
    Scalar(Scalar),
    List(&'s ListDef),
    /// The map and whether it is atomic.
    Map(&'s MapDef, bool),
    None,
}

impl Shape<'_> {
    fn same_kind(&self, other: &Shape<'_>) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

fn as_list(v: Option<&Value>) -> Option<&Vec<Value>> {
    match v {
        Some(Value::Array(a)) => Some(a),
        _ => None,
    }
}

fn as_map(v: Option<&Value>) -> Option<&Map<String, Value>> {
    match v {
        Some(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// A null that stands for an item listed more than once on the object side of a merge.
static NULL: Value = Value::Null;

/// Typed walks over one schema.
#[derive(Clone, Copy)]
pub struct Typed<'s> {
    pub schema: &'s Schema,
}

impl<'s> Typed<'s> {
    pub fn new(schema: &'s Schema) -> Typed<'s> {
        Typed { schema }
    }

    /// structured-merge-diff's `deduceAtom` then `handleAtom`: the part that fits the value,
    /// else the map, the scalar, the list, in that order.
    fn shape(&self, tr: TypeRef, v: Option<&Value>) -> Shape<'s> {
        let atom = self.schema.atom(tr.id);
        let map = || {
            atom.map
                .as_ref()
                .map(|m| Shape::Map(m, m.atomic || tr.atomic))
        };
        let list = || atom.list.as_ref().map(Shape::List);
        let scalar = || atom.scalar.map(Shape::Scalar);
        let fitting = match v {
            Some(Value::Number(_) | Value::String(_) | Value::Bool(_)) => scalar(),
            Some(Value::Array(_)) => list(),
            Some(Value::Object(_)) => map(),
            _ => None,
        };
        fitting
            .or_else(map)
            .or_else(scalar)
            .or_else(list)
            .unwrap_or(Shape::None)
    }

    /// The type of member `key` of a map; undeclared members of a map without an element
    /// type (rejected by validation) are treated as untyped.
    fn member_type(m: &MapDef, key: &str) -> TypeRef {
        m.fields
            .get(key)
            .map(|f| f.ty)
            .or(m.element)
            .unwrap_or(TypeRef::of(UNTYPED))
    }

    /// The path element of a list item: its key fields (or their defaults) in a map-list,
    /// its value in a set.
    pub fn item_pe(&self, l: &ListDef, item: &Value) -> Result<PathElement, String> {
        if !l.associative {
            return Err("invalid indexing of non-associative list".into());
        }
        if l.keys.is_empty() {
            return match item {
                Value::Object(_) => {
                    Err("associative list without keys has an element that's a map type".into())
                }
                Value::Array(_) => {
                    Err("not supported: associative list with lists as elements".into())
                }
                Value::Null => Err(
                    "associative list without keys has an element that's an explicit null".into(),
                ),
                v => Ok(PathElement::Value(v.clone())),
            };
        }
        let m = match item {
            Value::Object(m) => m,
            Value::Null => {
                return Err("associative list with keys may not have a null element".into());
            }
            _ => return Err("associative list with keys may not have non-map elements".into()),
        };
        let element = self.schema.atom(l.element.id).map.as_ref();
        let mut fields = Vec::with_capacity(l.keys.len());
        for k in &l.keys {
            if let Some(v) = m.get(k) {
                fields.push((k.clone(), v.clone()));
            } else if let Some(d) = element
                .and_then(|e| e.fields.get(k))
                .and_then(|f| f.default.clone())
            {
                fields.push((k.clone(), d));
            }
        }
        if fields.is_empty() {
            let keys: Vec<String> = l.keys.iter().map(|k| quote(k)).collect();
            return Err(format!(
                "associative list with keys has an element that omits all key fields [{}] (and doesn't have default values for any key fields)",
                keys.join(" ")
            ));
        }
        Ok(PathElement::key(fields))
    }

    /// Checks `v` against its type; `allow_duplicates` accepts an item listed twice in an
    /// associative list (live objects may hold them, apply configurations may not).
    pub fn validate(&self, v: &Value, tr: TypeRef, allow_duplicates: bool) -> Vec<TypeError> {
        let mut errs = Vec::new();
        let mut path = String::new();
        self.validate_at(v, tr, allow_duplicates, &mut path, &mut errs);
        errs
    }

    fn validate_at(
        &self,
        v: &Value,
        tr: TypeRef,
        dups: bool,
        path: &mut String,
        errs: &mut Vec<TypeError>,
    ) {
        let mut err = |path: &str, message: String| {
            errs.push(TypeError {
                path: path.to_string(),
                message,
            });
        };
        match self.shape(tr, Some(v)) {
            Shape::Scalar(s) => {
                if let Some(message) = scalar_error(s, v) {
                    err(path, message);
                }
            }
            Shape::List(l) => {
                let items = match v {
                    Value::Null => return,
                    Value::Array(items) => items,
                    other => return err(path, format!("expected list, got {}", wrapped(other))),
                };
                let mut seen = BTreeSet::new();
                for (i, item) in items.iter().enumerate() {
                    let pe = if l.associative {
                        match self.item_pe(l, item) {
                            Ok(pe) => pe,
                            Err(e) => {
                                errs.push(TypeError {
                                    path: path.clone(),
                                    message: format!("element {i}: {e}"),
                                });
                                return;
                            }
                        }
                    } else {
                        PathElement::Index(i)
                    };
                    if l.associative && !seen.insert(pe.clone()) && !dups {
                        errs.push(TypeError {
                            path: path.clone(),
                            message: format!("duplicate entries for key {pe}"),
                        });
                    }
                    let len = path.len();
                    path.push_str(&pe.to_string());
                    self.validate_at(item, l.element, dups, path, errs);
                    path.truncate(len);
                }
            }
            Shape::Map(m, _) => {
                let obj = match v {
                    Value::Null => return,
                    Value::Object(obj) => obj,
                    other => return err(path, format!("expected map, got {}", wrapped(other))),
                };
                for (k, item) in obj {
                    let len = path.len();
                    path.push('.');
                    path.push_str(k);
                    match m.fields.get(k).map(|f| f.ty).or(m.element) {
                        Some(ty) => self.validate_at(item, ty, dups, path, errs),
                        None => {
                            errs.push(TypeError {
                                path: path.clone(),
                                message: "field not declared in schema".into(),
                            });
                            path.truncate(len);
                            return;
                        }
                    }
                    path.truncate(len);
                }
            }
            Shape::None => err(path, "schema error: invalid atom".into()),
        }
    }

    /// The fields `v` sets: its leaves, its map-list and set items, its atomic lists and
    /// maps, its empty or null members and its members of maps without declared fields.
    pub fn field_set_of(&self, v: &Value, tr: TypeRef) -> FieldSet {
        let mut set = FieldSet::new();
        let mut path = Vec::new();
        self.field_set_at(v, tr, &mut path, &mut set);
        set
    }

    fn field_set_at(
        &self,
        v: &Value,
        tr: TypeRef,
        path: &mut Vec<PathElement>,
        set: &mut FieldSet,
    ) {
        match self.shape(tr, Some(v)) {
            Shape::Scalar(_) => set.insert(path),
            Shape::List(l) if !l.associative => set.insert(path),
            Shape::List(l) => {
                let Value::Array(items) = v else { return };
                let pes: Vec<Option<PathElement>> = items
                    .iter()
                    .map(|item| self.item_pe(l, item).ok())
                    .collect();
                let mut counts: BTreeMap<&PathElement, usize> = BTreeMap::new();
                for pe in pes.iter().flatten() {
                    *counts.entry(pe).or_default() += 1;
                }
                for (pe, n) in &counts {
                    if *n > 1 {
                        path.push((*pe).clone());
                        set.insert(path);
                        path.pop();
                    }
                }
                for (item, pe) in items.iter().zip(&pes) {
                    let Some(pe) = pe else { continue };
                    if counts.get(pe).copied().unwrap_or(0) > 1 {
                        continue;
                    }
                    path.push(pe.clone());
                    self.field_set_at(item, l.element, path, set);
                    set.insert(path);
                    path.pop();
                }
            }
            Shape::Map(_, true) => set.insert(path),
            Shape::Map(m, false) => {
                let Value::Object(obj) = v else { return };
                for (k, item) in obj {
                    path.push(PathElement::Field(k.clone()));
                    self.field_set_at(item, Self::member_type(m, k), path, set);
                    let empty = match item {
                        Value::Null => true,
                        Value::Object(o) => o.is_empty(),
                        _ => false,
                    };
                    if empty || !m.fields.contains_key(k) {
                        set.insert(path);
                    }
                    path.pop();
                }
            }
            Shape::None => {}
        }
    }

    /// The fields removed, modified and added from `lhs` to `rhs` (either may be absent).
    pub fn compare(&self, lhs: Option<&Value>, rhs: Option<&Value>, tr: TypeRef) -> Comparison {
        let mut c = Comparison::default();
        let mut path = Vec::new();
        self.compare_at(lhs, rhs, tr, &mut path, &mut c);
        c
    }

    fn compare_at(
        &self,
        l: Option<&Value>,
        r: Option<&Value>,
        tr: TypeRef,
        path: &mut Vec<PathElement>,
        c: &mut Comparison,
    ) {
        if l.is_none() && r.is_none() {
            return;
        }
        let al = self.shape(tr, l);
        let ar = self.shape(tr, r);
        let in_leaf = if r.is_none() {
            self.compare_shape(al, l, r, path, c)
        } else if l.is_none() || al.same_kind(&ar) {
            self.compare_shape(ar, l, r, path, c)
        } else {
            // A value changed kind: both sides are walked, as structured-merge-diff does.
            self.compare_shape(al, l, r, path, c);
            self.compare_shape(ar, l, r, path, c)
        };
        if !in_leaf {
            if l.is_none() {
                c.added.insert(path);
            } else if r.is_none() {
                c.removed.insert(path);
            }
        }
    }

    /// Compares under one shape; true when the values were compared as a leaf.
    fn compare_shape(
        &self,
        shape: Shape<'_>,
        l: Option<&Value>,
        r: Option<&Value>,
        path: &mut Vec<PathElement>,
        c: &mut Comparison,
    ) -> bool {
        match shape {
            Shape::Scalar(_) => {
                leaf_compare(l, r, path, c);
                true
            }
            Shape::List(list) => {
                let (ll, rl) = (as_list(l), as_list(r));
                let empty = ll.is_none_or(Vec::is_empty) && rl.is_none_or(Vec::is_empty);
                if !list.associative || empty {
                    leaf_compare(l, r, path, c);
                    return true;
                }
                self.compare_list_items(list, ll, rl, path, c);
                false
            }
            Shape::Map(m, atomic) => {
                let (lm, rm) = (as_map(l), as_map(r));
                let empty = lm.is_none_or(Map::is_empty) && rm.is_none_or(Map::is_empty);
                if atomic || empty {
                    leaf_compare(l, r, path, c);
                    return true;
                }
                let empty_map = Map::new();
                let (lm, rm) = (lm.unwrap_or(&empty_map), rm.unwrap_or(&empty_map));
                let keys: BTreeSet<&String> = lm.keys().chain(rm.keys()).collect();
                for k in keys {
                    path.push(PathElement::Field(k.clone()));
                    self.compare_at(lm.get(k), rm.get(k), Self::member_type(m, k), path, c);
                    path.pop();
                }
                false
            }
            Shape::None => false,
        }
    }

    fn compare_list_items(
        &self,
        list: &ListDef,
        l: Option<&Vec<Value>>,
        r: Option<&Vec<Value>>,
        path: &mut Vec<PathElement>,
        c: &mut Comparison,
    ) {
        let mut order: Vec<PathElement> = Vec::new();
        let mut sides: BTreeMap<PathElement, (Vec<&Value>, Vec<&Value>)> = BTreeMap::new();
        for (items, left) in [(l, true), (r, false)] {
            for item in items.into_iter().flatten() {
                let Ok(pe) = self.item_pe(list, item) else {
                    continue;
                };
                let entry = sides.entry(pe.clone()).or_insert_with(|| {
                    order.push(pe);
                    (Vec::new(), Vec::new())
                });
                if left {
                    entry.0.push(item)
                } else {
                    entry.1.push(item)
                }
            }
        }
        for pe in order {
            let Some((ll, rl)) = sides.get(&pe) else {
                continue;
            };
            path.push(pe);
            match (ll.len(), rl.len()) {
                (0..=1, 0..=1) => self.compare_at(
                    ll.first().copied(),
                    rl.first().copied(),
                    list.element,
                    path,
                    c,
                ),
                (2.., 2..) => {
                    let equal =
                        ll.len() == rl.len() && ll.iter().zip(rl).all(|(a, b)| values_equal(a, b));
                    if !equal {
                        c.modified.insert(path);
                    }
                }
                (2.., _) => {
                    if let Some(first) = rl.first() {
                        self.compare_at(None, Some(first), list.element, path, c);
                    }
                    c.removed.insert(path);
                }
                (_, _) => {
                    if let Some(first) = ll.first() {
                        self.compare_at(Some(first), None, list.element, path, c);
                    }
                    c.added.insert(path);
                }
            }
            path.pop();
        }
    }

    /// The configuration `rhs` merged into `lhs`: maps merge per member, associative lists
    /// per item (the configuration's order, the object's other items kept in place), and
    /// everything else the configuration sets replaces what the object has.
    pub fn merge(&self, lhs: Option<&Value>, rhs: Option<&Value>, tr: TypeRef) -> Option<Value> {
        if lhs.is_none() && rhs.is_none() {
            return None;
        }
        let shape = if rhs.is_none() {
            self.shape(tr, lhs)
        } else {
            self.shape(tr, rhs)
        };
        match shape {
            Shape::Scalar(_) => keep_rhs(lhs, rhs),
            Shape::List(list) => {
                let (ll, rl) = (as_list(lhs), as_list(rhs));
                let empty = ll.is_none_or(Vec::is_empty) && rl.is_none_or(Vec::is_empty);
                if !list.associative || empty {
                    return keep_rhs(lhs, rhs);
                }
                match self.merge_list_items(list, ll, rl) {
                    Ok(out) => out,
                    Err(()) => keep_rhs(lhs, rhs),
                }
            }
            Shape::Map(m, atomic) => {
                let (lm, rm) = (as_map(lhs), as_map(rhs));
                let empty = lm.is_none_or(Map::is_empty) && rm.is_none_or(Map::is_empty);
                if atomic || empty {
                    return keep_rhs(lhs, rhs);
                }
                let empty_map = Map::new();
                let (lm, rm) = (lm.unwrap_or(&empty_map), rm.unwrap_or(&empty_map));
                let keys: BTreeSet<&String> = lm.keys().chain(rm.keys()).collect();
                let mut out = Map::new();
                for k in keys {
                    if let Some(v) = self.merge(lm.get(k), rm.get(k), Self::member_type(m, k)) {
                        out.insert(k.clone(), v);
                    }
                }
                (!out.is_empty()).then_some(Value::Object(out))
            }
            Shape::None => None,
        }
    }

    /// Merges two associative lists item by item. The configuration's items come in its
    /// order; an object item the configuration does not name stays where it was relative
    /// to the shared items around it. `Err` when an item has no path element (validation
    /// rules that out).
    fn merge_list_items(
        &self,
        list: &ListDef,
        lhs: Option<&Vec<Value>>,
        rhs: Option<&Vec<Value>>,
    ) -> Result<Option<Value>, ()> {
        let empty = Vec::new();
        let (lhs, rhs) = (lhs.unwrap_or(&empty), rhs.unwrap_or(&empty));
        let rhs_pes: Vec<PathElement> = rhs
            .iter()
            .map(|i| self.item_pe(list, i))
            .collect::<Result<_, _>>()
            .map_err(|_| ())?;
        let lhs_pes: Vec<PathElement> = lhs
            .iter()
            .map(|i| self.item_pe(list, i))
            .collect::<Result<_, _>>()
            .map_err(|_| ())?;
        let mut observed_rhs: BTreeMap<&PathElement, &Value> = BTreeMap::new();
        for (pe, item) in rhs_pes.iter().zip(rhs) {
            if observed_rhs.insert(pe, item).is_some() {
                return Err(());
            }
        }
        // An item the object lists twice merges as null.
        let mut observed_lhs: BTreeMap<&PathElement, &Value> = BTreeMap::new();
        for (pe, item) in lhs_pes.iter().zip(lhs) {
            if observed_lhs.insert(pe, item).is_some() {
                observed_lhs.insert(pe, &NULL);
            }
        }
        let mut shared = rhs_pes.iter().filter(|pe| observed_lhs.contains_key(pe));
        let mut next_shared = shared.next();
        let mut merged_rhs: BTreeSet<&PathElement> = BTreeSet::new();
        let mut out = Vec::with_capacity(lhs.len().max(rhs.len()));
        let (mut li, mut ri) = (0, 0);
        while li < lhs_pes.len() || ri < rhs_pes.len() {
            if li < lhs_pes.len() && ri < rhs_pes.len() {
                let pe = &lhs_pes[li];
                if *pe == rhs_pes[ri] {
                    merged_rhs.insert(pe);
                    let l = observed_lhs.get(pe).copied();
                    let r = observed_rhs.get(pe).copied();
                    out.extend(self.merge(l, r, list.element));
                    li += 1;
                    ri += 1;
                    next_shared = shared.next();
                    continue;
                }
                if observed_rhs.contains_key(pe) && next_shared.is_some_and(|n| n != pe) {
                    li += 1;
                    continue;
                }
            }
            if li < lhs_pes.len() {
                let pe = &lhs_pes[li];
                if !observed_rhs.contains_key(pe) {
                    out.extend(self.merge(Some(&lhs[li]), None, list.element));
                    li += 1;
                    continue;
                } else if merged_rhs.contains(pe) {
                    li += 1;
                }
            }
            if ri < rhs_pes.len() {
                let pe = &rhs_pes[ri];
                merged_rhs.insert(pe);
                let l = observed_lhs.get(pe).copied();
                let r = observed_rhs.get(pe).copied();
                out.extend(self.merge(l, r, list.element));
                ri += 1;
                if next_shared == Some(pe) {
                    next_shared = shared.next();
                }
            }
        }
        Ok((!out.is_empty()).then_some(Value::Array(out)))
    }

    /// `v` without the fields of `remove`. A list or map left empty becomes null, as
    /// structured-merge-diff leaves it.
    pub fn remove_items(&self, v: &Value, remove: &FieldSet, tr: TypeRef) -> Value {
        match self.shape(tr, Some(v)) {
            Shape::Scalar(_) => v.clone(),
            Shape::List(list) => match v {
                Value::Array(items) if !items.is_empty() && list.associative => {
                    let mut kept = Vec::with_capacity(items.len());
                    for item in items {
                        let Ok(pe) = self.item_pe(list, item) else {
                            kept.push(item.clone());
                            continue;
                        };
                        if remove.has_member(&pe) {
                            continue;
                        }
                        match remove.child(&pe) {
                            Some(sub) => kept.push(self.remove_items(item, sub, list.element)),
                            None => kept.push(item.clone()),
                        }
                    }
                    if kept.is_empty() {
                        Value::Null
                    } else {
                        Value::Array(kept)
                    }
                }
                _ => Value::Null,
            },
            Shape::Map(m, atomic) => match v {
                Value::Object(obj) if !obj.is_empty() && !atomic => {
                    let mut kept = Map::new();
                    for (k, item) in obj {
                        let pe = PathElement::Field(k.clone());
                        if remove.has_member(&pe) {
                            continue;
                        }
                        let item = match remove.child(&pe) {
                            Some(sub) => self.remove_items(item, sub, Self::member_type(m, k)),
                            None => item.clone(),
                        };
                        kept.insert(k.clone(), item);
                    }
                    if kept.is_empty() {
                        Value::Null
                    } else {
                        Value::Object(kept)
                    }
                }
                _ => Value::Null,
            },
            Shape::None => Value::Null,
        }
    }

    /// `set` with every declared field that has children in it also a member (so that
    /// removing the set removes the field itself).
    pub fn ensure_named_fields_are_members(&self, set: &FieldSet, tr: Option<TypeRef>) -> FieldSet {
        let map = tr.and_then(|t| self.schema.atom(t.id).map.as_ref());
        let list = tr.and_then(|t| self.schema.atom(t.id).list.as_ref());
        let mut out = FieldSet::new();
        for m in set.members() {
            out.insert(std::slice::from_ref(m));
        }
        for (pe, child) in set.children() {
            let child_type = match (pe, map, list) {
                (PathElement::Field(name), Some(m), _) => {
                    if m.fields.contains_key(name) {
                        out.insert(std::slice::from_ref(pe));
                    }
                    Some(Self::member_type(m, name))
                }
                (PathElement::Key(_), _, Some(l)) => Some(l.element),
                _ => None,
            };
            out.insert_child(pe, self.ensure_named_fields_are_members(child, child_type));
        }
        out
    }

    /// `set` with granular ownership inside lists and maps that are now atomic replaced by
    /// ownership of the whole list or map (`ReconcileFieldSetWithSchema`); `None` when
    /// nothing changes.
    pub fn reconcile(&self, set: &FieldSet, tr: TypeRef) -> Option<FieldSet> {
        let mut collapse = FieldSet::new();
        let mut path = Vec::new();
        self.reconcile_at(Some(set), tr, false, &mut path, &mut collapse);
        if collapse.is_empty() {
            return None;
        }
        Some(set.recursive_difference(&collapse).union(&collapse))
    }

    fn reconcile_at(
        &self,
        set: Option<&FieldSet>,
        tr: TypeRef,
        is_atomic_member: bool,
        path: &mut Vec<PathElement>,
        collapse: &mut FieldSet,
    ) {
        let elements = |set: &FieldSet| -> Vec<(PathElement, bool)> {
            let mut v: Vec<(PathElement, bool)> = set
                .children()
                .filter(|(pe, _)| !set.has_member(pe))
                .map(|(pe, _)| (pe.clone(), false))
                .collect();
            v.extend(set.members().map(|pe| (pe.clone(), true)));
            v
        };
        match self.shape(tr, None) {
            Shape::Map(m, atomic) => {
                if m.fields.is_empty() && m.element == Some(TypeRef::of(DEDUCED)) {
                    return;
                }
                if !is_atomic_member && atomic {
                    if set.is_some_and(|s| !s.is_empty()) {
                        collapse.insert(path);
                    }
                    return;
                }
                let Some(set) = set else { return };
                for (pe, is_member) in elements(set) {
                    let ty = match &pe {
                        PathElement::Field(name) => m.fields.get(name).map(|f| f.ty).or(m.element),
                        _ => m.element,
                    };
                    let Some(ty) = ty else { continue };
                    let child = set.child(&pe);
                    path.push(pe);
                    self.reconcile_at(child, ty, is_member && child.is_none(), path, collapse);
                    path.pop();
                }
            }
            Shape::List(l) => {
                if !is_atomic_member && !l.associative {
                    collapse.insert(path);
                    return;
                }
                let Some(set) = set else { return };
                for (pe, is_member) in elements(set) {
                    let child = set.child(&pe);
                    path.push(pe);
                    self.reconcile_at(
                        child,
                        l.element,
                        is_member && child.is_none(),
                        path,
                        collapse,
                    );
                    path.pop();
                }
            }
            Shape::Scalar(_) | Shape::None => {}
        }
    }
}

fn keep_rhs(lhs: Option<&Value>, rhs: Option<&Value>) -> Option<Value> {
    rhs.or(lhs).cloned()
}

fn leaf_compare(l: Option<&Value>, r: Option<&Value>, path: &[PathElement], c: &mut Comparison) {
    match (l, r) {
        (None, _) => c.added.insert(path),
        (_, None) => c.removed.insert(path),
        (Some(a), Some(b)) if !values_equal(a, b) => c.modified.insert(path),
        _ => {}
    }
}

/// structured-merge-diff's scalar checks; null fits every scalar.
fn scalar_error(s: Scalar, v: &Value) -> Option<String> {
    let ok = matches!(
        (s, v),
        (_, Value::Null)
            | (Scalar::Numeric, Value::Number(_))
            | (Scalar::String, Value::String(_))
            | (Scalar::Boolean, Value::Bool(_))
            | (
                Scalar::Untyped,
                Value::Number(_) | Value::String(_) | Value::Bool(_)
            )
    );
    if ok {
        return None;
    }
    Some(match s {
        Scalar::Numeric => format!("expected numeric (int or float), got {}", go_type(v)),
        Scalar::String => format!("expected string, got {}", wrapped(v)),
        Scalar::Boolean => format!("expected boolean, got {}", wrapped(v)),
        Scalar::Untyped => format!("expected any scalar, got {}", wrapped(v)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::schema::{CrdSchema, SchemaLookup};
    use serde_json::json;

    fn schema() -> CrdSchema {
        let s = json!({"type": "object", "properties": {
            "setStr": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "setBool": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "boolean"}},
            "atomicList": {"type": "array", "items": {"type": "string"}},
            "list": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["key", "id"],
                "items": {"type": "object", "properties": {
                    "key": {"type": "string"}, "id": {"type": "integer"}, "bv": {"type": "boolean"}, "nv": {"type": "integer"},
                    "value": {"type": "object", "additionalProperties": {"type": "string"}}}}}
        }});
        CrdSchema::new("x/v1", "X", &s).unwrap()
    }

    /// Merges keep the configuration's order and the object's other items in place, as
    /// structured-merge-diff's own merge cases expect.
    #[test]
    fn merge_order() {
        let crd = schema();
        let root = crd.lookup("x/v1", "X").unwrap();
        let t = Typed::new(root.schema);
        let sets = |l: &[&str], r: &[&str], out: &[&str]| {
            (
                json!({"setStr": l}),
                json!({"setStr": r}),
                json!({"setStr": out}),
            )
        };
        let cases = [
            sets(&["a", "b", "c"], &["a", "b"], &["a", "b", "c"]),
            sets(&["a", "b"], &["b", "a"], &["b", "a"]),
            sets(&["a", "b", "c"], &[], &["a", "b", "c"]),
            sets(
                &["a", "b", "c", "g", "f"],
                &["c", "d", "e", "f"],
                &["a", "b", "c", "g", "d", "e", "f"],
            ),
            sets(
                &["c", "d", "e", "f"],
                &["a", "c", "e"],
                &["a", "c", "d", "e", "f"],
            ),
            sets(
                &["a", "b", "c", "x", "y", "z"],
                &["d", "e", "f", "x", "y", "z"],
                &["a", "b", "c", "d", "e", "f", "x", "y", "z"],
            ),
            sets(
                &["c", "a", "g", "f"],
                &["c", "f", "a", "g"],
                &["c", "f", "a", "g"],
            ),
            sets(
                &["a", "b", "c", "d"],
                &["d", "e", "f", "a"],
                &["b", "c", "d", "e", "f", "a"],
            ),
            sets(
                &["c", "d", "e", "f", "g", "h", "i", "j"],
                &["2", "h", "3", "e", "4", "k", "l"],
                &[
                    "c", "d", "f", "g", "2", "h", "i", "j", "3", "e", "4", "k", "l",
                ],
            ),
            sets(
                &["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"],
                &["1", "b", "2", "h", "3", "e", "4", "k", "l"],
                &[
                    "a", "1", "b", "c", "d", "f", "g", "2", "h", "i", "j", "3", "e", "4", "k", "l",
                ],
            ),
            (
                json!({"setBool": [true, false, true]}),
                json!({"setBool": [true]}),
                json!({"setBool": [true, false]}),
            ),
            (
                json!({"list": [{"key": "a", "id": 1}, {"key": "b", "id": 1}]}),
                json!({"list": [{"key": "a", "id": 1}, {"key": "a", "id": 2}]}),
                json!({"list": [{"key": "a", "id": 1}, {"key": "b", "id": 1}, {"key": "a", "id": 2}]}),
            ),
            (
                json!({"list": [{"key": "a", "id": 1}, {"key": "b", "id": 2}, {"key": "c", "id": 3}]}),
                json!({"list": [{"key": "c", "id": 3}, {"key": "a", "id": 1}]}),
                json!({"list": [{"key": "b", "id": 2}, {"key": "c", "id": 3}, {"key": "a", "id": 1}]}),
            ),
            (
                json!({"list": [{"key": "a", "id": 1, "bv": true}, {"key": "b", "id": 2}, {"key": "a", "id": 1, "bv": false, "nv": 2}]}),
                json!({"list": [{"key": "a", "id": 1, "nv": 3}, {"key": "c", "id": 3}, {"key": "b", "id": 2}]}),
                json!({"list": [{"key": "a", "id": 1, "nv": 3}, {"key": "c", "id": 3}, {"key": "b", "id": 2}]}),
            ),
            (
                json!({"list": [{"key": "a", "id": 1, "nv": 1}, {"key": "a", "id": 1, "nv": 2}]}),
                json!({"list": []}),
                json!({"list": [{"key": "a", "id": 1, "nv": 1}, {"key": "a", "id": 1, "nv": 2}]}),
            ),
            (
                json!({"atomicList": ["a", "a"]}),
                json!({"atomicList": null}),
                json!({"atomicList": null}),
            ),
            (
                json!({"atomicList": ["a", "b"]}),
                json!({"atomicList": []}),
                json!({"atomicList": []}),
            ),
        ];
        for (i, (l, r, want)) in cases.iter().enumerate() {
            assert_eq!(
                t.merge(Some(l), Some(r), root.root).as_ref(),
                Some(want),
                "case {i}: {l} + {r}"
            );
        }
    }

    #[test]
    fn compare_and_field_sets() {
        let crd = schema();
        let root = crd.lookup("x/v1", "X").unwrap();
        let t = Typed::new(root.schema);
        let l = json!({"list": [{"key": "a", "id": 1, "nv": 1}, {"key": "b", "id": 2}], "setStr": ["x"]});
        let r = json!({"list": [{"key": "a", "id": 1, "nv": 2}, {"key": "c", "id": 3}], "atomicList": ["q"]});
        let c = t.compare(Some(&l), Some(&r), root.root);
        let strings = |s: &FieldSet| {
            s.paths()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(strings(&c.modified), [".list[id=1,key=\"a\"].nv"]);
        assert_eq!(
            strings(&c.added),
            [
                ".atomicList",
                ".list[id=3,key=\"c\"]",
                ".list[id=3,key=\"c\"].id",
                ".list[id=3,key=\"c\"].key"
            ]
        );
        assert_eq!(
            strings(&c.removed),
            [
                ".setStr",
                ".list[id=2,key=\"b\"]",
                ".list[id=2,key=\"b\"].id",
                ".list[id=2,key=\"b\"].key",
                ".setStr[=\"x\"]"
            ]
        );
        // Duplicated items are owned as a whole.
        let dup =
            json!({"list": [{"key": "a", "id": 1, "nv": 1}, {"key": "a", "id": 1}], "value": null});
        assert_eq!(
            strings(&t.field_set_of(&dup, root.root)),
            [".value", ".list[id=1,key=\"a\"]"]
        );
        assert_eq!(t.validate(&dup, root.root, false).len(), 2);
        assert_eq!(
            t.validate(&dup, root.root, true).len(),
            1,
            "only the undeclared field"
        );
    }

    /// Ownership recorded inside what the schema now says is atomic becomes ownership of
    /// the whole (a CRD whose map turned atomic, a list that lost its list type).
    #[test]
    fn reconcile_with_schema_changes() {
        use crate::apply::schema::BuiltinSchema;
        let root = BuiltinSchema.lookup("apps/v1", "Deployment").unwrap();
        let t = Typed::new(root.schema);
        let granular = FieldSet::from_json(
            r#"{"f:spec":{"f:replicas":{},"f:selector":{"f:matchLabels":{"f:app":{}}},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:args":{"i:0":{}}}}}}}}"#,
        )
        .unwrap();
        let reconciled = t.reconcile(&granular, root.root).unwrap();
        assert_eq!(
            reconciled.to_json(),
            r#"{"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:args":{}}}}}}}"#
        );
        assert_eq!(
            t.reconcile(&reconciled, root.root),
            None,
            "nothing left to change"
        );
    }
}
