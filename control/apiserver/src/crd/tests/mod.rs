//! Tests of the crd module: table-driven cases per area with exact field paths, error
//! types and Kubernetes' messages, realistic CRDs (the docs' CronTab, a cert-manager-like
//! Certificate), and property tests that arbitrary JSON never panics the walks.

mod crd_validation;
mod defaulting;
mod lifecycle;
mod listtype;
mod props;
mod pruning;
mod serving;
mod structural;
mod subresources;
mod validation;

use clipper_proto::api::apiextensions::v1::{CustomResourceDefinition, JSONSchemaProps};
use serde_json::{Value, json};

use super::structural::Structural;
use crate::admission::field::{ErrorType, FieldError};

/// One expected error: field path, type, and the exact message — or, when it starts with
/// `~`, a fragment the message must contain.
pub(super) type Want<'a> = (&'a str, ErrorType, &'a str);

/// Asserts that `errs` are exactly `want`, in order, for case `name`.
pub(super) fn check(name: &str, errs: &[FieldError], want: &[Want]) {
    let got: Vec<String> = errs
        .iter()
        .map(|e| format!("{:?} {}", e.kind, e.message()))
        .collect();
    assert_eq!(errs.len(), want.len(), "case {name}: got {got:#?}");
    for (e, (field, kind, msg)) in errs.iter().zip(want) {
        assert_eq!(e.field, *field, "case {name}: got {got:#?}");
        assert_eq!(e.kind, *kind, "case {name}: got {got:#?}");
        match msg.strip_prefix('~') {
            Some(fragment) => assert!(
                e.message().contains(fragment),
                "case {name}: {:?} lacks {fragment:?}",
                e.message()
            ),
            None => assert_eq!(e.message(), *msg, "case {name}"),
        }
    }
}

/// A JSONSchemaProps from its JSON form.
pub(super) fn props(v: Value) -> JSONSchemaProps {
    serde_json::from_value(v).expect("test schema decodes")
}

/// A structural schema from JSON (the conversion must succeed).
pub(super) fn schema(v: Value) -> Structural {
    Structural::new(&props(v)).expect("test schema converts")
}

/// A CRD from its JSON form.
pub(super) fn crd(v: Value) -> CustomResourceDefinition {
    serde_json::from_value(v).expect("test CRD decodes")
}

/// The CronTab schema of the Kubernetes documentation, with a status and a few extras.
pub(super) fn crontab_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "cronSpec": {"type": "string", "pattern": r"^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$"},
                    "image": {"type": "string"},
                    "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                    "mode": {"type": "string", "enum": ["a", "b"]},
                    "size": {"type": "string"}
                },
                "required": ["cronSpec"]
            },
            "status": {
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer"},
                    "labelSelector": {"type": "string"}
                }
            }
        }
    })
}

/// The CronTab CRD (namespaced, status and scale subresources).
pub(super) fn crontab_crd() -> CustomResourceDefinition {
    crd(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "listKind": "CronTabList", "shortNames": ["ct"]},
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": crontab_schema()},
                "subresources": {
                    "status": {},
                    "scale": {
                        "specReplicasPath": ".spec.replicas",
                        "statusReplicasPath": ".status.replicas",
                        "labelSelectorPath": ".status.labelSelector"
                    }
                }
            }]
        }
    }))
}

/// A cert-manager-like Certificate schema: nested objects, formats, int-or-string,
/// map-lists, sets, embedded resource templates and a preserve-unknown-fields bag.
pub(super) fn certificate_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["secretName", "issuerRef"],
                "properties": {
                    "secretName": {"type": "string", "minLength": 1, "maxLength": 253},
                    "commonName": {"type": "string", "maxLength": 64},
                    "dnsNames": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set", "maxItems": 3},
                    "ipAddresses": {"type": "array", "items": {"type": "string", "format": "ipv4"}},
                    "emailAddresses": {"type": "array", "items": {"type": "string", "format": "email"}},
                    "duration": {"type": "string", "format": "duration"},
                    "renewBefore": {"type": "string"},
                    "revisionHistoryLimit": {"type": "integer", "format": "int32", "minimum": 1, "nullable": true},
                    "isCA": {"type": "boolean"},
                    "usages": {"type": "array", "items": {"type": "string", "enum": ["digital signature", "key encipherment", "server auth", "client auth"]}},
                    "privateKey": {
                        "type": "object",
                        "properties": {
                            "algorithm": {"type": "string", "enum": ["RSA", "ECDSA", "Ed25519"], "default": "RSA"},
                            "size": {"type": "integer", "multipleOf": 1024},
                            "rotationPolicy": {"type": "string", "enum": ["Never", "Always"]}
                        }
                    },
                    "issuerRef": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string"},
                            "kind": {"type": "string", "default": "Issuer"},
                            "group": {"type": "string"}
                        }
                    },
                    "secretTemplate": {
                        "type": "object",
                        "properties": {
                            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                            "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 63}}
                        }
                    },
                    "keystores": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": true,
                        "properties": {
                            "pkcs12": {"type": "object", "properties": {"create": {"type": "boolean"}}}
                        }
                    },
                    "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                    "subjectAltNames": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["type", "value"],
                        "items": {
                            "type": "object",
                            "required": ["type", "value"],
                            "properties": {"type": {"type": "string"}, "value": {"type": "string"}, "critical": {"type": "boolean", "default": false}}
                        }
                    },
                    "podTemplate": {
                        "type": "object",
                        "x-kubernetes-embedded-resource": true,
                        "x-kubernetes-preserve-unknown-fields": true
                    }
                }
            },
            "status": {
                "type": "object",
                "properties": {
                    "conditions": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["type"],
                        "items": {
                            "type": "object",
                            "required": ["type", "status"],
                            "properties": {
                                "type": {"type": "string"},
                                "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                                "lastTransitionTime": {"type": "string", "format": "date-time"}
                            }
                        }
                    },
                    "notAfter": {"type": "string", "format": "date-time"},
                    "revision": {"type": "integer"}
                }
            }
        }
    })
}

/// A valid Certificate.
pub(super) fn certificate() -> Value {
    json!({
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "example-com", "namespace": "default"},
        "spec": {
            "secretName": "example-com-tls",
            "commonName": "example.com",
            "dnsNames": ["example.com", "www.example.com"],
            "ipAddresses": ["10.0.0.1"],
            "duration": "2160h",
            "privateKey": {"algorithm": "ECDSA", "size": 2048},
            "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"},
            "port": 8443,
            "subjectAltNames": [{"type": "dns", "value": "a.example.com"}]
        }
    })
}

/// The Certificate CRD.
pub(super) fn certificate_crd() -> CustomResourceDefinition {
    crd(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "certificates.cert-manager.io"},
        "spec": {
            "group": "cert-manager.io",
            "scope": "Namespaced",
            "names": {"plural": "certificates", "singular": "certificate", "kind": "Certificate", "listKind": "CertificateList", "shortNames": ["cert", "certs"]},
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": certificate_schema()},
                "subresources": {"status": {}}
            }]
        }
    }))
}
