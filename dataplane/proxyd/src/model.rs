//! From Kubernetes objects to the proxy's table, pure: a Service and its EndpointSlices
//! become one [`ServiceSpec`] per (service port, address it is reached on) — ClusterIPs,
//! externalIPs and the NodePort — with the endpoints kube-proxy would use.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use clipper_dataplane::SECOND;
use clipper_dataplane::service::{
    BalancerKind, Conditions, Endpoint, Protocol, ServiceKey, ServiceSpec,
};
use clipper_proto::api::core::v1::{Service, ServicePort};
use clipper_proto::api::discovery::v1::EndpointSlice;

/// `(namespace, name)` of a Service.
pub type SvcKey = (String, String);

/// The label an EndpointSlice names its Service with.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// Kubernetes' default ClientIP affinity timeout (3 hours).
pub const DEFAULT_AFFINITY_TIMEOUT_SECONDS: u64 = 10_800;

/// What the mapping needs to know about the node it runs on.
#[derive(Clone, Debug)]
pub struct NodeContext {
    /// For the `Local` traffic policies.
    pub node_name: String,
    /// Where NodePorts are served (kube-proxy's nodePortAddresses; default: every
    /// local address, i.e. the unspecified address of each family).
    pub node_port_addrs: Vec<IpAddr>,
    pub balancer: BalancerKind,
    /// Services another component serves on their ClusterIP itself (the in-process
    /// cluster DNS), which the proxy must leave alone.
    pub skip: BTreeSet<SvcKey>,
    /// Keep clients' source addresses towards endpoints on this node (IP_TRANSPARENT;
    /// needs the return path of [`crate::tproxy`]).
    pub preserve_source: bool,
    /// This node's pod networks: clients there reach endpoints there from the node's
    /// address even with `preserve_source` (their replies would not come back through
    /// the proxy).
    pub pod_networks: Vec<(IpAddr, u8)>,
}

impl NodeContext {
    pub fn new(node_name: &str) -> NodeContext {
        NodeContext {
            node_name: node_name.to_string(),
            node_port_addrs: vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)],
            balancer: BalancerKind::RoundRobin,
            skip: BTreeSet::new(),
            preserve_source: false,
            pod_networks: Vec::new(),
        }
    }
}

fn protocol(p: Option<&str>) -> Option<Protocol> {
    match p.unwrap_or("TCP") {
        "TCP" => Some(Protocol::Tcp),
        "UDP" => Some(Protocol::Udp),
        // SCTP is not served by this proxy.
        _ => None,
    }
}

fn family_matches(ip: IpAddr, address_type: &str) -> bool {
    matches!(
        (ip, address_type),
        (IpAddr::V4(_), "IPv4") | (IpAddr::V6(_), "IPv6")
    )
}

/// Where a port is reached, and whether through the node (external policy) or the
/// cluster IP (internal policy).
struct Listen {
    addr: SocketAddr,
    external: bool,
}

fn listens(svc: &Service, port: &ServicePort, ctx: &NodeContext) -> Vec<Listen> {
    let Some(spec) = svc.spec.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let port_no = u16::try_from(port.port).unwrap_or(0);
    if port_no == 0 {
        return out;
    }
    let mut cluster_ips: Vec<&str> = spec
        .cluster_ips
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    if cluster_ips.is_empty()
        && let Some(ip) = spec.cluster_ip.as_deref()
    {
        cluster_ips.push(ip);
    }
    for ip in cluster_ips {
        if let Ok(ip) = ip.parse::<IpAddr>() {
            out.push(Listen {
                addr: SocketAddr::new(ip, port_no),
                external: false,
            });
        }
    }
    for ip in spec.external_ips.iter().flatten() {
        if let Ok(ip) = ip.parse::<IpAddr>() {
            out.push(Listen {
                addr: SocketAddr::new(ip, port_no),
                external: true,
            });
        }
    }
    let node_port_type = matches!(
        spec.type_.as_deref(),
        Some("NodePort") | Some("LoadBalancer")
    );
    if node_port_type && let Some(np) = port.node_port.and_then(|p| u16::try_from(p).ok()) {
        for ip in &ctx.node_port_addrs {
            out.push(Listen {
                addr: SocketAddr::new(*ip, np),
                external: true,
            });
        }
    }
    out
}

/// The table entries for one Service given its EndpointSlices (any order). Headless and
/// ExternalName services have none.
pub fn specs_for(
    svc: &Service,
    slices: &[Arc<EndpointSlice>],
    ctx: &NodeContext,
) -> Vec<ServiceSpec> {
    let ns = svc.metadata.namespace.clone().unwrap_or_default();
    let name = svc.metadata.name.clone().unwrap_or_default();
    if ctx.skip.contains(&(ns.clone(), name.clone())) {
        return Vec::new();
    }
    let Some(spec) = svc.spec.as_ref() else {
        return Vec::new();
    };
    if spec.type_.as_deref() == Some("ExternalName") {
        return Vec::new();
    }
    let affinity = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
        let secs = spec
            .session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .and_then(|t| u64::try_from(t).ok())
            .unwrap_or(DEFAULT_AFFINITY_TIMEOUT_SECONDS);
        secs * SECOND
    });
    let internal_local = spec.internal_traffic_policy.as_deref() == Some("Local");
    let external_local = spec.external_traffic_policy.as_deref() == Some("Local");
    let mut out = Vec::new();
    for port in spec.ports.iter().flatten() {
        let Some(proto) = protocol(port.protocol.as_deref()) else {
            continue;
        };
        let port_name = port.name.clone().unwrap_or_default();
        // The addresses of a port share their endpoint list when their family and policy
        // are the same (a ClusterIP, externalIPs, the NodePort): computed once.
        let mut computed: Vec<((bool, bool), Vec<Endpoint>)> = Vec::new();
        for l in listens(svc, port, ctx) {
            let local_only = if l.external {
                external_local
            } else {
                internal_local
            };
            let v4 = l.addr.is_ipv4();
            let endpoints = match computed.iter().find(|(k, _)| *k == (v4, local_only)) {
                Some((_, e)) => e.clone(),
                None => {
                    let e = endpoints_for(slices, &port_name, proto, l.addr.ip(), local_only, ctx);
                    computed.push(((v4, local_only), e.clone()));
                    e
                }
            };
            let shown_port = if port_name.is_empty() {
                port.port.to_string()
            } else {
                port_name.clone()
            };
            out.push(ServiceSpec {
                name: format!("{ns}/{name}:{shown_port}/{}", l.addr),
                key: ServiceKey {
                    addr: l.addr,
                    protocol: proto,
                },
                balancer: ctx.balancer,
                affinity_timeout: affinity,
                endpoints,
            });
        }
    }
    out
}

fn endpoints_for(
    slices: &[Arc<EndpointSlice>],
    port_name: &str,
    proto: Protocol,
    listen_ip: IpAddr,
    local_only: bool,
    ctx: &NodeContext,
) -> Vec<Endpoint> {
    // NodePorts on the unspecified address of a family serve that family.
    let family_ip = match listen_ip {
        IpAddr::V4(v) if v.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v) if v.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for slice in slices {
        if !family_matches(family_ip, &slice.address_type) {
            continue;
        }
        let Some(target) = slice.ports.iter().flatten().find(|p| {
            p.name.as_deref().unwrap_or("") == port_name
                && protocol(p.protocol.as_deref()) == Some(proto)
        }) else {
            continue;
        };
        let Some(target_port) = target.port.and_then(|p| u16::try_from(p).ok()) else {
            continue;
        };
        for e in &slice.endpoints {
            if local_only && e.node_name.as_deref() != Some(ctx.node_name.as_str()) {
                continue;
            }
            // kube-proxy uses the first address of an endpoint.
            let Some(ip) = e.addresses.first().and_then(|a| a.parse::<IpAddr>().ok()) else {
                continue;
            };
            let addr = SocketAddr::new(ip, target_port);
            if !seen.insert(addr) {
                continue;
            }
            let c = e.conditions.as_ref();
            let ready = c.and_then(|c| c.ready).unwrap_or(true);
            let conditions = Conditions {
                ready,
                serving: c.and_then(|c| c.serving).unwrap_or(ready),
                terminating: c.and_then(|c| c.terminating).unwrap_or(false),
            };
            out.push(Endpoint {
                addr,
                weight: 1,
                conditions,
            });
        }
    }
    out
}

/// Backend addresses (endpoint address × slice port) on this node: the ones whose replies
/// route back through it, so the proxy may connect to them from the client's address.
pub fn local_backends(slice: &EndpointSlice, ctx: &NodeContext) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for e in &slice.endpoints {
        if e.node_name.as_deref() != Some(ctx.node_name.as_str()) {
            continue;
        }
        let Some(ip) = e.addresses.first().and_then(|a| a.parse::<IpAddr>().ok()) else {
            continue;
        };
        for p in slice.ports.iter().flatten() {
            if let Some(port) = p.port.and_then(|p| u16::try_from(p).ok()) {
                out.push(SocketAddr::new(ip, port));
            }
        }
    }
    out
}

/// The ClusterIPs and externalIPs a set of specs listens on: what the node must hold as
/// local addresses (on the dummy interface). NodePorts listen on node addresses already.
pub fn virtual_ips(specs: &HashMap<SvcKey, Vec<ServiceSpec>>) -> BTreeSet<IpAddr> {
    specs
        .values()
        .flatten()
        .map(|s| s.key.addr.ip())
        .filter(|ip| !ip.is_unspecified())
        .collect()
}

/// What changes the table needs to go from `old` to `new` specs of one service.
pub fn diff(old: &[ServiceSpec], new: &[ServiceSpec]) -> Vec<clipper_dataplane::Change> {
    let mut changes: Vec<clipper_dataplane::Change> = old
        .iter()
        .filter(|o| !new.iter().any(|n| n.key == o.key))
        .map(|o| clipper_dataplane::Change::Remove(o.key))
        .collect();
    for n in new {
        let prev = old.iter().find(|o| o.key == n.key);
        if prev.is_some_and(|o| o == n) {
            continue;
        }
        // Only endpoints changed: the proxy gets the difference, and its work follows the
        // size of the change, not of the service.
        match prev.and_then(|o| endpoint_delta(o, n)) {
            Some(delta) => {
                changes.push(clipper_dataplane::Change::Endpoints { key: n.key, delta });
            }
            None => changes.push(clipper_dataplane::Change::Upsert(n.clone())),
        }
    }
    changes
}

/// The endpoint changes that turn `old` into `new`, when nothing else differs and no address
/// is listed twice (else `None`: the full spec goes instead).
fn endpoint_delta(
    old: &ServiceSpec,
    new: &ServiceSpec,
) -> Option<Vec<clipper_dataplane::service::EndpointChange>> {
    use clipper_dataplane::service::EndpointChange;
    if old.name != new.name
        || old.balancer != new.balancer
        || old.affinity_timeout != new.affinity_timeout
    {
        return None;
    }
    let before: HashMap<std::net::SocketAddr, &clipper_dataplane::service::Endpoint> =
        old.endpoints.iter().map(|e| (e.addr, e)).collect();
    if before.len() != old.endpoints.len() {
        return None;
    }
    let mut listed = std::collections::HashSet::with_capacity(new.endpoints.len());
    let mut delta = Vec::new();
    for e in &new.endpoints {
        if !listed.insert(e.addr) {
            return None;
        }
        if before.get(&e.addr).is_none_or(|o| *o != e) {
            delta.push(EndpointChange::Set(e.clone()));
        }
    }
    delta.extend(
        old.endpoints
            .iter()
            .filter(|o| !listed.contains(&o.addr))
            .map(|o| EndpointChange::Remove(o.addr)),
    );
    Some(delta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn svc(v: Value) -> Service {
        let mut base = json!({"metadata": {"name": "web", "namespace": "default"}});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    fn slice(name: &str, family: &str, ports: Value, endpoints: Value) -> Arc<EndpointSlice> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default",
                             "labels": {SERVICE_NAME_LABEL: "web"}},
                "addressType": family, "ports": ports, "endpoints": endpoints,
            }))
            .unwrap(),
        )
    }

    fn summary(specs: &[ServiceSpec]) -> Vec<String> {
        specs
            .iter()
            .map(|s| {
                let eps: Vec<String> = s
                    .endpoints
                    .iter()
                    .map(|e| {
                        let c = e.conditions;
                        let mut f = String::new();
                        if !c.ready {
                            f.push_str(if c.serving { "~" } else { "!" });
                        }
                        format!("{}{f}", e.addr)
                    })
                    .collect();
                let p = match s.key.protocol {
                    Protocol::Tcp => "tcp",
                    Protocol::Udp => "udp",
                };
                format!("{} {p} {} [{}]", s.name, s.key.addr, eps.join(" "))
            })
            .collect()
    }

    fn two_slices() -> Vec<Arc<EndpointSlice>> {
        vec![
            slice(
                "web-a",
                "IPv4",
                json!([{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "dns", "port": 5353, "protocol": "UDP"}]),
                json!([
                    {"addresses": ["10.1.0.1"], "conditions": {"ready": true}, "nodeName": "n1"},
                    {"addresses": ["10.1.0.2"], "conditions": {"ready": false, "serving": true, "terminating": true}, "nodeName": "n2"},
                    {"addresses": ["10.1.0.3"], "conditions": {"ready": false, "serving": false, "terminating": true}, "nodeName": "n1"},
                ]),
            ),
            slice(
                "web-b",
                "IPv4",
                json!([{"name": "http", "port": 8080, "protocol": "TCP"}]),
                // The same endpoint in two slices (during a slice split) counts once;
                // no conditions means ready.
                json!([{"addresses": ["10.1.0.1"]}, {"addresses": ["10.1.0.4"], "nodeName": "n2"}]),
            ),
            slice(
                "web-v6",
                "IPv6",
                json!([{"name": "http", "port": 8080, "protocol": "TCP"}]),
                json!([{"addresses": ["fd00::1"]}]),
            ),
        ]
    }

    #[test]
    fn cluster_ip_node_port_and_external_ips() {
        let s = svc(json!({"spec": {
        "type": "NodePort", "clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
        "externalIPs": ["192.0.2.7"],
        "ports": [
            {"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080},
            {"name": "dns", "port": 53, "protocol": "UDP"},
            {"name": "sctp", "port": 9, "protocol": "SCTP"},
        ]}}));
        let ctx = NodeContext::new("n1");
        assert_eq!(
            summary(&specs_for(&s, &two_slices(), &ctx)),
            [
                "default/web:http/10.96.0.20:80 tcp 10.96.0.20:80 [10.1.0.1:8080 10.1.0.2:8080~ 10.1.0.3:8080! 10.1.0.4:8080]",
                "default/web:http/192.0.2.7:80 tcp 192.0.2.7:80 [10.1.0.1:8080 10.1.0.2:8080~ 10.1.0.3:8080! 10.1.0.4:8080]",
                "default/web:http/0.0.0.0:30080 tcp 0.0.0.0:30080 [10.1.0.1:8080 10.1.0.2:8080~ 10.1.0.3:8080! 10.1.0.4:8080]",
                "default/web:dns/10.96.0.20:53 udp 10.96.0.20:53 [10.1.0.1:5353 10.1.0.2:5353~ 10.1.0.3:5353!]",
                "default/web:dns/192.0.2.7:53 udp 192.0.2.7:53 [10.1.0.1:5353 10.1.0.2:5353~ 10.1.0.3:5353!]",
            ]
        );
        let specs: HashMap<SvcKey, Vec<ServiceSpec>> = [(
            ("default".into(), "web".into()),
            specs_for(&s, &two_slices(), &ctx),
        )]
        .into();
        assert_eq!(
            virtual_ips(&specs)
                .into_iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>(),
            ["10.96.0.20", "192.0.2.7"],
            "NodePorts listen on node addresses, not on the link"
        );
    }

    #[test]
    fn traffic_policies_affinity_and_families() {
        let s = svc(json!({"spec": {
            "type": "NodePort", "clusterIPs": ["10.96.0.20", "fd00:96::20"],
            "internalTrafficPolicy": "Local", "externalTrafficPolicy": "Cluster",
            "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
            "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}}));
        let specs = specs_for(&s, &two_slices(), &NodeContext::new("n1"));
        assert_eq!(
            summary(&specs),
            [
                "default/web:http/10.96.0.20:80 tcp 10.96.0.20:80 [10.1.0.1:8080 10.1.0.3:8080!]",
                "default/web:http/[fd00:96::20]:80 tcp [fd00:96::20]:80 []",
                "default/web:http/0.0.0.0:30080 tcp 0.0.0.0:30080 [10.1.0.1:8080 10.1.0.2:8080~ 10.1.0.3:8080! 10.1.0.4:8080]",
            ],
            "internal Local keeps this node's endpoints; IPv6 endpoints have no nodeName"
        );
        assert!(
            specs
                .iter()
                .all(|s| s.affinity_timeout == Some(60 * SECOND))
        );
        let s = svc(
            json!({"spec": {"clusterIP": "10.96.0.20", "externalTrafficPolicy": "Local",
            "type": "NodePort", "sessionAffinity": "ClientIP",
            "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}}),
        );
        let specs = specs_for(&s, &two_slices(), &NodeContext::new("n2"));
        assert_eq!(
            summary(&specs)[1],
            "default/web:http/0.0.0.0:30080 tcp 0.0.0.0:30080 [10.1.0.2:8080~ 10.1.0.4:8080]"
        );
        assert_eq!(
            specs[0].affinity_timeout,
            Some(DEFAULT_AFFINITY_TIMEOUT_SECONDS * SECOND)
        );
    }

    #[test]
    fn services_without_table_entries() {
        let ctx = NodeContext::new("n1");
        let headless =
            svc(json!({"spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80}]}}));
        assert!(specs_for(&headless, &two_slices(), &ctx).is_empty());
        let ext = svc(json!({"spec": {"type": "ExternalName", "externalName": "example.com"}}));
        assert!(specs_for(&ext, &[], &ctx).is_empty());
        let mut skip = NodeContext::new("n1");
        skip.skip.insert(("default".into(), "web".into()));
        let plain = svc(
            json!({"spec": {"clusterIP": "10.96.0.20", "ports": [{"name": "http", "port": 80}]}}),
        );
        assert!(specs_for(&plain, &two_slices(), &skip).is_empty());
        // An unnamed port matches the slice's unnamed port only.
        let unnamed = svc(json!({"spec": {"clusterIP": "10.96.0.20", "ports": [{"port": 80}]}}));
        assert_eq!(
            summary(&specs_for(&unnamed, &two_slices(), &ctx)),
            ["default/web:80/10.96.0.20:80 tcp 10.96.0.20:80 []"]
        );
    }

    #[test]
    fn diff_touches_only_what_changed() {
        let ctx = NodeContext::new("n1");
        let s = svc(
            json!({"spec": {"clusterIP": "10.96.0.20", "type": "NodePort",
            "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}}),
        );
        let before = specs_for(&s, &two_slices(), &ctx);
        assert!(diff(&before, &before).is_empty());
        let mut slices = two_slices();
        slices.remove(1);
        let after = specs_for(&s, &slices, &ctx);
        let d = diff(&before, &after);
        assert_eq!(
            d.len(),
            2,
            "both addresses of the port get the new endpoints"
        );
        // Only endpoints changed: the differences go, not the lists.
        use clipper_dataplane::service::EndpointChange;
        for (c, (b, a)) in d.iter().zip(before.iter().zip(&after)) {
            let clipper_dataplane::Change::Endpoints { key, delta } = c else {
                panic!("{c:?}")
            };
            assert_eq!(*key, a.key);
            assert!(!delta.is_empty());
            let mut eps = b.endpoints.clone();
            for ch in delta {
                match ch {
                    EndpointChange::Set(e) => match eps.iter_mut().find(|x| x.addr == e.addr) {
                        Some(x) => *x = e.clone(),
                        None => eps.push(e.clone()),
                    },
                    EndpointChange::Remove(r) => eps.retain(|x| x.addr != *r),
                }
            }
            let sorted = |mut v: Vec<clipper_dataplane::service::Endpoint>| {
                v.sort_by_key(|e| e.addr);
                v
            };
            assert_eq!(sorted(eps), sorted(a.endpoints.clone()));
        }
        // Anything else changed: the full spec.
        let mut other = after.clone();
        other[0].affinity_timeout = Some(SECOND);
        assert!(matches!(
            diff(&after, &other)[..],
            [clipper_dataplane::Change::Upsert(_)]
        ));
        let d = diff(&before, &[]);
        assert_eq!(d.len(), 2);
        assert!(
            d.iter()
                .all(|c| matches!(c, clipper_dataplane::Change::Remove(_)))
        );
    }
}
