//! Helpers over `serde_json::Value` shared by the three patch types: depth checks that do
//! not recurse, serialized size, and Go's `%v` rendering for error messages.

use std::fmt::Write as _;
use std::io;

use serde_json::Value;

/// Longest rendering of a value inside an error message. kube-apiserver prints whole
/// maps (`map: map[...] does not contain declared merge key: name`); a patch body may be
/// megabytes, and an error response or log line should not be.
pub const MAX_RENDERED_BYTES: usize = 1024;

/// Whether any value inside `v` (or `v` itself) sits deeper than `limit`, `v` sitting at
/// depth `base`. Iterative, so it is safe on values of any depth.
pub fn exceeds_depth(v: &Value, base: usize, limit: usize) -> bool {
    let mut stack = vec![(v, base)];
    while let Some((v, depth)) = stack.pop() {
        if depth > limit {
            return true;
        }
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|c| (c, depth + 1))),
            Value::Object(m) => stack.extend(m.values().map(|c| (c, depth + 1))),
            _ => {}
        }
    }
    false
}

/// Removes `key` from `m`, keeping the order of the other members whether or not
/// serde_json's `preserve_order` is on (its `Map::remove` swaps the last member in).
pub fn remove_key(m: &mut serde_json::Map<String, Value>, key: &str) -> Option<Value> {
    let value = std::mem::take(m.get_mut(key)?);
    m.retain(|k, _| k != key);
    Some(value)
}

/// A string two values share exactly when they are equal JSON scalars (or objects with
/// their members in the same order): their compact JSON. For matching list items
/// through hash maps.
pub fn canonical(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The length of `v` serialized as compact JSON, without building the string.
pub fn json_len(v: &Value) -> usize {
    struct Count(usize);
    impl io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    // Serializing a Value into a writer that never fails cannot fail.
    match serde_json::to_writer(&mut c, v) {
        Ok(()) => c.0,
        Err(_) => usize::MAX,
    }
}

/// The JSON kind name Go's encoding/json uses in `cannot unmarshal X into ...`.
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The Go type name of a decoded JSON value, as `reflect.TypeOf` prints it.
pub fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// `v` rendered as Go's `fmt` prints a decoded JSON value with `%v` (`map[a:1 b:[x y]]`),
/// cut at [`MAX_RENDERED_BYTES`].
pub fn go_value(v: &Value) -> String {
    let mut out = String::new();
    render(v, &mut out);
    out
}

/// `go_value` of a map.
pub fn go_map(m: &serde_json::Map<String, Value>) -> String {
    let mut out = String::new();
    render_map(m, &mut out);
    out
}

/// `go_value` of a list.
pub fn go_list(l: &[Value]) -> String {
    let mut out = String::new();
    render_list(l, &mut out);
    out
}

enum Piece<'a> {
    Value(&'a Value),
    Text(&'static str),
    Key(&'a str),
}

fn render(v: &Value, out: &mut String) {
    render_pieces(vec![Piece::Value(v)], out);
}

fn render_map(m: &serde_json::Map<String, Value>, out: &mut String) {
    let mut pieces = Vec::new();
    push_map(m, &mut pieces);
    render_pieces(pieces, out);
}

fn render_list(l: &[Value], out: &mut String) {
    let mut pieces = Vec::new();
    push_list(l, &mut pieces);
    render_pieces(pieces, out);
}

// Pieces are pushed in reverse, so that popping renders them in order.
fn push_map<'a>(m: &'a serde_json::Map<String, Value>, pieces: &mut Vec<Piece<'a>>) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    pieces.push(Piece::Text("]"));
    for (i, k) in keys.iter().enumerate().rev() {
        if let Some(v) = m.get(k.as_str()) {
            pieces.push(Piece::Value(v));
        }
        pieces.push(Piece::Key(k));
        if i > 0 {
            pieces.push(Piece::Text(" "));
        }
    }
    pieces.push(Piece::Text("map["));
}

fn push_list<'a>(l: &'a [Value], pieces: &mut Vec<Piece<'a>>) {
    pieces.push(Piece::Text("]"));
    for (i, v) in l.iter().enumerate().rev() {
        pieces.push(Piece::Value(v));
        if i > 0 {
            pieces.push(Piece::Text(" "));
        }
    }
    pieces.push(Piece::Text("["));
}

fn render_pieces(mut pieces: Vec<Piece<'_>>, out: &mut String) {
    while let Some(p) = pieces.pop() {
        if out.len() > MAX_RENDERED_BYTES {
            out.push_str("...");
            return;
        }
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Key(k) => {
                out.push_str(k);
                out.push(':');
            }
            Piece::Value(v) => match v {
                Value::Null => out.push_str("<nil>"),
                Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Value::Number(n) => match n.as_f64() {
                    Some(f) if n.is_f64() => out.push_str(&go_float(f)),
                    _ => {
                        let _ = write!(out, "{n}");
                    }
                },
                Value::String(s) => out.push_str(s),
                Value::Array(a) => push_list(a, &mut pieces),
                Value::Object(m) => push_map(m, &mut pieces),
            },
        }
    }
}

/// A float as Go's `%v` prints it: shortest representation, exponent form outside
/// [1e-4, 1e21).
fn go_float(f: f64) -> String {
    let a = f.abs();
    if a != 0.0 && !(1e-4..1e21).contains(&a) {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) => {
                let (sign, digits) = match exp.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', exp),
                };
                format!("{mantissa}e{sign}{digits:0>2}")
            }
            None => s,
        }
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_rendering_matches_fmt_v() {
        let v = json!({"name": "a", "ports": [{"containerPort": 80}], "f": 1.5, "n": null, "big": 1e21, "small": 0.00001});
        assert_eq!(
            go_value(&v),
            "map[big:1e+21 f:1.5 n:<nil> name:a ports:[map[containerPort:80]] small:1e-05]"
        );
        assert_eq!(go_value(&json!([])), "[]");
        assert_eq!(go_value(&json!({})), "map[]");
    }

    #[test]
    fn rendering_is_bounded() {
        let long: Vec<Value> = (0..10_000).map(|i| json!(format!("item-{i}"))).collect();
        let s = go_list(&long);
        assert!(s.len() < MAX_RENDERED_BYTES + 64, "{}", s.len());
        assert!(s.ends_with("..."));
    }

    #[test]
    fn depth_check_does_not_recurse() {
        let mut deep = Value::Null;
        for _ in 0..100_000 {
            deep = Value::Array(vec![deep]);
        }
        assert!(exceeds_depth(&deep, 0, 128));
        assert!(!exceeds_depth(&json!({"a": [1]}), 0, 2));
        assert!(exceeds_depth(&json!({"a": [1]}), 1, 2));
        // Dropping a value this deep recurses in serde_json; take it apart by hand.
        let mut v = deep;
        while let Value::Array(mut a) = v {
            v = a.pop().unwrap_or(Value::Null);
        }
    }

    #[test]
    fn serialized_length() {
        let v = json!({"a": [1, "x"]});
        assert_eq!(json_len(&v), serde_json::to_string(&v).unwrap().len());
    }
}
