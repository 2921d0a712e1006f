//! The registry strategy and validation of CertificateSigningRequests, against kube's
//! rules and messages.

use super::*;
use clipper_proto::ByteString;
use clipper_proto::api::certificates::v1::CertificateSigningRequestStatus;

fn key() -> rcgen::KeyPair {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
}

fn csr(signer: &str, usages: &[&str]) -> Csr {
    let mut c = Csr::default();
    c.metadata.name = Some("req".into());
    c.spec.request = ByteString(
        request::build("alice", &["dev"], &[], &[], &key())
            .unwrap()
            .into_bytes(),
    );
    c.spec.signer_name = signer.into();
    c.spec.usages = Some(usages.iter().map(|u| u.to_string()).collect());
    c
}

fn cond(t: &str) -> Condition {
    Condition {
        type_: t.into(),
        status: "True".into(),
        ..Default::default()
    }
}

fn messages(errs: &[FieldError]) -> Vec<String> {
    errs.iter().map(FieldError::message).collect()
}

fn with_conditions(mut c: Csr, conds: &[&str]) -> Csr {
    c.status = Some(CertificateSigningRequestStatus {
        conditions: Some(conds.iter().map(|t| cond(t)).collect()),
        certificate: None,
    });
    c
}

#[test]
fn a_good_request_is_valid() {
    let c = csr(KUBE_APISERVER_CLIENT, &["client auth", "digital signature"]);
    assert!(validate(&c, None).is_empty(), "{:?}", validate(&c, None));
}

#[test]
fn bad_requests_get_kubes_field_errors() {
    let mut c = csr("example.com", &["client auth", "client auth", "flying"]);
    c.spec.request = ByteString(b"not pem".to_vec());
    c.spec.expiration_seconds = Some(60);
    let m = messages(&validate(&c, None));
    assert!(
        m.contains(
            &"spec.request: Invalid value: PEM block type must be CERTIFICATE REQUEST".to_string()
        ) || m
            .iter()
            .any(|s| s.starts_with("spec.request: Invalid value")
                && s.contains("CERTIFICATE REQUEST")),
        "{m:?}"
    );
    assert!(
        m.contains(&"spec.usages[1]: Duplicate value: \"client auth\"".to_string()),
        "{m:?}"
    );
    assert!(
        m.iter()
            .any(|s| s.starts_with("spec.usages[2]: Unsupported value: \"flying\"")),
        "{m:?}"
    );
    assert!(m.contains(&"spec.signerName: Invalid value: \"example.com\": must be a fully qualified domain and path of the form 'example.com/signer-name'".to_string()), "{m:?}");
    assert!(m.contains(&"spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 600 seconds (10 minutes)".to_string()), "{m:?}");
    let mut empty = csr("", &[]);
    empty.spec.usages = None;
    let m = messages(&validate(&empty, None));
    assert!(
        m.contains(&"spec.usages: Required value".to_string()),
        "{m:?}"
    );
    assert!(
        m.contains(&"spec.signerName: Required value".to_string()),
        "{m:?}"
    );
    let legacy = csr(LEGACY_UNKNOWN, &["client auth"]);
    let m = messages(&validate(&legacy, None));
    assert!(
        m.iter()
            .any(|s| s.contains("the legacy signerName is not allowed")),
        "{m:?}"
    );
}

#[test]
fn create_records_the_requester_and_clears_the_status() {
    let mut c = with_conditions(csr(KUBE_APISERVER_CLIENT, &["client auth"]), &[APPROVED]);
    c.spec.username = Some("mallory".into());
    c.spec.groups = Some(vec!["system:masters".into()]);
    let user = UserInfo::new("alice", &["dev", "system:authenticated"]);
    prepare_for_create(&mut c, Some(&user));
    assert_eq!(c.spec.username.as_deref(), Some("alice"));
    assert_eq!(
        c.spec.groups,
        Some(vec!["dev".to_string(), "system:authenticated".to_string()])
    );
    assert_eq!(c.spec.uid, None);
    assert_eq!(c.status, None);
}

#[test]
fn each_subresource_changes_only_its_part() {
    let old = csr(KUBE_APISERVER_CLIENT, &["client auth"]);
    let now = Time(1_700_000_000);
    // The main resource: spec and status stay.
    let mut new = with_conditions(old.clone(), &[APPROVED]);
    new.spec.signer_name = "example.com/other".into();
    prepare_for_update(&mut new, &old, None, now);
    assert_eq!(new.spec, old.spec);
    assert_eq!(new.status, None);
    // /approval: conditions change (and get timestamps), the certificate does not.
    let mut new = with_conditions(old.clone(), &[APPROVED]);
    new.status.as_mut().unwrap().certificate = Some(ByteString(b"x".to_vec()));
    prepare_for_update(&mut new, &old, Some("approval"), now);
    let st = new.status.as_ref().unwrap();
    assert_eq!(st.certificate, None);
    assert_eq!(
        st.conditions.as_ref().unwrap()[0].last_update_time,
        Some(now)
    );
    assert_eq!(
        st.conditions.as_ref().unwrap()[0].last_transition_time,
        Some(now)
    );
    assert!(validate_transition(&new, &old, Some("approval")).is_empty());
    // /status may not approve.
    let mut new = with_conditions(old.clone(), &[APPROVED]);
    prepare_for_update(&mut new, &old, Some("status"), now);
    assert_eq!(
        messages(&validate_transition(&new, &old, Some("status"))),
        vec![
            "status.conditions: Forbidden: updates may not add a condition of type \"Approved\""
                .to_string()
        ]
    );
}

#[test]
fn decisions_and_certificates_are_not_taken_back() {
    let approved = with_conditions(csr(KUBE_APISERVER_CLIENT, &["client auth"]), &[APPROVED]);
    let bare = csr(KUBE_APISERVER_CLIENT, &["client auth"]);
    assert_eq!(
        messages(&validate_transition(&bare, &approved, Some("approval"))),
        vec![
            "status.conditions: Forbidden: updates may not remove a condition of type \"Approved\""
                .to_string()
        ]
    );
    // Approved and Denied together are refused by validation.
    let both = with_conditions(bare.clone(), &[APPROVED, DENIED]);
    let m = messages(&validate(&both, Some(&approved)));
    assert!(m.contains(&"status.conditions[1].type: Invalid value: \"Denied\": Approved and Denied conditions are mutually exclusive".to_string()), "{m:?}");
    // Denied may only be True.
    let mut denied_false = with_conditions(bare.clone(), &[DENIED]);
    denied_false
        .status
        .as_mut()
        .unwrap()
        .conditions
        .as_mut()
        .unwrap()[0]
        .status = "False".into();
    let m = messages(&validate(&denied_false, Some(&bare)));
    assert!(
        m.iter()
            .any(|s| s.starts_with("status.conditions[0].status: Unsupported value: \"False\"")),
        "{m:?}"
    );
    // The certificate: only /status sets it, once.
    let mut issued = approved.clone();
    issued.status.as_mut().unwrap().certificate = Some(ByteString(b"one".to_vec()));
    assert_eq!(
        messages(&validate_transition(&issued, &approved, None)),
        vec!["status.certificate: Forbidden: updates may not set certificate content".to_string()]
    );
    assert!(validate_transition(&issued, &approved, Some("status")).is_empty());
    let mut reissued = issued.clone();
    reissued.status.as_mut().unwrap().certificate = Some(ByteString(b"two".to_vec()));
    assert_eq!(
        messages(&validate_transition(&reissued, &issued, Some("status"))),
        vec![
            "status.certificate: Forbidden: updates may not modify existing certificate content"
                .to_string()
        ]
    );
    // A set certificate must be PEM certificates.
    let m = messages(&validate(&issued, Some(&approved)));
    assert!(m.contains(&"status.certificate: Invalid value: \"<certificate data>\": must contain at least one CERTIFICATE PEM block".to_string()), "{m:?}");
}
