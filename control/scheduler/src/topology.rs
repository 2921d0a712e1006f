//! The cluster-wide plugins: InterPodAffinity and PodTopologySpread. Their PreFilter /
//! PreScore passes count matching pods per topology domain once per cycle; the per-node
//! Filter / Score then only look counts up.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use crate::cache::Snapshot;
use crate::info::{HOSTNAME_LABEL, Labels, NodeInfo, PodInfo, SpreadConstraint, WhenUnsatisfiable};
use crate::plugins::{
    ERR_AFFINITY, ERR_ANTI_AFFINITY, ERR_EXISTING_ANTI_AFFINITY, ERR_SPREAD, ERR_SPREAD_LABEL,
    FilterResult, MAX_NODE_SCORE, Status, untolerated_taint,
};

/// A small multiplicative hasher (the Fx hash of rustc) for the per-cycle count maps:
/// keys are short label values built by the cluster, not by an attacker of this map,
/// and SipHash dominated the PreFilter passes.
#[derive(Clone, Copy, Debug, Default)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(b))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// topology key → topology value → count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopoCounts(FxMap<String, FxMap<String, i64>>);

impl TopoCounts {
    pub fn add(&mut self, key: &str, value: &str, d: i64) {
        let m = match self.0.get_mut(key) {
            Some(m) => m,
            None => self.0.entry(key.to_string()).or_default(),
        };
        match m.get_mut(value) {
            Some(c) => *c += d,
            None => {
                m.insert(value.to_string(), d);
            }
        }
    }

    pub fn get(&self, key: &str, value: &str) -> i64 {
        self.0
            .get(key)
            .and_then(|m| m.get(value))
            .copied()
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.values().all(|m| m.values().all(|c| *c == 0))
    }

    /// Sum over this map's keys of the node's domain count.
    fn node_sum(&self, labels: &Labels) -> i64 {
        self.0
            .iter()
            .filter_map(|(k, m)| labels.get(k).and_then(|v| m.get(v)))
            .sum()
    }

    /// Whether any (key, value) with a positive count is one of the node's labels.
    fn any_positive_on(&self, labels: &Labels) -> bool {
        self.0
            .iter()
            .any(|(k, m)| labels.get(k).and_then(|v| m.get(v)).is_some_and(|c| *c > 0))
    }
}

// ---------------------------------------------------------------- InterPodAffinity

/// InterPodAffinity's PreFilter state.
#[derive(Clone, Debug, Default)]
pub struct AffinityFilterState {
    /// Domains where an existing pod's required anti-affinity selects the incoming pod.
    pub existing_anti: TopoCounts,
    /// Domains with pods matching all of the incoming pod's required affinity terms.
    pub affinity: TopoCounts,
    /// Domains with pods matching the incoming pod's required anti-affinity terms.
    pub anti: TopoCounts,
}

fn ns_lookup(snap: &Snapshot) -> impl Fn(&str) -> Option<std::sync::Arc<Labels>> + '_ {
    move |ns| snap.namespace_labels(ns)
}

pub fn affinity_prefilter(pod: &PodInfo, snap: &Snapshot) -> AffinityFilterState {
    let ns = ns_lookup(snap);
    let mut st = AffinityFilterState::default();
    let need_incoming = !pod.required_affinity.is_empty() || !pod.required_anti_affinity.is_empty();
    let nodes: Box<dyn Iterator<Item = &std::sync::Arc<NodeInfo>>> = if need_incoming {
        Box::new(snap.nodes())
    } else {
        Box::new(snap.nodes_with_required_anti_affinity_pods())
    };
    for node in nodes {
        for e in &node.pods {
            affinity_update(&mut st, pod, e, node.labels(), 1, &ns);
        }
    }
    st
}

/// Adds (`delta` 1) or removes (-1) existing pod `e` on a node with `labels` to/from the
/// state (PreFilterExtensions, used by preemption's what-if evaluation).
pub fn affinity_update(
    st: &mut AffinityFilterState,
    pod: &PodInfo,
    e: &PodInfo,
    labels: &Labels,
    delta: i64,
    ns: &dyn Fn(&str) -> Option<std::sync::Arc<Labels>>,
) {
    for t in &e.required_anti_affinity {
        if let Some(v) = labels.get(&t.topology_key)
            && t.matches(pod, ns)
        {
            st.existing_anti.add(&t.topology_key, v, delta);
        }
    }
    if !pod.required_affinity.is_empty() && pod.required_affinity.iter().all(|t| t.matches(e, ns)) {
        for t in &pod.required_affinity {
            if let Some(v) = labels.get(&t.topology_key) {
                st.affinity.add(&t.topology_key, v, delta);
            }
        }
    }
    for t in &pod.required_anti_affinity {
        if let Some(v) = labels.get(&t.topology_key)
            && t.matches(e, ns)
        {
            st.anti.add(&t.topology_key, v, delta);
        }
    }
}

pub fn affinity_filter(
    st: &AffinityFilterState,
    pod: &PodInfo,
    node: &NodeInfo,
    snap: &Snapshot,
) -> FilterResult {
    let labels = node.labels();
    if !pod.required_affinity.is_empty() {
        let mut pods_exist = true;
        for t in &pod.required_affinity {
            match labels.get(&t.topology_key) {
                None => return Err(Status::unresolvable(ERR_AFFINITY)),
                Some(v) => {
                    if st.affinity.get(&t.topology_key, v) <= 0 {
                        pods_exist = false;
                    }
                }
            }
        }
        if !pods_exist {
            // The first pod of a group with affinity to itself may go anywhere that has
            // the topology labels, when no pod matches yet.
            let ns = ns_lookup(snap);
            let self_match = pod.required_affinity.iter().all(|t| t.matches(pod, &ns));
            if !(st.affinity.is_empty() && self_match) {
                return Err(Status::unresolvable(ERR_AFFINITY));
            }
        }
    }
    for t in &pod.required_anti_affinity {
        if let Some(v) = labels.get(&t.topology_key)
            && st.anti.get(&t.topology_key, v) > 0
        {
            return Err(Status::unschedulable(ERR_ANTI_AFFINITY));
        }
    }
    if st.existing_anti.any_positive_on(labels) {
        return Err(Status::unschedulable(ERR_EXISTING_ANTI_AFFINITY));
    }
    Ok(())
}

/// InterPodAffinity's PreScore: topology scores from preferred terms of the incoming pod
/// and the (required and preferred) terms of existing pods. `None`: nothing to score.
pub fn affinity_prescore(pod: &PodInfo, snap: &Snapshot, hard_weight: i64) -> Option<TopoCounts> {
    let has_preferred =
        !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
    let ns = ns_lookup(snap);
    let mut scores = TopoCounts::default();
    let mut any = false;
    let nodes: Box<dyn Iterator<Item = &std::sync::Arc<NodeInfo>>> = if has_preferred {
        Box::new(snap.nodes())
    } else {
        Box::new(snap.nodes_with_affinity_pods())
    };
    for node in nodes {
        any = true;
        let labels = node.labels();
        for e in &node.pods {
            for t in &pod.preferred_affinity {
                if let Some(v) = labels.get(&t.topology_key)
                    && t.matches(e, &ns)
                {
                    scores.add(&t.topology_key, v, i64::from(t.weight));
                }
            }
            for t in &pod.preferred_anti_affinity {
                if let Some(v) = labels.get(&t.topology_key)
                    && t.matches(e, &ns)
                {
                    scores.add(&t.topology_key, v, -i64::from(t.weight));
                }
            }
            if !e.has_affinity_terms() {
                continue;
            }
            if hard_weight > 0 {
                for t in &e.required_affinity {
                    if let Some(v) = labels.get(&t.topology_key)
                        && t.matches(pod, &ns)
                    {
                        scores.add(&t.topology_key, v, hard_weight);
                    }
                }
            }
            for t in &e.preferred_affinity {
                if let Some(v) = labels.get(&t.topology_key)
                    && t.matches(pod, &ns)
                {
                    scores.add(&t.topology_key, v, i64::from(t.weight));
                }
            }
            for t in &e.preferred_anti_affinity {
                if let Some(v) = labels.get(&t.topology_key)
                    && t.matches(pod, &ns)
                {
                    scores.add(&t.topology_key, v, -i64::from(t.weight));
                }
            }
        }
    }
    any.then_some(scores)
}

pub fn affinity_score(st: &TopoCounts, node: &NodeInfo) -> i64 {
    st.node_sum(node.labels())
}

/// InterPodAffinity's NormalizeScore: min–max scaling (raw scores may be negative).
pub fn affinity_normalize(scores: &mut [i64]) {
    let (Some(min), Some(max)) = (scores.iter().min().copied(), scores.iter().max().copied())
    else {
        return;
    };
    let diff = max - min;
    for s in scores.iter_mut() {
        *s = if diff > 0 {
            (MAX_NODE_SCORE as f64 * ((*s - min) as f64 / diff as f64)) as i64
        } else {
            0
        };
    }
}

// ---------------------------------------------------------------- PodTopologySpread

/// Matching pods on a node for a constraint (same namespace, not terminating).
fn count_matching(node: &NodeInfo, c: &SpreadConstraint, ns: &str) -> i64 {
    node.pods
        .iter()
        .filter(|p| !p.terminating && p.namespace == ns && c.selector.matches(&p.labels))
        .count() as i64
}

/// nodeAffinityPolicy / nodeTaintsPolicy: whether the node counts for the constraint.
fn inclusion_ok(c: &SpreadConstraint, pod: &PodInfo, node: &NodeInfo) -> bool {
    if c.honor_node_affinity && !pod.node_affinity.matches(node.name(), node.labels()) {
        return false;
    }
    if c.honor_taints && untolerated_taint(pod, node).is_some() {
        return false;
    }
    true
}

fn has_all_keys(labels: &Labels, cs: &[&SpreadConstraint]) -> bool {
    cs.iter().all(|c| labels.contains_key(&c.topology_key))
}

#[derive(Clone, Debug)]
pub struct SpreadFilterConstraint {
    pub constraint: SpreadConstraint,
    /// Domain value → matching pods (every eligible domain present, possibly 0).
    pub counts: FxMap<String, i64>,
    pub self_match: bool,
}

impl SpreadFilterConstraint {
    /// The global minimum used in the skew; 0 while fewer than minDomains domains exist.
    pub fn min_match(&self) -> i64 {
        if (self.counts.len() as i64) < i64::from(self.constraint.min_domains) {
            return 0;
        }
        self.counts.values().copied().min().unwrap_or(0)
    }
}

/// PodTopologySpread's PreFilter state (DoNotSchedule constraints); `None`: skip.
pub fn spread_prefilter(pod: &PodInfo, snap: &Snapshot) -> Option<Vec<SpreadFilterConstraint>> {
    let cs: Vec<&SpreadConstraint> = pod
        .spread
        .iter()
        .filter(|c| c.when == WhenUnsatisfiable::DoNotSchedule)
        .collect();
    if cs.is_empty() {
        return None;
    }
    let mut out: Vec<SpreadFilterConstraint> = cs
        .iter()
        .map(|c| SpreadFilterConstraint {
            constraint: (*c).clone(),
            counts: FxMap::default(),
            self_match: c.selector.matches(&pod.labels),
        })
        .collect();
    // The topology values of one node, reused across nodes (no allocation per node).
    let mut values: Vec<&str> = Vec::with_capacity(cs.len());
    'nodes: for node in snap.nodes() {
        let labels = node.labels();
        values.clear();
        for c in &cs {
            match labels.get(&c.topology_key) {
                Some(v) => values.push(v),
                None => continue 'nodes,
            }
        }
        for (sc, v) in out.iter_mut().zip(&values) {
            if !inclusion_ok(&sc.constraint, pod, node) {
                continue;
            }
            let n = if node.pods.is_empty() {
                0
            } else {
                count_matching(node, &sc.constraint, &pod.namespace)
            };
            match sc.counts.get_mut(*v) {
                Some(c) => *c += n,
                None => {
                    sc.counts.insert((*v).to_string(), n);
                }
            }
        }
    }
    Some(out)
}

/// Adds/removes existing pod `e` on `node` to/from the spread filter state.
pub fn spread_update(
    st: &mut [SpreadFilterConstraint],
    pod: &PodInfo,
    e: &PodInfo,
    node: &NodeInfo,
    delta: i64,
) {
    let labels = node.labels();
    if !st
        .iter()
        .all(|sc| labels.contains_key(&sc.constraint.topology_key))
    {
        return;
    }
    if e.terminating || e.namespace != pod.namespace {
        return;
    }
    for sc in st.iter_mut() {
        if !inclusion_ok(&sc.constraint, pod, node) || !sc.constraint.selector.matches(&e.labels) {
            continue;
        }
        let v = &labels[&sc.constraint.topology_key];
        *sc.counts.entry(v.clone()).or_insert(0) += delta;
    }
}

pub fn spread_filter(st: &[SpreadFilterConstraint], node: &NodeInfo) -> FilterResult {
    let labels = node.labels();
    for sc in st {
        let Some(v) = labels.get(&sc.constraint.topology_key) else {
            return Err(Status::unresolvable(ERR_SPREAD_LABEL));
        };
        let matched = sc.counts.get(v.as_str()).copied().unwrap_or(0);
        let skew = matched + i64::from(sc.self_match) - sc.min_match();
        if skew > i64::from(sc.constraint.max_skew) {
            return Err(Status::unschedulable(ERR_SPREAD));
        }
    }
    Ok(())
}

/// PodTopologySpread's PreScore state (ScheduleAnyway constraints).
#[derive(Clone, Debug)]
pub struct SpreadScoreState {
    constraints: Vec<SpreadConstraint>,
    weights: Vec<f64>,
    /// Per constraint (non-hostname): domain → matching pods.
    counts: Vec<HashMap<String, i64>>,
    ignored: HashSet<usize>,
}

/// `feasible` are snapshot indices of the nodes that passed the filters.
pub fn spread_prescore(
    pod: &PodInfo,
    snap: &Snapshot,
    feasible: &[usize],
) -> Option<SpreadScoreState> {
    let cs: Vec<SpreadConstraint> = pod
        .spread
        .iter()
        .filter(|c| c.when == WhenUnsatisfiable::ScheduleAnyway)
        .cloned()
        .collect();
    if cs.is_empty() {
        return None;
    }
    let refs: Vec<&SpreadConstraint> = cs.iter().collect();
    let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); cs.len()];
    let mut ignored = HashSet::new();
    for &i in feasible {
        let labels = snap.node(i).labels();
        if !has_all_keys(labels, &refs) {
            ignored.insert(i);
            continue;
        }
        for (ci, c) in cs.iter().enumerate() {
            if c.topology_key != HOSTNAME_LABEL {
                counts[ci]
                    .entry(labels[&c.topology_key].clone())
                    .or_insert(0);
            }
        }
    }
    let weights = cs
        .iter()
        .enumerate()
        .map(|(ci, c)| {
            let size = if c.topology_key == HOSTNAME_LABEL {
                feasible.len() - ignored.len()
            } else {
                counts[ci].len()
            };
            ((size + 2) as f64).ln()
        })
        .collect();
    for node in snap.nodes() {
        let labels = node.labels();
        if !has_all_keys(labels, &refs) {
            continue;
        }
        for (ci, c) in cs.iter().enumerate() {
            if c.topology_key == HOSTNAME_LABEL || !inclusion_ok(c, pod, node) {
                continue;
            }
            if let Some(cnt) = counts[ci].get_mut(labels[&c.topology_key].as_str()) {
                *cnt += count_matching(node, c, &pod.namespace);
            }
        }
    }
    Some(SpreadScoreState {
        constraints: cs,
        weights,
        counts,
        ignored,
    })
}

/// Raw spread score (lower is better); ignored nodes score 0 and stay 0.
pub fn spread_score(st: &SpreadScoreState, pod: &PodInfo, idx: usize, node: &NodeInfo) -> i64 {
    if st.ignored.contains(&idx) {
        return 0;
    }
    let labels = node.labels();
    let mut score = 0f64;
    for (ci, c) in st.constraints.iter().enumerate() {
        if let Some(v) = labels.get(&c.topology_key) {
            let cnt = if c.topology_key == HOSTNAME_LABEL {
                count_matching(node, c, &pod.namespace)
            } else {
                st.counts[ci].get(v.as_str()).copied().unwrap_or(0)
            };
            score += cnt as f64 * st.weights[ci] + f64::from(c.max_skew - 1);
        }
    }
    score.round() as i64
}

/// PodTopologySpread's NormalizeScore over the feasible nodes (`idx[i]` is the snapshot
/// index of `scores[i]`).
pub fn spread_normalize(st: &SpreadScoreState, idx: &[usize], scores: &mut [i64]) {
    let mut min = i64::MAX;
    let mut max = 0i64;
    for (k, s) in scores.iter().enumerate() {
        if st.ignored.contains(&idx[k]) {
            continue;
        }
        min = min.min(*s);
        max = max.max(*s);
    }
    for (k, s) in scores.iter_mut().enumerate() {
        if st.ignored.contains(&idx[k]) {
            *s = 0;
        } else if max == 0 {
            *s = MAX_NODE_SCORE;
        } else {
            *s = MAX_NODE_SCORE * (max + min - *s) / max;
        }
    }
}
