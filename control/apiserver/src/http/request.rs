//! Request parsing: the URL path into a resource request (Kubernetes' RequestInfo rules)
//! and the query string into typed options.

use std::collections::HashMap;

use clipper_store::Revision;

use crate::api::{DeleteOptions, ListFrom};
use crate::status::ApiError;

/// Longest URL path accepted; Kubernetes paths are short, and a bound keeps parsing cheap.
pub const MAX_PATH_BYTES: usize = 4096;

/// A resource request's path parts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// What a path addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParsedPath {
    /// Discovery, version, health, OpenAPI.
    NonResource(String),
    Resource(ResourcePath),
}

fn segment(s: &str) -> Result<String, ApiError> {
    let decoded = percent_decode(s)
        .ok_or_else(|| ApiError::bad_request(format!("invalid path segment {s:?}")))?;
    if decoded.is_empty() || decoded == "." || decoded == ".." || decoded.contains('/') {
        return Err(ApiError::bad_request(format!("invalid path segment {s:?}")));
    }
    Ok(decoded)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses `/api/v1/...` and `/apis/<group>/<version>/...` as Kubernetes' RequestInfo
/// does; everything else (and the discovery documents themselves) is non-resource.
pub fn parse_path(path: &str) -> Result<ParsedPath, ApiError> {
    if path.len() > MAX_PATH_BYTES {
        return Err(ApiError::bad_request("the request path is too long"));
    }
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] if !rest.is_empty() => (String::new(), v.to_string(), rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (g.to_string(), v.to_string(), rest),
        _ => return Ok(ParsedPath::NonResource(format!("/{}", parts.join("/")))),
    };
    let mut rest: Vec<String> = rest.iter().map(|s| segment(s)).collect::<Result<_, _>>()?;
    // The legacy watch prefix: /api/v1/watch/... means ?watch=true.
    let mut namespace = None;
    if rest.first().map(String::as_str) == Some("namespaces") && rest.len() > 1 {
        namespace = Some(rest[1].clone());
        let namespace_subresource =
            rest.len() == 3 && matches!(rest[2].as_str(), "status" | "finalize");
        if rest.len() > 2 && !namespace_subresource {
            rest.drain(..2);
        }
    }
    let resource = rest.first().cloned().unwrap_or_default();
    let name = rest.get(1).cloned();
    let subresource = rest.get(2).cloned();
    if rest.len() > 3 {
        return Err(ApiError::not_found(
            &group,
            &resource,
            rest.get(1).map(String::as_str).unwrap_or(""),
        ));
    }
    // `/api/v1/namespaces/foo` is the namespace object itself.
    if resource == "namespaces" {
        namespace = None;
    }
    Ok(ParsedPath::Resource(ResourcePath {
        group,
        version,
        namespace,
        resource,
        name,
        subresource,
    }))
}

/// The query string.
#[derive(Clone, Debug, Default)]
pub struct Query {
    params: HashMap<String, String>,
}

impl Query {
    /// A query from decoded pairs; empty values are left out.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Query {
        Query {
            params: pairs
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    pub fn parse(q: &str) -> Query {
        Query {
            params: form_urlencoded::parse(q.as_bytes()).into_owned().collect(),
        }
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.params.get(k).map(String::as_str)
    }

    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1" | "True"))
    }

    fn int(&self, k: &str) -> Result<Option<i64>, ApiError> {
        match self.get(k) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid {k}: {v:?}"))),
        }
    }

    pub fn limit(&self) -> Result<Option<usize>, ApiError> {
        Ok(self.int("limit")?.filter(|l| *l > 0).map(|l| l as usize))
    }

    pub fn timeout_seconds(&self) -> Result<Option<u64>, ApiError> {
        Ok(self
            .int("timeoutSeconds")?
            .filter(|t| *t > 0)
            .map(|t| t as u64))
    }

    fn revision(&self) -> Result<Option<Revision>, ApiError> {
        match self.get("resourceVersion") {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse::<Revision>()
                .ok()
                .filter(|r| *r >= 0)
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("invalid resource version {v:?}"))),
        }
    }

    /// `resourceVersion` / `resourceVersionMatch` of a list.
    pub fn list_from(&self) -> Result<ListFrom, ApiError> {
        let rv = self.revision()?;
        match (
            self.get("resourceVersionMatch").filter(|m| !m.is_empty()),
            rv,
        ) {
            (None, None) => Ok(ListFrom::Consistent),
            (None, Some(0)) => Ok(ListFrom::Any),
            (None, Some(r)) => Ok(ListFrom::NotOlderThan(r)),
            (Some("NotOlderThan"), Some(0)) => Ok(ListFrom::Any),
            (Some("NotOlderThan"), Some(r)) => Ok(ListFrom::NotOlderThan(r)),
            (Some("Exact"), Some(r)) if r > 0 => Ok(ListFrom::Exact(r)),
            (Some(m @ ("NotOlderThan" | "Exact")), _) => Err(invalid_list_options(&format!(
                "resourceVersionMatch: Forbidden: resourceVersionMatch \"{m}\" is forbidden for resourceVersion \"{}\"",
                self.get("resourceVersion").unwrap_or("")
            ))),
            (Some(m), _) => Err(invalid_list_options(&format!(
                "resourceVersionMatch: Unsupported value: \"{m}\": supported values: \"Exact\", \"NotOlderThan\", \"\""
            ))),
        }
    }

    /// The revision a watch starts after: None = from the current state (with initial
    /// ADDED events), Some(r) = changes after r only.
    pub fn watch_from(&self) -> Result<Option<Revision>, ApiError> {
        match self.revision()? {
            None | Some(0) => Ok(None),
            Some(r) => Ok(Some(r)),
        }
    }

    pub fn dry_run(&self) -> Result<bool, ApiError> {
        match self.get("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(v) => Err(ApiError::bad_request(format!(
                "Invalid dryRun value: dryRun: Unsupported value: {v:?}: supported values: \"All\""
            ))),
        }
    }

    pub fn delete_options(&self) -> Result<DeleteOptions, ApiError> {
        Ok(DeleteOptions {
            grace_period_seconds: self.int("gracePeriodSeconds")?,
            propagation: self.get("propagationPolicy").map(str::to_string),
            dry_run: self.dry_run()?,
            ..Default::default()
        })
    }
}

fn invalid_list_options(detail: &str) -> ApiError {
    let mut e = ApiError::new(
        422,
        "Invalid",
        format!("ListOptions.meta.k8s.io \"\" is invalid: {detail}"),
    );
    e.kind = Some("ListOptions".into());
    e.group = Some("meta.k8s.io".into());
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(path: &str) -> ResourcePath {
        match parse_path(path).expect("parses") {
            ParsedPath::Resource(r) => r,
            other => panic!("{path} parsed as {other:?}"),
        }
    }

    #[test]
    fn paths_as_kubernetes_request_info() {
        let p = r("/api/v1/namespaces/default/pods/web/status");
        assert_eq!(
            (
                p.group.as_str(),
                p.namespace.as_deref(),
                p.resource.as_str(),
                p.name.as_deref(),
                p.subresource.as_deref()
            ),
            ("", Some("default"), "pods", Some("web"), Some("status"))
        );
        let p = r("/apis/apps/v1/deployments");
        assert_eq!(
            (p.group.as_str(), p.resource.as_str(), p.namespace),
            ("apps", "deployments", None)
        );
        let p = r("/api/v1/namespaces/kube-system");
        assert_eq!(
            (p.resource.as_str(), p.name.as_deref(), p.namespace),
            ("namespaces", Some("kube-system"), None)
        );
        let p = r("/api/v1/namespaces/foo/finalize");
        assert_eq!(
            (
                p.resource.as_str(),
                p.name.as_deref(),
                p.subresource.as_deref()
            ),
            ("namespaces", Some("foo"), Some("finalize"))
        );
        let p = r("/api/v1/namespaces");
        assert_eq!((p.resource.as_str(), p.name), ("namespaces", None));
        assert_eq!(
            parse_path("/api").expect("ok"),
            ParsedPath::NonResource("/api".into())
        );
        assert_eq!(
            parse_path("/apis/apps/v1").expect("ok"),
            ParsedPath::NonResource("/apis/apps/v1".into())
        );
        assert_eq!(
            parse_path("/version").expect("ok"),
            ParsedPath::NonResource("/version".into())
        );
        assert!(parse_path("/api/v1/namespaces/a/pods/b/c/d").is_err());
        assert!(parse_path("/api/v1/namespaces/%2e%2e/pods").is_err());
    }

    #[test]
    fn list_options() {
        assert_eq!(
            Query::parse("").list_from().expect("ok"),
            ListFrom::Consistent
        );
        assert_eq!(
            Query::parse("resourceVersion=0").list_from().expect("ok"),
            ListFrom::Any
        );
        assert_eq!(
            Query::parse("resourceVersion=12").list_from().expect("ok"),
            ListFrom::NotOlderThan(12)
        );
        assert_eq!(
            Query::parse("resourceVersion=12&resourceVersionMatch=Exact")
                .list_from()
                .expect("ok"),
            ListFrom::Exact(12)
        );
        assert_eq!(
            Query::parse("resourceVersionMatch=Exact")
                .list_from()
                .expect_err("forbidden")
                .code,
            422
        );
        assert_eq!(
            Query::parse("resourceVersion=x")
                .list_from()
                .expect_err("bad")
                .code,
            400
        );
        assert!(Query::parse("watch=1").flag("watch"));
        assert!(Query::parse("dryRun=Bogus").dry_run().is_err());
    }
}
