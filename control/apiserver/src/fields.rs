//! Selectable fields: the values `fieldSelector=` can match for each kind, as Kubernetes'
//! registry strategies expose them (`metadata.name` and `metadata.namespace` everywhere,
//! plus per-kind fields such as a Pod's `spec.nodeName` and `status.phase`).

use clipper_proto::api::apps::v1::ReplicaSet;
use clipper_proto::api::batch::v1::Job;
use clipper_proto::api::certificates::v1::CertificateSigningRequest;
use clipper_proto::api::core::v1::{
    Event, Namespace, Node, Pod, ReplicationController, Secret, Service,
};

use crate::object::{ApiObject, downcast};

const GENERIC: &[&str] = &["metadata.name", "metadata.namespace"];
const POD: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
];
const NODE: &[&str] = &["metadata.name", "spec.unschedulable"];
const EVENT: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];
/// events.k8s.io/v1 names for the same fields, mapped to the core names.
const EVENTS_V1_ALIASES: &[(&str, &str)] = &[
    ("regarding.kind", "involvedObject.kind"),
    ("regarding.namespace", "involvedObject.namespace"),
    ("regarding.name", "involvedObject.name"),
    ("regarding.uid", "involvedObject.uid"),
    ("regarding.apiVersion", "involvedObject.apiVersion"),
    (
        "regarding.resourceVersion",
        "involvedObject.resourceVersion",
    ),
    ("regarding.fieldPath", "involvedObject.fieldPath"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
];
const SECRET: &[&str] = &["metadata.name", "metadata.namespace", "type"];
const NAMESPACE: &[&str] = &["metadata.name", "status.phase"];
const REPLICAS: &[&str] = &["metadata.name", "metadata.namespace", "status.replicas"];
const JOB: &[&str] = &["metadata.name", "metadata.namespace", "status.successful"];
const CSR: &[&str] = &["metadata.name", "spec.signerName"];
const SERVICE: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.clusterIP",
    "spec.type",
];

/// The field names a kind supports in field selectors.
pub fn supported(group: &str, kind: &str) -> &'static [&'static str] {
    match (group, kind) {
        ("", "Pod") => POD,
        ("", "Node") => NODE,
        ("", "Event") | ("events.k8s.io", "Event") => EVENT,
        ("", "Secret") => SECRET,
        ("", "Namespace") => NAMESPACE,
        ("", "ReplicationController") | ("apps", "ReplicaSet") => REPLICAS,
        ("batch", "Job") => JOB,
        ("certificates.k8s.io", "CertificateSigningRequest") => CSR,
        ("", "Service") => SERVICE,
        _ => GENERIC,
    }
}

/// Maps a field name a client used to the name this server indexes (events.k8s.io
/// aliases); other names pass through.
pub fn canonical_name<'a>(group: &str, kind: &str, field: &'a str) -> &'a str {
    if (group, kind) == ("events.k8s.io", "Event")
        && let Some((_, core)) = EVENTS_V1_ALIASES.iter().find(|(alias, _)| *alias == field)
    {
        return core;
    }
    field
}

/// The 400 message for an unsupported field.
pub fn unsupported_message(field: &str) -> String {
    format!(
        "{field:?} is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
    )
}

fn b(v: bool) -> String {
    v.to_string()
}

/// The kind-specific selectable values of an object (name and namespace are added by
/// the cache from the key).
pub fn extract(obj: &dyn ApiObject) -> Vec<(&'static str, String)> {
    if let Some(p) = downcast::<Pod>(obj) {
        let spec = p.spec.as_ref();
        let status = p.status.as_ref();
        let s = |v: Option<&String>| v.cloned().unwrap_or_default();
        return vec![
            ("spec.nodeName", s(spec.and_then(|x| x.node_name.as_ref()))),
            (
                "spec.restartPolicy",
                s(spec.and_then(|x| x.restart_policy.as_ref())),
            ),
            (
                "spec.schedulerName",
                s(spec.and_then(|x| x.scheduler_name.as_ref())),
            ),
            (
                "spec.serviceAccountName",
                s(spec.and_then(|x| x.service_account_name.as_ref())),
            ),
            (
                "spec.hostNetwork",
                b(spec.and_then(|x| x.host_network).unwrap_or(false)),
            ),
            ("status.phase", s(status.and_then(|x| x.phase.as_ref()))),
            ("status.podIP", s(status.and_then(|x| x.pod_ip.as_ref()))),
            (
                "status.nominatedNodeName",
                s(status.and_then(|x| x.nominated_node_name.as_ref())),
            ),
        ];
    }
    if let Some(n) = downcast::<Node>(obj) {
        return vec![(
            "spec.unschedulable",
            b(n.spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false)),
        )];
    }
    if let Some(e) = downcast::<Event>(obj) {
        let o = &e.involved_object;
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        let source = e
            .source
            .as_ref()
            .and_then(|s| s.component.clone())
            .unwrap_or_default();
        return vec![
            ("involvedObject.kind", s(&o.kind)),
            ("involvedObject.namespace", s(&o.namespace)),
            ("involvedObject.name", s(&o.name)),
            ("involvedObject.uid", s(&o.uid)),
            ("involvedObject.apiVersion", s(&o.api_version)),
            ("involvedObject.resourceVersion", s(&o.resource_version)),
            ("involvedObject.fieldPath", s(&o.field_path)),
            ("reason", s(&e.reason)),
            (
                "reportingComponent",
                e.reporting_component.clone().unwrap_or_default(),
            ),
            ("source", source),
            ("type", s(&e.type_)),
        ];
    }
    if let Some(e) = downcast::<clipper_proto::api::events::v1::Event>(obj) {
        let o = e.regarding.as_ref();
        let s = |f: fn(&clipper_proto::api::core::v1::ObjectReference) -> Option<String>| {
            o.and_then(f).unwrap_or_default()
        };
        return vec![
            ("involvedObject.kind", s(|o| o.kind.clone())),
            ("involvedObject.namespace", s(|o| o.namespace.clone())),
            ("involvedObject.name", s(|o| o.name.clone())),
            ("involvedObject.uid", s(|o| o.uid.clone())),
            ("involvedObject.apiVersion", s(|o| o.api_version.clone())),
            (
                "involvedObject.resourceVersion",
                s(|o| o.resource_version.clone()),
            ),
            ("involvedObject.fieldPath", s(|o| o.field_path.clone())),
            ("reason", e.reason.clone().unwrap_or_default()),
            (
                "reportingComponent",
                e.reporting_controller.clone().unwrap_or_default(),
            ),
            (
                "source",
                e.deprecated_source
                    .as_ref()
                    .and_then(|s| s.component.clone())
                    .unwrap_or_default(),
            ),
            ("type", e.type_.clone().unwrap_or_default()),
        ];
    }
    if let Some(s) = downcast::<Secret>(obj) {
        return vec![("type", s.type_.clone().unwrap_or_default())];
    }
    if let Some(n) = downcast::<Namespace>(obj) {
        return vec![(
            "status.phase",
            n.status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default(),
        )];
    }
    if let Some(r) = downcast::<ReplicaSet>(obj) {
        return vec![(
            "status.replicas",
            r.status
                .as_ref()
                .map(|s| s.replicas)
                .unwrap_or(0)
                .to_string(),
        )];
    }
    if let Some(r) = downcast::<ReplicationController>(obj) {
        return vec![(
            "status.replicas",
            r.status
                .as_ref()
                .map(|s| s.replicas)
                .unwrap_or(0)
                .to_string(),
        )];
    }
    if let Some(j) = downcast::<Job>(obj) {
        return vec![(
            "status.successful",
            j.status
                .as_ref()
                .and_then(|s| s.succeeded)
                .unwrap_or(0)
                .to_string(),
        )];
    }
    if let Some(c) = downcast::<CertificateSigningRequest>(obj) {
        return vec![("spec.signerName", c.spec.signer_name.clone())];
    }
    if let Some(s) = downcast::<Service>(obj) {
        let spec = s.spec.as_ref();
        return vec![
            (
                "spec.clusterIP",
                spec.and_then(|x| x.cluster_ip.clone()).unwrap_or_default(),
            ),
            (
                "spec.type",
                spec.and_then(|x| x.type_.clone()).unwrap_or_default(),
            ),
        ];
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_fields() {
        let pod: Pod = serde_json::from_str(
            r#"{"spec":{"nodeName":"n1","containers":[]},"status":{"phase":"Running","podIP":"10.0.0.1"}}"#,
        )
        .unwrap();
        let f = extract(&pod);
        assert!(f.contains(&("spec.nodeName", "n1".to_string())));
        assert!(f.contains(&("status.phase", "Running".to_string())));
        assert!(f.contains(&("spec.hostNetwork", "false".to_string())));
        assert!(supported("", "Pod").contains(&"spec.nodeName"));
        assert!(!supported("apps", "Deployment").contains(&"spec.nodeName"));
        assert_eq!(
            canonical_name("events.k8s.io", "Event", "regarding.name"),
            "involvedObject.name"
        );
    }
}
