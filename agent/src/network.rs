//! Pod networking as the pod workers see it: a network namespace per pod with an address,
//! set up and torn down through CNI plugins.

use std::net::IpAddr;
use std::path::PathBuf;

/// The pod a network attachment belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodRef {
    pub uid: String,
    pub namespace: String,
    pub name: String,
}

/// A pod's network: its namespace and address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub netns: PathBuf,
    pub ip: IpAddr,
}

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("{0}")]
    Failed(String),
}

#[async_trait::async_trait]
pub trait Network: Send + Sync + 'static {
    /// Creates the pod's network namespace and attaches it. Idempotent: a pod already set
    /// up gets its existing attachment back.
    async fn setup(&self, pod: &PodRef) -> Result<Attachment, NetworkError>;
    /// Detaches the pod and deletes its namespace, releasing its address. A pod not set
    /// up is fine.
    async fn teardown(&self, pod_uid: &str) -> Result<(), NetworkError>;
    /// The uids of the pods with a network set up (recovery after a restart).
    async fn list(&self) -> Result<Vec<String>, NetworkError>;
}
