//! The namespace controller: a namespace being deleted is emptied — every namespaced
//! object in it deleted — and then its `kubernetes` finalizer is removed, which lets the
//! deletion complete. With it, the service-account controller's part that every cluster
//! relies on: each active namespace has a ServiceAccount `default` (created when the
//! namespace appears, recreated if deleted). They run inside the API server process and
//! work through the API's operations (same semantics as a remote controller, without the
//! socket).

use std::sync::Arc;
use std::time::Duration;

use clipper_proto::api::core::v1::Namespace;

use crate::api::{Api, DeleteOptions, ListOptions, Scope, WriteOptions};
use crate::cache::{Filter, WatchItem};
use crate::object::downcast;
use crate::status::ApiError;

/// How often terminating namespaces are re-examined while objects in them still wait
/// for their own finalizers.
const RESYNC: Duration = Duration::from_secs(2);

pub async fn start(api: Arc<Api>) -> Result<(), ApiError> {
    let scope = api.scope("", "v1", "namespaces", None)?;
    let cache = api.cache(&scope.served).await?;
    let mut watcher = cache.watch(Filter::default(), None, false)?;
    let sa_served = api.scope("", "v1", "serviceaccounts", None)?.served;
    let sa_cache = api.cache(&sa_served).await?;
    let mut sa_watcher = sa_cache.watch(Filter::default(), None, false)?;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RESYNC);
        loop {
            tokio::select! {
                item = watcher.next() => match item {
                    Some(WatchItem::Event(..)) => {}
                    Some(_) => continue,
                    None => return,
                },
                item = sa_watcher.next() => match item {
                    Some(WatchItem::Event(..)) => {}
                    Some(_) => continue,
                    None => return,
                },
                _ = tick.tick() => {}
            }
            if let Err(e) = sync_all(&api, &scope).await {
                tracing::warn!(error = %e.message, "namespace controller");
            }
            if let Err(e) = default_service_accounts(&api, &sa_served).await {
                tracing::warn!(error = %e.message, "service account controller");
            }
        }
    });
    Ok(())
}

async fn sync_all(api: &Api, scope: &Scope) -> Result<(), ApiError> {
    let cache = api.cache(&scope.served).await?;
    let snap = cache.snapshot();
    for obj in snap.objects.values() {
        let decoded = obj.decode(&cache.codec)?;
        let Some(ns) = downcast::<Namespace>(decoded.as_ref()) else {
            continue;
        };
        if ns.metadata.deletion_timestamp.is_none() {
            continue;
        }
        let pending = ns
            .spec
            .as_ref()
            .and_then(|s| s.finalizers.as_ref())
            .is_some_and(|f| f.iter().any(|x| x == "kubernetes"));
        if pending {
            finalize(api, scope, ns).await?;
        }
    }
    Ok(())
}

/// The ServiceAccount every active namespace has.
const DEFAULT_SERVICE_ACCOUNT: &str = "default";

/// Creates `default` in every active namespace that lacks it.
async fn default_service_accounts(
    api: &Api,
    sa_served: &Arc<crate::served::Served>,
) -> Result<(), ApiError> {
    let ns_served = api
        .served
        .load()
        .get("", "v1", "namespaces")
        .cloned()
        .ok_or_else(|| ApiError::internal("namespaces not served"))?;
    let namespaces = api.cache(&ns_served).await?.snapshot();
    let accounts = api.cache(sa_served).await?.snapshot();
    let have: std::collections::HashSet<&str> = accounts
        .objects
        .values()
        .filter(|o| o.name == DEFAULT_SERVICE_ACCOUNT)
        .filter_map(|o| o.namespace.as_deref())
        .collect();
    for obj in namespaces.objects.values() {
        if have.contains(obj.name.as_str()) {
            continue;
        }
        let decoded = obj.decode(&ns_served.codec)?;
        let Some(ns) = downcast::<Namespace>(decoded.as_ref()) else {
            continue;
        };
        if ns.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let sa = clipper_proto::api::core::v1::ServiceAccount {
            metadata: clipper_proto::api::meta::v1::ObjectMeta {
                name: Some(DEFAULT_SERVICE_ACCOUNT.into()),
                namespace: Some(obj.name.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        let scope = Scope {
            served: sa_served.clone(),
            namespace: Some(obj.name.clone()),
        };
        let opts = WriteOptions {
            field_manager: "service-account-controller".into(),
            ..Default::default()
        };
        match api.create(&scope, Box::new(sa), &opts).await {
            // Already there (a race with the cache), or the namespace began terminating.
            Ok(_)
            | Err(ApiError {
                code: 403 | 409, ..
            }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Deletes what is left in a namespace; once nothing is, removes the finalizer.
async fn finalize(api: &Api, scope: &Scope, ns: &Namespace) -> Result<(), ApiError> {
    let name = ns.metadata.name.clone().unwrap_or_default();
    let set = api.served.load();
    let mut remaining = 0usize;
    for served in set.all.iter().filter(|s| s.namespaced && s.is_stored()) {
        let s = Scope {
            served: served.clone(),
            namespace: Some(name.clone()),
        };
        let opts = ListOptions {
            filter: Filter {
                namespace: Some(name.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        let items = api.list(&s, &opts).await?.items;
        for item in items {
            remaining += 1;
            // Already being deleted: wait for its own finalizers.
            let del = DeleteOptions {
                propagation: Some("Background".into()),
                ..Default::default()
            };
            match api.delete(&s, &item.name, &del).await {
                Ok(_) => {}
                Err(e) if e.code == 404 || e.code == 409 => {}
                Err(e) => return Err(e),
            }
        }
    }
    if remaining > 0 {
        return Ok(());
    }
    let mut done = ns.clone();
    if let Some(f) = done.spec.as_mut().and_then(|s| s.finalizers.as_mut()) {
        f.retain(|x| x != "kubernetes");
    }
    let opts = WriteOptions {
        field_manager: "namespace-controller".into(),
        ..Default::default()
    };
    match api.update(scope, &name, Box::new(done), None, &opts).await {
        Ok(_)
        | Err(ApiError {
            code: 404 | 409, ..
        }) => Ok(()),
        Err(e) => Err(e),
    }
}
