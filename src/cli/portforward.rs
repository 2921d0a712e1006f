//! `clipper port-forward TYPE/NAME [LOCAL:]REMOTE...`: kubectl's port-forward. The target
//! is a pod (`NAME`, `pod/NAME`) or an object selecting pods (`svc/`, `deploy/`, `rs/`,
//! `sts/`), which resolves to its first running pod as kubectl picks it; a service's port
//! is translated to its target port, and named ports to the container's number. Local
//! listeners are on `--address` (default `localhost`: 127.0.0.1 and ::1), `:REMOTE` picks
//! a free local port; each is announced as kubectl does (`Forwarding from
//! 127.0.0.1:L -> R`), and each accepted connection (`Handling connection for L`) becomes
//! a pair of SPDY streams (error, data; kubelet's `port` and `requestID` headers) on one
//! connection to `pods/NAME/portforward` — SPDY inside a WebSocket
//! (`SPDY/3.1+portforward.k8s.io`), as kubectl 1.31+ connects.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use clipper_client::spdy::SpdyConnection;
use clipper_proto::spdy::{Headers, Role};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};
use tokio_tungstenite::tungstenite::{self};

use super::{Global, Outcome, Result, Session, kubeconfig_path, query};

/// The WebSocket subprotocol: SPDY carrying `portforward.k8s.io`.
pub const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// Read buffer per forwarded connection (client-go's).
const CHUNK: usize = 32 * 1024;
/// Largest error message kept from an error stream.
const MAX_ERROR_BYTES: usize = 64 * 1024;

#[derive(clap::Args)]
pub struct PortForwardArgs {
    /// TYPE/NAME (pod, svc, deploy, rs, sts) or a pod's name.
    pub target: String,
    /// Ports: `[LOCAL:]REMOTE`, `:REMOTE` for a random local port.
    #[arg(required = true)]
    pub ports: Vec<String>,
    /// Addresses to listen on (comma separated): IP addresses or `localhost`.
    #[arg(long, value_delimiter = ',', default_value = "localhost")]
    pub address: Vec<String>,
    /// How long to wait for a running pod behind a service or workload (a pod named
    /// directly is looked at once, as kubectl does).
    #[arg(long, default_value = "1m")]
    pub pod_running_timeout: String,
    #[command(flatten)]
    pub global: Global,
}

/// One requested forward: the local port (0 for a random one) and the remote port as
/// given (a number or a name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSpec {
    pub local: Option<u16>,
    pub remote: String,
}

/// kubectl's `[LOCAL:]REMOTE` (`:REMOTE` and `0:REMOTE` for a random local port).
pub fn parse_port(spec: &str) -> Result<PortSpec> {
    let (local, remote) = match spec.split_once(':') {
        Some((l, r)) => (Some(l), r),
        None => (None, spec),
    };
    if remote.is_empty() {
        anyhow::bail!("remote port cannot be empty");
    }
    let local = match local {
        None => None,
        Some("") => Some(0),
        Some(l) => Some(
            l.parse::<u16>()
                .map_err(|_| anyhow::anyhow!("error parsing local port '{l}': invalid syntax"))?,
        ),
    };
    if let Ok(n) = remote.parse::<i64>()
        && !(1..=65535).contains(&n)
    {
        anyhow::bail!("remote port must be > 0 and < 65536");
    }
    Ok(PortSpec {
        local,
        remote: remote.to_string(),
    })
}

/// The target's kind and name: a pod, or an object whose selector picks the pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Pod(String),
    Service(String),
    /// The API path of a workload (its `spec.selector`).
    Workload {
        path: &'static str,
        name: String,
    },
}

/// Between looks for a running pod behind a service or workload.
const POD_POLL: std::time::Duration = std::time::Duration::from_millis(500);

pub fn parse_target(arg: &str) -> Result<Target> {
    let Some((kind, name)) = arg.split_once('/') else {
        return Ok(Target::Pod(arg.to_string()));
    };
    if name.is_empty() {
        anyhow::bail!("arguments in resource/name form must have a single resource and name");
    }
    let name = name.to_string();
    Ok(match kind {
        "pod" | "pods" | "po" => Target::Pod(name),
        "svc" | "service" | "services" => Target::Service(name),
        "deploy" | "deployment" | "deployments" | "deployment.apps" | "deployments.apps" => {
            Target::Workload {
                path: "/apis/apps/v1/namespaces/{ns}/deployments",
                name,
            }
        }
        "rs" | "replicaset" | "replicasets" | "replicaset.apps" | "replicasets.apps" => {
            Target::Workload {
                path: "/apis/apps/v1/namespaces/{ns}/replicasets",
                name,
            }
        }
        "sts" | "statefulset" | "statefulsets" | "statefulset.apps" | "statefulsets.apps" => {
            Target::Workload {
                path: "/apis/apps/v1/namespaces/{ns}/statefulsets",
                name,
            }
        }
        other => anyhow::bail!("cannot attach to {other}: not implemented"),
    })
}

/// A label selector as a query string, from `matchLabels` (and simple `matchExpressions`).
fn selector_query(selector: &Value) -> Result<String> {
    let mut parts = Vec::new();
    let labels = selector.get("matchLabels").unwrap_or(selector);
    if let Some(map) = labels.as_object() {
        for (k, v) in map {
            if let Some(v) = v.as_str() {
                parts.push(format!("{k}={v}"));
            }
        }
    }
    for e in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = e["values"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match e["operator"].as_str() {
            Some("In") => parts.push(format!("{key} in ({})", values.join(","))),
            Some("NotIn") => parts.push(format!("{key} notin ({})", values.join(","))),
            Some("Exists") => parts.push(key.to_string()),
            Some("DoesNotExist") => parts.push(format!("!{key}")),
            _ => {}
        }
    }
    if parts.is_empty() {
        anyhow::bail!("the selector is empty");
    }
    Ok(parts.join(","))
}

/// kubectl's choice among a selector's pods: running ones first, then ready, then the
/// oldest.
fn first_pod(pods: &[Value]) -> Option<&Value> {
    let rank = |p: &Value| {
        let running = p["status"]["phase"] == "Running";
        let ready = p["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        });
        let deleting = !p["metadata"]["deletionTimestamp"].is_null();
        (
            !running,
            !ready,
            deleting,
            p["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    pods.iter().min_by_key(|p| rank(p))
}

/// A container port of the pod by name.
fn named_container_port(pod: &Value, name: &str) -> Option<u16> {
    pod["spec"]["containers"]
        .as_array()?
        .iter()
        .flat_map(|c| c["ports"].as_array().into_iter().flatten())
        .find(|p| p["name"].as_str() == Some(name))
        .and_then(|p| p["containerPort"].as_u64())
        .and_then(|p| u16::try_from(p).ok())
}

/// The remote port on the pod, and the local port when not given (kubectl's defaults:
/// the port as written for a number, else the resolved number).
fn resolve_port(
    spec: &PortSpec,
    pod: &Value,
    service: Option<&Value>,
    pod_name: &str,
) -> Result<(u16, u16)> {
    let as_number = spec.remote.parse::<u16>().ok();
    let remote = match service {
        Some(svc) => {
            let svc_name = svc["metadata"]["name"].as_str().unwrap_or_default();
            let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
            let port = ports
                .iter()
                .find(|p| match as_number {
                    Some(n) => p["port"].as_u64() == Some(u64::from(n)),
                    None => p["name"].as_str() == Some(spec.remote.as_str()),
                })
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "Service {svc_name} does not have a service port {}",
                        spec.remote
                    )
                })?;
            match &port["targetPort"] {
                Value::Number(n) => n
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .ok_or_else(|| anyhow::anyhow!("invalid target port {n}"))?,
                Value::String(name) => named_container_port(pod, name).ok_or_else(|| {
                    anyhow::anyhow!("Pod '{pod_name}' does not have a named port '{name}'")
                })?,
                // No targetPort: the port itself.
                _ => port["port"]
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .unwrap_or_default(),
            }
        }
        None => match as_number {
            Some(n) => n,
            None => named_container_port(pod, &spec.remote).ok_or_else(|| {
                anyhow::anyhow!(
                    "Pod '{pod_name}' does not have a named port '{}'",
                    spec.remote
                )
            })?,
        },
    };
    let local = spec.local.unwrap_or(as_number.unwrap_or(remote));
    Ok((local, remote))
}

/// The addresses to listen on: `localhost` is 127.0.0.1 and ::1.
fn listen_addresses(addresses: &[String]) -> Result<Vec<IpAddr>> {
    let mut out = Vec::new();
    for a in addresses {
        if a == "localhost" {
            out.push(IpAddr::from([127, 0, 0, 1]));
            out.push("::1".parse::<IpAddr>()?);
        } else {
            out.push(
                a.parse::<IpAddr>()
                    .map_err(|_| anyhow::anyhow!("{a} is not a valid IP"))?,
            );
        }
    }
    Ok(out)
}

/// Finds the pod (and the service, if one was named).
async fn find_pod(session: &Session, target: &Target) -> Result<(Value, Option<Value>)> {
    let ns = &session.namespace;
    let pods_of = |selector: String| async move {
        let list = session
            .get(&format!(
                "/api/v1/namespaces/{ns}/pods{}",
                query(&[("labelSelector", &selector)])
            ))
            .await?;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        first_pod(&items)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no matching pods found for selector {selector}"))
    };
    match target {
        Target::Pod(name) => Ok((
            session
                .get(&format!("/api/v1/namespaces/{ns}/pods/{name}"))
                .await?,
            None,
        )),
        Target::Service(name) => {
            let svc = session
                .get(&format!("/api/v1/namespaces/{ns}/services/{name}"))
                .await?;
            let selector = selector_query(&svc["spec"]["selector"])
                .map_err(|_| anyhow::anyhow!("service {name} has no selector"))?;
            Ok((pods_of(selector).await?, Some(svc)))
        }
        Target::Workload { path, name } => {
            let obj = session
                .get(&format!("{}/{name}", path.replace("{ns}", ns)))
                .await?;
            let selector = selector_query(&obj["spec"]["selector"])?;
            Ok((pods_of(selector).await?, None))
        }
    }
}

pub async fn run(args: PortForwardArgs) -> Result<Outcome> {
    let specs: Vec<PortSpec> = args
        .ports
        .iter()
        .map(|p| parse_port(p))
        .collect::<Result<_>>()?;
    let target = parse_target(&args.target)?;
    let addresses = listen_addresses(&args.address)?;
    let session = Session::new(&args.global)?;
    let wait = super::delete::parse_duration(&args.pod_running_timeout)?;
    let deadline = tokio::time::Instant::now() + wait;
    let (pod, service) = loop {
        let found = find_pod(&session, &target).await;
        let running = matches!(&found, Ok((p, _)) if p["status"]["phase"] == "Running");
        let direct = matches!(target, Target::Pod(_));
        if running || direct || tokio::time::Instant::now() >= deadline {
            break found?;
        }
        tokio::time::sleep(POD_POLL).await;
    };
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let phase = pod["status"]["phase"].as_str().unwrap_or_default();
    if phase != "Running" {
        anyhow::bail!("unable to forward port because pod is not running. Current status={phase}");
    }
    let forwards: Vec<(u16, u16)> = specs
        .iter()
        .map(|s| resolve_port(s, &pod, service.as_ref(), &name))
        .collect::<Result<_>>()?;

    let conn = connect(&args.global, &session.namespace, &name).await?;
    let request_ids = Arc::new(AtomicU64::new(0));
    let mut any = false;
    for (local, remote) in forwards {
        let mut port = local;
        for addr in &addresses {
            let listener = match tokio::net::TcpListener::bind(SocketAddr::new(*addr, port)).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("Unable to listen on port {port}: {e}");
                    continue;
                }
            };
            // A random port is chosen once, then used on every address.
            port = listener.local_addr()?.port();
            let shown = match addr {
                IpAddr::V6(a) => format!("[{a}]:{port}"),
                IpAddr::V4(a) => format!("{a}:{port}"),
            };
            println!("Forwarding from {shown} -> {remote}");
            any = true;
            tokio::spawn(accept_loop(
                listener,
                conn.clone(),
                port,
                remote,
                request_ids.clone(),
            ));
        }
    }
    if !any {
        anyhow::bail!(
            "unable to listen on any of the requested ports: {:?}",
            args.ports
        );
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => Ok(Outcome::Success),
        _ = term.recv() => Ok(Outcome::Success),
        _ = conn.closed() => anyhow::bail!("lost connection to pod"),
    }
}

/// The SPDY connection: a WebSocket to `pods/NAME/portforward` offering the tunnel.
async fn connect(global: &Global, ns: &str, name: &str) -> Result<SpdyConnection> {
    let creds = clipper_client::Credentials::from_kubeconfig(&kubeconfig_path(
        global.kubeconfig.as_deref(),
    )?)
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let host = if creds.server_name.contains(':') {
        format!("[{}]", creds.server_name)
    } else {
        creds.server_name.clone()
    };
    let uri = format!(
        "wss://{host}:{}/api/v1/namespaces/{ns}/pods/{name}/portforward",
        creds.addr.port()
    );
    let mut request = uri.into_client_request()?;
    let headers = request.headers_mut();
    headers.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(TUNNEL_PROTOCOL),
    );
    headers.insert(header::USER_AGENT, HeaderValue::from_static("clipper"));
    if let Some(token) = &creds.token {
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}"))?,
        );
    }
    let stream = clipper_client::connect_http1(&creds)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (ws, _) = match tokio_tungstenite::client_async(request, stream).await {
        Ok(ok) => ok,
        Err(tungstenite::Error::Http(resp)) => {
            let body = resp.body().clone().unwrap_or_default();
            return Err(super::exec::handshake_error(resp.status().as_u16(), &body));
        }
        Err(e) => anyhow::bail!("error upgrading connection: {e}"),
    };
    let bytes = clipper_agent::streaming::websocket_bytes(ws);
    Ok(SpdyConnection::start(bytes, Role::Client).0)
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    conn: SpdyConnection,
    local: u16,
    remote: u16,
    request_ids: Arc<AtomicU64>,
) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        println!("Handling connection for {local}");
        let id = request_ids.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(handle_connection(socket, conn.clone(), local, remote, id));
    }
}

/// One local connection: an error stream and a data stream, bytes copied both ways; the
/// error stream's text, if any, printed as kubectl prints it.
async fn handle_connection(
    socket: tokio::net::TcpStream,
    conn: SpdyConnection,
    local: u16,
    remote: u16,
    id: u64,
) {
    let headers = |kind: &str| -> Headers {
        vec![
            ("streamtype".into(), kind.into()),
            ("port".into(), remote.to_string()),
            ("requestid".into(), id.to_string()),
        ]
    };
    let report = |m: &str| eprintln!("an error occurred forwarding {local} -> {remote}: {m}");
    let mut error = match conn.open(&headers("error")).await {
        Ok(s) => s,
        Err(e) => {
            return report(&format!(
                "error creating error stream for port {local} -> {remote}: {e}"
            ));
        }
    };
    // Nothing is written on the error stream.
    error.writer().close().await;
    let errors = tokio::spawn(async move {
        let mut text = Vec::new();
        while let Some(d) = error.read().await {
            if text.len() + d.len() <= MAX_ERROR_BYTES {
                text.extend(d);
            }
        }
        text
    });
    let mut data = match conn.open(&headers("data")).await {
        Ok(s) => s,
        Err(e) => {
            return report(&format!(
                "error creating forwarding stream for port {local} -> {remote}: {e}"
            ));
        }
    };
    let out = data.writer();
    let (mut from_local, mut to_local) = socket.into_split();
    let remote_done = async {
        while let Some(d) = data.read().await {
            if to_local.write_all(&d).await.is_err() {
                break;
            }
        }
        let _ = to_local.shutdown().await;
    };
    let local_done = async {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match from_local.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if out.write(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        out.close().await;
    };
    // As client-go: done when the pod's side ends (or the local side has ended and
    // the pod's side follows).
    tokio::pin!(local_done);
    tokio::select! {
        _ = remote_done => {}
        _ = &mut local_done => {}
    }
    if let Ok(text) = errors.await
        && !text.is_empty()
    {
        report(&String::from_utf8_lossy(&text));
    }
    out.reset();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ports_parse_as_kubectl_parses_them() {
        assert_eq!(
            parse_port("8080").expect("port"),
            PortSpec {
                local: None,
                remote: "8080".into()
            }
        );
        assert_eq!(parse_port(":80").expect("random").local, Some(0));
        assert_eq!(parse_port("0:80").expect("random").local, Some(0));
        assert_eq!(parse_port("5000:http").expect("named").remote, "http");
        assert!(parse_port("x:80").is_err());
        assert!(parse_port("80:").is_err());
        assert!(parse_port("70000").is_err());
    }

    #[test]
    fn targets_and_ports_resolve_as_kubectl_resolves_them() {
        assert_eq!(parse_target("web").expect("pod"), Target::Pod("web".into()));
        assert_eq!(
            parse_target("svc/web").expect("svc"),
            Target::Service("web".into())
        );
        assert!(matches!(
            parse_target("deploy/web").expect("deploy"),
            Target::Workload { .. }
        ));
        assert!(parse_target("node/n1").is_err());
        let pod =
            json!({"spec": {"containers": [{"ports": [{"name": "http", "containerPort": 8080}]}]}});
        let spec = |s: &str| parse_port(s).expect("spec");
        assert_eq!(
            resolve_port(&spec("80"), &pod, None, "p").expect("n"),
            (80, 80)
        );
        assert_eq!(
            resolve_port(&spec("http"), &pod, None, "p").expect("named"),
            (8080, 8080)
        );
        assert_eq!(
            resolve_port(&spec(":http"), &pod, None, "p").expect("random"),
            (0, 8080)
        );
        let svc = json!({"metadata": {"name": "s"}, "spec": {"ports": [
            {"name": "web", "port": 80, "targetPort": "http"},
            {"port": 81, "targetPort": 9090}
        ]}});
        assert_eq!(
            resolve_port(&spec("80"), &pod, Some(&svc), "p").expect("svc"),
            (80, 8080)
        );
        assert_eq!(
            resolve_port(&spec("5000:81"), &pod, Some(&svc), "p").expect("svc"),
            (5000, 9090)
        );
        assert_eq!(
            resolve_port(&spec("82"), &pod, Some(&svc), "p")
                .expect_err("no port")
                .to_string(),
            "Service s does not have a service port 82"
        );
        assert_eq!(
            selector_query(&json!({"matchLabels": {"app": "web"}})).expect("selector"),
            "app=web"
        );
        let pods = vec![
            json!({"metadata": {"name": "a", "creationTimestamp": "2024-01-01T00:00:00Z"}, "status": {"phase": "Pending"}}),
            json!({"metadata": {"name": "b", "creationTimestamp": "2024-01-02T00:00:00Z"}, "status": {"phase": "Running"}}),
        ];
        assert_eq!(first_pod(&pods).expect("pod")["metadata"]["name"], "b");
    }
}
