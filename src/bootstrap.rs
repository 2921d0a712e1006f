//! A node agent joining with a bootstrap token (`clipper agent --server --token
//! --ca-cert-hash`, the command `clipper join` prints), as kubeadm's discovery and
//! kubelet's TLS bootstrap do it:
//!
//! 1. discovery: `kube-public/cluster-info` is read anonymously without trusting the
//!    server yet; the CA it names is accepted only if its public key matches the pin;
//! 2. from then on the server is verified with that CA; with the token, the agent
//!    creates a CertificateSigningRequest for `system:node:<name>` in `system:nodes`
//!    (signer `kubernetes.io/kube-apiserver-client-kubelet`) with a key it generated,
//!    which the control plane approves (the token's group may) and signs;
//! 3. the certificate and key are written as the agent's kubeconfig (0600), which later
//!    starts use directly.

use std::net::{SocketAddr, ToSocketAddrs as _};
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use clipper_apiserver::auth::pki::{self, IssuedCert, Kubeconfig};
use clipper_apiserver::certificates::{self, request};
use clipper_client::{Credentials, RestClient};
use serde_json::{Value, json};

/// How long the agent waits for its request to be approved and signed.
const ISSUE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Between looks at the request while it waits.
const ISSUE_POLL: Duration = Duration::from_millis(500);

/// What `clipper join` printed.
pub struct JoinOptions {
    pub server: String,
    pub token: String,
    pub ca_cert_hash: String,
    pub node_name: String,
}

/// `https://host:port` as an address and the name the server's certificate must carry.
fn server_address(url: &str) -> anyhow::Result<(SocketAddr, String)> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| anyhow::anyhow!("--server {url:?} must be an https:// URL"))?
        .trim_end_matches('/');
    let (host, port) = match rest.strip_prefix('[') {
        Some(v6) => {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| anyhow::anyhow!("--server {url:?}: unclosed [ in the address"))?;
            (h, after.strip_prefix(':'))
        }
        None => match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        },
    };
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| anyhow::anyhow!("--server {url:?}: bad port {p:?}"))?,
        None => 443,
    };
    let addr = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{host} resolves to nothing"))?;
    Ok((addr, host.to_string()))
}

/// Checks the flags before anything is sent.
fn check(opts: &JoinOptions) -> anyhow::Result<()> {
    if clipper_apiserver::auth::bootstrap_token::parse_token(&opts.token).is_none() {
        anyhow::bail!(
            "--token: the bootstrap token {:?} was not of the form \"[a-z0-9]{{6}}.[a-z0-9]{{16}}\"",
            opts.token
        );
    }
    let hex = opts
        .ca_cert_hash
        .strip_prefix("sha256:")
        .ok_or_else(|| anyhow::anyhow!("--ca-cert-hash must be sha256:<64 hex digits>"))?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        anyhow::bail!("--ca-cert-hash must be sha256:<64 hex digits>");
    }
    Ok(())
}

/// The CA named by a cluster-info kubeconfig, if its key matches `pin`.
pub fn pinned_ca(cluster_info: &Value, pin: &str) -> anyhow::Result<String> {
    let kubeconfig = cluster_info["data"][clipper_apiserver::cluster_info::KUBECONFIG_KEY]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("kube-public/cluster-info has no kubeconfig"))?;
    let doc: Value = yaml_serde::from_str(kubeconfig)
        .map_err(|e| anyhow::anyhow!("kube-public/cluster-info: {e}"))?;
    let b64 = doc["clusters"][0]["cluster"]["certificate-authority-data"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("kube-public/cluster-info names no CA"))?;
    use base64::Engine as _;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| anyhow::anyhow!("kube-public/cluster-info: the CA: {e}"))?;
    let pem = String::from_utf8(pem)
        .map_err(|_| anyhow::anyhow!("kube-public/cluster-info: the CA is not PEM"))?;
    let der = pki::certificate_der_from_pem(&pem)
        .map_err(|e| anyhow::anyhow!("kube-public/cluster-info: the CA: {e}"))?;
    let got = pki::public_key_pin(&der)
        .map_err(|e| anyhow::anyhow!("kube-public/cluster-info: the CA: {e}"))?;
    if !got.eq_ignore_ascii_case(pin) {
        anyhow::bail!(
            "the cluster CA's public key hash is {got}, not the --ca-cert-hash {pin}: refusing to trust this server"
        );
    }
    Ok(pem)
}

/// Joins: discovery, the certificate request, and the kubeconfig written to `path`.
pub async fn bootstrap(opts: &JoinOptions, path: &Path) -> anyhow::Result<()> {
    check(opts)?;
    let (addr, server_name) = server_address(&opts.server)?;
    let discovery = RestClient::unverified_for_discovery(addr, &server_name, "clipper-agent")?;
    let info = discovery
        .get("/api/v1/namespaces/kube-public/configmaps/cluster-info")
        .await
        .map_err(|e| {
            anyhow::anyhow!("reading kube-public/cluster-info from {}: {e}", opts.server)
        })?;
    let ca_pem = pinned_ca(&info, &opts.ca_cert_hash)?;
    let creds = Credentials {
        addr,
        server_name,
        ca: pki::certificate_der_from_pem(&ca_pem)?,
        identity: None,
        token: Some(opts.token.clone()),
    };
    let client = RestClient::new(creds, "clipper-agent")?;
    let user = format!("system:node:{}", opts.node_name);
    let (key_pem, csr_pem) = request::generate(&user, &["system:nodes"])
        .map_err(|e| anyhow::anyhow!("the certificate request: {e}"))?;
    use base64::Engine as _;
    let body = json!({
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": { "generateName": "node-csr-" },
        "spec": {
            "request": base64::engine::general_purpose::STANDARD.encode(&csr_pem),
            "signerName": certificates::KUBE_APISERVER_CLIENT_KUBELET,
            "usages": ["digital signature", "client auth"],
        },
    });
    let created = client
        .create(
            "/apis/certificates.k8s.io/v1/certificatesigningrequests",
            &body,
        )
        .await
        .map_err(|e| anyhow::anyhow!("creating the certificate request: {e}"))?;
    let name = created["metadata"]["name"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the server returned a request without a name"))?
        .to_string();
    let cert_pem = wait_issued(&client, &name).await?;
    let issued = IssuedCert::from_pem(&cert_pem, &key_pem)
        .map_err(|e| anyhow::anyhow!("the issued certificate: {e}"))?;
    let kubeconfig = Kubeconfig::with_client_cert("clipper", &opts.server, &ca_pem, &user, &issued);
    kubeconfig
        .write(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Waits until the request named `name` carries its certificate; a denial or a
/// failure ends the wait with the reason.
async fn wait_issued(client: &RestClient, name: &str) -> anyhow::Result<String> {
    let path = format!("/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}");
    let deadline = tokio::time::Instant::now() + ISSUE_TIMEOUT;
    loop {
        let csr = client
            .get(&path)
            .await
            .map_err(|e| anyhow::anyhow!("reading the certificate request {name}: {e}"))?;
        for c in csr["status"]["conditions"].as_array().into_iter().flatten() {
            let t = c["type"].as_str().unwrap_or("");
            if (t == certificates::DENIED || t == certificates::FAILED) && c["status"] == "True" {
                anyhow::bail!(
                    "the certificate request {name} was {}: {} {}",
                    t.to_lowercase(),
                    c["reason"].as_str().unwrap_or(""),
                    c["message"].as_str().unwrap_or("")
                );
            }
        }
        if let Some(b64) = csr["status"]["certificate"]
            .as_str()
            .filter(|s| !s.is_empty())
        {
            use base64::Engine as _;
            let pem = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| anyhow::anyhow!("the issued certificate: {e}"))?;
            return String::from_utf8(pem)
                .map_err(|_| anyhow::anyhow!("the issued certificate is not PEM"));
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "the certificate request {name} was not approved and signed within {}s (kubectl certificate approve {name})",
                ISSUE_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(ISSUE_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        let (addr, name) = server_address("https://10.1.2.3:6443").unwrap();
        assert_eq!(addr, "10.1.2.3:6443".parse::<SocketAddr>().unwrap());
        assert_eq!(name, "10.1.2.3");
        let (addr, name) = server_address("https://[::1]:6443/").unwrap();
        assert_eq!(addr, "[::1]:6443".parse::<SocketAddr>().unwrap());
        assert_eq!(name, "::1");
        let (addr, _) = server_address("https://127.0.0.1").unwrap();
        assert_eq!(addr.port(), 443);
        assert!(server_address("http://10.1.2.3:6443").is_err());
    }

    #[test]
    fn flags_are_checked_before_anything_is_sent() {
        let mut o = JoinOptions {
            server: "https://127.0.0.1:6443".into(),
            token: "abcdef.0123456789abcdef".into(),
            ca_cert_hash: format!("sha256:{}", "a".repeat(64)),
            node_name: "n".into(),
        };
        assert!(check(&o).is_ok());
        o.ca_cert_hash = "sha256:abc".into();
        assert!(check(&o).is_err());
        o.ca_cert_hash = format!("sha256:{}", "a".repeat(64));
        o.token = "not-a-token".into();
        assert!(check(&o).unwrap_err().to_string().contains("--token"));
    }

    #[test]
    fn the_ca_must_match_the_pin() {
        let ca = pki::CertificateAuthority::generate("test", 1_750_000_000).unwrap();
        let info = json!({"data": {"kubeconfig": clipper_apiserver::cluster_info::discovery_kubeconfig("https://10.0.0.1:6443", ca.cert_pem())}});
        let pin = pki::public_key_pin(ca.cert_der()).unwrap();
        assert_eq!(pinned_ca(&info, &pin).unwrap(), ca.cert_pem());
        let other = pki::CertificateAuthority::generate("other", 1_750_000_000).unwrap();
        let wrong = pki::public_key_pin(other.cert_der()).unwrap();
        let err = pinned_ca(&info, &wrong).unwrap_err().to_string();
        assert!(err.contains("refusing to trust"), "{err}");
    }
}
