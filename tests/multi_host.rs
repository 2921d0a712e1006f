//! Two hosts, each a network namespace joined by a veth link: the control plane
//! (`clipper up --no-agent`) on one, `clipper agent` alone on the other, started with the
//! command `clipper join` prints (a bootstrap token and the CA pin: the agent gets its
//! node certificate through a CertificateSigningRequest). The agent registers its node
//! over the link, runs the pod the scheduler binds to it, and the API
//! server reads the pod's log from the agent across the link.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

use common::node::{Host, busybox_layout, sh};
use common::wait_until;

const LIMIT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(250);

/// The agent process, killed on drop if the test fails before stopping it.
struct Agent(Option<Child>);

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn an_agent_on_another_host_joins_and_runs_pods() {
    let mut control = Host::new("cmc");
    let worker = Host::new("cmw");
    // The link: 10.201.0.1 (control) — 10.201.0.2 (worker).
    sh(&format!(
        "ip link add vc netns {c} type veth peer name vw netns {w} && \
         ip -n {c} addr add 10.201.0.1/24 dev vc && ip -n {c} link set vc up && \
         ip -n {w} addr add 10.201.0.2/24 dev vw && ip -n {w} link set vw up",
        c = control.ns,
        w = worker.ns
    ));
    let kubeconfig = control.start_with(&["--listen", "10.201.0.1:0", "--no-agent"]);
    let k = control.kubectl(&kubeconfig, "1.33");

    let root = worker.data().join("agent");
    let layout = busybox_layout(worker.dir.path());
    worker.clipper(&[
        "image",
        "import",
        layout.to_str().expect("utf-8"),
        "--root",
        root.to_str().expect("utf-8"),
    ]);
    // `clipper join` on the control plane prints the command that joins the worker: the
    // advertised address, a new bootstrap token, and the pin of the cluster CA.
    let cli = control.clipper_cli(&kubeconfig);
    let join = cli.ok(&["join"]);
    let words: Vec<&str> = join.split_whitespace().collect();
    assert_eq!(words[..3], ["clipper", "agent", "--server"], "{join}");
    assert!(words[3].starts_with("https://10.201.0.1:"), "{join}");
    assert_eq!(
        (words[4], words[6]),
        ("--token", "--ca-cert-hash"),
        "{join}"
    );
    let (token, pin) = (words[5], words[7]);
    assert!(pin.starts_with("sha256:") && pin.len() == 71, "{join}");
    assert!(
        cli.ok(&["token", "list"]).contains(token),
        "the token is listed"
    );
    let node_kubeconfig = root.join("kubeconfig");
    // A wrong pin: the agent refuses the server before it sends the token.
    let wrong_pin = format!("sha256:{}", "0".repeat(64));
    let refused = worker
        .command()
        .args([
            "agent",
            "--server",
            words[3],
            "--token",
            token,
            "--ca-cert-hash",
        ])
        .arg(&wrong_pin)
        .arg("--root")
        .arg(&root)
        .output()
        .expect("clipper agent runs");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && err.contains("refusing to trust this server"),
        "{err}"
    );
    assert!(!node_kubeconfig.exists(), "nothing written after a refusal");
    let mut child = worker
        .command()
        .args(&words[1..])
        .args([
            "--node-name",
            "worker-1",
            "--pod-cidr",
            "10.244.7.0/24",
            "--node-ip",
            "10.201.0.2",
            "--cluster-dns",
            "10.96.0.10",
            "--root",
        ])
        .arg(&root)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("clipper agent starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut agent = Agent(Some(child));
    // Its lines until the agent's: the proxy's and the DNS's come first.
    let mut lines = BufReader::new(stdout);
    let mut seen = String::new();
    for _ in 0..12 {
        let mut line = String::new();
        if lines.read_line(&mut line).expect("agent output") == 0 {
            break;
        }
        seen.push_str(&line);
        if line.starts_with("clipper: node agent running") {
            break;
        }
    }
    assert!(
        seen.contains("clipper: joining https://10.201.0.1:")
            && seen.contains("clipper: the node's certificate was issued")
            && seen.contains("clipper: service proxy running (node worker-1")
            && seen.contains("clipper: cluster DNS on 10.96.0.10:53")
            && seen.contains("clipper: node agent running (node worker-1, address 10.201.0.2"),
        "{seen}"
    );
    // The rest is drained, so the agent never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));

    // The agent runs as the node, with the certificate the control plane issued for the
    // request it made with the token (auto-approved: the token's group may).
    let node_config = std::fs::read_to_string(&node_kubeconfig).expect("the node's kubeconfig");
    assert!(
        node_config.contains("client-certificate-data"),
        "{node_config}"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&node_kubeconfig)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let csrs = k.json(&["get", "csr"]);
    let csr = &csrs["items"][0];
    assert_eq!(
        csr["spec"]["username"],
        format!("system:bootstrap:{}", &token[..6]),
        "{csr}"
    );
    assert_eq!(
        csr["spec"]["signerName"],
        "kubernetes.io/kube-apiserver-client-kubelet"
    );
    assert_eq!(csr["status"]["conditions"][0]["type"], "Approved", "{csr}");
    assert_eq!(csr["status"]["conditions"][0]["reason"], "AutoApproved");
    let table = k.ok(&["get", "csr"]);
    assert!(table.contains("Approved,Issued"), "{table}");
    wait_until("worker-1 Ready", LIMIT, POLL, || {
        let r = k.run(&[
            "get",
            "node",
            "worker-1",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ]);
        r.ok && r.stdout == "True"
    });
    assert_eq!(
        k.ok(&[
            "get",
            "node",
            "worker-1",
            "-o",
            "jsonpath={.status.addresses[0].address}"
        ]),
        "10.201.0.2"
    );
    k.ok(&[
        "run",
        "hello",
        "--image=busybox",
        "--restart=Never",
        "--",
        "sh",
        "-c",
        "echo hello from $(hostname)",
    ]);
    wait_until("hello Succeeded", LIMIT, POLL, || {
        k.run(&["get", "pod", "hello", "-o", "jsonpath={.status.phase}"])
            .stdout
            == "Succeeded"
    });
    let pod_ip = k.ok(&["get", "pod", "hello", "-o", "jsonpath={.status.podIP}"]);
    assert!(pod_ip.starts_with("10.244.7."), "{pod_ip}");
    assert_eq!(
        k.ok(&["get", "pod", "hello", "-o", "jsonpath={.spec.nodeName}"]),
        "worker-1"
    );
    // The log travels from the worker's agent to the control plane's API server.
    assert_eq!(k.ok(&["logs", "hello"]), "hello from hello\n");

    // The agent's own service proxy and cluster DNS serve the worker's pods: a Service
    // (its EndpointSlice written here: no EndpointSlice controller yet) reached by name.
    k.ok(&[
        "run",
        "web",
        "--image=busybox",
        "--restart=Never",
        "--",
        "httpd",
        "-f",
        "-p",
        "8080",
        "-h",
        "/www",
    ]);
    wait_until("web Running", LIMIT, POLL, || {
        k.run(&["get", "pod", "web", "-o", "jsonpath={.status.phase}"])
            .stdout
            == "Running"
    });
    let web_ip = k.ok(&["get", "pod", "web", "-o", "jsonpath={.status.podIP}"]);
    k.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: websvc\nspec:\n  ports:\n  - {{name: http, port: 80, targetPort: 8080}}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: websvc-1\n  labels: {{kubernetes.io/service-name: websvc}}\naddressType: IPv4\nendpoints:\n- addresses: [\"{web_ip}\"]\n  conditions: {{ready: true}}\nports:\n- {{name: http, port: 8080, protocol: TCP}}\n"
        ),
    );
    k.ok(&[
        "run", "client", "--image=busybox", "--restart=Never", "--", "sh", "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://websvc.default.svc.cluster.local/ && exit 0; sleep 1; done; exit 1",
    ]);
    wait_until("client done", LIMIT, POLL, || {
        let phase = k
            .run(&["get", "pod", "client", "-o", "jsonpath={.status.phase}"])
            .stdout;
        phase == "Succeeded" || phase == "Failed"
    });
    assert_eq!(
        k.ok(&["logs", "client"]),
        "hello from a pod\n",
        "the worker's proxy and DNS serve websvc"
    );
    k.ok(&[
        "delete",
        "pod",
        "web",
        "client",
        "--grace-period=1",
        "--wait=true",
        "--timeout=60s",
    ]);
    k.ok(&["delete", "pod", "hello", "--wait=true", "--timeout=60s"]);
    // A finished pod leaves the API at once; the agent then removes its container.
    let runc_root = root.join("runc");
    wait_until("the worker's container removed", LIMIT, POLL, || {
        sh(&format!("runc --root {} list -q", runc_root.display()))
            .trim()
            .is_empty()
    });

    // SIGTERM stops the agent cleanly.
    if let Some(child) = agent.0.take() {
        common::stop(child);
    }
    control.stop();
}
