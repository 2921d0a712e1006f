//! Preemption planning (DefaultPreemption's PostFilter), pure: for a pod that fits
//! nowhere, find nodes where evicting lower-priority pods makes it fit, keep the fewest
//! victims (reprieving the most important first, PDB-violating ones before the others),
//! and pick the node as kube-scheduler does.

use std::sync::Arc;

use clipper_proto::selector::LabelSelectorExpr;

use crate::cache::Snapshot;
use crate::info::{NodeInfo, PodInfo};
use crate::plugins::Status;
use crate::schedule::{
    Cycle, FitError, Nominated, Rng, Scheduler, preemption_might_help, reason_histogram,
};

/// Candidates searched at least as a share of the nodes (`minCandidateNodesPercentage`).
pub const MIN_CANDIDATE_NODES_PERCENTAGE: usize = 10;
/// …and at least this many (`minCandidateNodesAbsolute`).
pub const MIN_CANDIDATE_NODES_ABSOLUTE: usize = 100;

pub const MSG_NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
pub const MSG_NO_VICTIMS: &str = "No preemption victims found for incoming pod";

/// A PodDisruptionBudget as preemption needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pdb {
    pub namespace: String,
    pub selector: LabelSelectorExpr,
    pub disruptions_allowed: i32,
    /// `status.disruptedPods` names: already being evicted, not counted again.
    pub disrupted_pods: Vec<String>,
}

/// The outcome: the node to nominate and the pods to evict there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub node: String,
    /// Most important first.
    pub victims: Vec<Arc<PodInfo>>,
    pub num_pdb_violations: usize,
}

/// kube-scheduler's `MoreImportantPod`: higher priority, then earlier start.
fn more_important(a: &PodInfo, b: &PodInfo) -> std::cmp::Ordering {
    b.priority
        .cmp(&a.priority)
        .then(a.start_time_s.cmp(&b.start_time_s))
}

/// Splits pods (most important first) into (PDB-violating, non-violating).
pub fn split_by_pdb(pods: &[Arc<PodInfo>], pdbs: &[Pdb]) -> (Vec<Arc<PodInfo>>, Vec<Arc<PodInfo>>) {
    let mut allowed: Vec<i32> = pdbs.iter().map(|p| p.disruptions_allowed).collect();
    let mut violating = Vec::new();
    let mut ok = Vec::new();
    for p in pods {
        let mut violated = false;
        if !p.labels.is_empty() {
            for (i, pdb) in pdbs.iter().enumerate() {
                if pdb.namespace != p.namespace
                    || pdb.selector.is_everything()
                    || !pdb.selector.matches(&p.labels)
                    || pdb.disrupted_pods.iter().any(|n| *n == p.name)
                {
                    continue;
                }
                allowed[i] -= 1;
                if allowed[i] < 0 {
                    violated = true;
                }
            }
        }
        if violated {
            violating.push(p.clone());
        } else {
            ok.push(p.clone());
        }
    }
    (violating, ok)
}

/// `SelectVictimsOnNode`: the minimal set of lower-priority pods to evict from `node`.
pub fn select_victims(
    sched: &Scheduler,
    cycle: &Cycle<'_>,
    node: &NodeInfo,
    pdbs: &[Pdb],
) -> Result<(Vec<Arc<PodInfo>>, usize), Status> {
    let pod = cycle.pod;
    let mut potential: Vec<Arc<PodInfo>> = node
        .pods
        .iter()
        .filter(|p| p.priority < pod.priority)
        .cloned()
        .collect();
    if potential.is_empty() {
        return Err(Status::unresolvable(MSG_NO_VICTIMS));
    }
    let mut ni = node.clone();
    let mut cy = cycle.clone();
    for v in &potential {
        ni.remove_pod(&v.namespace, &v.name);
        cy.update(v, node, -1);
    }
    // Pods nominated here (of at least this priority) hold their room: a node another
    // preemptor has claimed is no candidate unless it fits both.
    if let Some(claimed) = cycle
        .snap
        .index_of(node.name())
        .and_then(|i| cycle.nominated.get(&i))
    {
        for p in claimed {
            cy.update(p, &ni, 1);
            ni.add_pod(p.clone());
        }
    }
    cy.filter(&sched.profile, &ni)?;
    potential.sort_by(|a, b| more_important(a, b));
    let (violating, ok) = split_by_pdb(&potential, pdbs);
    let mut victims = Vec::new();
    let mut num_violating = 0;
    for (group, counts) in [(violating, true), (ok, false)] {
        for p in group {
            ni.add_pod(p.clone());
            cy.update(&p, node, 1);
            if cy.filter(&sched.profile, &ni).is_err() {
                ni.remove_pod(&p.namespace, &p.name);
                cy.update(&p, node, -1);
                victims.push(p);
                if counts {
                    num_violating += 1;
                }
            }
        }
    }
    victims.sort_by(|a, b| more_important(a, b));
    Ok((victims, num_violating))
}

struct Candidate {
    node: usize,
    victims: Vec<Arc<PodInfo>>,
    pdb_violations: usize,
}

/// kube-scheduler's `pickOneNodeForPreemption` criteria, in order.
fn pick(cands: &[Candidate]) -> usize {
    if let Some(i) = cands.iter().position(|c| c.victims.is_empty()) {
        return i;
    }
    let keys: [&dyn Fn(&Candidate) -> i64; 5] = [
        &|c| -(c.pdb_violations as i64),
        &|c| -i64::from(c.victims[0].priority),
        &|c| {
            -c.victims
                .iter()
                .map(|v| i64::from(v.priority) + i64::from(i32::MAX) + 1)
                .sum::<i64>()
        },
        &|c| -(c.victims.len() as i64),
        // Latest earliest-start among the highest-priority victims.
        &|c| {
            let top = c.victims[0].priority;
            c.victims
                .iter()
                .filter(|v| v.priority == top)
                .map(|v| v.start_time_s)
                .min()
                .unwrap_or(0)
        },
    ];
    let mut alive: Vec<usize> = (0..cands.len()).collect();
    for key in keys {
        let best = alive.iter().map(|&i| key(&cands[i])).max().unwrap_or(0);
        alive.retain(|&i| key(&cands[i]) == best);
        if alive.len() == 1 {
            break;
        }
    }
    alive[0]
}

/// kube-scheduler's `PodEligibleToPreemptOthers`: a pod already nominated to a node
/// where a lower-priority pod is terminating waits for it (its earlier preemption is
/// still under way) instead of choosing more victims. `Err` is the PostFilter message.
pub fn eligible_to_preempt(
    snap: &Snapshot,
    pod: &PodInfo,
    nominated_node: Option<&str>,
) -> Result<(), String> {
    if pod.preemption_never {
        return Err("preemption: not eligible due to preemptionPolicy=Never.".into());
    }
    if let Some(node) = nominated_node.and_then(|n| snap.get(n))
        && node
            .pods
            .iter()
            .any(|p| p.terminating && p.priority < pod.priority)
    {
        return Err(
            "preemption: not eligible due to a terminating pod on the nominated node.".into(),
        );
    }
    Ok(())
}

/// Plans preemption for `pod` after `fit` (all nodes failed). `Ok`: nominate and evict;
/// `Err`: the PostFilter message to append to the FitError (`preemption: …`).
pub fn plan(
    sched: &Scheduler,
    snap: &Snapshot,
    pod: &PodInfo,
    fit: &FitError,
    pdbs: &[Pdb],
    nominated: &Nominated,
    rng: &mut Rng,
) -> Result<Plan, String> {
    if pod.preemption_never {
        return Err("preemption: not eligible due to preemptionPolicy=Never.".into());
    }
    let n = snap.len();
    let mut statuses: Vec<(usize, Status)> = Vec::new();
    let mut potential = Vec::new();
    for (i, st) in &fit.node_status {
        if preemption_might_help(st) {
            potential.push(*i);
        } else {
            statuses.push((*i, Status::unresolvable(MSG_NOT_HELPFUL)));
        }
    }
    let mut cycle = Cycle::new(&sched.profile, pod, snap);
    if !nominated.is_empty() {
        cycle.nominated = Arc::new(nominated.for_cycle(snap, pod));
    }
    let want = (n * MIN_CANDIDATE_NODES_PERCENTAGE / 100)
        .max(MIN_CANDIDATE_NODES_ABSOLUTE)
        .min(potential.len());
    let offset = if potential.is_empty() {
        0
    } else {
        rng.below(potential.len() as u64) as usize
    };
    let mut cands = Vec::new();
    let mut non_violating = 0;
    for k in 0..potential.len() {
        if non_violating > 0 && cands.len() >= want {
            break;
        }
        let i = potential[(offset + k) % potential.len()];
        match select_victims(sched, &cycle, snap.node(i), pdbs) {
            Ok((victims, v)) => {
                non_violating += usize::from(v == 0);
                cands.push(Candidate {
                    node: i,
                    victims,
                    pdb_violations: v,
                });
            }
            Err(s) => statuses.push((i, s)),
        }
    }
    if cands.is_empty() {
        let evaluated = statuses.len();
        let mut hist = reason_histogram(statuses.iter().map(|(_, s)| (1, s)));
        if evaluated < n {
            // Nodes a PreFilter left out: preemption cannot help there either.
            let absent = Status::unresolvable(MSG_NOT_HELPFUL);
            hist = reason_histogram(
                statuses
                    .iter()
                    .map(|(_, s)| (1, s))
                    .chain(std::iter::once((n - evaluated, &absent))),
            );
        }
        return Err(format!(
            "preemption: 0/{n} nodes are available: {}.",
            hist.join(", ")
        ));
    }
    let best = &cands[pick(&cands)];
    Ok(Plan {
        node: snap.node(best.node).name().to_string(),
        victims: best.victims.clone(),
        num_pdb_violations: best.pdb_violations,
    })
}
