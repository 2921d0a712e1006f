//! Serving custom resources as apiextensions-apiserver does: structural schemas, pruning,
//! defaulting, validation (OpenAPI keywords, list types, embedded resources, metadata),
//! the status and scale subresources, and the CRD lifecycle (names, conditions, stored
//! versions) — in Kubernetes 1.33's behaviour and wording.
//!
//! * [`Structural`] / [`validate_structural`]: a version's `openAPIV3Schema` as a tree,
//!   and why it is not structural.
//! * [`ServedVersion`]: one served version of a CRD, with the request pipeline —
//!   [`ServedVersion::decode`] (prune, metadata coercion, nulls, defaults; unknown-field
//!   paths for `fieldValidation`), [`ServedVersion::validate_create`] /
//!   [`ServedVersion::validate_update`] / [`ServedVersion::validate_status_update`], the
//!   write preparation of the main resource and `/status`, and the Scale.
//! * The building blocks, usable alone: [`prune`], [`prune_non_nullable_nulls`],
//!   [`apply_defaults`], [`validate_value`], [`validate_value_update`] (ratcheting),
//!   [`validate_list_sets_and_maps`], [`validate_embedded`], [`cel_rules_not_evaluated`].
//! * [`lifecycle`]: accepted names and conditions, storage version, served versions.
//! * [`validate_crd_extra`]: CRD checks admission's CRD validation lacks.
//!
//! Not replicated: CEL (`x-kubernetes-validations` are listed, never evaluated),
//! conversion webhooks, managed-fields bookkeeping of the Scale subresource, and Go's
//! exact `encoding/json` error texts for malformed metadata. Field errors keep
//! admission's [`ErrorType`]s; type mismatches, which Kubernetes 1.33 tags
//! `FieldValueTypeInvalid`, read the same (`Invalid value`) but carry the reason
//! `FieldValueInvalid`.

pub mod crd_validation;
pub mod defaulting;
pub mod formats;
pub mod gofmt;
pub mod lifecycle;
pub mod listtype;
pub mod objectmeta;
pub mod pattern;
pub mod pruning;
pub mod structural;
pub mod subresources;
pub mod validation;

#[cfg(test)]
mod tests;

use clipper_proto::api::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceSubresourceScale,
};
use clipper_proto::api::autoscaling::v1::Scale;
use clipper_proto::api::meta::v1::ObjectMeta;
use clipper_proto::codec;
use serde_json::Value;

pub use crd_validation::validate_crd_extra;
pub use defaulting::{apply_defaults, prune_non_nullable_nulls};
pub use listtype::validate_list_sets_and_maps;
pub use objectmeta::{coerce_embedded, decode_object_meta, validate_embedded};
pub use pruning::prune;
pub use structural::{Structural, validate_structural};
pub use subresources::ScaleError;
pub use validation::{
    SkippedCelRule, cel_rules_not_evaluated, validate_value, validate_value_update,
};

use crate::admission::field::{ErrorList, FieldError, Path, Raw};
use crate::admission::meta::{validate_generic_object_meta, validate_object_meta_update_generic};
use crate::admission::names::NameRule;
use gofmt::{error_value, go_type, go_v};

/// Deepest value nesting the schema-independent walks (pruning under a missing schema,
/// null pruning) descend. Requests are decoded with a 128-level limit, so only values
/// built in-process can be deeper; below this depth they are left untouched rather than
/// risking the stack.
pub const MAX_VALUE_DEPTH: usize = 256;

/// How [`ServedVersion::decode`] treats an object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Drop metadata fields that do not decode instead of failing (reads from storage).
    pub drop_invalid_metadata: bool,
    /// Set `metadata.generation` to 1 when it is 0 or missing (reads from storage).
    pub repair_generation: bool,
}

impl DecodeOptions {
    /// A request body: malformed metadata is an error.
    pub const REQUEST: DecodeOptions = DecodeOptions {
        drop_invalid_metadata: false,
        repair_generation: false,
    };
    /// An object read from storage: best effort, as Kubernetes reads it.
    pub const STORAGE: DecodeOptions = DecodeOptions {
        drop_invalid_metadata: true,
        repair_generation: true,
    };
}

/// Why an object could not be decoded (Kubernetes answers 400 BadRequest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

/// One served version of a CRD and everything needed to handle its objects.
#[derive(Clone, Debug)]
pub struct ServedVersion {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub namespaced: bool,
    /// The version's structural schema (None: no schema, only legal with
    /// `spec.preserveUnknownFields`).
    pub schema: Option<Structural>,
    /// `spec.preserveUnknownFields: true` (legacy CRDs): nothing is pruned.
    pub preserve_unknown_fields: bool,
    pub status_enabled: bool,
    pub scale: Option<CustomResourceSubresourceScale>,
}

impl ServedVersion {
    /// The serving view of `version` of `crd`; errors when the version does not exist or
    /// its schema is not structural.
    pub fn new(crd: &CustomResourceDefinition, version: &str) -> Result<ServedVersion, ErrorList> {
        let Some((i, v)) = crd
            .spec
            .versions
            .iter()
            .enumerate()
            .find(|(_, v)| v.name == version)
        else {
            return Err(vec![FieldError::not_found(
                &Path::new("spec").child("versions"),
                version,
            )]);
        };
        let schema = match v
            .schema
            .as_ref()
            .and_then(|s| s.open_apiv3_schema.as_deref())
        {
            Some(s) => {
                let path = Path::new("spec")
                    .child("versions")
                    .index(i)
                    .child("schema")
                    .child("openAPIV3Schema");
                Some(Structural::from_schema(s, &path)?)
            }
            None => None,
        };
        let sub = v.subresources.as_ref();
        Ok(ServedVersion {
            group: crd.spec.group.clone(),
            version: v.name.clone(),
            kind: crd.spec.names.kind.clone(),
            namespaced: crd.spec.scope == "Namespaced",
            schema,
            preserve_unknown_fields: crd.spec.preserve_unknown_fields == Some(true),
            status_enabled: sub.is_some_and(|s| s.status.is_some()),
            scale: sub.and_then(|s| s.scale.clone()),
        })
    }

    /// `group/version`.
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }

    /// The decoding pipeline (`unstructuredSchemaCoercer` then the defaulter): metadata
    /// pruned to ObjectMeta, unknown fields pruned, non-nullable nulls dropped, embedded
    /// resources' metadata coerced, defaults applied. Returns the unknown-field paths
    /// (metadata first, then the rest, each sorted), which the API server turns into
    /// `unknown field "<path>"` warnings or, under `fieldValidation=Strict`, an error
    /// (see `clipper_proto::codec::Decoded::validate`).
    pub fn decode(&self, obj: &mut Value, opts: DecodeOptions) -> Result<Vec<String>, DecodeError> {
        let Value::Object(map) = obj else {
            return Err(DecodeError(format!(
                "Object 'Kind' is missing in '{}'",
                serde_json::to_string(obj).unwrap_or_default()
            )));
        };
        let string_field = |k: &str| -> Result<Option<String>, DecodeError> {
            match map.get(k) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(v) => Err(DecodeError(format!(
                    ".{k} accessor error: {} is of the type {}, expected string",
                    go_v(v),
                    go_type(v)
                ))),
            }
        };
        let kind = string_field("kind")?;
        let api_version = string_field("apiVersion")?;
        let mut unknown = Vec::new();
        let meta = match map.get("metadata") {
            None => None,
            Some(m) => {
                let mut d = decode_object_meta(m, opts.drop_invalid_metadata, "metadata")
                    .map_err(DecodeError)?;
                unknown.append(&mut d.unknown_fields);
                Some(d)
            }
        };
        let group = objectmeta::parse_group_version(api_version.as_deref().unwrap_or(""))
            .map_err(DecodeError)?
            .0
            .to_string();
        let mut meta_value = meta.map(|d| (d.value, d.meta.generation.unwrap_or(0)));
        if group == self.group && kind.as_deref() == Some(self.kind.as_str()) {
            if !self.preserve_unknown_fields {
                unknown.extend(prune(obj, self.schema.as_ref(), true));
                prune_non_nullable_nulls(obj, self.schema.as_ref());
            }
            if let Some(s) = &self.schema {
                unknown.extend(
                    coerce_embedded(obj, s, opts.drop_invalid_metadata)
                        .map_err(|e| DecodeError(e.message()))?,
                );
            }
            if opts.repair_generation
                && let Some((m, g)) = &mut meta_value
                && *g == 0
                && let Value::Object(mm) = m
            {
                mm.insert("generation".into(), Value::from(1));
                *g = 1;
            }
        }
        if let Value::Object(map) = obj {
            if let Some(k) = kind {
                map.insert("kind".into(), Value::String(k));
            }
            if let Some(a) = api_version {
                map.insert("apiVersion".into(), Value::String(a));
            }
            if let Some((m, _)) = meta_value {
                map.insert("metadata".into(), m);
            }
        }
        if group == self.group && self.kind == obj.get("kind").and_then(Value::as_str).unwrap_or("")
        {
            apply_defaults(obj, self.schema.as_ref());
        }
        Ok(unknown)
    }

    /// `ValidateTypeMeta`: kind and apiVersion are this version's.
    fn type_meta_errors(&self, obj: &Value) -> ErrorList {
        let text = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let mut errs = Vec::new();
        let kind = text("kind");
        if kind != self.kind {
            errs.push(FieldError::invalid(
                &Path::new("kind"),
                kind,
                format!("must be {}", self.kind),
            ));
        }
        let av = text("apiVersion");
        if av != self.api_version() {
            errs.push(FieldError::invalid(
                &Path::new("apiVersion"),
                av,
                format!("must be {}", self.api_version()),
            ));
        }
        errs
    }

    fn scale_errors(&self, obj: &Value, spec: bool) -> ErrorList {
        let Some(cfg) = &self.scale else {
            return Vec::new();
        };
        let mut errs = Vec::new();
        if spec {
            errs.extend(subresources::validate_scale_spec(obj, cfg));
        }
        errs.extend(subresources::validate_scale_status(obj, cfg));
        errs
    }

    /// The strategy's `Validate` for a create: type meta (alone, if wrong), metadata,
    /// the schema, scale paths, embedded resources and list-type uniqueness.
    pub fn validate_create(&self, obj: &Value) -> ErrorList {
        let errs = self.type_meta_errors(obj);
        if !errs.is_empty() {
            return errs;
        }
        let mut errs = match object_meta(obj) {
            Ok(m) => validate_generic_object_meta(&m, self.namespaced, NameRule::DnsSubdomain),
            Err(e) => vec![e],
        };
        if let Some(s) = &self.schema {
            errs.extend(validate_value(s, obj, None));
        }
        errs.extend(self.scale_errors(obj, true));
        if let Some(s) = &self.schema {
            errs.extend(validate_embedded(s, obj));
            errs.extend(validate_list_sets_and_maps(s, obj));
        }
        errs
    }

    /// The strategy's `ValidateUpdate`: as on create, with metadata checked against the
    /// old object, schema errors ratcheted, and list-type errors reported only when the
    /// old object had none.
    pub fn validate_update(&self, new: &Value, old: &Value) -> ErrorList {
        let errs = self.type_meta_errors(new);
        if !errs.is_empty() {
            return errs;
        }
        let mut errs = meta_update_errors(new, old);
        if let Some(s) = &self.schema {
            errs.extend(validate_value_update(s, new, old, None));
        }
        errs.extend(self.scale_errors(new, true));
        if let Some(s) = &self.schema {
            errs.extend(validate_embedded(s, new));
            if validate_list_sets_and_maps(s, old).is_empty() {
                errs.extend(validate_list_sets_and_maps(s, new));
            }
        }
        errs
    }

    /// The status strategy's `ValidateUpdate`: metadata against the old object, `.status`
    /// against the status schema (ratcheted, errors under `status.`), the status scale
    /// paths, and list types when the old object had no such errors.
    pub fn validate_status_update(&self, new: &Value, old: &Value) -> ErrorList {
        let errs = self.type_meta_errors(new);
        if !errs.is_empty() {
            return errs;
        }
        let mut errs = meta_update_errors(new, old);
        if let (Some(status), Some(ss)) = (
            new.get("status"),
            self.schema.as_ref().and_then(Structural::status),
        ) {
            let prefix = Path::new("status");
            errs.extend(match old.get("status") {
                Some(o) => validate_value_update(ss, status, o, Some(&prefix)),
                None => validate_value(ss, status, Some(&prefix)),
            });
        }
        errs.extend(self.scale_errors(new, false));
        if let Some(s) = &self.schema {
            let new_errs = validate_list_sets_and_maps(s, new);
            if !new_errs.is_empty() && validate_list_sets_and_maps(s, old).is_empty() {
                errs.extend(new_errs);
            }
        }
        errs
    }

    /// The CEL rules that applied to `obj` and were not evaluated.
    pub fn unevaluated_cel_rules(&self, obj: &Value) -> Vec<SkippedCelRule> {
        self.schema
            .as_ref()
            .map(|s| cel_rules_not_evaluated(s, obj))
            .unwrap_or_default()
    }

    /// See [`subresources::prepare_for_create`].
    pub fn prepare_for_create(&self, obj: &mut Value) {
        subresources::prepare_for_create(obj, self.status_enabled);
    }

    /// See [`subresources::prepare_for_update`].
    pub fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        subresources::prepare_for_update(new, old, self.status_enabled);
    }

    /// See [`subresources::prepare_for_status_update`].
    pub fn prepare_for_status_update(&self, new: &mut Value, old: &Value) {
        subresources::prepare_for_status_update(new, old);
    }

    /// The Scale of `obj`; None when the version has no scale subresource.
    pub fn scale(&self, obj: &Value) -> Option<Result<Scale, ScaleError>> {
        self.scale
            .as_ref()
            .map(|cfg| subresources::scale_from_custom_resource(obj, cfg).map(|(s, _)| s))
    }

    /// Applies a written Scale to `obj`; None when the version has no scale subresource.
    pub fn apply_scale(&self, obj: &mut Value, scale: &Scale) -> Option<Result<(), ScaleError>> {
        self.scale
            .as_ref()
            .map(|cfg| subresources::apply_scale(obj, cfg, scale))
    }
}

/// The object's metadata as ObjectMeta (unknown fields ignored).
fn object_meta(obj: &Value) -> Result<ObjectMeta, FieldError> {
    match obj.get("metadata") {
        None => Ok(ObjectMeta::default()),
        Some(m) => codec::from_value::<ObjectMeta>(m.clone())
            .map(|d| d.value)
            .map_err(|e| {
                FieldError::invalid(&Path::new("metadata"), Raw(error_value(m)), e.to_string())
            }),
    }
}

fn meta_update_errors(new: &Value, old: &Value) -> ErrorList {
    match (object_meta(new), object_meta(old)) {
        (Ok(n), Ok(o)) => validate_object_meta_update_generic(&n, &o),
        (Err(e), _) | (_, Err(e)) => vec![e],
    }
}
