//! RBAC tests mirroring Kubernetes' semantics: rule matching, bindings, escalation,
//! aggregation.

use super::aggregation::{aggregate_all, aggregated_rules};
use super::build::*;
use super::escalation::*;
use super::*;
use crate::auth::selector;
use clipper_proto::api::meta::v1::{LabelSelector, LabelSelectorRequirement};
use clipper_proto::api::rbac::v1::AggregationRule;

/// One request: (verb, group, resource, subresource, namespace, name).
type Req<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str, &'a str);

fn allows(rule: &PolicyRule, user: &UserInfo, r: Req<'_>) -> bool {
    let (verb, group, resource, sub, ns, name) = r;
    rule_allows(
        &Attributes::resource(user, verb, group, resource, ns, name).with_subresource(sub),
        rule,
    )
}

#[test]
fn rule_matching_table() {
    let u = UserInfo::new("u", &[]);
    let cases: Vec<(PolicyRule, Req<'_>, bool)> = vec![
        // Wildcards.
        (
            rule(&["*"], &["*"], &["*"]),
            ("delete", "apps", "deployments", "", "ns", "x"),
            true,
        ),
        (
            rule(&["*"], &["*"], &["*"]),
            ("get", "", "pods", "log", "ns", "x"),
            true,
        ),
        (
            rule(&["get"], &["*"], &["*"]),
            ("list", "", "pods", "", "ns", ""),
            false,
        ),
        (
            rule(&["get"], &[""], &["*"]),
            ("get", "apps", "deployments", "", "ns", "x"),
            false,
        ),
        (
            rule(&["get"], &["", "apps"], &["deployments"]),
            ("get", "apps", "deployments", "", "ns", "x"),
            true,
        ),
        // Verbs are exact.
        (
            rule(&["get"], &[""], &["pods"]),
            ("GET", "", "pods", "", "ns", "x"),
            false,
        ),
        // Subresources: exact combined name, or */sub.
        (
            rule(&["get"], &[""], &["pods"]),
            ("get", "", "pods", "log", "ns", "x"),
            false,
        ),
        (
            rule(&["get"], &[""], &["pods/log"]),
            ("get", "", "pods", "log", "ns", "x"),
            true,
        ),
        (
            rule(&["get"], &[""], &["pods/log"]),
            ("get", "", "pods", "", "ns", "x"),
            false,
        ),
        (
            rule(&["get"], &[""], &["pods/log"]),
            ("get", "", "pods", "status", "ns", "x"),
            false,
        ),
        (
            rule(&["update"], &["*"], &["*/scale"]),
            ("update", "apps", "deployments", "scale", "ns", "x"),
            true,
        ),
        (
            rule(&["update"], &["*"], &["*/scale"]),
            ("update", "apps", "deployments", "", "ns", "x"),
            false,
        ),
        (
            rule(&["update"], &["*"], &["*/scale"]),
            ("update", "apps", "deployments", "status", "ns", "x"),
            false,
        ),
        (
            rule(&["update"], &["*"], &["*/scale"]),
            ("update", "", "scale", "", "ns", "x"),
            false,
        ),
        // "pods/*" is not a pattern, only a literal.
        (
            rule(&["get"], &[""], &["pods/*"]),
            ("get", "", "pods", "log", "ns", "x"),
            false,
        ),
        // resourceNames.
        (
            named_rule(&["get"], &[""], &["configmaps"], &["a", "b"]),
            ("get", "", "configmaps", "", "ns", "b"),
            true,
        ),
        (
            named_rule(&["get"], &[""], &["configmaps"], &["a"]),
            ("get", "", "configmaps", "", "ns", "c"),
            false,
        ),
        (
            named_rule(&["list"], &[""], &["configmaps"], &["a"]),
            ("list", "", "configmaps", "", "ns", ""),
            false,
        ),
        // A rule with no resources or groups matches no resource request.
        (
            url_rule(&["get"], &["*"]),
            ("get", "", "pods", "", "ns", "x"),
            false,
        ),
    ];
    for (i, (r, req, want)) in cases.iter().enumerate() {
        assert_eq!(
            allows(r, &u, *req),
            *want,
            "case {i}: {req:?} against {}",
            compact_string(r)
        );
    }
}

#[test]
fn non_resource_url_matching() {
    let u = UserInfo::new("u", &[]);
    let check = |r: &PolicyRule, verb: &str, path: &str| {
        rule_allows(&Attributes::non_resource(&u, verb, path), r)
    };
    let exact = url_rule(&["get"], &["/apis"]);
    assert!(check(&exact, "get", "/apis"));
    assert!(!check(&exact, "get", "/apis/"));
    assert!(!check(&exact, "post", "/apis"));
    let prefix = url_rule(&["get"], &["/apis/*"]);
    assert!(check(&prefix, "get", "/apis/apps/v1"));
    assert!(check(&prefix, "get", "/apis/"));
    assert!(
        !check(&prefix, "get", "/apis"),
        "the trailing * needs the slash before it"
    );
    let bare_prefix = url_rule(&["get"], &["/healthz*"]);
    assert!(check(&bare_prefix, "get", "/healthz/etcd"));
    assert!(check(&bare_prefix, "get", "/healthzzz"));
    let all = url_rule(&["*"], &["*"]);
    assert!(check(&all, "delete", "/anything"));
    // A resource rule never matches a non-resource request.
    assert!(!check(&rule(&["*"], &["*"], &["*"]), "get", "/api"));
}

fn fixture() -> RbacSnapshot {
    RbacSnapshot::from_objects(
        &[
            role(
                "ns1",
                "pod-reader",
                vec![rule(&["get", "list"], &[""], &["pods"])],
            ),
            role("ns2", "pod-reader", vec![rule(&["get"], &[""], &["pods"])]),
        ],
        &[
            cluster_role("secret-reader", vec![rule(&["get"], &[""], &["secrets"])]),
            cluster_role(
                "node-viewer",
                vec![rule(&["get", "list"], &[""], &["nodes"])],
            ),
            cluster_role(
                "health",
                vec![url_rule(&["get"], &["/healthz", "/readyz/*"])],
            ),
        ],
        &[
            role_binding(
                "ns1",
                "alice-pods",
                role_ref("Role", "pod-reader"),
                vec![user("alice")],
            ),
            role_binding(
                "ns1",
                "devs-secrets",
                role_ref("ClusterRole", "secret-reader"),
                vec![group("devs")],
            ),
            role_binding(
                "ns1",
                "sa-local",
                role_ref("Role", "pod-reader"),
                vec![service_account("", "builder")],
            ),
            role_binding(
                "ns1",
                "sa-remote",
                role_ref("ClusterRole", "secret-reader"),
                vec![service_account("ci", "deployer")],
            ),
            role_binding(
                "ns1",
                "dangling",
                role_ref("Role", "missing"),
                vec![user("carol")],
            ),
            role_binding(
                "ns1",
                "odd-kind",
                role_ref("Role", "pod-reader"),
                vec![Subject {
                    kind: "Robot".into(),
                    api_group: None,
                    name: "robo".into(),
                    namespace: None,
                }],
            ),
        ],
        &[
            cluster_role_binding("ops-nodes", "node-viewer", vec![group("ops")]),
            cluster_role_binding(
                "everyone-health",
                "health",
                vec![group("system:authenticated")],
            ),
            cluster_role_binding(
                "sa-no-namespace",
                "node-viewer",
                vec![service_account("", "builder")],
            ),
        ],
    )
}

fn decide(s: &RbacSnapshot, user: &UserInfo, r: Req<'_>) -> Decision {
    let (verb, group, resource, sub, ns, name) = r;
    s.authorize(&Attributes::resource(user, verb, group, resource, ns, name).with_subresource(sub))
}

#[test]
fn bindings_table() {
    let s = fixture();
    let alice = UserInfo::new("alice", &["system:authenticated"]);
    let dev = UserInfo::new("dan", &["devs", "system:authenticated"]);
    let ops = UserInfo::new("olga", &["ops"]);
    let builder = UserInfo::new(
        "system:serviceaccount:ns1:builder",
        &["system:serviceaccounts"],
    );
    let other_builder = UserInfo::new(
        "system:serviceaccount:ns2:builder",
        &["system:serviceaccounts"],
    );
    let deployer = UserInfo::new("system:serviceaccount:ci:deployer", &[]);
    let robo = UserInfo::new("robo", &[]);
    let cases: Vec<(&UserInfo, Req<'_>, bool)> = vec![
        // Role in its namespace only.
        (&alice, ("list", "", "pods", "", "ns1", ""), true),
        (&alice, ("delete", "", "pods", "", "ns1", "p"), false),
        (&alice, ("list", "", "pods", "", "ns2", ""), false),
        (&alice, ("list", "", "pods", "", "", ""), false),
        // A RoleBinding to a ClusterRole grants it in that namespace only.
        (&dev, ("get", "", "secrets", "", "ns1", "s"), true),
        (&dev, ("get", "", "secrets", "", "ns2", "s"), false),
        (&dev, ("get", "", "secrets", "", "", "s"), false),
        // A ClusterRoleBinding grants everywhere, cluster scope included.
        (&ops, ("list", "", "nodes", "", "", ""), true),
        (&ops, ("get", "", "nodes", "", "any-namespace", "n"), true),
        (&ops, ("delete", "", "nodes", "", "", "n"), false),
        // Service accounts: the namespace defaults to the RoleBinding's.
        (&builder, ("get", "", "pods", "", "ns1", "p"), true),
        (&other_builder, ("get", "", "pods", "", "ns1", "p"), false),
        (&deployer, ("get", "", "secrets", "", "ns1", "s"), true),
        // ...but a ClusterRoleBinding's service account without namespace matches nobody.
        (&builder, ("list", "", "nodes", "", "", ""), false),
        // A subject of unknown kind matches nobody, even by name.
        (&robo, ("get", "", "pods", "", "ns1", "p"), false),
    ];
    for (i, (u, req, want)) in cases.iter().enumerate() {
        assert_eq!(
            decide(&s, u, *req).is_allowed(),
            *want,
            "case {i}: {} {req:?}",
            u.username
        );
    }
    let anyone = UserInfo::new("x", &["system:authenticated"]);
    assert!(
        s.authorize(&Attributes::non_resource(&anyone, "get", "/healthz"))
            .is_allowed()
    );
    assert!(
        s.authorize(&Attributes::non_resource(&anyone, "get", "/readyz/etcd"))
            .is_allowed()
    );
    assert!(
        !s.authorize(&Attributes::non_resource(&anyone, "get", "/metrics"))
            .is_allowed()
    );
    assert!(
        !s.authorize(&Attributes::non_resource(
            &UserInfo::anonymous(),
            "get",
            "/healthz"
        ))
        .is_allowed()
    );
}

#[test]
fn reasons_name_the_binding_like_kubernetes() {
    let s = fixture();
    let alice = UserInfo::new("alice", &[]);
    assert_eq!(
        decide(&s, &alice, ("get", "", "pods", "", "ns1", "p")),
        Decision::Allow(
            r#"RBAC: allowed by RoleBinding "alice-pods/ns1" of Role "pod-reader" to User "alice""#
                .into()
        )
    );
    let ops = UserInfo::new("olga", &["ops"]);
    assert_eq!(
        decide(&s, &ops, ("get", "", "nodes", "", "", "n")),
        Decision::Allow(r#"RBAC: allowed by ClusterRoleBinding "ops-nodes" of ClusterRole "node-viewer" to Group "ops""#.into())
    );
    let builder = UserInfo::new("system:serviceaccount:ns1:builder", &[]);
    assert_eq!(
        decide(&s, &builder, ("get", "", "pods", "", "ns1", "p")),
        Decision::Allow(r#"RBAC: allowed by RoleBinding "sa-local/ns1" of Role "pod-reader" to ServiceAccount "builder/ns1""#.into())
    );
    // RBAC has no opinion when nothing allows; a dangling role reference is the reason.
    let carol = UserInfo::new("carol", &[]);
    assert_eq!(
        decide(&s, &carol, ("get", "", "pods", "", "ns1", "p")),
        Decision::NoOpinion(r#"RBAC: role.rbac.authorization.k8s.io "missing" not found"#.into())
    );
    assert_eq!(
        decide(&s, &alice, ("get", "", "pods", "", "ns2", "p")),
        Decision::NoOpinion(String::new())
    );
    assert_eq!(
        aggregate_errors(&["a".into(), "b".into(), "a".into()]),
        "[a, b]",
        "several errors are listed once each"
    );
}

#[test]
fn watch_updates_replace_and_remove() {
    let mut s = fixture();
    let alice = UserInfo::new("alice", &[]);
    let bob = UserInfo::new("bob", &[]);
    let get = ("get", "", "pods", "", "ns1", "p");
    // The binding now names bob instead of alice.
    s.upsert_role_binding(&role_binding(
        "ns1",
        "alice-pods",
        role_ref("Role", "pod-reader"),
        vec![user("bob")],
    ));
    assert!(!decide(&s, &alice, get).is_allowed());
    assert!(decide(&s, &bob, get).is_allowed());
    // The role loses the verb.
    s.upsert_role(&role(
        "ns1",
        "pod-reader",
        vec![rule(&["list"], &[""], &["pods"])],
    ));
    assert!(!decide(&s, &bob, get).is_allowed());
    assert!(decide(&s, &bob, ("list", "", "pods", "", "ns1", "")).is_allowed());
    assert!(s.remove_role_binding("ns1", "alice-pods"));
    assert!(!s.remove_role_binding("ns1", "alice-pods"));
    assert!(!decide(&s, &bob, ("list", "", "pods", "", "ns1", "")).is_allowed());
    let ops = UserInfo::new("olga", &["ops"]);
    assert!(s.remove_cluster_role("node-viewer"));
    assert_eq!(
        decide(&s, &ops, ("get", "", "nodes", "", "", "n")),
        Decision::NoOpinion(
            r#"RBAC: clusterrole.rbac.authorization.k8s.io "node-viewer" not found"#.into()
        )
    );
    assert!(s.remove_cluster_role_binding("ops-nodes"));
    assert_eq!(
        decide(&s, &ops, ("get", "", "nodes", "", "", "n")),
        Decision::NoOpinion(String::new())
    );
    assert!(s.remove_role("ns2", "pod-reader"));
    assert!(!s.remove_role("ns2", "pod-reader"));
}

#[test]
fn index_visits_only_matching_bindings() {
    // Thousands of bindings for other users: a check still finds exactly its own.
    let mut s = RbacSnapshot::new();
    s.upsert_cluster_role(&cluster_role(
        "reader",
        vec![rule(&["get"], &[""], &["pods"])],
    ));
    for i in 0..2000 {
        s.upsert_role_binding(&role_binding(
            "ns",
            &format!("b{i}"),
            role_ref("ClusterRole", "reader"),
            vec![user(&format!("user-{i}"))],
        ));
    }
    let u = UserInfo::new("user-1999", &[]);
    let mut visited = 0;
    s.visit_rules_for(&u, "ns", &mut Vec::new(), &mut |_, _| {
        visited += 1;
        true
    });
    assert_eq!(visited, 1);
    assert!(decide(&s, &u, ("get", "", "pods", "", "ns", "p")).is_allowed());
    let (rules, errors) = s.rules_for(&UserInfo::new("nobody", &[]), "ns");
    assert!(rules.is_empty() && errors.is_empty());
}

#[test]
fn authorizer_reads_shared_state() {
    let shared = std::sync::Arc::new(std::sync::RwLock::new(fixture()));
    let authz = RbacAuthorizer::new(shared.clone());
    let bob = UserInfo::new("bob", &[]);
    let attrs = Attributes::resource(&bob, "get", "", "secrets", "ns1", "s");
    assert!(!authz.authorize(&attrs).is_allowed());
    shared.write().unwrap().upsert_role_binding(&role_binding(
        "ns1",
        "bob",
        role_ref("ClusterRole", "secret-reader"),
        vec![user("bob")],
    ));
    assert!(authz.authorize(&attrs).is_allowed());
}

// --- Covers (policy_comparator_test.go cases) ---

#[test]
fn covers_table() {
    let cases: Vec<(Vec<PolicyRule>, Vec<PolicyRule>, bool)> = vec![
        // Exact match.
        (
            vec![rule(&["get"], &["v1"], &["builds"])],
            vec![rule(&["get"], &["v1"], &["builds"])],
            true,
        ),
        // Split across owner rules.
        (
            vec![
                rule(&["get"], &["v1"], &["builds"]),
                rule(&["list"], &["v1"], &["builds"]),
            ],
            vec![rule(&["get", "list"], &["v1"], &["builds"])],
            true,
        ),
        (
            vec![rule(&["get"], &["v1"], &["builds"])],
            vec![rule(&["get", "list"], &["v1"], &["builds"])],
            false,
        ),
        // Stars.
        (
            vec![rule(&["*"], &["*"], &["*"])],
            vec![rule(
                &["get", "delete"],
                &["apps"],
                &["deployments", "pods/log"],
            )],
            true,
        ),
        (
            vec![rule(&["*"], &["v1"], &["builds"])],
            vec![rule(&["escalate"], &["v1"], &["builds"])],
            true,
        ),
        // "*" in the servant is only covered by "*" in the owner.
        (
            vec![rule(&["get", "list"], &[""], &["pods"])],
            vec![rule(&["*"], &[""], &["pods"])],
            false,
        ),
        // */sub is a literal resource name for comparison purposes.
        (
            vec![rule(&["get"], &["*"], &["*/scale"])],
            vec![rule(&["get"], &["apps"], &["deployments/scale"])],
            false,
        ),
        // Resource names.
        (
            vec![named_rule(&["get"], &[""], &["secrets"], &["a", "b"])],
            vec![named_rule(&["get"], &[""], &["secrets"], &["a"])],
            true,
        ),
        (
            vec![named_rule(&["get"], &[""], &["secrets"], &["a"])],
            vec![rule(&["get"], &[""], &["secrets"])],
            false,
        ),
        (
            vec![rule(&["get"], &[""], &["secrets"])],
            vec![named_rule(&["get"], &[""], &["secrets"], &["z"])],
            true,
        ),
        // Non-resource URLs, with prefixes.
        (
            vec![url_rule(&["get"], &["/api/*"])],
            vec![url_rule(&["get"], &["/api/v1", "/api/"])],
            true,
        ),
        (
            vec![url_rule(&["get"], &["/api/*"])],
            vec![url_rule(&["get"], &["/api"])],
            false,
        ),
        (
            vec![url_rule(&["*"], &["*"])],
            vec![url_rule(&["post"], &["/anything"])],
            true,
        ),
        // A resource rule without groups breaks down to nothing, so it is trivially covered.
        (
            vec![],
            vec![PolicyRule {
                api_groups: None,
                ..rule(&["get"], &[], &["pods"])
            }],
            true,
        ),
    ];
    for (i, (owner, servant, want)) in cases.iter().enumerate() {
        let (ok, missing) = covers(owner, servant);
        assert_eq!(ok, *want, "case {i}: missing {missing:?}");
        assert_eq!(missing.is_empty(), ok);
    }
    let (_, missing) = covers(
        &[rule(&["get"], &[""], &["pods"])],
        &[rule(&["get", "list"], &["", "apps"], &["pods"])],
    );
    assert_eq!(
        missing.len(),
        3,
        "each uncovered (group, resource, verb) once"
    );
}

#[test]
fn compaction_and_compact_strings() {
    let rules = vec![
        rule(&["get"], &[""], &["pods"]),
        rule(&["list"], &[""], &["pods"]),
        named_rule(&["get"], &[""], &["secrets"], &["a"]),
        url_rule(&["get"], &["/x"]),
    ];
    let compact = compact_rules(&rules);
    assert_eq!(compact.len(), 3);
    let strings: Vec<String> = compact.iter().map(compact_string).collect();
    assert!(
        strings
            .contains(&r#"{APIGroups:[""], Resources:["pods"], Verbs:["get" "list"]}"#.to_string()),
        "{strings:?}"
    );
    assert!(
        strings.contains(
            &r#"{APIGroups:[""], Resources:["secrets"], ResourceNames:["a"], Verbs:["get"]}"#
                .to_string()
        )
    );
    assert!(strings.contains(&r#"{NonResourceURLs:["/x"], Verbs:["get"]}"#.to_string()));
}

// --- Escalation checks ---

struct Rbac(RbacSnapshot);

impl Authorizer for Rbac {
    fn authorize(&self, attrs: &Attributes<'_>) -> Decision {
        self.0.authorize(attrs)
    }
}

fn escalation_fixture() -> Rbac {
    Rbac(RbacSnapshot::from_objects(
        &[],
        &[
            cluster_role("pods-all", vec![rule(&["*"], &[""], &["pods"])]),
            cluster_role("pods-get", vec![rule(&["get"], &[""], &["pods"])]),
            cluster_role("secrets-get", vec![rule(&["get"], &[""], &["secrets"])]),
            cluster_role(
                "escalator",
                vec![rule(
                    &["escalate"],
                    &[GROUP_NAME],
                    &["roles", "clusterroles"],
                )],
            ),
            cluster_role(
                "binder",
                vec![named_rule(
                    &["bind"],
                    &[GROUP_NAME],
                    &["clusterroles"],
                    &["secrets-get"],
                )],
            ),
            cluster_role(
                "admin-all",
                vec![rule(&["*"], &["*"], &["*"]), url_rule(&["*"], &["*"])],
            ),
        ],
        &[
            role_binding(
                "team",
                "alice-pods",
                role_ref("ClusterRole", "pods-all"),
                vec![user("alice")],
            ),
            role_binding(
                "team",
                "erin-escalate",
                role_ref("ClusterRole", "escalator"),
                vec![user("erin")],
            ),
            role_binding(
                "team",
                "bo-bind",
                role_ref("ClusterRole", "binder"),
                vec![user("bo")],
            ),
        ],
        &[cluster_role_binding(
            "root",
            "admin-all",
            vec![user("root")],
        )],
    ))
}

#[test]
fn role_writes_need_held_permissions_or_escalate() {
    let rbac = escalation_fixture();
    let alice = UserInfo::new("alice", &["system:authenticated"]);
    let subset = [rule(&["get", "list"], &[""], &["pods"])];
    let more = [rule(&["get"], &[""], &["pods", "secrets"])];
    assert!(check_role_write(&rbac, &rbac.0, &alice, "team", "r", "", &subset).is_ok());
    let err = check_role_write(&rbac, &rbac.0, &alice, "team", "r", "", &more).unwrap_err();
    assert_eq!(err.resource, "roles");
    assert_eq!(
        err.to_string(),
        "roles.rbac.authorization.k8s.io \"r\" is forbidden: user \"alice\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\"]}"
    );
    // Held in team, not in other namespaces or cluster-wide.
    assert!(check_role_write(&rbac, &rbac.0, &alice, "other", "r", "", &subset).is_err());
    // `escalate` on roles in the namespace bypasses the comparison.
    let erin = UserInfo::new("erin", &[]);
    assert!(check_role_write(&rbac, &rbac.0, &erin, "team", "r", "", &more).is_ok());
    assert!(check_role_write(&rbac, &rbac.0, &erin, "other", "r", "", &more).is_err());
    // system:masters may grant anything.
    let master = UserInfo::new("m", &["system:masters"]);
    assert!(check_role_write(&rbac, &rbac.0, &master, "x", "r", "", &more).is_ok());
}

#[test]
fn cluster_role_writes_and_aggregation_rules() {
    let rbac = escalation_fixture();
    let alice = UserInfo::new("alice", &[]);
    let root = UserInfo::new("root", &[]);
    let plain = cluster_role("c", vec![rule(&["get"], &[""], &["pods"])]);
    // Alice's pod rights are namespaced: a ClusterRole is checked against cluster-wide rules.
    assert!(check_cluster_role_write(&rbac, &rbac.0, &alice, "", &plain, None).is_err());
    assert!(check_cluster_role_write(&rbac, &rbac.0, &root, "", &plain, None).is_ok());
    let aggregated = ClusterRole {
        aggregation_rule: Some(AggregationRule {
            cluster_role_selectors: Some(vec![LabelSelector {
                match_labels: Some([("a".to_string(), "b".to_string())].into()),
                match_expressions: None,
            }]),
        }),
        ..cluster_role("agg", vec![])
    };
    // Empty rules are covered by anything, but the aggregation rule needs full authority.
    let mut limited = escalation_fixture();
    limited.0.upsert_cluster_role_binding(&cluster_role_binding(
        "dana",
        "pods-all",
        vec![user("dana")],
    ));
    let dana = UserInfo::new("dana", &[]);
    let err =
        check_cluster_role_write(&limited, &limited.0, &dana, "", &aggregated, None).unwrap_err();
    assert_eq!(
        err.message,
        "must have cluster-admin privileges to use the aggregationRule"
    );
    assert!(
        check_cluster_role_write(
            &limited,
            &limited.0,
            &dana,
            "",
            &cluster_role("p", vec![]),
            None
        )
        .is_ok()
    );
    // Removing an aggregation rule is checked against the old object too.
    assert!(
        check_cluster_role_write(
            &limited,
            &limited.0,
            &dana,
            "agg",
            &cluster_role("agg", vec![]),
            Some(&aggregated)
        )
        .is_err()
    );
    assert!(check_cluster_role_write(&limited, &limited.0, &root, "", &aggregated, None).is_ok());
    assert!(has_aggregation_rule(&aggregated));
    assert!(!has_aggregation_rule(&ClusterRole {
        aggregation_rule: Some(AggregationRule {
            cluster_role_selectors: Some(vec![])
        }),
        ..plain
    }));
}

#[test]
fn binding_writes_need_bind_or_held_permissions() {
    let rbac = escalation_fixture();
    let alice = UserInfo::new("alice", &[]);
    let bo = UserInfo::new("bo", &[]);
    // Alice holds every pods verb in team: she may bind pods-get there.
    assert!(
        check_binding_write(
            &rbac,
            &rbac.0,
            &alice,
            "team",
            "b",
            &role_ref("ClusterRole", "pods-get")
        )
        .is_ok()
    );
    let err = check_binding_write(
        &rbac,
        &rbac.0,
        &alice,
        "team",
        "b",
        &role_ref("ClusterRole", "secrets-get"),
    )
    .unwrap_err();
    assert_eq!(err.resource, "rolebindings");
    // Bo has `bind` on exactly secrets-get in team.
    assert!(
        check_binding_write(
            &rbac,
            &rbac.0,
            &bo,
            "team",
            "b",
            &role_ref("ClusterRole", "secrets-get")
        )
        .is_ok()
    );
    assert!(
        check_binding_write(
            &rbac,
            &rbac.0,
            &bo,
            "team",
            "b",
            &role_ref("ClusterRole", "pods-get")
        )
        .is_err()
    );
    assert!(
        check_binding_write(
            &rbac,
            &rbac.0,
            &bo,
            "other",
            "b",
            &role_ref("ClusterRole", "secrets-get")
        )
        .is_err()
    );
    // ClusterRoleBindings are checked cluster-wide.
    let err = check_binding_write(
        &rbac,
        &rbac.0,
        &alice,
        "",
        "crb",
        &role_ref("ClusterRole", "pods-get"),
    )
    .unwrap_err();
    assert_eq!(err.resource, "clusterrolebindings");
    // A missing role is forbidden with the lookup error.
    let err = check_binding_write(
        &rbac,
        &rbac.0,
        &alice,
        "team",
        "b",
        &role_ref("Role", "nope"),
    )
    .unwrap_err();
    assert!(err.message.contains("not found"), "{err}");
    let master = UserInfo::new("m", &["system:masters"]);
    assert!(
        check_binding_write(
            &rbac,
            &rbac.0,
            &master,
            "team",
            "b",
            &role_ref("Role", "nope")
        )
        .is_ok()
    );
}

// --- Aggregation ---

fn labelled(name: &str, labels: &[(&str, &str)], rules: Vec<PolicyRule>) -> ClusterRole {
    let mut r = cluster_role(name, rules);
    r.metadata.labels = Some(
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    r
}

fn aggregating(name: &str, labels: &[(&str, &str)], selectors: Vec<LabelSelector>) -> ClusterRole {
    let mut r = labelled(name, labels, vec![]);
    r.rules = None;
    r.aggregation_rule = Some(AggregationRule {
        cluster_role_selectors: Some(selectors),
    });
    r
}

fn match_label(k: &str, v: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some([(k.to_string(), v.to_string())].into()),
        match_expressions: None,
    }
}

#[test]
fn aggregation_unions_selected_roles_in_name_order() {
    let get_pods = rule(&["get"], &[""], &["pods"]);
    let list_pods = rule(&["list"], &[""], &["pods"]);
    let get_nodes = rule(&["get"], &[""], &["nodes"]);
    let roles = vec![
        labelled(
            "zeta",
            &[("agg", "x")],
            vec![get_nodes.clone(), get_pods.clone()],
        ),
        labelled("alpha", &[("agg", "x")], vec![get_pods.clone()]),
        labelled("beta", &[("tier", "gold")], vec![list_pods.clone()]),
        labelled("unrelated", &[], vec![rule(&["*"], &["*"], &["*"])]),
        aggregating(
            "combined",
            &[("agg", "x")],
            vec![
                match_label("agg", "x"),
                LabelSelector {
                    match_labels: None,
                    match_expressions: Some(vec![LabelSelectorRequirement {
                        key: "tier".into(),
                        operator: "In".into(),
                        values: Some(vec!["gold".into()]),
                    }]),
                },
            ],
        ),
    ];
    let rules = aggregated_rules(&roles[4], &roles).unwrap().unwrap();
    // alpha then zeta (name order, itself skipped, duplicates dropped), then beta.
    assert_eq!(rules, vec![get_pods, get_nodes, list_pods]);
    assert_eq!(aggregated_rules(&roles[0], &roles).unwrap(), None);
    let bad = aggregating(
        "bad",
        &[],
        vec![LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "k".into(),
                operator: "Near".into(),
                values: None,
            }]),
        }],
    );
    assert!(aggregated_rules(&bad, &roles).is_err());
    assert!(
        selector::matches(&match_label("agg", "x"), roles[1].metadata.labels.as_ref()).unwrap()
    );
}

#[test]
fn aggregation_reaches_a_fixed_point_through_nested_roles() {
    let base = rule(&["get"], &[""], &["pods"]);
    let extra = rule(&["create"], &[""], &["pods"]);
    let mut roles = vec![
        // top aggregates mid, which aggregates leaf: two levels.
        aggregating("top", &[], vec![match_label("to-top", "true")]),
        aggregating(
            "mid",
            &[("to-top", "true")],
            vec![match_label("to-mid", "true")],
        ),
        labelled("leaf", &[("to-mid", "true")], vec![base.clone()]),
        labelled("side", &[("to-top", "true")], vec![extra.clone()]),
    ];
    let changed = aggregate_all(&mut roles);
    assert_eq!(changed, vec!["top", "mid"]);
    assert_eq!(
        roles[1].rules.as_deref().unwrap(),
        std::slice::from_ref(&base)
    );
    let top = roles[0].rules.as_deref().unwrap();
    assert!(
        top.contains(&base) && top.contains(&extra) && top.len() == 2,
        "{top:?}"
    );
    assert!(
        aggregate_all(&mut roles).is_empty(),
        "stable once aggregated"
    );
    // Selectors that select each other terminate.
    let mut cyclic = vec![
        aggregating("a", &[("x", "1")], vec![match_label("y", "1")]),
        aggregating("b", &[("y", "1")], vec![match_label("x", "1")]),
    ];
    aggregate_all(&mut cyclic);
    assert!(
        cyclic
            .iter()
            .all(|r| r.rules.as_deref().unwrap_or(&[]).is_empty())
    );
}
