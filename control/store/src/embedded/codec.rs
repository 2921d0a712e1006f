//! The embedded store's on-disk records, each with its own crc32c so that a flipped bit is
//! found when the store is loaded, never served.
//!
//! All integers are little-endian. The checksum covers the record's key too, so a record
//! moved under another key is caught as well.
//!
//! - key record (keyspace `kv`, key = the user key):
//!   `crc32c u32 | create_revision i64 | mod_revision i64 | version i64 | lease i64 | value`
//! - lease record (keyspace `leases`, key = lease id as big-endian i64): `crc32c u32 | ttl i64`
//! - meta record (keyspace `meta`, key `state`): `crc32c u32 | revision i64 |
//!   compact_revision i64 | next_lease_id i64 | key_count i64 | lease_count i64`
//! - clean-shutdown marker (file `CLEAN`): `crc32c u32 | revision i64 | key_count i64 |
//!   lease_count i64`

use bytes::Bytes;

use crate::{KeyValue, LeaseId, Revision, StoreError};

const KV_HEADER: usize = 4 + 4 * 8;
pub(crate) const META_KEY: &[u8] = b"state";

fn crc(key: &[u8], body: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(key), body)
}

fn seal(key: &[u8], mut body: Vec<u8>) -> Vec<u8> {
    let sum = crc(key, &body[4..]);
    body[..4].copy_from_slice(&sum.to_le_bytes());
    body
}

fn open_record<'a>(
    what: &str,
    key: &[u8],
    rec: &'a [u8],
    min_len: usize,
) -> Result<&'a [u8], StoreError> {
    if rec.len() < min_len {
        return Err(StoreError::Corrupted(format!(
            "{what} record for key {} is {} bytes, shorter than its {min_len}-byte header",
            show_key(key),
            rec.len()
        )));
    }
    let stored = u32::from_le_bytes([rec[0], rec[1], rec[2], rec[3]]);
    let body = &rec[4..];
    if stored != crc(key, body) {
        return Err(StoreError::Corrupted(format!(
            "{what} record for key {} fails its crc32c check",
            show_key(key)
        )));
    }
    Ok(body)
}

fn i64_at(b: &[u8], i: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i * 8..i * 8 + 8]);
    i64::from_le_bytes(a)
}

/// A key for error messages: printable if it is text, escaped otherwise, and shortened.
pub(crate) fn show_key(key: &[u8]) -> String {
    let shown: String = key
        .iter()
        .take(128)
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect();
    format!("\"{shown}\"{}", if key.len() > 128 { "…" } else { "" })
}

pub(crate) fn encode_kv(kv: &KeyValue) -> Vec<u8> {
    let mut b = Vec::with_capacity(KV_HEADER + kv.value.len());
    b.extend_from_slice(&[0; 4]);
    for n in [kv.create_revision, kv.mod_revision, kv.version, kv.lease] {
        b.extend_from_slice(&n.to_le_bytes());
    }
    b.extend_from_slice(&kv.value);
    seal(&kv.key, b)
}

pub(crate) fn decode_kv(key: &[u8], rec: &[u8]) -> Result<KeyValue, StoreError> {
    let body = open_record("key", key, rec, KV_HEADER)?;
    Ok(KeyValue {
        key: Bytes::copy_from_slice(key),
        value: Bytes::copy_from_slice(&body[32..]),
        create_revision: i64_at(body, 0),
        mod_revision: i64_at(body, 1),
        version: i64_at(body, 2),
        lease: i64_at(body, 3),
    })
}

pub(crate) fn lease_key(id: LeaseId) -> [u8; 8] {
    id.to_be_bytes()
}

pub(crate) fn encode_lease(id: LeaseId, ttl: i64) -> Vec<u8> {
    let mut b = vec![0; 4];
    b.extend_from_slice(&ttl.to_le_bytes());
    seal(&lease_key(id), b)
}

/// A lease record: its id and TTL.
pub(crate) fn decode_lease(key: &[u8], rec: &[u8]) -> Result<(LeaseId, i64), StoreError> {
    let body = open_record("lease", key, rec, 12)?;
    let id: [u8; 8] = key.try_into().map_err(|_| {
        StoreError::Corrupted(format!("lease record key {} is not 8 bytes", show_key(key)))
    })?;
    Ok((i64::from_be_bytes(id), i64_at(body, 0)))
}

/// The store-wide record written with every batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Meta {
    pub revision: Revision,
    pub compact_revision: Revision,
    pub next_lease_id: LeaseId,
    pub key_count: i64,
    pub lease_count: i64,
}

pub(crate) fn encode_meta(m: &Meta) -> Vec<u8> {
    let mut b = vec![0; 4];
    for n in [
        m.revision,
        m.compact_revision,
        m.next_lease_id,
        m.key_count,
        m.lease_count,
    ] {
        b.extend_from_slice(&n.to_le_bytes());
    }
    seal(META_KEY, b)
}

pub(crate) fn decode_meta(rec: &[u8]) -> Result<Meta, StoreError> {
    let body = open_record("meta", META_KEY, rec, 4 + 5 * 8)?;
    Ok(Meta {
        revision: i64_at(body, 0),
        compact_revision: i64_at(body, 1),
        next_lease_id: i64_at(body, 2),
        key_count: i64_at(body, 3),
        lease_count: i64_at(body, 4),
    })
}

const CLEAN_KEY: &[u8] = b"CLEAN";

/// The clean-shutdown marker: what the store held when it was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Clean {
    pub revision: Revision,
    pub key_count: i64,
    pub lease_count: i64,
}

pub(crate) fn encode_clean(c: &Clean) -> Vec<u8> {
    let mut b = vec![0; 4];
    for n in [c.revision, c.key_count, c.lease_count] {
        b.extend_from_slice(&n.to_le_bytes());
    }
    seal(CLEAN_KEY, b)
}

pub(crate) fn decode_clean(rec: &[u8]) -> Result<Clean, StoreError> {
    let body = open_record("clean-shutdown marker", CLEAN_KEY, rec, 4 + 3 * 8)?;
    Ok(Clean {
        revision: i64_at(body, 0),
        key_count: i64_at(body, 1),
        lease_count: i64_at(body, 2),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_every_flipped_bit_is_caught() {
        let kv = KeyValue {
            key: Bytes::from_static(b"/registry/pods/default/a"),
            value: Bytes::from_static(b"some value bytes"),
            create_revision: 3,
            mod_revision: 9,
            version: 4,
            lease: 7,
        };
        let rec = encode_kv(&kv);
        assert_eq!(decode_kv(&kv.key, &rec).ok(), Some(kv.clone()));
        for bit in 0..rec.len() * 8 {
            let mut bad = rec.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(
                matches!(decode_kv(&kv.key, &bad), Err(StoreError::Corrupted(_))),
                "bit {bit}"
            );
        }
        assert!(matches!(
            decode_kv(b"/registry/pods/default/b", &rec),
            Err(StoreError::Corrupted(_))
        ));
        assert!(matches!(
            decode_kv(&kv.key, &rec[..10]),
            Err(StoreError::Corrupted(_))
        ));

        let m = Meta {
            revision: 5,
            compact_revision: 2,
            next_lease_id: 3,
            key_count: 4,
            lease_count: 1,
        };
        assert_eq!(decode_meta(&encode_meta(&m)).ok(), Some(m));
        let rec = encode_lease(42, 30);
        assert_eq!(decode_lease(&lease_key(42), &rec).ok(), Some((42, 30)));
        assert!(decode_lease(&lease_key(43), &rec).is_err());
        let c = Clean {
            revision: 8,
            key_count: 2,
            lease_count: 0,
        };
        let mut rec = encode_clean(&c);
        assert_eq!(decode_clean(&rec).ok(), Some(c));
        rec[7] ^= 4;
        assert!(decode_clean(&rec).is_err());
    }
}
