//! The Kubernetes 1.33 definitions at run time: field types, patch strategies, merge keys,
//! list and map types — what strategic merge patch, server-side apply and the OpenAPI
//! documents need.
//!
//! The definitions JSON is compiled into the binary and parsed once, on first use.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use serde_json::Value;

/// The definitions file this crate was generated from (Kubernetes 1.33, from the PyPI
/// package kubernetes-validate 1.33.1).
pub const DEFINITIONS_JSON: &str = include_str!("../schema/v1.33-definitions.json");

/// How a list merges (`x-kubernetes-list-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListType {
    /// Replaced as a whole.
    Atomic,
    /// Scalars, merged as a set.
    Set,
    /// Objects keyed by `list_map_keys`.
    Map,
}

/// The shape of a field's value.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldType {
    /// Another definition, by name.
    Ref(String),
    /// A list of values.
    Array(Box<Field>),
    /// A map with string keys.
    Map(Box<Field>),
    String,
    /// `format: byte`, base64 in JSON.
    Bytes,
    Integer,
    Number,
    Boolean,
    /// Any JSON (`JSON`, `RawExtension`, `FieldsV1`, untyped objects).
    Any,
}

/// One field (or list item / map value) with its patch metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub ty: FieldType,
    /// `x-kubernetes-patch-strategy`, split on commas (`merge`, `retainKeys`, `replace`).
    pub patch_strategies: Vec<String>,
    /// `x-kubernetes-patch-merge-key`.
    pub patch_merge_key: Option<String>,
    pub list_type: Option<ListType>,
    pub list_map_keys: Vec<String>,
    /// `x-kubernetes-map-type: atomic`.
    pub map_atomic: bool,
    pub description: String,
}

impl Field {
    /// Whether strategic merge patch merges this list (rather than replacing it).
    pub fn merges(&self) -> bool {
        self.patch_strategies.iter().any(|s| s == "merge")
    }

    pub fn retains_keys(&self) -> bool {
        self.patch_strategies.iter().any(|s| s == "retainKeys")
    }
}

/// One object definition.
#[derive(Clone, Debug, PartialEq)]
pub struct Definition {
    pub name: String,
    pub description: String,
    pub properties: BTreeMap<String, Field>,
    pub required: Vec<String>,
    /// (group, version, kind) triples this definition is served as.
    pub group_version_kinds: Vec<(String, String, String)>,
    /// `x-kubernetes-map-type: atomic` on the whole object.
    pub atomic: bool,
    /// The definition's special JSON form (Quantity, IntOrString, Time...), if it is not a
    /// plain object.
    pub scalar: Option<FieldType>,
}

/// All definitions.
pub struct Schema {
    pub definitions: HashMap<String, Definition>,
    by_kind: HashMap<(String, String, String), String>,
    /// The parsed definitions JSON, for serving OpenAPI documents.
    pub raw: Value,
}

static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    // The file is compiled in and tested (see the tests below); a parse failure is a
    // build defect, not a run-time condition.
    Schema::parse(DEFINITIONS_JSON).expect("the compiled-in Kubernetes definitions parse")
});

/// The compiled-in Kubernetes definitions.
pub fn schema() -> &'static Schema {
    &SCHEMA
}

fn field_from(v: &Value) -> Field {
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    let ty = if let Some(r) = s("$ref") {
        FieldType::Ref(r.trim_start_matches("#/$defs/").to_string())
    } else {
        let t = match v.get("type") {
            Some(Value::String(t)) => Some(t.as_str()),
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null"),
            _ => None,
        };
        match t {
            Some("string") if s("format") == Some("byte") => FieldType::Bytes,
            Some("string") => FieldType::String,
            Some("integer") => FieldType::Integer,
            Some("number") => FieldType::Number,
            Some("boolean") => FieldType::Boolean,
            Some("array") => match v.get("items") {
                Some(items) => FieldType::Array(Box::new(field_from(items))),
                None => FieldType::Any,
            },
            Some("object") => match v.get("additionalProperties") {
                Some(ap) if ap.is_object() => FieldType::Map(Box::new(field_from(ap))),
                _ => FieldType::Any,
            },
            _ => FieldType::Any,
        }
    };
    Field {
        ty,
        patch_strategies: s("x-kubernetes-patch-strategy")
            .map(|p| p.split(',').map(|x| x.trim().to_string()).collect())
            .unwrap_or_default(),
        patch_merge_key: s("x-kubernetes-patch-merge-key").map(str::to_string),
        list_type: match s("x-kubernetes-list-type") {
            Some("atomic") => Some(ListType::Atomic),
            Some("set") => Some(ListType::Set),
            Some("map") => Some(ListType::Map),
            _ => None,
        },
        list_map_keys: v
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        map_atomic: s("x-kubernetes-map-type") == Some("atomic"),
        description: s("description").unwrap_or_default().to_string(),
    }
}

impl Schema {
    /// Parses a definitions document (`{"$defs": {...}}`).
    pub fn parse(json: &str) -> Result<Schema, String> {
        let raw: Value =
            serde_json::from_str(json).map_err(|e| format!("definitions JSON: {e}"))?;
        let defs = raw
            .get("$defs")
            .and_then(Value::as_object)
            .ok_or("definitions JSON has no $defs object")?;
        let mut definitions = HashMap::new();
        let mut by_kind = HashMap::new();
        for (name, d) in defs {
            let gvks: Vec<(String, String, String)> = d
                .get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|g| {
                            let f = |k: &str| {
                                g.get(k).and_then(Value::as_str).unwrap_or("").to_string()
                            };
                            (f("group"), f("version"), f("kind"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            for gvk in &gvks {
                // A kind served under many group-versions (DeleteOptions, WatchEvent) keeps
                // the first definition seen; both are the same meta type.
                by_kind.entry(gvk.clone()).or_insert_with(|| name.clone());
            }
            let scalar = match name.as_str() {
                "io.k8s.apimachinery.pkg.api.resource.Quantity"
                | "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
                | "io.k8s.apimachinery.pkg.apis.meta.v1.Time"
                | "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime" => Some(FieldType::String),
                _ if d.get("properties").is_none() => Some(FieldType::Any),
                _ => None,
            };
            let def = Definition {
                name: name.clone(),
                description: d
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                properties: d
                    .get("properties")
                    .and_then(Value::as_object)
                    .map(|p| p.iter().map(|(k, v)| (k.clone(), field_from(v))).collect())
                    .unwrap_or_default(),
                required: d
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
                group_version_kinds: gvks,
                atomic: d.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic"),
                scalar,
            };
            definitions.insert(name.clone(), def);
        }
        Ok(Schema {
            definitions,
            by_kind,
            raw,
        })
    }

    pub fn definition(&self, name: &str) -> Option<&Definition> {
        self.definitions.get(name)
    }

    /// The definition served as `apiVersion`/`kind`.
    pub fn definition_for_kind(&self, api_version: &str, kind: &str) -> Option<&Definition> {
        let (group, version) = crate::split_api_version(api_version);
        self.by_kind
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
            .and_then(|n| self.definitions.get(n))
    }

    /// The field reached from `def` by following `path` (property names; list items and
    /// map values are stepped into implicitly when the path continues past them).
    pub fn field_at<'s>(&'s self, def: &'s Definition, path: &[&str]) -> Option<&'s Field> {
        let (first, rest) = path.split_first()?;
        let mut field = def.properties.get(*first)?;
        for name in rest {
            let mut ty = &field.ty;
            while let FieldType::Array(inner) | FieldType::Map(inner) = ty {
                ty = &inner.ty;
            }
            let FieldType::Ref(r) = ty else { return None };
            field = self.definitions.get(r)?.properties.get(*name)?;
        }
        Some(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_in_definitions_parse() {
        let s = schema();
        assert_eq!(s.definitions.len(), 707);
        let pod = s.definition_for_kind("v1", "Pod").unwrap();
        assert_eq!(pod.name, "io.k8s.api.core.v1.Pod");
        let deploy = s.definition_for_kind("apps/v1", "Deployment").unwrap();
        assert_eq!(
            deploy.group_version_kinds,
            vec![("apps".into(), "v1".into(), "Deployment".into())]
        );
    }

    #[test]
    fn patch_metadata() {
        let s = schema();
        let spec = s.definition("io.k8s.api.core.v1.PodSpec").unwrap();
        let containers = &spec.properties["containers"];
        assert!(containers.merges());
        assert_eq!(containers.patch_merge_key.as_deref(), Some("name"));
        assert_eq!(containers.list_type, Some(ListType::Map));
        assert_eq!(containers.list_map_keys, vec!["name".to_string()]);

        let pod = s.definition_for_kind("v1", "Pod").unwrap();
        let ports = s.field_at(pod, &["spec", "containers", "ports"]).unwrap();
        assert_eq!(ports.patch_merge_key.as_deref(), Some("containerPort"));
        assert_eq!(
            ports.list_map_keys,
            vec!["containerPort".to_string(), "protocol".to_string()]
        );

        let volumes = s.field_at(pod, &["spec", "volumes"]).unwrap();
        assert!(volumes.merges() && volumes.retains_keys());

        let deploy = s.definition_for_kind("apps/v1", "Deployment").unwrap();
        let strategy = s.field_at(deploy, &["spec", "strategy"]).unwrap();
        assert!(strategy.retains_keys());

        let finalizers = s.field_at(pod, &["metadata", "finalizers"]).unwrap();
        assert_eq!(finalizers.list_type, Some(ListType::Set));
        assert!(finalizers.merges());

        let cm = s.definition_for_kind("v1", "Secret").unwrap();
        let data = &cm.properties["data"];
        assert!(matches!(&data.ty, FieldType::Map(v) if v.ty == FieldType::Bytes));
    }

    #[test]
    fn special_definitions_are_scalars() {
        let s = schema();
        for name in [
            "io.k8s.apimachinery.pkg.api.resource.Quantity",
            "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
            "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
        ] {
            assert_eq!(
                s.definition(name).unwrap().scalar,
                Some(FieldType::String),
                "{name}"
            );
        }
        assert_eq!(
            s.definition("io.k8s.apimachinery.pkg.runtime.RawExtension")
                .unwrap()
                .scalar,
            Some(FieldType::Any)
        );
    }
}
