//! The Deployment controller's pure parts, as kube's `pkg/controller/deployment/util`:
//! maxSurge/maxUnavailable arithmetic, the pod-template hash, revisions and the
//! replica-count annotations, proportional scaling, the status and its conditions.
//! Nothing here talks to the server; times are Unix seconds passed in.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use clipper_proto::IntOrString;
use clipper_proto::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentSpec, DeploymentStatus, ReplicaSet,
};
use clipper_proto::api::core::v1::PodTemplateSpec;

pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";

// Condition reasons, kube's words.
pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";
pub const FAILED_RS_CREATE: &str = "ReplicaSetCreateError";
pub const MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

pub fn spec(d: &Deployment) -> DeploymentSpec {
    d.spec.clone().unwrap_or_default()
}

pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn rs_status_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map(|s| s.replicas).unwrap_or(0)
}

pub fn rs_available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

pub fn rs_ready(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
}

pub fn is_rolling_update(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate")
        == "RollingUpdate"
}

/// kube's `GetScaledValueFromIntOrPercent`: an int as is, "N%" of `total` rounded up
/// or down; a string that is not a number is an error.
pub fn scaled_value(v: &IntOrString, total: i32, round_up: bool) -> Result<i32, String> {
    match v {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => {
            let (digits, percent) = match s.strip_suffix('%') {
                Some(d) => (d, true),
                None => (s.as_str(), false),
            };
            let n: i64 = digits
                .parse()
                .map_err(|_| format!("invalid value for IntOrString: {s:?}"))?;
            if !percent {
                return Ok(n as i32);
            }
            let scaled = n * i64::from(total);
            Ok(if round_up {
                scaled.div_euclid(100) + i64::from(scaled.rem_euclid(100) != 0)
            } else {
                scaled.div_euclid(100)
            } as i32)
        }
    }
}

/// kube's `ResolveFenceposts`: maxSurge rounded up, maxUnavailable rounded down, and
/// never both zero (maxUnavailable becomes 1).
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> (i32, i32) {
    let zero = IntOrString::Int(0);
    let surge = scaled_value(max_surge.unwrap_or(&zero), desired, true).unwrap_or(0);
    let unavailable = scaled_value(max_unavailable.unwrap_or(&zero), desired, false).unwrap_or(0);
    if surge == 0 && unavailable == 0 {
        return (0, 1);
    }
    (surge, unavailable)
}

fn fenceposts(d: &Deployment) -> (i32, i32) {
    let ru = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.clone())
        .unwrap_or_default();
    resolve_fenceposts(
        ru.max_surge.as_ref(),
        ru.max_unavailable.as_ref(),
        replicas(d),
    )
}

/// kube's `MaxSurge`: 0 unless RollingUpdate.
pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling_update(d) {
        return 0;
    }
    fenceposts(d).0
}

/// kube's `MaxUnavailable`: 0 unless RollingUpdate with replicas; at most `replicas`.
pub fn max_unavailable(d: &Deployment) -> i32 {
    let want = replicas(d);
    if !is_rolling_update(d) || want == 0 {
        return 0;
    }
    fenceposts(d).1.min(want)
}

/// The pod-template hash: FNV-32a over the template (with `collision_count` appended
/// as four little-endian bytes when set), then kube's `rand.SafeEncodeString` of the
/// decimal sum — names look like Kubernetes' (`web-7b9c6d8f5`). kube hashes go-spew's
/// dump of the Go struct; this hashes the template's canonical JSON (sorted keys, no
/// empty fields), so values differ from kube's for the same template.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut h: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    };
    feed(&serde_json::to_vec(template).unwrap_or_default());
    if let Some(c) = collision_count {
        feed(&(c as u32).to_le_bytes());
    }
    safe_encode(&h.to_string())
}

/// kube's `rand.SafeEncodeString`: each byte mapped onto consonants and digits that
/// cannot spell words.
pub fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

fn without_hash(t: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = t.clone();
    if let Some(m) = t.metadata.as_mut()
        && let Some(l) = m.labels.as_mut()
    {
        l.remove(POD_TEMPLATE_HASH);
        if l.is_empty() {
            m.labels = None;
        }
    }
    t
}

/// kube's `EqualIgnoreHash`: the templates are equal but for the hash label.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    without_hash(a) == without_hash(b)
}

pub fn rs_template(rs: &ReplicaSet) -> PodTemplateSpec {
    rs.spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default()
}

fn annotation<'a>(meta: &'a clipper_proto::api::meta::v1::ObjectMeta, k: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(k).map(String::as_str)
}

/// A ReplicaSet's revision (0 if unset or malformed).
pub fn revision(rs: &ReplicaSet) -> i64 {
    annotation(&rs.metadata, REVISION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub fn max_revision(rss: &[ReplicaSet]) -> i64 {
    rss.iter().map(revision).max().unwrap_or(0)
}

fn created(rs: &ReplicaSet) -> i64 {
    rs.metadata.creation_timestamp.map(|t| t.0).unwrap_or(0)
}

/// kube's `ReplicaSetsByCreationTimestamp`: oldest first, then by name.
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    created(a)
        .cmp(&created(b))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// kube's `ReplicaSetsBySizeNewer`: larger first; equal sizes newer first.
pub fn by_size_newer(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    rs_replicas(b)
        .cmp(&rs_replicas(a))
        .then_with(|| by_creation(b, a))
}

/// kube's `ReplicaSetsBySizeOlder`: larger first; equal sizes older first.
pub fn by_size_older(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    rs_replicas(b)
        .cmp(&rs_replicas(a))
        .then_with(|| by_creation(a, b))
}

/// kube's `FindNewReplicaSet`: the oldest ReplicaSet whose template is the
/// Deployment's (several can exist after a hash collision).
pub fn find_new(d: &Deployment, rss: &[ReplicaSet]) -> Option<usize> {
    let template = spec(d).template;
    let mut idx: Vec<usize> = (0..rss.len()).collect();
    idx.sort_by(|&a, &b| by_creation(&rss[a], &rss[b]));
    idx.into_iter()
        .find(|&i| equal_ignore_hash(&rs_template(&rss[i]), &template))
}

/// kube's `NewRSNewReplicas`: how large the new ReplicaSet may be now.
pub fn new_rs_new_replicas(d: &Deployment, all: &[ReplicaSet], new_rs: &ReplicaSet) -> i32 {
    let want = replicas(d);
    if !is_rolling_update(d) {
        return want;
    }
    let current: i32 = all.iter().map(rs_replicas).sum();
    let max_total = want + max_surge(d);
    let new_replicas = rs_replicas(new_rs);
    if current >= max_total {
        return new_replicas;
    }
    let up = (max_total - current).min(want - new_replicas);
    new_replicas + up
}

/// kube's `IsSaturated`: the new ReplicaSet is the whole Deployment and available.
pub fn is_saturated(d: &Deployment, rs: &ReplicaSet) -> bool {
    let want = replicas(d);
    let desired: Option<i32> =
        annotation(&rs.metadata, DESIRED_REPLICAS).and_then(|v| v.parse().ok());
    rs_replicas(rs) == want && desired == Some(want) && rs_available(rs) == want
}

/// kube's `getReplicaSetFraction`.
fn fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    let want = replicas(d);
    if want == 0 {
        return -rs_replicas(rs);
    }
    let max_now = want + max_surge(d);
    let mut before: i32 = annotation(&rs.metadata, MAX_REPLICAS)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if before == 0 {
        before = d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        if before == 0 {
            return 0;
        }
    }
    let size = f64::from(rs_replicas(rs)) * f64::from(max_now) / f64::from(before);
    size.round() as i32 - rs_replicas(rs)
}

/// kube's `GetReplicaSetProportion`.
pub fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let f = fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 {
        f.min(allowed)
    } else {
        f.max(allowed)
    }
}

/// The sizes kube's `scale` gives the active ReplicaSets of a rolling Deployment
/// being resized mid-rollout: `to_add` (the room left under replicas + maxSurge, or
/// what is over it) is spread in proportion to each ReplicaSet's size, leftovers going
/// to the largest (sorted newer-first when growing, older-first when shrinking).
/// Returns `(index into active, new size)` in that order.
pub fn proportional_sizes(d: &Deployment, active: &[ReplicaSet]) -> Vec<(usize, i32)> {
    let total: i32 = active.iter().map(rs_replicas).sum();
    let want = replicas(d);
    let allowed = if want > 0 { want + max_surge(d) } else { 0 };
    let to_add = allowed - total;
    let mut order: Vec<usize> = (0..active.len()).collect();
    match to_add.cmp(&0) {
        Ordering::Greater => order.sort_by(|&a, &b| by_size_newer(&active[a], &active[b])),
        Ordering::Less => order.sort_by(|&a, &b| by_size_older(&active[a], &active[b])),
        Ordering::Equal => {}
    }
    let mut added = 0;
    let mut sizes: Vec<(usize, i32)> = order
        .iter()
        .map(|&i| {
            let rs = &active[i];
            if to_add != 0 {
                let p = proportion(rs, d, to_add, added);
                added += p;
                (i, rs_replicas(rs) + p)
            } else {
                (i, rs_replicas(rs))
            }
        })
        .collect();
    if let Some(first) = sizes.first_mut()
        && to_add != 0
    {
        first.1 = (first.1 + to_add - added).max(0);
    }
    for s in &mut sizes {
        s.1 = s.1.max(0);
    }
    sizes
}

/// kube's `cleanupUnhealthyReplicas` arithmetic: old ReplicaSets (oldest first) lose
/// their unavailable replicas, up to `max_cleanup` in all. Returns `(index, new size)`
/// for those that shrink.
pub fn cleanup_unhealthy(old: &[ReplicaSet], max_cleanup: i32) -> Vec<(usize, i32)> {
    let mut order: Vec<usize> = (0..old.len()).collect();
    order.sort_by(|&a, &b| by_creation(&old[a], &old[b]));
    let mut total = 0;
    let mut out = Vec::new();
    for i in order {
        if total >= max_cleanup {
            break;
        }
        let rs = &old[i];
        let (n, available) = (rs_replicas(rs), rs_available(rs));
        if n == 0 || n == available {
            continue;
        }
        let down = (max_cleanup - total).min(n - available);
        out.push((i, n - down));
        total += down;
    }
    out
}

/// kube's `scaleDownOldReplicaSetsForRollingUpdate` arithmetic: with `available` pods
/// across every ReplicaSet, old ones (oldest first) shrink by as much as keeps
/// replicas − maxUnavailable available. Returns `(index, new size)`.
pub fn scale_down_old(d: &Deployment, old: &[ReplicaSet], available: i32) -> Vec<(usize, i32)> {
    let min_available = replicas(d) - max_unavailable(d);
    if available <= min_available {
        return Vec::new();
    }
    let target = available - min_available;
    let mut order: Vec<usize> = (0..old.len()).collect();
    order.sort_by(|&a, &b| by_creation(&old[a], &old[b]));
    let mut total = 0;
    let mut out = Vec::new();
    for i in order {
        if total >= target {
            break;
        }
        let n = rs_replicas(&old[i]);
        if n == 0 {
            continue;
        }
        let down = n.min(target - total);
        out.push((i, n - down));
        total += down;
    }
    out
}

/// kube's `reconcileOldReplicaSets` bound: how many old replicas may go now without
/// dropping below replicas − maxUnavailable, counting the new ReplicaSet's unavailable
/// pods against the budget.
pub fn max_scaled_down(d: &Deployment, all: &[ReplicaSet], new_rs: &ReplicaSet) -> i32 {
    let all_pods: i32 = all.iter().map(rs_replicas).sum();
    let min_available = replicas(d) - max_unavailable(d);
    let new_unavailable = rs_replicas(new_rs) - rs_available(new_rs);
    all_pods - min_available - new_unavailable
}

/// Whether the replica-count annotations need writing (kube's
/// `ReplicasAnnotationsNeedUpdate`).
pub fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    annotation(&rs.metadata, DESIRED_REPLICAS) != Some(desired.to_string().as_str())
        || annotation(&rs.metadata, MAX_REPLICAS) != Some(max.to_string().as_str())
}

pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let a = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (k, v) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        let v = v.to_string();
        if a.get(k) != Some(&v) {
            a.insert(k.to_string(), v);
            changed = true;
        }
    }
    changed
}

fn skip_copy(k: &str) -> bool {
    matches!(
        k,
        LAST_APPLIED | REVISION | REVISION_HISTORY | DESIRED_REPLICAS | MAX_REPLICAS | ROLLBACK_TO
    )
}

/// kube's `SetNewReplicaSetAnnotations`: the Deployment's annotations copied (but
/// kubectl's and the controller's own), the revision raised to `new_revision` (the old
/// one appended to revision-history), and for a new ReplicaSet the replica counts.
pub fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = false;
    let a = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if skip_copy(k) || a.get(k) == Some(v) {
            continue;
        }
        a.insert(k.clone(), v.clone());
        changed = true;
    }
    let old = a.get(REVISION).cloned().unwrap_or_default();
    let old_n: i64 = if old.is_empty() {
        0
    } else {
        match old.parse() {
            Ok(n) => n,
            Err(_) => return false,
        }
    };
    if old_n < new_revision {
        a.insert(REVISION.into(), new_revision.to_string());
        changed = true;
        if !old.is_empty() {
            let history = match a.get(REVISION_HISTORY) {
                Some(h) if !h.is_empty() => format!("{h},{old}"),
                _ => old.clone(),
            };
            a.insert(REVISION_HISTORY.into(), history);
        }
    }
    if !exists {
        let want = replicas(d);
        changed |= set_replicas_annotations(rs, want, want + max_surge(d));
    }
    changed
}

pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: i64,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(clipper_proto::Time(now)),
        last_transition_time: Some(clipper_proto::Time(now)),
    }
}

pub fn get_condition<'a>(s: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    s.conditions.as_deref()?.iter().find(|c| c.type_ == type_)
}

/// kube's `SetDeploymentCondition`: nothing if the status and reason are the same; the
/// transition time kept if only the reason changes; the condition goes last.
pub fn set_condition(s: &mut DeploymentStatus, mut c: DeploymentCondition) {
    if let Some(cur) = get_condition(s, &c.type_) {
        if cur.status == c.status && cur.reason == c.reason {
            return;
        }
        if cur.status == c.status {
            c.last_transition_time = cur.last_transition_time;
        }
    }
    let conds = s.conditions.get_or_insert_with(Vec::new);
    conds.retain(|x| x.type_ != c.type_);
    conds.push(c);
}

pub fn remove_condition(s: &mut DeploymentStatus, type_: &str) {
    if let Some(c) = s.conditions.as_mut() {
        c.retain(|x| x.type_ != type_);
        if c.is_empty() {
            s.conditions = None;
        }
    }
}

pub fn progress_deadline(d: &Deployment) -> Option<i32> {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .filter(|&p| p != i32::MAX)
}

/// kube's `calculateStatus`: counts over every ReplicaSet, updatedReplicas from the new
/// one, and the Available condition (replicas − maxUnavailable available).
pub fn calculate_status(
    all: &[ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    d: &Deployment,
    now: i64,
) -> DeploymentStatus {
    let available: i32 = all.iter().map(rs_available).sum();
    let total: i32 = all.iter().map(rs_replicas).sum();
    let old = d.status.clone().unwrap_or_default();
    let mut s = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(all.iter().map(rs_status_replicas).sum()),
        updated_replicas: Some(new_rs.map(rs_status_replicas).unwrap_or(0)),
        ready_replicas: Some(all.iter().map(rs_ready).sum()),
        available_replicas: Some(available),
        unavailable_replicas: Some((total - available).max(0)),
        collision_count: old.collision_count,
        conditions: old.conditions.clone(),
        terminating_replicas: None,
    };
    if available >= replicas(d) - max_unavailable(d) {
        set_condition(
            &mut s,
            new_condition(
                "Available",
                "True",
                MIN_AVAILABLE,
                "Deployment has minimum availability.".into(),
                now,
            ),
        );
    } else {
        set_condition(
            &mut s,
            new_condition(
                "Available",
                "False",
                MIN_UNAVAILABLE,
                "Deployment does not have minimum availability.".into(),
                now,
            ),
        );
    }
    s
}

fn count(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

/// kube's `DeploymentComplete`.
pub fn complete(d: &Deployment, s: &DeploymentStatus) -> bool {
    let want = replicas(d);
    count(s.updated_replicas) == want
        && count(s.replicas) == want
        && count(s.available_replicas) == want
        && s.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// kube's `DeploymentProgressing`: more updated, fewer old, more ready or available.
pub fn progressing(d: &Deployment, s: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let old_old = count(old.replicas) - count(old.updated_replicas);
    let new_old = count(s.replicas) - count(s.updated_replicas);
    count(s.updated_replicas) > count(old.updated_replicas)
        || new_old < old_old
        || count(s.ready_replicas) > count(old.ready_replicas)
        || count(s.available_replicas) > count(old.available_replicas)
}

/// kube's `DeploymentTimedOut`: the Progressing condition not updated for
/// progressDeadlineSeconds.
pub fn timed_out(d: &Deployment, s: &DeploymentStatus, now: i64) -> bool {
    let Some(deadline) = progress_deadline(d) else {
        return false;
    };
    let Some(c) = get_condition(s, "Progressing") else {
        return false;
    };
    match c.reason.as_deref() {
        Some(NEW_RS_AVAILABLE) => false,
        Some(TIMED_OUT) => true,
        _ => {
            let from = c.last_update_time.map(|t| t.0).unwrap_or(0);
            from + i64::from(deadline) < now
        }
    }
}

/// The Progressing condition of kube's `syncRolloutStatus`, applied to `new_status`.
pub fn rollout_conditions(
    d: &Deployment,
    new_status: &mut DeploymentStatus,
    new_rs: Option<&str>,
    now: i64,
) {
    if progress_deadline(d).is_none() {
        remove_condition(new_status, "Progressing");
        return;
    }
    let current = d
        .status
        .as_ref()
        .and_then(|s| get_condition(s, "Progressing"))
        .cloned();
    let is_complete = count(new_status.replicas) == count(new_status.updated_replicas)
        && current.as_ref().and_then(|c| c.reason.as_deref()) == Some(NEW_RS_AVAILABLE);
    if is_complete {
        return;
    }
    let name = d.metadata.name.as_deref().unwrap_or("");
    if complete(d, new_status) {
        let msg = match new_rs {
            Some(rs) => format!("ReplicaSet {rs:?} has successfully progressed."),
            None => format!("Deployment {name:?} has successfully progressed."),
        };
        set_condition(
            new_status,
            new_condition("Progressing", "True", NEW_RS_AVAILABLE, msg, now),
        );
    } else if progressing(d, new_status) {
        let msg = match new_rs {
            Some(rs) => format!("ReplicaSet {rs:?} is progressing."),
            None => format!("Deployment {name:?} is progressing."),
        };
        let mut c = new_condition("Progressing", "True", RS_UPDATED, msg, now);
        if let Some(cur) = &current {
            if cur.status == "True" {
                c.last_transition_time = cur.last_transition_time;
            }
            remove_condition(new_status, "Progressing");
        }
        set_condition(new_status, c);
    } else if timed_out(d, new_status, now) {
        let msg = match new_rs {
            Some(rs) => format!("ReplicaSet {rs:?} has timed out progressing."),
            None => format!("Deployment {name:?} has timed out progressing."),
        };
        set_condition(
            new_status,
            new_condition("Progressing", "False", TIMED_OUT, msg, now),
        );
    }
}

/// When a Deployment whose status did not change must be looked at again for its
/// progress deadline (kube's `requeueStuckDeployment`), in seconds from `now`.
pub fn stuck_requeue_after(d: &Deployment, s: &DeploymentStatus, now: i64) -> Option<i64> {
    let deadline = progress_deadline(d)?;
    let c = get_condition(s, "Progressing")?;
    if complete(d, s) || c.reason.as_deref() == Some(TIMED_OUT) {
        return None;
    }
    let from = c.last_update_time.map(|t| t.0).unwrap_or(0);
    Some((from + i64::from(deadline) - now).max(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clipper_proto::api::apps::v1::{
        DeploymentStrategy, ReplicaSetSpec, ReplicaSetStatus, RollingUpdateDeployment,
    };
    use clipper_proto::api::meta::v1::ObjectMeta;

    fn ios(s: &str) -> IntOrString {
        match s.parse() {
            Ok(i) => IntOrString::Int(i),
            Err(_) => IntOrString::String(s.into()),
        }
    }

    #[test]
    fn fenceposts_round_as_kube() {
        #[track_caller]
        fn check(surge: &str, unavailable: &str, desired: i32, expect: (i32, i32)) {
            assert_eq!(
                resolve_fenceposts(Some(&ios(surge)), Some(&ios(unavailable)), desired),
                expect
            );
        }
        check("25%", "25%", 3, (1, 0));
        check("25%", "25%", 4, (1, 1));
        check("25%", "25%", 10, (3, 2));
        check("0", "0", 5, (0, 1));
        check("0%", "0%", 5, (0, 1));
        check("1", "0", 5, (1, 0));
        check("50%", "30%", 1, (1, 0));
        check("100%", "100%", 7, (7, 7));
    }

    fn deployment(replicas: i32, surge: &str, unavailable: &str) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                name: Some("web".into()),
                generation: Some(1),
                ..Default::default()
            },
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                strategy: Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(ios(surge)),
                        max_unavailable: Some(ios(unavailable)),
                    }),
                }),
                progress_deadline_seconds: Some(600),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn rs(name: &str, created: i64, replicas: i32, available: i32) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.into()),
                creation_timestamp: Some(clipper_proto::Time(created)),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                ..Default::default()
            }),
            status: Some(ReplicaSetStatus {
                replicas,
                available_replicas: Some(available),
                ready_replicas: Some(available),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn max_unavailable_is_capped_and_zero_for_recreate() {
        let d = deployment(2, "0", "300%");
        assert_eq!(max_unavailable(&d), 2);
        let mut d = deployment(4, "25%", "25%");
        assert_eq!((max_surge(&d), max_unavailable(&d)), (1, 1));
        d.spec.as_mut().unwrap().strategy = Some(DeploymentStrategy {
            type_: Some("Recreate".into()),
            rolling_update: None,
        });
        assert_eq!((max_surge(&d), max_unavailable(&d)), (0, 0));
    }

    #[test]
    fn new_replica_set_growth() {
        #[track_caller]
        fn check(d: Deployment, old: i32, new: i32, expect: i32) {
            let all = [rs("old", 1, old, old), rs("new", 2, new, 0)];
            assert_eq!(new_rs_new_replicas(&d, &all, &all[1]), expect);
        }
        // 3 replicas, surge 1: one new pod while the 3 old remain.
        check(deployment(3, "25%", "25%"), 3, 0, 1);
        // Already at replicas + surge: no growth.
        check(deployment(3, "25%", "25%"), 3, 1, 1);
        // Old ones scaled down: grow up to the room left.
        check(deployment(3, "25%", "25%"), 1, 1, 3);
        // Never past replicas.
        check(deployment(3, "100%", "0"), 0, 2, 3);
    }

    #[test]
    fn old_replica_sets_scale_down_within_availability() {
        let d = deployment(3, "25%", "25%");
        // Surge 1, unavailable 0: 3 old available + 1 new not yet available.
        let old = [rs("old", 1, 3, 3)];
        let new = rs("new", 2, 1, 0);
        let all = [old[0].clone(), new.clone()];
        assert_eq!(max_scaled_down(&d, &all, &new), 0);
        // Once the new pod is available, one old pod can go.
        let new = rs("new", 2, 1, 1);
        let all = [old[0].clone(), new.clone()];
        assert_eq!(max_scaled_down(&d, &all, &new), 1);
        assert_eq!(scale_down_old(&d, &old, 4), vec![(0, 2)]);
        // Unhealthy old replicas go first, oldest ReplicaSet first.
        let old = [rs("b", 2, 2, 1), rs("a", 1, 2, 0)];
        assert_eq!(cleanup_unhealthy(&old, 3), vec![(1, 0), (0, 1)]);
        assert_eq!(cleanup_unhealthy(&old, 1), vec![(1, 1)]);
    }

    #[test]
    fn proportional_scaling_mid_rollout() {
        // kube's example: 10 replicas, surge 3, rollout halfway (old 8, new 5 = 13);
        // scaled to 15 (max 18): 5 more spread 8:5.
        let mut d = deployment(15, "3", "2");
        let mut old = rs("old", 1, 8, 8);
        let mut new = rs("new", 2, 5, 0);
        set_replicas_annotations(&mut old, 10, 13);
        set_replicas_annotations(&mut new, 10, 13);
        let sizes = proportional_sizes(&d, &[old.clone(), new.clone()]);
        // 8*18/13 = 11.08 → 11 (+3); 5*18/13 = 6.9 → 7 (+2).
        assert_eq!(sizes, vec![(0, 11), (1, 7)]);
        // Scaled to 0: everything goes.
        d.spec.as_mut().unwrap().replicas = Some(0);
        let sizes = proportional_sizes(&d, &[old, new]);
        assert_eq!(sizes, vec![(0, 0), (1, 0)]);
    }

    #[test]
    fn hash_is_stable_and_safe() {
        let t = PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some([("app".to_string(), "web".to_string())].into()),
                ..Default::default()
            }),
            spec: None,
        };
        let h = compute_hash(&t, None);
        assert_eq!(h, compute_hash(&t.clone(), None));
        assert_ne!(h, compute_hash(&t, Some(1)));
        assert!(h.len() <= 10 && h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
        // kube's SafeEncodeString on a decimal sum.
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
        let mut labelled = t.clone();
        labelled
            .metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert(POD_TEMPLATE_HASH.into(), h);
        assert!(equal_ignore_hash(&t, &labelled));
    }

    #[test]
    fn annotations_and_revisions() {
        let mut d = deployment(3, "25%", "25%");
        d.metadata.annotations = Some(
            [
                (
                    "kubernetes.io/change-cause".to_string(),
                    "set image".to_string(),
                ),
                (REVISION.to_string(), "9".to_string()),
            ]
            .into(),
        );
        let mut r = rs("new", 1, 0, 0);
        assert!(set_new_rs_annotations(&d, &mut r, 1, false));
        let a = r.metadata.annotations.clone().unwrap();
        assert_eq!(a["kubernetes.io/change-cause"], "set image");
        assert_eq!(a[REVISION], "1");
        assert_eq!(
            (a[DESIRED_REPLICAS].as_str(), a[MAX_REPLICAS].as_str()),
            ("3", "4")
        );
        assert!(!set_new_rs_annotations(&d, &mut r, 1, true));
        // Rolled back to: a new revision, the old one in the history.
        assert!(set_new_rs_annotations(&d, &mut r, 3, true));
        let a = r.metadata.annotations.clone().unwrap();
        assert_eq!(
            (a[REVISION].as_str(), a[REVISION_HISTORY].as_str()),
            ("3", "1")
        );
    }

    #[test]
    fn status_and_conditions() {
        let now = 1_000;
        let mut d = deployment(3, "25%", "25%");
        let new = rs("web-abc", 2, 3, 3);
        let old = rs("web-old", 1, 0, 0);
        let all = [old, new.clone()];
        let mut s = calculate_status(&all, Some(&new), &d, now);
        assert_eq!(
            (
                s.replicas,
                s.updated_replicas,
                s.available_replicas,
                s.unavailable_replicas
            ),
            (Some(3), Some(3), Some(3), Some(0))
        );
        assert_eq!(
            get_condition(&s, "Available").unwrap().reason.as_deref(),
            Some(MIN_AVAILABLE)
        );
        rollout_conditions(&d, &mut s, Some("web-abc"), now);
        let p = get_condition(&s, "Progressing").unwrap();
        assert_eq!(p.reason.as_deref(), Some(NEW_RS_AVAILABLE));
        assert_eq!(
            p.message.as_deref(),
            Some("ReplicaSet \"web-abc\" has successfully progressed.")
        );
        assert!(complete(&d, &s));

        // Stuck: no progress since the condition's last update, past the deadline.
        let stuck = rs("web-abc", 2, 3, 0);
        let mut status = calculate_status(std::slice::from_ref(&stuck), Some(&stuck), &d, now);
        set_condition(
            &mut status,
            new_condition("Progressing", "True", RS_UPDATED, "x".into(), now - 601),
        );
        assert_eq!(
            get_condition(&status, "Available")
                .unwrap()
                .reason
                .as_deref(),
            Some(MIN_UNAVAILABLE)
        );
        d.status = Some(status.clone());
        assert_eq!(stuck_requeue_after(&d, &status, now - 10), Some(9));
        let mut s = status.clone();
        rollout_conditions(&d, &mut s, Some("web-abc"), now);
        assert_eq!(
            get_condition(&s, "Progressing").unwrap().reason.as_deref(),
            Some(TIMED_OUT)
        );
        assert_eq!(get_condition(&s, "Progressing").unwrap().status, "False");
    }
}
