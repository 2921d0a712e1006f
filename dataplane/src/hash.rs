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

/// A fast hasher for the small fixed-size keys of the proxy's own maps (socket addresses),
/// keyed per process: a multiply per written word, [`mix64`] at the end. Not for stable
/// hashes — use [`hash_bytes`] for those.
#[derive(Debug, Clone, Copy)]
pub struct AddrHasher(u64);

impl std::hash::Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        mix64(self.0)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            // The length keeps "a" and "a\0" apart.
            self.write_u64(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }

    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        // One multiply per word (as FxHash); `finish` spreads the bits.
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

/// Builds [`AddrHasher`]s from a key drawn once per process (so that which addresses
/// collide cannot be arranged from outside).
#[derive(Debug, Clone, Copy)]
pub struct AddrHashBuilder(u64);

impl Default for AddrHashBuilder {
    fn default() -> Self {
        static KEY: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        let key = *KEY.get_or_init(|| {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(0x6164_6472);
            h.finish()
        });
        AddrHashBuilder(key)
    }
}

impl std::hash::BuildHasher for AddrHashBuilder {
    type Hasher = AddrHasher;

    fn build_hasher(&self) -> AddrHasher {
        AddrHasher(self.0)
    }
}

/// A map keyed by socket address, hashed with [`AddrHasher`].
pub type AddrMap<V> = std::collections::HashMap<SocketAddr, V, AddrHashBuilder>;
