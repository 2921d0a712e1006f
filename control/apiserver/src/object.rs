//! Objects of any kind behind one trait, and the codec that turns request bodies and
//! stored envelopes into them — typed for built-in kinds, `DynamicObject` for custom
//! resources.

use std::any::Any;
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::LazyLock;

use clipper_proto::api::meta::v1::ObjectMeta;
use clipper_proto::codec::{self, CodecError, Decoded};
use clipper_proto::envelope::{self, AlignedBytes, Envelope, EnvelopeError};
use clipper_proto::{DynamicObject, HasObjectMeta};
use serde_json::Value;

/// An API object of any kind.
pub trait ApiObject: Any + Send + Sync + Debug {
    fn meta(&self) -> &ObjectMeta;
    fn meta_mut(&mut self) -> &mut ObjectMeta;
    /// `(apiVersion, kind)`.
    fn type_meta(&self) -> (&str, &str);
    fn to_json(&self) -> Result<Vec<u8>, CodecError>;
    fn to_value(&self) -> Result<Value, CodecError>;
    /// The rkyv envelope the store holds.
    fn encode(&self) -> Result<AlignedBytes, EnvelopeError>;
    fn clone_boxed(&self) -> Box<dyn ApiObject>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl Clone for Box<dyn ApiObject> {
    fn clone(&self) -> Self {
        self.clone_boxed()
    }
}

/// Decodes an envelope into an object.
type StoredDecoder = fn(&[u8]) -> Result<Box<dyn ApiObject>, EnvelopeError>;

/// A decoded object with the fields its type did not know.
pub type DecodedObject = Decoded<Box<dyn ApiObject>>;

/// Decoding functions for one kind.
#[derive(Clone)]
pub struct Codec {
    pub api_version: String,
    pub kind: String,
    /// Schema definition name of a built-in kind; None for custom resources.
    pub definition: Option<&'static str>,
    decode_json: fn(&[u8]) -> Result<DecodedObject, CodecError>,
    decode_value: fn(Value) -> Result<DecodedObject, CodecError>,
    decode_stored: StoredDecoder,
}

impl Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Codec({} {})", self.api_version, self.kind)
    }
}

impl Codec {
    /// Decodes a JSON body, reporting unknown fields.
    pub fn decode_json(&self, body: &[u8]) -> Result<Decoded<Box<dyn ApiObject>>, CodecError> {
        (self.decode_json)(body)
    }

    /// Decodes a parsed JSON value (YAML bodies, patched objects), reporting unknown fields.
    pub fn decode_value(&self, value: Value) -> Result<Decoded<Box<dyn ApiObject>>, CodecError> {
        (self.decode_value)(value)
    }

    /// Decodes an envelope this process's store wrote (checksum checked, no bytecheck).
    pub fn decode_stored(&self, bytes: &[u8]) -> Result<Box<dyn ApiObject>, EnvelopeError> {
        (self.decode_stored)(bytes)
    }

    /// The codec for custom resources of `api_version`/`kind`.
    pub fn dynamic(api_version: &str, kind: &str) -> Codec {
        Codec {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            definition: None,
            decode_json: |b| boxed(codec::from_json::<DynamicObject>(b)),
            decode_value: |v| boxed(codec::from_value::<DynamicObject>(v)),
            decode_stored: decode_stored_dynamic,
        }
    }
}

fn boxed<T: ApiObject>(
    d: Result<Decoded<T>, CodecError>,
) -> Result<Decoded<Box<dyn ApiObject>>, CodecError> {
    d.map(|d| Decoded {
        value: Box::new(d.value) as Box<dyn ApiObject>,
        unknown_fields: d.unknown_fields,
    })
}

fn decode_stored_dynamic(bytes: &[u8]) -> Result<Box<dyn ApiObject>, EnvelopeError> {
    // Custom resources are validated with bytecheck even from our store: their envelopes
    // carry a kind the type system cannot check (every CRD shares DynamicObject).
    let env = Envelope::parse(bytes)?;
    let archived = env.access_as::<DynamicObject>()?;
    let obj: DynamicObject = rkyv::deserialize::<DynamicObject, rkyv::rancor::Error>(archived)
        .map_err(|e| EnvelopeError::InvalidPayload(e.to_string()))?;
    Ok(Box::new(obj))
}

fn decode_stored_typed<T>(bytes: &[u8]) -> Result<Box<dyn ApiObject>, EnvelopeError>
where
    T: ApiObject + clipper_proto::Resource + rkyv::Archive,
    T::Archived: rkyv::Portable
        + rkyv::Deserialize<T, rkyv::api::high::HighDeserializer<rkyv::rancor::Error>>,
{
    let env = Envelope::parse(bytes)?;
    let archived = env.access_trusted::<T>()?;
    let obj: T = rkyv::deserialize::<T, rkyv::rancor::Error>(archived)
        .map_err(|e| EnvelopeError::InvalidPayload(e.to_string()))?;
    Ok(Box::new(obj))
}

impl ApiObject for DynamicObject {
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn type_meta(&self) -> (&str, &str) {
        (&self.api_version, &self.kind)
    }
    fn to_json(&self) -> Result<Vec<u8>, CodecError> {
        codec::to_json(self)
    }
    fn to_value(&self) -> Result<Value, CodecError> {
        serde_json::to_value(self).map_err(|e| CodecError::Type(e.to_string()))
    }
    fn encode(&self) -> Result<AlignedBytes, EnvelopeError> {
        self.to_envelope()
    }
    fn clone_boxed(&self) -> Box<dyn ApiObject> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

macro_rules! typed_object {
    ($m:ident, $v:ident, $k:ident, $g:literal, object) => {
        impl ApiObject for clipper_proto::api::$m::$v::$k {
            fn meta(&self) -> &ObjectMeta {
                HasObjectMeta::metadata(self)
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                HasObjectMeta::metadata_mut(self)
            }
            fn type_meta(&self) -> (&str, &str) {
                (
                    <Self as clipper_proto::Resource>::API_VERSION,
                    <Self as clipper_proto::Resource>::KIND,
                )
            }
            fn to_json(&self) -> Result<Vec<u8>, CodecError> {
                codec::to_json(self)
            }
            fn to_value(&self) -> Result<Value, CodecError> {
                serde_json::to_value(self).map_err(|e| CodecError::Type(e.to_string()))
            }
            fn encode(&self) -> Result<AlignedBytes, EnvelopeError> {
                envelope::encode(self)
            }
            fn clone_boxed(&self) -> Box<dyn ApiObject> {
                Box::new(self.clone())
            }
            fn as_any(&self) -> &dyn Any {
                self
            }
            fn as_any_mut(&mut self) -> &mut dyn Any {
                self
            }
        }
    };
    ($m:ident, $v:ident, $k:ident, $g:literal, $shape:ident) => {};
}
clipper_proto::for_each_kind!(typed_object);

/// Codecs of every built-in kind with object metadata, by apiVersion, then kind.
static TYPED: LazyLock<HashMap<&'static str, HashMap<&'static str, Codec>>> = LazyLock::new(|| {
    let mut m: HashMap<&'static str, HashMap<&'static str, Codec>> = HashMap::new();
    macro_rules! register {
        ($mod:ident, $v:ident, $k:ident, $g:literal, object) => {{
            type T = clipper_proto::api::$mod::$v::$k;
            let api_version = <T as clipper_proto::Resource>::API_VERSION;
            let kind = <T as clipper_proto::Resource>::KIND;
            m.entry(api_version).or_default().insert(
                kind,
                Codec {
                    api_version: api_version.to_string(),
                    kind: kind.to_string(),
                    definition: Some(<T as clipper_proto::Resource>::DEFINITION),
                    decode_json: |b| boxed(codec::from_json_resource::<T>(b)),
                    decode_value: |v| boxed(codec::from_value_resource::<T>(v)),
                    decode_stored: decode_stored_typed::<T>,
                },
            );
        }};
        ($mod:ident, $v:ident, $k:ident, $g:literal, $shape:ident) => {};
    }
    clipper_proto::for_each_kind!(register);
    m
});

/// The codec of a built-in kind.
pub fn typed_codec(api_version: &str, kind: &str) -> Option<&'static Codec> {
    TYPED.get(api_version).and_then(|m| m.get(kind))
}

/// Downcasts a boxed object to a concrete type.
pub fn downcast<T: 'static>(obj: &dyn ApiObject) -> Option<&T> {
    obj.as_any().downcast_ref::<T>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clipper_proto::api::core::v1::Pod;

    #[test]
    fn every_registered_resource_has_a_codec() {
        for r in crate::registry::RESOURCES.iter().filter(|r| r.is_stored()) {
            assert!(
                typed_codec(&r.api_version(), r.kind).is_some(),
                "{} {}",
                r.api_version(),
                r.kind
            );
        }
    }

    #[test]
    fn typed_round_trip_through_the_trait() {
        let codec = typed_codec("v1", "Pod").expect("pod codec");
        let d = codec
            .decode_json(br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"containers":[]},"bogus":1}"#)
            .expect("decodes");
        assert_eq!(d.unknown_fields, vec!["bogus"]);
        let obj = d.value;
        assert_eq!(obj.type_meta(), ("v1", "Pod"));
        let stored = obj.encode().expect("encodes");
        let back = codec.decode_stored(&stored).expect("decodes stored");
        assert_eq!(
            downcast::<Pod>(back.as_ref()),
            downcast::<Pod>(obj.as_ref())
        );
        assert!(typed_codec("v1", "Deployment").is_none());
    }

    #[test]
    fn dynamic_round_trip() {
        let codec = Codec::dynamic("example.com/v1", "Widget");
        let d = codec
            .decode_json(br#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"size":3}}"#)
            .expect("decodes");
        let stored = d.value.encode().expect("encodes");
        let back = codec.decode_stored(&stored).expect("decodes");
        assert_eq!(back.to_value().expect("json")["spec"]["size"], 3);
        assert_eq!(back.meta().name.as_deref(), Some("w"));
    }
}
