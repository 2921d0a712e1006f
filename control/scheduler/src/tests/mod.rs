//! Table-driven tests of the decision core. Objects are written as the API's JSON so the
//! cases read like the manifests they stand for.

mod filters;
mod preempt;
mod scheduling;
mod scores;
mod volumes;

use std::sync::Arc;

use clipper_proto::api::core::v1::{Node, Pod};
use serde_json::{Value, json};

use crate::info::{NodeInfo, NodeStatic, PodInfo};

/// A node named `name` with 4 cpu, 8Gi memory, 110 pods, and `extra` merged into it
/// (`metadata`, `spec`, `status` objects are merged key by key).
pub fn node(name: &str, extra: Value) -> Node {
    let mut v = json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {},
        "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "100Gi"}}
    });
    merge(&mut v, extra);
    serde_json::from_value(v).expect("node json")
}

/// A pod `name` in namespace `default` with one container and `extra` merged in.
pub fn pod(name: &str, extra: Value) -> Pod {
    let mut v = json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    });
    merge(&mut v, extra);
    serde_json::from_value(v).expect("pod json")
}

/// A pod requesting `cpu`/`memory` (either may be "").
pub fn pod_req(name: &str, cpu: &str, mem: &str) -> Pod {
    let mut req = serde_json::Map::new();
    if !cpu.is_empty() {
        req.insert("cpu".into(), json!(cpu));
    }
    if !mem.is_empty() {
        req.insert("memory".into(), json!(mem));
    }
    pod(
        name,
        json!({"spec": {"containers": [{"name": "c", "image": "busybox", "resources": {"requests": req}}]}}),
    )
}

pub fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                match b.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, e) => *b = e,
    }
}

pub fn pi(p: &Pod) -> PodInfo {
    PodInfo::from_pod(p)
}

/// A NodeInfo for `n` with `pods` on it.
pub fn ni(n: &Node, pods: &[Pod]) -> NodeInfo {
    let mut info = NodeInfo::new(Arc::new(NodeStatic::from_node(n)));
    for p in pods {
        let mut i = PodInfo::from_pod(p);
        i.node_name = info.name().to_string();
        info.add_pod(Arc::new(i));
    }
    info
}

/// A pod bound to `node_name`.
pub fn on(mut p: Pod, node_name: &str) -> Pod {
    p.spec.get_or_insert_with(Default::default).node_name = Some(node_name.to_string());
    p
}
