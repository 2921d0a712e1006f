//! resolv.conf: reading the host's (the default upstreams, the search path pods inherit) and
//! writing a pod's.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use crate::DnsError;

/// The host's resolver configuration.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// Where systemd-resolved lists the upstream servers it forwards to.
pub const SYSTEMD_RESOLVED_UPSTREAMS: &str = "/run/systemd/resolve/resolv.conf";

/// The `options` line of a ClusterFirst pod (the kubelet's default).
pub const POD_OPTIONS: &str = "ndots:5";

/// The kubelet's limits on a pod's search path (Kubernetes 1.28+, `ExpandedDNSConfig` GA).
const MAX_SEARCH_PATHS: usize = 32;
const MAX_SEARCH_PATH_LEN: usize = 253;
const MAX_SEARCH_LINE_LEN: usize = 2048;

/// The parts of a resolv.conf that matter here, parsed as glibc does: `#`/`;` comments, one
/// `nameserver` per line, the last `search` or `domain` line wins, `options` accumulate. A
/// nameserver that is not a plain address (such as `fe80::1%eth0`, with a zone) is skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvConf {
    pub nameservers: Vec<IpAddr>,
    /// Without trailing dots; the root (`.`) is dropped, as the kubelet does.
    pub search: Vec<String>,
    pub options: Vec<String>,
}

impl ResolvConf {
    pub fn parse(text: &str) -> Self {
        let mut conf = ResolvConf::default();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let mut fields = line.split_whitespace();
            match fields.next() {
                Some("nameserver") => {
                    if let Some(ip) = fields.next().and_then(|f| f.parse().ok()) {
                        conf.nameservers.push(ip);
                    }
                }
                Some("search" | "domain") => {
                    conf.search = fields
                        .take_while(|f| !f.starts_with('#') && !f.starts_with(';'))
                        .filter(|f| *f != ".")
                        .map(|f| f.trim_end_matches('.').to_owned())
                        .filter(|f| !f.is_empty())
                        .collect();
                }
                Some("options") => conf.options.extend(fields.map(str::to_owned)),
                _ => {}
            }
        }
        conf
    }

    pub fn read(path: &Path) -> Result<Self, DnsError> {
        std::fs::read_to_string(path)
            .map(|text| Self::parse(&text))
            .map_err(|source| DnsError::ReadResolvConf {
                path: path.to_owned(),
                source,
            })
    }
}

/// The default upstreams: the nameservers of the host's `/etc/resolv.conf` on port 53, less any
/// that would be this server itself (`own`: the addresses it listens on).
///
/// systemd-resolved's stub, 127.0.0.53, is kept. This server runs in the host's network
/// namespace, where the stub answers, and the stub forwards to resolved's own upstreams, so it
/// is no loop. (The kubelet avoids it for CoreDNS because a pod's network namespace cannot reach
/// the host's loopback.) A loop is an upstream that is this server: the host pointing its
/// resolver at the cluster DNS address. Only when nothing is left after removing those does
/// resolved's upstream list, `/run/systemd/resolve/resolv.conf`, serve instead.
pub fn system_upstreams(own: &[SocketAddr]) -> Result<Vec<SocketAddr>, DnsError> {
    let primary = ResolvConf::read(Path::new(RESOLV_CONF))?;
    let upstreams = choose_upstreams(&primary, own);
    if !upstreams.is_empty() {
        return Ok(upstreams);
    }
    let fallback = Path::new(SYSTEMD_RESOLVED_UPSTREAMS);
    if fallback.exists() {
        let upstreams = choose_upstreams(&ResolvConf::read(fallback)?, own);
        if !upstreams.is_empty() {
            return Ok(upstreams);
        }
    }
    Err(DnsError::NoUpstreams {
        path: RESOLV_CONF.into(),
    })
}

/// The nameservers of `conf` on port 53 that are not this server.
pub fn choose_upstreams(conf: &ResolvConf, own: &[SocketAddr]) -> Vec<SocketAddr> {
    let mut upstreams: Vec<SocketAddr> = Vec::new();
    for ip in &conf.nameservers {
        let candidate = SocketAddr::new(*ip, 53);
        let is_self = own.iter().any(|o| {
            o.port() == candidate.port()
                && (o.ip() == candidate.ip() || (o.ip().is_unspecified() && ip.is_loopback()))
        });
        if !is_self && !ip.is_unspecified() && !upstreams.contains(&candidate) {
            upstreams.push(candidate);
        }
    }
    upstreams
}

/// The resolv.conf of a pod with `dnsPolicy: ClusterFirst`, as the kubelet composes it: the
/// cluster DNS server, the search path `<ns>.svc.<domain> svc.<domain> <domain>` followed by the
/// host's search domains (duplicates dropped, then cut to the kubelet's limits: 32 domains, none
/// longer than 253 characters, 2048 characters in all), and `ndots:5`. Lines in the order
/// containerd writes them.
pub fn pod_resolv_conf<S: AsRef<str>>(
    namespace: &str,
    cluster_dns_ip: IpAddr,
    cluster_domain: &str,
    host_search: &[S],
) -> String {
    let domain = cluster_domain.trim().trim_end_matches('.');
    let mut search: Vec<String> = Vec::new();
    if !domain.is_empty() {
        search.push(format!("{namespace}.svc.{domain}"));
        search.push(format!("svc.{domain}"));
        search.push(domain.to_owned());
    }
    search.extend(
        host_search
            .iter()
            .map(|s| s.as_ref().trim().trim_end_matches('.').to_owned())
            .filter(|s| !s.is_empty()),
    );
    let mut seen = std::collections::BTreeSet::new();
    search.retain(|s| seen.insert(s.clone()));
    search.truncate(MAX_SEARCH_PATHS);
    search.retain(|s| s.len() <= MAX_SEARCH_PATH_LEN);
    while search.len() > 1 && search.join(" ").len() > MAX_SEARCH_LINE_LEN {
        search.pop();
    }

    let mut out = String::new();
    if !search.is_empty() {
        out.push_str("search ");
        out.push_str(&search.join(" "));
        out.push('\n');
    }
    out.push_str(&format!("nameserver {cluster_dns_ip}\n"));
    out.push_str(&format!("options {POD_OPTIONS}\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_glibc() {
        let conf = ResolvConf::parse(
            "# generated\n\
             nameserver 127.0.0.53\n\
             ; comment\n\
             nameserver fe80::1%eth0\n\
             nameserver 2001:db8::53\n\
             nameserver not-an-ip\n\
             domain old.example\n\
             search corp.example. example.com . \n\
             options edns0 trust-ad\n\
             options rotate\n",
        );
        assert_eq!(
            conf.nameservers,
            vec![
                "127.0.0.53".parse::<IpAddr>().unwrap(),
                "2001:db8::53".parse().unwrap()
            ]
        );
        assert_eq!(conf.search, vec!["corp.example", "example.com"]);
        assert_eq!(conf.options, vec!["edns0", "trust-ad", "rotate"]);
    }

    #[test]
    fn the_last_search_or_domain_line_wins() {
        let conf = ResolvConf::parse("search a.example\ndomain b.example\n");
        assert_eq!(conf.search, vec!["b.example"]);
    }

    #[test]
    fn upstreams_drop_only_this_server() {
        let conf = ResolvConf::parse(
            "nameserver 127.0.0.53\nnameserver 10.96.0.10\nnameserver 192.0.2.1\nnameserver 192.0.2.1\nnameserver 0.0.0.0\n",
        );
        let own: Vec<SocketAddr> = vec!["10.96.0.10:53".parse().unwrap()];
        assert_eq!(
            choose_upstreams(&conf, &own),
            vec![
                "127.0.0.53:53".parse::<SocketAddr>().unwrap(),
                "192.0.2.1:53".parse().unwrap()
            ]
        );
        // Listening on every address at port 53 makes the loopback nameservers this server.
        let wildcard: Vec<SocketAddr> = vec!["0.0.0.0:53".parse().unwrap()];
        assert_eq!(
            choose_upstreams(&conf, &wildcard),
            vec![
                "10.96.0.10:53".parse::<SocketAddr>().unwrap(),
                "192.0.2.1:53".parse().unwrap()
            ]
        );
        // Another port is another server.
        let elsewhere: Vec<SocketAddr> = vec!["10.96.0.10:5353".parse().unwrap()];
        assert_eq!(choose_upstreams(&conf, &elsewhere).len(), 3);
    }

    #[test]
    fn cluster_first_resolv_conf() {
        let text = pod_resolv_conf(
            "web",
            "10.96.0.10".parse().unwrap(),
            "cluster.local.",
            &["corp.example.", "cluster.local", "svc.cluster.local"],
        );
        assert_eq!(
            text,
            "search web.svc.cluster.local svc.cluster.local cluster.local corp.example\n\
             nameserver 10.96.0.10\n\
             options ndots:5\n"
        );
    }

    #[test]
    fn cluster_first_resolv_conf_without_host_search() {
        let none: [&str; 0] = [];
        let text = pod_resolv_conf("default", "fd00::a".parse().unwrap(), "k8s.test", &none);
        assert_eq!(
            text,
            "search default.svc.k8s.test svc.k8s.test k8s.test\nnameserver fd00::a\noptions ndots:5\n"
        );
    }

    #[test]
    fn search_path_is_cut_to_the_kubelet_limits() {
        let many: Vec<String> = (0..40).map(|i| format!("d{i}.example")).collect();
        let text = pod_resolv_conf("ns", "10.96.0.10".parse().unwrap(), "cluster.local", &many);
        let search_line = text.lines().next().unwrap();
        assert_eq!(search_line.split_whitespace().count(), 1 + 32);

        let long = "a".repeat(254);
        let text = pod_resolv_conf(
            "ns",
            "10.96.0.10".parse().unwrap(),
            "cluster.local",
            &[long],
        );
        assert!(text.starts_with("search ns.svc.cluster.local svc.cluster.local cluster.local\n"));

        let wide: Vec<String> = (0..20).map(|i| format!("{i:0>200}")).collect();
        let text = pod_resolv_conf("ns", "10.96.0.10".parse().unwrap(), "cluster.local", &wide);
        let search_line = text.lines().next().unwrap();
        assert!(search_line.len() - "search ".len() <= 2048);
        assert!(search_line.contains("ns.svc.cluster.local"));
    }
}
