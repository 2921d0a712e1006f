//! The embedded store's in-memory state and its pure logic: staging a batch of writes
//! (CAS checks against committed state plus the batch's own earlier writes), applying a
//! durable batch, the bounded event history, reads at past revisions, and watch fan-out.
//!
//! Nothing here does I/O; the committer in `embedded.rs` puts the disk between
//! [`Batch::stage`] and [`State::apply`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::codec;
use crate::{
    Event, EventKind, KeyValue, LeaseId, RangeRequest, RangeResponse, Result, Revision, StoreError,
    WatchStream, WatchUpdate, key_in_range,
};

/// A new watch's receiving end, and a sender the watch's progress notifications go to.
pub type WatchChannel = (
    mpsc::Receiver<Result<WatchUpdate>>,
    mpsc::Sender<Result<WatchUpdate>>,
);

/// Shortest lease the store grants; a TTL below it is raised to it (etcd does the same with
/// its own minimum), so a lease always outlives the request that granted it.
pub(crate) const MIN_LEASE_TTL_SECONDS: i64 = 1;

/// Longest lease the store grants (etcd's `MaxLeaseTTL`); keeps deadlines representable.
pub(crate) const MAX_LEASE_TTL_SECONDS: i64 = 9_000_000_000;

/// Estimated fixed bytes of one held event beyond its keys and values (two `KeyValue`s, the
/// `Event` and the deque slot); used to charge events against the history byte bound.
const EVENT_OVERHEAD_BYTES: usize = 256;

/// Fewest events per batch of a replay (unless fewer are left): big batches are cheaper to
/// deliver than one per revision.
const REPLAY_MIN_BATCH_EVENTS: usize = 1024;

/// Bounds of the in-memory event history.
#[derive(Clone, Copy, Debug)]
pub struct HistoryLimits {
    /// Most events held.
    pub max_events: usize,
    /// Most bytes (keys, values and prev values, plus overhead) held.
    pub max_bytes: usize,
}

/// One lease as held in memory.
#[derive(Debug)]
pub(crate) struct LeaseState {
    pub ttl: i64,
    pub deadline: Instant,
    /// Keys attached to this lease (committed state).
    pub keys: BTreeSet<Bytes>,
}

/// One registered watch.
struct Watcher {
    start: Bytes,
    end: Bytes,
    /// Events below this revision are not for this watcher (a watch from a future revision).
    min_revision: Revision,
    tx: mpsc::Sender<Result<WatchUpdate>>,
}

/// A write the committer was asked to do.
#[derive(Debug)]
pub(crate) enum Op {
    Create {
        key: Bytes,
        value: Bytes,
        lease: LeaseId,
    },
    Update {
        key: Bytes,
        value: Bytes,
        expected: Revision,
        lease: LeaseId,
    },
    Delete {
        key: Bytes,
        expected: Option<Revision>,
    },
    LeaseGrant {
        ttl: i64,
    },
    LeaseRevoke {
        id: LeaseId,
    },
}

impl Op {
    /// Bytes this op adds to a batch (for the batch byte bound).
    pub fn size_bytes(&self) -> usize {
        match self {
            Op::Create { key, value, .. } | Op::Update { key, value, .. } => {
                key.len() + value.len()
            }
            Op::Delete { key, .. } => key.len(),
            Op::LeaseGrant { .. } | Op::LeaseRevoke { .. } => 16,
        }
    }
}

/// The answer to a successful [`Op`].
#[derive(Debug)]
pub(crate) enum Reply {
    Revision(Revision),
    Deleted(Revision, KeyValue),
    Lease(LeaseId),
    Done,
}

/// A change to the persisted records, in batch order.
#[derive(Debug)]
pub(crate) enum DiskOp {
    PutKv(Bytes, Vec<u8>),
    DeleteKv(Bytes),
    PutLease(LeaseId, Vec<u8>),
    DeleteLease(LeaseId),
}

/// A change to the in-memory state, in batch order.
#[derive(Debug)]
pub(crate) enum Effect {
    Event(Event),
    LeaseGrant { id: LeaseId, ttl: i64 },
    LeaseRevoke { id: LeaseId },
}

/// The in-memory state: every key, the recent history, the leases, the watchers.
pub(crate) struct State {
    pub kvs: BTreeMap<Bytes, KeyValue>,
    pub revision: Revision,
    /// etcd's compaction point: revisions below it cannot be read or watched from.
    pub compact_revision: Revision,
    /// Lowest revision whose events are all held in `history` (`compact_revision`, or one
    /// above it after open, when no history is held).
    history_start: Revision,
    history: VecDeque<Event>,
    history_bytes: usize,
    limits: HistoryLimits,
    pub leases: HashMap<LeaseId, LeaseState>,
    pub next_lease_id: LeaseId,
    watchers: Vec<Watcher>,
}

impl State {
    /// The state as loaded at open: no history, so the compaction point is the current
    /// revision (a restart behaves like a compaction).
    pub fn new(
        kvs: BTreeMap<Bytes, KeyValue>,
        revision: Revision,
        leases: HashMap<LeaseId, LeaseState>,
        next_lease_id: LeaseId,
        limits: HistoryLimits,
    ) -> Self {
        State {
            kvs,
            revision,
            compact_revision: revision,
            history_start: revision + 1,
            history: VecDeque::new(),
            history_bytes: 0,
            limits,
            leases,
            next_lease_id,
            watchers: Vec::new(),
        }
    }

    /// The number of events held in history.
    #[cfg(test)]
    pub fn history_len(&self) -> usize {
        self.history.len()
    }

    /// The number of registered watchers.
    #[cfg(test)]
    pub fn watcher_count(&self) -> usize {
        self.watchers.len()
    }

    /// Answer a range read, at the current or a past revision.
    pub fn range(&self, req: &RangeRequest) -> Result<RangeResponse> {
        let at = if req.revision == 0 {
            self.revision
        } else {
            req.revision
        };
        if at > self.revision {
            return Err(StoreError::FutureRevision {
                requested: at,
                current: self.revision,
            });
        }
        if at < self.compact_revision || at + 1 < self.history_start {
            return Err(StoreError::Compacted {
                requested: at,
                compacted: self.compact_revision,
            });
        }
        let mut resp = RangeResponse {
            revision: at,
            ..Default::default()
        };
        let limit = if req.limit == 0 || req.count_only {
            usize::MAX
        } else {
            req.limit
        };
        let mut emit = |kv: &KeyValue| {
            resp.count += 1;
            if !req.count_only && resp.kvs.len() < limit {
                resp.kvs.push(kv.clone());
            }
        };
        if at == self.revision {
            for (_, kv) in self.current_range(&req.start, &req.end) {
                emit(kv);
            }
        } else {
            // The value of each key touched after `at` is the prev_kv of its first event
            // after `at` (absent if that event created it); other keys are as they are now.
            let first = self.history.partition_point(|e| e.revision() <= at);
            let mut undo: BTreeMap<&Bytes, Option<&KeyValue>> = BTreeMap::new();
            for e in self.history.range(first..) {
                if key_in_range(&e.kv.key, &req.start, &req.end) {
                    undo.entry(&e.kv.key).or_insert(e.prev_kv.as_ref());
                }
            }
            let mut now = self.current_range(&req.start, &req.end).peekable();
            let mut old = undo.into_iter().peekable();
            loop {
                let take_now = match (now.peek(), old.peek()) {
                    (None, None) => break,
                    (Some(_), None) => true,
                    (None, Some(_)) => false,
                    (Some((nk, _)), Some((ok, _))) => nk < ok,
                };
                if take_now {
                    if let Some((_, kv)) = now.next() {
                        emit(kv);
                    }
                } else if let Some((key, was)) = old.next() {
                    if now.peek().is_some_and(|(nk, _)| *nk == key) {
                        now.next();
                    }
                    if let Some(kv) = was {
                        emit(kv);
                    }
                }
            }
        }
        resp.more = !req.count_only && req.limit > 0 && resp.count > resp.kvs.len() as i64;
        Ok(resp)
    }

    fn current_range<'a>(
        &'a self,
        start: &[u8],
        end: &[u8],
    ) -> Box<dyn Iterator<Item = (&'a Bytes, &'a KeyValue)> + 'a> {
        let start = Bytes::copy_from_slice(start);
        if end.is_empty() {
            return Box::new(self.kvs.get_key_value(&start).into_iter());
        }
        if end == [0] {
            return Box::new(self.kvs.range((Bound::Included(start), Bound::Unbounded)));
        }
        if start[..] >= end[..] {
            return Box::new(std::iter::empty());
        }
        let end = Bytes::copy_from_slice(end);
        Box::new(
            self.kvs
                .range((Bound::Included(start), Bound::Excluded(end))),
        )
    }

    /// Apply a durable batch: its effects in order, then the new revision; record the
    /// events in history and deliver them to watchers.
    pub fn apply(&mut self, effects: Vec<Effect>, revision: Revision, now: Instant) {
        let mut events = Vec::new();
        for effect in effects {
            match effect {
                Effect::Event(ev) => {
                    if let Some(prev) = &ev.prev_kv
                        && prev.lease != 0
                        && let Some(l) = self.leases.get_mut(&prev.lease)
                    {
                        l.keys.remove(&prev.key);
                    }
                    match ev.kind {
                        EventKind::Put => {
                            if ev.kv.lease != 0
                                && let Some(l) = self.leases.get_mut(&ev.kv.lease)
                            {
                                l.keys.insert(ev.kv.key.clone());
                            }
                            self.kvs.insert(ev.kv.key.clone(), ev.kv.clone());
                        }
                        EventKind::Delete => {
                            self.kvs.remove(&ev.kv.key);
                        }
                    }
                    events.push(ev);
                }
                Effect::LeaseGrant { id, ttl } => {
                    self.leases.insert(
                        id,
                        LeaseState {
                            ttl,
                            deadline: deadline(now, ttl),
                            keys: BTreeSet::new(),
                        },
                    );
                    self.next_lease_id = self.next_lease_id.max(id + 1);
                }
                Effect::LeaseRevoke { id } => {
                    self.leases.remove(&id);
                }
            }
        }
        debug_assert!(revision >= self.revision);
        self.revision = revision;
        if events.is_empty() {
            return;
        }
        self.publish(&events);
        for ev in events {
            self.history_bytes += event_bytes(&ev);
            self.history.push_back(ev);
        }
        self.trim_history();
    }

    /// Drop the oldest revisions while history is over its bounds (an automatic
    /// compaction), always keeping the newest revision.
    fn trim_history(&mut self) {
        while self.history.len() > self.limits.max_events
            || self.history_bytes > self.limits.max_bytes
        {
            let Some(oldest) = self.history.front().map(Event::revision) else {
                break;
            };
            if oldest >= self.revision {
                break;
            }
            while self.history.front().is_some_and(|e| e.revision() == oldest) {
                if let Some(ev) = self.history.pop_front() {
                    self.history_bytes -= event_bytes(&ev);
                }
            }
            self.history_start = oldest + 1;
            self.compact_revision = oldest + 1;
        }
    }

    /// Forget history below `revision` (etcd's compaction rule).
    pub fn compact(&mut self, revision: Revision) -> Result<()> {
        if revision > self.revision {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: self.revision,
            });
        }
        if revision <= self.compact_revision {
            return Err(StoreError::Compacted {
                requested: revision,
                compacted: self.compact_revision,
            });
        }
        while self
            .history
            .front()
            .is_some_and(|e| e.revision() < revision)
        {
            if let Some(ev) = self.history.pop_front() {
                self.history_bytes -= event_bytes(&ev);
            }
        }
        self.compact_revision = revision;
        self.history_start = self.history_start.max(revision);
        Ok(())
    }

    /// Register a watch of `[start, end)` from `from` (0: the next write), replaying held
    /// history first. A compacted start gives a channel whose only item is the error.
    /// Returns the receiving end and a sender for progress notifications.
    pub fn watch(&mut self, start: Bytes, end: Bytes, from: Revision) -> WatchChannel {
        let (tx, rx) = mpsc::channel(WatchStream::CHANNEL_BATCHES);
        let progress = tx.clone();
        let from = if from <= 0 { self.revision + 1 } else { from };
        if from < self.compact_revision || from < self.history_start {
            // The channel is new and empty, so this cannot fail.
            let _ = tx.try_send(Err(StoreError::Compacted {
                requested: from,
                compacted: self.compact_revision,
            }));
            return (rx, progress);
        }
        let first = self.history.partition_point(|e| e.revision() < from);
        let replay: Vec<Event> = self
            .history
            .range(first..)
            .filter(|e| key_in_range(&e.kv.key, &start, &end))
            .cloned()
            .collect();
        if !replay.is_empty() {
            // At most half the channel, so live batches still fit behind the replay.
            let chunk = replay
                .len()
                .div_ceil(WatchStream::CHANNEL_BATCHES / 2)
                .max(REPLAY_MIN_BATCH_EVENTS);
            for part in replay.chunks(chunk) {
                // Fits by construction: at most CHANNEL_BATCHES / 2 chunks in a new channel.
                let _ = tx.try_send(Ok(WatchUpdate::Events(part.to_vec())));
            }
        }
        self.watchers.push(Watcher {
            start,
            end,
            min_revision: from,
            tx,
        });
        (rx, progress)
    }

    /// Deliver `events` (one batch, in revision order) to every watcher they concern; end
    /// watchers that fell behind and forget those whose stream was dropped.
    fn publish(&mut self, events: &[Event]) {
        self.watchers.retain(|w| {
            if w.tx.is_closed() {
                return false;
            }
            let mine: Vec<Event> = events
                .iter()
                .filter(|e| {
                    e.revision() >= w.min_revision && key_in_range(&e.kv.key, &w.start, &w.end)
                })
                .cloned()
                .collect();
            if mine.is_empty() {
                return true;
            }
            // One slot stays free for the error that ends a watcher that fell behind.
            if w.tx.capacity() > 1 {
                return w.tx.try_send(Ok(WatchUpdate::Events(mine))).is_ok();
            }
            let _ = w.tx.try_send(Err(StoreError::WatchClosed(format!(
                "watcher fell behind: {} undelivered batches; re-watch from the last revision \
                 received",
                WatchStream::CHANNEL_BATCHES - 1
            ))));
            false
        });
    }

    /// End every watch (the store is closing): their streams then yield `None`.
    pub fn close_watchers(&mut self) {
        self.watchers.clear();
    }

    /// The earliest lease deadline, if any lease exists.
    pub fn next_lease_deadline(&self) -> Option<Instant> {
        self.leases.values().map(|l| l.deadline).min()
    }

    /// Leases whose deadline has passed.
    pub fn expired_leases(&self, now: Instant) -> Vec<LeaseId> {
        let mut ids: Vec<LeaseId> = self
            .leases
            .iter()
            .filter(|(_, l)| l.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Renew a lease: its deadline becomes `now + ttl`.
    pub fn keep_alive(&mut self, id: LeaseId, now: Instant) -> Result<i64> {
        let lease = self
            .leases
            .get_mut(&id)
            .ok_or(StoreError::LeaseNotFound(id))?;
        lease.deadline = deadline(now, lease.ttl);
        Ok(lease.ttl)
    }
}

fn deadline(now: Instant, ttl: i64) -> Instant {
    let secs = u64::try_from(ttl.max(0)).unwrap_or(0);
    now.checked_add(Duration::from_secs(secs))
        .unwrap_or(now + Duration::from_secs(u32::MAX as u64))
}

fn event_bytes(ev: &Event) -> usize {
    EVENT_OVERHEAD_BYTES
        + ev.kv.key.len()
        + ev.kv.value.len()
        + ev.prev_kv
            .as_ref()
            .map_or(0, |p| p.key.len() + p.value.len())
}

/// A batch being staged against committed state plus its own earlier writes.
pub(crate) struct Batch<'a> {
    state: &'a State,
    overlay: HashMap<Bytes, Option<KeyValue>>,
    /// Leases granted (true) or revoked (false) earlier in this batch.
    lease_overlay: HashMap<LeaseId, bool>,
    pub revision: Revision,
    pub next_lease_id: LeaseId,
    pub key_count: i64,
    pub lease_count: i64,
    pub effects: Vec<Effect>,
    pub disk: Vec<DiskOp>,
}

impl<'a> Batch<'a> {
    pub fn new(state: &'a State) -> Self {
        Batch {
            state,
            overlay: HashMap::new(),
            lease_overlay: HashMap::new(),
            revision: state.revision,
            next_lease_id: state.next_lease_id,
            key_count: state.kvs.len() as i64,
            lease_count: state.leases.len() as i64,
            effects: Vec::new(),
            disk: Vec::new(),
        }
    }

    /// Whether this batch changes anything.
    pub fn is_empty(&self) -> bool {
        self.disk.is_empty()
    }

    fn current(&self, key: &Bytes) -> Option<&KeyValue> {
        match self.overlay.get(key) {
            Some(v) => v.as_ref(),
            None => self.state.kvs.get(key),
        }
    }

    fn lease_exists(&self, id: LeaseId) -> bool {
        match self.lease_overlay.get(&id) {
            Some(exists) => *exists,
            None => self.state.leases.contains_key(&id),
        }
    }

    fn check_lease(&self, lease: LeaseId) -> Result<()> {
        if lease != 0 && !self.lease_exists(lease) {
            return Err(StoreError::LeaseNotFound(lease));
        }
        Ok(())
    }

    fn put(&mut self, kv: KeyValue, prev: Option<KeyValue>) {
        self.disk
            .push(DiskOp::PutKv(kv.key.clone(), codec::encode_kv(&kv)));
        self.overlay.insert(kv.key.clone(), Some(kv.clone()));
        self.effects.push(Effect::Event(Event {
            kind: EventKind::Put,
            kv,
            prev_kv: prev,
        }));
    }

    fn remove(&mut self, prev: KeyValue, revision: Revision) {
        self.disk.push(DiskOp::DeleteKv(prev.key.clone()));
        self.overlay.insert(prev.key.clone(), None);
        self.key_count -= 1;
        let kv = KeyValue {
            key: prev.key.clone(),
            value: Bytes::new(),
            create_revision: 0,
            mod_revision: revision,
            version: 0,
            lease: 0,
        };
        self.effects.push(Effect::Event(Event {
            kind: EventKind::Delete,
            kv,
            prev_kv: Some(prev),
        }));
    }

    /// Check `op` against the state as this batch leaves it and, if it may go ahead, stage
    /// its records and effects.
    pub fn stage(&mut self, op: Op) -> Result<Reply> {
        match op {
            Op::Create { key, value, lease } => {
                if self.current(&key).is_some() {
                    return Err(StoreError::AlreadyExists);
                }
                self.check_lease(lease)?;
                self.revision += 1;
                let rev = self.revision;
                self.key_count += 1;
                let kv = KeyValue {
                    key,
                    value,
                    create_revision: rev,
                    mod_revision: rev,
                    version: 1,
                    lease,
                };
                self.put(kv, None);
                Ok(Reply::Revision(rev))
            }
            Op::Update {
                key,
                value,
                expected,
                lease,
            } => {
                let Some(cur) = self.current(&key).cloned() else {
                    return Err(StoreError::NotFound);
                };
                if cur.mod_revision != expected {
                    return Err(StoreError::Conflict {
                        current: Some(Box::new(cur)),
                    });
                }
                self.check_lease(lease)?;
                self.revision += 1;
                let rev = self.revision;
                let kv = KeyValue {
                    key,
                    value,
                    create_revision: cur.create_revision,
                    mod_revision: rev,
                    version: cur.version + 1,
                    lease,
                };
                self.put(kv, Some(cur));
                Ok(Reply::Revision(rev))
            }
            Op::Delete { key, expected } => {
                let Some(cur) = self.current(&key).cloned() else {
                    return Err(StoreError::NotFound);
                };
                if expected.is_some_and(|e| e != cur.mod_revision) {
                    return Err(StoreError::Conflict {
                        current: Some(Box::new(cur)),
                    });
                }
                self.revision += 1;
                let rev = self.revision;
                self.remove(cur.clone(), rev);
                Ok(Reply::Deleted(rev, cur))
            }
            Op::LeaseGrant { ttl } => {
                let ttl = ttl.clamp(MIN_LEASE_TTL_SECONDS, MAX_LEASE_TTL_SECONDS);
                let id = self.next_lease_id;
                self.next_lease_id += 1;
                self.lease_overlay.insert(id, true);
                self.lease_count += 1;
                self.disk
                    .push(DiskOp::PutLease(id, codec::encode_lease(id, ttl)));
                self.effects.push(Effect::LeaseGrant { id, ttl });
                Ok(Reply::Lease(id))
            }
            Op::LeaseRevoke { id } => {
                if !self.lease_exists(id) {
                    return Err(StoreError::LeaseNotFound(id));
                }
                let mut keys: BTreeSet<Bytes> = self
                    .state
                    .leases
                    .get(&id)
                    .map(|l| l.keys.clone())
                    .unwrap_or_default();
                keys.extend(
                    self.overlay
                        .iter()
                        .filter(|(_, kv)| kv.as_ref().is_some_and(|kv| kv.lease == id))
                        .map(|(k, _)| k.clone()),
                );
                let attached: Vec<KeyValue> = keys
                    .iter()
                    .filter_map(|k| self.current(k).filter(|kv| kv.lease == id).cloned())
                    .collect();
                if !attached.is_empty() {
                    // All of a lease's keys go in one revision, as in etcd.
                    self.revision += 1;
                    let rev = self.revision;
                    for kv in attached {
                        self.remove(kv, rev);
                    }
                }
                self.lease_overlay.insert(id, false);
                self.lease_count -= 1;
                self.disk.push(DiskOp::DeleteLease(id));
                self.effects.push(Effect::LeaseRevoke { id });
                Ok(Reply::Done)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream over a registered watch, without progress requests.
    fn stream(channel: WatchChannel) -> WatchStream {
        WatchStream::new(channel.0, || {})
    }
    use proptest::prelude::*;

    const LIMITS: HistoryLimits = HistoryLimits {
        max_events: 1 << 20,
        max_bytes: 1 << 30,
    };

    fn state() -> State {
        State::new(BTreeMap::new(), 0, HashMap::new(), 1, LIMITS)
    }

    /// Stage and apply one op as its own batch.
    fn run(st: &mut State, op: Op) -> Result<Reply> {
        let mut b = Batch::new(st);
        let r = b.stage(op);
        let (effects, rev) = (b.effects, b.revision);
        st.apply(effects, rev, Instant::now());
        r
    }

    fn key(i: u8) -> Bytes {
        Bytes::from(vec![b'k', i])
    }

    /// A model op: 0 = create-or-update, 1 = delete, on key `k`.
    #[derive(Clone, Debug)]
    struct ModelOp {
        kind: u8,
        k: u8,
        v: u8,
    }

    fn model_op() -> impl Strategy<Value = ModelOp> {
        (0u8..3, 0u8..8, any::<u8>()).prop_map(|(kind, k, v)| ModelOp { kind, k, v })
    }

    proptest! {
        /// A range at every past revision equals a model snapshot taken at that revision,
        /// for the whole space, a sub-range, a single key, and with limits.
        #[test]
        fn range_at_past_revision_matches_model(ops in proptest::collection::vec(model_op(), 1..60), limit in 0usize..4) {
            let mut st = state();
            let mut model: BTreeMap<Bytes, KeyValue> = BTreeMap::new();
            let mut snapshots: Vec<(Revision, BTreeMap<Bytes, KeyValue>)> = vec![(0, model.clone())];
            for op in ops {
                let k = key(op.k);
                let value = Bytes::from(vec![op.v]);
                let r = match (op.kind, model.get(&k).cloned()) {
                    (0 | 1, None) => run(&mut st, Op::Create { key: k.clone(), value, lease: 0 }),
                    (0 | 1, Some(cur)) => run(&mut st, Op::Update { key: k.clone(), value, expected: cur.mod_revision, lease: 0 }),
                    (_, Some(cur)) => run(&mut st, Op::Delete { key: k.clone(), expected: Some(cur.mod_revision) }),
                    (_, None) => {
                        let r = run(&mut st, Op::Delete { key: k.clone(), expected: None });
                        prop_assert!(matches!(r, Err(StoreError::NotFound)), "want NotFound");
                        continue;
                    }
                };
                prop_assert!(r.is_ok());
                model = st.kvs.clone();
                snapshots.push((st.revision, model.clone()));
            }
            // Revision 0 asks for the current state, so the empty start is not addressable.
            for (rev, snap) in snapshots.iter().filter(|(r, _)| *r > 0) {
                let ranges: [(&[u8], &[u8]); 4] = [(b"", b"\0"), (b"k\x02", b"k\x05"), (b"k\x03", b""), (b"k\x06", b"\0")];
                for (start, end) in ranges {
                    let want: Vec<KeyValue> = snap.values().filter(|kv| key_in_range(&kv.key, start, end)).cloned().collect();
                    let req = RangeRequest { start: Bytes::copy_from_slice(start), end: Bytes::copy_from_slice(end), limit, revision: *rev, count_only: false };
                    let got = st.range(&req).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(got.count, want.len() as i64);
                    let n = if limit == 0 { want.len() } else { limit.min(want.len()) };
                    prop_assert_eq!(&got.kvs[..], &want[..n]);
                    prop_assert_eq!(got.more, n < want.len());
                    prop_assert_eq!(got.revision, *rev);
                }
            }
        }
    }

    #[test]
    fn batch_sees_its_own_writes() {
        let st = state();
        let mut b = Batch::new(&st);
        assert!(matches!(
            b.stage(Op::Create {
                key: key(1),
                value: Bytes::new(),
                lease: 0
            }),
            Ok(Reply::Revision(1))
        ));
        assert!(matches!(
            b.stage(Op::Create {
                key: key(1),
                value: Bytes::new(),
                lease: 0
            }),
            Err(StoreError::AlreadyExists)
        ));
        match b.stage(Op::Update {
            key: key(1),
            value: Bytes::new(),
            expected: 7,
            lease: 0,
        }) {
            Err(StoreError::Conflict { current: Some(kv) }) => assert_eq!(kv.mod_revision, 1),
            other => panic!("want conflict, got {other:?}"),
        }
        assert!(matches!(
            b.stage(Op::Update {
                key: key(1),
                value: Bytes::new(),
                expected: 1,
                lease: 0
            }),
            Ok(Reply::Revision(2))
        ));
        assert!(matches!(
            b.stage(Op::Delete {
                key: key(1),
                expected: Some(2)
            }),
            Ok(Reply::Deleted(3, _))
        ));
        assert!(matches!(
            b.stage(Op::Delete {
                key: key(1),
                expected: None
            }),
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            b.stage(Op::Create {
                key: key(2),
                value: Bytes::new(),
                lease: 9
            }),
            Err(StoreError::LeaseNotFound(9))
        ));
        let Ok(Reply::Lease(id)) = b.stage(Op::LeaseGrant { ttl: 5 }) else {
            panic!("grant")
        };
        assert!(matches!(
            b.stage(Op::Create {
                key: key(2),
                value: Bytes::new(),
                lease: id
            }),
            Ok(Reply::Revision(4))
        ));
        assert!(matches!(
            b.stage(Op::Create {
                key: key(3),
                value: Bytes::new(),
                lease: id
            }),
            Ok(Reply::Revision(5))
        ));
        // Revoking deletes both keys attached earlier in this batch, in one revision.
        assert!(matches!(b.stage(Op::LeaseRevoke { id }), Ok(Reply::Done)));
        assert_eq!(b.revision, 6);
        assert_eq!(b.key_count, 0);
        let (effects, rev) = (b.effects, b.revision);
        let mut st = st;
        st.apply(effects, rev, Instant::now());
        assert!(st.kvs.is_empty());
        assert!(st.leases.is_empty());
        assert_eq!(st.revision, 6);
    }

    #[test]
    fn history_bound_compacts_oldest() {
        let mut st = State::new(
            BTreeMap::new(),
            0,
            HashMap::new(),
            1,
            HistoryLimits {
                max_events: 10,
                max_bytes: 1 << 30,
            },
        );
        for i in 0..25u8 {
            run(
                &mut st,
                Op::Create {
                    key: key(i),
                    value: Bytes::new(),
                    lease: 0,
                },
            )
            .ok();
        }
        assert_eq!(st.history_len(), 10);
        assert_eq!(st.compact_revision, 16);
        assert!(matches!(
            st.range(&RangeRequest::prefix("k").at_revision(15)),
            Err(StoreError::Compacted { .. })
        ));
        assert_eq!(
            st.range(&RangeRequest::prefix("k").at_revision(16))
                .map(|r| r.count)
                .ok(),
            Some(16)
        );
        let mut w = stream(st.watch(Bytes::from_static(b"k"), prefix_end_of("k"), 15));
        assert!(matches!(
            w.try_next(),
            Some(Err(StoreError::Compacted { .. }))
        ));
        let mut w = stream(st.watch(Bytes::from_static(b"k"), prefix_end_of("k"), 16));
        match w.try_next() {
            Some(Ok(evs)) => assert_eq!(
                evs.iter().map(Event::revision).collect::<Vec<_>>(),
                (16..=25).collect::<Vec<_>>()
            ),
            other => panic!("want replay, got {other:?}"),
        }
    }

    #[test]
    fn slow_watcher_is_ended_not_buffered() {
        let mut st = state();
        let mut w = stream(st.watch(Bytes::from_static(b"k"), prefix_end_of("k"), 0));
        for i in 0..(WatchStream::CHANNEL_BATCHES as u32 + 10) {
            let k = Bytes::from(format!("k{i}"));
            run(
                &mut st,
                Op::Create {
                    key: k,
                    value: Bytes::new(),
                    lease: 0,
                },
            )
            .ok();
        }
        assert_eq!(st.watcher_count(), 0);
        let mut got = 0;
        loop {
            match w.try_next() {
                Some(Ok(_)) => got += 1,
                Some(Err(StoreError::WatchClosed(msg))) => {
                    assert!(msg.contains("fell behind"), "{msg}");
                    break;
                }
                other => panic!("want batches then WatchClosed, got {other:?}"),
            }
        }
        assert_eq!(got, WatchStream::CHANNEL_BATCHES - 1);
        assert!(w.try_next().is_none());
    }

    fn prefix_end_of(p: &str) -> Bytes {
        crate::prefix_end(p.as_bytes())
    }
}
