//! Kubernetes protobuf request bodies: real kubectl captures (tests/protobuf/) decode to
//! the JSON kubectl itself writes for the same command and re-encode to the same bytes;
//! every corpus object round-trips through protobuf; the hand-decoded field numbers match
//! the field table; random and mutated bytes never panic the decoder.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clipper_proto::protobuf::{self, ErrorKind, ProtobufError};
use clipper_proto::schema::{FieldType, schema};
use clipper_proto::{KindInfo, Resource, codec};
use common::{diff, normalized};
use proptest::prelude::*;
use serde_json::{Value, json};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/protobuf")
}

/// Every captured body: (name, bytes), sorted by name.
fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixtures_dir())
        .expect("fixture directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pb"))
        .map(|p| {
            let name = p
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("fixture name")
                .to_string();
            (name, std::fs::read(&p).expect("readable fixture"))
        })
        .collect();
    out.sort();
    out
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join(format!("{name}.pb"))).expect("fixture")
}

/// Decodes `raw` as the typed kind and encodes it again; None for kinds that are not
/// single-version top-level kinds.
fn reencode(api_version: &str, kind: &str, raw: &[u8]) -> Option<Result<Vec<u8>, ProtobufError>> {
    macro_rules! arm {
        ($m:ident, $v:ident, $k:ident, $g:literal, $shape:ident) => {{
            type T = clipper_proto::api::$m::$v::$k;
            if kind == <T as Resource>::KIND && api_version == <T as Resource>::API_VERSION {
                return Some(protobuf::decode::<T>(raw).map(|v| protobuf::encode(&v)));
            }
        }};
    }
    clipper_proto::for_each_kind!(arm);
    None
}

#[test]
fn kubectl_bodies_decode_to_the_client_dry_run_json() {
    let mut failures = Vec::new();
    let mut compared = 0;
    for (name, body) in fixtures() {
        let json_path = fixtures_dir().join(format!("{name}.json"));
        let Ok(text) = std::fs::read_to_string(&json_path) else {
            continue;
        };
        compared += 1;
        let expected: Value = serde_json::from_str(&text).expect("kubectl JSON");
        let decoded = match protobuf::decode_body(&body) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        if let Some(d) = diff(&normalized(&decoded), &normalized(&expected), "") {
            failures.push(format!("{name} (decoded vs kubectl): {d}"));
        }
        // What the API server does next: the JSON decodes strictly into the kind's type.
        let (api_version, kind) = codec::type_meta(&decoded);
        assert_eq!(
            (api_version, kind),
            codec::type_meta(&expected),
            "{name}: apiVersion and kind"
        );
        let info = KindInfo::find(api_version.unwrap_or(""), kind.unwrap_or(""))
            .unwrap_or_else(|| panic!("{name}: no kind for {api_version:?} {kind:?}"));
        let strict = strict_unknown_fields(info, &decoded);
        if !strict.is_empty() {
            failures.push(format!("{name}: unknown fields {strict:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} fixtures failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(compared >= 19, "only {compared} fixtures have kubectl JSON");
}

/// Unknown fields reported when the server's codec decodes this JSON as its kind.
fn strict_unknown_fields(info: &KindInfo, doc: &Value) -> Vec<String> {
    macro_rules! arm {
        ($m:ident, $v:ident, $k:ident, $g:literal, $shape:ident) => {{
            type T = clipper_proto::api::$m::$v::$k;
            if info.kind == <T as Resource>::KIND
                && info.api_version() == <T as Resource>::API_VERSION
            {
                return codec::from_value_resource::<T>(doc.clone())
                    .map(|d| d.unknown_fields)
                    .unwrap_or_else(|e| vec![format!("decode error: {e}")]);
            }
        }};
    }
    clipper_proto::for_each_kind!(arm);
    vec![format!("{} is not a typed kind", info.kind)]
}

#[test]
fn kubectl_bodies_re_encode_to_the_same_bytes() {
    let all = fixtures();
    assert!(all.len() >= 23, "only {} fixtures", all.len());
    for (name, body) in all {
        let (api_version, kind, raw) = protobuf::decode_unknown(&body).expect(&name);
        let again = reencode(&api_version, &kind, raw)
            .unwrap_or_else(|| panic!("{name}: {api_version} {kind} is not a typed kind"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(again, raw, "{name}: the object re-encodes differently");
        assert_eq!(
            protobuf::encode_unknown(&api_version, &kind, &again),
            body,
            "{name}: the envelope re-encodes differently"
        );
    }
}

#[test]
fn captures_without_client_json_decode_field_by_field() {
    let token = protobuf::decode_body(&fixture("token")).expect("token");
    assert_eq!(token["apiVersion"], "authentication.k8s.io/v1");
    assert_eq!(token["kind"], "TokenRequest");
    assert_eq!(
        token["spec"]["audiences"],
        json!(["https://api.example.com"])
    );
    assert_eq!(token["spec"]["expirationSeconds"], 3600);

    let review = protobuf::decode_body(&fixture("selfsubjectaccessreview")).expect("ssar");
    assert_eq!(review["kind"], "SelfSubjectAccessReview");
    assert_eq!(
        review["spec"]["resourceAttributes"],
        json!({"namespace": "shop", "verb": "list", "resource": "pods", "subresource": "log"})
    );

    let whoami = protobuf::decode_body(&fixture("selfsubjectreview")).expect("ssr");
    assert_eq!(whoami["kind"], "SelfSubjectReview");
    assert_eq!(whoami["apiVersion"], "authentication.k8s.io/v1");

    let pod = protobuf::decode_body(&fixture("debug-node")).expect("debug pod");
    assert_eq!(pod["kind"], "Pod");
    let spec = &pod["spec"];
    assert_eq!(spec["nodeName"], "node-1");
    assert_eq!(spec["hostPID"], true);
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(spec["hostIPC"], true);
    assert_eq!(spec["restartPolicy"], "Never");
    // The volume's source is an inline (embedded) message on the wire.
    assert_eq!(
        spec["volumes"],
        json!([{"name": "host-root", "hostPath": {"path": "/"}}])
    );
    let container = &spec["containers"][0];
    assert_eq!(container["name"], "debugger");
    assert_eq!(container["image"], "busybox");
    assert_eq!(container["securityContext"]["privileged"], true);
    assert_eq!(
        container["volumeMounts"],
        json!([{"name": "host-root", "mountPath": "/host"}])
    );
    assert_eq!(
        spec["tolerations"],
        json!([{"operator": "Exists"}]),
        "debug pods tolerate everything"
    );
    let pod: clipper_proto::api::core::v1::Pod =
        serde_json::from_value(pod).expect("typed pod from the decoded JSON");
    assert_eq!(pod.metadata.generate_name, None);
}

#[test]
fn value_type_zeros_are_unset_and_pointer_zeros_are_kept() {
    // The Deployment's status is a Go struct of value-type counters: on the wire every one
    // is 0, and Go's JSON shows `status: {}`. Its spec.replicas is a pointer: 3 stays 3.
    let body = fixture("deployment");
    let (_, _, raw) = protobuf::decode_unknown(&body).expect("envelope");
    let d: clipper_proto::api::apps::v1::Deployment = protobuf::decode(raw).expect("decodes");
    let status = d.status.expect("status is always on the wire");
    assert_eq!(status, Default::default());
    assert_eq!(d.spec.as_ref().and_then(|s| s.replicas), Some(3));
    assert_eq!(d.metadata.namespace, None, "empty namespace is unset");
    assert_eq!(d.metadata.creation_timestamp, None, "zero time is unset");

    // A Secret's type is a value-type string: `kubectl create secret generic` leaves it
    // empty (so unset), docker-registry sets it.
    let body = fixture("secret-generic");
    let (_, _, raw) = protobuf::decode_unknown(&body).expect("envelope");
    let s: clipper_proto::api::core::v1::Secret = protobuf::decode(raw).expect("decodes");
    assert_eq!(s.type_, None);
    assert_eq!(
        s.data.expect("data")["password"].0,
        b"s3cr:t!".to_vec(),
        "bytes come through raw"
    );
    let body = fixture("secret-docker-registry");
    let (_, _, raw) = protobuf::decode_unknown(&body).expect("envelope");
    let s: clipper_proto::api::core::v1::Secret = protobuf::decode(raw).expect("decodes");
    assert_eq!(s.type_.as_deref(), Some("kubernetes.io/dockerconfigjson"));
}

#[test]
fn binary_config_map_data_survives() {
    let body = fixture("configmap");
    let cm = protobuf::decode_body(&body).expect("configmap");
    // PNG signature and 0xff 0xfe 0x80 0x7f, base64 in JSON.
    assert_eq!(cm["binaryData"]["logo.png"], "iVBORw0KGgoAAAAN//6Afw==");
    assert_eq!(cm["data"], json!({"level": "3", "mode": "prod"}));
}

#[test]
fn envelope_errors_are_kubernetes_errors() {
    assert_eq!(
        protobuf::decode_body(b"").unwrap_err().kind(),
        &ErrorKind::EmptyData
    );
    assert_eq!(
        protobuf::decode_body(b"{\"kind\":\"Pod\"}")
            .unwrap_err()
            .kind(),
        &ErrorKind::NotProtobuf
    );
    assert_eq!(
        protobuf::decode_body(b"k8s\0").unwrap_err().kind(),
        &ErrorKind::EmptyBody
    );
    let no_kind = protobuf::encode_unknown("v1", "", b"");
    assert_eq!(
        protobuf::decode_body(&no_kind).unwrap_err().kind(),
        &ErrorKind::MissingKind
    );
    let unknown = protobuf::encode_unknown("example.com/v1", "Widget", b"");
    assert!(matches!(
        protobuf::decode_body(&unknown).unwrap_err().kind(),
        ErrorKind::UnknownKind { .. }
    ));
    // A field with the wrong wire type: ConfigMap.data (2) as a varint.
    let bad = protobuf::encode_unknown("v1", "ConfigMap", &[0x10, 0x01]);
    let err = protobuf::decode_body(&bad).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::WrongWireType { found: 0, .. }
    ));
    assert_eq!(err.path(), "ConfigMap.2");
    // A bad quantity deep inside a Deployment names its path.
    let deployment: clipper_proto::api::apps::v1::Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
        "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "c",
            "resources": {"limits": {"cpu": "7"}}}]}}}
    }))
    .expect("deployment");
    let mut raw = protobuf::encode(&deployment);
    // The Quantity message {string: "7"}.
    let quantity = [0x0a, 0x01, b'7'];
    let at: Vec<usize> = (0..raw.len().saturating_sub(2))
        .filter(|&i| raw[i..i + 3] == quantity)
        .collect();
    assert_eq!(at.len(), 1, "the quantity is in the encoding once");
    raw[at[0] + 2] = b'x';
    let err = protobuf::decode::<clipper_proto::api::apps::v1::Deployment>(&raw)
        .expect_err("a bad quantity is an error");
    assert!(err.to_string().contains("quantity \"x\""), "{err}");
    assert_eq!(
        err.path(),
        "Deployment.2 > DeploymentSpec.3 > PodTemplateSpec.2 > PodSpec.2 > Container.8 > ResourceRequirements.1"
    );
}

#[test]
fn shared_kinds_decode_under_every_listed_api_version() {
    let opts = clipper_proto::api::meta::v1::DeleteOptions {
        grace_period_seconds: Some(0),
        propagation_policy: Some("Foreground".into()),
        dry_run: Some(vec!["All".into()]),
        ..Default::default()
    };
    let raw = protobuf::encode(&opts);
    for api_version in ["v1", "apps/v1", "batch/v1", "policy/v1"] {
        let v = protobuf::decode_kind(api_version, "DeleteOptions", &raw).expect(api_version);
        assert_eq!(
            v,
            json!({"apiVersion": api_version, "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                   "propagationPolicy": "Foreground", "dryRun": ["All"]})
        );
    }
}

#[test]
fn embedded_objects_in_raw_extensions_decode_from_protobuf_and_json() {
    // A WatchEvent whose object is itself a protobuf body, and one whose object is JSON.
    let cm: clipper_proto::api::core::v1::ConfigMap = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "inner"}, "data": {"k": "v"}
    }))
    .expect("configmap");
    let inner = protobuf::encode_object(&cm);
    for object in [inner, br#"{"kind":"X","n":1.5}"#.to_vec()] {
        let mut event = Vec::new();
        // WatchEvent: type 1, object 2 (a RawExtension {raw 1}).
        event.extend_from_slice(&[0x0a, 0x05]);
        event.extend_from_slice(b"ADDED");
        let mut ext = vec![0x0a];
        ext.extend_from_slice(&varint(object.len()));
        ext.extend_from_slice(&object);
        event.push(0x12);
        event.extend_from_slice(&varint(ext.len()));
        event.extend_from_slice(&ext);
        let v = protobuf::decode_kind("v1", "WatchEvent", &event).expect("watch event");
        assert_eq!(v["type"], "ADDED");
        if object.starts_with(&protobuf::MAGIC) {
            assert_eq!(
                v["object"],
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "inner"}, "data": {"k": "v"}})
            );
        } else {
            assert_eq!(v["object"], json!({"kind": "X", "n": 1.5}));
        }
    }
}

/// A length-delimited field, written by hand (independently of the encoder under test).
fn ld(number: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![(number << 3) | 2];
    out.extend_from_slice(&varint(body.len()));
    out.extend_from_slice(body);
    out
}

#[test]
fn wrapped_lists_decode_from_hand_written_bytes() {
    // SubjectAccessReview{spec(2): {user(3): "jane", extra(5): {key(1): "scopes",
    // value(2): ExtraValue{items(1): "read", items(1): "write"}}}}.
    let extra_value = [ld(1, b"read"), ld(1, b"write")].concat();
    let entry = [ld(1, b"scopes"), ld(2, &extra_value)].concat();
    let spec = [ld(3, b"jane"), ld(5, &entry)].concat();
    let raw = ld(2, &spec);
    let v = protobuf::decode_kind("authorization.k8s.io/v1", "SubjectAccessReview", &raw)
        .expect("decodes");
    assert_eq!(
        v["spec"],
        json!({"extra": {"scopes": ["read", "write"]}, "user": "jane"})
    );
    // APIResourceList{groupVersion(1): "v1", resources(2): {name(1): "pods",
    // namespaced(2): true, kind(3): "Pod", verbs(4): Verbs{items(1): "get", "list"}}}.
    let verbs = [ld(1, b"get"), ld(1, b"list")].concat();
    let resource = [
        ld(1, b"pods"),
        vec![0x10, 0x01],
        ld(3, b"Pod"),
        ld(4, &verbs),
    ]
    .concat();
    let raw = [ld(1, b"v1"), ld(2, &resource)].concat();
    let v = protobuf::decode_kind("v1", "APIResourceList", &raw).expect("decodes");
    assert_eq!(
        v["resources"],
        json!([{"name": "pods", "singularName": "", "namespaced": true, "kind": "Pod",
                "verbs": ["get", "list"]}])
    );
}

#[test]
fn inline_structs_decode_from_hand_written_bytes() {
    // EnvVar{name(1): "PASSWORD", value(2): "", valueFrom(3): EnvVarSource{secretKeyRef(4):
    // SecretKeySelector{localObjectReference(1): {name(1): "db"}, key(2): "pw"}}}: the
    // Secret's name sits one message deeper on the wire than in JSON. Go holds `value` by
    // value, so it is on the wire (and the empty string means unset).
    let selector = [ld(1, &ld(1, b"db")), ld(2, b"pw")].concat();
    let env = [ld(1, b"PASSWORD"), ld(2, b""), ld(3, &ld(4, &selector))].concat();
    let var: clipper_proto::api::core::v1::EnvVar = protobuf::decode(&env).expect("decodes");
    assert_eq!(
        serde_json::to_value(&var).expect("json"),
        json!({"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}})
    );
    assert_eq!(protobuf::encode(&var), env, "and encodes back the same way");
}

fn varint(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out
}

/// The protobuf field table, as the tests read it.
struct Table(Value);

impl Table {
    fn load() -> Table {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/v1.33-protobuf-fields.json");
        Table(serde_json::from_str(&std::fs::read_to_string(path).expect("table")).expect("JSON"))
    }

    fn flag(&self, def: &str, field: &str, flag: &str) -> bool {
        self.0["definitions"][def][field][flag] == Value::Bool(true)
    }
}

/// What Go's JSON → Go → protobuf → Go → JSON keeps of a document. Go holds many fields
/// by value, so protobuf cannot tell their zero from "unset": an optional value-type field
/// that is zero (0, "", false, or an object of zero values only) is dropped, and so is an
/// empty optional list or map. Applied to both sides.
fn go_protobuf_view(v: &mut Value, def_name: &str, table: &Table) {
    let Some(def) = schema().definition(def_name) else {
        return;
    };
    let Value::Object(m) = v else {
        return;
    };
    for (k, val) in m.iter_mut() {
        if let Some(f) = def.properties.get(k) {
            go_view_field(val, &f.ty, table);
        }
    }
    m.retain(|k, val| {
        let optional = !def.required.iter().any(|r| r == k);
        let zero = is_zero(val);
        let empty = match val {
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        let collection = def
            .properties
            .get(k)
            .is_some_and(|f| matches!(f.ty, FieldType::Array(_) | FieldType::Map(_)));
        !(optional && ((zero && table.flag(def_name, k, "value")) || (empty && collection)))
    });
}

/// Go's zero value: 0, "", false, empty, or an object of zero values only.
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Bool(b) => !*b,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_zero),
    }
}

fn go_view_field(v: &mut Value, ty: &FieldType, table: &Table) {
    match (ty, v) {
        (FieldType::Ref(name), v) => go_protobuf_view(v, name, table),
        (FieldType::Array(item), Value::Array(items)) => items
            .iter_mut()
            .for_each(|i| go_view_field(i, &item.ty, table)),
        (FieldType::Map(item), Value::Object(m)) => m
            .values_mut()
            .for_each(|i| go_view_field(i, &item.ty, table)),
        _ => {}
    }
}

/// Encodes and decodes one corpus document as its typed kind; None if not a typed kind.
fn protobuf_round_trip(doc: &Value) -> Option<Result<Value, String>> {
    let (Some(av), Some(kind)) = codec::type_meta(doc) else {
        return None;
    };
    macro_rules! arm {
        ($m:ident, $v:ident, $k:ident, $g:literal, object) => {{
            type T = clipper_proto::api::$m::$v::$k;
            if kind == <T as Resource>::KIND && av == <T as Resource>::API_VERSION {
                return Some((|| {
                    let typed = codec::from_value_resource::<T>(doc.clone())
                        .map_err(|e| format!("decode JSON: {e}"))?
                        .value;
                    let raw = protobuf::encode(&typed);
                    let back: T = protobuf::decode(&raw).map_err(|e| format!("decode: {e}"))?;
                    if protobuf::encode(&back) != raw {
                        return Err("re-encoding changed the bytes".to_string());
                    }
                    let body = protobuf::encode_object(&typed);
                    let via_kind = protobuf::decode_body(&body).map_err(|e| e.to_string())?;
                    let json = serde_json::to_value(&back).map_err(|e| e.to_string())?;
                    if via_kind != json {
                        return Err("decode_body differs from the typed decode".to_string());
                    }
                    Ok(json)
                })());
            }
        }};
        ($m:ident, $v:ident, $k:ident, $g:literal, $shape:ident) => {};
    }
    clipper_proto::for_each_kind!(arm);
    None
}

#[test]
fn every_corpus_object_round_trips_through_protobuf() {
    let table = Table::load();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("corpus file");
        for (i, doc) in codec::yaml_documents(&text)
            .expect("yaml")
            .iter()
            .enumerate()
        {
            let Some(result) = protobuf_round_trip(doc) else {
                continue;
            };
            checked += 1;
            let label = format!(
                "{} #{i}",
                file.file_name().unwrap_or_default().to_string_lossy()
            );
            let back = match result {
                Ok(v) => v,
                Err(e) => {
                    failures.push(format!("{label}: {e}"));
                    continue;
                }
            };
            let (av, kind) = codec::type_meta(doc);
            let def = schema()
                .definition_for_kind(av.unwrap_or(""), kind.unwrap_or(""))
                .expect("definition")
                .name
                .clone();
            let mut expected = normalized(doc);
            go_protobuf_view(&mut expected, &def, &table);
            let mut ours = normalized(&back);
            go_protobuf_view(&mut ours, &def, &table);
            if let Some(d) = diff(&ours, &expected, "") {
                failures.push(format!("{label} (after protobuf vs input): {d}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} objects failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 100, "only {checked} typed corpus objects");
}

#[test]
fn hand_written_field_numbers_match_the_table() {
    let table = Table::load();
    for (message, field, number) in protobuf::SPECIAL_FIELDS {
        assert_eq!(
            table.0["messages"][message][field].as_u64(),
            Some(u64::from(*number)),
            "{message}.{field}"
        );
    }
    // Every hand-decoded message is covered.
    let listed: BTreeMap<&str, usize> =
        protobuf::SPECIAL_FIELDS
            .iter()
            .fold(BTreeMap::new(), |mut m, (msg, ..)| {
                *m.entry(*msg).or_default() += 1;
                m
            });
    for (message, fields) in table.0["messages"].as_object().expect("messages") {
        let wrapper = message.ends_with(".Verbs") || message.ends_with(".ExtraValue");
        if wrapper {
            // The list wrappers' number is in each field's `items`.
            assert_eq!(fields["items"], 1, "{message}");
            continue;
        }
        assert_eq!(
            listed.get(message.as_str()).copied(),
            Some(fields.as_object().map_or(0, |f| f.len())),
            "{message}"
        );
    }
}

/// Decodes `bytes` every way the API server could: as a body, and as each kind's message.
fn decode_everything(bytes: &[u8]) {
    let _ = protobuf::decode_body(bytes);
    if let Ok((av, kind, raw)) = protobuf::decode_unknown(bytes) {
        let _ = protobuf::decode_kind(&av, &kind, raw);
    }
    for info in clipper_proto::api::KINDS {
        let _ = protobuf::decode_kind(&info.api_version(), info.kind, bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_everything(&bytes);
        let mut body = protobuf::MAGIC.to_vec();
        body.extend_from_slice(&bytes);
        decode_everything(&body);
    }

    #[test]
    fn mutated_kubectl_bodies_never_panic(
        which in 0usize..64,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let all = fixtures();
        let (_, original) = &all[which % all.len()];
        let mut body = original.clone();
        for (at, byte, op) in edits {
            if body.is_empty() {
                break;
            }
            let i = at.index(body.len());
            match op {
                0 => body[i] = byte,
                1 => body.insert(i, byte),
                _ => body.truncate(i),
            }
        }
        decode_everything(&body);
        // The object alone, kind known: the way the server decodes it.
        if let Ok((av, kind, raw)) = protobuf::decode_unknown(original) {
            let mut raw = raw.to_vec();
            if !raw.is_empty() {
                let len = raw.len();
                raw[len / 2] ^= 0x5a;
            }
            let _ = protobuf::decode_kind(&av, &kind, &raw);
        }
    }
}
