//! Non-resource endpoints: version, health, discovery and OpenAPI.

use crate::http::ReqBody;
use http::{HeaderValue, Request, Response, StatusCode, header};
use serde_json::json;

use super::response::{self, Body, Format};
use super::{Query, Server};
use crate::openapi::{self, V2Format, V3Response};
use crate::status::ApiError;

/// The Kubernetes version Clipper implements.
pub const KUBERNETES_MAJOR: &str = "1";
pub const KUBERNETES_MINOR: &str = "33";
pub const GIT_VERSION: &str = "v1.33.0";

fn version() -> serde_json::Value {
    json!({
        "major": KUBERNETES_MAJOR,
        "minor": KUBERNETES_MINOR,
        "gitVersion": GIT_VERSION,
        "gitCommit": format!("clipper-{}", env!("CARGO_PKG_VERSION")),
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("linux/{}", match std::env::consts::ARCH { "x86_64" => "amd64", "aarch64" => "arm64", a => a }),
    })
}

fn text(status: u16, body: &'static str) -> Response<Body> {
    let mut r = Response::new(response::full(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

pub async fn non_resource(
    server: &Server,
    req: Request<ReqBody>,
    path: &str,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let set = server.api.served.load();
    let json = |v: serde_json::Value| -> Result<Response<Body>, ApiError> {
        Ok(response::value(
            200,
            &v,
            response::negotiate(accept.as_deref()).unwrap_or(Format::Json),
        ))
    };
    match parts.as_slice() {
        ["version"] => json(version()),
        ["healthz" | "livez" | "readyz", ..] => Ok(text(200, "ok")),
        ["api"] => json(super::discovery::api_versions()),
        ["api", v] => super::discovery::api_resource_list(&set, "", v)
            .map(json)
            .unwrap_or_else(|| Err(ApiError::not_found("", "", path))),
        ["apis"] => json(crate::metrics::add_to_group_list(
            super::discovery::api_group_list(&set),
        )),
        ["apis", crate::metrics::GROUP] => json(crate::metrics::api_group()),
        ["apis", crate::metrics::GROUP, crate::metrics::VERSION] => {
            json(crate::metrics::api_resource_list())
        }
        ["apis", g] => super::discovery::api_group(&set, g)
            .map(json)
            .unwrap_or_else(|| Err(ApiError::not_found("", "", path))),
        ["apis", g, v] => super::discovery::api_resource_list(&set, g, v)
            .map(json)
            .unwrap_or_else(|| Err(ApiError::not_found("", "", path))),
        ["openapi", "v2"] => {
            let doc = server.openapi();
            let v2 = doc.v2().map_err(|e| ApiError::internal(e.to_string()))?;
            let (body, content_type) = match openapi::negotiate_v2(accept.as_deref()) {
                Some(V2Format::Protobuf) => {
                    (v2.protobuf().clone(), openapi::CONTENT_TYPE_V2_PROTOBUF)
                }
                Some(V2Format::Json) => (v2.json().clone(), openapi::CONTENT_TYPE_JSON),
                None => {
                    return Err(ApiError::not_acceptable(
                        "only application/json and the OpenAPI v2 protobuf are served",
                    ));
                }
            };
            let mut r = Response::new(response::full(body));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            if let Ok(etag) = HeaderValue::from_str(&v2.etag()) {
                r.headers_mut().insert(header::ETAG, etag);
            }
            Ok(r)
        }
        ["openapi", "v3"] => {
            let doc = server.openapi();
            let mut r = response::json_bytes(200, doc.v3_root().clone());
            if let Ok(etag) = HeaderValue::from_str(&doc.v3_root_etag()) {
                r.headers_mut().insert(header::ETAG, etag);
            }
            Ok(r)
        }
        ["openapi", "v3", rest @ ..] => {
            if !openapi::accepts_v3_json(accept.as_deref()) {
                return Err(ApiError::not_acceptable(
                    "only application/json OpenAPI v3 documents are served",
                ));
            }
            let key = rest.join("/");
            let doc = server.openapi();
            match doc.v3_response(&key, query.get("hash")) {
                V3Response::Document {
                    document,
                    immutable,
                } => {
                    let mut r = response::json_bytes(200, document.json().clone());
                    if let Ok(etag) = HeaderValue::from_str(&document.etag()) {
                        r.headers_mut().insert(header::ETAG, etag);
                    }
                    r.headers_mut()
                        .insert(header::VARY, HeaderValue::from_static("Accept"));
                    if immutable {
                        r.headers_mut().insert(
                            header::CACHE_CONTROL,
                            HeaderValue::from_static(openapi::CACHE_CONTROL_IMMUTABLE),
                        );
                    }
                    Ok(r)
                }
                V3Response::Redirect(location) => {
                    let mut r = Response::new(response::full(""));
                    *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
                    if let Ok(l) = HeaderValue::from_str(&location) {
                        r.headers_mut().insert(header::LOCATION, l);
                    }
                    Ok(r)
                }
                V3Response::NotFound => Err(ApiError::not_found("", "", path)),
            }
        }
        _ => Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )),
    }
}
