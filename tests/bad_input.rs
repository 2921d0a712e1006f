//! Bad input against a real `clipper up`, over real TLS with curl: every mistake gets a
//! Kubernetes `Status` with the code and reason kube-apiserver gives, nothing is written,
//! and garbage on the socket never takes the server down.

mod common;

use common::Cluster;
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

struct Client {
    server: String,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

struct Reply {
    code: u16,
    body: String,
    headers: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("a JSON body ({e}): {}", self.body))
    }

    /// Asserts a Status with this code and reason; returns it.
    #[track_caller]
    fn status(&self, code: u16, reason: &str) -> Value {
        assert_eq!(self.code, code, "HTTP status; body: {}", self.body);
        let s = self.json();
        assert_eq!(s["kind"], "Status", "{s}");
        assert_eq!(s["status"], "Failure", "{s}");
        assert_eq!(s["code"], code, "{s}");
        assert_eq!(s["reason"], reason, "{s}");
        s
    }
}

impl Client {
    fn new(cluster: &Cluster) -> Client {
        let dir = cluster.dir.path();
        let cert = dir.join("admin-for-tests.crt");
        let key = dir.join("admin-for-tests.key");
        std::fs::write(&cert, cluster.kubeconfig_data("client-certificate-data"))
            .expect("write cert");
        std::fs::write(&key, cluster.kubeconfig_data("client-key-data")).expect("write key");
        Client {
            server: cluster.server.clone(),
            ca: cluster.ca_file(),
            cert,
            key,
        }
    }

    /// One request; `auth`: use the admin certificate. The body goes through stdin.
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[&str],
        body: Option<&[u8]>,
        auth: bool,
    ) -> Reply {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "30", "-X", method, "-D", "-"])
            .arg("--cacert")
            .arg(&self.ca);
        if auth {
            cmd.arg("--cert")
                .arg(&self.cert)
                .arg("--key")
                .arg(&self.key);
        }
        for h in headers {
            cmd.args(["-H", h]);
        }
        if body.is_some() {
            cmd.args(["--data-binary", "@-"]);
        }
        cmd.arg(format!("{}{path}", self.server))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("curl is installed");
        let mut stdin = child.stdin.take().expect("stdin");
        if let Some(b) = body {
            stdin.write_all(b).expect("write body");
        }
        drop(stdin);
        let out = child.wait_with_output().expect("curl runs");
        assert!(
            out.status.success(),
            "curl {method} {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let raw = String::from_utf8_lossy(&out.stdout).into_owned();
        let (head, body) = raw.split_once("\r\n\r\n").expect("headers then body");
        let code = head
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .expect("a status line");
        Reply {
            code,
            body: body.to_string(),
            headers: head.to_ascii_lowercase(),
        }
    }

    fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.request(
            "POST",
            path,
            &["Content-Type: application/json"],
            Some(body.to_string().as_bytes()),
            true,
        )
    }

    fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], None, true)
    }
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";

fn configmap(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}})
}

#[test]
fn bad_requests_get_kubernetes_status_errors_and_change_nothing() {
    let cluster = Cluster::start();
    let c = Client::new(&cluster);
    let before = c.get(CMS).json()["items"].as_array().map(Vec::len);

    // 400: malformed JSON, malformed YAML, a malformed protobuf body, a bad selector.
    let r = c.request(
        "POST",
        CMS,
        &["Content-Type: application/json"],
        Some(b"{\"apiVersion\": \"v1\", \"kind\": "),
        true,
    );
    r.status(400, "BadRequest");
    let r = c.request(
        "POST",
        CMS,
        &["Content-Type: application/yaml"],
        Some(b"apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n"),
        true,
    );
    r.status(400, "BadRequest");
    let r = c.request(
        "POST",
        CMS,
        &["Content-Type: application/vnd.kubernetes.protobuf"],
        Some(b"k8s\x00\x0a\xff\xff\xff\xff\x0f garbage"),
        true,
    );
    r.status(400, "BadRequest");
    for bad in ["a%20in%20(b", "a%3D%3D%3Db", "%3Dx"] {
        let r = c.get(&format!("{CMS}?labelSelector={bad}"));
        let s = r.status(400, "BadRequest");
        let m = s["message"].as_str().unwrap_or("");
        assert!(
            m.starts_with("unable to parse requirement: ")
                && m.matches("unable to parse requirement").count() == 1,
            "one prefix, as Kubernetes says it: {m}"
        );
    }
    let r = c.get(&format!("{CMS}?fieldSelector=spec.nodeName%3Dx"));
    let s = r.status(400, "BadRequest");
    assert!(
        s["message"]
            .as_str()
            .unwrap_or("")
            .contains("spec.nodeName"),
        "names the unsupported field: {s}"
    );

    // Strict field validation: an unknown field is refused; Warn admits it with a warning.
    let mut extra = configmap("strict");
    extra["spec"] = json!({"unknown": true});
    let r = c.post_json(&format!("{CMS}?fieldValidation=Strict"), &extra);
    let s = r.status(400, "BadRequest");
    assert!(
        s["message"]
            .as_str()
            .unwrap_or("")
            .contains("unknown field \"spec\""),
        "{s}"
    );
    let r = c.post_json(&format!("{CMS}?fieldValidation=Warn"), &extra);
    assert_eq!(r.code, 201, "{}", r.body);
    assert!(
        r.headers
            .contains("warning: 299 - \"unknown field \\\"spec\\\"\""),
        "{}",
        r.headers
    );

    // 401: a bearer token nobody issued. 403: anonymous may not list.
    let r = c.request(
        "GET",
        CMS,
        &["Authorization: Bearer not-a-real-token"],
        None,
        false,
    );
    r.status(401, "Unauthorized");
    let r = c.request("GET", CMS, &[], None, false);
    let s = r.status(403, "Forbidden");
    assert_eq!(
        s["message"],
        "configmaps is forbidden: User \"system:anonymous\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"default\""
    );
    // Impersonation the requester may not do is 403; groups without a user are 400.
    let r = c.request("GET", CMS, &["Impersonate-Group: admins"], None, true);
    r.status(400, "BadRequest");

    // 404: no such object, no such resource, no such group.
    let s = c.get(&format!("{CMS}/missing")).status(404, "NotFound");
    assert_eq!(s["message"], "configmaps \"missing\" not found");
    assert_eq!(
        s["details"],
        json!({"name": "missing", "kind": "configmaps"})
    );
    c.get("/api/v1/namespaces/default/gizmos")
        .status(404, "NotFound");
    c.get("/apis/nonexistent.example.com/v1/things")
        .status(404, "NotFound");

    // 409: created twice; an update with a stale resourceVersion.
    assert_eq!(c.post_json(CMS, &configmap("once")).code, 201);
    let s = c
        .post_json(CMS, &configmap("once"))
        .status(409, "AlreadyExists");
    assert_eq!(s["message"], "configmaps \"once\" already exists");
    // An eviction with dryRun (query or its DeleteOptions) deletes nothing.
    let pods = "/api/v1/namespaces/default/pods";
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "evictee"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    assert_eq!(c.post_json(pods, &pod).code, 201);
    let eviction = json!({"apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": "evictee"}});
    let evict = format!("{pods}/evictee/eviction");
    assert_eq!(
        c.post_json(&format!("{evict}?dryRun=All"), &eviction).code,
        201
    );
    let mut dry = eviction.clone();
    dry["deleteOptions"] = json!({"dryRun": ["All"]});
    assert_eq!(c.post_json(&evict, &dry).code, 201);
    assert_eq!(c.get(&format!("{pods}/evictee")).code, 200, "still there");
    assert_eq!(c.post_json(&evict, &eviction).code, 201);
    c.get(&format!("{pods}/evictee")).status(404, "NotFound");
    // A Service with a fixed ClusterIP created twice is the same 409, not a 422 about
    // its own address being taken.
    let svcs = "/api/v1/namespaces/default/services";
    let svc = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "twice"},
        "spec": {"clusterIP": "10.96.0.77", "ports": [{"port": 80}]}});
    assert_eq!(c.post_json(svcs, &svc).code, 201);
    let s = c.post_json(svcs, &svc).status(409, "AlreadyExists");
    assert_eq!(s["message"], "services \"twice\" already exists");
    let current = c.get(&format!("{CMS}/once")).json();
    let mut stale = current.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    stale["data"]["k"] = json!("stale");
    let r = c.request(
        "PUT",
        &format!("{CMS}/once"),
        &["Content-Type: application/json"],
        Some(stale.to_string().as_bytes()),
        true,
    );
    r.status(409, "Conflict");
    assert_eq!(
        c.get(&format!("{CMS}/once")).json()["data"]["k"],
        "v",
        "the stale write changed nothing"
    );

    // 410: a watch from before the watch cache's history.
    let r = c.get(&format!("{CMS}?watch=1&resourceVersion=1&timeoutSeconds=5"));
    let s = r.status(410, "Expired");
    assert!(
        s["message"]
            .as_str()
            .unwrap_or("")
            .contains("too old resource version"),
        "{s}"
    );

    // 413: a body over 3 MiB.
    let mut huge = configmap("huge");
    huge["data"]["k"] = json!("x".repeat(4 << 20));
    c.post_json(CMS, &huge).status(413, "RequestEntityTooLarge");

    // 415 and 406: media types the server does not speak.
    let r = c.request(
        "POST",
        CMS,
        &["Content-Type: text/plain"],
        Some(configmap("text").to_string().as_bytes()),
        true,
    );
    r.status(415, "UnsupportedMediaType");
    let r = c.request(
        "PATCH",
        &format!("{CMS}/once"),
        &["Content-Type: application/json"],
        Some(b"{}"),
        true,
    );
    r.status(415, "UnsupportedMediaType");
    let r = c.request(
        "GET",
        &format!("{CMS}/once"),
        &["Accept: application/xml"],
        None,
        true,
    );
    r.status(406, "NotAcceptable");

    // 422: invalid objects, with a cause per field.
    let s = c
        .post_json(CMS, &configmap("Not_A_Name"))
        .status(422, "Invalid");
    assert_eq!(s["details"]["causes"][0]["field"], "metadata.name");
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "twins"},
        "spec": {"containers": [
            {"name": "a", "image": "busybox", "ports": [{"containerPort": 70000}]},
            {"name": "a", "image": "busybox"}
        ]}
    });
    let s = c
        .post_json("/api/v1/namespaces/default/pods", &pod)
        .status(422, "Invalid");
    let fields: Vec<&str> = s["details"]["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .filter_map(|c| c["field"].as_str())
        .collect();
    assert!(
        fields.contains(&"spec.containers[1].name"),
        "duplicate container name: {fields:?}"
    );
    assert!(
        fields.contains(&"spec.containers[0].ports[0].containerPort"),
        "port out of range: {fields:?}"
    );
    let deploy = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "mismatch"},
        "spec": {"selector": {"matchLabels": {"app": "a"}},
                 "template": {"metadata": {"labels": {"app": "b"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
    });
    let s = c
        .post_json("/apis/apps/v1/namespaces/default/deployments", &deploy)
        .status(422, "Invalid");
    assert!(
        s["message"]
            .as_str()
            .unwrap_or("")
            .contains("`selector` does not match template `labels`"),
        "{s}"
    );
    // Immutable fields: a Service's clusterIP cannot change (Kubernetes' wording).
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "fixed"},
                     "spec": {"ports": [{"port": 80}]}});
    assert_eq!(
        c.post_json("/api/v1/namespaces/default/services", &svc)
            .code,
        201
    );
    let r = c.request(
        "PATCH",
        "/api/v1/namespaces/default/services/fixed",
        &["Content-Type: application/merge-patch+json"],
        Some(br#"{"spec":{"clusterIP":"10.96.0.99","clusterIPs":["10.96.0.99"]}}"#),
        true,
    );
    let s = r.status(422, "Invalid");
    assert!(
        s["message"]
            .as_str()
            .unwrap_or("")
            .contains("may not change once set"),
        "{s}"
    );

    // Garbage on the socket (not TLS at all) is dropped; the server goes on serving.
    let addr = cluster
        .server
        .strip_prefix("https://")
        .expect("https URL")
        .to_string();
    for junk in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0][..],
        &[0u8; 4096][..],
    ] {
        let mut s = std::net::TcpStream::connect(&addr).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        let _ = s.write_all(junk);
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut s, &mut sink);
    }

    // Nothing that failed was written: only "once" and "strict" (Warn) were created.
    let after = c.get(CMS).json();
    let names: Vec<&str> = after["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    assert_eq!(
        names.len(),
        before.unwrap_or(0) + 2,
        "only the two good creates landed: {names:?}"
    );
    assert!(
        names.contains(&"once") && names.contains(&"strict"),
        "{names:?}"
    );
    cluster.stop();
}
