//! The default RBAC policy Kubernetes 1.33 bootstraps
//! (plugin/pkg/auth/authorizer/rbac/bootstrappolicy): ClusterRoles, ClusterRoleBindings,
//! and the kube-system / kube-public Roles and RoleBindings, as typed objects the server
//! writes on first start (labelled `kubernetes.io/bootstrapping: rbac-defaults`,
//! annotated `rbac.authorization.kubernetes.io/autoupdate: "true"`).
//!
//! admin, edit and view are aggregated roles: their rules are empty here and filled by
//! [`crate::auth::rbac::aggregation`] from the `system:aggregate-to-*` roles, as the
//! aggregation controller does. [`default_cluster_roles_aggregated`] returns them filled.
//! Rules are written as Kubernetes renders them (verbs and resources sorted).

use std::collections::BTreeMap;

use clipper_proto::api::meta::v1::LabelSelector;
use clipper_proto::api::rbac::v1::{
    AggregationRule, ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding,
};

use super::names;
use super::rbac::aggregation;
use super::rbac::build::{
    cluster_role_binding, group, meta, named_rule, role_binding, role_ref, rule, service_account,
    url_rule, user,
};

pub const BOOTSTRAPPING_LABEL: &str = "kubernetes.io/bootstrapping";
pub const BOOTSTRAPPING_VALUE: &str = "rbac-defaults";
pub const AUTOUPDATE_ANNOTATION: &str = "rbac.authorization.kubernetes.io/autoupdate";
pub const AGGREGATE_TO_ADMIN: &str = "rbac.authorization.k8s.io/aggregate-to-admin";
pub const AGGREGATE_TO_EDIT: &str = "rbac.authorization.k8s.io/aggregate-to-edit";
pub const AGGREGATE_TO_VIEW: &str = "rbac.authorization.k8s.io/aggregate-to-view";
/// The group Clipper's node-join bootstrap tokens carry (kubeadm's is
/// `system:bootstrappers:kubeadm:default-node-token`).
/// kubeadm's Role letting anyone read `kube-public/cluster-info`.
pub const CLUSTER_INFO_READER: &str = "kubeadm:bootstrap-signer-clusterinfo";
pub const DEFAULT_NODE_TOKEN_GROUP: &str = "system:bootstrappers:clipper:default-node-token";

const READ: &[&str] = &["get", "list", "watch"];
/// Write without read, sorted as rendered.
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const READ_WRITE: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const EVENTS_WRITE: &[&str] = &["create", "patch", "update"];

const CORE: &str = "";
const APPS: &str = "apps";
const AUTHN: &str = "authentication.k8s.io";
const AUTHZ: &str = "authorization.k8s.io";
const AUTOSCALING: &str = "autoscaling";
const BATCH: &str = "batch";
const CERTIFICATES: &str = "certificates.k8s.io";
const COORDINATION: &str = "coordination.k8s.io";
const DISCOVERY: &str = "discovery.k8s.io";
const EVENTS: &str = "events.k8s.io";
const EXTENSIONS: &str = "extensions";
const NETWORKING: &str = "networking.k8s.io";
const NODE: &str = "node.k8s.io";
const POLICY: &str = "policy";
const RBAC: &str = "rbac.authorization.k8s.io";
const STORAGE: &str = "storage.k8s.io";

fn default_metadata(
    namespace: &str,
    name: &str,
    extra_labels: &[(&str, &str)],
) -> clipper_proto::api::meta::v1::ObjectMeta {
    let mut m = meta(namespace, name);
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    labels.insert(BOOTSTRAPPING_LABEL.into(), BOOTSTRAPPING_VALUE.into());
    for (k, v) in extra_labels {
        labels.insert(k.to_string(), v.to_string());
    }
    m.labels = Some(labels);
    m.annotations = Some(BTreeMap::from([(
        AUTOUPDATE_ANNOTATION.to_string(),
        "true".to_string(),
    )]));
    m
}

fn cluster_role(name: &str, labels: &[(&str, &str)], rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole {
        metadata: default_metadata("", name, labels),
        aggregation_rule: None,
        rules: Some(rules),
    }
}

fn aggregated_role(name: &str, labels: &[(&str, &str)], aggregate_label: &str) -> ClusterRole {
    ClusterRole {
        metadata: default_metadata("", name, labels),
        aggregation_rule: Some(AggregationRule {
            cluster_role_selectors: Some(vec![LabelSelector {
                match_expressions: None,
                match_labels: Some(BTreeMap::from([(
                    aggregate_label.to_string(),
                    "true".to_string(),
                )])),
            }]),
        }),
        rules: None,
    }
}

fn events_rule() -> PolicyRule {
    rule(EVENTS_WRITE, &[CORE, EVENTS], &["events"])
}

/// `NodeRules()`: what every node may do, the rules of `system:node` and the static part
/// of the node authorizer.
pub fn node_rules() -> Vec<PolicyRule> {
    vec![
        rule(&["create"], &[AUTHN], &["tokenreviews"]),
        rule(
            &["create"],
            &[AUTHZ],
            &["localsubjectaccessreviews", "subjectaccessreviews"],
        ),
        rule(READ, &[CORE], &["services"]),
        rule(&["create", "get", "list", "watch"], &[CORE], &["nodes"]),
        rule(&["patch", "update"], &[CORE], &["nodes/status"]),
        rule(&["patch", "update"], &[CORE], &["nodes"]),
        rule(EVENTS_WRITE, &[CORE], &["events"]),
        rule(READ, &[CORE], &["pods"]),
        rule(&["create", "delete"], &[CORE], &["pods"]),
        rule(&["patch", "update"], &[CORE], &["pods/status"]),
        rule(&["create"], &[CORE], &["pods/eviction"]),
        rule(READ, &[CORE], &["configmaps", "secrets"]),
        rule(
            &["get"],
            &[CORE],
            &["persistentvolumeclaims", "persistentvolumes"],
        ),
        rule(&["get"], &[CORE], &["endpoints"]),
        rule(
            &["create", "get", "list", "watch"],
            &[CERTIFICATES],
            &["certificatesigningrequests"],
        ),
        rule(
            &["create", "delete", "get", "patch", "update"],
            &[COORDINATION],
            &["leases"],
        ),
        rule(&["get"], &[STORAGE], &["volumeattachments"]),
        rule(&["create"], &[CORE], &["serviceaccounts/token"]),
        rule(
            &["get", "patch", "update"],
            &[CORE],
            &["persistentvolumeclaims/status"],
        ),
        rule(READ, &[STORAGE], &["csidrivers"]),
        rule(
            &["create", "delete", "get", "patch", "update"],
            &[STORAGE],
            &["csinodes"],
        ),
        rule(READ, &[NODE], &["runtimeclasses"]),
    ]
}

fn aggregate_to_edit_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            READ,
            &[CORE],
            &[
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
                "secrets",
                "services/proxy",
            ],
        ),
        rule(&["impersonate"], &[CORE], &["serviceaccounts"]),
        rule(
            WRITE,
            &[CORE],
            &[
                "pods",
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
            ],
        ),
        rule(&["create"], &[CORE], &["pods/eviction"]),
        rule(
            WRITE,
            &[CORE],
            &[
                "configmaps",
                "events",
                "persistentvolumeclaims",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "secrets",
                "serviceaccounts",
                "services",
                "services/proxy",
            ],
        ),
        rule(&["create"], &[CORE], &["serviceaccounts/token"]),
        rule(
            WRITE,
            &[APPS],
            &[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ],
        ),
        rule(WRITE, &[AUTOSCALING], &["horizontalpodautoscalers"]),
        rule(WRITE, &[BATCH], &["cronjobs", "jobs"]),
        rule(
            WRITE,
            &[EXTENSIONS],
            &[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "ingresses",
                "networkpolicies",
                "replicasets",
                "replicasets/scale",
                "replicationcontrollers/scale",
            ],
        ),
        rule(WRITE, &[POLICY], &["poddisruptionbudgets"]),
        rule(WRITE, &[NETWORKING], &["ingresses", "networkpolicies"]),
        rule(READ_WRITE, &[COORDINATION], &["leases"]),
    ]
}

fn aggregate_to_view_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            READ,
            &[CORE],
            &[
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/status",
            ],
        ),
        rule(
            READ,
            &[CORE],
            &[
                "bindings",
                "events",
                "limitranges",
                "namespaces/status",
                "pods/log",
                "pods/status",
                "replicationcontrollers/status",
                "resourcequotas",
                "resourcequotas/status",
            ],
        ),
        rule(READ, &[CORE], &["namespaces"]),
        rule(READ, &[DISCOVERY], &["endpointslices"]),
        rule(
            READ,
            &[APPS],
            &[
                "controllerrevisions",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
            ],
        ),
        rule(
            READ,
            &[AUTOSCALING],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
        ),
        rule(
            READ,
            &[BATCH],
            &["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
        ),
        rule(
            READ,
            &[EXTENSIONS],
            &[
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "ingresses",
                "ingresses/status",
                "networkpolicies",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "replicationcontrollers/scale",
            ],
        ),
        rule(
            READ,
            &[POLICY],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
        ),
        rule(
            READ,
            &[NETWORKING],
            &["ingresses", "ingresses/status", "networkpolicies"],
        ),
    ]
}

fn kube_scheduler_rules() -> Vec<PolicyRule> {
    vec![
        events_rule(),
        rule(&["create"], &[COORDINATION], &["leases"]),
        named_rule(
            &["get", "update"],
            &[COORDINATION],
            &["leases"],
            &["kube-scheduler"],
        ),
        rule(READ, &[CORE], &["nodes"]),
        rule(&["delete", "get", "list", "watch"], &[CORE], &["pods"]),
        rule(&["create"], &[CORE], &["bindings", "pods/binding"]),
        rule(&["patch", "update"], &[CORE], &["pods/status"]),
        rule(READ, &[CORE], &["replicationcontrollers", "services"]),
        rule(READ, &[APPS, EXTENSIONS], &["replicasets"]),
        rule(READ, &[APPS], &["statefulsets"]),
        rule(READ, &[POLICY], &["poddisruptionbudgets"]),
        rule(
            READ,
            &[CORE],
            &["persistentvolumeclaims", "persistentvolumes"],
        ),
        rule(&["create"], &[AUTHN], &["tokenreviews"]),
        rule(&["create"], &[AUTHZ], &["subjectaccessreviews"]),
        rule(READ, &[STORAGE], &["csinodes"]),
        rule(READ, &[CORE], &["namespaces"]),
        rule(READ, &[STORAGE], &["csidrivers"]),
        rule(READ, &[STORAGE], &["csistoragecapacities"]),
    ]
}

fn kube_controller_manager_rules() -> Vec<PolicyRule> {
    vec![
        events_rule(),
        rule(&["create"], &[COORDINATION], &["leases"]),
        named_rule(
            &["get", "update"],
            &[COORDINATION],
            &["leases"],
            &["kube-controller-manager"],
        ),
        rule(&["create"], &[CORE], &["secrets", "serviceaccounts"]),
        rule(&["delete"], &[CORE], &["secrets"]),
        rule(
            &["get"],
            &[CORE],
            &["configmaps", "namespaces", "secrets", "serviceaccounts"],
        ),
        rule(&["update"], &[CORE], &["secrets", "serviceaccounts"]),
        rule(&["create"], &[AUTHN], &["tokenreviews"]),
        rule(&["create"], &[AUTHZ], &["subjectaccessreviews"]),
        rule(&["list", "watch"], &["*"], &["*"]),
        rule(&["create"], &[CORE], &["serviceaccounts/token"]),
    ]
}

/// The default ClusterRoles, admin/edit/view with empty (not yet aggregated) rules.
pub fn default_cluster_roles() -> Vec<ClusterRole> {
    let approver = |signer: &str, name: &str| {
        cluster_role(
            &format!("system:certificates.k8s.io:{name}"),
            &[],
            vec![named_rule(
                &["approve"],
                &[CERTIFICATES],
                &["signers"],
                &[signer],
            )],
        )
    };
    vec![
        aggregated_role("admin", &[], AGGREGATE_TO_ADMIN),
        cluster_role(
            "cluster-admin",
            &[],
            vec![rule(&["*"], &["*"], &["*"]), url_rule(&["*"], &["*"])],
        ),
        aggregated_role("edit", &[(AGGREGATE_TO_ADMIN, "true")], AGGREGATE_TO_EDIT),
        cluster_role(
            "system:aggregate-to-admin",
            &[(AGGREGATE_TO_ADMIN, "true")],
            vec![
                rule(&["create"], &[AUTHZ], &["localsubjectaccessreviews"]),
                rule(READ_WRITE, &[RBAC], &["rolebindings", "roles"]),
            ],
        ),
        cluster_role(
            "system:aggregate-to-edit",
            &[(AGGREGATE_TO_EDIT, "true")],
            aggregate_to_edit_rules(),
        ),
        cluster_role(
            "system:aggregate-to-view",
            &[(AGGREGATE_TO_VIEW, "true")],
            aggregate_to_view_rules(),
        ),
        cluster_role(
            "system:auth-delegator",
            &[],
            vec![
                rule(&["create"], &[AUTHN], &["tokenreviews"]),
                rule(&["create"], &[AUTHZ], &["subjectaccessreviews"]),
            ],
        ),
        cluster_role(
            "system:basic-user",
            &[],
            vec![
                rule(
                    &["create"],
                    &[AUTHZ],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
                rule(&["create"], &[AUTHN], &["selfsubjectreviews"]),
            ],
        ),
        cluster_role(
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            &[],
            vec![rule(
                &["create"],
                &[CERTIFICATES],
                &["certificatesigningrequests/nodeclient"],
            )],
        ),
        cluster_role(
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            &[],
            vec![rule(
                &["create"],
                &[CERTIFICATES],
                &["certificatesigningrequests/selfnodeclient"],
            )],
        ),
        approver(
            "kubernetes.io/kube-apiserver-client",
            "kube-apiserver-client-approver",
        ),
        approver(
            "kubernetes.io/kube-apiserver-client-kubelet",
            "kube-apiserver-client-kubelet-approver",
        ),
        approver("kubernetes.io/kubelet-serving", "kubelet-serving-approver"),
        approver("kubernetes.io/legacy-unknown", "legacy-unknown-approver"),
        cluster_role(
            "system:discovery",
            &[],
            vec![url_rule(
                &["get"],
                &[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
            )],
        ),
        cluster_role(
            "system:kube-aggregator",
            &[],
            vec![rule(READ, &[CORE], &["endpoints", "services"])],
        ),
        cluster_role(
            "system:kube-controller-manager",
            &[],
            kube_controller_manager_rules(),
        ),
        cluster_role(
            "system:kube-dns",
            &[],
            vec![rule(
                &["list", "watch"],
                &[CORE],
                &["endpoints", "services"],
            )],
        ),
        cluster_role("system:kube-scheduler", &[], kube_scheduler_rules()),
        cluster_role(
            "system:kubelet-api-admin",
            &[],
            vec![
                rule(READ, &[CORE], &["nodes"]),
                rule(&["proxy"], &[CORE], &["nodes"]),
                rule(
                    &["*"],
                    &[CORE],
                    &["nodes/log", "nodes/metrics", "nodes/proxy", "nodes/stats"],
                ),
            ],
        ),
        cluster_role(
            "system:monitoring",
            &[],
            vec![url_rule(
                &["get"],
                &[
                    "/healthz",
                    "/healthz/*",
                    "/livez",
                    "/livez/*",
                    "/metrics",
                    "/metrics/slis",
                    "/readyz",
                    "/readyz/*",
                ],
            )],
        ),
        cluster_role("system:node", &[], node_rules()),
        cluster_role(
            "system:node-bootstrapper",
            &[],
            vec![rule(
                &["create", "get", "list", "watch"],
                &[CERTIFICATES],
                &["certificatesigningrequests"],
            )],
        ),
        cluster_role(
            "system:node-problem-detector",
            &[],
            vec![
                rule(&["get"], &[CORE], &["nodes"]),
                rule(&["patch"], &[CORE], &["nodes/status"]),
                events_rule(),
            ],
        ),
        cluster_role(
            "system:node-proxier",
            &[],
            vec![
                rule(&["list", "watch"], &[CORE], &["endpoints", "services"]),
                rule(READ, &[CORE], &["nodes"]),
                events_rule(),
                rule(&["list", "watch"], &[DISCOVERY], &["endpointslices"]),
            ],
        ),
        cluster_role(
            "system:persistent-volume-provisioner",
            &[],
            vec![
                rule(
                    &["create", "delete", "get", "list", "watch"],
                    &[CORE],
                    &["persistentvolumes"],
                ),
                rule(
                    &["get", "list", "update", "watch"],
                    &[CORE],
                    &["persistentvolumeclaims"],
                ),
                rule(READ, &[STORAGE], &["storageclasses"]),
                rule(&["watch"], &[CORE], &["events"]),
                events_rule(),
            ],
        ),
        cluster_role(
            "system:public-info-viewer",
            &[],
            vec![url_rule(
                &["get"],
                &["/healthz", "/livez", "/readyz", "/version", "/version/"],
            )],
        ),
        cluster_role(
            "system:service-account-issuer-discovery",
            &[],
            vec![url_rule(
                &["get"],
                &["/.well-known/openid-configuration", "/openid/v1/jwks"],
            )],
        ),
        cluster_role(
            "system:volume-scheduler",
            &[],
            vec![
                rule(
                    &["get", "list", "patch", "update", "watch"],
                    &[CORE],
                    &["persistentvolumes"],
                ),
                rule(READ, &[STORAGE], &["storageclasses"]),
                rule(
                    &["get", "list", "patch", "update", "watch"],
                    &[CORE],
                    &["persistentvolumeclaims"],
                ),
            ],
        ),
        aggregated_role("view", &[(AGGREGATE_TO_EDIT, "true")], AGGREGATE_TO_VIEW),
    ]
}

/// The default ClusterRoles with admin, edit and view already aggregated, as a running
/// cluster shows them.
pub fn default_cluster_roles_aggregated() -> Vec<ClusterRole> {
    let mut roles = default_cluster_roles();
    aggregation::aggregate_all(&mut roles);
    roles
}

fn with_default_metadata(mut b: ClusterRoleBinding) -> ClusterRoleBinding {
    let name = b.metadata.name.clone().unwrap_or_default();
    b.metadata = default_metadata("", &name, &[]);
    b
}

/// The default ClusterRoleBindings.
pub fn default_cluster_role_bindings() -> Vec<ClusterRoleBinding> {
    [
        cluster_role_binding(
            "cluster-admin",
            "cluster-admin",
            vec![group(names::SYSTEM_MASTERS)],
        ),
        cluster_role_binding(
            "system:monitoring",
            "system:monitoring",
            vec![group(names::MONITORING_GROUP)],
        ),
        cluster_role_binding(
            "system:discovery",
            "system:discovery",
            vec![group(names::ALL_AUTHENTICATED)],
        ),
        cluster_role_binding(
            "system:basic-user",
            "system:basic-user",
            vec![group(names::ALL_AUTHENTICATED)],
        ),
        cluster_role_binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            vec![
                group(names::ALL_AUTHENTICATED),
                group(names::ALL_UNAUTHENTICATED),
            ],
        ),
        cluster_role_binding(
            "system:node-proxier",
            "system:node-proxier",
            vec![user(names::KUBE_PROXY)],
        ),
        // Clipper's node agent runs the service proxy under the node's own identity
        // (`clipper agent`), so nodes also get kube-proxy's read access.
        cluster_role_binding(
            "clipper:node-proxier",
            "system:node-proxier",
            vec![group(names::NODES_GROUP)],
        ),
        cluster_role_binding(
            "system:kube-controller-manager",
            "system:kube-controller-manager",
            vec![user(names::KUBE_CONTROLLER_MANAGER)],
        ),
        cluster_role_binding(
            "system:kube-dns",
            "system:kube-dns",
            vec![service_account("kube-system", "kube-dns")],
        ),
        cluster_role_binding(
            "system:kube-scheduler",
            "system:kube-scheduler",
            vec![user(names::KUBE_SCHEDULER)],
        ),
        cluster_role_binding(
            "system:volume-scheduler",
            "system:volume-scheduler",
            vec![user(names::KUBE_SCHEDULER)],
        ),
        // Nodes are authorized by the node authorizer; the binding is kept without subjects.
        cluster_role_binding("system:node", "system:node", vec![]),
        cluster_role_binding(
            "system:service-account-issuer-discovery",
            "system:service-account-issuer-discovery",
            vec![group(names::ALL_SERVICE_ACCOUNTS)],
        ),
    ]
    .into_iter()
    .map(with_default_metadata)
    .collect()
}

/// The bindings Clipper's node join needs (kubeadm writes the same ones under
/// `kubeadm:` names): bootstrap tokens in [`DEFAULT_NODE_TOKEN_GROUP`] may create node
/// CSRs and have them auto-approved; nodes may renew their own client certificates.
pub fn node_bootstrap_cluster_role_bindings() -> Vec<ClusterRoleBinding> {
    [
        cluster_role_binding(
            "clipper:kubelet-bootstrap",
            "system:node-bootstrapper",
            vec![group(DEFAULT_NODE_TOKEN_GROUP)],
        ),
        cluster_role_binding(
            "clipper:node-autoapprove-bootstrap",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            vec![group(DEFAULT_NODE_TOKEN_GROUP)],
        ),
        cluster_role_binding(
            "clipper:node-autoapprove-certificate-rotation",
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            vec![group(names::NODES_GROUP)],
        ),
    ]
    .into_iter()
    .map(with_default_metadata)
    .collect()
}

fn leader_locking_rules() -> Vec<PolicyRule> {
    let verbs = &["create", "get", "list", "update", "watch"];
    vec![
        rule(verbs, &[COORDINATION], &["leases"]),
        rule(verbs, &[COORDINATION], &["leasecandidates"]),
    ]
}

fn namespace_role(namespace: &str, name: &str, rules: Vec<PolicyRule>) -> Role {
    Role {
        metadata: default_metadata(namespace, name, &[]),
        rules: Some(rules),
    }
}

/// The default Roles of kube-system and kube-public.
pub fn default_namespace_roles() -> Vec<Role> {
    vec![
        namespace_role(
            "kube-public",
            CLUSTER_INFO_READER,
            vec![named_rule(
                &["get"],
                &[CORE],
                &["configmaps"],
                &["cluster-info"],
            )],
        ),
        namespace_role(
            "kube-public",
            "system:controller:bootstrap-signer",
            vec![
                rule(READ, &[CORE], &["configmaps"]),
                named_rule(&["update"], &[CORE], &["configmaps"], &["cluster-info"]),
                events_rule(),
            ],
        ),
        namespace_role(
            "kube-system",
            "extension-apiserver-authentication-reader",
            vec![named_rule(
                READ,
                &[CORE],
                &["configmaps"],
                &["extension-apiserver-authentication"],
            )],
        ),
        namespace_role(
            "kube-system",
            "system::leader-locking-kube-controller-manager",
            leader_locking_rules(),
        ),
        namespace_role(
            "kube-system",
            "system::leader-locking-kube-scheduler",
            leader_locking_rules(),
        ),
        namespace_role(
            "kube-system",
            "system:controller:bootstrap-signer",
            vec![rule(READ, &[CORE], &["secrets"])],
        ),
        namespace_role(
            "kube-system",
            "system:controller:cloud-provider",
            vec![rule(
                &["create", "get", "list", "watch"],
                &[CORE],
                &["configmaps"],
            )],
        ),
        namespace_role(
            "kube-system",
            "system:controller:token-cleaner",
            vec![
                rule(&["delete", "get", "list", "watch"], &[CORE], &["secrets"]),
                events_rule(),
            ],
        ),
    ]
}

/// The default RoleBindings of kube-system and kube-public.
pub fn default_namespace_role_bindings() -> Vec<RoleBinding> {
    let binding = |namespace: &str, name: &str, role: &str, subjects| {
        let mut b = role_binding(namespace, name, role_ref("Role", role), subjects);
        b.metadata = default_metadata(namespace, name, &[]);
        b
    };
    vec![
        // Bootstrap discovery: a joining node reads cluster-info before it has
        // credentials (kubeadm's binding).
        binding(
            "kube-public",
            CLUSTER_INFO_READER,
            CLUSTER_INFO_READER,
            vec![user(names::ANONYMOUS)],
        ),
        binding(
            "kube-public",
            "system:controller:bootstrap-signer",
            "system:controller:bootstrap-signer",
            vec![service_account("kube-system", "bootstrap-signer")],
        ),
        binding(
            "kube-system",
            "system::extension-apiserver-authentication-reader",
            "extension-apiserver-authentication-reader",
            vec![
                user(names::KUBE_CONTROLLER_MANAGER),
                user(names::KUBE_SCHEDULER),
            ],
        ),
        binding(
            "kube-system",
            "system::leader-locking-kube-controller-manager",
            "system::leader-locking-kube-controller-manager",
            vec![
                user(names::KUBE_CONTROLLER_MANAGER),
                service_account("kube-system", "kube-controller-manager"),
                service_account("kube-system", "leader-election-controller"),
            ],
        ),
        binding(
            "kube-system",
            "system::leader-locking-kube-scheduler",
            "system::leader-locking-kube-scheduler",
            vec![
                user(names::KUBE_SCHEDULER),
                service_account("kube-system", "kube-scheduler"),
            ],
        ),
        binding(
            "kube-system",
            "system:controller:bootstrap-signer",
            "system:controller:bootstrap-signer",
            vec![service_account("kube-system", "bootstrap-signer")],
        ),
        binding(
            "kube-system",
            "system:controller:cloud-provider",
            "system:controller:cloud-provider",
            vec![service_account("kube-system", "cloud-provider")],
        ),
        binding(
            "kube-system",
            "system:controller:token-cleaner",
            "system:controller:token-cleaner",
            vec![service_account("kube-system", "token-cleaner")],
        ),
    ]
}

/// Every default object as one RBAC snapshot (roles aggregated), for tests and for
/// authorizing before the watch cache is warm.
pub fn default_snapshot() -> super::rbac::RbacSnapshot {
    super::rbac::RbacSnapshot::from_objects(
        &default_namespace_roles(),
        &default_cluster_roles_aggregated(),
        &default_namespace_role_bindings(),
        &default_cluster_role_bindings(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::rbac::escalation::covers;
    use crate::auth::{Attributes, UserInfo};

    fn role<'a>(roles: &'a [ClusterRole], name: &str) -> &'a ClusterRole {
        roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
            .expect("role exists")
    }

    fn rules_of<'a>(roles: &'a [ClusterRole], name: &str) -> &'a [PolicyRule] {
        role(roles, name).rules.as_deref().unwrap_or(&[])
    }

    #[test]
    fn every_default_object_is_labelled_and_annotated() {
        let check = |m: &clipper_proto::api::meta::v1::ObjectMeta| {
            assert_eq!(
                m.labels
                    .as_ref()
                    .and_then(|l| l.get(BOOTSTRAPPING_LABEL))
                    .map(String::as_str),
                Some("rbac-defaults")
            );
            assert_eq!(
                m.annotations
                    .as_ref()
                    .and_then(|a| a.get(AUTOUPDATE_ANNOTATION))
                    .map(String::as_str),
                Some("true")
            );
        };
        default_cluster_roles()
            .iter()
            .for_each(|r| check(&r.metadata));
        default_cluster_role_bindings()
            .iter()
            .for_each(|b| check(&b.metadata));
        default_namespace_roles()
            .iter()
            .for_each(|r| check(&r.metadata));
        default_namespace_role_bindings()
            .iter()
            .for_each(|b| check(&b.metadata));
    }

    #[test]
    fn names_are_unique_and_every_binding_resolves() {
        let roles = default_cluster_roles();
        let mut names: Vec<_> = roles
            .iter()
            .map(|r| r.metadata.name.clone().unwrap_or_default())
            .collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
        for b in default_cluster_role_bindings()
            .iter()
            .chain(&node_bootstrap_cluster_role_bindings())
        {
            assert!(
                names.contains(&b.role_ref.name),
                "{} refers to a missing role",
                b.role_ref.name
            );
        }
        let ns_roles = default_namespace_roles();
        for b in default_namespace_role_bindings() {
            assert!(
                ns_roles
                    .iter()
                    .any(|r| r.metadata.name == Some(b.role_ref.name.clone())
                        && r.metadata.namespace == b.metadata.namespace)
            );
        }
    }

    #[test]
    fn aggregation_fills_admin_edit_view_as_nested_unions() {
        let roles = default_cluster_roles_aggregated();
        let view = rules_of(&roles, "view");
        let edit = rules_of(&roles, "edit");
        let admin = rules_of(&roles, "admin");
        assert_eq!(view.len(), aggregate_to_view_rules().len());
        assert!(covers(edit, view).0, "edit includes view");
        assert!(covers(admin, edit).0, "admin includes edit");
        assert!(!covers(view, edit).0);
        assert!(!covers(edit, admin).0);
        // Unaggregated roles untouched.
        assert_eq!(rules_of(&roles, "system:node"), node_rules().as_slice());
    }

    fn allowed(user: &UserInfo, verb: &str, group: &str, resource: &str, ns: &str) -> bool {
        default_snapshot()
            .authorize(&Attributes::resource(user, verb, group, resource, ns, ""))
            .is_allowed()
    }

    fn bind(ns: &str, role: &str, who: &str) -> RoleBinding {
        role_binding(
            ns,
            &format!("{who}-{role}"),
            role_ref("ClusterRole", role),
            vec![user(who)],
        )
    }

    #[test]
    fn default_roles_grant_what_kubernetes_grants() {
        let mut s = default_snapshot();
        s.upsert_role_binding(&bind("team", "view", "viewer"));
        s.upsert_role_binding(&bind("team", "edit", "editor"));
        s.upsert_role_binding(&bind("team", "admin", "owner"));
        let viewer = UserInfo::new("viewer", &["system:authenticated"]);
        let editor = UserInfo::new("editor", &["system:authenticated"]);
        let owner = UserInfo::new("owner", &["system:authenticated"]);
        let can = |u: &UserInfo, verb: &str, group: &str, resource: &str, ns: &str| {
            s.authorize(&Attributes::resource(u, verb, group, resource, ns, ""))
                .is_allowed()
        };
        assert!(can(&viewer, "list", "", "pods", "team"));
        assert!(can(&viewer, "watch", "apps", "deployments", "team"));
        assert!(
            !can(&viewer, "get", "", "secrets", "team"),
            "view cannot read secrets"
        );
        assert!(!can(&viewer, "create", "", "pods", "team"));
        assert!(
            !can(&viewer, "list", "", "pods", "other"),
            "bindings are per namespace"
        );
        assert!(can(&editor, "create", "apps", "deployments", "team"));
        assert!(can(&editor, "get", "", "secrets", "team"));
        let scale = Attributes::resource(&editor, "update", "apps", "deployments", "team", "web")
            .with_subresource("scale");
        assert!(s.authorize(&scale).is_allowed());
        assert!(
            !can(&editor, "create", RBAC, "rolebindings", "team"),
            "edit cannot grant"
        );
        assert!(can(&owner, "create", RBAC, "rolebindings", "team"));
        assert!(can(
            &owner,
            "create",
            AUTHZ,
            "localsubjectaccessreviews",
            "team"
        ));
        assert!(!can(&owner, "create", RBAC, "rolebindings", "other"));
        assert!(!can(&owner, "create", RBAC, "clusterrolebindings", ""));
        let sub = Attributes::resource(&editor, "create", "", "pods", "team", "web")
            .with_subresource("exec");
        assert!(s.authorize(&sub).is_allowed());
        let status = Attributes::resource(&editor, "update", "", "pods", "team", "web")
            .with_subresource("status");
        assert!(
            !s.authorize(&status).is_allowed(),
            "edit may not write status"
        );
    }

    #[test]
    fn system_masters_and_public_endpoints() {
        let admin = UserInfo::new("admin", &["system:masters", "system:authenticated"]);
        assert!(allowed(&admin, "delete", "", "nodes", ""));
        assert!(allowed(&admin, "escalate", RBAC, "clusterroles", ""));
        let s = default_snapshot();
        assert!(
            s.authorize(&Attributes::non_resource(
                &admin,
                "post",
                "/anything/at/all"
            ))
            .is_allowed()
        );
        let anon = UserInfo::anonymous();
        assert!(
            s.authorize(&Attributes::non_resource(&anon, "get", "/healthz"))
                .is_allowed()
        );
        assert!(
            s.authorize(&Attributes::non_resource(&anon, "get", "/version"))
                .is_allowed()
        );
        assert!(
            !s.authorize(&Attributes::non_resource(&anon, "get", "/api"))
                .is_allowed()
        );
        assert!(!allowed(&anon, "list", "", "pods", "default"));
        let bob = UserInfo::new("bob", &["system:authenticated"]);
        assert!(
            s.authorize(&Attributes::non_resource(&bob, "get", "/apis/apps/v1"))
                .is_allowed()
        );
        assert!(allowed(
            &bob,
            "create",
            AUTHZ,
            "selfsubjectaccessreviews",
            ""
        ));
        assert!(!allowed(&bob, "list", "", "pods", "default"));
        let scheduler = UserInfo::new(names::KUBE_SCHEDULER, &["system:authenticated"]);
        assert!(allowed(&scheduler, "create", "", "bindings", "default"));
        let kcm = UserInfo::new(names::KUBE_CONTROLLER_MANAGER, &["system:authenticated"]);
        assert!(allowed(&kcm, "watch", "apps", "deployments", ""));
        assert!(!allowed(&kcm, "delete", "apps", "deployments", "default"));
        let monitor = UserInfo::new("prom", &["system:monitoring", "system:authenticated"]);
        assert!(
            s.authorize(&Attributes::non_resource(&monitor, "get", "/metrics"))
                .is_allowed()
        );
    }

    #[test]
    fn bootstrap_token_group_may_create_csrs() {
        let mut s = default_snapshot();
        for b in node_bootstrap_cluster_role_bindings() {
            s.upsert_cluster_role_binding(&b);
        }
        let token = UserInfo::new(
            "system:bootstrap:abcdef",
            &["system:bootstrappers", DEFAULT_NODE_TOKEN_GROUP],
        );
        let csr = Attributes::resource(
            &token,
            "create",
            CERTIFICATES,
            "certificatesigningrequests",
            "",
            "",
        );
        assert!(s.authorize(&csr).is_allowed());
        let node_client = Attributes::resource(
            &token,
            "create",
            CERTIFICATES,
            "certificatesigningrequests",
            "",
            "x",
        )
        .with_subresource("nodeclient");
        assert!(s.authorize(&node_client).is_allowed());
        assert!(
            !s.authorize(&Attributes::resource(
                &token,
                "list",
                "",
                "secrets",
                "kube-system",
                ""
            ))
            .is_allowed()
        );
    }
}
