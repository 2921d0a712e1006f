//! Pod workers: one task per pod bound to the node, which brings the runtime in line with
//! the pod's spec (network, files, init containers in order, then the containers, restarts
//! with back-off), reports the pod's status, and on deletion stops the containers within
//! the grace period, releases the network and removes the pod from the API.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clipper_client::QuicClient;
use clipper_proto::Time;
use clipper_proto::api::core::v1::{Container, Pod};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use crate::network::{Attachment, Network, PodRef};
use crate::runtime::{
    ContainerSpec, ContainerState, ContainerStatus, Mount, PullPolicy, Runtime, RuntimeError,
};
use crate::status::{ContainerRecord, Observed, pod_status};
use crate::volumes;

/// How often a worker looks at its containers when nothing else wakes it: kubelet's PLEG
/// relist period.
pub const RESYNC: Duration = Duration::from_secs(1);
/// The first restart back-off after the first (immediate) restart: kubelet's.
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
/// The longest restart back-off: kubelet's CrashLoopBackOff cap.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A container that ran this long has its back-off reset: kubelet's.
pub const BACKOFF_RESET: Duration = Duration::from_secs(600);
/// The grace period when neither the deletion nor the spec gives one: Kubernetes' default.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// What every worker shares.
pub struct Context {
    pub api: Arc<QuicClient>,
    pub runtime: Arc<dyn Runtime>,
    pub network: Arc<dyn Network>,
    pub node_name: String,
    pub node_ip: Option<IpAddr>,
    /// Pod directories (volumes, hosts and resolv.conf files): `<root>/pods/<uid>`.
    pub root: PathBuf,
    /// Container logs: `<logs>/<namespace>_<name>_<uid>/<container>/<attempt>.log`.
    pub logs: PathBuf,
    pub cluster_dns: Option<IpAddr>,
    pub cluster_domain: String,
    /// What the pods' logs server needs to find a container's files.
    pub log_index: crate::LogIndex,
}

impl Context {
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.root.join("pods").join(uid)
    }
}

/// Per-container restart back-off.
#[derive(Clone, Copy, Debug, Default)]
struct Backoff {
    /// The delay to apply after the next exit; zero until the first restart.
    next: Duration,
    /// No restart before this instant.
    until: Option<Instant>,
}

impl Backoff {
    /// Called when a container exited and should restart: returns when it may.
    fn schedule(&mut self, now: Instant, ran: Duration) -> Instant {
        if ran >= BACKOFF_RESET {
            self.next = Duration::ZERO;
        }
        let at = now + self.next;
        self.next = if self.next.is_zero() {
            BACKOFF_INITIAL
        } else {
            (self.next * 2).min(BACKOFF_MAX)
        };
        self.until = Some(at);
        at
    }
}

/// Why a worker ended.
pub enum Exit {
    /// The pod is gone from the API and from the node.
    Removed,
}

pub struct PodWorker {
    ctx: Arc<Context>,
    uid: String,
    pod: Arc<Pod>,
    updates: watch::Receiver<Option<Arc<Pod>>>,
    init: Vec<ContainerRecord>,
    containers: Vec<ContainerRecord>,
    backoff: HashMap<String, Backoff>,
    /// Per-container back-off after failures to create or start it (image, config,
    /// runtime errors), so that a broken container is retried on kubelet's schedule
    /// rather than every resync.
    start_backoff: HashMap<String, Backoff>,
    /// The probes of each running container's current attempt.
    probes: HashMap<String, crate::probes::ContainerProbes>,
    attachment: Option<Attachment>,
    /// Files and volumes written.
    prepared: Option<Prepared>,
    start_time: Time,
    last_status: Option<Value>,
    terminal: Option<&'static str>,
    /// Containers the runtime already held for this pod when the worker started.
    adopted: Vec<ContainerStatus>,
}

/// A pod's files, ready to mount.
struct Prepared {
    /// Volume name → host directory or file.
    volumes: BTreeMap<String, (PathBuf, bool)>,
    etc: Vec<Mount>,
}

fn spec_of(pod: &Pod) -> Option<&clipper_proto::api::core::v1::PodSpec> {
    pod.spec.as_ref()
}

fn names(pod: &Pod) -> (&str, &str) {
    (
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name.as_deref().unwrap_or(""),
    )
}

impl PodWorker {
    pub fn new(
        ctx: Arc<Context>,
        pod: Arc<Pod>,
        updates: watch::Receiver<Option<Arc<Pod>>>,
        adopted: Vec<ContainerStatus>,
    ) -> PodWorker {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let records = |cs: Option<&Vec<Container>>| -> Vec<ContainerRecord> {
            cs.map(|cs| {
                cs.iter()
                    .map(|c| ContainerRecord::new(&c.name, c.image.as_deref().unwrap_or("")))
                    .collect()
            })
            .unwrap_or_default()
        };
        let spec = spec_of(&pod);
        let init = records(spec.and_then(|s| s.init_containers.as_ref()));
        let containers = records(spec.map(|s| &s.containers));
        // A pod the node already ran keeps its reported start time and terminal phase.
        let status = pod.status.as_ref();
        let start_time = status.and_then(|s| s.start_time).unwrap_or_else(Time::now);
        let terminal = match status.and_then(|s| s.phase.as_deref()) {
            Some("Succeeded") => Some("Succeeded"),
            Some("Failed") => Some("Failed"),
            _ => None,
        };
        PodWorker {
            ctx,
            uid,
            pod,
            updates,
            init,
            containers,
            backoff: HashMap::new(),
            start_backoff: HashMap::new(),
            probes: HashMap::new(),
            attachment: None,
            prepared: None,
            start_time,
            last_status: None,
            terminal,
            adopted,
        }
    }

    /// Runs until the pod is gone.
    pub async fn run(mut self, done: mpsc::UnboundedSender<String>) {
        self.adopt();
        loop {
            let gone = self.updates.borrow_and_update().clone();
            match gone {
                None => {
                    self.terminate(None).await;
                    break;
                }
                Some(p) => self.pod = p,
            }
            if self.pod.metadata.deletion_timestamp.is_some() {
                let grace = self
                    .pod
                    .metadata
                    .deletion_grace_period_seconds
                    .or_else(|| spec_of(&self.pod).and_then(|s| s.termination_grace_period_seconds))
                    .map_or(DEFAULT_GRACE, |s| Duration::from_secs(s.max(0) as u64));
                tracing::info!(pod = %self.uid, ?grace, "stopping the pod's containers");
                self.terminate(Some(grace)).await;
                self.delete_from_api().await;
                break;
            }
            self.sync().await;
            tokio::select! {
                r = self.updates.changed() => {
                    if r.is_err() {
                        // The agent is stopping: leave the containers running.
                        return;
                    }
                }
                _ = tokio::time::sleep(RESYNC) => {}
            }
        }
        let _ = done.send(self.uid.clone());
    }

    /// Takes over the containers a previous run of the agent started.
    fn adopt(&mut self) {
        let mut adopted = std::mem::take(&mut self.adopted);
        adopted.sort_by_key(|c| c.attempt);
        for c in adopted {
            let record = self
                .init
                .iter_mut()
                .chain(self.containers.iter_mut())
                .find(|r| r.name == c.container_name);
            if let Some(r) = record {
                if let Some(old) = r.current.take() {
                    r.previous = Some(old);
                }
                r.restart_count = c.attempt;
                r.image_id = c.image_id.clone();
                r.current = Some(c);
            }
        }
    }

    fn pod_ref(&self) -> PodRef {
        let (ns, name) = names(&self.pod);
        PodRef {
            uid: self.uid.clone(),
            namespace: ns.to_string(),
            name: name.to_string(),
        }
    }

    async fn sync(&mut self) {
        self.refresh().await;
        if let Some(phase) = self.terminal {
            // A finished pod keeps its containers' last state; its network goes.
            self.release_network().await;
            self.publish_logs();
            self.report(Some(phase)).await;
            return;
        }
        if let Err(message) = self.prepare().await {
            for r in self.init.iter_mut().chain(self.containers.iter_mut()) {
                if r.current.is_none() {
                    r.waiting = Some(("ContainerCreating".into(), message.clone()));
                }
            }
            self.event("Warning", "FailedCreatePodSandBox", &message);
            self.report(None).await;
            return;
        }
        let restart_policy = spec_of(&self.pod)
            .and_then(|s| s.restart_policy.clone())
            .unwrap_or_else(|| "Always".into());
        // Init containers, one at a time, in order.
        let mut init_done = true;
        for i in 0..self.init.len() {
            match self.init[i].exit_code() {
                Some(0) => continue,
                _ => {
                    init_done = false;
                    let policy = if restart_policy == "Never" {
                        "Never"
                    } else {
                        "OnFailure"
                    };
                    self.advance(true, i, policy).await;
                    break;
                }
            }
        }
        if init_done {
            for i in 0..self.containers.len() {
                self.advance(false, i, &restart_policy).await;
            }
            self.run_probes().await;
        }
        let phase = crate::status::phase(&restart_policy, &self.init, &self.containers);
        if matches!(phase, "Succeeded" | "Failed") {
            self.terminal = Some(phase);
        }
        self.publish_logs();
        self.report(self.terminal).await;
    }

    /// Reads the runtime's view of every container's latest attempt.
    async fn refresh(&mut self) {
        for r in self.init.iter_mut().chain(self.containers.iter_mut()) {
            let Some(id) = r.current.as_ref().map(|c| c.id.clone()) else {
                continue;
            };
            match self.ctx.runtime.status(&id).await {
                Ok(s) => {
                    r.ready = matches!(s.state, ContainerState::Running { .. });
                    r.current = Some(s);
                }
                Err(RuntimeError::NotFound(_)) => {
                    // Removed behind our back: report it as an unknown exit and let the
                    // restart policy decide.
                    let finished = std::time::SystemTime::now();
                    if let Some(c) = r.current.as_mut()
                        && !matches!(c.state, ContainerState::Exited { .. })
                    {
                        c.state = ContainerState::Exited {
                            exit_code: 137,
                            started_at: None,
                            finished_at: finished,
                            reason: "ContainerStatusUnknown".into(),
                        };
                    }
                    r.ready = false;
                }
                Err(e) => tracing::warn!(container = %id, "reading a container's state: {e}"),
            }
        }
    }

    /// One step for one container: start it, or restart it when its policy and back-off
    /// allow.
    async fn advance(&mut self, init: bool, i: usize, policy: &str) {
        let record = if init {
            &self.init[i]
        } else {
            &self.containers[i]
        };
        let name = record.name.clone();
        let state = record.current.as_ref().map(|c| c.state.clone());
        let attempt = match state {
            None => 0,
            Some(ContainerState::Running { .. } | ContainerState::Created) => {
                let r = self.record(init, i);
                r.waiting = None;
                return;
            }
            Some(ContainerState::Exited {
                exit_code,
                started_at,
                finished_at,
                ..
            }) => {
                let restart = policy == "Always" || (policy == "OnFailure" && exit_code != 0);
                let r = self.record(init, i);
                if !restart {
                    r.waiting = None;
                    return;
                }
                let now = Instant::now();
                let backoff = self.backoff.entry(name.clone()).or_default();
                let until = match backoff.until {
                    Some(u) => u,
                    None => {
                        let ran = started_at
                            .and_then(|s| finished_at.duration_since(s).ok())
                            .unwrap_or_default();
                        backoff.schedule(now, ran)
                    }
                };
                if until > now {
                    let wait = backoff.next / 2;
                    let (ns, pod) = names(&self.pod);
                    let (ns, pod) = (ns.to_string(), pod.to_string());
                    let message = format!(
                        "back-off {}s restarting failed container={name} pod={pod}_{ns}({})",
                        wait.as_secs().max(1),
                        self.uid
                    );
                    let backing_off = self.record(init, i).waiting.as_ref().map(|w| w.0.as_str())
                        == Some("CrashLoopBackOff");
                    if !backing_off {
                        self.event(
                            "Warning",
                            "BackOff",
                            &format!(
                                "Back-off restarting failed container {name} in pod {pod}_{ns}({})",
                                self.uid
                            ),
                        );
                    }
                    self.record(init, i).waiting = Some(("CrashLoopBackOff".into(), message));
                    return;
                }
                backoff.until = None;
                self.record(init, i).restart_count + 1
            }
        };
        let now = Instant::now();
        if let Some(until) = self.start_backoff.get(&name).and_then(|b| b.until)
            && until > now
        {
            let r = self.record(init, i);
            if let Some(w) = r.waiting.as_mut()
                && w.0 == "ErrImagePull"
            {
                w.0 = "ImagePullBackOff".into();
            }
            return;
        }
        match self.start(init, i, attempt).await {
            Ok(()) => {
                self.start_backoff.remove(&name);
            }
            Err((reason, message)) => {
                self.event("Warning", "Failed", &message);
                self.start_backoff
                    .entry(name)
                    .or_default()
                    .schedule(now, Duration::ZERO);
                let r = self.record(init, i);
                r.waiting = Some((reason, message));
            }
        }
    }

    /// Runs the probes that are due: startup first, then liveness (a failure kills the
    /// container, which its restart policy then restarts) and readiness.
    async fn run_probes(&mut self) {
        let now = Instant::now();
        let pod_ip = self.attachment.as_ref().map(|a| a.ip).or(self.ctx.node_ip);
        for i in 0..self.containers.len() {
            let r = &self.containers[i];
            let name = r.name.clone();
            let Some((id, attempt, started_at)) = r.current.as_ref().and_then(|c| match c.state {
                ContainerState::Running { started_at, .. } => {
                    Some((c.id.clone(), c.attempt, started_at))
                }
                _ => None,
            }) else {
                self.probes.remove(&name);
                continue;
            };
            let Some(spec) = self.container_spec(false, i) else {
                continue;
            };
            if spec.startup_probe.is_none()
                && spec.liveness_probe.is_none()
                && spec.readiness_probe.is_none()
            {
                continue;
            }
            let ran = std::time::SystemTime::now()
                .duration_since(started_at)
                .unwrap_or_default();
            let started = now.checked_sub(ran).unwrap_or(now);
            let probes = self
                .probes
                .entry(name.clone())
                .and_modify(|p| {
                    if p.attempt != attempt {
                        *p = crate::probes::ContainerProbes::new(&spec, attempt, started);
                    }
                })
                .or_insert_with(|| crate::probes::ContainerProbes::new(&spec, attempt, started));
            let mut kill: Option<String> = None;
            let mut unhealthy: Vec<String> = Vec::new();
            let runtime = self.ctx.runtime.clone();
            let kinds: [(&str, Option<&clipper_proto::api::core::v1::Probe>); 3] = [
                ("Startup", spec.startup_probe.as_ref()),
                ("Liveness", spec.liveness_probe.as_ref()),
                ("Readiness", spec.readiness_probe.as_ref()),
            ];
            for (kind, probe) in kinds {
                let Some(probe) = probe else { continue };
                if kind != "Startup" && !probes.started() {
                    continue;
                }
                let tracker = match kind {
                    "Startup" => probes.startup.as_mut(),
                    "Liveness" => probes.liveness.as_mut(),
                    _ => probes.readiness.as_mut(),
                };
                let Some(tracker) = tracker else { continue };
                if (kind == "Startup" && tracker.result) || !tracker.due(now) {
                    continue;
                }
                let outcome =
                    crate::probes::check(runtime.as_ref(), &id, &spec, probe, pod_ip).await;
                let verdict = tracker.record(outcome.is_ok(), Instant::now());
                if let Err(message) = &outcome {
                    unhealthy.push(format!("{kind} probe failed: {message}"));
                }
                let failed = match kind {
                    "Startup" => tracker.failed(),
                    "Liveness" => !verdict,
                    _ => false,
                };
                if failed {
                    kill = Some(format!(
                        "Container {name} failed {} probe, will be restarted",
                        kind.to_lowercase()
                    ));
                    break;
                }
            }
            let (ready, startup_pending) = (probes.ready(), !probes.started());
            for message in unhealthy {
                self.event("Warning", "Unhealthy", &message);
            }
            if let Some(message) = kill {
                self.event("Normal", "Killing", &message);
                let grace = spec
                    .liveness_probe
                    .as_ref()
                    .and_then(|p| p.termination_grace_period_seconds)
                    .or_else(|| spec_of(&self.pod).and_then(|s| s.termination_grace_period_seconds))
                    .map_or(DEFAULT_GRACE, |s| Duration::from_secs(s.max(0) as u64));
                if let Err(e) = self.ctx.runtime.stop(&id, grace).await {
                    tracing::warn!(container = %id, "stopping after a failed probe: {e}");
                }
                self.probes.remove(&name);
                if let Ok(s) = self.ctx.runtime.status(&id).await {
                    self.containers[i].current = Some(s);
                }
            }
            let r = &mut self.containers[i];
            r.ready = ready && r.running();
            r.startup_pending = startup_pending && r.running();
        }
    }

    fn record(&mut self, init: bool, i: usize) -> &mut ContainerRecord {
        if init {
            &mut self.init[i]
        } else {
            &mut self.containers[i]
        }
    }

    fn container_spec(&self, init: bool, i: usize) -> Option<Container> {
        let spec = spec_of(&self.pod)?;
        let list = if init {
            spec.init_containers.as_ref()?
        } else {
            &spec.containers
        };
        list.get(i).cloned()
    }

    /// Creates and starts attempt `attempt` of a container. Errors are (reason, message)
    /// as the container's waiting state reports them.
    async fn start(&mut self, init: bool, i: usize, attempt: u32) -> Result<(), (String, String)> {
        let Some(c) = self.container_spec(init, i) else {
            return Ok(());
        };
        let image = c.image.clone().unwrap_or_default();
        let policy = match c.image_pull_policy.as_deref() {
            Some("Always") => PullPolicy::Always,
            Some("Never") => PullPolicy::Never,
            _ => PullPolicy::IfNotPresent,
        };
        let info = match self.ctx.runtime.ensure_image(&image, policy).await {
            Ok(info) => info,
            Err(RuntimeError::ImageNeverPull(m)) => return Err(("ErrImageNeverPull".into(), m)),
            Err(e) => return Err(("ErrImagePull".into(), e.to_string())),
        };
        if self.record(init, i).image_id.is_empty() {
            self.event(
                "Normal",
                "Pulled",
                &format!("Container image \"{image}\" already present on machine"),
            );
        }
        self.record(init, i).image_id = info.id.clone();
        let spec = self
            .build_spec(&c, attempt)
            .await
            .map_err(|m| ("CreateContainerConfigError".to_string(), m))?;
        // Only the latest exited attempt is kept (as kubelet keeps one dead container).
        let r = self.record(init, i);
        let older = r.previous.take();
        let latest = r.current.take();
        if let Some(old) = older
            && let Err(e) = self.ctx.runtime.remove(&old.id).await
        {
            tracing::warn!(container = %old.id, "removing an old attempt: {e}");
        }
        let r = self.record(init, i);
        r.previous = latest;
        if let Some(parent) = spec.log_path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                (
                    "RunContainerError".to_string(),
                    format!("{}: {e}", parent.display()),
                )
            })?;
        }
        match self.ctx.runtime.create_and_start(&spec).await {
            Ok(()) => {}
            Err(RuntimeError::InvalidSpec(m)) => {
                return Err(("CreateContainerConfigError".into(), m));
            }
            Err(e) => return Err(("RunContainerError".into(), e.to_string())),
        }
        self.event(
            "Normal",
            "Created",
            &format!("Created container {}", c.name),
        );
        self.event(
            "Normal",
            "Started",
            &format!("Started container {}", c.name),
        );
        let status = self.ctx.runtime.status(&spec.id).await.ok();
        let r = self.record(init, i);
        r.restart_count = attempt;
        r.waiting = None;
        r.current = Some(status.unwrap_or(ContainerStatus {
            id: spec.id.clone(),
            pod_uid: spec.pod_uid.clone(),
            container_name: spec.container_name.clone(),
            attempt,
            image_id: info.id,
            state: ContainerState::Created,
        }));
        r.ready = r.running();
        Ok(())
    }

    /// The runtime's spec of one attempt of a container.
    async fn build_spec(&self, c: &Container, attempt: u32) -> Result<ContainerSpec, String> {
        let (ns, name) = names(&self.pod);
        let spec = spec_of(&self.pod).ok_or("the pod has no spec")?;
        let pod_ip = self.attachment.as_ref().map(|a| a.ip).or(self.ctx.node_ip);
        let env = crate::env::container_env(&self.ctx.api, &self.pod, c, pod_ip, self.ctx.node_ip)
            .await?;
        let lookup: HashMap<&str, &str> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let expand = |v: &Option<Vec<String>>| -> Vec<String> {
            v.iter()
                .flatten()
                .map(|s| crate::env::expand(s, &lookup))
                .collect()
        };
        let prepared = self
            .prepared
            .as_ref()
            .ok_or("the pod's volumes are not ready")?;
        let mut mounts = prepared.etc.clone();
        for m in c.volume_mounts.iter().flatten() {
            let (host, read_only) = prepared
                .volumes
                .get(&m.name)
                .ok_or_else(|| format!("volume {:?} is not defined in the pod", m.name))?;
            let mut host_path = host.clone();
            if let Some(sub) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
                if sub.split('/').any(|p| p == "..") || sub.starts_with('/') {
                    return Err(format!(
                        "subPath {sub:?} must be a relative path without \"..\""
                    ));
                }
                host_path = host_path.join(sub);
                if !host_path.exists() {
                    std::fs::create_dir_all(&host_path)
                        .map_err(|e| format!("subPath {}: {e}", host_path.display()))?;
                }
            }
            mounts.push(Mount {
                host_path,
                container_path: m.mount_path.clone(),
                read_only: *read_only || m.read_only.unwrap_or(false),
            });
        }
        let limits = c.resources.as_ref().and_then(|r| r.limits.as_ref());
        let memory_limit_bytes = limits
            .and_then(|l| l.get("memory"))
            .and_then(|q| u64::try_from(q.value()).ok());
        let cpu_limit_millis = limits
            .and_then(|l| l.get("cpu"))
            .and_then(|q| u64::try_from(q.milli_value()).ok());
        let host_network = spec.host_network.unwrap_or(false);
        Ok(ContainerSpec {
            id: format!("{}-{}-{attempt}", self.uid, c.name),
            pod_uid: self.uid.clone(),
            pod_namespace: ns.to_string(),
            pod_name: name.to_string(),
            container_name: c.name.clone(),
            attempt,
            image: c.image.clone().unwrap_or_default(),
            command: expand(&c.command),
            args: expand(&c.args),
            env,
            working_dir: c.working_dir.clone().filter(|w| !w.is_empty()),
            netns: if host_network {
                None
            } else {
                self.attachment.as_ref().map(|a| a.netns.clone())
            },
            hostname: pod_hostname(&self.pod),
            mounts,
            log_path: crate::logs::container_log_path(
                &self.ctx.logs,
                ns,
                name,
                &self.uid,
                &c.name,
                attempt,
            ),
            memory_limit_bytes,
            cpu_limit_millis,
            stdin: c.stdin.unwrap_or(false),
            stdin_once: c.stdin_once.unwrap_or(false),
            tty: c.tty.unwrap_or(false),
        })
    }

    /// The pod's network, directory, /etc files and volumes.
    async fn prepare(&mut self) -> Result<(), String> {
        let host_network = spec_of(&self.pod)
            .and_then(|s| s.host_network)
            .unwrap_or(false);
        if !host_network && self.attachment.is_none() {
            let a = self
                .ctx
                .network
                .setup(&self.pod_ref())
                .await
                .map_err(|e| format!("setting up the pod's network: {e}"))?;
            self.attachment = Some(a);
        }
        if self.prepared.is_some() {
            return Ok(());
        }
        let dir = self.ctx.pod_dir(&self.uid);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let pod_ip = self.attachment.as_ref().map(|a| a.ip).or(self.ctx.node_ip);
        let etc = crate::env::etc_files(&self.ctx, &self.pod, &dir, pod_ip)?;
        let volumes = volumes::prepare(&self.ctx.api, &self.pod, &dir).await?;
        self.prepared = Some(Prepared { volumes, etc });
        Ok(())
    }

    async fn release_network(&mut self) {
        if self.attachment.take().is_some()
            && let Err(e) = self.ctx.network.teardown(&self.uid).await
        {
            tracing::warn!(pod = %self.uid, "tearing down the pod's network: {e}");
        }
    }

    /// Stops every container (within `grace`, or at once when the pod is gone from the
    /// API), removes them, and releases the network and the pod's files.
    async fn terminate(&mut self, grace: Option<Duration>) {
        let grace = grace.unwrap_or(Duration::ZERO);
        let mut stops = tokio::task::JoinSet::new();
        for r in self.init.iter().chain(self.containers.iter()) {
            if let Some(c) = r.current.as_ref()
                && !matches!(c.state, ContainerState::Exited { .. })
            {
                let (runtime, id) = (self.ctx.runtime.clone(), c.id.clone());
                self.event(
                    "Normal",
                    "Killing",
                    &format!("Stopping container {}", r.name),
                );
                stops.spawn(async move {
                    if let Err(e) = runtime.stop(&id, grace).await {
                        tracing::warn!(container = %id, "stopping: {e}");
                    }
                });
            }
        }
        while stops.join_next().await.is_some() {}
        self.refresh().await;
        if self.pod.metadata.deletion_timestamp.is_some() {
            self.report(self.terminal).await;
        }
        for r in self.init.iter_mut().chain(self.containers.iter_mut()) {
            for c in [r.current.take(), r.previous.take()].into_iter().flatten() {
                if let Err(e) = self.ctx.runtime.remove(&c.id).await {
                    tracing::warn!(container = %c.id, "removing: {e}");
                }
            }
        }
        self.release_network().await;
        let (ns, name) = names(&self.pod);
        self.ctx.log_index.remove(ns, name);
        let dir = self.ctx.pod_dir(&self.uid);
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("removing {}: {e}", dir.display());
        }
        let logs = crate::logs::pod_log_dir(&self.ctx.logs, ns, name, &self.uid);
        if let Err(e) = std::fs::remove_dir_all(&logs)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("removing {}: {e}", logs.display());
        }
    }

    /// The last step of a graceful deletion: the kubelet deletes the pod with no grace
    /// period once its containers are gone, pinned to its uid.
    async fn delete_from_api(&self) {
        let (ns, name) = names(&self.pod);
        let path = format!("/api/v1/namespaces/{ns}/pods/{name}");
        let body = json!({
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "gracePeriodSeconds": 0,
            "preconditions": { "uid": self.uid },
        });
        match self
            .ctx
            .api
            .json("DELETE", &path, Some("application/json"), Some(&body))
            .await
        {
            Ok(_) => {}
            Err(e) if e.status_code() == Some(404) || e.status_code() == Some(409) => {}
            Err(e) => tracing::warn!(pod = %name, "deleting the pod: {e}"),
        }
    }

    /// Writes the pod's status when it changed.
    async fn report(&mut self, terminal: Option<&'static str>) {
        let observed = Observed {
            init: &self.init,
            containers: &self.containers,
            pod_ip: self.attachment.as_ref().map(|a| a.ip).or_else(|| {
                spec_of(&self.pod)
                    .and_then(|s| s.host_network)
                    .unwrap_or(false)
                    .then_some(self.ctx.node_ip)
                    .flatten()
            }),
            host_ip: self.ctx.node_ip,
            start_time: self.start_time,
            sandbox_ready: self.prepared.is_some(),
            terminal_phase: terminal,
            now: Time::now(),
        };
        let status = pod_status(&self.pod, &observed);
        if self.last_status.as_ref() == Some(&status) {
            return;
        }
        let (ns, name) = names(&self.pod);
        let path = format!("/api/v1/namespaces/{ns}/pods/{name}/status");
        let patch = json!({ "status": status });
        match self
            .ctx
            .api
            .json(
                "PATCH",
                &path,
                Some("application/merge-patch+json"),
                Some(&patch),
            )
            .await
        {
            Ok(_) => self.last_status = Some(status),
            Err(e) => tracing::warn!(pod = %name, "writing the pod's status: {e}"),
        }
    }

    /// Tells the logs server where each container's logs are.
    fn publish_logs(&self) {
        let (ns, name) = names(&self.pod);
        let containers = self
            .init
            .iter()
            .chain(self.containers.iter())
            .map(|r| {
                let running = r.running();
                (
                    r.name.clone(),
                    crate::ContainerLogs {
                        current: r.current.as_ref().map(|c| c.attempt),
                        previous: r.previous.as_ref().map(|c| c.attempt).or_else(|| {
                            // While backing off, the latest attempt is the previous one.
                            r.waiting
                                .as_ref()
                                .and(r.current.as_ref())
                                .map(|c| c.attempt)
                        }),
                        running,
                    },
                )
            })
            .collect();
        self.ctx.log_index.publish(
            ns,
            name,
            crate::PodLogs {
                uid: self.uid.clone(),
                containers,
            },
        );
    }

    /// Records an event about the pod, as `kubelet` on this node; best effort.
    fn event(&self, kind: &str, reason: &str, message: &str) {
        crate::events::emit(
            &self.ctx.api,
            &self.ctx.node_name,
            &self.pod,
            kind,
            reason,
            message,
        );
    }
}

/// The pod's hostname: `spec.hostname`, else its name (cut to 63 characters).
pub fn pod_hostname(pod: &Pod) -> String {
    let name = spec_of(pod)
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .or_else(|| pod.metadata.name.clone())
        .unwrap_or_default();
    name.chars().take(63).collect()
}

/// Where a pod's files live (used by recovery to clean up pods that are gone).
pub fn pod_dir(root: &Path, uid: &str) -> PathBuf {
    root.join("pods").join(uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_immediate_then_doubles_to_the_cap() {
        let mut b = Backoff::default();
        let now = Instant::now();
        let short = Duration::from_secs(1);
        assert_eq!(b.schedule(now, short), now);
        assert_eq!(b.schedule(now, short), now + BACKOFF_INITIAL);
        assert_eq!(b.schedule(now, short), now + 2 * BACKOFF_INITIAL);
        for _ in 0..10 {
            b.schedule(now, short);
        }
        assert_eq!(b.schedule(now, short), now + BACKOFF_MAX);
        assert_eq!(b.schedule(now, BACKOFF_RESET), now, "a long run resets it");
    }
}
