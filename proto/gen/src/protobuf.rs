//! Protobuf decoders and encoders for the generated structs, from the field table
//! `proto/schema/v1.33-protobuf-fields.json`.
//!
//! # The field table
//!
//! Written for Clipper from the Kubernetes 1.33 wire format (the field numbers of the
//! `generated.proto` messages and the Go struct tags); it holds facts only:
//!
//! ```json
//! {
//!   "definitions": {
//!     "io.k8s.api.core.v1.ConfigMap": {"binaryData": {"n": 3, "map": true}, "immutable": 4, ...},
//!     "io.k8s.api.core.v1.Volume": {"hostPath": [2, 1], "name": {"n": 1, "value": true}, ...}
//!   },
//!   "messages": {"io.k8s.apimachinery.pkg.api.resource.Quantity": {"string": 1}, ...}
//! }
//! ```
//!
//! `definitions` has one entry per OpenAPI definition of the served groups (the special
//! ones aside), keyed by the JSON field names of the definition; every property has an
//! entry except `apiVersion`/`kind`, which no object message carries. A field is either a
//! number, or an object with:
//! - `n`: the field number; or a path of numbers when the field belongs to an embedded Go
//!   struct that JSON shows inline (`[2, 1]`: field 1 of the message in field 2). Go holds
//!   embedded structs by value, so their message is always written;
//! - `repeated`: a repeated field (a JSON array); `map`: a `map<string, V>` (a JSON object),
//!   on the wire a repeated entry message {key 1, value 2};
//! - `items`: the value (each map value, for a map) is a message that wraps the list in its
//!   repeated field `items` (Go's named slices `Verbs` and `ExtraValue`);
//! - `value`: Go holds the field by value (not a pointer, slice or map), so it is on the
//!   wire even when zero;
//! - `omitempty`: a scalar Go holds by value, or a byte string, that Go's JSON leaves out
//!   when zero or empty; such a value on the wire therefore decodes as "unset".
//!
//! `messages` lists, by protobuf field name, the messages decoded by hand in
//! `clipper_proto::protobuf` (envelope, Quantity, IntOrString, Time, raw JSON, the
//! JSONSchemaProps unions, the list wrappers); a test checks the hand-written numbers
//! against it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

/// One field's entry in the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// Field numbers from the outer message inwards (more than one for inline structs).
    pub path: Vec<u32>,
    pub value: bool,
    pub omitempty: bool,
    pub repeated: bool,
    pub map: bool,
    pub items: Option<u32>,
}

/// The parsed field table.
#[derive(Clone, Debug, Default)]
pub struct FieldTable {
    pub definitions: BTreeMap<String, BTreeMap<String, Spec>>,
    pub messages: BTreeMap<String, BTreeMap<String, u32>>,
}

fn number(v: &Value) -> Result<u32> {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| (1..(1 << 29)).contains(n))
        .ok_or_else(|| anyhow!("{v} is not a field number"))
}

fn path(v: &Value) -> Result<Vec<u32>> {
    match v {
        Value::Array(items) if !items.is_empty() => items.iter().map(number).collect(),
        v => Ok(vec![number(v)?]),
    }
}

fn spec(v: &Value) -> Result<Spec> {
    let Some(obj) = v.as_object() else {
        return Ok(Spec {
            path: path(v)?,
            value: false,
            omitempty: false,
            repeated: false,
            map: false,
            items: None,
        });
    };
    for key in obj.keys() {
        if !["n", "value", "omitempty", "repeated", "map", "items"].contains(&key.as_str()) {
            bail!("unknown key {key:?}");
        }
    }
    let flag = |k: &str| -> Result<bool> {
        match obj.get(k) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => bail!("{k} is {other}, not a boolean"),
        }
    };
    let spec = Spec {
        path: path(obj.get("n").ok_or_else(|| anyhow!("no field number"))?)?,
        value: flag("value")?,
        omitempty: flag("omitempty")?,
        repeated: flag("repeated")?,
        map: flag("map")?,
        items: obj.get("items").map(number).transpose()?,
    };
    if spec.repeated && spec.map {
        bail!("a field cannot be both repeated and a map");
    }
    Ok(spec)
}

/// Parses the field table's JSON text.
pub fn parse_table(json: &str) -> Result<FieldTable> {
    let root: Value = serde_json::from_str(json).context("parsing the protobuf field table")?;
    let mut table = FieldTable::default();
    let defs = root
        .get("definitions")
        .and_then(Value::as_object)
        .ok_or_else(|| anyhow!("the field table has no definitions object"))?;
    for (name, fields) in defs {
        let fields = fields
            .as_object()
            .ok_or_else(|| anyhow!("{name} is not an object"))?;
        let mut specs = BTreeMap::new();
        for (json, v) in fields {
            specs.insert(
                json.clone(),
                spec(v).with_context(|| format!("{name}.{json}"))?,
            );
        }
        table.definitions.insert(name.clone(), specs);
    }
    let messages = root
        .get("messages")
        .and_then(Value::as_object)
        .ok_or_else(|| anyhow!("the field table has no messages object"))?;
    for (name, fields) in messages {
        let fields = fields
            .as_object()
            .ok_or_else(|| anyhow!("{name} is not an object"))?;
        let mut numbers = BTreeMap::new();
        for (field, v) in fields {
            numbers.insert(
                field.clone(),
                number(v).with_context(|| format!("{name}.{field}"))?,
            );
        }
        table.messages.insert(name.clone(), numbers);
    }
    Ok(table)
}

/// How a field holds its values, from the OpenAPI schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Container {
    Single,
    /// A JSON array.
    List,
    /// A JSON object with `additionalProperties`.
    Map,
}

impl Container {
    pub(crate) fn of(schema: &Value) -> Container {
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect(),
            _ => vec![],
        };
        match types.as_slice() {
            ["array"] => Container::List,
            ["object"]
                if schema
                    .get("additionalProperties")
                    .is_some_and(Value::is_object) =>
            {
                Container::Map
            }
            _ => Container::Single,
        }
    }
}

/// A struct field, as the protobuf generator needs it.
#[derive(Clone)]
pub(crate) struct PbField<'a> {
    pub json: &'a str,
    pub ident: &'a str,
    pub optional: bool,
    pub container: Container,
}

enum Node<'a> {
    Field(&'a PbField<'a>, &'a Spec),
    Inline(BTreeMap<u32, Node<'a>>),
}

fn insert<'a>(
    tree: &mut BTreeMap<u32, Node<'a>>,
    path: &[u32],
    field: &'a PbField<'a>,
    spec: &'a Spec,
) -> Result<()> {
    match path {
        [] => bail!("empty field path"),
        [n] => {
            if tree.insert(*n, Node::Field(field, spec)).is_some() {
                bail!("field number {n} is used twice");
            }
            Ok(())
        }
        [n, rest @ ..] => match tree
            .entry(*n)
            .or_insert_with(|| Node::Inline(BTreeMap::new()))
        {
            Node::Inline(sub) => insert(sub, rest, field, spec),
            Node::Field(..) => bail!("field number {n} is both a field and an inline struct"),
        },
    }
}

/// The decode and encode helper calls for one field.
fn calls(f: &PbField<'_>, spec: &Spec) -> Result<(String, String)> {
    let ident = f.ident;
    let n = spec.path.last().copied().unwrap_or_default();
    let opt = if f.optional { "opt_" } else { "" };
    let single_only = |what: &str, set: bool| -> Result<()> {
        if set && f.container != Container::Single {
            bail!("{what} applies only to single values");
        }
        Ok(())
    };
    single_only("value", spec.value)?;
    single_only("omitempty", spec.omitempty)?;
    Ok(match (f.container, spec.items) {
        (Container::Single, None) => {
            if spec.repeated || spec.map {
                bail!("the schema has a single value where the table has a list or map");
            }
            // Zero means unset for value-type scalars and for byte strings (Go keeps an
            // empty one, but its JSON omits it just the same).
            let de = match (f.optional, spec.omitempty) {
                (false, _) => "value",
                (true, true) => "opt_nonzero",
                (true, false) => "opt",
            };
            let en = match (f.optional, spec.value) {
                (false, _) => "value",
                (true, true) => "opt_value",
                (true, false) => "opt",
            };
            (
                format!("de::{de}(&mut self.{ident}, f)"),
                format!("en::{en}(out, {n}, &self.{ident});"),
            )
        }
        (Container::List, None) => {
            if !spec.repeated {
                bail!("the schema has a list where the table has no repeated field");
            }
            (
                format!("de::{opt}repeated(&mut self.{ident}, f)"),
                format!("en::{opt}repeated(out, {n}, &self.{ident});"),
            )
        }
        (Container::List, Some(items)) => {
            if spec.repeated || spec.map {
                bail!("a wrapped list is one message, not a repeated field or map");
            }
            (
                format!("de::{opt}items(&mut self.{ident}, f, {items})"),
                format!("en::{opt}items(out, {n}, &self.{ident}, {items});"),
            )
        }
        (Container::Map, items) => {
            if !spec.map {
                bail!("the schema has a map where the table has none");
            }
            match items {
                None => (
                    format!("de::{opt}map(&mut self.{ident}, f)"),
                    format!("en::{opt}map(out, {n}, &self.{ident});"),
                ),
                Some(items) => (
                    format!("de::{opt}map_items(&mut self.{ident}, f, {items})"),
                    format!("en::{opt}map_items(out, {n}, &self.{ident}, {items});"),
                ),
            }
        }
        (Container::Single, Some(_)) => bail!("items applies only to lists"),
    })
}

fn decode_arms(tree: &BTreeMap<u32, Node<'_>>, ty: &str, out: &mut String) -> Result<()> {
    for (n, node) in tree {
        match node {
            Node::Field(f, spec) => {
                let (de, _) = calls(f, spec).with_context(|| format!("field {}", f.json))?;
                writeln!(out, "{n} => {de},")?;
            }
            Node::Inline(sub) => {
                writeln!(out, "{n} => de::inline(f, {ty:?}, |f| match f.number {{")?;
                decode_arms(sub, ty, out)?;
                writeln!(out, "_ => Ok(()),")?;
                writeln!(out, "}}),")?;
            }
        }
    }
    Ok(())
}

fn encode_fields(tree: &BTreeMap<u32, Node<'_>>, out: &mut String) -> Result<()> {
    for (n, node) in tree {
        match node {
            Node::Field(f, spec) => {
                let (_, en) = calls(f, spec).with_context(|| format!("field {}", f.json))?;
                writeln!(out, "{en}")?;
            }
            Node::Inline(sub) => {
                writeln!(out, "en::inline(out, {n}, |out| {{")?;
                encode_fields(sub, out)?;
                writeln!(out, "}});")?;
            }
        }
    }
    Ok(())
}

/// The `Decode` and `Encode` impls of one generated struct.
pub(crate) fn generate_impls(
    def_name: &str,
    ty: &str,
    fields: &[PbField<'_>],
    table: &FieldTable,
) -> Result<String> {
    let specs = table
        .definitions
        .get(def_name)
        .ok_or_else(|| anyhow!("the protobuf field table has no entry for {def_name}"))?;
    for json in specs.keys() {
        if !fields.iter().any(|f| f.json == json) {
            bail!("the protobuf field table lists {json}, which the definition does not have");
        }
    }
    let mut tree = BTreeMap::new();
    for f in fields {
        match specs.get(f.json) {
            Some(spec) => insert(&mut tree, &spec.path, f, spec)
                .with_context(|| format!("field {}", f.json))?,
            // TypeMeta is not part of any object message.
            None if f.json == "apiVersion" || f.json == "kind" => {}
            None => bail!(
                "the protobuf field table has no number for {def_name}.{}",
                f.json
            ),
        }
    }

    let mut code = String::new();
    writeln!(code)?;
    writeln!(code, "impl crate::protobuf::Decode for {ty} {{")?;
    writeln!(code, "    const MESSAGE: &'static str = {ty:?};")?;
    if tree.is_empty() {
        writeln!(
            code,
            "    fn merge_field(&mut self, _f: crate::protobuf::Field<'_>) -> Result<(), crate::protobuf::ProtobufError> {{ Ok(()) }}"
        )?;
    } else {
        writeln!(
            code,
            "    fn merge_field(&mut self, f: crate::protobuf::Field<'_>) -> Result<(), crate::protobuf::ProtobufError> {{"
        )?;
        writeln!(code, "        use crate::protobuf::de;")?;
        writeln!(code, "        match f.number {{")?;
        decode_arms(&tree, ty, &mut code)?;
        writeln!(code, "            _ => Ok(()),")?;
        writeln!(code, "        }}")?;
        writeln!(code, "    }}")?;
    }
    writeln!(code, "}}")?;
    writeln!(code)?;
    writeln!(code, "impl crate::protobuf::Encode for {ty} {{")?;
    if tree.is_empty() {
        writeln!(code, "    fn encode_fields(&self, _out: &mut Vec<u8>) {{}}")?;
    } else {
        writeln!(code, "    fn encode_fields(&self, out: &mut Vec<u8>) {{")?;
        writeln!(code, "        use crate::protobuf::en;")?;
        encode_fields(&tree, &mut code)?;
        writeln!(code, "    }}")?;
    }
    writeln!(code, "}}")?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(defs: &str) -> Result<FieldTable> {
        parse_table(&format!(r#"{{"definitions": {defs}, "messages": {{}}}}"#))
    }

    #[test]
    fn table_entries_parse_and_bad_ones_are_refused() {
        let t = table(
            r#"{"a.B": {"x": 1, "y": [2, 3], "z": {"n": 4, "value": true, "omitempty": true}}}"#,
        )
        .expect("valid table");
        let b = &t.definitions["a.B"];
        assert_eq!(b["x"].path, vec![1]);
        assert_eq!(b["y"].path, vec![2, 3]);
        assert!(b["z"].value && b["z"].omitempty && !b["z"].map);
        for bad in [
            r#"{"a.B": {"x": 0}}"#,
            r#"{"a.B": {"x": 536870912}}"#,
            r#"{"a.B": {"x": "1"}}"#,
            r#"{"a.B": {"x": {"n": 1, "packed": true}}}"#,
            r#"{"a.B": {"x": {"n": 1, "map": true, "repeated": true}}}"#,
            r#"{"a.B": {"x": {"value": true}}}"#,
        ] {
            assert!(table(bad).is_err(), "{bad}");
        }
    }

    fn field<'a>(json: &'a str, container: Container, optional: bool) -> PbField<'a> {
        PbField {
            json,
            ident: json,
            optional,
            container,
        }
    }

    #[test]
    fn the_table_must_agree_with_the_schema() {
        // A list the table does not call repeated is refused.
        let t = table(r#"{"a.B": {"list": 1}}"#).expect("table");
        let list = [field("list", Container::List, true)];
        assert!(generate_impls("a.B", "B", &list, &t).is_err());
        // So is a number used twice, and a table field the schema does not have.
        let t =
            table(r#"{"a.B": {"list": {"n": 1, "repeated": true}, "other": 1}}"#).expect("table");
        let two = [list[0].clone(), field("other", Container::Single, true)];
        assert!(generate_impls("a.B", "B", &two, &t).is_err());
        assert!(generate_impls("a.B", "B", &list, &t).is_err());
        let t =
            table(r#"{"a.B": {"list": {"n": 1, "repeated": true}, "map": {"n": 2, "map": true}}}"#)
                .expect("table");
        let fields = [
            field("list", Container::List, true),
            field("map", Container::Map, false),
        ];
        let code = generate_impls("a.B", "B", &fields, &t).expect("consistent");
        assert!(code.contains("1 => de::opt_repeated(&mut self.list, f),"));
        assert!(code.contains("2 => de::map(&mut self.map, f),"));
        // A schema field the table does not number is refused; apiVersion/kind are exempt.
        let fields = [
            field("list", Container::List, true),
            field("map", Container::Map, false),
            field("kind", Container::Single, true),
            field("extra", Container::Single, true),
        ];
        assert!(generate_impls("a.B", "B", &fields, &t).is_err());
        assert!(generate_impls("a.B", "B", &fields[..3], &t).is_ok());
    }

    #[test]
    fn inline_structs_nest_their_fields() {
        let t = table(r#"{"a.V": {"name": {"n": 1, "value": true}, "hostPath": [2, 1]}}"#)
            .expect("table");
        let fields = [
            field("name", Container::Single, false),
            field("hostPath", Container::Single, true),
        ];
        let code = generate_impls("a.V", "V", &fields, &t).expect("generates");
        assert!(code.contains(
            "2 => de::inline(f, \"V\", |f| match f.number {\n1 => de::opt(&mut self.hostPath, f),"
        ));
        assert!(code.contains("en::inline(out, 2, |out| {\nen::opt(out, 1, &self.hostPath);"));
    }
}
