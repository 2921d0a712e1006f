//! `clipper up` as a user runs it: a real process on a data directory that serves the
//! Kubernetes API to stock kubectl through the admin kubeconfig it writes, stops cleanly on
//! SIGTERM, keeps its state across a restart, and refuses a second instance on the same
//! data directory with one clear line.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

fn start(data_dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_clipper"))
        .args(["up", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("clipper starts")
}

/// Reads stdout until the kubeconfig line; returns the kubeconfig path.
fn wait_until_serving(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.expect("utf-8 output");
        if let Some(path) = line.strip_prefix("export KUBECONFIG=") {
            // Keep draining in the background so the child never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return path.to_string();
        }
    }
    panic!("clipper up exited before serving");
}

fn stop(mut child: Child) {
    let pid = child.id() as i32;
    // SAFETY: kill(2) on the pid of a child we spawned and have not yet waited for, so
    // the pid cannot have been reused.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(rc, 0, "SIGTERM delivered");
    let status = child.wait().expect("wait");
    assert!(
        status.success(),
        "clipper up exits cleanly on SIGTERM: {status:?}"
    );
}

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
