//! Field errors as Kubernetes reports them: the cause types, the `<path>: <body>` messages
//! (values rendered the way Go's `%q`/`%v`/`%#v` print them) and the 422 summary line.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use clipper_proto::api::meta::v1::LabelSelector;

/// The kind of a field error (`field.ErrorType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorType {
    Required,
    Invalid,
    NotSupported,
    Duplicate,
    Forbidden,
    TooLong,
    TooMany,
    NotFound,
}

impl ErrorType {
    /// The `StatusCause.reason` string (`metav1.CauseType`).
    pub fn reason(self) -> &'static str {
        match self {
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::NotFound => "FieldValueNotFound",
        }
    }

    /// The human text that starts an error body ("Required value", "Invalid value", ...).
    pub fn text(self) -> &'static str {
        match self {
            ErrorType::Required => "Required value",
            ErrorType::Invalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::NotFound => "Not found",
        }
    }
}

/// One validation failure, as `field.Error` carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub kind: ErrorType,
    /// The JSON path of the offending field, e.g. `spec.template.spec.containers[0].name`.
    pub field: String,
    /// The offending value as Kubernetes prints it in the message: strings Go-quoted
    /// (`"Foo"`), numbers and booleans bare, composite values in Go syntax where Kubernetes
    /// users see them (label selectors, string maps and lists). `None` when the error type
    /// does not show a value (Required, Forbidden, TooLong) or the value is omitted.
    pub bad_value: Option<String>,
    pub detail: String,
}

impl FieldError {
    fn new(
        kind: ErrorType,
        field: &Path,
        bad_value: Option<String>,
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError {
            kind,
            field: field.to_string(),
            bad_value,
            detail: detail.into(),
        }
    }

    pub fn required(field: &Path, detail: impl Into<String>) -> FieldError {
        FieldError::new(ErrorType::Required, field, None, detail)
    }

    pub fn forbidden(field: &Path, detail: impl Into<String>) -> FieldError {
        FieldError::new(ErrorType::Forbidden, field, None, detail)
    }

    pub fn invalid(field: &Path, value: impl GoValue, detail: impl Into<String>) -> FieldError {
        FieldError::new(ErrorType::Invalid, field, Some(value.go()), detail)
    }

    /// An Invalid error whose value Kubernetes omits from the message.
    pub fn invalid_omit(field: &Path, detail: impl Into<String>) -> FieldError {
        FieldError::new(ErrorType::Invalid, field, None, detail)
    }

    pub fn duplicate(field: &Path, value: impl GoValue) -> FieldError {
        FieldError::new(ErrorType::Duplicate, field, Some(value.go()), "")
    }

    pub fn not_found(field: &Path, value: impl GoValue) -> FieldError {
        FieldError::new(ErrorType::NotFound, field, Some(value.go()), "")
    }

    /// `field.NotSupported`: the detail lists the accepted values, each Go-quoted.
    pub fn not_supported(field: &Path, value: impl GoValue, valid: &[&str]) -> FieldError {
        let detail = if valid.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = valid.iter().map(|v| go_quote(v)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        FieldError::new(ErrorType::NotSupported, field, Some(value.go()), detail)
    }

    /// `field.TooLong` with a byte limit.
    pub fn too_long(field: &Path, max: usize) -> FieldError {
        FieldError::new(
            ErrorType::TooLong,
            field,
            None,
            format!("may not be more than {max} bytes"),
        )
    }

    pub fn too_many(field: &Path, actual: usize, max: usize) -> FieldError {
        FieldError::new(
            ErrorType::TooMany,
            field,
            Some(actual.to_string()),
            format!("must have at most {max} items"),
        )
    }

    /// The body Kubernetes puts in `StatusCause.message` (`field.Error.ErrorBody`).
    pub fn body(&self) -> String {
        let mut s = String::from(self.kind.text());
        match self.kind {
            ErrorType::Required | ErrorType::Forbidden | ErrorType::TooLong => {}
            _ => {
                if let Some(v) = &self.bad_value {
                    s.push_str(": ");
                    s.push_str(v);
                }
            }
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }

    /// `<field>: <body>`, as `field.Error.Error()` prints it.
    pub fn message(&self) -> String {
        format!("{}: {}", self.field, self.body())
    }

    /// The `StatusCause.reason` of this error.
    pub fn reason(&self) -> &'static str {
        self.kind.reason()
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

/// The `metav1.Status.message` of a 422: `<Kind> "<name>" is invalid: <errors>`, where the
/// errors are de-duplicated by message and bracketed when more than one remains. `kind` is
/// the qualified kind as Kubernetes prints a GroupKind: `Pod`, `Deployment.apps`.
pub fn invalid_message(kind: &str, name: &str, errors: &[FieldError]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for e in errors {
        let m = e.message();
        if !seen.contains(&m) {
            seen.push(m);
        }
    }
    let head = format!("{kind} {} is invalid", go_quote(name));
    match seen.len() {
        0 => head,
        1 => format!("{head}: {}", seen[0]),
        _ => format!("{head}: [{}]", seen.join(", ")),
    }
}

/// A GroupKind as Kubernetes prints it: `Kind` for the core group, `Kind.group` otherwise.
pub fn qualified_kind(group: &str, kind: &str) -> String {
    if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    }
}

/// A field path, printed as `field.Path.String()` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    /// A root path. An empty name prints as `[]`, as Kubernetes prints `field.NewPath("")`.
    pub fn new(name: &str) -> Path {
        if name.is_empty() {
            Path("[]".to_string())
        } else {
            Path(name.to_string())
        }
    }

    pub fn child(&self, name: &str) -> Path {
        Path(format!("{}.{name}", self.0))
    }

    pub fn index(&self, i: usize) -> Path {
        Path(format!("{}[{i}]", self.0))
    }

    pub fn key(&self, k: &str) -> Path {
        Path(format!("{}[{k}]", self.0))
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Go's `strconv.Quote`: double quotes, backslash escapes for quotes, backslashes, control
/// and non-printable characters; printable Unicode kept as is.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() || is_unicode_space_nonprint(c) => {
                if (c as u32) < 0x10000 {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                } else {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters Go's `unicode.IsPrint` rejects although Rust does not call them control
/// characters: separators other than the ASCII space.
fn is_unicode_space_nonprint(c: char) -> bool {
    c != ' ' && c.is_whitespace()
}

/// A value rendered as Kubernetes prints a bad value in an error body.
pub trait GoValue {
    fn go(&self) -> String;
}

impl GoValue for &str {
    fn go(&self) -> String {
        go_quote(self)
    }
}

impl GoValue for String {
    fn go(&self) -> String {
        go_quote(self)
    }
}

impl GoValue for &String {
    fn go(&self) -> String {
        go_quote(self)
    }
}

macro_rules! go_plain {
    ($($t:ty),*) => {$(
        impl GoValue for $t {
            fn go(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
go_plain!(i32, i64, u32, u64, usize, bool);

/// A pointer: nil prints as `null`, anything else as the value it points to.
impl<T: GoValue> GoValue for Option<T> {
    fn go(&self) -> String {
        match self {
            Some(v) => v.go(),
            None => "null".to_string(),
        }
    }
}

impl GoValue for &clipper_proto::Quantity {
    fn go(&self) -> String {
        go_quote(&self.to_string())
    }
}

/// A value already rendered.
pub struct Raw(pub String);

impl GoValue for Raw {
    fn go(&self) -> String {
        self.0.clone()
    }
}

/// `[]string{...}` as `%#v` prints it (`[]string(nil)` for an absent list).
pub struct GoStrings<'a>(pub Option<&'a [String]>);

impl GoValue for GoStrings<'_> {
    fn go(&self) -> String {
        go_string_slice("[]string", self.0)
    }
}

pub(crate) fn go_string_slice(ty: &str, v: Option<&[String]>) -> String {
    match v {
        None => format!("{ty}(nil)"),
        Some(items) => {
            let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
            format!("{ty}{{{}}}", quoted.join(", "))
        }
    }
}

/// `map[string]string{...}` as `%#v` prints it, keys sorted.
pub struct GoStrMap<'a>(pub Option<&'a BTreeMap<String, String>>);

impl GoValue for GoStrMap<'_> {
    fn go(&self) -> String {
        go_str_map(self.0)
    }
}

pub(crate) fn go_str_map(m: Option<&BTreeMap<String, String>>) -> String {
    match m {
        None => "map[string]string(nil)".to_string(),
        Some(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(v)))
                .collect();
            format!("map[string]string{{{}}}", parts.join(", "))
        }
    }
}

/// A label selector as `%#v` prints `metav1.LabelSelector`.
pub struct GoSelector<'a>(pub Option<&'a LabelSelector>);

impl GoValue for GoSelector<'_> {
    fn go(&self) -> String {
        let Some(sel) = self.0 else {
            return "null".to_string();
        };
        let exprs = match &sel.match_expressions {
            None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
            Some(list) => {
                let items: Vec<String> = list
                    .iter()
                    .map(|r| {
                        format!(
                            "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                            go_quote(&r.key),
                            go_quote(&r.operator),
                            go_string_slice("[]string", r.values.as_deref())
                        )
                    })
                    .collect();
                format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
            }
        };
        format!(
            "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{}}}",
            go_str_map(sel.match_labels.as_ref()),
            exprs
        )
    }
}

/// Any serializable value, rendered as compact JSON. Used where Kubernetes prints a Go
/// struct dump that Clipper does not reproduce character for character.
pub struct Json<'a, T: serde::Serialize>(pub &'a T);

impl<T: serde::Serialize> GoValue for Json<'_, T> {
    fn go(&self) -> String {
        serde_json::to_string(self.0).unwrap_or_else(|_| "null".to_string())
    }
}

/// Shorthand for the error list every validator returns.
pub type ErrorList = Vec<FieldError>;
