//! Printers for the workload kinds: deployments, replica sets, stateful sets, daemon sets,
//! controller revisions (apps/v1), jobs and cron jobs (batch/v1).

use clipper_proto::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use clipper_proto::api::batch::v1::{CronJob, Job, JobCondition};
use clipper_proto::split_api_version;

use super::core_v1::DEFAULT_REPLICAS;
use super::format::{
    age, container_cells, format_label_selector, format_labels, human_duration, name, print_bool,
    selector_string, since,
};
use super::table::{
    TableColumnDefinition, age_column, column, container_columns, field_column, name_column, wide,
};
use super::{Ctx, PrintError, Printed};

const APPS: &str = "io.k8s.api.apps.v1.";
const BATCH: &str = "io.k8s.api.batch.v1.";

fn apps_column(name: &str, type_: &str, definition: &str, field: &str) -> TableColumnDefinition {
    field_column(name, type_, &format!("{APPS}{definition}"), field)
}

fn batch_column(name: &str, type_: &str, definition: &str, field: &str) -> TableColumnDefinition {
    field_column(name, type_, &format!("{BATCH}{definition}"), field)
}

/// The workload columns that end every wide workload table: containers, images, selector.
fn workload_wide(selector: TableColumnDefinition) -> [TableColumnDefinition; 3] {
    let [containers, images] = container_columns();
    [containers, images, wide(selector)]
}

pub(crate) fn deployment_columns() -> Vec<TableColumnDefinition> {
    let mut columns = vec![
        name_column(),
        column("Ready", "string", "Number of the pod with ready state"),
        apps_column(
            "Up-to-date",
            "string",
            "DeploymentStatus",
            "updatedReplicas",
        ),
        apps_column(
            "Available",
            "string",
            "DeploymentStatus",
            "availableReplicas",
        ),
        age_column(),
    ];
    columns.extend(workload_wide(apps_column(
        "Selector",
        "string",
        "DeploymentSpec",
        "selector",
    )));
    columns
}

pub(crate) fn print_deployment(d: &Deployment, ctx: &Ctx) -> Printed {
    let spec = d.spec.as_ref();
    let status = d.status.as_ref();
    let desired = spec.and_then(|s| s.replicas).unwrap_or(DEFAULT_REPLICAS);
    let ready = status.and_then(|s| s.ready_replicas).unwrap_or(0);
    let containers = spec
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let (names, images) = container_cells(containers);
    // Unlike the other workloads, a deployment's selector prints empty when it is empty.
    let selector =
        selector_string(spec.map(|s| &s.selector)).unwrap_or_else(|()| "<invalid>".into());
    Printed::cells(vec![
        name(&d.metadata).into(),
        format!("{ready}/{desired}").into(),
        i64::from(status.and_then(|s| s.updated_replicas).unwrap_or(0)).into(),
        i64::from(status.and_then(|s| s.available_replicas).unwrap_or(0)).into(),
        age(&d.metadata, ctx.now).into(),
        names.into(),
        images.into(),
        selector.into(),
    ])
}

pub(crate) fn replica_set_columns() -> Vec<TableColumnDefinition> {
    let mut columns = vec![
        name_column(),
        apps_column("Desired", "integer", "ReplicaSetSpec", "replicas"),
        apps_column("Current", "integer", "ReplicaSetStatus", "replicas"),
        apps_column("Ready", "integer", "ReplicaSetStatus", "readyReplicas"),
        age_column(),
    ];
    columns.extend(workload_wide(apps_column(
        "Selector",
        "string",
        "ReplicaSetSpec",
        "selector",
    )));
    columns
}

pub(crate) fn print_replica_set(rs: &ReplicaSet, ctx: &Ctx) -> Printed {
    let spec = rs.spec.as_ref();
    let status = rs.status.as_ref();
    let containers = spec
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let (names, images) = container_cells(containers);
    Printed::cells(vec![
        name(&rs.metadata).into(),
        i64::from(spec.and_then(|s| s.replicas).unwrap_or(DEFAULT_REPLICAS)).into(),
        i64::from(status.map_or(0, |s| s.replicas)).into(),
        i64::from(status.and_then(|s| s.ready_replicas).unwrap_or(0)).into(),
        age(&rs.metadata, ctx.now).into(),
        names.into(),
        images.into(),
        format_label_selector(spec.map(|s| &s.selector)).into(),
    ])
}

pub(crate) fn stateful_set_columns() -> Vec<TableColumnDefinition> {
    let [containers, images] = container_columns();
    vec![
        name_column(),
        column("Ready", "string", "Number of the pod with ready state"),
        age_column(),
        containers,
        images,
    ]
}

pub(crate) fn print_stateful_set(sts: &StatefulSet, ctx: &Ctx) -> Printed {
    let spec = sts.spec.as_ref();
    let desired = spec.and_then(|s| s.replicas).unwrap_or(DEFAULT_REPLICAS);
    let ready = sts
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    let containers = spec
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let (names, images) = container_cells(containers);
    Printed::cells(vec![
        name(&sts.metadata).into(),
        format!("{ready}/{desired}").into(),
        age(&sts.metadata, ctx.now).into(),
        names.into(),
        images.into(),
    ])
}

pub(crate) fn daemon_set_columns() -> Vec<TableColumnDefinition> {
    let mut columns = vec![
        name_column(),
        apps_column(
            "Desired",
            "integer",
            "DaemonSetStatus",
            "desiredNumberScheduled",
        ),
        apps_column(
            "Current",
            "integer",
            "DaemonSetStatus",
            "currentNumberScheduled",
        ),
        apps_column("Ready", "integer", "DaemonSetStatus", "numberReady"),
        apps_column(
            "Up-to-date",
            "integer",
            "DaemonSetStatus",
            "updatedNumberScheduled",
        ),
        apps_column("Available", "integer", "DaemonSetStatus", "numberAvailable"),
        field_column(
            "Node Selector",
            "string",
            "io.k8s.api.core.v1.PodSpec",
            "nodeSelector",
        ),
        age_column(),
    ];
    columns.extend(workload_wide(apps_column(
        "Selector",
        "string",
        "DaemonSetSpec",
        "selector",
    )));
    columns
}

pub(crate) fn print_daemon_set(ds: &DaemonSet, ctx: &Ctx) -> Printed {
    let spec = ds.spec.as_ref();
    let status = ds.status.as_ref();
    let pod_spec = spec.and_then(|s| s.template.spec.as_ref());
    let (names, images) = container_cells(
        pod_spec
            .map(|s| s.containers.as_slice())
            .unwrap_or_default(),
    );
    Printed::cells(vec![
        name(&ds.metadata).into(),
        i64::from(status.map_or(0, |s| s.desired_number_scheduled)).into(),
        i64::from(status.map_or(0, |s| s.current_number_scheduled)).into(),
        i64::from(status.map_or(0, |s| s.number_ready)).into(),
        i64::from(status.and_then(|s| s.updated_number_scheduled).unwrap_or(0)).into(),
        i64::from(status.and_then(|s| s.number_available).unwrap_or(0)).into(),
        format_labels(pod_spec.and_then(|s| s.node_selector.as_ref())).into(),
        age(&ds.metadata, ctx.now).into(),
        names.into(),
        images.into(),
        format_label_selector(spec.map(|s| &s.selector)).into(),
    ])
}

pub(crate) fn controller_revision_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(),
        column("Controller", "string", "Controller of the object"),
        apps_column("Revision", "string", "ControllerRevision", "revision"),
        age_column(),
    ]
}

pub(crate) fn print_controller_revision(
    cr: &ControllerRevision,
    ctx: &Ctx,
) -> Result<Printed, PrintError> {
    let controller = cr
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true));
    let controller_name = match controller {
        None => "<none>".to_string(),
        Some(owner) => {
            if owner.api_version.matches('/').count() > 1 {
                return Err(PrintError::InvalidGroupVersion(owner.api_version.clone()));
            }
            let (group, _) = if owner.api_version == "/" {
                ("", "")
            } else {
                split_api_version(&owner.api_version)
            };
            // schema.GroupKind.String(), lower-cased, then the name.
            let group_kind = match (group.is_empty(), owner.kind.is_empty()) {
                (true, true) => String::new(),
                (true, false) => owner.kind.clone(),
                _ => format!("{}.{group}", owner.kind),
            };
            if group_kind.is_empty() {
                owner.name.clone()
            } else {
                format!("{}/{}", group_kind.to_lowercase(), owner.name)
            }
        }
    };
    Ok(Printed::cells(vec![
        name(&cr.metadata).into(),
        controller_name.into(),
        cr.revision.into(),
        age(&cr.metadata, ctx.now).into(),
    ]))
}

pub(crate) fn job_columns() -> Vec<TableColumnDefinition> {
    let mut columns = vec![
        name_column(),
        column("Status", "string", "Status of the job."),
        batch_column("Completions", "string", "JobStatus", "succeeded"),
        column("Duration", "string", "Time required to complete the job."),
        age_column(),
    ];
    columns.extend(workload_wide(batch_column(
        "Selector", "string", "JobSpec", "selector",
    )));
    columns
}

/// `hasJobCondition`: whether the first condition of `type_` is true.
fn has_condition(conditions: &[JobCondition], type_: &str) -> bool {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .is_some_and(|c| c.status == "True")
}

pub(crate) fn print_job(job: &Job, ctx: &Ctx) -> Printed {
    let spec = job.spec.as_ref();
    let status = job.status.as_ref();
    let succeeded = status.and_then(|s| s.succeeded).unwrap_or(0);
    let completions = match spec.and_then(|s| s.completions) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match spec.and_then(|s| s.parallelism).unwrap_or(0) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (
        status.and_then(|s| s.start_time),
        status.and_then(|s| s.completion_time),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => since(Some(start), ctx.now),
        (Some(start), Some(done)) => {
            human_duration(done.0.saturating_sub(start.0).saturating_mul(1_000_000))
        }
    };
    let conditions = status
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let state = if has_condition(conditions, "Complete") {
        "Complete"
    } else if has_condition(conditions, "Failed") {
        "Failed"
    } else if job.metadata.deletion_timestamp.is_some() {
        "Terminating"
    } else if has_condition(conditions, "Suspended") {
        "Suspended"
    } else if has_condition(conditions, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let containers = spec
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let (names, images) = container_cells(containers);
    Printed::cells(vec![
        name(&job.metadata).into(),
        state.into(),
        completions.into(),
        duration.into(),
        age(&job.metadata, ctx.now).into(),
        names.into(),
        images.into(),
        format_label_selector(spec.and_then(|s| s.selector.as_ref())).into(),
    ])
}

pub(crate) fn cron_job_columns() -> Vec<TableColumnDefinition> {
    let mut columns = vec![
        name_column(),
        batch_column("Schedule", "string", "CronJobSpec", "schedule"),
        batch_column("Timezone", "string", "CronJobSpec", "timeZone"),
        batch_column("Suspend", "boolean", "CronJobSpec", "suspend"),
        batch_column("Active", "integer", "CronJobStatus", "active"),
        batch_column(
            "Last Schedule",
            "string",
            "CronJobStatus",
            "lastScheduleTime",
        ),
        age_column(),
    ];
    columns.extend(workload_wide(batch_column(
        "Selector", "string", "JobSpec", "selector",
    )));
    columns
}

pub(crate) fn print_cron_job(cj: &CronJob, ctx: &Ctx) -> Printed {
    let spec = cj.spec.as_ref();
    let status = cj.status.as_ref();
    let last_schedule = match status.and_then(|s| s.last_schedule_time) {
        Some(t) => since(Some(t), ctx.now),
        None => "<none>".into(),
    };
    let job_spec = spec.and_then(|s| s.job_template.spec.as_ref());
    let containers = job_spec
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let (names, images) = container_cells(containers);
    let active = status.and_then(|s| s.active.as_ref()).map_or(0, Vec::len);
    Printed::cells(vec![
        name(&cj.metadata).into(),
        spec.map(|s| s.schedule.clone()).unwrap_or_default().into(),
        spec.and_then(|s| s.time_zone.as_deref())
            .unwrap_or("<none>")
            .into(),
        // `suspend` defaults to false in v1.
        print_bool(spec.and_then(|s| s.suspend).unwrap_or(false)).into(),
        i64::try_from(active).unwrap_or(i64::MAX).into(),
        last_schedule.into(),
        age(&cj.metadata, ctx.now).into(),
        names.into(),
        images.into(),
        format_label_selector(job_spec.and_then(|s| s.selector.as_ref())).into(),
    ])
}
