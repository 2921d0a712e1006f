//! The scheduler's loop: it keeps the decision core's node cache current from informers
//! over the QUIC node protocol (Nodes, Pods, Namespaces, PodDisruptionBudgets), queues
//! the pods that are ours and unbound (by priority, with backoff — see [`queue`]), places
//! each with `clipper_scheduler::Scheduler` under the profile its `schedulerName` names,
//! assumes the placement, and binds through `pods/binding` — a call on the same QUIC
//! connection as the watches — without waiting:
//! binds run concurrently while the next pod is decided, as kube-scheduler's binding
//! cycle does. A failed bind forgets the assumption and backs off.
//!
//! A pod that fits nowhere is planned for preemption (DefaultPreemption): the preemptor
//! is nominated to the chosen node (`status.nominatedNodeName`), each victim gets the
//! `DisruptionTarget` condition, an event, and is deleted — those writes run in a task
//! off the loop (kube-scheduler's asynchronous preemption), and the preemptor is not
//! retried until they are done; until the preemptor binds, lower-priority pods are
//! filtered as if it already ran there. `FailedScheduling` events are written off the
//! loop too. `FailedScheduling`,
//! `Scheduled` and `Preempted` events are worded as kube-scheduler words them.
//!
//! Unschedulable pods wait for a cluster event that could make them fit (a node added
//! or changed, an assigned pod deleted, or for pods with affinity or spread terms an
//! assigned pod added), or at most five minutes — never a polling loop.

pub mod queue;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clipper_client::{Change, ClientError, Informer, QuicClient};
use clipper_proto::api::core::v1::{Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod};
use clipper_proto::api::policy::v1::PodDisruptionBudget;
use clipper_proto::api::storage::v1::StorageClass;
use clipper_proto::selector::LabelSelectorExpr;
use clipper_proto::wire::WatchRequest;
use clipper_scheduler::preemption::{self, Pdb};
use clipper_scheduler::schedule::Rng;
use clipper_scheduler::{Cache, Config, Nominated, PodInfo, ScheduleError, Scheduler};
use serde_json::json;
use tokio::sync::{mpsc, watch};

use queue::{Backoff, Hint, Key, Queue};

/// API writes in flight at most (binds, preemptions, events); the loop stops deciding
/// while this many are outstanding.
pub const MAX_INFLIGHT_WRITES: usize = 512;

/// What the loop did, for tests and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub bound: u64,
    pub failed_attempts: u64,
    pub bind_errors: u64,
    /// Preemptions carried out (a preemptor nominated and its victims deleted).
    pub preemptions: u64,
    pub victims: u64,
}

fn key_of(p: &Pod) -> Key {
    (
        p.metadata.namespace.clone().unwrap_or_default(),
        p.metadata.name.clone().unwrap_or_default(),
    )
}

fn node_name(p: &Pod) -> &str {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
}

fn scheduler_name(p: &Pod) -> &str {
    p.spec
        .as_ref()
        .and_then(|s| s.scheduler_name.as_deref())
        .unwrap_or("default-scheduler")
}

fn priority(p: &Pod) -> i32 {
    p.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

fn nominated_node(p: &Pod) -> Option<&str> {
    p.status
        .as_ref()
        .and_then(|s| s.nominated_node_name.as_deref())
        .filter(|n| !n.is_empty())
}

fn now_rfc3339() -> String {
    clipper_proto::Time::now().to_string()
}

/// Whether a Node change can make an unschedulable pod fit (kube-scheduler's
/// NodeUpdate hints: allocatable, labels, taints, unschedulable).
fn node_change_matters(old: &Node, new: &Node) -> bool {
    let spec = |n: &Node| n.spec.as_ref().map(|s| (s.unschedulable, s.taints.clone()));
    let alloc = |n: &Node| n.status.as_ref().map(|s| s.allocatable.clone());
    old.metadata.labels != new.metadata.labels || spec(old) != spec(new) || alloc(old) != alloc(new)
}

fn pdb_of(p: &PodDisruptionBudget) -> Option<Pdb> {
    let spec = p.spec.as_ref()?;
    let selector = LabelSelectorExpr::from_api(spec.selector.as_ref()).ok()?;
    let status = p.status.as_ref();
    Some(Pdb {
        namespace: p.metadata.namespace.clone().unwrap_or_default(),
        selector,
        disruptions_allowed: status.map_or(0, |s| s.disruptions_allowed),
        disrupted_pods: status
            .and_then(|s| s.disrupted_pods.as_ref())
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
    })
}

/// The outcome of a write task spawned by the loop.
enum Done {
    Bind {
        key: Key,
        result: Result<(), ClientError>,
    },
    /// A preemption carried out: whether the nomination was written, victims deleted.
    Preempt {
        key: Key,
        node: String,
        nominated: bool,
        victims: u64,
    },
    /// An event recorded (or not: events are best effort).
    Event,
}

pub struct SchedulerLoop {
    /// Watches, and writes (bindings, events, preemption) as calls on the same QUIC
    /// connection.
    api: Arc<QuicClient>,
    nodes: Informer<Node>,
    pods: Informer<Pod>,
    namespaces: Informer<Namespace>,
    pdbs: Informer<PodDisruptionBudget>,
    claims: Informer<PersistentVolumeClaim>,
    volumes: Informer<PersistentVolume>,
    classes: Informer<StorageClass>,
    cache: Cache,
    /// By schedulerName.
    profiles: HashMap<String, Scheduler>,
    queue: Queue,
    /// Unbound pods of ours, by key (the latest version seen).
    pending: HashMap<Key, Arc<Pod>>,
    nominated: Nominated,
    /// Pods whose preemption's API writes are still under way: not retried until done
    /// (kube-scheduler's asynchronous preemption).
    preempting: HashSet<Key>,
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: mpsc::UnboundedReceiver<Done>,
    /// Write tasks running, at most [`MAX_INFLIGHT_WRITES`].
    inflight: usize,
    pub stats: Stats,
}

impl SchedulerLoop {
    pub fn new(quic: &Arc<QuicClient>, config: Config, seed: u64) -> SchedulerLoop {
        let watch = |group: &str, resource: &str| WatchRequest {
            group: group.into(),
            version: "v1".into(),
            resource: resource.into(),
            ..Default::default()
        };
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let backoff = Backoff {
            initial: Duration::from_secs(config.pod_initial_backoff_seconds),
            max: Duration::from_secs(config.pod_max_backoff_seconds),
        };
        SchedulerLoop {
            api: quic.clone(),
            nodes: Informer::new(quic.watch(watch("", "nodes"))),
            pods: Informer::new(quic.watch(watch("", "pods"))),
            namespaces: Informer::new(quic.watch(watch("", "namespaces"))),
            pdbs: Informer::new(quic.watch(watch("policy", "poddisruptionbudgets"))),
            claims: Informer::new(quic.watch(watch("", "persistentvolumeclaims"))),
            volumes: Informer::new(quic.watch(watch("", "persistentvolumes"))),
            classes: Informer::new(quic.watch(watch("storage.k8s.io", "storageclasses"))),
            cache: Cache::new(),
            profiles: config
                .profiles
                .into_iter()
                .enumerate()
                .map(|(i, p)| (p.scheduler_name.clone(), Scheduler::new(p, seed + i as u64)))
                .collect(),
            queue: Queue::new(backoff),
            pending: HashMap::new(),
            nominated: Nominated::default(),
            preempting: HashSet::new(),
            done_tx,
            done_rx,
            inflight: 0,
            stats: Stats::default(),
        }
    }

    fn synced(&self) -> bool {
        self.nodes.cache().synced()
            && self.pods.cache().synced()
            && self.namespaces.cache().synced()
            && self.pdbs.cache().synced()
            && self.claims.cache().synced()
            && self.volumes.cache().synced()
            && self.classes.cache().synced()
    }

    /// Runs until `stop` turns true or a watch fails for good.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) -> Result<Stats, ClientError> {
        loop {
            let now = Instant::now();
            self.queue.flush_unschedulable(now);
            let work =
                self.synced() && self.inflight < MAX_INFLIGHT_WRITES && self.queue.has_ready(now);
            let deadline = self.queue.next_deadline();
            let timer = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = stop.changed() => return Ok(self.stats),
                done = self.done_rx.recv() => {
                    if let Some(done) = done {
                        self.write_done(done);
                    }
                }
                changes = self.nodes.next() => {
                    let changes = changes?;
                    self.on_nodes(changes);
                }
                changes = self.pods.next() => {
                    let changes = changes?;
                    self.on_pods(changes);
                }
                changes = self.namespaces.next() => {
                    let changes = changes?;
                    self.on_namespaces(changes);
                }
                changes = self.pdbs.next() => {
                    // Read from the informer's cache when preemption needs them.
                    let _ = changes?;
                }
                changes = self.claims.next() => {
                    let changes = changes?;
                    self.on_claims(changes);
                }
                changes = self.volumes.next() => {
                    let changes = changes?;
                    self.on_volumes(changes);
                }
                changes = self.classes.next() => {
                    let changes = changes?;
                    self.on_classes(changes);
                }
                _ = std::future::ready(()), if work => {
                    self.schedule_one();
                }
                _ = timer => {}
            }
        }
    }

    fn on_nodes(&mut self, changes: Vec<Change<Node>>) {
        let mut wake = false;
        for c in changes {
            match c {
                Change::Added(n) => {
                    self.cache.upsert_node(&n);
                    wake = true;
                }
                Change::Updated { old, new } => {
                    self.cache.upsert_node(&new);
                    wake |= node_change_matters(&old, &new);
                }
                Change::Deleted(n) => {
                    let _ = self
                        .cache
                        .remove_node(n.metadata.name.as_deref().unwrap_or(""));
                }
                Change::Synced(_) => wake = true,
            }
        }
        if wake {
            self.queue.on_event(Instant::now(), Hint::All);
        }
    }

    /// A claim bound, a volume or class appearing: pods waiting on them may fit now.
    fn on_claims(&mut self, changes: Vec<Change<PersistentVolumeClaim>>) {
        let mut wake = false;
        for c in changes {
            match c {
                Change::Added(x) | Change::Updated { new: x, .. } => {
                    self.cache.upsert_claim(&x);
                    wake = true;
                }
                Change::Deleted(x) => self.cache.remove_claim(
                    x.metadata.namespace.as_deref().unwrap_or(""),
                    x.metadata.name.as_deref().unwrap_or(""),
                ),
                Change::Synced(_) => {}
            }
        }
        if wake {
            self.queue.on_event(Instant::now(), Hint::All);
        }
    }

    fn on_volumes(&mut self, changes: Vec<Change<PersistentVolume>>) {
        let mut wake = false;
        for c in changes {
            match c {
                Change::Added(x) | Change::Updated { new: x, .. } => {
                    self.cache.upsert_volume(&x);
                    wake = true;
                }
                Change::Deleted(x) => self
                    .cache
                    .remove_volume(x.metadata.name.as_deref().unwrap_or("")),
                Change::Synced(_) => {}
            }
        }
        if wake {
            self.queue.on_event(Instant::now(), Hint::All);
        }
    }

    fn on_classes(&mut self, changes: Vec<Change<StorageClass>>) {
        for c in changes {
            match c {
                Change::Added(x) | Change::Updated { new: x, .. } => {
                    self.cache.upsert_storage_class(&x)
                }
                Change::Deleted(x) => self
                    .cache
                    .remove_storage_class(x.metadata.name.as_deref().unwrap_or("")),
                Change::Synced(_) => {}
            }
        }
    }

    fn on_namespaces(&mut self, changes: Vec<Change<Namespace>>) {
        for c in changes {
            match c {
                Change::Added(n) | Change::Updated { new: n, .. } => {
                    let labels = n
                        .metadata
                        .labels
                        .as_ref()
                        .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                        .unwrap_or_default();
                    self.cache
                        .upsert_namespace(n.metadata.name.as_deref().unwrap_or(""), labels);
                }
                Change::Deleted(_) | Change::Synced(_) => {}
            }
        }
    }

    fn on_pods(&mut self, changes: Vec<Change<Pod>>) {
        let mut hint: Option<Hint> = None;
        let mut raise = |h: Hint| {
            hint = Some(match (hint, h) {
                (Some(Hint::All), _) | (_, Hint::All) => Hint::All,
                _ => h,
            })
        };
        for c in changes {
            match c {
                Change::Added(p) => {
                    if self.pod_seen(p) {
                        raise(Hint::AssignedPodAdded);
                    }
                }
                Change::Updated { old, new } => {
                    let bound_before = !node_name(&old).is_empty();
                    if bound_before {
                        let (ns, name) = key_of(&old);
                        self.cache.remove_pod(&ns, &name);
                    }
                    let labels_changed = old.metadata.labels != new.metadata.labels;
                    if self.pod_seen(new) && (!bound_before || labels_changed) {
                        raise(Hint::AssignedPodAdded);
                    }
                }
                Change::Deleted(p) => {
                    let k = key_of(&p);
                    self.pending.remove(&k);
                    self.queue.remove(&k);
                    self.nominated.remove(&k.0, &k.1);
                    if self.cache.remove_pod(&k.0, &k.1) {
                        // Room freed: what did not fit may fit now.
                        raise(Hint::All);
                    }
                }
                Change::Synced(_) => {}
            }
        }
        if let Some(h) = hint {
            self.queue.on_event(Instant::now(), h);
        }
    }

    /// Takes in a pod's latest version; returns whether it is an assigned pod.
    fn pod_seen(&mut self, p: Arc<Pod>) -> bool {
        let k = key_of(&p);
        let terminating = p.metadata.deletion_timestamp.is_some();
        if !node_name(&p).is_empty() {
            self.pending.remove(&k);
            self.queue.remove(&k);
            self.nominated.remove(&k.0, &k.1);
            if let Err(e) = self.cache.add_pod(&p) {
                tracing::debug!(error = %e, "pod already in the cache");
            }
            true
        } else if self.profiles.contains_key(scheduler_name(&p)) && !terminating {
            if let Some(node) = nominated_node(&p)
                && self.nominated.node_of(&k.0, &k.1) != Some(node)
            {
                // Nominated earlier (by us before a restart, or by another instance).
                self.nominated.add(Arc::new(PodInfo::from_pod(&p)), node);
            }
            self.queue.add(k.clone(), priority(&p), Instant::now());
            self.pending.insert(k, p);
            false
        } else {
            self.pending.remove(&k);
            self.queue.remove(&k);
            false
        }
    }

    fn write_done(&mut self, done: Done) {
        self.inflight -= 1;
        let (k, result) = match done {
            Done::Bind { key, result } => (key, result),
            Done::Preempt {
                key,
                node,
                nominated,
                victims,
            } => {
                self.preempting.remove(&key);
                self.stats.victims += victims;
                if nominated {
                    self.stats.preemptions += 1;
                } else if self.nominated.node_of(&key.0, &key.1) == Some(node.as_str()) {
                    self.nominated.remove(&key.0, &key.1);
                }
                // Its victims' deletions may have been seen while it was held back.
                self.queue.wake(&key, Instant::now());
                return;
            }
            Done::Event => return,
        };
        match result {
            Ok(()) => {
                self.stats.bound += 1;
                self.pending.remove(&k);
                self.queue.remove(&k);
                self.nominated.remove(&k.0, &k.1);
            }
            Err(e) => {
                self.stats.bind_errors += 1;
                let _ = self.cache.forget(&k.0, &k.1);
                let gone = matches!(&e, ClientError::Status(s) if s.code == 404);
                if gone {
                    self.pending.remove(&k);
                    self.queue.remove(&k);
                } else {
                    tracing::warn!(error = %e, pod = %format!("{}/{}", k.0, k.1), "binding failed");
                    self.queue.failed(k, Instant::now(), false, false);
                }
            }
        }
    }

    fn schedule_one(&mut self) {
        let Some(k) = self.queue.pop(Instant::now()) else {
            return;
        };
        let Some(pod) = self.pending.get(&k).cloned() else {
            self.queue.remove(&k);
            return;
        };
        if self.preempting.contains(&k) {
            // Its preemption is still being carried out; `write_done` wakes it.
            self.queue.failed(k, Instant::now(), true, false);
            return;
        }
        let Some(sched) = self.profiles.get_mut(scheduler_name(&pod)) else {
            self.queue.remove(&k);
            return;
        };
        let info = PodInfo::from_pod(&pod);
        let snap = self.cache.snapshot();
        let component = sched.profile.scheduler_name.clone();
        let err = match sched.schedule_with(&snap, &info, &self.nominated) {
            Ok(result) => {
                if let Err(e) = self.cache.assume(&info, &result.node) {
                    tracing::warn!(error = %e, pod = %info.key(), "cannot assume");
                    self.queue.failed(k, Instant::now(), false, false);
                    return;
                }
                let api = self.api.clone();
                self.spawn_write(async move {
                    let node = result.node;
                    let result = bind(&api, &pod, &node).await;
                    if result.is_ok() {
                        let (ns, name) = &k;
                        let message = format!("Successfully assigned {ns}/{name} to {node}");
                        event(&api, &component, &pod, "Normal", "Scheduled", &message).await;
                    }
                    Done::Bind { key: k, result }
                });
                return;
            }
            Err(err) => err,
        };
        self.stats.failed_attempts += 1;
        let mut plan = None;
        let message = match err {
            ScheduleError::NoNodes => "no nodes available to schedule pods".to_string(),
            ScheduleError::Fit(mut f) => {
                if sched.profile.preemption {
                    let pdbs: Vec<Pdb> = self
                        .pdbs
                        .cache()
                        .list()
                        .iter()
                        .filter_map(|p| pdb_of(p))
                        .collect();
                    let mut rng = Rng::new(sched.rng().next_u64());
                    let nominated_to = self.nominated.node_of(&k.0, &k.1);
                    match preemption::eligible_to_preempt(&snap, &info, nominated_to).and_then(
                        |()| {
                            preemption::plan(
                                sched,
                                &snap,
                                &info,
                                &f,
                                &pdbs,
                                &self.nominated,
                                &mut rng,
                            )
                        },
                    ) {
                        Ok(p) => plan = Some(p),
                        Err(msg) => f.post_filter_msg = Some(msg),
                    }
                }
                f.to_string()
            }
        };
        if let Some(plan) = plan {
            self.preempt(&pod, &info, plan, &component);
        }
        let wakes = !info.required_affinity.is_empty() || !info.spread.is_empty();
        self.queue.failed(k, Instant::now(), true, wakes);
        let api = self.api.clone();
        self.spawn_write(async move {
            event(
                &api,
                &component,
                &pod,
                "Warning",
                "FailedScheduling",
                &message,
            )
            .await;
            Done::Event
        });
    }

    /// Runs an API write off the loop; its outcome comes back through `done_rx`.
    fn spawn_write(&mut self, task: impl std::future::Future<Output = Done> + Send + 'static) {
        self.inflight += 1;
        let tx = self.done_tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(task.await);
        });
    }

    /// Carries out a preemption plan off the loop, as kube-scheduler's asynchronous
    /// preemption does: the nomination counts at once (lower-priority pods are kept off
    /// the node from the next cycle on), while a task writes it and marks and deletes the
    /// victims. The preemptor is not retried until that task is done.
    fn preempt(&mut self, pod: &Arc<Pod>, info: &PodInfo, plan: preemption::Plan, component: &str) {
        let key = key_of(pod);
        self.nominated.add(Arc::new(info.clone()), &plan.node);
        self.preempting.insert(key.clone());
        let victims: Vec<(String, String, Option<Arc<Pod>>)> = plan
            .victims
            .iter()
            .map(|v| {
                let cached = self.pods.cache().get(&v.namespace, &v.name);
                (v.namespace.clone(), v.name.clone(), cached)
            })
            .collect();
        let api = self.api.clone();
        let pod = pod.clone();
        let component = component.to_string();
        let node = plan.node;
        self.spawn_write(async move {
            let (nominated, deleted) = carry_out(&api, &pod, &node, &victims, &component).await;
            Done::Preempt {
                key,
                node,
                nominated,
                victims: deleted,
            }
        });
    }
}

/// A preemption's writes: nominate the preemptor, then per victim the
/// `DisruptionTarget` condition, the delete and a `Preempted` event. Returns whether the
/// nomination was written and how many victims were deleted.
async fn carry_out(
    api: &QuicClient,
    pod: &Pod,
    node: &str,
    victims: &[(String, String, Option<Arc<Pod>>)],
    component: &str,
) -> (bool, u64) {
    let (ns, name) = key_of(pod);
    let nominate = json!({"status": {"nominatedNodeName": node}});
    if let Err(e) = api
        .json(
            "PATCH",
            &format!("/api/v1/namespaces/{ns}/pods/{name}/status"),
            Some("application/merge-patch+json"),
            Some(&nominate),
        )
        .await
    {
        tracing::warn!(error = %e, pod = %format!("{ns}/{name}"), "cannot set nominatedNodeName");
        return (false, 0);
    }
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let mut deleted = 0;
    for (vns, vname, cached) in victims {
        let path = format!("/api/v1/namespaces/{vns}/pods/{vname}");
        let condition = json!({"status": {"conditions": [{
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "PreemptionByScheduler",
            "message": format!("{component}: preempting to accommodate a higher priority pod"),
            "lastTransitionTime": now_rfc3339(),
        }]}});
        if let Err(e) = api
            .json(
                "PATCH",
                &format!("{path}/status"),
                Some("application/strategic-merge-patch+json"),
                Some(&condition),
            )
            .await
        {
            tracing::debug!(error = %e, victim = %format!("{vns}/{vname}"), "DisruptionTarget condition");
        }
        match api.json("DELETE", &path, None, None).await {
            Ok(_) => {
                deleted += 1;
                if let Some(victim) = cached {
                    event(
                        api,
                        component,
                        victim,
                        "Normal",
                        "Preempted",
                        &format!("Preempted by pod {uid} on node {node}"),
                    )
                    .await;
                }
            }
            Err(ClientError::Status(s)) if s.code == 404 => {}
            Err(e) => {
                tracing::warn!(error = %e, victim = %format!("{vns}/{vname}"), "cannot delete victim")
            }
        }
    }
    (true, deleted)
}

async fn bind(api: &QuicClient, pod: &Pod, node: &str) -> Result<(), ClientError> {
    let (ns, name) = key_of(pod);
    let binding = json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": name, "namespace": ns, "uid": pod.metadata.uid},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    api.json(
        "POST",
        &format!("/api/v1/namespaces/{ns}/pods/{name}/binding"),
        None,
        Some(&binding),
    )
    .await
    .map(|_| ())
}

/// A core/v1 Event about `pod` (what `kubectl describe pod` lists).
async fn event(
    api: &QuicClient,
    component: &str,
    pod: &Pod,
    type_: &str,
    reason: &str,
    message: &str,
) {
    let (ns, name) = key_of(pod);
    let now = now_rfc3339();
    let ev = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": format!("{name}."), "namespace": ns},
        "involvedObject": {
            "apiVersion": "v1", "kind": "Pod", "namespace": ns, "name": name,
            "uid": pod.metadata.uid, "resourceVersion": pod.metadata.resource_version,
        },
        "reason": reason,
        "message": message,
        "type": type_,
        "source": {"component": component},
        "reportingComponent": component,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    });
    if let Err(e) = api
        .json(
            "POST",
            &format!("/api/v1/namespaces/{ns}/events"),
            None,
            Some(&ev),
        )
        .await
    {
        tracing::debug!(error = %e, "recording an event failed");
    }
}
