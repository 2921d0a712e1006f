//! The API server as a client of node agents (kubelets): `pods/log` proxied to the agent
//! of the pod's node, as kube-apiserver's `LogREST` and `LogLocation` do, and `pods/exec`
//! as a tunnel: the client's WebSocket upgrade is validated (`ExecLocation`'s rules),
//! sent on to the agent's `/exec/...`, and once both sides have switched protocols the
//! bytes are copied both ways unread (the agent speaks the channel protocol). SPDY, which
//! kubectl before 1.30 uses, is tunnelled the same way (a POST upgraded to `SPDY/3.1`, the
//! subprotocol in `X-Stream-Protocol-Version`): the agent speaks SPDY. `pods/portforward`
//! likewise: SPDY (`portforward.k8s.io`), or kubectl 1.31+'s WebSocket carrying SPDY
//! (`SPDY/3.1+portforward.k8s.io`), which is also passed to the agent unread — where
//! kube-apiserver unwraps the WebSocket and speaks SPDY to the kubelet, Clipper's agent
//! accepts both forms.
//!
//! The agent is found from its Node: `status.addresses` (InternalIP first, then Hostname,
//! then the other types) and `status.daemonEndpoints.kubeletEndpoint.Port`. The connection
//! is HTTPS with the client certificate `kube-apiserver-kubelet-client` (group
//! `system:masters`) issued from the cluster CA at start; the agent's serving certificate is
//! not verified, as kube-apiserver without `--kubelet-certificate-authority`. The agent's
//! body is streamed back unchanged as `text/plain`; its error statuses become Status
//! objects as kube's `GenericHttpResponseChecker` makes them.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clipper_proto::api::core::v1::{Node, Pod};
use http::{Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;

use crate::admission::{FieldError, Path};
use crate::api::Scope;
use crate::auth::pki::{self, CertificateAuthority, PkiError};
use crate::http::{Body, Query, Server};
use crate::object::downcast;
use crate::status::{ApiError, Cause};

/// The API server's identity towards node agents (kubeadm's name for it).
pub const KUBELET_CLIENT_USER: &str = "kube-apiserver-kubelet-client";
/// Its group: node agents let masters read logs.
pub const KUBELET_CLIENT_GROUP: &str = "system:masters";
/// The agent's port when the Node does not say (kube-apiserver's `--kubelet-port`).
pub const DEFAULT_KUBELET_PORT: u16 = 10250;
/// Connecting to an agent, TLS included: an agent that does not answer within this is down.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Waiting for the agent's response head: it answers as soon as it has found the file.
pub const RESPONSE_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of an agent's error body is read (kube's `maxReadLength`).
pub const MAX_ERROR_BODY_BYTES: usize = 50_000;
/// Address types tried in order: InternalIP as the agent reports it, then the rest.
pub const PREFERRED_ADDRESS_TYPES: &[&str] = &[
    "InternalIP",
    "Hostname",
    "InternalDNS",
    "ExternalIP",
    "ExternalDNS",
];

/// exec and port-forward tunnels open at once through this API server process; more are
/// answered 429.
pub const MAX_TUNNELS: usize = 1024;
/// Request headers passed on to the agent with an upgrade: the WebSocket handshake's and
/// SPDY's subprotocol offer.
const UPGRADE_REQUEST_HEADERS: &[&str] = &[
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "x-stream-protocol-version",
];
/// Response headers passed back to the client with the agent's 101.
const UPGRADE_RESPONSE_HEADERS: &[&str] = &[
    "upgrade",
    "connection",
    "sec-websocket-accept",
    "sec-websocket-protocol",
    "x-stream-protocol-version",
];
/// Most `ports` a port-forward request may name (each is a header-sized string).
pub const MAX_FORWARDED_PORTS: usize = 64;

/// Connections to node agents, with the API server's client certificate.
pub struct KubeletClient {
    tls: tokio_rustls::TlsConnector,
    tunnels: Arc<tokio::sync::Semaphore>,
}

impl KubeletClient {
    /// Issues the client certificate from `ca` (valid from `now` for
    /// [`pki::LEAF_VALIDITY_SECS`]) and builds the TLS configuration.
    pub fn new(ca: &CertificateAuthority, now: i64) -> Result<KubeletClient, PkiError> {
        let cert = ca.issue_client_cert(
            KUBELET_CLIENT_USER,
            &[KUBELET_CLIENT_GROUP],
            now,
            pki::LEAF_VALIDITY_SECS,
        )?;
        let provider = pki::crypto_provider();
        let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            // kube-apiserver's default towards kubelets: their serving certificates are
            // not verified (the handshake's signature still is).
            .with_custom_certificate_verifier(Arc::new(clipper_client::AnyServerCertificate::new(
                provider,
            )))
            .with_client_auth_cert(vec![cert.cert_der()], cert.key_der())?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(KubeletClient {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            tunnels: Arc::new(tokio::sync::Semaphore::new(MAX_TUNNELS)),
        })
    }

    /// An HTTP/1.1 connection to the agent (upgrades allowed); errors are kube's for an
    /// unreachable kubelet: code 500 and the transport's words.
    async fn connect(
        &self,
        endpoint: &NodeEndpoint,
        method: &str,
        path: &str,
    ) -> Result<hyper::client::conn::http1::SendRequest<http_body_util::Empty<Bytes>>, ApiError>
    {
        let url = format!("https://{}{path}", endpoint.authority());
        let fail = |why: String| ApiError::new(500, "", format!("{method} {url:?}: {why}"));
        let name = match endpoint.host.parse::<IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(endpoint.host.clone())
                .map_err(|e| fail(format!("server name: {e}")))?,
        };
        let connect = async {
            let tcp = tokio::net::TcpStream::connect((endpoint.host.as_str(), endpoint.port))
                .await
                .map_err(|e| fail(format!("dial tcp {}: {e}", endpoint.authority())))?;
            let _ = tcp.set_nodelay(true);
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| fail(format!("TLS: {e}")))?;
            hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map_err(|e| fail(format!("HTTP: {e}")))
        };
        let (sender, conn) = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| fail("dial tcp: i/o timeout".into()))??;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "node agent connection ended");
            }
        });
        Ok(sender)
    }

    /// `GET https://host:port{path}`; the response with its body unread. Errors are
    /// kube's for an unreachable kubelet: code 500 and the transport's words.
    pub(crate) async fn get(
        &self,
        endpoint: &NodeEndpoint,
        path: &str,
    ) -> Result<Response<hyper::body::Incoming>, ApiError> {
        let url = format!("https://{}{path}", endpoint.authority());
        let fail = |why: String| ApiError::new(500, "", format!("Get {url:?}: {why}"));
        let mut sender = self.connect(endpoint, "Get", path).await?;
        let req = http::Request::get(path)
            .header(header::HOST, endpoint.authority())
            .header(header::USER_AGENT, "clipper-apiserver")
            .body(http_body_util::Empty::<Bytes>::new())
            .map_err(|e| fail(e.to_string()))?;
        tokio::time::timeout(RESPONSE_HEADER_TIMEOUT, sender.send_request(req))
            .await
            .map_err(|_| fail("timeout awaiting response headers".into()))?
            .map_err(|e| fail(e.to_string()))
    }
}

/// Where a node's agent listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeEndpoint {
    pub host: String,
    pub port: u16,
}

impl NodeEndpoint {
    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A node's agent endpoint from its status, or kube's message when it has no address.
pub fn node_endpoint(node: &Node) -> Result<NodeEndpoint, String> {
    let status = node.status.as_ref();
    let addresses = status.and_then(|s| s.addresses.as_deref()).unwrap_or(&[]);
    let host = PREFERRED_ADDRESS_TYPES
        .iter()
        .find_map(|t| {
            addresses
                .iter()
                .find(|a| a.type_ == *t && !a.address.is_empty())
        })
        .map(|a| a.address.clone())
        .ok_or_else(|| {
            let known: Vec<String> = addresses
                .iter()
                .map(|a| format!("{{{} {}}}", a.type_, a.address))
                .collect();
            format!(
                "no preferred addresses found; known addresses: [{}]",
                known.join(" ")
            )
        })?;
    let port = status
        .and_then(|s| s.daemon_endpoints.as_ref())
        .and_then(|d| d.kubelet_endpoint.as_ref())
        .map(|e| e.port)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .unwrap_or(DEFAULT_KUBELET_PORT);
    Ok(NodeEndpoint { host, port })
}

/// `PodLogOptions` from the query, as kube's parameter codec decodes them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodLogOptions {
    pub container: Option<String>,
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub since_seconds: Option<i64>,
    /// RFC 3339, seconds precision, UTC.
    pub since_time: Option<String>,
    pub tail_lines: Option<i64>,
    pub limit_bytes: Option<i64>,
}

fn parse_bool(query: &Query, key: &str) -> Result<bool, ApiError> {
    match query.get(key) {
        None | Some("") => Ok(false),
        Some("1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
        Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
        Some(v) => Err(ApiError::bad_request(format!(
            "{key}: strconv.ParseBool: parsing {v:?}: invalid syntax"
        ))),
    }
}

fn parse_int(query: &Query, key: &str) -> Result<Option<i64>, ApiError> {
    match query.get(key) {
        None | Some("") => Ok(None),
        Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
            ApiError::bad_request(format!(
                "{key}: strconv.ParseInt: parsing {v:?}: invalid syntax"
            ))
        }),
    }
}

impl PodLogOptions {
    pub fn from_query(query: &Query) -> Result<PodLogOptions, ApiError> {
        let since_time = match query.get("sinceTime").filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => {
                let t = clipper_proto::Time::parse(v).map_err(|_| {
                    ApiError::bad_request(format!(
                        "sinceTime: parsing time {v:?} as \"2006-01-02T15:04:05Z07:00\": cannot parse"
                    ))
                })?;
                Some(t.to_string())
            }
        };
        Ok(PodLogOptions {
            container: query
                .get("container")
                .filter(|c| !c.is_empty())
                .map(str::to_string),
            follow: parse_bool(query, "follow")?,
            previous: parse_bool(query, "previous")?,
            timestamps: parse_bool(query, "timestamps")?,
            since_seconds: parse_int(query, "sinceSeconds")?,
            since_time,
            tail_lines: parse_int(query, "tailLines")?,
            limit_bytes: parse_int(query, "limitBytes")?,
        })
    }

    /// `ValidatePodLogOptions`: 422 `PodLogOptions "name" is invalid: ...`.
    pub fn validate(&self, name: &str) -> Result<(), ApiError> {
        let mut errors = Vec::new();
        if let Some(n) = self.tail_lines.filter(|n| *n < 0) {
            errors.push(FieldError::invalid(
                &Path::new("tailLines"),
                n,
                "must be greater than or equal to 0",
            ));
        }
        if let Some(n) = self.limit_bytes.filter(|n| *n < 1) {
            errors.push(FieldError::invalid(
                &Path::new("limitBytes"),
                n,
                "must be greater than 0",
            ));
        }
        match (self.since_seconds, &self.since_time) {
            (Some(_), Some(_)) => errors.push(FieldError::forbidden(
                &Path::new(""),
                "at most one of `sinceTime` or `sinceSeconds` may be specified",
            )),
            (Some(n), None) if n < 1 => errors.push(FieldError::invalid(
                &Path::new("sinceSeconds"),
                n,
                "must be greater than 0",
            )),
            _ => {}
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid("", "PodLogOptions", name, &errors))
        }
    }

    /// The agent's query, as `LogLocation` writes it.
    pub fn agent_query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if self.follow {
            q.append_pair("follow", "true");
        }
        if self.previous {
            q.append_pair("previous", "true");
        }
        if self.timestamps {
            q.append_pair("timestamps", "true");
        }
        if let Some(n) = self.since_seconds {
            q.append_pair("sinceSeconds", &n.to_string());
        }
        if let Some(t) = &self.since_time {
            q.append_pair("sinceTime", t);
        }
        if let Some(n) = self.tail_lines {
            q.append_pair("tailLines", &n.to_string());
        }
        if let Some(n) = self.limit_bytes {
            q.append_pair("limitBytes", &n.to_string());
        }
        q.finish()
    }
}

/// The container a log request is about: the one asked for, which must exist, or the
/// pod's only container. kube's messages.
pub fn choose_container(pod: &Pod, name: &str, asked: Option<&str>) -> Result<String, ApiError> {
    let spec = pod.spec.as_ref();
    let containers: Vec<&str> = spec
        .map(|s| s.containers.iter().map(|c| c.name.as_str()).collect())
        .unwrap_or_default();
    let init: Vec<&str> = spec
        .and_then(|s| s.init_containers.as_ref())
        .map(|cs| cs.iter().map(|c| c.name.as_str()).collect())
        .unwrap_or_default();
    let ephemeral: Vec<&str> = spec
        .and_then(|s| s.ephemeral_containers.as_ref())
        .map(|cs| cs.iter().map(|c| c.name.as_str()).collect())
        .unwrap_or_default();
    match asked {
        Some(c) => {
            if containers.contains(&c) || init.contains(&c) || ephemeral.contains(&c) {
                Ok(c.to_string())
            } else {
                Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )))
            }
        }
        None => match containers.as_slice() {
            [only] => Ok(only.to_string()),
            [] => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}"
            ))),
            many => {
                let mut message = format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    many.join(" ")
                );
                if !init.is_empty() {
                    message.push_str(&format!(
                        " or one of the init containers: [{}]",
                        init.join(" ")
                    ));
                }
                Err(ApiError::bad_request(message))
            }
        },
    }
}

/// The Status for an agent's error response (kube's `GenericHttpResponseChecker`).
pub fn agent_error(code: u16, body: &str, pod: &str) -> ApiError {
    agent_error_about(code, body, pod, "pods/log")
}

/// [`agent_error`] about another subresource (`pods/exec`).
pub fn agent_error_about(code: u16, body: &str, pod: &str, what: &str) -> ApiError {
    let text = body.trim_end().to_string();
    let about = |mut e: ApiError| {
        e.kind = Some(what.into());
        e.name = (!pod.is_empty()).then(|| pod.to_string());
        e
    };
    match code {
        400 => ApiError::bad_request(text),
        500 => ApiError::internal(text),
        _ => {
            let (reason, message) = match code {
                401 => (
                    "Unauthorized",
                    "the server has asked for the client to provide credentials".to_string(),
                ),
                403 => ("Forbidden", text.clone()),
                404 => (
                    "NotFound",
                    "the server could not find the requested resource".to_string(),
                ),
                405 => (
                    "MethodNotAllowed",
                    "the server does not allow this method on the requested resource".to_string(),
                ),
                409 => ("Conflict", "the server reported a conflict".to_string()),
                422 => (
                    "Invalid",
                    "the server rejected our request due to an error in our request".to_string(),
                ),
                429 => (
                    "TooManyRequests",
                    "the server has received too many requests and has asked us to try again later"
                        .to_string(),
                ),
                504 => (
                    "Timeout",
                    "the server was unable to return a response in the time allotted, but may still be processing the request"
                        .to_string(),
                ),
                c if c >= 500 => (
                    "InternalError",
                    format!(
                        "an error on the server ({text:?}) has prevented the request from succeeding"
                    ),
                ),
                c => (
                    "",
                    format!(
                        "the server responded with the status code {c} but did not return more information"
                    ),
                ),
            };
            let mut e = about(ApiError::new(
                code,
                reason,
                format!("{message} ( {what} {pod})"),
            ));
            // kube leaves the agent's words out; they are kept here as a cause.
            if !text.is_empty() && code != 403 {
                e.causes.push(Cause {
                    reason: "UnexpectedServerResponse".into(),
                    message: text,
                    field: String::new(),
                });
            }
            e
        }
    }
}

/// The agent endpoint of node `node_name`, from its status.
async fn agent_of(server: &Server, node_name: &str) -> Result<NodeEndpoint, ApiError> {
    let nodes = server
        .api
        .served
        .load()
        .get("", "v1", "nodes")
        .cloned()
        .ok_or_else(|| ApiError::internal("nodes are not served"))?;
    let node_obj = server
        .api
        .get(
            &Scope {
                served: nodes,
                namespace: None,
            },
            node_name,
        )
        .await?;
    let node = downcast::<Node>(node_obj.as_ref())
        .ok_or_else(|| ApiError::internal("a node object that is not a Node"))?;
    node_endpoint(node).map_err(ApiError::internal)
}

/// `GET pods/{name}/log`: validates the options, finds the container and the node's
/// agent, and streams the agent's answer back.
pub async fn pod_log(
    server: &Server,
    scope: &Scope,
    name: &str,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let opts = PodLogOptions::from_query(query)?;
    opts.validate(name)?;
    let obj = server.api.get(scope, name).await?;
    let pod = downcast::<Pod>(obj.as_ref())
        .ok_or_else(|| ApiError::internal("pods/log on an object that is not a pod"))?;
    let container = choose_container(pod, name, opts.container.as_deref())?;
    let Some(node_name) = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty())
    else {
        // Not scheduled: kube answers with no content.
        let mut resp = Response::new(crate::http::response::full(Bytes::new()));
        *resp.status_mut() = StatusCode::NO_CONTENT;
        return Ok(resp);
    };
    let endpoint = agent_of(server, &node_name).await?;
    let namespace = scope.namespace.as_deref().unwrap_or_default();
    let mut path = format!("/containerLogs/{namespace}/{name}/{container}");
    let q = opts.agent_query();
    if !q.is_empty() {
        path.push('?');
        path.push_str(&q);
    }
    let resp = server.kubelet.get(&endpoint, &path).await?;
    let code = resp.status().as_u16();
    if !(200..=206).contains(&code) {
        let body = http_body_util::Limited::new(resp.into_body(), MAX_ERROR_BODY_BYTES)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return Err(agent_error(code, &String::from_utf8_lossy(&body), name));
    }
    let body = resp.into_body();
    let stream = futures_util::stream::unfold(body, |mut body| async move {
        loop {
            match body.frame().await? {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        return Some((Ok::<_, Infallible>(hyper::body::Frame::data(data)), body));
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "a node agent's log stream broke");
                    return None;
                }
            }
        }
    });
    let mut out = Response::new(http_body_util::StreamBody::new(stream).boxed());
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain"),
    );
    Ok(out)
}

/// `PodExecOptions` from the query (kube's parameter codec): the command's arguments in
/// order, the streams, the container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodExecOptions {
    pub container: Option<String>,
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl PodExecOptions {
    /// Decodes the raw query (`command` repeats, which [`Query`] does not keep).
    pub fn from_raw_query(raw: &str) -> Result<PodExecOptions, ApiError> {
        let query = Query::parse(raw);
        Ok(PodExecOptions {
            container: query
                .get("container")
                .filter(|c| !c.is_empty())
                .map(str::to_string),
            command: form_urlencoded::parse(raw.as_bytes())
                .filter(|(k, _)| k == "command")
                .map(|(_, v)| v.into_owned())
                .collect(),
            stdin: parse_bool(&query, "stdin")?,
            stdout: parse_bool(&query, "stdout")?,
            stderr: parse_bool(&query, "stderr")?,
            tty: parse_bool(&query, "tty")?,
        })
    }

    /// The agent's query, as kube's `streamParams` writes kubelet's: the streams as "1"
    /// under kubelet's names, then the command.
    pub fn agent_query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (on, key) in [
            (self.stdin, "input"),
            (self.stdout, "output"),
            (self.stderr, "error"),
            (self.tty, "tty"),
        ] {
            if on {
                q.append_pair(key, "1");
            }
        }
        for c in &self.command {
            q.append_pair("command", c);
        }
        q.finish()
    }
}

/// Whether the request asks to switch to `protocol` (`Upgrade`, case-insensitive).
fn upgrade_to(headers: &http::HeaderMap, protocol: &str) -> bool {
    headers.get_all(header::UPGRADE).iter().any(|v| {
        v.to_str()
            .map(|v| {
                v.split(',')
                    .any(|t| t.trim().to_ascii_lowercase().starts_with(protocol))
            })
            .unwrap_or(false)
    })
}

/// `pods/{name}/exec` (GET for WebSocket, POST for SPDY): validated as kube's
/// `ExecLocation`, then tunnelled to the agent of the pod's node.
pub async fn pod_exec(
    server: &Server,
    req: http::Request<crate::http::ReqBody>,
    user: &crate::auth::UserInfo,
    scope: &Scope,
    name: &str,
) -> Result<Response<Body>, ApiError> {
    pod_stream(server, req, user, scope, name, Stream::Exec).await
}

/// `pods/{name}/attach`: as exec (kube's `AttachLocation`), without a command; the agent
/// joins the session to the container's own process.
pub async fn pod_attach(
    server: &Server,
    req: http::Request<crate::http::ReqBody>,
    user: &crate::auth::UserInfo,
    scope: &Scope,
    name: &str,
) -> Result<Response<Body>, ApiError> {
    pod_stream(server, req, user, scope, name, Stream::Attach).await
}

/// The streaming subresources, tunnelled to the agent of the pod's node.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stream {
    Exec,
    Attach,
    PortForward,
}

async fn pod_stream(
    server: &Server,
    req: http::Request<crate::http::ReqBody>,
    user: &crate::auth::UserInfo,
    scope: &Scope,
    name: &str,
    stream: Stream,
) -> Result<Response<Body>, ApiError> {
    let sub = match stream {
        Stream::Exec => "exec",
        Stream::Attach => "attach",
        Stream::PortForward => "portforward",
    };
    // A WebSocket handshake is a GET, authorized as `get pods/exec`; creating a process
    // (or a forward) needs `create` too (Kubernetes 1.35's
    // AuthorizePodWebsocketUpgradeCreatePermission).
    let namespace = scope.namespace.as_deref().unwrap_or_default();
    server.security.authorize(&crate::auth::Attributes {
        user,
        verb: "create",
        api_group: "",
        resource: "pods",
        subresource: sub,
        namespace,
        name,
        path: "",
        resource_request: true,
        field_selector: &[],
    })?;
    let query = req.uri().query().unwrap_or("");
    // The options are checked before the pod is looked up, as kube decodes them first.
    let (opts, ports) = match stream {
        Stream::PortForward => (PodExecOptions::default(), forwarded_ports(query)?),
        Stream::Exec | Stream::Attach => (PodExecOptions::from_raw_query(query)?, Vec::new()),
    };
    let obj = server.api.get(scope, name).await?;
    let pod = downcast::<Pod>(obj.as_ref())
        .ok_or_else(|| ApiError::internal(format!("pods/{sub} on an object that is not a pod")))?;
    let path = match stream {
        Stream::PortForward => {
            let mut path = format!("/portForward/{namespace}/{name}");
            if !ports.is_empty() {
                let mut q = form_urlencoded::Serializer::new(String::new());
                for p in &ports {
                    q.append_pair("port", &p.to_string());
                }
                path.push('?');
                path.push_str(&q.finish());
            }
            path
        }
        Stream::Exec | Stream::Attach => {
            let container = choose_container(pod, name, opts.container.as_deref())?;
            let mut opts = opts;
            if stream == Stream::Attach {
                // PodAttachOptions has no command.
                opts.command.clear();
            }
            format!(
                "/{sub}/{namespace}/{name}/{container}?{}",
                opts.agent_query()
            )
        }
    };
    let Some(node_name) = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty())
    else {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    };
    let Some(upgrade) = Upgrade::of(req.headers()) else {
        return Err(ApiError::bad_request("Upgrade request required"));
    };
    let endpoint = agent_of(server, &node_name).await?;
    let what = format!("pods/{sub}");
    tunnel(server, req, upgrade, &endpoint, &path, name, &what).await
}

/// What a streaming request upgrades to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upgrade {
    /// A GET WebSocket handshake (exec's channel protocols; port-forward's SPDY tunnel).
    WebSocket,
    /// A POST upgraded to `SPDY/3.1` (kubectl before 1.30, and port-forward before 1.31).
    Spdy,
}

impl Upgrade {
    pub fn of(headers: &http::HeaderMap) -> Option<Upgrade> {
        if upgrade_to(headers, "websocket") {
            Some(Upgrade::WebSocket)
        } else if upgrade_to(headers, "spdy") {
            Some(Upgrade::Spdy)
        } else {
            None
        }
    }

    fn token(self) -> &'static str {
        match self {
            Upgrade::WebSocket => "websocket",
            Upgrade::Spdy => "SPDY/3.1",
        }
    }
}

/// Sends the client's upgrade on to the agent at `path` and, once both have switched
/// protocols, copies the bytes both ways unread. The agent's refusal becomes a Status
/// about `what`.
async fn tunnel(
    server: &Server,
    mut req: http::Request<crate::http::ReqBody>,
    upgrade: Upgrade,
    endpoint: &NodeEndpoint,
    path: &str,
    name: &str,
    what: &str,
) -> Result<Response<Body>, ApiError> {
    let Ok(permit) = server.kubelet.tunnels.clone().try_acquire_owned() else {
        return Err(ApiError::too_many_requests(
            format!("too many streaming sessions through this server (at most {MAX_TUNNELS})"),
            1,
        ));
    };
    let (method, verb) = match upgrade {
        Upgrade::WebSocket => (http::Method::GET, "Get"),
        Upgrade::Spdy => (http::Method::POST, "Post"),
    };
    let url = format!("https://{}{path}", endpoint.authority());
    let fail = |why: String| ApiError::new(500, "", format!("{verb} {url:?}: {why}"));
    let mut sender = server.kubelet.connect(endpoint, verb, path).await?;
    let mut forward = http::Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, endpoint.authority())
        .header(header::USER_AGENT, "clipper-apiserver")
        .header(header::UPGRADE, upgrade.token())
        .header(header::CONNECTION, "Upgrade");
    for h in UPGRADE_REQUEST_HEADERS {
        for v in req.headers().get_all(*h) {
            forward = forward.header(*h, v);
        }
    }
    let forward = forward
        .body(http_body_util::Empty::<Bytes>::new())
        .map_err(|e| fail(e.to_string()))?;
    let mut resp = tokio::time::timeout(RESPONSE_HEADER_TIMEOUT, sender.send_request(forward))
        .await
        .map_err(|_| fail("timeout awaiting response headers".into()))?
        .map_err(|e| fail(e.to_string()))?;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        let code = resp.status().as_u16();
        let body = http_body_util::Limited::new(resp.into_body(), MAX_ERROR_BODY_BYTES)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return Err(agent_error_about(
            code,
            &String::from_utf8_lossy(&body),
            name,
            what,
        ));
    }
    let mut out = Response::new(crate::http::response::full(Bytes::new()));
    *out.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    for h in UPGRADE_RESPONSE_HEADERS {
        for v in resp.headers().get_all(*h) {
            out.headers_mut().append(*h, v.clone());
        }
    }
    let agent_side = hyper::upgrade::on(&mut resp);
    let client_side = hyper::upgrade::on(&mut req);
    let what = what.to_string();
    tokio::spawn(async move {
        let _permit = permit;
        let (client, agent) = match tokio::join!(client_side, agent_side) {
            (Ok(c), Ok(a)) => (c, a),
            (c, a) => {
                tracing::debug!(client = ?c.err(), agent = ?a.err(), %what, "an upgrade failed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut agent = TokioIo::new(agent);
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut agent).await {
            tracing::debug!(error = %e, %what, "tunnel ended");
        }
    });
    Ok(out)
}

/// `PodPortForwardOptions.ports` from the raw query (repeated), as kube's parameter codec
/// reads them.
pub fn forwarded_ports(raw: &str) -> Result<Vec<u16>, ApiError> {
    let mut ports = Vec::new();
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        if k != "ports" {
            continue;
        }
        if ports.len() >= MAX_FORWARDED_PORTS {
            return Err(ApiError::bad_request(format!(
                "at most {MAX_FORWARDED_PORTS} ports may be forwarded at once"
            )));
        }
        let n: i64 = v.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "ports: strconv.ParseInt: parsing {v:?}: invalid syntax"
            ))
        })?;
        // kubelet's check of the port header, made early.
        let port = u16::try_from(n)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| ApiError::bad_request(format!("port {n:?} must be > 0 and < 65536")))?;
        ports.push(port);
    }
    Ok(ports)
}

/// `pods/{name}/portforward` (POST for SPDY, GET for the WebSocket tunnel): the pod must
/// exist and be on a node; the upgrade is tunnelled to the agent's `/portForward/...`.
pub async fn pod_portforward(
    server: &Server,
    req: http::Request<crate::http::ReqBody>,
    user: &crate::auth::UserInfo,
    scope: &Scope,
    name: &str,
) -> Result<Response<Body>, ApiError> {
    pod_stream(server, req, user, scope, name, Stream::PortForward).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clipper_proto::api::core::v1::{
        Container, DaemonEndpoint, NodeAddress, NodeDaemonEndpoints, NodeStatus, PodSpec,
    };

    fn pod(containers: &[&str], init: &[&str]) -> Pod {
        let c = |n: &&str| Container {
            name: n.to_string(),
            ..Default::default()
        };
        Pod {
            spec: Some(PodSpec {
                containers: containers.iter().map(c).collect(),
                init_containers: (!init.is_empty()).then(|| init.iter().map(c).collect()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_container_is_chosen_as_kube_chooses_it() {
        assert_eq!(
            choose_container(&pod(&["a"], &[]), "p", None),
            Ok("a".into())
        );
        assert_eq!(
            choose_container(&pod(&["a", "b"], &["i"]), "p", Some("i")),
            Ok("i".into())
        );
        let e = choose_container(&pod(&["a", "b"], &[]), "p", None).expect_err("two");
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            "a container name must be specified for pod p, choose one of: [a b]"
        );
        let e = choose_container(&pod(&["a", "b"], &["i", "j"]), "p", None).expect_err("two");
        assert_eq!(
            e.message,
            "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i j]"
        );
        let e = choose_container(&pod(&["a"], &[]), "p", Some("z")).expect_err("unknown");
        assert_eq!(e.message, "container z is not valid for pod p");
    }

    #[test]
    fn options_decode_validate_and_forward() {
        let q = Query::parse(
            "container=c&follow=true&tailLines=3&timestamps=1&sinceTime=2024-05-01T10:00:00%2B02:00&insecureSkipTLSVerifyBackend=true",
        );
        let o = PodLogOptions::from_query(&q).expect("options");
        assert_eq!(o.container.as_deref(), Some("c"));
        o.validate("p").expect("valid");
        assert_eq!(
            o.agent_query(),
            "follow=true&timestamps=true&sinceTime=2024-05-01T08%3A00%3A00Z&tailLines=3"
        );
        let bad = PodLogOptions::from_query(&Query::parse("tailLines=x")).expect_err("bad");
        assert_eq!(bad.code, 400);
        let bad = PodLogOptions::from_query(&Query::parse("follow=yes")).expect_err("bad");
        assert_eq!(bad.code, 400);
        let invalid = |q: &str| {
            PodLogOptions::from_query(&Query::parse(q))
                .expect("decodes")
                .validate("p")
                .expect_err("invalid")
        };
        let e = invalid("tailLines=-1");
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "PodLogOptions \"p\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(
            invalid("limitBytes=0").message,
            "PodLogOptions \"p\" is invalid: limitBytes: Invalid value: 0: must be greater than 0"
        );
        assert_eq!(
            invalid("sinceSeconds=-5").message,
            "PodLogOptions \"p\" is invalid: sinceSeconds: Invalid value: -5: must be greater than 0"
        );
        assert_eq!(
            invalid("sinceSeconds=5&sinceTime=2024-05-01T10:00:00Z").message,
            "PodLogOptions \"p\" is invalid: []: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"
        );
    }

    #[test]
    fn the_endpoint_prefers_the_internal_ip_and_defaults_the_port() {
        let addr = |t: &str, a: &str| NodeAddress {
            type_: t.into(),
            address: a.into(),
        };
        let mut node = Node {
            status: Some(NodeStatus {
                addresses: Some(vec![addr("Hostname", "n1"), addr("InternalIP", "10.0.0.5")]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            node_endpoint(&node),
            Ok(NodeEndpoint {
                host: "10.0.0.5".into(),
                port: DEFAULT_KUBELET_PORT
            })
        );
        if let Some(s) = node.status.as_mut() {
            s.addresses = Some(vec![addr("Hostname", "n1")]);
            s.daemon_endpoints = Some(NodeDaemonEndpoints {
                kubelet_endpoint: Some(DaemonEndpoint { port: 12345 }),
            });
        }
        assert_eq!(
            node_endpoint(&node),
            Ok(NodeEndpoint {
                host: "n1".into(),
                port: 12345
            })
        );
        node.status = None;
        assert_eq!(
            node_endpoint(&node),
            Err("no preferred addresses found; known addresses: []".into())
        );
    }

    #[test]
    fn streaming_requests_say_what_they_upgrade_to() {
        let mut h = http::HeaderMap::new();
        assert_eq!(Upgrade::of(&h), None);
        h.insert(header::UPGRADE, "SPDY/3.1".parse().expect("value"));
        assert_eq!(Upgrade::of(&h), Some(Upgrade::Spdy));
        h.insert(header::UPGRADE, "websocket".parse().expect("value"));
        assert_eq!(Upgrade::of(&h), Some(Upgrade::WebSocket));
        assert_eq!(
            forwarded_ports("ports=80&x=1&ports=8080"),
            Ok(vec![80, 8080])
        );
        assert_eq!(forwarded_ports(""), Ok(vec![]));
        let e = forwarded_ports("ports=http").expect_err("not a number");
        assert_eq!(e.code, 400);
        assert_eq!(
            forwarded_ports("ports=0").expect_err("zero").message,
            "port 0 must be > 0 and < 65536"
        );
        assert!(forwarded_ports("ports=70000").is_err());
    }

    #[test]
    fn agent_errors_become_kubes_statuses() {
        let e = agent_error(
            400,
            "previous terminated container \"c\" in pod \"p\" not found\n",
            "p",
        );
        assert_eq!((e.code, e.reason), (400, "BadRequest"));
        assert_eq!(
            e.message,
            "previous terminated container \"c\" in pod \"p\" not found"
        );
        let e = agent_error(404, "pod \"p\" does not exist\n", "p");
        assert_eq!((e.code, e.reason), (404, "NotFound"));
        assert_eq!(
            e.message,
            "the server could not find the requested resource ( pods/log p)"
        );
        let e = agent_error(
            403,
            "Forbidden (user=x, verb=get, resource=nodes, subresource=proxy)",
            "p",
        );
        assert_eq!(
            e.message,
            "Forbidden (user=x, verb=get, resource=nodes, subresource=proxy) ( pods/log p)"
        );
        assert_eq!(
            agent_error(500, "boom", "p").message,
            "Internal error occurred: boom"
        );
    }
}
