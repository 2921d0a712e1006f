//! [`OciRuntime`]: the [`Runtime`] on runc. Each container is an overlay root over its
//! image's layers, an OCI bundle, and a detached shim ([`super::shim`]) that runs it and
//! records its output and exit; everything about it lives in `<root>/containers/<id>/`,
//! so a new runtime over the same root (an agent restart) finds the containers again.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::image::{ImageError, ImageStore};
use super::shim::{ExitRecord, ShimArgs, StartRecord};
use super::{bundle, cpath, parse_rfc3339, rfc3339, write_atomic};
use crate::runtime::{
    ContainerSpec, ContainerState, ContainerStatus, ExecOutput, ImageInfo, PullPolicy, Runtime,
    RuntimeError,
};

/// How long `create_and_start` waits for the shim to report the container running or
/// exited: runc creates and starts a container in well under a second.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a runc command other than exec may take (state, kill, delete): they are
/// quick; the bound only stops a hung runc from hanging the pod worker.
const RUNC_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the first shim process may take: it forks and exits at once.
const SHIM_SPAWN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `stop` waits for the container to die after SIGKILL (the kernel tears the
/// processes down; a process in uninterruptible sleep can delay it).
const KILL_WAIT: Duration = Duration::from_secs(10);
/// How long to wait for the shim's exit.json once runc says the container stopped: the
/// shim copies the remaining output first (bounded by its own 5 s drain limit).
const EXIT_FILE_WAIT: Duration = Duration::from_secs(7);
/// How often a bounded wait re-reads the container's state.
const STATE_POLL: Duration = Duration::from_millis(10);

/// Where the runtime keeps its files and how it runs runc and the shim.
#[derive(Clone, Debug)]
pub struct OciConfig {
    /// The runtime's root (`/var/lib/clipper/agent`): `images/` (the image store),
    /// `containers/`, `runc/` (see [`super`]).
    pub root: PathBuf,
    /// The runc binary.
    pub runc: PathBuf,
    /// The executable run as the shim, with `shim_args` before the shim's own options
    /// (e.g. the `clipper` binary with `["shim"]`, or `clipper-shim` with none).
    pub shim_program: PathBuf,
    pub shim_args: Vec<String>,
}

/// `meta.json`: who a container belongs to (what `list` reports after a restart).
#[derive(Clone, Debug, Deserialize, Serialize)]
struct Meta {
    id: String,
    pod_uid: String,
    pod_namespace: String,
    pod_name: String,
    container_name: String,
    attempt: u32,
    image: String,
    image_id: String,
    log_path: PathBuf,
    created_at: String,
}

/// runc's `state` output (the fields used).
#[derive(Debug, Deserialize)]
struct RuncState {
    status: String,
    #[serde(default)]
    pid: u32,
    #[serde(default)]
    created: String,
}

/// The runtime on runc; see the module docs.
pub struct OciRuntime {
    config: OciConfig,
    images: Arc<ImageStore>,
}

impl OciRuntime {
    /// Opens the runtime over `config.root`, creating its directories.
    pub fn new(config: OciConfig) -> Result<OciRuntime, RuntimeError> {
        let images = ImageStore::open(config.root.join("images"))
            .map_err(|e| RuntimeError::Failed(e.to_string()))?;
        for dir in [config.root.join("containers"), config.root.join("runc")] {
            fs::create_dir_all(&dir)
                .map_err(|e| RuntimeError::Failed(format!("creating {}: {e}", dir.display())))?;
        }
        Ok(OciRuntime {
            config,
            images: Arc::new(images),
        })
    }

    /// The node's image store.
    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    pub(super) fn container_dir(&self, id: &str) -> PathBuf {
        self.config.root.join("containers").join(id)
    }

    pub(super) fn runc_root(&self) -> PathBuf {
        self.config.root.join("runc")
    }

    /// The runc binary.
    pub(super) fn runc_program(&self) -> &Path {
        &self.config.runc
    }

    fn read_meta(&self, id: &str) -> Result<Meta, RuntimeError> {
        validate_id(id)?;
        let path = self.container_dir(id).join("meta.json");
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| RuntimeError::Failed(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(RuntimeError::NotFound(id.to_string()))
            }
            Err(e) => Err(RuntimeError::Failed(format!(
                "reading {}: {e}",
                path.display()
            ))),
        }
    }

    /// Runs runc with the runtime's state root; `Ok` carries the output whatever the exit
    /// status, `Err` means runc could not be run or timed out.
    async fn runc(
        &self,
        args: &[&str],
        timeout: Duration,
    ) -> Result<std::process::Output, RuntimeError> {
        let mut command = tokio::process::Command::new(&self.config.runc);
        command
            .arg("--root")
            .arg(self.runc_root())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let what = format!("runc {}", args.first().copied().unwrap_or_default());
        match tokio::time::timeout(timeout, command.output()).await {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(e)) => Err(RuntimeError::Failed(format!(
                "running {} ({what}): {e}",
                self.config.runc.display()
            ))),
            Err(_) => Err(RuntimeError::Failed(format!(
                "{what} did not finish within {timeout:?}"
            ))),
        }
    }

    /// runc's view of the container; `None` when runc does not know it.
    async fn runc_state(&self, id: &str) -> Result<Option<RuncState>, RuntimeError> {
        let output = self.runc(&["state", id], RUNC_TIMEOUT).await?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            if stderr.contains("does not exist") || stderr.contains("not exist") {
                return Ok(None);
            }
            return Err(RuntimeError::Failed(format!(
                "runc state {id}: {}",
                stderr.trim()
            )));
        }
        serde_json::from_slice(&output.stdout)
            .map(Some)
            .map_err(|e| RuntimeError::Failed(format!("runc state {id}: {e}")))
    }

    fn read_exit(&self, id: &str) -> Option<ExitRecord> {
        let bytes = fs::read(self.container_dir(id).join("exit.json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn read_start(&self, id: &str) -> Option<StartRecord> {
        let bytes = fs::read(self.container_dir(id).join("start.json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Waits (bounded) for the shim's exit.json.
    async fn wait_exit_file(&self, id: &str, bound: Duration) -> Option<ExitRecord> {
        let deadline = Instant::now() + bound;
        loop {
            if let Some(exit) = self.read_exit(id) {
                return Some(exit);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(STATE_POLL).await;
        }
    }

    fn status_from(&self, meta: &Meta, state: ContainerState) -> ContainerStatus {
        ContainerStatus {
            id: meta.id.clone(),
            pod_uid: meta.pod_uid.clone(),
            container_name: meta.container_name.clone(),
            attempt: meta.attempt,
            image_id: meta.image_id.clone(),
            state,
        }
    }

    /// Tears down what `create_and_start` set up; every step tolerates its part missing.
    async fn cleanup(&self, id: &str) -> Result<(), RuntimeError> {
        let output = self.runc(&["delete", "--force", id], RUNC_TIMEOUT).await?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            if !stderr.contains("does not exist") && !stderr.contains("not exist") {
                return Err(RuntimeError::Failed(format!(
                    "runc delete {id}: {}",
                    stderr.trim()
                )));
            }
        }
        let dir = self.container_dir(id);
        let pod_uid = self.read_meta(id).ok().map(|m| m.pod_uid);
        tokio::task::spawn_blocking(move || -> Result<(), RuntimeError> {
            unmount(&dir.join("rootfs"))?;
            match fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(RuntimeError::Failed(format!(
                        "removing {}: {e}",
                        dir.display()
                    )));
                }
            }
            if let Some(pod_uid) = pod_uid {
                remove_pod_cgroups(&pod_uid);
            }
            Ok(())
        })
        .await
        .map_err(|e| RuntimeError::Failed(format!("cleanup task: {e}")))?
    }

    async fn create_inner(&self, spec: &ContainerSpec, dir: &Path) -> Result<(), RuntimeError> {
        let store = Arc::clone(&self.images);
        let image_ref = spec.image.clone();
        let image = tokio::task::spawn_blocking(move || store.resolve(&image_ref))
            .await
            .map_err(|e| RuntimeError::Failed(format!("image task: {e}")))?
            .map_err(|e| match e {
                ImageError::NotFound(_) => {
                    RuntimeError::ImagePull(not_present_message(&spec.image))
                }
                other => RuntimeError::Failed(format!("image {:?}: {other}", spec.image)),
            })?;
        let meta = Meta {
            id: spec.id.clone(),
            pod_uid: spec.pod_uid.clone(),
            pod_namespace: spec.pod_namespace.clone(),
            pod_name: spec.pod_name.clone(),
            container_name: spec.container_name.clone(),
            attempt: spec.attempt,
            image: image.reference.clone(),
            image_id: image.id.clone(),
            log_path: spec.log_path.clone(),
            created_at: rfc3339(SystemTime::now()),
        };
        let meta_bytes = serde_json::to_vec_pretty(&meta)
            .map_err(|e| RuntimeError::Failed(format!("encoding meta.json: {e}")))?;
        write_atomic(&dir.join("meta.json"), &meta_bytes)
            .map_err(|e| RuntimeError::Failed(format!("writing meta.json: {e}")))?;

        let rootfs = dir.join("rootfs");
        let layers = image.layers.clone();
        let dir_owned = dir.to_path_buf();
        tokio::task::spawn_blocking(move || mount_rootfs(&dir_owned, &layers))
            .await
            .map_err(|e| RuntimeError::Failed(format!("mount task: {e}")))??;
        let config = bundle::runtime_config(spec, &image.config, &rootfs)?;
        let config_bytes = serde_json::to_vec_pretty(&config)
            .map_err(|e| RuntimeError::Failed(format!("encoding config.json: {e}")))?;
        write_atomic(&dir.join("config.json"), &config_bytes)
            .map_err(|e| RuntimeError::Failed(format!("writing config.json: {e}")))?;

        self.spawn_shim(spec, dir).await?;

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(exit) = self.read_exit(&spec.id) {
                return match exit.error {
                    Some(error) => Err(RuntimeError::Failed(format!(
                        "container {}: {error}",
                        spec.id
                    ))),
                    None => Ok(()), // Ran and exited already; its status says how.
                };
            }
            if self.read_start(&spec.id).is_some() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let shim_log = fs::read_to_string(dir.join("shim.log")).unwrap_or_default();
                return Err(RuntimeError::Failed(format!(
                    "container {} did not start within {START_TIMEOUT:?}{}",
                    spec.id,
                    if shim_log.trim().is_empty() {
                        String::new()
                    } else {
                        format!(": {}", shim_log.trim())
                    }
                )));
            }
            tokio::time::sleep(STATE_POLL).await;
        }
    }

    async fn spawn_shim(&self, spec: &ContainerSpec, dir: &Path) -> Result<(), RuntimeError> {
        let shim_log_path = dir.join("shim.log");
        let shim_log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&shim_log_path)
            .map_err(|e| {
                RuntimeError::Failed(format!("opening {}: {e}", shim_log_path.display()))
            })?;
        let shim_err = shim_log
            .try_clone()
            .map_err(|e| RuntimeError::Failed(format!("duplicating the shim log: {e}")))?;
        let args = ShimArgs {
            runc: self.config.runc.clone(),
            runc_root: self.runc_root(),
            bundle: dir.to_path_buf(),
            id: spec.id.clone(),
            log: spec.log_path.clone(),
            stdin: spec.stdin,
            stdin_once: spec.stdin_once,
            tty: spec.tty,
        };
        let mut command = tokio::process::Command::new(&self.config.shim_program);
        command
            .args(self.config.shim_args.iter().map(OsString::from))
            .args(args.to_args())
            .stdin(Stdio::null())
            .stdout(Stdio::from(shim_log))
            .stderr(Stdio::from(shim_err))
            .kill_on_drop(true);
        let status = match tokio::time::timeout(SHIM_SPAWN_TIMEOUT, command.status()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => {
                return Err(RuntimeError::Failed(format!(
                    "running the shim {}: {e}",
                    self.config.shim_program.display()
                )));
            }
            Err(_) => {
                return Err(RuntimeError::Failed(format!(
                    "the shim did not detach within {SHIM_SPAWN_TIMEOUT:?}"
                )));
            }
        };
        if !status.success() {
            let log = fs::read_to_string(&shim_log_path).unwrap_or_default();
            return Err(RuntimeError::Failed(format!(
                "the shim failed ({status}): {}",
                log.trim()
            )));
        }
        Ok(())
    }
}

/// The message of `ErrImagePull` for an image the store does not hold.
fn not_present_message(image: &str) -> String {
    let reference = super::image::normalize_reference(image).unwrap_or_else(|_| image.to_string());
    format!(
        "image {reference:?} is not in the node's image store and registry pulls are not \
         supported yet; import it with \"clipper image import\""
    )
}

/// Container ids name directories and runc containers: a conservative alphabet.
fn validate_id(id: &str) -> Result<(), RuntimeError> {
    let valid = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && !id.starts_with('.');
    if valid {
        Ok(())
    } else {
        Err(RuntimeError::InvalidSpec(format!(
            "container id {id:?}: letters, digits, '_', '.' and '-' only"
        )))
    }
}

/// Mounts `<dir>/rootfs` as an overlay of the layers (bottom first in `layers`) with
/// `<dir>/upper` and `<dir>/work` as its writable part.
fn mount_rootfs(dir: &Path, layers: &[PathBuf]) -> Result<(), RuntimeError> {
    let failed = |what: &str, e: io::Error| RuntimeError::Failed(format!("{what}: {e}"));
    let (rootfs, upper, work) = (dir.join("rootfs"), dir.join("upper"), dir.join("work"));
    for d in [&rootfs, &upper, &work] {
        fs::create_dir_all(d).map_err(|e| failed(&format!("creating {}", d.display()), e))?;
    }
    let mut lower: Vec<PathBuf> = layers.iter().rev().cloned().collect();
    if lower.is_empty() {
        // overlayfs needs a lower directory: an image without layers gets an empty one.
        let empty = dir.join("empty");
        fs::create_dir_all(&empty).map_err(|e| failed("creating the empty layer", e))?;
        lower.push(empty);
    }
    for path in lower.iter().chain([&upper, &work]) {
        let text = path.to_string_lossy();
        if text.contains(',') || text.contains(':') {
            return Err(RuntimeError::Failed(format!(
                "{} cannot be an overlay directory (',' or ':' in its path)",
                path.display()
            )));
        }
    }
    let lowerdir = lower
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(":");
    let options = format!(
        "lowerdir={lowerdir},upperdir={},workdir={}",
        upper.display(),
        work.display()
    );
    // The kernel takes one page of mount options.
    if options.len() >= 4096 {
        return Err(RuntimeError::Failed(format!(
            "the image has too many layers ({}) for one overlay mount's options",
            layers.len()
        )));
    }
    let target = cpath(&rootfs).map_err(|e| failed("rootfs path", e))?;
    let data = std::ffi::CString::new(options)
        .map_err(|_| RuntimeError::Failed("NUL in overlay options".into()))?;
    // SAFETY: all pointers are valid NUL-terminated strings living across the call.
    let rc = unsafe {
        libc::mount(
            c"overlay".as_ptr(),
            target.as_ptr(),
            c"overlay".as_ptr(),
            0,
            data.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(failed(
            &format!("mounting the overlay root at {}", rootfs.display()),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Unmounts `path` if something is mounted there (lazily if busy).
fn unmount(path: &Path) -> Result<(), RuntimeError> {
    let c = match cpath(path) {
        Ok(c) => c,
        Err(e) => return Err(RuntimeError::Failed(e.to_string())),
    };
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    let rc = unsafe { libc::umount2(c.as_ptr(), 0) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        // Not a mount point, or already gone.
        Some(libc::EINVAL) | Some(libc::ENOENT) => Ok(()),
        Some(libc::EBUSY) => {
            // SAFETY: as above.
            let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            if rc == 0 {
                Ok(())
            } else {
                Err(RuntimeError::Failed(format!(
                    "unmounting {}: {}",
                    path.display(),
                    io::Error::last_os_error()
                )))
            }
        }
        _ => Err(RuntimeError::Failed(format!(
            "unmounting {}: {err}",
            path.display()
        ))),
    }
}

/// Removes the pod's cgroup directories if no container is left in them (runc removes
/// each container's own).
fn remove_pod_cgroups(pod_uid: &str) {
    if pod_uid.is_empty() || pod_uid.contains('/') || pod_uid.starts_with('.') {
        return;
    }
    let Ok(hierarchies) = fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    let mut dirs: Vec<PathBuf> = hierarchies
        .flatten()
        .map(|h| h.path().join("clipper").join(pod_uid))
        .collect();
    dirs.push(Path::new("/sys/fs/cgroup/clipper").join(pod_uid)); // cgroups v2
    for dir in dirs {
        let _ = fs::remove_dir(&dir); // Fails while a container is still in it: fine.
    }
}

fn exited(exit: &ExitRecord) -> ContainerState {
    let reason = if exit.error.is_some() {
        "StartError"
    } else if exit.oom_killed {
        "OOMKilled"
    } else if exit.exit_code == 0 {
        "Completed"
    } else {
        "Error"
    };
    ContainerState::Exited {
        exit_code: exit.exit_code,
        started_at: exit.started_at.as_deref().and_then(parse_rfc3339),
        finished_at: parse_rfc3339(&exit.finished_at).unwrap_or(SystemTime::UNIX_EPOCH),
        reason: reason.to_string(),
    }
}

#[async_trait::async_trait]
impl Runtime for OciRuntime {
    /// Registry pulls are not supported yet: with `Always` a held image is used as is.
    async fn ensure_image(
        &self,
        image: &str,
        policy: PullPolicy,
    ) -> Result<ImageInfo, RuntimeError> {
        let store = Arc::clone(&self.images);
        let reference = image.to_string();
        let found = tokio::task::spawn_blocking(move || store.contains(&reference))
            .await
            .map_err(|e| RuntimeError::Failed(format!("image task: {e}")))?
            .map_err(|e| RuntimeError::ImagePull(format!("image {image:?}: {e}")))?;
        match (found, policy) {
            (Some(summary), _) => Ok(ImageInfo {
                reference: summary.reference,
                id: summary.id,
            }),
            (None, PullPolicy::Never) => Err(RuntimeError::ImageNeverPull(format!(
                "container image {:?} is not present with pull policy of Never",
                super::image::normalize_reference(image).unwrap_or_else(|_| image.to_string())
            ))),
            (None, _) => Err(RuntimeError::ImagePull(not_present_message(image))),
        }
    }

    async fn create_and_start(&self, spec: &ContainerSpec) -> Result<(), RuntimeError> {
        validate_id(&spec.id)?;
        let dir = self.container_dir(&spec.id);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(RuntimeError::Failed(format!(
                    "container {} already exists",
                    spec.id
                )));
            }
            Err(e) => {
                return Err(RuntimeError::Failed(format!(
                    "creating {}: {e}",
                    dir.display()
                )));
            }
        }
        let result = self.create_inner(spec, &dir).await;
        if result.is_err()
            && let Err(e) = self.cleanup(&spec.id).await
        {
            tracing::warn!(id = %spec.id, "cleaning up a container that failed to start: {e}");
        }
        result
    }

    async fn status(&self, id: &str) -> Result<ContainerStatus, RuntimeError> {
        let meta = self.read_meta(id)?;
        if let Some(exit) = self.read_exit(id) {
            return Ok(self.status_from(&meta, exited(&exit)));
        }
        let created_at = parse_rfc3339(&meta.created_at).unwrap_or(SystemTime::UNIX_EPOCH);
        let state = match self.runc_state(id).await? {
            Some(state) => match state.status.as_str() {
                "created" | "creating" => ContainerState::Created,
                "running" | "paused" | "pausing" => ContainerState::Running {
                    pid: state.pid,
                    started_at: self
                        .read_start(id)
                        .and_then(|s| parse_rfc3339(&s.started_at))
                        .or_else(|| parse_rfc3339(&state.created))
                        .unwrap_or(created_at),
                },
                _ => match self.wait_exit_file(id, EXIT_FILE_WAIT).await {
                    Some(exit) => exited(&exit),
                    // The shim died: the exit status is lost.
                    None => ContainerState::Exited {
                        exit_code: 255,
                        started_at: self
                            .read_start(id)
                            .and_then(|s| parse_rfc3339(&s.started_at)),
                        finished_at: parse_rfc3339(&state.created).unwrap_or(created_at),
                        reason: "Unknown".to_string(),
                    },
                },
            },
            // Not yet created by the shim, or gone without an exit record.
            None if created_at.elapsed().unwrap_or_default() < START_TIMEOUT => {
                ContainerState::Created
            }
            None => ContainerState::Exited {
                exit_code: 255,
                started_at: None,
                finished_at: created_at,
                reason: "Unknown".to_string(),
            },
        };
        Ok(self.status_from(&meta, state))
    }

    async fn stop(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        self.read_meta(id)?;
        if self.read_exit(id).is_some() {
            return Ok(());
        }
        for (signal, bound) in [("TERM", grace), ("KILL", KILL_WAIT)] {
            match self.runc_state(id).await? {
                Some(state) if state.status != "stopped" => {}
                _ => break,
            }
            let output = self.runc(&["kill", id, signal], RUNC_TIMEOUT).await?;
            if !output.status.success() {
                // Refused because it just stopped: fine; anything else is reported below.
                tracing::debug!(
                    id,
                    signal,
                    "runc kill: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                );
            }
            let deadline = Instant::now() + bound;
            loop {
                if self.read_exit(id).is_some() {
                    return Ok(());
                }
                match self.runc_state(id).await? {
                    Some(state) if state.status != "stopped" => {}
                    _ => break,
                }
                if Instant::now() >= deadline {
                    break;
                }
                tokio::time::sleep(STATE_POLL).await;
            }
        }
        match self.runc_state(id).await? {
            Some(state) if state.status != "stopped" => Err(RuntimeError::Failed(format!(
                "container {id} still {} after SIGKILL",
                state.status
            ))),
            _ => {
                // Stopped: give the shim its moment to record the exit.
                self.wait_exit_file(id, EXIT_FILE_WAIT).await;
                Ok(())
            }
        }
    }

    async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        self.read_meta(id)?;
        self.cleanup(id).await
    }

    async fn list(&self) -> Result<Vec<ContainerStatus>, RuntimeError> {
        let dir = self.config.root.join("containers");
        let entries = fs::read_dir(&dir)
            .map_err(|e| RuntimeError::Failed(format!("reading {}: {e}", dir.display())))?;
        let mut ids: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| validate_id(name).is_ok())
            .collect();
        ids.sort();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match self.status(&id).await {
                Ok(status) => out.push(status),
                Err(RuntimeError::NotFound(_)) => {} // Being created or removed.
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn exec(
        &self,
        id: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, RuntimeError> {
        if command.is_empty() {
            return Err(RuntimeError::InvalidSpec("exec: empty command".into()));
        }
        let status = self.status(id).await?;
        if !matches!(status.state, ContainerState::Running { .. }) {
            return Err(RuntimeError::Failed(format!(
                "container {id} is not running"
            )));
        }
        let pid_file = super::temp_path(&self.container_dir(id), "exec.pid");
        let mut child = tokio::process::Command::new(&self.config.runc)
            .arg("--root")
            .arg(self.runc_root())
            .arg("exec")
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(id)
            .args(command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| RuntimeError::Failed(format!("running runc exec: {e}")))?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let read_all = |pipe: Option<tokio::process::ChildStdout>| async move {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = tokio::io::AsyncReadExt::read_to_end(&mut pipe, &mut buf).await;
            }
            buf
        };
        let read_err = |pipe: Option<tokio::process::ChildStderr>| async move {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = tokio::io::AsyncReadExt::read_to_end(&mut pipe, &mut buf).await;
            }
            buf
        };
        let run = async {
            let (out, err, status) = tokio::join!(read_all(stdout), read_err(stderr), child.wait());
            (out, err, status)
        };
        let result = tokio::time::timeout(timeout, run).await;
        let outcome = match result {
            Ok((stdout, stderr, Ok(status))) => Ok(ExecOutput {
                exit_code: status.code().unwrap_or_else(|| {
                    use std::os::unix::process::ExitStatusExt as _;
                    128 + status.signal().unwrap_or(0)
                }),
                stdout,
                stderr,
            }),
            Ok((_, _, Err(e))) => Err(RuntimeError::Failed(format!("waiting for runc exec: {e}"))),
            Err(_) => {
                // runc exec cannot pass SIGKILL on: kill the process in the container.
                if let Some(pid) = fs::read_to_string(&pid_file)
                    .ok()
                    .and_then(|p| p.trim().parse::<i32>().ok())
                {
                    // SAFETY: kill takes no pointers; the pid is the exec'd process's.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
                Err(RuntimeError::Failed(format!(
                    "exec in container {id} did not finish within {timeout:?}"
                )))
            }
        };
        let _ = fs::remove_file(&pid_file);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_are_checked() {
        assert!(validate_id("abc-123_x.y").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn exit_reasons_follow_kubernetes() {
        let record = |code, oom| ExitRecord {
            exit_code: code,
            signal: None,
            started_at: None,
            finished_at: rfc3339(SystemTime::UNIX_EPOCH),
            oom_killed: oom,
            error: None,
        };
        let reason = |r: &ExitRecord| match exited(r) {
            ContainerState::Exited { reason, .. } => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(reason(&record(0, false)), "Completed");
        assert_eq!(reason(&record(3, false)), "Error");
        assert_eq!(reason(&record(137, true)), "OOMKilled");
    }
}
