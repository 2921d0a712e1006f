//! The three patch types of the Kubernetes API — JSON Patch, JSON Merge Patch and
//! strategic merge patch — as pure functions over `serde_json::Value`, with
//! kube-apiserver's limits and error classes.
//!
//! The server decodes the body with [`PatchType::decode`], applies it to the current
//! object's JSON with [`PatchType::apply`] (or the function of one type), then decodes,
//! defaults and validates the result as for an update. Clients compute strategic merge
//! patches with [`create_two_way_merge_patch`]. Server-side apply
//! (`application/apply-patch+yaml`) is not a patch in this sense and is not handled here.
//!
//! Recursion in this module follows the patch document, whose depth is checked first
//! against [`MAX_DEPTH`], so a hostile patch cannot overflow the stack.

mod error;
mod json_patch;
mod merge_patch;
mod strategic;
mod two_way;
mod values;

#[cfg(test)]
mod tests;

use serde_json::Value;

pub use error::{KubeStatus, PatchError, UNPROCESSABLE_MESSAGE};
pub use json_patch::{JSON_PATCH_MAX_COPY_BYTES, MAX_JSON_PATCH_OPERATIONS, json_patch};
pub use merge_patch::{INVALID_MERGE_PATCH, merge_patch, rfc7386_merge};
pub use strategic::{
    DELETE_FROM_PRIMITIVE_LIST, DIRECTIVE, RETAIN_KEYS, SET_ELEMENT_ORDER, messages,
    strategic_merge,
};
pub use two_way::create_two_way_merge_patch;

/// The deepest nesting a patch document, the object it applies to, or a patched result
/// may have: the depth Clipper's JSON decoder accepts
/// ([`clipper_proto::json::MAX_JSON_DEPTH`]), so nothing deeper could be stored anyway,
/// and small enough that recursion over it fits any thread's stack.
pub const MAX_DEPTH: usize = clipper_proto::json::MAX_JSON_DEPTH;

/// A patch type, by its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PatchType {
    /// `application/json-patch+json`, RFC 6902.
    Json,
    /// `application/merge-patch+json`, RFC 7386.
    Merge,
    /// `application/strategic-merge-patch+json`.
    StrategicMerge,
}

impl PatchType {
    pub const JSON_CONTENT_TYPE: &'static str = "application/json-patch+json";
    pub const MERGE_CONTENT_TYPE: &'static str = "application/merge-patch+json";
    pub const STRATEGIC_MERGE_CONTENT_TYPE: &'static str = "application/strategic-merge-patch+json";

    /// The patch type of a `Content-Type` header; parameters (`; charset=utf-8`) are
    /// ignored, as kube-apiserver ignores them. `None` for anything else, including
    /// server-side apply's `application/apply-patch+yaml`.
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        match media {
            Self::JSON_CONTENT_TYPE => Some(PatchType::Json),
            Self::MERGE_CONTENT_TYPE => Some(PatchType::Merge),
            Self::STRATEGIC_MERGE_CONTENT_TYPE => Some(PatchType::StrategicMerge),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => Self::JSON_CONTENT_TYPE,
            PatchType::Merge => Self::MERGE_CONTENT_TYPE,
            PatchType::StrategicMerge => Self::STRATEGIC_MERGE_CONTENT_TYPE,
        }
    }

    /// Decodes a request body as this patch type's JSON; a body that is not JSON is a
    /// 400, with kube-apiserver's `Invalid JSON Patch` for a merge patch and the parser's
    /// message otherwise.
    pub fn decode(self, body: &[u8]) -> Result<Value, PatchError> {
        serde_json::from_slice(body).map_err(|e| match self {
            PatchType::Merge => PatchError::BadRequest(INVALID_MERGE_PATCH.to_string()),
            PatchType::Json | PatchType::StrategicMerge => PatchError::BadRequest(e.to_string()),
        })
    }

    /// Applies `patch` to `original`, an object of the schema definition `definition`
    /// (which only strategic merge patch reads).
    pub fn apply(
        self,
        original: &Value,
        patch: &Value,
        definition: &str,
    ) -> Result<Value, PatchError> {
        match self {
            PatchType::Json => json_patch(original, patch),
            PatchType::Merge => merge_patch(original, patch),
            PatchType::StrategicMerge => strategic_merge(original, patch, definition),
        }
    }
}
