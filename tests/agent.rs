//! The node agent end to end, as a user meets it: `clipper up` (in a network namespace of
//! the test's own, standing in for the host) registers its node; an image imported with
//! `clipper image import`; pods created with stock kubectl run in runc containers on the
//! CNI bridge, reach each other and the cluster DNS, report their status, restart as
//! their policy says, serve their logs, and are stopped and removed on deletion; and a
//! restart of `clipper up` adopts the running containers instead of starting them again.

mod common;

use std::time::Duration;

use common::node::{Host, busybox_layout, sh};
use common::{Kubectl, wait_until};

/// How long a pod may take to reach a state (image unpack, runc, CNI on a loaded 2-core
/// machine).
const POD_LIMIT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(250);

fn jsonpath(k: &Kubectl, pod: &str, path: &str) -> String {
    let r = k.run(&["get", "pod", pod, "-o", &format!("jsonpath={path}")]);
    if r.ok { r.stdout } else { String::new() }
}

fn wait_phase(k: &Kubectl, pod: &str, phase: &str) {
    wait_until(&format!("pod {pod} {phase}"), POD_LIMIT, POLL, || {
        jsonpath(k, pod, "{.status.phase}") == phase
    });
}

const PODS: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  greeting: hello-from-a-configmap
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - name: httpd
    image: busybox
    command: ["sh", "-c", "echo serving as $(hostname); exec httpd -f -v -p 8080 -h /www"]
    ports:
    - {name: http, containerPort: 8080}
    readinessProbe:
      httpGet: {path: /index.html, port: http}
      periodSeconds: 1
    volumeMounts:
    - {name: conf, mountPath: /conf}
  volumes:
  - name: conf
    configMap: {name: settings}
---
apiVersion: v1
kind: Pod
metadata:
  name: once
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    env:
    - name: GREETING
      valueFrom: {configMapKeyRef: {name: settings, key: greeting}}
    - name: MY_POD
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    command: ["sh", "-c", "echo $GREETING from $(MY_POD); cat /etc/resolv.conf; echo bye >&2; exit 3"]
---
apiVersion: v1
kind: Pod
metadata:
  name: probed
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "touch /tmp/healthy; sleep 2; rm /tmp/healthy; exec sleep 1000"]
    livenessProbe:
      exec: {command: ["cat", "/tmp/healthy"]}
      periodSeconds: 1
      failureThreshold: 1
    readinessProbe:
      tcpSocket: {port: 9999}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: crasher
spec:
  restartPolicy: Always
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo attempt; exit 1"]
"#;

#[test]
fn pods_run_in_containers_report_status_serve_logs_and_survive_an_agent_restart() {
    let mut host = Host::new("cag");
    let kubeconfig = host.start();
    let k = host.kubectl(&kubeconfig, "1.33");

    // The agent registered its node, Ready, with the pod range it was given.
    wait_until("node-1 Ready", POD_LIMIT, POLL, || {
        let r = k.run(&[
            "get",
            "node",
            "node-1",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ]);
        r.ok && r.stdout == "True"
    });
    assert_eq!(
        k.ok(&["get", "node", "node-1", "-o", "jsonpath={.spec.podCIDR}"]),
        "10.244.0.0/24"
    );

    let layout = busybox_layout(host.dir.path());
    let root = host.data().join("agent");
    let root = root.to_str().expect("utf-8");
    let imported = host.clipper(&[
        "image",
        "import",
        layout.to_str().expect("utf-8"),
        "--root",
        root,
    ]);
    assert!(
        imported.contains("docker.io/library/busybox:latest"),
        "{imported}"
    );
    let listed = host.clipper(&["image", "ls", "--root", root]);
    assert!(
        listed.contains("docker.io/library/busybox:latest"),
        "{listed}"
    );

    k.ok_stdin(&["apply", "-f", "-"], PODS);

    // A long-running pod: Running, an address from the node's range, ready.
    wait_phase(&k, "web", "Running");
    let web_ip = jsonpath(&k, "web", "{.status.podIP}");
    assert!(web_ip.starts_with("10.244.0."), "pod IP {web_ip:?}");
    assert_eq!(
        jsonpath(
            &k,
            "web",
            "{.status.conditions[?(@.type==\"Ready\")].status}"
        ),
        "True"
    );
    assert_eq!(
        jsonpath(&k, "web", "{.status.containerStatuses[0].containerID}")
            .split("://")
            .next(),
        Some("runc")
    );

    // Another pod reaches it over the pod network, and through a Service in front of it
    // (the EndpointSlice controller names the ready pod; the service proxy serves it by
    // ClusterIP and the cluster DNS by name), and resolves the API server's Service.
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: websvc\nspec:\n  selector: {app: web}\n  ports:\n  - {name: http, port: 80, targetPort: http}\n",
    );
    wait_until("websvc's EndpointSlice names web", POD_LIMIT, POLL, || {
        k.run(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=websvc",
            "-o",
            "jsonpath={.items[*].endpoints[*].addresses[0]}",
        ])
        .stdout
            == web_ip
    });
    let svc_ip = k.ok(&["get", "svc", "websvc", "-o", "jsonpath={.spec.clusterIP}"]);
    let script = format!(
        "wget -qO- http://{web_ip}:8080/ && nslookup kubernetes.default.svc.cluster.local && nslookup websvc.default.svc.cluster.local && echo via-cluster-ip: $(wget -qO- http://{svc_ip}/) && echo via-dns: $(wget -qO- http://websvc.default.svc.cluster.local/)"
    );
    k.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: client\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n    command: [\"sh\", \"-c\", {script:?}]\n"
        ),
    );
    wait_phase(&k, "client", "Succeeded");
    let client_logs = k.ok(&["logs", "client"]);
    assert!(
        client_logs.contains("hello from a pod"),
        "pod-to-pod HTTP: {client_logs}"
    );
    assert!(
        client_logs.contains(&format!("Address: {svc_ip}"))
            && client_logs.contains("via-cluster-ip: hello from a pod")
            && client_logs.contains("via-dns: hello from a pod"),
        "a pod reaches a Service by its ClusterIP and its DNS name: {client_logs}"
    );
    let api_ip = k.ok(&[
        "get",
        "svc",
        "kubernetes",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    assert!(
        client_logs.contains(&api_ip),
        "the cluster DNS answers kubernetes.default with {api_ip}: {client_logs}"
    );

    // A pod that fails once, with restartPolicy Never: Failed, exit code 3, its output in
    // the log; its environment came from a ConfigMap and the downward API, and its
    // resolv.conf points at the cluster DNS.
    wait_phase(&k, "once", "Failed");
    assert_eq!(
        jsonpath(
            &k,
            "once",
            "{.status.containerStatuses[0].state.terminated.exitCode}"
        ),
        "3"
    );
    let logs = k.ok(&["logs", "once"]);
    assert!(
        logs.contains("hello-from-a-configmap from once"),
        "env from a ConfigMap and fieldRef: {logs}"
    );
    assert!(logs.contains("bye"), "stderr is in the log: {logs}");
    assert!(logs.contains("nameserver 10.96.0.10"), "{logs}");
    assert!(logs.contains("search default.svc.cluster.local"), "{logs}");

    // A crashing container restarts, then backs off.
    wait_until("crasher restarted", POD_LIMIT, POLL, || {
        jsonpath(&k, "crasher", "{.status.containerStatuses[0].restartCount}")
            .parse::<u32>()
            .is_ok_and(|n| n >= 1)
    });
    wait_until("crasher backing off", POD_LIMIT, POLL, || {
        jsonpath(
            &k,
            "crasher",
            "{.status.containerStatuses[0].state.waiting.reason}",
        ) == "CrashLoopBackOff"
    });
    let previous = k.ok(&["logs", "crasher", "--previous"]);
    assert_eq!(previous.trim(), "attempt");

    // Probes: a failing liveness probe restarts the container; a readiness probe on a
    // closed port keeps the pod not ready while it runs.
    wait_until(
        "probed restarted by its liveness probe",
        POD_LIMIT,
        POLL,
        || {
            jsonpath(&k, "probed", "{.status.containerStatuses[0].restartCount}")
                .parse::<u32>()
                .is_ok_and(|n| n >= 1)
        },
    );
    assert_eq!(
        jsonpath(&k, "probed", "{.status.containerStatuses[0].ready}"),
        "false"
    );
    let events = k.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=probed",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(
        events.contains("Liveness probe failed") && events.contains("Readiness probe failed"),
        "{events}"
    );

    // The web pod's log, and the container id to compare after the restart.
    let web_logs = k.ok(&["logs", "web"]);
    assert!(web_logs.contains("serving as web"), "{web_logs}");
    let web_container = jsonpath(&k, "web", "{.status.containerStatuses[0].containerID}");

    // Restarting clipper up keeps the running container: same id, no restart.
    host.stop();
    let kubeconfig = host.start();
    let k = host.kubectl(&kubeconfig, "1.33");
    wait_phase(&k, "web", "Running");
    assert_eq!(
        jsonpath(&k, "web", "{.status.containerStatuses[0].containerID}"),
        web_container,
        "the restarted agent adopts the container"
    );
    assert_eq!(
        jsonpath(&k, "web", "{.status.containerStatuses[0].restartCount}"),
        "0"
    );

    // Deleting stops the containers within the grace period and removes the pod; its
    // network namespace goes.
    k.ok(&[
        "delete",
        "pod",
        "web",
        "once",
        "client",
        "crasher",
        "probed",
        "--wait=true",
        "--timeout=60s",
    ]);
    let left = k.ok(&["get", "pods", "-o", "name"]);
    assert!(left.trim().is_empty(), "every pod is gone: {left}");
    let runc_root = host.data().join("agent").join("runc");
    let containers = sh(&format!(
        "runc --root {} list -q 2>/dev/null || true",
        runc_root.display()
    ));
    assert!(
        containers.trim().is_empty(),
        "no container left: {containers}"
    );
    host.stop();
}
