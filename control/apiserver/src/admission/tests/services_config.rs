//! Services, ConfigMaps, Secrets and Namespaces.

use std::collections::BTreeMap;

use clipper_proto::api::core::v1::{
    ClientIPConfig, ConfigMap, Namespace, NamespaceSpec, Secret, Service, ServicePort, ServiceSpec,
    SessionAffinityConfig,
};
use clipper_proto::{ByteString, IntOrString};

use super::super::ErrorType::*;
use super::super::{ValidationOptions, validate_with};
use super::{Want, expect, labels, meta, validate_new, validate_upd};

fn sport(name: Option<&str>, port: i32) -> ServicePort {
    ServicePort {
        name: name.map(str::to_string),
        port,
        ..ServicePort::default()
    }
}

fn service(f: impl FnOnce(&mut ServiceSpec)) -> Service {
    let mut spec = ServiceSpec {
        selector: Some(labels(&[("app", "web")])),
        ports: Some(vec![sport(Some("http"), 80)]),
        cluster_ip: Some("10.96.0.10".into()),
        cluster_ips: Some(vec!["10.96.0.10".into()]),
        ..ServiceSpec::default()
    };
    f(&mut spec);
    Service {
        metadata: meta("web", Some("default")),
        spec: Some(spec),
        status: None,
    }
}

#[test]
fn service_create() {
    let cases: Vec<(&str, Service, Vec<Want>)> = vec![
        ("valid", service(|_| {}), vec![]),
        (
            "ports required",
            service(|s| s.ports = None),
            vec![("spec.ports", Required, "spec.ports: Required value")],
        ),
        (
            "headless without ports",
            service(|s| {
                s.ports = None;
                s.cluster_ip = Some("None".into());
                s.cluster_ips = Some(vec!["None".into()]);
            }),
            vec![],
        ),
        // targetPort defaults to port, so it is reported too.
        (
            "port zero",
            service(|s| s.ports = Some(vec![sport(None, 0)])),
            vec![
                (
                    "spec.ports[0].port",
                    Invalid,
                    "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                ),
                (
                    "spec.ports[0].targetPort",
                    Invalid,
                    "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
                ),
            ],
        ),
        (
            "target port too big",
            service(|s| {
                s.ports = Some(vec![ServicePort {
                    target_port: Some(IntOrString::Int(65536)),
                    ..sport(None, 80)
                }])
            }),
            vec![(
                "spec.ports[0].targetPort",
                Invalid,
                "spec.ports[0].targetPort: Invalid value: 65536: must be between 1 and 65535, inclusive",
            )],
        ),
        (
            "names required with two ports",
            service(|s| s.ports = Some(vec![sport(None, 80), sport(Some("b"), 81)])),
            vec![(
                "spec.ports[0].name",
                Required,
                "spec.ports[0].name: Required value",
            )],
        ),
        (
            "duplicate names",
            service(|s| s.ports = Some(vec![sport(Some("a"), 80), sport(Some("a"), 81)])),
            vec![(
                "spec.ports[1].name",
                Duplicate,
                "spec.ports[1].name: Duplicate value: \"a\"",
            )],
        ),
        (
            "type",
            service(|s| s.type_ = Some("Magic".into())),
            vec![(
                "spec.type",
                NotSupported,
                "spec.type: Unsupported value: \"Magic\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
            )],
        ),
        (
            "nodePort on ClusterIP",
            service(|s| {
                s.ports = Some(vec![ServicePort {
                    node_port: Some(30080),
                    ..sport(None, 80)
                }])
            }),
            vec![(
                "spec.ports[0].nodePort",
                Forbidden,
                "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
            )],
        ),
        (
            "nodePort in range",
            service(|s| {
                s.type_ = Some("NodePort".into());
                s.ports = Some(vec![ServicePort {
                    node_port: Some(30080),
                    ..sport(None, 80)
                }]);
            }),
            vec![],
        ),
        (
            "nodePort out of range",
            service(|s| {
                s.type_ = Some("NodePort".into());
                s.ports = Some(vec![ServicePort {
                    node_port: Some(80),
                    ..sport(None, 80)
                }]);
            }),
            vec![(
                "spec.ports[0].nodePort",
                Invalid,
                "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767",
            )],
        ),
        (
            "affinity timeout zero",
            service(|s| {
                s.session_affinity = Some("ClientIP".into());
                s.session_affinity_config = Some(SessionAffinityConfig {
                    client_ip: Some(ClientIPConfig {
                        timeout_seconds: Some(0),
                    }),
                });
            }),
            vec![(
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                Invalid,
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater than 0 and less than 86400",
            )],
        ),
        (
            "affinity value",
            service(|s| s.session_affinity = Some("Sticky".into())),
            vec![(
                "spec.sessionAffinity",
                NotSupported,
                "spec.sessionAffinity: Unsupported value: \"Sticky\": supported values: \"ClientIP\", \"None\"",
            )],
        ),
        (
            "named target port",
            service(|s| {
                s.ports = Some(vec![ServicePort {
                    target_port: Some(IntOrString::String("http-web".into())),
                    ..sport(None, 80)
                }])
            }),
            vec![],
        ),
        (
            "bad target port name",
            service(|s| {
                s.ports = Some(vec![ServicePort {
                    target_port: Some(IntOrString::String("Not_Valid".into())),
                    ..sport(None, 80)
                }])
            }),
            vec![(
                "spec.ports[0].targetPort",
                Invalid,
                "~spec.ports[0].targetPort: Invalid value: \"Not_Valid\"",
            )],
        ),
        (
            "externalName",
            service(|s| {
                s.type_ = Some("ExternalName".into());
                s.external_name = Some("db.example.com".into());
                s.cluster_ip = None;
                s.cluster_ips = None;
                s.selector = None;
            }),
            vec![],
        ),
        (
            "externalName syntax",
            service(|s| {
                s.type_ = Some("ExternalName".into());
                s.external_name = Some("Not A Host".into());
                s.cluster_ip = None;
                s.cluster_ips = None;
            }),
            vec![(
                "spec.externalName",
                Invalid,
                "~spec.externalName: Invalid value: \"Not A Host\"",
            )],
        ),
        (
            "externalName required",
            service(|s| {
                s.type_ = Some("ExternalName".into());
                s.cluster_ip = None;
                s.cluster_ips = None;
            }),
            vec![(
                "spec.externalName",
                Required,
                "spec.externalName: Required value",
            )],
        ),
    ];
    for (name, svc, want) in cases {
        expect(name, &validate_new(svc), &want);
    }
}

#[test]
fn node_port_range_is_configurable() {
    let mut svc = service(|s| {
        s.type_ = Some("NodePort".into());
        s.ports = Some(vec![ServicePort {
            node_port: Some(8080),
            ..sport(None, 80)
        }]);
    });
    super::super::default(&mut svc);
    let opts = ValidationOptions {
        node_port_range: (8000, 9000),
        ..ValidationOptions::default()
    };
    assert!(validate_with(&svc, None, &opts).is_empty());
    assert_eq!(
        validate_with(&svc, None, &ValidationOptions::default()).len(),
        1
    );
}

#[test]
fn service_update() {
    let old = service(|_| {});
    expect("unchanged", &validate_upd(old.clone(), old.clone()), &[]);
    expect(
        "ports may change",
        &validate_upd(
            service(|s| s.ports = Some(vec![sport(None, 8080)])),
            old.clone(),
        ),
        &[],
    );
    let moved = service(|s| {
        s.cluster_ip = Some("10.96.0.11".into());
        s.cluster_ips = Some(vec!["10.96.0.11".into()]);
    });
    expect(
        "clusterIP immutable",
        &validate_upd(moved, old),
        &[(
            "spec.clusterIPs[0]",
            Invalid,
            "spec.clusterIPs[0]: Invalid value: []string{\"10.96.0.11\"}: may not change once set",
        )],
    );
}

fn config_map(data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: meta("cfg", Some("default")),
        data: Some(labels(data)),
        ..ConfigMap::default()
    }
}

#[test]
fn config_maps() {
    let big = "x".repeat(1024 * 1024);
    let cases: Vec<(&str, ConfigMap, Vec<Want>)> = vec![
        (
            "valid",
            config_map(&[("app.properties", "a=b"), ("KEY_1", "v")]),
            vec![],
        ),
        (
            "bad key",
            config_map(&[("a b", "v")]),
            vec![(
                "data[a b]",
                Invalid,
                "data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
            )],
        ),
        (
            "dot dot",
            config_map(&[("..", "v")]),
            vec![(
                "data[..]",
                Invalid,
                "data[..]: Invalid value: \"..\": must not be '..'",
            )],
        ),
        (
            "too big",
            config_map(&[("a", &big), ("b", "c")]),
            vec![(
                "[]",
                TooLong,
                "[]: Too long: may not be more than 1048576 bytes",
            )],
        ),
        (
            "duplicate across data and binaryData",
            {
                let mut cm = config_map(&[("a", "v")]);
                cm.binary_data = Some(BTreeMap::from([("a".to_string(), ByteString(vec![1]))]));
                cm
            },
            vec![(
                "data[a]",
                Invalid,
                "data[a]: Invalid value: \"a\": duplicate of key present in binaryData",
            )],
        ),
    ];
    for (name, cm, want) in cases {
        expect(name, &validate_new(cm), &want);
    }
    let mut frozen = config_map(&[("a", "1")]);
    frozen.immutable = Some(true);
    let mut changed = config_map(&[("a", "2")]);
    changed.immutable = Some(true);
    expect(
        "immutable data",
        &validate_upd(changed, frozen.clone()),
        &[(
            "data",
            Forbidden,
            "data: Forbidden: field is immutable when `immutable` is set",
        )],
    );
    let thawed = config_map(&[("a", "1")]);
    expect(
        "immutable flag",
        &validate_upd(thawed, frozen.clone()),
        &[(
            "immutable",
            Forbidden,
            "immutable: Forbidden: field is immutable when `immutable` is set",
        )],
    );
    let mut mutable = config_map(&[("a", "1")]);
    mutable.immutable = Some(false);
    expect("may freeze", &validate_upd(frozen, mutable), &[]);
}

fn secret(ty: Option<&str>, data: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: meta("s", Some("default")),
        type_: ty.map(str::to_string),
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Secret::default()
    }
}

#[test]
fn secrets() {
    expect(
        "opaque",
        &validate_new(secret(None, &[("password", "x")])),
        &[],
    );
    expect(
        "bad key",
        &validate_new(secret(None, &[("a/b", "x")])),
        &[(
            "data[a/b]",
            Invalid,
            "~data[a/b]: Invalid value: \"a/b\": a valid config key must consist of",
        )],
    );
    expect(
        "tls needs keys",
        &validate_new(secret(Some("kubernetes.io/tls"), &[])),
        &[
            ("data[tls.crt]", Required, "data[tls.crt]: Required value"),
            ("data[tls.key]", Required, "data[tls.key]: Required value"),
        ],
    );
    expect(
        "dockerconfigjson",
        &validate_new(secret(
            Some("kubernetes.io/dockerconfigjson"),
            &[(".dockerconfigjson", "{}")],
        )),
        &[],
    );
    expect(
        "dockerconfigjson garbage",
        &validate_new(secret(
            Some("kubernetes.io/dockerconfigjson"),
            &[(".dockerconfigjson", "nope")],
        )),
        &[(
            "data[.dockerconfigjson]",
            Invalid,
            "~data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\"",
        )],
    );
    let mut sd = secret(None, &[]);
    sd.string_data = Some(labels(&[("user", "admin")]));
    let mut defaulted = sd.clone();
    super::super::default(&mut defaulted);
    assert_eq!(defaulted.string_data, None);
    assert_eq!(
        defaulted.data.as_ref().and_then(|d| d.get("user")),
        Some(&ByteString(b"admin".to_vec()))
    );
    expect("stringData", &validate_new(sd), &[]);
    let errs = validate_upd(
        secret(
            Some("kubernetes.io/tls"),
            &[("tls.crt", "a"), ("tls.key", "b")],
        ),
        secret(None, &[]),
    );
    expect(
        "type immutable",
        &errs,
        &[(
            "type",
            Invalid,
            "type: Invalid value: \"kubernetes.io/tls\": field is immutable",
        )],
    );
}

#[test]
fn namespaces() {
    let ns = |finalizers: &[&str]| Namespace {
        metadata: meta("team-a", None),
        spec: Some(NamespaceSpec {
            finalizers: Some(finalizers.iter().map(|s| s.to_string()).collect()),
        }),
        status: None,
    };
    expect("valid", &validate_new(ns(&["kubernetes"])), &[]);
    expect(
        "bad finalizer",
        &validate_new(ns(&["cleanup"])),
        &[(
            "spec.finalizers",
            Invalid,
            "~name is neither a standard finalizer name nor is it fully qualified",
        )],
    );
}
