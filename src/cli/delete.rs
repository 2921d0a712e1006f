//! `clipper delete`: by manifest, by type and names, or by selector/`--all`; then, unless
//! `--wait=false`, until each object is gone (a watch on it, not polling).

use std::time::Duration;

use clipper_client::rest::{self, Method};
use serde_json::{Value, json};

use super::discovery::{Resource, targets};
use super::{Global, Outcome, Result, Session, client_error, is_not_found, print_error, query};

#[derive(clap::Args)]
pub struct DeleteArgs {
    /// TYPE NAME..., TYPE/NAME..., or TYPE with -l or --all.
    pub resources: Vec<String>,
    /// Delete the objects of these files, directories or `-` (stdin).
    #[arg(short = 'f', long = "filename")]
    pub files: Vec<String>,
    /// Process directories recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Delete the objects matching this label selector.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Delete the objects matching this field selector.
    #[arg(long)]
    pub field_selector: Option<String>,
    /// Delete every object of the types in the namespace.
    #[arg(long)]
    pub all: bool,
    /// Wait until the objects are gone.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub wait: bool,
    /// How dependents go: background, foreground or orphan.
    #[arg(long, default_value = "background", num_args = 0..=1, default_missing_value = "background")]
    pub cascade: String,
    /// Seconds the object gets to terminate gracefully (-1: the object's default; 0
    /// needs --force).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub grace_period: i64,
    /// Delete immediately, without waiting for graceful termination (grace period 0).
    #[arg(long)]
    pub force: bool,
    /// Grace period 1: signal the object to stop now.
    #[arg(long)]
    pub now: bool,
    /// Succeed when an object does not exist.
    #[arg(long)]
    pub ignore_not_found: bool,
    /// How long to wait for deletion (e.g. 30s, 2m; 0: without limit).
    #[arg(long, default_value = "0s")]
    pub timeout: String,
    /// `name` prints `kind/name` per deleted object.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    #[command(flatten)]
    pub global: Global,
}

/// `30s`, `2m`, `1h`, `1m30s`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || anyhow::anyhow!("invalid duration {s:?}");
    if let Ok(n) = s.parse::<u64>() {
        return Ok(Duration::from_secs(n));
    }
    let mut total = 0f64;
    let mut number = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            0.001
        } else {
            match c {
                'h' => 3600.0,
                'm' => 60.0,
                's' => 1.0,
                _ => return Err(bad()),
            }
        };
        let n: f64 = number.parse().map_err(|_| bad())?;
        total += n * unit;
        number.clear();
    }
    if !number.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

pub async fn run(args: DeleteArgs) -> Result<Outcome> {
    let session = Session::new(&args.global)?;
    let propagation = match args.cascade.as_str() {
        "background" | "true" => "Background",
        "foreground" => "Foreground",
        "orphan" | "false" => "Orphan",
        other => anyhow::bail!(
            "invalid cascade value ({other}). Must be \"background\", \"foreground\", or \"orphan\""
        ),
    };
    let mut grace = args.grace_period;
    if args.now {
        grace = 1;
    }
    if args.force && grace < 0 {
        grace = 0;
    }
    if grace == 0 && !args.force {
        anyhow::bail!("--grace-period=0 must have --force specified");
    }
    if args.force {
        eprintln!(
            "Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely."
        );
    }
    let timeout = parse_duration(&args.timeout)?;
    let discovery = session.discovery().await?;
    // (type, namespace, name)
    let mut victims: Vec<(&Resource, String, String)> = Vec::new();
    let mut ok = true;
    if !args.files.is_empty() {
        for (_, obj) in super::read_manifests(&args.files, args.recursive)? {
            let resource = discovery.for_kind(
                obj["apiVersion"].as_str().unwrap_or(""),
                obj["kind"].as_str().unwrap_or(""),
            )?;
            let ns = if resource.namespaced {
                obj["metadata"]["namespace"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .unwrap_or(&session.namespace)
                    .to_string()
            } else {
                String::new()
            };
            let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
            victims.push((resource, ns, name));
        }
    } else {
        if args.resources.is_empty() {
            anyhow::bail!(
                "You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'"
            );
        }
        let t = targets(discovery, &args.resources)?;
        let selecting = args.all || args.selector.is_some() || args.field_selector.is_some();
        if !t.types.is_empty() && !selecting {
            anyhow::bail!("resource(s) were provided, but no name was specified");
        }
        for (r, name) in t.named {
            victims.push((r, session.namespace.clone(), name));
        }
        for r in t.types {
            let q = query(&[
                ("labelSelector", args.selector.as_deref().unwrap_or("")),
                (
                    "fieldSelector",
                    args.field_selector.as_deref().unwrap_or(""),
                ),
            ]);
            let list = session
                .get(&format!("{}{q}", r.collection(Some(&session.namespace))))
                .await?;
            for item in list["items"].as_array().into_iter().flatten() {
                let meta = &item["metadata"];
                victims.push((
                    r,
                    meta["namespace"].as_str().unwrap_or("").to_string(),
                    meta["name"].as_str().unwrap_or("").to_string(),
                ));
            }
        }
        if victims.is_empty() {
            eprintln!("No resources found");
            return Ok(Outcome::Success);
        }
    }
    let mut options = json!({
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "propagationPolicy": propagation,
    });
    if grace >= 0 {
        options["gracePeriodSeconds"] = json!(grace);
    }
    let mut pending = Vec::new();
    for (resource, ns, name) in victims {
        let path = resource.object(&ns, &name);
        match session
            .send(Method::DELETE, &path, rest::JSON, &options)
            .await
        {
            Ok(answer) => {
                let r = resource.kind_ref();
                if args.output.as_deref() == Some("name") {
                    println!("{r}/{name}");
                } else {
                    println!("{r} \"{name}\" deleted");
                }
                // A Status means it is gone; an object, that it is going (finalizers,
                // graceful deletion).
                if answer["kind"] != "Status" {
                    let uid = answer["metadata"]["uid"].as_str().unwrap_or("").to_string();
                    pending.push((resource, ns, name, uid));
                }
            }
            Err(e) if args.ignore_not_found && is_not_found(&e) => {}
            Err(e) => {
                print_error(&e);
                ok = false;
            }
        }
    }
    if args.wait {
        let deadline = (!timeout.is_zero()).then(|| tokio::time::Instant::now() + timeout);
        for (resource, ns, name, uid) in pending {
            let gone = wait_gone(&session, resource, &ns, &name, &uid);
            let result = match deadline {
                Some(d) => match tokio::time::timeout_at(d, gone).await {
                    Ok(r) => r,
                    Err(_) => Err(anyhow::anyhow!(
                        "timed out waiting for the condition on {}/{name}",
                        resource.name
                    )),
                },
                None => gone.await,
            };
            if let Err(e) = result {
                print_error(&e);
                ok = false;
            }
        }
    }
    Ok(Outcome::from_ok(ok))
}

/// Returns once the object `uid` named `name` no longer exists: a read, then a watch on
/// the name from that read's revision until its DELETED event (or a successor with
/// another uid).
pub async fn wait_gone(
    session: &Session,
    resource: &Resource,
    ns: &str,
    name: &str,
    uid: &str,
) -> Result<()> {
    loop {
        let current = match session.get(&resource.object(ns, name)).await {
            Ok(v) => v,
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(e),
        };
        if !uid.is_empty() && current["metadata"]["uid"] != uid {
            return Ok(());
        }
        let rv = current["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let q = query(&[
            ("watch", "1"),
            ("resourceVersion", &rv),
            ("fieldSelector", &format!("metadata.name={name}")),
        ]);
        let ns_opt = (!ns.is_empty()).then_some(ns);
        let mut stream = session
            .client
            .stream(&format!("{}{q}", resource.collection(ns_opt)), rest::JSON)
            .await
            .map_err(client_error)?;
        while let Some(event) = stream.next().await.map_err(client_error)? {
            let obj: &Value = &event["object"];
            match event["type"].as_str() {
                Some("DELETED") if obj["metadata"]["uid"] == uid || uid.is_empty() => {
                    return Ok(());
                }
                // Expired or otherwise failed: read again.
                Some("ERROR") => break,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        assert!(parse_duration("5x").is_err());
    }
}
