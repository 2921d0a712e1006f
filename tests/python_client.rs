//! The official Python `kubernetes` client (the `kubernetes` package from PyPI, installed
//! by deploy/install-deps.sh) against a real `clipper up`: tests/python/client.py lists,
//! watches, creates, patches and deletes, and checks the error codes it gets back.

mod common;

use common::Cluster;
use std::process::Command;

#[test]
fn python_kubernetes_client_works_unchanged() {
    let cluster = Cluster::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/client.py");
    let out = Command::new("python3")
        .arg(script)
        .env("KUBECONFIG", &cluster.kubeconfig)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "client.py failed:\n{stdout}\n{stderr}"
    );
    assert_eq!(
        stdout.lines().last(),
        Some("OK"),
        "the script ran to its end:\n{stdout}"
    );
    assert!(
        stdout.lines().filter(|l| l.starts_with("ok: ")).count() >= 20,
        "every check ran:\n{stdout}"
    );
    cluster.stop();
}
