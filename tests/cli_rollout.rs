//! `clipper rollout status|history|undo` against a real `clipper up`, checked against
//! kubectl 1.33 on the same cluster. Clusters run without a node agent: the test plays
//! the kubelet, writing pods' status (Running, Ready) through pods/status.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Cluster, Kubectl, Run};

const WAIT: Duration = Duration::from_secs(30);
/// Pause between two looks while polling (the test has no event to await here).
const POLL: Duration = Duration::from_millis(100);

fn clipper(cluster: &Cluster) -> Kubectl {
    Kubectl::new(
        PathBuf::from(env!("CARGO_BIN_EXE_clipper")),
        cluster.kubeconfig.clone(),
        cluster.dir.path().join("home-clipper"),
    )
}

/// Both runs, asserted to print the same and exit the same; clipper's run.
#[track_caller]
fn same_run(c: &Kubectl, k: &Kubectl, args: &[&str]) -> Run {
    let (a, b) = (c.run(args), k.run(args));
    assert_eq!(
        (a.code, &a.stdout, &a.stderr),
        (b.code, &b.stdout, &b.stderr),
        "clipper (left) and kubectl (right) differ on {args:?}"
    );
    a
}

/// Plays the kubelet: every pod of app=web not ready yet becomes Running and Ready.
fn mark_all_ready(k: &Kubectl) {
    let pods = k.json(&["get", "pods", "-l", "app=web"]);
    for p in pods["items"].as_array().into_iter().flatten() {
        let ready = p["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        });
        if ready || !p["metadata"]["deletionTimestamp"].is_null() {
            continue;
        }
        let patch = serde_json::json!({"status": {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
            ],
        }});
        let name = p["metadata"]["name"].as_str().unwrap_or("");
        // A pod deleted meanwhile is no failure.
        k.run(&[
            "patch",
            "pod",
            name,
            "--subresource=status",
            "--type=merge",
            "-p",
            &patch.to_string(),
        ]);
    }
}

fn counts(k: &Kubectl) -> String {
    k.ok(&[
        "get",
        "deploy/web",
        "-o",
        "jsonpath={.status.replicas}/{.status.updatedReplicas}/{.status.availableReplicas}/{.metadata.generation}/{.status.observedGeneration}",
    ])
}

/// Waits until the deployment's counts read `want` (replicas/updated/available, with
/// the generation observed), marking pods ready on the way when `ready`.
#[track_caller]
fn wait_counts(k: &Kubectl, want: &str, ready: bool) {
    common::wait_for(
        &format!("deploy/web to reach {want}"),
        WAIT,
        POLL,
        || {
            if ready {
                mark_all_ready(k);
            }
            counts(k)
        },
        |last| {
            let parts: Vec<&str> = last.split('/').collect();
            parts.len() == 5 && parts[3] == parts[4] && parts[..3].join("/") == want
        },
        String::new,
    );
}

fn image(k: &Kubectl) -> String {
    k.ok(&[
        "get",
        "deploy/web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ])
}

const WEB: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "nginx:1", ports: [{containerPort: 80}], env: [{name: A, value: b}]}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ds}
spec:
  selector: {matchLabels: {app: ds}}
  template:
    metadata: {labels: {app: ds}}
    spec: {containers: [{name: web, image: nginx}]}
"#;

#[test]
fn rollout_status_history_and_undo_match_kubectl() {
    let cluster = Cluster::start();
    let (c, k) = (clipper(&cluster), cluster.kubectl("1.33"));
    k.ok_stdin(&["apply", "-f", "-"], WEB);
    wait_counts(&k, "2/2/0", false);
    // Not available yet: one waiting line, exit 0 without --watch.
    let r = same_run(
        &c,
        &k,
        &["rollout", "status", "deploy/web", "--watch=false"],
    );
    assert_eq!(
        r.stdout,
        "Waiting for deployment \"web\" rollout to finish: 0 of 2 updated replicas are available...\n"
    );
    let r = c.run(&["rollout", "status", "deploy/web", "--timeout=1s"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(1), "error: timed out waiting for the condition\n")
    );
    wait_counts(&k, "2/2/2", true);
    for args in [
        &["rollout", "status", "deploy/web"][..],
        &["rollout", "status", "deployment", "web", "--revision=1"],
        &["rollout", "status", "deploy/web", "--revision=3"],
        &["rollout", "status", "deploy/nope"],
        &["rollout", "status"],
        &["rollout", "history", "deploy/web"],
        &["rollout", "history", "deploy/web", "--revision=1"],
        &["rollout", "history", "deploy/web", "--revision=7"],
        &["rollout", "undo", "deploy/web"],
        &["rollout", "undo", "deploy/web", "--to-revision=7"],
        &["rollout", "undo", "deploy/web", "--to-revision=1"],
    ] {
        same_run(&c, &k, args);
    }

    // A second revision with a change cause.
    k.ok(&["annotate", "deploy/web", "kubernetes.io/change-cause=to v2"]);
    k.ok(&["set", "image", "deploy/web", "web=nginx:2"]);
    wait_counts(&k, "2/2/2", true);
    for args in [
        &["rollout", "status", "deploy/web"][..],
        &["rollout", "history", "deploy/web"],
        &["rollout", "history", "deploy/web", "--revision=2"],
        &["rollout", "undo", "deploy/web", "--to-revision=2"],
        &["rollout", "undo", "deploy/web", "--to-revision=9"],
    ] {
        same_run(&c, &k, args);
    }
    // The annotation reached revision 1 too: its ReplicaSet was the new one when the
    // deployment was annotated.
    let table = c.ok(&["rollout", "history", "deploy/web"]);
    assert_eq!(
        table,
        "deployment.apps/web \nREVISION  CHANGE-CAUSE\n1         to v2\n2         to v2\n\n"
    );

    // clipper undoes to revision 1 (as 3); its status watches the rollout to its end
    // while the test plays the kubelet.
    assert_eq!(
        c.ok(&["rollout", "undo", "deploy/web"]),
        "deployment.apps/web rolled back\n"
    );
    assert_eq!(image(&k), "nginx:1");
    let watcher = {
        let c = clipper(&cluster);
        std::thread::spawn(move || c.run(&["rollout", "status", "deploy/web", "--timeout=60s"]))
    };
    common::wait_until("clipper rollout status ends", WAIT, POLL, || {
        mark_all_ready(&k);
        watcher.is_finished()
    });
    let r = watcher.join().expect("the watcher thread");
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout
            .ends_with("deployment \"web\" successfully rolled out\n"),
        "{}",
        r.stdout
    );
    wait_counts(&k, "2/2/2", true);
    same_run(&c, &k, &["rollout", "history", "deploy/web"]);
    same_run(
        &c,
        &k,
        &["rollout", "history", "deploy/web", "--revision=3"],
    );
    // kubectl undoes it back to revision 2; the same history then.
    k.ok(&["rollout", "undo", "deploy/web"]);
    assert_eq!(image(&k), "nginx:2");
    wait_counts(&k, "2/2/2", true);
    same_run(&c, &k, &["rollout", "history", "deploy/web"]);
    same_run(
        &c,
        &k,
        &["rollout", "status", "deploy/web", "--watch=false"],
    );

    // Paused: undo refused as kubectl refuses it.
    k.ok(&["rollout", "pause", "deploy/web"]);
    same_run(
        &c,
        &k,
        &["rollout", "undo", "deploy/web", "--to-revision=3"],
    );

    // Kinds clipper has no viewer for: kubectl's message for such a kind.
    let r = c.run(&["rollout", "history", "daemonset/ds"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            Some(1),
            "error: no history viewer has been implemented for \"DaemonSet.apps\"\n"
        )
    );
    cluster.stop();
}
