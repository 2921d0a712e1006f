//! The container runtime as the pod workers see it: images, and containers created,
//! started, inspected, stopped and removed by id. The real implementation runs runc;
//! the pod workers' logic is tested against a recording fake.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// When to fetch an image (the container's `imagePullPolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

/// An image the runtime holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// The normalized reference, e.g. `docker.io/library/busybox:latest`.
    pub reference: String,
    /// The image's content id, `sha256:<hex>` (the config digest), as a container
    /// status' `imageID` reports it.
    pub id: String,
}

/// A bind mount into a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub host_path: PathBuf,
    pub container_path: String,
    pub read_only: bool,
}

/// Everything needed to create one container of a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerSpec {
    /// Unique per attempt: the runtime's container id.
    pub id: String,
    pub pod_uid: String,
    pub pod_namespace: String,
    pub pod_name: String,
    pub container_name: String,
    /// 0 for the first run, then the pod status' restartCount.
    pub attempt: u32,
    /// As written in the pod spec (`busybox`, `busybox:1.36`, `registry:5000/x@sha256:...`).
    pub image: String,
    /// Kubernetes semantics: `command` replaces the image's entrypoint, `args` its cmd.
    pub command: Vec<String>,
    pub args: Vec<String>,
    /// Appended to the image's environment; later entries win.
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    /// The pod's network namespace; `None` runs in the host's (hostNetwork).
    pub netns: Option<PathBuf>,
    pub hostname: String,
    pub mounts: Vec<Mount>,
    /// Where the container's stdout and stderr go, in the CRI log format
    /// (`<RFC 3339 nanos> <stdout|stderr> <F|P> <text>` per line).
    pub log_path: PathBuf,
    /// cgroup memory limit (`resources.limits.memory`), if any.
    pub memory_limit_bytes: Option<u64>,
    /// CPU quota in millicores (`resources.limits.cpu`), if any.
    pub cpu_limit_millis: Option<u64>,
    /// `stdin`: the container reads input from attached clients.
    pub stdin: bool,
    /// `stdinOnce`: its input ends when the first attached writer leaves.
    pub stdin_once: bool,
    /// `tty`: it runs on a terminal.
    pub tty: bool,
}

/// A container as the runtime last saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerStatus {
    pub id: String,
    pub pod_uid: String,
    pub container_name: String,
    pub attempt: u32,
    pub image_id: String,
    pub state: ContainerState,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running {
        pid: u32,
        started_at: SystemTime,
    },
    Exited {
        exit_code: i32,
        started_at: Option<SystemTime>,
        finished_at: SystemTime,
        /// Kubernetes' terminated reasons: `Completed` (0), `Error`, `OOMKilled`.
        reason: String,
    },
}

/// The outcome of a command run in a container (exec probes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The image is not held and could not be fetched (`ErrImagePull`).
    #[error("{0}")]
    ImagePull(String),
    /// The image is not held and the policy is `Never` (`ErrImageNeverPull`).
    #[error("{0}")]
    ImageNeverPull(String),
    /// The spec cannot be turned into a container (`CreateContainerConfigError`).
    #[error("{0}")]
    InvalidSpec(String),
    /// No container with that id.
    #[error("container {0} not found")]
    NotFound(String),
    /// The runtime failed (`RunContainerError`).
    #[error("{0}")]
    Failed(String),
}

#[async_trait::async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// Makes the image available according to the policy.
    async fn ensure_image(
        &self,
        image: &str,
        policy: PullPolicy,
    ) -> Result<ImageInfo, RuntimeError>;
    /// Creates the container and starts its process. The container keeps running if the
    /// agent exits.
    async fn create_and_start(&self, spec: &ContainerSpec) -> Result<(), RuntimeError>;
    async fn status(&self, id: &str) -> Result<ContainerStatus, RuntimeError>;
    /// SIGTERM, then SIGKILL once `grace` has passed. A container already exited is fine.
    async fn stop(&self, id: &str, grace: Duration) -> Result<(), RuntimeError>;
    /// Removes a stopped container and its files (not its log).
    async fn remove(&self, id: &str) -> Result<(), RuntimeError>;
    /// Every container the runtime holds, running or not (recovery after a restart).
    async fn list(&self) -> Result<Vec<ContainerStatus>, RuntimeError>;
    /// Runs a command in a running container, bounded by `timeout`.
    async fn exec(
        &self,
        id: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, RuntimeError>;
}
