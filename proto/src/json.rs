//! JsonValue: arbitrary JSON that survives rkyv storage unchanged — the content of
//! RawExtension, FieldsV1, apiextensions JSON, and the body of custom resources.
//!
//! Objects keep their keys sorted (as Go's unstructured encoding writes them); numbers
//! keep the distinction between integers and floats, and floats are written as Go writes
//! them.

use std::collections::BTreeMap;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A JSON number: an integer when it is one, otherwise a float.
#[derive(Clone, Copy, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum JsonNumber {
    PosInt(u64),
    NegInt(i64),
    Float(f64),
}

impl JsonNumber {
    pub fn as_f64(self) -> f64 {
        match self {
            JsonNumber::PosInt(u) => u as f64,
            JsonNumber::NegInt(i) => i as f64,
            JsonNumber::Float(f) => f,
        }
    }

    pub fn as_i64(self) -> Option<i64> {
        match self {
            JsonNumber::PosInt(u) => i64::try_from(u).ok(),
            JsonNumber::NegInt(i) => Some(i),
            JsonNumber::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Some(f as i64),
            JsonNumber::Float(_) => None,
        }
    }
}

/// Any JSON value.
#[derive(Clone, Debug, Default, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(serialize_bounds(__S: rkyv::ser::Writer + rkyv::ser::Allocator, __S::Error: rkyv::rancor::Source))]
#[rkyv(deserialize_bounds(__D::Error: rkyv::rancor::Source))]
#[rkyv(bytecheck(bounds(__C: rkyv::validation::ArchiveContext, __C::Error: rkyv::rancor::Source)))]
pub enum JsonValue {
    #[default]
    Null,
    Bool(bool),
    Number(JsonNumber),
    String(String),
    Array(#[rkyv(omit_bounds)] Vec<JsonValue>),
    Object(#[rkyv(omit_bounds)] BTreeMap<String, JsonValue>),
}

/// `runtime.RawExtension`: an embedded object of any kind, kept as JSON.
pub type RawExtension = JsonValue;

/// `metav1.FieldsV1`: the set of fields a manager owns, in the `f:`/`k:`/`v:` JSON form.
pub type FieldsV1 = JsonValue;

impl JsonValue {
    pub fn as_object(&self) -> Option<&BTreeMap<String, JsonValue>> {
        match self {
            JsonValue::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_object_mut(&mut self) -> Option<&mut BTreeMap<String, JsonValue>> {
        match self {
            JsonValue::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            JsonValue::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&JsonValue> {
        self.as_object().and_then(|m| m.get(key))
    }

    pub fn is_null(&self) -> bool {
        matches!(self, JsonValue::Null)
    }
}

impl From<serde_json::Value> for JsonValue {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => JsonValue::Null,
            serde_json::Value::Bool(b) => JsonValue::Bool(b),
            serde_json::Value::Number(n) => JsonValue::Number(if let Some(u) = n.as_u64() {
                JsonNumber::PosInt(u)
            } else if let Some(i) = n.as_i64() {
                JsonNumber::NegInt(i)
            } else {
                JsonNumber::Float(n.as_f64().unwrap_or(f64::NAN))
            }),
            serde_json::Value::String(s) => JsonValue::String(s),
            serde_json::Value::Array(a) => {
                JsonValue::Array(a.into_iter().map(Into::into).collect())
            }
            serde_json::Value::Object(o) => {
                JsonValue::Object(o.into_iter().map(|(k, v)| (k, v.into())).collect())
            }
        }
    }
}

impl From<JsonValue> for serde_json::Value {
    fn from(v: JsonValue) -> Self {
        match v {
            JsonValue::Null => serde_json::Value::Null,
            JsonValue::Bool(b) => serde_json::Value::Bool(b),
            JsonValue::Number(JsonNumber::PosInt(u)) => u.into(),
            JsonValue::Number(JsonNumber::NegInt(i)) => i.into(),
            JsonValue::Number(JsonNumber::Float(f)) => serde_json::Number::from_f64(f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            JsonValue::String(s) => serde_json::Value::String(s),
            JsonValue::Array(a) => {
                serde_json::Value::Array(a.into_iter().map(Into::into).collect())
            }
            JsonValue::Object(o) => {
                serde_json::Value::Object(o.into_iter().map(|(k, v)| (k, v.into())).collect())
            }
        }
    }
}

impl Serialize for JsonValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            JsonValue::Null => serializer.serialize_unit(),
            JsonValue::Bool(b) => serializer.serialize_bool(*b),
            JsonValue::Number(JsonNumber::PosInt(u)) => serializer.serialize_u64(*u),
            JsonValue::Number(JsonNumber::NegInt(i)) => serializer.serialize_i64(*i),
            JsonValue::Number(JsonNumber::Float(f)) => {
                crate::serde_util::serialize_go_float(*f, serializer)
            }
            JsonValue::String(s) => serializer.serialize_str(s),
            JsonValue::Array(a) => {
                let mut seq = serializer.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            JsonValue::Object(o) => {
                let mut map = serializer.serialize_map(Some(o.len()))?;
                for (k, v) in o {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

/// Deepest nesting accepted when decoding; serde_json stops at 128 too, but other
/// formats (YAML) do not, and a recursive decoder must not overflow the stack.
pub const MAX_JSON_DEPTH: usize = 128;

impl<'de> Deserialize<'de> for JsonValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor { depth: 0 })
    }
}

struct ValueVisitor {
    depth: usize,
}

struct Nested(usize);

impl<'de> de::DeserializeSeed<'de> for Nested {
    type Value = JsonValue;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<JsonValue, D::Error> {
        if self.0 > MAX_JSON_DEPTH {
            return Err(de::Error::custom(format!(
                "JSON nested deeper than {MAX_JSON_DEPTH} levels"
            )));
        }
        deserializer.deserialize_any(ValueVisitor { depth: self.0 })
    }
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = JsonValue;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<JsonValue, E> {
        Ok(JsonValue::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<JsonValue, E> {
        Ok(JsonValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<JsonValue, D::Error> {
        de::DeserializeSeed::deserialize(Nested(self.depth), d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<JsonValue, E> {
        Ok(JsonValue::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonValue, E> {
        Ok(JsonValue::Number(if v >= 0 {
            JsonNumber::PosInt(v as u64)
        } else {
            JsonNumber::NegInt(v)
        }))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonValue, E> {
        Ok(JsonValue::Number(JsonNumber::PosInt(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsonValue, E> {
        Ok(JsonValue::Number(JsonNumber::Float(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonValue, E> {
        Ok(JsonValue::String(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<JsonValue, E> {
        Ok(JsonValue::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonValue, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Nested(self.depth + 1))? {
            out.push(v);
        }
        Ok(JsonValue::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonValue, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(Nested(self.depth + 1))?;
            out.insert(k, v);
        }
        Ok(JsonValue::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_sorted_keys_and_go_floats() {
        let input = r#"{"b":[1,-2,3.5,4.0,true,null,"x"],"a":{"z":{},"y":[]}}"#;
        let v: JsonValue = serde_json::from_str(input).unwrap();
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"a":{"y":[],"z":{}},"b":[1,-2,3.5,4,true,null,"x"]}"#
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        // Built directly: serde_json's own parser would stop at depth 128 first.
        let mut deep = serde_json::Value::Null;
        for _ in 0..200 {
            deep = serde_json::Value::Array(vec![deep]);
        }
        assert!(JsonValue::deserialize(deep.clone()).is_err());
        let mut shallow = serde_json::Value::Null;
        for _ in 0..100 {
            shallow = serde_json::Value::Array(vec![shallow]);
        }
        assert!(JsonValue::deserialize(shallow).is_ok());
    }

    #[test]
    fn rkyv_round_trip() {
        let v: JsonValue = serde_json::from_str(r#"{"k":[1,{"n":null}],"f":0.25}"#).unwrap();
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&v).unwrap();
        let archived = rkyv::access::<ArchivedJsonValue, rkyv::rancor::Error>(&bytes).unwrap();
        let back: JsonValue =
            rkyv::deserialize::<JsonValue, rkyv::rancor::Error>(archived).unwrap();
        assert_eq!(back, v);
    }
}
