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

/// A service compiled for lookups. Immutable; shared by all cores through the table.
#[derive(Debug)]
pub struct Service {
    /// The definition.
    pub spec: ServiceSpec,
    /// Indices into `spec.endpoints` eligible for new connections (ascending).
    eligible: Vec<u32>,
    /// Weights of `eligible`, same order.
    eligible_weights: Vec<u32>,
    /// Maglev table over `eligible` (for the Maglev balancer and for ClientIP affinity);
    /// shared with the previous compile of the service when its candidates did not change.
    maglev: Option<Arc<Maglev>>,
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

/// Whether the Maglev tables of two services would be equal: same candidates (addresses, in
/// order) with the same weights.
fn same_candidates(a: &Service, spec: &ServiceSpec, eligible: &[u32], weights: &[u32]) -> bool {
    a.eligible.len() == eligible.len()
        && a.eligible_weights == weights
        && a.eligible
            .iter()
            .zip(eligible)
            .all(|(x, y)| a.spec.endpoints[*x as usize].addr == spec.endpoints[*y as usize].addr)
}

/// The Maglev table over the `eligible` endpoints of `spec`, named by their addresses'
/// text (as they always were: the names fix the permutations, which must not change between
/// versions). One buffer holds every name.
fn build_maglev(spec: &ServiceSpec, eligible: &[u32], weights: &[u32]) -> Option<Maglev> {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(eligible.len() * 24);
    let mut ends = Vec::with_capacity(eligible.len());
    for i in eligible {
        let _ = write!(text, "{}", spec.endpoints[*i as usize].addr);
        ends.push(text.len());
    }
    let mut names: Vec<&[u8]> = Vec::with_capacity(ends.len());
    let mut start = 0;
    for end in ends {
        names.push(&text.as_bytes()[start..end]);
        start = end;
    }
    Maglev::build(&names, weights)
}

impl Service {
    /// Compiles `spec`. New connections go to ready endpoints; when none is ready, to serving
    /// terminating ones (as kube-proxy does); never to endpoints of weight 0. The registry
    /// holds exactly the backends of `spec` for its name afterwards.
    pub fn compile(spec: ServiceSpec, generation: u64, metrics: &Metrics) -> Service {
        Self::compile_from(spec, generation, metrics, None)
    }

    /// Compiles `spec` as the next version of `prev` (the service the table holds for the same
    /// key, if any): what the endpoints that stayed already have is taken over instead of
    /// registered again — their stats (the same objects: counts go on), the service's stats
    /// and, when the eligible candidates are the same, the Maglev table. The registry is
    /// changed by the difference only: series of endpoints that left are dropped, those of new
    /// ones added. Costs O(n) cheap steps for n endpoints (a hash lookup, no lock, no
    /// allocation per endpoint) plus O(k log n) for k changed endpoints, plus, for services
    /// that use one, a Maglev build when the candidates changed (O(table size)). Falls back
    /// to [`Self::compile`]'s registration when `prev` has another name.
    pub fn compile_from(
        spec: ServiceSpec,
        generation: u64,
        metrics: &Metrics,
        prev: Option<&Service>,
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

        let pick = |f: &dyn Fn(&Endpoint) -> bool| -> Vec<u32> {
            spec.endpoints
                .iter()
                .enumerate()
                .filter(|(_, e)| e.weight > 0 && f(e))
                .map(|(i, _)| i as u32)
                .collect()
        };
        let mut eligible = pick(&|e| e.conditions.ready && !e.conditions.terminating);
        if eligible.is_empty() {
            eligible = pick(&|e| e.conditions.serving && e.conditions.terminating);
        }
        let eligible_weights: Vec<u32> = eligible
            .iter()
            .map(|i| spec.endpoints[*i as usize].weight)
            .collect();
        let maglev = if spec.balancer == BalancerKind::Maglev || spec.affinity_timeout.is_some() {
            match prev {
                Some(p)
                    if p.maglev.is_some()
                        && same_candidates(p, &spec, &eligible, &eligible_weights) =>
                {
                    p.maglev.clone()
                }
                _ => build_maglev(&spec, &eligible, &eligible_weights).map(Arc::new),
            }
        } else {
            None
        };
        Service {
            spec,
            eligible,
            eligible_weights,
            maglev,
            generation,
            stats,
            backend_stats,
            index,
            duplicates,
        }
    }

    /// Endpoint indices eligible for new connections.
    pub fn eligible(&self) -> &[u32] {
        &self.eligible
    }

    /// Weights of [`Self::eligible`].
    pub fn eligible_weights(&self) -> &[u32] {
        &self.eligible_weights
    }

    /// The Maglev table over [`Self::eligible`], if built.
    pub fn maglev(&self) -> Option<&Maglev> {
        self.maglev.as_deref()
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

    /// Whether `addr` is eligible for new connections.
    pub fn is_eligible(&self, addr: SocketAddr) -> bool {
        if self.duplicates {
            return self
                .eligible
                .iter()
                .any(|i| self.spec.endpoints[*i as usize].addr == addr);
        }
        self.index
            .get(&addr)
            .is_some_and(|i| self.eligible.binary_search(i).is_ok())
    }

    /// Whether this service and `other` share their Maglev table (the same object).
    pub fn shares_maglev_with(&self, other: &Service) -> bool {
        matches!((&self.maglev, &other.maglev), (Some(a), Some(b)) if Arc::ptr_eq(a, b))
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
        assert!(a.maglev().is_some());
        // A terminating endpoint comes and goes: the candidates are the same.
        sp.endpoints.push(ep(30, Conditions::SERVING_TERMINATING));
        let b = Service::compile_from(sp.clone(), 2, &m, Some(&a));
        assert!(b.shares_maglev_with(&a));
        // A candidate leaves: a new table, equal to one built from scratch.
        sp.endpoints.remove(3);
        let c = Service::compile_from(sp.clone(), 3, &m, Some(&b));
        assert!(!c.shares_maglev_with(&b));
        let fresh = Service::compile(sp, 4, &Metrics::default());
        assert_eq!(c.maglev(), fresh.maglev());
        // Round robin services have no table at all.
        let rr = Service::compile(spec(vec![ep(1, Conditions::READY)]), 5, &m);
        assert!(rr.maglev().is_none());
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
