//! The running server's authentication and authorization: the `auth` module's pure
//! logic wired to the watch caches (RBAC objects, the pod→node graph, Secrets and
//! ServiceAccounts for tokens) and to the cluster's key material on disk.

use std::path::Path;
use std::sync::{Arc, RwLock};

use clipper_proto::api::core::v1::{Node, Pod, Secret, ServiceAccount};
use clipper_proto::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use clipper_proto::api::storage::v1::VolumeAttachment;

use crate::api::{Api, Scope, WriteOptions};
use crate::auth::authn::{CredentialObjects, Credentials, RequestAuthenticator};
use crate::auth::node::{NodeAuthorizer, NodeGraph};
use crate::auth::pki::CertificateAuthority;
use crate::auth::rbac::{RbacAuthorizer, RbacSnapshot};
use crate::auth::sa_token::{BoundObject, BoundObjects, SigningKey, TokenIssuer, TokenVerifier};
use crate::auth::{
    Attributes, Authorizer, Decision, PrivilegedGroupAuthorizer, Union, UserInfo, policy,
};
use crate::cache::{CacheEvent, EventType, Filter, ResourceCache, WatchItem};
use crate::object::{ApiObject, downcast};
use crate::status::ApiError;

/// The issuer and audience of service-account tokens (kube-apiserver's defaults).
pub const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// Objects tokens refer to, read from the watch caches.
struct CacheObjects {
    api: Arc<Api>,
    secrets: Arc<ResourceCache>,
    service_accounts: Arc<ResourceCache>,
    pods: Arc<ResourceCache>,
    nodes: Arc<ResourceCache>,
}

fn lookup<T: 'static + Clone>(
    api: &Api,
    cache: &ResourceCache,
    group: &str,
    plural: &str,
    ns: Option<&str>,
    name: &str,
) -> Option<T> {
    let set = api.served.load();
    let served = set.get(group, "v1", plural)?;
    let key = served.key(ns, name);
    let obj = cache
        .snapshot()
        .objects
        .get(&key)?
        .decode(&cache.codec)
        .ok()?;
    downcast::<T>(obj.as_ref()).cloned()
}

fn bound(meta: &clipper_proto::api::meta::v1::ObjectMeta) -> BoundObject {
    BoundObject {
        uid: meta.uid.clone().unwrap_or_default(),
        deletion_timestamp: meta.deletion_timestamp.map(|t| t.0),
    }
}

impl BoundObjects for CacheObjects {
    fn service_account(&self, namespace: &str, name: &str) -> Option<BoundObject> {
        lookup::<ServiceAccount>(
            &self.api,
            &self.service_accounts,
            "",
            "serviceaccounts",
            Some(namespace),
            name,
        )
        .map(|o| bound(&o.metadata))
    }
    fn pod(&self, namespace: &str, name: &str) -> Option<BoundObject> {
        lookup::<Pod>(&self.api, &self.pods, "", "pods", Some(namespace), name)
            .map(|o| bound(&o.metadata))
    }
    fn secret(&self, namespace: &str, name: &str) -> Option<BoundObject> {
        lookup::<Secret>(
            &self.api,
            &self.secrets,
            "",
            "secrets",
            Some(namespace),
            name,
        )
        .map(|o| bound(&o.metadata))
    }
    fn node(&self, name: &str) -> Option<BoundObject> {
        lookup::<Node>(&self.api, &self.nodes, "", "nodes", None, name).map(|o| bound(&o.metadata))
    }
}

impl CredentialObjects for CacheObjects {
    fn secret_object(&self, namespace: &str, name: &str) -> Option<Secret> {
        lookup::<Secret>(
            &self.api,
            &self.secrets,
            "",
            "secrets",
            Some(namespace),
            name,
        )
    }
}

/// Authentication and authorization for requests.
pub struct Security {
    pub ca: CertificateAuthority,
    pub issuer: TokenIssuer,
    authenticator: RequestAuthenticator,
    authorizer: Union,
    objects: CacheObjects,
}

impl Security {
    /// Loads (or creates) the CA and the service-account key under `pki_dir`, writes the
    /// default RBAC policy if absent, and starts the tasks that keep RBAC and the node
    /// graph current.
    pub async fn start(api: Arc<Api>, pki_dir: &Path) -> Result<Arc<Security>, ApiError> {
        let now = clipper_proto::Time::now().0;
        let (ca, _) = CertificateAuthority::load_or_create(pki_dir, now)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let (key, _) =
            SigningKey::load_or_create(pki_dir).map_err(|e| ApiError::internal(e.to_string()))?;
        let verifier = TokenVerifier::new(
            vec![key.verifying_key().clone()],
            &[SERVICE_ACCOUNT_ISSUER],
            &[SERVICE_ACCOUNT_ISSUER],
        );
        let issuer = TokenIssuer::new(key, SERVICE_ACCOUNT_ISSUER);
        write_default_policy(&api).await?;

        let cache_of = |group: &'static str, plural: &'static str| {
            let api = api.clone();
            async move {
                let set = api.served.load();
                let served = set
                    .get(group, "v1", plural)
                    .cloned()
                    .ok_or_else(|| ApiError::internal(format!("{plural} not served")))?;
                api.cache(&served).await
            }
        };
        let rbac = Arc::new(RwLock::new(RbacSnapshot::new()));
        let graph = Arc::new(RwLock::new(NodeGraph::new()));
        let roles = cache_of("rbac.authorization.k8s.io", "roles").await?;
        let cluster_roles = cache_of("rbac.authorization.k8s.io", "clusterroles").await?;
        let role_bindings = cache_of("rbac.authorization.k8s.io", "rolebindings").await?;
        let cluster_role_bindings =
            cache_of("rbac.authorization.k8s.io", "clusterrolebindings").await?;
        for cache in [roles, cluster_roles, role_bindings, cluster_role_bindings] {
            follow(cache, rbac.clone(), apply_rbac)?;
        }
        let pods = cache_of("", "pods").await?;
        follow(pods.clone(), graph.clone(), apply_graph)?;
        follow(
            cache_of("storage.k8s.io", "volumeattachments").await?,
            graph.clone(),
            apply_graph,
        )?;
        let objects = CacheObjects {
            api: api.clone(),
            secrets: cache_of("", "secrets").await?,
            service_accounts: cache_of("", "serviceaccounts").await?,
            pods,
            nodes: cache_of("", "nodes").await?,
        };
        let authorizer = Union::new(vec![
            Box::new(PrivilegedGroupAuthorizer::system_masters()),
            Box::new(NodeAuthorizer::new(graph)),
            Box::new(RbacAuthorizer::new(rbac)),
        ]);
        let authenticator = RequestAuthenticator {
            service_account_tokens: Some(verifier),
            bootstrap_tokens: true,
            anonymous: true,
        };
        Ok(Arc::new(Security {
            ca,
            issuer,
            authenticator,
            authorizer,
            objects,
        }))
    }

    /// The requester, or 401.
    pub fn authenticate(&self, credentials: &Credentials<'_>) -> Result<UserInfo, ApiError> {
        match self.authenticator.authenticate(
            credentials,
            &self.objects,
            clipper_proto::Time::now().0,
        ) {
            Ok(Some(user)) => Ok(user),
            Ok(None) | Err(_) => Err(ApiError::unauthorized()),
        }
    }

    /// The identity a request runs as: the requester, or whom its `Impersonate-*` headers
    /// name if the requester may impersonate them (400 / 403 otherwise).
    pub fn impersonate(
        &self,
        requester: UserInfo,
        headers: &http::HeaderMap,
    ) -> Result<UserInfo, ApiError> {
        use crate::auth::impersonate::{Error, Request};
        let pairs = headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
        let asked = match Request::from_headers(pairs) {
            Ok(None) => return Ok(requester),
            Ok(Some(r)) => r,
            Err(Error::BadRequest(m)) => return Err(ApiError::bad_request(m)),
            Err(Error::Forbidden(m)) => return Err(ApiError::forbidden(m)),
        };
        match asked.apply(&requester, &self.authorizer) {
            Ok(user) => Ok(user),
            Err(Error::BadRequest(m)) => Err(ApiError::bad_request(m)),
            Err(Error::Forbidden(m)) => Err(ApiError::forbidden(m)),
        }
    }

    /// Allows the request or answers 403 with Kubernetes' message.
    pub fn authorize(&self, attrs: &Attributes<'_>) -> Result<(), ApiError> {
        match self.authorizer.authorize(attrs) {
            Decision::Allow(_) => Ok(()),
            Decision::Deny(reason) | Decision::NoOpinion(reason) => Err(forbidden(attrs, &reason)),
        }
    }

    /// TokenReview: the user a bearer token authenticates as, or why not.
    pub fn review_token(&self, token: &str) -> Result<UserInfo, String> {
        self.authenticator
            .authenticate_token(token, &self.objects, clipper_proto::Time::now().0)
            .map(UserInfo::with_authenticated_group)
            .map_err(|e| e.to_string())
    }

    /// Whether a request would be allowed (SubjectAccessReview, `kubectl auth can-i`).
    pub fn allowed(&self, attrs: &Attributes<'_>) -> (bool, String) {
        match self.authorizer.authorize(attrs) {
            Decision::Allow(r) => (true, r),
            Decision::Deny(r) | Decision::NoOpinion(r) => (false, r),
        }
    }
}

/// kube-apiserver's 403 text: `User "x" cannot list resource "pods" in API group "" in
/// the namespace "y"` (or `at the cluster scope`, or a non-resource path).
fn forbidden(a: &Attributes<'_>, reason: &str) -> ApiError {
    let who = format!("User {:?}", a.user.username);
    let mut msg = if a.resource_request {
        let resource = if a.subresource.is_empty() {
            a.resource.to_string()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        let mut m = format!(
            "{who} cannot {} resource {resource:?} in API group {:?}",
            a.verb, a.api_group
        );
        if a.namespace.is_empty() {
            m.push_str(" at the cluster scope");
        } else {
            m.push_str(&format!(" in the namespace {:?}", a.namespace));
        }
        m
    } else {
        format!("{who} cannot {} path {:?}", a.verb, a.path)
    };
    if !reason.is_empty() {
        msg.push_str(": ");
        msg.push_str(reason);
    }
    // errors.NewForbidden: `<resource.group> ["name"] is forbidden: ...`, or
    // `forbidden: ...` without a resource.
    let msg = if a.resource_request && !a.resource.is_empty() {
        let gr = if a.api_group.is_empty() {
            a.resource.to_string()
        } else {
            format!("{}.{}", a.resource, a.api_group)
        };
        if a.name.is_empty() {
            format!("{gr} is forbidden: {msg}")
        } else {
            format!("{gr} {:?} is forbidden: {msg}", a.name)
        }
    } else {
        format!("forbidden: {msg}")
    };
    let mut e = ApiError::forbidden(msg);
    if a.resource_request {
        e.kind = Some(a.resource.to_string());
        e.group = (!a.api_group.is_empty()).then(|| a.api_group.to_string());
        e.name = (!a.name.is_empty()).then(|| a.name.to_string());
    }
    e
}

/// Keeps `state` current from a cache's events, in a task of its own.
fn follow<S: Send + Sync + 'static>(
    cache: Arc<ResourceCache>,
    state: Arc<RwLock<S>>,
    apply: fn(&mut S, &CacheEvent, &dyn ApiObject),
) -> Result<(), ApiError> {
    let mut watcher = cache.watch(Filter::default(), None, false)?;
    tokio::spawn(async move {
        while let Some(item) = watcher.next().await {
            let WatchItem::Event(kind, obj) = item else {
                continue;
            };
            let Ok(decoded) = obj.decode(&cache.codec) else {
                continue;
            };
            let ev = CacheEvent {
                kind,
                object: obj,
                prev: None,
            };
            let mut s = state
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            apply(&mut s, &ev, decoded.as_ref());
        }
    });
    Ok(())
}

fn apply_rbac(s: &mut RbacSnapshot, ev: &CacheEvent, obj: &dyn ApiObject) {
    let deleted = ev.kind == EventType::Deleted;
    let ns = ev.object.namespace.as_deref().unwrap_or("");
    let name = ev.object.name.as_str();
    if let Some(r) = downcast::<Role>(obj) {
        if deleted {
            s.remove_role(ns, name);
        } else {
            s.upsert_role(r);
        }
    } else if let Some(r) = downcast::<ClusterRole>(obj) {
        if deleted {
            s.remove_cluster_role(name);
        } else {
            s.upsert_cluster_role(r);
        }
    } else if let Some(b) = downcast::<RoleBinding>(obj) {
        if deleted {
            s.remove_role_binding(ns, name);
        } else {
            s.upsert_role_binding(b);
        }
    } else if let Some(b) = downcast::<ClusterRoleBinding>(obj) {
        if deleted {
            s.remove_cluster_role_binding(name);
        } else {
            s.upsert_cluster_role_binding(b);
        }
    }
}

fn apply_graph(g: &mut NodeGraph, ev: &CacheEvent, obj: &dyn ApiObject) {
    let deleted = ev.kind == EventType::Deleted;
    if let Some(p) = downcast::<Pod>(obj) {
        if deleted {
            g.remove_pod(
                ev.object.namespace.as_deref().unwrap_or(""),
                &ev.object.name,
            );
        } else {
            g.upsert_pod(p);
        }
    } else if let Some(va) = downcast::<VolumeAttachment>(obj) {
        if deleted {
            g.remove_volume_attachment(&ev.object.name);
        } else {
            g.upsert_volume_attachment(va);
        }
    }
}

/// Writes the default roles and bindings that do not exist yet (kube-apiserver's
/// bootstrap policy); existing ones are left as the cluster's administrators made them.
async fn write_default_policy(api: &Api) -> Result<(), ApiError> {
    let set = api.served.load();
    let scope = |plural: &str, ns: Option<&str>| -> Result<Scope, ApiError> {
        Ok(Scope {
            served: set
                .get("rbac.authorization.k8s.io", "v1", plural)
                .cloned()
                .ok_or_else(|| ApiError::internal(format!("{plural} not served")))?,
            namespace: ns.map(str::to_string),
        })
    };
    let opts = WriteOptions {
        field_manager: "clipper-bootstrap".into(),
        ..Default::default()
    };
    let mut objects: Vec<(Scope, Box<dyn ApiObject>)> = Vec::new();
    for r in policy::default_cluster_roles_aggregated() {
        objects.push((scope("clusterroles", None)?, Box::new(r)));
    }
    for b in policy::default_cluster_role_bindings() {
        objects.push((scope("clusterrolebindings", None)?, Box::new(b)));
    }
    for b in policy::node_bootstrap_cluster_role_bindings() {
        objects.push((scope("clusterrolebindings", None)?, Box::new(b)));
    }
    for r in policy::default_namespace_roles() {
        let ns = r.metadata.namespace.clone();
        objects.push((scope("roles", ns.as_deref())?, Box::new(r)));
    }
    for b in policy::default_namespace_role_bindings() {
        let ns = b.metadata.namespace.clone();
        objects.push((scope("rolebindings", ns.as_deref())?, Box::new(b)));
    }
    for (scope, obj) in objects {
        let name = obj.meta().name.clone().unwrap_or_default();
        match api.get(&scope, &name).await {
            Ok(_) => continue,
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
        match api.create(&scope, obj, &opts).await {
            Ok(_) => {}
            Err(e) if e.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
