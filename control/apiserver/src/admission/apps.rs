//! apps/v1 validation (`pkg/apis/apps/validation` plus the selector immutability the apps
//! registry strategies add): Deployment, ReplicaSet, StatefulSet, DaemonSet,
//! ControllerRevision.

use clipper_proto::IntOrString;
use clipper_proto::api::apps::v1::{
    ControllerRevision, DaemonSet, DaemonSetUpdateStrategy, Deployment, DeploymentStrategy,
    ReplicaSet, StatefulSet, StatefulSetSpec,
};
use clipper_proto::api::core::v1::PodTemplateSpec;
use clipper_proto::api::meta::v1::LabelSelector;

use super::ValidationOptions;
use super::field::{
    ErrorList, FieldError, GoSelector, GoStrMap, GoValue, Json, Path, Raw, go_quote,
};
use super::meta::{self, FIELD_IMMUTABLE, SelectorOptions, nonnegative};
use super::names;
use super::pod::{self, PodOpts, s};

/// `%#v` of an `intstr.IntOrString`.
pub(crate) struct GoIntOrString<'a>(pub &'a IntOrString);

impl GoValue for GoIntOrString<'_> {
    fn go(&self) -> String {
        match self.0 {
            IntOrString::Int(i) => format!("intstr.IntOrString{{Type:0, IntVal:{i}, StrVal:\"\"}}"),
            IntOrString::String(sv) => format!(
                "intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}",
                go_quote(sv)
            ),
        }
    }
}

/// `ValidatePositiveIntOrPercent`.
pub(crate) fn validate_positive_int_or_percent(v: &IntOrString, path: &Path) -> ErrorList {
    match v {
        IntOrString::String(sv) => names::is_valid_percent(sv)
            .into_iter()
            .map(|m| FieldError::invalid(path, GoIntOrString(v), m))
            .collect(),
        IntOrString::Int(i) => nonnegative(i64::from(*i), path),
    }
}

fn percent_value(v: &IntOrString) -> Option<i64> {
    match v {
        IntOrString::String(sv) if names::is_valid_percent(sv).is_empty() => sv
            .trim_end_matches('%')
            .parse::<i64>()
            .ok()
            .or(Some(i64::MAX)),
        _ => None,
    }
}

/// `getIntOrPercentValue`: the percentage, or the integer (a non-percent string reads as
/// its decimal value, 0 if none).
fn int_or_percent_value(v: &IntOrString) -> i64 {
    match (percent_value(v), v) {
        (Some(p), _) => p,
        (None, IntOrString::Int(i)) => i64::from(*i),
        (None, IntOrString::String(sv)) => sv.parse::<i64>().unwrap_or(0),
    }
}

/// `IsNotMoreThan100Percent`.
pub(crate) fn not_more_than_100_percent(v: &IntOrString, path: &Path) -> ErrorList {
    match percent_value(v) {
        Some(p) if p > 100 => vec![FieldError::invalid(
            path,
            GoIntOrString(v),
            "must not be greater than 100%",
        )],
        _ => Vec::new(),
    }
}

fn zero() -> IntOrString {
    IntOrString::Int(0)
}

fn validate_selector_and_template(
    selector: &LabelSelector,
    template: Option<&PodTemplateSpec>,
    kind_for_empty: &str,
    kind_for_deadline: &str,
    path: &Path,
    opts: &ValidationOptions,
) -> ErrorList {
    let mut errs = meta::validate_label_selector(
        Some(selector),
        SelectorOptions::default(),
        &path.child("selector"),
    );
    let empty_sel = selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(|e| e.is_empty());
    if empty_sel {
        errs.push(FieldError::invalid(
            &path.child("selector"),
            GoSelector(Some(selector)),
            format!("empty selector is invalid for {kind_for_empty}"),
        ));
    }
    if !meta::selector_is_convertible(selector) {
        errs.push(FieldError::invalid(
            &path.child("selector"),
            GoSelector(Some(selector)),
            "invalid label selector",
        ));
        return errs;
    }
    let tp = path.child("template");
    let Some(t) = template else {
        errs.push(FieldError::required(&tp, ""));
        return errs;
    };
    let labels = t.metadata.as_ref().and_then(|m| m.labels.as_ref());
    if !empty_sel && !meta::selector_matches(selector, labels) {
        errs.push(FieldError::invalid(
            &tp.child("metadata").child("labels"),
            GoStrMap(labels),
            "`selector` does not match template `labels`",
        ));
    }
    errs.extend(pod::validate_pod_template_spec(
        t,
        &tp,
        PodOpts {
            resource_is_pod: false,
            global: opts,
        },
    ));
    errs.extend(pod::template_restart_always(t, &tp, kind_for_deadline));
    errs
}

fn go_strategy(type_: &str, ru_nil: bool, ty: &str, ru_ty: &str) -> Raw {
    if ru_nil {
        Raw(format!(
            "{ty}{{Type:{}, RollingUpdate:(*{ru_ty})(nil)}}",
            go_quote(type_)
        ))
    } else {
        Raw(format!(
            "{ty}{{Type:{}, RollingUpdate:&{ru_ty}{{...}}}}",
            go_quote(type_)
        ))
    }
}

fn validate_deployment_strategy(st: Option<&DeploymentStrategy>, path: &Path) -> ErrorList {
    let default = DeploymentStrategy::default();
    let st = st.unwrap_or(&default);
    let mut errs = Vec::new();
    match s(&st.type_) {
        "Recreate" => {
            if st.rolling_update.is_some() {
                errs.push(FieldError::forbidden(
                    &path.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match &st.rolling_update {
            None => errs.push(FieldError::required(
                &path.child("rollingUpdate"),
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let rp = path.child("rollingUpdate");
                let mu = ru.max_unavailable.clone().unwrap_or_else(zero);
                let ms = ru.max_surge.clone().unwrap_or_else(zero);
                errs.extend(validate_positive_int_or_percent(
                    &mu,
                    &rp.child("maxUnavailable"),
                ));
                errs.extend(validate_positive_int_or_percent(&ms, &rp.child("maxSurge")));
                if int_or_percent_value(&mu) == 0 && int_or_percent_value(&ms) == 0 {
                    errs.push(FieldError::invalid(
                        &rp.child("maxUnavailable"),
                        GoIntOrString(&mu),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                errs.extend(not_more_than_100_percent(&mu, &rp.child("maxUnavailable")));
            }
        },
        t => errs.push(FieldError::not_supported(
            path,
            go_strategy(
                t,
                st.rolling_update.is_none(),
                "apps.DeploymentStrategy",
                "apps.RollingUpdateDeployment",
            ),
            &["Recreate", "RollingUpdate"],
        )),
    }
    errs
}

pub(crate) fn validate_deployment(d: &Deployment, opts: &ValidationOptions) -> ErrorList {
    let spec = d.spec.clone().unwrap_or_default();
    let p = Path::new("spec");
    let mut errs = nonnegative(i64::from(spec.replicas.unwrap_or(0)), &p.child("replicas"));
    errs.extend(validate_selector_and_template(
        &spec.selector,
        Some(&spec.template),
        "deployment",
        "ReplicaSet",
        &p,
        opts,
    ));
    errs.extend(validate_deployment_strategy(
        spec.strategy.as_ref(),
        &p.child("strategy"),
    ));
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    errs.extend(nonnegative(
        i64::from(min_ready),
        &p.child("minReadySeconds"),
    ));
    if let Some(r) = spec.revision_history_limit {
        errs.extend(nonnegative(i64::from(r), &p.child("revisionHistoryLimit")));
    }
    if let Some(pd) = spec.progress_deadline_seconds {
        errs.extend(nonnegative(
            i64::from(pd),
            &p.child("progressDeadlineSeconds"),
        ));
        if pd <= min_ready {
            errs.push(FieldError::invalid(
                &p.child("progressDeadlineSeconds"),
                pd,
                "must be greater than minReadySeconds",
            ));
        }
    }
    errs
}

fn selector_immutable(new: &LabelSelector, old: &LabelSelector) -> ErrorList {
    if super::sem_eq(new, old) {
        Vec::new()
    } else {
        vec![FieldError::invalid(
            &Path::new("spec").child("selector"),
            GoSelector(Some(new)),
            FIELD_IMMUTABLE,
        )]
    }
}

pub(crate) fn validate_deployment_update(
    new: &Deployment,
    old: &Deployment,
    opts: &ValidationOptions,
) -> ErrorList {
    let mut errs = validate_deployment(new, opts);
    let (ns, os) = (
        new.spec.clone().unwrap_or_default(),
        old.spec.clone().unwrap_or_default(),
    );
    errs.extend(selector_immutable(&ns.selector, &os.selector));
    errs
}

pub(crate) fn validate_replica_set(rs: &ReplicaSet, opts: &ValidationOptions) -> ErrorList {
    let spec = rs.spec.clone().unwrap_or_default();
    let p = Path::new("spec");
    let mut errs = nonnegative(i64::from(spec.replicas.unwrap_or(0)), &p.child("replicas"));
    errs.extend(nonnegative(
        i64::from(spec.min_ready_seconds.unwrap_or(0)),
        &p.child("minReadySeconds"),
    ));
    // Kubernetes reuses the Deployment wording for an empty ReplicaSet selector.
    errs.extend(validate_selector_and_template(
        &spec.selector,
        spec.template.as_ref(),
        "deployment",
        "ReplicaSet",
        &p,
        opts,
    ));
    errs
}

pub(crate) fn validate_replica_set_update(
    new: &ReplicaSet,
    old: &ReplicaSet,
    opts: &ValidationOptions,
) -> ErrorList {
    let mut errs = validate_replica_set(new, opts);
    let (ns, os) = (
        new.spec.clone().unwrap_or_default(),
        old.spec.clone().unwrap_or_default(),
    );
    errs.extend(selector_immutable(&ns.selector, &os.selector));
    errs
}

fn validate_daemon_set_strategy(st: Option<&DaemonSetUpdateStrategy>, path: &Path) -> ErrorList {
    let default = DaemonSetUpdateStrategy::default();
    let st = st.unwrap_or(&default);
    let mut errs = Vec::new();
    match s(&st.type_) {
        "OnDelete" => {}
        "RollingUpdate" => match &st.rolling_update {
            None => errs.push(FieldError::required(&path.child("rollingUpdate"), "")),
            Some(ru) => {
                let rp = path.child("rollingUpdate");
                let mu = ru.max_unavailable.clone().unwrap_or_else(zero);
                let ms = ru.max_surge.clone().unwrap_or_else(zero);
                errs.extend(validate_positive_int_or_percent(
                    &mu,
                    &rp.child("maxUnavailable"),
                ));
                errs.extend(validate_positive_int_or_percent(&ms, &rp.child("maxSurge")));
                errs.extend(not_more_than_100_percent(&mu, &rp.child("maxUnavailable")));
                errs.extend(not_more_than_100_percent(&ms, &rp.child("maxSurge")));
                let (hu, hs) = (
                    int_or_percent_value(&mu) != 0,
                    int_or_percent_value(&ms) != 0,
                );
                if hu && hs {
                    errs.push(FieldError::invalid(
                        &rp.child("maxSurge"),
                        GoIntOrString(&ms),
                        "may not be set when maxUnavailable is non-zero",
                    ));
                } else if !hu && !hs {
                    errs.push(FieldError::required(
                        &rp.child("maxUnavailable"),
                        "cannot be 0 when maxSurge is 0",
                    ));
                }
            }
        },
        t => errs.push(FieldError::not_supported(
            path,
            go_strategy(
                t,
                st.rolling_update.is_none(),
                "apps.DaemonSetUpdateStrategy",
                "apps.RollingUpdateDaemonSet",
            ),
            &["RollingUpdate", "OnDelete"],
        )),
    }
    errs
}

pub(crate) fn validate_daemon_set(ds: &DaemonSet, opts: &ValidationOptions) -> ErrorList {
    let spec = ds.spec.clone().unwrap_or_default();
    let p = Path::new("spec");
    let mut errs = meta::validate_label_selector(
        Some(&spec.selector),
        SelectorOptions::default(),
        &p.child("selector"),
    );
    let labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.as_ref());
    if meta::selector_is_convertible(&spec.selector)
        && !meta::selector_matches(&spec.selector, labels)
    {
        errs.push(FieldError::invalid(
            &p.child("template").child("metadata").child("labels"),
            GoStrMap(labels),
            "`selector` does not match template `labels`",
        ));
    }
    if spec
        .selector
        .match_labels
        .as_ref()
        .is_none_or(|m| m.is_empty())
        && spec
            .selector
            .match_expressions
            .as_ref()
            .is_none_or(|e| e.is_empty())
    {
        errs.push(FieldError::invalid(
            &p.child("selector"),
            GoSelector(Some(&spec.selector)),
            "empty selector is invalid for daemonset",
        ));
    }
    let tp = p.child("template");
    errs.extend(pod::validate_pod_template_spec(
        &spec.template,
        &tp,
        PodOpts {
            resource_is_pod: false,
            global: opts,
        },
    ));
    errs.extend(pod::template_restart_always(
        &spec.template,
        &tp,
        "DaemonSet",
    ));
    errs.extend(nonnegative(
        i64::from(spec.min_ready_seconds.unwrap_or(0)),
        &p.child("minReadySeconds"),
    ));
    errs.extend(validate_daemon_set_strategy(
        spec.update_strategy.as_ref(),
        &p.child("updateStrategy"),
    ));
    if let Some(r) = spec.revision_history_limit {
        errs.extend(nonnegative(i64::from(r), &p.child("revisionHistoryLimit")));
    }
    errs
}

pub(crate) fn validate_daemon_set_update(
    new: &DaemonSet,
    old: &DaemonSet,
    opts: &ValidationOptions,
) -> ErrorList {
    let mut errs = validate_daemon_set(new, opts);
    let (ns, os) = (
        new.spec.clone().unwrap_or_default(),
        old.spec.clone().unwrap_or_default(),
    );
    errs.extend(selector_immutable(&ns.selector, &os.selector));
    errs
}

pub(crate) fn validate_stateful_set(ss: &StatefulSet) -> ErrorList {
    let spec = ss.spec.clone().unwrap_or_default();
    validate_stateful_set_spec(&spec)
}

fn validate_stateful_set_spec(spec: &StatefulSetSpec) -> ErrorList {
    let p = Path::new("spec");
    let mut errs = Vec::new();
    match s(&spec.pod_management_policy) {
        "" => errs.push(FieldError::required(&p.child("podManagementPolicy"), "")),
        "OrderedReady" | "Parallel" => {}
        other => errs.push(FieldError::invalid(
            &p.child("podManagementPolicy"),
            other,
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let us = spec.update_strategy.clone().unwrap_or_default();
    let up = p.child("updateStrategy");
    match s(&us.type_) {
        "" => errs.push(FieldError::required(&up, "")),
        "OnDelete" => {
            if us.rolling_update.is_some() {
                errs.push(FieldError::invalid(
                    &up.child("rollingUpdate"),
                    Json(&us.rolling_update),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(ru) = &us.rolling_update {
                let rp = up.child("rollingUpdate");
                errs.extend(nonnegative(
                    i64::from(ru.partition.unwrap_or(0)),
                    &rp.child("partition"),
                ));
                if let Some(mu) = &ru.max_unavailable {
                    let mp = rp.child("maxUnavailable");
                    errs.extend(validate_positive_int_or_percent(mu, &mp));
                    if int_or_percent_value(mu) == 0 {
                        errs.push(FieldError::invalid(&mp, GoIntOrString(mu), "cannot be 0"));
                    }
                    errs.extend(not_more_than_100_percent(mu, &mp));
                }
            }
        }
        _ => errs.push(FieldError::invalid(
            &up,
            Json(&us),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    if let Some(pol) = &spec.persistent_volume_claim_retention_policy {
        let pp = p.child("persistentVolumeClaimRetentionPolicy");
        for (v, child) in [
            (s(&pol.when_deleted), "whenDeleted"),
            (s(&pol.when_scaled), "whenScaled"),
        ] {
            if v != "Retain" && v != "Delete" {
                errs.push(FieldError::not_supported(
                    &pp.child(child),
                    v,
                    &["Retain", "Delete"],
                ));
            }
        }
    }
    errs.extend(nonnegative(
        i64::from(spec.replicas.unwrap_or(0)),
        &p.child("replicas"),
    ));
    errs.extend(nonnegative(
        i64::from(spec.min_ready_seconds.unwrap_or(0)),
        &p.child("minReadySeconds"),
    ));
    if let Some(o) = &spec.ordinals {
        errs.extend(nonnegative(
            i64::from(o.start.unwrap_or(0)),
            &p.child("ordinals.start"),
        ));
    }
    let sel = &spec.selector;
    errs.extend(meta::validate_label_selector(
        Some(sel),
        SelectorOptions::default(),
        &p.child("selector"),
    ));
    let empty_sel = sel.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && sel.match_expressions.as_ref().is_none_or(|e| e.is_empty());
    if empty_sel {
        errs.push(FieldError::invalid(
            &p.child("selector"),
            GoSelector(Some(sel)),
            "empty selector is invalid for statefulset",
        ));
    }
    let tp = p.child("template");
    if !meta::selector_is_convertible(sel) {
        errs.push(FieldError::invalid(
            &p.child("selector"),
            GoSelector(Some(sel)),
            "",
        ));
    } else {
        let t = &spec.template;
        let labels = t.metadata.as_ref().and_then(|m| m.labels.as_ref());
        if !empty_sel && !meta::selector_matches(sel, labels) {
            errs.push(FieldError::invalid(
                &tp.child("metadata").child("labels"),
                GoStrMap(labels),
                "`selector` does not match template `labels`",
            ));
        }
        // Kubernetes 1.33 checks only the template's metadata here, not its pod spec.
        errs.extend(meta::validate_labels(labels, &tp.child("labels")));
        let ann = t.metadata.as_ref().and_then(|m| m.annotations.as_ref());
        errs.extend(meta::validate_annotations(ann, &tp.child("annotations")));
    }
    errs.extend(pod::template_restart_always(
        &spec.template,
        &tp,
        "StatefulSet",
    ));
    errs
}

pub(crate) fn validate_stateful_set_update(new: &StatefulSet, old: &StatefulSet) -> ErrorList {
    let mut errs = validate_stateful_set(new);
    let ns = new.spec.clone().unwrap_or_default();
    let os = old.spec.clone().unwrap_or_default();
    let mut clone = ns;
    clone.replicas = os.replicas;
    clone.template = os.template.clone();
    clone.update_strategy = os.update_strategy.clone();
    clone.min_ready_seconds = os.min_ready_seconds;
    clone.ordinals = os.ordinals.clone();
    clone.persistent_volume_claim_retention_policy =
        os.persistent_volume_claim_retention_policy.clone();
    if !super::sem_eq(&clone, &os) {
        errs.push(FieldError::forbidden(
            &Path::new("spec"),
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        ));
    }
    errs
}

pub(crate) fn validate_controller_revision(cr: &ControllerRevision) -> ErrorList {
    let mut errs = Vec::new();
    if cr.data.is_none() {
        errs.push(FieldError::required(
            &Path::new("data"),
            "data is mandatory",
        ));
    }
    errs.extend(nonnegative(cr.revision, &Path::new("revision")));
    errs
}

pub(crate) fn validate_controller_revision_update(
    new: &ControllerRevision,
    old: &ControllerRevision,
) -> ErrorList {
    let mut errs = validate_controller_revision(new);
    if new.data != old.data {
        errs.push(FieldError::invalid(
            &Path::new("data"),
            Json(&new.data),
            FIELD_IMMUTABLE,
        ));
    }
    errs
}
