//! The node agent end to end, as a user meets it: `clipper up` (in a network namespace of
//! the test's own, standing in for the host) registers its node; an image imported with
//! `clipper image import`; pods created with stock kubectl run in runc containers on the
//! CNI bridge, reach each other and the cluster DNS, report their status, restart as
//! their policy says, serve their logs, and are stopped and removed on deletion; and a
//! restart of `clipper up` adopts the running containers instead of starting them again.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Kubectl, kubectl_binary, wait_until, wait_until_serving};

/// How long a pod may take to reach a state (image unpack, runc, CNI on a loaded 2-core
/// machine).
const POD_LIMIT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(250);

fn sh(cmd: &str) -> String {
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
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An OCI image layout holding busybox: one gzip layer with /bin/busybox and a symlink
/// per applet, /etc/passwd, and a config whose Cmd is `sh`.
fn busybox_layout(dir: &Path) -> PathBuf {
    let layout = dir.join("busybox-layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("layout dirs");
    let list = Command::new("/usr/bin/busybox")
        .arg("--list")
        .output()
        .expect("busybox --list");
    let applets = String::from_utf8_lossy(&list.stdout).into_owned();
    let mut tar = tar::Builder::new(Vec::new());
    let mut dir_header = |path: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_cksum();
        tar.append_data(&mut h, path, std::io::empty())
            .expect("dir entry");
    };
    for d in ["bin", "etc", "tmp", "www"] {
        dir_header(d);
    }
    let busybox = std::fs::read("/usr/bin/busybox").expect("busybox-static");
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(busybox.len() as u64);
    h.set_cksum();
    tar.append_data(&mut h, "bin/busybox", busybox.as_slice())
        .expect("busybox entry");
    for applet in applets.lines().map(str::trim).filter(|a| !a.is_empty()) {
        if applet == "busybox" {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        tar.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .expect("applet link");
    }
    for (path, text) in [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        ),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
        ("www/index.html", "hello from a pod\n"),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(text.len() as u64);
        h.set_cksum();
        tar.append_data(&mut h, path, text.as_bytes())
            .expect("file entry");
    }
    let raw = tar.into_inner().expect("tar");
    let diff_id = sha256_hex(&raw);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).expect("gzip");
    let layer = gz.finish().expect("gzip");
    let blob = |bytes: &[u8]| -> (String, usize) {
        let hex = sha256_hex(bytes);
        std::fs::write(blobs.join(&hex), bytes).expect("blob");
        (format!("sha256:{hex}"), bytes.len())
    };
    let (layer_digest, layer_size) = blob(&layer);
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
        },
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{diff_id}")] },
    });
    let (config_digest, config_size) = blob(&serde_json::to_vec(&config).expect("json"));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest, "size": config_size,
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layer_digest, "size": layer_size,
        }],
    });
    let (manifest_digest, manifest_size) = blob(&serde_json::to_vec(&manifest).expect("json"));
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest_size,
            "annotations": { "org.opencontainers.image.ref.name": "busybox:latest" },
        }],
    });
    std::fs::write(layout.join("index.json"), index.to_string()).expect("index");
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");
    layout
}

/// The test's "host": a network namespace with loopback, removed on drop with what
/// `clipper up` left in it.
struct Host {
    ns: String,
    dir: tempfile::TempDir,
    up: Option<Child>,
}

impl Host {
    fn new() -> Host {
        let ns = format!("cag{}", std::process::id());
        sh(&format!(
            "ip netns del {ns} 2>/dev/null; ip netns add {ns} && ip -n {ns} link set lo up"
        ));
        Host {
            ns,
            dir: tempfile::tempdir().expect("tempdir"),
            up: None,
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `nsenter` into the namespace's network only: `ip netns exec` would also remount
    /// /sys, hiding the cgroup mounts runc needs.
    fn command(&self) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.ns));
        c.arg(env!("CARGO_BIN_EXE_clipper"));
        c
    }

    /// `clipper up` in the namespace; returns the kubeconfig.
    fn start(&mut self) -> PathBuf {
        let mut child = self
            .command()
            .args([
                "up",
                "--listen",
                "127.0.0.1:0",
                "--node-name",
                "node-1",
                "--data-dir",
            ])
            .arg(self.data())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("clipper up starts");
        let kubeconfig = PathBuf::from(wait_until_serving(&mut child));
        self.up = Some(child);
        kubeconfig
    }

    /// SIGTERM and a clean exit.
    fn stop(&mut self) {
        if let Some(child) = self.up.take() {
            common::stop(child);
        }
    }

    fn kubectl(&self, kubeconfig: &Path) -> Kubectl {
        let wrapper = self.dir.path().join("kubectl-in-host");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec ip netns exec {} {} \"$@\"\n",
                self.ns,
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

    fn clipper(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().expect("clipper runs");
        assert!(
            out.status.success(),
            "clipper {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut c) = self.up.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Containers and pod namespaces the agent left (the test failed midway).
        let agent = self.data().join("agent");
        let _ = Command::new("sh")
            .args([
                "-c",
                &format!(
                    "for c in $(runc --root {root} list -q 2>/dev/null); do runc --root {root} delete -f $c; done; \
                     grep ' {dir}' /proc/self/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l; \
                     for n in $(ls {cni}/records 2>/dev/null); do ip netns del clipper-$n 2>/dev/null; done; \
                     ip netns del {ns}",
                    root = agent.join("runc").display(),
                    dir = self.dir.path().display(),
                    cni = agent.join("cni").display(),
                    ns = self.ns
                ),
            ])
            .status();
    }
}

fn jsonpath(k: &Kubectl, pod: &str, path: &str) -> String {
    let r = k.run(&["get", "pod", pod, "-o", &format!("jsonpath={path}")]);
    if r.ok { r.stdout } else { String::new() }
}

fn wait_phase(k: &Kubectl, pod: &str, phase: &str) {
    wait_until(&format!("pod {pod} {phase}"), POD_LIMIT, POLL, || {
        jsonpath(k, pod, "{.status.phase}") == phase
    });
}

const PODS: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  greeting: hello-from-a-configmap
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - name: httpd
    image: busybox
    command: ["sh", "-c", "echo serving as $(hostname); exec httpd -f -v -p 8080 -h /www"]
    ports:
    - {name: http, containerPort: 8080}
    readinessProbe:
      httpGet: {path: /index.html, port: http}
      periodSeconds: 1
    volumeMounts:
    - {name: conf, mountPath: /conf}
  volumes:
  - name: conf
    configMap: {name: settings}
---
apiVersion: v1
kind: Pod
metadata:
  name: once
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    env:
    - name: GREETING
      valueFrom: {configMapKeyRef: {name: settings, key: greeting}}
    - name: MY_POD
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    command: ["sh", "-c", "echo $GREETING from $(MY_POD); cat /etc/resolv.conf; echo bye >&2; exit 3"]
---
apiVersion: v1
kind: Pod
metadata:
  name: probed
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "touch /tmp/healthy; sleep 2; rm /tmp/healthy; exec sleep 1000"]
    livenessProbe:
      exec: {command: ["cat", "/tmp/healthy"]}
      periodSeconds: 1
      failureThreshold: 1
    readinessProbe:
      tcpSocket: {port: 9999}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: crasher
spec:
  restartPolicy: Always
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo attempt; exit 1"]
"#;

#[test]
fn pods_run_in_containers_report_status_serve_logs_and_survive_an_agent_restart() {
    let mut host = Host::new();
    let kubeconfig = host.start();
    let k = host.kubectl(&kubeconfig);

    // The agent registered its node, Ready, with the pod range it was given.
    wait_until("node-1 Ready", POD_LIMIT, POLL, || {
        let r = k.run(&[
            "get",
            "node",
            "node-1",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ]);
        r.ok && r.stdout == "True"
    });
    assert_eq!(
        k.ok(&["get", "node", "node-1", "-o", "jsonpath={.spec.podCIDR}"]),
        "10.244.0.0/24"
    );

    let layout = busybox_layout(host.dir.path());
    let root = host.data().join("agent");
    let root = root.to_str().expect("utf-8");
    let imported = host.clipper(&[
        "image",
        "import",
        layout.to_str().expect("utf-8"),
        "--root",
        root,
    ]);
    assert!(
        imported.contains("docker.io/library/busybox:latest"),
        "{imported}"
    );
    let listed = host.clipper(&["image", "ls", "--root", root]);
    assert!(
        listed.contains("docker.io/library/busybox:latest"),
        "{listed}"
    );

    k.ok_stdin(&["apply", "-f", "-"], PODS);

    // A long-running pod: Running, an address from the node's range, ready.
    wait_phase(&k, "web", "Running");
    let web_ip = jsonpath(&k, "web", "{.status.podIP}");
    assert!(web_ip.starts_with("10.244.0."), "pod IP {web_ip:?}");
    assert_eq!(
        jsonpath(
            &k,
            "web",
            "{.status.conditions[?(@.type==\"Ready\")].status}"
        ),
        "True"
    );
    assert_eq!(
        jsonpath(&k, "web", "{.status.containerStatuses[0].containerID}")
            .split("://")
            .next(),
        Some("runc")
    );

    // Another pod reaches it over the pod network, and through a Service in front of it
    // (the service proxy, by ClusterIP and by DNS name), and resolves the API server's
    // Service through the cluster DNS. The Service's EndpointSlice is written here
    // (Clipper has no EndpointSlice controller yet), naming the pod.
    k.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: websvc\nspec:\n  selector: {{app: web}}\n  ports:\n  - {{name: http, port: 80, targetPort: 8080}}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: websvc-1\n  labels: {{kubernetes.io/service-name: websvc}}\naddressType: IPv4\nendpoints:\n- addresses: [\"{web_ip}\"]\n  conditions: {{ready: true}}\nports:\n- {{name: http, port: 8080, protocol: TCP}}\n"
        ),
    );
    let svc_ip = k.ok(&["get", "svc", "websvc", "-o", "jsonpath={.spec.clusterIP}"]);
    let script = format!(
        "wget -qO- http://{web_ip}:8080/ && nslookup kubernetes.default.svc.cluster.local && nslookup websvc.default.svc.cluster.local && echo via-cluster-ip: $(wget -qO- http://{svc_ip}/) && echo via-dns: $(wget -qO- http://websvc.default.svc.cluster.local/)"
    );
    k.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: client\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n    command: [\"sh\", \"-c\", {script:?}]\n"
        ),
    );
    wait_phase(&k, "client", "Succeeded");
    let client_logs = k.ok(&["logs", "client"]);
    assert!(
        client_logs.contains("hello from a pod"),
        "pod-to-pod HTTP: {client_logs}"
    );
    assert!(
        client_logs.contains(&format!("Address: {svc_ip}"))
            && client_logs.contains("via-cluster-ip: hello from a pod")
            && client_logs.contains("via-dns: hello from a pod"),
        "a pod reaches a Service by its ClusterIP and its DNS name: {client_logs}"
    );
    let api_ip = k.ok(&[
        "get",
        "svc",
        "kubernetes",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    assert!(
        client_logs.contains(&api_ip),
        "the cluster DNS answers kubernetes.default with {api_ip}: {client_logs}"
    );

    // A pod that fails once, with restartPolicy Never: Failed, exit code 3, its output in
    // the log; its environment came from a ConfigMap and the downward API, and its
    // resolv.conf points at the cluster DNS.
    wait_phase(&k, "once", "Failed");
    assert_eq!(
        jsonpath(
            &k,
            "once",
            "{.status.containerStatuses[0].state.terminated.exitCode}"
        ),
        "3"
    );
    let logs = k.ok(&["logs", "once"]);
    assert!(
        logs.contains("hello-from-a-configmap from once"),
        "env from a ConfigMap and fieldRef: {logs}"
    );
    assert!(logs.contains("bye"), "stderr is in the log: {logs}");
    assert!(logs.contains("nameserver 10.96.0.10"), "{logs}");
    assert!(logs.contains("search default.svc.cluster.local"), "{logs}");

    // A crashing container restarts, then backs off.
    wait_until("crasher restarted", POD_LIMIT, POLL, || {
        jsonpath(&k, "crasher", "{.status.containerStatuses[0].restartCount}")
            .parse::<u32>()
            .is_ok_and(|n| n >= 1)
    });
    wait_until("crasher backing off", POD_LIMIT, POLL, || {
        jsonpath(
            &k,
            "crasher",
            "{.status.containerStatuses[0].state.waiting.reason}",
        ) == "CrashLoopBackOff"
    });
    let previous = k.ok(&["logs", "crasher", "--previous"]);
    assert_eq!(previous.trim(), "attempt");

    // Probes: a failing liveness probe restarts the container; a readiness probe on a
    // closed port keeps the pod not ready while it runs.
    wait_until(
        "probed restarted by its liveness probe",
        POD_LIMIT,
        POLL,
        || {
            jsonpath(&k, "probed", "{.status.containerStatuses[0].restartCount}")
                .parse::<u32>()
                .is_ok_and(|n| n >= 1)
        },
    );
    assert_eq!(
        jsonpath(&k, "probed", "{.status.containerStatuses[0].ready}"),
        "false"
    );
    let events = k.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=probed",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(
        events.contains("Liveness probe failed") && events.contains("Readiness probe failed"),
        "{events}"
    );

    // The web pod's log, and the container id to compare after the restart.
    let web_logs = k.ok(&["logs", "web"]);
    assert!(web_logs.contains("serving as web"), "{web_logs}");
    let web_container = jsonpath(&k, "web", "{.status.containerStatuses[0].containerID}");

    // Restarting clipper up keeps the running container: same id, no restart.
    host.stop();
    let kubeconfig = host.start();
    let k = host.kubectl(&kubeconfig);
    wait_phase(&k, "web", "Running");
    assert_eq!(
        jsonpath(&k, "web", "{.status.containerStatuses[0].containerID}"),
        web_container,
        "the restarted agent adopts the container"
    );
    assert_eq!(
        jsonpath(&k, "web", "{.status.containerStatuses[0].restartCount}"),
        "0"
    );

    // Deleting stops the containers within the grace period and removes the pod; its
    // network namespace goes.
    k.ok(&[
        "delete",
        "pod",
        "web",
        "once",
        "client",
        "crasher",
        "probed",
        "--wait=true",
        "--timeout=60s",
    ]);
    let left = k.ok(&["get", "pods", "-o", "name"]);
    assert!(left.trim().is_empty(), "every pod is gone: {left}");
    let runc_root = host.data().join("agent").join("runc");
    let containers = sh(&format!(
        "runc --root {} list -q 2>/dev/null || true",
        runc_root.display()
    ));
    assert!(
        containers.trim().is_empty(),
        "no container left: {containers}"
    );
    host.stop();
}
