//! The node agent as `clipper up` and `clipper agent` run it: the runc runtime (with
//! `clipper shim` as its per-container monitor), CNI bridge networking, the agent's
//! HTTPS API for container logs, and the pod loop.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

/// The agent's settings, from `clipper up`'s configuration or `clipper agent`'s flags.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    pub node_name: String,
    /// `<data-dir>/agent`: images, containers, pod directories, logs, CNI state.
    pub root: PathBuf,
    pub pod_cidr: String,
    pub pod_bridge: String,
    pub port: u16,
    pub node_ip: Option<IpAddr>,
    pub cluster_dns: Option<IpAddr>,
    pub cluster_domain: String,
    /// The cluster CA (PEM): whose client certificates the agent's API accepts.
    pub ca_pem: String,
}

pub type AgentTask = tokio::task::JoinHandle<Result<(), clipper_agent::AgentError>>;

/// A DER certificate as PEM.
pub fn certificate_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// The runc version for the Node's `containerRuntimeVersion` (`runc://1.1.5`).
fn runc_version(runc: &std::path::Path) -> String {
    let out = std::process::Command::new(runc).arg("--version").output();
    let version = out
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.strip_prefix("runc version "))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    format!("runc://{version}")
}

/// Starts the agent: checks its tools, serves its API, and runs the pod loop under
/// `api`'s identity.
pub async fn start(
    api: Arc<clipper_client::QuicClient>,
    opts: AgentOptions,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<AgentTask> {
    std::fs::create_dir_all(&opts.root)
        .with_context(|| format!("creating the agent's directory {}", opts.root.display()))?;
    let runc = PathBuf::from(clipper_agent::oci::DEFAULT_RUNC);
    let shim = std::env::current_exe().context("finding the clipper executable for the shim")?;
    let runtime = clipper_agent::oci::OciRuntime::new(clipper_agent::oci::OciConfig {
        root: opts.root.clone(),
        runc: runc.clone(),
        shim_program: shim,
        shim_args: vec!["shim".into()],
    })
    .map_err(|e| anyhow::anyhow!("the container runtime: {e}"))?;
    let mut cni = clipper_agent::cni::CniConfig::new(opts.root.join("cni"), opts.pod_cidr.clone());
    cni.bridge = opts.pod_bridge.clone();
    let network = clipper_agent::cni::CniNetwork::new(cni)
        .map_err(|e| anyhow::anyhow!("pod networking: {e}"))?;
    let node_ip = opts
        .node_ip
        .or_else(clipper_apiserver::run::default_route_ip)
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let config = clipper_agent::AgentConfig {
        node_name: opts.node_name.clone(),
        root: opts.root.clone(),
        node_ip: Some(node_ip),
        pod_cidr: Some(opts.pod_cidr.clone()),
        cluster_dns: opts.cluster_dns,
        cluster_domain: opts.cluster_domain.clone(),
        kubelet_port: opts.port,
        runtime_version: runc_version(&runc),
    };
    let runtime = Arc::new(runtime);
    let agent = clipper_agent::Agent::new(api, runtime.clone(), Arc::new(network), config);
    let exec = clipper_agent::exec::ExecService::new(agent.exec_target(), runtime);
    let server = clipper_agent::server::AgentServer::start_full(
        clipper_agent::server::ServerConfig {
            listen: std::net::SocketAddr::new(IpAddr::from([0, 0, 0, 0]), opts.port),
            client_ca_pem: opts.ca_pem.clone(),
            serving_names: vec![opts.node_name.clone(), node_ip.to_string()],
        },
        agent.log_source(),
        Some(exec),
        Some(agent.resource_metrics()),
    )
    .await
    .map_err(|e| anyhow::anyhow!("the agent's API (agent-port {}): {e}", opts.port))?;
    say!(
        "clipper: node agent running (node {}, address {node_ip}, pods {} on {}, API on port {})",
        opts.node_name,
        opts.pod_cidr,
        opts.pod_bridge,
        server.addr().port()
    );
    Ok(tokio::spawn(async move {
        let result = agent.run(stop).await;
        server.shutdown().await;
        result
    }))
}
