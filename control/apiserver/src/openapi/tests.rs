//! Tests of the OpenAPI documents: the v3 root and its hashes, reference integrity, the
//! operations kubectl inspects (PATCH with `fieldValidation` and patch content types,
//! the kind lookup and field walk of `kubectl explain`), custom resources, and the
//! Swagger 2.0 document in both encodings.

use std::collections::BTreeSet;

use prost::Message;
use serde_json::{Value, json};

use super::definitions::{V2_PREFIX, V3_PREFIX, collect_refs};
use super::*;
use crate::registry::RESOURCES;

fn builtin() -> &'static OpenApi {
    OpenApi::builtin().expect("the built-in documents build")
}

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("documents are JSON")
}

fn doc(api: &OpenApi, key: &str) -> Value {
    parse(
        api.v3_document(key)
            .unwrap_or_else(|| panic!("no document {key}"))
            .json(),
    )
}

fn crontab_schema() -> Value {
    json!({
        "type": "object",
        "example": { "spec": { "cronSpec": "* * * * *" } },
        "properties": {
            "spec": {
                "type": "object",
                "required": ["cronSpec"],
                "properties": {
                    "cronSpec": { "type": "string", "pattern": "^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$" },
                    "image": { "type": "string", "description": "The image to run." },
                    "replicas": { "type": "integer", "minimum": 1, "maximum": 10, "default": 1 },
                    "port": { "x-kubernetes-int-or-string": true },
                    "extra": { "type": "object", "nullable": true, "x-kubernetes-preserve-unknown-fields": true },
                    "template": {
                        "type": "object",
                        "x-kubernetes-embedded-resource": true,
                        "x-kubernetes-preserve-unknown-fields": true,
                    },
                    "tags": { "type": "array", "items": { "type": "string" }, "x-kubernetes-list-type": "set" },
                },
            },
            "status": { "type": "object", "properties": { "replicas": { "type": "integer" } } },
        },
    })
}

fn crontab() -> CustomResource {
    let mut cr = CustomResource::new(
        "stable.example.com",
        "v1",
        "CronTab",
        "crontabs",
        true,
        Some(crontab_schema()),
    );
    cr.status = true;
    cr.scale = true;
    cr
}

/// Every `$ref` of a 3.0 document points into its `components.schemas`.
fn assert_v3_refs_resolve(key: &str, d: &Value) {
    let schemas = d["components"]["schemas"]
        .as_object()
        .unwrap_or_else(|| panic!("{key}: no schemas"));
    let mut all = BTreeSet::new();
    collect_refs(d, "", &mut all);
    assert!(!all.is_empty(), "{key}: no references at all");
    for r in &all {
        let name = r
            .strip_prefix(V3_PREFIX)
            .unwrap_or_else(|| panic!("{key}: reference {r} is not a component"));
        assert!(schemas.contains_key(name), "{key}: {r} does not resolve");
    }
}

/// A schema and its subschemas have single string `type`s and no 2020-12 leftovers.
fn assert_plain_types(where_: &str, s: &Value) {
    if let Some(t) = s.get("type") {
        assert!(t.is_string(), "{where_}: type {t} is not a single string");
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        assert!(r.starts_with(V3_PREFIX), "{where_}: leftover reference {r}");
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        props
            .iter()
            .for_each(|(k, p)| assert_plain_types(&format!("{where_}.{k}"), p));
    }
    for k in ["items", "additionalProperties", "not"] {
        if let Some(sub) = s.get(k).filter(|v| v.is_object()) {
            assert_plain_types(&format!("{where_}[{k}]"), sub);
        }
    }
    for k in ["allOf", "anyOf", "oneOf"] {
        s.get(k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .for_each(|sub| assert_plain_types(where_, sub));
    }
}

/// kubectl's query-parameter check (cli-runtime `supportsQueryParamV3`): the PATCH
/// operations carrying `gvk` must list `param` among their own query parameters.
fn patch_supports(d: &Value, gvk: &Value, param: &str) -> Option<bool> {
    let mut found = None;
    for item in d["paths"].as_object()?.values() {
        let Some(op) = item.get("patch") else {
            continue;
        };
        if op.get("x-kubernetes-group-version-kind") != Some(gvk) {
            continue;
        }
        let has = op["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == param && p["in"] == "query"));
        found = Some(found.unwrap_or(true) && has);
    }
    found
}

#[test]
fn root_lists_every_served_group_version_with_its_hash() {
    let api = builtin();
    let root = parse(api.v3_root());
    let paths = root["paths"].as_object().expect("root has paths");
    for r in RESOURCES {
        let key = group_version_key(r.group, r.version);
        let url = paths[&key]["serverRelativeURL"]
            .as_str()
            .unwrap_or_else(|| panic!("root lacks {key}"));
        let d = api.v3_document(&key).expect("listed documents exist");
        assert_eq!(
            url,
            format!("/openapi/v3/{key}?hash={}", sha512_hex(d.json()))
        );
        assert_eq!(d.hash().len(), 128);
        assert!(
            d.hash()
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()),
            "{}",
            d.hash()
        );
    }
    for key in ["api", "apis", "apis/apps", "version"] {
        assert!(paths.contains_key(key), "root lacks {key}");
    }
    // Nothing but documents: every listed key has one, and vice versa.
    assert_eq!(paths.len(), api.v3_documents().count());
    assert_eq!(
        api.v3_root_etag(),
        format!("\"{}\"", sha512_hex(api.v3_root()))
    );
}

#[test]
fn every_document_is_openapi_3_with_resolving_references() {
    let api = OpenApi::with_custom_resources(&[crontab()]).expect("builds");
    for d in api.v3_documents() {
        let v = parse(d.json());
        assert_eq!(v["openapi"], "3.0.0", "{}", d.key());
        assert!(
            v["paths"].as_object().is_some_and(|p| !p.is_empty()),
            "{}: no paths",
            d.key()
        );
        assert_v3_refs_resolve(d.key(), &v);
        for (name, s) in v["components"]["schemas"].as_object().unwrap() {
            assert_plain_types(&format!("{}: {name}", d.key()), s);
        }
    }
}

#[test]
fn pod_patch_declares_field_validation_and_the_four_patch_types() {
    let v1 = doc(builtin(), "api/v1");
    let item = &v1["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"];
    let patch = &item["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({ "group": "", "kind": "Pod", "version": "v1" })
    );
    assert_eq!(patch["x-kubernetes-action"], "patch");
    assert_eq!(patch["operationId"], "patchCoreV1NamespacedPod");
    let params: Vec<&str> = patch["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        params,
        ["dryRun", "fieldManager", "fieldValidation", "force"]
    );
    let content = patch["requestBody"]["content"].as_object().unwrap();
    let types: Vec<&str> = content.keys().map(String::as_str).collect();
    assert_eq!(
        types,
        [
            "application/apply-patch+yaml",
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json"
        ]
    );
    for c in content.values() {
        assert_eq!(
            c["schema"]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
        );
    }
    assert_eq!(
        patch["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/io.k8s.api.core.v1.Pod"
    );
    let shared: Vec<&str> = item["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(shared, ["name", "namespace", "pretty"]);
}

#[test]
fn every_patchable_kind_passes_kubectls_field_validation_check() {
    let api = OpenApi::with_custom_resources(&[crontab()]).expect("builds");
    for r in RESOURCES.iter().filter(|r| r.has_verb("patch")) {
        let d = doc(&api, &group_version_key(r.group, r.version));
        let gvk = json!({ "group": r.group, "kind": r.kind, "version": r.version });
        assert_eq!(
            patch_supports(&d, &gvk, "fieldValidation"),
            Some(true),
            "{} {}",
            r.api_version(),
            r.kind
        );
    }
    // Custom resources: their own document, and Namespace's (kubectl's fallback for CRDs).
    let crd = doc(&api, "apis/stable.example.com/v1");
    let gvk = json!({ "group": "stable.example.com", "kind": "CronTab", "version": "v1" });
    assert_eq!(patch_supports(&crd, &gvk, "fieldValidation"), Some(true));
    let ns = json!({ "group": "", "kind": "Namespace", "version": "v1" });
    assert_eq!(
        patch_supports(&doc(&api, "api/v1"), &ns, "fieldValidation"),
        Some(true)
    );
    // Every PATCH operation everywhere lists the parameter itself (none hoisted).
    for d in api.v3_documents() {
        let v = parse(d.json());
        for (path, item) in v["paths"].as_object().unwrap() {
            if let Some(op) = item.get("patch") {
                let own = op["parameters"].as_array().unwrap();
                assert!(own.iter().any(|p| p["name"] == "fieldValidation"), "{path}");
                assert!(op["x-kubernetes-group-version-kind"].is_object(), "{path}");
            }
        }
    }
}

/// Follows a property through `allOf`, `$ref`, `items` and `additionalProperties` as the
/// `kubectl explain` template does.
fn explain_field<'a>(d: &'a Value, schema: &'a Value, field: &str) -> Option<&'a Value> {
    let resolved = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => d["components"]["schemas"].get(r.strip_prefix(V3_PREFIX)?)?,
        None => schema,
    };
    if let Some(p) = resolved.get("properties").and_then(|p| p.get(field)) {
        return Some(p);
    }
    if let Some(items) = resolved.get("items") {
        return explain_field(d, items, field);
    }
    if let Some(values) = resolved
        .get("additionalProperties")
        .filter(|v| v.is_object())
    {
        return explain_field(d, values, field);
    }
    resolved
        .get("allOf")?
        .as_array()?
        .iter()
        .find_map(|s| explain_field(d, s, field))
}

/// `kubectl explain`'s kind lookup: a GVK from an operation on the resource's list or item
/// path, then the schema whose `x-kubernetes-group-version-kind` contains it.
fn explain_kind<'a>(d: &'a Value, r: &ResourceInfo) -> Option<&'a Value> {
    let prefix = if r.group.is_empty() {
        "/api".to_string()
    } else {
        format!("/apis/{}", r.group)
    };
    let candidates = [
        format!("{prefix}/{}/{}", r.version, r.plural),
        format!("{prefix}/{}/{}/{{name}}", r.version, r.plural),
        format!(
            "{prefix}/{}/namespaces/{{namespace}}/{}",
            r.version, r.plural
        ),
        format!(
            "{prefix}/{}/namespaces/{{namespace}}/{}/{{name}}",
            r.version, r.plural
        ),
    ];
    let gvk = candidates.iter().find_map(|path| {
        let item = d["paths"].get(path)?;
        ["get", "post", "put", "patch", "delete"]
            .iter()
            .find_map(|m| {
                item.get(*m)
                    .and_then(|op| op.get("x-kubernetes-group-version-kind"))
            })
    })?;
    d["components"]["schemas"].as_object()?.values().find(|s| {
        s.get("x-kubernetes-group-version-kind")
            .and_then(Value::as_array)
            .is_some_and(|l| l.contains(gvk))
    })
}

#[test]
fn kubectl_explain_finds_every_kind_and_walks_pod_containers() {
    let api = builtin();
    for r in RESOURCES {
        let d = doc(api, &group_version_key(r.group, r.version));
        let schema = explain_kind(&d, r)
            .unwrap_or_else(|| panic!("explain finds no schema for {}", r.plural));
        assert_eq!(schema["type"], "object", "{}", r.plural);
        assert!(
            schema["description"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{}",
            r.plural
        );
    }
    let v1 = doc(api, "api/v1");
    let pods = RESOURCES.iter().find(|r| r.plural == "pods").unwrap();
    let pod = explain_kind(&v1, pods).unwrap();
    let spec = explain_field(&v1, pod, "spec").expect("pods.spec");
    assert!(
        spec["description"]
            .as_str()
            .is_some_and(|s| s.contains("Specification"))
    );
    let containers = explain_field(&v1, spec, "containers").expect("pods.spec.containers");
    assert_eq!(containers["type"], "array");
    assert_eq!(
        containers["items"]["$ref"],
        "#/components/schemas/io.k8s.api.core.v1.Container"
    );
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    let image = explain_field(&v1, containers, "image").expect("pods.spec.containers.image");
    assert_eq!(image["type"], "string");
    let container = &v1["components"]["schemas"]["io.k8s.api.core.v1.Container"];
    assert!(
        container["required"]
            .as_array()
            .unwrap()
            .contains(&json!("name"))
    );
    let limits = explain_field(
        &v1,
        explain_field(&v1, containers, "resources").unwrap(),
        "limits",
    )
    .unwrap();
    assert_eq!(
        limits["additionalProperties"]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity"
    );
    // apiVersion/kind carry no enum (kube publishes none; explain would print one).
    assert!(pod["properties"]["apiVersion"].get("enum").is_none());
}

#[test]
fn definitions_take_kube_apiservers_forms() {
    let v1 = doc(builtin(), "api/v1");
    let s = &v1["components"]["schemas"];
    assert_eq!(
        s["io.k8s.apimachinery.pkg.util.intstr.IntOrString"],
        json!({ "format": "int-or-string", "oneOf": [{ "type": "integer" }, { "type": "string" }] })
    );
    assert_eq!(
        s["io.k8s.apimachinery.pkg.api.resource.Quantity"],
        json!({ "oneOf": [{ "type": "string" }, { "type": "number" }] })
    );
    assert_eq!(
        s["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]["type"],
        "string"
    );
    assert_eq!(
        s["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]["format"],
        "date-time"
    );
    let metadata = &s["io.k8s.api.core.v1.Pod"]["properties"]["metadata"];
    assert_eq!(
        metadata["allOf"],
        json!([{ "$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" }])
    );
    assert!(metadata["description"].is_string());
    assert_eq!(
        s["io.k8s.api.core.v1.Pod"]["x-kubernetes-group-version-kind"],
        json!([{ "group": "", "kind": "Pod", "version": "v1" }])
    );
}

#[test]
fn operations_follow_kube_apiservers_names() {
    let apps = doc(builtin(), "apis/apps/v1");
    let p = &apps["paths"];
    assert_eq!(
        p["/apis/apps/v1/namespaces/{namespace}/deployments"]["delete"]["operationId"],
        "deleteAppsV1CollectionNamespacedDeployment"
    );
    assert_eq!(
        p["/apis/apps/v1/deployments"]["get"]["operationId"],
        "listAppsV1DeploymentForAllNamespaces"
    );
    assert_eq!(
        p["/apis/apps/v1/watch/namespaces/{namespace}/deployments/{name}"]["get"]["x-kubernetes-action"],
        "watch"
    );
    let scale = &p["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"];
    assert_eq!(
        scale["x-kubernetes-group-version-kind"],
        json!({ "group": "autoscaling", "kind": "Scale", "version": "v1" })
    );
    assert_eq!(scale["operationId"], "patchAppsV1NamespacedDeploymentScale");
    let status = &p["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status"]["put"];
    assert_eq!(
        status["x-kubernetes-group-version-kind"]["kind"],
        "Deployment"
    );
    assert_eq!(
        p["/apis/apps/v1/"]["get"]["operationId"],
        "getAppsV1APIResources"
    );
    assert_eq!(
        p["/apis/apps/v1/deployments"]["get"]["tags"],
        json!(["apps_v1"])
    );

    let v1 = doc(builtin(), "api/v1");
    let exec = &v1["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/exec"];
    assert_eq!(
        exec["post"]["operationId"],
        "connectCoreV1PostNamespacedPodExec"
    );
    assert_eq!(
        exec["get"]["x-kubernetes-group-version-kind"]["kind"],
        "PodExecOptions"
    );
    let eviction = &v1["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"];
    assert_eq!(
        eviction["requestBody"]["content"]["*/*"]["schema"]["$ref"],
        "#/components/schemas/io.k8s.api.policy.v1.Eviction"
    );
    let log = &v1["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/log"]["get"];
    assert_eq!(
        log["responses"]["200"]["content"]["text/plain"]["schema"],
        json!({ "type": "string" })
    );
    let rbac = doc(builtin(), "apis/rbac.authorization.k8s.io/v1");
    assert_eq!(
        rbac["paths"]["/apis/rbac.authorization.k8s.io/v1/clusterroles"]["get"]["tags"],
        json!(["rbacAuthorization_v1"])
    );
    assert_eq!(
        rbac["paths"]["/apis/rbac.authorization.k8s.io/v1/clusterroles"]["get"]["operationId"],
        "listRbacAuthorizationV1ClusterRole"
    );
}

#[test]
fn custom_resource_document_has_the_schema_object_meta_and_crd_operations() {
    let api = OpenApi::with_custom_resources(&[crontab()]).expect("builds");
    let root = parse(api.v3_root());
    assert!(root["paths"]["apis/stable.example.com/v1"]["serverRelativeURL"].is_string());
    let d = doc(&api, "apis/stable.example.com/v1");
    let schemas = &d["components"]["schemas"];
    let ct = &schemas["com.example.stable.v1.CronTab"];
    assert_eq!(
        ct["x-kubernetes-group-version-kind"],
        json!([{ "group": "stable.example.com", "kind": "CronTab", "version": "v1" }])
    );
    assert_eq!(
        ct["properties"]["metadata"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert_eq!(ct["properties"]["apiVersion"]["type"], "string");
    let spec = &ct["properties"]["spec"];
    assert_eq!(
        spec["properties"]["cronSpec"]["pattern"],
        crontab_schema()["properties"]["spec"]["properties"]["cronSpec"]["pattern"]
    );
    assert_eq!(spec["required"], json!(["cronSpec"]));
    assert_eq!(spec["properties"]["replicas"]["default"], 1);
    assert_eq!(spec["properties"]["extra"]["nullable"], true);
    assert!(
        ct.get("example").is_none(),
        "examples are not part of a structural schema"
    );
    assert_eq!(
        spec["properties"]["port"]["anyOf"],
        json!([{ "type": "integer" }, { "type": "string" }])
    );
    let template = &spec["properties"]["template"];
    assert_eq!(
        template["properties"]["metadata"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert_eq!(template["required"], json!(["kind", "apiVersion"]));
    for name in [
        "com.example.stable.v1.CronTabList",
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry",
        "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta",
        "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
        "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
        "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
        "io.k8s.api.autoscaling.v1.Scale",
    ] {
        assert!(schemas.get(name).is_some(), "missing {name}");
    }
    assert_eq!(
        schemas["com.example.stable.v1.CronTabList"]["properties"]["items"]["items"]["$ref"],
        "#/components/schemas/com.example.stable.v1.CronTab"
    );
    let item = &d["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"];
    let types: Vec<&str> = item["patch"]["requestBody"]["content"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        types,
        [
            "application/apply-patch+yaml",
            "application/json-patch+json",
            "application/merge-patch+json"
        ]
    );
    let scale = &d["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}/scale"]
        ["patch"];
    assert_eq!(scale["x-kubernetes-group-version-kind"]["kind"], "CronTab");
    assert!(d["paths"]["/apis/stable.example.com/v1/crontabs"]["get"].is_object());
    assert!(
        d["paths"]
            .get("/apis/stable.example.com/v1/watch/crontabs")
            .is_none()
    );
    let crs = RESOURCES
        .iter()
        .find(|r| r.plural == "pods")
        .map(|p| ResourceInfo {
            group: "stable.example.com",
            plural: "crontabs",
            ..*p
        });
    assert!(explain_kind(&d, &crs.unwrap()).is_some_and(|s| s == ct));
    // The built-in documents are shared, not rebuilt.
    assert_eq!(
        api.v3_document("api/v1").unwrap().hash(),
        builtin().v3_document("api/v1").unwrap().hash()
    );
}

#[test]
fn custom_resource_without_schema_is_an_open_object() {
    let cr = CustomResource::new("example.com", "v1alpha1", "Thing", "things", false, None);
    let api = OpenApi::with_custom_resources(&[cr]).expect("builds");
    let d = doc(&api, "apis/example.com/v1alpha1");
    assert_eq!(
        d["components"]["schemas"]["com.example.v1alpha1.Thing"],
        json!({ "type": "object", "x-kubernetes-group-version-kind": [{ "group": "example.com", "kind": "Thing", "version": "v1alpha1" }] })
    );
    assert!(d["paths"]["/apis/example.com/v1alpha1/things/{name}/status"].is_null());
    assert_eq!(
        d["paths"]["/apis/example.com/v1alpha1/things"]["get"]["operationId"],
        "listExampleComV1alpha1Thing"
    );
}

#[test]
fn invalid_custom_resources_are_rejected() {
    let mut empty = crontab();
    empty.kind.clear();
    assert!(matches!(
        OpenApi::with_custom_resources(&[empty]),
        Err(OpenApiError::InvalidCustomResource(_))
    ));
    assert!(matches!(
        OpenApi::with_custom_resources(&[crontab(), crontab()]),
        Err(OpenApiError::InvalidCustomResource(_))
    ));
    let shadow = CustomResource::new("apps", "v1", "Deployment", "deployments", true, None);
    assert!(matches!(
        OpenApi::with_custom_resources(&[shadow]),
        Err(OpenApiError::InvalidCustomResource(_))
    ));
}

#[test]
fn documents_and_hashes_are_stable_across_builds() {
    let a = OpenApi::build(RESOURCES, &[crontab()]).expect("builds");
    let b = OpenApi::build(RESOURCES, &[crontab()]).expect("builds");
    assert_eq!(a.v3_root(), b.v3_root());
    for (x, y) in a.v3_documents().zip(b.v3_documents()) {
        assert_eq!((x.key(), x.hash()), (y.key(), y.hash()));
    }
    assert_eq!(a.v2().unwrap().hash(), b.v2().unwrap().hash());
    assert_eq!(a.v2().unwrap().protobuf(), b.v2().unwrap().protobuf());
    // with_custom_resources reuses built-in documents yet yields the same bytes.
    let c = OpenApi::with_custom_resources(&[crontab()]).expect("builds");
    assert_eq!(a.v3_root(), c.v3_root());
}

#[test]
fn v3_responses_follow_the_hash() {
    let api = builtin();
    let d = api.v3_document("apis/apps/v1").unwrap();
    assert!(matches!(
        api.v3_response("apis/apps/v1", None),
        V3Response::Document {
            immutable: false,
            ..
        }
    ));
    assert!(matches!(
        api.v3_response("apis/apps/v1", Some("")),
        V3Response::Document {
            immutable: false,
            ..
        }
    ));
    match api.v3_response("apis/apps/v1", Some(d.hash())) {
        V3Response::Document {
            document,
            immutable,
        } => {
            assert!(immutable);
            assert_eq!(document.etag(), format!("\"{}\"", d.hash()));
        }
        other => panic!("{other:?}"),
    }
    match api.v3_response("apis/apps/v1", Some("0123")) {
        V3Response::Redirect(to) => {
            assert_eq!(to, format!("/openapi/v3/apis/apps/v1?hash={}", d.hash()))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        api.v3_response("apis/nope/v1", None),
        V3Response::NotFound
    ));
}

/// The rules kubectl's Swagger 2.0 parser (kube-openapi `proto.NewOpenAPIData`) enforces.
fn assert_v2_schema_parses(where_: &str, s: &Value, definitions: &serde_json::Map<String, Value>) {
    if let Some(r) = s.get("$ref") {
        let name = r
            .as_str()
            .and_then(|r| r.strip_prefix(V2_PREFIX))
            .unwrap_or_else(|| panic!("{where_}: {r}"));
        assert!(
            definitions.contains_key(name),
            "{where_}: {r} does not resolve"
        );
        assert!(
            s.get("type").is_none() && s.get("properties").is_none(),
            "{where_}: a reference with a type"
        );
        return;
    }
    for k in ["oneOf", "anyOf", "allOf", "not", "nullable"] {
        assert!(s.get(k).is_none(), "{where_}: {k} in Swagger 2.0");
    }
    if let Some(t) = s.get("type") {
        assert!(t.is_string(), "{where_}: type {t}");
    }
    if s["type"] == "array" {
        let items = s
            .get("items")
            .unwrap_or_else(|| panic!("{where_}: array without items"));
        assert!(
            items.is_object(),
            "{where_}: array items must be one schema"
        );
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (k, p) in props {
            assert_v2_schema_parses(&format!("{where_}.{k}"), p, definitions);
        }
    }
    for k in ["items", "additionalProperties"] {
        if let Some(sub) = s.get(k).filter(|v| v.is_object()) {
            assert_v2_schema_parses(&format!("{where_}[{k}]"), sub, definitions);
        }
    }
}

#[test]
fn swagger_v2_json_is_parseable_by_kubectl() {
    let api = OpenApi::with_custom_resources(&[crontab()]).expect("builds");
    let v2 = parse(api.v2().expect("the 2.0 document builds").json());
    assert_eq!(v2["swagger"], "2.0");
    let definitions = v2["definitions"].as_object().unwrap();
    for (name, s) in definitions {
        assert_v2_schema_parses(name, s, definitions);
    }
    let mut refs = BTreeSet::new();
    collect_refs(&v2["paths"], "", &mut refs);
    for r in refs {
        let name = r.strip_prefix(V2_PREFIX).unwrap_or_else(|| panic!("{r}"));
        assert!(definitions.contains_key(name), "{r}");
    }
    let ct = &definitions["com.example.stable.v1.CronTab"];
    assert_eq!(
        ct["properties"]["metadata"]["$ref"],
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    let extra = &ct["properties"]["spec"]["properties"]["extra"];
    assert!(
        extra.get("type").is_none(),
        "nullable fields lose their type in 2.0: {extra}"
    );
    assert!(
        ct["properties"]["spec"]["properties"]["replicas"]
            .get("default")
            .is_none()
    );
    assert!(
        ct["properties"]["spec"]["properties"]["port"]
            .get("anyOf")
            .is_none()
    );
    assert_eq!(
        definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"],
        json!({ "format": "int-or-string", "type": "string" })
    );
    // Every served kind is findable by its group-version-kind (kubectl's LookupResource).
    for r in RESOURCES {
        let gvk = json!({ "group": r.group, "kind": r.kind, "version": r.version });
        assert!(
            definitions
                .values()
                .any(|d| d["x-kubernetes-group-version-kind"]
                    .as_array()
                    .is_some_and(|l| l.contains(&gvk))),
            "{}",
            r.kind
        );
    }
    let patch = &v2["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
    assert!(
        patch["consumes"]
            .as_array()
            .unwrap()
            .contains(&json!("application/strategic-merge-patch+json"))
    );
    let body = &patch["parameters"][0];
    assert_eq!(
        (body["in"].as_str(), body["required"].as_bool()),
        (Some("body"), Some(true))
    );
}

#[test]
fn swagger_v2_protobuf_decodes_to_the_json_document() {
    let api = builtin();
    let v2 = api.v2().expect("the 2.0 document builds");
    let json = parse(v2.json());
    let pb = swagger_pb::Document::decode(v2.protobuf().as_ref()).expect("valid protobuf");
    assert_eq!(pb.swagger, "2.0");
    let definitions = pb.definitions.as_ref().unwrap();
    assert_eq!(
        definitions.additional_properties.len(),
        json["definitions"].as_object().unwrap().len()
    );
    let pod = definitions
        .additional_properties
        .iter()
        .find(|d| d.name == "io.k8s.api.core.v1.Pod")
        .and_then(|d| d.value.as_ref())
        .expect("Pod is defined");
    let gvk = pod
        .vendor_extension
        .iter()
        .find(|e| e.name == "x-kubernetes-group-version-kind")
        .expect("Pod has its GVK");
    let yaml: Value = serde_json::from_str(&gvk.value.as_ref().unwrap().yaml)
        .expect("the value text is JSON (valid YAML)");
    assert_eq!(
        yaml,
        json!([{ "group": "", "kind": "Pod", "version": "v1" }])
    );
    assert_eq!(pod.r#type.as_ref().unwrap().value, ["object"]);
    let props = pod.properties.as_ref().unwrap();
    let metadata = props
        .additional_properties
        .iter()
        .find(|p| p.name == "metadata")
        .and_then(|p| p.value.as_ref())
        .unwrap();
    assert_eq!(
        metadata.xref,
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );

    let paths = pb.paths.as_ref().unwrap();
    let item = paths
        .path
        .iter()
        .find(|p| p.name == "/api/v1/namespaces/{namespace}/pods/{name}")
        .and_then(|p| p.value.as_ref())
        .expect("the pod item path");
    let patch = item.patch.as_ref().expect("PATCH");
    assert!(
        patch
            .consumes
            .iter()
            .any(|c| c == "application/strategic-merge-patch+json")
    );
    let has_field_validation = patch.parameters.iter().any(|p| {
        matches!(&p.oneof, Some(swagger_pb::parameters_item::Oneof::Parameter(swagger_pb::Parameter {
            oneof: Some(swagger_pb::parameter::Oneof::NonBodyParameter(swagger_pb::NonBodyParameter {
                oneof: Some(swagger_pb::non_body_parameter::Oneof::QueryParameterSubSchema(q)),
            })),
        })) if q.name == "fieldValidation")
    });
    assert!(has_field_validation);
    let gvk = patch
        .vendor_extension
        .iter()
        .find(|e| e.name == "x-kubernetes-group-version-kind")
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&gvk.value.as_ref().unwrap().yaml).unwrap()["kind"],
        "Pod"
    );
    assert_eq!(
        pb.security_definitions
            .as_ref()
            .unwrap()
            .additional_properties[0]
            .name,
        "BearerToken"
    );
    // Re-encoding the decoded message gives the same bytes: nothing was lost or unknown.
    assert_eq!(pb.encode_to_vec(), v2.protobuf().as_ref());
}

#[test]
fn accept_negotiation() {
    let client_go = Some("application/com.github.proto-openapi.spec.v2@v1.0+protobuf");
    assert_eq!(negotiate_v2(client_go), Some(V2Format::Protobuf));
    assert_eq!(
        negotiate_v2(Some(CONTENT_TYPE_V2_PROTOBUF)),
        Some(V2Format::Protobuf)
    );
    assert_eq!(negotiate_v2(Some("application/json")), Some(V2Format::Json));
    assert_eq!(negotiate_v2(None), Some(V2Format::Json));
    assert_eq!(negotiate_v2(Some("*/*")), Some(V2Format::Json));
    assert_eq!(
        negotiate_v2(Some(
            "application/json;q=0.5, application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
        )),
        Some(V2Format::Protobuf)
    );
    assert_eq!(negotiate_v2(Some("text/html")), None);
    assert!(accepts_v3_json(Some("application/json")));
    assert!(accepts_v3_json(None));
    assert!(!accepts_v3_json(Some(
        "application/com.github.proto-openapi.spec.v3.v1.0+protobuf"
    )));
    assert!(!accepts_v3_json(Some("application/json;q=0")));
}

/// How long building every built-in document (3.0 and 2.0) may take in a test build. An
/// unoptimised build takes about 0.6 s here and a release build under 0.15 s; the budget
/// catches accidental quadratic work, not scheduling noise on a shared machine.
const BUILD_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

#[test]
fn building_every_built_in_document_is_fast() {
    let _ = super::definitions::converted();
    let start = std::time::Instant::now();
    let api = OpenApi::build(RESOURCES, &[]).expect("builds");
    let v2 = api.v2().expect("the 2.0 document builds");
    let elapsed = start.elapsed();
    assert!(elapsed < BUILD_BUDGET, "building took {elapsed:?}");
    let gvs: BTreeSet<(&str, &str)> = RESOURCES.iter().map(|r| (r.group, r.version)).collect();
    let groups: BTreeSet<&str> = RESOURCES
        .iter()
        .map(|r| r.group)
        .filter(|g| !g.is_empty())
        .collect();
    // One per group-version, one per named group, and api, apis, version.
    assert_eq!(api.v3_documents().count(), gvs.len() + groups.len() + 3);
    assert!(!v2.protobuf().is_empty());
}
