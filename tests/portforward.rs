//! `kubectl port-forward` end to end: stock kubectl 1.33 (SPDY tunnelled in a WebSocket,
//! `SPDY/3.1+portforward.k8s.io`), kubectl 1.27 (a SPDY upgrade) and `clipper
//! port-forward` (a pod, a named port, a service, a deployment) through the API server to
//! the node agent, which connects inside the pod's network namespace. A busybox `httpd`
//! serves a file; it is fetched through the forwarded local port inside the test's own
//! network namespace (the "host" of a `clipper up`). A port nothing listens on gets
//! kubelet's error on the error stream.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::node::{Host, busybox_layout};
use common::{Kubectl, expect_line, wait_until};

/// How long the pod may take to run (image unpack, runc, CNI on a loaded 2-core machine).
const POD_LIMIT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(250);
/// How long a port-forward may take to announce its listener.
const LISTEN_LIMIT: Duration = Duration::from_secs(30);
/// The file busybox_layout puts in /www.
const INDEX: &str = "hello from a pod\n";

const OBJECTS: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app: web
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports:
    - name: http
      containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - name: web
    port: 80
    targetPort: http
"#;

/// A port-forward process whose stdout and stderr lines arrive on channels; killed on
/// drop.
struct Forward {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Drop for Forward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(from: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Forward {
    fn start(k: &Kubectl, args: &[&str]) -> Forward {
        let mut cmd = k.command(args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("port-forward runs");
        let stdout = lines(child.stdout.take().expect("stdout"));
        let stderr = lines(child.stderr.take().expect("stderr"));
        Forward {
            child,
            stdout,
            stderr,
        }
    }

    /// The local port of the first `Forwarding from 127.0.0.1:L -> R` line, checking R.
    fn local_port(&self, remote: u16) -> u16 {
        let seen = expect_line(&self.stdout, LISTEN_LIMIT, "Forwarding from", |l| {
            l.starts_with("Forwarding from 127.0.0.1:")
        });
        let line = seen.last().expect("a line");
        let rest = line
            .strip_prefix("Forwarding from 127.0.0.1:")
            .expect("prefix");
        let (local, to) = rest.split_once(" -> ").expect("an arrow");
        assert_eq!(to, remote.to_string(), "{line}");
        local.parse().expect("a port")
    }
}

/// GET / through 127.0.0.1:`port` inside the host's namespace (curl): the body,
/// or None when the connection gave nothing.
fn fetch(host: &Host, port: u16) -> Option<String> {
    let out = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", host.ns))
        .args([
            "curl",
            "-sS",
            "--max-time",
            "20",
            &format!("http://127.0.0.1:{port}/index.html"),
        ])
        .output()
        .expect("curl runs");
    if !out.status.success() {
        eprintln!("curl: {}", String::from_utf8_lossy(&out.stderr));
    }
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Forwards `target` `spec` with `k`, fetches twice (two connections over one session)
/// and checks the bytes.
fn forwards(host: &Host, k: &Kubectl, who: &str, target: &str, spec: &str, remote: u16) {
    let f = Forward::start(k, &["port-forward", target, spec]);
    let port = f.local_port(remote);
    for _ in 0..2 {
        let got = fetch(host, port);
        if got.as_deref() != Some(INDEX) {
            let said: Vec<String> =
                std::iter::from_fn(|| f.stderr.recv_timeout(Duration::from_secs(3)).ok()).collect();
            panic!("{who} port-forward {target} {spec}: fetched {got:?}; it said {said:#?}");
        }
    }
}

#[test]
fn port_forward_reaches_a_pods_port() {
    let mut host = Host::new("cpf");
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
    k.ok_stdin(&["apply", "-f", "-"], OBJECTS);
    wait_until("pod web Running", POD_LIMIT, POLL, || {
        k.run(&["get", "pod", "web", "-o", "jsonpath={.status.phase}"])
            .stdout
            == "Running"
    });
    // httpd is up once it answers inside the pod.
    wait_until("httpd answers", POD_LIMIT, POLL, || {
        k.run(&["exec", "web", "--", "wget", "-O-", "http://127.0.0.1:8080/"])
            .stdout
            == INDEX
    });

    // kubectl 1.33: a WebSocket tunnelling SPDY; a random local port.
    forwards(&host, &k, "kubectl 1.33", "pod/web", ":8080", 8080);
    // kubectl 1.27: a SPDY upgrade; a named port.
    let old = host.kubectl(&kubeconfig, "1.27");
    forwards(&host, &old, "kubectl 1.27", "web", ":http", 8080);
    // clipper: a pod, a service (port 80 to its target port, named), a deployment-less
    // selector through the service.
    let clipper = host.clipper_cli(&kubeconfig);
    forwards(&host, &clipper, "clipper", "pod/web", ":8080", 8080);
    forwards(&host, &clipper, "clipper", "svc/web", ":80", 8080);
    forwards(&host, &clipper, "clipper", "web", ":http", 8080);

    // Nothing listens on 9999: the connection closes empty and the error stream carries
    // kubelet's words, which each client prints.
    for (who, client) in [
        ("kubectl 1.33", &k),
        ("kubectl 1.27", &old),
        ("clipper", &clipper),
    ] {
        let f = Forward::start(client, &["port-forward", "web", ":9999"]);
        let port = f.local_port(9999);
        assert_eq!(fetch(&host, port), None, "{who}");
        expect_line(&f.stderr, LISTEN_LIMIT, "the forwarding error", |l| {
            l.contains("error forwarding port 9999 to pod web")
                && l.contains("connect: connection refused")
        });
    }

    // kube's refusals, before any upgrade.
    let err = k.fails(&["port-forward", "missing", ":80"]);
    assert!(err.contains("pods \"missing\" not found"), "{err}");
    let err = clipper.fails(&["port-forward", "svc/web", ":81"]);
    assert!(
        err.contains("Service web does not have a service port 81"),
        "{err}"
    );

    k.ok(&["delete", "pod", "web", "--wait=true"]);
    host.stop();
}
