//! `kubectl attach` and `kubectl run -i` end to end: stock kubectl 1.33 (WebSocket) and
//! 1.27 (SPDY) through the API server's tunnel to the node agent, which joins the session
//! to the container's own process through its shim — the container's stdin (held open
//! between attaches, closed after the first with stdinOnce), its output from the moment
//! of attaching, and a container on a terminal.

mod common;

use std::time::Duration;

use common::node::{Host, busybox_layout};
use common::{Kubectl, expect_line, wait_until};

const POD_LIMIT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(250);

const TICKER: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: ticker
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"]
"#;

const SHELL: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: shell
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: ["sh"]
    stdin: true
    tty: true
"#;

fn phase(k: &Kubectl, pod: &str) -> String {
    let r = k.run(&["get", "pod", pod, "-o", "jsonpath={.status.phase}"]);
    if r.ok { r.stdout } else { String::new() }
}

/// `kubectl run -i`: the pod gets stdin (stdinOnce); what kubectl reads from its own
/// stdin reaches the container, whose answer comes back, then its stdin closes.
fn run_interactive(k: &Kubectl, version: &str, name: &str) {
    let out = k.ok_stdin(
        &[
            "run",
            name,
            "--image=busybox",
            "--restart=Never",
            "-i",
            "--",
            "sh",
            "-c",
            "read line; echo got:$line; cat; echo stdin-closed",
        ],
        "hello\nmore\n",
    );
    assert!(
        out.contains("got:hello") && out.contains("more") && out.contains("stdin-closed"),
        "kubectl {version}: {out:?}"
    );
    let spec = k.json(&["get", "pod", name]);
    assert_eq!(spec["spec"]["containers"][0]["stdin"], true);
    assert_eq!(spec["spec"]["containers"][0]["stdinOnce"], true);
    wait_until(&format!("{name} Succeeded"), POD_LIMIT, POLL, || {
        phase(k, name) == "Succeeded"
    });
}

#[test]
fn kubectl_attach_joins_running_containers() {
    let mut host = Host::new("cat");
    let kubeconfig = host.start();
    let layout = busybox_layout(host.dir.path());
    let root = host.data().join("agent");
    host.clipper(&[
        "image",
        "import",
        layout.to_str().expect("utf-8"),
        "--root",
        root.to_str().expect("utf-8"),
    ]);
    let k = host.kubectl(&kubeconfig, "1.33");
    let old = host.kubectl(&kubeconfig, "1.27");

    run_interactive(&k, "1.33", "reader");
    run_interactive(&old, "1.27", "reader-spdy");

    // Attaching to a running container streams its output from now on.
    k.ok_stdin(&["apply", "-f", "-"], TICKER);
    wait_until("pod ticker Running", POD_LIMIT, POLL, || {
        phase(&k, "ticker") == "Running"
    });
    for kubectl in [&k, &old] {
        let (_attached, lines) = kubectl.spawn_lines(&["attach", "ticker"]);
        let seen = expect_line(&lines, Duration::from_secs(30), "tick N", |l| {
            l.starts_with("tick ")
        });
        let first = seen.last().expect("a line");
        let n: u64 = first["tick ".len()..].trim().parse().expect("a count");
        expect_line(&lines, Duration::from_secs(30), "a later tick", |l| {
            l.strip_prefix("tick ")
                .and_then(|c| c.trim().parse::<u64>().ok())
                .is_some_and(|c| c > n)
        });
    }

    // A container on a terminal: kubectl without a terminal of its own attaches without
    // one; input reaches the shell through the pty, which echoes it, and the session ends
    // when the shell exits.
    k.ok_stdin(&["apply", "-f", "-"], SHELL);
    wait_until("pod shell Running", POD_LIMIT, POLL, || {
        phase(&k, "shell") == "Running"
    });
    let r = k.run_with(
        &["attach", "-i", "shell"],
        Some("echo from-the-$((6*7))-tty\nexit 3\n"),
        &[],
    );
    assert!(
        r.stdout.contains("from-the-42-tty"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    wait_until("pod shell Failed", POD_LIMIT, POLL, || {
        phase(&k, "shell") == "Failed"
    });
    let code = k.ok(&[
        "get",
        "pod",
        "shell",
        "-o",
        "jsonpath={.status.containerStatuses[0].state.terminated.exitCode}",
    ]);
    assert_eq!(code, "3");
}
