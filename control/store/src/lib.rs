//! The store: a revisioned key-value space with the semantics Kubernetes uses from etcd.
//!
//! Keys and values are opaque bytes here; the API server decides what they hold (rkyv
//! envelopes of API objects). Every write bumps one global revision; watches deliver
//! events in revision order, each exactly once, and report a compacted start revision
//! with a distinct error so that callers relist.
//!
//! Two backends implement [`Store`]: [`embedded::EmbeddedStore`] (the default for
//! `clipper up`: durable with group-committed fsyncs, all data held in memory for reads)
//! and [`etcd::EtcdStore`] (etcd 3.4+ through etcd-client, for HA). [`AnyStore`] picks one
//! at run time.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;

pub mod embedded;
pub mod etcd;
pub mod local_etcd;

/// A store revision: etcd's `mod_revision` space. Starts at 1 for the first write; 0 means
/// "nothing written yet" (or, as a request parameter, "latest").
pub type Revision = i64;

/// A lease identifier. 0 means "no lease".
pub type LeaseId = i64;

/// Largest value the store accepts. etcd's default `--max-request-bytes` is 1.5 MiB, and
/// Kubernetes objects are bounded by it; both backends refuse larger values the same way.
pub const MAX_VALUE_BYTES: usize = 1536 * 1024;

/// Largest key the store accepts; Kubernetes keys are `/registry/<resource>/<ns>/<name>`,
/// far below this.
pub const MAX_KEY_BYTES: usize = 8 * 1024;

/// One key and its value with etcd's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: Bytes,
    pub value: Bytes,
    /// Revision of the write that created this key (since its last deletion).
    pub create_revision: Revision,
    /// Revision of the last write to this key.
    pub mod_revision: Revision,
    /// Number of writes to this key since creation (1 after create).
    pub version: i64,
    /// Lease the key is attached to, 0 for none.
    pub lease: LeaseId,
}

/// What happened to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change, as a watch delivers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// For `Put`, the new key-value. For `Delete`, the key with an empty value, and
    /// `mod_revision` set to the revision of the deletion.
    pub kv: KeyValue,
    /// The key-value just before this event, if the key existed.
    pub prev_kv: Option<KeyValue>,
}

impl Event {
    /// The revision at which this event happened.
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// A range read: keys in `[start, end)`, or the single key `start` when `end` is empty.
#[derive(Clone, Debug, Default)]
pub struct RangeRequest {
    pub start: Bytes,
    pub end: Bytes,
    /// At most this many key-values; 0 means no limit.
    pub limit: usize,
    /// Read as of this revision; 0 means the current revision. A revision below the
    /// compaction point fails with [`StoreError::Compacted`] (etcd's rule: after
    /// `compact(c)` the state at `c` itself stays readable); one above the current revision
    /// fails with [`StoreError::FutureRevision`].
    pub revision: Revision,
    /// Only count the keys; return no key-values.
    pub count_only: bool,
}

impl RangeRequest {
    /// All keys that start with `prefix`.
    pub fn prefix(prefix: impl Into<Bytes>) -> Self {
        let start: Bytes = prefix.into();
        let end = prefix_end(&start);
        RangeRequest {
            start,
            end,
            ..Default::default()
        }
    }

    /// Keys in `[start, end)`.
    pub fn range(start: impl Into<Bytes>, end: impl Into<Bytes>) -> Self {
        RangeRequest {
            start: start.into(),
            end: end.into(),
            ..Default::default()
        }
    }

    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    pub fn at_revision(mut self, revision: Revision) -> Self {
        self.revision = revision;
        self
    }

    /// Continue after `last_key` (the last key of the previous page), keeping the end.
    pub fn continue_after(mut self, last_key: &[u8]) -> Self {
        let mut next = Vec::with_capacity(last_key.len() + 1);
        next.extend_from_slice(last_key);
        next.push(0);
        self.start = Bytes::from(next);
        self
    }
}

/// The answer to a [`RangeRequest`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeResponse {
    pub kvs: Vec<KeyValue>,
    /// True when more keys matched than `limit` allowed.
    pub more: bool,
    /// How many keys matched in all (ignoring `limit`).
    pub count: i64,
    /// The revision the read was served at.
    pub revision: Revision,
}

/// The end of the range of all keys starting with `prefix` (etcd's `GetPrefixRangeEnd`).
pub fn prefix_end(prefix: &[u8]) -> Bytes {
    let mut end = prefix.to_vec();
    while let Some(last) = end.last_mut() {
        if *last < 0xff {
            *last += 1;
            return Bytes::from(end);
        }
        end.pop();
    }
    // Every byte was 0xff (or the prefix was empty): the range is open-ended; etcd
    // spells that as the single byte 0.
    Bytes::from_static(&[0])
}

/// Errors with the meaning Kubernetes gives them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key already exists")]
    AlreadyExists,
    #[error("key not found")]
    NotFound,
    /// A compare-and-swap failed: the key's mod revision was not the expected one.
    /// `current` is the key as it is now (None if it no longer exists).
    #[error("revision conflict")]
    Conflict { current: Option<Box<KeyValue>> },
    /// The requested revision has been compacted away; relist from the current revision.
    /// `compacted` is the compaction point when the backend reports it (the embedded store
    /// and etcd's watch do; etcd's range does not, and then it is 0).
    #[error("required revision {requested} has been compacted (compaction point {compacted})")]
    Compacted {
        requested: Revision,
        compacted: Revision,
    },
    #[error("required revision {requested} is a future revision (current is {current})")]
    FutureRevision {
        requested: Revision,
        current: Revision,
    },
    #[error("value of {size} bytes exceeds the limit of {limit} bytes")]
    ValueTooLarge { size: usize, limit: usize },
    #[error("key of {size} bytes exceeds the limit of {limit} bytes")]
    KeyTooLarge { size: usize, limit: usize },
    #[error("lease {0} not found")]
    LeaseNotFound(LeaseId),
    /// The watch was ended by the store (the consumer fell behind, or the store closed).
    #[error("watch closed: {0}")]
    WatchClosed(String),
    /// The data on disk is not what the store wrote; the message says where.
    #[error("store data is corrupted: {0}")]
    Corrupted(String),
    #[error("store is closed")]
    Closed,
    /// The store's directory is in use by another open store (this process or another).
    #[error("store directory is locked: {0}")]
    Locked(String),
    #[error("store I/O error: {0}")]
    Io(String),
    #[error("etcd: {0}")]
    Backend(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What a watch delivers: events, or a progress notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchUpdate {
    /// A batch of events in revision order.
    Events(Vec<Event>),
    /// Every event of this watch up to this revision has been delivered (etcd's progress
    /// notification); sent only when asked for with [`WatchStream::request_progress`].
    Progress(Revision),
}

/// Asks a backend to send a progress notification on one watch.
type ProgressRequester = Box<dyn Fn() + Send + Sync>;

/// A watch: batches of events in revision order, each event exactly once.
///
/// The stream ends with `Some(Err(..))` when the store ends the watch (a compacted start
/// revision gives [`StoreError::Compacted`] as the first item, on both backends; a consumer
/// that falls behind gets [`StoreError::WatchClosed`]); `None` after that or when the store
/// closes. Dropping the stream cancels the watch.
pub struct WatchStream {
    rx: tokio::sync::mpsc::Receiver<Result<WatchUpdate>>,
    progress: ProgressRequester,
}

impl WatchStream {
    /// Bound on batches buffered for one watch before the producer ends the watch as fallen
    /// behind; a live batch holds at most one group commit's events (a replay from an old
    /// revision packs its events into at most half this many batches).
    pub const CHANNEL_BATCHES: usize = 1024;

    /// A stream over `rx`; `progress` asks the backend for a progress notification.
    pub fn new(
        rx: tokio::sync::mpsc::Receiver<Result<WatchUpdate>>,
        progress: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        WatchStream {
            rx,
            progress: Box::new(progress),
        }
    }

    /// The next batch of events (progress notifications are skipped), or the error that
    /// ended the watch, or None when closed.
    pub async fn next(&mut self) -> Option<Result<Vec<Event>>> {
        loop {
            match self.rx.recv().await? {
                Ok(WatchUpdate::Events(e)) => return Some(Ok(e)),
                Ok(WatchUpdate::Progress(_)) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// The next update, progress notifications included.
    pub async fn next_update(&mut self) -> Option<Result<WatchUpdate>> {
        self.rx.recv().await
    }

    /// The next batch of events if one is buffered now; None when none is (or the watch
    /// ended).
    pub fn try_next(&mut self) -> Option<Result<Vec<Event>>> {
        loop {
            match self.rx.try_recv().ok()? {
                Ok(WatchUpdate::Events(e)) => return Some(Ok(e)),
                Ok(WatchUpdate::Progress(_)) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// Asks for a [`WatchUpdate::Progress`] carrying the store's revision, sent after every
    /// event already committed — so that a consumer can tell it has seen every write up
    /// to a revision even when none of them concerned its range.
    pub fn request_progress(&self) {
        (self.progress)();
    }
}

/// The store's operations, with etcd's semantics as Kubernetes uses them.
pub trait Store: Send + Sync + 'static {
    /// One key, and the store's current revision.
    fn get(&self, key: &[u8]) -> impl Future<Output = Result<(Option<KeyValue>, Revision)>> + Send;

    /// A range of keys, optionally limited and at a past revision.
    fn range(&self, req: RangeRequest) -> impl Future<Output = Result<RangeResponse>> + Send;

    /// Create `key`; fails with `AlreadyExists` if it exists. Returns the new revision.
    fn create(
        &self,
        key: Bytes,
        value: Bytes,
        lease: LeaseId,
    ) -> impl Future<Output = Result<Revision>> + Send;

    /// Replace `key` if its mod revision is `expected`; otherwise `Conflict` with the
    /// current key-value (or `NotFound` if it does not exist). Returns the new revision.
    fn update(
        &self,
        key: Bytes,
        value: Bytes,
        expected: Revision,
        lease: LeaseId,
    ) -> impl Future<Output = Result<Revision>> + Send;

    /// Delete `key`, if its mod revision is `expected` (when given). Returns the deletion
    /// revision and the deleted key-value.
    fn delete(
        &self,
        key: Bytes,
        expected: Option<Revision>,
    ) -> impl Future<Output = Result<(Revision, KeyValue)>> + Send;

    /// Watch `[start, end)` (or the single key `start` when `end` is empty) from
    /// `from_revision` inclusive; 0 means "from the next write". When this returns, the
    /// watch is established: every later write in the range is delivered.
    fn watch(
        &self,
        start: Bytes,
        end: Bytes,
        from_revision: Revision,
    ) -> impl Future<Output = Result<WatchStream>> + Send;

    /// Forget history below `revision` (etcd's rule: the state at `revision` stays readable
    /// and a watch may still start there). A revision at or below the current compaction
    /// point fails with `Compacted`; one above the current revision with `FutureRevision`.
    fn compact(&self, revision: Revision) -> impl Future<Output = Result<()>> + Send;

    /// The current revision.
    fn current_revision(&self) -> impl Future<Output = Result<Revision>> + Send;

    /// Grant a lease of `ttl_seconds`; keys attached to it are deleted when it expires.
    fn lease_grant(&self, ttl_seconds: i64) -> impl Future<Output = Result<LeaseId>> + Send;

    /// Renew a lease; returns its TTL.
    fn lease_keep_alive(&self, lease: LeaseId) -> impl Future<Output = Result<i64>> + Send;

    /// Revoke a lease now, deleting its keys (all in one revision, as etcd does).
    fn lease_revoke(&self, lease: LeaseId) -> impl Future<Output = Result<()>> + Send;
}

/// Whether `key` lies in the range `[start, end)` with etcd's conventions: an empty `end`
/// means the single key `start`, and `end == "\0"` means every key from `start` on.
pub fn key_in_range(key: &[u8], start: &[u8], end: &[u8]) -> bool {
    if end.is_empty() {
        key == start
    } else if end == [0] {
        key >= start
    } else {
        key >= start && key < end
    }
}

/// Refuses keys and values over the limits, the same way on every backend, before any
/// work is done for them.
pub(crate) fn check_sizes(key: &[u8], value: &[u8]) -> Result<()> {
    if key.len() > MAX_KEY_BYTES {
        return Err(StoreError::KeyTooLarge {
            size: key.len(),
            limit: MAX_KEY_BYTES,
        });
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(StoreError::ValueTooLarge {
            size: value.len(),
            limit: MAX_VALUE_BYTES,
        });
    }
    Ok(())
}

/// Turns values into what is stored and back, for the keys it applies to: the API
/// server's encryption at rest. Implementations must accept values written before they
/// were installed (plaintext) on the way back.
pub trait ValueTransformer: Send + Sync + 'static {
    /// Whether values under `key` are transformed.
    fn applies(&self, key: &[u8]) -> bool;
    /// The value to store for `value` under `key` (e.g. encrypted).
    fn seal(&self, key: &[u8], value: &[u8]) -> Result<Bytes>;
    /// The value a stored `value` under `key` stands for (e.g. decrypted).
    fn open(&self, key: &[u8], value: &[u8]) -> Result<Bytes>;
}

enum Backend {
    Embedded(embedded::EmbeddedStore),
    Etcd(etcd::EtcdStore),
}

/// A store whose backend is chosen at run time (the embedded store for `clipper up`, etcd
/// for HA); every operation delegates to the chosen one, through the value transformer
/// when one is installed.
pub struct AnyStore {
    backend: Backend,
    transformer: Option<Arc<dyn ValueTransformer>>,
}

impl From<embedded::EmbeddedStore> for AnyStore {
    fn from(s: embedded::EmbeddedStore) -> Self {
        AnyStore {
            backend: Backend::Embedded(s),
            transformer: None,
        }
    }
}

impl From<etcd::EtcdStore> for AnyStore {
    fn from(s: etcd::EtcdStore) -> Self {
        AnyStore {
            backend: Backend::Etcd(s),
            transformer: None,
        }
    }
}

impl AnyStore {
    /// Installs a value transformer (encryption at rest).
    pub fn with_transformer(mut self, t: Arc<dyn ValueTransformer>) -> AnyStore {
        self.transformer = Some(t);
        self
    }

    fn write_value(&self, key: &[u8], value: Bytes) -> Result<Bytes> {
        match &self.transformer {
            Some(t) if t.applies(key) => t.seal(key, &value),
            _ => Ok(value),
        }
    }

    fn read_kv(&self, kv: KeyValue) -> Result<KeyValue> {
        match &self.transformer {
            Some(t) => read_kv(t.as_ref(), kv),
            None => Ok(kv),
        }
    }

    fn read_conflict(&self, e: StoreError) -> StoreError {
        match e {
            StoreError::Conflict { current: Some(kv) } => match self.read_kv(*kv) {
                Ok(kv) => StoreError::Conflict {
                    current: Some(Box::new(kv)),
                },
                Err(e) => e,
            },
            other => other,
        }
    }
}

/// Delegates one trait method to whichever backend `self` holds.
macro_rules! delegate {
    ($self:ident, $method:ident ( $($arg:expr),* )) => {
        match &$self.backend {
            Backend::Embedded(s) => s.$method($($arg),*).await,
            Backend::Etcd(s) => s.$method($($arg),*).await,
        }
    };
}

impl Store for AnyStore {
    async fn get(&self, key: &[u8]) -> Result<(Option<KeyValue>, Revision)> {
        let (kv, rev) = delegate!(self, get(key))?;
        Ok((kv.map(|kv| self.read_kv(kv)).transpose()?, rev))
    }

    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        let mut resp = delegate!(self, range(req))?;
        if self.transformer.is_some() {
            resp.kvs = resp
                .kvs
                .into_iter()
                .map(|kv| self.read_kv(kv))
                .collect::<Result<_>>()?;
        }
        Ok(resp)
    }

    async fn create(&self, key: Bytes, value: Bytes, lease: LeaseId) -> Result<Revision> {
        let value = self.write_value(&key, value)?;
        delegate!(self, create(key, value, lease))
    }

    async fn update(
        &self,
        key: Bytes,
        value: Bytes,
        expected: Revision,
        lease: LeaseId,
    ) -> Result<Revision> {
        let value = self.write_value(&key, value)?;
        delegate!(self, update(key, value, expected, lease)).map_err(|e| self.read_conflict(e))
    }

    async fn delete(&self, key: Bytes, expected: Option<Revision>) -> Result<(Revision, KeyValue)> {
        let (rev, kv) =
            delegate!(self, delete(key, expected)).map_err(|e| self.read_conflict(e))?;
        Ok((rev, self.read_kv(kv)?))
    }

    async fn watch(
        &self,
        start: Bytes,
        end: Bytes,
        from_revision: Revision,
    ) -> Result<WatchStream> {
        let inner = delegate!(self, watch(start, end, from_revision))?;
        let Some(t) = self.transformer.clone() else {
            return Ok(inner);
        };
        Ok(transform_watch(inner, t))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        delegate!(self, compact(revision))
    }

    async fn current_revision(&self) -> Result<Revision> {
        delegate!(self, current_revision())
    }

    async fn lease_grant(&self, ttl_seconds: i64) -> Result<LeaseId> {
        delegate!(self, lease_grant(ttl_seconds))
    }

    async fn lease_keep_alive(&self, lease: LeaseId) -> Result<i64> {
        delegate!(self, lease_keep_alive(lease))
    }

    async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        delegate!(self, lease_revoke(lease))
    }
}

/// A watch whose events pass through `t`, forwarded by a task of its own over a channel
/// as bounded as the backend's; progress requests go straight to the backend.
fn transform_watch(mut inner: WatchStream, t: Arc<dyn ValueTransformer>) -> WatchStream {
    let (tx, rx) = tokio::sync::mpsc::channel(WatchStream::CHANNEL_BATCHES);
    let progress = std::mem::replace(&mut inner.progress, Box::new(|| {}));
    tokio::spawn(async move {
        while let Some(update) = inner.next_update().await {
            let update = match update {
                Ok(WatchUpdate::Events(events)) => events
                    .into_iter()
                    .map(|e| read_event(t.as_ref(), e))
                    .collect::<Result<Vec<_>>>()
                    .map(WatchUpdate::Events),
                other => other,
            };
            let end = update.is_err();
            if tx.send(update).await.is_err() || end {
                break;
            }
        }
    });
    WatchStream { rx, progress }
}

fn read_kv(t: &dyn ValueTransformer, mut kv: KeyValue) -> Result<KeyValue> {
    if !kv.value.is_empty() && t.applies(&kv.key) {
        kv.value = t.open(&kv.key, &kv.value)?;
    }
    Ok(kv)
}

fn read_event(t: &dyn ValueTransformer, mut e: Event) -> Result<Event> {
    e.kv = read_kv(t, e.kv)?;
    e.prev_kv = e.prev_kv.map(|kv| read_kv(t, kv)).transpose()?;
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_and_ranges() {
        assert_eq!(&prefix_end(b"a/b")[..], b"a/c");
        assert_eq!(&prefix_end(b"a\xff")[..], b"b");
        assert_eq!(&prefix_end(b"\xff\xff")[..], b"\0");
        assert!(key_in_range(b"a/b", b"a/b", b""));
        assert!(!key_in_range(b"a/bc", b"a/b", b""));
        assert!(key_in_range(b"a/bc", b"a/b", b"a/c"));
        assert!(!key_in_range(b"a/c", b"a/b", b"a/c"));
        assert!(key_in_range(b"zzz", b"a", b"\0"));
        assert!(!key_in_range(b"0", b"a", b"\0"));
    }
}
