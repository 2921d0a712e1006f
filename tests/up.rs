//! `clipper up` as a user runs it: a real process on a data directory that serves the
//! Kubernetes API to stock kubectl through the admin kubeconfig it writes, stops cleanly on
//! SIGTERM, keeps its state across a restart, and refuses a second instance on the same
//! data directory with one clear line.

mod common;

use common::{start_process as start, stop, wait_until_serving};
use std::process::{Command, Stdio};

fn kubectl(kubeconfig: &str, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut cmd = Command::new("kubectl");
    cmd.env("KUBECONFIG", kubeconfig)
        .env("HOME", std::env::temp_dir())
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("kubectl is installed");
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    let out = child.wait_with_output().expect("kubectl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn up_serves_kubectl_keeps_state_across_restarts_and_refuses_a_second_instance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut first = start(dir.path());
    let kubeconfig = wait_until_serving(&mut first);

    let (ok, out, err) = kubectl(&kubeconfig, &["get", "namespaces", "-o", "name"], None);
    assert!(ok, "kubectl get namespaces: {err}");
    for ns in [
        "namespace/default",
        "namespace/kube-system",
        "namespace/kube-public",
        "namespace/kube-node-lease",
    ] {
        assert!(out.lines().any(|l| l == ns), "{ns} exists: {out}");
    }
    let manifest =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: survivor\ndata:\n  answer: \"42\"\n";
    let (ok, _, err) = kubectl(&kubeconfig, &["apply", "-f", "-"], Some(manifest));
    assert!(ok, "kubectl apply: {err}");

    let second = start(dir.path())
        .wait_with_output()
        .expect("second instance runs");
    assert!(
        !second.status.success(),
        "a second `clipper up` on the same data dir must fail"
    );
    let stderr = String::from_utf8_lossy(&second.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: "),
        "one clear error line, got: {stderr}"
    );
    assert!(last.contains("lock"), "the error says why: {last}");
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");

    stop(first);
    let mut again = start(dir.path());
    let kubeconfig = wait_until_serving(&mut again);
    let (ok, out, err) = kubectl(
        &kubeconfig,
        &[
            "get",
            "configmap",
            "survivor",
            "-o",
            "jsonpath={.data.answer}",
        ],
        None,
    );
    assert!(ok, "kubectl get after restart: {err}");
    assert_eq!(
        out, "42",
        "the object written before the restart is served after it"
    );
    stop(again);
}
