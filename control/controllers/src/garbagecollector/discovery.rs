//! What the server serves, from its discovery documents (`/api`, `/api/v1`, `/apis`,
//! `/apis/<group>/<version>`): the resources of every version (to find an owner
//! reference's resource from its apiVersion and kind) and, among the preferred versions,
//! those the collector watches — the ones that support list, watch and delete, as
//! Kubernetes' collector chooses them. Parsing is pure; fetching is the caller's.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Resources never watched: events are many, short-lived and never owners (Kubernetes'
/// collector ignores them too).
pub const IGNORED: &[(&str, &str)] = &[("", "events"), ("events.k8s.io", "events")];

/// One served resource of one group version.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiResource {
    /// "" for the core group.
    pub group: String,
    pub version: String,
    /// The plural name (`configmaps`).
    pub plural: String,
    pub kind: String,
    pub namespaced: bool,
    pub verbs: BTreeSet<String>,
}

impl ApiResource {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The path of one object (`namespace` is ignored for cluster-scoped resources).
    pub fn object_path(&self, namespace: Option<&str>, name: &str) -> String {
        let root = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace.filter(|_| self.namespaced) {
            Some(ns) => format!("{root}/namespaces/{ns}/{}/{name}", self.plural),
            None => format!("{root}/{}/{name}", self.plural),
        }
    }

    /// Group, version and plural: how a watch names it.
    pub fn gvr(&self) -> (String, String, String) {
        (
            self.group.clone(),
            self.version.clone(),
            self.plural.clone(),
        )
    }

    fn watchable(&self) -> bool {
        ["list", "watch", "delete"]
            .iter()
            .all(|v| self.verbs.contains(*v))
            && !IGNORED
                .iter()
                .any(|(g, r)| *g == self.group && *r == self.plural)
    }
}

/// A group from `/apis`: its versions and the preferred one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub versions: Vec<String>,
    pub preferred: String,
}

/// `/apis` (APIGroupList).
pub fn parse_groups(doc: &Value) -> Vec<Group> {
    let mut out = Vec::new();
    for g in doc["groups"].as_array().into_iter().flatten() {
        let Some(name) = g["name"].as_str() else {
            continue;
        };
        let versions: Vec<String> = g["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["version"].as_str().map(str::to_string))
            .collect();
        let Some(first) = versions.first().cloned() else {
            continue;
        };
        let preferred = g["preferredVersion"]["version"]
            .as_str()
            .map_or(first, str::to_string);
        out.push(Group {
            name: name.to_string(),
            versions,
            preferred,
        });
    }
    out
}

/// `/api/v1` or `/apis/<group>/<version>` (APIResourceList); subresources
/// (`pods/status`) are left out.
pub fn parse_resources(group: &str, version: &str, doc: &Value) -> Vec<ApiResource> {
    doc["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let plural = r["name"].as_str()?;
            if plural.contains('/') {
                return None;
            }
            Some(ApiResource {
                group: group.to_string(),
                version: version.to_string(),
                plural: plural.to_string(),
                kind: r["kind"].as_str()?.to_string(),
                namespaced: r["namespaced"].as_bool().unwrap_or(false),
                verbs: r["verbs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
            })
        })
        .collect()
}

/// The server's resources as discovered at one time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Discovered {
    /// By (apiVersion, kind), every served version.
    by_kind: BTreeMap<(String, String), ApiResource>,
    /// The resources the collector watches: preferred versions, list+watch+delete.
    pub watched: BTreeSet<ApiResource>,
}

impl Discovered {
    /// Adds the resources of one group version.
    pub fn add(&mut self, resources: Vec<ApiResource>, preferred: bool) {
        for r in resources {
            if preferred && r.watchable() {
                self.watched.insert(r.clone());
            }
            self.by_kind.insert((r.api_version(), r.kind.clone()), r);
        }
    }

    /// The resource an owner reference's apiVersion and kind name.
    pub fn resource_for(&self, api_version: &str, kind: &str) -> Option<&ApiResource> {
        self.by_kind
            .get(&(api_version.to_string(), kind.to_string()))
    }

    pub fn is_empty(&self) -> bool {
        self.by_kind.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resources_doc(rs: &[(&str, &str, bool, &[&str])]) -> Value {
        json!({"resources": rs.iter().map(|(n, k, ns, verbs)| json!({
            "name": n, "kind": k, "namespaced": ns, "verbs": verbs,
        })).collect::<Vec<_>>()})
    }

    const ALL: &[&str] = &[
        "create", "delete", "get", "list", "patch", "update", "watch",
    ];

    #[test]
    fn watched_resources_and_kinds() {
        let mut d = Discovered::default();
        d.add(
            parse_resources(
                "",
                "v1",
                &resources_doc(&[
                    ("configmaps", "ConfigMap", true, ALL),
                    ("pods", "Pod", true, ALL),
                    ("pods/status", "Pod", true, &["get", "patch"]),
                    ("events", "Event", true, ALL),
                    ("bindings", "Binding", true, &["create"]),
                    ("namespaces", "Namespace", false, ALL),
                ]),
            ),
            true,
        );
        let groups = parse_groups(&json!({"groups": [
            {"name": "example.com", "versions": [{"groupVersion": "example.com/v2", "version": "v2"}, {"groupVersion": "example.com/v1", "version": "v1"}],
             "preferredVersion": {"groupVersion": "example.com/v2", "version": "v2"}},
            {"name": "empty", "versions": []},
        ]}));
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].preferred, "v2");
        for v in &groups[0].versions {
            d.add(
                parse_resources(
                    "example.com",
                    v,
                    &resources_doc(&[("widgets", "Widget", true, ALL)]),
                ),
                *v == groups[0].preferred,
            );
        }
        let watched: Vec<String> = d
            .watched
            .iter()
            .map(|r| format!("{}/{}", r.api_version(), r.plural))
            .collect();
        assert_eq!(
            watched,
            [
                "v1/configmaps",
                "v1/namespaces",
                "v1/pods",
                "example.com/v2/widgets"
            ]
        );
        // An owner reference may name any served version.
        let w = d.resource_for("example.com/v1", "Widget").unwrap();
        assert_eq!(
            w.object_path(Some("ns"), "w"),
            "/apis/example.com/v1/namespaces/ns/widgets/w"
        );
        let ns = d.resource_for("v1", "Namespace").unwrap();
        assert_eq!(ns.object_path(Some("ignored"), "x"), "/api/v1/namespaces/x");
        assert!(d.resource_for("v1", "Nope").is_none());
    }
}
