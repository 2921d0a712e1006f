//! `kube-public/cluster-info`, the ConfigMap kubeadm's bootstrap discovery reads: a
//! kubeconfig naming the API server's address and the cluster CA, without credentials.
//! Anyone may read it (the `kubeadm:bootstrap-signer-clusterinfo` Role lets
//! `system:anonymous` get it), so a joining node can fetch the CA before it trusts the
//! server, and must check it against the CA pin it was given (`clipper join` prints
//! one).

use serde_json::json;

use crate::api::WriteOptions;
use crate::http::Server;
use crate::status::ApiError;

pub const NAMESPACE: &str = "kube-public";
pub const NAME: &str = "cluster-info";
/// The data key holding the kubeconfig.
pub const KUBECONFIG_KEY: &str = "kubeconfig";

/// The discovery kubeconfig for `server_url` and the CA.
pub fn discovery_kubeconfig(server_url: &str, ca_pem: &str) -> String {
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: \"\"\n  cluster:\n    certificate-authority-data: {ca}\n    server: {server_url}\ncontexts: []\ncurrent-context: \"\"\nusers: []\n"
    )
}

/// Creates the ConfigMap, or brings it up to date (the server's address may change
/// between starts).
pub async fn ensure(server: &Server, server_url: &str, ca_pem: &str) -> Result<(), ApiError> {
    let api = &server.api;
    let scope = api.scope("", "v1", "configmaps", Some(NAMESPACE))?;
    let kubeconfig = discovery_kubeconfig(server_url, ca_pem);
    let opts = WriteOptions {
        field_manager: "kube-apiserver".into(),
        ..Default::default()
    };
    let want = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": NAME, "namespace": NAMESPACE },
        "data": { KUBECONFIG_KEY: kubeconfig },
    });
    let decode = |v| {
        scope
            .served
            .codec
            .decode_value(v)
            .map(|d| d.value)
            .map_err(|e| ApiError::internal(e.to_string()))
    };
    match api.get(&scope, NAME).await {
        Ok(current) => {
            let mut have = current
                .to_value()
                .map_err(|e| ApiError::internal(e.to_string()))?;
            if have["data"][KUBECONFIG_KEY].as_str() == Some(kubeconfig.as_str()) {
                return Ok(());
            }
            have["data"][KUBECONFIG_KEY] = json!(kubeconfig);
            api.update(&scope, NAME, decode(have)?, None, &opts)
                .await
                .map(drop)
        }
        Err(e) if e.code == 404 => match api.create(&scope, decode(want)?, &opts).await {
            Ok(_) => Ok(()),
            Err(e) if e.code == 409 => Ok(()),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    }
}
