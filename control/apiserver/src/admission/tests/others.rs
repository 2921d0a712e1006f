//! Node, storage, networking, policy, autoscaling, RBAC, scheduling, coordination,
//! discovery and CRD validation.

use std::collections::BTreeMap;

use clipper_proto::api::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionCondition, CustomResourceDefinitionNames,
    CustomResourceDefinitionSpec, CustomResourceDefinitionStatus, CustomResourceDefinitionVersion,
    CustomResourceValidation, JSONSchemaProps,
};
use clipper_proto::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec,
};
use clipper_proto::api::coordination::v1::{Lease, LeaseSpec};
use clipper_proto::api::core::v1::{
    Node, NodeSpec, PersistentVolumeClaim, PersistentVolumeClaimSpec, Taint,
    VolumeResourceRequirements,
};
use clipper_proto::api::discovery::v1::{Endpoint, EndpointSlice};
use clipper_proto::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, IPBlock, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicySpec, ServiceBackendPort,
};
use clipper_proto::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use clipper_proto::api::rbac::v1::{
    ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use clipper_proto::api::scheduling::v1::PriorityClass;
use clipper_proto::api::storage::v1::StorageClass;
use clipper_proto::{IntOrString, Quantity};

use super::super::ErrorType::*;
use super::super::validate;
use super::{Want, expect, meta, selector, validate_new, validate_upd};

#[test]
fn unknown_types_have_no_rules() {
    assert!(validate(&"a string".to_string(), None).is_empty());
    assert!(validate(&42_u8, Some(&7_u8)).is_empty());
}

#[test]
fn nodes() {
    let node = |effect: &str| Node {
        metadata: meta("node-1", None),
        spec: Some(NodeSpec {
            taints: Some(vec![Taint {
                key: "dedicated".into(),
                effect: effect.into(),
                ..Taint::default()
            }]),
            ..NodeSpec::default()
        }),
        status: None,
    };
    expect("valid", &validate_new(node("NoSchedule")), &[]);
    expect(
        "taint effect",
        &validate_new(node("Never")),
        &[(
            "metadata.taints[0].effect",
            NotSupported,
            "metadata.taints[0].effect: Unsupported value: \"Never\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
        )],
    );
}

fn pvc(modes: &[&str], storage: Option<&str>) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: meta("data", Some("default")),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(modes.iter().map(|m| m.to_string()).collect()),
            resources: Some(VolumeResourceRequirements {
                requests: storage.map(|s| {
                    BTreeMap::from([("storage".to_string(), Quantity::parse(s).expect("q"))])
                }),
                limits: None,
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    }
}

#[test]
fn persistent_volume_claims() {
    expect(
        "valid",
        &validate_new(pvc(&["ReadWriteOnce"], Some("1Gi"))),
        &[],
    );
    expect(
        "modes",
        &validate_new(pvc(&[], Some("1Gi"))),
        &[(
            "spec.accessModes",
            Required,
            "spec.accessModes: Required value: at least 1 access mode is required",
        )],
    );
    expect(
        "mode value",
        &validate_new(pvc(&["ReadWriteSometimes"], Some("1Gi"))),
        &[(
            "spec.accessModes",
            NotSupported,
            "~spec.accessModes: Unsupported value: \"ReadWriteSometimes\"",
        )],
    );
    expect(
        "storage",
        &validate_new(pvc(&["ReadWriteOnce"], None)),
        &[(
            "spec.resources[storage]",
            Required,
            "spec.resources[storage]: Required value",
        )],
    );
    // Only bound claims may be resized.
    let bound = |size: &str| {
        let mut c = pvc(&["ReadWriteOnce"], Some(size));
        if let Some(s) = c.spec.as_mut() {
            s.volume_name = Some("pv-1".into());
        }
        c.status = Some(clipper_proto::api::core::v1::PersistentVolumeClaimStatus {
            phase: Some("Bound".into()),
            ..Default::default()
        });
        c
    };
    expect(
        "bound may grow",
        &validate_upd(bound("2Gi"), bound("1Gi")),
        &[],
    );
    let errs = validate_upd(
        pvc(&["ReadWriteOnce"], Some("2Gi")),
        pvc(&["ReadWriteOnce"], Some("1Gi")),
    );
    expect(
        "unbound may not",
        &errs,
        &[("spec", Forbidden, "~for bound claims")],
    );
    let errs = validate_upd(
        pvc(&["ReadWriteMany"], Some("1Gi")),
        pvc(&["ReadWriteOnce"], Some("1Gi")),
    );
    expect(
        "spec immutable",
        &errs,
        &[(
            "spec",
            Forbidden,
            "~spec is immutable after creation except resources.requests",
        )],
    );
}

fn ingress(path: &str, path_type: &str) -> Ingress {
    Ingress {
        metadata: meta("web", Some("default")),
        spec: Some(IngressSpec {
            rules: Some(vec![IngressRule {
                host: Some("example.com".into()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some(path.into()),
                        path_type: path_type.into(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: "web".into(),
                                port: Some(ServiceBackendPort {
                                    number: Some(80),
                                    name: None,
                                }),
                            }),
                            resource: None,
                        },
                    }],
                }),
            }]),
            ..IngressSpec::default()
        }),
        status: None,
    }
}

#[test]
fn ingresses() {
    expect("valid", &validate_new(ingress("/", "Prefix")), &[]);
    expect(
        "path type",
        &validate_new(ingress("/", "Regex")),
        &[(
            "spec.rules[0].http.paths[0].pathType",
            NotSupported,
            "spec.rules[0].http.paths[0].pathType: Unsupported value: \"Regex\": supported values: \"Exact\", \"ImplementationSpecific\", \"Prefix\"",
        )],
    );
    expect(
        "relative path",
        &validate_new(ingress("api", "Prefix")),
        &[(
            "spec.rules[0].http.paths[0].path",
            Invalid,
            "spec.rules[0].http.paths[0].path: Invalid value: \"api\": must be an absolute path",
        )],
    );
    let mut wildcard = ingress("/", "Exact");
    if let Some(r) = wildcard.spec.as_mut().and_then(|s| s.rules.as_mut()) {
        r[0].host = Some("*.example.com".into());
    }
    expect("wildcard host", &validate_new(wildcard), &[]);
    let mut ip_host = ingress("/", "Exact");
    if let Some(r) = ip_host.spec.as_mut().and_then(|s| s.rules.as_mut()) {
        r[0].host = Some("10.0.0.1".into());
    }
    expect(
        "ip host",
        &validate_new(ip_host),
        &[(
            "spec.rules[0].host",
            Invalid,
            "spec.rules[0].host: Invalid value: \"10.0.0.1\": must be a DNS name, not an IP address",
        )],
    );
}

fn net_pol(types: Option<&[&str]>, cidr: &str) -> NetworkPolicy {
    NetworkPolicy {
        metadata: meta("deny", Some("default")),
        spec: Some(NetworkPolicySpec {
            pod_selector: selector("web"),
            policy_types: types.map(|t| t.iter().map(|s| s.to_string()).collect()),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![NetworkPolicyPeer {
                    ip_block: Some(IPBlock {
                        cidr: cidr.into(),
                        except: None,
                    }),
                    ..NetworkPolicyPeer::default()
                }]),
                ports: None,
            }]),
            egress: None,
        }),
    }
}

#[test]
fn network_policies() {
    expect("valid", &validate_new(net_pol(None, "10.0.0.0/8")), &[]);
    expect(
        "policy type",
        &validate_new(net_pol(Some(&["Both"]), "10.0.0.0/8")),
        &[(
            "spec.policyTypes[0]",
            NotSupported,
            "spec.policyTypes[0]: Unsupported value: \"Both\": supported values: \"Ingress\", \"Egress\"",
        )],
    );
    expect(
        "cidr",
        &validate_new(net_pol(None, "10.0.0.0/33")),
        &[(
            "spec.ingress[0].from[0].ipBlock.cidr",
            Invalid,
            "~spec.ingress[0].from[0].ipBlock.cidr: Invalid value: \"10.0.0.0/33\"",
        )],
    );
    expect(
        "cidr required",
        &validate_new(net_pol(None, "")),
        &[(
            "spec.ingress[0].from[0].ipBlock.cidr",
            Required,
            "spec.ingress[0].from[0].ipBlock.cidr: Required value",
        )],
    );
}

#[test]
fn disruption_budgets() {
    let pdb = |min: Option<IntOrString>, max: Option<IntOrString>| PodDisruptionBudget {
        metadata: meta("web", Some("default")),
        spec: Some(PodDisruptionBudgetSpec {
            min_available: min,
            max_unavailable: max,
            selector: Some(selector("web")),
            unhealthy_pod_eviction_policy: None,
        }),
        status: None,
    };
    expect(
        "valid",
        &validate_new(pdb(Some(IntOrString::Int(1)), None)),
        &[],
    );
    expect(
        "percent",
        &validate_new(pdb(None, Some(IntOrString::String("50%".into())))),
        &[],
    );
    expect(
        "both",
        &validate_new(pdb(Some(IntOrString::Int(1)), Some(IntOrString::Int(1)))),
        &[(
            "spec",
            Invalid,
            "~minAvailable and maxUnavailable cannot be both set",
        )],
    );
    expect(
        "negative",
        &validate_new(pdb(Some(IntOrString::Int(-1)), None)),
        &[(
            "spec.minAvailable",
            Invalid,
            "spec.minAvailable: Invalid value: -1: must be greater than or equal to 0",
        )],
    );
    expect(
        "over 100%",
        &validate_new(pdb(Some(IntOrString::String("120%".into())), None)),
        &[(
            "spec.minAvailable",
            Invalid,
            "spec.minAvailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"120%\"}: must not be greater than 100%",
        )],
    );
}

fn hpa(min: Option<i32>, max: i32) -> HorizontalPodAutoscaler {
    HorizontalPodAutoscaler {
        metadata: meta("web", Some("default")),
        spec: Some(HorizontalPodAutoscalerSpec {
            min_replicas: min,
            max_replicas: max,
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: "web".into(),
            },
            ..HorizontalPodAutoscalerSpec::default()
        }),
        status: None,
    }
}

#[test]
fn autoscalers() {
    expect("valid", &validate_new(hpa(Some(2), 5)), &[]);
    expect(
        "min zero",
        &validate_new(hpa(Some(0), 5)),
        &[
            (
                "spec.minReplicas",
                Invalid,
                "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
            ),
            (
                "spec.metrics",
                Forbidden,
                "spec.metrics: Forbidden: must specify at least one Object or External metric to support scaling to zero replicas",
            ),
        ],
    );
    expect(
        "max below min",
        &validate_new(hpa(Some(3), 2)),
        &[(
            "spec.maxReplicas",
            Invalid,
            "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`",
        )],
    );
    // Objects that already scale to zero may keep doing so.
    let errs = validate_upd(hpa(Some(0), 4), hpa(Some(0), 5));
    expect(
        "kept zero",
        &errs,
        &[(
            "spec.metrics",
            Forbidden,
            "~must specify at least one Object or External metric",
        )],
    );
}

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    let v = |xs: &[&str]| Some(xs.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    PolicyRule {
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        api_groups: v(groups),
        resources: v(resources),
        ..PolicyRule::default()
    }
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef {
        api_group: "rbac.authorization.k8s.io".into(),
        kind: kind.into(),
        name: name.into(),
    }
}

#[test]
fn rbac() {
    let role = |rules| Role {
        metadata: meta("reader", Some("default")),
        rules: Some(rules),
    };
    expect(
        "valid",
        &validate_new(role(vec![rule(&["get"], &[""], &["pods"])])),
        &[],
    );
    expect(
        "verbs",
        &validate_new(role(vec![rule(&[], &[""], &["pods"])])),
        &[(
            "rules[0].verbs",
            Required,
            "rules[0].verbs: Required value: verbs must contain at least one value",
        )],
    );
    expect(
        "groups",
        &validate_new(role(vec![rule(&["get"], &[], &["pods"])])),
        &[(
            "rules[0].apiGroups",
            Required,
            "rules[0].apiGroups: Required value: resource rules must supply at least one api group",
        )],
    );
    let mut urls = rule(&["get"], &[], &[]);
    urls.non_resource_urls = Some(vec!["/healthz".into()]);
    expect(
        "non-resource in a Role",
        &validate_new(role(vec![urls])),
        &[(
            "rules[0].nonResourceURLs",
            Invalid,
            "rules[0].nonResourceURLs: Invalid value: []string{\"/healthz\"}: namespaced rules cannot apply to non-resource URLs",
        )],
    );

    let binding = |r: RoleRef| RoleBinding {
        metadata: meta("read", Some("default")),
        role_ref: r,
        subjects: Some(vec![Subject {
            kind: "User".into(),
            name: "alice".into(),
            ..Subject::default()
        }]),
    };
    expect(
        "binding",
        &validate_new(binding(role_ref("Role", "reader"))),
        &[],
    );
    expect(
        "binding kind",
        &validate_new(binding(role_ref("Group", "reader"))),
        &[(
            "roleRef.kind",
            NotSupported,
            "roleRef.kind: Unsupported value: \"Group\": supported values: \"Role\", \"ClusterRole\"",
        )],
    );
    expect(
        "roleRef immutable",
        &validate_upd(
            binding(role_ref("Role", "writer")),
            binding(role_ref("Role", "reader")),
        ),
        &[(
            "roleRef",
            Invalid,
            "roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"Role\", Name:\"writer\"}: cannot change roleRef",
        )],
    );
    let crb = ClusterRoleBinding {
        metadata: meta("admins", None),
        role_ref: role_ref("ClusterRole", "admin"),
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "robot".into(),
            ..Subject::default()
        }]),
    };
    expect(
        "service account needs namespace",
        &validate_new(crb),
        &[(
            "subjects[0].namespace",
            Required,
            "subjects[0].namespace: Required value",
        )],
    );
}

#[test]
fn priority_classes() {
    let pc = |name: &str, value: i32| PriorityClass {
        metadata: meta(name, None),
        value,
        ..PriorityClass::default()
    };
    expect("valid", &validate_new(pc("high", 1000)), &[]);
    expect(
        "too high",
        &validate_new(pc("high", 2_000_000_000)),
        &[(
            "value",
            Forbidden,
            "~maximum allowed value of a user defined priority is 1000000000",
        )],
    );
    expect(
        "system prefix",
        &validate_new(pc("system-mine", 10)),
        &[(
            "metadata.name",
            Forbidden,
            "~priority class names with 'system-' prefix are reserved",
        )],
    );
    expect(
        "value immutable",
        &validate_upd(pc("high", 5), pc("high", 1000)),
        &[("value", Forbidden, "~may not be changed in an update")],
    );
    let mut policy = pc("high", 1);
    policy.preemption_policy = Some("Sometimes".into());
    expect(
        "preemption policy",
        &validate_new(policy),
        &[(
            "preemptionPolicy",
            NotSupported,
            "preemptionPolicy: Unsupported value: \"Sometimes\": supported values: \"PreemptLowerPriority\", \"Never\"",
        )],
    );
}

#[test]
fn leases_and_slices() {
    let lease = |d: i32| Lease {
        metadata: meta("leader", Some("kube-system")),
        spec: Some(LeaseSpec {
            holder_identity: Some("a".into()),
            lease_duration_seconds: Some(d),
            ..LeaseSpec::default()
        }),
    };
    expect("lease", &validate_new(lease(15)), &[]);
    expect(
        "lease duration",
        &validate_new(lease(0)),
        &[(
            "spec.leaseDurationSeconds",
            Invalid,
            "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
        )],
    );
    let slice = |ty: &str, addr: &str| EndpointSlice {
        metadata: meta("web-abc", Some("default")),
        address_type: ty.into(),
        endpoints: vec![Endpoint {
            addresses: vec![addr.into()],
            ..Endpoint::default()
        }],
        ports: None,
    };
    expect("slice", &validate_new(slice("IPv4", "10.1.2.3")), &[]);
    expect(
        "slice address",
        &validate_new(slice("IPv4", "fd00::1")),
        &[(
            "endpoints[0].addresses[0]",
            Invalid,
            "~endpoints[0].addresses[0]: Invalid value: \"fd00::1\"",
        )],
    );
    expect(
        "slice type",
        &validate_new(slice("IPv5", "10.1.2.3")),
        &[(
            "addressType",
            NotSupported,
            "~addressType: Unsupported value: \"IPv5\"",
        )],
    );
}

#[test]
fn storage_classes() {
    let sc = |provisioner: &str, reclaim: Option<&str>| StorageClass {
        metadata: meta("fast", None),
        provisioner: provisioner.into(),
        reclaim_policy: reclaim.map(str::to_string),
        ..StorageClass::default()
    };
    expect("valid", &validate_new(sc("ebs.csi.aws.com", None)), &[]);
    expect(
        "provisioner",
        &validate_new(sc("", None)),
        &[("provisioner", Required, "provisioner: Required value")],
    );
    expect(
        "reclaim",
        &validate_new(sc("x.io", Some("Recycle"))),
        &[(
            "reclaimPolicy",
            NotSupported,
            "reclaimPolicy: Unsupported value: \"Recycle\": supported values: \"Delete\", \"Retain\"",
        )],
    );
    let mut with_params = sc("x.io", None);
    with_params.parameters = Some(BTreeMap::from([("type".to_string(), "gp3".to_string())]));
    expect(
        "parameters immutable",
        &validate_upd(with_params, sc("x.io", None)),
        &[(
            "parameters",
            Forbidden,
            "parameters: Forbidden: updates to parameters are forbidden.",
        )],
    );
}

fn crd(f: impl FnOnce(&mut CustomResourceDefinition)) -> CustomResourceDefinition {
    let schema = JSONSchemaProps {
        type_: Some("object".into()),
        ..JSONSchemaProps::default()
    };
    let mut c = CustomResourceDefinition {
        metadata: meta("widgets.example.com", None),
        spec: CustomResourceDefinitionSpec {
            group: "example.com".into(),
            names: CustomResourceDefinitionNames {
                kind: "Widget".into(),
                plural: "widgets".into(),
                ..CustomResourceDefinitionNames::default()
            },
            scope: "Namespaced".into(),
            versions: vec![CustomResourceDefinitionVersion {
                name: "v1".into(),
                served: true,
                storage: true,
                schema: Some(CustomResourceValidation {
                    open_apiv3_schema: Some(Box::new(schema)),
                }),
                ..CustomResourceDefinitionVersion::default()
            }],
            ..CustomResourceDefinitionSpec::default()
        },
        status: None,
    };
    f(&mut c);
    c
}

#[test]
fn custom_resource_definitions() {
    let cases: Vec<(&str, CustomResourceDefinition, Vec<Want>)> = vec![
        ("valid", crd(|_| {}), vec![]),
        (
            "name",
            crd(|c| c.metadata.name = Some("gadgets.example.com".into())),
            vec![(
                "metadata.name",
                Invalid,
                "metadata.name: Invalid value: \"gadgets.example.com\": must be spec.names.plural+\".\"+spec.group",
            )],
        ),
        (
            "scope",
            crd(|c| c.spec.scope = "Global".into()),
            vec![(
                "spec.scope",
                NotSupported,
                "spec.scope: Unsupported value: \"Global\": supported values: \"Cluster\", \"Namespaced\"",
            )],
        ),
        (
            "no storage version",
            crd(|c| c.spec.versions[0].storage = false),
            vec![
                (
                    "spec.versions",
                    Invalid,
                    "~must have exactly one version marked as storage version",
                ),
                (
                    "status.storedVersions",
                    Invalid,
                    "status.storedVersions: Invalid value: []string(nil): must have at least one stored version",
                ),
            ],
        ),
        (
            "schema required",
            crd(|c| c.spec.versions[0].schema = None),
            vec![(
                "spec.versions[0].schema.openAPIV3Schema",
                Required,
                "spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required",
            )],
        ),
        (
            "group needs a dot",
            crd(|c| {
                c.spec.group = "example".into();
                c.metadata.name = Some("widgets.example".into());
            }),
            vec![(
                "spec.group",
                Invalid,
                "spec.group: Invalid value: \"example\": should be a domain with at least one dot",
            )],
        ),
        (
            "kind with dash is fine",
            crd(|c| c.spec.names.kind = "Widget-Kind".into()),
            vec![],
        ),
        (
            "kind",
            crd(|c| {
                c.spec.names.kind = "Widget_X".into();
                c.spec.names.singular = Some("widget".into());
                c.spec.names.list_kind = Some("WidgetList".into());
            }),
            vec![(
                "spec.names.kind",
                Invalid,
                "~spec.names.kind: Invalid value: \"Widget_X\"",
            )],
        ),
    ];
    for (name, c, want) in cases {
        expect(name, &validate_new(c), &want);
    }
    // Scope and kind may change until the CRD is established.
    expect(
        "scope before established",
        &validate_upd(crd(|c| c.spec.scope = "Cluster".into()), crd(|_| {})),
        &[],
    );
    let established = crd(|c| {
        c.status = Some(CustomResourceDefinitionStatus {
            conditions: Some(vec![CustomResourceDefinitionCondition {
                type_: "Established".into(),
                status: "True".into(),
                ..CustomResourceDefinitionCondition::default()
            }]),
            stored_versions: Some(vec!["v1".into()]),
            accepted_names: None,
        })
    });
    let mut changed = established.clone();
    changed.spec.scope = "Cluster".into();
    expect(
        "scope immutable",
        &validate_upd(changed, established),
        &[(
            "spec.scope",
            Invalid,
            "spec.scope: Invalid value: \"Cluster\": field is immutable",
        )],
    );
}

#[test]
fn legacy_core_kinds() {
    use clipper_proto::api::core::v1::{
        HostPathVolumeSource, PersistentVolume, PersistentVolumeSpec, PodTemplate,
        ReplicationController, ReplicationControllerSpec,
    };
    let rc = |restart: Option<&str>| ReplicationController {
        metadata: meta("web", Some("default")),
        spec: Some(ReplicationControllerSpec {
            template: Some(super::template("web", restart)),
            ..Default::default()
        }),
        status: None,
    };
    // The selector is defaulted from the template's labels.
    expect("rc", &validate_new(rc(None)), &[]);
    expect(
        "rc restart policy",
        &validate_new(rc(Some("Never"))),
        &[(
            "spec.template.spec.restartPolicy",
            NotSupported,
            "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
        )],
    );
    let pt = PodTemplate {
        metadata: meta("t", Some("default")),
        template: Some(super::template("t", None)),
    };
    expect("pod template", &validate_new(pt), &[]);

    let pv = |capacity: Option<&str>| PersistentVolume {
        metadata: meta("pv-1", None),
        spec: Some(PersistentVolumeSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            capacity: capacity
                .map(|c| BTreeMap::from([("storage".to_string(), Quantity::parse(c).expect("q"))])),
            host_path: Some(HostPathVolumeSource {
                path: "/mnt/data".into(),
                type_: None,
            }),
            ..PersistentVolumeSpec::default()
        }),
        status: None,
    };
    expect("pv", &validate_new(pv(Some("10Gi"))), &[]);
    expect(
        "pv capacity",
        &validate_new(pv(None)),
        &[
            ("spec.capacity", Required, "spec.capacity: Required value"),
            (
                "spec.capacity",
                NotSupported,
                "spec.capacity: Unsupported value: core.ResourceList(nil): supported values: \"storage\"",
            ),
        ],
    );
}
