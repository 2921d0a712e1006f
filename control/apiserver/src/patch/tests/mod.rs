//! Tests of the patch module: table-driven cases per patch type on real kinds, the patches
//! kubectl sends, and property tests that no patch document panics.

mod json_patch;
mod kubectl;
mod merge_patch;
mod props;
mod strategic;
mod two_way;

use serde_json::{Value, json};

use super::PatchError;

pub const POD: &str = "io.k8s.api.core.v1.Pod";
pub const DEPLOYMENT: &str = "io.k8s.api.apps.v1.Deployment";

/// What a case expects: the patched object, or an error with kube-apiserver's status
/// code and the error's full text.
pub enum Want {
    Ok(Value),
    Err(u16, &'static str),
}

pub struct Case {
    pub name: &'static str,
    pub original: Value,
    pub patch: Value,
    pub want: Want,
}

pub fn ok(name: &'static str, original: Value, patch: Value, result: Value) -> Case {
    Case {
        name,
        original,
        patch,
        want: Want::Ok(result),
    }
}

pub fn err(
    name: &'static str,
    original: Value,
    patch: Value,
    code: u16,
    detail: &'static str,
) -> Case {
    Case {
        name,
        original,
        patch,
        want: Want::Err(code, detail),
    }
}

/// Runs every case and reports all failures at once.
pub fn run(cases: Vec<Case>, apply: impl Fn(&Value, &Value) -> Result<Value, PatchError>) {
    let mut failures = Vec::new();
    let total = cases.len();
    for c in cases {
        let got = apply(&c.original, &c.patch);
        match (&c.want, &got) {
            (Want::Ok(want), Ok(got)) if want == got => {}
            (Want::Err(code, detail), Err(e)) if e.code() == *code && e.detail() == *detail => {}
            (Want::Ok(want), _) => failures.push(format!(
                "{}:\n  want {}\n  got  {:?}",
                c.name,
                want,
                got.map(|v| v.to_string())
            )),
            (Want::Err(code, detail), _) => failures.push(format!(
                "{}:\n  want error {code} {detail:?}\n  got  {:?}",
                c.name,
                got.map(|v| v.to_string())
                    .map_err(|e| (e.code(), e.detail()))
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn split(ptr: &str) -> (&str, String) {
    let (parent, key) = ptr.rsplit_once('/').expect("pointer has a parent");
    (parent, key.replace("~1", "/").replace("~0", "~"))
}

/// `base` with the value at JSON pointer `ptr` set to `value` (the parent must exist).
pub fn set(mut base: Value, ptr: &str, value: Value) -> Value {
    let (parent, key) = split(ptr);
    match base.pointer_mut(parent).expect("parent exists") {
        Value::Object(m) => {
            m.insert(key, value);
        }
        Value::Array(a) => a[key.parse::<usize>().expect("index")] = value,
        other => panic!("cannot set {ptr} in {other}"),
    }
    base
}

/// `base` without the member at `ptr`.
pub fn unset(mut base: Value, ptr: &str) -> Value {
    let (parent, key) = split(ptr);
    base.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .expect("parent object")
        .remove(&key);
    base
}

pub fn pod() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"app": "web", "tier": "front"},
            "annotations": {"note": "1"},
            "finalizers": ["example.com/a", "example.com/b"],
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "u1", "controller": true}
            ]
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "nginx:1.25",
                    "args": ["--x", "--y"],
                    "ports": [
                        {"containerPort": 80, "protocol": "TCP"},
                        {"containerPort": 443, "protocol": "TCP"}
                    ],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
                },
                {"name": "sidecar", "image": "envoy:1.30"}
            ],
            "volumes": [
                {"name": "data", "emptyDir": {}},
                {"name": "conf", "configMap": {"name": "c1"}}
            ],
            "tolerations": [{"key": "k1", "operator": "Exists"}],
            "nodeSelector": {"disk": "ssd"}
        }
    })
}

pub fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"app": "web"},
            "annotations": {"deployment.kubernetes.io/revision": "2"}
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "app", "image": "nginx:1.25", "env": [{"name": "MODE", "value": "prod"}]},
                        {"name": "sidecar", "image": "envoy:1.30"}
                    ]
                }
            }
        }
    })
}

#[test]
fn patch_types_by_content_type() {
    use super::PatchType;
    assert_eq!(
        PatchType::from_content_type("application/json-patch+json"),
        Some(PatchType::Json)
    );
    assert_eq!(
        PatchType::from_content_type("application/merge-patch+json; charset=utf-8"),
        Some(PatchType::Merge)
    );
    assert_eq!(
        PatchType::from_content_type("application/strategic-merge-patch+json"),
        Some(PatchType::StrategicMerge)
    );
    assert_eq!(
        PatchType::from_content_type("application/apply-patch+yaml"),
        None
    );
    assert_eq!(PatchType::from_content_type("application/json"), None);
    for t in [PatchType::Json, PatchType::Merge, PatchType::StrategicMerge] {
        assert_eq!(PatchType::from_content_type(t.content_type()), Some(t));
    }
}

#[test]
fn decoding_bodies() {
    use super::PatchType;
    assert_eq!(PatchType::Merge.decode(b"{\"a\":1}"), Ok(json!({"a": 1})));
    let e = PatchType::Merge.decode(b"{not json").unwrap_err();
    assert_eq!(
        (e.code(), e.detail()),
        (400, "Invalid JSON Patch".to_string())
    );
    let e = PatchType::Json.decode(b"").unwrap_err();
    assert_eq!(e.code(), 400);
    assert!(e.detail().contains("EOF"), "{e}");
    let e = PatchType::StrategicMerge.decode(b"[1,").unwrap_err();
    assert_eq!(e.code(), 400);
}

#[test]
fn dispatch_applies_each_type() {
    use super::PatchType;
    let original = pod();
    let by_json = PatchType::Json
        .apply(
            &original,
            &json!([{"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:2"}]),
            POD,
        )
        .unwrap();
    let by_merge = PatchType::Merge
        .apply(
            &original,
            &json!({"metadata": {"labels": {"tier": null}}}),
            POD,
        )
        .unwrap();
    let by_smp = PatchType::StrategicMerge
        .apply(
            &original,
            &json!({"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}),
            POD,
        )
        .unwrap();
    assert_eq!(by_json, by_smp);
    assert_eq!(by_merge, unset(pod(), "/metadata/labels/tier"));
}

#[test]
fn kube_status_for_each_error_class() {
    use super::{KubeStatus, UNPROCESSABLE_MESSAGE};
    assert_eq!(
        PatchError::BadRequest("Invalid JSON Patch".into()).status(),
        KubeStatus {
            code: 400,
            reason: "BadRequest",
            message: "Invalid JSON Patch".into()
        }
    );
    assert_eq!(
        PatchError::TooManyOperations { count: 10_001 }.status(),
        KubeStatus {
            code: 413,
            reason: "RequestEntityTooLarge",
            message: "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"
                .into()
        }
    );
    let e = PatchError::Unprocessable("testing value /a failed: test failed".into());
    assert_eq!(
        e.status(),
        KubeStatus {
            code: 422,
            reason: "Invalid",
            message: UNPROCESSABLE_MESSAGE.into()
        }
    );
    assert_eq!(e.detail(), "testing value /a failed: test failed");
    assert_eq!(
        PatchError::Unclassified("merging lists cannot yet be specified in the patch".into())
            .status(),
        KubeStatus {
            code: 500,
            reason: "",
            message: "merging lists cannot yet be specified in the patch".into()
        }
    );
}
