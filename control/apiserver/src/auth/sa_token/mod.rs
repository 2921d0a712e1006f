//! Service-account tokens: ES256-signed JWTs with the claims Kubernetes 1.33 writes for
//! bound tokens (pkg/serviceaccount/claims.go, jwt.go), and their verification.
//!
//! Claims: `iss`, `sub` (`system:serviceaccount:<ns>:<name>`), `aud`, `exp`, `nbf`, `iat`,
//! `jti`, and the private `kubernetes.io` claim: `namespace`, `serviceaccount` {name, uid}
//! and, for a bound token, `pod`, `secret` or `node` {name, uid} (a pod-bound token also
//! carries its pod's node). The header is `{"alg":"ES256","kid":<key id>}` with the key
//! id Kubernetes derives: base64url(SHA-256(PKIX public key)).
//!
//! The signing key pair lives beside the CA as `sa.key` (PKCS#8 PEM, 0600) and `sa.pub`
//! (PKIX PEM), created by [`SigningKey::load_or_create`].

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use base64::Engine as _;
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PublicKeyData as _};
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, UnparsedPublicKey,
};
use serde::{Deserialize, Serialize};

use super::pki::{PkiError, create_private_dir, read_private, write_private_file};
use super::{UserInfo, names, service_account_username};

pub const SA_KEY_FILE: &str = "sa.key";
pub const SA_PUB_FILE: &str = "sa.pub";
/// The issuer kube-apiserver uses by default (`--service-account-issuer`).
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// Clock leeway of `exp`, `nbf` and `iat` checks: go-jose's `DefaultLeeway`.
pub const LEEWAY_SECS: i64 = 60;
/// Longer bearer tokens are refused unparsed: Kubernetes tokens are about 1 KiB, and
/// this bounds the decoding and JSON work an unauthenticated client can cause.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// TokenRequest's minimum `expirationSeconds`.
pub const MIN_EXPIRATION_SECS: i64 = 600;
/// TokenRequest's maximum `expirationSeconds` (2^32 s).
pub const MAX_EXPIRATION_SECS: i64 = 1 << 32;
/// The algorithm of every token signed and accepted.
pub const ALGORITHM: &str = "ES256";
/// DER prefix of a PKIX ECDSA P-256 public key before its 65-byte uncompressed point.
const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
const P256_POINT_LEN: usize = 65;

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn b64url_decode(s: &str) -> Result<Vec<u8>, TokenError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| TokenError::Malformed)
}

/// Why a bearer token was not accepted. Messages are Kubernetes'.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is not a JWT")]
    Malformed,
    #[error("token is too long")]
    TooLong,
    #[error("token uses algorithm {0:?}, only ES256 is accepted")]
    Algorithm(String),
    #[error("token has an unsupported critical header")]
    CriticalHeader,
    #[error("token signature is invalid")]
    Signature,
    #[error("token issuer {0:?} is not accepted")]
    Issuer(String),
    #[error("token audiences {token:?} is invalid for the target audiences {accepted:?}")]
    Audience {
        token: Vec<String>,
        accepted: Vec<String>,
    },
    #[error("service account token has expired")]
    Expired,
    #[error("service account token is not valid yet")]
    NotValidYet,
    #[error(
        "service account token claims could not be validated due to unexpected validation error"
    )]
    IssuedInFuture,
    #[error("token claims are inconsistent: {0}")]
    Claims(String),
    #[error("{0}")]
    Invalidated(String),
    #[error("signing token: {0}")]
    Signing(String),
}

/// A `{name, uid}` reference in the `kubernetes.io` claim.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

impl ObjectRef {
    pub fn new(name: &str, uid: &str) -> ObjectRef {
        ObjectRef {
            name: name.to_string(),
            uid: uid.to_string(),
        }
    }
}

/// The private `kubernetes.io` claim.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesClaims {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default)]
    pub serviceaccount: ObjectRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnafter: Option<i64>,
}

/// `aud` is a string or an array of strings (RFC 7519 4.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The claims of a service-account token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    #[serde(with = "audience_serde")]
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jti: String,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaims,
}

mod audience_serde {
    use super::Audience;
    use serde::{Deserialize as _, Deserializer, Serialize as _, Serializer};

    pub fn serialize<S: Serializer>(aud: &[String], s: S) -> Result<S::Ok, S::Error> {
        aud.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Ok(match Audience::deserialize(d)? {
            Audience::One(a) => vec![a],
            Audience::Many(a) => a,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    kid: String,
    #[serde(default, skip_serializing)]
    crit: Option<serde_json::Value>,
}

/// `keyIDFromPublicKey`: base64url(SHA-256(PKIX DER)).
fn key_id(spki_der: &[u8]) -> String {
    b64url(ring::digest::digest(&ring::digest::SHA256, spki_der).as_ref())
}

/// A public key tokens are verified with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyingKey {
    kid: String,
    spki_der: Vec<u8>,
}

impl VerifyingKey {
    /// From a PKIX (SubjectPublicKeyInfo) DER ECDSA P-256 key.
    pub fn from_spki_der(der: &[u8]) -> Result<VerifyingKey, PkiError> {
        if der.len() != P256_SPKI_PREFIX.len() + P256_POINT_LEN
            || !der.starts_with(P256_SPKI_PREFIX)
        {
            return Err(PkiError::Invalid(
                "the service-account public key must be ECDSA P-256".into(),
            ));
        }
        Ok(VerifyingKey {
            kid: key_id(der),
            spki_der: der.to_vec(),
        })
    }

    /// From a `PUBLIC KEY` PEM block.
    pub fn from_pem(pem: &str) -> Result<VerifyingKey, PkiError> {
        use rustls::pki_types::SubjectPublicKeyInfoDer;
        use rustls::pki_types::pem::PemObject as _;
        let der = SubjectPublicKeyInfoDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| PkiError::Invalid(format!("no public key in PEM: {e}")))?;
        Self::from_spki_der(der.as_ref())
    }

    pub fn key_id(&self) -> &str {
        &self.kid
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let point = &self.spki_der[P256_SPKI_PREFIX.len()..];
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
            .verify(message, signature)
            .is_ok()
    }
}

/// The ECDSA P-256 key tokens are signed with.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    pkcs8_pem: String,
    public: VerifyingKey,
    public_pem: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.public.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn generate() -> Result<SigningKey, PkiError> {
        let pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        Self::from_pkcs8_pem(&pair.serialize_pem())
    }

    /// From a PKCS#8 `PRIVATE KEY` PEM block.
    pub fn from_pkcs8_pem(pem: &str) -> Result<SigningKey, PkiError> {
        let key = KeyPair::from_pem(pem)?;
        if key.algorithm() != &PKCS_ECDSA_P256_SHA256 {
            return Err(PkiError::Invalid(
                "the service-account key must be ECDSA P-256".into(),
            ));
        }
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &key.serialize_der(),
            &SystemRandom::new(),
        )
        .map_err(|e| PkiError::Invalid(format!("service-account key: {e}")))?;
        let spki = key.subject_public_key_info();
        Ok(SigningKey {
            pair,
            pkcs8_pem: key.serialize_pem(),
            public: VerifyingKey::from_spki_der(&spki)?,
            public_pem: key.public_key_pem(),
        })
    }

    /// Loads `sa.key` from `dir` or creates `sa.key` (0600) and `sa.pub`. Returns the key
    /// and whether it was created.
    pub fn load_or_create(dir: &Path) -> Result<(SigningKey, bool), PkiError> {
        let key_path = dir.join(SA_KEY_FILE);
        let pub_path = dir.join(SA_PUB_FILE);
        if key_path.exists() {
            return Ok((Self::from_pkcs8_pem(&read_private(&key_path)?)?, false));
        }
        create_private_dir(dir)?;
        let key = Self::generate()?;
        write_private_file(&key_path, key.pkcs8_pem.as_bytes())?;
        fs::write(&pub_path, key.public_pem.as_bytes()).map_err(|source| PkiError::Io {
            path: pub_path,
            source,
        })?;
        Ok((key, true))
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.public
    }

    /// The public key as a `PUBLIC KEY` PEM block.
    pub fn public_key_pem(&self) -> &str {
        &self.public_pem
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, TokenError> {
        let sig = self
            .pair
            .sign(&SystemRandom::new(), message)
            .map_err(|e| TokenError::Signing(e.to_string()))?;
        Ok(sig.as_ref().to_vec())
    }
}

/// What to issue a token for (a TokenRequest, after defaulting and validation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    pub namespace: String,
    pub service_account: ObjectRef,
    pub audiences: Vec<String>,
    pub expiration_seconds: i64,
    /// At most one of pod and secret; a pod-bound token may also name the pod's node.
    pub pod: Option<ObjectRef>,
    pub secret: Option<ObjectRef>,
    pub node: Option<ObjectRef>,
}

/// Signs service-account tokens.
#[derive(Debug)]
pub struct TokenIssuer {
    key: SigningKey,
    issuer: String,
}

impl TokenIssuer {
    pub fn new(key: SigningKey, issuer: &str) -> TokenIssuer {
        TokenIssuer {
            key,
            issuer: issuer.to_string(),
        }
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        self.key.verifying_key()
    }

    /// The claims of a token for `req` issued at `now`.
    pub fn claims(&self, req: &TokenRequest, now: i64) -> Result<Claims, TokenError> {
        if !(MIN_EXPIRATION_SECS..=MAX_EXPIRATION_SECS).contains(&req.expiration_seconds) {
            return Err(TokenError::Claims(format!(
                "expirationSeconds {} is outside [{MIN_EXPIRATION_SECS}, {MAX_EXPIRATION_SECS}]",
                req.expiration_seconds
            )));
        }
        if req.pod.is_some() && req.secret.is_some() {
            return Err(TokenError::Claims(
                "a token is bound to a pod or a secret, not both".into(),
            ));
        }
        Ok(Claims {
            iss: self.issuer.clone(),
            sub: service_account_username(&req.namespace, &req.service_account.name),
            aud: req.audiences.clone(),
            exp: now + req.expiration_seconds,
            iat: now,
            nbf: now,
            jti: new_uuid().map_err(TokenError::Signing)?,
            kubernetes: KubernetesClaims {
                namespace: req.namespace.clone(),
                serviceaccount: req.service_account.clone(),
                pod: req.pod.clone(),
                secret: req.secret.clone(),
                node: req.node.clone(),
                warnafter: None,
            },
        })
    }

    /// Issues a token; returns it with its claims.
    pub fn issue(&self, req: &TokenRequest, now: i64) -> Result<(String, Claims), TokenError> {
        let claims = self.claims(req, now)?;
        Ok((self.sign_claims(&claims)?, claims))
    }

    /// Signs arbitrary claims (tests, and re-signing in key rotation).
    pub fn sign_claims(&self, claims: &Claims) -> Result<String, TokenError> {
        let header = Header {
            alg: ALGORITHM.into(),
            kid: self.key.public.kid.clone(),
            crit: None,
        };
        let header_json =
            serde_json::to_vec(&header).map_err(|e| TokenError::Signing(e.to_string()))?;
        let claims_json =
            serde_json::to_vec(claims).map_err(|e| TokenError::Signing(e.to_string()))?;
        let signing_input = format!("{}.{}", b64url(&header_json), b64url(&claims_json));
        let signature = self.key.sign(signing_input.as_bytes())?;
        Ok(format!("{signing_input}.{}", b64url(&signature)))
    }
}

/// A random RFC 4122 version-4 UUID (the `jti`).
pub fn new_uuid() -> Result<String, String> {
    let mut b = [0u8; 16];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| "no system randomness".to_string())?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// An object a token is bound to, as the watch cache has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoundObject {
    pub uid: String,
    /// `metadata.deletionTimestamp`, Unix seconds.
    pub deletion_timestamp: Option<i64>,
}

/// Looks up the objects a token names, so deleting them revokes it.
pub trait BoundObjects {
    fn service_account(&self, namespace: &str, name: &str) -> Option<BoundObject>;
    fn pod(&self, namespace: &str, name: &str) -> Option<BoundObject>;
    fn secret(&self, namespace: &str, name: &str) -> Option<BoundObject>;
    fn node(&self, name: &str) -> Option<BoundObject>;
}

/// A verified token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedToken {
    pub claims: Claims,
    /// The token audiences that are also accepted audiences.
    pub audiences: Vec<String>,
}

impl VerifiedToken {
    /// `ServiceAccountInfo.UserInfo()`: the service account's user name and uid, groups
    /// `system:serviceaccounts` and `system:serviceaccounts:<ns>`, and the pod, node and
    /// credential id as extra.
    pub fn user_info(&self) -> UserInfo {
        let k = &self.claims.kubernetes;
        let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Some(pod) = k
            .pod
            .as_ref()
            .filter(|p| !p.name.is_empty() && !p.uid.is_empty())
        {
            extra.insert(names::POD_NAME_KEY.into(), vec![pod.name.clone()]);
            extra.insert(names::POD_UID_KEY.into(), vec![pod.uid.clone()]);
        }
        if !self.claims.jti.is_empty() {
            extra.insert(
                names::CREDENTIAL_ID_KEY.into(),
                vec![format!("JTI={}", self.claims.jti)],
            );
        }
        if let Some(node) = k.node.as_ref().filter(|n| !n.name.is_empty()) {
            extra.insert(names::NODE_NAME_KEY.into(), vec![node.name.clone()]);
            if !node.uid.is_empty() {
                extra.insert(names::NODE_UID_KEY.into(), vec![node.uid.clone()]);
            }
        }
        UserInfo {
            username: service_account_username(&k.namespace, &k.serviceaccount.name),
            uid: k.serviceaccount.uid.clone(),
            groups: vec![
                names::ALL_SERVICE_ACCOUNTS.to_string(),
                format!("{}{}", names::SERVICE_ACCOUNT_GROUP_PREFIX, k.namespace),
            ],
            extra,
        }
    }
}

/// Verifies service-account tokens: signature by one of `keys`, an accepted issuer, an
/// accepted audience, and the time claims against `now`.
#[derive(Clone, Debug)]
pub struct TokenVerifier {
    keys: Vec<VerifyingKey>,
    issuers: Vec<String>,
    audiences: Vec<String>,
}

fn split_token(token: &str) -> Result<(&str, &str, &str), TokenError> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() && !s.is_empty() => {
            Ok((h, p, s))
        }
        _ => Err(TokenError::Malformed),
    }
}

impl TokenVerifier {
    /// `keys` in preference order (current key first during rotation); `issuers` and
    /// `audiences` as `--service-account-issuer` and `--api-audiences`.
    pub fn new(keys: Vec<VerifyingKey>, issuers: &[&str], audiences: &[&str]) -> TokenVerifier {
        TokenVerifier {
            keys,
            issuers: issuers.iter().map(|s| s.to_string()).collect(),
            audiences: audiences.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Whether the token looks like a JWT from one of our issuers (`hasCorrectIssuer`):
    /// other bearer tokens are left to other authenticators.
    pub fn handles(&self, token: &str) -> bool {
        if token.len() > MAX_TOKEN_BYTES {
            return false;
        }
        #[derive(Deserialize)]
        struct Iss {
            #[serde(default)]
            iss: String,
        }
        let Ok((_, payload, _)) = split_token(token) else {
            return false;
        };
        let Ok(bytes) = b64url_decode(payload) else {
            return false;
        };
        serde_json::from_slice::<Iss>(&bytes).is_ok_and(|c| self.issuers.contains(&c.iss))
    }

    /// Verifies signature, issuer, audience and times. Bound objects are checked
    /// separately with [`check_bound_objects`].
    pub fn verify(&self, token: &str, now: i64) -> Result<VerifiedToken, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLong);
        }
        let (h, p, s) = split_token(token)?;
        let header: Header =
            serde_json::from_slice(&b64url_decode(h)?).map_err(|_| TokenError::Malformed)?;
        if header.alg != ALGORITHM {
            return Err(TokenError::Algorithm(header.alg));
        }
        if header.crit.is_some() {
            return Err(TokenError::CriticalHeader);
        }
        let signature = b64url_decode(s)?;
        let signing_input = &token.as_bytes()[..h.len() + 1 + p.len()];
        // Keys whose id matches first, then the others (a kid is only a hint).
        let mut ordered: Vec<&VerifyingKey> =
            self.keys.iter().filter(|k| k.kid == header.kid).collect();
        ordered.extend(self.keys.iter().filter(|k| k.kid != header.kid));
        if !ordered.iter().any(|k| k.verify(signing_input, &signature)) {
            return Err(TokenError::Signature);
        }
        let claims: Claims =
            serde_json::from_slice(&b64url_decode(p)?).map_err(|_| TokenError::Malformed)?;
        if !self.issuers.contains(&claims.iss) {
            return Err(TokenError::Issuer(claims.iss));
        }
        let audiences: Vec<String> = claims
            .aud
            .iter()
            .filter(|a| self.audiences.contains(a))
            .cloned()
            .collect();
        if audiences.is_empty() && !self.audiences.is_empty() {
            return Err(TokenError::Audience {
                token: claims.aud.clone(),
                accepted: self.audiences.clone(),
            });
        }
        if now + LEEWAY_SECS < claims.nbf {
            return Err(TokenError::NotValidYet);
        }
        if now - LEEWAY_SECS > claims.exp {
            return Err(TokenError::Expired);
        }
        if now + LEEWAY_SECS < claims.iat {
            return Err(TokenError::IssuedInFuture);
        }
        let k = &claims.kubernetes;
        if k.namespace.is_empty() || k.serviceaccount.name.is_empty() {
            return Err(TokenError::Claims(
                "no service account namespace or name".into(),
            ));
        }
        if claims.sub != service_account_username(&k.namespace, &k.serviceaccount.name) {
            return Err(TokenError::Claims(format!(
                "subject {:?} does not name the service account",
                claims.sub
            )));
        }
        Ok(VerifiedToken { claims, audiences })
    }
}

/// `validator.Validate`'s object checks: the service account (and the bound pod, secret
/// or node) must still exist with the uid in the token, and not have been deleted more
/// than [`LEEWAY_SECS`] ago.
pub fn check_bound_objects(
    claims: &Claims,
    objects: &dyn BoundObjects,
    now: i64,
) -> Result<(), TokenError> {
    let invalid_if_deleted_before = now - LEEWAY_SECS;
    let deleted = |o: &BoundObject| {
        o.deletion_timestamp
            .is_some_and(|t| t < invalid_if_deleted_before)
    };
    let k = &claims.kubernetes;
    let ns = &k.namespace;
    let sa = &k.serviceaccount;
    let found = objects.service_account(ns, &sa.name).ok_or_else(|| {
        TokenError::Invalidated(format!("serviceaccount {:?} not found", sa.name))
    })?;
    if deleted(&found) {
        return Err(TokenError::Invalidated(format!(
            "service account {ns}/{} has been deleted",
            sa.name
        )));
    }
    if found.uid != sa.uid {
        return Err(TokenError::Invalidated(format!(
            "service account UID ({}) does not match claim ({})",
            found.uid, sa.uid
        )));
    }
    let invalidated =
        || TokenError::Invalidated("service account token has been invalidated".into());
    if let Some(secret) = &k.secret {
        let found = objects.secret(ns, &secret.name).ok_or_else(invalidated)?;
        if deleted(&found) {
            return Err(invalidated());
        }
        if found.uid != secret.uid {
            return Err(TokenError::Invalidated(format!(
                "secret UID ({}) does not match service account secret ref claim ({})",
                found.uid, secret.uid
            )));
        }
    }
    if let Some(pod) = &k.pod {
        let found = objects.pod(ns, &pod.name).ok_or_else(invalidated)?;
        if deleted(&found) {
            return Err(invalidated());
        }
        if found.uid != pod.uid {
            return Err(TokenError::Invalidated(format!(
                "pod UID ({}) does not match service account pod ref claim ({})",
                found.uid, pod.uid
            )));
        }
    } else if let Some(node) = &k.node {
        // Node-bound tokens (no pod) are revoked with their node; a pod-bound token's node
        // is informational.
        let found = objects.node(&node.name).ok_or_else(invalidated)?;
        if deleted(&found) {
            return Err(invalidated());
        }
        if found.uid != node.uid {
            return Err(TokenError::Invalidated(format!(
                "node UID ({}) does not match service account node ref claim ({})",
                found.uid, node.uid
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
