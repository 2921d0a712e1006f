//! What the workload controllers share, as kube-controller-manager's `pkg/controller`
//! does: informers feeding shared caches, expectations, pod predicates, controller
//! references and the adopt/release rules (`ControllerRefManager`).
//!
//! An [`Informed`] cache is kept by [`inform`] (a QUIC watch that resumes, relists, and
//! is started again with backoff when it ends), which hands every change to the
//! controller's event handler after the cache is updated. Workers read the caches;
//! writes go to the server.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use clipper_client::informer::{Change, Decodable};
use clipper_client::{Cache, ClientError, QuicClient, WatchEvent};
use clipper_proto::api::core::v1::Pod;
use clipper_proto::api::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use clipper_proto::selector::LabelSelectorExpr;
use clipper_proto::wire::WatchRequest;
use serde_json::{Value, json};
use tokio::sync::watch;

/// Longest pause before an informer whose watch ended watches again.
pub const INFORMER_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long expectations wait for the watch to show a controller's own writes before
/// the controller acts again anyway (kube's `ExpectationsTimeout`): a lost event must
/// not stall a controller for ever.
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// `namespace/name`, the work queue's key.
pub fn key(meta: &ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or(""),
        meta.name.as_deref().unwrap_or("")
    )
}

/// `(namespace, name)` of a key.
pub fn split_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}

/// A cache shared between the informer that keeps it and the workers that read it.
pub struct Informed<T> {
    cache: RwLock<Cache<T>>,
    synced: watch::Sender<bool>,
}

impl<T> Default for Informed<T> {
    fn default() -> Self {
        Informed {
            cache: RwLock::new(Cache::default()),
            synced: watch::channel(false).0,
        }
    }
}

impl<T: clipper_proto::HasObjectMeta> Informed<T> {
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Cache<T>> {
        // Every write is one cache operation: the state stays usable after a panic.
        self.cache.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cache<T>> {
        self.cache.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &str) -> Option<Arc<T>> {
        let (ns, name) = split_key(key);
        self.read().get(ns, name)
    }

    /// The objects of one namespace.
    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<T>> {
        self.read()
            .list()
            .into_iter()
            .filter(|o| o.metadata().namespace.as_deref().unwrap_or("") == namespace)
            .collect()
    }

    /// Waits until the cache has held a complete state once (kube's WaitForCacheSync).
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }
}

/// Keeps `informed` current from a watch of `group/version/resource` in every namespace
/// until `stop`; each change goes to `on_change` once the cache holds it.
pub async fn inform<T>(
    client: Arc<QuicClient>,
    group: &str,
    version: &str,
    resource: &str,
    informed: Arc<Informed<T>>,
    on_change: impl Fn(Change<T>) + Send + Sync,
    mut stop: watch::Receiver<bool>,
) where
    T: Decodable + Send + Sync,
{
    let mut failures = 0u32;
    loop {
        let mut w = client.watch(WatchRequest {
            group: group.into(),
            version: version.into(),
            resource: resource.into(),
            ..Default::default()
        });
        loop {
            let event = tokio::select! {
                _ = stop.changed() => return,
                e = w.next() => e,
            };
            let changes = match event {
                Ok(WatchEvent::Event {
                    kind,
                    revision,
                    object,
                }) => {
                    failures = 0;
                    match T::decode_envelope(object.bytes()) {
                        Ok(mut obj) => {
                            // The stored envelope does not carry the resourceVersion (the
                            // store's revision is the event's): put it where writes pinned
                            // to it, and readers comparing versions, look.
                            obj.metadata_mut().resource_version = Some(revision.to_string());
                            informed.write().apply(kind, revision, obj)
                        }
                        Err(e) => {
                            tracing::warn!(resource, error = %e, "controller: an undecodable object; skipped");
                            continue;
                        }
                    }
                }
                Ok(WatchEvent::Synced(rev)) => {
                    let changes = informed.write().synced_at(rev);
                    informed.synced.send_replace(true);
                    changes
                }
                Ok(WatchEvent::Relisting) => {
                    informed.write().relisting();
                    continue;
                }
                Err(e) => {
                    tracing::warn!(resource, error = %e, "controller: watch ended; watching again");
                    break;
                }
            };
            for c in changes {
                on_change(c);
            }
        }
        // A new watch starts with a full list: what it does not confirm is gone.
        informed.write().relisting();
        failures += 1;
        let pause = crate::workqueue::backoff(failures).min(INFORMER_MAX_BACKOFF);
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// kube's (UID-tracking) ControllerExpectations: how many creations a controller still
/// expects to see through its watch, and which deletions, per controller key. While
/// some are outstanding (and not [`EXPECTATIONS_TIMEOUT`] old) the controller does not
/// create or delete again, so a burst is not repeated before the watch catches up.
#[derive(Default)]
pub struct Expectations {
    inner: Mutex<HashMap<String, Expected>>,
}

struct Expected {
    adds: i64,
    deletes: HashSet<String>,
    since: std::time::Instant,
}

impl Expectations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Expected>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the controller may act on `key`: nothing outstanding, or waited too long.
    pub fn satisfied(&self, key: &str) -> bool {
        match self.lock().get(key) {
            None => true,
            Some(e) => {
                (e.adds <= 0 && e.deletes.is_empty()) || e.since.elapsed() > EXPECTATIONS_TIMEOUT
            }
        }
    }

    pub fn expect_creations(&self, key: &str, n: usize) {
        self.lock().insert(
            key.to_string(),
            Expected {
                adds: n as i64,
                deletes: HashSet::new(),
                since: std::time::Instant::now(),
            },
        );
    }

    /// `pods` are `namespace/name` keys of the pods about to be deleted.
    pub fn expect_deletions(&self, key: &str, pods: Vec<String>) {
        self.lock().insert(
            key.to_string(),
            Expected {
                adds: 0,
                deletes: pods.into_iter().collect(),
                since: std::time::Instant::now(),
            },
        );
    }

    /// A creation was seen (or will never be: it failed).
    pub fn creation_observed(&self, key: &str) {
        if let Some(e) = self.lock().get_mut(key) {
            e.adds -= 1;
        }
    }

    /// The deletion of `pod` was seen (or failed); a second sighting counts nothing.
    pub fn deletion_observed(&self, key: &str, pod: &str) {
        if let Some(e) = self.lock().get_mut(key) {
            e.deletes.remove(pod);
        }
    }

    /// The controller is gone.
    pub fn forget(&self, key: &str) {
        self.lock().remove(key);
    }
}

/// The controller among an object's owner references.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .find(|r| r.controller == Some(true))
}

/// A controller reference to an owner, as kube's `NewControllerRef`.
pub fn controller_ref(api_version: &str, kind: &str, owner: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: api_version.into(),
        kind: kind.into(),
        name: owner.name.clone().unwrap_or_default(),
        uid: owner.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// A selector as matching code uses it; an invalid one matches nothing.
pub fn selector(sel: &LabelSelector) -> LabelSelectorExpr {
    LabelSelectorExpr::from_api(Some(sel)).unwrap_or_else(|_| LabelSelectorExpr::nothing())
}

pub fn labels(meta: &ObjectMeta) -> std::collections::BTreeMap<String, String> {
    meta.labels.clone().unwrap_or_default()
}

/// What a controller does with an object it may own (kube's `ClaimObject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Owned and matching: it counts.
    Owned,
    /// Someone else's, or not for us.
    Ignore,
    /// An orphan that matches: take it (then it counts).
    Adopt,
    /// Ours but no longer matching: let it go.
    Release,
}

/// kube's rules: an object controlled by another owner is ignored; one we control is
/// kept while it matches and released otherwise (unless we are being deleted); an
/// orphan that matches is adopted unless either side is being deleted.
pub fn claim(obj: &ObjectMeta, owner_uid: &str, owner_deleting: bool, matches: bool) -> Claim {
    match controller_of(obj) {
        Some(r) if r.uid != owner_uid => Claim::Ignore,
        Some(_) if matches => Claim::Owned,
        Some(_) if owner_deleting => Claim::Ignore,
        Some(_) => Claim::Release,
        None if owner_deleting || !matches || obj.deletion_timestamp.is_some() => Claim::Ignore,
        None => Claim::Adopt,
    }
}

/// The strategic merge patch that adopts an object (kube's: the owner reference merged
/// by uid, and the object's uid as a precondition).
pub fn adopt_patch(owner: &OwnerReference, obj_uid: &str) -> Value {
    json!({"metadata": {"ownerReferences": [owner], "uid": obj_uid}})
}

/// The strategic merge patch that releases an object from `owner_uid`.
pub fn release_patch(owner_uid: &str, obj_uid: &str) -> Value {
    json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": owner_uid}], "uid": obj_uid}})
}

pub const STRATEGIC_MERGE: &str = "application/strategic-merge-patch+json";

/// kube's `IsPodActive`: not finished and not being deleted.
pub fn is_pod_active(p: &Pod) -> bool {
    let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
    !matches!(phase, Some("Succeeded") | Some("Failed")) && p.metadata.deletion_timestamp.is_none()
}

/// The pod's Ready condition when it is True.
fn ready_condition(p: &Pod) -> Option<&clipper_proto::api::core::v1::PodCondition> {
    p.status
        .as_ref()?
        .conditions
        .as_deref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")
}

pub fn is_pod_ready(p: &Pod) -> bool {
    ready_condition(p).is_some()
}

/// When the pod became ready (the Ready condition's lastTransitionTime; 0 if unknown).
pub fn pod_ready_since(p: &Pod) -> i64 {
    ready_condition(p)
        .and_then(|c| c.last_transition_time)
        .map(|t| t.0)
        .unwrap_or(0)
}

/// kube's `IsPodAvailable`: ready for at least `min_ready_seconds` at `now` (seconds).
pub fn is_pod_available(p: &Pod, min_ready_seconds: i32, now: i64) -> bool {
    let Some(c) = ready_condition(p) else {
        return false;
    };
    if min_ready_seconds <= 0 {
        return true;
    }
    match c.last_transition_time {
        Some(t) if t.0 != 0 => t.0 + i64::from(min_ready_seconds) < now,
        _ => false,
    }
}

/// The ClusterRole `system:controller:<name>` with `rules` and its binding to the service
/// account `kube-system/<name>` (kube's bootstrap controller policy), with the collection
/// path each is created at.
pub fn controller_rbac(name: &str, rules: Value) -> [(&'static str, Value); 2] {
    let role = format!("system:controller:{name}");
    let labels = json!({"kubernetes.io/bootstrapping": "rbac-defaults"});
    [
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": role, "labels": labels},
                "rules": rules,
            }),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": role, "labels": labels},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": role,
                },
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "kube-system"}],
            }),
        ),
    ]
}

/// kube's `eventsRule()`: controllers record events.
pub fn events_rule() -> Value {
    json!({"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch", "update"]})
}

/// The groups of a controller's service account.
pub const SERVICE_ACCOUNT_GROUPS: &[&str] = &[
    "system:serviceaccounts",
    "system:serviceaccounts:kube-system",
];

/// The status code of a server's answer.
pub fn code(e: &ClientError) -> Option<u16> {
    e.status_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(controller: Option<&str>, deleting: bool) -> ObjectMeta {
        ObjectMeta {
            owner_references: controller.map(|uid| {
                vec![OwnerReference {
                    uid: uid.into(),
                    controller: Some(true),
                    ..Default::default()
                }]
            }),
            deletion_timestamp: deleting.then(clipper_proto::Time::now),
            ..Default::default()
        }
    }

    #[test]
    fn claim_rules() {
        #[track_caller]
        fn check(obj: ObjectMeta, owner_deleting: bool, matches: bool, expect: Claim) {
            assert_eq!(claim(&obj, "me", owner_deleting, matches), expect);
        }
        check(meta(Some("other"), false), false, true, Claim::Ignore);
        check(meta(Some("me"), false), false, true, Claim::Owned);
        check(meta(Some("me"), false), false, false, Claim::Release);
        check(meta(Some("me"), false), true, false, Claim::Ignore);
        check(meta(None, false), false, true, Claim::Adopt);
        check(meta(None, false), false, false, Claim::Ignore);
        check(meta(None, false), true, true, Claim::Ignore);
        check(meta(None, true), false, true, Claim::Ignore);
    }

    #[test]
    fn expectations_block_until_observed() {
        let e = Expectations::default();
        assert!(e.satisfied("ns/rs"));
        e.expect_creations("ns/rs", 2);
        assert!(!e.satisfied("ns/rs"));
        e.creation_observed("ns/rs");
        assert!(!e.satisfied("ns/rs"));
        e.creation_observed("ns/rs");
        assert!(e.satisfied("ns/rs"));
        e.expect_deletions("ns/rs", vec!["ns/a".into(), "ns/b".into()]);
        e.deletion_observed("ns/rs", "ns/a");
        e.deletion_observed("ns/rs", "ns/a");
        assert!(!e.satisfied("ns/rs"));
        e.deletion_observed("ns/rs", "ns/b");
        assert!(e.satisfied("ns/rs"));
        e.forget("ns/rs");
        assert!(e.satisfied("ns/rs"));
    }
}
