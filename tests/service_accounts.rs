//! Every namespace has a ServiceAccount `default`, as Kubernetes' service-account
//! controller keeps it: created with the namespace (and for the bootstrap namespaces),
//! recreated if deleted, usable at once by `kubectl create token`.

mod common;

use common::{Cluster, Kubectl, expect_line};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// Waits (on a watch) until `default` exists in `ns`; returns its uid.
fn wait_default(k: &Kubectl, ns: &str, not_uid: &str) -> String {
    let (_guard, lines) = k.spawn_lines(&[
        "get",
        "serviceaccount",
        "-n",
        ns,
        "-w",
        "--field-selector=metadata.name=default",
        "-o",
        "jsonpath={.metadata.uid}{\"\\n\"}",
    ]);
    let seen = expect_line(&lines, WAIT, &format!("default in {ns}"), |l| {
        !l.trim().is_empty() && l.trim() != not_uid
    });
    seen.last().cloned().unwrap_or_default().trim().to_string()
}

#[test]
fn every_namespace_gets_a_default_service_account() {
    let cluster = Cluster::start();
    let k = cluster.kubectl("1.33");
    for ns in ["default", "kube-system", "kube-public"] {
        assert!(
            !wait_default(&k, ns, "").is_empty(),
            "bootstrap namespace {ns}"
        );
    }
    k.ok(&["create", "namespace", "team-a"]);
    let uid = wait_default(&k, "team-a", "");

    // `kubectl create token` works against it: a signed JWT (three parts).
    let token = k.ok(&["create", "token", "default", "-n", "team-a"]);
    assert_eq!(token.trim().split('.').count(), 3, "{token}");

    // Deleted, it comes back (a new object).
    k.ok(&["delete", "serviceaccount", "default", "-n", "team-a"]);
    let again = wait_default(&k, "team-a", &uid);
    assert_ne!(again, uid);
    cluster.stop();
}
