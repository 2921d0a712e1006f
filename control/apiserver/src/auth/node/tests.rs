//! Node authorizer tests: relationships through pods, own objects, static rules.

use super::*;
use crate::auth::parse_field_selector;
use clipper_proto::api::core::v1::{
    ConfigMapEnvSource, ConfigMapKeySelector, ConfigMapProjection, ConfigMapVolumeSource,
    Container, EnvFromSource, EnvVar, EnvVarSource, EphemeralVolumeSource, LocalObjectReference,
    ObjectReference, PersistentVolumeClaimVolumeSource, PersistentVolumeSpec,
    ProjectedVolumeSource, SecretKeySelector, SecretVolumeSource, VolumeProjection,
};
use clipper_proto::api::meta::v1::ObjectMeta;
use clipper_proto::api::storage::v1::VolumeAttachmentSpec;

fn meta(ns: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: if ns.is_empty() { None } else { Some(ns.into()) },
        ..ObjectMeta::default()
    }
}

fn volume(name: &str) -> Volume {
    Volume {
        name: name.into(),
        ..Volume::default()
    }
}

/// A pod on `node` using a secret volume, a projected configmap, env from a secret key
/// and a configmap, an image pull secret, a PVC and a generic ephemeral volume.
fn web_pod(node: &str) -> Pod {
    let container = Container {
        name: "app".into(),
        env: Some(vec![EnvVar {
            name: "PASSWORD".into(),
            value: None,
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    key: "pw".into(),
                    name: Some("db-password".into()),
                    optional: None,
                }),
                config_map_key_ref: Some(ConfigMapKeySelector {
                    key: "k".into(),
                    name: Some("env-config".into()),
                    optional: None,
                }),
                ..EnvVarSource::default()
            }),
        }]),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: Some("bulk-config".into()),
                optional: None,
            }),
            prefix: None,
            secret_ref: None,
        }]),
        ..Container::default()
    };
    let volumes = vec![
        Volume {
            secret: Some(SecretVolumeSource {
                secret_name: Some("tls".into()),
                ..SecretVolumeSource::default()
            }),
            ..volume("certs")
        },
        Volume {
            projected: Some(ProjectedVolumeSource {
                default_mode: None,
                sources: Some(vec![VolumeProjection {
                    config_map: Some(ConfigMapProjection {
                        items: None,
                        name: Some("projected-config".into()),
                        optional: None,
                    }),
                    ..VolumeProjection::default()
                }]),
            }),
            ..volume("proj")
        },
        Volume {
            config_map: Some(ConfigMapVolumeSource {
                name: Some("plain-config".into()),
                ..ConfigMapVolumeSource::default()
            }),
            ..volume("cfg")
        },
        Volume {
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: "data".into(),
                read_only: None,
            }),
            ..volume("data")
        },
        Volume {
            ephemeral: Some(EphemeralVolumeSource::default()),
            ..volume("scratch")
        },
    ];
    Pod {
        metadata: meta("shop", "web-0"),
        spec: Some(PodSpec {
            containers: vec![container],
            image_pull_secrets: Some(vec![LocalObjectReference {
                name: Some("registry".into()),
            }]),
            node_name: Some(node.into()),
            service_account_name: Some("web".into()),
            volumes: Some(volumes),
            ..PodSpec::default()
        }),
        status: None,
    }
}

fn graph() -> NodeGraph {
    let pv = PersistentVolume {
        metadata: meta("", "pv-data"),
        spec: Some(PersistentVolumeSpec {
            claim_ref: Some(ObjectReference {
                name: Some("data".into()),
                namespace: Some("shop".into()),
                ..ObjectReference::default()
            }),
            ..PersistentVolumeSpec::default()
        }),
        status: None,
    };
    let va = VolumeAttachment {
        metadata: meta("", "va-1"),
        spec: VolumeAttachmentSpec {
            attacher: "csi".into(),
            node_name: "node-a".into(),
            ..VolumeAttachmentSpec::default()
        },
        status: None,
    };
    let mut other = web_pod("node-b");
    other.metadata = meta("shop", "web-1");
    if let Some(spec) = other.spec.as_mut() {
        spec.volumes = Some(vec![Volume {
            secret: Some(SecretVolumeSource {
                secret_name: Some("b-only".into()),
                ..SecretVolumeSource::default()
            }),
            ..volume("s")
        }]);
        spec.image_pull_secrets = None;
        spec.containers = vec![Container {
            name: "c".into(),
            ..Container::default()
        }];
    }
    let mut pending = web_pod("");
    pending.metadata = meta("shop", "pending");
    NodeGraph::from_objects(&[web_pod("node-a"), other, pending], &[pv], &[va])
}

fn node_a() -> UserInfo {
    UserInfo::new(
        "system:node:node-a",
        &["system:nodes", "system:authenticated"],
    )
}

type Req<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str, &'a str);

fn decide(authz: &NodeAuthorizer, user: &UserInfo, r: Req<'_>) -> Decision {
    let (verb, group, resource, sub, ns, name) = r;
    authz.authorize(
        &Attributes::resource(user, verb, group, resource, ns, name).with_subresource(sub),
    )
}

#[test]
fn node_identity_needs_prefix_and_group() {
    assert_eq!(node_identity(&node_a()), Some("node-a"));
    assert_eq!(
        node_identity(&UserInfo::new("system:node:x", &[])),
        None,
        "group missing"
    );
    assert_eq!(
        node_identity(&UserInfo::new("alice", &["system:nodes"])),
        None,
        "prefix missing"
    );
    assert_eq!(
        node_identity(&UserInfo::new("system:node:", &["system:nodes"])),
        Some("")
    );
    let authz = NodeAuthorizer::new(graph());
    let nameless = UserInfo::new("system:node:", &["system:nodes"]);
    assert_eq!(
        decide(&authz, &nameless, ("get", "", "nodes", "", "", "x")),
        Decision::NoOpinion("unknown node for user \"system:node:\"".into())
    );
    assert_eq!(
        decide(
            &authz,
            &UserInfo::new("alice", &[]),
            ("get", "", "nodes", "", "", "x")
        ),
        Decision::NoOpinion(String::new())
    );
}

#[test]
fn node_may_read_only_objects_of_its_pods() {
    let authz = NodeAuthorizer::new(graph());
    let a = node_a();
    let cases: Vec<(Req<'_>, bool)> = vec![
        (("get", "", "secrets", "", "shop", "tls"), true),
        (("get", "", "secrets", "", "shop", "db-password"), true),
        (("get", "", "secrets", "", "shop", "registry"), true),
        (("watch", "", "secrets", "", "shop", "tls"), true),
        (("get", "", "secrets", "", "shop", "b-only"), false),
        (("get", "", "secrets", "", "other", "tls"), false),
        (("list", "", "secrets", "", "shop", ""), false),
        (("update", "", "secrets", "", "shop", "tls"), false),
        (
            ("get", "", "configmaps", "", "shop", "projected-config"),
            true,
        ),
        (("get", "", "configmaps", "", "shop", "plain-config"), true),
        (("get", "", "configmaps", "", "shop", "env-config"), true),
        (("get", "", "configmaps", "", "shop", "bulk-config"), true),
        (
            ("get", "", "configmaps", "", "shop", "kube-root-ca.crt"),
            false,
        ),
        (
            ("get", "", "persistentvolumeclaims", "", "shop", "data"),
            true,
        ),
        (
            (
                "get",
                "",
                "persistentvolumeclaims",
                "",
                "shop",
                "web-0-scratch",
            ),
            true,
        ),
        (
            ("list", "", "persistentvolumeclaims", "", "shop", ""),
            false,
        ),
        (
            (
                "update",
                "",
                "persistentvolumeclaims",
                "status",
                "shop",
                "data",
            ),
            true,
        ),
        (("get", "", "persistentvolumes", "", "", "pv-data"), true),
        (("get", "", "persistentvolumes", "", "", "pv-other"), false),
        (
            ("get", "storage.k8s.io", "volumeattachments", "", "", "va-1"),
            true,
        ),
        (
            ("create", "", "serviceaccounts", "token", "shop", "web"),
            true,
        ),
        (
            ("create", "", "serviceaccounts", "token", "shop", "default"),
            false,
        ),
        (("get", "", "serviceaccounts", "", "shop", "web"), false),
    ];
    for (i, (req, want)) in cases.iter().enumerate() {
        assert_eq!(
            decide(&authz, &a, *req).is_allowed(),
            *want,
            "case {i}: {req:?}"
        );
    }
    assert_eq!(
        decide(&authz, &a, ("get", "", "secrets", "", "shop", "b-only")),
        Decision::NoOpinion("no relationship found between node 'node-a' and this object".into())
    );
}

#[test]
fn node_writes_only_its_own_node_lease_and_pods() {
    let authz = NodeAuthorizer::new(graph());
    let a = node_a();
    let cases: Vec<(Req<'_>, bool)> = vec![
        (("get", "", "nodes", "", "", "node-a"), true),
        (("watch", "", "nodes", "", "", "node-a"), true),
        (("get", "", "nodes", "", "", "node-b"), false),
        (("list", "", "nodes", "", "", ""), false),
        (("create", "", "nodes", "", "", ""), true),
        (("update", "", "nodes", "", "", "node-a"), true),
        (("patch", "", "nodes", "status", "", "node-a"), true),
        (("patch", "", "nodes", "", "", "node-b"), false),
        (("update", "", "nodes", "status", "", "node-b"), false),
        (("delete", "", "nodes", "", "", "node-a"), false),
        (("get", "", "nodes", "status", "", "node-a"), false),
        (
            (
                "create",
                "coordination.k8s.io",
                "leases",
                "",
                "kube-node-lease",
                "",
            ),
            true,
        ),
        (
            (
                "update",
                "coordination.k8s.io",
                "leases",
                "",
                "kube-node-lease",
                "node-a",
            ),
            true,
        ),
        (
            (
                "get",
                "coordination.k8s.io",
                "leases",
                "",
                "kube-node-lease",
                "node-a",
            ),
            true,
        ),
        (
            (
                "update",
                "coordination.k8s.io",
                "leases",
                "",
                "kube-node-lease",
                "node-b",
            ),
            false,
        ),
        (
            (
                "update",
                "coordination.k8s.io",
                "leases",
                "",
                "kube-system",
                "node-a",
            ),
            false,
        ),
        (
            (
                "list",
                "coordination.k8s.io",
                "leases",
                "",
                "kube-node-lease",
                "",
            ),
            false,
        ),
        (
            ("update", "storage.k8s.io", "csinodes", "", "", "node-a"),
            true,
        ),
        (
            ("update", "storage.k8s.io", "csinodes", "", "", "node-b"),
            false,
        ),
        (("get", "", "pods", "", "shop", "web-0"), true),
        (("get", "", "pods", "", "shop", "web-1"), false),
        (("get", "", "pods", "", "shop", "pending"), false),
        (("get", "", "pods", "log", "shop", "web-0"), false),
        (("update", "", "pods", "status", "shop", "web-0"), true),
        (("patch", "", "pods", "status", "shop", "web-1"), false),
        (("delete", "", "pods", "", "shop", "web-0"), true),
        (("delete", "", "pods", "", "shop", "web-1"), false),
        (("create", "", "pods", "eviction", "shop", "web-0"), true),
        (("create", "", "pods", "eviction", "shop", "web-1"), false),
        (("create", "", "pods", "", "shop", ""), true),
        (("update", "", "pods", "", "shop", "web-0"), false),
        (("list", "", "pods", "", "", ""), false),
        (("exec", "", "pods", "exec", "shop", "web-0"), false),
    ];
    for (i, (req, want)) in cases.iter().enumerate() {
        assert_eq!(
            decide(&authz, &a, *req).is_allowed(),
            *want,
            "case {i}: {req:?}"
        );
    }
}

#[test]
fn pod_lists_need_the_node_field_selector() {
    let authz = NodeAuthorizer::new(graph());
    let a = node_a();
    let own = parse_field_selector("spec.nodeName=node-a").unwrap();
    let other = parse_field_selector("spec.nodeName=node-b").unwrap();
    let negated = parse_field_selector("spec.nodeName!=node-a").unwrap();
    let list = |sel: &[crate::auth::FieldRequirement]| {
        authz.authorize(
            &Attributes::resource(&a, "watch", "", "pods", "", "").with_field_selector(sel),
        )
    };
    assert!(list(&own).is_allowed());
    assert!(!list(&other).is_allowed());
    assert!(!list(&negated).is_allowed());
    assert_eq!(
        list(&[]),
        Decision::NoOpinion("can only list/watch pods with spec.nodeName field selector".into())
    );
}

#[test]
fn static_rules_cover_the_rest_and_nothing_more() {
    let authz = NodeAuthorizer::new(graph());
    let a = node_a();
    let cases: Vec<(Req<'_>, bool)> = vec![
        (("create", "", "events", "", "shop", ""), true),
        (("patch", "", "events", "", "shop", "e"), true),
        (("list", "", "services", "", "", ""), true),
        (
            (
                "create",
                "authentication.k8s.io",
                "tokenreviews",
                "",
                "",
                "",
            ),
            true,
        ),
        (
            (
                "create",
                "certificates.k8s.io",
                "certificatesigningrequests",
                "",
                "",
                "",
            ),
            true,
        ),
        (("list", "node.k8s.io", "runtimeclasses", "", "", ""), true),
        (("get", "", "endpoints", "", "shop", "x"), true),
        (("create", "", "services", "", "shop", ""), false),
        (("delete", "", "events", "", "shop", "e"), false),
        (("get", "apps", "deployments", "", "shop", "web"), false),
        (
            (
                "create",
                "rbac.authorization.k8s.io",
                "clusterrolebindings",
                "",
                "",
                "",
            ),
            false,
        ),
        (("list", "", "namespaces", "", "", ""), false),
    ];
    for (i, (req, want)) in cases.iter().enumerate() {
        assert_eq!(
            decide(&authz, &a, *req).is_allowed(),
            *want,
            "case {i}: {req:?}"
        );
    }
    assert!(
        !authz
            .authorize(&Attributes::non_resource(&a, "get", "/metrics"))
            .is_allowed()
    );
}

#[test]
fn graph_follows_pod_updates_and_deletes() {
    let shared = std::sync::Arc::new(std::sync::RwLock::new(graph()));
    let authz = NodeAuthorizer::new(shared.clone());
    let a = node_a();
    let b = UserInfo::new("system:node:node-b", &["system:nodes"]);
    let tls = ("get", "", "secrets", "", "shop", "tls");
    assert!(decide_shared(&authz, &a, tls).is_allowed());
    // The pod moves to node-b (delete + recreate bound elsewhere).
    shared.write().unwrap().upsert_pod(&web_pod("node-b"));
    assert!(!decide_shared(&authz, &a, tls).is_allowed());
    assert!(decide_shared(&authz, &b, tls).is_allowed());
    // Two pods on node-b share "tls" only through web-0; deleting it revokes.
    assert!(shared.write().unwrap().remove_pod("shop", "web-0"));
    assert!(!decide_shared(&authz, &b, tls).is_allowed());
    assert!(decide_shared(&authz, &b, ("get", "", "secrets", "", "shop", "b-only")).is_allowed());
    // A claim's PV is reachable only while its pod is.
    assert!(!shared.read().unwrap().pv_on_node("node-b", "pv-data"));
    assert!(shared.write().unwrap().remove_persistent_volume("pv-data"));
    assert!(shared.write().unwrap().remove_volume_attachment("va-1"));
    assert!(
        !decide_shared(
            &authz,
            &a,
            ("get", "storage.k8s.io", "volumeattachments", "", "", "va-1")
        )
        .is_allowed()
    );
    assert_eq!(shared.read().unwrap().nodes(), HashSet::from(["node-b"]));
}

fn decide_shared<G: ReadState<NodeGraph>>(
    authz: &NodeAuthorizer<G>,
    user: &UserInfo,
    r: Req<'_>,
) -> Decision {
    let (verb, group, resource, sub, ns, name) = r;
    authz.authorize(
        &Attributes::resource(user, verb, group, resource, ns, name).with_subresource(sub),
    )
}

#[test]
fn shared_references_are_counted() {
    let mut g = NodeGraph::new();
    let mut second = web_pod("node-a");
    second.metadata = meta("shop", "web-2");
    g.upsert_pod(&web_pod("node-a"));
    g.upsert_pod(&second);
    assert!(g.secret_on_node("node-a", "shop", "tls"));
    g.remove_pod("shop", "web-0");
    assert!(
        g.secret_on_node("node-a", "shop", "tls"),
        "web-2 still uses it"
    );
    g.remove_pod("shop", "web-2");
    assert!(!g.secret_on_node("node-a", "shop", "tls"));
    // Re-upserting the same pod does not double count.
    g.upsert_pod(&second);
    g.upsert_pod(&second);
    g.remove_pod("shop", "web-2");
    assert!(!g.secret_on_node("node-a", "shop", "tls"));
}

#[test]
fn chain_with_rbac_and_masters() {
    use crate::auth::{PrivilegedGroupAuthorizer, Union, policy, rbac::RbacAuthorizer};
    let chain = Union::new(vec![
        Box::new(PrivilegedGroupAuthorizer::system_masters()),
        Box::new(NodeAuthorizer::new(graph())),
        Box::new(RbacAuthorizer::new(policy::default_snapshot())),
    ]);
    let a = node_a();
    // The default system:node binding has no subjects: nodes get nothing from RBAC.
    let other_secret = Attributes::resource(&a, "get", "", "secrets", "shop", "b-only");
    assert_eq!(
        chain.authorize(&other_secret),
        Decision::NoOpinion("no relationship found between node 'node-a' and this object".into())
    );
    assert!(
        chain
            .authorize(&Attributes::resource(
                &a, "get", "", "secrets", "shop", "tls"
            ))
            .is_allowed()
    );
    // Nodes are authenticated users: discovery comes from RBAC.
    assert!(
        chain
            .authorize(&Attributes::non_resource(&a, "get", "/api"))
            .is_allowed()
    );
    let admin = UserInfo::new("admin", &["system:masters"]);
    assert!(
        chain
            .authorize(&Attributes::resource(
                &admin, "delete", "", "nodes", "", "node-a"
            ))
            .is_allowed()
    );
}
