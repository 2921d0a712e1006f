//! clipper-proto: the Kubernetes API types and every wire format Clipper speaks.
//!
//! - [`api`]: the types of the served groups, generated from the Kubernetes 1.33 OpenAPI
//!   definitions by `clipper-protogen` (serde JSON as Kubernetes writes it, rkyv for storage
//!   and the QUIC wire);
//! - the special types the definitions leave abstract: [`Quantity`], [`IntOrString`],
//!   [`Time`], [`MicroTime`], [`ByteString`], [`JsonValue`] (RawExtension, FieldsV1, JSON),
//!   and the JSONSchemaProps unions in [`jsonschema`];
//! - [`codec`]: JSON and multi-document YAML in, with unknown-field detection for the API
//!   server's fieldValidation;
//! - [`protobuf`]: Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`)
//!   decoded into the generated types, and encoded back;
//! - [`envelope`]: the rkyv envelope (magic, format version, kind, checksum) that the store
//!   holds and the QUIC protocol carries;
//! - [`schema`]: the definitions at run time (patch strategies, merge keys, list types);
//! - [`dynamic`]: custom resources, typed metadata plus JSON content.
//!
//! Architecture invariant: this crate knows the wire formats and nothing about sockets,
//! storage or the clock (`Time::now` aside).

pub mod api;
pub mod bytestring;
pub mod codec;
pub mod dynamic;
pub mod envelope;
pub mod intorstr;
pub mod json;
pub mod jsonschema;
pub mod protobuf;
pub mod quantity;
pub mod schema;
pub mod selector;
pub mod serde_util;
pub mod spdy;
pub mod time;
pub mod wire;

pub use bytestring::ByteString;
pub use dynamic::DynamicObject;
pub use intorstr::IntOrString;
pub use json::{FieldsV1, JsonNumber, JsonValue, RawExtension};
pub use quantity::Quantity;
pub use time::{MicroTime, Time};

/// A top-level kind with exactly one group-version-kind.
pub trait Resource {
    /// API group, "" for the core group.
    const GROUP: &'static str;
    const VERSION: &'static str;
    const KIND: &'static str;
    /// `version` for the core group, `group/version` otherwise.
    const API_VERSION: &'static str;
    /// The OpenAPI definition name, e.g. `io.k8s.api.core.v1.Pod`.
    const DEFINITION: &'static str;
}

/// A kind with `metadata: ObjectMeta`.
pub trait HasObjectMeta {
    fn metadata(&self) -> &api::meta::v1::ObjectMeta;
    fn metadata_mut(&mut self) -> &mut api::meta::v1::ObjectMeta;
}

/// A list kind with `metadata: ListMeta`.
pub trait HasListMeta {
    fn metadata(&self) -> &api::meta::v1::ListMeta;
    fn metadata_mut(&mut self) -> &mut api::meta::v1::ListMeta;
}

/// One entry of [`api::KINDS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindInfo {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Path under `clipper_proto::api`, e.g. `core::v1::Pod`.
    pub rust_path: &'static str,
    /// OpenAPI definition name.
    pub definition: &'static str,
}

impl KindInfo {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Looks up a kind by apiVersion and kind.
    pub fn find(api_version: &str, kind: &str) -> Option<&'static KindInfo> {
        let (group, version) = split_api_version(api_version);
        api::KINDS
            .iter()
            .find(|k| k.group == group && k.version == version && k.kind == kind)
    }
}

/// `apps/v1` → ("apps", "v1"); `v1` → ("", "v1").
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}
