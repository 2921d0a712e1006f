//! Validation of the other core/v1 kinds: Service, ConfigMap, Secret, Namespace, Node,
//! PersistentVolume(Claim), Endpoints, Event, PodTemplate and ReplicationController.

use std::collections::BTreeMap;

use clipper_proto::api::core::v1::{
    ConfigMap, Endpoints, Event, Namespace, Node, PersistentVolume, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeSpec, PodTemplate, ReplicationController, Secret,
    Service, ServicePort, ServiceSpec,
};
use clipper_proto::{IntOrString, Quantity};

use super::ValidationOptions;
use super::field::{ErrorList, FieldError, GoStrMap, GoStrings, Json, Path, Raw, go_quote};
use super::meta::{self, FIELD_IMMUTABLE, nonnegative, validate_labels};
use super::names::{self, to_errors};
use super::pod::{self, PodOpts, s};

/// ConfigMap and Secret payloads are limited to 1 MiB so that an object fits in one etcd
/// value with its metadata.
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;
/// `sessionAffinityConfig.clientIP.timeoutSeconds` upper bound (one day).
pub const MAX_CLIENT_IP_AFFINITY_SECONDS: i32 = 86400;

const SERVICE_TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const PORT_PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const ACCESS_MODES: &[&str] = &[
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];
const VOLUME_MODES: &[&str] = &["Block", "Filesystem"];

fn is_headless(spec: &ServiceSpec) -> bool {
    spec.cluster_ips
        .as_ref()
        .is_some_and(|ips| ips.len() == 1 && ips[0] == "None")
}

fn externally_accessible(spec: &ServiceSpec) -> bool {
    let t = s(&spec.type_);
    t == "LoadBalancer"
        || t == "NodePort"
        || (t == "ClusterIP" && spec.external_ips.as_ref().is_some_and(|e| !e.is_empty()))
}

fn needs_health_check(spec: &ServiceSpec) -> bool {
    s(&spec.type_) == "LoadBalancer" && s(&spec.external_traffic_policy) == "Local"
}

/// `%#v` of the internal ServicePort Kubernetes uses as the key of its duplicate-port check.
fn service_port_key(protocol: &str, port: i32) -> Raw {
    Raw(format!(
        "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
        go_quote(protocol)
    ))
}

fn validate_service_port(
    sp: &ServicePort,
    require_name: bool,
    names_seen: &mut Vec<String>,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    let name = s(&sp.name);
    if require_name && name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), ""));
    } else if !name.is_empty() {
        errs.extend(to_errors(
            &path.child("name"),
            name,
            names::is_dns1123_label(name),
        ));
        if names_seen.iter().any(|n| n == name) {
            errs.push(FieldError::duplicate(&path.child("name"), name));
        } else {
            names_seen.push(name.to_string());
        }
    }
    for m in names::is_valid_port_num(i64::from(sp.port)) {
        errs.push(FieldError::invalid(&path.child("port"), sp.port, m));
    }
    let proto = s(&sp.protocol);
    if proto.is_empty() {
        errs.push(FieldError::required(&path.child("protocol"), ""));
    } else if !PORT_PROTOCOLS.contains(&proto) {
        errs.push(FieldError::not_supported(
            &path.child("protocol"),
            proto,
            PORT_PROTOCOLS,
        ));
    }
    let target = sp.target_port.clone().unwrap_or(IntOrString::Int(0));
    errs.extend(pod::validate_port_num_or_name(
        &target,
        &path.child("targetPort"),
    ));
    if let Some(ap) = &sp.app_protocol {
        errs.extend(to_errors(
            &path.child("appProtocol"),
            ap,
            names::is_qualified_name(ap),
        ));
    }
    errs
}

fn validate_cluster_ips(spec: &ServiceSpec) -> ErrorList {
    if s(&spec.type_) == "ExternalName" {
        return Vec::new();
    }
    let sp = Path::new("spec");
    let ips_path = sp.child("clusterIPs");
    let mut errs = Vec::new();
    let ips = spec.cluster_ips.as_deref().unwrap_or(&[]);
    let cluster_ip = s(&spec.cluster_ip);
    if !cluster_ip.is_empty() {
        if ips.is_empty() {
            errs.push(FieldError::required(&ips_path, ""));
        } else if ips[0] != cluster_ip {
            errs.push(FieldError::invalid(
                &ips_path,
                GoStrings(Some(ips)),
                "first value must match `clusterIP`",
            ));
        }
    } else if !ips.is_empty() {
        errs.push(FieldError::invalid(
            &ips_path,
            GoStrings(Some(ips)),
            "must be empty when `clusterIP` is not specified",
        ));
    }
    let families = spec.ip_families.as_deref().unwrap_or(&[]);
    let mut seen = Vec::new();
    for (i, f) in families.iter().enumerate() {
        if f != "IPv4" && f != "IPv6" {
            errs.push(FieldError::not_supported(
                &sp.child("ipFamilies").index(i),
                f.as_str(),
                &["IPv4", "IPv6"],
            ));
        }
        if seen.contains(f) {
            errs.push(FieldError::duplicate(
                &sp.child("ipFamilies").index(i),
                f.as_str(),
            ));
        }
        seen.push(f.clone());
    }
    if let Some(p) = &spec.ip_family_policy {
        const POLICIES: &[&str] = &["PreferDualStack", "RequireDualStack", "SingleStack"];
        if !POLICIES.contains(&p.as_str()) {
            errs.push(FieldError::not_supported(
                &sp.child("ipFamilyPolicy"),
                p.as_str(),
                POLICIES,
            ));
        }
    }
    let mut invalid = false;
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && ip == "None" {
            if ips.len() > 1 {
                invalid = true;
                errs.push(FieldError::invalid(
                    &ips_path,
                    GoStrings(Some(ips)),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        let e = names::is_valid_ip(&ips_path.index(i), ip);
        invalid |= !e.is_empty();
        errs.extend(e);
    }
    if ips.len() > 2 {
        errs.push(FieldError::invalid(
            &ips_path,
            GoStrings(Some(ips)),
            "may only hold up to 2 values",
        ));
    }
    if invalid {
        return errs;
    }
    if ips.len() > 1 {
        let v6: Vec<bool> = ips
            .iter()
            .filter_map(|ip| names::parse_ip_sloppy(ip))
            .map(|p| p.is_v6())
            .collect();
        let dual = v6.len() == 2 && v6[0] != v6[1];
        if !dual {
            errs.push(FieldError::invalid(
                &ips_path,
                GoStrings(Some(ips)),
                "may specify no more than one IP for each IP family",
            ));
        }
    }
    if !is_headless(spec) && !ips.is_empty() && !families.is_empty() {
        for (i, ip) in ips.iter().enumerate().take(families.len()) {
            let is6 = names::parse_ip_sloppy(ip).is_some_and(|p| p.is_v6());
            if families[i] == "IPv4" && is6 {
                errs.push(FieldError::invalid(
                    &ips_path.index(i),
                    ip,
                    format!("expected an IPv4 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
            if families[i] == "IPv6" && !is6 {
                errs.push(FieldError::invalid(
                    &ips_path.index(i),
                    ip,
                    format!("expected an IPv6 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
        }
    }
    errs
}

fn validate_non_special_ip(ip: &str, path: &Path) -> ErrorList {
    let Some(p) = names::parse_ip_sloppy(ip) else {
        return vec![FieldError::invalid(path, ip, "must be a valid IP address")];
    };
    let mut errs = Vec::new();
    if p.is_unspecified() {
        errs.push(FieldError::invalid(
            path,
            ip,
            format!("may not be unspecified ({ip})"),
        ));
    }
    if p.is_loopback() {
        errs.push(FieldError::invalid(
            path,
            ip,
            "may not be in the loopback range (127.0.0.0/8, ::1/128)",
        ));
    }
    if p.is_link_local_unicast() {
        errs.push(FieldError::invalid(
            path,
            ip,
            "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
        ));
    }
    if p.is_link_local_multicast() {
        errs.push(FieldError::invalid(
            path,
            ip,
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
        ));
    }
    errs
}

/// `ValidateService` minus metadata, plus the node port range check Kubernetes makes when
/// it allocates.
pub(crate) fn validate_service(svc: &Service, opts: &ValidationOptions) -> ErrorList {
    let default_spec = ServiceSpec::default();
    let spec = svc.spec.as_ref().unwrap_or(&default_spec);
    let sp = Path::new("spec");
    let mut errs = Vec::new();
    let ann = svc.metadata.annotations.as_ref();
    const HINTS: &str = "service.kubernetes.io/topology-aware-hints";
    const MODE: &str = "service.kubernetes.io/topology-mode";
    if let (Some(h), Some(m)) = (
        ann.and_then(|a| a.get(HINTS)),
        ann.and_then(|a| a.get(MODE)),
    ) && h != m
    {
        errs.push(FieldError::invalid(
            &Path::new("metadata").child("annotations").key(MODE),
            m,
            format!("must match annotations[{HINTS}] when both are specified"),
        ));
    }
    let ports = spec.ports.as_deref().unwrap_or(&[]);
    let t = s(&spec.type_);
    let headless = is_headless(spec);
    if ports.is_empty() && !headless && t != "ExternalName" {
        errs.push(FieldError::required(&sp.child("ports"), ""));
    }
    let ips = spec.cluster_ips.as_deref().unwrap_or(&[]);
    match t {
        "LoadBalancer" | "NodePort" if headless => errs.push(FieldError::invalid(
            &sp.child("clusterIPs").index(0),
            &ips[0],
            format!("may not be set to 'None' for {t} services"),
        )),
        "ExternalName" => {
            if !ips.is_empty() {
                errs.push(FieldError::forbidden(
                    &sp.child("clusterIPs"),
                    "may not be set for ExternalName services",
                ));
            }
            if spec.ip_families.as_ref().is_some_and(|f| !f.is_empty()) {
                errs.push(FieldError::forbidden(
                    &sp.child("ipFamilies"),
                    "may not be set for ExternalName services",
                ));
            }
            if spec.ip_family_policy.is_some() {
                errs.push(FieldError::forbidden(
                    &sp.child("ipFamilyPolicy"),
                    "may not be set for ExternalName services",
                ));
            }
            let en = s(&spec.external_name);
            let cname = en.strip_suffix('.').unwrap_or(en);
            if cname.is_empty() {
                errs.push(FieldError::required(&sp.child("externalName"), ""));
            } else {
                errs.extend(to_errors(
                    &sp.child("externalName"),
                    cname,
                    names::is_dns1123_subdomain(cname),
                ));
            }
        }
        _ => {}
    }
    let mut port_names = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        errs.extend(validate_service_port(
            p,
            ports.len() > 1,
            &mut port_names,
            &sp.child("ports").index(i),
        ));
    }
    if spec.selector.is_some() {
        errs.extend(validate_labels(
            spec.selector.as_ref(),
            &sp.child("selector"),
        ));
    }
    let affinity = s(&spec.session_affinity);
    match affinity {
        "" => errs.push(FieldError::required(&sp.child("sessionAffinity"), "")),
        "ClientIP" | "None" => {}
        other => errs.push(FieldError::not_supported(
            &sp.child("sessionAffinity"),
            other,
            &["ClientIP", "None"],
        )),
    }
    let cfg_path = sp.child("sessionAffinityConfig");
    if affinity == "ClientIP" {
        match spec.session_affinity_config.as_ref() {
            None => errs.push(FieldError::required(&cfg_path, "when session affinity type is ClientIP")),
            Some(c) => match c.client_ip.as_ref() {
                None => errs.push(FieldError::required(&cfg_path.child("clientIP"), "when session affinity type is ClientIP")),
                Some(cip) => match cip.timeout_seconds {
                    None => errs.push(FieldError::required(
                        &cfg_path.child("clientIP").child("timeoutSeconds"),
                        "when session affinity type is ClientIP",
                    )),
                    Some(t) if t <= 0 || t > MAX_CLIENT_IP_AFFINITY_SECONDS => errs.push(FieldError::invalid(
                        &cfg_path.child("clientIP").child("timeoutSeconds"),
                        t,
                        format!("must be greater than 0 and less than {MAX_CLIENT_IP_AFFINITY_SECONDS}"),
                    )),
                    Some(_) => {}
                },
            },
        }
    } else if affinity == "None" && spec.session_affinity_config.is_some() {
        errs.push(FieldError::forbidden(
            &cfg_path,
            "must not be set when session affinity is None",
        ));
    }
    errs.extend(validate_cluster_ips(spec));
    for (i, ip) in spec.external_ips.iter().flatten().enumerate() {
        let p = sp.child("externalIPs").index(i);
        let e = names::is_valid_ip(&p, ip);
        if e.is_empty() {
            errs.extend(validate_non_special_ip(ip, &p));
        } else {
            errs.extend(e);
        }
    }
    if t.is_empty() {
        errs.push(FieldError::required(&sp.child("type"), ""));
    } else if !SERVICE_TYPES.contains(&t) {
        errs.push(FieldError::not_supported(
            &sp.child("type"),
            t,
            SERVICE_TYPES,
        ));
    }
    if t == "ClusterIP" {
        for (i, p) in ports.iter().enumerate() {
            if p.node_port.unwrap_or(0) != 0 {
                errs.push(FieldError::forbidden(
                    &sp.child("ports").index(i).child("nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }
    let mut node_ports: Vec<(String, i32)> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let np = p.node_port.unwrap_or(0);
        if np == 0 {
            continue;
        }
        let key = (s(&p.protocol).to_string(), np);
        if node_ports.contains(&key) {
            errs.push(FieldError::duplicate(
                &sp.child("ports").index(i).child("nodePort"),
                np,
            ));
        }
        node_ports.push(key);
    }
    let mut port_keys: Vec<(String, i32)> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let key = (s(&p.protocol).to_string(), p.port);
        if port_keys.contains(&key) {
            errs.push(FieldError::duplicate(
                &sp.child("ports").index(i),
                service_port_key(&key.0, key.1),
            ));
        }
        port_keys.push(key);
    }
    let ranges = spec.load_balancer_source_ranges.as_deref().unwrap_or(&[]);
    const LB_RANGES: &str = "service.beta.kubernetes.io/load-balancer-source-ranges";
    if !ranges.is_empty() {
        let fp = sp.child("LoadBalancerSourceRanges");
        if t != "LoadBalancer" {
            errs.push(FieldError::forbidden(
                &fp,
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        for (i, r) in ranges.iter().enumerate() {
            errs.extend(names::is_valid_cidr(&fp.index(i), r.trim()));
        }
    } else if let Some(v) = ann.and_then(|a| a.get(LB_RANGES)) {
        let fp = Path::new("metadata").child("annotations").key(LB_RANGES);
        if t != "LoadBalancer" {
            errs.push(FieldError::forbidden(
                &fp,
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        let v = v.trim();
        if !v.is_empty() {
            for c in v.split(',') {
                errs.extend(names::is_valid_cidr(&fp, c.trim()));
            }
        }
    }
    if spec.allocate_load_balancer_node_ports.is_some() && t != "LoadBalancer" {
        errs.push(FieldError::forbidden(
            &sp.child("allocateLoadBalancerNodePorts"),
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if t == "LoadBalancer" && spec.allocate_load_balancer_node_ports.is_none() {
        errs.push(FieldError::required(
            &Path::new("allocateLoadBalancerNodePorts"),
            "",
        ));
    }
    if t == "LoadBalancer" {
        if let Some(c) = &spec.load_balancer_class {
            errs.extend(to_errors(
                &sp.child("loadBalancerClass"),
                c,
                names::is_qualified_name(c),
            ));
        }
    } else if spec.load_balancer_class.is_some() {
        errs.push(FieldError::forbidden(
            &sp.child("loadBalancerClass"),
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    let etp = s(&spec.external_traffic_policy);
    if !externally_accessible(spec) {
        if !etp.is_empty() {
            errs.push(FieldError::invalid(
                &sp.child("externalTrafficPolicy"),
                etp,
                "may only be set for externally-accessible services",
            ));
        }
    } else if etp.is_empty() {
        errs.push(FieldError::required(&sp.child("externalTrafficPolicy"), ""));
    } else if etp != "Cluster" && etp != "Local" {
        errs.push(FieldError::not_supported(
            &sp.child("externalTrafficPolicy"),
            etp,
            &["Cluster", "Local"],
        ));
    }
    let hc = spec.health_check_node_port.unwrap_or(0);
    if !needs_health_check(spec) {
        if hc != 0 {
            errs.push(FieldError::invalid(
                &sp.child("healthCheckNodePort"),
                hc,
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ));
        }
    } else if hc == 0 {
        errs.push(FieldError::required(&sp.child("healthCheckNodePort"), ""));
    } else {
        for m in names::is_valid_port_num(i64::from(hc)) {
            errs.push(FieldError::invalid(&sp.child("healthCheckNodePort"), hc, m));
        }
    }
    match &spec.internal_traffic_policy {
        None if matches!(t, "NodePort" | "LoadBalancer" | "ClusterIP") => {
            errs.push(FieldError::required(&sp.child("internalTrafficPolicy"), ""));
        }
        Some(p) if p != "Cluster" && p != "Local" => {
            errs.push(FieldError::not_supported(
                &sp.child("internalTrafficPolicy"),
                p.as_str(),
                &["Cluster", "Local"],
            ));
        }
        _ => {}
    }
    if let Some(td) = &spec.traffic_distribution
        && td != "PreferClose"
    {
        errs.push(FieldError::not_supported(
            &sp.child("trafficDistribution"),
            td.as_str(),
            &["PreferClose"],
        ));
    }
    // Node ports are checked against the configured range when the server allocates them.
    let (lo, hi) = opts.node_port_range;
    for (i, p) in ports.iter().enumerate() {
        let np = p.node_port.unwrap_or(0);
        if np != 0 && (np < lo || np > hi) {
            errs.push(FieldError::invalid(
                &sp.child("ports").index(i).child("nodePort"),
                np,
                format!(
                    "provided port is not in the valid range. The range of valid ports is {lo}-{hi}"
                ),
            ));
        }
    }
    errs
}

/// `ValidateServiceUpdate` minus metadata: cluster IPs, IP families and load balancer class
/// may not change (except the dual-stack upgrade/downgrade paths), then full validation.
pub(crate) fn validate_service_update(
    new: &Service,
    old: &Service,
    opts: &ValidationOptions,
) -> ErrorList {
    let default_spec = ServiceSpec::default();
    let ns = new.spec.as_ref().unwrap_or(&default_spec);
    let os = old.spec.as_ref().unwrap_or(&default_spec);
    let sp = Path::new("spec");
    let mut errs = Vec::new();
    let (nt, ot) = (s(&ns.type_), s(&os.type_));
    let new_ips = ns.cluster_ips.as_deref().unwrap_or(&[]);
    let old_ips = os.cluster_ips.as_deref().unwrap_or(&[]);
    if nt != "ExternalName" && ot != "ExternalName" && !(is_headless(ns) && is_headless(os)) {
        let ipp = sp.child("clusterIPs");
        if old_ips.len() == new_ips.len() {
            for (i, ip) in old_ips.iter().enumerate() {
                if *ip != new_ips[i] {
                    errs.push(FieldError::invalid(
                        &ipp.index(i),
                        GoStrings(Some(new_ips)),
                        "may not change once set",
                    ));
                }
            }
        } else if old_ips.len() > new_ips.len() {
            if new_ips.is_empty() {
                errs.push(FieldError::invalid(
                    &ipp.index(0),
                    GoStrings(Some(new_ips)),
                    "primary clusterIP can not be unset",
                ));
            }
            if !old_ips.is_empty() && !new_ips.is_empty() && new_ips[0] != old_ips[0] {
                errs.push(FieldError::invalid(
                    &ipp.index(0),
                    GoStrings(Some(new_ips)),
                    "may not change once set",
                ));
            }
            if new_ips.len() == 1 && s(&ns.ip_family_policy) != "SingleStack" {
                errs.push(FieldError::invalid(
                    &sp.child("ipFamilyPolicy"),
                    ns.ip_family_policy.clone(),
                    "must be set to 'SingleStack' when releasing the secondary clusterIP",
                ));
            }
        } else if !old_ips.is_empty() && new_ips[0] != old_ips[0] {
            errs.push(FieldError::invalid(
                &ipp.index(0),
                GoStrings(Some(new_ips)),
                "may not change once set",
            ));
        }
    }
    if nt != "ExternalName"
        && ot != "ExternalName"
        && is_headless(ns) == is_headless(os)
        && !is_headless(ns)
    {
        let nf = ns.ip_families.as_deref().unwrap_or(&[]);
        let of = os.ip_families.as_deref().unwrap_or(&[]);
        let fp = sp.child("ipFamilies");
        if nf.len() == of.len() {
            for (i, f) in of.iter().enumerate() {
                if *f != nf[i] {
                    errs.push(FieldError::invalid(
                        &fp.index(0),
                        GoStrings(Some(nf)),
                        "may not change once set",
                    ));
                }
            }
        } else if of.len() > nf.len() {
            if new_ips.is_empty() {
                errs.push(FieldError::invalid(
                    &fp.index(0),
                    GoStrings(Some(nf)),
                    "primary ipFamily can not be unset",
                ));
            }
            if !nf.is_empty() && nf[0] != of[0] {
                errs.push(FieldError::invalid(
                    &fp.index(0),
                    GoStrings(Some(new_ips)),
                    "may not change once set",
                ));
            }
            if nf.len() == 1 && s(&ns.ip_family_policy) != "SingleStack" {
                errs.push(FieldError::invalid(
                    &sp.child("ipFamilyPolicy"),
                    ns.ip_family_policy.clone(),
                    "must be set to 'SingleStack' when releasing the secondary ipFamily",
                ));
            }
        } else if !of.is_empty() && !nf.is_empty() && nf[0] != of[0] {
            errs.push(FieldError::invalid(
                &fp.index(0),
                GoStrings(Some(new_ips)),
                "may not change once set",
            ));
        }
    }
    if nt == "LoadBalancer"
        && ot == "LoadBalancer"
        && ns.load_balancer_class != os.load_balancer_class
    {
        errs.push(FieldError::invalid(
            &sp.child("loadBalancerClass"),
            ns.load_balancer_class.clone(),
            "may not change once set",
        ));
    }
    if needs_health_check(os)
        && needs_health_check(ns)
        && ns.health_check_node_port != os.health_check_node_port
    {
        errs.push(FieldError::forbidden(
            &sp.child("healthCheckNodePort"),
            FIELD_IMMUTABLE,
        ));
    }
    errs.extend(validate_service(new, opts));
    errs
}

/// Kubernetes' service strategy keeps `clusterIP` and `clusterIPs` in step before
/// validation: a client that sets only `clusterIP` gets `clusterIPs` filled in, and on
/// update a changed `clusterIP` with unchanged `clusterIPs` wins. Call before validating.
pub fn normalize_service_cluster_ips(new: &mut Service, old: Option<&Service>) {
    let Some(spec) = new.spec.as_mut() else {
        return;
    };
    let cip = s(&spec.cluster_ip).to_string();
    match old.and_then(|o| o.spec.as_ref()) {
        None => {
            if !cip.is_empty() && spec.cluster_ips.as_ref().is_none_or(|v| v.is_empty()) {
                spec.cluster_ips = Some(vec![cip]);
            }
        }
        Some(os) => {
            let same_plural = spec.cluster_ips.as_deref().unwrap_or(&[])
                == os.cluster_ips.as_deref().unwrap_or(&[]);
            if s(&os.cluster_ip) != cip && same_plural {
                spec.cluster_ips = if cip.is_empty() {
                    None
                } else {
                    Some(vec![cip])
                };
            }
        }
    }
}

fn payload_size<'a>(items: impl Iterator<Item = usize> + 'a) -> usize {
    items.fold(0usize, usize::saturating_add)
}

pub(crate) fn validate_config_map(cm: &ConfigMap) -> ErrorList {
    let mut errs = Vec::new();
    let data_path = Path::new("data");
    let bin_path = Path::new("binaryData");
    for k in cm.data.iter().flatten().map(|(k, _)| k) {
        errs.extend(to_errors(&data_path.key(k), k, names::is_config_map_key(k)));
        if cm.binary_data.as_ref().is_some_and(|b| b.contains_key(k)) {
            errs.push(FieldError::invalid(
                &data_path.key(k),
                k,
                "duplicate of key present in binaryData",
            ));
        }
    }
    for k in cm.binary_data.iter().flatten().map(|(k, _)| k) {
        errs.extend(to_errors(&bin_path.key(k), k, names::is_config_map_key(k)));
    }
    let total = payload_size(
        cm.data
            .iter()
            .flatten()
            .map(|(_, v)| v.len())
            .chain(cm.binary_data.iter().flatten().map(|(_, v)| v.0.len())),
    );
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long(&Path::new(""), MAX_SECRET_SIZE));
    }
    errs
}

pub(crate) fn validate_config_map_update(new: &ConfigMap, old: &ConfigMap) -> ErrorList {
    let mut errs = Vec::new();
    if old.immutable == Some(true) {
        if new.immutable != Some(true) {
            errs.push(FieldError::forbidden(
                &Path::new("immutable"),
                "field is immutable when `immutable` is set",
            ));
        }
        if !super::sem_eq(&new.data, &old.data) {
            errs.push(FieldError::forbidden(
                &Path::new("data"),
                "field is immutable when `immutable` is set",
            ));
        }
        if !super::sem_eq(&new.binary_data, &old.binary_data) {
            errs.push(FieldError::forbidden(
                &Path::new("binaryData"),
                "field is immutable when `immutable` is set",
            ));
        }
    }
    errs.extend(validate_config_map(new));
    errs
}

/// The data a Secret will hold: `data` with `stringData` merged over it, as Kubernetes
/// converts a v1 Secret before validating it.
fn secret_data(sec: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut data: BTreeMap<String, Vec<u8>> = sec
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    for (k, v) in sec.string_data.iter().flatten() {
        data.insert(k.clone(), v.as_bytes().to_vec());
    }
    data
}

pub(crate) fn validate_secret(sec: &Secret) -> ErrorList {
    let mut errs = Vec::new();
    let dp = Path::new("data");
    let data = secret_data(sec);
    for k in data.keys() {
        errs.extend(to_errors(&dp.key(k), k, names::is_config_map_key(k)));
    }
    if payload_size(data.values().map(Vec::len)) > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long(&dp, MAX_SECRET_SIZE));
    }
    let ann = sec.metadata.annotations.as_ref();
    match s(&sec.type_) {
        "kubernetes.io/service-account-token" => {
            const KEY: &str = "kubernetes.io/service-account.name";
            if ann.and_then(|a| a.get(KEY)).is_none_or(|v| v.is_empty()) {
                errs.push(FieldError::required(
                    &Path::new("metadata").child("annotations").key(KEY),
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" => errs.extend(json_key(&data, ".dockercfg", &dp)),
        "kubernetes.io/dockerconfigjson" => errs.extend(json_key(&data, ".dockerconfigjson", &dp)),
        "kubernetes.io/basic-auth"
            if !data.contains_key("username") && !data.contains_key("password") =>
        {
            errs.push(FieldError::required(&dp.key("username"), ""));
            errs.push(FieldError::required(&dp.key("password"), ""));
        }
        "kubernetes.io/ssh-auth" if data.get("ssh-privatekey").is_none_or(|v| v.is_empty()) => {
            errs.push(FieldError::required(&dp.key("ssh-privatekey"), ""));
        }
        "kubernetes.io/tls" => {
            for k in ["tls.crt", "tls.key"] {
                if !data.contains_key(k) {
                    errs.push(FieldError::required(&dp.key(k), ""));
                }
            }
        }
        _ => {}
    }
    errs
}

fn json_key(data: &BTreeMap<String, Vec<u8>>, key: &str, dp: &Path) -> ErrorList {
    match data.get(key) {
        None => vec![FieldError::required(&dp.key(key), "")],
        Some(bytes) => {
            match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(bytes) {
                Ok(_) => Vec::new(),
                Err(e) => vec![FieldError::invalid(
                    &dp.key(key),
                    "<secret contents redacted>",
                    e.to_string(),
                )],
            }
        }
    }
}

pub(crate) fn validate_secret_update(new: &Secret, old: &Secret) -> ErrorList {
    let mut errs = Vec::new();
    if s(&new.type_) != s(&old.type_) {
        errs.push(FieldError::invalid(
            &Path::new("type"),
            s(&new.type_),
            FIELD_IMMUTABLE,
        ));
    }
    if old.immutable == Some(true) {
        if new.immutable != Some(true) {
            errs.push(FieldError::forbidden(
                &Path::new("immutable"),
                "field is immutable when `immutable` is set",
            ));
        }
        if secret_data(new) != secret_data(old) {
            errs.push(FieldError::forbidden(
                &Path::new("data"),
                "field is immutable when `immutable` is set",
            ));
        }
    }
    errs.extend(validate_secret(new));
    errs
}

fn validate_finalizer_name(f: &str, path: &Path) -> ErrorList {
    let mut errs = to_errors(path, f, names::is_qualified_name(f));
    if !f.contains('/') && !["kubernetes", "orphan", "foregroundDeletion"].contains(&f) {
        errs.push(FieldError::invalid(
            path,
            f,
            "name is neither a standard finalizer name nor is it fully qualified",
        ));
    }
    errs
}

pub(crate) fn validate_namespace(ns: &Namespace) -> ErrorList {
    let p = Path::new("spec").child("finalizers");
    ns.spec
        .iter()
        .flat_map(|s| s.finalizers.iter().flatten())
        .flat_map(|f| validate_finalizer_name(f, &p))
        .collect()
}

fn validate_node_taints(node: &Node) -> ErrorList {
    let mut errs = Vec::new();
    let mut unique: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Kubernetes reports taint errors under metadata, not spec.
    let tp = Path::new("metadata").child("taints");
    for (i, t) in node
        .spec
        .iter()
        .flat_map(|s| s.taints.iter().flatten())
        .enumerate()
    {
        let idx = tp.index(i);
        errs.extend(meta::validate_label_name(&t.key, &idx.child("key")));
        let v = s(&t.value);
        let msgs = names::is_valid_label_value(v);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(&idx.child("value"), v, msgs.join(";")));
        }
        errs.extend(pod::validate_taint_effect(
            &t.effect,
            false,
            &idx.child("effect"),
        ));
        let keys = unique.entry(t.effect.clone()).or_default();
        if keys.contains(&t.key) {
            let mut e = FieldError::duplicate(&idx, Json(t));
            e.detail = "taints must be unique by key and effect pair".to_string();
            errs.push(e);
            continue;
        }
        keys.push(t.key.clone());
    }
    errs
}

fn validate_node_resources(node: &Node) -> ErrorList {
    let mut errs = Vec::new();
    if let Some(status) = &node.status {
        for (field, list) in [
            ("capacity", &status.capacity),
            ("allocatable", &status.allocatable),
        ] {
            for (k, q) in list.iter().flatten() {
                errs.extend(pod::validate_quantity_value(
                    k,
                    q,
                    &Path::new("status").child(field).child(k),
                ));
            }
        }
    }
    errs
}

pub(crate) fn validate_node(node: &Node) -> ErrorList {
    let mut errs = validate_node_taints(node);
    errs.extend(validate_node_resources(node));
    let cidrs = node
        .spec
        .as_ref()
        .and_then(|s| s.pod_cidrs.as_deref())
        .unwrap_or(&[]);
    let cp = Path::new("spec").child("podCIDRs");
    for (i, c) in cidrs.iter().enumerate() {
        errs.extend(names::is_valid_cidr(&cp.index(i), c));
    }
    if cidrs.len() > 1 {
        let parsed: Vec<names::SloppyCidr> = cidrs
            .iter()
            .filter_map(|c| names::parse_cidr_sloppy(c))
            .collect();
        let dual = parsed.len() == 2 && parsed[0].is_v4() != parsed[1].is_v4();
        if !dual || cidrs.len() > 2 {
            errs.push(FieldError::invalid(
                &cp,
                GoStrings(Some(cidrs)),
                "may specify no more than one CIDR for each IP family",
            ));
        }
        let mut seen = Vec::new();
        for (i, c) in cidrs.iter().enumerate() {
            if seen.contains(c) {
                errs.push(FieldError::duplicate(&cp.index(i), c));
            }
            seen.push(c.clone());
        }
    }
    errs
}

/// `ValidateNodeUpdate` minus metadata: podCIDRs and providerID set once, externalID
/// fixed, no duplicate addresses, taints and resources well formed.
pub(crate) fn validate_node_update(new: &Node, old: &Node) -> ErrorList {
    let mut errs = validate_node_resources(new);
    let ns = new.spec.clone().unwrap_or_default();
    let os = old.spec.clone().unwrap_or_default();
    if let Some(status) = &new.status {
        let mut seen = Vec::new();
        for (i, a) in status.addresses.iter().flatten().enumerate() {
            if seen.contains(&a) {
                errs.push(FieldError::duplicate(
                    &Path::new("status").child("addresses").index(i),
                    Json(a),
                ));
            }
            seen.push(a);
        }
    }
    let old_cidrs = os.pod_cidrs.as_deref().unwrap_or(&[]);
    let new_cidrs = ns.pod_cidrs.as_deref().unwrap_or(&[]);
    let cidr_msg = "node updates may not change podCIDR except from \"\" to valid";
    if !old_cidrs.is_empty() {
        if old_cidrs.len() != new_cidrs.len() {
            errs.push(FieldError::forbidden(
                &Path::new("spec").child("podCIDRs"),
                cidr_msg,
            ));
        } else {
            for (o, n) in old_cidrs.iter().zip(new_cidrs) {
                if o != n {
                    errs.push(FieldError::forbidden(
                        &Path::new("spec").child("podCIDRs"),
                        cidr_msg,
                    ));
                }
            }
        }
    }
    if !s(&os.provider_id).is_empty() && os.provider_id != ns.provider_id {
        errs.push(FieldError::forbidden(
            &Path::new("spec").child("providerID"),
            "node updates may not change providerID except from \"\" to valid",
        ));
    }
    errs.extend(validate_node_taints(new));
    if s(&ns.external_id) != s(&os.external_id) {
        errs.push(FieldError::forbidden(
            &Path::new("spec").child("externalID"),
            "may not be updated",
        ));
    }
    errs
}

const SUPPORTED_RECLAIM: &[&str] = &["Delete", "Recycle", "Retain"];

/// `ValidatePersistentVolumeClaimSpec`.
pub(crate) fn validate_pvc_spec(spec: &PersistentVolumeClaimSpec, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let modes = spec.access_modes.as_deref().unwrap_or(&[]);
    if modes.is_empty() {
        errs.push(FieldError::required(
            &path.child("accessModes"),
            "at least 1 access mode is required",
        ));
    }
    if spec.selector.is_some() {
        errs.extend(meta::validate_label_selector(
            spec.selector.as_ref(),
            meta::SelectorOptions::default(),
            &path.child("selector"),
        ));
    }
    errs.extend(validate_access_modes(modes, &path.child("accessModes")));
    let storage_path = path.child("resources").key("storage");
    match spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
    {
        None => errs.push(FieldError::required(&storage_path, "")),
        Some(q) if *q <= Quantity::ZERO => {
            errs.push(FieldError::invalid(
                &storage_path,
                q.to_string(),
                "must be greater than zero",
            ));
        }
        Some(q) => errs.extend(pod::validate_quantity_value("storage", q, &storage_path)),
    }
    if let Some(sc) = spec.storage_class_name.as_deref().filter(|s| !s.is_empty()) {
        errs.extend(to_errors(
            &path.child("storageClassName"),
            sc,
            names::is_dns1123_subdomain(sc),
        ));
    }
    if let Some(m) = &spec.volume_mode
        && !VOLUME_MODES.contains(&m.as_str())
    {
        errs.push(FieldError::not_supported(
            &path.child("volumeMode"),
            m.as_str(),
            VOLUME_MODES,
        ));
    }
    for (kind, name, api_group, child) in [
        (
            spec.data_source.as_ref().map(|d| d.kind.as_str()),
            spec.data_source.as_ref().map(|d| d.name.as_str()),
            spec.data_source
                .as_ref()
                .and_then(|d| d.api_group.as_deref()),
            "dataSource",
        ),
        (
            spec.data_source_ref.as_ref().map(|d| d.kind.as_str()),
            spec.data_source_ref.as_ref().map(|d| d.name.as_str()),
            spec.data_source_ref
                .as_ref()
                .and_then(|d| d.api_group.as_deref()),
            "dataSourceRef",
        ),
    ] {
        let (Some(kind), Some(name)) = (kind, name) else {
            continue;
        };
        let dp = path.child(child);
        if name.is_empty() {
            errs.push(FieldError::required(&dp.child("name"), ""));
        }
        if kind.is_empty() {
            errs.push(FieldError::required(&dp.child("kind"), ""));
        }
        let group = api_group.unwrap_or("");
        if group.is_empty() && kind != "PersistentVolumeClaim" {
            errs.push(FieldError::invalid(
                &dp,
                kind,
                "must be 'PersistentVolumeClaim' when referencing the default apiGroup",
            ));
        }
        if !group.is_empty() {
            errs.extend(to_errors(
                &dp.child("apiGroup"),
                group,
                names::is_dns1123_subdomain(group),
            ));
        }
    }
    errs
}

fn validate_access_modes(modes: &[String], path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let (mut rwop, mut other) = (false, false);
    for m in modes {
        if !ACCESS_MODES.contains(&m.as_str()) {
            errs.push(FieldError::not_supported(path, m.as_str(), ACCESS_MODES));
        }
        if m == "ReadWriteOncePod" {
            rwop = true;
        } else if ACCESS_MODES.contains(&m.as_str()) {
            other = true;
        }
    }
    if rwop && other {
        errs.push(FieldError::forbidden(
            path,
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
    errs
}

pub(crate) fn validate_pvc(pvc: &PersistentVolumeClaim) -> ErrorList {
    let spec = pvc.spec.clone().unwrap_or_default();
    validate_pvc_spec(&spec, &Path::new("spec"))
}

pub(crate) fn validate_pvc_update(
    new: &PersistentVolumeClaim,
    old: &PersistentVolumeClaim,
) -> ErrorList {
    let mut errs = validate_pvc(new);
    let mut nspec = new.spec.clone().unwrap_or_default();
    let mut ospec = old.spec.clone().unwrap_or_default();
    let bound = new.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
    if s(&ospec.volume_name).is_empty() {
        ospec.volume_name = nspec.volume_name.clone();
    }
    if ospec.storage_class_name.is_none() && nspec.storage_class_name.is_some() {
        ospec.storage_class_name = nspec.storage_class_name.clone();
    }
    let old_size = old
        .spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .copied();
    let new_size = new
        .spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .copied();
    if bound {
        if let Some(req) = nspec.resources.as_mut().and_then(|r| r.requests.as_mut()) {
            match old_size {
                Some(q) => {
                    req.insert("storage".to_string(), q);
                }
                None => {
                    req.remove("storage");
                }
            }
        }
        if nspec.volume_attributes_class_name.is_some() {
            nspec.volume_attributes_class_name = ospec.volume_attributes_class_name.clone();
        }
    }
    if !super::sem_eq(&nspec, &ospec) {
        errs.push(FieldError::forbidden(
            &Path::new("spec"),
            format!(
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n{}",
                super::spec_diff(&ospec, &nspec)
            ),
        ));
    }
    if let (Some(n), Some(o)) = (new_size, old_size)
        && n < o
    {
        // RecoverVolumeExpansionFailure is on by default in 1.33: shrinking is allowed down
        // to (but not to or below) the recorded capacity.
        let cap = old
            .status
            .as_ref()
            .and_then(|s| s.capacity.as_ref())
            .and_then(|c| c.get("storage"))
            .copied()
            .unwrap_or(Quantity::ZERO);
        if n <= cap {
            errs.push(FieldError::forbidden(
                &Path::new("spec")
                    .child("resources")
                    .child("requests")
                    .child("storage"),
                "field can not be less than status.capacity",
            ));
        }
    }
    let (nvm, ovm) = (
        new.spec.as_ref().and_then(|s| s.volume_mode.clone()),
        old.spec.as_ref().and_then(|s| s.volume_mode.clone()),
    );
    if nvm != ovm {
        errs.push(FieldError::invalid(
            &Path::new("volumeMode"),
            nvm,
            FIELD_IMMUTABLE,
        ));
    }
    errs
}

fn pv_sources(spec: &PersistentVolumeSpec) -> Vec<(&'static str, bool)> {
    vec![
        ("hostPath", spec.host_path.is_some()),
        ("gcePersistentDisk", spec.gce_persistent_disk.is_some()),
        (
            "awsElasticBlockStore",
            spec.aws_elastic_block_store.is_some(),
        ),
        ("glusterfs", spec.glusterfs.is_some()),
        ("flocker", spec.flocker.is_some()),
        ("nfs", spec.nfs.is_some()),
        ("rbd", spec.rbd.is_some()),
        ("quobyte", spec.quobyte.is_some()),
        ("cephFS", spec.cephfs.is_some()),
        ("iscsi", spec.iscsi.is_some()),
        ("cinder", spec.cinder.is_some()),
        ("fc", spec.fc.is_some()),
        ("flexVolume", spec.flex_volume.is_some()),
        ("azureFile", spec.azure_file.is_some()),
        ("vsphereVolume", spec.vsphere_volume.is_some()),
        (
            "photonPersistentDisk",
            spec.photon_persistent_disk.is_some(),
        ),
        ("portworxVolume", spec.portworx_volume.is_some()),
        ("azureDisk", spec.azure_disk.is_some()),
        ("scaleIO", spec.scale_io.is_some()),
        ("local", spec.local.is_some()),
        ("storageos", spec.storageos.is_some()),
        ("csi", spec.csi.is_some()),
    ]
}

pub(crate) fn validate_pv(pv: &PersistentVolume) -> ErrorList {
    let spec = pv.spec.clone().unwrap_or_default();
    let p = Path::new("spec");
    let mut errs = Vec::new();
    let modes = spec.access_modes.as_deref().unwrap_or(&[]);
    if modes.is_empty() {
        errs.push(FieldError::required(&p.child("accessModes"), ""));
    }
    errs.extend(validate_access_modes(modes, &p.child("accessModes")));
    let cap = spec.capacity.clone().unwrap_or_default();
    if cap.is_empty() {
        errs.push(FieldError::required(&p.child("capacity"), ""));
    }
    if !cap.contains_key("storage") || cap.len() > 1 {
        // Go prints the map with %#v; a missing one is `core.ResourceList(nil)`, other
        // contents are shown as JSON.
        let value = match &spec.capacity {
            None => Raw("core.ResourceList(nil)".to_string()),
            Some(c) if c.is_empty() => Raw("core.ResourceList{}".to_string()),
            Some(c) => {
                let rendered: BTreeMap<String, String> =
                    c.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
                Raw(serde_json::to_string(&rendered).unwrap_or_default())
            }
        };
        errs.push(FieldError::not_supported(
            &p.child("capacity"),
            value,
            &["storage"],
        ));
    }
    for (k, q) in &cap {
        let kp = p.child("capacity").key(k);
        if *q < Quantity::ZERO {
            errs.push(FieldError::invalid(
                &kp,
                q.value(),
                "must be a valid resource quantity",
            ));
        }
        if *q <= Quantity::ZERO {
            errs.push(FieldError::invalid(
                &kp,
                q.to_string(),
                "must be greater than zero",
            ));
        }
    }
    if let Some(rp) = spec
        .persistent_volume_reclaim_policy
        .as_deref()
        .filter(|r| !r.is_empty())
        && !SUPPORTED_RECLAIM.contains(&rp)
    {
        errs.push(FieldError::not_supported(
            &p.child("persistentVolumeReclaimPolicy"),
            rp,
            SUPPORTED_RECLAIM,
        ));
    }
    let mut node_affinity_set = false;
    if let Some(na) = &spec.node_affinity {
        node_affinity_set = true;
        match &na.required {
            Some(r) => errs.extend(pod::validate_node_selector(
                r,
                false,
                &p.child("nodeAffinity").child("required"),
            )),
            None => errs.push(FieldError::required(
                &p.child("nodeAffinity").child("required"),
                "must specify required node constraints",
            )),
        }
    }
    let mut count = 0;
    for (name, present) in pv_sources(&spec) {
        if !present {
            continue;
        }
        if count > 0 {
            errs.push(FieldError::forbidden(
                &p.child(name),
                "may not specify more than 1 volume type",
            ));
            continue;
        }
        count += 1;
        match name {
            "hostPath" => {
                if let Some(hp) = &spec.host_path {
                    errs.extend(pod::validate_host_path(
                        &hp.path,
                        hp.type_.as_deref(),
                        &p.child("hostPath"),
                    ));
                }
            }
            "nfs" => {
                if let Some(n) = &spec.nfs {
                    let np = p.child("nfs");
                    if n.server.is_empty() {
                        errs.push(FieldError::required(&np.child("server"), ""));
                    }
                    if n.path.is_empty() {
                        errs.push(FieldError::required(&np.child("path"), ""));
                    }
                    if !n.path.starts_with('/') {
                        errs.push(FieldError::invalid(
                            &np.child("path"),
                            &n.path,
                            "must be an absolute path",
                        ));
                    }
                }
            }
            "local" => {
                if let Some(l) = &spec.local {
                    if l.path.is_empty() {
                        errs.push(FieldError::required(&p.child("local").child("path"), ""));
                    } else if l.path.split('/').any(|x| x == "..") {
                        errs.push(FieldError::invalid(
                            &p.child("local").child("path"),
                            &l.path,
                            "must not contain '..'",
                        ));
                    }
                }
                if !node_affinity_set {
                    errs.push(FieldError::required(
                        &p.child("nodeAffinity"),
                        "Local volume requires node affinity",
                    ));
                }
            }
            "csi" => {
                if let Some(c) = &spec.csi {
                    let cp = p.child("csi");
                    errs.extend(pod::validate_csi_driver_name(
                        &c.driver,
                        &cp.child("driver"),
                    ));
                    if c.volume_handle.is_empty() {
                        errs.push(FieldError::required(&cp.child("volumeHandle"), ""));
                    }
                }
            }
            _ => {}
        }
    }
    if count == 0 {
        errs.push(FieldError::required(&p, "must specify a volume type"));
    }
    if spec
        .host_path
        .as_ref()
        .is_some_and(|h| h.path.trim_end_matches('/').is_empty() && !h.path.is_empty())
        && s(&spec.persistent_volume_reclaim_policy) == "Recycle"
    {
        errs.push(FieldError::forbidden(
            &p.child("persistentVolumeReclaimPolicy"),
            "may not be 'recycle' for a hostPath mount of '/'",
        ));
    }
    if let Some(sc) = spec.storage_class_name.as_deref().filter(|s| !s.is_empty()) {
        errs.extend(to_errors(
            &p.child("storageClassName"),
            sc,
            names::is_dns1123_subdomain(sc),
        ));
    }
    if let Some(m) = &spec.volume_mode
        && !VOLUME_MODES.contains(&m.as_str())
    {
        errs.push(FieldError::not_supported(
            &p.child("volumeMode"),
            m.as_str(),
            VOLUME_MODES,
        ));
    }
    errs
}

fn pv_source_only(spec: &PersistentVolumeSpec) -> PersistentVolumeSpec {
    PersistentVolumeSpec {
        aws_elastic_block_store: spec.aws_elastic_block_store.clone(),
        azure_disk: spec.azure_disk.clone(),
        azure_file: spec.azure_file.clone(),
        cephfs: spec.cephfs.clone(),
        cinder: spec.cinder.clone(),
        csi: spec.csi.clone(),
        fc: spec.fc.clone(),
        flex_volume: spec.flex_volume.clone(),
        flocker: spec.flocker.clone(),
        gce_persistent_disk: spec.gce_persistent_disk.clone(),
        glusterfs: spec.glusterfs.clone(),
        host_path: spec.host_path.clone(),
        iscsi: spec.iscsi.clone(),
        local: spec.local.clone(),
        nfs: spec.nfs.clone(),
        photon_persistent_disk: spec.photon_persistent_disk.clone(),
        portworx_volume: spec.portworx_volume.clone(),
        quobyte: spec.quobyte.clone(),
        rbd: spec.rbd.clone(),
        scale_io: spec.scale_io.clone(),
        storageos: spec.storageos.clone(),
        vsphere_volume: spec.vsphere_volume.clone(),
        ..Default::default()
    }
}

pub(crate) fn validate_pv_update(new: &PersistentVolume, old: &PersistentVolume) -> ErrorList {
    let mut errs = validate_pv(new);
    let ns = new.spec.clone().unwrap_or_default();
    let os = old.spec.clone().unwrap_or_default();
    let mut nsrc = pv_source_only(&ns);
    let osrc = pv_source_only(&os);
    if let (Some(oc), Some(nc)) = (&osrc.csi, nsrc.csi.as_mut())
        && oc.controller_expand_secret_ref.is_none()
    {
        nc.controller_expand_secret_ref = None;
    }
    if !super::sem_eq(&nsrc, &osrc) {
        errs.push(FieldError::forbidden(
            &Path::new("spec").child("persistentvolumesource"),
            format!(
                "spec.persistentvolumesource is immutable after creation\n{}",
                super::spec_diff(&osrc, &nsrc)
            ),
        ));
    }
    if ns.volume_mode != os.volume_mode {
        errs.push(FieldError::invalid(
            &Path::new("volumeMode"),
            ns.volume_mode.clone(),
            FIELD_IMMUTABLE,
        ));
    }
    if os.node_affinity.is_some() && !super::sem_eq(&ns.node_affinity, &os.node_affinity) {
        errs.push(FieldError::invalid(
            &Path::new("nodeAffinity"),
            Json(&ns.node_affinity),
            format!("{FIELD_IMMUTABLE}, except for updating from beta label to GA"),
        ));
    }
    errs
}

pub(crate) fn validate_endpoints(ep: &Endpoints) -> ErrorList {
    let mut errs = Vec::new();
    let sp = Path::new("subsets");
    for (i, ss) in ep.subsets.iter().flatten().enumerate() {
        let idx = sp.index(i);
        let addrs = ss.addresses.as_deref().unwrap_or(&[]);
        let not_ready = ss.not_ready_addresses.as_deref().unwrap_or(&[]);
        if addrs.is_empty() && not_ready.is_empty() {
            errs.push(FieldError::required(
                &idx,
                "must specify `addresses` or `notReadyAddresses`",
            ));
        }
        for (list, child) in [(addrs, "addresses"), (not_ready, "notReadyAddresses")] {
            for (j, a) in list.iter().enumerate() {
                let ap = idx.child(child).index(j);
                errs.extend(names::is_valid_ip(&ap.child("ip"), &a.ip));
                let host = s(&a.hostname);
                if !host.is_empty() {
                    errs.extend(to_errors(
                        &ap.child("hostname"),
                        host,
                        names::is_dns1123_label(host),
                    ));
                }
                if let Some(n) = &a.node_name {
                    errs.extend(to_errors(
                        &ap.child("nodeName"),
                        n,
                        names::is_dns1123_subdomain(n),
                    ));
                }
                errs.extend(validate_non_special_ip(&a.ip, &ap.child("ip")));
            }
        }
        let ports = ss.ports.as_deref().unwrap_or(&[]);
        for (j, port) in ports.iter().enumerate() {
            let pp = idx.child("ports").index(j);
            let name = s(&port.name);
            if ports.len() > 1 && name.is_empty() {
                errs.push(FieldError::required(&pp.child("name"), ""));
            } else if !name.is_empty() {
                errs.extend(to_errors(
                    &pp.child("name"),
                    name,
                    names::is_dns1123_label(name),
                ));
            }
            for m in names::is_valid_port_num(i64::from(port.port)) {
                errs.push(FieldError::invalid(&pp.child("port"), port.port, m));
            }
            let proto = s(&port.protocol);
            if proto.is_empty() {
                errs.push(FieldError::required(&pp.child("protocol"), ""));
            } else if !PORT_PROTOCOLS.contains(&proto) {
                errs.push(FieldError::not_supported(
                    &pp.child("protocol"),
                    proto,
                    PORT_PROTOCOLS,
                ));
            }
            if let Some(ap) = &port.app_protocol {
                errs.extend(to_errors(
                    &pp.child("appProtocol"),
                    ap,
                    names::is_qualified_name(ap),
                ));
            }
        }
    }
    errs
}

/// The legacy (core/v1) Event checks.
pub(crate) fn validate_event(ev: &Event) -> ErrorList {
    let mut errs = Vec::new();
    let ns = s(&ev.metadata.namespace);
    let inv_ns = s(&ev.involved_object.namespace);
    let np = Path::new("involvedObject").child("namespace");
    if ev.event_time.is_none() {
        if inv_ns.is_empty() {
            if !ns.is_empty() && ns != "default" {
                errs.push(FieldError::invalid(
                    &np,
                    inv_ns,
                    "does not match event.namespace",
                ));
            }
        } else if ns != inv_ns {
            errs.push(FieldError::invalid(
                &np,
                inv_ns,
                "does not match event.namespace",
            ));
        }
    } else {
        if inv_ns.is_empty() && ns != "default" && ns != "kube-system" {
            errs.push(FieldError::invalid(
                &np,
                inv_ns,
                "does not match event.namespace",
            ));
        }
        let rc = s(&ev.reporting_component);
        if rc.is_empty() {
            errs.push(FieldError::required(&Path::new("reportingController"), ""));
        }
        errs.extend(to_errors(
            &Path::new("reportingController"),
            rc,
            names::is_qualified_name(rc),
        ));
        for (v, field, limit) in [
            (s(&ev.reporting_instance), "reportingInstance", 128usize),
            (s(&ev.action), "action", 128),
            (s(&ev.reason), "reason", 128),
        ] {
            if v.is_empty() {
                errs.push(FieldError::required(&Path::new(field), ""));
            }
            if v.len() > limit {
                errs.push(FieldError::invalid(
                    &Path::new(field),
                    "",
                    format!("can have at most {limit} characters"),
                ));
            }
        }
        if s(&ev.message).len() > 1024 {
            errs.push(FieldError::invalid(
                &Path::new("message"),
                "",
                "can have at most 1024 characters",
            ));
        }
    }
    errs.extend(to_errors(
        &Path::new("namespace"),
        ns,
        names::is_dns1123_subdomain(ns),
    ));
    errs
}

pub(crate) fn validate_pod_template(pt: &PodTemplate, opts: &ValidationOptions) -> ErrorList {
    let t = pt.template.clone().unwrap_or_default();
    pod::validate_pod_template_spec(
        &t,
        &Path::new("template"),
        PodOpts {
            resource_is_pod: false,
            global: opts,
        },
    )
}

pub(crate) fn validate_replication_controller(
    rc: &ReplicationController,
    opts: &ValidationOptions,
) -> ErrorList {
    let spec = rc.spec.clone().unwrap_or_default();
    let sp = Path::new("spec");
    let mut errs = nonnegative(
        i64::from(spec.min_ready_seconds.unwrap_or(0)),
        &sp.child("minReadySeconds"),
    );
    let selector = spec.selector.clone().unwrap_or_default();
    if selector.is_empty() {
        errs.push(FieldError::required(&sp.child("selector"), ""));
    }
    errs.extend(nonnegative(
        i64::from(spec.replicas.unwrap_or(0)),
        &sp.child("replicas"),
    ));
    let tp = sp.child("template");
    match &spec.template {
        None => errs.push(FieldError::required(&tp, "")),
        Some(t) => {
            let labels = t.metadata.as_ref().and_then(|m| m.labels.as_ref());
            if !selector.is_empty() {
                let empty = BTreeMap::new();
                let l = labels.unwrap_or(&empty);
                if selector.iter().any(|(k, v)| l.get(k) != Some(v)) {
                    errs.push(FieldError::invalid(
                        &tp.child("metadata").child("labels"),
                        GoStrMap(labels),
                        "`selector` does not match template `labels`",
                    ));
                }
            }
            errs.extend(pod::validate_pod_template_spec(
                t,
                &tp,
                PodOpts {
                    resource_is_pod: false,
                    global: opts,
                },
            ));
            let rp = t
                .spec
                .as_ref()
                .map(|s| s.restart_policy.as_deref().unwrap_or(""))
                .unwrap_or("");
            if rp != "Always" {
                errs.push(FieldError::not_supported(
                    &tp.child("spec").child("restartPolicy"),
                    rp,
                    &["Always"],
                ));
            }
            if t.spec
                .as_ref()
                .and_then(|s| s.active_deadline_seconds)
                .is_some()
            {
                errs.push(FieldError::forbidden(
                    &tp.child("spec").child("activeDeadlineSeconds"),
                    "activeDeadlineSeconds in ReplicationController is not Supported",
                ));
            }
        }
    }
    errs
}
