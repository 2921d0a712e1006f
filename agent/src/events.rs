//! Events the agent records about its pods (`Pulled`, `Created`, `Started`, `Killing`,
//! `BackOff`, `Failed`), as `kubelet` on its node. Best effort: a failed write is logged.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use clipper_client::QuicClient;
use clipper_proto::Time;
use clipper_proto::api::core::v1::Pod;
use serde_json::json;

/// Event writes in flight at once; beyond it events are dropped (and logged) rather than
/// queued without bound, as client-go's event broadcaster drops on a full queue.
pub const MAX_INFLIGHT_EVENTS: usize = 256;

static INFLIGHT: AtomicUsize = AtomicUsize::new(0);

pub fn emit(api: &Arc<QuicClient>, node: &str, pod: &Pod, kind: &str, reason: &str, message: &str) {
    if INFLIGHT.fetch_add(1, Ordering::AcqRel) >= MAX_INFLIGHT_EVENTS {
        INFLIGHT.fetch_sub(1, Ordering::AcqRel);
        tracing::warn!(
            reason,
            "dropping an event: {MAX_INFLIGHT_EVENTS} writes in flight"
        );
        return;
    }
    let ns = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let name = pod.metadata.name.clone().unwrap_or_default();
    let now = Time::now().to_string();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": { "name": format!("{name}.{}", &suffix[..16]), "namespace": ns },
        "involvedObject": {
            "kind": "Pod", "apiVersion": "v1", "namespace": ns, "name": name,
            "uid": pod.metadata.uid, "resourceVersion": pod.metadata.resource_version,
        },
        "reason": reason,
        "message": message,
        "type": kind,
        "source": { "component": "kubelet", "host": node },
        "reportingComponent": "kubelet",
        "reportingInstance": node,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    });
    let api = api.clone();
    tokio::spawn(async move {
        let path = format!("/api/v1/namespaces/{ns}/events");
        if let Err(e) = api.json("POST", &path, None, Some(&event)).await {
            tracing::debug!("recording an event: {e}");
        }
        INFLIGHT.fetch_sub(1, Ordering::AcqRel);
    });
}
