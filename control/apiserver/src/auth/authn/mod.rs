//! Request authentication, as kube-apiserver's authenticator chain: the client
//! certificate (already verified against the CA by the TLS handshake, see
//! [`crate::auth::pki::server_tls_config`]), then a bearer token (service-account JWT,
//! then bootstrap token), then anonymous. A request that presents a bearer token nobody
//! accepts is refused (401) rather than treated as anonymous.
//!
//! Every authenticated user gets `system:authenticated` ([`UserInfo::with_authenticated_group`]).

use std::collections::{BTreeMap, HashMap};

use clipper_proto::api::core::v1::Secret;
use rustls::pki_types::CertificateDer;

use super::bootstrap_token;
use super::sa_token::{BoundObject, BoundObjects, TokenVerifier, check_bound_objects};
use super::{UserInfo, names};

/// Why a request is refused with 401 Unauthorized.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthnError {
    #[error("invalid bearer token, {0}")]
    InvalidBearerToken(String),
    #[error("invalid client certificate: {0}")]
    Certificate(String),
}

/// What a request carried to authenticate with.
#[derive(Clone, Copy, Debug, Default)]
pub struct Credentials<'a> {
    /// The peer's verified certificate chain, end entity first (rustls'
    /// `peer_certificates()`); empty when the client sent none.
    pub client_certificates: &'a [CertificateDer<'a>],
    /// The `Authorization` header value.
    pub authorization: Option<&'a str>,
}

/// The token of an `Authorization: Bearer <token>` header, as the bearertoken
/// authenticator reads it (scheme case-insensitive, surrounding space ignored).
pub fn bearer_token(header: &str) -> Option<&str> {
    let mut parts = header.trim().splitn(3, ' ');
    let scheme = parts.next()?;
    let token = parts.next()?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// `CommonNameUserConversion`: user = the subject's CommonName (the last one if several,
/// as Go reads it), groups = its Organizations in order, and the certificate's SHA-256
/// fingerprint as credential id. `None` when the certificate has no CommonName.
pub fn user_from_client_certificate(der: &[u8]) -> Result<Option<UserInfo>, AuthnError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| AuthnError::Certificate(e.to_string()))?;
    let subject = cert.subject();
    let string = |a: &x509_parser::x509::AttributeTypeAndValue<'_>| {
        a.as_str()
            .map(str::to_string)
            .map_err(|e| AuthnError::Certificate(e.to_string()))
    };
    let mut common_name = None;
    for cn in subject.iter_common_name() {
        common_name = Some(string(cn)?);
    }
    let Some(username) = common_name.filter(|cn| !cn.is_empty()) else {
        return Ok(None);
    };
    let groups = subject
        .iter_organization()
        .map(string)
        .collect::<Result<Vec<_>, _>>()?;
    let fingerprint = ring::digest::digest(&ring::digest::SHA256, der);
    let hex: String = fingerprint
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Some(UserInfo {
        username,
        uid: String::new(),
        groups,
        extra: BTreeMap::from([(
            names::CREDENTIAL_ID_KEY.to_string(),
            vec![format!("X509SHA256={hex}")],
        )]),
    }))
}

/// The objects authentication reads from the watch cache: bootstrap token Secrets, and
/// the objects service-account tokens are bound to.
pub trait CredentialObjects: BoundObjects {
    /// The Secret `namespace/name`.
    fn secret_object(&self, namespace: &str, name: &str) -> Option<Secret>;
}

/// An in-memory [`CredentialObjects`] (tests, and servers that keep plain maps).
#[derive(Clone, Debug, Default)]
pub struct StaticObjects {
    pub secrets: HashMap<(String, String), Secret>,
    pub service_accounts: HashMap<(String, String), BoundObject>,
    pub pods: HashMap<(String, String), BoundObject>,
    pub nodes: HashMap<String, BoundObject>,
}

fn nk(namespace: &str, name: &str) -> (String, String) {
    (namespace.to_string(), name.to_string())
}

impl BoundObjects for StaticObjects {
    fn service_account(&self, namespace: &str, name: &str) -> Option<BoundObject> {
        self.service_accounts.get(&nk(namespace, name)).cloned()
    }

    fn pod(&self, namespace: &str, name: &str) -> Option<BoundObject> {
        self.pods.get(&nk(namespace, name)).cloned()
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<BoundObject> {
        self.secrets.get(&nk(namespace, name)).map(|s| BoundObject {
            uid: s.metadata.uid.clone().unwrap_or_default(),
            deletion_timestamp: s.metadata.deletion_timestamp.map(|t| t.unix_seconds()),
        })
    }

    fn node(&self, name: &str) -> Option<BoundObject> {
        self.nodes.get(name).cloned()
    }
}

impl CredentialObjects for StaticObjects {
    fn secret_object(&self, namespace: &str, name: &str) -> Option<Secret> {
        self.secrets.get(&nk(namespace, name)).cloned()
    }
}

/// Which authenticators are on.
#[derive(Clone, Debug, Default)]
pub struct RequestAuthenticator {
    /// Service-account tokens (`None`: off).
    pub service_account_tokens: Option<TokenVerifier>,
    /// `--enable-bootstrap-token-auth`.
    pub bootstrap_tokens: bool,
    /// `--anonymous-auth`.
    pub anonymous: bool,
}

impl RequestAuthenticator {
    /// Authenticates a request. `Ok(Some(user))`: authenticated (or anonymous);
    /// `Ok(None)`: no credentials and anonymous access off; `Err`: credentials refused.
    /// Either of the last two is a 401.
    pub fn authenticate(
        &self,
        credentials: &Credentials<'_>,
        objects: &dyn CredentialObjects,
        now: i64,
    ) -> Result<Option<UserInfo>, AuthnError> {
        if let Some(cert) = credentials.client_certificates.first()
            && let Some(user) = user_from_client_certificate(cert.as_ref())?
        {
            return Ok(Some(user.with_authenticated_group()));
        }
        if let Some(token) = credentials.authorization.and_then(bearer_token) {
            return self
                .authenticate_token(token, objects, now)
                .map(|u| Some(u.with_authenticated_group()));
        }
        Ok(self.anonymous.then(UserInfo::anonymous))
    }

    /// Authenticates a bearer token (also the TokenReview API's work).
    pub fn authenticate_token(
        &self,
        token: &str,
        objects: &dyn CredentialObjects,
        now: i64,
    ) -> Result<UserInfo, AuthnError> {
        let mut errors: Vec<String> = Vec::new();
        if let Some(verifier) = &self.service_account_tokens
            && verifier.handles(token)
        {
            match verifier
                .verify(token, now)
                .and_then(|v| check_bound_objects(&v.claims, objects, now).map(|_| v))
            {
                Ok(verified) => return Ok(verified.user_info()),
                Err(e) => errors.push(e.to_string()),
            }
        }
        if self.bootstrap_tokens
            && let Some((id, _)) = bootstrap_token::parse_token(token)
        {
            let secret = objects.secret_object(
                bootstrap_token::TOKEN_NAMESPACE,
                &bootstrap_token::secret_name(id),
            );
            // A refused bootstrap token is "not handled", as in Kubernetes: the reason
            // stays in the server's log, not in the response.
            if let Ok(user) = bootstrap_token::authenticate(token, secret.as_ref(), now) {
                return Ok(user);
            }
        }
        let detail = if errors.is_empty() {
            "token not recognized".to_string()
        } else {
            errors.join(", ")
        };
        Err(AuthnError::InvalidBearerToken(detail))
    }
}

#[cfg(test)]
mod tests;
