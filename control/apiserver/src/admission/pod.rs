//! Pod, PodSpec and PodTemplateSpec validation (`pkg/apis/core/validation`): containers,
//! volumes and mounts, ports, environment, probes and lifecycle handlers, resources,
//! security contexts, scheduling constraints, DNS, and which spec fields a Pod update may
//! change.

use std::collections::{BTreeMap, BTreeSet};

use clipper_proto::api::core::v1::{
    Affinity, Container, ContainerPort, EnvFromSource, EnvVar, EphemeralContainer, HTTPGetAction,
    KeyToPath, LifecycleHandler, NodeSelector, NodeSelectorRequirement, ObjectFieldSelector, Pod,
    PodAffinityTerm, PodDNSConfig, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceFieldSelector, ResourceRequirements, SeccompProfile, SecurityContext, Toleration,
    TopologySpreadConstraint, Volume, VolumeMount,
};
use clipper_proto::{IntOrString, Quantity};

use super::ValidationOptions;
use super::field::{ErrorList, FieldError, GoStrMap, GoStrings, Json, Path, Raw};
use super::meta::{
    self, SelectorOptions, nonnegative, validate_annotations, validate_label_name, validate_labels,
};
use super::names::{self, to_errors};

/// Linux libc resolver limits on `dnsConfig`.
pub const MAX_DNS_NAMESERVERS: usize = 3;
pub const MAX_DNS_SEARCH_PATHS: usize = 32;
pub const MAX_DNS_SEARCH_LIST_CHARS: usize = 2048;
/// `activeDeadlineSeconds` is stored as int64 but bounded to int32 by validation.
const MAX_INT32: i64 = i32::MAX as i64;
/// File modes in volumes are permission bits: 0..=0777.
pub const MAX_FILE_MODE: i32 = 0o777;
/// Sysctl names are at most 253 characters.
pub const SYSCTL_MAX_LENGTH: usize = 253;
/// A projected service account token lives at least 10 minutes...
pub const MIN_TOKEN_EXPIRATION_SECONDS: i64 = 600;
/// ...and at most 2^32 seconds.
pub const MAX_TOKEN_EXPIRATION_SECONDS: i64 = 1 << 32;
/// An AppArmor localhost profile path is at most PATH_MAX - 1 bytes.
pub const MAX_APPARMOR_LOCALHOST_PROFILE: usize = 4095;

const FILE_MODE_ERROR: &str = "must be a number between 0 and 0777 (octal), both inclusive";
const NOT_POSITIVE: &str = "must be greater than zero";
const HOST_PATH_TYPES: &[&str] = &[
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
];
const PORT_PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];
const VOLUME_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
];
const CONTAINER_RESOURCE_FIELDS: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

pub(crate) fn s(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

/// How the pod spec is being validated.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PodOpts<'a> {
    /// A Pod itself, not a template inside a workload.
    pub resource_is_pod: bool,
    pub global: &'a ValidationOptions,
}

// ---------------------------------------------------------------------------------------
// Volumes

/// What the mount and device checks need to know about a declared volume.
#[derive(Clone, Copy, Debug)]
struct VolumeInfo {
    is_pvc: bool,
    is_image: bool,
}

fn validate_volumes(
    volumes: &[Volume],
    pod_name: Option<&str>,
    path: &Path,
    opts: PodOpts,
) -> (BTreeMap<String, VolumeInfo>, ErrorList) {
    let mut errs = Vec::new();
    let mut declared = BTreeMap::new();
    let created_pvcs: BTreeSet<String> = match pod_name {
        Some(p) if !p.is_empty() => volumes
            .iter()
            .filter(|v| v.ephemeral.is_some())
            .map(|v| format!("{p}-{}", v.name))
            .collect(),
        _ => BTreeSet::new(),
    };
    for (i, vol) in volumes.iter().enumerate() {
        let idx = path.index(i);
        let name_path = idx.child("name");
        let mut el = validate_volume_source(vol, &idx, pod_name, opts);
        if vol.name.is_empty() {
            el.push(FieldError::required(&name_path, ""));
        } else {
            el.extend(to_errors(
                &name_path,
                &vol.name,
                names::is_dns1123_label(&vol.name),
            ));
        }
        if declared.contains_key(&vol.name) {
            el.push(FieldError::duplicate(&name_path, &vol.name));
        }
        if el.is_empty() {
            declared.insert(
                vol.name.clone(),
                VolumeInfo {
                    is_pvc: vol.persistent_volume_claim.is_some() || vol.ephemeral.is_some(),
                    is_image: vol.image.is_some(),
                },
            );
        } else {
            errs.extend(el);
        }
        if let Some(pvc) = &vol.persistent_volume_claim
            && created_pvcs.contains(&pvc.claim_name)
        {
            errs.push(FieldError::invalid(
                &idx.child("persistentVolumeClaim").child("claimName"),
                &pvc.claim_name,
                "must not reference a PVC that gets created for an ephemeral volume",
            ));
        }
    }
    (declared, errs)
}

fn validate_volume_source(
    v: &Volume,
    path: &Path,
    pod_name: Option<&str>,
    opts: PodOpts,
) -> ErrorList {
    let mut errs = Vec::new();
    let mut count = 0usize;
    // Each present source: the name used in the "more than 1" error, the path its own
    // checks use (Kubernetes uses a different one for a few), and its checks.
    let mut one = |present: bool, forbid_name: &str, check: &mut dyn FnMut(&mut ErrorList)| {
        if !present {
            return;
        }
        if count > 0 {
            errs.push(FieldError::forbidden(
                &path.child(forbid_name),
                "may not specify more than 1 volume type",
            ));
        } else {
            count += 1;
            check(&mut errs);
        }
    };
    one(v.empty_dir.is_some(), "emptyDir", &mut |e| {
        if let Some(q) = v.empty_dir.as_ref().and_then(|d| d.size_limit.as_ref())
            && *q < Quantity::ZERO
        {
            e.push(FieldError::forbidden(
                &path.child("emptyDir").child("sizeLimit"),
                "SizeLimit field must be a valid resource quantity",
            ));
        }
    });
    one(v.host_path.is_some(), "hostPath", &mut |e| {
        if let Some(hp) = &v.host_path {
            e.extend(validate_host_path(
                &hp.path,
                hp.type_.as_deref(),
                &path.child("hostPath"),
            ));
        }
    });
    one(v.git_repo.is_some(), "gitRepo", &mut |e| {
        if let Some(g) = &v.git_repo {
            let p = path.child("gitRepo");
            if g.repository.is_empty() {
                e.push(FieldError::required(&p.child("repository"), ""));
            }
            e.extend(validate_local_descending_path(
                s(&g.directory),
                &p.child("directory"),
            ));
        }
    });
    one(
        v.gce_persistent_disk.is_some(),
        "gcePersistentDisk",
        &mut |e| {
            if let Some(pd) = &v.gce_persistent_disk {
                let p = path.child("persistentDisk");
                if pd.pd_name.is_empty() {
                    e.push(FieldError::required(&p.child("pdName"), ""));
                }
                e.extend(partition(pd.partition, &p));
            }
        },
    );
    one(
        v.aws_elastic_block_store.is_some(),
        "awsElasticBlockStore",
        &mut |e| {
            if let Some(pd) = &v.aws_elastic_block_store {
                let p = path.child("awsElasticBlockStore");
                if pd.volume_id.is_empty() {
                    e.push(FieldError::required(&p.child("volumeID"), ""));
                }
                e.extend(partition(pd.partition, &p));
            }
        },
    );
    one(v.secret.is_some(), "secret", &mut |e| {
        if let Some(sec) = &v.secret {
            let p = path.child("secret");
            if s(&sec.secret_name).is_empty() {
                e.push(FieldError::required(&p.child("secretName"), ""));
            }
            e.extend(file_mode(sec.default_mode, &p.child("defaultMode")));
            for (i, kp) in sec.items.iter().flatten().enumerate() {
                e.extend(validate_key_to_path(kp, &p.child("items").index(i)));
            }
        }
    });
    one(v.nfs.is_some(), "nfs", &mut |e| {
        if let Some(n) = &v.nfs {
            let p = path.child("nfs");
            if n.server.is_empty() {
                e.push(FieldError::required(&p.child("server"), ""));
            }
            if n.path.is_empty() {
                e.push(FieldError::required(&p.child("path"), ""));
            }
            if !n.path.starts_with('/') {
                e.push(FieldError::invalid(
                    &p.child("path"),
                    &n.path,
                    "must be an absolute path",
                ));
            }
        }
    });
    one(v.iscsi.is_some(), "iscsi", &mut |e| {
        if let Some(i) = &v.iscsi {
            let p = path.child("iscsi");
            if i.target_portal.is_empty() {
                e.push(FieldError::required(&p.child("targetPortal"), ""));
            }
            if i.iqn.is_empty() {
                e.push(FieldError::required(&p.child("iqn"), ""));
            } else if !["iqn", "eui", "naa"]
                .iter()
                .any(|pre| i.iqn.starts_with(pre))
            {
                e.push(FieldError::invalid(
                    &p.child("iqn"),
                    &i.iqn,
                    "must be valid format starting with iqn, eui, or naa",
                ));
            }
            if !(0..=255).contains(&i.lun) {
                e.push(FieldError::invalid(
                    &p.child("lun"),
                    i.lun,
                    names::inclusive_range_error(0, 255),
                ));
            }
            if (i.chap_auth_discovery == Some(true) || i.chap_auth_session == Some(true))
                && i.secret_ref.is_none()
            {
                e.push(FieldError::required(&p.child("secretRef"), ""));
            }
        }
    });
    one(v.glusterfs.is_some(), "glusterfs", &mut |e| {
        if let Some(g) = &v.glusterfs {
            let p = path.child("glusterfs");
            if g.endpoints.is_empty() {
                e.push(FieldError::required(&p.child("endpoints"), ""));
            }
            if g.path.is_empty() {
                e.push(FieldError::required(&p.child("path"), ""));
            }
        }
    });
    one(v.flocker.is_some(), "flocker", &mut |e| {
        if let Some(f) = &v.flocker {
            let p = path.child("flocker");
            let (n, u) = (s(&f.dataset_name), s(&f.dataset_uuid));
            if n.is_empty() && u.is_empty() {
                e.push(FieldError::required(
                    &p,
                    "one of datasetName and datasetUUID is required",
                ));
            }
            if !n.is_empty() && !u.is_empty() {
                e.push(FieldError::invalid(
                    &p,
                    "resource",
                    "datasetName and datasetUUID can not be specified simultaneously",
                ));
            }
            if n.contains('/') {
                e.push(FieldError::invalid(
                    &p.child("datasetName"),
                    n,
                    "must not contain '/'",
                ));
            }
        }
    });
    one(
        v.persistent_volume_claim.is_some(),
        "persistentVolumeClaim",
        &mut |e| {
            if let Some(c) = &v.persistent_volume_claim
                && c.claim_name.is_empty()
            {
                e.push(FieldError::required(
                    &path.child("persistentVolumeClaim").child("claimName"),
                    "",
                ));
            }
        },
    );
    one(v.rbd.is_some(), "rbd", &mut |e| {
        if let Some(r) = &v.rbd {
            let p = path.child("rbd");
            if r.monitors.is_empty() {
                e.push(FieldError::required(&p.child("monitors"), ""));
            }
            if r.image.is_empty() {
                e.push(FieldError::required(&p.child("image"), ""));
            }
        }
    });
    one(v.cinder.is_some(), "cinder", &mut |e| {
        if let Some(c) = &v.cinder {
            let p = path.child("cinder");
            if c.volume_id.is_empty() {
                e.push(FieldError::required(&p.child("volumeID"), ""));
            }
            if c.secret_ref.as_ref().is_some_and(|r| s(&r.name).is_empty()) {
                e.push(FieldError::required(
                    &p.child("secretRef").child("name"),
                    "",
                ));
            }
        }
    });
    one(v.cephfs.is_some(), "cephFS", &mut |e| {
        if v.cephfs.as_ref().is_some_and(|c| c.monitors.is_empty()) {
            e.push(FieldError::required(
                &path.child("cephfs").child("monitors"),
                "",
            ));
        }
    });
    one(v.quobyte.is_some(), "quobyte", &mut |e| {
        if let Some(q) = &v.quobyte {
            let p = path.child("quobyte");
            if q.registry.is_empty() {
                e.push(FieldError::required(
                    &p.child("registry"),
                    "must be a host:port pair or multiple pairs separated by commas",
                ));
            }
            if q.volume.is_empty() {
                e.push(FieldError::required(&p.child("volume"), ""));
            }
        }
    });
    one(v.downward_api.is_some(), "downwarAPI", &mut |e| {
        if let Some(d) = &v.downward_api {
            let p = path.child("downwardAPI");
            e.extend(file_mode(d.default_mode, &p.child("defaultMode")));
            for file in d.items.iter().flatten() {
                e.extend(validate_downward_api_file(file, &p));
            }
        }
    });
    one(v.fc.is_some(), "fc", &mut |e| {
        if let Some(fc) = &v.fc {
            let p = path.child("fc");
            let wwns = fc.target_wwns.as_deref().unwrap_or(&[]);
            let wwids = fc.wwids.as_deref().unwrap_or(&[]);
            if wwns.is_empty() && wwids.is_empty() {
                e.push(FieldError::required(
                    &p.child("targetWWNs"),
                    "must specify either targetWWNs or wwids, but not both",
                ));
            }
            if !wwns.is_empty() && !wwids.is_empty() {
                e.push(FieldError::invalid(
                    &p.child("targetWWNs"),
                    GoStrings(Some(wwns)),
                    "targetWWNs and wwids can not be specified simultaneously",
                ));
            }
            if !wwns.is_empty() {
                match fc.lun {
                    None => e.push(FieldError::required(
                        &p.child("lun"),
                        "lun is required if targetWWNs is specified",
                    )),
                    Some(l) if !(0..=255).contains(&l) => e.push(FieldError::invalid(
                        &p.child("lun"),
                        l,
                        names::inclusive_range_error(0, 255),
                    )),
                    Some(_) => {}
                }
            }
        }
    });
    one(v.flex_volume.is_some(), "flexVolume", &mut |e| {
        if let Some(f) = &v.flex_volume {
            let p = path.child("flexVolume");
            if f.driver.is_empty() {
                e.push(FieldError::required(&p.child("driver"), ""));
            }
            for k in f.options.iter().flatten().map(|(k, _)| k) {
                let ns = k.split_once('/').map_or(k.as_str(), |(n, _)| n);
                let normalized = format!(".{}", ns.to_lowercase());
                if normalized.ends_with(".kubernetes.io") || normalized.ends_with(".k8s.io") {
                    e.push(FieldError::invalid(
                        &p.child("options").key(k),
                        k,
                        "kubernetes.io and k8s.io namespaces are reserved",
                    ));
                }
            }
        }
    });
    one(v.config_map.is_some(), "configMap", &mut |e| {
        if let Some(cm) = &v.config_map {
            let p = path.child("configMap");
            if s(&cm.name).is_empty() {
                e.push(FieldError::required(&p.child("name"), ""));
            }
            e.extend(file_mode(cm.default_mode, &p.child("defaultMode")));
            for (i, kp) in cm.items.iter().flatten().enumerate() {
                e.extend(validate_key_to_path(kp, &p.child("items").index(i)));
            }
        }
    });
    one(v.azure_file.is_some(), "azureFile", &mut |e| {
        if let Some(a) = &v.azure_file {
            let p = path.child("azureFile");
            if a.secret_name.is_empty() {
                e.push(FieldError::required(&p.child("secretName"), ""));
            }
            if a.share_name.is_empty() {
                e.push(FieldError::required(&p.child("shareName"), ""));
            }
        }
    });
    one(v.vsphere_volume.is_some(), "vsphereVolume", &mut |e| {
        if v.vsphere_volume
            .as_ref()
            .is_some_and(|x| x.volume_path.is_empty())
        {
            e.push(FieldError::required(
                &path.child("vsphereVolume").child("volumePath"),
                "",
            ));
        }
    });
    one(
        v.photon_persistent_disk.is_some(),
        "photonPersistentDisk",
        &mut |e| {
            if v.photon_persistent_disk
                .as_ref()
                .is_some_and(|x| x.pd_id.is_empty())
            {
                e.push(FieldError::required(
                    &path.child("photonPersistentDisk").child("pdID"),
                    "",
                ));
            }
        },
    );
    one(v.portworx_volume.is_some(), "portworxVolume", &mut |e| {
        if v.portworx_volume
            .as_ref()
            .is_some_and(|x| x.volume_id.is_empty())
        {
            e.push(FieldError::required(
                &path.child("portworxVolume").child("volumeID"),
                "",
            ));
        }
    });
    one(v.azure_disk.is_some(), "azureDisk", &mut |e| {
        if let Some(a) = &v.azure_disk {
            let p = path.child("azureDisk");
            if a.disk_name.is_empty() {
                e.push(FieldError::required(&p.child("diskName"), ""));
            }
            if a.disk_uri.is_empty() {
                e.push(FieldError::required(&p.child("diskURI"), ""));
            }
        }
    });
    one(v.storageos.is_some(), "storageos", &mut |e| {
        if let Some(so) = &v.storageos {
            let p = path.child("storageos");
            let vn = s(&so.volume_name);
            if vn.is_empty() {
                e.push(FieldError::required(&p.child("volumeName"), ""));
            } else {
                e.extend(to_errors(
                    &p.child("volumeName"),
                    vn,
                    names::is_dns1123_label(vn),
                ));
            }
            let ns = s(&so.volume_namespace);
            if !ns.is_empty() {
                e.extend(to_errors(
                    &p.child("volumeNamespace"),
                    ns,
                    names::is_dns1123_label(ns),
                ));
            }
        }
    });
    one(v.projected.is_some(), "projected", &mut |e| {
        if let Some(pr) = &v.projected {
            let p = path.child("projected");
            e.extend(file_mode(pr.default_mode, &p.child("defaultMode")));
            e.extend(validate_projection_sources(pr, &p, opts));
        }
    });
    one(v.scale_io.is_some(), "scaleIO", &mut |e| {
        if let Some(sio) = &v.scale_io {
            let p = path.child("scaleIO");
            if sio.gateway.is_empty() {
                e.push(FieldError::required(&p.child("gateway"), ""));
            }
            if sio.system.is_empty() {
                e.push(FieldError::required(&p.child("system"), ""));
            }
            if s(&sio.volume_name).is_empty() {
                e.push(FieldError::required(&p.child("volumeName"), ""));
            }
        }
    });
    one(v.csi.is_some(), "csi", &mut |e| {
        if let Some(c) = &v.csi {
            let p = path.child("csi");
            e.extend(validate_csi_driver_name(&c.driver, &p.child("driver")));
            if let Some(r) = &c.node_publish_secret_ref {
                let n = s(&r.name);
                if n.is_empty() {
                    e.push(FieldError::required(
                        &p.child("nodePublishSecretRef").child("name"),
                        "",
                    ));
                } else {
                    e.extend(to_errors(
                        &p.child("name"),
                        n,
                        names::is_dns1123_subdomain(n),
                    ));
                }
            }
        }
    });
    one(v.ephemeral.is_some(), "ephemeral", &mut |e| {
        if let Some(eph) = &v.ephemeral {
            let p = path.child("ephemeral");
            match &eph.volume_claim_template {
                None => e.push(FieldError::required(&p.child("volumeClaimTemplate"), "")),
                Some(t) => {
                    let tp = p.child("volumeClaimTemplate");
                    e.extend(meta::validate_template_object_meta(
                        t.metadata.as_ref(),
                        &tp.child("metadata"),
                    ));
                    e.extend(super::core::validate_pvc_spec(&t.spec, &tp.child("spec")));
                }
            }
            if let Some(pod) = pod_name.filter(|p| !p.is_empty())
                && !v.name.is_empty()
            {
                let pvc = format!("{pod}-{}", v.name);
                for m in names::is_dns1123_subdomain(&pvc) {
                    e.push(FieldError::invalid(
                        &path.child("name"),
                        &v.name,
                        format!("PVC name {}: {m}", super::field::go_quote(&pvc)),
                    ));
                }
            }
        }
    });
    one(v.image.is_some(), "image", &mut |e| {
        if let Some(img) = &v.image {
            let p = path.child("image");
            if opts.resource_is_pod && s(&img.reference).is_empty() {
                e.push(FieldError::required(&p.child("reference"), ""));
            }
            e.extend(validate_pull_policy(
                s(&img.pull_policy),
                &p.child("pullPolicy"),
            ));
        }
    });
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a volume type"));
    }
    errs
}

fn partition(p: Option<i32>, path: &Path) -> ErrorList {
    let v = p.unwrap_or(0);
    if (0..=255).contains(&v) {
        Vec::new()
    } else {
        vec![FieldError::invalid(
            &path.child("partition"),
            v,
            names::inclusive_range_error(1, 255),
        )]
    }
}

fn file_mode(mode: Option<i32>, path: &Path) -> ErrorList {
    match mode {
        Some(m) if !(0..=MAX_FILE_MODE).contains(&m) => {
            vec![FieldError::invalid(path, m, FILE_MODE_ERROR)]
        }
        _ => Vec::new(),
    }
}

pub(crate) fn validate_host_path(p: &str, type_: Option<&str>, path: &Path) -> ErrorList {
    if p.is_empty() {
        return vec![FieldError::required(&path.child("path"), "")];
    }
    let mut errs = validate_path_no_backsteps(p, &path.child("path"));
    if let Some(t) = type_
        && !HOST_PATH_TYPES.contains(&t)
    {
        errs.push(FieldError::not_supported(
            &path.child("type"),
            t,
            HOST_PATH_TYPES,
        ));
    }
    errs
}

fn validate_key_to_path(kp: &KeyToPath, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if kp.key.is_empty() {
        errs.push(FieldError::required(&path.child("key"), ""));
    }
    if kp.path.is_empty() {
        errs.push(FieldError::required(&path.child("path"), ""));
    }
    errs.extend(validate_local_non_reserved_path(
        &kp.path,
        &path.child("path"),
    ));
    errs.extend(file_mode(kp.mode, &path.child("mode")));
    errs
}

fn validate_path_no_backsteps(p: &str, path: &Path) -> ErrorList {
    if p.split('/').any(|part| part == "..") {
        vec![FieldError::invalid(path, p, "must not contain '..'")]
    } else {
        Vec::new()
    }
}

pub(crate) fn validate_local_descending_path(p: &str, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if p.starts_with('/') {
        errs.push(FieldError::invalid(path, p, "must be a relative path"));
    }
    errs.extend(validate_path_no_backsteps(p, path));
    errs
}

fn validate_local_non_reserved_path(p: &str, path: &Path) -> ErrorList {
    let mut errs = validate_local_descending_path(p, path);
    if p.starts_with("..") && !p.starts_with("../") {
        errs.push(FieldError::invalid(path, p, "must not start with '..'"));
    }
    errs
}

fn validate_downward_api_file(
    file: &clipper_proto::api::core::v1::DownwardAPIVolumeFile,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    if file.path.is_empty() {
        errs.push(FieldError::required(&path.child("path"), ""));
    }
    errs.extend(validate_local_non_reserved_path(
        &file.path,
        &path.child("path"),
    ));
    if let Some(fr) = &file.field_ref {
        errs.extend(validate_object_field_selector(
            fr,
            VOLUME_FIELD_PATHS,
            &path.child("fieldRef"),
        ));
        if file.resource_field_ref.is_some() {
            errs.push(FieldError::invalid(
                path,
                "resource",
                "fieldRef and resourceFieldRef can not be specified simultaneously",
            ));
        }
    } else if let Some(rf) = &file.resource_field_ref {
        errs.extend(validate_resource_field_selector(
            rf,
            &path.child("resourceFieldRef"),
            true,
        ));
    } else {
        errs.push(FieldError::required(
            path,
            "one of fieldRef and resourceFieldRef is required",
        ));
    }
    errs.extend(file_mode(file.mode, &path.child("mode")));
    errs
}

fn validate_projection_sources(
    pr: &clipper_proto::api::core::v1::ProjectedVolumeSource,
    path: &Path,
    opts: PodOpts,
) -> ErrorList {
    let mut errs = Vec::new();
    let mut all_paths: BTreeSet<String> = BTreeSet::new();
    for (i, src) in pr.sources.iter().flatten().enumerate() {
        let sp = path.child("sources").index(i);
        let mut n = 0;
        if let Some(sec) = &src.secret {
            n += 1;
            let pp = sp.child("secret");
            if s(&sec.name).is_empty() {
                errs.push(FieldError::required(&pp.child("name"), ""));
            }
            for (j, kp) in sec.items.iter().flatten().enumerate() {
                errs.extend(validate_key_to_path(kp, &pp.child("items").index(j)));
                if !kp.path.is_empty() && !all_paths.insert(kp.path.clone()) {
                    errs.push(FieldError::invalid(
                        path,
                        s(&sec.name),
                        "conflicting duplicate paths",
                    ));
                }
            }
        }
        if let Some(cm) = &src.config_map {
            n += 1;
            let pp = sp.child("configMap");
            if s(&cm.name).is_empty() {
                errs.push(FieldError::required(&pp.child("name"), ""));
            }
            for (j, kp) in cm.items.iter().flatten().enumerate() {
                errs.extend(validate_key_to_path(kp, &pp.child("items").index(j)));
                if !kp.path.is_empty() && !all_paths.insert(kp.path.clone()) {
                    errs.push(FieldError::invalid(
                        path,
                        s(&cm.name),
                        "conflicting duplicate paths",
                    ));
                }
            }
        }
        if let Some(d) = &src.downward_api {
            n += 1;
            let pp = sp.child("downwardAPI");
            for file in d.items.iter().flatten() {
                errs.extend(validate_downward_api_file(file, &pp));
                if !file.path.is_empty() && !all_paths.insert(file.path.clone()) {
                    errs.push(FieldError::invalid(
                        path,
                        &file.path,
                        "conflicting duplicate paths",
                    ));
                }
            }
        }
        if let Some(tok) = &src.service_account_token {
            n += 1;
            let pp = sp.child("serviceAccountToken");
            let exp = tok.expiration_seconds.unwrap_or(0);
            if exp < MIN_TOKEN_EXPIRATION_SECONDS {
                errs.push(FieldError::invalid(
                    &pp.child("expirationSeconds"),
                    exp,
                    "may not specify a duration less than 10 minutes",
                ));
            }
            if exp > MAX_TOKEN_EXPIRATION_SECONDS {
                errs.push(FieldError::invalid(
                    &pp.child("expirationSeconds"),
                    exp,
                    "may not specify a duration larger than 2^32 seconds",
                ));
            }
            if tok.path.is_empty() {
                errs.push(FieldError::required(&path.child("path"), ""));
            } else {
                errs.extend(validate_local_non_reserved_path(
                    &tok.path,
                    &path.child("path"),
                ));
            }
        }
        if let Some(ctb) = &src.cluster_trust_bundle {
            n += 1;
            let pp = sp.child("clusterTrustBundle");
            match (&ctb.name, &ctb.signer_name) {
                (Some(_), Some(_)) => errs.push(FieldError::invalid(
                    &pp,
                    Json(ctb),
                    "only one of name and signerName may be used",
                )),
                (Some(nm), None) => {
                    if nm.is_empty() {
                        errs.push(FieldError::required(
                            &pp.child("name"),
                            "must be a valid object name",
                        ));
                    }
                    if ctb.label_selector.is_some() {
                        errs.push(FieldError::invalid(
                            &pp.child("labelSelector"),
                            Json(&ctb.label_selector),
                            "labelSelector must be unset if name is specified",
                        ));
                    }
                }
                (None, Some(sn)) => {
                    if sn.is_empty() {
                        errs.push(FieldError::required(
                            &pp.child("signerName"),
                            "must be a valid signer name",
                        ));
                    }
                    errs.extend(meta::validate_label_selector(
                        ctb.label_selector.as_ref(),
                        SelectorOptions::default(),
                        &pp.child("labelSelector"),
                    ));
                }
                (None, None) => errs.push(FieldError::required(
                    &pp,
                    "either name or signerName must be specified",
                )),
            }
            if ctb.path.is_empty() {
                errs.push(FieldError::required(&pp.child("path"), ""));
            }
            errs.extend(validate_local_non_reserved_path(
                &ctb.path,
                &pp.child("path"),
            ));
            if !all_paths.insert(ctb.path.clone()) {
                errs.push(FieldError::invalid(
                    path,
                    &ctb.path,
                    "conflicting duplicate paths",
                ));
            }
        }
        if n > 1 {
            errs.push(FieldError::forbidden(
                &sp,
                "may not specify more than 1 volume type per source",
            ));
        }
    }
    let _ = opts;
    errs
}

/// `ValidateCSIDriverName`.
pub(crate) fn validate_csi_driver_name(name: &str, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if name.is_empty() {
        errs.push(FieldError::required(path, ""));
    }
    if name.len() > names::DNS1123_LABEL_MAX_LENGTH {
        errs.push(FieldError::too_long(path, names::DNS1123_LABEL_MAX_LENGTH));
    }
    errs.extend(to_errors(
        path,
        name,
        names::is_dns1123_subdomain(&name.to_lowercase()),
    ));
    errs
}

// ---------------------------------------------------------------------------------------
// Containers

fn validate_container_ports(ports: &[ContainerPort], path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let mut names_seen = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let idx = path.index(i);
        let name = s(&port.name);
        if !name.is_empty() {
            let msgs = names::is_valid_port_name(name);
            if !msgs.is_empty() {
                errs.extend(to_errors(&idx.child("name"), name, msgs));
            } else if !names_seen.insert(name.to_string()) {
                errs.push(FieldError::duplicate(&idx.child("name"), name));
            }
        }
        if port.container_port == 0 {
            errs.push(FieldError::required(&idx.child("containerPort"), ""));
        } else {
            for m in names::is_valid_port_num(i64::from(port.container_port)) {
                errs.push(FieldError::invalid(
                    &idx.child("containerPort"),
                    port.container_port,
                    m,
                ));
            }
        }
        let hp = port.host_port.unwrap_or(0);
        if hp != 0 {
            for m in names::is_valid_port_num(i64::from(hp)) {
                errs.push(FieldError::invalid(&idx.child("hostPort"), hp, m));
            }
        }
        let proto = s(&port.protocol);
        if proto.is_empty() {
            errs.push(FieldError::required(&idx.child("protocol"), ""));
        } else if !PORT_PROTOCOLS.contains(&proto) {
            errs.push(FieldError::not_supported(
                &idx.child("protocol"),
                proto,
                PORT_PROTOCOLS,
            ));
        }
    }
    errs
}

fn validate_env(vars: &[EnvVar], path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    for (i, ev) in vars.iter().enumerate() {
        let idx = path.index(i);
        if ev.name.is_empty() {
            errs.push(FieldError::required(&idx.child("name"), ""));
        } else {
            // RelaxedEnvironmentVariableValidation is on by default in 1.33.
            errs.extend(to_errors(
                &idx.child("name"),
                &ev.name,
                names::is_relaxed_env_var_name(&ev.name),
            ));
        }
        let Some(from) = &ev.value_from else { continue };
        let fp = idx.child("valueFrom");
        let mut n = 0;
        if let Some(fr) = &from.field_ref {
            n += 1;
            errs.extend(validate_object_field_selector(
                fr,
                ENV_FIELD_PATHS,
                &fp.child("fieldRef"),
            ));
        }
        if let Some(rf) = &from.resource_field_ref {
            n += 1;
            errs.extend(validate_resource_field_selector(
                rf,
                &fp.child("resourceFieldRef"),
                false,
            ));
        }
        if let Some(cm) = &from.config_map_key_ref {
            n += 1;
            errs.extend(validate_key_selector(
                s(&cm.name),
                &cm.key,
                &fp.child("configMapKeyRef"),
            ));
        }
        if let Some(sk) = &from.secret_key_ref {
            n += 1;
            errs.extend(validate_key_selector(
                s(&sk.name),
                &sk.key,
                &fp.child("secretKeyRef"),
            ));
        }
        if n == 0 {
            errs.push(FieldError::invalid(
                &fp,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if !s(&ev.value).is_empty() {
            errs.push(FieldError::invalid(
                &fp,
                "",
                "may not be specified when `value` is not empty",
            ));
        } else if n > 1 {
            errs.push(FieldError::invalid(
                &fp,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
    errs
}

fn validate_key_selector(name: &str, key: &str, path: &Path) -> ErrorList {
    let mut errs = to_errors(&path.child("name"), name, names::is_dns1123_subdomain(name));
    if key.is_empty() {
        errs.push(FieldError::required(&path.child("key"), ""));
    } else {
        errs.extend(to_errors(
            &path.child("key"),
            key,
            names::is_config_map_key(key),
        ));
    }
    errs
}

/// `fieldpath.SplitMaybeSubscriptedPath`: `metadata.labels['key']` → (path, key).
fn split_subscript(fp: &str) -> Option<(&str, &str)> {
    let s = fp.strip_suffix("']")?;
    let (p, sub) = s.split_once("['")?;
    if p.is_empty() { None } else { Some((p, sub)) }
}

fn validate_object_field_selector(
    fs: &ObjectFieldSelector,
    expressions: &[&str],
    path: &Path,
) -> ErrorList {
    let api_version = s(&fs.api_version);
    if api_version.is_empty() {
        return vec![FieldError::required(&path.child("apiVersion"), "")];
    }
    if fs.field_path.is_empty() {
        return vec![FieldError::required(&path.child("fieldPath"), "")];
    }
    let converted = convert_downward_api_field_label(api_version, &fs.field_path);
    let internal = match converted {
        Ok(p) => p,
        Err(e) => {
            return vec![FieldError::invalid(
                &path.child("fieldPath"),
                &fs.field_path,
                format!("error converting fieldPath: {e}"),
            )];
        }
    };
    if let Some((p, sub)) = split_subscript(&internal) {
        return match p {
            "metadata.annotations" => to_errors(
                path,
                &sub.to_lowercase(),
                names::is_qualified_name(&sub.to_lowercase()),
            ),
            "metadata.labels" => to_errors(path, sub, names::is_qualified_name(sub)),
            _ => vec![FieldError::invalid(path, p, "does not support subscript")],
        };
    }
    if !expressions.contains(&internal.as_str()) {
        return vec![FieldError::not_supported(
            &path.child("fieldPath"),
            internal.as_str(),
            expressions,
        )];
    }
    Vec::new()
}

fn convert_downward_api_field_label(version: &str, label: &str) -> Result<String, String> {
    if version != "v1" {
        return Err(format!("unsupported pod version: {version}"));
    }
    if let Some((p, _)) = split_subscript(label) {
        return match p {
            "metadata.annotations" | "metadata.labels" => Ok(label.to_string()),
            _ => Err(format!("field label does not support subscript: {label}")),
        };
    }
    match label {
        "metadata.annotations"
        | "metadata.labels"
        | "metadata.name"
        | "metadata.namespace"
        | "metadata.uid"
        | "spec.nodeName"
        | "spec.restartPolicy"
        | "spec.serviceAccountName"
        | "spec.schedulerName"
        | "status.phase"
        | "status.hostIP"
        | "status.hostIPs"
        | "status.podIP"
        | "status.podIPs" => Ok(label.to_string()),
        "spec.host" => Ok("spec.nodeName".to_string()),
        _ => Err(format!("field label not supported: {label}")),
    }
}

fn validate_resource_field_selector(
    fs: &ResourceFieldSelector,
    path: &Path,
    volume: bool,
) -> ErrorList {
    let mut errs = Vec::new();
    if volume && s(&fs.container_name).is_empty() {
        errs.push(FieldError::required(&path.child("containerName"), ""));
    } else if fs.resource.is_empty() {
        errs.push(FieldError::required(&path.child("resource"), ""));
    } else if !CONTAINER_RESOURCE_FIELDS.contains(&fs.resource.as_str())
        && !fs.resource.starts_with("requests.hugepages-")
        && !fs.resource.starts_with("limits.hugepages-")
    {
        errs.push(FieldError::not_supported(
            &path.child("resource"),
            fs.resource.as_str(),
            CONTAINER_RESOURCE_FIELDS,
        ));
    }
    if let Some(div) = &fs.divisor
        && *div != Quantity::ZERO
    {
        let d = div.to_string();
        let r = fs.resource.as_str();
        const MEM: &[&str] = &[
            "1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei",
        ];
        let msg = match r {
            "limits.cpu" | "requests.cpu" if !["1m", "1"].contains(&d.as_str()) => {
                Some("only divisor's values 1m and 1 are supported with the cpu resource")
            }
            "limits.memory" | "requests.memory" if !MEM.contains(&d.as_str()) => Some(
                "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the memory resource",
            ),
            "limits.ephemeral-storage" | "requests.ephemeral-storage"
                if !MEM.contains(&d.as_str()) =>
            {
                Some(
                    "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the local ephemeral storage resource",
                )
            }
            _ => None,
        };
        if let Some(m) = msg {
            errs.push(FieldError::invalid(&path.child("divisor"), r, m));
        }
        if (r.starts_with("requests.hugepages-") || r.starts_with("limits.hugepages-"))
            && !MEM.contains(&d.as_str())
        {
            errs.push(FieldError::invalid(
                    &path.child("divisor"),
                    r,
                    "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the hugepages resource",
                ));
        }
    }
    errs
}

fn validate_env_from(vars: &[EnvFromSource], path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    for (i, ev) in vars.iter().enumerate() {
        let idx = path.index(i);
        let prefix = s(&ev.prefix);
        if !prefix.is_empty() {
            errs.extend(to_errors(
                &idx.child("prefix"),
                prefix,
                names::is_relaxed_env_var_name(prefix),
            ));
        }
        let mut n = 0;
        for (present, name, child) in [
            (
                ev.config_map_ref.is_some(),
                ev.config_map_ref.as_ref().map(|r| s(&r.name)),
                "configMapRef",
            ),
            (
                ev.secret_ref.is_some(),
                ev.secret_ref.as_ref().map(|r| s(&r.name)),
                "secretRef",
            ),
        ] {
            if !present {
                continue;
            }
            n += 1;
            let np = idx.child(child).child("name");
            match name {
                Some("") | None => errs.push(FieldError::required(&np, "")),
                Some(nm) => {
                    let masked = names::NameRule::DnsSubdomain.check(nm, true);
                    errs.extend(to_errors(&np, nm, masked));
                }
            }
        }
        if n == 0 {
            errs.push(FieldError::invalid(
                path,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if n > 1 {
            errs.push(FieldError::invalid(
                path,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
    errs
}

fn validate_volume_mounts(
    mounts: &[VolumeMount],
    devices: &BTreeMap<String, String>,
    volumes: &BTreeMap<String, VolumeInfo>,
    ctr: &Container,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    let mut mountpoints = BTreeSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let idx = path.index(i);
        if m.name.is_empty() {
            errs.push(FieldError::required(&idx.child("name"), ""));
        }
        if !volumes.contains_key(&m.name) {
            errs.push(FieldError::not_found(&idx.child("name"), &m.name));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(&idx.child("mountPath"), ""));
        }
        if !mountpoints.insert(m.mount_path.clone()) {
            errs.push(FieldError::invalid(
                &idx.child("mountPath"),
                &m.mount_path,
                "must be unique",
            ));
        }
        if devices.contains_key(&m.name) {
            errs.push(FieldError::invalid(
                &idx.child("name"),
                &m.name,
                "must not already exist in volumeDevices",
            ));
        }
        if devices.values().any(|p| *p == m.mount_path) {
            errs.push(FieldError::invalid(
                &idx.child("mountPath"),
                &m.mount_path,
                "must not already exist as a path in volumeDevices",
            ));
        }
        let sub_path = s(&m.sub_path);
        let sub_expr = s(&m.sub_path_expr);
        if volumes.get(&m.name).is_some_and(|v| v.is_image) {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    &idx.child("subPath"),
                    sub_path,
                    "not allowed in image volume sources",
                ));
            }
            if !sub_expr.is_empty() {
                errs.push(FieldError::invalid(
                    &idx.child("subPathExpr"),
                    sub_expr,
                    "not allowed in image volume sources",
                ));
            }
        }
        if !sub_path.is_empty() {
            errs.extend(validate_local_descending_path(
                sub_path,
                &path.child("subPath"),
            ));
        }
        if !sub_expr.is_empty() {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    &idx.child("subPathExpr"),
                    sub_expr,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            errs.extend(validate_local_descending_path(
                sub_expr,
                &path.child("subPathExpr"),
            ));
        }
        if let Some(mp) = &m.mount_propagation {
            const PROPS: &[&str] = &["Bidirectional", "HostToContainer", "None"];
            let pp = path.child("mountPropagation");
            if !PROPS.contains(&mp.as_str()) {
                errs.push(FieldError::not_supported(&pp, mp.as_str(), PROPS));
            }
            let privileged =
                ctr.security_context.as_ref().and_then(|sc| sc.privileged) == Some(true);
            if mp == "Bidirectional" && !privileged {
                errs.push(FieldError::forbidden(
                    &pp,
                    "Bidirectional mount propagation is available only to privileged containers",
                ));
            }
        }
        if let Some(rro) = &m.recursive_read_only {
            let rp = path.child("recursiveReadOnly");
            match rro.as_str() {
                "Disabled" => {}
                "Enabled" | "IfPossible" => {
                    if m.read_only != Some(true) {
                        errs.push(FieldError::forbidden(
                            &rp,
                            "may only be specified when readOnly is true",
                        ));
                    }
                    if m.mount_propagation.as_deref().is_some_and(|p| p != "None") {
                        errs.push(FieldError::forbidden(
                            &rp,
                            "may only be specified when mountPropagation is None or not specified",
                        ));
                    }
                }
                other => errs.push(FieldError::not_supported(
                    &rp,
                    other,
                    &["Disabled", "Enabled", "IfPossible"],
                )),
            }
        }
    }
    errs
}

fn validate_volume_devices(
    ctr: &Container,
    mounts: &BTreeMap<String, String>,
    volumes: &BTreeMap<String, VolumeInfo>,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    let mut paths = BTreeSet::new();
    let mut dev_names = BTreeSet::new();
    for (i, d) in ctr.volume_devices.iter().flatten().enumerate() {
        let idx = path.index(i);
        let info = volumes.get(&d.name);
        if d.name.is_empty() {
            errs.push(FieldError::required(&idx.child("name"), ""));
        }
        if dev_names.contains(&d.name) {
            errs.push(FieldError::invalid(
                &idx.child("name"),
                &d.name,
                "must be unique",
            ));
        }
        match info {
            Some(v) if !v.is_pvc => errs.push(FieldError::invalid(
                &idx.child("name"),
                &d.name,
                "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode",
            )),
            None => errs.push(FieldError::not_found(&idx.child("name"), &d.name)),
            Some(_) => {}
        }
        if d.device_path.is_empty() {
            errs.push(FieldError::required(&idx.child("devicePath"), ""));
        }
        if paths.contains(&d.device_path) {
            errs.push(FieldError::invalid(
                &idx.child("devicePath"),
                &d.device_path,
                "must be unique",
            ));
        }
        if !d.device_path.is_empty() && d.device_path.split('/').any(|p| p == "..") {
            errs.push(FieldError::invalid(
                &idx.child("devicePath"),
                &d.device_path,
                "can not contain backsteps ('..')",
            ));
        } else {
            paths.insert(d.device_path.clone());
        }
        if mounts.contains_key(&d.name) {
            errs.push(FieldError::invalid(
                &idx.child("name"),
                &d.name,
                "must not already exist in volumeMounts",
            ));
        }
        if mounts.values().any(|p| *p == d.device_path) {
            errs.push(FieldError::invalid(
                &idx.child("devicePath"),
                &d.device_path,
                "must not already exist as a path in volumeMounts",
            ));
        }
        if !d.name.is_empty() {
            dev_names.insert(d.name.clone());
        }
    }
    errs
}

fn validate_pull_policy(policy: &str, path: &Path) -> ErrorList {
    match policy {
        "Always" | "IfNotPresent" | "Never" => Vec::new(),
        "" => vec![FieldError::required(path, "")],
        other => vec![FieldError::not_supported(
            path,
            other,
            &["Always", "IfNotPresent", "Never"],
        )],
    }
}

const STANDARD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];

fn is_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn is_overcommit_allowed(name: &str) -> bool {
    is_native_resource(name) && !is_hugepages(name)
}

fn is_extended_resource(name: &str) -> bool {
    if is_native_resource(name) || name.starts_with("requests.") {
        return false;
    }
    names::is_qualified_name(&format!("requests.{name}")).is_empty()
}

fn is_integer_resource(name: &str) -> bool {
    const INTEGER: &[&str] = &[
        "pods",
        "resourcequotas",
        "services",
        "replicationcontrollers",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "services.nodeports",
        "services.loadbalancers",
    ];
    INTEGER.contains(&name) || is_extended_resource(name)
}

/// `validateResourceName`: a qualified name; unprefixed names must be standard.
pub(crate) fn validate_resource_name(name: &str, path: &Path) -> ErrorList {
    let errs = to_errors(path, name, names::is_qualified_name(name));
    if !errs.is_empty() {
        return errs;
    }
    if !name.contains('/')
        && !STANDARD_RESOURCES.contains(&name)
        && !name.starts_with("hugepages-")
        && !name.starts_with("requests.hugepages-")
    {
        return vec![FieldError::invalid(
            path,
            name,
            "must be a standard resource type or fully qualified",
        )];
    }
    Vec::new()
}

fn validate_container_resource_name(name: &str, path: &Path) -> ErrorList {
    let mut errs = validate_resource_name(name, path);
    if !name.contains('/') {
        if !["cpu", "memory", "ephemeral-storage"].contains(&name) && !is_hugepages(name) {
            errs.push(FieldError::invalid(
                path,
                name,
                "must be a standard resource for containers",
            ));
        }
    } else if !is_native_resource(name) && !is_extended_resource(name) {
        errs.push(FieldError::invalid(
            path,
            name,
            "doesn't follow extended resource name standard",
        ));
    }
    errs
}

/// `ValidateResourceQuantityValue`: not negative; whole numbers for integer resources.
pub(crate) fn validate_quantity_value(resource: &str, q: &Quantity, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if *q < Quantity::ZERO {
        errs.push(FieldError::invalid(path, q.to_string(), meta::IS_NEGATIVE));
    }
    if is_integer_resource(resource) && q.milli_value() % 1000 != 0 {
        errs.push(FieldError::invalid(path, q, "must be an integer"));
    }
    errs
}

fn hugepage_divisible(name: &str, q: &Quantity) -> bool {
    let Some(size) = name
        .strip_prefix("hugepages-")
        .and_then(|s| Quantity::parse(s).ok())
    else {
        return false;
    };
    if size <= Quantity::ZERO || *q < Quantity::ZERO {
        return false;
    }
    let page = size.value();
    page != 0 && q.value() % page == 0
}

pub(crate) fn validate_resource_requirements(
    req: &ResourceRequirements,
    claims: &BTreeSet<String>,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    let lim_path = path.child("limits");
    let req_path = path.child("requests");
    let empty = BTreeMap::new();
    let limits = req.limits.as_ref().unwrap_or(&empty);
    let requests = req.requests.as_ref().unwrap_or(&empty);
    let (mut lim_cm, mut req_cm, mut lim_hp, mut req_hp) = (false, false, false, false);
    for (name, q) in limits {
        let fp = lim_path.key(name);
        errs.extend(validate_container_resource_name(name, &fp));
        errs.extend(validate_quantity_value(name, q, &fp));
        if is_hugepages(name) {
            lim_hp = true;
            if !hugepage_divisible(name, q) {
                errs.push(FieldError::invalid(
                    &fp,
                    q.to_string(),
                    format!("{q} is not positive integer multiple of {name}"),
                ));
            }
        }
        if name == "cpu" || name == "memory" {
            lim_cm = true;
        }
    }
    for (name, q) in requests {
        let fp = req_path.key(name);
        errs.extend(validate_container_resource_name(name, &fp));
        errs.extend(validate_quantity_value(name, q, &fp));
        match limits.get(name) {
            Some(l) => {
                if q != l && !is_overcommit_allowed(name) {
                    errs.push(FieldError::invalid(
                        &req_path,
                        q.to_string(),
                        format!("must be equal to {name} limit of {l}"),
                    ));
                } else if q > l {
                    errs.push(FieldError::invalid(
                        &req_path,
                        q.to_string(),
                        format!("must be less than or equal to {name} limit of {l}"),
                    ));
                }
            }
            None if !is_overcommit_allowed(name) => {
                errs.push(FieldError::required(
                    &lim_path,
                    "Limit must be set for non overcommitable resources",
                ));
            }
            None => {}
        }
        if is_hugepages(name) {
            req_hp = true;
            if !hugepage_divisible(name, q) {
                errs.push(FieldError::invalid(
                    &fp,
                    q.to_string(),
                    format!("{q} is not positive integer multiple of {name}"),
                ));
            }
        }
        if name == "cpu" || name == "memory" {
            req_cm = true;
        }
    }
    if !lim_cm && !req_cm && (req_hp || lim_hp) {
        errs.push(FieldError::forbidden(
            path,
            "HugePages require cpu or memory",
        ));
    }
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for (i, c) in req.claims.iter().flatten().enumerate() {
        let cp = path.child("claims").index(i);
        if c.name.is_empty() {
            errs.push(FieldError::required(&cp, ""));
            continue;
        }
        if seen.contains(&c.name) {
            errs.push(FieldError::duplicate(&cp, &c.name));
        } else {
            let mut key = c.name.clone();
            let request = s(&c.request);
            if !request.is_empty() {
                errs.extend(to_errors(
                    &cp.child("request"),
                    request,
                    names::is_dns1123_label(request),
                ));
                key = format!("{}/{request}", c.name);
            }
            if seen.contains(&key) {
                errs.push(FieldError::duplicate(&cp, &key));
            } else if request.is_empty() {
                for k in &seen {
                    if k.split_once('/').is_some_and(|(n, _)| n == c.name) {
                        errs.push(FieldError::duplicate(&cp, &c.name));
                    }
                }
            }
            seen.insert(key);
        }
        if !claims.contains(&c.name) {
            let mut e = FieldError::not_found(&cp, &c.name);
            e.detail = if claims.is_empty() {
                "must be one of the names in pod.spec.resourceClaims which is empty".to_string()
            } else {
                let list: Vec<&str> = claims.iter().map(String::as_str).collect();
                format!(
                    "must be one of the names in pod.spec.resourceClaims: {}",
                    list.join(", ")
                )
            };
            errs.push(e);
        }
    }
    errs
}

fn validate_resize_policy(ctr: &Container, pod_restart: &str, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, p) in ctr.resize_policy.iter().flatten().enumerate() {
        if !seen.insert(p.resource_name.clone()) {
            errs.push(FieldError::duplicate(&path.index(i), &p.resource_name));
        }
        match p.resource_name.as_str() {
            "cpu" | "memory" => {}
            "" => errs.push(FieldError::required(path, "")),
            other => errs.push(FieldError::not_supported(path, other, &["cpu", "memory"])),
        }
        match p.restart_policy.as_str() {
            "NotRequired" | "RestartContainer" => {}
            "" => errs.push(FieldError::required(path, "")),
            other => errs.push(FieldError::not_supported(
                path,
                other,
                &["NotRequired", "RestartContainer"],
            )),
        }
        if pod_restart == "Never" && p.restart_policy != "NotRequired" {
            errs.push(FieldError::invalid(
                path,
                &p.restart_policy,
                "must be 'NotRequired' when `restartPolicy` is 'Never'",
            ));
        }
    }
    errs
}

fn validate_seccomp_profile(sp: Option<&SeccompProfile>, path: &Path) -> ErrorList {
    let Some(sp) = sp else { return Vec::new() };
    let mut errs = Vec::new();
    const TYPES: &[&str] = &["Localhost", "RuntimeDefault", "Unconfined"];
    match sp.type_.as_str() {
        "Localhost" | "RuntimeDefault" | "Unconfined" => {}
        "" => errs.push(FieldError::required(
            &path.child("type"),
            "type is required when seccompProfile is set",
        )),
        other => errs.push(FieldError::not_supported(&path.child("type"), other, TYPES)),
    }
    if sp.type_ == "Localhost" {
        match &sp.localhost_profile {
            None => errs.push(FieldError::required(
                &path.child("localhostProfile"),
                "must be set when seccomp type is Localhost",
            )),
            Some(p) => errs.extend(validate_local_descending_path(
                p,
                &path.child("localhostProfile"),
            )),
        }
    } else if sp.localhost_profile.is_some() {
        errs.push(FieldError::invalid(
            &path.child("localhostProfile"),
            Json(sp),
            "can only be set when seccomp type is Localhost",
        ));
    }
    errs
}

fn validate_apparmor_profile(
    p: Option<&clipper_proto::api::core::v1::AppArmorProfile>,
    path: &Path,
) -> ErrorList {
    let Some(p) = p else { return Vec::new() };
    let mut errs = Vec::new();
    match p.type_.as_str() {
        "Localhost" => match &p.localhost_profile {
            None => errs.push(FieldError::required(
                &path.child("localhostProfile"),
                "must be set when AppArmor type is Localhost",
            )),
            Some(lp) => {
                let trimmed = lp.trim();
                if trimmed != lp {
                    errs.push(FieldError::invalid(
                        &path.child("localhostProfile"),
                        lp,
                        "must not be padded with whitespace",
                    ));
                } else if trimmed.is_empty() {
                    errs.push(FieldError::required(
                        &path.child("localhostProfile"),
                        "must be set when AppArmor type is Localhost",
                    ));
                }
                if lp.len() > MAX_APPARMOR_LOCALHOST_PROFILE {
                    errs.push(FieldError::too_long(
                        &path.child("localhostProfile"),
                        MAX_APPARMOR_LOCALHOST_PROFILE,
                    ));
                }
            }
        },
        "RuntimeDefault" | "Unconfined" => {
            if p.localhost_profile.is_some() {
                errs.push(FieldError::invalid(
                    &path.child("localhostProfile"),
                    p.localhost_profile.clone(),
                    "can only be set when AppArmor type is Localhost",
                ));
            }
        }
        "" => errs.push(FieldError::required(
            &path.child("type"),
            "type is required when appArmorProfile is set",
        )),
        other => errs.push(FieldError::not_supported(
            &path.child("type"),
            other,
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
    }
    errs
}

fn validate_container_security_context(
    sc: Option<&SecurityContext>,
    path: &Path,
    host_users: bool,
    opts: PodOpts,
) -> ErrorList {
    let Some(sc) = sc else { return Vec::new() };
    let mut errs = Vec::new();
    if sc.privileged == Some(true) && !opts.global.allow_privileged {
        errs.push(FieldError::forbidden(
            &path.child("privileged"),
            "disallowed by cluster policy",
        ));
    }
    if let Some(u) = sc.run_as_user {
        errs.extend(
            names::is_valid_id(u)
                .into_iter()
                .map(|m| FieldError::invalid(&path.child("runAsUser"), u, m)),
        );
    }
    if let Some(g) = sc.run_as_group {
        errs.extend(
            names::is_valid_id(g)
                .into_iter()
                .map(|m| FieldError::invalid(&path.child("runAsGroup"), g, m)),
        );
    }
    if let Some(pm) = &sc.proc_mount {
        if pm != "Default" && pm != "Unmasked" {
            errs.push(FieldError::not_supported(
                &path.child("procMount"),
                pm.as_str(),
                &["Default", "Unmasked"],
            ));
        }
        if host_users && pm == "Unmasked" {
            errs.push(FieldError::invalid(
                &path.child("procMount"),
                pm.as_str(),
                "`hostUsers` must be false to use `Unmasked`",
            ));
        }
    }
    errs.extend(validate_seccomp_profile(
        sc.seccomp_profile.as_ref(),
        &path.child("seccompProfile"),
    ));
    if sc.allow_privilege_escalation == Some(false) {
        if sc.privileged == Some(true) {
            errs.push(FieldError::invalid(
                path,
                Json(sc),
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        if sc
            .capabilities
            .as_ref()
            .and_then(|c| c.add.as_ref())
            .is_some_and(|a| a.iter().any(|c| c == "CAP_SYS_ADMIN"))
        {
            errs.push(FieldError::invalid(
                path,
                Json(sc),
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
    errs.extend(validate_apparmor_profile(
        sc.app_armor_profile.as_ref(),
        &path.child("appArmorProfile"),
    ));
    errs
}

/// The checks shared by regular, init and ephemeral containers.
fn validate_container_common(
    ctr: &Container,
    volumes: &BTreeMap<String, VolumeInfo>,
    claims: &BTreeSet<String>,
    path: &Path,
    pod_restart: &str,
    host_users: bool,
    opts: PodOpts,
) -> ErrorList {
    let mut errs = Vec::new();
    let name_path = path.child("name");
    if ctr.name.is_empty() {
        errs.push(FieldError::required(&name_path, ""));
    } else {
        errs.extend(to_errors(
            &name_path,
            &ctr.name,
            names::is_dns1123_label(&ctr.name),
        ));
    }
    if s(&ctr.image).is_empty() {
        errs.push(FieldError::required(&path.child("image"), ""));
    }
    match s(&ctr.termination_message_policy) {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(FieldError::required(
            &path.child("terminationMessagePolicy"),
            "",
        )),
        other => errs.push(FieldError::not_supported(
            &path.child("terminationMessagePolicy"),
            other,
            &["File", "FallbackToLogsOnError"],
        )),
    }
    let mounts: BTreeMap<String, String> = ctr
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| (m.name.clone(), m.mount_path.clone()))
        .collect();
    let devices: BTreeMap<String, String> = ctr
        .volume_devices
        .iter()
        .flatten()
        .map(|d| (d.name.clone(), d.device_path.clone()))
        .collect();
    errs.extend(validate_container_ports(
        ctr.ports.as_deref().unwrap_or(&[]),
        &path.child("ports"),
    ));
    errs.extend(validate_env(
        ctr.env.as_deref().unwrap_or(&[]),
        &path.child("env"),
    ));
    errs.extend(validate_env_from(
        ctr.env_from.as_deref().unwrap_or(&[]),
        &path.child("envFrom"),
    ));
    errs.extend(validate_volume_mounts(
        ctr.volume_mounts.as_deref().unwrap_or(&[]),
        &devices,
        volumes,
        ctr,
        &path.child("volumeMounts"),
    ));
    errs.extend(validate_volume_devices(
        ctr,
        &mounts,
        volumes,
        &path.child("volumeDevices"),
    ));
    errs.extend(validate_pull_policy(
        s(&ctr.image_pull_policy),
        &path.child("imagePullPolicy"),
    ));
    let default_req = ResourceRequirements::default();
    errs.extend(validate_resource_requirements(
        ctr.resources.as_ref().unwrap_or(&default_req),
        claims,
        &path.child("resources"),
    ));
    errs.extend(validate_resize_policy(
        ctr,
        pod_restart,
        &path.child("resizePolicy"),
    ));
    errs.extend(validate_container_security_context(
        ctr.security_context.as_ref(),
        &path.child("securityContext"),
        host_users,
        opts,
    ));
    errs
}

fn validate_handler(
    h: &LifecycleHandler,
    grace: Option<i64>,
    path: &Path,
    grpc: Option<&clipper_proto::api::core::v1::GRPCAction>,
) -> ErrorList {
    let mut errs = Vec::new();
    let mut n = 0;
    let mut add =
        |present: bool, name: &str, errs: &mut ErrorList, check: &dyn Fn() -> ErrorList| {
            if !present {
                return;
            }
            if n > 0 {
                errs.push(FieldError::forbidden(
                    &path.child(name),
                    "may not specify more than 1 handler type",
                ));
            } else {
                n += 1;
                errs.extend(check());
            }
        };
    add(h.exec.is_some(), "exec", &mut errs, &|| {
        if h.exec
            .as_ref()
            .is_some_and(|e| e.command.as_ref().is_none_or(|c| c.is_empty()))
        {
            vec![FieldError::required(
                &path.child("exec").child("command"),
                "",
            )]
        } else {
            Vec::new()
        }
    });
    add(h.http_get.is_some(), "httpGet", &mut errs, &|| {
        h.http_get
            .as_ref()
            .map(|g| validate_http_get(g, &path.child("httpGet")))
            .unwrap_or_default()
    });
    add(h.tcp_socket.is_some(), "tcpSocket", &mut errs, &|| {
        h.tcp_socket
            .as_ref()
            .map(|t| validate_port_num_or_name(&t.port, &path.child("tcpSocket").child("port")))
            .unwrap_or_default()
    });
    add(grpc.is_some(), "grpc", &mut errs, &|| {
        grpc.map(|g| {
            validate_port_num_or_name(&IntOrString::Int(g.port), &path.child("grpc").child("port"))
        })
        .unwrap_or_default()
    });
    add(h.sleep.is_some(), "sleep", &mut errs, &|| {
        let Some(sl) = &h.sleep else {
            return Vec::new();
        };
        match grace {
            // PodLifecycleSleepActionAllowZero is on by default in 1.33.
            Some(g) if sl.seconds < 0 || sl.seconds > g => vec![FieldError::invalid(
                &path.child("sleep"),
                sl.seconds,
                format!("must be non-negative and less than terminationGracePeriodSeconds ({g})"),
            )],
            _ => Vec::new(),
        }
    });
    if n == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
    errs
}

fn validate_http_get(g: &HTTPGetAction, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if s(&g.path).is_empty() {
        errs.push(FieldError::required(&path.child("path"), ""));
    }
    errs.extend(validate_port_num_or_name(&g.port, &path.child("port")));
    let scheme = s(&g.scheme);
    if scheme != "HTTP" && scheme != "HTTPS" {
        errs.push(FieldError::not_supported(
            &path.child("scheme"),
            scheme,
            &["HTTP", "HTTPS"],
        ));
    }
    for h in g.http_headers.iter().flatten() {
        errs.extend(to_errors(
            &path.child("httpHeaders"),
            &h.name,
            names::is_http_header_name(&h.name),
        ));
    }
    errs
}

/// `ValidatePortNumOrName`.
pub(crate) fn validate_port_num_or_name(port: &IntOrString, path: &Path) -> ErrorList {
    match port {
        IntOrString::Int(i) => names::is_valid_port_num(i64::from(*i))
            .into_iter()
            .map(|m| FieldError::invalid(path, *i, m))
            .collect(),
        IntOrString::String(sv) => to_errors(path, sv, names::is_valid_port_name(sv)),
    }
}

fn probe_handler(p: &Probe) -> LifecycleHandler {
    LifecycleHandler {
        exec: p.exec.clone(),
        http_get: p.http_get.clone(),
        sleep: None,
        tcp_socket: p.tcp_socket.clone(),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

fn validate_probe(
    p: Option<&Probe>,
    kind: ProbeKind,
    grace: Option<i64>,
    path: &Path,
) -> ErrorList {
    let Some(p) = p else { return Vec::new() };
    let mut errs = validate_handler(&probe_handler(p), grace, path, p.grpc.as_ref());
    for (v, name) in [
        (p.initial_delay_seconds, "initialDelaySeconds"),
        (p.timeout_seconds, "timeoutSeconds"),
        (p.period_seconds, "periodSeconds"),
        (p.success_threshold, "successThreshold"),
        (p.failure_threshold, "failureThreshold"),
    ] {
        errs.extend(nonnegative(i64::from(v.unwrap_or(0)), &path.child(name)));
    }
    if let Some(t) = p.termination_grace_period_seconds
        && t <= 0
    {
        errs.push(FieldError::invalid(
            &path.child("terminationGracePeriodSeconds"),
            t,
            "must be greater than 0",
        ));
    }
    match kind {
        ProbeKind::Liveness | ProbeKind::Startup => {
            let st = p.success_threshold.unwrap_or(0);
            if st != 1 {
                errs.push(FieldError::invalid(
                    &path.child("successThreshold"),
                    st,
                    "must be 1",
                ));
            }
        }
        ProbeKind::Readiness => {
            if p.termination_grace_period_seconds.is_some() {
                errs.push(FieldError::invalid(
                    &path.child("terminationGracePeriodSeconds"),
                    p.termination_grace_period_seconds,
                    "must not be set for readinessProbes",
                ));
            }
        }
    }
    errs
}

fn validate_probes_and_lifecycle(ctr: &Container, grace: Option<i64>, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if let Some(lc) = &ctr.lifecycle {
        if let Some(h) = &lc.post_start {
            errs.extend(validate_handler(
                h,
                grace,
                &path.child("lifecycle").child("postStart"),
                None,
            ));
        }
        if let Some(h) = &lc.pre_stop {
            errs.extend(validate_handler(
                h,
                grace,
                &path.child("lifecycle").child("preStop"),
                None,
            ));
        }
    }
    errs.extend(validate_probe(
        ctr.liveness_probe.as_ref(),
        ProbeKind::Liveness,
        grace,
        &path.child("livenessProbe"),
    ));
    errs.extend(validate_probe(
        ctr.readiness_probe.as_ref(),
        ProbeKind::Readiness,
        grace,
        &path.child("readinessProbe"),
    ));
    errs.extend(validate_probe(
        ctr.startup_probe.as_ref(),
        ProbeKind::Startup,
        grace,
        &path.child("startupProbe"),
    ));
    errs
}

fn host_port_conflicts(
    containers: &[&Container],
    path: &Path,
    seen: &mut BTreeSet<String>,
) -> ErrorList {
    let mut errs = Vec::new();
    for (ci, ctr) in containers.iter().enumerate() {
        for (pi, port) in ctr.ports.iter().flatten().enumerate() {
            let hp = port.host_port.unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let key = format!("{}/{}/{hp}", s(&port.protocol), s(&port.host_ip));
            if !seen.insert(key.clone()) {
                errs.push(FieldError::duplicate(
                    &path.index(ci).child("ports").index(pi).child("hostPort"),
                    key,
                ));
            }
        }
    }
    errs
}

fn ephemeral_as_container(ec: &EphemeralContainer) -> Container {
    Container {
        args: ec.args.clone(),
        command: ec.command.clone(),
        env: ec.env.clone(),
        env_from: ec.env_from.clone(),
        image: ec.image.clone(),
        image_pull_policy: ec.image_pull_policy.clone(),
        lifecycle: ec.lifecycle.clone(),
        liveness_probe: ec.liveness_probe.clone(),
        name: ec.name.clone(),
        ports: ec.ports.clone(),
        readiness_probe: ec.readiness_probe.clone(),
        resize_policy: ec.resize_policy.clone(),
        resources: ec.resources.clone(),
        restart_policy: ec.restart_policy.clone(),
        security_context: ec.security_context.clone(),
        startup_probe: ec.startup_probe.clone(),
        stdin: ec.stdin,
        stdin_once: ec.stdin_once,
        termination_message_path: ec.termination_message_path.clone(),
        termination_message_policy: ec.termination_message_policy.clone(),
        tty: ec.tty,
        volume_devices: ec.volume_devices.clone(),
        volume_mounts: ec.volume_mounts.clone(),
        working_dir: ec.working_dir.clone(),
    }
}

fn validate_image_whitespace(image: &str, path: &Path) -> ErrorList {
    if image.len() != image.trim().len() {
        vec![FieldError::invalid(
            path,
            image,
            "must not have leading or trailing whitespace",
        )]
    } else {
        Vec::new()
    }
}

// ---------------------------------------------------------------------------------------
// Scheduling

fn validate_tolerations(tols: &[Toleration], path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    for (i, t) in tols.iter().enumerate() {
        let idx = path.index(i);
        let key = s(&t.key);
        let op = s(&t.operator);
        let effect = s(&t.effect);
        let value = s(&t.value);
        if !key.is_empty() {
            errs.extend(validate_label_name(key, &idx.child("key")));
        }
        if key.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                &idx.child("operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if t.toleration_seconds.is_some() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                &idx.child("effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "Equal" | "" => {
                let msgs = names::is_valid_label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(
                        &idx.child("operator"),
                        value,
                        msgs.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        &idx.child("operator"),
                        value,
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                &idx.child("operator"),
                other,
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() {
            errs.extend(validate_taint_effect(effect, true, &idx.child("effect")));
        }
    }
    errs
}

pub(crate) fn validate_taint_effect(effect: &str, allow_empty: bool, path: &Path) -> ErrorList {
    if !allow_empty && effect.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    match effect {
        "NoSchedule" | "PreferNoSchedule" | "NoExecute" => Vec::new(),
        other => vec![FieldError::not_supported(
            path,
            other,
            &["NoSchedule", "PreferNoSchedule", "NoExecute"],
        )],
    }
}

fn validate_node_selector_requirement(
    r: &NodeSelectorRequirement,
    allow_invalid_values: bool,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    let values = r.values.as_deref().unwrap_or(&[]);
    match r.operator.as_str() {
        "In" | "NotIn" => {
            if values.is_empty() {
                errs.push(FieldError::required(
                    &path.child("values"),
                    "must be specified when `operator` is 'In' or 'NotIn'",
                ));
            }
        }
        "Exists" | "DoesNotExist" => {
            if !values.is_empty() {
                errs.push(FieldError::forbidden(
                    &path.child("values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ));
            }
        }
        "Gt" | "Lt" => {
            if values.len() != 1 {
                errs.push(FieldError::required(
                    &path.child("values"),
                    "must be specified single value when `operator` is 'Lt' or 'Gt'",
                ));
            }
        }
        other => errs.push(FieldError::invalid(
            &path.child("operator"),
            other,
            "not a valid selector operator",
        )),
    }
    errs.extend(validate_label_name(&r.key, &path.child("key")));
    if !allow_invalid_values {
        for (i, v) in values.iter().enumerate() {
            errs.extend(to_errors(
                &path.child("values").index(i),
                v,
                names::is_valid_label_value(v),
            ));
        }
    }
    errs
}

fn validate_node_field_requirement(r: &NodeSelectorRequirement, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let values = r.values.as_deref().unwrap_or(&[]);
    match r.operator.as_str() {
        "In" | "NotIn" => {
            if values.len() != 1 {
                errs.push(FieldError::required(
                    &path.child("values"),
                    "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                ));
            }
        }
        other => errs.push(FieldError::invalid(
            &path.child("operator"),
            other,
            "not a valid selector operator",
        )),
    }
    if r.key != "metadata.name" {
        errs.push(FieldError::invalid(
            &path.child("key"),
            &r.key,
            "not a valid field selector key",
        ));
    } else {
        for (i, v) in values.iter().enumerate() {
            errs.extend(to_errors(
                &path.child("values").index(i),
                v,
                names::is_dns1123_subdomain(v),
            ));
        }
    }
    errs
}

fn validate_node_selector_term(
    t: &clipper_proto::api::core::v1::NodeSelectorTerm,
    allow_invalid: bool,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    for (j, r) in t.match_expressions.iter().flatten().enumerate() {
        errs.extend(validate_node_selector_requirement(
            r,
            allow_invalid,
            &path.child("matchExpressions").index(j),
        ));
    }
    for (j, r) in t.match_fields.iter().flatten().enumerate() {
        errs.extend(validate_node_field_requirement(
            r,
            &path.child("matchFields").index(j),
        ));
    }
    errs
}

/// `ValidateNodeSelector`.
pub(crate) fn validate_node_selector(
    ns: &NodeSelector,
    allow_invalid: bool,
    path: &Path,
) -> ErrorList {
    let tp = path.child("nodeSelectorTerms");
    if ns.node_selector_terms.is_empty() {
        return vec![FieldError::required(
            &tp,
            "must have at least one node selector term",
        )];
    }
    ns.node_selector_terms
        .iter()
        .enumerate()
        .flat_map(|(i, t)| validate_node_selector_term(t, allow_invalid, &tp.index(i)))
        .collect()
}

fn validate_pod_affinity_term(t: &PodAffinityTerm, path: &Path) -> ErrorList {
    let mut errs = meta::validate_label_selector(
        t.label_selector.as_ref(),
        SelectorOptions::default(),
        &path.child("labelSelector"),
    );
    errs.extend(meta::validate_label_selector(
        t.namespace_selector.as_ref(),
        SelectorOptions::default(),
        &path.child("namespaceSelector"),
    ));
    for ns in t.namespaces.iter().flatten() {
        errs.extend(to_errors(
            &path.child("namespace"),
            ns,
            names::is_dns1123_label(ns),
        ));
    }
    let mlk = t.match_label_keys.as_deref().unwrap_or(&[]);
    let mmlk = t.mismatch_label_keys.as_deref().unwrap_or(&[]);
    for (keys, child) in [(mlk, "matchLabelKeys"), (mmlk, "mismatchLabelKeys")] {
        if keys.is_empty() {
            continue;
        }
        if t.label_selector.is_none() {
            errs.push(FieldError::forbidden(
                &path.child(child),
                "must not be specified when labelSelector is not set",
            ));
        } else {
            for (i, k) in keys.iter().enumerate() {
                errs.extend(validate_label_name(k, &path.child(child).index(i)));
            }
        }
    }
    for (i, k) in mlk.iter().enumerate() {
        if mmlk.contains(k) {
            errs.push(FieldError::invalid(
                &path.child("matchLabelKeys").index(i),
                k,
                "exists in both matchLabelKeys and mismatchLabelKeys",
            ));
        }
    }
    if t.topology_key.is_empty() {
        errs.push(FieldError::required(
            &path.child("topologyKey"),
            "can not be empty",
        ));
    }
    errs.extend(validate_label_name(
        &t.topology_key,
        &path.child("topologyKey"),
    ));
    errs
}

fn validate_affinity(a: &Affinity, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if let Some(na) = &a.node_affinity {
        let np = path.child("nodeAffinity");
        if let Some(req) = &na.required_during_scheduling_ignored_during_execution {
            errs.extend(validate_node_selector(
                req,
                false,
                &np.child("requiredDuringSchedulingIgnoredDuringExecution"),
            ));
        }
        for (i, t) in na
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .enumerate()
        {
            let tp = np
                .child("preferredDuringSchedulingIgnoredDuringExecution")
                .index(i);
            if t.weight <= 0 || t.weight > 100 {
                errs.push(FieldError::invalid(
                    &tp.child("weight"),
                    t.weight,
                    "must be in the range 1-100",
                ));
            }
            errs.extend(validate_node_selector_term(
                &t.preference,
                true,
                &tp.child("preference"),
            ));
        }
    }
    let pod_terms = |req: Option<&Vec<PodAffinityTerm>>,
                     pref: Option<&Vec<clipper_proto::api::core::v1::WeightedPodAffinityTerm>>,
                     p: &Path| {
        let mut errs = Vec::new();
        for (i, t) in req.into_iter().flatten().enumerate() {
            errs.extend(validate_pod_affinity_term(
                t,
                &p.child("requiredDuringSchedulingIgnoredDuringExecution")
                    .index(i),
            ));
        }
        for (j, w) in pref.into_iter().flatten().enumerate() {
            let wp = p
                .child("preferredDuringSchedulingIgnoredDuringExecution")
                .index(j);
            if w.weight <= 0 || w.weight > 100 {
                errs.push(FieldError::invalid(
                    &wp.child("weight"),
                    w.weight,
                    "must be in the range 1-100",
                ));
            }
            errs.extend(validate_pod_affinity_term(
                &w.pod_affinity_term,
                &wp.child("podAffinityTerm"),
            ));
        }
        errs
    };
    if let Some(pa) = &a.pod_affinity {
        errs.extend(pod_terms(
            pa.required_during_scheduling_ignored_during_execution
                .as_ref(),
            pa.preferred_during_scheduling_ignored_during_execution
                .as_ref(),
            &path.child("podAffinity"),
        ));
    }
    if let Some(pa) = &a.pod_anti_affinity {
        errs.extend(pod_terms(
            pa.required_during_scheduling_ignored_during_execution
                .as_ref(),
            pa.preferred_during_scheduling_ignored_during_execution
                .as_ref(),
            &path.child("podAntiAffinity"),
        ));
    }
    errs
}

fn validate_topology_spread(cs: &[TopologySpreadConstraint], path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    for (i, c) in cs.iter().enumerate() {
        let p = path.index(i);
        if c.max_skew <= 0 {
            errs.push(FieldError::invalid(
                &p.child("maxSkew"),
                c.max_skew,
                NOT_POSITIVE,
            ));
        }
        if c.topology_key.is_empty() {
            errs.push(FieldError::required(
                &p.child("topologyKey"),
                "can not be empty",
            ));
        }
        if c.when_unsatisfiable != "DoNotSchedule" && c.when_unsatisfiable != "ScheduleAnyway" {
            errs.push(FieldError::not_supported(
                &p.child("whenUnsatisfiable"),
                c.when_unsatisfiable.as_str(),
                &["DoNotSchedule", "ScheduleAnyway"],
            ));
        }
        if cs[i + 1..].iter().any(|o| {
            o.topology_key == c.topology_key && o.when_unsatisfiable == c.when_unsatisfiable
        }) {
            errs.push(FieldError::duplicate(
                &p.child("{topologyKey, whenUnsatisfiable}"),
                format!("{{{}, {}}}", c.topology_key, c.when_unsatisfiable),
            ));
        }
        if let Some(md) = c.min_domains {
            if md <= 0 {
                errs.push(FieldError::invalid(
                    &p.child("minDomains"),
                    md,
                    NOT_POSITIVE,
                ));
            }
            if c.when_unsatisfiable != "DoNotSchedule" {
                errs.push(FieldError::invalid(
                    &p.child("minDomains"),
                    md,
                    format!(
                        "can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {}",
                        c.when_unsatisfiable
                    ),
                ));
            }
        }
        for (v, child) in [
            (&c.node_affinity_policy, "nodeAffinityPolicy"),
            (&c.node_taints_policy, "nodeTaintsPolicy"),
        ] {
            if let Some(v) = v
                && v != "Honor"
                && v != "Ignore"
            {
                errs.push(FieldError::not_supported(
                    &p.child(child),
                    v.as_str(),
                    &["Honor", "Ignore"],
                ));
            }
        }
        let keys = c.match_label_keys.as_deref().unwrap_or(&[]);
        if !keys.is_empty() {
            let mp = p.child("matchLabelKeys");
            let mut in_selector: BTreeSet<&str> = BTreeSet::new();
            match &c.label_selector {
                Some(sel) => {
                    in_selector.extend(sel.match_labels.iter().flatten().map(|(k, _)| k.as_str()));
                    in_selector.extend(
                        sel.match_expressions
                            .iter()
                            .flatten()
                            .map(|r| r.key.as_str()),
                    );
                }
                None => errs.push(FieldError::forbidden(
                    &mp,
                    "must not be specified when labelSelector is not set",
                )),
            }
            for (j, k) in keys.iter().enumerate() {
                errs.extend(validate_label_name(k, &mp.index(j)));
                if in_selector.contains(k.as_str()) {
                    errs.push(FieldError::invalid(
                        &mp.index(j),
                        k,
                        "exists in both matchLabelKeys and labelSelector",
                    ));
                }
            }
        }
        errs.extend(meta::validate_label_selector(
            c.label_selector.as_ref(),
            SelectorOptions::default(),
            &p.child("labelSelector"),
        ));
    }
    errs
}

fn validate_dns_config(cfg: Option<&PodDNSConfig>, policy: &str, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if policy == "None" {
        match cfg {
            None => {
                return vec![FieldError::required(
                    path,
                    "must provide `dnsConfig` when `dnsPolicy` is None",
                )];
            }
            Some(c) if c.nameservers.as_ref().is_none_or(|n| n.is_empty()) => {
                return vec![FieldError::required(
                    &path.child("nameservers"),
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                )];
            }
            _ => {}
        }
    }
    let Some(cfg) = cfg else { return errs };
    let ns = cfg.nameservers.as_deref().unwrap_or(&[]);
    if ns.len() > MAX_DNS_NAMESERVERS {
        errs.push(FieldError::invalid(
            &path.child("nameservers"),
            GoStrings(Some(ns)),
            format!("must not have more than {MAX_DNS_NAMESERVERS} nameservers"),
        ));
    }
    for (i, n) in ns.iter().enumerate() {
        errs.extend(names::is_valid_ip(&path.child("nameservers").index(i), n));
    }
    let searches = cfg.searches.as_deref().unwrap_or(&[]);
    if searches.len() > MAX_DNS_SEARCH_PATHS {
        errs.push(FieldError::invalid(
            &path.child("searches"),
            GoStrings(Some(searches)),
            format!("must not have more than {MAX_DNS_SEARCH_PATHS} search paths"),
        ));
    }
    if searches.join(" ").len() > MAX_DNS_SEARCH_LIST_CHARS {
        errs.push(FieldError::invalid(
            &path.child("searches"),
            GoStrings(Some(searches)),
            format!("must not have more than {MAX_DNS_SEARCH_LIST_CHARS} characters (including spaces) in the search list"),
        ));
    }
    for (i, search) in searches.iter().enumerate() {
        // RelaxedDNSSearchValidation is on by default in 1.33: "." and underscores pass.
        if search == "." {
            continue;
        }
        let trimmed = search.strip_suffix('.').unwrap_or(search);
        errs.extend(to_errors(
            &path.child("searches").index(i),
            trimmed,
            is_dns1123_subdomain_with_underscore(trimmed),
        ));
    }
    for (i, o) in cfg.options.iter().flatten().enumerate() {
        if s(&o.name).is_empty() {
            errs.push(FieldError::required(
                &path.child("options").index(i),
                "must not be empty",
            ));
        }
    }
    errs
}

fn is_dns1123_subdomain_with_underscore(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > names::DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(names::max_len_error(names::DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    let label_ok = |l: &str| {
        let l = l.strip_prefix('_').unwrap_or(l);
        let b = l.as_bytes();
        !b.is_empty()
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
            && b.iter()
                .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
    };
    if value.is_empty() || !value.split('.').all(label_ok) {
        errs.push(names::regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '_', '-' or '.', and must start and end with an alphanumeric character",
            "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
            &["example.com"],
        ));
    }
    errs
}

fn is_valid_sysctl_name(name: &str) -> bool {
    if name.len() > SYSCTL_MAX_LENGTH || name.is_empty() {
        return false;
    }
    let seg_ok = |seg: &str| {
        let b = seg.as_bytes();
        !b.is_empty()
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
            && b.iter()
                .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
    };
    name.split(['.', '/']).all(seg_ok)
}

fn validate_pod_security_context(
    sc: Option<&PodSecurityContext>,
    spec: &PodSpec,
    path: &Path,
) -> ErrorList {
    let Some(sc) = sc else { return Vec::new() };
    let mut errs = Vec::new();
    let id_check = |v: Option<i64>, child: &str, errs: &mut ErrorList| {
        if let Some(v) = v {
            errs.extend(
                names::is_valid_id(v)
                    .into_iter()
                    .map(|m| FieldError::invalid(&path.child(child), v, m)),
            );
        }
    };
    id_check(sc.fs_group, "fsGroup", &mut errs);
    id_check(sc.run_as_user, "runAsUser", &mut errs);
    id_check(sc.run_as_group, "runAsGroup", &mut errs);
    for (g, gid) in sc.supplemental_groups.iter().flatten().enumerate() {
        errs.extend(
            names::is_valid_id(*gid)
                .into_iter()
                .map(|m| FieldError::invalid(&path.child("supplementalGroups").index(g), *gid, m)),
        );
    }
    if spec.share_process_namespace == Some(true) && spec.host_pid == Some(true) {
        errs.push(FieldError::invalid(
            &path.child("shareProcessNamespace"),
            true,
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    let mut sysctl_names = BTreeSet::new();
    for (i, sy) in sc.sysctls.iter().flatten().enumerate() {
        let np = path.child("sysctls").index(i).child("name");
        if sy.name.is_empty() {
            errs.push(FieldError::required(&np, ""));
        } else if !is_valid_sysctl_name(&sy.name) {
            errs.push(FieldError::invalid(
                &np,
                &sy.name,
                format!(
                    "must have at most {SYSCTL_MAX_LENGTH} characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$"
                ),
            ));
        } else if sysctl_names.contains(&sy.name) {
            errs.push(FieldError::duplicate(&np, &sy.name));
        }
        let net = sy.name.starts_with("net.") || sy.name.starts_with("net/");
        let ipc = sy.name.starts_with("kernel.shm")
            || sy.name.starts_with("kernel.msg")
            || sy.name.starts_with("kernel.sem")
            || sy.name.starts_with("fs.mqueue.");
        if spec.host_network == Some(true) && net {
            errs.push(FieldError::invalid(
                &np,
                &sy.name,
                "may not be specified when 'hostNetwork' is true",
            ));
        } else if spec.host_ipc == Some(true) && ipc {
            errs.push(FieldError::invalid(
                &np,
                &sy.name,
                "may not be specified when 'hostIPC' is true",
            ));
        }
        sysctl_names.insert(sy.name.clone());
    }
    if let Some(p) = &sc.fs_group_change_policy
        && p != "OnRootMismatch"
        && p != "Always"
    {
        errs.push(FieldError::not_supported(
            &path.child("fsGroupChangePolicy"),
            p.as_str(),
            &["Always", "OnRootMismatch"],
        ));
    }
    errs.extend(validate_seccomp_profile(
        sc.seccomp_profile.as_ref(),
        &path.child("seccompProfile"),
    ));
    errs.extend(validate_apparmor_profile(
        sc.app_armor_profile.as_ref(),
        &path.child("appArmorProfile"),
    ));
    if let Some(p) = &sc.supplemental_groups_policy
        && p != "Merge"
        && p != "Strict"
    {
        errs.push(FieldError::not_supported(
            &path.child("supplementalGroupsPolicy"),
            p.as_str(),
            &["Merge", "Strict"],
        ));
    }
    if let Some(p) = &sc.se_linux_change_policy
        && p != "Recursive"
        && p != "MountOption"
    {
        errs.push(FieldError::not_supported(
            &path.child("seLinuxChangePolicy"),
            p.as_str(),
            &["MountOption", "Recursive"],
        ));
    }
    errs
}

// ---------------------------------------------------------------------------------------
// PodSpec

/// `ValidatePodSpec`. `pod_name` is the Pod's own name (for ephemeral volume PVC names).
pub(crate) fn validate_pod_spec(
    spec: &PodSpec,
    pod_name: Option<&str>,
    path: &Path,
    opts: PodOpts,
) -> ErrorList {
    let mut errs = Vec::new();
    let grace = spec.termination_grace_period_seconds;
    if grace.is_none() {
        errs.push(FieldError::required(
            &path.child("terminationGracePeriodSeconds"),
            "",
        ));
    }
    let host_users = spec.host_users.is_none_or(|h| h);
    let restart = s(&spec.restart_policy);
    let (volumes, verrs) = validate_volumes(
        spec.volumes.as_deref().unwrap_or(&[]),
        pod_name,
        &path.child("volumes"),
        opts,
    );
    errs.extend(verrs);

    let mut claim_names = BTreeSet::new();
    for (i, c) in spec.resource_claims.iter().flatten().enumerate() {
        let cp = path.child("resourceClaims").index(i);
        if c.name.is_empty() {
            errs.push(FieldError::required(&cp.child("name"), ""));
        } else if claim_names.contains(&c.name) {
            errs.push(FieldError::duplicate(&cp.child("name"), &c.name));
        } else {
            errs.extend(to_errors(
                &cp.child("name"),
                &c.name,
                names::is_dns1123_label(&c.name),
            ));
            claim_names.insert(c.name.clone());
        }
        match (&c.resource_claim_name, &c.resource_claim_template_name) {
            (Some(_), Some(_)) => {
                errs.push(FieldError::invalid(&cp, Json(c), "at most one of `resourceClaimName` or `resourceClaimTemplateName` may be specified"))
            }
            (None, None) => {
                errs.push(FieldError::invalid(&cp, Json(c), "must specify one of: `resourceClaimName`, `resourceClaimTemplateName`"))
            }
            _ => {}
        }
        for (v, child) in [
            (&c.resource_claim_name, "resourceClaimName"),
            (&c.resource_claim_template_name, "resourceClaimTemplateName"),
        ] {
            if let Some(v) = v {
                errs.extend(to_errors(
                    &cp.child(child),
                    v,
                    names::is_dns1123_subdomain(v),
                ));
            }
        }
    }

    // Regular containers.
    let cpath = path.child("containers");
    if spec.containers.is_empty() {
        errs.push(FieldError::required(&cpath, ""));
    } else {
        let mut seen = BTreeSet::new();
        for (i, c) in spec.containers.iter().enumerate() {
            let p = cpath.index(i);
            errs.extend(validate_container_common(
                c,
                &volumes,
                &claim_names,
                &p,
                restart,
                host_users,
                opts,
            ));
            if !seen.insert(c.name.clone()) {
                errs.push(FieldError::duplicate(&p.child("name"), &c.name));
            }
            errs.extend(validate_probes_and_lifecycle(c, grace, &p));
            if c.restart_policy.is_some() {
                errs.push(FieldError::forbidden(
                    &p.child("restartPolicy"),
                    "may not be set for non-init containers",
                ));
            }
        }
        let all: Vec<&Container> = spec.containers.iter().collect();
        errs.extend(host_port_conflicts(&all, &cpath, &mut BTreeSet::new()));
    }

    // Init containers.
    let ipath = path.child("initContainers");
    let mut all_names: BTreeSet<String> = spec.containers.iter().map(|c| c.name.clone()).collect();
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        let p = ipath.index(i);
        errs.extend(validate_container_common(
            c,
            &volumes,
            &claim_names,
            &p,
            restart,
            host_users,
            opts,
        ));
        let mut restart_always = false;
        if let Some(rp) = &c.restart_policy {
            if rp != "Always" {
                errs.push(FieldError::not_supported(
                    &p.child("restartPolicy"),
                    rp.as_str(),
                    &["Always"],
                ));
            }
            restart_always = rp == "Always";
        }
        if all_names.contains(&c.name) {
            errs.push(FieldError::duplicate(&p.child("name"), &c.name));
        } else if !c.name.is_empty() {
            all_names.insert(c.name.clone());
        }
        errs.extend(host_port_conflicts(&[c], &ipath, &mut BTreeSet::new()));
        if restart_always {
            errs.extend(validate_probes_and_lifecycle(c, grace, &p));
        } else {
            for (set, child) in [
                (c.lifecycle.is_some(), "lifecycle"),
                (c.liveness_probe.is_some(), "livenessProbe"),
                (c.readiness_probe.is_some(), "readinessProbe"),
                (c.startup_probe.is_some(), "startupProbe"),
            ] {
                if set {
                    errs.push(FieldError::forbidden(
                        &p.child(child),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }

    // Ephemeral containers.
    let epath = path.child("ephemeralContainers");
    let other_names: BTreeSet<String> = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .map(|c| c.name.clone())
        .collect();
    let mut every = other_names.clone();
    for (i, ec) in spec.ephemeral_containers.iter().flatten().enumerate() {
        let p = epath.index(i);
        let c = ephemeral_as_container(ec);
        errs.extend(validate_container_common(
            &c,
            &volumes,
            &claim_names,
            &p,
            restart,
            host_users,
            opts,
        ));
        errs.extend(validate_image_whitespace(s(&c.image), &p.child("image")));
        if !every.insert(ec.name.clone()) {
            errs.push(FieldError::duplicate(&p.child("name"), &ec.name));
        }
        if let Some(t) = ec
            .target_container_name
            .as_deref()
            .filter(|t| !t.is_empty())
            && !other_names.contains(t)
        {
            errs.push(FieldError::not_found(&p.child("targetContainerName"), t));
        }
        // The fields an ephemeral container may not set, in Go struct order.
        for (set, child) in [
            (ec.ports.as_ref().is_some_and(|v| !v.is_empty()), "ports"),
            (
                ec.resources
                    .as_ref()
                    .is_some_and(|r| *r != ResourceRequirements::default()),
                "resources",
            ),
            (
                ec.resize_policy.as_ref().is_some_and(|v| !v.is_empty()),
                "resizePolicy",
            ),
            (ec.restart_policy.is_some(), "restartPolicy"),
            (ec.liveness_probe.is_some(), "livenessProbe"),
            (ec.readiness_probe.is_some(), "readinessProbe"),
            (ec.startup_probe.is_some(), "startupProbe"),
            (ec.lifecycle.is_some(), "lifecycle"),
        ] {
            if set {
                errs.push(FieldError::forbidden(
                    &p.child(child),
                    "cannot be set for an Ephemeral Container",
                ));
            }
        }
        for (j, vm) in ec.volume_mounts.iter().flatten().enumerate() {
            let vp = p.child("volumeMounts").index(j);
            if !s(&vm.sub_path).is_empty() {
                errs.push(FieldError::forbidden(
                    &vp.child("subPath"),
                    "cannot be set for an Ephemeral Container",
                ));
            }
            if !s(&vm.sub_path_expr).is_empty() {
                errs.push(FieldError::forbidden(
                    &vp.child("subPathExpr"),
                    "cannot be set for an Ephemeral Container",
                ));
            }
        }
    }

    // hostNetwork: host ports must equal container ports.
    if spec.host_network == Some(true) {
        for (i, c) in spec.containers.iter().enumerate() {
            for (j, port) in c.ports.iter().flatten().enumerate() {
                let hp = port.host_port.unwrap_or(0);
                if (opts.resource_is_pod || hp != 0) && hp != port.container_port {
                    errs.push(FieldError::invalid(
                        &cpath.index(i).child("ports").index(j).child("hostPort"),
                        hp,
                        "must match `containerPort` when `hostNetwork` is true",
                    ));
                }
            }
        }
    }
    match restart {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(FieldError::required(&path.child("restartPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            &path.child("restartPolicy"),
            other,
            &["Always", "OnFailure", "Never"],
        )),
    }
    let dns = s(&spec.dns_policy);
    match dns {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(FieldError::required(&path.child("dnsPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            &path.child("dnsPolicy"),
            other,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    errs.extend(validate_labels(
        spec.node_selector.as_ref(),
        &path.child("nodeSelector"),
    ));
    errs.extend(validate_pod_security_context(
        spec.security_context.as_ref(),
        spec,
        &path.child("securityContext"),
    ));
    for (i, ps) in spec.image_pull_secrets.iter().flatten().enumerate() {
        let _ = (i, ps); // LocalObjectReference has only a name: nothing else can be set.
    }
    if let Some(a) = &spec.affinity {
        errs.extend(validate_affinity(a, &path.child("affinity")));
    }
    errs.extend(validate_dns_config(
        spec.dns_config.as_ref(),
        dns,
        &path.child("dnsConfig"),
    ));
    for (i, g) in spec.readiness_gates.iter().flatten().enumerate() {
        let p = path.child("readinessGates").index(i).child("conditionType");
        errs.extend(to_errors(
            &p,
            &g.condition_type,
            names::is_qualified_name(&g.condition_type),
        ));
    }
    let mut gates = BTreeSet::new();
    for (i, g) in spec.scheduling_gates.iter().flatten().enumerate() {
        let p = path.child("schedulingGates").index(i);
        errs.extend(to_errors(&p, &g.name, names::is_qualified_name(&g.name)));
        if !gates.insert(g.name.clone()) {
            errs.push(FieldError::duplicate(&p, &g.name));
        }
    }
    errs.extend(validate_topology_spread(
        spec.topology_spread_constraints.as_deref().unwrap_or(&[]),
        &path.child("topologySpreadConstraints"),
    ));
    if !host_users {
        for (set, child) in [
            (spec.host_network == Some(true), "hostNetwork"),
            (spec.host_pid == Some(true), "HostPID"),
            (spec.host_ipc == Some(true), "HostIPC"),
        ] {
            if set {
                errs.push(FieldError::forbidden(
                    &path.child(child),
                    "when `pod.Spec.HostUsers` is false",
                ));
            }
        }
    }
    let sa = s(&spec.service_account_name);
    if !sa.is_empty() {
        errs.extend(to_errors(
            &path.child("serviceAccountName"),
            sa,
            names::is_dns1123_subdomain(sa),
        ));
    }
    let node = s(&spec.node_name);
    if !node.is_empty() {
        errs.extend(to_errors(
            &path.child("nodeName"),
            node,
            names::is_dns1123_subdomain(node),
        ));
    }
    if let Some(ads) = spec.active_deadline_seconds
        && !(1..=MAX_INT32).contains(&ads)
    {
        errs.push(FieldError::invalid(
            &path.child("activeDeadlineSeconds"),
            ads,
            names::inclusive_range_error(1, MAX_INT32),
        ));
    }
    for (v, child) in [
        (s(&spec.hostname), "hostname"),
        (s(&spec.subdomain), "subdomain"),
    ] {
        if !v.is_empty() {
            errs.extend(to_errors(&path.child(child), v, names::is_dns1123_label(v)));
        }
    }
    errs.extend(validate_tolerations(
        spec.tolerations.as_deref().unwrap_or(&[]),
        &path.child("tolerations"),
    ));
    for (i, ha) in spec.host_aliases.iter().flatten().enumerate() {
        let hp = path.child("hostAliases").index(i);
        errs.extend(names::is_valid_ip(&hp.child("ip"), &ha.ip));
        for (j, h) in ha.hostnames.iter().flatten().enumerate() {
            errs.extend(to_errors(
                &hp.child("hostnames").index(j),
                h,
                names::is_dns1123_subdomain(h),
            ));
        }
    }
    let pc = s(&spec.priority_class_name);
    if !pc.is_empty() {
        errs.extend(to_errors(
            &path.child("priorityClassName"),
            pc,
            names::is_dns1123_subdomain(pc),
        ));
    }
    if let Some(rc) = &spec.runtime_class_name {
        errs.extend(to_errors(
            &path.child("runtimeClassName"),
            rc,
            names::is_dns1123_subdomain(rc),
        ));
    }
    if let Some(pp) = &spec.preemption_policy {
        errs.extend(validate_preemption_policy(
            pp,
            &path.child("preemptionPolicy"),
        ));
    }
    if let Some(oh) = &spec.overhead {
        let r = ResourceRequirements {
            limits: Some(oh.clone()),
            ..Default::default()
        };
        errs.extend(validate_resource_requirements(
            &r,
            &BTreeSet::new(),
            &path.child("overhead"),
        ));
    }
    if let Some(os) = &spec.os {
        let op = path.child("os");
        if os.name.is_empty() {
            errs.push(FieldError::required(&op.child("name"), "cannot be empty"));
        } else if os.name != "linux" && os.name != "windows" {
            errs.push(FieldError::not_supported(
                &op,
                os.name.as_str(),
                &["linux", "windows"],
            ));
        } else if os.name == "linux" {
            if spec
                .security_context
                .as_ref()
                .is_some_and(|sc| sc.windows_options.is_some())
            {
                errs.push(FieldError::forbidden(
                    &path.child("securityContext").child("windowsOptions"),
                    "windows options cannot be set for a linux pod",
                ));
            }
            let groups = [
                (&spec.containers[..], "containers"),
                (
                    spec.init_containers.as_deref().unwrap_or(&[]),
                    "initContainers",
                ),
            ];
            for (list, child) in groups {
                for (i, c) in list.iter().enumerate() {
                    if c.security_context
                        .as_ref()
                        .is_some_and(|sc| sc.windows_options.is_some())
                    {
                        errs.push(FieldError::forbidden(
                            &path
                                .child(child)
                                .index(i)
                                .child("securityContext")
                                .child("windowsOptions"),
                            "windows options cannot be set for a linux pod",
                        ));
                    }
                }
            }
        }
    }
    errs
}

/// `ValidatePreemptionPolicy`.
pub(crate) fn validate_preemption_policy(p: &str, path: &Path) -> ErrorList {
    match p {
        "PreemptLowerPriority" | "Never" => Vec::new(),
        "" => vec![FieldError::required(path, "")],
        other => vec![FieldError::not_supported(
            path,
            other,
            &["PreemptLowerPriority", "Never"],
        )],
    }
}

const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";
const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";
const APPARMOR_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";
const SECCOMP_POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
const SECCOMP_CONTAINER_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";

fn validate_seccomp_annotation(p: &str, path: &Path) -> ErrorList {
    if p == "runtime/default" || p == "docker/default" || p == "unconfined" {
        return Vec::new();
    }
    if let Some(rest) = p.strip_prefix("localhost/") {
        return validate_local_descending_path(rest, path);
    }
    vec![FieldError::invalid(
        path,
        p,
        "must be a valid seccomp profile",
    )]
}

/// `ValidatePodSpecificAnnotations`.
fn validate_pod_annotations(
    ann: Option<&BTreeMap<String, String>>,
    spec: &PodSpec,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    let Some(ann) = ann else { return errs };
    if let Some(v) = ann.get(MIRROR_POD_ANNOTATION)
        && s(&spec.node_name).is_empty()
    {
        errs.push(FieldError::invalid(
            &path.key(MIRROR_POD_ANNOTATION),
            v,
            "must set spec.nodeName if mirror pod annotation is set",
        ));
    }
    if let Some(v) = ann.get(POD_DELETION_COST)
        && v.parse::<i32>().is_err()
    {
        errs.push(FieldError::invalid(
            &path.key(POD_DELETION_COST),
            v,
            "must be a 32bit integer",
        ));
    }
    if let Some(p) = ann.get(SECCOMP_POD_ANNOTATION) {
        errs.extend(validate_seccomp_annotation(
            p,
            &path.child(SECCOMP_POD_ANNOTATION),
        ));
    }
    for (k, p) in ann {
        if k.starts_with(SECCOMP_CONTAINER_PREFIX) {
            errs.extend(validate_seccomp_annotation(p, &path.child(k)));
        }
    }
    for (k, p) in ann {
        let Some(container) = k.strip_prefix(APPARMOR_PREFIX) else {
            continue;
        };
        let has = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .any(|c| c.name == container)
            || spec
                .ephemeral_containers
                .iter()
                .flatten()
                .any(|c| c.name == container);
        if !has {
            errs.push(FieldError::invalid(
                &path.key(k),
                container,
                "container not found",
            ));
        }
        if !(p.is_empty()
            || p == "runtime/default"
            || p == "unconfined"
            || p.starts_with("localhost/"))
        {
            errs.push(FieldError::invalid(
                &path.key(k),
                p,
                format!(
                    "invalid AppArmor profile name: {}",
                    super::field::go_quote(p)
                ),
            ));
        }
    }
    errs
}

/// `ValidatePodTemplateSpec` for templates embedded in workloads.
pub(crate) fn validate_pod_template_spec(
    t: &PodTemplateSpec,
    path: &Path,
    opts: PodOpts,
) -> ErrorList {
    let meta = t.metadata.clone().unwrap_or_default();
    let mut errs = validate_labels(meta.labels.as_ref(), &path.child("labels"));
    errs.extend(validate_annotations(
        meta.annotations.as_ref(),
        &path.child("annotations"),
    ));
    let default_spec = PodSpec::default();
    let spec = t.spec.as_ref().unwrap_or(&default_spec);
    errs.extend(validate_pod_annotations(
        meta.annotations.as_ref(),
        spec,
        &path.child("annotations"),
    ));
    errs.extend(validate_pod_spec(spec, None, &path.child("spec"), opts));
    if spec
        .ephemeral_containers
        .as_ref()
        .is_some_and(|e| !e.is_empty())
    {
        errs.push(FieldError::forbidden(
            &path.child("spec").child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}

fn validate_pod_metadata_and_spec(pod: &Pod, opts: PodOpts) -> ErrorList {
    let spec_path = Path::new("spec");
    let default_spec = PodSpec::default();
    let spec = pod.spec.as_ref().unwrap_or(&default_spec);
    let mut errs = validate_pod_annotations(
        pod.metadata.annotations.as_ref(),
        spec,
        &Path::new("metadata").child("annotations"),
    );
    errs.extend(validate_pod_spec(
        spec,
        pod.metadata.name.as_deref(),
        &spec_path,
        opts,
    ));
    if s(&spec.service_account_name).is_empty() {
        for (vi, v) in spec.volumes.iter().flatten().enumerate() {
            for (si, src) in v
                .projected
                .iter()
                .flat_map(|p| p.sources.iter().flatten())
                .enumerate()
            {
                if src.service_account_token.is_some() {
                    errs.push(FieldError::forbidden(
                        &spec_path
                            .child("volumes")
                            .index(vi)
                            .child("projected")
                            .child("sources")
                            .index(si)
                            .child("serviceAccountToken"),
                        "must not be specified when serviceAccountName is not set",
                    ));
                }
            }
        }
    }
    for (list, child) in [
        (&spec.containers[..], "containers"),
        (
            spec.init_containers.as_deref().unwrap_or(&[]),
            "initContainers",
        ),
    ] {
        for (i, c) in list.iter().enumerate() {
            errs.extend(validate_image_whitespace(
                s(&c.image),
                &spec_path.child(child).index(i).child("image"),
            ));
        }
    }
    errs
}

/// `ValidatePodCreate` minus metadata.
pub(crate) fn validate_pod_create(pod: &Pod, global: &ValidationOptions) -> ErrorList {
    let opts = PodOpts {
        resource_is_pod: true,
        global,
    };
    let mut errs = validate_pod_metadata_and_spec(pod, opts);
    let default_spec = PodSpec::default();
    let spec = pod.spec.as_ref().unwrap_or(&default_spec);
    let sp = Path::new("spec");
    if spec
        .ephemeral_containers
        .as_ref()
        .is_some_and(|e| !e.is_empty())
    {
        errs.push(FieldError::forbidden(
            &sp.child("ephemeralContainers"),
            "cannot be set on create",
        ));
    }
    if !s(&spec.node_name).is_empty()
        && spec
            .scheduling_gates
            .as_ref()
            .is_some_and(|g| !g.is_empty())
    {
        errs.push(FieldError::forbidden(
            &sp.child("nodeName"),
            "cannot be set until all schedulingGates have been cleared",
        ));
    }
    errs
}

const UPDATABLE_POD_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

fn validate_container_updates(
    new: &[Container],
    old: &[Container],
    path: &Path,
) -> (ErrorList, bool) {
    if new.len() != old.len() {
        return (
            vec![FieldError::forbidden(
                path,
                "pod updates may not add or remove containers",
            )],
            true,
        );
    }
    let mut errs = Vec::new();
    for (i, c) in new.iter().enumerate() {
        let image = s(&c.image);
        if image.is_empty() {
            errs.push(FieldError::required(&path.index(i).child("image"), ""));
        }
        errs.extend(validate_image_whitespace(
            image,
            &path.index(i).child("image"),
        ));
    }
    (errs, false)
}

fn tolerations_only_added(new: &[Toleration], old: &[Toleration], path: &Path) -> ErrorList {
    for o in old {
        let found = new.iter().any(|n| {
            let mut oc = o.clone();
            oc.toleration_seconds = n.toleration_seconds;
            oc == *n
        });
        if !found {
            return vec![FieldError::forbidden(
                path,
                "existing toleration can not be modified except its tolerationSeconds",
            )];
        }
    }
    validate_tolerations(new, path)
}

/// `ValidatePodUpdate` minus metadata: which spec fields may change, plus the full spec
/// checks of the new object.
pub(crate) fn validate_pod_update(new: &Pod, old: &Pod, global: &ValidationOptions) -> ErrorList {
    let opts = PodOpts {
        resource_is_pod: true,
        global,
    };
    let mut errs = validate_pod_metadata_and_spec(new, opts);
    errs.extend(validate_pod_annotation_updates(new, old));
    let default_spec = PodSpec::default();
    let ns = new.spec.as_ref().unwrap_or(&default_spec);
    let os = old.spec.as_ref().unwrap_or(&default_spec);
    let sp = Path::new("spec");
    let (e, stop) =
        validate_container_updates(&ns.containers, &os.containers, &sp.child("containers"));
    errs.extend(e);
    if stop {
        return errs;
    }
    let empty: Vec<Container> = Vec::new();
    let (e, stop) = validate_container_updates(
        ns.init_containers.as_ref().unwrap_or(&empty),
        os.init_containers.as_ref().unwrap_or(&empty),
        &sp.child("initContainers"),
    );
    errs.extend(e);
    if stop {
        return errs;
    }
    match (ns.active_deadline_seconds, os.active_deadline_seconds) {
        (Some(n), old_ads) => {
            if !(0..=MAX_INT32).contains(&n) {
                errs.push(FieldError::invalid(
                    &sp.child("activeDeadlineSeconds"),
                    n,
                    names::inclusive_range_error(0, MAX_INT32),
                ));
                return errs;
            }
            if old_ads.is_some_and(|o| o < n) {
                errs.push(FieldError::invalid(
                    &sp.child("activeDeadlineSeconds"),
                    n,
                    "must be less than or equal to previous value",
                ));
                return errs;
            }
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            &sp.child("activeDeadlineSeconds"),
            Raw("null".to_string()),
            "must not update from a positive integer to nil value",
        )),
        (None, None) => {}
    }
    let no_tol: Vec<Toleration> = Vec::new();
    errs.extend(tolerations_only_added(
        ns.tolerations.as_ref().unwrap_or(&no_tol),
        os.tolerations.as_ref().unwrap_or(&no_tol),
        &sp.child("tolerations"),
    ));
    // Scheduling gates: only deletions.
    let old_gates: BTreeSet<&str> = os
        .scheduling_gates
        .iter()
        .flatten()
        .map(|g| g.name.as_str())
        .collect();
    let mut added: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, g) in ns.scheduling_gates.iter().flatten().enumerate() {
        added.insert(g.name.as_str(), i);
    }
    for (name, i) in added {
        if !old_gates.contains(name) {
            errs.push(FieldError::forbidden(
                &sp.child("schedulingGates").index(i).child("name"),
                format!("only deletion is allowed, but found new scheduling gate '{name}'"),
            ));
        }
    }
    if super::sem_eq(ns, os) {
        return errs;
    }
    let mut munged = ns.clone();
    for (c, o) in munged.containers.iter_mut().zip(os.containers.iter()) {
        c.image = o.image.clone();
    }
    if let (Some(nc), Some(oc)) = (munged.init_containers.as_mut(), os.init_containers.as_ref()) {
        for (c, o) in nc.iter_mut().zip(oc.iter()) {
            c.image = o.image.clone();
        }
    }
    munged.active_deadline_seconds = os.active_deadline_seconds;
    munged.scheduling_gates = os.scheduling_gates.clone();
    munged.tolerations = os.tolerations.clone();
    if os.termination_grace_period_seconds.is_some_and(|g| g < 0)
        && munged.termination_grace_period_seconds == Some(1)
    {
        munged.termination_grace_period_seconds = os.termination_grace_period_seconds;
    }
    if os.scheduling_gates.as_ref().is_some_and(|g| !g.is_empty()) {
        // Gated pods may add node selector entries and narrow node affinity.
        if !super::sem_eq(&munged.node_selector, &os.node_selector) {
            let empty = BTreeMap::new();
            let old_sel = os.node_selector.as_ref().unwrap_or(&empty);
            let new_sel = munged.node_selector.as_ref().unwrap_or(&empty);
            if old_sel.iter().any(|(k, v)| new_sel.get(k) != Some(v)) {
                errs.push(FieldError::invalid(
                    &sp.child("nodeSelector"),
                    GoStrMap(munged.node_selector.as_ref()),
                    "only additions to spec.nodeSelector are allowed (no mutations or deletions)",
                ));
            }
            munged.node_selector = os.node_selector.clone();
        }
        let old_na = os.affinity.as_ref().and_then(|a| a.node_affinity.clone());
        let new_na = munged
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.clone());
        if !super::sem_eq(&old_na, &new_na) {
            errs.extend(validate_node_affinity_mutation(
                &sp.child("affinity").child("nodeAffinity"),
                new_na.as_ref(),
                old_na.as_ref(),
            ));
            match (&mut munged.affinity, &old_na) {
                (None, None) => {}
                (None, Some(o)) => {
                    munged.affinity = Some(Affinity {
                        node_affinity: Some(o.clone()),
                        ..Default::default()
                    })
                }
                (Some(a), _)
                    if os.affinity.is_none()
                        && a.pod_affinity.is_none()
                        && a.pod_anti_affinity.is_none() =>
                {
                    munged.affinity = None;
                }
                (Some(a), o) => a.node_affinity = o.clone(),
            }
        }
    }
    if !super::sem_eq(&munged, os) {
        errs.push(FieldError::forbidden(
            &sp,
            format!(
                "pod updates may not change fields other than {UPDATABLE_POD_FIELDS}\n{}",
                super::spec_diff(os, &munged)
            ),
        ));
    }
    errs
}

fn validate_node_affinity_mutation(
    path: &Path,
    new: Option<&clipper_proto::api::core::v1::NodeAffinity>,
    old: Option<&clipper_proto::api::core::v1::NodeAffinity>,
) -> ErrorList {
    let Some(old_req) = old.and_then(|o| {
        o.required_during_scheduling_ignored_during_execution
            .as_ref()
    }) else {
        return Vec::new();
    };
    let old_terms = &old_req.node_selector_terms;
    let empty = Vec::new();
    let new_terms = new
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .map(|r| &r.node_selector_terms)
        .unwrap_or(&empty);
    let tp = path
        .child("requiredDuringSchedulingIgnoredDuringExecution")
        .child("nodeSelectorTerms");
    if !old_terms.is_empty() && old_terms.len() != new_terms.len() {
        return vec![FieldError::invalid(
            &tp,
            Json(new_terms),
            "no additions/deletions to non-empty NodeSelectorTerms list are allowed",
        )];
    }
    let mut errs = Vec::new();
    for (i, (o, n)) in old_terms.iter().zip(new_terms.iter()).enumerate() {
        let only_additions =
            |ol: &Option<Vec<NodeSelectorRequirement>>,
             nl: &Option<Vec<NodeSelectorRequirement>>| {
                let ol = ol.as_deref().unwrap_or(&[]);
                let nl = nl.as_deref().unwrap_or(&[]);
                ol.is_empty() || (nl.len() >= ol.len() && nl[..ol.len()] == *ol)
            };
        let o_empty = o.match_expressions.as_ref().is_none_or(|v| v.is_empty())
            && o.match_fields.as_ref().is_none_or(|v| v.is_empty());
        let n_set = n.match_expressions.as_ref().is_some_and(|v| !v.is_empty())
            || n.match_fields.as_ref().is_some_and(|v| !v.is_empty());
        let ok = !(o_empty && n_set)
            && only_additions(&o.match_expressions, &n.match_expressions)
            && only_additions(&o.match_fields, &n.match_fields);
        if !ok {
            errs.push(FieldError::invalid(
                &tp.index(i),
                Json(n),
                "only additions are allowed (no mutations or deletions)",
            ));
        }
    }
    errs
}

fn validate_pod_annotation_updates(new: &Pod, old: &Pod) -> ErrorList {
    let path = Path::new("metadata").child("annotations");
    let empty = BTreeMap::new();
    let na = new.metadata.annotations.as_ref().unwrap_or(&empty);
    let oa = old.metadata.annotations.as_ref().unwrap_or(&empty);
    let mut errs = Vec::new();
    for (k, ov) in oa {
        if na.get(k) == Some(ov) {
            continue;
        }
        if k.starts_with(APPARMOR_PREFIX) {
            errs.push(FieldError::forbidden(
                &path.key(k),
                "may not remove or update AppArmor annotations",
            ));
        }
        if k == MIRROR_POD_ANNOTATION {
            errs.push(FieldError::forbidden(
                &path.key(k),
                "may not remove or update mirror pod annotation",
            ));
        }
    }
    for k in na.keys() {
        if oa.contains_key(k) {
            continue;
        }
        if k.starts_with(APPARMOR_PREFIX) {
            errs.push(FieldError::forbidden(
                &path.key(k),
                "may not add AppArmor annotations",
            ));
        }
        if k == MIRROR_POD_ANNOTATION {
            errs.push(FieldError::forbidden(
                &path.key(k),
                "may not add mirror pod annotation",
            ));
        }
    }
    errs
}

/// A template restartPolicy check shared by workloads: must be Always.
pub(crate) fn template_restart_always(t: &PodTemplateSpec, path: &Path, kind: &str) -> ErrorList {
    let mut errs = Vec::new();
    let spec = t.spec.as_ref();
    let rp = spec
        .map(|s| s.restart_policy.as_deref().unwrap_or(""))
        .unwrap_or("");
    if rp != "Always" {
        errs.push(FieldError::not_supported(
            &path.child("spec").child("restartPolicy"),
            rp,
            &["Always"],
        ));
    }
    if spec.and_then(|s| s.active_deadline_seconds).is_some() {
        errs.push(FieldError::forbidden(
            &path.child("spec").child("activeDeadlineSeconds"),
            format!("activeDeadlineSeconds in {kind} is not Supported"),
        ));
    }
    errs
}
