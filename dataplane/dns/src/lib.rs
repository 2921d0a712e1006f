//! Clipper's cluster DNS server: the records of the Kubernetes DNS specification for Services,
//! their endpoints and Pods, answered from memory, and everything else forwarded upstream.
//!
//! - [`zone`] — the pure model: [`Zone`] holds Services, EndpointSlices and Pods and answers
//!   [`Zone::lookup`]; [`ZoneHandle`] shares it between the feeder and the server (readers never
//!   lock).
//! - [`server`] — [`DnsServer`]: UDP and TCP on one address, on hickory-server.
//! - [`forward`] — the forwarder: UDP, TCP after truncation, bounded timeouts.
//! - [`resolv`] — resolv.conf: the default upstreams, and a pod's file ([`pod_resolv_conf`]).
//!
//! ```ignore
//! let zone = ZoneHandle::new(Zone::new(ZoneConfig::default())?);
//! zone.update(|z| z.upsert_service(&service))?;           // from an informer
//! let upstreams = system_upstreams(&[listen])?;
//! let server = DnsServer::start(listen, zone.clone(), ForwardConfig::new(upstreams)).await?;
//! ```

pub mod forward;
pub mod resolv;
pub mod server;
pub mod zone;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use forward::{ForwardConfig, ForwardError};
pub use resolv::{ResolvConf, choose_upstreams, pod_resolv_conf, system_upstreams};
pub use server::DnsServer;
pub use zone::{Answer, DEFAULT_TTL, PodMode, Zone, ZoneConfig, ZoneError, ZoneHandle};

/// Re-exported so that callers name records and types without their own hickory dependency.
pub use hickory_proto::rr::{Name, RData, Record, RecordType};

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("binding the DNS server's {protocol} socket on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        protocol: &'static str,
        source: std::io::Error,
    },
    #[error("reading {}: {source}", path.display())]
    ReadResolvConf {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no upstream nameserver in {} other than this server itself", path.display())]
    NoUpstreams { path: PathBuf },
    #[error("the DNS server stopped: {0}")]
    Stopped(String),
    #[error(transparent)]
    Zone(#[from] ZoneError),
}
