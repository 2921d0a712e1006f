//! Stock kubectl, the oldest and the newest supported release (1.27 and 1.33), against a
//! real `clipper up`: discovery, explain, the whole object life cycle of every kind,
//! watches, output formats, server-side apply, custom resources and RBAC. Each version gets
//! its own cluster, so the two run side by side. Every step asserts what the server did,
//! not only kubectl's exit code.

mod common;

use common::{Cluster, Kubectl, expect_line, rows};
use serde_json::Value;
use std::time::Duration;

const KINDS: &str = include_str!("e2e/kinds.yaml");
const WAIT: Duration = Duration::from_secs(30);

/// (kubectl resource, name, namespaced, jsonpath, expected value) for every object of
/// tests/e2e/kinds.yaml: the value shows the server stored and serves what was sent.
const OBJECTS: &[(&str, &str, bool, &str, &str)] = &[
    ("configmap", "settings", true, "{.data.mode}", "prod"),
    // stringData is folded into data, base64, on write.
    ("secret", "creds", true, "{.data.password}", "aHVudGVyMg=="),
    (
        "serviceaccount",
        "builder",
        true,
        "{.metadata.name}",
        "builder",
    ),
    ("service", "web", true, "{.spec.type}", "ClusterIP"),
    (
        "service",
        "web-np",
        true,
        "{.spec.ports[0].protocol}",
        "TCP",
    ),
    ("service", "web-headless", true, "{.spec.clusterIP}", "None"),
    ("pod", "solo", true, "{.status.phase}", "Pending"),
    (
        "persistentvolume",
        "e2e-pv",
        false,
        "{.spec.persistentVolumeReclaimPolicy}",
        "Retain",
    ),
    (
        "persistentvolumeclaim",
        "data",
        true,
        "{.spec.volumeMode}",
        "Filesystem",
    ),
    (
        "limitrange",
        "limits",
        true,
        "{.spec.limits[0].default.cpu}",
        "500m",
    ),
    ("resourcequota", "quota", true, "{.spec.hard.pods}", "50"),
    (
        "deployment",
        "web",
        true,
        "{.spec.strategy.type}",
        "RollingUpdate",
    ),
    (
        "statefulset",
        "db",
        true,
        "{.spec.podManagementPolicy}",
        "OrderedReady",
    ),
    (
        "daemonset",
        "agent",
        true,
        "{.spec.updateStrategy.type}",
        "RollingUpdate",
    ),
    ("replicaset", "cache", true, "{.spec.replicas}", "1"),
    ("job", "migrate", true, "{.spec.backoffLimit}", "2"),
    (
        "cronjob",
        "nightly",
        true,
        "{.spec.concurrencyPolicy}",
        "Allow",
    ),
    (
        "ingress",
        "web",
        true,
        "{.spec.rules[0].host}",
        "web.example.com",
    ),
    (
        "networkpolicy",
        "deny-all",
        true,
        "{.spec.policyTypes[0]}",
        "Ingress",
    ),
    (
        "ingressclass",
        "e2e-nginx",
        false,
        "{.spec.controller}",
        "example.com/ingress",
    ),
    (
        "endpointslice",
        "web-manual",
        true,
        "{.endpoints[0].addresses[0]}",
        "10.1.2.3",
    ),
    ("lease", "leader", true, "{.spec.holderIdentity}", "one"),
    (
        "role",
        "reader",
        true,
        "{.rules[0].resources[0]}",
        "configmaps",
    ),
    (
        "rolebinding",
        "reader",
        true,
        "{.subjects[0].name}",
        "builder",
    ),
    (
        "clusterrole",
        "e2e-node-reader",
        false,
        "{.rules[0].verbs[2]}",
        "watch",
    ),
    (
        "clusterrolebinding",
        "e2e-node-reader",
        false,
        "{.roleRef.name}",
        "e2e-node-reader",
    ),
    (
        "horizontalpodautoscaler.v2.autoscaling",
        "web",
        true,
        "{.spec.maxReplicas}",
        "10",
    ),
    (
        "poddisruptionbudget",
        "web",
        true,
        "{.spec.minAvailable}",
        "1",
    ),
    (
        "events.v1.events.k8s.io",
        "hello.1",
        true,
        "{.reason}",
        "Hello",
    ),
    (
        "storageclass",
        "e2e-local",
        false,
        "{.reclaimPolicy}",
        "Delete",
    ),
    ("priorityclass", "e2e-high", false, "{.value}", "1000"),
    ("runtimeclass", "e2e-crun", false, "{.handler}", "crun"),
];

fn ns_args(namespaced: bool) -> Vec<&'static str> {
    if namespaced {
        vec!["-n", "e2e"]
    } else {
        vec![]
    }
}

#[test]
fn kubectl_1_27() {
    scenarios("1.27");
}

#[test]
fn kubectl_1_33() {
    scenarios("1.33");
}

fn scenarios(version: &str) {
    let cluster = Cluster::start();
    let k = cluster.kubectl(version);
    discovery_and_explain(&k);
    every_kind_life_cycle(&k);
    imperative_create_edit_patch(&k, &cluster);
    watch(&k);
    output_formats(&k);
    server_side_apply(&k);
    custom_resources(&k);
    rbac_denial(&k, &cluster, version);
    cluster.stop();
}

fn discovery_and_explain(k: &Kubectl) {
    let table = k.ok(&["api-resources"]);
    let table = rows(&table);
    let find = |name: &str| {
        table
            .iter()
            .find(|r| r.first().map(String::as_str) == Some(name))
            .unwrap_or_else(|| panic!("api-resources lists {name}: {table:?}"))
            .clone()
    };
    assert_eq!(
        find("deployments"),
        ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    );
    assert_eq!(
        find("nodes"),
        ["nodes", "no", "v1", "false", "Node"],
        "cluster-scoped with its short name"
    );
    assert_eq!(
        find("cronjobs"),
        ["cronjobs", "cj", "batch/v1", "true", "CronJob"]
    );
    let names = k.ok(&["api-resources", "--api-group=apps", "-o", "name"]);
    for r in [
        "deployments.apps",
        "statefulsets.apps",
        "daemonsets.apps",
        "replicasets.apps",
    ] {
        assert!(names.lines().any(|l| l == r), "{r} in {names}");
    }
    let versions = k.ok(&["api-versions"]);
    for gv in ["v1", "apps/v1", "batch/v1", "rbac.authorization.k8s.io/v1"] {
        assert!(versions.lines().any(|l| l == gv), "{gv} in {versions}");
    }

    let explained = k.ok(&["explain", "deployment.spec.replicas"]);
    assert!(
        explained.contains("replicas") && explained.contains("<integer>"),
        "explain shows the field and its type: {explained}"
    );
    assert!(
        explained.contains("Number of desired pods"),
        "explain shows the schema's description: {explained}"
    );
    let recursive = k.ok(&["explain", "pod.spec.containers", "--recursive"]);
    assert!(
        recursive.contains("livenessProbe") && recursive.contains("initialDelaySeconds"),
        "recursive explain walks nested types: {recursive}"
    );
}

fn every_kind_life_cycle(k: &Kubectl) {
    k.ok(&["create", "namespace", "e2e"]);
    let applied = k.ok_stdin(&["apply", "-f", "-"], KINDS);
    let created = applied.lines().filter(|l| l.ends_with(" created")).count();
    assert_eq!(
        created,
        OBJECTS.len(),
        "every object of the manifest is created: {applied}"
    );
    // Applying the same manifest again writes nothing: every resourceVersion stays.
    // (kubectl still sends a patch for a Secret written with stringData, a StatefulSet's
    // defaulted volumeClaimTemplates and a PDB's replace-strategy selector, and says
    // "configured", as it does against Kubernetes; the server finds nothing to change.)
    let versions = |k: &Kubectl| -> Vec<String> {
        OBJECTS
            .iter()
            .map(|(resource, name, namespaced, _, _)| {
                let mut args = vec![
                    "get",
                    resource,
                    name,
                    "-o",
                    "jsonpath={.metadata.resourceVersion}",
                ];
                args.extend(ns_args(*namespaced));
                k.ok(&args)
            })
            .collect()
    };
    let before = versions(k);
    let again = k.ok_stdin(&["apply", "-f", "-"], KINDS);
    assert_eq!(
        again.lines().filter(|l| l.ends_with(" unchanged")).count(),
        OBJECTS.len() - 3,
        "{again}"
    );
    assert_eq!(before, versions(k), "a second apply is a no-op");

    for (resource, name, namespaced, path, want) in OBJECTS {
        let mut args = vec!["get", resource, name];
        args.extend(ns_args(*namespaced));
        let jsonpath = format!("jsonpath={path}");
        args.extend(["-o", &jsonpath]);
        assert_eq!(k.ok(&args), *want, "{resource}/{name} {path}");

        let mut label = vec!["label", resource, name, "e2e-step=labelled"];
        label.extend(ns_args(*namespaced));
        assert!(k.ok(&label).contains("labeled"), "label {resource}/{name}");
        let mut annotate = vec!["annotate", resource, name, "e2e.clipper.dev/note=hello"];
        annotate.extend(ns_args(*namespaced));
        k.ok(&annotate);
        let mut check = vec!["get", resource, name];
        check.extend(ns_args(*namespaced));
        let obj = k.json(&check);
        assert_eq!(
            obj["metadata"]["labels"]["e2e-step"], "labelled",
            "{resource}/{name}"
        );
        assert_eq!(
            obj["metadata"]["annotations"]["e2e.clipper.dev/note"], "hello",
            "{resource}/{name}"
        );
        let mut selected = vec!["get", resource, "-l", "e2e-step=labelled", "-o", "name"];
        selected.extend(ns_args(*namespaced));
        let out = k.ok(&selected);
        assert!(
            out.lines().any(|l| l.ends_with(&format!("/{name}"))),
            "label selector finds {resource}/{name}: {out}"
        );
        let mut unlabel = vec!["label", resource, name, "e2e-step-"];
        unlabel.extend(ns_args(*namespaced));
        k.ok(&unlabel);
        let obj = k.json(&check);
        assert!(
            obj["metadata"]["labels"].get("e2e-step").is_none(),
            "label removed from {resource}/{name}"
        );
    }

    let described = k.ok(&["describe", "deployment", "web", "-n", "e2e"]);
    for want in ["Name:", "web", "Replicas:", "nginx:1.27", "RollingUpdate"] {
        assert!(
            described.contains(want),
            "describe shows {want}: {described}"
        );
    }
    let described = k.ok(&["describe", "service", "web", "-n", "e2e"]);
    assert!(
        described.contains("TargetPort:") && described.contains("8080/TCP"),
        "{described}"
    );
    let described = k.ok(&["describe", "pod", "solo", "-n", "e2e"]);
    assert!(
        described.contains("busybox") && described.contains("Pending"),
        "{described}"
    );
    // The allocator gave the NodePort service a port in the default range.
    let port: u16 = k
        .ok(&[
            "get",
            "svc",
            "web-np",
            "-n",
            "e2e",
            "-o",
            "jsonpath={.spec.ports[0].nodePort}",
        ])
        .parse()
        .expect("a node port");
    assert!((30000..=32767).contains(&port), "node port {port}");

    let deleted = k.ok_stdin(&["delete", "-f", "-", "--wait=false"], KINDS);
    assert_eq!(
        deleted.lines().filter(|l| l.ends_with(" deleted")).count(),
        OBJECTS.len(),
        "{deleted}"
    );
    for (resource, name, namespaced, _, _) in OBJECTS {
        let mut args = vec!["get", resource, name];
        args.extend(ns_args(*namespaced));
        let err = k.fails(&args);
        assert!(
            err.contains("(NotFound)"),
            "{resource}/{name} is gone: {err}"
        );
    }
}

fn imperative_create_edit_patch(k: &Kubectl, cluster: &Cluster) {
    // kubectl 1.32+ sends these typed writes as protobuf.
    k.ok(&["create", "namespace", "imp"]);
    k.ok(&[
        "create",
        "configmap",
        "app",
        "-n",
        "imp",
        "--from-literal=mode=prod",
        "--from-literal=level=3",
    ]);
    k.ok(&[
        "create",
        "secret",
        "generic",
        "db",
        "-n",
        "imp",
        "--from-literal=user=admin",
    ]);
    k.ok(&[
        "create",
        "deployment",
        "api",
        "-n",
        "imp",
        "--image=nginx:1.27",
        "--replicas=2",
        "--port=80",
    ]);
    k.ok(&[
        "create",
        "service",
        "clusterip",
        "api",
        "-n",
        "imp",
        "--tcp=80:8080",
    ]);
    k.ok(&[
        "create",
        "job",
        "once",
        "-n",
        "imp",
        "--image=busybox",
        "--",
        "true",
    ]);
    assert_eq!(
        k.ok(&[
            "get",
            "cm",
            "app",
            "-n",
            "imp",
            "-o",
            "jsonpath={.data.level}"
        ]),
        "3"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "secret",
            "db",
            "-n",
            "imp",
            "-o",
            "jsonpath={.data.user}"
        ]),
        "YWRtaW4="
    );
    let dep = k.json(&["get", "deployment", "api", "-n", "imp"]);
    assert_eq!(dep["spec"]["replicas"], 2);
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
        80
    );
    let ip = k.ok(&[
        "get",
        "svc",
        "api",
        "-n",
        "imp",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    let ip: std::net::Ipv4Addr = ip.parse().expect("an IPv4 ClusterIP");
    let [a, b, _, _] = ip.octets();
    assert!(
        a == 10 && (96..112).contains(&b),
        "a ClusterIP from the default 10.96.0.0/12: {ip}"
    );

    // Strategic merge patch merges containers by name instead of replacing the list.
    k.ok(&[
        "patch",
        "deployment",
        "api",
        "-n",
        "imp",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox"}]}}}}"#,
    ]);
    let dep = k.json(&["get", "deployment", "api", "-n", "imp"]);
    let names: Vec<&str> = dep["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let mut names = names;
    names.sort();
    // kubectl create deployment names the container after its image.
    assert_eq!(names, ["nginx", "sidecar"], "strategic merge by name");
    // Merge patch and JSON patch.
    k.ok(&[
        "patch",
        "cm",
        "app",
        "-n",
        "imp",
        "--type=merge",
        "-p",
        r#"{"data":{"level":null,"extra":"x"}}"#,
    ]);
    k.ok(&[
        "patch",
        "cm",
        "app",
        "-n",
        "imp",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/data/mode","value":"dev"}]"#,
    ]);
    let cm = k.json(&["get", "cm", "app", "-n", "imp"]);
    assert_eq!(cm["data"], serde_json::json!({"mode": "dev", "extra": "x"}));
    // A JSON patch whose test fails is refused and changes nothing.
    let err = k.fails(&[
        "patch",
        "cm",
        "app",
        "-n",
        "imp",
        "--type=json",
        "-p",
        r#"[{"op":"test","path":"/data/mode","value":"prod"}]"#,
    ]);
    assert!(err.contains("test"), "{err}");

    // kubectl edit with an editor that changes the replica count.
    let editor = cluster.dir.path().join("edit.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/replicas: 2/replicas: 5/' \"$1\"\n",
    )
    .expect("write editor");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod editor");
    let r = k.run_with(
        &["edit", "deployment", "api", "-n", "imp"],
        None,
        &[("KUBE_EDITOR", editor.to_str().expect("utf-8 path"))],
    );
    assert!(r.ok, "kubectl edit: {}{}", r.stderr, r.stdout);
    assert!(r.stdout.contains("edited"), "{}", r.stdout);
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "api",
            "-n",
            "imp",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "5"
    );
    // scale goes through the scale subresource.
    k.ok(&["scale", "deployment", "api", "-n", "imp", "--replicas=3"]);
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "api",
            "-n",
            "imp",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "3"
    );
    // A stale update is refused with a conflict.
    let mut stale = k.json(&["get", "cm", "app", "-n", "imp"]);
    k.ok(&["label", "cm", "app", "-n", "imp", "bump=1"]);
    stale["data"]["mode"] = Value::from("stale");
    let r = k.run_with(&["replace", "-f", "-"], Some(&stale.to_string()), &[]);
    assert!(!r.ok && r.stderr.contains("Conflict"), "{}", r.stderr);

    // Deleting the namespace removes what is in it.
    k.ok(&["delete", "namespace", "imp", "--timeout=60s"]);
    let err = k.fails(&["get", "namespace", "imp"]);
    assert!(err.contains("(NotFound)"), "{err}");
    let err = k.fails(&["get", "cm", "app", "-n", "imp"]);
    assert!(err.contains("(NotFound)"), "{err}");
}

fn watch(k: &Kubectl) {
    k.ok(&["create", "namespace", "watched"]);
    let (_guard, lines) = k.spawn_lines(&[
        "get",
        "configmaps",
        "-n",
        "watched",
        "-w",
        "--output-watch-events",
    ]);
    // Whether the create lands before kubectl's initial list or after it, it shows as
    // ADDED: listed items are printed as ADDED with --output-watch-events.
    k.ok(&[
        "create",
        "configmap",
        "seen",
        "-n",
        "watched",
        "--from-literal=mode=one",
    ]);
    expect_line(&lines, WAIT, "ADDED seen", |l| {
        l.split_whitespace().take(3).eq(["ADDED", "seen", "1"])
    });
    k.ok(&[
        "patch",
        "cm",
        "seen",
        "-n",
        "watched",
        "-p",
        r#"{"data":{"level":"two"}}"#,
    ]);
    expect_line(&lines, WAIT, "MODIFIED seen", |l| {
        l.split_whitespace().take(3).eq(["MODIFIED", "seen", "2"])
    });
    k.ok(&["delete", "cm", "seen", "-n", "watched"]);
    expect_line(&lines, WAIT, "DELETED seen", |l| {
        l.split_whitespace().take(2).eq(["DELETED", "seen"])
    });
}

fn output_formats(k: &Kubectl) {
    k.ok(&["create", "namespace", "fmt"]);
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p1\n  namespace: fmt\n  labels: {tier: front}\nspec:\n  containers:\n  - name: c\n    image: busybox\n",
    );
    let wide = rows(&k.ok(&["get", "pods", "-n", "fmt", "-o", "wide"]));
    assert_eq!(
        wide[0][..6],
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP"],
        "{wide:?}"
    );
    assert!(wide[0].contains(&"NODE".to_string()), "{wide:?}");
    assert_eq!(wide[1][..4], ["p1", "0/1", "Pending", "0"], "{wide:?}");
    let all = rows(&k.ok(&["get", "pods", "-A", "--show-labels"]));
    assert_eq!(all[0][0], "NAMESPACE");
    assert!(
        all.iter().any(|r| r[0] == "fmt"
            && r[1] == "p1"
            && r.last().map(String::as_str) == Some("tier=front")),
        "{all:?}"
    );
    let yaml = k.ok(&["get", "pod", "p1", "-n", "fmt", "-o", "yaml"]);
    assert!(
        yaml.contains("kind: Pod") && yaml.contains("uid: "),
        "{yaml}"
    );
    let json = k.json(&["get", "pod", "p1", "-n", "fmt"]);
    assert_eq!(json["spec"]["containers"][0]["image"], "busybox");
    assert_eq!(json["spec"]["restartPolicy"], "Always", "defaults applied");
    assert_eq!(
        k.ok(&["get", "pods", "-n", "fmt", "-o", "name"]).trim(),
        "pod/p1"
    );
    let path = k.ok(&[
        "get",
        "pods",
        "-n",
        "fmt",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}:{.spec.containers[0].name}{end}",
    ]);
    assert_eq!(path, "p1:c");
    let by_field = k.ok(&[
        "get",
        "pods",
        "-A",
        "--field-selector=status.phase=Pending,metadata.namespace=fmt",
        "-o",
        "name",
    ]);
    assert_eq!(by_field.trim(), "pod/p1");
    let sorted = k.ok(&[
        "get",
        "ns",
        "--sort-by=.metadata.name",
        "-o",
        "custom-columns=N:.metadata.name",
        "--no-headers",
    ]);
    let names: Vec<&str> = sorted.lines().collect();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(names, expected);
    let all = k.ok(&["get", "all", "-n", "e2e"]);
    assert!(!all.contains("error"), "{all}");
}

fn server_side_apply(k: &Kubectl) {
    k.ok(&["create", "namespace", "ssa"]);
    let first = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: ssa\ndata:\n  owner: alice\n";
    let out = k.ok_stdin(&["apply", "--server-side", "-f", "-"], first);
    assert!(out.contains("serverside-applied"), "{out}");
    let second = first.replace("alice", "bob");
    let r = k.run_with(
        &["apply", "--server-side", "--field-manager=bob", "-f", "-"],
        Some(&second),
        &[],
    );
    assert!(!r.ok, "a conflicting apply fails");
    assert!(
        r.stderr.contains("conflict") && r.stderr.contains(".data.owner"),
        "the conflict names the field: {}",
        r.stderr
    );
    k.ok_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager=bob",
            "--force-conflicts",
            "-f",
            "-",
        ],
        &second,
    );
    let cm = k.json(&["get", "cm", "shared", "-n", "ssa", "--show-managed-fields"]);
    assert_eq!(cm["data"]["owner"], "bob");
    let managers: Vec<&str> = cm["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(managers.contains(&"bob"), "{managers:?}");

    // A plain write (an Update operation) takes the fields it changes away from their
    // appliers: a later apply of another value conflicts with the writer, and the
    // former owner no longer lists the field.
    k.ok(&[
        "patch",
        "cm",
        "shared",
        "-n",
        "ssa",
        "--type=merge",
        "-p",
        r#"{"data":{"owner":"carol"}}"#,
    ]);
    let cm = k.json(&["get", "cm", "shared", "-n", "ssa", "--show-managed-fields"]);
    let fields_of = |cm: &serde_json::Value, manager: &str| {
        cm["metadata"]["managedFields"]
            .as_array()
            .expect("managedFields")
            .iter()
            .find(|m| m["manager"] == manager)
            .map(|m| m["fieldsV1"].clone())
    };
    assert_eq!(
        fields_of(&cm, "kubectl-patch"),
        Some(serde_json::json!({"f:data": {"f:owner": {}}})),
        "{cm}"
    );
    assert_eq!(
        fields_of(&cm, "bob"),
        None,
        "bob owned only .data.owner: {cm}"
    );
    let r = k.run_with(
        &["apply", "--server-side", "--field-manager=bob", "-f", "-"],
        Some(&second),
        &[],
    );
    assert!(
        !r.ok && r.stderr.contains(r#"conflict with "kubectl-patch""#),
        "the conflict names the writer: {}",
        r.stderr
    );
}

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.e2e.clipper.dev
spec:
  group: e2e.clipper.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    additionalPrinterColumns:
    - {name: Size, type: string, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: string, enum: [small, large], description: How big the widget is.}
              replicas: {type: integer, minimum: 0, default: 1}
          status:
            type: object
            properties:
              replicas: {type: integer}
"#;

fn custom_resources(k: &Kubectl) {
    k.ok_stdin(&["apply", "-f", "-"], CRD);
    k.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.e2e.clipper.dev",
        "--timeout=30s",
    ]);
    k.ok(&["create", "namespace", "cr"]);
    let cr = "apiVersion: e2e.clipper.dev/v1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: cr\nspec:\n  size: small\n";
    let out = k.ok_stdin(&["apply", "-f", "-"], cr);
    assert!(out.contains("widget.e2e.clipper.dev/w1 created"), "{out}");
    let table = rows(&k.ok(&["get", "wd", "-n", "cr"]));
    // Only the declared columns: Kubernetes adds AGE only when none are declared.
    assert_eq!(table[0], ["NAME", "SIZE"], "printer columns");
    assert_eq!(table[1][..2], ["w1", "small"]);
    let w = k.json(&["get", "widget", "w1", "-n", "cr"]);
    assert_eq!(w["spec"]["replicas"], 1, "the schema's default applied");
    // Validation against the CRD's schema.
    let bad = cr.replace("small", "huge");
    let r = k.run_with(&["apply", "-f", "-", "--validate=false"], Some(&bad), &[]);
    assert!(!r.ok, "an invalid custom resource is refused");
    assert!(
        r.stderr.contains("spec.size") && r.stderr.contains("Unsupported value"),
        "{}",
        r.stderr
    );
    k.ok(&["scale", "widget", "w1", "-n", "cr", "--replicas=4"]);
    assert_eq!(
        k.ok(&[
            "get",
            "widget",
            "w1",
            "-n",
            "cr",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "4"
    );
    let explained = k.ok(&["explain", "widget.spec.size"]);
    assert!(explained.contains("How big the widget is."), "{explained}");
    // Server-side apply on a custom resource.
    let ssa = cr.replace("small", "large");
    k.ok_stdin(&["apply", "--server-side", "-f", "-"], &ssa);
    assert_eq!(
        k.ok(&["get", "wd", "w1", "-n", "cr", "-o", "jsonpath={.spec.size}"]),
        "large"
    );
    k.ok(&["delete", "widget", "w1", "-n", "cr"]);
    k.ok(&["delete", "crd", "widgets.e2e.clipper.dev"]);
    let r = k.run(&["get", "widgets", "-n", "cr"]);
    assert!(!r.ok, "the resource is no longer served: {}", r.stdout);
}

fn rbac_denial(k: &Kubectl, cluster: &Cluster, version: &str) {
    k.ok(&["create", "namespace", "team"]);
    k.ok(&["create", "serviceaccount", "jane", "-n", "team"]);
    let token = k.ok(&["create", "token", "jane", "-n", "team"]);
    let token = token.trim();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");

    let jane_config = cluster.dir.path().join("jane.kubeconfig");
    std::fs::copy(&k.kubeconfig, &jane_config).expect("copy kubeconfig");
    let jane = k.with_kubeconfig(&jane_config);
    let cluster_name = k.ok(&["config", "view", "-o", "jsonpath={.clusters[0].name}"]);
    jane.ok(&[
        "config",
        "set-credentials",
        "jane",
        &format!("--token={token}"),
    ]);
    jane.ok(&[
        "config",
        "set-context",
        "jane",
        &format!("--cluster={cluster_name}"),
        "--user=jane",
        "--namespace=team",
    ]);
    jane.ok(&["config", "use-context", "jane"]);

    // kubectl 1.27 asks for SelfSubjectReview in authentication.k8s.io/v1beta1, which
    // Clipper does not serve (v1 only, as Kubernetes 1.33); 1.28+ use v1.
    if version != "1.27" {
        let who = jane.ok(&[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ]);
        assert_eq!(who, "system:serviceaccount:team:jane");
    }
    let err = jane.fails(&["get", "pods"]);
    assert!(
        err.contains("Forbidden")
            && err.contains(
                "User \"system:serviceaccount:team:jane\" cannot list resource \"pods\" in API group \"\" in the namespace \"team\""
            ),
        "{err}"
    );
    let r = jane.run(&["auth", "can-i", "list", "pods"]);
    assert_eq!((r.code, r.stdout.trim()), (Some(1), "no"));

    k.ok(&[
        "create",
        "role",
        "pod-reader",
        "-n",
        "team",
        "--verb=get,list,watch",
        "--resource=pods",
    ]);
    k.ok(&[
        "create",
        "rolebinding",
        "jane-reads",
        "-n",
        "team",
        "--role=pod-reader",
        "--serviceaccount=team:jane",
    ]);
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: visible\n  namespace: team\nspec:\n  containers: [{name: c, image: busybox}]\n",
    );
    assert_eq!(
        jane.ok(&["get", "pods", "-o", "name"]).trim(),
        "pod/visible"
    );
    let r = jane.run(&["auth", "can-i", "list", "pods"]);
    assert_eq!((r.code, r.stdout.trim()), (Some(0), "yes"));
    let err = jane.fails(&["delete", "pod", "visible"]);
    assert!(err.contains("cannot delete resource \"pods\""), "{err}");
    let err = jane.fails(&["get", "pods", "-n", "default"]);
    assert!(err.contains("in the namespace \"default\""), "{err}");
    let err = jane.fails(&["get", "secrets"]);
    assert!(err.contains("cannot list resource \"secrets\""), "{err}");
    // The admin may ask on jane's behalf.
    let r = k.run(&[
        "auth",
        "can-i",
        "delete",
        "pods",
        "-n",
        "team",
        "--as=system:serviceaccount:team:jane",
    ]);
    assert_eq!(r.stdout.trim(), "no", "{}", r.stderr);
    // A token that is not valid is rejected with 401.
    let bogus = cluster.dir.path().join("bogus.kubeconfig");
    std::fs::copy(&jane_config, &bogus).expect("copy kubeconfig");
    let bogus_k = k.with_kubeconfig(&bogus);
    bogus_k.ok(&["config", "set-credentials", "jane", "--token=not-a-token"]);
    let err = bogus_k.fails(&["get", "pods"]);
    assert!(err.contains("Unauthorized"), "{err}");
}
