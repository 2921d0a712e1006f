//! `clipper api-resources` (the resource types of discovery, as kubectl lists them) and
//! `clipper events` (core/v1 Events, oldest first, as `kubectl events` prints them).

use serde_json::Value;

use super::output::{self, align};
use super::{Global, Outcome, Result, Session, query};

#[derive(clap::Args)]
pub struct ApiResourcesArgs {
    /// Only namespaced (true) or cluster-scoped (false) resources.
    #[arg(long)]
    pub namespaced: Option<bool>,
    /// Only resources of this API group (`""` for core).
    #[arg(long)]
    pub api_group: Option<String>,
    /// `wide` adds VERBS and CATEGORIES; `name` prints `plural.group`.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// No header row.
    #[arg(long)]
    pub no_headers: bool,
    #[command(flatten)]
    pub global: Global,
}

pub async fn api_resources(args: ApiResourcesArgs) -> Result<Outcome> {
    let session = Session::new(&args.global)?;
    let discovery = session.discovery().await?;
    let mut list: Vec<_> = discovery
        .resources
        .iter()
        .filter(|r| args.namespaced.is_none_or(|n| r.namespaced == n))
        .filter(|r| args.api_group.as_ref().is_none_or(|g| &r.group == g))
        .collect();
    // kubectl sorts by group, stably: within a group, the server's order.
    list.sort_by(|a, b| a.group.cmp(&b.group));
    let wide = match args.output.as_deref() {
        None => false,
        Some("wide") => true,
        Some("name") => {
            for r in list {
                if r.group.is_empty() {
                    println!("{}", r.name);
                } else {
                    println!("{}.{}", r.name, r.group);
                }
            }
            return Ok(Outcome::Success);
        }
        Some(o) => anyhow::bail!("--output {o} is not available"),
    };
    let mut rows = Vec::new();
    if !args.no_headers {
        let mut h: Vec<String> = ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
            .map(String::from)
            .to_vec();
        if wide {
            h.extend(["VERBS".to_string(), "CATEGORIES".to_string()]);
        }
        rows.push(h);
    }
    for r in list {
        let mut row = vec![
            r.name.clone(),
            r.short_names.join(","),
            r.api_version(),
            r.namespaced.to_string(),
            r.kind.clone(),
        ];
        if wide {
            row.push(format!("[{}]", r.verbs.join(" ")));
            row.push(r.categories.join(","));
        }
        rows.push(row);
    }
    print!("{}", align(&rows));
    Ok(Outcome::Success)
}

#[derive(clap::Args)]
pub struct EventsArgs {
    /// Events of all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Only events of this type (Normal, Warning); repeatable or comma-separated.
    #[arg(long = "types")]
    pub types: Vec<String>,
    /// Only events about this object (TYPE/NAME).
    #[arg(long = "for")]
    pub for_object: Option<String>,
    /// No header row.
    #[arg(long)]
    pub no_headers: bool,
    #[command(flatten)]
    pub global: Global,
}

/// An event's last time, in microseconds: lastTimestamp, else eventTime, else the
/// series' last observation, else creation.
pub fn event_time(e: &Value) -> i64 {
    for t in [
        &e["lastTimestamp"],
        &e["series"]["lastObservedTime"],
        &e["eventTime"],
        &e["firstTimestamp"],
        &e["metadata"]["creationTimestamp"],
    ] {
        if let Some(m) = t
            .as_str()
            .and_then(|s| clipper_proto::MicroTime::parse(s).ok())
        {
            return m.unix_micros();
        }
    }
    0
}

fn first_time(e: &Value) -> i64 {
    for t in [
        &e["firstTimestamp"],
        &e["eventTime"],
        &e["metadata"]["creationTimestamp"],
    ] {
        if let Some(m) = t
            .as_str()
            .and_then(|s| clipper_proto::MicroTime::parse(s).ok())
        {
            return m.unix_micros();
        }
    }
    0
}

/// kubectl's LAST SEEN: the age of the last occurrence, and for repeated events
/// `AGE (xN over AGE)`.
pub fn last_seen(e: &Value, now: i64) -> String {
    let last = output::human_duration(now - event_time(e) / 1_000_000);
    let count = e["count"]
        .as_i64()
        .or_else(|| e["series"]["count"].as_i64())
        .unwrap_or(1);
    if count > 1 {
        let first = output::human_duration(now - first_time(e) / 1_000_000);
        format!("{last} (x{count} over {first})")
    } else {
        last
    }
}

pub async fn events(args: EventsArgs) -> Result<Outcome> {
    let session = Session::new(&args.global)?;
    let mut field = String::new();
    if let Some(f) = &args.for_object {
        let discovery = session.discovery().await?;
        let (ty, name) = f
            .split_once('/')
            .ok_or_else(|| anyhow::anyhow!("--for must be in resource/name form"))?;
        let r = discovery.resolve(ty)?;
        field = format!("involvedObject.kind={},involvedObject.name={name}", r.kind);
    }
    let path = if args.all_namespaces {
        "/api/v1/events".to_string()
    } else {
        format!("/api/v1/namespaces/{}/events", session.namespace)
    };
    let list = session
        .get(&format!("{path}{}", query(&[("fieldSelector", &field)])))
        .await?;
    let types: Vec<String> = args
        .types
        .iter()
        .flat_map(|t| t.split(','))
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let mut items: Vec<&Value> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            types.is_empty() || types.contains(&e["type"].as_str().unwrap_or("").to_lowercase())
        })
        .collect();
    if items.is_empty() {
        if args.all_namespaces {
            eprintln!("No events found.");
        } else {
            eprintln!("No events found in {} namespace.", session.namespace);
        }
        return Ok(Outcome::Success);
    }
    items.sort_by_key(|e| event_time(e));
    let now = output::now_seconds();
    let mut rows = Vec::new();
    if !args.no_headers {
        let mut h = Vec::new();
        if args.all_namespaces {
            h.push("NAMESPACE".to_string());
        }
        h.extend(["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"].map(String::from));
        rows.push(h);
    }
    for e in items {
        let mut row = Vec::new();
        if args.all_namespaces {
            row.push(
                e["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            );
        }
        let involved = &e["involvedObject"];
        row.push(last_seen(e, now));
        row.push(e["type"].as_str().unwrap_or("").to_string());
        row.push(e["reason"].as_str().unwrap_or("").to_string());
        row.push(format!(
            "{}/{}",
            involved["kind"].as_str().unwrap_or(""),
            involved["name"].as_str().unwrap_or("")
        ));
        row.push(e["message"].as_str().unwrap_or("").trim().to_string());
        rows.push(row);
    }
    print!("{}", align(&rows));
    Ok(Outcome::Success)
}
