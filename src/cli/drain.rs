//! `drain`: kubectl's drain of nodes. Each node is cordoned, then the pods on it
//! (`fieldSelector=spec.nodeName=NODE`, narrowed by `--pod-selector`) pass kubectl's
//! filters in kubectl's order — DaemonSet-managed pods are refused unless
//! `--ignore-daemonsets` (then left alone with a warning), mirror pods skipped, pods with
//! emptyDir volumes refused unless `--delete-emptydir-data`, pods without a controller
//! refused unless `--force`; finished pods always go. What remains is evicted
//! (`POST pods/NAME/eviction`, policy/v1; a 429 from a PodDisruptionBudget is retried
//! every 5 s until `--timeout`) or, with `--disable-eviction`, deleted; then drain waits
//! for each pod to be gone (polling once a second, as kubectl does) and prints
//! `pod/NAME evicted` (or `deleted`), and finally `node/NAME drained`. `--dry-run=client`
//! only prints what would be evicted; `--dry-run=server` sends the writes with
//! `dryRun=All` and waits for nothing.

use std::time::Duration;

use clipper_client::rest::Method;
use serde_json::{Value, json};

use super::{Global, Outcome, Result, ServerError, Session, query};

#[derive(clap::Args)]
pub struct DrainArgs {
    /// Node names.
    pub nodes: Vec<String>,
    /// Ignore DaemonSet-managed pods.
    #[arg(long)]
    pub ignore_daemonsets: bool,
    /// Continue even if there are pods using emptyDir (local data that will be deleted
    /// when the node is drained).
    #[arg(long, alias = "delete-local-data")]
    pub delete_emptydir_data: bool,
    /// Continue even if there are pods that do not declare a controller.
    #[arg(long)]
    pub force: bool,
    /// Period of time in seconds given to each pod to terminate gracefully. If negative,
    /// the default value specified in the pod will be used.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub grace_period: i64,
    /// The length of time to wait before giving up, zero means infinite.
    #[arg(long, default_value = "0s")]
    pub timeout: String,
    /// Force drain to use delete, even if eviction is supported. This will bypass
    /// checking PodDisruptionBudgets, use with caution.
    #[arg(long)]
    pub disable_eviction: bool,
    /// Label selector to filter pods on the node.
    #[arg(long)]
    pub pod_selector: Option<String>,
    /// Selector (label query) to filter on nodes.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// If pod DeletionTimestamp older than N seconds, skip waiting for the pod. Seconds
    /// must be greater than 0 to skip.
    #[arg(long, default_value_t = 0)]
    pub skip_wait_for_delete_timeout: i64,
    /// none, client (print what would be evicted) or server (send the requests with
    /// dryRun=All).
    #[arg(long, default_value = "none", num_args = 0..=1, default_missing_value = "client", require_equals = true)]
    pub dry_run: String,
    #[command(flatten)]
    pub global: Global,
}

const DAEMONSET_FATAL: &str = "DaemonSet-managed Pods (use --ignore-daemonsets to ignore)";
const DAEMONSET_WARNING: &str = "ignoring DaemonSet-managed Pods";
const LOCAL_STORAGE_FATAL: &str =
    "Pods with local storage (use --delete-emptydir-data to override)";
const LOCAL_STORAGE_WARNING: &str = "deleting Pods with local storage";
const UNMANAGED_FATAL: &str =
    "cannot delete Pods that declare no controller (use --force to override)";
const UNMANAGED_WARNING: &str = "deleting Pods that declare no controller";
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// What the filters decided for one pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Delete,
    Skip,
    Warn { delete: bool, message: String },
    Error(String),
}

impl Verdict {
    fn deletes(&self) -> bool {
        matches!(self, Verdict::Delete | Verdict::Warn { delete: true, .. })
    }
}

/// The filter flags.
#[derive(Clone, Copy, Debug, Default)]
pub struct Filters {
    pub ignore_daemonsets: bool,
    pub delete_emptydir_data: bool,
    pub force: bool,
    pub skip_wait_for_delete_timeout: i64,
}

fn finished(pod: &Value) -> bool {
    matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    )
}

fn controller_of(pod: &Value) -> Option<&Value> {
    pod["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"].as_bool() == Some(true))
}

/// kubectl's filters, in its order: each runs while the previous ones delete the pod,
/// and the last one run decides (so a later filter's plain pass drops an earlier one's
/// warning, as in kubectl). `daemonset_exists` answers whether a DaemonSet named by a
/// controller reference exists (`Err` carries the lookup's error text).
pub fn decide(
    pod: &Value,
    f: Filters,
    now: i64,
    daemonset_exists: &dyn Fn(&str) -> std::result::Result<bool, String>,
) -> Verdict {
    let filters: [&dyn Fn() -> Verdict; 5] = [
        // Deleted long enough ago: skipped.
        &|| {
            let old = f.skip_wait_for_delete_timeout > 0
                && pod["metadata"]["deletionTimestamp"]
                    .as_str()
                    .and_then(|ts| clipper_proto::Time::parse(ts).ok())
                    .is_some_and(|t| now - t.unix_seconds() > f.skip_wait_for_delete_timeout);
            if old { Verdict::Skip } else { Verdict::Delete }
        },
        // DaemonSet-managed.
        &|| {
            let Some(c) = controller_of(pod).filter(|c| c["kind"] == "DaemonSet") else {
                return Verdict::Delete;
            };
            if finished(pod) {
                return Verdict::Delete;
            }
            let name = c["name"].as_str().unwrap_or("");
            match daemonset_exists(name) {
                Ok(true) if f.ignore_daemonsets => Verdict::Warn {
                    delete: false,
                    message: DAEMONSET_WARNING.into(),
                },
                Ok(true) => Verdict::Error(DAEMONSET_FATAL.into()),
                Ok(false) if f.force => Verdict::Warn {
                    delete: true,
                    message: format!("daemonsets.apps \"{name}\" not found"),
                },
                Ok(false) => Verdict::Error(format!("daemonsets.apps \"{name}\" not found")),
                Err(e) => Verdict::Error(e),
            }
        },
        // Mirror pods.
        &|| {
            if pod["metadata"]["annotations"]
                .get(MIRROR_ANNOTATION)
                .is_some()
            {
                Verdict::Skip
            } else {
                Verdict::Delete
            }
        },
        // Local storage.
        &|| {
            let empty_dir = pod["spec"]["volumes"]
                .as_array()
                .is_some_and(|v| v.iter().any(|v| v.get("emptyDir").is_some()));
            if !empty_dir || finished(pod) {
                Verdict::Delete
            } else if !f.delete_emptydir_data {
                Verdict::Error(LOCAL_STORAGE_FATAL.into())
            } else {
                Verdict::Warn {
                    delete: true,
                    message: LOCAL_STORAGE_WARNING.into(),
                }
            }
        },
        // No controller.
        &|| {
            if finished(pod) || controller_of(pod).is_some() {
                Verdict::Delete
            } else if f.force {
                Verdict::Warn {
                    delete: true,
                    message: UNMANAGED_WARNING.into(),
                }
            } else {
                Verdict::Error(UNMANAGED_FATAL.into())
            }
        },
    ];
    let mut verdict = Verdict::Delete;
    for filter in filters {
        verdict = filter();
        if !verdict.deletes() {
            break;
        }
    }
    verdict
}

/// Groups messages as kubectl does: `MESSAGE: ns/a, ns/b`, groups in first-seen order.
fn grouped<'a>(items: impl Iterator<Item = (&'a str, String)>) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (msg, pod) in items {
        match out.iter_mut().find(|(m, _)| m == msg) {
            Some((_, pods)) => pods.push(pod),
            None => out.push((msg.to_string(), vec![pod])),
        }
    }
    out
}

/// kubectl's errors for the pods it cannot delete, grouped by message (kubectl 1.33
/// puts `cannot delete ` before every message, even those that start with it).
pub fn filter_errors(verdicts: &[(String, Verdict)]) -> Vec<String> {
    let items = verdicts.iter().filter_map(|(pod, v)| match v {
        Verdict::Error(m) => Some((m.as_str(), pod.clone())),
        _ => None,
    });
    grouped(items)
        .into_iter()
        .map(|(msg, pods)| format!("cannot delete {msg}: {}", pods.join(", ")))
        .collect()
}

/// kubectl's warning line for the pods deleted or left with a warning.
pub fn filter_warnings(verdicts: &[(String, Verdict)]) -> String {
    let items = verdicts.iter().filter_map(|(pod, v)| match v {
        Verdict::Warn { message, .. } => Some((message.as_str(), pod.clone())),
        _ => None,
    });
    grouped(items)
        .into_iter()
        .map(|(msg, pods)| format!("{msg}: {}", pods.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A duration as Go prints it (`5s`, `1m30s`, `1.5s`).
pub fn go_duration(d: Duration) -> String {
    let total = d.as_secs();
    let frac = d.subsec_nanos();
    let (h, m, s) = (total / 3600, (total / 60) % 60, total % 60);
    let secs = if frac == 0 {
        format!("{s}s")
    } else {
        let f = format!("{:09}", frac);
        format!("{s}.{}s", f.trim_end_matches('0'))
    };
    if h > 0 {
        format!("{h}h{m}m{secs}")
    } else if m > 0 {
        format!("{m}m{secs}")
    } else if total == 0 && frac == 0 {
        "0s".into()
    } else {
        secs
    }
}

/// `--dry-run`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DryRun {
    None,
    Client,
    Server,
}

impl DryRun {
    pub fn parse(s: &str) -> Result<DryRun> {
        Ok(match s {
            "none" => DryRun::None,
            "client" => DryRun::Client,
            "server" => DryRun::Server,
            other => anyhow::bail!(
                "Invalid dry-run value ({other}). Must be \"none\", \"server\", or \"client\"."
            ),
        })
    }

    /// What kubectl adds to each printed line.
    pub fn suffix(self) -> &'static str {
        match self {
            DryRun::None => "",
            DryRun::Client => " (dry run)",
            DryRun::Server => " (server dry run)",
        }
    }

    /// The query of a write (`?dryRun=All` on the server).
    fn query(self, field_manager: &str) -> String {
        let dry = if self == DryRun::Server { "All" } else { "" };
        query(&[("fieldManager", field_manager), ("dryRun", dry)])
    }
}

struct Drainer<'a> {
    session: &'a Session,
    args: &'a DrainArgs,
    /// Zero: no limit.
    timeout: Duration,
    dry_run: DryRun,
}

impl Drainer<'_> {
    async fn pods_on(&self, node: &str) -> Result<Vec<Value>> {
        let q = query(&[
            ("fieldSelector", &format!("spec.nodeName={node}")),
            (
                "labelSelector",
                self.args.pod_selector.as_deref().unwrap_or(""),
            ),
        ]);
        let list = self.session.get(&format!("/api/v1/pods{q}")).await?;
        Ok(list["items"].as_array().cloned().unwrap_or_default())
    }

    /// The pods to delete, or kubectl's errors.
    async fn pods_for_deletion(&self, node: &str) -> Result<(Vec<Value>, Vec<(String, Verdict)>)> {
        let pods = self.pods_on(node).await?;
        let filters = Filters {
            ignore_daemonsets: self.args.ignore_daemonsets,
            delete_emptydir_data: self.args.delete_emptydir_data,
            force: self.args.force,
            skip_wait_for_delete_timeout: self.args.skip_wait_for_delete_timeout,
        };
        let now = super::output::now_seconds();
        let mut verdicts = Vec::new();
        let mut deletable = Vec::new();
        for pod in pods {
            let ns = pod["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_string();
            // The DaemonSet lookups the filter needs, made before it runs.
            let mut daemonsets: Vec<(String, std::result::Result<bool, String>)> = Vec::new();
            if let Some(c) = controller_of(&pod).filter(|c| c["kind"] == "DaemonSet") {
                let name = c["name"].as_str().unwrap_or("").to_string();
                let path = format!("/apis/apps/v1/namespaces/{ns}/daemonsets/{name}");
                let found = match self.session.get(&path).await {
                    Ok(_) => Ok(true),
                    Err(e) if super::is_not_found(&e) => Ok(false),
                    Err(e) => Err(match e.downcast_ref::<ServerError>() {
                        Some(s) => s.status.message.clone(),
                        None => e.to_string(),
                    }),
                };
                daemonsets.push((name, found));
            }
            let lookup = |name: &str| {
                daemonsets
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, r)| r.clone())
                    .unwrap_or(Ok(false))
            };
            let v = decide(&pod, filters, now, &lookup);
            let id = format!("{ns}/{}", pod["metadata"]["name"].as_str().unwrap_or(""));
            if v.deletes() {
                deletable.push(pod);
            }
            verdicts.push((id, v));
        }
        Ok((deletable, verdicts))
    }

    fn deadline(&self) -> Option<tokio::time::Instant> {
        (!self.timeout.is_zero()).then(|| tokio::time::Instant::now() + self.timeout)
    }

    /// Evicts (or deletes) the pods, then waits for them to be gone.
    async fn remove(&self, pods: &[Value]) -> std::result::Result<(), Vec<String>> {
        let deadline = self.deadline();
        let evict = !self.args.disable_eviction;
        let mut errors = Vec::new();
        let mut removed = Vec::new();
        for pod in pods {
            let ns = pod["metadata"]["namespace"].as_str().unwrap_or("");
            let name = pod["metadata"]["name"].as_str().unwrap_or("");
            let result = if evict {
                self.evict(ns, name, deadline).await
            } else {
                self.delete(ns, name).await
            };
            match result {
                // A server dry run removes nothing: no wait.
                Ok(true) if self.dry_run == DryRun::Server => {}
                Ok(true) => removed.push(pod),
                // Already gone.
                Ok(false) => {
                    println!("pod/{name} {}", if evict { "evicted" } else { "deleted" });
                }
                Err(e) => {
                    if !evict {
                        return Err(vec![e]);
                    }
                    errors.push(e);
                }
            }
        }
        for pod in removed {
            let ns = pod["metadata"]["namespace"].as_str().unwrap_or("");
            let name = pod["metadata"]["name"].as_str().unwrap_or("");
            match self.wait_gone(pod, deadline).await {
                Ok(()) => {
                    println!("pod/{name} {}", if evict { "evicted" } else { "deleted" });
                }
                Err(e) if evict => errors.push(format!(
                    "error when waiting for pod \"{name}\" in namespace \"{ns}\" to terminate: {e}"
                )),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn delete_options(&self) -> Value {
        let mut o = json!({});
        if self.args.grace_period >= 0 {
            o["gracePeriodSeconds"] = json!(self.args.grace_period);
        }
        if self.dry_run == DryRun::Server {
            o["dryRun"] = json!(["All"]);
        }
        o
    }

    /// One pod's eviction, retried while a disruption budget forbids it; `Ok(false)` if
    /// the pod is already gone.
    async fn evict(
        &self,
        ns: &str,
        name: &str,
        deadline: Option<tokio::time::Instant>,
    ) -> std::result::Result<bool, String> {
        let path = format!("/api/v1/namespaces/{ns}/pods/{name}/eviction");
        let mut body = json!({
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": ns},
        });
        if self.args.grace_period >= 0 || self.dry_run == DryRun::Server {
            body["deleteOptions"] = self.delete_options();
        }
        loop {
            println!("evicting pod {ns}/{name}{}", self.dry_run.suffix());
            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                return Err(format!(
                    "error when evicting pods/\"{name}\" -n \"{ns}\": global timeout reached: {}",
                    go_duration(self.timeout)
                ));
            }
            match self
                .session
                .send(Method::POST, &path, clipper_client::rest::JSON, &body)
                .await
            {
                Ok(_) => return Ok(true),
                Err(e) => {
                    let Some(s) = e.downcast_ref::<ServerError>() else {
                        return Err(format!(
                            "error when evicting pods/\"{name}\" -n \"{ns}\": {e}"
                        ));
                    };
                    match s.code() {
                        404 => return Ok(false),
                        429 => {
                            eprintln!(
                                "error when evicting pods/\"{name}\" -n \"{ns}\" (will retry after 5s): {}",
                                s.status.message
                            );
                            // kubectl's retry interval; the deadline is checked on waking.
                            let wake = tokio::time::Instant::now() + Duration::from_secs(5);
                            tokio::time::sleep_until(match deadline {
                                Some(d) => wake.min(d),
                                None => wake,
                            })
                            .await;
                        }
                        _ => {
                            return Err(format!(
                                "error when evicting pods/\"{name}\" -n \"{ns}\": {}",
                                s.status.message
                            ));
                        }
                    }
                }
            }
        }
    }

    /// One pod's deletion; `Ok(false)` if it was already gone.
    async fn delete(&self, ns: &str, name: &str) -> std::result::Result<bool, String> {
        let dry = if self.dry_run == DryRun::Server {
            "All"
        } else {
            ""
        };
        let path = format!(
            "/api/v1/namespaces/{ns}/pods/{name}{}",
            query(&[("dryRun", dry)])
        );
        let body = self.delete_options();
        match self
            .session
            .send(Method::DELETE, &path, clipper_client::rest::JSON, &body)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if super::is_not_found(&e) => Ok(false),
            Err(e) => Err(match e.downcast_ref::<ServerError>() {
                Some(s) => s.to_string(),
                None => e.to_string(),
            }),
        }
    }

    /// Polls the pod once a second (kubectl's interval) until it is gone or replaced by
    /// another of the same name.
    async fn wait_gone(
        &self,
        pod: &Value,
        deadline: Option<tokio::time::Instant>,
    ) -> std::result::Result<(), String> {
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or("");
        let name = pod["metadata"]["name"].as_str().unwrap_or("");
        let uid = &pod["metadata"]["uid"];
        let path = format!("/api/v1/namespaces/{ns}/pods/{name}");
        loop {
            match self.session.get(&path).await {
                Ok(p) if p["metadata"]["uid"] != *uid => return Ok(()),
                Ok(p) => {
                    let filters = Filters {
                        skip_wait_for_delete_timeout: self.args.skip_wait_for_delete_timeout,
                        ..Filters::default()
                    };
                    if filters.skip_wait_for_delete_timeout > 0
                        && decide(&p, filters, super::output::now_seconds(), &|_| Ok(true))
                            == Verdict::Skip
                    {
                        println!(
                            "Pod {name} was deleted more than {} seconds ago, skipping",
                            self.args.skip_wait_for_delete_timeout
                        );
                        return Ok(());
                    }
                }
                Err(e) if super::is_not_found(&e) => return Ok(()),
                Err(e) => return Err(e.to_string()),
            }
            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                return Err(format!(
                    "global timeout reached: {}",
                    go_duration(self.timeout)
                ));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Drains one node: the filters' errors, or the pods' removal.
    async fn drain(&self, node: &str) -> std::result::Result<(), Vec<String>> {
        let (pods, verdicts) = self
            .pods_for_deletion(node)
            .await
            .map_err(|e| vec![e.to_string()])?;
        let errors = filter_errors(&verdicts);
        if !errors.is_empty() {
            return Err(errors);
        }
        let warnings = filter_warnings(&verdicts);
        if !warnings.is_empty() {
            eprintln!("Warning: {warnings}");
        }
        if self.dry_run == DryRun::Client {
            for p in &pods {
                println!(
                    "evicting pod {}/{} (dry run)",
                    p["metadata"]["namespace"].as_str().unwrap_or(""),
                    p["metadata"]["name"].as_str().unwrap_or("")
                );
            }
            return Ok(());
        }
        if let Err(errors) = self.remove(&pods).await {
            let joined = aggregate(&errors);
            if let Ok((pending, _)) = self.pods_for_deletion(node).await
                && !pending.is_empty()
            {
                eprintln!(
                    "There are pending pods in node \"{node}\" when an error occurred: {joined}"
                );
                for p in pending {
                    eprintln!("pod/{}", p["metadata"]["name"].as_str().unwrap_or(""));
                }
            }
            return Err(errors);
        }
        Ok(())
    }
}

/// Go's aggregate error text: one error as it is, several as `[a, b]`.
fn aggregate(errors: &[String]) -> String {
    match errors {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

pub async fn run(args: DrainArgs) -> Result<Outcome> {
    if args.nodes.is_empty() && args.selector.is_none() {
        anyhow::bail!("USAGE: drain NODE [flags]\nSee 'clipper drain -h' for help and examples");
    }
    if !args.nodes.is_empty() && args.selector.is_some() {
        anyhow::bail!("cannot specify both a node name and a --selector option");
    }
    let timeout = super::delete::parse_duration(&args.timeout)?;
    let dry_run = DryRun::parse(&args.dry_run)?;
    let suffix = dry_run.suffix();
    let session = Session::new(&args.global)?;
    let mut nodes = args.nodes.clone();
    if let Some(sel) = &args.selector {
        let list = session
            .get(&format!(
                "/api/v1/nodes{}",
                query(&[("labelSelector", sel)])
            ))
            .await?;
        nodes = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string))
            .collect();
    }
    // The nodes are read (and missing ones reported) before anything changes.
    for node in &nodes {
        session.get(&format!("/api/v1/nodes/{node}")).await?;
    }
    // Cordon first, all of them.
    for node in &nodes {
        let path = format!("/api/v1/nodes/{node}");
        let current = session.get(&path).await?;
        if current["spec"]["unschedulable"].as_bool() == Some(true) {
            println!("node/{node} already cordoned{suffix}");
            continue;
        }
        if dry_run == DryRun::Client {
            println!("node/{node} cordoned{suffix}");
            continue;
        }
        let patch = json!({"spec": {"unschedulable": true}});
        match session
            .send(
                Method::PATCH,
                &format!("{path}{}", dry_run.query("kubectl-drain")),
                clipper_client::rest::STRATEGIC_MERGE_PATCH,
                &patch,
            )
            .await
        {
            Ok(_) => println!("node/{node} cordoned{suffix}"),
            Err(e) => eprintln!("error: unable to cordon node \"{node}\": {e}"),
        }
    }
    let drainer = Drainer {
        session: &session,
        args: &args,
        timeout,
        dry_run,
    };
    // As kubectl 1.33: a node that fails is reported and the others are still drained;
    // the pending nodes and every error are listed at the end.
    let mut pending = Vec::new();
    let mut all_errors = Vec::new();
    for node in &nodes {
        match drainer.drain(node).await {
            Ok(()) => println!("node/{node} drained{suffix}"),
            Err(errors) => {
                eprintln!(
                    "error: unable to drain node \"{node}\" due to error: {}, continuing command...",
                    aggregate(&errors)
                );
                pending.push(node);
                all_errors.extend(errors);
            }
        }
    }
    if pending.is_empty() {
        return Ok(Outcome::Success);
    }
    eprintln!("There are pending nodes to be drained:");
    for n in pending {
        eprintln!(" {n}");
    }
    for e in all_errors {
        eprintln!("{e}");
    }
    Ok(Outcome::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(extra: Value) -> Value {
        let mut p = json!({"metadata": {"name": "p", "namespace": "default"}, "spec": {}, "status": {"phase": "Running"}});
        if let (Some(m), Some(e)) = (p.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                m.insert(k.clone(), v.clone());
            }
        }
        p
    }

    fn owned(kind: &str) -> Value {
        json!({"name": "p", "namespace": "default", "ownerReferences": [{"kind": kind, "name": "o", "controller": true, "apiVersion": "apps/v1", "uid": "u"}]})
    }

    #[test]
    fn filters_follow_kubectl() {
        let none = Filters::default();
        let exists = |_: &str| Ok(true);
        assert_eq!(
            decide(&pod(json!({})), none, 0, &exists),
            Verdict::Error(UNMANAGED_FATAL.into())
        );
        let force = Filters {
            force: true,
            ..none
        };
        assert_eq!(
            decide(&pod(json!({})), force, 0, &exists),
            Verdict::Warn {
                delete: true,
                message: UNMANAGED_WARNING.into()
            }
        );
        let done = pod(json!({"status": {"phase": "Succeeded"}}));
        assert_eq!(decide(&done, none, 0, &exists), Verdict::Delete);
        let rs = pod(json!({"metadata": owned("ReplicaSet")}));
        assert_eq!(decide(&rs, none, 0, &exists), Verdict::Delete);
        let ds = pod(json!({"metadata": owned("DaemonSet")}));
        assert_eq!(
            decide(&ds, none, 0, &exists),
            Verdict::Error(DAEMONSET_FATAL.into())
        );
        let ignore = Filters {
            ignore_daemonsets: true,
            ..none
        };
        assert_eq!(
            decide(&ds, ignore, 0, &exists),
            Verdict::Warn {
                delete: false,
                message: DAEMONSET_WARNING.into()
            }
        );
        let empty = pod(
            json!({"metadata": owned("ReplicaSet"), "spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}),
        );
        assert_eq!(
            decide(&empty, none, 0, &exists),
            Verdict::Error(LOCAL_STORAGE_FATAL.into())
        );
        let mirror =
            pod(json!({"metadata": {"name": "m", "annotations": {MIRROR_ANNOTATION: "x"}}}));
        assert_eq!(decide(&mirror, none, 0, &exists), Verdict::Skip);
    }

    #[test]
    fn errors_and_warnings_are_grouped_by_message() {
        let v = vec![
            (
                "default/a".to_string(),
                Verdict::Error(UNMANAGED_FATAL.into()),
            ),
            (
                "default/b".to_string(),
                Verdict::Error(UNMANAGED_FATAL.into()),
            ),
            (
                "default/c".to_string(),
                Verdict::Error(DAEMONSET_FATAL.into()),
            ),
        ];
        assert_eq!(
            filter_errors(&v),
            [
                format!("cannot delete {UNMANAGED_FATAL}: default/a, default/b"),
                format!("cannot delete {DAEMONSET_FATAL}: default/c"),
            ]
        );
        let w = vec![(
            "default/a".to_string(),
            Verdict::Warn {
                delete: false,
                message: DAEMONSET_WARNING.into(),
            },
        )];
        assert_eq!(
            filter_warnings(&w),
            "ignoring DaemonSet-managed Pods: default/a"
        );
        assert_eq!(go_duration(Duration::from_secs(2)), "2s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
    }
}
