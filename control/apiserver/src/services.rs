//! Service ClusterIP and NodePort allocation, race-free through the store: a ClusterIP
//! is held by an IPAddress object named after it (as Kubernetes 1.33's allocator does), a
//! node port by a key under `/registry/clipper/nodeports/`; both are created only if
//! absent, so two Services can never get the same address or port.

use std::net::Ipv4Addr;

use bytes::Bytes;
use clipper_proto::api::core::v1::Service;
use clipper_proto::api::networking::v1::{IPAddress, IPAddressSpec, ParentReference};
use clipper_store::{Store, StoreError};

use crate::admission::{FieldError, Path};
use crate::api::{Api, Scope, WriteOptions};
use crate::status::ApiError;

/// Random draws before a full scan for a free ClusterIP or node port.
const RANDOM_ATTEMPTS: usize = 64;
/// The node port range (`--service-node-port-range`).
pub const NODE_PORT_RANGE: (i32, i32) = (30000, 32767);

/// Parses `--service-node-port-range` (`30000-32767`).
pub fn parse_node_port_range(s: &str) -> Result<(i32, i32), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("node port range {s:?} is not FIRST-LAST"))?;
    let a: i32 = a
        .trim()
        .parse()
        .map_err(|_| format!("node port range {s:?}: {a:?} is not a port"))?;
    let b: i32 = b
        .trim()
        .parse()
        .map_err(|_| format!("node port range {s:?}: {b:?} is not a port"))?;
    if !(1..=65535).contains(&a) || !(1..=65535).contains(&b) || a > b {
        return Err(format!(
            "node port range {s:?}: need 1 <= FIRST <= LAST <= 65535"
        ));
    }
    Ok((a, b))
}
const NODE_PORT_PREFIX: &str = "/registry/clipper/nodeports/";

/// What a Service holds: ClusterIPs and node ports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allocated {
    pub ips: Vec<String>,
    pub node_ports: Vec<i32>,
}

impl Allocated {
    pub fn is_empty(&self) -> bool {
        self.ips.is_empty() && self.node_ports.is_empty()
    }

    /// What `self` holds that `other` does not.
    pub fn minus(&self, other: &Allocated) -> Allocated {
        Allocated {
            ips: self
                .ips
                .iter()
                .filter(|i| !other.ips.contains(i))
                .cloned()
                .collect(),
            node_ports: self
                .node_ports
                .iter()
                .filter(|p| !other.node_ports.contains(p))
                .copied()
                .collect(),
        }
    }
}

/// The allocations a stored Service holds.
pub fn held_by(svc: &Service) -> Allocated {
    let spec = svc.spec.as_ref();
    let ips = spec
        .and_then(|s| {
            s.cluster_ips
                .clone()
                .or_else(|| s.cluster_ip.clone().map(|i| vec![i]))
        })
        .unwrap_or_default()
        .into_iter()
        .filter(|i| !i.is_empty() && i != "None")
        .collect();
    let node_ports = spec
        .and_then(|s| s.ports.as_ref())
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p.node_port)
                .filter(|p| *p > 0)
                .collect()
        })
        .unwrap_or_default();
    Allocated { ips, node_ports }
}

/// An IPv4 CIDR.
#[derive(Clone, Copy, Debug)]
struct Cidr {
    base: u32,
    size: u64,
}

fn parse_cidr(cidr: &str) -> Result<Cidr, ApiError> {
    let (ip, bits) = cidr
        .split_once('/')
        .ok_or_else(|| ApiError::internal(format!("bad service CIDR {cidr}")))?;
    let ip: Ipv4Addr = ip
        .parse()
        .map_err(|_| ApiError::internal(format!("bad service CIDR {cidr}")))?;
    let bits: u32 = bits
        .parse()
        .ok()
        .filter(|b| *b <= 32)
        .ok_or_else(|| ApiError::internal(format!("bad service CIDR {cidr}")))?;
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    Ok(Cidr {
        base: u32::from(ip) & mask,
        size: 1u64 << (32 - bits),
    })
}

impl Cidr {
    fn contains(&self, ip: Ipv4Addr) -> bool {
        let v = u64::from(u32::from(ip));
        v >= u64::from(self.base) && v < u64::from(self.base) + self.size
    }

    /// Usable offsets: not the network address nor the broadcast address.
    fn nth(&self, offset: u64) -> Ipv4Addr {
        Ipv4Addr::from(self.base.wrapping_add(offset as u32))
    }
}

fn invalid(svc: &Service, field: Path, value: &str, detail: &str) -> ApiError {
    ApiError::invalid(
        "",
        "Service",
        svc.metadata.name.as_deref().unwrap_or(""),
        &[FieldError::invalid(&field, value, detail)],
    )
}

async fn reserve_ip(api: &Api, svc: &Service, ip: Ipv4Addr) -> Result<bool, ApiError> {
    let set = api.served.load();
    let served = set
        .get("networking.k8s.io", "v1", "ipaddresses")
        .cloned()
        .ok_or_else(|| ApiError::internal("ipaddresses not served"))?;
    let scope = Scope {
        served,
        namespace: None,
    };
    let obj = IPAddress {
        metadata: clipper_proto::api::meta::v1::ObjectMeta {
            name: Some(ip.to_string()),
            labels: Some(
                [(
                    "ipaddress.kubernetes.io/managed-by".to_string(),
                    "ipallocator.k8s.io".to_string(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        spec: Some(IPAddressSpec {
            parent_ref: ParentReference {
                group: Some(String::new()),
                resource: "services".into(),
                namespace: svc.metadata.namespace.clone(),
                name: svc.metadata.name.clone().unwrap_or_default(),
            },
        }),
    };
    let opts = WriteOptions {
        field_manager: "ipallocator.k8s.io".into(),
        ..Default::default()
    };
    match api.create(&scope, Box::new(obj), &opts).await {
        Ok(_) => Ok(true),
        Err(e) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

async fn reserve_port(api: &Api, svc: &Service, port: i32) -> Result<bool, ApiError> {
    let owner = format!(
        "{}/{}",
        svc.metadata.namespace.clone().unwrap_or_default(),
        svc.metadata.name.clone().unwrap_or_default()
    );
    match api
        .store
        .create(
            Bytes::from(format!("{NODE_PORT_PREFIX}{port}")),
            Bytes::from(owner),
            0,
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(StoreError::AlreadyExists) => Ok(false),
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}

/// Allocates what `svc` needs and does not have yet (keeping `old`'s allocations), and
/// writes them into its spec. Returns what was newly reserved, for release on failure.
pub async fn allocate(
    api: &Api,
    svc: &mut Service,
    old: Option<&Service>,
    dry_run: bool,
) -> Result<Allocated, ApiError> {
    let mut reserved = Allocated::default();
    let result = allocate_inner(api, svc, old, dry_run, &mut reserved).await;
    if result.is_err() && !dry_run {
        release(api, &reserved).await;
    }
    result.map(|_| reserved)
}

async fn allocate_inner(
    api: &Api,
    svc: &mut Service,
    old: Option<&Service>,
    dry_run: bool,
    reserved: &mut Allocated,
) -> Result<(), ApiError> {
    let cidr = parse_cidr(&api.config.service_cidr)?;
    crate::admission::normalize_service_cluster_ips(svc, old);
    let svc_copy = svc.clone();
    let spec = svc.spec.get_or_insert_with(Default::default);
    let type_ = spec.type_.clone().unwrap_or_else(|| "ClusterIP".into());
    if type_ == "ExternalName" {
        return Ok(());
    }
    let old_spec = old.and_then(|o| o.spec.as_ref());
    // ClusterIP.
    let old_ip = old_spec
        .and_then(|s| s.cluster_ip.clone())
        .filter(|i| !i.is_empty());
    let wanted = spec.cluster_ip.clone().filter(|i| !i.is_empty());
    match (wanted.as_deref(), old_ip) {
        (Some("None"), _) => {}
        (None, Some(old_ip)) => {
            spec.cluster_ip = Some(old_ip.clone());
            spec.cluster_ips = old_spec
                .and_then(|s| s.cluster_ips.clone())
                .or(Some(vec![old_ip]));
        }
        (Some(w), Some(old_ip)) if w == old_ip => {
            spec.cluster_ip = Some(old_ip.clone());
            spec.cluster_ips = old_spec
                .and_then(|s| s.cluster_ips.clone())
                .or(Some(vec![old_ip]));
        }
        (Some(ip), _) => {
            let parsed: Ipv4Addr = ip.parse().map_err(|_| {
                invalid(
                    &svc_copy,
                    Path::new("spec").child("clusterIPs").index(0),
                    ip,
                    "must be a valid IP address",
                )
            })?;
            if !cidr.contains(parsed) {
                return Err(invalid(
                    &svc_copy,
                    Path::new("spec").child("clusterIPs").index(0),
                    ip,
                    &format!(
                        "failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
                        api.config.service_cidr
                    ),
                ));
            }
            if !dry_run {
                if !reserve_ip(api, &svc_copy, parsed).await? {
                    return Err(invalid(
                        &svc_copy,
                        Path::new("spec").child("clusterIPs").index(0),
                        ip,
                        &format!("failed to allocate IP {ip}: provided IP is already allocated"),
                    ));
                }
                reserved.ips.push(ip.to_string());
            }
            spec.cluster_ips = Some(vec![ip.to_string()]);
        }
        (None, None) => {
            let usable = cidr.size.saturating_sub(2).max(1);
            let mut chosen = None;
            for attempt in 0..(RANDOM_ATTEMPTS as u64 + usable) {
                let offset = if attempt < RANDOM_ATTEMPTS as u64 {
                    1 + rand::random_range(0..usable)
                } else {
                    1 + (attempt - RANDOM_ATTEMPTS as u64)
                };
                let ip = cidr.nth(offset);
                if dry_run || reserve_ip(api, &svc_copy, ip).await? {
                    chosen = Some(ip.to_string());
                    break;
                }
            }
            let ip = chosen.ok_or_else(|| ApiError::internal("the service IP range is full"))?;
            if !dry_run {
                reserved.ips.push(ip.clone());
            }
            spec.cluster_ip = Some(ip.clone());
            spec.cluster_ips = Some(vec![ip]);
        }
    }
    if spec.cluster_ip.as_deref() != Some("None") {
        spec.ip_families.get_or_insert_with(|| vec!["IPv4".into()]);
        spec.ip_family_policy
            .get_or_insert_with(|| "SingleStack".into());
    }
    // Node ports.
    if type_ == "NodePort" || type_ == "LoadBalancer" {
        let old_ports: Vec<i32> = old_spec
            .and_then(|s| s.ports.as_ref())
            .map(|ps| ps.iter().filter_map(|p| p.node_port).collect())
            .unwrap_or_default();
        for (i, port) in spec.ports.iter_mut().flatten().enumerate() {
            match port.node_port.filter(|p| *p > 0) {
                Some(p) if old_ports.contains(&p) => {}
                Some(p) => {
                    let field = Path::new("spec").child("ports").index(i).child("nodePort");
                    let range = api.config.node_port_range;
                    if !(range.0..=range.1).contains(&p) {
                        return Err(invalid(
                            &svc_copy,
                            field,
                            &p.to_string(),
                            &format!(
                                "provided port is not in the valid range. The range of valid ports is {}-{}",
                                range.0, range.1
                            ),
                        ));
                    }
                    if !dry_run {
                        if !reserve_port(api, &svc_copy, p).await? {
                            return Err(invalid(
                                &svc_copy,
                                field,
                                &p.to_string(),
                                "provided port is already allocated",
                            ));
                        }
                        reserved.node_ports.push(p);
                    }
                }
                None => {
                    let range = api.config.node_port_range;
                    let span = (range.1 - range.0 + 1) as usize;
                    let mut chosen = None;
                    for attempt in 0..(RANDOM_ATTEMPTS + span) {
                        let p = if attempt < RANDOM_ATTEMPTS {
                            range.0 + rand::random_range(0..span as i32)
                        } else {
                            range.0 + (attempt - RANDOM_ATTEMPTS) as i32
                        };
                        if dry_run || reserve_port(api, &svc_copy, p).await? {
                            chosen = Some(p);
                            break;
                        }
                    }
                    let p =
                        chosen.ok_or_else(|| ApiError::internal("the node port range is full"))?;
                    if !dry_run {
                        reserved.node_ports.push(p);
                    }
                    port.node_port = Some(p);
                }
            }
        }
    }
    Ok(())
}

/// Releases allocations (a deleted Service's, or a failed create's).
pub async fn release(api: &Api, allocated: &Allocated) {
    let set = api.served.load();
    if let Some(served) = set.get("networking.k8s.io", "v1", "ipaddresses").cloned() {
        let scope = Scope {
            served,
            namespace: None,
        };
        for ip in &allocated.ips {
            let _ = api.delete(&scope, ip, &Default::default()).await;
        }
    }
    for p in &allocated.node_ports {
        let _ = api
            .store
            .delete(Bytes::from(format!("{NODE_PORT_PREFIX}{p}")), None)
            .await;
    }
}

/// The API server's own Service, `default/kubernetes`, as kube-apiserver's bootstrap
/// controller keeps it: the first address of the service range, port 443 (`https`), no
/// selector, and an EndpointSlice and Endpoints naming `endpoint` — the address and port
/// the server is reached at. In-cluster clients find the API through it (its DNS name and
/// the `KUBERNETES_SERVICE_*` variables). Re-run at every start: the endpoint follows
/// the server's current address.
pub async fn ensure_kubernetes_service(
    server: &crate::http::Server,
    service_cidr: &str,
    endpoint: std::net::SocketAddr,
) -> Result<(), ApiError> {
    let api = &server.api;
    let ip = crate::auth::pki::first_service_ip(service_cidr)
        .map_err(|e| ApiError::internal(format!("the kubernetes Service's address: {e}")))?;
    let scope = |group: &str, version: &str, plural: &str| {
        api.scope(group, version, plural, Some("default"))
    };
    let opts = WriteOptions {
        field_manager: "kube-apiserver".into(),
        ..Default::default()
    };
    let decode = |scope: &Scope,
                  v: serde_json::Value|
     -> Result<Box<dyn crate::object::ApiObject>, ApiError> {
        scope
            .served
            .codec
            .decode_value(v)
            .map(|d| d.value)
            .map_err(|e| ApiError::internal(e.to_string()))
    };
    let services = scope("", "v1", "services")?;
    match api.get(&services, "kubernetes").await {
        Ok(_) => {}
        Err(e) if e.code == 404 => {
            let svc = decode(
                &services,
                serde_json::json!({
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {
                        "name": "kubernetes",
                        "namespace": "default",
                        "labels": { "component": "apiserver", "provider": "kubernetes" },
                    },
                    "spec": {
                        "type": "ClusterIP",
                        "clusterIP": ip.to_string(),
                        "sessionAffinity": "None",
                        "ports": [{
                            "name": "https", "port": 443, "protocol": "TCP",
                            "targetPort": endpoint.port(),
                        }],
                    },
                }),
            )?;
            match crate::hooks::create(server, &services, svc, &opts).await {
                Ok(_) => {}
                Err(e) if e.code == 409 => {}
                Err(e) => return Err(e),
            }
        }
        Err(e) => return Err(e),
    }
    let family = if endpoint.is_ipv4() { "IPv4" } else { "IPv6" };
    let wanted = [
        (
            scope("discovery.k8s.io", "v1", "endpointslices")?,
            serde_json::json!({
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": "kubernetes",
                    "namespace": "default",
                    "labels": {
                        "kubernetes.io/service-name": "kubernetes",
                        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                    },
                },
                "addressType": family,
                "endpoints": [{
                    "addresses": [endpoint.ip().to_string()],
                    "conditions": { "ready": true },
                }],
                "ports": [{ "name": "https", "port": endpoint.port(), "protocol": "TCP" }],
            }),
        ),
        (
            scope("", "v1", "endpoints")?,
            serde_json::json!({
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {
                    "name": "kubernetes",
                    "namespace": "default",
                    "labels": { "endpointslice.kubernetes.io/skip-mirror": "true" },
                },
                "subsets": [{
                    "addresses": [{ "ip": endpoint.ip().to_string() }],
                    "ports": [{ "name": "https", "port": endpoint.port(), "protocol": "TCP" }],
                }],
            }),
        ),
    ];
    for (scope, want) in wanted {
        // Endpoints may not name loopback addresses (the slices may, and the service
        // proxy, which runs on the host, reaches them).
        if scope.served.plural == "endpoints" && endpoint.ip().is_loopback() {
            continue;
        }
        match api.get(&scope, "kubernetes").await {
            Ok(current) => {
                let mut have = current
                    .to_value()
                    .map_err(|e| ApiError::internal(e.to_string()))?;
                let same = ["endpoints", "subsets", "ports"]
                    .iter()
                    .all(|k| have.get(k) == want.get(k));
                if same {
                    continue;
                }
                for k in ["endpoints", "subsets", "ports", "addressType"] {
                    if let Some(v) = want.get(k) {
                        have[k] = v.clone();
                    }
                }
                let object = decode(&scope, have)?;
                api.update(&scope, "kubernetes", object, None, &opts)
                    .await?;
            }
            Err(e) if e.code == 404 => {
                match api.create(&scope, decode(&scope, want)?, &opts).await {
                    Ok(_) => {}
                    Err(e) if e.code == 409 => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_math() {
        let c = parse_cidr("10.96.0.0/12").expect("cidr");
        assert_eq!(c.size, 1 << 20);
        assert!(c.contains("10.96.0.10".parse().expect("ip")));
        assert!(c.contains("10.111.255.254".parse().expect("ip")));
        assert!(!c.contains("10.112.0.1".parse().expect("ip")));
        assert_eq!(c.nth(1).to_string(), "10.96.0.1");
        assert!(parse_cidr("nonsense").is_err());
    }

    #[test]
    fn held_and_minus() {
        let svc: Service = serde_json::from_str(
            r#"{"spec":{"type":"NodePort","clusterIP":"10.96.0.5","clusterIPs":["10.96.0.5"],"ports":[{"port":80,"nodePort":30080}]}}"#,
        )
        .expect("svc");
        let held = held_by(&svc);
        assert_eq!(
            held,
            Allocated {
                ips: vec!["10.96.0.5".into()],
                node_ports: vec![30080]
            }
        );
        let none = Allocated::default();
        assert_eq!(held.minus(&none), held);
        assert!(held.minus(&held).is_empty());
    }
}
