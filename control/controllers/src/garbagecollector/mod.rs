//! The garbage collector, as Kubernetes' works: deletes objects whose owners are gone
//! (Background), finishes foreground deletions (an owner with the `foregroundDeletion`
//! finalizer goes once its blocking dependents have) and orphan deletions (the owner's
//! references are removed from its dependents, then its `orphan` finalizer).
//!
//! - Discovery (`/api/v1`, `/apis`, every group version) at start, every
//!   [`DISCOVERY_PERIOD`], when a CustomResourceDefinition changes and when an owner
//!   reference names a kind not known yet: the preferred version of every resource that
//!   supports list, watch and delete gets a *monitor*.
//! - A monitor is a QUIC watch (resumes, relists) whose objects are decoded to their
//!   metadata only ([`crate::metadata`]) and fed to the [`graph::Graph`] (uid → owners
//!   and dependents), which says what needs looking at.
//! - [`WORKERS`] workers take uids from a [`queue::WorkQueue`] and decide from *live*
//!   state (a GET of the object and of each owner, comparing uids), never from the
//!   graph alone: the graph says where to look, the server says what is true. Writes are
//!   merge patches pinned to the resourceVersion read (a conflict reads again) and
//!   DELETEs with a uid precondition; failures are logged and retried with backoff.

pub mod decide;
pub mod discovery;
pub mod graph;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use clipper_client::informer::Change;
use clipper_client::{Cache, ClientError, QuicClient, WatchEvent};
use clipper_proto::api::meta::v1::ObjectMeta;
use clipper_proto::wire::WatchRequest;
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};

use crate::metadata::{self, MetaObject};
use crate::workqueue as queue;
use decide::{Classified, Decision, OwnerState};
use discovery::{ApiResource, Discovered};
use graph::{FOREGROUND, Graph, Identity, ORPHAN, ObjectInfo, Work};
use queue::WorkQueue;

/// How often the served resources are discovered again (Kubernetes' collector resyncs
/// its monitors every 30 s too); CRD changes trigger it sooner.
pub const DISCOVERY_PERIOD: Duration = Duration::from_secs(30);
/// Least time between two discoveries: a burst of triggers costs one.
pub const MIN_DISCOVERY_INTERVAL: Duration = Duration::from_secs(1);
/// Concurrent workers; each mostly waits on the API server.
pub const WORKERS: usize = 4;
/// How long the workers wait for every monitor's first list before they start anyway
/// (a monitor that cannot list — forbidden, say — must not stop collection for ever).
pub const INITIAL_SYNC_TIMEOUT: Duration = Duration::from_secs(60);
/// Read-modify-write rounds on one object before the work goes back to the queue.
pub const MAX_CONFLICTS: u32 = 5;
/// Longest pause before a broken monitor watches again.
pub const MONITOR_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The collector's identity, as Kubernetes names it: the service account
/// `kube-system/generic-garbage-collector`, bound to [`CLUSTER_ROLE`].
pub const USER: &str = "system:serviceaccount:kube-system:generic-garbage-collector";
pub const GROUPS: &[&str] = &[
    "system:serviceaccounts",
    "system:serviceaccounts:kube-system",
];
/// The ClusterRole (and ClusterRoleBinding) of the collector: it reads, patches and
/// deletes any resource.
pub const CLUSTER_ROLE: &str = "system:controller:generic-garbage-collector";

/// The collector's ClusterRole and ClusterRoleBinding (Kubernetes' bootstrap policy
/// for it), with the collection path each is created at.
pub fn rbac_objects() -> [(&'static str, Value); 2] {
    [
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {
                    "name": CLUSTER_ROLE,
                    "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                },
                "rules": [{
                    "apiGroups": ["*"],
                    "resources": ["*"],
                    "verbs": ["delete", "get", "list", "patch", "update", "watch"],
                }],
            }),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {
                    "name": CLUSTER_ROLE,
                    "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                },
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": CLUSTER_ROLE,
                },
                "subjects": [{
                    "kind": "ServiceAccount",
                    "name": "generic-garbage-collector",
                    "namespace": "kube-system",
                }],
            }),
        ),
    ]
}

/// Why one piece of work failed (it is retried).
#[derive(Debug)]
enum GcError {
    Client(ClientError),
    /// An owner reference (or an object) of a kind the server does not serve (yet).
    Unmapped(String, String),
    /// Too many concurrent writes to one object.
    Conflicts(String),
}

impl std::fmt::Display for GcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GcError::Client(e) => write!(f, "{e}"),
            GcError::Unmapped(av, k) => write!(f, "the server serves no {k} in {av}"),
            GcError::Conflicts(what) => write!(f, "{what} kept changing under us"),
        }
    }
}

impl From<ClientError> for GcError {
    fn from(e: ClientError) -> Self {
        GcError::Client(e)
    }
}

fn status_code(e: &ClientError) -> Option<u16> {
    match e {
        ClientError::Status(s) => Some(s.code),
        _ => None,
    }
}

type Gvr = (String, String, String);

struct Shared {
    client: Arc<QuicClient>,
    graph: Mutex<Graph>,
    queue: WorkQueue<Work>,
    discovered: RwLock<Arc<Discovered>>,
    rediscover: Notify,
    synced: Mutex<HashSet<Gvr>>,
    synced_changed: Notify,
}

/// The garbage collector; [`GarbageCollector::run`] drives it.
pub struct GarbageCollector {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is a sequence of map operations: state stays usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl GarbageCollector {
    pub fn new(client: &Arc<QuicClient>) -> GarbageCollector {
        GarbageCollector {
            shared: Arc::new(Shared {
                client: client.clone(),
                graph: Mutex::new(Graph::default()),
                queue: WorkQueue::default(),
                discovered: RwLock::new(Arc::new(Discovered::default())),
                rediscover: Notify::new(),
                synced: Mutex::new(HashSet::new()),
                synced_changed: Notify::new(),
            }),
        }
    }

    /// Runs until `stop` turns true. Never fails: every error is logged and retried.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let shared = self.shared;
        let mut monitors: HashMap<Gvr, tokio::task::JoinHandle<()>> = HashMap::new();
        let mut workers = Vec::new();
        let mut failures = 0u32;
        let mut started = false;
        loop {
            match shared.discover().await {
                Ok(d) => {
                    failures = 0;
                    let d = Arc::new(d);
                    *shared.discovered.write().unwrap_or_else(|p| p.into_inner()) = d.clone();
                    let wanted: HashMap<Gvr, &ApiResource> =
                        d.watched.iter().map(|r| (r.gvr(), r)).collect();
                    monitors.retain(|gvr, task| {
                        let keep = wanted.contains_key(gvr);
                        if !keep {
                            tracing::info!(resource = ?gvr, "garbage collector: no longer served; not watched");
                            task.abort();
                        }
                        keep
                    });
                    for (gvr, r) in wanted {
                        monitors.entry(gvr).or_insert_with(|| {
                            tokio::spawn(shared.clone().monitor(r.clone(), stop.clone()))
                        });
                    }
                    if !started {
                        started = true;
                        let all: HashSet<Gvr> = monitors.keys().cloned().collect();
                        tracing::info!(
                            resources = all.len(),
                            "garbage collector: watching; waiting for the first lists"
                        );
                        tokio::select! {
                            _ = shared.wait_synced(&all) => {}
                            _ = stop.changed() => break,
                        }
                        for _ in 0..WORKERS {
                            workers.push(tokio::spawn(shared.clone().worker(stop.clone())));
                        }
                        tracing::info!(
                            objects = lock(&shared.graph).len(),
                            "garbage collector: running"
                        );
                    }
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %e, "garbage collector: discovery failed; retrying");
                }
            }
            let pause = if failures > 0 {
                queue::backoff(failures).max(MIN_DISCOVERY_INTERVAL)
            } else {
                DISCOVERY_PERIOD
            };
            tokio::select! {
                _ = stop.changed() => break,
                _ = tokio::time::sleep(pause) => {}
                _ = shared.rediscover.notified(), if failures == 0 => {
                    tokio::select! {
                        _ = stop.changed() => break,
                        _ = tokio::time::sleep(MIN_DISCOVERY_INTERVAL) => {}
                    }
                }
            }
            if *stop.borrow() {
                break;
            }
        }
        for (_, task) in monitors {
            task.abort();
        }
        for task in workers {
            task.abort();
        }
    }
}

impl Shared {
    async fn get_json(&self, path: &str) -> Result<Value, ClientError> {
        self.client.json("GET", path, None, None).await
    }

    /// Every served resource; the preferred versions' deletable ones are watched. A
    /// group version that fails is skipped (as Kubernetes' discovery tolerates).
    async fn discover(&self) -> Result<Discovered, ClientError> {
        let mut d = Discovered::default();
        let core = self.get_json("/api/v1").await?;
        d.add(discovery::parse_resources("", "v1", &core), true);
        let groups = self.get_json("/apis").await?;
        for g in discovery::parse_groups(&groups) {
            for v in &g.versions {
                match self.get_json(&format!("/apis/{}/{v}", g.name)).await {
                    Ok(doc) => d.add(
                        discovery::parse_resources(&g.name, v, &doc),
                        *v == g.preferred,
                    ),
                    Err(e) => tracing::warn!(group = %g.name, version = %v, error = %e,
                        "garbage collector: discovery of a group version failed"),
                }
            }
        }
        Ok(d)
    }

    async fn wait_synced(&self, all: &HashSet<Gvr>) {
        let deadline = tokio::time::Instant::now() + INITIAL_SYNC_TIMEOUT;
        loop {
            let notified = self.synced_changed.notified();
            let missing: Vec<Gvr> = {
                let synced = lock(&self.synced);
                all.iter()
                    .filter(|g| !synced.contains(*g))
                    .cloned()
                    .collect()
            };
            if missing.is_empty() {
                return;
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(unsynced = ?missing, "garbage collector: starting before every resource was listed");
                    return;
                }
            }
        }
    }

    /// Applies a monitor's changes to the graph and queues the work they make.
    fn apply(&self, r: &ApiResource, changes: Vec<Change<MetaObject>>) {
        let api_version = r.api_version();
        let info = |o: &MetaObject| ObjectInfo::from_meta(&api_version, &r.kind, &o.metadata);
        let mut work = Vec::new();
        {
            let mut g = lock(&self.graph);
            for change in changes {
                match change {
                    Change::Added(o) => {
                        work.extend(info(&o).map(|i| g.upsert(i)).unwrap_or_default())
                    }
                    Change::Updated { old, new } => {
                        if old.metadata.uid != new.metadata.uid
                            && let Some(uid) = &old.metadata.uid
                        {
                            work.extend(g.remove(uid));
                        }
                        work.extend(info(&new).map(|i| g.upsert(i)).unwrap_or_default());
                    }
                    Change::Deleted(o) => {
                        if let Some(uid) = &o.metadata.uid {
                            work.extend(g.remove(uid));
                        }
                    }
                    Change::Synced(_) => {}
                }
            }
        }
        for w in work {
            self.queue.add(w);
        }
    }

    /// Watches one resource for ever (until stopped or aborted), feeding the graph.
    async fn monitor(self: Arc<Self>, r: ApiResource, mut stop: watch::Receiver<bool>) {
        let gvr = r.gvr();
        let is_crd = r.group == "apiextensions.k8s.io" && r.plural == "customresourcedefinitions";
        let mut cache: Cache<MetaObject> = Cache::default();
        let mut failures = 0u32;
        loop {
            let mut w = self.client.watch(WatchRequest {
                group: r.group.clone(),
                version: r.version.clone(),
                resource: r.plural.clone(),
                namespace: None,
                label_selector: String::new(),
                field_selector: String::new(),
                from_revision: None,
                token: None,
            });
            loop {
                let event = tokio::select! {
                    _ = stop.changed() => return,
                    e = w.next() => e,
                };
                match event {
                    Ok(WatchEvent::Event {
                        kind,
                        revision,
                        object,
                    }) => {
                        failures = 0;
                        match metadata::decode(object.bytes()) {
                            Ok(m) => {
                                let changes = cache.apply(kind, revision, m);
                                if is_crd && cache.synced() {
                                    self.rediscover.notify_one();
                                }
                                self.apply(&r, changes);
                            }
                            Err(e) => tracing::warn!(resource = ?gvr, error = %e,
                                "garbage collector: an undecodable object; skipped"),
                        }
                    }
                    Ok(WatchEvent::Synced(rev)) => {
                        let changes = cache.synced_at(rev);
                        self.apply(&r, changes);
                        if lock(&self.synced).insert(gvr.clone()) {
                            self.synced_changed.notify_waiters();
                        }
                    }
                    Ok(WatchEvent::Relisting) => cache.relisting(),
                    Err(e) => {
                        tracing::warn!(resource = ?gvr, error = %e, "garbage collector: watch ended; watching again");
                        break;
                    }
                }
            }
            // A new watch starts with a full list: what it does not confirm is gone.
            cache.relisting();
            failures += 1;
            let pause = queue::backoff(failures).min(MONITOR_MAX_BACKOFF);
            tokio::select! {
                _ = stop.changed() => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn worker(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            let work = tokio::select! {
                _ = stop.changed() => return,
                w = self.queue.get() => w,
            };
            let result = match &work {
                Work::AttemptToDelete(uid) => self.attempt_to_delete(uid).await,
                Work::AttemptToOrphan(uid) => self.attempt_to_orphan(uid).await,
            };
            match result {
                Ok(()) => self.queue.forget(&work),
                Err(e) => {
                    let failures = self.queue.failures(&work) + 1;
                    // Conflicts and not-yet-discovered kinds settle by themselves.
                    if failures >= 3 {
                        tracing::warn!(?work, failures, error = %e, "garbage collector: will retry");
                    } else {
                        tracing::debug!(?work, failures, error = %e, "garbage collector: will retry");
                    }
                    self.queue.retry(work.clone());
                }
            }
            self.queue.done(&work);
        }
    }

    fn resource_for(&self, api_version: &str, kind: &str) -> Result<ApiResource, GcError> {
        let d = self
            .discovered
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match d.resource_for(api_version, kind) {
            Some(r) => Ok(r.clone()),
            None => {
                self.rediscover.notify_one();
                Err(GcError::Unmapped(api_version.into(), kind.into()))
            }
        }
    }

    /// The live metadata of the object at `path`; `None` if there is none.
    async fn get_meta(&self, path: &str) -> Result<Option<ObjectMeta>, GcError> {
        match self.get_json(path).await {
            Ok(v) => {
                let meta = serde_json::from_value::<ObjectMeta>(v["metadata"].clone())
                    .map_err(|e| ClientError::Protocol(format!("metadata of {path}: {e}")))?;
                Ok(Some(meta))
            }
            Err(e) if status_code(&e) == Some(404) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads the object, asks `change` for a merge patch (pinned to the
    /// resourceVersion read) and sends it; a conflict reads again. Done, without a
    /// write, if the object is gone, is another object (uid), or needs no change.
    async fn update_meta(
        &self,
        r: &ApiResource,
        id: &Identity,
        mut first: Option<ObjectMeta>,
        change: impl Fn(&ObjectMeta) -> Option<Value>,
    ) -> Result<(), GcError> {
        let path = r.object_path(id.namespace.as_deref(), &id.name);
        for _ in 0..MAX_CONFLICTS {
            let meta = match first.take() {
                Some(m) => m,
                None => match self.get_meta(&path).await? {
                    Some(m) => m,
                    None => return Ok(()),
                },
            };
            if meta.uid.as_deref() != Some(id.uid.as_str()) {
                return Ok(());
            }
            let Some(patch) = change(&meta) else {
                return Ok(());
            };
            match self
                .client
                .json(
                    "PATCH",
                    &path,
                    Some("application/merge-patch+json"),
                    Some(&patch),
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if status_code(&e) == Some(409) => continue,
                Err(e) if status_code(&e) == Some(404) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        Err(GcError::Conflicts(path))
    }

    async fn delete(
        &self,
        r: &ApiResource,
        id: &Identity,
        policy: decide::Policy,
    ) -> Result<(), GcError> {
        let path = r.object_path(id.namespace.as_deref(), &id.name);
        tracing::info!(object = %path, uid = %id.uid, policy = policy.as_str(),
            "garbage collector: deleting a dependent whose owners are gone");
        let body = decide::delete_options(policy, &id.uid);
        match self.client.json("DELETE", &path, None, Some(&body)).await {
            Ok(_) => Ok(()),
            Err(e) if status_code(&e) == Some(404) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// An owner reference's owner as the server has it now.
    async fn owner_state(
        &self,
        owner: &clipper_proto::api::meta::v1::OwnerReference,
        dependent_namespace: Option<&str>,
    ) -> Result<OwnerState, GcError> {
        let r = self.resource_for(&owner.api_version, &owner.kind)?;
        if r.namespaced && dependent_namespace.is_none() {
            // A cluster-scoped object cannot be owned by a namespaced one: such a
            // reference resolves to nothing.
            return Ok(OwnerState::Absent);
        }
        let path = r.object_path(dependent_namespace, &owner.name);
        Ok(match self.get_meta(&path).await? {
            Some(m) if m.uid.as_deref() == Some(owner.uid.as_str()) => OwnerState::Present {
                deleting_dependents: m.deletion_timestamp.is_some()
                    && m.finalizers
                        .as_deref()
                        .unwrap_or(&[])
                        .iter()
                        .any(|f| f == FOREGROUND),
            },
            _ => OwnerState::Absent,
        })
    }

    async fn attempt_to_delete(&self, uid: &str) -> Result<(), GcError> {
        let Some(node) = lock(&self.graph).view(uid) else {
            return Ok(());
        };
        if !node.observed || (node.deleting && !node.deleting_dependents) {
            return Ok(());
        }
        let id = node.identity;
        let r = self.resource_for(&id.api_version, &id.kind)?;
        let Some(live) = self
            .get_meta(&r.object_path(id.namespace.as_deref(), &id.name))
            .await?
        else {
            // Gone: its watch will tell the graph.
            return Ok(());
        };
        if live.uid.as_deref() != Some(uid) {
            return Ok(());
        }
        let finalizers = live.finalizers.clone().unwrap_or_default();
        if live.deletion_timestamp.is_some() {
            if !finalizers.iter().any(|f| f == FOREGROUND) {
                return Ok(());
            }
            // Deleting in the foreground: done once no dependent blocks.
            let blocking = lock(&self.graph).blocking_dependents(uid);
            if blocking.is_empty() {
                tracing::info!(object = %id.name, uid, "garbage collector: no blocking dependent left; removing foregroundDeletion");
                return self
                    .update_meta(&r, &id, Some(live), |m| {
                        decide::remove_finalizer_patch(m, FOREGROUND)
                    })
                    .await;
            }
            for b in blocking {
                if !b.deleting_dependents {
                    self.queue.add(Work::AttemptToDelete(b.uid));
                }
            }
            return Ok(());
        }
        let refs = live.owner_references.clone().unwrap_or_default();
        if refs.is_empty() {
            return Ok(());
        }
        let mut classified = Classified::default();
        for owner in refs {
            let state = self.owner_state(&owner, id.namespace.as_deref()).await?;
            classified.add(owner, state);
        }
        let (has_dependents, dependent_waits) = {
            let g = lock(&self.graph);
            (
                g.view(uid).is_some_and(|n| n.dependents > 0),
                g.a_dependent_deletes_dependents(uid),
            )
        };
        match decide::decide(&finalizers, &classified, has_dependents, dependent_waits) {
            Decision::Keep => Ok(()),
            Decision::DropReferences(uids) => {
                tracing::info!(object = %id.name, uid, owners = ?uids, "garbage collector: removing references to owners that are gone or going");
                self.update_meta(&r, &id, Some(live), |m| {
                    let kept = decide::without_owners(m, &uids)?;
                    Some(decide::owner_references_patch(
                        &kept,
                        m.resource_version.as_deref().unwrap_or(""),
                    ))
                })
                .await
            }
            Decision::Delete { policy, unblock } => {
                if unblock {
                    let waiting: Vec<String> =
                        classified.waiting.iter().map(|o| o.uid.clone()).collect();
                    self.update_meta(&r, &id, Some(live), |m| {
                        let refs = decide::unblocked(m, &waiting)?;
                        Some(decide::owner_references_patch(
                            &refs,
                            m.resource_version.as_deref().unwrap_or(""),
                        ))
                    })
                    .await?;
                }
                self.delete(&r, &id, policy).await
            }
        }
    }

    async fn attempt_to_orphan(&self, uid: &str) -> Result<(), GcError> {
        let (owner, dependents) = {
            let g = lock(&self.graph);
            match g.view(uid) {
                Some(n) => (n.identity, g.dependents(uid)),
                None => return Ok(()),
            }
        };
        let mut first_error = None;
        let owner_uid = [uid.to_string()];
        for d in &dependents {
            let result = match self.resource_for(&d.api_version, &d.kind) {
                Ok(r) => {
                    self.update_meta(&r, d, None, |m| {
                        let kept = decide::without_owners(m, &owner_uid)?;
                        Some(decide::owner_references_patch(
                            &kept,
                            m.resource_version.as_deref().unwrap_or(""),
                        ))
                    })
                    .await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        tracing::info!(object = %owner.name, uid, dependents = dependents.len(), "garbage collector: dependents orphaned; removing the orphan finalizer");
        let r = self.resource_for(&owner.api_version, &owner.kind)?;
        self.update_meta(&r, &owner, None, |m| {
            decide::remove_finalizer_patch(m, ORPHAN)
        })
        .await
    }
}
