//! Server-side Table output (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), as
//! kube-apiserver 1.33 produces it for `kubectl get`.
//!
//! Three producers, one per kind of resource:
//!
//! - [`table_for`]: the built-in kinds with a dedicated printer in Kubernetes (pods, nodes,
//!   deployments, services, events, ...): the same columns, cell values and cell JSON types
//!   as `pkg/printers/internalversion`, always generated "wide" as the API server does (the
//!   `priority: 1` columns are present; kubectl hides them unless `-o wide`). Kinds without a
//!   printer fall through to [`default_table`].
//! - [`default_table`]: `Name` and `Created At` (RFC 3339), kube-apiserver's default table
//!   convertor, used for roles, CRDs, limit ranges and every other printer-less kind.
//! - [`custom_resource_table`]: a CRD version's `additionalPrinterColumns`, evaluated with the
//!   JSONPath subset of [`jsonpath`]; `Name` and `Age` when the CRD declares none.
//!
//! Each row carries `object`: the object's metadata as `PartialObjectMetadata` by default, the
//! full object for `includeObject=Object`, `null` for `includeObject=None`. Callers pass the
//! object JSON they are about to serve next to the typed object, so nothing is serialized
//! twice. Everything is a pure function of its inputs: `now` is passed in, there is no clock.
//!
//! Absent optional fields that kube-apiserver would have defaulted when decoding the object
//! (replicas, service type, port protocol, secret type, phases...) print as their defaults,
//! so an object that skipped defaulting still prints as Kubernetes would serve it.

mod cluster;
mod core_v1;
mod custom;
mod format;
pub mod jsonpath;
mod table;
mod workloads;

#[cfg(test)]
mod tests;

use std::any::Any;

use clipper_proto::Time;
use clipper_proto::api::meta::v1::ListMeta;
use serde_json::Value;

pub use custom::custom_resource_table;
pub use format::human_duration;
pub use table::{
    IncludeObject, Table, TableColumnDefinition, TableOptions, TableRow, TableRowCondition,
    TableVersion, default_table,
};

/// One object to print: the typed object, for the printer, and the JSON that is served for it
/// (apiVersion, kind, metadata, ...), for the row's `object` field and the default table.
#[derive(Clone, Copy)]
pub struct Item<'a> {
    /// The typed object, e.g. a `clipper_proto::api::core::v1::Pod`.
    pub object: &'a dyn Any,
    /// The object as served, in the requested version.
    pub json: &'a Value,
}

impl<'a> Item<'a> {
    pub fn new(object: &'a dyn Any, json: &'a Value) -> Item<'a> {
        Item { object, json }
    }
}

/// Why a table could not be produced; the API server answers 500 for both, as Kubernetes does
/// when a printer fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrintError {
    /// `items[index].object` is not the Rust type of `group`/`kind`: a caller bug.
    UnexpectedType {
        group: String,
        kind: String,
        index: usize,
    },
    /// A ControllerRevision's controller reference has an apiVersion with more than one `/`,
    /// which Kubernetes' printer rejects.
    InvalidGroupVersion(String),
}

impl std::fmt::Display for PrintError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrintError::UnexpectedType { group, kind, index } => {
                let gk = if group.is_empty() {
                    kind.clone()
                } else {
                    format!("{kind}.{group}")
                };
                write!(f, "object {index} given for {gk} is not of that type")
            }
            PrintError::InvalidGroupVersion(gv) => {
                write!(f, "unexpected GroupVersion string: {gv}")
            }
        }
    }
}

impl std::error::Error for PrintError {}

/// A printer's output for one object: its cells and row conditions.
pub(crate) struct Printed {
    pub cells: Vec<Value>,
    pub conditions: Vec<TableRowCondition>,
}

impl Printed {
    pub fn cells(cells: Vec<Value>) -> Printed {
        Printed {
            cells,
            conditions: Vec::new(),
        }
    }
}

/// What every printer gets besides its object.
pub(crate) struct Ctx {
    pub now: Time,
}

/// The Table for built-in objects of `group`/`kind` (`""` is the core group).
///
/// `list` is the list's metadata for a list or watch-free collection read (its
/// resourceVersion, continue token and remaining count are copied into the table), `None` for
/// a single-object read, where the table's resourceVersion is the object's.
///
/// Kinds without a Kubernetes printer (roles, CRDs, limit ranges, ...) get [`default_table`].
pub fn table_for(
    group: &str,
    kind: &str,
    items: &[Item<'_>],
    list: Option<&ListMeta>,
    now: Time,
    options: &TableOptions,
) -> Result<Table, PrintError> {
    let ctx = Ctx { now };
    let Some((columns, rows)) = print_builtin(group, kind, items, &ctx)? else {
        let objects: Vec<&Value> = items.iter().map(|i| i.json).collect();
        return Ok(default_table(&objects, list, options));
    };
    Ok(table::assemble(
        columns,
        rows,
        items.iter().map(|i| i.json),
        list,
        options,
        true,
    ))
}

type Columns = Vec<TableColumnDefinition>;

/// Runs the printer of `group`/`kind` over `items`, or returns `None` when Kubernetes has no
/// printer for that kind.
fn print_builtin(
    group: &str,
    kind: &str,
    items: &[Item<'_>],
    ctx: &Ctx,
) -> Result<Option<(Columns, Vec<Printed>)>, PrintError> {
    use clipper_proto::api::{
        apps, autoscaling, batch, certificates, coordination, core as corev1, discovery, events,
        networking, node, policy, rbac, scheduling, storage,
    };

    macro_rules! typed {
        ($ty:ty, $columns:expr, $print:expr) => {
            typed::<$ty, _>(group, kind, items, ctx, $columns, $print).map(Some)
        };
    }

    match (group, kind) {
        ("", "Pod") => typed!(corev1::v1::Pod, core_v1::pod_columns(), core_v1::print_pod),
        ("", "PodTemplate") => {
            typed!(
                corev1::v1::PodTemplate,
                core_v1::pod_template_columns(),
                core_v1::print_pod_template
            )
        }
        ("", "ReplicationController") => typed!(
            corev1::v1::ReplicationController,
            core_v1::replication_controller_columns(),
            core_v1::print_replication_controller
        ),
        ("", "Service") => typed!(
            corev1::v1::Service,
            core_v1::service_columns(),
            core_v1::print_service
        ),
        ("", "Endpoints") => typed!(
            corev1::v1::Endpoints,
            core_v1::endpoints_columns(),
            core_v1::print_endpoints
        ),
        ("", "Node") => typed!(
            corev1::v1::Node,
            core_v1::node_columns(),
            core_v1::print_node
        ),
        ("", "Event") => typed!(
            corev1::v1::Event,
            core_v1::event_columns(),
            core_v1::print_event
        ),
        ("", "Namespace") => typed!(
            corev1::v1::Namespace,
            core_v1::namespace_columns(),
            core_v1::print_namespace
        ),
        ("", "Secret") => typed!(
            corev1::v1::Secret,
            core_v1::secret_columns(),
            core_v1::print_secret
        ),
        ("", "ServiceAccount") => {
            typed!(
                corev1::v1::ServiceAccount,
                core_v1::service_account_columns(),
                core_v1::print_service_account
            )
        }
        ("", "PersistentVolume") => {
            typed!(
                corev1::v1::PersistentVolume,
                core_v1::persistent_volume_columns(),
                core_v1::print_persistent_volume
            )
        }
        ("", "PersistentVolumeClaim") => typed!(
            corev1::v1::PersistentVolumeClaim,
            core_v1::persistent_volume_claim_columns(),
            core_v1::print_persistent_volume_claim
        ),
        ("", "ConfigMap") => typed!(
            corev1::v1::ConfigMap,
            core_v1::config_map_columns(),
            core_v1::print_config_map
        ),
        ("", "ResourceQuota") => {
            typed!(
                corev1::v1::ResourceQuota,
                core_v1::resource_quota_columns(),
                core_v1::print_resource_quota
            )
        }
        ("apps", "Deployment") => {
            typed!(
                apps::v1::Deployment,
                workloads::deployment_columns(),
                workloads::print_deployment
            )
        }
        ("apps", "ReplicaSet") => {
            typed!(
                apps::v1::ReplicaSet,
                workloads::replica_set_columns(),
                workloads::print_replica_set
            )
        }
        ("apps", "StatefulSet") => {
            typed!(
                apps::v1::StatefulSet,
                workloads::stateful_set_columns(),
                workloads::print_stateful_set
            )
        }
        ("apps", "DaemonSet") => {
            typed!(
                apps::v1::DaemonSet,
                workloads::daemon_set_columns(),
                workloads::print_daemon_set
            )
        }
        ("apps", "ControllerRevision") => typed!(
            apps::v1::ControllerRevision,
            workloads::controller_revision_columns(),
            workloads::print_controller_revision
        ),
        ("batch", "Job") => typed!(
            batch::v1::Job,
            workloads::job_columns(),
            workloads::print_job
        ),
        ("batch", "CronJob") => typed!(
            batch::v1::CronJob,
            workloads::cron_job_columns(),
            workloads::print_cron_job
        ),
        ("autoscaling", "HorizontalPodAutoscaler") => {
            let print = |i: usize, item: &Item<'_>| {
                if let Some(hpa) = item
                    .object
                    .downcast_ref::<autoscaling::v2::HorizontalPodAutoscaler>()
                {
                    Ok(cluster::print_hpa_v2(hpa, ctx))
                } else if let Some(hpa) = item
                    .object
                    .downcast_ref::<autoscaling::v1::HorizontalPodAutoscaler>()
                {
                    Ok(cluster::print_hpa_v1(hpa, ctx))
                } else {
                    Err(unexpected(group, kind, i))
                }
            };
            let rows = items
                .iter()
                .enumerate()
                .map(|(i, item)| print(i, item))
                .collect::<Result<_, _>>()?;
            Ok(Some((cluster::hpa_columns(), rows)))
        }
        ("autoscaling", "Scale") => typed!(
            autoscaling::v1::Scale,
            cluster::scale_columns(),
            cluster::print_scale
        ),
        ("policy", "PodDisruptionBudget") => {
            typed!(
                policy::v1::PodDisruptionBudget,
                cluster::pdb_columns(),
                cluster::print_pdb
            )
        }
        ("networking.k8s.io", "Ingress") => {
            typed!(
                networking::v1::Ingress,
                cluster::ingress_columns(),
                cluster::print_ingress
            )
        }
        ("networking.k8s.io", "IngressClass") => {
            typed!(
                networking::v1::IngressClass,
                cluster::ingress_class_columns(),
                cluster::print_ingress_class
            )
        }
        ("networking.k8s.io", "NetworkPolicy") => {
            typed!(
                networking::v1::NetworkPolicy,
                cluster::network_policy_columns(),
                cluster::print_network_policy
            )
        }
        ("networking.k8s.io", "ServiceCIDR") => {
            typed!(
                networking::v1::ServiceCIDR,
                cluster::service_cidr_columns(),
                cluster::print_service_cidr
            )
        }
        ("networking.k8s.io", "IPAddress") => {
            typed!(
                networking::v1::IPAddress,
                cluster::ip_address_columns(),
                cluster::print_ip_address
            )
        }
        ("discovery.k8s.io", "EndpointSlice") => {
            typed!(
                discovery::v1::EndpointSlice,
                cluster::endpoint_slice_columns(),
                cluster::print_endpoint_slice
            )
        }
        ("events.k8s.io", "Event") => typed!(
            events::v1::Event,
            core_v1::event_columns(),
            core_v1::print_events_event
        ),
        ("coordination.k8s.io", "Lease") => {
            typed!(
                coordination::v1::Lease,
                cluster::lease_columns(),
                cluster::print_lease
            )
        }
        ("rbac.authorization.k8s.io", "RoleBinding") => {
            typed!(
                rbac::v1::RoleBinding,
                cluster::role_binding_columns("roleBinding"),
                cluster::print_role_binding
            )
        }
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => typed!(
            rbac::v1::ClusterRoleBinding,
            cluster::role_binding_columns("clusterRoleBinding"),
            cluster::print_cluster_role_binding
        ),
        ("scheduling.k8s.io", "PriorityClass") => {
            typed!(
                scheduling::v1::PriorityClass,
                cluster::priority_class_columns(),
                cluster::print_priority_class
            )
        }
        ("node.k8s.io", "RuntimeClass") => {
            typed!(
                node::v1::RuntimeClass,
                cluster::runtime_class_columns(),
                cluster::print_runtime_class
            )
        }
        ("storage.k8s.io", "StorageClass") => {
            typed!(
                storage::v1::StorageClass,
                cluster::storage_class_columns(),
                cluster::print_storage_class
            )
        }
        ("storage.k8s.io", "VolumeAttachment") => typed!(
            storage::v1::VolumeAttachment,
            cluster::volume_attachment_columns(),
            cluster::print_volume_attachment
        ),
        ("storage.k8s.io", "CSINode") => {
            typed!(
                storage::v1::CSINode,
                cluster::csi_node_columns(),
                cluster::print_csi_node
            )
        }
        ("storage.k8s.io", "CSIDriver") => {
            typed!(
                storage::v1::CSIDriver,
                cluster::csi_driver_columns(),
                cluster::print_csi_driver
            )
        }
        ("storage.k8s.io", "CSIStorageCapacity") => typed!(
            storage::v1::CSIStorageCapacity,
            cluster::csi_storage_capacity_columns(),
            cluster::print_csi_storage_capacity
        ),
        ("certificates.k8s.io", "CertificateSigningRequest") => {
            typed!(
                certificates::v1::CertificateSigningRequest,
                cluster::csr_columns(),
                cluster::print_csr
            )
        }
        _ => Ok(None),
    }
}

fn unexpected(group: &str, kind: &str, index: usize) -> PrintError {
    PrintError::UnexpectedType {
        group: group.to_string(),
        kind: kind.to_string(),
        index,
    }
}

/// Downcasts every item to `T` and prints it.
fn typed<T: Any, R: IntoPrintResult>(
    group: &str,
    kind: &str,
    items: &[Item<'_>],
    ctx: &Ctx,
    columns: Columns,
    print: impl Fn(&T, &Ctx) -> R,
) -> Result<(Columns, Vec<Printed>), PrintError> {
    let rows = items
        .iter()
        .enumerate()
        .map(|(i, item)| match item.object.downcast_ref::<T>() {
            Some(object) => print(object, ctx).into_result(),
            None => Err(unexpected(group, kind, i)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((columns, rows))
}

/// Printers that cannot fail return `Printed`; the few that can return a `Result`.
trait IntoPrintResult {
    fn into_result(self) -> Result<Printed, PrintError>;
}

impl IntoPrintResult for Printed {
    fn into_result(self) -> Result<Printed, PrintError> {
        Ok(self)
    }
}

impl IntoPrintResult for Result<Printed, PrintError> {
    fn into_result(self) -> Result<Printed, PrintError> {
        self
    }
}
