//! `kubectl exec` end to end: stock kubectl 1.33 and 1.30 (WebSocket, v5.channel.k8s.io)
//! through the API server's tunnel to the node agent, which runs the command with
//! `runc exec` in a busybox container of a `clipper up` inside a network namespace of the
//! test's own. Streams, stdin with its EOF, exit codes, kube's errors for a wrong
//! container; and kubectl 1.27 (and 1.33 told not to use WebSockets) over SPDY.

mod common;

use std::time::Duration;

use common::node::{Host, busybox_layout};
use common::{Kubectl, wait_until};

/// How long the pod may take to run (image unpack, runc, CNI on a loaded 2-core machine).
const POD_LIMIT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(250);

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sleep", "100000"]
"#;

fn phase(k: &Kubectl, pod: &str) -> String {
    let r = k.run(&["get", "pod", pod, "-o", "jsonpath={.status.phase}"]);
    if r.ok { r.stdout } else { String::new() }
}

/// The checks every kubectl version must pass.
fn exec_works(k: &Kubectl, version: &str) {
    // stdout and stderr on their own streams, the exit code passed on.
    let r = k.run(&[
        "exec",
        "web",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 7",
    ]);
    assert_eq!(r.code, Some(7), "kubectl {version}: {}", r.stderr);
    assert_eq!(r.stdout, "out\n", "kubectl {version}");
    assert!(
        r.stderr.starts_with("err\n"),
        "kubectl {version}: {:?}",
        r.stderr
    );
    assert!(
        r.stderr.contains("command terminated with exit code 7"),
        "kubectl {version}: {:?}",
        r.stderr
    );
    // stdin, and its end (v5's close message) ends `cat`.
    let echoed = k.ok_stdin(&["exec", "-i", "web", "--", "cat"], "hello\nworld\n");
    assert_eq!(echoed, "hello\nworld\n", "kubectl {version}");
    assert_eq!(
        k.ok(&["exec", "web", "--", "hostname"]).trim(),
        "web",
        "kubectl {version}"
    );
    assert_eq!(
        k.ok(&[
            "exec",
            "web",
            "-c",
            "main",
            "--",
            "sh",
            "-c",
            "echo $HOSTNAME"
        ])
        .trim(),
        "web",
        "kubectl {version}"
    );
    // A container the pod does not have: kube's message.
    let err = k.fails(&["exec", "web", "-c", "nope", "--", "true"]);
    assert!(
        err.contains("container nope is not valid for pod web"),
        "kubectl {version}: {err}"
    );
}

/// `clipper exec` against kubectl 1.33: the same stdout, stderr and exit code.
fn clipper_exec_matches_kubectl(k: &Kubectl, clipper: &Kubectl) {
    let same = |args: &[&str], stdin: Option<&str>| {
        let want = k.run_with(args, stdin, &[]);
        let got = clipper.run_with(args, stdin, &[]);
        assert_eq!(
            (got.code, &got.stdout, &without_times(&got.stderr)),
            (want.code, &want.stdout, &without_times(&want.stderr)),
            "clipper {args:?} (left) against kubectl (right)"
        );
        got
    };
    let r = same(
        &[
            "exec",
            "web",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 7",
        ],
        None,
    );
    assert_eq!(r.code, Some(7));
    assert_eq!(r.stderr, "err\ncommand terminated with exit code 7\n");
    let r = same(
        &["exec", "-i", "pod/web", "--", "cat"],
        Some("hello\nworld\n"),
    );
    assert_eq!((r.code, r.stdout.as_str()), (Some(0), "hello\nworld\n"));
    // -t without a terminal on stdin: kubectl's warning, then no TTY.
    same(&["exec", "-i", "-t", "web", "--", "cat"], Some("x\n"));
    let r = same(&["exec", "web", "-c", "main", "--", "hostname"], None);
    assert_eq!(r.stdout, "web\n");
    let r = same(&["exec", "web", "-c", "nope", "--", "true"], None);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("container nope is not valid for pod web"),
        "{:?}",
        r.stderr
    );
    let r = same(&["exec", "missing", "--", "true"], None);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("\"missing\" not found"), "{:?}", r.stderr);
    // A command that does not exist: the runtime's error, as kubectl prints it.
    same(&["exec", "web", "--", "no-such-command"], None);
    // -t on a terminal (script(1)'s pty, sized by stty): a remote tty of that size, from
    // the resize message sent first (the remote shell waits for it: the process starts
    // before the message is applied).
    let tty = common::node::sh(&format!(
        "timeout 60 script -qec 'stty cols 123 rows 45; KUBECONFIG={} {} exec -it web -- sh -c \"until stty size 2>/dev/null | grep -q .; do :; done; stty size\"' /dev/null </dev/null",
        clipper.kubeconfig.display(),
        clipper.bin.display()
    ));
    assert!(tty.contains("45 123\r\n"), "{tty:?}");
}

#[test]
fn kubectl_exec_runs_commands_in_containers() {
    let mut host = Host::new("cex");
    let kubeconfig = host.start();
    let layout = busybox_layout(host.dir.path());
    let root = host.data().join("agent");
    let root = root.to_str().expect("utf-8");
    host.clipper(&[
        "image",
        "import",
        layout.to_str().expect("utf-8"),
        "--root",
        root,
    ]);
    let k = host.kubectl(&kubeconfig, "1.33");
    k.ok_stdin(&["apply", "-f", "-"], POD);
    wait_until("pod web Running", POD_LIMIT, POLL, || {
        phase(&k, "web") == "Running"
    });

    exec_works(&k, "1.33");
    exec_works(&host.kubectl(&kubeconfig, "1.30"), "1.30");

    clipper_exec_matches_kubectl(&k, &host.clipper_cli(&kubeconfig));

    // kubectl before 1.30 speaks SPDY (and 1.30+ without WebSockets): the agent serves
    // kubelet's v4.channel.k8s.io over SPDY streams, with the same checks passing.
    exec_works(&host.kubectl(&kubeconfig, "1.27"), "1.27");
    let spdy = k.run_with(
        &[
            "exec",
            "web",
            "--",
            "sh",
            "-c",
            "echo spdy; echo err >&2; exit 3",
        ],
        None,
        &[("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")],
    );
    assert_eq!(
        (spdy.code, spdy.stdout.as_str()),
        (Some(3), "spdy\n"),
        "{:?}",
        spdy.stderr
    );
    assert!(
        spdy.stderr.starts_with("err\n")
            && spdy.stderr.contains("command terminated with exit code 3"),
        "{:?}",
        spdy.stderr
    );

    k.ok(&["delete", "pod", "web", "--wait=true"]);
    host.stop();
}

/// `text` with runc's log timestamps (`time="..."`, second resolution) blanked: the two
/// runs compared may straddle a second.
fn without_times(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("time=\"") {
        out.push_str(&rest[..at]);
        out.push_str("time=\"T\"");
        let after = &rest[at + 6..];
        rest = match after.find('"') {
            Some(end) => &after[end + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}
