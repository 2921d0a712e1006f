//! Precomputed, immutable views of pods and nodes: everything filters and scores read,
//! parsed once when the object enters the cache instead of once per node per cycle.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use clipper_proto::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodAffinityTerm, Taint as ApiTaint,
    Toleration as ApiToleration,
};
use clipper_proto::selector::{LabelSelectorExpr, Requirement};

use crate::resource::{Resource, pod_requests};

pub type Labels = BTreeMap<String, String>;

/// The label kube-scheduler treats as the per-node topology key.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// A taint effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Effect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
    /// Any other string: never matched by the filters.
    Other,
}

impl Effect {
    pub fn parse(s: &str) -> Effect {
        match s {
            "NoSchedule" => Effect::NoSchedule,
            "PreferNoSchedule" => Effect::PreferNoSchedule,
            "NoExecute" => Effect::NoExecute,
            _ => Effect::Other,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taint {
    pub key: String,
    pub value: String,
    pub effect: Effect,
}

impl Taint {
    pub fn from_api(t: &ApiTaint) -> Taint {
        Taint {
            key: t.key.clone(),
            value: t.value.clone().unwrap_or_default(),
            effect: Effect::parse(&t.effect),
        }
    }
}

/// A toleration; `effect: None` tolerates every effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Toleration {
    pub key: String,
    /// `Exists`; otherwise `Equal` (also for an empty operator).
    pub exists: bool,
    pub value: String,
    pub effect: Option<Effect>,
}

impl Toleration {
    pub fn from_api(t: &ApiToleration) -> Toleration {
        Toleration {
            key: t.key.clone().unwrap_or_default(),
            exists: t.operator.as_deref() == Some("Exists"),
            value: t.value.clone().unwrap_or_default(),
            effect: t
                .effect
                .as_deref()
                .filter(|e| !e.is_empty())
                .map(Effect::parse),
        }
    }

    /// Kubernetes' `ToleratesTaint`.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if let Some(e) = self.effect
            && e != taint.effect
        {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        if self.key.is_empty() && !self.exists {
            // An empty key is only valid with Exists.
            return false;
        }
        self.exists || self.value == taint.value
    }
}

/// Whether any toleration tolerates `taint`.
pub fn tolerated(tols: &[Toleration], taint: &Taint) -> bool {
    tols.iter().any(|t| t.tolerates(taint))
}

/// One node selector term, parsed: label requirements and `metadata.name` field requirements.
/// `None` inside means the term failed to parse and matches nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeTerm {
    pub labels: Vec<Requirement>,
    pub fields: Vec<Requirement>,
    pub valid: bool,
}

fn node_requirement(r: &NodeSelectorRequirement) -> Option<Requirement> {
    let values = r.values.clone().unwrap_or_default();
    let k = r.key.clone();
    Some(match r.operator.as_str() {
        "In" if !values.is_empty() => Requirement::In(k, values),
        "NotIn" if !values.is_empty() => Requirement::NotIn(k, values),
        "Exists" if values.is_empty() => Requirement::Exists(k),
        "DoesNotExist" if values.is_empty() => Requirement::DoesNotExist(k),
        "Gt" if values.len() == 1 => Requirement::GreaterThan(k, values[0].parse().ok()?),
        "Lt" if values.len() == 1 => Requirement::LessThan(k, values[0].parse().ok()?),
        _ => return None,
    })
}

impl NodeTerm {
    pub fn parse(t: &NodeSelectorTerm) -> NodeTerm {
        let mut valid = true;
        let mut labels = Vec::new();
        for r in t.match_expressions.iter().flatten() {
            match node_requirement(r) {
                Some(req) => labels.push(req),
                None => valid = false,
            }
        }
        let mut fields = Vec::new();
        for r in t.match_fields.iter().flatten() {
            // Only metadata.name with In/NotIn and one value is valid for fields.
            let ok = r.key == "metadata.name"
                && matches!(r.operator.as_str(), "In" | "NotIn")
                && r.values.as_ref().is_some_and(|v| v.len() == 1);
            match node_requirement(r) {
                Some(req) if ok => fields.push(req),
                _ => valid = false,
            }
        }
        NodeTerm {
            labels,
            fields,
            valid,
        }
    }

    /// An empty term matches no objects (`nodeSelectorTerms` semantics).
    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        if !self.valid || (self.labels.is_empty() && self.fields.is_empty()) {
            return false;
        }
        self.labels
            .iter()
            .all(|r| r.matches(|k| labels.get(k).map(String::as_str)))
            && self
                .fields
                .iter()
                .all(|r| r.matches(|k| (k == "metadata.name").then_some(node_name)))
    }
}

/// The node constraints of a pod: `nodeSelector` and required node affinity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequiredNodeAffinity {
    pub node_selector: Labels,
    /// `None`: no required affinity; `Some([])`: matches nothing.
    pub terms: Option<Vec<NodeTerm>>,
}

impl RequiredNodeAffinity {
    pub fn is_empty(&self) -> bool {
        self.node_selector.is_empty() && self.terms.is_none()
    }

    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        self.node_selector
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self
                .terms
                .as_ref()
                .is_none_or(|ts| ts.iter().any(|t| t.matches(node_name, labels)))
    }

    /// The node names the pod can only go to, when every term pins `metadata.name In`
    /// (NodeAffinity's PreFilter result, the DaemonSet pattern).
    pub fn pinned_node_names(&self) -> Option<Vec<String>> {
        let terms = self.terms.as_ref()?;
        let mut names = Vec::new();
        for t in terms {
            let mut found = false;
            for f in &t.fields {
                if let Requirement::In(_, vs) = f {
                    names.extend(vs.iter().cloned());
                    found = true;
                }
            }
            if !found {
                return None;
            }
        }
        names.sort();
        names.dedup();
        Some(names)
    }
}

/// A parsed pod (anti-)affinity term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AffinityTerm {
    pub namespaces: Vec<String>,
    pub namespace_selector: Option<LabelSelectorExpr>,
    pub selector: LabelSelectorExpr,
    pub topology_key: String,
    pub weight: i32,
}

impl AffinityTerm {
    fn parse(own_ns: &str, t: &PodAffinityTerm, weight: i32) -> AffinityTerm {
        let selector = LabelSelectorExpr::from_api(t.label_selector.as_ref())
            .unwrap_or_else(|_| LabelSelectorExpr::nothing());
        let namespace_selector = t.namespace_selector.as_ref().map(|s| {
            LabelSelectorExpr::from_api(Some(s)).unwrap_or_else(|_| LabelSelectorExpr::nothing())
        });
        let mut namespaces = t.namespaces.clone().unwrap_or_default();
        if namespaces.is_empty() && namespace_selector.is_none() {
            namespaces.push(own_ns.to_string());
        }
        AffinityTerm {
            namespaces,
            namespace_selector,
            selector,
            topology_key: t.topology_key.clone(),
            weight,
        }
    }

    /// Whether `pod` is selected by this term (namespace and labels).
    pub fn matches(&self, pod: &PodInfo, ns_labels: &dyn Fn(&str) -> Option<Arc<Labels>>) -> bool {
        let ns_ok = self.namespaces.contains(&pod.namespace)
            || self.namespace_selector.as_ref().is_some_and(|s| {
                if s.is_everything() {
                    return true;
                }
                ns_labels(&pod.namespace).is_some_and(|l| s.matches(&l))
            });
        ns_ok && self.selector.matches(&pod.labels)
    }
}

/// What a spread constraint does when it cannot be satisfied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenUnsatisfiable {
    DoNotSchedule,
    ScheduleAnyway,
}

/// A parsed topology spread constraint (with `matchLabelKeys` merged into the selector).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpreadConstraint {
    pub max_skew: i32,
    pub topology_key: String,
    pub when: WhenUnsatisfiable,
    pub selector: LabelSelectorExpr,
    pub min_domains: i32,
    /// nodeAffinityPolicy Honor (the default).
    pub honor_node_affinity: bool,
    /// nodeTaintsPolicy Honor (default Ignore).
    pub honor_taints: bool,
}

/// A host port a pod uses on its node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// "0.0.0.0" for all addresses.
    pub ip: String,
    pub protocol: String,
    pub port: i32,
}

impl HostPort {
    /// Kubernetes' `CheckConflict`: a wildcard IP conflicts with every IP.
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }
}

/// Normalizes an image name as kube-scheduler does for ImageLocality: no tag and no
/// digest → `:latest`.
pub fn normalized_image_name(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || last.contains('@') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// A pod, parsed once. Cheap to share (`Arc<PodInfo>`) between node infos and snapshots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodInfo {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub labels: Labels,
    pub priority: i32,
    /// preemptionPolicy Never.
    pub preemption_never: bool,
    /// `status.startTime` (or creation time), seconds; used to order preemption victims.
    pub start_time_s: i64,
    pub terminating: bool,
    pub node_name: String,
    pub requests: Resource,
    /// cpu and memory with the scoring defaults applied.
    pub non_zero_cpu: i64,
    pub non_zero_mem: i64,
    pub host_ports: Vec<HostPort>,
    pub node_affinity: RequiredNodeAffinity,
    pub preferred_node_terms: Vec<(i32, NodeTerm)>,
    pub tolerations: Vec<Toleration>,
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<AffinityTerm>,
    pub preferred_anti_affinity: Vec<AffinityTerm>,
    pub spread: Vec<SpreadConstraint>,
    /// Normalized image names of all containers (init and app).
    pub images: Vec<String>,
    /// PersistentVolumeClaims the pod's volumes use (ephemeral volumes' claims are
    /// `<pod>-<volume>`).
    pub claims: Vec<String>,
}

impl PodInfo {
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    pub fn has_affinity_terms(&self) -> bool {
        !self.required_affinity.is_empty()
            || !self.required_anti_affinity.is_empty()
            || !self.preferred_affinity.is_empty()
            || !self.preferred_anti_affinity.is_empty()
    }

    pub fn from_pod(pod: &Pod) -> PodInfo {
        let meta = &pod.metadata;
        let namespace = meta
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let labels = meta.labels.clone().unwrap_or_default();
        let default_spec = Default::default();
        let spec = pod.spec.as_ref().unwrap_or(&default_spec);
        let requests = pod_requests(pod, false);
        let nz = pod_requests(pod, true);
        let mut host_ports = Vec::new();
        for c in &spec.containers {
            for p in c.ports.iter().flatten() {
                if let Some(hp) = p.host_port.filter(|hp| *hp > 0) {
                    let ip = p
                        .host_ip
                        .clone()
                        .filter(|i| !i.is_empty())
                        .unwrap_or_else(|| "0.0.0.0".to_string());
                    host_ports.push(HostPort {
                        ip,
                        protocol: p.protocol.clone().unwrap_or_else(|| "TCP".to_string()),
                        port: hp,
                    });
                }
            }
        }
        let affinity = spec.affinity.as_ref();
        let na = affinity.and_then(|a| a.node_affinity.as_ref());
        let node_affinity = RequiredNodeAffinity {
            node_selector: spec.node_selector.clone().unwrap_or_default(),
            terms: na
                .and_then(|n| {
                    n.required_during_scheduling_ignored_during_execution
                        .as_ref()
                })
                .map(|s| s.node_selector_terms.iter().map(NodeTerm::parse).collect()),
        };
        let preferred_node_terms = na
            .and_then(|n| {
                n.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .into_iter()
            .flatten()
            .filter(|p| p.weight != 0)
            .map(|p| (p.weight, NodeTerm::parse(&p.preference)))
            .collect();
        let pa = affinity.and_then(|a| a.pod_affinity.as_ref());
        let paa = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let req = |v: Option<&Vec<PodAffinityTerm>>| -> Vec<AffinityTerm> {
            v.into_iter()
                .flatten()
                .map(|t| AffinityTerm::parse(&namespace, t, 0))
                .collect()
        };
        let pref = |v: Option<&Vec<clipper_proto::api::core::v1::WeightedPodAffinityTerm>>| {
            v.into_iter()
                .flatten()
                .map(|w| AffinityTerm::parse(&namespace, &w.pod_affinity_term, w.weight))
                .collect::<Vec<_>>()
        };
        let spread = spec
            .topology_spread_constraints
            .iter()
            .flatten()
            .map(|c| {
                let mut selector = LabelSelectorExpr::from_api(c.label_selector.as_ref())
                    .unwrap_or_else(|_| LabelSelectorExpr::nothing());
                for k in c.match_label_keys.iter().flatten() {
                    if let Some(v) = labels.get(k) {
                        selector
                            .requirements
                            .push(Requirement::In(k.clone(), vec![v.clone()]));
                    }
                }
                SpreadConstraint {
                    max_skew: c.max_skew,
                    topology_key: c.topology_key.clone(),
                    when: if c.when_unsatisfiable == "ScheduleAnyway" {
                        WhenUnsatisfiable::ScheduleAnyway
                    } else {
                        WhenUnsatisfiable::DoNotSchedule
                    },
                    selector,
                    min_domains: c.min_domains.unwrap_or(1).max(1),
                    honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
                    honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
                }
            })
            .collect();
        let images = spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter())
            .filter_map(|c| c.image.as_deref())
            .filter(|i| !i.is_empty())
            .map(normalized_image_name)
            .collect();
        let pod_name = meta.name.clone().unwrap_or_default();
        let claims = spec
            .volumes
            .iter()
            .flatten()
            .filter_map(|v| {
                if let Some(c) = &v.persistent_volume_claim {
                    Some(c.claim_name.clone())
                } else {
                    v.ephemeral
                        .as_ref()
                        .map(|_| format!("{pod_name}-{}", v.name))
                }
            })
            .collect();
        let start_time_s = pod
            .status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .or(meta.creation_timestamp.as_ref())
            .map(|t| t.unix_seconds())
            .unwrap_or(0);
        PodInfo {
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            labels: labels.clone(),
            priority: spec.priority.unwrap_or(0),
            preemption_never: spec.preemption_policy.as_deref() == Some("Never"),
            start_time_s,
            terminating: meta.deletion_timestamp.is_some(),
            node_name: spec.node_name.clone().unwrap_or_default(),
            non_zero_cpu: nz.milli_cpu,
            non_zero_mem: nz.memory,
            requests,
            host_ports,
            node_affinity,
            preferred_node_terms,
            tolerations: spec
                .tolerations
                .iter()
                .flatten()
                .map(Toleration::from_api)
                .collect(),
            required_affinity: req(pa.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            required_anti_affinity: req(paa.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred_affinity: pref(pa.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred_anti_affinity: pref(paa.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            spread,
            images,
            claims,
            namespace,
        }
    }
}

/// The static part of a node (changes only with a Node update).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatic {
    pub name: String,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    pub allocatable: Resource,
    /// Normalized image name → size in bytes.
    pub images: HashMap<String, i64>,
}

impl NodeStatic {
    pub fn from_node(node: &Node) -> NodeStatic {
        let spec = node.spec.as_ref();
        let status = node.status.as_ref();
        let mut images = HashMap::new();
        for img in status.and_then(|s| s.images.as_ref()).into_iter().flatten() {
            let size = img.size_bytes.unwrap_or(0);
            for n in img.names.iter().flatten() {
                images.insert(normalized_image_name(n), size);
            }
        }
        NodeStatic {
            name: node.metadata.name.clone().unwrap_or_default(),
            labels: node.metadata.labels.clone().unwrap_or_default(),
            taints: spec
                .and_then(|s| s.taints.as_ref())
                .into_iter()
                .flatten()
                .map(Taint::from_api)
                .collect(),
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            allocatable: status
                .and_then(|s| s.allocatable.as_ref())
                .map(Resource::from_list)
                .unwrap_or_default(),
            images,
        }
    }
}

/// The node numbers every filter and score reads for a plain pod. Kept inline in the
/// `NodeInfo` and, densely, in the snapshot's row vector, so that scheduling a pod
/// without affinity, spread, ports or extended resources never dereferences a node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeHot {
    pub req_milli_cpu: i64,
    pub req_memory: i64,
    pub req_ephemeral_storage: i64,
    pub nz_milli_cpu: i64,
    pub nz_memory: i64,
    pub pod_count: i64,
    pub unschedulable: bool,
    /// Has NoSchedule or NoExecute taints.
    pub hard_taints: bool,
    /// Has PreferNoSchedule taints.
    pub soft_taints: bool,
    pub has_images: bool,
    pub alloc_milli_cpu: i64,
    pub alloc_memory: i64,
    pub alloc_ephemeral_storage: i64,
    pub alloc_pods: i64,
}

impl NodeHot {
    pub fn of(n: &NodeStatic) -> NodeHot {
        NodeHot {
            req_milli_cpu: 0,
            req_memory: 0,
            req_ephemeral_storage: 0,
            nz_milli_cpu: 0,
            nz_memory: 0,
            pod_count: 0,
            unschedulable: n.unschedulable,
            hard_taints: n
                .taints
                .iter()
                .any(|t| matches!(t.effect, Effect::NoSchedule | Effect::NoExecute)),
            soft_taints: n
                .taints
                .iter()
                .any(|t| t.effect == Effect::PreferNoSchedule),
            has_images: !n.images.is_empty(),
            alloc_milli_cpu: n.allocatable.milli_cpu,
            alloc_memory: n.allocatable.memory,
            alloc_ephemeral_storage: n.allocatable.ephemeral_storage,
            alloc_pods: n.allocatable.allowed_pod_number,
        }
    }
}

/// A node with its pods and their aggregates — what every filter reads.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub hot: NodeHot,
    pub node: Arc<NodeStatic>,
    /// Persistent, so that cloning a node's info to change it (every assume, on the
    /// single writer) costs O(1), not O(pods on the node): a node with 30,000 pods
    /// (SchedulingDaemonset) would otherwise make each placement copy them all.
    pub pods: imbl::Vector<Arc<PodInfo>>,
    pub requested: Resource,
    pub non_zero_cpu: i64,
    pub non_zero_mem: i64,
    pub used_ports: Vec<HostPort>,
    /// Pods on this node with any (anti-)affinity term.
    pub pods_with_affinity: u32,
    /// Pods on this node with required anti-affinity.
    pub pods_with_required_anti_affinity: u32,
    /// Bumped on every change (lets callers detect staleness).
    pub generation: u64,
}

impl NodeInfo {
    pub fn new(node: Arc<NodeStatic>) -> NodeInfo {
        NodeInfo {
            hot: NodeHot::of(&node),
            node,
            pods: imbl::Vector::new(),
            requested: Resource::default(),
            non_zero_cpu: 0,
            non_zero_mem: 0,
            used_ports: Vec::new(),
            pods_with_affinity: 0,
            pods_with_required_anti_affinity: 0,
            generation: 0,
        }
    }

    /// Replaces the node object (a Node update), keeping the pods.
    pub fn set_node(&mut self, node: Arc<NodeStatic>) {
        self.node = node;
        self.refresh_hot();
        self.generation += 1;
    }

    fn refresh_hot(&mut self) {
        let mut h = NodeHot::of(&self.node);
        h.req_milli_cpu = self.requested.milli_cpu;
        h.req_memory = self.requested.memory;
        h.req_ephemeral_storage = self.requested.ephemeral_storage;
        h.nz_milli_cpu = self.non_zero_cpu;
        h.nz_memory = self.non_zero_mem;
        h.pod_count = self.pods.len() as i64;
        self.hot = h;
    }

    pub fn name(&self) -> &str {
        &self.node.name
    }

    pub fn labels(&self) -> &Labels {
        &self.node.labels
    }

    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests);
        self.non_zero_cpu += pod.non_zero_cpu;
        self.non_zero_mem += pod.non_zero_mem;
        self.used_ports.extend(pod.host_ports.iter().cloned());
        if pod.has_affinity_terms() {
            self.pods_with_affinity += 1;
        }
        if !pod.required_anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity += 1;
        }
        self.pods.push_back(pod);
        self.refresh_hot();
        self.generation += 1;
    }

    /// Removes the pod with this namespace/name; returns it if it was there.
    pub fn remove_pod(&mut self, namespace: &str, name: &str) -> Option<Arc<PodInfo>> {
        let i = self
            .pods
            .iter()
            .position(|p| p.namespace == namespace && p.name == name)?;
        let pod = self.pods.remove(i);
        self.requested.sub(&pod.requests);
        self.non_zero_cpu -= pod.non_zero_cpu;
        self.non_zero_mem -= pod.non_zero_mem;
        for hp in &pod.host_ports {
            if let Some(j) = self.used_ports.iter().position(|u| u == hp) {
                self.used_ports.swap_remove(j);
            }
        }
        if pod.has_affinity_terms() {
            self.pods_with_affinity -= 1;
        }
        if !pod.required_anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity -= 1;
        }
        self.refresh_hot();
        self.generation += 1;
        Some(pod)
    }
}
