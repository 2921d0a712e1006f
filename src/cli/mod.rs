//! The kubectl-compatible verbs of `clipper`: `get`, `apply`, `create`, `delete`, `patch`,
//! `label`, `annotate`, `scale`, `cordon`, `uncordon`, `api-resources`, `events`,
//! `describe`, `logs`, `exec`, `port-forward`, `edit`, `drain`, `config`, `explain`, `top`
//! and `rollout` (restart, status, history, undo), with kubectl's meaning, flags, output and
//! exit codes, over the REST client of `proto/client`; and kubeadm's `token`, with
//! `join`.
//!
//! - `mod.rs` — the subcommands, the kubeconfig and namespace, errors and exit codes;
//! - `discovery.rs` — resource types from discovery (plural, singular, short names, kind,
//!   `resource.group`) and object references (`TYPE/NAME`, manifests);
//! - `output.rs` — tables as kubectl aligns them, `-o json|yaml|name|jsonpath=`, ages;
//! - `jsonpath.rs` — kubectl's JSONPath templates (`{range}`/`{end}`, literals) over the
//!   API server's path evaluator;
//! - `get.rs`, `apply.rs` (apply, create), `delete.rs`, `modify.rs` (patch, label,
//!   annotate, scale, cordon, uncordon), `info.rs` (api-resources, events),
//!   `describe.rs`, `logs.rs`, `exec.rs` (over a WebSocket), `portforward.rs` (SPDY in a
//!   WebSocket), `edit.rs`, `drain.rs`, `config.rs` (the kubeconfig files, no server),
//!   `explain.rs` (OpenAPI v3), `rollout.rs`, `top.rs` (node, pod; the Metrics API) and
//!   `token.rs` (token, join) — one verb group each.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use clipper_client::rest::{self, Method};
use clipper_client::{ClientError, Credentials, RestClient, StatusSummary};
use serde_json::Value;

mod apply;
mod config;
mod delete;
mod describe;
mod discovery;
mod drain;
mod edit;
mod exec;
mod explain;
mod get;
mod info;
mod jsonpath;
mod logs;
mod modify;
mod output;
mod portforward;
mod rollout;
mod token;
mod top;

pub use discovery::Discovery;

/// The kubectl verbs, as `clipper` subcommands.
#[derive(Subcommand)]
pub enum Verb {
    /// Display one or many resources (kubectl get).
    Get(get::GetArgs),
    /// Apply a configuration to resources by file or stdin (kubectl apply).
    Apply(apply::ApplyArgs),
    /// Create resources from files or stdin (kubectl create -f).
    Create(apply::CreateArgs),
    /// Delete resources by file, type and names, or label selector (kubectl delete).
    Delete(delete::DeleteArgs),
    /// Update fields of a resource with a strategic merge, JSON merge or JSON patch.
    Patch(modify::PatchArgs),
    /// Update the labels on resources (KEY=VALUE to set, KEY- to remove).
    Label(modify::MetaArgs),
    /// Update the annotations on resources (KEY=VALUE to set, KEY- to remove).
    Annotate(modify::MetaArgs),
    /// Set a new size for a deployment, replica set, stateful set... (scale subresource).
    Scale(modify::ScaleArgs),
    /// Mark nodes as unschedulable.
    Cordon(modify::NodeArgs),
    /// Mark nodes as schedulable.
    Uncordon(modify::NodeArgs),
    /// Print the supported API resources on the server.
    ApiResources(info::ApiResourcesArgs),
    /// List events (kubectl events).
    Events(info::EventsArgs),
    /// Show details of pods and nodes, with their events (kubectl describe).
    Describe(describe::DescribeArgs),
    /// Print the logs for a container in a pod (kubectl logs).
    Logs(logs::LogsArgs),
    /// Execute a command in a container (kubectl exec).
    Exec(exec::ExecArgs),
    /// Forward one or more local ports to a pod (kubectl port-forward).
    PortForward(portforward::PortForwardArgs),
    /// Manage the rollout of a resource (kubectl rollout restart|status|history|undo).
    Rollout(rollout::RolloutArgs),
    /// Modify kubeconfig files (kubectl config).
    Config(config::ConfigArgs),
    /// Describe fields and structure of a resource from the server's OpenAPI v3 (kubectl
    /// explain).
    Explain(explain::ExplainArgs),
    /// Edit a resource on the server with $KUBE_EDITOR or $EDITOR (kubectl edit).
    Edit(edit::EditArgs),
    /// Drain a node in preparation for maintenance (kubectl drain).
    Drain(drain::DrainArgs),
    /// Display resource (CPU/memory) usage of nodes or pods (kubectl top).
    Top(top::TopArgs),
    /// Manage bootstrap tokens for joining nodes (kubeadm token create|list|delete).
    Token(token::TokenArgs),
    /// Create a bootstrap token and print the `clipper agent` command that joins a host
    /// to this cluster.
    Join(token::JoinArgs),
}

/// Flags every verb takes.
#[derive(clap::Args, Clone, Default)]
pub struct Global {
    /// Path to the kubeconfig file [default: $KUBECONFIG, else ~/.kube/config, else
    /// the admin kubeconfig `clipper up` writes].
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The namespace [default: the current context's, else `default`].
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
}

/// kubectl takes its global flags before the verb too (`kubectl -n kube-system get
/// pods`): leading `-n`/`--namespace`/`--kubeconfig` flags, with their values, are moved
/// after the first word that is not a flag, where each verb parses them — or, for the
/// verbs whose actions parse them (`top pod`, `rollout status`, `token list`), after the
/// action. Anything else is left as it is.
pub fn global_flags_after_verb<I>(args: I) -> Vec<std::ffi::OsString>
where
    I: IntoIterator<Item = std::ffi::OsString>,
{
    let mut args: Vec<std::ffi::OsString> = args.into_iter().collect();
    let mut moved = Vec::new();
    let i = 1; // after the program name; removing shifts the next argument here
    while i < args.len() {
        let a = args[i].to_string_lossy();
        let takes_value = matches!(a.as_ref(), "-n" | "--namespace" | "--kubeconfig");
        let joined = a.starts_with("--namespace=")
            || a.starts_with("--kubeconfig=")
            || (a.starts_with("-n") && a.len() > 2 && !a.starts_with("--"));
        if takes_value && i + 1 < args.len() {
            moved.extend(args.drain(i..i + 2));
        } else if joined {
            moved.push(args.remove(i));
        } else {
            break;
        }
    }
    if !moved.is_empty() && i < args.len() {
        let verb_with_actions = matches!(
            args[i].to_string_lossy().as_ref(),
            "top" | "rollout" | "token"
        );
        let action_follows = args
            .get(i + 1)
            .is_some_and(|a| !a.to_string_lossy().starts_with('-'));
        let at = if verb_with_actions && action_follows {
            i + 2
        } else {
            i + 1
        };
        args.splice(at..at, moved);
    } else {
        // No verb follows: leave the flags where they were, for clap to report.
        args.splice(1..1, moved);
    }
    args
}

/// Runs a verb to completion; exit code 1 on any failure, as kubectl.
pub fn run(verb: Verb) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match verb {
            Verb::Get(a) => get::run(a).await,
            Verb::Apply(a) => apply::apply(a).await,
            Verb::Create(a) => apply::create(a).await,
            Verb::Delete(a) => delete::run(a).await,
            Verb::Patch(a) => modify::patch(a).await,
            Verb::Label(a) => modify::meta(a, modify::MetaField::Labels).await,
            Verb::Annotate(a) => modify::meta(a, modify::MetaField::Annotations).await,
            Verb::Scale(a) => modify::scale(a).await,
            Verb::Cordon(a) => modify::cordon(a, true).await,
            Verb::Uncordon(a) => modify::cordon(a, false).await,
            Verb::ApiResources(a) => info::api_resources(a).await,
            Verb::Events(a) => info::events(a).await,
            Verb::Describe(a) => describe::run(a).await,
            Verb::Logs(a) => logs::run(a).await,
            Verb::Exec(a) => exec::run(a).await,
            Verb::PortForward(a) => portforward::run(a).await,
            Verb::Rollout(a) => rollout::run(a).await,
            Verb::Config(a) => config::run(a).await,
            Verb::Explain(a) => explain::run(a).await,
            Verb::Edit(a) => edit::run(a).await,
            Verb::Drain(a) => drain::run(a).await,
            Verb::Top(a) => top::run(a).await,
            Verb::Token(a) => token::run(a).await,
            Verb::Join(a) => token::join(a).await,
        }
    });
    // Watches and connections end with the runtime; nothing waits on them.
    runtime.shutdown_background();
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        // Each failure was printed where it happened.
        Ok(Outcome::Failed) => ExitCode::from(1),
        Ok(Outcome::Exit(code)) => ExitCode::from(code),
        Err(e) => {
            print_error(&e);
            ExitCode::from(1)
        }
    }
}

/// How a verb that reports per-object failures as it goes ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failed,
    /// A remote command's exit code, passed on (`exec`; its message already printed).
    Exit(u8),
}

impl Outcome {
    pub fn from_ok(ok: bool) -> Outcome {
        if ok {
            Outcome::Success
        } else {
            Outcome::Failed
        }
    }
}

pub type Result<T> = std::result::Result<T, anyhow::Error>;

/// An error the server answered: printed as kubectl prints a Status,
/// `Error from server (Reason): message`.
#[derive(Debug)]
pub struct ServerError {
    pub status: StatusSummary,
    /// kubectl's `error when creating "FILE": ` and the like.
    pub context: Option<String>,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.status;
        let message = match &self.context {
            Some(c) => format!("{c}: {}", s.message),
            None => s.message.clone(),
        };
        if s.reason.is_empty() || s.reason == "Unknown" {
            write!(f, "Error from server: {message}")
        } else {
            write!(f, "Error from server ({}): {message}", s.reason)
        }
    }
}

impl std::error::Error for ServerError {}

impl ServerError {
    pub fn code(&self) -> u16 {
        self.status.code
    }
}

/// A client error as the CLI reports it: Statuses become [`ServerError`]s.
pub fn client_error(e: ClientError) -> anyhow::Error {
    match e {
        ClientError::Status(status) => ServerError {
            status,
            context: None,
        }
        .into(),
        other => anyhow::anyhow!("{other}"),
    }
}

/// Whether `e` is the server's 404.
pub fn is_not_found(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ServerError>()
        .is_some_and(|s| s.code() == 404)
}

/// Prints an error as kubectl does: the server's Status as it is, anything else as
/// `error: ...`, on one line.
pub fn print_error(e: &anyhow::Error) {
    let text = match e.downcast_ref::<ServerError>() {
        Some(s) => s.to_string(),
        None => format!("error: {e:#}"),
    };
    eprintln!("{}", text.trim_end());
}

/// A connection to the API server and the namespace verbs default to.
pub struct Session {
    pub client: Arc<RestClient>,
    /// The cluster CA the kubeconfig trusts (DER).
    pub ca: Vec<u8>,
    /// `-n`, else the context's namespace, else `default`.
    pub namespace: String,
    /// Whether `-n` was given (apply refuses manifests of another namespace then).
    pub namespace_explicit: bool,
    discovery: tokio::sync::OnceCell<Discovery>,
}

impl Session {
    pub fn new(global: &Global) -> Result<Session> {
        let path = kubeconfig_path(global.kubeconfig.as_deref())?;
        let creds = Credentials::from_kubeconfig(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
        let ca = creds.ca.to_vec();
        let client = RestClient::new(creds, "clipper").map_err(|e| anyhow::anyhow!("{e}"))?;
        let (namespace, namespace_explicit) = match &global.namespace {
            Some(ns) => (ns.clone(), true),
            None => (
                context_namespace(&path).unwrap_or_else(|| "default".into()),
                false,
            ),
        };
        Ok(Session {
            client,
            ca,
            namespace,
            namespace_explicit,
            discovery: tokio::sync::OnceCell::new(),
        })
    }

    pub async fn discovery(&self) -> Result<&Discovery> {
        self.discovery
            .get_or_try_init(|| Discovery::load(&self.client))
            .await
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        self.client.get(path).await.map_err(client_error)
    }

    /// A request with a JSON body; the server's Status on failure.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: &Value,
    ) -> Result<Value> {
        self.client
            .json(method, path, Some(content_type), Some(body))
            .await
            .map_err(client_error)
    }

    /// A GET negotiating a Table (kubectl get's `Accept`).
    pub async fn get_table(&self, path: &str) -> Result<Value> {
        let (code, body) = self
            .client
            .raw_accept(Method::GET, path, rest::TABLE, None, rest::Body::new())
            .await
            .map_err(client_error)?;
        rest::json_result(code, &body).map_err(client_error)
    }
}

/// The kubeconfig: `--kubeconfig`, else the first existing file of $KUBECONFIG, else
/// ~/.kube/config, else the admin kubeconfig of `clipper up` (`$CLIPPER_DATA_DIR` or
/// /var/lib/clipper, `admin.kubeconfig`).
pub fn kubeconfig_path(flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty())
        && let Some(p) = std::env::split_paths(&list).find(|p| p.is_file())
    {
        return Ok(p);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let p = Path::new(&home).join(".kube/config");
        if p.is_file() {
            return Ok(p);
        }
    }
    let data_dir = std::env::var_os("CLIPPER_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/clipper"));
    let admin = data_dir.join("admin.kubeconfig");
    if admin.is_file() {
        return Ok(admin);
    }
    anyhow::bail!(
        "no kubeconfig: pass --kubeconfig, set KUBECONFIG, or run `clipper up` (which writes {})",
        admin.display()
    )
}

/// The namespace of the kubeconfig's current context, if it names one.
fn context_namespace(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let doc: Value = yaml_serde::from_str(&text).ok()?;
    let current = doc["current-context"].as_str()?;
    doc["contexts"]
        .as_array()?
        .iter()
        .find(|c| c["name"].as_str() == Some(current))?["context"]["namespace"]
        .as_str()
        .filter(|ns| !ns.is_empty())
        .map(str::to_string)
}

/// A query string from pairs, percent-encoded; empty values are left out.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        out.push(if out.is_empty() { '?' } else { '&' });
        out.push_str(k);
        out.push('=');
        out.push_str(&encode(v));
    }
    out
}

fn encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads manifests: files, directories (their .yaml, .yml and .json files, sorted; with
/// `recursive` their subdirectories too) and `-` for stdin. Each object comes with the
/// name of its source for messages; `List` kinds are flattened.
pub fn read_manifests(files: &[String], recursive: bool) -> Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for f in files {
        if f == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
            push_documents(&mut out, "STDIN", &text)?;
            continue;
        }
        let path = Path::new(f);
        if path.is_dir() {
            let mut paths = Vec::new();
            collect_dir(path, recursive, &mut paths)?;
            for p in paths {
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| anyhow::anyhow!("reading {}: {e}", p.display()))?;
                push_documents(&mut out, &p.display().to_string(), &text)?;
            }
        } else {
            let text = std::fs::read_to_string(path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    anyhow::anyhow!("the path \"{f}\" does not exist")
                } else {
                    anyhow::anyhow!("reading {f}: {e}")
                }
            })?;
            push_documents(&mut out, f, &text)?;
        }
    }
    if out.is_empty() {
        anyhow::bail!("no objects passed to apply");
    }
    Ok(out)
}

fn collect_dir(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if recursive {
                collect_dir(&p, recursive, out)?;
            }
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(p);
        }
    }
    Ok(())
}

fn push_documents(out: &mut Vec<(String, Value)>, source: &str, text: &str) -> Result<()> {
    let docs = clipper_proto::codec::yaml_documents(text)
        .map_err(|e| anyhow::anyhow!("error parsing {source}: {e}"))?;
    for doc in docs {
        if !doc.is_object() {
            anyhow::bail!("error parsing {source}: a document is not an object");
        }
        let kind = doc["kind"].as_str().unwrap_or("");
        if kind.ends_with("List") && doc["items"].is_array() {
            for item in doc["items"].as_array().into_iter().flatten() {
                out.push((source.to_string(), item.clone()));
            }
            continue;
        }
        if kind.is_empty() {
            anyhow::bail!("error validating {source}: Object 'Kind' is missing in '{doc}'");
        }
        out.push((source.to_string(), doc));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::global_flags_after_verb;

    fn moved(args: &[&str]) -> Vec<String> {
        global_flags_after_verb(args.iter().map(std::ffi::OsString::from))
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn global_flags_before_the_verb_move_after_it() {
        assert_eq!(
            moved(&["clipper", "-n", "kube-system", "get", "pods"]),
            ["clipper", "get", "-n", "kube-system", "pods"]
        );
        assert_eq!(
            moved(&[
                "clipper",
                "--kubeconfig",
                "k",
                "--namespace=x",
                "describe",
                "pod",
                "p"
            ]),
            [
                "clipper",
                "describe",
                "--kubeconfig",
                "k",
                "--namespace=x",
                "pod",
                "p"
            ]
        );
        assert_eq!(
            moved(&["clipper", "-nx", "get", "cm"]),
            ["clipper", "get", "-nx", "cm"]
        );
        // Verbs whose actions take the flags: after the action.
        assert_eq!(
            moved(&["clipper", "-n", "x", "top", "pod", "p"]),
            ["clipper", "top", "pod", "-n", "x", "p"]
        );
        assert_eq!(
            moved(&["clipper", "--kubeconfig=k", "rollout", "status", "deploy/d"]),
            ["clipper", "rollout", "status", "--kubeconfig=k", "deploy/d"]
        );
        assert_eq!(
            moved(&["clipper", "-n", "x", "top", "--help"]),
            ["clipper", "top", "-n", "x", "--help"]
        );
        // Flags after the verb, other flags and a dangling -n are left alone.
        assert_eq!(
            moved(&["clipper", "get", "-n", "x", "pods"]),
            ["clipper", "get", "-n", "x", "pods"]
        );
        assert_eq!(moved(&["clipper", "--help"]), ["clipper", "--help"]);
        assert_eq!(moved(&["clipper", "-n"]), ["clipper", "-n"]);
        assert_eq!(moved(&["clipper", "-n", "x"]), ["clipper", "-n", "x"]);
    }
}
