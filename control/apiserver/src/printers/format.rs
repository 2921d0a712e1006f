//! Cell formatting shared by the printers: ages (`duration.HumanDuration`), label sets and
//! selectors as `labels.Set.String` / `Selector.String` write them, access modes, container
//! names, and column descriptions looked up in the compiled-in API definitions.

use std::collections::BTreeMap;

use clipper_proto::api::core::v1::Container;
use clipper_proto::api::meta::v1::{LabelSelector, ObjectMeta};
use clipper_proto::{MicroTime, Quantity, Time};

/// The definition of ObjectMeta, whose field docs describe the Name and Age columns.
pub(crate) const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// The description of `field` in API definition `definition` (e.g. `io.k8s.api.core.v1.PodStatus`,
/// `podIP`), empty when either is unknown — as Go's `SwaggerDoc()[field]` is.
pub(crate) fn doc(definition: &str, field: &str) -> String {
    clipper_proto::schema::schema()
        .definition(definition)
        .and_then(|d| d.properties.get(field))
        .map(|f| f.description.clone())
        .unwrap_or_default()
}

pub(crate) fn object_meta_doc(field: &str) -> String {
    doc(OBJECT_META, field)
}

/// Microseconds per second.
const MICROS_PER_SECOND: i64 = 1_000_000;

/// Go's `time.Duration` is int64 nanoseconds, so `time.Since` saturates at about ±292 years;
/// the same bound in microseconds.
const MAX_DURATION_MICROS: i64 = i64::MAX / 1_000;

/// Go's zero `time.Time` (0001-01-01T00:00:00Z) in Unix seconds: a timestamp Kubernetes treats
/// as unset.
pub(crate) const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

/// `duration.HumanDuration` of a duration in microseconds: `5s`, `3m20s`, `45m`, `7h5m`, `2d3h`,
/// `400d`, `4y2d`, `10y`; `0s` for up to a second in the future (clock skew) and `<invalid>`
/// beyond that.
pub fn human_duration(micros: i64) -> String {
    let micros = micros.clamp(-MAX_DURATION_MICROS, MAX_DURATION_MICROS);
    // Go truncates toward zero: int(d.Seconds()).
    let seconds = micros / MICROS_PER_SECOND;
    if seconds < -1 {
        return "<invalid>".into();
    } else if seconds < 0 {
        return "0s".into();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// Seconds to microseconds, saturating (the result is clamped by [`human_duration`] anyway).
fn seconds_to_micros(seconds: i64) -> i64 {
    seconds.saturating_mul(MICROS_PER_SECOND)
}

/// Whether a timestamp is unset in Kubernetes' sense (absent or Go's zero time).
pub(crate) fn is_zero(t: Option<Time>) -> bool {
    t.is_none_or(|t| t.0 == GO_ZERO_TIME_UNIX)
}

/// `translateTimestampSince`: the age of `t` at `now`, `<unknown>` when unset.
pub(crate) fn since(t: Option<Time>, now: Time) -> String {
    match t {
        Some(t) if !is_zero(Some(t)) => {
            human_duration(seconds_to_micros(now.0.saturating_sub(t.0)))
        }
        _ => "<unknown>".into(),
    }
}

/// `translateMicroTimestampSince`: the age of a MicroTime at `now`, `<unknown>` when unset.
pub(crate) fn since_micro(t: Option<MicroTime>, now: Time) -> String {
    match t {
        Some(t) if t.0 != GO_ZERO_TIME_UNIX.saturating_mul(MICROS_PER_SECOND) => {
            human_duration(seconds_to_micros(now.0).saturating_sub(t.0))
        }
        _ => "<unknown>".into(),
    }
}

/// The age column of an object.
pub(crate) fn age(meta: &ObjectMeta, now: Time) -> String {
    since(meta.creation_timestamp, now)
}

/// The object's name, empty when unset.
pub(crate) fn name(meta: &ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

/// `labels.FormatLabels`: `k=v` pairs sorted by key, joined by `,`; `<none>` when empty.
pub(crate) fn format_labels(labels: Option<&BTreeMap<String, String>>) -> String {
    let joined = labels.map(set_string).unwrap_or_default();
    if joined.is_empty() {
        "<none>".into()
    } else {
        joined
    }
}

/// `labels.Set.String`: sorted `k=v` pairs joined by `,`.
fn set_string(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `metav1.FormatLabelSelector`: the selector string, `<none>` when it selects everything or
/// nothing, `<error>` when it is invalid.
pub(crate) fn format_label_selector(selector: Option<&LabelSelector>) -> String {
    match selector_string(selector) {
        Ok(s) if s.is_empty() => "<none>".into(),
        Ok(s) => s,
        Err(()) => "<error>".into(),
    }
}

/// `LabelSelectorAsSelector(selector).String()`: requirements sorted by key, each as
/// `k=v`, `k in (a,b)`, `k notin (a,b)`, `k` or `!k`; empty for a nil or empty selector.
/// `Err` when Kubernetes would refuse the selector (bad key, value or operator).
pub(crate) fn selector_string(selector: Option<&LabelSelector>) -> Result<String, ()> {
    let Some(selector) = selector else {
        return Ok(String::new());
    };
    let mut requirements: Vec<(String, String)> = Vec::new();
    for (key, value) in selector.match_labels.iter().flatten() {
        if !is_qualified_name(key) || !is_label_value(value) {
            return Err(());
        }
        requirements.push((key.clone(), format!("{key}={value}")));
    }
    for expr in selector.match_expressions.iter().flatten() {
        let values = expr.values.as_deref().unwrap_or_default();
        if !is_qualified_name(&expr.key) || !values.iter().all(|v| is_label_value(v)) {
            return Err(());
        }
        let text = match expr.operator.as_str() {
            "In" | "NotIn" => {
                if values.is_empty() {
                    return Err(());
                }
                let mut sorted = values.to_vec();
                sorted.sort();
                let op = if expr.operator == "In" { "in" } else { "notin" };
                format!("{} {op} ({})", expr.key, sorted.join(","))
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    return Err(());
                }
                let bang = if expr.operator == "Exists" { "" } else { "!" };
                format!("{bang}{}", expr.key)
            }
            _ => return Err(()),
        };
        requirements.push((expr.key.clone(), text));
    }
    // Kubernetes sorts the requirements by key only.
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(requirements
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join(","))
}

/// The longest label name (the part after an optional prefix), and label value.
const LABEL_NAME_MAX: usize = 63;
/// The longest DNS-1123 subdomain, the limit of a label key's prefix.
const DNS1123_SUBDOMAIN_MAX: usize = 253;

/// `validation.IsQualifiedName`: `[prefix/]name`, prefix a DNS-1123 subdomain.
fn is_qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && (p.is_empty() || p.len() > DNS1123_SUBDOMAIN_MAX || !is_dns1123_subdomain(p))
    {
        return false;
    }
    !name.is_empty() && name.len() <= LABEL_NAME_MAX && is_label_name_chars(name)
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, the shape of a label name and non-empty value.
fn is_label_name_chars(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_alphanumeric();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            alnum(f)
                && alnum(l)
                && b.iter()
                    .all(|c| alnum(c) || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// `validation.IsValidLabelValue`: empty, or a label name of at most 63 characters.
fn is_label_value(v: &str) -> bool {
    v.is_empty() || (v.len() <= LABEL_NAME_MAX && is_label_name_chars(v))
}

/// Lower-case alphanumerics and `-`, starting and ending alphanumeric, dot-separated.
fn is_dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(|part| {
        let b = part.as_bytes();
        let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        match (b.first(), b.last()) {
            (Some(f), Some(l)) => alnum(f) && alnum(l) && b.iter().all(|c| alnum(c) || *c == b'-'),
            _ => false,
        }
    })
}

/// `helper.GetAccessModesAsString`: the distinct modes as `RWO`, `ROX`, `RWX`, `RWOP`, in that
/// order, joined by `,`.
pub(crate) fn access_modes(modes: Option<&[String]>) -> String {
    let modes = modes.unwrap_or_default();
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| modes.iter().any(|m| m == mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// `layoutContainerCells`: container names and images, each joined by `,`.
pub(crate) fn container_cells(containers: &[Container]) -> (String, String) {
    let names = containers
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let images = containers
        .iter()
        .map(|c| c.image.as_deref().unwrap_or_default())
        .collect::<Vec<_>>()
        .join(",");
    (names, images)
}

/// `net.JoinHostPort`: IPv6 literals in brackets.
pub(crate) fn join_host_port(host: &str, port: i32) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `Quantity.String()` of a map entry, `0` (the zero quantity) when absent.
pub(crate) fn quantity_in(map: Option<&BTreeMap<String, Quantity>>, key: &str) -> String {
    map.and_then(|m| m.get(key))
        .map_or_else(|| Quantity::default().to_string(), Quantity::to_string)
}

/// `(*Quantity).String()`, which Go defines as `<nil>` for a nil pointer.
pub(crate) fn quantity_ptr(q: Option<&Quantity>) -> String {
    q.map_or_else(|| "<nil>".into(), Quantity::to_string)
}

/// `printBool`: `True` / `False`.
pub(crate) fn print_bool(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

/// Appends `<ret> + N more...` the way the printers' bounded lists do.
pub(crate) fn with_more(list: &[String], more: bool, count: usize, max: usize) -> String {
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count.saturating_sub(max))
    } else {
        ret
    }
}
