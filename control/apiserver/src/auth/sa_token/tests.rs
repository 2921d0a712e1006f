//! Service-account token tests: claims, signature, times, audience, tampering, revocation.

use super::*;
use crate::auth::authn::StaticObjects;

const NOW: i64 = 1_750_000_000;
const AUD: &str = "https://kubernetes.default.svc.cluster.local";

fn issuer() -> TokenIssuer {
    TokenIssuer::new(SigningKey::generate().unwrap(), DEFAULT_ISSUER)
}

fn verifier(issuer: &TokenIssuer) -> TokenVerifier {
    TokenVerifier::new(
        vec![issuer.verifying_key().clone()],
        &[DEFAULT_ISSUER],
        &[AUD, "clipper"],
    )
}

fn request() -> TokenRequest {
    TokenRequest {
        namespace: "team".into(),
        service_account: ObjectRef::new("builder", "sa-uid-1"),
        audiences: vec![AUD.into()],
        expiration_seconds: 3600,
        pod: Some(ObjectRef::new("web-0", "pod-uid-1")),
        secret: None,
        node: Some(ObjectRef::new("worker-1", "node-uid-1")),
    }
}

fn objects() -> StaticObjects {
    let mut o = StaticObjects::default();
    let live = |uid: &str| BoundObject {
        uid: uid.into(),
        deletion_timestamp: None,
    };
    o.service_accounts
        .insert(("team".into(), "builder".into()), live("sa-uid-1"));
    o.pods
        .insert(("team".into(), "web-0".into()), live("pod-uid-1"));
    o.nodes.insert("worker-1".into(), live("node-uid-1"));
    o
}

fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_string).collect()
}

fn json_segment(s: &str) -> serde_json::Value {
    serde_json::from_slice(&b64url_decode(s).unwrap()).unwrap()
}

#[test]
fn issued_token_has_kubernetes_claims_and_verifies() {
    let iss = issuer();
    let (token, claims) = iss.issue(&request(), NOW).unwrap();
    let parts = segments(&token);
    assert_eq!(parts.len(), 3);
    let header = json_segment(&parts[0]);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], iss.verifying_key().key_id());
    let payload = json_segment(&parts[1]);
    assert_eq!(payload["iss"], DEFAULT_ISSUER);
    assert_eq!(payload["sub"], "system:serviceaccount:team:builder");
    assert_eq!(payload["aud"], serde_json::json!([AUD]));
    assert_eq!(payload["iat"], NOW);
    assert_eq!(payload["nbf"], NOW);
    assert_eq!(payload["exp"], NOW + 3600);
    assert_eq!(payload["kubernetes.io"]["namespace"], "team");
    assert_eq!(
        payload["kubernetes.io"]["serviceaccount"],
        serde_json::json!({"name": "builder", "uid": "sa-uid-1"})
    );
    assert_eq!(
        payload["kubernetes.io"]["pod"],
        serde_json::json!({"name": "web-0", "uid": "pod-uid-1"})
    );
    assert_eq!(
        payload["kubernetes.io"]["node"],
        serde_json::json!({"name": "worker-1", "uid": "node-uid-1"})
    );
    assert!(payload["kubernetes.io"].get("secret").is_none());
    let jti = payload["jti"].as_str().unwrap();
    assert_eq!(jti.len(), 36);
    assert_eq!(&jti[14..15], "4", "version 4 UUID");

    let verified = verifier(&iss).verify(&token, NOW + 10).unwrap();
    assert_eq!(verified.claims, claims);
    assert_eq!(verified.audiences, vec![AUD]);
    check_bound_objects(&verified.claims, &objects(), NOW + 10).unwrap();
    let user = verified.user_info();
    assert_eq!(user.username, "system:serviceaccount:team:builder");
    assert_eq!(user.uid, "sa-uid-1");
    assert_eq!(
        user.groups,
        vec!["system:serviceaccounts", "system:serviceaccounts:team"]
    );
    assert_eq!(user.extra[names::POD_NAME_KEY], vec!["web-0"]);
    assert_eq!(user.extra[names::POD_UID_KEY], vec!["pod-uid-1"]);
    assert_eq!(user.extra[names::NODE_NAME_KEY], vec!["worker-1"]);
    assert_eq!(user.extra[names::NODE_UID_KEY], vec!["node-uid-1"]);
    assert_eq!(
        user.extra[names::CREDENTIAL_ID_KEY],
        vec![format!("JTI={jti}")]
    );
}

#[test]
fn expiry_and_not_before_use_a_minute_of_leeway() {
    let iss = issuer();
    let v = verifier(&iss);
    let (token, _) = iss.issue(&request(), NOW).unwrap();
    let exp = NOW + 3600;
    assert!(v.verify(&token, exp).is_ok());
    assert!(v.verify(&token, exp + LEEWAY_SECS).is_ok());
    assert_eq!(
        v.verify(&token, exp + LEEWAY_SECS + 1),
        Err(TokenError::Expired)
    );
    assert_eq!(
        TokenError::Expired.to_string(),
        "service account token has expired"
    );
    assert!(v.verify(&token, NOW - LEEWAY_SECS).is_ok());
    assert_eq!(
        v.verify(&token, NOW - LEEWAY_SECS - 1),
        Err(TokenError::NotValidYet)
    );

    let mut future = iss.claims(&request(), NOW).unwrap();
    future.iat = NOW + 600;
    let t = iss.sign_claims(&future).unwrap();
    assert_eq!(v.verify(&t, NOW), Err(TokenError::IssuedInFuture));
}

#[test]
fn audience_and_issuer_must_be_accepted() {
    let iss = issuer();
    let mut req = request();
    req.audiences = vec!["vault".into()];
    let (token, _) = iss.issue(&req, NOW).unwrap();
    let err = verifier(&iss).verify(&token, NOW).unwrap_err();
    assert!(matches!(err, TokenError::Audience { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("is invalid for the target audiences")
    );
    // A verifier for that audience accepts it; one of several audiences is enough.
    let vault = TokenVerifier::new(
        vec![iss.verifying_key().clone()],
        &[DEFAULT_ISSUER],
        &["vault"],
    );
    assert_eq!(vault.verify(&token, NOW).unwrap().audiences, vec!["vault"]);
    req.audiences = vec!["vault".into(), "clipper".into()];
    let (token, _) = iss.issue(&req, NOW).unwrap();
    assert_eq!(
        verifier(&iss).verify(&token, NOW).unwrap().audiences,
        vec!["clipper"]
    );

    let other_issuer = TokenIssuer::new(SigningKey::generate().unwrap(), "https://elsewhere");
    let (foreign, _) = other_issuer.issue(&request(), NOW).unwrap();
    assert!(
        !verifier(&iss).handles(&foreign),
        "other issuers are left to other authenticators"
    );
    let both = TokenVerifier::new(
        vec![iss.verifying_key().clone()],
        &["https://elsewhere"],
        &[AUD],
    );
    assert!(both.handles(&foreign));
    assert_eq!(
        both.verify(&foreign, NOW),
        Err(TokenError::Signature),
        "unknown key"
    );
    let (ours, _) = iss.issue(&request(), NOW).unwrap();
    assert_eq!(
        both.verify(&ours, NOW),
        Err(TokenError::Issuer(DEFAULT_ISSUER.into()))
    );
}

#[test]
fn tampering_is_detected() {
    let iss = issuer();
    let v = verifier(&iss);
    let (token, mut claims) = iss.issue(&request(), NOW).unwrap();
    let parts = segments(&token);

    // Payload swapped for one naming another service account, old signature kept.
    claims.kubernetes.serviceaccount.name = "admin".into();
    claims.sub = "system:serviceaccount:team:admin".into();
    let forged_payload = b64url(&serde_json::to_vec(&claims).unwrap());
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(v.verify(&forged, NOW), Err(TokenError::Signature));

    // Signature bit flipped.
    let mut sig = b64url_decode(&parts[2]).unwrap();
    sig[10] ^= 1;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], b64url(&sig));
    assert_eq!(v.verify(&flipped, NOW), Err(TokenError::Signature));

    // alg=none with no signature, and an HMAC header.
    let none_header = b64url(br#"{"alg":"none"}"#);
    assert_eq!(
        v.verify(&format!("{none_header}.{}.", parts[1]), NOW),
        Err(TokenError::Malformed)
    );
    assert_eq!(
        v.verify(&format!("{none_header}.{}.{}", parts[1], parts[2]), NOW),
        Err(TokenError::Algorithm("none".into()))
    );
    let hs = b64url(br#"{"alg":"HS256"}"#);
    assert_eq!(
        v.verify(&format!("{hs}.{}.{}", parts[1], parts[2]), NOW),
        Err(TokenError::Algorithm("HS256".into()))
    );
    let crit = b64url(br#"{"alg":"ES256","crit":["exp"]}"#);
    assert_eq!(
        v.verify(&format!("{crit}.{}.{}", parts[1], parts[2]), NOW),
        Err(TokenError::CriticalHeader)
    );

    // Structure.
    assert_eq!(v.verify("abc", NOW), Err(TokenError::Malformed));
    assert_eq!(
        v.verify(&format!("{token}.x"), NOW),
        Err(TokenError::Malformed)
    );
    assert_eq!(
        v.verify(&format!("{}.{}.{}=", parts[0], parts[1], parts[2]), NOW),
        Err(TokenError::Malformed)
    );
    assert_eq!(
        v.verify(&"a".repeat(MAX_TOKEN_BYTES + 1), NOW),
        Err(TokenError::TooLong)
    );

    // Signed by a key the verifier does not have.
    let stranger = issuer();
    let (theirs, _) = stranger.issue(&request(), NOW).unwrap();
    assert_eq!(v.verify(&theirs, NOW), Err(TokenError::Signature));
}

#[test]
fn subject_must_name_the_service_account() {
    let iss = issuer();
    let mut claims = iss.claims(&request(), NOW).unwrap();
    claims.sub = "system:serviceaccount:kube-system:admin".into();
    let token = iss.sign_claims(&claims).unwrap();
    assert!(matches!(
        verifier(&iss).verify(&token, NOW),
        Err(TokenError::Claims(_))
    ));
}

#[test]
fn rotation_accepts_old_and_new_keys() {
    let old = issuer();
    let new = issuer();
    let v = TokenVerifier::new(
        vec![new.verifying_key().clone(), old.verifying_key().clone()],
        &[DEFAULT_ISSUER],
        &[AUD],
    );
    let (a, _) = old.issue(&request(), NOW).unwrap();
    let (b, _) = new.issue(&request(), NOW).unwrap();
    assert!(v.verify(&a, NOW).is_ok());
    assert!(v.verify(&b, NOW).is_ok());
}

#[test]
fn bound_objects_revoke_tokens() {
    let iss = issuer();
    let (token, _) = iss.issue(&request(), NOW).unwrap();
    let claims = verifier(&iss).verify(&token, NOW).unwrap().claims;
    assert!(check_bound_objects(&claims, &objects(), NOW).is_ok());

    let mut o = objects();
    o.service_accounts.clear();
    assert!(
        check_bound_objects(&claims, &o, NOW)
            .unwrap_err()
            .to_string()
            .contains("not found")
    );

    let mut o = objects();
    o.service_accounts
        .get_mut(&("team".into(), "builder".into()))
        .unwrap()
        .uid = "recreated".into();
    let err = check_bound_objects(&claims, &o, NOW)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("service account UID (recreated) does not match claim (sa-uid-1)"),
        "{err}"
    );

    let mut o = objects();
    o.pods.clear();
    assert_eq!(
        check_bound_objects(&claims, &o, NOW)
            .unwrap_err()
            .to_string(),
        "service account token has been invalidated"
    );

    // A pod being deleted stays valid for the leeway after its deletion timestamp.
    let mut o = objects();
    o.pods
        .get_mut(&("team".into(), "web-0".into()))
        .unwrap()
        .deletion_timestamp = Some(NOW);
    assert!(check_bound_objects(&claims, &o, NOW + LEEWAY_SECS).is_ok());
    assert!(check_bound_objects(&claims, &o, NOW + LEEWAY_SECS + 1).is_err());

    // A pod-bound token's node is informational.
    let mut o = objects();
    o.nodes.clear();
    assert!(check_bound_objects(&claims, &o, NOW).is_ok());

    // A node-bound token is revoked with the node.
    let mut req = request();
    req.pod = None;
    let node_claims = iss.claims(&req, NOW).unwrap();
    assert!(check_bound_objects(&node_claims, &objects(), NOW).is_ok());
    assert!(check_bound_objects(&node_claims, &o, NOW).is_err());
    let mut wrong = objects();
    wrong.nodes.get_mut("worker-1").unwrap().uid = "other".into();
    assert!(
        check_bound_objects(&node_claims, &wrong, NOW)
            .unwrap_err()
            .to_string()
            .contains("node UID")
    );
}

#[test]
fn request_validation() {
    let iss = issuer();
    let mut req = request();
    req.expiration_seconds = MIN_EXPIRATION_SECS - 1;
    assert!(iss.issue(&req, NOW).is_err());
    req.expiration_seconds = MAX_EXPIRATION_SECS + 1;
    assert!(iss.issue(&req, NOW).is_err());
    req.expiration_seconds = MIN_EXPIRATION_SECS;
    req.secret = Some(ObjectRef::new("s", "u"));
    assert!(iss.issue(&req, NOW).is_err(), "pod and secret");
}

#[test]
fn single_string_audience_is_accepted() {
    let iss = issuer();
    let claims = iss.claims(&request(), NOW).unwrap();
    let mut value = serde_json::to_value(&claims).unwrap();
    value["aud"] = serde_json::json!(AUD);
    let parsed: Claims = serde_json::from_value(value).unwrap();
    assert_eq!(parsed.aud, vec![AUD]);
}

#[test]
fn key_files_are_created_once_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let (key, created) = SigningKey::load_or_create(dir.path()).unwrap();
    assert!(created);
    use std::os::unix::fs::PermissionsExt as _;
    let mode = fs::metadata(dir.path().join(SA_KEY_FILE))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let (again, created) = SigningKey::load_or_create(dir.path()).unwrap();
    assert!(!created);
    assert_eq!(key.verifying_key(), again.verifying_key());
    let public =
        VerifyingKey::from_pem(&fs::read_to_string(dir.path().join(SA_PUB_FILE)).unwrap()).unwrap();
    assert_eq!(&public, key.verifying_key());
    // Tokens signed before a restart verify after it.
    let before = TokenIssuer::new(key, DEFAULT_ISSUER);
    let (token, _) = before.issue(&request(), NOW).unwrap();
    let v = TokenVerifier::new(vec![public], &[DEFAULT_ISSUER], &[AUD]);
    assert!(v.verify(&token, NOW).is_ok());

    fs::set_permissions(
        dir.path().join(SA_KEY_FILE),
        fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    assert!(matches!(
        SigningKey::load_or_create(dir.path()),
        Err(PkiError::InsecureKeyFile { .. })
    ));
    assert!(VerifyingKey::from_spki_der(&[0u8; 91]).is_err());
}
