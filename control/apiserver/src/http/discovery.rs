//! Legacy discovery documents: APIVersions (`/api`), APIGroupList (`/apis`), APIGroup
//! (`/apis/<group>`) and APIResourceList (`/api/v1`, `/apis/<group>/<version>`), with
//! verbs, short names, categories and subresources. Required lists are `[]`, never null
//! (old Python clients reject null `serverAddressByClientCIDRs`).

use serde_json::{Value, json};

use crate::served::{Served, ServedSet};

/// The preferred version of a group: kube-apiserver's preference order puts GA `v2`
/// before `v1` for autoscaling; otherwise the first served.
fn preferred(versions: &[String]) -> &str {
    versions
        .iter()
        .find(|v| v.as_str() == "v2")
        .or_else(|| versions.iter().find(|v| v.as_str() == "v1"))
        .or_else(|| versions.first())
        .map(String::as_str)
        .unwrap_or("v1")
}

fn group_value(name: &str, versions: &[String]) -> Value {
    let gv = |v: &str| json!({"groupVersion": format!("{name}/{v}"), "version": v});
    let pref = preferred(versions);
    json!({
        "name": name,
        "versions": versions.iter().map(|v| gv(v)).collect::<Vec<_>>(),
        "preferredVersion": gv(pref),
    })
}

/// `/api`.
pub fn api_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
    })
}

/// `/apis`.
pub fn api_group_list(set: &ServedSet) -> Value {
    let groups: Vec<Value> = set
        .groups
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, versions)| group_value(g, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`.
pub fn api_group(set: &ServedSet, group: &str) -> Option<Value> {
    let (_, versions) = set.groups.iter().find(|(g, _)| g == group)?;
    let mut v = group_value(group, versions);
    v["kind"] = json!("APIGroup");
    v["apiVersion"] = json!("v1");
    Some(v)
}

fn resource_entry(s: &Served) -> Value {
    let mut e = json!({
        "name": s.plural,
        "singularName": s.singular,
        "namespaced": s.namespaced,
        "kind": s.kind,
        "verbs": s.verbs,
    });
    if !s.short_names.is_empty() {
        e["shortNames"] = json!(s.short_names);
    }
    if !s.categories.is_empty() {
        e["categories"] = json!(s.categories);
    }
    e
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub fn api_resource_list(set: &ServedSet, group: &str, version: &str) -> Option<Value> {
    if !set.has_group_version(group, version) {
        return None;
    }
    let mut resources = Vec::new();
    for s in set.in_group_version(group, version) {
        resources.push(resource_entry(s));
        for sub in &s.subresources {
            let mut e = json!({
                "name": format!("{}/{}", s.plural, sub.name),
                "singularName": "",
                "namespaced": s.namespaced,
                "kind": if sub.kind.is_empty() { s.kind.as_str() } else { sub.kind },
                "verbs": sub.verbs,
            });
            if !sub.group.is_empty() || !sub.version.is_empty() {
                e["group"] = json!(sub.group);
                e["version"] = json!(sub.version);
            }
            resources.push(e);
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_documents() {
        let set = ServedSet::builtin();
        let list = api_group_list(&set);
        let groups = list["groups"].as_array().expect("groups");
        assert!(
            groups
                .iter()
                .any(|g| g["name"] == "apps" && g["preferredVersion"]["groupVersion"] == "apps/v1")
        );
        assert!(
            groups
                .iter()
                .any(|g| g["name"] == "autoscaling" && g["preferredVersion"]["version"] == "v2")
        );
        let core = api_resource_list(&set, "", "v1").expect("core");
        assert_eq!(core["groupVersion"], "v1");
        let res = core["resources"].as_array().expect("resources");
        let pods = res.iter().find(|r| r["name"] == "pods").expect("pods");
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert_eq!(pods["categories"], json!(["all"]));
        let eviction = res
            .iter()
            .find(|r| r["name"] == "pods/eviction")
            .expect("eviction");
        assert_eq!(
            (eviction["group"].as_str(), eviction["kind"].as_str()),
            (Some("policy"), Some("Eviction"))
        );
        let apps = api_resource_list(&set, "apps", "v1").expect("apps");
        let scale = apps["resources"]
            .as_array()
            .expect("r")
            .iter()
            .find(|r| r["name"] == "deployments/scale")
            .cloned();
        assert_eq!(scale.expect("scale")["kind"], "Scale");
        assert!(api_resource_list(&set, "apps", "v9").is_none());
        assert_eq!(
            api_versions()["serverAddressByClientCIDRs"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
    }
}
