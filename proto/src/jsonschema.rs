//! The unions inside apiextensions' JSONSchemaProps, which the OpenAPI definitions leave
//! untyped: schema-or-array, schema-or-bool, schema-or-string-array.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::api::apiextensions::v1::JSONSchemaProps;

/// `items`: one schema for every element, or one schema per position.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(serialize_bounds(__S: rkyv::ser::Writer + rkyv::ser::Allocator, __S::Error: rkyv::rancor::Source))]
#[rkyv(deserialize_bounds(__D::Error: rkyv::rancor::Source))]
#[rkyv(bytecheck(bounds(__C: rkyv::validation::ArchiveContext, __C::Error: rkyv::rancor::Source)))]
pub enum JSONSchemaPropsOrArray {
    Schema(#[rkyv(omit_bounds)] Box<JSONSchemaProps>),
    Schemas(#[rkyv(omit_bounds)] Vec<JSONSchemaProps>),
}

/// `additionalProperties` / `additionalItems`: allowed or not, or a schema they must match.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(serialize_bounds(__S: rkyv::ser::Writer + rkyv::ser::Allocator, __S::Error: rkyv::rancor::Source))]
#[rkyv(deserialize_bounds(__D::Error: rkyv::rancor::Source))]
#[rkyv(bytecheck(bounds(__C: rkyv::validation::ArchiveContext, __C::Error: rkyv::rancor::Source)))]
pub enum JSONSchemaPropsOrBool {
    Bool(bool),
    Schema(#[rkyv(omit_bounds)] Box<JSONSchemaProps>),
}

/// `dependencies` values: a schema, or a list of property names.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(serialize_bounds(__S: rkyv::ser::Writer + rkyv::ser::Allocator, __S::Error: rkyv::rancor::Source))]
#[rkyv(deserialize_bounds(__D::Error: rkyv::rancor::Source))]
#[rkyv(bytecheck(bounds(__C: rkyv::validation::ArchiveContext, __C::Error: rkyv::rancor::Source)))]
pub enum JSONSchemaPropsOrStringArray {
    Schema(#[rkyv(omit_bounds)] Box<JSONSchemaProps>),
    Strings(Vec<String>),
}

impl Serialize for JSONSchemaPropsOrArray {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            JSONSchemaPropsOrArray::Schema(p) => p.serialize(s),
            JSONSchemaPropsOrArray::Schemas(v) => v.serialize(s),
        }
    }
}

impl Serialize for JSONSchemaPropsOrBool {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            JSONSchemaPropsOrBool::Bool(b) => s.serialize_bool(*b),
            JSONSchemaPropsOrBool::Schema(p) => p.serialize(s),
        }
    }
}

impl Serialize for JSONSchemaPropsOrStringArray {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            JSONSchemaPropsOrStringArray::Schema(p) => p.serialize(s),
            JSONSchemaPropsOrStringArray::Strings(v) => v.serialize(s),
        }
    }
}

/// Decodes through a JsonValue first to see which form arrived; schemas are small and
/// decoded rarely (CRD writes), so the extra step costs nothing that matters.
fn to_schema<E: serde::de::Error>(v: crate::JsonValue) -> Result<Box<JSONSchemaProps>, E> {
    let json: serde_json::Value = v.into();
    serde_json::from_value(json)
        .map(Box::new)
        .map_err(E::custom)
}

impl<'de> Deserialize<'de> for JSONSchemaPropsOrArray {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match crate::JsonValue::deserialize(d)? {
            crate::JsonValue::Array(items) => items
                .into_iter()
                .map(|i| to_schema::<D::Error>(i).map(|b| *b))
                .collect::<Result<_, _>>()
                .map(JSONSchemaPropsOrArray::Schemas),
            v @ crate::JsonValue::Object(_) => to_schema(v).map(JSONSchemaPropsOrArray::Schema),
            _ => Err(D::Error::custom(
                "expected a schema object or an array of schemas",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for JSONSchemaPropsOrBool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match crate::JsonValue::deserialize(d)? {
            crate::JsonValue::Bool(b) => Ok(JSONSchemaPropsOrBool::Bool(b)),
            v @ crate::JsonValue::Object(_) => to_schema(v).map(JSONSchemaPropsOrBool::Schema),
            _ => Err(D::Error::custom("expected a boolean or a schema object")),
        }
    }
}

impl<'de> Deserialize<'de> for JSONSchemaPropsOrStringArray {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match crate::JsonValue::deserialize(d)? {
            crate::JsonValue::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    crate::JsonValue::String(s) => Ok(s),
                    _ => Err(D::Error::custom("expected an array of strings")),
                })
                .collect::<Result<_, _>>()
                .map(JSONSchemaPropsOrStringArray::Strings),
            v @ crate::JsonValue::Object(_) => {
                to_schema(v).map(JSONSchemaPropsOrStringArray::Schema)
            }
            _ => Err(D::Error::custom(
                "expected a schema object or an array of strings",
            )),
        }
    }
}
