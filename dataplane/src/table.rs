//! The service table and its atomic replacement.
//!
//! Readers (one per core) `load()` the current [`Table`] without locking; a writer builds the
//! next table from the current one and swaps it in with [`arc_swap`]. The map is a persistent
//! hash map ([`imbl`]), so a change touching k services costs O(k log n) plus the compile of
//! those k services — never a rebuild of the whole table.

use arc_swap::{ArcSwap, Guard};
use parking_lot::Mutex;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::metrics::Metrics;
use crate::service::{EndpointChange, MaglevJob, Service, ServiceKey, ServiceSpec};

/// An immutable snapshot of all services.
#[derive(Debug, Clone, Default)]
pub struct Table {
    services: imbl::HashMap<ServiceKey, Arc<Service>>,
    /// Backends reached from the client's own address (IP_TRANSPARENT) rather than the
    /// node's: endpoints whose replies route back through this node.
    transparent: imbl::HashSet<SocketAddr>,
    /// This node's pod networks (address, prefix length). A client in the same one as
    /// its backend is on the backend's own bridge: the backend would answer it directly,
    /// bypassing the proxy, so such connections use the node's address.
    local_networks: Vec<(IpAddr, u8)>,
    /// Bumped by every swap that changed something.
    pub generation: u64,
}

/// Whether `ip` is in the network `(base, prefix)` (same family only).
fn in_network(ip: IpAddr, (base, prefix): (IpAddr, u8)) -> bool {
    match (ip, base) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let bits = u32::from(prefix.min(32));
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let bits = u32::from(prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

impl Table {
    /// Whether connections to `backend` keep the client's source address.
    pub fn is_transparent(&self, backend: &SocketAddr) -> bool {
        !self.transparent.is_empty() && self.transparent.contains(backend)
    }

    /// Whether a connection from `client` to `backend` keeps the client's address: the
    /// backend is transparent and the client is not on its pod network (hairpin).
    pub fn keeps_source(&self, client: IpAddr, backend: &SocketAddr) -> bool {
        self.is_transparent(backend)
            && !self
                .local_networks
                .iter()
                .any(|n| in_network(client, *n) && in_network(backend.ip(), *n))
    }

    /// The service listening on `key`.
    pub fn get(&self, key: &ServiceKey) -> Option<&Arc<Service>> {
        self.services.get(key)
    }

    /// Number of services.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// Whether there is no service.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// All services.
    pub fn iter(&self) -> impl Iterator<Item = (&ServiceKey, &Arc<Service>)> {
        self.services.iter()
    }
}

/// One change to the table.
#[derive(Debug, Clone)]
pub enum Change {
    /// Adds or replaces a service (with its full endpoint list).
    Upsert(ServiceSpec),
    /// Changes some endpoints of a service in the table, the others staying as they are:
    /// work proportional to the change ([`Service::apply_delta`]). The control loop derives
    /// it from the EndpointSlices it holds; a key the table lacks is counted in
    /// [`ApplyOutcome::missing`] and otherwise ignored.
    Endpoints {
        /// The service.
        key: ServiceKey,
        /// What changed, in order.
        delta: Vec<EndpointChange>,
    },
    /// Removes a service.
    Remove(ServiceKey),
}

/// What [`TableHandle::apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApplyOutcome {
    /// Services compiled (new or changed).
    pub compiled: usize,
    /// Upserts skipped because the spec was unchanged.
    pub unchanged: usize,
    /// Services removed.
    pub removed: usize,
    /// Endpoint changes for services not in the table.
    pub missing: usize,
}

/// The shared, atomically swapped table, plus the metrics registry its services count into.
#[derive(Debug)]
pub struct TableHandle {
    current: ArcSwap<Table>,
    metrics: Arc<Metrics>,
    /// Serialises writers; readers never take it.
    writer: Mutex<()>,
    next_service_generation: AtomicU64,
}

impl Default for TableHandle {
    fn default() -> Self {
        Self::new(Arc::new(Metrics::default()))
    }
}

impl TableHandle {
    /// An empty table counting into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> TableHandle {
        TableHandle {
            current: ArcSwap::from_pointee(Table::default()),
            metrics,
            writer: Mutex::new(()),
            next_service_generation: AtomicU64::new(1),
        }
    }

    /// The current table (lock-free; hold the guard briefly).
    pub fn load(&self) -> Guard<Arc<Table>> {
        self.current.load()
    }

    /// The current table as an owned `Arc`.
    pub fn load_full(&self) -> Arc<Table> {
        self.current.load_full()
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Applies `changes` and swaps the result in as one atomic step: a reader sees all of
    /// them or none. Lookups are never paused. Maglev tables whose candidates changed are
    /// rebuilt before this returns (see [`Self::apply_deferred`] to build them elsewhere).
    ///
    /// An upsert of a key the table lacks adds the service and a removal drops it; which
    /// addresses are *listened on* is the driver's business: `ProxyHandle::apply` binds or
    /// closes the listeners around its call to this.
    pub fn apply(&self, changes: impl IntoIterator<Item = Change>) -> ApplyOutcome {
        let (outcome, jobs) = self.apply_deferred(changes);
        for j in jobs {
            j.run();
        }
        outcome
    }

    /// [`Self::apply`], except that the Maglev builds the changes call for (a table over
    /// the new candidates, O(table size) each) are returned instead of run: until a job has
    /// run, its service balances with its previous table, skipping candidates that are no
    /// longer eligible (endpoints removed or terminating get no new connection from the
    /// moment of the swap; new endpoints get theirs once the new table is in). A service
    /// new to the table gets its first table at once.
    pub fn apply_deferred(
        &self,
        changes: impl IntoIterator<Item = Change>,
    ) -> (ApplyOutcome, Vec<MaglevJob>) {
        let _w = self.writer.lock();
        let cur = self.current.load_full();
        let mut next = (*cur).clone();
        let mut outcome = ApplyOutcome::default();
        let mut jobs = Vec::new();
        for change in changes {
            match change {
                Change::Upsert(spec) => {
                    let key = spec.key;
                    if next.services.get(&key).is_some_and(|s| s.spec == spec) {
                        outcome.unchanged += 1;
                        continue;
                    }
                    let prev = next.services.get(&key).cloned();
                    if let Some(old) = &prev
                        && old.spec.name != spec.name
                    {
                        self.metrics.remove_service(&old.spec.name);
                    }
                    let generation = self.next_service_generation.fetch_add(1, Ordering::Relaxed);
                    // From the previous version: stats and tables of what stayed are kept, the
                    // registry changes by the difference.
                    let svc = Service::compile_deferred(
                        spec,
                        generation,
                        &self.metrics,
                        prev.as_deref(),
                        &mut jobs,
                    );
                    next.services.insert(key, Arc::new(svc));
                    outcome.compiled += 1;
                }
                Change::Endpoints { key, delta } => {
                    let Some(prev) = next.services.get(&key).cloned() else {
                        outcome.missing += 1;
                        continue;
                    };
                    if delta.is_empty() {
                        outcome.unchanged += 1;
                        continue;
                    }
                    let generation = self.next_service_generation.fetch_add(1, Ordering::Relaxed);
                    let svc = prev.apply_delta(&delta, generation, &self.metrics, &mut jobs);
                    next.services.insert(key, Arc::new(svc));
                    outcome.compiled += 1;
                }
                Change::Remove(key) => {
                    if let Some(old) = next.services.remove(&key) {
                        self.metrics.remove_service(&old.spec.name);
                        outcome.removed += 1;
                    }
                }
            }
        }
        if outcome.compiled + outcome.removed > 0 {
            next.generation = cur.generation + 1;
            self.current.store(Arc::new(next));
        }
        // A later job for the same table makes an earlier one useless.
        let mut kept: Vec<MaglevJob> = Vec::with_capacity(jobs.len());
        for j in jobs {
            kept.retain(|k| !k.superseded_by(&j));
            kept.push(j);
        }
        (outcome, kept)
    }

    /// Sets the backends reached from the client's own address (see
    /// [`Table::is_transparent`]); swapped in atomically like any change. Returns whether
    /// the set changed.
    pub fn set_transparent(&self, backends: impl IntoIterator<Item = SocketAddr>) -> bool {
        let _w = self.writer.lock();
        let cur = self.current.load_full();
        let set: imbl::HashSet<SocketAddr> = backends.into_iter().collect();
        if set == cur.transparent {
            return false;
        }
        let mut next = (*cur).clone();
        next.transparent = set;
        next.generation = cur.generation + 1;
        self.current.store(Arc::new(next));
        true
    }

    /// Sets this node's pod networks (see [`Table::keeps_source`]). Returns whether they
    /// changed.
    pub fn set_local_networks(&self, networks: Vec<(IpAddr, u8)>) -> bool {
        let _w = self.writer.lock();
        let cur = self.current.load_full();
        if networks == cur.local_networks {
            return false;
        }
        let mut next = (*cur).clone();
        next.local_networks = networks;
        next.generation = cur.generation + 1;
        self.current.store(Arc::new(next));
        true
    }

    /// Makes the table hold exactly `specs`, computing the changes against the current table
    /// (unchanged services are neither recompiled nor replaced).
    pub fn replace_all(&self, specs: Vec<ServiceSpec>) -> ApplyOutcome {
        let cur = self.current.load_full();
        let wanted: std::collections::HashSet<ServiceKey> = specs.iter().map(|s| s.key).collect();
        let removals: Vec<Change> = cur
            .services
            .keys()
            .filter(|k| !wanted.contains(k))
            .map(|k| Change::Remove(*k))
            .collect();
        self.apply(
            removals
                .into_iter()
                .chain(specs.into_iter().map(Change::Upsert)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{BalancerKind, Conditions, Endpoint, Protocol};

    #[test]
    fn clients_on_the_backends_pod_network_do_not_keep_their_address() {
        let table = Table {
            transparent: [SocketAddr::from(([10, 244, 0, 5], 8080))]
                .into_iter()
                .collect(),
            local_networks: vec![(IpAddr::from([10, 244, 0, 0]), 24)],
            ..Table::default()
        };
        let backend = SocketAddr::from(([10, 244, 0, 5], 8080));
        // A client elsewhere keeps its address; one on the same bridge does not (the
        // backend would answer it directly); a backend not transparent never does.
        assert!(table.keeps_source(IpAddr::from([192, 168, 1, 9]), &backend));
        assert!(!table.keeps_source(IpAddr::from([10, 244, 0, 7]), &backend));
        assert!(table.keeps_source(IpAddr::from([10, 244, 1, 7]), &backend));
        let other = SocketAddr::from(([10, 244, 0, 6], 8080));
        assert!(!table.keeps_source(IpAddr::from([192, 168, 1, 9]), &other));
        assert!(in_network(
            IpAddr::from([1, 2, 3, 4]),
            (IpAddr::from([0, 0, 0, 0]), 0)
        ));
        assert!(!in_network(
            IpAddr::from([1, 2, 3, 4]),
            ("::".parse().expect("v6"), 0)
        ));
    }

    pub(crate) fn spec(port: u16, backends: &[u16]) -> ServiceSpec {
        ServiceSpec {
            name: format!("svc-{port}"),
            key: ServiceKey {
                addr: ([127, 0, 0, 1], port).into(),
                protocol: Protocol::Tcp,
            },
            balancer: BalancerKind::RoundRobin,
            affinity_timeout: None,
            endpoints: backends
                .iter()
                .map(|p| Endpoint {
                    addr: ([10, 0, 0, 1], *p).into(),
                    weight: 1,
                    conditions: Conditions::READY,
                })
                .collect(),
        }
    }

    #[test]
    fn apply_swaps_atomically_and_keeps_unchanged_services() {
        let h = TableHandle::default();
        let out = h.apply([
            Change::Upsert(spec(80, &[1, 2])),
            Change::Upsert(spec(81, &[3])),
        ]);
        assert_eq!(out.compiled, 2);
        let before = h.load_full();
        let s81 = before.get(&spec(81, &[]).key).unwrap().clone();
        // A reader holding the old table keeps seeing it while a writer swaps.
        let out = h.apply([
            Change::Upsert(spec(80, &[1, 2, 4])),
            Change::Upsert(spec(81, &[3])),
        ]);
        assert_eq!((out.compiled, out.unchanged), (1, 1));
        assert_eq!(
            before.get(&spec(80, &[]).key).unwrap().spec.endpoints.len(),
            2
        );
        let after = h.load_full();
        assert_eq!(
            after.get(&spec(80, &[]).key).unwrap().spec.endpoints.len(),
            3
        );
        // Unchanged service: the very same compiled object.
        assert!(Arc::ptr_eq(after.get(&spec(81, &[]).key).unwrap(), &s81));
        assert_eq!(after.generation, before.generation + 1);
        // A no-op apply does not swap.
        h.apply([Change::Upsert(spec(81, &[3]))]);
        assert_eq!(h.load().generation, after.generation);
    }

    #[test]
    fn an_endpoint_update_takes_over_the_stats_of_backends_that_stayed() {
        let h = TableHandle::default();
        h.apply([Change::Upsert(spec(80, &[1, 2, 3]))]);
        let key = spec(80, &[]).key;
        let before = h.load_full().get(&key).unwrap().clone();
        before
            .backend_stats(1)
            .unwrap()
            .connections
            .fetch_add(5, Ordering::Relaxed);
        // 1 leaves, 4 comes.
        h.apply([Change::Upsert(spec(80, &[2, 3, 4]))]);
        let after = h.load_full().get(&key).unwrap().clone();
        assert!(Arc::ptr_eq(
            before.backend_stats(1).unwrap(),
            after.backend_stats(0).unwrap()
        ));
        assert_eq!(
            after
                .backend_stats(0)
                .unwrap()
                .connections
                .load(Ordering::Relaxed),
            5
        );
        assert_eq!(h.metrics().backend_count("svc-80"), 3);
        let text = h.metrics().render_prometheus();
        assert!(!text.contains("backend=\"10.0.0.1:1\""));
        assert!(text.contains("backend=\"10.0.0.1:4\""));
        // Removing the service drops its series.
        h.apply([Change::Remove(key)]);
        assert_eq!(h.metrics().backend_count("svc-80"), 0);
    }

    #[test]
    fn replace_all_removes_missing() {
        let h = TableHandle::default();
        h.replace_all(vec![spec(80, &[1]), spec(81, &[2])]);
        let out = h.replace_all(vec![spec(81, &[2])]);
        assert_eq!((out.removed, out.compiled, out.unchanged), (1, 0, 1));
        assert_eq!(h.load().len(), 1);
    }

    #[test]
    fn readers_never_block_during_updates() {
        let h = Arc::new(TableHandle::default());
        h.apply([Change::Upsert(spec(80, &[1]))]);
        let reader = {
            let h = h.clone();
            std::thread::spawn(move || {
                let key = spec(80, &[]).key;
                let mut seen = 0u64;
                for _ in 0..20_000 {
                    let t = h.load();
                    // Every snapshot is complete: the service is always there with ≥ 1 backend.
                    let s = t.get(&key).expect("service present in every snapshot");
                    assert!(!s.spec.endpoints.is_empty());
                    seen = seen.max(t.generation);
                }
                seen
            })
        };
        for i in 0..200u16 {
            h.apply([Change::Upsert(spec(80, &[1, 2 + (i % 50)]))]);
        }
        assert!(reader.join().unwrap() >= 1);
    }
}
