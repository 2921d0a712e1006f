//! The rkyv envelope: how an API object is stored and carried on the QUIC wire.
//!
//! ```text
//! offset  size  field
//!  0      4     magic "CLPR"
//!  4      2     format version (1), little endian
//!  6      2     apiVersion length
//!  8      2     kind length
//! 10      2     reserved, zero
//! 12      4     payload length
//! 16      4     CRC-32C of every byte of the envelope except these four
//! 20      4     reserved, zero
//! 24      ...   apiVersion bytes, kind bytes, zero padding to a multiple of 16
//! P       ...   rkyv payload (root at the end, as rkyv lays it out)
//! ```
//!
//! The payload starts 16-byte aligned relative to the envelope's first byte, so an
//! envelope held in a 16-byte-aligned buffer ([`AlignedBytes`]) can be read in place.
//!
//! Two ways in: [`Envelope::parse`] checks the framing and the checksum; then
//! [`Envelope::access`] validates the rkyv payload with bytecheck before returning a
//! reference (for bytes from the network), while [`Envelope::access_trusted`] skips
//! bytecheck for bytes this process's store wrote (the checksum proves they are the bytes
//! our encoder produced).

use std::ops::Deref;

use bytes::Bytes;
use rkyv::api::high::{HighDeserializer, HighSerializer, HighValidator};
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::util::AlignedVec;

/// Identifies an envelope.
pub const MAGIC: [u8; 4] = *b"CLPR";
/// The layout version this code writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Size of the fixed header.
pub const HEADER_BYTES: usize = 24;
/// Alignment of the payload; the largest alignment of any archived field (i128 in
/// Quantity) is 16.
pub const PAYLOAD_ALIGN: usize = 16;
/// Longest apiVersion or kind accepted (Kubernetes names are DNS subdomains, ≤ 253).
pub const MAX_TYPE_NAME_BYTES: usize = 512;

/// Why an envelope was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("envelope is {0} bytes, shorter than its header")]
    Truncated(usize),
    #[error("not a Clipper envelope (bad magic)")]
    BadMagic,
    #[error("unsupported envelope format version {0}")]
    UnsupportedVersion(u16),
    #[error("envelope lengths are inconsistent with its size")]
    BadLength,
    #[error("envelope checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    BadChecksum { stored: u32, computed: u32 },
    #[error("envelope type name is not UTF-8")]
    BadTypeName,
    #[error("envelope holds {found}, expected {expected}")]
    WrongKind { expected: String, found: String },
    #[error("envelope payload is not 16-byte aligned in memory")]
    Misaligned,
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
    #[error("encoding failed: {0}")]
    Encode(String),
}

/// Bytes whose first byte is 16-byte aligned, cheaply clonable (a `Bytes` underneath).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlignedBytes(Bytes);

impl AlignedBytes {
    /// Wraps `bytes`, copying them into an aligned buffer only if they are not aligned.
    pub fn new(bytes: Bytes) -> AlignedBytes {
        if (bytes.as_ptr() as usize).is_multiple_of(PAYLOAD_ALIGN) {
            AlignedBytes(bytes)
        } else {
            AlignedBytes::copy_from(&bytes)
        }
    }

    /// Copies `data` into a fresh aligned buffer.
    pub fn copy_from(data: &[u8]) -> AlignedBytes {
        let mut v = AlignedVec::<PAYLOAD_ALIGN>::with_capacity(data.len());
        v.extend_from_slice(data);
        AlignedBytes::from(v)
    }

    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl From<AlignedVec<PAYLOAD_ALIGN>> for AlignedBytes {
    fn from(v: AlignedVec<PAYLOAD_ALIGN>) -> Self {
        AlignedBytes(Bytes::from_owner(v))
    }
}

impl Deref for AlignedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// A framed, checksummed envelope borrowed from a buffer.
#[derive(Clone, Copy, Debug)]
pub struct Envelope<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
    payload: &'a [u8],
}

fn padded_header_len(api_version_len: usize, kind_len: usize) -> usize {
    (HEADER_BYTES + api_version_len + kind_len).next_multiple_of(PAYLOAD_ALIGN)
}

fn checksum(bytes: &[u8]) -> u32 {
    let c = crc32c::crc32c(&bytes[..16]);
    crc32c::crc32c_append(c, &bytes[20..])
}

/// Serializer bound for types that can be put in an envelope.
pub trait Archivable:
    rkyv::Archive
    + for<'a> rkyv::Serialize<
        HighSerializer<AlignedVec<PAYLOAD_ALIGN>, ArenaHandle<'a>, rancor::Error>,
    >
{
}
impl<T> Archivable for T where
    T: rkyv::Archive
        + for<'a> rkyv::Serialize<
            HighSerializer<AlignedVec<PAYLOAD_ALIGN>, ArenaHandle<'a>, rancor::Error>,
        >
{
}

/// Encodes `value` as an envelope labelled `api_version`/`kind`.
pub fn encode_as<T: Archivable>(
    api_version: &str,
    kind: &str,
    value: &T,
) -> Result<AlignedBytes, EnvelopeError> {
    if api_version.len() > MAX_TYPE_NAME_BYTES || kind.len() > MAX_TYPE_NAME_BYTES {
        return Err(EnvelopeError::Encode("apiVersion or kind too long".into()));
    }
    let header_len = padded_header_len(api_version.len(), kind.len());
    let mut buf = AlignedVec::<PAYLOAD_ALIGN>::with_capacity(header_len + 1024);
    buf.resize(header_len, 0);
    // rkyv appends to the writer; positions are relative to the start of the buffer, and
    // the payload is read from a slice starting at `header_len`, so serialize into the
    // same buffer and let rkyv see the header as already-written bytes.
    let mut buf = rkyv::api::high::to_bytes_in::<_, rancor::Error>(value, buf)
        .map_err(|e| EnvelopeError::Encode(e.to_string()))?;
    let payload_len = u32::try_from(buf.len() - header_len)
        .map_err(|_| EnvelopeError::Encode("payload over 4 GiB".into()))?;
    buf[0..4].copy_from_slice(&MAGIC);
    buf[4..6].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    buf[6..8].copy_from_slice(&(api_version.len() as u16).to_le_bytes());
    buf[8..10].copy_from_slice(&(kind.len() as u16).to_le_bytes());
    buf[12..16].copy_from_slice(&payload_len.to_le_bytes());
    buf[HEADER_BYTES..HEADER_BYTES + api_version.len()].copy_from_slice(api_version.as_bytes());
    let k = HEADER_BYTES + api_version.len();
    buf[k..k + kind.len()].copy_from_slice(kind.as_bytes());
    let sum = checksum(&buf);
    buf[16..20].copy_from_slice(&sum.to_le_bytes());
    Ok(AlignedBytes::from(buf))
}

/// Encodes a typed resource, labelled with its own apiVersion and kind.
pub fn encode<T: crate::Resource + Archivable>(value: &T) -> Result<AlignedBytes, EnvelopeError> {
    encode_as(T::API_VERSION, T::KIND, value)
}

impl<'a> Envelope<'a> {
    /// Checks the framing and the checksum. Never panics, whatever the bytes.
    pub fn parse(bytes: &'a [u8]) -> Result<Envelope<'a>, EnvelopeError> {
        if bytes.len() < HEADER_BYTES {
            return Err(EnvelopeError::Truncated(bytes.len()));
        }
        if bytes[0..4] != MAGIC {
            return Err(EnvelopeError::BadMagic);
        }
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        let u32_at =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let version = u16_at(4);
        if version != FORMAT_VERSION {
            return Err(EnvelopeError::UnsupportedVersion(version));
        }
        let av_len = usize::from(u16_at(6));
        let kind_len = usize::from(u16_at(8));
        let payload_len = u32_at(12) as usize;
        if av_len > MAX_TYPE_NAME_BYTES || kind_len > MAX_TYPE_NAME_BYTES {
            return Err(EnvelopeError::BadLength);
        }
        let header_len = padded_header_len(av_len, kind_len);
        if header_len.checked_add(payload_len) != Some(bytes.len()) {
            return Err(EnvelopeError::BadLength);
        }
        let stored = u32_at(16);
        let computed = checksum(bytes);
        if stored != computed {
            return Err(EnvelopeError::BadChecksum { stored, computed });
        }
        let name = |range: std::ops::Range<usize>| {
            std::str::from_utf8(&bytes[range]).map_err(|_| EnvelopeError::BadTypeName)
        };
        let api_version = name(HEADER_BYTES..HEADER_BYTES + av_len)?;
        let kind = name(HEADER_BYTES + av_len..HEADER_BYTES + av_len + kind_len)?;
        Ok(Envelope {
            api_version,
            kind,
            payload: &bytes[header_len..],
        })
    }

    /// The raw rkyv payload.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    fn expect<T: crate::Resource>(&self) -> Result<(), EnvelopeError> {
        if self.api_version != T::API_VERSION || self.kind != T::KIND {
            return Err(EnvelopeError::WrongKind {
                expected: format!("{}/{}", T::API_VERSION, T::KIND),
                found: format!("{}/{}", self.api_version, self.kind),
            });
        }
        Ok(())
    }

    /// Validates the payload as `T` (bytecheck) and returns the archived value. For bytes
    /// that came from the network or any other untrusted place.
    pub fn access_as<T>(&self) -> Result<&'a T::Archived, EnvelopeError>
    where
        T: rkyv::Archive,
        T::Archived: for<'b> rkyv::bytecheck::CheckBytes<HighValidator<'b, rancor::Error>>,
    {
        rkyv::access::<T::Archived, rancor::Error>(self.payload)
            .map_err(|e| EnvelopeError::InvalidPayload(e.to_string()))
    }

    /// [`Envelope::access_as`] after checking that the envelope holds `T`'s kind.
    pub fn access<T>(&self) -> Result<&'a T::Archived, EnvelopeError>
    where
        T: crate::Resource + rkyv::Archive,
        T::Archived: for<'b> rkyv::bytecheck::CheckBytes<HighValidator<'b, rancor::Error>>,
    {
        self.expect::<T>()?;
        self.access_as::<T>()
    }

    /// Returns the archived value without bytecheck validation. Only for envelopes this
    /// process's store wrote: [`Envelope::parse`] has verified the checksum, so these are
    /// the bytes our encoder produced for a `T` (the kind is checked here too).
    pub fn access_trusted<T>(&self) -> Result<&'a T::Archived, EnvelopeError>
    where
        T: crate::Resource + rkyv::Archive,
        T::Archived: rkyv::Portable,
    {
        self.expect::<T>()?;
        if !(self.payload.as_ptr() as usize).is_multiple_of(PAYLOAD_ALIGN)
            || self.payload.len() < std::mem::size_of::<T::Archived>()
        {
            return Err(EnvelopeError::Misaligned);
        }
        // SAFETY: the checksum verified by `parse` covers every payload byte, so the payload
        // is exactly what `encode` produced by serializing a `T` (the envelope's kind matches
        // `T`, checked above); rkyv's serializer only produces valid archives. The payload
        // is aligned and at least as long as the root (checked above).
        Ok(unsafe { rkyv::access_unchecked::<T::Archived>(self.payload) })
    }
}

/// Parses, validates and deserializes a `T` from untrusted bytes.
pub fn decode<T>(bytes: &[u8]) -> Result<T, EnvelopeError>
where
    T: crate::Resource + rkyv::Archive,
    T::Archived: for<'b> rkyv::bytecheck::CheckBytes<HighValidator<'b, rancor::Error>>
        + rkyv::Deserialize<T, HighDeserializer<rancor::Error>>,
{
    let env = Envelope::parse(bytes)?;
    let archived = env.access::<T>()?;
    rkyv::deserialize::<T, rancor::Error>(archived)
        .map_err(|e| EnvelopeError::InvalidPayload(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::core::v1::{ConfigMap, Pod};

    fn pod() -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some("web-0".into());
        p.metadata.namespace = Some("default".into());
        p
    }

    #[test]
    fn round_trip_and_layout() {
        let bytes = encode(&pod()).unwrap();
        assert_eq!(&bytes[0..4], b"CLPR");
        let env = Envelope::parse(&bytes).unwrap();
        assert_eq!((env.api_version, env.kind), ("v1", "Pod"));
        let archived = env.access::<Pod>().unwrap();
        assert_eq!(
            archived.metadata.name.as_ref().map(|s| s.as_str()),
            Some("web-0")
        );
        let trusted = env.access_trusted::<Pod>().unwrap();
        assert_eq!(
            trusted.metadata.namespace.as_ref().map(|s| s.as_str()),
            Some("default")
        );
        assert_eq!(decode::<Pod>(&bytes).unwrap(), pod());
    }

    #[test]
    fn wrong_kind_is_refused() {
        let bytes = encode(&pod()).unwrap();
        let env = Envelope::parse(&bytes).unwrap();
        assert!(matches!(
            env.access::<ConfigMap>(),
            Err(EnvelopeError::WrongKind { .. })
        ));
        assert!(matches!(
            env.access_trusted::<ConfigMap>(),
            Err(EnvelopeError::WrongKind { .. })
        ));
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        let bytes = encode(&pod()).unwrap();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.to_vec();
                b[i] ^= 1 << bit;
                let copy = AlignedBytes::copy_from(&b);
                assert!(
                    decode::<Pod>(&copy).is_err(),
                    "flip of bit {bit} in byte {i} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn truncation_and_garbage() {
        let bytes = encode(&pod()).unwrap();
        for n in 0..bytes.len() {
            assert!(Envelope::parse(&bytes[..n]).is_err());
        }
        assert_eq!(
            Envelope::parse(b"hello").unwrap_err(),
            EnvelopeError::Truncated(5)
        );
    }

    #[test]
    fn misaligned_buffers_are_realigned() {
        let bytes = encode(&pod()).unwrap();
        let mut v = vec![0u8; bytes.len() + 1];
        v[1..].copy_from_slice(&bytes);
        let shifted = Bytes::from(v).slice(1..);
        let aligned = AlignedBytes::new(shifted);
        assert_eq!(decode::<Pod>(&aligned).unwrap(), pod());
    }
}
