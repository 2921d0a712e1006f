//! Shared test harness: stores on temporary directories (embedded) or on an etcd that the
//! test starts on loopback ports, and bounded waits for watch events.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use clipper_store::embedded::EmbeddedStore;
use clipper_store::etcd::EtcdStore;
use clipper_store::local_etcd::LocalEtcd;
use clipper_store::{Event, Revision, WatchStream};
use tempfile::TempDir;

/// Longest wait for one awaited watch batch: generous for a loaded 2-core machine; a
/// healthy store delivers in milliseconds.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

/// An embedded store in a temporary directory (removed after the store is closed).
pub struct Embedded {
    pub store: Arc<EmbeddedStore>,
    pub dir: TempDir,
}

impl Embedded {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let store = EmbeddedStore::open(dir.path()).expect("opening the embedded store");
        Embedded {
            store: Arc::new(store),
            dir,
        }
    }
}

/// A store on an etcd that this harness started; etcd is killed when it is dropped. A
/// machine without etcd fails here, with the message saying how to install it.
pub struct Etcd {
    pub store: Arc<EtcdStore>,
    pub etcd: LocalEtcd,
    pub dir: TempDir,
}

impl Etcd {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let etcd = match LocalEtcd::start(dir.path()).await {
            Ok(e) => e,
            Err(e) => panic!("starting etcd for the conformance suite: {e}"),
        };
        let store = etcd.connect().await.expect("connecting to etcd");
        Etcd {
            store: Arc::new(store),
            etcd,
            dir,
        }
    }
}

/// The next batch of a watch, failing the test on an error, a close, or a timeout.
pub async fn next_batch(w: &mut WatchStream) -> Vec<Event> {
    match tokio::time::timeout(EVENT_TIMEOUT, w.next()).await {
        Ok(Some(Ok(events))) => events,
        Ok(Some(Err(e))) => panic!("the watch ended with an error: {e}"),
        Ok(None) => panic!("the watch closed"),
        Err(_) => panic!("no watch event within {EVENT_TIMEOUT:?}"),
    }
}

/// Events of a watch until one at or above `revision` has arrived.
pub async fn events_through(w: &mut WatchStream, revision: Revision) -> Vec<Event> {
    let mut all = Vec::new();
    while all.last().is_none_or(|e: &Event| e.revision() < revision) {
        all.extend(next_batch(w).await);
    }
    all
}

/// Exactly `n` events (fails if a batch brings more).
pub async fn take_events(w: &mut WatchStream, n: usize) -> Vec<Event> {
    let mut all = Vec::new();
    while all.len() < n {
        all.extend(next_batch(w).await);
    }
    assert_eq!(all.len(), n, "more events than expected: {all:?}");
    all
}
