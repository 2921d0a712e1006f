//! The per-core TCP proxy core: one state machine per proxied connection, events in, actions
//! out.
//!
//! A driver calls [`TcpCore::accept`] for each accepted client socket, executes every
//! [`Action`] from [`TcpCore::poll_action`], reports what the kernel did with
//! [`TcpCore::handle`], wakes up at [`TcpCore::poll_timeout`] to call
//! [`TcpCore::handle_timeout`], and calls [`TcpCore::release`] once it has freed the sockets of
//! a connection the core closed. The core owns no socket and reads no clock.
//!
//! Relay discipline: per direction one buffer is in flight. A `Received` of n bytes from one
//! side yields `Send` of those n bytes to the other; only once they are all `Sent` is the next
//! `Recv` issued. This gives backpressure with a bounded buffer per direction, and makes
//! half-close exact: EOF from one side becomes `Shutdown` (FIN) of the other side's write half
//! once everything before it was sent, while the opposite direction keeps flowing.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use crate::balance::Rng;
use crate::metrics::ServiceStats;
use crate::picker::{Choice, Picker};
use crate::service::{Protocol, ServiceKey};
use crate::table::TableHandle;
use crate::{MILLISECOND, Nanos, SECOND};

/// Limits of one core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLimits {
    /// Connections one core holds at once (including ones closing); the excess is refused.
    pub max_connections: usize,
    /// Time allowed for one connect attempt.
    pub connect_timeout: Nanos,
    /// A connection with no byte moving either way for this long is closed.
    pub idle_timeout: Nanos,
    /// Backends tried per connection before giving up (≥ 1).
    pub connect_attempts: u32,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            // 16 Ki connections × 2 × 32 KiB buffers = 1 GiB per core at worst.
            max_connections: 16_384,
            connect_timeout: 5 * SECOND,
            idle_timeout: 3_600 * SECOND,
            connect_attempts: 3,
        }
    }
}

impl TcpLimits {
    /// Limits suited to tests: small and fast.
    pub fn for_tests() -> TcpLimits {
        TcpLimits {
            max_connections: 8,
            connect_timeout: 500 * MILLISECOND,
            idle_timeout: 10 * SECOND,
            connect_attempts: 3,
        }
    }
}

/// Identifies a connection within one core; stale ids (of released connections) are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId {
    index: u32,
    generation: u32,
}

impl ConnId {
    /// Slot index (dense, < `max_connections`); drivers may index their own tables with it.
    pub fn index(self) -> usize {
        self.index as usize
    }

    /// Packs into 64 bits.
    pub fn to_u64(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// Unpacks from [`Self::to_u64`].
    pub fn from_u64(v: u64) -> ConnId {
        ConnId {
            index: v as u32,
            generation: (v >> 32) as u32,
        }
    }
}

/// One end of a proxied connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The accepted client socket.
    Client,
    /// The socket connected to the backend.
    Backend,
}

impl Side {
    /// The other end.
    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Backend,
            Side::Backend => Side::Client,
        }
    }
}

/// Why a connect failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    /// ECONNREFUSED.
    Refused,
    /// The kernel gave up (ETIMEDOUT); the core's own timeout is handled internally.
    TimedOut,
    /// Any other error (unreachable, no route, …).
    Other,
}

/// What the driver reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The backend connect completed.
    Connected,
    /// The backend connect failed.
    ConnectFailed(ConnectError),
    /// A `Recv` completed with `len` bytes (0 = EOF) from `from`.
    Received {
        /// Side read from.
        from: Side,
        /// Bytes read; 0 is end of stream.
        len: usize,
    },
    /// A `Send` to `to` wrote `len` bytes (possibly fewer than asked).
    Sent {
        /// Side written to.
        to: Side,
        /// Bytes written.
        len: usize,
    },
    /// A reset or I/O error on `side`'s socket.
    Error {
        /// Side that failed.
        side: Side,
    },
}

/// What the driver must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Open a socket and connect it to `addr`, dropping any previous backend socket (and
    /// cancelling its pending connect).
    Connect {
        /// Backend address.
        addr: SocketAddr,
        /// Connect from this address (the client's, IP_TRANSPARENT) instead of the node's.
        source: Option<std::net::IpAddr>,
    },
    /// Receive into the buffer of the direction that reads `from`.
    Recv {
        /// Side to read.
        from: Side,
    },
    /// Send the next `len` unsent bytes of the buffer last received from the other side.
    Send {
        /// Side to write.
        to: Side,
        /// Bytes still to send.
        len: usize,
    },
    /// Shut down the write half of `side` (send FIN).
    Shutdown {
        /// Side whose write half to shut.
        side: Side,
    },
    /// Close both sockets gracefully; then `release` the id.
    Close,
    /// Close both sockets abortively (RST: SO_LINGER 0); then `release` the id.
    Reset,
}

/// Why an accepted socket was refused; the driver closes it at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No TCP service listens on that address.
    NoService,
    /// The core holds `max_connections` already.
    Limit,
    /// The service has no usable endpoint.
    NoEndpoint,
}

/// Outcome of [`TcpCore::accept`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// A new connection; its first action (Connect) is queued.
    Conn(ConnId),
    /// Refused; close the client socket.
    Refused(Refusal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting { started: Nanos, deadline: Nanos },
    Open,
    Dead,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Reading,
    Writing { remaining: usize },
    Done,
}

#[derive(Debug)]
struct Conn {
    service: ServiceKey,
    svc_stats: Arc<ServiceStats>,
    client: SocketAddr,
    backend: Choice,
    tried: Vec<SocketAddr>,
    phase: Phase,
    /// Client → backend.
    up: Dir,
    /// Backend → client.
    down: Dir,
    last_activity: Nanos,
    /// Deadline of this connection's live entry in the timer heap.
    queued: Option<Nanos>,
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    conn: Option<Conn>,
}

/// One core's TCP connections.
#[derive(Debug)]
pub struct TcpCore<R> {
    table: Arc<TableHandle>,
    picker: Picker<R>,
    limits: TcpLimits,
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    timers: BinaryHeap<Reverse<(Nanos, u32, u32)>>,
    actions: VecDeque<(ConnId, Action)>,
}

impl<R: Rng> TcpCore<R> {
    /// The table this core reads.
    pub fn table(&self) -> &Arc<TableHandle> {
        &self.table
    }

    /// A core reading services from `table`.
    pub fn new(table: Arc<TableHandle>, limits: TcpLimits, rng: R) -> TcpCore<R> {
        let limits = TcpLimits {
            connect_attempts: limits.connect_attempts.max(1),
            max_connections: limits.max_connections.min(u32::MAX as usize),
            ..limits
        };
        TcpCore {
            table,
            picker: Picker::new(rng),
            limits,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            timers: BinaryHeap::new(),
            actions: VecDeque::new(),
        }
    }

    /// Connections held (open, connecting, or closed but not yet released).
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no connection is held.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The limits in force.
    pub fn limits(&self) -> TcpLimits {
        self.limits
    }

    /// A client connected to `listen` from `client`.
    pub fn accept(&mut self, listen: SocketAddr, client: SocketAddr, now: Nanos) -> Accepted {
        let table = self.table.load();
        let key = ServiceKey {
            addr: listen,
            protocol: Protocol::Tcp,
        };
        let Some(svc) = table.get(&key) else {
            return Accepted::Refused(Refusal::NoService);
        };
        if self.live >= self.limits.max_connections {
            svc.stats.refused_limit.fetch_add(1, Relaxed);
            return Accepted::Refused(Refusal::Limit);
        }
        let Some(choice) = self.picker.pick(svc, client, &[], now) else {
            svc.stats.no_endpoint.fetch_add(1, Relaxed);
            return Accepted::Refused(Refusal::NoEndpoint);
        };
        svc.stats.accepted.fetch_add(1, Relaxed);
        let conn = Conn {
            service: key,
            svc_stats: svc.stats.clone(),
            client,
            backend: choice,
            tried: Vec::new(),
            phase: Phase::Dead,
            up: Dir::Reading,
            down: Dir::Reading,
            last_activity: now,
            queued: None,
        };
        drop(table);
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.conn = Some(conn);
        self.live += 1;
        let id = ConnId {
            index,
            generation: slot.generation,
        };
        self.start_connect(id, now);
        Accepted::Conn(id)
    }

    /// The next action to execute.
    pub fn poll_action(&mut self) -> Option<(ConnId, Action)> {
        self.actions.pop_front()
    }

    /// When [`Self::handle_timeout`] should next be called (may be early, never late).
    pub fn poll_timeout(&self) -> Option<Nanos> {
        self.timers.peek().map(|Reverse((d, _, _))| *d)
    }

    fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        let slot = self.slots.get_mut(id.index())?;
        if slot.generation != id.generation {
            return None;
        }
        slot.conn.as_mut()
    }

    fn arm(&mut self, id: ConnId, deadline: Nanos) {
        let Some(conn) = self.conn_mut(id) else {
            return;
        };
        if conn.queued.is_none_or(|q| deadline < q) {
            conn.queued = Some(deadline);
            self.timers
                .push(Reverse((deadline, id.index, id.generation)));
        }
    }

    fn start_connect(&mut self, id: ConnId, now: Nanos) {
        let deadline = now.saturating_add(self.limits.connect_timeout);
        let Some(conn) = self.conn_mut(id) else {
            return;
        };
        conn.phase = Phase::Connecting {
            started: now,
            deadline,
        };
        let addr = conn.backend.addr;
        let client = conn.client;
        // A loopback client cannot be a source towards another host.
        let source = (client.is_ipv4() == addr.is_ipv4()
            && !client.ip().is_loopback()
            && self.table.load().keeps_source(client.ip(), &addr))
        .then(|| client.ip());
        self.actions
            .push_back((id, Action::Connect { addr, source }));
        self.arm(id, deadline);
    }

    /// Ends the connection with `Close` or `Reset`.
    fn finish(&mut self, id: ConnId, action: Action) {
        let Some(conn) = self.conn_mut(id) else {
            return;
        };
        if conn.phase == Phase::Open {
            conn.backend.stats.active.fetch_sub(1, Relaxed);
        }
        if conn.phase == Phase::Dead {
            return;
        }
        conn.phase = Phase::Dead;
        self.actions.push_back((id, action));
    }

    /// The current backend failed to connect: try another, or give up.
    fn retry(&mut self, id: ConnId, now: Nanos) {
        let attempts = self.limits.connect_attempts as usize;
        let table = self.table.load_full();
        let Some(conn) = self.conn_mut(id) else {
            return;
        };
        conn.backend.stats.connect_errors.fetch_add(1, Relaxed);
        conn.tried.push(conn.backend.addr);
        let next = if conn.tried.len() >= attempts {
            None
        } else {
            let (key, client, tried) = (conn.service, conn.client, conn.tried.clone());
            // Retries use the newest table: the failed backend may be gone already.
            table
                .get(&key)
                .and_then(|svc| self.picker.pick(svc, client, &tried, now))
        };
        let Some(conn) = self.conn_mut(id) else {
            return;
        };
        match next {
            Some(choice) => {
                conn.backend = choice;
                self.start_connect(id, now);
            }
            None => {
                conn.svc_stats.connect_exhausted.fetch_add(1, Relaxed);
                self.finish(id, Action::Reset);
            }
        }
    }

    /// Feeds one event for connection `id`. Events for unknown, stale or closed connections
    /// are ignored; events impossible in the connection's state reset it (never panic).
    pub fn handle(&mut self, id: ConnId, event: Event, now: Nanos) {
        let idle = self.limits.idle_timeout;
        let Some(conn) = self.conn_mut(id) else {
            return;
        };
        match (conn.phase, event) {
            (Phase::Dead, _) => {}
            (_, Event::Error { .. }) => {
                conn.backend.stats.resets.fetch_add(1, Relaxed);
                self.finish(id, Action::Reset);
            }
            (Phase::Connecting { started, .. }, Event::Connected) => {
                let stats = &conn.backend.stats;
                stats.connect_latency.observe(now.saturating_sub(started));
                stats.connections.fetch_add(1, Relaxed);
                stats.active.fetch_add(1, Relaxed);
                conn.phase = Phase::Open;
                conn.last_activity = now;
                self.actions
                    .push_back((id, Action::Recv { from: Side::Client }));
                self.actions.push_back((
                    id,
                    Action::Recv {
                        from: Side::Backend,
                    },
                ));
                self.arm(id, now.saturating_add(idle));
            }
            (Phase::Connecting { .. }, Event::ConnectFailed(_)) => self.retry(id, now),
            (Phase::Open, Event::Received { from, len }) => {
                let dir = match from {
                    Side::Client => &mut conn.up,
                    Side::Backend => &mut conn.down,
                };
                if *dir != Dir::Reading {
                    return self.finish(id, Action::Reset);
                }
                conn.last_activity = now;
                if len == 0 {
                    *dir = Dir::Done;
                    let both = conn.up == Dir::Done && conn.down == Dir::Done;
                    let side = from.other();
                    self.actions.push_back((id, Action::Shutdown { side }));
                    if both {
                        self.finish(id, Action::Close);
                    }
                } else {
                    *dir = Dir::Writing { remaining: len };
                    let counter = match from {
                        Side::Client => &conn.backend.stats.bytes_to_backend,
                        Side::Backend => &conn.backend.stats.bytes_from_backend,
                    };
                    counter.fetch_add(len as u64, Relaxed);
                    let to = from.other();
                    self.actions.push_back((id, Action::Send { to, len }));
                }
            }
            (Phase::Open, Event::Sent { to, len }) => {
                let dir = match to {
                    Side::Backend => &mut conn.up,
                    Side::Client => &mut conn.down,
                };
                let Dir::Writing { remaining } = *dir else {
                    return self.finish(id, Action::Reset);
                };
                if len == 0 || len > remaining {
                    return self.finish(id, Action::Reset);
                }
                conn.last_activity = now;
                let left = remaining - len;
                if left > 0 {
                    *dir = Dir::Writing { remaining: left };
                    self.actions.push_back((id, Action::Send { to, len: left }));
                } else {
                    *dir = Dir::Reading;
                    let from = to.other();
                    self.actions.push_back((id, Action::Recv { from }));
                }
            }
            // Anything else cannot happen with a correct driver: reset rather than guess.
            _ => self.finish(id, Action::Reset),
        }
    }

    /// Fires every deadline ≤ `now`: connect timeouts (retry) and idle timeouts (close).
    pub fn handle_timeout(&mut self, now: Nanos) {
        let idle = self.limits.idle_timeout;
        while let Some(Reverse((deadline, index, generation))) = self.timers.peek().copied() {
            if deadline > now {
                break;
            }
            self.timers.pop();
            let id = ConnId { index, generation };
            let Some(conn) = self.conn_mut(id) else {
                continue;
            };
            if conn.queued != Some(deadline) {
                continue; // superseded by an earlier entry
            }
            conn.queued = None;
            match conn.phase {
                Phase::Dead => {}
                Phase::Connecting { deadline: d, .. } if d <= now => self.retry(id, now),
                Phase::Connecting { deadline: d, .. } => self.arm(id, d),
                Phase::Open => {
                    let d = conn.last_activity.saturating_add(idle);
                    if d <= now {
                        conn.svc_stats.idle_timeouts.fetch_add(1, Relaxed);
                        self.finish(id, Action::Close);
                    } else {
                        self.arm(id, d);
                    }
                }
            }
        }
    }

    /// The driver has freed connection `id`'s sockets and buffers: its slot may be reused.
    /// Releasing a connection the core has not closed ends it too (driver-side failure).
    pub fn release(&mut self, id: ConnId) {
        let Some(slot) = self.slots.get_mut(id.index()) else {
            return;
        };
        if slot.generation != id.generation {
            return;
        }
        let Some(conn) = slot.conn.take() else { return };
        if conn.phase == Phase::Open {
            conn.backend.stats.active.fetch_sub(1, Relaxed);
        }
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        self.live -= 1;
    }

    /// Backend currently chosen for `id`.
    pub fn backend_of(&self, id: ConnId) -> Option<SocketAddr> {
        let slot = self.slots.get(id.index())?;
        (slot.generation == id.generation)
            .then_some(slot.conn.as_ref())
            .flatten()
            .map(|c| c.backend.addr)
    }

    /// Periodic housekeeping (affinity expiry); O(affinity entries).
    pub fn sweep(&mut self, now: Nanos) {
        let table = self.table.load_full();
        self.picker.sweep(&table, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::SplitMix64;
    use crate::service::{BalancerKind, Conditions, Endpoint, ServiceSpec};
    use crate::table::Change;
    use Action::*;
    use Side::*;

    const LISTEN: &str = "127.0.0.1:8080";

    fn be(n: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, n as u8], 9000))
    }

    fn client(n: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], 40_000 + n))
    }

    fn spec(eps: &[(u16, Conditions)]) -> ServiceSpec {
        ServiceSpec {
            name: "web".into(),
            key: ServiceKey {
                addr: LISTEN.parse().unwrap(),
                protocol: Protocol::Tcp,
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

    fn core(eps: &[(u16, Conditions)]) -> (Arc<TableHandle>, TcpCore<SplitMix64>) {
        let t = Arc::new(TableHandle::default());
        t.apply([Change::Upsert(spec(eps))]);
        let c = TcpCore::new(t.clone(), TcpLimits::for_tests(), SplitMix64(1));
        (t, c)
    }

    fn ready(n: u16) -> Vec<(u16, Conditions)> {
        (1..=n).map(|i| (i, Conditions::READY)).collect()
    }

    fn drain(c: &mut TcpCore<SplitMix64>) -> Vec<Action> {
        std::iter::from_fn(|| c.poll_action())
            .map(|(_, a)| a)
            .collect()
    }

    #[test]
    fn transparent_backends_are_reached_from_the_client_address() {
        let (t, mut c) = core(&[(1, Conditions::READY)]);
        let connect = |c: &mut TcpCore<SplitMix64>, n: u16| {
            let Accepted::Conn(_) = c.accept(LISTEN.parse().unwrap(), client(n), 0) else {
                panic!("refused")
            };
            match drain(c)[..] {
                [Connect { addr, source }] => (addr, source),
                ref other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            connect(&mut c, 1),
            (be(1), None),
            "the node's address by default"
        );
        assert!(t.set_transparent([be(1)]));
        assert!(!t.set_transparent([be(1)]), "unchanged");
        assert_eq!(
            connect(&mut c, 2),
            (be(1), Some(client(2).ip())),
            "the client's address for a transparent backend"
        );
        // An IPv6 client cannot keep its address towards an IPv4 backend.
        let Accepted::Conn(_) = c.accept(
            LISTEN.parse().unwrap(),
            "[2001:db8::1]:40000".parse().unwrap(),
            0,
        ) else {
            panic!("refused")
        };
        assert!(matches!(drain(&mut c)[..], [Connect { source: None, .. }]));
        assert!(t.set_transparent([]));
        assert_eq!(connect(&mut c, 3), (be(1), None));
    }

    fn open(c: &mut TcpCore<SplitMix64>, n: u16, now: Nanos) -> (ConnId, SocketAddr) {
        let Accepted::Conn(id) = c.accept(LISTEN.parse().unwrap(), client(n), now) else {
            panic!("refused")
        };
        let acts = drain(c);
        let [Connect { addr, .. }] = acts[..] else {
            panic!("{acts:?}")
        };
        c.handle(id, Event::Connected, now);
        assert_eq!(
            drain(c),
            vec![Recv { from: Client }, Recv { from: Backend }]
        );
        (id, addr)
    }

    fn stats(t: &TableHandle, n: u16) -> Arc<crate::metrics::BackendStats> {
        t.metrics().backend("web", be(n))
    }

    #[test]
    fn relays_both_ways_with_partial_sends() {
        let (t, mut c) = core(&ready(1));
        let (id, addr) = open(&mut c, 1, 0);
        assert_eq!(addr, be(1));
        c.handle(
            id,
            Event::Received {
                from: Client,
                len: 10,
            },
            1,
        );
        assert_eq!(
            drain(&mut c),
            vec![Send {
                to: Backend,
                len: 10
            }]
        );
        c.handle(
            id,
            Event::Sent {
                to: Backend,
                len: 4,
            },
            2,
        );
        assert_eq!(
            drain(&mut c),
            vec![Send {
                to: Backend,
                len: 6
            }]
        );
        c.handle(
            id,
            Event::Sent {
                to: Backend,
                len: 6,
            },
            3,
        );
        assert_eq!(drain(&mut c), vec![Recv { from: Client }]);
        c.handle(
            id,
            Event::Received {
                from: Backend,
                len: 7,
            },
            4,
        );
        assert_eq!(drain(&mut c), vec![Send { to: Client, len: 7 }]);
        c.handle(id, Event::Sent { to: Client, len: 7 }, 5);
        assert_eq!(drain(&mut c), vec![Recv { from: Backend }]);
        let s = stats(&t, 1);
        assert_eq!(s.bytes_to_backend.load(Relaxed), 10);
        assert_eq!(s.bytes_from_backend.load(Relaxed), 7);
        assert_eq!(s.active.load(Relaxed), 1);
        assert_eq!(s.connect_latency.count(), 1);
    }

    #[test]
    fn client_half_close_then_backend_reply_then_backend_close() {
        let (t, mut c) = core(&ready(1));
        let (id, _) = open(&mut c, 1, 0);
        c.handle(
            id,
            Event::Received {
                from: Client,
                len: 0,
            },
            1,
        );
        assert_eq!(drain(&mut c), vec![Shutdown { side: Backend }]);
        // The backend still answers after seeing our FIN.
        c.handle(
            id,
            Event::Received {
                from: Backend,
                len: 5,
            },
            2,
        );
        assert_eq!(drain(&mut c), vec![Send { to: Client, len: 5 }]);
        c.handle(id, Event::Sent { to: Client, len: 5 }, 3);
        assert_eq!(drain(&mut c), vec![Recv { from: Backend }]);
        c.handle(
            id,
            Event::Received {
                from: Backend,
                len: 0,
            },
            4,
        );
        assert_eq!(drain(&mut c), vec![Shutdown { side: Client }, Close]);
        assert_eq!(stats(&t, 1).active.load(Relaxed), 0);
        assert_eq!(c.len(), 1, "held until released");
        c.release(id);
        assert!(c.is_empty());
    }

    #[test]
    fn backend_half_close_keeps_client_direction_open() {
        let (_t, mut c) = core(&ready(1));
        let (id, _) = open(&mut c, 1, 0);
        c.handle(
            id,
            Event::Received {
                from: Backend,
                len: 0,
            },
            1,
        );
        assert_eq!(drain(&mut c), vec![Shutdown { side: Client }]);
        c.handle(
            id,
            Event::Received {
                from: Client,
                len: 3,
            },
            2,
        );
        assert_eq!(
            drain(&mut c),
            vec![Send {
                to: Backend,
                len: 3
            }]
        );
        c.handle(
            id,
            Event::Sent {
                to: Backend,
                len: 3,
            },
            3,
        );
        assert_eq!(drain(&mut c), vec![Recv { from: Client }]);
        c.handle(
            id,
            Event::Received {
                from: Client,
                len: 0,
            },
            4,
        );
        assert_eq!(drain(&mut c), vec![Shutdown { side: Backend }, Close]);
    }

    #[test]
    fn reset_on_either_side_resets_both_and_later_events_are_ignored() {
        for side in [Client, Backend] {
            let (t, mut c) = core(&ready(1));
            let (id, _) = open(&mut c, 1, 0);
            c.handle(id, Event::Error { side }, 1);
            assert_eq!(drain(&mut c), vec![Reset]);
            c.handle(
                id,
                Event::Received {
                    from: Client,
                    len: 9,
                },
                2,
            );
            assert!(drain(&mut c).is_empty());
            assert_eq!(stats(&t, 1).resets.load(Relaxed), 1);
            assert_eq!(stats(&t, 1).active.load(Relaxed), 0);
            c.release(id);
            c.release(id); // double release is harmless
            assert!(c.is_empty());
        }
    }

    #[test]
    fn refused_connect_retries_other_backends_bounded() {
        let (t, mut c) = core(&ready(5));
        let Accepted::Conn(id) = c.accept(LISTEN.parse().unwrap(), client(1), 0) else {
            panic!()
        };
        let mut tried = vec![];
        for _ in 0..3 {
            let acts = drain(&mut c);
            let [Connect { addr, .. }] = acts[..] else {
                panic!("{acts:?}")
            };
            assert!(
                !tried.contains(&addr),
                "a retry picks a backend not yet tried"
            );
            tried.push(addr);
            c.handle(id, Event::ConnectFailed(ConnectError::Refused), 1);
        }
        // Three attempts (the limit), then the client is reset.
        assert_eq!(drain(&mut c), vec![Reset]);
        let errors: u64 = (1..=5)
            .map(|n| stats(&t, n).connect_errors.load(Relaxed))
            .sum();
        assert_eq!(errors, 3);
        assert_eq!(
            t.metrics().service("web").connect_exhausted.load(Relaxed),
            1
        );
    }

    #[test]
    fn refused_connect_then_success_on_next_backend() {
        let (_t, mut c) = core(&ready(2));
        let Accepted::Conn(id) = c.accept(LISTEN.parse().unwrap(), client(1), 0) else {
            panic!()
        };
        let [Connect { addr: first, .. }] = drain(&mut c)[..] else {
            panic!()
        };
        c.handle(id, Event::ConnectFailed(ConnectError::Refused), 1);
        let [Connect { addr: second, .. }] = drain(&mut c)[..] else {
            panic!()
        };
        assert_ne!(first, second);
        c.handle(id, Event::Connected, 2);
        assert_eq!(drain(&mut c).len(), 2);
        assert_eq!(c.backend_of(id), Some(second));
    }

    #[test]
    fn connect_timeout_retries_then_gives_up() {
        let (_t, mut c) = core(&ready(2));
        let to = c.limits().connect_timeout;
        let Accepted::Conn(_) = c.accept(LISTEN.parse().unwrap(), client(1), 0) else {
            panic!()
        };
        let [Connect { addr: a, .. }] = drain(&mut c)[..] else {
            panic!()
        };
        assert_eq!(c.poll_timeout(), Some(to));
        c.handle_timeout(to - 1);
        assert!(drain(&mut c).is_empty());
        c.handle_timeout(to);
        let [Connect { addr: b, .. }] = drain(&mut c)[..] else {
            panic!()
        };
        assert_ne!(a, b);
        c.handle_timeout(2 * to);
        // Both backends tried; no third one exists.
        assert_eq!(drain(&mut c), vec![Reset]);
    }

    #[test]
    fn idle_timeout_closes_only_idle_connections() {
        let (t, mut c) = core(&ready(1));
        let idle = c.limits().idle_timeout;
        let (busy, _) = open(&mut c, 1, 0);
        let (quiet, _) = open(&mut c, 2, 0);
        // Activity on `busy` just before the deadline.
        c.handle(
            busy,
            Event::Received {
                from: Client,
                len: 1,
            },
            idle - 10,
        );
        c.handle(
            busy,
            Event::Sent {
                to: Backend,
                len: 1,
            },
            idle - 5,
        );
        drain(&mut c);
        c.handle_timeout(idle);
        let acts: Vec<_> = std::iter::from_fn(|| c.poll_action()).collect();
        assert_eq!(acts, vec![(quiet, Close)]);
        c.handle_timeout(idle - 5 + idle - 1);
        assert!(drain(&mut c).is_empty());
        c.handle_timeout(2 * idle);
        let acts: Vec<_> = std::iter::from_fn(|| c.poll_action()).collect();
        assert_eq!(acts, vec![(busy, Close)]);
        assert_eq!(t.metrics().service("web").idle_timeouts.load(Relaxed), 2);
    }

    #[test]
    fn connection_limit_refuses_excess_cleanly() {
        let (t, mut c) = core(&ready(2));
        let max = c.limits().max_connections;
        let ids: Vec<ConnId> = (0..max as u16).map(|n| open(&mut c, n, 0).0).collect();
        assert_eq!(
            c.accept(LISTEN.parse().unwrap(), client(999), 0),
            Accepted::Refused(Refusal::Limit)
        );
        assert!(drain(&mut c).is_empty());
        assert_eq!(t.metrics().service("web").refused_limit.load(Relaxed), 1);
        c.handle(ids[0], Event::Error { side: Client }, 1);
        c.release(ids[0]);
        let Accepted::Conn(new) = c.accept(LISTEN.parse().unwrap(), client(1000), 2) else {
            panic!()
        };
        assert_eq!(new.index(), ids[0].index(), "slot reused");
        assert_ne!(new, ids[0], "with a new generation");
        // Events for the old id no longer reach the new connection.
        drain(&mut c);
        c.handle(ids[0], Event::Connected, 3);
        assert!(drain(&mut c).is_empty());
    }

    #[test]
    fn round_robin_spreads_accepts() {
        let (_t, mut c) = core(&ready(3));
        let mut counts = std::collections::HashMap::new();
        for n in 0..6 {
            let (id, addr) = open(&mut c, n, 0);
            *counts.entry(addr).or_insert(0) += 1;
            c.handle(id, Event::Error { side: Client }, 0);
            assert_eq!(drain(&mut c), vec![Reset]);
            c.release(id);
        }
        assert_eq!(counts.len(), 3);
        assert!(counts.values().all(|v| *v == 2));
    }

    #[test]
    fn terminating_endpoint_drains() {
        let (t, mut c) = core(&ready(2));
        // Open connections until one lands on backend 1.
        let (old, addr) = open(&mut c, 0, 0);
        assert_eq!(addr, be(1));
        t.apply([Change::Upsert(spec(&[
            (1, Conditions::TERMINATING),
            (2, Conditions::READY),
        ]))]);
        // New connections all go to backend 2 ...
        for n in 1..5 {
            let (id, addr) = open(&mut c, n, 1);
            assert_eq!(addr, be(2));
            c.handle(id, Event::Error { side: Client }, 1);
            assert_eq!(drain(&mut c), vec![Reset]);
            c.release(id);
        }
        // ... while the old one keeps relaying to backend 1.
        c.handle(
            old,
            Event::Received {
                from: Client,
                len: 4,
            },
            2,
        );
        assert_eq!(
            drain(&mut c),
            vec![Send {
                to: Backend,
                len: 4
            }]
        );
        assert_eq!(c.backend_of(old), Some(be(1)));
        // With no ready endpoint, serving-terminating ones take new connections.
        t.apply([Change::Upsert(spec(&[(
            1,
            Conditions::SERVING_TERMINATING,
        )]))]);
        assert_eq!(open(&mut c, 9, 3).1, be(1));
        // With none serving either, new connections are refused.
        t.apply([Change::Upsert(spec(&[(1, Conditions::TERMINATING)]))]);
        assert_eq!(
            c.accept(LISTEN.parse().unwrap(), client(10), 4),
            Accepted::Refused(Refusal::NoEndpoint)
        );
    }

    #[test]
    fn terminating_endpoint_drains_through_endpoint_deltas() {
        use crate::service::EndpointChange::{Remove, Set};
        let (t, mut c) = core(&ready(2));
        let key = spec(&[]).key;
        let ep = |n: u16, conditions| Endpoint {
            addr: be(n),
            weight: 1,
            conditions,
        };
        let (old, addr) = open(&mut c, 0, 0);
        assert_eq!(addr, be(1));
        // Backend 1 starts terminating, 3 comes: new connections go to 2 and 3 only.
        let out = t.apply([Change::Endpoints {
            key,
            delta: vec![
                Set(ep(1, Conditions::SERVING_TERMINATING)),
                Set(ep(3, Conditions::READY)),
            ],
        }]);
        assert_eq!(out.compiled, 1);
        let mut seen = std::collections::HashSet::new();
        for n in 1..7 {
            let (id, addr) = open(&mut c, n, 1);
            seen.insert(addr);
            c.handle(id, Event::Error { side: Client }, 1);
            assert_eq!(drain(&mut c), vec![Reset]);
            c.release(id);
        }
        assert_eq!(seen, [be(2), be(3)].into_iter().collect());
        // The connection to 1 keeps relaying, even once 1 is removed altogether.
        t.apply([Change::Endpoints {
            key,
            delta: vec![Remove(be(1))],
        }]);
        c.handle(
            old,
            Event::Received {
                from: Backend,
                len: 7,
            },
            2,
        );
        assert_eq!(drain(&mut c), vec![Send { to: Client, len: 7 }]);
        assert_eq!(c.backend_of(old), Some(be(1)));
        // No ready endpoint left: the serving terminating one takes new connections; a
        // terminating one that no longer serves does not.
        t.apply([Change::Endpoints {
            key,
            delta: vec![
                Set(ep(2, Conditions::TERMINATING)),
                Set(ep(3, Conditions::SERVING_TERMINATING)),
            ],
        }]);
        for n in 10..13 {
            let (id, addr) = open(&mut c, n, 3);
            assert_eq!(addr, be(3));
            c.handle(id, Event::Error { side: Client }, 3);
            assert_eq!(drain(&mut c), vec![Reset]);
            c.release(id);
        }
        // A ready endpoint again: it alone takes new connections.
        t.apply([Change::Endpoints {
            key,
            delta: vec![Set(ep(4, Conditions::READY))],
        }]);
        assert_eq!(open(&mut c, 20, 4).1, be(4));
        // A delta for a service the table lacks changes nothing.
        let mut other = key;
        other.addr.set_port(1);
        let out = t.apply([Change::Endpoints {
            key: other,
            delta: vec![Remove(be(4))],
        }]);
        assert_eq!((out.compiled, out.missing), (0, 1));
    }

    #[test]
    fn unknown_service_and_impossible_events() {
        let (_t, mut c) = core(&ready(1));
        assert_eq!(
            c.accept("127.0.0.1:1".parse().unwrap(), client(1), 0),
            Accepted::Refused(Refusal::NoService)
        );
        let (id, _) = open(&mut c, 1, 0);
        // Sent without a pending Send, or more than asked: reset, no panic.
        c.handle(id, Event::Sent { to: Client, len: 3 }, 1);
        assert_eq!(drain(&mut c), vec![Reset]);
        let (id, _) = open(&mut c, 2, 0);
        c.handle(
            id,
            Event::Received {
                from: Client,
                len: 3,
            },
            1,
        );
        c.handle(
            id,
            Event::Sent {
                to: Backend,
                len: 4,
            },
            1,
        );
        assert_eq!(
            drain(&mut c),
            vec![
                Send {
                    to: Backend,
                    len: 3
                },
                Reset
            ]
        );
        let (id, _) = open(&mut c, 3, 0);
        c.handle(
            id,
            Event::Received {
                from: Client,
                len: 3,
            },
            1,
        );
        c.handle(
            id,
            Event::Received {
                from: Client,
                len: 3,
            },
            1,
        );
        assert_eq!(
            drain(&mut c),
            vec![
                Send {
                    to: Backend,
                    len: 3
                },
                Reset
            ]
        );
        c.handle(ConnId::from_u64(u64::MAX), Event::Connected, 1);
        c.release(ConnId::from_u64(u64::MAX));
        assert!(drain(&mut c).is_empty());
    }
}
