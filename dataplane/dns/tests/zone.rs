//! The zone, table-driven: every record kind, the negative answers and the edge cases.

use clipper_dns::{Answer, Name, PodMode, RData, Record, RecordType, Zone, ZoneConfig, ZoneHandle};
use clipper_proto::api::core::v1::{Pod, Service};
use clipper_proto::api::discovery::v1::EndpointSlice;
use serde_json::json;

fn service(value: serde_json::Value) -> Service {
    serde_json::from_value(value).expect("test Service")
}

fn slice(value: serde_json::Value) -> EndpointSlice {
    serde_json::from_value(value).expect("test EndpointSlice")
}

fn pod(value: serde_json::Value) -> Pod {
    serde_json::from_value(value).expect("test Pod")
}

fn cluster_ip(ns: &str, name: &str, ips: &[&str], ports: serde_json::Value) -> Service {
    service(json!({
        "metadata": {"namespace": ns, "name": name},
        "spec": {"type": "ClusterIP", "clusterIP": ips[0], "clusterIPs": ips, "ports": ports}
    }))
}

fn headless(ns: &str, name: &str, ports: serde_json::Value, publish_not_ready: bool) -> Service {
    service(json!({
        "metadata": {"namespace": ns, "name": name},
        "spec": {"clusterIP": "None", "clusterIPs": ["None"], "ports": ports,
                 "publishNotReadyAddresses": publish_not_ready}
    }))
}

fn endpoint_slice(
    ns: &str,
    name: &str,
    service: &str,
    address_type: &str,
    endpoints: serde_json::Value,
    ports: serde_json::Value,
) -> EndpointSlice {
    slice(json!({
        "metadata": {"namespace": ns, "name": name,
                     "labels": {"kubernetes.io/service-name": service}},
        "addressType": address_type,
        "endpoints": endpoints,
        "ports": ports
    }))
}

fn running_pod(ns: &str, name: &str, ips: &[&str]) -> Pod {
    let pod_ips: Vec<_> = ips.iter().map(|ip| json!({"ip": ip})).collect();
    pod(json!({
        "metadata": {"namespace": ns, "name": name},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
        "status": {"podIP": ips[0], "podIPs": pod_ips}
    }))
}

/// The cluster every table runs against.
fn fixture(config: ZoneConfig) -> Zone {
    let mut zone = Zone::new(config).expect("zone");
    zone.upsert_service(&cluster_ip(
        "default",
        "web",
        &["10.96.0.20"],
        json!([{"name": "http", "port": 80, "protocol": "TCP"},
               {"name": "dns", "port": 53, "protocol": "UDP"}]),
    ))
    .unwrap();
    zone.upsert_service(&cluster_ip(
        "default",
        "dual",
        &["10.96.0.30", "fd00::30"],
        json!([{"port": 8080}]),
    ))
    .unwrap();
    zone.upsert_service(&cluster_ip(
        "other",
        "web",
        &["10.96.1.1"],
        json!([{"name": "http", "port": 8000}]),
    ))
    .unwrap();
    zone.upsert_service(&headless(
        "default",
        "db",
        json!([{"name": "pg", "port": 5432}]),
        false,
    ))
    .unwrap();
    zone.upsert_slice(&endpoint_slice(
        "default",
        "db-v4",
        "db",
        "IPv4",
        json!([
            {"addresses": ["10.0.0.1"], "hostname": "db-0", "conditions": {"ready": true}},
            {"addresses": ["10.0.0.2"]},
            {"addresses": ["10.0.0.3"], "hostname": "db-2", "conditions": {"ready": false}}
        ]),
        json!([{"name": "pg", "port": 5432, "protocol": "TCP"}]),
    ))
    .unwrap();
    zone.upsert_slice(&endpoint_slice(
        "default",
        "db-v6",
        "db",
        "IPv6",
        json!([{"addresses": ["fd00::1"], "hostname": "db-0", "conditions": {"ready": true}}]),
        json!([{"name": "pg", "port": 5432, "protocol": "TCP"}]),
    ))
    .unwrap();
    zone.upsert_service(&headless(
        "default",
        "peers",
        json!([{"name": "gossip", "port": 7946, "protocol": "UDP"}]),
        true,
    ))
    .unwrap();
    zone.upsert_slice(&endpoint_slice(
        "default",
        "peers-1",
        "peers",
        "IPv4",
        json!([{"addresses": ["10.0.1.1"], "hostname": "p-0", "conditions": {"ready": false}}]),
        json!([{"name": "gossip", "port": 7947, "protocol": "UDP"}]),
    ))
    .unwrap();
    zone.upsert_service(&headless("default", "empty", json!([{"port": 1}]), false))
        .unwrap();
    zone.upsert_service(&service(json!({
        "metadata": {"namespace": "default", "name": "ext"},
        "spec": {"type": "ExternalName", "externalName": "www.example.com"}
    })))
    .unwrap();
    zone.upsert_pod(&running_pod("default", "p", &["10.244.0.5", "fd00:244::5"]))
        .unwrap();
    zone
}

#[derive(Debug)]
enum Expect {
    Records(&'static [&'static str]),
    /// Answers, then additionals.
    WithAdditionals(&'static [&'static str], &'static [&'static str]),
    NoData,
    NxDomain,
    Forward,
}

fn render(record: &Record) -> String {
    match &record.data {
        RData::A(a) => format!("A {}", a.0),
        RData::AAAA(a) => format!("AAAA {}", a.0),
        RData::CNAME(c) => format!("CNAME {}", c.0),
        RData::PTR(p) => format!("PTR {}", p.0),
        RData::SRV(s) => format!("SRV {} {} {} {}", s.priority, s.weight, s.port, s.target),
        RData::TXT(t) => format!(
            "TXT {}",
            t.txt_data
                .iter()
                .map(|d| String::from_utf8_lossy(d).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        ),
        RData::SOA(s) => format!("SOA {} {} {}", s.mname, s.rname, s.minimum),
        other => format!("{} {other}", other.record_type()),
    }
}

fn check(zone: &Zone, cases: &[(&str, RecordType, Expect)]) {
    for (name, qtype, expect) in cases {
        let qname = Name::from_ascii(name).unwrap();
        let answer = zone.lookup(&qname, *qtype);
        let context = format!("{name} {qtype}: got {answer:?}");
        match (expect, &answer) {
            (
                Expect::Records(want),
                Answer::Records {
                    answers,
                    additionals: _,
                },
            ) => {
                let got: Vec<String> = answers.iter().map(render).collect();
                assert_eq!(got, *want, "{context}");
            }
            (
                Expect::WithAdditionals(want, want_extra),
                Answer::Records {
                    answers,
                    additionals,
                },
            ) => {
                let got: Vec<String> = answers.iter().map(render).collect();
                assert_eq!(got, *want, "{context}");
                let got: Vec<String> = additionals
                    .iter()
                    .map(|r| format!("{} {}", r.name, render(r)))
                    .collect();
                assert_eq!(got, *want_extra, "{context}");
            }
            (Expect::NoData, Answer::NoData { soa })
            | (Expect::NxDomain, Answer::NxDomain { soa }) => {
                assert_eq!(soa.name, *zone.domain(), "{context}");
                assert_eq!(soa.record_type(), RecordType::SOA, "{context}");
            }
            (Expect::Forward, Answer::Forward) => {}
            _ => panic!("{name} {qtype}: expected {expect:?}, got {answer:?}"),
        }
        // Answers are owned by the name as asked, made fully qualified.
        if let Answer::Records { answers, .. } = &answer {
            let mut owner = qname.clone();
            owner.set_fqdn(true);
            for record in answers {
                assert_eq!(record.name.to_ascii(), owner.to_ascii(), "{context}");
            }
        }
    }
}

use Expect::*;
use RecordType::{A, AAAA, ANY, CNAME, PTR, SOA, SRV, TXT};

#[test]
fn cluster_ip_services() {
    let zone = fixture(ZoneConfig::default());
    check(
        &zone,
        &[
            (
                "web.default.svc.cluster.local.",
                A,
                Records(&["A 10.96.0.20"]),
            ),
            ("web.default.svc.cluster.local.", AAAA, NoData),
            ("web.default.svc.cluster.local.", TXT, NoData),
            (
                "web.default.svc.cluster.local.",
                ANY,
                Records(&["A 10.96.0.20"]),
            ),
            ("web.other.svc.cluster.local.", A, Records(&["A 10.96.1.1"])),
            (
                "dual.default.svc.cluster.local.",
                A,
                Records(&["A 10.96.0.30"]),
            ),
            (
                "dual.default.svc.cluster.local.",
                AAAA,
                Records(&["AAAA fd00::30"]),
            ),
            (
                "dual.default.svc.cluster.local.",
                ANY,
                Records(&["A 10.96.0.30", "AAAA fd00::30"]),
            ),
        ],
    );
}

#[test]
fn names_are_case_insensitive_and_the_trailing_dot_optional() {
    let zone = fixture(ZoneConfig::default());
    check(
        &zone,
        &[
            (
                "WEB.Default.SVC.Cluster.Local.",
                A,
                Records(&["A 10.96.0.20"]),
            ),
            (
                "web.default.svc.cluster.local",
                A,
                Records(&["A 10.96.0.20"]),
            ),
            (
                "_HTTP._TCP.web.DEFAULT.svc.cluster.local.",
                SRV,
                Records(&["SRV 0 100 80 web.default.svc.cluster.local."]),
            ),
            (
                "DB-0.db.default.svc.cluster.local.",
                A,
                Records(&["A 10.0.0.1"]),
            ),
            (
                "10-244-0-5.DEFAULT.pod.cluster.local.",
                A,
                Records(&["A 10.244.0.5"]),
            ),
            ("DNS-VERSION.cluster.local.", TXT, Records(&["TXT 1.1.0"])),
        ],
    );
}

#[test]
fn negative_answers() {
    let zone = fixture(ZoneConfig::default());
    check(
        &zone,
        &[
            (
                "cluster.local.",
                SOA,
                Records(&["SOA ns.dns.cluster.local. hostmaster.cluster.local. 30"]),
            ),
            ("cluster.local.", A, NoData),
            ("svc.cluster.local.", A, NoData),
            ("pod.cluster.local.", A, NoData),
            ("default.svc.cluster.local.", A, NoData),
            ("default.pod.cluster.local.", A, NoData),
            ("nowhere.svc.cluster.local.", A, NxDomain),
            ("nowhere.pod.cluster.local.", A, NxDomain),
            ("web.nowhere.svc.cluster.local.", A, NxDomain),
            ("missing.default.svc.cluster.local.", A, NxDomain),
            ("missing.default.svc.cluster.local.", AAAA, NxDomain),
            ("foo.cluster.local.", A, NxDomain),
            ("web.default.foo.cluster.local.", A, NxDomain),
            ("a.b._c._d.web.default.svc.cluster.local.", A, NxDomain),
            ("x.y.web.default.svc.cluster.local.", A, NxDomain),
            ("dns-version.cluster.local.", A, NoData),
        ],
    );
}

#[test]
fn srv_records_for_named_ports() {
    let zone = fixture(ZoneConfig::default());
    check(
        &zone,
        &[
            (
                "_http._tcp.web.default.svc.cluster.local.",
                SRV,
                WithAdditionals(
                    &["SRV 0 100 80 web.default.svc.cluster.local."],
                    &["web.default.svc.cluster.local. A 10.96.0.20"],
                ),
            ),
            (
                "_dns._udp.web.default.svc.cluster.local.",
                SRV,
                Records(&["SRV 0 100 53 web.default.svc.cluster.local."]),
            ),
            // The name exists, without addresses of its own.
            ("_http._tcp.web.default.svc.cluster.local.", A, NoData),
            // Wrong protocol, unknown port, no underscores.
            ("_http._udp.web.default.svc.cluster.local.", SRV, NxDomain),
            ("_dns._tcp.web.default.svc.cluster.local.", SRV, NxDomain),
            ("_ftp._tcp.web.default.svc.cluster.local.", SRV, NxDomain),
            ("http.tcp.web.default.svc.cluster.local.", SRV, NxDomain),
            ("_._tcp.web.default.svc.cluster.local.", SRV, NxDomain),
            // SRV lives at _port._proto only.
            ("web.default.svc.cluster.local.", SRV, NoData),
            // `_tcp.<svc>` is an empty non-terminal while a named TCP port exists.
            ("_tcp.web.default.svc.cluster.local.", SRV, NoData),
            ("_sctp.web.default.svc.cluster.local.", SRV, NxDomain),
            // A port without a name has no SRV record.
            ("_tcp.dual.default.svc.cluster.local.", SRV, NxDomain),
            ("_8080._tcp.dual.default.svc.cluster.local.", SRV, NxDomain),
            (
                "_pg._tcp.db.default.svc.cluster.local.",
                SRV,
                WithAdditionals(
                    &[
                        "SRV 0 50 5432 db-0.db.default.svc.cluster.local.",
                        "SRV 0 50 5432 10-0-0-2.db.default.svc.cluster.local.",
                    ],
                    &[
                        "db-0.db.default.svc.cluster.local. A 10.0.0.1",
                        "db-0.db.default.svc.cluster.local. AAAA fd00::1",
                        "10-0-0-2.db.default.svc.cluster.local. A 10.0.0.2",
                    ],
                ),
            ),
            // The endpoint's port (from the slice), not the service's.
            (
                "_gossip._udp.peers.default.svc.cluster.local.",
                SRV,
                Records(&["SRV 0 100 7947 p-0.peers.default.svc.cluster.local."]),
            ),
            ("_pg._tcp.empty.default.svc.cluster.local.", SRV, NxDomain),
            ("_http._tcp.ext.default.svc.cluster.local.", SRV, NxDomain),
        ],
    );
}

#[test]
fn headless_services_and_endpoint_names() {
    let zone = fixture(ZoneConfig::default());
    check(
        &zone,
        &[
            // Not-ready 10.0.0.3 is left out.
            (
                "db.default.svc.cluster.local.",
                A,
                Records(&["A 10.0.0.1", "A 10.0.0.2"]),
            ),
            (
                "db.default.svc.cluster.local.",
                AAAA,
                Records(&["AAAA fd00::1"]),
            ),
            ("db.default.svc.cluster.local.", TXT, NoData),
            (
                "db-0.db.default.svc.cluster.local.",
                A,
                Records(&["A 10.0.0.1"]),
            ),
            (
                "db-0.db.default.svc.cluster.local.",
                AAAA,
                Records(&["AAAA fd00::1"]),
            ),
            (
                "10-0-0-2.db.default.svc.cluster.local.",
                A,
                Records(&["A 10.0.0.2"]),
            ),
            ("db-2.db.default.svc.cluster.local.", A, NxDomain),
            // An endpoint with a hostname is not also named by its address.
            ("10-0-0-1.db.default.svc.cluster.local.", A, NxDomain),
            ("db-9.db.default.svc.cluster.local.", A, NxDomain),
            // publishNotReadyAddresses publishes the not-ready endpoint.
            (
                "peers.default.svc.cluster.local.",
                A,
                Records(&["A 10.0.1.1"]),
            ),
            (
                "p-0.peers.default.svc.cluster.local.",
                A,
                Records(&["A 10.0.1.1"]),
            ),
            // No ready endpoint: NXDOMAIN, as the specification says.
            ("empty.default.svc.cluster.local.", A, NxDomain),
            // Endpoint names exist for ClusterIP services too, when they have endpoints; web
            // has none.
            ("10-0-0-2.web.default.svc.cluster.local.", A, NxDomain),
        ],
    );
}

#[test]
fn external_name_services() {
    let zone = fixture(ZoneConfig::default());
    check(
        &zone,
        &[
            (
                "ext.default.svc.cluster.local.",
                A,
                Records(&["CNAME www.example.com."]),
            ),
            (
                "ext.default.svc.cluster.local.",
                AAAA,
                Records(&["CNAME www.example.com."]),
            ),
            (
                "ext.default.svc.cluster.local.",
                CNAME,
                Records(&["CNAME www.example.com."]),
            ),
            ("x.ext.default.svc.cluster.local.", A, NxDomain),
        ],
    );
}

#[test]
fn pod_records() {
    let insecure = fixture(ZoneConfig::default());
    check(
        &insecure,
        &[
            (
                "10-244-0-5.default.pod.cluster.local.",
                A,
                Records(&["A 10.244.0.5"]),
            ),
            ("10-244-0-5.default.pod.cluster.local.", AAAA, NoData),
            // Insecure: any address in a known namespace.
            (
                "10-244-0-99.default.pod.cluster.local.",
                A,
                Records(&["A 10.244.0.99"]),
            ),
            (
                "fd00-244--5.default.pod.cluster.local.",
                AAAA,
                Records(&["AAAA fd00:244::5"]),
            ),
            ("10-244-0-5.nowhere.pod.cluster.local.", A, NxDomain),
            ("300-0-0-1.default.pod.cluster.local.", A, NxDomain),
            ("10-244-0.default.pod.cluster.local.", A, NxDomain),
            ("p.default.pod.cluster.local.", A, NxDomain),
            ("x.10-244-0-5.default.pod.cluster.local.", A, NxDomain),
        ],
    );
    let verified = fixture(ZoneConfig {
        pod_mode: PodMode::Verified,
        ..ZoneConfig::default()
    });
    check(
        &verified,
        &[
            (
                "10-244-0-5.default.pod.cluster.local.",
                A,
                Records(&["A 10.244.0.5"]),
            ),
            (
                "fd00-244--5.default.pod.cluster.local.",
                AAAA,
                Records(&["AAAA fd00:244::5"]),
            ),
            ("10-244-0-99.default.pod.cluster.local.", A, NxDomain),
            ("10-244-0-5.other.pod.cluster.local.", A, NxDomain),
        ],
    );
    let disabled = fixture(ZoneConfig {
        pod_mode: PodMode::Disabled,
        ..ZoneConfig::default()
    });
    check(
        &disabled,
        &[("10-244-0-5.default.pod.cluster.local.", A, NxDomain)],
    );
}

#[test]
fn reverse_records() {
    let zone = fixture(ZoneConfig::default());
    check(
        &zone,
        &[
            (
                "20.0.96.10.in-addr.arpa.",
                PTR,
                Records(&["PTR web.default.svc.cluster.local."]),
            ),
            (
                "1.0.0.10.IN-ADDR.ARPA.",
                PTR,
                Records(&["PTR db-0.db.default.svc.cluster.local."]),
            ),
            (
                "2.0.0.10.in-addr.arpa.",
                PTR,
                Records(&["PTR 10-0-0-2.db.default.svc.cluster.local."]),
            ),
            (
                "0.3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",
                PTR,
                Records(&["PTR dual.default.svc.cluster.local."]),
            ),
            // Not ready, unknown, partial: not the zone's.
            ("3.0.0.10.in-addr.arpa.", PTR, Forward),
            ("8.8.8.8.in-addr.arpa.", PTR, Forward),
            ("0.96.10.in-addr.arpa.", PTR, Forward),
            ("20.0.96.10.in-addr.arpa.", A, Forward),
        ],
    );
}

#[test]
fn names_outside_the_cluster_domain_are_forwarded() {
    let zone = fixture(ZoneConfig::default());
    check(
        &zone,
        &[
            ("example.com.", A, Forward),
            ("cluster.local.example.com.", A, Forward),
            ("web.default.svc.cluster.example.", A, Forward),
            ("local.", A, Forward),
            (".", SOA, Forward),
        ],
    );
}

#[test]
fn ttl_and_domain_are_configurable() {
    let zone = fixture(ZoneConfig {
        cluster_domain: "K8s.Test.".to_owned(),
        ttl: 5,
        pod_mode: PodMode::Insecure,
    });
    check(
        &zone,
        &[
            ("web.default.svc.k8s.test.", A, Records(&["A 10.96.0.20"])),
            ("web.default.svc.cluster.local.", A, Forward),
            (
                "_http._tcp.web.default.svc.k8s.test.",
                SRV,
                Records(&["SRV 0 100 80 web.default.svc.k8s.test."]),
            ),
            (
                "k8s.test.",
                SOA,
                Records(&["SOA ns.dns.k8s.test. hostmaster.k8s.test. 5"]),
            ),
        ],
    );
    let Answer::Records { answers, .. } =
        zone.lookup(&Name::from_ascii("web.default.svc.k8s.test.").unwrap(), A)
    else {
        panic!("no answer");
    };
    assert_eq!(answers[0].ttl, 5);
    let Answer::NxDomain { soa } =
        zone.lookup(&Name::from_ascii("nope.default.svc.k8s.test.").unwrap(), A)
    else {
        panic!("not NXDOMAIN");
    };
    assert_eq!(soa.ttl, 5);

    let default = fixture(ZoneConfig::default());
    let Answer::Records { answers, .. } = default.lookup(
        &Name::from_ascii("web.default.svc.cluster.local.").unwrap(),
        A,
    ) else {
        panic!("no answer");
    };
    assert_eq!(answers[0].ttl, 30);
}

#[test]
fn invalid_configuration_and_objects_are_errors() {
    for domain in ["", ".", "a..b"] {
        let error = Zone::new(ZoneConfig {
            cluster_domain: domain.to_owned(),
            ..ZoneConfig::default()
        })
        .expect_err(domain);
        assert!(
            error.to_string().contains("invalid cluster domain"),
            "{error}"
        );
    }
    let mut zone = Zone::new(ZoneConfig::default()).unwrap();
    let error = zone
        .upsert_service(&service(json!({"metadata": {"name": "x"}})))
        .unwrap_err();
    assert_eq!(error.to_string(), "Service without metadata.namespace");
    let error = zone
        .upsert_pod(&pod(json!({"metadata": {"namespace": "x"}})))
        .unwrap_err();
    assert_eq!(error.to_string(), "Pod without metadata.name");
}

fn lookup(zone: &Zone, name: &str, qtype: RecordType) -> Answer {
    zone.lookup(&Name::from_ascii(name).unwrap(), qtype)
}

#[test]
fn updates_and_removals() {
    let mut zone = fixture(ZoneConfig::default());
    let serial = |zone: &Zone| match &zone.soa().data {
        RData::SOA(soa) => soa.serial,
        _ => unreachable!(),
    };
    let before = serial(&zone);

    // A new ClusterIP replaces the old one, in the reverse index too.
    zone.upsert_service(&cluster_ip(
        "default",
        "web",
        &["10.96.0.21"],
        json!([{"name": "http", "port": 80}]),
    ))
    .unwrap();
    assert!(serial(&zone) > before);
    check(
        &zone,
        &[
            (
                "web.default.svc.cluster.local.",
                A,
                Records(&["A 10.96.0.21"]),
            ),
            (
                "21.0.96.10.in-addr.arpa.",
                PTR,
                Records(&["PTR web.default.svc.cluster.local."]),
            ),
            ("20.0.96.10.in-addr.arpa.", PTR, Forward),
            ("_dns._udp.web.default.svc.cluster.local.", SRV, NxDomain),
        ],
    );

    // An endpoint turning ready appears; a slice removed takes its endpoints along.
    zone.upsert_slice(&endpoint_slice(
        "default",
        "db-v4",
        "db",
        "IPv4",
        json!([{"addresses": ["10.0.0.3"], "hostname": "db-2", "conditions": {"ready": true}}]),
        json!([{"name": "pg", "port": 5432}]),
    ))
    .unwrap();
    check(
        &zone,
        &[
            ("db.default.svc.cluster.local.", A, Records(&["A 10.0.0.3"])),
            (
                "db-2.db.default.svc.cluster.local.",
                A,
                Records(&["A 10.0.0.3"]),
            ),
            ("1.0.0.10.in-addr.arpa.", PTR, Forward),
        ],
    );
    zone.remove_slice("default", "db-v4");
    zone.remove_slice("default", "db-v6");
    check(&zone, &[("db.default.svc.cluster.local.", A, NxDomain)]);

    // A slice whose label moves to another service moves with it.
    zone.upsert_slice(&endpoint_slice(
        "default",
        "peers-1",
        "db",
        "IPv4",
        json!([{"addresses": ["10.0.1.1"], "hostname": "p-0"}]),
        json!([{"name": "pg", "port": 5432}]),
    ))
    .unwrap();
    check(
        &zone,
        &[
            ("db.default.svc.cluster.local.", A, Records(&["A 10.0.1.1"])),
            ("peers.default.svc.cluster.local.", A, NxDomain),
        ],
    );

    // A service removed is NXDOMAIN; a namespace emptied of everything is unknown.
    zone.remove_service("other", "web");
    check(
        &zone,
        &[
            ("web.other.svc.cluster.local.", A, NxDomain),
            ("other.svc.cluster.local.", A, NxDomain),
        ],
    );
    assert!(!zone.has_namespace("other"));
    // Removing what is not there changes nothing.
    let unchanged = serial(&zone);
    zone.remove_service("other", "web");
    zone.remove_pod("nowhere", "p");
    zone.remove_slice("default", "nope");
    assert_eq!(serial(&zone), unchanged);

    // Pods keep their namespace known for pod names; removing the last one forgets it.
    zone.upsert_pod(&running_pod("lonely", "p", &["10.244.9.9"]))
        .unwrap();
    check(
        &zone,
        &[(
            "10-244-9-9.lonely.pod.cluster.local.",
            A,
            Records(&["A 10.244.9.9"]),
        )],
    );
    zone.remove_pod("lonely", "p");
    check(
        &zone,
        &[("10-244-9-9.lonely.pod.cluster.local.", A, NxDomain)],
    );

    // An ExternalName service turned ClusterIP.
    zone.upsert_service(&cluster_ip("default", "ext", &["10.96.0.40"], json!([])))
        .unwrap();
    check(
        &zone,
        &[(
            "ext.default.svc.cluster.local.",
            A,
            Records(&["A 10.96.0.40"]),
        )],
    );
}

#[test]
fn verified_pods_follow_their_ips() {
    let mut zone = Zone::new(ZoneConfig {
        pod_mode: PodMode::Verified,
        ..ZoneConfig::default()
    })
    .unwrap();
    zone.upsert_pod(&running_pod("ns", "a", &["10.244.0.1"]))
        .unwrap();
    zone.upsert_pod(&running_pod("ns", "b", &["10.244.0.1"]))
        .unwrap();
    zone.upsert_pod(&running_pod("ns", "a", &["10.244.0.2"]))
        .unwrap();
    assert!(matches!(
        lookup(&zone, "10-244-0-1.ns.pod.cluster.local.", A),
        Answer::Records { .. }
    ));
    assert!(matches!(
        lookup(&zone, "10-244-0-2.ns.pod.cluster.local.", A),
        Answer::Records { .. }
    ));
    zone.remove_pod("ns", "b");
    assert!(matches!(
        lookup(&zone, "10-244-0-1.ns.pod.cluster.local.", A),
        Answer::NxDomain { .. }
    ));
}

#[test]
fn a_handle_publishes_whole_updates_and_snapshots_stay_put() {
    let handle = ZoneHandle::new(Zone::new(ZoneConfig::default()).unwrap());
    let before = handle.snapshot();
    handle
        .update(|zone| {
            zone.upsert_service(&cluster_ip("ns", "a", &["10.96.0.1"], json!([])))?;
            zone.upsert_service(&cluster_ip("ns", "b", &["10.96.0.2"], json!([])))
        })
        .unwrap();
    let name = Name::from_ascii("b.ns.svc.cluster.local.").unwrap();
    assert!(matches!(handle.lookup(&name, A), Answer::Records { .. }));
    assert!(matches!(before.lookup(&name, A), Answer::NxDomain { .. }));
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn label() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("svc".to_owned()),
            Just("pod".to_owned()),
            Just("default".to_owned()),
            Just("db".to_owned()),
            Just("db-0".to_owned()),
            Just("_tcp".to_owned()),
            Just("_pg".to_owned()),
            Just("_".to_owned()),
            Just("in-addr".to_owned()),
            Just("ip6".to_owned()),
            Just("arpa".to_owned()),
            Just("cluster".to_owned()),
            Just("local".to_owned()),
            "[0-9]{1,4}",
            "[0-9a-f]{1,2}",
            "[a-z0-9-]{1,12}",
            "[0-9-]{1,20}",
            "[0-9a-f:-]{1,30}",
        ]
    }

    fn qtype() -> impl Strategy<Value = RecordType> {
        prop_oneof![
            Just(A),
            Just(AAAA),
            Just(SRV),
            Just(PTR),
            Just(CNAME),
            Just(TXT),
            Just(SOA),
            Just(ANY),
            Just(RecordType::MX),
        ]
    }

    proptest! {
        /// Any name: no panic, and an answer consistent with where the name lies.
        #[test]
        fn lookup_is_total(labels in proptest::collection::vec(label(), 0..8), qtype in qtype(), under_zone: bool) {
            let zone = fixture(ZoneConfig::default());
            let mut text = labels.join(".");
            if under_zone {
                text = if text.is_empty() { "cluster.local.".to_owned() } else { format!("{text}.cluster.local.") };
            } else if text.is_empty() {
                text = ".".to_owned();
            } else {
                text.push('.');
            }
            let Ok(name) = Name::from_ascii(&text) else { return Ok(()) };
            let answer = zone.lookup(&name, qtype);
            if under_zone && qtype != PTR {
                prop_assert!(!matches!(answer, Answer::Forward), "{text} {qtype}: {answer:?}");
            }
            if let Answer::Records { answers, .. } = &answer {
                prop_assert!(!answers.is_empty());
            }
        }
    }
}
