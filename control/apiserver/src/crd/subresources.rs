//! The status and scale subresources of custom resources (`registry/customresource`):
//! how writes to the main resource and to `/status` split an object, generation
//! tracking, and the `autoscaling/v1` Scale read from and written to the paths a CRD
//! names (`specReplicasPath`, `statusReplicasPath`, `labelSelectorPath`).

use clipper_proto::api::apiextensions::v1::CustomResourceSubresourceScale;
use clipper_proto::api::autoscaling::v1::{Scale, ScaleSpec, ScaleStatus};
use clipper_proto::api::meta::v1::ObjectMeta;
use serde_json::{Map, Value};

use super::gofmt::{GoNum, go_num, go_type, go_v};
use crate::admission::field::{ErrorList, FieldError, Path};

/// The largest replica count a scale path may hold (`math.MaxInt32`).
pub const MAX_REPLICAS: i64 = i32::MAX as i64;

/// `strategy.PrepareForCreate`: with the status subresource the client cannot set
/// `.status` on create; generation starts at 1.
pub fn prepare_for_create(obj: &mut Value, status_enabled: bool) {
    if let Value::Object(m) = obj {
        if status_enabled {
            m.remove("status");
        }
        set_generation(m, 1);
    }
}

/// `strategy.PrepareForUpdate`: with the status subresource a main-resource write keeps
/// the stored `.status`; generation goes up by one when anything but metadata changed.
pub fn prepare_for_update(new: &mut Value, old: &Value, status_enabled: bool) {
    let (Value::Object(n), Value::Object(o)) = (new, old) else {
        return;
    };
    if status_enabled {
        match o.get("status") {
            Some(s) => {
                n.insert("status".to_string(), s.clone());
            }
            None => {
                n.remove("status");
            }
        }
    }
    let differs = {
        let strip = |m: &Map<String, Value>| -> Map<String, Value> {
            m.iter()
                .filter(|(k, _)| *k != "metadata")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        strip(n) != strip(o)
    };
    if differs {
        let old_gen = generation(o);
        set_generation(n, old_gen + 1);
    }
}

/// `statusStrategy.PrepareForUpdate`: a `/status` write changes only `.status` (and the
/// managed fields the request carries); everything else stays as stored.
pub fn prepare_for_status_update(new: &mut Value, old: &Value) {
    let status = new.get("status").cloned();
    let managed = new
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .cloned();
    let mut merged = old.clone();
    if let Value::Object(m) = &mut merged {
        match status {
            Some(s) => {
                m.insert("status".to_string(), s);
            }
            None => {
                m.remove("status");
            }
        }
        let meta = m
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(meta) = meta {
            match managed {
                Some(f) => {
                    meta.insert("managedFields".to_string(), f);
                }
                None => {
                    meta.remove("managedFields");
                }
            }
        }
    }
    *new = merged;
}

fn generation(m: &Map<String, Value>) -> i64 {
    m.get("metadata")
        .and_then(|md| md.get("generation"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

fn set_generation(m: &mut Map<String, Value>, g: i64) {
    let meta = m
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    if let Value::Object(meta) = meta {
        meta.insert("generation".to_string(), Value::from(g));
    }
}

/// The fields of a `.a.b.c` path (`splitReplicasPath`).
fn split_path(p: &str) -> Vec<&str> {
    p.strip_prefix('.').unwrap_or(p).split('.').collect()
}

fn json_path(fields: &[&str]) -> String {
    format!(".{}", fields.join("."))
}

/// `unstructured.NestedFieldNoCopy`: the value at `fields`, `None` when absent (or when
/// the walk meets a null), an error when it meets a non-object.
fn nested<'a>(obj: &'a Value, fields: &[&str]) -> Result<Option<&'a Value>, String> {
    let mut val = obj;
    for (i, f) in fields.iter().enumerate() {
        if val.is_null() {
            return Ok(None);
        }
        match val {
            Value::Object(m) => match m.get(*f) {
                Some(v) => val = v,
                None => return Ok(None),
            },
            other => {
                return Err(format!(
                    "{} accessor error: {} is of the type {}, expected map[string]interface{{}}",
                    json_path(&fields[..=i]),
                    go_v(other),
                    go_type(other)
                ));
            }
        }
    }
    Ok(Some(val))
}

/// `unstructured.NestedInt64`.
fn nested_int64(obj: &Value, fields: &[&str]) -> Result<Option<i64>, String> {
    match nested(obj, fields)? {
        None => Ok(None),
        Some(Value::Number(n)) if matches!(go_num(n), GoNum::Int(_)) => Ok(n.as_i64()),
        Some(v) => Err(format!(
            "{} accessor error: {} is of the type {}, expected int64",
            json_path(fields),
            go_v(v),
            go_type(v)
        )),
    }
}

/// `unstructured.NestedString`.
fn nested_string(obj: &Value, fields: &[&str]) -> Result<Option<String>, String> {
    match nested(obj, fields)? {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(format!(
            "{} accessor error: {} is of the type {}, expected string",
            json_path(fields),
            go_v(v),
            go_type(v)
        )),
    }
}

/// Why a Scale could not be read or applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScaleError {
    /// A path runs through a value of the wrong type (Kubernetes answers 500).
    Accessor(String),
    /// The Scale written has no `spec.replicas` while the resource has none either
    /// (Kubernetes answers 400 BadRequest with this text).
    EmptySpecReplicas(String),
    /// The replicas path cannot be created (a non-object on the way).
    CannotSet(String),
}

impl std::fmt::Display for ScaleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScaleError::Accessor(m)
            | ScaleError::EmptySpecReplicas(m)
            | ScaleError::CannotSet(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ScaleError {}

/// `scaleFromCustomResource`: the Scale of `cr`, and whether the spec replicas path was
/// present (absent counts reads as 0, as Kubernetes shows them).
pub fn scale_from_custom_resource(
    cr: &Value,
    cfg: &CustomResourceSubresourceScale,
) -> Result<(Scale, bool), ScaleError> {
    let spec =
        nested_int64(cr, &split_path(&cfg.spec_replicas_path)).map_err(ScaleError::Accessor)?;
    let status =
        nested_int64(cr, &split_path(&cfg.status_replicas_path)).map_err(ScaleError::Accessor)?;
    let selector = match cfg.label_selector_path.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => nested_string(cr, &split_path(p))
            .map_err(ScaleError::Accessor)?
            .unwrap_or_default(),
        None => String::new(),
    };
    let md = cr.get("metadata");
    let text = |k: &str| {
        md.and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let created = md
        .and_then(|m| m.get("creationTimestamp"))
        .filter(|v| !v.is_null())
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    let scale = Scale {
        metadata: ObjectMeta {
            name: text("name"),
            namespace: text("namespace"),
            uid: text("uid"),
            resource_version: text("resourceVersion"),
            creation_timestamp: created,
            ..ObjectMeta::default()
        },
        spec: Some(ScaleSpec {
            // Go's int32() conversion wraps; validation keeps stored counts in range.
            replicas: Some(spec.unwrap_or(0) as i32),
        }),
        status: Some(ScaleStatus {
            replicas: status.unwrap_or(0) as i32,
            selector: (!selector.is_empty()).then_some(selector),
        }),
    };
    Ok((scale, spec.is_some()))
}

/// The Scale an update starts from: as [`scale_from_custom_resource`], but with
/// `spec.replicas` unset when the resource has none, so that a patch that does not set
/// it is refused by [`apply_scale`] (Kubernetes signals this with `math.MinInt32`).
pub fn scale_for_update(
    cr: &Value,
    cfg: &CustomResourceSubresourceScale,
) -> Result<Scale, ScaleError> {
    let (mut scale, found) = scale_from_custom_resource(cr, cfg)?;
    if !found && let Some(spec) = &mut scale.spec {
        spec.replicas = None;
    }
    Ok(scale)
}

/// `scaleUpdatedObjectInfo.UpdatedObject`: writes the Scale's `spec.replicas` to the
/// spec replicas path of `cr` (creating missing objects on the way) and, when the Scale
/// carries a resourceVersion, makes it the write's precondition. A Scale without
/// `spec.replicas` is refused (a Go client cannot send one; Kubernetes would write 0 for
/// a PUT that omits it).
pub fn apply_scale(
    cr: &mut Value,
    cfg: &CustomResourceSubresourceScale,
    scale: &Scale,
) -> Result<(), ScaleError> {
    let Some(replicas) = scale.spec.as_ref().and_then(|s| s.replicas) else {
        return Err(ScaleError::EmptySpecReplicas(format!(
            "the spec replicas field {} cannot be empty",
            crate::admission::field::go_quote(&cfg.spec_replicas_path)
        )));
    };
    let fields = split_path(&cfg.spec_replicas_path);
    set_nested(cr, &fields, Value::from(i64::from(replicas)))?;
    if let Some(rv) = scale
        .metadata
        .resource_version
        .as_deref()
        .filter(|r| !r.is_empty())
    {
        set_nested(cr, &["metadata", "resourceVersion"], Value::from(rv))?;
    }
    Ok(())
}

/// `unstructured.SetNestedField`.
fn set_nested(obj: &mut Value, fields: &[&str], value: Value) -> Result<(), ScaleError> {
    let Some((last, parents)) = fields.split_last() else {
        return Ok(());
    };
    let mut m = match obj {
        Value::Object(m) => m,
        _ => {
            return Err(ScaleError::CannotSet(
                "value cannot be set because the object is not a map[string]interface{}"
                    .to_string(),
            ));
        }
    };
    for (i, f) in parents.iter().enumerate() {
        let entry = m
            .entry(f.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        m = match entry {
            Value::Object(inner) => inner,
            _ => {
                return Err(ScaleError::CannotSet(format!(
                    "value cannot be set because {} is not a map[string]interface{{}}",
                    json_path(&fields[..=i])
                )));
            }
        };
    }
    m.insert(last.to_string(), value);
    Ok(())
}

/// `ValidateScaleSpec`: the spec replicas path holds an int64 in `0..=MaxInt32` (or
/// nothing).
pub fn validate_scale_spec(cr: &Value, cfg: &CustomResourceSubresourceScale) -> ErrorList {
    replicas_errors(cr, &cfg.spec_replicas_path)
}

/// `ValidateScaleStatus`: the status replicas path as for the spec, and the label
/// selector path, if set, holds a string (or nothing).
pub fn validate_scale_status(cr: &Value, cfg: &CustomResourceSubresourceScale) -> ErrorList {
    let mut errs = replicas_errors(cr, &cfg.status_replicas_path);
    if let Some(p) = cfg.label_selector_path.as_deref()
        && let Err(e) = nested_string(cr, &split_path(p))
    {
        errs.push(FieldError::invalid(&Path::new(p), "", e));
    }
    errs
}

fn replicas_errors(cr: &Value, path: &str) -> ErrorList {
    let p = Path::new(path);
    match nested_int64(cr, &split_path(path)) {
        Err(e) => vec![FieldError::invalid(&p, 0i64, e)],
        Ok(Some(v)) if v < 0 => vec![FieldError::invalid(
            &p,
            v,
            "should be a non-negative integer",
        )],
        Ok(Some(v)) if v > MAX_REPLICAS => vec![FieldError::invalid(
            &p,
            v,
            format!("should be less than or equal to {MAX_REPLICAS}"),
        )],
        _ => Vec::new(),
    }
}
