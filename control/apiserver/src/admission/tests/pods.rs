//! Pod and pod-spec validation, create and update.

use std::collections::BTreeMap;

use clipper_proto::api::core::v1::{
    ConfigMapVolumeSource, ContainerPort, EnvVar, HTTPGetAction, Pod, PodSpec, Probe,
    ResourceRequirements, Toleration, Volume, VolumeMount,
};
use clipper_proto::{IntOrString, Quantity};

use super::super::ErrorType::*;
use super::{Want, container, expect, meta, pod_spec, validate_new, validate_upd};

fn pod(f: impl FnOnce(&mut PodSpec)) -> Pod {
    let mut spec = pod_spec();
    f(&mut spec);
    Pod {
        metadata: meta("web", Some("default")),
        spec: Some(spec),
        status: None,
    }
}

fn port(name: Option<&str>, number: i32, protocol: Option<&str>) -> ContainerPort {
    ContainerPort {
        name: name.map(str::to_string),
        container_port: number,
        protocol: protocol.map(str::to_string),
        ..ContainerPort::default()
    }
}

fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Quantity::parse(v).expect("test quantity")))
        .collect()
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        ..VolumeMount::default()
    }
}

fn cm_volume(name: &str) -> Volume {
    Volume {
        name: name.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: Some("cfg".into()),
            ..Default::default()
        }),
        ..Volume::default()
    }
}

fn http_probe(port: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            port: IntOrString::Int(port),
            ..Default::default()
        }),
        ..Probe::default()
    }
}

#[test]
fn pod_spec_create() {
    type Case = (&'static str, Pod, Vec<Want<'static>>);
    let cases: Vec<Case> = vec![
        ("valid", pod(|_| {}), vec![]),
        (
            "no containers",
            pod(|s| s.containers.clear()),
            vec![(
                "spec.containers",
                Required,
                "spec.containers: Required value",
            )],
        ),
        (
            "image required",
            pod(|s| s.containers[0].image = None),
            vec![(
                "spec.containers[0].image",
                Required,
                "spec.containers[0].image: Required value",
            )],
        ),
        (
            "container name required",
            pod(|s| s.containers[0].name.clear()),
            vec![(
                "spec.containers[0].name",
                Required,
                "spec.containers[0].name: Required value",
            )],
        ),
        (
            "container name syntax",
            pod(|s| s.containers[0].name = "Web".into()),
            vec![(
                "spec.containers[0].name",
                Invalid,
                "~spec.containers[0].name: Invalid value: \"Web\": a lowercase RFC 1123 label must consist of",
            )],
        ),
        (
            "duplicate container",
            pod(|s| s.containers.push(container("c", "busybox"))),
            vec![(
                "spec.containers[1].name",
                Duplicate,
                "spec.containers[1].name: Duplicate value: \"c\"",
            )],
        ),
        (
            "init shares a name",
            pod(|s| s.init_containers = Some(vec![container("c", "busybox")])),
            vec![(
                "spec.initContainers[0].name",
                Duplicate,
                "spec.initContainers[0].name: Duplicate value: \"c\"",
            )],
        ),
        (
            "port zero",
            pod(|s| s.containers[0].ports = Some(vec![port(None, 0, None)])),
            vec![(
                "spec.containers[0].ports[0].containerPort",
                Required,
                "spec.containers[0].ports[0].containerPort: Required value",
            )],
        ),
        (
            "port too big",
            pod(|s| s.containers[0].ports = Some(vec![port(None, 70000, None)])),
            vec![(
                "spec.containers[0].ports[0].containerPort",
                Invalid,
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            )],
        ),
        (
            "protocol",
            pod(|s| s.containers[0].ports = Some(vec![port(None, 80, Some("XYZ"))])),
            vec![(
                "spec.containers[0].ports[0].protocol",
                NotSupported,
                "spec.containers[0].ports[0].protocol: Unsupported value: \"XYZ\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            )],
        ),
        (
            "duplicate port name",
            pod(|s| {
                s.containers[0].ports = Some(vec![
                    port(Some("http"), 80, None),
                    port(Some("http"), 81, None),
                ])
            }),
            vec![(
                "spec.containers[0].ports[1].name",
                Duplicate,
                "spec.containers[0].ports[1].name: Duplicate value: \"http\"",
            )],
        ),
        (
            "port name syntax",
            pod(|s| s.containers[0].ports = Some(vec![port(Some("http_1"), 80, None)])),
            vec![(
                "spec.containers[0].ports[0].name",
                Invalid,
                "~spec.containers[0].ports[0].name: Invalid value: \"http_1\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            )],
        ),
        (
            "env name",
            pod(|s| {
                s.containers[0].env = Some(vec![EnvVar {
                    name: "A=B".into(),
                    ..EnvVar::default()
                }])
            }),
            vec![(
                "spec.containers[0].env[0].name",
                Invalid,
                "~spec.containers[0].env[0].name: Invalid value: \"A=B\"",
            )],
        ),
        (
            "env name required",
            pod(|s| s.containers[0].env = Some(vec![EnvVar::default()])),
            vec![(
                "spec.containers[0].env[0].name",
                Required,
                "spec.containers[0].env[0].name: Required value",
            )],
        ),
        (
            "duplicate volume",
            pod(|s| s.volumes = Some(vec![cm_volume("v"), cm_volume("v")])),
            vec![(
                "spec.volumes[1].name",
                Duplicate,
                "spec.volumes[1].name: Duplicate value: \"v\"",
            )],
        ),
        (
            "mount of undeclared volume",
            pod(|s| s.containers[0].volume_mounts = Some(vec![mount("missing", "/data")])),
            vec![(
                "spec.containers[0].volumeMounts[0].name",
                NotFound,
                "spec.containers[0].volumeMounts[0].name: Not found: \"missing\"",
            )],
        ),
        (
            "mount of declared volume",
            pod(|s| {
                s.volumes = Some(vec![cm_volume("v")]);
                s.containers[0].volume_mounts = Some(vec![mount("v", "/data")]);
            }),
            vec![],
        ),
        (
            "requests above limits",
            pod(|s| {
                s.containers[0].resources = Some(ResourceRequirements {
                    limits: Some(quantities(&[("cpu", "1")])),
                    requests: Some(quantities(&[("cpu", "2")])),
                    claims: None,
                })
            }),
            vec![(
                "spec.containers[0].resources.requests",
                Invalid,
                "spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1",
            )],
        ),
        (
            "requests within limits",
            pod(|s| {
                s.containers[0].resources = Some(ResourceRequirements {
                    limits: Some(quantities(&[("cpu", "1"), ("memory", "1Gi")])),
                    requests: Some(quantities(&[("cpu", "500m"), ("memory", "512Mi")])),
                    claims: None,
                })
            }),
            vec![],
        ),
        (
            "restartPolicy",
            pod(|s| s.restart_policy = Some("Sometimes".into())),
            vec![(
                "spec.restartPolicy",
                NotSupported,
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
            )],
        ),
        (
            "dnsPolicy",
            pod(|s| s.dns_policy = Some("Google".into())),
            vec![(
                "spec.dnsPolicy",
                NotSupported,
                "spec.dnsPolicy: Unsupported value: \"Google\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"",
            )],
        ),
        (
            "liveness successThreshold",
            pod(|s| {
                let mut p = http_probe(8080);
                p.success_threshold = Some(2);
                s.containers[0].liveness_probe = Some(p);
            }),
            vec![(
                "spec.containers[0].livenessProbe.successThreshold",
                Invalid,
                "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
            )],
        ),
        (
            "readiness probe ok",
            pod(|s| s.containers[0].readiness_probe = Some(http_probe(8080))),
            vec![],
        ),
        (
            "probe without handler",
            pod(|s| s.containers[0].readiness_probe = Some(Probe::default())),
            vec![(
                "spec.containers[0].readinessProbe",
                Required,
                "spec.containers[0].readinessProbe: Required value: must specify a handler type",
            )],
        ),
        // Negative grace periods are clamped to 1 for Pods, not rejected.
        (
            "negative grace period",
            pod(|s| s.termination_grace_period_seconds = Some(-1)),
            vec![],
        ),
        (
            "activeDeadlineSeconds zero",
            pod(|s| s.active_deadline_seconds = Some(0)),
            vec![(
                "spec.activeDeadlineSeconds",
                Invalid,
                "~spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and",
            )],
        ),
        (
            "pull policy",
            pod(|s| s.containers[0].image_pull_policy = Some("Sometimes".into())),
            vec![(
                "spec.containers[0].imagePullPolicy",
                NotSupported,
                "spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\"",
            )],
        ),
        (
            "hostname",
            pod(|s| s.hostname = Some("Web".into())),
            vec![(
                "spec.hostname",
                Invalid,
                "~spec.hostname: Invalid value: \"Web\": a lowercase RFC 1123 label",
            )],
        ),
    ];
    for (name, p, want) in cases {
        expect(name, &validate_new(p), &want);
    }
}

#[test]
fn pod_update() {
    let old = pod(|s| s.tolerations = Some(vec![]));
    let cases: Vec<(&str, Pod, Vec<Want>)> = vec![
        ("unchanged", old.clone(), vec![]),
        (
            "image may change",
            pod(|s| s.containers[0].image = Some("nginx:1.28".into())),
            vec![],
        ),
        (
            "deadline may be set",
            pod(|s| s.active_deadline_seconds = Some(60)),
            vec![],
        ),
        (
            "toleration added",
            pod(|s| {
                s.tolerations = Some(vec![Toleration {
                    key: Some("k".into()),
                    operator: Some("Exists".into()),
                    effect: Some("NoSchedule".into()),
                    ..Toleration::default()
                }])
            }),
            vec![],
        ),
        (
            "container added",
            pod(|s| s.containers.push(container("d", "busybox"))),
            vec![(
                "spec.containers",
                Forbidden,
                "spec.containers: Forbidden: pod updates may not add or remove containers",
            )],
        ),
        (
            "restart policy",
            pod(|s| s.restart_policy = Some("Never".into())),
            vec![(
                "spec",
                Forbidden,
                "~pod updates may not change fields other than",
            )],
        ),
        // Reported by the spec check and again by the update check, as Kubernetes does;
        // invalid_message collapses the pair.
        (
            "image removed",
            pod(|s| s.containers[0].image = None),
            vec![
                (
                    "spec.containers[0].image",
                    Required,
                    "spec.containers[0].image: Required value",
                ),
                (
                    "spec.containers[0].image",
                    Required,
                    "spec.containers[0].image: Required value",
                ),
            ],
        ),
    ];
    for (name, new, want) in cases {
        let mut new = new;
        new.metadata.resource_version = Some("2".into());
        expect(name, &validate_upd(new, old.clone()), &want);
    }
}

#[test]
fn deadline_may_only_shrink() {
    let old = pod(|s| s.active_deadline_seconds = Some(60));
    let new = pod(|s| s.active_deadline_seconds = Some(120));
    let errs = validate_upd(new, old.clone());
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].field, "spec.activeDeadlineSeconds");
    let shorter = pod(|s| s.active_deadline_seconds = Some(30));
    assert!(validate_upd(shorter, old).is_empty());
}
