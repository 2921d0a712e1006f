//! Responses: bodies, content negotiation (JSON, YAML, Table), Status errors, warnings.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use crate::status::ApiError;

/// Every response body: a full buffer or a stream of chunks.
pub type Body = BoxBody<Bytes, Infallible>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A body sent as the given chunks, in order (a large LIST), rather than one buffer.
pub fn chunks(chunks: Vec<Bytes>) -> Body {
    let frames = chunks
        .into_iter()
        .filter(|c| !c.is_empty())
        .map(|c| Ok(hyper::body::Frame::data(c)));
    http_body_util::StreamBody::new(futures_util::stream::iter(frames)).boxed()
}

/// The representation a client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
    /// `as=Table;g=meta.k8s.io;v=v1` (or v1beta1).
    Table {
        v1beta1: bool,
    },
}

/// Reads `Accept` as kube-apiserver negotiates it: the first acceptable entry wins;
/// protobuf and CBOR are not offered, so a client listing them with a JSON fallback
/// gets JSON.
pub fn negotiate(accept: Option<&str>) -> Result<Format, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Format::Json);
    };
    for entry in accept.split(',') {
        let mut parts = entry.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        let params: Vec<(&str, &str)> = parts
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        let param = |k: &str| params.iter().find(|(pk, _)| *pk == k).map(|(_, v)| *v);
        match media {
            "application/json" | "application/*" | "*/*" => match param("as") {
                Some("Table") if param("g") == Some("meta.k8s.io") => match param("v") {
                    Some("v1") => return Ok(Format::Table { v1beta1: false }),
                    Some("v1beta1") => return Ok(Format::Table { v1beta1: true }),
                    _ => continue,
                },
                Some(_) => continue,
                None => return Ok(Format::Json),
            },
            "application/yaml" => return Ok(Format::Yaml),
            _ => continue,
        }
    }
    Err(ApiError::not_acceptable(format!(
        "only the following media types are accepted: application/json, application/yaml (got {accept:?})"
    )))
}

fn with_type(mut resp: Response<Body>, content_type: &'static str) -> Response<Body> {
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// A JSON body with a status code.
pub fn json_bytes(status: u16, bytes: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(full(bytes));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    with_type(resp, "application/json")
}

/// JSON sent as `chunks` (see [`chunks`]).
pub fn json_chunks(status: u16, parts: Vec<Bytes>) -> Response<Body> {
    let mut resp = Response::new(chunks(parts));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    with_type(resp, "application/json")
}

/// A JSON value in the requested format (YAML when asked).
pub fn value(status: u16, v: &Value, format: Format) -> Response<Body> {
    match format {
        Format::Yaml => match clipper_proto::codec::to_yaml(v) {
            Ok(y) => {
                let mut resp = Response::new(full(y));
                *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                with_type(resp, "application/yaml")
            }
            Err(e) => error(&ApiError::internal(e.to_string())),
        },
        _ => json_bytes(status, serde_json::to_vec(v).unwrap_or_default()),
    }
}

/// Encoded JSON bytes in the requested format.
pub fn encoded(status: u16, json: Bytes, format: Format) -> Response<Body> {
    match format {
        Format::Yaml => match serde_json::from_slice::<Value>(&json) {
            Ok(v) => value(status, &v, format),
            Err(e) => error(&ApiError::internal(e.to_string())),
        },
        _ => json_bytes(status, json),
    }
}

/// A Status error response.
pub fn error(e: &ApiError) -> Response<Body> {
    let mut resp = json_bytes(
        e.code,
        serde_json::to_vec(&e.to_status()).unwrap_or_default(),
    );
    if let Some(secs) = e.retry_after_seconds
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    if e.code == 401 {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"kubernetes-master\""),
        );
    }
    resp
}

/// Adds `Warning: 299 - "<text>"` headers, as kube-apiserver reports fieldValidation=Warn.
pub fn add_warnings(resp: &mut Response<Body>, warnings: &[String]) {
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation_as_kubectl_sends_it() {
        let kubectl_get = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            negotiate(Some(kubectl_get)).expect("ok"),
            Format::Table { v1beta1: false }
        );
        assert_eq!(negotiate(None).expect("ok"), Format::Json);
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf, */*")).expect("ok"),
            Format::Json
        );
        assert_eq!(
            negotiate(Some("application/yaml")).expect("ok"),
            Format::Yaml
        );
        // Aggregated discovery is not offered: kubectl falls back to the plain JSON entry.
        let discovery =
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
        assert_eq!(negotiate(Some(discovery)).expect("ok"), Format::Json);
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf"))
                .expect_err("406")
                .code,
            406
        );
    }
}
