//! Corrupted or random bytes never panic a decoder: envelopes (framing, checksum and rkyv
//! validation), JSON, YAML, and the special scalar types.

use clipper_proto::api::apps::v1::Deployment;
use clipper_proto::api::core::v1::{ConfigMap, Pod};
use clipper_proto::envelope::{self, AlignedBytes, Envelope, HEADER_BYTES};
use clipper_proto::{DynamicObject, MicroTime, Quantity, Time, codec};
use proptest::prelude::*;

fn sample_pod() -> Pod {
    let doc = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-7d4b9c", "namespace": "shop", "labels": {"app": "web"},
                     "annotations": {"a": "b"}, "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                     "name": "web-7d4b9c", "uid": "0b6e6a9e-1111-2222-3333-444455556666", "controller": true}]},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                 "ports": [{"containerPort": 80, "name": "http"}],
                 "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
                 "readinessProbe": {"httpGet": {"path": "/", "port": "http"}}}],
                 "nodeName": "node-1", "tolerations": [{"key": "k", "operator": "Exists"}]},
        "status": {"phase": "Running", "podIP": "10.244.1.7", "startTime": "2024-03-01T12:00:00Z"}
    });
    serde_json::from_value(doc).expect("sample pod")
}

/// Length of an envelope's header (fixed part, type names and padding).
fn header_len(envelope: &[u8]) -> usize {
    let aligned = AlignedBytes::copy_from(envelope);
    let env = Envelope::parse(&aligned).expect("valid envelope");
    let len = envelope.len() - env.payload().len();
    assert!(len >= HEADER_BYTES && len.is_multiple_of(16));
    len
}

/// Every decoder over one buffer; the result may be Ok or Err, never a panic.
fn decode_everything(bytes: &[u8]) {
    let aligned = AlignedBytes::copy_from(bytes);
    if let Ok(env) = Envelope::parse(&aligned) {
        let _ = env.access::<Pod>();
        let _ = env.access::<ConfigMap>();
        let _ = env.access::<Deployment>();
        let _ = env.access_as::<DynamicObject>();
    }
    let _ = envelope::decode::<Pod>(&aligned);
    let _ = codec::from_json::<Pod>(bytes);
    let _ = codec::from_json::<DynamicObject>(bytes);
    let _ = codec::documents(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        decode_everything(&bytes);
    }

    #[test]
    fn random_bytes_behind_a_valid_header_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..1024),
    ) {
        // A header and checksum that pass, so the payload reaches rkyv validation.
        let mut b = envelope::encode(&sample_pod()).expect("encode").to_vec();
        let header = header_len(&b);
        b.truncate(header);
        b.extend_from_slice(&body);
        let payload_len = (b.len() - header) as u32;
        b[12..16].copy_from_slice(&payload_len.to_le_bytes());
        let sum = crc32c::crc32c_append(crc32c::crc32c(&b[..16]), &b[20..]);
        b[16..20].copy_from_slice(&sum.to_le_bytes());
        let aligned = AlignedBytes::copy_from(&b);
        let env = Envelope::parse(&aligned).expect("framing is valid");
        let _ = env.access::<Pod>();
        let _ = envelope::decode::<Pod>(&aligned);
    }

    #[test]
    fn mutated_payloads_with_valid_checksums_never_panic(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..16),
    ) {
        let mut b = envelope::encode(&sample_pod()).expect("encode").to_vec();
        let header = header_len(&b);
        for (pos, byte) in flips {
            let i = header + pos % (b.len() - header);
            b[i] = byte;
        }
        let sum = crc32c::crc32c_append(crc32c::crc32c(&b[..16]), &b[20..]);
        b[16..20].copy_from_slice(&sum.to_le_bytes());
        let aligned = AlignedBytes::copy_from(&b);
        if let Ok(pod) = envelope::decode::<Pod>(&aligned) {
            // If validation accepts the bytes, the value must be usable.
            let _ = serde_json::to_vec(&pod);
        }
    }

    #[test]
    fn mutated_json_never_panics(pos in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
        let mut json = serde_json::to_vec(&sample_pod()).expect("json");
        let i = pos % json.len();
        json[i] = byte;
        json.truncate(cut % (json.len() + 1));
        decode_everything(&json);
    }

    #[test]
    fn random_text_never_panics_the_scalar_parsers(s in "\\PC{0,40}") {
        let _ = Quantity::parse(&s);
        let _ = Time::parse(&s);
        let _ = MicroTime::parse(&s);
        let _ = codec::yaml_documents(&s);
    }
}

#[test]
fn yaml_bombs_and_deep_nesting_are_refused_not_fatal() {
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
                e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n\
                g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n\
                i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
    assert!(codec::yaml_documents(bomb).is_err());
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    assert!(codec::documents(deep.as_bytes()).is_err());
    let deep_yaml = "- ".repeat(10_000) + "x";
    assert!(codec::yaml_documents(&deep_yaml).is_err());
}
