//! The etcd backend: the [`Store`] operations as etcd 3.4+ transactions through
//! etcd-client, with errors mapped to the same [`StoreError`] variants the embedded store
//! gives, so that callers (and the conformance suite) cannot tell the two apart.
//!
//! Create is `txn(create_revision == 0 → put)`; update is `txn(version > 0 ∧ mod_revision ==
//! expected → put, else get)`, delete likewise, so a failed compare answers with the
//! current key-value in the same round trip. etcd's server limit on request size
//! (`--max-request-bytes`, 1.5 MiB by default) counts the key and the request's framing
//! too: run etcd with at least [`RECOMMENDED_MAX_REQUEST_BYTES`] so that every value the
//! store accepts (up to [`MAX_VALUE_BYTES`](crate::MAX_VALUE_BYTES)) fits.

use std::time::Duration;

use bytes::Bytes;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, EventType, GetOptions, PutOptions,
    Txn, TxnOp, TxnOpResponse, WatchOptions,
};
use tokio::sync::mpsc;

use crate::{
    Event, EventKind, KeyValue, LeaseId, MAX_KEY_BYTES, MAX_VALUE_BYTES, RangeRequest,
    RangeResponse, Result, Revision, Store, StoreError, WatchStream, WatchUpdate, check_sizes,
};

/// etcd's `--max-request-bytes` that admits a put of the largest key and value the store
/// accepts, with room for the transaction around it.
pub const RECOMMENDED_MAX_REQUEST_BYTES: usize = MAX_VALUE_BYTES + MAX_KEY_BYTES + 64 * 1024;

/// How long one connection attempt may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Largest gRPC message the client decodes: a full page of a range can hold many values of
/// up to 1.5 MiB; etcd itself caps responses with `--max-recv-bytes`-like limits.
const MAX_DECODING_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// The etcd store: a cheap handle over one etcd-client connection (clone per call).
#[derive(Clone)]
pub struct EtcdStore {
    /// Boxed: the client is several KiB, and stores are moved around by value (`AnyStore`).
    client: Box<Client>,
}

impl EtcdStore {
    /// Connect to etcd at `endpoints` (e.g. `http://127.0.0.1:2379`).
    pub async fn connect<E: AsRef<str>>(endpoints: &[E]) -> Result<Self> {
        let opts = ConnectOptions::new().with_connect_timeout(CONNECT_TIMEOUT);
        let client = Client::connect(endpoints, Some(opts))
            .await
            .map_err(backend)?;
        Ok(EtcdStore {
            client: Box::new(client),
        })
    }

    /// The underlying client, for operations the [`Store`] trait does not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn kv(&self) -> etcd_client::KvClient {
        self.client
            .kv_client()
            .max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES)
    }

    /// After a failed compare: the key as it is now, from the txn's else-branch get.
    fn current_from(resp: &etcd_client::TxnResponse) -> Option<KeyValue> {
        resp.op_responses().into_iter().find_map(|r| match r {
            TxnOpResponse::Get(g) => g.kvs().first().map(convert_kv),
            _ => None,
        })
    }
}

fn header_revision(h: Option<&etcd_client::ResponseHeader>) -> Revision {
    h.map_or(0, |h| h.revision())
}

fn convert_kv(kv: &etcd_client::KeyValue) -> KeyValue {
    KeyValue {
        key: Bytes::copy_from_slice(kv.key()),
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
        lease: kv.lease(),
    }
}

/// What an etcd error means in the store's terms, before the caller adds the context
/// (which revision, which lease) that etcd's message lacks.
enum Known {
    Compacted,
    Future,
    LeaseNotFound,
    TooLarge,
}

fn classify(e: &etcd_client::Error) -> Option<Known> {
    let etcd_client::Error::GRpcStatus(status) = e else {
        return None;
    };
    let msg = status.message();
    if msg.contains("required revision has been compacted") {
        Some(Known::Compacted)
    } else if msg.contains("required revision is a future revision") {
        Some(Known::Future)
    } else if msg.contains("requested lease not found") {
        Some(Known::LeaseNotFound)
    } else if msg.contains("request is too large") {
        Some(Known::TooLarge)
    } else {
        None
    }
}

fn backend(e: etcd_client::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl EtcdStore {
    /// Map an etcd error for an operation at `revision`, on `lease`, with a value of
    /// `size` bytes (whichever apply).
    async fn map_err(
        &self,
        e: etcd_client::Error,
        revision: Revision,
        lease: LeaseId,
        size: usize,
    ) -> StoreError {
        match classify(&e) {
            Some(Known::Compacted) => StoreError::Compacted {
                requested: revision,
                compacted: 0,
            },
            Some(Known::Future) => StoreError::FutureRevision {
                requested: revision,
                current: self.current_revision().await.unwrap_or(0),
            },
            Some(Known::LeaseNotFound) => StoreError::LeaseNotFound(lease),
            Some(Known::TooLarge) => StoreError::ValueTooLarge {
                size,
                limit: MAX_VALUE_BYTES,
            },
            None => backend(e),
        }
    }
}

impl Store for EtcdStore {
    async fn get(&self, key: &[u8]) -> Result<(Option<KeyValue>, Revision)> {
        let resp = self.kv().get(key, None).await.map_err(backend)?;
        Ok((
            resp.kvs().first().map(convert_kv),
            header_revision(resp.header()),
        ))
    }

    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        let mut opts = GetOptions::new();
        if !req.end.is_empty() {
            opts = opts.with_range(req.end.to_vec());
        }
        if req.limit > 0 {
            opts = opts.with_limit(i64::try_from(req.limit).unwrap_or(i64::MAX));
        }
        if req.revision > 0 {
            opts = opts.with_revision(req.revision);
        }
        if req.count_only {
            opts = opts.with_count_only();
        }
        let resp = match self.kv().get(req.start.to_vec(), Some(opts)).await {
            Ok(r) => r,
            Err(e) => return Err(self.map_err(e, req.revision, 0, 0).await),
        };
        Ok(RangeResponse {
            kvs: resp.kvs().iter().map(convert_kv).collect(),
            more: resp.more(),
            count: resp.count(),
            revision: if req.revision > 0 {
                req.revision
            } else {
                header_revision(resp.header())
            },
        })
    }

    async fn create(&self, key: Bytes, value: Bytes, lease: LeaseId) -> Result<Revision> {
        check_sizes(&key, &value)?;
        let size = value.len();
        let txn = Txn::new()
            .when([Compare::create_revision(key.to_vec(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                key.to_vec(),
                value.to_vec(),
                Some(put_opts(lease)),
            )]);
        let resp = match self.kv().txn(txn).await {
            Ok(r) => r,
            Err(e) => return Err(self.map_err(e, 0, lease, size).await),
        };
        if !resp.succeeded() {
            return Err(StoreError::AlreadyExists);
        }
        Ok(header_revision(resp.header()))
    }

    async fn update(
        &self,
        key: Bytes,
        value: Bytes,
        expected: Revision,
        lease: LeaseId,
    ) -> Result<Revision> {
        check_sizes(&key, &value)?;
        let size = value.len();
        let txn = Txn::new()
            .when([
                Compare::version(key.to_vec(), CompareOp::Greater, 0),
                Compare::mod_revision(key.to_vec(), CompareOp::Equal, expected),
            ])
            .and_then([TxnOp::put(
                key.to_vec(),
                value.to_vec(),
                Some(put_opts(lease)),
            )])
            .or_else([TxnOp::get(key.to_vec(), None)]);
        let resp = match self.kv().txn(txn).await {
            Ok(r) => r,
            Err(e) => return Err(self.map_err(e, 0, lease, size).await),
        };
        if !resp.succeeded() {
            return Err(match Self::current_from(&resp) {
                None => StoreError::NotFound,
                Some(kv) => StoreError::Conflict {
                    current: Some(Box::new(kv)),
                },
            });
        }
        Ok(header_revision(resp.header()))
    }

    async fn delete(&self, key: Bytes, expected: Option<Revision>) -> Result<(Revision, KeyValue)> {
        check_sizes(&key, &[])?;
        let mut when = vec![Compare::version(key.to_vec(), CompareOp::Greater, 0)];
        if let Some(rev) = expected {
            when.push(Compare::mod_revision(key.to_vec(), CompareOp::Equal, rev));
        }
        let txn = Txn::new()
            .when(when)
            .and_then([TxnOp::delete(
                key.to_vec(),
                Some(DeleteOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(key.to_vec(), None)]);
        let resp = self.kv().txn(txn).await.map_err(backend)?;
        if !resp.succeeded() {
            return Err(match Self::current_from(&resp) {
                None => StoreError::NotFound,
                Some(kv) => StoreError::Conflict {
                    current: Some(Box::new(kv)),
                },
            });
        }
        let prev = resp.op_responses().into_iter().find_map(|r| match r {
            TxnOpResponse::Delete(d) => d.prev_kvs().first().map(convert_kv),
            _ => None,
        });
        let prev = prev.ok_or_else(|| {
            StoreError::Backend("etcd deleted a key but returned no previous key-value".into())
        })?;
        Ok((header_revision(resp.header()), prev))
    }

    async fn watch(
        &self,
        start: Bytes,
        end: Bytes,
        from_revision: Revision,
    ) -> Result<WatchStream> {
        let mut opts = WatchOptions::new().with_prev_key();
        if !end.is_empty() {
            opts = opts.with_range(end.to_vec());
        }
        if from_revision > 0 {
            opts = opts.with_start_revision(from_revision);
        }
        let mut stream = self
            .client
            .watch_client()
            .max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES)
            .watch(start.to_vec(), Some(opts))
            .await
            .map_err(backend)?;
        let (tx, rx) = mpsc::channel(WatchStream::CHANNEL_BATCHES);
        // Progress requests reach the task that owns the etcd stream; one pending request
        // is enough (etcd answers with its current revision).
        let (progress_tx, mut progress_rx) = mpsc::channel::<()>(1);
        // Wait for etcd to confirm the watch, so that every write after this call returns
        // is seen (the trait's promise).
        let mut pending = Vec::new();
        loop {
            match stream.message().await.map_err(backend)? {
                None => {
                    return Err(StoreError::WatchClosed(
                        "etcd closed the watch stream".into(),
                    ));
                }
                Some(resp) => {
                    let created = resp.created();
                    pending.push(resp);
                    if created {
                        break;
                    }
                }
            }
        }
        tokio::spawn(async move {
            let mut watch_id = None;
            let mut next = pending.into_iter();
            loop {
                let resp = match next.next() {
                    Some(r) => r,
                    None => tokio::select! {
                        msg = stream.message() => match msg {
                            Ok(Some(r)) => r,
                            Ok(None) => {
                                let _ = tx.send(Err(StoreError::WatchClosed("etcd closed the watch stream".into()))).await;
                                return;
                            }
                            Err(e) => {
                                let _ = tx.send(Err(StoreError::WatchClosed(format!("etcd watch failed: {e}")))).await;
                                return;
                            }
                        },
                        () = tx.closed() => {
                            if let Some(id) = watch_id {
                                let _ = stream.cancel(id).await;
                            }
                            return;
                        }
                        Some(()) = progress_rx.recv() => {
                            if let Err(e) = stream.request_progress().await {
                                let _ = tx.send(Err(StoreError::WatchClosed(format!("etcd progress request failed: {e}")))).await;
                                return;
                            }
                            continue;
                        }
                    },
                };
                watch_id = Some(resp.watch_id());
                if resp.canceled() {
                    let err = if resp.compact_revision() > 0 {
                        StoreError::Compacted {
                            requested: from_revision,
                            compacted: resp.compact_revision(),
                        }
                    } else {
                        StoreError::WatchClosed(format!(
                            "etcd canceled the watch: {}",
                            resp.cancel_reason()
                        ))
                    };
                    let _ = tx.send(Err(err)).await;
                    return;
                }
                let events: Vec<Event> = resp
                    .events()
                    .iter()
                    .filter_map(|e| {
                        let kv = convert_kv(e.kv()?);
                        let kind = match e.event_type() {
                            EventType::Put => EventKind::Put,
                            EventType::Delete => EventKind::Delete,
                        };
                        Some(Event {
                            kind,
                            kv,
                            prev_kv: e.prev_kv().map(convert_kv),
                        })
                    })
                    .collect();
                let update = if !events.is_empty() {
                    WatchUpdate::Events(events)
                } else if resp.created() {
                    continue;
                } else {
                    // An event-less response that is not the creation confirmation is a
                    // progress notification: everything up to its header revision is sent.
                    WatchUpdate::Progress(resp.header().map(|h| h.revision()).unwrap_or(0))
                };
                if tx.send(Ok(update)).await.is_err() {
                    let _ = stream.cancel(resp.watch_id()).await;
                    return;
                }
            }
        });
        Ok(WatchStream::new(rx, move || {
            let _ = progress_tx.try_send(());
        }))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        match self.kv().compact(revision, None).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.map_err(e, revision, 0, 0).await),
        }
    }

    async fn current_revision(&self) -> Result<Revision> {
        let resp = self
            .kv()
            .get(vec![0], Some(GetOptions::new().with_count_only()))
            .await
            .map_err(backend)?;
        Ok(header_revision(resp.header()))
    }

    async fn lease_grant(&self, ttl_seconds: i64) -> Result<LeaseId> {
        let resp = self
            .client
            .lease_client()
            .grant(ttl_seconds, None)
            .await
            .map_err(backend)?;
        if !resp.error().is_empty() {
            return Err(StoreError::Backend(resp.error().to_string()));
        }
        Ok(resp.id())
    }

    async fn lease_keep_alive(&self, lease: LeaseId) -> Result<i64> {
        let mut leases = self.client.lease_client();
        // etcd-client reads the renewal's answer itself and turns a TTL of 0 (no such
        // lease) into an error; the granted TTL is then asked for separately.
        match leases.keep_alive(lease).await {
            Ok(_) => {}
            Err(etcd_client::Error::LeaseKeepAliveError(msg)) if msg.contains("not found") => {
                return Err(StoreError::LeaseNotFound(lease));
            }
            Err(e) => return Err(self.map_err(e, 0, lease, 0).await),
        }
        let resp = match leases.time_to_live(lease, None).await {
            Ok(r) => r,
            Err(e) => return Err(self.map_err(e, 0, lease, 0).await),
        };
        if resp.ttl() <= 0 {
            return Err(StoreError::LeaseNotFound(lease));
        }
        Ok(resp.granted_ttl())
    }

    async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        match self.client.lease_client().revoke(lease).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.map_err(e, 0, lease, 0).await),
        }
    }
}

fn put_opts(lease: LeaseId) -> PutOptions {
    if lease != 0 {
        PutOptions::new().with_lease(lease)
    } else {
        PutOptions::new()
    }
}
