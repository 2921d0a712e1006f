//! Label and field selectors: the `labelSelector=` / `fieldSelector=` query syntax, the
//! `LabelSelector` API type, and matching — with Kubernetes' semantics and error texts.

use std::collections::BTreeMap;

use crate::api::meta::v1::LabelSelector;

/// Longest selector string accepted (query strings are bounded by the server anyway;
/// this keeps parsing cost bounded).
pub const MAX_SELECTOR_BYTES: usize = 16 * 1024;

/// A selector that could not be parsed; the text is what the API returns with 400.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

/// One label requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
    /// Numeric comparisons (node affinity `Gt`/`Lt`).
    GreaterThan(String, i64),
    LessThan(String, i64),
}

impl Requirement {
    pub fn key(&self) -> &str {
        match self {
            Requirement::Equals(k, _)
            | Requirement::NotEquals(k, _)
            | Requirement::In(k, _)
            | Requirement::NotIn(k, _)
            | Requirement::Exists(k)
            | Requirement::DoesNotExist(k)
            | Requirement::GreaterThan(k, _)
            | Requirement::LessThan(k, _) => k,
        }
    }

    /// Whether `labels` satisfies this requirement (Kubernetes' `Requirement.Matches`).
    pub fn matches<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        match self {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
            Requirement::GreaterThan(k, n) => get(k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x > *n),
            Requirement::LessThan(k, n) => get(k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x < *n),
        }
    }
}

/// A label selector: requirements joined by AND. Empty matches everything; `Nothing`
/// (from a nil LabelSelector in some contexts) matches nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelectorExpr {
    pub requirements: Vec<Requirement>,
    pub nothing: bool,
}

impl LabelSelectorExpr {
    pub fn everything() -> Self {
        LabelSelectorExpr::default()
    }

    pub fn nothing() -> Self {
        LabelSelectorExpr {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    pub fn is_everything(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// Parses the `labelSelector` query syntax (`a=b,c!=d,e in (f,g),!h`).
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        if s.len() > MAX_SELECTOR_BYTES {
            return Err(SelectorError(format!(
                "label selector longer than {MAX_SELECTOR_BYTES} bytes"
            )));
        }
        let mut requirements = Vec::new();
        for term in split_top_level(s) {
            let term = term.trim();
            if term.is_empty() {
                if s.trim().is_empty() {
                    continue;
                }
                return Err(SelectorError(format!(
                    "unable to parse requirement: found '', expected: identifier in {s:?}"
                )));
            }
            requirements.push(parse_requirement(term)?);
        }
        Ok(LabelSelectorExpr {
            requirements,
            nothing: false,
        })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_with(|k| labels.get(k).map(String::as_str))
    }

    /// Matches against any label lookup (e.g. labels read from an archived object).
    pub fn matches_with<'a>(&self, get: impl Fn(&str) -> Option<&'a str> + Copy) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(get))
    }

    /// From the `LabelSelector` API type (`LabelSelectorAsSelector`): None → nothing,
    /// empty → everything.
    pub fn from_api(sel: Option<&LabelSelector>) -> Result<Self, SelectorError> {
        let Some(sel) = sel else {
            return Ok(LabelSelectorExpr::nothing());
        };
        let mut requirements = Vec::new();
        for (k, v) in sel.match_labels.iter().flatten() {
            validate_label_key(k)?;
            validate_label_value(k, v)?;
            requirements.push(Requirement::Equals(k.clone(), v.clone()));
        }
        for e in sel.match_expressions.iter().flatten() {
            validate_label_key(&e.key)?;
            let values = e.values.clone().unwrap_or_default();
            let r = match e.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => {
                    return Err(SelectorError(format!(
                        "for 'in', 'notin' operators, values set can't be empty (key {:?})",
                        e.key
                    )));
                }
                "In" => Requirement::In(e.key.clone(), values),
                "NotIn" => Requirement::NotIn(e.key.clone(), values),
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Err(SelectorError(format!(
                        "values set must be empty for exists and does not exist (key {:?})",
                        e.key
                    )));
                }
                "Exists" => Requirement::Exists(e.key.clone()),
                "DoesNotExist" => Requirement::DoesNotExist(e.key.clone()),
                op => {
                    return Err(SelectorError(format!(
                        "{op:?} is not a valid label selector operator"
                    )));
                }
            };
            requirements.push(r);
        }
        Ok(LabelSelectorExpr {
            requirements,
            nothing: false,
        })
    }
}

impl std::fmt::Display for LabelSelectorExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| match r {
                Requirement::Equals(k, v) => format!("{k}={v}"),
                Requirement::NotEquals(k, v) => format!("{k}!={v}"),
                Requirement::In(k, vs) => format!("{k} in ({})", vs.join(",")),
                Requirement::NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
                Requirement::Exists(k) => k.clone(),
                Requirement::DoesNotExist(k) => format!("!{k}"),
                Requirement::GreaterThan(k, n) => format!("{k}>{n}"),
                Requirement::LessThan(k, n) => format!("{k}<{n}"),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Splits on commas outside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn parse_requirement(term: &str) -> Result<Requirement, SelectorError> {
    let err = |m: String| SelectorError(format!("unable to parse requirement: {m}"));
    if let Some(key) = term.strip_prefix('!') {
        let key = key.trim();
        validate_label_key(key)?;
        return Ok(Requirement::DoesNotExist(key.to_string()));
    }
    for (op, ctor) in [("!=", 0), ("==", 1), ("=", 1), (">", 2), ("<", 3)] {
        if let Some((k, v)) = term.split_once(op) {
            let (k, v) = (k.trim(), v.trim());
            validate_label_key(k)?;
            return match ctor {
                0 => validate_label_value(k, v).map(|_| Requirement::NotEquals(k.into(), v.into())),
                1 => validate_label_value(k, v).map(|_| Requirement::Equals(k.into(), v.into())),
                _ => {
                    let n = v.parse::<i64>().map_err(|_| {
                        err(format!(
                            "for 'Gt', 'Lt' operators, the value must be an integer: {v:?}"
                        ))
                    })?;
                    Ok(if ctor == 2 {
                        Requirement::GreaterThan(k.into(), n)
                    } else {
                        Requirement::LessThan(k.into(), n)
                    })
                }
            };
        }
    }
    // `key in (a,b)`, `key notin (a,b)`, or a bare `key`.
    let mut words = term.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or("").trim();
    let rest = words.next().unwrap_or("").trim();
    if rest.is_empty() {
        validate_label_key(key)?;
        return Ok(Requirement::Exists(key.to_string()));
    }
    let (op, values) = if let Some(v) = rest.strip_prefix("notin") {
        ("notin", v)
    } else if let Some(v) = rest.strip_prefix("in") {
        ("in", v)
    } else {
        return Err(err(format!(
            "found '{rest}', expected: in, notin, =, ==, !=, gt, lt"
        )));
    };
    validate_label_key(key)?;
    let values = values.trim();
    let inner = values
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .ok_or_else(|| err(format!("found '{values}', expected: '('")))?;
    let vals: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
    for v in &vals {
        validate_label_value(key, v)?;
    }
    if vals.iter().all(|v| v.is_empty()) {
        return Err(err(
            "for 'in', 'notin' operators, values set can't be empty".into(),
        ));
    }
    Ok(if op == "in" {
        Requirement::In(key.into(), vals)
    } else {
        Requirement::NotIn(key.into(), vals)
    })
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'
}

/// A qualified label key: optional DNS-subdomain prefix and `/`, then a name of at most 63
/// characters, alphanumeric at both ends.
pub fn validate_label_key(key: &str) -> Result<(), SelectorError> {
    let bad = |why: &str| Err(SelectorError(format!("key: Invalid value: {key:?}: {why}")));
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let dns_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if let Some(p) = prefix
        && (p.is_empty() || p.len() > 253 || !p.split('.').all(dns_label))
    {
        return bad(
            "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        );
    }
    if name.is_empty() || name.len() > 63 {
        return bad("name part must be non-empty and no more than 63 characters");
    }
    if !name.chars().all(is_name_char)
        || !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !name.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        return bad(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        );
    }
    Ok(())
}

/// A label value: empty, or at most 63 characters, alphanumeric at both ends.
pub fn validate_label_value(key: &str, v: &str) -> Result<(), SelectorError> {
    if v.is_empty() {
        return Ok(());
    }
    if v.len() > 63
        || !v.chars().all(is_name_char)
        || !v.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !v.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Err(SelectorError(format!(
            "values[0][{key}]: Invalid value: {v:?}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        )));
    }
    Ok(())
}

/// One field requirement (`field=value` or `field!=value`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub value: String,
    pub negated: bool,
}

/// A field selector: requirements joined by AND.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses the `fieldSelector` query syntax; `\,`, `\=` and `\\` escape.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        if s.len() > MAX_SELECTOR_BYTES {
            return Err(SelectorError(format!(
                "field selector longer than {MAX_SELECTOR_BYTES} bytes"
            )));
        }
        let mut requirements = Vec::new();
        let mut terms = Vec::new();
        let mut cur = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    cur.push('\\');
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                }
                ',' => terms.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        terms.push(cur);
        for term in terms {
            if term.trim().is_empty() {
                continue;
            }
            let (field, value, negated) = split_field_term(&term).ok_or_else(|| {
                SelectorError(format!(
                    "invalid selector: '{s}'; can't understand '{term}'"
                ))
            })?;
            requirements.push(FieldRequirement {
                field,
                value,
                negated,
            });
        }
        Ok(FieldSelector { requirements })
    }

    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Matches against a lookup of the object's selectable fields.
    pub fn matches<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.requirements.iter().all(|r| {
            let v = get(&r.field).unwrap_or("");
            (v == r.value) != r.negated
        })
    }

    /// The value required for `field` by an equality term, if any (used to narrow a list
    /// to one namespace or one name).
    pub fn required_value(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && !r.negated)
            .map(|r| r.value.as_str())
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn split_field_term(term: &str) -> Option<(String, String, bool)> {
    // Find the first unescaped operator.
    let bytes = term.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'!' if bytes.get(i + 1) == Some(&b'=') => {
                return Some((term[..i].trim().to_string(), unescape(&term[i + 2..]), true));
            }
            b'=' => {
                let skip = if bytes.get(i + 1) == Some(&b'=') {
                    2
                } else {
                    1
                };
                return Some((
                    term[..i].trim().to_string(),
                    unescape(&term[i + skip..]),
                    false,
                ));
            }
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn check(selector: &str, pairs: &[(&str, &str)], expected: bool) {
        let s = LabelSelectorExpr::parse(selector).unwrap_or_else(|e| panic!("{selector}: {e}"));
        assert_eq!(
            s.matches(&labels(pairs)),
            expected,
            "{selector} on {pairs:?}"
        );
    }

    #[test]
    fn label_selector_semantics() {
        check("", &[], true);
        check("app=web", &[("app", "web")], true);
        check("app==web", &[("app", "web")], true);
        check("app=web", &[("app", "db")], false);
        check("app!=web", &[], true);
        check("app!=web", &[("app", "web")], false);
        check("app in (web, db)", &[("app", "db")], true);
        check("app in (web,db)", &[], false);
        check("app notin (web,db)", &[], true);
        check("app notin (web,db)", &[("app", "web")], false);
        check("app", &[("app", "")], true);
        check("!app", &[("app", "x")], false);
        check("!app", &[], true);
        check(
            "tier=fe, app in (web), !canary",
            &[("tier", "fe"), ("app", "web")],
            true,
        );
        check(
            "tier=fe,app in (web),!canary",
            &[("tier", "fe"), ("app", "web"), ("canary", "1")],
            false,
        );
        check("gpus>2", &[("gpus", "4")], true);
        check("gpus<2", &[("gpus", "4")], false);
        check(
            "app.kubernetes.io/name=web",
            &[("app.kubernetes.io/name", "web")],
            true,
        );
    }

    #[test]
    fn label_selector_errors() {
        for bad in [
            "app=web!",
            "in (a)",
            "app in a",
            "app in ()",
            "-bad=x",
            "a/b/c=d",
            "x=",
            "app ~ web",
        ] {
            let r = LabelSelectorExpr::parse(bad);
            if bad == "x=" {
                // An empty value is valid.
                assert!(r.is_ok(), "{bad}");
            } else {
                assert!(r.is_err(), "{bad} should not parse");
            }
        }
    }

    #[test]
    fn label_selector_round_trip_and_api_type() {
        let s = LabelSelectorExpr::parse("a=b,c in (d,e),!f").unwrap();
        assert_eq!(s.to_string(), "a=b,c in (d,e),!f");
        assert_eq!(LabelSelectorExpr::parse(&s.to_string()).unwrap(), s);
        let api: LabelSelector = serde_json::from_str(
            r#"{"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"NotIn","values":["db"]}]}"#,
        )
        .unwrap();
        let s = LabelSelectorExpr::from_api(Some(&api)).unwrap();
        assert!(s.matches(&labels(&[("app", "web")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "db")])));
        assert!(
            !LabelSelectorExpr::from_api(None)
                .unwrap()
                .matches(&labels(&[]))
        );
        assert!(
            LabelSelectorExpr::from_api(Some(&LabelSelector::default()))
                .unwrap()
                .matches(&labels(&[]))
        );
        let bad: LabelSelector = serde_json::from_str(
            r#"{"matchExpressions":[{"key":"a","operator":"In","values":[]}]}"#,
        )
        .unwrap();
        assert!(LabelSelectorExpr::from_api(Some(&bad)).is_err());
    }

    #[test]
    fn field_selectors() {
        let s = FieldSelector::parse("metadata.name=web,status.phase!=Running").unwrap();
        let get = |f: &str| match f {
            "metadata.name" => Some("web"),
            "status.phase" => Some("Pending"),
            _ => None,
        };
        assert!(s.matches(get));
        assert_eq!(s.required_value("metadata.name"), Some("web"));
        let s = FieldSelector::parse("spec.nodeName==").unwrap();
        assert!(s.matches(|_| None));
        let s = FieldSelector::parse(r"metadata.name=a\,b").unwrap();
        assert_eq!(s.requirements[0].value, "a,b");
        assert!(FieldSelector::parse("metadata.name").is_err());
        assert!(FieldSelector::parse("").unwrap().is_everything());
    }
}
