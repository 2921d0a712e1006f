//! More kubectl verbs of `clipper` against a real `clipper up`, checked against stock
//! kubectl on the same cluster: `explain` (byte for byte with kubectl 1.33), `config`
//! (the same output and the same files written), `rollout restart`, `edit` (driven by
//! editor scripts, as a user's editor would save) and `drain`.

mod common;

use std::path::{Path, PathBuf};

use common::{Cluster, Kubectl, Run};

/// `clipper` with `kubeconfig` in $KUBECONFIG and a home of its own.
fn clipper(kubeconfig: &Path, home: PathBuf) -> Kubectl {
    Kubectl::new(
        PathBuf::from(env!("CARGO_BIN_EXE_clipper")),
        kubeconfig.to_path_buf(),
        home,
    )
}

fn pair(cluster: &Cluster) -> (Kubectl, Kubectl) {
    (
        clipper(&cluster.kubeconfig, cluster.dir.path().join("home-clipper")),
        cluster.kubectl("1.33"),
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

/// Lines sorted (for output whose order kubectl does not fix: its goroutines and maps),
/// and the groups of drain's warning line and error aggregates sorted within.
fn sorted_lines(s: &str) -> Vec<String> {
    let mut l: Vec<String> = s.lines().map(sort_aggregate).collect();
    l.sort();
    l
}

fn sort_aggregate(line: &str) -> String {
    if let Some(rest) = line.strip_prefix("Warning: ") {
        let mut groups: Vec<&str> = rest.split("; ").collect();
        groups.sort();
        return format!("Warning: {}", groups.join("; "));
    }
    let (Some(open), Some(close)) = (line.find("error: ["), line.rfind("], continuing")) else {
        return line.to_string();
    };
    let inner = format!(", {}", &line[open + "error: [".len()..close]);
    let mut parts: Vec<&str> = inner
        .split(", cannot delete ")
        .filter(|p| !p.is_empty())
        .collect();
    parts.sort();
    format!(
        "{}cannot delete {}{}",
        &line[..open + "error: [".len()],
        parts.join(", cannot delete "),
        &line[close..]
    )
}

#[test]
fn explain_matches_kubectl_byte_for_byte() {
    let cluster = Cluster::start();
    let (c, k) = pair(&cluster);
    for args in [
        &["explain", "pods"][..],
        &["explain", "pods.spec.containers"],
        &["explain", "deployments.spec", "--recursive"],
        &["explain", "svc.spec"],
        &["explain", "nodes"],
        &["explain", "cronjobs.spec.jobTemplate"],
        &["explain", "hpa.spec.metrics"],
        &["explain", "crd.spec.versions", "--recursive"],
        &["explain", "configmaps.data"],
        &["explain", "ingress.spec.rules.http.paths.backend"],
        &["explain", "pods.spec.containers.resources.limits"],
        &["explain", "deployments", "--api-version=apps/v1"],
    ] {
        let r = same_run(&c, &k, args);
        assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr);
    }
    let pods = c.ok(&["explain", "pods"]);
    assert!(pods.starts_with("KIND:       Pod\nVERSION:    v1\n\nDESCRIPTION:\n"));
    assert!(pods.contains("\n  spec\t<PodSpec>\n"), "{pods}");
    let spec = c.ok(&["explain", "deployments.spec", "--recursive"]);
    assert!(spec.starts_with(
        "GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n\nFIELD: spec <DeploymentSpec>\n"
    ));
    assert!(spec.contains("\n  selector\t<LabelSelector> -required-\n    matchExpressions\t<[]LabelSelectorRequirement>\n"));

    // Failures: a field that does not exist (after the header, as kubectl), a type the
    // server lacks, a group version it does not serve.
    for args in [
        &["explain", "pods.foo"][..],
        &["explain", "pods.spec.foo.bar"],
        &["explain", "flurbs"],
        &["explain", "hpa", "--api-version=autoscaling/v1"],
        &["explain", "deployments", "--api-version=apps/v2"],
    ] {
        let r = same_run(&c, &k, args);
        assert_eq!(r.code, Some(1), "{args:?}");
    }
    assert_eq!(
        c.run(&["explain", "pods.foo"]).stderr,
        "error: field \"foo\" does not exist\n"
    );
    cluster.stop();
}

const KUBECONFIG_A: &str = r#"apiVersion: v1
kind: Config
clusters:
- name: two
  cluster:
    server: https://example.com
    insecure-skip-tls-verify: true
- name: one
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: QUJD
users:
- name: admin
  user:
    client-certificate-data: QUJD
    client-key-data: REVG
- name: tok
  user:
    token: secret-token
contexts:
- name: ctx-one
  context:
    cluster: one
    user: admin
- name: ctx-two
  context:
    cluster: two
    user: tok
    namespace: kube-system
current-context: ctx-one
preferences: {}
"#;

const KUBECONFIG_B: &str = r#"apiVersion: v1
kind: Config
# a comment kubectl drops when it rewrites the file
clusters:
- name: three
  cluster: {server: "https://3"}
contexts:
- name: ctx-one
  context: {cluster: three, user: x}
- name: c3
  context: {cluster: three, user: x}
current-context: c3
"#;

#[test]
fn config_reads_and_writes_kubeconfigs_as_kubectl() {
    let dir = tempfile::tempdir().unwrap();
    // Each side gets its own copy of the two files (and a missing third) to write.
    let files = |side: &str| -> (PathBuf, PathBuf, PathBuf) {
        let d = dir.path().join(side);
        std::fs::create_dir_all(&d).unwrap();
        let (a, b) = (d.join("a.yaml"), d.join("b.yaml"));
        std::fs::write(&a, KUBECONFIG_A).unwrap();
        std::fs::write(&b, KUBECONFIG_B).unwrap();
        (a, b, d.join("missing.yaml"))
    };
    let (ca, cb, cm) = files("clipper");
    let (ka, kb, km) = files("kubectl");
    let list = |a: &Path, b: &Path, m: &Path| {
        PathBuf::from(format!("{}:{}:{}", a.display(), b.display(), m.display()))
    };
    let c = clipper(&list(&ca, &cb, &cm), dir.path().join("home-c"));
    let k = Kubectl::new(
        common::kubectl_binary("1.33"),
        list(&ka, &kb, &km),
        dir.path().join("home-k"),
    );
    // Reads of the merged files: the first definition and current-context win, secrets
    // redacted unless --raw.
    for args in [
        &["config", "view"][..],
        &["config", "view", "--raw"],
        &["config", "view", "--minify"],
        &["config", "view", "-o", "json"],
        &["config", "view", "--minify", "--raw", "-o", "json"],
        &["config", "view", "-o", "jsonpath={.contexts[*].name}"],
        &["config", "get-contexts"],
        &["config", "get-contexts", "ctx-two"],
        &["config", "get-contexts", "-o", "name"],
        &["config", "get-contexts", "nope"],
        &["config", "current-context"],
        &["config", "get-users"],
    ] {
        same_run(&c, &k, args);
    }
    let view = c.ok(&["config", "view"]);
    assert!(
        view.contains("certificate-authority-data: DATA+OMITTED\n"),
        "{view}"
    );
    assert!(view.contains("token: REDACTED\n"), "{view}");
    assert_eq!(
        c.ok(&["config", "get-contexts"]),
        "CURRENT   NAME      CLUSTER   AUTHINFO   NAMESPACE\n          c3        three     x          \n*         ctx-one   one       admin      \n          ctx-two   two       tok        kube-system\n"
    );
    // kubectl lists clusters in Go map order; the same names.
    assert_eq!(
        sorted_lines(&c.ok(&["config", "get-clusters"])),
        sorted_lines(&k.ok(&["config", "get-clusters"]))
    );
    // Writes: each lands in the file kubectl picks, rewritten as kubectl writes it.
    for args in [
        &["config", "use-context", "ctx-two"][..],
        &["config", "use-context", "nope"],
        &["config", "set-context", "new", "--namespace=foo"],
        &["config", "set-context", "c3", "--namespace=bar", "--user=y"],
        &["config", "set-context", "--current", "--namespace=baz"],
        &["config", "set-context"],
        &["config", "current-context"],
        &["config", "view", "--raw"],
    ] {
        same_run(&c, &k, args);
    }
    for (mine, theirs) in [(&ca, &ka), (&cb, &kb)] {
        assert_eq!(
            std::fs::read_to_string(mine).unwrap(),
            std::fs::read_to_string(theirs).unwrap(),
            "{} as kubectl writes it",
            mine.display()
        );
    }
    assert!(!cm.exists());
    // --kubeconfig names one file; a missing one is an error.
    let flag = ["config", "view", "--kubeconfig", cb.to_str().unwrap()];
    let mut kflag = flag;
    kflag[3] = kb.to_str().unwrap();
    assert_eq!(c.ok(&flag), k.ok(&kflag));
    let r = c.run(&[
        "config",
        "current-context",
        "--kubeconfig",
        "/nonexistent/x",
    ]);
    assert_eq!(r.code, Some(1));
    // No current context: kubectl's errors.
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "apiVersion: v1\nkind: Config\n").unwrap();
    let (ce, ke) = (
        clipper(&empty, dir.path().join("home-c")),
        k.with_kubeconfig(&empty),
    );
    for args in [
        &["config", "view"][..],
        &["config", "current-context"],
        &["config", "view", "--minify"],
        &["config", "get-contexts"],
    ] {
        same_run(&ce, &ke, args);
    }
}

const WORKLOADS: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web2}
spec:
  replicas: 1
  selector: {matchLabels: {app: web2}}
  template:
    metadata: {labels: {app: web2}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: held}
spec:
  paused: true
  selector: {matchLabels: {app: held}}
  template:
    metadata: {labels: {app: held}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ds}
spec:
  selector: {matchLabels: {app: ds}}
  template:
    metadata: {labels: {app: ds}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: ss}
spec:
  serviceName: ss
  selector: {matchLabels: {app: ss}}
  template:
    metadata: {labels: {app: ss}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
"#;

#[test]
fn rollout_restart_annotates_the_pod_template_as_kubectl() {
    let cluster = Cluster::start();
    let (c, k) = pair(&cluster);
    k.ok_stdin(&["apply", "-f", "-"], WORKLOADS);
    let restarted_at = |what: &str| -> String {
        k.ok(&[
            "get",
            what,
            "-o",
            "jsonpath={.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}",
        ])
    };
    let before = clipper_now();
    assert_eq!(
        c.ok(&["rollout", "restart", "deployment/web"]),
        "deployment.apps/web restarted\n"
    );
    // kubectl's line for another deployment has the same shape.
    assert_eq!(
        k.ok(&["rollout", "restart", "deployment/web2"]),
        "deployment.apps/web2 restarted\n"
    );
    let stamp = restarted_at("deployment/web");
    let t = chrono_free_parse(&stamp);
    assert!(t >= before && t <= clipper_now(), "{stamp}");
    assert_eq!(
        c.ok(&["rollout", "restart", "daemonset", "ds"]),
        "daemonset.apps/ds restarted\n"
    );
    assert_eq!(
        c.ok(&["rollout", "restart", "statefulset/ss", "-o", "name"]),
        "statefulset.apps/ss\n"
    );
    assert!(!restarted_at("daemonset/ds").is_empty());
    assert!(!restarted_at("statefulset/ss").is_empty());
    // Refusals and errors, as kubectl prints them (no object changes here).
    for args in [
        &["rollout", "restart", "deployment/held"][..],
        &["rollout", "restart", "configmap/cm"],
        &["rollout", "restart", "deploy/nope"],
        &["rollout", "restart", "deploy/held", "configmap/cm"],
        &["rollout", "restart", "deploy/held", "deploy/nope"],
        &["rollout", "restart"],
    ] {
        let r = same_run(&c, &k, args);
        assert_eq!(r.code, Some(1), "{args:?}");
    }
    assert_eq!(restarted_at("deployment/held"), "");
    cluster.stop();
}

/// Seconds since the epoch, now.
fn clipper_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An RFC 3339 UTC timestamp (`2026-01-02T03:04:05Z`) as seconds since the epoch.
fn chrono_free_parse(s: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap();
    let (y, mo, d) = (n(0..4), n(5..7), n(8..10));
    let (h, mi, se) = (n(11..13), n(14..16), n(17..19));
    assert!(s.ends_with('Z'), "{s}");
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    days * 86400 + h * 3600 + mi * 60 + se
}

/// An editor script: keeps a copy of each file it is given (`round0`, `round1`...) in
/// `log` and runs `sed -i SCRIPT` on it.
fn editor(dir: &Path, name: &str, sed: &str) -> (String, PathBuf) {
    let log = dir.join(format!("{name}-rounds"));
    std::fs::create_dir_all(&log).unwrap();
    let path = dir.join(format!("{name}.sh"));
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nn=$(ls '{log}' | wc -l)\ncp \"$1\" '{log}'/round$n\nsed -i '{sed}' \"$1\"\n",
            log = log.display()
        ),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).unwrap();
    // Every round starts with an empty log.
    for e in std::fs::read_dir(&log).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    (path.display().to_string(), log)
}

/// What the editor was shown, with what differs between two objects of the same
/// content (name, uid, resourceVersion, creation time) masked.
fn shown(log: &Path, round: usize, name: &str) -> String {
    std::fs::read_to_string(log.join(format!("round{round}")))
        .unwrap()
        .lines()
        .filter(|l| {
            !["uid:", "resourceVersion:", "creationTimestamp:"]
                .iter()
                .any(|k| l.trim_start().starts_with(k))
        })
        .map(|l| l.replace(name, "NAME"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn edit_runs_the_editor_and_patches_what_changed_as_kubectl() {
    let cluster = Cluster::start();
    let (c, k) = pair(&cluster);
    let dir = cluster.dir.path().join("editors");
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["c1", "k1", "c2", "k2"] {
        k.ok(&["create", "configmap", name, "--from-literal=size=1"]);
    }

    // A change: patched, `configmap/NAME edited`; the editor saw kubectl's file.
    let (ed, log) = editor(&dir, "bump", "s/size: \"1\"/size: \"2\"/");
    let env = [("EDITOR", ed.as_str())];
    let r = c.run_with(&["edit", "configmap", "c1"], None, &env);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (Some(0), "configmap/c1 edited\n")
    );
    let seen_c = shown(&log, 0, "c1");
    let (ed, log) = editor(&dir, "bump", "s/size: \"1\"/size: \"2\"/");
    let env = [("EDITOR", ed.as_str())];
    let r = k.run_with(&["edit", "configmap", "k1"], None, &env);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (Some(0), "configmap/k1 edited\n")
    );
    assert_eq!(seen_c, shown(&log, 0, "k1"));
    assert!(
        seen_c.starts_with("# Please edit the object below."),
        "{seen_c}"
    );
    assert_eq!(
        k.ok(&["get", "cm", "c1", "-o", "jsonpath={.data.size}"]),
        "2"
    );

    // No change saved: cancelled, exit 0, the same words.
    let (ed, _) = editor(&dir, "noop", "s/nothing-here//");
    let env = [("EDITOR", ed.as_str())];
    let (a, b) = (
        c.run_with(&["edit", "cm", "c1"], None, &env),
        k.run_with(&["edit", "cm", "c1"], None, &env),
    );
    assert_eq!(
        (a.code, &a.stdout, &a.stderr),
        (b.code, &b.stdout, &b.stderr)
    );
    assert_eq!(a.stderr, "Edit cancelled, no changes made.\n");
    // $KUBE_EDITOR before $EDITOR; an editor with arguments runs through the shell.
    let (bump, _) = editor(&dir, "bump2", "s/size: \"2\"/size: \"3\"/");
    let env = [("KUBE_EDITOR", ed.as_str()), ("EDITOR", bump.as_str())];
    let r = c.run_with(&["edit", "cm", "c1"], None, &env);
    assert_eq!(r.stderr, "Edit cancelled, no changes made.\n");
    let env = [("EDITOR", "sed -i s/size:/width:/")];
    let r = c.run_with(&["edit", "cm/c1"], None, &env);
    assert_eq!(r.stdout, "configmap/c1 edited\n", "{}", r.stderr);
    assert_eq!(
        k.ok(&["get", "cm", "c1", "-o", "jsonpath={.data.width}"]),
        "2"
    );

    // Several objects: one List; an object left as it was is `skipped`.
    k.ok(&["create", "configmap", "c3", "--from-literal=size=2"]);
    let (ed, _) = editor(&dir, "list", "s/size: \"1\"/size: \"5\"/");
    let r = c.run_with(
        &["edit", "cm", "c2", "c3"],
        None,
        &[("EDITOR", ed.as_str())],
    );
    assert_eq!(
        r.stdout, "configmap/c2 edited\nconfigmap/c3 skipped\n",
        "{}",
        r.stderr
    );

    // A built-in with lists: the strategic merge patch of the change.
    k.ok_stdin(&["apply", "-f", "-"], WORKLOADS);
    let (ed, _) = editor(&dir, "image", "s/image: nginx$/image: nginx:1.28/");
    let r = c.run_with(&["edit", "deploy", "web"], None, &[("EDITOR", ed.as_str())]);
    assert_eq!(r.stdout, "deployment.apps/web edited\n", "{}", r.stderr);
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}"
        ]),
        "nginx:1.28"
    );
    // -o json: no header, JSON as kubectl prints it.
    let (ed, log) = editor(
        &dir,
        "json",
        "s/\"image\": \"nginx:1.28\"/\"image\": \"nginx:1.29\"/",
    );
    let r = c.run_with(
        &["edit", "deploy", "web", "-o", "json"],
        None,
        &[("EDITOR", ed.as_str())],
    );
    assert_eq!(r.stdout, "deployment.apps/web edited\n", "{}", r.stderr);
    assert!(shown(&log, 0, "web").starts_with("{\n    \"apiVersion\": \"apps/v1\",\n"));

    // Invalid: the editor reopens with the server's causes atop the user's text; saved
    // unchanged, the edit gives up and says where the text was kept.
    let (ed, log) = editor(&dir, "bad", "s/size:/\"bad key!\":/");
    let env = [("EDITOR", ed.as_str())];
    let r = c.run_with(&["edit", "cm", "c2"], None, &env);
    assert_eq!(r.code, Some(1));
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{}", r.stderr);
    assert_eq!(lines[0], "error: configmaps \"c2\" is invalid");
    let kept = lines[1]
        .strip_prefix("A copy of your changes has been stored to \"")
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{}", r.stderr));
    assert!(
        std::fs::read_to_string(kept)
            .unwrap()
            .contains("\"bad key!\": \"5\"")
    );
    assert_eq!(
        lines[2],
        "error: Edit cancelled, no valid changes were saved."
    );
    let reopened_c = shown(&log, 1, "c2");
    assert!(
        reopened_c.contains(
            "# configmaps \"NAME\" was not valid:\n# * data[bad key!]: Invalid value: \"bad key!\""
        ),
        "{reopened_c}"
    );
    let (ed, log) = editor(&dir, "bad", "s/size:/\"bad key!\":/");
    k.ok(&["patch", "cm", "k2", "-p", r#"{"data":{"size":"5"}}"#]);
    let rk = k.run_with(&["edit", "cm", "k2"], None, &[("EDITOR", ed.as_str())]);
    assert_eq!(rk.code, Some(1));
    assert_eq!(shown(&log, 1, "k2"), reopened_c);
    assert_eq!(
        k.ok(&["get", "cm", "c2", "-o", "jsonpath={.data.size}"]),
        "5"
    );

    // Nothing to edit, and what kubectl says about a missing object.
    let r = same_run(&c, &k, &["edit", "cm", "nope"]);
    assert_eq!(r.code, Some(1));
    cluster.stop();
}

const DAEMONSET: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ds}
spec:
  selector: {matchLabels: {app: ds}}
  template:
    metadata: {labels: {app: ds}}
    spec:
      nodeSelector: {example.com/no-node: "true"}
      containers: [{name: web, image: nginx}]
"#;

/// A node and pods bound to it: one without a controller, one with an emptyDir, one of
/// a DaemonSet, one finished, one of a ReplicaSet (`ds_uid`: the DaemonSet's uid).
fn node_with_pods(node: &str, ds_uid: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Node
metadata: {{name: {node}, labels: {{kubernetes.io/hostname: {node}}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: solo-{node}, labels: {{app: solo}}}}
spec:
  nodeName: {node}
  containers: [{{name: main, image: busybox}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: scratch-{node}}}
spec:
  nodeName: {node}
  volumes: [{{name: v, emptyDir: {{}}}}]
  containers: [{{name: main, image: busybox}}]
---
apiVersion: v1
kind: Pod
metadata:
  name: dsp-{node}
  ownerReferences: [{{apiVersion: apps/v1, kind: DaemonSet, name: ds, uid: "{ds_uid}", controller: true}}]
spec:
  nodeName: {node}
  containers: [{{name: main, image: busybox}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: done-{node}}}
spec:
  nodeName: {node}
  containers: [{{name: main, image: busybox}}]
"#
    )
}

#[test]
fn drain_filters_evicts_and_reports_as_kubectl() {
    let cluster = Cluster::start();
    let (c, k) = pair(&cluster);
    // Only the DaemonSet the pods name (no workload whose pods the scheduler could put on
    // the drained nodes; its own would go nowhere).
    k.ok_stdin(&["apply", "-f", "-"], DAEMONSET);
    let ds_uid = k.ok(&["get", "ds", "ds", "-o", "jsonpath={.metadata.uid}"]);
    // kubectl drains node `kn`, clipper the same setup on node `cn`.
    for node in ["kn", "cn"] {
        k.ok_stdin(&["apply", "-f", "-"], &node_with_pods(node, &ds_uid));
        k.ok(&[
            "patch",
            "pod",
            &format!("done-{node}"),
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"phase":"Succeeded"}}"#,
        ]);
    }
    // Runs both; clipper's output and exit code equal kubectl's with the node renamed
    // (lines compared sorted: kubectl evicts in goroutines and groups in Go maps).
    let both = |flags: &[&str]| -> Run {
        let mut ka = vec!["drain", "kn"];
        ka.extend_from_slice(flags);
        let mut ca = vec!["drain", "cn"];
        ca.extend_from_slice(flags);
        let (a, b) = (c.run(&ca), k.run(&ka));
        let rename = |s: &str| sorted_lines(&s.replace("kn", "cn"));
        assert_eq!(
            (a.code, sorted_lines(&a.stdout), sorted_lines(&a.stderr)),
            (b.code, rename(&b.stdout), rename(&b.stderr)),
            "drain {flags:?}: clipper (left) and kubectl (right)\n{}{}",
            a.stdout,
            a.stderr
        );
        a
    };
    // Refused: DaemonSet pods, then (ignored) local storage and no controller.
    let r = both(&[]);
    assert_eq!(r.code, Some(1));
    assert_eq!(r.stdout, "node/cn cordoned\n");
    assert!(r.stderr.contains(
        "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): default/dsp-cn\n"
    ));
    assert!(
        r.stderr
            .contains("There are pending nodes to be drained:\n cn\n")
    );
    let r = both(&["--ignore-daemonsets", "--force"]);
    assert_eq!(
        r.stderr.lines().last(),
        Some(
            "cannot delete Pods with local storage (use --delete-emptydir-data to override): default/scratch-cn"
        )
    );
    let r = both(&["--ignore-daemonsets", "--delete-emptydir-data"]);
    assert!(r.stderr.contains("cannot delete cannot delete Pods that declare no controller (use --force to override): default/scratch-cn, default/solo-cn"), "{}", r.stderr);
    // A client dry run: what would be evicted, nothing changed.
    let r = both(&[
        "--ignore-daemonsets",
        "--force",
        "--delete-emptydir-data",
        "--dry-run=client",
    ]);
    assert_eq!(
        sorted_lines(&r.stdout),
        [
            "evicting pod default/done-cn (dry run)",
            "evicting pod default/scratch-cn (dry run)",
            "evicting pod default/solo-cn (dry run)",
            "node/cn already cordoned (dry run)",
            "node/cn drained (dry run)",
        ]
    );
    assert!(k.run(&["get", "pod", "solo-cn"]).ok);
    // Everything allowed: the finished pod goes without --force; each pod evicted
    // (grace 0: gone at once without a node agent), then the node drained.
    let r = both(&[
        "--ignore-daemonsets",
        "--force",
        "--delete-emptydir-data",
        "--grace-period=0",
        "--timeout=20s",
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        sorted_lines(&r.stdout),
        [
            "evicting pod default/done-cn",
            "evicting pod default/scratch-cn",
            "evicting pod default/solo-cn",
            "node/cn already cordoned",
            "node/cn drained",
            "pod/done-cn evicted",
            "pod/scratch-cn evicted",
            "pod/solo-cn evicted",
        ]
    );
    assert_eq!(
        r.stderr,
        "Warning: ignoring DaemonSet-managed Pods: default/dsp-cn; deleting Pods that declare no controller: default/scratch-cn, default/solo-cn\n"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "pods",
            "--field-selector=spec.nodeName=cn",
            "-o",
            "name"
        ]),
        "pod/dsp-cn\n"
    );
    // Nothing left: drained again at once.
    both(&["--ignore-daemonsets"]);
    let missing = same_run(&c, &k, &["drain", "nope"]);
    assert_eq!(missing.code, Some(1));

    // A PodDisruptionBudget that allows no disruption: 429, retried every 5 s until
    // --timeout, then kubectl's report. (kubectl itself lingers long after its timeout
    // here, so only clipper runs; its lines are kubectl's, checked by hand.)
    k.ok(&["uncordon", "cn"]);
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata: {name: guarded, labels: {app: guarded}}\nspec:\n  nodeName: cn\n  containers: [{name: main, image: busybox}]\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: guard}\nspec:\n  minAvailable: 1\n  selector: {matchLabels: {app: guarded}}\n",
    );
    let r = c.run(&[
        "drain",
        "cn",
        "--ignore-daemonsets",
        "--force",
        "--grace-period=0",
        "--timeout=1s",
    ]);
    assert_eq!(r.code, Some(1));
    assert_eq!(
        r.stdout,
        "node/cn cordoned\nevicting pod default/guarded\nevicting pod default/guarded\n"
    );
    assert_eq!(
        r.stderr,
        "Warning: ignoring DaemonSet-managed Pods: default/dsp-cn; deleting Pods that declare no controller: default/guarded\n\
         error when evicting pods/\"guarded\" -n \"default\" (will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget.\n\
         There are pending pods in node \"cn\" when an error occurred: error when evicting pods/\"guarded\" -n \"default\": global timeout reached: 1s\n\
         pod/guarded\n\
         error: unable to drain node \"cn\" due to error: error when evicting pods/\"guarded\" -n \"default\": global timeout reached: 1s, continuing command...\n\
         There are pending nodes to be drained:\n cn\n\
         error when evicting pods/\"guarded\" -n \"default\": global timeout reached: 1s\n"
    );
    // --disable-eviction deletes, bypassing the budget.
    let r = c.run(&[
        "drain",
        "cn",
        "--ignore-daemonsets",
        "--force",
        "--grace-period=0",
        "--disable-eviction",
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "node/cn already cordoned\npod/guarded deleted\nnode/cn drained\n"
    );
    assert!(!k.run(&["get", "pod", "guarded"]).ok);
    // kubectl sends those DeleteOptions as protobuf: the same outcome.
    k.ok(&["uncordon", "cn"]);
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata: {name: guarded, labels: {app: guarded}}\nspec:\n  nodeName: cn\n  containers: [{name: main, image: busybox}]\n",
    );
    let r = k.run(&[
        "drain",
        "cn",
        "--ignore-daemonsets",
        "--force",
        "--grace-period=0",
        "--disable-eviction",
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "node/cn cordoned\npod/guarded deleted\nnode/cn drained\n"
    );
    assert!(!k.run(&["get", "pod", "guarded"]).ok);
    cluster.stop();
}
