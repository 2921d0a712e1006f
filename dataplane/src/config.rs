//! The static configuration file (YAML or JSON, kebab-case keys) that drives the proxy
//! standalone: listen addresses → backends, plus per-core limits.
//!
//! ```yaml
//! services:
//!   - name: web
//!     listen: 127.0.0.1:8080
//!     protocol: TCP            # or UDP; default TCP
//!     balancer: round-robin    # round-robin | least-conn | maglev
//!     session-affinity-timeout-seconds: 10800   # optional: ClientIP affinity
//!     backends:
//!       - addr: 127.0.0.1:9001
//!         weight: 1            # default 1
//!       - addr: 127.0.0.1:9002
//!         ready: false         # EndpointSlice conditions; default ready
//!         serving: true
//!         terminating: true
//! tcp:
//!   max-connections-per-core: 16384
//!   connect-timeout-ms: 5000
//!   idle-timeout-seconds: 3600
//!   connect-attempts: 3
//! ```

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;

use crate::service::{BalancerKind, Conditions, Endpoint, Protocol, ServiceKey, ServiceSpec};
use crate::tcp::TcpLimits;
use crate::udp::UdpLimits;
use crate::{MILLISECOND, SECOND};

/// Services per configuration file: bounds memory and listener sockets per core.
pub const MAX_SERVICES: usize = 4_096;
/// Backends per service: beyond this the Maglev table leaves its 1 % imbalance bound.
pub const MAX_BACKENDS_PER_SERVICE: usize = 40_000;

/// A configuration error.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The text did not parse.
    #[error("parsing configuration: {0}")]
    Parse(String),
    /// The content is inconsistent.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// Services.
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
    /// TCP limits.
    #[serde(default)]
    pub tcp: TcpSettings,
    /// UDP limits.
    #[serde(default)]
    pub udp: UdpSettings,
}

/// One service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ServiceConfig {
    /// Name used in metrics.
    pub name: String,
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Protocol.
    #[serde(default)]
    pub protocol: Protocol,
    /// Balancer.
    #[serde(default)]
    pub balancer: BalancerKind,
    /// ClientIP session affinity timeout; absent = no affinity.
    #[serde(default)]
    pub session_affinity_timeout_seconds: Option<u64>,
    /// Backends.
    #[serde(default)]
    pub backends: Vec<BackendConfig>,
}

fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}

/// One backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BackendConfig {
    /// Address.
    pub addr: SocketAddr,
    /// Weight (0 = out of rotation).
    #[serde(default = "one")]
    pub weight: u32,
    /// Ready condition.
    #[serde(default = "yes")]
    pub ready: bool,
    /// Serving condition; defaults to `ready`.
    #[serde(default)]
    pub serving: Option<bool>,
    /// Terminating condition.
    #[serde(default)]
    pub terminating: bool,
}

/// TCP limits per core.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct TcpSettings {
    /// Connections per core.
    pub max_connections_per_core: usize,
    /// Connect timeout per attempt.
    pub connect_timeout_ms: u64,
    /// Idle timeout.
    pub idle_timeout_seconds: u64,
    /// Backends tried per connection.
    pub connect_attempts: u32,
}

impl Default for TcpSettings {
    fn default() -> Self {
        let d = TcpLimits::default();
        TcpSettings {
            max_connections_per_core: d.max_connections,
            connect_timeout_ms: d.connect_timeout / MILLISECOND,
            idle_timeout_seconds: d.idle_timeout / SECOND,
            connect_attempts: d.connect_attempts,
        }
    }
}

/// UDP limits per core.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct UdpSettings {
    /// Flows per core.
    pub max_flows_per_core: usize,
    /// Flow idle timeout.
    pub flow_timeout_seconds: u64,
}

impl Default for UdpSettings {
    fn default() -> Self {
        let d = UdpLimits::default();
        UdpSettings {
            max_flows_per_core: d.max_flows,
            flow_timeout_seconds: d.flow_timeout / SECOND,
        }
    }
}

impl Config {
    /// Parses YAML (JSON is YAML too, but see [`Self::from_json`]) and validates.
    pub fn from_yaml(text: &str) -> Result<Config, ConfigError> {
        let c: Config =
            yaml_serde::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    /// Parses JSON and validates.
    pub fn from_json(text: &str) -> Result<Config, ConfigError> {
        let c: Config =
            serde_json::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    /// Reads a file: `.json` as JSON, anything else as YAML.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        if path.extension().is_some_and(|e| e == "json") {
            Self::from_json(&text)
        } else {
            Self::from_yaml(&text)
        }
    }

    /// Checks bounds and uniqueness.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.services.len() > MAX_SERVICES {
            return bad(format!(
                "{} services (max {MAX_SERVICES})",
                self.services.len()
            ));
        }
        let mut keys = HashSet::new();
        let mut names = HashSet::new();
        for s in &self.services {
            if !keys.insert((s.listen, s.protocol)) {
                return bad(format!(
                    "two services listen on {} {:?}",
                    s.listen, s.protocol
                ));
            }
            if !names.insert(&s.name) {
                return bad(format!("service name {:?} used twice", s.name));
            }
            if s.backends.len() > MAX_BACKENDS_PER_SERVICE {
                return bad(format!("service {:?} has too many backends", s.name));
            }
            let mut addrs = HashSet::new();
            for b in &s.backends {
                if !addrs.insert(b.addr) {
                    return bad(format!(
                        "service {:?} lists backend {} twice",
                        s.name, b.addr
                    ));
                }
                if b.addr.port() == 0 {
                    return bad(format!(
                        "service {:?}: backend {} has port 0",
                        s.name, b.addr
                    ));
                }
            }
            if s.session_affinity_timeout_seconds == Some(0) {
                return bad(format!("service {:?}: affinity timeout 0", s.name));
            }
        }
        if self.tcp.max_connections_per_core == 0 || self.tcp.connect_attempts == 0 {
            return bad("tcp limits must be positive".into());
        }
        if self.tcp.connect_timeout_ms == 0 || self.tcp.idle_timeout_seconds == 0 {
            return bad("tcp timeouts must be positive".into());
        }
        if self.udp.max_flows_per_core == 0 || self.udp.flow_timeout_seconds == 0 {
            return bad("udp limits must be positive".into());
        }
        Ok(())
    }

    /// The services as table specs.
    pub fn specs(&self) -> Vec<ServiceSpec> {
        self.services
            .iter()
            .map(|s| ServiceSpec {
                name: s.name.clone(),
                key: ServiceKey {
                    addr: s.listen,
                    protocol: s.protocol,
                },
                balancer: s.balancer,
                affinity_timeout: s
                    .session_affinity_timeout_seconds
                    .map(|t| t.saturating_mul(SECOND)),
                endpoints: s
                    .backends
                    .iter()
                    .map(|b| Endpoint {
                        addr: b.addr,
                        weight: b.weight,
                        conditions: Conditions {
                            ready: b.ready,
                            serving: b.serving.unwrap_or(b.ready),
                            terminating: b.terminating,
                        },
                    })
                    .collect(),
            })
            .collect()
    }

    /// TCP limits.
    pub fn tcp_limits(&self) -> TcpLimits {
        TcpLimits {
            max_connections: self.tcp.max_connections_per_core,
            connect_timeout: self.tcp.connect_timeout_ms.saturating_mul(MILLISECOND),
            idle_timeout: self.tcp.idle_timeout_seconds.saturating_mul(SECOND),
            connect_attempts: self.tcp.connect_attempts,
        }
    }

    /// UDP limits.
    pub fn udp_limits(&self) -> UdpLimits {
        UdpLimits {
            max_flows: self.udp.max_flows_per_core,
            flow_timeout: self.udp.flow_timeout_seconds.saturating_mul(SECOND),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../proxy.example.yaml");

    #[test]
    fn example_parses_and_converts() {
        let c = Config::from_yaml(EXAMPLE).unwrap();
        let specs = c.specs();
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].key.protocol, Protocol::Tcp);
        assert_eq!(specs[0].affinity_timeout, Some(10_800 * SECOND));
        assert_eq!(
            specs[0].endpoints[1].conditions,
            Conditions::SERVING_TERMINATING
        );
        assert_eq!(specs[1].key.protocol, Protocol::Udp);
        assert_eq!(specs[1].balancer, BalancerKind::Maglev);
        assert_eq!(c.tcp_limits().connect_timeout, 2 * SECOND);
        // JSON round trip.
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(Config::from_json(&json).unwrap(), c);
    }

    #[test]
    fn rejects_bad_input_without_panicking() {
        for text in [
            "services: [{name: a, listen: 'nonsense', backends: []}]",
            "services: [{name: a, listen: '127.0.0.1:1', bogus: 1}]",
            "services: [{name: a, listen: '127.0.0.1:1'}, {name: b, listen: '127.0.0.1:1'}]",
            "services: [{name: a, listen: '127.0.0.1:1', backends: [{addr: '10.0.0.1:0'}]}]",
            "services: [{name: a, listen: '127.0.0.1:1', protocol: SCTP}]",
            "tcp: {connect-attempts: 0}",
            "\u{0}\u{1}[[[",
        ] {
            assert!(Config::from_yaml(text).is_err(), "{text}");
        }
        assert!(Config::from_json("{").is_err());
        assert!(Config::load(Path::new("/nonexistent/proxy.yaml")).is_err());
        assert_eq!(Config::from_yaml("{}").unwrap(), Config::default());
    }
}
