//! The node agent (Kubernetes' kubelet): registers its Node and renews its Lease, runs the
//! pods bound to it through an OCI runtime (runc) with CNI networking, reports their
//! status, and serves their logs to the API server.

pub mod cni;
pub mod logs;
pub mod network;
pub mod oci;
pub mod runtime;
pub mod server;
