//! Property tests: no input makes validation or defaulting panic, and the name
//! predicates agree with their definitions.

use clipper_proto::api::apps::v1::{Deployment, DeploymentSpec};
use clipper_proto::api::batch::v1::{CronJob, CronJobSpec};
use clipper_proto::api::core::v1::{
    ConfigMap, ContainerPort, Pod, Service, ServicePort, ServiceSpec,
};
use clipper_proto::api::meta::v1::ObjectMeta;
use clipper_proto::{IntOrString, Quantity};
use proptest::prelude::*;

use super::super::names::{self, NameRule};
use super::super::{Path, default, parse_cron_standard, validate, validate_object_meta};
use super::{labels, meta, pod_spec, selector, template};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9.-]{0,70}",
        "[ -~]{0,40}",
        "\\PC{0,20}",
        Just(String::new()),
        Just("..".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn metadata_never_panics(name in text(), key in text(), value in text(), fin in text(), namespaced: bool) {
        let mut m: ObjectMeta = meta(&name, namespaced.then_some("default"));
        m.generate_name = Some(name.clone());
        m.labels = Some(labels(&[(&key, &value)]));
        m.annotations = Some(labels(&[(&value, &key)]));
        m.finalizers = Some(vec![fin]);
        for rule in [NameRule::DnsSubdomain, NameRule::DnsLabel, NameRule::Dns1035Label, NameRule::PathSegment, NameRule::IpAddress] {
            for e in validate_object_meta(&m, namespaced, rule) {
                prop_assert!(e.message().starts_with("metadata."));
            }
        }
    }

    #[test]
    fn label_predicate_matches_definition(s in "[a-z0-9-]{1,70}") {
        let ok = s.len() <= 63 && !s.starts_with('-') && !s.ends_with('-');
        prop_assert_eq!(names::is_dns1123_label(&s).is_empty(), ok);
    }

    #[test]
    fn pods_never_panic(
        cname in text(), image in text(), port in any::<i32>(), proto in text(), qty in "[0-9]{1,4}(m|Mi|Gi)?",
        restart in text(), dns in text(), grace in any::<i64>(), pname in text(),
    ) {
        let mut spec = pod_spec();
        spec.containers[0].name = cname;
        spec.containers[0].image = Some(image);
        spec.containers[0].ports = Some(vec![ContainerPort { container_port: port, protocol: Some(proto), name: Some(pname), ..ContainerPort::default() }]);
        if let Ok(q) = Quantity::parse(&qty) {
            spec.overhead = Some(std::collections::BTreeMap::from([("cpu".to_string(), q)]));
        }
        spec.restart_policy = Some(restart);
        spec.dns_policy = Some(dns);
        spec.termination_grace_period_seconds = Some(grace);
        let mut pod = Pod { metadata: meta("p", Some("default")), spec: Some(spec), status: None };
        let old = pod.clone();
        default(&mut pod);
        let _ = validate(&pod, None);
        let _ = validate(&pod, Some(&old));
    }

    #[test]
    fn services_never_panic(ty in text(), port in any::<i32>(), node_port in any::<i32>(), target in text(), ip in text(), ext in text()) {
        let mut svc = Service {
            metadata: meta("s", Some("default")),
            spec: Some(ServiceSpec {
                type_: Some(ty),
                ports: Some(vec![ServicePort { port, node_port: Some(node_port), target_port: Some(IntOrString::String(target)), ..ServicePort::default() }]),
                cluster_ip: Some(ip.clone()),
                cluster_ips: Some(vec![ip]),
                external_name: Some(ext),
                ..ServiceSpec::default()
            }),
            status: None,
        };
        let old = svc.clone();
        default(&mut svc);
        let _ = validate(&svc, None);
        let _ = validate(&svc, Some(&old));
    }

    #[test]
    fn cron_never_panics(spec in "[-0-9*/,? A-Za-z@=]{0,40}") {
        let _ = parse_cron_standard(&spec);
        let cj = CronJob {
            metadata: meta("c", Some("default")),
            spec: Some(CronJobSpec { schedule: spec, ..CronJobSpec::default() }),
            status: None,
        };
        let _ = validate(&cj, None);
    }

    #[test]
    fn config_maps_and_workloads_never_panic(key in text(), value in text(), replicas in any::<i32>(), surge in text()) {
        let cm = ConfigMap { metadata: meta("c", Some("default")), data: Some(labels(&[(&key, &value)])), ..ConfigMap::default() };
        let _ = validate(&cm, Some(&cm));
        let mut d = Deployment {
            metadata: meta("d", Some("default")),
            spec: Some(DeploymentSpec { replicas: Some(replicas), selector: selector(&value), template: template(&key, None), ..DeploymentSpec::default() }),
            status: None,
        };
        default(&mut d);
        if let Some(ru) = d.spec.as_mut().and_then(|s| s.strategy.as_mut()).and_then(|s| s.rolling_update.as_mut()) {
            ru.max_surge = Some(IntOrString::String(surge));
        }
        let _ = validate(&d, None);
    }

    #[test]
    fn ip_parsing_never_panics(s in "[0-9a-fA-F:./%]{0,45}") {
        let path = Path::new("ip");
        let _ = names::is_valid_ip(&path, &s);
        let _ = names::is_valid_cidr(&path, &s);
    }
}
