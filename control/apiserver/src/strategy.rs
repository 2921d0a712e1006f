//! Per-kind server behaviour around writes, as kube-apiserver's registry strategies do it:
//! what a create resets, whether `metadata.generation` is tracked, how the main resource
//! and its `status` subresource split an object, and the Pod's initial status.

use clipper_proto::api::core::v1::{Pod, PodStatus};
use serde_json::Value;

use crate::object::{ApiObject, downcast};
use crate::served::Served;

/// Whether writes bump `metadata.generation` for this resource: kinds whose status reports
/// an `observedGeneration`, and custom resources (as apiextensions does).
pub fn tracks_generation(served: &Served) -> bool {
    if served.custom.is_some() {
        return true;
    }
    let api_version = served.api_version();
    clipper_proto::schema::schema()
        .definition_for_kind(&api_version, &served.kind)
        .and_then(|d| {
            let schema = clipper_proto::schema::schema();
            schema.field_at(d, &["status", "observedGeneration"])
        })
        .is_some()
        || matches!(
            (served.group.as_str(), served.kind.as_str()),
            ("apiextensions.k8s.io", "CustomResourceDefinition")
        )
}

/// Whether a create keeps the status the client sent (Nodes register with theirs; every
/// other kind with a status subresource starts with an empty or server-made status).
pub fn keeps_status_on_create(served: &Served) -> bool {
    !served.has_status() || (served.group.is_empty() && served.kind == "Node")
}

/// Everything except metadata and status: a change here is a spec change.
pub fn spec_part(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The Pod's status at creation: phase Pending and its QoS class.
pub fn init_pod_status(obj: &mut dyn ApiObject) {
    let Some(pod) = obj.as_any_mut().downcast_mut::<Pod>() else {
        return;
    };
    let qos = qos_class(pod);
    pod.status = Some(PodStatus {
        phase: Some("Pending".into()),
        qos_class: Some(qos.into()),
        ..Default::default()
    });
}

/// Kubernetes' QoS class: Guaranteed when every container's cpu and memory requests equal
/// their limits, BestEffort when none sets any, Burstable otherwise.
pub fn qos_class(pod: &Pod) -> &'static str {
    let Some(spec) = pod.spec.as_ref() else {
        return "BestEffort";
    };
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    let mut any = false;
    let mut guaranteed = true;
    for c in containers {
        let res = c.resources.as_ref();
        let requests = res.and_then(|r| r.requests.as_ref());
        let limits = res.and_then(|r| r.limits.as_ref());
        for name in ["cpu", "memory"] {
            let req = requests.and_then(|m| m.get(name)).filter(|q| !q.is_zero());
            let lim = limits.and_then(|m| m.get(name)).filter(|q| !q.is_zero());
            if req.is_some() || lim.is_some() {
                any = true;
            }
            match (req, lim) {
                (Some(r), Some(l)) if r == l => {}
                (None, Some(_)) => {}
                _ => guaranteed = false,
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Whether a pod is in a terminal phase (deleted at once, without grace).
pub fn pod_is_terminal(obj: &dyn ApiObject) -> bool {
    downcast::<Pod>(obj)
        .and_then(|p| p.status.as_ref())
        .and_then(|s| s.phase.as_deref())
        .is_some_and(|p| p == "Succeeded" || p == "Failed")
}

/// The grace period a pod's deletion gets when the request names none.
pub fn pod_grace_period(obj: &dyn ApiObject) -> Option<i64> {
    downcast::<Pod>(obj).map(|p| {
        p.spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds)
            .unwrap_or(30)
    })
}

/// Whether a pod has been bound to a node (then its deletion waits for the node agent).
pub fn pod_is_bound(obj: &dyn ApiObject) -> bool {
    downcast::<Pod>(obj)
        .and_then(|p| p.spec.as_ref())
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
}

/// Resources whose DELETE answers with the deleted object (kube-apiserver's
/// `ReturnDeletedObject`), rather than a Status.
pub fn returns_deleted_object(served: &Served) -> bool {
    served.custom.is_some()
        || (served.group.is_empty()
            && matches!(
                served.plural.as_str(),
                "pods"
                    | "services"
                    | "namespaces"
                    | "nodes"
                    | "persistentvolumes"
                    | "persistentvolumeclaims"
            ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::served::ServedSet;

    fn pod(json: &str) -> Pod {
        serde_json::from_str(json).expect("pod")
    }

    #[test]
    fn qos_classes() {
        assert_eq!(
            qos_class(&pod(r#"{"spec":{"containers":[{"name":"a"}]}}"#)),
            "BestEffort"
        );
        assert_eq!(
            qos_class(&pod(
                r#"{"spec":{"containers":[{"name":"a","resources":{"requests":{"cpu":"1","memory":"1Gi"},"limits":{"cpu":"1","memory":"1Gi"}}}]}}"#
            )),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&pod(
                r#"{"spec":{"containers":[{"name":"a","resources":{"limits":{"cpu":"1","memory":"1Gi"}}}]}}"#
            )),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&pod(
                r#"{"spec":{"containers":[{"name":"a","resources":{"requests":{"cpu":"100m"}}}]}}"#
            )),
            "Burstable"
        );
    }

    #[test]
    fn generation_tracking_follows_observed_generation() {
        let set = ServedSet::builtin();
        assert!(tracks_generation(
            set.get("apps", "v1", "deployments").expect("deployments")
        ));
        assert!(tracks_generation(
            set.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
                .expect("crds")
        ));
        assert!(!tracks_generation(
            set.get("", "v1", "configmaps").expect("configmaps")
        ));
        assert!(keeps_status_on_create(
            set.get("", "v1", "nodes").expect("nodes")
        ));
        assert!(!keeps_status_on_create(
            set.get("", "v1", "pods").expect("pods")
        ));
        assert!(keeps_status_on_create(
            set.get("", "v1", "configmaps").expect("configmaps")
        ));
    }
}
