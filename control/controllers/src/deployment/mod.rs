//! The Deployment controller, as kube-controller-manager's (pkg/controller/deployment):
//! a Deployment owns ReplicaSets, one per pod template it has had; the one whose
//! template is the Deployment's is the *new* ReplicaSet (`<name>-<pod-template-hash>`),
//! the others are old, and a rollout moves replicas from the old to the new.
//!
//! Informers over Deployments, ReplicaSets and Pods enqueue Deployment keys; [`WORKERS`]
//! workers sync one at a time, kube's `syncDeployment`: claim the ReplicaSets (adopt
//! matching orphans, release non-matching), note pause/resume in the Progressing
//! condition, then either only scale (paused, or the replica count changed: proportional
//! scaling across active ReplicaSets) or roll out — RollingUpdate (grow the new
//! ReplicaSet within replicas + maxSurge, shrink old ones while replicas −
//! maxUnavailable stay available) or Recreate (old ones to zero, wait for their pods to
//! go, then the new one). Revisions and replica counts are annotations on the
//! ReplicaSets (`deployment.kubernetes.io/*`); old ReplicaSets beyond
//! `revisionHistoryLimit` are deleted once empty; the status carries the counts and the
//! Available and Progressing conditions with kube's reasons, so `kubectl rollout status`
//! works. A rollback (`kubectl rollout undo`) is kubectl patching the template back to
//! an old ReplicaSet's: that ReplicaSet becomes the new one, with the next revision.
//! The arithmetic is in [`util`], pure.

pub mod util;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use clipper_client::informer::Change;
use clipper_client::{ClientError, QuicClient};
use clipper_proto::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use clipper_proto::api::core::v1::Pod;
use clipper_proto::api::meta::v1::ObjectMeta;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::controller::{self, Claim, Informed, controller_of, key};
use crate::workqueue::WorkQueue;
use util::*;

/// Concurrent syncs (kube-controller-manager's `--concurrent-deployment-syncs` default).
pub const WORKERS: usize = 5;

/// The controller's identity (kube's service account for it).
pub const USER: &str = "system:serviceaccount:kube-system:deployment-controller";
pub const SERVICE_ACCOUNT: &str = "deployment-controller";

/// Its ClusterRole and binding (kube's `system:controller:deployment-controller`).
pub fn rbac_objects() -> [(&'static str, Value); 2] {
    controller::controller_rbac(
        SERVICE_ACCOUNT,
        json!([
            {"apiGroups": ["apps", "extensions"], "resources": ["deployments"], "verbs": ["get", "list", "update", "watch"]},
            {"apiGroups": ["apps", "extensions"], "resources": ["deployments/status"], "verbs": ["update"]},
            {"apiGroups": ["apps", "extensions"], "resources": ["deployments/finalizers"], "verbs": ["update"]},
            {"apiGroups": ["apps", "extensions"], "resources": ["replicasets"], "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "update", "watch"]},
            controller::events_rule(),
        ]),
    )
}

struct Shared {
    client: Arc<QuicClient>,
    deployments: Arc<Informed<Deployment>>,
    rss: Arc<Informed<ReplicaSet>>,
    pods: Arc<Informed<Pod>>,
    queue: WorkQueue<String>,
}

/// The Deployment controller; [`DeploymentController::run`] drives it.
pub struct DeploymentController {
    shared: Arc<Shared>,
}

fn ns_of(meta: &ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or("")
}

fn name_of(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or("")
}

fn rs_path(ns: &str, name: &str) -> String {
    format!("/apis/apps/v1/namespaces/{ns}/replicasets/{name}")
}

fn deployment_path(d: &Deployment) -> String {
    format!(
        "/apis/apps/v1/namespaces/{}/deployments/{}",
        ns_of(&d.metadata),
        name_of(&d.metadata)
    )
}

fn protocol(e: impl std::fmt::Display) -> ClientError {
    ClientError::Protocol(e.to_string())
}

/// A Deployment or ReplicaSet as a request body.
macro_rules! to_body {
    ($obj:expr, $kind:literal) => {{
        let mut v = serde_json::to_value($obj).map_err(protocol)?;
        v["apiVersion"] = json!("apps/v1");
        v["kind"] = json!($kind);
        v
    }};
}

fn deployment_from(v: Value) -> Result<Deployment, ClientError> {
    serde_json::from_value(v).map_err(protocol)
}

fn rs_from(v: Value) -> Result<ReplicaSet, ClientError> {
    serde_json::from_value(v).map_err(protocol)
}

fn is_active(rs: &ReplicaSet) -> bool {
    rs_replicas(rs) > 0
}

impl DeploymentController {
    pub fn new(client: &Arc<QuicClient>) -> DeploymentController {
        DeploymentController {
            shared: Arc::new(Shared {
                client: client.clone(),
                deployments: Arc::default(),
                rss: Arc::default(),
                pods: Arc::default(),
                queue: WorkQueue::default(),
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
            "deployments",
            s.deployments.clone(),
            move |c| h.on_deployment(c),
            stop.clone(),
        )));
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
            _ = async {
                s.deployments.wait_synced().await;
                s.rss.wait_synced().await;
                s.pods.wait_synced().await;
            } => {}
            _ = stopped.changed() => {}
        }
        tracing::info!("deployment controller: caches synced; running");
        for _ in 0..WORKERS {
            tasks.push(tokio::spawn(s.clone().worker(stop.clone())));
        }
        let _ = stopped.wait_for(|s| *s).await;
        for t in tasks {
            t.abort();
        }
    }
}

/// What a rollout step decided, for the status written after it.
struct Rss {
    new: Option<ReplicaSet>,
    old: Vec<ReplicaSet>,
}

impl Rss {
    fn all(&self) -> Vec<ReplicaSet> {
        let mut all = self.old.clone();
        all.extend(self.new.clone());
        all
    }
}

impl Shared {
    fn on_deployment(&self, c: Change<Deployment>) {
        match c {
            Change::Added(d) | Change::Updated { new: d, .. } | Change::Deleted(d) => {
                self.queue.add(key(&d.metadata))
            }
            Change::Synced(_) => {}
        }
    }

    /// The Deployment a controller reference names, if cached with that uid.
    fn resolve(
        &self,
        ns: &str,
        r: &clipper_proto::api::meta::v1::OwnerReference,
    ) -> Option<Arc<Deployment>> {
        if r.kind != "Deployment" || !r.api_version.starts_with("apps/") {
            return None;
        }
        let d = self.deployments.read().get(ns, &r.name)?;
        (d.metadata.uid.as_deref() == Some(r.uid.as_str())).then_some(d)
    }

    fn enqueue_matching(&self, rs: &ReplicaSet) {
        let labels = controller::labels(&rs.metadata);
        for d in self.deployments.list_namespace(ns_of(&rs.metadata)) {
            if d.spec
                .as_ref()
                .is_some_and(|s| controller::selector(&s.selector).matches(&labels))
            {
                self.queue.add(key(&d.metadata));
            }
        }
    }

    fn enqueue_owner(&self, rs: &ReplicaSet) -> bool {
        match controller_of(&rs.metadata).and_then(|r| self.resolve(ns_of(&rs.metadata), r)) {
            Some(d) => {
                self.queue.add(key(&d.metadata));
                true
            }
            None => false,
        }
    }

    fn on_replicaset(&self, c: Change<ReplicaSet>) {
        match c {
            Change::Added(rs) => {
                if controller_of(&rs.metadata).is_some() {
                    self.enqueue_owner(&rs);
                } else if rs.metadata.deletion_timestamp.is_none() {
                    self.enqueue_matching(&rs);
                }
            }
            Change::Updated { old, new } => {
                if old.metadata.resource_version == new.metadata.resource_version {
                    return;
                }
                let (or, nr) = (controller_of(&old.metadata), controller_of(&new.metadata));
                if or.map(|r| &r.uid) != nr.map(|r| &r.uid) {
                    self.enqueue_owner(&old);
                }
                if nr.is_some() {
                    self.enqueue_owner(&new);
                } else if old.metadata.labels != new.metadata.labels || or.is_some() {
                    self.enqueue_matching(&new);
                }
            }
            Change::Deleted(rs) => {
                self.enqueue_owner(&rs);
            }
            Change::Synced(_) => {}
        }
    }

    /// A pod of a Recreate Deployment went: the new ReplicaSet may start now.
    fn on_pod(&self, c: Change<Pod>) {
        let Change::Deleted(pod) = c else {
            return;
        };
        let ns = ns_of(&pod.metadata);
        let Some(r) = controller_of(&pod.metadata) else {
            return;
        };
        if r.kind != "ReplicaSet" {
            return;
        }
        let Some(rs) = self.rss.read().get(ns, &r.name) else {
            return;
        };
        if let Some(d) = controller_of(&rs.metadata).and_then(|r| self.resolve(ns, r))
            && !is_rolling_update(&d)
        {
            self.queue.add(key(&d.metadata));
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
                    tracing::info!(deployment = %k, error = %e, "deployment controller: sync failed; will retry");
                    self.queue.retry(k.clone());
                }
            }
            self.queue.done(&k);
        }
    }

    async fn sync(&self, k: &str) -> Result<(), ClientError> {
        let Some(d) = self.deployments.get(k) else {
            return Ok(());
        };
        let mut d = (*d).clone();
        let mut rss = self.claim_replicasets(&d).await?;
        if d.metadata.deletion_timestamp.is_some() {
            return self.sync_status_only(&mut d, &mut rss).await;
        }
        self.check_paused_conditions(&mut d).await?;
        if spec(&d).paused == Some(true) {
            return self.sync_scale(&mut d, &mut rss).await;
        }
        if self.is_scaling_event(&mut d, &mut rss).await? {
            return self.sync_scale(&mut d, &mut rss).await;
        }
        if is_rolling_update(&d) {
            self.rollout_rolling(&mut d, &mut rss).await
        } else {
            self.rollout_recreate(&mut d, &mut rss).await
        }
    }

    /// kube's `getReplicaSetsForDeployment`: the ReplicaSets it controls once orphans
    /// that match are adopted and owned ones that stopped matching are released.
    async fn claim_replicasets(&self, d: &Deployment) -> Result<Vec<ReplicaSet>, ClientError> {
        let sel = controller::selector(&spec(d).selector);
        let uid = d.metadata.uid.as_deref().unwrap_or("");
        let deleting = d.metadata.deletion_timestamp.is_some();
        let mut owned = Vec::new();
        let mut rechecked = false;
        for rs in self.rss.list_namespace(ns_of(&d.metadata)) {
            let matches = sel.matches(&controller::labels(&rs.metadata));
            let path = rs_path(ns_of(&rs.metadata), name_of(&rs.metadata));
            let rs_uid = rs.metadata.uid.clone().unwrap_or_default();
            let patch = match controller::claim(&rs.metadata, uid, deleting, matches) {
                Claim::Owned => {
                    owned.push((*rs).clone());
                    continue;
                }
                Claim::Ignore => continue,
                Claim::Adopt => {
                    if !rechecked {
                        rechecked = true;
                        if !self.still_current(d).await? {
                            return Ok(owned);
                        }
                    }
                    let owner = controller::controller_ref("apps/v1", "Deployment", &d.metadata);
                    controller::adopt_patch(&owner, &rs_uid)
                }
                Claim::Release => controller::release_patch(uid, &rs_uid),
            };
            let adopting = patch["metadata"]["ownerReferences"][0]["$patch"].is_null();
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
                Ok(v) if adopting => {
                    tracing::info!(deployment = %key(&d.metadata), replicaset = %name_of(&rs.metadata), "deployment controller: adopted a ReplicaSet");
                    owned.push(rs_from(v)?);
                }
                Ok(_) => {}
                Err(e) if matches!(controller::code(&e), Some(404) | Some(409) | Some(422)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(owned)
    }

    async fn still_current(&self, d: &Deployment) -> Result<bool, ClientError> {
        match self
            .client
            .json("GET", &deployment_path(d), None, None)
            .await
        {
            Ok(v) => Ok(v["metadata"]["uid"].as_str() == d.metadata.uid.as_deref()
                && v["metadata"]["deletionTimestamp"].is_null()),
            Err(e) if controller::code(&e) == Some(404) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// PUTs the Deployment's status; `d` becomes the server's answer.
    async fn put_status(&self, d: &mut Deployment) -> Result<(), ClientError> {
        let path = format!("{}/status", deployment_path(d));
        let v = self
            .client
            .json("PUT", &path, None, Some(&to_body!(&*d, "Deployment")))
            .await?;
        *d = deployment_from(v)?;
        Ok(())
    }

    /// kube's `checkPausedConditions`: Progressing Unknown, DeploymentPaused or
    /// DeploymentResumed, as the Deployment is paused or resumed.
    async fn check_paused_conditions(&self, d: &mut Deployment) -> Result<(), ClientError> {
        if progress_deadline(d).is_none() {
            return Ok(());
        }
        let status = d.status.clone().unwrap_or_default();
        let reason = get_condition(&status, "Progressing").and_then(|c| c.reason.clone());
        if reason.as_deref() == Some(TIMED_OUT) {
            return Ok(());
        }
        let paused_cond = reason.as_deref() == Some(PAUSED);
        let paused = spec(d).paused == Some(true);
        let now = clipper_proto::Time::now().0;
        let cond = if paused && !paused_cond {
            new_condition(
                "Progressing",
                "Unknown",
                PAUSED,
                "Deployment is paused".into(),
                now,
            )
        } else if !paused && paused_cond {
            new_condition(
                "Progressing",
                "Unknown",
                RESUMED,
                "Deployment is resumed".into(),
                now,
            )
        } else {
            return Ok(());
        };
        let mut s = status;
        set_condition(&mut s, cond);
        d.status = Some(s);
        self.put_status(d).await
    }

    /// Sets the Deployment's revision annotation (written to the main resource: only
    /// the status subresource's content is taken from a status write).
    async fn set_deployment_revision(
        &self,
        d: &mut Deployment,
        revision: &str,
    ) -> Result<(), ClientError> {
        let current = d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION))
            .map(String::as_str);
        if current == Some(revision) {
            return Ok(());
        }
        let mut copy = d.clone();
        copy.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(REVISION.into(), revision.into());
        let v = self
            .client
            .json(
                "PUT",
                &deployment_path(d),
                None,
                Some(&to_body!(&copy, "Deployment")),
            )
            .await?;
        *d = deployment_from(v)?;
        Ok(())
    }

    async fn update_rs(&self, rs: &ReplicaSet) -> Result<ReplicaSet, ClientError> {
        let path = rs_path(ns_of(&rs.metadata), name_of(&rs.metadata));
        let v = self
            .client
            .json("PUT", &path, None, Some(&to_body!(rs, "ReplicaSet")))
            .await?;
        rs_from(v)
    }

    /// Replaces the ReplicaSet with `updated`'s uid in `rss`.
    fn replace(rss: &mut [ReplicaSet], updated: &ReplicaSet) {
        if let Some(slot) = rss
            .iter_mut()
            .find(|r| r.metadata.uid == updated.metadata.uid)
        {
            *slot = updated.clone();
        }
    }

    /// kube's `getAllReplicaSetsAndSyncRevision`: the new ReplicaSet (its annotations
    /// and minReadySeconds brought up to date, created when `create` and missing) and
    /// every old one.
    async fn get_all(
        &self,
        d: &mut Deployment,
        rss: &mut Vec<ReplicaSet>,
        create: bool,
    ) -> Result<Rss, ClientError> {
        let new_idx = find_new(d, rss);
        let old: Vec<ReplicaSet> = rss
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != new_idx)
            .map(|(_, r)| r.clone())
            .collect();
        let new_revision = max_revision(&old) + 1;
        let now = clipper_proto::Time::now().0;
        let min_ready = spec(d).min_ready_seconds;
        if let Some(i) = new_idx {
            let mut copy = rss[i].clone();
            let annotated = set_new_rs_annotations(d, &mut copy, new_revision, true);
            let spec_rs = copy.spec.get_or_insert_with(Default::default);
            let min_ready_changed = spec_rs.min_ready_seconds != min_ready;
            if annotated || min_ready_changed {
                spec_rs.min_ready_seconds = min_ready;
                copy = self.update_rs(&copy).await?;
                Self::replace(rss, &copy);
            }
            let revision = copy
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(REVISION))
                .cloned()
                .unwrap_or_default();
            self.set_deployment_revision(d, &revision).await?;
            let mut status = d.status.clone().unwrap_or_default();
            if get_condition(&status, "Progressing").is_none() {
                let msg = format!("Found new replica set {:?}", name_of(&copy.metadata));
                set_condition(
                    &mut status,
                    new_condition("Progressing", "True", FOUND_NEW_RS, msg, now),
                );
                d.status = Some(status);
                self.put_status(d).await?;
            }
            return Ok(Rss {
                new: Some(copy),
                old,
            });
        }
        if !create {
            return Ok(Rss { new: None, old });
        }
        let created = self.create_new_rs(d, rss, &old, new_revision, now).await?;
        Ok(Rss {
            new: Some(created),
            old,
        })
    }

    async fn create_new_rs(
        &self,
        d: &mut Deployment,
        rss: &mut Vec<ReplicaSet>,
        old: &[ReplicaSet],
        new_revision: i64,
        now: i64,
    ) -> Result<ReplicaSet, ClientError> {
        let sp = spec(d);
        let collision = d.status.as_ref().and_then(|s| s.collision_count);
        let hash = compute_hash(&sp.template, collision);
        let mut template = sp.template.clone();
        let tm = template.metadata.get_or_insert_with(Default::default);
        tm.labels
            .get_or_insert_with(Default::default)
            .insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let labels = tm.labels.clone();
        let mut selector = sp.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(Default::default)
            .insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let ns = ns_of(&d.metadata).to_string();
        let name = format!("{}-{hash}", name_of(&d.metadata));
        let mut new_rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                owner_references: Some(vec![controller::controller_ref(
                    "apps/v1",
                    "Deployment",
                    &d.metadata,
                )]),
                labels,
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: sp.min_ready_seconds,
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let mut all = old.to_vec();
        all.push(new_rs.clone());
        let n = new_rs_new_replicas(d, &all, &new_rs);
        if let Some(s) = new_rs.spec.as_mut() {
            s.replicas = Some(n);
        }
        set_new_rs_annotations(d, &mut new_rs, new_revision, false);
        let path = format!("/apis/apps/v1/namespaces/{ns}/replicasets");
        let result = self
            .client
            .json("POST", &path, None, Some(&to_body!(&new_rs, "ReplicaSet")))
            .await;
        let (created, already_existed) = match result {
            Ok(v) => (rs_from(v)?, false),
            Err(e) if controller::code(&e) == Some(409) => {
                // kube: the same template under our control is the new ReplicaSet;
                // anything else is a hash collision, resolved by a new collisionCount.
                let v = self
                    .client
                    .json("GET", &rs_path(&ns, &name), None, None)
                    .await?;
                let existing = rs_from(v)?;
                let ours = controller_of(&existing.metadata)
                    .is_some_and(|r| Some(r.uid.as_str()) == d.metadata.uid.as_deref());
                if ours && equal_ignore_hash(&rs_template(&existing), &sp.template) {
                    (existing, true)
                } else {
                    let mut status = d.status.clone().unwrap_or_default();
                    status.collision_count = Some(collision.unwrap_or(0).saturating_add(1));
                    d.status = Some(status);
                    self.put_status(d).await?;
                    return Err(protocol(format!(
                        "hash collision: ReplicaSet {name} exists with another template; collisionCount raised"
                    )));
                }
            }
            Err(e) => {
                let mut status = d.status.clone().unwrap_or_default();
                let msg = format!("Failed to create new replica set {name:?}: {e}");
                set_condition(
                    &mut status,
                    new_condition("Progressing", "False", FAILED_RS_CREATE, msg, now),
                );
                d.status = Some(status);
                let _ = self.put_status(d).await;
                return Err(e);
            }
        };
        if !already_existed {
            tracing::info!(deployment = %key(&d.metadata), replicaset = %name, replicas = n, "deployment controller: created a new ReplicaSet");
        }
        rss.push(created.clone());
        self.set_deployment_revision(d, &new_revision.to_string())
            .await?;
        if !already_existed {
            let mut status = d.status.clone().unwrap_or_default();
            let msg = format!("Created new replica set {name:?}");
            set_condition(
                &mut status,
                new_condition("Progressing", "True", NEW_RS_CREATED, msg, now),
            );
            d.status = Some(status);
            self.put_status(d).await?;
        }
        Ok(created)
    }

    /// kube's `scaleReplicaSet`: the size and the replica annotations, if either differs.
    async fn scale_rs(
        &self,
        d: &Deployment,
        rs: &ReplicaSet,
        size: i32,
    ) -> Result<(bool, ReplicaSet), ClientError> {
        let want = replicas(d);
        let max = want + max_surge(d);
        if rs_replicas(rs) == size && !replicas_annotations_need_update(rs, want, max) {
            return Ok((false, rs.clone()));
        }
        let mut copy = rs.clone();
        copy.spec.get_or_insert_with(Default::default).replicas = Some(size);
        set_replicas_annotations(&mut copy, want, max);
        let updated = self.update_rs(&copy).await?;
        if rs_replicas(rs) != size {
            tracing::info!(deployment = %key(&d.metadata), replicaset = %name_of(&rs.metadata),
                from = rs_replicas(rs), to = size, "deployment controller: scaled a ReplicaSet");
        }
        Ok((true, updated))
    }

    async fn scale_into(
        &self,
        d: &Deployment,
        r: &mut Rss,
        uid: Option<&str>,
        size: i32,
    ) -> Result<bool, ClientError> {
        let target = match &r.new {
            Some(n) if n.metadata.uid.as_deref() == uid => r.new.as_mut(),
            _ => r.old.iter_mut().find(|o| o.metadata.uid.as_deref() == uid),
        };
        let Some(target) = target else {
            return Ok(false);
        };
        let (scaled, updated) = self.scale_rs(d, target, size).await?;
        *target = updated;
        Ok(scaled)
    }

    /// kube's `isScalingEvent`: an active ReplicaSet was sized for another replica count.
    async fn is_scaling_event(
        &self,
        d: &mut Deployment,
        rss: &mut Vec<ReplicaSet>,
    ) -> Result<bool, ClientError> {
        let r = self.get_all(d, rss, false).await?;
        let want = replicas(d);
        Ok(r.all().iter().filter(|rs| is_active(rs)).any(|rs| {
            rs.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(DESIRED_REPLICAS))
                .and_then(|v| v.parse::<i32>().ok())
                .is_some_and(|desired| desired != want)
        }))
    }

    /// kube's `scale`: one active ReplicaSet takes the new size; a saturated new one
    /// means the old go to zero; otherwise (rolling) proportional scaling.
    async fn scale(&self, d: &Deployment, r: &mut Rss) -> Result<(), ClientError> {
        let want = replicas(d);
        if let Some(target) = active_or_latest(r) {
            if rs_replicas(&target) != want {
                self.scale_into(d, r, target.metadata.uid.as_deref(), want)
                    .await?;
            }
            return Ok(());
        }
        if let Some(new) = &r.new
            && is_saturated(d, new)
        {
            let uids: Vec<Option<String>> = r
                .old
                .iter()
                .filter(|o| is_active(o))
                .map(|o| o.metadata.uid.clone())
                .collect();
            for uid in uids {
                self.scale_into(d, r, uid.as_deref(), 0).await?;
            }
            return Ok(());
        }
        if is_rolling_update(d) {
            let active: Vec<ReplicaSet> = r.all().into_iter().filter(is_active).collect();
            for (i, size) in proportional_sizes(d, &active) {
                self.scale_into(d, r, active[i].metadata.uid.as_deref(), size)
                    .await?;
            }
        }
        Ok(())
    }

    /// kube's `sync`: scale, clean up when paused, write the status.
    async fn sync_scale(
        &self,
        d: &mut Deployment,
        rss: &mut Vec<ReplicaSet>,
    ) -> Result<(), ClientError> {
        let mut r = self.get_all(d, rss, false).await?;
        self.scale(d, &mut r).await?;
        if spec(d).paused == Some(true) {
            self.cleanup(d, &r.old).await?;
        }
        self.sync_status(d, &r).await
    }

    async fn sync_status_only(
        &self,
        d: &mut Deployment,
        rss: &mut Vec<ReplicaSet>,
    ) -> Result<(), ClientError> {
        let r = self.get_all(d, rss, false).await?;
        self.sync_status(d, &r).await
    }

    /// kube's `syncDeploymentStatus`: the counts and Available, written if changed.
    async fn sync_status(&self, d: &mut Deployment, r: &Rss) -> Result<(), ClientError> {
        let now = clipper_proto::Time::now().0;
        let status = calculate_status(&r.all(), r.new.as_ref(), d, now);
        if d.status.as_ref() == Some(&status) {
            return Ok(());
        }
        d.status = Some(status);
        self.put_status(d).await
    }

    /// kube's `syncRolloutStatus`: the counts, Available, and Progressing (progress,
    /// completion, or the deadline passed); a stuck Deployment is looked at again when
    /// its deadline would pass.
    async fn sync_rollout_status(&self, d: &mut Deployment, r: &Rss) -> Result<(), ClientError> {
        let now = clipper_proto::Time::now().0;
        let mut status = calculate_status(&r.all(), r.new.as_ref(), d, now);
        rollout_conditions(
            d,
            &mut status,
            r.new.as_ref().map(|n| name_of(&n.metadata)),
            now,
        );
        remove_condition(&mut status, "ReplicaFailure");
        if let Some(f) = r.all().iter().find_map(|rs| {
            rs.status
                .as_ref()?
                .conditions
                .as_deref()?
                .iter()
                .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
                .cloned()
        }) {
            let mut c = new_condition(
                "ReplicaFailure",
                &f.status,
                f.reason.as_deref().unwrap_or(""),
                f.message.clone().unwrap_or_default(),
                now,
            );
            c.last_transition_time = f.last_transition_time;
            set_condition(&mut status, c);
        }
        if d.status.as_ref() == Some(&status) {
            if let Some(after) = stuck_requeue_after(d, &status, now) {
                self.queue
                    .add_after(key(&d.metadata), Duration::from_secs(after.max(1) as u64));
            }
            return Ok(());
        }
        d.status = Some(status);
        self.put_status(d).await
    }

    /// kube's `cleanupDeployment`: old ReplicaSets beyond revisionHistoryLimit, oldest
    /// revision first, deleted once they hold no pods.
    async fn cleanup(&self, d: &Deployment, old: &[ReplicaSet]) -> Result<(), ClientError> {
        let Some(limit) = spec(d).revision_history_limit else {
            return Ok(());
        };
        let mut cleanable: Vec<&ReplicaSet> = old
            .iter()
            .filter(|rs| rs.metadata.deletion_timestamp.is_none())
            .collect();
        let diff = cleanable.len() as i64 - i64::from(limit);
        if diff <= 0 {
            return Ok(());
        }
        cleanable.sort_by(|a, b| {
            revision(a)
                .cmp(&revision(b))
                .then_with(|| by_creation(a, b))
        });
        for rs in cleanable.into_iter().take(diff as usize) {
            let observed = rs
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0);
            if rs_status_replicas(rs) != 0
                || rs_replicas(rs) != 0
                || rs.metadata.generation.unwrap_or(0) > observed
            {
                continue;
            }
            tracing::info!(deployment = %key(&d.metadata), replicaset = %name_of(&rs.metadata), "deployment controller: deleting an old ReplicaSet beyond the history limit");
            let body = json!({"preconditions": {"uid": rs.metadata.uid}});
            match self
                .client
                .json(
                    "DELETE",
                    &rs_path(ns_of(&rs.metadata), name_of(&rs.metadata)),
                    None,
                    Some(&body),
                )
                .await
            {
                Ok(_) => {}
                Err(e) if matches!(controller::code(&e), Some(404) | Some(409)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// kube's `rolloutRolling`.
    async fn rollout_rolling(
        &self,
        d: &mut Deployment,
        rss: &mut Vec<ReplicaSet>,
    ) -> Result<(), ClientError> {
        let mut r = self.get_all(d, rss, true).await?;
        // Grow the new ReplicaSet (or shrink it to replicas).
        if let Some(new) = r.new.clone() {
            let want = replicas(d);
            let n = rs_replicas(&new);
            if n != want {
                let size = if n > want {
                    want
                } else {
                    new_rs_new_replicas(d, &r.all(), &new)
                };
                if self
                    .scale_into(d, &mut r, new.metadata.uid.as_deref(), size)
                    .await?
                {
                    return self.sync_rollout_status(d, &r).await;
                }
            }
        }
        // Shrink the old ones.
        if self.reconcile_old(d, &mut r).await? {
            return self.sync_rollout_status(d, &r).await;
        }
        let status = d.status.clone().unwrap_or_default();
        if complete(d, &status) {
            self.cleanup(d, &r.old).await?;
        }
        self.sync_rollout_status(d, &r).await
    }

    /// kube's `reconcileOldReplicaSets`: unhealthy old replicas first, then healthy
    /// ones, never below replicas − maxUnavailable available.
    async fn reconcile_old(&self, d: &Deployment, r: &mut Rss) -> Result<bool, ClientError> {
        let Some(new) = r.new.clone() else {
            return Ok(false);
        };
        let old_pods: i32 = r.old.iter().map(rs_replicas).sum();
        if old_pods == 0 {
            return Ok(false);
        }
        let max_down = max_scaled_down(d, &r.all(), &new);
        if max_down <= 0 {
            return Ok(false);
        }
        let mut scaled = false;
        let active: Vec<ReplicaSet> = r.old.iter().filter(|o| is_active(o)).cloned().collect();
        for (i, size) in cleanup_unhealthy(&active, max_down) {
            scaled |= self
                .scale_into(d, r, active[i].metadata.uid.as_deref(), size)
                .await?;
        }
        let active: Vec<ReplicaSet> = r.old.iter().filter(|o| is_active(o)).cloned().collect();
        let available: i32 = r.all().iter().map(rs_available).sum();
        for (i, size) in scale_down_old(d, &active, available) {
            scaled |= self
                .scale_into(d, r, active[i].metadata.uid.as_deref(), size)
                .await?;
        }
        Ok(scaled)
    }

    /// kube's `rolloutRecreate`.
    async fn rollout_recreate(
        &self,
        d: &mut Deployment,
        rss: &mut Vec<ReplicaSet>,
    ) -> Result<(), ClientError> {
        let mut r = self.get_all(d, rss, false).await?;
        let mut scaled = false;
        let active: Vec<Option<String>> = r
            .old
            .iter()
            .filter(|o| is_active(o))
            .map(|o| o.metadata.uid.clone())
            .collect();
        for uid in active {
            scaled |= self.scale_into(d, &mut r, uid.as_deref(), 0).await?;
        }
        if scaled || self.old_pods_running(&r) {
            return self.sync_rollout_status(d, &r).await;
        }
        if r.new.is_none() {
            r = self.get_all(d, rss, true).await?;
        }
        if let Some(new) = r.new.clone() {
            self.scale_into(d, &mut r, new.metadata.uid.as_deref(), replicas(d))
                .await?;
        }
        let status = d.status.clone().unwrap_or_default();
        if complete(d, &status) {
            self.cleanup(d, &r.old).await?;
        }
        self.sync_rollout_status(d, &r).await
    }

    /// kube's `oldPodsRunning`: old ReplicaSets still report pods, or pods of theirs
    /// that have not finished are still there.
    fn old_pods_running(&self, r: &Rss) -> bool {
        if r.old.iter().map(rs_status_replicas).sum::<i32>() > 0 {
            return true;
        }
        let new_uid = r.new.as_ref().and_then(|n| n.metadata.uid.clone());
        let old_uids: HashMap<String, ()> = r
            .old
            .iter()
            .filter_map(|o| o.metadata.uid.clone())
            .map(|u| (u, ()))
            .collect();
        let ns = r
            .old
            .first()
            .map(|o| ns_of(&o.metadata).to_string())
            .unwrap_or_default();
        self.pods.list_namespace(&ns).iter().any(|p| {
            let Some(c) = controller_of(&p.metadata) else {
                return false;
            };
            if Some(&c.uid) == new_uid.as_ref() || !old_uids.contains_key(&c.uid) {
                return false;
            }
            !matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded") | Some("Failed")
            )
        })
    }
}

/// kube's `FindActiveOrLatest`: the only active ReplicaSet; with none active, the new
/// one or else the newest old one; with several, none.
fn active_or_latest(r: &Rss) -> Option<ReplicaSet> {
    if r.new.is_none() && r.old.is_empty() {
        return None;
    }
    let mut old = r.old.clone();
    old.sort_by(|a, b| by_creation(b, a));
    let mut all = old.clone();
    all.extend(r.new.clone());
    let active: Vec<&ReplicaSet> = all.iter().filter(|rs| is_active(rs)).collect();
    match active.len() {
        0 => r.new.clone().or_else(|| old.first().cloned()),
        1 => Some(active[0].clone()),
        _ => None,
    }
}
