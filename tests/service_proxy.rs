//! The service proxy inside `clipper up`, end to end, on a node made of network
//! namespaces this test creates (nothing touches the host's network):
//!
//! ```text
//!   client ns ──veth── node ns (clipper up: API server, scheduler, proxy) ──veth── pod-a ns
//!   outside ns ──veth──┘            ClusterIPs on the clipper0 link    └──veth── pod-b ns
//! ```
//!
//! Services and EndpointSlices are written with kubectl (no node agent exists yet, so the
//! "pods" are namespaces running busybox httpd and the slices are written by hand, as an
//! EndpointSlice controller would). A client reaches the Service by ClusterIP, the
//! NodePort is reached from outside the node, the Service resolves through the cluster
//! DNS (a pod's resolv.conf in the client's namespace), UDP goes through, ClientIP
//! affinity holds, endpoints change under load without a failed request, and the
//! ClusterIP leaves the node with its Service and the link with `clipper up`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{Kubectl, kubectl_binary, stop, wait_until_serving};

/// Requests of the load that runs while endpoints change.
const CHURN_REQUESTS: usize = 150;
/// Endpoint changes made while that load runs.
const CHURN_UPDATES: usize = 12;
/// Attempts to observe a table change through requests (each bounded by curl's -m).
const CONVERGE_ATTEMPTS: usize = 100;

fn sh(cmd: &str) {
    let out = Command::new("sh")
        .args(["-c", cmd])
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{cmd}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `clipper up` inside the node's namespace, killed on drop.
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The namespaces and the processes in them; everything is removed on drop.
struct Topology {
    tag: String,
    dir: tempfile::TempDir,
    backends: Vec<Child>,
}

impl Topology {
    fn ns(&self, role: &str) -> String {
        format!("cpx{}-{role}", self.tag)
    }

    fn new() -> Topology {
        let t = Topology {
            tag: std::process::id().to_string(),
            dir: tempfile::tempdir().expect("tempdir"),
            backends: Vec::new(),
        };
        for role in ["node", "client", "out", "pa", "pb"] {
            let ns = t.ns(role);
            sh(&format!(
                "ip netns del {ns} 2>/dev/null; ip netns add {ns} && ip -n {ns} link set lo up"
            ));
        }
        let node = t.ns("node");
        // (peer role, node-side address, peer address, peer gets a default route)
        for (role, node_ip, peer_ip) in [
            ("pa", "10.200.1.1", "10.200.1.2"),
            ("pb", "10.200.2.1", "10.200.2.2"),
            ("client", "10.200.3.1", "10.200.3.2"),
            ("out", "192.168.77.1", "192.168.77.2"),
        ] {
            let peer = t.ns(role);
            sh(&format!(
                "ip link add v{role} netns {node} type veth peer name eth0 netns {peer} && \
                 ip -n {node} addr add {node_ip}/30 dev v{role} && ip -n {node} link set v{role} up && \
                 ip -n {peer} addr add {peer_ip}/30 dev eth0 && ip -n {peer} link set eth0 up"
            ));
            if role != "out" {
                sh(&format!("ip -n {peer} route add default via {node_ip}"));
            }
        }
        t
    }

    /// busybox httpd in `role`'s namespace answering `/` with the role's name.
    fn start_backend(&mut self, role: &str) {
        let root = self.dir.path().join(role);
        std::fs::create_dir_all(&root).expect("mkdir");
        std::fs::write(root.join("index.html"), format!("pod-{role}\n")).expect("write");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns(role),
                "busybox",
                "httpd",
                "-f",
                "-p",
                "8080",
                "-h",
            ])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("busybox httpd starts");
        self.backends.push(child);
    }

    /// A UDP echo in `role`'s namespace on port 5353 answering `<role>:<datagram>`, for at
    /// most a bounded number of datagrams.
    fn start_udp_backend(&mut self, role: &str) {
        let script = format!(
            "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',5353))\nfor _ in range(1000):\n    d,a=s.recvfrom(2048)\n    s.sendto(b'{role}:'+d,a)\n"
        );
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(role), "python3", "-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 starts");
        self.backends.push(child);
    }

    /// A TCP server in `role`'s namespace on port 9000 answering each connection with the
    /// peer address it sees (what a backend learns of its client), for a bounded number
    /// of connections.
    fn start_whoami(&mut self, role: &str) {
        let script = "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',9000))\ns.listen(64)\nfor _ in range(1000):\n    c,a=s.accept()\n    c.sendall(('HTTP/1.0 200 OK\\r\\n\\r\\n'+a[0]+'\\n').encode())\n    c.close()\n";
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(role), "python3", "-c", script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 starts");
        self.backends.push(child);
    }

    /// One datagram from `role`'s namespace to `addr`; the answer, or None after 2 s.
    fn udp(&self, role: &str, addr: &str, payload: &str) -> Option<String> {
        let (host, port) = addr.rsplit_once(':').expect("host:port");
        let script = format!(
            "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(2)\ns.sendto(b'{payload}',('{host}',{port}))\nprint(s.recv(2048).decode())\n"
        );
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns(role), "python3", "-c", &script])
            .output()
            .expect("python3 runs");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// One HTTP GET from `role`'s namespace; the body, or None if it failed.
    fn get(&self, role: &str, url: &str) -> Option<String> {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns(role),
                "curl",
                "-sS",
                "-m",
                "5",
                url,
            ])
            .output()
            .expect("curl runs");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Gives `role`'s namespace a resolv.conf (`ip netns exec` mounts
    /// /etc/netns/<ns>/resolv.conf over /etc/resolv.conf), as the node agent writes one
    /// for a pod with dnsPolicy ClusterFirst.
    fn resolv_conf(&self, role: &str, text: &str) {
        let dir = format!("/etc/netns/{}", self.ns(role));
        std::fs::create_dir_all(&dir).expect("mkdir /etc/netns/...");
        std::fs::write(format!("{dir}/resolv.conf"), text).expect("write resolv.conf");
    }

    /// `getent hosts name` in `role`'s namespace: the addresses, or None.
    fn resolve(&self, role: &str, name: &str) -> Option<String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns(role), "getent", "hosts", name])
            .output()
            .expect("getent runs");
        out.status.success().then(|| {
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string()
        })
    }

    /// A kubectl that runs inside the node's namespace.
    fn kubectl(&self, kubeconfig: &Path) -> Kubectl {
        let wrapper = self.dir.path().join("kubectl-in-node");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec ip netns exec {} {} \"$@\"\n",
                self.ns("node"),
                kubectl_binary("1.33").display()
            ),
        )
        .expect("write wrapper");
        sh(&format!("chmod +x {}", wrapper.display()));
        Kubectl::new(
            wrapper,
            kubeconfig.to_path_buf(),
            self.dir.path().join("home"),
        )
    }

    fn links(&self) -> String {
        let out = Command::new("ip")
            .args(["-n", &self.ns("node"), "-o", "addr", "show"])
            .output()
            .expect("ip runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for c in &mut self.backends {
            let _ = c.kill();
            let _ = c.wait();
        }
        for role in ["node", "client", "out", "pa", "pb"] {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(role)])
                .status();
            let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.ns(role)));
        }
    }
}

fn slice(name: &str, service: &str, endpoints: &[(&str, &str)]) -> String {
    let eps: String = endpoints
        .iter()
        .map(|(ip, state)| {
            let c = match *state {
                "ready" => "{ready: true, serving: true, terminating: false}",
                "terminating" => "{ready: false, serving: true, terminating: true}",
                other => panic!("state {other}"),
            };
            format!("- addresses: [\"{ip}\"]\n  conditions: {c}\n  nodeName: node-1\n")
        })
        .collect();
    format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {name}\n  namespace: default\n  labels: {{kubernetes.io/service-name: {service}}}\naddressType: IPv4\nports:\n- {{name: http, port: 8080, protocol: TCP}}\nendpoints:\n{}",
        if eps.is_empty() {
            "[]\n".to_string()
        } else {
            eps
        }
    )
}

const SERVICES: &str = "\
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: default}
spec:
  ports: [{name: dns, port: 53, targetPort: 5353, protocol: UDP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: dns-1
  namespace: default
  labels: {kubernetes.io/service-name: dns}
addressType: IPv4
ports: [{name: dns, port: 5353, protocol: UDP}]
endpoints: [{addresses: [\"10.200.1.2\"]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: sticky, namespace: default}
spec:
  sessionAffinity: ClientIP
  ports: [{name: http, port: 80, targetPort: 8080}]
";

/// Requests until one answers with a body satisfying `want` (the proxy applies a change
/// asynchronously; each request is the observation). Returns the bodies seen.
fn until(
    t: &Topology,
    role: &str,
    url: &str,
    what: &str,
    mut want: impl FnMut(&str) -> bool,
) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..CONVERGE_ATTEMPTS {
        let body = t.get(role, url).unwrap_or_else(|| "<failed>".into());
        let done = want(&body);
        seen.push(body);
        if done {
            return seen;
        }
    }
    panic!("{what}: not seen in {CONVERGE_ATTEMPTS} requests; saw {seen:?}");
}

#[test]
fn services_are_reachable_by_cluster_ip_and_node_port_through_the_proxy() {
    let mut t = Topology::new();
    t.start_backend("pa");
    t.start_backend("pb");
    t.start_udp_backend("pa");
    t.start_whoami("pa");
    t.start_whoami("pb");

    let data: PathBuf = t.dir.path().join("data");
    let mut child = Command::new("ip")
        .args(["netns", "exec", &t.ns("node")])
        .arg(env!("CARGO_BIN_EXE_clipper"))
        .args([
            "up",
            "--listen",
            "127.0.0.1:0",
            // Endpoints here are namespaces the test made, not pods.
            "--no-agent",
            "--node-name",
            "node-1",
            "--data-dir",
        ])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("clipper up starts");
    let kubeconfig = PathBuf::from(wait_until_serving(&mut child));
    // Killed if an assertion fails before the orderly stop at the end.
    let mut up = KillOnDrop(Some(child));
    let k = t.kubectl(&kubeconfig);

    k.ok_stdin(&["apply", "-f", "-"], SERVICES);
    let both = [("10.200.1.2", "ready"), ("10.200.2.2", "ready")];
    k.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            "{}---\n{}",
            slice("web-1", "web", &both),
            slice("sticky-1", "sticky", &both)
        ),
    );
    let ip = k.ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    let sticky_ip = k.ok(&["get", "svc", "sticky", "-o", "jsonpath={.spec.clusterIP}"]);
    let web = format!("http://{ip}/");

    // By ClusterIP from the client: both backends answer, round robin.
    let seen = until(&t, "client", &web, "pod-a through the ClusterIP", |b| {
        b == "pod-pa"
    });
    assert!(
        seen.iter().all(|b| b == "pod-pa" || b == "pod-pb"),
        "{seen:?}"
    );
    until(&t, "client", &web, "pod-b through the ClusterIP", |b| {
        b == "pod-pb"
    });
    assert!(
        t.links().contains(&format!("clipper0    inet {ip}/32")),
        "the ClusterIP is a local address on clipper0: {}",
        t.links()
    );

    // The NodePort, from outside the node.
    let body = t.get("out", "http://192.168.77.1:30080/");
    assert!(
        matches!(body.as_deref(), Some("pod-pa" | "pod-pb")),
        "NodePort from outside: {body:?}"
    );

    // By DNS name, through the cluster DNS on 10.96.0.10 with a pod's resolv.conf: the
    // short name through the search path, and the full name.
    t.resolv_conf(
        "client",
        &clipper_dns::pod_resolv_conf(
            "default",
            "10.96.0.10".parse().unwrap(),
            "cluster.local",
            &[] as &[&str],
        ),
    );
    assert_eq!(
        k.ok(&[
            "get",
            "svc",
            "kube-dns",
            "-n",
            "kube-system",
            "-o",
            "jsonpath={.spec.clusterIP}"
        ]),
        "10.96.0.10"
    );
    assert_eq!(
        t.resolve("client", "web.default.svc.cluster.local")
            .as_deref(),
        Some(ip.as_str())
    );
    let body = t.get("client", "http://web/");
    assert!(
        matches!(body.as_deref(), Some("pod-pa" | "pod-pb")),
        "http://web/ by its short name: {body:?}"
    );
    assert_eq!(
        t.resolve("client", "nope.default.svc.cluster.local"),
        None,
        "NXDOMAIN"
    );

    // The client's source address is kept towards an endpoint on this node (its replies
    // route back through the node); an endpoint elsewhere sees the node's address.
    k.ok_stdin(
        &["apply", "-f", "-"],
        &["local", "remote"]
            .map(|w| {
                // (A pod address is on one node: the remote endpoint is pod-b's.)
                let (node, addr) = if w == "local" {
                    ("node-1", "10.200.1.2")
                } else {
                    ("node-2", "10.200.2.2")
                };
                format!(
                    "apiVersion: v1\nkind: Service\nmetadata: {{name: who-{w}, namespace: default}}\nspec:\n  ports: [{{name: http, port: 80, targetPort: 9000}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: who-{w}-1\n  namespace: default\n  labels: {{kubernetes.io/service-name: who-{w}}}\naddressType: IPv4\nports: [{{name: http, port: 9000, protocol: TCP}}]\nendpoints: [{{addresses: [\"{addr}\"], nodeName: {node}}}]\n---\n"
                )
            })
            .concat(),
    );
    for (w, seen_as) in [("local", "10.200.3.2"), ("remote", "10.200.2.1")] {
        let who = k.ok(&[
            "get",
            "svc",
            &format!("who-{w}"),
            "-o",
            "jsonpath={.spec.clusterIP}",
        ]);
        let seen = until(
            &t,
            "client",
            &format!("http://{who}/"),
            &format!("who-{w}"),
            |b| b.starts_with("10."),
        );
        assert_eq!(
            seen.last().map(String::as_str),
            Some(seen_as),
            "{w} endpoint sees"
        );
    }

    // UDP through the ClusterIP.
    let dns_ip = k.ok(&["get", "svc", "dns", "-o", "jsonpath={.spec.clusterIP}"]);
    let mut answer = None;
    for _ in 0..CONVERGE_ATTEMPTS {
        answer = t.udp("client", &format!("{dns_ip}:53"), "hello");
        if answer.is_some() {
            break;
        }
    }
    assert_eq!(answer.as_deref(), Some("pa:hello"), "UDP through the proxy");

    // ClientIP affinity: one client keeps its backend.
    let sticky = format!("http://{sticky_ip}/");
    let first = until(&t, "client", &sticky, "the sticky service", |b| {
        b.starts_with("pod-")
    });
    let first = first.last().cloned().unwrap_or_default();
    for _ in 0..10 {
        assert_eq!(
            t.get("client", &sticky).as_deref(),
            Some(first.as_str()),
            "affinity"
        );
    }

    // A terminating endpoint gets no new connections while a ready one exists.
    k.ok_stdin(
        &["apply", "-f", "-"],
        &slice(
            "web-1",
            "web",
            &[("10.200.1.2", "terminating"), ("10.200.2.2", "ready")],
        ),
    );
    let mut only_b = 0;
    until(
        &t,
        "client",
        &web,
        "pod-b alone after pod-a terminates",
        |b| {
            only_b = if b == "pod-pb" { only_b + 1 } else { 0 };
            only_b >= 8
        },
    );

    // Churn under load: the endpoints change over and over while a client keeps asking.
    let load = {
        let ns = t.ns("client");
        let url = web.clone();
        std::thread::spawn(move || {
            let mut failed = Vec::new();
            for i in 0..CHURN_REQUESTS {
                let out = Command::new("ip")
                    .args(["netns", "exec", &ns, "curl", "-sS", "-m", "5", &url])
                    .output()
                    .expect("curl runs");
                let body = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if !out.status.success() || !(body == "pod-pa" || body == "pod-pb") {
                    failed.push(format!(
                        "request {i}: {body} {}",
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
            }
            failed
        })
    };
    let states: [&[(&str, &str)]; 3] = [
        &[("10.200.1.2", "ready")],
        &[("10.200.2.2", "ready"), ("10.200.1.2", "terminating")],
        &[("10.200.1.2", "ready"), ("10.200.2.2", "ready")],
    ];
    for i in 0..CHURN_UPDATES {
        k.ok_stdin(
            &["apply", "-f", "-"],
            &slice("web-1", "web", states[i % states.len()]),
        );
    }
    let failed = load.join().expect("load thread");
    assert!(
        failed.is_empty(),
        "failed requests during churn: {failed:?}"
    );

    // `clipper proxy stats` inside the node reads the proxy's /metrics.
    let out = Command::new("ip")
        .args(["netns", "exec", &t.ns("node")])
        .arg(env!("CARGO_BIN_EXE_clipper"))
        .args(["proxy", "stats"])
        .output()
        .expect("clipper proxy stats runs");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{table}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = table
        .lines()
        .find(|l| l.starts_with(&format!("default/web:http/{ip}:80 ")))
        .unwrap_or_else(|| panic!("a row for the web ClusterIP: {table}"));
    let accepted: u64 = row
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(accepted >= CHURN_REQUESTS as u64, "{table}");

    // The Service goes: its ClusterIP leaves the node and nothing answers there.
    k.ok(&["delete", "svc", "web"]);
    until(
        &t,
        "client",
        &web,
        "the deleted Service stops answering",
        |b| b == "<failed>",
    );
    assert!(
        !t.links().contains(&format!("inet {ip}/32")),
        "{}",
        t.links()
    );

    // Stopping clipper removes the link and the return path for kept source addresses.
    stop(up.0.take().expect("clipper up still running"));
    assert!(!t.links().contains("clipper0"), "{}", t.links());
    let tables = Command::new("ip")
        .args(["netns", "exec", &t.ns("node"), "nft", "list", "tables"])
        .output()
        .expect("nft runs");
    let tables = String::from_utf8_lossy(&tables.stdout);
    assert!(!tables.contains("clipper_tproxy"), "{tables}");
}
