//! Tests of the admission module: table-driven validation cases per area (with exact
//! field paths, error types and messages), defaulting per kind, and property tests that
//! no input makes validation panic.

mod defaulting;
mod meta_names;
mod others;
mod pods;
mod props;
mod services_config;
mod workloads;

use std::collections::BTreeMap;

use clipper_proto::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use clipper_proto::api::meta::v1::{LabelSelector, ObjectMeta};

use super::{ErrorType, FieldError};

/// One expected error: its field path, type and either the exact message or, when the
/// text starts with `~`, a fragment the message must contain.
pub(super) type Want<'a> = (&'a str, ErrorType, &'a str);

/// Asserts that `errs` are exactly `want`, in order, for case `name`.
pub(super) fn expect(name: &str, errs: &[FieldError], want: &[Want]) {
    let got: Vec<String> = errs
        .iter()
        .map(|e| format!("{:?} {}", e.kind, e.message()))
        .collect();
    assert_eq!(errs.len(), want.len(), "case {name}: got {got:#?}");
    for (e, (field, kind, msg)) in errs.iter().zip(want) {
        assert_eq!(e.field, *field, "case {name}: got {got:#?}");
        assert_eq!(e.kind, *kind, "case {name}: got {got:#?}");
        match msg.strip_prefix('~') {
            Some(fragment) => {
                assert!(
                    e.message().contains(fragment),
                    "case {name}: {:?} lacks {fragment:?}",
                    e.message()
                )
            }
            None => assert_eq!(e.message(), *msg, "case {name}"),
        }
    }
}

pub(super) fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        ..ObjectMeta::default()
    }
}

pub(super) fn container(name: &str, image: &str) -> Container {
    Container {
        name: name.to_string(),
        image: Some(image.to_string()),
        ..Container::default()
    }
}

/// A pod spec with one container `c` running `nginx:1.27`, before defaulting.
pub(super) fn pod_spec() -> PodSpec {
    PodSpec {
        containers: vec![container("c", "nginx:1.27")],
        ..PodSpec::default()
    }
}

pub(super) fn template(app: &str, restart: Option<&str>) -> PodTemplateSpec {
    let mut spec = pod_spec();
    spec.restart_policy = restart.map(str::to_string);
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels(&[("app", app)])),
            ..ObjectMeta::default()
        }),
        spec: Some(spec),
    }
}

pub(super) fn selector(app: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels(&[("app", app)])),
        match_expressions: None,
    }
}

/// Defaults `obj` and validates it as a create.
pub(super) fn validate_new<T: 'static>(mut obj: T) -> Vec<FieldError> {
    super::default(&mut obj);
    super::validate(&obj, None)
}

/// Defaults both objects and validates `new` as an update of `old`.
pub(super) fn validate_upd<T: 'static>(mut new: T, mut old: T) -> Vec<FieldError> {
    super::default(&mut new);
    super::default(&mut old);
    super::validate(&new, Some(&old))
}
