//! `clipper apply` and `clipper create -f`.
//!
//! Apply is server-side apply in both modes, as field manager `clipper`. With
//! `--server-side` it is kubectl's server-side apply (conflicts fail unless
//! `--force-conflicts`; prints `serverside-applied`). Without it, it stands in for kubectl's
//! client-side apply: the manifest wins every field it names (a forced apply), it records
//! `kubectl.kubernetes.io/last-applied-configuration` as kubectl does, and it prints
//! `created`, `configured` or `unchanged` (the resourceVersion did not move). Fields a
//! later manifest drops are removed, as server-side apply removes what its manager
//! stops applying.

use clipper_client::rest::{self, Method};
use serde_json::Value;

use super::discovery::Resource;
use super::{Global, Outcome, Result, Session, is_not_found, print_error, query};

const CONFLICT_ADVICE: &str = "Other field managers own these fields. To take them over, run the apply again with --force-conflicts; to leave them to their managers, remove them from the manifest (or apply their current values to co-own them).";

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

#[derive(clap::Args)]
pub struct ApplyArgs {
    /// Files, directories (their .yaml, .yml and .json files) or `-` for stdin.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<String>,
    /// Process directories recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Server-side apply (prints `serverside-applied`).
    #[arg(long)]
    pub server_side: bool,
    /// With --server-side: take over fields other managers own.
    #[arg(long)]
    pub force_conflicts: bool,
    /// The field manager.
    #[arg(long, default_value = "clipper")]
    pub field_manager: String,
    /// `name` prints `kind/name` per object.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    #[command(flatten)]
    pub global: Global,
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// Files, directories (their .yaml, .yml and .json files) or `-` for stdin.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<String>,
    /// Process directories recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// `name` prints `kind/name` per object.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    #[command(flatten)]
    pub global: Global,
}

/// The object's type and its namespace (set into it), as kubectl decides: the manifest's
/// namespace, else `-n` or the context's; a manifest namespace that contradicts `-n` is
/// an error.
fn place(session: &Session, resource: &Resource, obj: &mut Value) -> Result<String> {
    if !resource.namespaced {
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        return Ok(String::new());
    }
    let ns = match obj["metadata"]["namespace"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        Some(ns) if session.namespace_explicit && ns != session.namespace => anyhow::bail!(
            "the namespace from the provided object \"{ns}\" does not match the namespace \"{}\". You must pass '--namespace={ns}' to perform this operation.",
            session.namespace
        ),
        Some(ns) => ns.to_string(),
        None => session.namespace.clone(),
    };
    obj["metadata"]["namespace"] = Value::String(ns.clone());
    Ok(ns)
}

fn print_result(output: Option<&str>, resource: &Resource, name: &str, what: &str) {
    let r = super::output::name_ref(resource, name);
    if output == Some("name") {
        println!("{r}");
    } else {
        println!("{r} {what}");
    }
}

pub async fn apply(args: ApplyArgs) -> Result<Outcome> {
    let session = Session::new(&args.global)?;
    let objects = super::read_manifests(&args.files, args.recursive)?;
    let discovery = session.discovery().await?;
    let mut ok = true;
    for (source, mut obj) in objects {
        let step = async {
            let api_version = obj["apiVersion"].as_str().unwrap_or("").to_string();
            let kind = obj["kind"].as_str().unwrap_or("").to_string();
            let resource = discovery.for_kind(&api_version, &kind)?;
            let ns = place(&session, resource, &mut obj)?;
            let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
            if name.is_empty() {
                anyhow::bail!(
                    "error when retrieving current configuration of resource {} from {source}: resource name may not be empty",
                    resource.kind_ref()
                );
            }
            let path = resource.object(&ns, &name);
            let force = if args.server_side {
                args.force_conflicts
            } else {
                true
            };
            let apply_path = format!(
                "{path}{}",
                query(&[
                    ("fieldManager", &args.field_manager),
                    ("force", if force { "true" } else { "" }),
                ])
            );
            if args.server_side {
                session
                    .send(Method::PATCH, &apply_path, rest::APPLY_PATCH, &obj)
                    .await
                    .map_err(|e| match e.downcast::<super::ServerError>() {
                        // Field conflicts: the server's list, and what to do about them.
                        Ok(s)
                            if s.code() == 409 && s.status.message.starts_with("Apply failed") =>
                        {
                            anyhow::anyhow!("{}\n{CONFLICT_ADVICE}", s.status.message)
                        }
                        Ok(s) => in_source(s.into(), "serverside-apply", &source),
                        Err(e) => e,
                    })?;
                print_result(
                    args.output.as_deref(),
                    resource,
                    &name,
                    "serverside-applied",
                );
                return Ok(());
            }
            let before = match session.get(&path).await {
                Ok(current) => Some(current["metadata"]["resourceVersion"].clone()),
                Err(e) if is_not_found(&e) => None,
                Err(e) => return Err(e),
            };
            record_last_applied(&mut obj);
            let verb = if before.is_some() {
                "applying patch"
            } else {
                "creating"
            };
            let after = session
                .send(Method::PATCH, &apply_path, rest::APPLY_PATCH, &obj)
                .await
                .map_err(|e| in_source(e, verb, &source))?;
            let what = match before {
                None => "created",
                Some(rv) if rv == after["metadata"]["resourceVersion"] => "unchanged",
                Some(_) => "configured",
            };
            print_result(args.output.as_deref(), resource, &name, what);
            Ok(())
        };
        if let Err(e) = step.await {
            print_error(&e);
            ok = false;
        }
    }
    Ok(Outcome::from_ok(ok))
}

/// kubectl's `error when creating "FILE": ...` around a server error.
fn in_source(e: anyhow::Error, verb: &str, source: &str) -> anyhow::Error {
    match e.downcast::<super::ServerError>() {
        Ok(mut s) => {
            s.context = Some(format!("error when {verb} \"{source}\""));
            s.into()
        }
        Err(e) => e,
    }
}

/// Adds the annotation kubectl's client-side apply keeps: the manifest as applied (without
/// the annotation itself), compact JSON.
fn record_last_applied(obj: &mut Value) {
    let mut recorded = obj.clone();
    // As kubectl records it: the annotations without this one, `{}` when none are left.
    if let Some(meta) = recorded.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(a) = annotations.as_object_mut() {
            a.remove(LAST_APPLIED);
        }
    }
    let text = serde_json::to_string(&recorded).unwrap_or_default() + "\n";
    if !obj["metadata"]["annotations"].is_object() {
        obj["metadata"]["annotations"] = Value::Object(Default::default());
    }
    obj["metadata"]["annotations"][LAST_APPLIED] = Value::String(text);
}

pub async fn create(args: CreateArgs) -> Result<Outcome> {
    let session = Session::new(&args.global)?;
    let objects = super::read_manifests(&args.files, args.recursive)?;
    let discovery = session.discovery().await?;
    let mut ok = true;
    for (source, mut obj) in objects {
        let step = async {
            let api_version = obj["apiVersion"].as_str().unwrap_or("").to_string();
            let kind = obj["kind"].as_str().unwrap_or("").to_string();
            let resource = discovery.for_kind(&api_version, &kind)?;
            let ns = place(&session, resource, &mut obj)?;
            let path = resource.collection((!ns.is_empty()).then_some(ns.as_str()));
            let path = format!("{path}{}", query(&[("fieldManager", "clipper")]));
            let created = session
                .send(Method::POST, &path, rest::JSON, &obj)
                .await
                .map_err(|e| in_source(e, "creating", &source))?;
            let name = created["metadata"]["name"].as_str().unwrap_or("");
            print_result(args.output.as_deref(), resource, name, "created");
            Ok::<_, anyhow::Error>(())
        };
        if let Err(e) = step.await {
            print_error(&e);
            ok = false;
        }
    }
    Ok(Outcome::from_ok(ok))
}
