//! The approver's, signer's and cleaner's decisions, with a real CA and real requests.

use super::*;
use clipper_proto::api::certificates::v1::CertificateSigningRequestStatus;

const NOW: i64 = 1_750_000_000;

fn ca() -> CertificateAuthority {
    CertificateAuthority::generate("test-ca", NOW).unwrap()
}

fn request_pem(cn: &str, orgs: &[&str], dns: &[&str]) -> Vec<u8> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    request::build(cn, orgs, dns, &[], &key)
        .unwrap()
        .into_bytes()
}

fn csr(signer: &str, req: Vec<u8>, usages: &[&str], requester: &str) -> Csr {
    let mut c = Csr::default();
    c.metadata.name = Some("req".into());
    c.metadata.creation_timestamp = Some(Time(NOW - 10));
    c.spec.request = ByteString(req);
    c.spec.signer_name = signer.into();
    c.spec.usages = Some(usages.iter().map(|u| u.to_string()).collect());
    c.spec.username = Some(requester.into());
    c.spec.groups = Some(vec!["system:bootstrappers".into()]);
    c
}

fn approve(mut c: Csr, at: i64) -> Csr {
    c.status = Some(CertificateSigningRequestStatus {
        conditions: Some(vec![Condition {
            type_: APPROVED.into(),
            status: "True".into(),
            last_update_time: Some(Time(at)),
            ..Default::default()
        }]),
        certificate: None,
    });
    c
}

fn node_client(requester: &str) -> Csr {
    csr(
        KUBE_APISERVER_CLIENT_KUBELET,
        request_pem("system:node:n1", &["system:nodes"], &[]),
        &["digital signature", "client auth"],
        requester,
    )
}

#[test]
fn the_approver_approves_node_client_requests_its_review_allows() {
    let ca = ca();
    let allow_nodeclient = |_: &UserInfo, sub: &str| sub == "nodeclient";
    let deny = |_: &UserInfo, _: &str| false;
    assert_eq!(
        decide(
            &node_client("system:bootstrap:abcdef"),
            NOW,
            &ca,
            &allow_nodeclient
        ),
        Action::Approve
    );
    assert_eq!(
        decide(&node_client("system:bootstrap:abcdef"), NOW, &ca, &deny),
        Action::Nothing
    );
    // Renewal by the node itself is reviewed against selfnodeclient.
    let asked = std::cell::RefCell::new(Vec::new());
    let record = |_: &UserInfo, sub: &str| {
        asked.borrow_mut().push(sub.to_string());
        sub == "selfnodeclient"
    };
    assert_eq!(
        decide(&node_client("system:node:n1"), NOW, &ca, &record),
        Action::Approve
    );
    assert_eq!(asked.borrow()[0], "selfnodeclient");
    // Not a node client: a person must decide.
    let not_node = csr(
        KUBE_APISERVER_CLIENT_KUBELET,
        request_pem("system:node:n1", &["dev"], &[]),
        &["client auth"],
        "system:bootstrap:abcdef",
    );
    let allow_all = |_: &UserInfo, _: &str| true;
    assert_eq!(decide(&not_node, NOW, &ca, &allow_all), Action::Nothing);
    let other_signer = csr(
        KUBE_APISERVER_CLIENT,
        request_pem("alice", &[], &[]),
        &["client auth"],
        "alice",
    );
    assert_eq!(decide(&other_signer, NOW, &ca, &allow_all), Action::Nothing);
}

#[test]
fn the_signer_issues_what_was_asked_by_the_cluster_ca() {
    let ca = ca();
    let deny = |_: &UserInfo, _: &str| false;
    let mut c = approve(node_client("system:bootstrap:abcdef"), NOW);
    c.spec.expiration_seconds = Some(3600);
    let Action::Issue(pem) = decide(&c, NOW, &ca, &deny) else {
        panic!("not issued: {:?}", decide(&c, NOW, &ca, &deny));
    };
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    let cert = block.parse_x509().unwrap();
    let user = crate::auth::authn::user_from_client_certificate(&block.contents)
        .unwrap()
        .unwrap();
    assert_eq!(user.username, "system:node:n1");
    assert_eq!(user.groups, vec!["system:nodes".to_string()]);
    assert_eq!(cert.validity().not_after.timestamp(), NOW + 3600);
    let issuer_ok = cert
        .verify_signature(Some(
            x509_parser::parse_x509_certificate(ca.cert_der())
                .unwrap()
                .1
                .public_key(),
        ))
        .is_ok();
    assert!(issuer_ok, "the certificate is not signed by the CA");
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    // A request the signer's checks refuse fails instead.
    let bad = approve(
        csr(
            KUBE_APISERVER_CLIENT,
            request_pem("alice", &[], &[]),
            &["server auth"],
            "alice",
        ),
        NOW,
    );
    assert!(matches!(decide(&bad, NOW, &ca, &deny), Action::Fail(m) if m.contains("server auth")));
    // Serving certificates need a name.
    let serving = approve(
        csr(
            KUBELET_SERVING,
            request_pem("system:node:n1", &["system:nodes"], &[]),
            &["server auth", "digital signature"],
            "system:node:n1",
        ),
        NOW,
    );
    assert!(
        matches!(decide(&serving, NOW, &ca, &deny), Action::Fail(m) if m.contains("subjectAltName"))
    );
    let serving = approve(
        csr(
            KUBELET_SERVING,
            request_pem("system:node:n1", &["system:nodes"], &["n1.example"]),
            &["server auth", "digital signature"],
            "system:node:n1",
        ),
        NOW,
    );
    let Action::Issue(pem) = decide(&serving, NOW, &ca, &deny) else {
        panic!("serving certificate not issued");
    };
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    let cert = block.parse_x509().unwrap();
    let san = cert.subject_alternative_name().unwrap().unwrap().value;
    assert_eq!(san.general_names.len(), 1);
    // Other signers' requests are not ours.
    let foreign = approve(
        csr(
            "example.com/x",
            request_pem("a", &[], &[]),
            &["client auth"],
            "a",
        ),
        NOW,
    );
    assert_eq!(decide(&foreign, NOW, &ca, &deny), Action::Nothing);
}

#[test]
fn the_cleaner_deletes_old_requests() {
    let ca = ca();
    let deny = |_: &UserInfo, _: &str| false;
    let decided = approve(
        csr(
            "example.com/x",
            request_pem("a", &[], &[]),
            &["client auth"],
            "a",
        ),
        NOW - DECIDED_EXPIRATION_SECS - 1,
    );
    assert_eq!(decide(&decided, NOW, &ca, &deny), Action::Delete);
    let mut pending = csr(
        "example.com/x",
        request_pem("a", &[], &[]),
        &["client auth"],
        "a",
    );
    pending.metadata.creation_timestamp = Some(Time(NOW - PENDING_EXPIRATION_SECS - 1));
    assert_eq!(decide(&pending, NOW, &ca, &deny), Action::Delete);
    pending.metadata.creation_timestamp = Some(Time(NOW - 60));
    assert_eq!(decide(&pending, NOW, &ca, &deny), Action::Nothing);
}
