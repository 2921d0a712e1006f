//! managedFields of creates, updates, patches and status writes: the entries
//! kube-apiserver records, managers named from user agents, untracked objects, resets,
//! the cap on Update entries, and the fallback when an object does not fit its schema.

use serde_json::{Value, json};

use super::{
    Want, apply, bare_config_map, case, check, config_map, managers, set, t, write, write_status,
};
use crate::apply::{
    BuiltinSchema, FieldManager, FieldSet, Path, manager_from_user_agent, manager_or_user_agent,
    update_managed_fields, validate_field_manager,
};

const S: &BuiltinSchema = &BuiltinSchema;

/// `kubectl create deployment web --image=nginx` as the API server stores it, defaults
/// applied.
fn created_deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web", "namespace": "default", "labels": {"app": "web"},
            "creationTimestamp": "2024-05-01T10:00:01Z", "generation": 1, "resourceVersion": "1"
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{
                        "name": "nginx", "image": "nginx", "imagePullPolicy": "Always", "resources": {},
                        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
                    }],
                    "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                    "securityContext": {}, "schedulerName": "default-scheduler"
                }
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600
        },
        "status": {}
    })
}

/// What kube-apiserver records for `kubectl-create` creating [`created_deployment`].
fn kubectl_create_fields() -> Value {
    json!({
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {
            "f:progressDeadlineSeconds": {}, "f:replicas": {}, "f:revisionHistoryLimit": {}, "f:selector": {},
            "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}}, "f:type": {}},
            "f:template": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {
                    "f:containers": {"k:{\"name\":\"nginx\"}": {
                        ".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {}, "f:resources": {},
                        "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {}
                    }},
                    "f:dnsPolicy": {}, "f:restartPolicy": {}, "f:schedulerName": {}, "f:securityContext": {},
                    "f:terminationGracePeriodSeconds": {}
                }
            }
        }
    })
}

fn rolled_out() -> Value {
    let condition = |ty: &str| {
        json!({
            "type": ty, "status": "True", "reason": "R", "message": "m",
            "lastTransitionTime": "2024-05-01T10:00:02Z", "lastUpdateTime": "2024-05-01T10:00:02Z"
        })
    };
    set(
        created_deployment(),
        "/status",
        json!({
            "observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
            "conditions": [condition("Available"), condition("Progressing")]
        }),
    )
}

fn condition_fields() -> Value {
    json!({".": {}, "f:lastTransitionTime": {}, "f:lastUpdateTime": {}, "f:message": {}, "f:reason": {}, "f:status": {}, "f:type": {}})
}

#[test]
fn writes_record_update_entries() {
    let status_fields = json!({"f:status": {
        "f:availableReplicas": {},
        "f:conditions": {".": {}, "k:{\"type\":\"Available\"}": condition_fields(), "k:{\"type\":\"Progressing\"}": condition_fields()},
        "f:observedGeneration": {}, "f:readyReplicas": {}, "f:replicas": {}, "f:updatedReplicas": {}
    }});
    check(vec![
        case(
            "a create records every field the creator set, defaults included",
            S,
            vec![write("kubectl-create", created_deployment())],
            Want::Ok(
                Some(created_deployment()),
                vec![("kubectl-create Update", kubectl_create_fields())],
            ),
        ),
        case(
            "a status write records its own entry with the subresource",
            S,
            vec![
                write("kubectl-create", created_deployment()),
                write_status("kube-controller-manager", rolled_out()),
            ],
            Want::Ok(
                Some(rolled_out()),
                vec![
                    ("kubectl-create Update", kubectl_create_fields()),
                    (
                        "kube-controller-manager Update status",
                        status_fields.clone(),
                    ),
                ],
            ),
        ),
        case(
            "a field another manager set moves to the writer that changes it",
            S,
            vec![
                write("kubectl-create", created_deployment()),
                write(
                    "kubectl-edit",
                    set(created_deployment(), "/spec/replicas", json!(3)),
                ),
            ],
            Want::Ok(
                None,
                vec![
                    (
                        "kubectl-create Update",
                        super::unset(kubectl_create_fields(), "/f:spec/f:replicas"),
                    ),
                    ("kubectl-edit Update", json!({"f:spec": {"f:replicas": {}}})),
                ],
            ),
        ),
        case(
            "a field removed leaves every manager; a manager left empty goes",
            S,
            vec![
                apply("a", config_map(json!({"x": "1"}))),
                write("editor", config_map(json!({"y": "2"}))),
            ],
            Want::Ok(
                Some(config_map(json!({"y": "2"}))),
                vec![("editor Update", json!({"f:data": {"f:y": {}}}))],
            ),
        ),
        case(
            "a write changing only server-set metadata records nothing",
            S,
            vec![
                write("a", config_map(json!({"x": "1"}))),
                write(
                    "b",
                    set(
                        config_map(json!({"x": "1"})),
                        "/metadata/resourceVersion",
                        json!("9"),
                    ),
                ),
            ],
            Want::Ok(
                None,
                vec![("a Update", json!({"f:data": {".": {}, "f:x": {}}}))],
            ),
        ),
        case(
            "the same manager's later write adds to its entry",
            S,
            vec![
                write("a", config_map(json!({"x": "1"}))),
                write("a", config_map(json!({"x": "1", "y": "2"}))),
            ],
            Want::Ok(
                None,
                vec![(
                    "a Update",
                    json!({"f:data": {".": {}, "f:x": {}, "f:y": {}}}),
                )],
            ),
        ),
        case(
            "an applier and an updater of the same name are two entries, Apply first",
            S,
            vec![
                write("a", config_map(json!({"x": "1"}))),
                apply(
                    "a",
                    set(bare_config_map(), "/metadata/labels", json!({"l": "v"})),
                ),
            ],
            Want::Ok(
                None,
                vec![
                    ("a Apply", json!({"f:metadata": {"f:labels": {"f:l": {}}}})),
                    ("a Update", json!({"f:data": {".": {}, "f:x": {}}})),
                ],
            ),
        ),
        case(
            "a write without a manager is recorded as unknown",
            S,
            vec![write("", config_map(json!({"x": "1"})))],
            Want::Ok(
                None,
                vec![("unknown Update", json!({"f:data": {".": {}, "f:x": {}}}))],
            ),
        ),
    ]);
}

#[test]
fn untracked_objects_and_resets() {
    let stored = set(config_map(json!({"x": "1"})), "/metadata/uid", json!("u"));
    let mut new = config_map(json!({"x": "2"}));
    update_managed_fields(Some(&stored), &mut new, "editor", None, S, t(1));
    assert_eq!(
        new.pointer("/metadata/managedFields"),
        None,
        "an untracked object stays untracked"
    );

    let mut created = config_map(json!({"x": "1"}));
    update_managed_fields(None, &mut created, "creator", None, S, t(1));
    assert_eq!(managers(&created).len(), 1, "a create is tracked");
    let tracked = set(created, "/metadata/uid", json!("u"));

    let mut reset = set(
        config_map(json!({"x": "2"})),
        "/metadata/managedFields",
        json!([]),
    );
    update_managed_fields(Some(&tracked), &mut reset, "editor", None, S, t(2));
    assert_eq!(
        reset.pointer("/metadata/managedFields"),
        None,
        "[] clears managedFields"
    );

    // Managed fields the request sets are taken as they are (and then updated)...
    let given = json!([{"manager": "importer", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": {"f:x": {}}}, "time": "2024-01-01T00:00:00Z"}]);
    let mut imported = set(
        config_map(json!({"x": "1"})),
        "/metadata/managedFields",
        given.clone(),
    );
    update_managed_fields(Some(&tracked), &mut imported, "editor", None, S, t(2));
    assert_eq!(
        managers(&imported),
        [(
            "importer Update".to_string(),
            json!({"f:data": {"f:x": {}}})
        )]
    );
    // ...but not through a subresource.
    let mut status = set(
        config_map(json!({"x": "1"})),
        "/metadata/managedFields",
        given,
    );
    update_managed_fields(Some(&tracked), &mut status, "ctl", Some("status"), S, t(2));
    assert_eq!(managers(&status), managers(&tracked));
    // Invalid request managedFields fall back to the stored ones.
    let mut bad = set(
        config_map(json!({"x": "1"})),
        "/metadata/managedFields",
        json!([{"operation": "Patch"}]),
    );
    update_managed_fields(Some(&tracked), &mut bad, "editor", None, S, t(2));
    assert_eq!(managers(&bad), managers(&tracked));
}

#[test]
fn update_managers_are_capped() {
    let mut live: Option<Value> = None;
    let mut data = serde_json::Map::new();
    for i in 0..11 {
        data.insert(format!("k{i}"), json!("v"));
        let manager = format!("m{i:02}");
        let mut new = config_map(Value::Object(data.clone()));
        FieldManager::new(S).update(live.as_ref(), &mut new, &manager, t(i + 1));
        new["metadata"]["uid"] = json!("u");
        live = Some(new);
    }
    let live = live.unwrap();
    let got = managers(&live);
    assert_eq!(got.len(), 10);
    assert_eq!(
        got[0],
        (
            "ancient-changes Update".to_string(),
            json!({"f:data": {".": {}, "f:k0": {}, "f:k1": {}}})
        )
    );
    assert_eq!(
        live["metadata"]["managedFields"][0]["time"],
        "2024-05-01T10:00:02Z"
    );
    assert_eq!(got[1].0, "m02 Update");
    assert_eq!(got[9].0, "m10 Update");

    // A smaller cap merges more, oldest first.
    let mut new = config_map(Value::Object(data.clone()));
    new["data"]["k11"] = json!("v");
    FieldManager::new(S)
        .with_max_update_managers(3)
        .update(Some(&live), &mut new, "last", t(20));
    let got = managers(&new);
    assert_eq!(
        got.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(),
        ["ancient-changes Update", "m10 Update", "last Update"]
    );
}

#[test]
fn reset_fields_are_never_owned() {
    let status_reset = FieldSet::from_paths(&[Path::fields(&["status"])]);
    let fm = FieldManager::new(S).with_reset_fields(status_reset);
    let mut new = rolled_out();
    fm.update(None, &mut new, "creator", t(1));
    let fields = &managers(&new)[0].1;
    assert!(fields.get("f:status").is_none(), "{fields}");
    assert!(fields.get("f:spec").is_some());
}

#[test]
fn errors_keep_the_stored_managed_fields() {
    let mut stored = config_map(json!({"x": "1"}));
    update_managed_fields(None, &mut stored, "a", None, S, t(1));
    stored["metadata"]["uid"] = json!("u");
    let mut bad = set(config_map(json!({"x": "1"})), "/nope", json!(1));
    let err = FieldManager::new(S)
        .try_update(Some(&stored), &mut bad.clone(), "b", t(2))
        .unwrap_err();
    assert_eq!(err.code(), 500);
    assert_eq!(
        err.to_string(),
        "failed to convert new object to smd typed: .nope: field not declared in schema"
    );
    FieldManager::new(S).update(Some(&stored), &mut bad, "b", t(2));
    assert_eq!(
        bad["metadata"]["managedFields"],
        stored["metadata"]["managedFields"]
    );
    let mut kindless = json!({"metadata": {"name": "x"}});
    FieldManager::new(S).update(Some(&stored), &mut kindless, "b", t(2));
    assert_eq!(
        kindless["metadata"]["managedFields"],
        stored["metadata"]["managedFields"]
    );
}

#[test]
fn managers_from_requests() {
    assert_eq!(
        manager_or_user_agent("", "kubectl/v1.33.0 (linux/amd64) kubernetes/8adc0f0"),
        "kubectl"
    );
    assert_eq!(manager_or_user_agent("helm", "Go-http-client/1.1"), "helm");
    assert_eq!(
        manager_from_user_agent("kube-controller-manager/v1.33.0 (linux/amd64)"),
        "kube-controller-manager"
    );
    assert_eq!(manager_from_user_agent("bad\u{0}\nname/1"), "badname");
    assert_eq!(manager_from_user_agent(""), "");
    let long = "é".repeat(100);
    assert_eq!(manager_from_user_agent(&long).len(), 128);
    assert!(validate_field_manager("UpdateOptions", "", false).is_ok());
    let err = validate_field_manager("PatchOptions", &"x".repeat(129), true).unwrap_err();
    assert_eq!(
        err.to_string(),
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Too long: may not be more than 128 bytes"
    );
    let err = validate_field_manager("CreateOptions", "a\u{1}b", false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "CreateOptions.meta.k8s.io \"\" is invalid: fieldManager: Invalid value: \"a\\x01b\": invalid character U+0001 (at position 1)"
    );
    let status = serde_json::to_value(err.status()).unwrap();
    assert_eq!(status["code"], 422);
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["details"]["kind"], "CreateOptions");
    assert_eq!(status["details"]["causes"][0]["field"], "fieldManager");
    assert_eq!(
        status["details"]["causes"][0]["reason"],
        "FieldValueInvalid"
    );
}
