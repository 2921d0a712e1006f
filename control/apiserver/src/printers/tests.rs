//! Table-driven tests of every printer: realistic YAML objects in, header names and cell
//! values out, compared with what kube-apiserver 1.33 serves; plus ages, custom resource
//! columns, the default table and the JSON shape of the Table.

use std::any::Any;

use clipper_proto::api::apiextensions::v1::CustomResourceColumnDefinition;
use clipper_proto::api::core::v1::{Namespace, Pod};
use clipper_proto::api::meta::v1::ListMeta;
use clipper_proto::codec::{self, FieldValidation};
use clipper_proto::{Resource, Time};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::format::{OBJECT_META, doc, format_label_selector, human_duration, object_meta_doc};
use super::*;

/// The clock every test reads: ages below are relative to it.
const NOW: &str = "2025-06-01T12:00:00Z";

fn now() -> Time {
    Time::parse(NOW).unwrap()
}

/// Decodes a one-document YAML fixture strictly (a typo in a fixture fails the test).
fn decode<T: DeserializeOwned + Resource>(yaml: &str) -> (T, Value) {
    let json = codec::yaml_documents(yaml)
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let (typed, _) = codec::from_value_resource::<T>(json.clone())
        .unwrap()
        .validate(FieldValidation::Strict)
        .unwrap();
    (typed, json)
}

fn table_of<T: DeserializeOwned + Resource + Any>(yaml: &str, options: &TableOptions) -> Table {
    let (typed, json) = decode::<T>(yaml);
    table_for(
        T::GROUP,
        T::KIND,
        &[Item::new(&typed, &json)],
        None,
        now(),
        options,
    )
    .unwrap()
}

/// Prints each fixture as a one-object table of its kind and compares the column names and
/// the row's cells.
fn check<T: DeserializeOwned + Resource + Any>(headers: &[&str], cases: &[(&str, Value)]) {
    for (yaml, want) in cases {
        let (typed, json) = decode::<T>(yaml);
        let table = table_for(
            T::GROUP,
            T::KIND,
            &[Item::new(&typed, &json)],
            None,
            now(),
            &TableOptions::default(),
        )
        .unwrap();
        let names: Vec<&str> = table.columns().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, headers, "{} columns", T::KIND);
        assert_eq!(table.rows().len(), 1);
        let cells = &table.rows()[0].cells;
        assert_eq!(
            &Value::Array(cells.clone()),
            want,
            "{} {}",
            T::KIND,
            json["metadata"]["name"]
        );
        // Kubernetes 1.33's IPAddress printer is the one whose cells outnumber its columns.
        if T::KIND != "IPAddress" {
            assert_eq!(
                cells.len(),
                headers.len(),
                "{} {}",
                T::KIND,
                json["metadata"]["name"]
            );
        }
    }
}

#[test]
fn ages_format_like_human_duration() {
    let s = |secs: i64| secs * 1_000_000;
    let (m, h, d) = (60, 3600, 86_400);
    let cases = [
        (s(-3), "<invalid>"),
        (s(-2), "<invalid>"),
        (s(-1), "0s"),
        (-500_000, "0s"),
        (0, "0s"),
        (s(5), "5s"),
        (s(119), "119s"),
        (s(120), "2m"),
        (s(200), "3m20s"),
        (s(599), "9m59s"),
        (s(600), "10m"),
        (s(45 * m), "45m"),
        (s(3 * h - 1), "179m"),
        (s(3 * h), "3h"),
        (s(7 * h + 5 * m), "7h5m"),
        (s(8 * h + 59 * m), "8h"),
        (s(47 * h), "47h"),
        (s(2 * d), "2d"),
        (s(2 * d + 3 * h), "2d3h"),
        (s(8 * d - 1), "7d23h"),
        (s(8 * d), "8d"),
        (s(729 * d), "729d"),
        (s(730 * d), "2y"),
        (s((4 * 365 + 2) * d), "4y2d"),
        (s(8 * 365 * d), "8y"),
        // Go's time.Duration saturates at about 292 years.
        (s(300 * 365 * d), "292y"),
        (i64::MAX, "292y"),
        (i64::MIN, "<invalid>"),
    ];
    for (micros, want) in cases {
        assert_eq!(human_duration(micros), want, "{micros}µs");
    }
}

const POD_HEADERS: &[&str] = &[
    "Name",
    "Ready",
    "Status",
    "Restarts",
    "Age",
    "IP",
    "Node",
    "Nominated Node",
    "Readiness Gates",
];

#[test]
fn pods() {
    check::<Pod>(
        POD_HEADERS,
        &[
            (
                r#"
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: default, creationTimestamp: "2025-06-01T09:00:00Z"}
spec:
  nodeName: node-1
  containers: [{name: web, image: "nginx:1.27"}, {name: log, image: "busybox:1.36"}]
status:
  phase: Running
  podIP: 10.0.0.5
  podIPs: [{ip: 10.0.0.5}]
  conditions: [{type: Ready, status: "True"}]
  containerStatuses:
  - name: web
    ready: true
    restartCount: 0
    state: {running: {startedAt: "2025-06-01T09:00:05Z"}}
  - name: log
    ready: true
    restartCount: 5
    lastState: {terminated: {exitCode: 1, reason: Error, finishedAt: "2025-06-01T11:55:00Z"}}
    state: {running: {startedAt: "2025-06-01T11:55:01Z"}}
"#,
                json!([
                    "web-1",
                    "2/2",
                    "Running",
                    "5 (5m ago)",
                    "3h",
                    "10.0.0.5",
                    "node-1",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: pending-1, creationTimestamp: "2025-06-01T11:59:55Z"}
spec: {containers: [{name: app, image: "app:1"}]}
status:
  phase: Pending
  containerStatuses: [{name: app, state: {waiting: {reason: ContainerCreating}}}]
"#,
                json!([
                    "pending-1",
                    "0/1",
                    "ContainerCreating",
                    "0",
                    "5s",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: crash-1, creationTimestamp: "2025-06-01T11:15:00Z"}
spec: {nodeName: node-2, containers: [{name: app, image: "app:1"}]}
status:
  phase: Running
  podIP: 10.0.0.9
  containerStatuses:
  - name: app
    restartCount: 4
    lastState: {terminated: {exitCode: 1, reason: Error, finishedAt: "2025-06-01T11:59:30Z"}}
    state: {waiting: {reason: CrashLoopBackOff, message: back-off 1m20s restarting failed container}}
"#,
                json!([
                    "crash-1",
                    "0/1",
                    "CrashLoopBackOff",
                    "4 (30s ago)",
                    "45m",
                    "10.0.0.9",
                    "node-2",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: job-x, creationTimestamp: "2025-06-01T11:56:40Z"}
spec: {nodeName: node-1, containers: [{name: main, image: busybox}]}
status:
  phase: Succeeded
  podIP: 10.0.0.7
  containerStatuses:
  - {name: main, state: {terminated: {exitCode: 0, reason: Completed, finishedAt: "2025-06-01T11:58:00Z"}}}
"#,
                json!([
                    "job-x",
                    "0/1",
                    "Completed",
                    "0",
                    "3m20s",
                    "10.0.0.7",
                    "node-1",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: failed-1, creationTimestamp: "2025-06-01T11:56:40Z"}
spec: {containers: [{name: main, image: busybox}]}
status:
  phase: Failed
  containerStatuses: [{name: main, state: {terminated: {exitCode: 1, reason: Error}}}]
"#,
                json!([
                    "failed-1", "0/1", "Error", "0", "3m20s", "<none>", "<none>", "<none>",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: killed, creationTimestamp: "2025-06-01T11:56:40Z"}
spec: {containers: [{name: main, image: busybox}]}
status:
  phase: Failed
  containerStatuses: [{name: main, state: {terminated: {exitCode: 137, signal: 9}}}]
"#,
                json!([
                    "killed", "0/1", "Signal:9", "0", "3m20s", "<none>", "<none>", "<none>",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: exited, creationTimestamp: "2025-06-01T11:56:40Z"}
spec: {containers: [{name: main, image: busybox}]}
status:
  phase: Failed
  containerStatuses: [{name: main, state: {terminated: {exitCode: 3}}}]
"#,
                json!([
                    "exited",
                    "0/1",
                    "ExitCode:3",
                    "0",
                    "3m20s",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: going, creationTimestamp: "2025-06-01T09:00:00Z", deletionTimestamp: "2025-06-01T11:59:55Z"}
spec: {nodeName: node-1, containers: [{name: app, image: "app:1"}]}
status:
  phase: Running
  podIP: 10.0.0.8
  containerStatuses: [{name: app, ready: true, state: {running: {}}}]
"#,
                json!([
                    "going",
                    "1/1",
                    "Terminating",
                    "0",
                    "3h",
                    "10.0.0.8",
                    "node-1",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: lost, creationTimestamp: "2025-06-01T09:00:00Z", deletionTimestamp: "2025-06-01T11:59:55Z"}
spec: {nodeName: node-9, containers: [{name: app, image: "app:1"}]}
status:
  phase: Running
  reason: NodeLost
  containerStatuses: [{name: app, ready: true, state: {running: {}}}]
"#,
                json!([
                    "lost", "1/1", "Unknown", "0", "3h", "<none>", "node-9", "<none>", "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: done-going, creationTimestamp: "2025-06-01T09:00:00Z", deletionTimestamp: "2025-06-01T11:59:55Z"}
spec: {containers: [{name: app, image: "app:1"}]}
status:
  phase: Succeeded
  containerStatuses: [{name: app, state: {terminated: {exitCode: 0, reason: Completed}}}]
"#,
                json!([
                    "done-going",
                    "0/1",
                    "Completed",
                    "0",
                    "3h",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: init-running, creationTimestamp: "2025-06-01T11:59:30Z"}
spec:
  initContainers: [{name: migrate, image: "m:1"}, {name: seed, image: "s:1"}]
  containers: [{name: app, image: "app:1"}]
status:
  phase: Pending
  initContainerStatuses:
  - {name: migrate, state: {terminated: {exitCode: 0, reason: Completed}}}
  - {name: seed, state: {running: {}}}
  containerStatuses: [{name: app, state: {waiting: {reason: PodInitializing}}}]
"#,
                json!([
                    "init-running",
                    "0/1",
                    "Init:1/2",
                    "0",
                    "30s",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: init-pull, creationTimestamp: "2025-06-01T11:59:30Z"}
spec:
  initContainers: [{name: migrate, image: "m:1"}]
  containers: [{name: app, image: "app:1"}]
status:
  phase: Pending
  initContainerStatuses: [{name: migrate, state: {waiting: {reason: ImagePullBackOff}}}]
"#,
                json!([
                    "init-pull",
                    "0/1",
                    "Init:ImagePullBackOff",
                    "0",
                    "30s",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: init-waiting, creationTimestamp: "2025-06-01T11:59:30Z"}
spec:
  initContainers: [{name: migrate, image: "m:1"}]
  containers: [{name: app, image: "app:1"}]
status:
  phase: Pending
  initContainerStatuses: [{name: migrate, state: {waiting: {reason: PodInitializing}}}]
"#,
                json!([
                    "init-waiting",
                    "0/1",
                    "Init:0/1",
                    "0",
                    "30s",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: init-failed, creationTimestamp: "2025-06-01T11:15:00Z"}
spec:
  initContainers: [{name: migrate, image: "m:1"}]
  containers: [{name: app, image: "app:1"}]
status:
  phase: Pending
  initContainerStatuses:
  - name: migrate
    restartCount: 3
    lastState: {terminated: {exitCode: 1, reason: Error, finishedAt: "2025-06-01T11:55:00Z"}}
    state: {terminated: {exitCode: 1, reason: Error}}
"#,
                json!([
                    "init-failed",
                    "0/1",
                    "Init:Error",
                    "3 (5m ago)",
                    "45m",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: init-exit, creationTimestamp: "2025-06-01T11:15:00Z"}
spec:
  initContainers: [{name: migrate, image: "m:1"}]
  containers: [{name: app, image: "app:1"}]
status:
  phase: Pending
  initContainerStatuses: [{name: migrate, state: {terminated: {exitCode: 2}}}]
"#,
                json!([
                    "init-exit",
                    "0/1",
                    "Init:ExitCode:2",
                    "0",
                    "45m",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: init-signal, creationTimestamp: "2025-06-01T11:15:00Z"}
spec:
  initContainers: [{name: migrate, image: "m:1"}]
  containers: [{name: app, image: "app:1"}]
status:
  phase: Pending
  initContainerStatuses: [{name: migrate, state: {terminated: {exitCode: 143, signal: 15}}}]
"#,
                json!([
                    "init-signal",
                    "0/1",
                    "Init:Signal:15",
                    "0",
                    "45m",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: sidecar, creationTimestamp: "2025-06-01T09:00:00Z"}
spec:
  nodeName: node-1
  initContainers: [{name: proxy, image: "envoy:1", restartPolicy: Always}]
  containers: [{name: app, image: "app:1"}]
status:
  phase: Running
  podIP: 10.0.0.11
  conditions: [{type: Initialized, status: "True"}, {type: Ready, status: "True"}]
  initContainerStatuses:
  - name: proxy
    started: true
    ready: true
    restartCount: 2
    lastState: {terminated: {exitCode: 1, finishedAt: "2025-06-01T11:59:30Z"}}
    state: {running: {}}
  containerStatuses: [{name: app, ready: true, started: true, state: {running: {}}}]
"#,
                json!([
                    "sidecar",
                    "2/2",
                    "Running",
                    "2 (30s ago)",
                    "3h",
                    "10.0.0.11",
                    "node-1",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: gated, creationTimestamp: "2025-06-01T11:59:55Z"}
spec: {containers: [{name: app, image: "app:1"}], schedulingGates: [{name: example.com/quota}]}
status:
  phase: Pending
  conditions: [{type: PodScheduled, status: "False", reason: SchedulingGated}]
"#,
                json!([
                    "gated",
                    "0/1",
                    "SchedulingGated",
                    "0",
                    "5s",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: half-done, creationTimestamp: "2025-06-01T09:00:00Z"}
spec: {containers: [{name: a, image: "a:1"}, {name: b, image: "b:1"}]}
status:
  phase: Running
  conditions: [{type: Ready, status: "True"}]
  containerStatuses:
  - {name: a, state: {terminated: {exitCode: 0, reason: Completed}}}
  - {name: b, ready: true, state: {running: {}}}
"#,
                json!([
                    "half-done",
                    "1/2",
                    "Running",
                    "0",
                    "3h",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: half-done-unready, creationTimestamp: "2025-06-01T09:00:00Z"}
spec: {containers: [{name: a, image: "a:1"}, {name: b, image: "b:1"}]}
status:
  phase: Running
  conditions: [{type: Ready, status: "False"}]
  containerStatuses:
  - {name: a, state: {terminated: {exitCode: 0, reason: Completed}}}
  - {name: b, ready: true, state: {running: {}}}
"#,
                json!([
                    "half-done-unready",
                    "1/2",
                    "NotReady",
                    "0",
                    "3h",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: gates, creationTimestamp: "2025-06-01T09:00:00Z"}
spec:
  containers: [{name: app, image: "app:1"}]
  readinessGates: [{conditionType: example.com/lb}, {conditionType: example.com/cache}]
status:
  phase: Pending
  nominatedNodeName: node-3
  conditions: [{type: example.com/lb, status: "True"}, {type: example.com/cache, status: "False"}]
"#,
                json!([
                    "gates", "0/1", "Pending", "0", "3h", "<none>", "<none>", "node-3", "1/2"
                ]),
            ),
            (
                r#"
metadata: {name: evicted, creationTimestamp: "2025-05-22T12:00:00Z"}
spec: {nodeName: node-1, containers: [{name: app, image: "app:1"}]}
status: {phase: Failed, reason: Evicted, message: "The node was low on resource: memory."}
"#,
                json!([
                    "evicted", "0/1", "Evicted", "0", "10d", "<none>", "node-1", "<none>", "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: dual-stack, creationTimestamp: "2025-06-01T09:00:00Z"}
spec: {containers: [{name: app, image: "app:1"}]}
status: {phase: Running, podIPs: [{ip: "fd00::5"}, {ip: 10.0.0.5}]}
"#,
                json!([
                    "dual-stack",
                    "0/1",
                    "Running",
                    "0",
                    "3h",
                    "fd00::5",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
        ],
    );
}

#[test]
fn finished_pods_carry_a_completed_row_condition() {
    let succeeded = table_of::<Pod>(
        "metadata: {name: a}\nspec: {containers: [{name: c}]}\nstatus: {phase: Succeeded}\n",
        &TableOptions::default(),
    );
    assert_eq!(
        serde_json::to_value(&succeeded.rows()[0].conditions).unwrap(),
        json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}])
    );
    let failed = table_of::<Pod>(
        "metadata: {name: a}\nspec: {containers: [{name: c}]}\nstatus: {phase: Failed}\n",
        &TableOptions::default(),
    );
    assert_eq!(failed.rows()[0].conditions[0].reason, "Failed");
    assert_eq!(failed.rows()[0].conditions[0].message, "The pod failed.");
    let running = table_of::<Pod>(
        "metadata: {name: a}\nspec: {containers: [{name: c}]}\nstatus: {phase: Running}\n",
        &TableOptions::default(),
    );
    assert!(running.rows()[0].conditions.is_empty());
}

#[test]
fn wide_columns_have_priority_one() {
    let wide_of = |group: &str, kind: &str| -> Vec<String> {
        let table = table_for(
            group,
            kind,
            &[],
            Some(&ListMeta::default()),
            now(),
            &TableOptions::default(),
        )
        .unwrap();
        table
            .columns()
            .iter()
            .filter(|c| c.priority == 1)
            .map(|c| c.name.clone())
            .collect()
    };
    assert_eq!(
        wide_of("", "Pod"),
        ["IP", "Node", "Nominated Node", "Readiness Gates"]
    );
    assert_eq!(
        wide_of("", "Node"),
        [
            "Internal-IP",
            "External-IP",
            "OS-Image",
            "Kernel-Version",
            "Container-Runtime"
        ]
    );
    assert_eq!(
        wide_of("apps", "Deployment"),
        ["Containers", "Images", "Selector"]
    );
    assert_eq!(wide_of("apps", "StatefulSet"), ["Containers", "Images"]);
    assert_eq!(
        wide_of("batch", "Job"),
        ["Containers", "Images", "Selector"]
    );
    assert_eq!(wide_of("", "Service"), ["Selector"]);
    assert_eq!(
        wide_of("", "Event"),
        ["Subobject", "Source", "First Seen", "Count", "Name"]
    );
    assert_eq!(wide_of("", "PersistentVolumeClaim"), ["VolumeMode"]);
    assert_eq!(
        wide_of("rbac.authorization.k8s.io", "RoleBinding"),
        ["Users", "Groups", "ServiceAccounts"]
    );
    assert_eq!(
        wide_of("scheduling.k8s.io", "PriorityClass"),
        ["PreemptionPolicy"]
    );
    assert!(wide_of("", "Namespace").is_empty());
    // An empty list of a printed kind still has its columns, and `[]` rows.
    let empty = table_for(
        "",
        "Pod",
        &[],
        Some(&ListMeta::default()),
        now(),
        &TableOptions::default(),
    )
    .unwrap();
    assert_eq!(empty.rows, Some(vec![]));
}

#[test]
fn column_definitions_carry_kubernetes_types_formats_and_descriptions() {
    let pods = table_for(
        "",
        "Pod",
        &[],
        Some(&ListMeta::default()),
        now(),
        &TableOptions::default(),
    )
    .unwrap();
    let name = &pods.columns()[0];
    assert_eq!(
        (name.type_.as_str(), name.format.as_str()),
        ("string", "name")
    );
    assert!(
        name.description
            .starts_with("Name must be unique within a namespace."),
        "{}",
        name.description
    );
    assert_eq!(
        pods.columns()[4].description,
        object_meta_doc("creationTimestamp")
    );
    assert!(
        pods.columns()[4]
            .description
            .starts_with("CreationTimestamp is a timestamp")
    );
    assert_eq!(
        pods.columns()[5].description,
        doc("io.k8s.api.core.v1.PodStatus", "podIP")
    );
    assert!(!pods.columns()[5].description.is_empty());
    assert_eq!(pods.columns()[3].type_, "string");

    let types = |group: &str, kind: &str| -> Vec<String> {
        let t = table_for(
            group,
            kind,
            &[],
            Some(&ListMeta::default()),
            now(),
            &TableOptions::default(),
        )
        .unwrap();
        t.columns().iter().map(|c| c.type_.clone()).collect()
    };
    assert_eq!(
        types("apps", "ReplicaSet")[1..4],
        ["integer", "integer", "integer"]
    );
    assert_eq!(types("batch", "CronJob")[3..5], ["boolean", "integer"]);
    assert_eq!(
        types("scheduling.k8s.io", "PriorityClass")[1..3],
        ["integer", "boolean"]
    );

    // Kubernetes describes RuntimeClass' handler with a key ObjectMeta has no doc for.
    let rc = table_for(
        "node.k8s.io",
        "RuntimeClass",
        &[],
        Some(&ListMeta::default()),
        now(),
        &TableOptions::default(),
    )
    .unwrap();
    assert_eq!(rc.columns()[1].description, "");
    // The scale subresource's Name column has no `name` format; VolumeAttachment's Attacher does.
    let scale = table_for(
        "autoscaling",
        "Scale",
        &[],
        Some(&ListMeta::default()),
        now(),
        &TableOptions::default(),
    )
    .unwrap();
    assert_eq!(scale.columns()[0].format, "");
    let va = table_for(
        "storage.k8s.io",
        "VolumeAttachment",
        &[],
        Some(&ListMeta::default()),
        now(),
        &TableOptions::default(),
    )
    .unwrap();
    assert_eq!(va.columns()[1].format, "name");
    assert_eq!(doc(OBJECT_META, "no-such-field"), "");
}

#[test]
fn nodes() {
    use clipper_proto::api::core::v1::Node;
    check::<Node>(
        &[
            "Name",
            "Status",
            "Roles",
            "Age",
            "Version",
            "Internal-IP",
            "External-IP",
            "OS-Image",
            "Kernel-Version",
            "Container-Runtime",
        ],
        &[
            (
                r#"
apiVersion: v1
kind: Node
metadata:
  name: cp-1
  creationTimestamp: "2025-05-02T12:00:00Z"
  labels:
    node-role.kubernetes.io/control-plane: ""
    kubernetes.io/role: worker
    node-role.kubernetes.io/: ""
    kubernetes.io/hostname: cp-1
spec: {unschedulable: true}
status:
  conditions:
  - {type: MemoryPressure, status: "False"}
  - {type: Ready, status: "True"}
  addresses:
  - {type: Hostname, address: cp-1}
  - {type: InternalIP, address: 192.168.1.10}
  - {type: ExternalIP, address: 203.0.113.10}
  nodeInfo:
    kubeletVersion: v1.33.1
    osImage: Ubuntu 24.04 LTS
    kernelVersion: 6.8.0-40-generic
    containerRuntimeVersion: containerd://2.0.0
"#,
                json!([
                    "cp-1",
                    "Ready,SchedulingDisabled",
                    "control-plane,worker",
                    "30d",
                    "v1.33.1",
                    "192.168.1.10",
                    "203.0.113.10",
                    "Ubuntu 24.04 LTS",
                    "6.8.0-40-generic",
                    "containerd://2.0.0"
                ]),
            ),
            (
                r#"
metadata: {name: w-2, creationTimestamp: "2025-06-01T11:59:55Z"}
status: {conditions: [{type: Ready, status: Unknown, reason: NodeStatusUnknown}]}
"#,
                json!([
                    "w-2",
                    "NotReady",
                    "<none>",
                    "5s",
                    "",
                    "<none>",
                    "<none>",
                    "<unknown>",
                    "<unknown>",
                    "<unknown>"
                ]),
            ),
            (
                "metadata: {name: w-3, creationTimestamp: \"2025-06-01T11:59:55Z\"}\n",
                json!([
                    "w-3",
                    "Unknown",
                    "<none>",
                    "5s",
                    "",
                    "<none>",
                    "<none>",
                    "<unknown>",
                    "<unknown>",
                    "<unknown>"
                ]),
            ),
        ],
    );
}

#[test]
fn deployments_replica_sets_stateful_sets_daemon_sets() {
    use clipper_proto::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
    check::<Deployment>(
        &[
            "Name",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
            "Containers",
            "Images",
            "Selector",
        ],
        &[
            (
                r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default, creationTimestamp: "2025-05-22T12:00:00Z"}
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
    matchExpressions:
    - {key: tier, operator: In, values: [frontend, edge]}
    - {key: canary, operator: DoesNotExist}
  template:
    metadata: {labels: {app: web, tier: frontend}}
    spec:
      containers:
      - {name: nginx, image: "nginx:1.27"}
      - {name: sidecar, image: "busybox:1.36"}
status: {replicas: 3, updatedReplicas: 3, readyReplicas: 2, availableReplicas: 2}
"#,
                json!([
                    "web",
                    "2/3",
                    3,
                    2,
                    "10d",
                    "nginx,sidecar",
                    "nginx:1.27,busybox:1.36",
                    "app=web,!canary,tier in (edge,frontend)"
                ]),
            ),
            (
                r#"
metadata: {name: bare, creationTimestamp: "2025-06-01T11:59:55Z"}
spec:
  selector: {matchLabels: {"bad key": x}}
  template: {spec: {containers: [{name: app, image: "app:1"}]}}
"#,
                json!(["bare", "0/1", 0, 0, "5s", "app", "app:1", "<invalid>"]),
            ),
        ],
    );
    check::<ReplicaSet>(
        &[
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Age",
            "Containers",
            "Images",
            "Selector",
        ],
        &[
            (
                r#"
metadata: {name: web-5d4f, creationTimestamp: "2025-05-31T12:00:00Z"}
spec:
  replicas: 3
  selector: {matchLabels: {app: web, pod-template-hash: 5d4f}}
  template: {spec: {containers: [{name: nginx, image: "nginx:1.27"}]}}
status: {replicas: 3, readyReplicas: 2}
"#,
                json!([
                    "web-5d4f",
                    3,
                    3,
                    2,
                    "24h",
                    "nginx",
                    "nginx:1.27",
                    "app=web,pod-template-hash=5d4f"
                ]),
            ),
            (
                "metadata: {name: empty, creationTimestamp: \"2025-05-31T12:00:00Z\"}\nspec: {selector: {}}\n",
                json!(["empty", 1, 0, 0, "24h", "", "", "<none>"]),
            ),
            (
                r#"
metadata: {name: bad-op, creationTimestamp: "2025-05-31T12:00:00Z"}
spec: {replicas: 0, selector: {matchExpressions: [{key: a, operator: Exists, values: [x]}]}}
"#,
                json!(["bad-op", 0, 0, 0, "24h", "", "", "<error>"]),
            ),
        ],
    );
    check::<StatefulSet>(
        &["Name", "Ready", "Age", "Containers", "Images"],
        &[(
            r#"
metadata: {name: db, creationTimestamp: "2025-05-30T09:00:00Z"}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  template: {spec: {containers: [{name: postgres, image: "postgres:16"}]}}
status: {replicas: 3, readyReplicas: 1}
"#,
            json!(["db", "1/3", "2d3h", "postgres", "postgres:16"]),
        )],
    );
    check::<DaemonSet>(
        &[
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Up-to-date",
            "Available",
            "Node Selector",
            "Age",
            "Containers",
            "Images",
            "Selector",
        ],
        &[(
            r#"
metadata: {name: node-exporter, creationTimestamp: "2025-06-01T04:55:00Z"}
spec:
  selector: {matchLabels: {app: node-exporter}}
  template:
    spec:
      nodeSelector: {kubernetes.io/os: linux}
      containers: [{name: exporter, image: "prom/node-exporter:v1.8"}]
status:
  desiredNumberScheduled: 3
  currentNumberScheduled: 3
  numberReady: 2
  updatedNumberScheduled: 3
  numberAvailable: 2
  numberMisscheduled: 0
"#,
            json!([
                "node-exporter",
                3,
                3,
                2,
                3,
                2,
                "kubernetes.io/os=linux",
                "7h5m",
                "exporter",
                "prom/node-exporter:v1.8",
                "app=node-exporter"
            ]),
        )],
    );
}

#[test]
fn jobs_and_cron_jobs() {
    use clipper_proto::api::batch::v1::{CronJob, Job};
    let template = "  template: {spec: {restartPolicy: Never, containers: [{name: pi, image: \"perl:5.34\"}]}}\n";
    let job = |meta: &str, spec: &str, status: &str| {
        format!("metadata: {meta}\nspec:\n{spec}{template}status: {status}\n")
    };
    let cases = [
        (
            job(
                r#"{name: pi, creationTimestamp: "2025-06-01T11:55:00Z"}"#,
                "  completions: 1\n  selector: {matchLabels: {batch.kubernetes.io/controller-uid: abc}}\n",
                r#"{succeeded: 1, startTime: "2025-06-01T11:55:00Z", completionTime: "2025-06-01T11:55:10Z",
                   conditions: [{type: SuccessCriteriaMet, status: "True"}, {type: Complete, status: "True"}]}"#,
            ),
            json!([
                "pi",
                "Complete",
                "1/1",
                "10s",
                "5m",
                "pi",
                "perl:5.34",
                "batch.kubernetes.io/controller-uid=abc"
            ]),
        ),
        (
            job(
                r#"{name: workers, creationTimestamp: "2025-06-01T11:56:40Z"}"#,
                "  parallelism: 3\n",
                r#"{active: 3, startTime: "2025-06-01T11:56:40Z"}"#,
            ),
            json!([
                "workers",
                "Running",
                "0/1 of 3",
                "3m20s",
                "3m20s",
                "pi",
                "perl:5.34",
                "<none>"
            ]),
        ),
        (
            job(
                r#"{name: partial, creationTimestamp: "2025-06-01T11:56:40Z"}"#,
                "  completions: 5\n  parallelism: 2\n",
                r#"{succeeded: 2, startTime: "2025-06-01T11:56:40Z"}"#,
            ),
            json!([
                "partial",
                "Running",
                "2/5",
                "3m20s",
                "3m20s",
                "pi",
                "perl:5.34",
                "<none>"
            ]),
        ),
        (
            job(
                r#"{name: broken, creationTimestamp: "2025-06-01T11:56:40Z"}"#,
                "  backoffLimit: 0\n",
                r#"{failed: 1, startTime: "2025-06-01T11:56:40Z",
                   conditions: [{type: FailureTarget, status: "True"}, {type: Failed, status: "True"}]}"#,
            ),
            json!([
                "broken",
                "Failed",
                "0/1",
                "3m20s",
                "3m20s",
                "pi",
                "perl:5.34",
                "<none>"
            ]),
        ),
        (
            job(
                r#"{name: failing, creationTimestamp: "2025-06-01T11:56:40Z"}"#,
                "  backoffLimit: 0\n",
                r#"{startTime: "2025-06-01T11:56:40Z", conditions: [{type: FailureTarget, status: "True"}]}"#,
            ),
            json!([
                "failing",
                "FailureTarget",
                "0/1",
                "3m20s",
                "3m20s",
                "pi",
                "perl:5.34",
                "<none>"
            ]),
        ),
        (
            job(
                r#"{name: paused, creationTimestamp: "2025-06-01T11:56:40Z"}"#,
                "  suspend: true\n",
                r#"{conditions: [{type: Suspended, status: "True"}]}"#,
            ),
            json!([
                "paused",
                "Suspended",
                "0/1",
                "",
                "3m20s",
                "pi",
                "perl:5.34",
                "<none>"
            ]),
        ),
        (
            job(
                r#"{name: leaving, creationTimestamp: "2025-06-01T11:56:40Z", deletionTimestamp: "2025-06-01T11:59:55Z"}"#,
                "  suspend: true\n",
                r#"{conditions: [{type: Suspended, status: "True"}]}"#,
            ),
            json!([
                "leaving",
                "Terminating",
                "0/1",
                "",
                "3m20s",
                "pi",
                "perl:5.34",
                "<none>"
            ]),
        ),
    ];
    let cases: Vec<(&str, Value)> = cases
        .iter()
        .map(|(yaml, want)| (yaml.as_str(), want.clone()))
        .collect();
    check::<Job>(
        &[
            "Name",
            "Status",
            "Completions",
            "Duration",
            "Age",
            "Containers",
            "Images",
            "Selector",
        ],
        &cases,
    );

    check::<CronJob>(
        &[
            "Name",
            "Schedule",
            "Timezone",
            "Suspend",
            "Active",
            "Last Schedule",
            "Age",
            "Containers",
            "Images",
            "Selector",
        ],
        &[
            (
                r#"
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, creationTimestamp: "2025-05-02T12:00:00Z"}
spec:
  schedule: "0 3 * * *"
  timeZone: Europe/Paris
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: backup, image: "alpine:3.20"}]
status:
  active: [{kind: Job, name: nightly-29142, namespace: default}]
  lastScheduleTime: "2025-06-01T03:00:00Z"
"#,
                json!([
                    "nightly",
                    "0 3 * * *",
                    "Europe/Paris",
                    "False",
                    1,
                    "9h",
                    "30d",
                    "backup",
                    "alpine:3.20",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: hourly, creationTimestamp: "2025-06-01T11:59:55Z"}
spec:
  schedule: "@hourly"
  suspend: true
  jobTemplate: {spec: {selector: {matchLabels: {job: hourly}}, template: {spec: {containers: [{name: c, image: i}]}}}}
"#,
                json!([
                    "hourly",
                    "@hourly",
                    "<none>",
                    "True",
                    0,
                    "<none>",
                    "5s",
                    "c",
                    "i",
                    "job=hourly"
                ]),
            ),
        ],
    );
}

#[test]
fn services_and_endpoints() {
    use clipper_proto::api::core::v1::{Endpoints, Service};
    use clipper_proto::api::discovery::v1::EndpointSlice;
    check::<Service>(
        &[
            "Name",
            "Type",
            "Cluster-IP",
            "External-IP",
            "Port(s)",
            "Age",
            "Selector",
        ],
        &[
            (
                r#"
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, creationTimestamp: "2025-05-02T12:00:00Z"}
spec:
  type: ClusterIP
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
"#,
                json!([
                    "kube-dns",
                    "ClusterIP",
                    "10.96.0.10",
                    "<none>",
                    "53/UDP,53/TCP",
                    "30d",
                    "k8s-app=kube-dns"
                ]),
            ),
            (
                r#"
metadata: {name: web-np, creationTimestamp: "2025-06-01T09:00:00Z"}
spec:
  type: NodePort
  clusterIPs: [10.96.1.2]
  externalIPs: [198.51.100.7]
  selector: {app: web, tier: frontend}
  ports: [{port: 80, nodePort: 30080, targetPort: http}]
"#,
                json!([
                    "web-np",
                    "NodePort",
                    "10.96.1.2",
                    "198.51.100.7",
                    "80:30080/TCP",
                    "3h",
                    "app=web,tier=frontend"
                ]),
            ),
            (
                r#"
metadata: {name: lb-pending, creationTimestamp: "2025-06-01T09:00:00Z"}
spec: {type: LoadBalancer, clusterIP: 10.96.1.3, ports: [{port: 443, nodePort: 31443, protocol: TCP}]}
"#,
                json!([
                    "lb-pending",
                    "LoadBalancer",
                    "10.96.1.3",
                    "<pending>",
                    "443:31443/TCP",
                    "3h",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: lb, creationTimestamp: "2025-06-01T09:00:00Z"}
spec:
  type: LoadBalancer
  clusterIP: 10.96.1.4
  externalIPs: [198.51.100.9]
  ports: [{port: 443, nodePort: 31444}]
status:
  loadBalancer:
    ingress:
    - {ip: 203.0.113.5}
    - {hostname: a1b2c3d4e5f6.elb.us-east-1.amazonaws.com}
    - {ip: 203.0.113.5}
"#,
                json!([
                    "lb",
                    "LoadBalancer",
                    "10.96.1.4",
                    "203.0.113.5,a1b2c3d4e5f6.elb.us-east-1.amazonaws.com,198.51.100.9",
                    "443:31444/TCP",
                    "3h",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: ext, creationTimestamp: "2025-06-01T11:59:55Z"}
spec: {type: ExternalName, externalName: db.example.com}
"#,
                json!([
                    "ext",
                    "ExternalName",
                    "<none>",
                    "db.example.com",
                    "<none>",
                    "5s",
                    "<none>"
                ]),
            ),
            (
                r#"
metadata: {name: pg, creationTimestamp: "2025-06-01T11:59:55Z"}
spec: {clusterIP: None, selector: {app: pg}, ports: [{port: 5432}]}
"#,
                json!([
                    "pg",
                    "ClusterIP",
                    "None",
                    "<none>",
                    "5432/TCP",
                    "5s",
                    "app=pg"
                ]),
            ),
        ],
    );
    check::<Endpoints>(
        &["Name", "Endpoints", "Age"],
        &[
            (
                r#"
metadata: {name: web, creationTimestamp: "2025-06-01T09:00:00Z"}
subsets:
- addresses: [{ip: 10.0.0.1}, {ip: 10.0.0.2}]
  ports: [{name: http, port: 80}, {name: https, port: 443}]
"#,
                json!([
                    "web",
                    "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...",
                    "3h"
                ]),
            ),
            (
                r#"
metadata: {name: v6, creationTimestamp: "2025-06-01T09:00:00Z"}
subsets:
- addresses: [{ip: "fd00::1"}]
- addresses: [{ip: "fd00::2"}]
  ports: [{port: 8080}]
"#,
                json!(["v6", "fd00::1,[fd00::2]:8080", "3h"]),
            ),
            (
                "metadata: {name: none, creationTimestamp: \"2025-06-01T09:00:00Z\"}\n",
                json!(["none", "<none>", "3h"]),
            ),
            (
                r#"
metadata: {name: unready, creationTimestamp: "2025-06-01T09:00:00Z"}
subsets: [{notReadyAddresses: [{ip: 10.0.0.3}], ports: [{port: 80}]}]
"#,
                json!(["unready", "", "3h"]),
            ),
        ],
    );
    check::<EndpointSlice>(
        &["Name", "AddressType", "Ports", "Endpoints", "Age"],
        &[
            (
                r#"
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-abcde, creationTimestamp: "2025-06-01T09:00:00Z"}
addressType: IPv4
ports: [{port: 80}, {name: https}, {}, {port: 9090}]
endpoints:
- addresses: [10.0.0.1]
- addresses: [10.0.0.2, 10.0.0.3]
  conditions: {ready: true}
- addresses: [10.0.0.4]
"#,
                json!([
                    "web-abcde",
                    "IPv4",
                    "80,https,* + 1 more...",
                    "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...",
                    "3h"
                ]),
            ),
            (
                "metadata: {name: empty, creationTimestamp: \"2025-06-01T09:00:00Z\"}\naddressType: IPv6\nendpoints: []\n",
                json!(["empty", "IPv6", "<unset>", "<unset>", "3h"]),
            ),
        ],
    );
}

#[test]
fn events_of_both_apis() {
    use clipper_proto::api::core::v1::Event;
    use clipper_proto::api::events::v1::Event as EventsEvent;
    let headers = &[
        "Last Seen",
        "Type",
        "Reason",
        "Object",
        "Subobject",
        "Source",
        "Message",
        "First Seen",
        "Count",
        "Name",
    ];
    check::<Event>(
        headers,
        &[
            (
                r#"
apiVersion: v1
kind: Event
metadata: {name: web-1.17f0a, namespace: default, creationTimestamp: "2025-06-01T11:15:00Z"}
involvedObject: {kind: Pod, name: web-1, namespace: default, fieldPath: "spec.containers{log}"}
reason: BackOff
message: "  Back-off restarting failed container log in pod web-1\n"
source: {component: kubelet, host: node-1}
firstTimestamp: "2025-06-01T11:15:00Z"
lastTimestamp: "2025-06-01T11:55:00Z"
count: 12
type: Warning
"#,
                json!([
                    "5m",
                    "Warning",
                    "BackOff",
                    "pod/web-1",
                    "spec.containers{log}",
                    "kubelet, node-1",
                    "Back-off restarting failed container log in pod web-1",
                    "45m",
                    12,
                    "web-1.17f0a"
                ]),
            ),
            (
                r#"
metadata: {name: sched.1}
involvedObject: {kind: Pod, name: web-2}
reason: Scheduled
message: Successfully assigned default/web-2 to node-2
eventTime: "2025-06-01T11:59:30.123456Z"
reportingComponent: default-scheduler
reportingInstance: default-scheduler-cp-1
type: Normal
series: {count: 3, lastObservedTime: "2025-06-01T11:59:55.000000Z"}
"#,
                json!([
                    "5s",
                    "Normal",
                    "Scheduled",
                    "pod/web-2",
                    "",
                    "default-scheduler, default-scheduler-cp-1",
                    "Successfully assigned default/web-2 to node-2",
                    "29s",
                    3,
                    "sched.1"
                ]),
            ),
            (
                "metadata: {name: e3}\ninvolvedObject: {kind: Node}\n",
                json!([
                    "<unknown>",
                    "",
                    "",
                    "node",
                    "",
                    "",
                    "",
                    "<unknown>",
                    1,
                    "e3"
                ]),
            ),
        ],
    );
    check::<EventsEvent>(
        headers,
        &[(
            r#"
apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: web-3.1}
eventTime: "2025-06-01T11:55:00.000000Z"
reportingController: kubelet
reportingInstance: node-3
action: Pulling
reason: Pulling
regarding: {kind: Pod, name: web-3, fieldPath: "spec.containers{web}"}
note: Pulling image "nginx:1.27"
type: Normal
deprecatedFirstTimestamp: "2025-06-01T11:56:40Z"
deprecatedLastTimestamp: "2025-06-01T11:59:30Z"
deprecatedCount: 2
"#,
            json!([
                "30s",
                "Normal",
                "Pulling",
                "pod/web-3",
                "spec.containers{web}",
                "kubelet, node-3",
                "Pulling image \"nginx:1.27\"",
                "3m20s",
                2,
                "web-3.1"
            ]),
        )],
    );
}

#[test]
fn namespaces_config_maps_secrets_service_accounts_quotas() {
    use clipper_proto::api::core::v1::{ConfigMap, ResourceQuota, Secret, ServiceAccount};
    check::<Namespace>(
        &["Name", "Status", "Age"],
        &[
            (
                "metadata: {name: kube-system, creationTimestamp: \"2025-05-02T12:00:00Z\"}\nstatus: {phase: Active}\n",
                json!(["kube-system", "Active", "30d"]),
            ),
            (
                "metadata: {name: old, creationTimestamp: \"2025-06-01T11:59:55Z\"}\nstatus: {phase: Terminating}\n",
                json!(["old", "Terminating", "5s"]),
            ),
            (
                "metadata: {name: fresh, creationTimestamp: \"2025-06-01T11:59:55Z\"}\n",
                json!(["fresh", "Active", "5s"]),
            ),
        ],
    );
    check::<ConfigMap>(
        &["Name", "Data", "Age"],
        &[
            (
                "metadata: {name: cfg, creationTimestamp: \"2025-06-01T09:00:00Z\"}\ndata: {a: \"1\", b: \"2\"}\nbinaryData: {c: AAE=}\n",
                json!(["cfg", 3, "3h"]),
            ),
            (
                "metadata: {name: empty, creationTimestamp: \"2025-06-01T09:00:00Z\"}\n",
                json!(["empty", 0, "3h"]),
            ),
        ],
    );
    check::<Secret>(
        &["Name", "Type", "Data", "Age"],
        &[
            (
                r#"
metadata: {name: tls, creationTimestamp: "2025-06-01T11:00:00Z"}
type: kubernetes.io/tls
data: {tls.crt: LS0t, tls.key: LS0t}
"#,
                json!(["tls", "kubernetes.io/tls", 2, "60m"]),
            ),
            (
                r#"
metadata: {name: creds, creationTimestamp: "2025-06-01T11:00:00Z"}
data: {user: YWRtaW4=, password: eA==}
stringData: {password: hunter2, token: abc}
"#,
                json!(["creds", "Opaque", 3, "60m"]),
            ),
        ],
    );
    check::<ServiceAccount>(
        &["Name", "Secrets", "Age"],
        &[
            (
                "metadata: {name: default, creationTimestamp: \"2025-05-02T12:00:00Z\"}\n",
                json!(["default", 0, "30d"]),
            ),
            (
                "metadata: {name: ci, creationTimestamp: \"2025-05-02T12:00:00Z\"}\nsecrets: [{name: ci-token}]\n",
                json!(["ci", 1, "30d"]),
            ),
        ],
    );
    check::<ResourceQuota>(
        &["Name", "Request", "Limit", "Age"],
        &[(
            r#"
metadata: {name: team-a, creationTimestamp: "2025-05-22T12:00:00Z"}
status:
  hard: {pods: "10", requests.cpu: "1", limits.cpu: "2", limits.memory: 2Gi, requests.memory: 1Gi}
  used: {pods: "2", requests.cpu: 500m, limits.cpu: "1"}
"#,
            json!([
                "team-a",
                "pods: 2/10, requests.cpu: 500m/1, requests.memory: 0/1Gi",
                "limits.cpu: 1/2, limits.memory: 0/2Gi",
                "10d"
            ]),
        )],
    );
}

#[test]
fn volumes_claims_and_storage() {
    use clipper_proto::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
    use clipper_proto::api::storage::v1::{
        CSIDriver, CSINode, CSIStorageCapacity, StorageClass, VolumeAttachment,
    };
    check::<PersistentVolume>(
        &[
            "Name",
            "Capacity",
            "Access Modes",
            "Reclaim Policy",
            "Status",
            "Claim",
            "StorageClass",
            "VolumeAttributesClass",
            "Reason",
            "Age",
            "VolumeMode",
        ],
        &[
            (
                r#"
metadata:
  name: pv-1
  creationTimestamp: "2025-05-22T12:00:00Z"
  annotations: {volume.beta.kubernetes.io/storage-class: legacy}
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteMany, ReadWriteOnce, ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: fast
  claimRef: {namespace: default, name: data}
  hostPath: {path: /data}
status: {phase: Bound}
"#,
                json!([
                    "pv-1",
                    "10Gi",
                    "RWO,RWX",
                    "Retain",
                    "Bound",
                    "default/data",
                    "legacy",
                    "<unset>",
                    "",
                    "10d",
                    "Filesystem"
                ]),
            ),
            (
                r#"
metadata: {name: pv-2, creationTimestamp: "2025-06-01T11:59:55Z", deletionTimestamp: "2025-06-01T11:59:58Z"}
spec:
  persistentVolumeReclaimPolicy: Delete
  volumeMode: Block
  volumeAttributesClassName: gold
  accessModes: [ReadWriteOncePod, ReadOnlyMany]
status: {phase: Failed, reason: VolumeFailedDelete}
"#,
                json!([
                    "pv-2",
                    "0",
                    "ROX,RWOP",
                    "Delete",
                    "Terminating",
                    "",
                    "",
                    "gold",
                    "VolumeFailedDelete",
                    "5s",
                    "Block"
                ]),
            ),
        ],
    );
    check::<PersistentVolumeClaim>(
        &[
            "Name",
            "Status",
            "Volume",
            "Capacity",
            "Access Modes",
            "StorageClass",
            "VolumeAttributesClass",
            "Age",
            "VolumeMode",
        ],
        &[
            (
                r#"
metadata: {name: data, creationTimestamp: "2025-05-22T12:00:00Z"}
spec:
  volumeName: pv-1
  storageClassName: fast
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 5Gi}}
status: {phase: Bound, accessModes: [ReadWriteOnce], capacity: {storage: 10Gi}}
"#,
                json!([
                    "data",
                    "Bound",
                    "pv-1",
                    "10Gi",
                    "RWO",
                    "fast",
                    "<unset>",
                    "10d",
                    "Filesystem"
                ]),
            ),
            (
                r#"
metadata: {name: claim, creationTimestamp: "2025-06-01T11:59:55Z"}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
"#,
                json!([
                    "claim",
                    "Pending",
                    "",
                    "",
                    "",
                    "",
                    "<unset>",
                    "5s",
                    "Filesystem"
                ]),
            ),
        ],
    );
    check::<StorageClass>(
        &[
            "Name",
            "Provisioner",
            "ReclaimPolicy",
            "VolumeBindingMode",
            "AllowVolumeExpansion",
            "Age",
        ],
        &[
            (
                r#"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  creationTimestamp: "2025-05-02T12:00:00Z"
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: rancher.io/local-path
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer
allowVolumeExpansion: true
"#,
                json!([
                    "standard (default)",
                    "rancher.io/local-path",
                    "Delete",
                    "WaitForFirstConsumer",
                    true,
                    "30d"
                ]),
            ),
            (
                r#"
metadata:
  name: archive
  creationTimestamp: "2025-05-02T12:00:00Z"
  annotations: {storageclass.beta.kubernetes.io/is-default-class: "false"}
provisioner: example.com/nfs
reclaimPolicy: Retain
"#,
                json!([
                    "archive",
                    "example.com/nfs",
                    "Retain",
                    "Immediate",
                    false,
                    "30d"
                ]),
            ),
        ],
    );
    check::<VolumeAttachment>(
        &["Name", "Attacher", "PV", "Node", "Attached", "Age"],
        &[(
            r#"
metadata: {name: csi-0a1b, creationTimestamp: "2025-06-01T09:00:00Z"}
spec: {attacher: ebs.csi.aws.com, nodeName: node-1, source: {persistentVolumeName: pv-1}}
status: {attached: true}
"#,
            json!(["csi-0a1b", "ebs.csi.aws.com", "pv-1", "node-1", true, "3h"]),
        )],
    );
    check::<CSIDriver>(
        &[
            "Name",
            "AttachRequired",
            "PodInfoOnMount",
            "StorageCapacity",
            "TokenRequests",
            "RequiresRepublish",
            "Modes",
            "Age",
        ],
        &[
            (
                "metadata: {name: ebs.csi.aws.com, creationTimestamp: \"2025-05-02T12:00:00Z\"}\nspec: {}\n",
                json!([
                    "ebs.csi.aws.com",
                    true,
                    false,
                    false,
                    "<unset>",
                    false,
                    "<none>",
                    "30d"
                ]),
            ),
            (
                r#"
metadata: {name: secrets-store.csi.k8s.io, creationTimestamp: "2025-05-02T12:00:00Z"}
spec:
  attachRequired: false
  podInfoOnMount: true
  requiresRepublish: true
  tokenRequests: [{audience: vault}, {audience: gcp}]
  volumeLifecycleModes: [Ephemeral, Persistent]
"#,
                json!([
                    "secrets-store.csi.k8s.io",
                    false,
                    true,
                    false,
                    "vault,gcp",
                    true,
                    "Ephemeral,Persistent",
                    "30d"
                ]),
            ),
        ],
    );
    check::<CSINode>(
        &["Name", "Drivers", "Age"],
        &[(
            r#"
metadata: {name: node-1, creationTimestamp: "2025-05-02T12:00:00Z"}
spec: {drivers: [{name: ebs.csi.aws.com, nodeID: i-0abc}]}
"#,
            json!(["node-1", 1, "30d"]),
        )],
    );
    check::<CSIStorageCapacity>(
        &["Name", "StorageClassName", "Capacity"],
        &[
            (
                "metadata: {name: csisc-1}\nstorageClassName: fast\ncapacity: 100Gi\n",
                json!(["csisc-1", "fast", "100Gi"]),
            ),
            (
                "metadata: {name: csisc-2}\nstorageClassName: slow\n",
                json!(["csisc-2", "slow", "<unset>"]),
            ),
        ],
    );
}

#[test]
fn autoscalers_and_disruption_budgets() {
    use clipper_proto::api::autoscaling::v1::{HorizontalPodAutoscaler as HpaV1, Scale};
    use clipper_proto::api::autoscaling::v2::HorizontalPodAutoscaler;
    use clipper_proto::api::policy::v1::PodDisruptionBudget;
    let headers = &[
        "Name",
        "Reference",
        "Targets",
        "MinPods",
        "MaxPods",
        "Replicas",
        "Age",
    ];
    check::<HorizontalPodAutoscaler>(
        headers,
        &[
            (
                r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, creationTimestamp: "2025-05-22T12:00:00Z"}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 10
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}
  - type: Resource
    resource: {name: memory, target: {type: AverageValue, averageValue: 200Mi}}
  - type: Pods
    pods: {metric: {name: rps}, target: {type: AverageValue, averageValue: "100"}}
status:
  currentReplicas: 3
  desiredReplicas: 3
  currentMetrics:
  - type: Resource
    resource: {name: cpu, current: {averageUtilization: 45, averageValue: 120m}}
  - type: Resource
    resource: {name: memory, current: {averageValue: 150Mi}}
"#,
                json!([
                    "web",
                    "Deployment/web",
                    "cpu: 45%/80%, memory: 150Mi/200Mi + 1 more...",
                    "2",
                    10,
                    3,
                    "10d"
                ]),
            ),
            (
                r#"
metadata: {name: bare, creationTimestamp: "2025-06-01T11:59:55Z"}
spec: {scaleTargetRef: {kind: StatefulSet, name: db}, maxReplicas: 5}
"#,
                json!([
                    "bare",
                    "StatefulSet/db",
                    "cpu: <unknown>/80%",
                    "1",
                    5,
                    0,
                    "5s"
                ]),
            ),
            (
                r#"
metadata: {name: queue, creationTimestamp: "2025-06-01T11:59:55Z"}
spec:
  scaleTargetRef: {kind: Deployment, name: worker}
  minReplicas: 1
  maxReplicas: 20
  metrics:
  - type: External
    external: {metric: {name: queue_depth}, target: {type: Value, value: "30"}}
  - type: Object
    object:
      describedObject: {kind: Service, name: api}
      metric: {name: hits}
      target: {type: AverageValue, averageValue: 2k}
status:
  desiredReplicas: 4
  currentMetrics:
  - type: External
    external: {metric: {name: queue_depth}, current: {value: "12"}}
"#,
                json!([
                    "queue",
                    "Deployment/worker",
                    "12/30, <unknown>/2k (avg)",
                    "1",
                    20,
                    0,
                    "5s"
                ]),
            ),
        ],
    );
    check::<HpaV1>(
        headers,
        &[(
            r#"
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: old-style, creationTimestamp: "2025-06-01T09:00:00Z"}
spec: {scaleTargetRef: {kind: Deployment, name: web}, maxReplicas: 4, targetCPUUtilizationPercentage: 60}
status: {currentReplicas: 2, desiredReplicas: 2, currentCPUUtilizationPercentage: 30}
"#,
            json!([
                "old-style",
                "Deployment/web",
                "cpu: 30%/60%",
                "1",
                4,
                2,
                "3h"
            ]),
        )],
    );
    check::<Scale>(
        &["Name", "Desired", "Available", "Age"],
        &[(
            "metadata: {name: web, creationTimestamp: \"2025-06-01T09:00:00Z\"}\nspec: {replicas: 3}\nstatus: {replicas: 2}\n",
            json!(["web", 3, 2, "3h"]),
        )],
    );
    check::<PodDisruptionBudget>(
        &[
            "Name",
            "Min Available",
            "Max Unavailable",
            "Allowed Disruptions",
            "Age",
        ],
        &[
            (
                r#"
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web-pdb, creationTimestamp: "2025-05-22T12:00:00Z"}
spec: {minAvailable: 2, selector: {matchLabels: {app: web}}}
status: {disruptionsAllowed: 1, currentHealthy: 3, desiredHealthy: 2, expectedPods: 3}
"#,
                json!(["web-pdb", "2", "N/A", 1, "10d"]),
            ),
            (
                "metadata: {name: pct, creationTimestamp: \"2025-05-22T12:00:00Z\"}\nspec: {maxUnavailable: 25%}\n",
                json!(["pct", "N/A", "25%", 0, "10d"]),
            ),
        ],
    );
}

#[test]
fn networking() {
    use clipper_proto::api::networking::v1::{
        IPAddress, Ingress, IngressClass, NetworkPolicy, ServiceCIDR,
    };
    check::<Ingress>(
        &["Name", "Class", "Hosts", "Address", "Ports", "Age"],
        &[
            (
                r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, creationTimestamp: "2025-05-22T12:00:00Z"}
spec:
  ingressClassName: nginx
  tls: [{hosts: [a.example.com], secretName: a-tls}]
  rules:
  - host: a.example.com
  - host: b.example.com
  - http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
  - host: c.example.com
  - host: d.example.com
status:
  loadBalancer:
    ingress: [{hostname: ingress.example.net}, {ip: 203.0.113.20}]
"#,
                json!([
                    "shop",
                    "nginx",
                    "a.example.com,b.example.com,c.example.com + 2 more...",
                    "203.0.113.20,ingress.example.net",
                    "80, 443",
                    "10d"
                ]),
            ),
            (
                r#"
metadata: {name: catch-all, creationTimestamp: "2025-06-01T11:59:55Z"}
spec: {defaultBackend: {service: {name: web, port: {number: 80}}}}
"#,
                json!(["catch-all", "<none>", "*", "", "80", "5s"]),
            ),
        ],
    );
    check::<IngressClass>(
        &["Name", "Controller", "Parameters", "Age"],
        &[
            (
                r#"
metadata: {name: nginx, creationTimestamp: "2025-05-02T12:00:00Z"}
spec:
  controller: k8s.io/ingress-nginx
  parameters: {apiGroup: k8s.example.com, kind: IngressParameters, name: nginx-config}
"#,
                json!([
                    "nginx",
                    "k8s.io/ingress-nginx",
                    "IngressParameters.k8s.example.com/nginx-config",
                    "30d"
                ]),
            ),
            (
                r#"
metadata: {name: plain, creationTimestamp: "2025-05-02T12:00:00Z"}
spec: {controller: example.com/ingress, parameters: {kind: ConfigMap, name: cfg, scope: Namespace, namespace: ops}}
"#,
                json!(["plain", "example.com/ingress", "ConfigMap/cfg", "30d"]),
            ),
            (
                "metadata: {name: none, creationTimestamp: \"2025-05-02T12:00:00Z\"}\n",
                json!(["none", "", "<none>", "30d"]),
            ),
        ],
    );
    check::<NetworkPolicy>(
        &["Name", "Pod-Selector", "Age"],
        &[
            (
                r#"
metadata: {name: db-ingress, creationTimestamp: "2025-05-22T12:00:00Z"}
spec: {podSelector: {matchLabels: {app: db}}, policyTypes: [Ingress]}
"#,
                json!(["db-ingress", "app=db", "10d"]),
            ),
            (
                "metadata: {name: deny-all, creationTimestamp: \"2025-05-22T12:00:00Z\"}\nspec: {podSelector: {}}\n",
                json!(["deny-all", "<none>", "10d"]),
            ),
        ],
    );
    check::<ServiceCIDR>(
        &["Name", "CIDRs", "Age"],
        &[(
            "metadata: {name: kubernetes, creationTimestamp: \"2025-05-02T12:00:00Z\"}\nspec: {cidrs: [10.96.0.0/16, \"fd00:10:96::/112\"]}\n",
            json!(["kubernetes", "10.96.0.0/16,fd00:10:96::/112", "30d"]),
        )],
    );
    check::<IPAddress>(
        &["Name", "ParentRef"],
        &[
            (
                r#"
metadata: {name: 10.96.0.10, creationTimestamp: "2025-05-02T12:00:00Z"}
spec: {parentRef: {group: "", resource: services, namespace: kube-system, name: kube-dns}}
"#,
                json!(["10.96.0.10", "services/kube-system/kube-dns", "30d"]),
            ),
            (
                r#"
metadata: {name: 10.96.0.11, creationTimestamp: "2025-05-02T12:00:00Z"}
spec: {parentRef: {group: gateway.networking.k8s.io, resource: Gateways, name: gw}}
"#,
                json!(["10.96.0.11", "gateways.gateway.networking.k8s.io/gw", "30d"]),
            ),
        ],
    );
}

#[test]
fn rbac_scheduling_coordination_node_certificates() {
    use clipper_proto::api::certificates::v1::CertificateSigningRequest;
    use clipper_proto::api::coordination::v1::Lease;
    use clipper_proto::api::node::v1::RuntimeClass;
    use clipper_proto::api::rbac::v1::{ClusterRoleBinding, RoleBinding};
    use clipper_proto::api::scheduling::v1::PriorityClass;
    check::<RoleBinding>(
        &["Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"],
        &[(
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: read-pods, namespace: default, creationTimestamp: "2025-05-22T12:00:00Z"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects:
- {kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}
- {kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io}
- {kind: ServiceAccount, name: default, namespace: kube-system}
- {kind: User, name: bob, apiGroup: rbac.authorization.k8s.io}
"#,
            json!([
                "read-pods",
                "Role/pod-reader",
                "10d",
                "alice, bob",
                "devs",
                "kube-system/default"
            ]),
        )],
    );
    check::<ClusterRoleBinding>(
        &["Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"],
        &[(
            r#"
metadata: {name: lonely, creationTimestamp: "2025-05-22T12:00:00Z"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
"#,
            json!(["lonely", "ClusterRole/view", "10d", "", "", ""]),
        )],
    );
    check::<PriorityClass>(
        &["Name", "Value", "Global-Default", "Age", "PreemptionPolicy"],
        &[
            (
                r#"
metadata: {name: batch-high, creationTimestamp: "2025-05-02T12:00:00Z"}
value: 1000000
globalDefault: true
preemptionPolicy: Never
description: Batch jobs that must not preempt.
"#,
                json!(["batch-high", 1_000_000, true, "30d", "Never"]),
            ),
            (
                "metadata: {name: low, creationTimestamp: \"2025-05-02T12:00:00Z\"}\nvalue: -10\n",
                json!(["low", -10, false, "30d", "PreemptLowerPriority"]),
            ),
        ],
    );
    check::<RuntimeClass>(
        &["Name", "Handler", "Age"],
        &[(
            "metadata: {name: gvisor, creationTimestamp: \"2025-05-02T12:00:00Z\"}\nhandler: runsc\n",
            json!(["gvisor", "runsc", "30d"]),
        )],
    );
    check::<Lease>(
        &["Name", "Holder", "Age"],
        &[
            (
                r#"
metadata: {name: kube-scheduler, namespace: kube-system, creationTimestamp: "2025-05-02T12:00:00Z"}
spec: {holderIdentity: cp-1_5f1c, leaseDurationSeconds: 15, renewTime: "2025-06-01T11:59:58.000000Z"}
"#,
                json!(["kube-scheduler", "cp-1_5f1c", "30d"]),
            ),
            (
                "metadata: {name: free, creationTimestamp: \"2025-05-02T12:00:00Z\"}\n",
                json!(["free", "", "30d"]),
            ),
        ],
    );
    check::<CertificateSigningRequest>(
        &[
            "Name",
            "Age",
            "SignerName",
            "Requestor",
            "RequestedDuration",
            "Condition",
        ],
        &[
            (
                r#"
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: alice, creationTimestamp: "2025-06-01T11:55:00Z"}
spec:
  request: LS0tLS1CRUdJTg==
  signerName: kubernetes.io/kube-apiserver-client
  username: admin@example.com
  expirationSeconds: 86400
  usages: [client auth]
status:
  certificate: LS0tLS1CRUdJTg==
  conditions: [{type: Approved, status: "True", reason: AutoApproved}]
"#,
                json!([
                    "alice",
                    "5m",
                    "kubernetes.io/kube-apiserver-client",
                    "admin@example.com",
                    "24h",
                    "Approved,Issued"
                ]),
            ),
            (
                r#"
metadata: {name: denied, creationTimestamp: "2025-06-01T11:55:00Z"}
spec: {request: LS0t, signerName: example.com/custom}
status: {conditions: [{type: Approved, status: "True"}, {type: Denied, status: "True"}, {type: Failed, status: "True"}]}
"#,
                json!([
                    "denied",
                    "5m",
                    "example.com/custom",
                    "",
                    "<none>",
                    "Denied,Failed"
                ]),
            ),
            (
                "metadata: {name: waiting, creationTimestamp: \"2025-06-01T11:55:00Z\"}\nspec: {request: LS0t}\n",
                json!(["waiting", "5m", "<none>", "", "<none>", "Pending"]),
            ),
        ],
    );
}

#[test]
fn legacy_core_workloads_and_revisions() {
    use clipper_proto::api::apps::v1::ControllerRevision;
    use clipper_proto::api::core::v1::{PodTemplate, ReplicationController};
    check::<ReplicationController>(
        &[
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Age",
            "Containers",
            "Images",
            "Selector",
        ],
        &[(
            r#"
metadata: {name: legacy, creationTimestamp: "2025-05-22T12:00:00Z"}
spec:
  replicas: 2
  selector: {app: legacy}
  template: {metadata: {labels: {app: legacy}}, spec: {containers: [{name: app, image: "app:1"}]}}
status: {replicas: 2, readyReplicas: 1}
"#,
            json!(["legacy", 2, 2, 1, "10d", "app", "app:1", "app=legacy"]),
        )],
    );
    check::<PodTemplate>(
        &["Name", "Containers", "Images", "Pod Labels"],
        &[(
            r#"
metadata: {name: tmpl}
template:
  metadata: {labels: {tier: x, app: tmpl}}
  spec: {containers: [{name: a, image: "a:1"}, {name: b, image: "b:2"}]}
"#,
            json!(["tmpl", "a,b", "a:1,b:2", "app=tmpl,tier=x"]),
        )],
    );
    check::<ControllerRevision>(
        &["Name", "Controller", "Revision", "Age"],
        &[
            (
                r#"
metadata:
  name: db-7f9c
  creationTimestamp: "2025-05-22T12:00:00Z"
  ownerReferences:
  - {apiVersion: apps/v1, kind: StatefulSet, name: db, uid: 1f2e, controller: true}
revision: 3
"#,
                json!(["db-7f9c", "statefulset.apps/db", 3, "10d"]),
            ),
            (
                r#"
metadata:
  name: core-owned
  creationTimestamp: "2025-05-22T12:00:00Z"
  ownerReferences:
  - {apiVersion: v1, kind: ConfigMap, name: not-the-controller, uid: "1"}
  - {apiVersion: v1, kind: Pod, name: p, uid: "2", controller: true}
revision: 1
"#,
                json!(["core-owned", "pod/p", 1, "10d"]),
            ),
            (
                "metadata: {name: orphan, creationTimestamp: \"2025-05-22T12:00:00Z\"}\nrevision: 7\n",
                json!(["orphan", "<none>", 7, "10d"]),
            ),
        ],
    );
}

#[test]
fn printer_errors() {
    use clipper_proto::api::apps::v1::ControllerRevision;
    let (pod, json) = decode::<Pod>("metadata: {name: p}\nspec: {containers: [{name: c}]}\n");
    let err = table_for(
        "apps",
        "Deployment",
        &[Item::new(&pod, &json)],
        None,
        now(),
        &TableOptions::default(),
    );
    assert_eq!(
        err,
        Err(PrintError::UnexpectedType {
            group: "apps".into(),
            kind: "Deployment".into(),
            index: 0
        })
    );
    assert_eq!(
        err.unwrap_err().to_string(),
        "object 0 given for Deployment.apps is not of that type"
    );
    let (cr, json) = decode::<ControllerRevision>(
        "metadata:\n  name: r\n  ownerReferences: [{apiVersion: a/b/c, kind: K, name: n, uid: u, controller: true}]\nrevision: 1\n",
    );
    let err = table_for(
        "apps",
        "ControllerRevision",
        &[Item::new(&cr, &json)],
        None,
        now(),
        &TableOptions::default(),
    );
    assert_eq!(err, Err(PrintError::InvalidGroupVersion("a/b/c".into())));
}

#[test]
fn kinds_without_a_printer_get_name_and_created_at() {
    use clipper_proto::api::rbac::v1::Role;
    let (role, json) = decode::<Role>(
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: default, resourceVersion: "812", creationTimestamp: "2025-05-02T12:00:00Z"}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
"#,
    );
    let table = table_for(
        "rbac.authorization.k8s.io",
        "Role",
        &[Item::new(&role, &json)],
        None,
        now(),
        &TableOptions::default(),
    )
    .unwrap();
    let names: Vec<&str> = table.columns().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Name", "Created At"]);
    assert_eq!(table.columns()[1].type_, "date");
    assert_eq!(
        table.rows()[0].cells,
        vec![json!("pod-reader"), json!("2025-05-02T12:00:00Z")]
    );
    assert_eq!(table.metadata.resource_version.as_deref(), Some("812"));

    // No creation time prints Go's zero time; an empty list has null rows.
    let bare = json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "limits"}});
    let table = default_table(&[&bare], None, &TableOptions::default());
    assert_eq!(
        table.rows()[0].cells,
        vec![json!("limits"), json!("0001-01-01T00:00:00Z")]
    );
    let empty = default_table(&[], Some(&ListMeta::default()), &TableOptions::default());
    assert_eq!(serde_json::to_value(&empty).unwrap()["rows"], Value::Null);
}

fn column(yaml: &str) -> CustomResourceColumnDefinition {
    let json = codec::yaml_documents(yaml).unwrap().remove(0);
    codec::from_value::<CustomResourceColumnDefinition>(json)
        .unwrap()
        .validate(FieldValidation::Strict)
        .unwrap()
        .0
}

#[test]
fn custom_resource_columns() {
    let columns = vec![
        column("{name: Replicas, type: integer, jsonPath: .spec.replicas}"),
        column(
            r#"{name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: Whether it is ready}"#,
        ),
        column("{name: Ratio, type: number, jsonPath: .spec.ratio}"),
        column("{name: Paused, type: boolean, jsonPath: .spec.paused}"),
        column("{name: Image, type: string, jsonPath: '.spec.containers[0].image', priority: 1}"),
        column("{name: Labels, type: string, jsonPath: .metadata.labels}"),
        column("{name: Started, type: date, jsonPath: .status.startTime, format: date-time}"),
        column("{name: Age, type: date, jsonPath: .metadata.creationTimestamp}"),
    ];
    let db = json!({
        "apiVersion": "example.com/v1", "kind": "Database",
        "metadata": {"name": "db", "creationTimestamp": "2025-05-22T12:00:00Z", "labels": {"tier": "data", "app": "pg"}},
        "spec": {"replicas": 3, "ratio": 0.5, "paused": false, "containers": [{"image": "pg:16"}]},
        "status": {"startTime": "2025-06-01T11:55:00Z", "conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]}
    });
    let cache = json!({
        "apiVersion": "example.com/v1", "kind": "Database",
        "metadata": {"name": "cache"},
        "spec": {"replicas": "3", "ratio": 2.0, "paused": "yes", "containers": []},
        "status": {"startTime": "yesterday", "conditions": [{"type": "Ready", "status": null}]}
    });
    let table = custom_resource_table(
        &columns,
        &[&db, &cache],
        Some(&ListMeta::default()),
        now(),
        &TableOptions::default(),
    );
    let names: Vec<&str> = table.columns().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Name", "Replicas", "Ready", "Ratio", "Paused", "Image", "Labels", "Started", "Age"
        ]
    );
    let c = table.columns();
    assert_eq!(
        (
            c[0].format.as_str(),
            c[1].type_.as_str(),
            c[5].priority,
            c[7].format.as_str()
        ),
        ("name", "integer", 1, "date-time")
    );
    assert_eq!(
        c[1].description,
        "Custom resource definition column (in JSONPath format): .spec.replicas"
    );
    assert_eq!(c[2].description, "Whether it is ready");
    assert_eq!(
        table.rows()[0].cells,
        json!([
            "db",
            3,
            "True",
            0.5,
            false,
            "pg:16",
            r#"{"app":"pg","tier":"data"}"#,
            "5m",
            "10d"
        ])
        .as_array()
        .unwrap()
        .clone()
    );
    // Wrong types print null; a JSON null in a string column prints as Go's "<no value>"; an
    // unparsable date "<invalid>"; an index past the end fails and prints null.
    assert_eq!(
        table.rows()[1].cells,
        json!([
            "cache",
            null,
            "<no value>",
            2,
            null,
            null,
            null,
            "<invalid>",
            null
        ])
        .as_array()
        .unwrap()
        .clone()
    );
}

#[test]
fn custom_resources_without_columns_or_with_a_broken_one() {
    let object = json!({"metadata": {"name": "x", "creationTimestamp": "2025-06-01T09:00:00Z"}, "spec": {"size": 4}});
    let table = custom_resource_table(&[], &[&object], None, now(), &TableOptions::default());
    let names: Vec<(&str, &str)> = table
        .columns()
        .iter()
        .map(|c| (c.name.as_str(), c.type_.as_str()))
        .collect();
    assert_eq!(names, [("Name", "string"), ("Age", "date")]);
    assert_eq!(
        table.columns()[1].description,
        object_meta_doc("creationTimestamp")
    );
    assert_eq!(table.rows()[0].cells, vec![json!("x"), json!("3h")]);

    // Columns stop at the first path that does not parse, as in Kubernetes.
    let columns = vec![
        column("{name: Size, type: integer, jsonPath: .spec.size}"),
        column("{name: Broken, type: string, jsonPath: '.spec[oops'}"),
        column("{name: After, type: string, jsonPath: .spec.size}"),
    ];
    let table = custom_resource_table(&columns, &[&object], None, now(), &TableOptions::default());
    let names: Vec<&str> = table.columns().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Name", "Size"]);
    assert_eq!(table.rows()[0].cells, vec![json!("x"), json!(4)]);
    // A date column reading a zero or empty time prints "<unknown>".
    let zero =
        json!({"metadata": {"name": "z"}, "status": {"at": "0001-01-01T00:00:00Z", "empty": ""}});
    let columns = vec![
        column("{name: At, type: date, jsonPath: .status.at}"),
        column("{name: E, type: date, jsonPath: .status.empty}"),
    ];
    let table = custom_resource_table(&columns, &[&zero], None, now(), &TableOptions::default());
    assert_eq!(
        table.rows()[0].cells,
        vec![json!("z"), json!("<unknown>"), json!("<unknown>")]
    );
}

fn namespace_fixture() -> (Namespace, Value) {
    decode::<Namespace>(
        r#"
apiVersion: v1
kind: Namespace
metadata: {name: default, uid: 5b1c, resourceVersion: "100", creationTimestamp: "2025-05-02T12:00:00Z", labels: {kubernetes.io/metadata.name: default}}
spec: {finalizers: [kubernetes]}
status: {phase: Active}
"#,
    )
}

#[test]
fn table_json_has_the_kubernetes_shape() {
    let (ns, json) = namespace_fixture();
    let table = table_for(
        "",
        "Namespace",
        &[Item::new(&ns, &json)],
        None,
        now(),
        &TableOptions::default(),
    )
    .unwrap();
    let meta_doc = |f: &str| Value::String(object_meta_doc(f));
    assert_eq!(
        serde_json::to_value(&table).unwrap(),
        json!({
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": "100"},
            "columnDefinitions": [
                {"name": "Name", "type": "string", "format": "name", "description": meta_doc("name"), "priority": 0},
                {"name": "Status", "type": "string", "format": "", "description": "The status of the namespace", "priority": 0},
                {"name": "Age", "type": "string", "format": "", "description": meta_doc("creationTimestamp"), "priority": 0}
            ],
            "rows": [{
                "cells": ["default", "Active", "30d"],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": json["metadata"].clone()
                }
            }]
        })
    );
    // The Table reads back to the same value.
    let text = serde_json::to_string(&table).unwrap();
    assert_eq!(serde_json::from_str::<Table>(&text).unwrap(), table);
}

#[test]
fn include_object_headers_version_and_list_metadata() {
    let (ns, json) = namespace_fixture();
    let items = [Item::new(&ns, &json), Item::new(&ns, &json)];
    let list = ListMeta {
        resource_version: Some("7".into()),
        continue_: Some("eyJ2IjoxfQ".into()),
        remaining_item_count: Some(3),
        self_link: Some("/api/v1/namespaces".into()),
    };
    let options = TableOptions {
        include_object: IncludeObject::Object,
        no_headers: true,
        version: TableVersion::V1,
    };
    let value = serde_json::to_value(
        table_for("", "Namespace", &items, Some(&list), now(), &options).unwrap(),
    )
    .unwrap();
    assert_eq!(
        value["metadata"],
        json!({"resourceVersion": "7", "continue": "eyJ2IjoxfQ", "remainingItemCount": 3})
    );
    assert_eq!(value["columnDefinitions"], Value::Null);
    assert_eq!(value["rows"].as_array().map(Vec::len), Some(2));
    assert_eq!(value["rows"][1]["object"], json);

    let options = TableOptions {
        include_object: IncludeObject::None,
        ..TableOptions::default()
    };
    let value = serde_json::to_value(
        table_for("", "Namespace", &items[..1], None, now(), &options).unwrap(),
    )
    .unwrap();
    assert_eq!(
        value["rows"][0],
        json!({"cells": ["default", "Active", "30d"], "object": null})
    );

    let options = TableOptions {
        version: TableVersion::V1Beta1,
        ..TableOptions::default()
    };
    let value = serde_json::to_value(
        table_for("", "Namespace", &items[..1], None, now(), &options).unwrap(),
    )
    .unwrap();
    assert_eq!(value["apiVersion"], "meta.k8s.io/v1beta1");
    assert_eq!(
        value["rows"][0]["object"]["apiVersion"],
        "meta.k8s.io/v1beta1"
    );

    assert_eq!(IncludeObject::from_query(""), Some(IncludeObject::Metadata));
    assert_eq!(
        IncludeObject::from_query("Metadata"),
        Some(IncludeObject::Metadata)
    );
    assert_eq!(IncludeObject::from_query("None"), Some(IncludeObject::None));
    assert_eq!(
        IncludeObject::from_query("Object"),
        Some(IncludeObject::Object)
    );
    assert_eq!(IncludeObject::from_query("object"), None);
}

#[test]
fn pod_rows_serialize_conditions_and_custom_rows_nulls() {
    let table = table_of::<Pod>(
        "metadata: {name: done, resourceVersion: \"9\"}\nspec: {containers: [{name: c}]}\nstatus: {phase: Succeeded}\n",
        &TableOptions {
            include_object: IncludeObject::None,
            ..TableOptions::default()
        },
    );
    let row = serde_json::to_value(&table.rows()[0]).unwrap();
    assert_eq!(
        row,
        json!({
            "cells": ["done", "0/1", "Succeeded", "0", "<unknown>", "<none>", "<none>", "<none>", "<none>"],
            "conditions": [{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}],
            "object": null
        })
    );
    let object = json!({"metadata": {"name": "x"}});
    let columns = vec![column(
        "{name: Missing, type: string, jsonPath: .spec.nothing}",
    )];
    let table = custom_resource_table(&columns, &[&object], None, now(), &TableOptions::default());
    assert_eq!(
        serde_json::to_value(&table).unwrap()["rows"][0]["cells"],
        json!(["x", null])
    );
}

#[test]
fn label_selectors_format_like_kubernetes() {
    use clipper_proto::api::meta::v1::LabelSelector;
    let selector = |yaml: &str| -> LabelSelector {
        codec::from_value(codec::yaml_documents(yaml).unwrap().remove(0))
            .unwrap()
            .validate(FieldValidation::Strict)
            .unwrap()
            .0
    };
    let cases = [
        ("{matchLabels: {b: \"2\", a: \"1\"}}", "a=1,b=2"),
        (
            "{matchExpressions: [{key: env, operator: NotIn, values: [prod, dev]}]}",
            "env notin (dev,prod)",
        ),
        ("{matchExpressions: [{key: gpu, operator: Exists}]}", "gpu"),
        ("{matchLabels: {example.com/team: a}}", "example.com/team=a"),
        ("{matchLabels: {a: \"\"}}", "a="),
        ("{}", "<none>"),
        (
            "{matchExpressions: [{key: x, operator: In, values: []}]}",
            "<error>",
        ),
        (
            "{matchExpressions: [{key: x, operator: Gt, values: [\"1\"]}]}",
            "<error>",
        ),
        ("{matchLabels: {Example.com/team: a}}", "<error>"),
        ("{matchLabels: {a: \"-bad\"}}", "<error>"),
        ("{matchLabels: {a/b/c: x}}", "<error>"),
    ];
    for (yaml, want) in cases {
        assert_eq!(format_label_selector(Some(&selector(yaml))), want, "{yaml}");
    }
    assert_eq!(format_label_selector(None), "<none>");
}
