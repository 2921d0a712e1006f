//! Admission-time validation and defaulting of built-in objects, as kube-apiserver's
//! per-kind strategies do them.
//!
//! * [`validate_object_meta`] / [`validate_object_meta_update`] check the metadata every
//!   object carries (custom resources included); [`NameRule::for_kind`] picks the name
//!   rule Kubernetes applies to a kind.
//! * [`validate`] / [`validate_with`] check the kind-specific part of a typed object on
//!   create (`old == None`) or update, dispatched by downcasting.
//! * [`default()`] applies Kubernetes' `SetDefaults_*` functions to a typed object.
//!
//! Errors are [`FieldError`]s whose [`FieldError::message`] reproduces Kubernetes' text,
//! and [`invalid_message`] builds the message of the 422 `Invalid` status.

mod apps;
mod batch;
mod core;
mod crd;
mod defaults;
pub mod field;
pub mod meta;
mod misc;
pub(crate) use misc::system_priority_class_value;
pub mod names;
mod networking;
mod pod;

#[cfg(test)]
mod tests;

use std::any::Any;

use clipper_proto::api::apiextensions::v1::CustomResourceDefinition;
use clipper_proto::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use clipper_proto::api::autoscaling::v2::HorizontalPodAutoscaler;
use clipper_proto::api::batch::v1::{CronJob, Job};
use clipper_proto::api::coordination::v1::Lease;
use clipper_proto::api::core::v1::{
    ConfigMap, Endpoints, Event, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod,
    PodTemplate, ReplicationController, Secret, Service,
};
use clipper_proto::api::discovery::v1::EndpointSlice;
use clipper_proto::api::networking::v1::{Ingress, IngressClass, NetworkPolicy};
use clipper_proto::api::policy::v1::PodDisruptionBudget;
use clipper_proto::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use clipper_proto::api::scheduling::v1::PriorityClass;
use clipper_proto::api::storage::v1::StorageClass;
use serde::Serialize;

pub use self::core::normalize_service_cluster_ips;
pub use batch::{job_selector_and_labels, parse_cron_standard};
pub use defaults::{default, image_tag, prepare_namespace_for_create};
pub use field::{ErrorList, ErrorType, FieldError, Path, invalid_message, qualified_kind};
pub use meta::{
    validate_generic_object_meta, validate_object_meta, validate_object_meta_for,
    validate_object_meta_update, validate_object_meta_update_for,
    validate_object_meta_update_generic,
};
pub use names::NameRule;

/// The Service node-port range kube-apiserver uses unless `--service-node-port-range`
/// says otherwise.
pub const DEFAULT_NODE_PORT_RANGE: (i32, i32) = (30000, 32767);

/// Server settings validation depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidationOptions {
    /// Inclusive range node ports must fall in (`--service-node-port-range`).
    pub node_port_range: (i32, i32),
    /// Whether privileged containers are admitted (`--allow-privileged`). Kubernetes
    /// defaults the flag to false, but every real cluster (kubeadm, kind, k3s) sets it,
    /// so true is the default here.
    pub allow_privileged: bool,
}

impl Default for ValidationOptions {
    fn default() -> Self {
        ValidationOptions {
            node_port_range: DEFAULT_NODE_PORT_RANGE,
            allow_privileged: true,
        }
    }
}

/// Kind-specific validation with [`ValidationOptions::default`]; see [`validate_with`].
pub fn validate(obj: &dyn Any, old: Option<&dyn Any>) -> Vec<FieldError> {
    validate_with(obj, old, &ValidationOptions::default())
}

/// Kind-specific validation of a typed built-in object: on create when `old` is `None`,
/// on update otherwise (an `old` of another type is treated as a create). Metadata is not
/// checked here (see [`validate_object_meta_for`]); kinds without rules, and types that
/// are not built-in API objects, yield no errors.
pub fn validate_with(
    obj: &dyn Any,
    old: Option<&dyn Any>,
    opts: &ValidationOptions,
) -> Vec<FieldError> {
    macro_rules! kinds {
        ($( $ty:ty => |$new:ident, $old:ident| $create:expr, $update:expr ;)*) => {$(
            if let Some($new) = obj.downcast_ref::<$ty>() {
                return match old.and_then(|o| o.downcast_ref::<$ty>()) {
                    Some($old) => $update,
                    None => $create,
                };
            }
        )*};
    }
    kinds! {
        Pod => |n, o| pod::validate_pod_create(n, opts), pod::validate_pod_update(n, o, opts);
        PodTemplate => |n, o| core::validate_pod_template(n, opts), {
            let _ = o;
            core::validate_pod_template(n, opts)
        };
        ReplicationController => |n, o| core::validate_replication_controller(n, opts), {
            let _ = o;
            core::validate_replication_controller(n, opts)
        };
        Service => |n, o| core::validate_service(n, opts), core::validate_service_update(n, o, opts);
        ConfigMap => |n, o| core::validate_config_map(n), core::validate_config_map_update(n, o);
        Secret => |n, o| core::validate_secret(n), core::validate_secret_update(n, o);
        Namespace => |n, o| core::validate_namespace(n), { let _ = o; core::validate_namespace(n) };
        Node => |n, o| core::validate_node(n), core::validate_node_update(n, o);
        PersistentVolumeClaim => |n, o| core::validate_pvc(n), core::validate_pvc_update(n, o);
        PersistentVolume => |n, o| core::validate_pv(n), core::validate_pv_update(n, o);
        Endpoints => |n, o| core::validate_endpoints(n), { let _ = o; core::validate_endpoints(n) };
        Event => |n, o| core::validate_event(n), { let _ = o; core::validate_event(n) };
        Deployment => |n, o| apps::validate_deployment(n, opts), apps::validate_deployment_update(n, o, opts);
        ReplicaSet => |n, o| apps::validate_replica_set(n, opts), apps::validate_replica_set_update(n, o, opts);
        StatefulSet => |n, o| apps::validate_stateful_set(n), apps::validate_stateful_set_update(n, o);
        DaemonSet => |n, o| apps::validate_daemon_set(n, opts), apps::validate_daemon_set_update(n, o, opts);
        ControllerRevision => |n, o| apps::validate_controller_revision(n),
            apps::validate_controller_revision_update(n, o);
        Job => |n, o| batch::validate_job(n, opts), batch::validate_job_update(n, o, opts);
        CronJob => |n, o| batch::validate_cron_job(n, opts), batch::validate_cron_job_update(n, o, opts);
        Ingress => |n, o| networking::validate_ingress(n), { let _ = o; networking::validate_ingress_update(n) };
        IngressClass => |n, o| networking::validate_ingress_class(n), networking::validate_ingress_class_update(n, o);
        NetworkPolicy => |n, o| networking::validate_network_policy(n), networking::validate_network_policy_update(n, o);
        PodDisruptionBudget => |n, o| misc::validate_pdb(n), { let _ = o; misc::validate_pdb(n) };
        clipper_proto::api::certificates::v1::CertificateSigningRequest => |n, o|
            crate::certificates::validate(n, None), crate::certificates::validate(n, Some(o));
        HorizontalPodAutoscaler => |n, o| misc::validate_hpa(n, 1), misc::validate_hpa(n, hpa_lower_bound(o));
        Role => |n, o| misc::validate_rules(n.rules.as_deref().unwrap_or(&[]), true), {
            let _ = o;
            misc::validate_rules(n.rules.as_deref().unwrap_or(&[]), true)
        };
        ClusterRole => |n, o| validate_cluster_role(n), { let _ = o; validate_cluster_role(n) };
        RoleBinding => |n, o| misc::validate_binding(&n.role_ref, n.subjects.as_deref().unwrap_or(&[]), true), {
            let mut errs = misc::validate_binding(&n.role_ref, n.subjects.as_deref().unwrap_or(&[]), true);
            errs.extend(misc::validate_role_ref_update(&n.role_ref, &o.role_ref));
            errs
        };
        ClusterRoleBinding => |n, o| misc::validate_binding(&n.role_ref, n.subjects.as_deref().unwrap_or(&[]), false), {
            let mut errs = misc::validate_binding(&n.role_ref, n.subjects.as_deref().unwrap_or(&[]), false);
            errs.extend(misc::validate_role_ref_update(&n.role_ref, &o.role_ref));
            errs
        };
        PriorityClass => |n, o| misc::validate_priority_class(n), misc::validate_priority_class_update(n, o);
        CustomResourceDefinition => |n, o| crd::validate_crd(n), crd::validate_crd_update(n, o);
        Lease => |n, o| misc::validate_lease(n), { let _ = o; misc::validate_lease(n) };
        EndpointSlice => |n, o| misc::validate_endpoint_slice(n, None), misc::validate_endpoint_slice(n, Some(o));
        StorageClass => |n, o| misc::validate_storage_class(n), misc::validate_storage_class_update(n, o);
    }
    Vec::new()
}

/// The lowest `minReplicas` an HPA update may set: 0 stays allowed for objects that
/// already scale to zero (the `HPAScaleToZero` gate is off by default in 1.33).
fn hpa_lower_bound(old: &HorizontalPodAutoscaler) -> i32 {
    if old.spec.as_ref().and_then(|s| s.min_replicas) == Some(0) {
        0
    } else {
        1
    }
}

/// `ValidateClusterRole`: cluster-wide rules plus a non-empty aggregation rule whose
/// selectors are well formed.
fn validate_cluster_role(role: &ClusterRole) -> ErrorList {
    let mut errs = misc::validate_rules(role.rules.as_deref().unwrap_or(&[]), false);
    if let Some(agg) = &role.aggregation_rule {
        let path = Path::new("aggregationRule").child("clusterRoleSelectors");
        let selectors = agg.cluster_role_selectors.as_deref().unwrap_or(&[]);
        if selectors.is_empty() {
            errs.push(FieldError::required(
                &path,
                "at least one clusterRoleSelector required if aggregationRule is non-nil",
            ));
        }
        let opts = meta::SelectorOptions {
            allow_invalid_label_value: false,
        };
        for (i, sel) in selectors.iter().enumerate() {
            errs.extend(meta::validate_label_selector(
                Some(sel),
                opts,
                &path.index(i),
            ));
        }
    }
    errs
}

/// Kubernetes' `apiequality.Semantic.DeepEqual` as far as these types need it: equal
/// values, or values whose JSON forms agree once empty lists and maps are dropped (Go
/// does not tell a nil slice from an empty one after decoding) and quantities are
/// compared by value (their serialized forms are canonical).
pub(crate) fn sem_eq<T: PartialEq + Serialize>(a: &T, b: &T) -> bool {
    if a == b {
        return true;
    }
    match (serde_json::to_value(a), serde_json::to_value(b)) {
        (Ok(x), Ok(y)) => strip_empty(x) == strip_empty(y),
        _ => false,
    }
}

/// Drops empty arrays and objects (recursively) so nil and empty compare equal.
fn strip_empty(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, strip_empty(v)))
                .filter(|(_, v)| !is_empty_json(v))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_empty).collect()),
        other => other,
    }
}

fn is_empty_json(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Object(m) => m.is_empty(),
        serde_json::Value::Array(a) => a.is_empty(),
        serde_json::Value::Null => true,
        _ => false,
    }
}

/// A short, readable account of how `new` differs from `old`, standing in for the
/// `cmp.Diff` output Kubernetes appends to some immutability errors: one line per
/// changed top-level field, `-` for the old value and `+` for the new.
pub(crate) fn spec_diff<T: Serialize>(old: &T, new: &T) -> String {
    use serde_json::Value;
    let (Ok(o), Ok(n)) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return String::new();
    };
    let (o, n) = (strip_empty(o), strip_empty(n));
    let mut lines = Vec::new();
    match (&o, &n) {
        (Value::Object(om), Value::Object(nm)) => {
            let keys: std::collections::BTreeSet<&String> = om.keys().chain(nm.keys()).collect();
            for k in keys {
                let (ov, nv) = (om.get(k), nm.get(k));
                if ov != nv {
                    if let Some(ov) = ov {
                        lines.push(format!("-\t{k}: {ov}"));
                    }
                    if let Some(nv) = nv {
                        lines.push(format!("+\t{k}: {nv}"));
                    }
                }
            }
        }
        _ => {
            lines.push(format!("-\t{o}"));
            lines.push(format!("+\t{n}"));
        }
    }
    lines.join("\n")
}

/// API groups whose kinds are compiled in; anything else is a custom resource.
const BUILT_IN_GROUPS: &[&str] = &[
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "internal.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "storagemigration.k8s.io",
];

/// Whether `group`/`kind` is not a built-in kind (a custom resource, validated with the
/// generic metadata rules).
pub(crate) fn registry_kind_unknown(group: &str, _kind: &str) -> bool {
    !BUILT_IN_GROUPS.contains(&group)
}
