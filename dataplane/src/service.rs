//! Service and endpoint types, and a service compiled for lookups: the endpoints eligible for
//! new connections (EndpointSlice condition semantics), per-backend stats and, where needed,
//! a Maglev table.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;

use crate::Nanos;
use crate::balance::Maglev;
use crate::hash::AddrMap;
use crate::metrics::{BackendStats, Metrics, ServiceStats};

/// Transport protocol of a service port (spelled as Kubernetes does).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
pub enum Protocol {
    /// TCP.
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    /// UDP.
    #[serde(rename = "UDP")]
    Udp,
}

/// What the proxy listens on for a service: VIP (or any local address) and port, and protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    /// Listen address.
    pub addr: SocketAddr,
    /// Protocol.
    pub protocol: Protocol,
}

impl std::fmt::Display for ServiceKey {
    /// `127.0.0.1:53/UDP`, `[::1]:80/TCP`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = match self.protocol {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        };
        write!(f, "{}/{p}", self.addr)
    }
}

/// EndpointSlice conditions of one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conditions {
    /// Ready for new traffic (in Kubernetes never true while terminating).
    pub ready: bool,
    /// Passing readiness checks, whether or not terminating.
    pub serving: bool,
    /// Being deleted.
    pub terminating: bool,
}

impl Conditions {
    /// A ready, serving, non-terminating endpoint.
    pub const READY: Conditions = Conditions {
        ready: true,
        serving: true,
        terminating: false,
    };
    /// A terminating endpoint still serving (it receives new connections only when no
    /// endpoint is ready).
    pub const SERVING_TERMINATING: Conditions = Conditions {
        ready: false,
        serving: true,
        terminating: true,
    };
    /// A terminating endpoint no longer serving: it only drains.
    pub const TERMINATING: Conditions = Conditions {
        ready: false,
        serving: false,
        terminating: true,
    };
}

/// One backend of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Backend address.
    pub addr: SocketAddr,
    /// Relative weight; 0 takes the endpoint out of rotation (existing connections continue).
    pub weight: u32,
    /// Conditions.
    pub conditions: Conditions,
}

/// How a service picks a backend for a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BalancerKind {
    /// Smooth weighted round robin, per core.
    #[default]
    RoundRobin,
    /// Least connections by power of two choices (weighted).
    LeastConn,
    /// Maglev consistent hashing of the client address (IP and port).
    Maglev,
}

/// Everything that defines a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Name for metrics (e.g. `namespace/name:port`).
    pub name: String,
    /// Listen address and protocol.
    pub key: ServiceKey,
    /// Balancer.
    pub balancer: BalancerKind,
    /// Session affinity ClientIP with this timeout (Kubernetes defaults to 10,800 s).
    pub affinity_timeout: Option<Nanos>,
    /// Endpoints.
    pub endpoints: Vec<Endpoint>,
}

/// One change to a service's endpoints ([`crate::Change::Endpoints`]), keyed by address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointChange {
    /// Adds the endpoint, or replaces weight and conditions of the one with its address.
    Set(Endpoint),
    /// Removes the endpoint with this address (connections to it continue; a UDP flow to it
    /// is dropped when the driver next sees the table).
    Remove(SocketAddr),
}

/// Which endpoints may take new connections, and which of them are chosen from: the ready
/// ones, or, while none is ready, the serving terminating ones (as kube-proxy does). Weight 0
/// is out of rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Ready,
    ServingTerminating,
}

fn class_of(e: &Endpoint) -> Option<Class> {
    if e.weight == 0 {
        None
    } else if e.conditions.ready && !e.conditions.terminating {
        Some(Class::Ready)
    } else if e.conditions.serving && e.conditions.terminating {
        Some(Class::ServingTerminating)
    } else {
        None
    }
}

/// The endpoints of one [`Class`]: indices into `spec.endpoints` with their weights, in no
/// particular order (a change swaps the last member into a leaver's place: O(1)).
#[derive(Debug, Clone, Default)]
struct Members {
    list: Vec<u32>,
    weights: Vec<u32>,
    /// How many members have each weight (one entry while all weights are equal).
    weight_counts: std::collections::BTreeMap<u32, u32>,
}

impl Members {
    fn push(&mut self, i: u32, w: u32) -> u32 {
        self.list.push(i);
        self.weights.push(w);
        *self.weight_counts.entry(w).or_default() += 1;
        (self.list.len() - 1) as u32
    }

    /// Removes position `p`; returns the endpoint moved into it, if any.
    fn swap_remove(&mut self, p: usize) -> Option<u32> {
        self.list.swap_remove(p);
        let w = self.weights.swap_remove(p);
        if let std::collections::btree_map::Entry::Occupied(mut e) = self.weight_counts.entry(w) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
        self.list.get(p).copied()
    }
}

/// Not a member of any class.
const NO_POS: u32 = u32::MAX;

/// A Maglev table over candidates named by address, and the addresses: any version of the
/// service can use it, mapping a candidate to its own endpoint (or skipping it when it is no
/// longer eligible) — so a version whose table is still being built serves from the
/// previous one.
#[derive(Debug, PartialEq, Eq)]
pub struct MaglevTable {
    /// The table; its candidates index `addrs`.
    pub maglev: Maglev,
    /// The candidates' addresses (ascending).
    pub addrs: Vec<SocketAddr>,
}

/// The Maglev table of a service, shared by all its versions: replaced whole (`arc-swap`)
/// when a build for newer candidates finishes.
#[derive(Debug, Default)]
pub struct MaglevCell {
    table: arc_swap::ArcSwapOption<MaglevTable>,
    /// Builds requested (the latest one's number).
    requested: std::sync::atomic::AtomicU64,
    /// Number of the build whose table is in `table`.
    installed: parking_lot::Mutex<u64>,
}

impl MaglevCell {
    /// Whether the table is that of the latest requested candidates.
    pub fn is_current(&self) -> bool {
        *self.installed.lock() >= self.requested.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// A Maglev build: run it (on any thread) to install the table in its cell, unless a build
/// requested later was installed first.
#[derive(Debug)]
pub struct MaglevJob {
    cell: Arc<MaglevCell>,
    candidates: Vec<(SocketAddr, u32)>,
    seq: u64,
}

impl MaglevJob {
    fn new(cell: &Arc<MaglevCell>, candidates: Vec<(SocketAddr, u32)>) -> MaglevJob {
        let seq = cell
            .requested
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel)
            + 1;
        MaglevJob {
            cell: cell.clone(),
            candidates,
            seq,
        }
    }

    /// Whether `later` is a build for the same cell requested after this one (this one is
    /// then useless).
    pub fn superseded_by(&self, later: &MaglevJob) -> bool {
        Arc::ptr_eq(&self.cell, &later.cell) && later.seq > self.seq
    }

    /// Builds the table and installs it. Returns whether it was installed.
    pub fn run(self) -> bool {
        let table = build_maglev(self.candidates);
        let mut installed = self.cell.installed.lock();
        if self.seq <= *installed {
            return false;
        }
        self.cell.table.store(table.map(Arc::new));
        *installed = self.seq;
        true
    }
}

/// The Maglev table over `candidates` (address, weight), taken in address order whatever the
/// order of the spec, each named by its address's text (the names fix the permutations, which
/// must not change between versions). One buffer holds every name.
fn build_maglev(mut candidates: Vec<(SocketAddr, u32)>) -> Option<MaglevTable> {
    use std::fmt::Write as _;
    candidates.sort_unstable();
    let mut text = String::with_capacity(candidates.len() * 24);
    let mut ends = Vec::with_capacity(candidates.len());
    for (a, _) in &candidates {
        let _ = write!(text, "{a}");
        ends.push(text.len());
    }
    let mut names: Vec<&[u8]> = Vec::with_capacity(ends.len());
    let mut start = 0;
    for end in ends {
        names.push(&text.as_bytes()[start..end]);
        start = end;
    }
    let weights: Vec<u32> = candidates.iter().map(|c| c.1).collect();
    let maglev = Maglev::build(&names, &weights)?;
    Some(MaglevTable {
        maglev,
        addrs: candidates.into_iter().map(|c| c.0).collect(),
    })
}

/// A service compiled for lookups. Immutable; shared by all cores through the table.
#[derive(Debug)]
pub struct Service {
    /// The definition. After an endpoint delta ([`Self::apply_delta`]) its endpoints are in
    /// no particular order.
    pub spec: ServiceSpec,
    /// Ready endpoints (eligible while there is one).
    ready: Members,
    /// Serving terminating endpoints (eligible while no endpoint is ready).
    serving_terminating: Members,
    /// Per endpoint, its position in the members of its class, or [`NO_POS`].
    pos: Vec<u32>,
    /// The Maglev table (for the Maglev balancer and for ClientIP affinity), shared by the
    /// versions of the service.
    maglev: Option<Arc<MaglevCell>>,
    /// Changes whenever the compiled content changes; per-core balancer state keys on it.
    pub generation: u64,
    /// Service stats.
    pub stats: Arc<ServiceStats>,
    /// Per-endpoint stats, same order as `spec.endpoints`.
    backend_stats: Vec<Arc<BackendStats>>,
    /// Address → index of its first listing in `spec.endpoints`.
    index: AddrMap<u32>,
    /// Whether an address is listed more than once (the control loop and the configuration
    /// never do it; a spec may).
    duplicates: bool,
}

impl Service {
    /// Compiles `spec`. New connections go to ready endpoints; when none is ready, to serving
    /// terminating ones (as kube-proxy does); never to endpoints of weight 0. The registry
    /// holds exactly the backends of `spec` for its name afterwards.
    pub fn compile(spec: ServiceSpec, generation: u64, metrics: &Metrics) -> Service {
        Self::compile_from(spec, generation, metrics, None)
    }

    /// [`Self::compile_deferred`], with the Maglev build (if any) run at once: the table is
    /// current on return.
    pub fn compile_from(
        spec: ServiceSpec,
        generation: u64,
        metrics: &Metrics,
        prev: Option<&Service>,
    ) -> Service {
        let mut jobs = Vec::new();
        let s = Self::compile_deferred(spec, generation, metrics, prev, &mut jobs);
        for j in jobs {
            j.run();
        }
        s
    }

    /// Compiles `spec` as the next version of `prev` (the service the table holds for the same
    /// key, if any): what the endpoints that stayed already have is taken over instead of
    /// registered again — their stats (the same objects: counts go on), the service's stats
    /// and the Maglev cell. The registry is changed by the difference only: series of
    /// endpoints that left are dropped, those of new ones added. Costs O(n) cheap steps for n
    /// endpoints (a hash lookup, no lock, no allocation per endpoint) plus O(k log n) for k
    /// changed endpoints. When the Maglev candidates changed, a build is pushed on `jobs`
    /// (the previous table serves meanwhile); a service without a table yet gets one at once.
    /// Falls back to [`Self::compile`]'s registration when `prev` has another name.
    pub fn compile_deferred(
        spec: ServiceSpec,
        generation: u64,
        metrics: &Metrics,
        prev: Option<&Service>,
        jobs: &mut Vec<MaglevJob>,
    ) -> Service {
        let prev = prev.filter(|p| p.spec.name == spec.name);
        let n = spec.endpoints.len();
        let mut index: AddrMap<u32> = AddrMap::with_capacity_and_hasher(n, Default::default());
        let mut duplicates = false;
        for (i, e) in spec.endpoints.iter().enumerate() {
            match index.entry(e.addr) {
                std::collections::hash_map::Entry::Occupied(_) => duplicates = true,
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(i as u32);
                }
            }
        }

        let (stats, backend_stats) = match prev {
            Some(p) => {
                // Whether listing i is the first of its address (all are, without duplicates).
                let first = |i: usize, a: &SocketAddr| !duplicates || index[a] == i as u32;
                let mut backend_stats: Vec<Option<Arc<BackendStats>>> = Vec::with_capacity(n);
                let mut added = Vec::new();
                // Listings of `p` whose address is still listed.
                let mut stayed = vec![false; p.spec.endpoints.len()];
                let mut kept = 0usize;
                for (i, e) in spec.endpoints.iter().enumerate() {
                    match p.index.get(&e.addr) {
                        Some(j) => {
                            let j = *j as usize;
                            if !stayed[j] {
                                stayed[j] = true;
                                kept += 1;
                            }
                            backend_stats.push(Some(p.backend_stats[j].clone()));
                        }
                        None => {
                            if first(i, &e.addr) {
                                added.push(e.addr);
                            }
                            backend_stats.push(None);
                        }
                    }
                }
                // `p.index` names each address by its first listing, so these are the
                // addresses that left (without a lookup when none did).
                let removed: Vec<SocketAddr> = if kept == p.index.len() {
                    Vec::new()
                } else {
                    p.index
                        .iter()
                        .filter(|(_, j)| !stayed[**j as usize])
                        .map(|(a, _)| *a)
                        .collect()
                };
                let fresh = metrics.update_backends(&spec.name, &removed, &added);
                let fresh: AddrMap<Arc<BackendStats>> = added.into_iter().zip(fresh).collect();
                let backend_stats = backend_stats
                    .into_iter()
                    .zip(&spec.endpoints)
                    .map(|(s, e)| s.unwrap_or_else(|| fresh[&e.addr].clone()))
                    .collect();
                (p.stats.clone(), backend_stats)
            }
            None => {
                metrics.sync_backends(&spec.name, spec.endpoints.iter().map(|e| e.addr), &index)
            }
        };

        let mut ready = Members::default();
        let mut serving_terminating = Members::default();
        let mut pos = vec![NO_POS; n];
        for (i, e) in spec.endpoints.iter().enumerate() {
            pos[i] = match class_of(e) {
                Some(Class::Ready) => ready.push(i as u32, e.weight),
                Some(Class::ServingTerminating) => serving_terminating.push(i as u32, e.weight),
                None => NO_POS,
            };
        }
        let mut svc = Service {
            spec,
            ready,
            serving_terminating,
            pos,
            maglev: None,
            generation,
            stats,
            backend_stats,
            index,
            duplicates,
        };
        if svc.uses_maglev() {
            let same = prev.is_some_and(|p| p.maglev.is_some() && svc.same_candidates(p));
            svc.maglev = svc.maglev_from(prev, !same, jobs);
        }
        svc
    }

    /// Whether the service balances with a Maglev table.
    fn uses_maglev(&self) -> bool {
        self.spec.balancer == BalancerKind::Maglev || self.spec.affinity_timeout.is_some()
    }

    /// The eligible candidates as (address, weight).
    fn candidates(&self) -> Vec<(SocketAddr, u32)> {
        self.eligible()
            .iter()
            .zip(self.eligible_weights())
            .map(|(i, w)| (self.spec.endpoints[*i as usize].addr, *w))
            .collect()
    }

    /// Whether the eligible candidates of `self` and `p` are the same addresses with the
    /// same weights (in any order).
    fn same_candidates(&self, p: &Service) -> bool {
        let (a, b) = (self.eligible(), p.eligible());
        a.len() == b.len()
            && a.iter().zip(self.eligible_weights()).all(|(i, w)| {
                let e = &self.spec.endpoints[*i as usize];
                p.eligible_index(e.addr)
                    .is_some_and(|j| p.spec.endpoints[j].weight == *w)
            })
    }

    /// The Maglev cell of this version: `prev`'s, with a build pushed on `jobs` when
    /// `changed`; a new one, built at once, when `prev` has none.
    fn maglev_from(
        &self,
        prev: Option<&Service>,
        changed: bool,
        jobs: &mut Vec<MaglevJob>,
    ) -> Option<Arc<MaglevCell>> {
        match prev.and_then(|p| p.maglev.clone()) {
            Some(cell) => {
                if changed {
                    jobs.push(MaglevJob::new(&cell, self.candidates()));
                }
                Some(cell)
            }
            None => {
                let cell = Arc::new(MaglevCell::default());
                MaglevJob::new(&cell, self.candidates()).run();
                Some(cell)
            }
        }
    }

    /// The next version of this service: `delta` applied to its endpoints, the rest kept.
    /// Work proportional to the change — O(1) per changed endpoint (hash lookups, a swap into
    /// a leaver's place), one registry call for the added and removed ones — plus a flat
    /// copy of this version's per-endpoint arrays (no hashing, no allocation per endpoint).
    /// Terminating endpoints keep their connections (their stats stay); the eligible set
    /// follows the conditions as in [`Self::compile`]. When the Maglev candidates changed, a
    /// build is pushed on `jobs`. A delta naming an absent address to remove is a no-op for
    /// that address.
    pub fn apply_delta(
        &self,
        delta: &[EndpointChange],
        generation: u64,
        metrics: &Metrics,
        jobs: &mut Vec<MaglevJob>,
    ) -> Service {
        if self.duplicates {
            // Rare (only a hand-written spec lists an address twice): by the full spec.
            let mut spec = self.spec.clone();
            for ch in delta {
                match ch {
                    EndpointChange::Set(e) => {
                        let mut found = false;
                        for x in spec.endpoints.iter_mut().filter(|x| x.addr == e.addr) {
                            *x = e.clone();
                            found = true;
                        }
                        if !found {
                            spec.endpoints.push(e.clone());
                        }
                    }
                    EndpointChange::Remove(a) => spec.endpoints.retain(|x| x.addr != *a),
                }
            }
            return Self::compile_deferred(spec, generation, metrics, Some(self), jobs);
        }
        let before = self.eligible_class();
        let mut s = Service {
            spec: self.spec.clone(),
            ready: self.ready.clone(),
            serving_terminating: self.serving_terminating.clone(),
            pos: self.pos.clone(),
            maglev: self.maglev.clone(),
            generation,
            stats: self.stats.clone(),
            backend_stats: self.backend_stats.clone(),
            index: self.index.clone(),
            duplicates: false,
        };
        let mut touched = [false; 2];
        let mut removed = Vec::new();
        let mut added = Vec::new();
        let mut placeholder: Option<Arc<BackendStats>> = None;
        for ch in delta {
            match ch {
                EndpointChange::Set(e) => match s.index.get(&e.addr) {
                    Some(i) => {
                        let i = *i as usize;
                        let old = &s.spec.endpoints[i];
                        let (oc, nc) = (class_of(old), class_of(e));
                        if oc != nc || old.weight != e.weight {
                            s.leave(i, &mut touched);
                            s.spec.endpoints[i] = e.clone();
                            s.join(i, &mut touched);
                        } else {
                            s.spec.endpoints[i] = e.clone();
                        }
                    }
                    None => {
                        let i = s.spec.endpoints.len();
                        s.spec.endpoints.push(e.clone());
                        s.backend_stats.push(
                            placeholder
                                .get_or_insert_with(|| Arc::new(BackendStats::default()))
                                .clone(),
                        );
                        s.pos.push(NO_POS);
                        s.index.insert(e.addr, i as u32);
                        s.join(i, &mut touched);
                        added.push(e.addr);
                    }
                },
                EndpointChange::Remove(a) => {
                    if let Some(i) = s.index.remove(a) {
                        s.leave(i as usize, &mut touched);
                        s.swap_remove_endpoint(i as usize);
                        removed.push(*a);
                    }
                }
            }
        }
        // An address removed and added back in one delta is in both lists: its series is
        // dropped, then registered afresh.
        // Added ones that a later change of the same delta removed again are not registered.
        added.retain(|a| s.index.contains_key(a));
        let fresh = metrics.update_backends(&s.spec.name, &removed, &added);
        for (a, st) in added.iter().zip(fresh) {
            let i = s.index[a] as usize;
            s.backend_stats[i] = st;
        }
        if s.uses_maglev() {
            let after = s.eligible_class();
            let changed = before != after || after.is_some_and(|c| touched[c as usize]);
            s.maglev = s.maglev_from(Some(self), changed, jobs);
        }
        s
    }

    /// The class whose members are eligible, if any.
    fn eligible_class(&self) -> Option<Class> {
        if !self.ready.list.is_empty() {
            Some(Class::Ready)
        } else if !self.serving_terminating.list.is_empty() {
            Some(Class::ServingTerminating)
        } else {
            None
        }
    }

    fn members_mut(&mut self, c: Class) -> &mut Members {
        match c {
            Class::Ready => &mut self.ready,
            Class::ServingTerminating => &mut self.serving_terminating,
        }
    }

    /// Endpoint `i` joins the members of its class.
    fn join(&mut self, i: usize, touched: &mut [bool; 2]) {
        let e = &self.spec.endpoints[i];
        if let Some(c) = class_of(e) {
            let w = e.weight;
            touched[c as usize] = true;
            self.pos[i] = self.members_mut(c).push(i as u32, w);
        }
    }

    /// Endpoint `i` leaves the members of its class.
    fn leave(&mut self, i: usize, touched: &mut [bool; 2]) {
        let p = self.pos[i];
        if p == NO_POS {
            return;
        }
        let Some(c) = class_of(&self.spec.endpoints[i]) else {
            return;
        };
        touched[c as usize] = true;
        if let Some(moved) = self.members_mut(c).swap_remove(p as usize) {
            self.pos[moved as usize] = p;
        }
        self.pos[i] = NO_POS;
    }

    /// Takes endpoint `i` (no longer a member of any class) out, the last one moving into its
    /// place.
    fn swap_remove_endpoint(&mut self, i: usize) {
        let last = self.spec.endpoints.len() - 1;
        self.spec.endpoints.swap_remove(i);
        self.backend_stats.swap_remove(i);
        self.pos.swap_remove(i);
        if i < last {
            let e = &self.spec.endpoints[i];
            self.index.insert(e.addr, i as u32);
            if let Some(c) = class_of(e) {
                let p = self.pos[i] as usize;
                self.members_mut(c).list[p] = i as u32;
            }
        }
    }

    /// Endpoint indices eligible for new connections (in no particular order).
    pub fn eligible(&self) -> &[u32] {
        match self.eligible_class() {
            Some(Class::Ready) => &self.ready.list,
            Some(Class::ServingTerminating) => &self.serving_terminating.list,
            None => &[],
        }
    }

    /// Weights of [`Self::eligible`].
    pub fn eligible_weights(&self) -> &[u32] {
        match self.eligible_class() {
            Some(Class::Ready) => &self.ready.weights,
            Some(Class::ServingTerminating) => &self.serving_terminating.weights,
            None => &[],
        }
    }

    /// Whether every eligible endpoint has the same weight (round robin is then a plain
    /// rotation, O(1) per pick).
    pub fn uniform_weights(&self) -> bool {
        match self.eligible_class() {
            Some(Class::Ready) => self.ready.weight_counts.len() <= 1,
            Some(Class::ServingTerminating) => self.serving_terminating.weight_counts.len() <= 1,
            None => true,
        }
    }

    /// The Maglev table (the latest one built: while a build for new candidates runs, the
    /// previous one), if the service uses one.
    pub fn maglev(&self) -> Option<Arc<MaglevTable>> {
        self.maglev.as_ref().and_then(|c| c.table.load_full())
    }

    /// The Maglev cell, if the service uses one.
    pub fn maglev_cell(&self) -> Option<&Arc<MaglevCell>> {
        self.maglev.as_ref()
    }

    /// The eligible endpoint chosen by the Maglev table for `key_hash`, skipping candidates
    /// that are not eligible in this version or for which `allowed(index)` fails (walking
    /// at most `limit` slots); when the walk finds none, the first allowed eligible endpoint
    /// from a position the hash picks.
    pub fn maglev_pick(
        &self,
        key_hash: u64,
        limit: usize,
        allowed: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let guard = self.maglev.as_ref().map(|c| c.table.load());
        if let Some(t) = guard.as_ref().and_then(|g| (**g).as_ref()) {
            let ok = |c: usize| self.eligible_index(t.addrs[c]).filter(|i| allowed(*i));
            if let Some(c) = t
                .maglev
                .lookup_allowed(key_hash, limit, |c| ok(c).is_some())
            {
                return ok(c);
            }
        }
        let el = self.eligible();
        if el.is_empty() {
            return None;
        }
        let start = (key_hash % el.len() as u64) as usize;
        (0..el.len())
            .map(|k| el[(start + k) % el.len()] as usize)
            .find(|i| allowed(*i))
    }

    /// Endpoint `i`.
    pub fn endpoint(&self, i: usize) -> Option<&Endpoint> {
        self.spec.endpoints.get(i)
    }

    /// Stats of endpoint `i`.
    pub fn backend_stats(&self, i: usize) -> Option<&Arc<BackendStats>> {
        self.backend_stats.get(i)
    }

    /// Index of the (first) endpoint with address `addr`. O(1).
    pub fn endpoint_index(&self, addr: SocketAddr) -> Option<usize> {
        self.index.get(&addr).map(|i| *i as usize)
    }

    /// Whether an endpoint with address `addr` is listed and satisfies `f`. O(1) unless the
    /// spec lists an address twice.
    pub fn any_endpoint(&self, addr: SocketAddr, f: impl Fn(&Endpoint) -> bool) -> bool {
        if self.duplicates {
            return self.spec.endpoints.iter().any(|e| e.addr == addr && f(e));
        }
        self.endpoint_index(addr)
            .is_some_and(|i| f(&self.spec.endpoints[i]))
    }

    /// The index of an eligible listing of `addr`, if any. O(1) unless the spec lists an
    /// address twice.
    pub fn eligible_index(&self, addr: SocketAddr) -> Option<usize> {
        if self.duplicates {
            return self
                .eligible()
                .iter()
                .map(|i| *i as usize)
                .find(|i| self.spec.endpoints[*i].addr == addr);
        }
        let i = *self.index.get(&addr)? as usize;
        (self.pos[i] != NO_POS && class_of(&self.spec.endpoints[i]) == self.eligible_class())
            .then_some(i)
    }

    /// Whether `addr` is eligible for new connections.
    pub fn is_eligible(&self, addr: SocketAddr) -> bool {
        self.eligible_index(addr).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(port: u16, c: Conditions) -> Endpoint {
        Endpoint {
            addr: SocketAddr::from(([10, 0, 0, 1], port)),
            weight: 1,
            conditions: c,
        }
    }

    fn spec(endpoints: Vec<Endpoint>) -> ServiceSpec {
        ServiceSpec {
            name: "s".into(),
            key: ServiceKey {
                addr: "127.0.0.1:80".parse().unwrap(),
                protocol: Protocol::Tcp,
            },
            balancer: BalancerKind::RoundRobin,
            affinity_timeout: None,
            endpoints,
        }
    }

    #[test]
    fn ready_endpoints_win_over_terminating() {
        let m = Metrics::default();
        let s = Service::compile(
            spec(vec![
                ep(1, Conditions::SERVING_TERMINATING),
                ep(2, Conditions::READY),
                ep(3, Conditions::TERMINATING),
            ]),
            1,
            &m,
        );
        assert_eq!(s.eligible(), &[1]);
    }

    #[test]
    fn serving_terminating_used_when_nothing_ready() {
        let m = Metrics::default();
        let s = Service::compile(
            spec(vec![
                ep(1, Conditions::SERVING_TERMINATING),
                ep(2, Conditions::TERMINATING),
                ep(3, Conditions::SERVING_TERMINATING),
            ]),
            1,
            &m,
        );
        assert_eq!(s.eligible(), &[0, 2]);
        let s = Service::compile(spec(vec![ep(2, Conditions::TERMINATING)]), 1, &m);
        assert!(s.eligible().is_empty());
    }

    #[test]
    fn weight_zero_is_out_of_rotation() {
        let m = Metrics::default();
        let mut e = ep(1, Conditions::READY);
        e.weight = 0;
        let s = Service::compile(spec(vec![e, ep(2, Conditions::READY)]), 1, &m);
        assert_eq!(s.eligible(), &[1]);
    }

    fn counts(s: &Service, i: usize) -> u64 {
        s.backend_stats(i)
            .unwrap()
            .connections
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    #[test]
    fn an_update_keeps_the_stats_of_endpoints_that_stayed() {
        let m = Metrics::default();
        let a = Service::compile(
            spec((1..=5).map(|p| ep(p, Conditions::READY)).collect()),
            1,
            &m,
        );
        for i in 0..5 {
            a.backend_stats(i)
                .unwrap()
                .connections
                .fetch_add(10 + i as u64, std::sync::atomic::Ordering::Relaxed);
        }
        // 1 leaves, 3 starts terminating, 6 and 7 come; the order changes too.
        let b = Service::compile_from(
            spec(vec![
                ep(7, Conditions::READY),
                ep(5, Conditions::READY),
                ep(3, Conditions::SERVING_TERMINATING),
                ep(2, Conditions::READY),
                ep(6, Conditions::READY),
                ep(4, Conditions::READY),
            ]),
            2,
            &m,
            Some(&a),
        );
        assert!(Arc::ptr_eq(&a.stats, &b.stats));
        for (port, old) in [(2, 1), (3, 2), (4, 3), (5, 4)] {
            let i = b
                .endpoint_index(SocketAddr::from(([10, 0, 0, 1], port)))
                .unwrap();
            assert!(
                Arc::ptr_eq(a.backend_stats(old).unwrap(), b.backend_stats(i).unwrap()),
                "backend {port} keeps its stats object"
            );
            assert_eq!(counts(&b, i), 10 + old as u64);
            // And it is the registry's.
            assert!(Arc::ptr_eq(
                &m.backend("s", SocketAddr::from(([10, 0, 0, 1], port))),
                b.backend_stats(i).unwrap()
            ));
        }
        assert_eq!(
            (counts(&b, 0), counts(&b, 4)),
            (0, 0),
            "new backends start at 0"
        );
        assert!(Arc::ptr_eq(
            &m.backend("s", SocketAddr::from(([10, 0, 0, 1], 7))),
            b.backend_stats(0).unwrap()
        ));
        // The series of the backend that left is gone; the others are there.
        assert_eq!(m.backend_count("s"), 6);
        let text = m.render_prometheus();
        assert!(!text.contains("backend=\"10.0.0.1:1\""));
        assert!(text.contains("backend=\"10.0.0.1:7\""));
        assert_eq!(b.eligible(), &[0, 1, 3, 4, 5]);
        assert!(!b.is_eligible(SocketAddr::from(([10, 0, 0, 1], 3))));
        assert!(b.is_eligible(SocketAddr::from(([10, 0, 0, 1], 6))));
        assert_eq!(b.endpoint_index(SocketAddr::from(([10, 0, 0, 1], 1))), None);
        // A backend that left and comes back starts afresh, as before.
        let c = Service::compile_from(
            spec(vec![ep(1, Conditions::READY), ep(2, Conditions::READY)]),
            3,
            &m,
            Some(&b),
        );
        assert_eq!((counts(&c, 0), counts(&c, 1)), (0, 11));
        assert_eq!(m.backend_count("s"), 2);
    }

    #[test]
    fn an_update_under_another_name_registers_afresh() {
        let m = Metrics::default();
        let a = Service::compile(spec(vec![ep(1, Conditions::READY)]), 1, &m);
        a.backend_stats(0)
            .unwrap()
            .connections
            .fetch_add(3, std::sync::atomic::Ordering::Relaxed);
        let mut renamed = spec(vec![ep(1, Conditions::READY)]);
        renamed.name = "t".into();
        let b = Service::compile_from(renamed, 2, &m, Some(&a));
        assert!(!Arc::ptr_eq(
            a.backend_stats(0).unwrap(),
            b.backend_stats(0).unwrap()
        ));
        assert_eq!(counts(&b, 0), 0);
        assert_eq!(m.backend_count("t"), 1);
    }

    #[test]
    fn duplicate_addresses_share_stats_and_lookups_see_every_listing() {
        let m = Metrics::default();
        let mut second = ep(1, Conditions::READY);
        second.weight = 2;
        let a = Service::compile(
            spec(vec![
                ep(1, Conditions::TERMINATING),
                second,
                ep(2, Conditions::READY),
            ]),
            1,
            &m,
        );
        assert!(Arc::ptr_eq(
            a.backend_stats(0).unwrap(),
            a.backend_stats(1).unwrap()
        ));
        assert_eq!(
            a.endpoint_index(SocketAddr::from(([10, 0, 0, 1], 1))),
            Some(0)
        );
        assert!(a.is_eligible(SocketAddr::from(([10, 0, 0, 1], 1))));
        assert!(a.any_endpoint(SocketAddr::from(([10, 0, 0, 1], 1)), |e| e.conditions.ready));
        let b = Service::compile_from(
            spec(vec![
                ep(2, Conditions::READY),
                ep(1, Conditions::READY),
                ep(1, Conditions::READY),
            ]),
            2,
            &m,
            Some(&a),
        );
        assert!(Arc::ptr_eq(
            a.backend_stats(0).unwrap(),
            b.backend_stats(1).unwrap()
        ));
        assert!(Arc::ptr_eq(
            b.backend_stats(1).unwrap(),
            b.backend_stats(2).unwrap()
        ));
        assert_eq!(m.backend_count("s"), 2);
    }

    #[test]
    fn maglev_table_is_kept_while_its_candidates_stay() {
        let m = Metrics::default();
        let mut sp = spec((1..=20).map(|p| ep(p, Conditions::READY)).collect());
        sp.affinity_timeout = Some(crate::SECOND);
        let a = Service::compile(sp.clone(), 1, &m);
        let ta = a.maglev().expect("a table");
        // A terminating endpoint comes and goes: the candidates are the same.
        sp.endpoints.push(ep(30, Conditions::SERVING_TERMINATING));
        let b = Service::compile_from(sp.clone(), 2, &m, Some(&a));
        assert!(Arc::ptr_eq(&ta, &b.maglev().unwrap()));
        let mut jobs = Vec::new();
        let b2 = b.apply_delta(
            &[EndpointChange::Set(ep(31, Conditions::TERMINATING))],
            3,
            &m,
            &mut jobs,
        );
        assert!(jobs.is_empty(), "no build when the candidates stay");
        assert!(b2.maglev_cell().unwrap().is_current());
        // A candidate leaves: a new table, equal to one built from scratch.
        sp.endpoints.remove(3);
        let c = Service::compile_from(sp.clone(), 3, &m, Some(&b));
        assert!(!Arc::ptr_eq(&ta, &c.maglev().unwrap()));
        let fresh = Service::compile(sp, 4, &Metrics::default());
        assert_eq!(c.maglev(), fresh.maglev());
        // Round robin services have no table at all.
        let rr = Service::compile(spec(vec![ep(1, Conditions::READY)]), 5, &m);
        assert!(rr.maglev().is_none());
    }

    /// Random deltas applied one after another against a compile from scratch of the spec
    /// they lead to: the same eligible endpoints (as a set), weights, lookups and — once the
    /// build has run — Maglev table; stats of endpoints that stayed kept; the registry holding
    /// exactly the listed backends.
    #[test]
    fn deltas_match_compiles_from_scratch() {
        use crate::balance::{Rng, SplitMix64, below};
        let m = Metrics::default();
        let mut rng = SplitMix64(11);
        let conds = [
            Conditions::READY,
            Conditions::SERVING_TERMINATING,
            Conditions::TERMINATING,
        ];
        let mut sp = spec((1..=150).map(|p| ep(p, Conditions::READY)).collect());
        sp.affinity_timeout = Some(crate::SECOND);
        let mut cur = Service::compile(sp.clone(), 1, &m);
        let mut next_port = 1_000u16;
        for round in 0..80u64 {
            let mut delta = Vec::new();
            let listed: Vec<SocketAddr> = cur.spec.endpoints.iter().map(|e| e.addr).collect();
            for _ in 0..below(&mut rng, 12) {
                if !listed.is_empty() {
                    delta.push(EndpointChange::Remove(
                        listed[below(&mut rng, listed.len())],
                    ));
                }
            }
            for _ in 0..below(&mut rng, 12) {
                if !listed.is_empty() {
                    let mut e = ep(0, conds[below(&mut rng, 3)]);
                    e.addr = listed[below(&mut rng, listed.len())];
                    e.weight = if round % 7 == 3 {
                        (rng.next_u64() % 3) as u32
                    } else {
                        1
                    };
                    delta.push(EndpointChange::Set(e));
                }
            }
            for _ in 0..below(&mut rng, 12) {
                delta.push(EndpointChange::Set(ep(
                    next_port,
                    conds[below(&mut rng, 3)],
                )));
                next_port += 1;
            }
            // Removing an address absent from the service is a no-op.
            delta.push(EndpointChange::Remove(SocketAddr::from(([10, 9, 9, 9], 1))));
            // Now and then nothing ready: serving terminating ones take over.
            if round % 10 == 9 {
                for e in &cur.spec.endpoints {
                    if e.conditions == Conditions::READY {
                        let mut t = e.clone();
                        t.conditions = Conditions::SERVING_TERMINATING;
                        delta.push(EndpointChange::Set(t));
                    }
                }
            }
            let mut jobs = Vec::new();
            let next = cur.apply_delta(&delta, round + 2, &m, &mut jobs);
            // The expected spec: the delta applied in order to the endpoint list.
            for ch in &delta {
                match ch {
                    EndpointChange::Set(e) => {
                        match sp.endpoints.iter_mut().find(|x| x.addr == e.addr) {
                            Some(x) => *x = e.clone(),
                            None => sp.endpoints.push(e.clone()),
                        }
                    }
                    EndpointChange::Remove(a) => sp.endpoints.retain(|x| x.addr != *a),
                }
            }
            let fresh = Service::compile(sp.clone(), 0, &Metrics::default());
            let set = |s: &Service| {
                let mut v: Vec<(SocketAddr, u32)> = s
                    .eligible()
                    .iter()
                    .zip(s.eligible_weights())
                    .map(|(i, w)| (s.spec.endpoints[*i as usize].addr, *w))
                    .collect();
                v.sort();
                v
            };
            assert_eq!(set(&next), set(&fresh), "round {round}");
            assert_eq!(next.uniform_weights(), fresh.uniform_weights());
            assert_eq!(next.spec.endpoints.len(), sp.endpoints.len());
            assert_eq!(m.backend_count("s"), sp.endpoints.len());
            for e in &sp.endpoints {
                let i = next.endpoint_index(e.addr).expect("listed");
                assert_eq!(&next.spec.endpoints[i], e);
                assert_eq!(next.is_eligible(e.addr), fresh.is_eligible(e.addr));
                assert!(Arc::ptr_eq(
                    &m.backend("s", e.addr),
                    next.backend_stats(i).unwrap()
                ));
                if let Some(j) = cur.endpoint_index(e.addr)
                    && !delta.contains(&EndpointChange::Remove(e.addr))
                {
                    assert!(Arc::ptr_eq(
                        cur.backend_stats(j).unwrap(),
                        next.backend_stats(i).unwrap()
                    ));
                }
            }
            // Until the build runs, the table is the previous one; then it is the fresh one.
            for j in jobs {
                j.run();
            }
            assert!(next.maglev_cell().unwrap().is_current());
            assert_eq!(next.maglev(), fresh.maglev(), "round {round}");
            cur = next;
        }
    }

    /// A delta's Maglev build deferred: the previous table keeps serving, without the
    /// endpoints that left or terminate and without the new one; once the build is in, the
    /// new endpoint takes its share and clients of the endpoints that stayed mostly stay
    /// (Maglev's minimal disruption).
    #[test]
    fn a_deferred_maglev_build_serves_from_the_previous_table() {
        let m = Metrics::default();
        let mut sp = spec((1..=100).map(|p| ep(p, Conditions::READY)).collect());
        sp.affinity_timeout = Some(crate::SECOND);
        let a = Service::compile(sp, 1, &m);
        let keys: Vec<u64> = (0..20_000u64).map(crate::hash::mix64).collect();
        let pick =
            |s: &Service, k: u64| s.spec.endpoints[s.maglev_pick(k, 1_024, |_| true).unwrap()].addr;
        let before: Vec<SocketAddr> = keys.iter().map(|k| pick(&a, *k)).collect();
        let gone = SocketAddr::from(([10, 0, 0, 1], 7));
        let draining = SocketAddr::from(([10, 0, 0, 1], 8));
        let new = SocketAddr::from(([10, 0, 0, 1], 500));
        let mut jobs = Vec::new();
        let b = a.apply_delta(
            &[
                EndpointChange::Remove(gone),
                EndpointChange::Set(Endpoint {
                    addr: draining,
                    weight: 1,
                    conditions: Conditions::SERVING_TERMINATING,
                }),
                EndpointChange::Set(ep(500, Conditions::READY)),
            ],
            2,
            &m,
            &mut jobs,
        );
        assert_eq!(jobs.len(), 1);
        assert!(!b.maglev_cell().unwrap().is_current());
        let mid: Vec<SocketAddr> = keys.iter().map(|k| pick(&b, *k)).collect();
        for (x, y) in before.iter().zip(&mid) {
            assert!(*y != gone && *y != draining && *y != new);
            if *x != gone && *x != draining {
                assert_eq!(x, y, "clients of endpoints that stayed keep them");
            }
        }
        for j in jobs {
            assert!(j.run());
        }
        let after: Vec<SocketAddr> = keys.iter().map(|k| pick(&b, *k)).collect();
        let to_new = after.iter().filter(|x| **x == new).count();
        assert!(
            to_new > 100 && to_new < 300,
            "{to_new} of 20,000 to the new endpoint"
        );
        // Moved although their endpoint stayed and was not the new one's gain.
        let moved = before
            .iter()
            .zip(&after)
            .filter(|(x, y)| **x != gone && **x != draining && x != y && **y != new)
            .count();
        assert!(moved <= keys.len() * 3 / 100, "{moved} moved");
        // The old version, still held by a reader, uses the new table without the new
        // endpoint (not in its eligible set).
        assert!(keys.iter().all(|k| pick(&a, *k) != new));
    }

    /// Many partial updates, each compiled from the previous version, against a compile from
    /// scratch of the same spec: the same eligible set, weights, lookups and Maglev table, and
    /// the registry holding exactly the listed backends.
    #[test]
    fn incremental_compiles_match_compiles_from_scratch() {
        use crate::balance::{Rng, SplitMix64, below};
        let m = Metrics::default();
        let mut rng = SplitMix64(7);
        let conds = [
            Conditions::READY,
            Conditions::SERVING_TERMINATING,
            Conditions::TERMINATING,
        ];
        let mut sp = spec((1..=200).map(|p| ep(p, Conditions::READY)).collect());
        sp.affinity_timeout = Some(crate::SECOND);
        let mut cur = Service::compile(sp.clone(), 1, &m);
        let mut next_port = 1_000u16;
        for round in 0..60u64 {
            // Remove some, change the conditions or weight of some, add some.
            for _ in 0..below(&mut rng, 20) {
                if !sp.endpoints.is_empty() {
                    let i = below(&mut rng, sp.endpoints.len());
                    sp.endpoints.remove(i);
                }
            }
            for _ in 0..below(&mut rng, 20) {
                if !sp.endpoints.is_empty() {
                    let i = below(&mut rng, sp.endpoints.len());
                    let e = &mut sp.endpoints[i];
                    e.conditions = conds[below(&mut rng, 3)];
                    e.weight = (rng.next_u64() % 3) as u32;
                }
            }
            for _ in 0..below(&mut rng, 20) {
                let at = below(&mut rng, sp.endpoints.len() + 1);
                sp.endpoints
                    .insert(at, ep(next_port, conds[below(&mut rng, 3)]));
                next_port += 1;
            }
            // Now and then nothing ready: serving terminating ones take over.
            if round % 10 == 9 {
                for e in &mut sp.endpoints {
                    if e.conditions == Conditions::READY {
                        e.conditions = Conditions::SERVING_TERMINATING;
                    }
                }
            }
            let next = Service::compile_from(sp.clone(), round + 2, &m, Some(&cur));
            let fresh = Service::compile(sp.clone(), 0, &Metrics::default());
            assert_eq!(next.eligible(), fresh.eligible(), "round {round}");
            assert_eq!(next.eligible_weights(), fresh.eligible_weights());
            assert_eq!(next.maglev(), fresh.maglev(), "round {round}");
            assert_eq!(m.backend_count("s"), sp.endpoints.len());
            for (i, e) in sp.endpoints.iter().enumerate() {
                assert_eq!(next.endpoint_index(e.addr), Some(i));
                assert_eq!(
                    next.is_eligible(e.addr),
                    fresh.eligible().contains(&(i as u32))
                );
                assert!(Arc::ptr_eq(
                    &m.backend("s", e.addr),
                    next.backend_stats(i).unwrap()
                ));
                if let Some(j) = cur.endpoint_index(e.addr) {
                    assert!(Arc::ptr_eq(
                        cur.backend_stats(j).unwrap(),
                        next.backend_stats(i).unwrap()
                    ));
                }
            }
            cur = next;
        }
    }
}
