//! networking.k8s.io/v1 validation: Ingress, IngressClass, NetworkPolicy.

use clipper_proto::IntOrString;
use clipper_proto::api::networking::v1::{
    HTTPIngressPath, Ingress, IngressBackend, IngressClass, NetworkPolicy, NetworkPolicyPeer,
    NetworkPolicyPort,
};

use super::field::{ErrorList, FieldError, Json, Path};
use super::meta::{self, FIELD_IMMUTABLE, SelectorOptions};
use super::names::{self, to_errors};
use super::pod::s;

/// An IngressClass controller name is at most 250 bytes.
pub const MAX_INGRESS_CLASS_CONTROLLER_LENGTH: usize = 250;
const INGRESS_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
const INVALID_PATH_SEQUENCES: &[&str] = &["//", "/./", "/../", "%2f", "%2F"];
const INVALID_PATH_SUFFIXES: &[&str] = &["/..", "/."];

fn validate_np_port(port: &NetworkPolicyPort, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if let Some(p) = &port.protocol
        && p != "TCP"
        && p != "UDP"
        && p != "SCTP"
    {
        errs.push(FieldError::not_supported(
            &path.child("protocol"),
            p.as_str(),
            &["TCP", "UDP", "SCTP"],
        ));
    }
    match &port.port {
        Some(IntOrString::Int(i)) => {
            for m in names::is_valid_port_num(i64::from(*i)) {
                errs.push(FieldError::invalid(&path.child("port"), *i, m));
            }
            if let Some(end) = port.end_port {
                if end < *i {
                    errs.push(FieldError::invalid(
                        &path.child("endPort"),
                        end,
                        "must be greater than or equal to `port`",
                    ));
                }
                for m in names::is_valid_port_num(i64::from(end)) {
                    errs.push(FieldError::invalid(&path.child("endPort"), end, m));
                }
            }
        }
        Some(IntOrString::String(sv)) => {
            if let Some(end) = port.end_port {
                errs.push(FieldError::invalid(
                    &path.child("endPort"),
                    end,
                    "may not be specified when `port` is non-numeric",
                ));
            }
            errs.extend(to_errors(
                &path.child("port"),
                sv,
                names::is_valid_port_name(sv),
            ));
        }
        None => {
            if let Some(end) = port.end_port {
                errs.push(FieldError::invalid(
                    &path.child("endPort"),
                    end,
                    "may not be specified when `port` is not specified",
                ));
            }
        }
    }
    errs
}

fn validate_ip_block(
    ipb: &clipper_proto::api::networking::v1::IPBlock,
    path: &Path,
    allowed: &[String],
) -> ErrorList {
    if ipb.cidr.is_empty() {
        return vec![FieldError::required(&path.child("cidr"), "")];
    }
    let legacy = |v: &str, p: &Path| -> ErrorList {
        if allowed.iter().any(|a| a == v) {
            return Vec::new();
        }
        match names::parse_cidr_sloppy(v) {
            None => vec![FieldError::invalid(
                p,
                v,
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            )],
            Some(_) => names::is_valid_cidr(p, v)
                .into_iter()
                .filter(|e| e.detail.starts_with("must not"))
                .collect(),
        }
    };
    let mut errs = legacy(&ipb.cidr, &path.child("cidr"));
    let Some(net) = names::parse_cidr_sloppy(&ipb.cidr) else {
        return errs;
    };
    for (i, ex) in ipb.except.iter().flatten().enumerate() {
        let ep = path.child("except").index(i);
        errs.extend(legacy(ex, &ep));
        let Some(exnet) = names::parse_cidr_sloppy(ex) else {
            continue;
        };
        if !net.contains(&exnet) || net.prefix >= exnet.prefix {
            errs.push(FieldError::invalid(
                &ep,
                ex,
                "must be a strict subset of `cidr`",
            ));
        }
    }
    errs
}

fn validate_np_peer(peer: &NetworkPolicyPeer, path: &Path, allowed: &[String]) -> ErrorList {
    let mut errs = Vec::new();
    let mut n = 0;
    if let Some(ps) = &peer.pod_selector {
        n += 1;
        errs.extend(meta::validate_label_selector(
            Some(ps),
            SelectorOptions::default(),
            &path.child("podSelector"),
        ));
    }
    if let Some(ns) = &peer.namespace_selector {
        n += 1;
        errs.extend(meta::validate_label_selector(
            Some(ns),
            SelectorOptions::default(),
            &path.child("namespaceSelector"),
        ));
    }
    if let Some(ipb) = &peer.ip_block {
        n += 1;
        errs.extend(validate_ip_block(ipb, &path.child("ipBlock"), allowed));
    }
    if n == 0 {
        errs.push(FieldError::required(path, "must specify a peer"));
    } else if n > 1 && peer.ip_block.is_some() {
        errs.push(FieldError::forbidden(
            path,
            "may not specify both ipBlock and another peer",
        ));
    }
    errs
}

fn validate_network_policy_with(np: &NetworkPolicy, allowed: &[String]) -> ErrorList {
    let spec = np.spec.clone().unwrap_or_default();
    let p = Path::new("spec");
    let mut errs = meta::validate_label_selector(
        Some(&spec.pod_selector),
        SelectorOptions::default(),
        &p.child("podSelector"),
    );
    for (i, ing) in spec.ingress.iter().flatten().enumerate() {
        let ip = p.child("ingress").index(i);
        for (j, port) in ing.ports.iter().flatten().enumerate() {
            errs.extend(validate_np_port(port, &ip.child("ports").index(j)));
        }
        for (j, from) in ing.from.iter().flatten().enumerate() {
            errs.extend(validate_np_peer(from, &ip.child("from").index(j), allowed));
        }
    }
    for (i, eg) in spec.egress.iter().flatten().enumerate() {
        let ep = p.child("egress").index(i);
        for (j, port) in eg.ports.iter().flatten().enumerate() {
            errs.extend(validate_np_port(port, &ep.child("ports").index(j)));
        }
        for (j, to) in eg.to.iter().flatten().enumerate() {
            errs.extend(validate_np_peer(to, &ep.child("to").index(j), allowed));
        }
    }
    let types = spec.policy_types.as_deref().unwrap_or(&[]);
    if types.len() > 2 {
        errs.push(FieldError::invalid(
            &p.child("policyTypes"),
            Json(&types),
            "may not specify more than two policyTypes",
        ));
        return errs;
    }
    for (i, t) in types.iter().enumerate() {
        if t != "Ingress" && t != "Egress" {
            errs.push(FieldError::not_supported(
                &p.child("policyTypes").index(i),
                t.as_str(),
                &["Ingress", "Egress"],
            ));
        }
    }
    errs
}

pub(crate) fn validate_network_policy(np: &NetworkPolicy) -> ErrorList {
    validate_network_policy_with(np, &[])
}

/// CIDRs already stored in the old policy are accepted even if they no longer pass.
pub(crate) fn validate_network_policy_update(
    new: &NetworkPolicy,
    old: &NetworkPolicy,
) -> ErrorList {
    let mut existing = Vec::new();
    if let Some(spec) = &old.spec {
        let peers = spec
            .ingress
            .iter()
            .flatten()
            .flat_map(|r| r.from.iter().flatten())
            .chain(
                spec.egress
                    .iter()
                    .flatten()
                    .flat_map(|r| r.to.iter().flatten()),
            );
        for peer in peers {
            if let Some(b) = &peer.ip_block {
                existing.push(b.cidr.clone());
                existing.extend(b.except.iter().flatten().cloned());
            }
        }
    }
    validate_network_policy_with(new, &existing)
}

fn validate_backend(b: &IngressBackend, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    match (&b.resource, &b.service) {
        (Some(_), Some(_)) => {
            return vec![FieldError::invalid(
                path,
                "",
                "cannot set both resource and service backends",
            )];
        }
        (Some(r), None) => {
            let rp = path.child("resource");
            if let Some(g) = &r.api_group {
                errs.extend(to_errors(
                    &rp.child("apiGroup"),
                    g,
                    names::is_dns1123_subdomain(g),
                ));
            }
            for (v, child) in [(&r.kind, "kind"), (&r.name, "name")] {
                if v.is_empty() {
                    errs.push(FieldError::required(&rp.child(child), ""));
                } else {
                    errs.extend(to_errors(
                        &rp.child(child),
                        v,
                        names::is_valid_path_segment_name(v),
                    ));
                }
            }
        }
        (None, Some(svc)) => {
            let np = path.child("service").child("name");
            if svc.name.is_empty() {
                errs.push(FieldError::required(&np, ""));
            } else {
                errs.extend(to_errors(
                    &np,
                    &svc.name,
                    names::is_dns1035_label(&svc.name),
                ));
            }
            let port = svc.port.clone().unwrap_or_default();
            let pname = s(&port.name);
            let pnum = port.number.unwrap_or(0);
            if !pname.is_empty() && pnum != 0 {
                errs.push(FieldError::invalid(
                    path,
                    "",
                    "cannot set both port name & port number",
                ));
            } else if !pname.is_empty() {
                errs.extend(to_errors(
                    &path.child("service").child("port").child("name"),
                    pname,
                    names::is_valid_port_name(pname),
                ));
            } else if pnum != 0 {
                for m in names::is_valid_port_num(i64::from(pnum)) {
                    errs.push(FieldError::invalid(
                        &path.child("service").child("port").child("number"),
                        pnum,
                        m,
                    ));
                }
            } else {
                errs.push(FieldError::required(
                    path,
                    "port name or number is required",
                ));
            }
        }
        (None, None) => errs.push(FieldError::invalid(
            path,
            "",
            "resource or service backend is required",
        )),
    }
    errs
}

fn validate_http_path(p: &HTTPIngressPath, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let v = s(&p.path);
    match p.path_type.as_str() {
        "" => {
            return vec![FieldError::required(
                &path.child("pathType"),
                "pathType must be specified",
            )];
        }
        "Exact" | "Prefix" => {
            if !v.starts_with('/') {
                errs.push(FieldError::invalid(
                    &path.child("path"),
                    v,
                    "must be an absolute path",
                ));
            }
            if !v.is_empty() {
                for seq in INVALID_PATH_SEQUENCES {
                    if v.contains(seq) {
                        errs.push(FieldError::invalid(
                            &path.child("path"),
                            v,
                            format!("must not contain '{seq}'"),
                        ));
                    }
                }
                for suf in INVALID_PATH_SUFFIXES {
                    if v.ends_with(suf) {
                        errs.push(FieldError::invalid(
                            &path.child("path"),
                            v,
                            format!("cannot end with '{suf}'"),
                        ));
                    }
                }
            }
        }
        "ImplementationSpecific" => {
            if !v.is_empty() && !v.starts_with('/') {
                errs.push(FieldError::invalid(
                    &path.child("path"),
                    v,
                    "must be an absolute path",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            &path.child("pathType"),
            other,
            &["Exact", "ImplementationSpecific", "Prefix"],
        )),
    }
    errs.extend(validate_backend(&p.backend, &path.child("backend")));
    errs
}

fn validate_ingress_inner(ing: &Ingress) -> ErrorList {
    let spec = ing.spec.clone().unwrap_or_default();
    let p = Path::new("spec");
    let mut errs = Vec::new();
    let rules = spec.rules.as_deref().unwrap_or(&[]);
    if rules.is_empty() && spec.default_backend.is_none() {
        errs.push(FieldError::invalid(
            &p,
            Json(&spec.rules),
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if let Some(b) = &spec.default_backend {
        errs.extend(validate_backend(b, &p.child("defaultBackend")));
    }
    for (i, r) in rules.iter().enumerate() {
        let rp = p.child("rules").index(i);
        let host = s(&r.host);
        if !host.is_empty() {
            if names::parse_ip_sloppy(host).is_some() {
                errs.push(FieldError::invalid(
                    &rp.child("host"),
                    host,
                    "must be a DNS name, not an IP address",
                ));
            }
            if host.contains('*') {
                errs.extend(to_errors(
                    &rp.child("host"),
                    host,
                    names::is_wildcard_dns1123_subdomain(host),
                ));
            } else {
                errs.extend(to_errors(
                    &rp.child("host"),
                    host,
                    names::is_dns1123_subdomain(host),
                ));
            }
        }
        if let Some(http) = &r.http {
            let hp = rp.child("http");
            if http.paths.is_empty() {
                errs.push(FieldError::required(&hp.child("paths"), ""));
            }
            for (j, path) in http.paths.iter().enumerate() {
                errs.extend(validate_http_path(path, &hp.child("paths").index(j)));
            }
        }
    }
    for (i, tls) in spec.tls.iter().flatten().enumerate() {
        let tp = p.child("tls").index(i);
        for (j, h) in tls.hosts.iter().flatten().enumerate() {
            let msgs = if h.contains('*') {
                names::is_wildcard_dns1123_subdomain(h)
            } else {
                names::is_dns1123_subdomain(h)
            };
            errs.extend(to_errors(&tp.child("hosts").index(j), h, msgs));
        }
        let sn = s(&tls.secret_name);
        if !sn.is_empty() {
            errs.extend(to_errors(
                &tp.child("secretName"),
                sn,
                names::is_dns1123_subdomain(sn),
            ));
        }
    }
    if let Some(c) = &spec.ingress_class_name {
        errs.extend(to_errors(
            &p.child("ingressClassName"),
            c,
            names::is_dns1123_subdomain(c),
        ));
    }
    errs
}

pub(crate) fn validate_ingress(ing: &Ingress) -> ErrorList {
    let mut errs = validate_ingress_inner(ing);
    let ann = ing
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(INGRESS_CLASS_ANNOTATION));
    let class = ing
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_ref());
    if let (Some(a), Some(c)) = (ann, class)
        && a != c
    {
        errs.push(FieldError::invalid(
            &Path::new("annotations").child(INGRESS_CLASS_ANNOTATION),
            a,
            "must match `ingressClassName` when both are specified",
        ));
    }
    errs
}

pub(crate) fn validate_ingress_update(new: &Ingress) -> ErrorList {
    validate_ingress_inner(new)
}

pub(crate) fn validate_ingress_class(ic: &IngressClass) -> ErrorList {
    let spec = ic.spec.clone().unwrap_or_default();
    let p = Path::new("spec");
    let mut errs = Vec::new();
    let controller = s(&spec.controller);
    if controller.is_empty() {
        errs.push(FieldError::required(&p.child("controller"), ""));
    } else {
        if controller.len() > MAX_INGRESS_CLASS_CONTROLLER_LENGTH {
            errs.push(FieldError::too_long(
                &p.child("controller"),
                MAX_INGRESS_CLASS_CONTROLLER_LENGTH,
            ));
        }
        errs.extend(names::is_domain_prefixed_path(
            &p.child("controller"),
            controller,
        ));
    }
    if let Some(params) = &spec.parameters {
        let pp = p.child("parameters");
        if let Some(g) = &params.api_group {
            errs.extend(to_errors(
                &pp.child("apiGroup"),
                g,
                names::is_dns1123_subdomain(g),
            ));
        }
        for (v, child) in [(&params.kind, "kind"), (&params.name, "name")] {
            if v.is_empty() {
                errs.push(FieldError::required(&pp.child(child), ""));
            } else {
                errs.extend(to_errors(
                    &pp.child(child),
                    v,
                    names::is_valid_path_segment_name(v),
                ));
            }
        }
        match params.scope.as_deref() {
            None => errs.push(FieldError::required(&pp.child("scope"), "")),
            Some("Namespace") => match &params.namespace {
                None => errs.push(FieldError::required(
                    &pp.child("namespace"),
                    "`parameters.scope` is set to 'Namespace'",
                )),
                Some(ns) => errs.extend(to_errors(
                    &pp.child("namespace"),
                    ns,
                    names::is_dns1123_label(ns),
                )),
            },
            Some("Cluster") => {
                if params.namespace.is_some() {
                    errs.push(FieldError::forbidden(
                        &pp.child("namespace"),
                        "`parameters.scope` is set to 'Cluster'",
                    ));
                }
            }
            Some(other) => errs.push(FieldError::not_supported(
                &pp.child("scope"),
                other,
                &["Cluster", "Namespace"],
            )),
        }
    }
    errs
}

pub(crate) fn validate_ingress_class_update(new: &IngressClass, old: &IngressClass) -> ErrorList {
    let nc = new.spec.as_ref().and_then(|s| s.controller.clone());
    let oc = old.spec.as_ref().and_then(|s| s.controller.clone());
    let mut errs = Vec::new();
    if nc.as_deref().unwrap_or("") != oc.as_deref().unwrap_or("") {
        errs.push(FieldError::invalid(
            &Path::new("spec").child("controller"),
            nc.unwrap_or_default(),
            FIELD_IMMUTABLE,
        ));
    }
    errs.extend(validate_ingress_class(new));
    errs
}
