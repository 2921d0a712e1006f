//! The node authorizer (plugin/pkg/auth/authorizer/node): a node identity
//! (`system:node:<name>` in `system:nodes`) may read only the secrets, configmaps,
//! claims and volumes of pods bound to it, write only its own Node, Lease and CSINode,
//! and otherwise has the static node rules ([`crate::auth::policy::node_rules`]).
//!
//! [`NodeGraph`] is what the server keeps from its watch cache: pods with their node and
//! the objects they reference, PV claim references and VolumeAttachments.
//!
//! Clipper has no NodeRestriction admission plugin, so where Kubernetes leaves a check to
//! it and the authorizer knows the object's name, this authorizer checks itself: a node
//! may update/patch only its own Node (and status), update the status of, delete or evict
//! only pods bound to it. Creates carry no name at authorization time, so creating a Node,
//! a mirror Pod, a Lease or a CSINode stays allowed here, as in Kubernetes; the registry
//! must check that the object created names the requesting node.

use std::collections::{HashMap, HashSet};

use clipper_proto::api::core::v1::{PersistentVolume, Pod, PodSpec, Volume};
use clipper_proto::api::rbac::v1::PolicyRule;
use clipper_proto::api::storage::v1::VolumeAttachment;

use super::rbac::rules_allow;
use super::{Attributes, Authorizer, Decision, FieldOp, ReadState, UserInfo, names, policy};

/// The namespace of node heartbeat leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// `nodeidentifier`: the node name of a node identity; `Some("")` for a node identity
/// without a name, `None` for anything else.
pub fn node_identity(user: &UserInfo) -> Option<&str> {
    if !user.in_group(names::NODES_GROUP) {
        return None;
    }
    user.username.strip_prefix(names::NODE_USER_PREFIX)
}

type Key = (String, String);

fn key(namespace: &str, name: &str) -> Key {
    (namespace.to_string(), name.to_string())
}

/// What one bound pod refers to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct PodRefs {
    node: String,
    secrets: Vec<String>,
    configmaps: Vec<String>,
    pvcs: Vec<String>,
    /// The pod's service account (none when the spec names none).
    service_accounts: Vec<String>,
}

/// Object kinds a node reaches through its pods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Secret,
    ConfigMap,
    Pvc,
    ServiceAccount,
}

/// The relations the node authorizer follows: node ← pod ← {secret, configmap, pvc ← pv,
/// serviceaccount}, node ← volumeattachment.
#[derive(Clone, Debug, Default)]
pub struct NodeGraph {
    pods: HashMap<Key, PodRefs>,
    /// (kind, namespace, name) → node → number of bound pods referring to it.
    referenced: HashMap<(Kind, String, String), HashMap<String, u32>>,
    /// PV name → the claim it is bound to.
    pv_claims: HashMap<String, Key>,
    /// VolumeAttachment name → node.
    attachments: HashMap<String, String>,
}

fn push_name(out: &mut Vec<String>, name: Option<&str>) {
    if let Some(n) = name.filter(|n| !n.is_empty())
        && !out.iter().any(|e| e == n)
    {
        out.push(n.to_string());
    }
}

/// The secrets a volume names (`VisitPodSecretNames`, volume part).
fn volume_secrets(v: &Volume, out: &mut Vec<String>) {
    let lref = |r: &Option<clipper_proto::api::core::v1::LocalObjectReference>| {
        r.as_ref().and_then(|r| r.name.clone())
    };
    push_name(
        out,
        v.secret.as_ref().and_then(|s| s.secret_name.as_deref()),
    );
    push_name(out, v.azure_file.as_ref().map(|a| a.secret_name.as_str()));
    push_name(
        out,
        v.cephfs
            .as_ref()
            .and_then(|c| lref(&c.secret_ref))
            .as_deref(),
    );
    push_name(
        out,
        v.cinder
            .as_ref()
            .and_then(|c| lref(&c.secret_ref))
            .as_deref(),
    );
    push_name(
        out,
        v.flex_volume
            .as_ref()
            .and_then(|f| lref(&f.secret_ref))
            .as_deref(),
    );
    push_name(
        out,
        v.iscsi
            .as_ref()
            .and_then(|i| lref(&i.secret_ref))
            .as_deref(),
    );
    push_name(
        out,
        v.rbd.as_ref().and_then(|r| lref(&r.secret_ref)).as_deref(),
    );
    push_name(
        out,
        v.scale_io
            .as_ref()
            .and_then(|s| s.secret_ref.name.clone())
            .as_deref(),
    );
    push_name(
        out,
        v.storageos
            .as_ref()
            .and_then(|s| lref(&s.secret_ref))
            .as_deref(),
    );
    push_name(
        out,
        v.csi
            .as_ref()
            .and_then(|c| lref(&c.node_publish_secret_ref))
            .as_deref(),
    );
    for source in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
        push_name(out, source.secret.as_ref().and_then(|s| s.name.as_deref()));
    }
}

fn volume_configmaps(v: &Volume, out: &mut Vec<String>) {
    push_name(out, v.config_map.as_ref().and_then(|c| c.name.as_deref()));
    for source in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
        push_name(
            out,
            source.config_map.as_ref().and_then(|c| c.name.as_deref()),
        );
    }
}

/// Secrets, configmaps and claims a pod spec refers to (`VisitPodSecretNames`,
/// `VisitPodConfigmapNames`, PVC and generic ephemeral volumes).
fn pod_refs(pod_name: &str, spec: &PodSpec, node: &str) -> PodRefs {
    let mut refs = PodRefs {
        node: node.to_string(),
        ..PodRefs::default()
    };
    for s in spec.image_pull_secrets.iter().flatten() {
        push_name(&mut refs.secrets, s.name.as_deref());
    }
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    let envs = containers
        .map(|c| (c.env.as_deref(), c.env_from.as_deref()))
        .chain(
            spec.ephemeral_containers
                .iter()
                .flatten()
                .map(|c| (c.env.as_deref(), c.env_from.as_deref())),
        );
    for (env, env_from) in envs {
        for e in env.unwrap_or(&[]) {
            let from = e.value_from.as_ref();
            push_name(
                &mut refs.secrets,
                from.and_then(|f| f.secret_key_ref.as_ref())
                    .and_then(|s| s.name.as_deref()),
            );
            push_name(
                &mut refs.configmaps,
                from.and_then(|f| f.config_map_key_ref.as_ref())
                    .and_then(|c| c.name.as_deref()),
            );
        }
        for e in env_from.unwrap_or(&[]) {
            push_name(
                &mut refs.secrets,
                e.secret_ref.as_ref().and_then(|s| s.name.as_deref()),
            );
            push_name(
                &mut refs.configmaps,
                e.config_map_ref.as_ref().and_then(|c| c.name.as_deref()),
            );
        }
    }
    for v in spec.volumes.iter().flatten() {
        volume_secrets(v, &mut refs.secrets);
        volume_configmaps(v, &mut refs.configmaps);
        push_name(
            &mut refs.pvcs,
            v.persistent_volume_claim
                .as_ref()
                .map(|p| p.claim_name.as_str()),
        );
        if v.ephemeral.is_some() {
            // Generic ephemeral volumes create a claim named <pod>-<volume>.
            push_name(&mut refs.pvcs, Some(&format!("{pod_name}-{}", v.name)));
        }
    }
    let sa = spec
        .service_account_name
        .as_deref()
        .filter(|s| !s.is_empty())
        .or(spec.service_account.as_deref());
    push_name(&mut refs.service_accounts, sa);
    refs
}

impl NodeGraph {
    pub fn new() -> NodeGraph {
        NodeGraph::default()
    }

    /// A graph of whole lists.
    pub fn from_objects(
        pods: &[Pod],
        pvs: &[PersistentVolume],
        attachments: &[VolumeAttachment],
    ) -> NodeGraph {
        let mut g = NodeGraph::new();
        pods.iter().for_each(|p| g.upsert_pod(p));
        pvs.iter().for_each(|p| g.upsert_persistent_volume(p));
        attachments
            .iter()
            .for_each(|a| g.upsert_volume_attachment(a));
        g
    }

    fn index(&mut self, namespace: &str, refs: &PodRefs, delta: i32) {
        let kinds = [
            (Kind::Secret, &refs.secrets),
            (Kind::ConfigMap, &refs.configmaps),
            (Kind::Pvc, &refs.pvcs),
            (Kind::ServiceAccount, &refs.service_accounts),
        ];
        for (kind, names) in kinds {
            for name in names.iter() {
                let k = (kind, namespace.to_string(), name.clone());
                let per_node = self.referenced.entry(k.clone()).or_default();
                let count = per_node.entry(refs.node.clone()).or_insert(0);
                if delta > 0 {
                    *count += 1;
                } else {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        per_node.remove(&refs.node);
                        if per_node.is_empty() {
                            self.referenced.remove(&k);
                        }
                    }
                }
            }
        }
    }

    /// Adds or updates a pod. A pod not (or no longer) bound to a node is removed.
    pub fn upsert_pod(&mut self, pod: &Pod) {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or_default();
        self.remove_pod(namespace, name);
        let Some(spec) = pod.spec.as_ref() else {
            return;
        };
        if node.is_empty() {
            return;
        }
        let refs = pod_refs(name, spec, node);
        self.index(namespace, &refs, 1);
        self.pods.insert(key(namespace, name), refs);
    }

    pub fn remove_pod(&mut self, namespace: &str, name: &str) -> bool {
        match self.pods.remove(&key(namespace, name)) {
            Some(refs) => {
                self.index(namespace, &refs, -1);
                true
            }
            None => false,
        }
    }

    /// Records the claim a PersistentVolume is bound to (`spec.claimRef`).
    pub fn upsert_persistent_volume(&mut self, pv: &PersistentVolume) {
        let name = pv.metadata.name.clone().unwrap_or_default();
        let claim = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
        match claim {
            Some(c) => {
                let ns = c.namespace.clone().unwrap_or_default();
                let claim_name = c.name.clone().unwrap_or_default();
                self.pv_claims.insert(name, (ns, claim_name));
            }
            None => {
                self.pv_claims.remove(&name);
            }
        }
    }

    pub fn remove_persistent_volume(&mut self, name: &str) -> bool {
        self.pv_claims.remove(name).is_some()
    }

    pub fn upsert_volume_attachment(&mut self, va: &VolumeAttachment) {
        let name = va.metadata.name.clone().unwrap_or_default();
        if va.spec.node_name.is_empty() {
            self.attachments.remove(&name);
        } else {
            self.attachments.insert(name, va.spec.node_name.clone());
        }
    }

    pub fn remove_volume_attachment(&mut self, name: &str) -> bool {
        self.attachments.remove(name).is_some()
    }

    /// Whether the pod is bound to the node.
    pub fn pod_on_node(&self, node: &str, namespace: &str, name: &str) -> bool {
        self.pods
            .get(&key(namespace, name))
            .is_some_and(|p| p.node == node)
    }

    fn referenced_by(&self, node: &str, kind: Kind, namespace: &str, name: &str) -> bool {
        self.referenced
            .get(&(kind, namespace.to_string(), name.to_string()))
            .is_some_and(|nodes| nodes.contains_key(node))
    }

    pub fn secret_on_node(&self, node: &str, namespace: &str, name: &str) -> bool {
        self.referenced_by(node, Kind::Secret, namespace, name)
    }

    pub fn configmap_on_node(&self, node: &str, namespace: &str, name: &str) -> bool {
        self.referenced_by(node, Kind::ConfigMap, namespace, name)
    }

    pub fn pvc_on_node(&self, node: &str, namespace: &str, name: &str) -> bool {
        self.referenced_by(node, Kind::Pvc, namespace, name)
    }

    pub fn service_account_on_node(&self, node: &str, namespace: &str, name: &str) -> bool {
        self.referenced_by(node, Kind::ServiceAccount, namespace, name)
    }

    /// A PV is related when its claim is used by a pod on the node.
    pub fn pv_on_node(&self, node: &str, name: &str) -> bool {
        self.pv_claims
            .get(name)
            .is_some_and(|(ns, claim)| self.pvc_on_node(node, ns, claim))
    }

    pub fn attachment_on_node(&self, node: &str, name: &str) -> bool {
        self.attachments.get(name).is_some_and(|n| n == node)
    }

    /// The nodes with at least one bound pod (for diagnostics).
    pub fn nodes(&self) -> HashSet<&str> {
        self.pods.values().map(|p| p.node.as_str()).collect()
    }
}

/// Which related-object check a request needs.
#[derive(Clone, Copy, Debug)]
enum Related {
    Pod,
    Secret,
    ConfigMap,
    Pvc,
    Pv,
    Attachment,
    ServiceAccount,
}

fn no_opinion(reason: impl Into<String>) -> Decision {
    Decision::NoOpinion(reason.into())
}

fn allow() -> Decision {
    Decision::Allow(String::new())
}

/// The node authorizer over a graph the server keeps current.
#[derive(Debug)]
pub struct NodeAuthorizer<G = NodeGraph> {
    graph: G,
    rules: Vec<PolicyRule>,
}

impl<G: ReadState<NodeGraph>> NodeAuthorizer<G> {
    /// With Kubernetes' static node rules.
    pub fn new(graph: G) -> NodeAuthorizer<G> {
        NodeAuthorizer {
            graph,
            rules: policy::node_rules(),
        }
    }

    pub fn with_rules(graph: G, rules: Vec<PolicyRule>) -> NodeAuthorizer<G> {
        NodeAuthorizer { graph, rules }
    }

    pub fn graph(&self) -> &G {
        &self.graph
    }

    fn related(&self, node: &str, what: Related, attrs: &Attributes<'_>) -> Decision {
        if attrs.name.is_empty() {
            return no_opinion("No Object name found");
        }
        let (ns, name) = (attrs.namespace, attrs.name);
        let found = self.graph.with(|g| match what {
            Related::Pod => g.pod_on_node(node, ns, name),
            Related::Secret => g.secret_on_node(node, ns, name),
            Related::ConfigMap => g.configmap_on_node(node, ns, name),
            Related::Pvc => g.pvc_on_node(node, ns, name),
            Related::Pv => g.pv_on_node(node, name),
            Related::Attachment => g.attachment_on_node(node, name),
            Related::ServiceAccount => g.service_account_on_node(node, ns, name),
        });
        if found {
            allow()
        } else {
            no_opinion(format!(
                "no relationship found between node '{node}' and this object"
            ))
        }
    }

    /// `authorizeGet`.
    fn get(&self, node: &str, what: Related, attrs: &Attributes<'_>) -> Decision {
        if attrs.verb != "get" {
            return no_opinion("can only get individual resources of this type");
        }
        if !attrs.subresource.is_empty() {
            return no_opinion("cannot get subresource");
        }
        self.related(node, what, attrs)
    }

    /// `authorizeReadNamespacedObject`: get/list/watch of one named, related object.
    fn read_namespaced(&self, node: &str, what: Related, attrs: &Attributes<'_>) -> Decision {
        if !matches!(attrs.verb, "get" | "list" | "watch") {
            return no_opinion("can only read resources of this type");
        }
        if !attrs.subresource.is_empty() {
            return no_opinion("cannot read subresource");
        }
        if attrs.namespace.is_empty() {
            return no_opinion("can only read namespaced object of this type");
        }
        self.related(node, what, attrs)
    }

    /// `authorizeStatusUpdate` for claims.
    fn pvc_status(&self, node: &str, attrs: &Attributes<'_>) -> Decision {
        if !matches!(attrs.verb, "update" | "patch") {
            return no_opinion("can only get/update/patch this type");
        }
        self.related(node, Related::Pvc, attrs)
    }

    /// `authorizeCreateToken`.
    fn create_token(&self, node: &str, attrs: &Attributes<'_>) -> Decision {
        if attrs.verb != "create" || attrs.name.is_empty() {
            return no_opinion("can only create tokens for individual service accounts");
        }
        if attrs.subresource != "token" {
            return no_opinion("can only create token subresource of serviceaccount");
        }
        self.related(node, Related::ServiceAccount, attrs)
    }

    /// `authorizeLease` (and `authorizeCSINode`, same shape).
    fn own_named_object(&self, node: &str, attrs: &Attributes<'_>, what: &str) -> Decision {
        if !matches!(attrs.verb, "get" | "create" | "update" | "patch" | "delete") {
            return no_opinion(format!(
                "can only get, create, update, patch, or delete a {what}"
            ));
        }
        if what == "node lease" && attrs.namespace != NODE_LEASE_NAMESPACE {
            return no_opinion(format!(
                "can only access leases in the {NODE_LEASE_NAMESPACE:?} system namespace"
            ));
        }
        if what == "CSINode" && !attrs.subresource.is_empty() {
            return no_opinion("cannot authorize CSINode subresources");
        }
        if attrs.verb != "create" && attrs.name != node {
            return no_opinion(format!(
                "can only access {what} with the same name as the requesting node"
            ));
        }
        allow()
    }

    /// `authorizeNode`, with the NodeRestriction name check for update/patch.
    fn node_object(&self, node: &str, attrs: &Attributes<'_>) -> Decision {
        match (attrs.subresource, attrs.verb) {
            ("", "create") => allow(),
            ("", "update" | "patch") | ("status", "update" | "patch") => {
                if attrs.name == node {
                    allow()
                } else {
                    no_opinion(format!("node '{node}' can only modify its own Node object"))
                }
            }
            ("", "get" | "list" | "watch") => match attrs.name {
                n if n == node => allow(),
                "" => no_opinion(format!(
                    "node '{node}' cannot read all nodes, only its own Node object"
                )),
                other => no_opinion(format!(
                    "node '{node}' cannot read '{other}', only its own Node object"
                )),
            },
            _ => no_opinion(""),
        }
    }

    /// `authorizePod`, with the NodeRestriction binding check where the name is known.
    fn pod(&self, node: &str, attrs: &Attributes<'_>) -> Decision {
        match (attrs.subresource, attrs.verb) {
            ("", "get") => self.get(node, Related::Pod, attrs),
            ("", "list" | "watch") => {
                let scoped = attrs.field_selector.iter().any(|r| {
                    r.field == "spec.nodeName" && r.op == FieldOp::Equals && r.value == node
                });
                if scoped {
                    allow()
                } else if !attrs.name.is_empty() {
                    self.related(node, Related::Pod, attrs)
                } else {
                    no_opinion("can only list/watch pods with spec.nodeName field selector")
                }
            }
            // Mirror pods: the registry checks that a created pod is bound to the node.
            ("", "create") => allow(),
            ("", "delete") | ("status", "update" | "patch") | ("eviction", "create") => {
                self.related(node, Related::Pod, attrs)
            }
            _ => no_opinion(""),
        }
    }

    /// The decision for a node identity `node` (non-empty).
    fn authorize_node(&self, node: &str, attrs: &Attributes<'_>) -> Decision {
        if attrs.resource_request {
            let decided = match (attrs.api_group, attrs.resource) {
                ("", "secrets") => Some(self.read_namespaced(node, Related::Secret, attrs)),
                ("", "configmaps") => Some(self.read_namespaced(node, Related::ConfigMap, attrs)),
                ("", "persistentvolumeclaims") if attrs.subresource == "status" => {
                    Some(self.pvc_status(node, attrs))
                }
                ("", "persistentvolumeclaims") => Some(self.get(node, Related::Pvc, attrs)),
                ("", "persistentvolumes") => Some(self.get(node, Related::Pv, attrs)),
                ("storage.k8s.io", "volumeattachments") => {
                    Some(self.get(node, Related::Attachment, attrs))
                }
                ("", "serviceaccounts") => Some(self.create_token(node, attrs)),
                ("coordination.k8s.io", "leases") => {
                    Some(self.own_named_object(node, attrs, "node lease"))
                }
                ("storage.k8s.io", "csinodes") => {
                    Some(self.own_named_object(node, attrs, "CSINode"))
                }
                ("", "nodes") => Some(self.node_object(node, attrs)),
                ("", "pods") => Some(self.pod(node, attrs)),
                _ => None,
            };
            if let Some(decision) = decided {
                return decision;
            }
        }
        if rules_allow(attrs, &self.rules) {
            allow()
        } else {
            no_opinion("")
        }
    }
}

impl<G: ReadState<NodeGraph>> Authorizer for NodeAuthorizer<G> {
    fn authorize(&self, attrs: &Attributes<'_>) -> Decision {
        match node_identity(attrs.user) {
            None => no_opinion(""),
            Some("") => no_opinion(format!("unknown node for user {:?}", attrs.user.username)),
            Some(node) => self.authorize_node(node, attrs),
        }
    }
}

#[cfg(test)]
mod tests;
