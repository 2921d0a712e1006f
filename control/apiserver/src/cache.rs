//! The watch cache: per resource, the current objects and a window of recent events, kept
//! current by one store watch. Lists and watches are served from it without reading the
//! store.
//!
//! - The objects live in a persistent ordered map (`imbl::OrdMap`) behind an `ArcSwap`:
//!   a list takes a snapshot with one atomic load and walks it while the feeder keeps
//!   applying events — no lock on the read path.
//! - Events go into a bounded history (for watches that resume from a revision) and a
//!   broadcast channel (for live watchers). A watcher that falls more than
//!   [`BROADCAST_BATCHES`] batches behind the broadcast catches up from the history, a
//!   chunk at a time, and rejoins the broadcast; only one that falls behind the history
//!   itself is ended, with 410, and relists. A consumer that stops reading is the
//!   transport's to cut off (its writes are bounded and time out).
//! - Each object is decoded once when it arrives (for its labels and selectable fields);
//!   its JSON is encoded at most once, on first use, and shared by every list and HTTP
//!   watcher; its stored rkyv bytes are shared by reference, never copied per watcher.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use clipper_proto::envelope::AlignedBytes;
use clipper_proto::selector::{FieldSelector, LabelSelectorExpr};
use clipper_store::{AnyStore, EventKind, RangeRequest, Revision, Store, StoreError, WatchUpdate};
use imbl::OrdMap;
use parking_lot::Mutex;
use tokio::sync::{Notify, broadcast, watch};

use crate::object::{ApiObject, Codec};
use crate::status::ApiError;

/// Events kept for watches that resume from a revision (Kubernetes' watch cache keeps
/// up to 100×1024; with a few thousand writes/s this is tens of seconds of history).
pub const HISTORY_EVENTS: usize = if cfg!(test) { 100 } else { 100_000 };
/// Batches buffered for live watchers; a watcher further behind is ended (memory stays
/// bounded whatever the watcher count).
pub const BROADCAST_BATCHES: usize = if cfg!(test) { 8 } else { 1024 };
/// Keys read per page when (re)loading a resource from the store.
pub const LOAD_PAGE: usize = 10_000;
/// How long a consistent read waits for the cache to catch up before giving up.
pub const FRESHNESS_TIMEOUT: Duration = Duration::from_secs(3);
/// Interval between bookmarks on watches that asked for them.
pub const BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

/// One object as the cache holds it.
#[derive(Debug)]
pub struct CachedObject {
    pub key: Bytes,
    pub namespace: Option<String>,
    pub name: String,
    /// The envelope as stored.
    pub value: AlignedBytes,
    /// The object's resourceVersion (mod revision; for a delete event, the deletion
    /// revision).
    pub revision: Revision,
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    /// Kind-specific selectable fields (see [`crate::fields`]).
    pub fields: Vec<(&'static str, String)>,
    json: OnceLock<Bytes>,
}

impl CachedObject {
    fn build(
        codec: &Codec,
        key: Bytes,
        value: AlignedBytes,
        revision: Revision,
    ) -> Result<CachedObject, ApiError> {
        let obj = codec
            .decode_stored(&value)
            .map_err(|e| ApiError::internal(format!("decoding stored object: {e}")))?;
        let meta = obj.meta();
        Ok(CachedObject {
            namespace: meta.namespace.clone().filter(|n| !n.is_empty()),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            labels: meta.labels.clone().unwrap_or_default(),
            fields: crate::fields::extract(obj.as_ref()),
            key,
            value,
            revision,
            json: OnceLock::new(),
        })
    }

    /// A cache entry from a store key-value (lists read from the store).
    pub fn from_kv(codec: &Codec, kv: &clipper_store::KeyValue) -> Result<CachedObject, ApiError> {
        CachedObject::build(
            codec,
            kv.key.clone(),
            AlignedBytes::new(kv.value.clone()),
            kv.mod_revision,
        )
    }

    /// The same object at another revision (a delete event's last state).
    fn at_revision(&self, revision: Revision) -> CachedObject {
        CachedObject {
            key: self.key.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            value: self.value.clone(),
            revision,
            uid: self.uid.clone(),
            labels: self.labels.clone(),
            fields: self.fields.clone(),
            json: OnceLock::new(),
        }
    }

    /// A selectable field's value.
    pub fn field(&self, name: &str) -> Option<&str> {
        match name {
            "metadata.name" => Some(&self.name),
            "metadata.namespace" => Some(self.namespace.as_deref().unwrap_or("")),
            _ => self
                .fields
                .iter()
                .find(|(f, _)| *f == name)
                .map(|(_, v)| v.as_str()),
        }
    }

    /// Decodes the object with its resourceVersion set.
    pub fn decode(&self, codec: &Codec) -> Result<Box<dyn ApiObject>, ApiError> {
        let mut obj = codec
            .decode_stored(&self.value)
            .map_err(|e| ApiError::internal(format!("decoding stored object: {e}")))?;
        obj.meta_mut().resource_version = Some(self.revision.to_string());
        Ok(obj)
    }

    /// The object's JSON (with resourceVersion), encoded once and shared.
    pub fn json(&self, codec: &Codec) -> Result<Bytes, ApiError> {
        if let Some(j) = self.json.get() {
            return Ok(j.clone());
        }
        let obj = self.decode(codec)?;
        let bytes = Bytes::from(
            obj.to_json()
                .map_err(|e| ApiError::internal(e.to_string()))?,
        );
        Ok(self.json.get_or_init(|| bytes).clone())
    }

    /// Whether the object passes a watcher's or list's filters.
    pub fn matches(&self, filter: &Filter) -> bool {
        if let Some(ns) = &filter.namespace
            && self.namespace.as_deref() != Some(ns.as_str())
        {
            return false;
        }
        filter.labels.matches(&self.labels) && filter.fields.matches(|f| self.field(f))
    }
}

/// What a list or watch selects.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub namespace: Option<String>,
    pub labels: LabelSelectorExpr,
    pub fields: FieldSelector,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change.
#[derive(Debug)]
pub struct CacheEvent {
    pub kind: EventType,
    /// The new state (for deletes: the last state at the deletion revision).
    pub object: Arc<CachedObject>,
    /// The state before, for updates and deletes.
    pub prev: Option<Arc<CachedObject>>,
}

impl CacheEvent {
    pub fn revision(&self) -> Revision {
        self.object.revision
    }
}

/// A consistent view of all objects.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub revision: Revision,
    pub objects: OrdMap<Bytes, Arc<CachedObject>>,
}

impl Snapshot {
    /// Objects with keys in `[from, end)` after `after` (exclusive), in key order.
    pub fn range_after<'a>(
        &'a self,
        prefix: &'a [u8],
        after: Option<&'a Bytes>,
    ) -> impl Iterator<Item = &'a Arc<CachedObject>> {
        let start = match after {
            Some(k) => Bound::Excluded(k.clone()),
            None => Bound::Included(Bytes::copy_from_slice(prefix)),
        };
        self.objects
            .range((start, Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v)
    }
}

type Batch = Arc<[Arc<CacheEvent>]>;

struct History {
    events: VecDeque<Arc<CacheEvent>>,
    /// Every event with a revision above this is in `events` (or is newer).
    start: Revision,
    tx: broadcast::Sender<Batch>,
    /// Bumped whenever `tx` is replaced (a reload or shutdown ends every watcher): a
    /// watcher catching up from the history must not rejoin a later channel.
    generation: u64,
}

/// Events a watcher that fell behind the broadcast copies from the history at a time
/// (pointers: a lagging watcher holds at most this many more than a live one).
const CATCH_UP_CHUNK: usize = 256;

/// The cache of one resource.
pub struct ResourceCache {
    pub codec: Arc<Codec>,
    pub prefix: Bytes,
    snapshot: ArcSwap<Snapshot>,
    history: Arc<Mutex<History>>,
    revision: watch::Sender<Revision>,
    progress: Notify,
    shutdown: Notify,
}

impl ResourceCache {
    /// Loads the resource from the store and starts the feeder task.
    pub async fn start(
        store: Arc<AnyStore>,
        codec: Arc<Codec>,
        prefix: Bytes,
    ) -> Result<Arc<ResourceCache>, ApiError> {
        let (snapshot, revision) = load(&store, &codec, &prefix).await?;
        let (tx, _) = broadcast::channel(BROADCAST_BATCHES);
        let cache = Arc::new(ResourceCache {
            codec,
            prefix,
            snapshot: ArcSwap::from_pointee(snapshot),
            history: Arc::new(Mutex::new(History {
                events: VecDeque::new(),
                start: revision,
                generation: 0,
                tx,
            })),
            revision: watch::channel(revision).0,
            progress: Notify::new(),
            shutdown: Notify::new(),
        });
        let stream = store
            .watch(
                cache.prefix.clone(),
                clipper_store::prefix_end(&cache.prefix),
                revision + 1,
            )
            .await
            .map_err(store_error)?;
        tokio::spawn(feed(cache.clone(), store, stream));
        Ok(cache)
    }

    /// Stops the feeder (when a custom resource stops being served); watchers end.
    pub fn stop(&self) {
        self.shutdown.notify_one();
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// The revision the cache has caught up to.
    pub fn revision(&self) -> Revision {
        *self.revision.borrow()
    }

    /// Waits until the cache has caught up to `target` (asking the store for a progress
    /// notification so that an idle resource catches up too).
    pub async fn wait_fresh(&self, target: Revision) -> Result<(), ApiError> {
        let mut rx = self.revision.subscribe();
        if *rx.borrow() >= target {
            return Ok(());
        }
        self.progress.notify_one();
        let wait = rx.wait_for(|r| *r >= target);
        match tokio::time::timeout(FRESHNESS_TIMEOUT, wait).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(ApiError::service_unavailable(
                "the watch cache is not running",
            )),
            Err(_) => Err(too_large_resource_version(target, self.revision())),
        }
    }

    /// Starts a watch. `from`: `None` sends the current state as ADDED events first; a
    /// revision sends only changes after it (410 if it is older than the history).
    pub fn watch(
        &self,
        filter: Filter,
        from: Option<Revision>,
        send_initial_end: bool,
    ) -> Result<Watcher, ApiError> {
        let h = self.history.lock();
        let (initial, replay, after) = match from {
            None => {
                let snap = self.snapshot.load_full();
                let after = snap.revision;
                (Some(snap), Vec::new(), after)
            }
            Some(r) if r < h.start => {
                return Err(ApiError::gone(format!(
                    "too old resource version: {r} ({})",
                    h.start + 1
                )));
            }
            Some(r) => {
                let replay: Vec<Arc<CacheEvent>> = h
                    .events
                    .iter()
                    .filter(|e| e.revision() > r)
                    .cloned()
                    .collect();
                (None, replay, r)
            }
        };
        let rx = h.tx.subscribe();
        let generation = h.generation;
        drop(h);
        Ok(Watcher {
            history: self.history.clone(),
            generation,
            catching_up: false,
            filter,
            prefix: self.prefix.clone(),
            initial,
            cursor: None,
            replay: replay.into(),
            pending: VecDeque::new(),
            rx,
            last_revision: after,
            send_initial_end,
            initial_end_sent: false,
        })
    }
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Compacted {
            requested,
            compacted,
        } => ApiError::gone(format!(
            "The resourceVersion for the provided list is too old ({requested}, compacted to {compacted})"
        )),
        other => ApiError::internal(other.to_string()),
    }
}

fn too_large_resource_version(requested: Revision, current: Revision) -> ApiError {
    let mut e = ApiError::timeout(format!(
        "Too large resource version: {requested}, current: {current}"
    ));
    e.causes.push(crate::status::Cause {
        reason: "ResourceVersionTooLarge".into(),
        message: "Too large resource version".into(),
        field: String::new(),
    });
    e.retry_after_seconds = Some(1);
    e
}

async fn load(
    store: &AnyStore,
    codec: &Codec,
    prefix: &Bytes,
) -> Result<(Snapshot, Revision), ApiError> {
    let mut objects = OrdMap::new();
    let mut req = RangeRequest::prefix(prefix.clone()).with_limit(LOAD_PAGE);
    let mut revision = 0;
    loop {
        let resp = store.range(req.clone()).await.map_err(store_error)?;
        if revision == 0 {
            revision = resp.revision;
        }
        for kv in &resp.kvs {
            let obj = CachedObject::build(
                codec,
                kv.key.clone(),
                AlignedBytes::new(kv.value.clone()),
                kv.mod_revision,
            )?;
            objects.insert(kv.key.clone(), Arc::new(obj));
        }
        match (resp.more, resp.kvs.last()) {
            (true, Some(last)) => req = req.continue_after(&last.key).at_revision(revision),
            _ => break,
        }
    }
    Ok((Snapshot { revision, objects }, revision))
}

/// Applies store events to the cache until the cache is dropped; on a broken store watch
/// it reloads, ending every watcher (they resume from their revision or relist).
async fn feed(c: Arc<ResourceCache>, store: Arc<AnyStore>, mut stream: clipper_store::WatchStream) {
    loop {
        let update = tokio::select! {
            u = stream.next_update() => u,
            _ = c.progress.notified() => {
                stream.request_progress();
                continue;
            }
            _ = c.shutdown.notified() => {
                // Replacing the channel ends every watcher.
                let mut h = c.history.lock();
                h.tx = broadcast::channel(1).0;
                h.generation += 1;
                return;
            }
        };
        match update {
            Some(Ok(WatchUpdate::Events(events))) => apply(&c, events),
            Some(Ok(WatchUpdate::Progress(revision))) => {
                let snap = c.snapshot.load_full();
                if revision > snap.revision {
                    let _h = c.history.lock();
                    c.snapshot.store(Arc::new(Snapshot {
                        revision,
                        objects: snap.objects.clone(),
                    }));
                }
                c.revision.send_if_modified(|r| {
                    let changed = revision > *r;
                    *r = (*r).max(revision);
                    changed
                });
            }
            Some(Err(e)) => {
                tracing::warn!(prefix = ?c.prefix, error = %e, "store watch ended; reloading the cache");
                match reload(&c, &store).await {
                    Some(s) => stream = s,
                    None => return,
                }
            }
            None => return,
        }
    }
}

async fn reload(c: &ResourceCache, store: &AnyStore) -> Option<clipper_store::WatchStream> {
    // Bounded retries: the store is local or a reachable etcd; a persistent failure ends
    // the feeder and the cache answers 503 through `wait_fresh` timeouts.
    for attempt in 0..30u32 {
        if let Ok((snap, revision)) = load(store, &c.codec, &c.prefix).await
            && let Ok(s) = store
                .watch(
                    c.prefix.clone(),
                    clipper_store::prefix_end(&c.prefix),
                    revision + 1,
                )
                .await
        {
            let mut h = c.history.lock();
            // Existing watchers cannot be told what changed while the watch was broken:
            // a new channel ends them.
            let (tx, _) = broadcast::channel(BROADCAST_BATCHES);
            h.tx = tx;
            h.generation += 1;
            h.events.clear();
            h.start = revision;
            c.snapshot.store(Arc::new(snap));
            drop(h);
            c.revision.send_replace(revision);
            return Some(s);
        }
        tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt + 1))).await;
    }
    None
}

fn apply(c: &ResourceCache, events: Vec<clipper_store::Event>) {
    if events.is_empty() {
        return;
    }
    let snap = c.snapshot.load_full();
    let mut objects = snap.objects.clone();
    let mut batch = Vec::with_capacity(events.len());
    let mut revision = snap.revision;
    for ev in events {
        revision = revision.max(ev.kv.mod_revision);
        let key = ev.kv.key.clone();
        let prev = objects.get(&key).cloned();
        match ev.kind {
            EventKind::Put => {
                let obj = match CachedObject::build(
                    &c.codec,
                    key.clone(),
                    AlignedBytes::new(ev.kv.value.clone()),
                    ev.kv.mod_revision,
                ) {
                    Ok(o) => Arc::new(o),
                    Err(e) => {
                        tracing::error!(key = ?key, error = %e.message, "undecodable object in the store; skipped");
                        continue;
                    }
                };
                objects.insert(key, obj.clone());
                let kind = if prev.is_some() {
                    EventType::Modified
                } else {
                    EventType::Added
                };
                batch.push(Arc::new(CacheEvent {
                    kind,
                    object: obj,
                    prev,
                }));
            }
            EventKind::Delete => {
                objects.remove(&key);
                let last = match (&prev, &ev.prev_kv) {
                    (Some(p), _) => Some(Arc::new(p.at_revision(ev.kv.mod_revision))),
                    (None, Some(pkv)) => CachedObject::build(
                        &c.codec,
                        key.clone(),
                        AlignedBytes::new(pkv.value.clone()),
                        ev.kv.mod_revision,
                    )
                    .ok()
                    .map(Arc::new),
                    (None, None) => None,
                };
                if let Some(last) = last {
                    batch.push(Arc::new(CacheEvent {
                        kind: EventType::Deleted,
                        object: last,
                        prev,
                    }));
                }
            }
        }
    }
    let batch: Batch = batch.into();
    {
        let mut h = c.history.lock();
        for e in batch.iter() {
            h.events.push_back(e.clone());
        }
        while h.events.len() > HISTORY_EVENTS {
            if let Some(old) = h.events.pop_front() {
                h.start = old.revision();
            }
        }
        c.snapshot.store(Arc::new(Snapshot { revision, objects }));
        // No receivers is fine: nobody is watching.
        let _ = h.tx.send(batch);
    }
    c.revision.send_replace(revision);
}

/// What a watcher yields.
#[derive(Debug)]
pub enum WatchItem {
    Event(EventType, Arc<CachedObject>),
    /// A bookmark at a revision; `initial_end` marks the end of the initial state.
    Bookmark {
        revision: Revision,
        initial_end: bool,
    },
    /// The watch ends with this error (sent to the client as an ERROR event).
    Error(ApiError),
}

/// One watch, pulled by the transport (HTTP chunked JSON, QUIC frames).
pub struct Watcher {
    history: Arc<Mutex<History>>,
    /// The history's channel generation `rx` belongs to.
    generation: u64,
    /// Fell behind the broadcast: reading the history until caught up.
    catching_up: bool,
    filter: Filter,
    prefix: Bytes,
    initial: Option<Arc<Snapshot>>,
    cursor: Option<Bytes>,
    replay: VecDeque<Arc<CacheEvent>>,
    pending: VecDeque<Arc<CacheEvent>>,
    rx: broadcast::Receiver<Batch>,
    last_revision: Revision,
    send_initial_end: bool,
    initial_end_sent: bool,
}

impl Watcher {
    /// The revision of the last event delivered (or the starting point).
    pub fn revision(&self) -> Revision {
        self.last_revision
    }

    /// The next item; None when the watch ends (the cache reloaded or shut down).
    pub async fn next(&mut self) -> Option<WatchItem> {
        // 1. The initial state, as ADDED events.
        if let Some(snap) = &self.initial {
            let next = snap
                .range_after(&self.prefix, self.cursor.as_ref())
                .find(|o| o.matches(&self.filter))
                .cloned();
            match next {
                Some(obj) => {
                    self.cursor = Some(obj.key.clone());
                    return Some(WatchItem::Event(EventType::Added, obj));
                }
                None => {
                    self.initial = None;
                    self.cursor = None;
                }
            }
        }
        if self.send_initial_end && !self.initial_end_sent {
            self.initial_end_sent = true;
            return Some(WatchItem::Bookmark {
                revision: self.last_revision,
                initial_end: true,
            });
        }
        loop {
            // 2. Replayed history, then live batches.
            let ev = match self.replay.pop_front().or_else(|| self.pending.pop_front()) {
                Some(ev) => ev,
                None if self.catching_up => {
                    if let Err(e) = self.catch_up() {
                        return e;
                    }
                    continue;
                }
                None => match self.rx.recv().await {
                    Ok(batch) => {
                        self.pending.extend(batch.iter().cloned());
                        continue;
                    }
                    // The broadcast's buffer moved past this watcher: what it missed is
                    // in the history.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.catching_up = true;
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            };
            if ev.revision() <= self.last_revision {
                continue;
            }
            self.last_revision = ev.revision();
            if let Some(item) = self.convert(&ev) {
                return Some(item);
            }
        }
    }

    /// Copies the next chunk of the history after the last revision delivered into
    /// `replay`; at the history's end, rejoins the broadcast (under the history's lock,
    /// so no batch falls between the two). `Err`: the item that ends the watch — 410 when
    /// the history no longer holds the next event, the end when the channel was replaced.
    fn catch_up(&mut self) -> Result<(), Option<WatchItem>> {
        let h = self.history.lock();
        if h.generation != self.generation {
            return Err(None);
        }
        if self.last_revision < h.start {
            return Err(Some(WatchItem::Error(ApiError::gone(format!(
                "watch fell behind the watch cache's history: resourceVersion {} is older than {}",
                self.last_revision,
                h.start + 1
            )))));
        }
        let from = h
            .events
            .partition_point(|e| e.revision() <= self.last_revision);
        let to = (from + CATCH_UP_CHUNK).min(h.events.len());
        self.replay.extend(h.events.range(from..to).cloned());
        if to == h.events.len() {
            self.rx = h.tx.subscribe();
            self.catching_up = false;
        }
        Ok(())
    }

    /// Applies the filter with Kubernetes' transition rules: an update that moves an
    /// object into the selection is ADDED, out of it DELETED.
    fn convert(&self, ev: &CacheEvent) -> Option<WatchItem> {
        let cur = ev.object.matches(&self.filter);
        match ev.kind {
            EventType::Added | EventType::Deleted => {
                cur.then(|| WatchItem::Event(ev.kind, ev.object.clone()))
            }
            EventType::Modified => {
                let was = ev.prev.as_ref().is_some_and(|p| p.matches(&self.filter));
                match (was, cur) {
                    (true, true) => Some(WatchItem::Event(EventType::Modified, ev.object.clone())),
                    (false, true) => Some(WatchItem::Event(EventType::Added, ev.object.clone())),
                    (true, false) => {
                        let prev = ev.prev.as_ref()?;
                        Some(WatchItem::Event(
                            EventType::Deleted,
                            Arc::new(prev.at_revision(ev.revision())),
                        ))
                    }
                    (false, false) => None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clipper_store::embedded::EmbeddedStore;

    const PREFIX: &[u8] = b"/registry/example.com/widgets/";

    async fn cache_over_a_store(dir: &std::path::Path) -> (Arc<AnyStore>, Arc<ResourceCache>) {
        let store = Arc::new(AnyStore::from(EmbeddedStore::open(dir).expect("store")));
        let codec = Arc::new(Codec::dynamic("example.com/v1", "Widget"));
        let cache = ResourceCache::start(store.clone(), codec, Bytes::from_static(PREFIX))
            .await
            .expect("cache");
        (store, cache)
    }

    /// Creates the widgets `names` one after another, each in a batch of its own (the cache has
    /// applied a write before the next is made); their revisions.
    async fn create_widgets(
        store: &AnyStore,
        cache: &ResourceCache,
        names: std::ops::Range<usize>,
    ) -> Vec<Revision> {
        let codec = Codec::dynamic("example.com/v1", "Widget");
        let mut revisions = Vec::new();
        for i in names {
            let body = format!(
                r#"{{"apiVersion":"example.com/v1","kind":"Widget","metadata":{{"name":"w{i}"}}}}"#
            );
            let value = codec.decode_json(body.as_bytes()).expect("decode").value;
            let key = Bytes::from([PREFIX, format!("w{i}").as_bytes()].concat());
            let bytes = value.encode().expect("encode").into_bytes();
            let rev = store.create(key, bytes, 0).await.expect("create");
            cache.wait_fresh(rev).await.expect("fresh");
            revisions.push(rev);
        }
        revisions
    }

    async fn next_event(w: &mut Watcher) -> Result<Revision, String> {
        match tokio::time::timeout(Duration::from_secs(10), w.next()).await {
            Ok(Some(WatchItem::Event(EventType::Added, obj))) => Ok(obj.revision),
            Ok(Some(WatchItem::Error(e))) => Err(e.message),
            Ok(other) => Err(format!("unexpected {other:?}")),
            Err(_) => Err("no event within 10 s".into()),
        }
    }

    #[tokio::test]
    async fn a_watcher_behind_the_broadcast_catches_up_from_the_history() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, cache) = cache_over_a_store(dir.path()).await;
        let mut w = cache
            .watch(Filter::default(), Some(cache.revision()), false)
            .expect("watch");
        // Five times the broadcast's buffer, well within the history.
        let n = BROADCAST_BATCHES * 5;
        assert!(n < HISTORY_EVENTS);
        let written = create_widgets(&store, &cache, 0..n).await;
        let mut seen = Vec::new();
        for _ in 0..n {
            seen.push(next_event(&mut w).await.expect("every event, in order"));
        }
        assert_eq!(seen, written);
        // Caught up, it is back on the broadcast: the next write arrives live.
        let more = create_widgets(&store, &cache, n..n + 1).await;
        assert_eq!(next_event(&mut w).await, Ok(more[0]));
    }

    #[tokio::test]
    async fn a_watcher_behind_the_history_is_ended_with_410() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, cache) = cache_over_a_store(dir.path()).await;
        let mut w = cache
            .watch(Filter::default(), Some(cache.revision()), false)
            .expect("watch");
        create_widgets(&store, &cache, 0..HISTORY_EVENTS + 10).await;
        let err = next_event(&mut w).await.expect_err("410");
        assert!(
            err.contains("fell behind the watch cache's history"),
            "{err}"
        );
    }
}
