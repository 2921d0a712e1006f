//! Clipper's node service proxy: a sans-IO L4 core (service table, balancers, TCP connection
//! state machines, UDP flow table, metrics) under a thin io_uring driver.
//!
//! Architecture Invariant: everything outside [`uring`] is pure — no sockets, no clock, no
//! threads. Time enters as [`Nanos`] from an origin the caller chooses; randomness enters through
//! [`balance::Rng`]. The driver only executes the [`tcp::Action`]s the core emits and feeds
//! back what the kernel reported as [`tcp::Event`]s.

pub mod balance;
mod bufring;
pub mod config;
pub mod hash;
pub mod metrics;
pub mod picker;
pub mod service;
pub mod table;
pub mod tcp;
pub mod udp;
pub mod uring;

pub use config::Config;
pub use table::{Change, Table, TableHandle};
pub use uring::{DriverOptions, ProxyHandle, run, start, start_with};

/// Monotonic time in nanoseconds since an origin chosen by the caller (the driver uses the
/// moment it started). The core never reads a clock.
pub type Nanos = u64;

/// One second in [`Nanos`].
pub const SECOND: Nanos = 1_000_000_000;
/// One millisecond in [`Nanos`].
pub const MILLISECOND: Nanos = 1_000_000;
