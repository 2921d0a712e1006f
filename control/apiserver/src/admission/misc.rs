//! Validation of the smaller groups: policy (PodDisruptionBudget), autoscaling/v2
//! (HorizontalPodAutoscaler), RBAC, scheduling (PriorityClass), coordination (Lease),
//! discovery (EndpointSlice) and storage (StorageClass).

use clipper_proto::Quantity;
use clipper_proto::api::autoscaling::v2::{
    CrossVersionObjectReference, HPAScalingRules, HorizontalPodAutoscaler, MetricIdentifier,
    MetricSpec, MetricTarget,
};
use clipper_proto::api::coordination::v1::Lease;
use clipper_proto::api::discovery::v1::EndpointSlice;
use clipper_proto::api::policy::v1::PodDisruptionBudget;
use clipper_proto::api::rbac::v1::{PolicyRule, RoleRef, Subject};
use clipper_proto::api::scheduling::v1::PriorityClass;
use clipper_proto::api::storage::v1::StorageClass;

use super::apps::{not_more_than_100_percent, validate_positive_int_or_percent};
use super::field::{ErrorList, FieldError, Json, Path, Raw, go_quote};
use super::meta::{self, FIELD_IMMUTABLE, SelectorOptions};
use super::names::{self, to_errors};
use super::pod::{self, s};

/// Largest HPA scaling policy period (30 minutes).
pub const MAX_HPA_PERIOD_SECONDS: i32 = 1800;
/// Largest HPA stabilization window (one hour).
pub const MAX_HPA_STABILIZATION_WINDOW_SECONDS: i32 = 3600;
/// User-defined priorities stay below the system-critical range.
pub const HIGHEST_USER_DEFINABLE_PRIORITY: i32 = 1_000_000_000;
/// Priority of `system-cluster-critical`.
pub const SYSTEM_CRITICAL_PRIORITY: i32 = 2 * HIGHEST_USER_DEFINABLE_PRIORITY;
/// EndpointSlice size limits.
pub const MAX_ENDPOINT_SLICE_ENDPOINTS: usize = 1000;
pub const MAX_ENDPOINT_SLICE_PORTS: usize = 100;
pub const MAX_ENDPOINT_ADDRESSES: usize = 100;
pub const MAX_ENDPOINT_TOPOLOGY_LABELS: usize = 16;
/// StorageClass parameters: at most 512 entries of at most 256 KiB in total.
pub const MAX_PROVISIONER_PARAMETER_LEN: usize = 512;
pub const MAX_PROVISIONER_PARAMETER_SIZE: usize = 256 * 1024;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

// ---------------------------------------------------------------------------------------
// policy

pub(crate) fn validate_pdb(pdb: &PodDisruptionBudget) -> ErrorList {
    let spec = pdb.spec.clone().unwrap_or_default();
    let p = Path::new("spec");
    let mut errs = Vec::new();
    if spec.min_available.is_some() && spec.max_unavailable.is_some() {
        errs.push(FieldError::invalid(
            &p,
            Json(&spec),
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
    for (v, child) in [
        (&spec.min_available, "minAvailable"),
        (&spec.max_unavailable, "maxUnavailable"),
    ] {
        if let Some(v) = v {
            errs.extend(validate_positive_int_or_percent(v, &p.child(child)));
            errs.extend(not_more_than_100_percent(v, &p.child(child)));
        }
    }
    errs.extend(meta::validate_label_selector(
        spec.selector.as_ref(),
        SelectorOptions::default(),
        &p.child("selector"),
    ));
    if let Some(pol) = &spec.unhealthy_pod_eviction_policy
        && pol != "IfHealthyBudget"
        && pol != "AlwaysAllow"
    {
        errs.push(FieldError::not_supported(
            &p.child("unhealthyPodEvictionPolicy"),
            pol.as_str(),
            &["AlwaysAllow", "IfHealthyBudget"],
        ));
    }
    errs
}

// ---------------------------------------------------------------------------------------
// autoscaling/v2

fn validate_cross_version_ref(r: &CrossVersionObjectReference, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    for (v, child) in [(&r.kind, "kind"), (&r.name, "name")] {
        if v.is_empty() {
            errs.push(FieldError::required(&path.child(child), ""));
        } else {
            errs.extend(to_errors(
                &path.child(child),
                v,
                names::is_valid_path_segment_name(v),
            ));
        }
    }
    errs
}

fn validate_metric_identifier(id: &MetricIdentifier, path: &Path) -> ErrorList {
    if id.name.is_empty() {
        return vec![FieldError::required(
            &path.child("name"),
            "must specify a metric name",
        )];
    }
    to_errors(
        &path.child("name"),
        &id.name,
        names::is_valid_path_segment_name(&id.name),
    )
}

fn validate_metric_target(mt: &MetricTarget, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if mt.type_.is_empty() {
        errs.push(FieldError::required(
            &path.child("type"),
            "must specify a metric target type",
        ));
    }
    if !["Utilization", "Value", "AverageValue"].contains(&mt.type_.as_str()) {
        errs.push(FieldError::invalid(
            &path.child("type"),
            mt.type_.as_str(),
            "must be either Utilization, Value, or AverageValue",
        ));
    }
    for (q, child) in [(&mt.value, "value"), (&mt.average_value, "averageValue")] {
        if let Some(q) = q
            && *q <= Quantity::ZERO
        {
            errs.push(FieldError::invalid(
                &path.child(child),
                q,
                "must be positive",
            ));
        }
    }
    if let Some(u) = mt.average_utilization.filter(|u| *u < 1) {
        errs.push(FieldError::invalid(
            &path.child("averageUtilization"),
            u,
            "must be greater than 0",
        ));
    }
    errs
}

fn validate_metric_spec(m: &MetricSpec, path: &Path) -> ErrorList {
    const TYPES: &[&str] = &[
        "ContainerResource",
        "External",
        "Object",
        "Pods",
        "Resource",
    ];
    let mut errs = Vec::new();
    if m.type_.is_empty() {
        errs.push(FieldError::required(
            &path.child("type"),
            "must specify a metric source type",
        ));
    }
    if !TYPES.contains(&m.type_.as_str()) {
        errs.push(FieldError::not_supported(
            &path.child("type"),
            m.type_.as_str(),
            TYPES,
        ));
    }
    let mut present: Vec<&str> = Vec::new();
    if let Some(o) = &m.object {
        present.push("object");
        if present.len() == 1 {
            let p = path.child("object");
            errs.extend(validate_cross_version_ref(
                &o.described_object,
                &p.child("describedObject"),
            ));
            errs.extend(validate_metric_identifier(&o.metric, &p.child("metric")));
            errs.extend(validate_metric_target(&o.target, &p.child("target")));
            if o.target.value.is_none() && o.target.average_value.is_none() {
                errs.push(FieldError::required(
                    &p.child("target").child("averageValue"),
                    "must set either a target value or averageValue",
                ));
            }
        }
    }
    if let Some(e) = &m.external {
        present.push("external");
        if present.len() == 1 {
            let p = path.child("external");
            errs.extend(validate_metric_identifier(&e.metric, &p.child("metric")));
            errs.extend(validate_metric_target(&e.target, &p.child("target")));
            if e.target.value.is_none() && e.target.average_value.is_none() {
                errs.push(FieldError::required(
                    &p.child("target").child("averageValue"),
                    "must set either a target value for metric or a per-pod target",
                ));
            }
            if e.target.value.is_some() && e.target.average_value.is_some() {
                errs.push(FieldError::forbidden(
                    &p.child("target").child("value"),
                    "may not set both a target value for metric and a per-pod target",
                ));
            }
        }
    }
    if let Some(pm) = &m.pods {
        present.push("pods");
        if present.len() == 1 {
            let p = path.child("pods");
            errs.extend(validate_metric_identifier(&pm.metric, &p.child("metric")));
            errs.extend(validate_metric_target(&pm.target, &p.child("target")));
            if pm.target.average_value.is_none() {
                errs.push(FieldError::required(
                    &p.child("target").child("averageValue"),
                    "must specify a positive target averageValue",
                ));
            }
        }
    }
    let resource_like = |name: &str, target: &MetricTarget, p: &Path, errs: &mut ErrorList| {
        errs.extend(validate_metric_target(target, &p.child("target")));
        let _ = name;
        if target.average_utilization.is_none() && target.average_value.is_none() {
            errs.push(FieldError::required(
                &p.child("target").child("averageUtilization"),
                "must set either a target raw value or a target utilization",
            ));
        }
        if target.average_utilization.is_some() && target.average_value.is_some() {
            errs.push(FieldError::forbidden(
                &p.child("target").child("averageValue"),
                "may not set both a target raw value and a target utilization",
            ));
        }
    };
    if let Some(r) = &m.resource {
        present.push("resource");
        if present.len() == 1 {
            let p = path.child("resource");
            if r.name.is_empty() {
                errs.push(FieldError::required(
                    &p.child("name"),
                    "must specify a resource name",
                ));
            }
            resource_like(&r.name, &r.target, &p, &mut errs);
        }
    }
    if let Some(c) = &m.container_resource {
        present.push("containerResource");
        if present.len() == 1 {
            let p = path.child("containerResource");
            if c.name.is_empty() {
                errs.push(FieldError::required(
                    &p.child("name"),
                    "must specify a resource name",
                ));
            }
            if c.container.is_empty() {
                errs.push(FieldError::required(
                    &p.child("container"),
                    "must specify a container",
                ));
            } else {
                errs.extend(to_errors(
                    &p.child("container"),
                    &c.container,
                    names::is_dns1123_label(&c.container),
                ));
            }
            resource_like(&c.name, &c.target, &p, &mut errs);
        }
    }
    let expected = match m.type_.as_str() {
        "Object" => Some("object"),
        "Pods" => Some("pods"),
        "Resource" => Some("resource"),
        "External" => Some("external"),
        "ContainerResource" => Some("containerResource"),
        _ => None,
    };
    if let Some(exp) = expected {
        if !present.contains(&exp) {
            errs.push(FieldError::required(
                &path.child(exp),
                "must populate information for the given metric source",
            ));
        }
    } else if !m.type_.is_empty() {
        errs.push(FieldError::not_supported(
            &path.child("type"),
            m.type_.as_str(),
            TYPES,
        ));
    }
    if present.len() != 1 {
        let mut others: Vec<&str> = present
            .into_iter()
            .filter(|t| Some(*t) != expected)
            .collect();
        others.sort_unstable();
        for t in others {
            errs.push(FieldError::forbidden(
                &path.child(t),
                "must populate the given metric source only",
            ));
        }
    }
    errs
}

fn validate_scaling_rules(r: Option<&HPAScalingRules>, path: &Path) -> ErrorList {
    let Some(r) = r else { return Vec::new() };
    let mut errs = Vec::new();
    if let Some(w) = r.stabilization_window_seconds {
        if w < 0 {
            errs.push(FieldError::invalid(
                &path.child("stabilizationWindowSeconds"),
                w,
                "must be greater than or equal to zero",
            ));
        }
        if w > MAX_HPA_STABILIZATION_WINDOW_SECONDS {
            errs.push(FieldError::invalid(
                &path.child("stabilizationWindowSeconds"),
                w,
                format!("must be less than or equal to {MAX_HPA_STABILIZATION_WINDOW_SECONDS}"),
            ));
        }
    }
    if let Some(sp) = &r.select_policy
        && !["Disabled", "Max", "Min"].contains(&sp.as_str())
    {
        errs.push(FieldError::not_supported(
            &path.child("selectPolicy"),
            sp.as_str(),
            &["Disabled", "Max", "Min"],
        ));
    }
    let pp = path.child("policies");
    let policies = r.policies.as_deref().unwrap_or(&[]);
    if policies.is_empty() {
        errs.push(FieldError::required(
            &pp,
            "must specify at least one Policy",
        ));
    }
    for (i, p) in policies.iter().enumerate() {
        let ip = pp.index(i);
        if p.type_ != "Pods" && p.type_ != "Percent" {
            errs.push(FieldError::not_supported(
                &ip.child("type"),
                p.type_.as_str(),
                &["Percent", "Pods"],
            ));
        }
        if p.value <= 0 {
            errs.push(FieldError::invalid(
                &ip.child("value"),
                p.value,
                "must be greater than zero",
            ));
        }
        if p.period_seconds <= 0 {
            errs.push(FieldError::invalid(
                &ip.child("periodSeconds"),
                p.period_seconds,
                "must be greater than zero",
            ));
        }
        if p.period_seconds > MAX_HPA_PERIOD_SECONDS {
            errs.push(FieldError::invalid(
                &ip.child("periodSeconds"),
                p.period_seconds,
                format!("must be less than or equal to {MAX_HPA_PERIOD_SECONDS}"),
            ));
        }
    }
    errs
}

pub(crate) fn validate_hpa(
    hpa: &HorizontalPodAutoscaler,
    min_replicas_lower_bound: i32,
) -> ErrorList {
    let spec = hpa.spec.clone().unwrap_or_default();
    let p = Path::new("spec");
    let mut errs = Vec::new();
    if let Some(m) = spec.min_replicas
        && m < min_replicas_lower_bound
    {
        errs.push(FieldError::invalid(
            &p.child("minReplicas"),
            m,
            format!("must be greater than or equal to {min_replicas_lower_bound}"),
        ));
    }
    if spec.max_replicas < 1 {
        errs.push(FieldError::invalid(
            &p.child("maxReplicas"),
            spec.max_replicas,
            "must be greater than 0",
        ));
    }
    if spec.min_replicas.is_some_and(|m| spec.max_replicas < m) {
        errs.push(FieldError::invalid(
            &p.child("maxReplicas"),
            spec.max_replicas,
            "must be greater than or equal to `minReplicas`",
        ));
    }
    errs.extend(validate_cross_version_ref(
        &spec.scale_target_ref,
        &p.child("scaleTargetRef"),
    ));
    let metrics = spec.metrics.as_deref().unwrap_or(&[]);
    for (i, m) in metrics.iter().enumerate() {
        errs.extend(validate_metric_spec(m, &p.child("metrics").index(i)));
    }
    if spec.min_replicas == Some(0)
        && !metrics
            .iter()
            .any(|m| m.type_ == "Object" || m.type_ == "External")
    {
        errs.push(FieldError::forbidden(&p.child("metrics"), "must specify at least one Object or External metric to support scaling to zero replicas"));
    }
    if let Some(b) = &spec.behavior {
        errs.extend(validate_scaling_rules(
            b.scale_up.as_ref(),
            &p.child("behavior").child("scaleUp"),
        ));
        errs.extend(validate_scaling_rules(
            b.scale_down.as_ref(),
            &p.child("behavior").child("scaleDown"),
        ));
    }
    errs
}

// ---------------------------------------------------------------------------------------
// RBAC

pub(crate) fn validate_rules(rules: &[PolicyRule], namespaced: bool) -> ErrorList {
    let mut errs = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let p = Path::new("rules").index(i);
        if r.verbs.is_empty() {
            errs.push(FieldError::required(
                &p.child("verbs"),
                "verbs must contain at least one value",
            ));
        }
        let urls = r.non_resource_urls.as_deref().unwrap_or(&[]);
        let groups = r.api_groups.as_deref().unwrap_or(&[]);
        let resources = r.resources.as_deref().unwrap_or(&[]);
        let names_ = r.resource_names.as_deref().unwrap_or(&[]);
        if !urls.is_empty() {
            if namespaced {
                errs.push(FieldError::invalid(
                    &p.child("nonResourceURLs"),
                    super::field::GoStrings(Some(urls)),
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if !groups.is_empty() || !resources.is_empty() || !names_.is_empty() {
                errs.push(FieldError::invalid(
                    &p.child("nonResourceURLs"),
                    super::field::GoStrings(Some(urls)),
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if groups.is_empty() {
            errs.push(FieldError::required(
                &p.child("apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if resources.is_empty() {
            errs.push(FieldError::required(
                &p.child("resources"),
                "resource rules must supply at least one resource",
            ));
        }
        if !names_.is_empty() && resources.len() > 1 {
            errs.push(FieldError::required(
                &p.child("resourceNames"),
                "resource names cannot apply to multiple resources",
            ));
        }
    }
    errs
}

fn role_ref_go(r: &RoleRef) -> Raw {
    Raw(format!(
        "rbac.RoleRef{{APIGroup:{}, Kind:{}, Name:{}}}",
        go_quote(&r.api_group),
        go_quote(&r.kind),
        go_quote(&r.name)
    ))
}

pub(crate) fn validate_binding(
    role_ref: &RoleRef,
    subjects: &[Subject],
    namespaced: bool,
) -> ErrorList {
    let mut errs = Vec::new();
    let rp = Path::new("roleRef");
    if role_ref.api_group != RBAC_GROUP {
        errs.push(FieldError::not_supported(
            &rp.child("apiGroup"),
            role_ref.api_group.as_str(),
            &[RBAC_GROUP],
        ));
    }
    let kinds: &[&str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    if !kinds.contains(&role_ref.kind.as_str()) {
        errs.push(FieldError::not_supported(
            &rp.child("kind"),
            role_ref.kind.as_str(),
            kinds,
        ));
    }
    if role_ref.name.is_empty() {
        errs.push(FieldError::required(&rp.child("name"), ""));
    } else {
        errs.extend(to_errors(
            &rp.child("name"),
            &role_ref.name,
            names::is_valid_path_segment_name(&role_ref.name),
        ));
    }
    for (i, sub) in subjects.iter().enumerate() {
        let p = Path::new("subjects").index(i);
        if sub.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        }
        let group = s(&sub.api_group);
        match sub.kind.as_str() {
            "ServiceAccount" => {
                if !sub.name.is_empty() {
                    errs.extend(to_errors(
                        &p.child("name"),
                        &sub.name,
                        names::is_dns1123_subdomain(&sub.name),
                    ));
                }
                if !group.is_empty() {
                    errs.push(FieldError::not_supported(
                        &p.child("apiGroup"),
                        group,
                        &[""],
                    ));
                }
                if !namespaced && s(&sub.namespace).is_empty() {
                    errs.push(FieldError::required(&p.child("namespace"), ""));
                }
            }
            "User" | "Group" => {
                if sub.name.is_empty() {
                    let what = if sub.kind == "User" { "user" } else { "group" };
                    errs.push(FieldError::invalid(
                        &p.child("name"),
                        "",
                        format!("{what} name cannot be empty"),
                    ));
                }
                if group != RBAC_GROUP {
                    errs.push(FieldError::not_supported(
                        &p.child("apiGroup"),
                        group,
                        &[RBAC_GROUP],
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                &p.child("kind"),
                other,
                &["ServiceAccount", "User", "Group"],
            )),
        }
    }
    errs
}

pub(crate) fn validate_role_ref_update(new: &RoleRef, old: &RoleRef) -> ErrorList {
    if new != old {
        vec![FieldError::invalid(
            &Path::new("roleRef"),
            role_ref_go(new),
            "cannot change roleRef",
        )]
    } else {
        Vec::new()
    }
}

// ---------------------------------------------------------------------------------------
// scheduling

/// The built-in classes a `system-` name may denote, with their value.
const SYSTEM_PRIORITY_CLASSES: &[(&str, i32)] = &[
    ("system-node-critical", SYSTEM_CRITICAL_PRIORITY + 1000),
    ("system-cluster-critical", SYSTEM_CRITICAL_PRIORITY),
];

/// The value of a built-in `system-` priority class, if `name` is one.
pub(crate) fn system_priority_class_value(name: &str) -> Option<i32> {
    SYSTEM_PRIORITY_CLASSES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
}

pub(crate) fn validate_priority_class(pc: &PriorityClass) -> ErrorList {
    let mut errs = Vec::new();
    let name = s(&pc.metadata.name);
    if name.starts_with("system-") {
        let known = SYSTEM_PRIORITY_CLASSES.iter().find(|(n, _)| *n == name);
        let err = match known {
            None => Some(format!("{name} is not a known system priority class")),
            Some((_, v)) if *v != pc.value => {
                Some(format!("value of {name} PriorityClass must be {v}"))
            }
            Some(_) if pc.global_default == Some(true) => Some(format!(
                "globalDefault of {name} PriorityClass must be false"
            )),
            Some(_) => None,
        };
        if let Some(e) = err {
            errs.push(FieldError::forbidden(
                &Path::new("metadata").child("name"),
                format!("priority class names with 'system-' prefix are reserved for system use only. error: {e}"),
            ));
        }
    } else if pc.value > HIGHEST_USER_DEFINABLE_PRIORITY {
        errs.push(FieldError::forbidden(
            &Path::new("value"),
            format!("maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"),
        ));
    }
    if let Some(p) = &pc.preemption_policy {
        errs.extend(pod::validate_preemption_policy(
            p,
            &Path::new("preemptionPolicy"),
        ));
    }
    errs
}

pub(crate) fn validate_priority_class_update(
    new: &PriorityClass,
    old: &PriorityClass,
) -> ErrorList {
    let mut errs = Vec::new();
    if new.value != old.value {
        errs.push(FieldError::forbidden(
            &Path::new("value"),
            "may not be changed in an update.",
        ));
    }
    if new.preemption_policy != old.preemption_policy {
        errs.push(FieldError::invalid(
            &Path::new("preemptionPolicy"),
            new.preemption_policy.clone(),
            FIELD_IMMUTABLE,
        ));
    }
    errs
}

// ---------------------------------------------------------------------------------------
// coordination

pub(crate) fn validate_lease(l: &Lease) -> ErrorList {
    let spec = l.spec.clone().unwrap_or_default();
    let p = Path::new("spec");
    let mut errs = Vec::new();
    if let Some(d) = spec.lease_duration_seconds.filter(|d| *d <= 0) {
        errs.push(FieldError::invalid(
            &p.child("leaseDurationSeconds"),
            d,
            "must be greater than 0",
        ));
    }
    if let Some(t) = spec.lease_transitions.filter(|t| *t < 0) {
        errs.push(FieldError::invalid(
            &p.child("leaseTransitions"),
            t,
            "must be greater than or equal to 0",
        ));
    }
    if let Some(st) = &spec.strategy {
        let sp = p.child("strategy").child("strategy");
        if !st.contains('/') {
            if st != "OldestEmulationVersion" {
                errs.push(FieldError::not_supported(
                    &sp,
                    st.as_str(),
                    &["OldestEmulationVersion"],
                ));
            }
        } else {
            errs.extend(to_errors(&sp, st, names::is_qualified_name(st)));
        }
    }
    if spec
        .preferred_holder
        .as_deref()
        .is_some_and(|h| !h.is_empty())
        && spec.strategy.as_deref().is_none_or(str::is_empty)
    {
        errs.push(FieldError::forbidden(
            &p.child("preferredHolder"),
            "may only be specified if `strategy` is defined",
        ));
    }
    errs
}

// ---------------------------------------------------------------------------------------
// discovery

pub(crate) fn validate_endpoint_slice(
    es: &EndpointSlice,
    old: Option<&EndpointSlice>,
) -> ErrorList {
    let mut errs = Vec::new();
    let mut valid_types = vec!["FQDN", "IPv4", "IPv6"];
    if old.is_some() {
        valid_types.insert(0, "IP");
    }
    let at = es.address_type.as_str();
    if at.is_empty() {
        errs.push(FieldError::required(&Path::new("addressType"), ""));
    } else if !valid_types.contains(&at) {
        errs.push(FieldError::not_supported(
            &Path::new("addressType"),
            at,
            &valid_types,
        ));
    }
    let ep = Path::new("endpoints");
    if es.endpoints.len() > MAX_ENDPOINT_SLICE_ENDPOINTS {
        errs.push(FieldError::too_many(
            &ep,
            es.endpoints.len(),
            MAX_ENDPOINT_SLICE_ENDPOINTS,
        ));
    } else {
        for (i, e) in es.endpoints.iter().enumerate() {
            let ip = ep.index(i);
            let ap = ip.child("addresses");
            if e.addresses.is_empty() {
                errs.push(FieldError::required(&ap, "must contain at least 1 address"));
            } else if e.addresses.len() > MAX_ENDPOINT_ADDRESSES {
                errs.push(FieldError::too_many(
                    &ap,
                    e.addresses.len(),
                    MAX_ENDPOINT_ADDRESSES,
                ));
            }
            for (j, a) in e.addresses.iter().enumerate() {
                let p = ap.index(j);
                match at {
                    "IPv4" | "IPv6" => {
                        let parsed = names::parse_ip_sloppy(a);
                        let family_ok = parsed.is_some_and(|ip| ip.is_v6() == (at == "IPv6"));
                        if !family_ok {
                            let what = if at == "IPv4" {
                                "IPv4 address, (e.g. 10.9.8.7)"
                            } else {
                                "IPv6 address, (e.g. 2001:db8::1)"
                            };
                            errs.push(FieldError::invalid(
                                &p,
                                a,
                                format!("must be a valid {what}"),
                            ));
                        } else {
                            errs.extend(names::is_valid_ip(&p, a));
                        }
                        let ns = parsed.map(|_| Vec::new()).unwrap_or_default();
                        errs.extend(ns);
                    }
                    "FQDN" => {
                        let trimmed = a.strip_suffix('.').unwrap_or(a);
                        let m = names::is_dns1123_subdomain(trimmed);
                        if !m.is_empty() {
                            errs.push(FieldError::invalid(&p, trimmed, m.join(",")));
                        } else if trimmed.split('.').count() < 2 {
                            errs.push(FieldError::invalid(
                                &p,
                                trimmed,
                                "should be a domain with at least two segments separated by dots",
                            ));
                        }
                    }
                    _ => {}
                }
            }
            if let Some(topo) = &e.deprecated_topology {
                let tp = ip.child("deprecatedTopology");
                if topo.len() > MAX_ENDPOINT_TOPOLOGY_LABELS {
                    errs.push(FieldError::too_many(
                        &tp,
                        topo.len(),
                        MAX_ENDPOINT_TOPOLOGY_LABELS,
                    ));
                }
                errs.extend(meta::validate_labels(Some(topo), &tp));
            }
            if let Some(h) = &e.hostname {
                errs.extend(to_errors(
                    &ip.child("hostname"),
                    h,
                    names::is_dns1123_label(h),
                ));
            }
            if let Some(n) = &e.node_name {
                errs.extend(to_errors(
                    &ip.child("nodeName"),
                    n,
                    names::is_dns1123_subdomain(n),
                ));
            }
        }
    }
    let pp = Path::new("ports");
    let ports = es.ports.as_deref().unwrap_or(&[]);
    if ports.len() > MAX_ENDPOINT_SLICE_PORTS {
        errs.push(FieldError::too_many(
            &pp,
            ports.len(),
            MAX_ENDPOINT_SLICE_PORTS,
        ));
        return errs;
    }
    let mut seen: Vec<String> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let ip = pp.index(i);
        let name = s(&port.name);
        if !name.is_empty() {
            errs.extend(to_errors(
                &ip.child("name"),
                name,
                names::is_dns1123_label(name),
            ));
        }
        if seen.iter().any(|n| n == name) {
            errs.push(FieldError::duplicate(&ip.child("name"), name));
        } else {
            seen.push(name.to_string());
        }
        match port.protocol.as_deref() {
            None => errs.push(FieldError::required(&ip.child("protocol"), "")),
            Some(pr) if !["SCTP", "TCP", "UDP"].contains(&pr) => errs.push(
                FieldError::not_supported(&ip.child("protocol"), pr, &["SCTP", "TCP", "UDP"]),
            ),
            Some(_) => {}
        }
        if let Some(ap) = &port.app_protocol {
            errs.extend(to_errors(
                &ip.child("appProtocol"),
                ap,
                names::is_qualified_name(ap),
            ));
        }
    }
    if let Some(o) = old
        && o.address_type != es.address_type
    {
        errs.push(FieldError::invalid(
            &Path::new("addressType"),
            es.address_type.as_str(),
            FIELD_IMMUTABLE,
        ));
    }
    errs
}

// ---------------------------------------------------------------------------------------
// storage

pub(crate) fn validate_storage_class(sc: &StorageClass) -> ErrorList {
    let mut errs = Vec::new();
    let pp = Path::new("provisioner");
    if sc.provisioner.is_empty() {
        errs.push(FieldError::required(&pp, ""));
    } else {
        errs.extend(to_errors(
            &pp,
            &sc.provisioner,
            names::is_qualified_name(&sc.provisioner.to_lowercase()),
        ));
    }
    let params = sc.parameters.clone().unwrap_or_default();
    let parp = Path::new("parameters");
    if params.len() > MAX_PROVISIONER_PARAMETER_LEN {
        errs.push(FieldError::too_long(&parp, MAX_PROVISIONER_PARAMETER_LEN));
    } else {
        let mut total = 0usize;
        for (k, v) in &params {
            if k.is_empty() {
                errs.push(FieldError::invalid(&parp, k, "field can not be empty."));
            }
            total = total.saturating_add(k.len() + v.len());
        }
        if total > MAX_PROVISIONER_PARAMETER_SIZE {
            errs.push(FieldError::too_long(&parp, MAX_PROVISIONER_PARAMETER_SIZE));
        }
    }
    if let Some(rp) = sc.reclaim_policy.as_deref().filter(|r| !r.is_empty())
        && rp != "Delete"
        && rp != "Retain"
    {
        errs.push(FieldError::not_supported(
            &Path::new("reclaimPolicy"),
            rp,
            &["Delete", "Retain"],
        ));
    }
    match sc.volume_binding_mode.as_deref() {
        None => errs.push(FieldError::required(&Path::new("volumeBindingMode"), "")),
        Some(m) if m != "Immediate" && m != "WaitForFirstConsumer" => {
            errs.push(FieldError::not_supported(
                &Path::new("volumeBindingMode"),
                m,
                &["Immediate", "WaitForFirstConsumer"],
            ))
        }
        Some(_) => {}
    }
    let tp = Path::new("allowedTopologies");
    for (i, term) in sc.allowed_topologies.iter().flatten().enumerate() {
        let ep = tp.index(i).child("matchLabelExpressions");
        let mut keys = Vec::new();
        for (j, req) in term.match_label_expressions.iter().flatten().enumerate() {
            let rp = ep.index(j);
            if req.values.is_empty() {
                errs.push(FieldError::required(&rp.child("values"), ""));
            }
            let mut vals: Vec<&String> = Vec::new();
            for (k, v) in req.values.iter().enumerate() {
                if vals.contains(&v) {
                    errs.push(FieldError::duplicate(&rp.child("values").index(k), v));
                }
                vals.push(v);
            }
            errs.extend(meta::validate_label_name(&req.key, &rp.child("key")));
            if keys.contains(&req.key) {
                errs.push(FieldError::duplicate(&rp.child("key"), &req.key));
            }
            keys.push(req.key.clone());
        }
    }
    errs
}

pub(crate) fn validate_storage_class_update(new: &StorageClass, old: &StorageClass) -> ErrorList {
    let mut errs = validate_storage_class(new);
    if new.parameters.clone().unwrap_or_default() != old.parameters.clone().unwrap_or_default() {
        errs.push(FieldError::forbidden(
            &Path::new("parameters"),
            "updates to parameters are forbidden.",
        ));
    }
    if new.provisioner != old.provisioner {
        errs.push(FieldError::forbidden(
            &Path::new("provisioner"),
            "updates to provisioner are forbidden.",
        ));
    }
    if new.reclaim_policy.as_deref().unwrap_or("") != old.reclaim_policy.as_deref().unwrap_or("") {
        errs.push(FieldError::forbidden(
            &Path::new("reclaimPolicy"),
            "updates to reclaimPolicy are forbidden.",
        ));
    }
    if new.volume_binding_mode != old.volume_binding_mode {
        errs.push(FieldError::invalid(
            &Path::new("volumeBindingMode"),
            new.volume_binding_mode.clone(),
            FIELD_IMMUTABLE,
        ));
    }
    errs
}
