//! The verbs that change part of an object: `patch`, `label`, `annotate`, `scale`,
//! `cordon` and `uncordon`. Each prints kubectl's `kind/name VERBED` line, or its
//! `(no change)` form when the resourceVersion did not move.

use clipper_client::rest::{self, Method};
use serde_json::{Map, Value, json};

use super::discovery::{Resource, targets};
use super::{Global, Outcome, Result, Session, print_error, query};

#[derive(clap::Args)]
pub struct PatchArgs {
    /// TYPE NAME or TYPE/NAME.
    pub resources: Vec<String>,
    /// The patch (JSON or YAML).
    #[arg(short = 'p', long)]
    pub patch: String,
    /// strategic, merge or json.
    #[arg(long = "type", default_value = "strategic")]
    pub patch_type: String,
    /// Patch this subresource (e.g. status, scale).
    #[arg(long)]
    pub subresource: Option<String>,
    /// `name` prints `kind/name`.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    #[command(flatten)]
    pub global: Global,
}

#[derive(clap::Args)]
pub struct MetaArgs {
    /// TYPE NAME... KEY=VALUE... KEY-... (or TYPE/NAME...; or TYPE with -l / --all).
    #[arg(required = true)]
    pub args: Vec<String>,
    /// Replace existing values.
    #[arg(long)]
    pub overwrite: bool,
    /// Select objects by label.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Every object of the type in the namespace.
    #[arg(long)]
    pub all: bool,
    /// `name` prints `kind/name`.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    #[command(flatten)]
    pub global: Global,
}

#[derive(clap::Args)]
pub struct ScaleArgs {
    /// TYPE NAME... or TYPE/NAME...
    pub resources: Vec<String>,
    /// The new number of replicas.
    #[arg(long)]
    pub replicas: i64,
    /// Only scale if the current number of replicas is this (precondition).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub current_replicas: i64,
    #[command(flatten)]
    pub global: Global,
}

#[derive(clap::Args)]
pub struct NodeArgs {
    /// Node names.
    #[arg(required = true)]
    pub nodes: Vec<String>,
    #[command(flatten)]
    pub global: Global,
}

fn named<'a>(
    discovery: &'a super::Discovery,
    args: &[String],
    verb: &str,
) -> Result<Vec<(&'a Resource, String)>> {
    let t = targets(discovery, args)?;
    if !t.types.is_empty() {
        anyhow::bail!("resource(s) were provided, but no name was specified for {verb}");
    }
    Ok(t.named)
}

fn path_of(session: &Session, r: &Resource, name: &str, sub: Option<&str>) -> String {
    let mut p = r.object(&session.namespace, name);
    if let Some(s) = sub {
        p.push('/');
        p.push_str(s);
    }
    p
}

pub async fn patch(args: PatchArgs) -> Result<Outcome> {
    let session = Session::new(&args.global)?;
    let content_type = match args.patch_type.as_str() {
        "strategic" => rest::STRATEGIC_MERGE_PATCH,
        "merge" => rest::MERGE_PATCH,
        "json" => rest::JSON_PATCH,
        other => anyhow::bail!("--type must be one of [json merge strategic], not \"{other}\""),
    };
    let body: Value = clipper_proto::codec::yaml_documents(&args.patch)
        .ok()
        .and_then(|mut d| (d.len() == 1).then(|| d.remove(0)))
        .ok_or_else(|| anyhow::anyhow!("unable to parse \"{}\": not JSON or YAML", args.patch))?;
    let discovery = session.discovery().await?;
    let objects = named(discovery, &args.resources, "patch")?;
    if objects.is_empty() {
        anyhow::bail!("you must specify a resource and name to patch");
    }
    let mut ok = true;
    for (r, name) in objects {
        let path = path_of(&session, r, &name, args.subresource.as_deref());
        let step = async {
            let before = session.get(&path).await?;
            let after = session
                .send(
                    Method::PATCH,
                    &format!("{path}{}", query(&[("fieldManager", "clipper")])),
                    content_type,
                    &body,
                )
                .await?;
            let changed =
                before["metadata"]["resourceVersion"] != after["metadata"]["resourceVersion"];
            report(args.output.as_deref(), r, &name, "patched", changed);
            Ok::<_, anyhow::Error>(())
        };
        if let Err(e) = step.await {
            print_error(&e);
            ok = false;
        }
    }
    Ok(Outcome::from_ok(ok))
}

fn report(output: Option<&str>, r: &Resource, name: &str, verb: &str, changed: bool) {
    let n = super::output::name_ref(r, name);
    if output == Some("name") {
        println!("{n}");
    } else if changed {
        println!("{n} {verb}");
    } else {
        println!("{n} {verb} (no change)");
    }
}

#[derive(Clone, Copy)]
pub enum MetaField {
    Labels,
    Annotations,
}

pub async fn meta(args: MetaArgs, field: MetaField) -> Result<Outcome> {
    let session = Session::new(&args.global)?;
    let (key, verb) = match field {
        MetaField::Labels => ("labels", "labeled"),
        MetaField::Annotations => ("annotations", "annotated"),
    };
    // Resources first, then the changes (KEY=VALUE, KEY-).
    let split = args
        .args
        .iter()
        .position(|a| a.contains('=') || (a.ends_with('-') && !a.contains('/')))
        .unwrap_or(args.args.len());
    let (resource_args, change_args) = args.args.split_at(split);
    if change_args.is_empty() {
        anyhow::bail!("at least one {} update is required", &key[..key.len() - 1]);
    }
    let mut set = Map::new();
    let mut remove = Vec::new();
    for c in change_args {
        if let Some((k, v)) = c.split_once('=') {
            if k.is_empty() {
                anyhow::bail!("invalid {} format: {c}", &key[..key.len() - 1]);
            }
            set.insert(k.to_string(), Value::String(v.to_string()));
        } else if let Some(k) = c.strip_suffix('-') {
            remove.push(k.to_string());
        } else {
            anyhow::bail!("invalid {} format: {c}", &key[..key.len() - 1]);
        }
    }
    let discovery = session.discovery().await?;
    let t = targets(discovery, resource_args)?;
    let mut objects = t.named;
    for r in t.types {
        if !args.all && args.selector.is_none() {
            anyhow::bail!("resource(s) were provided, but no name was specified");
        }
        let q = query(&[("labelSelector", args.selector.as_deref().unwrap_or(""))]);
        let list = session
            .get(&format!("{}{q}", r.collection(Some(&session.namespace))))
            .await?;
        for item in list["items"].as_array().into_iter().flatten() {
            objects.push((
                r,
                item["metadata"]["name"].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    if objects.is_empty() {
        anyhow::bail!(
            "one or more resources must be specified as <resource> <name> or <resource>/<name>"
        );
    }
    let mut ok = true;
    for (r, name) in objects {
        let path = path_of(&session, r, &name, None);
        let step = async {
            let current = session.get(&path).await?;
            let existing = &current["metadata"][key];
            let mut changes = Map::new();
            for (k, v) in &set {
                match existing.get(k) {
                    Some(old) if old == v => {}
                    Some(old) if !args.overwrite => anyhow::bail!(
                        "'{k}' already has a value ({}), and --overwrite is false",
                        old.as_str().unwrap_or("")
                    ),
                    _ => {
                        changes.insert(k.clone(), v.clone());
                    }
                }
            }
            for k in &remove {
                if existing.get(k).is_some() {
                    changes.insert(k.clone(), Value::Null);
                } else if matches!(field, MetaField::Labels) {
                    eprintln!("label \"{k}\" not found.");
                }
            }
            let mut changed = false;
            if !changes.is_empty() {
                // The resourceVersion makes this a compare-and-swap on what was checked.
                let patch = json!({"metadata": {
                    key: changes,
                    "resourceVersion": current["metadata"]["resourceVersion"],
                }});
                let after = session
                    .send(
                        Method::PATCH,
                        &format!("{path}{}", query(&[("fieldManager", "clipper")])),
                        rest::MERGE_PATCH,
                        &patch,
                    )
                    .await?;
                changed =
                    after["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"];
            }
            let n = super::output::name_ref(r, &name);
            if args.output.as_deref() == Some("name") {
                println!("{n}");
            } else if changed || matches!(field, MetaField::Annotations) {
                println!("{n} {verb}");
            } else {
                println!("{n} not {verb}");
            }
            Ok::<_, anyhow::Error>(())
        };
        if let Err(e) = step.await {
            print_error(&e);
            ok = false;
        }
    }
    Ok(Outcome::from_ok(ok))
}

pub async fn scale(args: ScaleArgs) -> Result<Outcome> {
    let session = Session::new(&args.global)?;
    if args.replicas < 0 {
        anyhow::bail!(
            "The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0"
        );
    }
    let discovery = session.discovery().await?;
    let objects = named(discovery, &args.resources, "scale")?;
    if objects.is_empty() {
        anyhow::bail!("resource(s) were provided, but no name was specified");
    }
    let mut ok = true;
    for (r, name) in objects {
        let path = path_of(&session, r, &name, Some("scale"));
        let step = async {
            let mut patch = json!({"spec": {"replicas": args.replicas}});
            if args.current_replicas >= 0 {
                let current = session.get(&path).await?;
                let now = current["spec"]["replicas"].as_i64().unwrap_or(0);
                if now != args.current_replicas {
                    anyhow::bail!(
                        "Expected replicas to be {}, was {now}",
                        args.current_replicas
                    );
                }
                patch["metadata"] =
                    json!({"resourceVersion": current["metadata"]["resourceVersion"]});
            }
            session
                .send(
                    Method::PATCH,
                    &format!("{path}{}", query(&[("fieldManager", "clipper")])),
                    rest::MERGE_PATCH,
                    &patch,
                )
                .await?;
            println!("{} scaled", super::output::name_ref(r, &name));
            Ok::<_, anyhow::Error>(())
        };
        if let Err(e) = step.await {
            print_error(&e);
            ok = false;
        }
    }
    Ok(Outcome::from_ok(ok))
}

pub async fn cordon(args: NodeArgs, unschedulable: bool) -> Result<Outcome> {
    let session = Session::new(&args.global)?;
    let mut ok = true;
    for node in &args.nodes {
        let path = format!("/api/v1/nodes/{node}");
        let step = async {
            let current = session.get(&path).await?;
            let is = current["spec"]["unschedulable"].as_bool().unwrap_or(false);
            let word = if unschedulable {
                "cordoned"
            } else {
                "uncordoned"
            };
            if is == unschedulable {
                println!("node/{node} already {word}");
                return Ok(());
            }
            let value = if unschedulable {
                json!(true)
            } else {
                Value::Null
            };
            session
                .send(
                    Method::PATCH,
                    &format!("{path}{}", query(&[("fieldManager", "clipper")])),
                    rest::STRATEGIC_MERGE_PATCH,
                    &json!({"spec": {"unschedulable": value}}),
                )
                .await?;
            println!("node/{node} {word}");
            Ok::<_, anyhow::Error>(())
        };
        if let Err(e) = step.await {
            print_error(&e);
            ok = false;
        }
    }
    Ok(Outcome::from_ok(ok))
}
