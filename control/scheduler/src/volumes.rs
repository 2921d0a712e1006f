//! VolumeBinding for claims that are already bound: a pod whose PersistentVolumeClaims
//! are bound to PersistentVolumes with node affinity (local volumes) goes only where
//! those volumes are. Claims that are missing or unbound get kube-scheduler's refusals;
//! binding claims itself (WaitForFirstConsumer provisioning, matching unbound volumes)
//! is not done here.

use std::sync::Arc;

use clipper_proto::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use clipper_proto::api::storage::v1::StorageClass;

use crate::cache::Snapshot;
use crate::info::{NodeInfo, NodeTerm, PodInfo, RequiredNodeAffinity};
use crate::plugins::{FilterResult, Status};

pub const ERR_NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";
pub const ERR_BIND_CONFLICT: &str = "node(s) didn't find available persistent volumes to bind";
pub const ERR_PV_NOT_EXIST: &str =
    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";
pub const ERR_UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";

/// A claim as the filter needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimInfo {
    /// `spec.volumeName`; empty while unbound.
    pub volume_name: String,
    pub storage_class: String,
}

impl ClaimInfo {
    pub fn from_api(c: &PersistentVolumeClaim) -> ClaimInfo {
        let spec = c.spec.as_ref();
        ClaimInfo {
            volume_name: spec.and_then(|s| s.volume_name.clone()).unwrap_or_default(),
            storage_class: spec
                .and_then(|s| s.storage_class_name.clone())
                .unwrap_or_default(),
        }
    }
}

/// A volume's required node affinity (empty: usable from any node).
pub fn volume_affinity(pv: &PersistentVolume) -> RequiredNodeAffinity {
    let terms = pv
        .spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref())
        .map(|r| r.node_selector_terms.iter().map(NodeTerm::parse).collect());
    RequiredNodeAffinity {
        node_selector: Default::default(),
        terms,
    }
}

/// Whether a StorageClass delays binding until a pod uses the claim.
pub fn waits_for_first_consumer(sc: &StorageClass) -> bool {
    sc.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer")
}

/// What the PreFilter found for one pod.
#[derive(Clone, Debug, Default)]
pub struct VolumeState {
    /// Node affinities of the volumes the pod's bound claims use.
    pub required: Vec<Arc<RequiredNodeAffinity>>,
    /// A bound claim names a volume that does not exist.
    pub missing_volume: bool,
    /// A claim waits for its first consumer and this scheduler does not bind.
    pub unbound_delayed: bool,
}

impl VolumeState {
    pub fn is_trivial(&self) -> bool {
        self.required.is_empty() && !self.missing_volume && !self.unbound_delayed
    }
}

/// PreFilter: `Err` is the message for a pod no node can take (kube-scheduler's
/// UnschedulableAndUnresolvable PreFilter result).
pub fn prefilter(pod: &PodInfo, snap: &Snapshot) -> Result<VolumeState, String> {
    let mut st = VolumeState::default();
    for claim in &pod.claims {
        let Some(c) = snap.claim(&pod.namespace, claim) else {
            return Err(format!("persistentvolumeclaim \"{claim}\" not found"));
        };
        if c.volume_name.is_empty() {
            if snap.delays_binding(&c.storage_class) {
                st.unbound_delayed = true;
                continue;
            }
            return Err(ERR_UNBOUND_IMMEDIATE.to_string());
        }
        match snap.volume(&c.volume_name) {
            Some(aff) if aff.is_empty() => {}
            Some(aff) => st.required.push(aff),
            None => st.missing_volume = true,
        }
    }
    Ok(st)
}

/// Filter.
pub fn filter(st: &VolumeState, node: &NodeInfo) -> FilterResult {
    if st.missing_volume {
        return Err(Status::unresolvable(ERR_PV_NOT_EXIST));
    }
    if st
        .required
        .iter()
        .any(|a| !a.matches(node.name(), node.labels()))
    {
        return Err(Status::unresolvable(ERR_NODE_CONFLICT));
    }
    if st.unbound_delayed {
        return Err(Status::unschedulable(ERR_BIND_CONFLICT));
    }
    Ok(())
}
