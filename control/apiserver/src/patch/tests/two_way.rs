//! Two-way strategic merge patches: the exact patches kubectl computes, and the round
//! trip — applying the patch to the original yields the modified object.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{DEPLOYMENT, POD, deployment, pod, set, unset};
use crate::patch::{create_two_way_merge_patch, strategic_merge};

fn diff(original: &Value, modified: &Value, definition: &str) -> Value {
    let patch = create_two_way_merge_patch(original, modified, definition).unwrap();
    assert_eq!(
        strategic_merge(original, &patch, definition).as_ref(),
        Ok(modified),
        "round trip of {patch}"
    );
    patch
}

#[test]
fn patches_kubectl_computes() {
    let image = set(
        deployment(),
        "/spec/template/spec/containers/0/image",
        json!("nginx:1.27"),
    );
    assert_eq!(
        diff(&deployment(), &image, DEPLOYMENT),
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
            "containers": [{"image": "nginx:1.27", "name": "app"}]
        }}}})
    );

    let one_container = set(
        deployment(),
        "/spec/template/spec/containers",
        json!([deployment()["spec"]["template"]["spec"]["containers"][0]]),
    );
    assert_eq!(
        diff(&deployment(), &one_container, DEPLOYMENT),
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}],
            "containers": [{"$patch": "delete", "name": "sidecar"}]
        }}}})
    );

    let recreate = set(deployment(), "/spec/strategy", json!({"type": "Recreate"}));
    assert_eq!(
        diff(&deployment(), &recreate, DEPLOYMENT),
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": null, "type": "Recreate"}}})
    );

    let secret = set(
        pod(),
        "/spec/volumes/1",
        json!({"name": "conf", "secret": {"secretName": "s1"}}),
    );
    assert_eq!(
        diff(&pod(), &secret, POD),
        json!({"spec": {
            "$setElementOrder/volumes": [{"name": "data"}, {"name": "conf"}],
            "volumes": [{"$retainKeys": ["name", "secret"], "configMap": null, "name": "conf", "secret": {"secretName": "s1"}}]
        }})
    );

    let finalizers = set(
        pod(),
        "/metadata/finalizers",
        json!(["example.com/b", "example.com/c"]),
    );
    assert_eq!(
        diff(&pod(), &finalizers, POD),
        json!({"metadata": {
            "$deleteFromPrimitiveList/finalizers": ["example.com/a"],
            "$setElementOrder/finalizers": ["example.com/b", "example.com/c"],
            "finalizers": ["example.com/c"]
        }})
    );

    let unlabelled = unset(pod(), "/metadata/labels/tier");
    assert_eq!(
        diff(&pod(), &unlabelled, POD),
        json!({"metadata": {"labels": {"tier": null}}})
    );

    let tolerations = set(
        pod(),
        "/spec/tolerations",
        json!([{"key": "k2", "operator": "Exists"}]),
    );
    assert_eq!(
        diff(&pod(), &tolerations, POD),
        json!({"spec": {"tolerations": [{"key": "k2", "operator": "Exists"}]}})
    );

    assert_eq!(diff(&pod(), &pod(), POD), json!({}));
}

#[test]
fn replace_strategy_fields_are_always_sent() {
    // As in apimachinery: a field with strategy replace is sent whole, changed or not.
    let pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}});
    let modified = set(pdb.clone(), "/spec/minAvailable", json!(2));
    assert_eq!(
        diff(&pdb, &modified, "io.k8s.api.policy.v1.PodDisruptionBudget"),
        json!({"spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}})
    );
}

#[test]
fn two_way_errors() {
    let e =
        create_two_way_merge_patch(&json!({}), &json!({}), "io.k8s.example.v1.Widget").unwrap_err();
    assert_eq!(e.code(), 400);
    let nameless = set(pod(), "/spec/containers/1", json!({"image": "x"}));
    let e = create_two_way_merge_patch(&pod(), &nameless, POD).unwrap_err();
    assert_eq!(
        e.detail(),
        "map: map[image:x] does not contain declared merge key: name"
    );
}

/// One edit a user might make to the Pod fixture.
#[derive(Clone, Debug)]
enum Edit {
    /// Removes the container, or adds it first if missing.
    ToggleContainer(&'static str),
    SetImage(&'static str, String),
    ReverseContainers,
    /// Removes the finalizer, or appends it if missing.
    ToggleFinalizer(&'static str),
    ToggleLabel(&'static str),
    SwitchVolumeToSecret,
    DropNodeSelector,
    ReplaceEnv,
    ClearFinalizers,
}

impl Edit {
    fn apply(&self, mut p: Value) -> Value {
        match self {
            Edit::ToggleContainer(n) => {
                let list = p["spec"]["containers"].as_array_mut().unwrap();
                match list.iter().position(|c| c["name"] == *n) {
                    Some(i) => {
                        list.remove(i);
                    }
                    None => list.insert(0, json!({"name": n, "image": format!("{n}:1")})),
                }
            }
            Edit::SetImage(n, tag) => {
                let list = p["spec"]["containers"].as_array_mut().unwrap();
                if let Some(c) = list.iter_mut().find(|c| c["name"] == *n) {
                    c["image"] = json!(format!("{n}:{tag}"));
                }
            }
            Edit::ReverseContainers => p["spec"]["containers"].as_array_mut().unwrap().reverse(),
            Edit::ToggleFinalizer(f) => {
                let list = p["metadata"]["finalizers"].as_array_mut().unwrap();
                match list.iter().position(|x| x == *f) {
                    Some(i) => {
                        list.remove(i);
                    }
                    None => list.push(json!(f)),
                }
            }
            Edit::ToggleLabel(l) => {
                let labels = p["metadata"]["labels"].as_object_mut().unwrap();
                if labels.remove(*l).is_none() {
                    labels.insert(l.to_string(), json!("x"));
                }
            }
            Edit::SwitchVolumeToSecret => {
                p = set(
                    p,
                    "/spec/volumes/1",
                    json!({"name": "conf", "secret": {"secretName": "s"}}),
                )
            }
            Edit::DropNodeSelector => {
                if p["spec"].get("nodeSelector").is_some() {
                    p = unset(p, "/spec/nodeSelector");
                }
            }
            Edit::ReplaceEnv => {
                if let Some(c) = p["spec"]["containers"]
                    .as_array_mut()
                    .unwrap()
                    .iter_mut()
                    .find(|c| c["name"] == "app")
                {
                    c["env"] = json!([{"name": "B", "value": "2"}, {"name": "Z"}]);
                }
            }
            Edit::ClearFinalizers => p["metadata"]["finalizers"] = json!([]),
        }
        p
    }
}

fn edit() -> impl Strategy<Value = Edit> {
    let names = prop::sample::select(&["app", "sidecar", "new", "log"][..]);
    prop_oneof![
        names.clone().prop_map(Edit::ToggleContainer),
        (names, "[a-z]{1,3}").prop_map(|(n, tag)| Edit::SetImage(n, tag)),
        Just(Edit::ReverseContainers),
        prop::sample::select(&["example.com/a", "example.com/b", "example.com/c"][..])
            .prop_map(Edit::ToggleFinalizer),
        prop::sample::select(&["app", "tier", "env"][..]).prop_map(Edit::ToggleLabel),
        Just(Edit::SwitchVolumeToSecret),
        Just(Edit::DropNodeSelector),
        Just(Edit::ReplaceEnv),
        Just(Edit::ClearFinalizers),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn two_way_patches_round_trip(edits in prop::collection::vec(edit(), 1..5)) {
        let mut modified = pod();
        for e in &edits {
            modified = e.apply(modified);
        }
        let patch = create_two_way_merge_patch(&pod(), &modified, POD).unwrap();
        prop_assert_eq!(strategic_merge(&pod(), &patch, POD), Ok(modified), "patch {}", patch);
    }
}
