//! A work queue as controllers use them: a key is queued at most once; a key being worked
//! on is not handed to a second worker, and if it is added meanwhile it comes back once
//! the first is done; failed keys come back after an exponential backoff, and a key can be
//! added after a delay (a condition that will hold later: minReadySeconds, a progress
//! deadline). Keys name objects a controller's caches hold (uids for the garbage
//! collector, `namespace/name` for the workload controllers), and a key is held at most
//! once ready and once delayed per reason, so the queue is bounded by those caches.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// First retry delay after a failure; doubled per consecutive failure.
pub const FIRST_RETRY: Duration = Duration::from_millis(50);
/// Longest retry delay: a failing key is still looked at twice a minute.
pub const MAX_RETRY: Duration = Duration::from_secs(30);

/// The delay before retry number `failures` (1-based).
pub fn backoff(failures: u32) -> Duration {
    FIRST_RETRY
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(MAX_RETRY)
}

struct State<K> {
    ready: VecDeque<K>,
    queued: HashSet<K>,
    processing: HashSet<K>,
    /// Added while being processed: queued again when done.
    dirty: HashSet<K>,
    /// Retries, by due time (the sequence number keeps equal times apart).
    delayed: BTreeMap<(Instant, u64), K>,
    seq: u64,
    failures: HashMap<K, u32>,
}

pub struct WorkQueue<K> {
    state: Mutex<State<K>>,
    notify: Notify,
}

impl<K: Clone + Eq + Hash> Default for WorkQueue<K> {
    fn default() -> Self {
        WorkQueue {
            state: Mutex::new(State {
                ready: VecDeque::new(),
                queued: HashSet::new(),
                processing: HashSet::new(),
                dirty: HashSet::new(),
                delayed: BTreeMap::new(),
                seq: 0,
                failures: HashMap::new(),
            }),
            notify: Notify::new(),
        }
    }
}

impl<K: Clone + Eq + Hash> State<K> {
    fn add(&mut self, k: K) -> bool {
        if self.processing.contains(&k) {
            self.dirty.insert(k);
            return false;
        }
        if self.queued.insert(k.clone()) {
            self.ready.push_back(k);
            return true;
        }
        false
    }
}

impl<K: Clone + Eq + Hash> WorkQueue<K> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<K>> {
        // A panic while holding the lock leaves consistent state (every step is one
        // collection operation); keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add(&self, k: K) {
        if self.lock().add(k) {
            self.notify.notify_one();
        }
    }

    /// Adds `k` again after its backoff (one more failure).
    pub fn retry(&self, k: K) {
        let mut s = self.lock();
        let n = s.failures.entry(k.clone()).or_insert(0);
        *n += 1;
        let due = Instant::now() + backoff(*n);
        s.seq += 1;
        let seq = s.seq;
        s.delayed.insert((due, seq), k);
        drop(s);
        // A waiting worker recomputes its sleep.
        self.notify.notify_one();
    }

    /// Adds `k` once `delay` has passed (no failure counted); a key already due sooner
    /// is not delayed further, a later one is moved up.
    pub fn add_after(&self, k: K, delay: Duration) {
        if delay.is_zero() {
            return self.add(k);
        }
        let mut s = self.lock();
        let due = Instant::now() + delay;
        if s.delayed.iter().any(|((d, _), key)| *key == k && *d <= due) {
            return;
        }
        s.delayed.retain(|_, key| *key != k);
        s.seq += 1;
        let seq = s.seq;
        s.delayed.insert((due, seq), k);
        drop(s);
        self.notify.notify_one();
    }

    /// `k` succeeded: its backoff starts over.
    pub fn forget(&self, k: &K) {
        self.lock().failures.remove(k);
    }

    /// Consecutive failures of `k` so far.
    pub fn failures(&self, k: &K) -> u32 {
        self.lock().failures.get(k).copied().unwrap_or(0)
    }

    /// The work on `k` is over.
    pub fn done(&self, k: &K) {
        let mut s = self.lock();
        s.processing.remove(k);
        let again = s.dirty.remove(k) && s.add(k.clone());
        drop(s);
        if again {
            self.notify.notify_one();
        }
    }

    /// Waits for the next key; the caller calls [`WorkQueue::done`] with it.
    pub async fn get(&self) -> K {
        loop {
            let notified = self.notify.notified();
            let next_due = {
                let mut s = self.lock();
                let now = Instant::now();
                while let Some(entry) = s.delayed.first_entry() {
                    if entry.key().0 > now {
                        break;
                    }
                    let k = entry.remove();
                    s.add(k);
                }
                if let Some(k) = s.ready.pop_front() {
                    s.queued.remove(&k);
                    s.processing.insert(k.clone());
                    let more = !s.ready.is_empty();
                    drop(s);
                    if more {
                        // Pass the wake-up on: one notification may stand for several keys.
                        self.notify.notify_one();
                    }
                    return k;
                }
                s.delayed.keys().next().map(|(due, _)| *due)
            };
            match next_due {
                Some(due) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(due) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Keys waiting (ready or for a retry).
    pub fn len(&self) -> usize {
        let s = self.lock();
        s.ready.len() + s.delayed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dedupe_dirty_and_retry() {
        let q = WorkQueue::<&str>::default();
        q.add("a");
        q.add("a");
        q.add("b");
        assert_eq!(q.len(), 2);
        let a = q.get().await;
        assert_eq!(a, "a");
        // Added while processing: not handed out twice, back once done.
        q.add("a");
        assert_eq!(q.get().await, "b");
        assert!(q.is_empty());
        q.done(&"a");
        assert_eq!(q.get().await, "a");
        q.done(&"a");
        q.done(&"b");
        // A failure comes back after its backoff.
        q.retry("c");
        assert_eq!(q.failures(&"c"), 1);
        let started = Instant::now();
        assert_eq!(q.get().await, "c");
        assert!(started.elapsed() >= backoff(1));
        q.done(&"c");
        q.forget(&"c");
        assert_eq!(q.failures(&"c"), 0);
    }

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        assert_eq!(backoff(1), FIRST_RETRY);
        assert_eq!(backoff(2), FIRST_RETRY * 2);
        assert_eq!(backoff(100), MAX_RETRY);
    }
}
