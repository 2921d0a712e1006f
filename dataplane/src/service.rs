//! Service and endpoint types, and a service compiled for lookups: the endpoints eligible for
//! new connections (EndpointSlice condition semantics), per-backend stats and, where needed,
//! a Maglev table.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;

use crate::Nanos;
use crate::balance::Maglev;
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
    /// Indices into `spec.endpoints` eligible for new connections.
    eligible: Vec<u32>,
    /// Weights of `eligible`, same order.
    eligible_weights: Vec<u32>,
    /// Maglev table over `eligible` (for the Maglev balancer and for ClientIP affinity).
    maglev: Option<Maglev>,
    /// Changes whenever the compiled content changes; per-core balancer state keys on it.
    pub generation: u64,
    /// Service stats.
    pub stats: Arc<ServiceStats>,
    /// Per-endpoint stats, same order as `spec.endpoints`.
    backend_stats: Vec<Arc<BackendStats>>,
}

impl Service {
    /// Compiles `spec`. New connections go to ready endpoints; when none is ready, to serving
    /// terminating ones (as kube-proxy does); never to endpoints of weight 0.
    pub fn compile(spec: ServiceSpec, generation: u64, metrics: &Metrics) -> Service {
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
            let names: Vec<String> = eligible
                .iter()
                .map(|i| spec.endpoints[*i as usize].addr.to_string())
                .collect();
            let refs: Vec<&[u8]> = names.iter().map(|s| s.as_bytes()).collect();
            Maglev::build(&refs, &eligible_weights)
        } else {
            None
        };
        let stats = metrics.service(&spec.name);
        let backend_stats = spec
            .endpoints
            .iter()
            .map(|e| metrics.backend(&spec.name, e.addr))
            .collect();
        Service {
            spec,
            eligible,
            eligible_weights,
            maglev,
            generation,
            stats,
            backend_stats,
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
        self.maglev.as_ref()
    }

    /// Endpoint `i`.
    pub fn endpoint(&self, i: usize) -> Option<&Endpoint> {
        self.spec.endpoints.get(i)
    }

    /// Stats of endpoint `i`.
    pub fn backend_stats(&self, i: usize) -> Option<&Arc<BackendStats>> {
        self.backend_stats.get(i)
    }

    /// Index of the endpoint with address `addr`.
    pub fn endpoint_index(&self, addr: SocketAddr) -> Option<usize> {
        self.spec.endpoints.iter().position(|e| e.addr == addr)
    }

    /// Whether `addr` is eligible for new connections.
    pub fn is_eligible(&self, addr: SocketAddr) -> bool {
        self.eligible
            .iter()
            .any(|i| self.spec.endpoints[*i as usize].addr == addr)
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
}
