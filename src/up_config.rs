//! `clipper up`'s settings: a configuration file (YAML, kebab-case keys, unknown keys
//! refused) under the command-line flags, which win. `deploy/clipper.yaml` is the
//! commented template; a test checks that it holds exactly these defaults and names
//! every setting.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Every setting of `clipper up`, with its default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct UpConfig {
    /// Where the cluster keeps its state.
    pub data_dir: PathBuf,
    /// HTTPS (TCP) and QUIC (UDP) address of the API server.
    pub listen: SocketAddr,
    /// `embedded` or `etcd://host:port,...`.
    pub store: String,
    /// The Service ClusterIP range.
    pub service_cidr: String,
    /// NodePorts, `FIRST-LAST` inclusive.
    pub service_node_port_range: String,
    /// API worker threads; none: one per core.
    pub workers: Option<usize>,
    /// This node's name; none: the host name.
    pub node_name: Option<String>,
    /// Run the service proxy (and the cluster DNS, which lives on its link).
    pub proxy: bool,
    /// The link service IPs go on.
    pub service_ip_link: String,
    /// The proxy's /metrics and /healthz address.
    pub proxy_metrics_address: SocketAddr,
    /// Keep clients' source addresses towards endpoints on this node.
    pub preserve_source: bool,
    /// The cluster DNS address; none: the tenth address of the service range.
    pub cluster_dns: Option<IpAddr>,
    /// The DNS domain of the cluster.
    pub cluster_domain: String,
    /// A KubeSchedulerConfiguration file.
    pub scheduler_config: Option<PathBuf>,
    /// Run the node agent: this host runs pods.
    pub agent: bool,
    /// The pod address range of this node (its Node's podCIDR).
    pub pod_cidr: String,
    /// The bridge the pods' interfaces are attached to.
    pub pod_bridge: String,
    /// The agent's HTTPS port (container logs for the API server).
    pub agent_port: u16,
    /// The address the node is reached at; none: the source address of the default
    /// route (127.0.0.1 without one).
    pub node_ip: Option<IpAddr>,
    /// How often the metrics pipeline scrapes the nodes' resource metrics (`kubectl
    /// top`), a duration such as `15s` (metrics-server's `--metric-resolution`).
    pub metric_resolution: String,
}

impl Default for UpConfig {
    fn default() -> Self {
        UpConfig {
            data_dir: PathBuf::from("/var/lib/clipper"),
            listen: SocketAddr::from(([0, 0, 0, 0], 6443)),
            store: "embedded".into(),
            service_cidr: "10.96.0.0/12".into(),
            service_node_port_range: "30000-32767".into(),
            workers: None,
            node_name: None,
            proxy: true,
            service_ip_link: "clipper0".into(),
            proxy_metrics_address: SocketAddr::from(([127, 0, 0, 1], 10249)),
            preserve_source: true,
            cluster_dns: None,
            cluster_domain: "cluster.local".into(),
            scheduler_config: None,
            agent: true,
            pod_cidr: "10.244.0.0/24".into(),
            pod_bridge: "clipper-br0".into(),
            agent_port: 10250,
            node_ip: None,
            metric_resolution: "15s".into(),
        }
    }
}

impl UpConfig {
    /// Reads and validates a configuration file; errors name the file and the problem
    /// in one line.
    pub fn load(path: &Path) -> Result<UpConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let c = UpConfig::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(c)
    }

    /// Parses and validates the text of a configuration file.
    pub fn parse(text: &str) -> Result<UpConfig, String> {
        // An empty file (or one of comments only) is all defaults.
        let c: UpConfig = if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            UpConfig::default()
        } else {
            yaml_serde::from_str(text).map_err(|e| e.to_string().replace('\n', " "))?
        };
        c.validate()?;
        Ok(c)
    }

    /// Checks what serde cannot: values that parse but make no sense.
    pub fn validate(&self) -> Result<(), String> {
        if self.workers == Some(0) {
            return Err("workers must be at least 1".into());
        }
        clipper_apiserver::services::parse_node_port_range(&self.service_node_port_range)
            .map_err(|e| format!("service-node-port-range: {e}"))?;
        if self.cluster_domain.trim_matches('.').is_empty() {
            return Err("cluster-domain must not be empty".into());
        }
        for (key, link) in [
            ("service-ip-link", &self.service_ip_link),
            ("pod-bridge", &self.pod_bridge),
        ] {
            if link.is_empty() || link.len() > 15 {
                return Err(format!(
                    "{key} {link:?}: a link name has 1 to 15 characters"
                ));
            }
        }
        if self.agent && self.pod_bridge == self.service_ip_link {
            return Err(format!(
                "pod-bridge and service-ip-link must differ (both {:?})",
                self.pod_bridge
            ));
        }
        clipper_agent::cni::parse_cidr(&self.pod_cidr).map_err(|e| format!("pod-cidr: {e}"))?;
        self.metric_resolution()?;
        Ok(())
    }

    /// `metric-resolution` as a duration.
    pub fn metric_resolution(&self) -> Result<std::time::Duration, String> {
        let d = parse_duration(&self.metric_resolution)
            .map_err(|e| format!("metric-resolution: {e}"))?;
        if d < std::time::Duration::from_millis(100) {
            return Err("metric-resolution must be at least 100ms".into());
        }
        Ok(d)
    }
}

/// A duration as Go writes one, in whole units: `15s`, `500ms`, `1m30s`, `1h`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("{text:?} is not a duration such as 15s, 500ms or 1m30s");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = std::time::Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let millis = match &rest[..unit] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(bad()),
        };
        total += std::time::Duration::from_millis(n.checked_mul(millis).ok_or_else(bad)?);
        rest = &rest[unit..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = include_str!("../deploy/clipper.yaml");

    #[test]
    fn the_template_holds_the_defaults_and_names_every_setting() {
        assert_eq!(UpConfig::parse(TEMPLATE).unwrap(), UpConfig::default());
        let defaults = serde_json::to_value(UpConfig::default()).unwrap();
        for key in defaults.as_object().unwrap().keys() {
            assert!(
                TEMPLATE.lines().any(|l| l
                    .trim_start()
                    .trim_start_matches("# ")
                    .starts_with(&format!("{key}:"))),
                "the template documents {key}"
            );
        }
    }

    #[test]
    fn durations_parse_as_go_writes_them() {
        use std::time::Duration;
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "15", "s", "1.5s", "-1s", "1d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_are_validated() {
        let c = UpConfig::parse("listen: 127.0.0.1:7443\nproxy: false\nworkers: 2\n").unwrap();
        assert_eq!(
            (c.listen.port(), c.proxy, c.workers),
            (7443, false, Some(2))
        );
        assert_eq!(
            UpConfig::parse("# nothing\n\n").unwrap(),
            UpConfig::default()
        );
        for (text, want) in [
            ("lisen: 1.2.3.4:5", "unknown field `lisen`"),
            ("listen: nowhere", "invalid socket address"),
            ("workers: 0", "workers must be at least 1"),
            ("workers: -1", "invalid type"),
            (
                "service-node-port-range: 40000-30000",
                "service-node-port-range",
            ),
            ("cluster-domain: \".\"", "cluster-domain must not be empty"),
            (
                "service-ip-link: a-very-long-link-name",
                "1 to 15 characters",
            ),
            ("proxy: maybe", "invalid type"),
            ("pod-cidr: 10.244.0.0/33", "pod-cidr"),
            ("pod-bridge: clipper0", "must differ"),
            ("agent-port: 70000", "invalid value"),
            ("metric-resolution: soon", "metric-resolution"),
            ("metric-resolution: 10ms", "at least 100ms"),
        ] {
            let e = UpConfig::parse(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(!e.contains('\n'), "one line: {e:?}");
        }
    }
}
