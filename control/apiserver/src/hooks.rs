//! Kind-specific server behaviour around the generic operations of [`crate::api`]:
//! custom-resource schemas, Service ClusterIP and NodePort allocation, server-side apply,
//! and the subresources (`scale`, `binding`, `eviction`, `finalize`, `token`, reviews, and
//! `log`, proxied to the node agent by [`crate::kubelet`]).

use crate::http::ReqBody;
use clipper_proto::Time;
use clipper_proto::api::apiextensions::v1::CustomResourceDefinition;
use clipper_proto::api::authentication::v1::{TokenRequest, TokenRequestStatus};
use clipper_proto::api::autoscaling::v1::{Scale, ScaleSpec, ScaleStatus};
use clipper_proto::api::certificates::v1::CertificateSigningRequest as Csr;
use clipper_proto::api::core::v1::{Binding, Pod, Service};
use clipper_proto::api::meta::v1::ObjectMeta;
use clipper_proto::api::policy::v1::{Eviction, PodDisruptionBudget};
use clipper_proto::codec::FieldValidation;
use http::{Request, Response};
use serde_json::{Value, json};

use crate::api::{DeleteOptions, Deleted, Scope, WriteOptions};
use crate::auth::{Attributes, UserInfo};
use crate::http::resources as res;
use crate::http::response as resp;
use crate::http::{Body, Query, Server};
use crate::object::{ApiObject, downcast};
use crate::patch::PatchType;
use crate::status::ApiError;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

/// Custom resources: prune, default and validate against the CRD's schema.
fn admit_custom(
    scope: &Scope,
    obj: &mut Box<dyn ApiObject>,
    old: Option<&dyn ApiObject>,
    status_write: bool,
) -> Result<(), ApiError> {
    let Some(custom) = &scope.served.custom else {
        return Ok(());
    };
    let mut v = obj.to_value().map_err(internal)?;
    custom
        .version
        .decode(&mut v, crate::crd::DecodeOptions::REQUEST)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let errors = match old {
        None => {
            custom.version.prepare_for_create(&mut v);
            custom.version.validate_create(&v)
        }
        Some(o) => {
            let old_v = o.to_value().map_err(internal)?;
            if status_write {
                custom.version.prepare_for_status_update(&mut v, &old_v);
            } else {
                custom.version.prepare_for_update(&mut v, &old_v);
            }
            custom.version.validate_update(&v, &old_v)
        }
    };
    if !errors.is_empty() {
        let name = obj.meta().name.clone().unwrap_or_default();
        return Err(ApiError::invalid(
            &scope.served.group,
            &scope.served.kind,
            &name,
            &errors,
        ));
    }
    *obj = scope
        .served
        .codec
        .decode_value(v)
        .map_err(|e| ApiError::bad_request(e.to_string()))?
        .value;
    // Stored as the storage version; served back as the requested one.
    if let Some(d) = obj
        .as_any_mut()
        .downcast_mut::<clipper_proto::DynamicObject>()
    {
        d.api_version = custom.storage_api_version.clone();
    }
    Ok(())
}

/// CustomResourceDefinitions: the checks beyond admission's (structural schemas,
/// defaults, list types, selectable fields).
fn admit_crd(
    scope: &Scope,
    obj: &dyn ApiObject,
    old: Option<&dyn ApiObject>,
) -> Result<(), ApiError> {
    let Some(crd) = downcast::<CustomResourceDefinition>(obj) else {
        return Ok(());
    };
    let old = old.and_then(downcast::<CustomResourceDefinition>);
    let errors = crate::crd::validate_crd_extra(crd, old);
    if errors.is_empty() {
        return Ok(());
    }
    let name = crd.metadata.name.clone().unwrap_or_default();
    Err(ApiError::invalid(
        &scope.served.group,
        &scope.served.kind,
        &name,
        &errors,
    ))
}

/// CREATE, with the kind's side effects.
pub async fn create(
    server: &Server,
    scope: &Scope,
    mut obj: Box<dyn ApiObject>,
    opts: &WriteOptions,
) -> Result<Box<dyn ApiObject>, ApiError> {
    if !scope.served.is_stored() {
        return Err(ApiError::method_not_allowed(format!(
            "create of {} is handled as a review",
            scope.served.plural
        )));
    }
    admit_custom(scope, &mut obj, None, false)?;
    admit_crd(scope, obj.as_ref(), None)?;
    if let Some(csr) = obj.as_any_mut().downcast_mut::<Csr>() {
        crate::certificates::prepare_for_create(csr, opts.user.as_ref());
        crate::certificates::admit(&server.security, opts.user.as_ref(), csr, None, None)?;
    }
    if let Some(pod) = obj.as_any_mut().downcast_mut::<Pod>() {
        admit_pod_priority(server, pod).await?;
    }
    if let Some(svc) = obj.as_any_mut().downcast_mut::<Service>() {
        // A Service that already exists holds its addresses: creating it again is 409
        // AlreadyExists, as kube-apiserver answers (its allocation is undone when the
        // store refuses the duplicate), not a 422 about its own ClusterIP.
        if let Some(name) = svc.metadata.name.as_deref()
            && server.api.get(scope, name).await.is_ok()
        {
            return Err(ApiError::already_exists("", "services", name));
        }
        let allocated = crate::services::allocate(&server.api, svc, None, opts.dry_run).await?;
        return match server.api.create(scope, obj, opts).await {
            Ok(o) => Ok(o),
            Err(e) => {
                crate::services::release(&server.api, &allocated).await;
                Err(e)
            }
        };
    }
    server.api.create(scope, obj, opts).await
}

/// The Priority admission plugin: resolves `spec.priorityClassName` (or the global
/// default class) into `spec.priority` and `spec.preemptionPolicy`, and refuses a pod
/// that names a class that does not exist or contradicts the class's values (403, as
/// kube-apiserver's admission does).
async fn admit_pod_priority(server: &Server, pod: &mut Pod) -> Result<(), ApiError> {
    use clipper_proto::api::scheduling::v1::PriorityClass;
    const PREEMPT_LOWER: &str = "PreemptLowerPriority";
    let forbidden = |pod: &Pod, why: String| {
        ApiError::forbidden(format!(
            "pods {:?} is forbidden: {why}",
            pod.metadata.name.clone().unwrap_or_default()
        ))
    };
    let api = &server.api;
    let classes = api
        .served
        .load()
        .get("scheduling.k8s.io", "v1", "priorityclasses")
        .cloned()
        .ok_or_else(|| internal("priorityclasses not served"))?;
    let class_scope = Scope {
        served: classes.clone(),
        namespace: None,
    };
    let wanted = pod
        .spec
        .as_ref()
        .and_then(|s| s.priority_class_name.clone())
        .filter(|n| !n.is_empty());
    let (class_name, value, policy) = match wanted {
        Some(name) => match api.get(&class_scope, &name).await {
            Ok(obj) => {
                let pc = downcast::<PriorityClass>(obj.as_ref())
                    .ok_or_else(|| internal("not a PriorityClass"))?;
                (Some(name), pc.value, pc.preemption_policy.clone())
            }
            Err(e) if e.code == 404 => match crate::admission::system_priority_class_value(&name) {
                Some(v) => (Some(name), v, Some(PREEMPT_LOWER.to_string())),
                None => {
                    return Err(forbidden(
                        pod,
                        format!("no PriorityClass with name {name} was found"),
                    ));
                }
            },
            Err(e) => return Err(e),
        },
        None => {
            let list = api
                .list(&class_scope, &crate::api::ListOptions::default())
                .await?;
            let mut default: Option<PriorityClass> = None;
            for item in list.items {
                let obj = item.decode(&classes.codec)?;
                if let Some(pc) = downcast::<PriorityClass>(obj.as_ref())
                    && pc.global_default == Some(true)
                    && default.as_ref().is_none_or(|d| d.value > pc.value)
                {
                    default = Some(pc.clone());
                }
            }
            match default {
                Some(pc) => (pc.metadata.name.clone(), pc.value, pc.preemption_policy),
                None => (None, 0, Some(PREEMPT_LOWER.to_string())),
            }
        }
    };
    let policy = policy.or_else(|| Some(PREEMPT_LOWER.to_string()));
    let spec = pod.spec.get_or_insert_with(Default::default);
    if let Some(p) = spec.priority
        && p != value
    {
        let err = format!(
            "the integer value of priority ({p}) must not be provided in pod spec; priority admission controller computed {value} from the given PriorityClass name"
        );
        return Err(forbidden(pod, err));
    }
    if let (Some(given), Some(computed)) = (&spec.preemption_policy, &policy)
        && given != computed
    {
        let err = format!(
            "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {computed} from the given PriorityClass name"
        );
        return Err(forbidden(pod, err));
    }
    spec.priority = Some(value);
    spec.preemption_policy = policy;
    if class_name.is_some() {
        spec.priority_class_name = class_name;
    }
    Ok(())
}

/// The CertificateSigningRequest admission checks of an update (a no-op for other kinds).
fn admit_csr_update(
    server: &Server,
    opts: &WriteOptions,
    new: &dyn ApiObject,
    old: &dyn ApiObject,
    subresource: Option<&str>,
) -> Result<(), ApiError> {
    match (downcast::<Csr>(new), downcast::<Csr>(old)) {
        (Some(new), Some(old)) => crate::certificates::admit(
            &server.security,
            opts.user.as_ref(),
            new,
            Some(old),
            subresource,
        ),
        _ => Ok(()),
    }
}

/// UPDATE (PUT), with the kind's side effects.
pub async fn update(
    server: &Server,
    scope: &Scope,
    name: &str,
    mut obj: Box<dyn ApiObject>,
    subresource: Option<&str>,
    opts: &WriteOptions,
) -> Result<Box<dyn ApiObject>, ApiError> {
    if scope.served.custom.is_some() {
        let old = server.api.get(scope, name).await?;
        admit_custom(
            scope,
            &mut obj,
            Some(old.as_ref()),
            subresource == Some("status"),
        )?;
    }
    if subresource.is_none() && downcast::<CustomResourceDefinition>(obj.as_ref()).is_some() {
        let old = server.api.get(scope, name).await?;
        admit_crd(scope, obj.as_ref(), Some(old.as_ref()))?;
    }
    if downcast::<Csr>(obj.as_ref()).is_some() {
        let old = server.api.get(scope, name).await?;
        admit_csr_update(server, opts, obj.as_ref(), old.as_ref(), subresource)?;
    }
    let mut old_service = None;
    if let Some(svc) = obj.as_any_mut().downcast_mut::<Service>() {
        let old = server.api.get(scope, name).await?;
        old_service = downcast::<Service>(old.as_ref()).cloned();
        crate::services::allocate(&server.api, svc, old_service.as_ref(), opts.dry_run).await?;
    }
    let updated = server
        .api
        .update(scope, name, obj, subresource, opts)
        .await?;
    if let (Some(old), Some(new)) = (&old_service, downcast::<Service>(updated.as_ref()))
        && !opts.dry_run
    {
        let dropped = crate::services::held_by(old).minus(&crate::services::held_by(new));
        crate::services::release(&server.api, &dropped).await;
    }
    Ok(updated)
}

/// PATCH, with the kind's side effects.
#[allow(clippy::too_many_arguments)]
pub async fn patch(
    server: &Server,
    scope: &Scope,
    name: &str,
    patch_type: PatchType,
    patch: &Value,
    subresource: Option<&str>,
    opts: &WriteOptions,
    decode: &(dyn Fn(Value) -> Result<Box<dyn ApiObject>, ApiError> + Sync),
) -> Result<Box<dyn ApiObject>, ApiError> {
    let custom = scope.served.custom.is_some();
    let is_service = scope.served.group.is_empty() && scope.served.kind == "Service";
    let is_csr = scope.served.group == crate::certificates::GROUP
        && scope.served.kind == "CertificateSigningRequest";
    let old = if custom || is_service || is_csr {
        Some(server.api.get(scope, name).await?)
    } else {
        None
    };
    let status_write = subresource == Some("status");
    let wrapped = |v: Value| -> Result<Box<dyn ApiObject>, ApiError> {
        let mut obj = decode(v)?;
        if custom {
            admit_custom(scope, &mut obj, old.as_deref(), status_write)?;
        }
        if let Some(old) = old.as_deref() {
            admit_csr_update(server, opts, obj.as_ref(), old, subresource)?;
        }
        Ok(obj)
    };
    let result = server
        .api
        .patch(scope, name, patch_type, patch, subresource, opts, &wrapped)
        .await?;
    if is_service && !opts.dry_run {
        // A patch that made a ClusterIP or NodePort Service without addresses gets them now.
        if let Some(svc) = downcast::<Service>(result.as_ref()) {
            let mut s = svc.clone();
            let old_svc = old.as_deref().and_then(downcast::<Service>).cloned();
            let allocated =
                crate::services::allocate(&server.api, &mut s, old_svc.as_ref(), false).await?;
            if !allocated.is_empty() {
                return server
                    .api
                    .update(scope, name, Box::new(s), None, opts)
                    .await;
            }
        }
    }
    Ok(result)
}

/// DELETE, with the kind's side effects.
pub async fn delete(
    server: &Server,
    scope: &Scope,
    name: &str,
    opts: &DeleteOptions,
) -> Result<Deleted, ApiError> {
    if scope.served.group == "apiextensions.k8s.io" && !opts.dry_run {
        crate::crds::add_cleanup_finalizer(server, scope, name).await?;
    }
    let result = server.api.delete(scope, name, opts).await?;
    if let Deleted::Now(obj) = &result
        && let Some(svc) = downcast::<Service>(obj.as_ref())
        && !opts.dry_run
    {
        crate::services::release(&server.api, &crate::services::held_by(svc)).await;
    }
    Ok(result)
}

/// Server-side apply (`application/apply-patch+yaml`).
#[allow(clippy::too_many_arguments)]
pub async fn apply(
    server: &Server,
    scope: &Scope,
    name: &str,
    body: &[u8],
    subresource: Option<&str>,
    force: bool,
    opts: &WriteOptions,
    fv: FieldValidation,
) -> Result<Box<dyn ApiObject>, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the apply configuration is not UTF-8"))?;
    let config = clipper_proto::codec::documents(text.as_bytes())
        .map_err(|e| ApiError::bad_request(e.to_string()))?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::bad_request("the apply configuration is empty"))?;
    if opts.field_manager.is_empty() {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "PatchOptions",
            "",
            &[crate::admission::FieldError::required(
                &crate::admission::Path::new("fieldManager"),
                "is required for apply patch",
            )],
        ));
    }
    let manager = opts.field_manager.clone();
    let builtin = crate::apply::BuiltinSchema;
    let untyped = crate::apply::Untyped;
    let schema: &dyn crate::apply::SchemaLookup = match &scope.served.custom {
        Some(c) => match &c.apply_schema {
            Some(s) => s.as_ref(),
            None => &untyped,
        },
        None => &builtin,
    };
    let now = Time::now();
    let pinned = config
        .get("metadata")
        .and_then(|m| m.get("resourceVersion"))
        .is_some();
    // Unpinned, the apply is merged again onto the latest object when another writer
    // got in between (kube-apiserver's GuaranteedUpdate), a bounded number of times.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let live = match server.api.get(scope, name).await {
            Ok(live) => live,
            Err(e) if e.code == 404 && subresource.is_none() => break,
            Err(e) => return Err(e),
        };
        let live_v = live.to_value().map_err(internal)?;
        let new_v = crate::apply::apply(Some(&live_v), &config, &manager, force, schema, now)
            .map_err(apply_error(scope))?;
        let (mut obj, _) = res::decode_value(&scope.served, new_v, fv)?;
        if !pinned {
            obj.meta_mut().resource_version = live.meta().resource_version.clone();
        }
        let wopts = WriteOptions {
            field_manager: String::new(),
            ..opts.clone()
        };
        match update(server, scope, name, obj, subresource, &wopts).await {
            Err(e)
                if !pinned
                    && e.code == 409
                    && e.reason == "Conflict"
                    && attempts < crate::api::MAX_UPDATE_ATTEMPTS => {}
            other => return other,
        }
    }
    // Not found: the apply creates it.
    let new_v = crate::apply::apply(None, &config, &manager, force, schema, now)
        .map_err(apply_error(scope))?;
    let (mut obj, _) = res::decode_value(&scope.served, new_v, fv)?;
    if obj.meta().name.as_deref().is_none_or(str::is_empty) {
        obj.meta_mut().name = Some(name.to_string());
    }
    let wopts = WriteOptions {
        field_manager: String::new(),
        ..opts.clone()
    };
    create(server, scope, obj, &wopts).await
}

fn apply_error(scope: &Scope) -> impl Fn(crate::apply::ApplyError) -> ApiError + '_ {
    move |e| {
        let st = e.status_for(&scope.served.group, &scope.served.plural);
        let mut err = ApiError::new(
            st.code.unwrap_or(500) as u16,
            static_reason(st.reason.as_deref().unwrap_or("")),
            st.message.clone().unwrap_or_default(),
        );
        if let Some(causes) = st.details.as_ref().and_then(|d| d.causes.as_ref()) {
            err.causes = causes
                .iter()
                .map(|c| crate::status::Cause {
                    reason: c.reason.clone().unwrap_or_default(),
                    message: c.message.clone().unwrap_or_default(),
                    field: c.field.clone().unwrap_or_default(),
                })
                .collect();
        }
        err
    }
}

fn static_reason(r: &str) -> &'static str {
    match r {
        "Conflict" => "Conflict",
        "BadRequest" => "BadRequest",
        "Invalid" => "Invalid",
        "NotFound" => "NotFound",
        _ => "",
    }
}

/// Subresources other than `status`.
#[allow(clippy::too_many_arguments)]
pub async fn subresource(
    server: &Server,
    req: Request<ReqBody>,
    user: &UserInfo,
    scope: &Scope,
    name: &str,
    sub: &str,
    verb: &str,
    query: &Query,
    format: crate::http::response::Format,
) -> Result<Response<Body>, ApiError> {
    let api = &server.api;
    match (sub, verb) {
        ("scale", "get") => {
            let obj = api.get(scope, name).await?;
            let scale = scale_of(scope, obj.as_ref())?;
            Ok(resp::value(
                200,
                &serde_json::to_value(&scale).map_err(internal)?,
                format,
            ))
        }
        ("scale", "update" | "patch") => {
            let ctype = res::content_type(&req);
            let body = crate::http::read_body(req.into_body()).await?;
            let current = api.get(scope, name).await?;
            let current_scale = scale_of(scope, current.as_ref())?;
            let new_scale: Scale = if verb == "patch" {
                let pt = PatchType::from_content_type(&ctype)
                    .ok_or_else(|| ApiError::unsupported_media_type(&ctype))?;
                let patch = pt
                    .decode(&body)
                    .map_err(|e| ApiError::bad_request(e.status().message))?;
                let cur = serde_json::to_value(&current_scale).map_err(internal)?;
                let patched = pt
                    .apply(&cur, &patch, "io.k8s.api.autoscaling.v1.Scale")
                    .map_err(|e| ApiError::bad_request(e.status().message))?;
                serde_json::from_value(patched).map_err(|e| ApiError::bad_request(e.to_string()))?
            } else {
                let v = res::body_value(&ctype, &body, "autoscaling/v1", "Scale")?;
                serde_json::from_value(v).map_err(|e| ApiError::bad_request(e.to_string()))?
            };
            if let Some(rv) = new_scale
                .metadata
                .resource_version
                .as_deref()
                .filter(|r| !r.is_empty())
                && Some(rv) != current.meta().resource_version.as_deref()
            {
                return Err(ApiError::stale(
                    &scope.served.group,
                    &scope.served.plural,
                    name,
                ));
            }
            let replicas = new_scale
                .spec
                .as_ref()
                .and_then(|s| s.replicas)
                .unwrap_or(0);
            if replicas < 0 {
                return Err(ApiError::invalid(
                    "autoscaling",
                    "Scale",
                    name,
                    &[crate::admission::FieldError::invalid(
                        &crate::admission::Path::new("spec").child("replicas"),
                        replicas as i64,
                        "must be greater than or equal to 0",
                    )],
                ));
            }
            let opts = WriteOptions {
                field_manager: query
                    .get("fieldManager")
                    .unwrap_or("kubectl-scale")
                    .to_string(),
                ..Default::default()
            };
            let patch = match &scope.served.custom {
                Some(_) => {
                    let mut v = current.to_value().map_err(internal)?;
                    let custom = scope
                        .served
                        .custom
                        .as_ref()
                        .ok_or_else(|| internal("custom info"))?;
                    match custom.version.apply_scale(&mut v, &new_scale) {
                        Some(Ok(())) => {}
                        Some(Err(e)) => return Err(ApiError::bad_request(e.to_string())),
                        None => {
                            return Err(ApiError::not_found(
                                &scope.served.group,
                                &scope.served.plural,
                                name,
                            ));
                        }
                    }
                    v
                }
                None => json!({"spec": {"replicas": replicas}}),
            };
            let served = scope.served.clone();
            let updated = if scope.served.custom.is_some() {
                let (obj, _) = res::decode_value(&served, patch, FieldValidation::Ignore)?;
                update(server, scope, name, obj, None, &opts).await?
            } else {
                api.patch(scope, name, PatchType::Merge, &patch, None, &opts, &|v| {
                    res::decode_value(&served, v, FieldValidation::Ignore).map(|(o, _)| o)
                })
                .await?
            };
            let scale = scale_of(scope, updated.as_ref())?;
            Ok(resp::value(
                200,
                &serde_json::to_value(&scale).map_err(internal)?,
                format,
            ))
        }
        ("binding", "create") => {
            let binding: Binding = typed_body(req, "v1", "Binding").await?;
            bind(server, scope, name, &binding).await?;
            Ok(resp::value(
                201,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
                format,
            ))
        }
        ("eviction", "create") => {
            let eviction: Eviction = typed_body(req, "policy/v1", "Eviction").await?;
            // Dry run from the query (CreateOptions) or the eviction's own DeleteOptions.
            let dry_run = query.dry_run()?
                || eviction
                    .delete_options
                    .as_ref()
                    .and_then(|d| d.dry_run.as_ref())
                    .is_some_and(|d| d.iter().any(|v| v == "All"));
            evict(server, scope, name, &eviction, dry_run).await?;
            Ok(resp::value(
                201,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
                format,
            ))
        }
        ("finalize", "update") => {
            let ctype = res::content_type(&req);
            let body = crate::http::read_body(req.into_body()).await?;
            let (obj, _) =
                res::decode_object(&scope.served, &ctype, &body, FieldValidation::Ignore)?;
            let finalizers = downcast::<clipper_proto::api::core::v1::Namespace>(obj.as_ref())
                .and_then(|n| n.spec.as_ref())
                .and_then(|s| s.finalizers.clone());
            let served = scope.served.clone();
            let patch = json!({"spec": {"finalizers": finalizers.unwrap_or_default()}});
            let opts = WriteOptions {
                field_manager: "namespace-controller".into(),
                ..Default::default()
            };
            let out = api
                .patch(scope, name, PatchType::Merge, &patch, None, &opts, &|v| {
                    res::decode_value(&served, v, FieldValidation::Ignore).map(|(o, _)| o)
                })
                .await?;
            res::object_response(200, out.as_ref(), &scope.served, format, query, &[])
        }
        ("token", "create") => {
            let mut tr: TokenRequest =
                typed_body(req, "authentication.k8s.io/v1", "TokenRequest").await?;
            let sa = api.get(scope, name).await?;
            let ns = scope.namespace.clone().unwrap_or_default();
            let expiration = tr
                .spec
                .expiration_seconds
                .unwrap_or(3600)
                .clamp(600, 48 * 3600);
            let audiences = if tr.spec.audiences.is_empty() {
                vec![crate::security::SERVICE_ACCOUNT_ISSUER.to_string()]
            } else {
                tr.spec.audiences.clone()
            };
            let request = crate::auth::sa_token::TokenRequest {
                namespace: ns,
                service_account: crate::auth::sa_token::ObjectRef::new(
                    name,
                    sa.meta().uid.as_deref().unwrap_or(""),
                ),
                audiences,
                expiration_seconds: expiration,
                pod: None,
                secret: None,
                node: None,
            };
            let now = Time::now().0;
            let (token, _) = server
                .security
                .issuer
                .issue(&request, now)
                .map_err(internal)?;
            tr.status = Some(TokenRequestStatus {
                token,
                expiration_timestamp: Some(Time(now + expiration)),
            });
            tr.metadata.name = Some(name.to_string());
            tr.metadata.namespace = scope.namespace.clone();
            tr.metadata.creation_timestamp = Some(Time(now));
            Ok(resp::value(
                201,
                &serde_json::to_value(&tr).map_err(internal)?,
                format,
            ))
        }
        ("log", "get") => crate::kubelet::pod_log(server, scope, name, query).await,
        ("exec", "get" | "create") => {
            crate::kubelet::pod_exec(server, req, user, scope, name).await
        }
        ("portforward", "get" | "create") => {
            crate::kubelet::pod_portforward(server, req, user, scope, name).await
        }
        ("attach", "get" | "create") => {
            crate::kubelet::pod_attach(server, req, user, scope, name).await
        }
        _ => {
            let _ = user;
            Err(ApiError::method_not_allowed(format!(
                "{verb} is not supported on {}/{sub}",
                scope.served.plural
            )))
        }
    }
}

/// The Scale of a built-in scalable kind or a custom resource with a scale subresource.
fn scale_of(scope: &Scope, obj: &dyn ApiObject) -> Result<Scale, ApiError> {
    if let Some(custom) = &scope.served.custom {
        let v = obj.to_value().map_err(internal)?;
        return match custom.version.scale(&v) {
            Some(Ok(s)) => Ok(s),
            Some(Err(e)) => Err(ApiError::internal(e.to_string())),
            None => Err(ApiError::not_found(
                &scope.served.group,
                &scope.served.plural,
                "",
            )),
        };
    }
    let v = obj.to_value().map_err(internal)?;
    let spec_replicas = v
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1) as i32;
    let status_replicas = v
        .pointer("/status/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0) as i32;
    let selector = v.pointer("/spec/selector").cloned().unwrap_or(Value::Null);
    let selector_text = match serde_json::from_value::<clipper_proto::api::meta::v1::LabelSelector>(
        selector.clone(),
    ) {
        Ok(sel) => clipper_proto::selector::LabelSelectorExpr::from_api(Some(&sel))
            .map(|s| s.to_string())
            .unwrap_or_default(),
        // ReplicationController selectors are plain maps.
        Err(_) => selector
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default(),
    };
    let m = obj.meta();
    Ok(Scale {
        metadata: ObjectMeta {
            name: m.name.clone(),
            namespace: m.namespace.clone(),
            uid: m.uid.clone(),
            resource_version: m.resource_version.clone(),
            creation_timestamp: m.creation_timestamp,
            ..Default::default()
        },
        spec: Some(ScaleSpec {
            replicas: Some(spec_replicas),
        }),
        status: Some(ScaleStatus {
            replicas: status_replicas,
            selector: Some(selector_text),
        }),
    })
}

/// `pods/binding` (and the `bindings` resource): assigns a pod to a node, once.
pub async fn bind(
    server: &Server,
    scope: &Scope,
    name: &str,
    binding: &Binding,
) -> Result<(), ApiError> {
    let node = binding.target.name.clone().unwrap_or_default();
    if node.is_empty() {
        return Err(ApiError::invalid(
            "",
            "Binding",
            name,
            &[crate::admission::FieldError::required(
                &crate::admission::Path::new("target").child("name"),
                "",
            )],
        ));
    }
    let set = server.api.served.load();
    let pods = set
        .get("", "v1", "pods")
        .cloned()
        .ok_or_else(|| internal("pods not served"))?;
    let pod_scope = Scope {
        served: pods.clone(),
        namespace: scope.namespace.clone(),
    };
    let opts = WriteOptions {
        field_manager: "kube-scheduler".into(),
        ..Default::default()
    };
    let served = pods.clone();
    let node_for_closure = node.clone();
    let pod_name = name.to_string();
    let result = server
        .api
        .patch(&pod_scope, name, PatchType::Merge, &json!({}), Some("binding"), &opts, &move |mut v: Value| {
            let current = v.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("").to_string();
            if !current.is_empty() {
                return Err(ApiError::conflict("", "pods/binding", &pod_name, &format!(
                    "pod {pod_name} is already assigned to node {current:?}"
                )));
            }
            if v.pointer("/metadata/deletionTimestamp").is_some() {
                return Err(ApiError::conflict("", "pods/binding", &pod_name, &format!("pod {pod_name} is being deleted, cannot be assigned to a host")));
            }
            v["spec"]["nodeName"] = json!(node_for_closure);
            let conditions = v["status"]["conditions"].as_array().cloned().unwrap_or_default();
            let mut conditions: Vec<Value> = conditions.into_iter().filter(|c| c["type"] != "PodScheduled").collect();
            conditions.push(json!({"type": "PodScheduled", "status": "True", "lastTransitionTime": Time::now().to_string()}));
            v["status"]["conditions"] = json!(conditions);
            served.codec.decode_value(v).map(|d| d.value).map_err(|e| ApiError::bad_request(e.to_string()))
        })
        .await;
    result.map(|_| ())
}

/// `pods/eviction`: deletes the pod unless a PodDisruptionBudget forbids it (429).
async fn evict(
    server: &Server,
    scope: &Scope,
    name: &str,
    eviction: &Eviction,
    dry_run: bool,
) -> Result<(), ApiError> {
    let api = &server.api;
    let pod_obj = api.get(scope, name).await?;
    let Some(pod) = downcast::<Pod>(pod_obj.as_ref()).cloned() else {
        return Err(internal("not a pod"));
    };
    let terminal = matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    );
    if !terminal {
        let set = api.served.load();
        let pdbs = set
            .get("policy", "v1", "poddisruptionbudgets")
            .cloned()
            .ok_or_else(|| internal("pdbs not served"))?;
        let pdb_scope = Scope {
            served: pdbs.clone(),
            namespace: scope.namespace.clone(),
        };
        let list = api
            .list(
                &pdb_scope,
                &crate::api::ListOptions {
                    filter: crate::cache::Filter {
                        namespace: scope.namespace.clone(),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .await?;
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        for item in list.items {
            let obj = item.decode(&pdbs.codec)?;
            let Some(pdb) = downcast::<PodDisruptionBudget>(obj.as_ref()) else {
                continue;
            };
            let selector = clipper_proto::selector::LabelSelectorExpr::from_api(
                pdb.spec.as_ref().and_then(|s| s.selector.as_ref()),
            )
            .unwrap_or_else(|_| clipper_proto::selector::LabelSelectorExpr::nothing());
            if !selector.matches(&labels) {
                continue;
            }
            let allowed = pdb
                .status
                .as_ref()
                .map(|s| s.disruptions_allowed)
                .unwrap_or(0);
            if allowed <= 0 {
                let mut e = ApiError::too_many_requests(
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                    10,
                );
                e.causes.push(crate::status::Cause {
                    reason: "DisruptionBudget".into(),
                    message: format!(
                        "The disruption budget {} needs {} healthy pods and has {} currently",
                        pdb.metadata.name.clone().unwrap_or_default(),
                        pdb.status.as_ref().map(|s| s.desired_healthy).unwrap_or(0),
                        pdb.status.as_ref().map(|s| s.current_healthy).unwrap_or(0)
                    ),
                    field: String::new(),
                });
                return Err(e);
            }
        }
    }
    let opts = DeleteOptions {
        grace_period_seconds: eviction
            .delete_options
            .as_ref()
            .and_then(|d| d.grace_period_seconds),
        precondition_uid: eviction
            .delete_options
            .as_ref()
            .and_then(|d| d.preconditions.as_ref())
            .and_then(|p| p.uid.clone()),
        dry_run,
        ..Default::default()
    };
    api.delete(scope, name, &opts).await.map(|_| ())
}

/// A subresource's request body (JSON, YAML or protobuf) as its type.
async fn typed_body<T: serde::de::DeserializeOwned>(
    req: Request<ReqBody>,
    api_version: &str,
    kind: &str,
) -> Result<T, ApiError> {
    let ctype = res::content_type(&req);
    let body = crate::http::read_body(req.into_body()).await?;
    let v = res::body_value(&ctype, &body, api_version, kind)?;
    serde_json::from_value(v).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// The create-only review resources: SubjectAccessReview & co, TokenReview,
/// SelfSubjectReview.
pub async fn review(
    server: &Server,
    scope: &Scope,
    user: &UserInfo,
    mut v: Value,
) -> Result<Value, ApiError> {
    let kind = scope.served.kind.as_str();
    match kind {
        "SelfSubjectAccessReview" | "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            let spec = v.get("spec").cloned().unwrap_or(Value::Null);
            let subject = if kind == "SelfSubjectAccessReview" {
                user.clone()
            } else {
                let groups: Vec<String> = spec
                    .get("groups")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                UserInfo {
                    username: spec
                        .get("user")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    uid: spec
                        .get("uid")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    groups,
                    extra: Default::default(),
                }
            };
            let ra = spec.get("resourceAttributes");
            let nra = spec.get("nonResourceAttributes");
            let s = |v: Option<&Value>, k: &str| {
                v.and_then(|x| x.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let (verb, group, resource, sub, ns, name, path) = match (ra, nra) {
                (Some(_), _) => (
                    s(ra, "verb"),
                    s(ra, "group"),
                    s(ra, "resource"),
                    s(ra, "subresource"),
                    s(ra, "namespace"),
                    s(ra, "name"),
                    String::new(),
                ),
                (None, Some(_)) => (
                    s(nra, "verb"),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    s(nra, "path"),
                ),
                _ => {
                    return Err(ApiError::invalid(
                        "authorization.k8s.io",
                        kind,
                        "",
                        &[crate::admission::FieldError::invalid_omit(
                            &crate::admission::Path::new("spec").child("resourceAttributes"),
                            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
                        )],
                    ));
                }
            };
            let ns = if kind == "LocalSubjectAccessReview" {
                scope.namespace.clone().unwrap_or_default()
            } else {
                ns
            };
            let (allowed, reason) = server.security.allowed(&Attributes {
                user: &subject,
                verb: &verb,
                api_group: &group,
                resource: &resource,
                subresource: &sub,
                namespace: &ns,
                name: &name,
                path: &path,
                resource_request: ra.is_some(),
                field_selector: &[],
            });
            let mut status = json!({"allowed": allowed});
            if !reason.is_empty() {
                status["reason"] = json!(reason);
            }
            v["status"] = status;
        }
        "SelfSubjectRulesReview" => {
            v["status"] = json!({"resourceRules": [], "nonResourceRules": [], "incomplete": true,
                "evaluationError": "rule listing is not implemented; use SelfSubjectAccessReview (kubectl auth can-i <verb> <resource>)"});
        }
        "TokenReview" => {
            let token = v
                .pointer("/spec/token")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            v["status"] = match server.security.review_token(&token) {
                Ok(u) => {
                    json!({"authenticated": true, "user": {"username": u.username, "uid": u.uid, "groups": u.groups}})
                }
                Err(e) => json!({"authenticated": false, "error": e}),
            };
        }
        "SelfSubjectReview" => {
            v["status"] = json!({"userInfo": {"username": user.username, "uid": user.uid, "groups": user.groups}});
        }
        other => {
            return Err(ApiError::method_not_allowed(format!(
                "{other} cannot be created"
            )));
        }
    }
    v["apiVersion"] = json!(scope.served.api_version());
    v["kind"] = json!(kind);
    if v.get("metadata").is_none() {
        v["metadata"] = json!({});
    }
    Ok(v)
}
