//! Defaulting per kind, and that defaults are stable when applied twice.

use std::collections::BTreeMap;

use clipper_proto::api::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionNames, CustomResourceDefinitionSpec,
    CustomResourceDefinitionVersion,
};
use clipper_proto::api::apps::v1::{
    DaemonSet, DaemonSetSpec, Deployment, DeploymentSpec, ReplicaSet, ReplicaSetSpec, StatefulSet,
    StatefulSetSpec,
};
use clipper_proto::api::autoscaling::v2::{
    HPAScalingRules, HorizontalPodAutoscaler, HorizontalPodAutoscalerBehavior,
    HorizontalPodAutoscalerSpec,
};
use clipper_proto::api::batch::v1::{CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec};
use clipper_proto::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction,
    Namespace, Node, NodeStatus, ObjectFieldSelector, PersistentVolume, PersistentVolumeClaim, Pod,
    Probe, ResourceRequirements, Secret, Service, ServicePort, ServiceSpec, Volume,
};
use clipper_proto::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicySpec,
};
use clipper_proto::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use clipper_proto::api::scheduling::v1::PriorityClass;
use clipper_proto::api::storage::v1::StorageClass;
use clipper_proto::{IntOrString, Quantity};

use super::super::{default, image_tag, prepare_namespace_for_create};
use super::{container, labels, meta, pod_spec, selector, template};

fn defaulted<T: Clone + PartialEq + std::fmt::Debug + 'static>(mut obj: T) -> T {
    default(&mut obj);
    let mut again = obj.clone();
    default(&mut again);
    assert_eq!(again, obj, "defaulting is not idempotent");
    obj
}

fn str_of(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("<unset>")
}

#[test]
fn pod_defaults() {
    let mut spec = pod_spec();
    spec.init_containers = Some(vec![container("init", "busybox:latest")]);
    let c = &mut spec.containers[0];
    c.ports = Some(vec![ContainerPort {
        container_port: 80,
        ..ContainerPort::default()
    }]);
    c.readiness_probe = Some(Probe {
        http_get: Some(HTTPGetAction {
            port: IntOrString::Int(80),
            ..HTTPGetAction::default()
        }),
        ..Probe::default()
    });
    c.env = Some(vec![EnvVar {
        name: "NODE".into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "spec.nodeName".into(),
                api_version: None,
            }),
            ..EnvVarSource::default()
        }),
        value: None,
    }]);
    let cpu = |v: &str| BTreeMap::from([("cpu".to_string(), Quantity::parse(v).expect("q"))]);
    c.resources = Some(ResourceRequirements {
        limits: Some(cpu("0.5")),
        requests: None,
        claims: None,
    });
    spec.volumes = Some(vec![
        Volume {
            name: "scratch".into(),
            ..Volume::default()
        },
        Volume {
            name: "cfg".into(),
            config_map: Some(ConfigMapVolumeSource::default()),
            ..Volume::default()
        },
    ]);
    let pod = defaulted(Pod {
        metadata: meta("web", Some("default")),
        spec: Some(spec),
        status: None,
    });
    let s = pod.spec.as_ref().expect("spec");
    assert_eq!(str_of(&s.restart_policy), "Always");
    assert_eq!(str_of(&s.dns_policy), "ClusterFirst");
    assert_eq!(str_of(&s.scheduler_name), "default-scheduler");
    assert_eq!(s.termination_grace_period_seconds, Some(30));
    assert_eq!(s.enable_service_links, Some(true));
    assert!(s.security_context.is_some());
    let c = &s.containers[0];
    assert_eq!(str_of(&c.image_pull_policy), "IfNotPresent");
    assert_eq!(str_of(&c.termination_message_path), "/dev/termination-log");
    assert_eq!(str_of(&c.termination_message_policy), "File");
    assert_eq!(str_of(&c.ports.as_ref().expect("ports")[0].protocol), "TCP");
    let p = c.readiness_probe.as_ref().expect("probe");
    assert_eq!(
        (
            p.timeout_seconds,
            p.period_seconds,
            p.success_threshold,
            p.failure_threshold
        ),
        (Some(1), Some(10), Some(1), Some(3))
    );
    let h = p.http_get.as_ref().expect("httpGet");
    assert_eq!((str_of(&h.path), str_of(&h.scheme)), ("/", "HTTP"));
    let fr = c.env.as_ref().expect("env")[0]
        .value_from
        .as_ref()
        .and_then(|v| v.field_ref.as_ref())
        .expect("fieldRef");
    assert_eq!(str_of(&fr.api_version), "v1");
    let r = c.resources.as_ref().expect("resources");
    assert_eq!(
        r.requests
            .as_ref()
            .and_then(|q| q.get("cpu"))
            .map(|q| q.milli_value()),
        Some(500)
    );
    let init = &s.init_containers.as_ref().expect("init")[0];
    assert_eq!(str_of(&init.image_pull_policy), "Always");
    let vols = s.volumes.as_ref().expect("volumes");
    assert!(vols[0].empty_dir.is_some());
    assert_eq!(
        vols[1].config_map.as_ref().and_then(|c| c.default_mode),
        Some(0o644)
    );
}

#[test]
fn host_network_ports_and_grace_clamp() {
    let mut spec = pod_spec();
    spec.host_network = Some(true);
    spec.termination_grace_period_seconds = Some(-5);
    spec.containers[0].ports = Some(vec![ContainerPort {
        container_port: 8080,
        ..ContainerPort::default()
    }]);
    let pod = defaulted(Pod {
        metadata: meta("p", Some("default")),
        spec: Some(spec),
        status: None,
    });
    let s = pod.spec.as_ref().expect("spec");
    assert_eq!(
        s.containers[0].ports.as_ref().expect("ports")[0].host_port,
        Some(8080)
    );
    assert_eq!(s.termination_grace_period_seconds, Some(1));
}

#[test]
fn pull_policy_from_image() {
    let cases = [
        ("nginx", Some("latest")),
        ("nginx:latest", Some("latest")),
        ("nginx:1.27", Some("1.27")),
        ("registry.local:5000/team/app", Some("latest")),
        ("registry.local:5000/team/app:v2", Some("v2")),
        (
            "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            Some(""),
        ),
        (
            "nginx:1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            Some("1.0"),
        ),
        ("UPPER/case", Some("latest")),
        ("team/UPPER", None),
        ("", None),
        ("nginx:", None),
    ];
    for (image, want) in cases {
        assert_eq!(image_tag(image).as_deref(), want, "{image}");
    }
}

#[test]
fn workload_defaults() {
    let d = defaulted(Deployment {
        metadata: meta("web", Some("default")),
        spec: Some(DeploymentSpec {
            selector: selector("web"),
            template: template("web", None),
            ..Default::default()
        }),
        status: None,
    });
    let s = d.spec.as_ref().expect("spec");
    assert_eq!(
        (
            s.replicas,
            s.revision_history_limit,
            s.progress_deadline_seconds
        ),
        (Some(1), Some(10), Some(600))
    );
    let st = s.strategy.as_ref().expect("strategy");
    assert_eq!(str_of(&st.type_), "RollingUpdate");
    let ru = st.rolling_update.as_ref().expect("rollingUpdate");
    assert_eq!(ru.max_unavailable, Some(IntOrString::String("25%".into())));
    assert_eq!(ru.max_surge, Some(IntOrString::String("25%".into())));
    assert_eq!(
        str_of(&s.template.spec.as_ref().expect("pod").restart_policy),
        "Always"
    );

    let rs = defaulted(ReplicaSet {
        metadata: meta("web", Some("default")),
        spec: Some(ReplicaSetSpec {
            selector: selector("web"),
            template: Some(template("web", None)),
            ..Default::default()
        }),
        status: None,
    });
    assert_eq!(rs.spec.as_ref().and_then(|s| s.replicas), Some(1));

    let ss = defaulted(StatefulSet {
        metadata: meta("db", Some("default")),
        spec: Some(StatefulSetSpec {
            selector: selector("db"),
            template: template("db", None),
            volume_claim_templates: Some(vec![PersistentVolumeClaim {
                metadata: meta("data", None),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        status: None,
    });
    let s = ss.spec.as_ref().expect("spec");
    assert_eq!(str_of(&s.pod_management_policy), "OrderedReady");
    assert_eq!((s.replicas, s.revision_history_limit), (Some(1), Some(10)));
    let us = s.update_strategy.as_ref().expect("strategy");
    assert_eq!(str_of(&us.type_), "RollingUpdate");
    assert_eq!(
        us.rolling_update.as_ref().and_then(|r| r.partition),
        Some(0)
    );
    let rp = s
        .persistent_volume_claim_retention_policy
        .as_ref()
        .expect("retention");
    assert_eq!(
        (str_of(&rp.when_deleted), str_of(&rp.when_scaled)),
        ("Retain", "Retain")
    );
    let claim = &s.volume_claim_templates.as_ref().expect("claims")[0];
    assert_eq!(
        str_of(&claim.spec.as_ref().expect("spec").volume_mode),
        "Filesystem"
    );
    assert_eq!(
        str_of(&claim.status.as_ref().expect("status").phase),
        "Pending"
    );

    let ds = defaulted(DaemonSet {
        metadata: meta("agent", Some("default")),
        spec: Some(DaemonSetSpec {
            selector: selector("a"),
            template: template("a", None),
            ..Default::default()
        }),
        status: None,
    });
    let s = ds.spec.as_ref().expect("spec");
    assert_eq!(s.revision_history_limit, Some(10));
    let us = s.update_strategy.as_ref().expect("strategy");
    assert_eq!(str_of(&us.type_), "RollingUpdate");
    let ru = us.rolling_update.as_ref().expect("rollingUpdate");
    assert_eq!(
        (ru.max_unavailable.clone(), ru.max_surge.clone()),
        (Some(IntOrString::Int(1)), Some(IntOrString::Int(0)))
    );
}

#[test]
fn batch_defaults() {
    let job = defaulted(Job {
        metadata: meta("pi", Some("default")),
        spec: Some(JobSpec {
            template: template("pi", Some("Never")),
            ..Default::default()
        }),
        status: None,
    });
    let s = job.spec.as_ref().expect("spec");
    assert_eq!(
        (s.completions, s.parallelism, s.backoff_limit),
        (Some(1), Some(1), Some(6))
    );
    assert_eq!(str_of(&s.completion_mode), "NonIndexed");
    assert_eq!(str_of(&s.pod_replacement_policy), "TerminatingOrFailed");
    assert_eq!((s.suspend, s.manual_selector), (Some(false), Some(false)));
    assert_eq!(job.metadata.labels, Some(labels(&[("app", "pi")])));

    let parallel = defaulted(Job {
        metadata: meta("pi", Some("default")),
        spec: Some(JobSpec {
            parallelism: Some(4),
            backoff_limit_per_index: Some(1),
            template: template("pi", Some("Never")),
            ..Default::default()
        }),
        status: None,
    });
    let s = parallel.spec.as_ref().expect("spec");
    assert_eq!(
        (s.completions, s.parallelism, s.backoff_limit),
        (None, Some(4), Some(i32::MAX))
    );

    let cj = defaulted(CronJob {
        metadata: meta("nightly", Some("default")),
        spec: Some(CronJobSpec {
            schedule: "@daily".into(),
            job_template: JobTemplateSpec {
                metadata: None,
                spec: Some(JobSpec {
                    template: template("n", Some("OnFailure")),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    });
    let s = cj.spec.as_ref().expect("spec");
    assert_eq!(str_of(&s.concurrency_policy), "Allow");
    assert_eq!(
        (
            s.suspend,
            s.successful_jobs_history_limit,
            s.failed_jobs_history_limit
        ),
        (Some(false), Some(3), Some(1))
    );
    let jt = s.job_template.spec.as_ref().expect("job spec");
    // The Job-level defaults apply when the Job is created, not in the template.
    assert_eq!(jt.backoff_limit, None);
    let pod = jt.template.spec.as_ref().expect("pod spec");
    assert_eq!(
        str_of(&pod.containers[0].termination_message_policy),
        "File"
    );
}

fn svc(ty: Option<&str>, affinity: Option<&str>) -> Service {
    Service {
        metadata: meta("web", Some("default")),
        spec: Some(ServiceSpec {
            type_: ty.map(str::to_string),
            session_affinity: affinity.map(str::to_string),
            ports: Some(vec![ServicePort {
                port: 80,
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

#[test]
fn service_defaults() {
    let s = defaulted(svc(None, None)).spec.expect("spec");
    assert_eq!(
        (str_of(&s.type_), str_of(&s.session_affinity)),
        ("ClusterIP", "None")
    );
    let p = &s.ports.as_ref().expect("ports")[0];
    assert_eq!(
        (str_of(&p.protocol), p.target_port.clone()),
        ("TCP", Some(IntOrString::Int(80)))
    );
    assert_eq!(str_of(&s.internal_traffic_policy), "Cluster");
    assert_eq!(s.external_traffic_policy, None);
    assert_eq!(str_of(&s.ip_family_policy), "SingleStack");
    assert_eq!(s.allocate_load_balancer_node_ports, None);

    let s = defaulted(svc(Some("LoadBalancer"), Some("ClientIP")))
        .spec
        .expect("spec");
    assert_eq!(str_of(&s.external_traffic_policy), "Cluster");
    assert_eq!(s.allocate_load_balancer_node_ports, Some(true));
    let timeout = s
        .session_affinity_config
        .and_then(|c| c.client_ip)
        .and_then(|c| c.timeout_seconds);
    assert_eq!(timeout, Some(10800));

    let s = defaulted(svc(Some("ExternalName"), None))
        .spec
        .expect("spec");
    assert_eq!(
        (s.internal_traffic_policy, s.ip_family_policy),
        (None, None)
    );
}

#[test]
fn core_object_defaults() {
    let ns = defaulted(Namespace {
        metadata: meta("team-a", None),
        ..Namespace::default()
    });
    assert_eq!(
        ns.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("kubernetes.io/metadata.name"))
            .map(String::as_str),
        Some("team-a")
    );
    assert_eq!(str_of(&ns.status.as_ref().expect("status").phase), "Active");
    let mut created = ns.clone();
    prepare_namespace_for_create(&mut created);
    assert_eq!(
        created.spec.and_then(|s| s.finalizers),
        Some(vec!["kubernetes".to_string()])
    );

    let secret = defaulted(Secret {
        metadata: meta("s", Some("default")),
        ..Secret::default()
    });
    assert_eq!(str_of(&secret.type_), "Opaque");
    let cm = defaulted(ConfigMap {
        metadata: meta("c", Some("default")),
        ..ConfigMap::default()
    });
    assert_eq!(cm.data, Some(BTreeMap::new()));
    let pvc = defaulted(PersistentVolumeClaim {
        metadata: meta("d", Some("default")),
        ..Default::default()
    });
    assert_eq!(
        str_of(&pvc.spec.as_ref().expect("spec").volume_mode),
        "Filesystem"
    );
    let pv = defaulted(PersistentVolume {
        metadata: meta("pv", None),
        ..Default::default()
    });
    let spec = pv.spec.as_ref().expect("spec");
    assert_eq!(
        (
            str_of(&spec.persistent_volume_reclaim_policy),
            str_of(&spec.volume_mode)
        ),
        ("Retain", "Filesystem")
    );
    assert_eq!(
        str_of(&pv.status.as_ref().expect("status").phase),
        "Pending"
    );

    let capacity = BTreeMap::from([("cpu".to_string(), Quantity::parse("4").expect("q"))]);
    let node = defaulted(Node {
        metadata: meta("n1", None),
        spec: None,
        status: Some(NodeStatus {
            capacity: Some(capacity.clone()),
            ..NodeStatus::default()
        }),
    });
    assert_eq!(node.status.and_then(|s| s.allocatable), Some(capacity));
}

#[test]
fn other_kind_defaults() {
    let hpa = defaulted(HorizontalPodAutoscaler {
        metadata: meta("web", Some("default")),
        spec: Some(HorizontalPodAutoscalerSpec {
            max_replicas: 5,
            behavior: Some(HorizontalPodAutoscalerBehavior {
                scale_up: Some(HPAScalingRules {
                    stabilization_window_seconds: Some(60),
                    ..Default::default()
                }),
                scale_down: None,
            }),
            ..Default::default()
        }),
        status: None,
    });
    let s = hpa.spec.as_ref().expect("spec");
    assert_eq!(s.min_replicas, Some(1));
    let m = &s.metrics.as_ref().expect("metrics")[0];
    assert_eq!(
        m.resource
            .as_ref()
            .and_then(|r| r.target.average_utilization),
        Some(80)
    );
    let b = s.behavior.as_ref().expect("behavior");
    let up = b.scale_up.as_ref().expect("up");
    assert_eq!(
        (up.stabilization_window_seconds, str_of(&up.select_policy)),
        (Some(60), "Max")
    );
    assert_eq!(up.policies.as_ref().map(Vec::len), Some(2));
    let down = b.scale_down.as_ref().expect("down");
    assert_eq!(down.stabilization_window_seconds, None);
    assert_eq!(
        down.policies
            .as_ref()
            .map(|p| (p[0].type_.as_str(), p[0].value)),
        Some(("Percent", 100))
    );

    let np = defaulted(NetworkPolicy {
        metadata: meta("np", Some("default")),
        spec: Some(NetworkPolicySpec {
            pod_selector: selector("web"),
            egress: Some(vec![NetworkPolicyEgressRule::default()]),
            ..Default::default()
        }),
    });
    assert_eq!(
        np.spec.and_then(|s| s.policy_types),
        Some(vec!["Ingress".to_string(), "Egress".to_string()])
    );

    let pc = defaulted(PriorityClass {
        metadata: meta("high", None),
        value: 10,
        ..Default::default()
    });
    assert_eq!(str_of(&pc.preemption_policy), "PreemptLowerPriority");
    let sc = defaulted(StorageClass {
        metadata: meta("fast", None),
        provisioner: "x.io".into(),
        ..Default::default()
    });
    assert_eq!(
        (str_of(&sc.reclaim_policy), str_of(&sc.volume_binding_mode)),
        ("Delete", "Immediate")
    );

    let rb = defaulted(RoleBinding {
        metadata: meta("rb", Some("default")),
        role_ref: RoleRef {
            api_group: String::new(),
            kind: "Role".into(),
            name: "r".into(),
        },
        subjects: Some(vec![
            Subject {
                kind: "User".into(),
                name: "alice".into(),
                ..Subject::default()
            },
            Subject {
                kind: "ServiceAccount".into(),
                name: "robot".into(),
                ..Subject::default()
            },
        ]),
    });
    assert_eq!(rb.role_ref.api_group, "rbac.authorization.k8s.io");
    let subjects = rb.subjects.as_ref().expect("subjects");
    assert_eq!(
        (
            str_of(&subjects[0].api_group),
            subjects[1].api_group.clone()
        ),
        ("rbac.authorization.k8s.io", None)
    );

    let crd = defaulted(CustomResourceDefinition {
        metadata: meta("widgets.example.com", None),
        spec: CustomResourceDefinitionSpec {
            group: "example.com".into(),
            names: CustomResourceDefinitionNames {
                kind: "Widget".into(),
                plural: "widgets".into(),
                ..Default::default()
            },
            scope: "Namespaced".into(),
            versions: vec![CustomResourceDefinitionVersion {
                name: "v1".into(),
                served: true,
                storage: true,
                ..Default::default()
            }],
            ..Default::default()
        },
        status: None,
    });
    assert_eq!(
        (
            str_of(&crd.spec.names.singular),
            str_of(&crd.spec.names.list_kind)
        ),
        ("widget", "WidgetList")
    );
    assert_eq!(
        crd.spec.conversion.as_ref().map(|c| c.strategy.as_str()),
        Some("None")
    );
    assert_eq!(
        crd.status.and_then(|s| s.stored_versions),
        Some(vec!["v1".to_string()])
    );
}

#[test]
fn unknown_types_are_left_alone() {
    let mut s = "unchanged".to_string();
    default(&mut s);
    assert_eq!(s, "unchanged");
}
