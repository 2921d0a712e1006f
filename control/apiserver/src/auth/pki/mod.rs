//! The cluster PKI: a CA (ECDSA P-256, ten years) generated on first start and loaded
//! afterwards, the API server's serving certificate, client certificates (CN = user,
//! O = groups), kubeconfig files, and the rustls configurations of both ends.
//!
//! Files (all PEM) in the PKI directory: `ca.crt`, `ca.key` (0600), `apiserver.crt`,
//! `apiserver.key` (0600). File I/O is confined to the `load_or_create*` and `write_*`
//! functions; everything else works on values and a `now` in Unix seconds.
//!
//! Client certificates are built here from DER (yasna) rather than by rcgen, because
//! rcgen keeps one value per attribute type and a Kubernetes identity may carry several
//! groups, each an `O` attribute.

use std::fs;
use std::io::Write as _;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PublicKeyData as _, SanType,
    SerialNumber, SigningKey as _,
};
use ring::rand::{SecureRandom as _, SystemRandom};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use x509_parser::extensions::{GeneralName, ParsedExtension};

use super::names;

/// The CA is valid ten years, as kubeadm's.
pub const CA_VALIDITY_SECS: i64 = 10 * 365 * 24 * 3600;
/// Serving and client certificates are valid one year, as kubeadm's.
pub const LEAF_VALIDITY_SECS: i64 = 365 * 24 * 3600;
/// `notBefore` is backdated this much so peers with a slightly slow clock accept a
/// certificate issued a moment ago.
pub const CLOCK_SKEW_SECS: i64 = 5 * 60;
/// An existing serving certificate closer than this to expiry is reissued on start.
pub const RENEW_BEFORE_SECS: i64 = 30 * 24 * 3600;
/// Serial numbers are 16 random bytes (RFC 5280 allows up to 20; CAs use at least 8).
const SERIAL_BYTES: usize = 16;

pub const CA_CERT_FILE: &str = "ca.crt";
pub const CA_KEY_FILE: &str = "ca.key";
pub const SERVING_CERT_FILE: &str = "apiserver.crt";
pub const SERVING_KEY_FILE: &str = "apiserver.key";
/// Mode of every private key and kubeconfig written.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// Mode of the PKI directory when created.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// The CA's common name.
pub const CA_COMMON_NAME: &str = "clipper-ca";
/// The serving certificate's common name (kubeadm's).
pub const SERVING_COMMON_NAME: &str = "kube-apiserver";

/// ecdsa-with-SHA256.
const OID_ECDSA_WITH_SHA256: &[u64] = &[1, 2, 840, 10045, 4, 3, 2];
const OID_COMMON_NAME: &[u64] = &[2, 5, 4, 3];
const OID_ORGANIZATION: &[u64] = &[2, 5, 4, 10];
const OID_KEY_USAGE: &[u64] = &[2, 5, 29, 15];
const OID_EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
const OID_BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
const OID_AUTHORITY_KEY_ID: &[u64] = &[2, 5, 29, 35];
pub const OID_KP_CLIENT_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 2];
const OID_SUBJECT_ALT_NAME: &[u64] = &[2, 5, 29, 17];
/// keyUsage bits as RFC 5280 numbers them (bit 0 is digitalSignature), as a mask
/// with bit `n` at `1 << n`.
pub const KEY_USAGE_DIGITAL_SIGNATURE: u16 = 1 << 0;
/// UTCTime covers 1950–2049; later dates are GeneralizedTime (RFC 5280 4.1.2.5).
const UTCTIME_LAST_YEAR: i32 = 2049;

/// What [`CertificateAuthority::sign_leaf`] certifies: a subject and public key (DER,
/// as a request carries them), the key usages (a mask of RFC 5280 bit numbers, see
/// [`KEY_USAGE_DIGITAL_SIGNATURE`]), extended key usages (OIDs), an optional
/// subjectAltName extension value (DER), and the validity in Unix seconds.
pub struct Leaf<'a> {
    pub subject_der: &'a [u8],
    pub spki_der: &'a [u8],
    pub key_usage: u16,
    pub extended_key_usage: &'a [&'a [u64]],
    pub subject_alt_names: Option<&'a [u8]>,
    pub not_before: i64,
    pub not_after: i64,
}

/// A keyUsage mask as DER BIT STRING content: the bytes, and the number of bits up to
/// the last one set (DER drops trailing zero bits).
fn key_usage_bits(mask: u16) -> (Vec<u8>, usize) {
    let bits = 16 - mask.reverse_bits().trailing_zeros() as usize;
    let value = mask.reverse_bits().to_be_bytes();
    (value[..bits.div_ceil(8)].to_vec(), bits)
}

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is readable by group or others (mode {mode:o}); it must be 0600")]
    InsecureKeyFile { path: PathBuf, mode: u32 },
    #[error("generating certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("{0}")]
    Invalid(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn datetime(unix: i64) -> Result<OffsetDateTime, PkiError> {
    OffsetDateTime::from_unix_timestamp(unix)
        .map_err(|e| PkiError::Invalid(format!("time {unix}: {e}")))
}

fn random_serial() -> Result<Vec<u8>, PkiError> {
    let mut serial = [0u8; SERIAL_BYTES];
    SystemRandom::new()
        .fill(&mut serial)
        .map_err(|_| PkiError::Invalid("no system randomness".into()))?;
    // Positive and without a leading zero byte, so DER keeps all 16 bytes.
    serial[0] = (serial[0] & 0x7f) | 0x01;
    Ok(serial.to_vec())
}

/// The `sha256:<hex>` pin of a certificate's public key (the SHA-256 of its DER
/// SubjectPublicKeyInfo), as kubeadm's `--discovery-token-ca-cert-hash` names a CA.
pub fn public_key_pin(cert_der: &[u8]) -> Result<String, PkiError> {
    let (_, cert) = parse(cert_der)?;
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.public_key().raw);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("sha256:{hex}"))
}

/// PEM text of one DER object (`CERTIFICATE`, `PRIVATE KEY`, ...).
pub fn pem_encode(tag: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {tag}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {tag}-----\n"));
    out
}

/// The DER of the first PEM block labelled `CERTIFICATE`.
pub fn certificate_der_from_pem(pem: &str) -> Result<CertificateDer<'static>, PkiError> {
    use rustls::pki_types::pem::PemObject as _;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| PkiError::Invalid(format!("no certificate in PEM: {e}")))
}

/// A certificate and its private key, as issued.
#[derive(Clone, Debug)]
pub struct IssuedCert {
    pub cert_pem: String,
    /// PKCS#8 PEM.
    pub key_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl IssuedCert {
    fn new(cert_der: Vec<u8>, key: &KeyPair) -> IssuedCert {
        IssuedCert {
            cert_pem: pem_encode("CERTIFICATE", &cert_der),
            key_pem: key.serialize_pem(),
            cert_der,
            key_der: key.serialize_der(),
        }
    }

    /// Parses a PEM certificate and PEM PKCS#8 key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<IssuedCert, PkiError> {
        let cert_der = certificate_der_from_pem(cert_pem)?.to_vec();
        let key = KeyPair::from_pem(key_pem)?;
        Ok(IssuedCert {
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            cert_der,
            key_der: key.serialize_der(),
        })
    }

    pub fn cert_der(&self) -> CertificateDer<'static> {
        CertificateDer::from(self.cert_der.clone())
    }

    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    /// `notAfter` in Unix seconds.
    pub fn not_after(&self) -> Result<i64, PkiError> {
        let (_, cert) = parse(&self.cert_der)?;
        Ok(cert.validity().not_after.timestamp())
    }
}

fn parse(der: &[u8]) -> Result<(&[u8], x509_parser::certificate::X509Certificate<'_>), PkiError> {
    x509_parser::parse_x509_certificate(der)
        .map_err(|e| PkiError::Invalid(format!("parsing certificate: {e}")))
}

/// What the serving certificate must be valid for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServingCertConfig {
    /// The host's name (see [`detect_host_name`]).
    pub host_name: String,
    /// More names or IP addresses (a load balancer, the host's public address).
    pub extra_sans: Vec<String>,
    /// The service CIDR; its first address is the `kubernetes` Service's cluster IP.
    pub service_cidr: String,
    /// The cluster DNS domain, `cluster.local` by default.
    pub cluster_domain: String,
}

impl ServingCertConfig {
    pub fn new(host_name: &str, service_cidr: &str) -> ServingCertConfig {
        ServingCertConfig {
            host_name: host_name.to_string(),
            extra_sans: Vec::new(),
            service_cidr: service_cidr.to_string(),
            cluster_domain: "cluster.local".to_string(),
        }
    }

    /// The DNS names and IP addresses, in certificate order, without duplicates.
    pub fn subject_alt_names(&self) -> Result<(Vec<String>, Vec<IpAddr>), PkiError> {
        let mut dns: Vec<String> = Vec::new();
        let mut ips: Vec<IpAddr> = Vec::new();
        let mut add = |s: &str| {
            if s.is_empty() {
                return;
            }
            match s.parse::<IpAddr>() {
                Ok(ip) if !ips.contains(&ip) => ips.push(ip),
                Ok(_) => {}
                Err(_) if !dns.iter().any(|d| d == s) => dns.push(s.to_string()),
                Err(_) => {}
            }
        };
        add("localhost");
        add(&self.host_name);
        add("kubernetes");
        add("kubernetes.default");
        add("kubernetes.default.svc");
        add(&format!("kubernetes.default.svc.{}", self.cluster_domain));
        add("127.0.0.1");
        add("::1");
        add(&first_service_ip(&self.service_cidr)?.to_string());
        for extra in &self.extra_sans {
            add(extra);
        }
        Ok((dns, ips))
    }
}

/// The first usable address of a CIDR (`10.96.0.0/12` → `10.96.0.1`), the cluster IP of
/// the `kubernetes` Service.
pub fn first_service_ip(cidr: &str) -> Result<IpAddr, PkiError> {
    let bad = || PkiError::Invalid(format!("invalid service CIDR {cidr:?}"));
    let (addr, prefix) = cidr.split_once('/').ok_or_else(bad)?;
    let prefix: u32 = prefix.parse().map_err(|_| bad())?;
    match addr.parse::<IpAddr>().map_err(|_| bad())? {
        IpAddr::V4(v4) => {
            // A /31 or /32 has no address after the network address.
            if prefix > 30 {
                return Err(bad());
            }
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            Ok(IpAddr::V4(((u32::from(v4) & mask) + 1).into()))
        }
        IpAddr::V6(v6) => {
            if prefix > 126 {
                return Err(bad());
            }
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            Ok(IpAddr::V6(((u128::from(v6) & mask) + 1).into()))
        }
    }
}

/// The host's name from the kernel (`/proc/sys/kernel/hostname`), else `$HOSTNAME`,
/// else `localhost`.
pub fn detect_host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "localhost".to_string())
}

/// The cluster CA: its certificate and ECDSA P-256 key.
pub struct CertificateAuthority {
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    key: KeyPair,
    /// The raw DER of the CA's subject: the issuer of everything it signs.
    subject_der: Vec<u8>,
    /// The CA's subject key identifier: the authority key identifier of its leaves.
    key_id: Vec<u8>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// A new self-signed CA valid from `now` for [`CA_VALIDITY_SECS`].
    pub fn generate(common_name: &str, now: i64) -> Result<CertificateAuthority, PkiError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = datetime(now - CLOCK_SKEW_SECS)?;
        params.not_after = datetime(now + CA_VALIDITY_SECS)?;
        params.serial_number = Some(SerialNumber::from(random_serial()?));
        let cert = params.self_signed(&key)?;
        Self::from_parts(cert.der().to_vec(), key)
    }

    fn from_parts(cert_der: Vec<u8>, key: KeyPair) -> Result<CertificateAuthority, PkiError> {
        if key.algorithm() != &PKCS_ECDSA_P256_SHA256 {
            return Err(PkiError::Invalid(
                "the CA key must be an ECDSA P-256 key".into(),
            ));
        }
        let (subject_der, key_id) = {
            let (_, cert) = parse(&cert_der)?;
            if !cert.is_ca() {
                return Err(PkiError::Invalid(
                    "the CA certificate is not a CA (basicConstraints)".into(),
                ));
            }
            if cert.public_key().raw != key.subject_public_key_info().as_slice() {
                return Err(PkiError::Invalid(
                    "the CA key does not match the CA certificate".into(),
                ));
            }
            let key_id = cert
                .extensions()
                .iter()
                .find_map(|e| match e.parsed_extension() {
                    ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
                    _ => None,
                })
                .ok_or_else(|| {
                    PkiError::Invalid("the CA certificate has no subject key identifier".into())
                })?;
            (cert.subject().as_raw().to_vec(), key_id)
        };
        Ok(CertificateAuthority {
            cert_pem: pem_encode("CERTIFICATE", &cert_der),
            cert_der: CertificateDer::from(cert_der),
            key,
            subject_der,
            key_id,
        })
    }

    /// A CA from its PEM certificate and PEM (PKCS#8) key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<CertificateAuthority, PkiError> {
        let der = certificate_der_from_pem(cert_pem)?;
        let key = KeyPair::from_pem(key_pem)?;
        Self::from_parts(der.to_vec(), key)
    }

    /// Loads `ca.crt` and `ca.key` from `dir`, or on first start creates both (the
    /// directory 0700, the key 0600). Returns the CA and whether it was created. A key
    /// file readable by others is refused.
    pub fn load_or_create(dir: &Path, now: i64) -> Result<(CertificateAuthority, bool), PkiError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        if cert_path.exists() || key_path.exists() {
            let key_pem = read_private(&key_path)?;
            let cert_pem = fs::read_to_string(&cert_path).map_err(io_err(&cert_path))?;
            return Ok((Self::from_pem(&cert_pem, &key_pem)?, false));
        }
        create_private_dir(dir)?;
        let ca = Self::generate(CA_COMMON_NAME, now)?;
        write_private_file(&key_path, ca.key.serialize_pem().as_bytes())?;
        write_public_file(&cert_path, ca.cert_pem.as_bytes())?;
        Ok((ca, true))
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// A root store holding only this CA.
    pub fn root_store(&self) -> Result<RootCertStore, PkiError> {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert_der.clone())?;
        Ok(roots)
    }

    /// The API server's serving certificate for `config`'s names and addresses.
    pub fn issue_serving_cert(
        &self,
        config: &ServingCertConfig,
        now: i64,
    ) -> Result<IssuedCert, PkiError> {
        let (dns, ips) = config.subject_alt_names()?;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, SERVING_COMMON_NAME);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = datetime(now - CLOCK_SKEW_SECS)?;
        params.not_after = datetime(now + LEAF_VALIDITY_SECS)?;
        params.serial_number = Some(SerialNumber::from(random_serial()?));
        for name in dns {
            let ia5 = name
                .clone()
                .try_into()
                .map_err(|_| PkiError::Invalid(format!("invalid DNS name {name:?}")))?;
            params.subject_alt_names.push(SanType::DnsName(ia5));
        }
        params
            .subject_alt_names
            .extend(ips.into_iter().map(SanType::IpAddress));
        let issuer = Issuer::from_ca_cert_der(&self.cert_der, &self.key)?;
        let cert = params.signed_by(&key, &issuer)?;
        Ok(IssuedCert::new(cert.der().to_vec(), &key))
    }

    /// A client certificate for `user` with `groups` as its organizations, valid for
    /// `validity_secs` from `now`.
    pub fn issue_client_cert(
        &self,
        user: &str,
        groups: &[&str],
        now: i64,
        validity_secs: i64,
    ) -> Result<IssuedCert, PkiError> {
        if user.is_empty() {
            return Err(PkiError::Invalid(
                "a client certificate needs a user name".into(),
            ));
        }
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let der = self.build_client_cert(
            user,
            groups,
            &key,
            now - CLOCK_SKEW_SECS,
            now + validity_secs,
        )?;
        Ok(IssuedCert::new(der, &key))
    }

    /// The cluster administrator: O=system:masters.
    pub fn issue_admin_cert(&self, user: &str, now: i64) -> Result<IssuedCert, PkiError> {
        self.issue_client_cert(user, &[names::SYSTEM_MASTERS], now, LEAF_VALIDITY_SECS)
    }

    /// A node's client identity: `CN=system:node:<name>`, `O=system:nodes`.
    pub fn issue_node_cert(&self, node_name: &str, now: i64) -> Result<IssuedCert, PkiError> {
        let user = format!("{}{node_name}", names::NODE_USER_PREFIX);
        self.issue_client_cert(&user, &[names::NODES_GROUP], now, LEAF_VALIDITY_SECS)
    }

    fn build_client_cert(
        &self,
        cn: &str,
        groups: &[&str],
        key: &KeyPair,
        not_before: i64,
        not_after: i64,
    ) -> Result<Vec<u8>, PkiError> {
        use yasna::models::ObjectIdentifier as Oid;
        let subject = yasna::construct_der(|w| {
            w.write_sequence(|w| {
                for group in groups {
                    w.next().write_set(|w| {
                        w.next().write_sequence(|w| {
                            w.next().write_oid(&Oid::from_slice(OID_ORGANIZATION));
                            w.next().write_utf8_string(group);
                        })
                    });
                }
                w.next().write_set(|w| {
                    w.next().write_sequence(|w| {
                        w.next().write_oid(&Oid::from_slice(OID_COMMON_NAME));
                        w.next().write_utf8_string(cn);
                    })
                });
            })
        });
        let leaf = Leaf {
            subject_der: &subject,
            spki_der: &key.subject_public_key_info(),
            key_usage: KEY_USAGE_DIGITAL_SIGNATURE,
            extended_key_usage: &[OID_KP_CLIENT_AUTH],
            subject_alt_names: None,
            not_before,
            not_after,
        };
        self.sign_leaf(&leaf)
    }

    /// Signs a certificate for a request's subject and public key with the given usages
    /// (the CSR signer's path: the subject, key and names are the requester's, already
    /// checked by the caller).
    pub fn sign_leaf(&self, leaf: &Leaf<'_>) -> Result<Vec<u8>, PkiError> {
        use yasna::Tag;
        use yasna::models::ObjectIdentifier as Oid;
        let serial = random_serial()?;
        let (nb, na) = (datetime(leaf.not_before)?, datetime(leaf.not_after)?);
        let write_time = |w: yasna::DERWriter<'_>, t: OffsetDateTime| {
            if t.year() <= UTCTIME_LAST_YEAR {
                w.write_utctime(&yasna::models::UTCTime::from_datetime(t));
            } else {
                w.write_generalized_time(&yasna::models::GeneralizedTime::from_datetime(t));
            }
        };
        let extension = |w: yasna::DERWriter<'_>, oid: &[u64], critical: bool, value: Vec<u8>| {
            w.write_sequence(|w| {
                w.next().write_oid(&Oid::from_slice(oid));
                if critical {
                    w.next().write_bool(true);
                }
                w.next().write_bytes(&value);
            });
        };
        let tbs = yasna::construct_der(|w| {
            w.write_sequence(|w| {
                w.next().write_tagged(Tag::context(0), |w| w.write_u8(2));
                w.next().write_bigint_bytes(&serial, true);
                w.next().write_sequence(|w| {
                    w.next().write_oid(&Oid::from_slice(OID_ECDSA_WITH_SHA256))
                });
                w.next().write_der(&self.subject_der);
                w.next().write_sequence(|w| {
                    write_time(w.next(), nb);
                    write_time(w.next(), na);
                });
                w.next().write_der(leaf.subject_der);
                w.next().write_der(leaf.spki_der);
                w.next().write_tagged(Tag::context(3), |w| {
                    w.write_sequence(|w| {
                        if leaf.key_usage != 0 {
                            let (bytes, bits) = key_usage_bits(leaf.key_usage);
                            let ku = yasna::construct_der(|w| w.write_bitvec_bytes(&bytes, bits));
                            extension(w.next(), OID_KEY_USAGE, true, ku);
                        }
                        if !leaf.extended_key_usage.is_empty() {
                            let eku = yasna::construct_der(|w| {
                                w.write_sequence(|w| {
                                    for oid in leaf.extended_key_usage {
                                        w.next().write_oid(&Oid::from_slice(oid));
                                    }
                                })
                            });
                            extension(w.next(), OID_EXT_KEY_USAGE, false, eku);
                        }
                        let bc = yasna::construct_der(|w| w.write_sequence(|_| {}));
                        extension(w.next(), OID_BASIC_CONSTRAINTS, true, bc);
                        let aki = yasna::construct_der(|w| {
                            w.write_sequence(|w| {
                                w.next().write_tagged_implicit(Tag::context(0), |w| {
                                    w.write_bytes(&self.key_id)
                                })
                            })
                        });
                        extension(w.next(), OID_AUTHORITY_KEY_ID, false, aki);
                        if let Some(san) = leaf.subject_alt_names {
                            extension(w.next(), OID_SUBJECT_ALT_NAME, false, san.to_vec());
                        }
                    })
                });
            })
        });
        let signature = self.key.sign(&tbs)?;
        Ok(yasna::construct_der(|w| {
            w.write_sequence(|w| {
                w.next().write_der(&tbs);
                w.next().write_sequence(|w| {
                    w.next().write_oid(&Oid::from_slice(OID_ECDSA_WITH_SHA256))
                });
                w.next().write_bitvec_bytes(&signature, signature.len() * 8);
            })
        }))
    }

    /// Whether `cert_der` was signed by this CA (same issuer name and key identifier).
    fn issued(&self, cert: &x509_parser::certificate::X509Certificate<'_>) -> bool {
        let aki_matches = cert
            .extensions()
            .iter()
            .any(|e| match e.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(aki) => aki
                    .key_identifier
                    .as_ref()
                    .is_some_and(|id| id.0 == self.key_id.as_slice()),
                _ => false,
            });
        cert.issuer().as_raw() == self.subject_der.as_slice() && aki_matches
    }
}

/// Loads `apiserver.crt`/`apiserver.key` from `dir` when they were issued by `ca`, cover
/// every name and address of `config` and are not within [`RENEW_BEFORE_SECS`] of
/// expiry; otherwise issues and writes new ones. Returns the certificate and whether it
/// was (re)issued.
pub fn load_or_create_serving_cert(
    dir: &Path,
    ca: &CertificateAuthority,
    config: &ServingCertConfig,
    now: i64,
) -> Result<(IssuedCert, bool), PkiError> {
    let cert_path = dir.join(SERVING_CERT_FILE);
    let key_path = dir.join(SERVING_KEY_FILE);
    if cert_path.exists() && key_path.exists() {
        let cert_pem = fs::read_to_string(&cert_path).map_err(io_err(&cert_path))?;
        let key_pem = read_private(&key_path)?;
        let existing = IssuedCert::from_pem(&cert_pem, &key_pem)?;
        if serving_cert_usable(&existing, ca, config, now)? {
            return Ok((existing, false));
        }
    }
    create_private_dir(dir)?;
    let issued = ca.issue_serving_cert(config, now)?;
    write_private_file(&key_path, issued.key_pem.as_bytes())?;
    write_public_file(&cert_path, issued.cert_pem.as_bytes())?;
    Ok((issued, true))
}

fn serving_cert_usable(
    cert: &IssuedCert,
    ca: &CertificateAuthority,
    config: &ServingCertConfig,
    now: i64,
) -> Result<bool, PkiError> {
    let (_, parsed) = parse(&cert.cert_der)?;
    if !ca.issued(&parsed) || parsed.validity().not_after.timestamp() - now < RENEW_BEFORE_SECS {
        return Ok(false);
    }
    let key = KeyPair::from_pem(&cert.key_pem)?;
    if parsed.public_key().raw != key.subject_public_key_info().as_slice() {
        return Ok(false);
    }
    let (want_dns, want_ips) = config.subject_alt_names()?;
    let mut have_dns: Vec<String> = Vec::new();
    let mut have_ips: Vec<IpAddr> = Vec::new();
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => have_dns.push(d.to_string()),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => have_ips.extend(<[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from)),
                    16 => have_ips.extend(<[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from)),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Ok(want_dns.iter().all(|d| have_dns.contains(d))
        && want_ips.iter().all(|i| have_ips.contains(i)))
}

/// Creates `dir` (and parents) with mode 0700 if it does not exist.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), PkiError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(dir)
        .map_err(io_err(dir))
}

/// Reads a private key file, refusing one that group or others can read or write.
pub(crate) fn read_private(path: &Path) -> Result<String, PkiError> {
    let meta = fs::metadata(path).map_err(io_err(path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(PkiError::InsecureKeyFile {
            path: path.to_path_buf(),
            mode,
        });
    }
    fs::read_to_string(path).map_err(io_err(path))
}

fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    // Write beside the target and rename, so a crash never leaves a half-written file.
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    f.write_all(contents).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

/// Writes a file readable only by its owner (keys, kubeconfigs), atomically.
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), PkiError> {
    write_file(path, contents, PRIVATE_FILE_MODE)
}

fn write_public_file(path: &Path, contents: &[u8]) -> Result<(), PkiError> {
    write_file(path, contents, 0o644)
}

/// The crypto provider of every TLS configuration here (ring).
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// ALPN protocols the API server offers, preferred first.
pub const ALPN_PROTOCOLS: &[&[u8]] = &[b"h2", b"http/1.1"];

/// The API server's TLS configuration: serves `serving`, requests (does not require) a
/// client certificate and verifies one against `ca`, offers h2 and http/1.1. A handshake
/// with a client certificate that does not verify fails; without one it proceeds and the
/// request is authenticated by token or as anonymous.
pub fn server_tls_config(
    ca: &CertificateAuthority,
    serving: &IssuedCert,
) -> Result<ServerConfig, PkiError> {
    let provider = crypto_provider();
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(ca.root_store()?), provider.clone())
            .allow_unauthenticated()
            .build()?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![serving.cert_der()], serving.key_der())?;
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// A client TLS configuration trusting `ca_pem`, presenting `identity` if given (agents,
/// controllers, tests).
pub fn client_tls_config(
    ca_pem: &str,
    identity: Option<&IssuedCert>,
) -> Result<ClientConfig, PkiError> {
    let mut roots = RootCertStore::empty();
    roots.add(certificate_der_from_pem(ca_pem)?)?;
    let builder = ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(id) => builder.with_client_auth_cert(vec![id.cert_der()], id.key_der())?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// A server name for a client connection (`"localhost"`, `"10.96.0.1"`).
pub fn server_name(name: &str) -> Result<ServerName<'static>, PkiError> {
    ServerName::try_from(name.to_string())
        .map_err(|e| PkiError::Invalid(format!("server name {name:?}: {e}")))
}

/// A kubeconfig file (`clientcmdapi.Config` v1) with one cluster, user and context.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kubeconfig {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub clusters: Vec<NamedCluster>,
    pub users: Vec<NamedUser>,
    pub contexts: Vec<NamedContext>,
    #[serde(rename = "current-context")]
    pub current_context: String,
    #[serde(default)]
    pub preferences: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NamedCluster {
    pub name: String,
    pub cluster: Cluster,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    pub server: String,
    #[serde(rename = "certificate-authority-data")]
    pub certificate_authority_data: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NamedUser {
    pub name: String,
    pub user: AuthInfo,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthInfo {
    #[serde(
        rename = "client-certificate-data",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub client_certificate_data: Option<String>,
    #[serde(
        rename = "client-key-data",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub client_key_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NamedContext {
    pub name: String,
    pub context: Context,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Context {
    pub cluster: String,
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

impl Kubeconfig {
    fn with_user(
        cluster_name: &str,
        server: &str,
        ca_pem: &str,
        user_name: &str,
        user: AuthInfo,
    ) -> Kubeconfig {
        let context = format!("{user_name}@{cluster_name}");
        Kubeconfig {
            api_version: "v1".into(),
            kind: "Config".into(),
            clusters: vec![NamedCluster {
                name: cluster_name.into(),
                cluster: Cluster {
                    server: server.into(),
                    certificate_authority_data: b64(ca_pem),
                },
            }],
            users: vec![NamedUser {
                name: user_name.into(),
                user,
            }],
            contexts: vec![NamedContext {
                name: context.clone(),
                context: Context {
                    cluster: cluster_name.into(),
                    user: user_name.into(),
                    namespace: None,
                },
            }],
            current_context: context,
            preferences: serde_json::Map::new(),
        }
    }

    /// A kubeconfig authenticating with a client certificate.
    pub fn with_client_cert(
        cluster_name: &str,
        server: &str,
        ca_pem: &str,
        user_name: &str,
        identity: &IssuedCert,
    ) -> Kubeconfig {
        let user = AuthInfo {
            client_certificate_data: Some(b64(&identity.cert_pem)),
            client_key_data: Some(b64(&identity.key_pem)),
            token: None,
        };
        Self::with_user(cluster_name, server, ca_pem, user_name, user)
    }

    /// A kubeconfig authenticating with a bearer token (bootstrap or service account).
    pub fn with_token(
        cluster_name: &str,
        server: &str,
        ca_pem: &str,
        user_name: &str,
        token: &str,
    ) -> Kubeconfig {
        let user = AuthInfo {
            token: Some(token.to_string()),
            ..AuthInfo::default()
        };
        Self::with_user(cluster_name, server, ca_pem, user_name, user)
    }

    pub fn to_yaml(&self) -> Result<String, PkiError> {
        yaml_serde::to_string(self)
            .map_err(|e| PkiError::Invalid(format!("writing kubeconfig: {e}")))
    }

    pub fn from_yaml(s: &str) -> Result<Kubeconfig, PkiError> {
        yaml_serde::from_str(s).map_err(|e| PkiError::Invalid(format!("reading kubeconfig: {e}")))
    }

    /// Writes the kubeconfig with mode 0600 (it holds a key or token).
    pub fn write(&self, path: &Path) -> Result<(), PkiError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent)?;
        }
        write_private_file(path, self.to_yaml()?.as_bytes())
    }
}

#[cfg(test)]
mod tests;
