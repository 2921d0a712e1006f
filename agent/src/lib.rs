//! The node agent (Kubernetes' kubelet): registers its Node and renews its Lease, runs the
//! pods bound to it through an OCI runtime (runc) with CNI networking, reports their
//! status, and serves their logs to the API server.

pub mod cni;
pub mod env;
pub mod events;
pub mod exec;
pub mod logs;
pub mod metrics;
pub mod network;
pub mod node;
pub mod oci;
pub mod pods;
pub mod portforward;
pub mod probes;
pub mod runtime;
pub mod server;
pub mod status;
pub mod streaming;
pub mod volumes;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clipper_client::{Change, ClientError, Informer, QuicClient};
use clipper_proto::api::core::v1::Pod;
use clipper_proto::wire::WatchRequest;
use tokio::sync::{mpsc, watch};

use crate::network::Network;
use crate::pods::{Context, PodWorker};
use crate::runtime::{ContainerStatus, Runtime};

/// The version the Node reports as its kubelet's: the API version Clipper serves.
pub const KUBELET_VERSION: &str = "v1.33.0-clipper";

/// Where one container's log files are, for the logs server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerLogs {
    /// The attempt of the latest run, if it ran.
    pub current: Option<u32>,
    /// The attempt before it (`--previous`), once that one has exited.
    pub previous: Option<u32>,
    pub running: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodLogs {
    pub uid: String,
    pub containers: BTreeMap<String, ContainerLogs>,
}

/// The pods' log locations, published by the pod workers and read by the logs server.
/// A watch channel per pod, so that a follower learns when its container stops.
#[derive(Clone)]
pub struct LogIndex {
    /// Where the log files are (`<root>/logs`).
    root: PathBuf,
    pods: Arc<parking_lot::Mutex<HashMap<PodKey, watch::Sender<PodLogs>>>>,
}

/// `(namespace, name)`.
type PodKey = (String, String);

impl LogIndex {
    pub fn new(root: PathBuf) -> LogIndex {
        LogIndex {
            root,
            pods: Arc::default(),
        }
    }

    pub fn publish(&self, namespace: &str, name: &str, logs: PodLogs) {
        let mut pods = self.pods.lock();
        match pods.get(&(namespace.to_string(), name.to_string())) {
            Some(tx) => {
                tx.send_if_modified(|old| {
                    let changed = *old != logs;
                    if changed {
                        *old = logs;
                    }
                    changed
                });
            }
            None => {
                let (tx, _) = watch::channel(logs);
                pods.insert((namespace.to_string(), name.to_string()), tx);
            }
        }
    }

    pub fn remove(&self, namespace: &str, name: &str) {
        self.pods
            .lock()
            .remove(&(namespace.to_string(), name.to_string()));
    }

    /// The pod's current log locations and a receiver of their changes.
    pub fn get(&self, namespace: &str, name: &str) -> Option<watch::Receiver<PodLogs>> {
        self.pods
            .lock()
            .get(&(namespace.to_string(), name.to_string()))
            .map(watch::Sender::subscribe)
    }
}

impl server::LogSource for LogIndex {
    fn locate(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        previous: bool,
    ) -> Result<server::LocatedLog, server::LogError> {
        use server::LogError;
        let mut rx = self
            .get(namespace, pod)
            .ok_or_else(|| LogError::NotFound(format!("pod \"{pod}\" does not exist")))?;
        let logs = rx.borrow_and_update().clone();
        let c = logs.containers.get(container).ok_or_else(|| {
            LogError::NotFound(format!(
                "container \"{container}\" not found in pod \"{pod}\""
            ))
        })?;
        let path = |attempt: u32| {
            logs::container_log_path(&self.root, namespace, pod, &logs.uid, container, attempt)
        };
        if previous {
            return match c.previous {
                Some(a) => Ok(server::LocatedLog::finished(path(a))),
                None => Err(LogError::BadRequest(format!(
                    "previous terminated container \"{container}\" in pod \"{pod}\" not found"
                ))),
            };
        }
        let Some(attempt) = c.current else {
            return Err(LogError::BadRequest(format!(
                "container \"{container}\" in pod \"{pod}\" is waiting to start: ContainerCreating"
            )));
        };
        if !c.running {
            return Ok(server::LocatedLog::finished(path(attempt)));
        }
        // Finished once this attempt stops running, or the pod goes.
        let (done, finished) = watch::channel(false);
        let container = container.to_string();
        tokio::spawn(async move {
            loop {
                if rx.changed().await.is_err() {
                    break;
                }
                let still = rx
                    .borrow_and_update()
                    .containers
                    .get(&container)
                    .is_some_and(|c| c.running && c.current == Some(attempt));
                if !still || done.is_closed() {
                    break;
                }
            }
            let _ = done.send(true);
        });
        Ok(server::LocatedLog {
            path: path(attempt),
            finished,
        })
    }
}

impl exec::ExecTarget for LogIndex {
    /// The runtime id of the container's current attempt if it is running (the pod
    /// workers name containers `{pod uid}-{container}-{attempt}`).
    fn locate_container(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
    ) -> Result<String, server::LogError> {
        let not_found =
            || server::LogError::NotFound(format!("container not found (\"{container}\")"));
        let rx = self.get(namespace, pod).ok_or_else(not_found)?;
        let logs = rx.borrow();
        match logs.containers.get(container) {
            Some(ContainerLogs {
                current: Some(attempt),
                running: true,
                ..
            }) => Ok(format!("{}-{container}-{attempt}", logs.uid)),
            _ => Err(not_found()),
        }
    }

    fn locate_pod(&self, namespace: &str, pod: &str) -> Result<String, server::LogError> {
        self.get(namespace, pod)
            .map(|rx| rx.borrow().uid.clone())
            .ok_or_else(|| server::LogError::NotFound("pod does not exist".into()))
    }
}

impl metrics::ContainerSource for LogIndex {
    /// Every container whose current attempt runs (the pod workers name containers
    /// `{pod uid}-{container}-{attempt}`).
    fn running_containers(&self) -> Vec<metrics::ContainerRef> {
        let pods: Vec<(PodKey, PodLogs)> = self
            .pods
            .lock()
            .iter()
            .map(|(k, tx)| (k.clone(), tx.borrow().clone()))
            .collect();
        let mut out = Vec::new();
        for ((namespace, pod), logs) in pods {
            for (name, c) in &logs.containers {
                if let (true, Some(attempt)) = (c.running, c.current) {
                    out.push(metrics::ContainerRef {
                        namespace: namespace.clone(),
                        pod: pod.clone(),
                        pod_uid: logs.uid.clone(),
                        container: name.clone(),
                        id: format!("{}-{name}-{attempt}", logs.uid),
                    });
                }
            }
        }
        out
    }
}

/// The agent's settings.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub node_name: String,
    /// The agent's data: pod directories, container logs (`<root>/logs`).
    pub root: PathBuf,
    /// The address other hosts and the API server reach this node at.
    pub node_ip: Option<IpAddr>,
    pub pod_cidr: Option<String>,
    pub cluster_dns: Option<IpAddr>,
    pub cluster_domain: String,
    /// The port of the agent's HTTPS API (logs), published in the Node's status.
    pub kubelet_port: u16,
    /// `containerRuntimeVersion` in the Node's status, e.g. `runc://1.1.5`.
    pub runtime_version: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("registering node {node}: {source}")]
    Register { node: String, source: ClientError },
    #[error("watching the node's pods: {0}")]
    Watch(ClientError),
    #[error("{0}")]
    Runtime(String),
}

/// The agent: one task per pod under a loop that watches the pods bound to the node.
pub struct Agent {
    api: Arc<QuicClient>,
    runtime: Arc<dyn Runtime>,
    network: Arc<dyn Network>,
    config: AgentConfig,
    log_index: LogIndex,
}

impl Agent {
    pub fn new(
        api: Arc<QuicClient>,
        runtime: Arc<dyn Runtime>,
        network: Arc<dyn Network>,
        config: AgentConfig,
    ) -> Agent {
        Agent {
            api,
            runtime,
            network,
            log_index: LogIndex::new(config.root.join("logs")),
            config,
        }
    }

    /// Where the logs server looks up containers.
    pub fn log_source(&self) -> Arc<dyn server::LogSource> {
        Arc::new(self.log_index.clone())
    }

    /// Where the exec server looks up running containers.
    pub fn exec_target(&self) -> Arc<dyn exec::ExecTarget> {
        Arc::new(self.log_index.clone())
    }

    /// What `GET /metrics/resource` serves: this node's running containers, read from
    /// their cgroups, and the node's totals.
    pub fn resource_metrics(&self) -> Arc<metrics::ResourceMetrics> {
        Arc::new(metrics::ResourceMetrics {
            source: Arc::new(self.log_index.clone()),
            collector: metrics::Collector::host(Some(self.config.root.join("containers"))),
        })
    }

    pub fn logs_root(&self) -> PathBuf {
        self.config.root.join("logs")
    }

    /// Registers the node, then runs its pods until `stop` turns true. Stopping leaves the
    /// containers running, as a kubelet restart does; the next run adopts them.
    pub async fn run(self, mut stop: watch::Receiver<bool>) -> Result<(), AgentError> {
        let c = &self.config;
        let facts = node::NodeFacts::gather(
            &c.node_name,
            c.node_ip,
            c.pod_cidr.clone(),
            c.kubelet_port,
            &c.root,
            &c.runtime_version,
        );
        node::register(&self.api, &facts)
            .await
            .map_err(|source| AgentError::Register {
                node: c.node_name.clone(),
                source,
            })?;
        if let Err(e) = node::renew_lease(&self.api, &c.node_name).await {
            tracing::warn!("creating the node lease: {e}");
        }
        let heartbeat = tokio::spawn(node::heartbeat(self.api.clone(), facts, stop.clone()));

        let ctx = Arc::new(Context {
            api: self.api.clone(),
            runtime: self.runtime.clone(),
            network: self.network.clone(),
            node_name: c.node_name.clone(),
            node_ip: c.node_ip,
            root: c.root.clone(),
            logs: self.logs_root(),
            cluster_dns: c.cluster_dns,
            cluster_domain: c.cluster_domain.clone(),
            log_index: self.log_index.clone(),
        });
        // What a previous run left: containers by pod, pod networks.
        let mut adopted: HashMap<String, Vec<ContainerStatus>> = HashMap::new();
        match self.runtime.list().await {
            Ok(list) => {
                for s in list {
                    adopted.entry(s.pod_uid.clone()).or_default().push(s);
                }
            }
            Err(e) => return Err(AgentError::Runtime(format!("listing containers: {e}"))),
        }
        let networks = self.network.list().await.unwrap_or_else(|e| {
            tracing::warn!("listing pod networks: {e}");
            Vec::new()
        });

        let mut pods: Informer<Pod> = Informer::new(self.api.watch(WatchRequest {
            group: String::new(),
            version: "v1".into(),
            resource: "pods".into(),
            field_selector: format!("spec.nodeName={}", c.node_name),
            ..Default::default()
        }));
        let mut workers: HashMap<String, watch::Sender<Option<Arc<Pod>>>> = HashMap::new();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<String>();
        let mut cleaned = false;
        let result = loop {
            tokio::select! {
                _ = stop.changed() => break Ok(()),
                done = done_rx.recv() => {
                    if let Some(uid) = done {
                        workers.remove(&uid);
                    }
                }
                changes = pods.next() => {
                    let changes = match changes {
                        Ok(c) => c,
                        Err(e) => break Err(AgentError::Watch(e)),
                    };
                    for change in changes {
                        match change {
                            Change::Added(p) | Change::Updated { new: p, .. } => {
                                let uid = p.metadata.uid.clone().unwrap_or_default();
                                match workers.get(&uid) {
                                    Some(tx) => {
                                        let _ = tx.send(Some(p));
                                    }
                                    None => {
                                        let (tx, rx) = watch::channel(Some(p.clone()));
                                        let mine = adopted.remove(&uid).unwrap_or_default();
                                        let worker = PodWorker::new(ctx.clone(), p, rx, mine);
                                        tokio::spawn(worker.run(done_tx.clone()));
                                        workers.insert(uid, tx);
                                    }
                                }
                            }
                            Change::Deleted(p) => {
                                let uid = p.metadata.uid.clone().unwrap_or_default();
                                if let Some(tx) = workers.get(&uid) {
                                    let _ = tx.send(None);
                                }
                            }
                            Change::Synced(_) if !cleaned => {
                                cleaned = true;
                                let live: Vec<String> = workers.keys().cloned().collect();
                                let orphans = std::mem::take(&mut adopted);
                                tokio::spawn(clean_orphans(ctx.clone(), orphans, networks.clone(), live));
                            }
                            Change::Synced(_) => {}
                        }
                    }
                }
            }
        };
        heartbeat.abort();
        result
    }
}

/// Removes what a previous run left for pods that no longer exist.
async fn clean_orphans(
    ctx: Arc<Context>,
    containers: HashMap<String, Vec<ContainerStatus>>,
    networks: Vec<String>,
    live: Vec<String>,
) {
    for (uid, list) in containers {
        for c in list {
            tracing::info!(pod = %uid, container = %c.id, "removing a container of a pod that is gone");
            if let Err(e) = ctx.runtime.stop(&c.id, std::time::Duration::ZERO).await {
                tracing::warn!(container = %c.id, "stopping: {e}");
            }
            if let Err(e) = ctx.runtime.remove(&c.id).await {
                tracing::warn!(container = %c.id, "removing: {e}");
            }
        }
        let _ = std::fs::remove_dir_all(ctx.pod_dir(&uid));
    }
    for uid in networks.into_iter().filter(|u| !live.contains(u)) {
        if let Err(e) = ctx.network.teardown(&uid).await {
            tracing::warn!(pod = %uid, "tearing down a stale pod network: {e}");
        }
    }
}
