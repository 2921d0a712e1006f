//! Field paths and field sets (structured-merge-diff `fieldpath`), and their FieldsV1
//! encoding, the form `metadata.managedFields[].fieldsV1` holds.
//!
//! A path is a list of elements: a field name (`f:replicas`, printed `.replicas`), the key
//! of a map-list item (`k:{"name":"web"}`, printed `[name="web"]`), the value of a set-list
//! item (`v:"finalizer"`, printed `[="finalizer"]`) or a list index (`i:0`, `[0]`). A
//! [`FieldSet`] is a trie of paths: each node has *members* (paths that end there) and
//! *children*. FieldsV1 writes a node as a JSON object whose keys are the serialized
//! elements, `{}` for a member without children and `".": {}` inside a child that is also a
//! member.
//!
//! Order is structured-merge-diff's: field names before keys before values before indices;
//! names byte-wise, keys field by field, values numerically for numbers. [`FieldSet::to_json`]
//! writes the exact bytes kube-apiserver writes in that order; [`FieldSet::to_fields_v1`]
//! gives the same content as a `serde_json::Value`, whose object keys are in string order.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

use super::gofmt::{compare_values, json_string, json_value, smd_string};

/// One step of a field path.
#[derive(Clone, Debug)]
pub enum PathElement {
    /// A field of an object, or a key of a map.
    Field(String),
    /// An item of a map-list, by its key fields, sorted by name.
    Key(Vec<(String, Value)>),
    /// An item of a set-list, by its value.
    Value(Value),
    /// An item of a list by position (only in sets decoded from other writers).
    Index(usize),
}

impl PathElement {
    pub fn field(name: &str) -> PathElement {
        PathElement::Field(name.to_string())
    }

    /// A map-list key from its fields in any order (a name given twice counts once).
    pub fn key(fields: Vec<(String, Value)>) -> PathElement {
        let mut fields = fields;
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        fields.dedup_by(|a, b| a.0 == b.0);
        PathElement::Key(fields)
    }

    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }

    /// The FieldsV1 form: `f:name`, `k:{"name":"web"}`, `v:"x"`, `i:0`.
    pub fn serialize(&self) -> String {
        let mut out = String::new();
        match self {
            PathElement::Field(name) => {
                out.push_str("f:");
                out.push_str(name);
            }
            PathElement::Key(fields) => {
                out.push_str("k:{");
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    json_string(name, &mut out);
                    out.push(':');
                    json_value(value, &mut out);
                }
                out.push('}');
            }
            PathElement::Value(value) => {
                out.push_str("v:");
                json_value(value, &mut out);
            }
            PathElement::Index(i) => {
                out.push_str("i:");
                out.push_str(&i.to_string());
            }
        }
        out
    }

    /// Parses the FieldsV1 form. `Ok(None)` for an element type this version does not know,
    /// which readers skip, as kube-apiserver does.
    pub fn deserialize(s: &str) -> Result<Option<PathElement>, String> {
        let b = s.as_bytes();
        if b.len() < 2 {
            return Err(format!("key must be 2 characters long: {s}"));
        }
        if b[1] != b':' {
            return Err(format!("missing colon: {s}"));
        }
        let rest = &s[2..];
        Ok(Some(match b[0] {
            b'f' => PathElement::Field(rest.to_string()),
            b'v' => PathElement::Value(
                serde_json::from_str(rest).map_err(|e| format!("parsing {s:?}: {e}"))?,
            ),
            b'k' => {
                let fields = match serde_json::from_str::<Value>(rest) {
                    Ok(Value::Object(m)) => m.into_iter().collect(),
                    Ok(_) => return Err(format!("parsing {s:?}: a key must be a JSON object")),
                    Err(e) => return Err(format!("parsing {s:?}: {e}")),
                };
                PathElement::key(fields)
            }
            b'i' => PathElement::Index(rest.parse().map_err(|e| format!("parsing {s:?}: {e}"))?),
            _ => return Ok(None),
        }))
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.as_bytes().cmp(b.as_bytes()),
            (PathElement::Key(a), PathElement::Key(b)) => {
                for ((an, av), (bn, bv)) in a.iter().zip(b) {
                    let c = an
                        .as_bytes()
                        .cmp(bn.as_bytes())
                        .then_with(|| compare_values(av, bv));
                    if c != Ordering::Equal {
                        return c;
                    }
                }
                a.len().cmp(&b.len())
            }
            (PathElement::Value(a), PathElement::Value(b)) => compare_values(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

/// `.name`, `[name="web"]`, `[="x"]`, `[0]`: how conflict messages print elements.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let mut s = String::from("[");
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    s.push_str(name);
                    s.push('=');
                    smd_string(value, &mut s);
                }
                s.push(']');
                f.write_str(&s)
            }
            PathElement::Value(value) => {
                let mut s = String::from("[=");
                smd_string(value, &mut s);
                s.push(']');
                f.write_str(&s)
            }
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A field path from the object's root.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Path(pub Vec<PathElement>);

impl Path {
    /// A path of field names, e.g. `Path::fields(&["spec", "replicas"])`.
    pub fn fields(names: &[&str]) -> Path {
        Path(names.iter().map(|n| PathElement::field(n)).collect())
    }
}

/// `.spec.template.spec.containers[name="web"].image`.
impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for pe in &self.0 {
            write!(f, "{pe}")?;
        }
        Ok(())
    }
}

/// A set of field paths (structured-merge-diff `fieldpath.Set`). No child node is empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// The set of the given paths.
    pub fn from_paths<'p>(paths: impl IntoIterator<Item = &'p Path>) -> FieldSet {
        let mut s = FieldSet::new();
        for p in paths {
            s.insert(&p.0);
        }
        s
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds a path. The empty path adds nothing.
    pub fn insert(&mut self, path: &[PathElement]) {
        let Some((last, parents)) = path.split_last() else {
            return;
        };
        let mut node = self;
        for pe in parents {
            node = node.children.entry(pe.clone()).or_default();
        }
        node.members.insert(last.clone());
    }

    pub fn has(&self, path: &[PathElement]) -> bool {
        let Some((last, parents)) = path.split_last() else {
            return false;
        };
        let mut node = self;
        for pe in parents {
            match node.children.get(pe) {
                Some(c) => node = c,
                None => return false,
            }
        }
        node.members.contains(last)
    }

    /// The paths under `pe`, without `pe` itself (`Set.WithPrefix`).
    pub fn child(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children.get(pe)
    }

    pub fn has_member(&self, pe: &PathElement) -> bool {
        self.members.contains(pe)
    }

    pub(crate) fn members(&self) -> impl Iterator<Item = &PathElement> {
        self.members.iter()
    }

    pub(crate) fn children(&self) -> impl Iterator<Item = (&PathElement, &FieldSet)> {
        self.children.iter()
    }

    /// Adds the paths of `child` under `pe`.
    pub(crate) fn insert_child(&mut self, pe: &PathElement, child: FieldSet) {
        if child.is_empty() {
            return;
        }
        match self.children.get_mut(pe) {
            Some(mine) => mine.union_with(&child),
            None => {
                self.children.insert(pe.clone(), child);
            }
        }
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.union_with(other);
        out
    }

    pub fn union_with(&mut self, other: &FieldSet) {
        self.members.extend(other.members.iter().cloned());
        for (pe, c) in &other.children {
            match self.children.get_mut(pe) {
                Some(mine) => mine.union_with(c),
                None => {
                    self.children.insert(pe.clone(), c.clone());
                }
            }
        }
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, c) in &self.children {
            if let Some(o) = other.children.get(pe) {
                let i = c.intersection(o);
                if !i.is_empty() {
                    children.insert(pe.clone(), i);
                }
            }
        }
        FieldSet { members, children }
    }

    /// The paths of `self` not in `other`; a member of `other` does not take away the paths
    /// under it.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, c) in &self.children {
            match other.children.get(pe) {
                Some(o) => {
                    let d = c.difference(o);
                    if !d.is_empty() {
                        children.insert(pe.clone(), d);
                    }
                }
                None => {
                    children.insert(pe.clone(), c.clone());
                }
            }
        }
        FieldSet { members, children }
    }

    /// Like [`difference`](Self::difference), but a member of `other` also takes away every
    /// path under it.
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, c) in &self.children {
            if other.members.contains(pe) {
                continue;
            }
            match other.children.get(pe) {
                Some(o) => {
                    let d = c.recursive_difference(o);
                    if !d.is_empty() {
                        children.insert(pe.clone(), d);
                    }
                }
                None => {
                    children.insert(pe.clone(), c.clone());
                }
            }
        }
        FieldSet { members, children }
    }

    /// Every path, in structured-merge-diff's iteration order: a node's members, then its
    /// children's paths.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        let mut prefix = Vec::new();
        self.collect_paths(&mut prefix, &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Path>) {
        for m in &self.members {
            let mut p = prefix.clone();
            p.push(m.clone());
            out.push(Path(p));
        }
        for (pe, c) in &self.children {
            prefix.push(pe.clone());
            c.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The number of paths.
    pub fn len(&self) -> usize {
        self.members.len() + self.children.values().map(FieldSet::len).sum::<usize>()
    }

    /// The FieldsV1 value.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.fields_v1_object(false))
    }

    fn fields_v1_object(&self, include_self: bool) -> Map<String, Value> {
        let mut m = Map::new();
        if include_self && !self.is_empty() {
            m.insert(".".to_string(), Value::Object(Map::new()));
        }
        for pe in &self.members {
            if !self.children.contains_key(pe) {
                m.insert(pe.serialize(), Value::Object(Map::new()));
            }
        }
        for (pe, c) in &self.children {
            let inner = c.fields_v1_object(self.members.contains(pe));
            m.insert(pe.serialize(), Value::Object(inner));
        }
        m
    }

    /// The FieldsV1 JSON exactly as kube-apiserver writes it: compact, in
    /// structured-merge-diff order, strings escaped as Go escapes them.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        self.write_json(false, &mut out);
        out.push('}');
        out
    }

    fn write_json(&self, include_self: bool, out: &mut String) {
        let mut first = true;
        let mut sep = |out: &mut String| {
            if !std::mem::replace(&mut first, false) {
                out.push(',');
            }
        };
        if include_self && !self.is_empty() {
            sep(out);
            out.push_str("\".\":{}");
        }
        let mut members = self.members.iter().peekable();
        let mut children = self.children.iter().peekable();
        loop {
            let next_member = members.peek().copied();
            let next_child = children.peek().map(|(pe, _)| *pe);
            let member_first = match (next_member, next_child) {
                (None, None) => break,
                (Some(m), Some(c)) => m < c,
                (Some(_), None) => true,
                (None, Some(_)) => false,
            };
            if member_first {
                if let Some(m) = members.next() {
                    sep(out);
                    json_string(&m.serialize(), out);
                    out.push_str(":{}");
                }
            } else if let Some((pe, c)) = children.next() {
                let is_member = next_member == Some(pe);
                if is_member {
                    members.next();
                }
                sep(out);
                json_string(&pe.serialize(), out);
                out.push_str(":{");
                c.write_json(is_member, out);
                out.push('}');
            }
        }
    }

    /// Parses a FieldsV1 value. Keys of element types this version does not know are
    /// skipped; anything else malformed is an error.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        match v {
            Value::Object(m) => Ok(Self::read_node(m, 0)?.0),
            Value::Null => Ok(FieldSet::new()),
            other => Err(format!("FieldsV1 must be a JSON object, got {other}")),
        }
    }

    /// Parses FieldsV1 JSON text.
    pub fn from_json(s: &str) -> Result<FieldSet, String> {
        let v: Value = serde_json::from_str(s).map_err(|e| e.to_string())?;
        Self::from_fields_v1(&v)
    }

    /// A node's set, and whether the node itself is a member (it has `.` or no children).
    fn read_node(m: &Map<String, Value>, depth: usize) -> Result<(FieldSet, bool), String> {
        if depth > super::MAX_DEPTH {
            return Err(format!(
                "FieldsV1 nested deeper than {} levels",
                super::MAX_DEPTH
            ));
        }
        let mut set = FieldSet::new();
        let mut dot = false;
        for (k, v) in m {
            if k == "." {
                dot = true;
                continue;
            }
            let Some(pe) = PathElement::deserialize(k)? else {
                continue;
            };
            let Value::Object(inner) = v else {
                return Err(format!("FieldsV1 member {k:?} must be a JSON object"));
            };
            let (child, child_is_member) = Self::read_node(inner, depth + 1)?;
            if child_is_member {
                set.members.insert(pe.clone());
            }
            if !child.is_empty() {
                match set.children.get_mut(&pe) {
                    Some(existing) => existing.union_with(&child),
                    None => {
                        set.children.insert(pe, child);
                    }
                }
            }
        }
        let is_member = dot || set.is_empty();
        Ok((set, is_member))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn elements_order_and_print() {
        let k80 = PathElement::key(vec![
            ("protocol".into(), json!("TCP")),
            ("containerPort".into(), json!(80)),
        ]);
        let k9 = PathElement::key(vec![
            ("containerPort".into(), json!(9)),
            ("protocol".into(), json!("TCP")),
        ]);
        assert!(k9 < k80, "numeric key order");
        assert!(PathElement::field("zzz") < k9);
        assert!(k9 < PathElement::Value(json!("a")));
        assert!(PathElement::Value(json!("a")) < PathElement::Index(0));
        assert_eq!(k80.to_string(), "[containerPort=80,protocol=\"TCP\"]");
        assert_eq!(
            k80.serialize(),
            r#"k:{"containerPort":80,"protocol":"TCP"}"#
        );
        assert_eq!(
            PathElement::Value(json!("a<b")).serialize(),
            r#"v:"a\u003cb""#
        );
        for s in [
            r#"k:{"containerPort":80,"protocol":"TCP"}"#,
            "f:spec",
            "v:1.5",
            "i:3",
        ] {
            assert_eq!(PathElement::deserialize(s).unwrap().unwrap().serialize(), s);
        }
        assert_eq!(PathElement::deserialize("x:foo"), Ok(None));
        assert!(PathElement::deserialize("f").is_err());
        assert!(PathElement::deserialize("fx").is_err());
        assert!(PathElement::deserialize("k:[1]").is_err());
        assert!(PathElement::deserialize("i:-1").is_err());
    }

    #[test]
    fn set_algebra() {
        let p = |names: &[&str]| Path::fields(names);
        let a = FieldSet::from_paths(&[p(&["spec"]), p(&["spec", "replicas"]), p(&["spec", "x"])]);
        let b = FieldSet::from_paths(&[p(&["spec"]), p(&["spec", "x"]), p(&["status"])]);
        assert_eq!(a.union(&b).len(), 4);
        assert_eq!(
            a.intersection(&b),
            FieldSet::from_paths(&[p(&["spec"]), p(&["spec", "x"])])
        );
        assert_eq!(
            a.difference(&b),
            FieldSet::from_paths(&[p(&["spec", "replicas"])])
        );
        let only_spec = FieldSet::from_paths(&[p(&["spec"])]);
        assert_eq!(a.recursive_difference(&only_spec), FieldSet::new());
        assert_eq!(a.difference(&only_spec).len(), 2);
        assert!(a.has(&p(&["spec", "x"]).0) && !a.has(&p(&["x"]).0));
        assert_eq!(
            a.paths()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [".spec", ".spec.replicas", ".spec.x"]
        );
    }

    #[test]
    fn fields_v1_both_ways() {
        let text = r#"{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:ports":{"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},"f:port":{}},"k:{\"port\":443,\"protocol\":\"TCP\"}":{}}}}"#;
        let set = FieldSet::from_json(text).unwrap();
        assert_eq!(set.len(), 5);
        assert_eq!(set.to_json(), text);
        assert_eq!(FieldSet::from_fields_v1(&set.to_fields_v1()).unwrap(), set);
        // The Value form has the same content.
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(set.to_fields_v1(), v);
        assert_eq!(FieldSet::from_json("{}").unwrap(), FieldSet::new());
        assert!(FieldSet::from_json(r#"{"f:a": 1}"#).is_err());
        assert!(FieldSet::from_json("[]").is_err());
    }
}
