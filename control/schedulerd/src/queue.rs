//! The scheduling queue, as kube-scheduler keeps it: an active queue ordered by
//! priority (then arrival), a backoff queue for pods that failed recently, and an
//! unschedulable set that cluster events move back. Pure: time comes in as an argument.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// `(namespace, name)`.
pub type Key = (String, String);

/// kube-scheduler's `DefaultPodMaxInUnschedulablePodsDuration`: an unschedulable pod no
/// event has moved is retried after this long anyway.
pub const MAX_IN_UNSCHEDULABLE: Duration = Duration::from_secs(5 * 60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// `initial · 2^(attempts-1)`, at most `max`.
    pub fn after(&self, attempts: u32) -> Duration {
        let shift = attempts.saturating_sub(1).min(30);
        self.initial.saturating_mul(1u32 << shift).min(self.max)
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Active {
    priority: i32,
    seq: u64,
    key: Key,
}

impl Ord for Active {
    fn cmp(&self, o: &Self) -> Ordering {
        // Max-heap: higher priority first, then the earlier arrival.
        self.priority.cmp(&o.priority).then(o.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Active {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// What the queue knows of a pod between attempts.
#[derive(Clone, Debug)]
struct Info {
    priority: i32,
    attempts: u32,
    last_attempt: Option<Instant>,
    /// Set while the pod sits in the unschedulable set.
    unschedulable_since: Option<Instant>,
    /// An assigned pod appearing could make it fit (it has pod affinity or spread terms).
    wakes_on_pod_add: bool,
}

impl Default for Backoff {
    /// kube-scheduler's podInitialBackoffSeconds 1 and podMaxBackoffSeconds 10.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Default)]
pub struct Queue {
    policy: Backoff,
    active: BinaryHeap<Active>,
    /// Unschedulable pods, and the same in the order they became so (entries go stale
    /// when a pod moves out; `Info::unschedulable_since` tells).
    unsched: HashSet<Key>,
    unsched_order: VecDeque<(Instant, Key)>,
    backoff: BinaryHeap<Reverse<(Instant, u64, Key)>>,
    /// Pod → the sequence number of its live entry in `active` or `backoff`.
    queued: HashMap<Key, u64>,
    info: HashMap<Key, Info>,
    seq: u64,
}

impl Queue {
    pub fn new(policy: Backoff) -> Queue {
        Queue {
            policy,
            ..Queue::default()
        }
    }

    /// Pods known to the queue (queued, backing off or unschedulable).
    pub fn len(&self) -> usize {
        self.info.len()
    }

    pub fn is_empty(&self) -> bool {
        self.info.is_empty()
    }

    pub fn unschedulable_len(&self) -> usize {
        self.unsched.len()
    }

    fn push_active(&mut self, key: Key, priority: i32) {
        self.seq += 1;
        self.queued.insert(key.clone(), self.seq);
        self.active.push(Active {
            priority,
            seq: self.seq,
            key,
        });
    }

    fn push_backoff(&mut self, key: Key, until: Instant) {
        self.seq += 1;
        self.queued.insert(key.clone(), self.seq);
        self.backoff.push(Reverse((until, self.seq, key)));
    }

    /// A pending pod was added or changed. New pods go to the active queue; a pod already
    /// queued or backing off stays where it is (with its new priority once re-queued);
    /// an unschedulable pod whose spec changed is worth another try.
    pub fn add(&mut self, key: Key, priority: i32, now: Instant) {
        match self.info.get_mut(&key) {
            None => {
                self.info.insert(
                    key.clone(),
                    Info {
                        priority,
                        attempts: 0,
                        last_attempt: None,
                        unschedulable_since: None,
                        wakes_on_pod_add: false,
                    },
                );
                self.push_active(key, priority);
            }
            Some(i) => {
                i.priority = priority;
                if i.unschedulable_since.is_some() {
                    self.move_out(&key, now);
                }
            }
        }
    }

    /// Forgets a pod (bound, deleted, or no longer ours). Its heap entries go stale.
    pub fn remove(&mut self, key: &Key) {
        self.info.remove(key);
        self.queued.remove(key);
        self.unsched.remove(key);
    }

    pub fn contains(&self, key: &Key) -> bool {
        self.info.contains_key(key)
    }

    /// The next pod to schedule, moving pods whose backoff has ended first.
    pub fn pop(&mut self, now: Instant) -> Option<Key> {
        self.flush_backoff(now);
        while let Some(e) = self.active.pop() {
            if self.queued.get(&e.key) == Some(&e.seq) {
                self.queued.remove(&e.key);
                return Some(e.key);
            }
        }
        None
    }

    /// Whether `pop` would return a pod now.
    pub fn has_ready(&mut self, now: Instant) -> bool {
        self.flush_backoff(now);
        while let Some(e) = self.active.peek() {
            if self.queued.get(&e.key) == Some(&e.seq) {
                return true;
            }
            self.active.pop();
        }
        false
    }

    fn flush_backoff(&mut self, now: Instant) {
        while let Some(Reverse((until, seq, _))) = self.backoff.peek() {
            if *until > now {
                break;
            }
            let seq = *seq;
            let Some(Reverse((_, _, key))) = self.backoff.pop() else {
                break;
            };
            if self.queued.get(&key) == Some(&seq)
                && let Some(p) = self.info.get(&key).map(|i| i.priority)
            {
                self.push_active(key, p);
            }
        }
    }

    /// An attempt failed: the pod fits nowhere (`unschedulable`, it waits for an event),
    /// or something else went wrong (a failed bind: it backs off and retries).
    pub fn failed(&mut self, key: Key, now: Instant, unschedulable: bool, wakes_on_pod_add: bool) {
        let Some(i) = self.info.get_mut(&key) else {
            return;
        };
        i.attempts += 1;
        i.last_attempt = Some(now);
        i.wakes_on_pod_add = wakes_on_pod_add;
        self.queued.remove(&key);
        if unschedulable {
            i.unschedulable_since = Some(now);
            self.unsched.insert(key.clone());
            self.unsched_order.push_back((now, key));
        } else {
            i.unschedulable_since = None;
            let until = now + self.policy.after(i.attempts);
            self.unsched.remove(&key);
            self.push_backoff(key, until);
        }
    }

    /// Moves an unschedulable pod out: to the backoff queue while its backoff lasts,
    /// otherwise to the active queue.
    fn move_out(&mut self, key: &Key, now: Instant) {
        let Some(i) = self.info.get_mut(key) else {
            return;
        };
        i.unschedulable_since = None;
        self.unsched.remove(key);
        let (priority, attempts, last) = (i.priority, i.attempts, i.last_attempt);
        let until = last.map(|t| t + self.policy.after(attempts));
        match until {
            Some(u) if u > now => self.push_backoff(key.clone(), u),
            _ => self.push_active(key.clone(), priority),
        }
    }

    /// Moves one unschedulable pod out (to backoff or active), if it is unschedulable.
    pub fn wake(&mut self, key: &Key, now: Instant) {
        if self.unsched.contains(key) {
            self.move_out(key, now);
        }
    }

    /// A cluster event that may make unschedulable pods fit: moves those `hint` accepts.
    /// Returns how many moved.
    pub fn on_event(&mut self, now: Instant, hint: Hint) -> usize {
        let keys: Vec<Key> = self
            .unsched
            .iter()
            .filter(|k| match hint {
                Hint::All => true,
                Hint::AssignedPodAdded => self.info.get(*k).is_some_and(|i| i.wakes_on_pod_add),
            })
            .cloned()
            .collect();
        for k in &keys {
            self.move_out(k, now);
        }
        keys.len()
    }

    /// Retries pods unschedulable for longer than [`MAX_IN_UNSCHEDULABLE`].
    pub fn flush_unschedulable(&mut self, now: Instant) -> usize {
        let mut moved = 0;
        while let Some(t) = self.oldest_unschedulable() {
            if now.duration_since(t) < MAX_IN_UNSCHEDULABLE {
                break;
            }
            if let Some((_, k)) = self.unsched_order.pop_front() {
                self.move_out(&k, now);
                moved += 1;
            }
        }
        moved
    }

    /// The time the longest-waiting unschedulable pod became so (drops stale entries).
    fn oldest_unschedulable(&mut self) -> Option<Instant> {
        while let Some((t, k)) = self.unsched_order.front() {
            if self.info.get(k).and_then(|i| i.unschedulable_since) == Some(*t) {
                return Some(*t);
            }
            self.unsched_order.pop_front();
        }
        None
    }

    /// When the queue next needs the clock: the earliest backoff end or unschedulable
    /// timeout.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        let b = self.backoff.peek().map(|Reverse((t, _, _))| *t);
        let u = self
            .oldest_unschedulable()
            .map(|t| t + MAX_IN_UNSCHEDULABLE);
        match (b, u) {
            (Some(b), Some(u)) => Some(b.min(u)),
            (b, u) => b.or(u),
        }
    }
}

/// Which unschedulable pods an event may help (kube-scheduler's queueing hints, coarse).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hint {
    /// A node added or changed in a way that matters, an assigned pod deleted.
    All,
    /// An assigned pod appeared: only pods with pod affinity or spread terms care.
    AssignedPodAdded,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: &str) -> Key {
        ("default".into(), n.into())
    }

    fn drain(q: &mut Queue, now: Instant) -> Vec<String> {
        std::iter::from_fn(|| q.pop(now)).map(|k| k.1).collect()
    }

    #[test]
    fn active_queue_orders_by_priority_then_arrival() {
        let t = Instant::now();
        let mut q = Queue::new(Backoff::default());
        q.add(k("a"), 0, t);
        q.add(k("b"), 100, t);
        q.add(k("c"), 0, t);
        q.add(k("d"), 100, t);
        q.add(k("e"), -5, t);
        assert_eq!(drain(&mut q, t), ["b", "d", "a", "c", "e"]);
        // Removed pods are skipped even though their heap entry remains.
        q.remove(&k("a"));
        q.add(k("x"), 1, t);
        q.add(k("y"), 1, t);
        q.remove(&k("x"));
        assert_eq!(drain(&mut q, t), ["y"]);
        // Adding a pod already known does not queue it twice.
        q.add(k("z"), 0, t);
        q.add(k("z"), 0, t);
        assert_eq!(drain(&mut q, t), ["z"]);
    }

    #[test]
    fn wake_moves_only_an_unschedulable_pod() {
        let t = Instant::now();
        let mut q = Queue::new(Backoff::default());
        q.add(k("held"), 0, t);
        q.add(k("other"), 0, t);
        assert_eq!(drain(&mut q, t).len(), 2);
        q.failed(k("held"), t, true, false);
        q.failed(k("other"), t, true, false);
        // Woken within its backoff, it waits out the rest of it, then runs; the other
        // unschedulable pod stays where it is.
        q.wake(&k("held"), t + Duration::from_millis(100));
        assert_eq!(q.unschedulable_len(), 1);
        assert_eq!(q.pop(t + Duration::from_millis(100)), None);
        assert_eq!(q.pop(t + Duration::from_secs(1)), Some(k("held")));
        // Waking a pod that is not unschedulable (active, or unknown) changes nothing.
        q.add(k("new"), 0, t);
        q.wake(&k("new"), t);
        q.wake(&k("unknown"), t);
        assert_eq!(drain(&mut q, t + Duration::from_secs(1)), ["new"]);
        assert_eq!(q.unschedulable_len(), 1);
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let b = Backoff::default();
        let secs: Vec<u64> = (1..=6).map(|n| b.after(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 10, 10]);
        assert_eq!(b.after(u32::MAX), Duration::from_secs(10));

        let t = Instant::now();
        let mut q = Queue::new(b);
        q.add(k("p"), 0, t);
        assert_eq!(q.pop(t), Some(k("p")));
        q.failed(k("p"), t, false, false);
        assert_eq!(q.next_deadline(), Some(t + Duration::from_secs(1)));
        assert!(!q.has_ready(t + Duration::from_millis(999)));
        assert_eq!(q.pop(t + Duration::from_secs(1)), Some(k("p")));
        q.failed(k("p"), t, false, false);
        assert!(!q.has_ready(t + Duration::from_millis(1999)));
        assert!(q.has_ready(t + Duration::from_secs(2)));
    }

    #[test]
    fn unschedulable_pods_move_on_events_not_on_time() {
        let t = Instant::now();
        let mut q = Queue::new(Backoff::default());
        q.add(k("plain"), 0, t);
        q.add(k("affine"), 0, t);
        assert_eq!(drain(&mut q, t).len(), 2);
        q.failed(k("plain"), t, true, false);
        q.failed(k("affine"), t, true, true);
        assert_eq!(q.unschedulable_len(), 2);
        // Time alone does not bring them back (until the five-minute flush).
        let later = t + Duration::from_secs(60);
        assert_eq!(q.pop(later), None);
        assert_eq!(q.next_deadline(), Some(t + MAX_IN_UNSCHEDULABLE));
        // An assigned pod appearing helps only the pod with affinity or spread terms.
        assert_eq!(q.on_event(later, Hint::AssignedPodAdded), 1);
        assert_eq!(drain(&mut q, later), ["affine"]);
        // A node event moves the rest; within its backoff a pod waits in backoff first.
        let soon = t + Duration::from_millis(500);
        assert_eq!(q.on_event(soon, Hint::All), 1);
        assert_eq!(q.pop(soon), None, "still backing off");
        assert_eq!(q.pop(t + Duration::from_secs(1)), Some(k("plain")));
        // The five-minute flush.
        q.failed(k("plain"), later, true, false);
        assert_eq!(q.flush_unschedulable(later + Duration::from_secs(299)), 0);
        assert_eq!(q.flush_unschedulable(later + MAX_IN_UNSCHEDULABLE), 1);
        assert_eq!(q.pop(later + MAX_IN_UNSCHEDULABLE), Some(k("plain")));
        // A spec change of an unschedulable pod retries it.
        q.failed(k("plain"), later, true, false);
        q.add(k("plain"), 7, later + Duration::from_secs(30));
        assert_eq!(q.pop(later + Duration::from_secs(30)), Some(k("plain")));
        assert_eq!(q.unschedulable_len(), 0);
    }
}
