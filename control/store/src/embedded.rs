//! The embedded backend: all data in memory for reads, every write group-committed to a
//! fjall journal with one `fdatasync` per batch before anyone can see it.
//!
//! One committer thread owns the disk. Writers put requests on a bounded queue; the
//! committer drains up to [`MAX_BATCH_REQUESTS`] of them, checks each against the
//! committed state plus the batch's own earlier writes (under a read lock, so readers are
//! never blocked by the disk), assigns consecutive revisions, writes the batch and the
//! store's meta record as one atomic fjall batch with `PersistMode::SyncData`, and only then
//! applies it to memory, delivers watch events and acknowledges the writers. Lease expiry
//! rides the same loop: the committer wakes at the earliest lease deadline and revokes
//! expired leases through the normal write path.
//!
//! History for watch resumption and past-revision reads is an in-memory window of recent
//! events, bounded by [`MAX_HISTORY_EVENTS`] and [`MAX_HISTORY_BYTES`] (the oldest part is
//! compacted automatically). It does not survive a restart: after open, the compaction
//! point is the current revision, so a restart behaves like a compaction and clients that
//! resume from an older revision get `Compacted` and relist.
//!
//! Integrity: every record carries its own crc32c (see `codec`) and is verified when the
//! store is loaded at open, together with the meta record's key and lease counts. A clean
//! close writes a checksummed marker (revision and counts) that the next open must match,
//! so data lost to a damaged journal (which the storage engine would otherwise truncate
//! without error) is reported as `Corrupted` instead of being silently dropped. Panics of the
//! storage engine on garbage are caught and reported as `Corrupted` too.

mod codec;
mod state;

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use bytes::Bytes;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use parking_lot::{Mutex, RwLock};
use tokio::sync::oneshot;

pub use state::HistoryLimits;
use state::{Batch, DiskOp, LeaseState, Op, Reply, State};

use crate::{
    KeyValue, LeaseId, RangeRequest, RangeResponse, Result, Revision, Store, StoreError,
    WatchStream, WatchUpdate, check_sizes,
};

/// Requests waiting for the committer; beyond it writers wait (backpressure) instead of
/// queueing without bound. Four full batches keep the committer busy while one syncs.
pub const REQUEST_QUEUE_DEPTH: usize = 4 * MAX_BATCH_REQUESTS;

/// Most requests in one group commit; bounds the write lock's hold time when a batch is
/// applied and the latency a batch adds to its first writer.
pub const MAX_BATCH_REQUESTS: usize = 1024;

/// Most value and key bytes in one group commit (a batch closes once it passes this);
/// bounds the memory of a batch when values are large (up to 1.5 MiB each).
pub const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

/// Most events held in history; about two minutes at 4,000 writes/s, enough for watchers
/// to resume after a reconnect without relisting.
pub const MAX_HISTORY_EVENTS: usize = 500_000;

/// Most bytes of keys and values (new and previous) held in history; keeps its memory
/// bounded when values are large.
pub const MAX_HISTORY_BYTES: usize = 256 * 1024 * 1024;

const DATA_DIR: &str = "data";
const LOCK_FILE: &str = "LOCK";
const CLEAN_FILE: &str = "CLEAN";
const CLEAN_TMP_FILE: &str = "CLEAN.tmp";

/// Options for [`EmbeddedStore::open_with`].
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub history: HistoryLimits,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            history: HistoryLimits {
                max_events: MAX_HISTORY_EVENTS,
                max_bytes: MAX_HISTORY_BYTES,
            },
        }
    }
}

/// A write request and where to send its answer (none for the committer's own lease
/// expiries).
struct Request {
    op: Op,
    reply: Option<oneshot::Sender<Result<Reply>>>,
}

/// What the store's handle and its committer share.
struct Shared {
    state: RwLock<State>,
    /// Why the store stopped accepting writes, after a disk write failed.
    failed: Mutex<Option<String>>,
}

/// The embedded store. Opening takes an exclusive lock on its directory; dropping (or
/// [`close`](Self::close)) finishes queued writes, syncs, writes the clean-shutdown marker
/// and releases the lock.
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    requests: Option<flume::Sender<Request>>,
    committer: Option<JoinHandle<()>>,
    dir: PathBuf,
}

/// How many batches may pass between two looks at the data directory for a new journal
/// (besides a change of fjall's journal count): bounds how long writes can go to a journal
/// whose blocks are not yet allocated, at the cost of one small `readdir`.
const JOURNAL_RECHECK_BATCHES: u64 = 256;

/// Keeps the active journal's blocks allocated. fjall creates each journal as a sparse
/// 64 MiB file, so every `fdatasync` after an append must also commit block allocation; on
/// this project's reference VM that made a sync several times slower (p50 2.9 ms against
/// 0.19 ms for an allocated file, in the same minute). `fallocate(KEEP_SIZE)` allocates the
/// blocks without changing the file's size or contents (holes read as zeros either way), as
/// etcd does for its WAL segments. Best effort: where it is not supported, nothing changes.
struct JournalPrealloc {
    data_dir: PathBuf,
    journal_count: usize,
    newest: Option<PathBuf>,
    batches: u64,
}

impl JournalPrealloc {
    fn new(data_dir: PathBuf) -> Self {
        JournalPrealloc {
            data_dir,
            journal_count: usize::MAX,
            newest: None,
            batches: 0,
        }
    }

    /// Before a commit: if a new journal may have appeared, allocate its blocks.
    fn check(&mut self, db: &Database) {
        self.batches += 1;
        let count = db.journal_count();
        if count == self.journal_count && !self.batches.is_multiple_of(JOURNAL_RECHECK_BATCHES) {
            return;
        }
        self.journal_count = count;
        let newest = fs::read_dir(&self.data_dir).ok().and_then(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    let n: u64 = name.strip_suffix(".jnl")?.parse().ok()?;
                    Some((n, e.path()))
                })
                .max_by_key(|(n, _)| *n)
                .map(|(_, p)| p)
        });
        if newest.is_some() && newest != self.newest {
            if let Some(path) = &newest
                && let Err(e) = preallocate(path)
            {
                tracing::debug!("preallocating journal {}: {e}", path.display());
            }
            self.newest = newest;
        }
    }
}

fn preallocate(path: &Path) -> std::io::Result<()> {
    let f = File::options().write(true).open(path)?;
    let len = f.metadata()?.len();
    rustix::fs::fallocate(&f, rustix::fs::FallocateFlags::KEEP_SIZE, 0, len)?;
    Ok(())
}

/// The disk side, owned by the committer thread.
struct Disk {
    db: Database,
    prealloc: JournalPrealloc,
    kv: Keyspace,
    meta: Keyspace,
    leases: Keyspace,
    dir: PathBuf,
    /// Held for the store's lifetime: the exclusive lock on the directory.
    _lock: File,
}

fn io_err(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> StoreError {
    move |e| StoreError::Io(format!("{what}: {e}"))
}

/// Map a storage-engine error met while loading: I/O trouble stays I/O; anything the
/// engine could not make sense of is corruption.
fn load_err(what: &str, e: fjall::Error) -> StoreError {
    match e {
        fjall::Error::Io(io)
            if !matches!(
                io.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
            ) =>
        {
            StoreError::Io(format!("{what}: {io}"))
        }
        fjall::Error::Locked => StoreError::Locked(format!("{what}: {e}")),
        other => StoreError::Corrupted(format!("{what}: {other}")),
    }
}

/// Run storage-engine code that may panic on garbage, turning a panic into `Corrupted`.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(StoreError::Corrupted(format!(
                "{what}: the storage engine panicked: {msg}"
            )))
        }
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(format_args!("syncing directory {}", dir.display())))
}

/// Everything read from disk at open.
struct Loaded {
    kvs: BTreeMap<Bytes, KeyValue>,
    leases: HashMap<LeaseId, i64>,
    meta: codec::Meta,
}

fn load(kv: &Keyspace, meta: &Keyspace, leases: &Keyspace) -> Result<Loaded> {
    let meta_rec = meta
        .get(codec::META_KEY)
        .map_err(|e| load_err("reading the meta record", e))?;
    let meta = match meta_rec {
        Some(rec) => codec::decode_meta(&rec)?,
        None => codec::Meta {
            next_lease_id: 1,
            ..Default::default()
        },
    };
    let mut lease_map = HashMap::new();
    for item in leases.iter() {
        let (k, v) = item
            .into_inner()
            .map_err(|e| load_err("reading lease records", e))?;
        let (id, ttl) = codec::decode_lease(&k, &v)?;
        if id >= meta.next_lease_id {
            return Err(StoreError::Corrupted(format!(
                "lease {id} is at or above the next lease id {}",
                meta.next_lease_id
            )));
        }
        lease_map.insert(id, ttl);
    }
    let mut kvs = BTreeMap::new();
    for item in kv.iter() {
        let (k, v) = item
            .into_inner()
            .map_err(|e| load_err("reading key records", e))?;
        let rec = codec::decode_kv(&k, &v)?;
        let sane = rec.mod_revision >= 1
            && rec.mod_revision <= meta.revision
            && rec.create_revision >= 1
            && rec.create_revision <= rec.mod_revision
            && rec.version >= 1
            && (rec.lease == 0 || lease_map.contains_key(&rec.lease));
        if !sane {
            return Err(StoreError::Corrupted(format!(
                "key {} has impossible metadata (create {}, mod {}, version {}, lease {}) for \
                 store revision {}",
                codec::show_key(&k),
                rec.create_revision,
                rec.mod_revision,
                rec.version,
                rec.lease,
                meta.revision
            )));
        }
        kvs.insert(rec.key.clone(), rec);
    }
    if kvs.len() as i64 != meta.key_count || lease_map.len() as i64 != meta.lease_count {
        return Err(StoreError::Corrupted(format!(
            "the store holds {} keys and {} leases but its meta record says {} and {}: records \
             are missing or left over",
            kvs.len(),
            lease_map.len(),
            meta.key_count,
            meta.lease_count
        )));
    }
    Ok(Loaded {
        kvs,
        leases: lease_map,
        meta,
    })
}

impl EmbeddedStore {
    /// Open (creating if absent) the store in `dir` with default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, Options::default())
    }

    /// Open (creating if absent) the store in `dir`: take the directory's lock, load and
    /// verify every record, and start the committer.
    pub fn open_with(dir: impl AsRef<Path>, options: Options) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(io_err(format_args!("creating {}", dir.display())))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(format_args!("opening {}", lock_path.display())))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked(format!(
                    "{} is held by another open store (in this process or another); only one \
                     may open a store directory at a time",
                    lock_path.display()
                )));
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(io_err(format_args!("locking {}", lock_path.display()))(e));
            }
        }

        let clean_path = dir.join(CLEAN_FILE);
        let clean = match fs::read(&clean_path) {
            Ok(rec) => Some(codec::decode_clean(&rec)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(format_args!("reading {}", clean_path.display()))(e)),
        };

        let data = dir.join(DATA_DIR);
        let (db, kv, meta, leases, loaded) = guarded("opening the store", || {
            let db = Database::builder(&data)
                .open()
                .map_err(|e| load_err(&format!("opening {}", data.display()), e))?;
            let ks = |name: &str| {
                db.keyspace(name, KeyspaceCreateOptions::default)
                    .map_err(|e| load_err(&format!("opening keyspace {name}"), e))
            };
            let (kv, meta, leases) = (ks("kv")?, ks("meta")?, ks("leases")?);
            let loaded = load(&kv, &meta, &leases)?;
            Ok((db, kv, meta, leases, loaded))
        })?;

        if let Some(c) = clean {
            let found = codec::Clean {
                revision: loaded.meta.revision,
                key_count: loaded.kvs.len() as i64,
                lease_count: loaded.leases.len() as i64,
            };
            if c != found {
                return Err(StoreError::Corrupted(format!(
                    "the store was closed cleanly at revision {} with {} keys and {} leases, but \
                     holds revision {} with {} keys and {} leases: written data was lost",
                    c.revision,
                    c.key_count,
                    c.lease_count,
                    found.revision,
                    found.key_count,
                    found.lease_count
                )));
            }
            // From here on the store is live: a crash must not be mistaken for a clean close.
            fs::remove_file(&clean_path)
                .map_err(io_err(format_args!("removing {}", clean_path.display())))?;
            sync_dir(&dir)?;
        }

        let now = Instant::now();
        let leases_mem = loaded
            .leases
            .iter()
            .map(|(id, ttl)| {
                let keys = loaded
                    .kvs
                    .values()
                    .filter(|kv| kv.lease == *id)
                    .map(|kv| kv.key.clone())
                    .collect();
                (
                    *id,
                    LeaseState {
                        ttl: *ttl,
                        deadline: now,
                        keys,
                    },
                )
            })
            .collect::<HashMap<_, _>>();
        let mut st = State::new(
            loaded.kvs,
            loaded.meta.revision,
            leases_mem,
            loaded.meta.next_lease_id.max(1),
            options.history,
        );
        // A lease's clock restarts at open, as etcd's does after a leader change.
        let ids: Vec<LeaseId> = st.leases.keys().copied().collect();
        for id in ids {
            let _ = st.keep_alive(id, now);
        }

        let shared = Arc::new(Shared {
            state: RwLock::new(st),
            failed: Mutex::new(None),
        });
        let (tx, rx) = flume::bounded(REQUEST_QUEUE_DEPTH);
        let mut prealloc = JournalPrealloc::new(data);
        prealloc.check(&db);
        let disk = Disk {
            db,
            prealloc,
            kv,
            meta,
            leases,
            dir: dir.clone(),
            _lock: lock,
        };
        let committer = std::thread::Builder::new()
            .name("store-committer".into())
            .spawn({
                let shared = shared.clone();
                move || committer(shared, rx, disk)
            })
            .map_err(io_err("starting the committer thread"))?;
        Ok(EmbeddedStore {
            shared,
            requests: Some(tx),
            committer: Some(committer),
            dir,
        })
    }

    /// The directory this store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Finish queued writes, sync, mark the store cleanly closed and release its lock.
    /// Dropping the store does the same; this form reports the outcome.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        self.requests.take();
        if let Some(handle) = self.committer.take() {
            handle
                .join()
                .map_err(|_| StoreError::Io("the committer thread panicked".into()))?;
        }
        match self.shared.failed.lock().clone() {
            Some(why) => Err(StoreError::Io(why)),
            None => Ok(()),
        }
    }

    async fn submit(&self, op: Op) -> Result<Reply> {
        if let Some(why) = self.shared.failed.lock().clone() {
            return Err(StoreError::Io(why));
        }
        let requests = self.requests.as_ref().ok_or(StoreError::Closed)?;
        let (tx, rx) = oneshot::channel();
        requests
            .send_async(Request {
                op,
                reply: Some(tx),
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::error!(dir = %self.dir.display(), "closing the embedded store: {e}");
        }
    }
}

/// The committer loop: batch, check, write with one sync, apply, publish, acknowledge.
fn committer(shared: Arc<Shared>, rx: flume::Receiver<Request>, mut disk: Disk) {
    let mut open = true;
    while open {
        // After a failed write nothing can expire (revoking is a write): wait for requests.
        let deadline = match shared.failed.lock().is_some() {
            true => None,
            false => shared.state.read().next_lease_deadline(),
        };
        let first = match deadline {
            Some(d) => match rx.recv_deadline(d) {
                Ok(r) => Some(r),
                Err(flume::RecvTimeoutError::Timeout) => None,
                Err(flume::RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(r) => Some(r),
                Err(flume::RecvError::Disconnected) => break,
            },
        };
        let mut batch: Vec<Request> = Vec::new();
        let mut bytes = 0;
        if let Some(r) = first {
            bytes += r.op.size_bytes();
            batch.push(r);
        }
        while batch.len() < MAX_BATCH_REQUESTS && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(r) => {
                    bytes += r.op.size_bytes();
                    batch.push(r);
                }
                Err(flume::TryRecvError::Empty) => break,
                Err(flume::TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        let expired = shared.state.read().expired_leases(Instant::now());
        batch.extend(expired.into_iter().map(|id| Request {
            op: Op::LeaseRevoke { id },
            reply: None,
        }));
        if !batch.is_empty() {
            commit_batch(&shared, &mut disk, batch);
        }
    }
    close_disk(&shared, disk);
}

fn commit_batch(shared: &Shared, disk: &mut Disk, batch: Vec<Request>) {
    let failed = shared.failed.lock().clone();
    if let Some(why) = failed {
        for r in batch {
            if let Some(tx) = r.reply {
                let _ = tx.send(Err(StoreError::Io(why.clone())));
            }
        }
        return;
    }
    // Stage under a read lock: readers go on; only this thread ever writes the state.
    let (effects, disk_ops, meta, revision, replies) = {
        let st = shared.state.read();
        let mut b = Batch::new(&st);
        let mut replies = Vec::with_capacity(batch.len());
        for r in batch {
            let res = b.stage(r.op);
            replies.push((r.reply, res));
        }
        let meta = codec::Meta {
            revision: b.revision,
            compact_revision: st.compact_revision,
            next_lease_id: b.next_lease_id,
            key_count: b.key_count,
            lease_count: b.lease_count,
        };
        let empty = b.is_empty();
        (
            b.effects,
            if empty { None } else { Some(b.disk) },
            meta,
            b.revision,
            replies,
        )
    };
    if let Some(ops) = disk_ops {
        disk.prealloc.check(&disk.db);
        let mut wb = disk.db.batch().durability(Some(PersistMode::SyncData));
        for op in ops {
            match op {
                DiskOp::PutKv(k, rec) => wb.insert(&disk.kv, k.to_vec(), rec),
                DiskOp::DeleteKv(k) => wb.remove(&disk.kv, k.to_vec()),
                DiskOp::PutLease(id, rec) => wb.insert(&disk.leases, codec::lease_key(id), rec),
                DiskOp::DeleteLease(id) => wb.remove(&disk.leases, codec::lease_key(id)),
            }
        }
        wb.insert(&disk.meta, codec::META_KEY, codec::encode_meta(&meta));
        if let Err(e) = wb.commit() {
            let why = format!("writing a batch failed; the store refuses further writes: {e}");
            tracing::error!("{why}");
            *shared.failed.lock() = Some(why.clone());
            for (tx, res) in replies {
                if let Some(tx) = tx {
                    let _ = tx.send(res.and(Err(StoreError::Io(why.clone()))));
                }
            }
            return;
        }
    }
    // Durable: now visible to readers and watchers, then acknowledged.
    shared
        .state
        .write()
        .apply(effects, revision, Instant::now());
    for (tx, res) in replies {
        if let Some(tx) = tx {
            let _ = tx.send(res);
        } else if let Err(e) = res {
            tracing::warn!("expiring a lease: {e}");
        }
    }
}

fn close_disk(shared: &Shared, disk: Disk) {
    shared.state.write().close_watchers();
    if shared.failed.lock().is_some() {
        return;
    }
    let clean = {
        let st = shared.state.read();
        codec::Clean {
            revision: st.revision,
            key_count: st.kvs.len() as i64,
            lease_count: st.leases.len() as i64,
        }
    };
    let result = (|| -> Result<()> {
        disk.db
            .persist(PersistMode::SyncAll)
            .map_err(|e| StoreError::Io(format!("syncing the store at close: {e}")))?;
        let tmp = disk.dir.join(CLEAN_TMP_FILE);
        let mut f =
            File::create(&tmp).map_err(io_err(format_args!("creating {}", tmp.display())))?;
        f.write_all(&codec::encode_clean(&clean))
            .and_then(|()| f.sync_all())
            .map_err(io_err(format_args!("writing {}", tmp.display())))?;
        fs::rename(&tmp, disk.dir.join(CLEAN_FILE))
            .map_err(io_err(format_args!("renaming {}", tmp.display())))?;
        sync_dir(&disk.dir)
    })();
    if let Err(e) = result {
        tracing::error!("closing the store: {e}");
        *shared.failed.lock() = Some(e.to_string());
    }
    drop(disk);
}

impl Store for EmbeddedStore {
    async fn get(&self, key: &[u8]) -> Result<(Option<KeyValue>, Revision)> {
        let st = self.shared.state.read();
        Ok((st.kvs.get(key).cloned(), st.revision))
    }

    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        self.shared.state.read().range(&req)
    }

    async fn create(&self, key: Bytes, value: Bytes, lease: LeaseId) -> Result<Revision> {
        check_sizes(&key, &value)?;
        match self.submit(Op::Create { key, value, lease }).await? {
            Reply::Revision(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    async fn update(
        &self,
        key: Bytes,
        value: Bytes,
        expected: Revision,
        lease: LeaseId,
    ) -> Result<Revision> {
        check_sizes(&key, &value)?;
        match self
            .submit(Op::Update {
                key,
                value,
                expected,
                lease,
            })
            .await?
        {
            Reply::Revision(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    async fn delete(&self, key: Bytes, expected: Option<Revision>) -> Result<(Revision, KeyValue)> {
        check_sizes(&key, &[])?;
        match self.submit(Op::Delete { key, expected }).await? {
            Reply::Deleted(r, kv) => Ok((r, kv)),
            other => Err(unexpected(other)),
        }
    }

    async fn watch(
        &self,
        start: Bytes,
        end: Bytes,
        from_revision: Revision,
    ) -> Result<WatchStream> {
        if self.requests.is_none() {
            return Err(StoreError::Closed);
        }
        let (rx, progress) = self.shared.state.write().watch(start, end, from_revision);
        // Weak: the watch must still end (None) when the store drops its sender.
        let progress = progress.downgrade();
        let shared = Arc::downgrade(&self.shared);
        Ok(WatchStream::new(rx, move || {
            // Under the state lock no batch is half-published: every event up to this
            // revision is already in the channel, ahead of the notification. A full
            // channel drops the notification; the consumer asks again.
            if let (Some(shared), Some(progress)) = (shared.upgrade(), progress.upgrade()) {
                let state = shared.state.read();
                let _ = progress.try_send(Ok(WatchUpdate::Progress(state.revision)));
            }
        }))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.shared.state.write().compact(revision)
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.shared.state.read().revision)
    }

    async fn lease_grant(&self, ttl_seconds: i64) -> Result<LeaseId> {
        match self.submit(Op::LeaseGrant { ttl: ttl_seconds }).await? {
            Reply::Lease(id) => Ok(id),
            other => Err(unexpected(other)),
        }
    }

    async fn lease_keep_alive(&self, lease: LeaseId) -> Result<i64> {
        self.shared.state.write().keep_alive(lease, Instant::now())
    }

    async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        match self.submit(Op::LeaseRevoke { id: lease }).await? {
            Reply::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}

fn unexpected(reply: Reply) -> StoreError {
    StoreError::Io(format!("internal error: the committer answered {reply:?}"))
}
