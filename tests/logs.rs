//! Container logs end to end: a real `clipper up`, the node agent's log server in this
//! process (over a temporary directory of CRI log files, behind a test `LogSource`) on
//! 127.0.0.1, a Node whose status points at it and pods bound to that node; stock kubectl
//! and `clipper logs` read the logs through the API server (`pods/log`) and print the same
//! lines. The agent refuses clients other than the API server.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use clipper_agent::logs::container_log_path;
use clipper_agent::server::{AgentServer, LocatedLog, LogError, LogSource, ServerConfig};
use common::{Cluster, Kubectl, expect_line};
use tokio::sync::watch;

const WAIT: Duration = Duration::from_secs(30);
const NODE: &str = "logs-node";
const T0: &str = "2024-05-01T10:00:00.5Z";
const T1: &str = "2024-05-01T10:00:01Z";
const T2: &str = "2024-05-01T10:00:02.123456789Z";

/// Log files under a directory in kubelet's layout (the pod's uid is `uid-<pod>`); the
/// container of pod `live` runs until `finished` says otherwise, the others have exited.
struct Files {
    root: PathBuf,
    finished: watch::Receiver<bool>,
    /// Pods this source knows.
    pods: HashSet<String>,
}

impl LogSource for Files {
    fn locate(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        previous: bool,
    ) -> Result<LocatedLog, LogError> {
        if !self.pods.contains(pod) {
            return Err(LogError::NotFound(format!("pod {pod:?} does not exist")));
        }
        if previous {
            return Err(LogError::BadRequest(format!(
                "previous terminated container {container:?} in pod {pod:?} not found"
            )));
        }
        let path = container_log_path(
            &self.root,
            namespace,
            pod,
            &format!("uid-{pod}"),
            container,
            0,
        );
        if !path.exists() {
            return Err(LogError::NotFound(format!(
                "container {container:?} not found in pod {pod:?}"
            )));
        }
        if pod == "live" {
            Ok(LocatedLog {
                path,
                finished: self.finished.clone(),
            })
        } else {
            Ok(LocatedLog::finished(path))
        }
    }
}

fn write_log(root: &Path, pod: &str, container: &str, text: &str) -> PathBuf {
    let path = container_log_path(root, "default", pod, &format!("uid-{pod}"), container, 0);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("log dir");
    std::fs::write(&path, text).expect("log file");
    path
}

fn clipper(cluster: &Cluster) -> Kubectl {
    Kubectl::new(
        PathBuf::from(env!("CARGO_BIN_EXE_clipper")),
        cluster.kubeconfig.clone(),
        cluster.dir.path().join("home-clipper"),
    )
}

/// Runs the same arguments through kubectl and clipper: both succeed and print `stdout`
/// (and the same stderr).
#[track_caller]
fn both_print(k: &Kubectl, c: &Kubectl, args: &[&str], stdout: &str) {
    for tool in [k, c] {
        let r = tool.run(args);
        assert!(r.ok, "{} {args:?} failed: {}", tool.bin.display(), r.stderr);
        assert_eq!(r.stdout, stdout, "{} {args:?}", tool.bin.display());
    }
    assert_eq!(k.run(args).stderr, c.run(args).stderr, "{args:?}: stderr");
}

/// Both fail with exit code 1 and print `stderr`.
#[track_caller]
fn both_fail(k: &Kubectl, c: &Kubectl, args: &[&str], stderr: &str) {
    for tool in [k, c] {
        let r = tool.run(args);
        assert_eq!(
            r.code,
            Some(1),
            "{} {args:?}: {}",
            tool.bin.display(),
            r.stdout
        );
        assert_eq!(
            r.stderr.trim_end(),
            stderr,
            "{} {args:?}",
            tool.bin.display()
        );
    }
}

#[test]
fn kubectl_and_clipper_read_container_logs_through_the_agent() {
    let cluster = Cluster::start();
    let k = cluster.kubectl("default");
    let c = clipper(&cluster);
    let ca_pem =
        String::from_utf8(cluster.kubeconfig_data("certificate-authority-data")).expect("CA PEM");

    // The log files.
    let logs = tempfile::tempdir().expect("logs dir");
    write_log(
        logs.path(),
        "one",
        "c",
        &format!(
            "{T0} stdout F first line\n{T1} stderr P second \n{T1} stderr F line\nnot a CRI line\n{T2} stdout F third line\n"
        ),
    );
    write_log(logs.path(), "two", "a", &format!("{T0} stdout F from a\n"));
    write_log(logs.path(), "two", "b", &format!("{T0} stdout F from b\n"));
    let live = write_log(
        logs.path(),
        "live",
        "c",
        &format!("{T0} stdout F started\n"),
    );

    // The agent's log server, in this process.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (finish, finished) = watch::channel(false);
    let source = Files {
        root: logs.path().to_path_buf(),
        finished,
        pods: ["one", "two", "live"]
            .into_iter()
            .map(String::from)
            .collect(),
    };
    let server = runtime
        .block_on(AgentServer::start(
            ServerConfig {
                listen: "127.0.0.1:0".parse().expect("addr"),
                client_ca_pem: ca_pem,
                serving_names: vec!["127.0.0.1".into()],
            },
            Arc::new(source),
        ))
        .expect("the agent's server starts");
    let port = server.addr().port();

    // Its Node, and pods bound to it.
    k.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            "{{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{{\"name\":\"{NODE}\"}}}}"
        ),
    );
    let status = format!(
        "{{\"status\":{{\"addresses\":[{{\"type\":\"Hostname\",\"address\":\"{NODE}\"}},{{\"type\":\"InternalIP\",\"address\":\"127.0.0.1\"}}],\"daemonEndpoints\":{{\"kubeletEndpoint\":{{\"Port\":{port}}}}}}}}}"
    );
    k.ok(&[
        "patch",
        "node",
        NODE,
        "--subresource=status",
        "--type=merge",
        "-p",
        &status,
    ]);
    let pod = |name: &str, containers: &[&str]| {
        let cs: Vec<String> = containers
            .iter()
            .map(|c| format!("{{\"name\":\"{c}\",\"image\":\"busybox\"}}"))
            .collect();
        format!(
            "{{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{{\"name\":\"{name}\"}},\"spec\":{{\"nodeName\":\"{NODE}\",\"containers\":[{}]}}}}",
            cs.join(",")
        )
    };
    for (name, containers) in [("one", &["c"][..]), ("two", &["a", "b"]), ("live", &["c"])] {
        k.ok_stdin(&["apply", "-f", "-"], &pod(name, containers));
    }
    k.ok_stdin(
        &["apply", "-f", "-"],
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"pending\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}",
    );

    // Whole logs, partial lines joined, malformed lines skipped.
    both_print(
        &k,
        &c,
        &["logs", "one"],
        "first line\nsecond line\nthird line\n",
    );
    both_print(
        &k,
        &c,
        &["logs", "pod/one", "-c", "c"],
        "first line\nsecond line\nthird line\n",
    );
    both_print(
        &k,
        &c,
        &["logs", "one", "--tail=2"],
        "second line\nthird line\n",
    );
    both_print(&k, &c, &["logs", "one", "--tail", "0"], "");
    both_print(
        &k,
        &c,
        &["logs", "one", "--timestamps"],
        &format!("{T0} first line\n{T1} second line\n{T2} third line\n"),
    );
    both_print(
        &k,
        &c,
        &["logs", "one", "--since-time=2024-05-01T10:00:01Z"],
        "second line\nthird line\n",
    );
    both_print(&k, &c, &["logs", "one", "--limit-bytes=8"], "first li");
    both_print(&k, &c, &["logs", "one", "--since=1h"], "");
    // Not scheduled: no content, as kube.
    both_print(&k, &c, &["logs", "pending"], "");

    // Two containers: kubectl picks the first and says so; -c picks another.
    both_print(&k, &c, &["logs", "two"], "from a\n");
    assert_eq!(
        c.run(&["logs", "two"]).stderr,
        "Defaulted container \"a\" out of: a, b\n"
    );
    both_print(&k, &c, &["logs", "two", "-c", "b"], "from b\n");
    both_print(&k, &c, &["logs", "two", "b"], "from b\n");
    // The API server itself requires the container, with kube's message.
    let raw = k.run(&["get", "--raw", "/api/v1/namespaces/default/pods/two/log"]);
    assert!(!raw.ok);
    assert_eq!(
        raw.stderr.trim_end(),
        "Error from server (BadRequest): a container name must be specified for pod two, choose one of: [a b]"
    );
    let raw = k.run(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/pods/one/log?container=zz",
    ]);
    assert_eq!(
        raw.stderr.trim_end(),
        "Error from server (BadRequest): container zz is not valid for pod one"
    );
    let raw = k.run(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/pods/one/log?tailLines=-3",
    ]);
    assert!(
        raw.stderr
            .contains("tailLines: Invalid value: -3: must be greater than or equal to 0"),
        "{}",
        raw.stderr
    );

    // Errors: kubectl's own, the API server's, the agent's.
    both_fail(
        &k,
        &c,
        &["logs", "one", "-c", "nope"],
        "error: container nope is not valid for pod one",
    );
    both_fail(
        &k,
        &c,
        &["logs", "absent"],
        "error: error from server (NotFound): pods \"absent\" not found in namespace \"default\"",
    );
    both_fail(
        &k,
        &c,
        &["logs", "one", "--previous"],
        "Error from server (BadRequest): previous terminated container \"c\" in pod \"one\" not found",
    );
    both_fail(
        &k,
        &c,
        &[
            "logs",
            "one",
            "--since=1h",
            "--since-time=2024-05-01T10:00:01Z",
        ],
        "error: at most one of `sinceTime` or `sinceSeconds` may be specified",
    );

    // Follow: lines as they are appended, until the agent says the container finished.
    let (kubectl_guard, kubectl_lines) = k.spawn_lines(&["logs", "-f", "live"]);
    let (clipper_guard, clipper_lines) = c.spawn_lines(&["logs", "-f", "live", "--timestamps"]);
    expect_line(&kubectl_lines, WAIT, "started (kubectl)", |l| {
        l == "started"
    });
    expect_line(&clipper_lines, WAIT, "started (clipper)", |l| {
        l == format!("{T0} started")
    });
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .expect("append");
    file.write_all(format!("{T1} stdout F more\n").as_bytes())
        .expect("write");
    expect_line(&kubectl_lines, WAIT, "more (kubectl)", |l| l == "more");
    expect_line(&clipper_lines, WAIT, "more (clipper)", |l| {
        l == format!("{T1} more")
    });
    file.write_all(format!("{T2} stdout F done\n").as_bytes())
        .expect("write");
    finish.send(true).expect("finish");
    for (lines, what) in [(&kubectl_lines, "kubectl"), (&clipper_lines, "clipper")] {
        let mut rest = Vec::new();
        // The stream ends: the process exits and its output channel closes.
        loop {
            match lines.recv_timeout(WAIT) {
                Ok(l) => rest.push(l),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(e) => panic!("{what}: the follow did not end: {e}; saw {rest:?}"),
            }
        }
        let last = rest.last().map(String::as_str).unwrap_or_default();
        assert!(last.ends_with("done"), "{what}: {rest:?}");
    }
    drop((kubectl_guard, clipper_guard));

    // The agent answers only the API server: another identity of the cluster CA is
    // forbidden, no certificate is unauthorized.
    let pki = cluster.dir.path().join("pki");
    let ca = clipper_apiserver::auth::pki::CertificateAuthority::from_pem(
        &std::fs::read_to_string(pki.join("ca.crt")).expect("CA cert"),
        &std::fs::read_to_string(pki.join("ca.key")).expect("CA key"),
    )
    .expect("CA");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let jane = ca
        .issue_client_cert("jane", &["developers"], now, 3600)
        .expect("client cert");
    let (cert, key) = (pki.join("jane.crt"), pki.join("jane.key"));
    std::fs::write(&cert, &jane.cert_pem).expect("cert");
    std::fs::write(&key, &jane.key_pem).expect("key");
    let url = format!("https://127.0.0.1:{port}/containerLogs/default/one/c");
    let curl = |extra: &[&Path]| {
        let mut cmd = Command::new("curl");
        cmd.args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"]);
        if let [cert, key] = extra {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        let out = cmd.arg(&url).output().expect("curl runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(curl(&[&cert, &key]), "403");
    assert_eq!(curl(&[]), "401");

    runtime.block_on(server.shutdown());
    cluster.stop();
}
