//! Server-side apply and managed fields, with the semantics of Kubernetes 1.33
//! (sigs.k8s.io/structured-merge-diff `typed`, `fieldpath`, `merge`, and
//! k8s.io/apimachinery `managedfields`), as pure functions over `serde_json::Value`.
//!
//! - [`apply`]: merges an apply configuration (`application/apply-patch+yaml`, decoded)
//!   into the live object for a manager, with conflicts ([`ApplyError::Conflicts`], a 409
//!   with kube-apiserver's message and causes) unless forced, and returns the new object
//!   with its `metadata.managedFields`;
//! - [`update_managed_fields`]: the managedFields of any other write (create, update,
//!   patch, status writes), computed from the old and new objects;
//! - [`FieldManager`]: both, with a subresource, reset fields and the cap on Update
//!   entries;
//! - [`FieldSet`], [`Path`], [`PathElement`]: field sets and their FieldsV1 encoding;
//! - [`SchemaLookup`]: the types to merge by — [`BuiltinSchema`] for the built-in kinds,
//!   [`CrdSchema`] from a CRD's `openAPIV3Schema`, [`Untyped`] (everything deduced).
//!
//! Time is passed in; nothing here reads the clock, the store or the network. A handler
//! calls [`apply`] with the stored object (managedFields included) for
//! `application/apply-patch+yaml`, and [`update_managed_fields`] for every other write
//! once the new object is decoded and defaulted (kube-apiserver records defaults as set by
//! the writer), with the manager from [`manager_or_user_agent`]. Either result then goes
//! through defaulting, validation and admission like any update; the handler checks the
//! name and namespace against the URL, and the store the `resourceVersion` the object
//! carries (an apply configuration's own `resourceVersion` is a precondition).
//!
//! Recursion follows the objects and configurations, whose depth is checked first
//! against [`MAX_FIELD_DEPTH`].
//!
//! Deliberate differences from kube-apiserver:
//!
//! - one version per kind: managers that wrote another apiVersion of the kind are compared
//!   at the object's version as if the field paths were the same (kube-apiserver converts
//!   the object to each manager's version);
//! - kube-apiserver compares built-in objects as their Go types write them; Clipper adds
//!   the members Go always writes from the definitions (`required` members at their zero
//!   value, `metadata`, `spec`, `status`, `strategy` and `updateStrategy` as objects), so
//!   the `".": {}` markers of Update entries may differ where a Go field is a pointer or a
//!   value against that rule; like kube-apiserver's, an apply's result keeps those members;
//! - [`FieldSet::to_fields_v1`] is a `serde_json::Value`, whose keys serialize in string
//!   order; [`FieldSet::to_json`] gives kube-apiserver's exact bytes and order;
//! - objects are not defaulted after an apply (Clipper's admission defaults every write);
//! - objects nested deeper than [`MAX_FIELD_DEPTH`] are refused (400) rather than stored
//!   with managedFields too deep to read back.

mod error;
mod fieldpath;
mod gofmt;
mod managed;
mod manager;
mod schema;
mod typed;

#[cfg(test)]
mod tests;

use clipper_proto::Time;
use serde_json::Value;

pub use error::{
    ApplyError, CAUSE_FIELD_MANAGER_CONFLICT, Conflict, OPTIMISTIC_LOCK_MESSAGE, OptionError,
};
pub use fieldpath::{FieldSet, Path, PathElement};
pub use managed::{APPLY, FIELDS_V1, ManagerId, Operation, UPDATE};
pub use manager::{
    FieldManager, exceeds_depth, manager_from_user_agent, manager_or_user_agent,
    validate_field_manager,
};
pub use schema::{BuiltinSchema, CrdSchema, KEY_DEFAULTS, SchemaLookup, TypedRoot, Untyped};

/// The deepest nesting an object or configuration may have: the depth Clipper's JSON
/// decoder accepts, so nothing deeper could be stored anyway, and shallow enough that the
/// recursive walks fit any thread's stack.
pub const MAX_DEPTH: usize = clipper_proto::json::MAX_JSON_DEPTH;

/// How deep an object or configuration may nest to be applied or tracked. Its
/// managedFields record a field at depth `d` as an object at depth `d + 4`
/// (`metadata.managedFields[i].fieldsV1` first), and the JSON decoder accepts objects down
/// to depth `MAX_DEPTH - 2` (127 nested containers, the root's included): objects within
/// this depth can be stored with their managedFields and read back.
pub const MAX_FIELD_DEPTH: usize = MAX_DEPTH - 6;

/// Update entries kept before the oldest are merged (kube-apiserver's
/// `DefaultMaxUpdateManagers`): enough for the controllers that write an object, few
/// enough that managedFields stay small.
pub const DEFAULT_MAX_UPDATE_MANAGERS: usize = 10;

/// The manager old Update entries are merged into.
pub const ANCIENT_CHANGES: &str = "ancient-changes";

/// The manager the fields of an untracked object are given before its first apply.
pub const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// Where `kubectl apply` (client-side) keeps the configuration it applied.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The most bytes an object's annotations may hold (keys and values), as Kubernetes
/// validates them; a last-applied annotation that would pass it is dropped.
pub const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// The longest `fieldManager` Kubernetes accepts, in bytes.
pub const FIELD_MANAGER_MAX_LENGTH: usize = 128;

/// Applies `config` for `manager` to `live` (`None` when the apply creates the object),
/// with the built-in fields manager settings (main resource, no reset fields), and
/// returns the new object including `metadata.managedFields`.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    schema: &dyn SchemaLookup,
    now: Time,
) -> Result<Value, ApplyError> {
    FieldManager::new(schema).apply(live, config, manager, force, now)
}

/// Sets `new`'s `metadata.managedFields` after `manager` wrote it over `old` (`None` for a
/// create), through `subresource` if any. Never fails: on an error `new` keeps `old`'s
/// managedFields, as kube-apiserver does.
pub fn update_managed_fields(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
    schema: &dyn SchemaLookup,
    now: Time,
) {
    let fm = FieldManager::new(schema).with_subresource(subresource.unwrap_or(""));
    fm.update(old, new, manager, now);
}
