//! The parts of CustomResourceDefinition validation that admission's CRD checks leave
//! out (`apis/apiextensions/validation`): the complete structural-schema rules,
//! `default` values (valid, pruned, and forming valid metadata in embedded resources),
//! `x-kubernetes-list-type` / `-map-type` / `-list-map-keys`, defaults where they are
//! forbidden, the static shape of `x-kubernetes-validations` rules, and
//! `selectableFields`.
//!
//! [`validate_crd_extra`] reports only what `admission::validate` does not already report
//! for the same CRD, so the two lists can simply be concatenated. On update, errors the
//! old CRD already had are not reported again (Kubernetes ratchets these checks on the
//! old object too).

use clipper_proto::api::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionVersion, JSONSchemaProps, SelectableField,
};
use clipper_proto::jsonschema::{JSONSchemaPropsOrArray, JSONSchemaPropsOrBool};
use serde_json::{Map, Value};

use super::gofmt::error_value;
use super::objectmeta::{coerce_embedded, validate_embedded};
use super::pruning::prune;
use super::structural::{Structural, validate_structural};
use super::validation::validate_value;
use crate::admission::field::{ErrorList, FieldError, GoStrings, Path, Raw};

/// At most this many selectable fields per version (`MaxSelectableFields`).
pub const MAX_SELECTABLE_FIELDS: usize = 8;
const VALIDATION_REASONS: &[&str] = &[
    "FieldValueDuplicate",
    "FieldValueForbidden",
    "FieldValueInvalid",
    "FieldValueRequired",
];
const META_FIELDS: [&str; 3] = ["metadata", "kind", "apiVersion"];

/// Errors Kubernetes reports for `crd` (`old` on update) that admission's CRD validation
/// does not.
pub fn validate_crd_extra(
    crd: &CustomResourceDefinition,
    old: Option<&CustomResourceDefinition>,
) -> ErrorList {
    let known: Vec<String> = crate::admission::validate(crd, old.map(|o| o as &dyn std::any::Any))
        .iter()
        .map(FieldError::message)
        .collect();
    let old_errs: Vec<String> = old
        .map(|o| {
            all_schema_errors(o)
                .iter()
                .map(FieldError::message)
                .collect()
        })
        .unwrap_or_default();
    let mut out: Vec<FieldError> = Vec::new();
    for e in all_schema_errors(crd) {
        let m = e.message();
        if !known.contains(&m) && !old_errs.contains(&m) {
            out.push(e);
        }
    }
    out
}

fn all_schema_errors(crd: &CustomResourceDefinition) -> ErrorList {
    let mut errs = Vec::new();
    for (i, v) in crd.spec.versions.iter().enumerate() {
        errs.extend(version_errors(
            v,
            &Path::new("spec").child("versions").index(i),
        ));
    }
    errs
}

fn version_errors(v: &CustomResourceDefinitionVersion, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let schema = v
        .schema
        .as_ref()
        .and_then(|s| s.open_apiv3_schema.as_deref());
    let sp = path.child("schema").child("openAPIV3Schema");
    if let Some(schema) = schema {
        let mut openapi = Vec::new();
        openapi_extra(schema, &sp, Ctx::root(), true, &mut openapi);
        match Structural::new(schema) {
            Err(e) => {
                // Shown only when nothing else is wrong, as Kubernetes does.
                if openapi.is_empty() {
                    errs.push(FieldError::invalid(&sp, "", e));
                }
            }
            Ok(st) => {
                let structural = validate_structural(&st, &sp);
                if structural.is_empty() {
                    errs.extend(validate_defaults(&st, &sp));
                } else {
                    errs.extend(structural);
                }
            }
        }
        errs.extend(openapi);
    }
    if let Some(fields) = v.selectable_fields.as_deref().filter(|f| !f.is_empty()) {
        match schema {
            None => errs.push(FieldError::invalid(
                &path.child("selectableFields"),
                "",
                "selectableFields may only be set when version.schema.openAPIV3Schema is not included",
            )),
            Some(schema) => {
                if let Ok(st) = Structural::new(schema) {
                    errs.extend(selectable_fields(fields, &st, &path.child("selectableFields")));
                }
            }
        }
    }
    errs
}

/// Where defaults may appear, and whether we are inside a resource's metadata.
#[derive(Clone)]
struct Ctx {
    allow_defaults: bool,
    disallow_reason: String,
    inside_resource_meta: bool,
}

impl Ctx {
    fn root() -> Ctx {
        Ctx {
            allow_defaults: true,
            disallow_reason: String::new(),
            inside_resource_meta: false,
        }
    }

    fn forbid_defaults(&self, reason: String) -> Ctx {
        Ctx {
            allow_defaults: false,
            disallow_reason: reason,
            ..self.clone()
        }
    }
}

fn has_newlines(s: &str) -> bool {
    s.contains(['\n', '\r'])
}

/// The checks of `ValidateCustomResourceDefinitionOpenAPISchema` that admission lacks.
fn openapi_extra(s: &JSONSchemaProps, path: &Path, ctx: Ctx, is_root: bool, errs: &mut ErrorList) {
    if s.default.is_some() && !ctx.allow_defaults {
        let mut detail = "must not be set".to_string();
        if !ctx.disallow_reason.is_empty() {
            detail.push(' ');
            detail.push_str(&ctx.disallow_reason);
        }
        errs.push(FieldError::forbidden(&path.child("default"), detail));
    }
    if s.dependencies.is_some() {
        errs.push(FieldError::forbidden(
            &path.child("dependencies"),
            "dependencies is not supported",
        ));
    }
    if ctx.inside_resource_meta && s.x_kubernetes_embedded_resource == Some(true) {
        errs.push(FieldError::forbidden(
            &path.child("x-kubernetes-embedded-resource"),
            "must not be used inside of resource meta",
        ));
    }
    if let Some(JSONSchemaPropsOrBool::Schema(ap)) = &s.additional_properties {
        let sub = if ctx.inside_resource_meta {
            ctx.forbid_defaults("inside additionalProperties applying to object metadata".into())
        } else {
            ctx.clone()
        };
        openapi_extra(ap, &path.child("additionalProperties"), sub, false, errs);
    }
    for (k, p) in s.properties.iter().flatten() {
        let mut sub = ctx.clone();
        if (is_root || s.x_kubernetes_embedded_resource == Some(true))
            && META_FIELDS.contains(&k.as_str())
        {
            sub.inside_resource_meta = true;
            if is_root {
                sub = sub.forbid_defaults(format!("in top-level {k}"));
            }
        }
        openapi_extra(p, &path.child("properties").key(k), sub, false, errs);
    }
    if let Some(n) = &s.not {
        openapi_extra(n, &path.child("not"), ctx.clone(), false, errs);
    }
    for (list, name) in [
        (&s.all_of, "allOf"),
        (&s.one_of, "oneOf"),
        (&s.any_of, "anyOf"),
    ] {
        for (i, n) in list.iter().flatten().enumerate() {
            openapi_extra(n, &path.child(name).index(i), ctx.clone(), false, errs);
        }
    }
    if let Some(JSONSchemaPropsOrArray::Schema(items)) = &s.items {
        openapi_extra(items, &path.child("items"), ctx.clone(), false, errs);
    }
    extensions_extra(s, path, errs);
}

fn extensions_extra(s: &JSONSchemaProps, path: &Path, errs: &mut ErrorList) {
    let t = s.type_.as_deref().unwrap_or("");
    if s.x_kubernetes_preserve_unknown_fields == Some(false) {
        errs.push(FieldError::invalid(
            &path.child("x-kubernetes-preserve-unknown-fields"),
            false,
            "must be true or undefined",
        ));
    }
    if let Some(mt) = &s.x_kubernetes_map_type {
        let msg = "must be object if x-kubernetes-map-type is specified";
        if t.is_empty() {
            errs.push(FieldError::required(&path.child("type"), msg));
        } else if t != "object" {
            errs.push(FieldError::invalid(&path.child("type"), t, msg));
        }
        if mt != "atomic" && mt != "granular" {
            errs.push(FieldError::not_supported(
                &path.child("x-kubernetes-map-type"),
                mt.as_str(),
                &["atomic", "granular"],
            ));
        }
    }
    let items = match &s.items {
        Some(JSONSchemaPropsOrArray::Schema(b)) => Some(b.as_ref()),
        _ => None,
    };
    let list_type = s.x_kubernetes_list_type.as_deref();
    if let Some(lt) = list_type {
        let msg = "must be array if x-kubernetes-list-type is specified";
        if t.is_empty() {
            errs.push(FieldError::required(&path.child("type"), msg));
        } else if t != "array" {
            errs.push(FieldError::invalid(&path.child("type"), t, msg));
        } else if lt == "set"
            && let Some(is) = items
        {
            let it = is.type_.as_deref().unwrap_or("");
            let shown = Raw(is
                .x_kubernetes_list_type
                .as_deref()
                .map_or_else(|| "null".to_string(), crate::admission::field::go_quote));
            if it == "array"
                && is
                    .x_kubernetes_list_type
                    .as_deref()
                    .is_some_and(|x| x != "atomic")
            {
                errs.push(FieldError::invalid(
                    &path.child("items").child("x-kubernetes-list-type"),
                    shown,
                    "must be atomic as item of a list with x-kubernetes-list-type=set",
                ));
            } else if it == "object" && is.x_kubernetes_map_type.as_deref() != Some("atomic") {
                errs.push(FieldError::invalid(
                    &path.child("items").child("x-kubernetes-map-type"),
                    shown,
                    "must be atomic as item of a list with x-kubernetes-list-type=set",
                ));
            }
        }
        if !matches!(lt, "atomic" | "set" | "map") {
            errs.push(FieldError::not_supported(
                &path.child("x-kubernetes-list-type"),
                lt,
                &["atomic", "set", "map"],
            ));
        }
    }
    let keys = s.x_kubernetes_list_map_keys.as_deref().unwrap_or(&[]);
    if !keys.is_empty() {
        let msg = "must be map if x-kubernetes-list-map-keys is non-empty";
        match list_type {
            None => errs.push(FieldError::required(
                &path.child("x-kubernetes-list-type"),
                msg,
            )),
            Some(lt) if lt != "map" => errs.push(FieldError::invalid(
                &path.child("x-kubernetes-list-type"),
                lt,
                msg,
            )),
            _ => {}
        }
    }
    if list_type == Some("map") {
        if keys.is_empty() {
            errs.push(FieldError::required(
                &path.child("x-kubernetes-list-map-keys"),
                "must not be empty if x-kubernetes-list-type is map",
            ));
        }
        match &s.items {
            None => errs.push(FieldError::required(
                &path.child("items"),
                "must have a schema if x-kubernetes-list-type is map",
            )),
            Some(JSONSchemaPropsOrArray::Schemas(_)) => errs.push(FieldError::invalid(
                &path.child("items"),
                Raw("<array of schemas>".to_string()),
                "must only have a single schema if x-kubernetes-list-type is map",
            )),
            Some(JSONSchemaPropsOrArray::Schema(is)) => {
                let it = is.type_.as_deref().unwrap_or("");
                if it != "object" {
                    errs.push(FieldError::invalid(
                        &path.child("items").child("type"),
                        it,
                        "must be object if parent array's x-kubernetes-list-type is map",
                    ));
                } else {
                    let mut seen: Vec<&String> = Vec::new();
                    for k in keys {
                        match is.properties.as_ref().and_then(|p| p.get(k)) {
                            Some(ks) => {
                                let kt = ks.type_.as_deref().unwrap_or("");
                                if kt == "array" || kt == "object" {
                                    errs.push(FieldError::invalid(
                                        &path.child("items").child("properties").key(k).child("type"),
                                        it,
                                        "must be a scalar type if parent array's x-kubernetes-list-type is map",
                                    ));
                                }
                            }
                            None => errs.push(FieldError::invalid(
                                &path.child("x-kubernetes-list-map-keys"),
                                GoStrings(Some(keys)),
                                "entries must all be names of item properties",
                            )),
                        }
                        if seen.contains(&k) {
                            errs.push(FieldError::invalid(
                                &path.child("x-kubernetes-list-map-keys"),
                                GoStrings(Some(keys)),
                                "must not contain duplicate entries",
                            ));
                        }
                        seen.push(k);
                    }
                }
            }
        }
    }
    // validateMapListKeysMapSet
    if let (Some(lt @ ("set" | "map")), Some(is)) = (list_type, items) {
        if is.nullable == Some(true) {
            errs.push(FieldError::forbidden(
                &path.child("items").child("nullable"),
                format!("cannot be nullable when x-kubernetes-list-type is {lt}"),
            ));
        }
        if lt == "map" {
            let required = is.required.as_deref().unwrap_or(&[]);
            for k in keys {
                let Some(ks) = is.properties.as_ref().and_then(|p| p.get(k)) else {
                    continue;
                };
                let kp = path.child("items").child("properties").key(k);
                if !required.contains(k) && ks.default.is_none() {
                    errs.push(FieldError::required(
                        &kp.child("default"),
                        "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
                    ));
                }
                if ks.nullable == Some(true) {
                    errs.push(FieldError::forbidden(
                        &kp.child("nullable"),
                        "this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
                    ));
                }
            }
        }
    }
    for (i, rule) in s.x_kubernetes_validations.iter().flatten().enumerate() {
        let rp = path.child("x-kubernetes-validations").index(i);
        let msg = rule.message.as_deref().unwrap_or("");
        let trimmed_rule = rule.rule.trim();
        let trimmed_msg = msg.trim();
        if trimmed_rule.is_empty() {
            errs.push(FieldError::required(
                &rp.child("rule"),
                "rule is not specified",
            ));
        } else if !msg.is_empty() && trimmed_msg.is_empty() {
            errs.push(FieldError::invalid(
                &rp.child("message"),
                msg,
                "message must be non-empty if specified",
            ));
        } else if has_newlines(trimmed_msg) {
            errs.push(FieldError::invalid(
                &rp.child("message"),
                msg,
                "message must not contain line breaks",
            ));
        } else if has_newlines(trimmed_rule) && trimmed_msg.is_empty() {
            errs.push(FieldError::required(
                &rp.child("message"),
                "message must be specified if rule contains line breaks",
            ));
        }
        if let Some(me) = &rule.message_expression
            && !me.is_empty()
            && me.trim().is_empty()
        {
            errs.push(FieldError::required(
                &rp.child("messageExpression"),
                "messageExpression must be non-empty if specified",
            ));
        }
        if let Some(r) = &rule.reason
            && !VALIDATION_REASONS.contains(&r.as_str())
        {
            errs.push(FieldError::not_supported(
                &rp.child("reason"),
                r.as_str(),
                VALIDATION_REASONS,
            ));
        }
        if let Some(fp) = &rule.field_path {
            if !fp.is_empty() && fp.trim().is_empty() {
                errs.push(FieldError::invalid(
                    &rp.child("fieldPath"),
                    fp.as_str(),
                    "fieldPath must be non-empty if specified",
                ));
            }
            if has_newlines(fp) {
                errs.push(FieldError::invalid(
                    &rp.child("fieldPath"),
                    fp.as_str(),
                    "fieldPath must not contain line breaks",
                ));
            }
        }
    }
}

/// One step from an embedded resource down to a default inside its metadata.
#[derive(Clone)]
enum Step {
    Child(String),
    Index,
}

/// `ValidateDefaults`: each default must validate against its schema, survive pruning
/// unchanged, and (inside an embedded resource's metadata) produce valid metadata.
pub fn validate_defaults(s: &Structural, path: &Path) -> ErrorList {
    let mut root = s.clone();
    root.extensions.embedded_resource = true;
    let mut errs = Vec::new();
    defaults_walk(&root, path, &root, &[], false, &mut errs);
    errs
}

fn defaults_walk(
    s: &Structural,
    path: &Path,
    resource_root: &Structural,
    steps: &[Step],
    inside_meta: bool,
    errs: &mut ErrorList,
) {
    let (resource_root, steps, inside_meta): (&Structural, Vec<Step>, bool) =
        if s.extensions.embedded_resource {
            (s, Vec::new(), false)
        } else {
            (resource_root, steps.to_vec(), inside_meta)
        };
    if let Some(d) = &s.generic.default {
        let dp = path.child("default");
        if inside_meta {
            let mut obj = surround(d, &steps);
            let mut forced = resource_root.clone();
            forced.extensions.embedded_resource = true;
            let meta_errs = match coerce_embedded(&mut obj, &forced, false) {
                Err(e) => vec![e.message()],
                Ok(_) => validate_embedded(&forced, &obj)
                    .iter()
                    .map(FieldError::message)
                    .collect(),
            };
            if !meta_errs.is_empty() {
                let agg = if meta_errs.len() == 1 {
                    meta_errs[0].clone()
                } else {
                    format!("[{}]", meta_errs.join(", "))
                };
                errs.push(FieldError::invalid(
                    &dp,
                    Raw(error_value(d)),
                    format!("must result in valid metadata: {agg}"),
                ));
            } else {
                errs.extend(validate_value(s, d, Some(&dp)));
            }
        } else {
            let mut pruned = d.clone();
            prune(&mut pruned, Some(s), s.extensions.embedded_resource);
            if &pruned != d {
                errs.push(FieldError::invalid(
                    &dp,
                    Raw(error_value(d)),
                    "must not have unknown fields",
                ));
            }
            let mut coerced = d.clone();
            let e = match coerce_embedded(&mut coerced, s, false) {
                Err(e) => vec![rebase(e, &dp)],
                Ok(_) => validate_embedded(s, d)
                    .into_iter()
                    .map(|e| rebase(e, &dp))
                    .collect(),
            };
            if e.is_empty() {
                errs.extend(validate_value(s, d, Some(&dp)));
            } else {
                errs.extend(e);
            }
        }
    }
    if let Some(items) = &s.items {
        let mut st = steps.clone();
        st.push(Step::Index);
        defaults_walk(
            items,
            &path.child("items"),
            resource_root,
            &st,
            inside_meta,
            errs,
        );
    }
    for (k, p) in &s.properties {
        let sub_meta =
            inside_meta || (s.extensions.embedded_resource && META_FIELDS.contains(&k.as_str()));
        let mut st = steps.clone();
        st.push(Step::Child(k.clone()));
        defaults_walk(
            p,
            &path.child("properties").key(k),
            resource_root,
            &st,
            sub_meta,
            errs,
        );
    }
}

/// Errors about a default's own content are reported under `<path>.default`.
fn rebase(mut e: FieldError, dp: &Path) -> FieldError {
    e.field = if e.field.is_empty() || e.field == "<nil>" {
        dp.to_string()
    } else if e.field.starts_with('[') {
        format!("{dp}{}", e.field)
    } else {
        format!("{dp}.{}", e.field)
    };
    e
}

/// The object an embedded resource's default sits in: `{apiVersion, kind, ...steps: d}`.
fn surround(d: &Value, steps: &[Step]) -> Value {
    let mut v = d.clone();
    for step in steps.iter().rev() {
        v = match step {
            Step::Index => Value::Array(vec![v]),
            Step::Child(k) => {
                let mut m = Map::new();
                m.insert(k.clone(), v);
                Value::Object(m)
            }
        };
    }
    if let Value::Object(m) = &mut v {
        m.insert("apiVersion".into(), Value::from("validation/v1"));
        m.insert("kind".into(), Value::from("Validation"));
    }
    v
}

/// `ValidateCustomResourceSelectableFields`, with a plain `.a.b` path resolver.
fn selectable_fields(fields: &[SelectableField], s: &Structural, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let mut unique: Vec<String> = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        let jp = path.index(i).child("jsonPath");
        if f.json_path.is_empty() {
            errs.push(FieldError::required(&jp, ""));
            continue;
        }
        let Some(rest) = f.json_path.strip_prefix('.') else {
            errs.push(FieldError::invalid(
                &jp,
                f.json_path.as_str(),
                "is an invalid path: must start with '.'",
            ));
            continue;
        };
        let parts: Vec<&str> = rest.split('.').collect();
        let mut node = Some(s);
        for p in &parts {
            node = node.and_then(|n| n.child(p));
        }
        let Some(found) = node.filter(|_| parts.iter().all(|p| !p.is_empty())) else {
            errs.push(FieldError::invalid(
                &jp,
                f.json_path.as_str(),
                format!(
                    "is an invalid path: does not refer to a valid field: {}",
                    f.json_path
                ),
            ));
            continue;
        };
        if parts[0] == "metadata" {
            errs.push(FieldError::invalid(
                &jp,
                f.json_path.as_str(),
                "must not point to fields in metadata",
            ));
        }
        if !matches!(
            found.generic.type_.as_str(),
            "string" | "boolean" | "integer"
        ) {
            errs.push(FieldError::invalid(
                &jp,
                f.json_path.as_str(),
                "must point to a field of type string, boolean or integer. Enum string fields and strings with formats are allowed.",
            ));
        }
        if unique.contains(&f.json_path) {
            errs.push(FieldError::duplicate(&jp, f.json_path.as_str()));
        } else {
            unique.push(f.json_path.clone());
        }
    }
    if unique.len() > MAX_SELECTABLE_FIELDS {
        errs.push(FieldError::too_many(
            path,
            unique.len(),
            MAX_SELECTABLE_FIELDS,
        ));
    }
    errs
}
