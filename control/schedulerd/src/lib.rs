//! The scheduler's loop: it keeps the decision core's node cache current from informers
//! over the QUIC node protocol (Nodes, and Pods for what runs where), queues the pods
//! that are ours and unbound, places each with `clipper_scheduler::Scheduler`, assumes
//! the placement, binds through `pods/binding` over HTTPS, and records `Scheduled` or
//! `FailedScheduling` events as kube-scheduler words them.
//!
//! Unschedulable pods wait in their own set and go back to the active queue on a cluster
//! event that could make them fit (a node added or changed, a pod deleted), not by
//! polling. Preemption and the PriorityClass order of the queue are not wired here yet.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use clipper_client::{Change, ClientError, Informer, QuicClient, RestClient};
use clipper_proto::api::core::v1::{Node, Pod};
use clipper_proto::wire::WatchRequest;
use clipper_scheduler::{Cache, PodInfo, Profile, ScheduleError, Scheduler};
use serde_json::json;
use tokio::sync::watch;

/// Pods waiting in the active queue at most; more are picked up as the queue drains
/// (they stay known in `pending`).
pub const MAX_ACTIVE: usize = 100_000;

/// What the loop did, for tests and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub bound: u64,
    pub failed_attempts: u64,
    pub bind_errors: u64,
}

type Key = (String, String);

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

fn now_rfc3339() -> String {
    clipper_proto::Time::now().to_string()
}

pub struct SchedulerLoop {
    rest: Arc<RestClient>,
    nodes: Informer<Node>,
    pods: Informer<Pod>,
    cache: Cache,
    scheduler: Scheduler,
    profile_name: String,
    /// Unbound pods of ours, by key (the latest version seen).
    pending: HashMap<Key, Arc<Pod>>,
    active: VecDeque<Key>,
    queued: BTreeSet<Key>,
    unschedulable: BTreeSet<Key>,
    pub stats: Stats,
}

impl SchedulerLoop {
    pub fn new(
        quic: &Arc<QuicClient>,
        rest: Arc<RestClient>,
        profile: Profile,
        seed: u64,
    ) -> SchedulerLoop {
        let watch = |resource: &str| WatchRequest {
            version: "v1".into(),
            resource: resource.into(),
            ..Default::default()
        };
        SchedulerLoop {
            rest,
            nodes: Informer::new(quic.watch(watch("nodes"))),
            pods: Informer::new(quic.watch(watch("pods"))),
            cache: Cache::new(),
            profile_name: profile.scheduler_name.clone(),
            scheduler: Scheduler::new(profile, seed),
            pending: HashMap::new(),
            active: VecDeque::new(),
            queued: BTreeSet::new(),
            unschedulable: BTreeSet::new(),
            stats: Stats::default(),
        }
    }

    /// Runs until `stop` turns true or a watch fails for good.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) -> Result<Stats, ClientError> {
        loop {
            let synced = self.nodes.cache().synced() && self.pods.cache().synced();
            let work = synced && !self.active.is_empty();
            tokio::select! {
                biased;
                _ = stop.changed() => return Ok(self.stats),
                changes = self.nodes.next() => {
                    let changes = changes?;
                    self.on_nodes(changes);
                }
                changes = self.pods.next() => {
                    let changes = changes?;
                    self.on_pods(changes);
                }
                _ = std::future::ready(()), if work => {
                    self.schedule_one().await;
                }
            }
        }
    }

    fn wake_unschedulable(&mut self) {
        for k in std::mem::take(&mut self.unschedulable) {
            self.enqueue(k);
        }
    }

    fn enqueue(&mut self, k: Key) {
        if self.active.len() < MAX_ACTIVE && self.queued.insert(k.clone()) {
            self.active.push_back(k);
        }
    }

    fn on_nodes(&mut self, changes: Vec<Change<Node>>) {
        let mut changed = false;
        for c in changes {
            match c {
                Change::Added(n) | Change::Updated { new: n, .. } => {
                    self.cache.upsert_node(&n);
                    changed = true;
                }
                Change::Deleted(n) => {
                    let _ = self
                        .cache
                        .remove_node(n.metadata.name.as_deref().unwrap_or(""));
                }
                Change::Synced(_) => changed = true,
            }
        }
        if changed {
            self.wake_unschedulable();
        }
    }

    fn on_pods(&mut self, changes: Vec<Change<Pod>>) {
        for c in changes {
            match c {
                Change::Added(p) => self.pod_seen(p),
                Change::Updated { old, new } => {
                    let bound_before = !node_name(&old).is_empty();
                    if bound_before {
                        let (ns, name) = key_of(&old);
                        self.cache.remove_pod(&ns, &name);
                    }
                    self.pod_seen(new);
                }
                Change::Deleted(p) => {
                    let k = key_of(&p);
                    self.pending.remove(&k);
                    self.unschedulable.remove(&k);
                    self.queued.remove(&k);
                    if self.cache.remove_pod(&k.0, &k.1) {
                        // Room freed: what did not fit may fit now.
                        self.wake_unschedulable();
                    }
                }
                Change::Synced(_) => {}
            }
        }
    }

    fn pod_seen(&mut self, p: Arc<Pod>) {
        let k = key_of(&p);
        let terminating = p.metadata.deletion_timestamp.is_some();
        if !node_name(&p).is_empty() {
            self.pending.remove(&k);
            self.unschedulable.remove(&k);
            self.queued.remove(&k);
            if let Err(e) = self.cache.add_pod(&p) {
                tracing::debug!(error = %e, "pod already in the cache");
            }
        } else if scheduler_name(&p) == self.profile_name && !terminating {
            self.pending.insert(k.clone(), p);
            if !self.unschedulable.contains(&k) {
                self.enqueue(k);
            }
        } else {
            self.pending.remove(&k);
        }
    }

    async fn schedule_one(&mut self) {
        let Some(k) = self.active.pop_front() else {
            return;
        };
        self.queued.remove(&k);
        let Some(pod) = self.pending.get(&k).cloned() else {
            return;
        };
        let info = PodInfo::from_pod(&pod);
        let snap = self.cache.snapshot();
        match self.scheduler.schedule(&snap, &info) {
            Ok(result) => {
                if let Err(e) = self.cache.assume(&info, &result.node) {
                    tracing::warn!(error = %e, pod = %info.key(), "cannot assume");
                    return;
                }
                match self.bind(&pod, &result.node).await {
                    Ok(()) => {
                        self.stats.bound += 1;
                        self.pending.remove(&k);
                        self.event(
                            &pod,
                            "Normal",
                            "Scheduled",
                            &format!("Successfully assigned {}/{} to {}", k.0, k.1, result.node),
                        )
                        .await;
                    }
                    Err(e) => {
                        self.stats.bind_errors += 1;
                        let _ = self.cache.forget(&k.0, &k.1);
                        let gone = matches!(&e, ClientError::Status(s) if s.code == 404);
                        if !gone {
                            // Retried on the next cluster event, never in a tight loop.
                            tracing::warn!(error = %e, pod = %info.key(), "binding failed");
                            self.unschedulable.insert(k);
                        }
                    }
                }
            }
            Err(err) => {
                self.stats.failed_attempts += 1;
                let message = match &err {
                    ScheduleError::NoNodes => "no nodes available to schedule pods".to_string(),
                    ScheduleError::Fit(f) => f.to_string(),
                };
                self.unschedulable.insert(k);
                self.event(&pod, "Warning", "FailedScheduling", &message)
                    .await;
            }
        }
    }

    async fn bind(&self, pod: &Pod, node: &str) -> Result<(), ClientError> {
        let (ns, name) = key_of(pod);
        let binding = json!({
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": ns, "uid": pod.metadata.uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        });
        self.rest
            .create(
                &format!("/api/v1/namespaces/{ns}/pods/{name}/binding"),
                &binding,
            )
            .await
            .map(|_| ())
    }

    /// A core/v1 Event about `pod` (what `kubectl describe pod` lists).
    async fn event(&self, pod: &Pod, type_: &str, reason: &str, message: &str) {
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
            "source": {"component": self.profile_name},
            "reportingComponent": self.profile_name,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        });
        if let Err(e) = self
            .rest
            .create(&format!("/api/v1/namespaces/{ns}/events"), &ev)
            .await
        {
            tracing::debug!(error = %e, "recording an event failed");
        }
    }
}
