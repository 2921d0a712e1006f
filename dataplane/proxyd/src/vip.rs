//! Service virtual IPs as local addresses: a link of their own (`clipper0`) holding each
//! ClusterIP and externalIP as a /32 (/128), the way kube-proxy's IPVS mode uses
//! `kube-ipvs0`. Pods and the host then reach a ClusterIP through the ordinary local
//! delivery path, and the proxy simply listens on it — no per-packet rules.
//!
//! The link is a `dummy` device; on kernels built without the dummy driver it is an empty
//! bridge instead (kept down, like the dummy: addresses on a down link are still local).
//! Changes go through iproute2's `ip -batch -`, one process per batch of changes, so ten
//! thousand Services cost one fork, not ten thousand.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// The default link name.
pub const DEFAULT_LINK: &str = "clipper0";

#[derive(Debug, thiserror::Error)]
pub enum VipError {
    #[error("running {program} {args}: {source}")]
    Spawn {
        program: String,
        args: String,
        source: std::io::Error,
    },
    #[error("{program} {args} failed: {stderr}")]
    Failed {
        program: String,
        args: String,
        stderr: String,
    },
}

/// Runs `program` with `args` (and `stdin` written to it, if any); its stdout on
/// success, its stderr in the error otherwise. Shared by the link and the return path.
pub(crate) async fn run(
    program: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String, VipError> {
    let shown = args.join(" ");
    let spawn_err = |source| VipError::Spawn {
        program: program.to_string(),
        args: shown.clone(),
        source,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(spawn_err)?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).await.map_err(spawn_err)?;
        drop(pipe);
    }
    let out = child.wait_with_output().await.map_err(spawn_err)?;
    if !out.status.success() {
        return Err(VipError::Failed {
            program: program.to_string(),
            args: shown,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn ip(args: &[&str], stdin: Option<&str>) -> Result<String, VipError> {
    run("ip", args, stdin).await
}

fn prefix(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v) => format!("{v}/32"),
        IpAddr::V6(v) => format!("{v}/128"),
    }
}

/// The link and the addresses it holds.
#[derive(Debug)]
pub struct VipLink {
    name: String,
    current: BTreeSet<IpAddr>,
}

impl VipLink {
    /// Creates the link if it does not exist and learns the addresses it already holds
    /// (left by an earlier run: they are reconciled by the first [`VipLink::sync`]).
    pub async fn ensure(name: &str) -> Result<VipLink, VipError> {
        if ip(&["link", "show", "dev", name], None).await.is_err()
            && let Err(e) = ip(&["link", "add", name, "type", "dummy"], None).await
        {
            tracing::info!(error = %e, "no dummy link driver; using an empty bridge for service IPs");
            ip(&["link", "add", name, "type", "bridge"], None).await?;
        }
        let mut link = VipLink {
            name: name.to_string(),
            current: BTreeSet::new(),
        };
        link.current = link.read().await?;
        Ok(link)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn addresses(&self) -> &BTreeSet<IpAddr> {
        &self.current
    }

    async fn read(&self) -> Result<BTreeSet<IpAddr>, VipError> {
        let out = ip(&["-o", "addr", "show", "dev", &self.name], None).await?;
        // `3: clipper0    inet 10.96.0.1/32 scope global clipper0\ ...`
        Ok(out
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                w.find(|t| *t == "inet" || *t == "inet6")?;
                w.next()?.split('/').next()?.parse().ok()
            })
            .collect())
    }

    /// Makes the link hold exactly `want`. On a partial failure the link's real state is
    /// read back, so the next sync retries what is missing.
    pub async fn sync(&mut self, want: &BTreeSet<IpAddr>) -> Result<(), VipError> {
        let mut batch = String::new();
        for a in want.difference(&self.current) {
            batch.push_str(&format!("address add {} dev {}\n", prefix(a), self.name));
        }
        for a in self.current.difference(want) {
            batch.push_str(&format!("address del {} dev {}\n", prefix(a), self.name));
        }
        if batch.is_empty() {
            return Ok(());
        }
        match ip(&["-force", "-batch", "-"], Some(&batch)).await {
            Ok(_) => {
                self.current = want.clone();
                Ok(())
            }
            Err(e) => {
                self.current = self.read().await.unwrap_or_default();
                Err(e)
            }
        }
    }

    /// Deletes the link and every address on it.
    pub async fn remove(self) -> Result<(), VipError> {
        ip(&["link", "del", "dev", &self.name], None)
            .await
            .map(|_| ())
    }
}
