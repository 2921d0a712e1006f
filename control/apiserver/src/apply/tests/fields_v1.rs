//! FieldsV1 both ways on the managedFields of real objects, as `kubectl get -o json
//! --show-managed-fields` prints them, and the exact bytes kube-apiserver writes.

use serde_json::{Value, json};

use crate::apply::managed::Managed;
use crate::apply::{FieldSet, Path, PathElement};

/// A Deployment created with `kubectl apply` (client-side) and rolled out by the
/// deployment controller.
fn deployment_managed_fields() -> Value {
    json!([
        {
            "apiVersion": "apps/v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {
                    "f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}},
                    "f:labels": {".": {}, "f:app": {}}
                },
                "f:spec": {
                    "f:progressDeadlineSeconds": {},
                    "f:replicas": {},
                    "f:revisionHistoryLimit": {},
                    "f:selector": {},
                    "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}}, "f:type": {}},
                    "f:template": {
                        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                        "f:spec": {
                            "f:containers": {"k:{\"name\":\"nginx\"}": {
                                ".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {},
                                "f:ports": {".": {}, "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:protocol": {}}},
                                "f:resources": {}, "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {}
                            }},
                            "f:dnsPolicy": {}, "f:restartPolicy": {}, "f:schedulerName": {}, "f:securityContext": {},
                            "f:terminationGracePeriodSeconds": {}
                        }
                    }
                }
            },
            "manager": "kubectl-client-side-apply",
            "operation": "Update",
            "time": "2024-05-01T10:00:00Z"
        },
        {
            "apiVersion": "apps/v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:annotations": {"f:deployment.kubernetes.io/revision": {}}},
                "f:status": {
                    "f:availableReplicas": {},
                    "f:conditions": {
                        ".": {},
                        "k:{\"type\":\"Available\"}": {".": {}, "f:lastTransitionTime": {}, "f:lastUpdateTime": {}, "f:message": {}, "f:reason": {}, "f:status": {}, "f:type": {}},
                        "k:{\"type\":\"Progressing\"}": {".": {}, "f:lastTransitionTime": {}, "f:lastUpdateTime": {}, "f:message": {}, "f:reason": {}, "f:status": {}, "f:type": {}}
                    },
                    "f:observedGeneration": {}, "f:readyReplicas": {}, "f:replicas": {}, "f:updatedReplicas": {}
                }
            },
            "manager": "kube-controller-manager",
            "operation": "Update",
            "subresource": "status",
            "time": "2024-05-01T10:00:05Z"
        },
        {
            "apiVersion": "apps/v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
            "manager": "kubectl",
            "operation": "Update",
            "subresource": "scale",
            "time": "2024-05-01T10:01:00Z"
        }
    ])
}

#[test]
fn real_managed_fields_round_trip() {
    let list = deployment_managed_fields();
    let managed = Managed::decode(Some(&list)).unwrap();
    assert_eq!(managed.entries.len(), 3);
    assert_eq!(managed.encode(), Some(list.clone()));
    for entry in list.as_array().unwrap() {
        let fields = &entry["fieldsV1"];
        let set = FieldSet::from_fields_v1(fields).unwrap();
        assert_eq!(&set.to_fields_v1(), fields);
        let text = set.to_json();
        assert_eq!(&serde_json::from_str::<Value>(&text).unwrap(), fields);
        assert_eq!(FieldSet::from_json(&text).unwrap(), set);
    }
    let csa = FieldSet::from_fields_v1(&list[0]["fieldsV1"]).unwrap();
    assert_eq!(csa.len(), 30);
    let paths: Vec<String> = csa.paths().iter().map(ToString::to_string).collect();
    for p in [
        ".metadata.annotations",
        ".metadata.annotations.kubectl.kubernetes.io/last-applied-configuration",
        ".spec.selector",
        ".spec.template.spec.containers[name=\"nginx\"]",
        ".spec.template.spec.containers[name=\"nginx\"].ports[containerPort=80,protocol=\"TCP\"].protocol",
    ] {
        assert!(paths.iter().any(|q| q == p), "{p} in {paths:?}");
    }
    // A node with children but no "." is not itself a member.
    assert!(!csa.has(&Path::fields(&["spec", "strategy"]).0));
    assert!(csa.has(&Path::fields(&["spec", "strategy", "rollingUpdate"]).0));
}

#[test]
fn exact_bytes_in_structured_merge_diff_order() {
    for text in [
        // Numeric key order: port 80 before 443 (string order would put 443 first).
        r#"{"f:spec":{"f:ports":{".":{},"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},"f:name":{},"f:port":{},"f:protocol":{},"f:targetPort":{}},"k:{\"port\":443,\"protocol\":\"TCP\"}":{".":{},"f:name":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}},"f:selector":{},"f:type":{}}}"#,
        r#"{"f:metadata":{"f:finalizers":{".":{},"v:\"kubernetes.io/pvc-protection\"":{}}}}"#,
        // Go escapes HTML characters inside keys' JSON.
        r#"{"f:spec":{"f:items":{"k:{\"name\":\"a\\u003cb\"}":{".":{},"f:name":{}}}}}"#,
        r#"{"f:spec":{"f:args":{"i:2":{},"i:10":{}},"f:weights":{"v:1.5":{},"v:2":{}}}}"#,
        "{}",
    ] {
        let set = FieldSet::from_json(text).unwrap();
        assert_eq!(set.to_json(), text);
        assert_eq!(FieldSet::from_fields_v1(&set.to_fields_v1()).unwrap(), set);
    }
    let set =
        FieldSet::from_json(r#"{"f:spec":{"f:items":{"k:{\"name\":\"a\\u003cb\"}":{}}}}"#).unwrap();
    assert_eq!(set.paths()[0].to_string(), ".spec.items[name=\"a<b\"]");
    let key = PathElement::key(vec![("name".into(), json!("a<b"))]);
    assert_eq!(key.serialize(), r#"k:{"name":"a\u003cb"}"#);
}

#[test]
fn malformed_fields_v1() {
    for (text, want) in [
        (
            r#"{"f:a": 1}"#,
            "FieldsV1 member \"f:a\" must be a JSON object",
        ),
        (r#"{"x": {}}"#, "key must be 2 characters long: x"),
        (r#"{"fx": {}}"#, "missing colon: fx"),
        (r#"[]"#, "FieldsV1 must be a JSON object, got []"),
    ] {
        assert_eq!(FieldSet::from_json(text).unwrap_err(), want, "{text}");
    }
    assert!(FieldSet::from_json(r#"{"k:[1]": {}}"#).is_err());
    assert!(FieldSet::from_json(r#"{"v:{": {}}"#).is_err());
    // Element types this version does not know are skipped.
    assert_eq!(
        FieldSet::from_json(r#"{"z:future": {}, "f:a": {}}"#)
            .unwrap()
            .len(),
        1
    );
    let mut deep = json!({});
    for _ in 0..200 {
        deep = json!({"f:a": deep});
    }
    assert!(
        FieldSet::from_fields_v1(&deep)
            .unwrap_err()
            .contains("deeper")
    );
}
