//! CertificateSigningRequests through stock kubectl: the requester recorded by the
//! server, `kubectl certificate approve|deny`, the cluster CA issuing what was approved
//! (and the certificate then authenticating its subject), kube's validation and the
//! admission rules: no `system:masters` from the client signer, `approve` needed on the
//! signer, a certificate never replaced.

mod common;

use std::time::Duration;

use clipper_apiserver::auth::pki::{self, IssuedCert, Kubeconfig};
use clipper_apiserver::certificates::request;
use common::{Cluster, wait_for};

const LIMIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn b64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

/// A CSR manifest and the private key (PEM) of its request.
fn csr(name: &str, signer: &str, cn: &str, orgs: &[&str]) -> (String, String) {
    let (key, req) = request::generate(cn, orgs).expect("request");
    let manifest = format!(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: {name}\nspec:\n  request: {}\n  signerName: {signer}\n  expirationSeconds: 3600\n  usages: [\"client auth\", \"digital signature\"]\n  username: mallory\n",
        b64(req.as_bytes())
    );
    (manifest, key)
}

/// Runs with `stdin`; the command must fail; its stderr.
fn fails_stdin(k: &common::Kubectl, args: &[&str], stdin: &str) -> String {
    let r = k.run_with(args, Some(stdin), &[]);
    assert!(!r.ok, "{args:?} succeeded: {}", r.stdout);
    r.stderr
}

#[test]
fn requests_are_approved_issued_and_guarded_as_in_kubernetes() {
    let cluster = Cluster::start();
    let k = cluster.kubectl("1.33");
    let old = cluster.kubectl("1.27");

    // The server records who asked, whatever the body says.
    let (alice_csr, alice_key) = csr(
        "alice",
        "kubernetes.io/kube-apiserver-client",
        "alice",
        &["dev"],
    );
    assert_eq!(
        k.ok_stdin(&["create", "-f", "-"], &alice_csr).trim_end(),
        "certificatesigningrequest.certificates.k8s.io/alice created"
    );
    let created = k.json(&["get", "csr", "alice"]);
    assert_eq!(created["spec"]["username"], "kubernetes-admin");
    let groups = created["spec"]["groups"].as_array().expect("groups");
    assert!(groups.iter().any(|g| g == "system:masters"), "{groups:?}");
    assert!(created["status"]["certificate"].is_null());
    assert!(k.ok(&["get", "csr", "alice"]).contains("Pending"));

    // Approved by a person, issued by the cluster CA.
    assert_eq!(
        k.ok(&["certificate", "approve", "alice"]).trim_end(),
        "certificatesigningrequest.certificates.k8s.io/alice approved"
    );
    let issued = wait_for(
        "alice's certificate",
        LIMIT,
        POLL,
        || k.json(&["get", "csr", "alice"]),
        |csr| csr["status"]["certificate"].is_string(),
        String::new,
    );
    let approved = &issued["status"]["conditions"][0];
    assert_eq!(approved["type"], "Approved");
    assert_eq!(approved["reason"], "KubectlApprove");
    assert!(approved["lastUpdateTime"].is_string(), "{approved}");
    assert!(k.ok(&["get", "csr", "alice"]).contains("Approved,Issued"));
    let cert_pem = String::from_utf8(b64_decode(
        issued["status"]["certificate"].as_str().unwrap(),
    ))
    .expect("PEM");
    let der = pki::certificate_der_from_pem(&cert_pem).expect("a certificate");
    let user = clipper_apiserver::auth::authn::user_from_client_certificate(&der)
        .expect("parses")
        .expect("a user");
    assert_eq!(
        (user.username.as_str(), user.groups.as_slice()),
        ("alice", &["dev".to_string()][..])
    );

    // The certificate authenticates alice, who may do nothing yet.
    let ca_pem =
        String::from_utf8(cluster.kubeconfig_data("certificate-authority-data")).expect("CA PEM");
    let alice_config = cluster.dir.path().join("alice.kubeconfig");
    Kubeconfig::with_client_cert(
        "clipper",
        &cluster.server,
        &ca_pem,
        "alice",
        &IssuedCert::from_pem(&cert_pem, &alice_key).expect("issued cert"),
    )
    .write(&alice_config)
    .expect("write kubeconfig");
    let as_alice = k.with_kubeconfig(&alice_config);
    let denied = as_alice.fails(&["get", "pods"]);
    assert!(
        denied.contains("User \"alice\" cannot list resource \"pods\""),
        "{denied}"
    );

    // A certificate is set once.
    let replaced = k.fails(&[
        "patch",
        "csr",
        "alice",
        "--subresource=status",
        "--type=merge",
        "-p",
        "{\"status\":{\"certificate\":\"Zm9v\"}}",
    ]);
    assert!(
        replaced.contains("updates may not modify existing certificate content"),
        "{replaced}"
    );

    // Denied: never issued.
    let (bob_csr, _) = csr("bob", "kubernetes.io/kube-apiserver-client", "bob", &[]);
    k.ok_stdin(&["create", "-f", "-"], &bob_csr);
    assert_eq!(
        old.ok(&["certificate", "deny", "bob"]).trim_end(),
        "certificatesigningrequest.certificates.k8s.io/bob denied"
    );
    let bob = k.json(&["get", "csr", "bob"]);
    assert_eq!(bob["status"]["conditions"][0]["type"], "Denied");
    assert!(k.ok(&["get", "csr", "bob"]).contains("Denied"));
    // Approving a denied request is invalid (kubectl checks too; the server is asked
    // directly here).
    let mut approve_bob = bob.clone();
    approve_bob["status"]["conditions"]
        .as_array_mut()
        .expect("conditions")
        .push(serde_json::json!({"type": "Approved", "status": "True", "reason": "Test"}));
    let both = fails_stdin(
        &k,
        &[
            "replace",
            "--raw",
            "/apis/certificates.k8s.io/v1/certificatesigningrequests/bob/approval",
            "-f",
            "-",
        ],
        &approve_bob.to_string(),
    );
    assert!(
        both.contains("Approved and Denied conditions are mutually exclusive"),
        "{both}"
    );

    // The client signer does not hand out system:masters.
    let (masters, _) = csr(
        "root",
        "kubernetes.io/kube-apiserver-client",
        "root",
        &["system:masters"],
    );
    let refused = fails_stdin(&k, &["create", "-f", "-"], &masters);
    assert!(
        refused.contains("is forbidden: use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed"),
        "{refused}"
    );

    // Validation, with kube's field errors.
    let garbage = "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: junk\nspec:\n  request: aGVsbG8=\n  signerName: nodomain\n  usages: [\"client auth\", \"flying\"]\n";
    let invalid = fails_stdin(&k, &["create", "-f", "-"], garbage);
    for part in [
        "spec.request: Invalid value",
        "PEM block type must be CERTIFICATE REQUEST",
        "spec.signerName: Invalid value: \"nodomain\"",
        "spec.usages[1]: Unsupported value: \"flying\"",
    ] {
        assert!(invalid.contains(part), "{part} in {invalid}");
    }

    // Approving needs `approve` on the signer, beyond writing the approval.
    let rbac = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: csr-approval-writer\nrules:\n- apiGroups: [certificates.k8s.io]\n  resources: [certificatesigningrequests]\n  verbs: [get, list]\n- apiGroups: [certificates.k8s.io]\n  resources: [certificatesigningrequests/approval]\n  verbs: [update]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: alice-approval-writer\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: csr-approval-writer\nsubjects:\n- apiGroup: rbac.authorization.k8s.io\n  kind: User\n  name: alice\n";
    k.ok_stdin(&["apply", "-f", "-"], rbac);
    let (carol_csr, _) = csr("carol", "example.com/foo", "carol", &[]);
    k.ok_stdin(&["create", "-f", "-"], &carol_csr);
    let as_alice_old = old.with_kubeconfig(&alice_config);
    let not_permitted = as_alice_old.fails(&["certificate", "approve", "carol"]);
    assert!(
        not_permitted
            .contains("user not permitted to approve requests with signerName \"example.com/foo\""),
        "{not_permitted}"
    );
    let signer_role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: csr-approval-writer\nrules:\n- apiGroups: [certificates.k8s.io]\n  resources: [certificatesigningrequests]\n  verbs: [get, list]\n- apiGroups: [certificates.k8s.io]\n  resources: [certificatesigningrequests/approval]\n  verbs: [update]\n- apiGroups: [certificates.k8s.io]\n  resources: [signers]\n  resourceNames: [\"example.com/*\"]\n  verbs: [approve]\n";
    k.ok_stdin(&["apply", "-f", "-"], signer_role);
    wait_for(
        "alice may approve example.com signers",
        LIMIT,
        POLL,
        || {
            let r = as_alice_old.run(&["certificate", "approve", "carol"]);
            (r.ok, r.stderr)
        },
        |(ok, _)| *ok,
        String::new,
    );
    let carol = k.json(&["get", "csr", "carol"]);
    assert_eq!(carol["status"]["conditions"][0]["type"], "Approved");
    // Another signer's request is not the cluster CA's to issue.
    assert!(carol["status"]["certificate"].is_null());
    cluster.stop();
}
