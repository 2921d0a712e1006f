//! The manifest corpus (tests/corpus/*.yaml) round-trips YAML → type → rkyv envelope →
//! type → JSON with nothing lost, and the JSON equals what the k8s-openapi crate (the
//! oracle, Kubernetes 1.33) makes of the same document.
//!
//! "Equal" is JSON equality after the canonicalisations Kubernetes itself applies, done
//! on both sides: quantities in canonical form (`1000m` → `1`, which k8s-openapi keeps as
//! typed), times in UTC RFC 3339, and numbers compared by value (Go writes `5` for a float
//! of five, k8s-openapi writes `5.0`), explicit nulls in typed fields dropped, and the
//! apiVersion/kind of embedded resources filled in (both typed decoders write them).

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use clipper_proto::envelope::{self, Envelope};
use clipper_proto::{DynamicObject, codec};
use common::{diff, normalized};
use serde_json::Value;

/// Round trip of one typed document through our types, with the oracle's JSON beside.
fn check_typed<T, K>(doc: &Value) -> Result<(), String>
where
    T: serde::Serialize
        + serde::de::DeserializeOwned
        + clipper_proto::Resource
        + envelope::Archivable
        + PartialEq
        + std::fmt::Debug,
    T::Archived: for<'a> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'a, rkyv::rancor::Error>>
        + rkyv::Deserialize<T, rkyv::api::high::HighDeserializer<rkyv::rancor::Error>>,
    K: serde::Serialize + serde::de::DeserializeOwned,
{
    let decoded =
        codec::from_value_resource::<T>(doc.clone()).map_err(|e| format!("decode: {e}"))?;
    if !decoded.unknown_fields.is_empty() {
        return Err(format!("unknown fields: {:?}", decoded.unknown_fields));
    }
    let bytes = envelope::encode(&decoded.value).map_err(|e| format!("encode: {e}"))?;
    let env = Envelope::parse(&bytes).map_err(|e| format!("parse: {e}"))?;
    let archived = env.access::<T>().map_err(|e| format!("access: {e}"))?;
    let back: T =
        rkyv::deserialize::<T, rkyv::rancor::Error>(archived).map_err(|e| e.to_string())?;
    if back != decoded.value {
        return Err("rkyv round trip changed the value".into());
    }
    let ours = normalized(&serde_json::to_value(&back).map_err(|e| e.to_string())?);
    let input = normalized(doc);
    if let Some(d) = diff(&ours, &input, "") {
        return Err(format!(
            "lost or changed in the round trip (ours vs input): {d}"
        ));
    }
    let oracle: K =
        serde_json::from_value(doc.clone()).map_err(|e| format!("k8s-openapi decode: {e}"))?;
    let theirs = normalized(&serde_json::to_value(&oracle).map_err(|e| e.to_string())?);
    if let Some(d) = diff(&ours, &theirs, "") {
        return Err(format!("differs from k8s-openapi (ours vs oracle): {d}"));
    }
    Ok(())
}

/// Custom resources: no oracle type exists; the input itself is the reference.
fn check_dynamic(doc: &Value) -> Result<(), String> {
    let decoded =
        codec::from_value::<DynamicObject>(doc.clone()).map_err(|e| format!("decode: {e}"))?;
    if !decoded.unknown_fields.is_empty() {
        return Err(format!("unknown fields: {:?}", decoded.unknown_fields));
    }
    let bytes = decoded.value.to_envelope().map_err(|e| e.to_string())?;
    let env = Envelope::parse(&bytes).map_err(|e| e.to_string())?;
    let archived = env
        .access_as::<DynamicObject>()
        .map_err(|e| e.to_string())?;
    let back: DynamicObject =
        rkyv::deserialize::<_, rkyv::rancor::Error>(archived).map_err(|e| e.to_string())?;
    let ours = normalized(&serde_json::to_value(&back).map_err(|e| e.to_string())?);
    match diff(&ours, &normalized(doc), "") {
        Some(d) => Err(format!("lost or changed (ours vs input): {d}")),
        None => Ok(()),
    }
}

/// k8s-openapi's type for one of our kinds.
macro_rules! oracle_type {
    (meta, $v:ident, $k:ident) => {
        k8s_openapi::apimachinery::pkg::apis::meta::$v::$k
    };
    (apiextensions, $v:ident, $k:ident) => {
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::$v::$k
    };
    ($m:ident, $v:ident, $k:ident) => {
        k8s_openapi::api::$m::$v::$k
    };
}

/// Checks a document of a built-in kind; None if the kind is not built in.
fn check_builtin(doc: &Value) -> Option<Result<(), String>> {
    let (Some(av), Some(kind)) = codec::type_meta(doc) else {
        return Some(Err("document has no apiVersion/kind".into()));
    };
    macro_rules! arm {
        ($m:ident, $v:ident, $k:ident, $g:literal, object) => {
            let expected_av = if $g.is_empty() {
                stringify!($v).to_string()
            } else {
                format!("{}/{}", $g, stringify!($v))
            };
            if kind == stringify!($k) && av == expected_av {
                return Some(check_typed::<
                    clipper_proto::api::$m::$v::$k,
                    oracle_type!($m, $v, $k),
                >(doc));
            }
        };
        ($m:ident, $v:ident, $k:ident, $g:literal, $shape:ident) => {};
    }
    clipper_proto::for_each_kind!(arm);
    None
}

#[test]
fn corpus_round_trips_and_matches_the_oracle() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    let mut kinds = BTreeSet::new();
    let mut custom = 0;
    let mut objects = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable corpus file");
        let docs =
            codec::yaml_documents(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for (i, doc) in docs.iter().enumerate() {
            objects += 1;
            let (av, kind) = codec::type_meta(doc);
            let label = format!(
                "{} #{i} ({} {})",
                file.display(),
                av.unwrap_or("?"),
                kind.unwrap_or("?")
            );
            let result = match check_builtin(doc) {
                Some(r) => {
                    kinds.insert(kind.unwrap_or_default().to_string());
                    r
                }
                None => {
                    custom += 1;
                    check_dynamic(doc)
                }
            };
            if let Err(e) = result {
                failures.push(format!("{label}: {e}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {objects} objects failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(objects >= 50, "the corpus holds only {objects} objects");
    assert!(
        custom >= 2,
        "the corpus holds only {custom} custom resources"
    );
    for k in [
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
        "Service",
        "Ingress",
        "NetworkPolicy",
        "ConfigMap",
        "Secret",
        "Role",
        "ClusterRole",
        "RoleBinding",
        "ClusterRoleBinding",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "CustomResourceDefinition",
        "Pod",
    ] {
        assert!(kinds.contains(k), "the corpus has no {k}");
    }
}

#[test]
fn strict_decoding_reports_unknown_fields_in_corpus_objects() {
    // Take a real corpus Deployment, misspell fields at several depths, and check each is
    // reported with its path.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let text =
        std::fs::read_to_string(dir.join("deployment-web-probes.yaml")).expect("corpus file");
    let mut doc = codec::yaml_documents(&text).expect("yaml").remove(0);
    doc["spec"]["replica"] = Value::from(3);
    doc["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = Value::from("Always");
    let d = codec::from_value_resource::<clipper_proto::api::apps::v1::Deployment>(doc)
        .expect("decodes");
    assert_eq!(
        d.unknown_fields,
        vec![
            "spec.replica",
            "spec.template.spec.containers[0].imagePullPolicyy"
        ]
    );
}

#[test]
fn quantities_come_back_in_kubernetes_canonical_form() {
    // The README of the corpus lists these; our JSON must carry the canonical strings
    // themselves (the round-trip test above compares canonicalised values only).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let text =
        std::fs::read_to_string(dir.join("deployment-grpc-scheduling.yaml")).expect("corpus file");
    let doc = codec::yaml_documents(&text).expect("yaml").remove(0);
    let d = codec::from_value_resource::<clipper_proto::api::apps::v1::Deployment>(doc)
        .expect("decodes");
    let json = serde_json::to_value(&d.value).expect("encodes");
    let resources = &json["spec"]["template"]["spec"]["containers"][0]["resources"];
    assert_eq!(resources["requests"]["cpu"], "500m");
    assert_eq!(resources["requests"]["memory"], "1Gi");
    assert_eq!(resources["limits"]["cpu"], "1");
    assert_eq!(resources["limits"]["memory"], "1536Mi");

    let text =
        std::fs::read_to_string(dir.join("resourcequota-team-shop.yaml")).expect("corpus file");
    let doc = codec::yaml_documents(&text).expect("yaml").remove(0);
    let d = codec::from_value_resource::<clipper_proto::api::core::v1::ResourceQuota>(doc)
        .expect("decodes");
    let json = serde_json::to_value(&d.value).expect("encodes");
    assert_eq!(json["spec"]["hard"]["pods"], "1k");
}
