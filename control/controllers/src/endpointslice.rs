//! The EndpointSlice controller, as kube-controller-manager's (pkg/controller/endpointslice),
//! simplified: for every Service with a selector (not ExternalName), the pods of its
//! namespace that match, are not terminal and have an IP become endpoints (ready,
//! serving, terminating; a target reference to the pod; its node), grouped by the ports
//! the Service's target ports resolve to on each pod, at most
//! [`MAX_ENDPOINTS_PER_SLICE`] to a slice.
//!
//! Slices are named `<service>-<random>`, labelled `kubernetes.io/service-name` and
//! `endpointslice.kubernetes.io/managed-by` ([`MANAGED_BY`]) and controlled by the
//! Service. Only slices with that label are touched: a slice that already holds what is
//! wanted is kept, others are updated in place, surplus ones deleted, missing ones
//! created. Not done (yet): kube's v1 Endpoints object, zones and topology hints,
//! IPv6 (addressType IPv4 only), events.

use std::collections::BTreeMap;
use std::sync::Arc;

use clipper_client::informer::Change;
use clipper_client::{ClientError, QuicClient};
use clipper_proto::IntOrString;
use clipper_proto::api::core::v1::{ObjectReference, Pod, Service};
use clipper_proto::api::discovery::v1::{
    Endpoint, EndpointConditions, EndpointPort, EndpointSlice,
};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::controller::{self, Expectations, Informed, is_pod_ready, key};
use crate::workqueue::WorkQueue;

/// Concurrent syncs (kube's `--concurrent-service-endpoint-syncs` default).
pub const WORKERS: usize = 5;
/// kube's default `--max-endpoints-per-slice`.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// The label naming a slice's Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The label naming a slice's manager, and this controller's value of it.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";

/// The controller's identity (kube's service account for it).
pub const USER: &str = "system:serviceaccount:kube-system:endpointslice-controller";
pub const SERVICE_ACCOUNT: &str = "endpointslice-controller";

/// Its ClusterRole and binding (kube's `system:controller:endpointslice-controller`).
pub fn rbac_objects() -> [(&'static str, Value); 2] {
    controller::controller_rbac(
        SERVICE_ACCOUNT,
        json!([
            {"apiGroups": [""], "resources": ["services", "pods", "nodes"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["services/finalizers"], "verbs": ["update"]},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["create", "delete", "get", "list", "update", "watch"]},
            controller::events_rule(),
        ]),
    )
}

// ---------------------------------------------------------------------------------------
// The pure parts.

/// One wanted slice: its ports and endpoints (sorted, so equal content compares equal).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Desired {
    pub ports: Vec<EndpointPort>,
    pub endpoints: Vec<Endpoint>,
}

/// Whether the controller handles `svc`: it has a selector and is not ExternalName.
pub fn wants_slices(svc: &Service) -> bool {
    let Some(spec) = svc.spec.as_ref() else {
        return false;
    };
    spec.type_.as_deref() != Some("ExternalName") && spec.selector.is_some()
}

/// kube's `ShouldPodBeInEndpoints` (terminating pods included): not terminal, has an IP.
fn pod_included(p: &Pod) -> bool {
    let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
    let ip = p.status.as_ref().and_then(|s| s.pod_ip.as_deref());
    !matches!(phase, Some("Succeeded") | Some("Failed")) && ip.is_some_and(|ip| !ip.is_empty())
}

/// The container port a named target port means on `pod` (kube's `FindPort`).
fn find_port(pod: &Pod, target: &IntOrString, protocol: &str) -> Option<i32> {
    match target {
        IntOrString::Int(n) => Some(*n),
        IntOrString::String(name) => pod
            .spec
            .as_ref()?
            .containers
            .iter()
            .flat_map(|c| c.ports.as_deref().unwrap_or(&[]))
            .find(|p| {
                p.name.as_deref() == Some(name.as_str())
                    && p.protocol.as_deref().unwrap_or("TCP") == protocol
            })
            .map(|p| p.container_port),
    }
}

/// The slice ports of `svc` on `pod` (kube's `getEndpointPorts`: a named port the pod
/// does not have is left out).
fn endpoint_ports(svc: &Service, pod: &Pod) -> Vec<EndpointPort> {
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or(&[]);
    ports
        .iter()
        .filter_map(|sp| {
            let protocol = sp.protocol.clone().unwrap_or_else(|| "TCP".into());
            let target = sp.target_port.clone().unwrap_or(IntOrString::Int(sp.port));
            let target = match target {
                IntOrString::Int(0) => IntOrString::Int(sp.port),
                t => t,
            };
            Some(EndpointPort {
                name: Some(sp.name.clone().unwrap_or_default()),
                port: Some(find_port(pod, &target, &protocol)?),
                protocol: Some(protocol),
                app_protocol: sp.app_protocol.clone(),
            })
        })
        .collect()
}

/// kube's `podToEndpoint`.
fn pod_endpoint(svc: &Service, pod: &Pod) -> Endpoint {
    let serving = is_pod_ready(pod);
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let publish = svc
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let spec = pod.spec.as_ref();
    let hostname = spec
        .and_then(|s| s.hostname.clone())
        .filter(|_| spec.and_then(|s| s.subdomain.as_deref()) == svc.metadata.name.as_deref());
    Endpoint {
        addresses: vec![
            pod.status
                .as_ref()
                .and_then(|s| s.pod_ip.clone())
                .unwrap_or_default(),
        ],
        conditions: Some(EndpointConditions {
            ready: Some(publish || (serving && !terminating)),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        hostname,
        node_name: spec.and_then(|s| s.node_name.clone()),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            name: pod.metadata.name.clone(),
            namespace: pod.metadata.namespace.clone(),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// What orders and compares ports: name, protocol, number.
fn port_key(p: &EndpointPort) -> (String, String, i32) {
    (
        p.name.clone().unwrap_or_default(),
        p.protocol.clone().unwrap_or_else(|| "TCP".into()),
        p.port.unwrap_or(0),
    )
}

/// What compares endpoints: what this controller writes (the server may add defaults).
type EndpointKey = (
    Vec<String>,
    (Option<bool>, Option<bool>, Option<bool>),
    Option<String>,
    Option<String>,
    Option<(Option<String>, Option<String>, Option<String>)>,
);

fn endpoint_key(e: &Endpoint) -> EndpointKey {
    let c = e.conditions.clone().unwrap_or_default();
    (
        e.addresses.clone(),
        (c.ready, c.serving, c.terminating),
        e.hostname.clone(),
        e.node_name.clone(),
        e.target_ref
            .as_ref()
            .map(|r| (r.name.clone(), r.namespace.clone(), r.uid.clone())),
    )
}

/// The slices `svc` should have over `pods` (any pods of its namespace; the selector is
/// applied here): grouped by resolved port set, at most `max_per_slice` endpoints each.
pub fn desired_slices(svc: &Service, pods: &[Arc<Pod>], max_per_slice: usize) -> Vec<Desired> {
    let Some(sel) = svc.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return Vec::new();
    };
    let ns = svc.metadata.namespace.as_deref().unwrap_or("");
    let mut groups: BTreeMap<Vec<(String, String, i32)>, Desired> = BTreeMap::new();
    for pod in pods {
        let labels = controller::labels(&pod.metadata);
        if pod.metadata.namespace.as_deref().unwrap_or("") != ns
            || !sel.iter().all(|(k, v)| labels.get(k) == Some(v))
            || !pod_included(pod)
        {
            continue;
        }
        let mut ports = endpoint_ports(svc, pod);
        ports.sort_by_key(port_key);
        let g = groups
            .entry(ports.iter().map(port_key).collect())
            .or_insert_with(|| Desired {
                ports,
                endpoints: Vec::new(),
            });
        g.endpoints.push(pod_endpoint(svc, pod));
    }
    let mut out = Vec::new();
    for (_, mut g) in groups {
        g.endpoints.sort_by_key(endpoint_key);
        for chunk in g.endpoints.chunks(max_per_slice.max(1)) {
            out.push(Desired {
                ports: g.ports.clone(),
                endpoints: chunk.to_vec(),
            });
        }
    }
    out
}

/// Whether `slice` holds `d` already.
pub fn holds(slice: &EndpointSlice, d: &Desired) -> bool {
    let mut ports: Vec<_> = slice
        .ports
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(port_key)
        .collect();
    ports.sort();
    let mut eps: Vec<_> = slice.endpoints.iter().map(endpoint_key).collect();
    eps.sort();
    slice.address_type == "IPv4"
        && ports == d.ports.iter().map(port_key).collect::<Vec<_>>()
        && eps == d.endpoints.iter().map(endpoint_key).collect::<Vec<_>>()
}

/// What to write: keep (index into existing), update (existing index, desired),
/// create (desired), delete (existing index).
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub keep: Vec<usize>,
    pub update: Vec<(usize, usize)>,
    pub create: Vec<usize>,
    pub delete: Vec<usize>,
}

/// Matches `existing` managed slices to `desired` ones: unchanged slices are kept, the
/// rest of the desired ones reuse the remaining slices (same ports first) or are
/// created; slices left over are deleted.
pub fn plan(existing: &[&EndpointSlice], desired: &[Desired]) -> Plan {
    let mut used = vec![false; existing.len()];
    let mut plan = Plan::default();
    let mut unmatched = Vec::new();
    for (di, d) in desired.iter().enumerate() {
        match (0..existing.len()).find(|&i| !used[i] && holds(existing[i], d)) {
            Some(i) => {
                used[i] = true;
                plan.keep.push(i);
            }
            None => unmatched.push(di),
        }
    }
    for di in unmatched {
        let d = &desired[di];
        let same_ports = |i: usize| {
            let mut p: Vec<_> = existing[i]
                .ports
                .as_deref()
                .unwrap_or(&[])
                .iter()
                .map(port_key)
                .collect();
            p.sort();
            p == d.ports.iter().map(port_key).collect::<Vec<_>>()
        };
        let pick = (0..existing.len())
            .find(|&i| !used[i] && same_ports(i))
            .or_else(|| (0..existing.len()).find(|&i| !used[i]));
        match pick {
            Some(i) => {
                used[i] = true;
                plan.update.push((i, di));
            }
            None => plan.create.push(di),
        }
    }
    plan.delete = (0..existing.len()).filter(|&i| !used[i]).collect();
    plan
}

/// Whether a slice is this controller's and belongs to the Service `name`.
pub fn managed_for(slice: &EndpointSlice, name: &str) -> bool {
    let labels = slice.metadata.labels.as_ref();
    labels
        .and_then(|l| l.get(MANAGED_BY_LABEL))
        .map(String::as_str)
        == Some(MANAGED_BY)
        && labels
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
            .map(String::as_str)
            == Some(name)
}

/// The JSON body of a slice for `svc` holding `d` (with `meta` as its metadata base).
fn slice_body(svc: &Service, d: &Desired, mut meta: Value) -> Value {
    let name = svc.metadata.name.as_deref().unwrap_or("");
    let owner = controller::controller_ref("v1", "Service", &svc.metadata);
    meta["namespace"] = json!(svc.metadata.namespace);
    meta["ownerReferences"] = json!([owner]);
    let labels = meta["labels"].as_object_mut().cloned().unwrap_or_default();
    let mut labels = labels;
    labels.insert(SERVICE_NAME_LABEL.into(), json!(name));
    labels.insert(MANAGED_BY_LABEL.into(), json!(MANAGED_BY));
    meta["labels"] = Value::Object(labels);
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": meta,
        "addressType": "IPv4",
        "endpoints": d.endpoints,
        "ports": d.ports,
    })
}

// ---------------------------------------------------------------------------------------
// The controller.

struct Shared {
    client: Arc<QuicClient>,
    services: Arc<Informed<Service>>,
    pods: Arc<Informed<Pod>>,
    slices: Arc<Informed<EndpointSlice>>,
    queue: WorkQueue<String>,
    expectations: Expectations,
}

/// The EndpointSlice controller; [`EndpointSliceController::run`] drives it.
pub struct EndpointSliceController {
    shared: Arc<Shared>,
}

fn slices_path(ns: &str) -> String {
    format!("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices")
}

impl EndpointSliceController {
    pub fn new(client: &Arc<QuicClient>) -> EndpointSliceController {
        EndpointSliceController {
            shared: Arc::new(Shared {
                client: client.clone(),
                services: Arc::default(),
                pods: Arc::default(),
                slices: Arc::default(),
                queue: WorkQueue::default(),
                expectations: Expectations::default(),
            }),
        }
    }

    /// Runs until `stop` turns true; every error is logged and retried.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let s = self.shared;
        let mut tasks = Vec::new();
        let h = s.clone();
        tasks.push(tokio::spawn(controller::inform(
            s.client.clone(),
            "",
            "v1",
            "services",
            s.services.clone(),
            move |c| h.on_service(c),
            stop.clone(),
        )));
        let h = s.clone();
        tasks.push(tokio::spawn(controller::inform(
            s.client.clone(),
            "",
            "v1",
            "pods",
            s.pods.clone(),
            move |c| h.on_pod(c),
            stop.clone(),
        )));
        let h = s.clone();
        tasks.push(tokio::spawn(controller::inform(
            s.client.clone(),
            "discovery.k8s.io",
            "v1",
            "endpointslices",
            s.slices.clone(),
            move |c| h.on_slice(c),
            stop.clone(),
        )));
        let mut stopped = stop.clone();
        tokio::select! {
            _ = async {
                s.services.wait_synced().await;
                s.pods.wait_synced().await;
                s.slices.wait_synced().await;
            } => {}
            _ = stopped.changed() => {}
        }
        tracing::info!("endpointslice controller: caches synced; running");
        for _ in 0..WORKERS {
            tasks.push(tokio::spawn(s.clone().worker(stop.clone())));
        }
        let _ = stopped.wait_for(|s| *s).await;
        for t in tasks {
            t.abort();
        }
    }
}

impl Shared {
    fn on_service(&self, c: Change<Service>) {
        match c {
            Change::Added(s) | Change::Updated { new: s, .. } | Change::Deleted(s) => {
                self.queue.add(key(&s.metadata))
            }
            Change::Synced(_) => {}
        }
    }

    /// The Services of the pod's namespace whose selector matches it.
    fn services_of(&self, pod: &Pod) -> Vec<String> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        let labels = controller::labels(&pod.metadata);
        self.services
            .list_namespace(ns)
            .into_iter()
            .filter(|s| {
                s.spec
                    .as_ref()
                    .and_then(|s| s.selector.as_ref())
                    .is_some_and(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
            })
            .map(|s| key(&s.metadata))
            .collect()
    }

    fn on_pod(&self, c: Change<Pod>) {
        let mut keys = Vec::new();
        match c {
            Change::Added(p) | Change::Deleted(p) => keys = self.services_of(&p),
            Change::Updated { old, new } => {
                keys.extend(self.services_of(&old));
                keys.extend(self.services_of(&new));
            }
            Change::Synced(_) => {}
        }
        for k in keys {
            self.queue.add(k);
        }
    }

    fn on_slice(&self, c: Change<EndpointSlice>) {
        let (slice, added) = match c {
            Change::Added(s) => (s, Some(true)),
            Change::Deleted(s) => (s, Some(false)),
            Change::Updated { new, .. } => (new, None),
            Change::Synced(_) => return,
        };
        let labels = slice.metadata.labels.as_ref();
        if labels
            .and_then(|l| l.get(MANAGED_BY_LABEL))
            .map(String::as_str)
            != Some(MANAGED_BY)
        {
            return;
        }
        let Some(svc) = labels.and_then(|l| l.get(SERVICE_NAME_LABEL)) else {
            return;
        };
        let ns = slice.metadata.namespace.as_deref().unwrap_or("");
        let k = format!("{ns}/{svc}");
        match added {
            Some(true) => self.expectations.creation_observed(&k),
            Some(false) => self
                .expectations
                .deletion_observed(&k, &key(&slice.metadata)),
            None => {}
        }
        self.queue.add(k);
    }

    async fn worker(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            let k = tokio::select! {
                _ = stop.changed() => return,
                k = self.queue.get() => k,
            };
            match self.sync(&k).await {
                Ok(()) => self.queue.forget(&k),
                Err(e) => {
                    tracing::info!(service = %k, error = %e, "endpointslice controller: sync failed; will retry");
                    self.queue.retry(k.clone());
                }
            }
            self.queue.done(&k);
        }
    }

    async fn sync(&self, k: &str) -> Result<(), ClientError> {
        // Until the watch shows the last sync's creations and deletions, the cache
        // would make it create or delete again.
        if !self.expectations.satisfied(k) {
            return Ok(());
        }
        let (ns, name) = controller::split_key(k);
        let svc = self.services.get(k);
        let existing: Vec<Arc<EndpointSlice>> = self
            .slices
            .list_namespace(ns)
            .into_iter()
            .filter(|s| managed_for(s, name))
            .collect();
        let desired = match &svc {
            Some(svc) if svc.metadata.deletion_timestamp.is_none() && wants_slices(svc) => {
                desired_slices(svc, &self.pods.list_namespace(ns), MAX_ENDPOINTS_PER_SLICE)
            }
            // A selector-less Service's slices are someone else's to write.
            Some(svc) if svc.metadata.deletion_timestamp.is_none() => return Ok(()),
            _ => Vec::new(),
        };
        let refs: Vec<&EndpointSlice> = existing.iter().map(|s| s.as_ref()).collect();
        let plan = plan(&refs, &desired);
        let path = slices_path(ns);
        let mut first_error = None;
        if let Some(svc) = &svc {
            for &(i, di) in &plan.update {
                let old = &existing[i];
                let meta = json!({
                    "name": old.metadata.name,
                    "resourceVersion": old.metadata.resource_version,
                    "labels": old.metadata.labels,
                    "annotations": old.metadata.annotations,
                });
                let body = slice_body(svc, &desired[di], meta);
                let p = format!("{path}/{}", old.metadata.name.as_deref().unwrap_or(""));
                if let Err(e) = self.client.json("PUT", &p, None, Some(&body)).await {
                    first_error.get_or_insert(e);
                }
            }
            self.expectations.expect_creations(k, plan.create.len());
            for &di in &plan.create {
                let meta = json!({"generateName": format!("{name}-")});
                let body = slice_body(svc, &desired[di], meta);
                if let Err(e) = self.client.json("POST", &path, None, Some(&body)).await {
                    self.expectations.creation_observed(k);
                    first_error.get_or_insert(e);
                }
            }
        }
        if !plan.delete.is_empty() {
            let doomed: Vec<String> = plan
                .delete
                .iter()
                .map(|&i| key(&existing[i].metadata))
                .collect();
            self.expectations.expect_deletions(k, doomed.clone());
            for d in doomed {
                let (_, slice) = controller::split_key(&d);
                match self
                    .client
                    .json("DELETE", &format!("{path}/{slice}"), None, None)
                    .await
                {
                    Ok(_) => {}
                    Err(e) => {
                        self.expectations.deletion_observed(k, &d);
                        if controller::code(&e) != Some(404) {
                            first_error.get_or_insert(e);
                        }
                    }
                }
            }
        }
        if svc.is_none() {
            self.expectations.forget(k);
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(target: IntOrString) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "s1"},
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": target}],
            },
        }))
        .unwrap()
    }

    fn pod(name: &str, ip: Option<&str>, port: i32, ready: bool, labels: Value) -> Arc<Pod> {
        let mut p: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "uid": format!("u-{name}"), "labels": labels},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i",
                "ports": [{"name": "http", "containerPort": port}]}]},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": if ready { "True" } else { "False" }}]},
        }))
        .unwrap();
        if let Some(ip) = ip {
            p.status.as_mut().unwrap().pod_ip = Some(ip.into());
        }
        Arc::new(p)
    }

    /// (address, ready, serving, terminating) per endpoint, and port numbers, per slice.
    type Summary = Vec<(Vec<i32>, Vec<(String, bool, bool, bool)>)>;

    fn summary(d: &[Desired]) -> Summary {
        d.iter()
            .map(|d| {
                (
                    d.ports.iter().map(|p| p.port.unwrap()).collect(),
                    d.endpoints
                        .iter()
                        .map(|e| {
                            let c = e.conditions.clone().unwrap();
                            (
                                e.addresses[0].clone(),
                                c.ready.unwrap(),
                                c.serving.unwrap(),
                                c.terminating.unwrap(),
                            )
                        })
                        .collect(),
                )
            })
            .collect()
    }

    #[track_caller]
    fn check(svc: &Service, pods: &[Arc<Pod>], max: usize, expect: Summary) {
        assert_eq!(summary(&desired_slices(svc, pods, max)), expect);
    }

    fn ep(ip: &str, ready: bool, serving: bool, term: bool) -> (String, bool, bool, bool) {
        (ip.into(), ready, serving, term)
    }

    #[test]
    fn named_target_ports_resolve_per_pod() {
        let s = svc(IntOrString::String("http".into()));
        let web = json!({"app": "web"});
        check(
            &s,
            &[
                pod("a", Some("10.0.0.1"), 8080, true, web.clone()),
                pod("b", Some("10.0.0.2"), 8080, false, web.clone()),
                pod("c", Some("10.0.0.3"), 9090, true, web.clone()),
                pod("d", None, 8080, true, web.clone()),
                pod("e", Some("10.0.0.5"), 8080, true, json!({"app": "other"})),
            ],
            100,
            vec![
                (
                    vec![8080],
                    vec![
                        ep("10.0.0.1", true, true, false),
                        ep("10.0.0.2", false, false, false),
                    ],
                ),
                (vec![9090], vec![ep("10.0.0.3", true, true, false)]),
            ],
        );
    }

    #[test]
    fn numbers_default_terminating_and_chunks() {
        let web = json!({"app": "web"});
        let mut term = (*pod("t", Some("10.0.0.9"), 1, true, web.clone())).clone();
        term.metadata.deletion_timestamp = Some(clipper_proto::Time(1));
        let mut done = (*pod("f", Some("10.0.0.8"), 1, true, web.clone())).clone();
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        let pods = [
            pod("a", Some("10.0.0.1"), 1, true, web.clone()),
            pod("b", Some("10.0.0.2"), 1, true, web.clone()),
            Arc::new(term),
            Arc::new(done),
        ];
        check(
            &svc(IntOrString::Int(0)),
            &pods,
            2,
            vec![
                (
                    vec![80],
                    vec![
                        ep("10.0.0.1", true, true, false),
                        ep("10.0.0.2", true, true, false),
                    ],
                ),
                (vec![80], vec![ep("10.0.0.9", false, true, true)]),
            ],
        );
        check(
            &svc(IntOrString::Int(7000)),
            &pods[..1],
            100,
            vec![(vec![7000], vec![ep("10.0.0.1", true, true, false)])],
        );
    }

    #[test]
    fn selectorless_and_external_name_services_get_nothing() {
        let mut s = svc(IntOrString::Int(80));
        s.spec.as_mut().unwrap().type_ = Some("ExternalName".into());
        assert!(!wants_slices(&s));
        s.spec.as_mut().unwrap().type_ = None;
        assert!(wants_slices(&s));
        s.spec.as_mut().unwrap().selector = None;
        assert!(!wants_slices(&s));
        check(
            &s,
            &[pod("a", Some("10.0.0.1"), 1, true, json!({"app": "web"}))],
            100,
            vec![],
        );
    }

    fn slice_of(name: &str, d: &Desired) -> EndpointSlice {
        EndpointSlice {
            metadata: clipper_proto::api::meta::v1::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            address_type: "IPv4".into(),
            endpoints: d.endpoints.clone(),
            ports: Some(d.ports.clone()),
        }
    }

    #[test]
    fn plans_keep_update_create_delete() {
        let web = json!({"app": "web"});
        let s = svc(IntOrString::String("http".into()));
        let a = pod("a", Some("10.0.0.1"), 8080, true, web.clone());
        let b = pod("b", Some("10.0.0.2"), 9090, true, web.clone());
        let both = desired_slices(&s, &[a.clone(), b], 100);
        assert_eq!(both.len(), 2);
        let only_a = desired_slices(&s, std::slice::from_ref(&a), 100);
        let x = slice_of("x", &both[0]);
        let y = slice_of("y", &both[1]);
        // Unchanged: all kept.
        assert_eq!(
            plan(&[&x, &y], &both),
            Plan {
                keep: vec![0, 1],
                ..Default::default()
            }
        );
        // A pod gone: its slice deleted.
        assert_eq!(
            plan(&[&x, &y], &only_a),
            Plan {
                keep: vec![0],
                delete: vec![1],
                ..Default::default()
            }
        );
        // Nothing yet: created.
        assert_eq!(
            plan(&[], &both),
            Plan {
                create: vec![0, 1],
                ..Default::default()
            }
        );
        // Content changed (a not ready): updated in place.
        let a2 = pod("a", Some("10.0.0.1"), 8080, false, web);
        let changed = desired_slices(&s, &[a2], 100);
        assert_eq!(
            plan(&[&x], &changed),
            Plan {
                update: vec![(0, 0)],
                ..Default::default()
            }
        );
    }
}
