//! The kubectl verbs of `clipper` against a real `clipper up`, checked against stock
//! kubectl on the same objects: what clipper prints equals what kubectl prints where the
//! formats are kubectl's (names, JSON, tables, api-resources, events), objects clipper
//! writes are what kubectl then reads, and failures exit 1 with the server's Status on one
//! line of stderr.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Cluster, Kubectl, Run, expect_line, rows};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

/// `clipper` with the cluster's kubeconfig in $KUBECONFIG and a home of its own (so no
/// ~/.kube/config interferes), driven through the same harness as kubectl.
fn clipper(cluster: &Cluster) -> Kubectl {
    Kubectl::new(
        PathBuf::from(env!("CARGO_BIN_EXE_clipper")),
        cluster.kubeconfig.clone(),
        cluster.dir.path().join("home-clipper"),
    )
}

fn kubectl(cluster: &Cluster) -> Kubectl {
    cluster.kubectl("default")
}

/// Runs both until they print the same (a row's AGE may tick between the two runs);
/// returns clipper's output after asserting equality.
#[track_caller]
fn same_output(c: &Kubectl, k: &Kubectl, args: &[&str]) -> String {
    let mut last = (String::new(), String::new());
    for _ in 0..5 {
        let (a, b) = (c.run(args), k.run(args));
        assert_eq!(
            a.ok,
            b.ok,
            "{args:?}: clipper {a:?} kubectl {b:?}",
            a = a.stderr,
            b = b.stderr
        );
        if a.stdout == b.stdout && a.stderr == b.stderr {
            return a.stdout;
        }
        last = (a.stdout + &a.stderr, b.stdout + &b.stderr);
    }
    panic!(
        "clipper and kubectl differ on {args:?}:\n--- clipper\n{}\n--- kubectl\n{}",
        last.0, last.1
    );
}

#[track_caller]
fn fails_with(c: &Kubectl, args: &[&str], stdin: Option<&str>, stderr: &str) -> Run {
    let r = c.run_with(args, stdin, &[]);
    assert_eq!(
        r.code,
        Some(1),
        "{args:?} exits 1: {} {}",
        r.stdout,
        r.stderr
    );
    assert!(
        r.stderr.contains(stderr),
        "{args:?}: stderr {:?} should carry {stderr:?}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("panicked") && !r.stderr.contains("backtrace"),
        "{}",
        r.stderr
    );
    r
}

#[track_caller]
fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    common::wait_until(what, WAIT, Duration::from_millis(50), cond)
}

const SETUP: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: other
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: alpha
  labels: {tier: front, app: shop}
data: {size: "3"}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: beta
  labels: {tier: back}
data: {size: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: gamma
  namespace: other
data: {size: "2"}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx:1.27}]
"#;

#[test]
fn get_api_resources_and_output_formats_match_kubectl() {
    let cluster = Cluster::start();
    let (c, k) = (clipper(&cluster), kubectl(&cluster));
    k.ok_stdin(&["apply", "-f", "-"], SETUP);

    // Discovery: the same types, columns and order as kubectl.
    same_output(&c, &k, &["api-resources"]);
    same_output(
        &c,
        &k,
        &["api-resources", "--namespaced=false", "-o", "name"],
    );

    // Tables: the server's columns aligned as kubectl aligns them.
    for args in [
        &["get", "configmaps"][..],
        &["get", "cm", "-A"],
        &["get", "configmap", "alpha", "beta"],
        &["get", "configmaps", "-l", "tier=front", "--show-labels"],
        &[
            "get",
            "configmaps",
            "--field-selector",
            "metadata.name=beta",
        ],
        &["get", "deployments.apps", "-o", "wide"],
        &["get", "deploy/web", "configmap/alpha"],
        &["get", "namespaces", "--sort-by", "{.metadata.name}"],
    ] {
        same_output(&c, &k, args);
    }
    let table = c.ok(&["get", "Deployment"]);
    assert_eq!(
        rows(&table)[0],
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert_eq!(rows(&table)[1][0], "web");

    // Other formats: names, JSON (4-space indent, sorted keys), YAML, JSONPath.
    for args in [
        &["get", "configmaps", "-o", "name"][..],
        &["get", "pods,configmaps", "-A", "-o", "name"],
        &["get", "configmap", "alpha", "-o", "json"],
        &["get", "cm", "-o", "json"],
        &["get", "configmap", "alpha", "-o", "yaml"],
        &["get", "cm", "-o", "jsonpath={.items[*].metadata.name}"],
        &[
            "get",
            "cm",
            "-A",
            "-o",
            "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}{\"\\n\"}{end}",
        ],
        &["get", "cm", "--sort-by", ".data.size", "-o", "name"],
    ] {
        same_output(&c, &k, args);
    }
    let other = c.ok(&[
        "get",
        "-n",
        "other",
        "cm",
        "gamma",
        "-o",
        "jsonpath={.data.size}",
    ]);
    assert_eq!(other, "2");

    // Nothing there (the deployment's pods are in default): kubectl's message on stderr,
    // success.
    let r = c.run(&["get", "pods", "-n", "kube-public"]);
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(r.stdout, "");
    assert_eq!(r.stderr, "No resources found in kube-public namespace.\n");
    same_output(&c, &k, &["get", "pods", "-n", "other"]);
    // Global flags before the verb, as kubectl takes them.
    same_output(&c, &k, &["-n", "other", "get", "configmaps", "-o", "name"]);

    // Failures: exit 1, the server's Status (or kubectl's message) on one line.
    let r = fails_with(&c, &["get", "pod", "nope"], None, "");
    assert_eq!(
        r.stderr,
        "Error from server (NotFound): pods \"nope\" not found\n"
    );
    assert_eq!(r.stderr, k.fails(&["get", "pod", "nope"]));
    // The found one is printed before the error; its AGE may tick between the two
    // runs, so compare again (as same_output does) before failing.
    let mut pair = (String::new(), String::new());
    for _ in 0..5 {
        let r = fails_with(&c, &["get", "configmap", "alpha", "nope"], None, "");
        pair = (
            r.stdout,
            k.run(&["get", "configmap", "alpha", "nope"]).stdout,
        );
        if pair.0 == pair.1 {
            break;
        }
    }
    assert_eq!(pair.0, pair.1);
    fails_with(
        &c,
        &["get", "flurbs"],
        None,
        "error: the server doesn't have a resource type \"flurbs\"",
    );
    assert!(c.run(&["get", "pod", "nope", "--ignore-not-found"]).ok);

    // Watch: the listed rows, then a row per event as it arrives.
    let (_watch, lines) = c.spawn_lines(&["get", "configmaps", "-w"]);
    expect_line(&lines, WAIT, "with alpha", |l| l.starts_with("alpha "));
    k.ok(&["create", "configmap", "delta", "--from-literal=x=y"]);
    expect_line(&lines, WAIT, "with delta", |l| l.starts_with("delta "));
    let (_watch_one, one) = c.spawn_lines(&["get", "configmap", "delta", "-w", "-o", "name"]);
    expect_line(&one, WAIT, "naming delta", |l| l == "configmap/delta");
    k.ok(&["label", "configmap", "delta", "seen=yes"]);
    expect_line(&one, WAIT, "naming delta again", |l| l == "configmap/delta");
    cluster.stop();
}

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: solo
  labels: {app: solo}
spec:
  containers: [{name: main, image: busybox:1.36, command: [sleep, "3600"]}]
"#;

#[test]
fn write_verbs_change_what_kubectl_reads() {
    let cluster = Cluster::start();
    let (c, k) = (clipper(&cluster), kubectl(&cluster));
    let dir = cluster.dir.path().join("manifests");
    std::fs::create_dir_all(dir.join("nested")).unwrap();
    std::fs::write(dir.join("a.yaml"), SETUP).unwrap();
    std::fs::write(dir.join("nested/pod.yaml"), POD).unwrap();
    std::fs::write(dir.join("ignored.txt"), "not: a manifest").unwrap();
    let dir_s = dir.to_str().unwrap();

    // apply: created, then unchanged, then configured; directories and stdin.
    assert_eq!(
        c.ok(&["apply", "-f", dir_s]),
        "namespace/other created\nconfigmap/alpha created\nconfigmap/beta created\nconfigmap/gamma created\ndeployment.apps/web created\n"
    );
    assert_eq!(
        c.ok(&["apply", "-f", dir_s, "-R", "-o", "name"])
            .lines()
            .count(),
        6
    );
    assert_eq!(k.ok(&["get", "pod", "solo", "-o", "name"]), "pod/solo\n");
    assert_eq!(
        c.ok_stdin(&["apply", "-f", "-"], POD),
        "pod/solo unchanged\n"
    );
    let changed = SETUP.replace("size: \"3\"", "size: \"30\"");
    let out = c.ok_stdin(&["apply", "-f", "-"], &changed);
    assert!(out.contains("configmap/alpha configured\n"), "{out}");
    assert!(out.contains("configmap/beta unchanged\n"), "{out}");
    assert_eq!(
        k.ok(&["get", "cm", "alpha", "-o", "jsonpath={.data.size}"]),
        "30"
    );
    // kubectl's client-side apply finds its annotation and goes on from it.
    let last = k.json(&["get", "cm", "alpha"])["metadata"]["annotations"]
        ["kubectl.kubernetes.io/last-applied-configuration"]
        .as_str()
        .map(str::to_string)
        .expect("last-applied annotation");
    let last: Value = serde_json::from_str(&last).unwrap();
    assert_eq!(last["data"]["size"], "30");
    // A field the manifest drops is removed.
    let fewer = changed.replace(
        "  labels: {tier: front, app: shop}\n",
        "  labels: {tier: front}\n",
    );
    c.ok_stdin(&["apply", "-f", "-"], &fewer);
    assert_eq!(
        k.ok(&[
            "get",
            "cm",
            "alpha",
            "-o",
            "jsonpath={.metadata.labels.app}"
        ]),
        ""
    );
    // Server-side apply with the field manager `clipper`.
    let ssa = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {k: v}\n";
    assert_eq!(
        c.ok_stdin(&["apply", "--server-side", "-f", "-"], ssa),
        "configmap/ssa serverside-applied\n"
    );
    let managers: Vec<String> = k.json(&["get", "cm", "ssa", "--show-managed-fields"])["metadata"]
        ["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["manager"].as_str().unwrap(),
                m["operation"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(managers, ["clipper/Apply"]);
    // Another applier's field: a conflict without --force-conflicts.
    k.ok_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager=other",
            "--force-conflicts",
            "-f",
            "-",
        ],
        &ssa.replace("k: v", "k: x"),
    );
    fails_with(
        &c,
        &["apply", "--server-side", "-f", "-"],
        Some(ssa),
        "error: Apply failed with 1 conflict: conflict with \"other\": .data.k\n",
    );
    c.ok_stdin(
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        ssa,
    );
    assert_eq!(k.ok(&["get", "cm", "ssa", "-o", "jsonpath={.data.k}"]), "v");
    // Invalid objects: the server's message, with the source, exit 1.
    let bad = "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec: {containers: []}\n";
    let r = fails_with(
        &c,
        &["apply", "-f", "-"],
        Some(bad),
        "Error from server (Invalid): error when creating \"STDIN\": Pod \"bad\" is invalid: spec.containers: Required value",
    );
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    fails_with(
        &c,
        &["apply", "-n", "other", "-f", "-"],
        Some(
            POD.replace("name: solo\n", "name: solo\n  namespace: default\n")
                .as_str(),
        ),
        "error: the namespace from the provided object \"default\" does not match the namespace \"other\"",
    );

    // create: created, then AlreadyExists.
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: made}\n";
    assert_eq!(
        c.ok_stdin(&["create", "-f", "-"], cm),
        "configmap/made created\n"
    );
    let r = fails_with(&c, &["create", "-f", "-"], Some(cm), "");
    assert_eq!(
        r.stderr,
        "Error from server (AlreadyExists): error when creating \"STDIN\": configmaps \"made\" already exists\n"
    );
    assert_eq!(
        r.stderr,
        k.run_with(&["create", "-f", "-"], Some(cm), &[]).stderr
    );

    // patch: the three types; a no-op says so.
    assert_eq!(
        c.ok(&["patch", "cm", "made", "-p", r#"{"data":{"a":"1"}}"#]),
        "configmap/made patched\n"
    );
    assert_eq!(
        c.ok(&[
            "patch",
            "configmap/made",
            "--type",
            "merge",
            "-p",
            "data: {b: '2'}"
        ]),
        "configmap/made patched\n"
    );
    c.ok(&[
        "patch",
        "cm",
        "made",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/data/a"}]"#,
    ]);
    assert_eq!(
        k.json(&["get", "cm", "made"])["data"],
        serde_json::json!({"b": "2"})
    );
    assert_eq!(
        c.ok(&["patch", "cm", "made", "-p", r#"{"data":{"b":"2"}}"#]),
        k.ok(&["patch", "cm", "made", "-p", r#"{"data":{"b":"2"}}"#])
    );
    fails_with(
        &c,
        &["patch", "cm", "nope", "-p", "{}"],
        None,
        "Error from server (NotFound): configmaps \"nope\" not found",
    );

    // label / annotate: set, refuse to overwrite, overwrite, remove.
    assert_eq!(
        c.ok(&["label", "cm", "made", "color=red"]),
        "configmap/made labeled\n"
    );
    fails_with(
        &c,
        &["label", "cm", "made", "color=blue"],
        None,
        "error: 'color' already has a value (red), and --overwrite is false",
    );
    c.ok(&["label", "cm", "made", "color=blue", "--overwrite"]);
    assert_eq!(
        k.ok(&["get", "cm", "-l", "color=blue", "-o", "name"]),
        "configmap/made\n"
    );
    c.ok(&["label", "cm", "made", "color-"]);
    assert!(
        k.json(&["get", "cm", "made"])["metadata"]["labels"]
            .get("color")
            .is_none()
    );
    assert_eq!(
        c.ok(&["annotate", "cm", "-l", "tier", "note=hi"]),
        "configmap/alpha annotated\nconfigmap/beta annotated\n"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "cm",
            "beta",
            "-o",
            "jsonpath={.metadata.annotations.note}"
        ]),
        "hi"
    );
    c.ok(&["annotate", "cm/beta", "note-"]);
    assert_eq!(
        k.ok(&[
            "get",
            "cm",
            "beta",
            "-o",
            "jsonpath={.metadata.annotations.note}"
        ]),
        ""
    );

    // scale: the scale subresource.
    assert_eq!(
        c.ok(&["scale", "deployment", "web", "--replicas=3"]),
        "deployment.apps/web scaled\n"
    );
    assert_eq!(
        k.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "3"
    );
    fails_with(
        &c,
        &[
            "scale",
            "deploy/web",
            "--replicas=1",
            "--current-replicas=2",
        ],
        None,
        "Expected replicas to be 2, was 3",
    );

    // delete: by name, by file, by selector; NotFound exits 1.
    assert_eq!(
        c.ok(&["delete", "cm", "made"]),
        "configmap \"made\" deleted\n"
    );
    assert!(!k.run(&["get", "cm", "made"]).ok);
    let r = fails_with(&c, &["delete", "cm", "made"], None, "");
    assert_eq!(
        r.stderr,
        "Error from server (NotFound): configmaps \"made\" not found\n"
    );
    assert_eq!(r.stderr, k.fails(&["delete", "cm", "made"]));
    assert!(c.run(&["delete", "cm", "made", "--ignore-not-found"]).ok);
    assert_eq!(
        c.ok(&["delete", "cm", "-l", "tier=back"]),
        "configmap \"beta\" deleted\n"
    );
    assert_eq!(
        c.ok(&[
            "delete",
            "-f",
            dir.join("nested/pod.yaml").to_str().unwrap()
        ]),
        "pod \"solo\" deleted\n"
    );
    fails_with(
        &c,
        &["delete", "cm"],
        None,
        "error: resource(s) were provided, but no name was specified",
    );

    // --wait: the command returns only once the object is gone (here: once a finalizer
    // that holds it is removed).
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, finalizers: [example.com/hold]}\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_clipper"))
        .args(["delete", "configmap", "held"])
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env("HOME", cluster.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    expect_line(&rx, WAIT, "deleted", |l| l == "configmap \"held\" deleted");
    wait_until("the deletion to be pending", || {
        k.json(&["get", "cm", "held"])["metadata"]["deletionTimestamp"].is_string()
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "delete waits while the finalizer holds"
    );
    k.ok(&[
        "patch",
        "cm",
        "held",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "delete returns once the object is gone"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    // --wait=false returns at once, the object still there.
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held2, finalizers: [example.com/hold]}\n",
    );
    c.ok(&["delete", "cm", "held2", "--wait=false"]);
    assert!(k.json(&["get", "cm", "held2"])["metadata"]["deletionTimestamp"].is_string());
    k.ok(&[
        "patch",
        "cm",
        "held2",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    // --timeout bounds the wait.
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held3, finalizers: [example.com/hold]}\n",
    );
    fails_with(
        &c,
        &["delete", "cm", "held3", "--timeout=1s"],
        None,
        "timed out waiting for the condition on configmaps/held3",
    );
    cluster.stop();
}

const NODE: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: worker-1
  labels: {kubernetes.io/hostname: worker-1}
spec:
  taints: [{key: example.com/test, value: "yes", effect: NoSchedule}]
"#;

fn event(
    name: &str,
    reason: &str,
    kind: &str,
    object: &str,
    uid: &str,
    ty: &str,
    message: &str,
) -> String {
    format!(
        r#"
apiVersion: v1
kind: Event
metadata: {{name: {name}}}
involvedObject: {{kind: {kind}, name: {object}, namespace: default, uid: "{uid}"}}
reason: {reason}
type: {ty}
message: "{message}"
source: {{component: tester}}
firstTimestamp: "2025-01-01T00:00:00Z"
lastTimestamp: "2025-01-01T00:00:0{n}Z"
count: 1
"#,
        n = name.len() % 10
    )
}

#[test]
fn nodes_events_and_describe() {
    let cluster = Cluster::start();
    let (c, k) = (clipper(&cluster), kubectl(&cluster));
    k.ok_stdin(&["apply", "-f", "-"], NODE);

    // cordon / uncordon, idempotent, as kubectl reports them.
    assert_eq!(c.ok(&["cordon", "worker-1"]), "node/worker-1 cordoned\n");
    assert_eq!(
        k.ok(&[
            "get",
            "node",
            "worker-1",
            "-o",
            "jsonpath={.spec.unschedulable}"
        ]),
        "true"
    );
    assert_eq!(c.ok(&["cordon", "worker-1"]), k.ok(&["cordon", "worker-1"]));
    assert_eq!(
        c.ok(&["uncordon", "worker-1"]),
        "node/worker-1 uncordoned\n"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "node",
            "worker-1",
            "-o",
            "jsonpath={.spec.unschedulable}"
        ]),
        ""
    );
    assert_eq!(
        c.ok(&["uncordon", "worker-1"]),
        k.ok(&["uncordon", "worker-1"])
    );
    fails_with(
        &c,
        &["cordon", "nope"],
        None,
        "Error from server (NotFound): nodes \"nope\" not found",
    );
    same_output(&c, &k, &["get", "nodes", "--show-labels"]);

    // events: as kubectl events lists them (apart from the age column).
    let r = c.run(&["events"]);
    assert!(r.ok);
    assert_eq!(r.stderr, k.run(&["events"]).stderr);
    k.ok_stdin(&["apply", "-f", "-"], POD);
    let uid = k.ok(&["get", "pod", "solo", "-o", "jsonpath={.metadata.uid}"]);
    let events = [
        event(
            "solo.1",
            "Scheduled",
            "Pod",
            "solo",
            &uid,
            "Normal",
            "Assigned default/solo to nowhere",
        ),
        event(
            "solo.22",
            "BackOff",
            "Pod",
            "solo",
            &uid,
            "Warning",
            "Back-off pulling image",
        ),
    ]
    .join("---\n");
    k.ok_stdin(&["apply", "-f", "-"], &events);
    let strip_age = |table: &str| -> Vec<Vec<String>> {
        // LAST SEEN is the first column (one or two words on the header line).
        table
            .lines()
            .map(|l| {
                let cells: Vec<String> = l
                    .split("   ")
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect();
                cells[1..].to_vec()
            })
            .collect()
    };
    // The scheduler adds its own events as it retries; compare runs that agree.
    let mut ours = String::new();
    let deadline = Instant::now() + WAIT;
    loop {
        let (a, b) = (c.ok(&["events"]), k.ok(&["events"]));
        if strip_age(&a) == strip_age(&b) {
            ours = a;
            break;
        }
        assert!(
            Instant::now() < deadline,
            "clipper events:\n{a}\nkubectl events:\n{b}"
        );
        ours.clear();
    }
    assert_eq!(
        rows(&ours)[0],
        ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    );
    let scheduled = rows(&ours)
        .into_iter()
        .find(|r| r.contains(&"Scheduled".to_string()))
        .expect("the Scheduled event");
    assert_eq!(
        scheduled[1..5],
        ["Normal", "Scheduled", "Pod/solo", "Assigned"]
    );
    let all = c.ok(&["events", "-A"]);
    assert_eq!(rows(&all)[0][0], "NAMESPACE");
    let warnings = c.ok(&["events", "--types=Warning"]);
    assert!(
        rows(&warnings)[1..].iter().all(|r| r[1] == "Warning"),
        "{warnings}"
    );

    // describe: kubectl's layout, the object's fields and its events.
    // A pod: the same text as kubectl's describe (fields, alignment, events).
    let pod = same_output(&c, &k, &["describe", "pod", "solo"]);
    for line in [
        "Name:         solo\n",
        "Labels:       app=solo\n",
        "Containers:\n  main:\n    Image:",
        "  Warning  BackOff",
        "tester             Back-off pulling image\n",
    ] {
        assert!(pod.contains(line), "describe pod lacks {line:?}:\n{pod}");
    }
    let node = c.ok(&["describe", "node", "worker-1"]);
    for line in [
        "Name:               worker-1\n",
        "Taints:             example.com/test=yes:NoSchedule\n",
        "Unschedulable:      false\n",
    ] {
        assert!(node.contains(line), "describe node lacks {line:?}:\n{node}");
    }
    assert_eq!(rows(node.lines().last().unwrap()), [["Events:", "<none>"]]);
    fails_with(
        &c,
        &["describe", "pod", "nope"],
        None,
        "Error from server (NotFound): pods \"nope\" not found",
    );
    cluster.stop();
}
