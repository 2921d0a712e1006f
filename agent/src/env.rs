//! A container's environment as the kubelet builds it (explicit values, field, ConfigMap and
//! Secret references, `envFrom`, the API server's service variables, `$(VAR)` expansion),
//! and the pod's /etc/hosts, /etc/hostname and /etc/resolv.conf.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::Path;

use clipper_client::QuicClient;
use clipper_proto::api::core::v1::{Container, Pod};
use serde_json::Value;

use crate::pods::Context;
use crate::runtime::Mount;

/// `$(NAME)` → its value when defined (else left as written); `$$` → `$`. Kubernetes'
/// expansion (third_party/forked/golang/expansion).
pub fn expand(input: &str, vars: &HashMap<&str, &str>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('(') {
            match body.find(')') {
                Some(end) => {
                    let name = &body[..end];
                    match vars.get(name) {
                        Some(v) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &body[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = body;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The `data` of a ConfigMap or the decoded `data` of a Secret, read through the API.
pub async fn read_data(
    api: &QuicClient,
    namespace: &str,
    kind: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
    let path = format!("/api/v1/namespaces/{namespace}/{kind}/{name}");
    let obj = match api.json("GET", &path, None, None).await {
        Ok(v) => v,
        Err(e) if e.status_code() == Some(404) => return Ok(None),
        Err(e) => return Err(format!("reading {kind} {namespace}/{name}: {e}")),
    };
    let mut data = BTreeMap::new();
    let secret = kind == "secrets";
    for field in ["data", "binaryData"] {
        if let Some(Value::Object(m)) = obj.get(field) {
            for (k, v) in m {
                let s = v.as_str().unwrap_or_default();
                let bytes = if secret || field == "binaryData" {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD
                        .decode(s)
                        .map_err(|e| format!("{kind} {namespace}/{name} key {k}: {e}"))?
                } else {
                    s.as_bytes().to_vec()
                };
                data.insert(k.clone(), bytes);
            }
        }
    }
    Ok(Some(data))
}

fn field_value(
    pod: &Pod,
    path: &str,
    pod_ip: Option<IpAddr>,
    host_ip: Option<IpAddr>,
) -> Option<String> {
    let m = &pod.metadata;
    let label = |map: &Option<BTreeMap<String, String>>, prefix: &str| {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        map.as_ref()?.get(key).cloned()
    };
    match path {
        "metadata.name" => m.name.clone(),
        "metadata.namespace" => m.namespace.clone(),
        "metadata.uid" => m.uid.clone(),
        "spec.nodeName" => pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        "spec.serviceAccountName" => pod
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.clone()),
        "status.podIP" | "status.podIPs" => pod_ip.map(|i| i.to_string()),
        "status.hostIP" | "status.hostIPs" => host_ip.map(|i| i.to_string()),
        p if p.starts_with("metadata.labels['") => label(&m.labels, "metadata.labels['"),
        p if p.starts_with("metadata.annotations['") => {
            label(&m.annotations, "metadata.annotations['")
        }
        _ => None,
    }
}

/// The service variables of the API server's own Service (`default/kubernetes`), which
/// in-cluster clients use. Other services' variables are not injected.
async fn api_service_env(api: &QuicClient) -> Vec<(String, String)> {
    let Ok(svc) = api
        .json(
            "GET",
            "/api/v1/namespaces/default/services/kubernetes",
            None,
            None,
        )
        .await
    else {
        return Vec::new();
    };
    let ip = svc.pointer("/spec/clusterIP").and_then(Value::as_str);
    let port = svc.pointer("/spec/ports/0/port").and_then(Value::as_i64);
    match (ip, port) {
        (Some(ip), Some(port)) if ip != "None" => {
            let url = format!("tcp://{ip}:{port}");
            vec![
                ("KUBERNETES_SERVICE_HOST".into(), ip.into()),
                ("KUBERNETES_SERVICE_PORT".into(), port.to_string()),
                ("KUBERNETES_SERVICE_PORT_HTTPS".into(), port.to_string()),
                ("KUBERNETES_PORT".into(), url.clone()),
                (format!("KUBERNETES_PORT_{port}_TCP"), url),
                (format!("KUBERNETES_PORT_{port}_TCP_PROTO"), "tcp".into()),
                (format!("KUBERNETES_PORT_{port}_TCP_PORT"), port.to_string()),
                (format!("KUBERNETES_PORT_{port}_TCP_ADDR"), ip.into()),
            ]
        }
        _ => Vec::new(),
    }
}

/// The environment of one container, in kubelet's order: service variables, `envFrom`,
/// then `env` (expanded against what precedes it). A missing, non-optional reference is
/// an error (`CreateContainerConfigError`).
pub async fn container_env(
    api: &QuicClient,
    pod: &Pod,
    c: &Container,
    pod_ip: Option<IpAddr>,
    host_ip: Option<IpAddr>,
) -> Result<Vec<(String, String)>, String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut env: Vec<(String, String)> = Vec::new();
    // The API server's variables go into every pod, whatever enableServiceLinks says.
    env.extend(api_service_env(api).await);
    let set = |env: &mut Vec<(String, String)>, k: String, v: String| {
        env.retain(|(n, _)| *n != k);
        env.push((k, v));
    };
    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let (kind, name, optional) = if let Some(r) = &from.config_map_ref {
            ("configmaps", r.name.clone(), r.optional.unwrap_or(false))
        } else if let Some(r) = &from.secret_ref {
            ("secrets", r.name.clone(), r.optional.unwrap_or(false))
        } else {
            continue;
        };
        let name = name.unwrap_or_default();
        match read_data(api, ns, kind, &name).await? {
            Some(data) => {
                for (k, v) in data {
                    set(
                        &mut env,
                        format!("{prefix}{k}"),
                        String::from_utf8_lossy(&v).into_owned(),
                    );
                }
            }
            None if optional => {}
            None => {
                let what = if kind == "secrets" {
                    "secret"
                } else {
                    "configmap"
                };
                return Err(format!("{what} \"{name}\" not found"));
            }
        }
    }
    for e in c.env.iter().flatten() {
        let value = if let Some(v) = &e.value {
            let vars: HashMap<&str, &str> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            expand(v, &vars)
        } else if let Some(src) = &e.value_from {
            if let Some(f) = &src.field_ref {
                field_value(pod, &f.field_path, pod_ip, host_ip).unwrap_or_default()
            } else if let Some(r) = &src.config_map_key_ref {
                let name = r.name.clone().unwrap_or_default();
                match read_data(api, ns, "configmaps", &name)
                    .await?
                    .and_then(|d| d.get(&r.key).cloned())
                {
                    Some(v) => String::from_utf8_lossy(&v).into_owned(),
                    None if r.optional.unwrap_or(false) => continue,
                    None => {
                        return Err(format!(
                            "couldn't find key {} in ConfigMap {ns}/{name}",
                            r.key
                        ));
                    }
                }
            } else if let Some(r) = &src.secret_key_ref {
                let name = r.name.clone().unwrap_or_default();
                match read_data(api, ns, "secrets", &name)
                    .await?
                    .and_then(|d| d.get(&r.key).cloned())
                {
                    Some(v) => String::from_utf8_lossy(&v).into_owned(),
                    None if r.optional.unwrap_or(false) => continue,
                    None => {
                        return Err(format!("couldn't find key {} in Secret {ns}/{name}", r.key));
                    }
                }
            } else if src.resource_field_ref.is_some() {
                return Err(format!(
                    "env {}: resourceFieldRef is not supported by Clipper's agent yet",
                    e.name
                ));
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        set(&mut env, e.name.clone(), value);
    }
    Ok(env)
}

/// Writes the pod's /etc/hosts, /etc/hostname and /etc/resolv.conf under `dir` and
/// returns their mounts.
pub fn etc_files(
    ctx: &Context,
    pod: &Pod,
    dir: &Path,
    pod_ip: Option<IpAddr>,
) -> Result<Vec<Mount>, String> {
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let hostname = crate::pods::pod_hostname(pod);
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let write = |name: &str, text: &str| -> Result<std::path::PathBuf, String> {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    };
    let mut mounts = Vec::new();
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let policy = spec
        .and_then(|s| s.dns_policy.as_deref())
        .unwrap_or("ClusterFirst");
    let cluster_first = match policy {
        "ClusterFirst" => !host_network,
        "ClusterFirstWithHostNet" => true,
        _ => false,
    };
    let mut resolv = match (cluster_first, ctx.cluster_dns, policy) {
        (true, Some(dns), _) => {
            let host = clipper_dns::ResolvConf::parse(&host_resolv);
            clipper_dns::pod_resolv_conf(ns, dns, &ctx.cluster_domain, &host.search)
        }
        (_, _, "None") => String::new(),
        _ => host_resolv,
    };
    if let Some(cfg) = spec.and_then(|s| s.dns_config.as_ref()) {
        for ns in cfg.nameservers.iter().flatten() {
            resolv.push_str(&format!("nameserver {ns}\n"));
        }
        let searches: Vec<&String> = cfg.searches.iter().flatten().collect();
        if !searches.is_empty() {
            let joined: Vec<&str> = searches.iter().map(|s| s.as_str()).collect();
            resolv.push_str(&format!("search {}\n", joined.join(" ")));
        }
        for o in cfg.options.iter().flatten() {
            match &o.value {
                Some(v) => resolv.push_str(&format!(
                    "options {}:{v}\n",
                    o.name.clone().unwrap_or_default()
                )),
                None => {
                    resolv.push_str(&format!("options {}\n", o.name.clone().unwrap_or_default()))
                }
            }
        }
    }
    mounts.push(Mount {
        host_path: write("resolv.conf", &resolv)?,
        container_path: "/etc/resolv.conf".into(),
        read_only: false,
    });
    let mut hosts = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    if let Some(ip) = pod_ip.filter(|_| !host_network) {
        let fqdn = spec
            .and_then(|s| s.subdomain.as_deref())
            .filter(|s| !s.is_empty())
            .map(|sub| format!("{hostname}.{sub}.{ns}.svc.{}", ctx.cluster_domain));
        match fqdn {
            Some(f) => hosts.push_str(&format!("{ip}\t{f}\t{hostname}\n")),
            None => hosts.push_str(&format!("{ip}\t{hostname}\n")),
        }
    }
    for alias in spec
        .and_then(|s| s.host_aliases.as_ref())
        .into_iter()
        .flatten()
    {
        let names: Vec<&str> = alias
            .hostnames
            .iter()
            .flatten()
            .map(String::as_str)
            .collect();
        hosts.push_str(&format!(
            "\n# Entries added by HostAliases.\n{}\t{}\n",
            alias.ip,
            names.join("\t")
        ));
    }
    if !host_network {
        mounts.push(Mount {
            host_path: write("hosts", &hosts)?,
            container_path: "/etc/hosts".into(),
            read_only: false,
        });
        mounts.push(Mount {
            host_path: write("hostname", &format!("{hostname}\n"))?,
            container_path: "/etc/hostname".into(),
            read_only: false,
        });
    }
    Ok(mounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: &str) {
        let vars: HashMap<&str, &str> = [("A", "1"), ("HOME", "/root")].into_iter().collect();
        assert_eq!(expand(input, &vars), expect, "{input}");
    }

    #[test]
    fn expansion_follows_kubernetes() {
        check("echo $(A)", "echo 1");
        check("$(HOME)/bin:$(A)", "/root/bin:1");
        check("$(MISSING)", "$(MISSING)");
        check("$$(A)", "$(A)");
        check("cost $5", "cost $5");
        check("$(A", "$(A");
        check("trailing $", "trailing $");
        check("", "");
    }
}
