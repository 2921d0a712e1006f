//! Names, metadata and the 422 message.

use clipper_proto::api::meta::v1::{ObjectMeta, OwnerReference};

use super::super::names::{self, NameRule};
use super::super::{
    ErrorType::*, FieldError, Path, invalid_message, qualified_kind, validate_object_meta,
    validate_object_meta_for, validate_object_meta_update,
};
use super::{Want, expect, labels, meta};

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// A name predicate: the messages for a value, empty when it is valid.
type Predicate = fn(&str) -> Vec<String>;

#[test]
fn name_predicates() {
    let cases: &[(&str, Predicate, &str, bool)] = &[
        ("label ok", names::is_dns1123_label, "a-1", true),
        ("label upper", names::is_dns1123_label, "A", false),
        ("label dot", names::is_dns1123_label, "a.b", false),
        ("label 63", names::is_dns1123_label, &"a".repeat(63), true),
        ("label 64", names::is_dns1123_label, &"a".repeat(64), false),
        ("label trailing dash", names::is_dns1123_label, "a-", false),
        ("subdomain ok", names::is_dns1123_subdomain, "a.b-c.d", true),
        (
            "subdomain empty part",
            names::is_dns1123_subdomain,
            "a..b",
            false,
        ),
        (
            "subdomain 254",
            names::is_dns1123_subdomain,
            &"a".repeat(254),
            false,
        ),
        ("1035 digit start", names::is_dns1035_label, "1a", false),
        ("1035 ok", names::is_dns1035_label, "a1", true),
        (
            "qualified prefixed",
            names::is_qualified_name,
            "example.com/My_name.1",
            true,
        ),
        (
            "qualified empty prefix",
            names::is_qualified_name,
            "/a",
            false,
        ),
        (
            "qualified two slashes",
            names::is_qualified_name,
            "a/b/c",
            false,
        ),
        ("qualified bad char", names::is_qualified_name, "a b", false),
        ("label value empty", names::is_valid_label_value, "", true),
        (
            "label value ok",
            names::is_valid_label_value,
            "A-b_c.9",
            true,
        ),
        (
            "label value trailing",
            names::is_valid_label_value,
            "a-",
            false,
        ),
        ("port name ok", names::is_valid_port_name, "http-2", true),
        (
            "port name digits only",
            names::is_valid_port_name,
            "123",
            false,
        ),
        (
            "port name double dash",
            names::is_valid_port_name,
            "a--b",
            false,
        ),
        (
            "port name 16",
            names::is_valid_port_name,
            "abcdefghijklmnop",
            false,
        ),
        ("config key", names::is_config_map_key, "a.b_c-D", true),
        ("config key dotdot", names::is_config_map_key, "..a", false),
        ("config key slash", names::is_config_map_key, "a/b", false),
        (
            "wildcard",
            names::is_wildcard_dns1123_subdomain,
            "*.example.com",
            true,
        ),
        (
            "wildcard inner",
            names::is_wildcard_dns1123_subdomain,
            "a.*.com",
            false,
        ),
    ];
    for (name, f, input, ok) in cases {
        let errs = f(input);
        assert_eq!(errs.is_empty(), *ok, "case {name}: {errs:?}");
    }
    assert_eq!(
        names::is_valid_port_num(0),
        vec!["must be between 1 and 65535, inclusive".to_string()]
    );
    assert!(names::is_valid_port_num(65535).is_empty());
    assert_eq!(
        names::is_dns1123_label(&"a".repeat(64))[0],
        "must be no more than 63 characters"
    );
    assert_eq!(
        names::is_qualified_name("a b"),
        vec![NAME_PART_MSG.to_string()]
    );
    assert_eq!(
        names::is_valid_port_name("a--b"),
        vec!["must not contain consecutive hyphens".to_string()]
    );
}

#[test]
fn name_rules_per_kind() {
    let cases = [
        ("", "Namespace", NameRule::DnsLabel),
        ("", "Service", NameRule::Dns1035Label),
        ("", "Pod", NameRule::DnsSubdomain),
        ("", "ConfigMap", NameRule::DnsSubdomain),
        ("apps", "StatefulSet", NameRule::DnsLabel),
        ("apps", "Deployment", NameRule::DnsSubdomain),
        (
            "rbac.authorization.k8s.io",
            "ClusterRole",
            NameRule::PathSegment,
        ),
        (
            "rbac.authorization.k8s.io",
            "RoleBinding",
            NameRule::PathSegment,
        ),
        ("policy", "PodDisruptionBudget", NameRule::PathSegment),
        ("", "Event", NameRule::PathSegment),
        ("example.com", "Widget", NameRule::DnsSubdomain),
    ];
    for (group, kind, want) in cases {
        assert_eq!(NameRule::for_kind(group, kind), want, "{group}/{kind}");
    }
}

fn with(f: impl FnOnce(&mut ObjectMeta)) -> ObjectMeta {
    let mut m = meta("ok", Some("default"));
    f(&mut m);
    m
}

fn owner(name: &str, controller: bool) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".to_string(),
        kind: "ReplicaSet".to_string(),
        name: name.to_string(),
        uid: format!("uid-{name}"),
        controller: Some(controller),
        block_owner_deletion: None,
    }
}

#[test]
fn object_meta_create() {
    let long_value = "a".repeat(64);
    let huge = "x".repeat(256 * 1024);
    let name_msg = format!("metadata.name: Invalid value: \"Foo\": {SUBDOMAIN_MSG}");
    let gen_msg = format!("metadata.generateName: Invalid value: \"Foo-\": {SUBDOMAIN_MSG}");
    let ns_label = format!("metadata.name: Invalid value: \"a_b\": {LABEL_MSG}");
    let svc_msg = format!("metadata.name: Invalid value: \"1abc\": {DNS1035_MSG}");
    let label_key = format!("metadata.labels: Invalid value: \"a b\": {NAME_PART_MSG}");
    let long_label = format!(
        "metadata.labels: Invalid value: \"{long_value}\": must be no more than 63 characters"
    );
    let cases: Vec<(&str, ObjectMeta, bool, NameRule, Vec<Want>)> = vec![
        ("valid", with(|_| {}), true, NameRule::DnsSubdomain, vec![]),
        (
            "name required",
            with(|m| m.name = None),
            true,
            NameRule::DnsSubdomain,
            vec![(
                "metadata.name",
                Required,
                "metadata.name: Required value: name or generateName is required",
            )],
        ),
        // The server generates the name before validating, so a bare generateName fails.
        (
            "generateName alone",
            with(|m| {
                m.name = None;
                m.generate_name = Some("web-".into());
            }),
            true,
            NameRule::DnsSubdomain,
            vec![(
                "metadata.name",
                Required,
                "metadata.name: Required value: name or generateName is required",
            )],
        ),
        (
            "generateName with generated name",
            with(|m| {
                m.name = Some("web-x7k2p".into());
                m.generate_name = Some("web-".into());
            }),
            true,
            NameRule::DnsSubdomain,
            vec![],
        ),
        (
            "bad name",
            with(|m| m.name = Some("Foo".into())),
            true,
            NameRule::DnsSubdomain,
            vec![("metadata.name", Invalid, &name_msg)],
        ),
        (
            "bad generateName",
            with(|m| {
                m.name = Some("foo-x7k2p".into());
                m.generate_name = Some("Foo-".into());
            }),
            true,
            NameRule::DnsSubdomain,
            vec![("metadata.generateName", Invalid, &gen_msg)],
        ),
        (
            "namespace name is a label",
            with(|m| {
                m.name = Some("a_b".into());
                m.namespace = None;
            }),
            false,
            NameRule::DnsLabel,
            vec![("metadata.name", Invalid, &ns_label)],
        ),
        (
            "label with dots",
            with(|m| {
                m.name = Some("a.b".into());
                m.namespace = None;
            }),
            false,
            NameRule::DnsLabel,
            vec![(
                "metadata.name",
                Invalid,
                "metadata.name: Invalid value: \"a.b\": must not contain dots",
            )],
        ),
        (
            "service name is DNS-1035",
            with(|m| m.name = Some("1abc".into())),
            true,
            NameRule::Dns1035Label,
            vec![("metadata.name", Invalid, &svc_msg)],
        ),
        (
            "path segment slash",
            with(|m| m.name = Some("a/b".into())),
            true,
            NameRule::PathSegment,
            vec![(
                "metadata.name",
                Invalid,
                "metadata.name: Invalid value: \"a/b\": may not contain '/'",
            )],
        ),
        (
            "path segment dots",
            with(|m| m.name = Some("..".into())),
            true,
            NameRule::PathSegment,
            vec![(
                "metadata.name",
                Invalid,
                "metadata.name: Invalid value: \"..\": may not be '..'",
            )],
        ),
        (
            "path segment allows upper",
            with(|m| m.name = Some("System:Admin".into())),
            true,
            NameRule::PathSegment,
            vec![],
        ),
        (
            "namespace required",
            with(|m| m.namespace = None),
            true,
            NameRule::DnsSubdomain,
            vec![(
                "metadata.namespace",
                Required,
                "metadata.namespace: Required value",
            )],
        ),
        (
            "namespace forbidden",
            with(|_| {}),
            false,
            NameRule::DnsSubdomain,
            vec![(
                "metadata.namespace",
                Forbidden,
                "metadata.namespace: Forbidden: not allowed on this type",
            )],
        ),
        (
            "label key",
            with(|m| m.labels = Some(labels(&[("a b", "x")]))),
            true,
            NameRule::DnsSubdomain,
            vec![("metadata.labels", Invalid, &label_key)],
        ),
        (
            "label value",
            with(|m| m.labels = Some(labels(&[("a", &long_value)]))),
            true,
            NameRule::DnsSubdomain,
            vec![("metadata.labels", Invalid, &long_label)],
        ),
        (
            "annotation size",
            with(|m| m.annotations = Some(labels(&[("a", &huge)]))),
            true,
            NameRule::DnsSubdomain,
            vec![(
                "metadata.annotations",
                TooLong,
                "metadata.annotations: Too long: may not be more than 262144 bytes",
            )],
        ),
        (
            "annotation key",
            with(|m| m.annotations = Some(labels(&[("-a", "")]))),
            true,
            NameRule::DnsSubdomain,
            vec![(
                "metadata.annotations",
                Invalid,
                "~metadata.annotations: Invalid value: \"-a\": name part must consist",
            )],
        ),
        (
            "two controllers",
            with(|m| m.owner_references = Some(vec![owner("a", true), owner("b", true)])),
            true,
            NameRule::DnsSubdomain,
            vec![(
                "metadata.ownerReferences",
                Invalid,
                "~Only one reference can have Controller set to true",
            )],
        ),
        (
            "owner fields",
            with(|m| m.owner_references = Some(vec![OwnerReference::default()])),
            true,
            NameRule::DnsSubdomain,
            vec![
                (
                    "metadata.ownerReferences.apiVersion",
                    Invalid,
                    "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty",
                ),
                (
                    "metadata.ownerReferences.kind",
                    Invalid,
                    "metadata.ownerReferences.kind: Invalid value: \"\": kind must not be empty",
                ),
                (
                    "metadata.ownerReferences.name",
                    Invalid,
                    "metadata.ownerReferences.name: Invalid value: \"\": name must not be empty",
                ),
                (
                    "metadata.ownerReferences.uid",
                    Invalid,
                    "metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty",
                ),
            ],
        ),
        (
            "standard finalizer",
            with(|m| m.finalizers = Some(vec!["kubernetes".into(), "foregroundDeletion".into()])),
            true,
            NameRule::DnsSubdomain,
            vec![],
        ),
        (
            "qualified finalizer",
            with(|m| m.finalizers = Some(vec!["example.com/cleanup".into()])),
            true,
            NameRule::DnsSubdomain,
            vec![],
        ),
        (
            "unqualified finalizer",
            with(|m| m.finalizers = Some(vec!["cleanup".into()])),
            true,
            NameRule::DnsSubdomain,
            vec![(
                "~",
                Invalid,
                "~name is neither a standard finalizer name nor is it fully qualified",
            )],
        ),
        (
            "negative grace period",
            with(|m| m.deletion_grace_period_seconds = Some(-1)),
            true,
            NameRule::DnsSubdomain,
            vec![],
        ),
    ];
    for (name, m, namespaced, rule, want) in cases {
        let errs = validate_object_meta(&m, namespaced, rule);
        // "~" as a field means: any finalizer path.
        let want: Vec<Want> = want
            .into_iter()
            .map(|(f, k, msg)| {
                if f == "~" {
                    (errs.first().map_or("", |e| e.field.as_str()), k, msg)
                } else {
                    (f, k, msg)
                }
            })
            .collect();
        expect(name, &errs, &want);
    }
}

#[test]
fn custom_resources_skip_the_core_finalizer_rule() {
    let m = with(|m| m.finalizers = Some(vec!["cleanup".into()]));
    assert!(validate_object_meta_for("example.com", "Widget", &m, true).is_empty());
    assert_eq!(validate_object_meta_for("", "ConfigMap", &m, true).len(), 1);
}

#[test]
fn object_meta_update() {
    let base = with(|m| {
        m.uid = Some("u1".into());
        m.resource_version = Some("5".into());
        m.generation = Some(2);
    });
    let cases: Vec<(&str, ObjectMeta, Vec<Want>)> = vec![
        ("unchanged", base.clone(), vec![]),
        (
            "labels may change",
            {
                let mut m = base.clone();
                m.labels = Some(labels(&[("a", "b")]));
                m
            },
            vec![],
        ),
        (
            "name",
            {
                let mut m = base.clone();
                m.name = Some("other".into());
                m
            },
            vec![(
                "metadata.name",
                Invalid,
                "metadata.name: Invalid value: \"other\": field is immutable",
            )],
        ),
        (
            "namespace",
            {
                let mut m = base.clone();
                m.namespace = Some("kube-system".into());
                m
            },
            vec![(
                "metadata.namespace",
                Invalid,
                "metadata.namespace: Invalid value: \"kube-system\": field is immutable",
            )],
        ),
        (
            "uid",
            {
                let mut m = base.clone();
                m.uid = Some("u2".into());
                m
            },
            vec![(
                "metadata.uid",
                Invalid,
                "metadata.uid: Invalid value: \"u2\": field is immutable",
            )],
        ),
        (
            "resourceVersion",
            {
                let mut m = base.clone();
                m.resource_version = None;
                m
            },
            vec![(
                "metadata.resourceVersion",
                Invalid,
                "metadata.resourceVersion: Invalid value: \"\": must be specified for an update",
            )],
        ),
        (
            "generation",
            {
                let mut m = base.clone();
                m.generation = Some(1);
                m
            },
            vec![(
                "metadata.generation",
                Invalid,
                "metadata.generation: Invalid value: 1: must not be decremented",
            )],
        ),
        (
            "creationTimestamp",
            {
                let mut m = base.clone();
                m.creation_timestamp = Some(clipper_proto::Time(0));
                m
            },
            vec![(
                "metadata.creationTimestamp",
                Invalid,
                "metadata.creationTimestamp: Invalid value: 1970-01-01 00:00:00 +0000 UTC: field is immutable",
            )],
        ),
    ];
    for (name, new, want) in cases {
        expect(name, &validate_object_meta_update(&new, &base), &want);
    }
}

#[test]
fn status_message() {
    let a = FieldError::required(
        &Path::new("spec")
            .child("containers")
            .index(0)
            .child("image"),
        "",
    );
    let b = FieldError::invalid(&Path::new("metadata").child("name"), "Foo", "bad");
    assert_eq!(a.message(), "spec.containers[0].image: Required value");
    assert_eq!(a.reason(), "FieldValueRequired");
    assert_eq!(b.reason(), "FieldValueInvalid");
    assert_eq!(
        invalid_message("Pod", "web", std::slice::from_ref(&a)),
        "Pod \"web\" is invalid: spec.containers[0].image: Required value"
    );
    assert_eq!(
        invalid_message(
            &qualified_kind("apps", "Deployment"),
            "web",
            &[a.clone(), b.clone(), a.clone()]
        ),
        "Deployment.apps \"web\" is invalid: [spec.containers[0].image: Required value, metadata.name: Invalid value: \"Foo\": bad]"
    );
    let reasons: Vec<&str> = [
        Required,
        Invalid,
        NotSupported,
        Duplicate,
        Forbidden,
        TooLong,
        TooMany,
        NotFound,
    ]
    .into_iter()
    .map(|k| k.reason())
    .collect();
    assert_eq!(
        reasons,
        [
            "FieldValueRequired",
            "FieldValueInvalid",
            "FieldValueNotSupported",
            "FieldValueDuplicate",
            "FieldValueForbidden",
            "FieldValueTooLong",
            "FieldValueTooMany",
            "FieldValueNotFound"
        ]
    );
    let ns = FieldError::not_supported(&Path::new("spec").child("type"), "X", &["A", "B"]);
    assert_eq!(
        ns.message(),
        "spec.type: Unsupported value: \"X\": supported values: \"A\", \"B\""
    );
    assert_eq!(
        FieldError::invalid(&Path::new("a"), "quote\"d", "x").message(),
        "a: Invalid value: \"quote\\\"d\": x"
    );
}
