//! `clipper logs POD [CONTAINER] [-c CONTAINER] [-f] [-p] [--tail N] [--since D]
//! [--since-time T] [--timestamps] [--limit-bytes N]`: kubectl's logs for one pod. The pod
//! is read first and its container chosen as kubectl chooses it (`-c`, else the
//! `kubectl.kubernetes.io/default-container` annotation, else the first container with a
//! `Defaulted container` note on stderr); the log is then streamed to stdout as it arrives.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use super::{Global, Outcome, Result, Session, client_error, query};

/// The annotation naming the container kubectl picks when none is given.
pub const DEFAULT_CONTAINER_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";
/// What `clipper logs` accepts: any representation (the body is text/plain; errors JSON).
const ACCEPT: &str = "application/json, */*";

#[derive(clap::Args)]
pub struct LogsArgs {
    /// POD or pod/NAME, and (deprecated, as kubectl) the container.
    #[arg(required = true, num_args = 1..=2)]
    pub args: Vec<String>,
    /// Print the logs of this container.
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Specify if the logs should be streamed.
    #[arg(short = 'f', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    pub follow: bool,
    /// Print the logs for the previous instance of the container, if it exists.
    #[arg(short = 'p', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    pub previous: bool,
    /// Lines of recent log file to display; -1 shows all.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub tail: i64,
    /// Only logs newer than a relative duration like 5s, 2m, or 3h.
    #[arg(long)]
    pub since: Option<String>,
    /// Only logs after a specific date (RFC3339).
    #[arg(long)]
    pub since_time: Option<String>,
    /// Include timestamps on each line in the log output.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    pub timestamps: bool,
    /// Maximum bytes of logs to return; 0 for no limit.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub limit_bytes: i64,
    #[command(flatten)]
    pub global: Global,
}

/// Go's `time.ParseDuration`, in whole nanoseconds: `300ms`, `1.5h`, `2h45m`, `0`.
pub fn parse_go_duration(s: &str) -> Option<i128> {
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * unit;
    }
    let ns = total.round() as i128;
    Some(if negative { -ns } else { ns })
}

/// The options kubectl sends, checked as kubectl checks them.
#[derive(Debug, Default, PartialEq, Eq)]
struct Options {
    since_seconds: Option<i64>,
    since_time: Option<String>,
    tail_lines: Option<i64>,
    limit_bytes: Option<i64>,
}

fn options(args: &LogsArgs) -> Result<Options> {
    let mut out = Options::default();
    if let Some(since) = &args.since {
        let ns = parse_go_duration(since).ok_or_else(|| {
            anyhow::anyhow!(
                "invalid argument {since:?} for \"--since\" flag: time: invalid duration {since:?}"
            )
        })?;
        if ns < 0 {
            anyhow::bail!("--since must be greater than 0");
        }
        if ns > 0 {
            let secs = Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX));
            // kubectl rounds up to whole seconds.
            let whole = secs.as_secs() + u64::from(secs.subsec_nanos() > 0);
            out.since_seconds = Some(i64::try_from(whole).unwrap_or(i64::MAX));
        }
    }
    if let Some(t) = &args.since_time {
        if out.since_seconds.is_some() {
            anyhow::bail!("at most one of `sinceTime` or `sinceSeconds` may be specified");
        }
        let parsed = clipper_proto::Time::parse(t).map_err(|_| {
            anyhow::anyhow!(
                "--since-time only accepts times matching RFC3339, eg '2006-01-02T15:04:05Z'"
            )
        })?;
        out.since_time = Some(parsed.to_string());
    }
    if args.tail < -1 {
        anyhow::bail!("--tail must be greater than or equal to -1");
    }
    if args.tail != -1 {
        out.tail_lines = Some(args.tail);
    }
    if args.limit_bytes < 0 {
        anyhow::bail!("--limit-bytes must be greater than 0");
    }
    if args.limit_bytes != 0 {
        out.limit_bytes = Some(args.limit_bytes);
    }
    Ok(out)
}

/// The pod's name from `POD` or `pod/NAME`.
fn pod_name(arg: &str) -> Result<&str> {
    match arg.split_once('/') {
        None => Ok(arg),
        Some(("pod" | "pods" | "po", name)) if !name.is_empty() => Ok(name),
        Some((kind, _)) => anyhow::bail!(
            "cannot get the logs from {kind}: clipper logs reads pods only (POD or pod/NAME)"
        ),
    }
}

fn names(pod: &Value, field: &str) -> Vec<String> {
    pod["spec"][field]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// kubectl's choice of container, and the note it prints when it picks one.
pub(super) fn choose_container(
    pod: &Value,
    asked: Option<&str>,
) -> Result<(String, Option<String>)> {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let containers = names(pod, "containers");
    let init = names(pod, "initContainers");
    let ephemeral = names(pod, "ephemeralContainers");
    let exists = |c: &str| {
        containers.iter().any(|x| x == c)
            || init.iter().any(|x| x == c)
            || ephemeral.iter().any(|x| x == c)
    };
    let mut note = None;
    let chosen = match asked {
        Some(c) => c.to_string(),
        None => {
            let annotated = pod["metadata"]["annotations"][DEFAULT_CONTAINER_ANNOTATION]
                .as_str()
                .filter(|c| !c.is_empty());
            match annotated {
                Some(c) if exists(c) => c.to_string(),
                other => {
                    if let Some(c) = other {
                        eprintln!("Default container name {c:?} not found in pod {name}");
                    }
                    let Some(first) = containers.first() else {
                        anyhow::bail!("pod {name} does not have any containers");
                    };
                    if containers.len() > 1 || !init.is_empty() || !ephemeral.is_empty() {
                        let all: Vec<String> = containers
                            .iter()
                            .cloned()
                            .chain(ephemeral.iter().map(|c| format!("{c} (ephem)")))
                            .chain(init.iter().map(|c| format!("{c} (init)")))
                            .collect();
                        note = Some(format!(
                            "Defaulted container {first:?} out of: {}",
                            all.join(", ")
                        ));
                    }
                    first.clone()
                }
            }
        }
    };
    if !exists(&chosen) {
        anyhow::bail!("container {chosen} is not valid for pod {name}");
    }
    Ok((chosen, note))
}

pub async fn run(args: LogsArgs) -> Result<Outcome> {
    let opts = options(&args)?;
    let pod_arg = args.args.first().map(String::as_str).unwrap_or_default();
    let name = pod_name(pod_arg)?;
    let asked = args.container.clone().or_else(|| args.args.get(1).cloned());
    let session = Session::new(&args.global)?;
    let ns = session.namespace.clone();
    let pod = match session
        .get(&format!("/api/v1/namespaces/{ns}/pods/{name}"))
        .await
    {
        Ok(pod) => pod,
        // kubectl's resource builder words a missing pod so.
        Err(e) if super::is_not_found(&e) => anyhow::bail!(
            "error from server (NotFound): pods {name:?} not found in namespace {ns:?}"
        ),
        Err(e) => return Err(e),
    };
    let (container, note) = choose_container(&pod, asked.as_deref())?;
    if let Some(note) = note {
        eprintln!("{note}");
    }
    let tail = opts.tail_lines.map(|n| n.to_string()).unwrap_or_default();
    let since = opts
        .since_seconds
        .map(|n| n.to_string())
        .unwrap_or_default();
    let limit = opts.limit_bytes.map(|n| n.to_string()).unwrap_or_default();
    let flag = |b: bool| if b { "true" } else { "" };
    let q = query(&[
        ("container", &container),
        ("follow", flag(args.follow)),
        ("previous", flag(args.previous)),
        ("sinceSeconds", &since),
        ("sinceTime", opts.since_time.as_deref().unwrap_or_default()),
        ("tailLines", &tail),
        ("timestamps", flag(args.timestamps)),
        ("limitBytes", &limit),
    ]);
    let mut stream = session
        .client
        .stream_bytes(
            &format!("/api/v1/namespaces/{ns}/pods/{name}/log{q}"),
            ACCEPT,
        )
        .await
        .map_err(client_error)?;
    let stdout = std::io::stdout();
    while let Some(chunk) = stream.next().await.map_err(client_error)? {
        let mut out = stdout.lock();
        out.write_all(&chunk)?;
        out.flush()?;
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("5s"), Some(5_000_000_000));
        assert_eq!(parse_go_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_go_duration("2h45m"), Some(9_900_000_000_000));
        assert_eq!(parse_go_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("-1s"), Some(-1_000_000_000));
        for bad in ["", "5", "s", "1x", "1..5s", "abc"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn containers_are_chosen_as_kubectl_chooses_them() {
        let pod = json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "i"}]}
        });
        let (c, note) = choose_container(&pod, None).expect("default");
        assert_eq!(c, "a");
        assert_eq!(
            note.as_deref(),
            Some("Defaulted container \"a\" out of: a, b, i (init)")
        );
        assert_eq!(choose_container(&pod, Some("i")).expect("init").0, "i");
        let err = choose_container(&pod, Some("z")).expect_err("unknown");
        assert_eq!(err.to_string(), "container z is not valid for pod p");
        let annotated = json!({
            "metadata": {"name": "p", "annotations": {DEFAULT_CONTAINER_ANNOTATION: "b"}},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]}
        });
        assert_eq!(
            choose_container(&annotated, None).expect("annotated"),
            ("b".to_string(), None)
        );
        let single = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}});
        assert_eq!(
            choose_container(&single, None).expect("one"),
            ("a".to_string(), None)
        );
    }

    #[test]
    fn pod_arguments() {
        assert_eq!(pod_name("p").expect("plain"), "p");
        assert_eq!(pod_name("pod/p").expect("typed"), "p");
        assert!(pod_name("deployment/d").is_err());
    }
}
