//! Structural schemas (`pkg/apiserver/schema`): the tree form of a CRD version's
//! `openAPIV3Schema` that pruning, defaulting and validation walk, and the invariants a
//! schema must meet to be structural (`ValidateStructural`).
//!
//! [`Structural::new`] converts like `NewStructural`: it refuses only the fields no
//! structural schema may use (`$ref`, `id`, `patternProperties`, ...). Whether the result
//! *is* structural is [`validate_structural`]'s job; [`Structural::from_schema`] does both.

use std::collections::BTreeMap;

use clipper_proto::api::apiextensions::v1::{JSONSchemaProps, ValidationRule};
use clipper_proto::jsonschema::{JSONSchemaPropsOrArray, JSONSchemaPropsOrBool};
use regex::Regex;
use serde_json::Value;

use super::pattern::compile_go_regex;
use crate::admission::field::{ErrorList, FieldError, Path};

/// Deepest schema nesting converted. Schemas arrive as JSON, which the API server stops
/// decoding at 128 levels; a schema built in-process deeper than this is refused instead
/// of risking the stack in the recursive walks.
pub const MAX_SCHEMA_DEPTH: usize = 256;

/// A structural schema node (`schema.Structural`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Structural {
    pub items: Option<Box<Structural>>,
    pub properties: BTreeMap<String, Structural>,
    pub additional_properties: Option<AdditionalProperties<Structural>>,
    pub generic: Generic,
    pub extensions: Extensions,
    /// `x-kubernetes-validations` (CEL rules; not evaluated, see `validation`).
    pub x_validations: Vec<ValidationRule>,
    pub value_validation: Option<Box<ValueValidation>>,
}

/// `additionalProperties`: a boolean, or a schema every other key's value must meet.
#[derive(Clone, Debug, PartialEq)]
pub enum AdditionalProperties<T> {
    Bool(bool),
    Schema(Box<T>),
}

impl<T> AdditionalProperties<T> {
    /// The schema, when one is given.
    pub fn schema(&self) -> Option<&T> {
        match self {
            AdditionalProperties::Schema(s) => Some(s),
            AdditionalProperties::Bool(_) => None,
        }
    }
}

/// The generic keywords (`schema.Generic`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Generic {
    pub type_: String,
    pub description: String,
    pub title: String,
    pub default: Option<Value>,
    pub nullable: bool,
}

/// Kubernetes' vendor extensions (`schema.Extensions`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extensions {
    pub preserve_unknown_fields: bool,
    pub embedded_resource: bool,
    pub int_or_string: bool,
    pub list_map_keys: Vec<String>,
    pub list_type: Option<String>,
    pub map_type: Option<String>,
}

impl Extensions {
    fn is_empty(&self) -> bool {
        *self == Extensions::default()
    }
}

/// A compiled `pattern`: the source text and the regex or the compile error.
#[derive(Clone, Debug)]
pub struct Pattern {
    pub source: String,
    pub compiled: Result<Regex, String>,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.source == other.source
    }
}

impl Pattern {
    pub fn new(source: &str) -> Pattern {
        Pattern {
            source: source.to_string(),
            compiled: compile_go_regex(source),
        }
    }
}

/// The value-validation keywords (`schema.ValueValidation`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ValueValidation {
    pub format: String,
    pub maximum: Option<f64>,
    pub exclusive_maximum: bool,
    pub minimum: Option<f64>,
    pub exclusive_minimum: bool,
    pub max_length: Option<i64>,
    pub min_length: Option<i64>,
    pub pattern: Option<Pattern>,
    pub max_items: Option<i64>,
    pub min_items: Option<i64>,
    pub unique_items: bool,
    pub multiple_of: Option<f64>,
    pub enum_: Vec<Value>,
    pub max_properties: Option<i64>,
    pub min_properties: Option<i64>,
    pub required: Vec<String>,
    pub all_of: Vec<NestedValueValidation>,
    pub one_of: Vec<NestedValueValidation>,
    pub any_of: Vec<NestedValueValidation>,
    pub not: Option<Box<NestedValueValidation>>,
}

/// A schema under `allOf`/`anyOf`/`oneOf`/`not` (`schema.NestedValueValidation`): value
/// validation only; the generic keywords and extensions are kept only to report them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NestedValueValidation {
    pub value_validation: ValueValidation,
    pub x_validations: Vec<ValidationRule>,
    pub items: Option<Box<NestedValueValidation>>,
    pub properties: BTreeMap<String, NestedValueValidation>,
    pub additional_properties: Option<AdditionalProperties<NestedValueValidation>>,
    pub forbidden_generics: Generic,
    pub forbidden_extensions: Extensions,
}

/// Why `NewStructural` refused a schema: a field no structural schema may carry.
fn unsupported(s: &JSONSchemaProps) -> Option<String> {
    let msg = if s.id.as_deref().is_some_and(|i| !i.is_empty()) {
        "OpenAPIV3Schema 'id' is not supported"
    } else if s.schema.as_deref().is_some_and(|i| !i.is_empty()) {
        "OpenAPIV3Schema 'schema' is not supported"
    } else if s.ref_path.as_deref().is_some_and(|r| !r.is_empty()) {
        "OpenAPIV3Schema '$ref' is not supported"
    } else if s.pattern_properties.as_ref().is_some_and(|p| !p.is_empty()) {
        "OpenAPIV3Schema 'patternProperties' is not supported"
    } else if s.dependencies.as_ref().is_some_and(|d| !d.is_empty()) {
        "OpenAPIV3Schema 'dependencies' is not supported"
    } else if s.additional_items.is_some() {
        "OpenAPIV3Schema 'additionalItems' is not supported"
    } else if s.definitions.as_ref().is_some_and(|d| !d.is_empty()) {
        "OpenAPIV3Schema 'definitions' is not supported"
    } else {
        return None;
    };
    Some(msg.to_string())
}

fn depth_error() -> String {
    format!("OpenAPIV3Schema is nested deeper than {MAX_SCHEMA_DEPTH} levels")
}

fn generic(s: &JSONSchemaProps) -> Generic {
    Generic {
        type_: s.type_.clone().unwrap_or_default(),
        description: s.description.clone().unwrap_or_default(),
        title: s.title.clone().unwrap_or_default(),
        default: s.default.clone().map(Value::from).filter(|d| !d.is_null()),
        nullable: s.nullable == Some(true),
    }
}

fn extensions(s: &JSONSchemaProps) -> Result<Extensions, String> {
    if s.x_kubernetes_preserve_unknown_fields == Some(false) {
        return Err(
            "internal error: 'x-kubernetes-preserve-unknown-fields' must be true or undefined"
                .to_string(),
        );
    }
    Ok(Extensions {
        preserve_unknown_fields: s.x_kubernetes_preserve_unknown_fields == Some(true),
        embedded_resource: s.x_kubernetes_embedded_resource == Some(true),
        int_or_string: s.x_kubernetes_int_or_string == Some(true),
        list_map_keys: s.x_kubernetes_list_map_keys.clone().unwrap_or_default(),
        list_type: s.x_kubernetes_list_type.clone(),
        map_type: s.x_kubernetes_map_type.clone(),
    })
}

fn single_items(s: &JSONSchemaProps) -> Result<Option<&JSONSchemaProps>, String> {
    match &s.items {
        None => Ok(None),
        Some(JSONSchemaPropsOrArray::Schema(b)) => Ok(Some(b)),
        Some(JSONSchemaPropsOrArray::Schemas(v)) if v.is_empty() => Ok(None),
        Some(JSONSchemaPropsOrArray::Schemas(_)) => {
            Err("OpenAPIV3Schema 'items' must be a schema, but is an array".to_string())
        }
    }
}

fn value_validation(s: &JSONSchemaProps, depth: usize) -> Result<ValueValidation, String> {
    let nested_list = |list: &Option<Vec<JSONSchemaProps>>| {
        list.iter()
            .flatten()
            .map(|x| NestedValueValidation::new_at(x, depth + 1))
            .collect::<Result<Vec<_>, String>>()
    };
    Ok(ValueValidation {
        format: s.format.clone().unwrap_or_default(),
        maximum: s.maximum,
        exclusive_maximum: s.exclusive_maximum == Some(true),
        minimum: s.minimum,
        exclusive_minimum: s.exclusive_minimum == Some(true),
        max_length: s.max_length,
        min_length: s.min_length,
        pattern: s
            .pattern
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(Pattern::new),
        max_items: s.max_items,
        min_items: s.min_items,
        unique_items: s.unique_items == Some(true),
        multiple_of: s.multiple_of,
        enum_: s.enum_.iter().flatten().cloned().map(Value::from).collect(),
        max_properties: s.max_properties,
        min_properties: s.min_properties,
        required: s.required.clone().unwrap_or_default(),
        all_of: nested_list(&s.all_of)?,
        one_of: nested_list(&s.one_of)?,
        any_of: nested_list(&s.any_of)?,
        not: match &s.not {
            Some(n) => Some(Box::new(NestedValueValidation::new_at(n, depth + 1)?)),
            None => None,
        },
    })
}

impl NestedValueValidation {
    fn new_at(s: &JSONSchemaProps, depth: usize) -> Result<NestedValueValidation, String> {
        if depth > MAX_SCHEMA_DEPTH {
            return Err(depth_error());
        }
        if let Some(e) = unsupported(s) {
            return Err(e);
        }
        let mut properties = BTreeMap::new();
        for (k, v) in s.properties.iter().flatten() {
            properties.insert(k.clone(), NestedValueValidation::new_at(v, depth + 1)?);
        }
        let additional_properties = match &s.additional_properties {
            None => None,
            Some(JSONSchemaPropsOrBool::Bool(b)) => Some(AdditionalProperties::Bool(*b)),
            Some(JSONSchemaPropsOrBool::Schema(x)) => Some(AdditionalProperties::Schema(Box::new(
                NestedValueValidation::new_at(x, depth + 1)?,
            ))),
        };
        Ok(NestedValueValidation {
            value_validation: value_validation(s, depth)?,
            x_validations: s.x_kubernetes_validations.clone().unwrap_or_default(),
            items: match single_items(s)? {
                Some(i) => Some(Box::new(NestedValueValidation::new_at(i, depth + 1)?)),
                None => None,
            },
            properties,
            additional_properties,
            forbidden_generics: generic(s),
            forbidden_extensions: extensions(s)?,
        })
    }
}

impl Structural {
    /// Converts a schema as `NewStructural` does. The error names the first field that no
    /// structural schema may use (as a sentence Kubernetes wraps in a
    /// `spec.versions[i].schema.openAPIV3Schema: Invalid value: ""` error).
    pub fn new(s: &JSONSchemaProps) -> Result<Structural, String> {
        Structural::new_at(s, 0)
    }

    fn new_at(s: &JSONSchemaProps, depth: usize) -> Result<Structural, String> {
        if depth > MAX_SCHEMA_DEPTH {
            return Err(depth_error());
        }
        if let Some(e) = unsupported(s) {
            return Err(e);
        }
        let mut properties = BTreeMap::new();
        for (k, v) in s.properties.iter().flatten() {
            properties.insert(k.clone(), Structural::new_at(v, depth + 1)?);
        }
        let additional_properties = match &s.additional_properties {
            None => None,
            Some(JSONSchemaPropsOrBool::Bool(b)) => Some(AdditionalProperties::Bool(*b)),
            Some(JSONSchemaPropsOrBool::Schema(x)) => Some(AdditionalProperties::Schema(Box::new(
                Structural::new_at(x, depth + 1)?,
            ))),
        };
        Ok(Structural {
            items: match single_items(s)? {
                Some(i) => Some(Box::new(Structural::new_at(i, depth + 1)?)),
                None => None,
            },
            properties,
            additional_properties,
            generic: generic(s),
            extensions: extensions(s)?,
            x_validations: s.x_kubernetes_validations.clone().unwrap_or_default(),
            value_validation: Some(Box::new(value_validation(s, depth)?)),
        })
    }

    /// Converts and checks a version's schema: conversion errors as Kubernetes reports
    /// them (`<path>: Invalid value: "": <reason>`), then [`validate_structural`].
    /// `path` is the schema's own path, e.g. `spec.versions[0].schema.openAPIV3Schema`.
    pub fn from_schema(s: &JSONSchemaProps, path: &Path) -> Result<Structural, ErrorList> {
        let st = Structural::new(s).map_err(|e| vec![FieldError::invalid(path, "", e)])?;
        let errs = validate_structural(&st, path);
        if errs.is_empty() { Ok(st) } else { Err(errs) }
    }

    /// The schema of `.status` (what the status subresource validates).
    pub fn status(&self) -> Option<&Structural> {
        self.properties.get("status")
    }

    /// The schema for the value under key `k` of an object: its property, else the
    /// additionalProperties schema.
    pub fn child(&self, k: &str) -> Option<&Structural> {
        self.properties.get(k).or_else(|| {
            self.additional_properties
                .as_ref()
                .and_then(AdditionalProperties::schema)
        })
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Level {
    Root,
    Item,
    Field,
}

/// `ValidateStructural`: the structural invariants and completeness of value validations,
/// errors sorted by message as Kubernetes sorts them.
pub fn validate_structural(s: &Structural, path: &Path) -> ErrorList {
    let mut errs = invariants(s, Level::Root, path);
    if let Some(vv) = &s.value_validation {
        errs.extend(vv_completeness(vv, Some(s), path, path));
    }
    errs.sort_by_key(FieldError::message);
    errs
}

fn is_int_or_string_pair(list: &[NestedValueValidation]) -> bool {
    let plain = |n: &NestedValueValidation, t: &str| {
        let mut want = NestedValueValidation::default();
        want.forbidden_generics.type_ = t.to_string();
        *n == want
    };
    list.len() == 2 && plain(&list[0], "integer") && plain(&list[1], "string")
}

fn invariants(s: &Structural, lvl: Level, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let t = s.generic.type_.as_str();
    if t == "array" && s.items.is_none() {
        errs.push(FieldError::required(
            &path.child("items"),
            "must be specified",
        ));
    }
    if let Some(items) = &s.items {
        errs.extend(invariants(items, Level::Item, &path.child("items")));
    }
    for (k, v) in &s.properties {
        errs.extend(invariants(
            v,
            Level::Field,
            &path.child("properties").key(k),
        ));
    }
    if let Some(ap) = &s.additional_properties {
        if lvl == Level::Root {
            errs.push(FieldError::forbidden(
                &path.child("additionalProperties"),
                "must not be used at the root",
            ));
        }
        if let Some(inner) = ap.schema() {
            errs.extend(invariants(
                inner,
                Level::Field,
                &path.child("additionalProperties"),
            ));
        }
    }
    let x = &s.extensions;
    if x.int_or_string && x.preserve_unknown_fields {
        errs.push(FieldError::invalid(
            &path.child("x-kubernetes-preserve-unknown-fields"),
            true,
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if x.int_or_string && x.embedded_resource {
        errs.push(FieldError::invalid(
            &path.child("x-kubernetes-embedded-resource"),
            true,
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if let Some(vv) = &s.value_validation {
        let skip_any_of = is_int_or_string_pair(&vv.any_of);
        let skip_first_all_of_any_of = vv
            .all_of
            .first()
            .is_some_and(|a| is_int_or_string_pair(&a.value_validation.any_of));
        errs.extend(vv_invariants(
            vv,
            skip_any_of,
            skip_first_all_of_any_of,
            path,
        ));
    }
    let check_metadata = lvl == Level::Root || x.embedded_resource;
    if x.embedded_resource && t != "object" {
        let msg = "must be object if x-kubernetes-embedded-resource is true";
        if t.is_empty() {
            errs.push(FieldError::required(&path.child("type"), msg));
        } else {
            errs.push(FieldError::invalid(&path.child("type"), t, msg));
        }
    } else if t.is_empty() && !x.int_or_string && !x.preserve_unknown_fields {
        let msg = match lvl {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errs.push(FieldError::required(&path.child("type"), msg));
    }
    if x.embedded_resource && s.additional_properties.is_some() {
        errs.push(FieldError::forbidden(
            &path.child("additionalProperties"),
            "must not be used if x-kubernetes-embedded-resource is set",
        ));
    }
    if lvl == Level::Root && !t.is_empty() && t != "object" {
        errs.push(FieldError::invalid(
            &path.child("type"),
            t,
            "must be object at the root",
        ));
    }
    if check_metadata {
        for key in ["kind", "apiVersion"] {
            if let Some(p) = s.properties.get(key)
                && p.generic.type_ != "string"
            {
                errs.push(FieldError::invalid(
                    &path.child("properties").key(key).child("type"),
                    p.generic.type_.as_str(),
                    "must be string",
                ));
            }
        }
    }
    if let Some(m) = s.properties.get("metadata") {
        let mp = path.child("properties").key("metadata");
        if check_metadata && m.generic.type_ != "object" {
            errs.push(FieldError::invalid(
                &mp.child("type"),
                m.generic.type_.as_str(),
                "must be object",
            ));
        }
        if lvl == Level::Root && !metadata_only_names(m) {
            errs.push(FieldError::forbidden(
                &mp,
                "must not specify anything other than name and generateName, but metadata is implicitly specified",
            ));
        }
    }
    if x.embedded_resource && !x.preserve_unknown_fields && s.properties.is_empty() {
        errs.push(FieldError::required(
            &path.child("properties"),
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }
    errs
}

/// Whether a root `metadata` schema restricts nothing but `name` and `generateName`
/// (its type and default are ignored here; the default is checked by CRD validation).
fn metadata_only_names(m: &Structural) -> bool {
    let mut only = m.clone();
    let keys: Vec<&String> = m.properties.keys().collect();
    let names_only = match keys.as_slice() {
        [a] => *a == "name" || *a == "generateName",
        [a, b] => *a == "generateName" && *b == "name",
        _ => false,
    };
    if names_only {
        only.properties.clear();
    }
    only.generic.type_.clear();
    only.generic.default = None;
    if only.value_validation.is_none() {
        only.value_validation = Some(Box::default());
    }
    only == Structural {
        value_validation: Some(Box::default()),
        ..Structural::default()
    }
}

fn vv_invariants(
    v: &ValueValidation,
    skip_any_of: bool,
    skip_first_all_of_any_of: bool,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    if !skip_any_of {
        for (i, n) in v.any_of.iter().enumerate() {
            errs.extend(nested_invariants(n, false, &path.child("anyOf").index(i)));
        }
    }
    for (i, n) in v.all_of.iter().enumerate() {
        let skip = skip_first_all_of_any_of && i == 0;
        errs.extend(nested_invariants(n, skip, &path.child("allOf").index(i)));
    }
    for (i, n) in v.one_of.iter().enumerate() {
        errs.extend(nested_invariants(n, false, &path.child("oneOf").index(i)));
    }
    if let Some(n) = &v.not {
        errs.extend(nested_invariants(n, false, &path.child("not")));
    }
    if let Some(p) = &v.pattern
        && let Err(e) = &p.compiled
    {
        errs.push(FieldError::invalid(
            &path.child("pattern"),
            p.source.as_str(),
            format!("must be a valid regular expression, but isn't: {e}"),
        ));
    }
    errs
}

fn nested_invariants(v: &NestedValueValidation, skip_any_of: bool, path: &Path) -> ErrorList {
    let mut errs = vv_invariants(&v.value_validation, skip_any_of, false, path);
    if let Some(items) = &v.items {
        errs.extend(nested_invariants(items, false, &path.child("items")));
    }
    for (k, p) in &v.properties {
        errs.extend(nested_invariants(
            p,
            false,
            &path.child("properties").key(k),
        ));
    }
    let g = &v.forbidden_generics;
    if !g.type_.is_empty() {
        errs.push(FieldError::forbidden(
            &path.child("type"),
            "must be empty to be structural",
        ));
    }
    if v.additional_properties.is_some() {
        errs.push(FieldError::forbidden(
            &path.child("additionalProperties"),
            "must be undefined to be structural",
        ));
    }
    if g.default.is_some() {
        errs.push(FieldError::forbidden(
            &path.child("default"),
            "must be undefined to be structural",
        ));
    }
    if !g.title.is_empty() {
        errs.push(FieldError::forbidden(
            &path.child("title"),
            "must be empty to be structural",
        ));
    }
    if !g.description.is_empty() {
        errs.push(FieldError::forbidden(
            &path.child("description"),
            "must be empty to be structural",
        ));
    }
    if g.nullable {
        errs.push(FieldError::forbidden(
            &path.child("nullable"),
            "must be false to be structural",
        ));
    }
    let x = &v.forbidden_extensions;
    if !x.is_empty() {
        for (set, name, what) in [
            (
                x.preserve_unknown_fields,
                "x-kubernetes-preserve-unknown-fields",
                "must be false to be structural",
            ),
            (
                x.embedded_resource,
                "x-kubernetes-embedded-resource",
                "must be false to be structural",
            ),
            (
                x.int_or_string,
                "x-kubernetes-int-or-string",
                "must be false to be structural",
            ),
            (
                !x.list_map_keys.is_empty(),
                "x-kubernetes-list-map-keys",
                "must be empty to be structural",
            ),
            (
                x.list_type.is_some(),
                "x-kubernetes-list-type",
                "must be undefined to be structural",
            ),
            (
                x.map_type.is_some(),
                "x-kubernetes-map-type",
                "must be undefined to be structural",
            ),
        ] {
            if set {
                errs.push(FieldError::forbidden(&path.child(name), what));
            }
        }
    }
    if !v.x_validations.is_empty() {
        errs.push(FieldError::forbidden(
            &path.child("x-kubernetes-validations"),
            "must be empty to be structural",
        ));
    }
    if v.properties.contains_key("metadata") {
        errs.push(FieldError::forbidden(
            &path.child("properties").key("metadata"),
            "must not be specified in a nested context",
        ));
    }
    errs
}

/// `validateValueValidationCompleteness`: every field a value validation talks about
/// must also be specified structurally.
fn vv_completeness(
    v: &ValueValidation,
    s: Option<&Structural>,
    s_path: &Path,
    v_path: &Path,
) -> ErrorList {
    let Some(s) = s else {
        return vec![FieldError::required(
            s_path,
            format!("because it is defined in {v_path}"),
        )];
    };
    let mut errs = Vec::new();
    if let Some(n) = &v.not {
        errs.extend(nested_completeness(
            n,
            Some(s),
            s_path,
            &v_path.child("not"),
        ));
    }
    for (list, name) in [
        (&v.all_of, "allOf"),
        (&v.any_of, "anyOf"),
        (&v.one_of, "oneOf"),
    ] {
        for (i, n) in list.iter().enumerate() {
            errs.extend(nested_completeness(
                n,
                Some(s),
                s_path,
                &v_path.child(name).index(i),
            ));
        }
    }
    errs
}

fn nested_completeness(
    v: &NestedValueValidation,
    s: Option<&Structural>,
    s_path: &Path,
    v_path: &Path,
) -> ErrorList {
    let Some(s) = s else {
        return vec![FieldError::required(
            s_path,
            format!("because it is defined in {v_path}"),
        )];
    };
    let mut errs = vv_completeness(&v.value_validation, Some(s), s_path, v_path);
    if let Some(items) = &v.items {
        errs.extend(nested_completeness(
            items,
            s.items.as_deref(),
            &s_path.child("items"),
            &v_path.child("items"),
        ));
    }
    for (k, vf) in &v.properties {
        let sp = s_path.child("properties").key(k);
        let vp = v_path.child("properties").key(k);
        match s.properties.get(k) {
            Some(sf) => errs.extend(nested_completeness(vf, Some(sf), &sp, &vp)),
            None => errs.push(FieldError::required(
                &sp,
                format!("because it is defined in {vp}"),
            )),
        }
    }
    errs
}

/// Every `x-kubernetes-validations` rule of the schema with its schema path (e.g.
/// `<path>.properties[spec].x-kubernetes-validations[0]`), whether or not a value would
/// reach it: the CEL rules a CRD declares and Clipper does not evaluate.
pub fn schema_cel_rules<'a>(s: &'a Structural, path: &Path) -> Vec<(String, &'a ValidationRule)> {
    let mut out = Vec::new();
    cel_rules(s, path, &mut out);
    out
}

fn cel_rules<'a>(s: &'a Structural, path: &Path, out: &mut Vec<(String, &'a ValidationRule)>) {
    for (i, r) in s.x_validations.iter().enumerate() {
        out.push((
            path.child("x-kubernetes-validations").index(i).to_string(),
            r,
        ));
    }
    if let Some(items) = &s.items {
        cel_rules(items, &path.child("items"), out);
    }
    for (k, p) in &s.properties {
        cel_rules(p, &path.child("properties").key(k), out);
    }
    if let Some(ap) = s
        .additional_properties
        .as_ref()
        .and_then(AdditionalProperties::schema)
    {
        cel_rules(ap, &path.child("additionalProperties"), out);
    }
    if let Some(vv) = &s.value_validation {
        for (i, n) in vv.all_of.iter().enumerate() {
            for (j, r) in n.x_validations.iter().enumerate() {
                out.push((
                    path.child("allOf")
                        .index(i)
                        .child("x-kubernetes-validations")
                        .index(j)
                        .to_string(),
                    r,
                ));
            }
        }
    }
}
