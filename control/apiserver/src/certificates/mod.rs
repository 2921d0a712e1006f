//! CertificateSigningRequests, as pkg/registry/certificates and the admission plugins
//! CertificateApproval, CertificateSigning and CertificateSubjectRestriction treat them:
//!
//! - on create the requester's identity is recorded in the spec (whatever the body
//!   says) and the status starts empty;
//! - the main resource changes only metadata, `/approval` only the conditions, and
//!   `/status` the conditions other than Approved/Denied and, once, the certificate;
//! - approving needs `approve` and issuing needs `sign` on `signers` (named by the
//!   signerName or by `<domain>/*`), and nobody may ask the client signer for
//!   `system:masters`.
//!
//! [`controller`] runs the approver, the signer and the cleaner that
//! kube-controller-manager runs.

pub mod controller;
pub mod request;

use clipper_proto::Time;
use clipper_proto::api::certificates::v1::{
    CertificateSigningRequest as Csr, CertificateSigningRequestCondition as Condition,
};

use crate::admission::names::is_dns1123_subdomain;
use crate::admission::{FieldError, Path};
use crate::auth::{Attributes, UserInfo};
use crate::status::ApiError;

pub const GROUP: &str = "certificates.k8s.io";
pub const APPROVED: &str = "Approved";
pub const DENIED: &str = "Denied";
pub const FAILED: &str = "Failed";
pub const KUBE_APISERVER_CLIENT: &str = "kubernetes.io/kube-apiserver-client";
pub const KUBE_APISERVER_CLIENT_KUBELET: &str = "kubernetes.io/kube-apiserver-client-kubelet";
pub const KUBELET_SERVING: &str = "kubernetes.io/kubelet-serving";
pub const LEGACY_UNKNOWN: &str = "kubernetes.io/legacy-unknown";

/// Every usage `spec.usages` may name (`allValidUsages`, sorted as kube lists them).
pub const VALID_USAGES: &[&str] = &[
    "any",
    "cert sign",
    "client auth",
    "code signing",
    "content commitment",
    "crl sign",
    "data encipherment",
    "decipher only",
    "digital signature",
    "email protection",
    "encipher only",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "key agreement",
    "key encipherment",
    "microsoft sgc",
    "netscape sgc",
    "ocsp signing",
    "s/mime",
    "server auth",
    "signing",
    "timestamping",
];

/// Condition types whose status may only be "True".
const TRUE_ONLY: &[&str] = &[APPROVED, DENIED];
const ALL_STATUSES: &[&str] = &["False", "True", "Unknown"];

fn conditions(csr: &Csr) -> &[Condition] {
    csr.status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or(&[])
}

fn certificate(csr: &Csr) -> &[u8] {
    csr.status
        .as_ref()
        .and_then(|s| s.certificate.as_ref())
        .map(|c| c.0.as_slice())
        .unwrap_or(&[])
}

/// Whether the request carries a condition of `type_` with status True.
pub fn has_condition(csr: &Csr, type_: &str) -> bool {
    conditions(csr)
        .iter()
        .any(|c| c.type_ == type_ && c.status == "True")
}

/// Approved and not denied or failed: the signer's to issue.
pub fn is_approved(csr: &Csr) -> bool {
    has_condition(csr, APPROVED) && !has_condition(csr, DENIED) && !has_condition(csr, FAILED)
}

/// PrepareForCreate: the requester is whoever sent the request.
pub fn prepare_for_create(csr: &mut Csr, user: Option<&UserInfo>) {
    let spec = &mut csr.spec;
    spec.username = user.map(|u| u.username.clone()).filter(|s| !s.is_empty());
    spec.uid = user.map(|u| u.uid.clone()).filter(|s| !s.is_empty());
    spec.groups = user.map(|u| u.groups.clone()).filter(|g| !g.is_empty());
    spec.extra = user.map(|u| u.extra.clone()).filter(|e| !e.is_empty());
    csr.status = None;
}

/// PrepareForUpdate of the main resource, `/status` and `/approval`: the parts the
/// write may not touch are taken from `old`; new conditions get their timestamps.
pub fn prepare_for_update(new: &mut Csr, old: &Csr, subresource: Option<&str>, now: Time) {
    new.spec = old.spec.clone();
    match subresource {
        Some("status") => {}
        Some("approval") => {
            let cert = old.status.as_ref().and_then(|s| s.certificate.clone());
            new.status.get_or_insert_with(Default::default).certificate = cert;
        }
        _ => new.status = old.status.clone(),
    }
    let Some(status) = new.status.as_mut() else {
        return;
    };
    for c in status.conditions.iter_mut().flatten() {
        if c.last_update_time.is_none() {
            c.last_update_time = Some(now);
        }
        if c.last_transition_time.is_none() {
            let kept = conditions(old)
                .iter()
                .find(|o| o.type_ == c.type_ && o.status == c.status)
                .and_then(|o| o.last_transition_time);
            c.last_transition_time = Some(kept.unwrap_or(now));
        }
    }
}

/// Leniencies for data written before a rule existed (`getValidationOptions`).
#[derive(Default)]
struct Options {
    both_approved_and_denied: bool,
    legacy_signer: bool,
    duplicate_conditions: bool,
    empty_condition_type: bool,
    arbitrary_certificate: bool,
    duplicate_usages: bool,
    unknown_usages: bool,
}

impl Options {
    fn for_write(new: &Csr, old: Option<&Csr>) -> Options {
        let Some(old) = old else {
            return Options::default();
        };
        let conds = conditions(old);
        let has = |t: &str| conds.iter().any(|c| c.type_ == t);
        let mut seen = std::collections::HashSet::new();
        let mut seen_usages = std::collections::HashSet::new();
        let usages = old.spec.usages.as_deref().unwrap_or(&[]);
        Options {
            both_approved_and_denied: has(APPROVED) && has(DENIED),
            legacy_signer: old.spec.signer_name == LEGACY_UNKNOWN,
            duplicate_conditions: !conds.iter().all(|c| seen.insert(c.type_.as_str())),
            empty_condition_type: has(""),
            arbitrary_certificate: certificate(new) == certificate(old)
                || validate_certificate(certificate(old)).is_err(),
            duplicate_usages: !usages.iter().all(|u| seen_usages.insert(u.as_str())),
            unknown_usages: usages.iter().any(|u| !VALID_USAGES.contains(&u.as_str())),
        }
    }
}

/// `validateCertificate`: empty, or only well-formed CERTIFICATE PEM blocks.
fn validate_certificate(pem: &[u8]) -> Result<(), String> {
    if pem.is_empty() {
        return Ok(());
    }
    let mut blocks = 0;
    for block in x509_parser::pem::Pem::iter_from_buffer(pem) {
        let block = match block {
            Ok(b) => b,
            // Trailing text after the last block is ignored, as Go's pem.Decode does.
            Err(_) if blocks > 0 => break,
            Err(_) => break,
        };
        if block.label != "CERTIFICATE" {
            return Err(format!(
                "only CERTIFICATE PEM blocks are allowed, found {:?}",
                block.label
            ));
        }
        block
            .parse_x509()
            .map_err(|e| format!("x509: malformed certificate: {e}"))?;
        blocks += 1;
    }
    if blocks == 0 {
        return Err("must contain at least one CERTIFICATE PEM block".into());
    }
    Ok(())
}

/// `ValidateSignerName`: `<domain>/<path>`, the domain a DNS-1123 subdomain.
fn validate_signer_name(path: &Path, name: &str) -> Vec<FieldError> {
    if name.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let Some((domain, rest)) = name.split_once('/') else {
        return vec![FieldError::invalid(
            path,
            name,
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        )];
    };
    let mut errs: Vec<FieldError> = is_dns1123_subdomain(domain)
        .into_iter()
        .map(|m| FieldError::invalid(path, domain, format!("validating domain: {m}")))
        .collect();
    if rest.is_empty() {
        errs.push(FieldError::invalid(
            path,
            name,
            "validating path: path must not be empty",
        ));
    }
    errs
}

/// `validateCertificateSigningRequest` (metadata is checked by the caller): on create
/// `old` is `None`; on an update it relaxes the rules for data that predates them.
pub fn validate(csr: &Csr, old: Option<&Csr>) -> Vec<FieldError> {
    let opts = Options::for_write(csr, old);
    let spec = Path::new("spec");
    let mut errs = Vec::new();
    if let Err(e) = request::parse(&csr.spec.request.0) {
        errs.push(FieldError::invalid_omit(&spec.child("request"), e));
    }
    let usages = csr.spec.usages.as_deref().unwrap_or(&[]);
    if usages.is_empty() {
        errs.push(FieldError::required(&spec.child("usages"), ""));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, u) in usages.iter().enumerate() {
        if !opts.unknown_usages && !VALID_USAGES.contains(&u.as_str()) {
            errs.push(FieldError::not_supported(
                &spec.child("usages").index(i),
                u.as_str(),
                VALID_USAGES,
            ));
        }
        if !seen.insert(u.as_str()) && !opts.duplicate_usages {
            errs.push(FieldError::duplicate(
                &spec.child("usages").index(i),
                u.as_str(),
            ));
        }
    }
    let signer = csr.spec.signer_name.as_str();
    if signer == LEGACY_UNKNOWN && !opts.legacy_signer {
        errs.push(FieldError::invalid(
            &spec.child("signerName"),
            signer,
            "the legacy signerName is not allowed via this API version",
        ));
    } else {
        errs.extend(validate_signer_name(&spec.child("signerName"), signer));
    }
    if let Some(secs) = csr.spec.expiration_seconds
        && secs < 600
    {
        errs.push(FieldError::invalid(
            &spec.child("expirationSeconds"),
            secs as i64,
            "may not specify a duration less than 600 seconds (10 minutes)",
        ));
    }
    let path = Path::new("status").child("conditions");
    let (mut approved, mut denied) = (false, false);
    let mut types = std::collections::HashSet::new();
    for (i, c) in conditions(csr).iter().enumerate() {
        let at = path.index(i);
        if c.type_.is_empty() && !opts.empty_condition_type {
            errs.push(FieldError::required(&at.child("type"), ""));
        }
        let allowed = if TRUE_ONLY.contains(&c.type_.as_str()) {
            &["True"][..]
        } else {
            ALL_STATUSES
        };
        if c.status.is_empty() {
            errs.push(FieldError::required(&at.child("status"), ""));
        } else if !allowed.contains(&c.status.as_str()) {
            errs.push(FieldError::not_supported(
                &at.child("status"),
                c.status.as_str(),
                allowed,
            ));
        }
        if !opts.both_approved_and_denied {
            let conflict = match c.type_.as_str() {
                APPROVED => {
                    approved = true;
                    denied
                }
                DENIED => {
                    denied = true;
                    approved
                }
                _ => false,
            };
            if conflict {
                errs.push(FieldError::invalid(
                    &at.child("type"),
                    c.type_.as_str(),
                    "Approved and Denied conditions are mutually exclusive",
                ));
            }
        }
        if !types.insert(c.type_.as_str()) && !opts.duplicate_conditions {
            errs.push(FieldError::duplicate(&at.child("type"), c.type_.as_str()));
        }
    }
    if !opts.arbitrary_certificate
        && let Err(e) = validate_certificate(certificate(csr))
    {
        errs.push(FieldError::invalid(
            &Path::new("status").child("certificate"),
            "<certificate data>",
            e,
        ));
    }
    errs
}

/// The part of `validateCertificateSigningRequestUpdate` that depends on which
/// subresource writes: conditions may not be removed; only `/approval` adds or changes
/// Approved and Denied; only `/status` sets the certificate, once.
pub fn validate_transition(new: &Csr, old: &Csr, subresource: Option<&str>) -> Vec<FieldError> {
    let path = Path::new("status").child("conditions");
    let mut errs = Vec::new();
    let of = |csr: &Csr, t: &str| -> Vec<Condition> {
        conditions(csr)
            .iter()
            .filter(|c| c.type_ == t)
            .cloned()
            .collect()
    };
    for t in [APPROVED, DENIED, FAILED] {
        if of(new, t).len() < of(old, t).len() {
            errs.push(FieldError::forbidden(
                &path,
                format!("updates may not remove a condition of type {t:?}"),
            ));
        }
    }
    if subresource != Some("approval") {
        for t in [APPROVED, DENIED] {
            let (n, o) = (of(new, t), of(old, t));
            if n.len() > o.len() {
                errs.push(FieldError::forbidden(
                    &path,
                    format!("updates may not add a condition of type {t:?}"),
                ));
            } else if n.len() == o.len() && n != o {
                errs.push(FieldError::forbidden(
                    &path,
                    format!("updates may not modify a condition of type {t:?}"),
                ));
            }
        }
    }
    if certificate(new) != certificate(old) {
        let path = Path::new("status").child("certificate");
        if subresource != Some("status") {
            errs.push(FieldError::forbidden(
                &path,
                "updates may not set certificate content",
            ));
        } else if !certificate(old).is_empty() {
            errs.push(FieldError::forbidden(
                &path,
                "updates may not modify existing certificate content",
            ));
        }
    }
    errs
}

/// `IsAuthorizedForSignerName`: `verb` on `signers` named by the signer or by
/// `<domain>/*`.
pub fn authorized_for_signer(
    security: &crate::security::Security,
    user: &UserInfo,
    verb: &str,
    signer: &str,
) -> bool {
    let allowed = |name: &str| {
        security
            .allowed(&Attributes::resource(
                user, verb, GROUP, "signers", "", name,
            ))
            .0
    };
    allowed(signer)
        || signer
            .split_once('/')
            .is_some_and(|(domain, _)| allowed(&format!("{domain}/*")))
}

fn forbidden_csr(name: &str, why: &str) -> ApiError {
    ApiError::forbidden(format!(
        "certificatesigningrequests.certificates.k8s.io {name:?} is forbidden: {why}"
    ))
}

/// The admission checks of a write by `user` (`None`: the server's own controllers).
/// `old` is `None` on create.
pub fn admit(
    security: &crate::security::Security,
    user: Option<&UserInfo>,
    new: &Csr,
    old: Option<&Csr>,
    subresource: Option<&str>,
) -> Result<(), ApiError> {
    let Some(user) = user else {
        return Ok(());
    };
    let name = new.metadata.name.as_deref().unwrap_or("");
    match (old, subresource) {
        (None, _) => {
            // CertificateSubjectRestriction.
            if new.spec.signer_name == KUBE_APISERVER_CLIENT
                && let Ok(req) = request::parse(&new.spec.request.0)
                && req
                    .organizations
                    .iter()
                    .any(|o| o == crate::auth::names::SYSTEM_MASTERS)
            {
                return Err(forbidden_csr(
                    name,
                    &format!(
                        "use of {KUBE_APISERVER_CLIENT} signer with system:masters group is not allowed"
                    ),
                ));
            }
        }
        (Some(old), Some("approval")) => {
            let signer = &old.spec.signer_name;
            if !authorized_for_signer(security, user, "approve", signer) {
                return Err(forbidden_csr(
                    name,
                    &format!("user not permitted to approve requests with signerName {signer:?}"),
                ));
            }
        }
        (Some(old), Some("status")) if certificate(new) != certificate(old) => {
            let signer = &old.spec.signer_name;
            if !authorized_for_signer(security, user, "sign", signer) {
                return Err(forbidden_csr(
                    name,
                    &format!("user not permitted to sign requests with signerName {signer:?}"),
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests;
