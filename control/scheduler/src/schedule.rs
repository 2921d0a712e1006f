//! One scheduling cycle: PreFilter, Filter over a round-robin window of nodes (in
//! parallel for large clusters) until enough feasible nodes are found, Score, Normalize,
//! weigh, and pick the best node with random tie-breaking — or a [`FitError`] that says
//! why no node fits, worded as kube-scheduler words it.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::cache::Snapshot;
use crate::config::{Plugin, Profile};
use crate::info::{NodeInfo, PodInfo};
use crate::plugins::{self, Code, FilterResult, Status};
use crate::topology::{self, AffinityFilterState, SpreadFilterConstraint};

/// Below this many nodes every node is checked (kube-scheduler's `minFeasibleNodesToFind`).
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// Lower bound of the adaptive percentage (`minFeasibleNodesPercentageToFind`).
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: i64 = 5;
/// Nodes one filter thread takes at a time: large enough to amortize the atomic claim,
/// small enough that the search stops soon after enough feasible nodes are found.
pub const FILTER_CHUNK_NODES: usize = 256;
/// Positions scanned on the calling thread before filtering fans out to threads:
/// spawning threads costs tens of microseconds, more than filtering a few thousand
/// nodes, and a scan usually finds its `numFeasibleNodesToFind` nodes well before this.
pub const PARALLEL_MIN_NODES: usize = 8192;

/// How many feasible nodes to find before scoring (kube-scheduler's
/// `numFeasibleNodesToFind`): all below 100 nodes; otherwise `percentage` of the nodes
/// (adaptive `50 - n/125`, at least 5%, when unset or 0), at least 100.
pub fn num_feasible_nodes_to_find(percentage: Option<i32>, num_all_nodes: usize) -> usize {
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all_nodes;
    }
    let n = num_all_nodes as i64;
    let mut pct = i64::from(percentage.unwrap_or(0));
    if pct == 0 {
        pct = (50 - n / 125).max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND);
    }
    let num = n * pct / 100;
    if num < MIN_FEASIBLE_NODES_TO_FIND as i64 {
        return MIN_FEASIBLE_NODES_TO_FIND;
    }
    num as usize
}

/// A small deterministic PRNG (SplitMix64) so that tie-breaking is reproducible from a
/// seed the caller injects.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// Why no node fits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FitError {
    pub pod: String,
    pub num_all_nodes: usize,
    /// Failed nodes (snapshot index) and why; nodes left out by a PreFilter are counted
    /// in `absent`.
    pub node_status: Vec<(usize, Status)>,
    /// Nodes not evaluated because a PreFilter narrowed the candidates, and their status.
    pub absent: Option<(usize, Status)>,
    pub prefilter_msg: Option<String>,
    /// The PostFilter (preemption) outcome, e.g. `preemption: 0/5 nodes are available: …`.
    pub post_filter_msg: Option<String>,
}

/// `count reason` strings sorted as strings, exactly as kube-scheduler sorts them.
pub fn reason_histogram<'a>(statuses: impl Iterator<Item = (usize, &'a Status)>) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (n, st) in statuses {
        for r in &st.reasons {
            *counts.entry(r.as_ref()).or_default() += n;
        }
    }
    let mut v: Vec<String> = counts.iter().map(|(r, c)| format!("{c} {r}")).collect();
    v.sort();
    v
}

impl FitError {
    /// The reason → node count histogram.
    pub fn reasons(&self) -> Vec<String> {
        reason_histogram(
            self.node_status
                .iter()
                .map(|(_, s)| (1, s))
                .chain(self.absent.iter().map(|(n, s)| (*n, s))),
        )
    }
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0/{} nodes are available:", self.num_all_nodes)?;
        if let Some(m) = &self.prefilter_msg {
            write!(f, " {m}.")?;
        } else {
            let r = self.reasons();
            if !r.is_empty() {
                write!(f, " {}.", r.join(", "))?;
            }
        }
        if let Some(m) = &self.post_filter_msg {
            write!(f, " {m}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FitError {}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("no nodes available to schedule pods")]
    NoNodes,
    #[error("{0}")]
    Fit(Box<FitError>),
}

/// Where a pod goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleResult {
    pub node: String,
    pub node_index: usize,
    /// Nodes filtered this cycle.
    pub evaluated_nodes: usize,
    /// Nodes that passed all filters (and were scored).
    pub feasible_nodes: usize,
    /// Weighted total score of the chosen node.
    pub score: i64,
}

/// Pods that preemption nominated to a node and that are not bound yet. While they
/// wait for their victims to leave, pods of lower or equal priority are filtered as if
/// the nominated pods already ran there (kube-scheduler's `addNominatedPods`), so the
/// room preemption made is not taken by someone else.
#[derive(Clone, Debug, Default)]
pub struct Nominated {
    by_node: HashMap<String, Vec<Arc<PodInfo>>>,
    node_of: HashMap<String, String>,
}

impl Nominated {
    pub fn is_empty(&self) -> bool {
        self.node_of.is_empty()
    }

    pub fn len(&self) -> usize {
        self.node_of.len()
    }

    /// Records `pod` as nominated to `node` (replacing an earlier nomination).
    pub fn add(&mut self, pod: Arc<PodInfo>, node: &str) {
        self.remove(&pod.namespace, &pod.name);
        self.node_of.insert(pod.key(), node.to_string());
        self.by_node.entry(node.to_string()).or_default().push(pod);
    }

    /// Forgets the nomination of `namespace/name`; returns its node.
    pub fn remove(&mut self, namespace: &str, name: &str) -> Option<String> {
        let node = self.node_of.remove(&format!("{namespace}/{name}"))?;
        if let Some(v) = self.by_node.get_mut(&node) {
            v.retain(|p| !(p.namespace == namespace && p.name == name));
            if v.is_empty() {
                self.by_node.remove(&node);
            }
        }
        Some(node)
    }

    pub fn node_of(&self, namespace: &str, name: &str) -> Option<&str> {
        self.node_of
            .get(&format!("{namespace}/{name}"))
            .map(String::as_str)
    }

    /// For one cycle: by snapshot index, the nominated pods `pod` must make room for
    /// (priority at least its own, not itself).
    pub(crate) fn for_cycle(
        &self,
        snap: &Snapshot,
        pod: &PodInfo,
    ) -> HashMap<usize, Vec<Arc<PodInfo>>> {
        let mut out = HashMap::new();
        for (node, pods) in &self.by_node {
            let Some(i) = snap.index_of(node) else {
                continue;
            };
            let v: Vec<Arc<PodInfo>> = pods
                .iter()
                .filter(|p| {
                    p.priority >= pod.priority
                        && !(p.namespace == pod.namespace && p.name == pod.name)
                })
                .cloned()
                .collect();
            if !v.is_empty() {
                out.insert(i, v);
            }
        }
        out
    }
}

/// Per-cycle state computed by the PreFilter pass.
#[derive(Clone, Debug)]
pub struct Cycle<'a> {
    pub pod: &'a PodInfo,
    pub snap: &'a Snapshot,
    pub affinity: Option<AffinityFilterState>,
    pub spread: Option<Vec<SpreadFilterConstraint>>,
    /// A pod that only NodeUnschedulable, TaintToleration and the cpu/memory/storage/pod
    /// checks of NodeResourcesFit can reject: nodes are first checked against the dense
    /// rows, and only nodes that fail there run the filters (for the exact reasons).
    pub plain: bool,
    /// Nominated pods to count on their nodes, by snapshot index (usually empty).
    /// Shared: preemption clones the cycle once per candidate node.
    pub nominated: Arc<HashMap<usize, Vec<Arc<PodInfo>>>>,
    /// VolumeBinding's PreFilter state (pods with claims only).
    pub volumes: Option<crate::volumes::VolumeState>,
    /// A PreFilter that rejected the pod outright: the message, no node is filtered.
    pub prefilter_error: Option<String>,
}

impl<'a> Cycle<'a> {
    pub fn new(profile: &Profile, pod: &'a PodInfo, snap: &'a Snapshot) -> Cycle<'a> {
        let affinity = profile
            .filter_enabled(Plugin::InterPodAffinity)
            .then(|| topology::affinity_prefilter(pod, snap));
        let spread = if profile.filter_enabled(Plugin::PodTopologySpread) {
            topology::spread_prefilter(pod, snap)
        } else {
            None
        };
        let (volumes, prefilter_error) =
            if profile.filter_enabled(Plugin::VolumeBinding) && !pod.claims.is_empty() {
                match crate::volumes::prefilter(pod, snap) {
                    Ok(st) => (Some(st), None),
                    Err(m) => (None, Some(m)),
                }
            } else {
                (None, None)
            };
        let plain = pod.node_name.is_empty()
            && volumes.as_ref().is_none_or(|v| v.is_trivial())
            && pod.node_affinity.is_empty()
            && pod.host_ports.is_empty()
            && pod.requests.scalar.values().all(|v| *v == 0)
            && pod.required_affinity.is_empty()
            && pod.required_anti_affinity.is_empty()
            && spread.is_none()
            && affinity
                .as_ref()
                .is_none_or(|st| st.existing_anti.is_empty());
        Cycle {
            pod,
            snap,
            affinity,
            spread,
            plain,
            nominated: Arc::default(),
            volumes,
            prefilter_error,
        }
    }

    /// Filters node `i`: the dense-row check for plain pods, the filters otherwise.
    pub fn filter_at(
        &self,
        profile: &Profile,
        i: usize,
        row: &crate::info::NodeHot,
    ) -> FilterResult {
        if !self.nominated.is_empty()
            && let Some(extra) = self.nominated.get(&i)
        {
            return self.filter_with_nominated(profile, self.snap.node(i), extra);
        }
        if self.plain && plugins::plain_pod_fits(self.pod, row) {
            return Ok(());
        }
        self.filter(profile, self.snap.node(i))
    }

    /// kube-scheduler's two passes for a node with nominated pods: with them added (and
    /// the PreFilter state updated for them), then as the node is — a pod must fit both,
    /// since a nominated pod may or may not end up there.
    fn filter_with_nominated(
        &self,
        profile: &Profile,
        node: &NodeInfo,
        extra: &[Arc<PodInfo>],
    ) -> FilterResult {
        let mut with = node.clone();
        let mut cycle = Cycle {
            pod: self.pod,
            snap: self.snap,
            affinity: self.affinity.clone(),
            spread: self.spread.clone(),
            plain: self.plain,
            nominated: Arc::default(),
            volumes: self.volumes.clone(),
            prefilter_error: None,
        };
        for p in extra {
            cycle.update(p, &with, 1);
            with.add_pod(p.clone());
        }
        cycle.filter(profile, &with)?;
        self.filter(profile, node)
    }

    /// Runs the enabled filters in order; stops at the first failure.
    pub fn filter(&self, profile: &Profile, node: &NodeInfo) -> FilterResult {
        let pod = self.pod;
        for p in &profile.filters {
            match p {
                Plugin::NodeUnschedulable => plugins::node_unschedulable(pod, node)?,
                Plugin::NodeName => plugins::node_name(pod, node)?,
                Plugin::TaintToleration => plugins::taint_toleration(pod, node)?,
                Plugin::NodeAffinity => plugins::node_affinity(pod, node)?,
                Plugin::NodePorts => plugins::node_ports(pod, node)?,
                Plugin::NodeResourcesFit => plugins::resources_fit(pod, node)?,
                Plugin::VolumeBinding => {
                    if let Some(st) = &self.volumes {
                        crate::volumes::filter(st, node)?
                    }
                }
                Plugin::PodTopologySpread => {
                    if let Some(st) = &self.spread {
                        topology::spread_filter(st, node)?
                    }
                }
                Plugin::InterPodAffinity => {
                    if let Some(st) = &self.affinity {
                        topology::affinity_filter(st, pod, node, self.snap)?
                    }
                }
                Plugin::NodeResourcesBalancedAllocation | Plugin::ImageLocality => {}
            }
        }
        Ok(())
    }

    /// Updates the PreFilter state as if `e` were added (+1) or removed (-1) on `node`.
    pub fn update(&mut self, e: &PodInfo, node: &NodeInfo, delta: i64) {
        let snap = self.snap;
        if let Some(st) = &mut self.affinity {
            topology::affinity_update(st, self.pod, e, node.labels(), delta, &|ns| {
                snap.namespace_labels(ns)
            });
        }
        if let Some(st) = &mut self.spread {
            topology::spread_update(st, self.pod, e, node, delta);
        }
    }
}

/// The scheduling algorithm for one profile. Holds the round-robin start index and the
/// tie-breaking RNG across cycles; everything else comes in per call.
#[derive(Clone, Debug)]
pub struct Scheduler {
    pub profile: Profile,
    /// Candidate count from which filtering goes parallel ([`PARALLEL_MIN_NODES`]).
    pub parallel_min_nodes: usize,
    /// Hardware threads: more filter threads than this only add spawn cost.
    pub cores: usize,
    next_start: usize,
    rng: Rng,
}

/// One claimed chunk: its number and (position in the round-robin order, result).
type ChunkResult = (usize, Vec<(usize, FilterResult)>);

struct Filtered {
    feasible: Vec<usize>,
    failed: Vec<(usize, Status)>,
    processed: usize,
}

impl Scheduler {
    pub fn new(profile: Profile, seed: u64) -> Scheduler {
        Scheduler {
            profile,
            parallel_min_nodes: PARALLEL_MIN_NODES,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            next_start: 0,
            rng: Rng::new(seed),
        }
    }

    pub fn next_start_index(&self) -> usize {
        self.next_start
    }

    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// Schedules one pod against `snap`.
    pub fn schedule(
        &mut self,
        snap: &Snapshot,
        pod: &PodInfo,
    ) -> Result<ScheduleResult, ScheduleError> {
        self.schedule_with(snap, pod, &Nominated::default())
    }

    /// Schedules one pod, counting nominated pods on their nodes. A pod that was itself
    /// nominated tries its nominated node first and takes it if it fits there
    /// (kube-scheduler's `evaluateNominatedNode`).
    pub fn schedule_with(
        &mut self,
        snap: &Snapshot,
        pod: &PodInfo,
        nominated: &Nominated,
    ) -> Result<ScheduleResult, ScheduleError> {
        let n = snap.len();
        if n == 0 {
            return Err(ScheduleError::NoNodes);
        }
        if let Some(i) = nominated
            .node_of(&pod.namespace, &pod.name)
            .and_then(|node| snap.index_of(node))
        {
            let mut cycle = Cycle::new(&self.profile, pod, snap);
            if !nominated.is_empty() {
                cycle.nominated = Arc::new(nominated.for_cycle(snap, pod));
            }
            if cycle.filter_at(&self.profile, i, snap.row(i)).is_ok() {
                return Ok(ScheduleResult {
                    node: snap.node(i).name().to_string(),
                    node_index: i,
                    evaluated_nodes: 1,
                    feasible_nodes: 1,
                    score: 0,
                });
            }
        }
        // NodeAffinity PreFilter: a pod pinned to node names only looks at those nodes.
        let pinned: Option<Vec<usize>> = if self.profile.filter_enabled(Plugin::NodeAffinity) {
            pod.node_affinity
                .pinned_node_names()
                .map(|names| names.iter().filter_map(|nm| snap.index_of(nm)).collect())
        } else {
            None
        };
        let mut cycle = Cycle::new(&self.profile, pod, snap);
        if let Some(m) = cycle.prefilter_error.take() {
            return Err(ScheduleError::Fit(Box::new(FitError {
                pod: pod.key(),
                num_all_nodes: n,
                node_status: Vec::new(),
                absent: None,
                prefilter_msg: Some(m),
                post_filter_msg: None,
            })));
        }
        if !nominated.is_empty() {
            cycle.nominated = Arc::new(nominated.for_cycle(snap, pod));
        }
        let candidates = pinned.as_ref().map_or(n, Vec::len);
        let to_find =
            num_feasible_nodes_to_find(self.profile.percentage_of_nodes_to_score, candidates);
        let start = if candidates == 0 {
            0
        } else {
            self.next_start % candidates
        };
        let at = |k: usize| -> usize {
            let pos = (start + k) % candidates;
            match &pinned {
                Some(v) => v[pos],
                None => pos,
            }
        };
        // The first `parallel_min_nodes` positions are scanned on this thread; only a
        // scan that needs more (mostly infeasible clusters) fans out to worker threads.
        let threads = self.profile.parallelism.min(self.cores);
        let seq_end = if threads > 1 {
            self.parallel_min_nodes.min(candidates)
        } else {
            candidates
        };
        let mut f = self.filter_sequential(&cycle, seq_end, to_find, &at);
        if f.feasible.len() < to_find && seq_end < candidates {
            let g = self.filter_parallel(
                &cycle,
                seq_end..candidates,
                to_find - f.feasible.len(),
                threads,
                &at,
            );
            f.feasible.extend(g.feasible);
            f.failed.extend(g.failed);
            f.processed = g.processed;
        }
        if candidates > 0 {
            self.next_start = (start + f.processed) % candidates;
        }
        if f.feasible.is_empty() {
            let absent = pinned.as_ref().and_then(|p| {
                (p.len() < n).then(|| {
                    (
                        n - p.len(),
                        Status::unresolvable("node(s) didn't satisfy plugin(s) [NodeAffinity]"),
                    )
                })
            });
            return Err(ScheduleError::Fit(Box::new(FitError {
                pod: pod.key(),
                num_all_nodes: n,
                node_status: f.failed,
                absent,
                prefilter_msg: None,
                post_filter_msg: None,
            })));
        }
        if f.feasible.len() == 1 {
            let i = f.feasible[0];
            return Ok(ScheduleResult {
                node: snap.node(i).name().to_string(),
                node_index: i,
                evaluated_nodes: f.processed,
                feasible_nodes: 1,
                score: 0,
            });
        }
        let totals = self.score(snap, pod, &f.feasible);
        let (best, score) = self.select(&f.feasible, &totals);
        Ok(ScheduleResult {
            node: snap.node(best).name().to_string(),
            node_index: best,
            evaluated_nodes: f.processed,
            feasible_nodes: f.feasible.len(),
            score,
        })
    }

    /// Scans positions `0..end` until `to_find` feasible nodes are found.
    fn filter_sequential(
        &self,
        cycle: &Cycle<'_>,
        end: usize,
        to_find: usize,
        at: &dyn Fn(usize) -> usize,
    ) -> Filtered {
        let mut feasible = Vec::with_capacity(to_find.min(end));
        let mut failed = Vec::new();
        let mut processed = 0;
        let mut rows = cycle.snap.row_focus();
        for k in 0..end {
            if feasible.len() >= to_find {
                break;
            }
            let i = at(k);
            processed += 1;
            match cycle.filter_at(&self.profile, i, rows.index(i)) {
                Ok(()) => feasible.push(i),
                Err(s) => failed.push((i, s)),
            }
        }
        Filtered {
            feasible,
            failed,
            processed,
        }
    }

    /// Workers claim chunks of the round-robin order in increasing order and stop
    /// claiming once enough feasible nodes are known; the claimed chunks always form a
    /// prefix, so truncating to the first `to_find` feasible nodes gives exactly what the
    /// sequential scan gives.
    fn filter_parallel(
        &self,
        cycle: &Cycle<'_>,
        range: std::ops::Range<usize>,
        to_find: usize,
        threads: usize,
        at: &(dyn Fn(usize) -> usize + Sync),
    ) -> Filtered {
        let next = AtomicUsize::new(0);
        let found = AtomicUsize::new(0);
        let results: Mutex<Vec<ChunkResult>> = Mutex::new(Vec::new());
        let base = range.start;
        let candidates = range.end;
        let chunks = (candidates - base).div_ceil(FILTER_CHUNK_NODES);
        let threads = threads.min(chunks).max(1);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    let mut local = Vec::new();
                    loop {
                        if found.load(Ordering::Acquire) >= to_find {
                            break;
                        }
                        let c = next.fetch_add(1, Ordering::AcqRel);
                        if c >= chunks {
                            break;
                        }
                        let lo = base + c * FILTER_CHUNK_NODES;
                        let hi = (lo + FILTER_CHUNK_NODES).min(candidates);
                        let mut out = Vec::with_capacity(hi - lo);
                        let mut ok = 0;
                        for k in lo..hi {
                            let i = at(k);
                            let r = cycle.filter_at(&self.profile, i, cycle.snap.row(i));
                            ok += usize::from(r.is_ok());
                            out.push((k, r));
                        }
                        found.fetch_add(ok, Ordering::AcqRel);
                        local.push((c, out));
                    }
                    results
                        .lock()
                        .expect("filter worker panicked")
                        .extend(local);
                });
            }
        });
        let mut all = results.into_inner().expect("filter worker panicked");
        all.sort_by_key(|(c, _)| *c);
        let mut feasible = Vec::new();
        let mut failed = Vec::new();
        let mut processed = base;
        'outer: for (_, chunk) in all {
            for (k, r) in chunk {
                if feasible.len() >= to_find {
                    break 'outer;
                }
                processed = k + 1;
                match r {
                    Ok(()) => feasible.push(at(k)),
                    Err(s) => failed.push((at(k), s)),
                }
            }
        }
        Filtered {
            feasible,
            failed,
            processed,
        }
    }

    /// Weighted, normalized scores of the feasible nodes.
    pub fn score(&self, snap: &Snapshot, pod: &PodInfo, feasible: &[usize]) -> Vec<i64> {
        let mut totals = vec![0i64; feasible.len()];
        let mut raw = vec![0i64; feasible.len()];
        let args = &self.profile.args;
        // The dense rows serve the resource and flag checks; nodes are dereferenced only
        // by plugins that need labels, taints, images or pods.
        let mut rf = snap.row_focus();
        let rows: Vec<crate::info::NodeHot> = feasible.iter().map(|&i| *rf.index(i)).collect();
        let node_at = |k: usize| -> &NodeInfo { snap.node(feasible[k]) };
        let needs_node = pod.requests.scalar.values().any(|v| *v != 0);
        for &(plugin, weight) in &self.profile.scores {
            match plugin {
                Plugin::TaintToleration => {
                    for (k, row) in rows.iter().enumerate() {
                        raw[k] = if row.soft_taints {
                            plugins::taint_toleration_score(pod, node_at(k))
                        } else {
                            0
                        };
                    }
                    plugins::default_normalize(&mut raw, true);
                }
                Plugin::NodeAffinity => {
                    if pod.preferred_node_terms.is_empty() {
                        continue;
                    }
                    for (k, r) in raw.iter_mut().enumerate() {
                        *r = plugins::node_affinity_score(pod, node_at(k));
                    }
                    plugins::default_normalize(&mut raw, false);
                }
                Plugin::NodeResourcesFit => {
                    let scorer = plugins::FitScorer::new(&args.node_resources_fit.scoring_strategy);
                    for (k, row) in rows.iter().enumerate() {
                        let node = needs_node.then(|| node_at(k));
                        raw[k] = scorer.score(pod, row, node);
                    }
                }
                Plugin::NodeResourcesBalancedAllocation => {
                    let names: Vec<String> = args
                        .node_resources_balanced_allocation
                        .resources
                        .iter()
                        .map(|r| r.name.clone())
                        .collect();
                    // Best-effort pods are not scored (kubernetes#129138).
                    if names.iter().all(|r| pod.requests.get(r) == 0) {
                        continue;
                    }
                    let kinds: Vec<plugins::ResKind<'_>> =
                        names.iter().map(|r| plugins::ResKind::of(r)).collect();
                    for (k, row) in rows.iter().enumerate() {
                        let node = needs_node.then(|| node_at(k));
                        raw[k] = plugins::balanced_allocation_score_hot(&kinds, pod, row, node);
                    }
                }
                Plugin::ImageLocality => {
                    for (k, row) in rows.iter().enumerate() {
                        raw[k] = if row.has_images {
                            plugins::image_locality_score(pod, node_at(k), snap.len(), |img| {
                                snap.image_node_count(img)
                            })
                        } else {
                            0
                        };
                    }
                }
                Plugin::InterPodAffinity => {
                    let Some(st) = topology::affinity_prescore(
                        pod,
                        snap,
                        args.inter_pod_affinity.hard_pod_affinity_weight,
                    ) else {
                        continue;
                    };
                    for (k, r) in raw.iter_mut().enumerate() {
                        *r = topology::affinity_score(&st, node_at(k));
                    }
                    topology::affinity_normalize(&mut raw);
                }
                Plugin::PodTopologySpread => {
                    let Some(st) = topology::spread_prescore(pod, snap, feasible) else {
                        continue;
                    };
                    for (k, &i) in feasible.iter().enumerate() {
                        raw[k] = topology::spread_score(&st, pod, i, node_at(k));
                    }
                    topology::spread_normalize(&st, feasible, &mut raw);
                }
                _ => continue,
            }
            for (t, r) in totals.iter_mut().zip(&raw) {
                *t += r * weight;
            }
        }
        totals
    }

    /// The highest total; ties broken uniformly at random (reservoir sampling, as
    /// kube-scheduler's `selectHost`).
    fn select(&mut self, feasible: &[usize], totals: &[i64]) -> (usize, i64) {
        let mut best = 0;
        let mut max = i64::MIN;
        let mut ties = 0u64;
        for (k, &t) in totals.iter().enumerate() {
            if t > max {
                max = t;
                best = k;
                ties = 1;
            } else if t == max {
                ties += 1;
                if self.rng.below(ties) == 0 {
                    best = k;
                }
            }
        }
        (feasible[best], max)
    }
}

/// Whether preemption could help on a node that failed with `status`.
pub fn preemption_might_help(status: &Status) -> bool {
    status.code == Code::Unschedulable
}
