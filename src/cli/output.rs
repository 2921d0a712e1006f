//! Printing as kubectl prints: tables aligned as Go's tabwriter aligns kubectl's (cells
//! padded to their column's widest plus 3 spaces, the last column unpadded), objects as
//! JSON (4-space indent, sorted keys) or YAML, `kind.group/name`, and ages.

use serde_json::Value;

use super::jsonpath::Template;
use super::{Result, discovery::Resource};

/// `-o`.
#[derive(Clone, Debug)]
pub enum Format {
    Table,
    Wide,
    Json,
    Yaml,
    Name,
    JsonPath(Template),
}

impl Format {
    pub fn parse(o: Option<&str>) -> Result<Format> {
        Ok(match o {
            None | Some("") => Format::Table,
            Some("wide") => Format::Wide,
            Some("json") => Format::Json,
            Some("yaml") => Format::Yaml,
            Some("name") => Format::Name,
            Some(other) => {
                let t = other
                    .strip_prefix("jsonpath=")
                    .or_else(|| other.strip_prefix("jsonpath-as-json="));
                match t {
                    Some(t) => Format::JsonPath(Template::parse(t)?),
                    None => anyhow::bail!(
                        "unable to match a printer suitable for the output format \"{other}\", allowed formats are: json,jsonpath,name,wide,yaml"
                    ),
                }
            }
        })
    }

    pub fn is_table(&self) -> bool {
        matches!(self, Format::Table | Format::Wide)
    }
}

/// Lines of cells aligned as kubectl's tabwriter (minimum width 0, padding 3, spaces).
pub fn align(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            // The last cell of a line is not padded, so it does not widen its column.
            if i + 1 < row.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] + 3 - cell.chars().count();
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Text with tab-separated cells aligned as Go's `text/tabwriter` aligns it (minimum
/// width 0, spaces): a column's width holds within a block of consecutive lines that have
/// a tab-terminated cell in it; the cell after a line's last tab is not padded.
pub fn tabwrite(text: &str, padding: usize) -> String {
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut out = String::new();
    let mut widths = Vec::new();
    format_block(&lines, 0, lines.len(), padding, &mut widths, &mut out);
    out
}

fn format_block(
    lines: &[Vec<&str>],
    mut line0: usize,
    line1: usize,
    padding: usize,
    widths: &mut Vec<usize>,
    out: &mut String,
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column >= lines[this].len() - 1 {
            this += 1;
            continue;
        }
        write_lines(lines, line0, this, widths, out);
        line0 = this;
        let mut width = 0;
        while this < line1 && column < lines[this].len() - 1 {
            width = width.max(lines[this][column].chars().count() + padding);
            this += 1;
        }
        widths.push(width);
        format_block(lines, line0, this, padding, widths, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, line0, line1, widths, out);
}

fn write_lines(lines: &[Vec<&str>], from: usize, to: usize, widths: &[usize], out: &mut String) {
    for line in &lines[from..to] {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j + 1 < line.len() {
                let w = widths.get(j).copied().unwrap_or(0);
                let pad = w.saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
}

/// A Table cell as kubectl prints it.
pub fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => "<none>".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// `kind.group/name` (kubectl's `-o name`).
pub fn name_ref(resource: &Resource, name: &str) -> String {
    format!("{}/{name}", resource.kind_ref())
}

/// An object with its `apiVersion` and `kind`, which list items lack.
pub fn with_type(resource: &Resource, mut obj: Value) -> Value {
    if let Some(map) = obj.as_object_mut() {
        map.entry("apiVersion")
            .or_insert_with(|| Value::String(resource.api_version()));
        map.entry("kind")
            .or_insert_with(|| Value::String(resource.kind.clone()));
    }
    obj
}

/// kubectl's `List` wrapper around several objects.
pub fn list_of(items: Vec<Value>) -> Value {
    serde_json::json!({
        "apiVersion": "v1",
        "items": items,
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    })
}

/// JSON as kubectl prints it: 4-space indent, sorted keys, a final newline.
pub fn json_text(v: &Value) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(&sorted(v), &mut ser).expect("JSON values serialize");
    let mut s = String::from_utf8(out).expect("JSON is UTF-8");
    s.push('\n');
    s
}

/// YAML as kubectl prints it (sigs.k8s.io/yaml over go-yaml): sorted keys, two-space
/// indent, sequences at their key's indentation, double quotes where a plain scalar
/// would read as something else, literal blocks for multi-line strings.
pub fn yaml_text(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => yaml_map(m, 0, &mut out),
        Value::Array(a) if !a.is_empty() => yaml_seq(a, 0, &mut out),
        other => {
            out.push_str(&yaml_scalar(other, 0));
            out.push('\n');
        }
    }
    out
}

fn yaml_map(m: &serde_json::Map<String, Value>, indent: usize, out: &mut String) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for k in keys {
        out.push_str(&" ".repeat(indent));
        out.push_str(&yaml_string(k, indent));
        out.push(':');
        yaml_value(&m[k], indent, out);
    }
}

fn yaml_seq(a: &[Value], indent: usize, out: &mut String) {
    for item in a {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match item {
            Value::Object(m) if !m.is_empty() => {
                // The first key on the dash's line, the rest under it.
                let mut inner = String::new();
                yaml_map(m, indent + 2, &mut inner);
                out.push(' ');
                out.push_str(&inner[indent + 2..]);
            }
            Value::Array(a) if !a.is_empty() => {
                let mut inner = String::new();
                yaml_seq(a, indent + 2, &mut inner);
                out.push(' ');
                out.push_str(&inner[indent + 2..]);
            }
            other => {
                out.push(' ');
                out.push_str(&yaml_scalar(other, indent + 2));
                out.push('\n');
            }
        }
    }
}

/// After `key:` at `indent`.
fn yaml_value(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            yaml_map(m, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            yaml_seq(a, indent, out);
        }
        other => {
            out.push(' ');
            out.push_str(&yaml_scalar(other, indent + 2));
            out.push('\n');
        }
    }
}

fn yaml_scalar(v: &Value, indent: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => yaml_string(s, indent),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

fn yaml_string(s: &str, indent: usize) -> String {
    if s.contains('\n') && !s.contains(['\t', '\r']) && !s.lines().any(|l| l.ends_with(' ')) {
        let chomp = if s.ends_with('\n') { "" } else { "-" };
        let pad = " ".repeat(indent);
        let mut out = format!("|{chomp}");
        for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&pad);
                out.push_str(line);
            }
        }
        return out;
    }
    if yaml_plain_ok(s) {
        return s.to_string();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether go-yaml would write `s` unquoted: it reads back as the same string (not a
/// bool, null, number or timestamp) and has no indicator where YAML would see one.
fn yaml_plain_ok(s: &str) -> bool {
    if s.is_empty() || s.trim() != s {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "y"
            | "n"
            | "null"
            | "~"
            | ".inf"
            | "-.inf"
            | "+.inf"
            | ".nan"
    ) {
        return false;
    }
    let numeric = s.parse::<f64>().is_ok()
        || (s.starts_with("0x") && i64::from_str_radix(&s[2..], 16).is_ok())
        || (s.starts_with("0o") && i64::from_str_radix(&s[2..], 8).is_ok())
        || (s.starts_with("0b") && i64::from_str_radix(&s[2..], 2).is_ok());
    // Timestamps (2024-01-02, 2024-01-02T03:04:05Z): a date at the start.
    let b = s.as_bytes();
    let date =
        b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[7] == b'-';
    if numeric || date || s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    let first = s.chars().next().expect("not empty");
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        // `-x`, `?x` and `:x` are plain in go-yaml only when followed by a non-space.
        let second = s.chars().nth(1);
        return matches!(first, '-' | '?' | ':') && second.is_some_and(|c| c != ' ');
    }
    !s.chars().any(|c| c.is_control())
}

/// A copy with object keys sorted (whatever the map's order).
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Prints objects in a non-table format: one object as itself, several as a `List`
/// (`-o name`: one line each).
pub fn print_objects(
    format: &Format,
    objects: &[(&Resource, Value)],
    single: bool,
) -> Result<String> {
    let value = || {
        if single && objects.len() == 1 {
            objects[0].1.clone()
        } else {
            list_of(objects.iter().map(|(_, o)| o.clone()).collect())
        }
    };
    Ok(match format {
        Format::Json => json_text(&value()),
        Format::Yaml => yaml_text(&value()),
        Format::Name => objects
            .iter()
            .map(|(r, o)| name_ref(r, o["metadata"]["name"].as_str().unwrap_or("")) + "\n")
            .collect(),
        Format::JsonPath(t) => t.render(&value())?,
        Format::Table | Format::Wide => unreachable!("tables are printed from the server's Table"),
    })
}

/// Labels as `k=v,k2=v2` (sorted), or `<none>`.
pub fn labels_text(labels: &Value) -> String {
    let Some(map) = labels.as_object().filter(|m| !m.is_empty()) else {
        return "<none>".into();
    };
    let mut pairs: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    pairs.join(",")
}

/// Seconds since the Unix epoch, now.
pub fn now_seconds() -> i64 {
    clipper_proto::Time::now().unix_seconds()
}

/// An RFC 3339 timestamp's age, as kubectl prints ages (`5s`, `3m2s`, `4h`, `2d3h`...);
/// `<unknown>` when absent.
pub fn age(timestamp: &Value, now: i64) -> String {
    let Some(t) = timestamp
        .as_str()
        .and_then(|s| clipper_proto::MicroTime::parse(s).ok())
    else {
        return "<unknown>".into();
    };
    human_duration(now - t.unix_micros() / 1_000_000)
}

/// Kubernetes' `duration.HumanDuration`, on whole seconds (the API server's Table
/// printer's, which takes microseconds).
pub fn human_duration(seconds: i64) -> String {
    clipper_apiserver::printers::human_duration(seconds.saturating_mul(1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align_pads_to_the_widest_cell_plus_three() {
        let rows = vec![
            vec!["NAME".into(), "READY".into(), "AGE".into()],
            vec!["a-long-name".into(), "0/1".into(), "5s".into()],
        ];
        assert_eq!(
            align(&rows),
            "NAME          READY   AGE\na-long-name   0/1     5s\n"
        );
    }

    #[test]
    fn yaml_as_go_yaml_writes_it() {
        let v = serde_json::json!({
            "b": {"list": [{"x": 1, "y": "2"}, "plain"], "empty": {}},
            "a": "line one\nline two\n",
            "t": "2026-11-27T17:53:16Z",
            "q": "yes",
        });
        assert_eq!(
            yaml_text(&v),
            "a: |\n  line one\n  line two\nb:\n  empty: {}\n  list:\n  - x: 1\n    \"y\": \"2\"\n  - plain\nq: \"yes\"\nt: \"2026-11-27T17:53:16Z\"\n"
        );
    }

    #[test]
    fn tabwriter_blocks() {
        let text = "Name:\tx\nService Account:\tdefault\nContainers:\n  c:\n    Image:\tnginx\n";
        assert_eq!(
            tabwrite(text, 2),
            "Name:             x\nService Account:  default\nContainers:\n  c:\n    Image:  nginx\n"
        );
    }

    #[test]
    fn durations_as_kubernetes_prints_them() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(119), "119s");
        assert_eq!(human_duration(185), "3m5s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(3 * 3600 + 120), "3h2m");
        assert_eq!(human_duration(50 * 3600), "2d2h");
    }

    #[test]
    fn json_is_indented_by_four_with_sorted_keys() {
        let v = serde_json::json!({"b": 1, "a": [true]});
        assert_eq!(
            json_text(&v),
            "{\n    \"a\": [\n        true\n    ],\n    \"b\": 1\n}\n"
        );
    }
}
