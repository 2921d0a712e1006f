//! Stable, seedable 64-bit hashing (FNV-1a folded through a SplitMix64 finaliser).
//!
//! Stable across processes and cores on purpose: Maglev permutations and client-IP affinity
//! must agree between the proxy's threads and across restarts, which `RandomState` would not.

use std::net::{IpAddr, SocketAddr};

/// SplitMix64's finaliser: spreads every input bit over the whole output.
#[must_use]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hashes `bytes` with `seed`; different seeds give independent-looking hashes.
#[must_use]
pub fn hash_bytes(seed: u64, bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ mix64(seed);
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix64(h)
}

/// Hashes an IP address (used as the session-affinity key).
#[must_use]
pub fn hash_ip(seed: u64, ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => hash_bytes(seed, &v4.octets()),
        IpAddr::V6(v6) => hash_bytes(seed, &v6.octets()),
    }
}

/// Hashes a socket address (IP and port).
#[must_use]
pub fn hash_addr(seed: u64, addr: SocketAddr) -> u64 {
    let mut buf = [0u8; 18];
    let n = match addr.ip() {
        IpAddr::V4(v4) => {
            buf[..4].copy_from_slice(&v4.octets());
            4
        }
        IpAddr::V6(v6) => {
            buf[..16].copy_from_slice(&v6.octets());
            16
        }
    };
    buf[n..n + 2].copy_from_slice(&addr.port().to_be_bytes());
    hash_bytes(seed, &buf[..n + 2])
}
