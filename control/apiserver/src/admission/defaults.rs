//! Defaulting of built-in objects: Kubernetes 1.33's `SetDefaults_*` functions and the
//! declarative `+default` markers of the v1 API types, applied to typed objects.
//!
//! Go distinguishes a zero value from an absent one only for pointer fields; the proto
//! types make every optional field an `Option`, so a Go `== ""` / `== 0` test becomes
//! "absent or empty/zero" here while a Go `== nil` test becomes "absent".

use std::any::Any;
use std::collections::BTreeMap;

use clipper_proto::api::apiextensions::v1::{CustomResourceConversion, CustomResourceDefinition};
use clipper_proto::api::apps::v1::{
    DaemonSet, DaemonSetUpdateStrategy, Deployment, DeploymentStrategy, ReplicaSet,
    RollingUpdateDaemonSet, RollingUpdateDeployment, RollingUpdateStatefulSetStrategy, StatefulSet,
    StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetUpdateStrategy,
};
use clipper_proto::api::autoscaling::v2::{
    HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscaler, MetricSpec, MetricTarget,
    ResourceMetricSource,
};
use clipper_proto::api::batch::v1::{CronJob, Job, JobSpec};
use clipper_proto::api::core::v1::{
    ConfigMap, Container, EmptyDirVolumeSource, Endpoints, EnvVar, EphemeralContainer,
    HTTPGetAction, LifecycleHandler, Namespace, NamespaceSpec, Node, ObjectFieldSelector,
    PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimSpec, Pod, PodSecurityContext,
    PodSpec, PodTemplate, PodTemplateSpec, Probe, ReplicationController, ResourceRequirements,
    Secret, Service, Volume,
};
use clipper_proto::api::discovery::v1::EndpointSlice;
use clipper_proto::api::networking::v1::{IngressClass, NetworkPolicy};
use clipper_proto::api::rbac::v1::{ClusterRoleBinding, RoleBinding, RoleRef, Subject};
use clipper_proto::api::scheduling::v1::PriorityClass;
use clipper_proto::api::storage::v1::{CSIDriver, StorageClass};
use clipper_proto::{ByteString, IntOrString, Quantity};

/// `v1.DefaultTerminationGracePeriodSeconds`.
pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;
/// `v1.DefaultSchedulerName`.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
/// `v1.TerminationMessagePathDefault`.
pub const TERMINATION_MESSAGE_PATH_DEFAULT: &str = "/dev/termination-log";
/// File mode (0644) of secret, configMap, downwardAPI and projected volumes.
pub const DEFAULT_VOLUME_MODE: i32 = 0o644;
/// Lifetime of a projected service-account token: one hour.
pub const DEFAULT_TOKEN_EXPIRATION_SECONDS: i64 = 3600;
/// `v1.DefaultClientIPServiceAffinitySeconds`: three hours.
pub const DEFAULT_CLIENT_IP_AFFINITY_SECONDS: i32 = 10800;
/// Probe defaults: timeout, period, success and failure thresholds.
pub const PROBE_DEFAULTS: (i32, i32, i32, i32) = (1, 10, 1, 3);
/// Revisions Deployments, StatefulSets and DaemonSets keep unless told otherwise.
pub const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;
/// `progressDeadlineSeconds` of a Deployment: ten minutes.
pub const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;
/// Retries of a Job before it is marked failed.
pub const DEFAULT_BACKOFF_LIMIT: i32 = 6;
/// CPU utilisation target of an HPA created without metrics.
pub const DEFAULT_CPU_UTILIZATION: i32 = 80;
/// Port of a CRD conversion webhook service.
pub const DEFAULT_WEBHOOK_PORT: i32 = 443;
/// Resource quantities are rounded up to this scale (milli units).
const MILLI_SCALE: i32 = -3;
/// `kubernetes.io/metadata.name`, the label every named Namespace carries.
pub const LABEL_METADATA_NAME: &str = "kubernetes.io/metadata.name";
/// The namespace finalizer the namespace controller removes.
pub const FINALIZER_KUBERNETES: &str = "kubernetes";
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Applies Kubernetes' defaults to a typed built-in object in place. Types without
/// defaults (and non-API types) are left alone. Safe to apply repeatedly.
pub fn default(obj: &mut dyn Any) {
    macro_rules! kinds {
        ($( $ty:ty => $f:expr ;)*) => {$(
            if let Some(o) = obj.downcast_mut::<$ty>() {
                let f: fn(&mut $ty) = $f;
                f(o);
                return;
            }
        )*};
    }
    kinds! {
        Pod => default_pod;
        PodTemplate => |t| {
            if let Some(t) = &mut t.template { pod_template_spec(t) }
        };
        ReplicationController => default_replication_controller;
        Service => default_service;
        ConfigMap => |cm| { cm.data.get_or_insert_with(BTreeMap::new); };
        Secret => default_secret;
        Namespace => default_namespace;
        Node => default_node;
        PersistentVolumeClaim => default_pvc;
        PersistentVolume => default_pv;
        Endpoints => |ep| {
            for p in ep.subsets.iter_mut().flatten().flat_map(|s| s.ports.iter_mut().flatten()) {
                set_str(&mut p.protocol, "TCP");
            }
        };
        Deployment => default_deployment;
        ReplicaSet => |rs| {
            let spec = rs.spec.get_or_insert_with(Default::default);
            set(&mut spec.replicas, 1);
            if let Some(t) = &mut spec.template { pod_template_spec(t) }
        };
        StatefulSet => default_stateful_set;
        DaemonSet => default_daemon_set;
        Job => default_job;
        CronJob => default_cron_job;
        HorizontalPodAutoscaler => default_hpa;
        NetworkPolicy => default_network_policy;
        IngressClass => |ic| {
            if let Some(p) = ic.spec.as_mut().and_then(|s| s.parameters.as_mut()) {
                set(&mut p.scope, "Cluster".to_string());
            }
        };
        PriorityClass => |pc| set(&mut pc.preemption_policy, "PreemptLowerPriority".to_string());
        StorageClass => |sc| {
            set(&mut sc.reclaim_policy, "Delete".to_string());
            set(&mut sc.volume_binding_mode, "Immediate".to_string());
        };
        CSIDriver => default_csi_driver;
        RoleBinding => |rb| default_binding(&mut rb.role_ref, rb.subjects.as_deref_mut());
        ClusterRoleBinding => |rb| default_binding(&mut rb.role_ref, rb.subjects.as_deref_mut());
        EndpointSlice => |es| {
            for p in es.ports.iter_mut().flatten() {
                set(&mut p.name, String::new());
                set(&mut p.protocol, "TCP".to_string());
            }
        };
        CustomResourceDefinition => default_crd;
    }
}

/// On create, a Namespace always carries the `kubernetes` finalizer (kube-apiserver's
/// namespace strategy adds it; it is not a default because the namespace controller
/// removes it later). Call this before storing a new Namespace, not on updates.
pub fn prepare_namespace_for_create(ns: &mut Namespace) {
    let spec = ns.spec.get_or_insert_with(NamespaceSpec::default);
    let finalizers = spec.finalizers.get_or_insert_with(Vec::new);
    if !finalizers.iter().any(|f| f == FINALIZER_KUBERNETES) {
        finalizers.push(FINALIZER_KUBERNETES.to_string());
    }
    ns.status.get_or_insert_with(Default::default).phase = Some("Active".to_string());
}

// ---------------------------------------------------------------------------------------
// helpers

/// Sets a Go pointer field that is nil.
fn set<T>(field: &mut Option<T>, value: T) {
    if field.is_none() {
        *field = Some(value);
    }
}

/// Sets a Go string field that is empty.
fn set_str(field: &mut Option<String>, value: &str) {
    if field.as_deref().unwrap_or("").is_empty() {
        *field = Some(value.to_string());
    }
}

/// Sets a Go integer field that is zero.
fn set_nonzero(field: &mut Option<i32>, value: i32) {
    if field.unwrap_or(0) == 0 {
        *field = Some(value);
    }
}

/// `SetDefaults_ResourceList`: round every quantity up to milli units.
fn round_resources(list: Option<&mut BTreeMap<String, Quantity>>) {
    for q in list.into_iter().flat_map(|l| l.values_mut()) {
        q.round_up(MILLI_SCALE);
    }
}

fn round_requirements(r: Option<&mut ResourceRequirements>) {
    if let Some(r) = r {
        round_resources(r.limits.as_mut());
        round_resources(r.requests.as_mut());
    }
}

// ---------------------------------------------------------------------------------------
// pods

fn default_pod(pod: &mut Pod) {
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    // Requests default to limits, for Pods only (not templates).
    let init = spec.init_containers.iter_mut().flatten();
    for c in spec.containers.iter_mut().chain(init) {
        if let Some(res) = &mut c.resources
            && let Some(limits) = &res.limits
        {
            let requests = res.requests.get_or_insert_with(BTreeMap::new);
            for (k, v) in limits {
                requests.entry(k.clone()).or_insert_with(|| *v);
            }
        }
    }
    set(&mut spec.enable_service_links, true);
    if spec.host_network == Some(true) {
        let init = spec.init_containers.iter_mut().flatten();
        for p in spec
            .containers
            .iter_mut()
            .chain(init)
            .flat_map(|c| c.ports.iter_mut().flatten())
        {
            if p.host_port.unwrap_or(0) == 0 {
                p.host_port = Some(p.container_port);
            }
        }
    }
    pod_spec(spec);
    // A negative grace period is treated as 1 second (the shortest non-immediate one)
    // rather than rejected, for Pods only.
    if let Some(g) = &mut spec.termination_grace_period_seconds
        && *g < 0
    {
        *g = 1;
    }
    if spec.resources.is_some() {
        round_requirements(spec.resources.as_mut());
    }
    if let Some(status) = &mut pod.status {
        for s in status.container_statuses.iter_mut().flatten() {
            round_resources(s.allocated_resources.as_mut());
            round_requirements(s.resources.as_mut());
        }
    }
}

/// Defaults of a pod template's spec (everything a Pod gets except the Pod-only rules).
pub(crate) fn pod_template_spec(t: &mut PodTemplateSpec) {
    pod_spec(t.spec.get_or_insert_with(PodSpec::default));
}

fn pod_spec(spec: &mut PodSpec) {
    set_str(&mut spec.dns_policy, "ClusterFirst");
    set_str(&mut spec.restart_policy, "Always");
    set(&mut spec.security_context, PodSecurityContext::default());
    set(
        &mut spec.termination_grace_period_seconds,
        DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS,
    );
    set_str(&mut spec.scheduler_name, DEFAULT_SCHEDULER_NAME);
    for v in spec.volumes.iter_mut().flatten() {
        volume(v);
    }
    for c in spec
        .init_containers
        .iter_mut()
        .flatten()
        .chain(spec.containers.iter_mut())
    {
        container(c);
    }
    for c in spec.ephemeral_containers.iter_mut().flatten() {
        ephemeral_container(c);
    }
    round_resources(spec.overhead.as_mut());
    round_requirements(spec.resources.as_mut());
}

/// The tag `image` refers to, as `parsers.ParseImageName` reports it: `latest` when it
/// names neither a tag nor a digest, empty when it only has a digest, and `None` when it
/// is not a valid reference.
pub fn image_tag(image: &str) -> Option<String> {
    const MAX_NAME_LEN: usize = 255;
    const MAX_TAG_LEN: usize = 128;
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        let (algo, hex) = d.split_once(':')?;
        let algo_ok = !algo.is_empty()
            && algo.split(['+', '.', '_', '-']).all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        if !algo_ok || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
    }
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(tag) = tag {
        let mut bytes = tag.bytes();
        let first_ok = bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
        let rest_ok = tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !first_ok || !rest_ok || tag.len() > MAX_TAG_LEN {
            return None;
        }
    }
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return None;
    }
    // A first component with a dot, a colon or upper case, or "localhost", is a registry.
    let path = match name.split_once('/') {
        Some((first, path))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            let host = first.split(':').next().unwrap_or("");
            let port_ok = first
                .split_once(':')
                .is_none_or(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            if host.is_empty()
                || !port_ok
                || !host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            {
                return None;
            }
            path
        }
        _ => name,
    };
    if !path.split('/').all(valid_path_component) {
        return None;
    }
    Some(match (tag, digest) {
        (Some(t), _) => t.to_string(),
        (None, Some(_)) => String::new(),
        (None, None) => "latest".to_string(),
    })
}

/// A repository path component: lower-case alphanumerics joined by `.`, `_`, `__` or
/// runs of `-`.
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

fn pull_policy_for(image: &str) -> String {
    if image_tag(image).as_deref() == Some("latest") {
        "Always"
    } else {
        "IfNotPresent"
    }
    .to_string()
}

macro_rules! container_defaults {
    ($name:ident, $ty:ty) => {
        fn $name(c: &mut $ty) {
            if c.image_pull_policy.as_deref().unwrap_or("").is_empty() {
                c.image_pull_policy = Some(pull_policy_for(c.image.as_deref().unwrap_or("")));
            }
            set_str(
                &mut c.termination_message_path,
                TERMINATION_MESSAGE_PATH_DEFAULT,
            );
            set_str(&mut c.termination_message_policy, "File");
            for p in c.ports.iter_mut().flatten() {
                set_str(&mut p.protocol, "TCP");
            }
            env(c.env.as_deref_mut());
            round_requirements(c.resources.as_mut());
            for p in [
                &mut c.liveness_probe,
                &mut c.readiness_probe,
                &mut c.startup_probe,
            ]
            .into_iter()
            .flatten()
            {
                probe(p);
            }
            if let Some(l) = &mut c.lifecycle {
                for h in [&mut l.post_start, &mut l.pre_stop].into_iter().flatten() {
                    handler(h);
                }
            }
        }
    };
}
container_defaults!(container, Container);
container_defaults!(ephemeral_container, EphemeralContainer);

fn env(vars: Option<&mut [EnvVar]>) {
    for v in vars.into_iter().flatten() {
        if let Some(f) = v.value_from.as_mut().and_then(|s| s.field_ref.as_mut()) {
            field_selector(f);
        }
    }
}

fn field_selector(f: &mut ObjectFieldSelector) {
    set_str(&mut f.api_version, "v1");
}

fn probe(p: &mut Probe) {
    let (timeout, period, success, failure) = PROBE_DEFAULTS;
    set_nonzero(&mut p.timeout_seconds, timeout);
    set_nonzero(&mut p.period_seconds, period);
    set_nonzero(&mut p.success_threshold, success);
    set_nonzero(&mut p.failure_threshold, failure);
    if let Some(h) = &mut p.http_get {
        http_get(h);
    }
    if let Some(g) = &mut p.grpc {
        set(&mut g.service, String::new());
    }
}

fn handler(h: &mut LifecycleHandler) {
    if let Some(g) = &mut h.http_get {
        http_get(g);
    }
}

fn http_get(h: &mut HTTPGetAction) {
    set_str(&mut h.path, "/");
    set_str(&mut h.scheme, "HTTP");
}

fn volume(v: &mut Volume) {
    let bare = Volume {
        name: v.name.clone(),
        ..Volume::default()
    };
    if *v == bare {
        v.empty_dir = Some(EmptyDirVolumeSource::default());
    }
    if let Some(s) = &mut v.secret {
        set(&mut s.default_mode, DEFAULT_VOLUME_MODE);
    }
    if let Some(s) = &mut v.config_map {
        set(&mut s.default_mode, DEFAULT_VOLUME_MODE);
    }
    if let Some(s) = &mut v.downward_api {
        set(&mut s.default_mode, DEFAULT_VOLUME_MODE);
        for f in s
            .items
            .iter_mut()
            .flatten()
            .filter_map(|i| i.field_ref.as_mut())
        {
            field_selector(f);
        }
    }
    if let Some(s) = &mut v.projected {
        set(&mut s.default_mode, DEFAULT_VOLUME_MODE);
        for src in s.sources.iter_mut().flatten() {
            if let Some(t) = &mut src.service_account_token {
                set(&mut t.expiration_seconds, DEFAULT_TOKEN_EXPIRATION_SECONDS);
            }
            let files = src
                .downward_api
                .iter_mut()
                .flat_map(|d| d.items.iter_mut().flatten());
            for f in files.filter_map(|i| i.field_ref.as_mut()) {
                field_selector(f);
            }
        }
    }
    if let Some(h) = &mut v.host_path {
        set(&mut h.type_, String::new());
    }
    if let Some(i) = &mut v.image
        && i.pull_policy.as_deref().unwrap_or("").is_empty()
    {
        i.pull_policy = Some(pull_policy_for(i.reference.as_deref().unwrap_or("")));
    }
    if let Some(i) = &mut v.iscsi {
        set_str(&mut i.iscsi_interface, "default");
    }
    if let Some(r) = &mut v.rbd {
        set_str(&mut r.pool, "rbd");
        set_str(&mut r.user, "admin");
        set_str(&mut r.keyring, "/etc/ceph/keyring");
    }
    if let Some(a) = &mut v.azure_disk {
        set(&mut a.caching_mode, "ReadWrite".to_string());
        set(&mut a.fs_type, "ext4".to_string());
        set(&mut a.read_only, false);
        set(&mut a.kind, "Shared".to_string());
    }
    if let Some(s) = &mut v.scale_io {
        set_str(&mut s.storage_mode, "ThinProvisioned");
        set_str(&mut s.fs_type, "xfs");
    }
    if let Some(t) = v
        .ephemeral
        .as_mut()
        .and_then(|e| e.volume_claim_template.as_mut())
    {
        pvc_spec(&mut t.spec);
    }
}

// ---------------------------------------------------------------------------------------
// core

fn default_replication_controller(rc: &mut ReplicationController) {
    let spec = rc.spec.get_or_insert_with(Default::default);
    set(&mut spec.replicas, 1);
    let labels = spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone());
    if let Some(labels) = labels {
        if spec.selector.as_ref().is_none_or(BTreeMap::is_empty) {
            spec.selector = Some(labels.clone());
        }
        if rc.metadata.labels.as_ref().is_none_or(BTreeMap::is_empty) {
            rc.metadata.labels = Some(labels);
        }
    }
    if let Some(t) = &mut spec.template {
        pod_template_spec(t);
    }
}

fn default_service(svc: &mut Service) {
    let spec = svc.spec.get_or_insert_with(Default::default);
    set_str(&mut spec.session_affinity, "None");
    match spec.session_affinity.as_deref() {
        Some("None") => spec.session_affinity_config = None,
        Some("ClientIP") => {
            let has_timeout = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .is_some_and(|c| c.timeout_seconds.is_some());
            if !has_timeout {
                let cfg = spec
                    .session_affinity_config
                    .get_or_insert_with(Default::default);
                cfg.client_ip
                    .get_or_insert_with(Default::default)
                    .timeout_seconds = Some(DEFAULT_CLIENT_IP_AFFINITY_SECONDS);
            }
        }
        _ => {}
    }
    set_str(&mut spec.type_, "ClusterIP");
    for p in spec.ports.iter_mut().flatten() {
        set_str(&mut p.protocol, "TCP");
        let unset = match &p.target_port {
            None => true,
            Some(IntOrString::Int(i)) => *i == 0,
            Some(IntOrString::String(s)) => s.is_empty(),
        };
        if unset {
            p.target_port = Some(IntOrString::Int(p.port));
        }
    }
    let ty = spec.type_.clone().unwrap_or_default();
    let externally_accessible = ty == "LoadBalancer"
        || ty == "NodePort"
        || (ty == "ClusterIP" && spec.external_ips.as_ref().is_some_and(|v| !v.is_empty()));
    if externally_accessible {
        set_str(&mut spec.external_traffic_policy, "Cluster");
    }
    if matches!(ty.as_str(), "ClusterIP" | "NodePort" | "LoadBalancer") {
        set(&mut spec.internal_traffic_policy, "Cluster".to_string());
    }
    if ty == "LoadBalancer" {
        set(&mut spec.allocate_load_balancer_node_ports, true);
        let ingress = svc
            .status
            .as_mut()
            .and_then(|s| s.load_balancer.as_mut())
            .and_then(|l| l.ingress.as_mut());
        for ing in ingress.into_iter().flatten() {
            if !ing.ip.as_deref().unwrap_or("").is_empty() {
                set(&mut ing.ip_mode, "VIP".to_string());
            }
        }
    }
    // Kubernetes' allocator records the family policy when it assigns cluster IPs; on a
    // single-stack cluster that is always SingleStack.
    if ty != "ExternalName" {
        set(&mut spec.ip_family_policy, "SingleStack".to_string());
    }
}

/// Secret type Opaque, and `stringData` merged into `data` (the v1→internal conversion
/// does this; `stringData` is write-only and never stored).
fn default_secret(sec: &mut Secret) {
    set_str(&mut sec.type_, "Opaque");
    if let Some(sd) = sec.string_data.take() {
        let data = sec.data.get_or_insert_with(BTreeMap::new);
        for (k, v) in sd {
            data.insert(k, ByteString(v.into_bytes()));
        }
    }
}

fn default_namespace(ns: &mut Namespace) {
    let name = ns.metadata.name.clone().unwrap_or_default();
    if !name.is_empty() {
        ns.metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(LABEL_METADATA_NAME.to_string(), name);
    }
    set_str(
        &mut ns.status.get_or_insert_with(Default::default).phase,
        "Active",
    );
}

fn default_node(node: &mut Node) {
    if let Some(status) = &mut node.status {
        if status.allocatable.is_none() && status.capacity.is_some() {
            status.allocatable = status.capacity.clone();
        }
        round_resources(status.capacity.as_mut());
        round_resources(status.allocatable.as_mut());
    }
}

fn pvc_spec(spec: &mut PersistentVolumeClaimSpec) {
    set(&mut spec.volume_mode, "Filesystem".to_string());
    if let Some(r) = &mut spec.resources {
        round_resources(r.limits.as_mut());
        round_resources(r.requests.as_mut());
    }
}

fn default_pvc(pvc: &mut PersistentVolumeClaim) {
    pvc_spec(pvc.spec.get_or_insert_with(Default::default));
    set_str(
        &mut pvc.status.get_or_insert_with(Default::default).phase,
        "Pending",
    );
}

fn default_pv(pv: &mut PersistentVolume) {
    set_str(
        &mut pv.status.get_or_insert_with(Default::default).phase,
        "Pending",
    );
    let spec = pv.spec.get_or_insert_with(Default::default);
    set_str(&mut spec.persistent_volume_reclaim_policy, "Retain");
    set(&mut spec.volume_mode, "Filesystem".to_string());
    round_resources(spec.capacity.as_mut());
    if let Some(h) = &mut spec.host_path {
        set(&mut h.type_, String::new());
    }
    if let Some(i) = &mut spec.iscsi {
        set_str(&mut i.iscsi_interface, "default");
    }
    if let Some(r) = &mut spec.rbd {
        set_str(&mut r.pool, "rbd");
        set_str(&mut r.user, "admin");
        set_str(&mut r.keyring, "/etc/ceph/keyring");
    }
    if let Some(a) = &mut spec.azure_disk {
        set(&mut a.caching_mode, "ReadWrite".to_string());
        set(&mut a.fs_type, "ext4".to_string());
        set(&mut a.read_only, false);
        set(&mut a.kind, "Shared".to_string());
    }
    if let Some(s) = &mut spec.scale_io {
        set_str(&mut s.storage_mode, "ThinProvisioned");
        set_str(&mut s.fs_type, "xfs");
    }
}

// ---------------------------------------------------------------------------------------
// apps

fn default_deployment(d: &mut Deployment) {
    let spec = d.spec.get_or_insert_with(Default::default);
    set(&mut spec.replicas, 1);
    let strategy = spec
        .strategy
        .get_or_insert_with(DeploymentStrategy::default);
    set_str(&mut strategy.type_, "RollingUpdate");
    if strategy.type_.as_deref() == Some("RollingUpdate") {
        let ru = strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateDeployment::default);
        set(
            &mut ru.max_unavailable,
            IntOrString::String("25%".to_string()),
        );
        set(&mut ru.max_surge, IntOrString::String("25%".to_string()));
    }
    set(
        &mut spec.revision_history_limit,
        DEFAULT_REVISION_HISTORY_LIMIT,
    );
    set(
        &mut spec.progress_deadline_seconds,
        DEFAULT_PROGRESS_DEADLINE_SECONDS,
    );
    pod_template_spec(&mut spec.template);
}

fn default_stateful_set(ss: &mut StatefulSet) {
    let spec = ss.spec.get_or_insert_with(Default::default);
    set_str(&mut spec.pod_management_policy, "OrderedReady");
    let strategy = spec
        .update_strategy
        .get_or_insert_with(StatefulSetUpdateStrategy::default);
    if strategy.type_.as_deref().unwrap_or("").is_empty() {
        strategy.type_ = Some("RollingUpdate".to_string());
        set(
            &mut strategy.rolling_update,
            RollingUpdateStatefulSetStrategy::default(),
        );
    }
    if strategy.type_.as_deref() == Some("RollingUpdate")
        && let Some(ru) = &mut strategy.rolling_update
    {
        set(&mut ru.partition, 0);
    }
    let policy = spec
        .persistent_volume_claim_retention_policy
        .get_or_insert_with(StatefulSetPersistentVolumeClaimRetentionPolicy::default);
    set_str(&mut policy.when_deleted, "Retain");
    set_str(&mut policy.when_scaled, "Retain");
    set(&mut spec.replicas, 1);
    set(
        &mut spec.revision_history_limit,
        DEFAULT_REVISION_HISTORY_LIMIT,
    );
    pod_template_spec(&mut spec.template);
    for pvc in spec.volume_claim_templates.iter_mut().flatten() {
        default_pvc(pvc);
    }
}

fn default_daemon_set(ds: &mut DaemonSet) {
    let spec = ds.spec.get_or_insert_with(Default::default);
    let strategy = spec
        .update_strategy
        .get_or_insert_with(DaemonSetUpdateStrategy::default);
    set_str(&mut strategy.type_, "RollingUpdate");
    if strategy.type_.as_deref() == Some("RollingUpdate") {
        let ru = strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateDaemonSet::default);
        set(&mut ru.max_unavailable, IntOrString::Int(1));
        set(&mut ru.max_surge, IntOrString::Int(0));
    }
    set(
        &mut spec.revision_history_limit,
        DEFAULT_REVISION_HISTORY_LIMIT,
    );
    pod_template_spec(&mut spec.template);
}

// ---------------------------------------------------------------------------------------
// batch

fn default_job(job: &mut Job) {
    let spec = job.spec.get_or_insert_with(JobSpec::default);
    if spec.completions.is_none() && spec.parallelism.is_none() {
        spec.completions = Some(1);
        spec.parallelism = Some(1);
    }
    set(&mut spec.parallelism, 1);
    if spec.backoff_limit.is_none() {
        spec.backoff_limit = Some(if spec.backoff_limit_per_index.is_some() {
            i32::MAX
        } else {
            DEFAULT_BACKOFF_LIMIT
        });
    }
    let labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone());
    if let Some(labels) = labels
        && job.metadata.labels.as_ref().is_none_or(BTreeMap::is_empty)
    {
        job.metadata.labels = Some(labels);
    }
    set(&mut spec.completion_mode, "NonIndexed".to_string());
    set(&mut spec.suspend, false);
    if spec.pod_replacement_policy.is_none() {
        let policy = if spec.pod_failure_policy.is_some() {
            "Failed"
        } else {
            "TerminatingOrFailed"
        };
        spec.pod_replacement_policy = Some(policy.to_string());
    }
    set(&mut spec.manual_selector, false);
    job_spec_common(spec);
}

/// Defaults every JobSpec gets, in a Job or in a CronJob's job template.
fn job_spec_common(spec: &mut JobSpec) {
    for rule in spec
        .pod_failure_policy
        .iter_mut()
        .flat_map(|p| p.rules.iter_mut())
    {
        for pattern in rule.on_pod_conditions.iter_mut().flatten() {
            if pattern.status.is_empty() {
                pattern.status = "True".to_string();
            }
        }
    }
    pod_template_spec(&mut spec.template);
}

fn default_cron_job(cj: &mut CronJob) {
    let spec = cj.spec.get_or_insert_with(Default::default);
    set_str(&mut spec.concurrency_policy, "Allow");
    set(&mut spec.suspend, false);
    set(&mut spec.successful_jobs_history_limit, 3);
    set(&mut spec.failed_jobs_history_limit, 1);
    job_spec_common(spec.job_template.spec.get_or_insert_with(JobSpec::default));
}

// ---------------------------------------------------------------------------------------
// autoscaling, networking, storage, rbac, apiextensions

/// The scale-up rule an HPA behaviour falls back to: no stabilisation, the larger of
/// four pods or doubling every 15 seconds.
fn scale_up_rules() -> HPAScalingRules {
    HPAScalingRules {
        stabilization_window_seconds: Some(0),
        select_policy: Some("Max".to_string()),
        policies: Some(vec![
            HPAScalingPolicy {
                type_: "Pods".to_string(),
                value: 4,
                period_seconds: 15,
            },
            HPAScalingPolicy {
                type_: "Percent".to_string(),
                value: 100,
                period_seconds: 15,
            },
        ]),
        tolerance: None,
    }
}

/// The scale-down fallback: the controller's stabilisation window (left unset), removing
/// up to all pods every 15 seconds.
fn scale_down_rules() -> HPAScalingRules {
    HPAScalingRules {
        stabilization_window_seconds: None,
        select_policy: Some("Max".to_string()),
        policies: Some(vec![HPAScalingPolicy {
            type_: "Percent".to_string(),
            value: 100,
            period_seconds: 15,
        }]),
        tolerance: None,
    }
}

fn merge_rules(rules: &mut Option<HPAScalingRules>, defaults: HPAScalingRules) {
    match rules {
        None => *rules = Some(defaults),
        Some(r) => {
            if r.stabilization_window_seconds.is_none() {
                r.stabilization_window_seconds = defaults.stabilization_window_seconds;
            }
            set(&mut r.select_policy, "Max".to_string());
            if r.policies.is_none() {
                r.policies = defaults.policies;
            }
        }
    }
}

fn default_hpa(hpa: &mut HorizontalPodAutoscaler) {
    let spec = hpa.spec.get_or_insert_with(Default::default);
    set(&mut spec.min_replicas, 1);
    if spec.metrics.as_ref().is_none_or(Vec::is_empty) {
        spec.metrics = Some(vec![MetricSpec {
            type_: "Resource".to_string(),
            resource: Some(ResourceMetricSource {
                name: "cpu".to_string(),
                target: MetricTarget {
                    type_: "Utilization".to_string(),
                    average_utilization: Some(DEFAULT_CPU_UTILIZATION),
                    ..MetricTarget::default()
                },
            }),
            ..MetricSpec::default()
        }]);
    }
    if let Some(b) = &mut spec.behavior {
        merge_rules(&mut b.scale_up, scale_up_rules());
        merge_rules(&mut b.scale_down, scale_down_rules());
    }
}

fn default_network_policy(np: &mut NetworkPolicy) {
    let spec = np.spec.get_or_insert_with(Default::default);
    let ingress_ports = spec
        .ingress
        .iter_mut()
        .flatten()
        .flat_map(|r| r.ports.iter_mut().flatten());
    for p in ingress_ports {
        set(&mut p.protocol, "TCP".to_string());
    }
    for p in spec
        .egress
        .iter_mut()
        .flatten()
        .flat_map(|r| r.ports.iter_mut().flatten())
    {
        set(&mut p.protocol, "TCP".to_string());
    }
    if spec.policy_types.as_ref().is_none_or(Vec::is_empty) {
        let mut types = vec!["Ingress".to_string()];
        if spec.egress.as_ref().is_some_and(|e| !e.is_empty()) {
            types.push("Egress".to_string());
        }
        spec.policy_types = Some(types);
    }
}

fn default_csi_driver(d: &mut CSIDriver) {
    let spec = &mut d.spec;
    set(&mut spec.attach_required, true);
    set(&mut spec.pod_info_on_mount, false);
    set(&mut spec.storage_capacity, false);
    set(
        &mut spec.fs_group_policy,
        "ReadWriteOnceWithFSType".to_string(),
    );
    if spec
        .volume_lifecycle_modes
        .as_ref()
        .is_none_or(Vec::is_empty)
    {
        spec.volume_lifecycle_modes = Some(vec!["Persistent".to_string()]);
    }
    set(&mut spec.requires_republish, false);
    set(&mut spec.se_linux_mount, false);
}

fn default_binding(role_ref: &mut RoleRef, subjects: Option<&mut [Subject]>) {
    if role_ref.api_group.is_empty() {
        role_ref.api_group = RBAC_GROUP.to_string();
    }
    for s in subjects.into_iter().flatten() {
        if s.api_group.as_deref().unwrap_or("").is_empty()
            && (s.kind == "User" || s.kind == "Group")
        {
            s.api_group = Some(RBAC_GROUP.to_string());
        }
    }
}

fn default_crd(crd: &mut CustomResourceDefinition) {
    let names = &mut crd.spec.names;
    if names.singular.as_deref().unwrap_or("").is_empty() {
        names.singular = Some(names.kind.to_lowercase());
    }
    if names.list_kind.as_deref().unwrap_or("").is_empty() && !names.kind.is_empty() {
        names.list_kind = Some(format!("{}List", names.kind));
    }
    let conversion = crd
        .spec
        .conversion
        .get_or_insert_with(|| CustomResourceConversion {
            strategy: "None".to_string(),
            webhook: None,
        });
    let service = conversion
        .webhook
        .as_mut()
        .and_then(|w| w.client_config.as_mut())
        .and_then(|c| c.service.as_mut());
    if let Some(svc) = service {
        set(&mut svc.port, DEFAULT_WEBHOOK_PORT);
    }
    let status = crd.status.get_or_insert_with(Default::default);
    if status.stored_versions.as_ref().is_none_or(Vec::is_empty)
        && let Some(v) = crd.spec.versions.iter().find(|v| v.storage)
    {
        status.stored_versions = Some(vec![v.name.clone()]);
    }
}
