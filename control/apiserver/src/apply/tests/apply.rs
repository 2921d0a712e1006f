//! Server-side apply on built-in kinds: creating, re-applying, shared ownership,
//! conflicts with and without force, map-lists, sets and atomic lists, the errors with
//! kube-apiserver's codes and texts, and kubectl's client-side-apply upgrade path.

use serde_json::{Value, json};

use super::{
    Want, apply, bare_config_map, case, check, config_map, containers, deployment, force, run_step,
    set, t, unset, write,
};
use crate::apply::{ApplyError, BuiltinSchema, FieldManager, LAST_APPLIED_ANNOTATION};

const S: &BuiltinSchema = &BuiltinSchema;

/// The Deployment an apply of `deployment(..)` creates: the configuration over a new
/// Go-typed Deployment, whose `strategy` and `status` are empty objects.
fn created(replicas: i64, image: &str) -> Value {
    let d = set(deployment(replicas, image), "/spec/strategy", json!({}));
    set(d, "/status", json!({}))
}

/// The fields of `deployment(..)`.
fn deployment_fields(replicas: bool) -> Value {
    let mut spec = json!({
        "f:selector": {},
        "f:template": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}}}
        }
    });
    if replicas {
        spec = set(spec, "/f:replicas", json!({}));
    }
    json!({"f:spec": spec})
}

/// The fields an Update creating `deployment(..)` records: maps and items it added
/// carry `.`.
fn created_by_update_fields(replicas: bool) -> Value {
    let mut spec = json!({
        "f:selector": {},
        "f:template": {
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}}}
        }
    });
    if replicas {
        spec = set(spec, "/f:replicas", json!({}));
    }
    json!({"f:spec": spec})
}

fn container_fields(name: &str, fields: &[&str]) -> Value {
    let mut item = serde_json::Map::new();
    item.insert(".".into(), json!({}));
    for f in fields {
        item.insert(format!("f:{f}"), json!({}));
    }
    json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {format!("k:{{\"name\":\"{name}\"}}"): item}}}}})
}

fn data_fields(keys: &[&str]) -> Value {
    let m: serde_json::Map<String, Value> =
        keys.iter().map(|k| (format!("f:{k}"), json!({}))).collect();
    json!({"f:data": m})
}

#[test]
fn apply_create_reapply_and_shared_ownership() {
    check(vec![
        case(
            "apply creates the object, owning what the configuration sets",
            S,
            vec![apply("kubectl", deployment(3, "nginx:1.27"))],
            Want::Ok(
                Some(created(3, "nginx:1.27")),
                vec![("kubectl Apply", deployment_fields(true))],
            ),
        ),
        case(
            "re-applying without a field removes it",
            S,
            vec![
                apply("kubectl", deployment(3, "nginx:1.27")),
                apply(
                    "kubectl",
                    unset(deployment(3, "nginx:1.27"), "/spec/replicas"),
                ),
            ],
            Want::Ok(
                Some(unset(created(3, "nginx:1.27"), "/spec/replicas")),
                vec![("kubectl Apply", deployment_fields(false))],
            ),
        ),
        case(
            "re-applying a changed value changes it",
            S,
            vec![
                apply("kubectl", deployment(3, "nginx:1.27")),
                apply("kubectl", deployment(3, "nginx:1.28")),
            ],
            Want::Ok(
                Some(created(3, "nginx:1.28")),
                vec![("kubectl Apply", deployment_fields(true))],
            ),
        ),
        case(
            "two managers applying the same value share it",
            S,
            vec![
                apply("a", config_map(json!({"x": "1", "y": "2"}))),
                apply("b", config_map(json!({"y": "2"}))),
            ],
            // b changed nothing, so its entry has no time and sorts first.
            Want::Ok(
                Some(config_map(json!({"x": "1", "y": "2"}))),
                vec![
                    ("b Apply", data_fields(&["y"])),
                    ("a Apply", data_fields(&["x", "y"])),
                ],
            ),
        ),
        case(
            "a shared field stays when one manager stops applying it",
            S,
            vec![
                apply("a", config_map(json!({"x": "1", "y": "2"}))),
                apply("b", config_map(json!({"y": "2"}))),
                apply("a", config_map(json!({"x": "1"}))),
            ],
            Want::Ok(
                Some(config_map(json!({"x": "1", "y": "2"}))),
                vec![
                    ("b Apply", data_fields(&["y"])),
                    ("a Apply", data_fields(&["x"])),
                ],
            ),
        ),
        case(
            "and goes when the last owner stops; a manager left with nothing is dropped",
            S,
            vec![
                apply("a", config_map(json!({"x": "1", "y": "2"}))),
                apply("b", config_map(json!({"y": "2"}))),
                apply("a", config_map(json!({"x": "1"}))),
                apply("b", bare_config_map()),
            ],
            Want::Ok(
                Some(config_map(json!({"x": "1"}))),
                vec![("a Apply", data_fields(&["x"]))],
            ),
        ),
        case(
            "a field an Update manager also owns is not removed by the applier",
            S,
            vec![
                apply("a", config_map(json!({"x": "1"}))),
                write("editor", config_map(json!({"x": "1", "z": "3"}))),
                apply("a", config_map(json!({"x": "1", "z": "3"}))),
                apply("a", config_map(json!({"x": "1"}))),
            ],
            Want::Ok(
                Some(config_map(json!({"x": "1", "z": "3"}))),
                vec![
                    ("a Apply", data_fields(&["x"])),
                    ("editor Update", data_fields(&["z"])),
                ],
            ),
        ),
        case(
            "applying a value an Update manager set identically shares it",
            S,
            vec![
                write("kubectl-client-side-apply", deployment(3, "nginx:1.27")),
                apply("kubectl", deployment(3, "nginx:1.27")),
            ],
            Want::Ok(
                Some(deployment(3, "nginx:1.27")),
                vec![
                    ("kubectl Apply", deployment_fields(true)),
                    (
                        "kubectl-client-side-apply Update",
                        created_by_update_fields(true),
                    ),
                ],
            ),
        ),
        case(
            "an empty configuration removes everything the manager owned",
            S,
            vec![
                apply("a", config_map(json!({"x": "1"}))),
                apply("a", bare_config_map()),
            ],
            Want::Ok(Some(bare_config_map()), vec![]),
        ),
    ]);
}

#[test]
fn conflicts() {
    let one = "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas";
    let two = "Apply failed with 2 conflicts: conflicts with \"hpa\" using apps/v1:\n- .spec.replicas\nconflicts with \"kubectl-set\" using apps/v1:\n- .spec.template.spec.containers[name=\"nginx\"].image";
    check(vec![
        case(
            "another value for a field an Update manager owns conflicts",
            S,
            vec![write("kubectl-client-side-apply", deployment(3, "nginx:1.27")), apply("kubectl", deployment(5, "nginx:1.27"))],
            Want::Err(409, one.into()),
        ),
        case(
            "force moves the field to the applier",
            S,
            vec![write("kubectl-client-side-apply", deployment(3, "nginx:1.27")), force("kubectl", deployment(5, "nginx:1.27"))],
            Want::Ok(
                Some(created(5, "nginx:1.27")),
                vec![
                    ("kubectl Apply", deployment_fields(true)),
                    ("kubectl-client-side-apply Update", created_by_update_fields(false)),
                ],
            ),
        ),
        case(
            "conflicts with several managers are grouped by manager",
            S,
            vec![
                write("kubectl-client-side-apply", deployment(3, "nginx:1.27")),
                write("hpa", deployment(4, "nginx:1.27")),
                write("kubectl-set", deployment(4, "nginx:1.28")),
                apply("deployer", deployment(5, "nginx:1.29")),
            ],
            Want::Err(409, two.into()),
        ),
        case(
            "another applier's field conflicts too, named without a version",
            S,
            vec![apply("a", config_map(json!({"x": "1"}))), apply("b", config_map(json!({"x": "2"})))],
            Want::Err(409, "Apply failed with 1 conflict: conflict with \"a\": .data.x".into()),
        ),
        case(
            "a status writer is named with its subresource",
            S,
            vec![
                apply("a", config_map(json!({"x": "1"}))),
                super::write_status("ctl", config_map(json!({"x": "9"}))),
                apply("a", config_map(json!({"x": "1"}))),
            ],
            Want::Err(409, "Apply failed with 1 conflict: conflict with \"ctl\" with subresource \"status\" using v1: .data.x".into()),
        ),
    ]);
}

#[test]
fn conflict_status_is_kube_apiservers() {
    let s = S;
    let live = run_step(
        s,
        None,
        &write("kubectl-client-side-apply", deployment(3, "nginx:1.27")),
        t(1),
    )
    .unwrap();
    let err = FieldManager::new(s)
        .apply(
            Some(&live),
            &deployment(5, "nginx:1.28"),
            "kubectl",
            false,
            t(2),
        )
        .unwrap_err();
    let status = serde_json::to_value(err.status()).unwrap();
    assert_eq!(
        status,
        json!({
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "code": 409,
            "reason": "Conflict",
            "message": "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name=\"nginx\"].image",
            "details": {"causes": [
                {"reason": "FieldManagerConflict", "message": "conflict with \"kubectl-client-side-apply\" using apps/v1", "field": ".spec.replicas"},
                {"reason": "FieldManagerConflict", "message": "conflict with \"kubectl-client-side-apply\" using apps/v1", "field": ".spec.template.spec.containers[name=\"nginx\"].image"}
            ]}
        })
    );
}

#[test]
fn lists() {
    let sidecar = json!([{"name": "sidecar", "image": "busybox"}]);
    let both = created(3, "nginx:1.27");
    let with_c = |args: Value| containers(json!([{"name": "c", "image": "app:1", "args": args}]));
    let dns_ports = json!([{"containerPort": 53, "protocol": "UDP", "name": "dns"}, {"containerPort": 53, "name": "dns-tcp"}]);
    check(vec![
        case(
            "containers of two managers merge by name",
            S,
            vec![apply("a", deployment(3, "nginx:1.27")), apply("b", containers(sidecar.clone()))],
            Want::Ok(
                Some(set(both.clone(), "/spec/template/spec/containers", json!([{"name": "nginx", "image": "nginx:1.27"}, {"name": "sidecar", "image": "busybox"}]))),
                vec![("a Apply", deployment_fields(true)), ("b Apply", container_fields("sidecar", &["image", "name"]))],
            ),
        ),
        case(
            "a container its applier drops goes; the other manager's stays",
            S,
            vec![
                apply("a", deployment(3, "nginx:1.27")),
                apply("b", containers(sidecar.clone())),
                apply("a", set(deployment(3, "nginx:1.27"), "/spec/template/spec/containers", json!([{"name": "web", "image": "web:1"}]))),
            ],
            Want::Ok(
                Some(set(both.clone(), "/spec/template/spec/containers", json!([{"name": "sidecar", "image": "busybox"}, {"name": "web", "image": "web:1"}]))),
                vec![
                    ("b Apply", container_fields("sidecar", &["image", "name"])),
                    (
                        "a Apply",
                        set(
                            deployment_fields(true),
                            "/f:spec/f:template/f:spec/f:containers",
                            json!({"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}),
                        ),
                    ),
                ],
            ),
        ),
        case(
            "ports are keyed by containerPort and protocol, TCP by default",
            S,
            vec![apply("a", containers(json!([{"name": "dns", "image": "coredns", "ports": dns_ports}])))],
            Want::Ok(
                None,
                vec![(
                    "a Apply",
                    json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"dns\"}": {
                        ".": {}, "f:image": {}, "f:name": {},
                        "f:ports": {
                            "k:{\"containerPort\":53,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:name": {}},
                            "k:{\"containerPort\":53,\"protocol\":\"UDP\"}": {".": {}, "f:containerPort": {}, "f:name": {}, "f:protocol": {}}
                        }
                    }}}}}}),
                )],
            ),
        ),
        case(
            "finalizers are a set: each manager owns its values",
            S,
            vec![
                apply("a", set(bare_config_map(), "/metadata/finalizers", json!(["x.io/a"]))),
                apply("b", set(bare_config_map(), "/metadata/finalizers", json!(["x.io/b"]))),
            ],
            Want::Ok(
                Some(set(bare_config_map(), "/metadata/finalizers", json!(["x.io/a", "x.io/b"]))),
                vec![
                    ("a Apply", json!({"f:metadata": {"f:finalizers": {"v:\"x.io/a\"": {}}}})),
                    ("b Apply", json!({"f:metadata": {"f:finalizers": {"v:\"x.io/b\"": {}}}})),
                ],
            ),
        ),
        case(
            "a finalizer its applier drops goes",
            S,
            vec![
                apply("a", set(bare_config_map(), "/metadata/finalizers", json!(["x.io/a"]))),
                apply("b", set(bare_config_map(), "/metadata/finalizers", json!(["x.io/b"]))),
                apply("a", bare_config_map()),
            ],
            Want::Ok(
                Some(set(bare_config_map(), "/metadata/finalizers", json!(["x.io/b"]))),
                vec![("b Apply", json!({"f:metadata": {"f:finalizers": {"v:\"x.io/b\"": {}}}}))],
            ),
        ),
        case(
            "args are atomic: another list conflicts",
            S,
            vec![apply("a", with_c(json!(["--a"]))), apply("b", containers(json!([{"name": "c", "args": ["--b"]}])))],
            Want::Err(409, "Apply failed with 1 conflict: conflict with \"a\": .spec.template.spec.containers[name=\"c\"].args".into()),
        ),
        case(
            "args are atomic: forced, the list is replaced and owned whole",
            S,
            vec![apply("a", with_c(json!(["--a", "-v"]))), force("b", containers(json!([{"name": "c", "args": ["--b"]}])))],
            Want::Ok(
                None,
                vec![
                    ("a Apply", container_fields("c", &["image", "name"])),
                    ("b Apply", container_fields("c", &["args", "name"])),
                ],
            ),
        ),
    ]);
    // The forced list is the new one, not a merge of both.
    let live = run_step(S, None, &apply("a", with_c(json!(["--a", "-v"]))), t(1)).unwrap();
    let cfg = containers(json!([{"name": "c", "args": ["--b"]}]));
    let out = FieldManager::new(S)
        .apply(Some(&live), &cfg, "b", true, t(2))
        .unwrap();
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name": "c", "image": "app:1", "args": ["--b"]}])
    );
}

#[test]
fn errors() {
    let typed = |detail: &str| {
        format!(
            "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): {detail}"
        )
    };
    check(vec![
        case(
            "a configuration without apiVersion",
            S,
            vec![apply("a", unset(deployment(3, "x"), "/apiVersion"))],
            Want::Err(400, "invalid object type: /, Kind=Deployment".into()),
        ),
        case(
            "a configuration of another kind than the object",
            S,
            vec![apply("a", deployment(3, "x")), apply("a", set(deployment(3, "x"), "/kind", json!("StatefulSet")))],
            Want::Err(400, "invalid object type: apps/v1, Kind=StatefulSet".into()),
        ),
        case(
            "a configuration with managedFields",
            S,
            vec![apply("a", set(deployment(3, "x"), "/metadata/managedFields", json!([])))],
            Want::Err(400, "metadata.managedFields must be nil".into()),
        ),
        case(
            "a configuration that is not an object",
            S,
            vec![apply("a", json!([1]))],
            Want::Err(400, "error decoding YAML: json: cannot unmarshal array into Go value of type map[string]interface {}".into()),
        ),
        case(
            "no field manager",
            S,
            vec![apply("", deployment(3, "x"))],
            Want::Err(422, "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into()),
        ),
        case(
            "an undeclared field",
            S,
            vec![apply("a", set(deployment(3, "x"), "/spec/replicaz", json!(1)))],
            Want::Err(500, typed(".spec.replicaz: field not declared in schema")),
        ),
        case(
            "a value of the wrong type",
            S,
            vec![apply("a", set(deployment(3, "x"), "/spec/replicas", json!("3")))],
            Want::Err(500, typed(".spec.replicas: expected numeric (int or float), got string")),
        ),
        case(
            "duplicate keys in a map-list",
            S,
            vec![apply("a", set(deployment(3, "x"), "/spec/template/spec/containers/0/ports", json!([{"containerPort": 53}, {"containerPort": 53, "protocol": "TCP"}])))],
            Want::Err(500, typed(".spec.template.spec.containers[name=\"nginx\"].ports: duplicate entries for key [containerPort=53,protocol=\"TCP\"]")),
        ),
        case(
            "a map-list item without its key",
            S,
            vec![apply("a", set(deployment(3, "x"), "/spec/template/spec/containers", json!([{"image": "x"}])))],
            Want::Err(500, typed(".spec.template.spec.containers: element 0: associative list with keys has an element that omits all key fields [\"name\"] (and doesn't have default values for any key fields)")),
        ),
        case(
            "several errors are listed",
            S,
            vec![apply("a", set(set(deployment(3, "x"), "/spec/replicas", json!(true)), "/spec/paused", json!("no")))],
            Want::Err(500, typed("errors:\n  .spec.paused: expected boolean, got &{no}\n  .spec.replicas: expected numeric (int or float), got bool")),
        ),
        case(
            "a uid in a configuration that creates",
            S,
            vec![apply("a", set(deployment(3, "x"), "/metadata/uid", json!("123")))],
            Want::Err(409, "uid mismatch: the provided object specified uid 123, and no existing object was found".into()),
        ),
        case(
            "a resourceVersion that is not the object's",
            S,
            vec![apply("a", deployment(3, "x")), apply("a", set(deployment(4, "x"), "/metadata/resourceVersion", json!("7")))],
            Want::Err(409, "the object has been modified; please apply your changes to the latest version and try again".into()),
        ),
    ]);
    let err = ApplyError::UidMismatch {
        name: "web".into(),
        uid: "123".into(),
    };
    let status = err.status_for("apps", "deployments");
    assert_eq!(
        status.message.as_deref(),
        Some(
            "Operation cannot be fulfilled on deployments.apps \"web\": uid mismatch: the provided object specified uid 123, and no existing object was found"
        )
    );
    assert_eq!(
        (status.code, status.reason.as_deref()),
        (Some(409), Some("Conflict"))
    );
    let internal = ApplyError::Internal("x".into()).status();
    assert_eq!((internal.code, internal.reason), (Some(500), None));
}

#[test]
fn times() {
    let first = run_step(S, None, &apply("a", config_map(json!({"x": "1"}))), t(1)).unwrap();
    assert_eq!(
        first["metadata"]["managedFields"][0]["time"],
        "2024-05-01T10:00:01Z"
    );
    // Nothing changes: the object and the time stay.
    let same = FieldManager::new(S)
        .apply(
            Some(&first),
            &config_map(json!({"x": "1"})),
            "a",
            false,
            t(2),
        )
        .unwrap();
    assert_eq!(same, first);
    let changed = FieldManager::new(S)
        .apply(
            Some(&first),
            &config_map(json!({"x": "2"})),
            "a",
            false,
            t(3),
        )
        .unwrap();
    assert_eq!(
        changed["metadata"]["managedFields"][0]["time"],
        "2024-05-01T10:00:03Z"
    );
    assert_eq!(changed["metadata"]["managedFields"][0]["apiVersion"], "v1");
    assert_eq!(
        changed["metadata"]["managedFields"][0]["fieldsType"],
        "FieldsV1"
    );
}

#[test]
fn untracked_objects_get_before_first_apply() {
    // An object stored without managedFields (created before tracking, or reset).
    let stored = set(deployment(3, "nginx:1.27"), "/metadata/uid", json!("u"));
    let out = FieldManager::new(S).apply(
        Some(&stored),
        &deployment(5, "nginx:1.27"),
        "a",
        false,
        t(1),
    );
    assert_eq!(
        out.unwrap_err().to_string(),
        "Apply failed with 1 conflict: conflict with \"before-first-apply\" using apps/v1: .spec.replicas"
    );
    let out = FieldManager::new(S)
        .apply(
            Some(&stored),
            &deployment(3, "nginx:1.27"),
            "a",
            false,
            t(1),
        )
        .unwrap();
    let labels: Vec<String> = super::managers(&out).into_iter().map(|(l, _)| l).collect();
    assert_eq!(labels, ["a Apply", "before-first-apply Update"]);
}

/// kubectl's own client-side apply writes the annotation and owns every field through an
/// Update entry; `kubectl apply --server-side` takes those fields over without `--force`
/// as long as nobody changed them since.
#[test]
fn client_side_apply_upgrade() {
    let annotated = |d: Value| {
        let text = format!("{}\n", serde_json::to_string(&d).unwrap());
        let mut annotations = serde_json::Map::new();
        annotations.insert(LAST_APPLIED_ANNOTATION.to_string(), json!(text));
        set(d, "/metadata/annotations", Value::Object(annotations))
    };
    let csa = write(
        "kubectl-client-side-apply",
        annotated(deployment(3, "nginx:1.27")),
    );
    let live = run_step(S, None, &csa, t(1)).unwrap();
    let out = FieldManager::new(S)
        .apply(
            Some(&live),
            &deployment(5, "nginx:1.28"),
            "kubectl",
            false,
            t(2),
        )
        .unwrap();
    assert_eq!(out["spec"]["replicas"], 5);
    assert_eq!(
        out["metadata"]["annotations"][LAST_APPLIED_ANNOTATION],
        json!(format!(
            "{}\n",
            serde_json::to_string(&deployment(5, "nginx:1.28")).unwrap()
        ))
    );
    let m = super::managers(&out);
    assert_eq!(m[0], ("kubectl Apply".to_string(), deployment_fields(true)));
    assert_eq!(m[1].0, "kubectl-client-side-apply Update");
    assert_eq!(
        m[1].1,
        json!({
            "f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}},
            "f:spec": {
                "f:selector": {},
                "f:template": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:name": {}}}}}
            }
        })
    );

    // Another manager changed replicas since: that conflict stays.
    let scaled = run_step(
        S,
        Some(&live),
        &write(
            "hpa",
            set(
                annotated(deployment(3, "nginx:1.27")),
                "/spec/replicas",
                json!(4),
            ),
        ),
        t(2),
    )
    .unwrap();
    let err = FieldManager::new(S)
        .apply(
            Some(&scaled),
            &deployment(5, "nginx:1.28"),
            "kubectl",
            false,
            t(3),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"hpa\" using apps/v1: .spec.replicas"
    );

    // Another manager name gets no such leniency.
    let err = FieldManager::new(S)
        .apply(
            Some(&live),
            &deployment(5, "nginx:1.27"),
            "other",
            false,
            t(3),
        )
        .unwrap_err();
    assert_eq!(err.code(), 409);
}
