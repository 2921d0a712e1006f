//! The REST operations kube-apiserver publishes for each resource — item and collection
//! verbs, the deprecated watch paths, subresources, discovery — and their rendering as
//! OpenAPI 3.0 and Swagger 2.0 path items.
//!
//! Operation IDs, tags, `x-kubernetes-action` and `x-kubernetes-group-version-kind` follow
//! kube-apiserver's naming, since clients key on them: kubectl finds a kind's PATCH
//! operation by its group-version-kind and reads its `fieldValidation` parameter and
//! patch content types; `kubectl explain` finds the kind of a resource from the
//! operations on its list and item paths.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use clipper_proto::schema::schema;

use super::OpenApiError;
use super::definitions::{
    API_GROUP, API_GROUP_LIST, API_RESOURCE_LIST, API_VERSIONS, DELETE_OPTIONS, Dialect, PATCH,
    SCALE, STATUS, VERSION_INFO, WATCH_EVENT, property_description,
};
use crate::registry::{ResourceInfo, Subresource};

/// Response media types of object operations (kube-apiserver's serializers, CBOR aside).
const MEDIA: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];
/// Response media types of list and watch operations.
const MEDIA_STREAM: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf;stream=watch",
];
/// Response media types of `pods/log`.
const MEDIA_LOG: &[&str] = &[
    "text/plain",
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];
/// What connect operations and built-in request bodies accept.
const ANY: &[&str] = &["*/*"];
/// The patch types of built-in resources. kubectl picks strategic merge patch for a kind
/// only when its PATCH operation lists it.
const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];
/// The patch types of custom resources: no strategic merge patch.
const CRD_PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
];
/// What custom resource operations accept and produce.
const CRD_MEDIA: &[&str] = &["application/json", "application/yaml"];

/// Built-in resources whose DELETE answers with the deleted object rather than a Status,
/// as kube-apiserver's registries for them do.
const DELETE_RETURNS_OBJECT: &[(&str, &str)] = &[
    ("", "persistentvolumeclaims"),
    ("", "persistentvolumes"),
    ("", "pods"),
    ("", "podtemplates"),
    ("", "resourcequotas"),
    ("", "serviceaccounts"),
    ("", "services"),
];

/// Subresources served as connections (upgraded streams) rather than objects.
const CONNECT_SUBRESOURCES: &[&str] = &["attach", "exec", "portforward"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    pub(super) fn new(group: &str, version: &str, kind: &str) -> Gvk {
        Gvk {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
        }
    }

    pub(super) fn to_json(&self) -> Value {
        json!({ "group": self.group, "kind": self.kind, "version": self.version })
    }

    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Method {
    Get,
    Put,
    Post,
    Delete,
    Patch,
}

impl Method {
    fn key(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Put => "put",
            Method::Post => "post",
            Method::Delete => "delete",
            Method::Patch => "patch",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ParamType {
    String,
    Integer,
    Boolean,
}

impl ParamType {
    fn name(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Boolean => "boolean",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Location {
    Path,
    Query,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Param {
    pub name: &'static str,
    pub location: Location,
    pub ty: ParamType,
    pub description: String,
}

impl Param {
    fn query(name: &'static str, ty: ParamType, description: impl Into<String>) -> Param {
        Param {
            name,
            location: Location::Query,
            ty,
            description: description.into(),
        }
    }

    fn path(name: &'static str, description: impl Into<String>) -> Param {
        Param {
            name,
            location: Location::Path,
            ty: ParamType::String,
            description: description.into(),
        }
    }

    fn to_v3(&self) -> Value {
        let mut p = json!({
            "description": self.description,
            "in": self.in_name(),
            "name": self.name,
            "schema": { "type": self.ty.name(), "uniqueItems": true },
        });
        if self.location == Location::Path
            && let Some(m) = p.as_object_mut()
        {
            m.insert("required".into(), Value::Bool(true));
        }
        p
    }

    fn to_v2(&self) -> Value {
        let mut p = json!({
            "description": self.description,
            "in": self.in_name(),
            "name": self.name,
            "type": self.ty.name(),
            "uniqueItems": true,
        });
        if self.location == Location::Path
            && let Some(m) = p.as_object_mut()
        {
            m.insert("required".into(), Value::Bool(true));
        }
        p
    }

    fn in_name(&self) -> &'static str {
        match self.location {
            Location::Path => "path",
            Location::Query => "query",
        }
    }
}

/// What a response carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Payload {
    Definition(String),
    Text,
}

#[derive(Clone, Debug)]
pub(super) struct Operation {
    pub method: Method,
    pub id: String,
    pub description: String,
    pub tag: String,
    pub action: Option<&'static str>,
    pub gvk: Option<Gvk>,
    pub params: Vec<Param>,
    /// The request body's definition and whether it is required.
    pub body: Option<(String, bool)>,
    pub consumes: &'static [&'static str],
    pub produces: &'static [&'static str],
    pub responses: Vec<(u16, &'static str, Payload)>,
}

/// Operations by path.
pub(super) type Paths = BTreeMap<String, Vec<Operation>>;

/// kube-apiserver's operation-ID word: letters, `_` and (not first) digits, each run after
/// a dropped character capitalised.
fn valid_id(s: &str, capitalize_first: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut capitalize = capitalize_first;
    for (i, c) in s.char_indices() {
        if c.is_alphabetic() || c == '_' || (i != 0 && c.is_numeric()) {
            if capitalize {
                out.extend(c.to_uppercase());
                capitalize = false;
            } else {
                out.push(c);
            }
        } else {
            capitalize = true;
        }
    }
    out
}

fn group_word(group: &str) -> &str {
    if group.is_empty() {
        "core"
    } else {
        group.strip_suffix(".k8s.io").unwrap_or(group)
    }
}

/// `verb` + group + version + `rest`, e.g. `patchAppsV1NamespacedDeployment`.
fn operation_id(verb: &str, group: &str, version: &str, rest: &str) -> String {
    format!(
        "{verb}{}{}{}",
        valid_id(group_word(group), true),
        valid_id(version, true),
        valid_id(rest, true)
    )
}

/// The tag of a group-version's operations, e.g. `apps_v1`, `rbacAuthorization_v1`.
fn tag(group: &str, version: &str) -> String {
    format!(
        "{}_{}",
        valid_id(group_word(group), false),
        valid_id(version, false)
    )
}

fn title(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The URL prefix of a group-version.
pub(super) fn gv_prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

/// "a" or "an" for a kind, by its first letter as kube-apiserver chooses.
fn article(kind: &str) -> &'static str {
    match kind.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

fn describe(action: &str, kind: &str, sub: &str) -> String {
    let a = article(kind);
    match (action, sub) {
        ("get", "") => format!("read the {kind} with the given name"),
        ("get", s) => format!("read the {s} of the {kind} with the given name"),
        ("put", "") => format!("replace the {kind} with the given name"),
        ("put", s) => format!("replace the {s} of the {kind} with the given name"),
        ("patch", "") => format!("partially update the {kind} with the given name"),
        ("patch", s) => format!("partially update the {s} of the {kind} with the given name"),
        ("post", "") => format!("create {a} {kind}"),
        ("post", s) => format!("create the {s} of {a} {kind}"),
        ("delete", _) => format!("delete {a} {kind}"),
        ("deletecollection", _) => format!("delete a collection of {kind} objects"),
        ("list", _) => format!("list or watch {kind} objects"),
        ("watch", _) => format!(
            "watch changes to one {kind}; deprecated: use a list with the watch parameter and a fieldSelector on metadata.name"
        ),
        ("watchlist", _) => {
            format!(
                "watch changes to a collection of {kind} objects; deprecated: use a list with the watch parameter"
            )
        }
        (_, s) => format!("{action} the {s} of {a} {kind}"),
    }
}

// --- query parameters -------------------------------------------------------------------

fn pretty() -> Param {
    Param::query(
        "pretty",
        ParamType::String,
        "If 'true', the response body is indented for reading.",
    )
}

fn delete_option(name: &'static str, ty: ParamType) -> Param {
    Param::query(name, ty, property_description(DELETE_OPTIONS, name))
}

/// DeleteOptions as query parameters.
fn delete_params() -> Vec<Param> {
    vec![
        delete_option("dryRun", ParamType::String),
        delete_option("gracePeriodSeconds", ParamType::Integer),
        delete_option(
            "ignoreStoreReadErrorWithClusterBreakingPotential",
            ParamType::Boolean,
        ),
        delete_option("orphanDependents", ParamType::Boolean),
        delete_option("propagationPolicy", ParamType::String),
    ]
}

/// ListOptions as query parameters; `watching` includes `watch` and `allowWatchBookmarks`.
fn list_params(watching: bool) -> Vec<Param> {
    let mut p = vec![
        Param::query(
            "continue",
            ParamType::String,
            "The continue token of an earlier, limited list response: the list resumes where that response \
             stopped. Continuing is only possible while the data it started from is retained (compaction \
             ends it with 410 Gone).",
        ),
        Param::query(
            "fieldSelector",
            ParamType::String,
            "Return only objects whose fields match this selector. Everything by default.",
        ),
        Param::query(
            "labelSelector",
            ParamType::String,
            "Return only objects whose labels match this selector. Everything by default.",
        ),
        Param::query(
            "limit",
            ParamType::Integer,
            "The most items one list response returns. When more remain, the response's metadata.continue \
             token fetches the next chunk.",
        ),
        Param::query(
            "resourceVersion",
            ParamType::String,
            "Which data the request is served from (see \
             https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions). Unset: the \
             most recent.",
        ),
        Param::query(
            "resourceVersionMatch",
            ParamType::String,
            "How resourceVersion applies to a list: NotOlderThan or Exact. Requires resourceVersion.",
        ),
        Param::query(
            "sendInitialEvents",
            ParamType::Boolean,
            "With watch=true and resourceVersionMatch=NotOlderThan: begin the stream with synthetic ADDED \
             events for the current objects, closed by a BOOKMARK annotated \
             \"k8s.io/initial-events-end\".",
        ),
        Param::query(
            "timeoutSeconds",
            ParamType::Integer,
            "How long the list or watch call may last, in seconds.",
        ),
    ];
    if watching {
        p.push(Param::query(
            "allowWatchBookmarks",
            ParamType::Boolean,
            "With watch=true: ask for BOOKMARK events, which carry only a resourceVersion. Servers may send \
             none.",
        ));
        p.push(Param::query(
            "watch",
            ParamType::Boolean,
            "Stream changes (ADDED, MODIFIED, DELETED events) to the selected objects instead of listing \
             them, starting after resourceVersion.",
        ));
    }
    p
}

fn write_params(patch: bool) -> Vec<Param> {
    let mut p = vec![
        delete_option("dryRun", ParamType::String),
        Param::query(
            "fieldManager",
            ParamType::String,
            "The name of the actor making the change: at most 128 printable characters. Required for apply \
             patches (application/apply-patch+yaml), optional otherwise.",
        ),
        Param::query(
            "fieldValidation",
            ParamType::String,
            "How the server treats unknown and duplicate fields in the request's object: Ignore drops them \
             silently; Warn (the default) drops them and warns once per field in a Warning header; Strict \
             rejects the request with a BadRequest error listing them all.",
        ),
    ];
    if patch {
        p.push(Param::query(
            "force",
            ParamType::Boolean,
            "Apply patches only: take over fields other managers own instead of failing with a conflict. Must \
             be unset for other patch types.",
        ));
    }
    p
}

fn connect_params(sub: &str) -> Vec<Param> {
    let b = |name: &'static str, what: &'static str| Param::query(name, ParamType::Boolean, what);
    let container = || {
        Param::query(
            "container",
            ParamType::String,
            "The container to connect to.",
        )
    };
    match sub {
        "attach" => vec![
            container(),
            b("stderr", "Stream the container's standard error."),
            b("stdin", "Pass standard input to the container."),
            b("stdout", "Stream the container's standard output."),
            b(
                "tty",
                "Allocate a terminal; standard error is merged into standard output.",
            ),
        ],
        "exec" => vec![
            Param::query(
                "command",
                ParamType::String,
                "The command to run; repeat the parameter per argument.",
            ),
            container(),
            b("stderr", "Stream the command's standard error."),
            b("stdin", "Pass standard input to the command."),
            b("stdout", "Stream the command's standard output."),
            b(
                "tty",
                "Allocate a terminal; standard error is merged into standard output.",
            ),
        ],
        "portforward" => {
            vec![Param::query(
                "ports",
                ParamType::Integer,
                "The pod ports to forward; repeat the parameter per port.",
            )]
        }
        _ => Vec::new(),
    }
}

fn log_params() -> Vec<Param> {
    let b = |name: &'static str, what: &'static str| Param::query(name, ParamType::Boolean, what);
    let i = |name: &'static str, what: &'static str| Param::query(name, ParamType::Integer, what);
    vec![
        Param::query(
            "container",
            ParamType::String,
            "The container whose log is read; optional for one-container pods.",
        ),
        b("follow", "Keep streaming the log as it grows."),
        b(
            "insecureSkipTLSVerifyBackend",
            "Do not verify the kubelet's serving certificate when fetching the log.",
        ),
        i("limitBytes", "Stop after this many bytes of log."),
        b(
            "previous",
            "Read the log of the previous, terminated instance of the container.",
        ),
        i(
            "sinceSeconds",
            "Only log lines newer than this many seconds.",
        ),
        Param::query(
            "stream",
            ParamType::String,
            "Which stream to read: All (the default), Stdout or Stderr.",
        ),
        i("tailLines", "Only this many lines from the end of the log."),
        b("timestamps", "Prefix each line with an RFC 3339 timestamp."),
    ]
}

fn namespace_param() -> Param {
    Param::path("namespace", "The namespace of the object.")
}

fn name_param(kind: &str) -> Param {
    Param::path("name", format!("The name of the {kind}."))
}

// --- built-in resources -----------------------------------------------------------------

/// The definition name of a kind, or an error naming it.
fn definition_of(gvk: &Gvk) -> Result<String, OpenApiError> {
    schema()
        .definition_for_kind(&gvk.api_version(), &gvk.kind)
        .map(|d| d.name.clone())
        .ok_or_else(|| OpenApiError::UnknownKind(gvk.api_version(), gvk.kind.clone()))
}

const OK: (u16, &str) = (200, "OK");
const CREATED: (u16, &str) = (201, "Created");
const ACCEPTED: (u16, &str) = (202, "Accepted");

impl Operation {
    /// An operation on a kind, with no description, parameters, body or responses yet;
    /// built-in defaults for the media types.
    fn new(method: Method, id: String, tag: &str, action: &'static str, gvk: &Gvk) -> Operation {
        Operation {
            method,
            id,
            description: String::new(),
            tag: tag.into(),
            action: Some(action),
            gvk: Some(gvk.clone()),
            params: Vec::new(),
            body: None,
            consumes: ANY,
            produces: MEDIA,
            responses: Vec::new(),
        }
    }

    fn describe(mut self, description: String) -> Self {
        self.description = description;
        self
    }

    /// `base` (scope parameters) followed by `extra`.
    fn params(mut self, base: &[Param], extra: Vec<Param>) -> Self {
        self.params = base.iter().cloned().chain(extra).collect();
        self
    }

    fn body(mut self, definition: &str, required: bool) -> Self {
        self.body = Some((definition.into(), required));
        self
    }

    fn consumes(mut self, types: &'static [&'static str]) -> Self {
        self.consumes = types;
        self
    }

    fn produces(mut self, types: &'static [&'static str]) -> Self {
        self.produces = types;
        self
    }

    fn respond(mut self, codes: &[(u16, &'static str)], payload: &Payload) -> Self {
        self.responses = codes
            .iter()
            .map(|(code, what)| (*code, *what, payload.clone()))
            .collect();
        self
    }
}

/// One built-in resource's names, scope and paths.
struct Resource<'a> {
    info: &'a ResourceInfo,
    tag: String,
    gvk: Gvk,
    /// "Namespaced" in operation IDs of namespaced resources.
    ns: &'static str,
    prefix: String,
    collection: String,
    item: String,
    /// `namespace` (when namespaced) and `pretty`.
    scope_params: Vec<Param>,
    /// The scope parameters plus `name`.
    item_params: Vec<Param>,
    object: String,
}

impl Resource<'_> {
    /// An operation with ID `verb` + group + version + `rest`.
    fn op(
        &self,
        method: Method,
        verb: &str,
        rest: &str,
        action: &'static str,
        gvk: &Gvk,
    ) -> Operation {
        let id = operation_id(verb, self.info.group, self.info.version, rest);
        Operation::new(method, id, &self.tag, action, gvk)
    }
}

fn add(paths: &mut Paths, path: &str, op: Operation) {
    paths.entry(path.to_string()).or_default().push(op);
}

/// Adds `GET <prefix>/` (the group-version's APIResourceList).
fn discovery_route(paths: &mut Paths, group: &str, version: &str) {
    let op = Operation {
        method: Method::Get,
        id: operation_id("get", group, version, "APIResources"),
        description: "get the resources this group-version serves".into(),
        tag: tag(group, version),
        action: None,
        gvk: None,
        params: Vec::new(),
        body: None,
        consumes: MEDIA,
        produces: MEDIA,
        responses: vec![(200, "OK", Payload::Definition(API_RESOURCE_LIST.into()))],
    };
    add(paths, &format!("{}/", gv_prefix(group, version)), op);
}

/// The operations of the built-in resources of one group-version, with its discovery path.
pub(super) fn builtin_paths(
    group: &str,
    version: &str,
    resources: &[&ResourceInfo],
) -> Result<Paths, OpenApiError> {
    let mut paths = Paths::new();
    discovery_route(&mut paths, group, version);
    for r in resources {
        resource_routes(&mut paths, r)?;
    }
    Ok(paths)
}

fn resource_routes(paths: &mut Paths, r: &ResourceInfo) -> Result<(), OpenApiError> {
    let gvk = Gvk::new(r.group, r.version, r.kind);
    let prefix = gv_prefix(r.group, r.version);
    let collection = if r.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", r.plural)
    } else {
        format!("{prefix}/{}", r.plural)
    };
    let mut scope_params: Vec<Param> = r.namespaced.then(namespace_param).into_iter().collect();
    let mut item_params = scope_params.clone();
    item_params.push(name_param(r.kind));
    scope_params.push(pretty());
    item_params.push(pretty());
    let res = Resource {
        info: r,
        tag: tag(r.group, r.version),
        object: definition_of(&gvk)?,
        gvk,
        ns: if r.namespaced { "Namespaced" } else { "" },
        item: format!("{collection}/{{name}}"),
        collection,
        prefix,
        scope_params,
        item_params,
    };
    let (kind, gvk) = (r.kind, &res.gvk);
    let named = format!("{}{kind}", res.ns);
    let object = Payload::Definition(res.object.clone());

    if r.has_verb("list") || r.has_verb("watch") {
        let list = Payload::Definition(definition_of(&Gvk::new(
            r.group,
            r.version,
            &format!("{kind}List"),
        ))?);
        let list_op = |rest: &str, scope: &[Param]| {
            res.op(Method::Get, "list", rest, "list", gvk)
                .describe(describe("list", kind, ""))
                .params(scope, list_params(true))
                .produces(MEDIA_STREAM)
                .respond(&[OK], &list)
        };
        if r.has_verb("list") {
            add(paths, &res.collection, list_op(&named, &res.scope_params));
            if r.namespaced {
                let all = format!("{}/{}", res.prefix, r.plural);
                add(
                    paths,
                    &all,
                    list_op(&format!("{kind}ForAllNamespaces"), &[pretty()]),
                );
            }
        }
        if r.has_verb("watch") {
            let event = Payload::Definition(WATCH_EVENT.into());
            let watch_op = |action: &'static str, rest: &str, scope: &[Param]| {
                res.op(Method::Get, "watch", rest, action, gvk)
                    .describe(describe(action, kind, ""))
                    .params(scope, list_params(true))
                    .produces(MEDIA_STREAM)
                    .respond(&[OK], &event)
            };
            let watch_scope = if r.namespaced {
                format!("{}/watch/namespaces/{{namespace}}", res.prefix)
            } else {
                format!("{}/watch", res.prefix)
            };
            let list_path = format!("{watch_scope}/{}", r.plural);
            add(
                paths,
                &list_path,
                watch_op("watchlist", &format!("{named}List"), &res.scope_params),
            );
            add(
                paths,
                &format!("{list_path}/{{name}}"),
                watch_op("watch", &named, &res.item_params),
            );
            if r.namespaced {
                let all = format!("{}/watch/{}", res.prefix, r.plural);
                let rest = format!("{kind}ListForAllNamespaces");
                add(paths, &all, watch_op("watchlist", &rest, &[pretty()]));
            }
        }
    }
    if r.has_verb("create") {
        let op = res
            .op(Method::Post, "create", &named, "post", gvk)
            .describe(describe("post", kind, ""))
            .params(&res.scope_params, write_params(false))
            .body(&res.object, true)
            .respond(&[OK, CREATED, ACCEPTED], &object);
        add(paths, &res.collection, op);
    }
    if r.has_verb("deletecollection") {
        // kube-apiserver's operation-ID verb here is "delete": deleteAppsV1CollectionX.
        let mut extra = list_params(false);
        extra.extend(delete_params());
        let op = res
            .op(
                Method::Delete,
                "delete",
                &format!("Collection{named}"),
                "deletecollection",
                gvk,
            )
            .describe(describe("deletecollection", kind, ""))
            .params(&res.scope_params, extra)
            .body(DELETE_OPTIONS, false)
            .respond(&[OK], &Payload::Definition(STATUS.into()));
        add(paths, &res.collection, op);
    }
    if r.has_verb("get") {
        let op = res
            .op(Method::Get, "read", &named, "get", gvk)
            .describe(describe("get", kind, ""))
            .params(&res.item_params, Vec::new())
            .respond(&[OK], &object);
        add(paths, &res.item, op);
    }
    if r.has_verb("update") {
        let op = res
            .op(Method::Put, "replace", &named, "put", gvk)
            .describe(describe("put", kind, ""))
            .params(&res.item_params, write_params(false))
            .body(&res.object, true)
            .respond(&[OK, CREATED], &object);
        add(paths, &res.item, op);
    }
    if r.has_verb("patch") {
        let op = res
            .op(Method::Patch, "patch", &named, "patch", gvk)
            .describe(describe("patch", kind, ""))
            .params(&res.item_params, write_params(true))
            .body(PATCH, true)
            .consumes(PATCH_TYPES)
            .respond(&[OK, CREATED], &object);
        add(paths, &res.item, op);
    }
    if r.has_verb("delete") {
        let returned = if DELETE_RETURNS_OBJECT.contains(&(r.group, r.plural)) {
            object.clone()
        } else {
            Payload::Definition(STATUS.into())
        };
        let op = res
            .op(Method::Delete, "delete", &named, "delete", gvk)
            .describe(describe("delete", kind, ""))
            .params(&res.item_params, delete_params())
            .body(DELETE_OPTIONS, false)
            .respond(&[OK, ACCEPTED], &returned);
        add(paths, &res.item, op);
    }
    for sub in r.subresources {
        subresource_routes(paths, &res, sub)?;
    }
    Ok(())
}

fn subresource_routes(
    paths: &mut Paths,
    res: &Resource<'_>,
    sub: &Subresource,
) -> Result<(), OpenApiError> {
    let r = res.info;
    let path = format!("{}/{}", res.item, sub.name);
    let rest = format!("{}{}{}", res.ns, r.kind, title(sub.name));
    // A subresource's kind defaults to the parent's, its group-version likewise.
    let gvk = match (sub.version.is_empty(), sub.kind.is_empty()) {
        (true, true) => res.gvk.clone(),
        (true, false) => Gvk::new(r.group, r.version, sub.kind),
        (false, _) => Gvk::new(
            sub.group,
            sub.version,
            if sub.kind.is_empty() {
                r.kind
            } else {
                sub.kind
            },
        ),
    };

    if CONNECT_SUBRESOURCES.contains(&sub.name) {
        let scope: Vec<Param> = res
            .item_params
            .iter()
            .filter(|p| p.name != "pretty")
            .cloned()
            .collect();
        for (method, word, verb) in [
            (Method::Get, "Get", "get"),
            (Method::Post, "Post", "create"),
        ] {
            if !sub.verbs.contains(&verb) {
                continue;
            }
            let description = format!(
                "connect {} requests to the {} of {} {}",
                word.to_uppercase(),
                sub.name,
                article(r.kind),
                r.kind
            );
            let op = res
                .op(method, "connect", &format!("{word}{rest}"), "connect", &gvk)
                .describe(description)
                .params(&scope, connect_params(sub.name))
                .produces(ANY)
                .respond(&[OK], &Payload::Text);
            add(paths, &path, op);
        }
        return Ok(());
    }
    if sub.name == "log" {
        let op = res
            .op(Method::Get, "read", &rest, "get", &gvk)
            .describe(describe("get", r.kind, "log"))
            .params(&res.item_params, log_params())
            .produces(MEDIA_LOG)
            .respond(&[OK], &Payload::Text);
        add(paths, &path, op);
        return Ok(());
    }

    let definition = if gvk == res.gvk {
        res.object.clone()
    } else {
        definition_of(&gvk)?
    };
    let payload = Payload::Definition(definition.clone());
    if sub.verbs.contains(&"get") {
        let op = res
            .op(Method::Get, "read", &rest, "get", &gvk)
            .describe(describe("get", r.kind, sub.name))
            .params(&res.item_params, Vec::new())
            .respond(&[OK], &payload);
        add(paths, &path, op);
    }
    if sub.verbs.contains(&"update") {
        let op = res
            .op(Method::Put, "replace", &rest, "put", &gvk)
            .describe(describe("put", r.kind, sub.name))
            .params(&res.item_params, write_params(false))
            .body(&definition, true)
            .respond(&[OK, CREATED], &payload);
        add(paths, &path, op);
    }
    if sub.verbs.contains(&"patch") {
        let op = res
            .op(Method::Patch, "patch", &rest, "patch", &gvk)
            .describe(describe("patch", r.kind, sub.name))
            .params(&res.item_params, write_params(true))
            .body(PATCH, true)
            .consumes(PATCH_TYPES)
            .respond(&[OK, CREATED], &payload);
        add(paths, &path, op);
    }
    if sub.verbs.contains(&"create") {
        let op = res
            .op(Method::Post, "create", &rest, "post", &gvk)
            .describe(describe("post", r.kind, sub.name))
            .params(&res.item_params, write_params(false))
            .body(&definition, true)
            .respond(&[OK, CREATED, ACCEPTED], &payload);
        add(paths, &path, op);
    }
    Ok(())
}

/// The paths of the root group documents: `/api/`, `/apis/`, `/apis/<group>/`, `/version/`.
pub(super) fn root_paths(key: &str) -> Paths {
    let (path, id, tag, definition, produces): (
        String,
        &str,
        String,
        &str,
        &'static [&'static str],
    ) = match key {
        "api" => (
            "/api/".into(),
            "getCoreAPIVersions",
            "core".into(),
            API_VERSIONS,
            MEDIA,
        ),
        "apis" => (
            "/apis/".into(),
            "getAPIVersions",
            "apis".into(),
            API_GROUP_LIST,
            MEDIA,
        ),
        "version" => (
            "/version/".into(),
            "getCodeVersion",
            "version".into(),
            VERSION_INFO,
            &["application/json"],
        ),
        _ => {
            let group = key.strip_prefix("apis/").unwrap_or(key);
            let word = valid_id(group_word(group), false);
            let id = format!("get{}APIGroup", valid_id(group_word(group), true));
            let mut paths = Paths::new();
            paths.insert(
                format!("/apis/{group}/"),
                vec![root_operation(
                    id,
                    word,
                    API_GROUP,
                    MEDIA,
                    "get information of a group",
                )],
            );
            return paths;
        }
    };
    let description = match key {
        "version" => "get the version information of this server",
        "api" => "get the versions of the core API",
        _ => "get the API groups this server serves",
    };
    let mut paths = Paths::new();
    paths.insert(
        path,
        vec![root_operation(
            id.into(),
            tag,
            definition,
            produces,
            description,
        )],
    );
    paths
}

fn root_operation(
    id: String,
    tag: String,
    definition: &str,
    produces: &'static [&'static str],
    description: &str,
) -> Operation {
    Operation {
        method: Method::Get,
        id,
        description: description.into(),
        tag,
        action: None,
        gvk: None,
        params: Vec::new(),
        body: None,
        consumes: produces,
        produces,
        responses: vec![(200, "OK", Payload::Definition(definition.into()))],
    }
}

// --- custom resources -------------------------------------------------------------------

/// What the custom resource route builder needs to know about one served version.
pub(super) struct CrdRoutes<'a> {
    pub group: &'a str,
    pub version: &'a str,
    pub kind: &'a str,
    pub plural: &'a str,
    pub namespaced: bool,
    pub status: bool,
    pub scale: bool,
    /// The definition names of the custom resource and of its list.
    pub object: &'a str,
    pub list: &'a str,
}

/// The operations kube-apiserver's CRD OpenAPI builder publishes for one custom resource
/// version: list, create, deletecollection, get, replace, delete, patch, and the status
/// and scale subresources when enabled. No watch paths. Every operation carries the custom
/// resource's group-version-kind, scale included.
pub(super) fn crd_paths(c: &CrdRoutes<'_>, paths: &mut Paths) {
    let gvk = Gvk::new(c.group, c.version, c.kind);
    let ns = if c.namespaced { "Namespaced" } else { "" };
    let named = format!("{ns}{}", c.kind);
    let prefix = gv_prefix(c.group, c.version);
    let tag = tag(c.group, c.version);
    let object = Payload::Definition(c.object.into());
    let status = Payload::Definition(STATUS.into());
    let mut scope_params = vec![pretty()];
    if c.namespaced {
        scope_params.push(namespace_param());
    }
    let mut item_params = scope_params.clone();
    item_params.push(name_param(c.kind));
    let op = |method: Method, verb: &str, rest: &str, action: &'static str| {
        let id = operation_id(verb, c.group, c.version, rest);
        let consumes = if method == Method::Patch {
            CRD_PATCH_TYPES
        } else {
            CRD_MEDIA
        };
        Operation::new(method, id, &tag, action, &gvk)
            .consumes(consumes)
            .produces(CRD_MEDIA)
    };

    let all = format!("{prefix}/{}", c.plural);
    let collection = if c.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", c.plural)
    } else {
        all.clone()
    };
    let item = format!("{collection}/{{name}}");
    let list = Payload::Definition(c.list.into());
    if c.namespaced {
        let o = op(
            Method::Get,
            "list",
            &format!("{}ForAllNamespaces", c.kind),
            "list",
        )
        .describe(describe("list", c.kind, ""))
        .params(&[pretty()], list_params(true))
        .respond(&[OK], &list);
        add(paths, &all, o);
    }
    let o = op(Method::Get, "list", &named, "list")
        .describe(describe("list", c.kind, ""))
        .params(&scope_params, list_params(true))
        .respond(&[OK], &list);
    add(paths, &collection, o);
    let o = op(Method::Post, "create", &named, "post")
        .describe(describe("post", c.kind, ""))
        .params(&scope_params, write_params(false))
        .body(c.object, true)
        .respond(&[OK, CREATED, ACCEPTED], &object);
    add(paths, &collection, o);
    let o = op(
        Method::Delete,
        "delete",
        &format!("Collection{named}"),
        "deletecollection",
    )
    .describe(describe("deletecollection", c.kind, ""))
    .params(&scope_params, list_params(true))
    .respond(&[OK], &status);
    add(paths, &collection, o);

    let get_params = || {
        vec![Param::query(
            "resourceVersion",
            ParamType::String,
            "Serve the object from at least this resourceVersion. Unset: the most recent.",
        )]
    };
    let mut subresources = vec![("", object.clone(), c.object)];
    if c.status {
        subresources.push(("status", object.clone(), c.object));
    }
    if c.scale {
        subresources.push(("scale", Payload::Definition(SCALE.into()), SCALE));
    }
    for (sub, payload, definition) in subresources {
        let path = if sub.is_empty() {
            item.clone()
        } else {
            format!("{item}/{sub}")
        };
        let rest = format!("{named}{}", title(sub));
        let o = op(Method::Get, "read", &rest, "get")
            .describe(describe("get", c.kind, sub))
            .params(&item_params, get_params())
            .respond(&[OK], &payload);
        add(paths, &path, o);
        let o = op(Method::Put, "replace", &rest, "put")
            .describe(describe("put", c.kind, sub))
            .params(&item_params, write_params(false))
            .body(definition, true)
            .respond(&[OK, CREATED], &payload);
        add(paths, &path, o);
        let o = op(Method::Patch, "patch", &rest, "patch")
            .describe(describe("patch", c.kind, sub))
            .params(&item_params, write_params(true))
            .body(PATCH, true)
            .respond(&[OK], &payload);
        add(paths, &path, o);
        if sub.is_empty() {
            let o = op(Method::Delete, "delete", &rest, "delete")
                .describe(describe("delete", c.kind, ""))
                .params(&item_params, delete_params())
                .body(DELETE_OPTIONS, false)
                .respond(&[OK, ACCEPTED], &status);
            add(paths, &path, o);
        }
    }
}

// --- rendering --------------------------------------------------------------------------

/// The definitions the operations of `paths` reference.
pub(super) fn referenced_definitions(paths: &Paths) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for op in paths.values().flatten() {
        if let Some((body, _)) = &op.body {
            out.insert(body.clone());
        }
        for (_, _, payload) in &op.responses {
            if let Payload::Definition(d) = payload {
                out.insert(d.clone());
            }
        }
    }
    out
}

/// Parameters shared (equal) by every operation of a path, which kube-apiserver lists once
/// on the path item; sorted by name. On a path with a PATCH operation only the path
/// parameters and `pretty` are hoisted: kubectl looks for `fieldValidation` among the
/// PATCH operation's own parameters, never the path item's.
fn shared_params(ops: &[Operation]) -> Vec<Param> {
    let Some((first, rest)) = ops.split_first() else {
        return Vec::new();
    };
    let has_patch = ops.iter().any(|o| o.method == Method::Patch);
    let mut shared: Vec<Param> = first
        .params
        .iter()
        .filter(|p| !has_patch || p.location == Location::Path || p.name == "pretty")
        .filter(|p| rest.iter().all(|o| o.params.contains(p)))
        .cloned()
        .collect();
    shared.sort_by(|a, b| a.name.cmp(b.name));
    shared
}

fn own_params<'a>(op: &'a Operation, shared: &[Param]) -> Vec<&'a Param> {
    let mut own: Vec<&Param> = op.params.iter().filter(|p| !shared.contains(p)).collect();
    own.sort_by(|a, b| a.name.cmp(b.name));
    own
}

fn payload_schema(payload: &Payload, dialect: Dialect) -> Value {
    match payload {
        Payload::Definition(d) => json!({ "$ref": dialect.reference(d) }),
        Payload::Text => json!({ "type": "string" }),
    }
}

fn common_fields(op: &Operation, out: &mut Map<String, Value>) {
    out.insert("description".into(), Value::String(op.description.clone()));
    out.insert("operationId".into(), Value::String(op.id.clone()));
    out.insert("tags".into(), json!([op.tag]));
    if let Some(action) = op.action {
        out.insert("x-kubernetes-action".into(), Value::String(action.into()));
    }
    if let Some(gvk) = &op.gvk {
        out.insert("x-kubernetes-group-version-kind".into(), gvk.to_json());
    }
}

/// `paths` as an OpenAPI 3.0 `paths` object.
pub(super) fn render_v3(paths: &Paths) -> Value {
    let mut out = Map::new();
    for (path, ops) in paths {
        let shared = shared_params(ops);
        let mut item = Map::new();
        for op in ops {
            let mut o = Map::new();
            common_fields(op, &mut o);
            let own = own_params(op, &shared);
            if !own.is_empty() {
                o.insert("parameters".into(), own.iter().map(|p| p.to_v3()).collect());
            }
            if let Some((body, required)) = &op.body {
                let schema = json!({ "$ref": Dialect::V3.reference(body) });
                let content: Map<String, Value> = op
                    .consumes
                    .iter()
                    .map(|ct| (ct.to_string(), json!({ "schema": schema })))
                    .collect();
                let mut rb = Map::new();
                rb.insert("content".into(), Value::Object(content));
                if *required {
                    rb.insert("required".into(), Value::Bool(true));
                }
                o.insert("requestBody".into(), Value::Object(rb));
            }
            let mut responses = Map::new();
            for (code, description, payload) in &op.responses {
                let schema = payload_schema(payload, Dialect::V3);
                let content: Map<String, Value> = op
                    .produces
                    .iter()
                    .map(|ct| (ct.to_string(), json!({ "schema": schema })))
                    .collect();
                responses.insert(
                    code.to_string(),
                    json!({ "content": content, "description": description }),
                );
            }
            responses.insert("401".into(), json!({ "description": "Unauthorized" }));
            o.insert("responses".into(), Value::Object(responses));
            item.insert(op.method.key().into(), Value::Object(o));
        }
        if !shared.is_empty() {
            item.insert(
                "parameters".into(),
                shared.iter().map(Param::to_v3).collect(),
            );
        }
        out.insert(path.clone(), Value::Object(item));
    }
    Value::Object(out)
}

/// `paths` as a Swagger 2.0 `paths` object.
pub(super) fn render_v2(paths: &Paths) -> Value {
    let mut out = Map::new();
    for (path, ops) in paths {
        let shared = shared_params(ops);
        let mut item = Map::new();
        for op in ops {
            let mut o = Map::new();
            common_fields(op, &mut o);
            o.insert("consumes".into(), json!(op.consumes));
            o.insert("produces".into(), json!(op.produces));
            o.insert("schemes".into(), json!(["https"]));
            let mut params: Vec<Value> =
                own_params(op, &shared).iter().map(|p| p.to_v2()).collect();
            if let Some((body, required)) = &op.body {
                let mut p = json!({
                    "in": "body",
                    "name": "body",
                    "schema": { "$ref": Dialect::V2.reference(body) },
                });
                if *required && let Some(m) = p.as_object_mut() {
                    m.insert("required".into(), Value::Bool(true));
                }
                params.insert(0, p);
            }
            if !params.is_empty() {
                o.insert("parameters".into(), Value::Array(params));
            }
            let mut responses = Map::new();
            for (code, description, payload) in &op.responses {
                responses.insert(
                    code.to_string(),
                    json!({ "description": description, "schema": payload_schema(payload, Dialect::V2) }),
                );
            }
            responses.insert("401".into(), json!({ "description": "Unauthorized" }));
            o.insert("responses".into(), Value::Object(responses));
            item.insert(op.method.key().into(), Value::Object(o));
        }
        if !shared.is_empty() {
            item.insert(
                "parameters".into(),
                shared.iter().map(Param::to_v2).collect(),
            );
        }
        out.insert(path.clone(), Value::Object(item));
    }
    Value::Object(out)
}
