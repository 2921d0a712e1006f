//! `clipper describe` for pods and nodes: kubectl's layout (labelled fields aligned as its
//! tabwriter aligns them, nested sections indented by two), a subset of its fields, and
//! the Events section (the object's core/v1 Events, oldest first).

use serde_json::Value;

use super::discovery::targets;
use super::info::last_seen;
use super::output::{self, tabwrite};
use super::{Global, Outcome, Result, Session, print_error, query};

#[derive(clap::Args)]
pub struct DescribeArgs {
    /// TYPE [NAME...] or TYPE/NAME... (pods and nodes).
    #[arg(required = true)]
    pub resources: Vec<String>,
    /// With TYPE alone: the objects matching this label selector.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    #[command(flatten)]
    pub global: Global,
}

pub async fn run(args: DescribeArgs) -> Result<Outcome> {
    let session = Session::new(&args.global)?;
    let discovery = session.discovery().await?;
    let t = targets(discovery, &args.resources)?;
    let mut objects = Vec::new();
    for (r, name) in t.named {
        objects.push((r, Some(name)));
    }
    for r in t.types {
        objects.push((r, None));
    }
    let mut ok = true;
    let mut first = true;
    for (r, name) in objects {
        if !(r.group.is_empty() && (r.name == "pods" || r.name == "nodes")) {
            print_error(&anyhow::anyhow!(
                "clipper describe supports pods and nodes, not {}",
                r.name
            ));
            ok = false;
            continue;
        }
        let items = match &name {
            Some(n) => match session.get(&r.object(&session.namespace, n)).await {
                Ok(o) => vec![o],
                Err(e) => {
                    print_error(&e);
                    ok = false;
                    continue;
                }
            },
            None => {
                let q = query(&[("labelSelector", args.selector.as_deref().unwrap_or(""))]);
                let list = session
                    .get(&format!("{}{q}", r.collection(Some(&session.namespace))))
                    .await?;
                list["items"].as_array().cloned().unwrap_or_default()
            }
        };
        for obj in items {
            let events = events_of(&session, &obj).await?;
            let text = if r.name == "pods" {
                describe_pod(&obj, &events)
            } else {
                let pods = pods_on(&session, &obj).await?;
                describe_node(&obj, &pods, &events)
            };
            if !first {
                println!("\n");
            }
            first = false;
            print!("{}", tabwrite(&text, 2));
        }
    }
    Ok(Outcome::from_ok(ok))
}

async fn events_of(session: &Session, obj: &Value) -> Result<Vec<Value>> {
    let meta = &obj["metadata"];
    let ns = meta["namespace"].as_str().unwrap_or("");
    let mut field = format!(
        "involvedObject.name={},involvedObject.uid={}",
        meta["name"].as_str().unwrap_or(""),
        meta["uid"].as_str().unwrap_or("")
    );
    if !ns.is_empty() {
        field.push_str(&format!(",involvedObject.namespace={ns}"));
    }
    let path = if ns.is_empty() {
        "/api/v1/events".to_string()
    } else {
        format!("/api/v1/namespaces/{ns}/events")
    };
    let list = session
        .get(&format!("{path}{}", query(&[("fieldSelector", &field)])))
        .await?;
    let mut events = list["items"].as_array().cloned().unwrap_or_default();
    events.sort_by_key(super::info::event_time);
    Ok(events)
}

async fn pods_on(session: &Session, node: &Value) -> Result<Vec<Value>> {
    let field = format!(
        "spec.nodeName={},status.phase!=Succeeded,status.phase!=Failed",
        node["metadata"]["name"].as_str().unwrap_or("")
    );
    let list = session
        .get(&format!(
            "/api/v1/pods{}",
            query(&[("fieldSelector", &field)])
        ))
        .await?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn or_none(v: &str) -> &str {
    if v.is_empty() { "<none>" } else { v }
}

/// `Key:\tv1` then `\tv2` lines for each further entry (kubectl's labels layout).
fn map_lines(out: &mut String, title: &str, map: &Value, sep: &str) {
    let mut entries: Vec<String> = map
        .as_object()
        .into_iter()
        .flatten()
        // kubectl leaves out the annotation of its client-side apply.
        .filter(|(k, _)| k.as_str() != "kubectl.kubernetes.io/last-applied-configuration")
        .map(|(k, v)| format!("{k}{sep}{}", s(v).trim_end()))
        .collect();
    entries.sort();
    if entries.is_empty() {
        out.push_str(&format!("{title}:\t<none>\n"));
        return;
    }
    for (i, e) in entries.iter().enumerate() {
        if i == 0 {
            out.push_str(&format!("{title}:\t{e}\n"));
        } else {
            out.push_str(&format!("\t{e}\n"));
        }
    }
}

fn events_section(out: &mut String, events: &[Value]) {
    if events.is_empty() {
        out.push_str("Events:\t<none>\n");
        return;
    }
    let now = output::now_seconds();
    out.push_str("Events:\n");
    out.push_str("  Type\tReason\tAge\tFrom\tMessage\n");
    out.push_str("  ----\t------\t----\t----\t-------\n");
    for e in events {
        let mut from = s(&e["source"]["component"]).to_string();
        if from.is_empty() {
            from = s(&e["reportingComponent"]).to_string();
        }
        let host = s(&e["source"]["host"]);
        if !host.is_empty() {
            from = format!("{from}, {host}");
        }
        out.push_str(&format!(
            "  {}\t{}\t{}\t{}\t{}\n",
            s(&e["type"]),
            s(&e["reason"]),
            last_seen(e, now),
            from,
            s(&e["message"]).trim()
        ));
    }
}

fn describe_pod(pod: &Value, events: &[Value]) -> String {
    let meta = &pod["metadata"];
    let spec = &pod["spec"];
    let status = &pod["status"];
    let mut o = String::new();
    o.push_str(&format!("Name:\t{}\n", s(&meta["name"])));
    o.push_str(&format!("Namespace:\t{}\n", s(&meta["namespace"])));
    o.push_str(&format!(
        "Priority:\t{}\n",
        spec["priority"].as_i64().unwrap_or(0)
    ));
    if let Some(pc) = spec["priorityClassName"].as_str() {
        o.push_str(&format!("Priority Class Name:\t{pc}\n"));
    }
    if let Some(sa) = spec["serviceAccountName"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        o.push_str(&format!("Service Account:\t{sa}\n"));
    }
    let node = s(&spec["nodeName"]);
    let node = if node.is_empty() {
        "<none>".to_string()
    } else if let Some(ip) = status["hostIP"].as_str() {
        format!("{node}/{ip}")
    } else {
        node.to_string()
    };
    o.push_str(&format!("Node:\t{node}\n"));
    if status["startTime"].is_string() {
        o.push_str(&format!(
            "Start Time:\t{}\n",
            rfc1123z(&status["startTime"])
        ));
    }
    map_lines(&mut o, "Labels", &meta["labels"], "=");
    map_lines(&mut o, "Annotations", &meta["annotations"], ": ");
    if let Some(t) = meta["deletionTimestamp"].as_str() {
        o.push_str(&format!(
            "Status:\tTerminating (lasts {})\n",
            output::age(&Value::String(t.into()), output::now_seconds())
        ));
        if let Some(g) = meta["deletionGracePeriodSeconds"].as_i64() {
            o.push_str(&format!("Termination Grace Period:\t{g}s\n"));
        }
    } else {
        o.push_str(&format!("Status:\t{}\n", s(&status["phase"])));
    }
    if let Some(r) = status["reason"].as_str() {
        o.push_str(&format!("Reason:\t{r}\n"));
    }
    if let Some(m) = status["message"].as_str() {
        o.push_str(&format!("Message:\t{m}\n"));
    }
    o.push_str(&format!("IP:\t{}\n", s(&status["podIP"])));
    let ips: Vec<&str> = status["podIPs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| s(&i["ip"]))
        .collect();
    if ips.is_empty() {
        o.push_str("IPs:\t<none>\n");
    } else {
        o.push_str("IPs:\n");
        for ip in ips {
            o.push_str(&format!("  IP:\t{ip}\n"));
        }
    }
    for (title, key, status_key) in [
        ("Init Containers", "initContainers", "initContainerStatuses"),
        ("Containers", "containers", "containerStatuses"),
    ] {
        let Some(containers) = spec[key].as_array().filter(|c| !c.is_empty()) else {
            continue;
        };
        o.push_str(&format!("{title}:\n"));
        for c in containers {
            let name = s(&c["name"]);
            let st = status[status_key]
                .as_array()
                .into_iter()
                .flatten()
                .find(|st| s(&st["name"]) == name);
            o.push_str(&format!("  {name}:\n"));
            if let Some(id) = st.and_then(|st| st["containerID"].as_str()) {
                o.push_str(&format!("    Container ID:\t{id}\n"));
            }
            o.push_str(&format!("    Image:\t{}\n", s(&c["image"])));
            if let Some(st) = st {
                o.push_str(&format!("    Image ID:\t{}\n", s(&st["imageID"])));
            }
            let ports: Vec<&Value> = c["ports"].as_array().into_iter().flatten().collect();
            if ports.is_empty() {
                o.push_str("    Port:\t<none>\n    Host Port:\t<none>\n");
            } else {
                let fmt = |field: &str| -> String {
                    ports
                        .iter()
                        .map(|p| {
                            let proto = p["protocol"].as_str().unwrap_or("TCP");
                            format!("{}/{proto}", p[field].as_i64().unwrap_or(0))
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                o.push_str(&format!("    Port:\t{}\n", fmt("containerPort")));
                o.push_str(&format!("    Host Port:\t{}\n", fmt("hostPort")));
            }
            if let Some(cmd) = c["command"].as_array() {
                o.push_str("    Command:\n");
                for a in cmd {
                    o.push_str(&format!("      {}\n", s(a)));
                }
            }
            if let Some(cmd) = c["args"].as_array() {
                o.push_str("    Args:\n");
                for a in cmd {
                    o.push_str(&format!("      {}\n", s(a)));
                }
            }
            if let Some(st) = st {
                let state = Some(&st["state"]);
                let state_name = state
                    .and_then(|s| s.as_object())
                    .and_then(|m| m.keys().next().cloned())
                    .unwrap_or_else(|| "waiting".into());
                let mut word = state_name.clone();
                word[..1].make_ascii_uppercase();
                o.push_str(&format!("    State:\t{word}\n"));
                if let Some(reason) = state.and_then(|s| s[&state_name]["reason"].as_str()) {
                    o.push_str(&format!("      Reason:\t{reason}\n"));
                }
                o.push_str(&format!(
                    "    Ready:\t{}\n",
                    st["ready"].as_bool().unwrap_or(false)
                ));
                o.push_str(&format!(
                    "    Restart Count:\t{}\n",
                    st["restartCount"].as_i64().unwrap_or(0)
                ));
            }
            for (t, k) in [("Limits", "limits"), ("Requests", "requests")] {
                if let Some(m) = c["resources"][k].as_object().filter(|m| !m.is_empty()) {
                    o.push_str(&format!("    {t}:\n"));
                    for (name, q) in m {
                        o.push_str(&format!("      {name}:\t{}\n", output::cell_text(q)));
                    }
                }
            }
            let env: Vec<&Value> = c["env"].as_array().into_iter().flatten().collect();
            if env.is_empty() {
                o.push_str("    Environment:\t<none>\n");
            } else {
                o.push_str("    Environment:\n");
                for e in env {
                    let v = match e["value"].as_str() {
                        Some(v) => v.to_string(),
                        None => "<set from a reference>".to_string(),
                    };
                    o.push_str(&format!("      {}:\t{v}\n", s(&e["name"])));
                }
            }
            let mounts: Vec<&Value> = c["volumeMounts"].as_array().into_iter().flatten().collect();
            if mounts.is_empty() {
                o.push_str("    Mounts:\t<none>\n");
            } else {
                o.push_str("    Mounts:\n");
                for m in mounts {
                    let mode = if m["readOnly"].as_bool() == Some(true) {
                        "ro"
                    } else {
                        "rw"
                    };
                    o.push_str(&format!(
                        "      {} from {} ({mode})\n",
                        s(&m["mountPath"]),
                        s(&m["name"])
                    ));
                }
            }
        }
    }
    if let Some(conds) = status["conditions"].as_array().filter(|c| !c.is_empty()) {
        o.push_str("Conditions:\n  Type\tStatus\n");
        for c in conds {
            o.push_str(&format!("  {} \t{} \n", s(&c["type"]), s(&c["status"])));
        }
    }
    let volumes: Vec<&Value> = spec["volumes"].as_array().into_iter().flatten().collect();
    if volumes.is_empty() {
        o.push_str("Volumes:\t<none>\n");
    } else {
        o.push_str("Volumes:\n");
        for v in volumes {
            o.push_str(&format!("  {}:\n", s(&v["name"])));
            let source = v
                .as_object()
                .into_iter()
                .flatten()
                .find(|(k, _)| k.as_str() != "name");
            if let Some((kind, detail)) = source {
                let mut k = kind.clone();
                k[..1].make_ascii_uppercase();
                o.push_str(&format!("    Type:\t{k}\n"));
                for (field, value) in detail.as_object().into_iter().flatten() {
                    if !value.is_object() && !value.is_array() {
                        let mut f = field.clone();
                        f[..1].make_ascii_uppercase();
                        o.push_str(&format!("    {f}:\t{}\n", output::cell_text(value)));
                    }
                }
            }
        }
    }
    if let Some(q) = status["qosClass"].as_str() {
        o.push_str(&format!("QoS Class:\t{q}\n"));
    }
    map_lines(&mut o, "Node-Selectors", &spec["nodeSelector"], "=");
    let tolerations: Vec<String> = spec["tolerations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let mut text = s(&t["key"]).to_string();
            if let Some(v) = t["value"].as_str() {
                text.push('=');
                text.push_str(v);
            }
            if let Some(e) = t["effect"].as_str() {
                text.push(':');
                text.push_str(e);
            }
            if t["operator"] == "Exists" && t["key"].is_null() {
                text = "op=Exists".into();
            } else if t["operator"] == "Exists" {
                text.push_str(" op=Exists");
            }
            if let Some(secs) = t["tolerationSeconds"].as_i64() {
                text.push_str(&format!(" for {secs}s"));
            }
            text
        })
        .collect();
    if tolerations.is_empty() {
        o.push_str("Tolerations:\t<none>\n");
    } else {
        for (i, t) in tolerations.iter().enumerate() {
            if i == 0 {
                o.push_str(&format!("Tolerations:\t{t}\n"));
            } else {
                o.push_str(&format!("\t{t}\n"));
            }
        }
    }
    events_section(&mut o, events);
    o
}

fn describe_node(node: &Value, pods: &[Value], events: &[Value]) -> String {
    let meta = &node["metadata"];
    let spec = &node["spec"];
    let status = &node["status"];
    let mut o = String::new();
    o.push_str(&format!("Name:\t{}\n", s(&meta["name"])));
    let mut roles: Vec<&str> = meta["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
        .collect();
    roles.sort();
    o.push_str(&format!("Roles:\t{}\n", or_none(&roles.join(","))));
    map_lines(&mut o, "Labels", &meta["labels"], "=");
    map_lines(&mut o, "Annotations", &meta["annotations"], ": ");
    o.push_str(&format!(
        "CreationTimestamp:\t{}\n",
        rfc1123z(&meta["creationTimestamp"])
    ));
    let taints: Vec<String> = spec["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| match t["value"].as_str() {
            Some(v) => format!("{}={v}:{}", s(&t["key"]), s(&t["effect"])),
            None => format!("{}:{}", s(&t["key"]), s(&t["effect"])),
        })
        .collect();
    if taints.is_empty() {
        o.push_str("Taints:\t<none>\n");
    } else {
        for (i, t) in taints.iter().enumerate() {
            o.push_str(&if i == 0 {
                format!("Taints:\t{t}\n")
            } else {
                format!("\t{t}\n")
            });
        }
    }
    o.push_str(&format!(
        "Unschedulable:\t{}\n",
        spec["unschedulable"].as_bool().unwrap_or(false)
    ));
    if let Some(conds) = status["conditions"].as_array().filter(|c| !c.is_empty()) {
        o.push_str("Conditions:\n");
        o.push_str("  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n");
        o.push_str("  ----\t------\t-----------------\t------------------\t------\t-------\n");
        for c in conds {
            o.push_str(&format!(
                "  {}\t{}\t{}\t{}\t{}\t{}\n",
                s(&c["type"]),
                s(&c["status"]),
                s(&c["lastHeartbeatTime"]),
                s(&c["lastTransitionTime"]),
                s(&c["reason"]),
                s(&c["message"])
            ));
        }
    }
    o.push_str("Addresses:\n");
    for a in status["addresses"].as_array().into_iter().flatten() {
        o.push_str(&format!("  {}:\t{}\n", s(&a["type"]), s(&a["address"])));
    }
    for (title, key) in [("Capacity", "capacity"), ("Allocatable", "allocatable")] {
        if let Some(m) = status[key].as_object() {
            o.push_str(&format!("{title}:\n"));
            for (k, v) in m {
                o.push_str(&format!("  {k}:\t{}\n", output::cell_text(v)));
            }
        }
    }
    {
        let info = status["nodeInfo"].as_object().cloned().unwrap_or_default();
        o.push_str("System Info:\n");
        for (label, key) in [
            ("Machine ID", "machineID"),
            ("System UUID", "systemUUID"),
            ("Boot ID", "bootID"),
            ("Kernel Version", "kernelVersion"),
            ("OS Image", "osImage"),
            ("Operating System", "operatingSystem"),
            ("Architecture", "architecture"),
            ("Container Runtime Version", "containerRuntimeVersion"),
            ("Kubelet Version", "kubeletVersion"),
            ("Kube-Proxy Version", "kubeProxyVersion"),
        ] {
            o.push_str(&format!(
                "  {label}:\t{}\n",
                info.get(key).map(s).unwrap_or("")
            ));
        }
    }
    if let Some(cidr) = spec["podCIDR"].as_str() {
        o.push_str(&format!("PodCIDR:\t{cidr}\n"));
    }
    if let Some(id) = spec["providerID"].as_str() {
        o.push_str(&format!("ProviderID:\t{id}\n"));
    }
    o.push_str(&format!(
        "Non-terminated Pods:\t({} in total)\n",
        pods.len()
    ));
    if !pods.is_empty() {
        o.push_str("  Namespace\tName\tAge\n");
        o.push_str("  ---------\t----\t---\n");
        let now = output::now_seconds();
        for p in pods {
            o.push_str(&format!(
                "  {}\t{}\t{}\n",
                s(&p["metadata"]["namespace"]),
                s(&p["metadata"]["name"]),
                output::age(&p["metadata"]["creationTimestamp"], now)
            ));
        }
    }
    events_section(&mut o, events);
    o
}

/// A timestamp as kubectl describe prints it (Go's RFC1123Z): `Fri, 27 Nov 2026 17:52:27 +0000`.
fn rfc1123z(v: &Value) -> String {
    let Some(t) = v.as_str().and_then(|t| clipper_proto::Time::parse(t).ok()) else {
        return "<unknown>".into();
    };
    let secs = t.unix_seconds();
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_as_rfc1123z() {
        let t = serde_json::json!("2026-11-27T17:52:27Z");
        assert_eq!(super::rfc1123z(&t), "Fri, 27 Nov 2026 17:52:27 +0000");
        let t = serde_json::json!("2024-02-29T00:00:00Z");
        assert_eq!(super::rfc1123z(&t), "Thu, 29 Feb 2024 00:00:00 +0000");
    }
}
