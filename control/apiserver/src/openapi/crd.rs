//! Schemas of custom resources, built from a CRD version's `openAPIV3Schema` the way
//! kube-apiserver's CRD OpenAPI builder does: the schema reduced to its structural form
//! (with `x-kubernetes-int-or-string` unfolded), `metadata` replaced by a reference to
//! ObjectMeta, `apiVersion`/`kind` added (also inside `x-kubernetes-embedded-resource`
//! objects), and the group-version-kind extension set. The Swagger 2.0 variant further
//! drops what 2.0 cannot say (`nullable`, the `*Of` combinators, typed
//! preserve-unknown-fields objects) and defaults.

use serde_json::{Map, Value, json};

use super::CustomResource;
use super::definitions::{Dialect, LIST_META, OBJECT_META, property_description};

/// The definition whose `apiVersion`, `kind` and `metadata` descriptions the custom
/// resource schemas reuse (they are the standard TypeMeta/ObjectMeta texts).
const DESCRIBED_OBJECT: &str = "io.k8s.api.core.v1.Pod";
/// The same for the list schema's `metadata`.
const DESCRIBED_LIST: &str = "io.k8s.api.core.v1.PodList";

/// Keys a structural schema keeps (generic, extension and value-validation keys); the
/// structural ones (`properties`, `items`, `additionalProperties`, the `*Of`s) are
/// handled apart. Everything else (`example`, `externalDocs`, `$schema`, `id`,
/// `definitions`, `dependencies`, ...) is dropped, as kube-apiserver's structural schema
/// drops it.
const KEPT: &[&str] = &[
    "type",
    "description",
    "title",
    "default",
    "format",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "multipleOf",
    "enum",
    "maxProperties",
    "minProperties",
    "required",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-list-type",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
];
/// Boolean keys kept only when true.
const KEPT_IF_TRUE: &[&str] = &[
    "nullable",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
];

/// The definition name of a custom resource kind: the group reversed, then version and
/// kind (`stable.example.com`, `v1`, `CronTab` → `com.example.stable.v1.CronTab`).
pub(super) fn definition_name(group: &str, version: &str, kind: &str) -> String {
    let group: String = if group.contains('.') {
        group.rsplit('.').collect::<Vec<_>>().join(".")
    } else {
        group.into()
    };
    format!("{group}.{version}.{kind}")
}

fn gvk_extension(cr: &CustomResource, kind: &str) -> Value {
    json!([{ "group": cr.group, "kind": kind, "version": cr.version }])
}

fn type_meta(name: &str) -> Value {
    json!({ "description": property_description(DESCRIBED_OBJECT, name), "type": "string" })
}

fn meta_ref(dialect: Dialect, definition: &str, described_by: &str) -> Value {
    let mut siblings = Map::new();
    siblings.insert(
        "description".into(),
        Value::String(property_description(described_by, "metadata")),
    );
    dialect.ref_with(definition, siblings)
}

/// The custom resource's schema in `dialect`.
pub(super) fn object_schema(cr: &CustomResource, dialect: Dialect) -> Value {
    let root = cr.schema.as_ref().filter(|s| s.is_object());
    let preserve_root = root
        .is_some_and(|s| s.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)));
    let mut out = match root {
        Some(s) if !(dialect == Dialect::V2 && preserve_root) => {
            let mut s = structural(s, false);
            if dialect == Dialect::V2 {
                to_v2(&mut s);
            }
            if let Some(map) = s.as_object_mut() {
                let props = map
                    .entry("properties")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(props) = props.as_object_mut() {
                    props.insert(
                        "metadata".into(),
                        meta_ref(dialect, OBJECT_META, DESCRIBED_OBJECT),
                    );
                    props.insert("apiVersion".into(), type_meta("apiVersion"));
                    props.insert("kind".into(), type_meta("kind"));
                }
            }
            add_embedded(&mut s, dialect);
            s
        }
        _ => json!({ "type": "object" }),
    };
    if let Some(map) = out.as_object_mut() {
        map.insert(
            "x-kubernetes-group-version-kind".into(),
            gvk_extension(cr, &cr.kind),
        );
    }
    out
}

/// The schema of the custom resource's list kind.
pub(super) fn list_schema(cr: &CustomResource, dialect: Dialect) -> Value {
    let item = dialect.reference(&definition_name(&cr.group, &cr.version, &cr.kind));
    json!({
        "description": format!("{} is a list of {}", cr.list_kind, cr.kind),
        "properties": {
            "apiVersion": type_meta("apiVersion"),
            "items": {
                "description": format!("The {} in the list.", cr.plural),
                "items": { "$ref": item },
                "type": "array",
            },
            "kind": type_meta("kind"),
            "metadata": meta_ref(dialect, LIST_META, DESCRIBED_LIST),
        },
        "required": ["items"],
        "type": "object",
        "x-kubernetes-group-version-kind": gvk_extension(cr, &cr.list_kind),
    })
}

/// The structural part of a JSONSchemaProps value. `nested` is true inside `allOf`,
/// `anyOf`, `oneOf` and `not`, where kube keeps no `additionalProperties` and does not
/// unfold int-or-string.
fn structural(value: &Value, nested: bool) -> Value {
    let Some(obj) = value.as_object() else {
        return Value::Object(Map::new());
    };
    let mut out = Map::new();
    for (k, v) in obj {
        let key = k.as_str();
        match key {
            _ if KEPT.contains(&key) => {
                out.insert(k.clone(), v.clone());
            }
            // False is the default; kube's structural schema does not write it back.
            _ if KEPT_IF_TRUE.contains(&key) && v == &Value::Bool(true) => {
                out.insert(k.clone(), v.clone());
            }
            "properties" => {
                let props: Map<String, Value> = v
                    .as_object()
                    .map(|p| {
                        p.iter()
                            .map(|(n, s)| (n.clone(), structural(s, nested)))
                            .collect()
                    })
                    .unwrap_or_default();
                out.insert(k.clone(), Value::Object(props));
            }
            // The array form of `items` is not structural; kube has no use for it either.
            "items" if v.is_object() => {
                out.insert(k.clone(), structural(v, nested));
            }
            "additionalProperties" if !nested => match v {
                Value::Bool(_) => {
                    out.insert(k.clone(), v.clone());
                }
                Value::Object(_) => {
                    out.insert(k.clone(), structural(v, false));
                }
                _ => {}
            },
            "allOf" | "anyOf" | "oneOf" => {
                if let Some(alternatives) = v.as_array() {
                    out.insert(
                        k.clone(),
                        alternatives.iter().map(|s| structural(s, true)).collect(),
                    );
                }
            }
            "not" => {
                out.insert(k.clone(), structural(v, true));
            }
            _ => {}
        }
    }
    if !nested && out.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        unfold_int_or_string(&mut out);
    }
    Value::Object(out)
}

fn int_or_string_any_of() -> Value {
    json!([{ "type": "integer" }, { "type": "string" }])
}

/// Makes an int-or-string schema say so in `anyOf`, unless it already does.
fn unfold_int_or_string(s: &mut Map<String, Value>) {
    let pattern = int_or_string_any_of();
    if s.get("anyOf") == Some(&pattern) {
        return;
    }
    let first_all_of = s
        .get("allOf")
        .and_then(Value::as_array)
        .and_then(|a| a.first());
    if first_all_of.and_then(|f| f.get("anyOf")) == Some(&pattern) {
        return;
    }
    if !s.contains_key("anyOf") {
        s.insert("anyOf".into(), pattern);
        return;
    }
    let mut all_of = vec![json!({ "anyOf": pattern })];
    if let Some(Value::Array(existing)) = s.remove("allOf") {
        all_of.extend(existing);
    }
    s.insert("allOf".into(), Value::Array(all_of));
}

/// Adds `apiVersion`, `kind` and `metadata` to every `x-kubernetes-embedded-resource`
/// object (after the children, so nested embedded resources get theirs too).
fn add_embedded(s: &mut Value, dialect: Dialect) {
    let Some(map) = s.as_object_mut() else { return };
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        props.values_mut().for_each(|p| add_embedded(p, dialect));
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = map.get_mut(key) {
            add_embedded(child, dialect);
        }
    }
    let preserve = map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if dialect == Dialect::V2 && preserve {
        return;
    }
    if map.get("x-kubernetes-embedded-resource") != Some(&Value::Bool(true)) {
        return;
    }
    let props = map
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(props) = props.as_object_mut() {
        props.insert("apiVersion".into(), type_meta("apiVersion"));
        props.insert("kind".into(), type_meta("kind"));
        props.insert(
            "metadata".into(),
            meta_ref(dialect, OBJECT_META, DESCRIBED_OBJECT),
        );
    }
    let required = map
        .entry("required")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Some(required) = required.as_array_mut() {
        for key in ["kind", "apiVersion"] {
            if !required.iter().any(|r| r == key) {
                required.push(Value::String(key.into()));
            }
        }
    }
}

/// Rewrites a structural schema into what Swagger 2.0 can carry, parent before children.
fn to_v2(s: &mut Value) {
    let Some(map) = s.as_object_mut() else { return };
    for key in ["allOf", "oneOf", "anyOf", "not", "default"] {
        map.remove(key);
    }
    if map.remove("nullable").is_some() {
        map.remove("type");
        map.remove("items");
        map.remove("properties");
    }
    if map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        map.remove("items");
        map.remove("properties");
        if map.get("type").and_then(Value::as_str) == Some("object") {
            map.remove("type");
        }
    }
    if !map.contains_key("items") && map.get("type").and_then(Value::as_str) == Some("array") {
        map.remove("type");
    }
    let nullable_props: Vec<String> = map
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            p.iter()
                .filter(|(_, v)| v.get("nullable") == Some(&Value::Bool(true)))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    let nullable_values = map
        .get("additionalProperties")
        .and_then(|a| a.get("nullable"))
        == Some(&Value::Bool(true));
    if nullable_values {
        map.remove("required");
    } else if !nullable_props.is_empty()
        && let Some(Value::Array(required)) = map.get_mut("required")
    {
        required.retain(|r| {
            r.as_str()
                .is_none_or(|r| !nullable_props.iter().any(|p| p == r))
        });
        if required.is_empty() {
            map.remove("required");
        }
    }
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        props.values_mut().for_each(to_v2);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = map.get_mut(key) {
            to_v2(child);
        }
    }
}
