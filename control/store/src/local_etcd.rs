//! A throwaway single-member etcd on free loopback ports with its data in a given
//! directory: what the conformance tests and the store benchmark run the etcd backend
//! against. The process is killed when the handle is dropped.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::etcd::{EtcdStore, RECOMMENDED_MAX_REQUEST_BYTES};
use crate::{Result, Store, StoreError};

/// How many times readiness is polled before giving up: with [`READY_POLL_INTERVAL`], 30 s,
/// far above etcd's start-up time on a loaded 2-core machine.
pub const READY_ATTEMPTS: usize = 300;

/// Pause between two readiness polls (a refused connection fails at once).
pub const READY_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// What to tell someone whose machine has no etcd.
pub const INSTALL_HINT: &str = "etcd was not found on PATH; install etcd 3.4 (Debian package \
     `etcd-server`) by running deploy/install-deps.sh";

/// A running etcd; killed (SIGKILL) and reaped on drop.
pub struct LocalEtcd {
    child: Child,
    endpoint: String,
    log: PathBuf,
}

/// The `etcd` executable on PATH.
pub fn find_etcd() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("etcd"))
        .find(|p| p.is_file())
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| StoreError::Io(format!("finding a free loopback port: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| StoreError::Io(format!("finding a free loopback port: {e}")))
}

impl LocalEtcd {
    /// Start etcd with its data (and its log, `etcd.log`) in `data_dir`, and wait until it
    /// answers a read.
    pub async fn start(data_dir: &Path) -> Result<Self> {
        let etcd = find_etcd().ok_or_else(|| StoreError::Backend(INSTALL_HINT.into()))?;
        let (client_port, peer_port) = (free_port()?, free_port()?);
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let log = data_dir.join("etcd.log");
        let log_file = File::create(&log)
            .map_err(|e| StoreError::Io(format!("creating {}: {e}", log.display())))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| StoreError::Io(format!("creating {}: {e}", log.display())))?;
        let child = Command::new(&etcd)
            .arg("--name=default")
            .arg(format!("--data-dir={}", data_dir.join("etcd").display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=default={peer_url}"))
            .arg(format!(
                "--max-request-bytes={RECOMMENDED_MAX_REQUEST_BYTES}"
            ))
            // etcd's default 2 GiB backend quota is reached by a benchmark's 150,000 pods
            // and their revisions; 8 GiB is the largest etcd recommends.
            .arg("--quota-backend-bytes=8589934592")
            .arg("--logger=zap")
            .arg("--log-outputs=stderr")
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .map_err(|e| StoreError::Io(format!("starting {}: {e}", etcd.display())))?;
        let mut me = LocalEtcd {
            child,
            endpoint: client_url,
            log,
        };
        me.wait_ready().await?;
        Ok(me)
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let mut last = String::new();
        for _ in 0..READY_ATTEMPTS {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(StoreError::Backend(format!(
                    "etcd exited during start-up ({status}); its log:\n{}",
                    self.log_tail()
                )));
            }
            match EtcdStore::connect(&[self.endpoint.as_str()]).await {
                Ok(s) => match s.current_revision().await {
                    Ok(_) => return Ok(()),
                    Err(e) => last = e.to_string(),
                },
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(READY_POLL_INTERVAL).await;
        }
        Err(StoreError::Backend(format!(
            "etcd at {} was not ready after {READY_ATTEMPTS} polls (last error: {last}); its \
             log:\n{}",
            self.endpoint,
            self.log_tail()
        )))
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The client URL, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A store connected to this etcd.
    pub async fn connect(&self) -> Result<EtcdStore> {
        EtcdStore::connect(&[self.endpoint.as_str()]).await
    }
}

impl Drop for LocalEtcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
