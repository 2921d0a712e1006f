//! `clipper up` as a user runs it: a real process on a data directory that serves the
//! Kubernetes API to stock kubectl through the admin kubeconfig it writes, stops cleanly on
//! SIGTERM, keeps its state across a restart, and refuses a second instance on the same
//! data directory with one clear line.

mod common;

use common::{Kubectl, start_process as start, stop, wait_until_serving};

fn kubectl(kubeconfig: &str, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let r = Kubectl::on_path(std::path::Path::new(kubeconfig)).run_with(args, stdin, &[]);
    (r.ok, r.stdout, r.stderr)
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

#[test]
fn secrets_are_encrypted_at_rest_and_served_in_the_clear() {
    use clipper_store::Store;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut first = start(dir.path());
    let kubeconfig = wait_until_serving(&mut first);
    let (ok, _, err) = kubectl(
        &kubeconfig,
        &[
            "create",
            "secret",
            "generic",
            "vault",
            "--from-literal=password=correct-horse-battery",
        ],
        None,
    );
    assert!(ok, "create secret: {err}");
    let (ok, _, err) = kubectl(
        &kubeconfig,
        &[
            "create",
            "configmap",
            "plain",
            "--from-literal=k=visible-value",
        ],
        None,
    );
    assert!(ok, "create configmap: {err}");
    stop(first);

    // What the store holds, read directly with the server stopped.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (secret, configmap) = rt.block_on(async {
        let store =
            clipper_store::embedded::EmbeddedStore::open(dir.path().join("store")).expect("open");
        let get = |k: &'static str| {
            let store = &store;
            async move {
                store
                    .get(k.as_bytes())
                    .await
                    .expect("get")
                    .0
                    .expect("present")
                    .value
            }
        };
        (
            get("/registry/core/secrets/default/vault").await,
            get("/registry/core/configmaps/default/plain").await,
        )
    });
    assert!(
        secret.starts_with(b"k8s:enc:aesgcm:v1:key1:"),
        "the secret is stored encrypted"
    );
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(&secret, b"correct-horse-battery"));
    assert!(
        !contains(&secret, b"Y29ycmVjdC1ob3JzZS1iYXR0ZXJ5"),
        "not even base64"
    );
    assert!(
        contains(&configmap, b"visible-value"),
        "other kinds are not encrypted"
    );

    let mut again = start(dir.path());
    let kubeconfig = wait_until_serving(&mut again);
    let (ok, out, err) = kubectl(
        &kubeconfig,
        &["get", "secret", "vault", "-o", "jsonpath={.data.password}"],
        None,
    );
    assert!(ok, "get secret after restart: {err}");
    assert_eq!(out, "Y29ycmVjdC1ob3JzZS1iYXR0ZXJ5", "served decrypted");
    stop(again);
}

/// A configuration file under the flags: its settings apply (a NodePort range), flags
/// win over it (the harness's --listen and --data-dir), and a bad file stops
/// `clipper up` with one line naming the file and the problem.
#[test]
fn up_reads_a_configuration_file_under_the_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("clipper.yaml");
    std::fs::write(
        &config,
        "listen: 192.0.2.1:1\nservice-node-port-range: 31000-31001\ncluster-domain: example.internal\n",
    )
    .expect("write config");
    let data = dir.path().join("data");
    let mut child =
        common::start_process_with(&data, &["--config", config.to_str().expect("utf-8")]);
    let kubeconfig = wait_until_serving(&mut child);
    let (ok, _, err) = kubectl(
        &kubeconfig,
        &["create", "service", "nodeport", "np", "--tcp=80:8080"],
        None,
    );
    assert!(ok, "{err}");
    let (ok, port, err) = kubectl(
        &kubeconfig,
        &[
            "get",
            "svc",
            "np",
            "-o",
            "jsonpath={.spec.ports[0].nodePort}",
        ],
        None,
    );
    assert!(ok, "{err}");
    assert!(
        ["31000", "31001"].contains(&port.as_str()),
        "allocated from the file's range: {port}"
    );
    stop(child);

    std::fs::write(&config, "listen: 127.0.0.1:0\nworkers: 0\n").expect("write config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clipper"))
        .args([
            "up",
            "--config",
            config.to_str().expect("utf-8"),
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .expect("clipper runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        format!("error: {}: workers must be at least 1", config.display())
    );
    std::fs::write(&config, "listne: 127.0.0.1:0\n").expect("write config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clipper"))
        .args(["up", "--config", config.to_str().expect("utf-8")])
        .output()
        .expect("clipper runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "error: {}: unknown field `listne`",
            config.display()
        )) && err.trim().lines().count() == 1,
        "{err}"
    );
}
