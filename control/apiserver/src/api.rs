//! The API's operations — get, list, watch, create, update, patch, delete — with
//! Kubernetes' semantics, independent of transport. The HTTPS handlers (and later the
//! QUIC protocol) translate requests into these calls; in-process controllers call them
//! directly, keeping the API semantics while skipping the socket.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use clipper_proto::Time;
use clipper_proto::api::meta::v1::ObjectMeta;
use clipper_store::{AnyStore, KeyValue, RangeRequest, Revision, Store, StoreError};
use serde_json::Value;

use crate::admission::{self, ValidationOptions};
use crate::cache::{CachedObject, Filter, ResourceCache, Watcher};
use crate::object::ApiObject;
use crate::patch::PatchType;
use crate::served::{Served, ServedResources};
use crate::status::ApiError;
use crate::strategy;

/// Attempts of an update that is retried on a concurrent write (GuaranteedUpdate): the
/// caller did not pin a resourceVersion, so the latest object is re-read and the change
/// re-applied; a bound keeps a hot object from spinning a request forever.
pub const MAX_UPDATE_ATTEMPTS: usize = 16;
/// Attempts at a unique name for `generateName`.
pub const MAX_GENERATE_NAME_ATTEMPTS: usize = 8;
/// Largest page a list returns (kubectl asks for 500).
pub const MAX_LIST_LIMIT: usize = 100_000;

/// Server settings the API's semantics depend on.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub validation: ValidationOptions,
    /// The service ClusterIP range (`--service-cluster-ip-range`).
    pub service_cidr: String,
    /// NodePorts are allocated from this range, inclusive (`--service-node-port-range`).
    pub node_port_range: (i32, i32),
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            validation: ValidationOptions::default(),
            service_cidr: "10.96.0.0/12".into(),
            node_port_range: crate::services::NODE_PORT_RANGE,
        }
    }
}

/// Where an operation applies: a resource, and a namespace for namespaced ones.
#[derive(Clone, Debug)]
pub struct Scope {
    pub served: Arc<Served>,
    pub namespace: Option<String>,
}

impl Scope {
    fn key(&self, name: &str) -> Bytes {
        self.served.key(self.namespace.as_deref(), name)
    }

    fn not_found(&self, name: &str) -> ApiError {
        ApiError::not_found(&self.served.group, &self.served.plural, name)
    }
}

/// Options common to writes.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    /// The field manager (`fieldManager`, or derived from the user agent).
    pub field_manager: String,
    /// The requesting user; `None` for the server's own writes (its controllers).
    pub user: Option<crate::auth::UserInfo>,
}

/// `resourceVersion` / `resourceVersionMatch` of a list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ListFrom {
    /// RV unset: a consistent read (the cache waits until it has every write).
    #[default]
    Consistent,
    /// RV=0: whatever the cache holds.
    Any,
    /// RV=N (NotOlderThan).
    NotOlderThan(Revision),
    /// RV=N with resourceVersionMatch=Exact.
    Exact(Revision),
}

#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    pub filter: Filter,
    pub from: ListFrom,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
}

/// A page of a list.
pub struct ListResult {
    pub items: Vec<Arc<CachedObject>>,
    pub revision: Revision,
    pub continue_token: Option<String>,
    pub remaining: Option<i64>,
}

/// What a DELETE asked for.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    /// Background (default), Foreground or Orphan.
    pub propagation: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    pub dry_run: bool,
}

/// The outcome of a DELETE.
pub enum Deleted {
    /// Gone from the store; the last state.
    Now(Box<dyn ApiObject>),
    /// Marked for deletion (finalizers or a grace period remain); the updated object.
    Pending(Box<dyn ApiObject>),
}

/// The API: store, served resources and their caches, server settings.
pub struct Api {
    pub store: Arc<AnyStore>,
    pub served: ServedResources,
    pub config: ApiConfig,
    caches: ArcSwap<HashMap<String, Arc<ResourceCache>>>,
    cache_start: tokio::sync::Mutex<()>,
}

fn store_err(scope: &Scope, name: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => scope.not_found(name),
        StoreError::AlreadyExists => {
            ApiError::already_exists(&scope.served.group, &scope.served.plural, name)
        }
        StoreError::Conflict { .. } => {
            ApiError::stale(&scope.served.group, &scope.served.plural, name)
        }
        StoreError::Compacted {
            requested,
            compacted,
        } => ApiError::gone(format!(
            "The provided continue parameter is too old to display a consistent list result (revision {requested}, compacted to {compacted}); start a new list without it"
        )),
        StoreError::ValueTooLarge { size, limit } => ApiError::too_large(format!(
            "object of {size} bytes exceeds the limit of {limit} bytes"
        )),
        StoreError::FutureRevision { requested, current } => ApiError::timeout(format!(
            "Too large resource version: {requested}, current: {current}"
        )),
        other => ApiError::internal(other.to_string()),
    }
}

fn codec_err(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

/// A random suffix as Kubernetes' `SimpleNameGenerator` makes it: 5 characters from an
/// alphabet without vowels or look-alike digits.
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn now() -> Time {
    Time::now()
}

/// The continue token: base64 of `{"v":"meta.k8s.io/v1","rv":R,"start":"<key after prefix>"}`
/// as Kubernetes encodes it.
fn encode_continue(revision: Revision, prefix: &[u8], last_key: &[u8]) -> String {
    use base64::Engine as _;
    let start = String::from_utf8_lossy(last_key.strip_prefix(prefix).unwrap_or(last_key))
        .into_owned()
        + "\u{0}";
    let token = serde_json::json!({"v": "meta.k8s.io/v1", "rv": revision, "start": start});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

fn decode_continue(token: &str) -> Result<(Revision, String), ApiError> {
    use base64::Engine as _;
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(token))
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if v.get("v").and_then(Value::as_str) != Some("meta.k8s.io/v1") {
        return Err(bad());
    }
    let rv = v
        .get("rv")
        .and_then(Value::as_i64)
        .filter(|r| *r > 0)
        .ok_or_else(bad)?;
    let start = v
        .get("start")
        .and_then(Value::as_str)
        .ok_or_else(bad)?
        .to_string();
    if start.contains("..") || start.starts_with('/') {
        return Err(bad());
    }
    Ok((rv, start))
}

impl Api {
    pub fn new(store: Arc<AnyStore>, config: ApiConfig) -> Api {
        Api {
            store,
            served: ServedResources::default(),
            config,
            caches: ArcSwap::from_pointee(HashMap::new()),
            cache_start: tokio::sync::Mutex::new(()),
        }
    }

    /// The scope of a built-in resource the server itself reads or writes (its
    /// controllers, its bootstrap objects): an internal error if it is not served.
    pub fn scope(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        namespace: Option<&str>,
    ) -> Result<Scope, ApiError> {
        let served = self
            .served
            .load()
            .get(group, version, plural)
            .cloned()
            .ok_or_else(|| ApiError::internal(format!("{plural} not served")))?;
        Ok(Scope {
            served,
            namespace: namespace.map(str::to_string),
        })
    }

    /// The watch cache of a resource, started on first use.
    pub async fn cache(&self, served: &Served) -> Result<Arc<ResourceCache>, ApiError> {
        let key = served.group_resource();
        if let Some(c) = self.caches.load().get(&key) {
            return Ok(c.clone());
        }
        let _guard = self.cache_start.lock().await;
        if let Some(c) = self.caches.load().get(&key) {
            return Ok(c.clone());
        }
        let cache = ResourceCache::start(
            self.store.clone(),
            served.codec.clone(),
            served.prefix.clone(),
        )
        .await?;
        let mut map = HashMap::clone(&self.caches.load());
        map.insert(key, cache.clone());
        self.caches.store(Arc::new(map));
        Ok(cache)
    }

    /// Stops and forgets the cache of a resource no longer served.
    pub async fn drop_cache(&self, group_resource: &str) {
        let _guard = self.cache_start.lock().await;
        let mut map = HashMap::clone(&self.caches.load());
        if let Some(c) = map.remove(group_resource) {
            c.stop();
        }
        self.caches.store(Arc::new(map));
    }

    async fn read(
        &self,
        scope: &Scope,
        name: &str,
    ) -> Result<(Box<dyn ApiObject>, KeyValue), ApiError> {
        let (kv, _) = self
            .store
            .get(&scope.key(name))
            .await
            .map_err(|e| store_err(scope, name, e))?;
        let kv = kv.ok_or_else(|| scope.not_found(name))?;
        let mut obj = scope
            .served
            .codec
            .decode_stored(&clipper_proto::envelope::AlignedBytes::new(
                kv.value.clone(),
            ))
            .map_err(codec_err)?;
        obj.meta_mut().resource_version = Some(kv.mod_revision.to_string());
        Ok((obj, kv))
    }

    /// GET of one object (a consistent read from the store).
    pub async fn get(&self, scope: &Scope, name: &str) -> Result<Box<dyn ApiObject>, ApiError> {
        Ok(self.read(scope, name).await?.0)
    }

    /// LIST, served from the watch cache (or from the store for Exact and for continued
    /// pages whose snapshot the cache no longer has).
    pub async fn list(&self, scope: &Scope, opts: &ListOptions) -> Result<ListResult, ApiError> {
        let cache = self.cache(&scope.served).await?;
        let limit = opts.limit.filter(|l| *l > 0).map(|l| l.min(MAX_LIST_LIMIT));
        let prefix = scope.served.list_prefix(opts.filter.namespace.as_deref());
        if let Some(token) = &opts.continue_token {
            let (revision, start) = decode_continue(token)?;
            let mut after = scope.served.prefix.to_vec();
            after.extend_from_slice(start.as_bytes());
            return self
                .list_from_store(
                    scope,
                    &cache,
                    opts,
                    revision,
                    Bytes::from(after),
                    &prefix,
                    limit,
                )
                .await;
        }
        let snapshot = match &opts.from {
            ListFrom::Consistent => {
                let current = self
                    .store
                    .current_revision()
                    .await
                    .map_err(|e| store_err(scope, "", e))?;
                cache.wait_fresh(current).await?;
                cache.snapshot()
            }
            ListFrom::Any => cache.snapshot(),
            ListFrom::NotOlderThan(r) => {
                cache.wait_fresh(*r).await?;
                cache.snapshot()
            }
            ListFrom::Exact(r) => {
                let start = prefix.clone();
                return self
                    .list_from_store(scope, &cache, opts, *r, start, &prefix, limit)
                    .await;
            }
        };
        let mut items = Vec::new();
        let mut remaining = 0i64;
        let mut last_key = None;
        for obj in snapshot.range_after(&prefix, None) {
            if !obj.matches(&opts.filter) {
                continue;
            }
            match limit {
                Some(l) if items.len() >= l => remaining += 1,
                _ => {
                    last_key = Some(obj.key.clone());
                    items.push(obj.clone());
                }
            }
        }
        let (continue_token, remaining) = match (remaining > 0, last_key) {
            (true, Some(k)) => {
                // Pages after the first come from the store at this revision (the store keeps
                // a window of history; after it, the client gets 410 and relists).
                let filtered =
                    !opts.filter.labels.is_everything() || !opts.filter.fields.is_everything();
                (
                    Some(encode_continue(snapshot.revision, &scope.served.prefix, &k)),
                    (!filtered).then_some(remaining),
                )
            }
            _ => (None, None),
        };
        Ok(ListResult {
            items,
            revision: snapshot.revision,
            continue_token,
            remaining,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn list_from_store(
        &self,
        scope: &Scope,
        cache: &ResourceCache,
        opts: &ListOptions,
        revision: Revision,
        start: Bytes,
        prefix: &Bytes,
        limit: Option<usize>,
    ) -> Result<ListResult, ApiError> {
        let end = clipper_store::prefix_end(prefix);
        let mut items = Vec::new();
        let mut req = RangeRequest::range(start, end).at_revision(revision);
        let page = limit.unwrap_or(usize::MAX);
        req = req.with_limit(page.min(crate::cache::LOAD_PAGE));
        let mut last_key: Option<Bytes> = None;
        let mut more = false;
        'pages: loop {
            let resp = self
                .store
                .range(req.clone())
                .await
                .map_err(|e| store_err(scope, "", e))?;
            for kv in &resp.kvs {
                let obj = cached_from_kv(&cache.codec, kv)?;
                last_key = Some(kv.key.clone());
                if obj.matches(&opts.filter) {
                    if items.len() >= page {
                        more = true;
                        break 'pages;
                    }
                    items.push(Arc::new(obj));
                }
            }
            match (resp.more, resp.kvs.last()) {
                (true, Some(last)) => req = req.continue_after(&last.key),
                _ => break,
            }
        }
        let continue_token = match (more, items.last()) {
            (true, Some(obj)) => Some(encode_continue(revision, &scope.served.prefix, &obj.key)),
            _ => None,
        };
        let _ = last_key;
        Ok(ListResult {
            items,
            revision,
            continue_token,
            remaining: None,
        })
    }

    /// WATCH from the cache.
    pub async fn watch(
        &self,
        scope: &Scope,
        filter: Filter,
        from: Option<Revision>,
        send_initial_end: bool,
    ) -> Result<Watcher, ApiError> {
        let cache = self.cache(&scope.served).await?;
        if from.is_none() {
            // A watch without a resourceVersion starts from a consistent state.
            let current = self
                .store
                .current_revision()
                .await
                .map_err(|e| store_err(scope, "", e))?;
            cache.wait_fresh(current).await?;
        } else if let Some(r) = from
            && r > cache.revision()
        {
            cache.wait_fresh(r).await?;
        }
        cache.watch(filter, from, send_initial_end)
    }

    /// Checks that a namespaced object's namespace exists and is not terminating.
    async fn check_namespace(&self, scope: &Scope, creating: bool) -> Result<(), ApiError> {
        let Some(ns) = scope
            .namespace
            .as_deref()
            .filter(|_| scope.served.namespaced)
        else {
            return Ok(());
        };
        let set = self.served.load();
        let Some(namespaces) = set.get("", "v1", "namespaces").cloned() else {
            return Ok(());
        };
        let ns_scope = Scope {
            served: namespaces,
            namespace: None,
        };
        let (kv, _) = self
            .store
            .get(&ns_scope.key(ns))
            .await
            .map_err(|e| store_err(&ns_scope, ns, e))?;
        let Some(kv) = kv else {
            return Err(ApiError::not_found("", "namespaces", ns));
        };
        if creating {
            let obj = ns_scope
                .served
                .codec
                .decode_stored(&clipper_proto::envelope::AlignedBytes::new(kv.value))
                .map_err(codec_err)?;
            if obj.meta().deletion_timestamp.is_some() {
                let mut e = ApiError::forbidden(format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ));
                e.causes.push(crate::status::Cause {
                    reason: "NamespaceTerminating".into(),
                    message: format!("namespace {ns} is being terminated"),
                    field: "metadata.namespace".into(),
                });
                return Err(e);
            }
        }
        Ok(())
    }

    fn validate(
        &self,
        scope: &Scope,
        obj: &dyn ApiObject,
        old: Option<&dyn ApiObject>,
    ) -> Result<(), ApiError> {
        let s = &scope.served;
        let mut errors = match old {
            None => {
                admission::validate_object_meta_for(&s.group, &s.kind, obj.meta(), s.namespaced)
            }
            Some(o) => {
                let mut e = admission::validate_object_meta_for(
                    &s.group,
                    &s.kind,
                    obj.meta(),
                    s.namespaced,
                );
                e.extend(admission::validate_object_meta_update_for(
                    &s.group,
                    &s.kind,
                    obj.meta(),
                    o.meta(),
                ));
                e
            }
        };
        errors.extend(admission::validate_with(
            obj.as_any(),
            old.map(|o| o.as_any()),
            &self.config.validation,
        ));
        if errors.is_empty() {
            Ok(())
        } else {
            let name = obj
                .meta()
                .name
                .clone()
                .or_else(|| obj.meta().generate_name.clone())
                .unwrap_or_default();
            Err(ApiError::invalid(&s.group, &s.kind, &name, &errors))
        }
    }

    /// CREATE.
    pub async fn create(
        &self,
        scope: &Scope,
        mut obj: Box<dyn ApiObject>,
        opts: &WriteOptions,
    ) -> Result<Box<dyn ApiObject>, ApiError> {
        let s = scope.served.clone();
        {
            let meta = obj.meta_mut();
            match (&scope.namespace, &meta.namespace) {
                (Some(ns), Some(body)) if !body.is_empty() && body != ns && s.namespaced => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {}
            }
            meta.namespace = if s.namespaced {
                scope.namespace.clone()
            } else {
                None
            };
            meta.uid = Some(uuid::Uuid::new_v4().to_string());
            meta.creation_timestamp = Some(now());
            meta.resource_version = None;
            meta.deletion_timestamp = None;
            meta.deletion_grace_period_seconds = None;
            meta.generation = strategy::tracks_generation(&s).then_some(1);
            meta.self_link = None;
        }
        if !strategy::keeps_status_on_create(&s) {
            clear_status(&mut obj)?;
        }
        strategy::init_pod_status(obj.as_mut());
        if let Some(ns) = obj
            .as_any_mut()
            .downcast_mut::<clipper_proto::api::core::v1::Namespace>()
        {
            admission::prepare_namespace_for_create(ns);
        }
        if let Some(job) = obj
            .as_any_mut()
            .downcast_mut::<clipper_proto::api::batch::v1::Job>()
        {
            let uid = job.metadata.uid.clone().unwrap_or_default();
            admission::job_selector_and_labels(job, &uid);
        }
        admission::default(obj.as_any_mut());
        self.record_update_manager(scope, None, obj.as_mut(), &opts.field_manager, None);
        let generate = obj.meta().name.as_deref().is_none_or(str::is_empty)
            && obj.meta().generate_name.is_some();
        self.check_namespace(scope, true).await?;
        for attempt in 0..MAX_GENERATE_NAME_ATTEMPTS {
            if generate {
                let base = obj.meta().generate_name.clone().unwrap_or_default();
                obj.meta_mut().name = Some(format!("{base}{}", random_suffix()));
            }
            self.validate(scope, obj.as_ref(), None)?;
            let name = obj.meta().name.clone().unwrap_or_default();
            if opts.dry_run {
                return Ok(obj);
            }
            let value = obj.encode().map_err(codec_err)?;
            match self
                .store
                .create(scope.key(&name), value.into_bytes(), 0)
                .await
            {
                Ok(rev) => {
                    obj.meta_mut().resource_version = Some(rev.to_string());
                    return Ok(obj);
                }
                Err(StoreError::AlreadyExists)
                    if generate && attempt + 1 < MAX_GENERATE_NAME_ATTEMPTS =>
                {
                    continue;
                }
                Err(e) => return Err(store_err(scope, &name, e)),
            }
        }
        Err(ApiError::already_exists(&s.group, &s.plural, ""))
    }

    /// Records `manager`'s write in managedFields (an Update operation), as
    /// kube-apiserver's field manager does: the writer's entry gains the fields it added
    /// or changed, every other manager loses them (so a later apply of a different value
    /// conflicts with the writer, not with the previous owner), and removed fields leave
    /// everyone. A create records every field it sets. Bindings are storage-level
    /// assignments and leave managedFields alone, as in Kubernetes. Never fails a write:
    /// on an error the object keeps `old`'s managedFields.
    fn record_update_manager(
        &self,
        scope: &Scope,
        old: Option<&dyn ApiObject>,
        obj: &mut dyn ApiObject,
        manager: &str,
        subresource: Option<&str>,
    ) {
        if manager.is_empty() || subresource == Some("binding") {
            return;
        }
        let builtin = crate::apply::BuiltinSchema;
        let untyped = crate::apply::Untyped;
        let schema: &dyn crate::apply::SchemaLookup = match &scope.served.custom {
            Some(c) => match &c.apply_schema {
                Some(s) => s.as_ref(),
                None => &untyped,
            },
            None => &builtin,
        };
        let keep_old = |obj: &mut dyn ApiObject| {
            obj.meta_mut().managed_fields = old.and_then(|o| o.meta().managed_fields.clone());
        };
        let old_v = match old.map(|o| o.to_value()).transpose() {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "managedFields: cannot encode the stored object");
                return keep_old(obj);
            }
        };
        let mut new_v = match obj.to_value() {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "managedFields: cannot encode the new object");
                return keep_old(obj);
            }
        };
        crate::apply::update_managed_fields(
            old_v.as_ref(),
            &mut new_v,
            manager,
            subresource,
            schema,
            Time::now(),
        );
        let managed = new_v
            .get_mut("metadata")
            .and_then(|m| m.get_mut("managedFields"))
            .map(Value::take)
            .filter(|v| !v.is_null());
        match managed.map(serde_json::from_value) {
            None => obj.meta_mut().managed_fields = None,
            Some(Ok(entries)) => obj.meta_mut().managed_fields = Some(entries),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "managedFields: cannot decode the result");
                keep_old(obj);
            }
        }
    }

    /// UPDATE (PUT) of the main resource or of `status`.
    pub async fn update(
        &self,
        scope: &Scope,
        name: &str,
        new: Box<dyn ApiObject>,
        subresource: Option<&str>,
        opts: &WriteOptions,
    ) -> Result<Box<dyn ApiObject>, ApiError> {
        if let Some(body_name) = new.meta().name.as_deref().filter(|n| !n.is_empty())
            && body_name != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if let (Some(ns), Some(body)) = (&scope.namespace, &new.meta().namespace)
            && !body.is_empty()
            && body != ns
            && scope.served.namespaced
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let pinned = new
            .meta()
            .resource_version
            .clone()
            .filter(|r| !r.is_empty());
        self.guaranteed_update(scope, name, pinned.as_deref(), subresource, opts, |_old| {
            Ok(new.clone())
        })
        .await
    }

    /// PATCH (JSON, merge, strategic merge) of the main resource or of `status`.
    #[allow(clippy::too_many_arguments)]
    pub async fn patch(
        &self,
        scope: &Scope,
        name: &str,
        patch_type: PatchType,
        patch: &Value,
        subresource: Option<&str>,
        opts: &WriteOptions,
        decode: &(dyn Fn(Value) -> Result<Box<dyn ApiObject>, ApiError> + Sync),
    ) -> Result<Box<dyn ApiObject>, ApiError> {
        if patch_type == PatchType::StrategicMerge && scope.served.custom.is_some() {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                "strategic merge patch is not supported for custom resources; use a merge patch or json patch",
            ));
        }
        let definition = scope.served.codec.definition.unwrap_or("");
        let pinned = patch
            .get("metadata")
            .and_then(|m| m.get("resourceVersion"))
            .and_then(Value::as_str)
            .map(str::to_string);
        self.guaranteed_update(scope, name, pinned.as_deref(), subresource, opts, |old| {
            let mut current = old.to_value().map_err(codec_err)?;
            if scope.served.custom.is_some() {
                // Patched as the version the client addressed.
                current["apiVersion"] = Value::String(scope.served.api_version());
            }
            let patched = patch_type.apply(&current, patch, definition).map_err(|e| {
                let st = e.status();
                let mut err = ApiError::new(st.code, static_reason(st.reason), st.message);
                if st.code == 422 {
                    err.causes.push(crate::status::Cause {
                        reason: "FieldValueInvalid".into(),
                        message: e.detail(),
                        field: String::new(),
                    });
                }
                err
            })?;
            decode(patched)
        })
        .await
    }

    /// Reads, transforms, validates and writes with a compare-and-swap, retrying on a
    /// concurrent write unless the caller pinned a resourceVersion.
    async fn guaranteed_update(
        &self,
        scope: &Scope,
        name: &str,
        pinned: Option<&str>,
        subresource: Option<&str>,
        opts: &WriteOptions,
        transform: impl Fn(&dyn ApiObject) -> Result<Box<dyn ApiObject>, ApiError>,
    ) -> Result<Box<dyn ApiObject>, ApiError> {
        let s = scope.served.clone();
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let (old, kv) = self.read(scope, name).await?;
            if let Some(rv) = pinned
                && rv != kv.mod_revision.to_string()
            {
                return Err(ApiError::stale(&s.group, &s.plural, name));
            }
            let mut candidate = transform(old.as_ref())?;
            // Defaults first, so that a write which only omits defaulted fields is seen
            // as no change (no generation bump, no write).
            admission::default(candidate.as_any_mut());
            let mut new = self.merge_for_write(scope, old.as_ref(), candidate, subresource)?;
            admission::default(new.as_any_mut());
            // Binding is a storage-level assignment (Kubernetes skips the pod update rules,
            // which forbid changing spec.nodeName, for it); the hook checked it.
            if subresource != Some("binding") {
                self.validate(scope, new.as_ref(), Some(old.as_ref()))?;
            }
            // A write that changes nothing is not written (and keeps the resourceVersion).
            if same_object(old.as_ref(), new.as_ref())? {
                return Ok(old);
            }
            self.record_update_manager(
                scope,
                Some(old.as_ref()),
                new.as_mut(),
                &opts.field_manager,
                subresource,
            );
            if opts.dry_run {
                return Ok(new);
            }
            // Removing the last finalizer of an object being deleted completes the deletion.
            let finished = new.meta().deletion_timestamp.is_some()
                && new.meta().finalizers.as_ref().is_none_or(Vec::is_empty)
                && !namespace_finalizers_pending(new.as_ref());
            if finished {
                return match self
                    .store
                    .delete(scope.key(name), Some(kv.mod_revision))
                    .await
                {
                    Ok((rev, _)) => {
                        new.meta_mut().resource_version = Some(rev.to_string());
                        Ok(new)
                    }
                    Err(StoreError::Conflict { .. }) if pinned.is_none() => continue,
                    Err(e) => Err(store_err(scope, name, e)),
                };
            }
            new.meta_mut().resource_version = None;
            let value = new.encode().map_err(codec_err)?;
            match self
                .store
                .update(
                    scope.key(name),
                    value.into_bytes(),
                    kv.mod_revision,
                    kv.lease,
                )
                .await
            {
                Ok(rev) => {
                    new.meta_mut().resource_version = Some(rev.to_string());
                    return Ok(new);
                }
                Err(StoreError::Conflict { .. }) if pinned.is_none() => continue,
                Err(e) => return Err(store_err(scope, name, e)),
            }
        }
        Err(ApiError::conflict(
            &s.group,
            &s.plural,
            name,
            "too many concurrent writes to this object; try again",
        ))
    }

    /// Applies the server's rules to a proposed new state: immutable server-set metadata,
    /// the status/main-resource split, generation.
    fn merge_for_write(
        &self,
        scope: &Scope,
        old: &dyn ApiObject,
        mut new: Box<dyn ApiObject>,
        subresource: Option<&str>,
    ) -> Result<Box<dyn ApiObject>, ApiError> {
        let s = &scope.served;
        if let (Some(csr), Some(old_csr)) = (
            new.as_any_mut()
                .downcast_mut::<clipper_proto::api::certificates::v1::CertificateSigningRequest>(),
            crate::object::downcast::<
                clipper_proto::api::certificates::v1::CertificateSigningRequest,
            >(old),
        ) {
            // Each of the main resource, /approval and /status changes only its part.
            crate::certificates::prepare_for_update(csr, old_csr, subresource, now());
            let errors = crate::certificates::validate_transition(csr, old_csr, subresource);
            if !errors.is_empty() {
                let name = old.meta().name.clone().unwrap_or_default();
                return Err(ApiError::invalid(&s.group, &s.kind, &name, &errors));
            }
        } else if subresource == Some("binding") {
            // pods/binding sets spec.nodeName and the PodScheduled condition together, as
            // Kubernetes' assignPod does: both halves of the object are taken as given.
        } else if subresource == Some("status") {
            // Only the status changes; everything else stays as stored.
            let mut merged = old.to_value().map_err(codec_err)?;
            let status = new.to_value().map_err(codec_err)?.get("status").cloned();
            match status {
                Some(st) => merged["status"] = st,
                None => {
                    if let Some(m) = merged.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            new = s
                .codec
                .decode_value(merged)
                .map_err(|e| ApiError::bad_request(e.to_string()))?
                .value;
        } else if s.has_status() {
            // Writes to the main resource cannot change the status.
            let mut merged = new.to_value().map_err(codec_err)?;
            match old.to_value().map_err(codec_err)?.get("status").cloned() {
                Some(st) => merged["status"] = st,
                None => {
                    if let Some(m) = merged.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            new = s
                .codec
                .decode_value(merged)
                .map_err(|e| ApiError::bad_request(e.to_string()))?
                .value;
        }
        let o = old.meta();
        let generation = o.generation;
        let spec_changed = strategy::tracks_generation(s)
            && strategy::spec_part(&old.to_value().map_err(codec_err)?)
                != strategy::spec_part(&new.to_value().map_err(codec_err)?);
        let m: &mut ObjectMeta = new.meta_mut();
        m.name = o.name.clone();
        m.namespace = o.namespace.clone();
        m.uid = o.uid.clone();
        m.creation_timestamp = o.creation_timestamp;
        m.deletion_timestamp = o.deletion_timestamp;
        m.deletion_grace_period_seconds = o.deletion_grace_period_seconds;
        m.self_link = None;
        m.generation = match generation {
            Some(g) if spec_changed => Some(g + 1),
            g => g,
        };
        if m.managed_fields.is_none() {
            m.managed_fields = o.managed_fields.clone();
        }
        Ok(new)
    }

    /// DELETE of one object.
    pub async fn delete(
        &self,
        scope: &Scope,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        let s = scope.served.clone();
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let (old, kv) = self.read(scope, name).await?;
            if let Some(uid) = &opts.precondition_uid
                && old.meta().uid.as_deref() != Some(uid.as_str())
            {
                return Err(ApiError::conflict(
                    &s.group,
                    &s.plural,
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        old.meta().uid.clone().unwrap_or_default()
                    ),
                ));
            }
            if let Some(rv) = &opts.precondition_resource_version
                && *rv != kv.mod_revision.to_string()
            {
                return Err(ApiError::conflict(
                    &s.group,
                    &s.plural,
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        kv.mod_revision
                    ),
                ));
            }
            let mut new = old.clone();
            let mut finalizers = new.meta().finalizers.clone().unwrap_or_default();
            match opts.propagation.as_deref() {
                Some("Foreground") if !finalizers.iter().any(|f| f == "foregroundDeletion") => {
                    finalizers.retain(|f| f != "orphan");
                    finalizers.push("foregroundDeletion".into());
                }
                Some("Orphan") if !finalizers.iter().any(|f| f == "orphan") => {
                    finalizers.retain(|f| f != "foregroundDeletion");
                    finalizers.push("orphan".into());
                }
                _ => {}
            }
            let grace = match strategy::pod_grace_period(old.as_ref()) {
                Some(default_grace)
                    if strategy::pod_is_bound(old.as_ref())
                        && !strategy::pod_is_terminal(old.as_ref()) =>
                {
                    opts.grace_period_seconds.unwrap_or(default_grace).max(0)
                }
                _ => 0,
            };
            let graceful = grace > 0;
            let pending =
                !finalizers.is_empty() || graceful || namespace_finalizers_pending(old.as_ref());
            if pending {
                let already = old.meta().deletion_timestamp.is_some();
                let m = new.meta_mut();
                m.finalizers = (!finalizers.is_empty()).then_some(finalizers);
                if !already {
                    let when = Time(now().0 + grace);
                    m.deletion_timestamp = Some(when);
                    m.deletion_grace_period_seconds = Some(grace);
                } else if graceful {
                    // A shorter grace period may move the deadline earlier, never later.
                    let when = Time(now().0 + grace);
                    if m.deletion_timestamp.is_none_or(|t| when < t) {
                        m.deletion_timestamp = Some(when);
                        m.deletion_grace_period_seconds = Some(grace);
                    }
                }
                if let Some(ns) = new
                    .as_any_mut()
                    .downcast_mut::<clipper_proto::api::core::v1::Namespace>()
                {
                    ns.status.get_or_insert_with(Default::default).phase =
                        Some("Terminating".into());
                }
                if same_object(old.as_ref(), new.as_ref())? {
                    return Ok(Deleted::Pending(old));
                }
                if opts.dry_run {
                    return Ok(Deleted::Pending(new));
                }
                new.meta_mut().resource_version = None;
                let value = new.encode().map_err(codec_err)?;
                match self
                    .store
                    .update(
                        scope.key(name),
                        value.into_bytes(),
                        kv.mod_revision,
                        kv.lease,
                    )
                    .await
                {
                    Ok(rev) => {
                        new.meta_mut().resource_version = Some(rev.to_string());
                        return Ok(Deleted::Pending(new));
                    }
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(e) => return Err(store_err(scope, name, e)),
                }
            }
            if opts.dry_run {
                return Ok(Deleted::Now(old));
            }
            match self
                .store
                .delete(scope.key(name), Some(kv.mod_revision))
                .await
            {
                Ok((rev, _)) => {
                    let mut gone = old;
                    gone.meta_mut().resource_version = Some(rev.to_string());
                    return Ok(Deleted::Now(gone));
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(store_err(scope, name, e)),
            }
        }
        Err(ApiError::conflict(
            &s.group,
            &s.plural,
            name,
            "too many concurrent writes to this object; try again",
        ))
    }

    /// DELETE of a collection: every object the list options select.
    pub async fn delete_collection(
        &self,
        scope: &Scope,
        list: &ListOptions,
        opts: &DeleteOptions,
    ) -> Result<Vec<Box<dyn ApiObject>>, ApiError> {
        let items = self.list(scope, list).await?.items;
        let mut out = Vec::new();
        for item in items {
            let item_scope = Scope {
                served: scope.served.clone(),
                namespace: item.namespace.clone(),
            };
            match self.delete(&item_scope, &item.name, opts).await {
                Ok(Deleted::Now(o)) | Ok(Deleted::Pending(o)) => out.push(o),
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// A bounded wait helper for callers that poll the cache in tests and controllers.
    pub async fn wait_cache_revision(
        &self,
        served: &Served,
        revision: Revision,
        timeout: Duration,
    ) -> Result<(), ApiError> {
        let cache = self.cache(served).await?;
        tokio::time::timeout(timeout, cache.wait_fresh(revision))
            .await
            .map_err(|_| ApiError::timeout("timed out waiting for the cache"))?
    }
}

fn static_reason(reason: &str) -> &'static str {
    match reason {
        "BadRequest" => "BadRequest",
        "Invalid" => "Invalid",
        "RequestEntityTooLarge" => "RequestEntityTooLarge",
        "Conflict" => "Conflict",
        "UnsupportedMediaType" => "UnsupportedMediaType",
        _ => "InternalError",
    }
}

fn clear_status(obj: &mut Box<dyn ApiObject>) -> Result<(), ApiError> {
    let mut v = obj.to_value().map_err(codec_err)?;
    if let Some(m) = v.as_object_mut()
        && m.remove("status").is_none()
    {
        return Ok(());
    }
    let (api_version, kind) = obj.type_meta();
    let codec = crate::object::typed_codec(api_version, kind)
        .cloned()
        .unwrap_or_else(|| crate::object::Codec::dynamic(api_version, kind));
    *obj = codec
        .decode_value(v)
        .map_err(|e| ApiError::bad_request(e.to_string()))?
        .value;
    Ok(())
}

/// Equality ignoring resourceVersion and managedFields timestamps.
fn same_object(a: &dyn ApiObject, b: &dyn ApiObject) -> Result<bool, ApiError> {
    let strip = |o: &dyn ApiObject| -> Result<Value, ApiError> {
        let mut v = o.to_value().map_err(codec_err)?;
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("managedFields");
        }
        Ok(v)
    };
    Ok(strip(a)? == strip(b)?)
}

/// A namespace being deleted waits for the namespace controller to empty it and remove
/// `spec.finalizers`.
fn namespace_finalizers_pending(obj: &dyn ApiObject) -> bool {
    obj.as_any()
        .downcast_ref::<clipper_proto::api::core::v1::Namespace>()
        .and_then(|n| n.spec.as_ref())
        .and_then(|s| s.finalizers.as_ref())
        .is_some_and(|f| !f.is_empty())
}

fn cached_from_kv(codec: &crate::object::Codec, kv: &KeyValue) -> Result<CachedObject, ApiError> {
    crate::cache::CachedObject::from_kv(codec, kv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let t = encode_continue(
            42,
            b"/registry/core/pods/",
            b"/registry/core/pods/default/web-1",
        );
        let (rv, start) = decode_continue(&t).expect("valid token");
        assert_eq!(rv, 42);
        assert_eq!(start, "default/web-1\u{0}");
        assert!(decode_continue("not-base64!").is_err());
        assert!(decode_continue("e30").is_err());
    }

    #[test]
    fn generated_suffixes() {
        let s = random_suffix();
        assert_eq!(s.len(), 5);
        assert!(s.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }
}
