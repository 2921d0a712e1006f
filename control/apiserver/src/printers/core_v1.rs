//! Printers for the core group: pods (with kubectl's STATUS/RESTARTS computation), nodes,
//! services, endpoints, events (core and events.k8s.io), namespaces, config maps, secrets,
//! service accounts, volumes and claims, replication controllers, pod templates, quotas.

use std::collections::{BTreeMap, BTreeSet};

use clipper_proto::api::core::v1::{
    ConfigMap, ContainerStatus, Endpoints, Event, EventSource, Namespace, Node, PersistentVolume,
    PersistentVolumeClaim, Pod, PodCondition, PodTemplate, ReplicationController, ResourceQuota,
    Secret, Service, ServiceAccount,
};
use clipper_proto::api::events::v1::Event as EventsEvent;
use clipper_proto::{MicroTime, Time};
use serde_json::Value;

use super::format::{
    GO_ZERO_TIME_UNIX, access_modes, age, container_cells, format_labels, is_zero, join_host_port,
    name, quantity_in, since, since_micro, with_more,
};
use super::table::{
    TableColumnDefinition, TableRowCondition, age_column, column, container_columns, field_column,
    name_column, wide,
};
use super::{Ctx, Printed};

const CORE: &str = "io.k8s.api.core.v1.";

fn core_column(name: &str, type_: &str, definition: &str, field: &str) -> TableColumnDefinition {
    field_column(name, type_, &format!("{CORE}{definition}"), field)
}

/// Replicas when `spec.replicas` is unset: the v1 default applied on decode.
pub(crate) const DEFAULT_REPLICAS: i32 = 1;

// ---------------------------------------------------------------------------------------
// Pods

pub(crate) fn pod_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(),
        column(
            "Ready",
            "string",
            "The aggregate readiness state of this pod for accepting traffic.",
        ),
        column(
            "Status",
            "string",
            "The aggregate status of the containers in this pod.",
        ),
        column(
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        ),
        age_column(),
        wide(core_column("IP", "string", "PodStatus", "podIP")),
        wide(core_column("Node", "string", "PodSpec", "nodeName")),
        wide(core_column(
            "Nominated Node",
            "string",
            "PodStatus",
            "nominatedNodeName",
        )),
        wide(core_column(
            "Readiness Gates",
            "string",
            "PodSpec",
            "readinessGates",
        )),
    ]
}

/// `node.NodeUnreachablePodReason`: the reason the node lifecycle controller sets on pods of an
/// unreachable node.
const NODE_UNREACHABLE_POD_REASON: &str = "NodeLost";

fn condition_true(conditions: &[PodCondition], type_: &str) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == "True")
}

/// The finish time of a container's previous run, if it has one.
fn last_termination(status: &ContainerStatus) -> Option<Time> {
    let terminated = status.last_state.as_ref()?.terminated.as_ref()?;
    Some(terminated.finished_at.unwrap_or(Time(GO_ZERO_TIME_UNIX)))
}

/// `lastRestartDate.Before(&terminatedDate)`, with unset as Go's zero time.
fn later(current: Option<Time>, candidate: Option<Time>) -> Option<Time> {
    let zero = GO_ZERO_TIME_UNIX;
    match candidate {
        Some(c) if c.0 > current.map_or(zero, |t| t.0) => Some(c),
        _ => current,
    }
}

pub(crate) fn print_pod(pod: &Pod, ctx: &Ctx) -> Printed {
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let containers = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
    let init_containers = spec
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or_default();
    let conditions = status
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or_default();
    let status_reason = status.and_then(|s| s.reason.as_deref()).unwrap_or_default();

    let mut restarts: i64 = 0;
    let mut restartable_init_restarts: i64 = 0;
    let mut total_containers = containers.len();
    let mut ready_containers = 0usize;
    let mut last_restart: Option<Time> = None;
    let mut last_restartable_init_restart: Option<Time> = None;

    let mut reason = if status_reason.is_empty() {
        phase.to_string()
    } else {
        status_reason.to_string()
    };
    if conditions
        .iter()
        .any(|c| c.type_ == "PodScheduled" && c.reason.as_deref() == Some("SchedulingGated"))
    {
        reason = "SchedulingGated".into();
    }

    let mut conditions_out = Vec::new();
    match phase {
        "Succeeded" => conditions_out.push(completed_condition(
            "Succeeded",
            "The pod has completed successfully.",
        )),
        "Failed" => conditions_out.push(completed_condition("Failed", "The pod failed.")),
        _ => {}
    }

    let restartable: BTreeSet<&str> = init_containers
        .iter()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .map(|c| c.name.as_str())
        .collect();
    // Kubernetes keys init containers by name; duplicates (invalid) count once per entry.
    total_containers += init_containers
        .iter()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .count();

    let mut initializing = false;
    let init_statuses = status
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or_default();
    for (i, container) in init_statuses.iter().enumerate() {
        let is_restartable = restartable.contains(container.name.as_str());
        restarts += i64::from(container.restart_count);
        last_restart = later(last_restart, last_termination(container));
        if is_restartable {
            restartable_init_restarts += i64::from(container.restart_count);
            last_restartable_init_restart =
                later(last_restartable_init_restart, last_termination(container));
        }
        let state = container.state.as_ref();
        let terminated = state.and_then(|s| s.terminated.as_ref());
        let waiting_reason = state
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.as_deref());
        match terminated {
            Some(t) if t.exit_code == 0 => continue,
            _ if is_restartable && container.started == Some(true) => {
                if container.ready {
                    ready_containers += 1;
                }
                continue;
            }
            Some(t) => {
                reason = match t.reason.as_deref() {
                    Some(r) if !r.is_empty() => format!("Init:{r}"),
                    _ => match t.signal {
                        Some(signal) if signal != 0 => format!("Init:Signal:{signal}"),
                        _ => format!("Init:ExitCode:{}", t.exit_code),
                    },
                };
            }
            None => match waiting_reason {
                Some(r) if !r.is_empty() && r != "PodInitializing" => reason = format!("Init:{r}"),
                _ => reason = format!("Init:{i}/{}", init_containers.len()),
            },
        }
        initializing = true;
        break;
    }

    if !initializing || initialized_condition_true(conditions) {
        restarts = restartable_init_restarts;
        last_restart = last_restartable_init_restart;
        let mut has_running = false;
        let statuses = status
            .and_then(|s| s.container_statuses.as_deref())
            .unwrap_or_default();
        for container in statuses.iter().rev() {
            restarts += i64::from(container.restart_count);
            last_restart = later(last_restart, last_termination(container));
            let state = container.state.as_ref();
            let waiting_reason = state
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref());
            let terminated = state.and_then(|s| s.terminated.as_ref());
            if let Some(r) = waiting_reason.filter(|r| !r.is_empty()) {
                reason = r.to_string();
            } else if let Some(t) = terminated {
                reason = match t.reason.as_deref() {
                    Some(r) if !r.is_empty() => r.to_string(),
                    _ => match t.signal {
                        Some(signal) if signal != 0 => format!("Signal:{signal}"),
                        _ => format!("ExitCode:{}", t.exit_code),
                    },
                };
            } else if container.ready && state.is_some_and(|s| s.running.is_some()) {
                has_running = true;
                ready_containers += 1;
            }
        }
        // A pod with a container still running is not "Completed".
        if reason == "Completed" && has_running {
            reason = if condition_true(conditions, "Ready") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    if pod.metadata.deletion_timestamp.is_some() && status_reason == NODE_UNREACHABLE_POD_REASON {
        reason = "Unknown".into();
    } else if pod.metadata.deletion_timestamp.is_some() && phase != "Succeeded" && phase != "Failed"
    {
        reason = "Terminating".into();
    }

    let restarts_cell = if restarts != 0 && !is_zero(last_restart) {
        format!("{restarts} ({} ago)", since(last_restart, ctx.now))
    } else {
        restarts.to_string()
    };

    let pod_ip = first_pod_ip(pod);
    let node_name = spec
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default();
    let nominated = status
        .and_then(|s| s.nominated_node_name.as_deref())
        .unwrap_or_default();
    let gates = spec
        .and_then(|s| s.readiness_gates.as_deref())
        .unwrap_or_default();
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let ready = gates
            .iter()
            .filter(|g| {
                conditions
                    .iter()
                    .find(|c| c.type_ == g.condition_type)
                    .is_some_and(|c| c.status == "True")
            })
            .count();
        format!("{ready}/{}", gates.len())
    };

    Printed {
        cells: vec![
            name(&pod.metadata).into(),
            format!("{ready_containers}/{total_containers}").into(),
            reason.into(),
            restarts_cell.into(),
            age(&pod.metadata, ctx.now).into(),
            or_none(&pod_ip).into(),
            or_none(node_name).into(),
            or_none(nominated).into(),
            readiness_gates.into(),
        ],
        conditions: conditions_out,
    }
}

/// `isPodInitializedConditionTrue` looks at the first `Initialized` condition only.
fn initialized_condition_true(conditions: &[PodCondition]) -> bool {
    conditions
        .iter()
        .find(|c| c.type_ == "Initialized")
        .is_some_and(|c| c.status == "True")
}

fn completed_condition(reason: &str, message: &str) -> TableRowCondition {
    TableRowCondition {
        type_: "Completed".into(),
        status: "True".into(),
        reason: reason.into(),
        message: message.into(),
    }
}

/// The pod's primary IP as the internal type has it after conversion: `podIP` when set
/// (it is authoritative), else the first of `podIPs`.
fn first_pod_ip(pod: &Pod) -> String {
    let status = pod.status.as_ref();
    match status
        .and_then(|s| s.pod_ip.as_deref())
        .filter(|ip| !ip.is_empty())
    {
        Some(ip) => ip.to_string(),
        None => status
            .and_then(|s| s.pod_ips.as_deref())
            .and_then(|ips| ips.first())
            .map(|ip| ip.ip.clone())
            .unwrap_or_default(),
    }
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".into()
    } else {
        s.to_string()
    }
}

// ---------------------------------------------------------------------------------------
// Pod templates and replication controllers

pub(crate) fn pod_template_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(),
        column(
            "Containers",
            "string",
            "Names of each container in the template.",
        ),
        column(
            "Images",
            "string",
            "Images referenced by each container in the template.",
        ),
        column("Pod Labels", "string", "The labels for the pod template."),
    ]
}

pub(crate) fn print_pod_template(obj: &PodTemplate, _ctx: &Ctx) -> Printed {
    let template = obj.template.as_ref();
    let containers = template
        .and_then(|t| t.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let (names, images) = container_cells(containers);
    let labels = template
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.as_ref());
    Printed::cells(vec![
        name(&obj.metadata).into(),
        names.into(),
        images.into(),
        format_labels(labels).into(),
    ])
}

pub(crate) fn replication_controller_columns() -> Vec<TableColumnDefinition> {
    let [containers, images] = container_columns();
    vec![
        name_column(),
        core_column(
            "Desired",
            "integer",
            "ReplicationControllerSpec",
            "replicas",
        ),
        core_column(
            "Current",
            "integer",
            "ReplicationControllerStatus",
            "replicas",
        ),
        core_column(
            "Ready",
            "integer",
            "ReplicationControllerStatus",
            "readyReplicas",
        ),
        age_column(),
        containers,
        images,
        wide(core_column(
            "Selector",
            "string",
            "ReplicationControllerSpec",
            "selector",
        )),
    ]
}

pub(crate) fn print_replication_controller(obj: &ReplicationController, ctx: &Ctx) -> Printed {
    let spec = obj.spec.as_ref();
    let status = obj.status.as_ref();
    let desired = spec.and_then(|s| s.replicas).unwrap_or(DEFAULT_REPLICAS);
    let containers = spec
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let (names, images) = container_cells(containers);
    Printed::cells(vec![
        name(&obj.metadata).into(),
        i64::from(desired).into(),
        i64::from(status.map_or(0, |s| s.replicas)).into(),
        i64::from(status.and_then(|s| s.ready_replicas).unwrap_or(0)).into(),
        age(&obj.metadata, ctx.now).into(),
        names.into(),
        images.into(),
        format_labels(spec.and_then(|s| s.selector.as_ref())).into(),
    ])
}

// ---------------------------------------------------------------------------------------
// Services and endpoints

pub(crate) fn service_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(),
        core_column("Type", "string", "ServiceSpec", "type"),
        core_column("Cluster-IP", "string", "ServiceSpec", "clusterIP"),
        core_column("External-IP", "string", "ServiceSpec", "externalIPs"),
        core_column("Port(s)", "string", "ServiceSpec", "ports"),
        age_column(),
        wide(core_column("Selector", "string", "ServiceSpec", "selector")),
    ]
}

/// The v1 default of `spec.type`.
const DEFAULT_SERVICE_TYPE: &str = "ClusterIP";
/// The v1 default of a port's `protocol`.
const DEFAULT_PROTOCOL: &str = "TCP";

/// `loadBalancerStatusStringer` with `wide` (the API server always prints wide, so the value
/// is never clipped): the distinct IPs or else hostnames, sorted, joined by `,`.
pub(crate) fn load_balancer_addresses<'a>(
    ingress: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> String {
    let set: BTreeSet<&str> = ingress
        .filter_map(|(ip, hostname)| {
            match (
                ip.filter(|s| !s.is_empty()),
                hostname.filter(|s| !s.is_empty()),
            ) {
                (Some(ip), _) => Some(ip),
                (None, Some(h)) => Some(h),
                (None, None) => None,
            }
        })
        .collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}

pub(crate) fn print_service(svc: &Service, ctx: &Ctx) -> Printed {
    let spec = svc.spec.as_ref();
    let type_ = spec
        .and_then(|s| s.type_.as_deref())
        .unwrap_or(DEFAULT_SERVICE_TYPE);
    // After conversion clusterIP is authoritative and heads clusterIPs.
    let cluster_ip = spec
        .and_then(|s| s.cluster_ip.as_deref().filter(|ip| !ip.is_empty()))
        .or_else(|| {
            spec.and_then(|s| s.cluster_ips.as_deref())
                .and_then(|ips| ips.first())
                .map(String::as_str)
        })
        .unwrap_or("<none>");
    let external_ips = spec
        .and_then(|s| s.external_ips.as_deref())
        .unwrap_or_default();
    let external = match type_ {
        "ClusterIP" | "NodePort" => {
            if external_ips.is_empty() {
                "<none>".to_string()
            } else {
                external_ips.join(",")
            }
        }
        "LoadBalancer" => {
            let ingress = svc
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_deref())
                .unwrap_or_default();
            let lb = load_balancer_addresses(
                ingress
                    .iter()
                    .map(|i| (i.ip.as_deref(), i.hostname.as_deref())),
            );
            if !external_ips.is_empty() {
                let mut all: Vec<&str> = if lb.is_empty() {
                    Vec::new()
                } else {
                    lb.split(',').collect()
                };
                all.extend(external_ips.iter().map(String::as_str));
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".into()
            }
        }
        "ExternalName" => spec
            .and_then(|s| s.external_name.clone())
            .unwrap_or_default(),
        _ => "<unknown>".into(),
    };
    let ports = spec
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let protocol = p.protocol.as_deref().unwrap_or(DEFAULT_PROTOCOL);
            match p.node_port.filter(|n| *n > 0) {
                Some(node_port) => format!("{}:{node_port}/{protocol}", p.port),
                None => format!("{}/{protocol}", p.port),
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    Printed::cells(vec![
        name(&svc.metadata).into(),
        type_.into(),
        cluster_ip.into(),
        external.into(),
        (if ports.is_empty() {
            "<none>".to_string()
        } else {
            ports
        })
        .into(),
        age(&svc.metadata, ctx.now).into(),
        format_labels(spec.and_then(|s| s.selector.as_ref())).into(),
    ])
}

pub(crate) fn endpoints_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(),
        core_column("Endpoints", "string", "Endpoints", "subsets"),
        age_column(),
    ]
}

/// How many endpoints the Endpoints and EndpointSlice columns list before `+ N more...`.
pub(crate) const LISTED_ENDPOINTS: usize = 3;

/// `formatEndpoints` with every port: `ip:port` for each address and port (just `ip` for
/// subsets without ports), the first three, then `+ N more...`; `<none>` without subsets.
fn format_endpoints(endpoints: &Endpoints) -> String {
    let subsets = endpoints.subsets.as_deref().unwrap_or_default();
    if subsets.is_empty() {
        return "<none>".into();
    }
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    for subset in subsets {
        let addresses = subset.addresses.as_deref().unwrap_or_default();
        let ports = subset.ports.as_deref().unwrap_or_default();
        if ports.is_empty() {
            count += addresses.len();
            for address in addresses {
                if list.len() == LISTED_ENDPOINTS {
                    more = true;
                    break;
                }
                list.push(address.ip.clone());
            }
            continue;
        }
        for port in ports {
            count += addresses.len();
            for address in addresses {
                if list.len() == LISTED_ENDPOINTS {
                    more = true;
                    break;
                }
                list.push(join_host_port(&address.ip, port.port));
            }
        }
    }
    with_more(&list, more, count, LISTED_ENDPOINTS)
}

pub(crate) fn print_endpoints(obj: &Endpoints, ctx: &Ctx) -> Printed {
    Printed::cells(vec![
        name(&obj.metadata).into(),
        format_endpoints(obj).into(),
        age(&obj.metadata, ctx.now).into(),
    ])
}

// ---------------------------------------------------------------------------------------
// Nodes

pub(crate) fn node_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(),
        column("Status", "string", "The status of the node"),
        column("Roles", "string", "The roles of the node"),
        age_column(),
        core_column("Version", "string", "NodeSystemInfo", "kubeletVersion"),
        wide(core_column(
            "Internal-IP",
            "string",
            "NodeStatus",
            "addresses",
        )),
        wide(core_column(
            "External-IP",
            "string",
            "NodeStatus",
            "addresses",
        )),
        wide(core_column(
            "OS-Image",
            "string",
            "NodeSystemInfo",
            "osImage",
        )),
        wide(core_column(
            "Kernel-Version",
            "string",
            "NodeSystemInfo",
            "kernelVersion",
        )),
        wide(core_column(
            "Container-Runtime",
            "string",
            "NodeSystemInfo",
            "containerRuntimeVersion",
        )),
    ]
}

/// Label prefix whose suffix names a node role (`node-role.kubernetes.io/control-plane`).
const NODE_ROLE_PREFIX: &str = "node-role.kubernetes.io/";
/// Label whose value names a node role.
const NODE_ROLE_LABEL: &str = "kubernetes.io/role";

pub(crate) fn print_node(node: &Node, ctx: &Ctx) -> Printed {
    let status = node.status.as_ref();
    // The last Ready condition wins, as in Kubernetes' map of conditions by type.
    let ready = status
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default()
        .iter()
        .rfind(|c| c.type_ == "Ready");
    let mut states = vec![match ready {
        Some(c) if c.status == "True" => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    }];
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        states.push("SchedulingDisabled".into());
    }
    let roles: BTreeSet<&str> = node
        .metadata
        .labels
        .iter()
        .flatten()
        .filter_map(|(k, v)| match k.strip_prefix(NODE_ROLE_PREFIX) {
            Some(role) if !role.is_empty() => Some(role),
            Some(_) => None,
            None if k == NODE_ROLE_LABEL && !v.is_empty() => Some(v.as_str()),
            None => None,
        })
        .collect();
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    };
    let info = status.and_then(|s| s.node_info.as_ref());
    let unknown = |s: Option<&String>| match s {
        Some(s) if !s.is_empty() => s.clone(),
        _ => "<unknown>".to_string(),
    };
    let address = |type_: &str| {
        status
            .and_then(|s| s.addresses.as_deref())
            .unwrap_or_default()
            .iter()
            .find(|a| a.type_ == type_)
            .map_or_else(|| "<none>".to_string(), |a| a.address.clone())
    };
    Printed::cells(vec![
        name(&node.metadata).into(),
        states.join(",").into(),
        roles.into(),
        age(&node.metadata, ctx.now).into(),
        info.map(|i| i.kubelet_version.clone())
            .unwrap_or_default()
            .into(),
        address("InternalIP").into(),
        address("ExternalIP").into(),
        unknown(info.map(|i| &i.os_image)).into(),
        unknown(info.map(|i| &i.kernel_version)).into(),
        unknown(info.map(|i| &i.container_runtime_version)).into(),
    ])
}

// ---------------------------------------------------------------------------------------
// Events

pub(crate) fn event_columns() -> Vec<TableColumnDefinition> {
    vec![
        core_column("Last Seen", "string", "Event", "lastTimestamp"),
        core_column("Type", "string", "Event", "type"),
        core_column("Reason", "string", "Event", "reason"),
        core_column("Object", "string", "Event", "involvedObject"),
        wide(core_column(
            "Subobject",
            "string",
            "ObjectReference",
            "fieldPath",
        )),
        wide(core_column("Source", "string", "Event", "source")),
        core_column("Message", "string", "Event", "message"),
        wide(core_column(
            "First Seen",
            "string",
            "Event",
            "firstTimestamp",
        )),
        wide(core_column("Count", "string", "Event", "count")),
        TableColumnDefinition {
            priority: 1,
            ..name_column()
        },
    ]
}

/// An event in the internal form both event APIs convert to.
struct EventView<'a> {
    name: String,
    first_timestamp: Option<Time>,
    last_timestamp: Option<Time>,
    event_time: Option<MicroTime>,
    /// `(count, lastObservedTime)` of `series`.
    series: Option<(i32, Option<MicroTime>)>,
    count: i32,
    kind: &'a str,
    object_name: &'a str,
    field_path: &'a str,
    type_: &'a str,
    reason: &'a str,
    source: Option<&'a EventSource>,
    reporting_controller: &'a str,
    reporting_instance: &'a str,
    message: &'a str,
}

fn str_of(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or_default()
}

pub(crate) fn print_event(e: &Event, ctx: &Ctx) -> Printed {
    print_event_view(
        &EventView {
            name: name(&e.metadata),
            first_timestamp: e.first_timestamp,
            last_timestamp: e.last_timestamp,
            event_time: e.event_time,
            series: e
                .series
                .as_ref()
                .map(|s| (s.count.unwrap_or(0), s.last_observed_time)),
            count: e.count.unwrap_or(0),
            kind: str_of(&e.involved_object.kind),
            object_name: str_of(&e.involved_object.name),
            field_path: str_of(&e.involved_object.field_path),
            type_: str_of(&e.type_),
            reason: str_of(&e.reason),
            source: e.source.as_ref(),
            reporting_controller: str_of(&e.reporting_component),
            reporting_instance: str_of(&e.reporting_instance),
            message: str_of(&e.message),
        },
        ctx,
    )
}

/// events.k8s.io/v1 Events print through the same internal form: `regarding` is the involved
/// object, `note` the message, the `deprecated*` fields the core timestamps, count and source.
pub(crate) fn print_events_event(e: &EventsEvent, ctx: &Ctx) -> Printed {
    let regarding = e.regarding.as_ref();
    print_event_view(
        &EventView {
            name: name(&e.metadata),
            first_timestamp: e.deprecated_first_timestamp,
            last_timestamp: e.deprecated_last_timestamp,
            event_time: e.event_time,
            series: e.series.as_ref().map(|s| (s.count, s.last_observed_time)),
            count: e.deprecated_count.unwrap_or(0),
            kind: regarding.map(|r| str_of(&r.kind)).unwrap_or_default(),
            object_name: regarding.map(|r| str_of(&r.name)).unwrap_or_default(),
            field_path: regarding.map(|r| str_of(&r.field_path)).unwrap_or_default(),
            type_: str_of(&e.type_),
            reason: str_of(&e.reason),
            source: e.deprecated_source.as_ref(),
            reporting_controller: str_of(&e.reporting_controller),
            reporting_instance: str_of(&e.reporting_instance),
            message: str_of(&e.note),
        },
        ctx,
    )
}

fn print_event_view(e: &EventView<'_>, ctx: &Ctx) -> Printed {
    let first = if is_zero(e.first_timestamp) {
        since_micro(e.event_time, ctx.now)
    } else {
        since(e.first_timestamp, ctx.now)
    };
    let mut last = if is_zero(e.last_timestamp) {
        first.clone()
    } else {
        since(e.last_timestamp, ctx.now)
    };
    let mut count = e.count;
    if let Some((series_count, last_observed)) = e.series {
        last = since_micro(last_observed, ctx.now);
        count = series_count;
    } else if count == 0 {
        // Singleton events of the new API have no count.
        count = 1;
    }
    let kind = e.kind.to_lowercase();
    let target = if e.object_name.is_empty() {
        kind
    } else {
        format!("{kind}/{}", e.object_name)
    };
    let component = e
        .source
        .and_then(|s| s.component.as_deref())
        .filter(|s| !s.is_empty())
        .unwrap_or(e.reporting_controller);
    let host = e
        .source
        .and_then(|s| s.host.as_deref())
        .filter(|s| !s.is_empty())
        .unwrap_or(e.reporting_instance);
    let source = if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    };
    Printed::cells(vec![
        last.into(),
        e.type_.into(),
        e.reason.into(),
        target.into(),
        e.field_path.into(),
        source.into(),
        e.message.trim().into(),
        first.into(),
        i64::from(count).into(),
        e.name.clone().into(),
    ])
}

// ---------------------------------------------------------------------------------------
// Namespaces, config maps, secrets, service accounts, quotas

pub(crate) fn namespace_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(),
        column("Status", "string", "The status of the namespace"),
        age_column(),
    ]
}

pub(crate) fn print_namespace(ns: &Namespace, ctx: &Ctx) -> Printed {
    // The v1 default of status.phase.
    let phase = ns
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Active");
    Printed::cells(vec![
        name(&ns.metadata).into(),
        phase.into(),
        age(&ns.metadata, ctx.now).into(),
    ])
}

pub(crate) fn config_map_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(),
        core_column("Data", "string", "ConfigMap", "data"),
        age_column(),
    ]
}

pub(crate) fn print_config_map(cm: &ConfigMap, ctx: &Ctx) -> Printed {
    let count = cm.data.as_ref().map_or(0, BTreeMap::len)
        + cm.binary_data.as_ref().map_or(0, BTreeMap::len);
    Printed::cells(vec![
        name(&cm.metadata).into(),
        len_cell(count),
        age(&cm.metadata, ctx.now).into(),
    ])
}

/// A count as the int64 cell Go writes.
fn len_cell(n: usize) -> Value {
    Value::from(i64::try_from(n).unwrap_or(i64::MAX))
}

pub(crate) fn secret_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(),
        core_column("Type", "string", "Secret", "type"),
        core_column("Data", "string", "Secret", "data"),
        age_column(),
    ]
}

pub(crate) fn print_secret(secret: &Secret, ctx: &Ctx) -> Printed {
    // The v1 default of type.
    let type_ = secret.type_.as_deref().unwrap_or("Opaque");
    // Conversion merges stringData into data.
    let mut keys: BTreeSet<&str> = secret
        .data
        .iter()
        .flatten()
        .map(|(k, _)| k.as_str())
        .collect();
    keys.extend(secret.string_data.iter().flatten().map(|(k, _)| k.as_str()));
    Printed::cells(vec![
        name(&secret.metadata).into(),
        type_.into(),
        len_cell(keys.len()),
        age(&secret.metadata, ctx.now).into(),
    ])
}

pub(crate) fn service_account_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(),
        core_column("Secrets", "string", "ServiceAccount", "secrets"),
        age_column(),
    ]
}

pub(crate) fn print_service_account(sa: &ServiceAccount, ctx: &Ctx) -> Printed {
    Printed::cells(vec![
        name(&sa.metadata).into(),
        len_cell(sa.secrets.as_ref().map_or(0, Vec::len)),
        age(&sa.metadata, ctx.now).into(),
    ])
}

pub(crate) fn resource_quota_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(),
        column(
            "Request",
            "string",
            "Request represents a minimum amount of cpu/memory that a container may consume.",
        ),
        column(
            "Limit",
            "string",
            "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
        ),
        age_column(),
    ]
}

pub(crate) fn print_resource_quota(quota: &ResourceQuota, ctx: &Ctx) -> Printed {
    let status = quota.status.as_ref();
    let mut requests = Vec::new();
    let mut limits = Vec::new();
    // BTreeMap iteration is the sorted order Kubernetes uses.
    for (resource, hard) in status
        .and_then(|s| s.hard.as_ref())
        .iter()
        .flat_map(|m| m.iter())
    {
        let used = quantity_in(status.and_then(|s| s.used.as_ref()), resource);
        let entry = format!("{resource}: {used}/{hard}");
        let pieces: Vec<&str> = resource.split('.').collect();
        if pieces.len() > 1 && pieces[0] == "limits" {
            limits.push(entry);
        } else {
            requests.push(entry);
        }
    }
    Printed::cells(vec![
        name(&quota.metadata).into(),
        requests.join(", ").into(),
        limits.join(", ").into(),
        age(&quota.metadata, ctx.now).into(),
    ])
}

// ---------------------------------------------------------------------------------------
// Persistent volumes and claims

/// The annotation that overrides `storageClassName` (still honoured by Kubernetes).
const BETA_STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

pub(crate) fn persistent_volume_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(),
        core_column("Capacity", "string", "PersistentVolumeSpec", "capacity"),
        core_column(
            "Access Modes",
            "string",
            "PersistentVolumeSpec",
            "accessModes",
        ),
        core_column(
            "Reclaim Policy",
            "string",
            "PersistentVolumeSpec",
            "persistentVolumeReclaimPolicy",
        ),
        core_column("Status", "string", "PersistentVolumeStatus", "phase"),
        core_column("Claim", "string", "PersistentVolumeSpec", "claimRef"),
        column("StorageClass", "string", "StorageClass of the pv"),
        column(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pv",
        ),
        core_column("Reason", "string", "PersistentVolumeStatus", "reason"),
        age_column(),
        wide(core_column(
            "VolumeMode",
            "string",
            "PersistentVolumeSpec",
            "volumeMode",
        )),
    ]
}

/// The v1 default of `volumeMode` for volumes and claims.
const DEFAULT_VOLUME_MODE: &str = "Filesystem";

pub(crate) fn print_persistent_volume(pv: &PersistentVolume, ctx: &Ctx) -> Printed {
    let spec = pv.spec.as_ref();
    let claim = spec
        .and_then(|s| s.claim_ref.as_ref())
        .map_or_else(String::new, |c| {
            format!(
                "{}/{}",
                c.namespace.as_deref().unwrap_or_default(),
                c.name.as_deref().unwrap_or_default()
            )
        });
    let phase = if pv.metadata.deletion_timestamp.is_some() {
        "Terminating"
    } else {
        // The v1 default of status.phase.
        pv.status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("Pending")
    };
    let class = match pv
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(BETA_STORAGE_CLASS_ANNOTATION))
    {
        Some(class) => class.clone(),
        None => spec
            .and_then(|s| s.storage_class_name.clone())
            .unwrap_or_default(),
    };
    Printed::cells(vec![
        name(&pv.metadata).into(),
        quantity_in(spec.and_then(|s| s.capacity.as_ref()), "storage").into(),
        access_modes(spec.and_then(|s| s.access_modes.as_deref())).into(),
        // The v1 default of persistentVolumeReclaimPolicy.
        spec.and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
            .unwrap_or("Retain")
            .into(),
        phase.into(),
        claim.into(),
        class.into(),
        spec.and_then(|s| s.volume_attributes_class_name.as_deref())
            .unwrap_or("<unset>")
            .into(),
        pv.status
            .as_ref()
            .and_then(|s| s.reason.as_deref())
            .unwrap_or_default()
            .into(),
        age(&pv.metadata, ctx.now).into(),
        spec.and_then(|s| s.volume_mode.as_deref())
            .unwrap_or(DEFAULT_VOLUME_MODE)
            .into(),
    ])
}

pub(crate) fn persistent_volume_claim_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(),
        core_column("Status", "string", "PersistentVolumeClaimStatus", "phase"),
        core_column(
            "Volume",
            "string",
            "PersistentVolumeClaimSpec",
            "volumeName",
        ),
        core_column(
            "Capacity",
            "string",
            "PersistentVolumeClaimStatus",
            "capacity",
        ),
        core_column(
            "Access Modes",
            "string",
            "PersistentVolumeClaimStatus",
            "accessModes",
        ),
        column("StorageClass", "string", "StorageClass of the pvc"),
        column(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pvc",
        ),
        age_column(),
        wide(core_column(
            "VolumeMode",
            "string",
            "PersistentVolumeClaimSpec",
            "volumeMode",
        )),
    ]
}

pub(crate) fn print_persistent_volume_claim(pvc: &PersistentVolumeClaim, ctx: &Ctx) -> Printed {
    let spec = pvc.spec.as_ref();
    let status = pvc.status.as_ref();
    let phase = if pvc.metadata.deletion_timestamp.is_some() {
        "Terminating"
    } else {
        // The v1 default of status.phase.
        status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending")
    };
    let volume = spec
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or_default();
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity_in(status.and_then(|s| s.capacity.as_ref()), "storage"),
            access_modes(status.and_then(|s| s.access_modes.as_deref())),
        )
    };
    let class = match pvc
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(BETA_STORAGE_CLASS_ANNOTATION))
    {
        Some(class) => class.clone(),
        None => spec
            .and_then(|s| s.storage_class_name.clone())
            .unwrap_or_default(),
    };
    Printed::cells(vec![
        name(&pvc.metadata).into(),
        phase.into(),
        volume.into(),
        capacity.into(),
        modes.into(),
        class.into(),
        spec.and_then(|s| s.volume_attributes_class_name.as_deref())
            .unwrap_or("<unset>")
            .into(),
        age(&pvc.metadata, ctx.now).into(),
        spec.and_then(|s| s.volume_mode.as_deref())
            .unwrap_or(DEFAULT_VOLUME_MODE)
            .into(),
    ])
}
