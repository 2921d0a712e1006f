//! The built-in resources the API server serves: names, scope, short names, categories,
//! verbs and subresources, as Kubernetes 1.33's discovery documents list them.
//!
//! Custom resources join at run time from their CustomResourceDefinitions; this table
//! is only the compiled-in part.

/// The verbs of a full resource.
pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// Namespaces have no deletecollection.
pub const NAMESPACE_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];
/// Virtual, create-only resources (reviews, bindings).
pub const CREATE_ONLY: &[&str] = &["create"];
/// get/patch/update, the verbs of `status` and `scale`.
pub const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];

/// A subresource as discovery lists it; `group`/`version`/`kind` are empty when they are
/// the parent's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subresource {
    pub name: &'static str,
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub verbs: &'static [&'static str],
}

const fn sub(
    name: &'static str,
    kind: &'static str,
    verbs: &'static [&'static str],
) -> Subresource {
    Subresource {
        name,
        group: "",
        version: "",
        kind,
        verbs,
    }
}

const STATUS: Subresource = sub("status", "", GET_PATCH_UPDATE);
const SCALE: Subresource = Subresource {
    name: "scale",
    group: "autoscaling",
    version: "v1",
    kind: "Scale",
    verbs: GET_PATCH_UPDATE,
};

/// One built-in resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceInfo {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub verbs: &'static [&'static str],
    pub subresources: &'static [Subresource],
}

impl ResourceInfo {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    pub fn subresource(&self, name: &str) -> Option<&'static Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    /// Whether objects are stored (false for virtual resources such as reviews).
    pub fn is_stored(&self) -> bool {
        self.has_verb("get")
    }
}

macro_rules! resources {
    ($( $group:literal $version:literal $plural:literal $singular:literal $kind:literal
        ns=$ns:literal short=[$($short:literal),*] cat=[$($cat:literal),*] verbs=$verbs:expr,
        subs=[$($sub:expr),*] ;)*) => {
        /// Every built-in resource, in discovery order (group, then version, then name).
        pub const RESOURCES: &[ResourceInfo] = &[$(
            ResourceInfo {
                group: $group, version: $version, plural: $plural, singular: $singular, kind: $kind,
                namespaced: $ns, short_names: &[$($short),*], categories: &[$($cat),*], verbs: $verbs,
                subresources: &[$($sub),*],
            },
        )*];
    };
}

resources! {
    "" "v1" "bindings" "binding" "Binding" ns=true short=[] cat=[] verbs=CREATE_ONLY, subs=[];
    "" "v1" "configmaps" "configmap" "ConfigMap" ns=true short=["cm"] cat=[] verbs=ALL_VERBS, subs=[];
    "" "v1" "endpoints" "endpoints" "Endpoints" ns=true short=["ep"] cat=[] verbs=ALL_VERBS, subs=[];
    "" "v1" "events" "event" "Event" ns=true short=["ev"] cat=[] verbs=ALL_VERBS, subs=[];
    "" "v1" "limitranges" "limitrange" "LimitRange" ns=true short=["limits"] cat=[] verbs=ALL_VERBS, subs=[];
    "" "v1" "namespaces" "namespace" "Namespace" ns=false short=["ns"] cat=[] verbs=NAMESPACE_VERBS,
        subs=[sub("finalize", "", &["update"]), STATUS];
    "" "v1" "nodes" "node" "Node" ns=false short=["no"] cat=[] verbs=ALL_VERBS, subs=[STATUS];
    "" "v1" "persistentvolumeclaims" "persistentvolumeclaim" "PersistentVolumeClaim" ns=true short=["pvc"] cat=[]
        verbs=ALL_VERBS, subs=[STATUS];
    "" "v1" "persistentvolumes" "persistentvolume" "PersistentVolume" ns=false short=["pv"] cat=[] verbs=ALL_VERBS,
        subs=[STATUS];
    "" "v1" "pods" "pod" "Pod" ns=true short=["po"] cat=["all"] verbs=ALL_VERBS, subs=[
        sub("attach", "PodAttachOptions", &["create", "get"]),
        sub("binding", "Binding", CREATE_ONLY),
        sub("ephemeralcontainers", "Pod", GET_PATCH_UPDATE),
        Subresource { name: "eviction", group: "policy", version: "v1", kind: "Eviction", verbs: CREATE_ONLY },
        sub("exec", "PodExecOptions", &["create", "get"]),
        sub("log", "Pod", &["get"]),
        sub("portforward", "PodPortForwardOptions", &["create", "get"]),
        STATUS];
    "" "v1" "podtemplates" "podtemplate" "PodTemplate" ns=true short=[] cat=[] verbs=ALL_VERBS, subs=[];
    "" "v1" "replicationcontrollers" "replicationcontroller" "ReplicationController" ns=true short=["rc"] cat=["all"]
        verbs=ALL_VERBS, subs=[SCALE, STATUS];
    "" "v1" "resourcequotas" "resourcequota" "ResourceQuota" ns=true short=["quota"] cat=[] verbs=ALL_VERBS,
        subs=[STATUS];
    "" "v1" "secrets" "secret" "Secret" ns=true short=[] cat=[] verbs=ALL_VERBS, subs=[];
    "" "v1" "serviceaccounts" "serviceaccount" "ServiceAccount" ns=true short=["sa"] cat=[] verbs=ALL_VERBS, subs=[
        Subresource { name: "token", group: "authentication.k8s.io", version: "v1", kind: "TokenRequest",
            verbs: CREATE_ONLY }];
    "" "v1" "services" "service" "Service" ns=true short=["svc"] cat=["all"] verbs=ALL_VERBS, subs=[STATUS];
    "apiextensions.k8s.io" "v1" "customresourcedefinitions" "customresourcedefinition" "CustomResourceDefinition"
        ns=false short=["crd", "crds"] cat=["api-extensions"] verbs=ALL_VERBS, subs=[STATUS];
    "apps" "v1" "controllerrevisions" "controllerrevision" "ControllerRevision" ns=true short=[] cat=[]
        verbs=ALL_VERBS, subs=[];
    "apps" "v1" "daemonsets" "daemonset" "DaemonSet" ns=true short=["ds"] cat=["all"] verbs=ALL_VERBS, subs=[STATUS];
    "apps" "v1" "deployments" "deployment" "Deployment" ns=true short=["deploy"] cat=["all"] verbs=ALL_VERBS,
        subs=[SCALE, STATUS];
    "apps" "v1" "replicasets" "replicaset" "ReplicaSet" ns=true short=["rs"] cat=["all"] verbs=ALL_VERBS,
        subs=[SCALE, STATUS];
    "apps" "v1" "statefulsets" "statefulset" "StatefulSet" ns=true short=["sts"] cat=["all"] verbs=ALL_VERBS,
        subs=[SCALE, STATUS];
    "authentication.k8s.io" "v1" "selfsubjectreviews" "selfsubjectreview" "SelfSubjectReview" ns=false short=[]
        cat=[] verbs=CREATE_ONLY, subs=[];
    "authentication.k8s.io" "v1" "tokenreviews" "tokenreview" "TokenReview" ns=false short=[] cat=[]
        verbs=CREATE_ONLY, subs=[];
    "authorization.k8s.io" "v1" "localsubjectaccessreviews" "localsubjectaccessreview" "LocalSubjectAccessReview"
        ns=true short=[] cat=[] verbs=CREATE_ONLY, subs=[];
    "authorization.k8s.io" "v1" "selfsubjectaccessreviews" "selfsubjectaccessreview" "SelfSubjectAccessReview"
        ns=false short=[] cat=[] verbs=CREATE_ONLY, subs=[];
    "authorization.k8s.io" "v1" "selfsubjectrulesreviews" "selfsubjectrulesreview" "SelfSubjectRulesReview"
        ns=false short=[] cat=[] verbs=CREATE_ONLY, subs=[];
    "authorization.k8s.io" "v1" "subjectaccessreviews" "subjectaccessreview" "SubjectAccessReview" ns=false
        short=[] cat=[] verbs=CREATE_ONLY, subs=[];
    "autoscaling" "v2" "horizontalpodautoscalers" "horizontalpodautoscaler" "HorizontalPodAutoscaler" ns=true
        short=["hpa"] cat=["all"] verbs=ALL_VERBS, subs=[STATUS];
    "batch" "v1" "cronjobs" "cronjob" "CronJob" ns=true short=["cj"] cat=["all"] verbs=ALL_VERBS, subs=[STATUS];
    "batch" "v1" "jobs" "job" "Job" ns=true short=[] cat=["all"] verbs=ALL_VERBS, subs=[STATUS];
    "certificates.k8s.io" "v1" "certificatesigningrequests" "certificatesigningrequest" "CertificateSigningRequest"
        ns=false short=["csr"] cat=[] verbs=ALL_VERBS, subs=[sub("approval", "", GET_PATCH_UPDATE), STATUS];
    "coordination.k8s.io" "v1" "leases" "lease" "Lease" ns=true short=[] cat=[] verbs=ALL_VERBS, subs=[];
    "discovery.k8s.io" "v1" "endpointslices" "endpointslice" "EndpointSlice" ns=true short=[] cat=[]
        verbs=ALL_VERBS, subs=[];
    "events.k8s.io" "v1" "events" "event" "Event" ns=true short=["ev"] cat=[] verbs=ALL_VERBS, subs=[];
    "networking.k8s.io" "v1" "ingressclasses" "ingressclass" "IngressClass" ns=false short=[] cat=[]
        verbs=ALL_VERBS, subs=[];
    "networking.k8s.io" "v1" "ingresses" "ingress" "Ingress" ns=true short=["ing"] cat=[] verbs=ALL_VERBS,
        subs=[STATUS];
    "networking.k8s.io" "v1" "ipaddresses" "ipaddress" "IPAddress" ns=false short=["ip"] cat=[] verbs=ALL_VERBS,
        subs=[];
    "networking.k8s.io" "v1" "networkpolicies" "networkpolicy" "NetworkPolicy" ns=true short=["netpol"] cat=[]
        verbs=ALL_VERBS, subs=[];
    "networking.k8s.io" "v1" "servicecidrs" "servicecidr" "ServiceCIDR" ns=false short=[] cat=[] verbs=ALL_VERBS,
        subs=[STATUS];
    "node.k8s.io" "v1" "runtimeclasses" "runtimeclass" "RuntimeClass" ns=false short=[] cat=[] verbs=ALL_VERBS,
        subs=[];
    "policy" "v1" "poddisruptionbudgets" "poddisruptionbudget" "PodDisruptionBudget" ns=true short=["pdb"] cat=[]
        verbs=ALL_VERBS, subs=[STATUS];
    "rbac.authorization.k8s.io" "v1" "clusterrolebindings" "clusterrolebinding" "ClusterRoleBinding" ns=false
        short=[] cat=[] verbs=ALL_VERBS, subs=[];
    "rbac.authorization.k8s.io" "v1" "clusterroles" "clusterrole" "ClusterRole" ns=false short=[] cat=[]
        verbs=ALL_VERBS, subs=[];
    "rbac.authorization.k8s.io" "v1" "rolebindings" "rolebinding" "RoleBinding" ns=true short=[] cat=[]
        verbs=ALL_VERBS, subs=[];
    "rbac.authorization.k8s.io" "v1" "roles" "role" "Role" ns=true short=[] cat=[] verbs=ALL_VERBS, subs=[];
    "scheduling.k8s.io" "v1" "priorityclasses" "priorityclass" "PriorityClass" ns=false short=["pc"] cat=[]
        verbs=ALL_VERBS, subs=[];
    "storage.k8s.io" "v1" "csidrivers" "csidriver" "CSIDriver" ns=false short=[] cat=[] verbs=ALL_VERBS, subs=[];
    "storage.k8s.io" "v1" "csinodes" "csinode" "CSINode" ns=false short=[] cat=[] verbs=ALL_VERBS, subs=[];
    "storage.k8s.io" "v1" "csistoragecapacities" "csistoragecapacity" "CSIStorageCapacity" ns=true short=[] cat=[]
        verbs=ALL_VERBS, subs=[];
    "storage.k8s.io" "v1" "storageclasses" "storageclass" "StorageClass" ns=false short=["sc"] cat=[]
        verbs=ALL_VERBS, subs=[];
    "storage.k8s.io" "v1" "volumeattachments" "volumeattachment" "VolumeAttachment" ns=false short=[] cat=[]
        verbs=ALL_VERBS, subs=[STATUS];
}

/// Looks up a built-in resource by group, version and plural name.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Looks up a built-in resource by group, version and kind.
pub fn find_kind(group: &str, version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
}

/// The groups served, each with its versions (preferred first) — built-ins only.
pub fn groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for r in RESOURCES {
        match out.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, versions)) if !versions.contains(&r.version) => versions.push(r.version),
            Some(_) => {}
            None => out.push((r.group, vec![r.version])),
        }
    }
    out
}
