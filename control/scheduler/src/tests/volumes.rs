//! VolumeBinding for bound claims: local volumes pin their pods, missing or unbound
//! claims are refused with kube-scheduler's words.

use serde_json::json;

use super::*;
use crate::cache::Cache;
use crate::schedule::{ScheduleError, Scheduler};

fn claim(
    name: &str,
    volume: &str,
    class: &str,
) -> clipper_proto::api::core::v1::PersistentVolumeClaim {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"volumeName": volume, "storageClassName": class,
                 "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }))
    .unwrap()
}

fn local_pv(name: &str, host: Option<&str>) -> clipper_proto::api::core::v1::PersistentVolume {
    let mut v = json!({
        "metadata": {"name": name},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "local": {"path": "/mnt/disk"}},
    });
    if let Some(h) = host {
        v["spec"]["nodeAffinity"] = json!({"required": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [h]}]}
        ]}});
    }
    serde_json::from_value(v).unwrap()
}

fn with_claims(name: &str, claims: &[&str]) -> Pod {
    let vols: Vec<_> = claims
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"name": format!("v{i}"), "persistentVolumeClaim": {"claimName": c}}))
        .collect();
    pod(name, json!({"spec": {"volumes": vols}}))
}

fn cache() -> Cache {
    let mut c = Cache::new();
    for n in ["n0", "n1", "n2"] {
        c.upsert_node(&node(n, json!({})));
    }
    c.upsert_volume(&local_pv("pv-n1", Some("n1")));
    c.upsert_volume(&local_pv("pv-n2", Some("n2")));
    c.upsert_volume(&local_pv("pv-any", None));
    c.upsert_claim(&claim("on-n1", "pv-n1", "local"));
    c.upsert_claim(&claim("on-n2", "pv-n2", "local"));
    c.upsert_claim(&claim("anywhere", "pv-any", "local"));
    c.upsert_claim(&claim("dangling", "pv-gone", "local"));
    c.upsert_claim(&claim("unbound", "", "standard"));
    c.upsert_claim(&claim("delayed", "", "local-wffc"));
    c.upsert_storage_class(
        &serde_json::from_value(json!({"metadata": {"name": "local-wffc"},
            "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer"}))
        .unwrap(),
    );
    c
}

#[test]
fn bound_claims_pin_pods_to_their_volumes() {
    let c = cache();
    let snap = c.snapshot();
    let mut s = Scheduler::new(Default::default(), 5);
    let cases: &[(&[&str], Result<&str, &str>)] = &[
        (&[], Ok("any")),
        (&["anywhere"], Ok("any")),
        (&["on-n1"], Ok("n1")),
        (&["on-n2", "anywhere"], Ok("n2")),
        (
            &["on-n1", "on-n2"],
            Err("0/3 nodes are available: 3 node(s) had volume node affinity conflict."),
        ),
        (
            &["missing"],
            Err("0/3 nodes are available: persistentvolumeclaim \"missing\" not found."),
        ),
        (
            &["unbound"],
            Err("0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims."),
        ),
        (
            &["dangling"],
            Err(
                "0/3 nodes are available: 3 node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s).",
            ),
        ),
        (
            &["delayed"],
            Err(
                "0/3 nodes are available: 3 node(s) didn't find available persistent volumes to bind.",
            ),
        ),
    ];
    for (claims, want) in cases {
        let p = pi(&with_claims("p", claims));
        let got = match s.schedule(&snap, &p) {
            Ok(r) => Ok(r.node),
            Err(ScheduleError::Fit(e)) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match (want, got) {
            (Ok("any"), Ok(_)) => {}
            (Ok(n), Ok(got)) => assert_eq!(&got, n, "{claims:?}"),
            (Err(m), Err(got)) => assert_eq!(&got, m, "{claims:?}"),
            (w, g) => panic!("{claims:?}: want {w:?}, got {g:?}"),
        }
    }
    // Ephemeral volumes use the claim <pod>-<volume>.
    let eph = pod(
        "web",
        json!({"spec": {"volumes": [{"name": "data", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}]}}),
    );
    assert_eq!(pi(&eph).claims, ["web-data"]);
    // Disabled, the plugin checks nothing.
    let mut off = Scheduler::new(
        crate::config::ProfileConfig {
            plugins: serde_json::from_value(
                json!({"filter": {"disabled": [{"name": "VolumeBinding"}]}}),
            )
            .unwrap(),
            ..Default::default()
        }
        .validate()
        .unwrap(),
        5,
    );
    assert!(
        off.schedule(&snap, &pi(&with_claims("p", &["missing"])))
            .is_ok()
    );
}

#[test]
fn volume_changes_reach_the_snapshot() {
    let mut c = cache();
    let p = pi(&with_claims("p", &["unbound"]));
    let mut s = Scheduler::new(Default::default(), 5);
    assert!(s.schedule(&c.snapshot(), &p).is_err());
    // The claim gets bound to the volume on n2.
    c.upsert_claim(&claim("unbound", "pv-n2", "standard"));
    assert_eq!(s.schedule(&c.snapshot(), &p).unwrap().node, "n2");
    c.remove_volume("pv-n2");
    assert!(s.schedule(&c.snapshot(), &p).is_err());
    c.remove_claim("default", "unbound");
    match s.schedule(&c.snapshot(), &p) {
        Err(ScheduleError::Fit(e)) => assert!(e.to_string().contains("not found")),
        other => panic!("{other:?}"),
    }
}
