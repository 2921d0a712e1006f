//! Resource vectors and pod requests computed as Kubernetes computes them (init containers,
//! sidecars, overhead) plus the non-zero defaults kube-scheduler uses for scoring.

use std::collections::BTreeMap;

use clipper_proto::Quantity;
use clipper_proto::api::core::v1::{Container, Pod};

/// CPU a container without a cpu request counts as when scoring (kube-scheduler's
/// `DefaultMilliCPURequest`).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory a container without a memory request counts as when scoring (200 MiB,
/// kube-scheduler's `DefaultMemoryRequest`).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

pub const CPU: &str = "cpu";
pub const MEMORY: &str = "memory";
pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";
pub const PODS: &str = "pods";

/// A vector of resources: cpu in millicores, the others in their base unit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resource {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// Only meaningful for node allocatable (`pods`).
    pub allowed_pod_number: i64,
    /// Extended resources, hugepages and other scalar resources, by name.
    pub scalar: BTreeMap<String, i64>,
}

impl Resource {
    /// From a `ResourceList` (requests, allocatable, overhead).
    pub fn from_list(list: &BTreeMap<String, Quantity>) -> Resource {
        let mut r = Resource::default();
        for (name, q) in list {
            r.set(name, q);
        }
        r
    }

    fn set(&mut self, name: &str, q: &Quantity) {
        match name {
            CPU => self.milli_cpu = q.milli_value(),
            MEMORY => self.memory = q.value(),
            EPHEMERAL_STORAGE => self.ephemeral_storage = q.value(),
            PODS => self.allowed_pod_number = q.value(),
            _ => {
                self.scalar.insert(name.to_string(), q.value());
            }
        }
    }

    /// Adds `other` element-wise.
    pub fn add(&mut self, other: &Resource) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        self.allowed_pod_number += other.allowed_pod_number;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_default() += v;
        }
    }

    /// Subtracts `other` element-wise (removing a pod from a node).
    pub fn sub(&mut self, other: &Resource) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        self.allowed_pod_number -= other.allowed_pod_number;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_default() -= v;
        }
    }

    /// Element-wise maximum (`maxResourceList`).
    pub fn set_max(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        self.allowed_pod_number = self.allowed_pod_number.max(other.allowed_pod_number);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }

    /// True when the pod requests nothing the fit check looks at.
    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.values().all(|v| *v == 0)
    }

    /// The amount of resource `name` (cpu in millicores).
    pub fn get(&self, name: &str) -> i64 {
        match name {
            CPU => self.milli_cpu,
            MEMORY => self.memory,
            EPHEMERAL_STORAGE => self.ephemeral_storage,
            PODS => self.allowed_pod_number,
            _ => self.scalar.get(name).copied().unwrap_or(0),
        }
    }
}

/// Requests of one container; with `non_zero`, a missing cpu/memory request counts as the
/// scoring default (`NonMissingContainerRequests`).
fn container_requests(c: &Container, non_zero: bool) -> Resource {
    let empty = BTreeMap::new();
    let reqs = c
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .unwrap_or(&empty);
    let mut r = Resource::from_list(reqs);
    if non_zero {
        if !reqs.contains_key(CPU) {
            r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
        }
        if !reqs.contains_key(MEMORY) {
            r.memory = DEFAULT_MEMORY_REQUEST;
        }
    }
    r
}

fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// The pod's effective requests as Kubernetes 1.33 computes them (`PodRequests`):
/// `max(sum(app containers) + sum(sidecars), max over init containers i of
/// (init_i + sum(sidecars declared before i)))` + overhead.
///
/// With `non_zero`, cpu and memory missing from a container count as 100m / 200Mi (the
/// values kube-scheduler scores with); overhead is added either way.
pub fn pod_requests(pod: &Pod, non_zero: bool) -> Resource {
    let Some(spec) = pod.spec.as_ref() else {
        return Resource::default();
    };
    let mut reqs = Resource::default();
    for c in &spec.containers {
        reqs.add(&container_requests(c, non_zero));
    }
    let mut sidecars = Resource::default();
    let mut init_max = Resource::default();
    for c in spec.init_containers.iter().flatten() {
        let cr = container_requests(c, non_zero);
        if is_sidecar(c) {
            reqs.add(&cr);
            sidecars.add(&cr);
            init_max.set_max(&sidecars);
        } else {
            let mut tmp = cr;
            tmp.add(&sidecars);
            init_max.set_max(&tmp);
        }
    }
    reqs.set_max(&init_max);
    if let Some(overhead) = spec.overhead.as_ref() {
        reqs.add(&Resource::from_list(overhead));
    }
    reqs
}
