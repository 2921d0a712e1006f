//! Go's renderings of JSON values where Kubernetes shows them to clients: `encoding/json`
//! output (HTML-escaped strings, shortest floats) in FieldsV1 keys and manager identifiers,
//! `%q` and `%v` in field paths and error messages.

use std::cmp::Ordering;
use std::fmt::Write as _;

use serde_json::{Map, Value};

/// Longest rendering of a value inside an error message: a configuration may be megabytes,
/// an error response should not be.
pub const MAX_RENDERED_BYTES: usize = 1024;

/// A JSON number as structured-merge-diff holds it: an int64, or a float64 for anything
/// else (fractions, and integers past int64, which Go's decoder turns into floats).
#[derive(Clone, Copy, Debug)]
pub enum Num {
    Int(i64),
    Float(f64),
}

pub fn num(n: &serde_json::Number) -> Num {
    match n.as_i64() {
        Some(i) => Num::Int(i),
        None => Num::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

/// structured-merge-diff's total order on values (`value.Compare`): numbers (compared
/// numerically across ints and floats), then strings, booleans, lists, maps, null.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::String(_) => 1,
            Value::Bool(_) => 2,
            Value::Array(_) => 3,
            Value::Object(_) => 4,
            Value::Null => 5,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (num(x), num(y)) {
            (Num::Int(x), Num::Int(y)) => x.cmp(&y),
            (Num::Int(x), Num::Float(y)) => float_cmp(x as f64, y),
            (Num::Float(x), Num::Int(y)) => float_cmp(x, y as f64),
            (Num::Float(x), Num::Float(y)) => float_cmp(x, y),
        },
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (l, r) in x.iter().zip(y) {
                let c = compare_values(l, r);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => compare_maps(x, y),
        _ => rank(a).cmp(&rank(b)),
    }
}

fn float_cmp(x: f64, y: f64) -> Ordering {
    if x > y {
        Ordering::Greater
    } else if x < y {
        Ordering::Less
    } else {
        Ordering::Equal
    }
}

/// `value.MapCompare`: the union of keys in lexical order, a key only one side has
/// deciding for the other side.
fn compare_maps(l: &Map<String, Value>, r: &Map<String, Value>) -> Ordering {
    if l.is_empty() && r.is_empty() {
        return Ordering::Equal;
    }
    let mut keys: Vec<&String> = l.keys().chain(r.keys()).collect();
    keys.sort();
    keys.dedup();
    for (i, k) in keys.into_iter().enumerate() {
        let c = if i == l.len() {
            Ordering::Less
        } else if i == r.len() {
            Ordering::Greater
        } else {
            match (l.get(k), r.get(k)) {
                (None, _) => Ordering::Greater,
                (_, None) => Ordering::Less,
                (Some(a), Some(b)) => compare_values(a, b),
            }
        };
        if c != Ordering::Equal {
            return c;
        }
    }
    Ordering::Equal
}

/// structured-merge-diff's equality (`value.Equals`): numbers by value, maps unordered.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (num(x), num(y)) {
            (Num::Int(x), Num::Int(y)) => x == y,
            (Num::Int(x), Num::Float(y)) | (Num::Float(y), Num::Int(x)) => x as f64 == y,
            (Num::Float(x), Num::Float(y)) => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(l, r)| values_equal(l, r))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, l)| y.get(k).is_some_and(|r| values_equal(l, r)))
        }
        _ => a == b,
    }
}

/// Go's `unicode.IsPrint`, approximated without the Unicode tables: graphic characters
/// and the ASCII space; other spaces, controls and format characters are not printable.
pub fn is_print(c: char) -> bool {
    c == ' '
        || !(c.is_control()
            || c.is_whitespace()
            || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}')
            || matches!(c, '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}'))
}

/// Go's `%q` of a string (`strconv.Quote`).
pub fn quote(s: &str) -> String {
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
            c if is_print(c) => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// A float64 as Go's `%v` prints it: shortest digits, exponent form outside [1e-4, 1e21).
pub fn float_v(f: f64) -> String {
    let a = f.abs();
    if a != 0.0 && !(1e-4..1e21).contains(&a) {
        exponent_form(f, 2)
    } else {
        format!("{f}")
    }
}

/// A float64 as `encoding/json` writes it: shortest digits, exponent form outside
/// [1e-6, 1e21), with a one-digit negative exponent left unpadded (`1e-7`).
pub fn float_json(f: f64) -> String {
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = exponent_form(f, 2);
        match s.split_once("e-0") {
            Some((m, d)) if d.len() == 1 => format!("{m}e-{d}"),
            _ => s,
        }
    } else {
        format!("{f}")
    }
}

/// `1.5e+21`: Rust's shortest mantissa with Go's signed, zero-padded exponent.
fn exponent_form(f: f64, min_digits: usize) -> String {
    let s = format!("{f:e}");
    match s.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>min_digits$}")
        }
        None => s,
    }
}

/// A JSON string as `encoding/json` writes it, HTML characters escaped.
pub fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A value as `encoding/json` writes a decoded JSON value: compact, map keys sorted.
/// Recursion follows the value, whose depth callers have bounded.
pub fn json_value(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match num(n) {
            Num::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Num::Float(f) => out.push_str(&float_json(f)),
        },
        Value::String(s) => json_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_value(item, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(k, out);
                out.push(':');
                if let Some(item) = m.get(k) {
                    json_value(item, out);
                }
            }
            out.push('}');
        }
    }
}

/// structured-merge-diff's `value.ToString`, as field paths in conflict messages show
/// key values: `%v` numbers, `%q` strings, `[a,b]` lists, `k=v` map members run together.
pub fn smd_string(v: &Value, out: &mut String) {
    if out.len() > MAX_RENDERED_BYTES {
        return;
    }
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match num(n) {
            Num::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Num::Float(f) => out.push_str(&float_v(f)),
        },
        Value::String(s) => out.push_str(&quote(s)),
        Value::Array(a) => {
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                smd_string(item, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            for (k, item) in m {
                out.push_str(k);
                out.push('=');
                smd_string(item, out);
            }
        }
    }
}

/// Go's `%v` of a decoded JSON value (`map[a:1 b:[x y]]`), cut at [`MAX_RENDERED_BYTES`].
pub fn go_v(v: &Value, out: &mut String) {
    if out.len() > MAX_RENDERED_BYTES {
        out.push_str("...");
        return;
    }
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match num(n) {
            Num::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Num::Float(f) => out.push_str(&float_v(f)),
        },
        Value::String(s) => out.push_str(s),
        Value::Array(a) => {
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                go_v(item, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push_str("map[");
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                go_v(item, out);
            }
            out.push(']');
        }
    }
}

/// The Go type name of a decoded JSON value, as `%T` prints it.
pub fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if matches!(num(n), Num::Float(_)) => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// How structured-merge-diff's errors print a value they did not expect: `%v` of the
/// value wrapper, `&{...}`.
pub fn wrapped(v: &Value) -> String {
    let mut s = String::from("&{");
    go_v(v, &mut s);
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_renderings() {
        assert_eq!(quote("a\"b\n\u{0}é"), "\"a\\\"b\\n\\x00é\"");
        assert_eq!(float_v(1.5), "1.5");
        assert_eq!(float_v(1e21), "1e+21");
        assert_eq!(float_v(0.00001), "1e-05");
        assert_eq!(float_json(1e-7), "1e-7");
        assert_eq!(float_json(1e21), "1e+21");
        assert_eq!(float_json(2.5), "2.5");
        let mut s = String::new();
        json_value(&json!({"b": "<x>", "a": [1, 2.5, null]}), &mut s);
        assert_eq!(s, r#"{"a":[1,2.5,null],"b":"\u003cx\u003e"}"#);
        let mut s = String::new();
        smd_string(&json!({"a": 1, "b": "x"}), &mut s);
        assert_eq!(s, "a=1b=\"x\"");
        assert_eq!(wrapped(&json!({"a": [1, "x"]})), "&{map[a:[1 x]]}");
        assert_eq!(go_type(&json!(1.5)), "float64");
    }

    #[test]
    fn value_order_follows_smd() {
        let ordered = [
            json!(-1),
            json!(1),
            json!(1.5),
            json!(10),
            json!("a"),
            json!("b"),
            json!(false),
            json!(true),
            json!([1]),
            json!([1, 2]),
            json!({"a": 1}),
            Value::Null,
        ];
        for w in ordered.windows(2) {
            assert_eq!(
                compare_values(&w[0], &w[1]),
                Ordering::Less,
                "{} < {}",
                w[0],
                w[1]
            );
            assert_eq!(compare_values(&w[1], &w[0]), Ordering::Greater);
        }
        assert_eq!(compare_values(&json!(1), &json!(1.0)), Ordering::Equal);
        assert!(values_equal(&json!({"a": [1]}), &json!({"a": [1.0]})));
        assert!(!values_equal(&json!("1"), &json!(1)));
    }
}
