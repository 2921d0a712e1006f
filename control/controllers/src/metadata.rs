//! The metadata of an object of any kind, read from its stored envelope: built-in kinds
//! are validated as their own type, anything else (custom resources) as `DynamicObject`.
//! Only `metadata` is deserialized; the rest of the object is left in the bytes.

use clipper_proto::api::meta::v1::ObjectMeta;
use clipper_proto::envelope::{Envelope, EnvelopeError};
use clipper_proto::{DynamicObject, Resource};

/// An object reduced to what a controller that reads metadata only needs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetaObject {
    /// The envelope's apiVersion (the storage version for custom resources).
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
}

impl clipper_proto::HasObjectMeta for MetaObject {
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

fn invalid(e: impl std::fmt::Display) -> EnvelopeError {
    EnvelopeError::InvalidPayload(e.to_string())
}

/// Decodes the metadata of the object in `bytes` (an envelope from the network:
/// checksum and bytecheck are verified). Managed fields are dropped: no controller here
/// reads them, and they are most of an object's metadata.
pub fn decode(bytes: &[u8]) -> Result<MetaObject, EnvelopeError> {
    let env = Envelope::parse(bytes)?;
    let mut metadata = typed_metadata(&env).unwrap_or_else(|| {
        let archived = env.access_as::<DynamicObject>()?;
        rkyv::deserialize::<ObjectMeta, rkyv::rancor::Error>(&archived.metadata).map_err(invalid)
    })?;
    metadata.managed_fields = None;
    Ok(MetaObject {
        api_version: env.api_version.to_string(),
        kind: env.kind.to_string(),
        metadata,
    })
}

/// The metadata of a built-in kind's envelope; `None` if the envelope holds no
/// built-in kind.
fn typed_metadata(env: &Envelope<'_>) -> Option<Result<ObjectMeta, EnvelopeError>> {
    macro_rules! arm {
        ($m:ident, $v:ident, $k:ident, $g:literal, object) => {{
            type T = clipper_proto::api::$m::$v::$k;
            if env.api_version == <T as Resource>::API_VERSION && env.kind == <T as Resource>::KIND
            {
                return Some(env.access::<T>().and_then(|archived| {
                    rkyv::deserialize::<ObjectMeta, rkyv::rancor::Error>(&archived.metadata)
                        .map_err(invalid)
                }));
            }
        }};
        ($m:ident, $v:ident, $k:ident, $g:literal, $shape:ident) => {};
    }
    clipper_proto::for_each_kind!(arm);
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use clipper_proto::api::core::v1::ConfigMap;
    use clipper_proto::api::meta::v1::OwnerReference;

    #[test]
    fn typed_and_dynamic_envelopes() {
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some("a".into()),
                namespace: Some("ns".into()),
                uid: Some("u1".into()),
                owner_references: Some(vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "ConfigMap".into(),
                    name: "o".into(),
                    uid: "u0".into(),
                    block_owner_deletion: Some(true),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            data: Some([("k".to_string(), "v".to_string())].into()),
            ..Default::default()
        };
        let bytes = clipper_proto::envelope::encode(&cm).unwrap();
        let m = decode(&bytes).unwrap();
        assert_eq!(
            (m.api_version.as_str(), m.kind.as_str()),
            ("v1", "ConfigMap")
        );
        assert_eq!(m.metadata, cm.metadata);

        let mut cr = DynamicObject::new("example.com/v1", "Widget");
        cr.metadata.name = Some("w".into());
        cr.metadata.uid = Some("u2".into());
        let bytes = cr.to_envelope().unwrap();
        let m = decode(&bytes).unwrap();
        assert_eq!(m.kind, "Widget");
        assert_eq!(m.metadata.uid.as_deref(), Some("u2"));

        let mut corrupt = bytes.to_vec();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        assert!(decode(&corrupt).is_err());
    }
}
