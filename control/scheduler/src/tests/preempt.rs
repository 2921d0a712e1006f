//! Preemption planning.

use clipper_proto::selector::LabelSelectorExpr;
use serde_json::json;

use super::*;
use crate::cache::Snapshot;
use crate::preemption::{Pdb, Plan, plan};
use crate::schedule::{FitError, Rng, ScheduleError, Scheduler};

fn prio(name: &str, priority: i32, cpu: &str, start: &str) -> Pod {
    pod(
        name,
        json!({"metadata": {"labels": {"app": name.trim_end_matches(char::is_numeric)}},
               "spec": {"priority": priority, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]},
               "status": {"startTime": start}}),
    )
}

const T1: &str = "2024-01-01T00:00:00Z";
const T2: &str = "2024-01-02T00:00:00Z";

fn run(nodes: &[Node], pods: &[Pod], incoming: &Pod, pdbs: &[Pdb]) -> Result<Plan, String> {
    let snap = Snapshot::build(nodes, pods);
    let mut s = Scheduler::new(Default::default(), 1);
    let p = pi(incoming);
    let fit: FitError = match s.schedule(&snap, &p) {
        Err(ScheduleError::Fit(e)) => *e,
        other => panic!("expected a FitError, got {other:?}"),
    };
    plan(
        &s,
        &snap,
        &p,
        &fit,
        pdbs,
        &crate::schedule::Nominated::default(),
        &mut Rng::new(1),
    )
    .map_err(|m| {
        let mut e = fit.clone();
        e.post_filter_msg = Some(m);
        e.to_string()
    })
}

fn summary(r: Result<Plan, String>) -> String {
    match r {
        Ok(p) => format!(
            "{}: [{}] pdb={}",
            p.node,
            p.victims
                .iter()
                .map(|v| v.name.as_str())
                .collect::<Vec<_>>()
                .join(","),
            p.num_pdb_violations
        ),
        Err(m) => m,
    }
}

fn three_nodes() -> Vec<Node> {
    (0..3).map(|i| node(&format!("n{i}"), json!({}))).collect()
}

#[test]
fn preemption_plans() {
    let ns = three_nodes();
    let base = vec![
        on(prio("low1", 1, "2", T1), "n0"),
        on(prio("low2", 1, "2", T2), "n0"),
        on(prio("mid1", 5, "4", T1), "n1"),
        on(prio("high1", 100, "4", T1), "n2"),
    ];
    let pdb_low = Pdb {
        namespace: "default".into(),
        selector: LabelSelectorExpr::parse("app=low").unwrap(),
        disruptions_allowed: 0,
        disrupted_pods: vec![],
    };
    type Case = (&'static str, Vec<Pod>, Pod, Vec<Pdb>, &'static str);
    let cases: Vec<Case> = vec![
        (
            "fewest victims with the lowest priority; the later-started pod goes",
            base.clone(),
            prio("in", 10, "2", T1),
            vec![],
            "n0: [low2] pdb=0",
        ),
        (
            "a PDB violation outweighs victim priority",
            base.clone(),
            prio("in", 10, "2", T1),
            vec![pdb_low.clone()],
            "n1: [mid1] pdb=0",
        ),
        (
            "PDB-violating pods are reprieved first: with a budget of one, low2 would \
             violate it, so low2 stays and low1 goes",
            base.clone(),
            prio("in", 10, "2", T1),
            vec![Pdb {
                disruptions_allowed: 1,
                ..pdb_low.clone()
            }],
            "n0: [low1] pdb=0",
        ),
        (
            "needing both pods on n0 loses to one pod of the same priority on n1 (sum of priorities)",
            vec![
                on(prio("low1", 1, "2", T1), "n0"),
                on(prio("low2", 1, "2", T2), "n0"),
                on(prio("lone1", 1, "4", T1), "n1"),
                on(prio("high1", 100, "4", T1), "n2"),
            ],
            prio("in", 10, "4", T1),
            vec![],
            "n1: [lone1] pdb=0",
        ),
        (
            "when every candidate violates a PDB the one with fewer violations wins",
            vec![
                on(prio("low1", 1, "2", T1), "n0"),
                on(prio("low2", 1, "2", T2), "n0"),
                on(prio("high1", 100, "4", T1), "n1"),
                on(prio("high2", 100, "4", T1), "n2"),
            ],
            prio("in", 10, "4", T1),
            vec![pdb_low],
            "n0: [low1,low2] pdb=2",
        ),
        (
            "no lower-priority pods anywhere",
            base.clone(),
            prio("in", 0, "2", T1),
            vec![],
            "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
        ),
        (
            "removing every lower-priority pod is still not enough",
            base.clone(),
            prio("in", 10, "5", T1),
            vec![],
            "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Insufficient cpu.",
        ),
        (
            "preemptionPolicy Never",
            base.clone(),
            pod(
                "in",
                json!({"spec": {"priority": 10, "preemptionPolicy": "Never", "containers": [{"name": "c", "resources": {"requests": {"cpu": "2"}}}]}}),
            ),
            vec![],
            "0/3 nodes are available: 3 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.",
        ),
    ];
    for (name, pods, incoming, pdbs, want) in cases {
        assert_eq!(
            summary(run(&ns, &pods, &incoming, &pdbs)),
            want,
            "case {name}"
        );
    }
}

#[test]
fn preemption_cannot_help_unresolvable_nodes() {
    let ns: Vec<Node> = (0..3)
        .map(|i| {
            node(
                &format!("n{i}"),
                json!({"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}}),
            )
        })
        .collect();
    let pods = vec![on(prio("low1", 1, "1", T1), "n0")];
    assert_eq!(
        summary(run(&ns, &pods, &prio("in", 10, "1", T1), &[])),
        "0/3 nodes are available: 3 node(s) had untolerated taint {k: }. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
}

#[test]
fn preemption_for_anti_affinity_and_ports() {
    let ns = vec![node("n0", json!({"metadata": {"labels": {"zone": "a"}}}))];
    // A low-priority pod holds the host port: evicting it frees the port.
    let port = json!([{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}]}]);
    let holder = on(
        pod("low1", json!({"spec": {"priority": 1, "containers": port}})),
        "n0",
    );
    let other = on(pod("keep1", json!({"spec": {"priority": 1}})), "n0");
    let incoming = pod("in", json!({"spec": {"priority": 10, "containers": port}}));
    assert_eq!(
        summary(run(&ns, &[holder, other.clone()], &incoming, &[])),
        "n0: [low1] pdb=0"
    );
    // The incoming pod's anti-affinity toward a low-priority pod: evicting it helps.
    let db = on(
        pod(
            "db1",
            json!({"metadata": {"labels": {"app": "db"}}, "spec": {"priority": 1}}),
        ),
        "n0",
    );
    let incoming = pod(
        "in",
        json!({"spec": {"priority": 10, "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone"}]}}}}),
    );
    assert_eq!(
        summary(run(&ns, &[db, other], &incoming, &[])),
        "n0: [db1] pdb=0"
    );
}

#[test]
fn nominated_pods_keep_their_room() {
    // Two nodes with 4 cpu each; n0 has 3 cpu free after `low`, n1 is full.
    let ns = vec![node("n0", json!({})), node("n1", json!({}))];
    let pods = vec![
        on(prio("low", 0, "1", T1), "n0"),
        on(prio("big", 0, "4", T1), "n1"),
    ];
    let snap = Snapshot::build(&ns, &pods);
    let mut nominated = crate::schedule::Nominated::default();
    // A priority-100 pod nominated to n0 wants 3 cpu there.
    let preemptor = Arc::new(pi(&prio("pre", 100, "3", T2)));
    nominated.add(preemptor.clone(), "n0");
    assert_eq!(nominated.node_of("default", "pre"), Some("n0"));

    let mut s = Scheduler::new(Default::default(), 3);
    // A lower-priority pod asking 1 cpu: n0 counts the nominated pod, so nothing fits.
    let lower = pi(&prio("lower", 10, "1", T2));
    match s.schedule_with(&snap, &lower, &nominated) {
        Err(ScheduleError::Fit(e)) => assert_eq!(
            e.to_string(),
            "0/2 nodes are available: 2 Insufficient cpu.",
            "the room preemption made on n0 is kept for the nominated pod"
        ),
        other => panic!("expected a FitError, got {other:?}"),
    }
    // Without the nomination the same pod fits on n0.
    assert_eq!(s.schedule(&snap, &lower).unwrap().node, "n0");
    // A higher-priority pod does not make room for a lower-priority nomination.
    let higher = pi(&prio("higher", 1000, "1", T2));
    assert_eq!(
        s.schedule_with(&snap, &higher, &nominated).unwrap().node,
        "n0"
    );
    // The nominated pod itself goes to its node first, without scoring.
    let r = s.schedule_with(&snap, &preemptor, &nominated).unwrap();
    assert_eq!((r.node.as_str(), r.evaluated_nodes), ("n0", 1));
    // Forgetting the nomination frees the room.
    assert_eq!(nominated.remove("default", "pre").as_deref(), Some("n0"));
    assert!(nominated.is_empty());
    assert_eq!(
        s.schedule_with(&snap, &lower, &nominated).unwrap().node,
        "n0"
    );
}

#[test]
fn a_nominated_pod_waits_for_terminating_victims() {
    let ns = vec![node("n0", json!({}))];
    let mut victim = on(prio("low", 0, "4", T1), "n0");
    victim.metadata.deletion_timestamp = Some(clipper_proto::Time::parse(T2).unwrap());
    let snap = Snapshot::build(&ns, &[victim]);
    let high = pi(&prio("high", 100, "2", T2));
    assert_eq!(
        crate::preemption::eligible_to_preempt(&snap, &high, Some("n0")),
        Err("preemption: not eligible due to a terminating pod on the nominated node.".into())
    );
    // Not nominated yet, or nominated elsewhere: eligible.
    assert_eq!(
        crate::preemption::eligible_to_preempt(&snap, &high, None),
        Ok(())
    );
    assert_eq!(
        crate::preemption::eligible_to_preempt(&snap, &high, Some("n9")),
        Ok(())
    );
    // A terminating pod of higher priority does not count.
    let low = pi(&prio("lower", -5, "1", T2));
    assert_eq!(
        crate::preemption::eligible_to_preempt(&snap, &low, Some("n0")),
        Ok(())
    );
}

#[test]
fn a_second_preemptor_does_not_take_a_claimed_node() {
    let ns = vec![node("n0", json!({})), node("n1", json!({}))];
    let mut pods = Vec::new();
    for n in ["n0", "n1"] {
        for i in 0..4 {
            pods.push(on(prio(&format!("low-{n}-{i}"), 0, "1", T1), n));
        }
    }
    let snap = Snapshot::build(&ns, &pods);
    let s = Scheduler::new(Default::default(), 1);
    let mut nominated = crate::schedule::Nominated::default();
    let plan_for = |name: &str, nominated: &crate::schedule::Nominated| {
        let p = pi(&prio(name, 100, "3", T2));
        let fit = match s.clone().schedule_with(&snap, &p, nominated) {
            Err(ScheduleError::Fit(e)) => *e,
            other => panic!("expected a FitError, got {other:?}"),
        };
        (
            p,
            plan(
                &s,
                &snap,
                &pi(&prio(name, 100, "3", T2)),
                &fit,
                &[],
                nominated,
                &mut Rng::new(1),
            ),
        )
    };
    let (a, first) = plan_for("a", &nominated);
    let first = first.expect("a plan for a");
    assert_eq!(first.victims.len(), 3);
    nominated.add(Arc::new(a), &first.node);
    let (_, second) = plan_for("b", &nominated);
    let second = second.expect("a plan for b");
    assert_ne!(
        second.node, first.node,
        "b must not take the node a claimed"
    );
    // With both nodes claimed, a third finds no candidate.
    let (b, _) = plan_for("b", &crate::schedule::Nominated::default());
    nominated.add(Arc::new(b), &second.node);
    let (_, third) = plan_for("c", &nominated);
    assert!(third.is_err(), "{third:?}");
}
