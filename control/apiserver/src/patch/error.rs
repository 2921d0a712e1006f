//! Patch errors, classified the way kube-apiserver answers them.
//!
//! kube-apiserver (k8s.io/apiserver `handlers/patch.go`, 1.33) answers a failed patch with:
//!
//! - **400 BadRequest**, the message as is: a patch document that does not decode (not a
//!   JSON array of operations, not a JSON object, a merge patch that is not an object) and
//!   the strategic-merge format errors mergepatch classifies (`invalid patch format of
//!   retainKeys`, `... of primitive list`, `... of setElementOrder list`, `strategic merge
//!   patch format is not supported`);
//! - **413 RequestEntityTooLarge**: more than 10,000 JSON Patch operations;
//! - **422 Invalid** with the fixed message *the server rejected our request due to an
//!   error in our request* and no details: every JSON Patch operation that does not apply
//!   (missing path, failed `test`, copy limit), and strategic merge patch's `lists of lists
//!   are not supported`. The library's own text (`add operation does not apply: doc is
//!   missing path ...`) is dropped by kube-apiserver; [`PatchError::detail`] keeps it;
//! - **500** with an empty reason and the library's text: the strategic merge patch errors
//!   nothing classifies (a list item without its merge key, `$patch: merge`, mismatched
//!   list element types, a `$setElementOrder` list that contradicts the patch list).

use std::fmt;

/// Why a patch could not be applied. See the module documentation for how each variant
/// maps onto kube-apiserver's answer; [`PatchError::status`] gives that answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PatchError {
    /// The patch document is malformed: 400 BadRequest with this message.
    BadRequest(String),
    /// A JSON Patch with more operations than
    /// [`MAX_JSON_PATCH_OPERATIONS`](super::MAX_JSON_PATCH_OPERATIONS): 413.
    TooManyOperations { count: usize },
    /// A well-formed patch that does not apply to this object: 422 Invalid. The message
    /// kube-apiserver sends is the generic one; this string is the cause.
    Unprocessable(String),
    /// An error kube-apiserver does not classify: it answers 500 with this message.
    Unclassified(String),
}

/// The `Status` kube-apiserver sends for a [`PatchError`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeStatus {
    /// HTTP status code.
    pub code: u16,
    /// `Status.reason`; empty for the unclassified errors, as kube-apiserver sends them.
    pub reason: &'static str,
    /// `Status.message`.
    pub message: String,
}

/// The `Status.message` kube-apiserver sends with every 422 from a patch that does not
/// apply (apimachinery `NewGenericServerResponse`); the cause is not included.
pub const UNPROCESSABLE_MESSAGE: &str =
    "the server rejected our request due to an error in our request";

impl PatchError {
    /// The HTTP status code kube-apiserver answers with.
    pub fn code(&self) -> u16 {
        match self {
            PatchError::BadRequest(_) => 400,
            PatchError::TooManyOperations { .. } => 413,
            PatchError::Unprocessable(_) => 422,
            PatchError::Unclassified(_) => 500,
        }
    }

    /// The `Status` kube-apiserver answers with: code, reason and message.
    pub fn status(&self) -> KubeStatus {
        let (reason, message) = match self {
            PatchError::BadRequest(m) => ("BadRequest", m.clone()),
            PatchError::TooManyOperations { .. } => (
                "RequestEntityTooLarge",
                format!("Request entity too large: {self}"),
            ),
            PatchError::Unprocessable(_) => ("Invalid", UNPROCESSABLE_MESSAGE.to_string()),
            PatchError::Unclassified(m) => ("", m.clone()),
        };
        KubeStatus {
            code: self.code(),
            reason,
            message,
        }
    }

    /// The full cause, including what kube-apiserver leaves out of a 422.
    pub fn detail(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatchError::BadRequest(m)
            | PatchError::Unprocessable(m)
            | PatchError::Unclassified(m) => f.write_str(m),
            PatchError::TooManyOperations { count } => write!(
                f,
                "The allowed maximum operations in a JSON patch is {}, got {count}",
                super::MAX_JSON_PATCH_OPERATIONS
            ),
        }
    }
}

impl std::error::Error for PatchError {}
