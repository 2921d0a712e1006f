//! Resource requests: the REST verbs on collections, objects and subresources.

use std::sync::Arc;
use std::time::Duration;

use crate::http::ReqBody;
use bytes::{Bytes, BytesMut};
use clipper_proto::codec::{self, FieldValidation};
use clipper_proto::selector::{FieldSelector, LabelSelectorExpr};
use http::{Method, Request, Response, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use super::request::{Query, ResourcePath};
use super::response::{self, Body, Format};
use super::{Server, read_body};
use crate::api::{Deleted, ListOptions, Scope, WriteOptions};
use crate::auth::{Attributes, UserInfo};
use crate::cache::{CachedObject, EventType, Filter, WatchItem, Watcher};
use crate::object::ApiObject;
use crate::patch::PatchType;
use crate::printers::{self, IncludeObject, TableOptions, TableVersion};
use crate::served::Served;
use crate::status::{ApiError, success_status};

/// The default watch timeout when the client names none (kube-apiserver picks a random
/// value in [min-request-timeout, 2×]; 30 minutes is its middle).
pub const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);
/// Longest watch timeout a client may ask for.
pub const MAX_WATCH_TIMEOUT: Duration = Duration::from_secs(3600);

fn not_found_path() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

/// The verb for authorization and dispatch.
fn verb(method: &Method, path: &ResourcePath, query: &Query) -> Result<&'static str, ApiError> {
    Ok(match (method, path.name.is_some()) {
        (&Method::GET | &Method::HEAD, true) => "get",
        (&Method::GET | &Method::HEAD, false) if query.flag("watch") => "watch",
        (&Method::GET | &Method::HEAD, false) => "list",
        (&Method::POST, _) => "create",
        (&Method::PUT, true) => "update",
        (&Method::PATCH, true) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({method})"
            )));
        }
    })
}

/// Builds list/watch filters from the query, validating selectors per kind.
pub(crate) fn filter(
    served: &Served,
    namespace: Option<&str>,
    query: &Query,
) -> Result<Filter, ApiError> {
    const PREFIX: &str = "unable to parse requirement: ";
    let labels =
        LabelSelectorExpr::parse(query.get("labelSelector").unwrap_or("")).map_err(|e| {
            // Kubernetes says the prefix once, whichever part of the parser failed.
            let m = e.0.strip_prefix(PREFIX).unwrap_or(&e.0);
            ApiError::bad_request(format!("{PREFIX}{m}"))
        })?;
    let mut fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.0))?;
    let supported = crate::fields::supported(&served.group, &served.kind);
    for r in &mut fields.requirements {
        r.field = crate::fields::canonical_name(&served.group, &served.kind, &r.field).to_string();
        if !supported.contains(&r.field.as_str()) {
            return Err(ApiError::bad_request(format!(
                "field label not supported: {}",
                r.field
            )));
        }
    }
    Ok(Filter {
        namespace: namespace.map(str::to_string),
        labels,
        fields,
    })
}

fn field_validation(query: &Query) -> Result<FieldValidation, ApiError> {
    match query.get("fieldValidation") {
        None | Some("") => Ok(FieldValidation::Warn),
        Some(v) => FieldValidation::parse(v).ok_or_else(|| {
            ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: {v:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))
        }),
    }
}

/// A request body as JSON, whatever its media type: JSON, YAML (the first
/// document) or Kubernetes protobuf. Go's typed clients (kubectl 1.32+ for
/// `create configmap|secret|deployment|...`, `auth can-i`, `auth whoami`) send
/// protobuf with an empty apiVersion or kind when the URL implies it; those come
/// from `api_version` and `kind`, the type the URL addresses.
pub(crate) fn body_value(
    ctype: &str,
    body: &[u8],
    api_version: &str,
    kind: &str,
) -> Result<Value, ApiError> {
    match ctype {
        "application/json" | "" | "*/*" => serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("json parse error: {e}"))),
        "application/yaml" | "text/yaml" | "application/x-yaml" => {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::bad_request("the body is not UTF-8"))?;
            codec::yaml_documents(text)
                .map_err(|e| ApiError::bad_request(e.to_string()))?
                .into_iter()
                .next()
                .ok_or_else(|| ApiError::bad_request("the request body holds no object"))
        }
        "application/vnd.kubernetes.protobuf" => {
            let (av, k, raw) = clipper_proto::protobuf::decode_unknown(body)
                .map_err(|e| ApiError::bad_request(format!("protobuf decode error: {e}")))?;
            let av = if av.is_empty() {
                api_version.to_string()
            } else {
                av
            };
            let k = if k.is_empty() { kind.to_string() } else { k };
            clipper_proto::protobuf::decode_kind(&av, &k, raw)
                .map_err(|e| ApiError::bad_request(format!("protobuf decode error: {e}")))
        }
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

pub(crate) fn content_type(req: &Request<ReqBody>) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("application/json")
        .trim()
        .to_ascii_lowercase()
}

/// Parses a request body (JSON or YAML) as an object of the served kind.
pub(crate) fn decode_object(
    served: &Served,
    ctype: &str,
    body: &[u8],
    fv: FieldValidation,
) -> Result<(Box<dyn ApiObject>, Vec<String>), ApiError> {
    let value = body_value(ctype, body, &served.api_version(), &served.kind)?;
    decode_value(served, value, fv)
}

/// Checks the body's type meta against the endpoint and decodes it.
pub(crate) fn decode_value(
    served: &Served,
    value: Value,
    fv: FieldValidation,
) -> Result<(Box<dyn ApiObject>, Vec<String>), ApiError> {
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    let (av, kind) = codec::type_meta(&value);
    let expected = served.api_version();
    if let Some(av) = av.filter(|a| !a.is_empty())
        && av != expected
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({expected})"
        )));
    }
    if let Some(kind) = kind.filter(|k| !k.is_empty())
        && kind != served.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            served.kind
        )));
    }
    let decoded = served.codec.decode_value(value).map_err(|e| match e {
        codec::CodecError::Type(m) | codec::CodecError::Json(m) | codec::CodecError::Yaml(m) => {
            ApiError::bad_request(format!("error decoding the request body: {m}"))
        }
        codec::CodecError::Strict(m) => {
            ApiError::bad_request(format!("strict decoding error: {}", m.join(", ")))
        }
    })?;
    let (mut obj, warnings) = decoded
        .validate(fv)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if served.custom.is_some()
        && let Some(d) = obj
            .as_any_mut()
            .downcast_mut::<clipper_proto::DynamicObject>()
    {
        d.api_version = expected;
        d.kind = served.kind.clone();
    }
    Ok((obj, warnings))
}

fn manager(query: &Query, req: &Request<ReqBody>) -> String {
    if let Some(m) = query.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.to_string();
    }
    let ua = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    crate::apply::manager_from_user_agent(ua)
}

pub async fn handle(
    server: &Server,
    req: Request<ReqBody>,
    user: &UserInfo,
    path: ResourcePath,
    query: Query,
) -> Result<Response<Body>, ApiError> {
    if path.group == crate::metrics::GROUP {
        return crate::metrics::handle(server, req.method(), user, path, query).await;
    }
    let set = server.api.served.load();
    let served = set
        .get(&path.group, &path.version, &path.resource)
        .cloned()
        .ok_or_else(not_found_path)?;
    if path.namespace.is_some() && !served.namespaced {
        return Err(not_found_path());
    }
    let verb = verb(req.method(), &path, &query)?;
    if let Some(sub) = &path.subresource {
        if served.subresource(sub).is_none() {
            return Err(not_found_path());
        }
    } else if !served.has_verb(verb) {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({verb} {})",
            served.plural
        )));
    }
    // Kubernetes' RequestInfo takes the name of a list/watch from a metadata.name field
    // selector, so that per-object permissions (resourceNames) apply to `kubectl wait`.
    let selector_name = match (verb, query.get("fieldSelector")) {
        ("list" | "watch", Some(fs)) => FieldSelector::parse(fs)
            .ok()
            .and_then(|f| f.required_value("metadata.name").map(str::to_string)),
        _ => None,
    };
    let field_requirements = match query.get("fieldSelector") {
        Some(fs) if verb == "list" || verb == "watch" => {
            crate::auth::parse_field_selector(fs).unwrap_or_default()
        }
        _ => Vec::new(),
    };
    server.security.authorize(&Attributes {
        user,
        verb,
        api_group: &served.group,
        resource: &served.plural,
        subresource: path.subresource.as_deref().unwrap_or(""),
        namespace: path.namespace.as_deref().unwrap_or(""),
        name: path
            .name
            .as_deref()
            .or(selector_name.as_deref())
            .unwrap_or(""),
        path: "",
        resource_request: true,
        field_selector: &field_requirements,
    })?;
    let format = match response::negotiate(
        req.headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok()),
    ) {
        // pods/log answers text/plain whatever is asked (as kube's); its errors are JSON.
        Err(_) if path.subresource.as_deref() == Some("log") => response::Format::Json,
        f => f?,
    };
    let scope = Scope {
        served: served.clone(),
        namespace: path.namespace.clone(),
    };
    let name = path.name.clone();
    match (verb, path.subresource.as_deref(), name) {
        ("list", None, _) => list(server, &scope, &query, format).await,
        ("watch", None, _) => watch(server, &scope, &query, format).await,
        ("get", None, Some(n)) => {
            let obj = server.api.get(&scope, &n).await?;
            object_response(200, obj.as_ref(), &served, format, &query, &[])
        }
        ("create", None, _) if !served.is_stored() => {
            let ctype = content_type(&req);
            let body = read_body(req.into_body()).await?;
            let body = body_value(&ctype, &body, &served.api_version(), &served.kind)?;
            let v = crate::hooks::review(server, &scope, user, body).await?;
            Ok(response::value(201, &v, format_no_table(format)))
        }
        ("create", None, _) => {
            require_namespace(&scope)?;
            let ctype = content_type(&req);
            let body = read_body(req.into_body()).await?;
            let (obj, warnings) = decode_object(&served, &ctype, &body, field_validation(&query)?)?;
            let opts = WriteOptions {
                dry_run: query.dry_run()?,
                field_manager: manager_from_query_only(&query, "")?,
                user: Some(user.clone()),
            };
            let opts = WriteOptions {
                field_manager: if opts.field_manager.is_empty() {
                    "unknown".into()
                } else {
                    opts.field_manager
                },
                ..opts
            };
            let created = crate::hooks::create(server, &scope, obj, &opts).await?;
            object_response(201, created.as_ref(), &served, format, &query, &warnings)
        }
        ("update", sub @ (None | Some("status" | "approval")), Some(n)) => {
            require_namespace(&scope)?;
            let fm = manager(&query, &req);
            let ctype = content_type(&req);
            let body = read_body(req.into_body()).await?;
            let (obj, warnings) = decode_object(&served, &ctype, &body, field_validation(&query)?)?;
            let opts = WriteOptions {
                dry_run: query.dry_run()?,
                field_manager: fm,
                user: Some(user.clone()),
            };
            let updated = crate::hooks::update(server, &scope, &n, obj, sub, &opts).await?;
            object_response(200, updated.as_ref(), &served, format, &query, &warnings)
        }
        ("patch", sub @ (None | Some("status" | "approval")), Some(n)) => {
            require_namespace(&scope)?;
            let fm = manager(&query, &req);
            let ctype = content_type(&req);
            let body = read_body(req.into_body()).await?;
            let opts = WriteOptions {
                dry_run: query.dry_run()?,
                field_manager: fm,
                user: Some(user.clone()),
            };
            let fv = field_validation(&query)?;
            let patched = if ctype == "application/apply-patch+yaml"
                || ctype == "application/apply-patch+json"
            {
                crate::hooks::apply(
                    server,
                    &scope,
                    &n,
                    &body,
                    sub,
                    query.flag("force"),
                    &opts,
                    fv,
                )
                .await?
            } else {
                let patch_type = PatchType::from_content_type(&ctype)
                    .ok_or_else(|| ApiError::unsupported_media_type(&ctype))?;
                let patch = patch_type.decode(&body).map_err(|e| {
                    let st = e.status();
                    ApiError::new(st.code, "BadRequest", st.message)
                })?;
                let decode_served = served.clone();
                let warnings = std::sync::Mutex::new(Vec::new());
                let obj = crate::hooks::patch(
                    server,
                    &scope,
                    &n,
                    patch_type,
                    &patch,
                    sub,
                    &opts,
                    &|v: Value| {
                        let (o, w) = decode_value(&decode_served, v, fv)?;
                        if let Ok(mut ws) = warnings.lock() {
                            *ws = w;
                        }
                        Ok(o)
                    },
                )
                .await?;
                let warnings = warnings.into_inner().unwrap_or_default();
                return object_response(200, obj.as_ref(), &served, format, &query, &warnings);
            };
            object_response(200, patched.as_ref(), &served, format, &query, &[])
        }
        ("get", Some("status" | "approval"), Some(n)) => {
            let obj = server.api.get(&scope, &n).await?;
            object_response(200, obj.as_ref(), &served, format, &query, &[])
        }
        ("delete", None, Some(n)) => {
            require_namespace(&scope)?;
            let ctype = content_type(&req);
            let body = read_body(req.into_body()).await?;
            let opts = delete_options(&query, &ctype, &body)?;
            match crate::hooks::delete(server, &scope, &n, &opts).await? {
                Deleted::Pending(obj) => {
                    object_response(202, obj.as_ref(), &served, format, &query, &[]).map(|mut r| {
                        // kube-apiserver answers 200 when the object remains with finalizers.
                        if obj
                            .meta()
                            .finalizers
                            .as_ref()
                            .is_some_and(|f| !f.is_empty())
                        {
                            *r.status_mut() = http::StatusCode::OK;
                        }
                        r
                    })
                }
                Deleted::Now(obj) => {
                    if crate::strategy::returns_deleted_object(&served) {
                        object_response(200, obj.as_ref(), &served, format, &query, &[])
                    } else {
                        let v = success_status(
                            &served.group,
                            &served.plural,
                            &n,
                            obj.meta().uid.as_deref(),
                        );
                        Ok(response::value(200, &v, format_no_table(format)))
                    }
                }
            }
        }
        ("deletecollection", None, _) => {
            let ctype = content_type(&req);
            let body = read_body(req.into_body()).await?;
            let opts = delete_options(&query, &ctype, &body)?;
            let list_opts = ListOptions {
                filter: filter(&served, scope.namespace.as_deref(), &query)?,
                ..Default::default()
            };
            let deleted = server
                .api
                .delete_collection(&scope, &list_opts, &opts)
                .await?;
            let items: Vec<Value> = deleted.iter().filter_map(|o| o.to_value().ok()).collect();
            let list = json!({"kind": format!("{}List", served.kind), "apiVersion": served.api_version(), "metadata": {}, "items": items});
            Ok(response::value(200, &list, format_no_table(format)))
        }
        (_, Some(sub), Some(n)) => {
            crate::hooks::subresource(server, req, user, &scope, &n, sub, verb, &query, format)
                .await
        }
        _ => Err(not_found_path()),
    }
}

fn manager_from_query_only(query: &Query, default: &str) -> Result<String, ApiError> {
    Ok(query
        .get("fieldManager")
        .filter(|m| !m.is_empty())
        .unwrap_or(default)
        .to_string())
}

fn format_no_table(f: Format) -> Format {
    match f {
        Format::Table { .. } => Format::Json,
        other => other,
    }
}

fn require_namespace(scope: &Scope) -> Result<(), ApiError> {
    if scope.served.namespaced && scope.namespace.is_none() {
        return Err(not_found_path());
    }
    Ok(())
}

/// DeleteOptions from the body (kubectl sends one) merged with query parameters.
fn delete_options(
    query: &Query,
    ctype: &str,
    body: &[u8],
) -> Result<crate::api::DeleteOptions, ApiError> {
    let mut opts = query.delete_options()?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(opts);
    }
    // JSON, YAML or protobuf (Go's typed clients, e.g. kubectl drain, send protobuf).
    let v = body_value(ctype, body, "v1", "DeleteOptions")
        .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {}", e.message)))?;
    if let Some(g) = v.get("gracePeriodSeconds").and_then(Value::as_i64) {
        opts.grace_period_seconds = Some(g);
    }
    if let Some(p) = v.get("propagationPolicy").and_then(Value::as_str) {
        opts.propagation = Some(p.to_string());
    }
    if v.get("orphanDependents").and_then(Value::as_bool) == Some(true)
        && opts.propagation.is_none()
    {
        opts.propagation = Some("Orphan".into());
    }
    if let Some(pre) = v.get("preconditions") {
        opts.precondition_uid = pre.get("uid").and_then(Value::as_str).map(str::to_string);
        opts.precondition_resource_version = pre
            .get("resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    if v.get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|d| d.iter().any(|x| x == "All"))
    {
        opts.dry_run = true;
    }
    if let Some(p) = &opts.propagation
        && !matches!(p.as_str(), "Background" | "Foreground" | "Orphan")
    {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "DeleteOptions",
            "",
            &[crate::admission::FieldError::not_supported(
                &crate::admission::Path::new("propagationPolicy"),
                p.as_str(),
                &["Foreground", "Background", "Orphan"],
            )],
        ));
    }
    Ok(opts)
}

/// A custom resource's JSON as the requested version: objects are stored as the CRD's
/// storage version, and versions differ only in apiVersion (conversion strategy None).
/// DynamicObject writes apiVersion first, so the rewrite touches only the prefix.
pub(crate) fn as_requested_version(served: &Served, json: Bytes) -> Bytes {
    if served.custom.is_none() {
        return json;
    }
    const PREFIX: &[u8] = b"{\"apiVersion\":\"";
    let wanted = served.api_version();
    let Some(rest) = json.strip_prefix(PREFIX) else {
        return json;
    };
    let Some(end) = rest.iter().position(|b| *b == b'"') else {
        return json;
    };
    if &rest[..end] == wanted.as_bytes() {
        return json;
    }
    let mut out = BytesMut::with_capacity(json.len() + wanted.len());
    out.extend_from_slice(PREFIX);
    out.extend_from_slice(wanted.as_bytes());
    out.extend_from_slice(&rest[end..]);
    out.freeze()
}

/// One object in the requested format.
pub(crate) fn object_response(
    status: u16,
    obj: &dyn ApiObject,
    served: &Served,
    format: Format,
    query: &Query,
    warnings: &[String],
) -> Result<Response<Body>, ApiError> {
    let mut resp = match format {
        Format::Table { v1beta1 } => {
            let mut json = obj
                .to_value()
                .map_err(|e| ApiError::internal(e.to_string()))?;
            if served.custom.is_some() {
                json["apiVersion"] = Value::String(served.api_version());
            }
            let table = table(served, &[(obj, json)], None, v1beta1, query)?;
            response::value(status, &table, Format::Json)
        }
        _ => {
            let json = obj
                .to_json()
                .map_err(|e| ApiError::internal(e.to_string()))?;
            response::encoded(
                status,
                as_requested_version(served, Bytes::from(json)),
                format,
            )
        }
    };
    response::add_warnings(&mut resp, warnings);
    Ok(resp)
}

fn table(
    served: &Served,
    items: &[(&dyn ApiObject, Value)],
    list: Option<&clipper_proto::api::meta::v1::ListMeta>,
    v1beta1: bool,
    query: &Query,
) -> Result<Value, ApiError> {
    let include = IncludeObject::from_query(query.get("includeObject").unwrap_or(""))
        .ok_or_else(|| ApiError::bad_request("includeObject: Unsupported value: supported values: \"None\", \"Metadata\", \"Object\""))?;
    let options = TableOptions {
        include_object: include,
        no_headers: false,
        version: if v1beta1 {
            TableVersion::V1Beta1
        } else {
            TableVersion::V1
        },
    };
    let now = clipper_proto::Time::now();
    let t = if let Some(custom) = &served.custom {
        let objects: Vec<&Value> = items.iter().map(|(_, j)| j).collect();
        printers::custom_resource_table(&custom.printer_columns, &objects, list, now, &options)
    } else {
        let printer_items: Vec<printers::Item<'_>> = items
            .iter()
            .map(|(o, j)| printers::Item {
                object: o.as_any(),
                json: j,
            })
            .collect();
        printers::table_for(
            &served.group,
            &served.kind,
            &printer_items,
            list,
            now,
            &options,
        )
        .map_err(|e| ApiError::internal(e.to_string()))?
    };
    serde_json::to_value(&t).map_err(|e| ApiError::internal(e.to_string()))
}

/// The size of the chunks a LIST's JSON is sent in.
const LIST_CHUNK: usize = 256 * 1024;

async fn list(
    server: &Server,
    scope: &Scope,
    query: &Query,
    format: Format,
) -> Result<Response<Body>, ApiError> {
    let served = &scope.served;
    let opts = ListOptions {
        filter: filter(served, scope.namespace.as_deref(), query)?,
        from: query.list_from()?,
        limit: query.limit()?,
        continue_token: query
            .get("continue")
            .filter(|c| !c.is_empty())
            .map(str::to_string),
    };
    let result = server.api.list(scope, &opts).await?;
    let list_meta = clipper_proto::api::meta::v1::ListMeta {
        resource_version: Some(result.revision.to_string()),
        continue_: result.continue_token.clone(),
        remaining_item_count: result.remaining,
        self_link: None,
    };
    match format {
        Format::Table { v1beta1 } => {
            let decoded: Vec<Box<dyn ApiObject>> = result
                .items
                .iter()
                .map(|o| o.decode(&served.codec))
                .collect::<Result<_, _>>()?;
            let items: Vec<(&dyn ApiObject, Value)> = decoded
                .iter()
                .map(|o| {
                    o.to_value()
                        .map(|v| (o.as_ref(), v))
                        .map_err(|e| ApiError::internal(e.to_string()))
                })
                .collect::<Result<_, _>>()?;
            let t = table(served, &items, Some(&list_meta), v1beta1, query)?;
            Ok(response::value(200, &t, Format::Json))
        }
        _ => {
            let meta =
                serde_json::to_string(&list_meta).map_err(|e| ApiError::internal(e.to_string()))?;
            let head = format!(
                r#"{{"kind":"{}List","apiVersion":"{}","metadata":{meta},"items":["#,
                served.kind,
                served.api_version()
            );
            // Sent as chunks of about LIST_CHUNK bytes rather than one buffer: 150,000
            // pods are over 600 MiB, and growing one buffer to that size copied it
            // several times over.
            let mut chunks = Vec::new();
            let mut buf = BytesMut::with_capacity(LIST_CHUNK);
            buf.extend_from_slice(head.as_bytes());
            for (i, obj) in result.items.iter().enumerate() {
                if i > 0 {
                    buf.extend_from_slice(b",");
                }
                buf.extend_from_slice(&as_requested_version(served, obj.json(&served.codec)?));
                if buf.len() >= LIST_CHUNK {
                    chunks.push(buf.split().freeze());
                    buf.reserve(LIST_CHUNK);
                }
            }
            buf.extend_from_slice(b"]}");
            chunks.push(buf.freeze());
            if format == Format::Yaml {
                let whole: Vec<u8> = chunks.concat();
                return Ok(response::encoded(200, Bytes::from(whole), format));
            }
            Ok(response::json_chunks(200, chunks))
        }
    }
}

/// The `{"type":...,"object":...}\n` line of one event; the object's JSON is shared.
fn event_frame(kind: &str, object_json: &Bytes) -> Bytes {
    let mut b = BytesMut::with_capacity(object_json.len() + 32);
    b.extend_from_slice(b"{\"type\":\"");
    b.extend_from_slice(kind.as_bytes());
    b.extend_from_slice(b"\",\"object\":");
    b.extend_from_slice(object_json);
    b.extend_from_slice(b"}\n");
    b.freeze()
}

fn bookmark_frame(served: &Served, revision: i64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": revision.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let obj = json!({"kind": served.kind, "apiVersion": served.api_version(), "metadata": meta});
    event_frame("BOOKMARK", &Bytes::from(obj.to_string()))
}

async fn watch(
    server: &Server,
    scope: &Scope,
    query: &Query,
    format: Format,
) -> Result<Response<Body>, ApiError> {
    let served = scope.served.clone();
    let f = filter(&served, scope.namespace.as_deref(), query)?;
    let send_initial = query.flag("sendInitialEvents");
    let from = if send_initial {
        None
    } else {
        query.watch_from()?
    };
    let bookmarks = query.flag("allowWatchBookmarks");
    let timeout = query
        .timeout_seconds()?
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_WATCH_TIMEOUT)
        .min(MAX_WATCH_TIMEOUT);
    let watcher = server
        .api
        .watch(scope, f, from, send_initial && bookmarks)
        .await?;
    let deadline = tokio::time::Instant::now() + timeout;
    let table = match format {
        Format::Table { v1beta1 } => Some(TableWatch {
            v1beta1,
            query: query.clone(),
            sent_columns: false,
        }),
        _ => None,
    };
    let state = WatchState {
        watcher,
        served,
        bookmarks,
        deadline,
        done: false,
        table,
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        let frame = st.next_frame().await?;
        Some((
            Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(frame)),
            st,
        ))
    });
    let body = http_body_util::StreamBody::new(stream).boxed();
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

struct WatchState {
    watcher: Watcher,
    served: Arc<Served>,
    bookmarks: bool,
    deadline: tokio::time::Instant,
    done: bool,
    /// `as=Table` watches (`kubectl get -w`): each event's object is a one-row Table.
    table: Option<TableWatch>,
}

struct TableWatch {
    v1beta1: bool,
    query: Query,
    /// Column definitions go with the first event only; kubectl reuses them for the
    /// rest, as kube-apiserver sends them.
    sent_columns: bool,
}

impl WatchState {
    async fn next_frame(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        loop {
            let bookmark_at = tokio::time::Instant::now() + crate::cache::BOOKMARK_INTERVAL;
            let item = tokio::select! {
                item = self.watcher.next() => item,
                _ = tokio::time::sleep_until(self.deadline) => return None,
                _ = tokio::time::sleep_until(bookmark_at), if self.bookmarks => {
                    return Some(bookmark_frame(&self.served, self.watcher.revision(), false));
                }
            };
            match item {
                None => return None,
                Some(WatchItem::Event(kind, obj)) => match match self.table.as_mut() {
                    Some(t) => table_frame(&self.served, t, kind, &obj),
                    None => frame_for(&self.served, kind, &obj),
                } {
                    Ok(f) => return Some(f),
                    Err(e) => {
                        self.done = true;
                        return Some(error_frame(&e));
                    }
                },
                Some(WatchItem::Bookmark {
                    revision,
                    initial_end,
                }) => {
                    if self.bookmarks {
                        return Some(bookmark_frame(&self.served, revision, initial_end));
                    }
                }
                Some(WatchItem::Error(e)) => {
                    self.done = true;
                    return Some(error_frame(&e));
                }
            }
        }
    }
}

fn frame_for(served: &Served, kind: EventType, obj: &CachedObject) -> Result<Bytes, ApiError> {
    Ok(event_frame(
        kind.as_str(),
        &as_requested_version(served, obj.json(&served.codec)?),
    ))
}

fn table_frame(
    served: &Served,
    t: &mut TableWatch,
    kind: EventType,
    obj: &CachedObject,
) -> Result<Bytes, ApiError> {
    let decoded = obj.decode(&served.codec)?;
    let mut json = decoded
        .to_value()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if served.custom.is_some() {
        json["apiVersion"] = Value::String(served.api_version());
    }
    let mut tbl = table(
        served,
        &[(decoded.as_ref(), json)],
        None,
        t.v1beta1,
        &t.query,
    )?;
    if t.sent_columns
        && let Some(defs) = tbl.get_mut("columnDefinitions")
    {
        *defs = Value::Array(Vec::new());
    }
    t.sent_columns = true;
    let body = serde_json::to_vec(&tbl).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(event_frame(kind.as_str(), &Bytes::from(body)))
}

fn error_frame(e: &ApiError) -> Bytes {
    event_frame("ERROR", &Bytes::from(e.to_status().to_string()))
}
