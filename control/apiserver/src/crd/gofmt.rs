//! Go's `fmt` renderings of decoded JSON (`%v`, `%#v`, `%T`, floats) and the way
//! `field.Error` prints a bad value, so that messages about custom resources read as
//! Kubernetes prints them.
//!
//! Kubernetes decodes custom resources into `map[string]interface{}` with integers as
//! `int64` and every other number as `float64`; [`GoNum`] makes the same split.

use serde_json::Value;

use crate::admission::field::go_quote;

/// How Kubernetes holds a JSON number after decoding: an integer that fits `int64`, or a
/// `float64` (fractions, exponents, and integers beyond `int64`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GoNum {
    Int(i64),
    Float(f64),
}

/// The Go view of a JSON number.
pub fn go_num(n: &serde_json::Number) -> GoNum {
    match n.as_i64() {
        Some(i) => GoNum::Int(i),
        None => GoNum::Float(n.as_f64().unwrap_or(0.0)),
    }
}

impl GoNum {
    /// `%v`.
    pub fn go_v(self) -> String {
        match self {
            GoNum::Int(i) => i.to_string(),
            GoNum::Float(f) => go_float(f),
        }
    }
}

/// A `float64` as `%v` (and `%#v`) print it: the shortest digits that read back the
/// same, in `%e` form when the decimal exponent is below -4 or at least 6 (strconv's
/// shortest `%g`), with a two-digit minimum exponent (`1e+06`, `2.5e-07`).
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, e.g. "1.2345e6".
    let sci = format!("{f:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if negative { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}e{esign}{:02}", exp.abs());
    }
    // Plain decimal: place the point exp+1 digits into the digit string.
    let point = exp + 1;
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else {
        let point = point as usize;
        if digits.len() <= point {
            format!("{digits}{}", "0".repeat(point - digits.len()))
        } else {
            format!("{}.{}", &digits[..point], &digits[point..])
        }
    };
    format!("{sign}{body}")
}

/// `%v` of a decoded JSON value: `map[a:1 b:[x y]]`, `<nil>`, bare strings.
pub fn go_v(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_num(n).go_v(),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_v).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", go_v(&map[k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// `%#v` of a decoded JSON value: `map[string]interface {}{"a":1}`,
/// `[]interface {}{"x", 2}`; `nested` is true inside a container, where a nil prints as
/// `interface {}(nil)`.
fn go_sharp_v_inner(v: &Value, nested: bool) -> String {
    match v {
        Value::Null if nested => "interface {}(nil)".to_string(),
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_num(n).go_v(),
        Value::String(s) => go_quote(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(|i| go_sharp_v_inner(i, true)).collect();
            format!("[]interface {{}}{{{}}}", parts.join(", "))
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", go_quote(k), go_sharp_v_inner(&map[k], true)))
                .collect();
            format!("map[string]interface {{}}{{{}}}", parts.join(", "))
        }
    }
}

/// `%#v` of a decoded JSON value.
pub fn go_sharp_v(v: &Value) -> String {
    go_sharp_v_inner(v, false)
}

/// `%T` of a decoded JSON value.
pub fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) => match go_num(n) {
            GoNum::Int(_) => "int64",
            GoNum::Float(_) => "float64",
        },
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// A bad value as `field.Error.ErrorBody` prints it: numbers and booleans with `%v`,
/// strings quoted, nil as `null`, anything else with `%#v`.
pub fn error_value(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::String(s) => go_quote(s),
        Value::Bool(_) | Value::Number(_) => go_v(v),
        _ => go_sharp_v(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_as_go_does() {
        for (f, want) in [
            (1.0, "1"),
            (2.5, "2.5"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-0.5, "-0.5"),
            (1e21, "1e+21"),
            (123.456, "123.456"),
            (0.1, "0.1"),
            (-2.5e-7, "-2.5e-07"),
            (0.0, "0"),
        ] {
            assert_eq!(go_float(f), want, "{f}");
        }
    }

    #[test]
    fn values_print_as_go_does() {
        let v = json!({"b": [1, "x", null], "a": 1.5, "c": {"d": true}});
        assert_eq!(go_v(&v), "map[a:1.5 b:[1 x <nil>] c:map[d:true]]");
        assert_eq!(
            go_sharp_v(&v),
            r#"map[string]interface {}{"a":1.5, "b":[]interface {}{1, "x", interface {}(nil)}, "c":map[string]interface {}{"d":true}}"#
        );
        assert_eq!(go_type(&json!(1)), "int64");
        assert_eq!(go_type(&json!(1.0)), "float64");
        assert_eq!(go_type(&json!(u64::MAX)), "float64");
        assert_eq!(error_value(&json!("a\"b")), r#""a\"b""#);
        assert_eq!(error_value(&json!(null)), "null");
        assert_eq!(error_value(&json!(3)), "3");
        assert_eq!(error_value(&json!([1])), "[]interface {}{1}");
    }
}
