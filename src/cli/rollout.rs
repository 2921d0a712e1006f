//! `rollout restart`: kubectl's restart of deployments, daemon sets and stateful sets —
//! a strategic merge patch setting the pod template's
//! `kubectl.kubernetes.io/restartedAt` annotation to the current time (RFC 3339), which
//! the workload's controller rolls out as a template change. A paused deployment is
//! refused, as kubectl refuses it.
//!
//! `rollout status`, `rollout history` and `rollout undo` for deployments, as kubectl
//! 1.33: status prints its DeploymentStatusViewer's lines while watching the deployment
//! (`--watch=false`, `--timeout`, `--revision`); history reads the revisions of the
//! deployment's ReplicaSets (`deployment.kubernetes.io/revision`); undo patches the
//! deployment's template back from a ReplicaSet's, client-side as kubectl 1.27+ does.
//! Other kinds get kubectl's message for a kind without a viewer or rollbacker.

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
    /// Show the status of the rollout; watch it until done.
    Status(StatusArgs),
    /// View previous rollout revisions and configurations.
    History(HistoryArgs),
    /// Roll back to a previous rollout.
    Undo(UndoArgs),
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
        RolloutAction::Status(a) => status(a).await,
        RolloutAction::History(a) => history(a).await,
        RolloutAction::Undo(a) => undo(a).await,
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

#[derive(clap::Args)]
pub struct StatusArgs {
    /// TYPE NAME or TYPE/NAME.
    pub resources: Vec<String>,
    /// Watch the status of the rollout until it's done.
    #[arg(short = 'w', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub watch: bool,
    /// How long to wait before ending the watch (e.g. 30s; 0: never).
    #[arg(long, default_value = "0s")]
    pub timeout: String,
    /// Pin to a specific revision (0: the latest).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub revision: i64,
    #[command(flatten)]
    pub global: Global,
}

#[derive(clap::Args)]
pub struct HistoryArgs {
    /// TYPE NAME or TYPE/NAME.
    pub resources: Vec<String>,
    /// See the details, including the pod template, of this revision.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub revision: i64,
    #[command(flatten)]
    pub global: Global,
}

#[derive(clap::Args)]
pub struct UndoArgs {
    /// TYPE NAME or TYPE/NAME.
    pub resources: Vec<String>,
    /// The revision to roll back to (0: the previous one).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub to_revision: i64,
    #[command(flatten)]
    pub global: Global,
}

/// The revision annotation the Deployment controller sets on ReplicaSets and itself.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// The change-cause annotation history prints.
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
/// The label the Deployment controller adds to its ReplicaSets' templates.
const HASH_LABEL: &str = "pod-template-hash";
/// Annotations undo keeps from the deployment rather than copying from the ReplicaSet.
const ANNOTATIONS_TO_SKIP: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

/// `Deployment.apps`: the group kind as kubectl prints it.
fn group_kind(r: &Resource) -> String {
    if r.group.is_empty() {
        r.kind.clone()
    } else {
        format!("{}.{}", r.kind, r.group)
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// An object's revision annotation (0 when absent), or kubectl's parse error.
fn revision_of(obj: &Value) -> std::result::Result<i64, String> {
    match obj["metadata"]["annotations"][REVISION].as_str() {
        None => Ok(0),
        Some(s) => s.parse().map_err(|e| format!("{e}")),
    }
}

/// kubectl's DeploymentStatusViewer: the line to print and whether the rollout is done,
/// or its error.
pub fn deployment_status(d: &Value, revision: i64) -> std::result::Result<(String, bool), String> {
    let name = d["metadata"]["name"].as_str().unwrap_or("");
    if revision > 0 {
        let current = revision_of(d)
            .map_err(|e| format!("cannot get the revision of deployment {name:?}: {e}"))?;
        if revision != current {
            return Err(format!(
                "desired revision ({revision}) is different from the running revision ({current})"
            ));
        }
    }
    let st = &d["status"];
    if int(&d["metadata"]["generation"]) > int(&st["observedGeneration"]) {
        return Ok((
            "Waiting for deployment spec update to be observed...\n".into(),
            false,
        ));
    }
    let timed_out = st["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded");
    if timed_out {
        return Err(format!(
            "deployment {name:?} exceeded its progress deadline"
        ));
    }
    let (updated, replicas, available) = (
        int(&st["updatedReplicas"]),
        int(&st["replicas"]),
        int(&st["availableReplicas"]),
    );
    if let Some(want) = d["spec"]["replicas"].as_i64()
        && updated < want
    {
        return Ok((
            format!(
                "Waiting for deployment {name:?} rollout to finish: {updated} out of {want} new replicas have been updated...\n"
            ),
            false,
        ));
    }
    if replicas > updated {
        return Ok((
            format!(
                "Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...\n",
                replicas - updated
            ),
            false,
        ));
    }
    if available < updated {
        return Ok((
            format!(
                "Waiting for deployment {name:?} rollout to finish: {available} of {updated} updated replicas are available...\n"
            ),
            false,
        ));
    }
    Ok((
        format!("deployment {name:?} successfully rolled out\n"),
        true,
    ))
}

/// The named objects of the arguments, each with its resource; every type alone lists
/// its objects in the namespace.
async fn objects<'a>(
    session: &Session,
    discovery: &'a super::Discovery,
    args: &[String],
) -> Result<Vec<(&'a Resource, Value)>> {
    if args.is_empty() {
        anyhow::bail!("required resource not specified");
    }
    let t = targets(discovery, args)?;
    let mut out = Vec::new();
    for (r, name) in t.named {
        out.push((r, session.get(&r.object(&session.namespace, &name)).await?));
    }
    for r in t.types {
        let list = session.get(&r.collection(Some(&session.namespace))).await?;
        for item in list["items"].as_array().into_iter().flatten() {
            out.push((r, item.clone()));
        }
    }
    Ok(out)
}

async fn status(args: StatusArgs) -> Result<Outcome> {
    let session = Session::new(&args.global)?;
    if args.revision < 0 {
        anyhow::bail!("revision must be a positive integer: {}", args.revision);
    }
    let timeout = super::delete::parse_duration(&args.timeout)?;
    let discovery = session.discovery().await?;
    let objs = objects(&session, discovery, &args.resources).await?;
    if objs.is_empty() {
        eprintln!("No resources found in {} namespace.", session.namespace);
    }
    let deadline = (!timeout.is_zero()).then(|| tokio::time::Instant::now() + timeout);
    for (r, obj) in objs {
        if r.kind != "Deployment" {
            anyhow::bail!(
                "no status viewer has been implemented for {}",
                group_kind(r)
            );
        }
        let watched = watch_status(&session, r, obj, args.revision, args.watch);
        match deadline {
            Some(at) => match tokio::time::timeout_at(at, watched).await {
                Ok(done) => done?,
                Err(_) => anyhow::bail!("timed out waiting for the condition"),
            },
            None => watched.await?,
        }
    }
    Ok(Outcome::Success)
}

/// Prints the status of `obj`, then of each change a watch on it brings, until the
/// rollout is done (or at once with `watch` false).
async fn watch_status(
    session: &Session,
    r: &Resource,
    mut obj: Value,
    revision: i64,
    watch: bool,
) -> Result<()> {
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let ns_opt = Some(session.namespace.as_str());
    loop {
        let (line, done) = deployment_status(&obj, revision).map_err(anyhow::Error::msg)?;
        print!("{line}");
        if done || !watch {
            return Ok(());
        }
        let rv = obj["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let q = query(&[
            ("watch", "1"),
            ("resourceVersion", &rv),
            ("fieldSelector", &format!("metadata.name={name}")),
        ]);
        let mut stream = session
            .client
            .stream(&format!("{}{q}", r.collection(ns_opt)), rest::JSON)
            .await
            .map_err(super::client_error)?;
        while let Some(event) = stream.next().await.map_err(super::client_error)? {
            match event["type"].as_str() {
                Some("ADDED" | "MODIFIED") => {
                    let (line, done) = deployment_status(&event["object"], revision)
                        .map_err(anyhow::Error::msg)?;
                    print!("{line}");
                    if done {
                        return Ok(());
                    }
                }
                Some("DELETED") => anyhow::bail!("object has been deleted"),
                Some("ERROR") => break,
                _ => {}
            }
        }
        // The watch ended (expired or closed): read again and go on.
        obj = match session.get(&r.object(&session.namespace, &name)).await {
            Ok(v) => v,
            Err(e) if super::is_not_found(&e) => anyhow::bail!("object has been deleted"),
            Err(e) => return Err(e),
        };
    }
}

/// The ReplicaSets `d` controls, from the namespace's list.
async fn replicasets_of(session: &Session, d: &Value) -> Result<Vec<Value>> {
    let ns = d["metadata"]["namespace"].as_str().unwrap_or("");
    let list = session
        .get(&format!("/apis/apps/v1/namespaces/{ns}/replicasets"))
        .await?;
    let uid = &d["metadata"]["uid"];
    Ok(list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|rs| {
            rs["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|o| o["controller"] == true && &o["uid"] == uid)
        })
        .cloned()
        .collect())
}

/// The revisions of `replicasets`, each with its template carrying the change cause of
/// its ReplicaSet (kubectl's history), in revision order. Unparsable revisions are left
/// out.
pub fn history_of(replicasets: &[Value]) -> std::collections::BTreeMap<i64, Value> {
    let mut out = std::collections::BTreeMap::new();
    for rs in replicasets {
        let Ok(v) = revision_of(rs) else { continue };
        let mut template = rs["spec"]["template"].clone();
        if let Some(cause) = rs["metadata"]["annotations"][CHANGE_CAUSE].as_str()
            && !cause.is_empty()
        {
            template["metadata"]["annotations"][CHANGE_CAUSE] = json!(cause);
        }
        out.insert(v, template);
    }
    out
}

/// kubectl's REVISION/CHANGE-CAUSE table (a tabwriter with padding 2), or its message
/// for no history.
pub fn history_table(history: &std::collections::BTreeMap<i64, Value>) -> String {
    if history.is_empty() {
        return "No rollout history found.".into();
    }
    let mut rows = vec![vec!["REVISION".to_string(), "CHANGE-CAUSE".to_string()]];
    for (rev, template) in history {
        let cause = template["metadata"]["annotations"][CHANGE_CAUSE]
            .as_str()
            .filter(|c| !c.is_empty())
            .unwrap_or("<none>");
        rows.push(vec![rev.to_string(), cause.to_string()]);
    }
    let text: String = rows.iter().map(|r| format!("{}\n", r.join("\t"))).collect();
    super::output::tabwrite(&text, 2)
}

/// `Title:\tk=v` (or `k: v`) then `\tk=v` for the rest, sorted; `<none>` when empty (kubectl's
/// printLabelsMultiline, through a PrefixWriter: the tabs stay).
fn multiline(out: &mut String, title: &str, map: &Value, sep: &str) {
    let mut entries: Vec<String> = map
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}{sep}{}", v.as_str().unwrap_or("")))
        .collect();
    entries.sort();
    if entries.is_empty() {
        out.push_str(&format!("{title}:\t<none>\n"));
    }
    for (i, e) in entries.iter().enumerate() {
        if i == 0 {
            out.push_str(&format!("{title}:\t{e}\n"));
        } else {
            out.push_str(&format!("\t{e}\n"));
        }
    }
}

/// kubectl's DescribePodTemplate for the common fields (labels, annotations, service
/// account, containers with image, ports, command, args, environment and mounts,
/// volumes by name, node selectors, tolerations), its tabs left as they are.
pub fn describe_template(t: &Value) -> String {
    let mut o = String::from("Pod Template:\n");
    multiline(&mut o, "  Labels", &t["metadata"]["labels"], "=");
    if t["metadata"]["annotations"]
        .as_object()
        .is_some_and(|m| !m.is_empty())
    {
        multiline(&mut o, "  Annotations", &t["metadata"]["annotations"], ": ");
    }
    let spec = &t["spec"];
    if let Some(sa) = spec["serviceAccountName"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        o.push_str(&format!("  Service Account:\t{sa}\n"));
    }
    for (title, key) in [
        ("Init Containers", "initContainers"),
        ("Containers", "containers"),
    ] {
        let cs: Vec<&Value> = spec[key].as_array().into_iter().flatten().collect();
        if cs.is_empty() && key == "initContainers" {
            continue;
        }
        o.push_str(&format!("  {title}:\n"));
        for c in cs {
            o.push_str(&format!("   {}:\n", c["name"].as_str().unwrap_or("")));
            o.push_str(&format!(
                "    Image:\t{}\n",
                c["image"].as_str().unwrap_or("")
            ));
            let ports: Vec<&Value> = c["ports"].as_array().into_iter().flatten().collect();
            let fmt = |k: &str| -> String {
                ports
                    .iter()
                    .map(|p| format!("{}/{}", int(&p[k]), p["protocol"].as_str().unwrap_or("TCP")))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            if ports.is_empty() {
                o.push_str("    Port:\t<none>\n    Host Port:\t<none>\n");
            } else {
                o.push_str(&format!("    Port:\t{}\n", fmt("containerPort")));
                o.push_str(&format!("    Host Port:\t{}\n", fmt("hostPort")));
            }
            for (field, label) in [("command", "Command"), ("args", "Args")] {
                if let Some(items) = c[field].as_array().filter(|a| !a.is_empty()) {
                    o.push_str(&format!("    {label}:\n"));
                    for i in items {
                        o.push_str(&format!("      {}\n", i.as_str().unwrap_or("")));
                    }
                }
            }
            let env: Vec<&Value> = c["env"].as_array().into_iter().flatten().collect();
            if env.is_empty() {
                o.push_str("    Environment:\t<none>\n");
            } else {
                o.push_str("    Environment:\n");
                for e in env {
                    o.push_str(&format!(
                        "      {}:\t{}\n",
                        e["name"].as_str().unwrap_or(""),
                        e["value"].as_str().unwrap_or("")
                    ));
                }
            }
            let mounts: Vec<&Value> = c["volumeMounts"].as_array().into_iter().flatten().collect();
            if mounts.is_empty() {
                o.push_str("    Mounts:\t<none>\n");
            } else {
                o.push_str("    Mounts:\n");
                for m in mounts {
                    let ro = if m["readOnly"] == true { "ro" } else { "rw" };
                    o.push_str(&format!(
                        "      {} from {} ({ro})\n",
                        m["mountPath"].as_str().unwrap_or(""),
                        m["name"].as_str().unwrap_or("")
                    ));
                }
            }
        }
    }
    let volumes: Vec<&Value> = spec["volumes"].as_array().into_iter().flatten().collect();
    if volumes.is_empty() {
        o.push_str("  Volumes:\t<none>\n");
    } else {
        o.push_str("  Volumes:\n");
        for v in volumes {
            o.push_str(&format!("   {}:\n", v["name"].as_str().unwrap_or("")));
        }
    }
    multiline(&mut o, "  Node-Selectors", &spec["nodeSelector"], "=");
    let tolerations: Vec<&Value> = spec["tolerations"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    if tolerations.is_empty() {
        o.push_str("  Tolerations:\t<none>\n");
    } else {
        for (i, t) in tolerations.iter().enumerate() {
            let mut s = t["key"].as_str().unwrap_or("").to_string();
            if let Some(v) = t["value"].as_str().filter(|v| !v.is_empty()) {
                s.push_str(&format!("={v}"));
            }
            if let Some(e) = t["effect"].as_str().filter(|e| !e.is_empty()) {
                s.push_str(&format!(":{e}"));
            }
            let head = if i == 0 { "  Tolerations:" } else { "" };
            o.push_str(&format!("{head}\t{s}\n"));
        }
    }
    o
}

async fn history(args: HistoryArgs) -> Result<Outcome> {
    let session = Session::new(&args.global)?;
    if args.revision < 0 {
        anyhow::bail!("revision must be a positive integer: {}", args.revision);
    }
    let discovery = session.discovery().await?;
    for (r, d) in objects(&session, discovery, &args.resources).await? {
        if r.kind != "Deployment" {
            anyhow::bail!(
                "no history viewer has been implemented for {:?}",
                group_kind(r)
            );
        }
        let history = history_of(&replicasets_of(&session, &d).await?);
        let name = super::output::name_ref(r, d["metadata"]["name"].as_str().unwrap_or(""));
        if args.revision > 0 {
            let Some(t) = history.get(&args.revision) else {
                anyhow::bail!("unable to find the specified revision");
            };
            println!(
                "{name} with revision #{}\n{}",
                args.revision,
                describe_template(t)
            );
        } else {
            println!("{name} \n{}", history_table(&history));
        }
    }
    Ok(Outcome::Success)
}

/// A template without the pod-template-hash label, for comparing and restoring.
fn without_hash(t: &Value) -> Value {
    let mut t = t.clone();
    if let Some(labels) = t["metadata"]["labels"].as_object_mut() {
        labels.remove(HASH_LABEL);
    }
    t
}

/// A revision and its ReplicaSet, while undo looks for the previous one.
type Candidate<'a> = (i64, Option<&'a Value>);

/// What undo does to deployment `d` given its ReplicaSets: the JSON patch restoring the
/// chosen revision (0: the one before the latest), `Ok(Err(message))` when there is
/// nothing to do, or kubectl's error.
pub fn undo_patch(
    d: &Value,
    replicasets: &[Value],
    to_revision: i64,
) -> std::result::Result<std::result::Result<Value, String>, String> {
    let not_found = || format!("unable to find specified revision {to_revision} in history");
    if to_revision < 0 {
        return Err(not_found());
    }
    let mut found: Option<&Value> = None;
    // The newest and second newest revisions seen, with their ReplicaSets.
    let (mut latest, mut previous): (Candidate, Candidate) = ((-1, None), (-1, None));
    for rs in replicasets {
        let Ok(v) = revision_of(rs) else { continue };
        if to_revision == 0 {
            if latest.0 < v {
                previous = latest;
                latest = (v, Some(rs));
            } else if previous.0 < v {
                previous = (v, Some(rs));
            }
        } else if to_revision == v {
            found = Some(rs);
            break;
        }
    }
    let name = d["metadata"]["name"].as_str().unwrap_or("");
    let rs = match (found, to_revision) {
        (Some(rs), _) => rs,
        (None, 0) => previous
            .1
            .ok_or_else(|| format!("no rollout history found for deployment {name:?}"))?,
        (None, _) => return Err(not_found()),
    };
    if d["spec"]["paused"] == true {
        return Err("you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again".into());
    }
    let template = without_hash(&rs["spec"]["template"]);
    if template == without_hash(&d["spec"]["template"]) {
        return Ok(Err(format!(
            "skipped rollback (current template already matches revision {to_revision})"
        )));
    }
    let mut annotations = serde_json::Map::new();
    for k in ANNOTATIONS_TO_SKIP {
        if let Some(v) = d["metadata"]["annotations"].get(k) {
            annotations.insert(k.to_string(), v.clone());
        }
    }
    for (k, v) in rs["metadata"]["annotations"]
        .as_object()
        .into_iter()
        .flatten()
    {
        if !ANNOTATIONS_TO_SKIP.contains(&k.as_str()) {
            annotations.insert(k.clone(), v.clone());
        }
    }
    Ok(Ok(json!([
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ])))
}

async fn undo(args: UndoArgs) -> Result<Outcome> {
    let session = Session::new(&args.global)?;
    let discovery = session.discovery().await?;
    for (r, d) in objects(&session, discovery, &args.resources).await? {
        if r.kind != "Deployment" {
            anyhow::bail!("no rollbacker has been implemented for {:?}", group_kind(r));
        }
        let name = d["metadata"]["name"].as_str().unwrap_or("").to_string();
        let rss = replicasets_of(&session, &d).await.map_err(|e| {
            anyhow::anyhow!("failed to retrieve replica sets from deployment {name}: {e}")
        })?;
        let shown = super::output::name_ref(r, &name);
        match undo_patch(&d, &rss, args.to_revision).map_err(anyhow::Error::msg)? {
            Err(skipped) => println!("{shown} {skipped}"),
            Ok(patch) => {
                session
                    .send(
                        Method::PATCH,
                        &r.object(&session.namespace, &name),
                        rest::JSON_PATCH,
                        &patch,
                    )
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("failed restoring revision {}: {e}", args.to_revision)
                    })?;
                println!("{shown} rolled back");
            }
        }
    }
    Ok(Outcome::Success)
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

    fn deployment(generation: i64, status: Value) -> Value {
        json!({"metadata": {"name": "web", "generation": generation,
                            "annotations": {REVISION: "2"}},
               "spec": {"replicas": 3}, "status": status})
    }

    #[test]
    fn status_lines_are_kubectls() {
        let s = |d: &Value, rev| deployment_status(d, rev);
        assert_eq!(
            s(&deployment(2, json!({"observedGeneration": 1})), 0).unwrap(),
            (
                "Waiting for deployment spec update to be observed...\n".into(),
                false
            )
        );
        let seen = |st: Value| {
            let mut st = st;
            st["observedGeneration"] = json!(1);
            deployment(1, st)
        };
        assert_eq!(
            s(&seen(json!({"updatedReplicas": 1, "replicas": 3})), 0)
                .unwrap()
                .0,
            "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...\n"
        );
        assert_eq!(
            s(&seen(json!({"updatedReplicas": 3, "replicas": 4})), 0)
                .unwrap()
                .0,
            "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...\n"
        );
        assert_eq!(
            s(
                &seen(json!({"updatedReplicas": 3, "replicas": 3, "availableReplicas": 1})),
                0
            )
            .unwrap()
            .0,
            "Waiting for deployment \"web\" rollout to finish: 1 of 3 updated replicas are available...\n"
        );
        let done = seen(json!({"updatedReplicas": 3, "replicas": 3, "availableReplicas": 3}));
        assert_eq!(
            s(&done, 2).unwrap(),
            ("deployment \"web\" successfully rolled out\n".into(), true)
        );
        assert_eq!(
            s(&done, 5).unwrap_err(),
            "desired revision (5) is different from the running revision (2)"
        );
        let stuck = seen(json!({"conditions": [
            {"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]}));
        assert_eq!(
            s(&stuck, 0).unwrap_err(),
            "deployment \"web\" exceeded its progress deadline"
        );
    }

    fn rs(rev: &str, image: &str, annotations: Value) -> Value {
        let mut a = annotations;
        a[REVISION] = json!(rev);
        json!({"metadata": {"annotations": a},
               "spec": {"template": {
                   "metadata": {"labels": {"app": "web", HASH_LABEL: format!("h{rev}")}},
                   "spec": {"containers": [{"name": "web", "image": image}]}}}})
    }

    #[test]
    fn history_table_is_kubectls() {
        let h = history_of(&[
            rs("10", "b", json!({CHANGE_CAUSE: "to b"})),
            rs("2", "a", json!({})),
            rs("x", "c", json!({})),
        ]);
        assert_eq!(
            history_table(&h),
            "REVISION  CHANGE-CAUSE\n2         <none>\n10        to b\n"
        );
        assert_eq!(
            history_table(&Default::default()),
            "No rollout history found."
        );
        assert_eq!(
            describe_template(&h[&2]),
            "Pod Template:\n  Labels:\tapp=web\n\tpod-template-hash=h2\n  Containers:\n   web:\n    Image:\ta\n    Port:\t<none>\n    Host Port:\t<none>\n    Environment:\t<none>\n    Mounts:\t<none>\n  Volumes:\t<none>\n  Node-Selectors:\t<none>\n  Tolerations:\t<none>\n"
        );
    }

    #[test]
    fn undo_restores_a_template_without_its_hash() {
        let mut d = rs(
            "2",
            "b",
            json!({"keep": "d", "kubectl.kubernetes.io/last-applied-configuration": "{}"}),
        );
        d["metadata"]["name"] = json!("web");
        d["spec"]["template"]["metadata"]["labels"] = json!({"app": "web"});
        let rss = [rs("1", "a", json!({"from": "rs"})), rs("2", "b", json!({}))];
        let patch = undo_patch(&d, &rss, 0).unwrap().unwrap();
        assert_eq!(
            patch[0]["value"]["metadata"]["labels"],
            json!({"app": "web"})
        );
        assert_eq!(patch[0]["value"]["spec"]["containers"][0]["image"], "a");
        assert_eq!(
            patch[1]["value"],
            json!({REVISION: "2", "kubectl.kubernetes.io/last-applied-configuration": "{}", "from": "rs"})
        );
        assert_eq!(
            undo_patch(&d, &rss, 2).unwrap().unwrap_err(),
            "skipped rollback (current template already matches revision 2)"
        );
        assert_eq!(
            undo_patch(&d, &rss, 7).unwrap_err(),
            "unable to find specified revision 7 in history"
        );
        assert_eq!(
            undo_patch(&d, &rss[1..], 0).unwrap_err(),
            "no rollout history found for deployment \"web\""
        );
        d["spec"]["paused"] = json!(true);
        assert!(
            undo_patch(&d, &rss, 1)
                .unwrap_err()
                .starts_with("you cannot rollback a paused")
        );
    }
}
