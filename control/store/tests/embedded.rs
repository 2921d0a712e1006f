//! Embedded-store behaviour beyond the shared conformance suite: persistence across
//! reopen, the directory lock, a restart acting as a compaction, leases across restarts,
//! and slow watchers.

mod common;

use std::time::Duration;

use bytes::Bytes;
use clipper_store::embedded::EmbeddedStore;
use clipper_store::{RangeRequest, Store, StoreError, WatchStream, prefix_end};
use common::{EVENT_TIMEOUT, take_events};

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[tokio::test]
async fn data_survives_reopen_and_restart_acts_as_compaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (r_mid, r_end, snapshot) = {
        let s = EmbeddedStore::open(dir.path()).expect("open");
        for i in 0..50 {
            s.create(b(&format!("k/{i:02}")), b(&format!("v{i}")), 0)
                .await
                .expect("create");
        }
        let r_mid = s.current_revision().await.expect("rev");
        let kv = s.get(b"k/07").await.expect("get").0.expect("k/07");
        s.update(b("k/07"), b("changed"), kv.mod_revision, 0)
            .await
            .expect("update");
        s.delete(b("k/08"), None).await.expect("delete");
        let r_end = s.current_revision().await.expect("rev");
        let snapshot = s.range(RangeRequest::prefix("k/")).await.expect("range");
        s.close().expect("close");
        (r_mid, r_end, snapshot)
    };
    let s = EmbeddedStore::open(dir.path()).expect("reopen");
    assert_eq!(s.current_revision().await.expect("rev"), r_end);
    let now = s.range(RangeRequest::prefix("k/")).await.expect("range");
    assert_eq!(now.kvs, snapshot.kvs);
    // History did not survive: older revisions are compacted; the current one is readable.
    assert!(matches!(
        s.range(RangeRequest::prefix("k/").at_revision(r_mid)).await,
        Err(StoreError::Compacted { compacted, .. }) if compacted == r_end
    ));
    assert_eq!(
        s.range(RangeRequest::prefix("k/").at_revision(r_end))
            .await
            .expect("range")
            .count,
        49
    );
    let mut w = s
        .watch(b("k/"), prefix_end(b"k/"), r_mid)
        .await
        .expect("watch");
    assert!(matches!(
        w.next().await,
        Some(Err(StoreError::Compacted { .. }))
    ));
    // Watching from the next revision works and writes continue the revision sequence.
    let mut w = s
        .watch(b("k/"), prefix_end(b"k/"), r_end + 1)
        .await
        .expect("watch");
    let r = s.create(b("k/new"), b("new"), 0).await.expect("create");
    assert_eq!(r, r_end + 1);
    assert_eq!(take_events(&mut w, 1).await[0].revision(), r);
}

#[tokio::test]
async fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = EmbeddedStore::open(dir.path()).expect("open");
    match EmbeddedStore::open(dir.path()) {
        Err(StoreError::Locked(msg)) => assert!(msg.contains("LOCK"), "{msg}"),
        Err(e) => panic!("want Locked, got {e}"),
        Ok(_) => panic!("a second open of a locked directory succeeded"),
    }
    drop(s);
    // Dropping releases the lock.
    EmbeddedStore::open(dir.path()).expect("open after drop");
}

#[tokio::test]
async fn closing_ends_watches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = EmbeddedStore::open(dir.path()).expect("open");
    let mut w = s.watch(b("a"), Bytes::new(), 0).await.expect("watch");
    s.close().expect("close");
    // Closing ends watches.
    assert!(matches!(
        tokio::time::timeout(EVENT_TIMEOUT, w.next()).await,
        Ok(None)
    ));
}

#[tokio::test]
async fn leases_survive_reopen_and_still_expire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lease = {
        let s = EmbeddedStore::open(dir.path()).expect("open");
        let lease = s.lease_grant(1).await.expect("grant");
        s.create(b("l/a"), b("a"), lease).await.expect("create");
        s.close().expect("close");
        lease
    };
    let s = EmbeddedStore::open(dir.path()).expect("reopen");
    let kv = s
        .get(b"l/a")
        .await
        .expect("get")
        .0
        .expect("the leased key survived the restart");
    assert_eq!(kv.lease, lease);
    let mut w = s.watch(b("l/a"), Bytes::new(), 0).await.expect("watch");
    let ev = tokio::time::timeout(Duration::from_secs(20), take_events(&mut w, 1))
        .await
        .expect("the lease expired after the restart");
    assert_eq!(ev[0].prev_kv.as_ref().map(|p| p.lease), Some(lease));
    // A new lease gets a new id, never one already handed out.
    let next = s.lease_grant(60).await.expect("grant");
    assert!(next > lease);
}

#[tokio::test]
async fn a_watcher_that_falls_behind_is_ended_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = EmbeddedStore::open(dir.path()).expect("open");
    let mut w = s
        .watch(b("slow/"), prefix_end(b"slow/"), 0)
        .await
        .expect("watch");
    // One write per batch (each awaited), so every write is one buffered batch.
    for i in 0..WatchStream::CHANNEL_BATCHES + 5 {
        s.create(b(&format!("slow/{i:05}")), b("v"), 0)
            .await
            .expect("create");
    }
    let mut batches = 0;
    let err = loop {
        match w.next().await {
            Some(Ok(_)) => batches += 1,
            Some(Err(e)) => break e,
            None => panic!("the watch ended without an error"),
        }
    };
    assert!(
        matches!(&err, StoreError::WatchClosed(m) if m.contains("fell behind")),
        "{err}"
    );
    assert_eq!(batches, WatchStream::CHANNEL_BATCHES - 1);
    assert!(w.next().await.is_none());
    // The store is unaffected; a new watch from the last delivered revision resumes.
    let resumed = s.watch(b("slow/"), prefix_end(b"slow/"), 1).await;
    assert!(resumed.is_ok());
}

#[tokio::test]
async fn any_store_delegates_to_the_chosen_backend() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s: clipper_store::AnyStore = EmbeddedStore::open(dir.path()).expect("open").into();
    let r = s.create(b("a"), b("1"), 0).await.expect("create");
    assert_eq!(
        s.get(b"a").await.expect("get").0.map(|kv| kv.mod_revision),
        Some(r)
    );
    assert!(matches!(
        s.create(b("a"), b("2"), 0).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(s.current_revision().await.expect("rev"), r);
}
