//! Whole cycles: node-count window, round robin, selection, parallel filtering, the
//! FitError message, the cache, and profile configuration.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::cache::{Cache, CacheError, Snapshot};
use crate::config::{ConfigError, Plugin, ProfileConfig};
use crate::plugins::Status;
use crate::schedule::{FitError, ScheduleError, Scheduler, num_feasible_nodes_to_find};

#[test]
fn percentage_of_nodes_to_score() {
    // (percentage, nodes, want)
    let cases = [
        (None, 0, 0),
        (None, 10, 10),
        (None, 99, 99),
        (None, 100, 100),  // 50% of 100 = 50 < 100
        (None, 250, 120),  // 48%
        (None, 1000, 420), // 42%
        (None, 5000, 500), // 10%
        (None, 5500, 330), // 6%
        (None, 6000, 300), // 2% → floor 5%
        (None, 15000, 750),
        (None, 50000, 2500),
        (None, 100000, 5000),
        (Some(0), 5000, 500),
        (Some(30), 1000, 300),
        (Some(1), 1000, 100), // at least 100
        (Some(100), 5000, 5000),
        (Some(50), 80, 80), // below 100 nodes: all
    ];
    for (pct, n, want) in cases {
        assert_eq!(
            num_feasible_nodes_to_find(pct, n),
            want,
            "pct {pct:?} nodes {n}"
        );
    }
}

fn fit_error(n: usize, statuses: Vec<Status>) -> FitError {
    FitError {
        pod: "default/p".into(),
        num_all_nodes: n,
        node_status: statuses.into_iter().enumerate().collect(),
        ..Default::default()
    }
}

#[test]
fn fit_error_message() {
    let cpu = || Status::unschedulable("Insufficient cpu");
    let taint = || Status::unresolvable("node(s) had untolerated taint {node-role: x}");
    let mut statuses = vec![];
    statuses.extend((0..4000).map(|_| cpu()));
    statuses.extend((0..1000).map(|_| taint()));
    // Reasons sort as "count reason" strings, so "1000 node(s)…" precedes "4000 Insufficient…".
    assert_eq!(
        fit_error(5000, statuses).to_string(),
        "0/5000 nodes are available: 1000 node(s) had untolerated taint {node-role: x}, 4000 Insufficient cpu."
    );
    // A node with two reasons counts in both.
    let both = Status {
        code: crate::plugins::Code::Unschedulable,
        reasons: vec!["Insufficient cpu".into(), "Insufficient memory".into()],
    };
    assert_eq!(
        fit_error(3, vec![both.clone(), both, cpu()]).to_string(),
        "0/3 nodes are available: 2 Insufficient memory, 3 Insufficient cpu."
    );
    let mut e = fit_error(2, vec![cpu(), cpu()]);
    e.post_filter_msg = Some(
        "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
            .into(),
    );
    assert_eq!(
        e.to_string(),
        "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
    );
    let mut e = fit_error(2, vec![]);
    e.prefilter_msg = Some("node(s) didn't match pod affinity rules".into());
    assert_eq!(
        e.to_string(),
        "0/2 nodes are available: node(s) didn't match pod affinity rules."
    );
}

fn nodes(n: usize) -> Vec<Node> {
    (0..n).map(|i| node(&format!("n{i}"), json!({}))).collect()
}

#[test]
fn schedules_to_the_least_allocated_node() {
    let ns = nodes(3);
    let existing = vec![
        on(pod_req("a", "2", "4Gi"), "n0"),
        on(pod_req("b", "1", "1Gi"), "n1"),
    ];
    let snap = Snapshot::build(&ns, &existing);
    let mut s = Scheduler::new(Default::default(), 7);
    let r = s.schedule(&snap, &pi(&pod_req("p", "1", "1Gi"))).unwrap();
    assert_eq!(r.node, "n2");
    assert_eq!(r.feasible_nodes, 3);
    assert_eq!(r.evaluated_nodes, 3);
}

#[test]
fn fit_error_through_a_cycle() {
    let mut ns = nodes(3);
    ns.push(node(
        "t",
        json!({"spec": {"taints": [{"key": "node-role", "value": "x", "effect": "NoSchedule"}]}}),
    ));
    ns.push(node("c", json!({"spec": {"unschedulable": true}})));
    let snap = Snapshot::build(&ns, &[]);
    let mut s = Scheduler::new(Default::default(), 7);
    let err = s.schedule(&snap, &pi(&pod_req("p", "5", ""))).unwrap_err();
    let ScheduleError::Fit(e) = err else {
        panic!("expected a FitError")
    };
    assert_eq!(
        e.to_string(),
        "0/5 nodes are available: 1 node(s) had untolerated taint {node-role: x}, 1 node(s) were unschedulable, 3 Insufficient cpu."
    );
    assert_eq!(
        Scheduler::new(Default::default(), 1)
            .schedule(&Snapshot::default(), &pi(&pod("p", json!({})))),
        Err(ScheduleError::NoNodes)
    );
}

#[test]
fn tie_break_is_random_but_seeded() {
    let snap = Snapshot::build(&nodes(50), &[]);
    let p = pi(&pod_req("p", "1", "1Gi"));
    let picks = |seed| {
        let mut s = Scheduler::new(Default::default(), seed);
        (0..20)
            .map(|_| s.schedule(&snap, &p).unwrap().node)
            .collect::<Vec<_>>()
    };
    assert_eq!(picks(3), picks(3), "same seed, same choices");
    let distinct: std::collections::HashSet<_> = picks(3).into_iter().collect();
    assert!(
        distinct.len() > 5,
        "equal nodes are chosen at random: {distinct:?}"
    );
}

#[test]
fn round_robin_window_and_parallel_equivalence() {
    // 1000 nodes → 420 to find; the next cycle starts where this one stopped.
    let snap = Snapshot::build(&nodes(1000), &[]);
    let p = pi(&pod_req("p", "100m", ""));
    let mut s = Scheduler::new(Default::default(), 1);
    let r = s.schedule(&snap, &p).unwrap();
    assert_eq!((r.evaluated_nodes, r.feasible_nodes), (420, 420));
    assert_eq!(s.next_start_index(), 420);
    s.schedule(&snap, &p).unwrap();
    assert_eq!(s.next_start_index(), 840);
    s.schedule(&snap, &p).unwrap();
    assert_eq!(s.next_start_index(), 260);

    // Half the nodes are too small: the scan goes on until 420 feasible are found.
    let mut ns = nodes(1000);
    for (i, n) in ns.iter_mut().enumerate() {
        if i % 2 == 1 {
            n.status
                .as_mut()
                .unwrap()
                .allocatable
                .as_mut()
                .unwrap()
                .insert("cpu".into(), clipper_proto::Quantity::parse("50m").unwrap());
        }
    }
    let snap = Snapshot::build(&ns, &[]);
    let mut seq = Scheduler::new(Default::default(), 9);
    let mut par = Scheduler::new(
        crate::config::ProfileConfig {
            parallelism: 4,
            ..Default::default()
        }
        .validate()
        .unwrap(),
        9,
    );
    par.parallel_min_nodes = 1;
    par.cores = 4;
    for _ in 0..5 {
        let a = seq.schedule(&snap, &p).unwrap();
        let b = par.schedule(&snap, &p).unwrap();
        assert_eq!(
            a, b,
            "parallel filtering decides as the sequential scan does"
        );
        assert_eq!(a.feasible_nodes, 420);
        assert!(
            (839..=840).contains(&a.evaluated_nodes),
            "{}",
            a.evaluated_nodes
        );
        assert_eq!(seq.next_start_index(), par.next_start_index());
    }
    // Nothing fits: every node is evaluated in parallel too, and the reasons add up.
    let huge = pi(&pod_req("h", "64", ""));
    let ScheduleError::Fit(e) = par.schedule(&snap, &huge).unwrap_err() else {
        panic!()
    };
    assert_eq!(
        e.to_string(),
        "0/1000 nodes are available: 1000 Insufficient cpu."
    );
}

#[test]
fn daemonset_pod_pinned_by_match_fields() {
    let snap = Snapshot::build(&nodes(500), &[]);
    let pinned = |name: &str| {
        pi(&pod(
            "ds",
            json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [name]}]}]}}}}}),
        ))
    };
    let mut s = Scheduler::new(Default::default(), 1);
    let r = s.schedule(&snap, &pinned("n321")).unwrap();
    assert_eq!((r.node.as_str(), r.evaluated_nodes), ("n321", 1));
    let ScheduleError::Fit(e) = s.schedule(&snap, &pinned("gone")).unwrap_err() else {
        panic!()
    };
    assert_eq!(
        e.to_string(),
        "0/500 nodes are available: 500 node(s) didn't satisfy plugin(s) [NodeAffinity]."
    );
}

#[test]
fn cache_assume_forget_and_snapshot_isolation() {
    let mut c = Cache::new();
    let reader = c.reader();
    for n in nodes(3) {
        c.upsert_node(&n);
    }
    let before = reader.load();
    let p = pi(&pod_req("p", "1", "1Gi"));
    c.assume(&p, "n1").unwrap();
    let after = reader.load();
    assert_eq!(
        before.get("n1").unwrap().pods.len(),
        0,
        "old snapshots never change"
    );
    assert_eq!(after.get("n1").unwrap().requested.milli_cpu, 1000);
    assert!(
        Arc::ptr_eq(before.get("n0").unwrap(), after.get("n0").unwrap()),
        "untouched nodes are shared"
    );
    assert_eq!(
        c.assume(&p, "n2"),
        Err(CacheError::PodExists("default/p".into()))
    );
    // The watch confirms the bind: nothing changes.
    c.add_pod(&on(pod_req("p", "1", "1Gi"), "n1")).unwrap();
    assert!(!c.is_assumed("default", "p"));
    assert_eq!(c.snapshot().get("n1").unwrap().requested.milli_cpu, 1000);
    // A failed bind is forgotten.
    let q = pi(&pod_req("q", "2", ""));
    c.assume(&q, "n2").unwrap();
    c.forget("default", "q").unwrap();
    assert_eq!(c.snapshot().get("n2").unwrap().requested.milli_cpu, 0);
    assert_eq!(
        c.forget("default", "q"),
        Err(CacheError::NotAssumed("default/q".into()))
    );
    // Removing a node moves the last node into its slot; pods come back with the node.
    c.remove_node("n1").unwrap();
    let s = c.snapshot();
    assert_eq!(s.len(), 2);
    assert_eq!(s.node(s.index_of("n2").unwrap()).name(), "n2");
    c.upsert_node(&node("n1", json!({})));
    assert_eq!(c.snapshot().get("n1").unwrap().pods.len(), 1);
    assert!(c.remove_pod("default", "p"));
    assert_eq!(c.snapshot().get("n1").unwrap().requested.milli_cpu, 0);
    // Pods that arrive before their node wait for it.
    c.add_pod(&on(pod_req("early", "1", ""), "n9")).unwrap();
    c.upsert_node(&node("n9", json!({})));
    assert_eq!(c.snapshot().get("n9").unwrap().requested.milli_cpu, 1000);
}

#[test]
fn profile_config() {
    let yaml = r#"
schedulerName: bin-packer
percentageOfNodesToScore: 20
plugins:
  filter:
    disabled: [{name: NodePorts}]
  score:
    disabled: [{name: "*"}]
    enabled: [{name: NodeResourcesFit, weight: 5}, {name: ImageLocality}]
pluginConfig:
- name: NodeResourcesFit
  args:
    kind: NodeResourcesFitArgs
    apiVersion: kubescheduler.config.k8s.io/v1
    scoringStrategy:
      type: MostAllocated
      resources: [{name: cpu, weight: 2}, {name: memory}]
"#;
    let cfg: ProfileConfig = yaml_serde::from_str(yaml).unwrap();
    let p = cfg.validate().unwrap();
    assert_eq!(p.scheduler_name, "bin-packer");
    assert!(!p.filter_enabled(Plugin::NodePorts));
    assert!(p.filter_enabled(Plugin::NodeResourcesFit));
    assert_eq!(
        p.scores,
        vec![(Plugin::NodeResourcesFit, 5), (Plugin::ImageLocality, 1)]
    );

    let d = crate::config::Profile::default();
    assert_eq!(
        d.scores,
        vec![
            (Plugin::TaintToleration, 3),
            (Plugin::NodeAffinity, 2),
            (Plugin::NodeResourcesFit, 1),
            (Plugin::PodTopologySpread, 2),
            (Plugin::InterPodAffinity, 2),
            (Plugin::NodeResourcesBalancedAllocation, 1),
            (Plugin::ImageLocality, 1),
        ]
    );
    assert_eq!(d.filters.len(), 9);

    let bad = |y: &str| {
        yaml_serde::from_str::<ProfileConfig>(y)
            .unwrap()
            .validate()
            .unwrap_err()
    };
    assert_eq!(
        bad("plugins: {filter: {enabled: [{name: Nope}]}}"),
        ConfigError::UnknownPlugin("Nope".into())
    );
    assert_eq!(
        bad("plugins: {filter: {enabled: [{name: ImageLocality}]}}"),
        ConfigError::NoExtensionPoint("ImageLocality".into(), "filter")
    );
    assert!(matches!(
        bad("percentageOfNodesToScore: 101"),
        ConfigError::Invalid(_)
    ));
    assert!(matches!(
        bad("plugins: {score: {enabled: [{name: ImageLocality, weight: 0}]}}"),
        ConfigError::Invalid(_)
    ));
    assert!(matches!(bad("parallelism: 0"), ConfigError::Invalid(_)));
    assert!(matches!(
        bad(
            "pluginConfig: [{name: NodeResourcesFit, args: {scoringStrategy: {type: RequestedToCapacityRatio, requestedToCapacityRatio: {shape: [{utilization: 50, score: 1}, {utilization: 10, score: 2}]}}}}]"
        ),
        ConfigError::Invalid(_)
    ));
    assert!(matches!(
        bad(
            "pluginConfig: [{name: NodeResourcesFit, args: {scoringStrategy: {type: RequestedToCapacityRatio, requestedToCapacityRatio: {shape: [{utilization: 50, score: 11}]}}}}]"
        ),
        ConfigError::Invalid(_)
    ));
    assert!(yaml_serde::from_str::<ProfileConfig>("unknownField: 1").is_err());
}

#[test]
fn affinity_indexes_survive_node_removal() {
    // A pod with required anti-affinity sits on the last node; removing the first node
    // moves the last node into slot 0, and the existing-anti-affinity check must still
    // find it there.
    let mut c = Cache::new();
    for i in 0..3 {
        c.upsert_node(&node(
            &format!("n{i}"),
            json!({"metadata": {"labels": {"zone": format!("z{i}")}}}),
        ));
    }
    let guard = pod(
        "guard",
        json!({"metadata": {"labels": {"app": "db"}}, "spec": {"affinity": {"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "zone"}]}}}}),
    );
    c.add_pod(&on(guard, "n2")).unwrap();
    c.remove_node("n0").unwrap();
    let snap = c.snapshot();
    assert_eq!(snap.index_of("n2"), Some(0));
    assert_eq!(
        snap.nodes_with_required_anti_affinity_pods()
            .map(|n| n.name().to_string())
            .collect::<Vec<_>>(),
        vec!["n2"]
    );
    assert_eq!(snap.nodes_with_affinity_pods().count(), 1);
    let web = pi(&pod("w", json!({"metadata": {"labels": {"app": "web"}}})));
    let mut s = Scheduler::new(Default::default(), 1);
    for _ in 0..10 {
        assert_eq!(s.schedule(&snap, &web).unwrap().node, "n1");
    }
    // Once the guard leaves, the index empties.
    c.remove_pod("default", "guard");
    assert_eq!(c.snapshot().nodes_with_affinity_pods().count(), 0);
}

#[test]
fn spread_score_normalization_with_ignored_nodes() {
    // Three zone nodes with 0, 1 and 3 matching pods, and a node without the zone label
    // (ignored: score 0). Weight ln(3 + 2); raw = round(cnt × w) → 0, 2, 5; normalized
    // 100 × (max + min − s) / max → 100, 60, 0.
    let ns = vec![
        node("a", json!({"metadata": {"labels": {"zone": "a"}}})),
        node("b", json!({"metadata": {"labels": {"zone": "b"}}})),
        node("c", json!({"metadata": {"labels": {"zone": "c"}}})),
        node("x", json!({})),
    ];
    let web = |n: &str, at: &str| on(pod(n, json!({"metadata": {"labels": {"app": "web"}}})), at);
    let snap = Snapshot::build(
        &ns,
        &[
            web("w1", "b"),
            web("w2", "c"),
            web("w3", "c"),
            web("w4", "c"),
        ],
    );
    let p = pi(&pod(
        "p",
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"app": "web"}}}]}}),
    ));
    let feasible: Vec<usize> = (0..4).collect();
    let st = crate::topology::spread_prescore(&p, &snap, &feasible).unwrap();
    let mut raw: Vec<i64> = feasible
        .iter()
        .map(|&i| crate::topology::spread_score(&st, &p, i, snap.node(i)))
        .collect();
    assert_eq!(raw, vec![0, 2, 5, 0]);
    crate::topology::spread_normalize(&st, &feasible, &mut raw);
    assert_eq!(raw, vec![100, 60, 0, 0]);
}

#[test]
fn dense_rows_agree_with_the_filters() {
    // Varied nodes: sizes, usage, cordons, hard and soft taints, overcommitted nodes.
    let mut c = Cache::new();
    for i in 0..120 {
        let mut extra = json!({"status": {"allocatable": {"cpu": format!("{}m", 500 + (i % 7) * 400), "memory": format!("{}Mi", 256 + (i % 5) * 512), "pods": format!("{}", 1 + i % 4)}}});
        if i % 11 == 0 {
            extra["spec"] = json!({"unschedulable": true});
        }
        if i % 13 == 0 {
            extra["spec"] = json!({"taints": [{"key": "k", "effect": if i % 2 == 0 { "NoSchedule" } else { "PreferNoSchedule" }}]});
        }
        c.upsert_node(&node(&format!("n{i}"), extra));
        for j in 0..(i % 3) {
            c.add_pod(&on(
                pod_req(
                    &format!("e{i}-{j}"),
                    &format!("{}m", 100 + 200 * j),
                    "128Mi",
                ),
                &format!("n{i}"),
            ))
            .unwrap();
        }
    }
    let snap = c.snapshot();
    let profile = crate::config::Profile::default();
    for (cpu, mem) in [
        ("100m", "64Mi"),
        ("700m", ""),
        ("", "600Mi"),
        ("2", "1Gi"),
        ("", ""),
    ] {
        let p = pi(&pod_req("p", cpu, mem));
        let cy = crate::schedule::Cycle::new(&profile, &p, &snap);
        assert!(cy.plain);
        for i in 0..snap.len() {
            let n = snap.node(i);
            assert_eq!(*snap.row(i), n.hot, "row {i} mirrors the node");
            if crate::plugins::plain_pod_fits(&p, snap.row(i)) {
                assert_eq!(cy.filter(&profile, n), Ok(()), "node {i}, pod {cpu}/{mem}");
            }
            assert_eq!(
                cy.filter_at(&profile, i, snap.row(i)).is_ok(),
                cy.filter(&profile, n).is_ok()
            );
        }
    }
    // Pods with ports, affinity or extended resources are not plain.
    let ported = pi(&pod(
        "q",
        json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 1, "hostPort": 1}]}]}}),
    ));
    assert!(!crate::schedule::Cycle::new(&profile, &ported, &snap).plain);
}

#[test]
fn scheduler_configuration_file() {
    use crate::config::Config;
    let c = Config::parse(
        r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
parallelism: 4
percentageOfNodesToScore: 30
podInitialBackoffSeconds: 2
podMaxBackoffSeconds: 20
leaderElection: {leaderElect: false}
clientConnection: {kubeconfig: /etc/kubernetes/scheduler.conf}
profiles:
- schedulerName: default-scheduler
- schedulerName: packer
  percentageOfNodesToScore: 100
  plugins:
    multiPoint:
      disabled: [{name: ImageLocality}, {name: NodePorts}]
    score:
      enabled: [{name: NodeResourcesFit, weight: 7}]
    postFilter:
      disabled: [{name: DefaultPreemption}]
  pluginConfig:
  - name: NodeResourcesFit
    args: {scoringStrategy: {type: MostAllocated}}
"#,
    )
    .unwrap();
    assert_eq!(
        (c.pod_initial_backoff_seconds, c.pod_max_backoff_seconds),
        (2, 20)
    );
    let [d, p] = &c.profiles[..] else {
        panic!("two profiles expected, got {:?}", c.profiles)
    };
    assert_eq!(
        (
            d.scheduler_name.as_str(),
            d.parallelism,
            d.percentage_of_nodes_to_score
        ),
        ("default-scheduler", 4, Some(30))
    );
    assert!(d.preemption && d.filter_enabled(Plugin::NodePorts));
    assert_eq!(p.percentage_of_nodes_to_score, Some(100));
    assert!(!p.preemption, "postFilter disabled DefaultPreemption");
    assert!(
        !p.filter_enabled(Plugin::NodePorts),
        "multiPoint disable reaches filter"
    );
    assert_eq!(p.score_weight(Plugin::ImageLocality), None);
    assert_eq!(p.score_weight(Plugin::NodeResourcesFit), Some(7));
    assert_eq!(
        p.args.node_resources_fit.scoring_strategy.kind,
        crate::config::ScoringStrategyType::MostAllocated
    );
    // An empty file is kube-scheduler's defaults.
    assert_eq!(Config::parse("{}").unwrap(), Config::default());

    let err = |y: &str| Config::parse(y).unwrap_err().to_string();
    for (y, want) in [
        (
            "apiVersion: kubescheduler.config.k8s.io/v1beta3",
            "is not supported",
        ),
        ("kind: Pod", "is not KubeSchedulerConfiguration"),
        (
            "profiles: [{schedulerName: a}, {schedulerName: a}]",
            "is used by another profile",
        ),
        ("podInitialBackoffSeconds: 0", "must be greater than 0"),
        (
            "podInitialBackoffSeconds: 5\npodMaxBackoffSeconds: 2",
            "must be at least",
        ),
        (
            "extenders: [{urlPrefix: 'http://x'}]",
            "extenders are not supported",
        ),
        (
            "profiles: [{pluginConfig: [{name: PodTopologySpread, args: {}}]}]",
            "not supported",
        ),
        (
            "profiles: [{pluginConfig: [{name: Nope}]}]",
            "unknown plugin",
        ),
        (
            "profiles: [{pluginConfig: [{name: NodeResourcesFit, args: {kind: InterPodAffinityArgs}}]}]",
            "is not \"NodeResourcesFitArgs\"",
        ),
        (
            "profiles: [{plugins: {postFilter: {enabled: [{name: NodePorts}]}}}]",
            "no postFilter extension point",
        ),
        (
            "profiles: [{plugins: {preBind: {}}}]",
            "unknown field `preBind`",
        ),
        (
            "profiles: [{schedulerName: x, percentageOfNodesToScore: 101}]",
            "profile \"x\": percentageOfNodesToScore 101",
        ),
        ("parallelism: 0", "parallelism 0 not in range"),
        ("nonsense: 1", "unknown field `nonsense`"),
    ] {
        let e = err(y);
        assert!(e.contains(want), "{y:?}: got {e:?}, want {want:?}");
    }
}
