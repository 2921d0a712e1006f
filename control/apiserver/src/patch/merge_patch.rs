//! JSON Merge Patch (RFC 7386, `application/merge-patch+json`): `null` deletes a member,
//! objects merge recursively, anything else (lists included) replaces.
//!
//! kube-apiserver applies it with gopkg.in/evanphx/json-patch.v4 and answers 400 `Invalid
//! JSON Patch` to a patch that is not an object. Unlike that library, nulls inside a
//! replacing list's items are kept, as RFC 7386 says (the library drops null members of
//! objects inside a list that replaces a missing or non-object value).

use serde_json::{Map, Value};

use super::values::{exceeds_depth, remove_key};
use super::{MAX_DEPTH, PatchError};

/// The message kube-apiserver answers (400) to a merge patch that is not a JSON object.
pub const INVALID_MERGE_PATCH: &str = "Invalid JSON Patch";

/// Applies a merge patch to an API object, with kube-apiserver's checks: the patch must
/// be a JSON object.
pub fn merge_patch(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    if !patch.is_object() {
        return Err(PatchError::BadRequest(INVALID_MERGE_PATCH.to_string()));
    }
    rfc7386_merge(original, patch)
}

/// RFC 7386's `MergePatch(target, patch)` for any JSON values. Fails only for a patch
/// nested deeper than [`MAX_DEPTH`], which would otherwise recurse without bound.
pub fn rfc7386_merge(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    if exceeds_depth(patch, 0, MAX_DEPTH) {
        return Err(PatchError::BadRequest(format!(
            "patch is nested deeper than {MAX_DEPTH} levels"
        )));
    }
    let mut out = target.clone();
    merge_into(&mut out, patch);
    Ok(out)
}

/// Recursion follows the patch, whose depth the callers have bounded.
fn merge_into(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else { return };
    for (k, v) in p {
        if v.is_null() {
            remove_key(t, k);
        } else {
            merge_into(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}
