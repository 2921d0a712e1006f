//! `rollout restart`: kubectl's restart of deployments, daemon sets and stateful sets —
//! a strategic merge patch setting the pod template's
//! `kubectl.kubernetes.io/restartedAt` annotation to the current time (RFC 3339), which
//! the workload's controller rolls out as a template change. A paused deployment is
//! refused, as kubectl refuses it. (The other `rollout` subcommands live elsewhere.)

use clipper_client::rest::{self, Method};
use serde_json::{Value, json};

use super::discovery::{Resource, targets};
use super::{Global, Outcome, Result, Session, query};

/// The annotation kubectl's restarter sets on the pod template.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// kubectl's answer when the annotation already holds this second (an empty patch).
const SAME_SECOND: &str = "if restart has already been triggered within the past second, please wait before attempting to trigger another";

#[derive(clap::Args)]
pub struct RolloutArgs {
    #[command(subcommand)]
    pub action: RolloutAction,
}

#[derive(clap::Subcommand)]
pub enum RolloutAction {
    /// Restart a resource: its pods are replaced, as for a change of the pod template.
    Restart(RestartArgs),
}

#[derive(clap::Args)]
pub struct RestartArgs {
    /// TYPE NAME..., TYPE/NAME..., or TYPE alone (every object of the type).
    pub resources: Vec<String>,
    /// Select the objects of TYPE by label.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// `name` prints `kind/name`.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// The field manager of the patch.
    #[arg(long, default_value = "kubectl-rollout")]
    pub field_manager: String,
    #[command(flatten)]
    pub global: Global,
}

pub async fn run(args: RolloutArgs) -> Result<Outcome> {
    match args.action {
        RolloutAction::Restart(a) => restart(a).await,
    }
}

/// The patch restarting `obj` (of `kind`) at `now`, or kubectl's reason not to.
pub fn restart_patch(kind: &str, obj: &Value, now: &str) -> std::result::Result<Value, String> {
    match kind {
        "Deployment" | "DaemonSet" | "StatefulSet"
            if obj["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT] == now
                && obj["spec"]["paused"].as_bool() != Some(true) =>
        {
            Err(SAME_SECOND.into())
        }
        "Deployment" if obj["spec"]["paused"].as_bool() == Some(true) => {
            Err("can't restart paused deployment (run rollout resume first)".into())
        }
        "Deployment" | "DaemonSet" | "StatefulSet" => Ok(json!({
            "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}
        })),
        _ => Err("restarting is not supported".into()),
    }
}

/// `deployments.apps`: kubectl's resource string in restart errors.
fn resource_string(r: &Resource) -> String {
    if r.group.is_empty() {
        r.name.clone()
    } else {
        format!("{}.{}", r.name, r.group)
    }
}

async fn restart(args: RestartArgs) -> Result<Outcome> {
    let session = Session::new(&args.global)?;
    if args.resources.is_empty() {
        anyhow::bail!("required resource not specified");
    }
    let discovery = session.discovery().await?;
    let t = targets(discovery, &args.resources)?;
    let mut objects: Vec<(&Resource, Value)> = Vec::new();
    // Each error as kubectl words it, printed together at the end.
    let mut errors: Vec<String> = Vec::new();
    for (r, name) in t.named {
        match session.get(&r.object(&session.namespace, &name)).await {
            Ok(obj) => objects.push((r, obj)),
            Err(e) => errors.push(match e.downcast_ref::<super::ServerError>() {
                Some(s) => s.to_string(),
                None => e.to_string(),
            }),
        }
    }
    for r in t.types {
        let q = query(&[("labelSelector", args.selector.as_deref().unwrap_or(""))]);
        let list = session
            .get(&format!("{}{q}", r.collection(Some(&session.namespace))))
            .await?;
        for item in list["items"].as_array().into_iter().flatten() {
            objects.push((r, item.clone()));
        }
    }
    let now = clipper_proto::Time::now().to_string();
    for (r, obj) in objects {
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        let patch = match restart_patch(&r.kind, &obj, &now) {
            Ok(p) => p,
            Err(why) if why == SAME_SECOND => {
                errors.push(format!("failed to create patch for {name}: {why}"));
                continue;
            }
            Err(why) => {
                errors.push(format!("error: {} \"{name}\" {why}", resource_string(r)));
                continue;
            }
        };
        let path = format!(
            "{}{}",
            r.object(&session.namespace, &name),
            query(&[("fieldManager", &args.field_manager)])
        );
        match session
            .send(Method::PATCH, &path, rest::STRATEGIC_MERGE_PATCH, &patch)
            .await
        {
            Ok(_) => {
                let n = super::output::name_ref(r, &name);
                if args.output.as_deref() == Some("name") {
                    println!("{n}");
                } else {
                    println!("{n} restarted");
                }
            }
            Err(e) => errors.push(match e.downcast::<super::ServerError>() {
                Ok(s) => format!("failed to patch: {}", s.status.message),
                Err(e) => format!("failed to patch: {e}"),
            }),
        }
    }
    report_errors(&errors)
}

/// kubectl's aggregate of per-object errors, printed once at the end: one error with
/// `error: ` before it unless it has its own prefix, several one a line as they are.
fn report_errors(errors: &[String]) -> Result<Outcome> {
    match errors {
        [] => return Ok(Outcome::Success),
        [one] if one.starts_with("error: ") || one.starts_with("Error from server") => {
            eprintln!("{one}")
        }
        [one] => eprintln!("error: {one}"),
        many => {
            for e in many {
                eprintln!("{e}");
            }
        }
    }
    Ok(Outcome::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_patches_the_template_annotation_of_workloads_only() {
        let now = "2026-01-02T03:04:05Z";
        for kind in ["Deployment", "DaemonSet", "StatefulSet"] {
            let p = restart_patch(kind, &json!({"spec": {}}), now).unwrap();
            assert_eq!(
                p["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT],
                now
            );
        }
        assert_eq!(
            restart_patch("Deployment", &json!({"spec": {"paused": true}}), now).unwrap_err(),
            "can't restart paused deployment (run rollout resume first)"
        );
        assert_eq!(
            restart_patch("Pod", &json!({}), now).unwrap_err(),
            "restarting is not supported"
        );
        let restarted =
            json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}});
        assert_eq!(
            restart_patch("DaemonSet", &restarted, now).unwrap_err(),
            SAME_SECOND
        );
    }
}
