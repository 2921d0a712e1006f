//! PKCS#10 certificate requests as a CertificateSigningRequest carries them
//! (`spec.request`, PEM): parsed, their self-signature checked, and reduced to what the
//! approver and the signer look at.

use std::net::IpAddr;

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer as _;

/// subjectAltName (2.5.29.17).
const OID_SUBJECT_ALT_NAME: &str = "2.5.29.17";

/// A parsed, signature-checked certificate request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertRequest {
    /// The subject Name, DER, as the signer copies it into the certificate.
    pub subject_der: Vec<u8>,
    /// The SubjectPublicKeyInfo, DER.
    pub spki_der: Vec<u8>,
    pub common_name: String,
    pub organizations: Vec<String>,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    pub emails: Vec<String>,
    pub uris: Vec<String>,
    /// The requested subjectAltName extension's value (DER), when there is one.
    pub san_extension: Option<Vec<u8>>,
}

impl CertRequest {
    /// Whether the request names anything besides its subject.
    pub fn has_alt_names(&self) -> bool {
        !(self.dns_names.is_empty()
            && self.ip_addresses.is_empty()
            && self.emails.is_empty()
            && self.uris.is_empty())
    }
}

/// Parses `spec.request`: one PEM block of type `CERTIFICATE REQUEST` (Go's
/// `certificates.ParseCSR`), whose signature must verify (`CheckSignature`). The errors
/// are kube's texts.
pub fn parse(pem: &[u8]) -> Result<CertRequest, String> {
    const NOT_A_REQUEST: &str = "PEM block type must be CERTIFICATE REQUEST";
    let (_, block) =
        x509_parser::pem::parse_x509_pem(pem).map_err(|_| NOT_A_REQUEST.to_string())?;
    if block.label != "CERTIFICATE REQUEST" {
        return Err(NOT_A_REQUEST.into());
    }
    let (_, req) = X509CertificationRequest::from_der(&block.contents)
        .map_err(|e| format!("x509: malformed certificate request: {e}"))?;
    req.verify_signature()
        .map_err(|e| format!("x509: invalid signature: {e}"))?;
    let info = &req.certification_request_info;
    let subject = &info.subject;
    let common_name = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or_default()
        .to_string();
    let organizations = subject
        .iter_organization()
        .filter_map(|a| a.as_str().ok())
        .map(str::to_string)
        .collect();
    let mut out = CertRequest {
        subject_der: subject.as_raw().to_vec(),
        spki_der: info.subject_pki.raw.to_vec(),
        common_name,
        organizations,
        ..CertRequest::default()
    };
    for attr in info.iter_attributes() {
        let x509_parser::cri_attributes::ParsedCriAttribute::ExtensionRequest(ext) =
            attr.parsed_attribute()
        else {
            continue;
        };
        for e in &ext.extensions {
            if e.oid.to_id_string() != OID_SUBJECT_ALT_NAME {
                continue;
            }
            out.san_extension = Some(e.value.to_vec());
            let ParsedExtension::SubjectAlternativeName(san) = e.parsed_extension() else {
                return Err("x509: malformed subjectAltName extension".into());
            };
            for name in &san.general_names {
                match name {
                    GeneralName::DNSName(d) => out.dns_names.push(d.to_string()),
                    GeneralName::RFC822Name(m) => out.emails.push(m.to_string()),
                    GeneralName::URI(u) => out.uris.push(u.to_string()),
                    GeneralName::IPAddress(b) => match b.len() {
                        4 => out.ip_addresses.push(IpAddr::from(
                            <[u8; 4]>::try_from(*b).map_err(|_| "x509: bad IP address")?,
                        )),
                        16 => out.ip_addresses.push(IpAddr::from(
                            <[u8; 16]>::try_from(*b).map_err(|_| "x509: bad IP address")?,
                        )),
                        _ => return Err("x509: bad IP address in subjectAltName".into()),
                    },
                    _ => {}
                }
            }
        }
    }
    Ok(out)
}

/// A PEM certificate request for `common_name` in `organizations` with `key`, and the
/// given subjectAltNames (the agent's bootstrap request; tests).
pub fn build(
    common_name: &str,
    organizations: &[&str],
    dns_names: &[&str],
    ips: &[IpAddr],
    key: &rcgen::KeyPair,
) -> Result<String, String> {
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    // rcgen keeps one value per attribute type: one organization at most.
    if let Some(o) = organizations.first() {
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, *o);
    }
    if organizations.len() > 1 {
        return Err("a request with more than one organization is not supported".into());
    }
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    for d in dns_names {
        let ia5 = (*d)
            .to_string()
            .try_into()
            .map_err(|_| format!("invalid DNS name {d:?}"))?;
        params.subject_alt_names.push(rcgen::SanType::DnsName(ia5));
    }
    params
        .subject_alt_names
        .extend(ips.iter().map(|ip| rcgen::SanType::IpAddress(*ip)));
    let csr = params.serialize_request(key).map_err(|e| e.to_string())?;
    csr.pem().map_err(|e| e.to_string())
}

/// A new ECDSA P-256 key (PKCS#8 PEM) and a request for it (PEM): what a node sends.
pub fn generate(common_name: &str, organizations: &[&str]) -> Result<(String, String), String> {
    let key =
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
    let csr = build(common_name, organizations, &[], &[], &key)?;
    Ok((key.serialize_pem(), csr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> rcgen::KeyPair {
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
    }

    #[test]
    fn a_node_request_parses_with_its_names() {
        let pem = build(
            "system:node:n1",
            &["system:nodes"],
            &["n1.example"],
            &["192.0.2.7".parse().unwrap()],
            &key(),
        )
        .unwrap();
        let r = parse(pem.as_bytes()).unwrap();
        assert_eq!(r.common_name, "system:node:n1");
        assert_eq!(r.organizations, vec!["system:nodes".to_string()]);
        assert_eq!(r.dns_names, vec!["n1.example".to_string()]);
        assert_eq!(r.ip_addresses, vec!["192.0.2.7".parse::<IpAddr>().unwrap()]);
        assert!(r.has_alt_names());
        assert!(r.san_extension.is_some());
    }

    #[test]
    fn garbage_and_other_blocks_are_refused() {
        assert_eq!(
            parse(b"hello").unwrap_err(),
            "PEM block type must be CERTIFICATE REQUEST"
        );
        let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert_eq!(
            parse(cert.as_bytes()).unwrap_err(),
            "PEM block type must be CERTIFICATE REQUEST"
        );
        let junk = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n";
        assert!(parse(junk.as_bytes()).unwrap_err().starts_with("x509:"));
    }

    #[test]
    fn a_tampered_request_fails_its_signature() {
        let pem = build("alice", &[], &[], &[], &key()).unwrap();
        let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        let mut der = block.contents.clone();
        // Change one byte of the subject's common name ("alice" -> "blice").
        let at = der.windows(5).position(|w| w == b"alice").unwrap();
        der[at] = b'b';
        let tampered = crate::auth::pki::pem_encode("CERTIFICATE REQUEST", &der);
        let err = parse(tampered.as_bytes()).unwrap_err();
        assert!(err.contains("signature"), "{err}");
    }
}
