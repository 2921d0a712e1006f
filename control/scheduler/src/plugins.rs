//! The node-local filters and scores (NodeName, NodeUnschedulable, NodeResourcesFit,
//! NodeAffinity, TaintToleration, NodePorts, BalancedAllocation, ImageLocality) and the
//! normalization helpers, with kube-scheduler's semantics and failure reasons.

use std::borrow::Cow;

use crate::config::{ScoringStrategy, ScoringStrategyType};
use crate::info::{Effect, NodeHot, NodeInfo, PodInfo, Taint, tolerated};
use crate::resource::{CPU, EPHEMERAL_STORAGE, MEMORY};

/// Highest score a plugin gives a node.
pub const MAX_NODE_SCORE: i64 = 100;

pub const ERR_NODE_NAME: &str = "node(s) didn't match the requested node name";
pub const ERR_UNSCHEDULABLE: &str = "node(s) were unschedulable";
pub const ERR_NODE_AFFINITY: &str = "node(s) didn't match Pod's node affinity/selector";
pub const ERR_NODE_PORTS: &str = "node(s) didn't have free ports for the requested pod ports";
pub const ERR_TOO_MANY_PODS: &str = "Too many pods";
pub const ERR_AFFINITY: &str = "node(s) didn't match pod affinity rules";
pub const ERR_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
pub const ERR_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";
pub const ERR_SPREAD: &str = "node(s) didn't match pod topology spread constraints";
pub const ERR_SPREAD_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

/// How a filter failure can be resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// Preempting pods on the node might help.
    Unschedulable,
    /// Preemption cannot help on this node.
    UnschedulableAndUnresolvable,
}

/// Why a node was filtered out: a code and one or more reasons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub reasons: Vec<Cow<'static, str>>,
}

impl Status {
    pub fn unschedulable(r: impl Into<Cow<'static, str>>) -> Status {
        Status {
            code: Code::Unschedulable,
            reasons: vec![r.into()],
        }
    }

    pub fn unresolvable(r: impl Into<Cow<'static, str>>) -> Status {
        Status {
            code: Code::UnschedulableAndUnresolvable,
            reasons: vec![r.into()],
        }
    }
}

pub type FilterResult = Result<(), Status>;

pub fn node_name(pod: &PodInfo, node: &NodeInfo) -> FilterResult {
    if pod.node_name.is_empty() || pod.node_name == node.name() {
        Ok(())
    } else {
        Err(Status::unresolvable(ERR_NODE_NAME))
    }
}

pub fn node_unschedulable(pod: &PodInfo, node: &NodeInfo) -> FilterResult {
    if !node.hot.unschedulable {
        return Ok(());
    }
    let taint = Taint {
        key: "node.kubernetes.io/unschedulable".into(),
        value: String::new(),
        effect: Effect::NoSchedule,
    };
    if tolerated(&pod.tolerations, &taint) {
        Ok(())
    } else {
        Err(Status::unresolvable(ERR_UNSCHEDULABLE))
    }
}

pub fn node_affinity(pod: &PodInfo, node: &NodeInfo) -> FilterResult {
    if pod.node_affinity.is_empty() || pod.node_affinity.matches(node.name(), node.labels()) {
        Ok(())
    } else {
        Err(Status::unresolvable(ERR_NODE_AFFINITY))
    }
}

/// The first NoSchedule/NoExecute taint the pod does not tolerate.
pub fn untolerated_taint<'a>(pod: &PodInfo, node: &'a NodeInfo) -> Option<&'a Taint> {
    if !node.hot.hard_taints {
        return None;
    }
    node.node.taints.iter().find(|t| {
        matches!(t.effect, Effect::NoSchedule | Effect::NoExecute)
            && !tolerated(&pod.tolerations, t)
    })
}

pub fn taint_toleration(pod: &PodInfo, node: &NodeInfo) -> FilterResult {
    match untolerated_taint(pod, node) {
        None => Ok(()),
        Some(t) => Err(Status::unresolvable(format!(
            "node(s) had untolerated taint {{{}: {}}}",
            t.key, t.value
        ))),
    }
}

pub fn node_ports(pod: &PodInfo, node: &NodeInfo) -> FilterResult {
    if pod.host_ports.is_empty() {
        return Ok(());
    }
    let conflict = pod
        .host_ports
        .iter()
        .any(|want| node.used_ports.iter().any(|used| want.conflicts(used)));
    if conflict {
        Err(Status::unschedulable(ERR_NODE_PORTS))
    } else {
        Ok(())
    }
}

/// NodeResourcesFit: every insufficient resource is a reason.
pub fn resources_fit(pod: &PodInfo, node: &NodeInfo) -> FilterResult {
    let hot = &node.hot;
    let used = &node.requested;
    let mut reasons: Vec<Cow<'static, str>> = Vec::new();
    if hot.pod_count + 1 > hot.alloc_pods {
        reasons.push(ERR_TOO_MANY_PODS.into());
    }
    let req = &pod.requests;
    if !req.is_zero() {
        if req.milli_cpu > 0 && req.milli_cpu > hot.alloc_milli_cpu - used.milli_cpu {
            reasons.push("Insufficient cpu".into());
        }
        if req.memory > 0 && req.memory > hot.alloc_memory - used.memory {
            reasons.push("Insufficient memory".into());
        }
        if req.ephemeral_storage > 0
            && req.ephemeral_storage > hot.alloc_ephemeral_storage - used.ephemeral_storage
        {
            reasons.push("Insufficient ephemeral-storage".into());
        }
        for (name, q) in &req.scalar {
            if *q == 0 {
                continue;
            }
            if *q > node.node.allocatable.get(name) - used.get(name) {
                reasons.push(format!("Insufficient {name}").into());
            }
        }
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(Status {
            code: Code::Unschedulable,
            reasons,
        })
    }
}

/// A scored resource, resolved from its name once per cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResKind<'a> {
    Cpu,
    Memory,
    EphemeralStorage,
    Scalar(&'a str),
}

impl<'a> ResKind<'a> {
    pub fn of(name: &'a str) -> ResKind<'a> {
        match name {
            CPU => ResKind::Cpu,
            MEMORY => ResKind::Memory,
            EPHEMERAL_STORAGE => ResKind::EphemeralStorage,
            other => ResKind::Scalar(other),
        }
    }
}

/// Requested (node + pod) and allocatable of one resource for scoring. Scalar resources
/// the pod does not request are skipped (0, 0); scalar resources need the `NodeInfo`
/// (the fast path only runs for pods without them). `use_requested`: actual requests
/// (BalancedAllocation) rather than the non-zero defaults (NodeResourcesFit).
fn requested_allocatable(
    pod: &PodInfo,
    hot: &NodeHot,
    node: Option<&NodeInfo>,
    resource: ResKind<'_>,
    use_requested: bool,
) -> (i64, i64) {
    match resource {
        ResKind::Cpu => {
            let (n, p) = if use_requested {
                (hot.req_milli_cpu, pod.requests.milli_cpu)
            } else {
                (hot.nz_milli_cpu, pod.non_zero_cpu)
            };
            (n + p, hot.alloc_milli_cpu)
        }
        ResKind::Memory => {
            let (n, p) = if use_requested {
                (hot.req_memory, pod.requests.memory)
            } else {
                (hot.nz_memory, pod.non_zero_mem)
            };
            (n + p, hot.alloc_memory)
        }
        ResKind::EphemeralStorage => (
            hot.req_ephemeral_storage + pod.requests.ephemeral_storage,
            hot.alloc_ephemeral_storage,
        ),
        ResKind::Scalar(other) => {
            let p = pod.requests.get(other);
            match node {
                Some(node) if p != 0 => (
                    node.requested.get(other) + p,
                    node.node.allocatable.get(other),
                ),
                _ => (0, 0),
            }
        }
    }
}

/// Whether the node passes every filter for a "plain" pod (see
/// `Scheduler::schedule`): checks only the dense row. `false` means "run the filters".
pub fn plain_pod_fits(pod: &PodInfo, hot: &NodeHot) -> bool {
    let r = &pod.requests;
    !hot.unschedulable
        && !hot.hard_taints
        && hot.pod_count < hot.alloc_pods
        && r.milli_cpu <= hot.alloc_milli_cpu - hot.req_milli_cpu
        && r.memory <= hot.alloc_memory - hot.req_memory
        && r.ephemeral_storage <= hot.alloc_ephemeral_storage - hot.req_ephemeral_storage
}

pub fn least_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

pub fn most_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 {
        return 0;
    }
    requested.min(capacity) * MAX_NODE_SCORE / capacity
}

/// The broken-linear function through the shape points (scores already scaled ×10).
fn broken_linear(shape: &[(i64, i64)], x: i64) -> i64 {
    for (i, &(px, py)) in shape.iter().enumerate() {
        if x <= px {
            if i == 0 {
                return shape[0].1;
            }
            let (qx, qy) = shape[i - 1];
            return qy + (py - qy) * (x - qx) / (px - qx);
        }
    }
    shape.last().map_or(0, |p| p.1)
}

/// NodeResourcesFit's scoring strategy resolved once per cycle.
#[derive(Clone, Debug)]
pub struct FitScorer<'a> {
    kind: ScoringStrategyType,
    resources: Vec<(ResKind<'a>, i64)>,
    /// RequestedToCapacityRatio shape, scores scaled to 0..=100.
    shape: Vec<(i64, i64)>,
}

impl<'a> FitScorer<'a> {
    pub fn new(strategy: &'a ScoringStrategy) -> FitScorer<'a> {
        FitScorer {
            kind: strategy.kind,
            resources: strategy
                .resources
                .iter()
                .map(|r| (ResKind::of(&r.name), r.weight))
                .collect(),
            shape: strategy
                .requested_to_capacity_ratio
                .as_ref()
                .map(|r| {
                    r.shape
                        .iter()
                        .map(|p| (i64::from(p.utilization), i64::from(p.score) * 10))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The score from the dense row (`node` only for extended resources).
    pub fn score(&self, pod: &PodInfo, hot: &NodeHot, node: Option<&NodeInfo>) -> i64 {
        let mut node_score = 0i64;
        let mut weight_sum = 0i64;
        match self.kind {
            ScoringStrategyType::LeastAllocated | ScoringStrategyType::MostAllocated => {
                for &(r, w) in &self.resources {
                    let (req, alloc) = requested_allocatable(pod, hot, node, r, false);
                    if alloc == 0 {
                        continue;
                    }
                    let s = if self.kind == ScoringStrategyType::LeastAllocated {
                        least_requested_score(req, alloc)
                    } else {
                        most_requested_score(req, alloc)
                    };
                    node_score += s * w;
                    weight_sum += w;
                }
                if weight_sum == 0 {
                    0
                } else {
                    node_score / weight_sum
                }
            }
            ScoringStrategyType::RequestedToCapacityRatio => {
                for &(r, w) in &self.resources {
                    let (req, alloc) = requested_allocatable(pod, hot, node, r, false);
                    if alloc == 0 {
                        continue;
                    }
                    let s = if req > alloc {
                        broken_linear(&self.shape, 100)
                    } else {
                        broken_linear(&self.shape, req * 100 / alloc)
                    };
                    if s > 0 {
                        node_score += s * w;
                        weight_sum += w;
                    }
                }
                if weight_sum == 0 {
                    0
                } else {
                    (node_score as f64 / weight_sum as f64).round() as i64
                }
            }
        }
    }
}

/// NodeResourcesFit score with the profile's strategy.
pub fn resources_fit_score(strategy: &ScoringStrategy, pod: &PodInfo, node: &NodeInfo) -> i64 {
    FitScorer::new(strategy).score(pod, &node.hot, Some(node))
}

/// NodeResourcesBalancedAllocation: 100 × (1 − standard deviation of the requested
/// fractions).
pub fn balanced_allocation_score(resources: &[String], pod: &PodInfo, node: &NodeInfo) -> i64 {
    let kinds: Vec<ResKind<'_>> = resources.iter().map(|r| ResKind::of(r)).collect();
    balanced_allocation_score_hot(&kinds, pod, &node.hot, Some(node))
}

/// [`balanced_allocation_score`] from the dense row.
pub fn balanced_allocation_score_hot(
    resources: &[ResKind<'_>],
    pod: &PodInfo,
    hot: &NodeHot,
    node: Option<&NodeInfo>,
) -> i64 {
    let mut fractions = [0f64; 8];
    let mut n = 0;
    let mut total = 0.0;
    for &r in resources.iter().take(fractions.len()) {
        let (req, alloc) = requested_allocatable(pod, hot, node, r, true);
        if alloc == 0 {
            continue;
        }
        let f = (req as f64 / alloc as f64).min(1.0);
        total += f;
        fractions[n] = f;
        n += 1;
    }
    let std = match n {
        0 | 1 => 0.0,
        2 => ((fractions[0] - fractions[1]) / 2.0).abs(),
        _ => {
            let mean = total / n as f64;
            let var: f64 = fractions[..n].iter().map(|f| (f - mean) * (f - mean)).sum();
            (var / n as f64).sqrt()
        }
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

/// Sum of the weights of the preferred node affinity terms the node matches.
pub fn node_affinity_score(pod: &PodInfo, node: &NodeInfo) -> i64 {
    pod.preferred_node_terms
        .iter()
        .filter(|(_, t)| t.matches(node.name(), node.labels()))
        .map(|(w, _)| i64::from(*w))
        .sum()
}

/// Number of PreferNoSchedule taints the pod does not tolerate (lower is better).
pub fn taint_toleration_score(pod: &PodInfo, node: &NodeInfo) -> i64 {
    if !node.hot.soft_taints {
        return 0;
    }
    // Only tolerations with an empty effect or PreferNoSchedule count.
    node.node
        .taints
        .iter()
        .filter(|t| t.effect == Effect::PreferNoSchedule)
        .filter(|t| {
            !pod.tolerations
                .iter()
                .filter(|tol| tol.effect.is_none_or(|e| e == Effect::PreferNoSchedule))
                .any(|tol| tol.tolerates(t))
        })
        .count() as i64
}

const MB: i64 = 1024 * 1024;
/// Below this sum of image sizes ImageLocality scores 0.
pub const IMAGE_MIN_THRESHOLD: i64 = 23 * MB;
/// Per-container size at which ImageLocality scores 100.
pub const IMAGE_MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

/// ImageLocality: sizes of the pod's images present on the node, scaled by how widely
/// each image is spread over the cluster.
pub fn image_locality_score(
    pod: &PodInfo,
    node: &NodeInfo,
    total_nodes: usize,
    nodes_with_image: impl Fn(&str) -> u32,
) -> i64 {
    if pod.images.is_empty() || total_nodes == 0 {
        return 0;
    }
    if !node.hot.has_images {
        // An empty sum clamps to the minimum threshold, which scores 0.
        return 0;
    }
    let mut sum = 0i64;
    for img in &pod.images {
        if let Some(size) = node.node.images.get(img) {
            let spread = f64::from(nodes_with_image(img)) / total_nodes as f64;
            sum += (*size as f64 * spread) as i64;
        }
    }
    let max = IMAGE_MAX_CONTAINER_THRESHOLD * pod.images.len() as i64;
    let sum = sum.clamp(IMAGE_MIN_THRESHOLD, max);
    MAX_NODE_SCORE * (sum - IMAGE_MIN_THRESHOLD) / (max - IMAGE_MIN_THRESHOLD)
}

/// kube-scheduler's `DefaultNormalizeScore`: scale to 0..=100 by the maximum; `reverse`
/// flips it (fewer is better).
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        *s = MAX_NODE_SCORE * *s / max;
        if reverse {
            *s = MAX_NODE_SCORE - *s;
        }
    }
}
