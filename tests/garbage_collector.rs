//! The garbage collector under stock kubectl against a real `clipper up`: `kubectl delete
//! --cascade=background|foreground|orphan` of an owner with dependents that name it in
//! their ownerReferences, owners and dependents of built-in kinds and of a custom
//! resource. Each phase awaits the outcome (kubectl wait, or polling with a deadline)
//! and asserts it.

mod common;

use common::{Cluster, Kubectl};
use serde_json::Value;
use std::time::Duration;

/// How long the collector may take to act.
const WAIT: Duration = Duration::from_secs(30);
const WAIT_ARG: &str = "--timeout=30s";
/// Pause between two looks while polling (the wait is bounded by `WAIT`).
const POLL: Duration = Duration::from_millis(100);

/// Polls `cond` until it holds, for at most `WAIT`.
#[track_caller]
fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    common::wait_until(what, WAIT, POLL, cond)
}

fn uid(k: &Kubectl, ns: &str, what: &str) -> String {
    let uid = k.ok(&["get", what, "-n", ns, "-o", "jsonpath={.metadata.uid}"]);
    assert!(!uid.is_empty(), "{what} has a uid");
    uid
}

/// An owner reference in YAML flow style.
fn owner_ref(api_version: &str, kind: &str, name: &str, uid: &str, block: bool) -> String {
    format!(
        "{{apiVersion: {api_version}, kind: {kind}, name: {name}, uid: {uid}, blockOwnerDeletion: {block}}}"
    )
}

fn configmap(ns: &str, name: &str, owners: &[String], finalizers: &[&str]) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n  ownerReferences: [{}]\n  finalizers: [{}]\ndata:\n  k: v\n",
        owners.join(", "),
        finalizers.join(", ")
    )
}

fn create(k: &Kubectl, yaml: &str) {
    k.ok_stdin(&["create", "-f", "-"], yaml);
}

fn get(k: &Kubectl, ns: &str, what: &str) -> Option<Value> {
    let r = k.run(&["get", what, "-n", ns, "-o", "json"]);
    if !r.ok {
        assert!(r.stderr.contains("NotFound"), "get {what}: {}", r.stderr);
        return None;
    }
    Some(serde_json::from_str(&r.stdout).expect("JSON"))
}

fn owner_names(obj: &Value) -> Vec<String> {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .map(|refs| {
            refs.iter()
                .map(|r| r["name"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn wait_deleted(k: &Kubectl, ns: &str, objects: &[&str]) {
    let mut args = vec!["wait", "--for=delete", "-n", ns, WAIT_ARG];
    args.extend(objects);
    k.ok(&args);
    for o in objects {
        assert!(get(k, ns, o).is_none(), "{o} is gone");
    }
}

/// Background: the owner goes at once; dependents whose every owner is gone follow;
/// a dependent with another owner left only loses the dangling reference.
fn background(k: &Kubectl) {
    let ns = "gc-bg";
    k.ok(&["create", "namespace", ns]);
    create(k, &configmap(ns, "owner", &[], &[]));
    create(k, &configmap(ns, "keeper", &[], &[]));
    let owner = uid(k, ns, "cm/owner");
    let keeper = uid(k, ns, "cm/keeper");
    let by_owner = owner_ref("v1", "ConfigMap", "owner", &owner, false);
    let by_keeper = owner_ref("v1", "ConfigMap", "keeper", &keeper, false);
    create(
        k,
        &configmap(ns, "dep-1", std::slice::from_ref(&by_owner), &[]),
    );
    create(
        k,
        &configmap(ns, "dep-2", std::slice::from_ref(&by_owner), &[]),
    );
    create(
        k,
        &configmap(ns, "shared", &[by_owner.clone(), by_keeper.clone()], &[]),
    );
    // A dependent of a dependent: collected in turn.
    let dep1 = uid(k, ns, "cm/dep-1");
    let grandchild = owner_ref("v1", "ConfigMap", "dep-1", &dep1, false);
    create(k, &configmap(ns, "grandchild", &[grandchild], &[]));

    k.ok(&["delete", "cm", "owner", "-n", ns, "--cascade=background"]);
    wait_deleted(k, ns, &["cm/dep-1", "cm/dep-2", "cm/grandchild"]);
    k.ok(&[
        "wait",
        "--for=jsonpath={.metadata.ownerReferences[0].name}=keeper",
        "-n",
        ns,
        "cm/shared",
        WAIT_ARG,
    ]);
    let shared = get(k, ns, "cm/shared").expect("shared is kept: keeper still owns it");
    assert_eq!(owner_names(&shared), ["keeper"]);
    assert!(shared["metadata"]["deletionTimestamp"].is_null());
    assert!(get(k, ns, "cm/keeper").is_some());
}

/// Foreground: the owner is marked (deletionTimestamp, foregroundDeletion) and stays
/// until its blocking dependents are gone; then it goes too.
fn foreground(k: &Kubectl) {
    let ns = "gc-fg";
    k.ok(&["create", "namespace", ns]);
    create(k, &configmap(ns, "owner", &[], &[]));
    let owner = uid(k, ns, "cm/owner");
    let blocking = owner_ref("v1", "ConfigMap", "owner", &owner, true);
    let plain = owner_ref("v1", "ConfigMap", "owner", &owner, false);
    // A finalizer of our own holds `held` once deleted: the owner must wait for it.
    create(
        k,
        &configmap(
            ns,
            "held",
            std::slice::from_ref(&blocking),
            &["e2e.clipper.dev/hold"],
        ),
    );
    create(
        k,
        &configmap(ns, "dep", std::slice::from_ref(&blocking), &[]),
    );
    create(
        k,
        &configmap(ns, "loose", std::slice::from_ref(&plain), &[]),
    );

    k.ok(&[
        "delete",
        "cm",
        "owner",
        "-n",
        ns,
        "--cascade=foreground",
        "--wait=false",
    ]);
    // The collector deletes the dependents (in the foreground too); `held` stays, being
    // deleted, and so does the owner.
    wait_until("the held dependent to be deleting", || {
        get(k, ns, "cm/held").is_some_and(|h| !h["metadata"]["deletionTimestamp"].is_null())
    });
    wait_deleted(k, ns, &["cm/dep", "cm/loose"]);
    let o = get(k, ns, "cm/owner").expect("the owner waits for its blocking dependent");
    assert!(!o["metadata"]["deletionTimestamp"].is_null());
    assert_eq!(
        o["metadata"]["finalizers"],
        serde_json::json!(["foregroundDeletion"])
    );
    // Releasing the dependent lets it go, then the owner.
    k.ok(&[
        "patch",
        "cm",
        "held",
        "-n",
        ns,
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    wait_deleted(k, ns, &["cm/held", "cm/owner"]);

    // With kubectl's default wait: the delete returns once the owner is gone, which
    // is after its dependents.
    create(k, &configmap(ns, "owner2", &[], &[]));
    let owner2 = uid(k, ns, "cm/owner2");
    let blocking = owner_ref("v1", "ConfigMap", "owner2", &owner2, true);
    create(
        k,
        &configmap(ns, "dep2", std::slice::from_ref(&blocking), &[]),
    );
    k.ok(&[
        "delete",
        "cm",
        "owner2",
        "-n",
        ns,
        "--cascade=foreground",
        WAIT_ARG,
    ]);
    assert!(get(k, ns, "cm/owner2").is_none());
    assert!(
        get(k, ns, "cm/dep2").is_none(),
        "dep2 went before its owner"
    );
}

/// Orphan: the owner goes once the collector has removed its references from the
/// dependents, which stay.
fn orphan(k: &Kubectl) {
    let ns = "gc-orphan";
    k.ok(&["create", "namespace", ns]);
    create(k, &configmap(ns, "owner", &[], &[]));
    create(k, &configmap(ns, "other", &[], &[]));
    let owner = uid(k, ns, "cm/owner");
    let other = uid(k, ns, "cm/other");
    let by_owner = owner_ref("v1", "ConfigMap", "owner", &owner, true);
    let by_other = owner_ref("v1", "ConfigMap", "other", &other, false);
    create(
        k,
        &configmap(ns, "dep-1", std::slice::from_ref(&by_owner), &[]),
    );
    create(
        k,
        &configmap(ns, "dep-2", &[by_owner.clone(), by_other], &[]),
    );

    // kubectl waits for the owner to be gone: the collector must drop the finalizer.
    k.ok(&[
        "delete",
        "cm",
        "owner",
        "-n",
        ns,
        "--cascade=orphan",
        WAIT_ARG,
    ]);
    assert!(get(k, ns, "cm/owner").is_none());
    let d1 = get(k, ns, "cm/dep-1").expect("orphaned dependents stay");
    assert!(owner_names(&d1).is_empty(), "{d1}");
    let d2 = get(k, ns, "cm/dep-2").expect("orphaned dependents stay");
    assert_eq!(owner_names(&d2), ["other"]);
    assert!(d1["metadata"]["deletionTimestamp"].is_null());
}

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.gc.clipper.dev
spec:
  group: gc.clipper.dev
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

fn gadget(ns: &str, name: &str, owners: &[String]) -> String {
    format!(
        "apiVersion: gc.clipper.dev/v1\nkind: Gadget\nmetadata:\n  name: {name}\n  namespace: {ns}\n  ownerReferences: [{}]\nspec: {{}}\n",
        owners.join(", ")
    )
}

/// A custom resource defined after the collector started: it is discovered and
/// watched, as owner and as dependent.
fn custom_resources(k: &Kubectl) {
    let ns = "gc-cr";
    k.ok(&["create", "namespace", ns]);
    k.ok_stdin(&["create", "-f", "-"], CRD);
    k.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/gadgets.gc.clipper.dev",
        WAIT_ARG,
    ]);
    // A Gadget owns a ConfigMap.
    create(k, &gadget(ns, "g-owner", &[]));
    let g = uid(k, ns, "gadget/g-owner");
    let by_gadget = owner_ref("gc.clipper.dev/v1", "Gadget", "g-owner", &g, true);
    create(
        k,
        &configmap(ns, "cm-dep", std::slice::from_ref(&by_gadget), &[]),
    );
    // A ConfigMap owns a Gadget.
    create(k, &configmap(ns, "cm-owner", &[], &[]));
    let c = uid(k, ns, "cm/cm-owner");
    let by_cm = owner_ref("v1", "ConfigMap", "cm-owner", &c, true);
    create(k, &gadget(ns, "g-dep", std::slice::from_ref(&by_cm)));

    k.ok(&[
        "delete",
        "gadget",
        "g-owner",
        "-n",
        ns,
        "--cascade=foreground",
        WAIT_ARG,
    ]);
    assert!(
        get(k, ns, "cm/cm-dep").is_none(),
        "the gadget's dependent went first"
    );
    k.ok(&["delete", "cm", "cm-owner", "-n", ns, "--cascade=background"]);
    wait_deleted(k, ns, &["gadget/g-dep"]);
}

#[test]
fn kubectl_cascading_deletes() {
    let cluster = Cluster::start();
    let k = cluster.kubectl("1.33");
    background(&k);
    foreground(&k);
    orphan(&k);
    custom_resources(&k);
    cluster.stop();
}
