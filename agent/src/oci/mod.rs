//! The real container runtime: OCI images in a local store, unpacked into overlayfs
//! layers, and containers run by runc under a per-container shim.
//!
//! On-disk layout under the runtime's root (`/var/lib/clipper/agent` in production):
//!
//! - `images/` — the image store ([`image::ImageStore`]): `blobs/sha256/<hex>`,
//!   `index.json` (the references and the manifests they name), and `layers/<hex>/`,
//!   each layer blob unpacked once, whiteouts in overlayfs' form.
//! - `containers/<id>/` — one per container: `meta.json` (who it belongs to),
//!   `config.json` (the OCI bundle's), `rootfs/` (the overlay mount), `upper/` and
//!   `work/` (the overlay's writable part), `start.json` and `exit.json` (written by the
//!   shim), `shim.log` (the shim's own diagnostics), `attach.sock` (the shim's attach
//!   socket, [`attach`]).
//! - `runc/` — runc's state directory (`runc --root`).
//!
//! The container's output goes to the log path its spec names, in the CRI log format.

pub mod attach;
pub mod bundle;
pub mod exec;
pub mod image;
pub mod runc;
pub mod shim;

pub use image::{ImageError, ImageStore, ImageSummary};

/// The runc the agent runs by default: found on `PATH` (Debian's is `/usr/sbin/runc`).
pub const DEFAULT_RUNC: &str = "runc";
pub use runc::{OciConfig, OciRuntime};
pub use shim::shim_main;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, synced,
/// then renamed over the target. Readers see the old content or the new, never a part.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A unique temporary path next to `base` (same filesystem, so a rename can publish it).
pub(crate) fn temp_path(dir: &Path, stem: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    dir.join(format!(
        ".tmp-{stem}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// RFC 3339 in UTC with nanoseconds: `2026-11-27T20:00:00.123456789Z`.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Parses an RFC 3339 timestamp (any offset, any fraction).
pub(crate) fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(SystemTime::from)
}

/// `path` as a C string (paths with a NUL byte cannot name a file).
pub(crate) fn cpath(path: &Path) -> std::io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt as _;
    std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("path {} contains a NUL byte", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_with_nanoseconds() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::new(1_795_723_200, 123_456_789);
        let text = rfc3339(t);
        assert_eq!(text, "2026-11-26T20:00:00.123456789Z");
        assert_eq!(parse_rfc3339(&text), Some(t));
    }
}
