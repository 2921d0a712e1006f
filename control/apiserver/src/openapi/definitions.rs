//! The compiled-in definitions (JSON Schema 2020-12) rewritten into the schema dialects
//! kube-apiserver publishes: OpenAPI 3.0 `components.schemas` and Swagger 2.0
//! `definitions`, plus the reference graph used to pick the definitions a document needs.

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use clipper_proto::schema::schema;

/// How references are written in the compiled-in definitions.
const DEFS_PREFIX: &str = "#/$defs/";
/// How OpenAPI 3.0 documents reference a schema.
pub(super) const V3_PREFIX: &str = "#/components/schemas/";
/// How Swagger 2.0 documents reference a definition.
pub(super) const V2_PREFIX: &str = "#/definitions/";

pub(super) const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
pub(super) const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
pub(super) const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
pub(super) const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
pub(super) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub(super) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub(super) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(super) const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
pub(super) const SCALE: &str = "io.k8s.api.autoscaling.v1.Scale";
pub(super) const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";
pub(super) const API_GROUP: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup";
pub(super) const API_GROUP_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList";
pub(super) const API_VERSIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions";
pub(super) const VERSION_INFO: &str = "io.k8s.apimachinery.pkg.version.Info";

/// A schema dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Dialect {
    /// OpenAPI 3.0: `$ref` with siblings is wrapped in `allOf`; `oneOf`/`anyOf` allowed.
    V3,
    /// Swagger 2.0: `$ref` keeps its siblings (as kube-apiserver writes it); no `oneOf`,
    /// `anyOf`, `allOf` or `not`.
    V2,
}

impl Dialect {
    pub(super) fn reference(self, name: &str) -> String {
        match self {
            Dialect::V3 => format!("{V3_PREFIX}{name}"),
            Dialect::V2 => format!("{V2_PREFIX}{name}"),
        }
    }

    /// A schema that references `name` and carries `siblings` (description, extensions).
    pub(super) fn ref_with(self, name: &str, mut siblings: Map<String, Value>) -> Value {
        let reference = Value::String(self.reference(name));
        if siblings.is_empty() {
            return json!({ "$ref": reference });
        }
        match self {
            Dialect::V3 => {
                siblings.insert("allOf".into(), json!([{ "$ref": reference }]));
            }
            Dialect::V2 => {
                siblings.insert("$ref".into(), reference);
            }
        }
        Value::Object(siblings)
    }
}

/// Every definition, converted once to both dialects, with its direct references.
pub(super) struct Converted {
    v3: HashMap<String, Value>,
    v2: HashMap<String, Value>,
    refs: HashMap<String, Vec<String>>,
}

static CONVERTED: LazyLock<Converted> = LazyLock::new(|| {
    let mut v3 = HashMap::new();
    let mut v2 = HashMap::new();
    let mut refs = HashMap::new();
    // `Schema::parse` has already checked that `$defs` is an object.
    if let Some(defs) = schema().raw.get("$defs").and_then(Value::as_object) {
        for (name, def) in defs {
            let a = convert_definition(name, def, Dialect::V3);
            let mut direct = BTreeSet::new();
            collect_refs(&a, V3_PREFIX, &mut direct);
            refs.insert(name.clone(), direct.into_iter().collect());
            v3.insert(name.clone(), a);
            v2.insert(name.clone(), convert_definition(name, def, Dialect::V2));
        }
    }
    Converted { v3, v2, refs }
});

pub(super) fn converted() -> &'static Converted {
    &CONVERTED
}

impl Converted {
    pub(super) fn get(&self, name: &str, dialect: Dialect) -> Option<&Value> {
        match dialect {
            Dialect::V3 => self.v3.get(name),
            Dialect::V2 => self.v2.get(name),
        }
    }

    pub(super) fn contains(&self, name: &str) -> bool {
        self.v3.contains_key(name)
    }

    /// `seeds` and every definition they reach, in name order. Unknown names are skipped
    /// (callers check the names they introduce).
    pub(super) fn closure<'a>(&self, seeds: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = seeds.into_iter().collect();
        while let Some(name) = stack.pop() {
            if !self.contains(name) || !seen.insert(name.to_string()) {
                continue;
            }
            if let Some(direct) = self.refs.get(name) {
                stack.extend(direct.iter().map(String::as_str));
            }
        }
        seen
    }
}

/// The description of a property of a compiled-in definition, for reuse in parameters and
/// in the schemas built for custom resources.
pub(super) fn property_description(definition: &str, property: &str) -> String {
    schema()
        .raw
        .get("$defs")
        .and_then(|d| d.get(definition))
        .and_then(|d| d.get("properties"))
        .and_then(|p| p.get(property))
        .and_then(|p| p.get("description"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Every `$ref` under `value` that starts with `prefix`, without the prefix.
pub(super) fn collect_refs(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        if let Some(name) = r.strip_prefix(prefix) {
                            out.insert(name.to_string());
                        }
                    }
                    _ => collect_refs(v, prefix, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, prefix, out)),
        _ => {}
    }
}

/// One definition in `dialect`. The special scalars get the forms kube-apiserver gives
/// them; the `enum`s the definitions file adds to `apiVersion`/`kind` are dropped (kube
/// does not publish them, and `kubectl explain` would print them).
fn convert_definition(name: &str, def: &Value, dialect: Dialect) -> Value {
    let mut out = match (name, dialect) {
        (INT_OR_STRING, Dialect::V3) => {
            json!({ "format": "int-or-string", "oneOf": [{ "type": "integer" }, { "type": "string" }] })
        }
        (INT_OR_STRING, Dialect::V2) => json!({ "format": "int-or-string", "type": "string" }),
        (QUANTITY, Dialect::V3) => json!({ "oneOf": [{ "type": "string" }, { "type": "number" }] }),
        (QUANTITY, Dialect::V2) => json!({ "type": "string" }),
        _ => convert_schema(def, dialect),
    };
    if let Some(description) = def
        .get("description")
        .filter(|_| matches!(name, INT_OR_STRING | QUANTITY))
        && let Some(map) = out.as_object_mut()
    {
        map.insert("description".into(), description.clone());
    }
    if def.get("x-kubernetes-group-version-kind").is_some()
        && let Some(props) = out.get_mut("properties").and_then(Value::as_object_mut)
    {
        for key in ["apiVersion", "kind"] {
            if let Some(p) = props.get_mut(key).and_then(Value::as_object_mut) {
                p.remove("enum");
            }
        }
    }
    out
}

/// The first non-null type of a 2020-12 `type` (a string or an array with `"null"`).
fn single_type(t: &Value) -> Option<Value> {
    match t {
        Value::String(_) => Some(t.clone()),
        Value::Array(ts) => ts.iter().find(|t| t.as_str() != Some("null")).cloned(),
        _ => None,
    }
}

/// One schema of the definitions file in `dialect`. Keys other than the structural ones
/// (descriptions, formats, `required`, `x-kubernetes-*`) are kept as they are.
fn convert_schema(value: &Value, dialect: Dialect) -> Value {
    let Some(obj) = value.as_object() else {
        return value.clone();
    };
    let mut out = Map::new();
    let mut reference = None;
    for (k, v) in obj {
        match k.as_str() {
            "$ref" => {
                reference = v
                    .as_str()
                    .map(|r| r.strip_prefix(DEFS_PREFIX).unwrap_or(r).to_string())
            }
            "type" => {
                if let Some(t) = single_type(v) {
                    out.insert(k.clone(), t);
                }
            }
            "properties" => {
                let props = v
                    .as_object()
                    .map(|p| {
                        p.iter()
                            .map(|(n, s)| (n.clone(), convert_schema(s, dialect)))
                            .collect()
                    })
                    .unwrap_or_default();
                out.insert(k.clone(), Value::Object(props));
            }
            "items" | "additionalProperties" => {
                out.insert(k.clone(), convert_schema(v, dialect));
            }
            "oneOf" | "anyOf" | "allOf" | "not" if dialect == Dialect::V2 => {}
            "oneOf" | "anyOf" | "allOf" => {
                let alternatives = v
                    .as_array()
                    .map(|a| a.iter().map(|s| convert_schema(s, dialect)).collect());
                out.insert(k.clone(), Value::Array(alternatives.unwrap_or_default()));
            }
            "not" => {
                out.insert(k.clone(), convert_schema(v, dialect));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    match reference {
        Some(name) => dialect.ref_with(&name, out),
        None => Value::Object(out),
    }
}
