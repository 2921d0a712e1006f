//! The cluster zone: the records of the Kubernetes DNS specification, computed from Services,
//! EndpointSlices and Pods. Pure: no sockets, no clock, no threads.
//!
//! What is answered (names relative to the cluster domain `<d>`):
//!
//! | name | records |
//! | --- | --- |
//! | `<d>` | SOA |
//! | `dns-version.<d>` | TXT with the schema version |
//! | `<svc>.<ns>.svc.<d>` | ClusterIP service: A/AAAA of its ClusterIPs by family; headless: A/AAAA of its ready endpoints (NXDOMAIN when it has none); ExternalName: CNAME |
//! | `<host>.<svc>.<ns>.svc.<d>` | A/AAAA of the ready endpoints whose hostname is `<host>`, or whose address written with dashes is `<host>` when they have no hostname |
//! | `_<port>._<proto>.<svc>.<ns>.svc.<d>` | SRV for a named port: ClusterIP service, one record per matching port pointing at the service; headless, one per ready endpoint and matching port pointing at `<host>.<svc>...`; targets' A/AAAA in the additional section |
//! | `a-b-c-d.<ns>.pod.<d>` | A (and `fd00--1` style names AAAA), per [`PodMode`] |
//! | `<d.c.b.a>.in-addr.arpa`, `ip6.arpa` | PTR for ClusterIPs and ready endpoint addresses; reverse names the zone does not know are forwarded |
//!
//! A name under `<d>` that matches nothing is NXDOMAIN; a name that exists but has no record of
//! the asked type is NODATA; both carry the zone's SOA for negative caching. Comparisons are
//! case-insensitive. A namespace exists for the zone while it holds a Service, an EndpointSlice
//! or a Pod: the zone does not watch Namespace objects.

use std::collections::{BTreeMap, BTreeSet, btree_map};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use clipper_proto::api::core::v1::{Pod, Service};
use clipper_proto::api::discovery::v1::EndpointSlice;
use clipper_proto::api::meta::v1::ObjectMeta;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use imbl::{OrdMap, OrdSet};

/// The TTL of every record unless configured otherwise.
pub const DEFAULT_TTL: u32 = 30;

/// The version of the Kubernetes DNS schema served at `dns-version.<domain>` (CoreDNS's value).
pub const SCHEMA_VERSION: &str = "1.1.0";

/// The TTL of the `dns-version` TXT record (CoreDNS's value).
const SCHEMA_VERSION_TTL: u32 = 28800;

/// The label EndpointSlices carry with the name of their Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The legacy annotation that publishes not-ready endpoints (the specification's "ready").
const TOLERATE_UNREADY_ANNOTATION: &str = "service.alpha.kubernetes.io/tolerate-unready-endpoints";

/// How `a-b-c-d.<ns>.pod.<domain>` names are answered (CoreDNS's `pods` option).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PodMode {
    /// Any well-formed address in a namespace the zone knows is answered, whether or not a pod
    /// has it (CoreDNS `pods insecure`, the default of its stock Corefile).
    #[default]
    Insecure,
    /// Only addresses of pods in that namespace are answered (CoreDNS `pods verified`).
    Verified,
    /// Pod names are NXDOMAIN (CoreDNS `pods disabled`).
    Disabled,
}

/// What a zone serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneConfig {
    /// The cluster domain, e.g. `cluster.local` (a trailing dot is accepted).
    pub cluster_domain: String,
    /// The TTL of the records, and the SOA's negative-caching TTL.
    pub ttl: u32,
    pub pod_mode: PodMode,
}

impl Default for ZoneConfig {
    fn default() -> Self {
        Self {
            cluster_domain: "cluster.local".to_owned(),
            ttl: DEFAULT_TTL,
            pod_mode: PodMode::Insecure,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ZoneError {
    #[error("invalid cluster domain {domain:?}: {reason}")]
    InvalidClusterDomain { domain: String, reason: String },
    #[error("{kind} without metadata.{field}")]
    MissingMetadata {
        kind: &'static str,
        field: &'static str,
    },
}

/// The zone's answer to one question.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// The name has records of the asked type (or a CNAME, which the server follows). Additional
    /// records are the SRV targets' addresses.
    Records {
        answers: Vec<Record>,
        additionals: Vec<Record>,
    },
    /// The name exists but has no record of the asked type (NOERROR, empty answer).
    NoData { soa: Record },
    /// The name does not exist.
    NxDomain { soa: Record },
    /// Not the zone's business: a name outside the cluster domain, or a reverse name the zone
    /// has no PTR for. The server forwards it upstream.
    Forward,
}

type Key = (String, String);

#[derive(Clone, Debug, PartialEq, Eq)]
struct PortEntry {
    /// Lowercase; empty for an unnamed port.
    name: String,
    /// Lowercase: `tcp`, `udp` or `sctp`.
    protocol: String,
    port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum ServiceKind {
    ClusterIp(Vec<IpAddr>),
    Headless,
    /// `None` when `spec.externalName` is not a usable name: the service then has no records.
    ExternalName(Option<Name>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ServiceEntry {
    kind: ServiceKind,
    ports: Vec<PortEntry>,
    publish_not_ready: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct EndpointEntry {
    addresses: Vec<IpAddr>,
    /// Lowercase; `None` when unset or empty.
    hostname: Option<String>,
    ready: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct SliceEntry {
    /// The owning Service's name (from the service-name label), lowercase.
    service: Option<String>,
    endpoints: Vec<EndpointEntry>,
    ports: Vec<PortEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct PodEntry {
    ips: Vec<IpAddr>,
}

/// Where a reverse lookup of an address may find a name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum IpRef {
    Service(Key),
    Slice(Key),
}

/// The cluster zone. Cheap to clone (persistent maps), so that [`ZoneHandle`] can publish a new
/// version per change while readers keep the one they loaded.
#[derive(Clone, Debug)]
pub struct Zone {
    config: ZoneConfig,
    /// The cluster domain, lowercase, fully qualified.
    domain: Name,
    /// Its labels, lowercase, leftmost first.
    domain_labels: Vec<String>,
    soa: Record,
    services: OrdMap<Key, Arc<ServiceEntry>>,
    slices: OrdMap<Key, Arc<SliceEntry>>,
    /// (namespace, service) → names of its slices.
    slices_by_service: OrdMap<Key, OrdSet<String>>,
    pods: OrdMap<Key, Arc<PodEntry>>,
    /// (namespace, pod IP) → how many pods have it.
    pod_ips: OrdMap<(String, IpAddr), usize>,
    /// namespace → how many services, slices and pods it holds.
    namespaces: OrdMap<String, usize>,
    /// address → the objects that may give it a PTR record.
    by_ip: OrdMap<IpAddr, OrdSet<IpRef>>,
}

impl Zone {
    pub fn new(config: ZoneConfig) -> Result<Self, ZoneError> {
        let trimmed = config.cluster_domain.trim().trim_end_matches('.');
        let invalid = |reason: String| ZoneError::InvalidClusterDomain {
            domain: config.cluster_domain.clone(),
            reason,
        };
        if trimmed.is_empty() {
            return Err(invalid("it is empty".to_owned()));
        }
        let domain = Name::from_ascii(format!("{trimmed}."))
            .map_err(|e| invalid(e.to_string()))?
            .to_lowercase();
        let domain_labels: Vec<String> = domain.iter().map(label_string).collect();
        if domain_labels.iter().any(|l| l.is_empty()) {
            return Err(invalid("it has an empty label".to_owned()));
        }
        let mname = Name::from_ascii("ns.dns")
            .and_then(|n| n.append_domain(&domain))
            .map_err(|e| invalid(e.to_string()))?;
        let rname = Name::from_ascii("hostmaster")
            .and_then(|n| n.append_domain(&domain))
            .map_err(|e| invalid(e.to_string()))?;
        let soa = Record::from_rdata(
            domain.clone(),
            config.ttl,
            RData::SOA(SOA::new(mname, rname, 1, 7200, 1800, 86400, config.ttl)),
        );
        Ok(Self {
            config,
            domain,
            domain_labels,
            soa,
            services: OrdMap::new(),
            slices: OrdMap::new(),
            slices_by_service: OrdMap::new(),
            pods: OrdMap::new(),
            pod_ips: OrdMap::new(),
            namespaces: OrdMap::new(),
            by_ip: OrdMap::new(),
        })
    }

    pub fn config(&self) -> &ZoneConfig {
        &self.config
    }

    /// The cluster domain as a lowercase, fully qualified name.
    pub fn domain(&self) -> &Name {
        &self.domain
    }

    /// The zone's SOA record. Its serial counts the changes made to the zone (wrapping).
    pub fn soa(&self) -> &Record {
        &self.soa
    }

    /// Adds or replaces a Service.
    pub fn upsert_service(&mut self, service: &Service) -> Result<(), ZoneError> {
        let key = object_key(&service.metadata, "Service")?;
        let entry = Arc::new(ServiceEntry::from_service(service));
        let new_ips = entry.cluster_ips().to_vec();
        let old = self.services.insert(key.clone(), entry);
        match old {
            Some(old) => {
                for ip in old.cluster_ips() {
                    self.unindex_ip(*ip, &IpRef::Service(key.clone()));
                }
            }
            None => self.namespace_add(&key.0),
        }
        for ip in new_ips {
            self.index_ip(ip, IpRef::Service(key.clone()));
        }
        self.bump_serial();
        Ok(())
    }

    /// Removes a Service (a no-op when the zone does not have it).
    pub fn remove_service(&mut self, namespace: &str, name: &str) {
        let key = (namespace.to_ascii_lowercase(), name.to_ascii_lowercase());
        if let Some(old) = self.services.remove(&key) {
            for ip in old.cluster_ips() {
                self.unindex_ip(*ip, &IpRef::Service(key.clone()));
            }
            self.namespace_remove(&key.0);
            self.bump_serial();
        }
    }

    /// Adds or replaces an EndpointSlice. It belongs to the Service named by its
    /// `kubernetes.io/service-name` label; a slice without it is kept but serves nothing.
    pub fn upsert_slice(&mut self, slice: &EndpointSlice) -> Result<(), ZoneError> {
        let key = object_key(&slice.metadata, "EndpointSlice")?;
        let entry = Arc::new(SliceEntry::from_slice(slice));
        if self.slices.contains_key(&key) {
            self.detach_slice(&key);
        } else {
            self.namespace_add(&key.0);
        }
        if let Some(service) = &entry.service {
            let service_key = (key.0.clone(), service.clone());
            let mut names = self
                .slices_by_service
                .get(&service_key)
                .cloned()
                .unwrap_or_default();
            names.insert(key.1.clone());
            self.slices_by_service.insert(service_key, names);
        }
        for ip in entry.addresses() {
            self.index_ip(ip, IpRef::Slice(key.clone()));
        }
        self.slices.insert(key, entry);
        self.bump_serial();
        Ok(())
    }

    /// Removes an EndpointSlice (a no-op when the zone does not have it).
    pub fn remove_slice(&mut self, namespace: &str, name: &str) {
        let key = (namespace.to_ascii_lowercase(), name.to_ascii_lowercase());
        if self.slices.contains_key(&key) {
            self.detach_slice(&key);
            self.slices.remove(&key);
            self.namespace_remove(&key.0);
            self.bump_serial();
        }
    }

    /// Adds or replaces a Pod (its namespace and, for [`PodMode::Verified`], its IPs).
    pub fn upsert_pod(&mut self, pod: &Pod) -> Result<(), ZoneError> {
        let key = object_key(&pod.metadata, "Pod")?;
        let entry = Arc::new(PodEntry::from_pod(pod));
        for ip in &entry.ips {
            let counter = (key.0.clone(), *ip);
            let n = self.pod_ips.get(&counter).copied().unwrap_or(0);
            self.pod_ips.insert(counter, n + 1);
        }
        match self.pods.insert(key.clone(), entry) {
            Some(old) => self.forget_pod_ips(&key.0, &old),
            None => self.namespace_add(&key.0),
        }
        self.bump_serial();
        Ok(())
    }

    /// Removes a Pod (a no-op when the zone does not have it).
    pub fn remove_pod(&mut self, namespace: &str, name: &str) {
        let key = (namespace.to_ascii_lowercase(), name.to_ascii_lowercase());
        if let Some(old) = self.pods.remove(&key) {
            self.forget_pod_ips(&key.0, &old);
            self.namespace_remove(&key.0);
            self.bump_serial();
        }
    }

    /// Whether the zone knows the namespace (holds a Service, EndpointSlice or Pod in it).
    pub fn has_namespace(&self, namespace: &str) -> bool {
        self.namespaces
            .contains_key(namespace.to_ascii_lowercase().as_str())
    }

    /// Answers one question of class IN. The answer's owner names are `name` as given (case
    /// preserved, made fully qualified).
    pub fn lookup(&self, name: &Name, qtype: RecordType) -> Answer {
        let mut owner = name.clone();
        owner.set_fqdn(true);
        let labels: Vec<String> = owner.iter().map(label_string).collect();

        if qtype == RecordType::PTR
            && let Some(ip) = reverse_name_ip(&labels)
        {
            let answers: Vec<Record> = self
                .ptr_names(ip)
                .into_iter()
                .map(|target| self.record(&owner, RData::PTR(PTR(target))))
                .collect();
            return if answers.is_empty() {
                Answer::Forward
            } else {
                Answer::Records {
                    answers,
                    additionals: Vec::new(),
                }
            };
        }

        let Some(relative_len) = labels.len().checked_sub(self.domain_labels.len()) else {
            return Answer::Forward;
        };
        if labels[relative_len..] != self.domain_labels[..] {
            return Answer::Forward;
        }
        let relative: Vec<&str> = labels[..relative_len].iter().map(String::as_str).collect();
        let found = match relative.as_slice() {
            [] => Found::records(if wants(qtype, RecordType::SOA) {
                vec![self.soa.clone()]
            } else {
                Vec::new()
            }),
            ["dns-version"] => Found::records(if wants(qtype, RecordType::TXT) {
                let mut record = self.record(
                    &owner,
                    RData::TXT(TXT::new(vec![SCHEMA_VERSION.to_owned()])),
                );
                record.ttl = SCHEMA_VERSION_TTL;
                vec![record]
            } else {
                Vec::new()
            }),
            ["svc"] | ["pod"] => Found::records(Vec::new()),
            [namespace, "svc" | "pod"] => {
                if self.namespaces.contains_key(*namespace) {
                    Found::records(Vec::new())
                } else {
                    Found::NxDomain
                }
            }
            [service, namespace, "svc"] => self.service_records(&owner, namespace, service, qtype),
            [host, service, namespace, "svc"] => {
                self.endpoint_records(&owner, namespace, service, host, qtype)
            }
            [port, protocol, service, namespace, "svc"] => {
                self.srv_records(&owner, namespace, service, port, protocol, qtype)
            }
            [address, namespace, "pod"] => self.pod_records(&owner, namespace, address, qtype),
            _ => Found::NxDomain,
        };
        match found {
            Found::NxDomain => Answer::NxDomain {
                soa: self.soa.clone(),
            },
            Found::Records {
                answers,
                additionals,
            } if answers.is_empty() => {
                drop(additionals);
                Answer::NoData {
                    soa: self.soa.clone(),
                }
            }
            Found::Records {
                answers,
                additionals,
            } => Answer::Records {
                answers,
                additionals,
            },
        }
    }

    fn service_records(
        &self,
        owner: &Name,
        namespace: &str,
        service: &str,
        qtype: RecordType,
    ) -> Found {
        let key = (namespace.to_owned(), service.to_owned());
        let Some(entry) = self.services.get(&key) else {
            return Found::NxDomain;
        };
        match &entry.kind {
            ServiceKind::ExternalName(None) => Found::NxDomain,
            ServiceKind::ExternalName(Some(target)) => Found::records(vec![
                self.record(owner, RData::CNAME(CNAME(target.clone()))),
            ]),
            ServiceKind::ClusterIp(ips) => Found::records(self.address_records(owner, ips, qtype)),
            ServiceKind::Headless => {
                let mut ips = Vec::new();
                for (_, endpoint) in self.ready_endpoints(&key, entry) {
                    ips.extend(endpoint.addresses.iter().copied());
                }
                if ips.is_empty() {
                    return Found::NxDomain;
                }
                Found::records(self.address_records(owner, &dedup(ips), qtype))
            }
        }
    }

    fn endpoint_records(
        &self,
        owner: &Name,
        namespace: &str,
        service: &str,
        host: &str,
        qtype: RecordType,
    ) -> Found {
        let key = (namespace.to_owned(), service.to_owned());
        let Some(entry) = self.services.get(&key) else {
            return Found::NxDomain;
        };
        if matches!(entry.kind, ServiceKind::ExternalName(_)) {
            return Found::NxDomain;
        }
        // `_tcp.<svc>...` is the empty non-terminal above `_<port>._tcp.<svc>...`: NODATA while
        // some SRV record lies below it, so that resolvers cutting at NXDOMAIN (RFC 8020) keep
        // looking the SRV records up.
        if let Some(protocol) = host.strip_prefix('_') {
            return if self.srv_targets(&key, entry, None, protocol).is_empty() {
                Found::NxDomain
            } else {
                Found::records(Vec::new())
            };
        }
        let mut ips = Vec::new();
        for (_, endpoint) in self.ready_endpoints(&key, entry) {
            for (name, addresses) in endpoint.names() {
                if name == host {
                    ips.extend(addresses);
                }
            }
        }
        if ips.is_empty() {
            return Found::NxDomain;
        }
        Found::records(self.address_records(owner, &dedup(ips), qtype))
    }

    fn srv_records(
        &self,
        owner: &Name,
        namespace: &str,
        service: &str,
        port: &str,
        protocol: &str,
        qtype: RecordType,
    ) -> Found {
        let (Some(port), Some(protocol)) = (port.strip_prefix('_'), protocol.strip_prefix('_'))
        else {
            return Found::NxDomain;
        };
        if port.is_empty() {
            return Found::NxDomain;
        }
        let key = (namespace.to_owned(), service.to_owned());
        let Some(entry) = self.services.get(&key) else {
            return Found::NxDomain;
        };
        let targets = self.srv_targets(&key, entry, Some(port), protocol);
        if targets.is_empty() {
            return Found::NxDomain;
        }
        if !wants(qtype, RecordType::SRV) {
            return Found::records(Vec::new());
        }
        let weight = u16::try_from((100 / targets.len()).max(1)).unwrap_or(1);
        let mut answers = Vec::with_capacity(targets.len());
        // The targets' addresses, once per target name, in order of first appearance.
        let mut glue: Vec<(Name, Vec<IpAddr>)> = Vec::new();
        let mut glue_index: BTreeMap<String, usize> = BTreeMap::new();
        for target in targets {
            answers.push(self.record(
                owner,
                RData::SRV(SRV::new(0, weight, target.port, target.name.clone())),
            ));
            match glue_index.entry(target.name.to_ascii()) {
                btree_map::Entry::Occupied(at) => {
                    let addresses = &mut glue[*at.get()].1;
                    for address in target.addresses {
                        if !addresses.contains(&address) {
                            addresses.push(address);
                        }
                    }
                }
                btree_map::Entry::Vacant(at) => {
                    at.insert(glue.len());
                    glue.push((target.name, target.addresses));
                }
            }
        }
        let additionals = glue
            .iter()
            .flat_map(|(name, addresses)| self.address_records(name, addresses, RecordType::ANY))
            .collect();
        Found::Records {
            answers,
            additionals,
        }
    }

    /// The SRV targets of a service for a named port (any named port when `port` is `None`) and
    /// protocol, without duplicates, in a stable order.
    fn srv_targets(
        &self,
        key: &Key,
        entry: &ServiceEntry,
        port: Option<&str>,
        protocol: &str,
    ) -> Vec<SrvTarget> {
        let matches = |p: &PortEntry| {
            !p.name.is_empty() && port.is_none_or(|port| p.name == port) && p.protocol == protocol
        };
        let mut targets: Vec<SrvTarget> = Vec::new();
        match &entry.kind {
            ServiceKind::ExternalName(_) => {}
            ServiceKind::ClusterIp(ips) => {
                let Some(name) = self.service_name(&key.0, &key.1) else {
                    return targets;
                };
                for p in entry.ports.iter().filter(|p| matches(p)) {
                    targets.push(SrvTarget {
                        name: name.clone(),
                        port: p.port,
                        addresses: ips.clone(),
                    });
                }
            }
            ServiceKind::Headless => {
                for (slice, endpoint) in self.ready_endpoints(key, entry) {
                    for p in slice.ports.iter().filter(|p| matches(p)) {
                        for (host, addresses) in endpoint.names() {
                            let Some(name) = self.endpoint_name(&key.0, &key.1, &host) else {
                                continue;
                            };
                            targets.push(SrvTarget {
                                name,
                                port: p.port,
                                addresses,
                            });
                        }
                    }
                }
            }
        }
        // One record per target and port; an endpoint in an IPv4 and an IPv6 slice under one
        // hostname is one target with both addresses.
        let mut merged: Vec<SrvTarget> = Vec::with_capacity(targets.len());
        let mut index: BTreeMap<(String, u16), usize> = BTreeMap::new();
        for target in targets {
            match index.entry((target.name.to_ascii(), target.port)) {
                btree_map::Entry::Occupied(at) => {
                    let existing = &mut merged[*at.get()];
                    for address in target.addresses {
                        if !existing.addresses.contains(&address) {
                            existing.addresses.push(address);
                        }
                    }
                }
                btree_map::Entry::Vacant(at) => {
                    at.insert(merged.len());
                    merged.push(target);
                }
            }
        }
        merged
    }

    fn pod_records(
        &self,
        owner: &Name,
        namespace: &str,
        address: &str,
        qtype: RecordType,
    ) -> Found {
        let Some(ip) = dashed_ip(address) else {
            return Found::NxDomain;
        };
        let known = match self.config.pod_mode {
            PodMode::Disabled => false,
            PodMode::Insecure => self.namespaces.contains_key(namespace),
            PodMode::Verified => self.pod_ips.contains_key(&(namespace.to_owned(), ip)),
        };
        if !known {
            return Found::NxDomain;
        }
        Found::records(self.address_records(owner, &[ip], qtype))
    }

    /// The names an address has a PTR record for: the services whose ClusterIP it is, then the
    /// ready endpoints that have it.
    fn ptr_names(&self, ip: IpAddr) -> Vec<Name> {
        let Some(refs) = self.by_ip.get(&ip) else {
            return Vec::new();
        };
        let mut names = Vec::new();
        for r in refs {
            match r {
                IpRef::Service(key) => {
                    if let Some(entry) = self.services.get(key)
                        && entry.cluster_ips().contains(&ip)
                        && let Some(name) = self.service_name(&key.0, &key.1)
                    {
                        names.push(name);
                    }
                }
                IpRef::Slice(slice_key) => {
                    let Some(slice) = self.slices.get(slice_key) else {
                        continue;
                    };
                    let Some(service) = &slice.service else {
                        continue;
                    };
                    let service_key = (slice_key.0.clone(), service.clone());
                    let Some(entry) = self.services.get(&service_key) else {
                        continue;
                    };
                    if matches!(entry.kind, ServiceKind::ExternalName(_)) {
                        continue;
                    }
                    for endpoint in &slice.endpoints {
                        if !entry.accepts(endpoint) {
                            continue;
                        }
                        for (host, addresses) in endpoint.names() {
                            if addresses.contains(&ip)
                                && let Some(name) =
                                    self.endpoint_name(&service_key.0, &service_key.1, &host)
                            {
                                names.push(name);
                            }
                        }
                    }
                }
            }
        }
        let mut seen = BTreeSet::new();
        names.retain(|n| seen.insert(n.to_ascii()));
        names
    }

    /// The endpoints of a service that DNS publishes, from all its slices, in slice-name order.
    fn ready_endpoints<'a>(
        &'a self,
        key: &Key,
        entry: &'a ServiceEntry,
    ) -> impl Iterator<Item = (&'a SliceEntry, &'a EndpointEntry)> + 'a {
        let slices: Vec<&'a SliceEntry> = self
            .slices_by_service
            .get(key)
            .into_iter()
            .flat_map(|names| names.iter())
            .filter_map(|name| self.slices.get(&(key.0.clone(), name.clone())))
            .map(|slice| &**slice)
            .collect();
        slices.into_iter().flat_map(move |slice| {
            slice
                .endpoints
                .iter()
                .filter(move |endpoint| entry.accepts(endpoint))
                .map(move |endpoint| (slice, endpoint))
        })
    }

    fn address_records(&self, owner: &Name, ips: &[IpAddr], qtype: RecordType) -> Vec<Record> {
        ips.iter()
            .filter_map(|ip| match ip {
                IpAddr::V4(v4) if wants(qtype, RecordType::A) => Some(RData::A(A(*v4))),
                IpAddr::V6(v6) if wants(qtype, RecordType::AAAA) => Some(RData::AAAA(AAAA(*v6))),
                _ => None,
            })
            .map(|data| self.record(owner, data))
            .collect()
    }

    fn record(&self, owner: &Name, data: RData) -> Record {
        Record::from_rdata(owner.clone(), self.config.ttl, data)
    }

    /// `<service>.<namespace>.svc.<domain>.`
    fn service_name(&self, namespace: &str, service: &str) -> Option<Name> {
        Name::from_ascii(format!("{service}.{namespace}.svc"))
            .and_then(|n| n.append_domain(&self.domain))
            .ok()
    }

    /// `<host>.<service>.<namespace>.svc.<domain>.`
    fn endpoint_name(&self, namespace: &str, service: &str, host: &str) -> Option<Name> {
        Name::from_ascii(format!("{host}.{service}.{namespace}.svc"))
            .and_then(|n| n.append_domain(&self.domain))
            .ok()
    }

    fn detach_slice(&mut self, key: &Key) {
        let Some(old) = self.slices.get(key).cloned() else {
            return;
        };
        if let Some(service) = &old.service {
            let service_key = (key.0.clone(), service.clone());
            if let Some(mut names) = self.slices_by_service.get(&service_key).cloned() {
                names.remove(&key.1);
                if names.is_empty() {
                    self.slices_by_service.remove(&service_key);
                } else {
                    self.slices_by_service.insert(service_key, names);
                }
            }
        }
        for ip in old.addresses() {
            self.unindex_ip(ip, &IpRef::Slice(key.clone()));
        }
    }

    fn forget_pod_ips(&mut self, namespace: &str, pod: &PodEntry) {
        for ip in &pod.ips {
            let counter = (namespace.to_owned(), *ip);
            match self.pod_ips.get(&counter).copied() {
                Some(n) if n > 1 => {
                    self.pod_ips.insert(counter, n - 1);
                }
                Some(_) => {
                    self.pod_ips.remove(&counter);
                }
                None => {}
            }
        }
    }

    fn index_ip(&mut self, ip: IpAddr, r: IpRef) {
        let mut refs = self.by_ip.get(&ip).cloned().unwrap_or_default();
        refs.insert(r);
        self.by_ip.insert(ip, refs);
    }

    fn unindex_ip(&mut self, ip: IpAddr, r: &IpRef) {
        if let Some(mut refs) = self.by_ip.get(&ip).cloned() {
            refs.remove(r);
            if refs.is_empty() {
                self.by_ip.remove(&ip);
            } else {
                self.by_ip.insert(ip, refs);
            }
        }
    }

    fn namespace_add(&mut self, namespace: &str) {
        let n = self.namespaces.get(namespace).copied().unwrap_or(0);
        self.namespaces.insert(namespace.to_owned(), n + 1);
    }

    fn namespace_remove(&mut self, namespace: &str) {
        match self.namespaces.get(namespace).copied() {
            Some(n) if n > 1 => {
                self.namespaces.insert(namespace.to_owned(), n - 1);
            }
            Some(_) => {
                self.namespaces.remove(namespace);
            }
            None => {}
        }
    }

    fn bump_serial(&mut self) {
        if let RData::SOA(soa) = &mut self.soa.data {
            soa.serial = soa.serial.wrapping_add(1);
        }
    }
}

/// What a name resolved to before the SOA is attached.
enum Found {
    NxDomain,
    Records {
        answers: Vec<Record>,
        additionals: Vec<Record>,
    },
}

impl Found {
    fn records(answers: Vec<Record>) -> Self {
        Found::Records {
            answers,
            additionals: Vec::new(),
        }
    }
}

struct SrvTarget {
    name: Name,
    port: u16,
    addresses: Vec<IpAddr>,
}

impl ServiceEntry {
    fn from_service(service: &Service) -> Self {
        let default_spec = Default::default();
        let spec = service.spec.as_ref().unwrap_or(&default_spec);
        let kind = if spec.type_.as_deref() == Some("ExternalName") {
            ServiceKind::ExternalName(spec.external_name.as_deref().and_then(external_target))
        } else {
            let raw: Vec<&str> = match &spec.cluster_ips {
                Some(ips) if !ips.is_empty() => ips.iter().map(String::as_str).collect(),
                _ => spec.cluster_ip.as_deref().into_iter().collect(),
            };
            if raw
                .first()
                .is_some_and(|ip| ip.eq_ignore_ascii_case("None"))
            {
                ServiceKind::Headless
            } else {
                ServiceKind::ClusterIp(dedup(raw.iter().filter_map(|ip| parse_ip(ip)).collect()))
            }
        };
        let ports = spec
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                Some(PortEntry {
                    name: p.name.as_deref().unwrap_or("").to_ascii_lowercase(),
                    protocol: p.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase(),
                    port: u16::try_from(p.port).ok().filter(|p| *p != 0)?,
                })
            })
            .collect();
        let tolerate_unready = service
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(TOLERATE_UNREADY_ANNOTATION))
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        Self {
            kind,
            ports,
            publish_not_ready: spec.publish_not_ready_addresses == Some(true) || tolerate_unready,
        }
    }

    fn cluster_ips(&self) -> &[IpAddr] {
        match &self.kind {
            ServiceKind::ClusterIp(ips) => ips,
            _ => &[],
        }
    }

    /// Whether DNS publishes the endpoint: ready, or the service publishes not-ready ones.
    fn accepts(&self, endpoint: &EndpointEntry) -> bool {
        endpoint.ready || self.publish_not_ready
    }
}

impl SliceEntry {
    fn from_slice(slice: &EndpointSlice) -> Self {
        let service = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
            .filter(|s| !s.is_empty())
            .map(|s| s.to_ascii_lowercase());
        // FQDN slices carry names, not addresses: nothing DNS can serve from them.
        let fqdn = slice.address_type.eq_ignore_ascii_case("FQDN");
        let endpoints = slice
            .endpoints
            .iter()
            .map(|e| EndpointEntry {
                addresses: if fqdn {
                    Vec::new()
                } else {
                    dedup(e.addresses.iter().filter_map(|a| parse_ip(a)).collect())
                },
                hostname: e
                    .hostname
                    .as_deref()
                    .filter(|h| !h.is_empty())
                    .map(str::to_ascii_lowercase),
                // A missing condition means ready.
                ready: e.conditions.as_ref().and_then(|c| c.ready) != Some(false),
            })
            .collect();
        let ports = slice
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                Some(PortEntry {
                    name: p.name.as_deref().unwrap_or("").to_ascii_lowercase(),
                    protocol: p.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase(),
                    port: u16::try_from(p.port?).ok().filter(|p| *p != 0)?,
                })
            })
            .collect();
        Self {
            service,
            endpoints,
            ports,
        }
    }

    fn addresses(&self) -> BTreeSet<IpAddr> {
        self.endpoints
            .iter()
            .flat_map(|e| e.addresses.iter().copied())
            .collect()
    }
}

impl EndpointEntry {
    /// The endpoint's DNS names under its service with their addresses: its hostname with all
    /// its addresses, or, without a hostname, each address written with dashes.
    fn names(&self) -> Vec<(String, Vec<IpAddr>)> {
        match &self.hostname {
            Some(hostname) if !self.addresses.is_empty() => {
                vec![(hostname.clone(), self.addresses.clone())]
            }
            Some(_) => Vec::new(),
            None => self
                .addresses
                .iter()
                .map(|ip| (ip_dashed(*ip), vec![*ip]))
                .collect(),
        }
    }
}

impl PodEntry {
    fn from_pod(pod: &Pod) -> Self {
        let status = pod.status.as_ref();
        let mut ips: Vec<IpAddr> = status
            .and_then(|s| s.pod_ips.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|p| parse_ip(&p.ip))
            .collect();
        if let Some(ip) = status.and_then(|s| s.pod_ip.as_deref()).and_then(parse_ip) {
            ips.push(ip);
        }
        Self { ips: dedup(ips) }
    }
}

/// A handle on the current zone, shared by the server and whoever feeds it. Readers load the
/// current version without locking; writers copy it (cheap: persistent maps), change the copy
/// and publish it, one writer at a time, so a reader never waits for a writer.
#[derive(Clone)]
pub struct ZoneHandle {
    inner: Arc<HandleInner>,
}

struct HandleInner {
    current: ArcSwap<Zone>,
    writer: parking_lot::Mutex<()>,
}

impl ZoneHandle {
    pub fn new(zone: Zone) -> Self {
        Self {
            inner: Arc::new(HandleInner {
                current: ArcSwap::from_pointee(zone),
                writer: parking_lot::Mutex::new(()),
            }),
        }
    }

    /// The current zone. Later updates do not change it.
    pub fn snapshot(&self) -> Arc<Zone> {
        self.inner.current.load_full()
    }

    /// Applies `change` to a copy of the current zone and publishes the result: readers see all
    /// of a change or none of it. Batch a relist's objects into one call.
    pub fn update<R>(&self, change: impl FnOnce(&mut Zone) -> R) -> R {
        let _writer = self.inner.writer.lock();
        let mut zone = Zone::clone(&self.inner.current.load());
        let result = change(&mut zone);
        self.inner.current.store(Arc::new(zone));
        result
    }

    /// [`Zone::lookup`] on the current zone.
    pub fn lookup(&self, name: &Name, qtype: RecordType) -> Answer {
        self.inner.current.load().lookup(name, qtype)
    }
}

impl std::fmt::Debug for ZoneHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZoneHandle")
            .field("domain", &self.inner.current.load().domain)
            .finish_non_exhaustive()
    }
}

fn object_key(meta: &ObjectMeta, kind: &'static str) -> Result<Key, ZoneError> {
    let field = |value: &Option<String>, field: &'static str| {
        value
            .as_deref()
            .filter(|v| !v.is_empty())
            .map(str::to_ascii_lowercase)
            .ok_or(ZoneError::MissingMetadata { kind, field })
    };
    Ok((
        field(&meta.namespace, "namespace")?,
        field(&meta.name, "name")?,
    ))
}

fn wants(qtype: RecordType, rtype: RecordType) -> bool {
    qtype == rtype || qtype == RecordType::ANY
}

fn label_string(label: &[u8]) -> String {
    String::from_utf8_lossy(label).to_ascii_lowercase()
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim().parse().ok()
}

fn dedup(ips: Vec<IpAddr>) -> Vec<IpAddr> {
    let mut seen = BTreeSet::new();
    ips.into_iter().filter(|ip| seen.insert(*ip)).collect()
}

/// The target of an ExternalName service as a fully qualified name; `None` for an address or a
/// malformed name.
fn external_target(external_name: &str) -> Option<Name> {
    let trimmed = external_name.trim().trim_end_matches('.');
    if trimmed.is_empty() || trimmed.parse::<IpAddr>().is_ok() {
        return None;
    }
    Name::from_ascii(format!("{trimmed}.")).ok()
}

/// An address written with dashes: `10-0-0-1`, `fd00--1`.
pub(crate) fn ip_dashed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => v6.to_string().replace(':', "-"),
    }
}

/// The address a dashed pod label stands for: three dashes and no `--` is IPv4, anything else
/// is tried as IPv6 (CoreDNS's rule).
fn dashed_ip(label: &str) -> Option<IpAddr> {
    if label.matches('-').count() == 3 && !label.contains("--") {
        label
            .replace('-', ".")
            .parse::<Ipv4Addr>()
            .ok()
            .map(IpAddr::V4)
    } else {
        label
            .replace('-', ":")
            .parse::<Ipv6Addr>()
            .ok()
            .map(IpAddr::V6)
    }
}

/// The address of a complete reverse name (`4.3.2.1.in-addr.arpa.`, 32 nibbles under
/// `ip6.arpa.`); labels lowercase, leftmost first.
fn reverse_name_ip(labels: &[String]) -> Option<IpAddr> {
    match labels {
        [d, c, b, a, in_addr, arpa] if in_addr == "in-addr" && arpa == "arpa" => {
            let octet = |s: &String| s.parse::<u8>().ok().filter(|_| s.len() <= 3);
            Some(IpAddr::V4(Ipv4Addr::new(
                octet(a)?,
                octet(b)?,
                octet(c)?,
                octet(d)?,
            )))
        }
        [nibbles @ .., ip6, arpa] if nibbles.len() == 32 && ip6 == "ip6" && arpa == "arpa" => {
            let mut value: u128 = 0;
            for nibble in nibbles.iter().rev() {
                if nibble.len() != 1 {
                    return None;
                }
                value = (value << 4) | u128::from(u8::from_str_radix(nibble, 16).ok()?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(value)))
        }
        _ => None,
    }
}
