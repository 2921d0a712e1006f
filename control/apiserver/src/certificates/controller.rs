//! The certificate controllers of kube-controller-manager, run inside the API server
//! process (they work through the API's operations, as the namespace controller does,
//! and hold the cluster CA's key, which never leaves this process):
//!
//! - the approver (`csrapproving`) approves a kubelet client request
//!   (`kubernetes.io/kube-apiserver-client-kubelet`, `CN=system:node:<name>`,
//!   `O=system:nodes`, no alternative names, client usages) when its requester may
//!   `create` `certificatesigningrequests/selfnodeclient` (a node renewing its own
//!   certificate) or `certificatesigningrequests/nodeclient` (a bootstrap token joining
//!   a node). Other requests wait for a person (`kubectl certificate approve`).
//! - the signer (`csrsigning`) issues approved requests of the built-in signers
//!   kube-apiserver-client, kube-apiserver-client-kubelet and kubelet-serving with the
//!   cluster CA, after kube's per-signer checks; a request that fails them gets a
//!   Failed condition instead.
//! - the cleaner (`csrcleaner`) deletes requests decided more than an hour ago, pending
//!   for more than a day, or whose certificate has expired.

use std::sync::Arc;
use std::time::Duration;

use clipper_proto::api::certificates::v1::{
    CertificateSigningRequest as Csr, CertificateSigningRequestCondition as Condition,
};
use clipper_proto::{ByteString, Time};

use super::request::{self, CertRequest};
use super::{
    APPROVED, DENIED, FAILED, KUBE_APISERVER_CLIENT, KUBE_APISERVER_CLIENT_KUBELET,
    KUBELET_SERVING, has_condition, is_approved,
};
use crate::api::{DeleteOptions, Scope, WriteOptions};
use crate::auth::pki::{self, CertificateAuthority, Leaf};
use crate::auth::{Attributes, UserInfo};
use crate::cache::{Filter, WatchItem};
use crate::http::Server;
use crate::object::downcast;
use crate::status::ApiError;

/// How often every request is looked at again without a change (the cleaner's
/// deadlines, and retries after a failed write).
const RESYNC: Duration = Duration::from_secs(60);
/// Decided (approved, denied, failed) requests are deleted after this long.
pub const DECIDED_EXPIRATION_SECS: i64 = 3600;
/// Pending requests are deleted after this long.
pub const PENDING_EXPIRATION_SECS: i64 = 24 * 3600;
/// The writer the controllers' changes are recorded under.
const FIELD_MANAGER: &str = "kube-controller-manager";
const NODE_USER_PREFIX: &str = "system:node:";
const NODES_GROUP: &str = "system:nodes";

/// Starts the approver, signer and cleaner.
pub async fn start(server: Arc<Server>) -> Result<(), ApiError> {
    let scope = server
        .api
        .scope(super::GROUP, "v1", "certificatesigningrequests", None)?;
    let cache = server.api.cache(&scope.served).await?;
    let mut watcher = cache.watch(Filter::default(), None, false)?;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RESYNC);
        loop {
            tokio::select! {
                item = watcher.next() => match item {
                    Some(WatchItem::Event(..)) => {}
                    Some(_) => continue,
                    None => return,
                },
                _ = tick.tick() => {}
            }
            if let Err(e) = sync_all(&server, &scope).await {
                tracing::warn!(error = %e.message, "certificate controllers");
            }
        }
    });
    Ok(())
}

async fn sync_all(server: &Server, scope: &Scope) -> Result<(), ApiError> {
    let cache = server.api.cache(&scope.served).await?;
    let now = Time::now().0;
    for obj in cache.snapshot().objects.values() {
        let decoded = obj.decode(&cache.codec)?;
        let Some(csr) = downcast::<Csr>(decoded.as_ref()) else {
            continue;
        };
        let name = csr.metadata.name.clone().unwrap_or_default();
        if let Err(e) = sync(server, scope, csr, now).await {
            // One bad request must not stop the others; it is retried at the next resync.
            tracing::warn!(csr = %name, error = %e.message, "certificate controllers");
        }
    }
    Ok(())
}

/// What the controllers do with one request.
#[derive(Debug, PartialEq)]
pub enum Action {
    Nothing,
    Delete,
    Approve,
    /// Issue this certificate (PEM).
    Issue(String),
    /// Mark failed with this message.
    Fail(String),
}

async fn sync(server: &Server, scope: &Scope, csr: &Csr, now: i64) -> Result<(), ApiError> {
    let name = csr.metadata.name.clone().unwrap_or_default();
    let action = decide(csr, now, &server.security.ca, &|user, sub| {
        let attrs = Attributes {
            subresource: sub,
            ..Attributes::resource(
                user,
                "create",
                super::GROUP,
                "certificatesigningrequests",
                "",
                "",
            )
        };
        server.security.allowed(&attrs).0
    });
    let opts = WriteOptions {
        field_manager: FIELD_MANAGER.into(),
        ..WriteOptions::default()
    };
    let condition = |type_: &str, reason: &str, message: String| Condition {
        type_: type_.into(),
        status: "True".into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: None,
        last_transition_time: None,
    };
    match action {
        Action::Nothing => Ok(()),
        Action::Delete => server
            .api
            .delete(scope, &name, &DeleteOptions::default())
            .await
            .map(drop)
            .or_else(|e| if e.code == 404 { Ok(()) } else { Err(e) }),
        Action::Approve => {
            let message = "Auto approving kubelet client certificate after SubjectAccessReview.";
            let approved = condition(APPROVED, "AutoApproved", message.into());
            add_condition(server, scope, csr, approved, "approval", &opts).await
        }
        Action::Issue(pem) => {
            let mut issued = csr.clone();
            issued
                .status
                .get_or_insert_with(Default::default)
                .certificate = Some(ByteString(pem.into_bytes()));
            server
                .api
                .update(scope, &name, Box::new(issued), Some("status"), &opts)
                .await
                .map(drop)
        }
        Action::Fail(message) => {
            let failed = condition(FAILED, "SignerValidationFailure", message);
            add_condition(server, scope, csr, failed, "status", &opts).await
        }
    }
}

/// Writes `csr` with `condition` added through `subresource`.
async fn add_condition(
    server: &Server,
    scope: &Scope,
    csr: &Csr,
    condition: Condition,
    subresource: &str,
    opts: &WriteOptions,
) -> Result<(), ApiError> {
    let mut c = csr.clone();
    let status = c.status.get_or_insert_with(Default::default);
    status
        .conditions
        .get_or_insert_with(Vec::new)
        .push(condition);
    let name = csr.metadata.name.clone().unwrap_or_default();
    server
        .api
        .update(scope, &name, Box::new(c), Some(subresource), opts)
        .await
        .map(drop)
}

/// The requester, as the request recorded it.
fn requester(csr: &Csr) -> UserInfo {
    let spec = &csr.spec;
    UserInfo {
        username: spec.username.clone().unwrap_or_default(),
        uid: spec.uid.clone().unwrap_or_default(),
        groups: spec.groups.clone().unwrap_or_default(),
        extra: spec.extra.clone().unwrap_or_default(),
    }
}

fn condition_time(csr: &Csr, type_: &str) -> Option<i64> {
    csr.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .and_then(|c| c.last_update_time.or(c.last_transition_time))
        .map(|t| t.0)
}

/// The decision for one request at `now` (Unix seconds); `may_create(user,
/// subresource)` answers the approver's SubjectAccessReview. Pure but for signing.
pub fn decide(
    csr: &Csr,
    now: i64,
    ca: &CertificateAuthority,
    may_create: &dyn Fn(&UserInfo, &str) -> bool,
) -> Action {
    // The cleaner.
    let created = csr.metadata.creation_timestamp.map(|t| t.0).unwrap_or(now);
    let decided_at = [APPROVED, DENIED, FAILED]
        .iter()
        .filter_map(|t| condition_time(csr, t))
        .min();
    if let Some(at) = decided_at
        && now - at > DECIDED_EXPIRATION_SECS
    {
        return Action::Delete;
    }
    if decided_at.is_none() && now - created > PENDING_EXPIRATION_SECS {
        return Action::Delete;
    }
    let cert = csr
        .status
        .as_ref()
        .and_then(|s| s.certificate.as_ref())
        .map(|c| c.0.as_slice())
        .unwrap_or(&[]);
    if !cert.is_empty() {
        return match certificate_not_after(cert) {
            Some(t) if t < now => Action::Delete,
            _ => Action::Nothing,
        };
    }
    if has_condition(csr, DENIED) || has_condition(csr, FAILED) {
        return Action::Nothing;
    }
    let Ok(req) = request::parse(&csr.spec.request.0) else {
        // Validation refuses such requests; one stored before is left alone.
        return Action::Nothing;
    };
    let usages = csr.spec.usages.clone().unwrap_or_default();
    if !has_condition(csr, APPROVED) {
        // The approver.
        if csr.spec.signer_name != KUBE_APISERVER_CLIENT_KUBELET
            || check_kubelet_client(&req, &usages).is_err()
        {
            return Action::Nothing;
        }
        let user = requester(csr);
        let own = user.username == req.common_name;
        let approved =
            (own && may_create(&user, "selfnodeclient")) || may_create(&user, "nodeclient");
        return if approved {
            Action::Approve
        } else {
            Action::Nothing
        };
    }
    if !is_approved(csr) {
        return Action::Nothing;
    }
    // The signer.
    let check = match csr.spec.signer_name.as_str() {
        KUBE_APISERVER_CLIENT => check_usages(&usages, CLIENT_USAGES, "client auth"),
        KUBE_APISERVER_CLIENT_KUBELET => check_kubelet_client(&req, &usages),
        KUBELET_SERVING => check_kubelet_serving(&req, &usages),
        // Another signer's request: not ours to issue.
        _ => return Action::Nothing,
    };
    if let Err(e) = check {
        return Action::Fail(e);
    }
    let validity = csr
        .spec
        .expiration_seconds
        .map(i64::from)
        .unwrap_or(pki::LEAF_VALIDITY_SECS)
        .min(pki::LEAF_VALIDITY_SECS);
    match sign(ca, &req, &usages, now, validity) {
        Ok(pem) => Action::Issue(pem),
        Err(e) => Action::Fail(format!("signing: {e}")),
    }
}

fn certificate_not_after(pem: &[u8]) -> Option<i64> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem).ok()?;
    let cert = block.parse_x509().ok()?;
    Some(cert.validity().not_after.timestamp())
}

const CLIENT_USAGES: &[&str] = &["client auth", "digital signature", "key encipherment"];
const SERVING_USAGES: &[&str] = &["server auth", "digital signature", "key encipherment"];

/// The usages must be among `allowed` and include `required`.
fn check_usages(usages: &[String], allowed: &[&str], required: &str) -> Result<(), String> {
    if let Some(bad) = usages.iter().find(|u| !allowed.contains(&u.as_str())) {
        return Err(format!(
            "usage {bad:?} is not allowed; allowed usages: {}",
            allowed.join(", ")
        ));
    }
    if !usages.iter().any(|u| u == required) {
        return Err(format!("missing required usage {required:?}"));
    }
    Ok(())
}

fn check_node_subject(req: &CertRequest) -> Result<(), String> {
    if req.organizations != [NODES_GROUP] {
        return Err(format!("subject organization is not {NODES_GROUP}"));
    }
    if !req.common_name.starts_with(NODE_USER_PREFIX) {
        return Err(format!(
            "subject common name does not begin with {NODE_USER_PREFIX}"
        ));
    }
    Ok(())
}

/// `ValidateKubeletClientCSR`.
fn check_kubelet_client(req: &CertRequest, usages: &[String]) -> Result<(), String> {
    check_node_subject(req)?;
    if req.has_alt_names() {
        return Err("DNS, email, IP and URI subjectAltNames are not allowed".into());
    }
    check_usages(usages, CLIENT_USAGES, "client auth")
}

/// The kubelet-serving signer's checks.
fn check_kubelet_serving(req: &CertRequest, usages: &[String]) -> Result<(), String> {
    check_node_subject(req)?;
    if !req.emails.is_empty() || !req.uris.is_empty() {
        return Err("email and URI subjectAltNames are not allowed".into());
    }
    if req.dns_names.is_empty() && req.ip_addresses.is_empty() {
        return Err("DNS or IP subjectAltName is required".into());
    }
    check_usages(usages, SERVING_USAGES, "server auth")
}

/// keyUsage bit numbers (RFC 5280) and extended key usage OIDs of kube's usage names.
fn usage_bits(usage: &str) -> (u16, Option<&'static [u64]>) {
    const KP_SERVER_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 1];
    match usage {
        "signing" | "digital signature" => (1 << 0, None),
        "content commitment" => (1 << 1, None),
        "key encipherment" => (1 << 2, None),
        "data encipherment" => (1 << 3, None),
        "key agreement" => (1 << 4, None),
        "cert sign" => (1 << 5, None),
        "crl sign" => (1 << 6, None),
        "encipher only" => (1 << 7, None),
        "decipher only" => (1 << 8, None),
        "server auth" => (0, Some(KP_SERVER_AUTH)),
        "client auth" => (0, Some(pki::OID_KP_CLIENT_AUTH)),
        _ => (0, None),
    }
}

/// Issues the certificate for a checked request: its subject, key and alternative
/// names, the requested usages, valid from now (backdated for clock skew) for
/// `validity` seconds. PEM.
fn sign(
    ca: &CertificateAuthority,
    req: &CertRequest,
    usages: &[String],
    now: i64,
    validity: i64,
) -> Result<String, String> {
    let mut key_usage = 0;
    let mut eku = Vec::new();
    for u in usages {
        let (bits, oid) = usage_bits(u);
        key_usage |= bits;
        if let Some(oid) = oid
            && !eku.contains(&oid)
        {
            eku.push(oid);
        }
    }
    let leaf = Leaf {
        subject_der: &req.subject_der,
        spki_der: &req.spki_der,
        key_usage,
        extended_key_usage: &eku,
        subject_alt_names: req.san_extension.as_deref(),
        not_before: now - pki::CLOCK_SKEW_SECS,
        not_after: now + validity,
    };
    let der = ca.sign_leaf(&leaf).map_err(|e| e.to_string())?;
    Ok(pki::pem_encode("CERTIFICATE", &der))
}

#[cfg(test)]
mod tests;
