//! Serving CustomResourceDefinitions: the naming and establishing controllers, the
//! served set and OpenAPI documents rebuilt from the established CRDs, and the cleanup
//! of a deleted CRD's objects (its `customresourcecleanup` finalizer).

use std::collections::BTreeSet;
use std::sync::Arc;

use clipper_proto::Time;
use clipper_proto::api::apiextensions::v1::CustomResourceDefinition;
use clipper_store::{RangeRequest, Store};

use crate::api::{Scope, WriteOptions};
use crate::cache::{Filter, WatchItem};
use crate::crd::lifecycle;
use crate::http::Server;
use crate::object::{Codec, downcast};
use crate::openapi::{CustomResource, OpenApi};
use crate::registry::{ALL_VERBS, GET_PATCH_UPDATE, Subresource};
use crate::served::{CustomInfo, Served, ServedSet, storage_prefix};
use crate::status::ApiError;

/// The finalizer that makes a CRD's deletion wait until its objects are gone.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";
/// Objects deleted per store round trip when a CRD's objects are cleaned up.
const CLEANUP_PAGE: usize = 1000;

fn crd_scope(server: &Server) -> Result<Scope, ApiError> {
    let set = server.api.served.load();
    let served = set
        .get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .cloned()
        .ok_or_else(|| ApiError::internal("CRDs are not served"))?;
    Ok(Scope {
        served,
        namespace: None,
    })
}

/// Starts the controller that keeps custom resources served as their CRDs change.
pub async fn start(server: Arc<Server>) -> Result<(), ApiError> {
    let scope = crd_scope(&server)?;
    let cache = server.api.cache(&scope.served).await?;
    // Serve the CRDs that exist before answering any request.
    reconcile(&server, &scope).await?;
    let mut watcher = cache.watch(Filter::default(), Some(cache.revision()), false)?;
    tokio::spawn(async move {
        while let Some(item) = watcher.next().await {
            if matches!(item, WatchItem::Event(..))
                && let Err(e) = reconcile(&server, &scope).await
            {
                tracing::warn!(error = %e.message, "reconciling custom resource definitions");
            }
        }
    });
    Ok(())
}

/// One pass over every CRD: names, conditions, cleanup, then the served set.
async fn reconcile(server: &Server, scope: &Scope) -> Result<(), ApiError> {
    let cache = server.api.cache(&scope.served).await?;
    let snapshot = cache.snapshot();
    let mut crds: Vec<CustomResourceDefinition> = Vec::new();
    for obj in snapshot.objects.values() {
        let decoded = obj.decode(&cache.codec)?;
        if let Some(c) = downcast::<CustomResourceDefinition>(decoded.as_ref()) {
            crds.push(c.clone());
        }
    }
    let now = Time::now();
    let opts = WriteOptions {
        field_manager: "apiextensions-controller".into(),
        ..Default::default()
    };
    for crd in &crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        if crd.metadata.deletion_timestamp.is_some() {
            cleanup(server, scope, crd, &opts).await?;
            continue;
        }
        let mut updated = crd.clone();
        let others = crds.iter().filter(|c| c.metadata.name != crd.metadata.name);
        let used = lifecycle::UsedNames::from_crds(&crd.spec.group, others);
        let before = updated.status.clone();
        lifecycle::record_storage_version(&mut updated);
        let stored_changed = before != updated.status;
        let named = lifecycle::apply_naming(&mut updated, &used, now);
        let established = lifecycle::apply_established(&mut updated, now);
        if named || established || stored_changed {
            match server
                .api
                .update(scope, &name, Box::new(updated), Some("status"), &opts)
                .await
            {
                Ok(_) | Err(ApiError { code: 409, .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    rebuild(server, &crds)
}

/// Deletes every object of a CRD being deleted, then lets the CRD go.
async fn cleanup(
    server: &Server,
    scope: &Scope,
    crd: &CustomResourceDefinition,
    opts: &WriteOptions,
) -> Result<(), ApiError> {
    let has_finalizer = crd
        .metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|x| x == CLEANUP_FINALIZER));
    if !has_finalizer {
        return Ok(());
    }
    let prefix = storage_prefix(&crd.spec.group, &crd.spec.names.plural);
    loop {
        let resp = server
            .api
            .store
            .range(RangeRequest::prefix(prefix.clone()).with_limit(CLEANUP_PAGE))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        for kv in &resp.kvs {
            let _ = server.api.store.delete(kv.key.clone(), None).await;
        }
        if !resp.more {
            break;
        }
    }
    let name = crd.metadata.name.clone().unwrap_or_default();
    let mut done = crd.clone();
    if let Some(f) = done.metadata.finalizers.as_mut() {
        f.retain(|x| x != CLEANUP_FINALIZER);
    }
    match server
        .api
        .update(scope, &name, Box::new(done), None, opts)
        .await
    {
        Ok(_)
        | Err(ApiError {
            code: 404 | 409, ..
        }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The served set: built-ins plus every served version of every established CRD.
fn rebuild(server: &Server, crds: &[CustomResourceDefinition]) -> Result<(), ApiError> {
    let mut set = ServedSet::builtin();
    let mut documents = Vec::new();
    for crd in crds
        .iter()
        .filter(|c| lifecycle::is_established(c) && c.metadata.deletion_timestamp.is_none())
    {
        let names = crd
            .status
            .as_ref()
            .and_then(|s| s.accepted_names.clone())
            .unwrap_or_else(|| crd.spec.names.clone());
        let namespaced = crd.spec.scope == "Namespaced";
        let storage_api_version = format!(
            "{}/{}",
            crd.spec.group,
            lifecycle::storage_version(crd).unwrap_or_default()
        );
        for v in crd.spec.versions.iter().filter(|v| v.served) {
            let version = match crate::crd::ServedVersion::new(crd, &v.name) {
                Ok(sv) => sv,
                Err(errors) => {
                    tracing::warn!(crd = ?crd.metadata.name, version = %v.name, ?errors, "version not servable");
                    continue;
                }
            };
            let api_version = format!("{}/{}", crd.spec.group, v.name);
            let schema = v
                .schema
                .as_ref()
                .and_then(|s| s.open_apiv3_schema.as_ref())
                .and_then(|s| serde_json::to_value(s).ok());
            let apply_schema = schema
                .as_ref()
                .and_then(|s| crate::apply::CrdSchema::new(&api_version, &names.kind, s).ok())
                .map(Arc::new);
            let mut subresources: Vec<Subresource> = Vec::new();
            let subs = v.subresources.as_ref();
            let status = subs.and_then(|s| s.status.as_ref()).is_some();
            let scale = subs.and_then(|s| s.scale.as_ref()).is_some();
            if scale {
                subresources.push(Subresource {
                    name: "scale",
                    group: "autoscaling",
                    version: "v1",
                    kind: "Scale",
                    verbs: GET_PATCH_UPDATE,
                });
            }
            if status {
                subresources.push(Subresource {
                    name: "status",
                    group: "",
                    version: "",
                    kind: "",
                    verbs: GET_PATCH_UPDATE,
                });
            }
            let mut doc = CustomResource::new(
                &crd.spec.group,
                &v.name,
                &names.kind,
                &names.plural,
                namespaced,
                schema.clone(),
            );
            doc.status = status;
            doc.scale = scale;
            if let Some(list_kind) = &names.list_kind {
                doc.list_kind = list_kind.clone();
            }
            documents.push(doc);
            set.insert(Arc::new(Served {
                group: crd.spec.group.clone(),
                version: v.name.clone(),
                plural: names.plural.clone(),
                singular: names
                    .singular
                    .clone()
                    .unwrap_or_else(|| names.kind.to_lowercase()),
                kind: names.kind.clone(),
                namespaced,
                short_names: names.short_names.clone().unwrap_or_default(),
                categories: names.categories.clone().unwrap_or_default(),
                verbs: ALL_VERBS.iter().map(|s| s.to_string()).collect(),
                subresources,
                codec: Arc::new(Codec::dynamic(&api_version, &names.kind)),
                prefix: storage_prefix(&crd.spec.group, &names.plural),
                custom: Some(CustomInfo {
                    crd_name: crd.metadata.name.clone().unwrap_or_default(),
                    version,
                    apply_schema,
                    printer_columns: v.additional_printer_columns.clone().unwrap_or_default(),
                    schema,
                    storage_api_version: storage_api_version.clone(),
                }),
            }));
        }
    }
    let old = server.api.served.load();
    let new_keys: BTreeSet<String> = set.all.iter().map(|s| s.group_resource()).collect();
    let dropped: Vec<String> = old
        .all
        .iter()
        .filter(|s| s.custom.is_some())
        .map(|s| s.group_resource())
        .filter(|k| !new_keys.contains(k))
        .collect();
    server.api.served.store(set);
    match OpenApi::with_custom_resources(&documents) {
        Ok(o) => server.set_openapi(o),
        Err(e) => tracing::warn!(error = %e, "OpenAPI documents for custom resources"),
    }
    let api = server.api.clone();
    tokio::spawn(async move {
        for k in dropped {
            api.drop_cache(&k).await;
        }
    });
    Ok(())
}

/// A CRD delete first adds the cleanup finalizer, as apiextensions' registry does, so
/// that its objects are removed before it goes.
pub async fn add_cleanup_finalizer(
    server: &Server,
    scope: &Scope,
    name: &str,
) -> Result<(), ApiError> {
    let obj = server.api.get(scope, name).await?;
    if obj
        .meta()
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|x| x == CLEANUP_FINALIZER))
    {
        return Ok(());
    }
    let mut updated = obj.clone();
    updated
        .meta_mut()
        .finalizers
        .get_or_insert_with(Vec::new)
        .push(CLEANUP_FINALIZER.into());
    let opts = WriteOptions {
        field_manager: "apiextensions-controller".into(),
        ..Default::default()
    };
    server
        .api
        .update(scope, name, updated, None, &opts)
        .await
        .map(|_| ())
}
