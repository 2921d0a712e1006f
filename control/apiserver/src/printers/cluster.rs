//! Printers for the remaining groups: autoscaling, policy, networking, discovery,
//! coordination, rbac, scheduling, node, storage and certificates.

use clipper_proto::Quantity;
use clipper_proto::api::autoscaling::v1::{HorizontalPodAutoscaler as HpaV1, Scale};
use clipper_proto::api::autoscaling::v2::{
    HorizontalPodAutoscaler as HpaV2, MetricSpec, MetricStatus, MetricTarget, MetricValueStatus,
    ResourceMetricSource,
};
use clipper_proto::api::certificates::v1::CertificateSigningRequest;
use clipper_proto::api::coordination::v1::Lease;
use clipper_proto::api::discovery::v1::EndpointSlice;
use clipper_proto::api::networking::v1::{
    IPAddress, Ingress, IngressClass, NetworkPolicy, ServiceCIDR,
};
use clipper_proto::api::node::v1::RuntimeClass;
use clipper_proto::api::policy::v1::PodDisruptionBudget;
use clipper_proto::api::rbac::v1::{ClusterRoleBinding, RoleBinding, RoleRef, Subject};
use clipper_proto::api::scheduling::v1::PriorityClass;
use clipper_proto::api::storage::v1::{
    CSIDriver, CSINode, CSIStorageCapacity, StorageClass, VolumeAttachment,
};

use super::core_v1::{LISTED_ENDPOINTS, load_balancer_addresses};
use super::format::{
    age, format_label_selector, human_duration, name, object_meta_doc, quantity_ptr, with_more,
};
use super::table::{TableColumnDefinition, age_column, column, field_column, name_column, wide};
use super::{Ctx, Printed};

fn api_column(
    name: &str,
    type_: &str,
    group_version: &str,
    definition: &str,
    field: &str,
) -> TableColumnDefinition {
    field_column(
        name,
        type_,
        &format!("io.k8s.api.{group_version}.{definition}"),
        field,
    )
}

// ---------------------------------------------------------------------------------------
// Horizontal pod autoscalers and scale

pub(crate) fn hpa_columns() -> Vec<TableColumnDefinition> {
    let spec = |name: &str, field: &str| {
        api_column(
            name,
            "string",
            "autoscaling.v2",
            "HorizontalPodAutoscalerSpec",
            field,
        )
    };
    vec![
        name_column(),
        spec("Reference", "scaleTargetRef"),
        spec("Targets", "metrics"),
        spec("MinPods", "minReplicas"),
        spec("MaxPods", "maxReplicas"),
        api_column(
            "Replicas",
            "string",
            "autoscaling.v2",
            "HorizontalPodAutoscalerStatus",
            "currentReplicas",
        ),
        age_column(),
    ]
}

/// How many metrics the Targets column lists before `+ N more...`.
const LISTED_METRICS: usize = 2;
/// The CPU utilization target autoscaling/v2 defaults an HPA without metrics to.
const DEFAULT_CPU_UTILIZATION: i32 = 80;
/// The v2 default of `minReplicas`.
const DEFAULT_MIN_REPLICAS: i32 = 1;

/// `formatHPAMetrics`: each metric as `current/target`, the first two, then `+ N more...`.
fn format_hpa_metrics(specs: &[MetricSpec], statuses: &[MetricStatus]) -> String {
    if specs.is_empty() {
        return "<none>".into();
    }
    let unknown = || "<unknown>".to_string();
    let mut list: Vec<String> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let status = statuses.get(i);
        let entry = match spec.type_.as_str() {
            "External" => spec.external.as_ref().map(|source| {
                let current = status.and_then(|s| s.external.as_ref()).map(|s| &s.current);
                value_or_average(&source.target, current)
            }),
            "Pods" => spec.pods.as_ref().map(|source| {
                let current = status
                    .and_then(|s| s.pods.as_ref())
                    .map_or_else(unknown, |s| quantity_ptr(s.current.average_value.as_ref()));
                format!(
                    "{current}/{}",
                    quantity_ptr(source.target.average_value.as_ref())
                )
            }),
            "Object" => spec.object.as_ref().map(|source| {
                let current = status.and_then(|s| s.object.as_ref()).map(|s| &s.current);
                value_or_average(&source.target, current)
            }),
            "Resource" => spec.resource.as_ref().map(|source| {
                let current = status.and_then(|s| s.resource.as_ref()).map(|s| &s.current);
                resource_metric(&source.name, &source.target, current)
            }),
            "ContainerResource" => spec.container_resource.as_ref().map(|source| {
                let current = status
                    .and_then(|s| s.container_resource.as_ref())
                    .map(|s| &s.current);
                resource_metric(&source.name, &source.target, current)
            }),
            _ => None,
        };
        list.push(entry.unwrap_or_else(|| "<unknown type>".into()));
    }
    let count = list.len();
    let more = count > LISTED_METRICS;
    list.truncate(LISTED_METRICS);
    let joined = list.join(", ");
    if more {
        format!("{joined} + {} more...", count - LISTED_METRICS)
    } else {
        joined
    }
}

/// External and Object metrics: `current/target (avg)` for an average-value target, else
/// `current/target` on the plain value.
fn value_or_average(target: &MetricTarget, current: Option<&MetricValueStatus>) -> String {
    match &target.average_value {
        Some(average) => {
            let current = current
                .and_then(|c| c.average_value.as_ref())
                .map_or_else(|| "<unknown>".into(), Quantity::to_string);
            format!("{current}/{average} (avg)")
        }
        None => {
            let current =
                current.map_or_else(|| "<unknown>".into(), |c| quantity_ptr(c.value.as_ref()));
            format!("{current}/{}", quantity_ptr(target.value.as_ref()))
        }
    }
}

/// Resource and ContainerResource metrics: `name: current/target`, utilization as `N%`.
fn resource_metric(
    resource: &str,
    target: &MetricTarget,
    current: Option<&MetricValueStatus>,
) -> String {
    match &target.average_value {
        Some(average) => {
            let current = current.map_or_else(
                || "<unknown>".into(),
                |c| quantity_ptr(c.average_value.as_ref()),
            );
            format!("{resource}: {current}/{average}")
        }
        None => {
            let current = current
                .and_then(|c| c.average_utilization)
                .map_or_else(|| "<unknown>".into(), |u| format!("{u}%"));
            let target = target
                .average_utilization
                .map_or_else(|| "<auto>".into(), |u| format!("{u}%"));
            format!("{resource}: {current}/{target}")
        }
    }
}

/// The metric an autoscaling/v2 HPA without metrics is defaulted to: CPU at 80%.
fn default_cpu_metric(utilization: i32) -> MetricSpec {
    MetricSpec {
        type_: "Resource".into(),
        resource: Some(ResourceMetricSource {
            name: "cpu".into(),
            target: MetricTarget {
                type_: "Utilization".into(),
                average_utilization: Some(utilization),
                ..MetricTarget::default()
            },
        }),
        ..MetricSpec::default()
    }
}

fn hpa_row(
    meta: &clipper_proto::api::meta::v1::ObjectMeta,
    reference: String,
    targets: String,
    min_replicas: Option<i32>,
    max_replicas: i32,
    current_replicas: i32,
    ctx: &Ctx,
) -> Printed {
    Printed::cells(vec![
        name(meta).into(),
        reference.into(),
        targets.into(),
        min_replicas
            .unwrap_or(DEFAULT_MIN_REPLICAS)
            .to_string()
            .into(),
        i64::from(max_replicas).into(),
        i64::from(current_replicas).into(),
        age(meta, ctx.now).into(),
    ])
}

pub(crate) fn print_hpa_v2(hpa: &HpaV2, ctx: &Ctx) -> Printed {
    let spec = hpa.spec.as_ref();
    let status = hpa.status.as_ref();
    let specs = spec
        .and_then(|s| s.metrics.clone())
        .filter(|m| !m.is_empty());
    let specs = specs.unwrap_or_else(|| vec![default_cpu_metric(DEFAULT_CPU_UTILIZATION)]);
    let statuses = status
        .and_then(|s| s.current_metrics.as_deref())
        .unwrap_or_default();
    let reference = spec.map_or_else(
        || "/".into(),
        |s| format!("{}/{}", s.scale_target_ref.kind, s.scale_target_ref.name),
    );
    hpa_row(
        &hpa.metadata,
        reference,
        format_hpa_metrics(&specs, statuses),
        spec.and_then(|s| s.min_replicas),
        spec.map_or(0, |s| s.max_replicas),
        status.and_then(|s| s.current_replicas).unwrap_or(0),
        ctx,
    )
}

/// autoscaling/v1 HPAs print through the v2 form they convert to: the CPU target (80% when
/// unset, the default of the stored v2 object) and the current CPU utilization.
pub(crate) fn print_hpa_v1(hpa: &HpaV1, ctx: &Ctx) -> Printed {
    let spec = hpa.spec.as_ref();
    let status = hpa.status.as_ref();
    let utilization = spec
        .and_then(|s| s.target_cpu_utilization_percentage)
        .unwrap_or(DEFAULT_CPU_UTILIZATION);
    let statuses: Vec<MetricStatus> = status
        .and_then(|s| s.current_cpu_utilization_percentage)
        .map(|current| MetricStatus {
            type_: "Resource".into(),
            resource: Some(clipper_proto::api::autoscaling::v2::ResourceMetricStatus {
                name: "cpu".into(),
                current: MetricValueStatus {
                    average_utilization: Some(current),
                    ..MetricValueStatus::default()
                },
            }),
            ..MetricStatus::default()
        })
        .into_iter()
        .collect();
    let reference = spec.map_or_else(
        || "/".into(),
        |s| format!("{}/{}", s.scale_target_ref.kind, s.scale_target_ref.name),
    );
    hpa_row(
        &hpa.metadata,
        reference,
        format_hpa_metrics(&[default_cpu_metric(utilization)], &statuses),
        spec.and_then(|s| s.min_replicas),
        spec.map_or(0, |s| s.max_replicas),
        status.map_or(0, |s| s.current_replicas),
        ctx,
    )
}

pub(crate) fn scale_columns() -> Vec<TableColumnDefinition> {
    // Kubernetes gives the scale table's Name column no `name` format.
    vec![
        column("Name", "string", object_meta_doc("name")),
        api_column(
            "Desired",
            "integer",
            "autoscaling.v1",
            "ScaleSpec",
            "replicas",
        ),
        api_column(
            "Available",
            "integer",
            "autoscaling.v1",
            "ScaleStatus",
            "replicas",
        ),
        age_column(),
    ]
}

pub(crate) fn print_scale(scale: &Scale, ctx: &Ctx) -> Printed {
    Printed::cells(vec![
        name(&scale.metadata).into(),
        i64::from(scale.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)).into(),
        i64::from(scale.status.as_ref().map_or(0, |s| s.replicas)).into(),
        age(&scale.metadata, ctx.now).into(),
    ])
}

// ---------------------------------------------------------------------------------------
// Pod disruption budgets

pub(crate) fn pdb_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(),
        column(
            "Min Available",
            "string",
            "The minimum number of pods that must be available.",
        ),
        column(
            "Max Unavailable",
            "string",
            "The maximum number of pods that may be unavailable.",
        ),
        column(
            "Allowed Disruptions",
            "integer",
            "Calculated number of pods that may be disrupted at this time.",
        ),
        age_column(),
    ]
}

pub(crate) fn print_pdb(pdb: &PodDisruptionBudget, ctx: &Ctx) -> Printed {
    let spec = pdb.spec.as_ref();
    let or_na = |v: Option<&clipper_proto::IntOrString>| {
        v.map_or_else(|| "N/A".to_string(), ToString::to_string)
    };
    Printed::cells(vec![
        name(&pdb.metadata).into(),
        or_na(spec.and_then(|s| s.min_available.as_ref())).into(),
        or_na(spec.and_then(|s| s.max_unavailable.as_ref())).into(),
        i64::from(pdb.status.as_ref().map_or(0, |s| s.disruptions_allowed)).into(),
        age(&pdb.metadata, ctx.now).into(),
    ])
}

// ---------------------------------------------------------------------------------------
// Networking

pub(crate) fn ingress_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(),
        column(
            "Class",
            "string",
            "The name of the IngressClass resource that should be used for additional configuration",
        ),
        column(
            "Hosts",
            "string",
            "Hosts that incoming requests are matched against before the ingress rule",
        ),
        column(
            "Address",
            "string",
            "Address is a list containing ingress points for the load-balancer",
        ),
        column("Ports", "string", "Ports of TLS configurations that open"),
        age_column(),
    ]
}

/// How many hosts the Hosts column lists before `+ N more...`.
const LISTED_HOSTS: usize = 3;

pub(crate) fn print_ingress(ing: &Ingress, ctx: &Ctx) -> Printed {
    let spec = ing.spec.as_ref();
    let rules = spec.and_then(|s| s.rules.as_deref()).unwrap_or_default();
    // formatHosts: once three hosts are listed, every further rule (even host-less) counts.
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    for rule in rules {
        if list.len() == LISTED_HOSTS {
            more = true;
        }
        if let Some(host) = rule.host.as_deref().filter(|h| !more && !h.is_empty()) {
            list.push(host.to_string());
        }
    }
    let hosts = if list.is_empty() {
        "*".to_string()
    } else {
        with_more(&list, more, rules.len(), LISTED_HOSTS)
    };
    let ingress = ing
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_deref())
        .unwrap_or_default();
    let address = load_balancer_addresses(
        ingress
            .iter()
            .map(|i| (i.ip.as_deref(), i.hostname.as_deref())),
    );
    let ports = if spec
        .and_then(|s| s.tls.as_ref())
        .is_some_and(|t| !t.is_empty())
    {
        "80, 443"
    } else {
        "80"
    };
    Printed::cells(vec![
        name(&ing.metadata).into(),
        spec.and_then(|s| s.ingress_class_name.as_deref())
            .unwrap_or("<none>")
            .into(),
        hosts.into(),
        address.into(),
        ports.into(),
        age(&ing.metadata, ctx.now).into(),
    ])
}

pub(crate) fn ingress_class_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(),
        column(
            "Controller",
            "string",
            "Controller that is responsible for handling this class",
        ),
        column(
            "Parameters",
            "string",
            "A reference to a resource with additional parameters",
        ),
        age_column(),
    ]
}

pub(crate) fn print_ingress_class(ic: &IngressClass, ctx: &Ctx) -> Printed {
    let spec = ic.spec.as_ref();
    let parameters = spec.and_then(|s| s.parameters.as_ref()).map_or_else(
        || "<none>".to_string(),
        |p| match p.api_group.as_deref() {
            Some(group) => format!("{}.{group}/{}", p.kind, p.name),
            None => format!("{}/{}", p.kind, p.name),
        },
    );
    Printed::cells(vec![
        name(&ic.metadata).into(),
        spec.and_then(|s| s.controller.clone())
            .unwrap_or_default()
            .into(),
        parameters.into(),
        age(&ic.metadata, ctx.now).into(),
    ])
}

pub(crate) fn network_policy_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(),
        api_column(
            "Pod-Selector",
            "string",
            "networking.v1",
            "NetworkPolicySpec",
            "podSelector",
        ),
        age_column(),
    ]
}

pub(crate) fn print_network_policy(np: &NetworkPolicy, ctx: &Ctx) -> Printed {
    // The pod selector is a struct, never nil: an absent one is the empty selector.
    let empty = clipper_proto::api::meta::v1::LabelSelector::default();
    let selector = np.spec.as_ref().map_or(&empty, |s| &s.pod_selector);
    Printed::cells(vec![
        name(&np.metadata).into(),
        format_label_selector(Some(selector)).into(),
        age(&np.metadata, ctx.now).into(),
    ])
}

pub(crate) fn service_cidr_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(),
        api_column(
            "CIDRs",
            "string",
            "networking.v1",
            "ServiceCIDRSpec",
            "cidrs",
        ),
        age_column(),
    ]
}

pub(crate) fn print_service_cidr(cidr: &ServiceCIDR, ctx: &Ctx) -> Printed {
    let cidrs = cidr
        .spec
        .as_ref()
        .and_then(|s| s.cidrs.as_deref())
        .unwrap_or_default()
        .join(",");
    Printed::cells(vec![
        name(&cidr.metadata).into(),
        cidrs.into(),
        age(&cidr.metadata, ctx.now).into(),
    ])
}

pub(crate) fn ip_address_columns() -> Vec<TableColumnDefinition> {
    // Kubernetes 1.33 declares two columns but prints three cells (the age has no column).
    vec![
        name_column(),
        api_column(
            "ParentRef",
            "string",
            "networking.v1",
            "IPAddressSpec",
            "parentRef",
        ),
    ]
}

pub(crate) fn print_ip_address(ip: &IPAddress, ctx: &Ctx) -> Printed {
    let parent = ip.spec.as_ref().map_or_else(
        || "<none>".to_string(),
        |s| {
            let r = &s.parent_ref;
            // schema.GroupResource.String(), lower-cased.
            let group = r.group.as_deref().unwrap_or_default();
            let mut out = if group.is_empty() {
                r.resource.clone()
            } else {
                format!("{}.{group}", r.resource)
            };
            out = out.to_lowercase();
            if let Some(ns) = r.namespace.as_deref().filter(|ns| !ns.is_empty()) {
                out.push('/');
                out.push_str(ns);
            }
            out.push('/');
            out.push_str(&r.name);
            out
        },
    );
    Printed::cells(vec![
        name(&ip.metadata).into(),
        parent.into(),
        age(&ip.metadata, ctx.now).into(),
    ])
}

// ---------------------------------------------------------------------------------------
// Endpoint slices

pub(crate) fn endpoint_slice_columns() -> Vec<TableColumnDefinition> {
    let slice = |name: &str, field: &str| {
        api_column(name, "string", "discovery.v1", "EndpointSlice", field)
    };
    vec![
        name_column(),
        slice("AddressType", "addressType"),
        slice("Ports", "ports"),
        slice("Endpoints", "endpoints"),
        age_column(),
    ]
}

/// `listWithMoreString`: the list with `+ N more...`, `<unset>` when empty.
fn list_or_unset(list: &[String], more: bool, count: usize) -> String {
    let ret = with_more(list, more, count, LISTED_ENDPOINTS);
    if ret.is_empty() {
        "<unset>".into()
    } else {
        ret
    }
}

pub(crate) fn print_endpoint_slice(slice: &EndpointSlice, ctx: &Ctx) -> Printed {
    let mut ports = Vec::new();
    let mut more_ports = false;
    let all_ports = slice.ports.as_deref().unwrap_or_default();
    for port in all_ports {
        if ports.len() < LISTED_ENDPOINTS {
            ports.push(match (port.port, port.name.as_deref()) {
                (Some(p), _) => p.to_string(),
                (None, Some(name)) => name.to_string(),
                (None, None) => "*".to_string(),
            });
        } else {
            more_ports = true;
        }
    }
    let mut addresses = Vec::new();
    let mut more_addresses = false;
    let mut count = 0usize;
    for address in slice.endpoints.iter().flat_map(|e| e.addresses.iter()) {
        if addresses.len() < LISTED_ENDPOINTS {
            addresses.push(address.clone());
        } else {
            more_addresses = true;
        }
        count += 1;
    }
    Printed::cells(vec![
        name(&slice.metadata).into(),
        slice.address_type.clone().into(),
        list_or_unset(&ports, more_ports, all_ports.len()).into(),
        list_or_unset(&addresses, more_addresses, count).into(),
        age(&slice.metadata, ctx.now).into(),
    ])
}

// ---------------------------------------------------------------------------------------
// Leases, RBAC bindings, priority and runtime classes

pub(crate) fn lease_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(),
        api_column(
            "Holder",
            "string",
            "coordination.v1",
            "LeaseSpec",
            "holderIdentity",
        ),
        age_column(),
    ]
}

pub(crate) fn print_lease(lease: &Lease, ctx: &Ctx) -> Printed {
    let holder = lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.clone())
        .unwrap_or_default();
    Printed::cells(vec![
        name(&lease.metadata).into(),
        holder.into(),
        age(&lease.metadata, ctx.now).into(),
    ])
}

/// The binding columns; `noun` is how the wide columns' descriptions name the kind.
pub(crate) fn role_binding_columns(noun: &str) -> Vec<TableColumnDefinition> {
    let kind = if noun == "roleBinding" {
        "RoleBinding"
    } else {
        "ClusterRoleBinding"
    };
    vec![
        name_column(),
        api_column("Role", "string", "rbac.v1", kind, "roleRef"),
        age_column(),
        wide(column("Users", "string", format!("Users in the {noun}"))),
        wide(column("Groups", "string", format!("Groups in the {noun}"))),
        wide(column(
            "ServiceAccounts",
            "string",
            format!("ServiceAccounts in the {noun}"),
        )),
    ]
}

fn print_binding(
    meta: &clipper_proto::api::meta::v1::ObjectMeta,
    role_ref: &RoleRef,
    subjects: &[Subject],
    ctx: &Ctx,
) -> Printed {
    let mut users = Vec::new();
    let mut groups = Vec::new();
    let mut service_accounts = Vec::new();
    for s in subjects {
        match s.kind.as_str() {
            "ServiceAccount" => {
                service_accounts.push(format!(
                    "{}/{}",
                    s.namespace.as_deref().unwrap_or_default(),
                    s.name
                ));
            }
            "User" => users.push(s.name.clone()),
            "Group" => groups.push(s.name.clone()),
            _ => {}
        }
    }
    Printed::cells(vec![
        name(meta).into(),
        format!("{}/{}", role_ref.kind, role_ref.name).into(),
        age(meta, ctx.now).into(),
        users.join(", ").into(),
        groups.join(", ").into(),
        service_accounts.join(", ").into(),
    ])
}

pub(crate) fn print_role_binding(rb: &RoleBinding, ctx: &Ctx) -> Printed {
    print_binding(
        &rb.metadata,
        &rb.role_ref,
        rb.subjects.as_deref().unwrap_or_default(),
        ctx,
    )
}

pub(crate) fn print_cluster_role_binding(crb: &ClusterRoleBinding, ctx: &Ctx) -> Printed {
    print_binding(
        &crb.metadata,
        &crb.role_ref,
        crb.subjects.as_deref().unwrap_or_default(),
        ctx,
    )
}

pub(crate) fn priority_class_columns() -> Vec<TableColumnDefinition> {
    let field = |name: &str, type_: &str, f: &str| {
        api_column(name, type_, "scheduling.v1", "PriorityClass", f)
    };
    vec![
        name_column(),
        field("Value", "integer", "value"),
        field("Global-Default", "boolean", "globalDefault"),
        age_column(),
        wide(field("PreemptionPolicy", "string", "preemptionPolicy")),
    ]
}

pub(crate) fn print_priority_class(pc: &PriorityClass, ctx: &Ctx) -> Printed {
    Printed::cells(vec![
        name(&pc.metadata).into(),
        i64::from(pc.value).into(),
        pc.global_default.unwrap_or(false).into(),
        age(&pc.metadata, ctx.now).into(),
        // The v1 default of preemptionPolicy.
        pc.preemption_policy
            .as_deref()
            .unwrap_or("PreemptLowerPriority")
            .into(),
    ])
}

pub(crate) fn runtime_class_columns() -> Vec<TableColumnDefinition> {
    // Kubernetes describes Handler with ObjectMeta's (absent) doc of "handler": empty.
    vec![
        name_column(),
        column("Handler", "string", object_meta_doc("handler")),
        age_column(),
    ]
}

pub(crate) fn print_runtime_class(rc: &RuntimeClass, ctx: &Ctx) -> Printed {
    Printed::cells(vec![
        name(&rc.metadata).into(),
        rc.handler.clone().into(),
        age(&rc.metadata, ctx.now).into(),
    ])
}

// ---------------------------------------------------------------------------------------
// Storage

/// Annotations marking the default storage class (GA and beta).
const DEFAULT_CLASS_ANNOTATIONS: [&str; 2] = [
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
];

pub(crate) fn storage_class_columns() -> Vec<TableColumnDefinition> {
    let field = |name: &str, f: &str| api_column(name, "string", "storage.v1", "StorageClass", f);
    vec![
        name_column(),
        field("Provisioner", "provisioner"),
        field("ReclaimPolicy", "reclaimPolicy"),
        field("VolumeBindingMode", "volumeBindingMode"),
        field("AllowVolumeExpansion", "allowVolumeExpansion"),
        age_column(),
    ]
}

pub(crate) fn print_storage_class(sc: &StorageClass, ctx: &Ctx) -> Printed {
    let annotations = sc.metadata.annotations.as_ref();
    let is_default = DEFAULT_CLASS_ANNOTATIONS.iter().any(|a| {
        annotations
            .and_then(|m| m.get(*a))
            .is_some_and(|v| v == "true")
    });
    let mut display = name(&sc.metadata);
    if is_default {
        display.push_str(" (default)");
    }
    Printed::cells(vec![
        display.into(),
        sc.provisioner.clone().into(),
        sc.reclaim_policy.as_deref().unwrap_or("Delete").into(),
        sc.volume_binding_mode
            .as_deref()
            .unwrap_or("Immediate")
            .into(),
        sc.allow_volume_expansion.unwrap_or(false).into(),
        age(&sc.metadata, ctx.now).into(),
    ])
}

pub(crate) fn volume_attachment_columns() -> Vec<TableColumnDefinition> {
    let mut attacher = api_column(
        "Attacher",
        "string",
        "storage.v1",
        "VolumeAttachmentSpec",
        "attacher",
    );
    attacher.format = "name".into();
    vec![
        name_column(),
        attacher,
        api_column(
            "PV",
            "string",
            "storage.v1",
            "VolumeAttachmentSource",
            "persistentVolumeName",
        ),
        api_column(
            "Node",
            "string",
            "storage.v1",
            "VolumeAttachmentSpec",
            "nodeName",
        ),
        api_column(
            "Attached",
            "boolean",
            "storage.v1",
            "VolumeAttachmentStatus",
            "attached",
        ),
        age_column(),
    ]
}

pub(crate) fn print_volume_attachment(va: &VolumeAttachment, ctx: &Ctx) -> Printed {
    Printed::cells(vec![
        name(&va.metadata).into(),
        va.spec.attacher.clone().into(),
        va.spec
            .source
            .persistent_volume_name
            .clone()
            .unwrap_or_default()
            .into(),
        va.spec.node_name.clone().into(),
        va.status.as_ref().is_some_and(|s| s.attached).into(),
        age(&va.metadata, ctx.now).into(),
    ])
}

pub(crate) fn csi_node_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(),
        column(
            "Drivers",
            "integer",
            "Drivers indicates the number of CSI drivers registered on the node",
        ),
        age_column(),
    ]
}

pub(crate) fn print_csi_node(node: &CSINode, ctx: &Ctx) -> Printed {
    Printed::cells(vec![
        name(&node.metadata).into(),
        i64::try_from(node.spec.drivers.len())
            .unwrap_or(i64::MAX)
            .into(),
        age(&node.metadata, ctx.now).into(),
    ])
}

pub(crate) fn csi_driver_columns() -> Vec<TableColumnDefinition> {
    let field = |name: &str, type_: &str, f: &str| {
        api_column(name, type_, "storage.v1", "CSIDriverSpec", f)
    };
    vec![
        name_column(),
        field("AttachRequired", "boolean", "attachRequired"),
        field("PodInfoOnMount", "boolean", "podInfoOnMount"),
        field("StorageCapacity", "boolean", "storageCapacity"),
        field("TokenRequests", "string", "tokenRequests"),
        field("RequiresRepublish", "boolean", "requiresRepublish"),
        field("Modes", "string", "volumeLifecycleModes"),
        age_column(),
    ]
}

pub(crate) fn print_csi_driver(driver: &CSIDriver, ctx: &Ctx) -> Printed {
    let spec = &driver.spec;
    let modes = spec
        .volume_lifecycle_modes
        .as_deref()
        .unwrap_or_default()
        .join(",");
    let token_requests = spec.token_requests.as_ref().map_or_else(
        || "<unset>".to_string(),
        |t| {
            t.iter()
                .map(|r| r.audience.as_str())
                .collect::<Vec<_>>()
                .join(",")
        },
    );
    Printed::cells(vec![
        name(&driver.metadata).into(),
        spec.attach_required.unwrap_or(true).into(),
        spec.pod_info_on_mount.unwrap_or(false).into(),
        spec.storage_capacity.unwrap_or(false).into(),
        token_requests.into(),
        spec.requires_republish.unwrap_or(false).into(),
        (if modes.is_empty() {
            "<none>".to_string()
        } else {
            modes
        })
        .into(),
        age(&driver.metadata, ctx.now).into(),
    ])
}

pub(crate) fn csi_storage_capacity_columns() -> Vec<TableColumnDefinition> {
    let field =
        |name: &str, f: &str| api_column(name, "string", "storage.v1", "CSIStorageCapacity", f);
    vec![
        name_column(),
        field("StorageClassName", "storageClassName"),
        field("Capacity", "capacity"),
    ]
}

pub(crate) fn print_csi_storage_capacity(c: &CSIStorageCapacity, _ctx: &Ctx) -> Printed {
    let capacity = c
        .capacity
        .as_ref()
        .map_or_else(|| "<unset>".to_string(), Quantity::to_string);
    Printed::cells(vec![
        name(&c.metadata).into(),
        c.storage_class_name.clone().into(),
        capacity.into(),
    ])
}

// ---------------------------------------------------------------------------------------
// Certificate signing requests

pub(crate) fn csr_columns() -> Vec<TableColumnDefinition> {
    let spec = |name: &str, f: &str| {
        api_column(
            name,
            "string",
            "certificates.v1",
            "CertificateSigningRequestSpec",
            f,
        )
    };
    vec![
        name_column(),
        age_column(),
        spec("SignerName", "signerName"),
        spec("Requestor", "request"),
        spec("RequestedDuration", "expirationSeconds"),
        api_column(
            "Condition",
            "string",
            "certificates.v1",
            "CertificateSigningRequestStatus",
            "conditions",
        ),
    ]
}

pub(crate) fn print_csr(csr: &CertificateSigningRequest, ctx: &Ctx) -> Printed {
    let status = csr.status.as_ref();
    let conditions = status
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let has = |t: &str| conditions.iter().any(|c| c.type_ == t);
    let mut state = if has("Denied") {
        "Denied".to_string()
    } else if has("Approved") {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if has("Failed") {
        state.push_str(",Failed");
    }
    if status
        .and_then(|s| s.certificate.as_ref())
        .is_some_and(|c| !c.0.is_empty())
    {
        state.push_str(",Issued");
    }
    let signer = if csr.spec.signer_name.is_empty() {
        "<none>".to_string()
    } else {
        csr.spec.signer_name.clone()
    };
    let requested = csr.spec.expiration_seconds.map_or_else(
        || "<none>".to_string(),
        |s| human_duration(i64::from(s).saturating_mul(1_000_000)),
    );
    Printed::cells(vec![
        name(&csr.metadata).into(),
        age(&csr.metadata, ctx.now).into(),
        signer.into(),
        csr.spec.username.clone().unwrap_or_default().into(),
        requested.into(),
        state.into(),
    ])
}
