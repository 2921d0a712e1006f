//! The types server-side apply merges by (structured-merge-diff `schema`), built from
//! Clipper's Kubernetes definitions for built-in kinds, from a CRD's `openAPIV3Schema` for
//! custom resources, or deduced from the values when no schema is known.
//!
//! Each type is an *atom*: a scalar, a list, a map, or several of them (the value picks
//! one). Lists are atomic (replaced whole) or associative: a *map-list* keyed by
//! `x-kubernetes-list-map-keys`, or a *set* of scalars. Maps are granular (merged per
//! key) or atomic. The rules are kube-openapi `schemaconv`'s:
//!
//! - `x-kubernetes-list-type` decides; without it a list whose patch strategy is `merge`
//!   is a map-list keyed by its patch merge key (a set without one); any other list is
//!   atomic;
//! - `x-kubernetes-map-type: atomic` on a definition or on the field that refers to it
//!   makes the map atomic;
//! - `RawExtension` is untyped and atomic; `Quantity`, `IntOrString` and the times are
//!   untyped scalars; free-form JSON (`JSON`, `FieldsV1`, objects without properties) is
//!   *deduced*: maps merge per key, lists are atomic;
//! - objects reject members their schema does not declare, unless
//!   `x-kubernetes-preserve-unknown-fields` lets them in (deduced).
//!
//! Clipper's definitions carry no `default` values, so the key defaults Kubernetes 1.33
//! declares on map-list keys (`protocol: TCP` on container and service ports) are listed in
//! [`KEY_DEFAULTS`].

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use clipper_proto::schema::{Definition, Field, FieldType, ListType, Schema as Definitions};
use serde_json::{Map, Value};

/// A type in a [`Schema`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TypeId(u32);

/// Untyped and atomic: any scalar, a list or a map replaced whole.
pub(crate) const UNTYPED: TypeId = TypeId(0);
/// Untyped and deduced: any scalar, an atomic list, or a map merged per key.
pub(crate) const DEDUCED: TypeId = TypeId(1);
const STRING: TypeId = TypeId(2);
const NUMERIC: TypeId = TypeId(3);
const BOOLEAN: TypeId = TypeId(4);
const UNTYPED_SCALAR: TypeId = TypeId(5);

/// A reference to a type, possibly overriding its map to atomic (structured-merge-diff's
/// `TypeRef.ElementRelationship`, from `x-kubernetes-map-type` on the referring field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TypeRef {
    pub id: TypeId,
    pub atomic: bool,
}

impl TypeRef {
    pub(crate) const fn of(id: TypeId) -> TypeRef {
        TypeRef { id, atomic: false }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scalar {
    String,
    Numeric,
    Boolean,
    Untyped,
}

#[derive(Clone, Debug)]
pub(crate) struct ListDef {
    pub element: TypeRef,
    /// Merged per item (a map-list with `keys`, a set without) rather than replaced.
    pub associative: bool,
    pub keys: Vec<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct StructField {
    pub ty: TypeRef,
    /// The value a map-list key takes when an item omits it.
    pub default: Option<Value>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct MapDef {
    pub fields: BTreeMap<String, StructField>,
    /// The type of members not in `fields`; `None` rejects them.
    pub element: Option<TypeRef>,
    pub atomic: bool,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Atom {
    pub scalar: Option<Scalar>,
    pub list: Option<ListDef>,
    pub map: Option<MapDef>,
}

/// Types by [`TypeId`].
#[derive(Debug)]
pub struct Schema {
    atoms: Vec<Atom>,
}

impl Schema {
    /// A schema holding only the untyped, deduced and scalar types.
    fn base() -> Schema {
        let untyped = Atom {
            scalar: Some(Scalar::Untyped),
            list: Some(ListDef {
                element: TypeRef::of(UNTYPED),
                associative: false,
                keys: vec![],
            }),
            map: Some(MapDef {
                element: Some(TypeRef::of(UNTYPED)),
                atomic: true,
                ..MapDef::default()
            }),
        };
        let deduced = Atom {
            scalar: Some(Scalar::Untyped),
            list: Some(ListDef {
                element: TypeRef::of(UNTYPED),
                associative: false,
                keys: vec![],
            }),
            map: Some(MapDef {
                element: Some(TypeRef::of(DEDUCED)),
                ..MapDef::default()
            }),
        };
        let scalar = |s| Atom {
            scalar: Some(s),
            ..Atom::default()
        };
        Schema {
            atoms: vec![
                untyped,
                deduced,
                scalar(Scalar::String),
                scalar(Scalar::Numeric),
                scalar(Scalar::Boolean),
                scalar(Scalar::Untyped),
            ],
        }
    }

    pub(crate) fn atom(&self, id: TypeId) -> &Atom {
        // Ids are only made by this schema's builder; a foreign id reads as deduced.
        self.atoms
            .get(id.0 as usize)
            .unwrap_or(&self.atoms[DEDUCED.0 as usize])
    }

    fn push(&mut self, atom: Atom) -> TypeId {
        self.atoms.push(atom);
        TypeId((self.atoms.len() - 1) as u32)
    }

    fn set(&mut self, id: TypeId, atom: Atom) {
        if let Some(slot) = self.atoms.get_mut(id.0 as usize) {
            *slot = atom;
        }
    }
}

/// Defaults of map-list key fields that Kubernetes 1.33 declares (`+default`) and the
/// compiled-in definitions leave out: (definition, field, default).
pub const KEY_DEFAULTS: &[(&str, &str, &str)] = &[
    ("io.k8s.api.core.v1.ContainerPort", "protocol", "TCP"),
    ("io.k8s.api.core.v1.ServicePort", "protocol", "TCP"),
];

const RAW_EXTENSION: &str = "io.k8s.apimachinery.pkg.runtime.RawExtension";
const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// Deepest `openAPIV3Schema` nesting converted: the depth the JSON decoder accepts, so
/// nothing deeper can reach here anyway.
const MAX_SCHEMA_DEPTH: usize = super::MAX_DEPTH;

/// Builds types into a [`Schema`].
struct Builder<'p> {
    schema: Schema,
    definitions: &'p Definitions,
    by_name: HashMap<String, TypeId>,
}

impl<'p> Builder<'p> {
    fn new(definitions: &'p Definitions) -> Builder<'p> {
        Builder {
            schema: Schema::base(),
            definitions,
            by_name: HashMap::new(),
        }
    }

    /// The type of a built-in definition, converting it (and what it refers to) once.
    fn definition(&mut self, name: &str) -> TypeId {
        if let Some(id) = self.by_name.get(name) {
            return *id;
        }
        if name == RAW_EXTENSION {
            return UNTYPED;
        }
        let Some(def) = self.definitions.definition(name) else {
            return DEDUCED;
        };
        match &def.scalar {
            Some(FieldType::Any) => return DEDUCED,
            Some(_) => return UNTYPED_SCALAR,
            None => {}
        }
        // Reserve the id first: definitions refer to themselves (JSONSchemaProps).
        let id = self.schema.push(Atom::default());
        self.by_name.insert(name.to_string(), id);
        let mut fields = BTreeMap::new();
        for (field_name, field) in &def.properties {
            let ty = self.field(field);
            let default = KEY_DEFAULTS
                .iter()
                .find(|(d, f, _)| *d == name && f == field_name)
                .map(|(_, _, v)| Value::String((*v).to_string()));
            fields.insert(field_name.clone(), StructField { ty, default });
        }
        let map = MapDef {
            fields,
            element: None,
            atomic: def.atomic,
        };
        self.schema.set(
            id,
            Atom {
                map: Some(map),
                ..Atom::default()
            },
        );
        id
    }

    fn field(&mut self, field: &Field) -> TypeRef {
        match &field.ty {
            FieldType::Ref(name) => TypeRef {
                id: self.definition(name),
                atomic: field.map_atomic,
            },
            FieldType::Array(item) => {
                let element = self.field(item);
                let (associative, keys) = match field.list_type {
                    Some(ListType::Atomic) => (false, vec![]),
                    Some(ListType::Set) => (true, vec![]),
                    Some(ListType::Map) => (true, field.list_map_keys.clone()),
                    None if field.merges() => {
                        (true, field.patch_merge_key.iter().cloned().collect())
                    }
                    None => (false, vec![]),
                };
                let list = ListDef {
                    element,
                    associative,
                    keys,
                };
                TypeRef::of(self.schema.push(Atom {
                    list: Some(list),
                    ..Atom::default()
                }))
            }
            FieldType::Map(value) => {
                let element = self.field(value);
                let map = MapDef {
                    element: Some(element),
                    atomic: field.map_atomic,
                    ..MapDef::default()
                };
                TypeRef::of(self.schema.push(Atom {
                    map: Some(map),
                    ..Atom::default()
                }))
            }
            FieldType::String | FieldType::Bytes => TypeRef::of(STRING),
            FieldType::Integer | FieldType::Number => TypeRef::of(NUMERIC),
            FieldType::Boolean => TypeRef::of(BOOLEAN),
            FieldType::Any => TypeRef::of(DEDUCED),
        }
    }

    /// The type of a structural `openAPIV3Schema` node.
    fn crd_node(&mut self, s: &Value, preserve: bool, depth: usize) -> Result<TypeRef, String> {
        if depth > MAX_SCHEMA_DEPTH {
            return Err(format!(
                "schema nested deeper than {MAX_SCHEMA_DEPTH} levels"
            ));
        }
        let flag = |k: &str| s.get(k).and_then(Value::as_bool) == Some(true);
        let preserve = preserve || flag("x-kubernetes-preserve-unknown-fields");
        if flag("x-kubernetes-int-or-string") {
            return Ok(TypeRef::of(UNTYPED_SCALAR));
        }
        let ty = match s.get("type") {
            None | Some(Value::Null) => "",
            Some(Value::String(t)) => t.as_str(),
            Some(other) => return Err(format!("unrecognized type: '{other}'")),
        };
        let atom = match ty {
            "object" => Atom {
                map: Some(self.crd_map(s, preserve, depth)?),
                ..Atom::default()
            },
            "array" => Atom {
                list: Some(self.crd_list(s, preserve, depth)?),
                ..Atom::default()
            },
            "string" => {
                let format = s.get("format").and_then(Value::as_str).unwrap_or("");
                let id = if matches!(format, "" | "byte") {
                    STRING
                } else {
                    UNTYPED_SCALAR
                };
                return Ok(TypeRef::of(id));
            }
            "integer" | "number" => return Ok(TypeRef::of(NUMERIC)),
            "boolean" => return Ok(TypeRef::of(BOOLEAN)),
            "" => Atom {
                scalar: Some(Scalar::Untyped),
                list: Some(self.crd_list(s, preserve, depth)?),
                map: Some(self.crd_map(s, preserve, depth)?),
            },
            other => return Err(format!("unrecognized type: '{other}'")),
        };
        Ok(TypeRef::of(self.schema.push(atom)))
    }

    fn crd_map(&mut self, s: &Value, preserve: bool, depth: usize) -> Result<MapDef, String> {
        let mut fields = BTreeMap::new();
        let properties = s.get("properties").and_then(Value::as_object);
        let no_properties = properties.is_none_or(|p| p.is_empty());
        for (name, prop) in properties.into_iter().flatten() {
            let ty = self.crd_node(prop, preserve, depth + 1)?;
            let default = prop.get("default").cloned();
            fields.insert(name.clone(), StructField { ty, default });
        }
        if s.get("x-kubernetes-embedded-resource")
            .and_then(Value::as_bool)
            == Some(true)
        {
            self.add_type_meta(&mut fields);
        }
        let element = match s.get("additionalProperties") {
            None | Some(Value::Null) if preserve || no_properties => Some(TypeRef::of(DEDUCED)),
            None | Some(Value::Null) | Some(Value::Bool(false)) => None,
            Some(Value::Bool(true)) => Some(TypeRef::of(DEDUCED)),
            Some(schema) => Some(self.crd_node(schema, preserve, depth + 1)?),
        };
        let atomic = match s.get("x-kubernetes-map-type").and_then(Value::as_str) {
            None | Some("granular") => false,
            Some("atomic") => true,
            Some(other) => return Err(format!("unknown map type {other}")),
        };
        Ok(MapDef {
            fields,
            element,
            atomic,
        })
    }

    fn crd_list(&mut self, s: &Value, preserve: bool, depth: usize) -> Result<ListDef, String> {
        let element = match s.get("items") {
            None | Some(Value::Null) => TypeRef::of(UNTYPED),
            Some(Value::Array(_)) => {
                return Err("structural schema arrays must have exactly one member subtype".into());
            }
            Some(items) => self.crd_node(items, preserve, depth + 1)?,
        };
        let (associative, keys) = match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
            None | Some("atomic") => (false, vec![]),
            Some("set") => (true, vec![]),
            Some("map") => {
                let keys: Vec<String> = s
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .ok_or("missing map keys")?
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect();
                (true, keys)
            }
            Some(other) => return Err(format!("unknown list type {other}")),
        };
        Ok(ListDef {
            element,
            associative,
            keys,
        })
    }

    /// `apiVersion`, `kind` and `metadata`, as every resource has them.
    fn add_type_meta(&mut self, fields: &mut BTreeMap<String, StructField>) {
        let string = StructField {
            ty: TypeRef::of(STRING),
            default: None,
        };
        fields
            .entry("apiVersion".into())
            .or_insert_with(|| string.clone());
        fields.entry("kind".into()).or_insert(string);
        let meta = TypeRef::of(self.definition(OBJECT_META));
        fields.insert(
            "metadata".into(),
            StructField {
                ty: meta,
                default: None,
            },
        );
    }
}

/// The type of one kind's objects, as a [`SchemaLookup`] finds it.
#[derive(Clone, Copy)]
pub struct TypedRoot<'s> {
    pub(crate) schema: &'s Schema,
    pub(crate) root: TypeRef,
    /// The built-in definition, for the empty object a create starts from.
    definition: Option<&'s Definition>,
}

impl<'s> TypedRoot<'s> {
    /// Objects merged without a schema: maps per key, lists whole.
    pub fn deduced() -> TypedRoot<'static> {
        static BASE: LazyLock<Schema> = LazyLock::new(Schema::base);
        TypedRoot {
            schema: &BASE,
            root: TypeRef::of(DEDUCED),
            definition: None,
        }
    }

    /// The object kube-apiserver compares a create against: a new object of the kind,
    /// [`go_fill`](Self::go_fill)ed for a built-in kind (without `apiVersion` and `kind`,
    /// which Go leaves empty), `apiVersion` and `kind` only for others.
    pub(crate) fn empty_object(&self, api_version: &str, kind: &str) -> Value {
        match self.definition {
            Some(_) => {
                let mut v = Value::Object(Map::new());
                self.go_fill(&mut v);
                v
            }
            None => serde_json::json!({"apiVersion": api_version, "kind": kind}),
        }
    }

    /// Adds to a built-in object the members Go's typed objects always have, as
    /// kube-apiserver sees every object after decoding it into its Go type: members
    /// without `omitempty` (`required` in the definitions) at their zero value, and the
    /// embedded structs (`metadata`, `spec`, `status`, `strategy`, `updateStrategy`) as
    /// objects. Custom resources are left as they are.
    pub(crate) fn go_fill(&self, v: &mut Value) {
        if let Some(def) = self.definition {
            go_fill_object(clipper_proto::schema::schema(), def, v, 0);
        }
    }
}

/// Optional struct members Go always writes (non-pointer structs), by field name.
const EMBEDDED_STRUCTS: &[&str] = &["metadata", "spec", "status", "strategy", "updateStrategy"];

/// How deep zero members nest: enough for a CronJob's pod template (six levels); the
/// walk below that follows existing members only.
const MAX_ZERO_DEPTH: usize = 8;

/// The struct definition a Ref names, if it is one.
fn struct_def<'d>(definitions: &'d Definitions, field: &Field) -> Option<&'d Definition> {
    match &field.ty {
        FieldType::Ref(r) => definitions.definition(r).filter(|d| d.scalar.is_none()),
        _ => None,
    }
}

fn go_fill_object(definitions: &Definitions, def: &Definition, v: &mut Value, depth: usize) {
    if depth > MAX_SCHEMA_DEPTH {
        return;
    }
    let Value::Object(m) = v else { return };
    for (name, field) in &def.properties {
        match m.get_mut(name) {
            Some(child) => go_fill_field(definitions, field, child, depth + 1),
            None => {
                if let Some(zero) = zero_member(definitions, def, name, field, depth) {
                    m.insert(name.clone(), zero);
                }
            }
        }
    }
}

fn go_fill_field(definitions: &Definitions, field: &Field, v: &mut Value, depth: usize) {
    match (&field.ty, v) {
        (FieldType::Ref(_), v) => {
            if let Some(d) = struct_def(definitions, field) {
                go_fill_object(definitions, d, v, depth);
            }
        }
        (FieldType::Array(item), Value::Array(items)) => {
            for i in items {
                go_fill_field(definitions, item, i, depth + 1);
            }
        }
        (FieldType::Map(value), Value::Object(m)) => {
            for i in m.values_mut() {
                go_fill_field(definitions, value, i, depth + 1);
            }
        }
        _ => {}
    }
}

/// The zero value Go writes for an absent member, or `None` when it leaves it out.
fn zero_member(
    definitions: &Definitions,
    def: &Definition,
    name: &str,
    field: &Field,
    depth: usize,
) -> Option<Value> {
    let required = def.required.iter().any(|r| r == name);
    if let Some(d) = struct_def(definitions, field) {
        if name == "metadata" {
            return Some(Value::Object(Map::new()));
        }
        if (required || EMBEDDED_STRUCTS.contains(&name)) && depth < MAX_ZERO_DEPTH {
            let mut zero = Value::Object(Map::new());
            go_fill_object(definitions, d, &mut zero, depth + 1);
            return Some(zero);
        }
        return None;
    }
    if !required {
        return None;
    }
    Some(match &field.ty {
        FieldType::String | FieldType::Bytes => Value::String(String::new()),
        FieldType::Integer | FieldType::Number => Value::from(0),
        FieldType::Boolean => Value::Bool(false),
        _ => Value::Null,
    })
}

/// Finds the type of objects by `apiVersion` and `kind`. `None` merges them deduced.
pub trait SchemaLookup: Send + Sync {
    fn lookup(&self, api_version: &str, kind: &str) -> Option<TypedRoot<'_>>;
}

/// The built-in kinds of Kubernetes 1.33.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuiltinSchema;

struct Builtin {
    schema: Schema,
    by_name: HashMap<String, TypeId>,
}

static BUILTIN: LazyLock<Builtin> = LazyLock::new(|| {
    let definitions = clipper_proto::schema::schema();
    let mut b = Builder::new(definitions);
    let mut names: Vec<&String> = definitions.definitions.keys().collect();
    names.sort();
    for name in names {
        b.definition(name);
    }
    Builtin {
        schema: b.schema,
        by_name: b.by_name,
    }
});

impl SchemaLookup for BuiltinSchema {
    fn lookup(&self, api_version: &str, kind: &str) -> Option<TypedRoot<'_>> {
        let def = clipper_proto::schema::schema().definition_for_kind(api_version, kind)?;
        let id = BUILTIN.by_name.get(&def.name)?;
        Some(TypedRoot {
            schema: &BUILTIN.schema,
            root: TypeRef::of(*id),
            definition: Some(def),
        })
    }
}

/// No schema at all: every kind merges deduced.
#[derive(Clone, Copy, Debug, Default)]
pub struct Untyped;

impl SchemaLookup for Untyped {
    fn lookup(&self, _: &str, _: &str) -> Option<TypedRoot<'_>> {
        None
    }
}

/// The first schema that knows the kind.
impl SchemaLookup for [&dyn SchemaLookup] {
    fn lookup(&self, api_version: &str, kind: &str) -> Option<TypedRoot<'_>> {
        self.iter().find_map(|s| s.lookup(api_version, kind))
    }
}

/// One version of a custom resource, typed by its CRD's structural `openAPIV3Schema`
/// (`apiVersion`, `kind` and `metadata: ObjectMeta` added as Kubernetes adds them).
#[derive(Debug)]
pub struct CrdSchema {
    api_version: String,
    kind: String,
    schema: Schema,
    root: TypeRef,
}

impl CrdSchema {
    /// The schema of `api_version`/`kind` objects from an `openAPIV3Schema`. An error names
    /// the first construct schemaconv rejects (an unknown `x-kubernetes-list-type`, a map
    /// list without keys...).
    pub fn new(
        api_version: &str,
        kind: &str,
        open_api_v3_schema: &Value,
    ) -> Result<CrdSchema, String> {
        let mut b = Builder::new(clipper_proto::schema::schema());
        let preserve = open_api_v3_schema
            .get("x-kubernetes-preserve-unknown-fields")
            .and_then(Value::as_bool)
            == Some(true);
        let mut map = b.crd_map(open_api_v3_schema, preserve, 0)?;
        b.add_type_meta(&mut map.fields);
        let root = TypeRef::of(b.schema.push(Atom {
            map: Some(map),
            ..Atom::default()
        }));
        Ok(CrdSchema {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            schema: b.schema,
            root,
        })
    }

    /// The schema of version `version` of a CustomResourceDefinition (as JSON).
    pub fn from_crd(crd: &Value, version: &str) -> Result<CrdSchema, String> {
        let spec = crd.get("spec").ok_or("the CRD has no spec")?;
        let group = spec
            .get("group")
            .and_then(Value::as_str)
            .ok_or("the CRD has no spec.group")?;
        let kind = spec
            .pointer("/names/kind")
            .and_then(Value::as_str)
            .ok_or("the CRD has no spec.names.kind")?;
        let versions = spec
            .get("versions")
            .and_then(Value::as_array)
            .ok_or("the CRD has no spec.versions")?;
        let v = versions
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(version))
            .ok_or_else(|| format!("the CRD has no version {version:?}"))?;
        let empty = Value::Object(Map::new());
        let schema = v
            .pointer("/schema/openAPIV3Schema")
            .or_else(|| spec.pointer("/validation/openAPIV3Schema"))
            .unwrap_or(&empty);
        CrdSchema::new(&format!("{group}/{version}"), kind, schema)
    }
}

impl SchemaLookup for CrdSchema {
    fn lookup(&self, api_version: &str, kind: &str) -> Option<TypedRoot<'_>> {
        (api_version == self.api_version && kind == self.kind).then_some(TypedRoot {
            schema: &self.schema,
            root: self.root,
            definition: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtin_types_follow_schemaconv() {
        let root = BuiltinSchema.lookup("v1", "Pod").unwrap();
        let s = root.schema;
        let pod = s.atom(root.root.id).map.as_ref().unwrap();
        let spec = s.atom(pod.fields["spec"].ty.id).map.as_ref().unwrap();
        let containers = s
            .atom(spec.fields["containers"].ty.id)
            .list
            .as_ref()
            .unwrap();
        assert!(containers.associative);
        assert_eq!(containers.keys, ["name"]);
        let tolerations = s
            .atom(spec.fields["tolerations"].ty.id)
            .list
            .as_ref()
            .unwrap();
        assert!(!tolerations.associative);
        let container = s.atom(containers.element.id).map.as_ref().unwrap();
        let ports = s
            .atom(container.fields["ports"].ty.id)
            .list
            .as_ref()
            .unwrap();
        assert_eq!(ports.keys, ["containerPort", "protocol"]);
        let port = s.atom(ports.element.id).map.as_ref().unwrap();
        assert_eq!(port.fields["protocol"].default, Some(json!("TCP")));
        let meta = s.atom(pod.fields["metadata"].ty.id).map.as_ref().unwrap();
        let finalizers = s
            .atom(meta.fields["finalizers"].ty.id)
            .list
            .as_ref()
            .unwrap();
        assert!(finalizers.associative && finalizers.keys.is_empty());
        let labels = s.atom(meta.fields["labels"].ty.id).map.as_ref().unwrap();
        assert!(!labels.atomic && labels.element.is_some());
        assert!(BuiltinSchema.lookup("v1", "Nope").is_none());

        let d = BuiltinSchema.lookup("apps/v1", "Deployment").unwrap();
        let dm = d.schema.atom(d.root.id).map.as_ref().unwrap();
        let dspec = d.schema.atom(dm.fields["spec"].ty.id).map.as_ref().unwrap();
        let selector = dspec.fields["selector"].ty;
        assert!(d.schema.atom(selector.id).map.as_ref().unwrap().atomic || selector.atomic);
    }

    #[test]
    fn zero_objects_mirror_go() {
        let d = BuiltinSchema.lookup("apps/v1", "Deployment").unwrap();
        let zero = d.empty_object("apps/v1", "Deployment");
        assert_eq!(zero["spec"]["template"]["spec"]["containers"], Value::Null);
        assert!(zero["spec"]["strategy"].is_object());
        assert!(zero["status"].is_object());
        assert!(zero.get("apiVersion").is_none());
        let crd = CrdSchema::new("x.io/v1", "Thing", &json!({"type": "object"})).unwrap();
        let root = crd.lookup("x.io/v1", "Thing").unwrap();
        assert_eq!(
            root.empty_object("x.io/v1", "Thing"),
            json!({"apiVersion": "x.io/v1", "kind": "Thing"})
        );
    }

    #[test]
    fn crd_schema_errors() {
        for (schema, want) in [
            (
                json!({"type": "object", "properties": {"a": {"type": "array", "x-kubernetes-list-type": "map"}}}),
                "missing map keys",
            ),
            (
                json!({"type": "object", "properties": {"a": {"type": "array", "x-kubernetes-list-type": "bag"}}}),
                "unknown list type bag",
            ),
            (
                json!({"type": "object", "properties": {"a": {"type": "wat"}}}),
                "unrecognized type: 'wat'",
            ),
            (
                json!({"type": "object", "x-kubernetes-map-type": "odd"}),
                "unknown map type odd",
            ),
        ] {
            assert_eq!(CrdSchema::new("x/v1", "X", &schema).unwrap_err(), want);
        }
        let crd = json!({"spec": {"group": "x.io", "names": {"kind": "Thing"},
            "versions": [{"name": "v1", "schema": {"openAPIV3Schema": {"type": "object"}}}]}});
        assert!(
            CrdSchema::from_crd(&crd, "v1")
                .unwrap()
                .lookup("x.io/v1", "Thing")
                .is_some()
        );
        assert!(CrdSchema::from_crd(&crd, "v2").is_err());
    }
}
