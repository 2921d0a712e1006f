//! The OpenAPI documents kube-apiserver serves, generated from the compiled-in Kubernetes
//! 1.33 definitions, the built-in resource table and the served custom resources.
//!
//! - `/openapi/v3`: a root listing one document per group-version (and the root
//!   documents `api`, `apis`, `apis/<group>`, `version`), each with the URL
//!   `/openapi/v3/<key>?hash=<HASH>`, HASH being the upper-case hex SHA-512 of the
//!   document's bytes ([`OpenApi::v3_root`]).
//! - `/openapi/v3/<key>`: an OpenAPI 3.0 document ([`OpenApi::v3_response`]) with the
//!   operations kube-apiserver has for each resource (`x-kubernetes-action`,
//!   `x-kubernetes-group-version-kind`, the `fieldValidation` parameter and the patch
//!   content types kubectl reads) and `components.schemas` for every definition they
//!   reach. Clients get `ETag: "<HASH>"`; a request whose `hash` query matches may be
//!   cached for good (`Cache-Control: public, immutable`, `Expires` a year ahead); one
//!   whose hash is outdated is redirected (301) to the current URL.
//! - `/openapi/v2`: the Swagger 2.0 document of everything, as JSON or as gnostic's
//!   protobuf ([`OpenApi::v2`]). kubectl 1.27 and 1.28 download it before `apply`,
//!   `create`, `replace` and `explain` (and fail without it); every kubectl of 1.27–1.33
//!   validates a `kind: List` document and kinds without a PATCH operation against it.
//!
//! Documents are built once per set of served resources and kept as [`Bytes`]; the
//! built-in set is built on first use ([`OpenApi::builtin`]) and reused, document by
//! document, when custom resources are added ([`OpenApi::with_custom_resources`]). The
//! Swagger 2.0 document is built on first request. HTTP wiring (headers, gzip, the
//! `Accept` header) is the caller's; [`negotiate_v2`] and [`accepts_v3_json`] help.

mod crd;
mod definitions;
mod routes;
pub mod swagger_pb;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::{Arc, LazyLock, OnceLock};

use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::registry::{RESOURCES, ResourceInfo};
use definitions::{Dialect, converted};
use routes::Paths;

/// The content type of the JSON documents.
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// The content type kube-apiserver answers protobuf Swagger 2.0 requests with.
pub const CONTENT_TYPE_V2_PROTOBUF: &str =
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
/// The older name of the same type, which client-go asks for.
pub const CONTENT_TYPE_V2_PROTOBUF_DEPRECATED: &str =
    "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// `Cache-Control` of a group-version document requested with its current hash.
pub const CACHE_CONTROL_IMMUTABLE: &str = "public, immutable";
/// The prefix of the group-version document URLs.
pub const V3_PATH_PREFIX: &str = "/openapi/v3/";

/// `info.title` of the built-in documents.
const TITLE: &str = "Kubernetes";
/// `info` of documents serving only custom resources, as kube-apiserver's CRD builder
/// writes it.
const CRD_TITLE: &str = "Kubernetes CRD Swagger";
const CRD_INFO_VERSION: &str = "v0.1.0";
/// `info.version` of the Swagger 2.0 document: the Kubernetes version these definitions
/// are.
const V2_INFO_VERSION: &str = "v1.33.0";
/// The OpenAPI version kube-apiserver declares.
const OPENAPI_VERSION: &str = "3.0.0";

/// Errors building the documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenApiError {
    /// A served kind (apiVersion, kind) has no compiled-in definition.
    UnknownKind(String, String),
    /// A document references a definition that is not compiled in.
    UnknownDefinition(String),
    /// A custom resource with an empty name part, served twice, or shadowing a built-in.
    InvalidCustomResource(String),
}

impl std::fmt::Display for OpenApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenApiError::UnknownKind(api_version, kind) => {
                write!(f, "no OpenAPI definition for kind {kind} in {api_version}")
            }
            OpenApiError::UnknownDefinition(name) => write!(f, "no OpenAPI definition {name}"),
            OpenApiError::InvalidCustomResource(why) => write!(f, "invalid custom resource: {why}"),
        }
    }
}

impl std::error::Error for OpenApiError {}

/// One served version of a custom resource.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomResource {
    pub group: String,
    pub version: String,
    pub kind: String,
    /// `spec.names.listKind` (usually `<kind>List`).
    pub list_kind: String,
    pub plural: String,
    pub namespaced: bool,
    /// The version's `schema.openAPIV3Schema` (apiextensions JSONSchemaProps as JSON);
    /// `None` publishes an untyped object.
    pub schema: Option<Value>,
    /// Whether the version serves the `status` subresource.
    pub status: bool,
    /// Whether the version serves the `scale` subresource.
    pub scale: bool,
}

impl CustomResource {
    /// A custom resource with list kind `<kind>List` and no subresources.
    pub fn new(
        group: &str,
        version: &str,
        kind: &str,
        plural: &str,
        namespaced: bool,
        schema: Option<Value>,
    ) -> Self {
        CustomResource {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            list_kind: format!("{kind}List"),
            plural: plural.into(),
            namespaced,
            schema,
            status: false,
            scale: false,
        }
    }

    fn check(&self) -> Result<(), OpenApiError> {
        for (what, value) in [
            ("group", &self.group),
            ("version", &self.version),
            ("kind", &self.kind),
            ("listKind", &self.list_kind),
            ("plural", &self.plural),
        ] {
            if value.is_empty() {
                return Err(OpenApiError::InvalidCustomResource(format!(
                    "{} has an empty {what}",
                    self.plural
                )));
            }
        }
        Ok(())
    }
}

/// One OpenAPI 3.0 document of the `/openapi/v3` root.
#[derive(Debug)]
pub struct GroupVersionDocument {
    key: String,
    json: Bytes,
    hash: String,
}

impl GroupVersionDocument {
    fn new(key: String, doc: &Value) -> Self {
        let json = to_bytes(doc);
        let hash = sha512_hex(&json);
        GroupVersionDocument { key, json, hash }
    }

    /// The root's key: `api/v1`, `apis/apps/v1`, `api`, `apis`, `apis/apps`, `version`.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn json(&self) -> &Bytes {
        &self.json
    }

    /// Upper-case hex SHA-512 of [`json`](Self::json).
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The `ETag` header value (the hash, quoted).
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.hash)
    }

    /// `/openapi/v3/<key>?hash=<HASH>`.
    pub fn server_relative_url(&self) -> String {
        format!("{V3_PATH_PREFIX}{}?hash={}", self.key, self.hash)
    }
}

/// The Swagger 2.0 document in both encodings.
#[derive(Debug)]
pub struct SwaggerDocument {
    json: Bytes,
    protobuf: Bytes,
    hash: String,
}

impl SwaggerDocument {
    pub fn json(&self) -> &Bytes {
        &self.json
    }

    pub fn protobuf(&self) -> &Bytes {
        &self.protobuf
    }

    /// Upper-case hex SHA-512 of the JSON; kube-apiserver tags both encodings with it.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The `ETag` header value.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.hash)
    }
}

/// What to answer `GET /openapi/v3/<key>[?hash=...]` with.
#[derive(Debug)]
pub enum V3Response<'a> {
    /// 200 with the document, `ETag` and `Vary: Accept`; when `immutable` (the request named
    /// the current hash) also `Cache-Control: public, immutable` and `Expires` a year ahead.
    Document {
        document: &'a GroupVersionDocument,
        immutable: bool,
    },
    /// 301 to this location: the request named an outdated hash.
    Redirect(String),
    /// No such document.
    NotFound,
}

/// The OpenAPI documents of one set of served resources.
pub struct OpenApi {
    documents: BTreeMap<String, Arc<GroupVersionDocument>>,
    root: Bytes,
    root_hash: String,
    resources: Vec<ResourceInfo>,
    custom: Vec<CustomResource>,
    v2: OnceLock<Result<SwaggerDocument, OpenApiError>>,
}

impl std::fmt::Debug for OpenApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenApi")
            .field("documents", &self.documents.keys().collect::<Vec<_>>())
            .finish()
    }
}

static BUILTIN: LazyLock<Result<OpenApi, OpenApiError>> =
    LazyLock::new(|| OpenApi::build(RESOURCES, &[]));

/// A JSON value's bytes. Serializing a `Value` into memory cannot fail (its keys are
/// strings, its numbers finite), so there is no error to return.
fn to_bytes(value: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

/// Upper-case hex SHA-512, as kube-apiserver's ETags and `hash` parameters.
pub fn sha512_hex(data: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA512, data);
    let mut out = String::with_capacity(digest.as_ref().len() * 2);
    for b in digest.as_ref() {
        let _ = write!(out, "{b:02X}");
    }
    out
}

/// The root key of a group-version: `api/v1` or `apis/<group>/<version>`.
pub fn group_version_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

impl OpenApi {
    /// The documents of the built-in resources, built once.
    pub fn builtin() -> Result<&'static OpenApi, OpenApiError> {
        BUILTIN.as_ref().map_err(Clone::clone)
    }

    /// The built-in resources plus `custom`, reusing the built-in documents of the
    /// group-versions no custom resource joins.
    pub fn with_custom_resources(custom: &[CustomResource]) -> Result<OpenApi, OpenApiError> {
        let builtin = OpenApi::builtin()?;
        check_custom(custom)?;
        let mut documents = builtin.documents.clone();
        let mut custom_gvs: BTreeMap<(&str, &str), Vec<&CustomResource>> = BTreeMap::new();
        for c in custom {
            custom_gvs
                .entry((c.group.as_str(), c.version.as_str()))
                .or_default()
                .push(c);
        }
        for ((group, version), crs) in custom_gvs {
            let builtins: Vec<&ResourceInfo> = RESOURCES
                .iter()
                .filter(|r| r.group == group && r.version == version)
                .collect();
            let key = group_version_key(group, version);
            let doc = group_version_document(group, version, &builtins, &crs)?;
            documents.insert(key.clone(), Arc::new(GroupVersionDocument::new(key, &doc)));
        }
        Ok(OpenApi::assemble(
            documents,
            RESOURCES.to_vec(),
            custom.to_vec(),
        ))
    }

    /// The documents of `resources` and `custom`, all built afresh.
    pub fn build(
        resources: &[ResourceInfo],
        custom: &[CustomResource],
    ) -> Result<OpenApi, OpenApiError> {
        check_custom(custom)?;
        let mut builtin_gvs: BTreeMap<(&str, &str), Vec<&ResourceInfo>> = BTreeMap::new();
        for r in resources {
            builtin_gvs.entry((r.group, r.version)).or_default().push(r);
        }
        let mut custom_gvs: BTreeMap<(&str, &str), Vec<&CustomResource>> = BTreeMap::new();
        for c in custom {
            custom_gvs
                .entry((c.group.as_str(), c.version.as_str()))
                .or_default()
                .push(c);
        }
        let gvs: BTreeSet<(&str, &str)> = builtin_gvs
            .keys()
            .chain(custom_gvs.keys())
            .copied()
            .collect();
        let mut documents = BTreeMap::new();
        for (group, version) in gvs {
            let builtins = builtin_gvs
                .get(&(group, version))
                .map(Vec::as_slice)
                .unwrap_or_default();
            let crs = custom_gvs
                .get(&(group, version))
                .map(Vec::as_slice)
                .unwrap_or_default();
            let key = group_version_key(group, version);
            let doc = group_version_document(group, version, builtins, crs)?;
            documents.insert(key.clone(), Arc::new(GroupVersionDocument::new(key, &doc)));
        }
        for key in root_keys(resources) {
            let paths = routes::root_paths(&key);
            let doc = v3_document(TITLE, "unversioned", &paths, BTreeMap::new())?;
            documents.insert(key.clone(), Arc::new(GroupVersionDocument::new(key, &doc)));
        }
        Ok(OpenApi::assemble(
            documents,
            resources.to_vec(),
            custom.to_vec(),
        ))
    }

    fn assemble(
        documents: BTreeMap<String, Arc<GroupVersionDocument>>,
        resources: Vec<ResourceInfo>,
        custom: Vec<CustomResource>,
    ) -> OpenApi {
        let paths: Map<String, Value> = documents
            .iter()
            .map(|(key, d)| {
                (
                    key.clone(),
                    json!({ "serverRelativeURL": d.server_relative_url() }),
                )
            })
            .collect();
        let root = to_bytes(&json!({ "paths": paths }));
        let root_hash = sha512_hex(&root);
        OpenApi {
            documents,
            root,
            root_hash,
            resources,
            custom,
            v2: OnceLock::new(),
        }
    }

    /// The `/openapi/v3` root document.
    pub fn v3_root(&self) -> &Bytes {
        &self.root
    }

    /// The root document's `ETag` header value.
    pub fn v3_root_etag(&self) -> String {
        format!("\"{}\"", self.root_hash)
    }

    /// The documents the root lists, by key.
    pub fn v3_documents(&self) -> impl Iterator<Item = &GroupVersionDocument> {
        self.documents.values().map(Arc::as_ref)
    }

    /// The document with root key `key` (`api/v1`, `apis/apps/v1`, ...).
    pub fn v3_document(&self, key: &str) -> Option<&GroupVersionDocument> {
        self.documents.get(key).map(Arc::as_ref)
    }

    /// The answer to `GET /openapi/v3/<key>` with the request's `hash` query parameter.
    pub fn v3_response(&self, key: &str, hash: Option<&str>) -> V3Response<'_> {
        let Some(document) = self.v3_document(key) else {
            return V3Response::NotFound;
        };
        match hash.filter(|h| !h.is_empty()) {
            Some(h) if h != document.hash => V3Response::Redirect(document.server_relative_url()),
            Some(_) => V3Response::Document {
                document,
                immutable: true,
            },
            None => V3Response::Document {
                document,
                immutable: false,
            },
        }
    }

    /// The Swagger 2.0 document (built on first call). It covers what the 3.0 documents
    /// cover, so it fails only where building those failed.
    pub fn v2(&self) -> Result<&SwaggerDocument, OpenApiError> {
        self.v2
            .get_or_init(|| swagger_document(&self.resources, &self.custom))
            .as_ref()
            .map_err(Clone::clone)
    }
}

fn check_custom(custom: &[CustomResource]) -> Result<(), OpenApiError> {
    let mut plurals = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    for c in custom {
        c.check()?;
        let (g, v) = (c.group.as_str(), c.version.as_str());
        if !plurals.insert((g, v, c.plural.as_str())) || !kinds.insert((g, v, c.kind.as_str())) {
            return Err(OpenApiError::InvalidCustomResource(format!(
                "{g}/{v} {} is served twice",
                c.plural
            )));
        }
        let shadows = |r: &&ResourceInfo| {
            r.group == g && r.version == v && (r.plural == c.plural || r.kind == c.kind)
        };
        if RESOURCES.iter().any(|r| shadows(&r)) {
            return Err(OpenApiError::InvalidCustomResource(format!(
                "{g}/{v} {} is a built-in resource",
                c.plural
            )));
        }
    }
    Ok(())
}

/// The root documents besides the group-versions: `api`, `apis`, one per built-in
/// group, `version`.
fn root_keys(resources: &[ResourceInfo]) -> Vec<String> {
    let mut keys = BTreeSet::new();
    keys.insert("apis".to_string());
    keys.insert("version".to_string());
    for r in resources {
        if r.group.is_empty() {
            keys.insert("api".to_string());
        } else {
            keys.insert(format!("apis/{}", r.group));
        }
    }
    keys.into_iter().collect()
}

fn security_scheme() -> Value {
    json!({ "BearerToken": {
        "description": "Bearer Token authentication",
        "in": "header",
        "name": "authorization",
        "type": "apiKey",
    } })
}

/// A 3.0 document of `paths` with the built-in definitions they reach plus `extra`
/// schemas (custom resources), each of which may also reach built-in definitions.
fn v3_document(
    title: &str,
    version: &str,
    paths: &Paths,
    extra: BTreeMap<String, Value>,
) -> Result<Value, OpenApiError> {
    let schemas = schemas_for(paths, extra, Dialect::V3)?;
    Ok(json!({
        "components": { "schemas": schemas, "securitySchemes": security_scheme() },
        "info": { "title": title, "version": version },
        "openapi": OPENAPI_VERSION,
        "paths": routes::render_v3(paths),
    }))
}

/// The schemas a document needs: `extra`, and the closure of the built-in definitions
/// the operations and `extra` reference.
fn schemas_for(
    paths: &Paths,
    extra: BTreeMap<String, Value>,
    dialect: Dialect,
) -> Result<Map<String, Value>, OpenApiError> {
    let prefix = match dialect {
        Dialect::V3 => definitions::V3_PREFIX,
        Dialect::V2 => definitions::V2_PREFIX,
    };
    let mut wanted = routes::referenced_definitions(paths);
    for schema in extra.values() {
        definitions::collect_refs(schema, prefix, &mut wanted);
    }
    let defs = converted();
    let mut schemas: Map<String, Value> = Map::new();
    for name in defs.closure(
        wanted
            .iter()
            .filter(|n| !extra.contains_key(*n))
            .map(String::as_str),
    ) {
        if let Some(s) = defs.get(&name, dialect) {
            schemas.insert(name, s.clone());
        }
    }
    for name in &wanted {
        if !extra.contains_key(name) && !schemas.contains_key(name) {
            return Err(OpenApiError::UnknownDefinition(name.clone()));
        }
    }
    schemas.extend(extra);
    Ok(schemas)
}

/// The operations and schemas of `custom` in `dialect`, added to `paths`/`schemas`.
fn add_custom(
    custom: &[&CustomResource],
    dialect: Dialect,
    paths: &mut Paths,
    schemas: &mut BTreeMap<String, Value>,
) {
    for c in custom {
        let object = crd::definition_name(&c.group, &c.version, &c.kind);
        let list = crd::definition_name(&c.group, &c.version, &c.list_kind);
        routes::crd_paths(
            &routes::CrdRoutes {
                group: &c.group,
                version: &c.version,
                kind: &c.kind,
                plural: &c.plural,
                namespaced: c.namespaced,
                status: c.status,
                scale: c.scale,
                object: &object,
                list: &list,
            },
            paths,
        );
        schemas.insert(object, crd::object_schema(c, dialect));
        schemas.insert(list, crd::list_schema(c, dialect));
    }
}

/// The 3.0 document of one group-version.
fn group_version_document(
    group: &str,
    version: &str,
    builtins: &[&ResourceInfo],
    custom: &[&CustomResource],
) -> Result<Value, OpenApiError> {
    let mut paths = if builtins.is_empty() {
        Paths::new()
    } else {
        routes::builtin_paths(group, version, builtins)?
    };
    let mut extra = BTreeMap::new();
    add_custom(custom, Dialect::V3, &mut paths, &mut extra);
    let (title, info_version) = if builtins.is_empty() {
        (CRD_TITLE, CRD_INFO_VERSION)
    } else {
        (TITLE, "unversioned")
    };
    v3_document(title, info_version, &paths, extra)
}

/// The Swagger 2.0 document of everything served.
fn swagger_document(
    resources: &[ResourceInfo],
    custom: &[CustomResource],
) -> Result<SwaggerDocument, OpenApiError> {
    let mut paths = Paths::new();
    let mut by_gv: BTreeMap<(&str, &str), Vec<&ResourceInfo>> = BTreeMap::new();
    for r in resources {
        by_gv.entry((r.group, r.version)).or_default().push(r);
    }
    for ((group, version), rs) in by_gv {
        paths.extend(routes::builtin_paths(group, version, &rs)?);
    }
    for key in root_keys(resources) {
        paths.extend(routes::root_paths(&key));
    }
    let mut extra = BTreeMap::new();
    let custom: Vec<&CustomResource> = custom.iter().collect();
    add_custom(&custom, Dialect::V2, &mut paths, &mut extra);
    let doc = json!({
        "definitions": schemas_for(&paths, extra, Dialect::V2)?,
        "info": { "title": TITLE, "version": V2_INFO_VERSION },
        "paths": routes::render_v2(&paths),
        "security": [{ "BearerToken": [] }],
        "securityDefinitions": security_scheme(),
        "swagger": "2.0",
    });
    let json = to_bytes(&doc);
    let hash = sha512_hex(&json);
    let protobuf = Bytes::from(swagger_pb::encode(&doc));
    Ok(SwaggerDocument {
        json,
        protobuf,
        hash,
    })
}

/// How to answer `/openapi/v2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V2Format {
    Json,
    Protobuf,
}

/// One media range of an `Accept` header: type, subtype, quality.
fn media_ranges(accept: &str) -> Vec<(&str, &str, f32)> {
    let mut ranges: Vec<(&str, &str, f32)> = accept
        .split(',')
        .filter_map(|clause| {
            let mut parts = clause.split(';').map(str::trim);
            let (ty, sub) = parts.next()?.split_once('/')?;
            let q = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            (q > 0.0).then_some((ty.trim(), sub.trim(), q))
        })
        .collect();
    ranges.sort_by(|a, b| b.2.total_cmp(&a.2));
    ranges
}

fn negotiate<T: Copy>(accept: Option<&str>, offers: &[(&str, T)]) -> Option<T> {
    let accept = accept.filter(|a| !a.trim().is_empty()).unwrap_or("*/*");
    for (ty, sub, _) in media_ranges(accept) {
        for (offer, value) in offers {
            let Some((oty, osub)) = offer.split_once('/') else {
                continue;
            };
            if (ty == "*" || ty.eq_ignore_ascii_case(oty))
                && (sub == "*" || sub.eq_ignore_ascii_case(osub))
            {
                return Some(*value);
            }
        }
    }
    None
}

/// The encoding of `/openapi/v2` an `Accept` header asks for (JSON for `*/*`), as
/// kube-apiserver chooses; `None` means 406.
pub fn negotiate_v2(accept: Option<&str>) -> Option<V2Format> {
    negotiate(
        accept,
        &[
            (CONTENT_TYPE_JSON, V2Format::Json),
            (CONTENT_TYPE_V2_PROTOBUF_DEPRECATED, V2Format::Protobuf),
            (CONTENT_TYPE_V2_PROTOBUF, V2Format::Protobuf),
        ],
    )
}

/// Whether an `Accept` header admits the JSON group-version documents (the protobuf form
/// of 3.0 documents is not served; its absence is a 406).
pub fn accepts_v3_json(accept: Option<&str>) -> bool {
    negotiate(accept, &[(CONTENT_TYPE_JSON, ())]).is_some()
}
