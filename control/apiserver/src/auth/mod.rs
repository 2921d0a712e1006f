//! Authentication and authorization for the API server, as Kubernetes 1.33 does them.
//!
//! Everything here is pure and testable: objects (Secrets, roles, bindings, pods) and the
//! clock (`now`, Unix seconds) are passed in. The only file I/O is in the clearly named
//! `load_or_create*` functions of [`pki`] and [`sa_token`] (which take a directory),
//! [`pki::Kubeconfig::write`], [`pki::write_private_file`] and [`pki::detect_host_name`].
//!
//! - [`pki`]: the cluster CA, serving and client certificates, kubeconfig files and the
//!   rustls configurations.
//! - [`authn`]: request credentials → [`UserInfo`] (client certificates, bearer tokens,
//!   anonymous), with [`sa_token`] (service-account JWTs) and [`bootstrap_token`].
//! - [`rbac`], [`node`]: the authorizers; [`policy`]: the default roles and bindings.
//!
//! The authorizer chain the server builds is [`Union`] of
//! [`PrivilegedGroupAuthorizer`] (system:masters), [`node::NodeAuthorizer`] and
//! [`rbac::RbacAuthorizer`], as kube-apiserver's `--authorization-mode=Node,RBAC`.

pub mod authn;
pub mod bootstrap_token;
pub mod impersonate;
pub mod node;
pub mod pki;
pub mod policy;
pub mod rbac;
pub mod sa_token;
pub mod selector;

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

/// Well-known user and group names (k8s.io/apiserver/pkg/authentication/user).
pub mod names {
    /// Members may do anything; the API server's loopback identity is in it.
    pub const SYSTEM_MASTERS: &str = "system:masters";
    /// Every authenticated request carries this group.
    pub const ALL_AUTHENTICATED: &str = "system:authenticated";
    /// Every anonymous request carries this group.
    pub const ALL_UNAUTHENTICATED: &str = "system:unauthenticated";
    /// The anonymous user.
    pub const ANONYMOUS: &str = "system:anonymous";
    /// Group of every node (kubelet / Clipper agent) identity.
    pub const NODES_GROUP: &str = "system:nodes";
    /// Username prefix of node identities: `system:node:<node name>`.
    pub const NODE_USER_PREFIX: &str = "system:node:";
    /// Group readable by monitoring agents (`/metrics`, health endpoints).
    pub const MONITORING_GROUP: &str = "system:monitoring";
    pub const KUBE_PROXY: &str = "system:kube-proxy";
    pub const KUBE_CONTROLLER_MANAGER: &str = "system:kube-controller-manager";
    pub const KUBE_SCHEDULER: &str = "system:kube-scheduler";
    /// Username prefix of service accounts: `system:serviceaccount:<ns>:<name>`.
    pub const SERVICE_ACCOUNT_USER_PREFIX: &str = "system:serviceaccount:";
    /// Group of every service account.
    pub const ALL_SERVICE_ACCOUNTS: &str = "system:serviceaccounts";
    /// Group prefix of the service accounts of one namespace: `system:serviceaccounts:<ns>`.
    pub const SERVICE_ACCOUNT_GROUP_PREFIX: &str = "system:serviceaccounts:";
    /// Username prefix of bootstrap tokens: `system:bootstrap:<token id>`.
    pub const BOOTSTRAP_USER_PREFIX: &str = "system:bootstrap:";
    /// Group of every bootstrap token.
    pub const BOOTSTRAPPERS_GROUP: &str = "system:bootstrappers";
    /// `user.Info` extra key of the credential's identity (cert fingerprint or token JTI).
    pub const CREDENTIAL_ID_KEY: &str = "authentication.kubernetes.io/credential-id";
    pub const POD_NAME_KEY: &str = "authentication.kubernetes.io/pod-name";
    pub const POD_UID_KEY: &str = "authentication.kubernetes.io/pod-uid";
    pub const NODE_NAME_KEY: &str = "authentication.kubernetes.io/node-name";
    pub const NODE_UID_KEY: &str = "authentication.kubernetes.io/node-uid";
}

/// `system:serviceaccount:<namespace>:<name>`.
pub fn service_account_username(namespace: &str, name: &str) -> String {
    format!("{}{namespace}:{name}", names::SERVICE_ACCOUNT_USER_PREFIX)
}

/// Splits `system:serviceaccount:<namespace>:<name>` into (namespace, name).
pub fn split_service_account_username(username: &str) -> Option<(&str, &str)> {
    let rest = username.strip_prefix(names::SERVICE_ACCOUNT_USER_PREFIX)?;
    let (namespace, name) = rest.split_once(':')?;
    if namespace.is_empty() || name.is_empty() || name.contains(':') {
        return None;
    }
    Some((namespace, name))
}

/// Read access to state the server keeps current from its watch cache (an RBAC snapshot,
/// the node graph): a plain value, an `Arc`, or a `RwLock` the server writes to.
pub trait ReadState<T>: Send + Sync {
    fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R;
}

impl<T: Send + Sync> ReadState<T> for T {
    fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(self)
    }
}

impl<T: Send + Sync> ReadState<T> for Arc<T> {
    fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(self)
    }
}

impl<T: Send + Sync> ReadState<T> for RwLock<T> {
    fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        // A writer that panicked left a complete value behind (updates replace whole
        // entries), so reading through the poison is sound.
        let guard = self.read().unwrap_or_else(PoisonError::into_inner);
        f(&guard)
    }
}

impl<T: Send + Sync> ReadState<T> for Arc<RwLock<T>> {
    fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        self.as_ref().with(f)
    }
}

/// An authenticated (or anonymous) identity: `user.Info`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// A user with a name and groups, no uid or extra.
    pub fn new(username: impl Into<String>, groups: &[&str]) -> UserInfo {
        UserInfo {
            username: username.into(),
            uid: String::new(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            extra: BTreeMap::new(),
        }
    }

    /// `system:anonymous` in `system:unauthenticated`.
    pub fn anonymous() -> UserInfo {
        UserInfo::new(names::ANONYMOUS, &[names::ALL_UNAUTHENTICATED])
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// Adds `system:authenticated` as kube-apiserver's AuthenticatedGroupAdder does: not to
    /// the anonymous user, and not when either all-users group is already present.
    pub fn with_authenticated_group(mut self) -> UserInfo {
        if self.username == names::ANONYMOUS
            || self.in_group(names::ALL_AUTHENTICATED)
            || self.in_group(names::ALL_UNAUTHENTICATED)
        {
            return self;
        }
        self.groups.push(names::ALL_AUTHENTICATED.to_string());
        self
    }
}

/// One requirement of a field selector (`spec.nodeName=node-1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub op: FieldOp,
    pub value: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldOp {
    /// `=` or `==`.
    Equals,
    /// `!=`.
    NotEquals,
}

/// Parses a field selector as `fields.ParseSelector` does: comma-separated `key=value`,
/// `key==value` or `key!=value`, with `\` escaping `\`, `,` and `=` in values.
pub fn parse_field_selector(selector: &str) -> Result<Vec<FieldRequirement>, String> {
    let mut out = Vec::new();
    for term in split_unescaped(selector, ',') {
        if term.is_empty() {
            continue;
        }
        let (field, op, raw_value) = if let Some(i) = find_unescaped(&term, "!=") {
            (&term[..i], FieldOp::NotEquals, &term[i + 2..])
        } else if let Some(i) = find_unescaped(&term, "==") {
            (&term[..i], FieldOp::Equals, &term[i + 2..])
        } else if let Some(i) = find_unescaped(&term, "=") {
            (&term[..i], FieldOp::Equals, &term[i + 1..])
        } else {
            return Err(format!(
                "invalid selector: '{selector}'; can't understand '{term}'"
            ));
        };
        let value = unescape_field_value(raw_value)
            .ok_or_else(|| format!("invalid field selector value {raw_value:?}: bad escape"))?;
        out.push(FieldRequirement {
            field: field.to_string(),
            op,
            value,
        });
    }
    Ok(out)
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            current.push('\\');
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    if escaped {
        current.push('\\');
    }
    parts.push(current);
    parts
}

/// Byte index of the first `pattern` not preceded by an escaping backslash.
fn find_unescaped(s: &str, pattern: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if s[i..].starts_with(pattern) {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn unescape_field_value(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// The attributes of one request that authorizers decide on (`authorizer.Attributes`).
#[derive(Clone, Copy, Debug)]
pub struct Attributes<'a> {
    pub user: &'a UserInfo,
    pub verb: &'a str,
    /// "" for the core group.
    pub api_group: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    /// "" for cluster-scoped requests.
    pub namespace: &'a str,
    /// "" when the request names no object (create, and list/watch unless the server
    /// takes the name from a `metadata.name=` field selector, as Kubernetes' RequestInfo
    /// does: kubelets watch their own Node and Secrets that way).
    pub name: &'a str,
    /// The URL path of a non-resource request.
    pub path: &'a str,
    pub resource_request: bool,
    /// The request's field selector (list/watch), parsed with [`parse_field_selector`].
    pub field_selector: &'a [FieldRequirement],
}

impl<'a> Attributes<'a> {
    /// A resource request without subresource or field selector.
    pub fn resource(
        user: &'a UserInfo,
        verb: &'a str,
        api_group: &'a str,
        resource: &'a str,
        namespace: &'a str,
        name: &'a str,
    ) -> Attributes<'a> {
        Attributes {
            user,
            verb,
            api_group,
            resource,
            subresource: "",
            namespace,
            name,
            path: "",
            resource_request: true,
            field_selector: &[],
        }
    }

    /// A non-resource request (`/healthz`, `/api`, …).
    pub fn non_resource(user: &'a UserInfo, verb: &'a str, path: &'a str) -> Attributes<'a> {
        Attributes {
            user,
            verb,
            api_group: "",
            resource: "",
            subresource: "",
            namespace: "",
            name: "",
            path,
            resource_request: false,
            field_selector: &[],
        }
    }

    pub fn with_subresource(mut self, subresource: &'a str) -> Attributes<'a> {
        self.subresource = subresource;
        self
    }

    pub fn with_field_selector(mut self, field_selector: &'a [FieldRequirement]) -> Attributes<'a> {
        self.field_selector = field_selector;
        self
    }
}

/// An authorizer's answer. `NoOpinion` lets the next authorizer decide; when none allows,
/// the request is forbidden with the collected reasons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow(String),
    Deny(String),
    NoOpinion(String),
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    pub fn reason(&self) -> &str {
        match self {
            Decision::Allow(r) | Decision::Deny(r) | Decision::NoOpinion(r) => r,
        }
    }
}

/// `authorizer.Authorizer`.
pub trait Authorizer: Send + Sync {
    fn authorize(&self, attrs: &Attributes<'_>) -> Decision;
}

/// Allows everything for members of the given groups (kube-apiserver puts one for
/// `system:masters` in front of every other authorizer).
#[derive(Clone, Debug)]
pub struct PrivilegedGroupAuthorizer {
    groups: Vec<String>,
}

impl PrivilegedGroupAuthorizer {
    pub fn new(groups: &[&str]) -> PrivilegedGroupAuthorizer {
        PrivilegedGroupAuthorizer {
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    /// The `system:masters` authorizer.
    pub fn system_masters() -> PrivilegedGroupAuthorizer {
        PrivilegedGroupAuthorizer::new(&[names::SYSTEM_MASTERS])
    }
}

impl Authorizer for PrivilegedGroupAuthorizer {
    fn authorize(&self, attrs: &Attributes<'_>) -> Decision {
        if attrs.user.groups.iter().any(|g| self.groups.contains(g)) {
            Decision::Allow(String::new())
        } else {
            Decision::NoOpinion(String::new())
        }
    }
}

/// Asks each authorizer in turn; the first Allow or Deny wins. When every one has no
/// opinion, the answer is NoOpinion with their non-empty reasons joined by "\n", as the
/// union authorizer does.
pub struct Union {
    authorizers: Vec<Box<dyn Authorizer>>,
}

impl Union {
    pub fn new(authorizers: Vec<Box<dyn Authorizer>>) -> Union {
        Union { authorizers }
    }
}

impl Authorizer for Union {
    fn authorize(&self, attrs: &Attributes<'_>) -> Decision {
        let mut reasons: Vec<String> = Vec::new();
        for authorizer in &self.authorizers {
            match authorizer.authorize(attrs) {
                Decision::NoOpinion(reason) => {
                    if !reason.is_empty() {
                        reasons.push(reason);
                    }
                }
                decided => return decided,
            }
        }
        Decision::NoOpinion(reasons.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authenticated_group_added_once_and_not_to_anonymous() {
        let u = UserInfo::new("alice", &["dev"]).with_authenticated_group();
        assert_eq!(u.groups, vec!["dev", "system:authenticated"]);
        let again = u.clone().with_authenticated_group();
        assert_eq!(again.groups, u.groups);
        let anon = UserInfo::anonymous().with_authenticated_group();
        assert_eq!(anon.groups, vec!["system:unauthenticated"]);
    }

    #[test]
    fn service_account_usernames() {
        assert_eq!(
            service_account_username("kube-system", "default"),
            "system:serviceaccount:kube-system:default"
        );
        assert_eq!(
            split_service_account_username("system:serviceaccount:ns1:builder"),
            Some(("ns1", "builder"))
        );
        assert_eq!(
            split_service_account_username("system:serviceaccount:ns1"),
            None
        );
        assert_eq!(
            split_service_account_username("system:serviceaccount::x"),
            None
        );
        assert_eq!(split_service_account_username("alice"), None);
    }

    #[test]
    fn field_selectors_parse_like_kubernetes() {
        let reqs =
            parse_field_selector("spec.nodeName=node-1,metadata.name!=x,status.phase==Running")
                .unwrap();
        assert_eq!(
            reqs,
            vec![
                FieldRequirement {
                    field: "spec.nodeName".into(),
                    op: FieldOp::Equals,
                    value: "node-1".into()
                },
                FieldRequirement {
                    field: "metadata.name".into(),
                    op: FieldOp::NotEquals,
                    value: "x".into()
                },
                FieldRequirement {
                    field: "status.phase".into(),
                    op: FieldOp::Equals,
                    value: "Running".into()
                },
            ]
        );
        let escaped = parse_field_selector(r"metadata.name=a\,b\=c").unwrap();
        assert_eq!(escaped[0].value, "a,b=c");
        assert!(parse_field_selector("justakey").is_err());
        assert!(parse_field_selector(r"a=b\q").is_err());
        assert!(parse_field_selector("").unwrap().is_empty());
    }

    struct Fixed(Decision);
    impl Authorizer for Fixed {
        fn authorize(&self, _: &Attributes<'_>) -> Decision {
            self.0.clone()
        }
    }

    #[test]
    fn union_takes_first_decision_and_joins_reasons() {
        let user = UserInfo::new("bob", &[]);
        let attrs = Attributes::resource(&user, "get", "", "pods", "default", "p");
        let union = Union::new(vec![
            Box::new(Fixed(Decision::NoOpinion("first".into()))),
            Box::new(Fixed(Decision::NoOpinion(String::new()))),
            Box::new(Fixed(Decision::NoOpinion("third".into()))),
        ]);
        assert_eq!(
            union.authorize(&attrs),
            Decision::NoOpinion("first\nthird".into())
        );
        let deny_first = Union::new(vec![
            Box::new(Fixed(Decision::Deny("no".into()))),
            Box::new(Fixed(Decision::Allow("yes".into()))),
        ]);
        assert_eq!(deny_first.authorize(&attrs), Decision::Deny("no".into()));
    }

    #[test]
    fn privileged_group_allows_only_members() {
        let a = PrivilegedGroupAuthorizer::system_masters();
        let admin = UserInfo::new("admin", &["system:masters"]);
        let bob = UserInfo::new("bob", &["dev"]);
        assert!(
            a.authorize(&Attributes::resource(
                &admin, "delete", "", "nodes", "", "n1"
            ))
            .is_allowed()
        );
        assert!(
            !a.authorize(&Attributes::resource(&bob, "get", "", "pods", "ns", ""))
                .is_allowed()
        );
    }
}
