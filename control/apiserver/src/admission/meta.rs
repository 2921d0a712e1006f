//! ObjectMeta validation (`apimachinery/pkg/api/validation` plus the core group's finalizer
//! rule): names, generateName, namespace scope, labels, annotations, owner references,
//! finalizers, managed fields, and the fields an update may not change.

use std::collections::BTreeMap;

use clipper_proto::api::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta, OwnerReference,
};

use super::field::{ErrorList, FieldError, GoStrings, Json, Path, Raw};
use super::names::{self, NameRule};

/// Total bytes of annotation keys and values (256 KiB), so that metadata stays small next
/// to the object and the store's value limit.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;
/// A field manager name is at most 128 bytes (metav1 validation).
pub const FIELD_MANAGER_MAX_LENGTH: usize = 128;
/// A managed-fields subresource name is at most 256 bytes.
pub const MAX_SUBRESOURCE_NAME_LENGTH: usize = 256;

pub const FIELD_IMMUTABLE: &str = "field is immutable";
pub const IS_NEGATIVE: &str = "must be greater than or equal to 0";

/// Finalizers the core group accepts without a domain prefix.
const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

/// `ValidateNonnegativeField`.
pub fn nonnegative(value: i64, path: &Path) -> ErrorList {
    if value < 0 {
        vec![FieldError::invalid(path, value, IS_NEGATIVE)]
    } else {
        Vec::new()
    }
}

/// `ValidateLabelName`: a qualified name.
pub fn validate_label_name(name: &str, path: &Path) -> ErrorList {
    names::to_errors(path, name, names::is_qualified_name(name))
}

/// `ValidateLabels`: every key a qualified name, every value a label value. Errors point at
/// the map itself, as Kubernetes reports them.
pub fn validate_labels(labels: Option<&BTreeMap<String, String>>, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    for (k, v) in labels.into_iter().flatten() {
        errs.extend(validate_label_name(k, path));
        errs.extend(names::to_errors(path, v, names::is_valid_label_value(v)));
    }
    errs
}

/// `ValidateAnnotations`: keys are qualified names (case-insensitively), and keys plus
/// values stay under [`TOTAL_ANNOTATION_SIZE_LIMIT`].
pub fn validate_annotations(
    annotations: Option<&BTreeMap<String, String>>,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    let mut total = 0usize;
    for (k, v) in annotations.into_iter().flatten() {
        errs.extend(names::to_errors(
            path,
            k,
            names::is_qualified_name(&k.to_lowercase()),
        ));
        total = total.saturating_add(k.len()).saturating_add(v.len());
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

/// Options of `ValidateLabelSelector`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SelectorOptions {
    pub allow_invalid_label_value: bool,
}

/// `ValidateLabelSelector` (nil selectors are valid).
pub fn validate_label_selector(
    sel: Option<&LabelSelector>,
    opts: SelectorOptions,
    path: &Path,
) -> ErrorList {
    let Some(sel) = sel else { return Vec::new() };
    let mut errs = validate_labels(sel.match_labels.as_ref(), &path.child("matchLabels"));
    for (i, r) in sel.match_expressions.iter().flatten().enumerate() {
        errs.extend(validate_selector_requirement(
            r,
            opts,
            &path.child("matchExpressions").index(i),
        ));
    }
    errs
}

fn validate_selector_requirement(
    r: &LabelSelectorRequirement,
    opts: SelectorOptions,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    let values = r.values.as_deref().unwrap_or(&[]);
    match r.operator.as_str() {
        "In" | "NotIn" => {
            if values.is_empty() {
                errs.push(FieldError::required(
                    &path.child("values"),
                    "must be specified when `operator` is 'In' or 'NotIn'",
                ));
            }
        }
        "Exists" | "DoesNotExist" => {
            if !values.is_empty() {
                errs.push(FieldError::forbidden(
                    &path.child("values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ));
            }
        }
        other => errs.push(FieldError::invalid(
            &path.child("operator"),
            other,
            "not a valid selector operator",
        )),
    }
    errs.extend(validate_label_name(&r.key, &path.child("key")));
    if !opts.allow_invalid_label_value {
        for (i, v) in values.iter().enumerate() {
            errs.extend(names::to_errors(
                &path.child("values").index(i),
                v,
                names::is_valid_label_value(v),
            ));
        }
    }
    errs
}

/// Whether a label set satisfies a selector (`LabelSelectorAsSelector(...).Matches`). An
/// empty selector matches everything; requirements with unknown operators never match.
pub fn selector_matches(sel: &LabelSelector, labels: Option<&BTreeMap<String, String>>) -> bool {
    let empty = BTreeMap::new();
    let labels = labels.unwrap_or(&empty);
    for (k, v) in sel.match_labels.iter().flatten() {
        if labels.get(k) != Some(v) {
            return false;
        }
    }
    for r in sel.match_expressions.iter().flatten() {
        let values = r.values.as_deref().unwrap_or(&[]);
        let got = labels.get(&r.key);
        let ok = match r.operator.as_str() {
            "In" => got.is_some_and(|g| values.contains(g)),
            "NotIn" => got.is_none_or(|g| !values.contains(g)),
            "Exists" => got.is_some(),
            "DoesNotExist" => got.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Whether `LabelSelectorAsSelector` would fail on this selector (bad operator, bad key,
/// bad value counts), in which case Kubernetes skips the template-labels match check.
pub fn selector_is_convertible(sel: &LabelSelector) -> bool {
    sel.match_expressions.iter().flatten().all(|r| {
        let values = r.values.as_deref().unwrap_or(&[]);
        let op_ok = match r.operator.as_str() {
            "In" | "NotIn" => !values.is_empty(),
            "Exists" | "DoesNotExist" => values.is_empty(),
            _ => false,
        };
        op_ok
            && names::is_qualified_name(&r.key).is_empty()
            && values
                .iter()
                .all(|v| names::is_valid_label_value(v).is_empty())
    }) && sel.match_labels.iter().flatten().all(|(k, v)| {
        names::is_qualified_name(k).is_empty() && names::is_valid_label_value(v).is_empty()
    })
}

fn validate_owner_references(refs: &[OwnerReference], path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let mut first_controller: Option<String> = None;
    for r in refs {
        let (group, version) = match r.api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", r.api_version.as_str()),
        };
        if version.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("apiVersion"),
                &r.api_version,
                "version must not be empty",
            ));
        }
        if r.kind.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("kind"),
                &r.kind,
                "kind must not be empty",
            ));
        }
        if r.name.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("name"),
                &r.name,
                "name must not be empty",
            ));
        }
        if r.uid.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("uid"),
                &r.uid,
                "uid must not be empty",
            ));
        }
        if group.is_empty() && version == "v1" && r.kind == "Event" {
            errs.push(FieldError::invalid(
                path,
                Json(r),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if r.controller == Some(true) {
            let this = format!("{}/{}", r.kind, r.name);
            match &first_controller {
                Some(first) => errs.push(FieldError::invalid(
                    path,
                    Json(&refs),
                    format!("Only one reference can have Controller set to true. Found \"true\" in references for {first} and {this}"),
                )),
                None => first_controller = Some(this),
            }
        }
    }
    errs
}

fn validate_finalizers(finalizers: &[String], path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    for f in finalizers {
        errs.extend(names::to_errors(path, f, names::is_qualified_name(f)));
    }
    if finalizers.iter().any(|f| f == "orphan")
        && finalizers.iter().any(|f| f == "foregroundDeletion")
    {
        errs.push(FieldError::invalid(
            path,
            GoStrings(Some(finalizers)),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

/// The core group's extra rule: an unprefixed finalizer must be a standard one.
fn validate_kube_finalizers(finalizers: &[String], path: &Path) -> ErrorList {
    finalizers
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.contains('/') && !STANDARD_FINALIZERS.contains(&f.as_str()))
        .map(|(i, f)| {
            FieldError::invalid(
                &path.index(i),
                f,
                "name is neither a standard finalizer name nor is it fully qualified",
            )
        })
        .collect()
}

fn validate_managed_fields(meta: &ObjectMeta, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    for (i, m) in meta.managed_fields.iter().flatten().enumerate() {
        let p = path.index(i);
        let op = opt(&m.operation);
        if op != "Apply" && op != "Update" {
            errs.push(FieldError::invalid(
                &p.child("operation"),
                op,
                "must be `Apply` or `Update`",
            ));
        }
        let ft = opt(&m.fields_type);
        if !ft.is_empty() && ft != "FieldsV1" {
            errs.push(FieldError::invalid(
                &p.child("fieldsType"),
                ft,
                "must be `FieldsV1`",
            ));
        }
        errs.extend(validate_field_manager(opt(&m.manager), &p.child("manager")));
        if opt(&m.subresource).len() > MAX_SUBRESOURCE_NAME_LENGTH {
            errs.push(FieldError::too_long(
                &p.child("subresource"),
                MAX_SUBRESOURCE_NAME_LENGTH,
            ));
        }
    }
    errs
}

/// `ValidateFieldManager`: length and printable characters.
pub fn validate_field_manager(manager: &str, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if manager.len() > FIELD_MANAGER_MAX_LENGTH {
        errs.push(FieldError::too_long(path, FIELD_MANAGER_MAX_LENGTH));
    }
    for (i, c) in manager.char_indices() {
        if c.is_control() || (c != ' ' && c.is_whitespace()) {
            errs.push(FieldError::invalid(
                path,
                manager,
                format!("invalid character U+{:04X} (at position {i})", c as u32),
            ));
        }
    }
    errs
}

fn metadata_path() -> Path {
    Path::new("metadata")
}

/// The generic checks every object's metadata passes on create (Kubernetes'
/// `ValidateObjectMetaAccessor`): name/generateName by `name_rule`, namespace present
/// exactly for namespaced kinds, generation, labels, annotations, owner references,
/// finalizers and managed fields. Custom resources use this with
/// [`NameRule::DnsSubdomain`].
pub fn validate_generic_object_meta(
    meta: &ObjectMeta,
    namespaced: bool,
    name_rule: NameRule,
) -> ErrorList {
    let path = metadata_path();
    let mut errs = Vec::new();
    let generate_name = opt(&meta.generate_name);
    if !generate_name.is_empty() {
        for m in name_rule.check(generate_name, true) {
            errs.push(FieldError::invalid(
                &path.child("generateName"),
                generate_name,
                m,
            ));
        }
    }
    let name = opt(&meta.name);
    if name.is_empty() {
        errs.push(FieldError::required(
            &path.child("name"),
            "name or generateName is required",
        ));
    } else {
        for m in name_rule.check(name, false) {
            errs.push(FieldError::invalid(&path.child("name"), name, m));
        }
    }
    let namespace = opt(&meta.namespace);
    if namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required(&path.child("namespace"), ""));
        } else {
            for m in names::is_dns1123_label(namespace) {
                errs.push(FieldError::invalid(&path.child("namespace"), namespace, m));
            }
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(
            &path.child("namespace"),
            "not allowed on this type",
        ));
    }
    errs.extend(nonnegative(
        meta.generation.unwrap_or(0),
        &path.child("generation"),
    ));
    errs.extend(validate_labels(meta.labels.as_ref(), &path.child("labels")));
    errs.extend(validate_annotations(
        meta.annotations.as_ref(),
        &path.child("annotations"),
    ));
    errs.extend(validate_owner_references(
        meta.owner_references.as_deref().unwrap_or(&[]),
        &path.child("ownerReferences"),
    ));
    errs.extend(validate_finalizers(
        meta.finalizers.as_deref().unwrap_or(&[]),
        &path.child("finalizers"),
    ));
    errs.extend(validate_managed_fields(meta, &path.child("managedFields")));
    errs
}

/// Metadata validation of a built-in object on create, as the core group's
/// `ValidateObjectMeta` does it: [`validate_generic_object_meta`] plus the rule that an
/// unprefixed finalizer must be a standard one (`kubernetes`, `orphan`,
/// `foregroundDeletion`). Use [`NameRule::for_kind`] to pick `name_rule`.
pub fn validate_object_meta(meta: &ObjectMeta, namespaced: bool, name_rule: NameRule) -> ErrorList {
    let mut errs = validate_generic_object_meta(meta, namespaced, name_rule);
    errs.extend(validate_kube_finalizers(
        meta.finalizers.as_deref().unwrap_or(&[]),
        &metadata_path().child("finalizers"),
    ));
    errs
}

/// Metadata validation for the kind `group`/`kind` on create, picking the name rule and
/// the finalizer rule Kubernetes uses for it (CRDs, Leases and custom resources skip the
/// core group's finalizer rule).
pub fn validate_object_meta_for(
    group: &str,
    kind: &str,
    meta: &ObjectMeta,
    namespaced: bool,
) -> ErrorList {
    let rule = NameRule::for_kind(group, kind);
    if uses_generic_meta(group, kind) {
        validate_generic_object_meta(meta, namespaced, rule)
    } else {
        validate_object_meta(meta, namespaced, rule)
    }
}

/// Kinds whose strategies call apimachinery's metadata validation directly, without the
/// core group's finalizer-name rule: CRDs, Leases, and anything that is not built in.
fn uses_generic_meta(group: &str, kind: &str) -> bool {
    match group {
        "apiextensions.k8s.io" | "coordination.k8s.io" => true,
        _ => super::registry_kind_unknown(group, kind),
    }
}

/// [`validate_object_meta_update`] with the finalizer rule Kubernetes uses for the kind,
/// as [`validate_object_meta_for`] picks it.
pub fn validate_object_meta_update_for(
    group: &str,
    kind: &str,
    new: &ObjectMeta,
    old: &ObjectMeta,
) -> ErrorList {
    if uses_generic_meta(group, kind) {
        validate_object_meta_update_generic(new, old)
    } else {
        validate_object_meta_update(new, old)
    }
}

/// A `metav1.Time` as Go's `time.Time.String()` prints it: `2006-01-02 15:04:05 +0000 UTC`.
fn time_repr(t: &Option<clipper_proto::Time>) -> Raw {
    match t {
        Some(t) => {
            let rfc = t.to_string();
            let body = rfc.strip_suffix('Z').unwrap_or(&rfc).replacen('T', " ", 1);
            Raw(format!("{body} +0000 UTC"))
        }
        None => Raw("null".to_string()),
    }
}

/// Metadata validation of an update (`ValidateObjectMetaUpdate`): resourceVersion set,
/// generation not decremented, name, namespace, uid, creationTimestamp, deletionTimestamp
/// and deletionGracePeriodSeconds unchanged, no finalizer added once deletion started,
/// and labels, annotations, owner references, managed fields and (core group) finalizers
/// well formed.
pub fn validate_object_meta_update(new: &ObjectMeta, old: &ObjectMeta) -> ErrorList {
    let mut errs = validate_object_meta_update_generic(new, old);
    errs.extend(validate_kube_finalizers(
        new.finalizers.as_deref().unwrap_or(&[]),
        &metadata_path().child("finalizers"),
    ));
    errs
}

/// [`validate_object_meta_update`] without the core group's finalizer rule (custom
/// resources, CRDs, Leases).
pub fn validate_object_meta_update_generic(new: &ObjectMeta, old: &ObjectMeta) -> ErrorList {
    let path = metadata_path();
    let mut errs = Vec::new();
    if old.deletion_timestamp.is_some() {
        let old_f: Vec<&String> = old.finalizers.iter().flatten().collect();
        let mut extra: Vec<String> = new
            .finalizers
            .iter()
            .flatten()
            .filter(|f| !old_f.contains(f))
            .cloned()
            .collect();
        extra.sort();
        extra.dedup();
        if !extra.is_empty() {
            errs.push(FieldError::forbidden(
                &path.child("finalizers"),
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers {}",
                    super::field::go_string_slice("[]string", Some(&extra))
                ),
            ));
        }
    }
    let rv = opt(&new.resource_version);
    if rv.is_empty() {
        errs.push(FieldError::invalid(
            &path.child("resourceVersion"),
            rv,
            "must be specified for an update",
        ));
    }
    let (ng, og) = (new.generation.unwrap_or(0), old.generation.unwrap_or(0));
    if ng < og {
        errs.push(FieldError::invalid(
            &path.child("generation"),
            ng,
            "must not be decremented",
        ));
    }
    let immut_str = |errs: &mut ErrorList, n: &Option<String>, o: &Option<String>, field: &str| {
        if opt(n) != opt(o) {
            errs.push(FieldError::invalid(
                &path.child(field),
                opt(n),
                FIELD_IMMUTABLE,
            ));
        }
    };
    immut_str(&mut errs, &new.name, &old.name, "name");
    immut_str(&mut errs, &new.namespace, &old.namespace, "namespace");
    immut_str(&mut errs, &new.uid, &old.uid, "uid");
    if new.creation_timestamp != old.creation_timestamp {
        errs.push(FieldError::invalid(
            &path.child("creationTimestamp"),
            time_repr(&new.creation_timestamp),
            FIELD_IMMUTABLE,
        ));
    }
    if new.deletion_timestamp != old.deletion_timestamp {
        errs.push(FieldError::invalid(
            &path.child("deletionTimestamp"),
            time_repr(&new.deletion_timestamp),
            FIELD_IMMUTABLE,
        ));
    }
    if new.deletion_grace_period_seconds != old.deletion_grace_period_seconds {
        errs.push(FieldError::invalid(
            &path.child("deletionGracePeriodSeconds"),
            new.deletion_grace_period_seconds,
            FIELD_IMMUTABLE,
        ));
    }
    errs.extend(validate_labels(new.labels.as_ref(), &path.child("labels")));
    errs.extend(validate_annotations(
        new.annotations.as_ref(),
        &path.child("annotations"),
    ));
    errs.extend(validate_owner_references(
        new.owner_references.as_deref().unwrap_or(&[]),
        &path.child("ownerReferences"),
    ));
    errs.extend(validate_managed_fields(new, &path.child("managedFields")));
    errs
}

/// `ValidateTemplateObjectMeta` (PVC templates): only labels and annotations may be set.
pub fn validate_template_object_meta(meta: Option<&ObjectMeta>, path: &Path) -> ErrorList {
    let Some(meta) = meta else { return Vec::new() };
    let mut errs = validate_annotations(meta.annotations.as_ref(), &path.child("annotations"));
    errs.extend(validate_labels(meta.labels.as_ref(), &path.child("labels")));
    let others: [(&str, bool); 12] = [
        ("name", meta.name.is_some()),
        ("generateName", meta.generate_name.is_some()),
        ("namespace", meta.namespace.is_some()),
        ("selfLink", meta.self_link.is_some()),
        ("uID", meta.uid.is_some()),
        ("resourceVersion", meta.resource_version.is_some()),
        ("generation", meta.generation.is_some()),
        ("creationTimestamp", meta.creation_timestamp.is_some()),
        ("deletionTimestamp", meta.deletion_timestamp.is_some()),
        (
            "deletionGracePeriodSeconds",
            meta.deletion_grace_period_seconds.is_some(),
        ),
        (
            "ownerReferences",
            meta.owner_references
                .as_ref()
                .is_some_and(|v| !v.is_empty()),
        ),
        (
            "finalizers",
            meta.finalizers.as_ref().is_some_and(|v| !v.is_empty()),
        ),
    ];
    for (name, set) in others {
        if set {
            errs.push(FieldError::forbidden(&path.child(name), "cannot be set"));
        }
    }
    if meta.managed_fields.as_ref().is_some_and(|v| !v.is_empty()) {
        errs.push(FieldError::forbidden(
            &path.child("managedFields"),
            "cannot be set",
        ));
    }
    errs
}
