//! batch/v1 validation (`pkg/apis/batch/validation`): Job and CronJob, including the
//! generated-selector checks and a parser for the standard cron syntax CronJob schedules
//! use (five fields or a `@descriptor`, with the cron library's error messages).

use std::collections::BTreeMap;

use clipper_proto::api::batch::v1::{CronJob, Job, JobSpec, PodFailurePolicyRule};
use clipper_proto::api::core::v1::PodTemplateSpec;
use clipper_proto::api::meta::v1::ObjectMeta;

use super::ValidationOptions;
use super::field::{ErrorList, FieldError, GoSelector, GoStrMap, Json, Path, go_quote};
use super::meta::{self, FIELD_IMMUTABLE, SelectorOptions, nonnegative};
use super::names;
use super::pod::{self, PodOpts, s};

/// An Indexed Job's parallelism cap, which bounds `.status.completedIndexes`.
pub const MAX_PARALLELISM_FOR_INDEXED_JOB: i32 = 100_000;
/// An Indexed Job's failed-indexes cap.
pub const MAX_FAILED_INDEXES_FOR_INDEXED_JOB: i32 = 100_000;
/// Above this many completions, backoffLimitPerIndex jobs need tighter limits.
pub const COMPLETIONS_SOFT_LIMIT: i32 = 100_000;
pub const PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS: i32 = 10_000;
pub const MAX_FAILED_INDEXES_LIMIT_FOR_HIGH_COMPLETIONS: i32 = 10_000;
/// Pod failure policy size limits.
pub const MAX_POD_FAILURE_POLICY_RULES: usize = 20;
pub const MAX_POD_FAILURE_POLICY_ON_EXIT_CODES_VALUES: usize = 255;
pub const MAX_POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERNS: usize = 20;
/// `managedBy` fits in a label value.
pub const MAX_MANAGED_BY_LENGTH: usize = 63;
/// Success policy limits.
pub const MAX_SUCCESS_POLICY_RULES: usize = 20;
pub const MAX_SUCCEEDED_INDEXES_LENGTH: usize = 64 * 1024;
/// The CronJob controller appends an 11-character suffix to job names, which must stay
/// within 63 characters.
pub const MAX_CRON_JOB_NAME_LENGTH: usize = 52;

pub const LEGACY_JOB_NAME_LABEL: &str = "job-name";
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
pub const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";

/// What the Job registry strategy does before validating a Job whose selector is not
/// manual: label the pod template with the job name and uid (both the legacy and the
/// `batch.kubernetes.io/` keys, keeping labels the user set) and select on
/// `batch.kubernetes.io/controller-uid`.
pub fn job_selector_and_labels(job: &mut Job, uid: &str) {
    let name = job.metadata.name.clone().unwrap_or_default();
    let Some(spec) = job.spec.as_mut() else {
        return;
    };
    if spec.manual_selector == Some(true) {
        return;
    }
    let meta = spec
        .template
        .metadata
        .get_or_insert_with(ObjectMeta::default);
    let labels = meta.labels.get_or_insert_with(BTreeMap::new);
    for key in [LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL] {
        labels
            .entry(key.to_string())
            .or_insert_with(|| name.clone());
    }
    for key in [LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL] {
        labels
            .entry(key.to_string())
            .or_insert_with(|| uid.to_string());
    }
    let selector = spec.selector.get_or_insert_with(Default::default);
    selector
        .match_labels
        .get_or_insert_with(BTreeMap::new)
        .entry(CONTROLLER_UID_LABEL.to_string())
        .or_insert_with(|| uid.to_string());
}

fn has_label(meta: Option<&ObjectMeta>, path: &Path, key: &str, expected: &str) -> ErrorList {
    let labels = meta.and_then(|m| m.labels.as_ref());
    let lp = path.child("labels").key(key);
    match labels.and_then(|l| l.get(key)) {
        None => vec![FieldError::required(&lp, format!("must be '{expected}'"))],
        Some(v) if v != expected => vec![FieldError::invalid(
            &lp,
            GoStrMap(labels),
            format!("must be '{expected}'"),
        )],
        Some(_) => Vec::new(),
    }
}

fn validate_generated_selector(job: &Job, prefixed: bool) -> ErrorList {
    let mut errs = Vec::new();
    let Some(spec) = &job.spec else { return errs };
    if spec.manual_selector == Some(true) {
        return errs;
    }
    let Some(sel) = &spec.selector else {
        return errs;
    };
    let uid = s(&job.metadata.uid);
    let name = s(&job.metadata.name);
    if uid.is_empty() {
        errs.push(FieldError::required(
            &Path::new("metadata").child("uid"),
            "",
        ));
    }
    let tmeta = spec.template.metadata.as_ref();
    let tp = Path::new("spec").child("template").child("metadata");
    errs.extend(has_label(tmeta, &tp, LEGACY_CONTROLLER_UID_LABEL, uid));
    errs.extend(has_label(tmeta, &tp, LEGACY_JOB_NAME_LABEL, name));
    let mut expected = BTreeMap::new();
    if prefixed {
        errs.extend(has_label(tmeta, &tp, CONTROLLER_UID_LABEL, uid));
        errs.extend(has_label(tmeta, &tp, JOB_NAME_LABEL, name));
        expected.insert(CONTROLLER_UID_LABEL.to_string(), uid.to_string());
        expected.insert(JOB_NAME_LABEL.to_string(), name.to_string());
    }
    expected.insert(LEGACY_CONTROLLER_UID_LABEL.to_string(), uid.to_string());
    expected.insert(LEGACY_JOB_NAME_LABEL.to_string(), name.to_string());
    if meta::selector_is_convertible(sel) && !meta::selector_matches(sel, Some(&expected)) {
        errs.push(FieldError::invalid(
            &Path::new("spec").child("selector"),
            GoSelector(Some(sel)),
            "`selector` not auto-generated",
        ));
    }
    errs
}

fn parse_index_interval(interval: &str, completions: i32) -> Result<(i32, i32), String> {
    let parts: Vec<&str> = interval.split('-').collect();
    if parts.len() > 2 {
        return Err(format!(
            "the fragment {} violates the requirement that an index interval can have at most two parts separated by '-'",
            go_quote(interval)
        ));
    }
    let parse = |p: &str| {
        p.parse::<i64>().map_err(|_| {
            format!(
                "cannot convert string to integer for index: {}",
                go_quote(p)
            )
        })
    };
    let x = parse(parts[0])?;
    if x >= i64::from(completions) {
        return Err(format!("too large index: {}", go_quote(parts[0])));
    }
    if parts.len() == 2 {
        let y = parse(parts[1])?;
        if y >= i64::from(completions) {
            return Err(format!("too large index: {}", go_quote(parts[1])));
        }
        if x >= y {
            return Err(format!("non-increasing order, previous: {x}, current: {y}"));
        }
        return Ok((
            i32::try_from(x).unwrap_or(i32::MAX),
            i32::try_from(y).unwrap_or(i32::MAX),
        ));
    }
    let x = i32::try_from(x).unwrap_or(i32::MAX);
    Ok((x, x))
}

fn validate_indexes_format(indexes: &str, completions: i32) -> Result<i64, String> {
    if indexes.is_empty() {
        return Ok(0);
    }
    let mut last: Option<i32> = None;
    let mut total = 0i64;
    for interval in indexes.split(',') {
        let (x, y) = parse_index_interval(interval, completions)?;
        if let Some(l) = last
            && l >= x
        {
            return Err(format!("non-increasing order, previous: {l}, current: {x}"));
        }
        total += i64::from(y) - i64::from(x) + 1;
        last = Some(y);
    }
    Ok(total)
}

fn validate_pod_failure_rule(
    spec: &JobSpec,
    rule: &PodFailurePolicyRule,
    path: &Path,
    containers: &[String],
) -> ErrorList {
    const ACTIONS: &[&str] = &["Count", "FailIndex", "FailJob", "Ignore"];
    let mut errs = Vec::new();
    let ap = path.child("action");
    match rule.action.as_str() {
        "" => errs.push(FieldError::required(
            &ap,
            format!("valid values: {}", go_list(ACTIONS)),
        )),
        "FailIndex" if spec.backoff_limit_per_index.is_none() => {
            errs.push(FieldError::invalid(
                &ap,
                "FailIndex",
                "requires the backoffLimitPerIndex to be set",
            ));
        }
        a if !ACTIONS.contains(&a) => errs.push(FieldError::not_supported(&ap, a, ACTIONS)),
        _ => {}
    }
    if let Some(oe) = &rule.on_exit_codes {
        let op = path.child("onExitCodes");
        match oe.operator.as_str() {
            "" => errs.push(FieldError::required(
                &op.child("operator"),
                format!("valid values: {}", go_list(&["In", "NotIn"])),
            )),
            "In" | "NotIn" => {}
            other => errs.push(FieldError::not_supported(
                &op.child("operator"),
                other,
                &["In", "NotIn"],
            )),
        }
        if let Some(c) = &oe.container_name
            && !containers.contains(c)
        {
            errs.push(FieldError::invalid(
                &op.child("containerName"),
                c,
                "must be one of the container or initContainer names in the pod template",
            ));
        }
        let vp = op.child("values");
        if oe.values.is_empty() {
            errs.push(FieldError::invalid(
                &vp,
                Json(&oe.values),
                "at least one value is required",
            ));
        } else if oe.values.len() > MAX_POD_FAILURE_POLICY_ON_EXIT_CODES_VALUES {
            errs.push(FieldError::too_many(
                &vp,
                oe.values.len(),
                MAX_POD_FAILURE_POLICY_ON_EXIT_CODES_VALUES,
            ));
        }
        let mut seen = Vec::new();
        let mut ordered = true;
        for (j, v) in oe.values.iter().enumerate() {
            if oe.operator == "In" && *v == 0 {
                errs.push(FieldError::invalid(
                    &vp.index(j),
                    *v,
                    "must not be 0 for the In operator",
                ));
            }
            if seen.contains(v) {
                errs.push(FieldError::duplicate(&vp.index(j), *v));
            } else {
                seen.push(*v);
            }
            if j > 0 && oe.values[j - 1] > *v {
                ordered = false;
            }
        }
        if !ordered {
            errs.push(FieldError::invalid(
                &vp,
                Json(&oe.values),
                "must be ordered",
            ));
        }
    }
    let conds = rule.on_pod_conditions.as_deref().unwrap_or(&[]);
    if !conds.is_empty() {
        let cp = path.child("onPodConditions");
        if conds.len() > MAX_POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERNS {
            errs.push(FieldError::too_many(
                &cp,
                conds.len(),
                MAX_POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERNS,
            ));
        }
        for (j, c) in conds.iter().enumerate() {
            let pp = cp.index(j);
            errs.extend(names::to_errors(
                &pp.child("type"),
                &c.type_,
                names::is_qualified_name(&c.type_),
            ));
            match c.status.as_str() {
                "" => errs.push(FieldError::required(
                    &pp.child("status"),
                    format!("valid values: {}", go_list(&["False", "True", "Unknown"])),
                )),
                "False" | "True" | "Unknown" => {}
                other => errs.push(FieldError::not_supported(
                    &pp.child("status"),
                    other,
                    &["False", "True", "Unknown"],
                )),
            }
        }
    }
    if rule.on_exit_codes.is_some() && !conds.is_empty() {
        errs.push(FieldError::invalid_omit(
            path,
            "specifying both OnExitCodes and OnPodConditions is not supported",
        ));
    }
    if rule.on_exit_codes.is_none() && conds.is_empty() {
        errs.push(FieldError::invalid_omit(
            path,
            "specifying one of OnExitCodes and OnPodConditions is required",
        ));
    }
    errs
}

/// `%q` of a `[]string`: `["a" "b"]`.
fn go_list(items: &[&str]) -> String {
    let q: Vec<String> = items.iter().map(|i| go_quote(i)).collect();
    format!("[{}]", q.join(" "))
}

fn validate_job_spec_inner(spec: &JobSpec, path: &Path, opts: &ValidationOptions) -> ErrorList {
    let mut errs = Vec::new();
    for (v, child) in [
        (spec.parallelism.map(i64::from), "parallelism"),
        (spec.completions.map(i64::from), "completions"),
        (spec.active_deadline_seconds, "activeDeadlineSeconds"),
        (spec.backoff_limit.map(i64::from), "backoffLimit"),
        (
            spec.ttl_seconds_after_finished.map(i64::from),
            "ttlSecondsAfterFinished",
        ),
        (
            spec.backoff_limit_per_index.map(i64::from),
            "backoffLimitPerIndex",
        ),
    ] {
        if let Some(v) = v {
            errs.extend(nonnegative(v, &path.child(child)));
        }
    }
    if let Some(m) = spec.max_failed_indexes {
        errs.extend(nonnegative(i64::from(m), &path.child("maxFailedIndexes")));
        if spec.backoff_limit_per_index.is_none() {
            errs.push(FieldError::required(
                &path.child("backoffLimitPerIndex"),
                "when maxFailedIndexes is specified",
            ));
        }
    }
    if let Some(mb) = &spec.managed_by {
        errs.extend(names::is_domain_prefixed_path(&path.child("managedBy"), mb));
        if mb.len() > MAX_MANAGED_BY_LENGTH {
            errs.push(FieldError::too_long(
                &path.child("managedBy"),
                MAX_MANAGED_BY_LENGTH,
            ));
        }
    }
    let indexed = spec.completion_mode.as_deref() == Some("Indexed");
    if let Some(cm) = &spec.completion_mode {
        if cm != "NonIndexed" && cm != "Indexed" {
            errs.push(FieldError::not_supported(
                &path.child("completionMode"),
                cm.as_str(),
                &["NonIndexed", "Indexed"],
            ));
        }
        if indexed {
            if spec.completions.is_none() {
                errs.push(FieldError::required(
                    &path.child("completions"),
                    "when completion mode is Indexed",
                ));
            }
            if let Some(p) = spec
                .parallelism
                .filter(|p| *p > MAX_PARALLELISM_FOR_INDEXED_JOB)
            {
                errs.push(FieldError::invalid(
                    &path.child("parallelism"),
                    p,
                    format!("must be less than or equal to {MAX_PARALLELISM_FOR_INDEXED_JOB} when completion mode is Indexed"),
                ));
            }
            if let (Some(c), Some(m)) = (spec.completions, spec.max_failed_indexes)
                && m > c
            {
                errs.push(FieldError::invalid(
                    &path.child("maxFailedIndexes"),
                    m,
                    "must be less than or equal to completions",
                ));
            }
            if let Some(m) = spec
                .max_failed_indexes
                .filter(|m| *m > MAX_FAILED_INDEXES_FOR_INDEXED_JOB)
            {
                errs.push(FieldError::invalid(
                    &path.child("maxFailedIndexes"),
                    m,
                    format!("must be less than or equal to {MAX_FAILED_INDEXES_FOR_INDEXED_JOB}"),
                ));
            }
            if spec.completions.is_some_and(|c| c > COMPLETIONS_SOFT_LIMIT)
                && spec.backoff_limit_per_index.is_some()
            {
                if spec.max_failed_indexes.is_none() {
                    errs.push(FieldError::required(
                        &path.child("maxFailedIndexes"),
                        format!(
                            "must be specified when completions is above {COMPLETIONS_SOFT_LIMIT}"
                        ),
                    ));
                }
                if let Some(p) = spec
                    .parallelism
                    .filter(|p| *p > PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS)
                {
                    errs.push(FieldError::invalid(&path.child("parallelism"), p, format!("must be less than or equal to {PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS} when completions are above {COMPLETIONS_SOFT_LIMIT} and used with backoff limit per index")));
                }
                if let Some(m) = spec
                    .max_failed_indexes
                    .filter(|m| *m > MAX_FAILED_INDEXES_LIMIT_FOR_HIGH_COMPLETIONS)
                {
                    errs.push(FieldError::invalid(&path.child("maxFailedIndexes"), m, format!("must be less than or equal to {MAX_FAILED_INDEXES_LIMIT_FOR_HIGH_COMPLETIONS} when completions are above {COMPLETIONS_SOFT_LIMIT} and used with backoff limit per index")));
                }
            }
        }
    }
    if !indexed {
        if let Some(b) = spec.backoff_limit_per_index {
            errs.push(FieldError::invalid(
                &path.child("backoffLimitPerIndex"),
                b,
                "requires indexed completion mode",
            ));
        }
        if let Some(m) = spec.max_failed_indexes {
            errs.push(FieldError::invalid(
                &path.child("maxFailedIndexes"),
                m,
                "requires indexed completion mode",
            ));
        }
    }
    if let Some(pfp) = &spec.pod_failure_policy {
        let rp = path.child("podFailurePolicy").child("rules");
        if pfp.rules.len() > MAX_POD_FAILURE_POLICY_RULES {
            errs.push(FieldError::too_many(
                &rp,
                pfp.rules.len(),
                MAX_POD_FAILURE_POLICY_RULES,
            ));
        }
        let tspec = spec.template.spec.clone().unwrap_or_default();
        let names: Vec<String> = tspec
            .containers
            .iter()
            .chain(tspec.init_containers.iter().flatten())
            .map(|c| c.name.clone())
            .collect();
        for (i, r) in pfp.rules.iter().enumerate() {
            errs.extend(validate_pod_failure_rule(spec, r, &rp.index(i), &names));
        }
    }
    if let Some(sp) = &spec.success_policy {
        let p = path.child("successPolicy");
        if !indexed {
            errs.push(FieldError::invalid(
                &p,
                Json(sp),
                "requires indexed completion mode",
            ));
        } else {
            let rp = p.child("rules");
            if sp.rules.is_empty() {
                errs.push(FieldError::required(
                    &rp,
                    "at least one rules must be specified when the successPolicy is specified",
                ));
            }
            if sp.rules.len() > MAX_SUCCESS_POLICY_RULES {
                errs.push(FieldError::too_many(
                    &rp,
                    sp.rules.len(),
                    MAX_SUCCESS_POLICY_RULES,
                ));
            }
            let completions = spec.completions.unwrap_or(0);
            for (i, r) in sp.rules.iter().enumerate() {
                let p = rp.index(i);
                if r.succeeded_count.is_none() && r.succeeded_indexes.is_none() {
                    errs.push(FieldError::required(
                        &p,
                        "at least one of succeededCount or succeededIndexes must be specified",
                    ));
                }
                let mut total = 0i64;
                if let Some(si) = &r.succeeded_indexes {
                    let sip = p.child("succeededIndexes");
                    if si.len() > MAX_SUCCEEDED_INDEXES_LENGTH {
                        errs.push(FieldError::too_long(&sip, MAX_SUCCEEDED_INDEXES_LENGTH));
                    }
                    match validate_indexes_format(si, completions) {
                        Ok(t) => total = t,
                        Err(e) => errs.push(FieldError::invalid(
                            &sip,
                            si,
                            format!("error parsing succeededIndexes: {e}"),
                        )),
                    }
                }
                if let Some(sc) = r.succeeded_count {
                    let cp = p.child("succeededCount");
                    errs.extend(nonnegative(i64::from(sc), &cp));
                    if sc > completions {
                        errs.push(FieldError::invalid(&cp, sc, format!("must be less than or equal to {completions} (the number of specified completions)")));
                    }
                    if r.succeeded_indexes.is_some() && i64::from(sc) > total {
                        errs.push(FieldError::invalid(&cp, sc, format!("must be less than or equal to {total} (the number of indexes in the specified succeededIndexes field)")));
                    }
                }
            }
        }
    }
    if let Some(prp) = &spec.pod_replacement_policy {
        let pp = path.child("podReplacementPolicy");
        if spec.pod_failure_policy.is_some() {
            if prp != "Failed" {
                errs.push(FieldError::not_supported(&pp, prp.as_str(), &["Failed"]));
            }
        } else if prp != "Failed" && prp != "TerminatingOrFailed" {
            errs.push(FieldError::not_supported(
                &pp,
                prp.as_str(),
                &["Failed", "TerminatingOrFailed"],
            ));
        }
    }
    let tp = path.child("template");
    errs.extend(pod::validate_pod_template_spec(
        &spec.template,
        &tp,
        PodOpts {
            resource_is_pod: false,
            global: opts,
        },
    ));
    let rp = tp.child("spec").child("restartPolicy");
    let restart = spec
        .template
        .spec
        .as_ref()
        .map(|s| s.restart_policy.as_deref().unwrap_or(""))
        .unwrap_or("");
    match restart {
        "Always" | "" => errs.push(FieldError::required(
            &rp,
            "valid values: \"OnFailure\", \"Never\"",
        )),
        "OnFailure" | "Never" => {
            if spec.pod_failure_policy.is_some() && restart != "Never" {
                errs.push(FieldError::invalid(
                    &rp,
                    restart,
                    "only \"Never\" is supported when podFailurePolicy is specified",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            &rp,
            other,
            &["OnFailure", "Never"],
        )),
    }
    errs
}

fn validate_job_spec(spec: &JobSpec, path: &Path, opts: &ValidationOptions) -> ErrorList {
    let mut errs = validate_job_spec_inner(spec, path, opts);
    match &spec.selector {
        None => errs.push(FieldError::required(&path.child("selector"), "")),
        Some(sel) => errs.extend(meta::validate_label_selector(
            Some(sel),
            SelectorOptions::default(),
            &path.child("selector"),
        )),
    }
    if let Some(sel) = &spec.selector {
        let labels = spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.as_ref());
        if meta::selector_is_convertible(sel) && !meta::selector_matches(sel, labels) {
            errs.push(FieldError::invalid(
                &path.child("template").child("metadata").child("labels"),
                GoStrMap(labels),
                "`selector` does not match template `labels`",
            ));
        }
    }
    errs
}

fn validate_job_common(job: &Job, prefixed: bool, opts: &ValidationOptions) -> ErrorList {
    let mut errs = validate_generated_selector(job, prefixed);
    let spec = job.spec.clone().unwrap_or_default();
    errs.extend(validate_job_spec(&spec, &Path::new("spec"), opts));
    if spec.completion_mode.as_deref() == Some("Indexed")
        && let Some(c) = spec.completions.filter(|c| *c > 0)
    {
        let name = s(&job.metadata.name);
        let host = format!("{name}-{}", c - 1);
        if !names::is_dns1123_label(&host).is_empty() {
            errs.push(FieldError::invalid(
                &Path::new("metadata").child("name"),
                name,
                format!("will not able to create pod with invalid DNS label: {host}"),
            ));
        }
    }
    errs
}

pub(crate) fn validate_job(job: &Job, opts: &ValidationOptions) -> ErrorList {
    validate_job_common(job, true, opts)
}

pub(crate) fn validate_job_update(new: &Job, old: &Job, opts: &ValidationOptions) -> ErrorList {
    let old_labels = old
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.as_ref());
    let prefixed = old_labels
        .is_some_and(|l| l.contains_key(JOB_NAME_LABEL) && l.contains_key(CONTROLLER_UID_LABEL));
    let mut errs = validate_job_common(new, prefixed, opts);
    let ns = new.spec.clone().unwrap_or_default();
    let os = old.spec.clone().unwrap_or_default();
    let sp = Path::new("spec");
    let indexed = ns.completion_mode.as_deref() == Some("Indexed");
    if ns.completions != os.completions {
        // Elastic Indexed Jobs (GA in 1.31) may scale completions together with parallelism.
        if !indexed {
            errs.push(FieldError::invalid(
                &sp.child("completions"),
                ns.completions,
                FIELD_IMMUTABLE,
            ));
        } else if let Some(c) = ns.completions
            && Some(c) != ns.parallelism
        {
            errs.push(FieldError::invalid(
                &sp.child("completions"),
                c,
                "can only be modified in tandem with spec.parallelism",
            ));
        }
    }
    if !super::sem_eq(&ns.selector, &os.selector) {
        errs.push(FieldError::invalid(
            &sp.child("selector"),
            GoSelector(ns.selector.as_ref()),
            FIELD_IMMUTABLE,
        ));
    }
    let suspended = os.suspend == Some(true);
    let not_started = old.status.as_ref().is_none_or(|s| s.start_time.is_none());
    let mut old_template: PodTemplateSpec = os.template.clone();
    if suspended && not_started {
        let nt = &ns.template;
        let (mut ot_spec, nt_spec) = (
            old_template.spec.clone().unwrap_or_default(),
            nt.spec.clone().unwrap_or_default(),
        );
        match (&nt_spec.affinity, &mut ot_spec.affinity) {
            (None, Some(a)) => {
                a.node_affinity = None;
                if *a == Default::default() {
                    ot_spec.affinity = None;
                }
            }
            (Some(na), None) => {
                ot_spec.affinity = Some(clipper_proto::api::core::v1::Affinity {
                    node_affinity: na.node_affinity.clone(),
                    ..Default::default()
                });
            }
            (Some(na), Some(oa)) => oa.node_affinity = na.node_affinity.clone(),
            (None, None) => {}
        }
        ot_spec.node_selector = nt_spec.node_selector.clone();
        ot_spec.tolerations = nt_spec.tolerations.clone();
        ot_spec.scheduling_gates = nt_spec.scheduling_gates.clone();
        old_template.spec = Some(ot_spec);
        let om = old_template
            .metadata
            .get_or_insert_with(ObjectMeta::default);
        let nm = nt.metadata.clone().unwrap_or_default();
        om.annotations = nm.annotations;
        om.labels = nm.labels;
    }
    if !super::sem_eq(&ns.template, &old_template) {
        errs.push(FieldError::invalid(
            &sp.child("template"),
            Json(&ns.template),
            FIELD_IMMUTABLE,
        ));
    }
    if ns.completion_mode != os.completion_mode {
        errs.push(FieldError::invalid(
            &sp.child("completionMode"),
            ns.completion_mode.clone(),
            FIELD_IMMUTABLE,
        ));
    }
    if !super::sem_eq(&ns.pod_failure_policy, &os.pod_failure_policy) {
        errs.push(FieldError::invalid(
            &sp.child("podFailurePolicy"),
            Json(&ns.pod_failure_policy),
            FIELD_IMMUTABLE,
        ));
    }
    if ns.backoff_limit_per_index != os.backoff_limit_per_index {
        errs.push(FieldError::invalid(
            &sp.child("backoffLimitPerIndex"),
            ns.backoff_limit_per_index,
            FIELD_IMMUTABLE,
        ));
    }
    if ns.managed_by != os.managed_by {
        errs.push(FieldError::invalid(
            &sp.child("managedBy"),
            ns.managed_by.clone(),
            FIELD_IMMUTABLE,
        ));
    }
    if !super::sem_eq(&ns.success_policy, &os.success_policy) {
        errs.push(FieldError::invalid(
            &sp.child("successPolicy"),
            Json(&ns.success_policy),
            FIELD_IMMUTABLE,
        ));
    }
    errs
}

fn validate_time_zone(tz: &str, path: &Path) -> ErrorList {
    if tz.is_empty() {
        return vec![FieldError::invalid(
            path,
            tz,
            "timeZone must be nil or non-empty string",
        )];
    }
    for part in tz.split('/') {
        let ok = !part.is_empty()
            && part.len() <= 14
            && part != "."
            && part != ".."
            && !part.starts_with('-')
            && part
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b'+'));
        if !ok {
            return vec![FieldError::invalid(
                path,
                tz,
                format!("unknown time zone {tz}"),
            )];
        }
    }
    if tz.eq_ignore_ascii_case("Local") {
        return vec![FieldError::invalid(
            path,
            tz,
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        )];
    }
    Vec::new()
}

fn validate_cron_job_spec(
    cj: &CronJob,
    old: Option<&CronJob>,
    opts: &ValidationOptions,
) -> ErrorList {
    let spec = cj.spec.clone().unwrap_or_default();
    let old_spec = old.and_then(|o| o.spec.as_ref());
    let p = Path::new("spec");
    let mut errs = Vec::new();
    let sched = p.child("schedule");
    if spec.schedule.is_empty() {
        errs.push(FieldError::required(&sched, ""));
    } else {
        let allow_tz = old_spec.is_some_and(|o| o.schedule.contains("TZ"));
        if let Err(e) = parse_cron_standard(&spec.schedule) {
            errs.push(FieldError::invalid(&sched, spec.schedule.as_str(), e));
        }
        if allow_tz && spec.schedule.contains("TZ") && spec.time_zone.is_some() {
            errs.push(FieldError::invalid(
                &sched,
                spec.schedule.as_str(),
                "cannot use both timeZone field and TZ or CRON_TZ in schedule",
            ));
        } else if !allow_tz && spec.schedule.contains("TZ") {
            errs.push(FieldError::invalid(
                &sched,
                spec.schedule.as_str(),
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ));
        }
    }
    if let Some(sd) = spec.starting_deadline_seconds {
        errs.extend(nonnegative(sd, &p.child("startingDeadlineSeconds")));
    }
    if old_spec.is_none_or(|o| o.time_zone != spec.time_zone)
        && let Some(tz) = &spec.time_zone
    {
        errs.extend(validate_time_zone(tz, &p.child("timeZone")));
    }
    let cp = p.child("concurrencyPolicy");
    match s(&spec.concurrency_policy) {
        "Allow" | "Forbid" | "Replace" => {}
        "" => errs.push(FieldError::required(&cp, "")),
        other => errs.push(FieldError::not_supported(
            &cp,
            other,
            &["Allow", "Forbid", "Replace"],
        )),
    }
    let jp = p.child("jobTemplate");
    let jspec = spec.job_template.spec.clone().unwrap_or_default();
    errs.extend(validate_job_spec_inner(&jspec, &jp.child("spec"), opts));
    if let Some(sel) = &jspec.selector {
        errs.push(FieldError::invalid(
            &jp.child("spec").child("selector"),
            GoSelector(Some(sel)),
            "`selector` will be auto-generated",
        ));
    }
    if jspec.manual_selector == Some(true) {
        errs.push(FieldError::not_supported(
            &jp.child("spec").child("manualSelector"),
            true,
            &["nil", "false"],
        ));
    }
    for (v, child) in [
        (
            spec.successful_jobs_history_limit,
            "successfulJobsHistoryLimit",
        ),
        (spec.failed_jobs_history_limit, "failedJobsHistoryLimit"),
    ] {
        if let Some(v) = v {
            errs.extend(nonnegative(i64::from(v), &p.child(child)));
        }
    }
    errs
}

pub(crate) fn validate_cron_job(cj: &CronJob, opts: &ValidationOptions) -> ErrorList {
    let mut errs = validate_cron_job_spec(cj, None, opts);
    let name = s(&cj.metadata.name);
    if name.len() > MAX_CRON_JOB_NAME_LENGTH {
        errs.push(FieldError::invalid(
            &Path::new("metadata").child("name"),
            name,
            "must be no more than 52 characters",
        ));
    }
    errs
}

pub(crate) fn validate_cron_job_update(
    new: &CronJob,
    old: &CronJob,
    opts: &ValidationOptions,
) -> ErrorList {
    validate_cron_job_spec(new, Some(old), opts)
}

// ---------------------------------------------------------------------------------------
// Cron schedules (the cron library's ParseStandard)

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

/// Go's `strconv.Atoi` errors as the cron library prints them.
fn must_parse_int(expr: &str) -> Result<u32, String> {
    let n: i64 = match expr.parse::<i64>() {
        Ok(n) => n,
        Err(e) => {
            let why = if matches!(
                e.kind(),
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow
            ) {
                "value out of range"
            } else {
                "invalid syntax"
            };
            return Err(format!(
                "failed to parse int from {expr}: strconv.Atoi: parsing {}: {why}",
                go_quote(expr)
            ));
        }
    };
    if n < 0 {
        return Err(format!("negative number ({n}) not allowed: {expr}"));
    }
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

fn parse_int_or_name(expr: &str, b: &Bounds) -> Result<u32, String> {
    let lower = expr.to_lowercase();
    if let Some((_, v)) = b.names.iter().find(|(n, _)| *n == lower) {
        return Ok(*v);
    }
    must_parse_int(expr)
}

fn get_range(expr: &str, b: &Bounds) -> Result<(), String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_high.len() == 1;
    let (start, mut end);
    if low_high[0] == "*" || low_high[0] == "?" {
        start = b.min;
        end = b.max;
    } else {
        start = parse_int_or_name(low_high[0], b)?;
        end = match low_high.len() {
            1 => start,
            2 => parse_int_or_name(low_high[1], b)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
    }
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let st = must_parse_int(range_and_step[1])?;
            if single {
                end = b.max;
            }
            st
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < b.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            b.min
        ));
    }
    if end > b.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            b.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    Ok(())
}

fn get_field(field: &str, b: &Bounds) -> Result<(), String> {
    for expr in field.split(',').filter(|e| !e.is_empty()) {
        get_range(expr, b)?;
    }
    Ok(())
}

/// Checks a Go duration string (`1h30m`, `90s`, `1.5h`) as `time.ParseDuration` would.
fn parse_go_duration(s: &str) -> Result<(), String> {
    let err = || format!("time: invalid duration {}", go_quote(s));
    let mut rest = s.strip_prefix(['-', '+']).unwrap_or(s);
    if rest == "0" {
        return Ok(());
    }
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let num_len = rest
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        if num_len == 0 || rest[..num_len].bytes().all(|c| c == b'.') {
            return Err(err());
        }
        rest = &rest[num_len..];
        let unit_len = rest
            .bytes()
            .take_while(|c| !c.is_ascii_digit() && *c != b'.')
            .count();
        let unit = &rest[..unit_len];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {}", go_quote(s)));
        }
        if !["ns", "us", "µs", "μs", "ms", "s", "m", "h"].contains(&unit) {
            return Err(format!(
                "time: unknown unit {} in duration {}",
                go_quote(unit),
                go_quote(s)
            ));
        }
        rest = &rest[unit_len..];
    }
    Ok(())
}

/// Parses a schedule as the cron library's `ParseStandard` does (minute, hour, day of
/// month, month, day of week, or a descriptor such as `@hourly`), returning its error text.
pub fn parse_cron_standard(spec: &str) -> Result<(), String> {
    if spec.is_empty() {
        return Err("empty spec string".to_string());
    }
    let mut spec = spec;
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        let (Some(space), Some(eq)) = (spec.find(' '), spec.find('=')) else {
            return Err(format!("provided bad location {spec}: unknown time zone"));
        };
        let loc = &spec[eq + 1..space.max(eq + 1)];
        if loc.is_empty() || loc.contains("..") {
            return Err(format!(
                "provided bad location {loc}: unknown time zone {loc}"
            ));
        }
        spec = spec[space..].trim();
    }
    if spec.starts_with('@') {
        return match spec {
            "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight"
            | "@hourly" => Ok(()),
            d if d.starts_with("@every ") => parse_go_duration(&d["@every ".len()..])
                .map_err(|e| format!("failed to parse duration {d}: {e}")),
            d => Err(format!("unrecognized descriptor: {d}")),
        };
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    get_field(fields[0], &MINUTES)?;
    get_field(fields[1], &HOURS)?;
    get_field(fields[2], &DOM)?;
    get_field(fields[3], &MONTHS)?;
    get_field(fields[4], &DOW)?;
    Ok(())
}
