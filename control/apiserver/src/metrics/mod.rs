//! The resource metrics pipeline (metrics-server's job), inside the API server process:
//! a scraper reads every Ready node's `/metrics/resource` from its agent every
//! resolution (15 s by default), keeps the last two points of each series in memory
//! (`store.rs`), and the API serves `metrics.k8s.io/v1beta1` NodeMetrics and PodMetrics
//! from them — CPU as the rate between the two points in nanocores, memory as the latest
//! working set — with RBAC on `nodes`/`pods` of group `metrics.k8s.io` (verbs get and
//! list), label and field selectors over the nodes' and pods' own labels and fields, and
//! kube's Status errors. `kubectl top` reads it.
//!
//! The agents are reached as for `pods/log` (`kubelet.rs`): the node's address from its
//! status, the API server's kubelet client certificate.

pub mod prom;
pub mod store;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use std::collections::BTreeMap;

use clipper_proto::Quantity;
use clipper_proto::api::core::v1::Node;
use http::{Method, Response};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::api::{ListFrom, ListOptions, Scope};
use crate::auth::{Attributes, UserInfo};
use crate::cache::CachedObject;
use crate::http::request::{Query, ResourcePath};
use crate::http::{Body, Server};
use crate::object::downcast;
use crate::status::ApiError;
pub use store::MetricsStore;

/// The API group and version served.
pub const GROUP: &str = "metrics.k8s.io";
pub const VERSION: &str = "v1beta1";
/// metrics-server's default `--metric-resolution`.
pub const DEFAULT_RESOLUTION: Duration = Duration::from_secs(15);
/// Longest a scrape of one node may take.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest `/metrics/resource` body read (a few hundred bytes per container).
pub const MAX_SCRAPE_BYTES: usize = 16 * 1024 * 1024;
/// Nodes scraped at once (one connection each); the rest wait for the next batch.
pub const MAX_CONCURRENT_SCRAPES: usize = 64;

fn group_version() -> String {
    format!("{GROUP}/{VERSION}")
}

fn group_value() -> Value {
    let gv = json!({"groupVersion": group_version(), "version": VERSION});
    json!({"name": GROUP, "versions": [gv.clone()], "preferredVersion": gv})
}

/// `/apis` with the metrics group added.
pub fn add_to_group_list(mut list: Value) -> Value {
    if let Some(groups) = list["groups"].as_array_mut()
        && !groups.iter().any(|g| g["name"] == GROUP)
    {
        groups.push(group_value());
    }
    list
}

/// `/apis/metrics.k8s.io`.
pub fn api_group() -> Value {
    let mut v = group_value();
    v["kind"] = json!("APIGroup");
    v["apiVersion"] = json!("v1");
    v
}

/// `/apis/metrics.k8s.io/v1beta1`, as metrics-server registers it.
pub fn api_resource_list() -> Value {
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version(),
        "resources": [
            {"name": "nodes", "singularName": "", "namespaced": false, "kind": "NodeMetrics", "verbs": ["get", "list"]},
            {"name": "pods", "singularName": "", "namespaced": true, "kind": "PodMetrics", "verbs": ["get", "list"]},
        ],
    })
}

/// A duration as Go's `time.Duration.String` writes it at millisecond precision
/// (`metav1.Duration`): `0s`, `500ms`, `15.002s`, `1m0.5s`, `2h0m0s`.
pub fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    if ms < 1000 {
        return format!("{sign}{ms}ms");
    }
    let secs = ms / 1000;
    let frac = ms % 1000;
    let mut s = format!("{}", secs % 60);
    if frac > 0 {
        let f = format!("{frac:03}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push('s');
    let mins = secs / 60;
    if mins == 0 {
        return format!("{sign}{s}");
    }
    let hours = mins / 60;
    if hours == 0 {
        return format!("{sign}{}m{s}", mins % 60);
    }
    format!("{sign}{hours}h{}m{s}", mins % 60)
}

fn rfc3339_ms(ms: i64) -> String {
    clipper_proto::Time(ms.div_euclid(1000)).to_string()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `{"cpu": "<n>n", "memory": "<bytes, canonical>"}` as metrics-server writes usage.
fn usage_value(nanocores: u64, memory_bytes: u64) -> Value {
    let cpu = Quantity::from_scaled(i64::try_from(nanocores).unwrap_or(i64::MAX), -9);
    let memory = Quantity::from_int(
        i64::try_from(memory_bytes).unwrap_or(i64::MAX),
        clipper_proto::quantity::Format::BinarySI,
    );
    json!({"cpu": cpu.to_string(), "memory": memory.to_string()})
}

/// What the metrics of an object show of it.
pub struct Meta<'a> {
    pub name: &'a str,
    pub namespace: Option<&'a str>,
    pub labels: &'a BTreeMap<String, String>,
}

impl<'a> From<&'a CachedObject> for Meta<'a> {
    fn from(o: &'a CachedObject) -> Meta<'a> {
        Meta {
            name: &o.name,
            namespace: o.namespace.as_deref(),
            labels: &o.labels,
        }
    }
}

/// The `NodeMetrics` of a node, if its usage is known.
pub fn node_metrics(store: &MetricsStore, node: &Meta<'_>, now_ms: i64) -> Option<Value> {
    let u = store.node_usage(node.name)?;
    Some(json!({
        "kind": "NodeMetrics",
        "apiVersion": group_version(),
        "metadata": {
            "name": node.name,
            "creationTimestamp": rfc3339_ms(now_ms),
            "labels": node.labels,
        },
        "timestamp": rfc3339_ms(u.timestamp_ms),
        "window": go_duration(u.window_ms),
        "usage": usage_value(u.nanocores, u.memory_bytes),
    }))
}

/// The `PodMetrics` of a pod, once each of its containers has a usage.
pub fn pod_metrics(store: &MetricsStore, pod: &Meta<'_>, now_ms: i64) -> Option<Value> {
    let namespace = pod.namespace.unwrap_or_default();
    let u = store.pod_usage(namespace, pod.name)?;
    let containers: Vec<Value> = u
        .containers
        .iter()
        .map(|(name, c)| json!({"name": name, "usage": usage_value(c.nanocores, c.memory_bytes)}))
        .collect();
    Some(json!({
        "kind": "PodMetrics",
        "apiVersion": group_version(),
        "metadata": {
            "name": pod.name,
            "namespace": namespace,
            "creationTimestamp": rfc3339_ms(now_ms),
            "labels": pod.labels,
        },
        "timestamp": rfc3339_ms(u.timestamp_ms),
        "window": go_duration(u.window_ms),
        "containers": containers,
    }))
}

fn not_found_path() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

/// A request under `/apis/metrics.k8s.io/...`. Responses are JSON whatever the client
/// offers (kubectl asks for protobuf alone and decodes JSON as well).
pub async fn handle(
    server: &Server,
    method: &Method,
    user: &UserInfo,
    path: ResourcePath,
    query: Query,
) -> Result<Response<Body>, ApiError> {
    let (kind, core_resource) = match (path.version.as_str(), path.resource.as_str()) {
        (VERSION, "nodes") if path.namespace.is_none() => ("nodemetrics", "nodes"),
        (VERSION, "pods") => ("podmetrics", "pods"),
        _ => return Err(not_found_path()),
    };
    if path.subresource.is_some() {
        return Err(not_found_path());
    }
    let verb = match (method, path.name.is_some()) {
        (&Method::GET | &Method::HEAD, true) => "get",
        (&Method::GET | &Method::HEAD, false) if !query.flag("watch") => "list",
        (&Method::GET | &Method::HEAD, false) => "watch",
        _ => "other",
    };
    server.security.authorize(&Attributes {
        user,
        verb,
        api_group: GROUP,
        resource: &path.resource,
        subresource: "",
        namespace: path.namespace.as_deref().unwrap_or(""),
        name: path.name.as_deref().unwrap_or(""),
        path: "",
        resource_request: true,
        field_selector: &[],
    })?;
    if verb != "get" && verb != "list" {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({verb} {})",
            path.resource
        )));
    }
    let served = server
        .api
        .served
        .load()
        .get("", "v1", core_resource)
        .cloned()
        .ok_or_else(|| ApiError::internal(format!("{core_resource} are not served")))?;
    let scope = Scope {
        served: served.clone(),
        namespace: path.namespace.clone(),
    };
    let now = now_ms();
    let render = |obj: &Meta<'_>| match kind {
        "nodemetrics" => node_metrics(&server.metrics, obj, now),
        _ => pod_metrics(&server.metrics, obj, now),
    };
    let body = if let Some(name) = &path.name {
        let missing = || ApiError::not_found(GROUP, kind, name);
        let obj = server
            .api
            .get(&scope, name)
            .await
            .map_err(|e| if e.code == 404 { missing() } else { e })?;
        let empty = BTreeMap::new();
        let meta = obj.meta();
        render(&Meta {
            name,
            namespace: path.namespace.as_deref(),
            labels: meta.labels.as_ref().unwrap_or(&empty),
        })
        .ok_or_else(missing)?
    } else {
        let filter = crate::http::resources::filter(&served, path.namespace.as_deref(), &query)?;
        let list = server
            .api
            .list(
                &scope,
                &ListOptions {
                    filter,
                    from: ListFrom::Any,
                    ..Default::default()
                },
            )
            .await?;
        let items: Vec<Value> = list
            .items
            .iter()
            .filter_map(|o| render(&Meta::from(o.as_ref())))
            .collect();
        let list_kind = if kind == "nodemetrics" {
            "NodeMetricsList"
        } else {
            "PodMetricsList"
        };
        json!({"kind": list_kind, "apiVersion": group_version(), "metadata": {}, "items": items})
    };
    let bytes = serde_json::to_vec(&body).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(crate::http::response::json_bytes(200, bytes))
}

/// Whether a node's Ready condition is True.
fn ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Scrapes one node's agent: its samples decoded, or why not.
async fn scrape(server: &Server, node: &Node) -> Result<store::Batch, String> {
    let endpoint = crate::kubelet::node_endpoint(node)?;
    let resp = server
        .kubelet
        .get(&endpoint, "/metrics/resource")
        .await
        .map_err(|e| e.message)?;
    let code = resp.status().as_u16();
    let body = http_body_util::Limited::new(resp.into_body(), MAX_SCRAPE_BYTES)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|e| format!("reading the response: {e}"))?;
    if code != 200 {
        return Err(format!(
            "status {code}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)]).trim()
        ));
    }
    let text = std::str::from_utf8(&body).map_err(|_| "the body is not UTF-8".to_string())?;
    let samples = prom::parse(text).map_err(|e| e.to_string())?;
    Ok(store::decode(&samples, now_ms()))
}

/// One round: every Ready node scraped, `MAX_CONCURRENT_SCRAPES` at a time; nodes that
/// are gone, not ready or whose scrape failed are forgotten (their metrics are not
/// reported), as metrics-server does.
pub async fn scrape_all(server: &Server) -> Result<(), ApiError> {
    let served = server
        .api
        .served
        .load()
        .get("", "v1", "nodes")
        .cloned()
        .ok_or_else(|| ApiError::internal("nodes are not served"))?;
    let scope = Scope {
        served: served.clone(),
        namespace: None,
    };
    let list = server
        .api
        .list(
            &scope,
            &ListOptions {
                from: ListFrom::Any,
                ..Default::default()
            },
        )
        .await?;
    let mut nodes = Vec::new();
    for item in &list.items {
        let obj = item.decode(&served.codec)?;
        if let Some(node) = downcast::<Node>(obj.as_ref())
            && ready(node)
        {
            nodes.push((item.name.clone(), node.clone()));
        }
    }
    let names: Vec<String> = nodes.iter().map(|(n, _)| n.clone()).collect();
    server.metrics.retain(|n| names.iter().any(|m| m == n));
    let mut results = Vec::with_capacity(nodes.len());
    for chunk in nodes.chunks(MAX_CONCURRENT_SCRAPES) {
        results.extend(
            futures_util::future::join_all(chunk.iter().map(|(name, node)| async move {
                let r = tokio::time::timeout(SCRAPE_TIMEOUT, scrape(server, node))
                    .await
                    .unwrap_or_else(|_| Err("timed out".into()));
                (name, r)
            }))
            .await,
        );
    }
    for (name, result) in results {
        match result {
            Ok(batch) => server.metrics.ingest(name, batch),
            Err(why) => {
                tracing::debug!(node = %name, "scraping resource metrics: {why}");
                server.metrics.forget(name);
            }
        }
    }
    Ok(())
}

/// The running scraper; stops when dropped.
pub struct Scraper(tokio::task::JoinHandle<()>);

impl Drop for Scraper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts scraping every `resolution` on the current tokio runtime.
pub fn start(server: Arc<Server>, resolution: Duration) -> Scraper {
    let resolution = resolution.max(Duration::from_millis(100));
    Scraper(tokio::spawn(async move {
        let mut tick = tokio::time::interval(resolution);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = scrape_all(&server).await {
                tracing::warn!("scraping resource metrics: {}", e.message);
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_print_as_go_durations() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(500), "500ms");
        assert_eq!(go_duration(1000), "1s");
        assert_eq!(go_duration(15_002), "15.002s");
        assert_eq!(go_duration(15_500), "15.5s");
        assert_eq!(go_duration(60_500), "1m0.5s");
        assert_eq!(go_duration(7_200_000), "2h0m0s");
    }

    #[test]
    fn usage_is_nanocores_and_binary_bytes() {
        assert_eq!(
            usage_value(12_345, 4096 * 3),
            json!({"cpu": "12345n", "memory": "12Ki"})
        );
        assert_eq!(
            usage_value(250_000_000, 4 * 1024 * 1024),
            json!({"cpu": "250m", "memory": "4Mi"})
        );
        assert_eq!(usage_value(0, 0), json!({"cpu": "0", "memory": "0"}));
    }

    #[test]
    fn discovery_names_the_group() {
        let list = add_to_group_list(json!({"kind": "APIGroupList", "groups": []}));
        assert_eq!(list["groups"][0]["name"], GROUP);
        assert_eq!(
            list["groups"][0]["preferredVersion"]["groupVersion"],
            "metrics.k8s.io/v1beta1"
        );
        assert_eq!(add_to_group_list(list.clone()), list);
        assert_eq!(api_group()["kind"], "APIGroup");
        let resources = api_resource_list();
        assert_eq!(resources["resources"][1]["kind"], "PodMetrics");
        assert_eq!(resources["resources"][1]["namespaced"], true);
    }
}
