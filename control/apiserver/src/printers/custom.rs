//! Tables for custom resources from a CRD version's `additionalPrinterColumns`, as the
//! apiextensions-apiserver table convertor builds them: `Name`, then one column per printer
//! column, each cell the first value its JSONPath selects, typed by the column's `type`.

use clipper_proto::api::apiextensions::v1::CustomResourceColumnDefinition;
use clipper_proto::api::meta::v1::ListMeta;
use clipper_proto::{MicroTime, Time};
use serde_json::{Number, Value};

use super::Printed;
use super::format::{GO_ZERO_TIME_UNIX, human_duration, object_meta_doc};
use super::jsonpath::{JsonPath, value_text};
use super::table::{Table, TableColumnDefinition, TableOptions, assemble, name_column};

/// The column a CRD version without printer columns gets: the age, from the creation time.
fn default_columns() -> Vec<CustomResourceColumnDefinition> {
    vec![CustomResourceColumnDefinition {
        name: "Age".into(),
        type_: "date".into(),
        description: Some(object_meta_doc("creationTimestamp")),
        json_path: ".metadata.creationTimestamp".into(),
        format: None,
        priority: None,
    }]
}

/// The Table of custom resources `objects` (their JSON as served) for the printer columns of
/// their CRD version (`[]` for a version without any: Name and Age).
///
/// A column whose JSONPath does not parse ends the column list, as in Kubernetes, which keeps
/// the columns before it. A cell is `null` when its path selects nothing, fails, or selects a
/// value that does not fit the column type.
pub fn custom_resource_table(
    columns: &[CustomResourceColumnDefinition],
    objects: &[&Value],
    list: Option<&ListMeta>,
    now: Time,
    options: &TableOptions,
) -> Table {
    let defaulted;
    let columns = if columns.is_empty() {
        defaulted = default_columns();
        &defaulted
    } else {
        columns
    };
    let mut headers = vec![name_column()];
    let mut paths = Vec::new();
    for column in columns {
        let Ok(path) = JsonPath::parse(&column.json_path) else {
            break;
        };
        paths.push(path);
        headers.push(TableColumnDefinition {
            name: column.name.clone(),
            type_: column.type_.clone(),
            format: column.format.clone().unwrap_or_default(),
            description: match column.description.as_deref() {
                Some(d) if !d.is_empty() => d.to_string(),
                _ => format!(
                    "Custom resource definition column (in JSONPath format): {}",
                    column.json_path
                ),
            },
            priority: column.priority.unwrap_or(0),
        });
    }
    let printed = objects
        .iter()
        .map(|object| {
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let mut cells = vec![Value::from(name)];
            for (path, header) in paths.iter().zip(&headers[1..]) {
                let cell = match path.find(object) {
                    Ok(found) => match found.first() {
                        Some(value) if header.type_ == "string" => Value::String(value_text(value)),
                        Some(value) => cell_for(&header.type_, value, now),
                        None => Value::Null,
                    },
                    Err(_) => Value::Null,
                };
                cells.push(cell);
            }
            Printed::cells(cells)
        })
        .collect();
    assemble(
        headers,
        printed,
        objects.iter().copied(),
        list,
        options,
        true,
    )
}

/// Go's int64 range as f64 bounds for "is this integral float representable as an integer".
const I64_RANGE_F64: f64 = 9_223_372_036_854_775_807.0;

/// `cellForJSONValue`: the typed cell for a non-string column.
fn cell_for(type_: &str, value: &Value, now: Time) -> Value {
    match (type_, value) {
        ("integer", Value::Number(n)) => match n.as_i64() {
            Some(i) => Value::from(i),
            // Go converts float64 to int64 by truncation (saturating here).
            None => Value::from(n.as_f64().unwrap_or(0.0) as i64),
        },
        ("number", Value::Number(n)) => match n.as_i64() {
            Some(i) => Value::from(i),
            None => float_cell(n.as_f64().unwrap_or(0.0)),
        },
        ("boolean", Value::Bool(b)) => Value::Bool(*b),
        ("date", Value::String(s)) => Value::String(date_cell(s, now)),
        _ => Value::Null,
    }
}

/// A float64 cell: integral values below 1e21 are written without a fraction, as Go does.
fn float_cell(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < I64_RANGE_F64 {
        Value::from(f as i64)
    } else {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

/// A `date` column: the age of an RFC 3339 timestamp; `<unknown>` for an empty, `null` or zero
/// timestamp, `<invalid>` for one that does not parse.
fn date_cell(s: &str, now: Time) -> String {
    if s.is_empty() || s == "null" {
        return "<unknown>".into();
    }
    match MicroTime::parse(s) {
        Err(_) => "<invalid>".into(),
        Ok(t) if t.0 == GO_ZERO_TIME_UNIX.saturating_mul(1_000_000) => "<unknown>".into(),
        Ok(t) => human_duration(now.0.saturating_mul(1_000_000).saturating_sub(t.0)),
    }
}
