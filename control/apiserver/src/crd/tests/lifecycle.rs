//! Accepted names, naming conflicts, conditions, storage and served versions.

use clipper_proto::Time;
use clipper_proto::api::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionNames, CustomResourceDefinitionStatus,
};
use serde_json::json;

use super::{crd, crontab_crd};
use crate::crd::lifecycle::*;

fn now() -> Time {
    serde_json::from_value(json!("2024-05-01T10:00:00Z")).expect("time")
}

fn later() -> Time {
    serde_json::from_value(json!("2024-05-01T11:00:00Z")).expect("time")
}

fn names(
    plural: &str,
    singular: &str,
    kind: &str,
    short: &[&str],
) -> CustomResourceDefinitionNames {
    CustomResourceDefinitionNames {
        plural: plural.into(),
        singular: Some(singular.into()),
        kind: kind.into(),
        list_kind: Some(format!("{kind}List")),
        short_names: (!short.is_empty()).then(|| short.iter().map(|s| s.to_string()).collect()),
        categories: None,
    }
}

/// A CRD of `stable.example.com` that already got its names.
fn served(plural: &str, singular: &str, kind: &str, short: &[&str]) -> CustomResourceDefinition {
    let mut c = crontab_crd();
    c.metadata.name = Some(format!("{plural}.stable.example.com"));
    c.spec.names = names(plural, singular, kind, short);
    c.status = Some(CustomResourceDefinitionStatus {
        accepted_names: Some(c.spec.names.clone()),
        ..Default::default()
    });
    c
}

#[test]
fn fresh_crd_gets_its_names_then_is_established() {
    let mut c = crontab_crd();
    let others = [served("widgets", "widget", "Widget", &["wd"])];
    let used = UsedNames::from_crds("stable.example.com", others.iter());
    assert!(apply_naming(&mut c, &used, now()));
    let st = c.status.as_ref().expect("status");
    assert_eq!(st.accepted_names.as_ref(), Some(&c.spec.names));
    let na = find_condition(&c, NAMES_ACCEPTED).expect("NamesAccepted");
    assert_eq!(
        (
            na.status.as_str(),
            na.reason.as_deref(),
            na.message.as_deref()
        ),
        ("True", Some("NoConflicts"), Some("no conflicts found"))
    );
    assert_eq!(na.last_transition_time, Some(now()));
    let est = find_condition(&c, ESTABLISHED).expect("Established");
    assert_eq!(
        (
            est.status.as_str(),
            est.reason.as_deref(),
            est.message.as_deref()
        ),
        (
            "False",
            Some("Installing"),
            Some("the initial names have been accepted")
        )
    );
    assert!(!is_established(&c));
    assert!(
        !apply_naming(&mut c, &used, later()),
        "names already accepted: no-op"
    );
    assert!(apply_established(&mut c, later()));
    let est = find_condition(&c, ESTABLISHED).expect("Established");
    assert_eq!(
        (
            est.status.as_str(),
            est.reason.as_deref(),
            est.last_transition_time
        ),
        ("True", Some("InitialNamesAccepted"), Some(later()))
    );
    assert!(is_established(&c));
    assert!(!apply_established(&mut c, later()), "already established");
}

#[test]
fn naming_conflicts() {
    struct Case {
        name: &'static str,
        requested: CustomResourceDefinitionNames,
        reason: &'static str,
        message: &'static str,
        accepted: CustomResourceDefinitionNames,
    }
    let others = [
        served("widgets", "widget", "Widget", &["wd", "w"]),
        served("gadgets", "gadget", "Gadget", &["gd"]),
    ];
    let used = UsedNames::from_crds("stable.example.com", others.iter());
    let empty = CustomResourceDefinitionNames::default();
    let cases = vec![
        Case {
            name: "plural taken",
            requested: names("widgets", "crontab", "CronTab", &[]),
            reason: "PluralConflict",
            message: r#""widgets" is already in use"#,
            accepted: CustomResourceDefinitionNames {
                singular: Some("crontab".into()),
                kind: "CronTab".into(),
                list_kind: Some("CronTabList".into()),
                ..empty.clone()
            },
        },
        Case {
            name: "singular taken by another's plural",
            requested: names("crontabs", "gadgets", "CronTab", &[]),
            reason: "SingularConflict",
            message: r#""gadgets" is already in use"#,
            accepted: CustomResourceDefinitionNames {
                plural: "crontabs".into(),
                kind: "CronTab".into(),
                list_kind: Some("CronTabList".into()),
                ..empty.clone()
            },
        },
        Case {
            name: "two short names taken",
            requested: names("crontabs", "crontab", "CronTab", &["ct", "wd", "gd"]),
            reason: "ShortNamesConflict",
            message: r#"["wd" is already in use, "gd" is already in use]"#,
            accepted: CustomResourceDefinitionNames {
                short_names: None,
                ..names("crontabs", "crontab", "CronTab", &[])
            },
        },
        Case {
            name: "kind taken, and the last conflict wins the reason",
            requested: names("crontabs", "widget", "Widget", &[]),
            reason: "ListKindConflict",
            message: r#""WidgetList" is already in use"#,
            accepted: CustomResourceDefinitionNames {
                plural: "crontabs".into(),
                ..empty.clone()
            },
        },
    ];
    for c in cases {
        let mut x = crontab_crd();
        x.spec.names = c.requested.clone();
        let r = calculate_names(&x, &used);
        assert_eq!(r.names_accepted.status, "False", "{}", c.name);
        assert_eq!(
            r.names_accepted.reason.as_deref(),
            Some(c.reason),
            "{}",
            c.name
        );
        assert_eq!(
            r.names_accepted.message.as_deref(),
            Some(c.message),
            "{}",
            c.name
        );
        assert_eq!(r.accepted_names, c.accepted, "{}", c.name);
        assert_eq!(
            r.established.reason.as_deref(),
            Some("NotAccepted"),
            "{}",
            c.name
        );
    }
}

#[test]
fn other_groups_do_not_conflict_and_own_names_stay() {
    let mut elsewhere = served("crontabs", "crontab", "CronTab", &["ct"]);
    elsewhere.spec.group = "other.example.com".into();
    let used = UsedNames::from_crds("stable.example.com", [&elsewhere]);
    let r = calculate_names(&crontab_crd(), &used);
    assert_eq!(r.names_accepted.reason.as_deref(), Some("NoConflicts"));

    // A served CRD adding a short name keeps its accepted names even though they are "used"
    // (by itself).
    let mut me = served("crontabs", "crontab", "CronTab", &["ct"]);
    me.spec.names.short_names = Some(vec!["ct".into(), "cront".into()]);
    let used = UsedNames::from_crds("stable.example.com", [&me]);
    let r = calculate_names(&me, &used);
    assert_eq!(r.names_accepted.reason.as_deref(), Some("NoConflicts"));
    assert_eq!(
        r.accepted_names.short_names,
        Some(vec!["ct".to_string(), "cront".to_string()])
    );
}

#[test]
fn established_crd_with_a_new_conflict_stays_established() {
    let mut me = served("crontabs", "crontab", "CronTab", &[]);
    set_condition(
        &mut me,
        clipper_proto::api::apiextensions::v1::CustomResourceDefinitionCondition {
            type_: ESTABLISHED.into(),
            status: "True".into(),
            reason: Some("InitialNamesAccepted".into()),
            message: Some("the initial names have been accepted".into()),
            last_transition_time: None,
        },
        now(),
    );
    let other = served("widgets", "widget", "Widget", &[]);
    me.spec.names.singular = Some("widget".into());
    let used = UsedNames::from_crds("stable.example.com", [&other, &me]);
    assert!(apply_naming(&mut me, &used, later()));
    let est = find_condition(&me, ESTABLISHED).expect("Established");
    assert_eq!(
        (est.status.as_str(), est.last_transition_time),
        ("True", Some(now()))
    );
    assert_eq!(
        find_condition(&me, NAMES_ACCEPTED)
            .and_then(|c| c.reason.clone())
            .as_deref(),
        Some("SingularConflict")
    );
    assert_eq!(
        me.status
            .and_then(|s| s.accepted_names)
            .and_then(|n| n.singular)
            .as_deref(),
        Some("crontab")
    );
}

#[test]
fn storage_and_served_versions() {
    let mut c = crd(json!({
        "metadata": {"name": "crontabs.stable.example.com", "generation": 4},
        "spec": {"group": "stable.example.com", "scope": "Namespaced",
            "names": {"plural": "crontabs", "kind": "CronTab"},
            "versions": [
                {"name": "v1beta1", "served": false, "storage": false},
                {"name": "v1", "served": true, "storage": true}
            ]},
        "status": {"storedVersions": ["v1beta1"], "conditions": [{"type": "Established", "status": "True"}]}
    }));
    assert_eq!(storage_version(&c), Some("v1"));
    assert!(is_served(&c, "v1"));
    assert!(!is_served(&c, "v1beta1"));
    assert!(!is_served(&c, "v2"));
    let old = c.clone();
    prepare_crd_for_update(&mut c, &old);
    assert_eq!(c.metadata.generation, Some(4), "no spec change");
    assert_eq!(
        c.status.as_ref().and_then(|s| s.stored_versions.clone()),
        Some(vec!["v1beta1".to_string(), "v1".to_string()])
    );
    let mut changed = c.clone();
    changed.spec.versions[0].served = true;
    prepare_crd_for_update(&mut changed, &c);
    assert_eq!(changed.metadata.generation, Some(5));

    let mut fresh = c.clone();
    prepare_crd_for_create(&mut fresh);
    assert_eq!(fresh.metadata.generation, Some(1));
    assert_eq!(
        fresh.status,
        Some(CustomResourceDefinitionStatus {
            stored_versions: Some(vec!["v1".into()]),
            ..Default::default()
        })
    );
    let mut status_write = c.clone();
    status_write.spec.group = "sneaky.example.com".into();
    status_write.status = None;
    prepare_crd_for_status_update(&mut status_write, &c);
    assert_eq!(status_write.spec, c.spec);
    assert_eq!(status_write.status, None);
}
