//! CustomResourceDefinition validation (apiextensions-apiserver): names, group, scope,
//! versions and the single storage version, conversion, printer columns, subresources,
//! stored versions, API approval for protected groups, and the structural-schema rules
//! that do not need CEL or a schema compiler.

use std::collections::BTreeMap;

use clipper_proto::api::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionNames, CustomResourceDefinitionSpec,
    CustomResourceSubresources, JSONSchemaProps,
};
use clipper_proto::jsonschema::{JSONSchemaPropsOrArray, JSONSchemaPropsOrBool};

use super::field::{ErrorList, FieldError, GoStrings, Json, Path, Raw};
use super::meta::FIELD_IMMUTABLE;
use super::names;
use super::pod::s;

/// A deprecation warning is at most 256 characters.
pub const MAX_DEPRECATION_WARNING_LENGTH: usize = 256;
const PRINTER_COLUMN_TYPES: &[&str] = &["boolean", "date", "integer", "number", "string"];
const PRINTER_COLUMN_FORMATS: &[&str] = &[
    "byte",
    "date",
    "date-time",
    "double",
    "float",
    "int32",
    "int64",
    "password",
];
const OPENAPI_TYPES: &[&str] = &["array", "boolean", "integer", "number", "object", "string"];
const APPROVAL_ANNOTATION: &str = "api-approved.kubernetes.io";
const ALLOWED_AT_ROOT_WITH_STATUS: &str = "[Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example XPreserveUnknownFields XValidations]";

fn dns1035(v: &str) -> Vec<String> {
    names::is_dns1035_label(v)
}

fn validate_names(n: &CustomResourceDefinitionNames, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if !n.plural.is_empty() {
        let e = dns1035(&n.plural);
        if !e.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("plural"),
                &n.plural,
                e.join(","),
            ));
        }
    }
    let singular = s(&n.singular);
    if !singular.is_empty() {
        let e = dns1035(singular);
        if !e.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("singular"),
                singular,
                e.join(","),
            ));
        }
    }
    if !n.kind.is_empty() {
        let e = dns1035(&n.kind.to_lowercase());
        if !e.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("kind"),
                &n.kind,
                format!(
                    "may have mixed case, but should otherwise match: {}",
                    e.join(",")
                ),
            ));
        }
    }
    let list_kind = s(&n.list_kind);
    if !list_kind.is_empty() {
        let e = dns1035(&list_kind.to_lowercase());
        if !e.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("listKind"),
                list_kind,
                format!(
                    "may have mixed case, but should otherwise match: {}",
                    e.join(",")
                ),
            ));
        }
    }
    for (i, sn) in n.short_names.iter().flatten().enumerate() {
        let e = dns1035(sn);
        if !e.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("shortNames").index(i),
                sn,
                e.join(","),
            ));
        }
    }
    if !n.kind.is_empty() && n.kind == list_kind {
        errs.push(FieldError::invalid(
            &path.child("listKind"),
            list_kind,
            "kind and listKind may not be the same",
        ));
    }
    for (i, c) in n.categories.iter().flatten().enumerate() {
        let e = dns1035(c);
        if !e.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("categories").index(i),
                c,
                e.join(","),
            ));
        }
    }
    errs
}

fn validate_simple_json_path(p: &str, path: &Path) -> ErrorList {
    if p.is_empty() {
        vec![FieldError::invalid(path, p, "must not be empty")]
    } else if !p.starts_with('.') {
        vec![FieldError::invalid(
            path,
            p,
            "must be a simple json path starting with .",
        )]
    } else {
        Vec::new()
    }
}

fn validate_subresources(sr: Option<&CustomResourceSubresources>, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let Some(scale) = sr.and_then(|s| s.scale.as_ref()) else {
        return errs;
    };
    for (v, child, prefix, msg) in [
        (
            &scale.spec_replicas_path,
            "scale.specReplicasPath",
            ".spec.",
            "should be a json path under .spec",
        ),
        (
            &scale.status_replicas_path,
            "scale.statusReplicasPath",
            ".status.",
            "should be a json path under .status",
        ),
    ] {
        let p = path.child(child);
        if v.is_empty() {
            errs.push(FieldError::required(&p, ""));
        } else {
            let e = validate_simple_json_path(v, &p);
            if !e.is_empty() {
                errs.extend(e);
            } else if !v.starts_with(prefix) {
                errs.push(FieldError::invalid(&p, v, msg));
            }
        }
    }
    if let Some(l) = scale
        .label_selector_path
        .as_deref()
        .filter(|l| !l.is_empty())
    {
        let p = path.child("scale.labelSelectorPath");
        let e = validate_simple_json_path(l, &p);
        if !e.is_empty() {
            errs.extend(e);
        } else if !l.starts_with(".spec.") && !l.starts_with(".status.") {
            errs.push(FieldError::invalid(
                &p,
                l,
                "should be a json path under either .spec or .status",
            ));
        }
    }
    errs
}

#[derive(Clone, Copy, PartialEq)]
enum Level {
    Root,
    Item,
    Field,
}

fn item_schema(s: &JSONSchemaProps) -> Option<&JSONSchemaProps> {
    match &s.items {
        Some(JSONSchemaPropsOrArray::Schema(b)) => Some(b),
        _ => None,
    }
}

/// The structural-schema invariants (`schema.ValidateStructural`), errors sorted by message.
fn validate_structural(schema: &JSONSchemaProps, path: &Path) -> ErrorList {
    let mut errs = structural_invariants(schema, Level::Root, path);
    errs.sort_by_key(FieldError::message);
    errs
}

fn structural_invariants(s: &JSONSchemaProps, lvl: Level, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let t = s.type_.as_deref().unwrap_or("");
    if t == "array" && s.items.is_none() {
        errs.push(FieldError::required(
            &path.child("items"),
            "must be specified",
        ));
    }
    if let Some(item) = item_schema(s) {
        errs.extend(structural_invariants(
            item,
            Level::Item,
            &path.child("items"),
        ));
    }
    for (k, v) in s.properties.iter().flatten() {
        errs.extend(structural_invariants(
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
        if let JSONSchemaPropsOrBool::Schema(inner) = ap {
            errs.extend(structural_invariants(
                inner,
                Level::Field,
                &path.child("additionalProperties"),
            ));
        }
    }
    let int_or_string = s.x_kubernetes_int_or_string == Some(true);
    let preserve = s.x_kubernetes_preserve_unknown_fields == Some(true);
    let embedded = s.x_kubernetes_embedded_resource == Some(true);
    if int_or_string && preserve {
        errs.push(FieldError::invalid(
            &path.child("x-kubernetes-preserve-unknown-fields"),
            true,
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if int_or_string && embedded {
        errs.push(FieldError::invalid(
            &path.child("x-kubernetes-embedded-resource"),
            true,
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    for (list, child) in [
        (&s.any_of, "anyOf"),
        (&s.all_of, "allOf"),
        (&s.one_of, "oneOf"),
    ] {
        if int_or_string && child != "oneOf" {
            continue;
        }
        for (i, nested) in list.iter().flatten().enumerate() {
            errs.extend(nested_value_validation(nested, &path.child(child).index(i)));
        }
    }
    if let Some(not) = &s.not {
        errs.extend(nested_value_validation(not, &path.child("not")));
    }
    if let Some(p) = &s.pattern
        && let Err(e) = regex_syntax::Parser::new().parse(p)
    {
        errs.push(FieldError::invalid(
            &path.child("pattern"),
            p,
            format!("must be a valid regular expression, but isn't: {e}"),
        ));
    }
    let check_metadata = lvl == Level::Root || embedded;
    if embedded && t != "object" {
        if t.is_empty() {
            errs.push(FieldError::required(
                &path.child("type"),
                "must be object if x-kubernetes-embedded-resource is true",
            ));
        } else {
            errs.push(FieldError::invalid(
                &path.child("type"),
                t,
                "must be object if x-kubernetes-embedded-resource is true",
            ));
        }
    } else if t.is_empty() && !int_or_string && !preserve {
        let msg = match lvl {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errs.push(FieldError::required(&path.child("type"), msg));
    }
    if embedded && s.additional_properties.is_some() {
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
    let props = s.properties.as_ref();
    for key in ["kind", "apiVersion"] {
        if let Some(p) = props.and_then(|p| p.get(key)) {
            let pt = p.type_.as_deref().unwrap_or("");
            if check_metadata && pt != "string" {
                errs.push(FieldError::invalid(
                    &path.child("properties").key(key).child("type"),
                    pt,
                    "must be string",
                ));
            }
        }
    }
    if let Some(m) = props.and_then(|p| p.get("metadata")) {
        let mp = path.child("properties").key("metadata");
        let mt = m.type_.as_deref().unwrap_or("");
        if check_metadata && mt != "object" {
            errs.push(FieldError::invalid(&mp.child("type"), mt, "must be object"));
        }
        if lvl == Level::Root {
            let mut only = m.clone();
            only.type_ = None;
            only.default = None;
            if let Some(p) = &only.properties {
                let allowed = p.keys().all(|k| k == "name" || k == "generateName");
                if allowed {
                    only.properties = None;
                }
            }
            if only != JSONSchemaProps::default() {
                errs.push(FieldError::forbidden(&mp, "must not specify anything other than name and generateName, but metadata is implicitly specified"));
            }
        }
    }
    if embedded && !preserve && props.is_none_or(|p| p.is_empty()) {
        errs.push(FieldError::required(&path.child("properties"), "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"));
    }
    errs
}

/// anyOf/allOf/oneOf/not may only constrain values: no types, no additionalProperties.
fn nested_value_validation(s: &JSONSchemaProps, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if s.type_.as_deref().is_some_and(|t| !t.is_empty()) {
        errs.push(FieldError::forbidden(
            &path.child("type"),
            "must be empty to be structural",
        ));
    }
    if s.additional_properties.is_some() {
        errs.push(FieldError::forbidden(
            &path.child("additionalProperties"),
            "must be undefined to be structural",
        ));
    }
    for (k, v) in s.properties.iter().flatten() {
        errs.extend(nested_value_validation(v, &path.child("properties").key(k)));
    }
    if let Some(item) = item_schema(s) {
        errs.extend(nested_value_validation(item, &path.child("items")));
    }
    for (list, child) in [
        (&s.any_of, "anyOf"),
        (&s.all_of, "allOf"),
        (&s.one_of, "oneOf"),
    ] {
        for (i, nested) in list.iter().flatten().enumerate() {
            errs.extend(nested_value_validation(nested, &path.child(child).index(i)));
        }
    }
    errs
}

/// The OpenAPI-level checks (`ValidateCustomResourceDefinitionOpenAPISchema`).
fn openapi_checks(s: &JSONSchemaProps, path: &Path, allow_defaults: bool) -> ErrorList {
    let mut errs = Vec::new();
    if let Some(t) = s.type_.as_deref().filter(|t| !t.is_empty()) {
        if !OPENAPI_TYPES.contains(&t) {
            errs.push(FieldError::not_supported(
                &path.child("type"),
                t,
                OPENAPI_TYPES,
            ));
        }
        if t == "null" {
            errs.push(FieldError::forbidden(
                &path.child("type"),
                "type cannot be set to null, use nullable as an alternative",
            ));
        }
    }
    if s.default.is_some() && !allow_defaults {
        errs.push(FieldError::forbidden(
            &path.child("default"),
            "must not be set",
        ));
    }
    if s.id.as_deref().is_some_and(|i| !i.is_empty()) {
        errs.push(FieldError::forbidden(
            &path.child("id"),
            "id is not supported",
        ));
    }
    if s.additional_items.is_some() {
        errs.push(FieldError::forbidden(
            &path.child("additionalItems"),
            "additionalItems is not supported",
        ));
    }
    if s.pattern_properties.as_ref().is_some_and(|p| !p.is_empty()) {
        errs.push(FieldError::forbidden(
            &path.child("patternProperties"),
            "patternProperties is not supported",
        ));
    }
    if s.definitions.as_ref().is_some_and(|d| !d.is_empty()) {
        errs.push(FieldError::forbidden(
            &path.child("definitions"),
            "definitions is not supported",
        ));
    }
    if s.ref_path.is_some() {
        errs.push(FieldError::forbidden(
            &path.child("$ref"),
            "$ref is not supported",
        ));
    }
    if matches!(&s.items, Some(JSONSchemaPropsOrArray::Schemas(v)) if !v.is_empty()) {
        errs.push(FieldError::forbidden(
            &path.child("items"),
            "items must be a schema object and not an array",
        ));
    }
    if s.unique_items == Some(true) {
        errs.push(FieldError::forbidden(
            &path.child("uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }
    if let Some(ap) = &s.additional_properties {
        let restricts = match ap {
            JSONSchemaPropsOrBool::Bool(b) => !*b,
            JSONSchemaPropsOrBool::Schema(_) => true,
        };
        if s.properties.as_ref().is_some_and(|p| !p.is_empty()) && restricts {
            errs.push(FieldError::forbidden(
                &path.child("additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        if let JSONSchemaPropsOrBool::Schema(inner) = ap {
            errs.extend(openapi_checks(
                inner,
                &path.child("additionalProperties"),
                allow_defaults,
            ));
        }
    }
    for (k, v) in s.properties.iter().flatten() {
        errs.extend(openapi_checks(
            v,
            &path.child("properties").key(k),
            allow_defaults,
        ));
    }
    if let Some(not) = &s.not {
        errs.extend(openapi_checks(not, &path.child("not"), allow_defaults));
    }
    for (list, child) in [
        (&s.all_of, "allOf"),
        (&s.one_of, "oneOf"),
        (&s.any_of, "anyOf"),
    ] {
        for (i, nested) in list.iter().flatten().enumerate() {
            errs.extend(openapi_checks(
                nested,
                &path.child(child).index(i),
                allow_defaults,
            ));
        }
    }
    if let Some(item) = item_schema(s) {
        errs.extend(openapi_checks(item, &path.child("items"), allow_defaults));
    }
    errs
}

fn schema_has_defaults(s: &JSONSchemaProps) -> bool {
    s.default.is_some()
        || s.properties
            .iter()
            .flatten()
            .any(|(_, v)| schema_has_defaults(v))
        || item_schema(s).is_some_and(schema_has_defaults)
        || matches!(&s.additional_properties, Some(JSONSchemaPropsOrBool::Schema(b)) if schema_has_defaults(b))
}

fn validate_schema(schema: &JSONSchemaProps, status_enabled: bool, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let sp = path.child("openAPIV3Schema");
    if status_enabled {
        if schema.type_.as_deref().is_some_and(|t| t != "object") {
            errs.push(FieldError::invalid(
                &path.child("openAPIV3Schema.type"),
                schema.type_.as_deref().unwrap_or(""),
                "only \"object\" is allowed as the type at the root of the schema if the status subresource is enabled",
            ));
        } else {
            let disallowed = schema.ref_path.is_some()
                || schema.schema.is_some()
                || schema.additional_items.is_some()
                || schema.additional_properties.is_some()
                || schema.all_of.is_some()
                || schema.any_of.is_some()
                || schema.default.is_some()
                || schema.definitions.is_some()
                || schema.enum_.is_some()
                || schema.id.is_some()
                || schema.max_properties.is_some()
                || schema.min_properties.is_some()
                || schema.not.is_some()
                || schema.nullable.is_some_and(|n| n)
                || schema.one_of.is_some()
                || schema.pattern_properties.is_some()
                || schema.x_kubernetes_embedded_resource.is_some_and(|v| v)
                || schema.x_kubernetes_int_or_string.is_some_and(|v| v)
                || schema.x_kubernetes_list_map_keys.is_some()
                || schema.x_kubernetes_list_type.is_some()
                || schema.x_kubernetes_map_type.is_some();
            if disallowed {
                errs.push(FieldError::invalid(
                    &sp,
                    Raw("<schema>".to_string()),
                    format!("only {ALLOWED_AT_ROOT_WITH_STATUS} fields are allowed at the root of the schema if the status subresource is enabled"),
                ));
            }
        }
    }
    if schema.nullable == Some(true) {
        errs.push(FieldError::forbidden(
            &path.child("openAPIV3Schema.nullable"),
            "nullable cannot be true at the root",
        ));
    }
    errs.extend(validate_structural(schema, &sp));
    errs.extend(openapi_checks(schema, &sp, true));
    errs
}

fn validate_deprecation_warning(deprecated: bool, w: Option<&str>) -> Vec<String> {
    if !deprecated && w.is_some() {
        return vec!["can only be set for deprecated versions".to_string()];
    }
    let Some(w) = w else { return Vec::new() };
    let mut errs = Vec::new();
    if w.len() > MAX_DEPRECATION_WARNING_LENGTH {
        errs.push("must be <= 256 characters long".to_string());
    }
    if w.is_empty() {
        errs.push("must not be an empty string".to_string());
    }
    if let Some((i, _)) = w.char_indices().find(|(_, c)| c.is_control()) {
        errs.push(format!(
            "must only contain printable UTF-8 characters; control character found at index {i}"
        ));
    }
    errs
}

fn validate_conversion(spec: &CustomResourceDefinitionSpec, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let Some(conv) = &spec.conversion else {
        return errs;
    };
    let p = path.child("conversion");
    let strategy = conv.strategy.as_str();
    if strategy != "None" && spec.preserve_unknown_fields == Some(true) {
        errs.push(FieldError::invalid(
            &p.child("strategy"),
            strategy,
            "must be None if spec.preserveUnknownFields is true",
        ));
    }
    match strategy {
        "" => errs.push(FieldError::required(&p.child("strategy"), "")),
        "None" | "Webhook" => {}
        other => errs.push(FieldError::not_supported(
            &p.child("strategy"),
            other,
            &["None", "Webhook"],
        )),
    }
    if strategy == "Webhook" {
        match conv.webhook.as_ref() {
            None => errs.push(FieldError::required(
                &p.child("webhookClientConfig"),
                "required when strategy is set to Webhook",
            )),
            Some(w) => {
                match &w.client_config {
                    None => errs.push(FieldError::required(
                        &p.child("webhookClientConfig"),
                        "required when strategy is set to Webhook",
                    )),
                    Some(cc) => match (&cc.url, &cc.service) {
                        (Some(_), Some(_)) | (None, None) => errs.push(FieldError::required(
                            &p.child("webhookClientConfig"),
                            "exactly one of url or service is required",
                        )),
                        (Some(u), None) => {
                            let up = p.child("webhookClientConfig").child("url");
                            if !u.starts_with("https://") {
                                errs.push(FieldError::invalid(
                                    &up,
                                    u,
                                    "'https' is the only allowed URL scheme",
                                ));
                            } else if u["https://".len()..]
                                .split(['/', '?', '#'])
                                .next()
                                .is_none_or(str::is_empty)
                            {
                                errs.push(FieldError::invalid(&up, u, "host must be specified"));
                            }
                        }
                        (None, Some(svc)) => {
                            let sp = p.child("webhookClientConfig").child("service");
                            if svc.name.is_empty() {
                                errs.push(FieldError::required(
                                    &sp.child("name"),
                                    "service name is required",
                                ));
                            }
                            if svc.namespace.is_empty() {
                                errs.push(FieldError::required(
                                    &sp.child("namespace"),
                                    "service namespace is required",
                                ));
                            }
                            if let Some(port) = svc.port {
                                for m in names::is_valid_port_num(i64::from(port)) {
                                    errs.push(FieldError::invalid(&sp.child("port"), port, m));
                                }
                            }
                        }
                    },
                }
                let vp = p.child("conversionReviewVersions");
                let versions = &w.conversion_review_versions;
                if versions.is_empty() {
                    errs.push(FieldError::required(&vp, ""));
                } else {
                    let mut seen = Vec::new();
                    for (i, v) in versions.iter().enumerate() {
                        if seen.contains(v) {
                            errs.push(FieldError::invalid(&vp.index(i), v, "duplicate version"));
                            continue;
                        }
                        seen.push(v.clone());
                        errs.extend(names::to_errors(&vp.index(i), v, dns1035(v)));
                    }
                    if !versions.iter().any(|v| v == "v1" || v == "v1beta1") {
                        errs.push(FieldError::invalid(
                            &vp,
                            GoStrings(Some(versions)),
                            "must include at least one of v1, v1beta1",
                        ));
                    }
                }
            }
        }
    } else if let Some(w) = &conv.webhook {
        if w.client_config.is_some() {
            errs.push(FieldError::forbidden(
                &p.child("webhookClientConfig"),
                "should not be set when strategy is not set to Webhook",
            ));
        }
        if !w.conversion_review_versions.is_empty() {
            errs.push(FieldError::forbidden(
                &p.child("conversionReviewVersions"),
                "should not be set when strategy is not set to Webhook",
            ));
        }
    }
    errs
}

fn validate_spec(spec: &CustomResourceDefinitionSpec, require_schema: bool) -> ErrorList {
    let p = Path::new("spec");
    let mut errs = Vec::new();
    if spec.group.is_empty() {
        errs.push(FieldError::required(&p.child("group"), ""));
    } else {
        let e = names::is_dns1123_subdomain(&spec.group);
        if !e.is_empty() {
            errs.push(FieldError::invalid(
                &p.child("group"),
                &spec.group,
                e.join(","),
            ));
        } else if !spec.group.contains('.') {
            errs.push(FieldError::invalid(
                &p.child("group"),
                &spec.group,
                "should be a domain with at least one dot",
            ));
        }
    }
    match spec.scope.as_str() {
        "" => errs.push(FieldError::required(&p.child("scope"), "")),
        "Cluster" | "Namespaced" => {}
        other => errs.push(FieldError::not_supported(
            &p.child("scope"),
            other,
            &["Cluster", "Namespaced"],
        )),
    }
    let vp = p.child("versions");
    if require_schema {
        for (i, v) in spec.versions.iter().enumerate() {
            if v.schema
                .as_ref()
                .and_then(|s| s.open_apiv3_schema.as_ref())
                .is_none()
            {
                errs.push(FieldError::required(
                    &vp.index(i).child("schema").child("openAPIV3Schema"),
                    "schemas are required",
                ));
            }
        }
    } else if spec.preserve_unknown_fields != Some(true) {
        for (i, v) in spec.versions.iter().enumerate() {
            if v.served
                && v.schema
                    .as_ref()
                    .and_then(|s| s.open_apiv3_schema.as_ref())
                    .is_none()
            {
                errs.push(FieldError::required(
                    &vp.index(i).child("schema").child("openAPIV3Schema"),
                    "because otherwise all fields are pruned",
                ));
            }
        }
    }
    let has_defaults = spec.versions.iter().any(|v| {
        v.schema
            .as_ref()
            .and_then(|s| s.open_apiv3_schema.as_deref())
            .is_some_and(schema_has_defaults)
    });
    if has_defaults
        && spec.preserve_unknown_fields.is_none_or(|p| p)
        && spec.preserve_unknown_fields.is_some()
    {
        errs.push(FieldError::invalid(
            &p.child("preserveUnknownFields"),
            true,
            "must be false in order to use defaults in the schema",
        ));
    }
    let mut storage = 0;
    let mut seen: Vec<&str> = Vec::new();
    let mut unique = true;
    for (i, v) in spec.versions.iter().enumerate() {
        let ip = vp.index(i);
        if v.storage {
            storage += 1;
        }
        if seen.contains(&v.name.as_str()) {
            unique = false;
        } else {
            seen.push(&v.name);
        }
        let e = dns1035(&v.name);
        if !e.is_empty() {
            errs.push(FieldError::invalid(&ip.child("name"), &v.name, e.join(",")));
        }
        for m in validate_deprecation_warning(
            v.deprecated == Some(true),
            v.deprecation_warning.as_deref(),
        ) {
            errs.push(FieldError::invalid(
                &ip.child("deprecationWarning"),
                v.deprecation_warning.clone(),
                m,
            ));
        }
        let status_enabled = v.subresources.as_ref().is_some_and(|s| s.status.is_some());
        if let Some(schema) = v
            .schema
            .as_ref()
            .and_then(|s| s.open_apiv3_schema.as_deref())
        {
            errs.extend(validate_schema(schema, status_enabled, &ip.child("schema")));
        }
        errs.extend(validate_subresources(
            v.subresources.as_ref(),
            &ip.child("subresources"),
        ));
        for (j, col) in v.additional_printer_columns.iter().flatten().enumerate() {
            let cp = ip.child("additionalPrinterColumns").index(j);
            if col.name.is_empty() {
                errs.push(FieldError::required(&cp.child("name"), ""));
            }
            let types = PRINTER_COLUMN_TYPES.join(",");
            if col.type_.is_empty() {
                errs.push(FieldError::required(
                    &cp.child("type"),
                    format!("must be one of {types}"),
                ));
            } else if !PRINTER_COLUMN_TYPES.contains(&col.type_.as_str()) {
                errs.push(FieldError::invalid(
                    &cp.child("type"),
                    &col.type_,
                    format!("must be one of {types}"),
                ));
            }
            if let Some(f) = col.format.as_deref().filter(|f| !f.is_empty())
                && !PRINTER_COLUMN_FORMATS.contains(&f)
            {
                errs.push(FieldError::invalid(
                    &cp.child("format"),
                    f,
                    format!("must be one of {}", PRINTER_COLUMN_FORMATS.join(",")),
                ));
            }
            if col.json_path.is_empty() {
                errs.push(FieldError::required(&cp.child("JSONPath"), ""));
            } else {
                errs.extend(validate_simple_json_path(
                    &col.json_path,
                    &cp.child("JSONPath"),
                ));
            }
        }
    }
    if !unique {
        errs.push(FieldError::invalid(
            &vp,
            Json(&spec.versions),
            "must contain unique version names",
        ));
    }
    if storage != 1 {
        errs.push(FieldError::invalid(
            &vp,
            Json(&spec.versions),
            "must have exactly one version marked as storage version",
        ));
    }
    let np = p.child("names");
    for (empty, child) in [
        (spec.names.plural.is_empty(), "plural"),
        (s(&spec.names.singular).is_empty(), "singular"),
        (spec.names.kind.is_empty(), "kind"),
        (s(&spec.names.list_kind).is_empty(), "listKind"),
    ] {
        if empty {
            errs.push(FieldError::required(&np.child(child), ""));
        }
    }
    errs.extend(validate_names(&spec.names, &np));
    errs.extend(validate_conversion(spec, &p));
    errs
}

fn validate_stored_versions(crd: &CustomResourceDefinition) -> ErrorList {
    let p = Path::new("status").child("storedVersions");
    let stored: Vec<String> = crd
        .status
        .as_ref()
        .and_then(|s| s.stored_versions.clone())
        .unwrap_or_default();
    if stored.is_empty() {
        return vec![FieldError::invalid(
            &p,
            GoStrings(
                crd.status
                    .as_ref()
                    .and_then(|s| s.stored_versions.as_deref()),
            ),
            "must have at least one stored version",
        )];
    }
    let mut errs = Vec::new();
    let mut remaining: BTreeMap<&str, usize> = stored
        .iter()
        .enumerate()
        .map(|(i, v)| (v.as_str(), i))
        .collect();
    for v in &crd.spec.versions {
        let found = remaining.contains_key(v.name.as_str());
        if v.storage && !found {
            errs.push(FieldError::invalid(
                &p,
                GoStrings(Some(&stored)),
                format!("must have the storage version {}", v.name),
            ));
        }
        remaining.remove(v.name.as_str());
    }
    for (v, i) in remaining {
        errs.push(FieldError::invalid(
            &p.index(i),
            v,
            format!("missing from spec.versions; {v} was previously a storage version, and must remain in spec.versions until a storage migration ensures no data remains persisted in {v} and removes {v} from status.storedVersions"),
        ));
    }
    errs
}

fn is_protected_group(g: &str) -> bool {
    g == "k8s.io" || g.ends_with(".k8s.io") || g == "kubernetes.io" || g.ends_with(".kubernetes.io")
}

#[derive(PartialEq)]
enum Approval {
    Missing,
    Bypassed,
    Approved,
    Invalid,
}

fn approval_state(crd: &CustomResourceDefinition) -> (Approval, String) {
    let a = crd
        .metadata
        .annotations
        .as_ref()
        .and_then(|m| m.get(APPROVAL_ANNOTATION))
        .cloned()
        .unwrap_or_default();
    if a.is_empty() {
        return (
            Approval::Missing,
            format!(
                "protected groups must have approval annotation \"{APPROVAL_ANNOTATION}\", see https://github.com/kubernetes/enhancements/pull/1111"
            ),
        );
    }
    if a.starts_with("unapproved") {
        return (Approval::Bypassed, String::new());
    }
    let is_url = a.split_once("://").is_some_and(|(scheme, rest)| {
        !scheme.is_empty()
            && scheme
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
            && !rest.split('/').next().unwrap_or("").is_empty()
    });
    if is_url {
        return (Approval::Approved, String::new());
    }
    (
        Approval::Invalid,
        format!(
            "protected groups must have approval annotation \"{APPROVAL_ANNOTATION}\" with either a URL or a reason starting with \"unapproved\", see https://github.com/kubernetes/enhancements/pull/1111"
        ),
    )
}

fn validate_api_approval(
    crd: &CustomResourceDefinition,
    old: Option<&CustomResourceDefinition>,
) -> ErrorList {
    if !is_protected_group(&crd.spec.group) {
        return Vec::new();
    }
    let (state, reason) = approval_state(crd);
    if let Some(o) = old
        && approval_state(o).0 == state
    {
        return Vec::new();
    }
    let p = Path::new("metadata")
        .child("annotations")
        .key(APPROVAL_ANNOTATION);
    let value = crd
        .metadata
        .annotations
        .as_ref()
        .and_then(|m| m.get(APPROVAL_ANNOTATION))
        .cloned()
        .unwrap_or_default();
    match state {
        Approval::Missing => vec![FieldError::required(&p, reason)],
        Approval::Invalid => vec![FieldError::invalid(&p, value, reason)],
        Approval::Approved | Approval::Bypassed => Vec::new(),
    }
}

fn name_errors(crd: &CustomResourceDefinition) -> ErrorList {
    let required = format!("{}.{}", crd.spec.names.plural, crd.spec.group);
    let mut errs = Vec::new();
    for (v, child) in [
        (s(&crd.metadata.generate_name), "generateName"),
        (s(&crd.metadata.name), "name"),
    ] {
        if !v.is_empty() && v != required {
            errs.push(FieldError::invalid(
                &Path::new("metadata").child(child),
                v,
                "must be spec.names.plural+\".\"+spec.group",
            ));
        }
    }
    errs
}

pub(crate) fn validate_crd(crd: &CustomResourceDefinition) -> ErrorList {
    let mut errs = name_errors(crd);
    errs.extend(validate_spec(&crd.spec, true));
    if let Some(accepted) = crd.status.as_ref().and_then(|s| s.accepted_names.as_ref()) {
        errs.extend(validate_names(
            accepted,
            &Path::new("status").child("acceptedNames"),
        ));
    }
    errs.extend(validate_stored_versions(crd));
    errs.extend(validate_api_approval(crd, None));
    if crd.spec.preserve_unknown_fields == Some(true) {
        errs.push(FieldError::invalid(
            &Path::new("spec").child("preserveUnknownFields"),
            true,
            "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead",
        ));
    }
    errs
}

fn established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| {
            c.iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
}

pub(crate) fn validate_crd_update(
    new: &CustomResourceDefinition,
    old: &CustomResourceDefinition,
) -> ErrorList {
    let old_all_schemas = old.spec.versions.iter().all(|v| {
        v.schema
            .as_ref()
            .and_then(|s| s.open_apiv3_schema.as_ref())
            .is_some()
    });
    let mut errs = name_errors(new);
    errs.extend(validate_spec(&new.spec, old_all_schemas));
    let p = Path::new("spec");
    if established(old) {
        if new.spec.scope != old.spec.scope {
            errs.push(FieldError::invalid(
                &p.child("scope"),
                new.spec.scope.as_str(),
                FIELD_IMMUTABLE,
            ));
        }
        if new.spec.names.kind != old.spec.names.kind {
            errs.push(FieldError::invalid(
                &p.child("names").child("kind"),
                new.spec.names.kind.as_str(),
                FIELD_IMMUTABLE,
            ));
        }
    }
    if new.spec.group != old.spec.group {
        errs.push(FieldError::invalid(
            &p.child("group"),
            new.spec.group.as_str(),
            FIELD_IMMUTABLE,
        ));
    }
    if new.spec.names.plural != old.spec.names.plural {
        errs.push(FieldError::invalid(
            &p.child("names").child("plural"),
            new.spec.names.plural.as_str(),
            FIELD_IMMUTABLE,
        ));
    }
    if let Some(accepted) = new.status.as_ref().and_then(|s| s.accepted_names.as_ref()) {
        errs.extend(validate_names(
            accepted,
            &Path::new("status").child("acceptedNames"),
        ));
    }
    errs.extend(validate_stored_versions(new));
    errs.extend(validate_api_approval(new, Some(old)));
    if old.spec.preserve_unknown_fields != Some(true)
        && new.spec.preserve_unknown_fields == Some(true)
    {
        errs.push(FieldError::invalid(
            &p.child("preserveUnknownFields"),
            true,
            "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead",
        ));
    }
    errs
}
