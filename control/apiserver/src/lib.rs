//! clipper-apiserver: the Kubernetes REST API over HTTPS — the only component that talks
//! to the store.
//!
//! - [`registry`]: the built-in resources and their discovery metadata;
//! - [`object`]: objects of any kind behind one trait, and their codecs;
//! - [`served`]: the resources served now (built-ins plus custom resources), swapped
//!   atomically when CRDs change;
//! - [`status`]: errors as Kubernetes `Status` objects;
//! - [`strategy`]: per-kind write behaviour (status reset, generation, graceful deletion);
//! - [`fields`]: selectable fields for field selectors;
//! - [`admission`]: defaulting and validation of built-in objects, as Kubernetes does them;
//! - [`apply`]: server-side apply and managed fields (structured merge);
//! - [`auth`]: PKI, authentication (client certificates, service-account and bootstrap
//!   tokens), authorization (RBAC, node authorizer) and the default policy;
//! - [`crd`]: custom resources — structural schemas, validation, pruning, defaulting,
//!   status and scale, CRD naming and lifecycle;
//! - [`openapi`]: the /openapi/v3 and /openapi/v2 documents;
//! - [`patch`]: JSON patch, JSON merge patch and strategic merge patch;
//! - [`printers`]: server-side Table output.

// ApiError carries a Kubernetes Status (message, details, causes): large, but only on the
// error path, where an extra allocation per error would buy nothing.
#![allow(clippy::result_large_err)]

pub mod admission;
pub mod api;
pub mod apply;
pub mod auth;
pub mod cache;
pub mod certificates;
pub mod cluster_info;
pub mod crd;
pub mod crds;
pub mod encryption;
pub mod fields;
pub mod hooks;
pub mod http;
pub mod kubelet;
pub mod metrics;
pub mod namespaces;
pub mod object;
pub mod openapi;
pub mod patch;
pub mod printers;
pub mod quic;
pub mod registry;
pub mod run;
pub mod security;
pub mod served;
pub mod services;
pub mod status;
pub mod strategy;
