//! PKI tests: CA, serving and client certificates over real (in-memory) TLS, files,
//! kubeconfig.

use super::*;
use crate::auth::authn::user_from_client_certificate;
use rustls::{ClientConnection, ServerConnection};
use std::net::{Ipv4Addr, Ipv6Addr};

const NOW: i64 = 1_750_000_000;

fn ca() -> CertificateAuthority {
    CertificateAuthority::generate(CA_COMMON_NAME, NOW).unwrap()
}

/// TLS handshakes check validity against the real clock, so their certificates are
/// issued now.
fn real_now() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since_epoch.as_secs()).unwrap()
}

fn serving_config() -> ServingCertConfig {
    let mut c = ServingCertConfig::new("node-a", "10.96.0.0/12");
    c.extra_sans = vec!["api.example.test".into(), "192.0.2.10".into()];
    c
}

/// Drives a TLS handshake between in-memory connections; returns the error of the side
/// that failed, if any.
fn handshake(
    client: &mut ClientConnection,
    server: &mut ServerConnection,
) -> Result<(), rustls::Error> {
    // A TLS 1.3 handshake with client auth needs three flights; the bound only stops a
    // broken exchange from looping forever.
    const MAX_ROUNDS: usize = 16;
    for _ in 0..MAX_ROUNDS {
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(());
        }
        let mut buf = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            server.read_tls(&mut buf.as_slice()).unwrap();
            server.process_new_packets()?;
        }
        let mut buf = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            client.read_tls(&mut buf.as_slice()).unwrap();
            client.process_new_packets()?;
        }
    }
    panic!("handshake did not finish in {MAX_ROUNDS} rounds");
}

fn connect(
    ca: &CertificateAuthority,
    serving: &IssuedCert,
    client_ca_pem: &str,
    identity: Option<&IssuedCert>,
    name: &str,
) -> (
    Result<(), rustls::Error>,
    ClientConnection,
    ServerConnection,
) {
    let server_cfg = Arc::new(server_tls_config(ca, serving).unwrap());
    let client_cfg = Arc::new(client_tls_config(client_ca_pem, identity).unwrap());
    let mut client = ClientConnection::new(client_cfg, server_name(name).unwrap()).unwrap();
    let mut server = ServerConnection::new(server_cfg).unwrap();
    let r = handshake(&mut client, &mut server);
    (r, client, server)
}

#[test]
fn ca_is_a_ten_year_p256_ca() {
    let ca = ca();
    let (_, cert) = x509_parser::parse_x509_certificate(ca.cert_der()).unwrap();
    assert!(cert.is_ca());
    assert_eq!(
        cert.validity().not_after.timestamp(),
        NOW + CA_VALIDITY_SECS
    );
    assert_eq!(
        cert.validity().not_before.timestamp(),
        NOW - CLOCK_SKEW_SECS
    );
    assert_eq!(
        cert.subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap(),
        CA_COMMON_NAME
    );
    assert_eq!(
        cert.public_key().algorithm.algorithm.to_id_string(),
        "1.2.840.10045.2.1"
    );
    assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----\n"));
}

#[test]
fn serving_cert_has_every_name_and_verifies_over_tls() {
    let now = real_now();
    let ca = CertificateAuthority::generate(CA_COMMON_NAME, now).unwrap();
    let serving = ca.issue_serving_cert(&serving_config(), now).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&serving.cert_der).unwrap();
    let san = cert.subject_alternative_name().unwrap().unwrap();
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for n in &san.value.general_names {
        match n {
            GeneralName::DNSName(d) => dns.push(d.to_string()),
            GeneralName::IPAddress(b) => ips.push(b.to_vec()),
            _ => {}
        }
    }
    for want in [
        "localhost",
        "node-a",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "api.example.test",
    ] {
        assert!(dns.contains(&want.to_string()), "missing {want}: {dns:?}");
    }
    assert!(ips.contains(&vec![127, 0, 0, 1]));
    assert!(ips.contains(&Ipv6Addr::LOCALHOST.octets().to_vec()));
    assert!(ips.contains(&vec![10, 96, 0, 1]));
    assert!(ips.contains(&vec![192, 0, 2, 10]));
    assert_eq!(
        cert.validity().not_after.timestamp(),
        now + LEAF_VALIDITY_SECS
    );

    for name in [
        "localhost",
        "kubernetes.default.svc",
        "10.96.0.1",
        "127.0.0.1",
    ] {
        let (r, client, _) = connect(&ca, &serving, ca.cert_pem(), None, name);
        assert!(r.is_ok(), "{name}: {r:?}");
        assert_eq!(client.alpn_protocol(), Some(&b"h2"[..]));
    }
    // A name the certificate does not hold fails.
    let (r, _, _) = connect(&ca, &serving, ca.cert_pem(), None, "other.example.test");
    assert!(r.is_err());
    // A client trusting another CA refuses the server.
    let other = CertificateAuthority::generate("other", now).unwrap();
    let (r, _, _) = connect(&ca, &serving, other.cert_pem(), None, "localhost");
    assert!(r.is_err());
}

#[test]
fn client_certificate_becomes_user_info_over_tls() {
    let now = real_now();
    let ca = CertificateAuthority::generate(CA_COMMON_NAME, now).unwrap();
    let serving = ca.issue_serving_cert(&serving_config(), now).unwrap();
    let admin = ca.issue_admin_cert("kubernetes-admin", now).unwrap();
    let (r, _, server) = connect(&ca, &serving, ca.cert_pem(), Some(&admin), "localhost");
    assert!(r.is_ok(), "{r:?}");
    let chain = server
        .peer_certificates()
        .expect("client presented a certificate");
    let user = user_from_client_certificate(chain[0].as_ref())
        .unwrap()
        .unwrap();
    assert_eq!(user.username, "kubernetes-admin");
    assert_eq!(user.groups, vec!["system:masters"]);
    let id = &user.extra[names::CREDENTIAL_ID_KEY][0];
    assert!(
        id.starts_with("X509SHA256=") && id.len() == "X509SHA256=".len() + 64,
        "{id}"
    );

    // No client certificate: the handshake proceeds without a peer identity.
    let (r, _, server) = connect(&ca, &serving, ca.cert_pem(), None, "localhost");
    assert!(r.is_ok());
    assert!(server.peer_certificates().is_none());

    // A client certificate from another CA fails the handshake.
    let other = CertificateAuthority::generate("other", now).unwrap();
    let stranger = other.issue_admin_cert("mallory", now).unwrap();

    // An expired client certificate from the right CA fails too.
    let expired = ca
        .issue_client_cert("late", &[], now - 2 * 3600, 3600)
        .unwrap();
    let (r, _, _) = connect(&ca, &serving, ca.cert_pem(), Some(&expired), "localhost");
    assert!(r.is_err());
    let (r, _, _) = connect(&ca, &serving, ca.cert_pem(), Some(&stranger), "localhost");
    assert!(r.is_err());
}

#[test]
fn client_certs_carry_several_groups_and_node_identity() {
    let ca = ca();
    let multi = ca
        .issue_client_cert("jane", &["dev", "ops", "system:masters"], NOW, 3600)
        .unwrap();
    let user = user_from_client_certificate(&multi.cert_der)
        .unwrap()
        .unwrap();
    assert_eq!(user.username, "jane");
    assert_eq!(user.groups, vec!["dev", "ops", "system:masters"]);
    assert_eq!(multi.not_after().unwrap(), NOW + 3600);

    let node = ca.issue_node_cert("worker-1", NOW).unwrap();
    let user = user_from_client_certificate(&node.cert_der)
        .unwrap()
        .unwrap();
    assert_eq!(user.username, "system:node:worker-1");
    assert_eq!(user.groups, vec!["system:nodes"]);

    // The hand-built certificate is a well-formed leaf: v3, clientAuth only, not a CA,
    // issued by the CA.
    let (_, cert) = x509_parser::parse_x509_certificate(&node.cert_der).unwrap();
    assert_eq!(cert.version().0, 2);
    assert!(!cert.is_ca());
    assert!(ca.issued(&cert));
    let eku = cert.extended_key_usage().unwrap().unwrap();
    assert!(eku.value.client_auth && !eku.value.server_auth);
    assert!(
        cert.verify_signature(Some(
            &x509_parser::parse_x509_certificate(ca.cert_der())
                .unwrap()
                .1
                .tbs_certificate
                .subject_pki
        ))
        .is_ok()
    );

    assert!(ca.issue_client_cert("", &[], NOW, 3600).is_err());
}

#[test]
fn certificates_expiring_after_2049_use_generalized_time() {
    let ca = ca();
    // 2060-01-01.
    let far = 2_840_140_800 - NOW;
    let cert = ca.issue_client_cert("long-lived", &[], NOW, far).unwrap();
    assert_eq!(cert.not_after().unwrap(), 2_840_140_800);
    assert!(
        user_from_client_certificate(&cert.cert_der)
            .unwrap()
            .is_some()
    );
}

#[test]
fn load_or_create_persists_the_ca_with_private_key_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let (first, created) = CertificateAuthority::load_or_create(&pki, NOW).unwrap();
    assert!(created);
    let key_mode = fs::metadata(pki.join(CA_KEY_FILE))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(key_mode, 0o600);
    let dir_mode = fs::metadata(&pki).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
    let (second, created) = CertificateAuthority::load_or_create(&pki, NOW + 10).unwrap();
    assert!(!created);
    assert_eq!(first.cert_pem(), second.cert_pem());
    // Certificates the reloaded CA issues chain to the original.
    let cert = second.issue_admin_cert("admin", NOW).unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(&cert.cert_der).unwrap();
    assert!(first.issued(&parsed));

    fs::set_permissions(pki.join(CA_KEY_FILE), fs::Permissions::from_mode(0o644)).unwrap();
    let err = CertificateAuthority::load_or_create(&pki, NOW).unwrap_err();
    assert!(
        matches!(err, PkiError::InsecureKeyFile { mode: 0o644, .. }),
        "{err}"
    );
}

#[test]
fn mismatched_ca_key_is_refused() {
    let a = ca();
    let b = ca();
    let b_key = b.key.serialize_pem();
    let err = CertificateAuthority::from_pem(a.cert_pem(), &b_key).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
}

#[test]
fn serving_cert_is_reused_until_names_ca_or_expiry_change() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca();
    let config = serving_config();
    let (first, issued) = load_or_create_serving_cert(dir.path(), &ca, &config, NOW).unwrap();
    assert!(issued);
    let (again, issued) = load_or_create_serving_cert(dir.path(), &ca, &config, NOW + 60).unwrap();
    assert!(!issued);
    assert_eq!(first.cert_pem, again.cert_pem);

    let mut more = config.clone();
    more.extra_sans.push("10.0.0.5".into());
    let (_, issued) = load_or_create_serving_cert(dir.path(), &ca, &more, NOW + 60).unwrap();
    assert!(issued, "a new SAN reissues");

    let other_ca = CertificateAuthority::generate("other", NOW).unwrap();
    let (_, issued) = load_or_create_serving_cert(dir.path(), &other_ca, &more, NOW + 60).unwrap();
    assert!(issued, "a new CA reissues");

    // The last certificate was issued at NOW + 60.
    let near_expiry = NOW + 60 + LEAF_VALIDITY_SECS - RENEW_BEFORE_SECS + 1;
    let (_, issued) =
        load_or_create_serving_cert(dir.path(), &other_ca, &more, near_expiry).unwrap();
    assert!(issued, "renewed before expiry");
    let mode = fs::metadata(dir.path().join(SERVING_KEY_FILE))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn first_service_ips() {
    assert_eq!(
        first_service_ip("10.96.0.0/12").unwrap(),
        IpAddr::V4(Ipv4Addr::new(10, 96, 0, 1))
    );
    assert_eq!(
        first_service_ip("10.96.5.7/12").unwrap(),
        IpAddr::V4(Ipv4Addr::new(10, 96, 0, 1))
    );
    assert_eq!(
        first_service_ip("172.16.0.0/16").unwrap(),
        IpAddr::V4(Ipv4Addr::new(172, 16, 0, 1))
    );
    assert_eq!(
        first_service_ip("fd00:10:96::/108").unwrap(),
        "fd00:10:96::1".parse::<IpAddr>().unwrap()
    );
    assert_eq!(
        first_service_ip("0.0.0.0/0").unwrap(),
        IpAddr::V4(Ipv4Addr::new(0, 0, 0, 1))
    );
    for bad in [
        "10.96.0.0",
        "10.96.0.0/31",
        "10.96.0.0/x",
        "nope/12",
        "fd00::/127",
    ] {
        assert!(first_service_ip(bad).is_err(), "{bad}");
    }
}

#[test]
fn kubeconfig_parses_back_with_decodable_credentials() {
    let ca = ca();
    let admin = ca.issue_admin_cert("kubernetes-admin", NOW).unwrap();
    let kc = Kubeconfig::with_client_cert(
        "clipper",
        "https://127.0.0.1:6443",
        ca.cert_pem(),
        "kubernetes-admin",
        &admin,
    );
    let yaml = kc.to_yaml().unwrap();
    // Parse back as untyped YAML, the way kubectl's loader sees the keys.
    let v: yaml_serde::Value = yaml_serde::from_str(&yaml).unwrap();
    assert_eq!(v["apiVersion"].as_str(), Some("v1"));
    assert_eq!(v["kind"].as_str(), Some("Config"));
    assert_eq!(
        v["current-context"].as_str(),
        Some("kubernetes-admin@clipper")
    );
    assert_eq!(
        v["contexts"][0]["context"]["cluster"].as_str(),
        Some("clipper")
    );
    assert_eq!(
        v["contexts"][0]["context"]["user"].as_str(),
        Some("kubernetes-admin")
    );
    assert_eq!(
        v["clusters"][0]["cluster"]["server"].as_str(),
        Some("https://127.0.0.1:6443")
    );
    let decode = |s: &yaml_serde::Value| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(s.as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        decode(&v["clusters"][0]["cluster"]["certificate-authority-data"]),
        ca.cert_pem()
    );
    let cert_pem = decode(&v["users"][0]["user"]["client-certificate-data"]);
    let key_pem = decode(&v["users"][0]["user"]["client-key-data"]);
    assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let back = IssuedCert::from_pem(&cert_pem, &key_pem).unwrap();
    let user = user_from_client_certificate(&back.cert_der)
        .unwrap()
        .unwrap();
    assert_eq!(user.groups, vec!["system:masters"]);
    assert_eq!(Kubeconfig::from_yaml(&yaml).unwrap(), kc);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.conf");
    kc.write(&path).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        Kubeconfig::from_yaml(&fs::read_to_string(&path).unwrap()).unwrap(),
        kc
    );

    let tk = Kubeconfig::with_token(
        "clipper",
        "https://10.0.0.1:6443",
        ca.cert_pem(),
        "bootstrap",
        "abcdef.0123456789abcdef",
    );
    let v: yaml_serde::Value = yaml_serde::from_str(&tk.to_yaml().unwrap()).unwrap();
    assert_eq!(
        v["users"][0]["user"]["token"].as_str(),
        Some("abcdef.0123456789abcdef")
    );
    assert!(v["users"][0]["user"].get("client-key-data").is_none());
}
