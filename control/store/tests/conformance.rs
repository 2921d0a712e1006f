//! The conformance suite: every check is written once against the `Store` trait and runs
//! unchanged on the embedded store and on a real etcd 3.4 that each test starts itself.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clipper_store::{
    Event, EventKind, KeyValue, MAX_KEY_BYTES, MAX_VALUE_BYTES, RangeRequest, Revision, Store,
    StoreError, prefix_end,
};
use common::{EVENT_TIMEOUT, events_through, take_events};

/// Longest wait for a lease to expire: its TTL plus etcd's expiry-check period and slack.
const LEASE_EXPIRY_TIMEOUT: Duration = Duration::from_secs(30);

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn key_str(kv: &KeyValue) -> String {
    String::from_utf8_lossy(&kv.key).into_owned()
}

async fn watch_prefix<S: Store>(s: &S, prefix: &str, from: Revision) -> clipper_store::WatchStream {
    s.watch(b(prefix), prefix_end(prefix.as_bytes()), from)
        .await
        .expect("watch")
}

async fn create_get_and_already_exists<S: Store>(s: Arc<S>) {
    let r0 = s.current_revision().await.expect("revision");
    let r1 = s.create(b("c/a"), b("one"), 0).await.expect("create");
    assert_eq!(r1, r0 + 1);
    let (kv, rev) = s.get(b"c/a").await.expect("get");
    assert_eq!(rev, r1);
    assert_eq!(
        kv,
        Some(KeyValue {
            key: b("c/a"),
            value: b("one"),
            create_revision: r1,
            mod_revision: r1,
            version: 1,
            lease: 0
        })
    );
    assert!(matches!(
        s.create(b("c/a"), b("two"), 0).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(
        s.current_revision().await.expect("revision"),
        r1,
        "a failed create wrote"
    );
    assert_eq!(s.get(b"c/missing").await.expect("get").0, None);
    let (r2, prev) = s.delete(b("c/a"), None).await.expect("delete");
    assert_eq!(
        (r2, prev.mod_revision, &prev.value[..]),
        (r1 + 1, r1, &b"one"[..])
    );
    let r3 = s
        .create(b("c/a"), b("again"), 0)
        .await
        .expect("create after delete");
    let (kv, _) = s.get(b"c/a").await.expect("get");
    let kv = kv.expect("recreated key");
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (r3, r3, 1)
    );
}

async fn cas_update_and_delete_conflicts<S: Store>(s: Arc<S>) {
    let r1 = s.create(b("cas/k"), b("v1"), 0).await.expect("create");
    let r2 = s.update(b("cas/k"), b("v2"), r1, 0).await.expect("update");
    assert_eq!(r2, r1 + 1);
    let kv = s.get(b"cas/k").await.expect("get").0.expect("key");
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (r1, r2, 2)
    );

    match s.update(b("cas/k"), b("v3"), r1, 0).await {
        Err(StoreError::Conflict { current: Some(cur) }) => {
            assert_eq!(
                (cur.mod_revision, &cur.value[..], cur.version),
                (r2, &b"v2"[..], 2)
            );
        }
        other => panic!("stale update: want Conflict with the current kv, got {other:?}"),
    }
    match s.delete(b("cas/k"), Some(r1)).await {
        Err(StoreError::Conflict { current: Some(cur) }) => assert_eq!(cur.mod_revision, r2),
        other => panic!("stale delete: want Conflict with the current kv, got {other:?}"),
    }
    assert!(matches!(
        s.update(b("cas/k"), b("x"), 0, 0).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        s.update(b("cas/none"), b("x"), r1, 0).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.update(b("cas/none"), b("x"), 0, 0).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.delete(b("cas/none"), None).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.delete(b("cas/none"), Some(r1)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        s.current_revision().await.expect("revision"),
        r2,
        "a failed CAS wrote"
    );

    let (r3, prev) = s
        .delete(b("cas/k"), Some(r2))
        .await
        .expect("delete at the right revision");
    assert_eq!(
        (r3, prev.mod_revision, &prev.value[..]),
        (r2 + 1, r2, &b"v2"[..])
    );
    assert!(matches!(
        s.update(b("cas/k"), b("v4"), r2, 0).await,
        Err(StoreError::NotFound)
    ));

    // GuaranteedUpdate-style retries: concurrent increments through CAS lose nothing.
    const TASKS: usize = 8;
    const INCREMENTS: usize = 10;
    let start = s
        .create(b("cas/counter"), b("0"), 0)
        .await
        .expect("create counter");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let s = s.clone();
        tasks.spawn(async move {
            let mut conflicts = 0;
            for _ in 0..INCREMENTS {
                let (mut kv, _) = s.get(b"cas/counter").await.expect("get");
                loop {
                    let cur = kv.expect("counter exists");
                    let n: u64 = std::str::from_utf8(&cur.value)
                        .expect("utf8")
                        .parse()
                        .expect("number");
                    match s
                        .update(
                            cur.key.clone(),
                            b(&(n + 1).to_string()),
                            cur.mod_revision,
                            0,
                        )
                        .await
                    {
                        Ok(_) => break,
                        Err(StoreError::Conflict { current }) => {
                            conflicts += 1;
                            kv = current.map(|c| *c);
                        }
                        Err(e) => panic!("update: {e}"),
                    }
                }
            }
            conflicts
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task");
    }
    let kv = s
        .get(b"cas/counter")
        .await
        .expect("get")
        .0
        .expect("counter");
    assert_eq!(&kv.value[..], (TASKS * INCREMENTS).to_string().as_bytes());
    assert_eq!(kv.version as usize, TASKS * INCREMENTS + 1);
    assert_eq!(kv.mod_revision, start + (TASKS * INCREMENTS) as i64);
}

async fn range_count_more_and_limits<S: Store>(s: Arc<S>) {
    for i in 0..10 {
        s.create(b(&format!("p/{i:02}")), b(&format!("v{i}")), 0)
            .await
            .expect("create");
    }
    s.create(b("q"), b("outside"), 0).await.expect("create");
    let all = s.range(RangeRequest::prefix("p/")).await.expect("range");
    assert_eq!((all.count, all.more, all.kvs.len()), (10, false, 10));
    let keys: Vec<String> = all.kvs.iter().map(key_str).collect();
    assert_eq!(
        keys,
        (0..10).map(|i| format!("p/{i:02}")).collect::<Vec<_>>()
    );
    assert_eq!(all.revision, s.current_revision().await.expect("revision"));

    let page = s
        .range(RangeRequest::prefix("p/").with_limit(3))
        .await
        .expect("range");
    assert_eq!((page.count, page.more, page.kvs.len()), (10, true, 3));
    let page = s
        .range(RangeRequest::prefix("p/").with_limit(10))
        .await
        .expect("range");
    assert_eq!((page.count, page.more, page.kvs.len()), (10, false, 10));
    let counted = s
        .range(RangeRequest {
            count_only: true,
            ..RangeRequest::prefix("p/")
        })
        .await
        .expect("count");
    assert_eq!(
        (counted.count, counted.kvs.len(), counted.more),
        (10, 0, false)
    );
    let sub = s
        .range(RangeRequest::range("p/03", "p/06"))
        .await
        .expect("range");
    assert_eq!(
        sub.kvs.iter().map(key_str).collect::<Vec<_>>(),
        ["p/03", "p/04", "p/05"]
    );
    let one = s
        .range(RangeRequest::range("p/05", ""))
        .await
        .expect("single");
    assert_eq!(
        (one.count, one.kvs.len(), &one.kvs[0].value[..]),
        (1, 1, &b"v5"[..])
    );
    let from = s
        .range(RangeRequest::range("p/05", "\0"))
        .await
        .expect("from key");
    assert_eq!(
        from.kvs.iter().map(key_str).collect::<Vec<_>>(),
        ["p/05", "p/06", "p/07", "p/08", "p/09", "q"]
    );
    let none = s
        .range(RangeRequest::range("p/55", ""))
        .await
        .expect("missing single");
    assert_eq!((none.count, none.kvs.len()), (0, 0));
    let cont = s
        .range(
            RangeRequest::prefix("p/")
                .with_limit(4)
                .continue_after(b"p/07"),
        )
        .await
        .expect("continue");
    assert_eq!(
        cont.kvs.iter().map(key_str).collect::<Vec<_>>(),
        ["p/08", "p/09"]
    );
    assert_eq!((cont.count, cont.more), (2, false));
}

async fn range_at_past_revision<S: Store>(s: Arc<S>) {
    for k in ["h/a", "h/b", "h/c"] {
        s.create(b(k), b(&format!("{k}@1")), 0)
            .await
            .expect("create");
    }
    let snapshot = s.range(RangeRequest::prefix("h/")).await.expect("range");
    let at = snapshot.revision;
    let a = snapshot.kvs[0].mod_revision;
    s.update(b("h/a"), b("h/a@2"), a, 0).await.expect("update");
    s.delete(b("h/b"), None).await.expect("delete");
    s.create(b("h/d"), b("h/d@1"), 0).await.expect("create");
    let past = s
        .range(RangeRequest::prefix("h/").at_revision(at))
        .await
        .expect("past range");
    assert_eq!(past.kvs, snapshot.kvs);
    assert_eq!((past.count, past.revision), (3, at));
    let now = s.range(RangeRequest::prefix("h/")).await.expect("range");
    assert_eq!(
        now.kvs.iter().map(key_str).collect::<Vec<_>>(),
        ["h/a", "h/c", "h/d"]
    );
    assert_eq!(&now.kvs[0].value[..], b"h/a@2");
    let future = now.revision + 100;
    assert!(matches!(
        s.range(RangeRequest::prefix("h/").at_revision(future)).await,
        Err(StoreError::FutureRevision { requested, .. }) if requested == future
    ));
}

async fn paging_at_fixed_revision_while_writes_continue<S: Store>(s: Arc<S>) {
    const KEYS: usize = 60;
    const PAGE: usize = 7;
    for i in 0..KEYS {
        s.create(b(&format!("pg/{i:03}")), b(&format!("orig{i}")), 0)
            .await
            .expect("create");
    }
    let snapshot = s
        .range(RangeRequest::prefix("pg/"))
        .await
        .expect("snapshot")
        .kvs;
    let mut pages: Vec<KeyValue> = Vec::new();
    let mut req = RangeRequest::prefix("pg/").with_limit(PAGE);
    let mut at = 0;
    let mut writes = 0;
    loop {
        let resp = s.range(req.clone()).await.expect("page");
        if at == 0 {
            at = resp.revision;
            req = req.at_revision(at);
            assert_eq!(resp.count, KEYS as i64);
        }
        assert_eq!(resp.revision, at);
        assert!(resp.kvs.len() <= PAGE);
        pages.extend(resp.kvs.iter().cloned());
        if !resp.more {
            break;
        }
        let last = resp
            .kvs
            .last()
            .expect("a page with more has keys")
            .key
            .clone();
        req = req.continue_after(&last);
        // Writes between pages: change, delete and add keys in the paged range.
        let n = pages.len();
        let victim = format!("pg/{:03}", (n * 13) % KEYS);
        if let (Some(kv), _) = s.get(victim.as_bytes()).await.expect("get") {
            s.update(kv.key.clone(), b("changed"), kv.mod_revision, 0)
                .await
                .expect("update");
            writes += 1;
        }
        if s.delete(b(&format!("pg/{:03}", (n * 7 + 3) % KEYS)), None)
            .await
            .is_ok()
        {
            writes += 1;
        }
        s.create(b(&format!("pg/{n:03}-new")), b("new"), 0)
            .await
            .expect("create");
        writes += 1;
    }
    assert!(writes > 10, "the writes between pages did not happen");
    assert_eq!(
        pages, snapshot,
        "the pages do not form the snapshot at revision {at}"
    );
    let now = s
        .range(RangeRequest::prefix("pg/"))
        .await
        .expect("range")
        .kvs;
    assert_ne!(now, snapshot);
}

async fn watch_sees_every_revision_once_in_order<S: Store>(s: Arc<S>) {
    const WRITERS: usize = 64;
    const WRITES: usize = 25;
    let r0 = s.current_revision().await.expect("revision");
    let mut live = watch_prefix(&*s, "w/", 0).await;
    let mut from_rev = watch_prefix(&*s, "w/", r0 + 1).await;
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..WRITERS {
        let s = s.clone();
        tasks.spawn(async move {
            let mut acked = Vec::with_capacity(WRITES);
            for i in 0..WRITES {
                let key = format!("w/{t:02}/{i:02}");
                let rev = s.create(b(&key), b(&key), 0).await.expect("create");
                acked.push((key, rev));
            }
            acked
        });
    }
    let mut acked: HashMap<String, Revision> = HashMap::new();
    while let Some(r) = tasks.join_next().await {
        acked.extend(r.expect("writer"));
    }
    let total = WRITERS * WRITES;
    let mut revs: Vec<Revision> = acked.values().copied().collect();
    revs.sort_unstable();
    assert_eq!(
        revs,
        (r0 + 1..=r0 + total as i64).collect::<Vec<_>>(),
        "revisions not contiguous"
    );
    let end = s
        .create(b("w/zz-end"), b("end"), 0)
        .await
        .expect("sentinel");
    for w in [&mut live, &mut from_rev] {
        let events = take_events(w, total + 1).await;
        for (i, e) in events.iter().enumerate() {
            assert_eq!(
                e.revision(),
                r0 + 1 + i as i64,
                "events out of order or missing"
            );
            assert_eq!(e.kind, EventKind::Put);
        }
        for e in &events[..total] {
            assert_eq!(
                acked.get(&key_str(&e.kv)),
                Some(&e.revision()),
                "event does not match its ack"
            );
            assert_eq!(e.kv.value, e.kv.key);
        }
        assert_eq!(events[total].revision(), end);
    }
}

async fn concurrent_writers_lose_nothing<S: Store>(s: Arc<S>) {
    const WRITERS: usize = 64;
    const UPDATES: usize = 15;
    let r0 = s.current_revision().await.expect("revision");
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..WRITERS {
        let s = s.clone();
        tasks.spawn(async move {
            let key = b(&format!("cw/{t:02}"));
            let mut rev = s.create(key.clone(), b("0"), 0).await.expect("create");
            let mut revs = vec![rev];
            for i in 1..=UPDATES {
                rev = s
                    .update(key.clone(), b(&i.to_string()), rev, 0)
                    .await
                    .expect("update");
                revs.push(rev);
            }
            revs
        });
    }
    let mut revs = Vec::new();
    let mut last: BTreeMap<usize, Revision> = BTreeMap::new();
    let mut t = 0;
    while let Some(r) = tasks.join_next().await {
        let r = r.expect("writer");
        assert!(
            r.windows(2).all(|w| w[0] < w[1]),
            "a writer's revisions went backwards"
        );
        last.insert(t, *r.last().expect("revs"));
        revs.extend(r);
        t += 1;
    }
    revs.sort_unstable();
    let n = WRITERS * (UPDATES + 1);
    assert_eq!(revs, (r0 + 1..=r0 + n as i64).collect::<Vec<_>>());
    let all = s.range(RangeRequest::prefix("cw/")).await.expect("range");
    assert_eq!(all.count, WRITERS as i64);
    for kv in &all.kvs {
        assert_eq!(
            (&kv.value[..], kv.version),
            (UPDATES.to_string().as_bytes(), UPDATES as i64 + 1)
        );
    }
    let mut mods: Vec<Revision> = all.kvs.iter().map(|kv| kv.mod_revision).collect();
    let mut lasts: Vec<Revision> = last.values().copied().collect();
    mods.sort_unstable();
    lasts.sort_unstable();
    assert_eq!(mods, lasts);
}

async fn watch_resumes_from_revision_and_delete_has_prev_kv<S: Store>(s: Arc<S>) {
    let mut revs = vec![s.create(b("r/k"), b("0"), 0).await.expect("create")];
    for i in 1..10 {
        let prev = *revs.last().expect("rev");
        revs.push(
            s.update(b("r/k"), b(&i.to_string()), prev, 0)
                .await
                .expect("update"),
        );
    }
    let mut w = s
        .watch(b("r/k"), Bytes::new(), revs[4])
        .await
        .expect("watch");
    let replay = take_events(&mut w, 6).await;
    for (i, e) in replay.iter().enumerate() {
        assert_eq!(e.revision(), revs[4 + i]);
        assert_eq!(&e.kv.value[..], (4 + i).to_string().as_bytes());
        assert_eq!(e.kv.version, 5 + i as i64);
        assert_eq!(
            e.prev_kv.as_ref().map(|p| p.mod_revision),
            Some(revs[3 + i])
        );
    }
    let live = s
        .update(b("r/k"), b("10"), revs[9], 0)
        .await
        .expect("update");
    let (del, _) = s.delete(b("r/k"), None).await.expect("delete");
    let events = take_events(&mut w, 2).await;
    assert_eq!(
        (events[0].revision(), events[0].kind),
        (live, EventKind::Put)
    );
    let d = &events[1];
    assert_eq!(
        (d.kind, d.revision(), d.kv.value.len()),
        (EventKind::Delete, del, 0)
    );
    assert_eq!(&d.kv.key[..], b"r/k");
    let prev = d.prev_kv.as_ref().expect("a delete event carries prev_kv");
    assert_eq!(
        (&prev.value[..], prev.mod_revision, prev.version),
        (&b"10"[..], live, 11)
    );
    let mut all = s
        .watch(b("r/"), prefix_end(b"r/"), revs[0])
        .await
        .expect("watch");
    let every = take_events(&mut all, 12).await;
    assert_eq!(every.first().map(Event::revision), Some(revs[0]));
    assert_eq!(every.last().map(Event::revision), Some(del));
}

async fn watch_single_key_prefix_and_range<S: Store>(s: Arc<S>) {
    let mut single = s.watch(b("s/a"), Bytes::new(), 0).await.expect("watch");
    let mut prefix = watch_prefix(&*s, "s/a", 0).await;
    let mut range = s.watch(b("s/a"), b("s/c"), 0).await.expect("watch");
    for k in ["s/a", "s/ab", "s/b", "s/c", "t"] {
        s.create(b(k), b(k), 0).await.expect("create");
    }
    let (kv, _) = s.get(b"s/a").await.expect("get");
    let end = s
        .update(b("s/a"), b("again"), kv.expect("s/a").mod_revision, 0)
        .await
        .expect("update");
    let keys = |evs: Vec<Event>| evs.iter().map(|e| key_str(&e.kv)).collect::<Vec<_>>();
    assert_eq!(keys(events_through(&mut single, end).await), ["s/a", "s/a"]);
    assert_eq!(
        keys(events_through(&mut prefix, end).await),
        ["s/a", "s/ab", "s/a"]
    );
    assert_eq!(
        keys(events_through(&mut range, end).await),
        ["s/a", "s/ab", "s/b", "s/a"]
    );
}

async fn compaction_errors<S: Store>(s: Arc<S>) {
    let mut revs = vec![s.create(b("cp/k"), b("v0"), 0).await.expect("create")];
    for i in 1..5 {
        let prev = *revs.last().expect("rev");
        revs.push(
            s.update(b("cp/k"), b(&format!("v{i}")), prev, 0)
                .await
                .expect("update"),
        );
    }
    s.compact(revs[2]).await.expect("compact");
    match s
        .range(RangeRequest::prefix("cp/").at_revision(revs[1]))
        .await
    {
        Err(StoreError::Compacted { requested, .. }) => assert_eq!(requested, revs[1]),
        other => panic!("range below the compaction point: want Compacted, got {other:?}"),
    }
    let at = s
        .range(RangeRequest::prefix("cp/").at_revision(revs[2]))
        .await
        .expect("at the compaction point");
    assert_eq!(&at.kvs[0].value[..], b"v2");
    let after = s
        .range(RangeRequest::prefix("cp/").at_revision(revs[3]))
        .await
        .expect("above it");
    assert_eq!(&after.kvs[0].value[..], b"v3");

    let mut w = s
        .watch(b("cp/k"), Bytes::new(), revs[1])
        .await
        .expect("watch");
    match tokio::time::timeout(EVENT_TIMEOUT, w.next()).await {
        Ok(Some(Err(StoreError::Compacted { requested, .. }))) => assert_eq!(requested, revs[1]),
        other => panic!("watch from a compacted revision: want Compacted, got {other:?}"),
    }
    let mut w = s
        .watch(b("cp/k"), Bytes::new(), revs[2])
        .await
        .expect("watch");
    let events = take_events(&mut w, 3).await;
    assert_eq!(
        events.iter().map(Event::revision).collect::<Vec<_>>(),
        revs[2..]
    );

    assert!(matches!(
        s.compact(revs[2]).await,
        Err(StoreError::Compacted { .. })
    ));
    assert!(matches!(
        s.compact(revs[1]).await,
        Err(StoreError::Compacted { .. })
    ));
    let future = revs[4] + 100;
    assert!(matches!(
        s.compact(future).await,
        Err(StoreError::FutureRevision { .. })
    ));
    s.compact(revs[4])
        .await
        .expect("compact to the current revision");
    assert!(matches!(
        s.range(RangeRequest::prefix("cp/").at_revision(revs[3]))
            .await,
        Err(StoreError::Compacted { .. })
    ));
}

async fn leases_expire_and_delete_keys<S: Store>(s: Arc<S>) {
    let lease = s.lease_grant(2).await.expect("grant");
    s.create(b("l/a"), b("a"), lease).await.expect("create");
    s.create(b("l/b"), b("b"), lease).await.expect("create");
    s.create(b("l/c"), b("c"), 0).await.expect("create");
    let kv = s.get(b"l/a").await.expect("get").0.expect("l/a");
    assert_eq!(kv.lease, lease);
    let mut w = watch_prefix(&*s, "l/", 0).await;
    assert!(s.lease_keep_alive(lease).await.expect("keep alive") > 0);
    let events = match tokio::time::timeout(LEASE_EXPIRY_TIMEOUT, take_events(&mut w, 2)).await {
        Ok(e) => e,
        Err(_) => panic!("the lease's keys were not deleted within {LEASE_EXPIRY_TIMEOUT:?}"),
    };
    let mut keys: Vec<String> = events.iter().map(|e| key_str(&e.kv)).collect();
    keys.sort();
    assert_eq!(keys, ["l/a", "l/b"]);
    for e in &events {
        assert_eq!(e.kind, EventKind::Delete);
        assert_eq!(e.prev_kv.as_ref().map(|p| p.lease), Some(lease));
    }
    assert_eq!(
        events[0].revision(),
        events[1].revision(),
        "a lease's keys go in one revision"
    );
    assert_eq!(s.get(b"l/a").await.expect("get").0, None);
    assert!(s.get(b"l/c").await.expect("get").0.is_some());
    let r = s.lease_keep_alive(lease).await;
    assert!(
        matches!(r, Err(StoreError::LeaseNotFound(_))),
        "keep-alive of an expired lease: {r:?}"
    );
    assert!(matches!(
        s.create(b("l/d"), b("d"), lease).await,
        Err(StoreError::LeaseNotFound(_))
    ));
}

async fn lease_revoke_and_detach<S: Store>(s: Arc<S>) {
    let lease = s.lease_grant(600).await.expect("grant");
    let other = s.lease_grant(600).await.expect("grant");
    for k in ["lr/a", "lr/b", "lr/c"] {
        s.create(b(k), b(k), lease).await.expect("create");
    }
    let x = s.create(b("lr/x"), b("x"), other).await.expect("create");
    // Updating with lease 0 detaches the key from its lease.
    s.update(b("lr/x"), b("x2"), x, 0).await.expect("detach");
    let mut w = watch_prefix(&*s, "lr/", 0).await;
    s.lease_revoke(lease).await.expect("revoke");
    s.lease_revoke(other).await.expect("revoke");
    let events = take_events(&mut w, 3).await;
    assert!(events.iter().all(|e| e.kind == EventKind::Delete));
    assert!(events.iter().all(|e| e.revision() == events[0].revision()));
    assert_eq!(
        s.range(RangeRequest::prefix("lr/"))
            .await
            .expect("range")
            .count,
        1
    );
    assert!(matches!(
        s.lease_revoke(lease).await,
        Err(StoreError::LeaseNotFound(_))
    ));
    let r = s.lease_keep_alive(other).await;
    assert!(
        matches!(r, Err(StoreError::LeaseNotFound(_))),
        "keep-alive of a revoked lease: {r:?}"
    );
    assert!(matches!(
        s.create(b("lr/y"), b("y"), 987_654_321).await,
        Err(StoreError::LeaseNotFound(_))
    ));
}

async fn value_and_key_limits<S: Store>(s: Arc<S>) {
    let r0 = s.current_revision().await.expect("revision");
    let big = Bytes::from(vec![7u8; MAX_VALUE_BYTES + 1]);
    match s.create(b("big/a"), big.clone(), 0).await {
        Err(StoreError::ValueTooLarge { size, limit }) => {
            assert_eq!((size, limit), (MAX_VALUE_BYTES + 1, MAX_VALUE_BYTES))
        }
        other => panic!("want ValueTooLarge, got {other:?}"),
    }
    let max = Bytes::from(vec![9u8; MAX_VALUE_BYTES]);
    let r = s
        .create(b("big/a"), max.clone(), 0)
        .await
        .expect("a value of exactly the limit");
    assert_eq!(
        s.get(b"big/a").await.expect("get").0.expect("big/a").value,
        max
    );
    assert!(matches!(
        s.update(b("big/a"), big, r, 0).await,
        Err(StoreError::ValueTooLarge { .. })
    ));
    let long_key = Bytes::from(vec![b'k'; MAX_KEY_BYTES + 1]);
    assert!(matches!(
        s.create(long_key, b("v"), 0).await,
        Err(StoreError::KeyTooLarge { .. })
    ));
    assert_eq!(s.current_revision().await.expect("revision"), r0 + 1);
}

async fn progress_notifications_report_the_revision<S: Store>(s: Arc<S>) {
    // A watch on an idle prefix learns that the store moved on through a progress
    // notification, sent after every event already committed (the watch cache's
    // consistent reads depend on this ordering).
    let mut idle = watch_prefix(&*s, "progress/idle/", 0).await;
    let mut busy = watch_prefix(&*s, "progress/busy/", 0).await;
    let mut last = 0;
    for i in 0..5 {
        last = s
            .create(b(&format!("progress/busy/{i}")), b("v"), 0)
            .await
            .expect("create");
    }
    busy.request_progress();
    let mut seen_events = 0;
    loop {
        let update = tokio::time::timeout(EVENT_TIMEOUT, busy.next_update())
            .await
            .expect("an update within the timeout")
            .expect("stream open")
            .expect("no error");
        match update {
            clipper_store::WatchUpdate::Events(e) => seen_events += e.len(),
            clipper_store::WatchUpdate::Progress(r) => {
                assert_eq!(seen_events, 5, "progress came after every committed event");
                assert!(
                    r >= last,
                    "progress revision {r} covers the last write {last}"
                );
                break;
            }
        }
    }
    idle.request_progress();
    let update = tokio::time::timeout(EVENT_TIMEOUT, idle.next_update())
        .await
        .expect("an update within the timeout")
        .expect("stream open")
        .expect("no error");
    match update {
        clipper_store::WatchUpdate::Progress(r) => {
            assert!(r >= last, "idle watch progress {r} >= {last}")
        }
        other => panic!("the idle prefix had no events, got {other:?}"),
    }
}

/// Instantiate every check for both backends, one test each.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let h = crate::common::Embedded::new();
                    super::$name(h.store.clone()).await;
                }
            )*
        }
        mod etcd {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let h = crate::common::Etcd::start().await;
                    super::$name(h.store.clone()).await;
                }
            )*
        }
    };
}

conformance!(
    create_get_and_already_exists,
    cas_update_and_delete_conflicts,
    range_count_more_and_limits,
    range_at_past_revision,
    paging_at_fixed_revision_while_writes_continue,
    watch_sees_every_revision_once_in_order,
    concurrent_writers_lose_nothing,
    watch_resumes_from_revision_and_delete_has_prev_kv,
    watch_single_key_prefix_and_range,
    compaction_errors,
    leases_expire_and_delete_keys,
    lease_revoke_and_detach,
    value_and_key_limits,
    progress_notifications_report_the_revision,
);
