//! The agent's Node: registered at start (created, or its labels and status brought up
//! to date), its status written every [`STATUS_PERIOD`], and its Lease in
//! `kube-node-lease` renewed every [`LEASE_RENEW`], as the kubelet does.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use clipper_client::{ClientError, QuicClient};
use clipper_proto::{MicroTime, Time};
use serde_json::{Value, json};

/// How long a lease holds without renewal: kubelet's default nodeLeaseDurationSeconds.
pub const LEASE_DURATION_SECONDS: i64 = 40;
/// Lease renewal period: a quarter of its duration, as the kubelet renews.
pub const LEASE_RENEW: Duration = Duration::from_secs(10);
/// Node status period: kubelet's nodeStatusUpdateFrequency.
pub const STATUS_PERIOD: Duration = Duration::from_secs(10);
/// The kubelet's default pod capacity.
pub const DEFAULT_MAX_PODS: u32 = 110;

/// What the Node says about this host.
#[derive(Clone, Debug)]
pub struct NodeFacts {
    pub name: String,
    pub ip: Option<IpAddr>,
    pub pod_cidr: Option<String>,
    pub kubelet_port: u16,
    pub max_pods: u32,
    pub cpus: u64,
    pub memory_bytes: u64,
    pub ephemeral_bytes: u64,
    pub kernel: String,
    pub os_image: String,
    pub runtime_version: String,
    pub boot_id: String,
    pub machine_id: String,
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Total memory from /proc/meminfo.
fn memory_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn disk_bytes(path: &std::path::Path) -> u64 {
    match rustix::fs::statvfs(path) {
        Ok(s) => s.f_blocks.saturating_mul(s.f_frsize),
        Err(_) => 0,
    }
}

fn os_image() -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

impl NodeFacts {
    /// The host's facts; `root` is where the agent keeps its data (for disk capacity).
    pub fn gather(
        name: &str,
        ip: Option<IpAddr>,
        pod_cidr: Option<String>,
        kubelet_port: u16,
        root: &std::path::Path,
        runtime_version: &str,
    ) -> NodeFacts {
        NodeFacts {
            name: name.to_string(),
            ip,
            pod_cidr,
            kubelet_port,
            max_pods: DEFAULT_MAX_PODS,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
            memory_bytes: memory_bytes(),
            ephemeral_bytes: disk_bytes(root),
            kernel: read_trim("/proc/sys/kernel/osrelease"),
            os_image: os_image(),
            runtime_version: runtime_version.to_string(),
            boot_id: read_trim("/proc/sys/kernel/random/boot_id"),
            machine_id: read_trim("/etc/machine-id"),
        }
    }

    fn capacity(&self) -> Value {
        json!({
            "cpu": self.cpus.to_string(),
            "memory": format!("{}Ki", self.memory_bytes / 1024),
            "ephemeral-storage": format!("{}Ki", self.ephemeral_bytes / 1024),
            "pods": self.max_pods.to_string(),
        })
    }

    /// The Node's status as the agent reports it.
    pub fn status(&self, now: Time, previous: Option<&Value>) -> Value {
        let mut addresses = Vec::new();
        if let Some(ip) = self.ip {
            addresses.push(json!({ "type": "InternalIP", "address": ip.to_string() }));
        }
        addresses.push(json!({ "type": "Hostname", "address": self.name }));
        let since = |kind: &str, status: &str| -> String {
            previous
                .and_then(|p| p.pointer("/conditions"))
                .and_then(Value::as_array)
                .and_then(|cs| {
                    cs.iter()
                        .find(|c| c["type"] == kind && c["status"] == status)
                })
                .and_then(|c| c["lastTransitionTime"].as_str())
                .map_or_else(|| now.to_string(), str::to_string)
        };
        let condition = |kind: &str, status: &str, reason: &str, message: &str| {
            json!({
                "type": kind, "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": now.to_string(),
                "lastTransitionTime": since(kind, status),
            })
        };
        json!({
            "capacity": self.capacity(),
            "allocatable": self.capacity(),
            "addresses": addresses,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "daemonEndpoints": { "kubeletEndpoint": { "Port": self.kubelet_port } },
            "nodeInfo": {
                "architecture": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
                "bootID": self.boot_id,
                "containerRuntimeVersion": self.runtime_version,
                "kernelVersion": self.kernel,
                "kubeProxyVersion": "",
                "kubeletVersion": crate::KUBELET_VERSION,
                "machineID": self.machine_id,
                "operatingSystem": "linux",
                "osImage": self.os_image,
                "systemUUID": self.machine_id,
            },
        })
    }

    fn labels(&self) -> Value {
        let arch = std::env::consts::ARCH
            .replace("x86_64", "amd64")
            .replace("aarch64", "arm64");
        json!({
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": arch,
            "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": arch,
        })
    }
}

/// Creates the Node, or updates the labels and status of an existing one.
pub async fn register(api: &QuicClient, facts: &NodeFacts) -> Result<(), ClientError> {
    let path = format!("/api/v1/nodes/{}", facts.name);
    let mut spec = json!({});
    if let Some(cidr) = &facts.pod_cidr {
        spec = json!({ "podCIDR": cidr, "podCIDRs": [cidr] });
    }
    let node = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": { "name": facts.name, "labels": facts.labels() },
        "spec": spec,
    });
    match api.json("POST", "/api/v1/nodes", None, Some(&node)).await {
        Ok(_) => {}
        Err(e) if e.status_code() == Some(409) => {
            let patch = json!({ "metadata": { "labels": facts.labels() } });
            api.json(
                "PATCH",
                &path,
                Some("application/merge-patch+json"),
                Some(&patch),
            )
            .await?;
        }
        Err(e) => return Err(e),
    }
    write_status(api, facts, None).await.map(|_| ())
}

/// Writes the Node's status; returns what it wrote.
pub async fn write_status(
    api: &QuicClient,
    facts: &NodeFacts,
    previous: Option<&Value>,
) -> Result<Value, ClientError> {
    let status = facts.status(Time::now(), previous);
    let path = format!("/api/v1/nodes/{}/status", facts.name);
    api.json(
        "PATCH",
        &path,
        Some("application/merge-patch+json"),
        Some(&json!({ "status": status })),
    )
    .await?;
    Ok(status)
}

/// Creates or renews the node's Lease.
pub async fn renew_lease(api: &QuicClient, node: &str) -> Result<(), ClientError> {
    let base = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
    let now = MicroTime::now().to_string();
    let spec = json!({
        "holderIdentity": node,
        "leaseDurationSeconds": LEASE_DURATION_SECONDS,
        "renewTime": now,
    });
    let path = format!("{base}/{node}");
    match api
        .json(
            "PATCH",
            &path,
            Some("application/merge-patch+json"),
            Some(&json!({ "spec": spec })),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.status_code() == Some(404) => {
            let lease = json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": node,
                    "namespace": "kube-node-lease",
                    "ownerReferences": [],
                },
                "spec": spec,
            });
            api.json("POST", base, None, Some(&lease)).await.map(|_| ())
        }
        Err(e) => Err(e),
    }
}

/// Renews the lease and writes the status on their periods until `stop`.
pub async fn heartbeat(
    api: Arc<QuicClient>,
    facts: NodeFacts,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut lease = tokio::time::interval(LEASE_RENEW);
    let mut status = tokio::time::interval(STATUS_PERIOD);
    let mut last: Option<Value> = None;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = lease.tick() => {
                if let Err(e) = renew_lease(&api, &facts.name).await {
                    tracing::warn!("renewing the node lease: {e}");
                }
            }
            _ = status.tick() => {
                match write_status(&api, &facts, last.as_ref()).await {
                    Ok(s) => last = Some(s),
                    Err(e) => tracing::warn!("writing the node status: {e}"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reports_capacity_addresses_and_keeps_transition_times() {
        let facts = NodeFacts {
            name: "n1".into(),
            ip: Some("192.0.2.7".parse().expect("ip")),
            pod_cidr: Some("10.244.0.0/24".into()),
            kubelet_port: 10250,
            max_pods: 110,
            cpus: 2,
            memory_bytes: 4 << 30,
            ephemeral_bytes: 10 << 30,
            kernel: "6.18".into(),
            os_image: "Debian".into(),
            runtime_version: "runc://1.1.5".into(),
            boot_id: "b".into(),
            machine_id: "m".into(),
        };
        let first = facts.status(Time(1_000), None);
        assert_eq!(first["capacity"]["cpu"], "2");
        assert_eq!(first["capacity"]["memory"], "4194304Ki");
        assert_eq!(first["addresses"][0]["address"], "192.0.2.7");
        assert_eq!(first["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10250);
        let later = facts.status(Time(2_000), Some(&first));
        let ready = |s: &Value| {
            s["conditions"]
                .as_array()
                .expect("conditions")
                .iter()
                .find(|c| c["type"] == "Ready")
                .cloned()
                .expect("Ready")
        };
        assert_eq!(ready(&later)["status"], "True");
        assert_eq!(ready(&later)["lastTransitionTime"], Time(1_000).to_string());
        assert_eq!(ready(&later)["lastHeartbeatTime"], Time(2_000).to_string());
    }
}
