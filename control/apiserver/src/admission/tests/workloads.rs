//! Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs and CronJobs.

use clipper_proto::IntOrString;
use clipper_proto::api::apps::v1::{
    DaemonSet, DaemonSetSpec, Deployment, DeploymentSpec, DeploymentStrategy, ReplicaSet,
    ReplicaSetSpec, RollingUpdateDeployment, StatefulSet, StatefulSetSpec,
};
use clipper_proto::api::batch::v1::{CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec};
use clipper_proto::api::meta::v1::LabelSelector;

use super::super::ErrorType::*;
use super::super::{job_selector_and_labels, parse_cron_standard};
use super::{Want, expect, meta, selector, template, validate_new, validate_upd};

fn deployment(f: impl FnOnce(&mut DeploymentSpec)) -> Deployment {
    let mut spec = DeploymentSpec {
        selector: selector("web"),
        template: template("web", None),
        ..Default::default()
    };
    f(&mut spec);
    Deployment {
        metadata: meta("web", Some("default")),
        spec: Some(spec),
        status: None,
    }
}

const SELECTOR_MISMATCH: &str = "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`";

#[test]
fn deployment_create() {
    let cases: Vec<(&str, Deployment, Vec<Want>)> = vec![
        ("valid", deployment(|_| {}), vec![]),
        (
            "selector mismatch",
            deployment(|s| s.template = template("other", None)),
            vec![("spec.template.metadata.labels", Invalid, SELECTOR_MISMATCH)],
        ),
        (
            "empty selector",
            deployment(|s| s.selector = LabelSelector::default()),
            vec![(
                "spec.selector",
                Invalid,
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment",
            )],
        ),
        (
            "negative replicas",
            deployment(|s| s.replicas = Some(-1)),
            vec![(
                "spec.replicas",
                Invalid,
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            )],
        ),
        (
            "zero replicas",
            deployment(|s| s.replicas = Some(0)),
            vec![],
        ),
        (
            "restart policy",
            deployment(|s| s.template = template("web", Some("Never"))),
            vec![(
                "spec.template.spec.restartPolicy",
                NotSupported,
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
            )],
        ),
        (
            "strategy type",
            deployment(|s| {
                s.strategy = Some(DeploymentStrategy {
                    type_: Some("BlueGreen".into()),
                    rolling_update: None,
                })
            }),
            vec![(
                "spec.strategy",
                NotSupported,
                "~supported values: \"Recreate\", \"RollingUpdate\"",
            )],
        ),
        (
            "recreate with rolling params",
            deployment(|s| {
                s.strategy = Some(DeploymentStrategy {
                    type_: Some("Recreate".into()),
                    rolling_update: Some(RollingUpdateDeployment::default()),
                })
            }),
            vec![(
                "spec.strategy.rollingUpdate",
                Forbidden,
                "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'",
            )],
        ),
        (
            "both zero",
            deployment(|s| {
                s.strategy = Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(IntOrString::Int(0)),
                        max_unavailable: Some(IntOrString::Int(0)),
                    }),
                })
            }),
            vec![(
                "spec.strategy.rollingUpdate.maxUnavailable",
                Invalid,
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: may not be 0 when `maxSurge` is 0",
            )],
        ),
        (
            "percent over 100",
            deployment(|s| {
                s.strategy = Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(IntOrString::Int(1)),
                        max_unavailable: Some(IntOrString::String("150%".into())),
                    }),
                })
            }),
            vec![(
                "spec.strategy.rollingUpdate.maxUnavailable",
                Invalid,
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"150%\"}: must not be greater than 100%",
            )],
        ),
        (
            "negative history",
            deployment(|s| s.revision_history_limit = Some(-1)),
            vec![(
                "spec.revisionHistoryLimit",
                Invalid,
                "spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0",
            )],
        ),
    ];
    for (name, d, want) in cases {
        expect(name, &validate_new(d), &want);
    }
}

#[test]
fn selectors_are_immutable() {
    let mut old = deployment(|_| {});
    old.metadata.resource_version = Some("1".into());
    let mut new = deployment(|s| {
        s.selector = selector("api");
        s.template = template("api", None);
    });
    new.metadata.resource_version = Some("1".into());
    expect(
        "deployment selector",
        &validate_upd(new, old.clone()),
        &[(
            "spec.selector",
            Invalid,
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"api\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable",
        )],
    );
    let scaled = deployment(|s| s.replicas = Some(5));
    expect("scale", &validate_upd(scaled, old), &[]);

    let rs = |app: &str| ReplicaSet {
        metadata: meta("web", Some("default")),
        spec: Some(ReplicaSetSpec {
            selector: selector(app),
            template: Some(template(app, None)),
            ..Default::default()
        }),
        status: None,
    };
    let errs = validate_upd(rs("api"), rs("web"));
    expect(
        "replicaset selector",
        &errs,
        &[("spec.selector", Invalid, "~field is immutable")],
    );
}

fn stateful_set(f: impl FnOnce(&mut StatefulSetSpec)) -> StatefulSet {
    let mut spec = StatefulSetSpec {
        selector: selector("db"),
        template: template("db", None),
        ..Default::default()
    };
    f(&mut spec);
    StatefulSet {
        metadata: meta("db", Some("default")),
        spec: Some(spec),
        status: None,
    }
}

#[test]
fn stateful_set_rules() {
    expect("valid", &validate_new(stateful_set(|_| {})), &[]);
    expect(
        "pod management policy",
        &validate_new(stateful_set(|s| {
            s.pod_management_policy = Some("Random".into())
        })),
        &[(
            "spec.podManagementPolicy",
            Invalid,
            "~spec.podManagementPolicy: Invalid value: \"Random\"",
        )],
    );
    expect(
        "negative replicas",
        &validate_new(stateful_set(|s| s.replicas = Some(-2))),
        &[(
            "spec.replicas",
            Invalid,
            "spec.replicas: Invalid value: -2: must be greater than or equal to 0",
        )],
    );
    // Replicas, template and update strategy may change; the service name may not.
    let old = stateful_set(|_| {});
    expect(
        "scale",
        &validate_upd(stateful_set(|s| s.replicas = Some(3)), old.clone()),
        &[],
    );
    let errs = validate_upd(stateful_set(|s| s.service_name = Some("other".into())), old);
    expect(
        "service name",
        &errs,
        &[(
            "spec",
            Forbidden,
            "~updates to statefulset spec for fields other than",
        )],
    );
}

fn daemon_set(app: &str, restart: Option<&str>) -> DaemonSet {
    DaemonSet {
        metadata: meta("agent", Some("kube-system")),
        spec: Some(DaemonSetSpec {
            selector: selector(app),
            template: template(app, restart),
            ..Default::default()
        }),
        status: None,
    }
}

#[test]
fn daemon_set_rules() {
    expect("valid", &validate_new(daemon_set("agent", None)), &[]);
    expect(
        "restart policy",
        &validate_new(daemon_set("agent", Some("OnFailure"))),
        &[(
            "spec.template.spec.restartPolicy",
            NotSupported,
            "spec.template.spec.restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\"",
        )],
    );
    let errs = validate_upd(daemon_set("other", None), daemon_set("agent", None));
    expect(
        "selector immutable",
        &errs,
        &[("spec.selector", Invalid, "~field is immutable")],
    );
}

fn job(f: impl FnOnce(&mut JobSpec)) -> Job {
    let mut spec = JobSpec {
        template: template("batch", Some("Never")),
        ..Default::default()
    };
    f(&mut spec);
    let uid = "0b6b5f0e-1111-2222-3333-444455556666";
    let mut j = Job {
        metadata: meta("pi", Some("default")),
        spec: Some(spec),
        status: None,
    };
    // The server fills in metadata.uid before it generates the selector and validates.
    j.metadata.uid = Some(uid.into());
    job_selector_and_labels(&mut j, uid);
    j
}

#[test]
fn job_rules() {
    expect("valid", &validate_new(job(|_| {})), &[]);
    expect(
        "restart always",
        &validate_new(job(|s| s.template = template("batch", Some("Always")))),
        &[(
            "spec.template.spec.restartPolicy",
            Required,
            "spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"",
        )],
    );
    expect(
        "negative parallelism",
        &validate_new(job(|s| s.parallelism = Some(-1))),
        &[(
            "spec.parallelism",
            Invalid,
            "spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
        )],
    );
    expect(
        "negative backoff",
        &validate_new(job(|s| s.backoff_limit = Some(-1))),
        &[(
            "spec.backoffLimit",
            Invalid,
            "spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0",
        )],
    );
    expect(
        "completion mode",
        &validate_new(job(|s| s.completion_mode = Some("Sometimes".into()))),
        &[(
            "spec.completionMode",
            NotSupported,
            "spec.completionMode: Unsupported value: \"Sometimes\": supported values: \"NonIndexed\", \"Indexed\"",
        )],
    );
    let old = job(|_| {});
    let scaled = job(|s| {
        s.completions = Some(1);
        s.parallelism = Some(3);
    });
    expect(
        "parallelism may change",
        &validate_upd(scaled, old.clone()),
        &[],
    );
    let errs = validate_upd(job(|s| s.completions = Some(5)), old.clone());
    expect(
        "completions immutable",
        &errs,
        &[("spec.completions", Invalid, "~field is immutable")],
    );
    let errs = validate_upd(
        job(|s| {
            s.template.spec.as_mut().expect("spec").containers[0].image = Some("busybox".into())
        }),
        old,
    );
    expect(
        "template immutable",
        &errs,
        &[("spec.template", Invalid, "~field is immutable")],
    );
}

#[test]
fn job_labels_from_uid() {
    let j = job(|_| {});
    let spec = j.spec.as_ref().expect("spec");
    let sel = spec
        .selector
        .as_ref()
        .and_then(|s| s.match_labels.as_ref())
        .expect("selector");
    assert_eq!(
        sel.get("batch.kubernetes.io/controller-uid")
            .map(String::as_str),
        Some("0b6b5f0e-1111-2222-3333-444455556666")
    );
    let tl = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.as_ref())
        .expect("labels");
    for key in [
        "controller-uid",
        "batch.kubernetes.io/controller-uid",
        "job-name",
        "batch.kubernetes.io/job-name",
    ] {
        assert!(tl.contains_key(key), "missing {key}: {tl:?}");
    }
    assert_eq!(tl.get("job-name").map(String::as_str), Some("pi"));
}

fn cron(schedule: &str) -> CronJob {
    let jt = JobSpec {
        template: template("batch", Some("OnFailure")),
        ..Default::default()
    };
    CronJob {
        metadata: meta("nightly", Some("default")),
        spec: Some(CronJobSpec {
            schedule: schedule.into(),
            job_template: JobTemplateSpec {
                metadata: None,
                spec: Some(jt),
            },
            ..Default::default()
        }),
        status: None,
    }
}

#[test]
fn cron_job_rules() {
    let cases: Vec<(&str, &str, Vec<Want>)> = vec![
        ("five fields", "*/5 * * * *", vec![]),
        ("descriptor", "@hourly", vec![]),
        ("names", "0 0 * JAN-MAR MON-FRI", vec![]),
        (
            "four fields",
            "* * * *",
            vec![(
                "spec.schedule",
                Invalid,
                "spec.schedule: Invalid value: \"* * * *\": expected exactly 5 fields, found 4: [* * * *]",
            )],
        ),
        (
            "minute 60",
            "60 * * * *",
            vec![(
                "spec.schedule",
                Invalid,
                "spec.schedule: Invalid value: \"60 * * * *\": end of range (60) above maximum (59): 60",
            )],
        ),
        (
            "empty",
            "",
            vec![("spec.schedule", Required, "spec.schedule: Required value")],
        ),
        (
            "TZ forbidden",
            "TZ=UTC 0 * * * *",
            vec![(
                "spec.schedule",
                Invalid,
                "~cannot use TZ or CRON_TZ in schedule",
            )],
        ),
    ];
    for (name, schedule, want) in cases {
        expect(name, &validate_new(cron(schedule)), &want);
    }
    let mut long = cron("@daily");
    long.metadata.name = Some("a".repeat(53));
    expect(
        "name length",
        &validate_new(long),
        &[(
            "metadata.name",
            Invalid,
            "~must be no more than 52 characters",
        )],
    );
    let mut always = cron("@daily");
    if let Some(jt) = always
        .spec
        .as_mut()
        .and_then(|s| s.job_template.spec.as_mut())
    {
        jt.template = template("batch", Some("Always"));
    }
    expect(
        "restart always",
        &validate_new(always),
        &[(
            "spec.jobTemplate.spec.template.spec.restartPolicy",
            Required,
            "~valid values: \"OnFailure\", \"Never\"",
        )],
    );
    let mut bad_policy = cron("@daily");
    bad_policy.spec.as_mut().expect("spec").concurrency_policy = Some("Sometimes".into());
    expect(
        "concurrency",
        &validate_new(bad_policy),
        &[(
            "spec.concurrencyPolicy",
            NotSupported,
            "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\"",
        )],
    );
}

#[test]
fn cron_parser() {
    let cases = [
        ("0 0 1 1 *", Ok(())),
        ("@every 1h", Ok(())),
        ("@yearly", Ok(())),
        ("@midnight", Ok(())),
        ("*/0 * * * *", Err("")),
        ("5-1 * * * *", Err("")),
        ("0 0 32 * *", Err("above maximum (31)")),
        ("0 0 * 13 *", Err("above maximum (12)")),
        ("0 0 * * 7", Err("above maximum (6)")),
        ("0 0 ? * *", Ok(())),
        ("a * * * *", Err("failed to parse int from a")),
    ];
    for (spec, want) in cases {
        match (parse_cron_standard(spec), want) {
            (Ok(()), Ok(())) => {}
            (Err(e), Err(fragment)) => assert!(e.contains(fragment), "{spec}: {e}"),
            (got, _) => panic!("{spec}: unexpected {got:?}"),
        }
    }
}
