//! The resources being served right now: the built-in table plus the resources of
//! established CustomResourceDefinitions, swapped atomically when CRDs change. Request
//! handling reads it without locks.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use serde_json::Value;

use crate::object::{Codec, typed_codec};
use crate::registry::{self, ResourceInfo, Subresource};

/// What a custom resource needs beyond the built-in metadata.
#[derive(Debug)]
pub struct CustomInfo {
    /// The CRD's name (`<plural>.<group>`).
    pub crd_name: String,
    /// The version's schema, subresources and validation.
    pub version: crate::crd::ServedVersion,
    /// The version's schema for server-side apply (None when it cannot be converted;
    /// apply then treats objects as untyped).
    pub apply_schema: Option<Arc<crate::apply::CrdSchema>>,
    /// The version's `additionalPrinterColumns`.
    pub printer_columns: Vec<clipper_proto::api::apiextensions::v1::CustomResourceColumnDefinition>,
    /// The version's `openAPIV3Schema`, for the OpenAPI documents.
    pub schema: Option<Value>,
    /// `group/<storage version>`: objects are stored as this version whatever version
    /// wrote them (conversion strategy None: only apiVersion changes), and served as the
    /// version requested.
    pub storage_api_version: String,
}

/// One served resource at one group-version.
#[derive(Debug)]
pub struct Served {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub verbs: Vec<String>,
    pub subresources: Vec<Subresource>,
    pub codec: Arc<Codec>,
    /// `/registry/<group or core>/<plural>/`: all objects of this resource (every version of
    /// a custom resource shares it).
    pub prefix: Bytes,
    pub custom: Option<CustomInfo>,
}

impl Served {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    pub fn subresource(&self, name: &str) -> Option<&Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    pub fn has_status(&self) -> bool {
        self.subresource("status").is_some()
    }

    /// Whether objects are stored (false for virtual create-only resources).
    pub fn is_stored(&self) -> bool {
        self.has_verb("get")
    }

    /// The storage key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> Bytes {
        let mut k = Vec::with_capacity(self.prefix.len() + name.len() + 64);
        k.extend_from_slice(&self.prefix);
        if let Some(ns) = namespace {
            k.extend_from_slice(ns.as_bytes());
            k.push(b'/');
        }
        k.extend_from_slice(name.as_bytes());
        Bytes::from(k)
    }

    /// The key prefix of all objects in a namespace, or of all objects.
    pub fn list_prefix(&self, namespace: Option<&str>) -> Bytes {
        match namespace {
            Some(ns) if self.namespaced => {
                let mut k = self.prefix.to_vec();
                k.extend_from_slice(ns.as_bytes());
                k.push(b'/');
                Bytes::from(k)
            }
            _ => self.prefix.clone(),
        }
    }

    /// Cache/identity key: `group/plural`.
    pub fn group_resource(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    fn builtin(r: &ResourceInfo) -> Option<Served> {
        let codec = if r.is_stored() {
            Arc::new(typed_codec(&r.api_version(), r.kind)?.clone())
        } else {
            // Virtual resources never decode stored objects; their bodies are handled by
            // dedicated handlers. A dynamic codec keeps the type total.
            Arc::new(Codec::dynamic(&r.api_version(), r.kind))
        };
        Some(Served {
            group: r.group.to_string(),
            version: r.version.to_string(),
            plural: r.plural.to_string(),
            singular: r.singular.to_string(),
            kind: r.kind.to_string(),
            namespaced: r.namespaced,
            short_names: r.short_names.iter().map(|s| s.to_string()).collect(),
            categories: r.categories.iter().map(|s| s.to_string()).collect(),
            verbs: r.verbs.iter().map(|s| s.to_string()).collect(),
            subresources: r.subresources.to_vec(),
            codec,
            prefix: storage_prefix(r.group, r.plural),
            custom: None,
        })
    }
}

/// The store prefix for a group's resource.
pub fn storage_prefix(group: &str, plural: &str) -> Bytes {
    let g = if group.is_empty() { "core" } else { group };
    Bytes::from(format!("/registry/{g}/{plural}/"))
}

/// All served resources, indexed for request routing and discovery.
#[derive(Debug, Default)]
pub struct ServedSet {
    /// By (group, version, plural).
    by_path: HashMap<(String, String, String), Arc<Served>>,
    /// Group → versions in preference order.
    pub groups: Vec<(String, Vec<String>)>,
    /// In discovery order.
    pub all: Vec<Arc<Served>>,
}

impl ServedSet {
    /// The built-in resources only.
    pub fn builtin() -> ServedSet {
        let mut set = ServedSet::default();
        for r in registry::RESOURCES {
            if let Some(s) = Served::builtin(r) {
                set.insert(Arc::new(s));
            }
        }
        set
    }

    /// Adds (or replaces) a served resource.
    pub fn insert(&mut self, s: Arc<Served>) {
        let key = (s.group.clone(), s.version.clone(), s.plural.clone());
        if let Some(old) = self.by_path.insert(key, s.clone()) {
            self.all.retain(|x| !Arc::ptr_eq(x, &old));
        }
        match self.groups.iter_mut().find(|(g, _)| *g == s.group) {
            Some((_, versions)) => {
                if !versions.contains(&s.version) {
                    versions.push(s.version.clone());
                }
            }
            None => self.groups.push((s.group.clone(), vec![s.version.clone()])),
        }
        self.all.push(s);
    }

    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<&Arc<Served>> {
        self.by_path
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
    }

    /// Resources of one group-version, in discovery order.
    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a Arc<Served>> {
        self.all
            .iter()
            .filter(move |s| s.group == group && s.version == version)
    }

    /// The served resource of a kind at a group-version.
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<&Arc<Served>> {
        self.all
            .iter()
            .find(|s| s.group == group && s.version == version && s.kind == kind)
    }

    /// Whether a group-version is served.
    pub fn has_group_version(&self, group: &str, version: &str) -> bool {
        self.groups
            .iter()
            .any(|(g, vs)| g == group && vs.iter().any(|v| v == version))
    }
}

/// The current set, swapped whole when CRDs change.
pub struct ServedResources {
    current: ArcSwap<ServedSet>,
}

impl Default for ServedResources {
    fn default() -> Self {
        ServedResources::new(ServedSet::builtin())
    }
}

impl ServedResources {
    pub fn new(set: ServedSet) -> ServedResources {
        ServedResources {
            current: ArcSwap::from_pointee(set),
        }
    }

    pub fn load(&self) -> Arc<ServedSet> {
        self.current.load_full()
    }

    pub fn store(&self, set: ServedSet) {
        self.current.store(Arc::new(set));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_served_with_keys() {
        let set = ServedSet::builtin();
        let pods = set.get("", "v1", "pods").expect("pods");
        assert_eq!(
            pods.key(Some("default"), "web"),
            Bytes::from_static(b"/registry/core/pods/default/web")
        );
        assert_eq!(
            pods.list_prefix(Some("kube-system")),
            Bytes::from_static(b"/registry/core/pods/kube-system/")
        );
        let nodes = set.get("", "v1", "nodes").expect("nodes");
        assert_eq!(
            nodes.key(None, "n1"),
            Bytes::from_static(b"/registry/core/nodes/n1")
        );
        assert!(
            set.get("apps", "v1", "deployments")
                .is_some_and(|d| d.has_status())
        );
        assert!(set.has_group_version("autoscaling", "v2"));
        assert!(set.by_kind("apps", "v1", "Deployment").is_some());
        assert!(
            !set.get("authorization.k8s.io", "v1", "subjectaccessreviews")
                .expect("sar")
                .is_stored()
        );
    }
}
