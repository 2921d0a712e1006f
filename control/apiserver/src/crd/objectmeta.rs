//! ObjectMeta and TypeMeta of custom resources and of their embedded resources
//! (`schema/objectmeta`): metadata is decoded into `ObjectMeta` and written back, which
//! prunes it to ObjectMeta's fields; embedded `apiVersion`/`kind`/`metadata` are checked.
//!
//! Decoding goes through Clipper's typed `ObjectMeta`, so a malformed field's error text
//! is serde's rather than Go's `encoding/json`'s.

use clipper_proto::api::meta::v1::ObjectMeta;
use clipper_proto::codec;
use serde_json::{Map, Value};

use super::gofmt::{error_value, go_type};
use super::structural::{AdditionalProperties, Structural};
use crate::admission::field::{ErrorList, FieldError, Path, Raw};
use crate::admission::meta::validate_generic_object_meta;
use crate::admission::names::{NameRule, is_dns1035_label};

/// Metadata as decoded: the canonical JSON form and the unknown fields met on the way.
#[derive(Debug)]
pub struct DecodedMeta {
    pub value: Value,
    pub meta: ObjectMeta,
    /// Paths of dropped unknown fields, prefixed like `metadata.foo`.
    pub unknown_fields: Vec<String>,
}

/// Go's `omitempty`: ObjectMeta's fields vanish from the written form when empty. A
/// pointer is empty only when nil: `deletionGracePeriodSeconds` (`*int64`) keeps its 0
/// (dropping it made every later write to an object being deleted change an immutable
/// field — a finalizer could not be removed).
fn drop_empty(v: &mut Value) {
    if let Value::Object(m) = v {
        m.retain(|k, x| match x {
            Value::Null => false,
            Value::String(s) => !s.is_empty(),
            Value::Number(n) => k == "deletionGracePeriodSeconds" || n.as_i64() != Some(0),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            Value::Bool(_) => true,
        });
    }
}

fn canonical(meta: &ObjectMeta) -> Value {
    let mut v = serde_json::to_value(meta).unwrap_or_else(|_| Value::Object(Map::new()));
    drop_empty(&mut v);
    v
}

/// `GetObjectMetaWithOptions`: decodes `metadata` (keeping ObjectMeta's fields only).
/// With `drop_malformed`, fields that do not decode are dropped one by one instead of
/// failing the whole (the storage path); `prefix` is the path of the metadata itself.
pub fn decode_object_meta(
    metadata: &Value,
    drop_malformed: bool,
    prefix: &str,
) -> Result<DecodedMeta, String> {
    let rebase = |fields: Vec<String>| -> Vec<String> {
        fields
            .into_iter()
            .map(|f| format!("{prefix}.{f}"))
            .collect()
    };
    match codec::from_value::<ObjectMeta>(metadata.clone()) {
        Ok(d) => Ok(DecodedMeta {
            value: canonical(&d.value),
            meta: d.value,
            unknown_fields: rebase(d.unknown_fields),
        }),
        Err(e) if !drop_malformed => Err(e.to_string()),
        Err(_) => {
            let Some(map) = metadata.as_object() else {
                return Err(format!(
                    "invalid metadata: expected object, got {}",
                    go_type(metadata)
                ));
            };
            let mut kept = Map::new();
            let mut unknown = Vec::new();
            for (k, v) in map {
                let mut single = Map::new();
                single.insert(k.clone(), v.clone());
                if let Ok(d) = codec::from_value::<ObjectMeta>(Value::Object(single)) {
                    kept.insert(k.clone(), v.clone());
                    unknown.extend(d.unknown_fields);
                }
            }
            let meta = codec::from_value::<ObjectMeta>(Value::Object(kept))
                .map(|d| d.value)
                .unwrap_or_default();
            Ok(DecodedMeta {
                value: canonical(&meta),
                meta,
                unknown_fields: rebase(unknown),
            })
        }
    }
}

fn child(path: Option<&Path>, name: &str) -> Path {
    match path {
        Some(p) => p.child(name),
        None => Path::new(name),
    }
}

fn key(path: Option<&Path>, k: &str) -> Path {
    match path {
        Some(p) => p.key(k),
        None => Path::new(&format!("[{k}]")),
    }
}

fn index(path: Option<&Path>, i: usize) -> Path {
    match path {
        Some(p) => p.index(i),
        None => Path::new(&format!("[{i}]")),
    }
}

/// `CoerceWithOptions(.., isResourceRoot=false)`: inside embedded resources,
/// `apiVersion` and `kind` must be strings and `metadata` is pruned to ObjectMeta.
/// Returns the unknown metadata fields dropped; with `drop_invalid`, malformed values are
/// dropped instead of failing.
pub fn coerce_embedded(
    obj: &mut Value,
    s: &Structural,
    drop_invalid: bool,
) -> Result<Vec<String>, FieldError> {
    let mut unknown = Vec::new();
    coerce(None, obj, s, drop_invalid, &mut unknown)?;
    unknown.sort();
    Ok(unknown)
}

fn coerce(
    path: Option<&Path>,
    x: &mut Value,
    s: &Structural,
    drop_invalid: bool,
    unknown: &mut Vec<String>,
) -> Result<(), FieldError> {
    match x {
        Value::Object(map) => {
            if s.extensions.embedded_resource {
                for k in ["apiVersion", "kind"] {
                    match map.get(k) {
                        Some(Value::String(_)) | None => {}
                        Some(_) if drop_invalid => {
                            map.remove(k);
                        }
                        Some(v) => {
                            return Err(FieldError::invalid(
                                &child(path, k),
                                Raw(error_value(v)),
                                "must be a string",
                            ));
                        }
                    }
                }
                if let Some(m) = map.get("metadata") {
                    let mp = child(path, "metadata");
                    match decode_object_meta(m, drop_invalid, &mp.to_string()) {
                        Ok(d) => {
                            unknown.extend(d.unknown_fields);
                            map.insert("metadata".to_string(), d.value);
                        }
                        Err(_) if drop_invalid => {}
                        Err(e) => return Err(FieldError::invalid(&mp, Raw(error_value(m)), e)),
                    }
                }
            }
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                let Some(v) = map.get_mut(&k) else { continue };
                if let Some(p) = s.properties.get(&k) {
                    coerce(Some(&child(path, &k)), v, p, drop_invalid, unknown)?;
                } else if let Some(ap) = &s.additional_properties
                    && let Some(aps) = ap.schema()
                {
                    coerce(Some(&key(path, &k)), v, aps, drop_invalid, unknown)?;
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = &s.items {
                for (i, v) in items.iter_mut().enumerate() {
                    coerce(Some(&index(path, i)), v, is, drop_invalid, unknown)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// `schema.ParseGroupVersion`'s error, if `gv` is not `group/version` or `version`.
pub fn parse_group_version(gv: &str) -> Result<(&str, &str), String> {
    if gv.is_empty() || gv == "/" {
        return Ok(("", ""));
    }
    match gv.matches('/').count() {
        0 => Ok(("", gv)),
        1 => Ok(gv.split_once('/').unwrap_or(("", gv))),
        _ => Err(format!("unexpected GroupVersion string: {gv}")),
    }
}

/// `objectmeta.Validate(nil, obj, s, false)`: apiVersion, kind and metadata of every
/// embedded resource (the object's own metadata is checked separately).
pub fn validate_embedded(s: &Structural, obj: &Value) -> ErrorList {
    validate(None, obj, s)
}

fn validate(path: Option<&Path>, x: &Value, s: &Structural) -> ErrorList {
    let mut errs = Vec::new();
    match x {
        Value::Object(map) => {
            if s.extensions.embedded_resource {
                errs.extend(validate_embedded_resource(path, map));
            }
            for (k, v) in map {
                if let Some(p) = s.properties.get(k) {
                    errs.extend(validate(Some(&child(path, k)), v, p));
                } else if let Some(aps) = s
                    .additional_properties
                    .as_ref()
                    .and_then(AdditionalProperties::schema)
                {
                    errs.extend(validate(Some(&key(path, k)), v, aps));
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = &s.items {
                for (i, v) in items.iter().enumerate() {
                    errs.extend(validate(Some(&index(path, i)), v, is));
                }
            }
        }
        _ => {}
    }
    errs
}

fn validate_embedded_resource(path: Option<&Path>, x: &Map<String, Value>) -> ErrorList {
    let mut errs = Vec::new();
    for k in ["apiVersion", "kind"] {
        if !x.contains_key(k) {
            errs.push(FieldError::required(&child(path, k), "must not be empty"));
        }
    }
    if let Some(v) = x.get("apiVersion") {
        let p = child(path, "apiVersion");
        match v {
            Value::String(s) if s.is_empty() => {
                errs.push(FieldError::invalid(&p, s, "must not be empty"))
            }
            Value::String(s) => {
                if let Err(e) = parse_group_version(s) {
                    errs.push(FieldError::invalid(&p, s, e));
                }
            }
            other => errs.push(FieldError::invalid(
                &p,
                Raw(error_value(other)),
                "must be a string",
            )),
        }
    }
    if let Some(v) = x.get("kind") {
        let p = child(path, "kind");
        match v {
            Value::String(s) if s.is_empty() => {
                errs.push(FieldError::invalid(&p, s, "must not be empty"))
            }
            Value::String(s) => {
                let e = is_dns1035_label(&s.to_lowercase());
                if !e.is_empty() {
                    errs.push(FieldError::invalid(
                        &p,
                        s,
                        format!(
                            "may have mixed case, but should otherwise match: {}",
                            e.join(",")
                        ),
                    ));
                }
            }
            other => errs.push(FieldError::invalid(
                &p,
                Raw(error_value(other)),
                "must be a string",
            )),
        }
    }
    if let Some(m) = x.get("metadata") {
        let mp = child(path, "metadata");
        match codec::from_value::<ObjectMeta>(m.clone()) {
            Err(e) => errs.push(FieldError::invalid(&mp, Raw(error_value(m)), e.to_string())),
            Ok(d) => {
                let mut meta = d.value;
                if meta.name.as_deref().unwrap_or("").is_empty() {
                    meta.name = Some("fakename".to_string());
                }
                let namespaced = meta.namespace.as_deref().is_some_and(|n| !n.is_empty());
                for mut e in validate_generic_object_meta(&meta, namespaced, NameRule::PathSegment)
                {
                    if let Some(p) = path {
                        e.field = format!("{p}.{}", e.field);
                    }
                    errs.push(e);
                }
            }
        }
    }
    errs
}
