//! clipper-scheduler: the scheduler's pure decision core.
//!
//! - [`cache`]: the node cache — a single writer publishes immutable, persistent
//!   [`Snapshot`]s through `ArcSwap`; readers never lock. Pods are *assumed* onto a node
//!   before their bind is confirmed and *forgotten* if it fails.
//! - [`info`]: pods and nodes parsed once into [`PodInfo`] / [`NodeInfo`].
//! - [`resource`]: pod requests as Kubernetes 1.33 computes them (sidecars, overhead).
//! - [`plugins`] and [`topology`]: filters and scores with kube-scheduler's semantics and
//!   failure reasons.
//! - [`schedule`]: one scheduling cycle (percentageOfNodesToScore, round robin, parallel
//!   filtering, weighted scores, random tie-break) and the [`FitError`] message.
//! - [`preemption`]: victim selection and node choice for a pod that fits nowhere.
//! - [`volumes`]: VolumeBinding for claims already bound to volumes with node affinity.
//! - [`config`]: profiles (plugins, weights, arguments), validated.
//!
//! Architecture invariant: no I/O, no clock, no async runtime. Time and randomness come
//! in as arguments (`start_time_s` on pods, a seed for the tie-breaking RNG); the async
//! scheduler loop that watches the API and binds pods lives elsewhere and drives this.

pub mod cache;
pub mod config;
pub mod info;
pub mod plugins;
pub mod preemption;
pub mod resource;
pub mod schedule;
pub mod topology;
pub mod volumes;

#[cfg(test)]
mod tests;

pub use cache::{Cache, Snapshot, SnapshotReader};
pub use config::{Config, Plugin, Profile, ProfileConfig, SchedulerConfiguration};
pub use info::{NodeInfo, PodInfo};
pub use schedule::{
    FitError, Nominated, ScheduleError, ScheduleResult, Scheduler, num_feasible_nodes_to_find,
};
