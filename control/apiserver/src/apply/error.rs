//! Apply errors and the `Status` kube-apiserver answers each with.
//!
//! - **409 Conflict** for fields another manager owns with other values, with the message
//!   and `details.causes` (`FieldManagerConflict`) kube-apiserver writes (conflict.go);
//! - **409 Conflict** for failed preconditions: a `uid` in a configuration that creates, a
//!   `resourceVersion` that is not the object's;
//! - **400 BadRequest** for a configuration of the wrong kind or version, one that sets
//!   `metadata.managedFields`, or one that is not an object;
//! - **422 Invalid** for a bad `fieldManager` (PatchOptions validation);
//! - **500** with no reason for a configuration or object that does not fit its schema
//!   (undeclared fields, wrong types, duplicate or keyless list items): kube-apiserver
//!   returns the typed-conversion error as an internal error, and so does Clipper.

use std::fmt;

use clipper_proto::api::meta::v1::{Status, StatusCause, StatusDetails};

use super::fieldpath::Path;
use super::managed::ManagerId;

/// `StatusCause.reason` of an apply conflict.
pub const CAUSE_FIELD_MANAGER_CONFLICT: &str = "FieldManagerConflict";

/// kube-apiserver's optimistic-lock message.
pub const OPTIMISTIC_LOCK_MESSAGE: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// One field another manager owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub manager: ManagerId,
    pub path: Path,
}

/// An invalid request option (`fieldManager`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionError {
    pub field: String,
    /// `FieldValueRequired`, `FieldValueTooLong`, `FieldValueInvalid`.
    pub reason: &'static str,
    /// The error without the field: `Required value: is required for apply patch`.
    pub body: String,
}

/// Why an apply (or a field manager check) failed.
#[derive(Clone, Debug, PartialEq)]
pub enum ApplyError {
    /// Fields other managers own with other values: 409.
    Conflicts(Vec<Conflict>),
    /// The request cannot be applied as sent: 400.
    BadRequest(String),
    /// Invalid request options, `kind` being `PatchOptions`, `CreateOptions`...: 422.
    InvalidOptions {
        kind: String,
        errors: Vec<OptionError>,
    },
    /// A configuration that creates the object names a `uid`: 409.
    UidMismatch { name: String, uid: String },
    /// The configuration's `resourceVersion` is not the object's: 409.
    ResourceVersionMismatch { name: String },
    /// The configuration or the object does not fit its schema, or stored managed fields
    /// do not decode: 500 with no reason, as kube-apiserver answers.
    Internal(String),
}

impl ApplyError {
    pub fn code(&self) -> u16 {
        match self {
            ApplyError::Conflicts(_)
            | ApplyError::UidMismatch { .. }
            | ApplyError::ResourceVersionMismatch { .. } => 409,
            ApplyError::BadRequest(_) => 400,
            ApplyError::InvalidOptions { .. } => 422,
            ApplyError::Internal(_) => 500,
        }
    }

    /// The `Status` kube-apiserver answers with. Precondition conflicts name the
    /// resource in their message; [`status_for`](Self::status_for) fills it in.
    pub fn status(&self) -> Status {
        self.status_for("", "")
    }

    /// The `Status`, precondition conflicts naming `resource` in `group`
    /// (`Operation cannot be fulfilled on deployments.apps "web": ...`).
    pub fn status_for(&self, group: &str, resource: &str) -> Status {
        let failure =
            |reason: Option<&str>, message: String, details: Option<StatusDetails>| Status {
                code: Some(i32::from(self.code())),
                status: Some("Failure".into()),
                reason: reason.map(str::to_string),
                message: Some(message),
                details,
                ..Status::default()
            };
        match self {
            ApplyError::Conflicts(conflicts) => {
                let causes = conflicts
                    .iter()
                    .map(|c| StatusCause {
                        reason: Some(CAUSE_FIELD_MANAGER_CONFLICT.into()),
                        message: Some(format!("conflict with {}", c.manager.describe())),
                        field: Some(c.path.to_string()),
                    })
                    .collect();
                let details = StatusDetails {
                    causes: Some(causes),
                    ..StatusDetails::default()
                };
                failure(Some("Conflict"), self.to_string(), Some(details))
            }
            ApplyError::BadRequest(m) => failure(Some("BadRequest"), m.clone(), None),
            ApplyError::InvalidOptions { kind, errors } => {
                let causes = errors
                    .iter()
                    .map(|e| StatusCause {
                        reason: Some(e.reason.into()),
                        message: Some(e.body.clone()),
                        field: Some(e.field.clone()),
                    })
                    .collect();
                let details = StatusDetails {
                    name: Some(String::new()),
                    group: Some("meta.k8s.io".into()),
                    kind: Some(kind.clone()),
                    causes: Some(causes),
                    ..StatusDetails::default()
                };
                failure(Some("Invalid"), self.to_string(), Some(details))
            }
            ApplyError::UidMismatch { name, .. } | ApplyError::ResourceVersionMismatch { name } => {
                let qualified = match (resource, group) {
                    ("", _) => String::new(),
                    (r, "") => format!("{r} "),
                    (r, g) => format!("{r}.{g} "),
                };
                let message = format!(
                    "Operation cannot be fulfilled on {qualified}{}: {}",
                    super::gofmt::quote(name),
                    self.cause()
                );
                let details = StatusDetails {
                    name: Some(name.clone()),
                    group: Some(group.to_string()),
                    kind: Some(resource.to_string()),
                    ..StatusDetails::default()
                };
                failure(Some("Conflict"), message, Some(details))
            }
            ApplyError::Internal(m) => failure(None, m.clone(), None),
        }
    }

    /// The reason of a precondition conflict, without the resource.
    fn cause(&self) -> String {
        match self {
            ApplyError::UidMismatch { uid, .. } => format!(
                "uid mismatch: the provided object specified uid {uid}, and no existing object was found"
            ),
            ApplyError::ResourceVersionMismatch { .. } => OPTIMISTIC_LOCK_MESSAGE.to_string(),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyError::Conflicts(conflicts) => f.write_str(&conflict_message(conflicts)),
            ApplyError::BadRequest(m) | ApplyError::Internal(m) => f.write_str(m),
            ApplyError::InvalidOptions { kind, errors } => {
                let each: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.body))
                    .collect();
                let list = match each.as_slice() {
                    [one] => one.clone(),
                    many => format!("[{}]", many.join(", ")),
                };
                write!(f, "{kind}.meta.k8s.io \"\" is invalid: {list}")
            }
            ApplyError::UidMismatch { .. } | ApplyError::ResourceVersionMismatch { .. } => {
                f.write_str(&self.cause())
            }
        }
    }
}

impl std::error::Error for ApplyError {}

/// `Apply failed with 1 conflict: conflict with "m" using apps/v1: .spec.replicas`, or
/// with several, each manager's paths on lines of their own, managers in identifier order.
fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            c.manager.describe(),
            c.path
        );
    }
    let mut by_manager: Vec<(String, &ManagerId, Vec<&Path>)> = Vec::new();
    for c in conflicts {
        let key = c.manager.identifier();
        match by_manager.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, _, paths)) => paths.push(&c.path),
            None => by_manager.push((key, &c.manager, vec![&c.path])),
        }
    }
    by_manager.sort_by(|a, b| a.0.cmp(&b.0));
    let mut lines = Vec::new();
    for (_, manager, paths) in by_manager {
        lines.push(format!("conflicts with {}:", manager.describe()));
        lines.extend(paths.into_iter().map(|p| format!("- {p}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}
