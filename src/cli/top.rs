//! `clipper top node|pod`: resource usage from the Metrics API (`metrics.k8s.io/v1beta1`),
//! as kubectl top prints it — CPU in millicores, memory in Mi, nodes with their share of
//! allocatable (or capacity), pods summed over their containers or per container; kubectl's
//! sorting, its `--sum` line, and its errors when the API is missing or has no metrics yet.

use clipper_proto::Quantity;
use serde_json::Value;

use super::output::tabwrite;
use super::{Global, Outcome, Result, Session, query};

const GROUP: &str = "metrics.k8s.io";
const VERSION: &str = "v1beta1";
/// kubectl's `metricsCreationDelay`: pods older than this should have metrics.
const METRICS_CREATION_DELAY_SECS: i64 = 120;

#[derive(clap::Args)]
pub struct TopArgs {
    #[command(subcommand)]
    pub what: TopWhat,
}

#[derive(clap::Subcommand)]
pub enum TopWhat {
    /// Display resource (CPU/memory) usage of nodes.
    #[command(visible_aliases = ["nodes", "no"])]
    Node(TopNodeArgs),
    /// Display resource (CPU/memory) usage of pods.
    #[command(visible_aliases = ["pods", "po"])]
    Pod(TopPodArgs),
}

#[derive(clap::Args)]
pub struct TopNodeArgs {
    /// A node's name.
    pub name: Option<String>,
    #[command(flatten)]
    pub global: Global,
    /// Label selector (e.g. -l key1=value1,key2!=value2).
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Sort by `cpu` or `memory`.
    #[arg(long)]
    pub sort_by: Option<String>,
    /// No header row.
    #[arg(long)]
    pub no_headers: bool,
    /// Percentages of the nodes' capacity instead of their allocatable resources.
    #[arg(long)]
    pub show_capacity: bool,
}

#[derive(clap::Args)]
pub struct TopPodArgs {
    /// A pod's name.
    pub name: Option<String>,
    #[command(flatten)]
    pub global: Global,
    /// Label selector (e.g. -l key1=value1,key2!=value2).
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Field selector (e.g. --field-selector metadata.name=web).
    #[arg(long)]
    pub field_selector: Option<String>,
    /// Sort by `cpu` or `memory`.
    #[arg(long)]
    pub sort_by: Option<String>,
    /// One line per container.
    #[arg(long)]
    pub containers: bool,
    /// Pods of every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// No header row.
    #[arg(long)]
    pub no_headers: bool,
    /// A last line with the sum of the usages.
    #[arg(long)]
    pub sum: bool,
}

pub async fn run(args: TopArgs) -> Result<Outcome> {
    match args.what {
        TopWhat::Node(a) => node(a).await,
        TopWhat::Pod(a) => pod(a).await,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SortBy {
    Name,
    Cpu,
    Memory,
}

fn sort_by(flag: Option<&str>) -> Result<SortBy> {
    match flag.unwrap_or("") {
        "" => Ok(SortBy::Name),
        "cpu" => Ok(SortBy::Cpu),
        "memory" => Ok(SortBy::Memory),
        _ => anyhow::bail!("--sort-by accepts only cpu or memory"),
    }
}

/// Whether the server serves metrics.k8s.io/v1beta1 (kubectl's
/// `SupportedMetricsAPIVersionAvailable`).
async fn metrics_api_available(session: &Session) -> Result<bool> {
    let groups = session.get("/apis").await?;
    Ok(groups["groups"].as_array().into_iter().flatten().any(|g| {
        g["name"] == GROUP
            && g["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|v| v["version"] == VERSION)
    }))
}

/// A usage quantity (`"123n"`, `"5Mi"`), zero when absent or unreadable.
fn quantity(v: &Value) -> Quantity {
    v.as_str()
        .and_then(|s| Quantity::parse(s).ok())
        .unwrap_or_default()
}

/// (CPU, memory) of a usage map.
fn usage(v: &Value) -> (Quantity, Quantity) {
    (quantity(&v["cpu"]), quantity(&v["memory"]))
}

fn cpu_text(q: &Quantity) -> String {
    format!("{}m", q.milli_value())
}

fn memory_text(q: &Quantity) -> String {
    format!("{}Mi", q.value() / (1024 * 1024))
}

/// kubectl's share: `int64(float64(used milli) / float64(available milli) * 100)`.
fn percent(used: &Quantity, available: &Quantity) -> String {
    let fraction = if available.is_zero() {
        0.0
    } else {
        used.milli_value() as f64 / available.milli_value() as f64 * 100.0
    };
    format!("{}%", fraction as i64)
}

fn items(list: Value) -> Vec<Value> {
    match list {
        Value::Object(mut m) => match m.remove("items") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

async fn node(args: TopNodeArgs) -> Result<Outcome> {
    let sort = sort_by(args.sort_by.as_deref())?;
    let selector = args.selector.clone().unwrap_or_default();
    if args.name.is_some() && !selector.is_empty() {
        anyhow::bail!("only one of NAME or --selector can be provided");
    }
    let session = Session::new(&args.global)?;
    if !metrics_api_available(&session).await? {
        anyhow::bail!("Metrics API not available");
    }
    let base = format!("/apis/{GROUP}/{VERSION}/nodes");
    let mut metrics = match &args.name {
        Some(name) => vec![session.get(&format!("{base}/{name}")).await?],
        None => items(
            session
                .get(&format!("{base}{}", query(&[("labelSelector", &selector)])))
                .await?,
        ),
    };
    if metrics.is_empty() {
        anyhow::bail!("metrics not available yet");
    }
    let nodes = match &args.name {
        Some(name) => vec![session.get(&format!("/api/v1/nodes/{name}")).await?],
        None => items(
            session
                .get(&format!(
                    "/api/v1/nodes{}",
                    query(&[("labelSelector", &selector)])
                ))
                .await?,
        ),
    };
    let field = if args.show_capacity {
        "capacity"
    } else {
        "allocatable"
    };
    let mut available: std::collections::BTreeMap<String, Value> = nodes
        .iter()
        .filter_map(|n| {
            Some((
                n["metadata"]["name"].as_str()?.to_string(),
                n["status"][field].clone(),
            ))
        })
        .collect();
    let key = |m: &Value| usage(&m["usage"]);
    metrics.sort_by(|a, b| match sort {
        SortBy::Cpu => key(b).0.milli_value().cmp(&key(a).0.milli_value()),
        SortBy::Memory => key(b).1.value().cmp(&key(a).1.value()),
        SortBy::Name => a["metadata"]["name"]
            .as_str()
            .cmp(&b["metadata"]["name"].as_str()),
    });
    let mut text = String::new();
    if !args.no_headers {
        text.push_str("NAME\tCPU(cores)\tCPU(%)\tMEMORY(bytes)\tMEMORY(%)\t\n");
    }
    for m in &metrics {
        let name = m["metadata"]["name"].as_str().unwrap_or_default();
        let (cpu, memory) = key(m);
        let avail = available.remove(name);
        text.push_str(name);
        text.push('\t');
        for (used, resource, shown) in [
            (&cpu, "cpu", cpu_text(&cpu)),
            (&memory, "memory", memory_text(&memory)),
        ] {
            text.push_str(&shown);
            text.push('\t');
            if let Some(a) = avail
                .as_ref()
                .map(|a| &a[resource])
                .filter(|a| !a.is_null())
            {
                text.push_str(&percent(used, &quantity(a)));
                text.push('\t');
            }
        }
        text.push('\n');
    }
    // Nodes without metrics.
    for name in available.keys() {
        text.push_str(&format!(
            "{name}\t<unknown>\t<unknown>\t<unknown>\t<unknown>\t\n"
        ));
    }
    print!("{}", tabwrite(&text, 3));
    Ok(Outcome::Success)
}

/// Go's `time.Duration.String` of a number of seconds.
fn go_duration(seconds: i64) -> String {
    let (h, m, s) = (seconds / 3600, (seconds / 60) % 60, seconds % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// kubectl's `checkPodAge`: a pod older than the metrics delay should have metrics.
fn check_pod_age(pod: &Value, now: i64) -> Result<()> {
    let created = pod["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(|t| clipper_proto::Time::parse(t).ok())
        .map(|t| t.unix_seconds())
        .unwrap_or(now);
    let age = now - created;
    if age > METRICS_CREATION_DELAY_SECS {
        anyhow::bail!(
            "Metrics not available for pod {}/{}, age: {}",
            pod["metadata"]["namespace"].as_str().unwrap_or_default(),
            pod["metadata"]["name"].as_str().unwrap_or_default(),
            go_duration(age)
        );
    }
    Ok(())
}

/// The sum of a pod's containers' usages.
fn pod_usage(m: &Value) -> (Quantity, Quantity) {
    let mut cpu = Quantity::default();
    let mut memory = Quantity::default();
    for c in m["containers"].as_array().into_iter().flatten() {
        let (c, mem) = usage(&c["usage"]);
        cpu += c;
        memory += mem;
    }
    (cpu, memory)
}

async fn pod(args: TopPodArgs) -> Result<Outcome> {
    let sort = sort_by(args.sort_by.as_deref())?;
    let selector = args.selector.clone().unwrap_or_default();
    let fields = args.field_selector.clone().unwrap_or_default();
    if args.name.is_some() && (!selector.is_empty() || !fields.is_empty()) {
        anyhow::bail!("only one of NAME or selector can be provided");
    }
    let session = Session::new(&args.global)?;
    if !metrics_api_available(&session).await? {
        anyhow::bail!("Metrics API not available");
    }
    let ns = &session.namespace;
    let base = if args.all_namespaces {
        format!("/apis/{GROUP}/{VERSION}/pods")
    } else {
        format!("/apis/{GROUP}/{VERSION}/namespaces/{ns}/pods")
    };
    let selectors = query(&[("labelSelector", &selector), ("fieldSelector", &fields)]);
    let mut metrics = match &args.name {
        Some(name) => vec![session.get(&format!("{base}/{name}")).await?],
        None => items(session.get(&format!("{base}{selectors}")).await?),
    };
    if metrics.is_empty() {
        // kubectl looks at the pods of the current namespace, even with -A.
        let pods = items(
            session
                .get(&format!("/api/v1/namespaces/{ns}/pods{selectors}"))
                .await?,
        );
        if !pods.is_empty() {
            let now = super::output::now_seconds();
            for p in &pods {
                check_pod_age(p, now)?;
            }
            anyhow::bail!("metrics not available yet");
        }
        if args.all_namespaces {
            eprintln!("No resources found");
        } else {
            eprintln!("No resources found in {ns} namespace.");
        }
        return Ok(Outcome::Success);
    }
    let name_of = |m: &Value| {
        (
            m["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            m["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    metrics.sort_by(|a, b| match sort {
        SortBy::Cpu => pod_usage(b)
            .0
            .milli_value()
            .cmp(&pod_usage(a).0.milli_value()),
        SortBy::Memory => pod_usage(b).1.value().cmp(&pod_usage(a).1.value()),
        SortBy::Name if args.all_namespaces => name_of(a).cmp(&name_of(b)),
        SortBy::Name => name_of(a).1.cmp(&name_of(b).1),
    });
    let mut text = String::new();
    let mut columns = 3;
    if !args.no_headers {
        if args.all_namespaces {
            text.push_str("NAMESPACE\t");
            columns += 1;
        }
        if args.containers {
            text.push_str("POD\t");
            columns += 1;
        }
        text.push_str("NAME\tCPU(cores)\tMEMORY(bytes)\t\n");
    }
    let line = |text: &mut String, name: &str, cpu: &Quantity, memory: &Quantity| {
        text.push_str(&format!(
            "{name}\t{}\t{}\t\n",
            cpu_text(cpu),
            memory_text(memory)
        ));
    };
    let mut total = (Quantity::default(), Quantity::default());
    for m in &metrics {
        let (namespace, name) = name_of(m);
        let (cpu, memory) = pod_usage(m);
        total.0 += cpu;
        total.1 += memory;
        if args.containers {
            let mut containers: Vec<&Value> =
                m["containers"].as_array().into_iter().flatten().collect();
            containers.sort_by(|a, b| {
                let (ua, ub) = (usage(&a["usage"]), usage(&b["usage"]));
                match sort {
                    SortBy::Cpu => ub.0.milli_value().cmp(&ua.0.milli_value()),
                    SortBy::Memory => ub.1.value().cmp(&ua.1.value()),
                    SortBy::Name => a["name"].as_str().cmp(&b["name"].as_str()),
                }
            });
            for c in containers {
                if args.all_namespaces {
                    text.push_str(&namespace);
                    text.push('\t');
                }
                text.push_str(&name);
                text.push('\t');
                let (cpu, memory) = usage(&c["usage"]);
                line(
                    &mut text,
                    c["name"].as_str().unwrap_or_default(),
                    &cpu,
                    &memory,
                );
            }
        } else {
            if args.all_namespaces {
                text.push_str(&namespace);
                text.push('\t');
            }
            line(&mut text, &name, &cpu, &memory);
        }
    }
    if args.sum {
        // kubectl counts the optional columns only when it printed headers.
        text.push_str(&"\t".repeat(columns - 2));
        text.push_str("________\t________\t\n");
        text.push_str(&"\t".repeat(columns - 3));
        line(&mut text, "", &total.0, &total.1);
    }
    print!("{}", tabwrite(&text, 3));
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_print_as_kubectl_top_prints_them() {
        let (cpu, memory) = usage(&json!({"cpu": "1234567n", "memory": "5308Ki"}));
        assert_eq!(cpu_text(&cpu), "2m");
        assert_eq!(memory_text(&memory), "5Mi");
        assert_eq!(percent(&cpu, &Quantity::parse("2").expect("q")), "0%");
        assert_eq!(
            percent(
                &Quantity::parse("500m").expect("q"),
                &Quantity::parse("2").expect("q")
            ),
            "25%"
        );
        assert_eq!(
            percent(&cpu, &Quantity::default()),
            "0%",
            "nothing available"
        );
        let pod = json!({"containers": [
            {"name": "a", "usage": {"cpu": "250m", "memory": "1Mi"}},
            {"name": "b", "usage": {"cpu": "500000000n", "memory": "3Mi"}},
        ]});
        let (cpu, memory) = pod_usage(&pod);
        assert_eq!(
            (cpu_text(&cpu), memory_text(&memory)),
            ("750m".into(), "4Mi".into())
        );
    }

    #[test]
    fn ages_and_sort_flags() {
        assert_eq!(go_duration(59), "59s");
        assert_eq!(go_duration(185), "3m5s");
        assert_eq!(go_duration(3601), "1h0m1s");
        assert!(sort_by(Some("cpu")).is_ok());
        assert_eq!(
            sort_by(Some("name")).unwrap_err().to_string(),
            "--sort-by accepts only cpu or memory"
        );
        let old = json!({"metadata": {"name": "p", "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z"}});
        let now = clipper_proto::Time::parse("2026-01-01T00:03:05Z")
            .expect("time")
            .unix_seconds();
        assert_eq!(
            check_pod_age(&old, now).unwrap_err().to_string(),
            "Metrics not available for pod ns/p, age: 3m5s"
        );
        assert!(check_pod_age(&old, now - 100).is_ok());
    }
}
