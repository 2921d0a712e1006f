//! Tests of request authentication: certificates, bearer tokens, anonymous.

use super::*;
use crate::auth::bootstrap_token::{BootstrapToken, TokenOptions, token_secret};
use crate::auth::pki::CertificateAuthority;
use crate::auth::sa_token::{DEFAULT_ISSUER, ObjectRef, SigningKey, TokenIssuer, TokenRequest};

const NOW: i64 = 1_750_000_000;
const AUD: &str = "https://kubernetes.default.svc.cluster.local";

struct Fixture {
    ca: CertificateAuthority,
    issuer: TokenIssuer,
    authn: RequestAuthenticator,
    objects: StaticObjects,
}

fn fixture() -> Fixture {
    let ca = CertificateAuthority::generate("test-ca", NOW).unwrap();
    let issuer = TokenIssuer::new(SigningKey::generate().unwrap(), DEFAULT_ISSUER);
    let authn = RequestAuthenticator {
        service_account_tokens: Some(TokenVerifier::new(
            vec![issuer.verifying_key().clone()],
            &[DEFAULT_ISSUER],
            &[AUD],
        )),
        bootstrap_tokens: true,
        anonymous: true,
    };
    let mut objects = StaticObjects::default();
    objects.service_accounts.insert(
        ("ci".into(), "runner".into()),
        BoundObject {
            uid: "sa-1".into(),
            deletion_timestamp: None,
        },
    );
    let token = BootstrapToken {
        id: "abcdef".into(),
        secret: "0123456789abcdef".into(),
    };
    let secret = token_secret(
        &token,
        &TokenOptions {
            usage_authentication: true,
            expiration: Some(NOW + 600),
            ..TokenOptions::default()
        },
    )
    .unwrap();
    objects.secrets.insert(
        ("kube-system".into(), "bootstrap-token-abcdef".into()),
        secret,
    );
    Fixture {
        ca,
        issuer,
        authn,
        objects,
    }
}

fn sa_token(f: &Fixture) -> String {
    let req = TokenRequest {
        namespace: "ci".into(),
        service_account: ObjectRef::new("runner", "sa-1"),
        audiences: vec![AUD.into()],
        expiration_seconds: 3600,
        pod: None,
        secret: None,
        node: None,
    };
    f.issuer.issue(&req, NOW).unwrap().0
}

#[test]
fn bearer_header_parsing() {
    assert_eq!(bearer_token("Bearer abc"), Some("abc"));
    assert_eq!(bearer_token("bearer abc"), Some("abc"));
    assert_eq!(bearer_token("  Bearer abc  "), Some("abc"));
    assert_eq!(bearer_token("Bearer abc extra"), Some("abc"));
    assert_eq!(bearer_token("Basic dXNlcjpwYXNz"), None);
    assert_eq!(bearer_token("Bearer "), None);
    assert_eq!(bearer_token("Bearer"), None);
}

#[test]
fn client_certificate_wins_and_gets_authenticated_group() {
    let f = fixture();
    let cert = f.ca.issue_client_cert("jane", &["dev"], NOW, 3600).unwrap();
    let chain = [cert.cert_der()];
    let header = format!("Bearer {}", sa_token(&f));
    let creds = Credentials {
        client_certificates: &chain,
        authorization: Some(&header),
    };
    let user = f
        .authn
        .authenticate(&creds, &f.objects, NOW)
        .unwrap()
        .unwrap();
    assert_eq!(user.username, "jane");
    assert_eq!(user.groups, vec!["dev", "system:authenticated"]);
    assert!(user.extra.contains_key(names::CREDENTIAL_ID_KEY));
}

#[test]
fn certificate_without_common_name_falls_through() {
    let f = fixture();
    // A certificate whose subject has no CN: the serving certificate has CN, so build
    // one with rcgen directly.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "only-org");
    let der = params.self_signed(&key).unwrap().der().clone();
    assert_eq!(user_from_client_certificate(&der).unwrap(), None);
    let chain = [der];
    let creds = Credentials {
        client_certificates: &chain,
        authorization: None,
    };
    assert_eq!(
        f.authn.authenticate(&creds, &f.objects, NOW).unwrap(),
        Some(UserInfo::anonymous())
    );
    assert!(user_from_client_certificate(b"not a certificate").is_err());
}

#[test]
fn service_account_token_authenticates() {
    let f = fixture();
    let header = format!("Bearer {}", sa_token(&f));
    let creds = Credentials {
        client_certificates: &[],
        authorization: Some(&header),
    };
    let user = f
        .authn
        .authenticate(&creds, &f.objects, NOW + 5)
        .unwrap()
        .unwrap();
    assert_eq!(user.username, "system:serviceaccount:ci:runner");
    assert_eq!(user.uid, "sa-1");
    assert_eq!(
        user.groups,
        vec![
            "system:serviceaccounts",
            "system:serviceaccounts:ci",
            "system:authenticated"
        ]
    );

    // Expired: refused, not anonymous.
    let err = f
        .authn
        .authenticate(&creds, &f.objects, NOW + 3600 + 61)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid bearer token, service account token has expired"
    );

    // The service account was deleted: refused.
    let mut gone = f.objects.clone();
    gone.service_accounts.clear();
    assert!(f.authn.authenticate(&creds, &gone, NOW).is_err());

    // With service-account tokens off the same token is unrecognized.
    let off = RequestAuthenticator {
        service_account_tokens: None,
        ..f.authn.clone()
    };
    assert!(off.authenticate(&creds, &f.objects, NOW).is_err());
}

#[test]
fn bootstrap_token_authenticates() {
    let f = fixture();
    let creds = Credentials {
        client_certificates: &[],
        authorization: Some("Bearer abcdef.0123456789abcdef"),
    };
    let user = f
        .authn
        .authenticate(&creds, &f.objects, NOW)
        .unwrap()
        .unwrap();
    assert_eq!(user.username, "system:bootstrap:abcdef");
    assert_eq!(
        user.groups,
        vec!["system:bootstrappers", "system:authenticated"]
    );
    assert!(
        f.authn.authenticate(&creds, &f.objects, NOW + 600).is_err(),
        "expired"
    );
    let wrong = Credentials {
        client_certificates: &[],
        authorization: Some("Bearer abcdef.0123456789abcdee"),
    };
    assert_eq!(
        f.authn.authenticate(&wrong, &f.objects, NOW).unwrap_err(),
        AuthnError::InvalidBearerToken("token not recognized".into())
    );
    let off = RequestAuthenticator {
        bootstrap_tokens: false,
        ..f.authn.clone()
    };
    assert!(off.authenticate(&creds, &f.objects, NOW).is_err());
}

#[test]
fn anonymous_requests() {
    let f = fixture();
    let none = Credentials::default();
    let user = f
        .authn
        .authenticate(&none, &f.objects, NOW)
        .unwrap()
        .unwrap();
    assert_eq!(user.username, "system:anonymous");
    assert_eq!(user.groups, vec!["system:unauthenticated"]);
    let closed = RequestAuthenticator {
        anonymous: false,
        ..f.authn.clone()
    };
    assert_eq!(closed.authenticate(&none, &f.objects, NOW).unwrap(), None);
    // A non-bearer Authorization header is no credential.
    let basic = Credentials {
        client_certificates: &[],
        authorization: Some("Basic Zm9vOmJhcg=="),
    };
    assert_eq!(
        f.authn.authenticate(&basic, &f.objects, NOW).unwrap(),
        Some(UserInfo::anonymous())
    );
    // A garbage bearer token is refused even with anonymous access on.
    let junk = Credentials {
        client_certificates: &[],
        authorization: Some("Bearer junk"),
    };
    assert!(f.authn.authenticate(&junk, &f.objects, NOW).is_err());
}
