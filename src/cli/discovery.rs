//! Resource types from the server's discovery documents, resolved as kubectl resolves
//! them: plural, singular, short name or kind (any case), optionally qualified by group
//! (`deployments.apps`) or version and group (`deployments.v1.apps`). The core group is
//! searched first, then the groups in the server's order, each at its preferred version.

use std::sync::Arc;

use clipper_client::RestClient;
use serde_json::Value;

use super::{Result, client_error};

/// One resource type (not a subresource) at its group's preferred version.
#[derive(Clone, Debug)]
pub struct Resource {
    pub group: String,
    pub version: String,
    /// The plural, as in paths.
    pub name: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub verbs: Vec<String>,
    pub categories: Vec<String>,
}

impl Resource {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// kubectl's name of the type in messages: `pod`, `deployment.apps`.
    pub fn kind_ref(&self) -> String {
        let kind = self.kind.to_lowercase();
        if self.group.is_empty() {
            kind
        } else {
            format!("{kind}.{}", self.group)
        }
    }

    /// `/api/v1` or `/apis/GROUP/VERSION`.
    fn prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// The collection path: in `namespace` when namespaced and one is given, else across
    /// namespaces (or cluster-scoped).
    pub fn collection(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced => {
                format!("{}/namespaces/{ns}/{}", self.prefix(), self.name)
            }
            _ => format!("{}/{}", self.prefix(), self.name),
        }
    }

    /// An object's path.
    pub fn object(&self, namespace: &str, name: &str) -> String {
        format!("{}/{name}", self.collection(Some(namespace)))
    }
}

/// The server's resource types.
pub struct Discovery {
    /// Core first, then groups in discovery order, each at its preferred version.
    pub resources: Vec<Resource>,
    /// Every served group version: for manifests naming a version other than the
    /// preferred one.
    all_versions: Vec<Resource>,
}

impl Discovery {
    pub async fn load(client: &Arc<RestClient>) -> Result<Discovery> {
        let groups = client.get("/apis").await.map_err(client_error)?;
        // (group, version, preferred)
        let mut gvs = vec![(String::new(), "v1".to_string(), true)];
        for g in groups["groups"].as_array().into_iter().flatten() {
            let name = g["name"].as_str().unwrap_or("").to_string();
            let preferred = g["preferredVersion"]["version"].as_str().unwrap_or("");
            for v in g["versions"].as_array().into_iter().flatten() {
                let version = v["version"].as_str().unwrap_or("").to_string();
                let is_preferred = version == preferred;
                gvs.push((name.clone(), version, is_preferred));
            }
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (i, (group, version, _)) in gvs.iter().enumerate() {
            let path = if group.is_empty() {
                format!("/api/{version}")
            } else {
                format!("/apis/{group}/{version}")
            };
            let client = client.clone();
            tasks.spawn(async move { (i, client.get(&path).await) });
        }
        let mut lists: Vec<Option<Value>> = vec![None; gvs.len()];
        while let Some(done) = tasks.join_next().await {
            let (i, list) = done?;
            // A group version that fails to answer is left out, as kubectl does
            // (it warns and goes on).
            lists[i] = list.ok();
        }
        let mut resources = Vec::new();
        let mut all_versions = Vec::new();
        for ((group, version, preferred), list) in gvs.into_iter().zip(lists) {
            let Some(list) = list else { continue };
            for r in list["resources"].as_array().into_iter().flatten() {
                let name = r["name"].as_str().unwrap_or("");
                if name.contains('/') || name.is_empty() {
                    continue;
                }
                let strings = |key: &str| -> Vec<String> {
                    r[key]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                };
                let kind = r["kind"].as_str().unwrap_or("").to_string();
                let singular = match r["singularName"].as_str() {
                    Some(s) if !s.is_empty() => s.to_string(),
                    _ => kind.to_lowercase(),
                };
                let res = Resource {
                    group: group.clone(),
                    version: version.clone(),
                    name: name.to_string(),
                    singular,
                    kind,
                    namespaced: r["namespaced"].as_bool().unwrap_or(false),
                    short_names: strings("shortNames"),
                    verbs: strings("verbs"),
                    categories: strings("categories"),
                };
                if preferred {
                    resources.push(res.clone());
                }
                all_versions.push(res);
            }
        }
        Ok(Discovery {
            resources,
            all_versions,
        })
    }

    /// The type a user names: `pods`, `pod`, `po`, `Pod`, `deployments.apps`,
    /// `deployments.v1.apps`.
    pub fn resolve(&self, input: &str) -> Result<&Resource> {
        let lower = input.to_lowercase();
        let matches = |r: &Resource, name: &str| {
            r.name == name
                || r.singular == name
                || r.kind.to_lowercase() == name
                || r.short_names.iter().any(|s| s == name)
        };
        if let Some(r) = self.resources.iter().find(|r| matches(r, &lower)) {
            return Ok(r);
        }
        if let Some((name, rest)) = lower.split_once('.') {
            // `name.group` at the preferred version, then `name.version.group`.
            if let Some(r) = self
                .resources
                .iter()
                .find(|r| r.group == rest && matches(r, name))
            {
                return Ok(r);
            }
            if let Some((version, group)) = rest.split_once('.')
                && let Some(r) = self
                    .all_versions
                    .iter()
                    .find(|r| r.group == group && r.version == version && matches(r, name))
            {
                return Ok(r);
            }
            // A core resource as `pods.v1` or `pods.` is rarely written; leave it out.
        }
        anyhow::bail!("the server doesn't have a resource type \"{input}\"")
    }

    /// The type of a manifest's `apiVersion` and `kind`.
    pub fn for_kind(&self, api_version: &str, kind: &str) -> Result<&Resource> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        self.all_versions
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "resource mapping not found for kind \"{kind}\" in version \"{api_version}\"; ensure CRDs are installed first"
                )
            })
    }
}

/// What a verb's positional arguments name: `TYPE NAME...`, `TYPE/NAME...`, or a type
/// alone (`TYPE`, or `TYPE1,TYPE2`).
pub struct Targets<'a> {
    /// Types listed whole.
    pub types: Vec<&'a Resource>,
    /// Named objects, in the order given.
    pub named: Vec<(&'a Resource, String)>,
}

/// Parses positional arguments as kubectl does.
pub fn targets<'a>(discovery: &'a Discovery, args: &[String]) -> Result<Targets<'a>> {
    let mut out = Targets {
        types: Vec::new(),
        named: Vec::new(),
    };
    let Some(first) = args.first() else {
        return Ok(out);
    };
    if args.iter().any(|a| a.contains('/')) {
        for a in args {
            let Some((ty, name)) = a.split_once('/') else {
                anyhow::bail!(
                    "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'clipper get resource/<resource_name>' instead of 'clipper get resource resource/<resource_name>'"
                );
            };
            if name.is_empty() {
                anyhow::bail!(
                    "arguments in resource/name form must have a single resource and name"
                );
            }
            out.named.push((discovery.resolve(ty)?, name.to_string()));
        }
        return Ok(out);
    }
    let types = first
        .split(',')
        .filter(|t| !t.is_empty())
        .map(|t| discovery.resolve(t))
        .collect::<Result<Vec<_>>>()?;
    if args.len() == 1 {
        out.types = types;
    } else {
        for ty in types {
            for name in &args[1..] {
                out.named.push((ty, name.clone()));
            }
        }
    }
    Ok(out)
}
