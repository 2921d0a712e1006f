//! JSON Patch (RFC 6902, `application/json-patch+json`) with JSON Pointer (RFC 6901), as
//! kube-apiserver 1.33 applies it (gopkg.in/evanphx/json-patch.v4 v4.12.0).
//!
//! Kubernetes behaviours kept because clients written against kube-apiserver rely on them:
//! negative array indices count from the end (`/args/-1` is the last item); `replace` of
//! a missing object member adds it; an operation without `value` uses `null`; the copy
//! operations of one patch may add at most [`JSON_PATCH_MAX_COPY_BYTES`]; at most
//! [`MAX_JSON_PATCH_OPERATIONS`] operations. Unlike kube-apiserver, `copy` from a missing
//! member fails (kube copies `null`) and `replace` of the root with a non-container fails
//! (kube ignores it).

use serde_json::{Map, Value};

use super::values::{exceeds_depth, json_kind, json_len, remove_key};
use super::{MAX_DEPTH, PatchError};

/// The most operations one JSON Patch may hold (k8s.io/apiserver `maxJSONPatchOperations`):
/// each operation walks the object, so the count bounds the work of one request.
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// The most bytes the `copy` operations of one patch may add (kube-apiserver's
/// `JSONPatchMaxCopyBytes`, 3 MiB): without it, a few `copy` operations of the whole
/// object into itself grow it exponentially.
pub const JSON_PATCH_MAX_COPY_BYTES: usize = 3 * 1024 * 1024;

const MISSING: &str = "missing value";
const INVALID_INDEX: &str = "invalid index referenced";

/// Applies a JSON Patch document (a JSON array of operations) to `original`.
pub fn json_patch(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops = decode(patch)?;
    let mut doc = original.clone();
    let mut copied = 0usize;
    for op in ops {
        apply_op(&mut doc, op, &mut copied).map_err(PatchError::Unprocessable)?;
    }
    Ok(doc)
}

/// Checks the document's shape and size before anything is applied.
fn decode(patch: &Value) -> Result<Vec<Option<&Map<String, Value>>>, PatchError> {
    let Value::Array(items) = patch else {
        return Err(PatchError::BadRequest(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
            json_kind(patch)
        )));
    };
    let mut ops = Vec::with_capacity(items.len().min(MAX_JSON_PATCH_OPERATIONS));
    for item in items {
        match item {
            Value::Object(m) => ops.push(Some(m)),
            // Go decodes a null operation as an empty one, which then has no kind.
            Value::Null => ops.push(None),
            other => {
                return Err(PatchError::BadRequest(format!(
                    "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
                    json_kind(other)
                )));
            }
        }
    }
    if ops.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooManyOperations { count: ops.len() });
    }
    if exceeds_depth(patch, 0, MAX_DEPTH) {
        return Err(PatchError::BadRequest(format!(
            "patch is nested deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(ops)
}

/// A string member of an operation (`path`, `from`), with the reason it is unusable.
fn string_field<'a>(op: Option<&'a Map<String, Value>>, name: &str) -> Result<&'a str, String> {
    match op.and_then(|m| m.get(name)) {
        None | Some(Value::Null) => Err(format!("operation missing {name} field: {MISSING}")),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!(
            "json: cannot unmarshal {} into Go value of type string",
            json_kind(other)
        )),
    }
}

fn value_field(op: Option<&Map<String, Value>>) -> Value {
    op.and_then(|m| m.get("value"))
        .cloned()
        .unwrap_or(Value::Null)
}

/// A parsed pointer: the tokens up to the parent, and the last token.
struct Pointer {
    parent: Vec<String>,
    key: String,
}

impl Pointer {
    /// `None` for the root pointer `""` and for pointers that do not start with `/`.
    fn parse(path: &str) -> Option<Pointer> {
        let rest = path.strip_prefix('/')?;
        let mut tokens: Vec<String> = rest.split('/').map(unescape).collect();
        let key = tokens.pop()?;
        Some(Pointer {
            parent: tokens,
            key,
        })
    }

    fn depth(&self) -> usize {
        self.parent.len() + 1
    }
}

/// RFC 6901 token decoding: `~1` is `/`, `~0` is `~`, left to right.
fn unescape(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.peek() {
                Some('1') => {
                    out.push('/');
                    chars.next();
                }
                Some('0') => {
                    out.push('~');
                    chars.next();
                }
                _ => out.push('~'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// An array index as Go's `strconv.Atoi` reads it.
fn parse_index(key: &str) -> Result<i64, String> {
    key.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {key:?}: invalid syntax"))
}

/// An existing element's position; negative indices count from the end.
fn existing_index(key: &str, len: usize) -> Result<usize, String> {
    let idx = parse_index(key)?;
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    let resolved = if idx < 0 { idx + len_i } else { idx };
    if resolved < 0 || resolved >= len_i {
        return Err(format!(
            "Unable to access invalid index: {idx}: {INVALID_INDEX}"
        ));
    }
    usize::try_from(resolved)
        .map_err(|_| format!("Unable to access invalid index: {idx}: {INVALID_INDEX}"))
}

/// The container holding the pointer's last token, if every step exists and is a
/// container.
fn parent_mut<'a>(doc: &'a mut Value, ptr: &Pointer) -> Option<&'a mut Value> {
    let mut cur = doc;
    for token in &ptr.parent {
        cur = match cur {
            Value::Object(m) => m.get_mut(token)?,
            Value::Array(a) => {
                let i = existing_index(token, a.len()).ok()?;
                a.get_mut(i)?
            }
            _ => return None,
        };
    }
    matches!(cur, Value::Object(_) | Value::Array(_)).then_some(cur)
}

/// The value at `key` in `container`: `Ok(None)` for a missing object member (Go's
/// lookup does not fail there), an error for a bad array index.
fn get<'a>(container: &'a Value, key: &str) -> Result<Option<&'a Value>, String> {
    match container {
        Value::Object(m) => Ok(m.get(key)),
        Value::Array(a) => Ok(a.get(existing_index(key, a.len())?)),
        _ => Ok(None),
    }
}

fn add(container: &mut Value, key: &str, value: Value) -> Result<(), String> {
    match container {
        Value::Object(m) => {
            m.insert(key.to_string(), value);
            Ok(())
        }
        Value::Array(a) => {
            if key == "-" {
                a.push(value);
                return Ok(());
            }
            let idx = parse_index(key)
                .map_err(|e| format!("value was not a proper array index: '{key}': {e}"))?;
            // Go sizes the new array first: index len is the end, negative counts from it.
            let new_len = i64::try_from(a.len()).unwrap_or(i64::MAX) + 1;
            let resolved = if idx < 0 { idx + new_len } else { idx };
            if idx >= new_len || resolved < 0 {
                return Err(format!(
                    "Unable to access invalid index: {idx}: {INVALID_INDEX}"
                ));
            }
            let at = usize::try_from(resolved)
                .map_err(|_| format!("Unable to access invalid index: {idx}: {INVALID_INDEX}"))?;
            a.insert(at, value);
            Ok(())
        }
        _ => Err(MISSING.to_string()),
    }
}

fn remove(container: &mut Value, key: &str) -> Result<Value, String> {
    match container {
        Value::Object(m) => remove_key(m, key)
            .ok_or_else(|| format!("Unable to remove nonexistent key: {key}: {MISSING}")),
        Value::Array(a) => {
            let i = existing_index(key, a.len())?;
            Ok(a.remove(i))
        }
        _ => Err(MISSING.to_string()),
    }
}

/// Refuses a value that would nest deeper than [`MAX_DEPTH`] once placed at `ptr`.
fn check_depth(ptr: &Pointer, value: &Value, path: &str) -> Result<(), String> {
    if exceeds_depth(value, ptr.depth(), MAX_DEPTH) {
        return Err(format!(
            "the value at {path} would be nested deeper than {MAX_DEPTH} levels"
        ));
    }
    Ok(())
}

fn apply_op(
    doc: &mut Value,
    op: Option<&Map<String, Value>>,
    copied: &mut usize,
) -> Result<(), String> {
    let kind = match op.and_then(|m| m.get("op")) {
        Some(Value::String(s)) => s.as_str(),
        _ => "unknown",
    };
    match kind {
        "add" => op_add(doc, op),
        "remove" => op_remove(doc, op),
        "replace" => op_replace(doc, op),
        "move" => op_move(doc, op),
        "copy" => op_copy(doc, op, copied),
        "test" => op_test(doc, op),
        other => Err(format!("Unexpected kind: {other}")),
    }
}

fn op_add(doc: &mut Value, op: Option<&Map<String, Value>>) -> Result<(), String> {
    let path = string_field(op, "path")
        .map_err(|_| format!("add operation failed to decode path: {MISSING}"))?;
    let missing =
        || format!("add operation does not apply: doc is missing path: {path:?}: {MISSING}");
    let ptr = Pointer::parse(path).ok_or_else(missing)?;
    let value = value_field(op);
    check_depth(&ptr, &value, path)?;
    let parent = parent_mut(doc, &ptr).ok_or_else(missing)?;
    add(parent, &ptr.key, value).map_err(|e| format!("error in add for path: '{path}': {e}"))
}

fn op_remove(doc: &mut Value, op: Option<&Map<String, Value>>) -> Result<(), String> {
    let path = string_field(op, "path")
        .map_err(|_| format!("remove operation failed to decode path: {MISSING}"))?;
    let missing =
        || format!("remove operation does not apply: doc is missing path: {path:?}: {MISSING}");
    let ptr = Pointer::parse(path).ok_or_else(missing)?;
    let parent = parent_mut(doc, &ptr).ok_or_else(missing)?;
    remove(parent, &ptr.key)
        .map(drop)
        .map_err(|e| format!("error in remove for path: '{path}': {e}"))
}

fn op_replace(doc: &mut Value, op: Option<&Map<String, Value>>) -> Result<(), String> {
    let path = string_field(op, "path")
        .map_err(|e| format!("replace operation failed to decode path: {e}"))?;
    let value = value_field(op);
    if path.is_empty() {
        if !matches!(value, Value::Object(_) | Value::Array(_)) {
            return Err("replace operation value must be object or array".to_string());
        }
        if exceeds_depth(&value, 0, MAX_DEPTH) {
            return Err(format!(
                "the value at {path} would be nested deeper than {MAX_DEPTH} levels"
            ));
        }
        *doc = value;
        return Ok(());
    }
    let ptr = Pointer::parse(path).ok_or_else(|| {
        format!("replace operation does not apply: doc is missing path: {path}: {MISSING}")
    })?;
    check_depth(&ptr, &value, path)?;
    let parent = parent_mut(doc, &ptr).ok_or_else(|| {
        format!("replace operation does not apply: doc is missing path: {path}: {MISSING}")
    })?;
    match parent {
        // kube-apiserver's library finds every object member, so a missing one is added.
        Value::Object(m) => {
            m.insert(ptr.key, value);
            Ok(())
        }
        Value::Array(a) => {
            let i = existing_index(&ptr.key, a.len()).map_err(|_| {
                format!("replace operation does not apply: doc is missing key: {path}: {MISSING}")
            })?;
            a[i] = value;
            Ok(())
        }
        _ => Err(format!(
            "replace operation does not apply: doc is missing path: {path}: {MISSING}"
        )),
    }
}

fn op_move(doc: &mut Value, op: Option<&Map<String, Value>>) -> Result<(), String> {
    let from = string_field(op, "from")
        .map_err(|e| format!("move operation failed to decode from: {e}"))?;
    let missing_from =
        || format!("move operation does not apply: doc is missing from path: {from}: {MISSING}");
    let from_ptr = Pointer::parse(from).ok_or_else(missing_from)?;
    let path = string_field(op, "path")
        .map_err(|e| format!("move operation failed to decode path: {e}"))?;
    let missing_to = || {
        format!("move operation does not apply: doc is missing destination path: {path}: {MISSING}")
    };
    let to_ptr = Pointer::parse(path).ok_or_else(missing_to)?;

    let source = parent_mut(doc, &from_ptr).ok_or_else(missing_from)?;
    let value = remove(source, &from_ptr.key)
        .map_err(|e| format!("error in move for path: '{}': {e}", from_ptr.key))?;
    check_depth(&to_ptr, &value, path)?;
    let target = parent_mut(doc, &to_ptr).ok_or_else(missing_to)?;
    add(target, &to_ptr.key, value).map_err(|e| format!("error in move for path: '{path}': {e}"))
}

fn op_copy(
    doc: &mut Value,
    op: Option<&Map<String, Value>>,
    copied: &mut usize,
) -> Result<(), String> {
    let from = string_field(op, "from")
        .map_err(|e| format!("copy operation failed to decode from: {e}"))?;
    let missing_from =
        || format!("copy operation does not apply: doc is missing from path: {from}: {MISSING}");
    let from_ptr = Pointer::parse(from).ok_or_else(missing_from)?;
    let path = string_field(op, "path")
        .map_err(|_| format!("copy operation failed to decode path: {MISSING}"))?;
    let missing_to = || {
        format!("copy operation does not apply: doc is missing destination path: {path}: {MISSING}")
    };
    let to_ptr = Pointer::parse(path).ok_or_else(missing_to)?;

    let source = parent_mut(doc, &from_ptr).ok_or_else(missing_from)?;
    let value = get(source, &from_ptr.key)
        .map_err(|e| format!("error in copy for from: '{from}': {e}"))?
        .ok_or_else(missing_from)?
        .clone();
    *copied = copied.saturating_add(json_len(&value));
    if *copied > JSON_PATCH_MAX_COPY_BYTES {
        return Err(format!(
            "Unable to complete the copy, the accumulated size increase of copy is {copied}, exceeding the limit {JSON_PATCH_MAX_COPY_BYTES}"
        ));
    }
    check_depth(&to_ptr, &value, path)?;
    let target = parent_mut(doc, &to_ptr).ok_or_else(missing_to)?;
    add(target, &to_ptr.key, value)
        .map_err(|e| format!("error while adding value during copy: {e}"))
}

fn op_test(doc: &mut Value, op: Option<&Map<String, Value>>) -> Result<(), String> {
    let path = string_field(op, "path")
        .map_err(|e| format!("test operation failed to decode path: {e}"))?;
    let expected = value_field(op);
    let failed = || format!("testing value {path} failed: test failed");
    if path.is_empty() {
        return if *doc == expected {
            Ok(())
        } else {
            Err(failed())
        };
    }
    let missing = || format!("test operation does not apply: is missing path: {path}: {MISSING}");
    let ptr = Pointer::parse(path).ok_or_else(missing)?;
    let parent = parent_mut(doc, &ptr).ok_or_else(missing)?;
    let actual =
        get(parent, &ptr.key).map_err(|e| format!("error in test for path: '{path}': {e}"))?;
    // A missing member tests equal to null, as in kube-apiserver.
    if actual.unwrap_or(&Value::Null) == &expected {
        Ok(())
    } else {
        Err(failed())
    }
}
