//! The `meta.k8s.io/v1` Table types, serialized exactly as Kubernetes writes them, the
//! request options (`includeObject`, headers, version) and the assembly shared by every
//! producer, including kube-apiserver's default Name / Created At table.

use clipper_proto::api::meta::v1::ListMeta;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Printed;
use super::format::{doc, object_meta_doc};

/// `meta.k8s.io/v1` Table.
///
/// `column_definitions` and `rows` are `None` where Kubernetes leaves the slice nil, which it
/// serializes as JSON `null`: the columns when headers were not requested, the rows of an empty
/// list in the default table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    #[serde(default)]
    pub kind: String,
    #[serde(rename = "apiVersion", default)]
    pub api_version: String,
    #[serde(default)]
    pub metadata: ListMeta,
    #[serde(rename = "columnDefinitions", default)]
    pub column_definitions: Option<Vec<TableColumnDefinition>>,
    #[serde(default)]
    pub rows: Option<Vec<TableRow>>,
}

impl Table {
    /// The column definitions (empty when headers were not requested).
    pub fn columns(&self) -> &[TableColumnDefinition] {
        self.column_definitions.as_deref().unwrap_or_default()
    }

    /// The rows, one per object.
    pub fn rows(&self) -> &[TableRow] {
        self.rows.as_deref().unwrap_or_default()
    }
}

/// One column; every field is always written, `format` and `description` possibly empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableColumnDefinition {
    pub name: String,
    /// An OpenAPI type: `string`, `integer`, `number`, `boolean`, or `date` (a timestamp).
    #[serde(rename = "type")]
    pub type_: String,
    /// An OpenAPI format; `name` marks the column holding the object's name.
    #[serde(default)]
    pub format: String,
    #[serde(default)]
    pub description: String,
    /// 0 for the default view; higher for columns kubectl shows only with `-o wide`.
    #[serde(default)]
    pub priority: i32,
}

/// One row: its cells (one per column), conditions, and the object selected by
/// `includeObject` (`null` for `None`, as Kubernetes writes an empty RawExtension).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TableRow {
    pub cells: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<TableRowCondition>,
    #[serde(default)]
    pub object: Value,
}

/// A row condition; Kubernetes defines only `Completed` (set on finished pods).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRowCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// The `includeObject` query parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// `object` is `null`.
    None,
    /// `object` is a `PartialObjectMetadata` holding the object's metadata (the default).
    #[default]
    Metadata,
    /// `object` is the object as served.
    Object,
}

impl IncludeObject {
    /// Parses the query parameter; empty means the default. `None` for an unknown value, which
    /// the API server answers with 400 as Kubernetes does.
    pub fn from_query(value: &str) -> Option<IncludeObject> {
        match value {
            "" | "Metadata" => Some(IncludeObject::Metadata),
            "None" => Some(IncludeObject::None),
            "Object" => Some(IncludeObject::Object),
            _ => None,
        }
    }
}

/// The group version the client asked the Table in (`v=v1` or `v=v1beta1` in the Accept
/// header); it is also the version of the rows' `PartialObjectMetadata`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TableVersion {
    #[default]
    V1,
    V1Beta1,
}

impl TableVersion {
    pub fn api_version(self) -> &'static str {
        match self {
            TableVersion::V1 => "meta.k8s.io/v1",
            TableVersion::V1Beta1 => "meta.k8s.io/v1beta1",
        }
    }
}

/// How the table is requested.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableOptions {
    pub include_object: IncludeObject,
    /// TableOptions' `noHeaders` (not settable by HTTP clients in Kubernetes, but honoured):
    /// the column definitions are omitted.
    pub no_headers: bool,
    pub version: TableVersion,
}

/// The `Name` column every table starts with.
pub(crate) fn name_column() -> TableColumnDefinition {
    TableColumnDefinition {
        name: "Name".into(),
        type_: "string".into(),
        format: "name".into(),
        description: object_meta_doc("name"),
        priority: 0,
    }
}

/// The `Age` column of the built-in printers (a string cell such as `3m20s`).
pub(crate) fn age_column() -> TableColumnDefinition {
    column("Age", "string", object_meta_doc("creationTimestamp"))
}

/// A default-view column.
pub(crate) fn column(
    name: &str,
    type_: &str,
    description: impl Into<String>,
) -> TableColumnDefinition {
    TableColumnDefinition {
        name: name.into(),
        type_: type_.into(),
        format: String::new(),
        description: description.into(),
        priority: 0,
    }
}

/// A default-view column described by a field of an API definition.
pub(crate) fn field_column(
    name: &str,
    type_: &str,
    definition: &str,
    field: &str,
) -> TableColumnDefinition {
    column(name, type_, doc(definition, field))
}

/// Marks a column as shown only with `-o wide`.
pub(crate) fn wide(mut column: TableColumnDefinition) -> TableColumnDefinition {
    column.priority = 1;
    column
}

/// The Names/Images columns of the workload printers.
pub(crate) fn container_columns() -> [TableColumnDefinition; 2] {
    [
        wide(column(
            "Containers",
            "string",
            "Names of each container in the template.",
        )),
        wide(column(
            "Images",
            "string",
            "Images referenced by each container in the template.",
        )),
    ]
}

/// Builds the Table around printed rows: metadata from the list (or the single object),
/// columns unless suppressed, and each row's `object` as `options.include_object` asks.
///
/// `rows_never_null`: the built-in printers and the custom resource convertor always produce a
/// (possibly empty) slice; the default convertor leaves it nil for an empty list.
pub(crate) fn assemble<'a>(
    columns: Vec<TableColumnDefinition>,
    printed: Vec<Printed>,
    objects: impl Iterator<Item = &'a Value>,
    list: Option<&ListMeta>,
    options: &TableOptions,
    rows_never_null: bool,
) -> Table {
    let mut single_resource_version = None;
    let rows: Vec<TableRow> = printed
        .into_iter()
        .zip(objects)
        .map(|(p, json)| {
            if list.is_none() {
                single_resource_version = json
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
            TableRow {
                cells: p.cells,
                conditions: p.conditions,
                object: row_object(json, options),
            }
        })
        .collect();
    let metadata = match list {
        Some(l) => ListMeta {
            resource_version: l.resource_version.clone(),
            continue_: l.continue_.clone(),
            remaining_item_count: l.remaining_item_count,
            self_link: None,
        },
        None => ListMeta {
            resource_version: single_resource_version,
            ..ListMeta::default()
        },
    };
    Table {
        kind: "Table".into(),
        api_version: options.version.api_version().into(),
        metadata,
        column_definitions: (!options.no_headers).then_some(columns),
        rows: (rows_never_null || !rows.is_empty()).then_some(rows),
    }
}

/// A row's `object` for `options.include_object`.
fn row_object(json: &Value, options: &TableOptions) -> Value {
    match options.include_object {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => json.clone(),
        IncludeObject::Metadata => {
            let mut partial = Map::new();
            partial.insert("kind".into(), Value::String("PartialObjectMetadata".into()));
            partial.insert(
                "apiVersion".into(),
                Value::String(options.version.api_version().into()),
            );
            let metadata = json
                .get("metadata")
                .cloned()
                .unwrap_or_else(|| Value::Object(Map::new()));
            partial.insert("metadata".into(), metadata);
            Value::Object(partial)
        }
    }
}

/// Go's zero `metav1.Time`, as RFC 3339: what Kubernetes prints for an unset timestamp.
const ZERO_TIME_RFC3339: &str = "0001-01-01T00:00:00Z";

/// kube-apiserver's default table (`Name`, `Created At`) for kinds without a printer: the
/// name and the creation timestamp in RFC 3339 (UTC), from each object's JSON metadata.
pub fn default_table(objects: &[&Value], list: Option<&ListMeta>, options: &TableOptions) -> Table {
    let printed = objects
        .iter()
        .map(|o| {
            let name = o
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let created = o
                .pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
                .and_then(|s| clipper_proto::Time::parse(s).ok())
                .map_or_else(|| ZERO_TIME_RFC3339.to_string(), |t| t.to_string());
            Printed::cells(vec![Value::from(name), Value::from(created)])
        })
        .collect();
    let columns = vec![
        name_column(),
        column("Created At", "date", object_meta_doc("creationTimestamp")),
    ];
    assemble(
        columns,
        printed,
        objects.iter().copied(),
        list,
        options,
        false,
    )
}
