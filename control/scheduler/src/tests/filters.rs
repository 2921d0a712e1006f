//! Filters, one table per plugin, plus pod request computation.

use serde_json::json;

use super::*;
use crate::cache::Snapshot;
use crate::config::Profile;
use crate::plugins::{self, Code, FilterResult};
use crate::resource::pod_requests;
use crate::schedule::Cycle;

/// `Ok` → "", `Err` → reasons joined by "; " with the code prefixed.
fn show(r: FilterResult) -> String {
    match r {
        Ok(()) => String::new(),
        Err(s) => {
            let code = match s.code {
                Code::Unschedulable => "U",
                Code::UnschedulableAndUnresolvable => "UU",
            };
            format!("{code}: {}", s.reasons.join("; "))
        }
    }
}

fn check(f: fn(&PodInfo, &NodeInfo) -> FilterResult, cases: &[(&str, Pod, NodeInfo, &str)]) {
    for (name, p, n, want) in cases {
        assert_eq!(show(f(&pi(p), n)), *want, "case {name}");
    }
}

#[test]
fn pod_requests_follow_kubernetes() {
    // (name, spec, want cpu milli, want memory bytes, non-zero cpu, non-zero mem)
    let mi = 1024 * 1024;
    let cases = [
        (
            "app containers sum",
            json!({"containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "1Mi"}}},
                {"name": "b", "resources": {"requests": {"cpu": "200m", "memory": "2Mi"}}}]}),
            300,
            3 * mi,
            300,
            3 * mi,
        ),
        (
            "init container larger than the sum",
            json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}],
                   "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "1", "memory": "1Mi"}}}]}),
            1000,
            mi,
            1000,
            200 * mi,
        ),
        (
            "sidecar adds to the app sum and to later init containers",
            json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}],
                   "initContainers": [
                       {"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "200m"}}},
                       {"name": "i", "resources": {"requests": {"cpu": "500m"}}}]}),
            // max(100+200, 200, 500+200) = 700
            700,
            0,
            700,
            400 * mi,
        ),
        (
            "sidecar declared after an init container does not add to it",
            json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}],
                   "initContainers": [
                       {"name": "i", "resources": {"requests": {"cpu": "500m"}}},
                       {"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "200m"}}}]}),
            // max(100+200, 500, 200) = 500
            500,
            0,
            500,
            400 * mi,
        ),
        (
            "overhead is added",
            json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}],
                   "overhead": {"cpu": "250m", "memory": "120Mi"}}),
            350,
            120 * mi,
            350,
            320 * mi,
        ),
        (
            "explicit zero is not replaced by the default",
            json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "0", "memory": "0"}}}]}),
            0,
            0,
            0,
            0,
        ),
        (
            "best effort",
            json!({"containers": [{"name": "a"}]}),
            0,
            0,
            100,
            200 * mi,
        ),
    ];
    for (name, spec, cpu, mem, nz_cpu, nz_mem) in cases {
        let p = pod("p", json!({"spec": spec}));
        let r = pod_requests(&p, false);
        let nz = pod_requests(&p, true);
        assert_eq!((r.milli_cpu, r.memory), (cpu, mem), "case {name}");
        assert_eq!(
            (nz.milli_cpu, nz.memory),
            (nz_cpu, nz_mem),
            "non-zero, case {name}"
        );
    }
}

#[test]
fn node_name() {
    let n = node("n1", json!({}));
    check(
        plugins::node_name,
        &[
            ("no nodeName", pod("p", json!({})), ni(&n, &[]), ""),
            ("same", on(pod("p", json!({})), "n1"), ni(&n, &[]), ""),
            (
                "other",
                on(pod("p", json!({})), "n2"),
                ni(&n, &[]),
                "UU: node(s) didn't match the requested node name",
            ),
        ],
    );
}

#[test]
fn node_unschedulable() {
    let cordoned = node("n1", json!({"spec": {"unschedulable": true}}));
    let open = node("n2", json!({"spec": {"unschedulable": false}}));
    let tol = json!({"spec": {"tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]}});
    check(
        plugins::node_unschedulable,
        &[
            ("schedulable", pod("p", json!({})), ni(&open, &[]), ""),
            (
                "cordoned",
                pod("p", json!({})),
                ni(&cordoned, &[]),
                "UU: node(s) were unschedulable",
            ),
            ("cordoned, tolerated", pod("p", tol), ni(&cordoned, &[]), ""),
        ],
    );
}

#[test]
fn resources_fit() {
    let n = node(
        "n1",
        json!({"status": {"allocatable": {"cpu": "1", "memory": "1Gi", "pods": "2", "example.com/gpu": "1"}}}),
    );
    let full = ni(&n, &[pod_req("a", "600m", "512Mi")]);
    let gpu_pod = pod(
        "g",
        json!({"spec": {"containers": [{"name": "c", "resources": {"requests": {"example.com/gpu": "2"}}}]}}),
    );
    check(
        plugins::resources_fit,
        &[
            ("fits", pod_req("p", "400m", "512Mi"), full.clone(), ""),
            (
                "cpu",
                pod_req("p", "500m", "1Mi"),
                full.clone(),
                "U: Insufficient cpu",
            ),
            (
                "memory",
                pod_req("p", "1m", "600Mi"),
                full.clone(),
                "U: Insufficient memory",
            ),
            (
                "both",
                pod_req("p", "2", "2Gi"),
                full.clone(),
                "U: Insufficient cpu; Insufficient memory",
            ),
            (
                "extended",
                gpu_pod,
                ni(&n, &[]),
                "U: Insufficient example.com/gpu",
            ),
            (
                "best effort ignores resources but not the pod count",
                pod("p", json!({})),
                ni(&n, &[pod_req("a", "1", "1Gi"), pod("b", json!({}))]),
                "U: Too many pods",
            ),
            (
                "too many pods and cpu",
                pod_req("p", "1", ""),
                ni(&n, &[pod_req("a", "1", ""), pod("b", json!({}))]),
                "U: Too many pods; Insufficient cpu",
            ),
            (
                "init container counts",
                pod(
                    "p",
                    json!({"spec": {"initContainers": [{"name": "i", "resources": {"requests": {"cpu": "500m"}}}]}}),
                ),
                full.clone(),
                "U: Insufficient cpu",
            ),
            (
                "overhead counts",
                pod(
                    "p",
                    json!({"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "300m"}}}], "overhead": {"cpu": "200m"}}}),
                ),
                full,
                "U: Insufficient cpu",
            ),
        ],
    );
}

#[test]
fn node_affinity() {
    let n = node(
        "n1",
        json!({"metadata": {"labels": {"zone": "a", "gen": "5", "disk": "ssd"}}}),
    );
    let req = |terms: serde_json::Value| {
        pod(
            "p",
            json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}}),
        )
    };
    let expr = |k: &str, op: &str, vals: serde_json::Value| {
        req(json!([{"matchExpressions": [{"key": k, "operator": op, "values": vals}]}]))
    };
    const NO: &str = "UU: node(s) didn't match Pod's node affinity/selector";
    check(
        plugins::node_affinity,
        &[
            ("no constraints", pod("p", json!({})), ni(&n, &[]), ""),
            (
                "nodeSelector match",
                pod("p", json!({"spec": {"nodeSelector": {"zone": "a"}}})),
                ni(&n, &[]),
                "",
            ),
            (
                "nodeSelector mismatch",
                pod("p", json!({"spec": {"nodeSelector": {"zone": "b"}}})),
                ni(&n, &[]),
                NO,
            ),
            (
                "nodeSelector missing label",
                pod("p", json!({"spec": {"nodeSelector": {"rack": "1"}}})),
                ni(&n, &[]),
                NO,
            ),
            ("In", expr("zone", "In", json!(["a", "b"])), ni(&n, &[]), ""),
            (
                "In mismatch",
                expr("zone", "In", json!(["b"])),
                ni(&n, &[]),
                NO,
            ),
            (
                "NotIn",
                expr("zone", "NotIn", json!(["b"])),
                ni(&n, &[]),
                "",
            ),
            (
                "NotIn on a missing key matches",
                expr("rack", "NotIn", json!(["1"])),
                ni(&n, &[]),
                "",
            ),
            (
                "NotIn mismatch",
                expr("zone", "NotIn", json!(["a"])),
                ni(&n, &[]),
                NO,
            ),
            ("Exists", expr("disk", "Exists", json!([])), ni(&n, &[]), ""),
            (
                "DoesNotExist",
                expr("disk", "DoesNotExist", json!([])),
                ni(&n, &[]),
                NO,
            ),
            ("Gt", expr("gen", "Gt", json!(["4"])), ni(&n, &[]), ""),
            ("Gt equal", expr("gen", "Gt", json!(["5"])), ni(&n, &[]), NO),
            ("Lt", expr("gen", "Lt", json!(["6"])), ni(&n, &[]), ""),
            (
                "Gt non-numeric label",
                expr("zone", "Gt", json!(["1"])),
                ni(&n, &[]),
                NO,
            ),
            (
                "Gt with two values is invalid",
                expr("gen", "Gt", json!(["1", "2"])),
                ni(&n, &[]),
                NO,
            ),
            (
                "terms are ORed",
                req(json!([
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["x"]}]},
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}])),
                ni(&n, &[]),
                "",
            ),
            (
                "expressions are ANDed",
                req(json!([{"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a"]},
                {"key": "disk", "operator": "In", "values": ["hdd"]}]}])),
                ni(&n, &[]),
                NO,
            ),
            (
                "empty term matches nothing",
                req(json!([{}])),
                ni(&n, &[]),
                NO,
            ),
            ("no terms match nothing", req(json!([])), ni(&n, &[]), NO),
            (
                "matchFields metadata.name",
                req(
                    json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]),
                ),
                ni(&n, &[]),
                "",
            ),
            (
                "matchFields other name",
                req(
                    json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]),
                ),
                ni(&n, &[]),
                NO,
            ),
            (
                "matchFields NotIn",
                req(
                    json!([{"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n2"]}]}]),
                ),
                ni(&n, &[]),
                "",
            ),
            (
                "matchFields unsupported field",
                req(
                    json!([{"matchFields": [{"key": "metadata.uid", "operator": "In", "values": ["n1"]}]}]),
                ),
                ni(&n, &[]),
                NO,
            ),
            (
                "nodeSelector and affinity both apply",
                {
                    let mut p = expr("zone", "In", json!(["a"]));
                    p.spec.as_mut().unwrap().node_selector =
                        Some([("disk".to_string(), "hdd".to_string())].into());
                    p
                },
                ni(&n, &[]),
                NO,
            ),
        ],
    );
}

#[test]
fn taint_toleration() {
    let taints = |t: serde_json::Value| node("n1", json!({"spec": {"taints": t}}));
    let tols = |t: serde_json::Value| pod("p", json!({"spec": {"tolerations": t}}));
    let n = taints(json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]));
    const NO: &str = "UU: node(s) had untolerated taint {dedicated: gpu}";
    check(
        plugins::taint_toleration,
        &[
            (
                "no taints",
                pod("p", json!({})),
                ni(&node("n0", json!({})), &[]),
                "",
            ),
            ("untolerated", pod("p", json!({})), ni(&n, &[]), NO),
            (
                "Equal",
                tols(
                    json!([{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]),
                ),
                ni(&n, &[]),
                "",
            ),
            (
                "empty operator means Equal",
                tols(json!([{"key": "dedicated", "value": "gpu"}])),
                ni(&n, &[]),
                "",
            ),
            (
                "Equal, other value",
                tols(json!([{"key": "dedicated", "operator": "Equal", "value": "cpu"}])),
                ni(&n, &[]),
                NO,
            ),
            (
                "Exists",
                tols(json!([{"key": "dedicated", "operator": "Exists"}])),
                ni(&n, &[]),
                "",
            ),
            (
                "empty key with Exists tolerates all",
                tols(json!([{"operator": "Exists"}])),
                ni(&n, &[]),
                "",
            ),
            (
                "other effect",
                tols(json!([{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}])),
                ni(&n, &[]),
                NO,
            ),
            (
                "PreferNoSchedule is not filtered",
                pod("p", json!({})),
                ni(
                    &taints(json!([{"key": "k", "value": "v", "effect": "PreferNoSchedule"}])),
                    &[],
                ),
                "",
            ),
            (
                "NoExecute is filtered",
                pod("p", json!({})),
                ni(
                    &taints(json!([{"key": "k", "value": "v", "effect": "NoExecute"}])),
                    &[],
                ),
                "UU: node(s) had untolerated taint {k: v}",
            ),
            (
                "the first untolerated taint is named",
                tols(json!([{"key": "a", "operator": "Exists"}])),
                ni(
                    &taints(
                        json!([{"key": "a", "effect": "NoSchedule"}, {"key": "b", "value": "", "effect": "NoSchedule"}]),
                    ),
                    &[],
                ),
                "UU: node(s) had untolerated taint {b: }",
            ),
        ],
    );
}

#[test]
fn node_ports() {
    let port = |ip: &str, proto: &str, p: i32| {
        let mut cp = json!({"containerPort": 80, "hostPort": p, "protocol": proto});
        if !ip.is_empty() {
            cp["hostIP"] = json!(ip);
        }
        json!({"spec": {"containers": [{"name": "c", "ports": [cp]}]}})
    };
    let n = node("n1", json!({}));
    let used = ni(&n, &[pod("e", port("127.0.0.1", "TCP", 8080))]);
    let wild = ni(&n, &[pod("e", port("", "TCP", 8080))]);
    const NO: &str = "U: node(s) didn't have free ports for the requested pod ports";
    check(
        plugins::node_ports,
        &[
            ("no ports", pod("p", json!({})), used.clone(), ""),
            (
                "same ip port proto",
                pod("p", port("127.0.0.1", "TCP", 8080)),
                used.clone(),
                NO,
            ),
            (
                "other ip",
                pod("p", port("127.0.0.2", "TCP", 8080)),
                used.clone(),
                "",
            ),
            (
                "other protocol",
                pod("p", port("127.0.0.1", "UDP", 8080)),
                used.clone(),
                "",
            ),
            (
                "other port",
                pod("p", port("127.0.0.1", "TCP", 8081)),
                used.clone(),
                "",
            ),
            (
                "wildcard wants, specific used",
                pod("p", port("0.0.0.0", "TCP", 8080)),
                used,
                NO,
            ),
            (
                "specific wants, wildcard used",
                pod("p", port("127.0.0.1", "TCP", 8080)),
                wild,
                NO,
            ),
            (
                "containerPort without hostPort",
                pod(
                    "p",
                    json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 8080}]}]}}),
                ),
                ni(&n, &[pod("e", port("", "TCP", 8080))]),
                "",
            ),
        ],
    );
}

/// Runs InterPodAffinity or PodTopologySpread on every node of a snapshot.
fn cluster_filter(nodes: &[Node], pods: &[Pod], incoming: &Pod) -> Vec<String> {
    let snap = Snapshot::build(nodes, pods);
    let profile = Profile::default();
    let p = pi(incoming);
    let cy = Cycle::new(&profile, &p, &snap);
    snap.nodes()
        .map(|n| {
            let r = match (&cy.affinity, &cy.spread) {
                (_, Some(st)) => crate::topology::spread_filter(st, n),
                (Some(st), None) => crate::topology::affinity_filter(st, &p, n, &snap),
                _ => Ok(()),
            };
            format!("{}={}", n.name(), show(r))
        })
        .collect()
}

fn zone_nodes() -> Vec<Node> {
    vec![
        node("a1", json!({"metadata": {"labels": {"zone": "a"}}})),
        node("a2", json!({"metadata": {"labels": {"zone": "a"}}})),
        node("b1", json!({"metadata": {"labels": {"zone": "b"}}})),
        node("nolabel", json!({})),
    ]
}

fn labeled(name: &str, labels: serde_json::Value) -> Pod {
    pod(name, json!({"metadata": {"labels": labels}}))
}

#[test]
fn inter_pod_affinity() {
    let term = |sel: serde_json::Value| json!({"labelSelector": {"matchLabels": sel}, "topologyKey": "zone"});
    let with = |kind: &str, t: serde_json::Value, labels: serde_json::Value| {
        pod(
            "in",
            json!({"metadata": {"labels": labels}, "spec": {"affinity": {kind: {"requiredDuringSchedulingIgnoredDuringExecution": [t]}}}}),
        )
    };
    const AFF: &str = "UU: node(s) didn't match pod affinity rules";
    const ANTI: &str = "U: node(s) didn't match pod anti-affinity rules";
    const EXIST: &str = "U: node(s) didn't satisfy existing pods anti-affinity rules";
    let nodes = zone_nodes();
    let db_on_a1 = vec![on(labeled("db", json!({"app": "db"})), "a1")];
    let cases: Vec<(&str, Vec<Pod>, Pod, Vec<String>)> = vec![
        (
            "affinity to zone with a db",
            db_on_a1.clone(),
            with("podAffinity", term(json!({"app": "db"})), json!({})),
            vec![
                "a1=".into(),
                "a2=".into(),
                format!("b1={AFF}"),
                format!("nolabel={AFF}"),
            ],
        ),
        (
            "first pod of a self-affine group goes anywhere with the label",
            vec![],
            with(
                "podAffinity",
                term(json!({"app": "web"})),
                json!({"app": "web"}),
            ),
            vec![
                "a1=".into(),
                "a2=".into(),
                "b1=".into(),
                format!("nolabel={AFF}"),
            ],
        ),
        (
            "no matching pod and not self-affine",
            vec![],
            with(
                "podAffinity",
                term(json!({"app": "db"})),
                json!({"app": "web"}),
            ),
            vec![
                format!("a1={AFF}"),
                format!("a2={AFF}"),
                format!("b1={AFF}"),
                format!("nolabel={AFF}"),
            ],
        ),
        (
            "matching pod in another namespace does not count",
            vec![on(
                pod(
                    "db",
                    json!({"metadata": {"namespace": "other", "labels": {"app": "db"}}}),
                ),
                "a1",
            )],
            with("podAffinity", term(json!({"app": "db"})), json!({})),
            vec![
                format!("a1={AFF}"),
                format!("a2={AFF}"),
                format!("b1={AFF}"),
                format!("nolabel={AFF}"),
            ],
        ),
        (
            "namespaces list selects the other namespace",
            vec![on(
                pod(
                    "db",
                    json!({"metadata": {"namespace": "other", "labels": {"app": "db"}}}),
                ),
                "b1",
            )],
            with(
                "podAffinity",
                json!({"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone", "namespaces": ["other"]}),
                json!({}),
            ),
            vec![
                format!("a1={AFF}"),
                format!("a2={AFF}"),
                "b1=".into(),
                format!("nolabel={AFF}"),
            ],
        ),
        (
            "empty namespaceSelector selects all namespaces",
            vec![on(
                pod(
                    "db",
                    json!({"metadata": {"namespace": "other", "labels": {"app": "db"}}}),
                ),
                "b1",
            )],
            with(
                "podAffinity",
                json!({"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone", "namespaceSelector": {}}),
                json!({}),
            ),
            vec![
                format!("a1={AFF}"),
                format!("a2={AFF}"),
                "b1=".into(),
                format!("nolabel={AFF}"),
            ],
        ),
        (
            "anti-affinity keeps the zone with a db free",
            db_on_a1.clone(),
            with("podAntiAffinity", term(json!({"app": "db"})), json!({})),
            vec![
                format!("a1={ANTI}"),
                format!("a2={ANTI}"),
                "b1=".into(),
                "nolabel=".into(),
            ],
        ),
        (
            "existing pod's anti-affinity repels the incoming pod",
            vec![on(
                with(
                    "podAntiAffinity",
                    term(json!({"app": "web"})),
                    json!({"app": "db"}),
                ),
                "b1",
            )],
            labeled("in", json!({"app": "web"})),
            vec![
                "a1=".into(),
                "a2=".into(),
                format!("b1={EXIST}"),
                "nolabel=".into(),
            ],
        ),
        (
            "existing pod's anti-affinity for other labels is ignored",
            vec![on(
                with(
                    "podAntiAffinity",
                    term(json!({"app": "cache"})),
                    json!({"app": "db"}),
                ),
                "b1",
            )],
            labeled("in", json!({"app": "web"})),
            vec!["a1=".into(), "a2=".into(), "b1=".into(), "nolabel=".into()],
        ),
        (
            "nil labelSelector matches no pod",
            db_on_a1,
            with("podAntiAffinity", json!({"topologyKey": "zone"}), json!({})),
            vec!["a1=".into(), "a2=".into(), "b1=".into(), "nolabel=".into()],
        ),
    ];
    for (name, existing, incoming, want) in cases {
        assert_eq!(
            cluster_filter(&nodes, &existing, &incoming),
            want,
            "case {name}"
        );
    }
}

#[test]
fn pod_topology_spread() {
    let spread = |max_skew: i32, extra: serde_json::Value| {
        let mut c = json!({"maxSkew": max_skew, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                           "labelSelector": {"matchLabels": {"app": "web"}}});
        merge(&mut c, extra);
        pod(
            "in",
            json!({"metadata": {"labels": {"app": "web"}}, "spec": {"topologySpreadConstraints": [c]}}),
        )
    };
    const SKEW: &str = "U: node(s) didn't match pod topology spread constraints";
    const LABEL: &str =
        "UU: node(s) didn't match pod topology spread constraints (missing required label)";
    let nodes = zone_nodes();
    let web = |n: &str, node: &str| on(labeled(n, json!({"app": "web"})), node);
    let cases: Vec<(&str, Vec<Pod>, Pod, Vec<String>)> = vec![
        (
            "empty cluster: every zone fits",
            vec![],
            spread(1, json!({})),
            vec![
                "a1=".into(),
                "a2=".into(),
                "b1=".into(),
                format!("nolabel={LABEL}"),
            ],
        ),
        (
            "zone a has one more: only b fits with maxSkew 1",
            vec![web("w1", "a1")],
            spread(1, json!({})),
            vec![
                format!("a1={SKEW}"),
                format!("a2={SKEW}"),
                "b1=".into(),
                format!("nolabel={LABEL}"),
            ],
        ),
        (
            "maxSkew 2 allows a",
            vec![web("w1", "a1")],
            spread(2, json!({})),
            vec![
                "a1=".into(),
                "a2=".into(),
                "b1=".into(),
                format!("nolabel={LABEL}"),
            ],
        ),
        (
            "pods in other namespaces and with other labels do not count",
            vec![
                on(
                    pod(
                        "x",
                        json!({"metadata": {"namespace": "o", "labels": {"app": "web"}}}),
                    ),
                    "a1",
                ),
                on(labeled("y", json!({"app": "db"})), "a1"),
            ],
            spread(1, json!({})),
            vec![
                "a1=".into(),
                "a2=".into(),
                "b1=".into(),
                format!("nolabel={LABEL}"),
            ],
        ),
        (
            "minDomains above the domain count makes the global minimum 0",
            vec![web("w1", "a1"), web("w2", "b1")],
            spread(1, json!({"minDomains": 3})),
            vec![
                format!("a1={SKEW}"),
                format!("a2={SKEW}"),
                format!("b1={SKEW}"),
                format!("nolabel={LABEL}"),
            ],
        ),
        (
            "minDomains satisfied",
            vec![web("w1", "a1"), web("w2", "b1")],
            spread(1, json!({"minDomains": 2})),
            vec![
                "a1=".into(),
                "a2=".into(),
                "b1=".into(),
                format!("nolabel={LABEL}"),
            ],
        ),
        (
            "an incoming pod that its selector does not match adds no skew",
            vec![web("w1", "a1")],
            {
                let mut p = spread(1, json!({}));
                p.metadata.labels = Some([("app".to_string(), "other".to_string())].into());
                p
            },
            vec![
                "a1=".into(),
                "a2=".into(),
                "b1=".into(),
                format!("nolabel={LABEL}"),
            ],
        ),
    ];
    for (name, existing, incoming, want) in cases {
        assert_eq!(
            cluster_filter(&nodes, &existing, &incoming),
            want,
            "case {name}"
        );
    }

    // nodeAffinityPolicy: Honor (default) drops zone b (not selected) from the domains,
    // so zone a's count is compared with itself; Ignore keeps b with 0 pods.
    let nodes = zone_nodes();
    let existing = vec![web("w1", "a1")];
    let mut honor = spread(1, json!({}));
    honor.spec.as_mut().unwrap().node_selector =
        Some([("zone".to_string(), "a".to_string())].into());
    assert_eq!(
        cluster_filter(&nodes, &existing, &honor),
        vec!["a1=", "a2=", "b1=", &format!("nolabel={LABEL}")],
    );
    let mut ignore = spread(1, json!({"nodeAffinityPolicy": "Ignore"}));
    ignore.spec.as_mut().unwrap().node_selector =
        Some([("zone".to_string(), "a".to_string())].into());
    assert_eq!(
        cluster_filter(&nodes, &existing, &ignore),
        vec![
            format!("a1={SKEW}"),
            format!("a2={SKEW}"),
            "b1=".into(),
            format!("nolabel={LABEL}")
        ],
    );

    // nodeTaintsPolicy: Honor drops the tainted zone b from the domains.
    let nodes = vec![
        node("a1", json!({"metadata": {"labels": {"zone": "a"}}})),
        node(
            "b1",
            json!({"metadata": {"labels": {"zone": "b"}}, "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}}),
        ),
    ];
    let existing = vec![web("w1", "a1")];
    assert_eq!(
        cluster_filter(
            &nodes,
            &existing,
            &spread(1, json!({"nodeTaintsPolicy": "Honor"}))
        ),
        vec!["a1=", "b1="],
    );
    assert_eq!(
        cluster_filter(&nodes, &existing, &spread(1, json!({}))),
        vec![format!("a1={SKEW}"), "b1=".into()],
    );
}
