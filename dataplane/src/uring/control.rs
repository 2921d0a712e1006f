//! Services that come and go while the proxy runs: binding a service's sockets (one per
//! thread, SO_REUSEPORT, IP_FREEBIND), the per-thread command queues through which the
//! threads adopt or close them, the acknowledgements [`ProxyHandle::apply`] waits for, and
//! what it reports.
//!
//! The control side (whoever calls `apply`) does every system call that can fail for a
//! reason the caller must hear about — `bind` above all — before a thread is involved; the
//! threads only arm (or cancel) operations on sockets they are handed. A thread takes its
//! commands when its eventfd fires, holding the queue's lock just long enough to swap the
//! vector out: the data path never waits for the control side.

use parking_lot::Mutex;
use socket2::{Domain, Socket, Type};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{LISTEN_BACKLOG, ProxyHandle};
use crate::service::{MaglevJob, Protocol, ServiceKey};
use crate::table::{ApplyOutcome, Change};

/// Builds Maglev tables off the data path and off `apply`'s caller: one thread, started with
/// the first job, taking the latest job per table (earlier ones are dropped unbuilt). The
/// threads serve with the previous table meanwhile (see `TableHandle::apply_deferred`).
#[derive(Debug, Default)]
pub(super) struct MaglevBuilder {
    shared: std::sync::Arc<(Mutex<BuilderState>, parking_lot::Condvar)>,
}

#[derive(Debug, Default)]
struct BuilderState {
    queue: Vec<MaglevJob>,
    busy: bool,
    started: bool,
    stop: bool,
}

impl MaglevBuilder {
    /// Queues `jobs`, replacing queued ones they supersede.
    fn submit(&self, jobs: Vec<MaglevJob>) {
        if jobs.is_empty() {
            return;
        }
        let (lock, cv) = &*self.shared;
        let mut st = lock.lock();
        for j in jobs {
            st.queue.retain(|q| !q.superseded_by(&j));
            st.queue.push(j);
        }
        if !st.started {
            st.started = true;
            let shared = self.shared.clone();
            let spawned = std::thread::Builder::new()
                .name("clipper-maglev".into())
                .spawn(move || Self::work(&shared));
            if spawned.is_err() {
                // No thread: build here, as the table alone would.
                st.started = false;
                let jobs = std::mem::take(&mut st.queue);
                drop(st);
                for j in jobs {
                    j.run();
                }
                cv.notify_all();
                return;
            }
        }
        cv.notify_all();
    }

    fn work(shared: &(Mutex<BuilderState>, parking_lot::Condvar)) {
        let (lock, cv) = shared;
        let mut st = lock.lock();
        loop {
            if st.stop {
                return;
            }
            if st.queue.is_empty() {
                cv.wait(&mut st);
                continue;
            }
            let job = st.queue.remove(0);
            st.busy = true;
            drop(st);
            job.run();
            st = lock.lock();
            st.busy = false;
            cv.notify_all();
        }
    }

    /// Blocks until every queued build has been installed (or `deadline`); returns whether
    /// none is left.
    fn wait_idle(&self, deadline: Instant) -> bool {
        let (lock, cv) = &*self.shared;
        let mut st = lock.lock();
        while !st.queue.is_empty() || st.busy {
            if cv.wait_until(&mut st, deadline).timed_out() {
                return false;
            }
        }
        true
    }
}

impl Drop for MaglevBuilder {
    fn drop(&mut self) {
        let (lock, cv) = &*self.shared;
        lock.lock().stop = true;
        cv.notify_all();
    }
}

/// Longest [`ProxyHandle::apply`] waits for the threads to acknowledge new or closed
/// listeners. A thread answers within one loop iteration (its eventfd wakes it); only a
/// thread that has died or is stuck makes apply wait this long, and then it says so.
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A service that started being served: its name and the address it actually listens on
/// (a requested port 0 resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listening {
    /// The service's name.
    pub name: String,
    /// The bound address and protocol.
    pub key: ServiceKey,
}

/// Why one change of [`ProxyHandle::apply`] was not (fully) carried out. The other changes
/// of the same call are unaffected.
#[derive(Debug)]
pub enum ApplyError {
    /// The service's sockets could not be bound (address in use by another process, no
    /// permission, …). The service was not added to the table.
    Bind {
        /// Service name.
        name: String,
        /// The key as requested.
        key: ServiceKey,
        /// Cause.
        source: io::Error,
    },
    /// A thread did not confirm a listener change (or, with `key` `None`, that it has seen
    /// the new table): it failed to take the socket, has stopped, or did not answer within
    /// [`APPLY_TIMEOUT`]. The other threads carried the change out.
    Thread {
        /// Service name (empty for a table barrier).
        name: String,
        /// The listener concerned, if any.
        key: Option<ServiceKey>,
        /// Thread index.
        thread: usize,
        /// What went wrong.
        reason: String,
    },
    /// A `Remove` of a port-0 key that several served services were requested with; remove
    /// by the bound address instead.
    Ambiguous {
        /// The key as given.
        key: ServiceKey,
    },
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyError::Bind { name, key, source } => {
                write!(f, "service {name}: binding {key}: {source}")
            }
            ApplyError::Thread {
                name,
                key: Some(key),
                thread,
                reason,
            } => write!(
                f,
                "service {name} on {key}: proxy thread {thread}: {reason}"
            ),
            ApplyError::Thread {
                key: None,
                thread,
                reason,
                ..
            } => write!(f, "proxy thread {thread}: {reason}"),
            ApplyError::Ambiguous { key } => write!(
                f,
                "removing {key}: several services were requested on it; remove by bound address"
            ),
        }
    }
}

impl std::error::Error for ApplyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ApplyError::Bind { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// What [`ProxyHandle::apply`] did.
///
/// When `apply` returns, every service in `listening` is served by every thread (each has
/// its socket and an armed accept or receive; the sockets were listening before the table
/// named the service, so no early client was refused), every key in `closed` is no longer
/// listened on by any thread (its sockets are closed; established TCP connections continue),
/// and every thread has seen the new table (UDP flows of removed services or backends are
/// gone) — except where `errors` says otherwise.
#[derive(Debug, Default)]
pub struct ApplyReport {
    /// What the table did (services compiled, unchanged, removed).
    pub table: ApplyOutcome,
    /// Services newly served by this call, with their bound addresses.
    pub listening: Vec<Listening>,
    /// Listeners closed by this call.
    pub closed: Vec<ServiceKey>,
    /// Changes not (fully) carried out; the rest were.
    pub errors: Vec<ApplyError>,
    /// Maglev tables handed to the builder thread: until it has installed them (see
    /// [`ProxyHandle::wait_maglev_builds`]), their services balance with their previous
    /// tables over the new eligible endpoints — endpoints that left or terminate get no new
    /// connections, new ones none yet.
    pub maglev_builds: usize,
}

impl ApplyReport {
    /// Whether every change was carried out.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The bound address of service `name` if this call started serving it.
    pub fn listen_addr(&self, name: &str) -> Option<SocketAddr> {
        self.listening
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.key.addr)
    }
}

/// A thread's answer to one command.
#[derive(Debug)]
pub(super) struct AckMsg {
    thread: usize,
    key: Option<ServiceKey>,
    result: Result<(), String>,
}

/// The way back for one command. Dropping it unanswered tells the waiter the thread
/// stopped.
#[derive(Debug)]
pub(super) struct Ack {
    tx: mpsc::Sender<AckMsg>,
    thread: usize,
    key: Option<ServiceKey>,
}

impl Ack {
    pub(super) fn send(self, result: Result<(), String>) {
        // The waiter may have given up (timeout): nothing to do then.
        let _ = self.tx.send(AckMsg {
            thread: self.thread,
            key: self.key,
            result,
        });
    }
}

/// What a thread is told to do.
#[derive(Debug)]
pub(super) enum Command {
    /// Serve `key` on `sock` (bound and, for TCP, listening).
    Listen {
        key: ServiceKey,
        sock: Socket,
        ack: Ack,
    },
    /// Stop serving `key`: stop accepting or receiving and close the socket.
    Close { key: ServiceKey, ack: Ack },
    /// Catch up with the table (drop UDP flows it no longer allows), then answer.
    Sync { ack: Ack },
}

#[derive(Debug, Default)]
struct QueueState {
    commands: Vec<Command>,
    closed: bool,
}

/// One thread's command queue. Locked only to push or to swap the vector out.
#[derive(Debug, Default)]
pub(super) struct CommandQueue {
    state: Mutex<QueueState>,
}

impl CommandQueue {
    /// Queues `c`; hands it back if the thread has stopped.
    fn push(&self, c: Command) -> Result<(), Command> {
        let mut s = self.state.lock();
        if s.closed {
            return Err(c);
        }
        s.commands.push(c);
        Ok(())
    }

    /// Takes every queued command.
    pub(super) fn take(&self) -> Vec<Command> {
        let mut s = self.state.lock();
        if s.commands.is_empty() {
            return Vec::new();
        }
        std::mem::take(&mut s.commands)
    }

    /// The thread is stopping: refuse new commands and drop queued ones (their waiters see
    /// the acknowledgement channel close).
    pub(super) fn close(&self) {
        let dropped = {
            let mut s = self.state.lock();
            s.closed = true;
            std::mem::take(&mut s.commands)
        };
        drop(dropped);
    }
}

/// Closes the thread's queue when the thread ends, however it ends.
pub(super) struct QueueCloser(pub(super) std::sync::Arc<CommandQueue>);

impl Drop for QueueCloser {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Lets the socket bind an address no local interface has (yet): the service proxy binds
/// ClusterIPs that another component assigns to a dummy interface, possibly later.
fn set_freebind(s: &Socket, addr: SocketAddr) -> io::Result<()> {
    match addr {
        SocketAddr::V4(_) => s.set_freebind_v4(true),
        SocketAddr::V6(_) => s.set_freebind_v6(true),
    }
}

/// A TCP listener on `addr`: SO_REUSEADDR, SO_REUSEPORT (one per thread), IP_FREEBIND.
pub(super) fn tcp_listener(addr: SocketAddr) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    set_freebind(&s, addr)?;
    s.bind(&addr.into())?;
    s.listen(LISTEN_BACKLOG)?;
    Ok(s)
}

/// A UDP socket on `addr`: SO_REUSEADDR, SO_REUSEPORT (one per thread), IP_FREEBIND.
pub(super) fn udp_listener(addr: SocketAddr) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, None)?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    set_freebind(&s, addr)?;
    s.bind(&addr.into())?;
    Ok(s)
}

/// Binds `threads` sockets for `key`. The first resolves a port 0; the others bind the port
/// it got, so every thread serves the same address.
fn bind_all(key: ServiceKey, threads: usize) -> io::Result<(ServiceKey, Vec<Socket>)> {
    let open = |addr| match key.protocol {
        Protocol::Tcp => tcp_listener(addr),
        Protocol::Udp => udp_listener(addr),
    };
    let first = open(key.addr)?;
    let bound = first
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("the bound address is not an IP address"))?;
    let mut socks = Vec::with_capacity(threads);
    socks.push(first);
    for _ in 1..threads {
        socks.push(open(bound)?);
    }
    Ok((
        ServiceKey {
            addr: bound,
            protocol: key.protocol,
        },
        socks,
    ))
}

/// A served listener, as the control side remembers it.
#[derive(Debug)]
pub(super) struct ServedEntry {
    name: String,
    /// The key the service was requested with (port 0 before it was resolved).
    requested: ServiceKey,
}

/// The control side's state: which keys have listeners on the threads. Behind a mutex in
/// [`ProxyHandle`]; `apply` calls are serialised by it.
#[derive(Debug, Default)]
pub(super) struct Control {
    served: BTreeMap<ServiceKey, ServedEntry>,
}

/// The served key an upsert refers to: a port-0 key already resolved for a service of the
/// same name is that service's bound key (so an endpoint update written with the requested
/// key does not bind a second port); anything else is itself.
fn resolve_upsert(
    view: &BTreeMap<ServiceKey, ServedEntry>,
    name: &str,
    key: ServiceKey,
) -> ServiceKey {
    if key.addr.port() != 0 {
        return key;
    }
    view.iter()
        .find(|(_, e)| e.requested == key && e.name == name)
        .map_or(key, |(k, _)| *k)
}

/// The served key a removal refers to: a port-0 key requested by exactly one served service
/// is that service's bound key.
fn resolve_remove(
    view: &BTreeMap<ServiceKey, ServedEntry>,
    key: ServiceKey,
) -> Result<ServiceKey, ApplyError> {
    if key.addr.port() != 0 {
        return Ok(key);
    }
    let mut found = view.iter().filter(|(_, e)| e.requested == key);
    match (found.next(), found.next()) {
        (Some((k, _)), None) => Ok(*k),
        (None, _) => Ok(key),
        (Some(_), Some(_)) => Err(ApplyError::Ambiguous { key }),
    }
}

/// A listener change for one thread, before it becomes a [`Command`].
enum Order {
    Listen(ServiceKey, Socket),
    Close(ServiceKey),
}

/// Failures of one round of commands: (thread, key, reason).
type RoundFailures = Vec<(usize, Option<ServiceKey>, String)>;

impl ProxyHandle {
    /// Applies service changes to the running proxy, listeners included:
    ///
    /// - `Upsert` of a key not served yet binds one socket per thread (SO_REUSEPORT,
    ///   IP_FREEBIND, so the address need not be local yet; a port 0 is resolved once and
    ///   shared), adds the service to the table, and has every thread arm an accept (TCP) or
    ///   a receive (UDP) on its socket. An upsert with a port-0 key that a service of the same
    ///   name was already requested with updates that service.
    /// - `Upsert` of a served key only swaps the table (endpoints, balancer, …).
    /// - `Remove` has every thread stop accepting or receiving on the key and close its
    ///   socket, then takes the service out of the table. Established TCP connections of
    ///   the service keep running until they end (drain); its UDP flows are dropped.
    ///
    /// Blocks until every thread has acknowledged (bounded by [`APPLY_TIMEOUT`]); see
    /// [`ApplyReport`] for what holds on return. A change that fails (bind error, a thread
    /// that does not answer) is reported in [`ApplyReport::errors`] and does not affect the
    /// others. Calls are serialised. A change of endpoints only (no listener to open or
    /// close) does not wait for the threads: it is visible to every new connection at once.
    pub fn apply(&self, changes: impl IntoIterator<Item = Change>) -> ApplyReport {
        let mut ctl = self.control.lock();
        let served = &mut ctl.served;
        let deadline = Instant::now() + APPLY_TIMEOUT;
        let threads = self.queues.len();
        let mut report = ApplyReport::default();
        // `served` becomes the served set as this batch leaves it; these say what it takes
        // to get there: listeners bound in this batch, and served ones to close.
        let mut opened: BTreeMap<ServiceKey, Vec<Socket>> = BTreeMap::new();
        let mut closing: BTreeMap<ServiceKey, ServedEntry> = BTreeMap::new();
        let mut table_changes = Vec::new();
        for change in changes {
            match change {
                Change::Upsert(mut spec) => {
                    let mut key = resolve_upsert(served, &spec.name, spec.key);
                    if let Some(e) = served.get_mut(&key) {
                        e.name.clone_from(&spec.name);
                    } else if let Some(mut e) = closing.remove(&key) {
                        // Removed earlier in this batch, back again: keep the listeners.
                        e.name.clone_from(&spec.name);
                        served.insert(key, e);
                    } else {
                        match bind_all(key, threads) {
                            Ok((bound, socks)) => {
                                let entry = ServedEntry {
                                    name: spec.name.clone(),
                                    requested: spec.key,
                                };
                                served.insert(bound, entry);
                                opened.insert(bound, socks);
                                key = bound;
                            }
                            Err(source) => {
                                self.metrics().record_bind_error();
                                report.errors.push(ApplyError::Bind {
                                    name: spec.name,
                                    key,
                                    source,
                                });
                                continue;
                            }
                        }
                    }
                    spec.key = key;
                    table_changes.push(Change::Upsert(spec));
                }
                Change::Endpoints { key, delta } => {
                    // A key not served is counted by the table as missing.
                    let key = match resolve_remove(served, key) {
                        Ok(k) => k,
                        Err(e) => {
                            report.errors.push(e);
                            continue;
                        }
                    };
                    table_changes.push(Change::Endpoints { key, delta });
                }
                Change::Remove(key) => {
                    let key = match resolve_remove(served, key) {
                        Ok(k) => k,
                        Err(e) => {
                            report.errors.push(e);
                            continue;
                        }
                    };
                    // A listener opened earlier in this batch is just dropped (closed).
                    if let Some(e) = served.remove(&key)
                        && opened.remove(&key).is_none()
                    {
                        closing.insert(key, e);
                    }
                    table_changes.push(Change::Remove(key));
                }
            }
        }

        // 1. Close removed listeners first: connections they accept meanwhile still find
        //    their service in the table.
        if !closing.is_empty() {
            let commands = (0..threads)
                .map(|_| closing.keys().map(|k| Order::Close(*k)).collect())
                .collect();
            let failures = self.round(commands, false, deadline);
            for (key, entry) in &closing {
                let mut ok = true;
                for (thread, _, reason) in failures.iter().filter(|f| f.1 == Some(*key)) {
                    ok = false;
                    report.errors.push(ApplyError::Thread {
                        name: entry.name.clone(),
                        key: Some(*key),
                        thread: *thread,
                        reason: reason.clone(),
                    });
                }
                if ok {
                    report.closed.push(*key);
                }
            }
        }

        // 2. The table: new services are in it before any thread accepts on their sockets
        //    (which already listen, so early clients wait in the backlog).
        //    Maglev tables over changed candidates are built by the builder thread; the
        //    previous tables serve meanwhile.
        let (outcome, jobs) = self.table.apply_deferred(table_changes);
        report.table = outcome;
        report.maglev_builds = jobs.len();
        self.maglev.submit(jobs);

        // 3. New listeners, and a barrier so that every thread has seen the table.
        if opened.is_empty() && closing.is_empty() {
            self.wake_all();
        } else {
            let mut commands: Vec<Vec<Order>> = (0..threads).map(|_| Vec::new()).collect();
            for (key, socks) in &mut opened {
                for (t, sock) in std::mem::take(socks).into_iter().enumerate() {
                    if let Some(c) = commands.get_mut(t) {
                        c.push(Order::Listen(*key, sock));
                    }
                }
            }
            let failures = self.round(commands, true, deadline);
            for key in opened.keys() {
                let Some(entry) = served.get(key) else {
                    continue;
                };
                let mut ok = true;
                for (thread, _, reason) in failures.iter().filter(|f| f.1 == Some(*key)) {
                    ok = false;
                    report.errors.push(ApplyError::Thread {
                        name: entry.name.clone(),
                        key: Some(*key),
                        thread: *thread,
                        reason: reason.clone(),
                    });
                }
                if ok {
                    report.listening.push(Listening {
                        name: entry.name.clone(),
                        key: *key,
                    });
                }
            }
            for (thread, key, reason) in failures.into_iter().filter(|f| f.1.is_none()) {
                report.errors.push(ApplyError::Thread {
                    name: String::new(),
                    key,
                    thread,
                    reason,
                });
            }
        }
        self.metrics().set_listeners(served.len() as u64);
        report
    }

    /// Waits until the Maglev tables of every `apply` so far are built and installed, at
    /// most `timeout`; returns whether they are.
    pub fn wait_maglev_builds(&self, timeout: Duration) -> bool {
        self.maglev.wait_idle(Instant::now() + timeout)
    }

    /// Sends each thread its orders, plus, with `sync`, a table barrier; wakes the threads
    /// and waits (until `deadline`) for every acknowledgement. Returns what failed or was
    /// not acknowledged.
    fn round(&self, per_thread: Vec<Vec<Order>>, sync: bool, deadline: Instant) -> RoundFailures {
        let (tx, rx) = mpsc::channel();
        let mut pending: HashSet<(usize, Option<ServiceKey>)> = HashSet::new();
        let mut failures = RoundFailures::new();
        for (thread, (queue, cmds)) in self.queues.iter().zip(per_thread).enumerate() {
            let ack = |key| Ack {
                tx: tx.clone(),
                thread,
                key,
            };
            let mut list: Vec<Command> = cmds
                .into_iter()
                .map(|order| match order {
                    Order::Listen(key, sock) => Command::Listen {
                        key,
                        sock,
                        ack: ack(Some(key)),
                    },
                    Order::Close(key) => Command::Close {
                        key,
                        ack: ack(Some(key)),
                    },
                })
                .collect();
            if sync {
                list.push(Command::Sync { ack: ack(None) });
            }
            for c in list {
                let key = match &c {
                    Command::Listen { key, .. } | Command::Close { key, .. } => Some(*key),
                    Command::Sync { .. } => None,
                };
                match queue.push(c) {
                    Ok(()) => {
                        pending.insert((thread, key));
                    }
                    Err(_) => failures.push((thread, key, "the thread has stopped".into())),
                }
            }
        }
        drop(tx);
        self.wake_all();
        while !pending.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(msg) => {
                    pending.remove(&(msg.thread, msg.key));
                    if let Err(reason) = msg.result {
                        failures.push((msg.thread, msg.key, reason));
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        for (thread, key) in pending {
            let reason = if self.threads.get(thread).is_none_or(|t| t.is_finished()) {
                "the thread has stopped".to_string()
            } else {
                format!("no answer within {APPLY_TIMEOUT:?}")
            };
            failures.push((thread, key, reason));
        }
        failures
    }

    /// The address service `name` listens on (a requested port 0 resolved), if it is
    /// served. With several services of that name (TCP and UDP), the first by key.
    pub fn listen_addr(&self, name: &str) -> Option<SocketAddr> {
        self.control
            .lock()
            .served
            .iter()
            .find(|(_, e)| e.name == name)
            .map(|(k, _)| k.addr)
    }

    /// Every served service with its bound key, ordered by key.
    pub fn listening(&self) -> Vec<Listening> {
        self.control
            .lock()
            .served
            .iter()
            .map(|(k, e)| Listening {
                name: e.name.clone(),
                key: *k,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str, protocol: Protocol) -> ServiceKey {
        ServiceKey {
            addr: s.parse().unwrap(),
            protocol,
        }
    }

    #[test]
    fn port_zero_keys_resolve_to_the_bound_service() {
        let mut view = BTreeMap::new();
        let req = key("127.0.0.1:0", Protocol::Tcp);
        let bound = key("127.0.0.1:4000", Protocol::Tcp);
        view.insert(
            bound,
            ServedEntry {
                name: "a".into(),
                requested: req,
            },
        );
        assert_eq!(resolve_upsert(&view, "a", req), bound);
        // Another name requesting port 0 gets a port of its own.
        assert_eq!(resolve_upsert(&view, "b", req), req);
        assert_eq!(resolve_remove(&view, req).unwrap(), bound);
        let other = key("127.0.0.1:4001", Protocol::Tcp);
        view.insert(
            other,
            ServedEntry {
                name: "b".into(),
                requested: req,
            },
        );
        assert!(matches!(
            resolve_remove(&view, req),
            Err(ApplyError::Ambiguous { .. })
        ));
        // Fixed ports are themselves.
        assert_eq!(resolve_remove(&view, other).unwrap(), other);
    }

    #[test]
    fn port_zero_is_resolved_once_for_every_thread() {
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            let (bound, socks) = bind_all(key("127.0.0.1:0", protocol), 3).unwrap();
            assert_ne!(bound.addr.port(), 0);
            assert_eq!(socks.len(), 3);
            for s in &socks {
                assert_eq!(s.local_addr().unwrap().as_socket(), Some(bound.addr));
                assert!(s.freebind_v4().unwrap());
                assert!(s.reuse_port().unwrap());
            }
        }
    }

    #[test]
    fn ipv6_listeners_are_freebind_too() {
        if std::net::UdpSocket::bind("[::1]:0").is_err() {
            return; // no IPv6 here
        }
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            let (_, socks) = bind_all(key("[::1]:0", protocol), 2).unwrap();
            for s in &socks {
                assert!(s.freebind_v6().unwrap());
            }
        }
    }

    #[test]
    fn the_handle_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<ProxyHandle>();
    }

    #[test]
    fn closed_queue_hands_commands_back() {
        let q = CommandQueue::default();
        let (tx, rx) = mpsc::channel();
        let ack = Ack {
            tx,
            thread: 0,
            key: None,
        };
        q.push(Command::Sync { ack }).unwrap();
        q.close();
        // The queued command was dropped unanswered: its waiter sees the channel close.
        assert!(matches!(
            rx.recv_timeout(Duration::from_secs(1)),
            Err(mpsc::RecvTimeoutError::Disconnected)
        ));
        let (tx, _rx) = mpsc::channel();
        let ack = Ack {
            tx,
            thread: 0,
            key: None,
        };
        assert!(q.push(Command::Sync { ack }).is_err());
    }
}
