//! An informer: a local cache of one resource kept current by a [`Watch`], which
//! controllers, the scheduler, agents and proxies read instead of asking the server.
//!
//! [`Cache`] is the sans-IO part (events in, changes out) and holds the relist rule: after
//! a relist (or the first list), whatever the new initial state did not confirm is
//! deleted. [`Informer`] drives a cache from a watch.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use clipper_proto::envelope::EnvelopeError;
use clipper_proto::wire::EventKind;
use clipper_proto::{HasObjectMeta, Resource};

use crate::{ClientError, Watch, WatchEvent};

/// `(namespace, name)`; the namespace is "" for cluster-scoped kinds.
pub type Key = (String, String);

/// What applying an event changed.
#[derive(Clone, Debug, PartialEq)]
pub enum Change<T> {
    Added(Arc<T>),
    Updated {
        old: Arc<T>,
        new: Arc<T>,
    },
    Deleted(Arc<T>),
    /// The cache holds the server's whole state as of this revision.
    Synced(i64),
}

/// The cache behind an informer.
#[derive(Debug)]
pub struct Cache<T> {
    items: BTreeMap<Key, Arc<T>>,
    /// While a list (initial or relist) is in progress: the keys it has confirmed.
    listing: Option<BTreeSet<Key>>,
    revision: Option<i64>,
}

impl<T> Default for Cache<T> {
    fn default() -> Self {
        Cache {
            items: BTreeMap::new(),
            listing: Some(BTreeSet::new()),
            revision: None,
        }
    }
}

pub trait Decodable: Resource + HasObjectMeta + Sized {
    fn decode_envelope(bytes: &[u8]) -> Result<Self, EnvelopeError>;
}

impl<T> Decodable for T
where
    T: Resource + HasObjectMeta + clipper_proto::envelope::Archivable,
    T::Archived: for<'b> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'b, rkyv::rancor::Error>>
        + rkyv::Deserialize<T, rkyv::api::high::HighDeserializer<rkyv::rancor::Error>>,
{
    fn decode_envelope(bytes: &[u8]) -> Result<T, EnvelopeError> {
        clipper_proto::envelope::decode(bytes)
    }
}

fn key_of<T: HasObjectMeta>(obj: &T) -> Key {
    let m = obj.metadata();
    (
        m.namespace.clone().unwrap_or_default(),
        m.name.clone().unwrap_or_default(),
    )
}

impl<T: HasObjectMeta> Cache<T> {
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<T>> {
        self.items
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Every object, in key order.
    pub fn list(&self) -> Vec<Arc<T>> {
        self.items.values().cloned().collect()
    }

    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.items.keys()
    }

    /// Whether the cache has seen a complete state.
    pub fn synced(&self) -> bool {
        self.listing.is_none()
    }

    pub fn revision(&self) -> Option<i64> {
        self.revision
    }

    /// Applies one decoded event; returns what changed (several deletions at the end of
    /// a relist).
    pub fn apply(&mut self, kind: EventKind, revision: i64, obj: T) -> Vec<Change<T>> {
        let key = key_of(&obj);
        let obj = Arc::new(obj);
        if let Some(seen) = self.listing.as_mut() {
            seen.insert(key.clone());
        } else {
            self.revision = Some(revision);
        }
        match kind {
            EventKind::Added | EventKind::Modified => match self.items.insert(key, obj.clone()) {
                None => vec![Change::Added(obj)],
                Some(old) => vec![Change::Updated { old, new: obj }],
            },
            EventKind::Deleted => match self.items.remove(&key) {
                Some(old) => vec![Change::Deleted(old)],
                None => Vec::new(),
            },
        }
    }

    /// A relist begins: what it does not confirm before [`Cache::synced_at`] goes.
    pub fn relisting(&mut self) {
        self.listing = Some(BTreeSet::new());
    }

    /// The list is complete at `revision`: drops the objects it did not confirm.
    pub fn synced_at(&mut self, revision: i64) -> Vec<Change<T>> {
        let mut out = Vec::new();
        if let Some(seen) = self.listing.take() {
            let stale: Vec<Key> = self
                .items
                .keys()
                .filter(|k| !seen.contains(*k))
                .cloned()
                .collect();
            for k in stale {
                if let Some(old) = self.items.remove(&k) {
                    out.push(Change::Deleted(old));
                }
            }
        }
        self.revision = Some(revision);
        out.push(Change::Synced(revision));
        out
    }
}

/// A cache kept current by a watch.
pub struct Informer<T> {
    watch: Watch,
    cache: Cache<T>,
}

impl<T: Decodable> Informer<T> {
    pub fn new(watch: Watch) -> Informer<T> {
        Informer {
            watch,
            cache: Cache::default(),
        }
    }

    pub fn cache(&self) -> &Cache<T> {
        &self.cache
    }

    /// The next batch of changes (one event's worth; a relist's end may delete several).
    pub async fn next(&mut self) -> Result<Vec<Change<T>>, ClientError> {
        match self.watch.next().await? {
            WatchEvent::Event {
                kind,
                revision,
                object,
            } => {
                let obj = T::decode_envelope(object.bytes()).map_err(|e| {
                    ClientError::Protocol(format!("an invalid {} from the server: {e}", T::KIND))
                })?;
                Ok(self.cache.apply(kind, revision, obj))
            }
            WatchEvent::Synced(r) => Ok(self.cache.synced_at(r)),
            WatchEvent::Relisting => {
                self.cache.relisting();
                Ok(Vec::new())
            }
        }
    }

    /// Applies events until the cache holds a complete state.
    pub async fn wait_synced(&mut self) -> Result<(), ClientError> {
        while !self.cache.synced() {
            self.next().await?;
        }
        Ok(())
    }

    /// Applies events until `pred` holds for the cache.
    pub async fn wait_for(&mut self, pred: impl Fn(&Cache<T>) -> bool) -> Result<(), ClientError> {
        while !(self.cache.synced() && pred(&self.cache)) {
            self.next().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clipper_proto::api::core::v1::ConfigMap;
    use clipper_proto::api::meta::v1::ObjectMeta;

    fn cm(name: &str, v: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                ..Default::default()
            },
            data: Some([("v".to_string(), v.to_string())].into()),
            ..Default::default()
        }
    }

    fn names(c: &Cache<ConfigMap>) -> Vec<String> {
        c.keys().map(|(_, n)| n.clone()).collect()
    }

    #[test]
    fn the_first_list_then_changes() {
        let mut c = Cache::default();
        assert!(!c.synced());
        c.apply(EventKind::Added, 3, cm("a", "1"));
        c.apply(EventKind::Added, 2, cm("b", "1"));
        assert_eq!(c.synced_at(5), vec![Change::Synced(5)]);
        assert!(c.synced());
        let changes = c.apply(EventKind::Modified, 6, cm("a", "2"));
        assert!(matches!(&changes[..], [Change::Updated { old, new }]
            if old.data.as_ref().unwrap()["v"] == "1" && new.data.as_ref().unwrap()["v"] == "2"));
        let changes = c.apply(EventKind::Deleted, 7, cm("b", "1"));
        assert!(matches!(&changes[..], [Change::Deleted(_)]));
        assert_eq!(names(&c), ["a"]);
        assert_eq!(c.revision(), Some(7));
        // Deleting what is not there changes nothing.
        assert!(c.apply(EventKind::Deleted, 8, cm("zz", "1")).is_empty());
    }

    #[test]
    fn a_relist_drops_what_it_does_not_confirm() {
        let mut c = Cache::default();
        for n in ["a", "b", "c"] {
            c.apply(EventKind::Added, 1, cm(n, "1"));
        }
        c.synced_at(1);
        c.relisting();
        assert!(!c.synced());
        let changes = c.apply(EventKind::Added, 9, cm("b", "2"));
        assert!(matches!(&changes[..], [Change::Updated { .. }]));
        c.apply(EventKind::Added, 9, cm("d", "1"));
        let changes = c.synced_at(10);
        let deleted: Vec<String> = changes
            .iter()
            .filter_map(|ch| match ch {
                Change::Deleted(o) => o.metadata.name.clone(),
                _ => None,
            })
            .collect();
        assert_eq!(deleted, ["a", "c"]);
        assert_eq!(changes.last(), Some(&Change::Synced(10)));
        assert_eq!(names(&c), ["b", "d"]);
        assert_eq!(c.get("ns", "b").unwrap().data.as_ref().unwrap()["v"], "2");
    }
}
