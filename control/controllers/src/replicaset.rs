//! The ReplicaSet controller, as kube-controller-manager's (pkg/controller/replicaset):
//! keeps `spec.replicas` active pods matching the selector, owned through a controller
//! reference, and reports them in the status.
//!
//! Informers over ReplicaSets and Pods enqueue `namespace/name` keys of the ReplicaSets
//! a change concerns; [`WORKERS`] workers sync one key at a time: claim the active pods
//! (adopt matching orphans, release owned pods that stopped matching, with kube's
//! strategic merge patches), then — when the expectations from the last sync are met —
//! create the missing pods from the template in slow-start batches (1, 2, 4, ...) or
//! delete the surplus (kube's ranking: the least established first), and write the
//! status through the status subresource. Failures come back with backoff.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use clipper_client::informer::Change;
use clipper_client::{ClientError, QuicClient};
use clipper_proto::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use clipper_proto::api::core::v1::Pod;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::controller::{
    self, Claim, Expectations, Informed, controller_of, is_pod_active, is_pod_available,
    is_pod_ready, key,
};
use crate::workqueue::WorkQueue;

/// Concurrent syncs (kube-controller-manager's `--concurrent-replicaset-syncs` default).
pub const WORKERS: usize = 5;
/// Most pods created or deleted in one sync (kube's `BurstReplicas`): a huge scale-up
/// is spread over several syncs instead of flooding the server.
pub const BURST_REPLICAS: usize = 500;
/// The first creation batch; each next one doubles (kube's `SlowStartInitialBatchSize`):
/// a template that cannot be created fails once, not `replicas` times.
pub const SLOW_START_INITIAL_BATCH: usize = 1;
/// The annotation whose value orders deletions (kube's PodDeletionCost).
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// The controller's identity (kube's service account for it).
pub const USER: &str = "system:serviceaccount:kube-system:replicaset-controller";
pub const SERVICE_ACCOUNT: &str = "replicaset-controller";

/// Its ClusterRole and binding (kube's `system:controller:replicaset-controller`).
pub fn rbac_objects() -> [(&'static str, Value); 2] {
    controller::controller_rbac(
        SERVICE_ACCOUNT,
        json!([
            {"apiGroups": ["apps", "extensions"], "resources": ["replicasets"], "verbs": ["get", "list", "update", "watch"]},
            {"apiGroups": ["apps", "extensions"], "resources": ["replicasets/status"], "verbs": ["update"]},
            {"apiGroups": ["apps", "extensions"], "resources": ["replicasets/finalizers"], "verbs": ["update"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete", "list", "patch", "watch"]},
            controller::events_rule(),
        ]),
    )
}

// ---------------------------------------------------------------------------------------
// The pure parts.

/// The sizes of kube's slow-start batches for `count` operations: 1, 2, 4, ... (from
/// `initial`), the last one what is left.
pub fn slow_start_batches(count: usize, initial: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut left = count;
    let mut size = initial.max(1).min(left);
    while size > 0 {
        out.push(size);
        left -= size;
        size = (2 * size).min(left);
    }
    out
}

/// A pod with what kube's `ActivePodsWithRanks` orders it by.
pub struct Ranked<'a> {
    pub pod: &'a Pod,
    /// Related pods on the same node (more: deleted sooner).
    pub rank: usize,
}

fn phase_ordinal(p: &Pod) -> u8 {
    match p.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Pending") | None => 0,
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 3,
    }
}

fn node_name(p: &Pod) -> &str {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
}

fn deletion_cost(p: &Pod) -> i32 {
    p.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(POD_DELETION_COST))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The highest restart count among regular containers, and among sidecars (init
/// containers with restartPolicy Always).
fn max_restarts(p: &Pod) -> (i32, i32) {
    let Some(status) = p.status.as_ref() else {
        return (0, 0);
    };
    let regular = status
        .container_statuses
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0);
    let sidecars: Vec<&str> = p
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or(&[])
        .iter()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .map(|c| c.name.as_str())
        .collect();
    let sidecar = status
        .init_container_statuses
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .filter(|c| sidecars.contains(&c.name.as_str()))
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0);
    (regular, sidecar)
}

/// kube's `afterOrZero`: a zero time first, then the later one.
fn after_or_zero(t1: i64, t2: i64) -> bool {
    if t1 == 0 || t2 == 0 {
        return t1 == 0;
    }
    t1 > t2
}

/// kube's `logarithmicRankDiff`: the difference of ⌊log2(age in ns)⌋.
fn log_rank_diff(t1: i64, t2: i64, now: i64) -> i64 {
    let rank = |t: i64| {
        let d = (now - t).saturating_mul(1_000_000_000);
        if d > 0 { (d as f64).log2() as i64 } else { -1 }
    };
    rank(t1) - rank(t2)
}

/// Whether `a` goes before `b` for deletion (kube's `ActivePodsWithRanks.Less` with
/// LogarithmicScaleDown and PodDeletionCost, both on by default): unscheduled before
/// scheduled; Pending < Unknown < Running; not ready before ready; lower deletion cost;
/// more related pods on the node; ready for less time (log-scale buckets); more
/// restarts; newer (log-scale buckets); uid as the last tie-break.
pub fn deleted_before(a: &Ranked<'_>, b: &Ranked<'_>, now: i64) -> bool {
    let (pa, pb) = (a.pod, b.pod);
    let (na, nb) = (node_name(pa), node_name(pb));
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return na.is_empty();
    }
    let (oa, ob) = (phase_ordinal(pa), phase_ordinal(pb));
    if oa != ob {
        return oa < ob;
    }
    let (ra, rb) = (is_pod_ready(pa), is_pod_ready(pb));
    if ra != rb {
        return !ra;
    }
    let (ca, cb) = (deletion_cost(pa), deletion_cost(pb));
    if ca != cb {
        return ca < cb;
    }
    if a.rank != b.rank {
        return a.rank > b.rank;
    }
    let uid_order = || pa.metadata.uid < pb.metadata.uid;
    if ra && rb {
        let (ta, tb) = (
            controller::pod_ready_since(pa),
            controller::pod_ready_since(pb),
        );
        if ta != tb {
            if now == 0 || ta == 0 || tb == 0 {
                return after_or_zero(ta, tb);
            }
            let diff = log_rank_diff(ta, tb, now);
            if diff == 0 {
                return uid_order();
            }
            return diff < 0;
        }
    }
    let ((ga, sa), (gb, sb)) = (max_restarts(pa), max_restarts(pb));
    if ga != gb {
        return ga > gb;
    }
    if sa != sb {
        return sa > sb;
    }
    let created = |p: &Pod| p.metadata.creation_timestamp.map(|t| t.0).unwrap_or(0);
    let (ta, tb) = (created(pa), created(pb));
    if ta != tb {
        if now == 0 || ta == 0 || tb == 0 {
            return after_or_zero(ta, tb);
        }
        let diff = log_rank_diff(ta, tb, now);
        if diff == 0 {
            return uid_order();
        }
        return diff < 0;
    }
    false
}

/// The `count` pods to delete first (kube's `getPodsToDelete`): `related` are the pods
/// of every ReplicaSet under the same controller, which rank pods on crowded nodes.
pub fn pods_to_delete<'a>(
    pods: &'a [Arc<Pod>],
    related: &[Arc<Pod>],
    count: usize,
    now: i64,
) -> Vec<&'a Pod> {
    let mut on_node: HashMap<&str, usize> = HashMap::new();
    for p in related {
        *on_node.entry(node_name(p)).or_default() += 1;
    }
    let mut ranked: Vec<Ranked<'a>> = pods
        .iter()
        .map(|p| Ranked {
            pod: p,
            rank: on_node.get(node_name(p)).copied().unwrap_or(0),
        })
        .collect();
    if count < ranked.len() {
        ranked.sort_by(|a, b| {
            if deleted_before(a, b, now) {
                Ordering::Less
            } else if deleted_before(b, a, now) {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        });
    }
    ranked.into_iter().take(count).map(|r| r.pod).collect()
}

/// The status for `pods` (the claimed active pods) at `now`, as kube's
/// `calculateStatus`: replicas, fullyLabeledReplicas (pods carrying every template
/// label), readyReplicas, availableReplicas (ready for minReadySeconds), and the
/// ReplicaFailure condition while creating or deleting fails.
pub fn calculate_status(
    rs: &ReplicaSet,
    pods: &[Arc<Pod>],
    manage_error: Option<(&str, String)>,
    now: i64,
) -> ReplicaSetStatus {
    let mut status = rs.status.clone().unwrap_or_default();
    let spec = rs.spec.clone().unwrap_or_default();
    let template_labels = spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let (mut labeled, mut ready, mut available) = (0, 0, 0);
    for p in pods {
        let labels = p.metadata.labels.as_ref();
        if template_labels
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        {
            labeled += 1;
        }
        if is_pod_ready(p) {
            ready += 1;
            if is_pod_available(p, min_ready, now) {
                available += 1;
            }
        }
    }
    let mut conditions = status.conditions.take().unwrap_or_default();
    let has_failure = conditions.iter().any(|c| c.type_ == "ReplicaFailure");
    match manage_error {
        Some((reason, message)) if !has_failure => conditions.push(ReplicaSetCondition {
            type_: "ReplicaFailure".into(),
            status: "True".into(),
            reason: Some(reason.into()),
            message: Some(message),
            last_transition_time: Some(clipper_proto::Time(now)),
        }),
        None if has_failure => conditions.retain(|c| c.type_ != "ReplicaFailure"),
        _ => {}
    }
    status.conditions = (!conditions.is_empty()).then_some(conditions);
    status.replicas = pods.len() as i32;
    status.fully_labeled_replicas = Some(labeled);
    status.ready_replicas = Some(ready);
    status.available_replicas = Some(available);
    status
}

/// The pod kube's `GetPodFromTemplate` makes for `rs`: the template's labels,
/// annotations, finalizers and spec, named `<rs>-<random>` by the server, controlled by
/// the ReplicaSet.
pub fn pod_from_template(rs: &ReplicaSet) -> Value {
    let template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default();
    let tm = template.metadata.unwrap_or_default();
    let name = rs.metadata.name.as_deref().unwrap_or("");
    let owner = controller::controller_ref("apps/v1", "ReplicaSet", &rs.metadata);
    let mut meta = json!({
        "generateName": format!("{name}-"),
        "namespace": rs.metadata.namespace,
        "ownerReferences": [owner],
    });
    if let Some(l) = tm.labels {
        meta["labels"] = json!(l);
    }
    if let Some(a) = tm.annotations {
        meta["annotations"] = json!(a);
    }
    if let Some(f) = tm.finalizers {
        meta["finalizers"] = json!(f);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": template.spec,
    })
}

/// Whether the status needs writing (kube compares the counts, conditions and
/// observedGeneration).
fn status_changed(rs: &ReplicaSet, new: &ReplicaSetStatus) -> bool {
    let old = rs.status.clone().unwrap_or_default();
    old.replicas != new.replicas
        || old.fully_labeled_replicas.unwrap_or(0) != new.fully_labeled_replicas.unwrap_or(0)
        || old.ready_replicas.unwrap_or(0) != new.ready_replicas.unwrap_or(0)
        || old.available_replicas.unwrap_or(0) != new.available_replicas.unwrap_or(0)
        || old.conditions != new.conditions
        || old.observed_generation != rs.metadata.generation
}

// ---------------------------------------------------------------------------------------
// The controller.

struct Shared {
    client: Arc<QuicClient>,
    rss: Arc<Informed<ReplicaSet>>,
    pods: Arc<Informed<Pod>>,
    queue: WorkQueue<String>,
    expectations: Expectations,
}

/// The ReplicaSet controller; [`ReplicaSetController::run`] drives it.
pub struct ReplicaSetController {
    shared: Arc<Shared>,
}

fn rs_path(ns: &str, name: &str) -> String {
    format!("/apis/apps/v1/namespaces/{ns}/replicasets/{name}")
}

fn min_ready(rs: &ReplicaSet) -> i32 {
    rs.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

fn replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

impl ReplicaSetController {
    pub fn new(client: &Arc<QuicClient>) -> ReplicaSetController {
        ReplicaSetController {
            shared: Arc::new(Shared {
                client: client.clone(),
                rss: Arc::default(),
                pods: Arc::default(),
                queue: WorkQueue::default(),
                expectations: Expectations::default(),
            }),
        }
    }

    /// Runs until `stop` turns true; every error is logged and retried.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let s = self.shared;
        let mut tasks = Vec::new();
        let h = s.clone();
        tasks.push(tokio::spawn(controller::inform(
            s.client.clone(),
            "apps",
            "v1",
            "replicasets",
            s.rss.clone(),
            move |c| h.on_replicaset(c),
            stop.clone(),
        )));
        let h = s.clone();
        tasks.push(tokio::spawn(controller::inform(
            s.client.clone(),
            "",
            "v1",
            "pods",
            s.pods.clone(),
            move |c| h.on_pod(c),
            stop.clone(),
        )));
        let mut stopped = stop.clone();
        tokio::select! {
            _ = async { s.rss.wait_synced().await; s.pods.wait_synced().await } => {}
            _ = stopped.changed() => {}
        }
        tracing::info!("replicaset controller: caches synced; running");
        for _ in 0..WORKERS {
            tasks.push(tokio::spawn(s.clone().worker(stop.clone())));
        }
        let _ = stopped.wait_for(|s| *s).await;
        for t in tasks {
            t.abort();
        }
    }
}

impl Shared {
    fn enqueue(&self, rs: &ReplicaSet) {
        self.queue.add(key(&rs.metadata));
    }

    fn on_replicaset(&self, c: Change<ReplicaSet>) {
        match c {
            Change::Added(rs) | Change::Updated { new: rs, .. } | Change::Deleted(rs) => {
                self.enqueue(&rs)
            }
            Change::Synced(_) => {}
        }
    }

    /// The ReplicaSet a controller reference names, if the cache has it (same uid).
    fn resolve(
        &self,
        ns: &str,
        r: &clipper_proto::api::meta::v1::OwnerReference,
    ) -> Option<Arc<ReplicaSet>> {
        if r.kind != "ReplicaSet" || !r.api_version.starts_with("apps/") {
            return None;
        }
        let rs = self.rss.read().get(ns, &r.name)?;
        (rs.metadata.uid.as_deref() == Some(r.uid.as_str())).then_some(rs)
    }

    /// The ReplicaSets whose selector matches an orphan pod.
    fn matching(&self, pod: &Pod) -> Vec<Arc<ReplicaSet>> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        let labels = controller::labels(&pod.metadata);
        self.rss
            .list_namespace(ns)
            .into_iter()
            .filter(|rs| {
                rs.spec
                    .as_ref()
                    .is_some_and(|s| controller::selector(&s.selector).matches(&labels))
            })
            .collect()
    }

    fn on_pod(&self, c: Change<Pod>) {
        match c {
            Change::Added(pod) => self.pod_added(&pod),
            Change::Updated { old, new } => self.pod_updated(&old, &new),
            Change::Deleted(pod) => self.pod_deleted(&pod),
            Change::Synced(_) => {}
        }
    }

    fn pod_added(&self, pod: &Pod) {
        if pod.metadata.deletion_timestamp.is_some() {
            return self.pod_deleted(pod);
        }
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        if let Some(r) = controller_of(&pod.metadata) {
            if let Some(rs) = self.resolve(ns, r) {
                let k = key(&rs.metadata);
                self.expectations.creation_observed(&k);
                self.queue.add(k);
            }
            return;
        }
        for rs in self.matching(pod) {
            self.enqueue(&rs);
        }
    }

    fn pod_updated(&self, old: &Pod, new: &Pod) {
        if old.metadata.resource_version == new.metadata.resource_version {
            return;
        }
        let labels_changed = old.metadata.labels != new.metadata.labels;
        if new.metadata.deletion_timestamp.is_some() {
            self.pod_deleted(new);
            if labels_changed {
                self.pod_deleted(old);
            }
            return;
        }
        let ns = new.metadata.namespace.as_deref().unwrap_or("");
        let (old_ref, new_ref) = (controller_of(&old.metadata), controller_of(&new.metadata));
        let ref_changed = old_ref.map(|r| &r.uid) != new_ref.map(|r| &r.uid);
        if ref_changed && let Some(rs) = old_ref.and_then(|r| self.resolve(ns, r)) {
            self.enqueue(&rs);
        }
        if let Some(r) = new_ref {
            if let Some(rs) = self.resolve(ns, r) {
                self.enqueue(&rs);
                // Available minReadySeconds after it became ready: look again then.
                let mr = min_ready(&rs);
                if mr > 0 && !is_pod_ready(old) && is_pod_ready(new) {
                    self.queue
                        .add_after(key(&rs.metadata), Duration::from_secs(mr as u64 + 1));
                }
            }
            return;
        }
        if labels_changed || ref_changed {
            for rs in self.matching(new) {
                self.enqueue(&rs);
            }
        }
    }

    fn pod_deleted(&self, pod: &Pod) {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        if let Some(rs) = controller_of(&pod.metadata).and_then(|r| self.resolve(ns, r)) {
            let k = key(&rs.metadata);
            self.expectations.deletion_observed(&k, &key(&pod.metadata));
            self.queue.add(k);
        }
    }

    async fn worker(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            let k = tokio::select! {
                _ = stop.changed() => return,
                k = self.queue.get() => k,
            };
            match self.sync(&k).await {
                Ok(()) => self.queue.forget(&k),
                Err(e) => {
                    tracing::info!(replicaset = %k, error = %e, "replicaset controller: sync failed; will retry");
                    self.queue.retry(k.clone());
                }
            }
            self.queue.done(&k);
        }
    }

    async fn sync(&self, k: &str) -> Result<(), ClientError> {
        let Some(rs) = self.rss.get(k) else {
            self.expectations.forget(k);
            return Ok(());
        };
        let needs_sync = self.expectations.satisfied(k);
        let ns = rs.metadata.namespace.as_deref().unwrap_or("");
        let active: Vec<Arc<Pod>> = self
            .pods
            .list_namespace(ns)
            .into_iter()
            .filter(|p| is_pod_active(p))
            .collect();
        let pods = self.claim_pods(&rs, active).await?;
        let mut manage_error = None;
        if needs_sync && rs.metadata.deletion_timestamp.is_none() {
            manage_error = self.manage_replicas(&rs, &pods).await.err();
        }
        let now = clipper_proto::Time::now().0;
        let status = calculate_status(
            &rs,
            &pods,
            manage_error.as_ref().map(|(r, e)| (*r, e.to_string())),
            now,
        );
        let status = self.update_status(&rs, status).await?;
        let want = replicas(&rs);
        let mr = min_ready(&rs);
        if manage_error.is_none()
            && mr > 0
            && status.ready_replicas.unwrap_or(0) == want
            && status.available_replicas.unwrap_or(0) != want
        {
            self.queue
                .add_after(k.to_string(), Duration::from_secs(mr as u64));
        }
        match manage_error {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    /// kube's `ClaimPods`: the active pods this ReplicaSet owns once orphans that match
    /// are adopted and owned pods that no longer match are released.
    async fn claim_pods(
        &self,
        rs: &ReplicaSet,
        pods: Vec<Arc<Pod>>,
    ) -> Result<Vec<Arc<Pod>>, ClientError> {
        let sel = controller::selector(&rs.spec.clone().unwrap_or_default().selector);
        let uid = rs.metadata.uid.as_deref().unwrap_or("");
        let deleting = rs.metadata.deletion_timestamp.is_some();
        let mut owned = Vec::new();
        let mut rechecked = false;
        let mut first_error = None;
        for pod in pods {
            let matches = sel.matches(&controller::labels(&pod.metadata));
            let pod_uid = pod.metadata.uid.clone().unwrap_or_default();
            let path = format!(
                "/api/v1/namespaces/{}/pods/{}",
                pod.metadata.namespace.as_deref().unwrap_or(""),
                pod.metadata.name.as_deref().unwrap_or("")
            );
            match controller::claim(&pod.metadata, uid, deleting, matches) {
                Claim::Owned => owned.push(pod),
                Claim::Ignore => {}
                Claim::Adopt => {
                    // kube checks the owner afresh before its first adoption: a
                    // ReplicaSet being deleted must not adopt.
                    if !rechecked {
                        rechecked = true;
                        if !self.still_current(rs).await? {
                            return Ok(owned);
                        }
                    }
                    let owner = controller::controller_ref("apps/v1", "ReplicaSet", &rs.metadata);
                    let patch = controller::adopt_patch(&owner, &pod_uid);
                    match self
                        .client
                        .json(
                            "PATCH",
                            &path,
                            Some(controller::STRATEGIC_MERGE),
                            Some(&patch),
                        )
                        .await
                    {
                        Ok(_) => {
                            tracing::info!(replicaset = %key(&rs.metadata), pod = %key(&pod.metadata), "replicaset controller: adopted an orphan pod");
                            owned.push(pod);
                        }
                        Err(e)
                            if matches!(
                                controller::code(&e),
                                Some(404) | Some(409) | Some(422)
                            ) => {}
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    }
                }
                Claim::Release => {
                    let patch = controller::release_patch(uid, &pod_uid);
                    match self
                        .client
                        .json(
                            "PATCH",
                            &path,
                            Some(controller::STRATEGIC_MERGE),
                            Some(&patch),
                        )
                        .await
                    {
                        Ok(_) => {
                            tracing::info!(replicaset = %key(&rs.metadata), pod = %key(&pod.metadata), "replicaset controller: released a pod that no longer matches");
                        }
                        Err(e)
                            if matches!(
                                controller::code(&e),
                                Some(404) | Some(409) | Some(422)
                            ) => {}
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    }
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(owned),
        }
    }

    /// Whether the server's ReplicaSet is still this one and not being deleted.
    async fn still_current(&self, rs: &ReplicaSet) -> Result<bool, ClientError> {
        let path = rs_path(
            rs.metadata.namespace.as_deref().unwrap_or(""),
            rs.metadata.name.as_deref().unwrap_or(""),
        );
        match self.client.json("GET", &path, None, None).await {
            Ok(v) => Ok(v["metadata"]["uid"].as_str() == rs.metadata.uid.as_deref()
                && v["metadata"]["deletionTimestamp"].is_null()),
            Err(e) if controller::code(&e) == Some(404) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates or deletes pods towards `spec.replicas`; an error carries the
    /// ReplicaFailure reason.
    async fn manage_replicas(
        &self,
        rs: &ReplicaSet,
        pods: &[Arc<Pod>],
    ) -> Result<(), (&'static str, ClientError)> {
        let k = key(&rs.metadata);
        let want = replicas(rs).max(0) as usize;
        if pods.len() < want {
            let n = (want - pods.len()).min(BURST_REPLICAS);
            self.expectations.expect_creations(&k, n);
            let body = pod_from_template(rs);
            let ns = rs.metadata.namespace.clone().unwrap_or_default();
            let path = format!("/api/v1/namespaces/{ns}/pods");
            let mut created = 0;
            let mut failure = None;
            for batch in slow_start_batches(n, SLOW_START_INITIAL_BATCH) {
                let mut set = tokio::task::JoinSet::new();
                for _ in 0..batch {
                    let (client, path, body) = (self.client.clone(), path.clone(), body.clone());
                    set.spawn(async move { client.json("POST", &path, None, Some(&body)).await });
                }
                let mut ok = 0;
                while let Some(r) = set.join_next().await {
                    match r {
                        Ok(Ok(_)) => ok += 1,
                        Ok(Err(e)) => {
                            failure.get_or_insert(e);
                        }
                        Err(e) => {
                            failure.get_or_insert(ClientError::Protocol(e.to_string()));
                        }
                    }
                }
                created += ok;
                if ok < batch {
                    // The failed ones, and the batches not tried, will never be seen.
                    break;
                }
            }
            for _ in created..n {
                self.expectations.creation_observed(&k);
            }
            if created > 0 {
                tracing::info!(replicaset = %k, created, "replicaset controller: created pods");
            }
            return match failure {
                Some(e) => Err(("FailedCreate", e)),
                None => Ok(()),
            };
        }
        if pods.len() > want {
            let n = (pods.len() - want).min(BURST_REPLICAS);
            let related = self.related_pods(rs);
            let now = clipper_proto::Time::now().0;
            let victims = pods_to_delete(pods, &related, n, now);
            let keys: Vec<String> = victims.iter().map(|p| key(&p.metadata)).collect();
            self.expectations.expect_deletions(&k, keys);
            let mut set = tokio::task::JoinSet::new();
            for p in victims {
                let client = self.client.clone();
                let pk = key(&p.metadata);
                let (ns, name) = controller::split_key(&pk);
                let path = format!("/api/v1/namespaces/{ns}/pods/{name}");
                let body = json!({"preconditions": {"uid": p.metadata.uid}});
                set.spawn(async move {
                    let r = client.json("DELETE", &path, None, Some(&body)).await;
                    (pk, r)
                });
            }
            let mut failure = None;
            let mut deleted = 0;
            while let Some(r) = set.join_next().await {
                match r {
                    Ok((_, Ok(_))) => deleted += 1,
                    Ok((pk, Err(e))) => {
                        self.expectations.deletion_observed(&k, &pk);
                        if !matches!(controller::code(&e), Some(404) | Some(409)) {
                            failure.get_or_insert(e);
                        }
                    }
                    Err(e) => {
                        failure.get_or_insert(ClientError::Protocol(e.to_string()));
                    }
                }
            }
            if deleted > 0 {
                tracing::info!(replicaset = %k, deleted, "replicaset controller: deleted pods");
            }
            return match failure {
                Some(e) => Err(("FailedDelete", e)),
                None => Ok(()),
            };
        }
        Ok(())
    }

    /// kube's `getIndirectlyRelatedPods`: the pods of every ReplicaSet with the same
    /// controller as `rs` (a Deployment's old and new ones), or of `rs` alone.
    fn related_pods(&self, rs: &ReplicaSet) -> Vec<Arc<Pod>> {
        let ns = rs.metadata.namespace.as_deref().unwrap_or("");
        let owner = controller_of(&rs.metadata).map(|r| r.uid.clone());
        let uids: Vec<String> = match owner {
            Some(o) => self
                .rss
                .list_namespace(ns)
                .iter()
                .filter(|r| controller_of(&r.metadata).is_some_and(|c| c.uid == o))
                .filter_map(|r| r.metadata.uid.clone())
                .collect(),
            None => rs.metadata.uid.clone().into_iter().collect(),
        };
        self.pods
            .list_namespace(ns)
            .into_iter()
            .filter(|p| controller_of(&p.metadata).is_some_and(|c| uids.contains(&c.uid)))
            .collect()
    }

    /// Writes the status if it changed (with the cached resourceVersion: a conflict
    /// means a newer ReplicaSet is on its way, and the sync runs again).
    async fn update_status(
        &self,
        rs: &ReplicaSet,
        mut status: ReplicaSetStatus,
    ) -> Result<ReplicaSetStatus, ClientError> {
        if !status_changed(rs, &status) {
            return Ok(status);
        }
        status.observed_generation = rs.metadata.generation;
        let mut obj = rs.clone();
        obj.status = Some(status.clone());
        let mut body = serde_json::to_value(&obj)
            .map_err(|e| ClientError::Protocol(format!("encoding a ReplicaSet: {e}")))?;
        body["apiVersion"] = json!("apps/v1");
        body["kind"] = json!("ReplicaSet");
        let path = format!(
            "{}/status",
            rs_path(
                rs.metadata.namespace.as_deref().unwrap_or(""),
                rs.metadata.name.as_deref().unwrap_or("")
            )
        );
        match self.client.json("PUT", &path, None, Some(&body)).await {
            Ok(_) => Ok(status),
            Err(e) if controller::code(&e) == Some(404) => Ok(status),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clipper_proto::Time;
    use clipper_proto::api::apps::v1::ReplicaSetSpec;
    use clipper_proto::api::core::v1::{
        ContainerStatus, PodCondition, PodSpec, PodStatus, PodTemplateSpec,
    };
    use clipper_proto::api::meta::v1::ObjectMeta;

    #[test]
    fn slow_start() {
        #[track_caller]
        fn check(count: usize, expect: &[usize]) {
            assert_eq!(slow_start_batches(count, 1), expect);
        }
        check(0, &[]);
        check(1, &[1]);
        check(3, &[1, 2]);
        check(5, &[1, 2, 2]);
        check(10, &[1, 2, 4, 3]);
        check(15, &[1, 2, 4, 8]);
    }

    /// A pod named `name`: `node` ("" unscheduled), `phase`, `ready_since` (0: not
    /// ready), created at `created`, with `restarts`.
    fn pod(
        name: &str,
        node: &str,
        phase: &str,
        ready_since: i64,
        created: i64,
        restarts: i32,
    ) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                uid: Some(format!("uid-{name}")),
                creation_timestamp: Some(Time(created)),
                labels: Some([("app".to_string(), "web".to_string())].into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: (!node.is_empty()).then(|| node.to_string()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: (ready_since > 0).then(|| {
                    vec![PodCondition {
                        type_: "Ready".into(),
                        status: "True".into(),
                        last_transition_time: Some(Time(ready_since)),
                        ..Default::default()
                    }]
                }),
                container_statuses: Some(vec![ContainerStatus {
                    name: "c".into(),
                    restart_count: restarts,
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    const NOW: i64 = 1_000_000;

    #[test]
    fn deletion_ranking() {
        #[track_caller]
        fn check(pods: Vec<Pod>, expect: &[&str]) {
            let pods: Vec<Arc<Pod>> = pods.into_iter().map(Arc::new).collect();
            let chosen = pods_to_delete(&pods, &pods, pods.len() - 1, NOW);
            let names: Vec<&str> = chosen
                .iter()
                .map(|p| p.metadata.name.as_deref().unwrap())
                .collect();
            assert_eq!(names, expect);
        }
        // Unscheduled first, then pending before running, not ready before ready.
        check(
            vec![
                pod("ready", "n1", "Running", NOW - 100, NOW - 100, 0),
                pod("unscheduled", "", "Pending", 0, NOW - 100, 0),
                pod("notready", "n2", "Running", 0, NOW - 100, 0),
                pod("pending", "n3", "Pending", 0, NOW - 100, 0),
            ],
            &["unscheduled", "pending", "notready"],
        );
        // Doubled-up nodes first; among equals, ready for less time (log buckets) first.
        check(
            vec![
                pod("alone", "n1", "Running", NOW - 10_000, NOW - 10_000, 0),
                pod("crowded-a", "n2", "Running", NOW - 10_000, NOW - 10_000, 0),
                pod("crowded-b", "n2", "Running", NOW - 10, NOW - 10, 0),
            ],
            &["crowded-b", "crowded-a"],
        );
        // More restarts first; then newer first.
        check(
            vec![
                pod("old", "n1", "Running", NOW - 5, NOW - 100_000, 0),
                pod("restarted", "n2", "Running", NOW - 5, NOW - 100_000, 3),
                pod("young", "n3", "Running", NOW - 5, NOW - 10, 0),
            ],
            &["restarted", "young"],
        );
        // A lower deletion cost first, whatever its age.
        let mut cheap = pod("cheap", "n1", "Running", NOW - 100_000, NOW - 100_000, 0);
        cheap.metadata.annotations =
            Some([(POD_DELETION_COST.to_string(), "-5".to_string())].into());
        check(
            vec![
                cheap,
                pod("fresh", "n2", "Running", NOW - 1, NOW - 1, 0),
                pod("x", "n3", "Running", NOW - 1, NOW - 1, 0),
            ],
            &["cheap", "fresh"],
        );
    }

    fn rs(replicas: i32, min_ready: i32) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("ns".into()),
                uid: Some("rs-uid".into()),
                generation: Some(2),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                min_ready_seconds: Some(min_ready),
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(
                            [
                                ("app".to_string(), "web".to_string()),
                                ("tier".to_string(), "front".to_string()),
                            ]
                            .into(),
                        ),
                        ..Default::default()
                    }),
                    spec: Some(PodSpec::default()),
                }),
                ..Default::default()
            }),
            status: None,
        }
    }

    #[test]
    fn status_counts() {
        #[track_caller]
        fn check(min_ready: i32, pods: Vec<Pod>, expect: (i32, i32, i32, i32)) {
            let pods: Vec<Arc<Pod>> = pods.into_iter().map(Arc::new).collect();
            let s = calculate_status(&rs(3, min_ready), &pods, None, NOW);
            assert_eq!(
                (
                    s.replicas,
                    s.fully_labeled_replicas.unwrap(),
                    s.ready_replicas.unwrap(),
                    s.available_replicas.unwrap()
                ),
                expect
            );
        }
        let mut labeled = pod("full", "n1", "Running", NOW - 30, NOW - 30, 0);
        labeled
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .insert("tier".into(), "front".into());
        check(
            0,
            vec![
                labeled.clone(),
                pod("b", "n1", "Running", NOW - 5, NOW - 5, 0),
                pod("c", "n1", "Pending", 0, NOW - 5, 0),
            ],
            (3, 1, 2, 2),
        );
        // minReadySeconds 10: ready for 30 s counts, for 5 s does not.
        check(
            10,
            vec![labeled, pod("b", "n1", "Running", NOW - 5, NOW - 5, 0)],
            (2, 1, 2, 1),
        );
    }

    #[test]
    fn failure_condition_comes_and_goes() {
        let mut r = rs(3, 0);
        let s = calculate_status(&r, &[], Some(("FailedCreate", "quota".into())), NOW);
        let c = &s.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (c.type_.as_str(), c.reason.as_deref()),
            ("ReplicaFailure", Some("FailedCreate"))
        );
        r.status = Some(s);
        let s = calculate_status(&r, &[], None, NOW);
        assert!(s.conditions.is_none());
        assert!(status_changed(&r, &s));
    }

    #[test]
    fn pods_come_from_the_template() {
        let p = pod_from_template(&rs(1, 0));
        assert_eq!(p["metadata"]["generateName"], "web-");
        assert_eq!(p["metadata"]["labels"]["tier"], "front");
        let owner = &p["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "ReplicaSet");
        assert_eq!(owner["uid"], "rs-uid");
        assert_eq!(owner["controller"], true);
        assert_eq!(owner["blockOwnerDeletion"], true);
    }
}
