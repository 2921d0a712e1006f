//! Scores and their normalization.

use serde_json::json;

use super::*;
use crate::cache::Snapshot;
use crate::config::{ProfileConfig, ScoringStrategy, ScoringStrategyType};
use crate::plugins::{self, default_normalize};
use crate::schedule::Scheduler;

fn strategy(kind: ScoringStrategyType) -> ScoringStrategy {
    ScoringStrategy {
        kind,
        ..Default::default()
    }
}

#[test]
fn resource_scores() {
    // Node: 4 cpu, 8Gi; existing pod 1 cpu / 2Gi; incoming 1 cpu / 2Gi.
    let n = node("n1", json!({}));
    let info = ni(&n, &[pod_req("e", "1", "2Gi")]);
    let p = pi(&pod_req("p", "1", "2Gi"));
    // requested 2/4 cpu and 4/8Gi memory.
    assert_eq!(
        plugins::resources_fit_score(&strategy(ScoringStrategyType::LeastAllocated), &p, &info),
        50
    );
    assert_eq!(
        plugins::resources_fit_score(&strategy(ScoringStrategyType::MostAllocated), &p, &info),
        50
    );
    // Best-effort pods count as 100m / 200Mi: cpu (4000-100)*100/4000 = 97, memory
    // (8192-200)*100/8192 = 97.
    let be = pi(&pod("b", json!({})));
    assert_eq!(
        plugins::resources_fit_score(
            &strategy(ScoringStrategyType::LeastAllocated),
            &be,
            &ni(&n, &[])
        ),
        97
    );
    // Over capacity: least 0, most capped at 100.
    let big = pi(&pod_req("b", "8", "16Gi"));
    assert_eq!(
        plugins::resources_fit_score(
            &strategy(ScoringStrategyType::LeastAllocated),
            &big,
            &ni(&n, &[])
        ),
        0
    );
    assert_eq!(
        plugins::resources_fit_score(
            &strategy(ScoringStrategyType::MostAllocated),
            &big,
            &ni(&n, &[])
        ),
        100
    );
    // Weights: cpu 3 at 75 (1/4 used), memory 1 at 50 → (225+50)/4 = 68.
    let mut w = strategy(ScoringStrategyType::LeastAllocated);
    w.resources[0].weight = 3;
    assert_eq!(
        plugins::resources_fit_score(&w, &pi(&pod_req("p", "1", "4Gi")), &ni(&n, &[])),
        68
    );
    // RequestedToCapacityRatio with a bin-packing shape (0→0, 100→10): 50% used → 50.
    let cfg: ProfileConfig = serde_json::from_value(json!({"pluginConfig": [{"name": "NodeResourcesFit", "args": {"scoringStrategy": {
        "type": "RequestedToCapacityRatio",
        "requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 10}]}}}}]}))
    .unwrap();
    let prof = cfg.validate().unwrap();
    let s = &prof.args.node_resources_fit.scoring_strategy;
    assert_eq!(plugins::resources_fit_score(s, &p, &info), 50);
    // Spreading shape (0→10, 100→0): 25% → 75.
    let cfg: ProfileConfig = serde_json::from_value(json!({"pluginConfig": [{"name": "NodeResourcesFit", "args": {"scoringStrategy": {
        "type": "RequestedToCapacityRatio",
        "requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 10}, {"utilization": 100, "score": 0}]}}}}]}))
    .unwrap();
    let prof = cfg.validate().unwrap();
    let s = &prof.args.node_resources_fit.scoring_strategy;
    assert_eq!(
        plugins::resources_fit_score(s, &pi(&pod_req("p", "1", "2Gi")), &ni(&n, &[])),
        75
    );
}

#[test]
fn balanced_allocation() {
    let n = node("n1", json!({}));
    let res = vec!["cpu".to_string(), "memory".to_string()];
    // cpu 2/4 = 0.5, memory 2/8 = 0.25 → std 0.125 → 87.
    let p = pi(&pod_req("p", "2", "2Gi"));
    assert_eq!(
        plugins::balanced_allocation_score(&res, &p, &ni(&n, &[])),
        87
    );
    // Equal fractions → 100.
    let p = pi(&pod_req("p", "1", "2Gi"));
    assert_eq!(
        plugins::balanced_allocation_score(&res, &p, &ni(&n, &[])),
        100
    );
    // Fractions capped at 1: cpu 8/4 → 1, memory 0 → std 0.5 → 50.
    let p = pi(&pod_req("p", "8", ""));
    assert_eq!(
        plugins::balanced_allocation_score(&res, &p, &ni(&n, &[])),
        50
    );
}

#[test]
fn normalization() {
    let cases: Vec<(Vec<i64>, bool, Vec<i64>)> = vec![
        (vec![0, 0], false, vec![0, 0]),
        (vec![0, 0], true, vec![100, 100]),
        (vec![1, 2, 4], false, vec![25, 50, 100]),
        (vec![1, 2, 4], true, vec![75, 50, 0]),
    ];
    for (mut s, rev, want) in cases {
        default_normalize(&mut s, rev);
        assert_eq!(s, want);
    }
    let mut s = vec![-5, 0, 5];
    crate::topology::affinity_normalize(&mut s);
    assert_eq!(s, vec![0, 50, 100]);
    let mut s = vec![3, 3];
    crate::topology::affinity_normalize(&mut s);
    assert_eq!(s, vec![0, 0]);
}

#[test]
fn taint_and_affinity_raw_scores() {
    let n = node(
        "n1",
        json!({"metadata": {"labels": {"zone": "a", "disk": "ssd"}},
               "spec": {"taints": [{"key": "a", "effect": "PreferNoSchedule"}, {"key": "b", "effect": "PreferNoSchedule"}, {"key": "c", "effect": "NoSchedule"}]}}),
    );
    let info = ni(&n, &[]);
    let tol = |t: serde_json::Value| pi(&pod("p", json!({"spec": {"tolerations": t}})));
    assert_eq!(plugins::taint_toleration_score(&tol(json!([])), &info), 2);
    assert_eq!(
        plugins::taint_toleration_score(
            &tol(json!([{"key": "a", "operator": "Exists", "effect": "PreferNoSchedule"}])),
            &info
        ),
        1
    );
    // A NoSchedule toleration does not count for PreferNoSchedule taints.
    assert_eq!(
        plugins::taint_toleration_score(
            &tol(json!([{"key": "a", "operator": "Exists", "effect": "NoSchedule"}])),
            &info
        ),
        2
    );
    assert_eq!(
        plugins::taint_toleration_score(&tol(json!([{"operator": "Exists"}])), &info),
        0
    );
    let pref = pi(&pod(
        "p",
        json!({"spec": {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 5, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}},
        {"weight": 3, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["hdd"]}]}},
        {"weight": 7, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}}]}}}}),
    ));
    assert_eq!(plugins::node_affinity_score(&pref, &info), 12);
}

#[test]
fn image_locality() {
    let mb = 1024 * 1024;
    let img = |size: i64| json!({"status": {"images": [{"names": ["docker.io/library/app:1", "app:1"], "sizeBytes": size}]}});
    let nodes = vec![node("n1", img(500 * mb)), node("n2", json!({}))];
    let snap = Snapshot::build(&nodes, &[]);
    let p = pi(&pod(
        "p",
        json!({"spec": {"containers": [{"name": "c", "image": "app:1"}]}}),
    ));
    let score = |i: usize| {
        plugins::image_locality_score(&p, snap.node(i), snap.len(), |x| snap.image_node_count(x))
    };
    // 500MB × spread 1/2 = 250MB → 100 × (250−23)/(1000−23) = 23.
    assert_eq!(score(0), 23);
    assert_eq!(score(1), 0);
    // An untagged image is normalized to :latest.
    assert_eq!(
        crate::info::normalized_image_name("busybox"),
        "busybox:latest"
    );
    assert_eq!(
        crate::info::normalized_image_name("reg:5000/busybox"),
        "reg:5000/busybox:latest"
    );
    assert_eq!(
        crate::info::normalized_image_name("busybox@sha256:ab"),
        "busybox@sha256:ab"
    );
}

fn schedule_one(nodes: &[Node], pods: &[Pod], incoming: &Pod) -> (String, Vec<i64>) {
    let snap = Snapshot::build(nodes, pods);
    let mut s = Scheduler::new(Default::default(), 1);
    let p = pi(incoming);
    let feasible: Vec<usize> = (0..snap.len()).collect();
    let scores = s.score(&snap, &p, &feasible);
    let r = s.schedule(&snap, &p).expect("schedulable");
    (r.node, scores)
}

#[test]
fn inter_pod_affinity_and_spread_scores() {
    let nodes = vec![
        node("a1", json!({"metadata": {"labels": {"zone": "a"}}})),
        node("b1", json!({"metadata": {"labels": {"zone": "b"}}})),
    ];
    let existing = vec![on(
        pod("db", json!({"metadata": {"labels": {"app": "db"}}})),
        "b1",
    )];
    let term = |kind: &str| {
        pod(
            "p",
            json!({"spec": {"affinity": {kind: {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 10, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone"}}]}}}}),
        )
    };
    let (node, _) = schedule_one(&nodes, &existing, &term("podAffinity"));
    assert_eq!(node, "b1");
    let (node, _) = schedule_one(&nodes, &existing, &term("podAntiAffinity"));
    assert_eq!(node, "a1");
    // An existing pod's required affinity toward the incoming pod attracts it
    // (hardPodAffinityWeight).
    let attract = vec![on(
        pod(
            "fan",
            json!({"spec": {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "zone"}]}}}}),
        ),
        "a1",
    )];
    let (node, _) = schedule_one(
        &nodes,
        &attract,
        &pod("w", json!({"metadata": {"labels": {"app": "web"}}})),
    );
    assert_eq!(node, "a1");

    // ScheduleAnyway spreading prefers the zone with fewer matching pods.
    let web = |n: &str, node: &str| {
        on(
            pod(n, json!({"metadata": {"labels": {"app": "web"}}})),
            node,
        )
    };
    let spread = pod(
        "s",
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"app": "web"}}}]}}),
    );
    let (node, _) = schedule_one(&nodes, &[web("w1", "a1"), web("w2", "a1")], &spread);
    assert_eq!(node, "b1");
}
