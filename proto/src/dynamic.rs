//! DynamicObject: an object of a kind known only at run time — a custom resource, or any
//! kind handled generically — with typed metadata and the rest kept as JSON.

use std::collections::BTreeMap;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::JsonValue;
use crate::api::meta::v1::ObjectMeta;

/// An object of any kind: `apiVersion`, `kind`, typed `metadata`, and every other
/// top-level field (`spec`, `status`, `data`, ...) as JSON.
#[derive(Clone, Debug, Default, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct DynamicObject {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    /// The other top-level fields, keyed by their JSON names.
    pub content: BTreeMap<String, JsonValue>,
}

impl DynamicObject {
    pub fn new(api_version: &str, kind: &str) -> DynamicObject {
        DynamicObject {
            api_version: api_version.into(),
            kind: kind.into(),
            ..Default::default()
        }
    }

    /// A top-level field other than apiVersion, kind and metadata.
    pub fn field(&self, name: &str) -> Option<&JsonValue> {
        self.content.get(name)
    }

    /// Encodes into an envelope labelled with the object's own apiVersion and kind.
    pub fn to_envelope(
        &self,
    ) -> Result<crate::envelope::AlignedBytes, crate::envelope::EnvelopeError> {
        crate::envelope::encode_as(&self.api_version, &self.kind, self)
    }
}

impl crate::HasObjectMeta for DynamicObject {
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl Serialize for DynamicObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.content.len() + 3))?;
        map.serialize_entry("apiVersion", &self.api_version)?;
        map.serialize_entry("kind", &self.kind)?;
        map.serialize_entry("metadata", &self.metadata)?;
        for (k, v) in &self.content {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for DynamicObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DynamicObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object with apiVersion, kind and metadata")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DynamicObject, A::Error> {
                let mut obj = DynamicObject::default();
                let mut seen_meta = false;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "apiVersion" => {
                            obj.api_version =
                                map.next_value::<Option<String>>()?.unwrap_or_default()
                        }
                        "kind" => {
                            obj.kind = map.next_value::<Option<String>>()?.unwrap_or_default()
                        }
                        "metadata" => {
                            if seen_meta {
                                return Err(de::Error::duplicate_field("metadata"));
                            }
                            seen_meta = true;
                            obj.metadata =
                                map.next_value::<Option<ObjectMeta>>()?.unwrap_or_default();
                        }
                        _ => {
                            let v = map.next_value::<JsonValue>()?;
                            if obj.content.insert(key.clone(), v).is_some() {
                                return Err(de::Error::custom(format!("duplicate field `{key}`")));
                            }
                        }
                    }
                }
                Ok(obj)
            }
        }
        deserializer.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Envelope;

    const CR: &str = r#"{"apiVersion":"stable.example.com/v1","kind":"CronTab",
        "metadata":{"name":"my-cron","namespace":"default","labels":{"a":"b"}},
        "spec":{"cronSpec":"* * * * */5","replicas":3,"image":"my-cron-image","ratio":0.5},
        "status":{"ok":true}}"#;

    #[test]
    fn json_round_trip() {
        let obj: DynamicObject = serde_json::from_str(CR).unwrap();
        assert_eq!(obj.kind, "CronTab");
        assert_eq!(obj.metadata.name.as_deref(), Some("my-cron"));
        let back: serde_json::Value = serde_json::to_value(&obj).unwrap();
        let orig: serde_json::Value = serde_json::from_str(CR).unwrap();
        assert_eq!(back, orig);
    }

    #[test]
    fn unknown_metadata_fields_are_reported() {
        let d = crate::codec::from_json::<DynamicObject>(
            br#"{"apiVersion":"x/v1","kind":"X","metadata":{"name":"a","bogus":1},"spec":{"anything":1}}"#,
        )
        .unwrap();
        assert_eq!(d.unknown_fields, vec!["metadata.bogus"]);
    }

    #[test]
    fn envelope_round_trip() {
        let obj: DynamicObject = serde_json::from_str(CR).unwrap();
        let bytes = obj.to_envelope().unwrap();
        let env = Envelope::parse(&bytes).unwrap();
        assert_eq!(
            (env.api_version, env.kind),
            ("stable.example.com/v1", "CronTab")
        );
        let archived = env.access_as::<DynamicObject>().unwrap();
        let back: DynamicObject = rkyv::deserialize::<_, rkyv::rancor::Error>(archived).unwrap();
        assert_eq!(back, obj);
    }
}
