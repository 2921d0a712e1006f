//! The per-core UDP flow table: a flow is (service, client address) → backend, kept while
//! datagrams move and expired after a timeout. Flows whose backend is deleted from the service
//! (or stops serving) are dropped as soon as the new table is seen — the stale-conntrack
//! failure users hit with kube-proxy cannot happen here.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use crate::balance::Rng;
use crate::metrics::{BackendStats, ServiceStats};
use crate::picker::Picker;
use crate::service::{Protocol, ServiceKey};
use crate::table::{Table, TableHandle};
use crate::{Nanos, SECOND};

/// Limits of one core's flow table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpLimits {
    /// Flows held at once; datagrams that would open more are dropped. Each flow holds a
    /// connected backend socket in the driver, so this also bounds file descriptors.
    pub max_flows: usize,
    /// A flow with no datagram either way for this long is removed.
    pub flow_timeout: Nanos,
}

impl Default for UdpLimits {
    fn default() -> Self {
        UdpLimits {
            max_flows: 16_384,
            flow_timeout: 30 * SECOND,
        }
    }
}

/// Identifies a flow within one core (never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowId(pub u64);

/// Why a datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// No UDP service on that address.
    NoService,
    /// The service has no usable endpoint.
    NoEndpoint,
    /// The flow table is full.
    TableFull,
}

/// What to do with a datagram from a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it to `backend` on `flow`'s backend socket (`created`: open that socket first).
    Forward {
        /// The flow.
        flow: FlowId,
        /// Its backend.
        backend: SocketAddr,
        /// The flow is new.
        created: bool,
    },
    /// Drop it.
    Drop(DropReason),
}

#[derive(Debug)]
struct Flow {
    service: ServiceKey,
    client: SocketAddr,
    backend: SocketAddr,
    stats: Arc<BackendStats>,
    svc_stats: Arc<ServiceStats>,
    last_seen: Nanos,
    queued: Option<Nanos>,
}

/// One core's UDP flows.
#[derive(Debug)]
pub struct UdpCore<R> {
    table: Arc<TableHandle>,
    seen: Arc<Table>,
    picker: Picker<R>,
    limits: UdpLimits,
    by_key: HashMap<(ServiceKey, SocketAddr), FlowId>,
    flows: HashMap<FlowId, Flow>,
    by_service: HashMap<ServiceKey, HashSet<FlowId>>,
    next_id: u64,
    timers: BinaryHeap<Reverse<(Nanos, FlowId)>>,
    closed: VecDeque<FlowId>,
}

impl<R: Rng> UdpCore<R> {
    /// A flow table reading services from `table`.
    pub fn new(table: Arc<TableHandle>, limits: UdpLimits, rng: R) -> UdpCore<R> {
        let seen = table.load_full();
        UdpCore {
            table,
            seen,
            picker: Picker::new(rng),
            limits,
            by_key: HashMap::new(),
            flows: HashMap::new(),
            by_service: HashMap::new(),
            next_id: 1,
            timers: BinaryHeap::new(),
            closed: VecDeque::new(),
        }
    }

    /// Flows held.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether no flow is held.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// A datagram of `len` bytes from `client` arrived on `listen`.
    pub fn on_datagram(
        &mut self,
        listen: SocketAddr,
        client: SocketAddr,
        len: usize,
        now: Nanos,
    ) -> Verdict {
        self.sync_table();
        let key = ServiceKey {
            addr: listen,
            protocol: Protocol::Udp,
        };
        let Some(svc) = self.seen.get(&key).cloned() else {
            return Verdict::Drop(DropReason::NoService);
        };
        if let Some(id) = self.by_key.get(&(key, client)).copied()
            && let Some(flow) = self.flows.get_mut(&id)
        {
            flow.last_seen = now;
            flow.stats.datagrams_to_backend.fetch_add(1, Relaxed);
            flow.stats.bytes_to_backend.fetch_add(len as u64, Relaxed);
            return Verdict::Forward {
                flow: id,
                backend: flow.backend,
                created: false,
            };
        }
        if self.flows.len() >= self.limits.max_flows {
            svc.stats.udp_dropped.fetch_add(1, Relaxed);
            return Verdict::Drop(DropReason::TableFull);
        }
        let Some(choice) = self.picker.pick(&svc, client, &[], now) else {
            svc.stats.no_endpoint.fetch_add(1, Relaxed);
            return Verdict::Drop(DropReason::NoEndpoint);
        };
        let id = FlowId(self.next_id);
        self.next_id += 1;
        choice.stats.datagrams_to_backend.fetch_add(1, Relaxed);
        choice.stats.bytes_to_backend.fetch_add(len as u64, Relaxed);
        svc.stats.udp_flows.fetch_add(1, Relaxed);
        let deadline = now.saturating_add(self.limits.flow_timeout);
        self.flows.insert(
            id,
            Flow {
                service: key,
                client,
                backend: choice.addr,
                stats: choice.stats,
                svc_stats: svc.stats.clone(),
                last_seen: now,
                queued: Some(deadline),
            },
        );
        self.by_key.insert((key, client), id);
        self.by_service.entry(key).or_default().insert(id);
        self.timers.push(Reverse((deadline, id)));
        Verdict::Forward {
            flow: id,
            backend: choice.addr,
            created: true,
        }
    }

    /// A reply of `len` bytes came back on `flow`'s backend socket: the client to send it to,
    /// or `None` if the flow is gone (drop it).
    pub fn on_reply(&mut self, flow: FlowId, len: usize, now: Nanos) -> Option<SocketAddr> {
        let f = self.flows.get_mut(&flow)?;
        f.last_seen = now;
        f.stats.bytes_from_backend.fetch_add(len as u64, Relaxed);
        Some(f.client)
    }

    /// The backend of `flow`.
    pub fn backend_of(&self, flow: FlowId) -> Option<SocketAddr> {
        self.flows.get(&flow).map(|f| f.backend)
    }

    fn remove(&mut self, id: FlowId) {
        let Some(f) = self.flows.remove(&id) else {
            return;
        };
        self.by_key.remove(&(f.service, f.client));
        if let Some(set) = self.by_service.get_mut(&f.service) {
            set.remove(&id);
            if set.is_empty() {
                self.by_service.remove(&f.service);
            }
        }
        f.svc_stats.udp_flows.fetch_sub(1, Relaxed);
        self.closed.push_back(id);
    }

    /// Catches up with the shared table: flows of changed services whose backend was deleted
    /// or no longer serves are removed at once. Costs O(flows of changed services) (an O(1)
    /// lookup per flow); a no-op when the table did not change. Called by
    /// [`Self::on_datagram`]; drivers also call it when told the table changed.
    pub fn sync_table(&mut self) {
        let cur = self.table.load_full();
        if cur.generation == self.seen.generation {
            return;
        }
        let mut dead = Vec::new();
        for (key, ids) in &self.by_service {
            let old = self.seen.get(key);
            let new = cur.get(key);
            if let (Some(o), Some(n)) = (old, new)
                && Arc::ptr_eq(o, n)
            {
                continue;
            }
            for id in ids {
                let Some(f) = self.flows.get(id) else {
                    continue;
                };
                let alive = new.is_some_and(|svc| {
                    svc.any_endpoint(f.backend, |e| e.conditions.ready || e.conditions.serving)
                });
                if !alive {
                    dead.push(*id);
                }
            }
        }
        dead.sort();
        for id in dead {
            self.remove(id);
        }
        self.seen = cur;
    }

    /// When [`Self::handle_timeout`] should next be called (may be early, never late).
    pub fn poll_timeout(&self) -> Option<Nanos> {
        self.timers.peek().map(|Reverse((d, _))| *d)
    }

    /// Expires flows idle for the flow timeout.
    pub fn handle_timeout(&mut self, now: Nanos) {
        let timeout = self.limits.flow_timeout;
        while let Some(Reverse((deadline, id))) = self.timers.peek().copied() {
            if deadline > now {
                break;
            }
            self.timers.pop();
            let Some(f) = self.flows.get_mut(&id) else {
                continue;
            };
            if f.queued != Some(deadline) {
                continue;
            }
            let d = f.last_seen.saturating_add(timeout);
            if d <= now {
                self.remove(id);
            } else {
                f.queued = Some(d);
                self.timers.push(Reverse((d, id)));
            }
        }
    }

    /// The next removed flow, whose backend socket the driver must close.
    pub fn poll_closed(&mut self) -> Option<FlowId> {
        self.closed.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::SplitMix64;
    use crate::service::{BalancerKind, Conditions, Endpoint, ServiceSpec};
    use crate::table::Change;

    const LISTEN: &str = "127.0.0.1:5353";

    fn be(n: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, n], 53))
    }

    fn spec(eps: &[(u8, Conditions)]) -> ServiceSpec {
        ServiceSpec {
            name: "dns".into(),
            key: ServiceKey {
                addr: LISTEN.parse().unwrap(),
                protocol: Protocol::Udp,
            },
            balancer: BalancerKind::RoundRobin,
            affinity_timeout: None,
            endpoints: eps
                .iter()
                .map(|(n, c)| Endpoint {
                    addr: be(*n),
                    weight: 1,
                    conditions: *c,
                })
                .collect(),
        }
    }

    fn setup(max_flows: usize) -> (Arc<TableHandle>, UdpCore<SplitMix64>) {
        let t = Arc::new(TableHandle::default());
        t.apply([Change::Upsert(spec(&[
            (1, Conditions::READY),
            (2, Conditions::READY),
        ]))]);
        let limits = UdpLimits {
            max_flows,
            flow_timeout: 10 * SECOND,
        };
        let u = UdpCore::new(t.clone(), limits, SplitMix64(1));
        (t, u)
    }

    fn client(n: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 7], 1000 + n))
    }

    fn fwd(v: Verdict) -> (FlowId, SocketAddr, bool) {
        match v {
            Verdict::Forward {
                flow,
                backend,
                created,
            } => (flow, backend, created),
            Verdict::Drop(r) => panic!("dropped: {r:?}"),
        }
    }

    #[test]
    fn flow_is_sticky_and_replies_route_back() {
        let (t, mut u) = setup(10);
        let (f, b, created) = fwd(u.on_datagram(LISTEN.parse().unwrap(), client(1), 10, 0));
        assert!(created);
        for i in 1..5 {
            let (f2, b2, c2) = fwd(u.on_datagram(LISTEN.parse().unwrap(), client(1), 10, i));
            assert_eq!((f2, b2, c2), (f, b, false));
        }
        assert_eq!(u.on_reply(f, 3, 5), Some(client(1)));
        // A second client is balanced to the other backend (round robin).
        let (_, b2, _) = fwd(u.on_datagram(LISTEN.parse().unwrap(), client(2), 1, 6));
        assert_ne!(b, b2);
        let s = t.metrics().backend("dns", b);
        assert_eq!(s.datagrams_to_backend.load(Relaxed), 5);
        assert_eq!(s.bytes_from_backend.load(Relaxed), 3);
        assert_eq!(t.metrics().service("dns").udp_flows.load(Relaxed), 2);
    }

    #[test]
    fn idle_flows_expire_active_ones_stay() {
        let (_t, mut u) = setup(10);
        let l: SocketAddr = LISTEN.parse().unwrap();
        let (quiet, _, _) = fwd(u.on_datagram(l, client(1), 1, 0));
        let (busy, _, _) = fwd(u.on_datagram(l, client(2), 1, 0));
        u.on_reply(busy, 1, 8 * SECOND);
        assert_eq!(u.poll_timeout(), Some(10 * SECOND));
        u.handle_timeout(10 * SECOND);
        assert_eq!(u.poll_closed(), Some(quiet));
        assert_eq!(u.poll_closed(), None);
        assert_eq!(u.on_reply(quiet, 1, 10 * SECOND), None);
        u.handle_timeout(17 * SECOND);
        assert_eq!(u.poll_closed(), None);
        u.handle_timeout(18 * SECOND);
        assert_eq!(u.poll_closed(), Some(busy));
        assert!(u.is_empty());
        // A new datagram from the expired client opens a new flow.
        let (f, _, created) = fwd(u.on_datagram(l, client(1), 1, 20 * SECOND));
        assert!(created && f != quiet);
    }

    #[test]
    fn flows_to_a_deleted_backend_are_dropped_at_once() {
        let (t, mut u) = setup(10);
        let l: SocketAddr = LISTEN.parse().unwrap();
        let (f1, b1, _) = fwd(u.on_datagram(l, client(1), 1, 0));
        let (f2, b2, _) = fwd(u.on_datagram(l, client(2), 1, 0));
        assert_eq!((b1, b2), (be(1), be(2)));
        // Backend 1 deleted from the service.
        t.apply([Change::Upsert(spec(&[(2, Conditions::READY)]))]);
        u.sync_table();
        assert_eq!(u.poll_closed(), Some(f1));
        assert_eq!(u.poll_closed(), None);
        assert_eq!(u.on_reply(f1, 1, 1), None);
        assert_eq!(u.on_reply(f2, 1, 1), Some(client(2)));
        // The client's next datagram goes to a live backend on a new flow.
        let (f3, b3, created) = fwd(u.on_datagram(l, client(1), 1, 2));
        assert!(created && f3 != f1);
        assert_eq!(b3, be(2));
        // A terminating-but-serving backend keeps its flows; one that stopped serving does not.
        t.apply([Change::Upsert(spec(&[(
            2,
            Conditions::SERVING_TERMINATING,
        )]))]);
        u.sync_table();
        assert_eq!(u.poll_closed(), None);
        t.apply([Change::Upsert(spec(&[(2, Conditions::TERMINATING)]))]);
        u.sync_table();
        let mut closed: Vec<FlowId> = std::iter::from_fn(|| u.poll_closed()).collect();
        closed.sort();
        assert_eq!(closed, vec![f2, f3]);
        // Service deleted: everything goes, datagrams are dropped.
        t.apply([Change::Remove(spec(&[]).key)]);
        assert_eq!(
            u.on_datagram(l, client(1), 1, 3),
            Verdict::Drop(DropReason::NoService)
        );
    }

    #[test]
    fn full_table_drops_new_flows_but_serves_existing() {
        let (t, mut u) = setup(1);
        let l: SocketAddr = LISTEN.parse().unwrap();
        let (f, _, _) = fwd(u.on_datagram(l, client(1), 1, 0));
        assert_eq!(
            u.on_datagram(l, client(2), 1, 0),
            Verdict::Drop(DropReason::TableFull)
        );
        assert_eq!(fwd(u.on_datagram(l, client(1), 1, 0)).0, f);
        assert_eq!(t.metrics().service("dns").udp_dropped.load(Relaxed), 1);
    }
}
