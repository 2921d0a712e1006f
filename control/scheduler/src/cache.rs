//! The node cache: one writer (the watch loop and the scheduling loop's assume/forget)
//! mutates a working [`Snapshot`] and publishes it through `ArcSwap`; any number of
//! readers load the current `Arc<Snapshot>` without locks. Snapshots are persistent
//! (imbl) so publishing after each assumed pod copies only the changed node and the
//! O(log n) tree path to it.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use clipper_proto::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use clipper_proto::api::storage::v1::StorageClass;

use crate::info::{Labels, NodeHot, NodeInfo, NodeStatic, PodInfo, RequiredNodeAffinity};
use crate::volumes::{self, ClaimInfo};

/// An immutable view of the cluster for one scheduling cycle.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    nodes: imbl::Vector<Arc<NodeInfo>>,
    /// `nodes[i].hot`, stored densely (imbl keeps 64 values per leaf) for the fast path.
    rows: imbl::Vector<NodeHot>,
    index: imbl::HashMap<String, usize>,
    namespaces: imbl::HashMap<String, Arc<Labels>>,
    /// Normalized image name → number of nodes that have it (ImageLocality's spread).
    image_nodes: imbl::HashMap<String, u32>,
    /// Indices of nodes with pods that have any (anti-)affinity term.
    affinity_nodes: imbl::OrdSet<usize>,
    /// Indices of nodes with pods that have required anti-affinity.
    anti_affinity_nodes: imbl::OrdSet<usize>,
    /// PersistentVolumeClaims by (namespace, name).
    claims: imbl::HashMap<(String, String), Arc<ClaimInfo>>,
    /// PersistentVolumes' node affinity by name.
    volumes: imbl::HashMap<String, Arc<RequiredNodeAffinity>>,
    /// StorageClasses with volumeBindingMode WaitForFirstConsumer.
    delayed_classes: imbl::HashSet<String>,
    generation: u64,
}

impl Snapshot {
    pub fn claim(&self, namespace: &str, name: &str) -> Option<Arc<ClaimInfo>> {
        self.claims
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    pub fn volume(&self, name: &str) -> Option<Arc<RequiredNodeAffinity>> {
        self.volumes.get(name).cloned()
    }

    pub fn delays_binding(&self, storage_class: &str) -> bool {
        self.delayed_classes.contains(storage_class)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn node(&self, i: usize) -> &Arc<NodeInfo> {
        &self.nodes[i]
    }

    /// The dense copy of `node(i).hot`.
    pub fn row(&self, i: usize) -> &NodeHot {
        &self.rows[i]
    }

    /// A cursor over the dense rows.
    pub fn row_focus(
        &self,
    ) -> imbl::vector::Focus<'_, NodeHot, imbl::shared_ptr::DefaultSharedPtr> {
        self.rows.focus()
    }

    /// A cursor for many lookups at nearby indices (caches the current leaf).
    pub fn focus(
        &self,
    ) -> imbl::vector::Focus<'_, Arc<NodeInfo>, imbl::shared_ptr::DefaultSharedPtr> {
        self.nodes.focus()
    }

    pub fn nodes(&self) -> impl Iterator<Item = &Arc<NodeInfo>> {
        self.nodes.iter()
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<NodeInfo>> {
        self.index_of(name).map(|i| &self.nodes[i])
    }

    pub fn namespace_labels(&self, ns: &str) -> Option<Arc<Labels>> {
        self.namespaces.get(ns).cloned()
    }

    pub fn image_node_count(&self, image: &str) -> u32 {
        self.image_nodes.get(image).copied().unwrap_or(0)
    }

    /// Nodes with pods that have any (anti-)affinity term (InterPodAffinity's scoring
    /// only needs to visit these when the incoming pod has no preferred terms).
    pub fn nodes_with_affinity_pods(&self) -> impl Iterator<Item = &Arc<NodeInfo>> {
        self.affinity_nodes.iter().map(|&i| &self.nodes[i])
    }

    /// Nodes with pods that have required anti-affinity.
    pub fn nodes_with_required_anti_affinity_pods(&self) -> impl Iterator<Item = &Arc<NodeInfo>> {
        self.anti_affinity_nodes.iter().map(|&i| &self.nodes[i])
    }

    fn index_flags(&mut self, i: usize) {
        let (aff, anti) = {
            let n = &self.nodes[i];
            (
                n.pods_with_affinity > 0,
                n.pods_with_required_anti_affinity > 0,
            )
        };
        if aff {
            self.affinity_nodes.insert(i);
        } else {
            self.affinity_nodes.remove(&i);
        }
        if anti {
            self.anti_affinity_nodes.insert(i);
        } else {
            self.anti_affinity_nodes.remove(&i);
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Builds a snapshot from nodes and pods in one go (tests, benchmarks).
    pub fn build(nodes: &[Node], pods: &[Pod]) -> Snapshot {
        let mut c = Cache::new();
        for n in nodes {
            c.upsert_node_quiet(n);
        }
        for p in pods {
            c.add_pod_quiet(Arc::new(PodInfo::from_pod(p)));
        }
        c.state
    }

    fn image_delta(&mut self, node: &NodeStatic, delta: i64) {
        for img in node.images.keys() {
            let cur = i64::from(self.image_node_count(img));
            let next = (cur + delta).max(0) as u32;
            if next == 0 {
                self.image_nodes.remove(img);
            } else {
                self.image_nodes.insert(img.clone(), next);
            }
        }
    }

    fn update_node(&mut self, i: usize, f: impl FnOnce(&mut NodeInfo)) {
        let mut ni = (*self.nodes[i]).clone();
        f(&mut ni);
        self.rows.set(i, ni.hot);
        self.nodes.set(i, Arc::new(ni));
        self.index_flags(i);
        self.generation += 1;
    }
}

/// Errors from cache mutations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    #[error("node {0:?} is not in the cache")]
    UnknownNode(String),
    #[error("pod {0} is already in the cache")]
    PodExists(String),
    #[error("pod {0} is not assumed")]
    NotAssumed(String),
}

/// The single-writer cache. Readers hold a [`SnapshotReader`].
pub struct Cache {
    state: Snapshot,
    published: Arc<ArcSwap<Snapshot>>,
    /// Pod key → node name, for every pod in the cache.
    pod_nodes: HashMap<String, String>,
    /// Keys of pods assumed but not yet confirmed bound.
    assumed: HashMap<String, String>,
    /// Pods whose node has not been seen yet, by node name.
    orphans: HashMap<String, Vec<Arc<PodInfo>>>,
}

/// A cheap, cloneable, lock-free handle to the latest published snapshot.
#[derive(Clone)]
pub struct SnapshotReader(Arc<ArcSwap<Snapshot>>);

impl SnapshotReader {
    pub fn load(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }
}

impl Default for Cache {
    fn default() -> Self {
        Cache::new()
    }
}

impl Cache {
    pub fn new() -> Cache {
        Cache {
            state: Snapshot::default(),
            published: Arc::new(ArcSwap::from_pointee(Snapshot::default())),
            pod_nodes: HashMap::new(),
            assumed: HashMap::new(),
            orphans: HashMap::new(),
        }
    }

    pub fn reader(&self) -> SnapshotReader {
        SnapshotReader(self.published.clone())
    }

    /// The latest published snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.published.load_full()
    }

    fn publish(&self) {
        self.published.store(Arc::new(self.state.clone()));
    }

    /// Adds or replaces a node (keeps its pods).
    pub fn upsert_node(&mut self, node: &Node) {
        self.upsert_node_quiet(node);
        self.publish();
    }

    fn upsert_node_quiet(&mut self, node: &Node) {
        let st = Arc::new(NodeStatic::from_node(node));
        let name = st.name.clone();
        match self.state.index_of(&name) {
            Some(i) => {
                let old = self.state.nodes[i].node.clone();
                self.state.image_delta(&old, -1);
                self.state.image_delta(&st, 1);
                self.state.update_node(i, |ni| ni.set_node(st));
            }
            None => {
                self.state.image_delta(&st, 1);
                let mut ni = NodeInfo::new(st);
                for p in self.orphans.remove(&name).unwrap_or_default() {
                    ni.add_pod(p);
                }
                let i = self.state.nodes.len();
                self.state.index.insert(name, i);
                self.state.rows.push_back(ni.hot);
                self.state.nodes.push_back(Arc::new(ni));
                self.state.index_flags(i);
                self.state.generation += 1;
            }
        }
    }

    /// Removes a node; its pods wait as orphans in case the node comes back.
    pub fn remove_node(&mut self, name: &str) -> Result<(), CacheError> {
        let i = self
            .state
            .index
            .remove(name)
            .ok_or_else(|| CacheError::UnknownNode(name.to_string()))?;
        let last = self.state.nodes.len() - 1;
        for set in [
            &mut self.state.affinity_nodes,
            &mut self.state.anti_affinity_nodes,
        ] {
            set.remove(&i);
            if set.remove(&last).is_some() && i != last {
                set.insert(i);
            }
        }
        let removed = if i == last {
            self.state.rows.pop_back();
            self.state.nodes.pop_back().expect("non-empty")
        } else {
            let moved = self.state.nodes.pop_back().expect("non-empty");
            let row = self.state.rows.pop_back().expect("rows mirror nodes");
            self.state.rows.set(i, row);
            self.state.index.insert(moved.name().to_string(), i);
            self.state.nodes.set(i, moved)
        };
        self.state.image_delta(&removed.node, -1);
        if !removed.pods.is_empty() {
            self.orphans
                .insert(name.to_string(), removed.pods.iter().cloned().collect());
        }
        self.state.generation += 1;
        self.publish();
        Ok(())
    }

    /// Adds or replaces a PersistentVolumeClaim (VolumeBinding).
    pub fn upsert_claim(&mut self, c: &PersistentVolumeClaim) {
        let key = (
            c.metadata.namespace.clone().unwrap_or_default(),
            c.metadata.name.clone().unwrap_or_default(),
        );
        self.state
            .claims
            .insert(key, Arc::new(ClaimInfo::from_api(c)));
        self.state.generation += 1;
        self.publish();
    }

    pub fn remove_claim(&mut self, namespace: &str, name: &str) {
        self.state
            .claims
            .remove(&(namespace.to_string(), name.to_string()));
        self.state.generation += 1;
        self.publish();
    }

    /// Adds or replaces a PersistentVolume (its node affinity).
    pub fn upsert_volume(&mut self, pv: &PersistentVolume) {
        self.state.volumes.insert(
            pv.metadata.name.clone().unwrap_or_default(),
            Arc::new(volumes::volume_affinity(pv)),
        );
        self.state.generation += 1;
        self.publish();
    }

    pub fn remove_volume(&mut self, name: &str) {
        self.state.volumes.remove(name);
        self.state.generation += 1;
        self.publish();
    }

    /// Adds or replaces a StorageClass (its volume binding mode).
    pub fn upsert_storage_class(&mut self, sc: &StorageClass) {
        let name = sc.metadata.name.clone().unwrap_or_default();
        if volumes::waits_for_first_consumer(sc) {
            self.state.delayed_classes.insert(name);
        } else {
            self.state.delayed_classes.remove(&name);
        }
        self.state.generation += 1;
        self.publish();
    }

    pub fn remove_storage_class(&mut self, name: &str) {
        self.state.delayed_classes.remove(name);
        self.state.generation += 1;
        self.publish();
    }

    /// Sets a namespace's labels (for namespaceSelector in affinity terms).
    pub fn upsert_namespace(&mut self, name: &str, labels: Labels) {
        self.state
            .namespaces
            .insert(name.to_string(), Arc::new(labels));
        self.state.generation += 1;
        self.publish();
    }

    /// Adds a bound pod (spec.nodeName set) seen through the watch. A pod that was
    /// assumed on the same node is confirmed.
    pub fn add_pod(&mut self, pod: &Pod) -> Result<(), CacheError> {
        let pi = Arc::new(PodInfo::from_pod(pod));
        let key = pi.key();
        if let Some(node) = self.assumed.remove(&key) {
            if node == pi.node_name {
                return Ok(());
            }
            // Bound elsewhere than assumed: move it.
            self.remove_pod_quiet(&pi.namespace, &pi.name);
        } else if self.pod_nodes.contains_key(&key) {
            return Err(CacheError::PodExists(key));
        }
        self.add_pod_quiet(pi);
        self.publish();
        Ok(())
    }

    fn add_pod_quiet(&mut self, pi: Arc<PodInfo>) {
        let node = pi.node_name.clone();
        self.pod_nodes.insert(pi.key(), node.clone());
        match self.state.index_of(&node) {
            Some(i) => self.state.update_node(i, |ni| ni.add_pod(pi)),
            None => self.orphans.entry(node).or_default().push(pi),
        }
    }

    /// Removes a pod (deleted through the watch, or a forgotten assumption).
    pub fn remove_pod(&mut self, namespace: &str, name: &str) -> bool {
        let removed = self.remove_pod_quiet(namespace, name);
        self.assumed.remove(&format!("{namespace}/{name}"));
        if removed {
            self.publish();
        }
        removed
    }

    fn remove_pod_quiet(&mut self, namespace: &str, name: &str) -> bool {
        let key = format!("{namespace}/{name}");
        let Some(node) = self.pod_nodes.remove(&key) else {
            return false;
        };
        match self.state.index_of(&node) {
            Some(i) => self.state.update_node(i, |ni| {
                ni.remove_pod(namespace, name);
            }),
            None => {
                if let Some(v) = self.orphans.get_mut(&node) {
                    v.retain(|p| !(p.namespace == namespace && p.name == name));
                }
            }
        }
        true
    }

    /// Places `pod` on `node` before the bind is confirmed, so the next cycle sees it.
    pub fn assume(&mut self, pod: &PodInfo, node: &str) -> Result<(), CacheError> {
        let key = pod.key();
        if self.pod_nodes.contains_key(&key) {
            return Err(CacheError::PodExists(key));
        }
        if self.state.index_of(node).is_none() {
            return Err(CacheError::UnknownNode(node.to_string()));
        }
        let mut p = pod.clone();
        p.node_name = node.to_string();
        self.assumed.insert(key, node.to_string());
        self.add_pod_quiet(Arc::new(p));
        self.publish();
        Ok(())
    }

    /// Undoes [`Cache::assume`] after a failed bind.
    pub fn forget(&mut self, namespace: &str, name: &str) -> Result<(), CacheError> {
        let key = format!("{namespace}/{name}");
        if self.assumed.remove(&key).is_none() {
            return Err(CacheError::NotAssumed(key));
        }
        self.remove_pod_quiet(namespace, name);
        self.publish();
        Ok(())
    }

    pub fn is_assumed(&self, namespace: &str, name: &str) -> bool {
        self.assumed.contains_key(&format!("{namespace}/{name}"))
    }

    pub fn pod_count(&self) -> usize {
        self.pod_nodes.len()
    }
}
