//! The committed generated types are exactly what clipper-protogen produces from the
//! committed definitions: regeneration is deterministic and nobody edited the output.

use std::path::Path;

#[test]
fn generated_api_types_are_up_to_date() {
    let proto = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema =
        std::fs::read_to_string(proto.join("schema/v1.33-definitions.json")).expect("definitions");
    let fields = std::fs::read_to_string(proto.join("schema/v1.33-protobuf-fields.json"))
        .expect("protobuf field table");
    let files = clipper_protogen::generate(&schema, &fields).expect("generation succeeds");
    let again = clipper_protogen::generate(&schema, &fields).expect("generation succeeds");
    assert_eq!(files.len(), again.len());
    let mut stale = Vec::new();
    for (file, second) in files.iter().zip(&again) {
        assert_eq!(
            file.contents, second.contents,
            "{} differs between two runs",
            file.name
        );
        let formatted = clipper_protogen::rustfmt(&file.contents).expect("rustfmt");
        let committed =
            std::fs::read_to_string(proto.join("src/api").join(&file.name)).unwrap_or_default();
        if formatted != committed {
            stale.push(file.name.clone());
        }
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(proto.join("src/api"))
        .expect("src/api")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    on_disk.sort();
    let mut expected: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
    expected.sort();
    assert_eq!(
        on_disk, expected,
        "src/api holds files the generator does not produce"
    );
    assert!(
        stale.is_empty(),
        "stale generated files (run `cargo run -p clipper-protogen`): {stale:?}"
    );
}

#[test]
fn every_served_kind_is_generated() {
    for (api_version, kind) in [
        ("v1", "Pod"),
        ("apps/v1", "Deployment"),
        ("batch/v1", "CronJob"),
        ("discovery.k8s.io/v1", "EndpointSlice"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("coordination.k8s.io/v1", "Lease"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ("autoscaling/v1", "Scale"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("policy/v1", "Eviction"),
        ("events.k8s.io/v1", "Event"),
        ("storage.k8s.io/v1", "StorageClass"),
        ("scheduling.k8s.io/v1", "PriorityClass"),
        ("node.k8s.io/v1", "RuntimeClass"),
        ("v1", "Status"),
    ] {
        assert!(
            clipper_proto::KindInfo::find(api_version, kind).is_some(),
            "{api_version} {kind} is not generated"
        );
    }
}
