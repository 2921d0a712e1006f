//! Per-core backend selection: the balancer state a core owns (round-robin positions, the
//! ClientIP affinity map, its random source) applied to a shared, immutable [`Service`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::Nanos;
use crate::balance::{Rng, RoundRobin, SmoothWrr, p2c};
use crate::hash::{hash_addr, hash_ip};
use crate::metrics::BackendStats;
use crate::service::{BalancerKind, Service, ServiceKey};
use crate::table::Table;

/// Affinity entries per core: bounds memory (~64 B each, 4 MiB per core). When full, new
/// clients are still balanced consistently by Maglev, just not remembered.
pub const MAX_AFFINITY_ENTRIES: usize = 65_536;
/// Slots Maglev may walk past when its first choice was already tried on this connection.
const MAGLEV_RETRY_WALK: usize = 1_024;
const KEY_SEED: u64 = 0x636c_6970_7065_7221;

/// A chosen backend.
#[derive(Debug, Clone)]
pub struct Choice {
    /// Endpoint index in the service's spec.
    pub index: usize,
    /// Backend address.
    pub addr: SocketAddr,
    /// Its stats.
    pub stats: Arc<BackendStats>,
}

/// A core's round-robin state for one service.
#[derive(Debug, Default)]
struct RrState {
    /// Generation of the service `wrr` was built for.
    generation: u64,
    /// Equal weights: a cursor, kept across versions.
    rr: RoundRobin,
    /// Unequal weights: smooth weighted round robin (O(n) per pick), reset by a new version.
    wrr: SmoothWrr,
}

#[derive(Debug, Clone, Copy)]
struct Sticky {
    backend: SocketAddr,
    expires: Nanos,
}

/// One core's balancer state.
#[derive(Debug)]
pub struct Picker<R> {
    rng: R,
    rr: HashMap<ServiceKey, RrState>,
    affinity: HashMap<(ServiceKey, IpAddr), Sticky>,
}

impl<R: Rng> Picker<R> {
    /// A picker drawing randomness from `rng`.
    pub fn new(rng: R) -> Picker<R> {
        Picker {
            rng,
            rr: HashMap::new(),
            affinity: HashMap::new(),
        }
    }

    /// Chooses a backend of `svc` for a new connection from `client`, skipping `exclude`
    /// (backends this connection already failed to reach). Returns `None` when no eligible
    /// backend is left.
    pub fn pick(
        &mut self,
        svc: &Service,
        client: SocketAddr,
        exclude: &[SocketAddr],
        now: Nanos,
    ) -> Option<Choice> {
        let eligible = svc.eligible();
        let allowed = |i: usize| !exclude.contains(&svc.spec.endpoints[i].addr);
        let index = if let Some(timeout) = svc.spec.affinity_timeout {
            let key = (svc.spec.key, client.ip());
            let sticky = self
                .affinity
                .get(&key)
                .filter(|s| s.expires > now && !exclude.contains(&s.backend))
                .and_then(|s| svc.eligible_index(s.backend));
            let index = sticky.or_else(|| {
                svc.maglev_pick(hash_ip(KEY_SEED, client.ip()), MAGLEV_RETRY_WALK, allowed)
            });
            if let Some(i) = index
                && (self.affinity.len() < MAX_AFFINITY_ENTRIES || self.affinity.contains_key(&key))
            {
                self.affinity.insert(
                    key,
                    Sticky {
                        backend: svc.spec.endpoints[i].addr,
                        expires: now.saturating_add(timeout),
                    },
                );
            }
            index
        } else {
            match svc.spec.balancer {
                BalancerKind::RoundRobin => {
                    let st = self.rr.entry(svc.spec.key).or_default();
                    let allowed_c = |c: usize| allowed(eligible[c] as usize);
                    let c = if svc.uniform_weights() {
                        st.rr.pick(eligible.len(), allowed_c)
                    } else {
                        if st.generation != svc.generation {
                            st.generation = svc.generation;
                            st.wrr = SmoothWrr::default();
                        }
                        st.wrr.pick(svc.eligible_weights(), allowed_c)
                    };
                    c.map(|c| eligible[c] as usize)
                }
                BalancerKind::LeastConn => {
                    let weights = svc.eligible_weights();
                    let load = |c: usize| {
                        let active = svc
                            .backend_stats(eligible[c] as usize)
                            .map_or(0, |s| s.active.load(std::sync::atomic::Ordering::Relaxed));
                        (active, weights[c])
                    };
                    p2c(&mut self.rng, eligible.len(), load, |c| {
                        allowed(eligible[c] as usize)
                    })
                    .map(|c| eligible[c] as usize)
                }
                BalancerKind::Maglev => {
                    svc.maglev_pick(hash_addr(KEY_SEED, client), MAGLEV_RETRY_WALK, allowed)
                }
            }
        }?;
        Some(Choice {
            index,
            addr: svc.spec.endpoints[index].addr,
            stats: svc.backend_stats(index)?.clone(),
        })
    }

    /// Drops expired affinity entries and state of services no longer in `table`.
    /// O(entries); call it from a periodic timer, not per connection.
    pub fn sweep(&mut self, table: &Table, now: Nanos) {
        self.affinity
            .retain(|(k, _), s| s.expires > now && table.get(k).is_some());
        self.rr.retain(|k, _| table.get(k).is_some());
    }

    /// Affinity entries held.
    pub fn affinity_len(&self) -> usize {
        self.affinity.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SECOND;
    use crate::balance::SplitMix64;
    use crate::metrics::Metrics;
    use crate::service::{Conditions, Endpoint, Protocol, ServiceSpec};

    fn svc(balancer: BalancerKind, affinity: Option<Nanos>, eps: &[(u16, u32)]) -> Service {
        let spec = ServiceSpec {
            name: "s".into(),
            key: ServiceKey {
                addr: "127.0.0.1:80".parse().unwrap(),
                protocol: Protocol::Tcp,
            },
            balancer,
            affinity_timeout: affinity,
            endpoints: eps
                .iter()
                .map(|(p, w)| Endpoint {
                    addr: ([10, 0, 0, 1], *p).into(),
                    weight: *w,
                    conditions: Conditions::READY,
                })
                .collect(),
        };
        Service::compile(spec, 1, &Metrics::default())
    }

    fn client(i: u32) -> SocketAddr {
        (std::net::Ipv4Addr::from(0x0a01_0000 + i), 40_000).into()
    }

    #[test]
    fn round_robin_distribution_follows_weights() {
        let s = svc(BalancerKind::RoundRobin, None, &[(1, 1), (2, 2), (3, 1)]);
        let mut p = Picker::new(SplitMix64(1));
        let mut counts = HashMap::new();
        for i in 0..4000 {
            let c = p.pick(&s, client(i), &[], 0).unwrap();
            *counts.entry(c.addr.port()).or_insert(0) += 1;
        }
        assert_eq!(counts[&1], 1000);
        assert_eq!(counts[&2], 2000);
        assert_eq!(counts[&3], 1000);
    }

    #[test]
    fn round_robin_goes_on_across_versions_of_a_service() {
        use crate::service::EndpointChange;
        let m = Metrics::default();
        let s = svc(
            BalancerKind::RoundRobin,
            None,
            &[(1, 1), (2, 1), (3, 1), (4, 1)],
        );
        let mut p = Picker::new(SplitMix64(1));
        let first: Vec<u16> = (0..2)
            .map(|i| p.pick(&s, client(i), &[], 0).unwrap().addr.port())
            .collect();
        assert_eq!(first, vec![1, 2]);
        // A new version (an unrelated endpoint added): the rotation continues where it was
        // instead of starting again at the first endpoint on every core.
        let mut jobs = Vec::new();
        let next = s.apply_delta(
            &[EndpointChange::Set(Endpoint {
                addr: ([10, 0, 0, 1], 5).into(),
                weight: 1,
                conditions: Conditions::READY,
            })],
            2,
            &m,
            &mut jobs,
        );
        assert_eq!(p.pick(&next, client(2), &[], 0).unwrap().addr.port(), 3);
        let mut counts = HashMap::new();
        for i in 0..500 {
            let c = p.pick(&next, client(i), &[], 0).unwrap();
            *counts.entry(c.addr.port()).or_insert(0) += 1;
        }
        assert_eq!(counts.len(), 5);
        assert!(counts.values().all(|c| *c == 100), "{counts:?}");
    }

    #[test]
    fn least_conn_avoids_loaded_backend() {
        let s = svc(BalancerKind::LeastConn, None, &[(1, 1), (2, 1)]);
        s.backend_stats(0)
            .unwrap()
            .active
            .store(50, std::sync::atomic::Ordering::Relaxed);
        let mut p = Picker::new(SplitMix64(3));
        for i in 0..100 {
            assert_eq!(p.pick(&s, client(i), &[], 0).unwrap().addr.port(), 2);
        }
    }

    #[test]
    fn maglev_is_consistent_per_client_and_spread() {
        let s = svc(BalancerKind::Maglev, None, &[(1, 1), (2, 1), (3, 1)]);
        let mut a = Picker::new(SplitMix64(1));
        let mut b = Picker::new(SplitMix64(99));
        let mut counts = [0usize; 4];
        for i in 0..3000 {
            let x = a.pick(&s, client(i), &[], 0).unwrap();
            let y = b.pick(&s, client(i), &[], 0).unwrap();
            assert_eq!(x.addr, y.addr, "two cores agree");
            counts[x.addr.port() as usize] += 1;
        }
        for c in &counts[1..] {
            assert!(*c > 850 && *c < 1150, "{counts:?}");
        }
    }

    #[test]
    fn affinity_sticks_until_timeout_and_skips_excluded() {
        let s = svc(
            BalancerKind::RoundRobin,
            Some(10 * SECOND),
            &[(1, 1), (2, 1), (3, 1)],
        );
        let mut p = Picker::new(SplitMix64(1));
        let c = client(7);
        let first = p.pick(&s, c, &[], 0).unwrap().addr;
        for t in 1..20 {
            // Different source ports, same IP: same backend while the entry is fresh.
            let other_port = SocketAddr::new(c.ip(), 1000 + t as u16);
            assert_eq!(
                p.pick(&s, other_port, &[], t * SECOND / 4).unwrap().addr,
                first
            );
        }
        let retry = p.pick(&s, c, &[first], 5 * SECOND).unwrap().addr;
        assert_ne!(retry, first);
        // The retry re-pinned the client; after the timeout the table is swept.
        assert_eq!(p.pick(&s, c, &[], 6 * SECOND).unwrap().addr, retry);
        let table = Table::default();
        p.sweep(&table, 100 * SECOND);
        assert_eq!(p.affinity_len(), 0);
    }

    #[test]
    fn exhausted_exclusions_give_none() {
        let s = svc(BalancerKind::RoundRobin, None, &[(1, 1), (2, 1)]);
        let mut p = Picker::new(SplitMix64(1));
        let all: Vec<SocketAddr> = s.spec.endpoints.iter().map(|e| e.addr).collect();
        assert!(p.pick(&s, client(1), &all, 0).is_none());
        let s = svc(BalancerKind::Maglev, None, &[(1, 1), (2, 1)]);
        assert!(p.pick(&s, client(1), &all, 0).is_none());
        let s = svc(BalancerKind::LeastConn, None, &[(1, 1), (2, 1)]);
        assert!(p.pick(&s, client(1), &all, 0).is_none());
    }
}
